/* SPDX-License-Identifier: MIT */
/*
 * bench/bench-access.c - what an access through the API costs.
 *
 * Every guest access a device model or CPU loop makes goes through
 * gm_space_load() / gm_space_store() / gm_space_read() / gm_space_write()
 * (or an access cache). Each such call enters an RCU read-side section,
 * loads the space's flat view, walks the view's dispatch table and then
 * copies from RAM or calls a device. This program measures that cost next
 * to the plain C a program without guestmem would run, in the same run:
 *
 *   (1) lookup: 8-byte loads at random addresses spread over 1, 100 and
 *       10,000 RAM ranges (4 KiB each, one every 8 KiB, regions added to a
 *       2^64 root container); the baseline finds the range by a binary
 *       search over a sorted array of the ranges' start addresses and loads
 *       from the host pointer. libc's bsearch() is shown for information;
 *   (2) one hot 8-byte address in RAM: gm_space_load(), gm_space_store(),
 *       gm_cache_load() and gm_cache_store() next to a volatile load or
 *       store through a plain pointer in the same loop shape; a load
 *       through a noinline function shows what any out-of-line call costs.
 *       Throughput (independent accesses) and latency (dependent loads:
 *       the hot word holds its own offset, so each load's address is the
 *       value the previous one returned) are measured apart;
 *   (3) bulk: gm_space_read() / gm_space_write() of 1 MiB and 64 MiB next to
 *       memcpy() between the same two buffers (guest RAM and the caller's
 *       buffer), the four kinds of copy taking turns copy by copy;
 *   (4) MMIO dispatch: a 4-byte gm_space_load() on an I/O region whose read
 *       callback returns a constant, minus a direct call of that callback
 *       through a function pointer.
 *
 * Every figure is the median of several repetitions; within a repetition
 * the API and its baseline run back to back, so both see the same machine
 * state. The sums of the loaded values are compared between the API and
 * its baseline: a benchmark that loaded the wrong bytes would stop.
 *
 * Only the public API is used. Targets are printed next to the figures;
 * with --strict the program exits 1 when one is missed. --quick runs one
 * short repetition as a smoke test (make check), whose timings mean nothing.
 */
#include <guestmem/guestmem.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_NAME "bench-access"
#include "bench-util.h"

#define RANGE_SIZE 0x1000u    /* bytes per RAM range in (1) */
#define RANGE_STRIDE 0x2000u  /* distance between ranges: holes between */
#define RANGE_BASE 0x40000000ull /* guest address of the first range */
#define NR_ADDRS 65536u       /* random addresses per pass in (1) */
#define HOT_ADDR 0x40000100ull /* the hot address of (2) */
#define BULK_BASE 0x80000000ull /* guest RAM of (3) */
#define BULK_MAX (64u << 20)  /* its size: the largest copy */
#define MMIO_BASE 0xfe000000ull /* the I/O region of (4) */
#define MMIO_VALUE BENCH_MMIO_VALUE /* what its read callback returns */
#define MAX_REPEATS 9

/* Targets. */
#define TARGET_LOOKUP_RATIO 1.0 /* 10,000 ranges: ours / binary search */
#define TARGET_HOT_RATIO 1.5    /* hot read: ours / direct pointer load */
#define TARGET_BULK_RATIO 0.95  /* throughput: ours / memcpy, at least */
#define TARGET_MMIO_NS 10.0     /* ns above a direct callback call */

/* Settings from the command line. */
struct bench_opts {
    int repeats;        /* measurements per figure, median reported */
    unsigned passes;    /* passes over the NR_ADDRS addresses in (1) */
    long hot_iters;     /* accesses per measurement in (2) */
    long mmio_iters;    /* accesses per measurement in (4) */
    unsigned bulk_mib;  /* MiB copied per measurement in (3) */
    int strict;         /* exit 1 when a target is missed */
};

/* The RAM ranges of (1) and the baseline's view of them. */
struct bench_ranges {
    size_t n;
    uint8_t *host;     /* n * RANGE_SIZE bytes backing every range */
    uint64_t *starts;  /* guest start of range i, ascending */
    uint64_t *sizes;   /* its size */
    uint8_t **hosts;   /* its host memory */
    uint64_t *addrs;   /* NR_ADDRS random 8-byte aligned guest addresses */
};

/*
 * place() - add @r at @addr in @s's root and drop the caller's reference
 * (the container keeps one). Return: 0, or -1 after printing the error.
 */
static int place(struct bench_space *s, gm_region *r, uint64_t addr,
                 const char *what, gm_error *err)
{
    int rc;

    if (!r) {
        fail(what, err->code, err);
        return -1;
    }
    rc = gm_region_add_subregion(s->root, addr, r, err);
    gm_region_unref(r);
    if (rc) {
        fail("gm_region_add_subregion", rc, err);
        return -1;
    }
    return 0;
}

/*
 * (1) Lookup.
 */

static void ranges_free(struct bench_ranges *g)
{
    free(g->host);
    free(g->starts);
    free(g->sizes);
    free(g->hosts);
    free(g->addrs);
    memset(g, 0, sizeof(*g));
}

/*
 * ranges_build() - n RAM ranges backed by one host buffer, added to @s one
 * commit each, the baseline's arrays and NR_ADDRS random addresses.
 * Return: 0, or -1 after printing what failed.
 */
static int ranges_build(struct bench_space *s, struct bench_ranges *g,
                        size_t n)
{
    uint64_t state = 0x2545f4914f6cdd1dull + n;
    gm_error err;
    char name[32];

    memset(g, 0, sizeof(*g));
    gm_error_clear(&err);
    g->n = n;
    g->host = aligned_alloc(RANGE_SIZE, n * RANGE_SIZE);
    g->starts = calloc(n, sizeof(*g->starts));
    g->sizes = calloc(n, sizeof(*g->sizes));
    g->hosts = calloc(n, sizeof(*g->hosts));
    g->addrs = calloc(NR_ADDRS, sizeof(*g->addrs));
    if (!g->host || !g->starts || !g->sizes || !g->hosts || !g->addrs) {
        fprintf(stderr, "bench-access: out of memory\n");
        ranges_free(g);
        return -1;
    }
    /* Every 8-byte word holds its own guest address: loads are checkable. */
    for (size_t i = 0; i < n; i++) {
        uint64_t *w = (uint64_t *)(g->host + i * RANGE_SIZE);

        g->starts[i] = RANGE_BASE + (uint64_t)i * RANGE_STRIDE;
        g->sizes[i] = RANGE_SIZE;
        g->hosts[i] = g->host + i * RANGE_SIZE;
        for (size_t k = 0; k < RANGE_SIZE / 8; k++) {
            w[k] = g->starts[i] + k * 8;
        }
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "ram%zu", i);
        gm_region *r = gm_region_new_ram_ptr(s->sys, name, RANGE_SIZE,
                                             g->hosts[i], &err);
        if (place(s, r, g->starts[i], "gm_region_new_ram_ptr", &err)) {
            ranges_free(g);
            return -1;
        }
    }
    for (size_t k = 0; k < NR_ADDRS; k++) {
        size_t i = (size_t)(next_rand(&state) % n);
        uint64_t off = (next_rand(&state) % (RANGE_SIZE / 8)) * 8;

        g->addrs[k] = g->starts[i] + off;
    }
    return 0;
}

/* Index of the last start <= a (0 when a is below every start). */
static inline size_t find_range(const uint64_t *starts, size_t n, uint64_t a)
{
    size_t lo = 0, hi = n;

    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;

        if (starts[mid] <= a) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* The baseline: binary search, then a load from the host pointer. */
static double lookup_bsearch(const struct bench_ranges *g, unsigned passes,
                             uint64_t *sum)
{
    uint64_t acc = 0;
    double t0 = now_s();

    for (unsigned p = 0; p < passes; p++) {
        for (size_t k = 0; k < NR_ADDRS; k++) {
            uint64_t a = g->addrs[k];
            size_t i = find_range(g->starts, g->n, a);
            uint64_t off = a - g->starts[i];

            if (off < g->sizes[i]) {
                acc += *(volatile uint64_t *)(g->hosts[i] + off);
            } else {
                acc += UINT64_MAX;
            }
        }
    }
    *sum = acc;
    return (now_s() - t0) / ((double)passes * NR_ADDRS) * 1e9;
}

/* Key of libc's bsearch(): the range holding addr, if any. */
struct range_key {
    uint64_t addr;
    const uint64_t *sizes;
    const uint64_t *starts;
};

static int cmp_range(const void *key, const void *elem)
{
    const struct range_key *k = key;
    const uint64_t *start = elem;
    uint64_t size = k->sizes[start - k->starts];

    if (k->addr < *start) {
        return -1;
    }
    return k->addr - *start >= size;
}

/* The same with libc's bsearch() and a comparison callback. */
static double lookup_libc(const struct bench_ranges *g, unsigned passes,
                          uint64_t *sum)
{
    struct range_key key = {0, g->sizes, g->starts};
    uint64_t acc = 0;
    double t0 = now_s();

    for (unsigned p = 0; p < passes; p++) {
        for (size_t k = 0; k < NR_ADDRS; k++) {
            const uint64_t *hit;

            key.addr = g->addrs[k];
            hit = bsearch(&key, g->starts, g->n, sizeof(*g->starts),
                          cmp_range);
            if (hit) {
                acc += *(volatile uint64_t *)(g->hosts[hit - g->starts] +
                                              (key.addr - *hit));
            } else {
                acc += UINT64_MAX;
            }
        }
    }
    *sum = acc;
    return (now_s() - t0) / ((double)passes * NR_ADDRS) * 1e9;
}

static double lookup_api(gm_space *as, const struct bench_ranges *g,
                         unsigned passes, uint64_t *sum)
{
    uint64_t acc = 0, v;
    double t0 = now_s();

    for (unsigned p = 0; p < passes; p++) {
        for (size_t k = 0; k < NR_ADDRS; k++) {
            gm_space_load(as, g->addrs[k], 8, GM_ENDIAN_LITTLE, &v,
                          GM_ATTRS_DEFAULT);
            acc += v;
        }
    }
    *sum = acc;
    return (now_s() - t0) / ((double)passes * NR_ADDRS) * 1e9;
}

/* Results of (1) for one number of ranges. */
struct lookup_result {
    double api_ns, bsearch_ns, libc_ns;
};

static int bench_lookup(const struct bench_opts *o, size_t n,
                        struct lookup_result *res)
{
    double api[MAX_REPEATS], bs[MAX_REPEATS], lc[MAX_REPEATS];
    struct bench_ranges g;
    struct bench_space s;
    uint64_t s_api, s_bs, s_lc, expect = 0;
    int rc = -1;

    if (space_new(&s)) {
        return -1;
    }
    if (ranges_build(&s, &g, n)) {
        space_free(&s);
        return -1;
    }
    for (size_t k = 0; k < NR_ADDRS; k++) {
        expect += g.addrs[k];
    }
    expect *= o->passes;
    /* Warm up: first touches, RCU reader registration. */
    lookup_api(s.as, &g, 1, &s_api);
    lookup_bsearch(&g, 1, &s_bs);
    for (int r = 0; r < o->repeats; r++) {
        bs[r] = lookup_bsearch(&g, o->passes, &s_bs);
        api[r] = lookup_api(s.as, &g, o->passes, &s_api);
        lc[r] = lookup_libc(&g, o->passes, &s_lc);
        if (s_api != expect || s_bs != expect || s_lc != expect) {
            fprintf(stderr, "bench-access: %zu ranges: loads returned the "
                    "wrong values (%" PRIx64 "/%" PRIx64 "/%" PRIx64
                    ", expected %" PRIx64 ")\n", n, s_api, s_bs, s_lc,
                    expect);
            goto out;
        }
    }
    res->api_ns = median(api, o->repeats);
    res->bsearch_ns = median(bs, o->repeats);
    res->libc_ns = median(lc, o->repeats);
    rc = 0;
out:
    space_free(&s);
    ranges_free(&g);
    return rc;
}

/*
 * (2) One hot address.
 */

/* What the figures of (2) are, in the order they are measured. */
enum hot_kind {
    HOT_DIRECT_LOAD,
    HOT_CALL_LOAD,
    HOT_API_LOAD,
    HOT_CACHE_LOAD,
    HOT_DIRECT_STORE,
    HOT_API_STORE,
    HOT_CACHE_STORE,
    /* Dependent loads: each address comes from the value loaded before. */
    HOT_DIRECT_CHAIN,
    HOT_API_CHAIN,
    HOT_CACHE_CHAIN,
    HOT_NR
};

/* A load that cannot be inlined: the floor of any out-of-line API. */
__attribute__((noinline)) static uint64_t call_load(const uint64_t *p)
{
    clobber(p);
    return *(const volatile uint64_t *)p;
}

/* Everything (2) touches. */
struct hot_ctx {
    gm_space *as;
    uint64_t *p;            /* host address of HOT_ADDR */
    struct gm_cache rcache; /* read cache over HOT_ADDR's page */
    struct gm_cache wcache; /* write cache over the same page */
    uint64_t off;           /* HOT_ADDR's offset in the caches' window */
    uint64_t page;          /* the window's guest address */
};

/*
 * The measured loops, one function each, each starting a 64-byte line, so
 * that their placement does not move with every change elsewhere in this
 * file. A loop of a few instructions runs at one iteration per cycle when
 * it sits in one 64-byte line and at half that when it straddles two: laid
 * out by hand, gm_cache_load()'s loop (load the bound, compare, load the
 * pointer, load and add) runs at 1.0x the direct loop in one line and 2.0x
 * across two. Its slow path is declared cold (GM_COLD), so GCC moves that
 * call out of the loop and keeps the loop in one line, as it would in a
 * device model's own loop.
 */
#define HOT_LOOP __attribute__((noinline, aligned(64)))

static HOT_LOOP uint64_t loop_direct_load(const volatile uint64_t *vp,
                                          long iters)
{
    uint64_t acc = 0;

    for (long i = 0; i < iters; i++) {
        acc += *vp;
    }
    return acc;
}

static HOT_LOOP uint64_t loop_call_load(const uint64_t *p, long iters)
{
    uint64_t acc = 0;

    for (long i = 0; i < iters; i++) {
        acc += call_load(p);
    }
    return acc;
}

static HOT_LOOP uint64_t loop_api_load(gm_space *as, long iters)
{
    uint64_t acc = 0, v;

    for (long i = 0; i < iters; i++) {
        gm_space_load(as, HOT_ADDR, 8, GM_ENDIAN_LITTLE, &v,
                      GM_ATTRS_DEFAULT);
        acc += v;
    }
    return acc;
}

static HOT_LOOP uint64_t loop_cache_load(struct gm_cache *c, uint64_t off,
                                         long iters)
{
    uint64_t acc = 0, v;

    for (long i = 0; i < iters; i++) {
        gm_cache_load(c, off, 8, GM_ENDIAN_LITTLE, &v);
        acc += v;
    }
    return acc;
}

static HOT_LOOP void loop_direct_store(volatile uint64_t *vp, long iters)
{
    for (long i = 0; i < iters; i++) {
        *vp = (uint64_t)i;
    }
}

static HOT_LOOP void loop_api_store(gm_space *as, long iters)
{
    for (long i = 0; i < iters; i++) {
        gm_space_store(as, HOT_ADDR, 8, GM_ENDIAN_LITTLE, (uint64_t)i,
                       GM_ATTRS_DEFAULT);
    }
}

static HOT_LOOP void loop_cache_store(struct gm_cache *c, uint64_t off,
                                      long iters)
{
    for (long i = 0; i < iters; i++) {
        gm_cache_store(c, off, 8, GM_ENDIAN_LITTLE, (uint64_t)i);
    }
}

static HOT_LOOP uint64_t loop_direct_chain(const volatile uint8_t *base,
                                           uint64_t o, long iters)
{
    for (long i = 0; i < iters; i++) {
#if defined(__x86_64__)
        /* One indexed load per step, as the cache's loop compiles to
         * (GCC would otherwise add, then load: a cycle more). */
        __asm__ volatile("movq (%1,%0), %0" : "+r"(o) : "r"(base) : "memory");
#else
        o = *(const volatile uint64_t *)(base + o);
#endif
    }
    return o;
}

static HOT_LOOP uint64_t loop_api_chain(gm_space *as, uint64_t page,
                                        uint64_t o, long iters)
{
    for (long i = 0; i < iters; i++) {
        gm_space_load(as, page + o, 8, GM_ENDIAN_LITTLE, &o,
                      GM_ATTRS_DEFAULT);
    }
    return o;
}

static HOT_LOOP uint64_t loop_cache_chain(struct gm_cache *c, uint64_t o,
                                          long iters)
{
    for (long i = 0; i < iters; i++) {
        gm_cache_load(c, o, 8, GM_ENDIAN_LITTLE, &o);
    }
    return o;
}

/* ns per access of one kind; *sum receives the sum of the values loaded. */
static double hot_run(struct hot_ctx *h, enum hot_kind kind, long iters,
                      uint64_t *sum)
{
    uint64_t acc = 0;
    double t0 = now_s();

    switch (kind) {
    case HOT_DIRECT_LOAD:
        acc = loop_direct_load(h->p, iters);
        break;
    case HOT_CALL_LOAD:
        acc = loop_call_load(h->p, iters);
        break;
    case HOT_API_LOAD:
        acc = loop_api_load(h->as, iters);
        break;
    case HOT_CACHE_LOAD:
        acc = loop_cache_load(&h->rcache, h->off, iters);
        break;
    case HOT_DIRECT_STORE:
        loop_direct_store(h->p, iters);
        break;
    case HOT_API_STORE:
        loop_api_store(h->as, iters);
        break;
    case HOT_CACHE_STORE:
        loop_cache_store(&h->wcache, h->off, iters);
        break;
    case HOT_DIRECT_CHAIN:
        acc = loop_direct_chain((const uint8_t *)h->p - h->off, h->off,
                                iters);
        break;
    case HOT_API_CHAIN:
        acc = loop_api_chain(h->as, h->page, h->off, iters);
        break;
    case HOT_CACHE_CHAIN:
        acc = loop_cache_chain(&h->rcache, h->off, iters);
        break;
    default:
        break;
    }
    *sum = acc;
    return (now_s() - t0) / (double)iters * 1e9;
}

static int bench_hot(const struct bench_opts *o, double *res)
{
    double t[HOT_NR][MAX_REPEATS];
    struct bench_space s;
    struct hot_ctx h;
    gm_region *ram;
    gm_error err;
    uint64_t sum, page = HOT_ADDR & ~(uint64_t)0xfff;
    int rc = -1;

    memset(&h, 0, sizeof(h));
    gm_error_clear(&err);
    if (space_new(&s)) {
        return -1;
    }
    ram = gm_region_new_ram(s.sys, "ram", 0x10000, &err);
    if (ram) {
        h.p = (uint64_t *)((uint8_t *)gm_region_ram_ptr(ram) +
                           (HOT_ADDR - RANGE_BASE));
    }
    if (place(&s, ram, RANGE_BASE, "gm_region_new_ram", &err)) {
        space_free(&s);
        return -1;
    }
    h.as = s.as;
    h.off = HOT_ADDR - page;
    h.page = page;
    rc = gm_cache_init(&h.rcache, s.as, page, 0x1000, false, &err);
    if (rc) {
        fail("gm_cache_init", rc, &err);
        space_free(&s);
        return -1;
    }
    rc = gm_cache_init(&h.wcache, s.as, page, 0x1000, true, &err);
    if (rc) {
        fail("gm_cache_init", rc, &err);
        gm_cache_destroy(&h.rcache);
        space_free(&s);
        return -1;
    }
    rc = -1;
    *h.p = 0x1122334455667788ull;
    for (int k = 0; k < HOT_NR; k++) {
        if (k == HOT_DIRECT_CHAIN) {
            *h.p = h.off;
        }
        hot_run(&h, (enum hot_kind)k, 1000, &sum);
    }
    for (int r = 0; r < o->repeats; r++) {
        uint64_t sums[HOT_NR];

        *h.p = 0x1122334455667788ull;
        for (int k = 0; k < HOT_NR; k++) {
            if (k == HOT_DIRECT_STORE) {
                /* The loads are done: check them before the stores. */
                for (int j = 1; j < HOT_DIRECT_STORE; j++) {
                    if (sums[j] != sums[HOT_DIRECT_LOAD]) {
                        fprintf(stderr, "bench-access: hot load %d read "
                                "the wrong value\n", j);
                        goto out;
                    }
                }
            }
            if (k == HOT_DIRECT_CHAIN) {
                *h.p = h.off; /* the hot word points at itself */
            }
            t[k][r] = hot_run(&h, (enum hot_kind)k, o->hot_iters, &sums[k]);
            if (k >= HOT_DIRECT_STORE && k < HOT_DIRECT_CHAIN &&
                *h.p != (uint64_t)(o->hot_iters - 1)) {
                fprintf(stderr, "bench-access: hot store %d did not land\n",
                        k);
                goto out;
            }
            if (k >= HOT_DIRECT_CHAIN && sums[k] != h.off) {
                fprintf(stderr, "bench-access: dependent load %d read the "
                        "wrong value\n", k);
                goto out;
            }
        }
    }
    for (int k = 0; k < HOT_NR; k++) {
        res[k] = median(t[k], o->repeats);
    }
    rc = 0;
out:
    gm_cache_destroy(&h.rcache);
    gm_cache_destroy(&h.wcache);
    space_free(&s);
    return rc;
}

/*
 * (3) Bulk copies.
 */

/* Results of (3) for one size: seconds per copy. */
struct bulk_result {
    double read_s, write_s, memcpy_in_s, memcpy_out_s;
};

/*
 * bulk_one() - seconds of one copy of @len bytes: @kind 0 is memcpy() from
 * guest RAM, 1 gm_space_read(), 2 memcpy() into guest RAM, 3 gm_space_write().
 */
static double bulk_one(gm_space *as, uint8_t *ram, uint8_t *buf, size_t len,
                       int kind)
{
    double t0 = now_s();

    switch (kind) {
    case 0:
        memcpy(buf, ram, len);
        break;
    case 1:
        gm_space_read(as, BULK_BASE, buf, len, GM_ATTRS_DEFAULT);
        break;
    case 2:
        memcpy(ram, buf, len);
        break;
    default:
        gm_space_write(as, BULK_BASE, buf, len, GM_ATTRS_DEFAULT);
        break;
    }
    clobber(buf);
    clobber(ram);
    return now_s() - t0;
}

static int bench_bulk(const struct bench_opts *o, const size_t *sizes,
                      int nsizes, struct bulk_result *res)
{
    double t[4][MAX_REPEATS];
    struct bench_space s;
    gm_region *ram;
    gm_error err;
    uint8_t *host = NULL, *buf;

    gm_error_clear(&err);
    buf = malloc(BULK_MAX);
    if (!buf) {
        fprintf(stderr, "bench-access: out of memory\n");
        return -1;
    }
    if (space_new(&s)) {
        free(buf);
        return -1;
    }
    ram = gm_region_new_ram(s.sys, "bulk", BULK_MAX, &err);
    if (ram) {
        host = gm_region_ram_ptr(ram);
    }
    if (place(&s, ram, BULK_BASE, "gm_region_new_ram", &err)) {
        space_free(&s);
        free(buf);
        return -1;
    }
    /* Fault everything in before timing. */
    memset(host, 0x5a, BULK_MAX);
    memset(buf, 0xa5, BULK_MAX);
    for (int z = 0; z < nsizes; z++) {
        size_t len = sizes[z];
        unsigned iters = (unsigned)(((size_t)o->bulk_mib << 20) / len);

        if (iters < 1) {
            iters = 1;
        }
        for (int k = 0; k < 4; k++) {
            bulk_one(s.as, host, buf, len, k);
        }
        /*
         * The four kinds take turns copy by copy, so that a slower moment
         * of a shared machine falls on all of them alike.
         */
        for (int r = 0; r < o->repeats; r++) {
            double sum[4] = {0, 0, 0, 0};

            for (unsigned i = 0; i < iters; i++) {
                for (int k = 0; k < 4; k++) {
                    sum[k] += bulk_one(s.as, host, buf, len, k);
                }
            }
            for (int k = 0; k < 4; k++) {
                t[k][r] = sum[k] / iters;
            }
        }
        res[z].memcpy_in_s = median(t[0], o->repeats);
        res[z].read_s = median(t[1], o->repeats);
        res[z].memcpy_out_s = median(t[2], o->repeats);
        res[z].write_s = median(t[3], o->repeats);
    }
    /* The last copy was a write of buf: guest RAM must hold it. */
    if (memcmp(host, buf, sizes[nsizes - 1])) {
        fprintf(stderr, "bench-access: bulk write did not land\n");
        space_free(&s);
        free(buf);
        return -1;
    }
    space_free(&s);
    free(buf);
    return 0;
}

/*
 * (4) MMIO dispatch.
 */


static const struct gm_region_ops const_ops = {
    .read = bench_dev_read,
    .write = bench_dev_write,
    .endianness = GM_ENDIAN_LITTLE,
};

/* Results of (4), ns per access. */
struct mmio_result {
    double api_load, api_store, direct_read, direct_write;
};

static double mmio_run(gm_space *as, void *opaque, long iters, int kind,
                       uint64_t *sum)
{
    uint64_t (*volatile rd)(void *, uint64_t, unsigned) = bench_dev_read;
    void (*volatile wr)(void *, uint64_t, uint64_t, unsigned) = bench_dev_write;
    uint64_t acc = 0, v;
    double t0 = now_s();

    switch (kind) {
    case 0:
        for (long i = 0; i < iters; i++) {
            acc += rd(opaque, 0x10, 4);
        }
        break;
    case 1:
        for (long i = 0; i < iters; i++) {
            gm_space_load(as, MMIO_BASE + 0x10, 4, GM_ENDIAN_LITTLE, &v,
                          GM_ATTRS_DEFAULT);
            acc += v;
        }
        break;
    case 2:
        for (long i = 0; i < iters; i++) {
            wr(opaque, 0x10, (uint64_t)i, 4);
        }
        break;
    default:
        for (long i = 0; i < iters; i++) {
            gm_space_store(as, MMIO_BASE + 0x10, 4, GM_ENDIAN_LITTLE,
                           (uint64_t)i, GM_ATTRS_DEFAULT);
        }
        break;
    }
    *sum = acc;
    return (now_s() - t0) / (double)iters * 1e9;
}

static int bench_mmio(const struct bench_opts *o, struct mmio_result *res)
{
    double t[4][MAX_REPEATS];
    struct bench_space s;
    gm_region *io;
    gm_error err;
    uint64_t sums[4];
    int dummy = 0;

    gm_error_clear(&err);
    if (space_new(&s)) {
        return -1;
    }
    io = gm_region_new_io(s.sys, "dev", 0x1000, &const_ops, &dummy, &err);
    if (place(&s, io, MMIO_BASE, "gm_region_new_io", &err)) {
        space_free(&s);
        return -1;
    }
    for (int k = 0; k < 4; k++) {
        mmio_run(s.as, &dummy, 1000, k, &sums[k]);
    }
    for (int r = 0; r < o->repeats; r++) {
        for (int k = 0; k < 4; k++) {
            t[k][r] = mmio_run(s.as, &dummy, o->mmio_iters, k, &sums[k]);
        }
        if (sums[0] != sums[1] ||
            sums[0] != (uint64_t)MMIO_VALUE * (uint64_t)o->mmio_iters) {
            fprintf(stderr, "bench-access: MMIO load read the wrong "
                    "value\n");
            space_free(&s);
            return -1;
        }
    }
    res->direct_read = median(t[0], o->repeats);
    res->api_load = median(t[1], o->repeats);
    res->direct_write = median(t[2], o->repeats);
    res->api_store = median(t[3], o->repeats);
    space_free(&s);
    return 0;
}

/*
 * Output.
 */

static void header(const char *title)
{
    printf("\n%s\n\n", title);
    printf("| %-44s | %10s | %10s | %8s | %-14s | %-4s |\n", "measurement",
           "guestmem", "baseline", "ratio", "target", "");
    printf("|%s|%s|%s|%s|%s|%s|\n",
           "----------------------------------------------",
           "-----------:", "-----------:", "---------:", "----------------",
           "------");
}

/* ok: 1 met, 0 missed, -1 no target. */
static void row(const char *what, const char *ours, const char *base,
                const char *ratio, const char *target, int ok)
{
    printf("| %-44s | %10s | %10s | %8s | %-14s | %-4s |\n", what, ours, base,
           ratio, target,
           ok < 0 ? ""
           : ok   ? "ok"
                  : "MISS");
}

static void row_ns(const char *what, double ours, double base,
                   const char *target, int ok)
{
    char a[32], b[32], c[32];

    snprintf(a, sizeof(a), "%.2f ns", ours);
    if (base > 0) {
        snprintf(b, sizeof(b), "%.2f ns", base);
        snprintf(c, sizeof(c), "%.2fx", ours / base);
    } else {
        b[0] = c[0] = '\0';
    }
    row(what, a, b, c, target, ok);
}

static int parse_args(int argc, char **argv, struct bench_opts *o)
{
    int rc;

    o->repeats = 7;
    o->passes = 16;
    o->hot_iters = 1L << 24;
    o->mmio_iters = 1L << 22;
    o->bulk_mib = 256;
    o->strict = 0;
    rc = bench_parse(argc, argv, MAX_REPEATS, &o->repeats, &o->strict);
    if (rc == 1) {
        o->passes = 1;
        o->hot_iters = 1L << 14;
        o->mmio_iters = 1L << 12;
        o->bulk_mib = 1;
    }
    return rc < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
    static const size_t nranges[] = {1, 100, 10000};
    static const char *const nlabels[] = {"1", "100", "10,000"};
    static const size_t bulk_sizes[] = {1u << 20, BULK_MAX};
    static const char *const bulk_labels[] = {"1 MiB", "64 MiB"};
    struct lookup_result lk[3];
    struct bulk_result bk[2];
    struct mmio_result mm;
    double hot[HOT_NR];
    struct bench_opts o;
    char what[64], a[32], b[32], c[32];
    int missed = 0;
    int ok;

    if (parse_args(argc, argv, &o)) {
        return 2;
    }
    for (int i = 0; i < 3; i++) {
        if (bench_lookup(&o, nranges[i], &lk[i])) {
            return 1;
        }
    }
    if (bench_hot(&o, hot) || bench_bulk(&o, bulk_sizes, 2, bk) ||
        bench_mmio(&o, &mm)) {
        return 1;
    }

    printf("guestmem %s access benchmark: median of %d run%s\n",
           gm_version_string(), o.repeats, o.repeats == 1 ? "" : "s");

    header("(1) lookup: 8-byte load at a random address; baseline: binary "
           "search + host load");
    for (int i = 0; i < 3; i++) {
        snprintf(what, sizeof(what), "%s range%s: gm_space_load", nlabels[i],
                 nranges[i] == 1 ? "" : "s");
        if (nranges[i] == 10000) {
            ok = lk[i].api_ns <= lk[i].bsearch_ns * TARGET_LOOKUP_RATIO;
            missed |= !ok;
            row_ns(what, lk[i].api_ns, lk[i].bsearch_ns, "<= 1.00x", ok);
        } else {
            row_ns(what, lk[i].api_ns, lk[i].bsearch_ns, "", -1);
        }
        snprintf(what, sizeof(what), "    libc bsearch() + load (information)");
        row_ns(what, lk[i].libc_ns, lk[i].bsearch_ns, "", -1);
    }

    header("(2) one hot 8-byte RAM address; baseline: volatile pointer "
           "access");
    /* Repeated accesses to one place are what access caches are for (as
     * QEMU's MemoryRegionCache): the target is judged on the cache. */
    row_ns("load: gm_space_load (no cache; information)", hot[HOT_API_LOAD],
           hot[HOT_DIRECT_LOAD], "", -1);
    ok = hot[HOT_CACHE_LOAD] <= hot[HOT_DIRECT_LOAD] * TARGET_HOT_RATIO;
    missed |= !ok;
    row_ns("load: gm_cache_load", hot[HOT_CACHE_LOAD], hot[HOT_DIRECT_LOAD],
           "<= 1.50x", ok);
    row_ns("    load through a noinline function", hot[HOT_CALL_LOAD],
           hot[HOT_DIRECT_LOAD], "", -1);
    row_ns("store: gm_space_store", hot[HOT_API_STORE], hot[HOT_DIRECT_STORE],
           "", -1);
    row_ns("store: gm_cache_store", hot[HOT_CACHE_STORE],
           hot[HOT_DIRECT_STORE], "", -1);
    ok = hot[HOT_CACHE_CHAIN] <= hot[HOT_DIRECT_CHAIN] * TARGET_HOT_RATIO;
    missed |= !ok;
    row_ns("dependent load: gm_cache_load", hot[HOT_CACHE_CHAIN],
           hot[HOT_DIRECT_CHAIN], "<= 1.50x", ok);
    row_ns("dependent load: gm_space_load", hot[HOT_API_CHAIN],
           hot[HOT_DIRECT_CHAIN], "", -1);

    header("(3) bulk copy; baseline: memcpy() between the same buffers; "
           "ratio: throughput");
    for (int z = 0; z < 2; z++) {
        double mib = (double)bulk_sizes[z] / (1 << 20);

        snprintf(what, sizeof(what), "gm_space_read %s (MiB/s)",
                 bulk_labels[z]);
        snprintf(a, sizeof(a), "%.0f", mib / bk[z].read_s);
        snprintf(b, sizeof(b), "%.0f", mib / bk[z].memcpy_in_s);
        snprintf(c, sizeof(c), "%.3fx", bk[z].memcpy_in_s / bk[z].read_s);
        ok = bk[z].memcpy_in_s / bk[z].read_s >= TARGET_BULK_RATIO;
        missed |= !ok;
        row(what, a, b, c, ">= 0.95x", ok);
        snprintf(what, sizeof(what), "gm_space_write %s (MiB/s)",
                 bulk_labels[z]);
        snprintf(a, sizeof(a), "%.0f", mib / bk[z].write_s);
        snprintf(b, sizeof(b), "%.0f", mib / bk[z].memcpy_out_s);
        snprintf(c, sizeof(c), "%.3fx", bk[z].memcpy_out_s / bk[z].write_s);
        ok = bk[z].memcpy_out_s / bk[z].write_s >= TARGET_BULK_RATIO;
        missed |= !ok;
        row(what, a, b, c, ">= 0.95x", ok);
    }

    header("(4) MMIO, 4 bytes, constant callback; baseline: direct call "
           "through a pointer");
    snprintf(a, sizeof(a), "%.2f ns", mm.api_load);
    snprintf(b, sizeof(b), "%.2f ns", mm.direct_read);
    snprintf(c, sizeof(c), "+%.2f ns", mm.api_load - mm.direct_read);
    ok = mm.api_load - mm.direct_read <= TARGET_MMIO_NS;
    missed |= !ok;
    row("load: gm_space_load", a, b, c, "<= +10 ns", ok);
    snprintf(a, sizeof(a), "%.2f ns", mm.api_store);
    snprintf(b, sizeof(b), "%.2f ns", mm.direct_write);
    snprintf(c, sizeof(c), "+%.2f ns", mm.api_store - mm.direct_write);
    row("store: gm_space_store (information)", a, b, c, "", -1);

    if (missed) {
        printf("\nsome targets were missed%s\n",
               o.strict ? "" : " (not fatal without --strict)");
    }
    return missed && o.strict ? 1 : 0;
}
