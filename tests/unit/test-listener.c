/* SPDX-License-Identifier: MIT */
/*
 * test-listener.c - unit tests of guestmem/listener.h.
 *
 * Invariants checked: registration replays the current state (global log,
 * then per space begin / region_add / log_start / commit) and
 * unregistration replays its removal; each commit delivers exactly the
 * difference of the old and new view, deletions in descending and additions
 * in ascending listener priority; a filtered listener hears only its space;
 * log_start / log_stop / log_sync follow dirty logging; callbacks may read
 * but every mutator called from one fails with -EBUSY and changes nothing;
 * during region_del the old view is published, during region_add the new.
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

static void test_register_replay(void)
{
    struct strbuf log = {.len = 0}, only = {.len = 0};
    struct rec rec = {.log = &log, .show_space = true};
    gm_system *sys = gm_system_new(NULL);
    gm_region *r1 = gm_region_new_container(sys, "r1", 0x10000, NULL);
    gm_region *r2 = gm_region_new_container(sys, "r2", 0x10000, NULL);
    gm_region *ram;
    gm_listener *l;

    ram = add_ram(r1, "ram", 0, 0x1000);
    CHECK_EQ_INT(gm_region_set_log(ram, true, GM_DIRTY_VGA, NULL), 0);
    add_io_prio(r1, "dev", 0x1000, 0x1000, 0);
    add_ram(r2, "ram2", 0x4000, 0x1000);
    CHECK(gm_space_new(sys, r1, "a", NULL) != NULL);
    CHECK(gm_space_new(sys, r2, "b", NULL) != NULL);
    gm_region_unref(r1);
    gm_region_unref(r2);
    CHECK_EQ_INT(gm_system_log_global_start(sys, NULL), 0);

    sb_reset(&log);
    l = gm_listener_register(sys, &rec_ops, &rec, 0, NULL, NULL);
    CHECK(l != NULL);
    CHECK_EQ_STR(log.s, "global_start; "
                        "begin; add a ram 0-fff log=5; "
                        "log_start a ram 0-fff 0->5; add a dev 1000-1fff; "
                        "commit; "
                        "begin; add b ram2 4000-4fff log=4; "
                        "log_start b ram2 4000-4fff 0->4; commit");

    sb_reset(&log);
    CHECK_EQ_INT(gm_listener_unregister(l, NULL), 0);
    CHECK_EQ_STR(log_only(&log, "del", &only),
                 "del a ram 0-fff log=5; del a dev 1000-1fff; "
                 "del b ram2 4000-4fff log=4");
    CHECK_EQ_STR(log_only(&log, "log_stop", &only),
                 "log_stop a ram 0-fff 5->0; log_stop b ram2 4000-4fff 4->0");
    CHECK_EQ_STR(log_only(&log, "add log_start", &only), "");

    /* Unregistered: hears nothing more. */
    sb_reset(&log);
    CHECK_EQ_INT(gm_region_set_address(ram, 0x8000, NULL), 0);
    CHECK_EQ_STR(log.s, "");
    CHECK_EQ_INT(gm_system_log_global_stop(sys, NULL), 0);
    CHECK_EQ_STR(log.s, "");
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
}

static void test_register_errors(void)
{
    gm_system *sys = gm_system_new(NULL), *other = gm_system_new(NULL);
    gm_region *root = gm_region_new_container(other, "root", 0x1000, NULL);
    gm_space *foreign = gm_space_new(other, root, "foreign", NULL);
    struct strbuf log = {.len = 0};
    struct rec rec = {.log = &log};
    gm_error err;
    int ret;

    gm_error_clear(&err);
    CHECK(gm_listener_register(NULL, &rec_ops, &rec, 0, NULL, &err) == NULL);
    CHECK_EQ_INT(err.code, -EINVAL);
    CHECK(err.msg[0] != '\0');
    gm_error_clear(&err);
    CHECK(gm_listener_register(sys, NULL, &rec, 0, NULL, &err) == NULL);
    CHECK_EQ_INT(err.code, -EINVAL);
    CHECK(err.msg[0] != '\0');
    gm_error_clear(&err);
    CHECK(gm_listener_register(sys, &rec_ops, &rec, 0, foreign, &err) == NULL);
    CHECK_EQ_INT(err.code, -EINVAL);
    CHECK(err.msg[0] != '\0');
    /* Unregistering nothing is refused or ignored, never a crash. */
    ret = gm_listener_unregister(NULL, NULL);
    CHECK(ret == 0 || ret == -EINVAL);

    gm_region_unref(root);
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
    CHECK_EQ_INT(gm_system_destroy(other, NULL), 0);
}

/* Deletions in descending priority, additions in ascending. */
static void test_priority_order(void)
{
    struct strbuf log = {.len = 0}, only = {.len = 0};
    struct rec a = {.log = &log, .tag = "A"};
    struct rec b = {.log = &log, .tag = "B"};
    struct rec c = {.log = &log, .tag = "C"};
    struct machine m;
    gm_listener *la, *lb, *lc;
    gm_region *r;

    machine_init(&m);
    r = add_ram(m.root, "r", 0x1000, 0x1000);
    la = gm_listener_register(m.sys, &rec_ops, &a, 10, NULL, NULL);
    lb = gm_listener_register(m.sys, &rec_ops, &b, -5, NULL, NULL);
    lc = gm_listener_register(m.sys, &rec_ops, &c, 0, NULL, NULL);
    sb_reset(&log);

    CHECK_EQ_INT(gm_region_set_address(r, 0x2000, NULL), 0);
    CHECK_EQ_STR(log_only(&log, "del", &only),
                 "A:del r 1000-1fff; C:del r 1000-1fff; B:del r 1000-1fff");
    CHECK_EQ_STR(log_only(&log, "add", &only),
                 "B:add r 2000-2fff; C:add r 2000-2fff; A:add r 2000-2fff");
    CHECK_EQ_STR(log_only(&log, "begin", &only), "B:begin; C:begin; A:begin");
    CHECK_EQ_STR(log_only(&log, "commit", &only),
                 "B:commit; C:commit; A:commit");
    /* Every begin precedes every event, every commit follows. */
    CHECK(strstr(log.s, "A:begin") < strstr(log.s, "A:del"));
    CHECK(strstr(log.s, "B:begin") < strstr(log.s, "A:del"));
    CHECK(strstr(log.s, "A:add") < strstr(log.s, "B:commit"));

    /* Global log events follow the same order. */
    sb_reset(&log);
    CHECK_EQ_INT(gm_system_log_global_start(m.sys, NULL), 0);
    CHECK_EQ_STR(log_only(&log, "global_start", &only),
                 "B:global_start; C:global_start; A:global_start");
    CHECK_EQ_STR(log_only(&log, "log_start", &only),
                 "B:log_start r 2000-2fff 0->4; C:log_start r 2000-2fff 0->4; "
                 "A:log_start r 2000-2fff 0->4");
    CHECK_EQ_INT(gm_system_log_global_stop(m.sys, NULL), 0);

    CHECK_EQ_INT(gm_listener_unregister(lb, NULL), 0);
    CHECK_EQ_INT(gm_listener_unregister(la, NULL), 0);
    CHECK_EQ_INT(gm_listener_unregister(lc, NULL), 0);
    machine_fini(&m);
}

static void test_filter(void)
{
    struct strbuf log = {.len = 0}, only = {.len = 0};
    struct rec fa = {.log = &log, .tag = "FA", .show_space = true};
    struct rec all = {.log = &log, .tag = "ALL", .show_space = true};
    gm_system *sys = gm_system_new(NULL);
    gm_region *r1 = gm_region_new_container(sys, "r1", 0x10000, NULL);
    gm_region *r2 = gm_region_new_container(sys, "r2", 0x10000, NULL);
    gm_space *a = gm_space_new(sys, r1, "a", NULL);
    gm_space *b = gm_space_new(sys, r2, "b", NULL);
    gm_listener *lfa, *lall;

    add_ram(r1, "x", 0, 0x1000);
    add_ram(r2, "y", 0, 0x1000);
    sb_reset(&log);
    lfa = gm_listener_register(sys, &rec_ops, &fa, 0, a, NULL);
    CHECK(lfa != NULL);
    CHECK_EQ_STR(log.s, "FA:begin; FA:add a x 0-fff; FA:commit");
    lall = gm_listener_register(sys, &rec_ops, &all, 1, NULL, NULL);
    CHECK(lall != NULL);

    sb_reset(&log);
    add_ram(r2, "y2", 0x1000, 0x1000);
    CHECK_EQ_STR(log_only(&log, "add del", &only), "ALL:add b y2 1000-1fff");
    /* (An empty begin/commit pair may reach it, as in QEMU.) */
    CHECK(strstr(log_only(&log, "add del", &only), "FA:") == NULL);

    sb_reset(&log);
    add_ram(r1, "x2", 0x1000, 0x1000);
    CHECK_EQ_STR(log_only(&log, "add del", &only),
                 "FA:add a x2 1000-1fff; ALL:add a x2 1000-1fff");

    /* A change seen by both spaces through a shared region. */
    sb_reset(&log);
    {
        gm_region *shared = gm_region_new_ram(sys, "shared", 0x1000, NULL);
        gm_region *al = gm_region_new_alias(sys, "al", shared, 0, 0x1000, NULL);

        CHECK_EQ_INT(gm_region_add_subregion(r1, 0x4000, shared, NULL), 0);
        CHECK_EQ_INT(gm_region_add_subregion(r2, 0x8000, al, NULL), 0);
        sb_reset(&log);
        CHECK_EQ_INT(gm_region_set_readonly(shared, true, NULL), 0);
        CHECK_EQ_STR(log_only(&log, "add", &only),
                     "FA:add a shared 4000-4fff ro; "
                     "ALL:add a shared 4000-4fff ro; "
                     "ALL:add b shared 8000-8fff ro");
        gm_region_unref(shared);
        gm_region_unref(al);
    }

    sb_reset(&log);
    CHECK_EQ_INT(gm_listener_unregister(lfa, NULL), 0);
    CHECK(strstr(log.s, " b ") == NULL);
    CHECK_EQ_INT(gm_listener_unregister(lall, NULL), 0);
    CHECK(b != NULL);
    gm_region_unref(r1);
    gm_region_unref(r2);
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
}

/* Attribute changes are a del of the old range and an add of the new. */
static void test_attribute_changes(void)
{
    struct strbuf log = {.len = 0}, only = {.len = 0};
    struct rec rec = {.log = &log};
    struct machine m;
    gm_listener *l;
    gm_region *r, *al;

    machine_init(&m);
    r = add_ram(m.root, "r", 0, 0x2000);
    al = gm_region_new_alias(m.sys, "al", r, 0, 0x1000, NULL);
    CHECK_EQ_INT(gm_region_add_subregion(m.root, 0x8000, al, NULL), 0);
    gm_region_unref(al);
    l = gm_listener_register(m.sys, &rec_ops, &rec, 0, NULL, NULL);

    sb_reset(&log);
    CHECK_EQ_INT(gm_region_set_readonly(r, true, NULL), 0);
    CHECK_EQ_STR(log_only(&log, "begin add del commit", &only),
                 "begin; del r 0-1fff; del r 8000-8fff; "
                 "add r 0-1fff ro; add r 8000-8fff ro; commit");
    sb_reset(&log);
    CHECK_EQ_INT(gm_region_set_nonvolatile(al, true, NULL), 0);
    CHECK_EQ_STR(log_only(&log, "add del", &only),
                 "del r 8000-8fff ro; add r 8000-8fff ro nv");
    sb_reset(&log);
    CHECK_EQ_INT(gm_region_set_alias_offset(al, 0x1000, NULL), 0);
    CHECK_EQ_STR(log_only(&log, "add del", &only),
                 "del r 8000-8fff ro nv; add r 8000-8fff @1000 ro nv");
    sb_reset(&log);
    CHECK_EQ_INT(gm_region_set_size(r, 0x1000, NULL), 0);
    CHECK_EQ_STR(
        log_only(&log, "add del", &only),
        "del r 0-1fff ro; del r 8000-8fff @1000 ro nv; add r 0-fff ro");

    CHECK_EQ_INT(gm_listener_unregister(l, NULL), 0);
    machine_fini(&m);
}

static void test_romd_change(void)
{
    static const struct gm_region_ops no_ops;
    struct strbuf log = {.len = 0}, only = {.len = 0};
    struct rec rec = {.log = &log};
    struct machine m;
    gm_listener *l;
    gm_region *rd;
    struct gm_section s;
    gm_flatview *fv;

    machine_init(&m);
    rd = gm_region_new_rom_device(m.sys, "flash", 0x1000, &no_ops, NULL, NULL);
    CHECK_EQ_INT(gm_region_add_subregion(m.root, 0, rd, NULL), 0);
    gm_region_unref(rd);
    l = gm_listener_register(m.sys, &rec_ops, &rec, 0, NULL, NULL);
    fv = gm_space_get_flatview(m.as);
    CHECK(gm_flatview_lookup(fv, 0, &s));
    CHECK(s.romd);
    gm_flatview_unref(fv);

    sb_reset(&log);
    CHECK_EQ_INT(gm_region_set_romd(rd, false, NULL), 0);
    CHECK_EQ_STR(log_only(&log, "add del", &only),
                 "del flash 0-fff; add flash 0-fff");
    fv = gm_space_get_flatview(m.as);
    CHECK(gm_flatview_lookup(fv, 0, &s));
    CHECK(!s.romd);
    gm_flatview_unref(fv);

    CHECK_EQ_INT(gm_listener_unregister(l, NULL), 0);
    machine_fini(&m);
}

static void test_region_log(void)
{
    struct strbuf log = {.len = 0}, only = {.len = 0};
    struct rec rec = {.log = &log};
    struct machine m;
    gm_listener *l;
    gm_region *ram;

    machine_init(&m);
    ram = add_ram(m.root, "ram", 0x1000, 0x1000);
    add_ram(m.root, "other", 0x2000, 0x1000);
    l = gm_listener_register(m.sys, &rec_ops, &rec, 0, NULL, NULL);

    sb_reset(&log);
    CHECK_EQ_INT(gm_region_set_log(ram, true, GM_DIRTY_VGA, NULL), 0);
    CHECK_EQ_STR(log_only(&log, "add del log_start log_stop", &only),
                 "log_start ram 1000-1fff 0->1");
    sb_reset(&log);
    CHECK_EQ_INT(gm_region_set_log(ram, true, GM_DIRTY_CODE, NULL), 0);
    CHECK_EQ_STR(log_only(&log, "add del log_start log_stop", &only),
                 "log_start ram 1000-1fff 1->3");
    sb_reset(&log);
    CHECK_EQ_INT(gm_region_set_log(ram, false, GM_DIRTY_VGA, NULL), 0);
    CHECK_EQ_STR(log_only(&log, "add del log_start log_stop", &only),
                 "log_stop ram 1000-1fff 3->2");

    /* log_sync: only ranges with logging on, optionally of one region. */
    sb_reset(&log);
    CHECK_EQ_INT(gm_space_log_sync(m.as, NULL, NULL), 0);
    CHECK_EQ_STR(log_only(&log, "sync", &only), "sync ram 1000-1fff");
    sb_reset(&log);
    CHECK_EQ_INT(gm_space_log_sync(m.as, ram, NULL), 0);
    CHECK_EQ_STR(log_only(&log, "sync", &only), "sync ram 1000-1fff");
    sb_reset(&log);
    CHECK_EQ_INT(gm_space_log_sync(m.as, gm_region_container(ram), NULL), 0);
    CHECK_EQ_STR(log_only(&log, "sync", &only), "");
    {
        gm_error err;

        gm_error_clear(&err);
        CHECK_EQ_INT(gm_space_log_sync(NULL, NULL, &err), -EINVAL);
        CHECK_EQ_INT(err.code, -EINVAL);
        CHECK(err.msg[0] != '\0');
    }

    CHECK_EQ_INT(gm_region_set_log(ram, false, GM_DIRTY_CODE, NULL), 0);
    sb_reset(&log);
    CHECK_EQ_INT(gm_space_log_sync(m.as, NULL, NULL), 0);
    CHECK_EQ_STR(log_only(&log, "sync", &only), "");
    CHECK_EQ_INT(gm_listener_unregister(l, NULL), 0);
    machine_fini(&m);
}

static void test_log_sync_filtered(void)
{
    struct strbuf log = {.len = 0}, only = {.len = 0};
    struct rec fb = {.log = &log, .tag = "FB"};
    gm_system *sys = gm_system_new(NULL);
    gm_region *r1 = gm_region_new_container(sys, "r1", 0x10000, NULL);
    gm_region *r2 = gm_region_new_container(sys, "r2", 0x10000, NULL);
    gm_space *a = gm_space_new(sys, r1, "a", NULL);
    gm_space *b = gm_space_new(sys, r2, "b", NULL);
    gm_listener *l;
    gm_region *ram;

    ram = add_ram(r1, "ram", 0, 0x1000);
    CHECK_EQ_INT(gm_region_set_log(ram, true, GM_DIRTY_VGA, NULL), 0);
    l = gm_listener_register(sys, &rec_ops, &fb, 0, b, NULL);
    sb_reset(&log);
    CHECK_EQ_INT(gm_space_log_sync(a, NULL, NULL), 0);
    CHECK_EQ_STR(log_only(&log, "sync", &only), "");
    CHECK_EQ_INT(gm_listener_unregister(l, NULL), 0);
    gm_region_unref(r1);
    gm_region_unref(r2);
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
}

/* What a callback may call: results collected by the hook. */
struct busy {
    gm_region *root, *spare;
    gm_space *as;
    gm_listener *self;
    int calls;
    int set_enabled, set_address, set_size, set_log, add_sub, del_sub;
    int begin, space_destroy, unregister, global_start, log_sync;
    int add_eventfd, err_code;
    bool err_msg, space_new_null, register_null, getters_ok, view_ok;
};

static void busy_hook(struct rec *r, const char *what,
                      const struct gm_section *s)
{
    struct busy *b = r->hook_data;
    gm_system *sys = gm_region_system(s->region);
    gm_error err;
    gm_flatview *fv;
    struct gm_section found;

    if (strcmp(what, "add") != 0 || b->calls++) {
        return;
    }
    gm_error_clear(&err);
    b->set_enabled = gm_region_set_enabled(s->region, false, &err);
    b->err_code = err.code;
    b->err_msg = err.msg[0] != '\0';
    b->set_address = gm_region_set_address(s->region, 0x4000, NULL);
    b->set_size = gm_region_set_size(s->region, 0x800, NULL);
    b->set_log = gm_region_set_log(s->region, true, GM_DIRTY_VGA, NULL);
    b->add_sub = gm_region_add_subregion(b->root, 0x8000, b->spare, NULL);
    b->del_sub = gm_region_del_subregion(b->root, s->region, NULL);
    b->begin = gm_transaction_begin(sys);
    b->space_destroy = gm_space_destroy(b->as, NULL);
    b->unregister = gm_listener_unregister(b->self, NULL);
    b->global_start = gm_system_log_global_start(sys, NULL);
    b->log_sync = gm_space_log_sync(b->as, NULL, NULL);
    b->add_eventfd = gm_region_add_eventfd(s->region, 0, 4, false, 0, 0, NULL);
    gm_error_clear(&err);
    b->space_new_null =
        gm_space_new(sys, b->root, "x", &err) == NULL && err.code == -EBUSY;
    gm_error_clear(&err);
    b->register_null =
        gm_listener_register(sys, &rec_ops, r, 0, NULL, &err) == NULL &&
        err.code == -EBUSY;
    /* Getters work. */
    b->getters_ok = !strcmp(gm_region_name(s->region), "trigger") &&
                    gm_region_container(s->region) == b->root &&
                    gm_region_enabled(s->region) &&
                    gm_region_addr(s->region) == 0x1000 &&
                    gm_transaction_depth(sys) <= 1;
    fv = gm_space_get_flatview(s->space);
    b->view_ok =
        gm_flatview_lookup(fv, 0x1000, &found) && found.region == s->region;
    gm_flatview_unref(fv);
}

static void test_busy_from_callback(void)
{
    struct strbuf log = {.len = 0}, sb = {.len = 0};
    struct rec rec = {.log = &log, .hook = busy_hook};
    struct busy b = {0};
    struct machine m;
    gm_region *trigger;

    machine_init(&m);
    b.root = m.root;
    b.as = m.as;
    b.spare = gm_region_new_ram(m.sys, "spare", 0x1000, NULL);
    rec.hook_data = &b;
    b.self = gm_listener_register(m.sys, &rec_ops, &rec, 0, NULL, NULL);
    CHECK(b.self != NULL);

    sb_reset(&log);
    trigger = add_ram(m.root, "trigger", 0x1000, 0x1000);
    CHECK_EQ_INT(b.calls, 1);
    CHECK_EQ_INT(b.set_enabled, -EBUSY);
    CHECK_EQ_INT(b.err_code, -EBUSY);
    CHECK(b.err_msg);
    CHECK_EQ_INT(b.set_address, -EBUSY);
    CHECK_EQ_INT(b.set_size, -EBUSY);
    CHECK_EQ_INT(b.set_log, -EBUSY);
    CHECK_EQ_INT(b.add_sub, -EBUSY);
    CHECK_EQ_INT(b.del_sub, -EBUSY);
    CHECK_EQ_INT(b.begin, -EBUSY);
    CHECK_EQ_INT(b.space_destroy, -EBUSY);
    CHECK_EQ_INT(b.unregister, -EBUSY);
    CHECK_EQ_INT(b.global_start, -EBUSY);
    CHECK_EQ_INT(b.log_sync, -EBUSY);
    CHECK_EQ_INT(b.add_eventfd, -EBUSY);
    CHECK(b.space_new_null);
    CHECK(b.register_null);
    CHECK(b.getters_ok);
    CHECK(b.view_ok);

    /* None of it took effect. */
    CHECK_EQ_STR(log.s, "begin; add trigger 1000-1fff; commit");
    CHECK_EQ_STR(as_str(m.as, &sb), "trigger 1000-1fff");
    CHECK(gm_region_enabled(trigger));
    CHECK_EQ_U128(gm_region_size(trigger), 0x1000);
    CHECK_EQ_INT(gm_region_dirty_log_mask(trigger), 0);
    CHECK_EQ_PTR(gm_region_container(b.spare), NULL);
    CHECK(!gm_system_log_global_enabled(m.sys));
    CHECK_EQ_INT(gm_transaction_depth(m.sys), 0);

    /* The listener and the space still work. */
    rec.hook = NULL;
    sb_reset(&log);
    CHECK_EQ_INT(gm_region_set_address(trigger, 0x2000, NULL), 0);
    CHECK_EQ_STR(log.s, "begin; del trigger 1000-1fff; "
                        "add trigger 2000-2fff; commit");
    CHECK_EQ_INT(gm_listener_unregister(b.self, NULL), 0);
    gm_region_unref(b.spare);
    machine_fini(&m);
}

/* region_del sees the old view published, region_add the new one. */
struct seen {
    int del_old, add_new;
};

static void view_hook(struct rec *r, const char *what,
                      const struct gm_section *s)
{
    struct seen *seen = r->hook_data;
    gm_flatview *fv = gm_space_get_flatview(s->space);
    struct gm_section f;

    if (!strcmp(what, "del")) {
        seen->del_old +=
            gm_flatview_lookup(fv, 0x1000, &f) && f.region == s->region;
    } else {
        seen->add_new += gm_flatview_lookup(fv, 0x3000, &f) &&
                         f.region == s->region &&
                         !gm_flatview_lookup(fv, 0x1000, &f);
    }
    gm_flatview_unref(fv);
}

static void test_view_during_callbacks(void)
{
    struct strbuf log = {.len = 0};
    struct seen seen = {0};
    struct rec rec = {.log = &log, .hook = view_hook, .hook_data = &seen};
    struct machine m;
    gm_listener *l;
    gm_region *r;

    machine_init(&m);
    r = add_ram(m.root, "r", 0x1000, 0x1000);
    l = gm_listener_register(m.sys, &rec_ops, &rec, 0, m.as, NULL);
    seen.add_new = 0;
    sb_reset(&log);
    CHECK_EQ_INT(gm_region_set_address(r, 0x3000, NULL), 0);
    CHECK_EQ_STR(log.s, "begin; del r 1000-1fff; add r 3000-3fff; commit");
    CHECK_EQ_INT(seen.del_old, 1);
    CHECK_EQ_INT(seen.add_new, 1);
    rec.hook = NULL;
    CHECK_EQ_INT(gm_listener_unregister(l, NULL), 0);
    machine_fini(&m);
}

/* A listener with only some callbacks set. */
static void count_add(void *opaque, const struct gm_section *s)
{
    (void)s;
    ++*(int *)opaque;
}

static void test_partial_ops(void)
{
    static const struct gm_listener_ops ops = {.region_add = count_add};
    struct machine m;
    gm_listener *l;
    gm_region *r;
    int adds = 0;

    machine_init(&m);
    l = gm_listener_register(m.sys, &ops, &adds, 0, NULL, NULL);
    CHECK(l != NULL);
    r = add_ram(m.root, "r", 0, 0x1000);
    CHECK_EQ_INT(gm_region_set_log(r, true, GM_DIRTY_VGA, NULL), 0);
    CHECK_EQ_INT(gm_space_log_sync(m.as, NULL, NULL), 0);
    CHECK_EQ_INT(gm_system_log_global_start(m.sys, NULL), 0);
    CHECK_EQ_INT(gm_region_set_address(r, 0x1000, NULL), 0);
    CHECK_EQ_INT(gm_system_log_global_stop(m.sys, NULL), 0);
    CHECK_EQ_INT(adds, 2);
    CHECK_EQ_INT(gm_listener_unregister(l, NULL), 0);
    machine_fini(&m);
}

int main(void)
{
    RUN(test_register_replay);
    RUN(test_register_errors);
    RUN(test_priority_order);
    RUN(test_filter);
    RUN(test_attribute_changes);
    RUN(test_romd_change);
    RUN(test_region_log);
    RUN(test_log_sync_filtered);
    RUN(test_busy_from_callback);
    RUN(test_view_during_callbacks);
    RUN(test_partial_ops);
    return harness_done();
}
