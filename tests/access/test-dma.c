/* SPDX-License-Identifier: MIT */
/*
 * test-dma.c - unit tests of DMA maps (gm_space_map / gm_space_unmap), the
 * bounce budget and map clients, with QEMU's address_space_map/unmap as the
 * reference.
 *
 * Rules checked: RAM maps are direct pointers (gm_region_ram_ptr + offset)
 * extended over following ranges of the same RAM at contiguous offsets and
 * stopped at another region; anything else is bounced through a buffer
 * filled by the device's read callbacks (read maps) and written back
 * through its write callbacks at unmap, for access_len bytes only (write
 * maps); bounce buffers are charged to the space's budget, and a map that
 * does not fit is shortened, or fails with NULL and *plen == 0 when nothing
 * is left; map clients are called once when a bounce buffer is released;
 * a written RAM map calls the dirty hook for access_len bytes.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <guestmem/guestmem.h>

#include "access-helpers.h"
#include "harness.h"

#define A GM_ATTRS_DEFAULT

static size_t nr_ranges(gm_space *as)
{
    gm_flatview *fv = gm_space_get_flatview(as);
    size_t n = gm_flatview_nr_ranges(fv);

    gm_flatview_unref(fv);
    return n;
}

/* A logging register-file device (little-endian). */
struct call {
    bool is_write;
    uint64_t off;
    unsigned size;
    uint64_t data;
};

struct dev {
    uint8_t regs[256];
    unsigned n;
    struct call log[128];
};

static void dev_init(struct dev *d)
{
    memset(d, 0, sizeof(*d));
    for (unsigned i = 0; i < sizeof(d->regs); i++) {
        d->regs[i] = (uint8_t)(0x40 + i);
    }
}

static void dev_log(struct dev *d, bool w, uint64_t off, unsigned size,
                    uint64_t data)
{
    if (d->n < sizeof(d->log) / sizeof(d->log[0])) {
        d->log[d->n].is_write = w;
        d->log[d->n].off = off;
        d->log[d->n].size = size;
        d->log[d->n].data = data;
    }
    d->n++;
}

static uint64_t dev_read(void *opaque, uint64_t off, unsigned size)
{
    struct dev *d = opaque;
    uint64_t v = 0;

    for (unsigned i = size; i-- > 0;) {
        v = (v << 8) | (off + i < sizeof(d->regs) ? d->regs[off + i] : 0);
    }
    dev_log(d, false, off, size, v);
    return v;
}

static void dev_write(void *opaque, uint64_t off, uint64_t data, unsigned size)
{
    struct dev *d = opaque;

    dev_log(d, true, off, size, data);
    for (unsigned i = 0; i < size; i++) {
        if (off + i < sizeof(d->regs)) {
            d->regs[off + i] = (uint8_t)(data >> (i * 8));
        }
    }
}

static const struct gm_region_ops dev_ops = {
    .read = dev_read,
    .write = dev_write,
    .endianness = GM_ENDIAN_LITTLE,
};

#define CHECK_CALL(d, i, w, o, s, v)                                           \
    do {                                                                       \
        CHECK((d)->n > (i));                                                   \
        if ((d)->n > (i)) {                                                    \
            CHECK_EQ_INT((d)->log[i].is_write, (w));                           \
            CHECK_EQ_U64((d)->log[i].off, (o));                                \
            CHECK_EQ_INT((d)->log[i].size, (s));                               \
            CHECK_EQ_U64((d)->log[i].data, (v));                               \
        }                                                                      \
    } while (0)

/*
 * Direct maps of RAM.
 */

static void test_map_ram_direct(void)
{
    struct env e;
    gm_region *ram;
    uint8_t *p, *m;
    uint64_t len;

    env_init(&e);
    ram = gm_region_new_ram(e.sys, "ram", 0x4000, NULL);
    p = gm_region_ram_ptr(ram);
    place(&e, 0x100000, gm_region_ref(ram), 0);

    len = 0x100;
    m = gm_space_map(e.as, 0x100123, &len, false, A);
    CHECK_EQ_PTR(m, p + 0x123);
    CHECK_EQ_U64(len, 0x100);
    gm_space_unmap(e.as, m, len, false, 0);

    /* Clipped at the end of the RAM (a hole follows). */
    len = 0x1000;
    m = gm_space_map(e.as, 0x103800, &len, true, A);
    CHECK_EQ_PTR(m, p + 0x3800);
    CHECK_EQ_U64(len, 0x800);
    memset(m, 0x5a, len);
    gm_space_unmap(e.as, m, len, true, len);
    CHECK_EQ_U64(p[0x3fff], 0x5a);

    /* Unmapped address: NULL, *plen 0. */
    len = 0x10;
    CHECK(gm_space_map(e.as, 0x200000, &len, false, A) == NULL);
    CHECK_EQ_U64(len, 0);
    /* Bad arguments. */
    len = 0;
    CHECK(gm_space_map(e.as, 0x100000, &len, false, A) == NULL);
    CHECK_EQ_U64(len, 0);
    CHECK(gm_space_map(e.as, 0x100000, NULL, false, A) == NULL);
    len = 4;
    CHECK(gm_space_map(NULL, 0x100000, &len, false, A) == NULL);
    CHECK_EQ_U64(len, 0);
    gm_space_unmap(e.as, NULL, 4, false, 0);
    gm_space_unmap(NULL, p, 4, false, 0);

    gm_region_unref(ram);
    env_fini(&e);
}

/*
 * A RAM split into several ranges of the same region at contiguous offsets
 * (here by a non-volatile alias of itself at the same offset): the map
 * goes on across them. Another region after it stops the map.
 */
static void test_map_ram_extends(void)
{
    struct env e;
    gm_region *ram, *al, *ram2;
    uint8_t *p, *m;
    uint64_t len;

    env_init(&e);
    ram = gm_region_new_ram(e.sys, "ram", 0x3000, NULL);
    p = gm_region_ram_ptr(ram);
    place(&e, 0x0, gm_region_ref(ram), 0);
    al = gm_region_new_alias(e.sys, "ram-nv", ram, 0x1000, 0x1000, NULL);
    CHECK_EQ_INT(gm_region_set_nonvolatile(al, true, NULL), 0);
    place(&e, 0x1000, al, 1);
    CHECK_EQ_INT(nr_ranges(e.as), 3);

    len = 0x2000;
    m = gm_space_map(e.as, 0x800, &len, true, A);
    CHECK_EQ_PTR(m, p + 0x800);
    CHECK_EQ_U64(len, 0x2000);
    gm_space_unmap(e.as, m, len, true, 0);

    len = 0x10000;
    m = gm_space_map(e.as, 0x10, &len, false, A);
    CHECK_EQ_PTR(m, p + 0x10);
    CHECK_EQ_U64(len, 0x3000 - 0x10);
    gm_space_unmap(e.as, m, len, false, 0);

    /* Another RAM right after: the map stops at it. */
    ram2 = gm_region_new_ram(e.sys, "ram2", 0x1000, NULL);
    place(&e, 0x3000, ram2, 0);
    len = 0x2000;
    m = gm_space_map(e.as, 0x2800, &len, false, A);
    CHECK_EQ_PTR(m, p + 0x2800);
    CHECK_EQ_U64(len, 0x800);
    gm_space_unmap(e.as, m, len, false, 0);

    /* The same RAM again but not at the contiguous offset: stops too. */
    al = gm_region_new_alias(e.sys, "ram-again", ram, 0x0, 0x1000, NULL);
    place(&e, 0x3000, al, 1);
    len = 0x2000;
    m = gm_space_map(e.as, 0x2800, &len, false, A);
    CHECK_EQ_PTR(m, p + 0x2800);
    CHECK_EQ_U64(len, 0x800);
    gm_space_unmap(e.as, m, len, false, 0);

    /*
     * A read-only alias of the same RAM at the contiguous offset: a read
     * map goes on across it, a write map stops before it.
     */
    al = gm_region_new_alias(e.sys, "ram-ro", ram, 0x2000, 0x1000, NULL);
    CHECK_EQ_INT(gm_region_set_readonly(al, true, NULL), 0);
    place(&e, 0x2000, al, 2);
    len = 0x2000;
    m = gm_space_map(e.as, 0x1800, &len, false, A);
    CHECK_EQ_PTR(m, p + 0x1800);
    CHECK_EQ_U64(len, 0x1800);
    gm_space_unmap(e.as, m, len, false, 0);
    len = 0x2000;
    m = gm_space_map(e.as, 0x1800, &len, true, A);
    CHECK_EQ_PTR(m, p + 0x1800);
    CHECK_EQ_U64(len, 0x800);
    gm_space_unmap(e.as, m, len, true, 0);

    gm_region_unref(ram);
    env_fini(&e);
}

/* A write map starting in read-only RAM is bounced; the write is dropped. */
static void test_map_readonly_bounced(void)
{
    struct env e;
    gm_region *rom;
    uint8_t *p, *m;
    uint64_t len;

    env_init(&e);
    rom = gm_region_new_rom(e.sys, "rom", 0x1000, NULL);
    p = gm_region_ram_ptr(rom);
    memset(p, 0x99, 0x1000);
    place(&e, 0x0, gm_region_ref(rom), 0);

    len = 0x10;
    m = gm_space_map(e.as, 0x100, &len, false, A);
    CHECK_EQ_PTR(m, p + 0x100);
    gm_space_unmap(e.as, m, len, false, 0);

    len = 0x10;
    m = gm_space_map(e.as, 0x100, &len, true, A);
    CHECK(m != NULL);
    CHECK(m != p + 0x100);
    CHECK_EQ_U64(len, 0x10);
    if (m) {
        memset(m, 0, len);
        gm_space_unmap(e.as, m, len, true, len);
    }
    CHECK_EQ_U64(p[0x100], 0x99);
    gm_region_unref(rom);
    env_fini(&e);
}

/*
 * Bounce buffers.
 */

static void test_map_mmio_read_bounce(void)
{
    struct env e;
    struct dev d;
    uint8_t *m;
    uint64_t len;

    env_init(&e);
    dev_init(&d);
    place(&e, 0x10000,
          gm_region_new_io(e.sys, "dev", 0x100, &dev_ops, &d, NULL), 0);

    len = 12;
    m = gm_space_map(e.as, 0x10010, &len, false, A);
    CHECK(m != NULL);
    CHECK_EQ_U64(len, 12);
    if (m) {
        CHECK(memcmp(m, d.regs + 0x10, 12) == 0);
    }
    CHECK_EQ_INT(d.n, 3);
    CHECK_CALL(&d, 0, false, 0x10, 4, 0x53525150);
    CHECK_CALL(&d, 1, false, 0x14, 4, 0x57565554);
    CHECK_CALL(&d, 2, false, 0x18, 4, 0x5b5a5958);
    gm_space_unmap(e.as, m, len, false, 0);
    CHECK_EQ_INT(d.n, 3);

    /* Limited to the device's range. */
    len = 0x100;
    m = gm_space_map(e.as, 0x100f0, &len, false, A);
    CHECK(m != NULL);
    CHECK_EQ_U64(len, 0x10);
    gm_space_unmap(e.as, m, len, false, 0);
    env_fini(&e);
}

static void test_map_mmio_write_bounce(void)
{
    struct env e;
    struct dev d;
    uint8_t *m;
    uint64_t len;

    env_init(&e);
    dev_init(&d);
    place(&e, 0x10000,
          gm_region_new_io(e.sys, "dev", 0x100, &dev_ops, &d, NULL), 0);

    len = 16;
    m = gm_space_map(e.as, 0x10020, &len, true, A);
    CHECK(m != NULL);
    CHECK_EQ_U64(len, 16);
    /* A write map does not read the device. */
    CHECK_EQ_INT(d.n, 0);
    if (m) {
        for (unsigned i = 0; i < 16; i++) {
            m[i] = (uint8_t)(0xc0 + i);
        }
    }
    /* Only access_len (6) bytes are written back: 4 + 2. */
    gm_space_unmap(e.as, m, len, true, 6);
    CHECK_EQ_INT(d.n, 2);
    CHECK_CALL(&d, 0, true, 0x20, 4, 0xc3c2c1c0);
    CHECK_CALL(&d, 1, true, 0x24, 2, 0xc5c4);
    CHECK_EQ_U64(d.regs[0x26], 0x66);

    /* access_len 0: nothing written back. */
    len = 8;
    m = gm_space_map(e.as, 0x10040, &len, true, A);
    CHECK(m != NULL);
    gm_space_unmap(e.as, m, len, true, 0);
    CHECK_EQ_INT(d.n, 2);
    /* A read unmap of a read map writes nothing either. */
    len = 8;
    m = gm_space_map(e.as, 0x10040, &len, false, A);
    CHECK_EQ_INT(d.n, 4);
    gm_space_unmap(e.as, m, len, false, 8);
    CHECK_EQ_INT(d.n, 4);
    env_fini(&e);
}

static void test_bounce_budget(void)
{
    struct env e;
    struct dev d;
    gm_error err = {0};
    uint8_t *m1, *m2, *m3;
    uint64_t l1, l2, l3;

    env_init(&e);
    dev_init(&d);
    place(&e, 0x10000,
          gm_region_new_io(e.sys, "dev", 0x100, &dev_ops, &d, NULL), 0);
    CHECK_EQ_INT(gm_space_set_bounce_budget(NULL, 16, &err), -EINVAL);
    CHECK_EQ_INT(err.code, -EINVAL);

    /* The default budget is 4096 bytes (QEMU's). */
    l1 = 0x100;
    m1 = gm_space_map(e.as, 0x10000, &l1, false, A);
    CHECK(m1 != NULL);
    CHECK_EQ_U64(l1, 0x100);
    gm_space_unmap(e.as, m1, l1, false, 0);

    CHECK_EQ_INT(gm_space_set_bounce_budget(e.as, 24, NULL), 0);
    l1 = 16;
    m1 = gm_space_map(e.as, 0x10000, &l1, false, A);
    CHECK(m1 != NULL);
    CHECK_EQ_U64(l1, 16);
    /* 8 bytes left: shortened. */
    l2 = 16;
    m2 = gm_space_map(e.as, 0x10010, &l2, true, A);
    CHECK(m2 != NULL);
    CHECK_EQ_U64(l2, 8);
    /* Nothing left: NULL, *plen 0. */
    l3 = 4;
    m3 = gm_space_map(e.as, 0x10020, &l3, false, A);
    CHECK(m3 == NULL);
    CHECK_EQ_U64(l3, 0);

    /* Releasing one makes room again. */
    gm_space_unmap(e.as, m1, l1, false, 0);
    l3 = 32;
    m3 = gm_space_map(e.as, 0x10020, &l3, false, A);
    CHECK(m3 != NULL);
    CHECK_EQ_U64(l3, 16);
    gm_space_unmap(e.as, m2, l2, true, 0);
    gm_space_unmap(e.as, m3, l3, false, 0);

    /* Budget 0: bouncing impossible, RAM maps still work. */
    CHECK_EQ_INT(gm_space_set_bounce_budget(e.as, 0, NULL), 0);
    l1 = 4;
    CHECK(gm_space_map(e.as, 0x10000, &l1, false, A) == NULL);
    CHECK_EQ_U64(l1, 0);
    {
        gm_region *ram = gm_region_new_ram(e.sys, "ram", 0x1000, NULL);
        void *p = gm_region_ram_ptr(ram);
        place(&e, 0x0, ram, 0);
        l1 = 0x10;
        m1 = gm_space_map(e.as, 0x0, &l1, false, A);
        CHECK_EQ_PTR(m1, p);
        CHECK_EQ_U64(l1, 0x10);
        gm_space_unmap(e.as, m1, l1, false, 0);
    }
    env_fini(&e);
}

/*
 * Lowering the budget below what is in use: nothing is left, so a new map
 * fails (the budget bounds the bytes "mapped at once").
 */
static void test_bounce_budget_lowered(void)
{
    struct env e;
    struct dev d;
    uint8_t *m1, *m2;
    uint64_t l1, l2;

    env_init(&e);
    dev_init(&d);
    place(&e, 0x10000,
          gm_region_new_io(e.sys, "dev", 0x100, &dev_ops, &d, NULL), 0);
    l1 = 64;
    m1 = gm_space_map(e.as, 0x10000, &l1, false, A);
    CHECK(m1 != NULL);
    CHECK_EQ_U64(l1, 64);
    CHECK_EQ_INT(gm_space_set_bounce_budget(e.as, 16, NULL), 0);
    l2 = 8;
    m2 = gm_space_map(e.as, 0x10040, &l2, false, A);
    CHECK(m2 == NULL);
    CHECK_EQ_U64(l2, 0);
    if (m2) {
        gm_space_unmap(e.as, m2, l2, false, 0);
    }
    gm_space_unmap(e.as, m1, l1, false, 0);
    /* Released: 16 bytes again. */
    l2 = 32;
    m2 = gm_space_map(e.as, 0x10040, &l2, false, A);
    CHECK(m2 != NULL);
    CHECK_EQ_U64(l2, 16);
    gm_space_unmap(e.as, m2, l2, false, 0);
    env_fini(&e);
}

/*
 * Map clients.
 */

static void count_cb(void *opaque)
{
    (*(unsigned *)opaque)++;
}

static void test_map_client(void)
{
    struct env e;
    struct dev d;
    unsigned n1 = 0, n2 = 0, n3 = 0;
    gm_map_client *c1, *c2, *c3;
    uint8_t *m1, *m2;
    uint64_t l1, l2, l3;

    env_init(&e);
    dev_init(&d);
    place(&e, 0x10000,
          gm_region_new_io(e.sys, "dev", 0x100, &dev_ops, &d, NULL), 0);
    CHECK(gm_space_register_map_client(NULL, count_cb, &n1) == NULL);
    CHECK(gm_space_register_map_client(e.as, NULL, &n1) == NULL);
    gm_space_unregister_map_client(NULL);

    CHECK_EQ_INT(gm_space_set_bounce_budget(e.as, 16, NULL), 0);
    l1 = 8;
    m1 = gm_space_map(e.as, 0x10000, &l1, false, A);
    l2 = 8;
    m2 = gm_space_map(e.as, 0x10008, &l2, false, A);
    CHECK(m1 && m2);
    l3 = 8;
    CHECK(gm_space_map(e.as, 0x10010, &l3, false, A) == NULL);

    c1 = gm_space_register_map_client(e.as, count_cb, &n1);
    c2 = gm_space_register_map_client(e.as, count_cb, &n2);
    c3 = gm_space_register_map_client(e.as, count_cb, &n3);
    CHECK(c1 && c2 && c3);
    CHECK_EQ_INT(n1 + n2 + n3, 0);
    gm_space_unregister_map_client(c2);

    gm_space_unmap(e.as, m1, l1, false, 0);
    CHECK_EQ_INT(n1, 1);
    CHECK_EQ_INT(n2, 0);
    CHECK_EQ_INT(n3, 1);
    /* Once only. */
    gm_space_unmap(e.as, m2, l2, false, 0);
    CHECK_EQ_INT(n1, 1);
    CHECK_EQ_INT(n2, 0);
    CHECK_EQ_INT(n3, 1);

    /* A retry now succeeds. */
    l3 = 8;
    m1 = gm_space_map(e.as, 0x10010, &l3, false, A);
    CHECK(m1 != NULL);
    gm_space_unregister_map_client(c1);
    gm_space_unregister_map_client(c3);

    /*
     * Registering while bounce room is free calls the client at once (as
     * QEMU does when its bounce buffer is not in use); releasing a direct
     * RAM map does not call clients.
     */
    {
        gm_region *ram = gm_region_new_ram(e.sys, "ram", 0x1000, NULL);
        uint64_t l = 8;
        void *p;
        place(&e, 0x0, ram, 0);
        c1 = gm_space_register_map_client(e.as, count_cb, &n1);
        CHECK_EQ_INT(n1, 2);
        p = gm_space_map(e.as, 0x0, &l, false, A);
        CHECK(p != NULL);
        gm_space_unmap(e.as, p, l, false, 0);
        CHECK_EQ_INT(n1, 2);
        gm_space_unregister_map_client(c1);
    }
    gm_space_unmap(e.as, m1, l3, false, 0);
    CHECK_EQ_INT(n1, 2);

    /*
     * A client still registered keeps the space (and the system) from
     * being destroyed: its handle would dangle.
     */
    c1 = gm_space_register_map_client(e.as, count_cb, &n1);
    CHECK(c1 != NULL);
    CHECK_EQ_INT(n1, 3);
    {
        gm_error err = {0};

        CHECK_EQ_INT(gm_space_destroy(e.as, &err), -EBUSY);
        CHECK(strstr(err.msg, "map client") != NULL);
        CHECK_EQ_INT(gm_system_destroy(e.sys, &err), -EBUSY);
        CHECK(strstr(err.msg, "map client") != NULL);
    }
    gm_space_unregister_map_client(c1);
    env_fini(&e);
    CHECK_EQ_INT(n1, 3);
}

/* A client that retries its map from the callback gets the room. */
struct retry {
    gm_space *as;
    void *buf;
    uint64_t len;
    unsigned calls;
};

static void retry_cb(void *opaque)
{
    struct retry *r = opaque;

    r->calls++;
    r->len = 16;
    r->buf = gm_space_map(r->as, 0x10020, &r->len, false, A);
}

static void test_map_client_retries(void)
{
    struct env e;
    struct dev d;
    struct retry r = {0};
    gm_map_client *c;
    uint8_t *m;
    uint64_t l = 16;

    env_init(&e);
    dev_init(&d);
    place(&e, 0x10000,
          gm_region_new_io(e.sys, "dev", 0x100, &dev_ops, &d, NULL), 0);
    CHECK_EQ_INT(gm_space_set_bounce_budget(e.as, 16, NULL), 0);
    m = gm_space_map(e.as, 0x10000, &l, false, A);
    CHECK(m != NULL);
    r.as = e.as;
    c = gm_space_register_map_client(e.as, retry_cb, &r);
    CHECK(c != NULL);
    gm_space_unmap(e.as, m, l, false, 0);
    CHECK_EQ_INT(r.calls, 1);
    CHECK(r.buf != NULL);
    CHECK_EQ_U64(r.len, 16);
    if (r.buf) {
        CHECK(memcmp(r.buf, d.regs + 0x20, 16) == 0);
        gm_space_unmap(e.as, r.buf, r.len, false, 0);
    }
    CHECK_EQ_INT(r.calls, 1);
    gm_space_unregister_map_client(c);
    env_fini(&e);
}

/*
 * Dirty marking at unmap.
 */

static void test_unmap_dirty(void)
{
    struct env e;
    struct dirty_rec rec = {0};
    gm_region *ram;
    uint8_t *m;
    uint64_t len;

    env_init(&e);
    ram = gm_region_new_ram(e.sys, "ram", 0x2000, NULL);
    place(&e, 0x8000, gm_region_ref(ram), 0);
    gm_system_set_dirty_hook(e.sys, dirty_hook, &rec);

    /* No mask: no call. */
    len = 0x100;
    m = gm_space_map(e.as, 0x8100, &len, true, A);
    CHECK(m != NULL);
    gm_space_unmap(e.as, m, len, true, len);
    CHECK_EQ_INT(rec.n, 0);

    CHECK_EQ_INT(gm_region_set_log(ram, true, GM_DIRTY_VGA, NULL), 0);
    len = 0x100;
    m = gm_space_map(e.as, 0x8100, &len, true, A);
    CHECK(m != NULL);
    CHECK_EQ_INT(rec.n, 0);
    gm_space_unmap(e.as, m, len, true, 0x30);
    CHECK_EQ_INT(rec.n, 1);
    CHECK_EQ_PTR(rec.region, ram);
    CHECK_EQ_U64(rec.off, 0x100);
    CHECK_EQ_U64(rec.len, 0x30);
    CHECK_EQ_U64(rec.mask, 1u << GM_DIRTY_VGA);

    /* Read maps and access_len 0 do not mark. */
    len = 0x100;
    m = gm_space_map(e.as, 0x8100, &len, false, A);
    gm_space_unmap(e.as, m, len, false, len);
    len = 0x100;
    m = gm_space_map(e.as, 0x8100, &len, true, A);
    gm_space_unmap(e.as, m, len, true, 0);
    CHECK_EQ_INT(rec.n, 1);

    /* access_len beyond the map is clipped to it. */
    len = 0x10;
    m = gm_space_map(e.as, 0x9ff0, &len, true, A);
    CHECK_EQ_U64(len, 0x10);
    gm_space_unmap(e.as, m, len, true, 0x1000);
    CHECK_EQ_INT(rec.n, 2);
    CHECK_EQ_U64(rec.off, 0x1ff0);
    CHECK_EQ_U64(rec.len, 0x10);

    gm_region_unref(ram);
    env_fini(&e);
}

/*
 * Thousands of maps in flight at once, some of the same address, unmapped
 * in a scrambled order: each unmap finds its own map (the dirty hook sees
 * its length), and every bounce buffer comes back to the budget.
 */
static void test_many_maps(void)
{
    enum { N = 3000 };
    struct env e;
    struct dirty_rec rec = {0};
    gm_region *ram = NULL;
    uint8_t **bufs = calloc(N, sizeof(*bufs));
    uint64_t *lens = calloc(N, sizeof(*lens));
    unsigned long ok = 0;

    CHECK(bufs && lens);
    env_init(&e);
    ram = gm_region_new_ram(e.sys, "ram", 0x100000, NULL);
    place(&e, 0, gm_region_ref(ram), 0);
    CHECK_EQ_INT(gm_region_set_log(ram, true, GM_DIRTY_VGA, NULL), 0);
    gm_system_set_dirty_hook(e.sys, dirty_hook, &rec);
    for (unsigned i = 0; i < N; i++) {
        /* Every third map repeats an address used before. */
        uint64_t addr = (uint64_t)(i % 3 ? i : i / 3) * 0x100;

        lens[i] = 1 + i % 0x100;
        bufs[i] = gm_space_map(e.as, addr, &lens[i], true, A);
        CHECK(bufs[i] != NULL);
    }
    for (unsigned k = 0; k < N; k++) {
        unsigned i = (unsigned)((k * 7919ull) % N); /* a permutation */
        unsigned before = rec.n;

        gm_space_unmap(e.as, bufs[i], lens[i], true, lens[i]);
        ok += rec.n == before + 1 && rec.len == lens[i];
    }
    CHECK_EQ_U64(ok, N);
    /* An unknown pointer is ignored. */
    gm_space_unmap(e.as, bufs[0], lens[0], true, lens[0]);
    CHECK_EQ_INT(rec.n, N);
    gm_region_unref(ram);
    env_fini(&e);
    free(bufs);
    free(lens);
}

/*
 * An active map or an open cache keeps its space and the system from being
 * destroyed: the caller's pointers would dangle. Once released, both go.
 */
static void test_destroy_while_in_use(void)
{
    struct env e;
    struct gm_cache c;
    gm_error err = {0};
    uint64_t len = 0x10;
    void *m;

    env_init(&e);
    place(&e, 0, new_ram(&e, "ram", 0x1000, 0x11), 0);
    m = gm_space_map(e.as, 0x100, &len, false, A);
    CHECK(m != NULL);
    CHECK_EQ_INT(gm_space_destroy(e.as, &err), -EBUSY);
    CHECK(strstr(err.msg, "DMA map") != NULL);
    CHECK_EQ_INT(gm_system_destroy(e.sys, &err), -EBUSY);
    gm_space_unmap(e.as, m, len, false, 0);
    CHECK_EQ_INT(gm_cache_init(&c, e.as, 0, 0x100, false, NULL), 0);
    gm_error_clear(&err);
    CHECK_EQ_INT(gm_system_destroy(e.sys, &err), -EBUSY);
    CHECK(strstr(err.msg, "access cache") != NULL);
    /* Refused, the space still works. */
    CHECK_EQ_INT(gm_space_load(e.as, 0x10, 1, GM_ENDIAN_LITTLE, &len, A),
                 GM_RESULT_OK);
    CHECK_EQ_U64(len, 0x11);
    gm_cache_destroy(&c);
    env_fini(&e);
}

/* Maps keep their memory alive across a topology change. */
static void test_map_survives_unplug(void)
{
    struct env e;
    gm_region *ram;
    uint8_t *m;
    uint64_t len = 0x100;

    env_init(&e);
    ram = gm_region_new_ram(e.sys, "hotplug", 0x1000, NULL);
    memset(gm_region_ram_ptr(ram), 0x17, 0x1000);
    place(&e, 0x4000, gm_region_ref(ram), 0);
    m = gm_space_map(e.as, 0x4000, &len, true, A);
    CHECK(m != NULL);
    CHECK_EQ_INT(gm_region_del_subregion(e.root, ram, NULL), 0);
    gm_region_unref(ram);
    if (m) {
        CHECK_EQ_U64(m[0xff], 0x17);
        m[0] = 1;
    }
    gm_space_unmap(e.as, m, len, true, len);
    env_fini(&e);
}

/*
 * Unregistering a client that was already called: the handle stays valid
 * until it is unregistered (access.h), so this must neither touch freed
 * memory (ASan) nor disturb other clients.
 */
static void test_unregister_after_call(void)
{
    struct env e;
    struct dev d;
    unsigned n = 0, n2 = 0;
    gm_map_client *c, *c2;
    uint8_t *m;
    uint64_t l;

    env_init(&e);
    dev_init(&d);
    place(&e, 0x10000,
          gm_region_new_io(e.sys, "dev", 0x100, &dev_ops, &d, NULL), 0);
    CHECK_EQ_INT(gm_space_set_bounce_budget(e.as, 8, NULL), 0);
    l = 8;
    m = gm_space_map(e.as, 0x10000, &l, false, A);
    CHECK(m != NULL);
    c = gm_space_register_map_client(e.as, count_cb, &n);
    gm_space_unmap(e.as, m, l, false, 0);
    CHECK_EQ_INT(n, 1);
    /* A second client, registered after the first was called. */
    l = 8;
    m = gm_space_map(e.as, 0x10000, &l, false, A);
    c2 = gm_space_register_map_client(e.as, count_cb, &n2);
    /* The stale handle must not disturb anything. */
    gm_space_unregister_map_client(c);
    gm_space_unmap(e.as, m, l, false, 0);
    CHECK_EQ_INT(n2, 1);
    gm_space_unregister_map_client(c2);
    env_fini(&e);
}

int main(void)
{
    RUN(test_map_ram_direct);
    RUN(test_map_ram_extends);
    RUN(test_map_readonly_bounced);
    RUN(test_map_mmio_read_bounce);
    RUN(test_map_mmio_write_bounce);
    RUN(test_bounce_budget);
    RUN(test_bounce_budget_lowered);
    RUN(test_map_client);
    RUN(test_map_client_retries);
    RUN(test_unmap_dirty);
    RUN(test_many_maps);
    RUN(test_destroy_while_in_use);
    RUN(test_map_survives_unplug);
    RUN(test_unregister_after_call);
    return harness_done();
}
