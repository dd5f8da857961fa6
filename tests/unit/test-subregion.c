/* SPDX-License-Identifier: MIT */
/*
 * test-subregion.c - unit tests of the region tree: adding and removing
 * subregions, collision warnings and how the tree renders.
 *
 * Invariants checked: a failed add or del (NULL, second container, alias
 * parent, foreign system, cycle directly or through aliases, range past
 * 2^64, not a child) returns its code, fills the error record and changes
 * nothing visible (same flat view, no listener call); siblings render by
 * priority, then most recently added first; colliding non-overlapping
 * siblings give exactly one warning naming both; aliases translate offsets
 * and accumulate readonly; a 2^64-sized region renders as one range.
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

/*
 * Expect @call to return @want with a message, the flat view of @m to stay
 * the same object and @log (a recorder on every space) to stay empty.
 */
#define CHECK_FAILS_QUIETLY(m, log, call, want)                                \
    do {                                                                       \
        gm_error e_;                                                           \
        gm_flatview *fvb_ = gm_space_get_flatview((m)->as), *fva_;             \
        sb_reset(log);                                                         \
        gm_error_clear(&e_);                                                   \
        CHECK_EQ_INT((call), (want));                                          \
        CHECK_EQ_INT(e_.code, (want));                                         \
        CHECK(e_.msg[0] != '\0');                                              \
        fva_ = gm_space_get_flatview((m)->as);                                 \
        CHECK_EQ_PTR(fva_, fvb_);                                              \
        gm_flatview_unref(fva_);                                               \
        gm_flatview_unref(fvb_);                                               \
        CHECK_EQ_STR((log)->s, "");                                            \
    } while (0)

static void test_add_del(void)
{
    struct strbuf log = {.len = 0}, sb = {.len = 0};
    struct rec rec = {.log = &log};
    struct machine m;
    gm_listener *l;
    gm_region *a, *c;

    machine_init(&m);
    l = gm_listener_register(m.sys, &rec_ops, &rec, 0, NULL, NULL);
    a = gm_region_new_ram(m.sys, "a", 0x1000, NULL);
    CHECK_EQ_INT(gm_region_add_subregion(m.root, 0x3000, a, NULL), 0);
    CHECK_EQ_PTR(gm_region_container(a), m.root);
    CHECK_EQ_U64(gm_region_addr(a), 0x3000);
    CHECK_EQ_STR(as_str(m.as, &sb), "a 3000-3fff");

    /* A nested container: addresses add up. */
    c = gm_region_new_container(m.sys, "c", 0x4000, NULL);
    add_ram(c, "b", 0x1000, 0x800);
    CHECK_EQ_INT(gm_region_add_subregion(m.root, 0x8000, c, NULL), 0);
    gm_region_unref(c);
    CHECK_EQ_STR(as_str(m.as, &sb), "a 3000-3fff; b 9000-97ff");

    sb_reset(&log);
    CHECK_EQ_INT(gm_region_del_subregion(m.root, a, NULL), 0);
    CHECK_EQ_PTR(gm_region_container(a), NULL);
    CHECK_EQ_STR(log.s, "begin; del a 3000-3fff; commit");
    CHECK_EQ_STR(as_str(m.as, &sb), "b 9000-97ff");

    /* Re-add with overlap and a priority. */
    CHECK_EQ_INT(gm_region_add_subregion_overlap(m.root, 0, a, 5, NULL), 0);
    CHECK_EQ_INT(gm_region_priority(a), 5);
    CHECK(gm_region_may_overlap(a));
    CHECK_EQ_STR(as_str(m.as, &sb), "a 0-fff; b 9000-97ff");
    gm_region_unref(a); /* root holds it */

    CHECK_EQ_INT(gm_listener_unregister(l, NULL), 0);
    machine_fini(&m);
}

static void test_add_errors(void)
{
    struct strbuf log = {.len = 0}, sb = {.len = 0};
    struct rec rec = {.log = &log};
    struct machine m, other;
    gm_listener *l;
    gm_region *a, *placed, *al, *big, *foreign;

    machine_init(&m);
    machine_init(&other);
    placed = add_ram(m.root, "placed", 0, 0x1000);
    a = gm_region_new_ram(m.sys, "a", 0x2000, NULL);
    al = gm_region_new_alias(m.sys, "al", placed, 0, 0x1000, NULL);
    big = gm_region_new_container(m.sys, "big", GM_SIZE_2_64, NULL);
    foreign = gm_region_new_ram(other.sys, "foreign", 0x1000, NULL);
    l = gm_listener_register(m.sys, &rec_ops, &rec, 0, NULL, NULL);

    /* NULL arguments. */
    CHECK_FAILS_QUIETLY(&m, &log, gm_region_add_subregion(NULL, 0, a, &e_),
                        -EINVAL);
    CHECK_FAILS_QUIETLY(&m, &log, gm_region_add_subregion(m.root, 0, NULL, &e_),
                        -EINVAL);
    CHECK_FAILS_QUIETLY(
        &m, &log, gm_region_add_subregion_overlap(NULL, 0, a, 1, &e_), -EINVAL);
    /* Already in a container (this one or another). */
    CHECK_FAILS_QUIETLY(&m, &log,
                        gm_region_add_subregion(m.root, 0x4000, placed, &e_),
                        -EINVAL);
    CHECK_FAILS_QUIETLY(
        &m, &log, gm_region_add_subregion(big, 0x4000, placed, &e_), -EINVAL);
    CHECK_FAILS_QUIETLY(
        &m, &log,
        gm_region_add_subregion_overlap(m.root, 0x4000, placed, 1, &e_),
        -EINVAL);
    CHECK_EQ_PTR(gm_region_container(placed), m.root);
    CHECK_EQ_U64(gm_region_addr(placed), 0);
    /* The parent is an alias. */
    CHECK_FAILS_QUIETLY(&m, &log, gm_region_add_subregion(al, 0, a, &e_),
                        -EINVAL);
    /* Another system's region, either way round. */
    CHECK_FAILS_QUIETLY(&m, &log,
                        gm_region_add_subregion(m.root, 0x4000, foreign, &e_),
                        -EINVAL);
    CHECK_FAILS_QUIETLY(
        &m, &log, gm_region_add_subregion(other.root, 0, a, &e_), -EINVAL);
    /* offset + size past 2^64, even in a 2^64 container. */
    CHECK_FAILS_QUIETLY(
        &m, &log, gm_region_add_subregion(big, UINT64_MAX - 0xfff, a, &e_),
        -ERANGE);
    CHECK_FAILS_QUIETLY(
        &m, &log, gm_region_add_subregion_overlap(big, UINT64_MAX, a, 0, &e_),
        -ERANGE);
    CHECK_EQ_PTR(gm_region_container(a), NULL);
    /* Ending exactly at 2^64 is fine. */
    CHECK_EQ_INT(gm_region_add_subregion(big, 0 - (uint64_t)0x2000, a, NULL),
                 0);
    CHECK_EQ_U64(gm_region_addr(a), 0xffffffffffffe000ULL);

    CHECK_EQ_STR(as_str(m.as, &sb), "placed 0-fff");
    CHECK_EQ_INT(gm_listener_unregister(l, NULL), 0);
    gm_region_unref(a);
    gm_region_unref(al);
    gm_region_unref(big);
    gm_region_unref(foreign);
    machine_fini(&m);
    machine_fini(&other);
}

static void test_add_loops(void)
{
    struct strbuf log = {.len = 0};
    struct rec rec = {.log = &log};
    struct machine m;
    gm_listener *l;
    gm_region *a, *b, *x, *t, *y, *inner;

    machine_init(&m);
    l = gm_listener_register(m.sys, &rec_ops, &rec, 0, NULL, NULL);
    a = gm_region_new_container(m.sys, "a", 0x10000, NULL);
    b = gm_region_new_container(m.sys, "b", 0x1000, NULL);
    CHECK_EQ_INT(gm_region_add_subregion(a, 0, b, NULL), 0);

    /* Into itself, into its own child, into its grandchild. */
    CHECK_FAILS_QUIETLY(&m, &log, gm_region_add_subregion(a, 0, a, &e_),
                        -ELOOP);
    CHECK_FAILS_QUIETLY(&m, &log, gm_region_add_subregion(b, 0, a, &e_),
                        -ELOOP);
    inner = gm_region_new_container(m.sys, "inner", 0x100, NULL);
    CHECK_EQ_INT(gm_region_add_subregion(b, 0, inner, NULL), 0);
    CHECK_FAILS_QUIETLY(
        &m, &log, gm_region_add_subregion_overlap(inner, 0, a, 1, &e_), -ELOOP);

    /* Through an alias: x shows a, so a must not contain x. */
    x = gm_region_new_alias(m.sys, "x", a, 0, 0x1000, NULL);
    CHECK_FAILS_QUIETLY(&m, &log, gm_region_add_subregion(a, 0x2000, x, &e_),
                        -ELOOP);
    CHECK_FAILS_QUIETLY(&m, &log, gm_region_add_subregion(inner, 0, x, &e_),
                        -ELOOP);

    /* a -> y (alias) -> t: t must not contain a. */
    t = gm_region_new_container(m.sys, "t", 0x1000, NULL);
    y = gm_region_new_alias(m.sys, "y", t, 0, 0x1000, NULL);
    CHECK_EQ_INT(gm_region_add_subregion(a, 0x4000, y, NULL), 0);
    CHECK_FAILS_QUIETLY(&m, &log, gm_region_add_subregion(t, 0, a, &e_),
                        -ELOOP);
    CHECK_EQ_PTR(gm_region_container(a), NULL);
    CHECK_EQ_PTR(gm_region_container(x), NULL);

    /* None of it hurt: a is still placeable. */
    CHECK_EQ_INT(gm_region_add_subregion(m.root, 0, a, NULL), 0);

    CHECK_EQ_INT(gm_listener_unregister(l, NULL), 0);
    gm_region_unref(a);
    gm_region_unref(b);
    gm_region_unref(x);
    gm_region_unref(t);
    gm_region_unref(y);
    gm_region_unref(inner);
    machine_fini(&m);
}

static void test_del_errors(void)
{
    struct strbuf log = {.len = 0};
    struct rec rec = {.log = &log};
    struct machine m;
    gm_listener *l;
    gm_region *a, *c, *loose, *inner;

    machine_init(&m);
    a = add_ram(m.root, "a", 0, 0x1000);
    c = gm_region_new_container(m.sys, "c", 0x1000, NULL);
    CHECK_EQ_INT(gm_region_add_subregion(m.root, 0x4000, c, NULL), 0);
    inner = add_ram(c, "inner", 0, 0x100);
    loose = gm_region_new_ram(m.sys, "loose", 0x1000, NULL);
    l = gm_listener_register(m.sys, &rec_ops, &rec, 0, NULL, NULL);

    CHECK_FAILS_QUIETLY(&m, &log, gm_region_del_subregion(NULL, a, &e_),
                        -EINVAL);
    CHECK_FAILS_QUIETLY(&m, &log, gm_region_del_subregion(m.root, NULL, &e_),
                        -EINVAL);
    CHECK_FAILS_QUIETLY(&m, &log, gm_region_del_subregion(m.root, loose, &e_),
                        -ENOENT);
    /* A grandchild is not a child. */
    CHECK_FAILS_QUIETLY(&m, &log, gm_region_del_subregion(m.root, inner, &e_),
                        -ENOENT);
    CHECK_FAILS_QUIETLY(&m, &log, gm_region_del_subregion(c, a, &e_), -ENOENT);
    CHECK_FAILS_QUIETLY(&m, &log, gm_region_del_subregion(a, a, &e_), -ENOENT);
    CHECK_EQ_PTR(gm_region_container(a), m.root);
    CHECK_EQ_PTR(gm_region_container(inner), c);

    /* Deleting twice: the second is -ENOENT. */
    CHECK_EQ_INT(gm_region_del_subregion(c, inner, NULL), 0);
    gm_region_ref(a);
    CHECK_EQ_INT(gm_region_del_subregion(m.root, a, NULL), 0);
    CHECK_FAILS_QUIETLY(&m, &log, gm_region_del_subregion(m.root, a, &e_),
                        -ENOENT);

    CHECK_EQ_INT(gm_listener_unregister(l, NULL), 0);
    gm_region_unref(a);
    gm_region_unref(c);
    gm_region_unref(loose);
    machine_fini(&m);
}

struct warns {
    int n;
    char last[512];
};

static void on_warn(void *opaque, const char *msg)
{
    struct warns *w = opaque;

    w->n++;
    snprintf(w->last, sizeof(w->last), "%s", msg);
}

static void test_collision_warning(void)
{
    struct machine m;
    struct strbuf sb = {.len = 0};
    struct warns w = {0};
    gm_region *alpha, *beta, *ovl, *gamma, *delta;

    machine_init(&m);
    gm_system_set_warn_handler(m.sys, on_warn, &w);

    alpha = gm_region_new_io(m.sys, "dev-alpha", 0x2000, NULL, NULL, NULL);
    beta = gm_region_new_io(m.sys, "dev-beta", 0x800, NULL, NULL, NULL);
    ovl = gm_region_new_io(m.sys, "dev-ovl", 0x2000, NULL, NULL, NULL);
    gamma = gm_region_new_io(m.sys, "dev-gamma", 0x1000, NULL, NULL, NULL);
    delta = gm_region_new_io(m.sys, "dev-delta", 0x1000, NULL, NULL, NULL);

    CHECK_EQ_INT(gm_region_add_subregion(m.root, 0, alpha, NULL), 0);
    CHECK_EQ_INT(w.n, 0);
    /* Overlap-added regions never warn. */
    CHECK_EQ_INT(gm_region_add_subregion_overlap(m.root, 0x1000, ovl, 0, NULL),
                 0);
    CHECK_EQ_INT(w.n, 0);
    /* Adjacent is not colliding. */
    CHECK_EQ_INT(gm_region_add_subregion(m.root, 0x2000, gamma, NULL), 0);
    CHECK_EQ_INT(w.n, 0);
    /* beta collides with alpha (and with the overlap-added ovl only). */
    CHECK_EQ_INT(gm_region_add_subregion(m.root, 0x1800, beta, NULL), 0);
    CHECK_EQ_INT(w.n, 1);
    CHECK_CONTAINS(w.last, "dev-alpha");
    CHECK_CONTAINS(w.last, "dev-beta");
    /* Rendering still follows insertion order: newest first. */
    CHECK_EQ_STR(as_str(m.as, &sb),
                 "dev-alpha 0-fff; dev-ovl 1000-17ff; dev-beta 1800-1fff; "
                 "dev-gamma 2000-2fff");
    /* Siblings in different containers do not collide. */
    w.n = 0;
    {
        gm_region *c = gm_region_new_container(m.sys, "c", 0x1000, NULL);

        CHECK_EQ_INT(gm_region_add_subregion(c, 0, delta, NULL), 0);
        CHECK_EQ_INT(
            gm_region_add_subregion_overlap(m.root, 0x8000, c, 0, NULL), 0);
        gm_region_unref(c);
    }
    CHECK_EQ_INT(w.n, 0);

    gm_region_unref(alpha);
    gm_region_unref(beta);
    gm_region_unref(ovl);
    gm_region_unref(gamma);
    gm_region_unref(delta);
    machine_fini(&m);
}

static int collect_child(gm_region *child, void *opaque)
{
    sb_add(opaque, "%s", gm_region_name(child));
    return 0;
}

static int stop_at_second(gm_region *child, void *opaque)
{
    int *n = opaque;

    (void)child;
    return ++*n == 2 ? 42 : 0;
}

static void test_render_order(void)
{
    struct machine m;
    struct strbuf sb = {.len = 0}, names = {.len = 0};
    gm_region *lo1, *lo2, *hi;
    int n = 0;

    machine_init(&m);
    /* Same priority: the most recently added wins where they overlap. */
    lo1 = add_io_prio(m.root, "lo1", 0x0000, 0x2000, 0);
    lo2 = add_io_prio(m.root, "lo2", 0x1000, 0x2000, 0);
    CHECK_EQ_STR(as_str(m.as, &sb), "lo1 0-fff; lo2 1000-2fff");
    /* Higher priority wins although added before... */
    hi = add_io_prio(m.root, "hi", 0x2800, 0x1000, 2);
    add_io_prio(m.root, "neg", 0x0000, 0x8000, -1);
    CHECK_EQ_STR(as_str(m.as, &sb),
                 "lo1 0-fff; lo2 1000-27ff; hi 2800-37ff; neg 3800-7fff @3800");
    /* ... and lower priority loses although added last. */
    CHECK_EQ_INT(gm_region_del_subregion(m.root, lo1, NULL), 0);
    CHECK_EQ_STR(as_str(m.as, &sb),
                 "neg 0-fff; lo2 1000-27ff; hi 2800-37ff; neg 3800-7fff @3800");

    /* foreach_subregion: priority descending, then newest first. */
    sb_reset(&names);
    CHECK_EQ_INT(gm_region_foreach_subregion(m.root, collect_child, &names), 0);
    CHECK_EQ_STR(names.s, "hi; lo2; neg");
    add_io_prio(m.root, "lo3", 0xa000, 0x100, 0);
    sb_reset(&names);
    gm_region_foreach_subregion(m.root, collect_child, &names);
    CHECK_EQ_STR(names.s, "hi; lo3; lo2; neg");
    CHECK_EQ_INT(gm_region_foreach_subregion(m.root, stop_at_second, &n), 42);
    CHECK_EQ_INT(n, 2);
    sb_reset(&names);
    CHECK_EQ_INT(gm_region_foreach_subregion(hi, collect_child, &names), 0);
    CHECK_EQ_STR(names.s, "");

    /* Raising a priority by re-adding moves it in the order. */
    gm_region_ref(lo2);
    CHECK_EQ_INT(gm_region_del_subregion(m.root, lo2, NULL), 0);
    CHECK_EQ_INT(gm_region_add_subregion_overlap(m.root, 0x1000, lo2, 3, NULL),
                 0);
    gm_region_unref(lo2);
    CHECK_EQ_STR(as_str(m.as, &sb),
                 "neg 0-fff; lo2 1000-2fff; hi 3000-37ff @800; "
                 "neg 3800-7fff @3800; "
                 "lo3 a000-a0ff");
    machine_fini(&m);
}

/* A terminating region fills what its subregions leave. */
static void test_terminating_parent(void)
{
    struct machine m;
    struct strbuf sb = {.len = 0};
    gm_region *dev, *c;

    machine_init(&m);
    dev = gm_region_new_io(m.sys, "dev", 0x3000, NULL, NULL, NULL);
    add_ram(dev, "win", 0x1000, 0x800);
    CHECK_EQ_INT(gm_region_add_subregion(m.root, 0x1000, dev, NULL), 0);
    gm_region_unref(dev);
    CHECK_EQ_STR(as_str(m.as, &sb),
                 "dev 1000-1fff; win 2000-27ff; dev 2800-3fff @1800");

    /* A container does not fill. */
    c = gm_region_new_container(m.sys, "c", 0x3000, NULL);
    add_ram(c, "cwin", 0x1000, 0x800);
    CHECK_EQ_INT(gm_region_add_subregion(m.root, 0x8000, c, NULL), 0);
    gm_region_unref(c);
    CHECK_EQ_STR(as_str(m.as, &sb), "dev 1000-1fff; win 2000-27ff; "
                                    "dev 2800-3fff @1800; cwin 9000-97ff");
    /* A child sticking out of its parent is clipped. */
    add_ram(c, "edge", 0x2800, 0x1000);
    CHECK_EQ_STR(as_str(m.as, &sb), "dev 1000-1fff; win 2000-27ff; "
                                    "dev 2800-3fff @1800; cwin 9000-97ff; "
                                    "edge a800-afff");
    machine_fini(&m);
}

static void test_enable_move(void)
{
    struct strbuf log = {.len = 0}, sb = {.len = 0};
    struct rec rec = {.log = &log};
    struct machine m;
    gm_listener *l;
    gm_region *c, *r;

    machine_init(&m);
    c = gm_region_new_container(m.sys, "c", 0x2000, NULL);
    r = add_ram(c, "r", 0x1000, 0x1000);
    CHECK_EQ_INT(gm_region_add_subregion(m.root, 0x4000, c, NULL), 0);
    gm_region_unref(c);
    l = gm_listener_register(m.sys, &rec_ops, &rec, 0, NULL, NULL);

    sb_reset(&log);
    CHECK_EQ_INT(gm_region_set_enabled(c, false, NULL), 0);
    CHECK_EQ_STR(as_str(m.as, &sb), "");
    CHECK_EQ_STR(log.s, "begin; del r 5000-5fff; commit");
    /* A region moved inside a disabled container stays hidden. */
    sb_reset(&log);
    CHECK_EQ_INT(gm_region_set_address(r, 0, NULL), 0);
    CHECK_EQ_STR(log.s, "");
    CHECK_EQ_INT(gm_region_set_enabled(c, true, NULL), 0);
    CHECK_EQ_STR(as_str(m.as, &sb), "r 4000-4fff");
    CHECK_EQ_STR(log.s, "begin; add r 4000-4fff; commit");
    /* Moving the container moves the child. */
    sb_reset(&log);
    CHECK_EQ_INT(gm_region_set_address(c, 0x8000, NULL), 0);
    CHECK_EQ_STR(as_str(m.as, &sb), "r 8000-8fff");
    CHECK_EQ_STR(log.s, "begin; del r 4000-4fff; add r 8000-8fff; commit");
    /* Disabling the child itself. */
    CHECK_EQ_INT(gm_region_set_enabled(r, false, NULL), 0);
    CHECK_EQ_STR(as_str(m.as, &sb), "");
    CHECK(!gm_region_enabled(r));

    CHECK_EQ_INT(gm_listener_unregister(l, NULL), 0);
    machine_fini(&m);
}

static void test_alias_render(void)
{
    struct machine m;
    struct strbuf sb = {.len = 0};
    gm_region *ram, *lo, *hi, *aa;

    machine_init(&m);
    ram = gm_region_new_ram(m.sys, "ram", 0x4000, NULL);
    /* ram itself is not mapped; two windows onto it are. */
    lo = gm_region_new_alias(m.sys, "ram-lo", ram, 0, 0x1000, NULL);
    hi = gm_region_new_alias(m.sys, "ram-hi", ram, 0x1000, 0x3000, NULL);
    CHECK_EQ_INT(gm_region_add_subregion(m.root, 0, lo, NULL), 0);
    CHECK_EQ_INT(gm_region_add_subregion(m.root, 0x8000, hi, NULL), 0);
    CHECK_EQ_STR(as_str(m.as, &sb), "ram 0-fff; ram 8000-afff @1000");

    /* Changing the offset re-renders the window. */
    CHECK_EQ_INT(gm_region_set_alias_offset(hi, 0x2000, NULL), 0);
    CHECK_EQ_STR(as_str(m.as, &sb), "ram 0-fff; ram 8000-9fff @2000");
    CHECK_EQ_INT(gm_region_set_alias_offset(hi, 0x1000, NULL), 0);

    /* An alias of an alias. */
    aa = gm_region_new_alias(m.sys, "aa", hi, 0x800, 0x800, NULL);
    CHECK_EQ_INT(gm_region_add_subregion(m.root, 0xc000, aa, NULL), 0);
    CHECK_EQ_STR(as_str(m.as, &sb),
                 "ram 0-fff; ram 8000-afff @1000; ram c000-c7ff @1800");

    /* The target's own address cancels out; its enable still counts. */
    CHECK_EQ_INT(gm_region_set_address(ram, 0x3000, NULL), 0);
    CHECK_EQ_STR(as_str(m.as, &sb),
                 "ram 0-fff; ram 8000-afff @1000; ram c000-c7ff @1800");
    CHECK_EQ_INT(gm_region_set_enabled(ram, false, NULL), 0);
    CHECK_EQ_STR(as_str(m.as, &sb), "");
    CHECK_EQ_INT(gm_region_set_enabled(ram, true, NULL), 0);

    /* A change to the target reaches every alias of it. */
    CHECK_EQ_INT(gm_region_set_size(ram, 0x2000, NULL), 0);
    CHECK_EQ_STR(as_str(m.as, &sb),
                 "ram 0-fff; ram 8000-8fff @1000; ram c000-c7ff @1800");

    gm_region_unref(ram);
    gm_region_unref(lo);
    gm_region_unref(hi);
    gm_region_unref(aa);
    machine_fini(&m);
}

/* readonly and nonvolatile accumulate along the path, through aliases. */
static void test_readonly_accumulates(void)
{
    struct machine m;
    struct strbuf sb = {.len = 0};
    gm_region *ram, *ro_alias, *c, *rom;
    struct gm_section s;
    gm_flatview *fv;

    machine_init(&m);
    ram = add_ram(m.root, "ram", 0, 0x2000);
    ro_alias = gm_region_new_alias(m.sys, "ram-ro", ram, 0, 0x2000, NULL);
    CHECK_EQ_INT(gm_region_set_readonly(ro_alias, true, NULL), 0);
    CHECK_EQ_INT(gm_region_add_subregion(m.root, 0x4000, ro_alias, NULL), 0);
    gm_region_unref(ro_alias);
    CHECK_EQ_STR(as_str(m.as, &sb), "ram 0-1fff; ram 4000-5fff ro");
    CHECK(!gm_region_readonly(ram)); /* the target itself is untouched */

    /* A readonly container makes its RAM read-only. */
    c = gm_region_new_container(m.sys, "c", 0x1000, NULL);
    add_ram(c, "inner", 0, 0x1000);
    CHECK_EQ_INT(gm_region_set_readonly(c, true, NULL), 0);
    CHECK_EQ_INT(gm_region_set_nonvolatile(c, true, NULL), 0);
    CHECK_EQ_INT(gm_region_add_subregion(m.root, 0x8000, c, NULL), 0);
    gm_region_unref(c);
    CHECK_EQ_STR(as_str(m.as, &sb),
                 "ram 0-1fff; ram 4000-5fff ro; inner 8000-8fff ro nv");
    fv = gm_space_get_flatview(m.as);
    CHECK(gm_flatview_lookup(fv, 0x8000, &s));
    CHECK(s.readonly);
    CHECK(s.nonvolatile);
    CHECK(gm_flatview_lookup(fv, 0x4000, &s));
    CHECK(s.readonly);
    CHECK_EQ_PTR(s.region, ram);
    CHECK(gm_flatview_lookup(fv, 0x0000, &s));
    CHECK(!s.readonly);
    gm_flatview_unref(fv);

    /* ROM is read-only on its own. */
    rom = gm_region_new_rom(m.sys, "rom", 0x1000, NULL);
    CHECK_EQ_INT(gm_region_add_subregion(m.root, 0xa000, rom, NULL), 0);
    gm_region_unref(rom);
    fv = gm_space_get_flatview(m.as);
    CHECK(gm_flatview_lookup(fv, 0xa000, &s));
    CHECK(s.readonly);
    gm_flatview_unref(fv);
    machine_fini(&m);
}

/* A region of size 2^64 at 0. */
static void test_full_size_region(void)
{
    gm_system *sys = gm_system_new(NULL);
    gm_region *root =
        gm_region_new_container(sys, "system", GM_SIZE_2_64, NULL);
    gm_region *io =
        gm_region_new_io(sys, "everything", GM_SIZE_2_64, NULL, NULL, NULL);
    gm_space *as = gm_space_new(sys, root, "memory", NULL);
    gm_flatview *fv;
    struct gm_section s;
    struct strbuf sb = {.len = 0};

    CHECK_EQ_INT(gm_region_add_subregion_overlap(root, 0, io, -1, NULL), 0);
    fv = gm_space_get_flatview(as);
    CHECK_EQ_U64(gm_flatview_nr_ranges(fv), 1);
    CHECK(gm_flatview_lookup(fv, UINT64_MAX, &s));
    CHECK_EQ_U64(s.addr, 0);
    CHECK_EQ_U128(s.size, GM_SIZE_2_64);
    CHECK_EQ_PTR(s.region, io);
    CHECK(gm_flatview_lookup(fv, 0, &s));
    CHECK_EQ_STR(fv_str(fv, &sb), "everything 0-ffffffffffffffff");
    gm_flatview_unref(fv);

    /* A RAM region at the very top splits it. */
    {
        gm_region *top = gm_region_new_ram(sys, "top", 0x1000, NULL);

        CHECK_EQ_INT(
            gm_region_add_subregion(root, 0xfffffffffffff000ULL, top, NULL), 0);
        gm_region_unref(top);
    }
    CHECK_EQ_STR(as_str(as, &sb), "everything 0-ffffffffffffefff; "
                                  "top fffffffffffff000-ffffffffffffffff");

    gm_region_unref(io);
    gm_region_unref(root);
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
}

int main(void)
{
    RUN(test_add_del);
    RUN(test_add_errors);
    RUN(test_add_loops);
    RUN(test_del_errors);
    RUN(test_collision_warning);
    RUN(test_render_order);
    RUN(test_terminating_parent);
    RUN(test_enable_move);
    RUN(test_alias_render);
    RUN(test_readonly_accumulates);
    RUN(test_full_size_region);
    return harness_done();
}
