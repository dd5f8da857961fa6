/* SPDX-License-Identifier: MIT */
/*
 * test-ram.c - unit tests of guestmem/ram.h (RAM blocks) and
 * guestmem/dirty.h (dirty bitmaps, snapshot reset).
 *
 * What is checked, call by call, against the kernel-doc of the headers:
 *  - gm_region_new_ram_opts() with each backing: ANON (the host pointer
 *    has the alignment asked for), MEMFD (a valid fd whose second mapping
 *    shares the memory), FILE (shared: writes reach the file; private:
 *    they do not; a missing file is created and sized), hugetlbfs when one
 *    is mounted, PTR (the caller's memory, still usable after the region
 *    is gone), NONE and memoryless systems (accesses unassigned); every
 *    flag accepted, reported by gm_region_ram_info() and, where the kernel
 *    shows it, in effect (smaps VmFlags, resident pages after PREALLOC);
 *    every bad argument refused with -EINVAL or the errno, the message
 *    naming the block;
 *  - gm_region_ram_addr(), gm_region_ram_info(), the best-fit placement
 *    of blocks in the ram_addr space, gm_system_foreach_ram_block() (ram_addr
 *    order, early stop), gm_system_ram_lookup() / _from_host() (first and
 *    last bytes, gaps, outside, the reference returned);
 *  - gm_region_ram_resize() (grow, shrink, the limits, the callback, what
 *    listeners see, the memory not moving, new pages zero and dirty) and
 *    gm_region_ram_discard() (zeros, dirty for every client, bad args);
 *  - dirty.h: test / count / set / clear / merge over partial pages and
 *    block boundaries, bad clients and ranges, snapshots and their walks,
 *    log_clear, new blocks all dirty, logging start marking its ranges,
 *    writes through every access path marking exactly the pages written
 *    for exactly the clients that log, gm_ram_snapshot_*.
 * Failure injection lives in test-ram-sysfail.c (system calls) and
 * test-ram-alloc-fail.c (allocations).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <guestmem/guestmem.h>
#include <guestmem/dirty.h>
#include <guestmem/ram.h>

#include "harness.h"

#include "unit/unit-helpers.h"

#include "ram-helpers.h"

/*
 * Construction, backing by backing.
 */

/* Info of @r, which must have a block. */
static struct gm_ram_block_info info_of(gm_region *r)
{
    struct gm_ram_block_info i;

    memset(&i, 0, sizeof(i));
    if (gm_region_ram_info(r, &i) != 0) {
        HARNESS_FAIL("gm_region_ram_info('%s') failed",
                     r ? gm_region_name(r) : "(null)");
    }
    return i;
}

static void test_anon_default(void)
{
    gm_system *sys = gm_system_new(NULL);
    gm_region *r = rh_must(sys, "ram0", 100 * KiB, NULL);
    struct gm_ram_block_info i = info_of(r);

    CHECK_EQ_PTR(i.region, r);
    CHECK_EQ_STR(i.name, "ram0");
    CHECK_EQ_INT(i.backing, GM_RAM_ANON);
    CHECK_EQ_INT(i.flags, 0);
    CHECK_EQ_U64(i.used_length, 100 * KiB);
    CHECK_EQ_U64(i.max_length, 100 * KiB);
    CHECK_EQ_U64(i.page_size, (uint64_t)sysconf(_SC_PAGESIZE));
    CHECK_EQ_INT(i.fd, -1);
    CHECK(i.host != NULL);
    /* The default alignment: 2 MiB. */
    CHECK_EQ_U64((uintptr_t)i.host % (2 * MiB), 0);
    CHECK_EQ_PTR(gm_region_ram_ptr(r), i.host);
    CHECK_EQ_INT(gm_region_kind(r), GM_REGION_RAM);
    CHECK_EQ_U64((uint64_t)gm_region_size(r), 100 * KiB);
    /* Fresh anonymous memory: zeros, writable. */
    CHECK(rh_is_zero(i.host, 100 * KiB));
    rh_fill(i.host, 100 * KiB, 1);
    CHECK(rh_is_fill(i.host, 100 * KiB, 1, 0));
    gm_region_unref(r);
    /* The memory is unmapped with the region. */
    CHECK(!rh_any_mapped(i.host, 100 * KiB));
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
}

static void test_anon_align(void)
{
    static const size_t aligns[] = {4 * KiB, 64 * KiB, 1 * MiB, 2 * MiB,
                                    8 * MiB};
    gm_system *sys = gm_system_new(NULL);

    for (size_t k = 0; k < sizeof(aligns) / sizeof(aligns[0]); k++) {
        struct gm_ram_opts o = {.backing = GM_RAM_ANON, .align = aligns[k]};
        /* Several, so that one cannot be aligned by luck. */
        gm_region *r[4];

        for (int j = 0; j < 4; j++) {
            r[j] = rh_must(sys, "al", 12 * KiB + (uint64_t)j * 4 * KiB, &o);
            if (!r[j]) {
                continue;
            }
            struct gm_ram_block_info i = info_of(r[j]);
            if ((uintptr_t)i.host % aligns[k]) {
                HARNESS_FAIL("align %zu: host %p", aligns[k], i.host);
            }
            /* The whole length is usable. */
            rh_fill(i.host, i.used_length, (unsigned)j);
            CHECK(rh_is_fill(i.host, i.used_length, (unsigned)j, 0));
        }
        for (int j = 0; j < 4; j++) {
            gm_region_unref(r[j]);
        }
    }
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
}

static uint64_t romd_read(void *opaque, uint64_t off, unsigned size)
{
    (void)opaque;
    (void)size;
    return 0xd0000000 | off;
}

static void romd_write(void *opaque, uint64_t off, uint64_t v, unsigned size)
{
    *(uint64_t *)opaque = off << 32 | v;
    (void)size;
}

static const struct gm_region_ops romd_ops = {
    .read = romd_read,
    .write = romd_write,
    .endianness = GM_ENDIAN_LITTLE,
};

/* Every RAM-backed kind; others refused. */
static void test_kinds(void)
{
    struct machine m;
    struct gm_ram_opts o = {.backing = GM_RAM_ANON, .align = PG};
    uint64_t last_write = 0, v = 0;
    gm_region *rom, *romd, *ramd, *bad;
    gm_error err = {0};

    machine_init(&m);
    rom = gm_region_new_ram_opts(m.sys, "rom", GM_REGION_ROM, 8 * KiB, &o,
                                 NULL, NULL, NULL);
    romd = gm_region_new_ram_opts(m.sys, "romd", GM_REGION_ROM_DEVICE,
                                  8 * KiB, &o, &romd_ops, &last_write, NULL);
    ramd = gm_region_new_ram_opts(m.sys, "ramd", GM_REGION_RAM_DEVICE,
                                  8 * KiB, &o, NULL, NULL, NULL);
    CHECK(rom && romd && ramd);
    CHECK_EQ_INT(gm_region_kind(rom), GM_REGION_ROM);
    CHECK_EQ_INT(gm_region_kind(romd), GM_REGION_ROM_DEVICE);
    CHECK_EQ_INT(gm_region_kind(ramd), GM_REGION_RAM_DEVICE);
    CHECK(gm_region_readonly(rom));
    CHECK(gm_region_ram_addr(rom) != GM_RAM_ADDR_INVALID);
    CHECK(gm_region_ram_addr(romd) != GM_RAM_ADDR_INVALID);
    CHECK(gm_region_ram_addr(ramd) != GM_RAM_ADDR_INVALID);
    CHECK_EQ_PTR(gm_region_ops(romd), &romd_ops);
    CHECK_EQ_PTR(gm_region_opaque(romd), &last_write);
    ((uint8_t *)gm_region_ram_ptr(rom))[5] = 0x5a;
    ((uint8_t *)gm_region_ram_ptr(romd))[6] = 0x6b;
    CHECK_EQ_INT(gm_region_add_subregion(m.root, 0x0000, rom, NULL), 0);
    CHECK_EQ_INT(gm_region_add_subregion(m.root, 0x4000, romd, NULL), 0);
    CHECK_EQ_INT(gm_region_add_subregion(m.root, 0x8000, ramd, NULL), 0);
    /* ROM reads its memory and refuses writes. */
    CHECK_EQ_INT(gm_space_load(m.as, 5, 1, GM_ENDIAN_LITTLE, &v,
                               GM_ATTRS_DEFAULT), GM_RESULT_OK);
    CHECK_EQ_U64(v, 0x5a);
    CHECK_EQ_INT(gm_space_store(m.as, 5, 1, GM_ENDIAN_LITTLE, 1,
                                GM_ATTRS_DEFAULT), GM_RESULT_ACCESS_ERROR);
    /* A ROM device in romd mode reads its memory, writes go to its ops. */
    CHECK_EQ_INT(gm_space_load(m.as, 0x4006, 1, GM_ENDIAN_LITTLE, &v,
                               GM_ATTRS_DEFAULT), GM_RESULT_OK);
    CHECK_EQ_U64(v, 0x6b);
    CHECK_EQ_INT(gm_space_store(m.as, 0x4010, 1, GM_ENDIAN_LITTLE, 0x77,
                                GM_ATTRS_DEFAULT), GM_RESULT_OK);
    CHECK_EQ_U64(last_write, 0x10ull << 32 | 0x77);
    /* A RAM device is RAM. */
    CHECK_EQ_INT(gm_space_store(m.as, 0x8010, 1, GM_ENDIAN_LITTLE, 0x99,
                                GM_ATTRS_DEFAULT), GM_RESULT_OK);
    CHECK_EQ_U64(((uint8_t *)gm_region_ram_ptr(ramd))[0x10], 0x99);
    gm_region_unref(rom);
    gm_region_unref(romd);
    gm_region_unref(ramd);

    for (int k = GM_REGION_CONTAINER; k <= GM_REGION_RAM_DEVICE; k++) {
        if (k == GM_REGION_CONTAINER || k == GM_REGION_IO ||
            k == GM_REGION_ALIAS) {
            gm_error_clear(&err);
            bad = gm_region_new_ram_opts(m.sys, "notram",
                                         (enum gm_region_kind)k, PG, &o,
                                         NULL, NULL, &err);
            CHECK(bad == NULL);
            CHECK_EQ_INT(err.code, -EINVAL);
            CHECK_CONTAINS(err.msg, "notram");
        }
    }
    machine_fini(&m);
}

static void test_memfd(void)
{
    struct machine m;
    struct gm_ram_opts o = {.backing = GM_RAM_MEMFD};
    gm_region *r;
    struct gm_ram_block_info i;
    struct stat st;
    uint8_t *second;
    uint64_t v = 0;
    int fd;

    machine_init(&m);
    r = rh_must(m.sys, "shm", 40 * KiB, &o);
    if (!r) {
        machine_fini(&m);
        return;
    }
    i = info_of(r);
    CHECK_EQ_INT(i.backing, GM_RAM_MEMFD);
    CHECK(i.fd >= 0);
    CHECK(i.host != NULL);
    CHECK_EQ_U64(i.page_size, PG);
    fd = i.fd;
    CHECK(fcntl(fd, F_GETFD) >= 0);
    CHECK(fstat(fd, &st) == 0);
    CHECK(S_ISREG(st.st_mode));
    CHECK_EQ_U64((uint64_t)st.st_size, 40 * KiB);
    /* A second mapping of the fd (as another process would) shares. */
    second = mmap(NULL, 40 * KiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(second != MAP_FAILED);
    CHECK_EQ_INT(gm_region_add_subregion(m.root, 0x1000, r, NULL), 0);
    CHECK_EQ_INT(gm_space_store(m.as, 0x1000 + 0x2345, 4, GM_ENDIAN_LITTLE,
                                0xa1b2c3d4, GM_ATTRS_DEFAULT), GM_RESULT_OK);
    CHECK_EQ_U64(second[0x2345], 0xd4);
    CHECK_EQ_U64(second[0x2348], 0xa1);
    /* ... both ways. */
    second[0x9000] = 0x42;
    CHECK_EQ_INT(gm_space_load(m.as, 0x1000 + 0x9000, 1, GM_ENDIAN_LITTLE, &v,
                               GM_ATTRS_DEFAULT), GM_RESULT_OK);
    CHECK_EQ_U64(v, 0x42);
    CHECK_EQ_U64(((uint8_t *)i.host)[0x9000], 0x42);
    munmap(second, 40 * KiB);
    CHECK_EQ_INT(gm_region_del_subregion(m.root, r, NULL), 0);
    gm_region_unref(r);
    /* Gone with the region (and the views that showed it): fd closed. */
    machine_fini(&m);
    CHECK(fcntl(fd, F_GETFD) == -1 && errno == EBADF);
}

/* A region name longer than memfd_create() takes is still a name. */
static void test_memfd_long_name(void)
{
    gm_system *sys = gm_system_new(NULL);
    struct gm_ram_opts o = {.backing = GM_RAM_MEMFD};
    char name[400];
    gm_error err = {0};
    gm_region *r;

    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    r = rh_new(sys, name, PG, &o, &err);
    CHECK(r != NULL);
    if (!r) {
        fprintf(stderr, "    %d %s\n", err.code, err.msg);
    } else {
        CHECK_EQ_STR(gm_region_name(r), name);
        CHECK(info_of(r).fd >= 0);
    }
    gm_region_unref(r);
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
}

static void file_case(bool shared)
{
    struct machine m;
    struct gm_ram_opts o = {.backing = GM_RAM_FILE,
                            .flags = shared ? GM_RAM_SHARED : 0};
    char path[64];
    uint8_t buf[16], init[3 * PG];
    struct gm_ram_block_info i;
    gm_region *r;
    uint64_t v = 0;
    int fd = rh_tmpfile(path, sizeof(path));

    /* What the file holds before: the mapping must show it. */
    rh_fill(init, sizeof(init), 9);
    CHECK(pwrite(fd, init, sizeof(init), 0) == (ssize_t)sizeof(init));
    o.path = path;
    machine_init(&m);
    r = rh_must(m.sys, "file", 8 * PG, &o);
    if (!r) {
        goto out;
    }
    i = info_of(r);
    CHECK_EQ_INT(i.backing, GM_RAM_FILE);
    CHECK_EQ_INT(i.flags, o.flags);
    CHECK(i.fd >= 0 && i.fd != fd);
    CHECK_EQ_U64(i.page_size, PG);
    /* Extended to the block's length. */
    CHECK_EQ_U64((uint64_t)rh_file_size(path), 8 * PG);
    CHECK(rh_is_fill(i.host, sizeof(init), 9, 0));
    CHECK(rh_is_zero((uint8_t *)i.host + sizeof(init), 8 * PG - sizeof(init)));
    CHECK_EQ_INT(gm_region_add_subregion(m.root, 0, r, NULL), 0);
    CHECK_EQ_INT(gm_space_store(m.as, 0x4010, 8, GM_ENDIAN_LITTLE,
                                0x1122334455667788ull, GM_ATTRS_DEFAULT),
                 GM_RESULT_OK);
    CHECK_EQ_INT(gm_space_store(m.as, 0x10, 1, GM_ENDIAN_LITTLE, 0xee,
                                GM_ATTRS_DEFAULT),
                 GM_RESULT_OK);
    CHECK_EQ_INT(gm_space_load(m.as, 0x4010, 8, GM_ENDIAN_LITTLE, &v,
                               GM_ATTRS_DEFAULT), GM_RESULT_OK);
    CHECK_EQ_U64(v, 0x1122334455667788ull);
    /* Shared: the file has the writes; private: it does not. */
    CHECK(pread(fd, buf, 8, 0x4010) == 8);
    if (shared) {
        CHECK_EQ_U64(buf[0], 0x88);
        CHECK_EQ_U64(buf[7], 0x11);
    } else {
        CHECK(rh_is_zero(buf, 8));
    }
    CHECK(pread(fd, buf, 1, 0x10) == 1);
    CHECK_EQ_U64(buf[0], shared ? 0xee : init[0x10]);
    /* And the other way round: a write to a shared file shows. */
    buf[0] = 0x3c;
    CHECK(pwrite(fd, buf, 1, 0x6000) == 1);
    if (shared) {
        CHECK_EQ_U64(((uint8_t *)i.host)[0x6000], 0x3c);
    }
    CHECK_EQ_INT(gm_region_del_subregion(m.root, r, NULL), 0);
    gm_region_unref(r);
out:
    machine_fini(&m);
    close(fd);
    unlink(path);
}

static void test_file_shared(void)
{
    file_case(true);
}

static void test_file_private(void)
{
    file_case(false);
}

/* A FILE path that does not exist yet is created at the block's length. */
static void test_file_created(void)
{
    gm_system *sys = gm_system_new(NULL);
    struct gm_ram_opts o = {.backing = GM_RAM_FILE, .flags = GM_RAM_SHARED};
    char dir[64], path[96];
    struct gm_ram_block_info i;
    gm_region *r;
    int fd;

    rh_newpath(dir, sizeof(dir), path, sizeof(path));
    o.path = path;
    r = rh_must(sys, "newfile", 5 * PG + 1, &o);
    if (r) {
        i = info_of(r);
        CHECK(rh_exists(path));
        CHECK_EQ_U64((uint64_t)rh_file_size(path), 6 * PG);
        CHECK_EQ_U64(i.used_length, 5 * PG + 1);
        rh_fill(i.host, 6 * PG, 4);
        gm_region_unref(r);
        /* The file outlives the block, with the data. */
        fd = open(path, O_RDONLY);
        CHECK(fd >= 0);
        if (fd >= 0) {
            uint8_t b[6 * PG];

            CHECK(read(fd, b, sizeof(b)) == (ssize_t)sizeof(b));
            CHECK(rh_is_fill(b, sizeof(b), 4, 0));
            close(fd);
        }
    }
    unlink(path);
    rmdir(dir);
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
}

/* The mount point of a hugetlbfs, or false. */
static bool hugetlbfs_mount(char *out, size_t n)
{
    FILE *f = fopen("/proc/mounts", "r");
    char dev[256], mnt[256], type[64];
    bool found = false;

    if (!f) {
        return false;
    }
    while (fscanf(f, "%255s %255s %63s %*[^\n]", dev, mnt, type) == 3) {
        if (!strcmp(type, "hugetlbfs") && access(mnt, W_OK) == 0) {
            snprintf(out, n, "%s", mnt);
            found = true;
            break;
        }
    }
    fclose(f);
    return found;
}

static char huge_mnt[256];

/* Only run when a writable hugetlbfs is mounted (see main()). */
static void test_hugetlbfs(void)
{
    gm_system *sys = gm_system_new(NULL);
    struct gm_ram_opts o = {.backing = GM_RAM_FILE, .flags = GM_RAM_SHARED};
    char path[400];
    gm_error err = {0};
    gm_region *r;

    snprintf(path, sizeof(path), "%s/gm-ram-test-%d", huge_mnt,
             (int)getpid());
    o.path = path;
    r = rh_new(sys, "huge", 2 * MiB, &o, &err);
    if (!r && err.code == -ENOMEM) {
        /* Mounted but no pages reserved: the error must say so. */
        CHECK_CONTAINS(err.msg, "huge");
    } else if (r) {
        struct gm_ram_block_info i = info_of(r);

        CHECK(i.page_size >= 2 * MiB);
        CHECK_EQ_U64((uintptr_t)i.host % i.page_size, 0);
        ((uint8_t *)i.host)[0] = 1;
        gm_region_unref(r);
    } else {
        HARNESS_FAIL("hugetlbfs block: %d %s", err.code, err.msg);
    }
    /* Not a multiple of the huge page size. */
    gm_error_clear(&err);
    CHECK(rh_new(sys, "huge-odd", 2 * MiB + PG, &o, &err) == NULL);
    CHECK_EQ_INT(err.code, -EINVAL);
    CHECK_CONTAINS(err.msg, "huge-odd");
    unlink(path);
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
}

static void test_ptr(void)
{
    struct machine m;
    size_t len = 16 * PG;
    uint8_t *buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    struct gm_ram_opts o = {.backing = GM_RAM_PTR, .host = buf};
    struct gm_ram_block_info i;
    gm_region *r;
    uint64_t v = 0;

    CHECK(buf != MAP_FAILED);
    rh_fill(buf, len, 3);
    machine_init(&m);
    r = rh_must(m.sys, "borrowed", len, &o);
    if (r) {
        i = info_of(r);
        CHECK_EQ_INT(i.backing, GM_RAM_PTR);
        CHECK_EQ_PTR(i.host, buf);
        CHECK_EQ_PTR(gm_region_ram_ptr(r), buf);
        CHECK_EQ_INT(i.fd, -1);
        /* The caller's bytes, as they are: nothing cleared. */
        CHECK_EQ_INT(gm_region_add_subregion(m.root, 0, r, NULL), 0);
        CHECK_EQ_INT(gm_space_load(m.as, 0x1234, 1, GM_ENDIAN_LITTLE, &v,
                                   GM_ATTRS_DEFAULT), GM_RESULT_OK);
        CHECK_EQ_U64(v, buf[0x1234]);
        CHECK_EQ_INT(gm_space_store(m.as, 0x2000, 1, GM_ENDIAN_LITTLE, 0,
                                    GM_ATTRS_DEFAULT), GM_RESULT_OK);
        CHECK_EQ_U64(buf[0x2000], 0);
        CHECK_EQ_INT(gm_region_del_subregion(m.root, r, NULL), 0);
        gm_region_unref(r);
    }
    machine_fini(&m);
    /* Never unmapped: the buffer is still the caller's to use. */
    CHECK_EQ_INT(rh_resident(buf, len), (long)(len / PG));
    buf[0x2000] = 0x11;
    CHECK(rh_is_fill(buf, 0x2000, 3, 0));
    CHECK(rh_is_fill(buf + 0x2001, len - 0x2001, 3, 0x2001));
    munmap(buf, len);

    /* Plain heap memory works too. */
    {
        gm_system *sys = gm_system_new(NULL);
        uint8_t *heap = malloc(3000);
        struct gm_ram_opts h = {.backing = GM_RAM_PTR, .host = heap};

        r = rh_must(sys, "heap", 3000, &h);
        CHECK_EQ_PTR(gm_region_ram_ptr(r), heap);
        gm_region_unref(r);
        CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
        memset(heap, 1, 3000);
        free(heap);
    }
}

/* Accesses of [addr, +len) in @as are unassigned: decode errors. */
static void check_unassigned(gm_space *as, uint64_t addr, uint64_t len)
{
    uint64_t v = 0x1234;
    uint8_t b[8] = {1, 2, 3, 4, 5, 6, 7, 8};

    CHECK_EQ_INT(gm_space_load(as, addr, 4, GM_ENDIAN_LITTLE, &v,
                               GM_ATTRS_DEFAULT), GM_RESULT_DECODE_ERROR);
    CHECK_EQ_U64(v, 0);
    CHECK_EQ_INT(gm_space_read(as, addr + len - 8, b, 8, GM_ATTRS_DEFAULT),
                 GM_RESULT_DECODE_ERROR);
    CHECK(rh_is_zero(b, 8));
    CHECK_EQ_INT(gm_space_store(as, addr, 4, GM_ENDIAN_LITTLE, 7,
                                GM_ATTRS_DEFAULT), GM_RESULT_DECODE_ERROR);
    CHECK_EQ_INT(gm_space_set_unassigned(as, GM_UNASSIGNED_ONES, NULL), 0);
    CHECK_EQ_INT(gm_space_load(as, addr, 4, GM_ENDIAN_LITTLE, &v,
                               GM_ATTRS_DEFAULT), GM_RESULT_DECODE_ERROR);
    CHECK_EQ_U64(v, 0xffffffffu);
    CHECK_EQ_INT(gm_space_set_unassigned(as, GM_UNASSIGNED_ZERO, NULL), 0);
}

static void test_none(void)
{
    struct machine m;
    struct gm_ram_opts o = {.backing = GM_RAM_NONE};
    struct rh_list l;
    gm_region *r;
    struct gm_ram_block_info i;
    uint64_t plen;

    machine_init(&m);
    r = rh_must(m.sys, "nomem", 32 * KiB, &o);
    if (!r) {
        machine_fini(&m);
        return;
    }
    CHECK(gm_region_ram_ptr(r) == NULL);
    CHECK_EQ_U64((uint64_t)gm_region_size(r), 32 * KiB);
    /* No place in the ram_addr space, no block to list or look up. */
    CHECK_EQ_U64(gm_region_ram_addr(r), GM_RAM_ADDR_INVALID);
    CHECK_EQ_INT(gm_region_ram_info(r, &i), -EINVAL);
    CHECK_EQ_STR(rh_blocks(m.sys, &l), "");
    CHECK_EQ_INT(gm_region_add_subregion(m.root, 0x2000, r, NULL), 0);
    /* It renders like RAM ... */
    {
        struct strbuf b;

        CHECK_CONTAINS(as_str(m.as, &b), "nomem 2000-9fff");
    }
    /* ... but reads and writes are unassigned, and it cannot be mapped. */
    check_unassigned(m.as, 0x2000, 32 * KiB);
    /* No memory to map directly: at most a bounce buffer. */
    plen = 8 * PG;
    {
        void *p = gm_space_map(m.as, 0x2000, &plen, true, GM_ATTRS_DEFAULT);

        CHECK(p == NULL || plen <= 4096);
        if (p) {
            gm_space_unmap(m.as, p, plen, true, plen);
        }
    }
    gm_region_unref(r);
    machine_fini(&m);
}

static void test_memoryless(void)
{
    struct machine m;
    struct gm_ram_opts o = {.backing = GM_RAM_MEMFD};
    struct rh_list l;
    gm_region *r, *big, *after;

    machine_init(&m);
    CHECK_EQ_INT(gm_system_set_memoryless(m.sys, true, NULL), 0);
    CHECK_EQ_INT(gm_system_set_memoryless(NULL, true, NULL), -EINVAL);
    r = rh_must(m.sys, "ml", 16 * KiB, &o);
    /* Any size: nothing is mapped. */
    big = rh_must(m.sys, "ml-big", 1ull << 62, NULL);
    CHECK(r && big);
    CHECK(gm_region_ram_ptr(r) == NULL);
    CHECK(gm_region_ram_ptr(big) == NULL);
    CHECK_EQ_U64(gm_region_ram_addr(r), GM_RAM_ADDR_INVALID);
    CHECK_EQ_STR(rh_blocks(m.sys, &l), "");
    CHECK_EQ_INT(gm_region_add_subregion(m.root, 0x4000, r, NULL), 0);
    check_unassigned(m.as, 0x4000, 16 * KiB);
    /* Regions made before or after keep what they got. */
    CHECK_EQ_INT(gm_system_set_memoryless(m.sys, false, NULL), 0);
    after = rh_must(m.sys, "real", 16 * KiB, &o);
    CHECK(after && gm_region_ram_ptr(after) != NULL);
    CHECK(gm_region_ram_ptr(r) == NULL);
    CHECK_EQ_INT(rh_blocks(m.sys, &l)[0] != '\0', 1);
    CHECK_EQ_INT(l.n, 1);
    gm_region_unref(r);
    gm_region_unref(big);
    gm_region_unref(after);
    machine_fini(&m);
}

/*
 * Flags: accepted, reported, and in effect where the kernel shows it:
 * smaps VmFlags mg (MADV_MERGEABLE), hg (MADV_HUGEPAGE), dd
 * (MADV_DONTDUMP), dc (MADV_DONTFORK), nr (MAP_NORESERVE); PREALLOC makes
 * every page resident.
 */
struct flag_case {
    unsigned flag;
    const char *vmflag; /* NULL: none to check */
    bool anon_only;     /* the kernel shows it only for private memory */
};

static const struct flag_case flag_cases[] = {
    {GM_RAM_MERGE, "mg", true},
    {GM_RAM_HUGEPAGE, "hg", true},
    {GM_RAM_NODUMP, "dd", false},
    {GM_RAM_NOFORK, "dc", false},
    {GM_RAM_NORESERVE, "nr", true},
    {GM_RAM_PREALLOC, NULL, false},
};

static bool ksm_available(void)
{
    return access("/sys/kernel/mm/ksm/run", F_OK) == 0;
}

static bool thp_available(void)
{
    return access("/sys/kernel/mm/transparent_hugepage/enabled", F_OK) == 0;
}

/* Under strict overcommit (mode 2) the kernel ignores MAP_NORESERVE. */
static bool noreserve_shown(void)
{
    FILE *f = fopen("/proc/sys/vm/overcommit_memory", "r");
    int mode = 0;

    if (f) {
        if (fscanf(f, "%d", &mode) != 1) {
            mode = 0;
        }
        fclose(f);
    }
    return mode != 2;
}

static void flags_for(enum gm_ram_backing backing)
{
    gm_system *sys = gm_system_new(NULL);
    uint64_t size = 24 * PG;

    for (size_t k = 0; k < sizeof(flag_cases) / sizeof(flag_cases[0]); k++) {
        const struct flag_case *fc = &flag_cases[k];
        struct gm_ram_opts o = {.backing = backing, .flags = fc->flag};
        struct gm_ram_block_info i;
        gm_region *r;
        char name[32];

        if (fc->flag == GM_RAM_HUGEPAGE && backing == GM_RAM_MEMFD) {
            continue; /* MFD_HUGETLB: needs reserved huge pages */
        }
        snprintf(name, sizeof(name), "flag-%x-%d", fc->flag, (int)backing);
        r = rh_must(sys, name, size, &o);
        if (!r) {
            continue;
        }
        i = info_of(r);
        CHECK_EQ_INT(i.flags, fc->flag);
        CHECK_EQ_INT(i.backing, backing);
        if (fc->vmflag && (!fc->anon_only || backing == GM_RAM_ANON) &&
            (fc->flag != GM_RAM_MERGE || ksm_available()) &&
            (fc->flag != GM_RAM_HUGEPAGE || thp_available()) &&
            (fc->flag != GM_RAM_NORESERVE || noreserve_shown())) {
            if (!rh_has_vmflag(i.host, fc->vmflag)) {
                char fl[256] = "";

                rh_vmflags(i.host, fl, sizeof(fl));
                HARNESS_FAIL("%s: VmFlags \"%s\" lack %s", name, fl,
                             fc->vmflag);
            }
        }
        if (fc->flag == GM_RAM_PREALLOC) {
            CHECK_EQ_INT(rh_resident(i.host, size), (long)(size / PG));
        }
        gm_region_unref(r);
    }

    /* Without flags: none of those marks, nothing resident. */
    {
        struct gm_ram_opts o = {.backing = backing};
        gm_region *r = rh_must(sys, "noflags", size, &o);

        if (r) {
            struct gm_ram_block_info i = info_of(r);
            const char *marks[] = {"mg", "hg", "dd", "dc"};

            for (size_t k = 0; k < 4; k++) {
                CHECK(!rh_has_vmflag(i.host, marks[k]));
            }
            if (backing == GM_RAM_ANON) {
                CHECK(!rh_has_vmflag(i.host, "nr"));
            }
            CHECK_EQ_INT(rh_resident(i.host, size), 0);
            gm_region_unref(r);
        }
    }
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
}

static void test_flags_anon(void)
{
    flags_for(GM_RAM_ANON);
}

static void test_flags_memfd(void)
{
    flags_for(GM_RAM_MEMFD);
}

/* All flags at once, and PREALLOC with one and with four threads. */
static void test_flags_combined(void)
{
    static const unsigned threads[] = {0, 1, 4, 100};
    gm_system *sys = gm_system_new(NULL);
    unsigned all = GM_RAM_MERGE | GM_RAM_HUGEPAGE | GM_RAM_NODUMP |
                   GM_RAM_NOFORK | GM_RAM_PREALLOC | GM_RAM_NORESERVE |
                   GM_RAM_RESIZEABLE;

    for (size_t k = 0; k < sizeof(threads) / sizeof(threads[0]); k++) {
        /* 37 pages: not a multiple of the thread count. */
        struct gm_ram_opts o = {.backing = GM_RAM_ANON,
                                .flags = all,
                                .max_length = 37 * PG,
                                .prealloc_threads = threads[k]};
        gm_region *r = rh_must(sys, "all", 30 * PG, &o);

        if (r) {
            struct gm_ram_block_info i = info_of(r);

            CHECK_EQ_INT(i.flags, all);
            CHECK_EQ_U64(i.max_length, 37 * PG);
            /* Every page of the reservation is touched. */
            CHECK_EQ_INT(rh_resident(i.host, 37 * PG), 37);
            CHECK(rh_is_zero(i.host, 37 * PG));
            CHECK(rh_has_vmflag(i.host, "dd"));
            CHECK(rh_has_vmflag(i.host, "dc"));
            gm_region_unref(r);
        }
    }
    /* The same on a memfd, shared file and private file. */
    for (int b = 0; b < 3; b++) {
        char path[64];
        int fd = -1;
        struct gm_ram_opts o = {.flags = (all & ~GM_RAM_HUGEPAGE),
                                .max_length = 37 * PG,
                                .prealloc_threads = 4};
        gm_region *r;

        if (b == 0) {
            o.backing = GM_RAM_MEMFD;
        } else {
            fd = rh_tmpfile(path, sizeof(path));
            o.backing = GM_RAM_FILE;
            o.path = path;
            o.flags |= b == 1 ? GM_RAM_SHARED : 0;
        }
        r = rh_must(sys, "all-fd", 30 * PG, &o);
        if (r) {
            struct gm_ram_block_info i = info_of(r);

            CHECK_EQ_INT(i.flags, o.flags);
            CHECK_EQ_INT(rh_resident(i.host, 37 * PG), 37);
            CHECK(rh_is_zero(i.host, 37 * PG));
            gm_region_unref(r);
        }
        if (fd >= 0) {
            close(fd);
            unlink(path);
        }
    }
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
}

/* NOFORK: a child process does not get the memory at all. */
static void test_nofork_child(void)
{
    gm_system *sys = gm_system_new(NULL);
    struct gm_ram_opts o = {.backing = GM_RAM_ANON, .flags = GM_RAM_NOFORK,
                            .align = PG};
    struct gm_ram_opts plain = {.backing = GM_RAM_ANON, .align = PG};
    gm_region *r = rh_must(sys, "nofork", 4 * PG, &o);
    gm_region *p = rh_must(sys, "fork", 4 * PG, &plain);
    int status = 0;
    pid_t pid;

    if (r && p) {
        uint8_t *h = gm_region_ram_ptr(r), *q = gm_region_ram_ptr(p);

        h[0] = 1;
        q[0] = 2;
        fflush(NULL);
        pid = fork();
        if (pid == 0) {
            /* 0: as expected; 1: the NOFORK memory was inherited. */
            _exit(!rh_any_mapped(h, 4 * PG) && q[0] == 2 ? 0 : 1);
        }
        CHECK(pid > 0);
        CHECK(waitpid(pid, &status, 0) == pid);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    gm_region_unref(r);
    gm_region_unref(p);
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
}

/* One refused construction: NULL, @code, a message naming the block. */
static void refused(gm_system *sys, const char *name, uint64_t size,
                    const struct gm_ram_opts *o, int code, const char *also)
{
    gm_error err = {0};
    gm_region *r = rh_new(sys, name, size, o, &err);
    struct rh_list before, after;

    rh_blocks(sys, &before);
    if (r) {
        HARNESS_FAIL("'%s' was made", name);
        gm_region_unref(r);
        return;
    }
    CHECK_EQ_INT(err.code, code);
    CHECK_CONTAINS(err.msg, name);
    if (also) {
        CHECK_CONTAINS(err.msg, also);
    }
    /* No block left behind. */
    CHECK_EQ_STR(rh_blocks(sys, &after), before.s);
}

static void test_bad_args(void)
{
    gm_system *sys = gm_system_new(NULL);
    char dir[64], path[96];
    uint8_t host[2 * PG];
    struct gm_ram_opts o;
    gm_region *keep = rh_anon(sys, "keep", PG);
    struct rh_list before, after;
    int fds = rh_fd_count();

    rh_blocks(sys, &before);
    /* Alignment: a power of two of at least a page. */
    o = (struct gm_ram_opts){.backing = GM_RAM_ANON, .align = 3 * PG};
    refused(sys, "align-3pages", PG, &o, -EINVAL, "align");
    o.align = PG / 2;
    refused(sys, "align-half", PG, &o, -EINVAL, "align");
    o.align = 12345;
    refused(sys, "align-odd", PG, &o, -EINVAL, "align");
    /* FILE needs a path; it must be a regular file that can be opened. */
    o = (struct gm_ram_opts){.backing = GM_RAM_FILE};
    refused(sys, "file-nopath", PG, &o, -EINVAL, "path");
    rh_newpath(dir, sizeof(dir), path, sizeof(path));
    snprintf(path, sizeof(path), "%s/no/such/dir", dir);
    o.path = path;
    refused(sys, "file-enoent", PG, &o, -ENOENT, "open");
    CHECK(!rh_exists(path));
    o.path = dir;
    refused(sys, "file-dir", PG, &o, -EISDIR, "open");
    o.path = "/dev/null";
    refused(sys, "file-devnull", PG, &o, -EINVAL, "regular");
    rmdir(dir);
    /* PTR needs a host pointer. */
    o = (struct gm_ram_opts){.backing = GM_RAM_PTR};
    refused(sys, "ptr-null", PG, &o, -EINVAL, "host");
    /* Sizes: 1 .. 2^63. */
    refused(sys, "zero", 0, NULL, -EINVAL, "size");
    o = (struct gm_ram_opts){.backing = GM_RAM_MEMFD};
    refused(sys, "zero-memfd", 0, &o, -EINVAL, "size");
    refused(sys, "huge-size", (1ull << 63) + PG, NULL, -EINVAL, NULL);
    /* A bad backing. */
    o = (struct gm_ram_opts){.backing = (enum gm_ram_backing)99};
    refused(sys, "backing-99", PG, &o, -EINVAL, "backing");
    /* RESIZEABLE: max_length at least the size. */
    o = (struct gm_ram_opts){.backing = GM_RAM_ANON,
                             .flags = GM_RAM_RESIZEABLE,
                             .max_length = 4 * PG};
    refused(sys, "max-below", 8 * PG, &o, -EINVAL, "max_length");
    /*
     * A borrowed buffer is @size bytes: a block that could grow past it
     * would reach memory that is not the caller's.
     */
    o = (struct gm_ram_opts){.backing = GM_RAM_PTR,
                             .flags = GM_RAM_RESIZEABLE,
                             .host = host,
                             .max_length = 2 * PG};
    refused(sys, "ptr-grow", PG, &o, -EINVAL, NULL);
    /* More than the ram_addr space holds. */
    o = (struct gm_ram_opts){.backing = GM_RAM_ANON,
                             .flags = GM_RAM_RESIZEABLE | GM_RAM_NORESERVE,
                             .max_length = 1ull << 62};
    refused(sys, "max-huge", PG, &o, -EINVAL, NULL);
    /* Nothing changed: the same blocks, the same descriptors. */
    CHECK_EQ_STR(rh_blocks(sys, &after), before.s);
    CHECK_EQ_INT(rh_fd_count(), fds);
    gm_region_unref(keep);
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
}

/* The RESIZEABLE rules that are not about construction. */
static void test_resizeable_rules(void)
{
    gm_system *sys = gm_system_new(NULL);
    struct gm_ram_opts o = {.backing = GM_RAM_ANON, .align = PG,
                            .max_length = 8 * PG};
    uint8_t host[2 * PG];
    struct gm_ram_opts p = {.backing = GM_RAM_PTR,
                            .flags = GM_RAM_RESIZEABLE,
                            .host = host};
    gm_error err = {0};
    gm_region *r, *q, *io;

    /* max_length means nothing without RESIZEABLE. */
    r = rh_must(sys, "fixed", 2 * PG, &o);
    CHECK_EQ_U64(info_of(r).max_length, 2 * PG);
    CHECK_EQ_INT(gm_region_ram_resize(r, PG, &err), -EINVAL);
    CHECK_CONTAINS(err.msg, "fixed");
    CHECK_EQ_U64((uint64_t)gm_region_size(r), 2 * PG);
    /* RESIZEABLE with max_length 0: its size. */
    o.flags = GM_RAM_RESIZEABLE;
    o.max_length = 0;
    q = rh_must(sys, "flex", 2 * PG, &o);
    CHECK_EQ_U64(info_of(q).max_length, 2 * PG);
    CHECK_EQ_INT(gm_region_ram_resize(q, PG, NULL), 0);
    CHECK_EQ_INT(gm_region_ram_resize(q, 2 * PG, NULL), 0);
    CHECK_EQ_INT(gm_region_ram_resize(q, 2 * PG + 1, NULL), -EINVAL);
    /* A borrowed buffer may shrink and grow back within its size. */
    gm_region_unref(r);
    r = rh_must(sys, "ptr-flex", 2 * PG, &p);
    CHECK_EQ_U64(info_of(r).max_length, 2 * PG);
    CHECK_EQ_INT(gm_region_ram_resize(r, PG, NULL), 0);
    CHECK_EQ_INT(gm_region_ram_resize(r, 2 * PG, NULL), 0);
    CHECK_EQ_INT(gm_region_ram_resize(r, 3 * PG, NULL), -EINVAL);
    /* Not RAM; NULL. */
    io = gm_region_new_io(sys, "io", PG, NULL, NULL, NULL);
    gm_error_clear(&err);
    CHECK_EQ_INT(gm_region_ram_resize(io, PG, &err), -EINVAL);
    CHECK_CONTAINS(err.msg, "io");
    CHECK_EQ_INT(gm_region_ram_resize(NULL, PG, NULL), -EINVAL);
    gm_region_unref(r);
    gm_region_unref(q);
    gm_region_unref(io);
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
}

/*
 * The ram_addr space, info, listing, lookups.
 */

/* A system whose space "mem" has a 1 GiB container "root". */
static void big_machine(struct machine *m)
{
    m->sys = gm_system_new(NULL);
    m->root = gm_region_new_container(m->sys, "root", 1ull << 30, NULL);
    m->as = gm_space_new(m->sys, m->root, "mem", NULL);
    CHECK(m->sys && m->root && m->as);
    gm_region_unref(m->root);
}

static void test_ram_addr(void)
{
    gm_system *sys = gm_system_new(NULL);
    gm_region *a, *b, *c, *d, *e, *f, *g, *cont, *io, *alias;
    struct gm_ram_opts rz = {.backing = GM_RAM_ANON, .align = PG,
                             .flags = GM_RAM_RESIZEABLE,
                             .max_length = 300 * KiB};

    /* Blocks start on 256 KiB boundaries, one after the other. */
    a = rh_anon(sys, "a", 256 * KiB);     /* [0, 256K) */
    b = rh_anon(sys, "b", 1 * MiB);       /* [256K, 1.25M) */
    c = rh_anon(sys, "c", PG);            /* [1.25M, 1.5M) */
    d = rh_anon(sys, "d", 512 * KiB);     /* [1.5M, 2M) */
    e = rh_must(sys, "e", 10 * KiB, &rz); /* [2M, 2.5M): max rounded up */
    CHECK_EQ_U64(gm_region_ram_addr(a), 0);
    CHECK_EQ_U64(gm_region_ram_addr(b), 256 * KiB);
    CHECK_EQ_U64(gm_region_ram_addr(c), 1280 * KiB);
    CHECK_EQ_U64(gm_region_ram_addr(d), 1536 * KiB);
    CHECK_EQ_U64(gm_region_ram_addr(e), 2 * MiB);
    CHECK_EQ_U64(rh_info_offset(e), 2 * MiB);
    /* Freed space is reused, in the smallest gap that fits. */
    gm_region_unref(b); /* gap [256K, 1.25M): 1 MiB */
    gm_region_unref(d); /* gap [1.5M, 2M): 512 KiB */
    f = rh_anon(sys, "f", 300 * KiB); /* 512K: only the 1M gap and the end */
    CHECK_EQ_U64(gm_region_ram_addr(f), 1536 * KiB); /* not the lower gap */
    g = rh_anon(sys, "g", 100 * KiB);
    CHECK_EQ_U64(gm_region_ram_addr(g), 256 * KiB);
    /* A block as big as the 768 KiB left of the 1 MiB gap fits exactly. */
    d = rh_anon(sys, "d2", 768 * KiB);
    CHECK_EQ_U64(gm_region_ram_addr(d), 512 * KiB);
    /* The next goes past the last block. */
    b = rh_anon(sys, "b2", PG);
    CHECK_EQ_U64(gm_region_ram_addr(b), 2560 * KiB);

    /* Regions without a block. */
    cont = gm_region_new_container(sys, "cont", PG, NULL);
    io = gm_region_new_io(sys, "io", PG, NULL, NULL, NULL);
    alias = gm_region_new_alias(sys, "alias", a, 0, PG, NULL);
    CHECK_EQ_U64(gm_region_ram_addr(cont), GM_RAM_ADDR_INVALID);
    CHECK_EQ_U64(gm_region_ram_addr(io), GM_RAM_ADDR_INVALID);
    CHECK_EQ_U64(gm_region_ram_addr(alias), GM_RAM_ADDR_INVALID);
    CHECK_EQ_U64(gm_region_ram_addr(NULL), GM_RAM_ADDR_INVALID);
    gm_region_unref(alias);
    gm_region_unref(a);
    gm_region_unref(b);
    gm_region_unref(c);
    gm_region_unref(d);
    gm_region_unref(e);
    gm_region_unref(f);
    gm_region_unref(g);
    gm_region_unref(cont);
    gm_region_unref(io);
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
}

static void test_ram_info(void)
{
    gm_system *sys = gm_system_new(NULL);
    struct gm_ram_opts o = {.backing = GM_RAM_MEMFD,
                            .flags = GM_RAM_RESIZEABLE | GM_RAM_NODUMP,
                            .max_length = 9 * PG};
    gm_region *r = rh_must(sys, "inf", 5 * PG + 7, &o);
    gm_region *io = gm_region_new_io(sys, "io", PG, NULL, NULL, NULL);
    struct gm_ram_block_info i;

    memset(&i, 0xa5, sizeof(i));
    CHECK_EQ_INT(gm_region_ram_info(r, &i), 0);
    CHECK_EQ_PTR(i.region, r);
    CHECK_EQ_STR(i.name, "inf");
    CHECK_EQ_U64(i.offset, gm_region_ram_addr(r));
    CHECK_EQ_U64(i.used_length, 5 * PG + 7);
    CHECK_EQ_U64(i.max_length, 9 * PG);
    CHECK_EQ_U64(i.page_size, PG);
    CHECK_EQ_INT(i.backing, GM_RAM_MEMFD);
    CHECK_EQ_INT(i.flags, GM_RAM_RESIZEABLE | GM_RAM_NODUMP);
    CHECK_EQ_PTR(i.host, gm_region_ram_ptr(r));
    CHECK(i.fd >= 0);
    /* The used length follows a resize. */
    CHECK_EQ_INT(gm_region_ram_resize(r, 9 * PG, NULL), 0);
    CHECK_EQ_INT(gm_region_ram_info(r, &i), 0);
    CHECK_EQ_U64(i.used_length, 9 * PG);
    /* No block. */
    CHECK_EQ_INT(gm_region_ram_info(io, &i), -EINVAL);
    CHECK_EQ_INT(gm_region_ram_info(NULL, &i), -EINVAL);
    CHECK_EQ_INT(gm_region_ram_info(r, NULL), -EINVAL);
    gm_region_unref(r);
    gm_region_unref(io);
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
}

struct visit {
    char names[16][16];
    uint64_t offsets[16];
    int n;
    int stop_at; /* return 100 + n at this visit (1-based), 0: never */
};

static int visit_cb(const struct gm_ram_block_info *b, void *opaque)
{
    struct visit *v = opaque;
    struct gm_ram_block_info i;

    if (v->n < 16) {
        snprintf(v->names[v->n], sizeof(v->names[0]), "%s", b->name);
        v->offsets[v->n] = b->offset;
    }
    v->n++;
    /* What the walk shows is what gm_region_ram_info() says. */
    CHECK_EQ_INT(gm_region_ram_info(b->region, &i), 0);
    CHECK_EQ_U64(i.offset, b->offset);
    CHECK_EQ_U64(i.used_length, b->used_length);
    CHECK_EQ_PTR(i.host, b->host);
    return v->n == v->stop_at ? 100 + v->n : 0;
}

static void test_foreach(void)
{
    gm_system *sys = gm_system_new(NULL);
    gm_region *a, *b, *c, *d, *late;
    struct visit v = {0};

    CHECK_EQ_INT(gm_system_foreach_ram_block(sys, visit_cb, &v), 0);
    CHECK_EQ_INT(v.n, 0);
    a = rh_anon(sys, "a", PG);
    b = rh_anon(sys, "b", PG);
    c = rh_anon(sys, "c", PG);
    d = rh_anon(sys, "d", PG);
    gm_region_unref(b);
    late = rh_anon(sys, "late", PG); /* takes b's place: made last */
    /* ram_addr order, not creation order. */
    CHECK_EQ_INT(gm_system_foreach_ram_block(sys, visit_cb, &v), 0);
    CHECK_EQ_INT(v.n, 4);
    CHECK_EQ_STR(v.names[0], "a");
    CHECK_EQ_STR(v.names[1], "late");
    CHECK_EQ_STR(v.names[2], "c");
    CHECK_EQ_STR(v.names[3], "d");
    for (int k = 1; k < 4; k++) {
        CHECK(v.offsets[k] > v.offsets[k - 1]);
    }
    /* A non-zero return stops the walk and is returned. */
    v = (struct visit){.stop_at = 2};
    CHECK_EQ_INT(gm_system_foreach_ram_block(sys, visit_cb, &v), 102);
    CHECK_EQ_INT(v.n, 2);
    v = (struct visit){.stop_at = 1};
    CHECK_EQ_INT(gm_system_foreach_ram_block(sys, visit_cb, &v), 101);
    CHECK_EQ_INT(v.n, 1);
    CHECK_EQ_INT(gm_system_foreach_ram_block(NULL, visit_cb, &v), -EINVAL);
    CHECK_EQ_INT(gm_system_foreach_ram_block(sys, NULL, &v), -EINVAL);
    gm_region_unref(a);
    gm_region_unref(c);
    gm_region_unref(d);
    gm_region_unref(late);
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
}

/* Look @ram_addr up: @want at @want_off, or a miss when @want is NULL. */
static void lookup_is(gm_system *sys, uint64_t ram_addr, gm_region *want,
                      uint64_t want_off)
{
    uint64_t off = 0xdeadbeef;
    gm_region *r = gm_system_ram_lookup(sys, ram_addr, &off);

    if (r != want) {
        HARNESS_FAIL("lookup 0x%" PRIx64 ": %s, want %s", ram_addr,
                     r ? gm_region_name(r) : "miss",
                     want ? gm_region_name(want) : "miss");
    } else if (want) {
        CHECK_EQ_U64(off, want_off);
    }
    gm_region_unref(r);
}

/* Look @p up by host address: @want at @want_off, or not @not_r. */
static void host_is(gm_system *sys, const void *p, gm_region *want,
                    uint64_t want_off)
{
    uint64_t off = 0xdeadbeef;
    gm_region *r = gm_system_ram_from_host(sys, p, &off);

    if (r != want) {
        HARNESS_FAIL("from_host %p: %s, want %s", p,
                     r ? gm_region_name(r) : "miss",
                     want ? gm_region_name(want) : "miss");
    } else if (want) {
        CHECK_EQ_U64(off, want_off);
    }
    gm_region_unref(r);
}

static void test_lookup(void)
{
    gm_system *sys = gm_system_new(NULL);
    struct gm_ram_opts rz = {.backing = GM_RAM_MEMFD,
                             .flags = GM_RAM_RESIZEABLE,
                             .max_length = 5 * PG};
    gm_region *a = rh_anon(sys, "a", 3 * PG);
    gm_region *b = rh_must(sys, "b", 2 * PG, &rz);
    gm_region *none, *got;
    uint64_t ra = gm_region_ram_addr(a), rb = gm_region_ram_addr(b);
    struct gm_ram_opts no = {.backing = GM_RAM_NONE};
    uint64_t off = 0;

    CHECK_EQ_U64(ra, 0);
    CHECK_EQ_U64(rb, RAM_ALIGN);
    /* First and last byte; the gap after a block; past every block. */
    lookup_is(sys, ra, a, 0);
    lookup_is(sys, ra + 1, a, 1);
    lookup_is(sys, ra + 3 * PG - 1, a, 3 * PG - 1);
    lookup_is(sys, ra + 3 * PG, NULL, 0);
    lookup_is(sys, RAM_ALIGN - 1, NULL, 0);
    lookup_is(sys, rb, b, 0);
    /* A resizeable block holds its whole reservation. */
    lookup_is(sys, rb + 5 * PG - 1, b, 5 * PG - 1);
    lookup_is(sys, rb + 5 * PG, NULL, 0);
    lookup_is(sys, 2 * RAM_ALIGN, NULL, 0);
    lookup_is(sys, 1ull << 61, NULL, 0);
    lookup_is(sys, UINT64_MAX, NULL, 0);
    /* The offset is optional. */
    got = gm_system_ram_lookup(sys, ra + 5, NULL);
    CHECK_EQ_PTR(got, a);
    gm_region_unref(got);
    CHECK(gm_system_ram_lookup(NULL, 0, &off) == NULL);
    /* A region without a block is not found. */
    none = rh_must(sys, "none", PG, &no);
    lookup_is(sys, 2 * RAM_ALIGN, NULL, 0);

    /* The region comes with a reference of its own. */
    got = gm_system_ram_lookup(sys, ra + PG, &off);
    CHECK_EQ_PTR(got, a);
    gm_region_unref(a); /* the caller's: got keeps it */
    CHECK_EQ_STR(gm_region_name(got), "a");
    CHECK_EQ_U64(gm_region_ram_addr(got), ra);
    memset(gm_region_ram_ptr(got), 7, 3 * PG);
    lookup_is(sys, ra, got, 0);
    gm_region_unref(got);
    /* Now gone: its place is empty. */
    lookup_is(sys, ra, NULL, 0);
    gm_region_unref(b);
    gm_region_unref(none);
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
}

static void test_from_host(void)
{
    gm_system *sys = gm_system_new(NULL);
    /* A PTR block between two inaccessible pages: nothing else there. */
    uint8_t *guard = mmap(NULL, 6 * PG, PROT_NONE,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    struct gm_ram_opts po = {.backing = GM_RAM_PTR};
    struct gm_ram_opts rz = {.backing = GM_RAM_ANON,
                             .flags = GM_RAM_RESIZEABLE,
                             .max_length = 6 * PG};
    gm_region *p, *a, *got;
    uint8_t *ha;
    uint64_t off = 0;
    int stack = 0;

    CHECK(guard != MAP_FAILED);
    CHECK(mprotect(guard + PG, 4 * PG, PROT_READ | PROT_WRITE) == 0);
    po.host = guard + PG;
    p = rh_must(sys, "p", 4 * PG, &po);
    a = rh_must(sys, "a", 2 * PG, &rz);
    ha = gm_region_ram_ptr(a);
    host_is(sys, guard + PG, p, 0);
    host_is(sys, guard + 5 * PG - 1, p, 4 * PG - 1);
    host_is(sys, guard + PG - 1, NULL, 0);
    host_is(sys, guard + 5 * PG, NULL, 0);
    host_is(sys, ha, a, 0);
    host_is(sys, ha + 2 * PG - 1, a, 2 * PG - 1);
    /* The whole reservation of a resizeable block. */
    host_is(sys, ha + 6 * PG - 1, a, 6 * PG - 1);
    host_is(sys, &stack, NULL, 0);
    CHECK(gm_system_ram_from_host(sys, NULL, &off) == NULL);
    CHECK(gm_system_ram_from_host(NULL, ha, &off) == NULL);
    got = gm_system_ram_from_host(sys, ha + 5, NULL);
    CHECK_EQ_PTR(got, a);
    /* With a reference of its own. */
    gm_region_unref(a);
    CHECK_EQ_STR(gm_region_name(got), "a");
    ha[5] = 1;
    gm_region_unref(got);
    host_is(sys, guard + 2 * PG, p, PG);
    gm_region_unref(p);
    host_is(sys, guard + 2 * PG, NULL, 0);
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
    munmap(guard, 6 * PG);
}

/*
 * Resizing.
 */

struct resized_rec {
    int calls;
    gm_region *r;
    uint64_t len;
    void *opaque;
    struct strbuf *log;  /* the listener's log ... */
    bool told;           /* ... already held the new size at the call */
    char want[64];       /* what to look for in it */
};

static void on_resized(void *opaque, gm_region *r, uint64_t len)
{
    struct resized_rec *rr = opaque;

    rr->calls++;
    rr->r = r;
    rr->len = len;
    rr->opaque = opaque;
    rr->told = rr->log && strstr(rr->log->s, rr->want) != NULL;
}

static void busy_hook(struct rec *r, const char *what,
                      const struct gm_section *s)
{
    int *rc = r->hook_data;

    (void)what;
    if (!strcmp(gm_region_name(s->region), "rz")) {
        *rc = gm_region_ram_resize(s->region, 3 * PG, NULL);
    }
}

static void test_resize(void)
{
    struct machine m;
    struct strbuf log, only;
    struct rec rec = {.log = &log};
    struct resized_rec rr = {.log = &log};
    struct gm_ram_opts o = {.backing = GM_RAM_ANON,
                            .flags = GM_RAM_RESIZEABLE,
                            .max_length = 64 * PG,
                            .resized = on_resized,
                            .resized_opaque = &rr};
    const uint64_t base = 0x100000;
    struct gm_ram_block_info i;
    gm_listener *l;
    gm_region *r;
    gm_error err = {0};
    uint8_t *host;
    uint64_t ra, v = 0;
    char pages[512];
    int busy_rc = 1;

    big_machine(&m);
    sb_reset(&log);
    r = rh_must(m.sys, "rz", 16 * PG, &o);
    if (!r) {
        machine_fini(&m);
        return;
    }
    CHECK_EQ_INT(rr.calls, 0); /* not at creation */
    i = info_of(r);
    host = i.host;
    ra = i.offset;
    rh_fill(host, 16 * PG, 5);
    CHECK_EQ_INT(gm_region_add_subregion(m.root, base, r, NULL), 0);
    l = gm_listener_register(m.sys, &rec_ops, &rec, 0, NULL, NULL);
    CHECK(l != NULL);
    rh_clear_all(m.sys, ra, 64 * PG);

    /* Grow. */
    sb_reset(&log);
    snprintf(rr.want, sizeof(rr.want), "add rz 100000-11ffff");
    CHECK_EQ_INT(gm_region_ram_resize(r, 32 * PG, &err), 0);
    CHECK_EQ_U64((uint64_t)gm_region_size(r), 32 * PG);
    CHECK_EQ_U64(info_of(r).used_length, 32 * PG);
    CHECK_EQ_U64(info_of(r).max_length, 64 * PG);
    CHECK_EQ_PTR(gm_region_ram_ptr(r), host);
    CHECK_EQ_PTR(info_of(r).host, host);
    CHECK_EQ_U64(gm_region_ram_addr(r), ra);
    CHECK_EQ_INT(rr.calls, 1);
    CHECK_EQ_PTR(rr.r, r);
    CHECK_EQ_U64(rr.len, 32 * PG);
    CHECK_EQ_PTR(rr.opaque, &rr);
    CHECK(rr.told); /* listeners first */
    CHECK_EQ_STR(log_only(&log, "add del", &only),
                 "del rz 100000-10ffff; add rz 100000-11ffff");
    /* The old bytes stay, the new ones are zeros, reachable, dirty. */
    CHECK(rh_is_fill(host, 16 * PG, 5, 0));
    CHECK(rh_is_zero(host + 16 * PG, 16 * PG));
    CHECK_EQ_INT(gm_space_store(m.as, base + 31 * PG, 8, GM_ENDIAN_LITTLE,
                                0x55, GM_ATTRS_DEFAULT), GM_RESULT_OK);
    for (int c = 0; c < GM_DIRTY_NR; c++) {
        CHECK_EQ_STR(rh_dirty_pages(m.sys, ra, 64 * PG,
                                    (enum gm_dirty_client)c, pages,
                                    sizeof(pages)),
                     "16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31");
    }

    /* Shrink, to a length that is not a page multiple. */
    sb_reset(&log);
    snprintf(rr.want, sizeof(rr.want), "add rz 100000-108063");
    CHECK_EQ_INT(gm_region_ram_resize(r, 8 * PG + 100, &err), 0);
    CHECK_EQ_U64((uint64_t)gm_region_size(r), 8 * PG + 100);
    CHECK_EQ_U64(info_of(r).used_length, 8 * PG + 100);
    CHECK_EQ_PTR(gm_region_ram_ptr(r), host);
    CHECK_EQ_INT(rr.calls, 2);
    CHECK_EQ_U64(rr.len, 8 * PG + 100);
    CHECK(rr.told);
    CHECK_EQ_STR(log_only(&log, "add del", &only),
                 "del rz 100000-11ffff; add rz 100000-108063");
    /* The tail is no longer reachable through the space. */
    CHECK_EQ_INT(gm_space_load(m.as, base + 8 * PG + 99, 1, GM_ENDIAN_LITTLE,
                               &v, GM_ATTRS_DEFAULT), GM_RESULT_OK);
    CHECK_EQ_INT(gm_space_load(m.as, base + 8 * PG + 100, 1,
                               GM_ENDIAN_LITTLE, &v, GM_ATTRS_DEFAULT),
                 GM_RESULT_DECODE_ERROR);
    CHECK_EQ_INT(gm_space_load(m.as, base + 20 * PG, 8, GM_ENDIAN_LITTLE, &v,
                               GM_ATTRS_DEFAULT), GM_RESULT_DECODE_ERROR);
    CHECK_EQ_INT(gm_space_store(m.as, base + 20 * PG, 8, GM_ENDIAN_LITTLE, 1,
                                GM_ATTRS_DEFAULT), GM_RESULT_DECODE_ERROR);
    CHECK(rh_is_fill(host, 8 * PG + 100, 5, 0));

    /* Grow again: what comes back is zeros and dirty. */
    rh_clear_all(m.sys, ra, 9 * PG);
    CHECK_EQ_INT(gm_region_ram_resize(r, 32 * PG, &err), 0);
    CHECK(rh_is_zero(host + 9 * PG, 23 * PG));
    CHECK_EQ_INT(gm_space_load(m.as, base + 31 * PG, 8, GM_ENDIAN_LITTLE, &v,
                               GM_ATTRS_DEFAULT), GM_RESULT_OK);
    CHECK_EQ_U64(v, 0);
    CHECK_EQ_U64(gm_dirty_count(m.sys, ra + 9 * PG, 23 * PG,
                                GM_DIRTY_MIGRATION), 23);
    CHECK_EQ_U64(gm_dirty_count(m.sys, ra, 8 * PG, GM_DIRTY_MIGRATION), 0);

    /* Refused: beyond max_length, zero; nothing changes, nobody hears. */
    sb_reset(&log);
    rr.calls = 0;
    gm_error_clear(&err);
    CHECK_EQ_INT(gm_region_ram_resize(r, 64 * PG + 1, &err), -EINVAL);
    CHECK_CONTAINS(err.msg, "rz");
    gm_error_clear(&err);
    CHECK_EQ_INT(gm_region_ram_resize(r, 0, &err), -EINVAL);
    CHECK_CONTAINS(err.msg, "rz");
    CHECK_EQ_U64((uint64_t)gm_region_size(r), 32 * PG);
    CHECK_EQ_U64(info_of(r).used_length, 32 * PG);
    CHECK_EQ_INT(rr.calls, 0);
    CHECK_EQ_STR(log.s, "");
    /* The same length: nothing to do. */
    CHECK_EQ_INT(gm_region_ram_resize(r, 32 * PG, &err), 0);
    CHECK_EQ_INT(rr.calls, 0);
    CHECK_EQ_STR(log.s, "");
    /* Up to max_length exactly. */
    CHECK_EQ_INT(gm_region_ram_resize(r, 64 * PG, &err), 0);
    CHECK_EQ_U64((uint64_t)gm_region_size(r), 64 * PG);
    CHECK_EQ_INT(rr.calls, 1);

    /* From a listener: -EBUSY, and nothing changes. */
    rec.hook = busy_hook;
    rec.hook_data = &busy_rc;
    CHECK_EQ_INT(gm_region_ram_resize(r, 2 * PG, &err), 0);
    CHECK_EQ_INT(busy_rc, -EBUSY);
    CHECK_EQ_U64((uint64_t)gm_region_size(r), 2 * PG);
    rec.hook = NULL;

    /* In a transaction: the listeners hear it at the commit, then the
     * callback runs. */
    sb_reset(&log);
    rr.calls = 0;
    snprintf(rr.want, sizeof(rr.want), "add rz 100000-103fff");
    CHECK_EQ_INT(gm_transaction_begin(m.sys), 0);
    CHECK_EQ_INT(gm_region_ram_resize(r, 4 * PG, &err), 0);
    CHECK_EQ_STR(log.s, "");
    CHECK_EQ_INT(gm_transaction_commit(m.sys, &err), 0);
    CHECK_EQ_STR(log_only(&log, "add del", &only),
                 "del rz 100000-101fff; add rz 100000-103fff");
    CHECK_EQ_INT(rr.calls, 1);
    CHECK(rr.told);

    CHECK_EQ_INT(gm_listener_unregister(l, NULL), 0);
    gm_region_unref(r);
    machine_fini(&m);
}

/* Shrink and grow again with every backing: what comes back is zeros. */
static void test_resize_zeroes(void)
{
    for (int b = 0; b < 5; b++) {
        gm_system *sys = gm_system_new(NULL);
        struct gm_ram_opts o = {.flags = GM_RAM_RESIZEABLE,
                                .max_length = 12 * PG};
        static uint8_t buf[12 * PG];
        char path[64];
        int fd = -1;
        gm_region *r;
        uint8_t *h;

        switch (b) {
        case 0:
            o.backing = GM_RAM_ANON;
            break;
        case 1:
            o.backing = GM_RAM_MEMFD;
            break;
        case 2:
        case 3:
            fd = rh_tmpfile(path, sizeof(path));
            o.backing = GM_RAM_FILE;
            o.path = path;
            o.flags |= b == 2 ? GM_RAM_SHARED : 0;
            break;
        default:
            o.backing = GM_RAM_PTR;
            o.host = buf;
            o.max_length = 0;
            break;
        }
        r = rh_must(sys, "rz", 12 * PG, &o);
        if (r) {
            h = gm_region_ram_ptr(r);
            rh_fill(h, 12 * PG, 8);
            CHECK_EQ_INT(gm_region_ram_resize(r, 3 * PG, NULL), 0);
            CHECK(rh_is_fill(h, 3 * PG, 8, 0));
            CHECK_EQ_INT(gm_region_ram_resize(r, 12 * PG, NULL), 0);
            if (!rh_is_zero(h + 3 * PG, 9 * PG)) {
                HARNESS_FAIL("backing %d: the regrown pages are not zero",
                             b);
            }
            CHECK(rh_is_fill(h, 3 * PG, 8, 0));
            gm_region_unref(r);
        }
        if (fd >= 0) {
            close(fd);
            unlink(path);
        }
        CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
    }
}

/*
 * Discarding.
 */

static void discard_case(int b)
{
    struct machine m;
    struct gm_ram_opts o = {0};
    static uint8_t buf[16 * PG];
    char path[64], pages[256];
    uint8_t fb[3 * PG];
    int fd = -1;
    gm_region *r;
    gm_error err = {0};
    uint8_t *h, rb[3 * PG];
    uint64_t ra;

    switch (b) {
    case 0:
        o.backing = GM_RAM_ANON;
        break;
    case 1:
        o.backing = GM_RAM_MEMFD;
        break;
    case 2:
    case 3:
        fd = rh_tmpfile(path, sizeof(path));
        o.backing = GM_RAM_FILE;
        o.path = path;
        o.flags = b == 2 ? GM_RAM_SHARED : 0;
        break;
    default:
        o.backing = GM_RAM_PTR;
        o.host = buf;
        break;
    }
    big_machine(&m);
    r = rh_must(m.sys, "disc", 16 * PG, &o);
    if (!r) {
        goto out;
    }
    h = gm_region_ram_ptr(r);
    ra = gm_region_ram_addr(r);
    CHECK_EQ_INT(gm_region_add_subregion(m.root, 0x40000, r, NULL), 0);
    rh_fill(h, 16 * PG, 2);
    rh_clear_all(m.sys, ra, 16 * PG);
    CHECK_EQ_INT(gm_region_ram_discard(r, 4 * PG, 3 * PG, &err), 0);
    /* Zeros there, the rest as it was. */
    CHECK(rh_is_zero(h + 4 * PG, 3 * PG));
    CHECK(rh_is_fill(h, 4 * PG, 2, 0));
    CHECK(rh_is_fill(h + 7 * PG, 9 * PG, 2, 7 * PG));
    CHECK_EQ_INT(gm_space_read(m.as, 0x40000 + 4 * PG, rb, sizeof(rb),
                               GM_ATTRS_DEFAULT), GM_RESULT_OK);
    CHECK(rh_is_zero(rb, sizeof(rb)));
    if (b == 2) {
        /* Shared: the file's bytes went too. */
        CHECK(pread(fd, fb, sizeof(fb), 4 * PG) == (ssize_t)sizeof(fb));
        CHECK(rh_is_zero(fb, sizeof(fb)));
    }
    /* Dirty for every client, those pages only. */
    for (int c = 0; c < GM_DIRTY_NR; c++) {
        CHECK_EQ_STR(rh_dirty_pages(m.sys, ra, 16 * PG,
                                    (enum gm_dirty_client)c, pages,
                                    sizeof(pages)),
                     "4 5 6");
    }
    /* Still usable. */
    CHECK_EQ_INT(gm_space_store(m.as, 0x40000 + 5 * PG, 1, GM_ENDIAN_LITTLE,
                                0x77, GM_ATTRS_DEFAULT), GM_RESULT_OK);
    CHECK_EQ_U64(h[5 * PG], 0x77);
    /* The whole block at once. */
    CHECK_EQ_INT(gm_region_ram_discard(r, 0, 16 * PG, &err), 0);
    CHECK(rh_is_zero(h, 16 * PG));

    /* Refused: unaligned, empty, out of the block. */
    rh_fill(h, 16 * PG, 3);
    rh_clear_all(m.sys, ra, 16 * PG);
    {
        static const uint64_t bad[][2] = {
            {100, PG},     {PG, PG + 1}, {PG, 0},       {15 * PG, 2 * PG},
            {16 * PG, PG}, {17 * PG, PG}, {PG, UINT64_MAX - PG + 1},
        };

        for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
            gm_error_clear(&err);
            CHECK_EQ_INT(gm_region_ram_discard(r, bad[k][0], bad[k][1], &err),
                         -EINVAL);
            CHECK_CONTAINS(err.msg, "disc");
        }
    }
    CHECK(rh_is_fill(h, 16 * PG, 3, 0));
    CHECK_EQ_U64(gm_dirty_count(m.sys, ra, 16 * PG, GM_DIRTY_VGA), 0);
    CHECK_EQ_INT(gm_region_del_subregion(m.root, r, NULL), 0);
    gm_region_unref(r);
out:
    machine_fini(&m);
    if (fd >= 0) {
        close(fd);
        unlink(path);
    }
}

static void test_discard(void)
{
    for (int b = 0; b < 5; b++) {
        discard_case(b);
    }
}

static void test_discard_errors(void)
{
    gm_system *sys = gm_system_new(NULL);
    struct gm_ram_opts rz = {.backing = GM_RAM_ANON,
                             .flags = GM_RAM_RESIZEABLE,
                             .max_length = 8 * PG};
    struct gm_ram_opts no = {.backing = GM_RAM_NONE};
    gm_region *r = rh_must(sys, "rz", 2 * PG, &rz);
    gm_region *io = gm_region_new_io(sys, "io", PG, NULL, NULL, NULL);
    gm_region *none = rh_must(sys, "none", 2 * PG, &no);
    gm_error err = {0};

    /* Reserved but not in use: not its RAM now. */
    CHECK_EQ_INT(gm_region_ram_discard(r, 2 * PG, PG, &err), -EINVAL);
    CHECK_CONTAINS(err.msg, "rz");
    CHECK_EQ_INT(gm_region_ram_discard(r, 0, 2 * PG, &err), 0);
    gm_error_clear(&err);
    CHECK_EQ_INT(gm_region_ram_discard(io, 0, PG, &err), -EINVAL);
    CHECK_CONTAINS(err.msg, "io");
    gm_error_clear(&err);
    CHECK_EQ_INT(gm_region_ram_discard(none, 0, PG, &err), -EINVAL);
    CHECK_CONTAINS(err.msg, "none");
    CHECK_EQ_INT(gm_region_ram_discard(NULL, 0, PG, NULL), -EINVAL);
    gm_region_unref(r);
    gm_region_unref(io);
    gm_region_unref(none);
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
}

/*
 * Dirty bitmaps.
 */

#define ALL_MASK ((1u << GM_DIRTY_NR) - 1)

static void test_dirty_new_block(void)
{
    gm_system *sys = gm_system_new(NULL);
    struct gm_ram_opts rz = {.backing = GM_RAM_ANON, .align = PG,
                             .flags = GM_RAM_RESIZEABLE,
                             .max_length = 20 * PG};
    gm_region *a = rh_must(sys, "a", 5 * PG + 1, &rz);
    gm_region *b;
    uint64_t ra = gm_region_ram_addr(a), rb;

    /* Every page in use, for every client; nothing beyond. */
    for (int c = 0; c < GM_DIRTY_NR; c++) {
        CHECK_EQ_U64(gm_dirty_count(sys, ra, 6 * PG, (enum gm_dirty_client)c),
                     6);
        CHECK(gm_dirty_test(sys, ra + 5 * PG, 1, (enum gm_dirty_client)c));
        CHECK_EQ_U64(gm_dirty_count(sys, ra + 6 * PG, 14 * PG,
                                    (enum gm_dirty_client)c), 0);
    }
    /* A block made where a cleared one was starts dirty all the same. */
    b = rh_anon(sys, "b", 8 * PG);
    rb = gm_region_ram_addr(b);
    rh_clear_all(sys, rb, 8 * PG);
    CHECK_EQ_U64(gm_dirty_count(sys, rb, 8 * PG, GM_DIRTY_VGA), 0);
    gm_region_unref(b);
    b = rh_anon(sys, "b2", 8 * PG);
    CHECK_EQ_U64(gm_region_ram_addr(b), rb);
    for (int c = 0; c < GM_DIRTY_NR; c++) {
        CHECK_EQ_U64(gm_dirty_count(sys, rb, 8 * PG, (enum gm_dirty_client)c),
                     8);
    }
    gm_region_unref(a);
    gm_region_unref(b);
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
}

/* Three adjacent blocks of 64 pages (256 KiB each) and a small one. */
struct dsys {
    gm_system *sys;
    gm_region *a, *b, *c, *small;
    uint64_t ra, rsmall; /* a's ram_addr; b and c follow it */
};

static void dsys_init(struct dsys *d)
{
    d->sys = gm_system_new(NULL);
    d->a = rh_anon(d->sys, "a", RAM_ALIGN);
    d->b = rh_anon(d->sys, "b", RAM_ALIGN);
    d->c = rh_anon(d->sys, "c", RAM_ALIGN);
    d->small = rh_anon(d->sys, "small", PG);
    d->ra = gm_region_ram_addr(d->a);
    d->rsmall = gm_region_ram_addr(d->small);
    CHECK_EQ_U64(gm_region_ram_addr(d->b), d->ra + RAM_ALIGN);
    CHECK_EQ_U64(gm_region_ram_addr(d->c), d->ra + 2 * RAM_ALIGN);
    CHECK_EQ_U64(d->rsmall, d->ra + 3 * RAM_ALIGN);
    rh_clear_all(d->sys, d->ra, 3 * RAM_ALIGN);
    rh_clear_all(d->sys, d->rsmall, PG);
}

static void dsys_fini(struct dsys *d)
{
    gm_region_unref(d->a);
    gm_region_unref(d->b);
    gm_region_unref(d->c);
    gm_region_unref(d->small);
    CHECK_EQ_INT(gm_system_destroy(d->sys, NULL), 0);
}

/* Dirty pages of @client over a, b and c (page numbers from a's start). */
static const char *dpages(struct dsys *d, enum gm_dirty_client client,
                          char *out, size_t n)
{
    return rh_dirty_pages(d->sys, d->ra, 3 * RAM_ALIGN, client, out, n);
}

static void test_dirty_set_test_count_clear(void)
{
    struct dsys d;
    char p[1024];
    gm_error err = {0};

    dsys_init(&d);
    /* Partial pages: bytes 100 .. 5099 are in pages 0 and 1. */
    CHECK_EQ_INT(gm_dirty_set(d.sys, d.ra + 100, 5000,
                              1u << GM_DIRTY_VGA | 1u << GM_DIRTY_CODE, &err),
                 0);
    CHECK_EQ_STR(dpages(&d, GM_DIRTY_VGA, p, sizeof(p)), "0 1");
    CHECK_EQ_STR(dpages(&d, GM_DIRTY_CODE, p, sizeof(p)), "0 1");
    CHECK_EQ_STR(dpages(&d, GM_DIRTY_MIGRATION, p, sizeof(p)), "");
    CHECK_EQ_STR(dpages(&d, GM_DIRTY_SNAPSHOT, p, sizeof(p)), "");
    CHECK(gm_dirty_test(d.sys, d.ra + PG + PG - 1, 1, GM_DIRTY_VGA));
    CHECK(!gm_dirty_test(d.sys, d.ra + 2 * PG, PG, GM_DIRTY_VGA));
    CHECK(gm_dirty_test(d.sys, d.ra + 2 * PG - 1, 2, GM_DIRTY_VGA));
    CHECK_EQ_U64(gm_dirty_count(d.sys, d.ra + PG - 1, 2, GM_DIRTY_VGA), 2);
    CHECK_EQ_U64(gm_dirty_count(d.sys, d.ra, 3 * RAM_ALIGN, GM_DIRTY_VGA), 2);
    /* Across block boundaries: a's last page, b's first two. */
    CHECK_EQ_INT(gm_dirty_set(d.sys, d.ra + 63 * PG + 10, 2 * PG,
                              1u << GM_DIRTY_MIGRATION, &err), 0);
    CHECK_EQ_STR(dpages(&d, GM_DIRTY_MIGRATION, p, sizeof(p)), "63 64 65");
    CHECK_EQ_U64(gm_dirty_count(d.sys, d.ra + 60 * PG, 8 * PG,
                                GM_DIRTY_MIGRATION), 3);
    CHECK(gm_dirty_test(d.sys, d.ra + RAM_ALIGN, 1, GM_DIRTY_MIGRATION));
    /* Across two boundaries, every page of b. */
    CHECK_EQ_INT(gm_dirty_set(d.sys, d.ra + RAM_ALIGN - 1,
                              RAM_ALIGN + 2, 1u << GM_DIRTY_SNAPSHOT, &err),
                 0);
    CHECK_EQ_U64(gm_dirty_count(d.sys, d.ra, 3 * RAM_ALIGN,
                                GM_DIRTY_SNAPSHOT), 66);
    CHECK_EQ_U64(gm_dirty_count(d.sys, d.ra + RAM_ALIGN, RAM_ALIGN,
                                GM_DIRTY_SNAPSHOT), 64);
    /* An empty mask sets nothing. */
    CHECK_EQ_INT(gm_dirty_set(d.sys, d.ra, PG, 0, &err), 0);
    CHECK_EQ_STR(dpages(&d, GM_DIRTY_VGA, p, sizeof(p)), "0 1");

    /* Clear: whole pages, one client. */
    CHECK_EQ_INT(gm_dirty_clear(d.sys, d.ra + PG + 1, 1, GM_DIRTY_VGA, &err),
                 0);
    CHECK_EQ_STR(dpages(&d, GM_DIRTY_VGA, p, sizeof(p)), "0");
    CHECK_EQ_STR(dpages(&d, GM_DIRTY_CODE, p, sizeof(p)), "0 1");
    CHECK_EQ_INT(gm_dirty_clear(d.sys, d.ra + 63 * PG, 2 * PG,
                                GM_DIRTY_MIGRATION, &err), 0);
    CHECK_EQ_STR(dpages(&d, GM_DIRTY_MIGRATION, p, sizeof(p)), "65");
    CHECK_EQ_INT(gm_dirty_clear(d.sys, d.ra + 64 * PG + 1, RAM_ALIGN,
                                GM_DIRTY_SNAPSHOT, &err), 0);
    CHECK_EQ_STR(dpages(&d, GM_DIRTY_SNAPSHOT, p, sizeof(p)), "63");
    /* Clearing what is clear changes nothing. */
    CHECK_EQ_INT(gm_dirty_clear(d.sys, d.ra + 10 * PG, PG, GM_DIRTY_VGA,
                                &err), 0);
    CHECK_EQ_STR(dpages(&d, GM_DIRTY_VGA, p, sizeof(p)), "0");
    dsys_fini(&d);
}

static void test_dirty_bad_args(void)
{
    struct dsys d;
    char p[1024];
    gm_error err = {0};
    uint64_t bits[2] = {~0ull, ~0ull};

    dsys_init(&d);
    CHECK_EQ_INT(gm_dirty_set(d.sys, d.ra, PG, 1u << GM_DIRTY_VGA, &err), 0);

    /* Bad clients. */
    CHECK(!gm_dirty_test(d.sys, d.ra, PG, (enum gm_dirty_client)GM_DIRTY_NR));
    CHECK(!gm_dirty_test(d.sys, d.ra, PG, (enum gm_dirty_client)100));
    CHECK_EQ_U64(gm_dirty_count(d.sys, d.ra, PG,
                                (enum gm_dirty_client)GM_DIRTY_NR), 0);
    CHECK_EQ_INT(gm_dirty_clear(d.sys, d.ra, PG,
                                (enum gm_dirty_client)GM_DIRTY_NR, &err),
                 -EINVAL);
    CHECK(err.msg[0] != '\0');
    gm_error_clear(&err);
    CHECK(gm_dirty_snapshot_and_clear(d.sys, d.ra, PG,
                                      (enum gm_dirty_client)7, &err) == NULL);
    CHECK_EQ_INT(err.code, -EINVAL);
    CHECK_EQ_INT(gm_dirty_set(d.sys, d.ra, PG, 1u << GM_DIRTY_NR, &err),
                 -EINVAL);
    CHECK_EQ_INT(gm_dirty_set(d.sys, d.ra, PG, ~0u, &err), -EINVAL);
    CHECK_EQ_INT(gm_dirty_merge(d.sys, d.ra, 64, bits, 1u << GM_DIRTY_NR,
                                &err), -EINVAL);
    /* Other bad arguments of merge. */
    CHECK_EQ_INT(gm_dirty_merge(d.sys, d.ra, 64, NULL, 1, &err), -EINVAL);
    CHECK_EQ_INT(gm_dirty_merge(d.sys, d.ra, 0, bits, 1, &err), -EINVAL);
    CHECK_EQ_INT(gm_dirty_merge(d.sys, d.ra + 1, 1, bits, 1, &err), -EINVAL);
    CHECK_EQ_INT(gm_dirty_merge(NULL, d.ra, 1, bits, 1, &err), -EINVAL);
    CHECK_EQ_INT(gm_dirty_set(NULL, d.ra, PG, 1, &err), -EINVAL);
    CHECK(!gm_dirty_test(NULL, d.ra, PG, GM_DIRTY_VGA));
    /* Nothing was changed by any of it. */
    CHECK_EQ_STR(dpages(&d, GM_DIRTY_VGA, p, sizeof(p)), "0");
    dsys_fini(&d);
}

/* Bits are set only within blocks that exist (dirty.h). */
static void test_dirty_outside_blocks(void)
{
    struct dsys d;
    bool covered;
    char p[1024];
    gm_error err = {0};
    uint64_t bits[2] = {~0ull, ~0ull};
    gm_dirty_snapshot *s;
    uint64_t gap, freed;

    dsys_init(&d);
    gap = d.rsmall + PG; /* after the small block, inside its 256 KiB */
    CHECK_EQ_INT(gm_dirty_set(d.sys, d.ra, PG, 1u << GM_DIRTY_VGA, &err), 0);
    /* In a gap, past the end, partly out. */
    {
        const uint64_t bad[][2] = {
            {gap, PG},
            {d.rsmall, 2 * PG},
            {d.rsmall + 4 * RAM_ALIGN, PG},
            {1ull << 40, PG},
            {UINT64_MAX - PG + 1, PG},
            {d.ra + 3 * RAM_ALIGN - PG, 3 * PG},
            {UINT64_MAX - 10, 100},
        };

        for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
            uint64_t at = bad[k][0], len = bad[k][1];

            gm_error_clear(&err);
            if (gm_dirty_set(d.sys, at, len, 1u << GM_DIRTY_VGA, &err) !=
                -EINVAL) {
                HARNESS_FAIL("set 0x%" PRIx64 "+0x%" PRIx64 " accepted", at,
                             len);
            }
            CHECK(err.msg[0] != '\0');
            /* Clear and snapshots take what the bitmaps cover (the first
             * GiB here), where pages outside blocks read clean. */
            covered = at < (1ull << 30) && len <= (1ull << 30) - at;
            if (gm_dirty_clear(d.sys, at, len, GM_DIRTY_VGA, NULL) !=
                (covered ? 0 : -EINVAL)) {
                HARNESS_FAIL("clear 0x%" PRIx64 "+0x%" PRIx64 ": %s", at,
                             len, covered ? "refused" : "accepted");
            }
            s = gm_dirty_snapshot_and_clear(d.sys, at, len, GM_DIRTY_VGA,
                                            NULL);
            if (!s != !covered) {
                HARNESS_FAIL("snapshot 0x%" PRIx64 "+0x%" PRIx64 ": %s", at,
                             len, covered ? "refused" : "taken");
            }
            if (s) {
                CHECK_EQ_U64(gm_dirty_snapshot_count(s), 0);
                gm_dirty_snapshot_free(s);
            }
            if (!(at & (PG - 1)) &&
                gm_dirty_merge(d.sys, at, (len + PG - 1) / PG, bits,
                               1u << GM_DIRTY_VGA, NULL) != -EINVAL) {
                HARNESS_FAIL("merge 0x%" PRIx64 "+0x%" PRIx64 " accepted", at,
                             len);
            }
        }
    }
    /* Where a block was: outside now. */
    freed = gm_region_ram_addr(d.c);
    gm_region_unref(d.c);
    d.c = NULL;
    CHECK_EQ_INT(gm_dirty_set(d.sys, freed, PG, 1u << GM_DIRTY_VGA, NULL),
                 -EINVAL);
    /* Nothing was changed by any of it, and nothing reads dirty there. */
    CHECK_EQ_STR(rh_dirty_pages(d.sys, d.ra, 2 * RAM_ALIGN, GM_DIRTY_VGA, p,
                                sizeof(p)),
                 "0");
    CHECK(!gm_dirty_test(d.sys, gap, PG, GM_DIRTY_VGA));
    CHECK_EQ_U64(gm_dirty_count(d.sys, freed, RAM_ALIGN, GM_DIRTY_VGA), 0);
    CHECK_EQ_U64(gm_dirty_count(d.sys, d.rsmall, PG, GM_DIRTY_VGA), 0);
    dsys_fini(&d);
}

static void test_dirty_merge(void)
{
    struct dsys d;
    char p[1024];
    uint64_t bits[3] = {0};
    const unsigned idx[] = {0, 3, 4, 63, 64, 65, 127, 129};
    gm_error err = {0};

    dsys_init(&d);
    for (size_t k = 0; k < sizeof(idx) / sizeof(idx[0]); k++) {
        bits[idx[k] / 64] |= 1ull << (idx[k] % 64);
    }
    /* Bits past npages are ignored. */
    bits[2] |= 1ull << 20;
    /* Already dirty stays dirty (an OR). */
    CHECK_EQ_INT(gm_dirty_set(d.sys, d.ra + 61 * PG, PG,
                              1u << GM_DIRTY_VGA, NULL), 0);
    /* 130 pages from a's page 60: a 60..63, b 0..63, c 0..61. */
    CHECK_EQ_INT(gm_dirty_merge(d.sys, d.ra + 60 * PG, 130, bits,
                                1u << GM_DIRTY_VGA | 1u << GM_DIRTY_MIGRATION,
                                &err), 0);
    CHECK_EQ_STR(dpages(&d, GM_DIRTY_VGA, p, sizeof(p)),
                 "60 61 63 64 123 124 125 187 189");
    CHECK_EQ_STR(dpages(&d, GM_DIRTY_MIGRATION, p, sizeof(p)),
                 "60 63 64 123 124 125 187 189");
    CHECK_EQ_STR(dpages(&d, GM_DIRTY_CODE, p, sizeof(p)), "");
    /* Word-aligned, one page. */
    bits[0] = 1;
    CHECK_EQ_INT(gm_dirty_merge(d.sys, d.ra + 128 * PG, 1, bits,
                                1u << GM_DIRTY_CODE, &err), 0);
    CHECK_EQ_STR(dpages(&d, GM_DIRTY_CODE, p, sizeof(p)), "128");
    /* A zero bitmap changes nothing. */
    memset(bits, 0, sizeof(bits));
    CHECK_EQ_INT(gm_dirty_merge(d.sys, d.ra, 130, bits, ALL_MASK, &err), 0);
    CHECK_EQ_STR(dpages(&d, GM_DIRTY_CODE, p, sizeof(p)), "128");
    dsys_fini(&d);
}

/* The dirty pages of @s, walked with gm_dirty_snapshot_next(). */
static const char *snap_walk(const gm_dirty_snapshot *s, uint64_t base,
                             char *out, size_t n)
{
    size_t at = 0;
    uint64_t a = gm_dirty_snapshot_next(s, 0);
    int guard = 0;

    out[0] = '\0';
    while (a != GM_RAM_ADDR_INVALID && guard++ < 1000) {
        int k = snprintf(out + at, n - at, "%s%" PRIu64, at ? " " : "",
                         (uint64_t)((a - base) / PG));

        if (k > 0 && (size_t)k < n - at) {
            at += (size_t)k;
        }
        CHECK_EQ_U64(a % PG, 0);
        a = gm_dirty_snapshot_next(s, a + PG);
    }
    return out;
}

static void test_dirty_snapshot(void)
{
    struct dsys d;
    char p[1024];
    const unsigned set[] = {0, 1, 2, 60, 63, 64, 100, 102, 150};
    gm_dirty_snapshot *s;
    gm_error err = {0};

    dsys_init(&d);
    for (size_t k = 0; k < sizeof(set) / sizeof(set[0]); k++) {
        CHECK_EQ_INT(gm_dirty_set(d.sys, d.ra + set[k] * PG, 1,
                                  1u << GM_DIRTY_VGA | 1u << GM_DIRTY_CODE,
                                  NULL), 0);
    }
    /* Pages 1 .. 101 (the range starts and ends inside a page). */
    s = gm_dirty_snapshot_and_clear(d.sys, d.ra + PG + 5, 100 * PG,
                                    GM_DIRTY_VGA, &err);
    CHECK(s != NULL);
    if (!s) {
        dsys_fini(&d);
        return;
    }
    CHECK_EQ_U64(gm_dirty_snapshot_count(s), 6);
    CHECK_EQ_STR(snap_walk(s, d.ra, p, sizeof(p)), "1 2 60 63 64 100");
    for (unsigned pg = 0; pg < 192; pg++) {
        bool want = pg == 1 || pg == 2 || pg == 60 || pg == 63 || pg == 64 ||
                    pg == 100;

        if (gm_dirty_snapshot_test(s, d.ra + pg * PG, PG) != want) {
            HARNESS_FAIL("snapshot_test page %u", pg);
        }
    }
    CHECK(gm_dirty_snapshot_test(s, d.ra, 3 * PG));
    CHECK(!gm_dirty_snapshot_test(s, d.ra + 3 * PG, 57 * PG));
    CHECK(gm_dirty_snapshot_test(s, d.ra + 3 * PG, 57 * PG + 1));
    CHECK(!gm_dirty_snapshot_test(s, d.ra, 0));
    /* next: from inside the range, past its end. */
    CHECK_EQ_U64(gm_dirty_snapshot_next(s, d.ra + 3 * PG), d.ra + 60 * PG);
    CHECK_EQ_U64(gm_dirty_snapshot_next(s, d.ra + 65 * PG), d.ra + 100 * PG);
    CHECK_EQ_U64(gm_dirty_snapshot_next(s, d.ra + 101 * PG),
                 GM_RAM_ADDR_INVALID);
    CHECK_EQ_U64(gm_dirty_snapshot_next(s, d.ra + 500 * PG),
                 GM_RAM_ADDR_INVALID);
    /* The range's bits are gone; those outside it and other clients'
     * stay. */
    CHECK_EQ_STR(dpages(&d, GM_DIRTY_VGA, p, sizeof(p)), "0 102 150");
    CHECK_EQ_STR(dpages(&d, GM_DIRTY_CODE, p, sizeof(p)),
                 "0 1 2 60 63 64 100 102 150");
    gm_dirty_snapshot_free(s);

    /* Again: nothing left in the range. */
    s = gm_dirty_snapshot_and_clear(d.sys, d.ra + PG, 100 * PG, GM_DIRTY_VGA,
                                    &err);
    CHECK(s != NULL);
    CHECK_EQ_U64(gm_dirty_snapshot_count(s), 0);
    CHECK_EQ_U64(gm_dirty_snapshot_next(s, 0), GM_RAM_ADDR_INVALID);
    CHECK(!gm_dirty_snapshot_test(s, d.ra, 200 * PG));
    gm_dirty_snapshot_free(s);

    /* Word-aligned, over all three blocks. */
    s = gm_dirty_snapshot_and_clear(d.sys, d.ra, 3 * RAM_ALIGN, GM_DIRTY_CODE,
                                    &err);
    CHECK(s != NULL);
    CHECK_EQ_U64(gm_dirty_snapshot_count(s), 9);
    CHECK_EQ_STR(snap_walk(s, d.ra, p, sizeof(p)),
                 "0 1 2 60 63 64 100 102 150");
    CHECK_EQ_STR(dpages(&d, GM_DIRTY_CODE, p, sizeof(p)), "");
    gm_dirty_snapshot_free(s);

    /* NULL snapshots. */
    CHECK(!gm_dirty_snapshot_test(NULL, d.ra, PG));
    CHECK_EQ_U64(gm_dirty_snapshot_count(NULL), 0);
    CHECK_EQ_U64(gm_dirty_snapshot_next(NULL, 0), GM_RAM_ADDR_INVALID);
    gm_dirty_snapshot_free(NULL);
    dsys_fini(&d);
}

/* A listener that records log_clear sections (and nothing else). */
struct clear_rec {
    struct strbuf log;
    int busy_rc;
    bool try_clear; /* call gm_dirty_clear() from the callback */
    gm_system *sys;
    uint64_t ra;
};

static void cr_log_clear(void *o, const struct gm_section *s)
{
    struct clear_rec *c = o;
    char t[256];

    sec_fmt(t, sizeof(t), s, false);
    sb_add(&c->log, "clear %s", t);
    if (c->try_clear) {
        c->busy_rc = gm_dirty_clear(c->sys, c->ra, PG, GM_DIRTY_VGA, NULL);
    }
}

static const struct gm_listener_ops clear_ops = {
    .log_clear = cr_log_clear,
};

static void test_log_clear(void)
{
    struct machine m;
    struct clear_rec cr = {0};
    struct strbuf quiet;
    struct rec plain = {.log = &quiet};
    gm_region *a, *win, *hidden;
    gm_listener *l, *l2;
    gm_dirty_snapshot *s;
    uint64_t ra;

    big_machine(&m);
    a = rh_anon(m.sys, "a", 64 * PG);
    hidden = rh_anon(m.sys, "hidden", 4 * PG);
    ra = gm_region_ram_addr(a);
    CHECK_EQ_INT(gm_region_add_subregion(m.root, 0x200000, a, NULL), 0);
    /* a's pages 16 .. 23 once more, through an alias. */
    win = gm_region_new_alias(m.sys, "win", a, 16 * PG, 8 * PG, NULL);
    CHECK_EQ_INT(gm_region_add_subregion(m.root, 0x800000, win, NULL), 0);
    sb_reset(&cr.log);
    sb_reset(&quiet);
    l = gm_listener_register(m.sys, &clear_ops, &cr, 0, NULL, NULL);
    /* One without log_clear hears nothing of it, and is no trouble. */
    l2 = gm_listener_register(m.sys, &rec_ops, &plain, 0, NULL, NULL);
    CHECK(l && l2);
    sb_reset(&quiet);

    CHECK_EQ_INT(gm_dirty_clear(m.sys, ra + 10 * PG, 10 * PG, GM_DIRTY_VGA,
                                NULL), 0);
    CHECK_EQ_STR(cr.log.s, "clear a 20a000-213fff @a000; "
                           "clear a 800000-803fff @10000");
    /* A partial page is a whole page for log_clear too. */
    sb_reset(&cr.log);
    CHECK_EQ_INT(gm_dirty_clear(m.sys, ra + 30 * PG + 5, 1, GM_DIRTY_CODE,
                                NULL), 0);
    CHECK_EQ_STR(cr.log.s, "clear a 21e000-21efff @1e000");
    /* Snapshots too. */
    sb_reset(&cr.log);
    s = gm_dirty_snapshot_and_clear(m.sys, ra + 22 * PG, 4 * PG,
                                    GM_DIRTY_MIGRATION, NULL);
    CHECK(s != NULL);
    gm_dirty_snapshot_free(s);
    CHECK_EQ_STR(cr.log.s, "clear a 216000-219fff @16000; "
                           "clear a 806000-807fff @16000");
    /* A block in no view: nobody to tell. */
    sb_reset(&cr.log);
    CHECK_EQ_INT(gm_dirty_clear(m.sys, gm_region_ram_addr(hidden), 4 * PG,
                                GM_DIRTY_VGA, NULL), 0);
    CHECK_EQ_STR(cr.log.s, "");
    /* From the callback itself: -EBUSY. */
    cr.try_clear = true;
    cr.sys = m.sys;
    cr.ra = ra;
    cr.busy_rc = 1;
    CHECK_EQ_INT(gm_dirty_clear(m.sys, ra, PG, GM_DIRTY_VGA, NULL), 0);
    CHECK_EQ_INT(cr.busy_rc, -EBUSY);
    cr.try_clear = false;
    CHECK_EQ_STR(quiet.s, "");

    CHECK_EQ_INT(gm_listener_unregister(l, NULL), 0);
    CHECK_EQ_INT(gm_listener_unregister(l2, NULL), 0);
    gm_region_unref(a);
    gm_region_unref(win);
    gm_region_unref(hidden);
    machine_fini(&m);
}

/* Logging that starts on a range marks it all dirty for those clients. */
static void test_log_start_marks(void)
{
    struct machine m;
    gm_region *a, *b, *io;
    uint64_t ra, rb;
    gm_error err = {0};

    big_machine(&m);
    a = rh_anon(m.sys, "a", 16 * PG);
    b = rh_anon(m.sys, "b", 8 * PG);
    ra = gm_region_ram_addr(a);
    rb = gm_region_ram_addr(b);
    CHECK_EQ_INT(gm_region_add_subregion(m.root, 0x100000, a, NULL), 0);
    CHECK_EQ_INT(gm_region_add_subregion(m.root, 0x200000, b, NULL), 0);
    rh_clear_all(m.sys, ra, 16 * PG);
    rh_clear_all(m.sys, rb, 8 * PG);

    CHECK_EQ_INT(gm_region_set_log(a, true, GM_DIRTY_VGA, &err), 0);
    CHECK_EQ_INT(gm_region_dirty_log_mask(a), 1u << GM_DIRTY_VGA);
    CHECK_EQ_U64(gm_dirty_count(m.sys, ra, 16 * PG, GM_DIRTY_VGA), 16);
    CHECK_EQ_U64(gm_dirty_count(m.sys, ra, 16 * PG, GM_DIRTY_CODE), 0);
    CHECK_EQ_U64(gm_dirty_count(m.sys, ra, 16 * PG, GM_DIRTY_MIGRATION), 0);
    CHECK_EQ_U64(gm_dirty_count(m.sys, rb, 8 * PG, GM_DIRTY_VGA), 0);
    /* Another client starting: it alone is marked. */
    rh_clear_all(m.sys, ra, 16 * PG);
    CHECK_EQ_INT(gm_region_set_log(a, true, GM_DIRTY_CODE, &err), 0);
    CHECK_EQ_U64(gm_dirty_count(m.sys, ra, 16 * PG, GM_DIRTY_CODE), 16);
    CHECK_EQ_U64(gm_dirty_count(m.sys, ra, 16 * PG, GM_DIRTY_VGA), 0);
    /* Starting what is on already, or stopping: nothing marked. */
    rh_clear_all(m.sys, ra, 16 * PG);
    CHECK_EQ_INT(gm_region_set_log(a, true, GM_DIRTY_CODE, &err), 0);
    CHECK_EQ_INT(gm_region_set_log(a, false, GM_DIRTY_VGA, &err), 0);
    for (int c = 0; c < GM_DIRTY_NR; c++) {
        CHECK_EQ_U64(gm_dirty_count(m.sys, ra, 16 * PG,
                                    (enum gm_dirty_client)c), 0);
    }
    /* Global migration logging: all RAM, that client. */
    CHECK_EQ_INT(gm_system_log_global_start(m.sys, &err), 0);
    CHECK_EQ_U64(gm_dirty_count(m.sys, ra, 16 * PG, GM_DIRTY_MIGRATION), 16);
    CHECK_EQ_U64(gm_dirty_count(m.sys, rb, 8 * PG, GM_DIRTY_MIGRATION), 8);
    CHECK_EQ_U64(gm_dirty_count(m.sys, rb, 8 * PG, GM_DIRTY_VGA), 0);
    CHECK_EQ_INT(gm_system_log_global_stop(m.sys, &err), 0);
    /* Refused: a bad client, a region without RAM, NULL. */
    io = gm_region_new_io(m.sys, "io", PG, NULL, NULL, NULL);
    gm_error_clear(&err);
    CHECK_EQ_INT(gm_region_set_log(a, true, (enum gm_dirty_client)GM_DIRTY_NR,
                                   &err), -EINVAL);
    CHECK(err.msg[0] != '\0');
    gm_error_clear(&err);
    CHECK_EQ_INT(gm_region_set_log(io, true, GM_DIRTY_VGA, &err), -EINVAL);
    CHECK_CONTAINS(err.msg, "io");
    CHECK_EQ_INT(gm_region_set_log(NULL, true, GM_DIRTY_VGA, NULL), -EINVAL);
    gm_region_unref(io);
    gm_region_unref(a);
    gm_region_unref(b);
    machine_fini(&m);
}

/*
 * Writes through the API mark exactly the pages written, for the clients
 * that log the range, and nothing else.
 */
struct wsys {
    struct machine m;
    gm_region *vram, *ram2, *rom;
    uint64_t rv, r2;
};

#define VBASE 0x100000ull /* vram: 16 pages; ram2 right after it */
#define R2BASE (VBASE + 16 * PG)
#define ROMBASE 0x300000ull

static void wsys_init(struct wsys *w)
{
    struct gm_ram_opts o = {.backing = GM_RAM_ANON, .align = PG};

    big_machine(&w->m);
    w->vram = rh_anon(w->m.sys, "vram", 16 * PG);
    w->ram2 = rh_anon(w->m.sys, "ram2", 16 * PG);
    w->rom = gm_region_new_ram_opts(w->m.sys, "rom", GM_REGION_ROM, 4 * PG,
                                    &o, NULL, NULL, NULL);
    w->rv = gm_region_ram_addr(w->vram);
    w->r2 = gm_region_ram_addr(w->ram2);
    CHECK_EQ_INT(gm_region_add_subregion(w->m.root, VBASE, w->vram, NULL), 0);
    CHECK_EQ_INT(gm_region_add_subregion(w->m.root, R2BASE, w->ram2, NULL),
                 0);
    CHECK_EQ_INT(gm_region_add_subregion(w->m.root, ROMBASE, w->rom, NULL),
                 0);
}

static void wsys_clear(struct wsys *w)
{
    rh_clear_all(w->m.sys, w->rv, 16 * PG);
    rh_clear_all(w->m.sys, w->r2, 16 * PG);
    rh_clear_all(w->m.sys, gm_region_ram_addr(w->rom), 4 * PG);
}

/*
 * The dirty pages of every client as "VGA:... CODE:... MIG:... SNAP:..."
 * for vram, then "| " and the same for ram2 and rom (empty lists left
 * out).
 */
static const char *wsys_dirty(struct wsys *w, char *out, size_t n)
{
    static const char *const cn[] = {"VGA", "CODE", "MIG", "SNAP"};
    const uint64_t ras[] = {w->rv, w->r2, gm_region_ram_addr(w->rom)};
    const uint64_t lens[] = {16 * PG, 16 * PG, 4 * PG};
    size_t at = 0;

    out[0] = '\0';
    for (int k = 0; k < 3; k++) {
        for (int c = 0; c < GM_DIRTY_NR; c++) {
            char p[256];

            rh_dirty_pages(w->m.sys, ras[k], lens[k], (enum gm_dirty_client)c,
                           p, sizeof(p));
            if (p[0]) {
                at += (size_t)snprintf(out + at, n - at, "%s%s:%s",
                                       at ? " " : "", cn[c], p);
            }
        }
        if (k < 2) {
            at += (size_t)snprintf(out + at, n - at, "%s|", at ? " " : "");
        }
    }
    return out;
}

static void wsys_fini(struct wsys *w)
{
    gm_region_unref(w->vram);
    gm_region_unref(w->ram2);
    gm_region_unref(w->rom);
    machine_fini(&w->m);
}

/* Every kind of write, each checked on its own; want[k] per write. */
static void write_all(struct wsys *w, const char *const want[8])
{
    struct gm_cache c;
    uint8_t buf[0x3000];
    char got[512];
    uint64_t plen, v = 0;
    void *p;

    memset(buf, 0xab, sizeof(buf));
    /* 0: a store across vram's pages 1 and 2. */
    wsys_clear(w);
    CHECK_EQ_INT(gm_space_store(w->m.as, VBASE + 0x1ffe, 4, GM_ENDIAN_LITTLE,
                                0x01020304, GM_ATTRS_DEFAULT), GM_RESULT_OK);
    CHECK_EQ_STR(wsys_dirty(w, got, sizeof(got)), want[0]);
    /* 1: a write over vram's pages 5 .. 8. */
    wsys_clear(w);
    CHECK_EQ_INT(gm_space_write(w->m.as, VBASE + 0x5800, buf, 0x3000,
                                GM_ATTRS_DEFAULT), GM_RESULT_OK);
    CHECK_EQ_STR(wsys_dirty(w, got, sizeof(got)), want[1]);
    /* 2: a write across vram's last page and ram2's first. */
    wsys_clear(w);
    CHECK_EQ_INT(gm_space_write(w->m.as, R2BASE - 10, buf, 20,
                                GM_ATTRS_DEFAULT), GM_RESULT_OK);
    CHECK_EQ_STR(wsys_dirty(w, got, sizeof(got)), want[2]);
    /* 3: cache stores (inline or not), across pages 9 and 10. */
    CHECK_EQ_INT(gm_cache_init(&c, w->m.as, VBASE + 0x9000, 0x2000, true,
                               NULL), 0);
    wsys_clear(w);
    CHECK_EQ_INT(gm_cache_store(&c, 0xffc, 8, GM_ENDIAN_LITTLE, 0x1122),
                 GM_RESULT_OK);
    CHECK_EQ_STR(wsys_dirty(w, got, sizeof(got)), want[3]);
    /* 4: a cache write within page 10, and the last bytes of the window
     * (the slow path). */
    wsys_clear(w);
    CHECK_EQ_INT(gm_cache_write(&c, 0x1800, buf, 16), GM_RESULT_OK);
    CHECK_EQ_INT(gm_cache_store(&c, 0x1ffc, 4, GM_ENDIAN_LITTLE, 7),
                 GM_RESULT_OK);
    CHECK_EQ_STR(wsys_dirty(w, got, sizeof(got)), want[4]);
    gm_cache_destroy(&c);
    /* 5: a DMA map written in part (0x1001 bytes: pages 12 and 13). */
    wsys_clear(w);
    plen = 0x3000;
    p = gm_space_map(w->m.as, VBASE + 0xc000, &plen, true, GM_ATTRS_DEFAULT);
    CHECK(p != NULL && plen == 0x3000);
    if (p) {
        memset(p, 0x5c, 0x1001);
        gm_space_unmap(w->m.as, p, plen, true, 0x1001);
    }
    CHECK_EQ_STR(wsys_dirty(w, got, sizeof(got)), want[5]);
    /* 6: a DMA map for reading, loads, reads, a write to ROM: nothing. */
    wsys_clear(w);
    plen = 0x2000;
    p = gm_space_map(w->m.as, VBASE + 0x2000, &plen, false, GM_ATTRS_DEFAULT);
    CHECK(p != NULL);
    if (p) {
        gm_space_unmap(w->m.as, p, plen, false, 0);
    }
    plen = 0x2000;
    p = gm_space_map(w->m.as, VBASE + 0x2000, &plen, true, GM_ATTRS_DEFAULT);
    if (p) {
        gm_space_unmap(w->m.as, p, plen, true, 0); /* nothing written */
    }
    CHECK_EQ_INT(gm_space_load(w->m.as, VBASE + 0x3000, 8, GM_ENDIAN_LITTLE,
                               &v, GM_ATTRS_DEFAULT), GM_RESULT_OK);
    CHECK_EQ_INT(gm_space_read(w->m.as, VBASE, buf, sizeof(buf),
                               GM_ATTRS_DEFAULT), GM_RESULT_OK);
    CHECK_EQ_INT(gm_space_store(w->m.as, ROMBASE + 8, 4, GM_ENDIAN_LITTLE, 1,
                                GM_ATTRS_DEFAULT), GM_RESULT_ACCESS_ERROR);
    CHECK_EQ_STR(wsys_dirty(w, got, sizeof(got)), want[6]);
    /* 7: a byte into ram2's page 3 and one into vram's page 15. */
    wsys_clear(w);
    CHECK_EQ_INT(gm_space_store(w->m.as, R2BASE + 3 * PG + 1, 1,
                                GM_ENDIAN_LITTLE, 1, GM_ATTRS_DEFAULT),
                 GM_RESULT_OK);
    CHECK_EQ_INT(gm_space_store(w->m.as, VBASE + 15 * PG, 1,
                                GM_ENDIAN_LITTLE, 1, GM_ATTRS_DEFAULT),
                 GM_RESULT_OK);
    CHECK_EQ_STR(wsys_dirty(w, got, sizeof(got)), want[7]);
}

static void test_writes_mark(void)
{
    struct wsys w;
    gm_error err = {0};

    wsys_init(&w);
    /* Nobody logs: nothing is marked, whatever is written. */
    {
        const char *const want[8] = {"| |", "| |", "| |", "| |",
                                     "| |", "| |", "| |", "| |"};
        write_all(&w, want);
    }
    /* VGA logs vram. */
    CHECK_EQ_INT(gm_region_set_log(w.vram, true, GM_DIRTY_VGA, &err), 0);
    {
        const char *const want[8] = {
            "VGA:1 2 | |", "VGA:5 6 7 8 | |", "VGA:15 | |", "VGA:9 10 | |",
            "VGA:10 | |",  "VGA:12 13 | |",   "| |",        "VGA:15 | |"};
        write_all(&w, want);
    }
    /* VGA and CODE on vram, SNAPSHOT... no: MIGRATION globally. */
    CHECK_EQ_INT(gm_region_set_log(w.vram, true, GM_DIRTY_CODE, &err), 0);
    CHECK_EQ_INT(gm_system_log_global_start(w.m.sys, &err), 0);
    {
        const char *const want[8] = {
            "VGA:1 2 CODE:1 2 MIG:1 2 | |",
            "VGA:5 6 7 8 CODE:5 6 7 8 MIG:5 6 7 8 | |",
            "VGA:15 CODE:15 MIG:15 | MIG:0 |",
            "VGA:9 10 CODE:9 10 MIG:9 10 | |",
            "VGA:10 CODE:10 MIG:10 | |",
            "VGA:12 13 CODE:12 13 MIG:12 13 | |",
            "| |",
            "VGA:15 CODE:15 MIG:15 | MIG:3 |"};
        write_all(&w, want);
    }
    /* All off again: nothing. */
    CHECK_EQ_INT(gm_system_log_global_stop(w.m.sys, &err), 0);
    CHECK_EQ_INT(gm_region_set_log(w.vram, false, GM_DIRTY_CODE, &err), 0);
    CHECK_EQ_INT(gm_region_set_log(w.vram, false, GM_DIRTY_VGA, &err), 0);
    {
        const char *const want[8] = {"| |", "| |", "| |", "| |",
                                     "| |", "| |", "| |", "| |"};
        write_all(&w, want);
    }
    wsys_fini(&w);
}

/*
 * Snapshot reset.
 */

static void test_ram_snapshot(void)
{
    struct machine m;
    struct strbuf b;
    struct gm_ram_opts rz = {.backing = GM_RAM_ANON, .align = PG,
                             .flags = GM_RAM_RESIZEABLE,
                             .max_length = 8 * PG};
    gm_region *a, *rb, *late;
    gm_ram_snapshot *s, *s2;
    gm_error err = {0};
    struct gm_cache c;
    uint8_t *ha, *hb, buf[2 * PG];
    uint64_t ra;

    big_machine(&m);
    a = rh_anon(m.sys, "a", 16 * PG);
    rb = rh_must(m.sys, "b", 4 * PG, &rz);
    ha = gm_region_ram_ptr(a);
    hb = gm_region_ram_ptr(rb);
    ra = gm_region_ram_addr(a);
    rh_fill(ha, 16 * PG, 1);
    rh_fill(hb, 8 * PG, 2);
    CHECK_EQ_INT(gm_region_add_subregion(m.root, 0x100000, a, NULL), 0);
    CHECK_EQ_INT(gm_region_add_subregion(m.root, 0x200000, rb, NULL), 0);
    CHECK_EQ_STR(as_str(m.as, &b), "a 100000-10ffff; b 200000-203fff");

    s = gm_ram_snapshot_take(m.sys, &err);
    CHECK(s != NULL);
    if (!s) {
        fprintf(stderr, "    %s\n", err.msg);
        goto out;
    }
    /* The SNAPSHOT client logs all RAM while the snapshot lives. */
    CHECK_EQ_STR(as_str(m.as, &b),
                 "a 100000-10ffff log=8; b 200000-203fff log=8");
    /* One at a time. */
    gm_error_clear(&err);
    s2 = gm_ram_snapshot_take(m.sys, &err);
    CHECK(s2 == NULL);
    CHECK_EQ_INT(err.code, -EBUSY);
    gm_ram_snapshot_free(s2);
    /* Nothing written: nothing to copy. */
    CHECK_EQ_INT(gm_ram_snapshot_restore(s, &err), 0);
    CHECK_EQ_U64(gm_ram_snapshot_restored(s), 0);

    /* Writes through the space, a cache, and a device that says so. */
    memset(buf, 0, sizeof(buf));
    CHECK_EQ_INT(gm_space_store(m.as, 0x100000 + 3 * PG, 4, GM_ENDIAN_LITTLE,
                                0, GM_ATTRS_DEFAULT), GM_RESULT_OK);
    CHECK_EQ_INT(gm_space_write(m.as, 0x100000 + 5 * PG + 1, buf, PG,
                                GM_ATTRS_DEFAULT), GM_RESULT_OK);
    CHECK_EQ_INT(gm_cache_init(&c, m.as, 0x200000, 4 * PG, true, NULL), 0);
    CHECK_EQ_INT(gm_cache_store(&c, PG + 8, 8, GM_ENDIAN_LITTLE, 0),
                 GM_RESULT_OK);
    gm_cache_destroy(&c);
    memset(ha + 9 * PG, 0, 10);
    CHECK_EQ_INT(gm_dirty_set(m.sys, ra + 9 * PG, 10,
                              1u << GM_DIRTY_SNAPSHOT, NULL), 0);
    /* A write behind the API's back, not reported: not seen. */
    ha[12 * PG] = 0;
    rh_clear_all(m.sys, ra, 16 * PG);
    rh_clear_all(m.sys, gm_region_ram_addr(rb), 4 * PG);
    /* (the SNAPSHOT bits are cleared too: mark those pages again) */
    CHECK_EQ_INT(gm_dirty_set(m.sys, ra + 3 * PG, PG,
                              1u << GM_DIRTY_SNAPSHOT, NULL), 0);
    CHECK_EQ_INT(gm_dirty_set(m.sys, ra + 5 * PG, 2 * PG,
                              1u << GM_DIRTY_SNAPSHOT, NULL), 0);
    CHECK_EQ_INT(gm_dirty_set(m.sys, ra + 9 * PG, PG,
                              1u << GM_DIRTY_SNAPSHOT, NULL), 0);
    CHECK_EQ_INT(gm_dirty_set(m.sys, gm_region_ram_addr(rb) + PG, PG,
                              1u << GM_DIRTY_SNAPSHOT, NULL), 0);
    CHECK_EQ_INT(gm_ram_snapshot_restore(s, &err), 0);
    CHECK_EQ_U64(gm_ram_snapshot_restored(s), 5);
    CHECK(rh_is_fill(ha, 12 * PG, 1, 0));
    CHECK_EQ_U64(ha[12 * PG], 0);
    CHECK(rh_is_fill(ha + 12 * PG + 1, 4 * PG - 1, 1, 12 * PG + 1));
    CHECK(rh_is_fill(hb, 4 * PG, 2, 0));
    /* For the other clients the restored pages changed. */
    {
        char p[256];

        CHECK_EQ_STR(rh_dirty_pages(m.sys, ra, 16 * PG, GM_DIRTY_VGA, p,
                                    sizeof(p)), "3 5 6 9");
        CHECK_EQ_STR(rh_dirty_pages(m.sys, ra, 16 * PG, GM_DIRTY_CODE, p,
                                    sizeof(p)), "3 5 6 9");
        CHECK_EQ_STR(rh_dirty_pages(m.sys, ra, 16 * PG, GM_DIRTY_MIGRATION,
                                    p, sizeof(p)), "3 5 6 9");
        CHECK_EQ_STR(rh_dirty_pages(m.sys, ra, 16 * PG, GM_DIRTY_SNAPSHOT, p,
                                    sizeof(p)), "");
    }
    /* Restored already: a second restore has nothing to do. */
    CHECK_EQ_INT(gm_ram_snapshot_restore(s, &err), 0);
    CHECK_EQ_U64(gm_ram_snapshot_restored(s), 0);

    /* A block resized since gets its length back, and its bytes. */
    CHECK_EQ_INT(gm_region_ram_resize(rb, 2 * PG, &err), 0);
    late = rh_anon(m.sys, "late", 2 * PG);
    memset(gm_region_ram_ptr(late), 0x33, 2 * PG);
    CHECK_EQ_INT(gm_region_add_subregion(m.root, 0x300000, late, NULL), 0);
    CHECK_EQ_INT(gm_ram_snapshot_restore(s, &err), 0);
    CHECK_EQ_U64((uint64_t)gm_region_size(rb), 4 * PG);
    /*
     * Each resize re-adds b's range, which appears with SNAPSHOT logging
     * and so starts all dirty: all four pages are copied back.
     */
    CHECK_EQ_U64(gm_ram_snapshot_restored(s), 4);
    CHECK(rh_is_fill(hb, 4 * PG, 2, 0));
    /* A block made since is left alone. */
    CHECK(gm_region_ram_ptr(late) != NULL);
    CHECK_EQ_U64(((uint8_t *)gm_region_ram_ptr(late))[PG], 0x33);

    /* Freed: logging stops, a new snapshot may be taken. */
    gm_ram_snapshot_free(s);
    CHECK_EQ_STR(as_str(m.as, &b), "a 100000-10ffff; b 200000-203fff; "
                                   "late 300000-301fff");
    s = gm_ram_snapshot_take(m.sys, &err);
    CHECK(s != NULL);
    gm_ram_snapshot_free(s);
    gm_region_unref(late);
out:
    /* NULL. */
    CHECK(gm_ram_snapshot_take(NULL, NULL) == NULL);
    CHECK_EQ_INT(gm_ram_snapshot_restore(NULL, NULL), -EINVAL);
    CHECK_EQ_U64(gm_ram_snapshot_restored(NULL), 0);
    gm_ram_snapshot_free(NULL);
    gm_region_unref(a);
    gm_region_unref(rb);
    machine_fini(&m);
}

int main(void)
{
    RUN(test_anon_default);
    RUN(test_anon_align);
    RUN(test_kinds);
    RUN(test_memfd);
    RUN(test_memfd_long_name);
    RUN(test_file_shared);
    RUN(test_file_private);
    RUN(test_file_created);
    if (hugetlbfs_mount(huge_mnt, sizeof(huge_mnt))) {
        RUN(test_hugetlbfs);
    } else {
        printf("skip test_hugetlbfs (no writable hugetlbfs mounted)\n");
    }
    RUN(test_ptr);
    RUN(test_none);
    RUN(test_memoryless);
    RUN(test_flags_anon);
    RUN(test_flags_memfd);
    RUN(test_flags_combined);
    RUN(test_nofork_child);
    RUN(test_bad_args);
    RUN(test_resizeable_rules);
    RUN(test_ram_addr);
    RUN(test_ram_info);
    RUN(test_foreach);
    RUN(test_lookup);
    RUN(test_from_host);
    RUN(test_resize);
    RUN(test_resize_zeroes);
    RUN(test_discard);
    RUN(test_discard_errors);
    RUN(test_dirty_new_block);
    RUN(test_dirty_set_test_count_clear);
    RUN(test_dirty_bad_args);
    RUN(test_dirty_outside_blocks);
    RUN(test_dirty_merge);
    RUN(test_dirty_snapshot);
    RUN(test_log_clear);
    RUN(test_log_start_marks);
    RUN(test_writes_mark);
    RUN(test_ram_snapshot);
    return harness_done();
}
