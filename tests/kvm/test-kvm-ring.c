/* SPDX-License-Identifier: MIT */
/*
 * test-kvm-ring.c - dirty-ring mode (src/kvm/dirty.c) against the fake
 * kernel's dirty ring (fake-kvm.h: fk_ring_push, KVM_RESET_DIRTY_RINGS).
 *
 * The kernel lists the pages a vCPU dirties in the vCPU's ring, which
 * userspace maps from the vCPU's fd; a backend has no vCPU, so the test
 * links a vCPU of its own with such a ring into the VM, as
 * gm_kvm_vcpu_new() would (struct gm_kvm_vcpu, src/kvm/kvm.h). Checked: a
 * sync sets the dirty bits of exactly the pages listed, for exactly the
 * clients that log them; it marks every entry collected and asks the
 * kernel to reset them (once per harvest with entries, never without);
 * the ring wraps around; an entry of a slot deleted before the harvest
 * (its number waits, a zombie) still reaches the deleted region's pages
 * and not those of a new slot, and the number is reused only after that.
 */
#include "kvm-helpers.h"

#include "../../src/kvm/kvm.h"

#define RING_N 256u /* entries: 4 KiB, the smallest the kernel takes */

struct vring {
    struct gm_kvm_vcpu v;
    struct kvm_dirty_gfn *gfns;
};

static void vring_attach(struct km *m, struct vring *r)
{
    r->gfns = calloc(RING_N, sizeof(*r->gfns));
    if (!r->gfns) {
        exit(1);
    }
    memset(&r->v, 0, sizeof(r->v));
    r->v.kvm = m->kvm;
    r->v.fd = -1;
    r->v.ring.gfns = r->gfns;
    fk_set_dirty_ring(&m->fk, r->gfns, RING_N);
    pthread_mutex_lock(&m->kvm->lock);
    r->v.next = m->kvm->vcpus;
    m->kvm->vcpus = &r->v;
    pthread_mutex_unlock(&m->kvm->lock);
}

static void vring_detach(struct km *m, struct vring *r)
{
    struct gm_kvm_vcpu **pp;

    pthread_mutex_lock(&m->kvm->lock);
    for (pp = &m->kvm->vcpus; *pp && *pp != &r->v; pp = &(*pp)->next) {
    }
    if (*pp) {
        *pp = r->v.next;
    }
    pthread_mutex_unlock(&m->kvm->lock);
    fk_set_dirty_ring(&m->fk, NULL, 0);
    free(r->gfns);
}

static uint64_t ra(gm_region *r, uint64_t page)
{
    return gm_region_ram_addr(r) + page * PG;
}

static bool dirty(struct km *m, gm_region *r, uint64_t page,
                  enum gm_dirty_client c)
{
    return gm_dirty_test(m->sys, ra(r, page), PG, c);
}

static void clean(struct km *m, gm_region *r)
{
    for (int c = 0; c < GM_DIRTY_NR; c++) {
        CHECK_EQ_INT(gm_dirty_clear(m->sys, ra(r, 0),
                                    (uint64_t)gm_region_size(r),
                                    (enum gm_dirty_client)c, NULL),
                     0);
    }
}

static uint64_t harvested(struct km *m)
{
    struct gm_kvm_stats st;

    gm_kvm_get_stats(m->kvm, &st);
    return st.ring_harvested;
}

static const struct gm_kvm_opts ring_opts = {
    .dirty_mode = GM_KVM_DIRTY_RING,
    .dirty_ring_entries = RING_N,
};

/* Pages listed reach exactly their clients; entries are reset. */
static void test_ring_harvest(void)
{
    struct km m;
    struct vring vr;
    gm_region *a, *b;
    uint32_t ida = 99, idb = 99;

    km_init(&m, NULL, &ring_opts);
    vring_attach(&m, &vr);
    a = km_add(m.root, GM_REGION_RAM, "a", 0x100000, 16 * PG, 0);
    b = km_add(m.root, GM_REGION_RAM, "b", 0x200000, 16 * PG, 0);
    CHECK_EQ_INT(gm_region_set_log(a, true, GM_DIRTY_VGA, NULL), 0);
    CHECK_EQ_INT(gm_region_set_log(b, true, GM_DIRTY_CODE, NULL), 0);
    CHECK(fk_slot_at(&m.fk, 0, 0x100000, &ida) != NULL);
    CHECK(fk_slot_at(&m.fk, 0, 0x200000, &idb) != NULL);
    CHECK_EQ_INT(gm_space_log_sync(m.as, NULL, NULL), 0);
    clean(&m, a);
    clean(&m, b);
    CHECK(fk_ring_push(&m.fk, ida, 3));
    CHECK(fk_ring_push(&m.fk, idb, 15));
    CHECK(fk_ring_push(&m.fk, ida, 3)); /* twice: one bit */
    CHECK(fk_ring_push(&m.fk, ida, 9));
    CHECK(!dirty(&m, a, 3, GM_DIRTY_VGA)); /* not before a harvest */
    CHECK_EQ_INT(gm_space_log_sync(m.as, NULL, NULL), 0);
    for (uint64_t p = 0; p < 16; p++) {
        CHECK_EQ_INT(dirty(&m, a, p, GM_DIRTY_VGA), p == 3 || p == 9);
        CHECK_EQ_INT(dirty(&m, b, p, GM_DIRTY_CODE), p == 15);
        CHECK(!dirty(&m, a, p, GM_DIRTY_CODE));
        CHECK(!dirty(&m, b, p, GM_DIRTY_VGA));
        CHECK(!dirty(&m, a, p, GM_DIRTY_MIGRATION));
    }
    CHECK_EQ_U64(harvested(&m), 4);
    CHECK_EQ_U64(m.fk.calls[FK_RESET_DIRTY_RINGS], 1);
    CHECK_EQ_U64(m.fk.vring_resets, 4); /* every entry marked collected */
    CHECK_EQ_U64(m.fk.calls[FK_GET_DIRTY_LOG], 0);
    /* Nothing new: no reset asked. */
    CHECK_EQ_INT(gm_space_log_sync(m.as, NULL, NULL), 0);
    CHECK_EQ_U64(m.fk.calls[FK_RESET_DIRTY_RINGS], 1);
    /* Around the ring several times, a harvest every 100 entries. */
    clean(&m, a);
    for (uint32_t i = 0; i < 3 * RING_N; i++) {
        CHECK(fk_ring_push(&m.fk, ida, i % 16));
        if (i % 100 == 99) {
            CHECK_EQ_INT(gm_space_log_sync(m.as, NULL, NULL), 0);
        }
    }
    CHECK_EQ_INT(gm_space_log_sync(m.as, NULL, NULL), 0);
    CHECK_EQ_U64(harvested(&m), 4 + 3 * RING_N);
    CHECK_EQ_U64(m.fk.vring_resets, 4 + 3 * RING_N);
    CHECK_EQ_U64(gm_dirty_count(m.sys, ra(a, 0), 16 * PG, GM_DIRTY_VGA), 16);
    /* A full ring: the kernel cannot push until a harvest. */
    for (uint32_t i = 0; i < RING_N; i++) {
        CHECK(fk_ring_push(&m.fk, idb, 0));
    }
    CHECK(!fk_ring_push(&m.fk, idb, 1));
    CHECK_EQ_INT(gm_space_log_sync(m.as, NULL, NULL), 0);
    CHECK(fk_ring_push(&m.fk, idb, 1));
    CHECK_EQ_INT(gm_space_log_sync(m.as, NULL, NULL), 0);
    CHECK_EQ_INT(km_last_error(&m, NULL), 0);
    CHECK_EQ_U64(fk_rejected_total(&m.fk), 0);
    vring_detach(&m, &vr);
    km_fini(&m);
}

/*
 * An entry the kernel pushed for a slot that is then deleted (after the
 * deletion's own harvest: a vCPU ran in between) reaches the deleted
 * region's pages at the next harvest; the slot's number is not reused
 * before, so a new slot never receives it.
 */
static void test_ring_zombie(void)
{
    struct km m;
    struct vring vr;
    gm_region *a, *c;
    uint32_t ida = 99, idc = 99, idd = 99;

    km_init(&m, NULL, &ring_opts);
    vring_attach(&m, &vr);
    a = km_add(m.root, GM_REGION_RAM, "a", 0x100000, 16 * PG, 0);
    CHECK_EQ_INT(gm_region_set_log(a, true, GM_DIRTY_VGA, NULL), 0);
    CHECK(fk_slot_at(&m.fk, 0, 0x100000, &ida) != NULL);
    gm_region_ref(a);
    CHECK_EQ_INT(gm_region_del_subregion(m.root, a, NULL), 0);
    clean(&m, a);
    CHECK(fk_ring_push(&m.fk, ida, 6)); /* pushed before the deletion */
    c = km_add(m.root, GM_REGION_RAM, "c", 0x300000, 16 * PG, 0);
    CHECK_EQ_INT(gm_region_set_log(c, true, GM_DIRTY_VGA, NULL), 0);
    CHECK(fk_slot_at(&m.fk, 0, 0x300000, &idc) != NULL);
    CHECK(idc != ida); /* still waiting for the harvest */
    clean(&m, c);
    CHECK_EQ_INT(gm_space_log_sync(m.as, NULL, NULL), 0);
    CHECK(dirty(&m, a, 6, GM_DIRTY_VGA));
    CHECK_EQ_U64(gm_dirty_count(m.sys, ra(c, 0), 16 * PG, GM_DIRTY_VGA), 0);
    /* Harvested: the number is free again. */
    CHECK_EQ_INT(gm_region_del_subregion(m.root, c, NULL), 0);
    CHECK_EQ_INT(gm_space_log_sync(m.as, NULL, NULL), 0);
    km_add(m.root, GM_REGION_RAM, "d", 0x400000, 16 * PG, 0);
    CHECK(fk_slot_at(&m.fk, 0, 0x400000, &idd) != NULL);
    CHECK(idd == ida || idd == idc); /* a recycled number */
    KM_CHECK_SLOTS(&m);
    CHECK_EQ_U64(fk_rejected_total(&m.fk), 0);
    gm_region_unref(a);
    vring_detach(&m, &vr);
    km_fini(&m);
}

int main(void)
{
    RUN(test_ring_harvest);
    RUN(test_ring_zombie);
    return harness_done();
}
