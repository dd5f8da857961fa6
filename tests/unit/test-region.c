/* SPDX-License-Identifier: MIT */
/*
 * test-region.c - unit tests of guestmem/region.h: constructors, references,
 * getters, setters and properties of single regions.
 *
 * Invariants checked: every constructor gives a region of the requested
 * kind, name and size with the documented defaults, and refuses bad
 * arguments with -EINVAL (NULL system, zero size where refused, sizes past
 * 2^64 or past 2^63 for RAM, targets of another system); a reference held by
 * a container, an alias or a flat view keeps a region alive; each property
 * reads as its getter; each failing setter leaves region and view unchanged.
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

static uint64_t dev_read(void *opaque, uint64_t offset, unsigned size)
{
    (void)opaque;
    (void)size;
    return offset;
}

static void dev_write(void *opaque, uint64_t offset, uint64_t data,
                      unsigned size)
{
    (void)opaque;
    (void)offset;
    (void)data;
    (void)size;
}

static const struct gm_region_ops dev_ops = {
    .read = dev_read,
    .write = dev_write,
    .endianness = GM_ENDIAN_LITTLE,
};

/* Defaults every new region has. */
static void check_defaults(gm_region *r, gm_system *sys)
{
    CHECK_EQ_PTR(gm_region_system(r), sys);
    CHECK_EQ_PTR(gm_region_container(r), NULL);
    CHECK_EQ_U64(gm_region_addr(r), 0);
    CHECK_EQ_INT(gm_region_priority(r), 0);
    CHECK(!gm_region_may_overlap(r));
    CHECK(gm_region_enabled(r));
    CHECK(!gm_region_nonvolatile(r));
    CHECK_EQ_INT(gm_region_dirty_log_mask(r), 0);
    CHECK_EQ_PTR(gm_region_owner(r), NULL);
}

static void test_constructors(void)
{
    gm_system *sys = gm_system_new(NULL);
    static char host[0x2000], host2[0x1000];
    int cookie = 0;
    gm_region *c, *ram, *ramp, *rom, *io, *io0, *al, *romd, *ramd;
    unsigned char *p;

    c = gm_region_new_container(sys, "c", 0x10000, NULL);
    CHECK(c != NULL);
    CHECK_EQ_INT(gm_region_kind(c), GM_REGION_CONTAINER);
    CHECK_EQ_STR(gm_region_name(c), "c");
    CHECK_EQ_U128(gm_region_size(c), 0x10000);
    CHECK(!gm_region_terminates(c));
    CHECK_EQ_PTR(gm_region_ram_ptr(c), NULL);
    CHECK_EQ_PTR(gm_region_alias_target(c), NULL);
    CHECK_EQ_U64(gm_region_alias_offset(c), 0);
    CHECK_EQ_PTR(gm_region_ops(c), NULL);
    check_defaults(c, sys);

    ram = gm_region_new_ram(sys, "ram", 0x2000, NULL);
    CHECK(ram != NULL);
    CHECK_EQ_INT(gm_region_kind(ram), GM_REGION_RAM);
    CHECK_EQ_U128(gm_region_size(ram), 0x2000);
    CHECK(gm_region_terminates(ram));
    CHECK(!gm_region_readonly(ram));
    p = gm_region_ram_ptr(ram);
    CHECK(p != NULL);
    if (p) {
        /* Zero-filled and writable. */
        CHECK_EQ_INT(p[0], 0);
        CHECK_EQ_INT(p[0x1fff], 0);
        p[0x1fff] = 0x5a;
        CHECK_EQ_INT(p[0x1fff], 0x5a);
    }
    check_defaults(ram, sys);

    ramp = gm_region_new_ram_ptr(sys, "ramp", sizeof(host), host, NULL);
    CHECK(ramp != NULL);
    CHECK_EQ_INT(gm_region_kind(ramp), GM_REGION_RAM);
    CHECK_EQ_PTR(gm_region_ram_ptr(ramp), host);
    CHECK(gm_region_terminates(ramp));

    rom = gm_region_new_rom(sys, "rom", 0x1000, NULL);
    CHECK(rom != NULL);
    CHECK_EQ_INT(gm_region_kind(rom), GM_REGION_ROM);
    CHECK(gm_region_ram_ptr(rom) != NULL);
    CHECK(gm_region_terminates(rom));

    io = gm_region_new_io(sys, "io", 0x100, &dev_ops, &cookie, NULL);
    CHECK(io != NULL);
    CHECK_EQ_INT(gm_region_kind(io), GM_REGION_IO);
    CHECK_EQ_PTR(gm_region_ops(io), &dev_ops);
    CHECK_EQ_PTR(gm_region_opaque(io), &cookie);
    CHECK_EQ_PTR(gm_region_ram_ptr(io), NULL);
    CHECK(gm_region_terminates(io));
    check_defaults(io, sys);

    io0 = gm_region_new_io(sys, "unassigned", 0x100, NULL, NULL, NULL);
    CHECK(io0 != NULL);
    CHECK_EQ_PTR(gm_region_ops(io0), NULL);
    CHECK(gm_region_terminates(io0));

    al = gm_region_new_alias(sys, "al", ram, 0x1000, 0x800, NULL);
    CHECK(al != NULL);
    CHECK_EQ_INT(gm_region_kind(al), GM_REGION_ALIAS);
    CHECK_EQ_PTR(gm_region_alias_target(al), ram);
    CHECK_EQ_U64(gm_region_alias_offset(al), 0x1000);
    CHECK_EQ_U128(gm_region_size(al), 0x800);
    CHECK(!gm_region_terminates(al));
    CHECK_EQ_PTR(gm_region_ram_ptr(al), NULL);
    check_defaults(al, sys);

    romd =
        gm_region_new_rom_device(sys, "romd", 0x1000, &dev_ops, &cookie, NULL);
    CHECK(romd != NULL);
    CHECK_EQ_INT(gm_region_kind(romd), GM_REGION_ROM_DEVICE);
    CHECK(gm_region_romd(romd));
    CHECK(gm_region_ram_ptr(romd) != NULL);
    CHECK_EQ_PTR(gm_region_ops(romd), &dev_ops);
    CHECK_EQ_PTR(gm_region_opaque(romd), &cookie);
    CHECK(gm_region_terminates(romd));

    ramd = gm_region_new_ram_device(sys, "ramd", sizeof(host2), host2, NULL);
    CHECK(ramd != NULL);
    CHECK_EQ_INT(gm_region_kind(ramd), GM_REGION_RAM_DEVICE);
    CHECK_EQ_PTR(gm_region_ram_ptr(ramd), host2);
    CHECK(gm_region_terminates(ramd));

    gm_region_unref(c);
    gm_region_unref(ram);
    gm_region_unref(ramp);
    gm_region_unref(rom);
    gm_region_unref(io);
    gm_region_unref(io0);
    gm_region_unref(al);
    gm_region_unref(romd);
    gm_region_unref(ramd);
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
}

static void test_kind_names(void)
{
    static const enum gm_region_kind kinds[] = {
        GM_REGION_CONTAINER,  GM_REGION_RAM,   GM_REGION_ROM,
        GM_REGION_IO,         GM_REGION_ALIAS, GM_REGION_ROM_DEVICE,
        GM_REGION_RAM_DEVICE,
    };
    const size_t n = sizeof(kinds) / sizeof(kinds[0]);

    for (size_t i = 0; i < n; i++) {
        const char *s = gm_region_kind_name(kinds[i]);

        CHECK(s != NULL && s[0] != '\0');
        for (size_t j = 0; j < i; j++) {
            CHECK(strcmp(s, gm_region_kind_name(kinds[j])) != 0);
        }
    }
}

static void test_names(void)
{
    gm_system *sys = gm_system_new(NULL);
    char name[16] = "dev0";
    gm_region *a, *b;

    a = gm_region_new_container(sys, name, 0x100, NULL);
    strcpy(name, "XXXX");
    CHECK_EQ_STR(gm_region_name(a), "dev0"); /* copied */
    b = gm_region_new_io(sys, NULL, 0x100, NULL, NULL, NULL);
    CHECK_EQ_STR(gm_region_name(b), "anonymous");
    gm_region_unref(a);
    gm_region_unref(b);
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
}

/* Expect a constructor call to fail with @code and a message. */
#define CHECK_CTOR_FAILS(call, want)                                           \
    do {                                                                       \
        gm_error e_;                                                           \
        gm_region *r_;                                                         \
        gm_error_clear(&e_);                                                   \
        r_ = (call);                                                           \
        CHECK_EQ_PTR(r_, NULL);                                                \
        CHECK_EQ_INT(e_.code, (want));                                         \
        CHECK(e_.msg[0] != '\0');                                              \
        gm_region_unref(r_);                                                   \
    } while (0)

static void test_constructor_errors(void)
{
    gm_system *sys = gm_system_new(NULL), *other = gm_system_new(NULL);
    static char host[0x1000];
    gm_region *t = gm_region_new_container(sys, "t", GM_SIZE_2_64, NULL);
    gm_region *foreign = gm_region_new_ram(other, "foreign", 0x1000, NULL);

    /* NULL system. */
    CHECK_CTOR_FAILS(gm_region_new_container(NULL, "x", 1, &e_), -EINVAL);
    CHECK_CTOR_FAILS(gm_region_new_ram(NULL, "x", 0x1000, &e_), -EINVAL);
    CHECK_CTOR_FAILS(gm_region_new_ram_ptr(NULL, "x", 0x1000, host, &e_),
                     -EINVAL);
    CHECK_CTOR_FAILS(gm_region_new_rom(NULL, "x", 0x1000, &e_), -EINVAL);
    CHECK_CTOR_FAILS(gm_region_new_io(NULL, "x", 1, NULL, NULL, &e_), -EINVAL);
    CHECK_CTOR_FAILS(gm_region_new_alias(NULL, "x", t, 0, 1, &e_), -EINVAL);
    CHECK_CTOR_FAILS(
        gm_region_new_rom_device(NULL, "x", 0x1000, &dev_ops, NULL, &e_),
        -EINVAL);
    CHECK_CTOR_FAILS(gm_region_new_ram_device(NULL, "x", 0x1000, host, &e_),
                     -EINVAL);

    /* Zero size where refused. */
    CHECK_CTOR_FAILS(gm_region_new_ram(sys, "x", 0, &e_), -EINVAL);
    CHECK_CTOR_FAILS(gm_region_new_ram_ptr(sys, "x", 0, host, &e_), -EINVAL);
    CHECK_CTOR_FAILS(gm_region_new_rom(sys, "x", 0, &e_), -EINVAL);
    CHECK_CTOR_FAILS(gm_region_new_io(sys, "x", 0, NULL, NULL, &e_), -EINVAL);
    CHECK_CTOR_FAILS(gm_region_new_rom_device(sys, "x", 0, &dev_ops, NULL, &e_),
                     -EINVAL);
    CHECK_CTOR_FAILS(gm_region_new_ram_device(sys, "x", 0, host, &e_), -EINVAL);

    /* Past 2^64, and RAM past 2^63. */
    CHECK_CTOR_FAILS(gm_region_new_container(sys, "x", GM_SIZE_2_64 + 1, &e_),
                     -EINVAL);
    CHECK_CTOR_FAILS(
        gm_region_new_io(sys, "x", GM_SIZE_2_64 + 1, NULL, NULL, &e_), -EINVAL);
    CHECK_CTOR_FAILS(gm_region_new_ram(sys, "x", GM_SIZE_2_64, &e_), -EINVAL);
    CHECK_CTOR_FAILS(gm_region_new_ram(sys, "x", (((gm_u128)1) << 63) + 1, &e_),
                     -EINVAL);

    /* No host memory. */
    CHECK_CTOR_FAILS(gm_region_new_ram_ptr(sys, "x", 0x1000, NULL, &e_),
                     -EINVAL);
    CHECK_CTOR_FAILS(gm_region_new_ram_device(sys, "x", 0x1000, NULL, &e_),
                     -EINVAL);

    /* Aliases: no target, a target of another system, past 2^64. */
    CHECK_CTOR_FAILS(gm_region_new_alias(sys, "x", NULL, 0, 1, &e_), -EINVAL);
    CHECK_CTOR_FAILS(gm_region_new_alias(sys, "x", foreign, 0, 0x1000, &e_),
                     -EINVAL);
    CHECK_CTOR_FAILS(gm_region_new_alias(sys, "x", t, 1, GM_SIZE_2_64, &e_),
                     -EINVAL);
    CHECK_CTOR_FAILS(gm_region_new_alias(sys, "x", t, UINT64_MAX, 2, &e_),
                     -EINVAL);

    gm_region_unref(t);
    gm_region_unref(foreign);
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
    CHECK_EQ_INT(gm_system_destroy(other, NULL), 0);
}

/* Containers and aliases may be empty; 2^64 is a valid size. */
static void test_sizes_accepted(void)
{
    gm_system *sys = gm_system_new(NULL);
    gm_region *c0, *cmax, *iomax, *a0, *amax;
    struct gm_prop_value v;

    c0 = gm_region_new_container(sys, "c0", 0, NULL);
    CHECK(c0 != NULL);
    CHECK_EQ_U128(gm_region_size(c0), 0);
    cmax = gm_region_new_container(sys, "cmax", GM_SIZE_2_64, NULL);
    CHECK(cmax != NULL);
    CHECK_EQ_U128(gm_region_size(cmax), GM_SIZE_2_64);
    iomax = gm_region_new_io(sys, "iomax", GM_SIZE_2_64, NULL, NULL, NULL);
    CHECK(iomax != NULL);
    CHECK_EQ_U128(gm_region_size(iomax), GM_SIZE_2_64);
    a0 = gm_region_new_alias(sys, "a0", cmax, 0x1000, 0, NULL);
    CHECK(a0 != NULL);
    CHECK_EQ_U128(gm_region_size(a0), 0);
    amax = gm_region_new_alias(sys, "amax", cmax, 0, GM_SIZE_2_64, NULL);
    CHECK(amax != NULL);
    CHECK_EQ_U128(gm_region_size(amax), GM_SIZE_2_64);

    CHECK_EQ_INT(gm_region_get_property(cmax, "size", &v, NULL), 0);
    CHECK_EQ_INT(v.type, GM_PROP_U64);
    CHECK_EQ_U64(v.u.u64, UINT64_MAX);
    CHECK_EQ_INT(gm_region_get_property(iomax, "size", &v, NULL), 0);
    CHECK_EQ_U64(v.u.u64, UINT64_MAX);
    CHECK_EQ_INT(gm_region_get_property(c0, "size", &v, NULL), 0);
    CHECK_EQ_U64(v.u.u64, 0);

    gm_region_unref(c0);
    gm_region_unref(a0);
    gm_region_unref(amax);
    gm_region_unref(cmax);
    gm_region_unref(iomax);
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
}

static void test_ref_unref(void)
{
    gm_system *sys = gm_system_new(NULL);
    gm_region *r = gm_region_new_ram(sys, "r", 0x1000, NULL);
    gm_region *t, *al, *c, *child;
    struct gm_prop_value v;

    CHECK_EQ_PTR(gm_region_ref(r), r);
    CHECK_EQ_PTR(gm_region_ref(r), r);
    CHECK_EQ_PTR(gm_region_ref(NULL), NULL);
    gm_region_unref(NULL);
    gm_region_unref(r);
    gm_region_unref(r);
    CHECK_EQ_STR(gm_region_name(r), "r"); /* one reference left */
    gm_region_unref(r);

    /* An alias keeps its target alive. */
    t = gm_region_new_ram(sys, "target", 0x1000, NULL);
    al = gm_region_new_alias(sys, "al", t, 0, 0x1000, NULL);
    gm_region_unref(t);
    CHECK_EQ_STR(gm_region_name(gm_region_alias_target(al)), "target");
    CHECK(gm_region_ram_ptr(gm_region_alias_target(al)) != NULL);
    gm_region_unref(al);

    /* A container keeps its children alive and detaches them when freed. */
    c = gm_region_new_container(sys, "c", 0x10000, NULL);
    child = gm_region_new_ram(sys, "child", 0x1000, NULL);
    CHECK_EQ_INT(gm_region_add_subregion(c, 0x1000, child, NULL), 0);
    CHECK_EQ_PTR(gm_region_container(child), c);
    gm_region_ref(child);
    gm_region_unref(child);
    gm_region_unref(c);
    CHECK_EQ_PTR(gm_region_container(child), NULL); /* c is gone */
    CHECK_EQ_INT(gm_region_get_property(child, "container", &v, NULL), 0);
    CHECK_EQ_PTR(v.u.region, NULL);
    /* ... so the child can be placed again. */
    c = gm_region_new_container(sys, "c2", 0x10000, NULL);
    CHECK_EQ_INT(gm_region_add_subregion(c, 0, child, NULL), 0);
    gm_region_unref(child);
    gm_region_unref(c);

    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
}

/* A flat view keeps the regions it shows alive. */
static void test_flatview_keeps_region(void)
{
    gm_system *sys = gm_system_new(NULL);
    gm_region *root = gm_region_new_container(sys, "root", 0x10000, NULL);
    gm_space *as = gm_space_new(sys, root, "mem", NULL);
    gm_region *r = gm_region_new_ram(sys, "ram", 0x1000, NULL);
    gm_flatview *fv, *now;
    struct gm_section s;
    unsigned char *p;

    CHECK_EQ_INT(gm_region_add_subregion(root, 0x1000, r, NULL), 0);
    p = gm_region_ram_ptr(r);
    p[0x10] = 0xab;
    gm_region_unref(r); /* root holds it */

    fv = gm_space_get_flatview(as);
    CHECK_EQ_INT(gm_region_del_subregion(root, r, NULL), 0);
    /* Only fv refers to r now. */
    memset(&s, 0, sizeof(s));
    CHECK(gm_flatview_lookup(fv, 0x1010, &s));
    CHECK_EQ_PTR(s.region, r);
    CHECK_EQ_STR(gm_region_name(s.region), "ram");
    CHECK_EQ_U64(s.addr, 0x1000);
    CHECK_EQ_U64(s.offset_in_region, 0);
    p = gm_region_ram_ptr(s.region);
    CHECK(p != NULL);
    CHECK_EQ_INT(p ? p[0x10] : 0, 0xab);

    now = gm_space_get_flatview(as);
    CHECK(now != fv);
    CHECK_EQ_U64(gm_flatview_nr_ranges(now), 0);
    CHECK(!gm_flatview_lookup(now, 0x1010, &s));
    gm_flatview_unref(now);
    gm_flatview_unref(fv); /* frees r (after a grace period) */

    gm_region_unref(root);
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
}

static void test_properties(void)
{
    struct machine m;
    gm_region *plain, *over, *loose;
    struct gm_prop_value v;
    gm_error err;

    machine_init(&m);
    plain = add_ram(m.root, "plain", 0x2000, 0x1000);
    over = add_io_prio(m.root, "over", 0x4000, 0x800, -3);
    loose = gm_region_new_container(m.sys, "loose", 0x100, NULL);

    CHECK_EQ_INT(gm_region_get_property(plain, "container", &v, NULL), 0);
    CHECK_EQ_INT(v.type, GM_PROP_REGION);
    CHECK_EQ_PTR(v.u.region, m.root);
    CHECK_EQ_PTR(gm_region_container(plain), m.root);
    CHECK_EQ_INT(gm_region_get_property(loose, "container", &v, NULL), 0);
    CHECK_EQ_INT(v.type, GM_PROP_REGION);
    CHECK_EQ_PTR(v.u.region, NULL);

    CHECK_EQ_INT(gm_region_get_property(plain, "addr", &v, NULL), 0);
    CHECK_EQ_INT(v.type, GM_PROP_U64);
    CHECK_EQ_U64(v.u.u64, 0x2000);
    CHECK_EQ_U64(gm_region_addr(plain), 0x2000);
    CHECK_EQ_INT(gm_region_get_property(over, "addr", &v, NULL), 0);
    CHECK_EQ_U64(v.u.u64, 0x4000);

    CHECK_EQ_INT(gm_region_get_property(plain, "priority", &v, NULL), 0);
    CHECK_EQ_INT(v.type, GM_PROP_INT);
    CHECK_EQ_INT(v.u.i, 0);
    CHECK_EQ_INT(gm_region_get_property(over, "priority", &v, NULL), 0);
    CHECK_EQ_INT(v.u.i, -3);
    CHECK_EQ_INT(gm_region_priority(over), -3);

    CHECK_EQ_INT(gm_region_get_property(plain, "may-overlap", &v, NULL), 0);
    CHECK_EQ_INT(v.type, GM_PROP_BOOL);
    CHECK(!v.u.b);
    CHECK(!gm_region_may_overlap(plain));
    CHECK_EQ_INT(gm_region_get_property(over, "may-overlap", &v, NULL), 0);
    CHECK(v.u.b);
    CHECK(gm_region_may_overlap(over));

    CHECK_EQ_INT(gm_region_get_property(over, "size", &v, NULL), 0);
    CHECK_EQ_INT(v.type, GM_PROP_U64);
    CHECK_EQ_U64(v.u.u64, 0x800);
    CHECK_EQ_INT(gm_region_get_property(m.root, "size", &v, NULL), 0);
    CHECK_EQ_U64(v.u.u64, 0x10000);

    /* Unknown name and NULL arguments. */
    gm_error_clear(&err);
    CHECK_EQ_INT(gm_region_get_property(plain, "colour", &v, &err), -ENOENT);
    CHECK_EQ_INT(err.code, -ENOENT);
    CHECK(err.msg[0] != '\0');
    gm_error_clear(&err);
    CHECK_EQ_INT(gm_region_get_property(plain, "", &v, &err), -ENOENT);
    CHECK_EQ_INT(err.code, -ENOENT);
    gm_error_clear(&err);
    CHECK_EQ_INT(gm_region_get_property(plain, NULL, &v, &err), -EINVAL);
    CHECK_EQ_INT(err.code, -EINVAL);
    CHECK(err.msg[0] != '\0');
    gm_error_clear(&err);
    CHECK_EQ_INT(gm_region_get_property(plain, "addr", NULL, &err), -EINVAL);
    CHECK_EQ_INT(err.code, -EINVAL);
    gm_error_clear(&err);
    CHECK_EQ_INT(gm_region_get_property(NULL, "addr", &v, &err), -EINVAL);
    CHECK_EQ_INT(err.code, -EINVAL);

    gm_region_unref(loose);
    machine_fini(&m);
}

static void test_setters(void)
{
    struct machine m;
    gm_region *ram, *romd, *al, *c;
    int owner;
    gm_error err;

    machine_init(&m);
    ram = add_ram(m.root, "ram", 0, 0x2000);
    romd =
        gm_region_new_rom_device(m.sys, "romd", 0x1000, &dev_ops, NULL, NULL);
    al = gm_region_new_alias(m.sys, "al", ram, 0, 0x1000, NULL);
    c = gm_region_new_container(m.sys, "c", 0x1000, NULL);

    CHECK_EQ_INT(gm_region_set_enabled(ram, false, NULL), 0);
    CHECK(!gm_region_enabled(ram));
    CHECK_EQ_INT(gm_region_set_enabled(ram, true, NULL), 0);
    CHECK(gm_region_enabled(ram));

    CHECK_EQ_INT(gm_region_set_readonly(ram, true, NULL), 0);
    CHECK(gm_region_readonly(ram));
    CHECK_EQ_INT(gm_region_set_readonly(ram, false, NULL), 0);
    CHECK(!gm_region_readonly(ram));

    CHECK_EQ_INT(gm_region_set_nonvolatile(ram, true, NULL), 0);
    CHECK(gm_region_nonvolatile(ram));
    CHECK_EQ_INT(gm_region_set_nonvolatile(ram, false, NULL), 0);
    CHECK(!gm_region_nonvolatile(ram));

    gm_region_set_owner(ram, &owner);
    CHECK_EQ_PTR(gm_region_owner(ram), &owner);
    gm_region_set_owner(ram, NULL);
    CHECK_EQ_PTR(gm_region_owner(ram), NULL);

    CHECK_EQ_INT(gm_region_set_romd(romd, false, NULL), 0);
    CHECK(!gm_region_romd(romd));
    CHECK_EQ_INT(gm_region_set_romd(romd, true, NULL), 0);
    CHECK(gm_region_romd(romd));

    CHECK_EQ_INT(gm_region_set_address(c, 0x1234, NULL), 0);
    CHECK_EQ_U64(gm_region_addr(c), 0x1234);

    CHECK_EQ_INT(gm_region_set_alias_offset(al, 0x800, NULL), 0);
    CHECK_EQ_U64(gm_region_alias_offset(al), 0x800);
    gm_error_clear(&err);
    CHECK_EQ_INT(gm_region_set_alias_offset(ram, 0x800, &err), -EINVAL);
    CHECK_EQ_INT(err.code, -EINVAL);
    CHECK(err.msg[0] != '\0');

    CHECK_EQ_INT(gm_region_set_log(ram, true, GM_DIRTY_VGA, NULL), 0);
    CHECK_EQ_INT(gm_region_dirty_log_mask(ram), 1 << GM_DIRTY_VGA);
    CHECK_EQ_INT(gm_region_set_log(ram, true, GM_DIRTY_CODE, NULL), 0);
    CHECK_EQ_INT(gm_region_dirty_log_mask(ram),
                 (1 << GM_DIRTY_VGA) | (1 << GM_DIRTY_CODE));
    CHECK_EQ_INT(gm_region_set_log(ram, false, GM_DIRTY_VGA, NULL), 0);
    CHECK_EQ_INT(gm_region_dirty_log_mask(ram), 1 << GM_DIRTY_CODE);
    CHECK_EQ_INT(gm_region_set_log(ram, false, GM_DIRTY_CODE, NULL), 0);
    CHECK_EQ_INT(gm_region_dirty_log_mask(ram), 0);

    gm_region_unref(romd);
    gm_region_unref(al);
    gm_region_unref(c);
    machine_fini(&m);
}

/* Expect @call to return @code with a message, leaving the view unchanged. */
#define CHECK_FAILS_QUIETLY(m, call, want)                                     \
    do {                                                                       \
        gm_error e_;                                                           \
        gm_flatview *fvb_ = gm_space_get_flatview((m)->as), *fva_;             \
        gm_error_clear(&e_);                                                   \
        CHECK_EQ_INT((call), (want));                                          \
        CHECK_EQ_INT(e_.code, (want));                                         \
        CHECK(e_.msg[0] != '\0');                                              \
        fva_ = gm_space_get_flatview((m)->as);                                 \
        CHECK_EQ_PTR(fva_, fvb_);                                              \
        gm_flatview_unref(fva_);                                               \
        gm_flatview_unref(fvb_);                                               \
    } while (0)

static void test_setter_errors(void)
{
    struct machine m;
    struct strbuf sb = {.len = 0};
    gm_region *ram, *io, *c;

    machine_init(&m);
    ram = add_ram(m.root, "ram", 0, 0x2000);
    io = add_io_prio(m.root, "io", 0x8000, 0x1000, 0);
    c = gm_region_new_container(m.sys, "c", 0x1000, NULL);

    /* NULL region. */
    CHECK_FAILS_QUIETLY(&m, gm_region_set_address(NULL, 0, &e_), -EINVAL);
    CHECK_FAILS_QUIETLY(&m, gm_region_set_enabled(NULL, true, &e_), -EINVAL);
    CHECK_FAILS_QUIETLY(&m, gm_region_set_readonly(NULL, true, &e_), -EINVAL);
    CHECK_FAILS_QUIETLY(&m, gm_region_set_nonvolatile(NULL, true, &e_),
                        -EINVAL);
    CHECK_FAILS_QUIETLY(&m, gm_region_set_size(NULL, 1, &e_), -EINVAL);
    CHECK_FAILS_QUIETLY(&m, gm_region_set_alias_offset(NULL, 0, &e_), -EINVAL);
    CHECK_FAILS_QUIETLY(&m, gm_region_set_romd(NULL, true, &e_), -EINVAL);
    CHECK_FAILS_QUIETLY(&m, gm_region_set_log(NULL, true, GM_DIRTY_VGA, &e_),
                        -EINVAL);

    /* Sizes: zero for RAM, growing past the allocation, past 2^64. */
    CHECK_FAILS_QUIETLY(&m, gm_region_set_size(ram, 0, &e_), -EINVAL);
    CHECK_FAILS_QUIETLY(&m, gm_region_set_size(ram, 0x100000, &e_), -EINVAL);
    CHECK_FAILS_QUIETLY(&m, gm_region_set_size(io, 0, &e_), -EINVAL);
    CHECK_FAILS_QUIETLY(&m, gm_region_set_size(c, GM_SIZE_2_64 + 1, &e_),
                        -EINVAL);
    CHECK_EQ_U128(gm_region_size(ram), 0x2000);
    CHECK_EQ_U128(gm_region_size(c), 0x1000);

    /* Logging: only RAM-backed regions, only known clients. */
    CHECK_FAILS_QUIETLY(&m, gm_region_set_log(io, true, GM_DIRTY_VGA, &e_),
                        -EINVAL);
    CHECK_FAILS_QUIETLY(&m, gm_region_set_log(ram, true, GM_DIRTY_NR, &e_),
                        -EINVAL);
    CHECK_EQ_INT(gm_region_dirty_log_mask(ram), 0);
    CHECK_EQ_INT(gm_region_dirty_log_mask(io), 0);

    /* Moving past 2^64 (the root is 64 KiB, but the limit is 2^64). */
    CHECK_FAILS_QUIETLY(&m, gm_region_set_address(ram, UINT64_MAX - 0xfff, &e_),
                        -ERANGE);
    CHECK_EQ_U64(gm_region_addr(ram), 0);

    CHECK_EQ_STR(as_str(m.as, &sb), "ram 0-1fff; io 8000-8fff");
    gm_region_unref(c);
    machine_fini(&m);
}

/* Resizing within the allocation is visible in the view. */
static void test_set_size(void)
{
    struct machine m;
    struct strbuf sb = {.len = 0};
    gm_region *ram, *c;

    machine_init(&m);
    ram = add_ram(m.root, "ram", 0, 0x2000);
    c = gm_region_new_container(m.sys, "c", 0x1000, NULL);
    CHECK_EQ_INT(gm_region_add_subregion(m.root, 0x4000, c, NULL), 0);
    add_ram(c, "inner", 0x1800, 0x800);
    CHECK_EQ_STR(as_str(m.as, &sb), "ram 0-1fff");

    CHECK_EQ_INT(gm_region_set_size(ram, 0x1000, NULL), 0);
    CHECK_EQ_U128(gm_region_size(ram), 0x1000);
    CHECK_EQ_STR(as_str(m.as, &sb), "ram 0-fff");
    CHECK_EQ_INT(gm_region_set_size(ram, 0x2000, NULL), 0);
    CHECK_EQ_STR(as_str(m.as, &sb), "ram 0-1fff");

    /* Growing a container uncovers a child past its old end. */
    CHECK_EQ_INT(gm_region_set_size(c, 0x2000, NULL), 0);
    CHECK_EQ_STR(as_str(m.as, &sb), "ram 0-1fff; inner 5800-5fff");
    CHECK_EQ_INT(gm_region_set_size(c, 0, NULL), 0);
    CHECK_EQ_U128(gm_region_size(c), 0);
    CHECK_EQ_STR(as_str(m.as, &sb), "ram 0-1fff");

    gm_region_unref(c);
    machine_fini(&m);
}

/*
 * A memoryless system: RAM of any size, up to 2^64, without host memory;
 * it renders and logs as RAM, and accesses to it are unassigned.
 */
static void test_memoryless(void)
{
    struct strbuf b = {.len = 0};
    gm_system *sys = gm_system_new(NULL);
    gm_region *root = gm_region_new_container(sys, "root", GM_SIZE_2_64, NULL);
    gm_region *big, *rom, *dev, *before;
    gm_space *as;
    uint64_t v = 0x5a;

    before = gm_region_new_ram(sys, "before", 0x1000, NULL);
    CHECK(gm_region_ram_ptr(before) != NULL);
    CHECK_EQ_INT(gm_system_set_memoryless(NULL, true, NULL), -EINVAL);
    CHECK_EQ_INT(gm_system_set_memoryless(sys, true, NULL), 0);
    big = gm_region_new_ram(sys, "big", (gm_u128)1 << 63, NULL);
    rom = gm_region_new_rom(sys, "rom", GM_SIZE_2_64 >> 1, NULL);
    dev = gm_region_new_ram_device(sys, "dev", 0x1000, NULL, NULL);
    CHECK(big && rom && dev);
    CHECK(gm_region_ram_ptr(big) == NULL);
    CHECK(gm_region_ram_ptr(before) != NULL); /* made before: kept */
    CHECK_EQ_INT(gm_region_add_subregion(root, 0, big, NULL), 0);
    CHECK_EQ_INT(gm_region_add_subregion_overlap(root, 0x1000, dev, 1, NULL),
                 0);
    CHECK_EQ_INT(gm_region_set_log(big, true, GM_DIRTY_VGA, NULL), 0);
    as = gm_space_new(sys, root, "mem", NULL);
    CHECK_EQ_STR(as_str(as, &b),
                 "big 0-fff log=1; dev 1000-1fff; "
                 "big 2000-7fffffffffffffff @2000 log=1");
    CHECK_EQ_INT(gm_space_load(as, 0x10, 8, GM_ENDIAN_LITTLE, &v,
                               GM_ATTRS_DEFAULT),
                 GM_RESULT_DECODE_ERROR);
    CHECK_EQ_U64(v, 0);
    CHECK_EQ_INT(gm_space_destroy(as, NULL), 0);
    gm_region_unref(big);
    gm_region_unref(rom);
    gm_region_unref(dev);
    gm_region_unref(before);
    gm_region_unref(root);
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
}

/* A priority change re-adds the region, as a move does. */
static void test_set_priority(void)
{
    struct strbuf b = {.len = 0};
    struct machine m;
    gm_region *lo, *hi, *loose;

    machine_init(&m);
    lo = add_io_prio(m.root, "lo", 0, 0x2000, 0);
    hi = add_io_prio(m.root, "hi", 0x1000, 0x2000, 1);
    CHECK_EQ_STR(as_str(m.as, &b), "lo 0-fff; hi 1000-2fff");
    CHECK_EQ_INT(gm_region_set_priority(lo, 2, NULL), 0);
    CHECK_EQ_INT(gm_region_priority(lo), 2);
    CHECK_EQ_STR(as_str(m.as, &b), "lo 0-1fff; hi 2000-2fff @1000");
    CHECK_EQ_INT(gm_region_set_priority(lo, 2, NULL), 0); /* no change */
    CHECK_EQ_INT(gm_region_set_priority(NULL, 1, NULL), -EINVAL);
    /* Equal priorities: the most recently re-added renders first. */
    CHECK_EQ_INT(gm_region_set_priority(hi, 2, NULL), 0);
    CHECK_EQ_STR(as_str(m.as, &b), "lo 0-fff; hi 1000-2fff");
    /* A region in no container keeps a priority too (as QEMU prints). */
    loose = gm_region_new_container(m.sys, "loose", 0x1000, NULL);
    CHECK_EQ_INT(gm_region_set_priority(loose, -3, NULL), 0);
    CHECK_EQ_INT(gm_region_priority(loose), -3);
    gm_region_unref(loose);
    machine_fini(&m);
}

int main(void)
{
    RUN(test_constructors);
    RUN(test_kind_names);
    RUN(test_names);
    RUN(test_constructor_errors);
    RUN(test_sizes_accepted);
    RUN(test_ref_unref);
    RUN(test_flatview_keeps_region);
    RUN(test_properties);
    RUN(test_setters);
    RUN(test_setter_errors);
    RUN(test_set_size);
    RUN(test_memoryless);
    RUN(test_set_priority);
    return harness_done();
}
