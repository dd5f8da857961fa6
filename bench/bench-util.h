/* SPDX-License-Identifier: MIT */
/*
 * bench-util.h - what the benchmark programs share: timing, medians, a
 * small random generator, a compiler barrier, error reporting, and a
 * system with one address space over a 2^64 root container.
 *
 * Define BENCH_NAME (the program's name, for messages) before including.
 * Everything is static; a program that does not use a helper gets no
 * warning for it.
 */
#ifndef GM_BENCH_UTIL_H
#define GM_BENCH_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <guestmem/guestmem.h>

#ifndef BENCH_NAME
#error "define BENCH_NAME before including bench-util.h"
#endif

#define BENCH_UNUSED __attribute__((unused))

static BENCH_UNUSED void fail(const char *what, int rc, const gm_error *err)
{
    fprintf(stderr, BENCH_NAME ": %s failed: %s (%s)\n", what,
            err && err->msg[0] ? err->msg : "no message", gm_strerror(rc));
}

static BENCH_UNUSED double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static BENCH_UNUSED int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* The median of v[0..n-1] (n >= 1); reorders v. */
static BENCH_UNUSED double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    if (n % 2) {
        return v[n / 2];
    }
    return (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* A small xorshift generator; the state lives with the caller. */
static BENCH_UNUSED uint64_t next_rand(uint64_t *state)
{
    uint64_t x = *state;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x;
}

/* Keep the compiler from assuming anything about p's target. */
static BENCH_UNUSED inline void clobber(const void *p)
{
    __asm__ volatile("" : : "r"(p) : "memory");
}

/* One address space under a 2^64 root container. */
struct bench_space {
    gm_system *sys;
    gm_region *root;
    gm_space *as;
};

static BENCH_UNUSED void space_free(struct bench_space *s)
{
    gm_error err;
    int rc;

    gm_error_clear(&err);
    if (s->as) {
        rc = gm_space_destroy(s->as, &err);
        if (rc) {
            fail("gm_space_destroy", rc, &err);
        }
    }
    gm_region_unref(s->root);
    if (s->sys) {
        rc = gm_system_destroy(s->sys, &err);
        if (rc) {
            fail("gm_system_destroy", rc, &err);
        }
    }
    memset(s, 0, sizeof(*s));
}

/* Return: 0, or -1 after printing what failed. */
static BENCH_UNUSED int space_new(struct bench_space *s)
{
    gm_error err;

    memset(s, 0, sizeof(*s));
    gm_error_clear(&err);
    s->sys = gm_system_new(&err);
    if (!s->sys) {
        fail("gm_system_new", err.code, &err);
        return -1;
    }
    s->root = gm_region_new_container(s->sys, "system", GM_SIZE_2_64, &err);
    if (!s->root) {
        fail("gm_region_new_container", err.code, &err);
        space_free(s);
        return -1;
    }
    s->as = gm_space_new(s->sys, s->root, "memory", &err);
    if (!s->as) {
        fail("gm_space_new", err.code, &err);
        space_free(s);
        return -1;
    }
    return 0;
}

/*
 * The benchmarks' device: reads return BENCH_MMIO_VALUE, writes are dropped.
 * Not inlinable, so every engine and every baseline pays one real call.
 */
#define BENCH_MMIO_VALUE 0x5a5a1234u

static BENCH_UNUSED __attribute__((noinline)) uint64_t
bench_dev_read(void *opaque, uint64_t offset, unsigned size)
{
    clobber(opaque);
    return BENCH_MMIO_VALUE;
}

static BENCH_UNUSED __attribute__((noinline)) void
bench_dev_write(void *opaque, uint64_t offset, uint64_t data, unsigned size)
{
    clobber(opaque);
}

/* usage line shared by every benchmark program. */
static BENCH_UNUSED void usage(FILE *f)
{
    fprintf(f, "usage: " BENCH_NAME " [--quick] [--strict] [--repeats N]\n");
}

/*
 * bench_parse() - the options every benchmark takes: --quick, --strict,
 * --repeats N (1..max_repeats), --help (prints usage and exits 0).
 * Return: 1 when --quick was given, 0 otherwise, -1 after printing a bad
 * usage. --quick also sets *repeats to 1 unless --repeats follows it.
 */
static BENCH_UNUSED int bench_parse(int argc, char **argv, int max_repeats,
                                    int *repeats, int *strict)
{
    int quick = 0;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) {
            quick = 1;
            *repeats = 1;
        } else if (!strcmp(argv[i], "--strict")) {
            *strict = 1;
        } else if (!strcmp(argv[i], "--repeats") && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);

            if (*end || v < 1 || v > max_repeats) {
                fprintf(stderr, BENCH_NAME ": --repeats takes 1..%d\n",
                        max_repeats);
                return -1;
            }
            *repeats = (int)v;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            exit(0);
        } else {
            usage(stderr);
            return -1;
        }
    }
    return quick;
}

#endif
