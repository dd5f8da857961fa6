/* SPDX-License-Identifier: MIT */
/*
 * kvm-helpers.h - what the KVM tests share: a machine whose memory space is
 * mirrored into a fake KVM (fake-kvm.h), and the expected memslots of a
 * flat view computed from kvm.h's contract alone, compared with what the
 * fake holds and what gm_kvm_foreach_slot() says.
 * Included once per program (everything is static).
 */
#ifndef GM_TESTS_KVM_HELPERS_H
#define GM_TESTS_KVM_HELPERS_H

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/kvm.h>

#include <guestmem/guestmem.h>

#include "fake-kvm.h"
#include "harness.h"

#define KH static __attribute__((unused))
#define PG FK_PAGE

struct km {
    struct fake_kvm fk;
    gm_system *sys;
    gm_region *root; /* borrowed: the space holds it */
    gm_space *as;
    gm_kvm *kvm;
};

/* A system with a 2^64 container as memory space "mem", not attached. */
KH void km_init_noattach(struct km *m, const struct fk_caps *caps,
                         const struct gm_kvm_opts *opts)
{
    struct gm_kvm_opts o = {0};
    gm_error err = {0};

    fk_init(&m->fk, caps);
    m->sys = gm_system_new(NULL);
    CHECK(m->sys != NULL);
    m->root = gm_region_new_container(m->sys, "root", GM_SIZE_2_64, NULL);
    CHECK(m->root != NULL);
    m->as = gm_space_new(m->sys, m->root, "mem", NULL);
    CHECK(m->as != NULL);
    gm_region_unref(m->root);
    if (opts) {
        o = *opts;
    }
    o.backend = fk_backend(&m->fk);
    m->kvm = gm_kvm_open(m->sys, &o, &err);
    if (!m->kvm) {
        HARNESS_FAIL("gm_kvm_open: %d %s", err.code, err.msg);
        exit(1);
    }
}

KH void km_init(struct km *m, const struct fk_caps *caps,
                const struct gm_kvm_opts *opts)
{
    gm_error err = {0};

    km_init_noattach(m, caps, opts);
    CHECK_EQ_INT(gm_kvm_attach_memory(m->kvm, m->as, 0, &err), 0);
}

/* Close, check the fake holds nothing and was never misused, tear down. */
KH void km_fini(struct km *m)
{
    gm_kvm_close(m->kvm);
    CHECK_EQ_U64(fk_slot_count(&m->fk, 0) + fk_slot_count(&m->fk, 1), 0);
    CHECK_EQ_U64(m->fk.nefds, 0);
    CHECK_EQ_U64(m->fk.nzones, 0);
    CHECK_EQ_U64(m->fk.misuse, 0);
    if (m->fk.misuse) {
        fprintf(stderr, "  misuse: %s\n", m->fk.last_misuse);
    }
    CHECK_EQ_INT(gm_system_destroy(m->sys, NULL), 0);
    fk_fini(&m->fk);
}

/* The fake's KVM_SET_USER_MEMORY_REGION count and the library's agree. */
KH uint64_t km_set_calls(struct km *m)
{
    struct gm_kvm_stats st;

    gm_kvm_get_stats(m->kvm, &st);
    CHECK_EQ_U64(st.set_memory_region,
                 m->fk.calls[FK_SET_USER_MEMORY_REGION]);
    return st.set_memory_region;
}

/* A RAM-backed region of @kind placed in @parent (borrowed). */
KH gm_region *km_add(gm_region *parent, enum gm_region_kind kind,
                     const char *name, uint64_t addr, uint64_t size, int prio)
{
    gm_system *sys = gm_region_system(parent);
    gm_region *r;

    switch (kind) {
    case GM_REGION_RAM:
        r = gm_region_new_ram(sys, name, size, NULL);
        break;
    case GM_REGION_ROM:
        r = gm_region_new_rom(sys, name, size, NULL);
        break;
    case GM_REGION_ROM_DEVICE:
        r = gm_region_new_rom_device(sys, name, size, NULL, NULL, NULL);
        break;
    case GM_REGION_IO:
        r = gm_region_new_io(sys, name, size, NULL, NULL, NULL);
        break;
    default:
        r = gm_region_new_container(sys, name, size, NULL);
        break;
    }
    CHECK(r != NULL);
    if (!r) {
        exit(1);
    }
    CHECK_EQ_INT(gm_region_add_subregion_overlap(parent, addr, r, prio, NULL),
                 0);
    gm_region_unref(r);
    return r;
}

/* One memslot as a plain record. */
struct kslot {
    uint64_t gpa, size, uaddr;
    uint32_t flags, id;
};

struct kslots {
    struct kslot v[256];
    size_t n;
    bool overflow;
};

static inline void kslots_push(struct kslots *l, struct kslot s)
{
    if (l->n < sizeof(l->v) / sizeof(l->v[0])) {
        l->v[l->n++] = s;
    } else {
        l->overflow = true;
    }
}

struct expect_ctx {
    struct kslots *out;
    bool readonly_mem;
};

/*
 * The slot kvm.h promises for a range: whole pages of a range with host
 * memory (RAM, ROM, a ROM device in romd mode, a RAM device), read-only for
 * ROM, romd and read-only ranges (none without KVM_CAP_READONLY_MEM), dirty
 * logging when a client logs it; none when the host address is not page
 * aligned with the guest's (the kernel needs both aligned).
 */
static int expect_cb(const struct gm_section *s, void *opaque)
{
    struct expect_ctx *c = opaque;
    enum gm_region_kind kind = gm_region_kind(s->region);
    uint8_t *host = gm_region_ram_ptr(s->region);
    gm_u128 start, end;
    bool ro;
    struct kslot k;

    if (!host || (kind == GM_REGION_ROM_DEVICE && !s->romd)) {
        return 0;
    }
    ro = s->readonly || kind == GM_REGION_ROM || kind == GM_REGION_ROM_DEVICE;
    if (ro && !c->readonly_mem) {
        return 0;
    }
    start = ((gm_u128)s->addr + PG - 1) / PG * PG;
    end = ((gm_u128)s->addr + s->size) / PG * PG;
    if (end <= start) {
        return 0;
    }
    k.gpa = (uint64_t)start;
    k.size = (uint64_t)(end - start);
    k.uaddr = (uint64_t)(uintptr_t)(host + s->offset_in_region +
                                    (k.gpa - s->addr));
    if (k.uaddr & (PG - 1)) {
        return 0;
    }
    k.flags = (s->dirty_log_mask ? KVM_MEM_LOG_DIRTY_PAGES : 0) |
              (ro ? KVM_MEM_READONLY : 0);
    k.id = 0;
    kslots_push(c->out, k);
    return 0;
}

KH void km_expected(gm_space *as, bool readonly_mem, struct kslots *out)
{
    struct expect_ctx c = {out, readonly_mem};
    gm_flatview *fv = gm_space_get_flatview(as);

    out->n = 0;
    out->overflow = false;
    gm_flatview_foreach(fv, expect_cb, &c);
    gm_flatview_unref(fv);
}

struct fake_list_ctx {
    unsigned as_id;
    struct kslots *out;
};

static int fake_list_cb(unsigned as_id, uint32_t id, const struct fk_slot *s,
                        void *opaque)
{
    struct fake_list_ctx *c = opaque;

    if (as_id == c->as_id) {
        kslots_push(c->out, (struct kslot){s->gpa, s->size, s->uaddr,
                                           s->flags, id});
    }
    return 0;
}

/* The fake's slots of @as_id in address order. */
KH void km_fake_slots(struct fake_kvm *fk, unsigned as_id, struct kslots *out)
{
    struct fake_list_ctx c = {as_id, out};

    out->n = 0;
    out->overflow = false;
    fk_foreach_slot(fk, fake_list_cb, &c);
}

static int lib_list_cb(const struct gm_kvm_slot_info *s, void *opaque)
{
    struct fake_list_ctx *c = opaque;

    if (s->as_id == c->as_id) {
        kslots_push(c->out, (struct kslot){s->gpa, s->size,
                                           (uint64_t)(uintptr_t)s->host,
                                           s->flags, s->slot});
    }
    return 0;
}

/* What gm_kvm_foreach_slot() lists for @as_id. */
KH void km_lib_slots(gm_kvm *kvm, unsigned as_id, struct kslots *out)
{
    struct fake_list_ctx c = {as_id, out};

    out->n = 0;
    out->overflow = false;
    CHECK_EQ_INT(gm_kvm_foreach_slot(kvm, lib_list_cb, &c), 0);
}

KH void km_print_slots(const char *what, const struct kslots *l)
{
    fprintf(stderr, "  %s (%zu):\n", what, l->n);
    for (size_t i = 0; i < l->n; i++) {
        fprintf(stderr, "    #%u 0x%" PRIx64 "+0x%" PRIx64 " host 0x%" PRIx64
                " flags %u\n", l->v[i].id, l->v[i].gpa, l->v[i].size,
                l->v[i].uaddr, l->v[i].flags);
    }
}

/* Equal lists (ids compared only when @ids). */
KH bool km_same(const struct kslots *a, const struct kslots *b, bool ids)
{
    if (a->n != b->n || a->overflow || b->overflow) {
        return false;
    }
    for (size_t i = 0; i < a->n; i++) {
        const struct kslot *x = &a->v[i], *y = &b->v[i];

        if (x->gpa != y->gpa || x->size != y->size || x->uaddr != y->uaddr ||
            x->flags != y->flags || (ids && x->id != y->id)) {
            return false;
        }
    }
    return true;
}

/*
 * The fake's slots of @as_id equal the expectation from @as's view, and
 * gm_kvm_foreach_slot() lists exactly the fake's. Return: whether so
 * (the lists printed when not).
 */
KH bool km_check_space(struct km *m, gm_space *as, unsigned as_id)
{
    struct kslots *want = calloc(1, sizeof(*want));
    struct kslots *got = calloc(1, sizeof(*got));
    struct kslots *lib = calloc(1, sizeof(*lib));
    bool ok;

    if (!want || !got || !lib) {
        abort();
    }
    km_expected(as, m->fk.caps.readonly_mem > 0, want);
    km_fake_slots(&m->fk, as_id, got);
    km_lib_slots(m->kvm, as_id, lib);
    ok = km_same(want, got, false) && km_same(got, lib, true);
    if (!ok) {
        km_print_slots("expected", want);
        km_print_slots("fake", got);
        km_print_slots("gm_kvm_foreach_slot", lib);
    }
    free(want);
    free(got);
    free(lib);
    return ok;
}

#define KM_CHECK_SLOTS(m) CHECK(km_check_space((m), (m)->as, 0))

/* The fake's slot at @gpa (as 0), or NULL. */
KH const struct fk_slot *km_slot(struct km *m, uint64_t gpa, uint32_t *id)
{
    return fk_slot_at(&m->fk, 0, gpa, id);
}

/* gm_kvm_last_error() with its message, which must mention @needle. */
KH int km_last_error(struct km *m, const char *needle)
{
    gm_error err = {0};
    int r = gm_kvm_last_error(m->kvm, &err);

    if (r && needle) {
        CHECK_CONTAINS(err.msg, needle);
    }
    return r;
}

#endif
