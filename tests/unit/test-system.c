/* SPDX-License-Identifier: MIT */
/*
 * test-system.c - unit tests of guestmem/system.h: the context object,
 * transactions and global dirty logging.
 *
 * Invariants checked: a system is destroyed only when the caller holds no
 * region and no transaction is open (its spaces and listeners go first); nested
 * transactions publish one update at the outermost commit; a commit that
 * changes nothing visible calls no listener and keeps the same flat view;
 * global logging adds GM_DIRTY_MIGRATION to RAM ranges only; two systems in
 * one process never see each other.
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

static void test_new_destroy(void)
{
    gm_error err;
    gm_system *sys;

    gm_error_clear(&err);
    sys = gm_system_new(&err);
    CHECK(sys != NULL);
    CHECK_EQ_INT(err.code, 0);
    CHECK_EQ_INT(gm_transaction_depth(sys), 0);
    CHECK(!gm_system_log_global_enabled(sys));
    CHECK_EQ_INT(gm_system_destroy(sys, &err), 0);
    CHECK_EQ_INT(gm_system_destroy(NULL, NULL), 0);
}

/* A system with spaces, regions and listeners still in it is torn down. */
static void test_destroy_populated(void)
{
    struct strbuf log = {.len = 0};
    struct rec rec = {.log = &log};
    struct machine m;

    sb_reset(&log);
    machine_init(&m);
    add_ram(m.root, "ram", 0, 0x1000);
    CHECK(gm_listener_register(m.sys, &rec_ops, &rec, 0, NULL, NULL) != NULL);
    CHECK_EQ_STR(log.s, "begin; add ram 0-fff; commit");
    sb_reset(&log);
    /* No region_del replay on destruction. */
    CHECK_EQ_INT(gm_system_destroy(m.sys, NULL), 0);
    CHECK(strstr(log.s, "del") == NULL);
}

static int count_space(gm_space *as, void *opaque)
{
    (void)as;
    ++*(int *)opaque;
    return 0;
}

static void test_destroy_busy_while_region_held(void)
{
    struct machine m;
    gm_region *held, *loose;
    gm_error err;
    int spaces = 0;

    machine_init(&m);
    held = gm_region_new_ram(m.sys, "held", 0x1000, NULL);
    CHECK_EQ_INT(gm_region_add_subregion(m.root, 0, held, NULL), 0);
    loose = gm_region_new_container(m.sys, "loose", 0x100, NULL);

    gm_error_clear(&err);
    CHECK_EQ_INT(gm_system_destroy(m.sys, &err), -EBUSY);
    CHECK_EQ_INT(err.code, -EBUSY);
    CHECK(err.msg[0] != '\0');
    /*
     * Documented: the spaces and listeners are gone, the system itself
     * stays allocated until the caller's regions are released.
     */
    gm_system_foreach_space(m.sys, count_space, &spaces);
    CHECK_EQ_INT(spaces, 0);
    CHECK_EQ_STR(gm_region_name(held), "held"); /* still valid */

    /* It can still be used, then destroyed again. */
    {
        struct strbuf b = {.len = 0};
        gm_space *as = gm_space_new(m.sys, held, "again", NULL);

        CHECK(as != NULL);
        CHECK_EQ_STR(as_str(as, &b), "held 0-fff");
    }
    gm_region_unref(held);
    CHECK_EQ_INT(gm_system_destroy(m.sys, NULL), -EBUSY); /* loose */
    gm_region_unref(loose);
    CHECK_EQ_INT(gm_system_destroy(m.sys, &err), 0);
}

static void test_destroy_in_transaction(void)
{
    gm_system *sys = gm_system_new(NULL);
    gm_error err;

    CHECK_EQ_INT(gm_transaction_begin(sys), 0);
    gm_error_clear(&err);
    CHECK_EQ_INT(gm_system_destroy(sys, &err), -EINVAL);
    CHECK_EQ_INT(err.code, -EINVAL);
    CHECK(err.msg[0] != '\0');
    CHECK_EQ_INT(gm_transaction_depth(sys), 1);
    CHECK_EQ_INT(gm_transaction_commit(sys, NULL), 0);
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
}

static void test_transaction_depth(void)
{
    gm_system *sys = gm_system_new(NULL);

    CHECK_EQ_INT(gm_transaction_depth(sys), 0);
    CHECK_EQ_INT(gm_transaction_begin(sys), 0);
    CHECK_EQ_INT(gm_transaction_depth(sys), 1);
    CHECK_EQ_INT(gm_transaction_begin(sys), 0);
    CHECK_EQ_INT(gm_transaction_depth(sys), 2);
    CHECK_EQ_INT(gm_transaction_commit(sys, NULL), 0);
    CHECK_EQ_INT(gm_transaction_depth(sys), 1);
    CHECK_EQ_INT(gm_transaction_commit(sys, NULL), 0);
    CHECK_EQ_INT(gm_transaction_depth(sys), 0);
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
}

static void test_commit_without_begin(void)
{
    gm_system *sys = gm_system_new(NULL);
    gm_error err;

    gm_error_clear(&err);
    CHECK_EQ_INT(gm_transaction_commit(sys, &err), -EINVAL);
    CHECK_EQ_INT(err.code, -EINVAL);
    CHECK(err.msg[0] != '\0');
    CHECK_EQ_INT(gm_transaction_depth(sys), 0);
    /* One too many commits after a balanced pair. */
    CHECK_EQ_INT(gm_transaction_begin(sys), 0);
    CHECK_EQ_INT(gm_transaction_commit(sys, NULL), 0);
    CHECK_EQ_INT(gm_transaction_commit(sys, NULL), -EINVAL);
    CHECK_EQ_INT(gm_transaction_depth(sys), 0);
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
}

/* Changes inside nested transactions are published by the outermost commit. */
static void test_nested_transaction(void)
{
    struct strbuf log = {.len = 0}, sb = {.len = 0};
    struct rec rec = {.log = &log};
    struct machine m;
    gm_listener *l;
    gm_region *a, *b;
    gm_flatview *before, *after;

    machine_init(&m);
    l = gm_listener_register(m.sys, &rec_ops, &rec, 0, NULL, NULL);
    CHECK(l != NULL);
    before = gm_space_get_flatview(m.as);
    sb_reset(&log);

    CHECK_EQ_INT(gm_transaction_begin(m.sys), 0);
    a = add_ram(m.root, "a", 0x1000, 0x1000);
    CHECK_EQ_INT(gm_transaction_begin(m.sys), 0);
    b = add_ram(m.root, "b", 0x4000, 0x1000);
    CHECK_EQ_INT(gm_region_set_address(a, 0x2000, NULL), 0);
    CHECK_EQ_INT(gm_transaction_commit(m.sys, NULL), 0);
    /* Inner commit: nothing published yet. */
    CHECK_EQ_STR(log.s, "");
    CHECK_EQ_STR(as_str(m.as, &sb), "");
    CHECK_EQ_INT(gm_region_set_enabled(b, false, NULL), 0);
    CHECK_EQ_INT(gm_region_set_enabled(b, true, NULL), 0);
    CHECK_EQ_INT(gm_transaction_commit(m.sys, NULL), 0);

    CHECK_EQ_STR(log.s, "begin; add a 2000-2fff; add b 4000-4fff; commit");
    CHECK_EQ_STR(as_str(m.as, &sb), "a 2000-2fff; b 4000-4fff");
    after = gm_space_get_flatview(m.as);
    CHECK(after != before);
    /* The old view is immutable. */
    CHECK_EQ_STR(fv_str(before, &sb), "");
    CHECK_EQ_U64(gm_flatview_nr_ranges(before), 0);
    CHECK_EQ_U64(gm_flatview_nr_ranges(after), 2);
    gm_flatview_unref(before);
    gm_flatview_unref(after);

    CHECK_EQ_INT(gm_listener_unregister(l, NULL), 0);
    machine_fini(&m);
}

/* Each mutator outside a transaction is published on its own. */
static void test_implicit_transaction(void)
{
    struct strbuf log = {.len = 0};
    struct rec rec = {.log = &log};
    struct machine m;
    gm_listener *l;
    gm_region *a;

    machine_init(&m);
    l = gm_listener_register(m.sys, &rec_ops, &rec, 0, NULL, NULL);
    sb_reset(&log);
    a = add_ram(m.root, "a", 0x1000, 0x1000);
    CHECK_EQ_INT(gm_region_set_address(a, 0x3000, NULL), 0);
    CHECK_EQ_STR(log.s, "begin; add a 1000-1fff; commit; "
                        "begin; del a 1000-1fff; add a 3000-3fff; commit");
    CHECK_EQ_INT(gm_listener_unregister(l, NULL), 0);
    machine_fini(&m);
}

/*
 * Nothing visible changed: no listener call (not even begin/commit) and the
 * very same flat view stays published.
 */
static void test_no_visible_change(void)
{
    struct strbuf log = {.len = 0}, sb = {.len = 0};
    struct rec rec = {.log = &log, .nop = true};
    struct machine m;
    gm_listener *l;
    gm_region *mapped, *detached, *sub;
    gm_flatview *fv1, *fv2;

    machine_init(&m);
    mapped = add_ram(m.root, "mapped", 0, 0x1000);
    detached = gm_region_new_container(m.sys, "detached", 0x4000, NULL);
    sub = add_ram(detached, "sub", 0, 0x1000);
    l = gm_listener_register(m.sys, &rec_ops, &rec, 0, NULL, NULL);
    sb_reset(&log);
    fv1 = gm_space_get_flatview(m.as);

    /* Changes to a region no space shows. */
    CHECK_EQ_INT(gm_region_set_address(detached, 0x8000, NULL), 0);
    CHECK_EQ_INT(gm_region_set_address(sub, 0x2000, NULL), 0);
    CHECK_EQ_INT(gm_region_set_enabled(sub, false, NULL), 0);
    CHECK_EQ_INT(gm_region_set_readonly(detached, true, NULL), 0);
    CHECK_EQ_INT(gm_region_set_size(detached, 0x8000, NULL), 0);
    CHECK_EQ_INT(gm_region_set_log(sub, true, GM_DIRTY_VGA, NULL), 0);
    /* Setting what is already set. */
    CHECK_EQ_INT(gm_region_set_enabled(mapped, true, NULL), 0);
    CHECK_EQ_INT(gm_region_set_address(mapped, 0, NULL), 0);
    CHECK_EQ_INT(gm_region_set_readonly(mapped, false, NULL), 0);
    /* An empty transaction. */
    CHECK_EQ_INT(gm_transaction_begin(m.sys), 0);
    CHECK_EQ_INT(gm_transaction_commit(m.sys, NULL), 0);
    /* A change undone inside one transaction. */
    CHECK_EQ_INT(gm_transaction_begin(m.sys), 0);
    CHECK_EQ_INT(gm_region_set_address(mapped, 0x5000, NULL), 0);
    CHECK_EQ_INT(gm_region_set_address(mapped, 0, NULL), 0);
    CHECK_EQ_INT(gm_transaction_commit(m.sys, NULL), 0);

    CHECK_EQ_STR(log.s, "");
    fv2 = gm_space_get_flatview(m.as);
    CHECK_EQ_PTR(fv2, fv1);
    CHECK_EQ_STR(fv_str(fv2, &sb), "mapped 0-fff");
    gm_flatview_unref(fv1);
    gm_flatview_unref(fv2);

    CHECK_EQ_INT(gm_listener_unregister(l, NULL), 0);
    gm_region_unref(detached);
    machine_fini(&m);
}

/* A change hidden under a higher-priority region calls no listener. */
static void test_shadowed_change_silent(void)
{
    struct strbuf log = {.len = 0}, sb = {.len = 0};
    struct rec rec = {.log = &log};
    struct machine m;
    gm_listener *l;
    gm_region *low;

    machine_init(&m);
    add_io_prio(m.root, "high", 0, 0x10000, 1);
    low = add_io_prio(m.root, "low", 0x1000, 0x1000, 0);
    l = gm_listener_register(m.sys, &rec_ops, &rec, 0, NULL, NULL);
    sb_reset(&log);
    CHECK_EQ_INT(gm_region_set_address(low, 0x3000, NULL), 0);
    CHECK_EQ_INT(gm_region_set_enabled(low, false, NULL), 0);
    CHECK_EQ_STR(log.s, "");
    CHECK_EQ_STR(as_str(m.as, &sb), "high 0-ffff");
    CHECK_EQ_INT(gm_listener_unregister(l, NULL), 0);
    machine_fini(&m);
}

static void test_log_global(void)
{
    struct strbuf log = {.len = 0}, sb = {.len = 0}, only = {.len = 0};
    struct rec rec = {.log = &log};
    struct machine m;
    gm_listener *l;
    gm_error err;

    machine_init(&m);
    add_ram(m.root, "ram", 0, 0x1000);
    add_io_prio(m.root, "dev", 0x1000, 0x1000, 0);
    l = gm_listener_register(m.sys, &rec_ops, &rec, 0, NULL, NULL);
    sb_reset(&log);

    CHECK_EQ_INT(gm_system_log_global_start(m.sys, NULL), 0);
    CHECK(gm_system_log_global_enabled(m.sys));
    CHECK_EQ_STR(
        log_only(&log, "global_start log_start log_stop add del", &only),
        "global_start; log_start ram 0-fff 0->4");
    CHECK_EQ_STR(as_str(m.as, &sb), "ram 0-fff log=4; dev 1000-1fff");

    gm_error_clear(&err);
    sb_reset(&log);
    CHECK_EQ_INT(gm_system_log_global_start(m.sys, &err), -EALREADY);
    CHECK_EQ_INT(err.code, -EALREADY);
    CHECK(err.msg[0] != '\0');
    CHECK_EQ_STR(log.s, "");

    /* RAM added while logging is on starts logged. */
    add_ram(m.root, "ram2", 0x2000, 0x1000);
    CHECK_EQ_STR(log_only(&log, "add del", &only), "add ram2 2000-2fff log=4");

    sb_reset(&log);
    CHECK_EQ_INT(gm_system_log_global_stop(m.sys, NULL), 0);
    CHECK(!gm_system_log_global_enabled(m.sys));
    /* As QEMU: the ranges stop logging first, then log_global_stop. */
    CHECK_EQ_STR(log_only(&log, "global_stop log_start log_stop add del",
                          &only),
                 "log_stop ram 0-fff 4->0; log_stop ram2 2000-2fff 4->0; "
                 "global_stop");
    CHECK_EQ_STR(as_str(m.as, &sb), "ram 0-fff; dev 1000-1fff; ram2 2000-2fff");

    gm_error_clear(&err);
    sb_reset(&log);
    CHECK_EQ_INT(gm_system_log_global_stop(m.sys, &err), -EALREADY);
    CHECK_EQ_INT(err.code, -EALREADY);
    CHECK(err.msg[0] != '\0');
    CHECK_EQ_STR(log.s, "");

    CHECK_EQ_INT(gm_listener_unregister(l, NULL), 0);
    machine_fini(&m);
}

/* A region's own logging and global logging combine in the mask. */
static void test_log_global_with_region_log(void)
{
    struct strbuf log = {.len = 0}, sb = {.len = 0}, only = {.len = 0};
    struct rec rec = {.log = &log};
    struct machine m;
    gm_listener *l;
    gm_region *ram;

    machine_init(&m);
    ram = add_ram(m.root, "ram", 0, 0x1000);
    CHECK_EQ_INT(gm_region_set_log(ram, true, GM_DIRTY_VGA, NULL), 0);
    l = gm_listener_register(m.sys, &rec_ops, &rec, 0, NULL, NULL);
    sb_reset(&log);
    CHECK_EQ_INT(gm_system_log_global_start(m.sys, NULL), 0);
    CHECK_EQ_STR(log_only(&log, "log_start log_stop add del", &only),
                 "log_start ram 0-fff 1->5");
    CHECK_EQ_STR(as_str(m.as, &sb), "ram 0-fff log=5");
    sb_reset(&log);
    CHECK_EQ_INT(gm_system_log_global_stop(m.sys, NULL), 0);
    CHECK_EQ_STR(log_only(&log, "log_start log_stop add del", &only),
                 "log_stop ram 0-fff 5->1");
    CHECK_EQ_INT(gm_listener_unregister(l, NULL), 0);
    machine_fini(&m);
}

struct visit {
    struct strbuf names;
    const char *stop_at;
};

static int visit_space(gm_space *as, void *opaque)
{
    struct visit *v = opaque;

    sb_add(&v->names, "%s", gm_space_name(as));
    return v->stop_at && !strcmp(gm_space_name(as), v->stop_at) ? 7 : 0;
}

static void test_foreach_space(void)
{
    gm_system *sys = gm_system_new(NULL);
    gm_region *root = gm_region_new_container(sys, "root", 0x1000, NULL);
    gm_space *a, *b, *c;
    struct visit v;

    sb_reset(&v.names);
    v.stop_at = NULL;
    CHECK_EQ_INT(gm_system_foreach_space(sys, visit_space, &v), 0);
    CHECK_EQ_STR(v.names.s, "");

    a = gm_space_new(sys, root, "a", NULL);
    b = gm_space_new(sys, root, "b", NULL);
    c = gm_space_new(sys, root, "c", NULL);
    CHECK(a && b && c);
    gm_region_unref(root);
    CHECK_EQ_INT(gm_system_foreach_space(sys, visit_space, &v), 0);
    CHECK_EQ_STR(v.names.s, "a; b; c");

    sb_reset(&v.names);
    v.stop_at = "b";
    CHECK_EQ_INT(gm_system_foreach_space(sys, visit_space, &v), 7);
    CHECK_EQ_STR(v.names.s, "a; b");

    CHECK_EQ_INT(gm_space_destroy(b, NULL), 0);
    sb_reset(&v.names);
    v.stop_at = NULL;
    CHECK_EQ_INT(gm_system_foreach_space(sys, visit_space, &v), 0);
    CHECK_EQ_STR(v.names.s, "a; c");
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
}

/* Two systems in one process share nothing. */
static void test_two_systems(void)
{
    struct strbuf log_a = {.len = 0}, sb = {.len = 0};
    struct rec rec_a = {.log = &log_a};
    struct machine a, b;
    gm_listener *la;
    gm_region *ra, *rb;
    gm_error err;
    struct visit v;

    machine_init(&a);
    machine_init(&b);
    la = gm_listener_register(a.sys, &rec_ops, &rec_a, 0, NULL, NULL);
    sb_reset(&log_a);

    ra = gm_region_new_ram(a.sys, "ra", 0x1000, NULL);
    rb = gm_region_new_ram(b.sys, "rb", 0x1000, NULL);
    CHECK_EQ_PTR(gm_region_system(ra), a.sys);
    CHECK_EQ_PTR(gm_region_system(rb), b.sys);
    CHECK_EQ_PTR(gm_space_system(a.as), a.sys);
    CHECK_EQ_PTR(gm_space_system(b.as), b.sys);

    /* Mixing regions of two systems is refused. */
    gm_error_clear(&err);
    CHECK_EQ_INT(gm_region_add_subregion(b.root, 0, ra, &err), -EINVAL);
    CHECK_EQ_INT(err.code, -EINVAL);
    CHECK(err.msg[0] != '\0');
    CHECK(gm_region_container(ra) == NULL);
    gm_error_clear(&err);
    CHECK(gm_space_new(b.sys, ra, "x", &err) == NULL);
    CHECK_EQ_INT(err.code, -EINVAL);
    gm_error_clear(&err);
    CHECK(gm_region_new_alias(b.sys, "x", ra, 0, 0x1000, &err) == NULL);
    CHECK_EQ_INT(err.code, -EINVAL);

    /* Changes in b are invisible to a's listener and spaces. */
    CHECK_EQ_INT(gm_region_add_subregion(b.root, 0, rb, NULL), 0);
    CHECK_EQ_STR(log_a.s, "");
    CHECK_EQ_STR(as_str(a.as, &sb), "");
    CHECK_EQ_STR(as_str(b.as, &sb), "rb 0-fff");
    CHECK_EQ_INT(gm_region_add_subregion(a.root, 0x1000, ra, NULL), 0);
    CHECK_EQ_STR(log_a.s, "begin; add ra 1000-1fff; commit");
    CHECK_EQ_STR(as_str(b.as, &sb), "rb 0-fff");

    /* A transaction on one system does not hold the other. */
    CHECK_EQ_INT(gm_transaction_begin(a.sys), 0);
    CHECK_EQ_INT(gm_transaction_depth(b.sys), 0);
    CHECK_EQ_INT(gm_region_set_address(rb, 0x2000, NULL), 0);
    CHECK_EQ_STR(as_str(b.as, &sb), "rb 2000-2fff");
    CHECK_EQ_INT(gm_transaction_commit(a.sys, NULL), 0);

    sb_reset(&v.names);
    v.stop_at = NULL;
    CHECK_EQ_INT(gm_system_foreach_space(a.sys, visit_space, &v), 0);
    CHECK_EQ_STR(v.names.s, "mem");

    /* Global logging is per system. */
    CHECK_EQ_INT(gm_system_log_global_start(a.sys, NULL), 0);
    CHECK(!gm_system_log_global_enabled(b.sys));
    CHECK_EQ_INT(gm_system_log_global_stop(a.sys, NULL), 0);

    gm_region_unref(ra);
    gm_region_unref(rb);
    CHECK_EQ_INT(gm_listener_unregister(la, NULL), 0);
    machine_fini(&a);
    machine_fini(&b);
}

static void count_warn(void *opaque, const char *msg)
{
    (void)msg;
    ++*(int *)opaque;
}

/* The warning handler can be replaced and dropped. */
static void test_warn_handler(void)
{
    struct machine m;
    gm_region *a, *b, *c;
    int warn_count = 0;

    machine_init(&m);
    gm_system_set_warn_handler(m.sys, count_warn, &warn_count);
    a = gm_region_new_io(m.sys, "a", 0x2000, NULL, NULL, NULL);
    b = gm_region_new_io(m.sys, "b", 0x2000, NULL, NULL, NULL);
    c = gm_region_new_io(m.sys, "c", 0x2000, NULL, NULL, NULL);
    CHECK_EQ_INT(gm_region_add_subregion(m.root, 0, a, NULL), 0);
    CHECK_EQ_INT(gm_region_add_subregion(m.root, 0x1000, b, NULL), 0);
    CHECK_EQ_INT(warn_count, 1);
    gm_system_set_warn_handler(m.sys, NULL, NULL);
    CHECK_EQ_INT(gm_region_add_subregion(m.root, 0x1800, c, NULL), 0);
    CHECK_EQ_INT(warn_count, 1);
    gm_region_unref(a);
    gm_region_unref(b);
    gm_region_unref(c);
    machine_fini(&m);
}

int main(void)
{
    RUN(test_new_destroy);
    RUN(test_destroy_populated);
    RUN(test_destroy_busy_while_region_held);
    RUN(test_destroy_in_transaction);
    RUN(test_transaction_depth);
    RUN(test_commit_without_begin);
    RUN(test_nested_transaction);
    RUN(test_implicit_transaction);
    RUN(test_no_visible_change);
    RUN(test_shadowed_change_silent);
    RUN(test_log_global);
    RUN(test_log_global_with_region_log);
    RUN(test_foreach_space);
    RUN(test_two_systems);
    RUN(test_warn_handler);
    return harness_done();
}
