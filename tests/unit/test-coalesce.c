/* SPDX-License-Identifier: MIT */
/*
 * test-coalesce.c - unit tests of coalesced MMIO: gm_region_add_coalescing,
 * gm_region_clear_coalescing, gm_region_set_flush_coalesced, the listener
 * callbacks coalesced_io_add / coalesced_io_del, and the flush function
 * (gm_system_set_coalesced_flush).
 *
 * Invariants checked: listeners hear each coalesced range clipped to each
 * range of a view that shows the region, at its address in the space,
 * after the region_add of that range; each piece is deleted with the same
 * address and size it was added with, before the region_del of its range
 * (even when the same transaction cleared the region's list first); a list
 * change alone causes no region_add or region_del; registration replays
 * the pieces and unregistration deletes them; refused calls change
 * nothing; the flush function runs as transactions begin and before
 * accesses to flushing regions, and not before others.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <guestmem/guestmem.h>

#include "harness.h"

#include "unit-helpers.h"

#define KINDS "add del coal_add coal_del"

static uint64_t dev_read(void *opaque, uint64_t off, unsigned size)
{
    (void)opaque;
    (void)size;
    return off;
}

static void dev_write(void *opaque, uint64_t off, uint64_t v, unsigned size)
{
    (void)opaque;
    (void)off;
    (void)v;
    (void)size;
}

static const struct gm_region_ops dev_ops = {
    .read = dev_read,
    .write = dev_write,
    .endianness = GM_ENDIAN_LITTLE,
};

/* An I/O region with ops, placed in @parent at @addr (borrowed). */
static gm_region *add_dev(gm_region *parent, const char *name, uint64_t addr,
                          uint64_t size, int prio)
{
    gm_region *r = gm_region_new_io(gm_region_system(parent), name, size,
                                    &dev_ops, NULL, NULL);

    CHECK(r != NULL);
    CHECK_EQ_INT(gm_region_add_subregion_overlap(parent, addr, r, prio, NULL),
                 0);
    gm_region_unref(r);
    return r;
}

static void test_add_clear(void)
{
    struct strbuf log = {.len = 0}, only = {.len = 0};
    struct rec rec = {.log = &log};
    struct machine m;
    gm_listener *l;
    gm_region *dev;

    machine_init(&m);
    dev = add_dev(m.root, "uart", 0x1000, 0x100, 0);
    l = gm_listener_register(m.sys, &rec_ops, &rec, 0, NULL, NULL);
    CHECK(l != NULL);

    sb_reset(&log);
    CHECK_EQ_INT(gm_region_add_coalescing(dev, 0x10, 0x8, NULL), 0);
    CHECK_EQ_STR(log.s, "begin; coal_add 1010-1017 in uart; commit");
    CHECK(gm_region_flush_coalesced(dev));

    /* A second range: the first is deleted and both are told again. */
    sb_reset(&log);
    CHECK_EQ_INT(gm_region_add_coalescing(dev, 0x40, 0x40, NULL), 0);
    CHECK_EQ_STR(log_only(&log, KINDS, &only),
                 "coal_del 1010-1017 in uart; coal_add 1010-1017 in uart; "
                 "coal_add 1040-107f in uart");

    sb_reset(&log);
    CHECK_EQ_INT(gm_region_clear_coalescing(dev, NULL), 0);
    CHECK_EQ_STR(log_only(&log, KINDS, &only),
                 "coal_del 1010-1017 in uart; coal_del 1040-107f in uart");
    CHECK(!gm_region_flush_coalesced(dev));

    /* Clearing an empty list tells nobody. */
    sb_reset(&log);
    CHECK_EQ_INT(gm_region_clear_coalescing(dev, NULL), 0);
    CHECK_EQ_STR(log.s, "");

    CHECK_EQ_INT(gm_listener_unregister(l, NULL), 0);
    machine_fini(&m);
}

static void test_mapping_follows(void)
{
    struct strbuf log = {.len = 0}, only = {.len = 0};
    struct rec rec = {.log = &log};
    struct machine m;
    gm_listener *l;
    gm_region *dev, *alias, *cover;

    machine_init(&m);
    dev = add_dev(m.root, "dev", 0x1000, 0x1000, 0);
    CHECK_EQ_INT(gm_region_add_coalescing(dev, 0x0, 0x800, NULL), 0);
    l = gm_listener_register(m.sys, &rec_ops, &rec, 0, NULL, NULL);
    CHECK(l != NULL);

    /* An alias shows the device again at 0x8000: its piece follows. */
    sb_reset(&log);
    alias = gm_region_new_alias(m.sys, "dev-alias", dev, 0x400, 0x800, NULL);
    CHECK(alias != NULL);
    CHECK_EQ_INT(gm_region_add_subregion(m.root, 0x8000, alias, NULL), 0);
    CHECK_EQ_STR(log_only(&log, KINDS, &only),
                 "add dev 8000-87ff @400; coal_add 8000-83ff in dev");

    /* A region on top hides part of the device: pieces are clipped. */
    sb_reset(&log);
    cover = add_dev(m.root, "cover", 0x1200, 0x100, 1);
    CHECK_EQ_STR(log_only(&log, KINDS, &only),
                 "coal_del 1000-17ff in dev; del dev 1000-1fff; "
                 "add dev 1000-11ff; coal_add 1000-11ff in dev; "
                 "add cover 1200-12ff; add dev 1300-1fff @300; "
                 "coal_add 1300-17ff in dev");

    /* Moving the device moves its pieces with it. */
    sb_reset(&log);
    CHECK_EQ_INT(gm_region_del_subregion(m.root, cover, NULL), 0);
    CHECK_EQ_INT(gm_region_set_address(dev, 0x4000, NULL), 0);
    CHECK_EQ_STR(log_only(&log, KINDS, &only),
                 "coal_del 1000-11ff in dev; del dev 1000-11ff; "
                 "del cover 1200-12ff; coal_del 1300-17ff in dev; "
                 "del dev 1300-1fff @300; add dev 1000-1fff; "
                 "coal_add 1000-17ff in dev; "
                 "coal_del 1000-17ff in dev; del dev 1000-1fff; "
                 "add dev 4000-4fff; coal_add 4000-47ff in dev");
    gm_region_unref(alias);
    CHECK_EQ_INT(gm_listener_unregister(l, NULL), 0);
    machine_fini(&m);
}

/* Cleared and unmapped in one transaction: the old pieces still go. */
static void test_clear_and_unmap(void)
{
    struct strbuf log = {.len = 0}, only = {.len = 0};
    struct rec rec = {.log = &log};
    struct machine m;
    gm_listener *l;
    gm_region *dev;

    machine_init(&m);
    dev = add_dev(m.root, "dev", 0x1000, 0x1000, 0);
    gm_region_ref(dev);
    CHECK_EQ_INT(gm_region_add_coalescing(dev, 0x100, 0x10, NULL), 0);
    l = gm_listener_register(m.sys, &rec_ops, &rec, 0, NULL, NULL);
    CHECK(l != NULL);

    sb_reset(&log);
    CHECK_EQ_INT(gm_transaction_begin(m.sys), 0);
    CHECK_EQ_INT(gm_region_clear_coalescing(dev, NULL), 0);
    CHECK_EQ_INT(gm_region_del_subregion(m.root, dev, NULL), 0);
    CHECK_EQ_INT(gm_transaction_commit(m.sys, NULL), 0);
    CHECK_EQ_STR(log_only(&log, KINDS, &only),
                 "coal_del 1100-110f in dev; del dev 1000-1fff");

    /* Added while unmapped: told when it is mapped. */
    CHECK_EQ_INT(gm_region_add_coalescing(dev, 0x0, 0x4, NULL), 0);
    sb_reset(&log);
    CHECK_EQ_INT(gm_region_add_subregion(m.root, 0x2000, dev, NULL), 0);
    CHECK_EQ_STR(log_only(&log, KINDS, &only),
                 "add dev 2000-2fff; coal_add 2000-2003 in dev");
    gm_region_unref(dev);
    CHECK_EQ_INT(gm_listener_unregister(l, NULL), 0);
    machine_fini(&m);
}

static void test_replay(void)
{
    struct strbuf log = {.len = 0}, only = {.len = 0};
    struct rec rec = {.log = &log};
    struct machine m;
    gm_listener *l;
    gm_region *dev;

    machine_init(&m);
    dev = add_dev(m.root, "dev", 0x1000, 0x1000, 0);
    CHECK_EQ_INT(gm_region_add_coalescing(dev, 0x10, 0x10, NULL), 0);
    sb_reset(&log);
    l = gm_listener_register(m.sys, &rec_ops, &rec, 0, NULL, NULL);
    CHECK(l != NULL);
    CHECK_EQ_STR(log_only(&log, KINDS, &only),
                 "add dev 1000-1fff; coal_add 1010-101f in dev");
    sb_reset(&log);
    CHECK_EQ_INT(gm_listener_unregister(l, NULL), 0);
    CHECK_EQ_STR(log_only(&log, KINDS, &only),
                 "coal_del 1010-101f in dev; del dev 1000-1fff");
    machine_fini(&m);
}

static int collect(uint64_t off, uint64_t size, void *opaque)
{
    sb_add(opaque, "%" PRIx64 "+%" PRIx64, off, size);
    return 0;
}

static void test_errors(void)
{
    struct strbuf log = {.len = 0}, sb = {.len = 0};
    struct rec rec = {.log = &log};
    struct machine m;
    gm_listener *l;
    gm_region *dev, *ram;
    gm_error err = {0};

    machine_init(&m);
    dev = add_dev(m.root, "dev", 0x1000, 0x100, 0);
    ram = add_ram(m.root, "ram", 0x8000, 0x1000);
    CHECK_EQ_INT(gm_region_add_coalescing(dev, 0x0, 0x10, NULL), 0);
    l = gm_listener_register(m.sys, &rec_ops, &rec, 0, NULL, NULL);
    CHECK(l != NULL);
    sb_reset(&log);

    CHECK_EQ_INT(gm_region_add_coalescing(NULL, 0, 1, &err), -EINVAL);
    CHECK_EQ_INT(gm_region_add_coalescing(ram, 0, 0x10, &err), -EINVAL);
    CHECK(strstr(err.msg, "ram") != NULL);
    CHECK_EQ_INT(gm_region_add_coalescing(dev, 0x10, 0, &err), -EINVAL);
    CHECK_EQ_INT(gm_region_add_coalescing(dev, 0xf8, 0x10, &err), -EINVAL);
    CHECK(strstr(err.msg, "outside 'dev'") != NULL);
    CHECK_EQ_INT(gm_region_add_coalescing(dev, UINT64_MAX, 2, &err), -EINVAL);
    CHECK_EQ_INT(gm_region_clear_coalescing(NULL, &err), -EINVAL);
    CHECK_EQ_INT(gm_region_set_flush_coalesced(NULL, true, &err), -EINVAL);
    CHECK_EQ_INT(gm_region_set_flush_coalesced(dev, false, &err), -EBUSY);
    CHECK(gm_region_flush_coalesced(dev));
    CHECK_EQ_INT(gm_region_foreach_coalesced(NULL, collect, &sb), -EINVAL);
    CHECK_EQ_STR(log.s, "");

    sb_reset(&sb);
    CHECK_EQ_INT(gm_region_foreach_coalesced(dev, collect, &sb), 0);
    CHECK_EQ_STR(sb.s, "0+10");

    /* Flushing without ranges: on and off, and no event. */
    CHECK_EQ_INT(gm_region_set_flush_coalesced(ram, true, NULL), 0);
    CHECK(gm_region_flush_coalesced(ram));
    CHECK_EQ_INT(gm_region_set_flush_coalesced(ram, false, NULL), 0);
    CHECK(!gm_region_flush_coalesced(ram));
    CHECK_EQ_STR(log.s, "");
    CHECK_EQ_INT(gm_listener_unregister(l, NULL), 0);
    machine_fini(&m);
}

struct flush_count {
    int n;
};

static void count_flush(void *opaque)
{
    ((struct flush_count *)opaque)->n++;
}

static void test_flush_points(void)
{
    struct flush_count fc = {0};
    struct machine m;
    gm_region *dev, *plain;
    uint64_t v = 0;

    machine_init(&m);
    dev = add_dev(m.root, "dev", 0x1000, 0x100, 0);
    plain = add_dev(m.root, "plain", 0x2000, 0x100, 0);
    CHECK_EQ_INT(gm_region_add_coalescing(dev, 0x0, 0x10, NULL), 0);
    gm_system_set_coalesced_flush(m.sys, count_flush, &fc);

    /* Each transaction begin flushes: implicit ones and explicit ones. */
    CHECK_EQ_INT(gm_region_set_enabled(plain, false, NULL), 0);
    CHECK_EQ_INT(fc.n, 1);
    CHECK_EQ_INT(gm_transaction_begin(m.sys), 0);
    CHECK_EQ_INT(fc.n, 2);
    CHECK_EQ_INT(gm_region_set_enabled(plain, true, NULL), 0);
    CHECK_EQ_INT(fc.n, 3);
    CHECK_EQ_INT(gm_transaction_commit(m.sys, NULL), 0);

    /* Accesses to the flushing device flush first; others do not. */
    fc.n = 0;
    CHECK_EQ_INT(gm_space_load(m.as, 0x1004, 4, GM_ENDIAN_LITTLE, &v,
                               GM_ATTRS_DEFAULT),
                 GM_RESULT_OK);
    CHECK_EQ_U64(v, 4);
    CHECK_EQ_INT(fc.n, 1);
    CHECK_EQ_INT(gm_space_store(m.as, 0x1004, 4, GM_ENDIAN_LITTLE, 1,
                                GM_ATTRS_DEFAULT),
                 GM_RESULT_OK);
    CHECK_EQ_INT(fc.n, 2);
    CHECK_EQ_INT(gm_space_load(m.as, 0x2004, 4, GM_ENDIAN_LITTLE, &v,
                               GM_ATTRS_DEFAULT),
                 GM_RESULT_OK);
    CHECK_EQ_INT(fc.n, 2);

    /* Cleared: the device stops flushing. */
    CHECK_EQ_INT(gm_region_clear_coalescing(dev, NULL), 0);
    fc.n = 0;
    CHECK_EQ_INT(gm_space_load(m.as, 0x1004, 4, GM_ENDIAN_LITTLE, &v,
                               GM_ATTRS_DEFAULT),
                 GM_RESULT_OK);
    CHECK_EQ_INT(fc.n, 0);

    /* No flush function: nothing is called. */
    gm_system_set_coalesced_flush(m.sys, NULL, NULL);
    CHECK_EQ_INT(gm_region_set_flush_coalesced(dev, true, NULL), 0);
    CHECK_EQ_INT(gm_space_load(m.as, 0x1004, 4, GM_ENDIAN_LITTLE, &v,
                               GM_ATTRS_DEFAULT),
                 GM_RESULT_OK);
    CHECK_EQ_INT(fc.n, 0);
    machine_fini(&m);
}

int main(void)
{
    RUN(test_add_clear);
    RUN(test_mapping_follows);
    RUN(test_clear_and_unmap);
    RUN(test_replay);
    RUN(test_errors);
    RUN(test_flush_points);
    return harness_done();
}
