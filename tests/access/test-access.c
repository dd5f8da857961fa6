/* SPDX-License-Identifier: MIT */
/*
 * test-access.c - unit tests of the access path (access.h): reads, writes,
 * loads and stores through an address space, with QEMU's semantics as the
 * reference (flatview_read/write_continue, address_space_ld/st,
 * memory_region_dispatch_read/write, memory_region_access_valid and
 * access_with_adjusted_size).
 *
 * Each test builds a small machine (a 4 GiB root container in one address
 * space), maps what it needs and checks one rule with concrete values:
 * RAM byte order and splitting across ranges and holes, ROM and read-only
 * RAM, ROM devices in and out of romd mode, MMIO offsets, device byte
 * order, the `valid` rules (sizes, alignment, accepts), the `impl` rules
 * (split and widen), callbacks with attributes, unassigned reservations,
 * ioeventfds, one-byte sub-page ranges, the dirty hook and access caches.
 *
 * Devices are a small register file (struct dev) that logs every callback
 * it receives, so a test can check the exact sequence of (offset, size,
 * data) the library produced.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <guestmem/guestmem.h>

#include "access-helpers.h"
#include "harness.h"

/*
 * A logging device: a register file of 64 bytes (regs[i] = 0x10 + i at
 * creation) read and written in the device's byte order, or a fixed value
 * returned by every read. Every callback is appended to the log.
 */
struct call {
    bool is_write;
    uint64_t off;
    unsigned size;
    uint64_t data;
    struct gm_mem_attrs attrs;
};

struct dev {
    bool big;
    bool fixed;
    uint64_t fixed_val;
    uint8_t regs[64];
    unsigned n;
    struct call log[32];
    /* accepts(): refuse writes / refuse this offset (UINT64_MAX: none) */
    bool refuse_writes;
    uint64_t refuse_off;
    unsigned naccepts;
    struct call last_accepts;
    /* read/write_with_attrs: the result to return at this offset */
    uint64_t err_off;
    enum gm_result err_res;
};

static void dev_init(struct dev *d, bool big)
{
    memset(d, 0, sizeof(*d));
    d->big = big;
    d->refuse_off = UINT64_MAX;
    d->err_off = UINT64_MAX;
    for (unsigned i = 0; i < sizeof(d->regs); i++) {
        d->regs[i] = (uint8_t)(0x10 + i);
    }
}

static void dev_log(struct dev *d, bool is_write, uint64_t off, unsigned size,
                    uint64_t data, struct gm_mem_attrs attrs)
{
    if (d->n < sizeof(d->log) / sizeof(d->log[0])) {
        d->log[d->n].is_write = is_write;
        d->log[d->n].off = off;
        d->log[d->n].size = size;
        d->log[d->n].data = data;
        d->log[d->n].attrs = attrs;
    }
    d->n++;
}

static uint64_t dev_value(struct dev *d, uint64_t off, unsigned size)
{
    uint64_t v = 0;

    if (d->fixed) {
        return d->fixed_val;
    }
    for (unsigned i = 0; i < size; i++) {
        unsigned k = d->big ? i : size - 1 - i;
        uint8_t b = off + k < sizeof(d->regs) ? d->regs[off + k] : 0;
        v = (v << 8) | b;
    }
    return v;
}

static void dev_store(struct dev *d, uint64_t off, unsigned size, uint64_t data)
{
    for (unsigned i = 0; i < size; i++) {
        unsigned k = d->big ? size - 1 - i : i;
        if (off + k < sizeof(d->regs)) {
            d->regs[off + k] = (uint8_t)data;
        }
        data >>= 8;
    }
}

static uint64_t dev_read(void *opaque, uint64_t off, unsigned size)
{
    struct dev *d = opaque;
    uint64_t v = dev_value(d, off, size);

    dev_log(d, false, off, size, v, GM_ATTRS_DEFAULT);
    return v;
}

static void dev_write(void *opaque, uint64_t off, uint64_t data, unsigned size)
{
    struct dev *d = opaque;

    dev_log(d, true, off, size, data, GM_ATTRS_DEFAULT);
    dev_store(d, off, size, data);
}

static enum gm_result dev_read_attrs(void *opaque, uint64_t off, uint64_t *data,
                                     unsigned size, struct gm_mem_attrs attrs)
{
    struct dev *d = opaque;

    *data = dev_value(d, off, size);
    dev_log(d, false, off, size, *data, attrs);
    return off == d->err_off ? d->err_res : GM_RESULT_OK;
}

static enum gm_result dev_write_attrs(void *opaque, uint64_t off, uint64_t data,
                                      unsigned size, struct gm_mem_attrs attrs)
{
    struct dev *d = opaque;

    dev_log(d, true, off, size, data, attrs);
    dev_store(d, off, size, data);
    return off == d->err_off ? d->err_res : GM_RESULT_OK;
}

static bool dev_accepts(void *opaque, uint64_t off, unsigned size,
                        bool is_write, struct gm_mem_attrs attrs)
{
    struct dev *d = opaque;

    d->naccepts++;
    d->last_accepts.is_write = is_write;
    d->last_accepts.off = off;
    d->last_accepts.size = size;
    d->last_accepts.attrs = attrs;
    return !(is_write && d->refuse_writes) && off != d->refuse_off;
}

static struct gm_region_ops dev_ops(enum gm_endian e)
{
    struct gm_region_ops o;

    memset(&o, 0, sizeof(o));
    o.read = dev_read;
    o.write = dev_write;
    o.endianness = e;
    return o;
}

/* Check callback @i of @d. */
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

#define A GM_ATTRS_DEFAULT
#define OK GM_RESULT_OK
#define DECODE GM_RESULT_DECODE_ERROR
#define ACCESS GM_RESULT_ACCESS_ERROR

/*
 * RAM.
 */

/* Loads and stores of every size in every byte order. */
static void test_ram_load_store_endian(void)
{
    struct env e;
    gm_region *ram;
    uint8_t *p;
    uint64_t v;
    static const uint8_t pat[8] = {0x01, 0x23, 0x45, 0x67,
                                   0x89, 0xab, 0xcd, 0xef};

    env_init(&e);
    ram = new_ram(&e, "ram", 0x1000, 0);
    p = gm_region_ram_ptr(ram);
    place(&e, 0x10000, ram, 0);
    memcpy(p + 0x100, pat, 8);

    CHECK_EQ_INT(gm_space_load(e.as, 0x10100, 1, GM_ENDIAN_LITTLE, &v, A), OK);
    CHECK_EQ_U64(v, 0x01);
    CHECK_EQ_INT(gm_space_load(e.as, 0x10100, 2, GM_ENDIAN_LITTLE, &v, A), OK);
    CHECK_EQ_U64(v, 0x2301);
    CHECK_EQ_INT(gm_space_load(e.as, 0x10100, 2, GM_ENDIAN_BIG, &v, A), OK);
    CHECK_EQ_U64(v, 0x0123);
    CHECK_EQ_INT(gm_space_load(e.as, 0x10100, 4, GM_ENDIAN_LITTLE, &v, A), OK);
    CHECK_EQ_U64(v, 0x67452301);
    CHECK_EQ_INT(gm_space_load(e.as, 0x10100, 4, GM_ENDIAN_BIG, &v, A), OK);
    CHECK_EQ_U64(v, 0x01234567);
    CHECK_EQ_INT(gm_space_load(e.as, 0x10100, 8, GM_ENDIAN_LITTLE, &v, A), OK);
    CHECK_EQ_U64(v, 0xefcdab8967452301ULL);
    CHECK_EQ_INT(gm_space_load(e.as, 0x10100, 8, GM_ENDIAN_BIG, &v, A), OK);
    CHECK_EQ_U64(v, 0x0123456789abcdefULL);
    /* Unaligned loads from RAM are fine. */
    CHECK_EQ_INT(gm_space_load(e.as, 0x10101, 4, GM_ENDIAN_BIG, &v, A), OK);
    CHECK_EQ_U64(v, 0x23456789);
    CHECK_EQ_INT(gm_space_load(e.as, 0x10100, 8, GM_ENDIAN_NATIVE, &v, A), OK);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    CHECK_EQ_U64(v, 0x0123456789abcdefULL);
#else
    CHECK_EQ_U64(v, 0xefcdab8967452301ULL);
#endif

    CHECK_EQ_INT(gm_space_store(e.as, 0x10200, 1, GM_ENDIAN_BIG, 0xa5, A), OK);
    CHECK_EQ_U64(p[0x200], 0xa5);
    CHECK_EQ_INT(gm_space_store(e.as, 0x10210, 2, GM_ENDIAN_LITTLE, 0xbeef, A),
                 OK);
    CHECK_EQ_U64(p[0x210], 0xef);
    CHECK_EQ_U64(p[0x211], 0xbe);
    CHECK_EQ_INT(gm_space_store(e.as, 0x10220, 2, GM_ENDIAN_BIG, 0xbeef, A),
                 OK);
    CHECK_EQ_U64(p[0x220], 0xbe);
    CHECK_EQ_U64(p[0x221], 0xef);
    CHECK_EQ_INT(
        gm_space_store(e.as, 0x10230, 4, GM_ENDIAN_LITTLE, 0x11223344, A), OK);
    CHECK(memcmp(p + 0x230, "\x44\x33\x22\x11", 4) == 0);
    CHECK_EQ_INT(gm_space_store(e.as, 0x10240, 4, GM_ENDIAN_BIG, 0x11223344, A),
                 OK);
    CHECK(memcmp(p + 0x240, "\x11\x22\x33\x44", 4) == 0);
    CHECK_EQ_INT(gm_space_store(e.as, 0x10250, 8, GM_ENDIAN_LITTLE,
                                0x1122334455667788ULL, A),
                 OK);
    CHECK(memcmp(p + 0x250, "\x88\x77\x66\x55\x44\x33\x22\x11", 8) == 0);
    CHECK_EQ_INT(gm_space_store(e.as, 0x10260, 8, GM_ENDIAN_BIG,
                                0x1122334455667788ULL, A),
                 OK);
    CHECK(memcmp(p + 0x260, "\x11\x22\x33\x44\x55\x66\x77\x88", 8) == 0);
    CHECK_EQ_INT(
        gm_space_store(e.as, 0x10270, 4, GM_ENDIAN_NATIVE, 0x11223344, A), OK);
    {
        uint32_t x;
        memcpy(&x, p + 0x270, 4);
        CHECK_EQ_U64(x, 0x11223344);
    }
    /* A store of 2 bytes changes exactly 2 bytes. */
    CHECK_EQ_U64(p[0x212], 0);
    CHECK_EQ_U64(p[0x20f], 0);

    /* Bad sizes. */
    v = 0;
    CHECK_EQ_INT(gm_space_load(e.as, 0x10100, 3, GM_ENDIAN_LITTLE, &v, A),
                 DECODE);
    CHECK_EQ_U64(v, UINT64_MAX);
    CHECK_EQ_INT(gm_space_store(e.as, 0x10100, 16, GM_ENDIAN_LITTLE, 0, A),
                 DECODE);
    CHECK_EQ_U64(p[0x100], 0x01);
    env_fini(&e);
}

/* A read and a write crossing two RAMs and a hole. */
static void test_ram_cross_ranges_and_hole(void)
{
    struct env e;
    gm_region *a, *b;
    uint8_t *pa, *pb, buf[0x30], exp[0x30];

    env_init(&e);
    a = new_ram(&e, "a", 0x1000, 0xaa);
    b = new_ram(&e, "b", 0x1000, 0xbb);
    pa = gm_region_ram_ptr(a);
    pb = gm_region_ram_ptr(b);
    place(&e, 0x0, a, 0);
    place(&e, 0x1000, b, 0);
    /* hole at [0x2000, 0x3000) */

    /* [0xff0, 0x1020): a then b. */
    CHECK_EQ_INT(gm_space_read(e.as, 0xff0, buf, 0x30, A), OK);
    memset(exp, 0xaa, 0x10);
    memset(exp + 0x10, 0xbb, 0x20);
    CHECK(memcmp(buf, exp, 0x30) == 0);

    /* [0x1ff0, 0x2020): b then the hole. */
    memset(buf, 0x5a, sizeof(buf));
    CHECK_EQ_INT(gm_space_read(e.as, 0x1ff0, buf, 0x30, A), DECODE);
    memset(exp, 0xbb, 0x10);
    memset(exp + 0x10, unassigned_byte(e.as), 0x20);
    CHECK(memcmp(buf, exp, 0x30) == 0);

    /* Writes: across a and b, then b and the hole. */
    memset(buf, 0x5c, sizeof(buf));
    CHECK_EQ_INT(gm_space_write(e.as, 0xff8, buf, 0x10, A), OK);
    CHECK_EQ_U64(pa[0xff7], 0xaa);
    CHECK_EQ_U64(pa[0xff8], 0x5c);
    CHECK_EQ_U64(pa[0xfff], 0x5c);
    CHECK_EQ_U64(pb[0x0], 0x5c);
    CHECK_EQ_U64(pb[0x7], 0x5c);
    CHECK_EQ_U64(pb[0x8], 0xbb);

    CHECK_EQ_INT(gm_space_write(e.as, 0x1ffc, buf, 0x10, A), DECODE);
    CHECK_EQ_U64(pb[0xffb], 0xbb);
    CHECK_EQ_U64(pb[0xffc], 0x5c);
    CHECK_EQ_U64(pb[0xfff], 0x5c);
    /* The hole is still a hole. */
    memset(buf, 0x5a, 4);
    CHECK_EQ_INT(gm_space_read(e.as, 0x2000, buf, 4, A), DECODE);
    CHECK(all_unassigned(e.as, buf, 4));

    /* A load crossing a and b. */
    {
        uint64_t v;
        pa[0xffe] = 0x10;
        pa[0xfff] = 0x01;
        pb[0x0] = 0x02;
        pb[0x1] = 0x20;
        CHECK_EQ_INT(gm_space_load(e.as, 0xffe, 4, GM_ENDIAN_BIG, &v, A), OK);
        CHECK_EQ_U64(v, 0x10010220);
    }
    env_fini(&e);
}

/*
 * Holes: the space's unassigned value and a decode error; writes change
 * nothing.
 */
static void test_hole(void)
{
    struct env e;
    gm_region *ram;
    uint8_t buf[16];
    uint64_t v;

    env_init(&e);
    ram = new_ram(&e, "ram", 0x1000, 0x11);
    place(&e, 0x1000, ram, 0);

    for (unsigned s = 1; s <= 8; s *= 2) {
        v = 0x5a5a5a5a5a5a5a5aULL;
        CHECK_EQ_INT(gm_space_load(e.as, 0x3000, s, GM_ENDIAN_LITTLE, &v, A),
                     DECODE);
        CHECK_EQ_U64(v, unassigned_val(e.as, s));
    }
    memset(buf, 0x5a, sizeof(buf));
    CHECK_EQ_INT(gm_space_read(e.as, 0x10, buf, sizeof(buf), A), DECODE);
    for (unsigned i = 0; i < sizeof(buf); i++) {
        CHECK_EQ_U64(buf[i], unassigned_byte(e.as));
    }
    /* Beyond the root container. */
    v = 0x5a5a5a5a5a5a5a5aULL;
    CHECK_EQ_INT(
        gm_space_load(e.as, 0x100000000ULL, 4, GM_ENDIAN_LITTLE, &v, A),
        DECODE);
    CHECK_EQ_U64(v, unassigned_val(e.as, 4));

    CHECK_EQ_INT(gm_space_store(e.as, 0xfff, 2, GM_ENDIAN_LITTLE, 0x2222, A),
                 DECODE);
    /* The hole half is dropped, the RAM half written. */
    CHECK_EQ_U64(((uint8_t *)gm_region_ram_ptr(ram))[0], 0x22);
    CHECK_EQ_INT(gm_space_store(e.as, 0x3000, 4, GM_ENDIAN_LITTLE,
                                0x5a5a5a5a, A),
                 DECODE);
    CHECK_EQ_INT(gm_space_load(e.as, 0x3000, 4, GM_ENDIAN_LITTLE, &v, A),
                 DECODE);
    CHECK_EQ_U64(v, unassigned_val(e.as, 4));
    CHECK_EQ_U64(((uint8_t *)gm_region_ram_ptr(ram))[1], 0x11);
    /* Zero-length accesses do nothing. */
    CHECK_EQ_INT(gm_space_read(e.as, 0x3000, buf, 0, A), OK);
    CHECK_EQ_INT(gm_space_write(e.as, 0x3000, buf, 0, A), OK);
    env_fini(&e);
}

/*
 * ROM and read-only RAM.
 */

static void test_rom_and_readonly(void)
{
    struct env e;
    gm_region *rom, *ro, *ram, *al;
    uint8_t *prom, *pro, *pram;
    uint64_t v;
    uint8_t buf[4] = {1, 2, 3, 4};

    env_init(&e);
    rom = gm_region_new_rom(e.sys, "rom", 0x1000, NULL);
    CHECK(rom != NULL);
    prom = gm_region_ram_ptr(rom);
    memset(prom, 0x33, 0x1000);
    place(&e, 0x0, rom, 0);

    ro = new_ram(&e, "ro", 0x1000, 0x44);
    pro = gm_region_ram_ptr(ro);
    CHECK_EQ_INT(gm_region_set_readonly(ro, true, NULL), 0);
    place(&e, 0x1000, ro, 0);

    ram = new_ram(&e, "ram", 0x1000, 0x55);
    pram = gm_region_ram_ptr(ram);
    place(&e, 0x2000, gm_region_ref(ram), 0);
    al = gm_region_new_alias(e.sys, "ram-ro", ram, 0x800, 0x800, NULL);
    CHECK(al != NULL);
    CHECK_EQ_INT(gm_region_set_readonly(al, true, NULL), 0);
    place(&e, 0x8000, al, 0);

    /* ROM */
    CHECK_EQ_INT(gm_space_load(e.as, 0x10, 4, GM_ENDIAN_LITTLE, &v, A), OK);
    CHECK_EQ_U64(v, 0x33333333);
    CHECK_EQ_INT(gm_space_store(e.as, 0x10, 4, GM_ENDIAN_LITTLE, 0, A), ACCESS);
    CHECK_EQ_INT(gm_space_write(e.as, 0x20, buf, 4, A), ACCESS);
    CHECK_EQ_U64(prom[0x10], 0x33);
    CHECK_EQ_U64(prom[0x20], 0x33);

    /* read-only RAM */
    CHECK_EQ_INT(gm_space_load(e.as, 0x1010, 2, GM_ENDIAN_LITTLE, &v, A), OK);
    CHECK_EQ_U64(v, 0x4444);
    CHECK_EQ_INT(gm_space_store(e.as, 0x1010, 2, GM_ENDIAN_LITTLE, 0, A),
                 ACCESS);
    CHECK_EQ_U64(pro[0x10], 0x44);
    /* Turning it writable again. */
    CHECK_EQ_INT(gm_region_set_readonly(ro, false, NULL), 0);
    CHECK_EQ_INT(gm_space_store(e.as, 0x1010, 2, GM_ENDIAN_LITTLE, 0x1234, A),
                 OK);
    CHECK_EQ_U64(pro[0x10], 0x34);

    /* read-only through an alias: the RAM itself stays writable. */
    CHECK_EQ_INT(gm_space_load(e.as, 0x8000, 1, GM_ENDIAN_LITTLE, &v, A), OK);
    CHECK_EQ_U64(v, 0x55);
    CHECK_EQ_INT(gm_space_store(e.as, 0x8000, 1, GM_ENDIAN_LITTLE, 0x66, A),
                 ACCESS);
    CHECK_EQ_U64(pram[0x800], 0x55);
    CHECK_EQ_INT(gm_space_store(e.as, 0x2800, 1, GM_ENDIAN_LITTLE, 0x66, A),
                 OK);
    CHECK_EQ_U64(pram[0x800], 0x66);
    CHECK_EQ_INT(gm_space_load(e.as, 0x8000, 1, GM_ENDIAN_LITTLE, &v, A), OK);
    CHECK_EQ_U64(v, 0x66);

    /* A write across the ROM and the (writable) RAM: OR of the parts. */
    CHECK_EQ_INT(gm_space_write(e.as, 0xffe, buf, 4, A), ACCESS);
    CHECK_EQ_U64(prom[0xffe], 0x33);
    CHECK_EQ_U64(pro[0x0], 3);
    CHECK_EQ_U64(pro[0x1], 4);

    gm_region_unref(ram);
    env_fini(&e);
}

/*
 * ROM device.
 */

static void test_rom_device(void)
{
    struct env e;
    struct dev d;
    struct gm_region_ops o = dev_ops(GM_ENDIAN_LITTLE);
    gm_region *rd;
    uint8_t *p;
    uint64_t v;

    env_init(&e);
    dev_init(&d, false);
    rd = gm_region_new_rom_device(e.sys, "flash", 0x1000, &o, &d, NULL);
    CHECK(rd != NULL);
    CHECK(gm_region_romd(rd));
    p = gm_region_ram_ptr(rd);
    CHECK(p != NULL);
    for (unsigned i = 0; i < 0x1000; i++) {
        p[i] = (uint8_t)(0x80 + i);
    }
    place(&e, 0x40000, gm_region_ref(rd), 0);

    /* romd: reads from RAM, no callback. */
    CHECK_EQ_INT(gm_space_load(e.as, 0x40004, 4, GM_ENDIAN_LITTLE, &v, A), OK);
    CHECK_EQ_U64(v, 0x87868584);
    CHECK_EQ_INT(d.n, 0);
    /* romd: writes go to ops (offset relative to the region). */
    CHECK_EQ_INT(
        gm_space_store(e.as, 0x40008, 4, GM_ENDIAN_LITTLE, 0xdeadbeef, A), OK);
    CHECK_EQ_INT(d.n, 1);
    CHECK_CALL(&d, 0, true, 0x8, 4, 0xdeadbeef);
    CHECK_EQ_U64(p[0x8], 0x88);

    /* not romd: both go to ops. */
    CHECK_EQ_INT(gm_region_set_romd(rd, false, NULL), 0);
    d.n = 0;
    CHECK_EQ_INT(gm_space_load(e.as, 0x40004, 4, GM_ENDIAN_LITTLE, &v, A), OK);
    CHECK_EQ_U64(v, 0x17161514);
    CHECK_EQ_INT(d.n, 1);
    CHECK_CALL(&d, 0, false, 0x4, 4, 0x17161514);
    CHECK_EQ_INT(gm_space_store(e.as, 0x40010, 2, GM_ENDIAN_LITTLE, 0x77, A),
                 OK);
    CHECK_EQ_INT(d.n, 2);
    CHECK_CALL(&d, 1, true, 0x10, 2, 0x77);

    /* And back. */
    CHECK_EQ_INT(gm_region_set_romd(rd, true, NULL), 0);
    CHECK_EQ_INT(gm_space_load(e.as, 0x40004, 1, GM_ENDIAN_LITTLE, &v, A), OK);
    CHECK_EQ_U64(v, 0x84);
    CHECK_EQ_INT(d.n, 2);
    gm_region_unref(rd);
    env_fini(&e);
}

/*
 * MMIO basics.
 */

/* Offsets are relative to the region, through containers and aliases. */
static void test_mmio_offsets(void)
{
    struct env e;
    struct dev d;
    struct gm_region_ops o = dev_ops(GM_ENDIAN_LITTLE);
    gm_region *io, *c, *al;
    uint64_t v;

    env_init(&e);
    dev_init(&d, false);
    io = gm_region_new_io(e.sys, "io", 0x40, &o, &d, NULL);
    c = gm_region_new_container(e.sys, "bus", 0x1000, NULL);
    CHECK(io && c);
    CHECK_EQ_INT(gm_region_add_subregion(c, 0x100, io, NULL), 0);
    place(&e, 0xfee00000, c, 0);
    al = gm_region_new_alias(e.sys, "io-hi", io, 0x20, 0x20, NULL);
    gm_region_unref(io);
    place(&e, 0x5000, al, 0);

    CHECK_EQ_INT(gm_space_load(e.as, 0xfee00104, 4, GM_ENDIAN_LITTLE, &v, A),
                 OK);
    CHECK_EQ_U64(v, 0x17161514);
    CHECK_CALL(&d, 0, false, 0x4, 4, 0x17161514);
    CHECK_EQ_INT(
        gm_space_store(e.as, 0xfee00130, 2, GM_ENDIAN_LITTLE, 0xabcd, A), OK);
    CHECK_CALL(&d, 1, true, 0x30, 2, 0xabcd);
    CHECK_EQ_INT(gm_space_load(e.as, 0x5010, 2, GM_ENDIAN_LITTLE, &v, A), OK);
    CHECK_CALL(&d, 2, false, 0x30, 2, 0xabcd);
    CHECK_EQ_U64(v, 0xabcd);
    CHECK_EQ_INT(d.n, 3);
    /* Past the region's end: a hole. */
    CHECK_EQ_INT(gm_space_load(e.as, 0xfee00140, 1, GM_ENDIAN_LITTLE, &v, A),
                 DECODE);
    CHECK_EQ_INT(d.n, 3);
    env_fini(&e);
}

/* The device's byte order against the access's. */
static void test_mmio_device_endianness(void)
{
    struct env e;
    struct dev dl, db, dn;
    struct gm_region_ops ol = dev_ops(GM_ENDIAN_LITTLE);
    struct gm_region_ops ob = dev_ops(GM_ENDIAN_BIG);
    struct gm_region_ops on = dev_ops(GM_ENDIAN_NATIVE);
    uint64_t v;
    uint8_t buf[4];

    env_init(&e);
    dev_init(&dl, false);
    dev_init(&db, true);
    dev_init(&dn, false);
    dl.fixed = db.fixed = dn.fixed = true;
    dl.fixed_val = db.fixed_val = dn.fixed_val = 0x11223344;
    place(&e, 0x1000, gm_region_new_io(e.sys, "le", 0x10, &ol, &dl, NULL), 0);
    place(&e, 0x2000, gm_region_new_io(e.sys, "be", 0x10, &ob, &db, NULL), 0);
    place(&e, 0x3000, gm_region_new_io(e.sys, "ne", 0x10, &on, &dn, NULL), 0);

    /* LE device */
    CHECK_EQ_INT(gm_space_load(e.as, 0x1000, 4, GM_ENDIAN_LITTLE, &v, A), OK);
    CHECK_EQ_U64(v, 0x11223344);
    CHECK_EQ_INT(gm_space_load(e.as, 0x1000, 4, GM_ENDIAN_BIG, &v, A), OK);
    CHECK_EQ_U64(v, 0x44332211);
    CHECK_EQ_INT(gm_space_read(e.as, 0x1000, buf, 4, A), OK);
    CHECK(memcmp(buf, "\x44\x33\x22\x11", 4) == 0);
    /* BE device */
    CHECK_EQ_INT(gm_space_load(e.as, 0x2000, 4, GM_ENDIAN_BIG, &v, A), OK);
    CHECK_EQ_U64(v, 0x11223344);
    CHECK_EQ_INT(gm_space_load(e.as, 0x2000, 4, GM_ENDIAN_LITTLE, &v, A), OK);
    CHECK_EQ_U64(v, 0x44332211);
    CHECK_EQ_INT(gm_space_read(e.as, 0x2000, buf, 4, A), OK);
    CHECK(memcmp(buf, "\x11\x22\x33\x44", 4) == 0);
    /* 2-byte loads of a device returning a wider value: truncated. */
    CHECK_EQ_INT(gm_space_load(e.as, 0x1000, 2, GM_ENDIAN_LITTLE, &v, A), OK);
    CHECK_EQ_U64(v, 0x3344);
    CHECK_EQ_INT(gm_space_load(e.as, 0x2000, 2, GM_ENDIAN_LITTLE, &v, A), OK);
    CHECK_EQ_U64(v, 0x4433);
    /* Native device */
    CHECK_EQ_INT(gm_space_load(e.as, 0x3000, 4, GM_ENDIAN_NATIVE, &v, A), OK);
    CHECK_EQ_U64(v, 0x11223344);

    /* Stores: the device sees the value in its own order. */
    CHECK_EQ_INT(gm_space_store(e.as, 0x1004, 4, GM_ENDIAN_BIG, 0xaabbccdd, A),
                 OK);
    CHECK_CALL(&dl, dl.n - 1, true, 4, 4, 0xddccbbaa);
    CHECK_EQ_INT(gm_space_store(e.as, 0x2004, 4, GM_ENDIAN_BIG, 0xaabbccdd, A),
                 OK);
    CHECK_CALL(&db, db.n - 1, true, 4, 4, 0xaabbccdd);
    CHECK_EQ_INT(
        gm_space_store(e.as, 0x2004, 4, GM_ENDIAN_LITTLE, 0xaabbccdd, A), OK);
    CHECK_CALL(&db, db.n - 1, true, 4, 4, 0xddccbbaa);
    CHECK_EQ_INT(gm_space_write(e.as, 0x2008, "\x01\x02", 2, A), OK);
    CHECK_CALL(&db, db.n - 1, true, 8, 2, 0x0102);
    CHECK_EQ_INT(gm_space_write(e.as, 0x1008, "\x01\x02", 2, A), OK);
    CHECK_CALL(&dl, dl.n - 1, true, 8, 2, 0x0201);
    env_fini(&e);
}

/*
 * valid.max_access_size through the read path: gm_space_read cuts an
 * access into the largest power of two the device takes at that alignment
 * (QEMU's memory_access_size in flatview_read_continue).
 */
static void test_mmio_valid_max_read_path(void)
{
    struct env e;
    struct dev d, d8, du;
    struct gm_region_ops o = dev_ops(GM_ENDIAN_LITTLE);
    struct gm_region_ops o8 = dev_ops(GM_ENDIAN_LITTLE);
    struct gm_region_ops ou = dev_ops(GM_ENDIAN_LITTLE);
    uint8_t buf[16], exp[16];

    env_init(&e);
    dev_init(&d, false);
    dev_init(&d8, false);
    dev_init(&du, false);
    o.valid.max_access_size = 4;
    o8.valid.max_access_size = 8;
    o8.impl.max_access_size = 8;
    ou.valid.max_access_size = 4;
    ou.valid.unaligned = true;
    ou.impl.unaligned = true;
    place(&e, 0x1000, gm_region_new_io(e.sys, "d4", 0x40, &o, &d, NULL), 0);
    place(&e, 0x2000, gm_region_new_io(e.sys, "d8", 0x40, &o8, &d8, NULL), 0);
    place(&e, 0x3000, gm_region_new_io(e.sys, "du", 0x40, &ou, &du, NULL), 0);

    /* 8 bytes at 0 of a max-4 device: two 4-byte reads. */
    CHECK_EQ_INT(gm_space_read(e.as, 0x1000, buf, 8, A), OK);
    CHECK(memcmp(buf, d.regs, 8) == 0);
    CHECK_EQ_INT(d.n, 2);
    CHECK_CALL(&d, 0, false, 0, 4, 0x13121110);
    CHECK_CALL(&d, 1, false, 4, 4, 0x17161514);

    /* 11 bytes at 2: 2 (alignment), 4, 4, 1. */
    d.n = 0;
    CHECK_EQ_INT(gm_space_read(e.as, 0x1002, buf, 11, A), OK);
    CHECK(memcmp(buf, d.regs + 2, 11) == 0);
    CHECK_EQ_INT(d.n, 4);
    CHECK_CALL(&d, 0, false, 2, 2, 0x1312);
    CHECK_CALL(&d, 1, false, 4, 4, 0x17161514);
    CHECK_CALL(&d, 2, false, 8, 4, 0x1b1a1918);
    CHECK_CALL(&d, 3, false, 12, 1, 0x1c);

    /* 8 bytes of a max-8 (impl 8) device: one access. */
    CHECK_EQ_INT(gm_space_read(e.as, 0x2008, buf, 8, A), OK);
    CHECK_EQ_INT(d8.n, 1);
    CHECK_CALL(&d8, 0, false, 8, 8, 0x1f1e1d1c1b1a1918ULL);
    /* 7 bytes at 1: 1, 2, 4. */
    d8.n = 0;
    CHECK_EQ_INT(gm_space_read(e.as, 0x2001, buf, 7, A), OK);
    CHECK_EQ_INT(d8.n, 3);
    CHECK_CALL(&d8, 0, false, 1, 1, 0x11);
    CHECK_CALL(&d8, 1, false, 2, 2, 0x1312);
    CHECK_CALL(&d8, 2, false, 4, 4, 0x17161514);

    /* impl.unaligned: no alignment cut; 7 bytes at 1: 4, 2, 1. */
    CHECK_EQ_INT(gm_space_read(e.as, 0x3001, buf, 7, A), OK);
    CHECK(memcmp(buf, du.regs + 1, 7) == 0);
    CHECK_EQ_INT(du.n, 3);
    CHECK_CALL(&du, 0, false, 1, 4, 0x14131211);
    CHECK_CALL(&du, 1, false, 5, 2, 0x1615);
    CHECK_CALL(&du, 2, false, 7, 1, 0x17);

    /* Writes are cut the same way. */
    for (unsigned i = 0; i < 16; i++) {
        exp[i] = (uint8_t)(0xe0 + i);
    }
    d.n = 0;
    CHECK_EQ_INT(gm_space_write(e.as, 0x1006, exp, 8, A), OK);
    CHECK_EQ_INT(d.n, 3);
    CHECK_CALL(&d, 0, true, 6, 2, 0xe1e0);
    CHECK_CALL(&d, 1, true, 8, 4, 0xe5e4e3e2);
    CHECK_CALL(&d, 2, true, 12, 2, 0xe7e6);
    CHECK(memcmp(d.regs + 6, exp, 8) == 0);
    env_fini(&e);
}

/*
 * valid.max_access_size through loads and stores: QEMU's
 * address_space_ldq/stq dispatch the whole access at once
 * (memory_region_dispatch_read with MO_64), and
 * memory_region_access_valid refuses it: a decode error, the space's
 * unassigned value, and no callback. Likewise an unaligned 4-byte load of
 * a device without valid.unaligned.
 */
static void test_mmio_valid_max_load_store(void)
{
    struct env e;
    struct dev d;
    struct gm_region_ops o = dev_ops(GM_ENDIAN_LITTLE);
    uint64_t v;

    env_init(&e);
    dev_init(&d, false);
    o.valid.max_access_size = 4;
    place(&e, 0x1000, gm_region_new_io(e.sys, "d4", 0x40, &o, &d, NULL), 0);

    v = 0x5a5a5a5a5a5a5a5aULL;
    CHECK_EQ_INT(gm_space_load(e.as, 0x1000, 8, GM_ENDIAN_LITTLE, &v, A),
                 DECODE);
    CHECK_EQ_U64(v, unassigned_val(e.as, 8));
    CHECK_EQ_INT(d.n, 0);
    CHECK_EQ_INT(gm_space_store(e.as, 0x1008, 8, GM_ENDIAN_LITTLE, 0, A),
                 DECODE);
    CHECK_EQ_INT(d.n, 0);
    CHECK_EQ_U64(d.regs[8], 0x18);
    /* Unaligned 4-byte load at offset 2. */
    v = 0x5a5a5a5a5a5a5a5aULL;
    CHECK_EQ_INT(gm_space_load(e.as, 0x1002, 4, GM_ENDIAN_LITTLE, &v, A),
                 DECODE);
    CHECK_EQ_U64(v, unassigned_val(e.as, 4));
    CHECK_EQ_INT(d.n, 0);
    /* The 4-byte aligned load is fine. */
    CHECK_EQ_INT(gm_space_load(e.as, 0x1004, 4, GM_ENDIAN_LITTLE, &v, A), OK);
    CHECK_EQ_U64(v, 0x17161514);
    CHECK_EQ_INT(d.n, 1);
    env_fini(&e);
}

/* valid.min_access_size: a smaller access is refused. */
static void test_mmio_valid_min(void)
{
    struct env e;
    struct dev d;
    struct gm_region_ops o = dev_ops(GM_ENDIAN_LITTLE);
    uint64_t v;
    uint8_t buf[4];

    env_init(&e);
    dev_init(&d, false);
    o.valid.min_access_size = 4;
    o.valid.max_access_size = 4;
    place(&e, 0x1000, gm_region_new_io(e.sys, "d", 0x40, &o, &d, NULL), 0);

    v = 0x5a5a5a5a5a5a5a5aULL;
    CHECK_EQ_INT(gm_space_load(e.as, 0x1004, 1, GM_ENDIAN_LITTLE, &v, A),
                 DECODE);
    CHECK_EQ_U64(v, unassigned_val(e.as, 1));
    v = 0x5a5a5a5a5a5a5a5aULL;
    CHECK_EQ_INT(gm_space_load(e.as, 0x1004, 2, GM_ENDIAN_LITTLE, &v, A),
                 DECODE);
    CHECK_EQ_U64(v, unassigned_val(e.as, 2));
    CHECK_EQ_INT(gm_space_store(e.as, 0x1004, 2, GM_ENDIAN_LITTLE, 0, A),
                 DECODE);
    CHECK_EQ_INT(d.n, 0);
    CHECK_EQ_U64(d.regs[4], 0x14);
    /* Through the read path: 2 bytes are one 2-byte chunk, refused. */
    memset(buf, 0x5a, sizeof(buf));
    CHECK_EQ_INT(gm_space_read(e.as, 0x1004, buf, 2, A), DECODE);
    CHECK(all_unassigned(e.as, buf, 2));
    CHECK(memcmp(buf + 2, "\x5a\x5a", 2) == 0);
    CHECK_EQ_INT(d.n, 0);
    /* 4 bytes are fine. */
    CHECK_EQ_INT(gm_space_load(e.as, 0x1004, 4, GM_ENDIAN_LITTLE, &v, A), OK);
    CHECK_EQ_U64(v, 0x17161514);
    CHECK_EQ_INT(d.n, 1);
    env_fini(&e);
}

/*
 * valid.unaligned: an unaligned access is refused unless the device allows
 * it. The read path only produces unaligned device accesses when
 * impl.unaligned lets it skip the alignment cut.
 */
static void test_mmio_valid_unaligned(void)
{
    struct env e;
    struct dev dr, da;
    struct gm_region_ops orf = dev_ops(GM_ENDIAN_LITTLE);
    struct gm_region_ops oa = dev_ops(GM_ENDIAN_LITTLE);
    uint8_t buf[4];
    uint64_t v;

    env_init(&e);
    dev_init(&dr, false);
    dev_init(&da, false);
    /* impl.unaligned but not valid.unaligned: refused. */
    orf.impl.unaligned = true;
    oa.impl.unaligned = true;
    oa.valid.unaligned = true;
    place(&e, 0x1000, gm_region_new_io(e.sys, "r", 0x40, &orf, &dr, NULL), 0);
    place(&e, 0x2000, gm_region_new_io(e.sys, "a", 0x40, &oa, &da, NULL), 0);

    memset(buf, 0x5a, sizeof(buf));
    CHECK_EQ_INT(gm_space_read(e.as, 0x1002, buf, 4, A), DECODE);
    CHECK(all_unassigned(e.as, buf, 4));
    CHECK_EQ_INT(dr.n, 0);
    CHECK_EQ_INT(gm_space_write(e.as, 0x1001, buf, 2, A), DECODE);
    CHECK_EQ_INT(dr.n, 0);
    /* Aligned parts are fine. */
    CHECK_EQ_INT(gm_space_read(e.as, 0x1004, buf, 4, A), OK);
    CHECK_EQ_INT(dr.n, 1);

    CHECK_EQ_INT(gm_space_read(e.as, 0x2002, buf, 4, A), OK);
    CHECK(memcmp(buf, da.regs + 2, 4) == 0);
    CHECK_EQ_INT(da.n, 1);
    CHECK_CALL(&da, 0, false, 2, 4, 0x15141312);
    CHECK_EQ_INT(gm_space_load(e.as, 0x2001, 2, GM_ENDIAN_LITTLE, &v, A), OK);
    CHECK_EQ_U64(v, 0x1211);
    env_fini(&e);
}

/* valid.accepts refusing: decode error; it sees is_write and attrs. */
static void test_mmio_valid_accepts(void)
{
    struct env e;
    struct dev d;
    struct gm_region_ops o = dev_ops(GM_ENDIAN_LITTLE);
    struct gm_mem_attrs at = {0x1234, true, false};
    uint64_t v;

    env_init(&e);
    dev_init(&d, false);
    o.valid.accepts = dev_accepts;
    d.refuse_writes = true;
    d.refuse_off = 0x8;
    place(&e, 0x1000, gm_region_new_io(e.sys, "d", 0x40, &o, &d, NULL), 0);

    CHECK_EQ_INT(gm_space_load(e.as, 0x1004, 4, GM_ENDIAN_LITTLE, &v, at), OK);
    CHECK_EQ_U64(v, 0x17161514);
    CHECK_EQ_INT(d.naccepts, 1);
    CHECK_EQ_INT(d.last_accepts.is_write, false);
    CHECK_EQ_U64(d.last_accepts.off, 4);
    CHECK_EQ_INT(d.last_accepts.size, 4);
    CHECK_EQ_U64(d.last_accepts.attrs.requester_id, 0x1234);
    CHECK_EQ_INT(d.last_accepts.attrs.secure, true);

    /* Refused write. */
    CHECK_EQ_INT(gm_space_store(e.as, 0x1004, 2, GM_ENDIAN_LITTLE, 0, at),
                 DECODE);
    CHECK_EQ_INT(d.last_accepts.is_write, true);
    CHECK_EQ_INT(d.last_accepts.size, 2);
    CHECK_EQ_U64(d.last_accepts.attrs.requester_id, 0x1234);
    CHECK_EQ_INT(d.n, 1);
    CHECK_EQ_U64(d.regs[4], 0x14);

    /* Refused offset. */
    v = 0x5a5a5a5a5a5a5a5aULL;
    CHECK_EQ_INT(gm_space_load(e.as, 0x1008, 4, GM_ENDIAN_LITTLE, &v, A),
                 DECODE);
    CHECK_EQ_U64(v, unassigned_val(e.as, 4));
    CHECK_EQ_INT(d.n, 1);
    CHECK_EQ_U64(d.last_accepts.off, 8);
    CHECK_EQ_U64(d.last_accepts.attrs.requester_id, 0);
    CHECK_EQ_INT(d.last_accepts.attrs.secure, false);
    env_fini(&e);
}

/* impl.max 2: a 4-byte access becomes two 2-byte callbacks. */
static void test_mmio_impl_split(void)
{
    struct env e;
    struct dev dl, db;
    struct gm_region_ops ol = dev_ops(GM_ENDIAN_LITTLE);
    struct gm_region_ops ob = dev_ops(GM_ENDIAN_BIG);
    uint64_t v;

    env_init(&e);
    dev_init(&dl, false);
    dev_init(&db, true);
    ol.impl.max_access_size = 2;
    ob.impl.max_access_size = 2;
    place(&e, 0x1000, gm_region_new_io(e.sys, "le", 0x40, &ol, &dl, NULL), 0);
    place(&e, 0x2000, gm_region_new_io(e.sys, "be", 0x40, &ob, &db, NULL), 0);

    /* LE: low half at the lower offset. */
    CHECK_EQ_INT(gm_space_load(e.as, 0x1004, 4, GM_ENDIAN_LITTLE, &v, A), OK);
    CHECK_EQ_INT(dl.n, 2);
    CHECK_CALL(&dl, 0, false, 4, 2, 0x1514);
    CHECK_CALL(&dl, 1, false, 6, 2, 0x1716);
    CHECK_EQ_U64(v, 0x17161514);
    CHECK_EQ_INT(
        gm_space_store(e.as, 0x1008, 4, GM_ENDIAN_LITTLE, 0xaabbccdd, A), OK);
    CHECK_EQ_INT(dl.n, 4);
    CHECK_CALL(&dl, 2, true, 8, 2, 0xccdd);
    CHECK_CALL(&dl, 3, true, 10, 2, 0xaabb);

    /* BE: high half at the lower offset. */
    CHECK_EQ_INT(gm_space_load(e.as, 0x2004, 4, GM_ENDIAN_BIG, &v, A), OK);
    CHECK_EQ_INT(db.n, 2);
    CHECK_CALL(&db, 0, false, 4, 2, 0x1415);
    CHECK_CALL(&db, 1, false, 6, 2, 0x1617);
    CHECK_EQ_U64(v, 0x14151617);
    CHECK_EQ_INT(gm_space_store(e.as, 0x2008, 4, GM_ENDIAN_BIG, 0xaabbccdd, A),
                 OK);
    CHECK_EQ_INT(db.n, 4);
    CHECK_CALL(&db, 2, true, 8, 2, 0xaabb);
    CHECK_CALL(&db, 3, true, 10, 2, 0xccdd);
    /* An 8-byte write through the read path of a max-0 device: 4 + 4, each
     * split into 2 + 2. */
    dl.n = 0;
    CHECK_EQ_INT(
        gm_space_write(e.as, 0x1010, "\x01\x02\x03\x04\x05\x06\x07\x08", 8, A),
        OK);
    CHECK_EQ_INT(dl.n, 4);
    CHECK_CALL(&dl, 0, true, 0x10, 2, 0x0201);
    CHECK_CALL(&dl, 1, true, 0x12, 2, 0x0403);
    CHECK_CALL(&dl, 2, true, 0x14, 2, 0x0605);
    CHECK_CALL(&dl, 3, true, 0x16, 2, 0x0807);
    env_fini(&e);
}

/*
 * impl.min 4: a 1-byte access becomes one 4-byte callback at the same
 * offset; the caller gets the byte the device's order puts there (QEMU's
 * access_with_adjusted_size shifts by (size - access_size) * 8 for BE).
 */
static void test_mmio_impl_widen(void)
{
    struct env e;
    struct dev dl, db;
    struct gm_region_ops ol = dev_ops(GM_ENDIAN_LITTLE);
    struct gm_region_ops ob = dev_ops(GM_ENDIAN_BIG);
    uint64_t v;
    uint8_t b;

    env_init(&e);
    dev_init(&dl, false);
    dev_init(&db, true);
    dl.fixed = db.fixed = true;
    dl.fixed_val = db.fixed_val = 0x11223344;
    ol.impl.min_access_size = 4;
    ob.impl.min_access_size = 4;
    place(&e, 0x1000, gm_region_new_io(e.sys, "le", 0x40, &ol, &dl, NULL), 0);
    place(&e, 0x2000, gm_region_new_io(e.sys, "be", 0x40, &ob, &db, NULL), 0);

    CHECK_EQ_INT(gm_space_load(e.as, 0x1000, 1, GM_ENDIAN_LITTLE, &v, A), OK);
    CHECK_EQ_INT(dl.n, 1);
    CHECK_CALL(&dl, 0, false, 0, 4, 0x11223344);
    CHECK_EQ_U64(v, 0x44);
    CHECK_EQ_INT(gm_space_load(e.as, 0x1000, 2, GM_ENDIAN_LITTLE, &v, A), OK);
    CHECK_EQ_U64(v, 0x3344);
    CHECK_EQ_INT(gm_space_read(e.as, 0x1001, &b, 1, A), OK);
    CHECK_CALL(&dl, 2, false, 1, 4, 0x11223344);
    CHECK_EQ_U64(b, 0x44);

    CHECK_EQ_INT(gm_space_load(e.as, 0x2000, 1, GM_ENDIAN_LITTLE, &v, A), OK);
    CHECK_EQ_INT(db.n, 1);
    CHECK_CALL(&db, 0, false, 0, 4, 0x11223344);
    CHECK_EQ_U64(v, 0x11);
    CHECK_EQ_INT(gm_space_load(e.as, 0x2000, 2, GM_ENDIAN_BIG, &v, A), OK);
    CHECK_EQ_U64(v, 0x1122);

    /* Writes: the value placed where the device's order puts it. */
    CHECK_EQ_INT(gm_space_store(e.as, 0x1003, 1, GM_ENDIAN_LITTLE, 0xab, A),
                 OK);
    CHECK_CALL(&dl, dl.n - 1, true, 3, 4, 0xab);
    CHECK_EQ_INT(gm_space_store(e.as, 0x2003, 1, GM_ENDIAN_LITTLE, 0xab, A),
                 OK);
    CHECK_CALL(&db, db.n - 1, true, 3, 4, 0xab000000);
    CHECK_EQ_INT(gm_space_store(e.as, 0x2002, 2, GM_ENDIAN_BIG, 0xabcd, A), OK);
    CHECK_CALL(&db, db.n - 1, true, 2, 4, 0xabcd0000);
    env_fini(&e);
}

/* read_with_attrs / write_with_attrs: attributes in, results out. */
static void test_mmio_with_attrs(void)
{
    struct env e;
    struct dev d;
    struct gm_region_ops o;
    struct gm_mem_attrs at = {0x0308, true, true};
    uint64_t v;
    uint8_t buf[0x40];

    env_init(&e);
    dev_init(&d, false);
    memset(&o, 0, sizeof(o));
    o.read = dev_read; /* the _with_attrs pair wins */
    o.write = dev_write;
    o.read_with_attrs = dev_read_attrs;
    o.write_with_attrs = dev_write_attrs;
    o.endianness = GM_ENDIAN_LITTLE;
    d.err_off = 0x10;
    d.err_res = ACCESS;
    place(&e, 0x1000, gm_region_new_io(e.sys, "d", 0x40, &o, &d, NULL), 0);

    CHECK_EQ_INT(gm_space_load(e.as, 0x1004, 4, GM_ENDIAN_LITTLE, &v, at), OK);
    CHECK_EQ_U64(v, 0x17161514);
    CHECK_EQ_INT(d.n, 1);
    CHECK_EQ_U64(d.log[0].attrs.requester_id, 0x0308);
    CHECK_EQ_INT(d.log[0].attrs.secure, true);
    CHECK_EQ_INT(d.log[0].attrs.user, true);
    CHECK_EQ_INT(gm_space_store(e.as, 0x1008, 4, GM_ENDIAN_LITTLE, 5, at), OK);
    CHECK_EQ_INT(d.n, 2);
    CHECK_EQ_U64(d.log[1].attrs.requester_id, 0x0308);
    CHECK_EQ_INT(d.log[1].attrs.secure, true);

    /* Errors returned by the device propagate (and OR over parts). */
    CHECK_EQ_INT(gm_space_load(e.as, 0x1010, 4, GM_ENDIAN_LITTLE, &v, A),
                 ACCESS);
    CHECK_EQ_U64(v, 0x23222120);
    CHECK_EQ_INT(gm_space_store(e.as, 0x1010, 4, GM_ENDIAN_LITTLE, 0, A),
                 ACCESS);
    CHECK_EQ_INT(gm_space_read(e.as, 0x100c, buf, 8, A), ACCESS);
    CHECK_EQ_INT(gm_space_read(e.as, 0x103c, buf, 8, A), DECODE);
    CHECK_EQ_INT(gm_space_read(e.as, 0x100c, buf, 0x38, A), ACCESS | DECODE);
    env_fini(&e);
}

/* gm_region_new_io with NULL ops: an unassigned reservation. */
static void test_mmio_unassigned(void)
{
    struct env e;
    gm_region *ram;
    uint64_t v;
    uint8_t buf[8];

    env_init(&e);
    ram = new_ram(&e, "ram", 0x1000, 0x12);
    place(&e, 0x0, ram, 0);
    place(&e, 0x800, gm_region_new_io(e.sys, "resv", 0x100, NULL, NULL, NULL),
          1);

    v = 0x5a5a5a5a5a5a5a5aULL;
    CHECK_EQ_INT(gm_space_load(e.as, 0x800, 4, GM_ENDIAN_LITTLE, &v, A),
                 DECODE);
    CHECK_EQ_U64(v, unassigned_val(e.as, 4));
    /* Its last 4 bytes, then 4 bytes of RAM. */
    CHECK_EQ_INT(gm_space_load(e.as, 0x8fc, 8, GM_ENDIAN_LITTLE, &v, A),
                 DECODE);
    CHECK_EQ_U64(v, 0x1212121200000000ULL | unassigned_val(e.as, 4));
    CHECK_EQ_INT(gm_space_store(e.as, 0x810, 4, GM_ENDIAN_LITTLE, 0, A),
                 DECODE);
    CHECK_EQ_U64(((uint8_t *)gm_region_ram_ptr(ram))[0x810], 0x12);
    memset(buf, 0x5a, sizeof(buf));
    CHECK_EQ_INT(gm_space_read(e.as, 0x7fc, buf, 8, A), DECODE);
    CHECK(memcmp(buf, "\x12\x12\x12\x12", 4) == 0);
    CHECK(all_unassigned(e.as, buf + 4, 4));
    env_fini(&e);
}

/*
 * What unassigned reads return, per space. The machine of
 * test_unassigned_value(): an unassigned reservation (NULL ops) at 0x1000,
 * a device refusing every access (accepts) at 0x1100, one taking only
 * 4-byte accesses (valid rules) at 0x1200 and a hole from 0x1300.
 */
#define UA_NULL 0x1000
#define UA_REFUSE 0x1100
#define UA_NARROW 0x1200
#define UA_HOLE 0x1300

static bool accepts_none(void *opaque, uint64_t off, unsigned size,
                         bool is_write, struct gm_mem_attrs attrs)
{
    (void)opaque;
    (void)off;
    (void)size;
    (void)is_write;
    (void)attrs;
    return false;
}

/* @size bytes of @fill as a value (the fill byte in every byte). */
static uint64_t fill_val(uint8_t fill, unsigned size)
{
    return fill ? (size >= 8 ? UINT64_MAX : (1ULL << (size * 8)) - 1) : 0;
}

static bool all_bytes(const uint8_t *buf, size_t len, uint8_t b)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] != b) {
            return false;
        }
    }
    return true;
}

/*
 * Every way a read can reach those addresses of @as gives @fill and a
 * decode error, and no device sees a callback: gm_space_read,
 * gm_space_load of each size, a cache's slow paths and bounce DMA maps.
 */
static void check_unassigned_reads(gm_space *as, uint8_t fill,
                                   const struct dev *refuse,
                                   const struct dev *narrow)
{
    static const uint64_t at[] = {UA_NULL, UA_REFUSE, UA_HOLE};
    static const unsigned narrow_sizes[] = {1, 2, 8};
    struct gm_cache c;
    uint8_t buf[0x40];
    uint64_t v, len;
    void *m;

    for (unsigned i = 0; i < 3; i++) {
        for (unsigned s = 1; s <= 8; s *= 2) {
            v = 0x5a5a5a5a5a5a5a5aULL;
            CHECK_EQ_INT(
                gm_space_load(as, at[i] + 8, s, GM_ENDIAN_LITTLE, &v, A),
                DECODE);
            CHECK_EQ_U64(v, fill_val(fill, s));
            v = 0x5a5a5a5a5a5a5a5aULL;
            CHECK_EQ_INT(gm_space_load(as, at[i] + 8, s, GM_ENDIAN_BIG, &v, A),
                         DECODE);
            CHECK_EQ_U64(v, fill_val(fill, s));
        }
        memset(buf, 0x5a, sizeof(buf));
        CHECK_EQ_INT(gm_space_read(as, at[i], buf, 16, A), DECODE);
        CHECK(all_bytes(buf, 16, fill));
        CHECK_EQ_U64(buf[16], 0x5a);
    }
    /* Across the reservation, the refusing device and (far) a hole. */
    memset(buf, 0x5a, sizeof(buf));
    CHECK_EQ_INT(gm_space_read(as, UA_REFUSE - 0x10, buf, 0x20, A), DECODE);
    CHECK(all_bytes(buf, 0x20, fill));
    /* The valid rules refuse sizes other than 4. */
    for (unsigned i = 0; i < 3; i++) {
        unsigned s = narrow_sizes[i];
        v = 0x5a5a5a5a5a5a5a5aULL;
        CHECK_EQ_INT(gm_space_load(as, UA_NARROW + 8, s, GM_ENDIAN_LITTLE, &v,
                                   A),
                     DECODE);
        CHECK_EQ_U64(v, fill_val(fill, s));
    }

    /* A cache over all of it: never direct, every access is a slow one. */
    CHECK_EQ_INT(gm_cache_init(&c, as, UA_NULL, UA_HOLE + 0x100 - UA_NULL,
                               false, NULL),
                 0);
    CHECK(!gm_cache_is_direct(&c));
    for (unsigned i = 0; i < 3; i++) {
        for (unsigned s = 1; s <= 8; s *= 2) {
            v = 0x5a5a5a5a5a5a5a5aULL;
            CHECK_EQ_INT(gm_cache_load(&c, at[i] - UA_NULL + 8, s,
                                       GM_ENDIAN_LITTLE, &v),
                         DECODE);
            CHECK_EQ_U64(v, fill_val(fill, s));
        }
        memset(buf, 0x5a, sizeof(buf));
        CHECK_EQ_INT(gm_cache_read(&c, at[i] - UA_NULL, buf, 16), DECODE);
        CHECK(all_bytes(buf, 16, fill));
    }
    for (unsigned i = 0; i < 3; i++) {
        unsigned s = narrow_sizes[i];
        v = 0x5a5a5a5a5a5a5a5aULL;
        CHECK_EQ_INT(gm_cache_load(&c, UA_NARROW - UA_NULL + 8, s,
                                   GM_ENDIAN_BIG, &v),
                     DECODE);
        CHECK_EQ_U64(v, fill_val(fill, s));
    }
    gm_cache_destroy(&c);

    /* Bounce DMA maps read the same; a hole is not mapped at all. */
    for (unsigned i = 0; i < 2; i++) {
        len = 0x40;
        m = gm_space_map(as, at[i], &len, false, A);
        CHECK(m != NULL);
        CHECK_EQ_U64(len, 0x40);
        if (m) {
            CHECK(all_bytes(m, 0x40, fill));
            gm_space_unmap(as, m, len, false, 0);
        }
    }
    len = 0x40;
    CHECK(gm_space_map(as, UA_HOLE, &len, false, A) == NULL);
    CHECK_EQ_U64(len, 0);

    CHECK_EQ_INT(refuse->n, 0);
    CHECK_EQ_INT(narrow->n, 0);
}

/*
 * Unassigned reads: 0 by default (QEMU's unassigned_mem_read()), all-ones
 * once the space asks for it, per space; bad values are refused.
 */
static void test_unassigned_value(void)
{
    struct env e;
    struct dev dr, dn;
    struct gm_region_ops orf = dev_ops(GM_ENDIAN_LITTLE);
    struct gm_region_ops on = dev_ops(GM_ENDIAN_BIG);
    struct gm_cache early;
    gm_error err = {0};
    gm_space *as2;
    uint8_t buf[16];
    uint64_t v;

    env_init(&e);
    dev_init(&dr, false);
    dev_init(&dn, true);
    orf.valid.accepts = accepts_none;
    on.valid.min_access_size = 4;
    on.valid.max_access_size = 4;
    place(&e, UA_NULL, gm_region_new_io(e.sys, "resv", 0x100, NULL, NULL,
                                        NULL),
          0);
    place(&e, UA_REFUSE, gm_region_new_io(e.sys, "refuse", 0x100, &orf, &dr,
                                          NULL),
          0);
    place(&e, UA_NARROW, gm_region_new_io(e.sys, "narrow", 0x100, &on, &dn,
                                          NULL),
          0);

    /* The default. */
    CHECK_EQ_INT(gm_space_unassigned(e.as), GM_UNASSIGNED_ZERO);
    CHECK_EQ_INT(gm_space_unassigned(NULL), GM_UNASSIGNED_ZERO);
    check_unassigned_reads(e.as, 0x00, &dr, &dn);
    /* The narrow device does take 4-byte loads. */
    CHECK_EQ_INT(gm_space_load(e.as, UA_NARROW + 4, 4, GM_ENDIAN_BIG, &v, A),
                 OK);
    CHECK_EQ_U64(v, 0x14151617);
    dn.n = 0;

    /* A cache made now reads the value chosen later. */
    CHECK_EQ_INT(gm_cache_init(&early, e.as, UA_HOLE, 16, false, NULL), 0);
    memset(buf, 0x5a, sizeof(buf));
    CHECK_EQ_INT(gm_cache_read(&early, 0, buf, 16), DECODE);
    CHECK(all_bytes(buf, 16, 0x00));

    /* All-ones, for this space only. */
    CHECK_EQ_INT(gm_space_set_unassigned(e.as, GM_UNASSIGNED_ONES, &err), 0);
    CHECK_EQ_INT(err.code, 0);
    CHECK_EQ_INT(gm_space_unassigned(e.as), GM_UNASSIGNED_ONES);
    check_unassigned_reads(e.as, 0xff, &dr, &dn);
    memset(buf, 0x5a, sizeof(buf));
    CHECK_EQ_INT(gm_cache_read(&early, 0, buf, 16), DECODE);
    CHECK(all_bytes(buf, 16, 0xff));
    v = 0;
    CHECK_EQ_INT(gm_cache_load(&early, 4, 8, GM_ENDIAN_LITTLE, &v), DECODE);
    CHECK_EQ_U64(v, UINT64_MAX);

    /* A second space over the same root (the same view) keeps 0. */
    as2 = gm_space_new(e.sys, e.root, "second", &err);
    CHECK(as2 != NULL);
    if (as2) {
        CHECK_EQ_INT(gm_space_unassigned(as2), GM_UNASSIGNED_ZERO);
        check_unassigned_reads(as2, 0x00, &dr, &dn);
        check_unassigned_reads(e.as, 0xff, &dr, &dn);
    }

    /* Bad values: -EINVAL with a message, and the choice stays. */
    CHECK_EQ_INT(
        gm_space_set_unassigned(e.as, (enum gm_unassigned)2, &err), -EINVAL);
    CHECK_EQ_INT(err.code, -EINVAL);
    CHECK_CONTAINS(err.msg, "unassigned");
    gm_error_clear(&err);
    CHECK_EQ_INT(
        gm_space_set_unassigned(e.as, (enum gm_unassigned)-1, &err), -EINVAL);
    CHECK_EQ_INT(err.code, -EINVAL);
    CHECK(err.msg[0] != '\0');
    CHECK_EQ_INT(gm_space_set_unassigned(e.as, (enum gm_unassigned)0xff, NULL),
                 -EINVAL);
    CHECK_EQ_INT(gm_space_unassigned(e.as), GM_UNASSIGNED_ONES);
    gm_error_clear(&err);
    CHECK_EQ_INT(gm_space_set_unassigned(NULL, GM_UNASSIGNED_ONES, &err),
                 -EINVAL);
    CHECK_EQ_INT(err.code, -EINVAL);
    CHECK(err.msg[0] != '\0');
    check_unassigned_reads(e.as, 0xff, &dr, &dn);
    if (as2) {
        CHECK_EQ_INT(gm_space_unassigned(as2), GM_UNASSIGNED_ZERO);
    }

    /* And back to 0. */
    CHECK_EQ_INT(gm_space_set_unassigned(e.as, GM_UNASSIGNED_ZERO, NULL), 0);
    CHECK_EQ_INT(gm_space_unassigned(e.as), GM_UNASSIGNED_ZERO);
    check_unassigned_reads(e.as, 0x00, &dr, &dn);

    gm_cache_destroy(&early);
    if (as2) {
        CHECK_EQ_INT(gm_space_destroy(as2, NULL), 0);
    }
    env_fini(&e);
}

/*
 * ioeventfds.
 */

static uint64_t efd_count(int fd)
{
    uint64_t n = 0;

    if (read(fd, &n, sizeof(n)) != (ssize_t)sizeof(n)) {
        return 0;
    }
    return n;
}

static void test_ioeventfd(void)
{
    struct env e;
    struct dev d;
    struct gm_region_ops o = dev_ops(GM_ENDIAN_LITTLE);
    gm_region *io;
    int fd = eventfd(0, EFD_NONBLOCK);
    int fd0 = eventfd(0, EFD_NONBLOCK);
    uint8_t b4[4] = {0x34, 0x12, 0, 0};

    CHECK(fd >= 0 && fd0 >= 0);
    env_init(&e);
    dev_init(&d, false);
    io = gm_region_new_io(e.sys, "notify", 0x40, &o, &d, NULL);
    CHECK(io != NULL);
    CHECK_EQ_INT(gm_region_add_eventfd(io, 0x10, 4, true, 0x1234, fd, NULL), 0);
    CHECK_EQ_INT(gm_region_add_eventfd(io, 0x20, 0, false, 0, fd0, NULL), 0);
    place(&e, 0x1000, gm_region_ref(io), 0);

    /* Matching: signalled, the device is not called. */
    CHECK_EQ_INT(gm_space_store(e.as, 0x1010, 4, GM_ENDIAN_LITTLE, 0x1234, A),
                 OK);
    CHECK_EQ_U64(efd_count(fd), 1);
    CHECK_EQ_INT(d.n, 0);
    CHECK_EQ_INT(gm_space_write(e.as, 0x1010, b4, 4, A), OK);
    CHECK_EQ_U64(efd_count(fd), 1);
    CHECK_EQ_INT(d.n, 0);
    CHECK_EQ_U64(d.regs[0x10], 0x20);
    /* Other data, other size, other address: the device. */
    CHECK_EQ_INT(gm_space_store(e.as, 0x1010, 4, GM_ENDIAN_LITTLE, 0x1235, A),
                 OK);
    CHECK_EQ_U64(efd_count(fd), 0);
    CHECK_EQ_INT(d.n, 1);
    CHECK_CALL(&d, 0, true, 0x10, 4, 0x1235);
    CHECK_EQ_INT(gm_space_store(e.as, 0x1010, 2, GM_ENDIAN_LITTLE, 0x1234, A),
                 OK);
    CHECK_EQ_U64(efd_count(fd), 0);
    CHECK_EQ_INT(d.n, 2);
    CHECK_EQ_INT(gm_space_store(e.as, 0x1014, 4, GM_ENDIAN_LITTLE, 0x1234, A),
                 OK);
    CHECK_EQ_U64(efd_count(fd), 0);
    CHECK_EQ_INT(d.n, 3);
    /* Reads are not matched. */
    {
        uint64_t v;
        CHECK_EQ_INT(gm_space_load(e.as, 0x1010, 4, GM_ENDIAN_LITTLE, &v, A),
                     OK);
        CHECK_EQ_U64(efd_count(fd), 0);
        CHECK_EQ_INT(d.n, 4);
    }

    /* Size 0: any size, any data. */
    d.n = 0;
    CHECK_EQ_INT(gm_space_store(e.as, 0x1020, 1, GM_ENDIAN_LITTLE, 7, A), OK);
    CHECK_EQ_INT(gm_space_store(e.as, 0x1020, 2, GM_ENDIAN_LITTLE, 8, A), OK);
    CHECK_EQ_INT(gm_space_store(e.as, 0x1020, 4, GM_ENDIAN_LITTLE, 9, A), OK);
    CHECK_EQ_U64(efd_count(fd0), 3);
    CHECK_EQ_INT(d.n, 0);

    /* Deleted: the device again. */
    CHECK_EQ_INT(gm_region_del_eventfd(io, 0x10, 4, true, 0x1234, fd, NULL), 0);
    CHECK_EQ_INT(gm_space_store(e.as, 0x1010, 4, GM_ENDIAN_LITTLE, 0x1234, A),
                 OK);
    CHECK_EQ_U64(efd_count(fd), 0);
    CHECK_EQ_INT(d.n, 1);
    CHECK_CALL(&d, 0, true, 0x10, 4, 0x1234);

    CHECK_EQ_INT(gm_region_del_eventfd(io, 0x20, 0, false, 0, fd0, NULL), 0);
    gm_region_unref(io);
    env_fini(&e);
    close(fd);
    close(fd0);
}

/*
 * An 8-byte ioeventfd on a device without valid.max (whose reads and
 * writes the read path cuts into 4-byte chunks): an 8-byte store is one
 * access in QEMU (address_space_stq -> memory_region_dispatch_write, which
 * matches the ioeventfd before the device sees anything).
 */
static void test_ioeventfd_8byte_store(void)
{
    struct env e;
    struct dev d;
    struct gm_region_ops o = dev_ops(GM_ENDIAN_LITTLE);
    gm_region *io;
    int fd = eventfd(0, EFD_NONBLOCK);

    CHECK(fd >= 0);
    env_init(&e);
    dev_init(&d, false);
    io = gm_region_new_io(e.sys, "doorbell", 0x40, &o, &d, NULL);
    CHECK_EQ_INT(gm_region_add_eventfd(io, 0x8, 8, true, 0x1122334455667788ULL,
                                       fd, NULL),
                 0);
    place(&e, 0x1000, gm_region_ref(io), 0);
    CHECK_EQ_INT(gm_space_store(e.as, 0x1008, 8, GM_ENDIAN_LITTLE,
                                0x1122334455667788ULL, A),
                 OK);
    CHECK_EQ_U64(efd_count(fd), 1);
    CHECK_EQ_INT(d.n, 0);
    CHECK_EQ_INT(gm_region_del_eventfd(io, 0x8, 8, true, 0x1122334455667788ULL,
                                       fd, NULL),
                 0);
    gm_region_unref(io);
    env_fini(&e);
    close(fd);
}

/*
 * One-byte sub-page ranges.
 */

struct byte_dev {
    uint8_t val;
    unsigned n;
};

static uint64_t byte_read(void *opaque, uint64_t off, unsigned size)
{
    struct byte_dev *b = opaque;

    b->n++;
    return b->val + off;
}

static void test_subpage_bytes(void)
{
    static const uint64_t offs[] = {0x0,   0x10,  0x11,  0x13, 0x7ff,
                                    0x800, 0x801, 0xffe, 0xfff};
    enum { NB = sizeof(offs) / sizeof(offs[0]) };
    struct env e;
    struct byte_dev bd[NB];
    struct gm_region_ops o;
    gm_region *ram, *io[NB];
    uint8_t *p, buf[0x1000];
    uint64_t v;

    env_init(&e);
    memset(&o, 0, sizeof(o));
    o.read = byte_read;
    o.endianness = GM_ENDIAN_LITTLE;
    ram = new_ram(&e, "ram", 0x1000, 0);
    p = gm_region_ram_ptr(ram);
    for (unsigned i = 0; i < 0x1000; i++) {
        p[i] = (uint8_t)(i * 7);
    }
    place(&e, 0x7000, ram, 0);
    for (unsigned i = 0; i < NB; i++) {
        char name[16];
        bd[i].val = (uint8_t)(0xa0 + i);
        bd[i].n = 0;
        snprintf(name, sizeof(name), "b%u", i);
        io[i] = gm_region_new_io(e.sys, name, 1, &o, &bd[i], NULL);
        place(&e, 0x7000 + offs[i], gm_region_ref(io[i]), 1);
    }

    for (unsigned i = 0; i < NB; i++) {
        CHECK_EQ_INT(
            gm_space_load(e.as, 0x7000 + offs[i], 1, GM_ENDIAN_LITTLE, &v, A),
            OK);
        CHECK_EQ_U64(v, 0xa0 + i);
        CHECK_EQ_INT(bd[i].n, 1);
    }
    /* Neighbours are RAM. */
    CHECK_EQ_INT(gm_space_load(e.as, 0x7012, 1, GM_ENDIAN_LITTLE, &v, A), OK);
    CHECK_EQ_U64(v, (uint8_t)(0x12 * 7));
    CHECK_EQ_INT(gm_space_load(e.as, 0x700f, 4, GM_ENDIAN_LITTLE, &v, A), OK);
    CHECK_EQ_U64(v, ((uint64_t)(uint8_t)(0x12 * 7) << 24) |
                        ((uint64_t)0xa2 << 16) | ((uint64_t)0xa1 << 8) |
                        (uint8_t)(0xf * 7));
    /* The whole page in one read. */
    for (unsigned i = 0; i < NB; i++) {
        bd[i].n = 0;
    }
    CHECK_EQ_INT(gm_space_read(e.as, 0x7000, buf, 0x1000, A), OK);
    for (unsigned a = 0; a < 0x1000; a++) {
        uint8_t exp = (uint8_t)(a * 7);
        for (unsigned i = 0; i < NB; i++) {
            if (offs[i] == a) {
                exp = (uint8_t)(0xa0 + i);
            }
        }
        if (buf[a] != exp) {
            HARNESS_FAIL("byte %#x: %#x != %#x", a, buf[a], exp);
            break;
        }
    }
    for (unsigned i = 0; i < NB; i++) {
        CHECK_EQ_INT(bd[i].n, 1);
    }
    /* Disabling one reveals the RAM below. */
    CHECK_EQ_INT(gm_region_set_enabled(io[2], false, NULL), 0);
    CHECK_EQ_INT(gm_space_load(e.as, 0x7011, 1, GM_ENDIAN_LITTLE, &v, A), OK);
    CHECK_EQ_U64(v, (uint8_t)(0x11 * 7));
    CHECK_EQ_INT(bd[2].n, 1);
    CHECK_EQ_INT(gm_space_load(e.as, 0x7010, 2, GM_ENDIAN_LITTLE, &v, A), OK);
    CHECK_EQ_U64(v, ((uint64_t)(uint8_t)(0x11 * 7) << 8) | 0xa1);
    /* A write into RAM between devices; the devices have no write. */
    CHECK_EQ_INT(gm_space_store(e.as, 0x7011, 1, GM_ENDIAN_LITTLE, 0x5a, A),
                 OK);
    CHECK_EQ_U64(p[0x11], 0x5a);
    CHECK_EQ_INT(gm_region_set_enabled(io[2], true, NULL), 0);
    CHECK_EQ_INT(gm_space_load(e.as, 0x7011, 1, GM_ENDIAN_LITTLE, &v, A), OK);
    CHECK_EQ_U64(v, 0xa2);
    /* Disabling the last byte of the page. */
    CHECK_EQ_INT(gm_region_set_enabled(io[NB - 1], false, NULL), 0);
    CHECK_EQ_INT(gm_space_load(e.as, 0x7ffe, 2, GM_ENDIAN_BIG, &v, A), OK);
    CHECK_EQ_U64(v, ((uint64_t)(0xa0 + NB - 2) << 8) | (uint8_t)(0xfff * 7));

    for (unsigned i = 0; i < NB; i++) {
        gm_region_unref(io[i]);
    }
    env_fini(&e);
}

/*
 * The dirty hook.
 */

static void test_dirty_hook(void)
{
    struct env e;
    struct dirty_rec rec = {0};
    gm_region *ram, *ram2;
    uint8_t buf[0x40];

    env_init(&e);
    ram = new_ram(&e, "vram", 0x2000, 0);
    ram2 = new_ram(&e, "plain", 0x1000, 0);
    place(&e, 0xa0000, gm_region_ref(ram), 0);
    place(&e, 0xa2000, ram2, 0);
    gm_system_set_dirty_hook(e.sys, dirty_hook, &rec);

    /* No mask: no call. */
    CHECK_EQ_INT(gm_space_store(e.as, 0xa0010, 4, GM_ENDIAN_LITTLE, 1, A), OK);
    CHECK_EQ_INT(rec.n, 0);

    CHECK_EQ_INT(gm_region_set_log(ram, true, GM_DIRTY_VGA, NULL), 0);
    CHECK_EQ_INT(gm_space_store(e.as, 0xa0010, 4, GM_ENDIAN_LITTLE, 1, A), OK);
    CHECK_EQ_INT(rec.n, 1);
    CHECK_EQ_PTR(rec.region, ram);
    CHECK_EQ_U64(rec.off, 0x10);
    CHECK_EQ_U64(rec.len, 4);
    CHECK_EQ_U64(rec.mask, 1u << GM_DIRTY_VGA);

    CHECK_EQ_INT(gm_region_set_log(ram, true, GM_DIRTY_CODE, NULL), 0);
    memset(buf, 1, sizeof(buf));
    CHECK_EQ_INT(gm_space_write(e.as, 0xa0100, buf, 0x40, A), OK);
    CHECK_EQ_INT(rec.n, 2);
    CHECK_EQ_U64(rec.off, 0x100);
    CHECK_EQ_U64(rec.len, 0x40);
    CHECK_EQ_U64(rec.mask, (1u << GM_DIRTY_VGA) | (1u << GM_DIRTY_CODE));

    /* A write crossing into the unlogged RAM: only the logged part. */
    CHECK_EQ_INT(gm_space_write(e.as, 0xa1ff0, buf, 0x20, A), OK);
    CHECK_EQ_INT(rec.n, 3);
    CHECK_EQ_U64(rec.off, 0x1ff0);
    CHECK_EQ_U64(rec.len, 0x10);

    /* Reads, and writes to holes, do not call it. */
    CHECK_EQ_INT(gm_space_read(e.as, 0xa0000, buf, 0x40, A), OK);
    CHECK_EQ_INT(gm_space_write(e.as, 0xb0000, buf, 4, A), DECODE);
    CHECK_EQ_INT(rec.n, 3);

    /* Writes to a read-only logged RAM are dropped: no call. */
    CHECK_EQ_INT(gm_region_set_readonly(ram, true, NULL), 0);
    CHECK_EQ_INT(gm_space_store(e.as, 0xa0010, 4, GM_ENDIAN_LITTLE, 1, A),
                 ACCESS);
    CHECK_EQ_INT(rec.n, 3);
    CHECK_EQ_INT(gm_region_set_readonly(ram, false, NULL), 0);

    /* Mask cleared: no call. */
    CHECK_EQ_INT(gm_region_set_log(ram, false, GM_DIRTY_VGA, NULL), 0);
    CHECK_EQ_INT(gm_region_set_log(ram, false, GM_DIRTY_CODE, NULL), 0);
    CHECK_EQ_INT(gm_space_store(e.as, 0xa0010, 4, GM_ENDIAN_LITTLE, 1, A), OK);
    CHECK_EQ_INT(rec.n, 3);

    /* Global logging gives every RAM the migration bit. */
    CHECK_EQ_INT(gm_system_log_global_start(e.sys, NULL), 0);
    CHECK_EQ_INT(gm_space_store(e.as, 0xa2008, 2, GM_ENDIAN_LITTLE, 1, A), OK);
    CHECK_EQ_INT(rec.n, 4);
    CHECK_EQ_U64(rec.off, 0x8);
    CHECK_EQ_U64(rec.len, 2);
    CHECK_EQ_U64(rec.mask, 1u << GM_DIRTY_MIGRATION);
    CHECK_EQ_INT(gm_system_log_global_stop(e.sys, NULL), 0);

    /* No hook: nothing. */
    gm_system_set_dirty_hook(e.sys, NULL, NULL);
    CHECK_EQ_INT(gm_region_set_log(ram, true, GM_DIRTY_VGA, NULL), 0);
    CHECK_EQ_INT(gm_space_store(e.as, 0xa0010, 4, GM_ENDIAN_LITTLE, 1, A), OK);
    CHECK_EQ_INT(rec.n, 4);
    gm_region_unref(ram);
    env_fini(&e);
}

/*
 * Access caches.
 */

static void test_cache_ram(void)
{
    struct env e;
    struct gm_cache c, cw;
    struct dirty_rec rec = {0};
    gm_region *ram, *ram2;
    uint8_t *p, *p2, buf[16];
    uint64_t v;

    env_init(&e);
    ram = new_ram(&e, "ring", 0x2000, 0x31);
    ram2 = new_ram(&e, "other", 0x1000, 0x62);
    p = gm_region_ram_ptr(ram);
    p2 = gm_region_ram_ptr(ram2);
    place(&e, 0x10000, gm_region_ref(ram), 0);
    place(&e, 0x20000, gm_region_ref(ram2), 0);
    gm_system_set_dirty_hook(e.sys, dirty_hook, &rec);
    CHECK_EQ_INT(gm_region_set_log(ram, true, GM_DIRTY_MIGRATION, NULL), 0);

    CHECK_EQ_INT(gm_cache_init(&c, e.as, 0x10100, 0x100, false, NULL), 0);
    CHECK_EQ_INT(gm_cache_init(&cw, e.as, 0x10100, 0x100, true, NULL), 0);
    /* Logged RAM: loads are inline, stores go the slow way to log. */
    CHECK(gm_cache_is_direct(&c));
    CHECK(!gm_cache_is_direct(&cw));
    /* The space cannot go while caches use it. */
    {
        gm_error err = {0};
        CHECK_EQ_INT(gm_space_destroy(e.as, &err), -EBUSY);
        CHECK(strstr(err.msg, "cache") != NULL);
    }

    p[0x100] = 0x01;
    p[0x101] = 0x02;
    CHECK_EQ_INT(gm_cache_load(&c, 0, 2, GM_ENDIAN_BIG, &v), OK);
    CHECK_EQ_U64(v, 0x0102);
    CHECK_EQ_INT(gm_cache_read(&c, 0xf0, buf, 16), OK);
    CHECK_EQ_U64(buf[0], 0x31);

    CHECK_EQ_INT(gm_cache_store(&cw, 0x10, 4, GM_ENDIAN_LITTLE, 0xa1b2c3d4),
                 OK);
    CHECK(memcmp(p + 0x110, "\xd4\xc3\xb2\xa1", 4) == 0);
    CHECK_EQ_INT(rec.n, 1);
    CHECK_EQ_PTR(rec.region, ram);
    CHECK_EQ_U64(rec.off, 0x110);
    CHECK_EQ_U64(rec.len, 4);
    CHECK_EQ_INT(gm_cache_write(&cw, 0x20, "\x09\x08", 2), OK);
    CHECK_EQ_U64(p[0x120], 9);
    CHECK_EQ_U64(rec.off, 0x120);
    CHECK_EQ_U64(rec.len, 2);

    /* Out of the window. */
    CHECK(gm_cache_read(&c, 0x100, buf, 1) != OK);
    CHECK(gm_cache_read(&c, 0xff, buf, 2) != OK);
    CHECK(gm_cache_load(&c, 0xfe, 4, GM_ENDIAN_LITTLE, &v) != OK);
    CHECK(gm_cache_write(&cw, 0xfd, buf, 4) != OK);
    CHECK(gm_cache_store(&cw, UINT64_MAX, 1, GM_ENDIAN_LITTLE, 0) != OK);
    CHECK(gm_cache_read(&c, 1, buf, SIZE_MAX) != OK);
    CHECK_EQ_U64(p[0x1fd], 0x31);
    /* Bad sizes. */
    CHECK(gm_cache_load(&c, 0, 3, GM_ENDIAN_LITTLE, &v) != OK);
    CHECK(gm_cache_store(&cw, 0, 16, GM_ENDIAN_LITTLE, 0) != OK);
    /* Bad init. */
    {
        struct gm_cache bad;
        gm_error err = {0};
        CHECK_EQ_INT(gm_cache_init(&bad, e.as, 0, 0, false, &err), -EINVAL);
        CHECK_EQ_INT(err.code, -EINVAL);
        CHECK_EQ_INT(gm_cache_init(&bad, e.as, UINT64_MAX, 2, false, NULL),
                     -EINVAL);
        CHECK_EQ_INT(gm_cache_init(&bad, NULL, 0, 1, false, NULL), -EINVAL);
        /* A failed init leaves a cache that refuses access and can be
         * destroyed. */
        v = 0;
        CHECK(gm_cache_load(&bad, 0, 1, GM_ENDIAN_LITTLE, &v) != OK);
        CHECK_EQ_U64(v, 0xff);
        CHECK(gm_cache_load(NULL, 0, 8, GM_ENDIAN_LITTLE, &v) != OK);
        CHECK(gm_cache_store(NULL, 0, 8, GM_ENDIAN_LITTLE, 0) != OK);
        CHECK(gm_cache_store(&bad, 0, 1, GM_ENDIAN_LITTLE, 0) != OK);
        CHECK(!gm_cache_is_direct(&bad));
        gm_cache_destroy(&bad);
        gm_cache_destroy(&bad);
    }

    /* A commit elsewhere in the space leaves the caches alone... */
    {
        gm_region *far = new_ram(&e, "far", 0x1000, 0x55);
        place(&e, 0x80000, far, 0);
        CHECK(gm_cache_is_direct(&c));
        /* ...one that stops logging the window reaches it. */
        CHECK_EQ_INT(gm_region_set_log(ram, false, GM_DIRTY_MIGRATION, NULL),
                     0);
        CHECK(!gm_cache_is_direct(&cw));
        CHECK_EQ_INT(gm_cache_store(&cw, 0x30, 1, GM_ENDIAN_LITTLE, 0x5c), OK);
        CHECK(gm_cache_is_direct(&cw));
        CHECK_EQ_U64(p[0x130], 0x5c);
        CHECK_EQ_INT(rec.n, 2); /* no longer logged: no new dirty call */
        CHECK_EQ_INT(gm_region_set_log(ram, true, GM_DIRTY_MIGRATION, NULL),
                     0);
        CHECK(!gm_cache_is_direct(&cw));
        CHECK_EQ_INT(gm_cache_load(&c, 0x30, 1, GM_ENDIAN_LITTLE, &v), OK);
        CHECK_EQ_U64(v, 0x5c);
        CHECK(gm_cache_is_direct(&c));
    }

    /* Topology change: ring moved away, other RAM moved in. */
    CHECK_EQ_INT(gm_transaction_begin(e.sys), 0);
    CHECK_EQ_INT(gm_region_set_address(ram, 0x30000, NULL), 0);
    CHECK_EQ_INT(gm_region_set_address(ram2, 0x10000, NULL), 0);
    CHECK(gm_cache_is_direct(&c)); /* not committed yet */
    CHECK_EQ_INT(gm_transaction_commit(e.sys, NULL), 0);
    CHECK(!gm_cache_is_direct(&c)); /* the commit reached it */
    CHECK_EQ_INT(gm_cache_load(&c, 0, 1, GM_ENDIAN_LITTLE, &v), OK);
    CHECK(gm_cache_is_direct(&c)); /* and the access resolved it again */
    CHECK_EQ_U64(v, 0x62);
    CHECK_EQ_INT(gm_cache_store(&cw, 0x8, 1, GM_ENDIAN_LITTLE, 0x77), OK);
    CHECK_EQ_U64(p2[0x108], 0x77);
    CHECK_EQ_U64(p[0x108], 0x31);
    /* The window now straddles other (0x1000 long) and a hole. */
    CHECK_EQ_INT(gm_region_set_address(ram2, 0xf180, NULL), 0);
    CHECK_EQ_INT(gm_cache_read(&c, 0, buf, 16), OK);
    memset(buf, 0x5a, 16);
    CHECK_EQ_INT(gm_cache_read(&c, 0x78, buf, 16), DECODE);
    CHECK_EQ_U64(buf[0], 0x62);
    CHECK_EQ_U64(buf[8], unassigned_byte(e.as));

    /* Disabled: a hole. */
    CHECK_EQ_INT(gm_region_set_enabled(ram2, false, NULL), 0);
    v = 0x5a5a5a5a5a5a5a5aULL;
    CHECK_EQ_INT(gm_cache_load(&c, 0, 4, GM_ENDIAN_LITTLE, &v), DECODE);
    CHECK_EQ_U64(v, unassigned_val(e.as, 4));
    CHECK_EQ_INT(gm_cache_store(&cw, 0, 4, GM_ENDIAN_LITTLE, 0), DECODE);
    /* And back. */
    CHECK_EQ_INT(gm_region_set_address(ram, 0x10000, NULL), 0);
    CHECK_EQ_INT(gm_cache_load(&c, 0x10, 4, GM_ENDIAN_LITTLE, &v), OK);
    CHECK_EQ_U64(v, 0xa1b2c3d4);

    /* Read-only: the write cache reports the dropped write. */
    CHECK_EQ_INT(gm_region_set_readonly(ram, true, NULL), 0);
    CHECK_EQ_INT(gm_cache_store(&cw, 0x10, 1, GM_ENDIAN_LITTLE, 0), ACCESS);
    CHECK_EQ_U64(p[0x110], 0xd4);
    CHECK_EQ_INT(gm_cache_load(&c, 0x10, 1, GM_ENDIAN_LITTLE, &v), OK);
    CHECK_EQ_U64(v, 0xd4);

    gm_cache_destroy(&c);
    gm_cache_destroy(&cw);
    gm_region_unref(ram);
    gm_region_unref(ram2);
    env_fini(&e);
}

/* A cache over MMIO goes through the device. */
static void test_cache_mmio(void)
{
    struct env e;
    struct dev d;
    struct gm_region_ops o = dev_ops(GM_ENDIAN_LITTLE);
    struct gm_cache c;
    gm_region *ram;
    uint64_t v;

    env_init(&e);
    dev_init(&d, false);
    place(&e, 0x1000, gm_region_new_io(e.sys, "d", 0x40, &o, &d, NULL), 0);
    CHECK_EQ_INT(gm_cache_init(&c, e.as, 0x1010, 0x10, true, NULL), 0);
    CHECK(!gm_cache_is_direct(&c));
    CHECK_EQ_INT(gm_cache_load(&c, 4, 4, GM_ENDIAN_LITTLE, &v), OK);
    CHECK_EQ_U64(v, 0x27262524);
    CHECK_CALL(&d, 0, false, 0x14, 4, 0x27262524);
    CHECK_EQ_INT(gm_cache_store(&c, 8, 2, GM_ENDIAN_BIG, 0x1234), OK);
    CHECK_CALL(&d, 1, true, 0x18, 2, 0x3412);
    CHECK_EQ_INT(d.n, 2);

    /* RAM mapped over it: the cache follows. */
    ram = new_ram(&e, "ram", 0x1000, 0x42);
    place(&e, 0x1000, ram, 1);
    CHECK_EQ_INT(gm_cache_load(&c, 4, 4, GM_ENDIAN_LITTLE, &v), OK);
    CHECK_EQ_U64(v, 0x42424242);
    CHECK_EQ_INT(d.n, 2);
    CHECK(gm_cache_is_direct(&c));
    CHECK_EQ_INT(gm_cache_store(&c, 4, 2, GM_ENDIAN_BIG, 0x0102), OK);
    CHECK_EQ_U64(((uint8_t *)gm_region_ram_ptr(ram))[0x15], 2);
    CHECK_EQ_INT(d.n, 2);
    gm_cache_destroy(&c);
    env_fini(&e);
}

/*
 * Regression (found by fuzz-ops): a table whose root was one sub-page node
 * grows to level 4 when a range reaching past 2^48 is added; the update
 * computed the last entry to visit in 32 bits, so every page of the old
 * root's node after the first stayed a hole.
 */
static void test_root_growth_keeps_pages(void)
{
    struct env e;
    struct dev d;
    struct gm_region_ops o = dev_ops(GM_ENDIAN_LITTLE);
    gm_region *small, *big;
    uint64_t v;
    const uint64_t probes[] = {0xc6,     0xfff,        0x1000,
                               0x10000,  0x1fffff,     0x200000,
                               1ull << 40, 0x40000000000f1};

    /* A 2^64 root: the range must be able to reach past 2^48. */
    e.sys = gm_system_new(NULL);
    CHECK(e.sys != NULL);
    gm_system_set_warn_handler(e.sys, NULL, NULL);
    e.root = gm_region_new_container(e.sys, "root", GM_SIZE_2_64, NULL);
    e.as = gm_space_new(e.sys, e.root, "memory", NULL);
    CHECK(e.root != NULL && e.as != NULL);
    dev_init(&d, false);
    small = new_ram(&e, "small", 0xce, 0x11);
    place(&e, 0x5d, small, 0);
    big = gm_region_new_io(e.sys, "big", 0x400000000002cull, &o, &d, NULL);
    place(&e, 0xc6, big, 1);
    for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
        CHECK_EQ_INT(gm_space_load(e.as, probes[i], 1, GM_ENDIAN_LITTLE, &v,
                                   GM_ATTRS_DEFAULT),
                     OK);
    }
    CHECK_EQ_INT(gm_space_load(e.as, 0x5d, 1, GM_ENDIAN_LITTLE, &v,
                               GM_ATTRS_DEFAULT),
                 OK);
    CHECK_EQ_U64(v, 0x11);
    CHECK_EQ_INT(gm_space_load(e.as, 0x40000000000f2, 1, GM_ENDIAN_LITTLE, &v,
                               GM_ATTRS_DEFAULT),
                 DECODE);
    env_fini(&e);
}

/*
 * The top of the 64-bit space: a device covering all 2^64 bytes (QEMU's
 * unassigned PCI window) and RAM ending at 2^64.
 */
static void test_top_of_space(void)
{
    gm_system *sys = gm_system_new(NULL);
    gm_region *root, *io, *ram;
    gm_space *as;
    struct dev d;
    struct gm_region_ops o = dev_ops(GM_ENDIAN_LITTLE);
    uint8_t buf[16];
    uint64_t v, len;
    void *m;

    dev_init(&d, false);
    d.fixed = true;
    d.fixed_val = 0x0123456789abcdefULL;
    o.valid.max_access_size = 8;
    o.impl.max_access_size = 8;
    root = gm_region_new_container(sys, "root", GM_SIZE_2_64, NULL);
    io = gm_region_new_io(sys, "pci", GM_SIZE_2_64, &o, &d, NULL);
    ram = gm_region_new_ram(sys, "top", 0x1000, NULL);
    CHECK(root && io && ram);
    memset(gm_region_ram_ptr(ram), 0x3c, 0x1000);
    CHECK_EQ_INT(gm_region_add_subregion(root, 0, io, NULL), 0);
    CHECK_EQ_INT(gm_region_add_subregion_overlap(root, 0xfffffffffffff000ULL,
                                                 ram, 1, NULL),
                 0);
    as = gm_space_new(sys, root, "pci", NULL);
    CHECK(as != NULL);

    CHECK_EQ_INT(gm_space_load(as, 0, 8, GM_ENDIAN_LITTLE, &v, A), OK);
    CHECK_EQ_U64(v, 0x0123456789abcdefULL);
    CHECK_CALL(&d, 0, false, 0, 8, 0x0123456789abcdefULL);
    CHECK_EQ_INT(gm_space_read(as, 0x10, buf, 16, A), OK);
    CHECK_EQ_INT(d.n, 3);
    CHECK_CALL(&d, 2, false, 0x18, 8, 0x0123456789abcdefULL);
    CHECK_EQ_INT(
        gm_space_load(as, 0xffffffffffffeff8ULL, 8, GM_ENDIAN_LITTLE, &v, A),
        OK);
    CHECK_CALL(&d, 3, false, 0xffffffffffffeff8ULL, 8, 0x0123456789abcdefULL);
    /* The last bytes of the space: RAM ending at 2^64. */
    CHECK_EQ_INT(
        gm_space_load(as, 0xfffffffffffffff8ULL, 8, GM_ENDIAN_LITTLE, &v, A),
        OK);
    CHECK_EQ_U64(v, 0x3c3c3c3c3c3c3c3cULL);
    CHECK_EQ_INT(gm_space_store(as, UINT64_MAX, 1, GM_ENDIAN_LITTLE, 0x11, A),
                 OK);
    CHECK_EQ_U64(((uint8_t *)gm_region_ram_ptr(ram))[0xfff], 0x11);
    CHECK_EQ_INT(gm_space_read(as, 0xfffffffffffffff0ULL, buf, 16, A), OK);
    CHECK_EQ_U64(buf[15], 0x11);
    len = 0x100000;
    m = gm_space_map(as, 0xffffffffffffff00ULL, &len, true, A);
    CHECK_EQ_PTR(m, (uint8_t *)gm_region_ram_ptr(ram) + 0xf00);
    CHECK_EQ_U64(len, 0x100);
    gm_space_unmap(as, m, len, true, len);
    /* A bounce map of the device at 0 (the range is 2^64 long). */
    len = 0x20;
    m = gm_space_map(as, 0, &len, false, A);
    CHECK(m != NULL);
    CHECK_EQ_U64(len, 0x20);
    gm_space_unmap(as, m, len, false, 0);
    /* Without the RAM the device ends at 2^64. */
    CHECK_EQ_INT(gm_region_set_enabled(ram, false, NULL), 0);
    d.n = 0;
    CHECK_EQ_INT(gm_space_read(as, 0xfffffffffffffff8ULL, buf, 8, A), OK);
    CHECK_EQ_INT(d.n, 1);
    CHECK_CALL(&d, 0, false, 0xfffffffffffffff8ULL, 8, 0x0123456789abcdefULL);

    gm_region_unref(io);
    gm_region_unref(ram);
    gm_region_unref(root);
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
}

/*
 * Callbacks may commit (they run in the RCU read-side section with no
 * guestmem lock): a device that unmaps itself and maps RAM in its place
 * when written. The rest of that access still goes to the view it started
 * with (as QEMU's flatview_write_continue keeps its FlatView); the next
 * access sees the RAM. Repeated past the writer's batch of dead views.
 */
struct self_dev {
    gm_region *root, *self, *ram;
    unsigned writes;
};

static void self_write(void *opaque, uint64_t off, uint64_t data, unsigned size)
{
    struct self_dev *s = opaque;

    s->writes++;
    if (off == 0) {
        CHECK_EQ_INT(gm_transaction_begin(gm_region_system(s->root)), 0);
        CHECK_EQ_INT(gm_region_del_subregion(s->root, s->self, NULL), 0);
        CHECK_EQ_INT(gm_region_add_subregion(s->root, 0x1000, s->ram, NULL), 0);
        CHECK_EQ_INT(gm_transaction_commit(gm_region_system(s->root), NULL), 0);
    }
}

static void test_mmio_callback_commits(void)
{
    struct env e;
    struct self_dev s;
    struct gm_region_ops o;
    uint64_t v;

    env_init(&e);
    memset(&o, 0, sizeof(o));
    o.write = self_write;
    o.endianness = GM_ENDIAN_LITTLE;
    s.root = e.root;
    s.writes = 0;
    s.self = gm_region_new_io(e.sys, "self", 0x100, &o, &s, NULL);
    s.ram = new_ram(&e, "ram", 0x100, 0x5e);
    alarm(60); /* a deadlock fails the test instead of hanging it */
    for (unsigned i = 0; i < 200; i++) {
        CHECK_EQ_INT(gm_region_add_subregion(e.root, 0x1000, s.self, NULL), 0);
        CHECK_EQ_INT(gm_space_write(e.as, 0x1000,
                                    "\x01\x02\x03\x04"
                                    "\x05\x06\x07\x08",
                                    8, A),
                     OK);
        CHECK_EQ_INT(s.writes, 2 * (i + 1));
        CHECK_EQ_INT(gm_space_load(e.as, 0x1004, 4, GM_ENDIAN_LITTLE, &v, A),
                     OK);
        CHECK_EQ_U64(v, 0x5e5e5e5e);
        CHECK_EQ_INT(gm_region_del_subregion(e.root, s.ram, NULL), 0);
        if (harness_cur_failed) {
            break;
        }
    }
    alarm(0);
    gm_region_unref(s.self);
    gm_region_unref(s.ram);
    env_fini(&e);
}

/*
 * Misuse.
 */

static void test_bad_arguments(void)
{
    struct env e;
    uint64_t v = 0;
    uint8_t b[4];

    env_init(&e);
    CHECK_EQ_INT(gm_space_read(NULL, 0, b, 4, A), DECODE);
    CHECK_EQ_INT(gm_space_write(NULL, 0, b, 4, A), DECODE);
    CHECK_EQ_INT(gm_space_read(e.as, 0, NULL, 4, A), DECODE);
    CHECK_EQ_INT(gm_space_write(e.as, 0, NULL, 4, A), DECODE);
    CHECK_EQ_INT(gm_space_load(NULL, 0, 4, GM_ENDIAN_LITTLE, &v, A), DECODE);
    CHECK_EQ_U64(v, UINT64_MAX);
    CHECK_EQ_INT(gm_space_load(e.as, 0, 4, GM_ENDIAN_LITTLE, NULL, A), DECODE);
    CHECK_EQ_INT(gm_space_store(NULL, 0, 4, GM_ENDIAN_LITTLE, 0, A), DECODE);
    CHECK(gm_cache_read(NULL, 0, b, 1) != OK);
    gm_cache_destroy(NULL);
    gm_system_set_dirty_hook(NULL, dirty_hook, NULL);
    env_fini(&e);
}

int main(void)
{
    RUN(test_ram_load_store_endian);
    RUN(test_ram_cross_ranges_and_hole);
    RUN(test_hole);
    RUN(test_rom_and_readonly);
    RUN(test_rom_device);
    RUN(test_mmio_offsets);
    RUN(test_mmio_device_endianness);
    RUN(test_mmio_valid_max_read_path);
    RUN(test_mmio_valid_max_load_store);
    RUN(test_mmio_valid_min);
    RUN(test_mmio_valid_unaligned);
    RUN(test_mmio_valid_accepts);
    RUN(test_mmio_impl_split);
    RUN(test_mmio_impl_widen);
    RUN(test_mmio_with_attrs);
    RUN(test_mmio_unassigned);
    RUN(test_unassigned_value);
    RUN(test_ioeventfd);
    RUN(test_ioeventfd_8byte_store);
    RUN(test_subpage_bytes);
    RUN(test_dirty_hook);
    RUN(test_cache_ram);
    RUN(test_cache_mmio);
    RUN(test_top_of_space);
    RUN(test_root_growth_keeps_pages);
    RUN(test_mmio_callback_commits);
    RUN(test_bad_arguments);
    return harness_done();
}
