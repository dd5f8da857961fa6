/* SPDX-License-Identifier: MIT */
/*
 * test-space.c - unit tests of guestmem/space.h: address spaces and their
 * flat views.
 *
 * Invariants checked: a space holds its root; its flat view is never NULL,
 * sorted, and answers lookups for covered addresses only; views are
 * immutable once published; spaces whose roots resolve to the same region
 * share one view object; a disabled or empty root gives an empty view with
 * no root; destroying a space tells listeners region_del, and is refused
 * while a listener is filtered on it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <guestmem/guestmem.h>

#include "harness.h"

/*
 * Helpers shared by the tests of this file: a flat view printed as a string
 * ("NAME FIRST-LAST[ @OFFSET][ ro][ nv][ log=MASK]; ...") and a listener
 * that records every event it receives into a string log.
 */
#define HELPER_ATTR __attribute__((unused))
#define HELPER static HELPER_ATTR

#define CHECK_EQ_U128(a, b)                                                    \
    do {                                                                       \
        gm_u128 x_ = (a), y_ = (b);                                            \
        CHECK_EQ_U64((uint64_t)(x_ >> 64), (uint64_t)(y_ >> 64));              \
        CHECK_EQ_U64((uint64_t)x_, (uint64_t)y_);                              \
    } while (0)

/* A string builder whose items are separated by "; ". */
struct strbuf {
    char s[16384];
    size_t len;
};

HELPER void sb_reset(struct strbuf *b)
{
    b->len = 0;
    b->s[0] = '\0';
}

HELPER void __attribute__((format(printf, 2, 3)))
sb_add(struct strbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (b->len && b->len + 2 < sizeof(b->s)) {
        memcpy(b->s + b->len, "; ", 3);
        b->len += 2;
    }
    va_start(ap, fmt);
    n = vsnprintf(b->s + b->len, sizeof(b->s) - b->len, fmt, ap);
    va_end(ap);
    if (n > 0) {
        b->len += (size_t)n;
        if (b->len >= sizeof(b->s)) {
            b->len = sizeof(b->s) - 1;
        }
    }
}

/* "NAME FIRST-LAST" plus the attributes that are set. */
HELPER void sec_fmt(char *buf, size_t n, const struct gm_section *s,
                    bool with_log)
{
    uint64_t last = (uint64_t)(s->addr + s->size - 1);
    int len;

    len = snprintf(buf, n, "%s %" PRIx64 "-%" PRIx64, gm_region_name(s->region),
                   s->addr, last);
    if (s->offset_in_region) {
        len += snprintf(buf + len, n - (size_t)len, " @%" PRIx64,
                        s->offset_in_region);
    }
    if (s->readonly) {
        len += snprintf(buf + len, n - (size_t)len, " ro");
    }
    if (s->nonvolatile) {
        len += snprintf(buf + len, n - (size_t)len, " nv");
    }
    if (with_log && s->dirty_log_mask) {
        snprintf(buf + len, n - (size_t)len, " log=%x", s->dirty_log_mask);
    }
}

HELPER int fv_item(const struct gm_section *s, void *opaque)
{
    char t[256];

    sec_fmt(t, sizeof(t), s, true);
    sb_add(opaque, "%s", t);
    return 0;
}

/* The ranges of @fv as a string (in @b, which is returned). */
HELPER const char *fv_str(const gm_flatview *fv, struct strbuf *b)
{
    sb_reset(b);
    gm_flatview_foreach(fv, fv_item, b);
    return b->s;
}

/* The ranges of the current flat view of @as. */
HELPER const char *as_str(gm_space *as, struct strbuf *b)
{
    gm_flatview *fv = gm_space_get_flatview(as);

    fv_str(fv, b);
    gm_flatview_unref(fv);
    return b->s;
}

/* A system with a 64 KiB container "root" as the root of space "mem". */
struct machine {
    gm_system *sys;
    gm_region *root; /* borrowed: the space holds the reference */
    gm_space *as;
};

HELPER void machine_init(struct machine *m)
{
    m->sys = gm_system_new(NULL);
    CHECK(m->sys != NULL);
    m->root = gm_region_new_container(m->sys, "root", 0x10000, NULL);
    CHECK(m->root != NULL);
    m->as = gm_space_new(m->sys, m->root, "mem", NULL);
    CHECK(m->as != NULL);
    gm_region_unref(m->root);
}

HELPER void machine_fini(struct machine *m)
{
    CHECK_EQ_INT(gm_system_destroy(m->sys, NULL), 0);
}

/* Place a new RAM region in @parent and return it (borrowed). */
HELPER gm_region *add_ram(gm_region *parent, const char *name, uint64_t addr,
                          uint64_t size)
{
    gm_region *r =
        gm_region_new_ram(gm_region_system(parent), name, size, NULL);

    CHECK(r != NULL);
    CHECK_EQ_INT(gm_region_add_subregion(parent, addr, r, NULL), 0);
    gm_region_unref(r);
    return r;
}

/* Place a new unassigned I/O region in @parent with overlap and @prio. */
HELPER gm_region *add_io_prio(gm_region *parent, const char *name,
                              uint64_t addr, uint64_t size, int prio)
{
    gm_region *r = gm_region_new_io(gm_region_system(parent), name, size, NULL,
                                    NULL, NULL);

    CHECK(r != NULL);
    CHECK_EQ_INT(gm_region_add_subregion_overlap(parent, addr, r, prio, NULL),
                 0);
    gm_region_unref(r);
    return r;
}

/*
 * The recording listener: each callback appends "[TAG:]EVENT[ SPACE] SECTION
 * [EXTRA]" to @log. region_nop is recorded only when @nop is set; @hook,
 * when set, runs inside every region_add and region_del callback (to test
 * what callbacks may call and see).
 */
struct rec {
    struct strbuf *log;
    const char *tag;
    bool nop;
    bool show_space;
    void (*hook)(struct rec *r, const char *what, const struct gm_section *s);
    void *hook_data;
};

HELPER void rec_ev(struct rec *r, const char *what, const struct gm_section *s,
                   const char *extra)
{
    bool with_log = !strcmp(what, "add") || !strcmp(what, "del");
    const char *space = "";
    char sec[256] = "";

    if (s) {
        sec_fmt(sec, sizeof(sec), s, with_log);
        if (r->show_space) {
            space = s->space ? gm_space_name(s->space) : "(null)";
        }
    }
    sb_add(r->log, "%s%s%s%s%s%s%s%s", r->tag ? r->tag : "", r->tag ? ":" : "",
           what, *space ? " " : "", space, s ? " " : "", sec,
           extra ? extra : "");
}

HELPER void rec_begin(void *o)
{
    rec_ev(o, "begin", NULL, NULL);
}

HELPER void rec_commit(void *o)
{
    rec_ev(o, "commit", NULL, NULL);
}

HELPER void rec_add(void *o, const struct gm_section *s)
{
    struct rec *r = o;

    rec_ev(r, "add", s, NULL);
    if (r->hook) {
        r->hook(r, "add", s);
    }
}

HELPER void rec_del(void *o, const struct gm_section *s)
{
    struct rec *r = o;

    rec_ev(r, "del", s, NULL);
    if (r->hook) {
        r->hook(r, "del", s);
    }
}

HELPER void rec_nop(void *o, const struct gm_section *s)
{
    struct rec *r = o;

    if (r->nop) {
        rec_ev(r, "nop", s, NULL);
    }
}

HELPER void rec_log_start(void *o, const struct gm_section *s, unsigned om,
                          unsigned nm)
{
    char t[32];

    snprintf(t, sizeof(t), " %x->%x", om, nm);
    rec_ev(o, "log_start", s, t);
}

HELPER void rec_log_stop(void *o, const struct gm_section *s, unsigned om,
                         unsigned nm)
{
    char t[32];

    snprintf(t, sizeof(t), " %x->%x", om, nm);
    rec_ev(o, "log_stop", s, t);
}

HELPER void rec_log_sync(void *o, const struct gm_section *s)
{
    rec_ev(o, "sync", s, NULL);
}

HELPER void rec_global_start(void *o)
{
    rec_ev(o, "global_start", NULL, NULL);
}

HELPER void rec_global_stop(void *o)
{
    rec_ev(o, "global_stop", NULL, NULL);
}

/*
 * ioeventfd events: "efd_add FIRST-LAST data=DATA|any fd=FD". Only the
 * address range of the section is meaningful here (as in QEMU, it need not
 * name a region).
 */
HELPER void rec_eventfd(struct rec *r, const char *what,
                        const struct gm_section *s, bool match_data,
                        uint64_t data, int fd)
{
    char t[64];

    if (match_data) {
        snprintf(t, sizeof(t), "data=%" PRIx64, data);
    } else {
        snprintf(t, sizeof(t), "any");
    }
    sb_add(r->log, "%s%s%s %" PRIx64 "-%" PRIx64 " %s fd=%d",
           r->tag ? r->tag : "", r->tag ? ":" : "", what, s->addr,
           (uint64_t)(s->addr + s->size - 1), t, fd);
}

HELPER void rec_eventfd_add(void *o, const struct gm_section *s,
                            bool match_data, uint64_t data, int fd)
{
    rec_eventfd(o, "efd_add", s, match_data, data, fd);
}

HELPER void rec_eventfd_del(void *o, const struct gm_section *s,
                            bool match_data, uint64_t data, int fd)
{
    rec_eventfd(o, "efd_del", s, match_data, data, fd);
}

static const struct gm_listener_ops rec_ops HELPER_ATTR = {
    .begin = rec_begin,
    .commit = rec_commit,
    .region_add = rec_add,
    .region_del = rec_del,
    .region_nop = rec_nop,
    .log_start = rec_log_start,
    .log_stop = rec_log_stop,
    .log_sync = rec_log_sync,
    .log_global_start = rec_global_start,
    .log_global_stop = rec_global_stop,
    .eventfd_add = rec_eventfd_add,
    .eventfd_del = rec_eventfd_del,
};

/*
 * The items of @log whose event (after an optional "TAG:") starts with one
 * of the space-separated words of @kinds, e.g. "add del".
 */
HELPER const char *log_only(const struct strbuf *log, const char *kinds,
                            struct strbuf *out)
{
    char copy[sizeof(log->s)];
    char *save = NULL;

    sb_reset(out);
    memcpy(copy, log->s, log->len + 1);
    for (char *it = strtok_r(copy, ";", &save); it;
         it = strtok_r(NULL, ";", &save)) {
        const char *ev = it, *colon, *k = kinds;

        while (*ev == ' ') {
            ev++;
        }
        colon = memchr(ev, ':', strcspn(ev, " "));
        if (colon) {
            ev = colon + 1;
        }
        while (*k) {
            size_t n = strcspn(k, " ");

            if (!strncmp(ev, k, n) && (ev[n] == ' ' || ev[n] == '\0')) {
                sb_add(out, "%s", it + strspn(it, " "));
                break;
            }
            k += n;
            k += strspn(k, " ");
        }
    }
    return out->s;
}

static void test_new(void)
{
    gm_system *sys = gm_system_new(NULL);
    gm_region *root = gm_region_new_container(sys, "root", 0x1000, NULL);
    gm_space *a, *b;
    char name[8] = "cpu0";

    a = gm_space_new(sys, root, name, NULL);
    CHECK(a != NULL);
    strcpy(name, "XXX");
    CHECK_EQ_STR(gm_space_name(a), "cpu0");
    CHECK_EQ_PTR(gm_space_root(a), root);
    CHECK_EQ_PTR(gm_space_system(a), sys);
    b = gm_space_new(sys, root, NULL, NULL);
    CHECK(b != NULL);
    CHECK_EQ_STR(gm_space_name(b), "anonymous");

    /* The spaces hold the root. */
    gm_region_unref(root);
    CHECK_EQ_STR(gm_region_name(gm_space_root(a)), "root");
    CHECK_EQ_INT(gm_space_destroy(a, NULL), 0);
    CHECK_EQ_STR(gm_region_name(gm_space_root(b)), "root");
    CHECK_EQ_INT(gm_space_destroy(b, NULL), 0);
    CHECK_EQ_INT(gm_space_destroy(NULL, NULL), 0);
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
}

static void test_new_errors(void)
{
    gm_system *sys = gm_system_new(NULL), *other = gm_system_new(NULL);
    gm_region *root = gm_region_new_container(sys, "root", 0x1000, NULL);
    gm_region *foreign = gm_region_new_container(other, "f", 0x1000, NULL);
    gm_error err;

    gm_error_clear(&err);
    CHECK(gm_space_new(NULL, root, "x", &err) == NULL);
    CHECK_EQ_INT(err.code, -EINVAL);
    CHECK(err.msg[0] != '\0');
    gm_error_clear(&err);
    CHECK(gm_space_new(sys, NULL, "x", &err) == NULL);
    CHECK_EQ_INT(err.code, -EINVAL);
    CHECK(err.msg[0] != '\0');
    gm_error_clear(&err);
    CHECK(gm_space_new(sys, foreign, "x", &err) == NULL);
    CHECK_EQ_INT(err.code, -EINVAL);
    CHECK(err.msg[0] != '\0');

    gm_region_unref(root);
    gm_region_unref(foreign);
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
    CHECK_EQ_INT(gm_system_destroy(other, NULL), 0);
}

struct walk {
    struct strbuf sb;
    int calls;
    int stop_after;
    bool spaces_null;
};

static int walk_fn(const struct gm_section *s, void *opaque)
{
    struct walk *w = opaque;
    char t[256];

    w->calls++;
    if (s->space != NULL) {
        w->spaces_null = false;
    }
    sec_fmt(t, sizeof(t), s, true);
    sb_add(&w->sb, "%s", t);
    return w->calls == w->stop_after ? -7 : 0;
}

static void test_flatview_walk_lookup(void)
{
    struct machine m;
    struct walk w = {.spaces_null = true};
    gm_flatview *fv;
    gm_region *ram, *dev;
    struct gm_section s;

    machine_init(&m);
    /* Added out of address order. */
    dev = add_io_prio(m.root, "dev", 0x8000, 0x100, 0);
    ram = add_ram(m.root, "ram", 0x1000, 0x2000);
    add_ram(m.root, "low", 0, 0x800);
    fv = gm_space_get_flatview(m.as);
    CHECK(fv != NULL);
    CHECK_EQ_PTR(gm_flatview_root(fv), m.root);
    CHECK_EQ_U64(gm_flatview_nr_ranges(fv), 3);

    sb_reset(&w.sb);
    CHECK_EQ_INT(gm_flatview_foreach(fv, walk_fn, &w), 0);
    CHECK_EQ_STR(w.sb.s, "low 0-7ff; ram 1000-2fff; dev 8000-80ff");
    CHECK_EQ_INT(w.calls, 3);
    CHECK(w.spaces_null);

    /* Early stop returns the callback's value. */
    sb_reset(&w.sb);
    w.calls = 0;
    w.stop_after = 2;
    CHECK_EQ_INT(gm_flatview_foreach(fv, walk_fn, &w), -7);
    CHECK_EQ_INT(w.calls, 2);
    CHECK_EQ_STR(w.sb.s, "low 0-7ff; ram 1000-2fff");

    /* Hits: first byte, middle, last byte. */
    memset(&s, 0xff, sizeof(s));
    CHECK(gm_flatview_lookup(fv, 0x1000, &s));
    CHECK_EQ_PTR(s.region, ram);
    CHECK_EQ_U64(s.addr, 0x1000);
    CHECK_EQ_U128(s.size, 0x2000);
    CHECK_EQ_U64(s.offset_in_region, 0);
    CHECK(!s.readonly);
    CHECK_EQ_INT(s.dirty_log_mask, 0);
    CHECK(gm_flatview_lookup(fv, 0x2abc, &s));
    CHECK_EQ_PTR(s.region, ram);
    CHECK(gm_flatview_lookup(fv, 0x2fff, &s));
    CHECK_EQ_PTR(s.region, ram);
    CHECK(gm_flatview_lookup(fv, 0x80ff, &s));
    CHECK_EQ_PTR(s.region, dev);
    CHECK_EQ_U64(s.addr, 0x8000);
    CHECK(gm_flatview_lookup(fv, 0, &s));
    CHECK_EQ_STR(gm_region_name(s.region), "low");
    /* Misses: holes, just past the ends, far away. */
    CHECK(!gm_flatview_lookup(fv, 0x800, &s));
    CHECK(!gm_flatview_lookup(fv, 0xfff, &s));
    CHECK(!gm_flatview_lookup(fv, 0x3000, &s));
    CHECK(!gm_flatview_lookup(fv, 0x8100, &s));
    CHECK(!gm_flatview_lookup(fv, 0x10000, &s));
    CHECK(!gm_flatview_lookup(fv, UINT64_MAX, &s));

    /* ref/unref balance; the view outlives later commits unchanged. */
    CHECK_EQ_PTR(gm_flatview_ref(fv), fv);
    gm_flatview_unref(fv);
    CHECK_EQ_INT(gm_region_set_address(ram, 0x4000, NULL), 0);
    CHECK_EQ_STR(fv_str(fv, &w.sb), "low 0-7ff; ram 1000-2fff; dev 8000-80ff");
    CHECK(gm_flatview_lookup(fv, 0x1000, &s));
    CHECK_EQ_STR(as_str(m.as, &w.sb),
                 "low 0-7ff; ram 4000-5fff; dev 8000-80ff");
    gm_flatview_unref(fv);
    gm_flatview_unref(NULL);
    machine_fini(&m);
}

/* Offsets inside a region that is split by a higher-priority one. */
static void test_lookup_offsets(void)
{
    struct machine m;
    gm_flatview *fv;
    struct gm_section s;
    gm_region *big;

    machine_init(&m);
    big = add_io_prio(m.root, "big", 0x1000, 0x4000, 0);
    add_io_prio(m.root, "hole", 0x2000, 0x1000, 1);
    fv = gm_space_get_flatview(m.as);
    CHECK_EQ_U64(gm_flatview_nr_ranges(fv), 3);
    CHECK(gm_flatview_lookup(fv, 0x3800, &s));
    CHECK_EQ_PTR(s.region, big);
    CHECK_EQ_U64(s.addr, 0x3000);
    CHECK_EQ_U128(s.size, 0x2000);
    CHECK_EQ_U64(s.offset_in_region, 0x2000);
    CHECK(gm_flatview_lookup(fv, 0x2000, &s));
    CHECK_EQ_STR(gm_region_name(s.region), "hole");
    gm_flatview_unref(fv);
    machine_fini(&m);
}

static void test_shared_flatview(void)
{
    gm_system *sys = gm_system_new(NULL);
    gm_region *system =
        gm_region_new_container(sys, "system", GM_SIZE_2_64, NULL);
    gm_region *whole =
        gm_region_new_alias(sys, "bus master", system, 0, GM_SIZE_2_64, NULL);
    gm_region *bm =
        gm_region_new_container(sys, "bm container", GM_SIZE_2_64, NULL);
    gm_space *mem, *cpu, *dev, *dis;
    gm_flatview *f1, *f2, *f3, *f4;
    struct strbuf sb;

    /* Two children, so "system" itself is the flat-view root. */
    add_ram(system, "ram", 0, 0x1000);
    add_io_prio(system, "dev", 0x10000, 0x100, 0);
    CHECK_EQ_INT(gm_region_add_subregion(bm, 0, whole, NULL), 0);
    mem = gm_space_new(sys, system, "memory", NULL);
    cpu = gm_space_new(sys, system, "cpu-memory-0", NULL);
    dev = gm_space_new(sys, bm, "pci-dev", NULL);

    /* Same root region: same view object. */
    f1 = gm_space_get_flatview(mem);
    f2 = gm_space_get_flatview(cpu);
    CHECK_EQ_PTR(f1, f2);
    /* A container whose only child is a whole alias at 0 resolves too. */
    f3 = gm_space_get_flatview(dev);
    CHECK_EQ_PTR(f3, f1);
    CHECK_EQ_PTR(gm_flatview_root(f3), system);
    CHECK_EQ_STR(fv_str(f3, &sb), "ram 0-fff; dev 10000-100ff");
    gm_flatview_unref(f1);
    gm_flatview_unref(f2);
    gm_flatview_unref(f3);

    /* Bus mastering off: the alias is disabled, the view is empty. */
    CHECK_EQ_INT(gm_region_set_enabled(whole, false, NULL), 0);
    f3 = gm_space_get_flatview(dev);
    CHECK_EQ_PTR(gm_flatview_root(f3), NULL);
    CHECK_EQ_U64(gm_flatview_nr_ranges(f3), 0);
    CHECK_EQ_STR(fv_str(f3, &sb), "");
    f1 = gm_space_get_flatview(mem);
    CHECK(f1 != f3);
    CHECK_EQ_STR(fv_str(f1, &sb), "ram 0-fff; dev 10000-100ff");
    gm_flatview_unref(f1);
    gm_flatview_unref(f3);

    /* A disabled root. */
    CHECK_EQ_INT(gm_region_set_enabled(bm, false, NULL), 0);
    dis = gm_space_new(sys, bm, "disabled", NULL);
    f4 = gm_space_get_flatview(dis);
    CHECK(f4 != NULL);
    CHECK_EQ_PTR(gm_flatview_root(f4), NULL);
    CHECK_EQ_U64(gm_flatview_nr_ranges(f4), 0);
    gm_flatview_unref(f4);

    /* Changing the shared root updates both spaces at once. */
    add_ram(system, "more", 0x1000, 0x1000);
    f1 = gm_space_get_flatview(mem);
    f2 = gm_space_get_flatview(cpu);
    CHECK_EQ_PTR(f1, f2);
    CHECK_EQ_STR(fv_str(f2, &sb), "ram 0-fff; more 1000-1fff; dev 10000-100ff");
    gm_flatview_unref(f1);
    gm_flatview_unref(f2);

    gm_region_unref(system);
    gm_region_unref(whole);
    gm_region_unref(bm);
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
}

/*
 * Adjacent pieces of one region with contiguous offsets merge into one
 * range; distinct regions never merge, even with equal names.
 */
static void test_merge(void)
{
    struct machine m;
    struct strbuf sb;
    gm_region *ram, *lo, *hi;

    machine_init(&m);
    add_ram(m.root, "same", 0, 0x1000);
    add_ram(m.root, "same", 0x1000, 0x1000);
    CHECK_EQ_STR(as_str(m.as, &sb), "same 0-fff; same 1000-1fff");

    ram = gm_region_new_ram(m.sys, "ram", 0x2000, NULL);
    lo = gm_region_new_alias(m.sys, "lo", ram, 0, 0x1000, NULL);
    hi = gm_region_new_alias(m.sys, "hi", ram, 0x1000, 0x1000, NULL);
    CHECK_EQ_INT(gm_region_add_subregion(m.root, 0x4000, lo, NULL), 0);
    CHECK_EQ_INT(gm_region_add_subregion(m.root, 0x5000, hi, NULL), 0);
    CHECK_EQ_STR(as_str(m.as, &sb),
                 "same 0-fff; same 1000-1fff; ram 4000-5fff");
    /* Not contiguous in the region: no merge. */
    CHECK_EQ_INT(gm_region_set_alias_offset(hi, 0, NULL), 0);
    CHECK_EQ_STR(as_str(m.as, &sb),
                 "same 0-fff; same 1000-1fff; ram 4000-4fff; ram 5000-5fff");
    /* Different attributes: no merge. */
    CHECK_EQ_INT(gm_region_set_alias_offset(hi, 0x1000, NULL), 0);
    CHECK_EQ_INT(gm_region_set_readonly(hi, true, NULL), 0);
    CHECK_EQ_STR(as_str(m.as, &sb), "same 0-fff; same 1000-1fff; "
                                    "ram 4000-4fff; ram 5000-5fff @1000 ro");
    gm_region_unref(ram);
    gm_region_unref(lo);
    gm_region_unref(hi);
    machine_fini(&m);
}

static void test_empty_container_root(void)
{
    gm_system *sys = gm_system_new(NULL);
    gm_region *root = gm_region_new_container(sys, "empty", 0x1000, NULL);
    gm_space *as = gm_space_new(sys, root, "as", NULL);
    gm_flatview *fv = gm_space_get_flatview(as);

    CHECK(fv != NULL);
    CHECK_EQ_PTR(gm_flatview_root(fv), NULL);
    CHECK_EQ_U64(gm_flatview_nr_ranges(fv), 0);
    gm_flatview_unref(fv);
    gm_region_unref(root);
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
}

static void test_destroy_gives_region_del(void)
{
    struct strbuf log = {.len = 0}, only = {.len = 0};
    struct rec rec = {.log = &log, .show_space = true};
    gm_system *sys = gm_system_new(NULL);
    gm_region *r1 = gm_region_new_container(sys, "r1", 0x10000, NULL);
    gm_region *r2 = gm_region_new_container(sys, "r2", 0x10000, NULL);
    gm_space *a, *b;
    gm_listener *l;

    add_ram(r1, "ram1", 0, 0x1000);
    add_ram(r2, "ram2", 0x2000, 0x1000);
    a = gm_space_new(sys, r1, "a", NULL);
    b = gm_space_new(sys, r2, "b", NULL);
    gm_region_unref(r1);
    gm_region_unref(r2);
    l = gm_listener_register(sys, &rec_ops, &rec, 0, NULL, NULL);
    CHECK_EQ_STR(log_only(&log, "add del", &only),
                 "add a ram1 0-fff; add b ram2 2000-2fff");
    sb_reset(&log);
    CHECK_EQ_INT(gm_space_destroy(a, NULL), 0);
    CHECK_EQ_STR(log_only(&log, "add del", &only), "del a ram1 0-fff");
    /* A new space is announced. */
    sb_reset(&log);
    a = gm_space_new(sys, r2, "a2", NULL);
    CHECK(a != NULL);
    CHECK_EQ_STR(log_only(&log, "add del", &only), "add a2 ram2 2000-2fff");
    CHECK_EQ_INT(gm_listener_unregister(l, NULL), 0);
    CHECK(b != NULL);
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
}

static void test_destroy_busy_filtered(void)
{
    struct strbuf log = {.len = 0}, sb = {.len = 0};
    struct rec rec = {.log = &log};
    struct machine m;
    gm_listener *l;
    gm_error err;

    machine_init(&m);
    add_ram(m.root, "ram", 0, 0x1000);
    l = gm_listener_register(m.sys, &rec_ops, &rec, 0, m.as, NULL);
    CHECK(l != NULL);
    sb_reset(&log);
    gm_error_clear(&err);
    CHECK_EQ_INT(gm_space_destroy(m.as, &err), -EBUSY);
    CHECK_EQ_INT(err.code, -EBUSY);
    CHECK(err.msg[0] != '\0');
    /* Nothing happened: the space is intact, no event. */
    CHECK_EQ_STR(log.s, "");
    CHECK_EQ_STR(as_str(m.as, &sb), "ram 0-fff");
    CHECK_EQ_STR(gm_space_name(m.as), "mem");

    CHECK_EQ_INT(gm_listener_unregister(l, NULL), 0);
    CHECK_EQ_INT(gm_space_destroy(m.as, NULL), 0);
    CHECK_EQ_INT(gm_system_destroy(m.sys, NULL), 0);
}

/* Only the views of spaces a change touches are replaced. */
static void test_untouched_space_keeps_view(void)
{
    gm_system *sys = gm_system_new(NULL);
    gm_region *r1 = gm_region_new_container(sys, "r1", 0x10000, NULL);
    gm_region *r2 = gm_region_new_container(sys, "r2", 0x10000, NULL);
    gm_space *a = gm_space_new(sys, r1, "a", NULL);
    gm_space *b = gm_space_new(sys, r2, "b", NULL);
    gm_flatview *before, *after;

    add_ram(r2, "ram2", 0, 0x1000);
    before = gm_space_get_flatview(b);
    add_ram(r1, "ram1", 0, 0x1000);
    after = gm_space_get_flatview(b);
    CHECK_EQ_PTR(after, before);
    gm_flatview_unref(before);
    gm_flatview_unref(after);
    CHECK(a != NULL);
    gm_region_unref(r1);
    gm_region_unref(r2);
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
}

/* gm_mtree_print smoke test (its output is tested elsewhere). */
static void test_mtree_smoke(void)
{
    struct machine m;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    machine_init(&m);
    add_ram(m.root, "ram", 0, 0x1000);
    CHECK_EQ_INT(gm_mtree_print(m.sys, f, 0, NULL), 0);
    CHECK_EQ_INT(gm_mtree_print(m.sys, f, GM_MTREE_FLAT, NULL), 0);
    fclose(f);
    CHECK_CONTAINS(buf, "address-space: mem");
    CHECK_CONTAINS(buf, "0000000000000000-0000000000000fff (prio 0, ram): ram");
    CHECK_CONTAINS(buf, "FlatView #0");
    free(buf);
    machine_fini(&m);
}

int main(void)
{
    RUN(test_new);
    RUN(test_new_errors);
    RUN(test_flatview_walk_lookup);
    RUN(test_lookup_offsets);
    RUN(test_shared_flatview);
    RUN(test_merge);
    RUN(test_empty_container_root);
    RUN(test_destroy_gives_region_del);
    RUN(test_destroy_busy_filtered);
    RUN(test_untouched_space_keeps_view);
    RUN(test_mtree_smoke);
    return harness_done();
}
