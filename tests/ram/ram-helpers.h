/* SPDX-License-Identifier: MIT */
/*
 * ram-helpers.h - helpers shared by the RAM-block test programs: making
 * blocks, listing them, what the process holds (open descriptors, resident
 * pages, a mapping's VmFlags), temporary files. Included once per program
 * (everything is static).
 */
#ifndef GM_TESTS_RAM_HELPERS_H
#define GM_TESTS_RAM_HELPERS_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <guestmem/guestmem.h>
#include <guestmem/dirty.h>
#include <guestmem/ram.h>

#include "harness.h"

#define RH_ATTR __attribute__((unused))
#define RH static RH_ATTR

#define PG 4096ull
#define KiB 1024ull
#define MiB (1024ull * 1024)
/* Blocks start on multiples of this in the ram_addr space (ram.h). */
#define RAM_ALIGN (256 * KiB)

RH uint64_t rh_round_up(uint64_t x, uint64_t a)
{
    return (x + a - 1) / a * a;
}

/* A RAM region of @size bytes made as @o says (NULL: defaults). */
RH gm_region *rh_new(gm_system *sys, const char *name, uint64_t size,
                     const struct gm_ram_opts *o, gm_error *err)
{
    return gm_region_new_ram_opts(sys, name, GM_REGION_RAM, size, o, NULL,
                                  NULL, err);
}

/* The same, which must succeed. */
RH gm_region *rh_must(gm_system *sys, const char *name, uint64_t size,
                      const struct gm_ram_opts *o)
{
    gm_error err = {0};
    gm_region *r = rh_new(sys, name, size, o, &err);

    if (!r) {
        HARNESS_FAIL("making '%s': %d %s", name, err.code, err.msg);
    }
    return r;
}

/* Anonymous memory, page aligned (so blocks are quick to make). */
RH gm_region *rh_anon(gm_system *sys, const char *name, uint64_t size)
{
    struct gm_ram_opts o = {.backing = GM_RAM_ANON, .align = PG};

    return rh_must(sys, name, size, &o);
}

RH uint64_t rh_info_offset(gm_region *r)
{
    struct gm_ram_block_info i;

    return gm_region_ram_info(r, &i) == 0 ? i.offset : GM_RAM_ADDR_INVALID;
}

/* The blocks of @sys as "NAME@OFFSET+USED/MAX ..." in foreach order. */
struct rh_list {
    char s[4096];
    size_t len;
    int n;
};

static int rh_list_cb(const struct gm_ram_block_info *b, void *opaque)
{
    struct rh_list *l = opaque;
    int k = snprintf(l->s + l->len, sizeof(l->s) - l->len,
                     "%s%s@%" PRIx64 "+%" PRIx64 "/%" PRIx64,
                     l->len ? " " : "", b->name, b->offset, b->used_length,
                     b->max_length);

    if (k > 0 && (size_t)k < sizeof(l->s) - l->len) {
        l->len += (size_t)k;
    }
    l->n++;
    return 0;
}

RH const char *rh_blocks(gm_system *sys, struct rh_list *l)
{
    l->len = 0;
    l->n = 0;
    l->s[0] = '\0';
    if (gm_system_foreach_ram_block(sys, rh_list_cb, l) != 0) {
        HARNESS_FAIL("gm_system_foreach_ram_block failed");
    }
    return l->s;
}

/* Open descriptors of the process. */
RH int rh_fd_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    if (!d) {
        return -1;
    }
    while ((e = readdir(d))) {
        if (e->d_name[0] != '.') {
            n++;
        }
    }
    closedir(d);
    return n - 1; /* the directory's own */
}

/*
 * Pages of [p, p + len) resident in memory (mincore), or -1 when some of
 * it is not mapped.
 */
RH long rh_resident(const void *p, size_t len)
{
    size_t pages = (len + PG - 1) / PG;
    unsigned char vec[4096];
    long n = 0;

    for (size_t done = 0; done < pages;) {
        size_t k = pages - done < sizeof(vec) ? pages - done : sizeof(vec);

        if (mincore((uint8_t *)p + done * PG, k * PG, vec)) {
            return -1;
        }
        for (size_t i = 0; i < k; i++) {
            n += vec[i] & 1;
        }
        done += k;
    }
    return n;
}

/* Whether any page of [p, p + len) is mapped. */
RH bool rh_any_mapped(const void *p, size_t len)
{
    unsigned char v;

    for (size_t off = 0; off < len; off += PG) {
        if (mincore((uint8_t *)p + off, PG, &v) == 0) {
            return true;
        }
    }
    return false;
}

/*
 * The VmFlags line of the mapping holding @p (/proc/self/smaps), e.g.
 * "rd wr mr mw me dd nr": false when not found.
 */
RH bool rh_vmflags(const void *p, char *out, size_t n)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[512];
    bool in = false, found = false;
    uintptr_t a = (uintptr_t)p;

    if (!f) {
        return false;
    }
    while (fgets(line, sizeof(line), f)) {
        unsigned long lo, hi;

        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') &&
            line[0] != 'V') {
            in = a >= lo && a < hi;
            continue;
        }
        if (in && !strncmp(line, "VmFlags:", 8)) {
            size_t k = strcspn(line + 8, "\n");

            k = k < n - 1 ? k : n - 1;
            memcpy(out, line + 8, k);
            out[k] = '\0';
            found = true;
            break;
        }
    }
    fclose(f);
    return found;
}

/* Whether the VmFlags of the mapping at @p hold the two-letter @flag. */
RH bool rh_has_vmflag(const void *p, const char *flag)
{
    char fl[256], *save = NULL;

    if (!rh_vmflags(p, fl, sizeof(fl))) {
        return false;
    }
    for (char *t = strtok_r(fl, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        if (!strcmp(t, flag)) {
            return true;
        }
    }
    return false;
}

/* A new empty temporary file under /tmp; its path goes into @path. */
RH int rh_tmpfile(char *path, size_t n)
{
    int fd;

    snprintf(path, n, "/tmp/gm-ram-test-XXXXXX");
    fd = mkstemp(path);
    if (fd < 0) {
        HARNESS_FAIL("mkstemp: %s", strerror(errno));
    }
    return fd;
}

/* A path under /tmp that does not exist (a fresh directory's child). */
RH void rh_newpath(char *dir, size_t dn, char *path, size_t pn)
{
    snprintf(dir, dn, "/tmp/gm-ram-dir-XXXXXX");
    if (!mkdtemp(dir)) {
        HARNESS_FAIL("mkdtemp: %s", strerror(errno));
    }
    snprintf(path, pn, "%s/ram", dir);
}

RH bool rh_exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0;
}

RH int64_t rh_file_size(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

/* Fill [p, p + len) with a pattern of @seed (never a zero byte). */
RH void rh_fill(void *p, size_t len, unsigned seed)
{
    uint8_t *b = p;

    for (size_t i = 0; i < len; i++) {
        b[i] = (uint8_t)(((i * 131u + seed * 7u) % 255u) + 1u);
    }
}

/* Whether [p, p + len) holds the pattern of @seed at offset @at. */
RH bool rh_is_fill(const void *p, size_t len, unsigned seed, size_t at)
{
    const uint8_t *b = p;

    for (size_t i = 0; i < len; i++) {
        if (b[i] != (uint8_t)((((i + at) * 131u + seed * 7u) % 255u) + 1u)) {
            return false;
        }
    }
    return true;
}

RH bool rh_is_zero(const void *p, size_t len)
{
    const uint8_t *b = p;

    for (size_t i = 0; i < len; i++) {
        if (b[i]) {
            return false;
        }
    }
    return true;
}

/* Clear every client's bits of [ram_addr, +len). */
RH void rh_clear_all(gm_system *sys, uint64_t ram_addr, uint64_t len)
{
    for (int c = 0; c < GM_DIRTY_NR; c++) {
        gm_error err = {0};

        if (gm_dirty_clear(sys, ram_addr, len, (enum gm_dirty_client)c,
                           &err)) {
            HARNESS_FAIL("gm_dirty_clear(0x%" PRIx64 "+0x%" PRIx64
                         ", %d): %s",
                         ram_addr, len, c, err.msg);
        }
    }
}

/*
 * The dirty pages of [ram_addr, +len) for @client as a string of page
 * indexes relative to ram_addr ("1 2 5"), found page by page with
 * gm_dirty_test().
 */
RH const char *rh_dirty_pages(gm_system *sys, uint64_t ram_addr, uint64_t len,
                              enum gm_dirty_client client, char *out,
                              size_t n)
{
    size_t at = 0;

    out[0] = '\0';
    for (uint64_t p = 0; p * PG < len; p++) {
        if (gm_dirty_test(sys, ram_addr + p * PG, PG, client)) {
            int k = snprintf(out + at, n - at, "%s%" PRIu64, at ? " " : "",
                             p);

            if (k > 0 && (size_t)k < n - at) {
                at += (size_t)k;
            }
        }
    }
    return out;
}

#endif
