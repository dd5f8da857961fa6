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

#include "unit-helpers.h"

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
