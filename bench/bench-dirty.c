/* SPDX-License-Identifier: MIT */
/*
 * bench/bench-dirty.c - what RAM blocks and dirty memory cost.
 *
 * Every figure is measured next to a baseline in the same run: the plain C
 * a program without guestmem would run for the same result, or the same
 * operation with logging off. Absolute times on a shared machine are
 * noise; the ratios are what to compare.
 *
 *   (1) snapshot-and-clear: the MIGRATION bitmap of a 64 GiB guest (one
 *       MAP_NORESERVE block, never touched: it costs address space only)
 *       with 1 % of its pages dirty (distinct random pages, fixed seed),
 *       set with gm_dirty_merge() before each timed call.
 *       gm_dirty_snapshot_and_clear() is timed, then walking the result
 *       with gm_dirty_snapshot_next(), apart. The baseline scans a plain
 *       array of the same words (the same bits): the popcount of each word
 *       and the index of every set bit; a popcount alone is shown for
 *       information, and so is the first call (its snapshot's memory fresh
 *       from the kernel: page faults);
 *   (2) dirty marking: 8-byte gm_cache_store()s (inline) into RAM with
 *       MIGRATION logging on (gm_region_set_log()) next to the same loop
 *       with logging off. Two cases: the bit is already set (stores over a
 *       256 KiB window again and again: the common case), and the bit is
 *       clear (one store per page over 64 MiB, the bits cleared before
 *       each pass: the first write to a page after a snapshot). For
 *       information: the bit-clear case over 4 MiB whose pages are in the
 *       TLB and the caches; its floor, a plain store then an atomic OR
 *       into a plain bitmap; gm_space_store() both ways;
 *   (3) allocating RAM blocks one at a time: the time of N
 *       gm_region_new_ram_opts() of 4 KiB over the caller's memory
 *       (GM_RAM_PTR: no mmap) for N = 1,000, 10,000 and 20,000, and the
 *       growth t(10,000) / t(1,000) (10 is linear; QEMU's find_ram_offset()
 *       is quadratic). For information: MAP_NORESERVE anonymous blocks (an
 *       mmap each), and regions of a memoryless system (no block at all:
 *       what the region alone costs);
 *   (4) snapshot reset: a 1 GiB guest (anonymous memory, every page
 *       written) after 0.1 %, 1 % and 10 % of its pages were written with
 *       gm_space_store() (distinct random pages, fixed seed):
 *       gm_ram_snapshot_restore() next to the physical limit, a scan of a
 *       plain 1 GiB-sized bitmap of the same pages copying each dirty page
 *       back from a saved copy. Cold: the caches evicted before each (as
 *       after a guest ran; the pages it wrote are warm); warm, for
 *       information: each operation timed right after the same one. A
 *       memcpy() of the whole 1 GiB is shown for scale;
 *   (5) starting dirty logging on a 128 GiB guest (four MAP_NORESERVE
 *       blocks of 32 GiB in one space): gm_system_log_global_start() with
 *       the MIGRATION bits clear before (logging that starts marks every
 *       page dirty: dirty.h), and gm_region_set_log() for every client on
 *       every block in one transaction (all bits clear before); the same
 *       with the bits already set, and without the transaction, for
 *       information. Baseline: memset() of a plain bitmap of 128 GiB's
 *       pages to all-ones, once per client marked.
 *
 * Each figure is the median of several repetitions (the minimum is shown
 * next to it); within a repetition the API and its baseline run back to
 * back, taking turns at going first where the order could matter.
 * Operations are timed on the thread's CPU clock, so that the time other
 * processes of a shared machine take is not counted (--wall: the wall
 * clock); the passes of (2), a fraction of a millisecond each, on the
 * wall clock (the CPU clock is a system call of about 1.6 us here), with
 * the median of the passes, which a preemption does not move. Results
 * are checked, not assumed: snapshot counts and walks, the dirty counts
 * after marking and logging, the bytes after a restore; a wrong answer
 * stops the program.
 *
 * Only the public API is used. Targets are printed next to the figures;
 * with --strict the program exits 1 when one is missed. The last line
 * counts them as the tests do: "N passed, N failed (targets)". --quick runs small
 * sizes once as a smoke test (make check), whose timings mean nothing.
 * --seed N changes the random pages (the seed is printed); --only 14 runs
 * parts (1) and (4) only.
 */
#include <guestmem/guestmem.h>

#include <inttypes.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_NAME "bench-dirty"
#include "bench-util.h"

#define PAGE 4096u
#define GIB ((uint64_t)1 << 30)
#define MIB ((uint64_t)1 << 20)
#define MAX_REPEATS 15
#define DEFAULT_SEED 0x5eed2026ull

/* Targets. */
#define TARGET_SNAP_S 1e-3     /* (1) snapshot-and-clear, 64 GiB, 1 % */
#define TARGET_SNAP_RATIO 2.0  /* ... over the plain scan */
#define TARGET_MARK_NS 2.0     /* (2) extra ns per logged store */
#define TARGET_ALLOC_GROWTH 15.0 /* (3) t(10,000) / t(1,000) */
#define TARGET_RESTORE_RATIO 1.5 /* (4) over the dirty-page copy + scan */
#define TARGET_LOGSTART_S 10e-3  /* (5) */

#define MIGRATION_BIT (1u << GM_DIRTY_MIGRATION)

struct bench_opts {
    int repeats;
    int strict;
    bool quick;
    uint64_t seed;
    uint64_t snap_bytes;    /* (1) guest size */
    uint64_t mark_bytes;    /* (2) RAM for the bit-clear case */
    uint64_t mark_hot;      /* (2) window of the bit-set case */
    long mark_iters;        /* (2) stores per bit-set measurement */
    int mark_passes;        /* (2) passes per bit-clear measurement */
    unsigned alloc_n[3];    /* (3) numbers of blocks */
    uint64_t restore_bytes; /* (4) guest size */
    uint64_t flush_bytes;   /* (4) read to evict the caches */
    uint64_t log_block;     /* (5) bytes per block (four blocks) */
    unsigned only;          /* bit n - 1: run part (n) */
};

/*
 * The clock: the thread's CPU time (user and system: page faults and
 * system calls count), so that the time other processes of a shared
 * machine take from this one is not counted; --wall: CLOCK_MONOTONIC.
 */
static bool use_wall;

static double tnow(void)
{
    struct timespec ts;

    clock_gettime(use_wall ? CLOCK_MONOTONIC : CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/*
 * Output.
 */

static int missed;
static int n_met, n_missed; /* targets judged */

static void header(const char *title)
{
    printf("\n%s\n\n", title);
    printf("| %-56s | %21s | %21s | %9s | %-12s | %-4s |\n", "measurement",
           "guestmem (min)", "baseline (min)", "ratio", "target", "");
    printf("|%s|%s|%s|%s|%s|%s|\n",
           "----------------------------------------------------------",
           "----------------------:", "----------------------:",
           "----------:", "--------------", "------");
}

/* ok: 1 met, 0 missed, -1 no target. */
static void row(const char *what, const char *ours, const char *base,
                const char *ratio, const char *target, int ok)
{
    printf("| %-56s | %21s | %21s | %9s | %-12s | %-4s |\n", what, ours, base,
           ratio, target,
           ok < 0 ? ""
           : ok   ? "ok"
                  : "MISS");
    if (ok == 0) {
        missed = 1;
        n_missed++;
    } else if (ok > 0) {
        n_met++;
    }
}

/* A time in a readable unit. */
static void fmt_time(char *buf, size_t n, double s)
{
    if (s < 1e-6) {
        snprintf(buf, n, "%.2f ns", s * 1e9);
    } else if (s < 1e-3) {
        snprintf(buf, n, "%.1f us", s * 1e6);
    } else if (s < 1) {
        snprintf(buf, n, "%.2f ms", s * 1e3);
    } else {
        snprintf(buf, n, "%.2f s", s);
    }
}

/* "median (min)" */
static void fmt_med(char *buf, size_t n, double med, double min)
{
    char a[20], b[20];

    fmt_time(a, sizeof(a), med);
    fmt_time(b, sizeof(b), min);
    snprintf(buf, n, "%s (%s)", a, b);
}

/* Median and minimum of v[0..n-1] (reorders v). */
struct figure {
    double med, min;
};

static struct figure stat_of(double *v, int n)
{
    struct figure s;

    s.med = median(v, n);
    s.min = v[0]; /* sorted by median() */
    return s;
}

/* A row of two timed figures and their ratio; target: ratio <= lim. */
static void row_ratio(const char *what, struct figure ours, struct figure base,
                      const char *target, double lim, double abs_lim)
{
    char a[48], b[48], c[24];
    int ok = -1;

    fmt_med(a, sizeof(a), ours.med, ours.min);
    if (base.med > 0) {
        fmt_med(b, sizeof(b), base.med, base.min);
        snprintf(c, sizeof(c), "%.2fx", ours.med / base.med);
    } else {
        b[0] = c[0] = '\0';
    }
    if (lim > 0) {
        ok = ours.med <= base.med * lim;
    }
    if (abs_lim > 0) {
        ok = (ok != 0) && ours.med <= abs_lim;
    }
    row(what, a, b, c, target, ok);
}

/*
 * Common helpers.
 */

static gm_region *ram_new(gm_system *sys, const char *name, uint64_t size,
                          unsigned flags)
{
    struct gm_ram_opts ro;
    gm_error err;
    gm_region *r;

    memset(&ro, 0, sizeof(ro));
    ro.flags = flags;
    gm_error_clear(&err);
    r = gm_region_new_ram_opts(sys, name, GM_REGION_RAM, size, &ro, NULL,
                               NULL, &err);
    if (!r) {
        fail("gm_region_new_ram_opts", err.code, &err);
    }
    return r;
}

/* Add @r at @addr in @s's root (the caller keeps its reference). */
static int place(struct bench_space *s, gm_region *r, uint64_t addr)
{
    gm_error err;
    int rc;

    gm_error_clear(&err);
    rc = gm_region_add_subregion(s->root, addr, r, &err);
    if (rc) {
        fail("gm_region_add_subregion", rc, &err);
        return -1;
    }
    return 0;
}

static int check(bool cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, BENCH_NAME ": wrong result: %s\n", what);
    }
    return cond ? 0 : -1;
}

/*
 * k distinct random pages of [0, npages): their bits in @bm (npages / 64
 * words, zeroed here) and, if @list, the pages in the order drawn.
 */
static void pick_pages(uint64_t *state, uint64_t npages, uint64_t k,
                       uint64_t *bm, uint64_t *list)
{
    memset(bm, 0, (npages + 63) / 64 * sizeof(*bm));
    for (uint64_t i = 0; i < k;) {
        uint64_t p = next_rand(state) % npages;

        if (bm[p >> 6] & (1ull << (p & 63))) {
            continue;
        }
        bm[p >> 6] |= 1ull << (p & 63);
        if (list) {
            list[i] = p;
        }
        i++;
    }
}

/*
 * (1) Snapshot-and-clear.
 */

/*
 * The baselines' popcount: without -mpopcnt, GCC makes
 * __builtin_popcountll() on x86-64 a call to libgcc's table lookup, which
 * would slow the baselines down; this is a few instructions inline.
 */
static inline uint64_t popcount64(uint64_t v)
{
#if defined(__POPCNT__) || !defined(__x86_64__)
    return (uint64_t)__builtin_popcountll(v);
#else
    v -= (v >> 1) & 0x5555555555555555ull;
    v = (v & 0x3333333333333333ull) + ((v >> 2) & 0x3333333333333333ull);
    v = (v + (v >> 4)) & 0x0f0f0f0f0f0f0f0full;
    return (v * 0x0101010101010101ull) >> 56;
#endif
}

struct snap_result {
    struct figure snap, walk, scan, popcnt, floor;
    double first; /* the first call: its memory fresh from the kernel */
    uint64_t dirty, words;
};

/* The baseline: count the set bits and find each of them. */
static __attribute__((noinline)) uint64_t
scan_find(const uint64_t *bm, uint64_t nwords, uint64_t *count)
{
    uint64_t sum = 0, cnt = 0;

    for (uint64_t w = 0; w < nwords; w++) {
        uint64_t v = bm[w];

        cnt += popcount64(v);
        while (v) {
            sum += w * 64 + (uint64_t)__builtin_ctzll(v);
            v &= v - 1;
        }
    }
    *count = cnt;
    return sum;
}

static __attribute__((noinline)) uint64_t scan_popcount(const uint64_t *bm,
                                                        uint64_t nwords)
{
    uint64_t cnt = 0;

    for (uint64_t w = 0; w < nwords; w++) {
        cnt += popcount64(bm[w]);
    }
    return cnt;
}

/*
 * The floor of any take that no concurrent set can lose a bit to: the
 * scan, and one atomic exchange per word with a bit set (into out).
 */
static __attribute__((noinline)) uint64_t
take_floor(uint64_t *bm, uint64_t nwords, uint64_t *out)
{
    uint64_t cnt = 0;

    for (uint64_t w = 0; w < nwords; w++) {
        uint64_t v = 0;

        if (__atomic_load_n(&bm[w], __ATOMIC_RELAXED)) {
            v = __atomic_exchange_n(&bm[w], 0, __ATOMIC_SEQ_CST);
            cnt += popcount64(v);
        }
        out[w] = v;
    }
    return cnt;
}

static int bench_snapshot(const struct bench_opts *o, struct snap_result *res)
{
    double ts[MAX_REPEATS], tw[MAX_REPEATS], tf[MAX_REPEATS],
        tp[MAX_REPEATS], tx[MAX_REPEATS];
    uint64_t npages = o->snap_bytes / PAGE, nwords = npages / 64;
    uint64_t k = npages / 100, state = o->seed, expect_sum = 0, cnt;
    struct bench_space s;
    gm_region *ram = NULL;
    uint64_t *bm, *plain, *out;
    uint64_t ra;
    gm_error err;
    int rc = -1;

    gm_error_clear(&err);
    bm = malloc(nwords * sizeof(*bm));
    plain = malloc(nwords * sizeof(*plain));
    out = malloc(nwords * sizeof(*out));
    if (!bm || !plain || !out) {
        fprintf(stderr, BENCH_NAME ": out of memory\n");
        free(bm);
        free(plain);
        free(out);
        return -1;
    }
    pick_pages(&state, npages, k, bm, NULL);
    expect_sum = scan_find(bm, nwords, &cnt);
    if (space_new(&s)) {
        free(bm);
        return -1;
    }
    ram = ram_new(s.sys, "ram", o->snap_bytes, GM_RAM_NORESERVE);
    if (!ram || place(&s, ram, 0)) {
        goto out;
    }
    ra = gm_region_ram_addr(ram);
    /* A new block starts dirty: start from nothing. */
    if (gm_dirty_clear(s.sys, ra, o->snap_bytes, GM_DIRTY_MIGRATION, &err)) {
        fail("gm_dirty_clear", err.code, &err);
        goto out;
    }
    for (int r = -1; r < o->repeats; r++) {
        gm_dirty_snapshot *snap;
        uint64_t n = 0, sum = 0, a, c2;
        double t0, t1, t2;

        if (gm_dirty_merge(s.sys, ra, npages, bm, MIGRATION_BIT, &err)) {
            fail("gm_dirty_merge", err.code, &err);
            goto out;
        }
        t0 = tnow();
        snap = gm_dirty_snapshot_and_clear(s.sys, ra, o->snap_bytes,
                                           GM_DIRTY_MIGRATION, &err);
        t1 = tnow();
        if (!snap) {
            fail("gm_dirty_snapshot_and_clear", err.code, &err);
            goto out;
        }
        for (a = gm_dirty_snapshot_next(snap, ra); a != GM_RAM_ADDR_INVALID;
             a = gm_dirty_snapshot_next(snap, a + PAGE)) {
            n++;
            sum += (a - ra) / PAGE;
        }
        t2 = tnow();
        c2 = gm_dirty_snapshot_count(snap);
        gm_dirty_snapshot_free(snap);
        if (check(n == k && c2 == k && sum == expect_sum,
                  "(1) snapshot: pages found") ||
            check(gm_dirty_count(s.sys, ra, o->snap_bytes,
                                 GM_DIRTY_MIGRATION) == 0,
                  "(1) bits left after the snapshot")) {
            goto out;
        }
        if (r >= 0) {
            ts[r] = t1 - t0;
            tw[r] = t2 - t1;
        } else {
            res->first = t1 - t0;
        }
        t0 = tnow();
        sum = scan_find(bm, nwords, &c2);
        t1 = tnow();
        n = scan_popcount(bm, nwords);
        t2 = tnow();
        if (check(sum == expect_sum && c2 == k && n == k,
                  "(1) baseline scan")) {
            goto out;
        }
        if (r >= 0) {
            tf[r] = t1 - t0;
            tp[r] = t2 - t1;
        }
        memcpy(plain, bm, nwords * sizeof(*bm));
        memset(out, 0, nwords * sizeof(*out));
        t0 = tnow();
        n = take_floor(plain, nwords, out);
        t1 = tnow();
        if (check(n == k && !memcmp(out, bm, nwords * sizeof(*bm)),
                  "(1) atomic floor")) {
            goto out;
        }
        if (r >= 0) {
            tx[r] = t1 - t0;
        }
    }
    res->snap = stat_of(ts, o->repeats);
    res->walk = stat_of(tw, o->repeats);
    res->scan = stat_of(tf, o->repeats);
    res->popcnt = stat_of(tp, o->repeats);
    res->floor = stat_of(tx, o->repeats);
    res->dirty = k;
    res->words = nwords;
    rc = 0;
out:
    gm_region_unref(ram);
    space_free(&s);
    free(bm);
    free(plain);
    free(out);
    return rc;
}

/*
 * (2) Dirty marking.
 */

#define HOT_LOOP __attribute__((noinline, aligned(64)))
#define MARK_BASE 0x100000000ull
#define MARK_SMALL_PAGES 1024u /* the small buffer of the bit-clear case */

/* Sequential 8-byte stores over [0, mask], again and again. */
static HOT_LOOP void loop_cache_hot(struct gm_cache *c, uint64_t mask,
                                    long iters)
{
    for (long i = 0; i < iters; i++) {
        gm_cache_store(c, ((uint64_t)i * 8) & mask, 8, GM_ENDIAN_LITTLE,
                       (uint64_t)i);
    }
}

static HOT_LOOP void loop_direct_hot(uint8_t *p, uint64_t mask, long iters)
{
    for (long i = 0; i < iters; i++) {
        *(volatile uint64_t *)(p + (((uint64_t)i * 8) & mask)) = (uint64_t)i;
    }
}

static HOT_LOOP void loop_space_hot(gm_space *as, uint64_t base,
                                    uint64_t mask, long iters)
{
    for (long i = 0; i < iters; i++) {
        gm_space_store(as, base + (((uint64_t)i * 8) & mask), 8,
                       GM_ENDIAN_LITTLE, (uint64_t)i, GM_ATTRS_DEFAULT);
    }
}

/*
 * One store per page, each in a different cache line of its page (one
 * same-offset store per page would put every line in the same few cache
 * sets).
 */
static inline uint64_t page_off(uint64_t p)
{
    return p * PAGE + ((p * 64) & (PAGE - 8));
}

static HOT_LOOP void loop_cache_pages(struct gm_cache *c, uint64_t pages,
                                      uint64_t v)
{
    for (uint64_t p = 0; p < pages; p++) {
        gm_cache_store(c, page_off(p), 8, GM_ENDIAN_LITTLE, v);
    }
}

static HOT_LOOP void loop_space_pages(gm_space *as, uint64_t base,
                                      uint64_t pages, uint64_t v)
{
    for (uint64_t p = 0; p < pages; p++) {
        gm_space_store(as, base + page_off(p), 8, GM_ENDIAN_LITTLE, v,
                       GM_ATTRS_DEFAULT);
    }
}

/* The floor of a bit-clear store: the store, then a locked OR. */
static HOT_LOOP void loop_floor_pages(uint8_t *ram, uint64_t *bm,
                                      uint64_t pages, uint64_t v)
{
    for (uint64_t p = 0; p < pages; p++) {
        *(volatile uint64_t *)(ram + page_off(p)) = v;
        __atomic_fetch_or(&bm[p >> 6], 1ull << (p & 63), __ATOMIC_SEQ_CST);
    }
}

static HOT_LOOP void loop_direct_pages(uint8_t *ram, uint64_t pages,
                                       uint64_t v)
{
    for (uint64_t p = 0; p < pages; p++) {
        *(volatile uint64_t *)(ram + page_off(p)) = v;
    }
}

/*
 * The figures of (2). Each has a logging-off ([0]) and a logging-on ([1])
 * measurement, except the unlogged loops (direct, floor: [1] only).
 */
enum mark_kind {
    MK_DIRECT_HOT,      /* volatile store, information */
    MK_CACHE_HOT,       /* gm_cache_store, 256 KiB again: bit set */
    MK_SPACE_HOT,       /* gm_space_store, same */
    MK_DIRECT_PAGES,    /* one store per page, 64 MiB: volatile store */
    MK_FLOOR_PAGES,     /* ... plus an atomic OR into a plain bitmap */
    MK_CACHE_PAGES,     /* gm_cache_store, bits cleared before the pass */
    MK_CACHE_PAGES_SET, /* ... bits left set */
    MK_SPACE_PAGES,     /* gm_space_store, bits cleared before the pass */
    MK_DIRECT_SMALL,    /* one store per page, 4 MiB: volatile store */
    MK_FLOOR_SMALL,     /* ... plus an atomic OR */
    MK_CACHE_SMALL,     /* gm_cache_store, bits cleared before the pass */
    MK_NR
};

struct mark_result {
    struct figure t[MK_NR][2]; /* ns per store */
};

struct mark_ctx {
    struct bench_space s;
    gm_region *ram;
    uint8_t *host;
    uint64_t ra;
    uint64_t pages;
    uint64_t *floor_bm;
    struct gm_cache c;
    bool cache_ok;
    bool on; /* logging state of the region */
};

/* Clear the MIGRATION bits of the whole buffer (untimed). */
static int mark_clear(struct mark_ctx *m)
{
    gm_error err;

    gm_error_clear(&err);
    if (gm_dirty_clear(m->s.sys, m->ra, m->pages * PAGE, GM_DIRTY_MIGRATION,
                       &err)) {
        fail("gm_dirty_clear", err.code, &err);
        return -1;
    }
    return 0;
}

/* Turn MIGRATION logging on or off; the cache resolves again at once. */
static int mark_set_log(struct mark_ctx *m, bool on)
{
    gm_error err;
    int rc;

    gm_error_clear(&err);
    if (m->on != on) {
        rc = gm_region_set_log(m->ram, on, GM_DIRTY_MIGRATION, &err);
        if (rc) {
            fail("gm_region_set_log", rc, &err);
            return -1;
        }
        m->on = on;
    }
    /* The commit made the cache stale: one store resolves it. */
    gm_cache_store(&m->c, 0, 8, GM_ENDIAN_LITTLE, 0);
    return check(gm_cache_is_direct(&m->c),
                 "(2) the cache's stores are not inline");
}

/* Seconds of a bit-set loop of @k (the hot window, again and again). */
static double mark_hot(struct mark_ctx *m, const struct bench_opts *o,
                       enum mark_kind k, long *stores)
{
    long iters = k == MK_SPACE_HOT ? o->mark_iters / 8 : o->mark_iters;
    double t0 = tnow();

    if (k == MK_DIRECT_HOT) {
        loop_direct_hot(m->host, o->mark_hot - 1, iters);
    } else if (k == MK_CACHE_HOT) {
        loop_cache_hot(&m->c, o->mark_hot - 1, iters);
    } else {
        loop_space_hot(m->s.as, MARK_BASE, o->mark_hot - 1, iters);
    }
    *stores = iters;
    return tnow() - t0;
}

/*
 * One pass of a one-store-a-page kind, in ns per store, after clearing
 * the bits it needs clear; then a check of what it left: the data of its
 * last store, and the dirty bits (every page of the pass, or none).
 */
static double mark_pass(struct mark_ctx *m, enum mark_kind k, uint64_t v)
{
    bool small = k >= MK_DIRECT_SMALL;
    uint64_t pages = small ? MARK_SMALL_PAGES : m->pages, w, want;
    double t0, t;

    if (small) {
        /*
         * Small: what the bitmap costs once the pages are in the TLB and
         * the caches; a first pass brings them there (its bits are then
         * cleared below).
         */
        if (k == MK_CACHE_SMALL) {
            loop_cache_pages(&m->c, pages, v);
        } else {
            loop_direct_pages(m->host, pages, v);
        }
    }
    if (k == MK_FLOOR_PAGES || k == MK_FLOOR_SMALL) {
        memset(m->floor_bm, 0, (pages + 63) / 64 * 8);
    } else if (k != MK_CACHE_PAGES_SET && k != MK_DIRECT_PAGES &&
               k != MK_DIRECT_SMALL && mark_clear(m)) {
        return -1;
    }
    /* A short interval: the wall clock (see bench_mark()). */
    t0 = now_s();
    switch (k) {
    case MK_DIRECT_PAGES:
    case MK_DIRECT_SMALL:
        loop_direct_pages(m->host, pages, v);
        break;
    case MK_FLOOR_PAGES:
    case MK_FLOOR_SMALL:
        loop_floor_pages(m->host, m->floor_bm, pages, v);
        break;
    case MK_SPACE_PAGES:
        loop_space_pages(m->s.as, MARK_BASE, pages, v);
        break;
    default:
        loop_cache_pages(&m->c, pages, v);
        break;
    }
    t = now_s() - t0;
    memcpy(&w, m->host + page_off(pages - 1), 8);
    if (check(w == v, "(2) a store did not land")) {
        return -1;
    }
    if (k != MK_DIRECT_PAGES && k != MK_DIRECT_SMALL &&
        k != MK_FLOOR_PAGES && k != MK_FLOOR_SMALL) {
        want = m->on ? pages : 0;
        if (!(k == MK_CACHE_PAGES_SET && !m->on) &&
            check(gm_dirty_count(m->s.sys, m->ra, pages * PAGE,
                                 GM_DIRTY_MIGRATION) == want,
                  "(2) dirty pages after a pass")) {
            return -1;
        }
    }
    return t / (double)pages * 1e9;
}

static bool logged_kind(enum mark_kind k)
{
    return k != MK_DIRECT_HOT && k != MK_DIRECT_PAGES &&
           k != MK_FLOOR_PAGES && k != MK_DIRECT_SMALL &&
           k != MK_FLOOR_SMALL;
}

static int bench_mark(const struct bench_opts *o, struct mark_result *res)
{
    static double t[MK_NR][2][MAX_REPEATS];
    static double pass[MK_NR][2][64];
    struct mark_ctx m;
    gm_error err;
    int rc = -1;

    memset(&m, 0, sizeof(m));
    gm_error_clear(&err);
    m.pages = o->mark_bytes / PAGE;
    m.floor_bm = calloc((m.pages + 63) / 64, 8);
    if (!m.floor_bm || space_new(&m.s)) {
        free(m.floor_bm);
        return -1;
    }
    m.ram = ram_new(m.s.sys, "ram", o->mark_bytes, 0);
    if (!m.ram || place(&m.s, m.ram, MARK_BASE)) {
        goto out;
    }
    m.host = gm_region_ram_ptr(m.ram);
    m.ra = gm_region_ram_addr(m.ram);
    memset(m.host, 0x5a, o->mark_bytes); /* fault it in */
    rc = gm_cache_init(&m.c, m.s.as, MARK_BASE, o->mark_bytes, true, &err);
    if (rc) {
        fail("gm_cache_init", rc, &err);
        rc = -1;
        goto out;
    }
    m.cache_ok = true;
    rc = -1;
    for (int r = -1; r < o->repeats; r++) {
        /*
         * Bit set: logging off and on take turns, the order swapped every
         * repetition. Setting logging on marks every page dirty.
         */
        for (int i = 0; i < 2; i++) {
            bool on = (i == 0) == (r % 2 == 0);

            if (mark_set_log(&m, on)) {
                goto out;
            }
            for (int k = MK_DIRECT_HOT; k <= MK_SPACE_HOT; k++) {
                long stores;
                double s;

                if (k == MK_DIRECT_HOT && !on) {
                    continue;
                }
                s = mark_hot(&m, o, (enum mark_kind)k, &stores);
                if (r >= 0) {
                    t[k][on][r] = s / (double)stores * 1e9;
                }
            }
        }
        /*
         * One store a page: off and on take turns pass by pass (a pass is
         * a fraction of a millisecond: the wall clock, and the median of
         * the passes, which a preemption does not move).
         */
        for (int p = 0; p < o->mark_passes; p++) {
            uint64_t v = ((uint64_t)(r + 2) << 16) | (uint64_t)p << 1;

            for (int i = 0; i < 2; i++) {
                bool on = (i == 0) == (p % 2 == 0);

                if (mark_set_log(&m, on)) {
                    goto out;
                }
                for (int k = MK_DIRECT_PAGES; k < MK_NR; k++) {
                    double ns;

                    if (!logged_kind((enum mark_kind)k) && !on) {
                        continue;
                    }
                    ns = mark_pass(&m, (enum mark_kind)k, v | on);
                    if (ns < 0) {
                        goto out;
                    }
                    pass[k][on][p] = ns;
                }
            }
        }
        for (int k = MK_DIRECT_PAGES; k < MK_NR && r >= 0; k++) {
            for (int on = 0; on < 2; on++) {
                if (on || logged_kind((enum mark_kind)k)) {
                    t[k][on][r] = median(pass[k][on], o->mark_passes);
                }
            }
        }
    }
    for (int k = 0; k < MK_NR; k++) {
        for (int on = 0; on < 2; on++) {
            if (on || logged_kind((enum mark_kind)k)) {
                res->t[k][on] = stat_of(t[k][on], o->repeats);
            }
        }
    }
    rc = 0;
out:
    if (m.cache_ok) {
        gm_cache_destroy(&m.c);
    }
    gm_region_unref(m.ram);
    space_free(&m.s);
    free(m.floor_bm);
    return rc;
}

/*
 * (3) Allocating blocks.
 */

enum alloc_kind {
    AL_PTR,   /* blocks over the caller's memory: no mmap (the target) */
    AL_ANON,  /* MAP_NORESERVE anonymous blocks: an mmap each */
    AL_NONE,  /* memoryless regions: no block at all (the region alone) */
    AL_NR
};

struct alloc_result {
    struct figure t[AL_NR][3];
};

/*
 * Seconds to make n RAM regions of 4 KiB one at a time on a fresh system,
 * as @kind says; @mem: n pages for AL_PTR (never touched).
 */
static double alloc_run(unsigned n, enum alloc_kind kind, uint8_t *mem,
                        int *ok)
{
    struct gm_ram_opts ro;
    gm_region **v = calloc(n, sizeof(*v));
    gm_system *sys;
    gm_error err;
    char name[32];
    double t0, t = -1;
    unsigned i = 0;

    *ok = 0;
    gm_error_clear(&err);
    memset(&ro, 0, sizeof(ro));
    ro.backing = kind == AL_PTR ? GM_RAM_PTR : GM_RAM_ANON;
    ro.flags = kind == AL_ANON ? GM_RAM_NORESERVE : 0;
    sys = v ? gm_system_new(&err) : NULL;
    if (!sys) {
        fail("gm_system_new", err.code, &err);
        free(v);
        return -1;
    }
    if (kind == AL_NONE && gm_system_set_memoryless(sys, true, &err)) {
        fail("gm_system_set_memoryless", err.code, &err);
        goto out;
    }
    t0 = tnow();
    for (i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "ram%u", i);
        ro.host = mem + (size_t)i * PAGE;
        v[i] = gm_region_new_ram_opts(sys, name, GM_REGION_RAM, PAGE, &ro,
                                      NULL, NULL, &err);
        if (!v[i]) {
            fail("gm_region_new_ram_opts", err.code, &err);
            goto out;
        }
    }
    t = tnow() - t0;
    /* Blocks in places of their own, one every 256 KiB from 0. */
    if (kind != AL_NONE &&
        check(gm_region_ram_addr(v[0]) == 0 &&
                  gm_region_ram_addr(v[n - 1]) == (uint64_t)(n - 1) << 18,
              "(3) block offsets")) {
        t = -1;
        goto out;
    }
    *ok = 1;
out:
    for (unsigned j = 0; j < i && j < n; j++) {
        gm_region_unref(v[j]);
    }
    if (gm_system_destroy(sys, &err)) {
        fail("gm_system_destroy", err.code, &err);
    }
    free(v);
    return t;
}

static int bench_alloc(const struct bench_opts *o, struct alloc_result *res)
{
    static double t[AL_NR][3][MAX_REPEATS];
    /* Pages for the largest N, never touched: address space only. */
    uint8_t *mem = malloc((size_t)o->alloc_n[2] * PAGE);
    int ok;

    void *heap[1024];

    if (!mem) {
        fprintf(stderr, BENCH_NAME ": out of memory\n");
        return -1;
    }
    /*
     * Each region and block takes about 1 KiB of malloc()'s heap; where the
     * heap has to grow, every new page costs a page fault (about 5 us on
     * the virtual machine of BENCHMARKS.md, more than the block itself).
     * glibc gives the top of the heap back on free(), so a run that needs
     * more heap than the runs before it pays faults they did not: t(1,000)
     * reuses what was freed, t(10,000) faults. To time the library and not
     * the kernel, the heap is grown once (64 MiB, touched) and kept.
     */
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    for (int i = 0; i < 1024; i++) {
        heap[i] = malloc(64 << 10);
        if (heap[i]) {
            memset(heap[i], 1, 64 << 10);
        }
    }
    for (int i = 0; i < 1024; i++) {
        free(heap[i]);
    }
    for (int r = -1; r < o->repeats; r++) {
        for (int z = 0; z < 3; z++) {
            for (int k = 0; k < AL_NR; k++) {
                double s = alloc_run(o->alloc_n[z], (enum alloc_kind)k, mem,
                                     &ok);

                if (!ok) {
                    free(mem);
                    return -1;
                }
                if (r >= 0) {
                    t[k][z][r] = s;
                }
            }
        }
    }
    for (int k = 0; k < AL_NR; k++) {
        for (int z = 0; z < 3; z++) {
            res->t[k][z] = stat_of(t[k][z], o->repeats);
        }
    }
    free(mem);
    return 0;
}

/*
 * (4) Snapshot reset.
 */

#define RESTORE_BASE 0x100000000ull

struct restore_result {
    struct figure restore[3], pages[3], whole;
    struct figure restore_warm[3], pages_warm[3];
    uint64_t dirty[3];
};

/* The baseline: find each dirty page in a plain bitmap, copy it back. */
static __attribute__((noinline)) uint64_t
copy_pages(uint8_t *dst, const uint8_t *src, const uint64_t *bm,
           uint64_t nwords)
{
    uint64_t n = 0;

    for (uint64_t w = 0; w < nwords; w++) {
        uint64_t v = bm[w];

        while (v) {
            uint64_t off = (w * 64 + (uint64_t)__builtin_ctzll(v)) * PAGE;

            memcpy(dst + off, src + off, PAGE);
            v &= v - 1;
            n++;
        }
    }
    return n;
}

/* Write 8 bytes into each listed page through the API (SNAPSHOT marks). */
static int restore_dirty(gm_space *as, const uint64_t *list, uint64_t k,
                         uint64_t v)
{
    for (uint64_t i = 0; i < k; i++) {
        uint64_t off = list[i] * PAGE + ((list[i] * 8 + v * 64) & (PAGE - 8));

        if (gm_space_store(as, RESTORE_BASE + off, 8, GM_ENDIAN_LITTLE,
                           v ^ list[i], GM_ATTRS_DEFAULT) != GM_RESULT_OK) {
            fprintf(stderr, BENCH_NAME ": (4) gm_space_store failed\n");
            return -1;
        }
    }
    return 0;
}

/* Every listed page holds its saved bytes again. */
static int restore_check(const uint8_t *host, const uint8_t *saved,
                         const uint64_t *list, uint64_t k, const char *what)
{
    for (uint64_t i = 0; i < k; i++) {
        if (memcmp(host + list[i] * PAGE, saved + list[i] * PAGE, PAGE)) {
            fprintf(stderr, BENCH_NAME ": wrong result: (4) %s left page "
                    "%" PRIu64 " written\n", what, list[i]);
            return -1;
        }
    }
    return 0;
}

/*
 * Evict the caches (and the TLB's entries for guest RAM and both copies):
 * read a buffer larger than the last-level cache. Before every timed
 * operation of (4), so that the restore and its baseline start alike, as
 * a fuzzer's restore would after the guest ran.
 */
static void flush_caches(const uint64_t *buf, size_t words)
{
    uint64_t acc = 0;

    for (size_t i = 0; i < words; i += 8) {
        acc += buf[i];
    }
    clobber(&acc);
}

static int bench_restore(const struct bench_opts *o,
                         struct restore_result *res)
{
    static const unsigned per_mille[3] = {1, 10, 100};
    static double tr[3][MAX_REPEATS], tp[3][MAX_REPEATS], tw[MAX_REPEATS];
    static double trw[3][MAX_REPEATS], tpw[3][MAX_REPEATS];
    uint64_t bytes = o->restore_bytes, npages = bytes / PAGE;
    uint64_t nwords = npages / 64, state = o->seed ^ 0x4444;
    size_t flush_words = o->flush_bytes / 8;
    struct bench_space s;
    gm_ram_snapshot *snap = NULL;
    gm_region *ram = NULL;
    uint8_t *host, *saved;
    uint64_t *bm, *list, *flush;
    gm_error err;
    int rc = -1;

    gm_error_clear(&err);
    saved = malloc(bytes);
    bm = malloc(nwords * sizeof(*bm));
    list = malloc(npages / 10 * sizeof(*list));
    flush = malloc(o->flush_bytes);
    if (!saved || !bm || !list || !flush || space_new(&s)) {
        fprintf(stderr, BENCH_NAME ": out of memory\n");
        free(saved);
        free(bm);
        free(list);
        free(flush);
        return -1;
    }
    memset(flush, 0x3c, o->flush_bytes);
    ram = ram_new(s.sys, "ram", bytes, 0);
    if (!ram || place(&s, ram, RESTORE_BASE)) {
        goto out;
    }
    host = gm_region_ram_ptr(ram);
    /* Every page written, each with bytes of its own. */
    for (uint64_t p = 0; p < npages; p++) {
        memset(host + p * PAGE, (int)(p * 131 % 251), PAGE);
    }
    memcpy(saved, host, bytes);
    snap = gm_ram_snapshot_take(s.sys, &err);
    if (!snap) {
        fail("gm_ram_snapshot_take", err.code, &err);
        goto out;
    }
    /* The whole copy, for scale. */
    for (int r = -1; r < o->repeats; r++) {
        double t0;

        flush_caches(flush, flush_words);
        t0 = tnow();
        memcpy(host, saved, bytes);
        clobber(host);
        if (r >= 0) {
            tw[r] = tnow() - t0;
        }
    }
    res->whole = stat_of(tw, o->repeats);
    for (int f = 0; f < 3; f++) {
        uint64_t k = npages * per_mille[f] / 1000;

        pick_pages(&state, npages, k, bm, list);
        res->dirty[f] = k;
        for (int r = -1; r < o->repeats; r++) {
            uint64_t v = ((uint64_t)f << 32) + (uint64_t)(r + 2) * 2;

            /*
             * Take turns at going first. Cold: the caches evicted, as after
             * a guest ran (the pages it wrote are warm); warm: the same
             * operation just before, as in a tight fuzzing loop.
             */
            for (int i = 0; i < 4; i++) {
                bool lib = (i % 2 == 0) == (r % 2 == 0);
                bool warm = i >= 2;
                double t0 = 0, t1 = 0;
                uint64_t n = 0;

                for (int pass = warm ? 0 : 1; pass < 2; pass++) {
                    if (!warm) {
                        flush_caches(flush, flush_words);
                    }
                    if (restore_dirty(s.as, list, k,
                                      v + (uint64_t)(i * 2 + pass))) {
                        goto out;
                    }
                    if (lib) {
                        t0 = tnow();
                        if (gm_ram_snapshot_restore(snap, &err)) {
                            fail("gm_ram_snapshot_restore", err.code, &err);
                            goto out;
                        }
                        t1 = tnow();
                        n = gm_ram_snapshot_restored(snap);
                    } else {
                        t0 = tnow();
                        n = copy_pages(host, saved, bm, nwords);
                        t1 = tnow();
                    }
                    if (check(n == k, "(4) pages copied back") ||
                        restore_check(host, saved, list, k,
                                      lib ? "the restore" : "the baseline")) {
                        goto out;
                    }
                }
                if (r >= 0) {
                    if (warm) {
                        (lib ? trw : tpw)[f][r] = t1 - t0;
                    } else {
                        (lib ? tr : tp)[f][r] = t1 - t0;
                    }
                }
            }
        }
        /* The baseline's pages were written through the API too. */
        if (gm_ram_snapshot_restore(snap, &err)) {
            fail("gm_ram_snapshot_restore", err.code, &err);
            goto out;
        }
        res->restore[f] = stat_of(tr[f], o->repeats);
        res->pages[f] = stat_of(tp[f], o->repeats);
        res->restore_warm[f] = stat_of(trw[f], o->repeats);
        res->pages_warm[f] = stat_of(tpw[f], o->repeats);
    }
    rc = 0;
out:
    gm_ram_snapshot_free(snap);
    gm_region_unref(ram);
    space_free(&s);
    free(saved);
    free(bm);
    free(list);
    free(flush);
    return rc;
}

/*
 * (5) Starting dirty logging.
 */

#define LOG_BLOCKS 4

enum log_kind {
    LOG_GLOBAL,       /* gm_system_log_global_start, bits clear */
    LOG_GLOBAL_SET,   /* ... bits already set */
    LOG_ALL_TXN,      /* every client on every block, one transaction */
    LOG_ALL_SET,      /* ... bits already set */
    LOG_ALL_SINGLE,   /* every client on every block, a commit each */
    LOG_MEMSET,       /* baseline: one client's bitmap to all-ones */
    LOG_NR
};

struct log_result {
    struct figure t[LOG_NR];
    uint64_t gib;
};

struct log_ctx {
    struct bench_space s;
    gm_region *ram[LOG_BLOCKS];
    uint64_t block;
};

/* Clear @mask's clients on every block (untimed). */
static int log_clear(struct log_ctx *l, unsigned mask)
{
    gm_error err;

    gm_error_clear(&err);
    for (int b = 0; b < LOG_BLOCKS; b++) {
        for (unsigned c = 0; c < GM_DIRTY_NR; c++) {
            if ((mask & (1u << c)) &&
                gm_dirty_clear(l->s.sys, gm_region_ram_addr(l->ram[b]),
                               l->block, (enum gm_dirty_client)c, &err)) {
                fail("gm_dirty_clear", err.code, &err);
                return -1;
            }
        }
    }
    return 0;
}

/* Every page of every block is dirty for each client of @mask. */
static int log_check(struct log_ctx *l, unsigned mask)
{
    for (int b = 0; b < LOG_BLOCKS; b++) {
        for (unsigned c = 0; c < GM_DIRTY_NR; c++) {
            if ((mask & (1u << c)) &&
                check(gm_dirty_count(l->s.sys, gm_region_ram_addr(l->ram[b]),
                                     l->block, (enum gm_dirty_client)c) ==
                          l->block / PAGE,
                      "(5) pages not dirty after logging started")) {
                return -1;
            }
        }
    }
    return 0;
}

/* gm_region_set_log(@on) for every client on every block. */
static int log_all(struct log_ctx *l, bool on, bool txn)
{
    gm_error err;
    int rc;

    gm_error_clear(&err);
    if (txn && (rc = gm_transaction_begin(l->s.sys))) {
        fail("gm_transaction_begin", rc, NULL);
        return -1;
    }
    for (int b = 0; b < LOG_BLOCKS; b++) {
        for (unsigned c = 0; c < GM_DIRTY_NR; c++) {
            rc = gm_region_set_log(l->ram[b], on, (enum gm_dirty_client)c,
                                   &err);
            if (rc) {
                fail("gm_region_set_log", rc, &err);
                if (txn) {
                    gm_transaction_commit(l->s.sys, NULL);
                }
                return -1;
            }
        }
    }
    if (txn && (rc = gm_transaction_commit(l->s.sys, &err))) {
        fail("gm_transaction_commit", rc, &err);
        return -1;
    }
    return 0;
}

/* One measurement of @k, in seconds. */
static double log_run(struct log_ctx *l, enum log_kind k, uint8_t *plain,
                      size_t plain_len)
{
    const unsigned all = (1u << GM_DIRTY_NR) - 1;
    gm_error err;
    double t0, t;
    int rc;

    gm_error_clear(&err);
    switch (k) {
    case LOG_GLOBAL:
    case LOG_GLOBAL_SET:
        if (k == LOG_GLOBAL && log_clear(l, MIGRATION_BIT)) {
            return -1;
        }
        t0 = tnow();
        rc = gm_system_log_global_start(l->s.sys, &err);
        t = tnow() - t0;
        if (rc) {
            fail("gm_system_log_global_start", rc, &err);
            return -1;
        }
        if (log_check(l, MIGRATION_BIT)) {
            return -1;
        }
        rc = gm_system_log_global_stop(l->s.sys, &err);
        if (rc) {
            fail("gm_system_log_global_stop", rc, &err);
            return -1;
        }
        return t;
    case LOG_MEMSET:
        memset(plain, 0, plain_len);
        t0 = tnow();
        memset(plain, 0xff, plain_len);
        t = tnow() - t0;
        clobber(plain);
        return t;
    default:
        if (k != LOG_ALL_SET && log_clear(l, all)) {
            return -1;
        }
        t0 = tnow();
        rc = log_all(l, true, k != LOG_ALL_SINGLE);
        t = tnow() - t0;
        if (rc || log_check(l, all) || log_all(l, false, true)) {
            return -1;
        }
        return t;
    }
}

static int bench_logstart(const struct bench_opts *o, struct log_result *res)
{
    static double t[LOG_NR][MAX_REPEATS];
    size_t plain_len = (size_t)(LOG_BLOCKS * o->log_block / PAGE / 8);
    uint8_t *plain = malloc(plain_len);
    struct log_ctx l;
    gm_error err;
    int rc = -1;
    char name[16];

    memset(&l, 0, sizeof(l));
    gm_error_clear(&err);
    l.block = o->log_block;
    if (!plain || space_new(&l.s)) {
        free(plain);
        return -1;
    }
    for (int b = 0; b < LOG_BLOCKS; b++) {
        snprintf(name, sizeof(name), "ram%d", b);
        l.ram[b] = ram_new(l.s.sys, name, l.block, GM_RAM_NORESERVE);
        if (!l.ram[b] || place(&l.s, l.ram[b], (uint64_t)b * l.block)) {
            goto out;
        }
    }
    for (int r = -1; r < o->repeats; r++) {
        for (int k = 0; k < LOG_NR; k++) {
            double s = log_run(&l, (enum log_kind)k, plain, plain_len);

            if (s < 0) {
                goto out;
            }
            if (r >= 0) {
                t[k][r] = s;
            }
        }
    }
    for (int k = 0; k < LOG_NR; k++) {
        res->t[k] = stat_of(t[k], o->repeats);
    }
    res->gib = LOG_BLOCKS * l.block / GIB;
    rc = 0;
out:
    for (int b = 0; b < LOG_BLOCKS; b++) {
        gm_region_unref(l.ram[b]);
    }
    space_free(&l.s);
    free(plain);
    return rc;
}

/*
 * Main.
 */

static int parse_args(int argc, char **argv, struct bench_opts *o)
{
    char *rest[16];
    int n = 0, rc;

    memset(o, 0, sizeof(*o));
    o->repeats = 7;
    o->only = 0x1f;
    o->seed = DEFAULT_SEED;
    /* --seed is ours; the rest is bench_parse()'s. */
    for (int i = 0; i < argc && n < 16; i++) {
        if (i > 0 && !strcmp(argv[i], "--only") && i + 1 < argc) {
            /* e.g. --only 14: run (1) and (4) */
            o->only = 0;
            for (const char *c = argv[++i]; *c; c++) {
                if (*c < '1' || *c > '5') {
                    fprintf(stderr, BENCH_NAME ": --only takes digits "
                            "1..5\n");
                    return -1;
                }
                o->only |= 1u << (*c - '1');
            }
            continue;
        }
        if (i > 0 && !strcmp(argv[i], "--wall")) {
            use_wall = true;
            continue;
        }
        if (i > 0 && !strcmp(argv[i], "--seed") && i + 1 < argc) {
            char *end;

            o->seed = strtoull(argv[++i], &end, 0);
            if (*end || !o->seed) {
                fprintf(stderr, BENCH_NAME ": --seed takes a non-zero "
                        "number\n");
                return -1;
            }
            continue;
        }
        rest[n++] = argv[i];
    }
    rc = bench_parse(n, rest, MAX_REPEATS, &o->repeats, &o->strict);
    if (rc < 0) {
        fprintf(stderr, "       (and --seed N, --only DIGITS, --wall)\n");
        return -1;
    }
    o->quick = rc == 1;
    o->snap_bytes = o->quick ? 1 * GIB : 64 * GIB;
    o->mark_bytes = o->quick ? 4 * MIB : 64 * MIB;
    o->mark_hot = 256 * 1024;
    o->mark_iters = o->quick ? 1L << 14 : 1L << 24;
    o->mark_passes = o->quick ? 2 : 16;
    o->alloc_n[0] = o->quick ? 100 : 1000;
    o->alloc_n[1] = o->quick ? 1000 : 10000;
    o->alloc_n[2] = o->quick ? 2000 : 20000;
    o->restore_bytes = o->quick ? 64 * MIB : 1 * GIB;
    o->flush_bytes = o->quick ? 4 * MIB : 256 * MIB;
    o->log_block = o->quick ? 512 * MIB : 32 * GIB;
    return 0;
}

static void print_snapshot(const struct bench_opts *o,
                           const struct snap_result *sn)
{
    char what[200], a[48], b[48], c[24];

    snprintf(what, sizeof(what), "(1) snapshot-and-clear, MIGRATION bitmap "
             "of a %" PRIu64 " GiB guest, %" PRIu64 " dirty pages (1 %%); "
             "baseline: "
             "a scan of a plain array of the same %" PRIu64 " words",
             o->snap_bytes / GIB, sn->dirty, sn->words);
    header(what);
    row_ratio("gm_dirty_snapshot_and_clear / scan", sn->snap, sn->scan,
              "<= 2x, 1 ms", TARGET_SNAP_RATIO, TARGET_SNAP_S);
    row_ratio("    / popcount-only scan (information)", sn->snap,
              sn->popcnt, "", 0, 0);
    row_ratio("    / atomic floor: scan + exchange per set word",
              sn->snap, sn->floor, "", 0, 0);
    fmt_time(a, sizeof(a), sn->first);
    fmt_med(b, sizeof(b), sn->scan.med, sn->scan.min);
    snprintf(c, sizeof(c), "%.2fx", sn->first / sn->scan.med);
    row("    first call (fresh memory; information)", a, b, c, "", -1);
    row_ratio("walk with gm_dirty_snapshot_next / scan", sn->walk, sn->scan,
              "", 0, 0);
    fmt_med(a, sizeof(a), sn->snap.med + sn->walk.med,
            sn->snap.min + sn->walk.min);
    fmt_med(b, sizeof(b), sn->scan.med, sn->scan.min);
    snprintf(c, sizeof(c), "%.2fx",
             (sn->snap.med + sn->walk.med) / sn->scan.med);
    row("snapshot + walk / scan (information)", a, b, c, "", -1);
}

/* A row of ns per store, logged / unlogged; target: the extra. */
static void row_extra(const char *what, const struct figure *on,
                      const struct figure *off, int target)
{
    char a[48], b[48], c[24];

    snprintf(a, sizeof(a), "%.2f ns (%.2f)", on->med, on->min);
    snprintf(b, sizeof(b), "%.2f ns (%.2f)", off->med, off->min);
    snprintf(c, sizeof(c), "%+.2f ns", on->med - off->med);
    row(what, a, b, c, target ? "<= +2 ns" : "",
        target ? on->med - off->med <= TARGET_MARK_NS : -1);
}

static void print_mark(const struct bench_opts *o,
                       const struct mark_result *mk)
{
    char what[200];

    snprintf(what, sizeof(what), "(2) 8-byte RAM stores, ns per store; "
             "baseline: the same with logging off; ratio column: the extra");
    header(what);
    snprintf(what, sizeof(what), "gm_cache_store, bit already set (%" PRIu64
             " KiB again)", o->mark_hot >> 10);
    row_extra(what, &mk->t[MK_CACHE_HOT][1], &mk->t[MK_CACHE_HOT][0], 1);
    snprintf(what, sizeof(what), "gm_cache_store, bit clear (a page each, "
             "%" PRIu64 " MiB)", o->mark_bytes / MIB);
    row_extra(what, &mk->t[MK_CACHE_PAGES][1], &mk->t[MK_CACHE_PAGES][0], 1);
    snprintf(what, sizeof(what), "    the same, %u MiB (information)",
             MARK_SMALL_PAGES / 256);
    row_extra(what, &mk->t[MK_CACHE_SMALL][1], &mk->t[MK_CACHE_SMALL][0], 0);
    row_extra("    a page each, bit already set (information)",
              &mk->t[MK_CACHE_PAGES_SET][1], &mk->t[MK_CACHE_PAGES_SET][0], 0);
    row_extra("gm_space_store, bit already set (information)",
              &mk->t[MK_SPACE_HOT][1], &mk->t[MK_SPACE_HOT][0], 0);
    row_extra("gm_space_store, bit clear (information)",
              &mk->t[MK_SPACE_PAGES][1], &mk->t[MK_SPACE_PAGES][0], 0);
    snprintf(what, sizeof(what), "floor: store + atomic OR / store, %" PRIu64
             " MiB", o->mark_bytes / MIB);
    row_extra(what, &mk->t[MK_FLOOR_PAGES][1], &mk->t[MK_DIRECT_PAGES][1], 0);
    snprintf(what, sizeof(what), "floor: store + atomic OR / store, %u MiB",
             MARK_SMALL_PAGES / 256);
    row_extra(what, &mk->t[MK_FLOOR_SMALL][1], &mk->t[MK_DIRECT_SMALL][1], 0);
    row_extra("unlogged gm_cache_store / volatile store (hot)",
              &mk->t[MK_CACHE_HOT][0], &mk->t[MK_DIRECT_HOT][1], 0);
}

static void print_alloc(const struct bench_opts *o,
                        const struct alloc_result *al)
{
    static const char *const kinds[AL_NR] = {
        "caller memory", "NORESERVE anon", "memoryless (no block)"};
    char what[96], a[48], b[48], c[24];

    header("(3) N RAM regions of 4 KiB made one at a time; ratio: growth "
           "(linear: 10, then 2)");
    for (int k = 0; k < AL_NR; k++) {
        const struct figure *f = al->t[k];

        for (int z = 0; z < 3; z++) {
            snprintf(what, sizeof(what), "%u, %s (%.2f us each)",
                     o->alloc_n[z], kinds[k],
                     f[z].med / o->alloc_n[z] * 1e6);
            fmt_med(a, sizeof(a), f[z].med, f[z].min);
            row(what, a, "", "", "", -1);
        }
        for (int z = 1; z < 3; z++) {
            double g = f[z].med / f[z - 1].med;

            snprintf(what, sizeof(what), "    %s: t(%u) / t(%u)%s", kinds[k],
                     o->alloc_n[z], o->alloc_n[z - 1],
                     k == AL_PTR && z == 1 ? "" : " (information)");
            fmt_med(a, sizeof(a), f[z].med, f[z].min);
            fmt_med(b, sizeof(b), f[z - 1].med, f[z - 1].min);
            snprintf(c, sizeof(c), "%.2f", g);
            if (k == AL_PTR && z == 1) {
                row(what, a, b, c, "<= 15", g <= TARGET_ALLOC_GROWTH);
            } else {
                row(what, a, b, c, "", -1);
            }
        }
    }
}

static void print_restore(const struct bench_opts *o,
                          const struct restore_result *rs)
{
    static const char *const pct[3] = {"0.1 %", "1 %", "10 %"};
    char what[200], a[48], b[48], c[24];

    snprintf(what, sizeof(what), "(4) snapshot reset of a %" PRIu64
             " MiB guest; baseline: copy back the dirty pages found in a "
             "plain bitmap", o->restore_bytes / MIB);
    header(what);
    for (int f = 0; f < 3; f++) {
        snprintf(what, sizeof(what), "gm_ram_snapshot_restore, %s "
                 "(%" PRIu64 " pages), cold", pct[f], rs->dirty[f]);
        row_ratio(what, rs->restore[f], rs->pages[f], "<= 1.5x",
                  TARGET_RESTORE_RATIO, 0);
        snprintf(a, sizeof(a), "%.3f us", rs->restore[f].med /
                 (double)rs->dirty[f] * 1e6);
        snprintf(b, sizeof(b), "%.3f us", rs->pages[f].med /
                 (double)rs->dirty[f] * 1e6);
        row("    per dirty page", a, b, "", "", -1);
        snprintf(what, sizeof(what), "    warm (information)");
        row_ratio(what, rs->restore_warm[f], rs->pages_warm[f], "", 0, 0);
        snprintf(a, sizeof(a), "%.3f us", rs->restore_warm[f].med /
                 (double)rs->dirty[f] * 1e6);
        snprintf(b, sizeof(b), "%.3f us", rs->pages_warm[f].med /
                 (double)rs->dirty[f] * 1e6);
        row("    warm, per dirty page", a, b, "", "", -1);
        snprintf(what, sizeof(what), "    / memcpy of all %" PRIu64 " MiB, "
                 "cold", o->restore_bytes / MIB);
        fmt_med(a, sizeof(a), rs->restore[f].med, rs->restore[f].min);
        fmt_med(b, sizeof(b), rs->whole.med, rs->whole.min);
        snprintf(c, sizeof(c), "%.4fx", rs->restore[f].med / rs->whole.med);
        row(what, a, b, c, "", -1);
    }
}

static void print_logstart(const struct log_result *lg)
{
    char what[200];
    struct figure all = lg->t[LOG_MEMSET];

    all.med *= GM_DIRTY_NR;
    all.min *= GM_DIRTY_NR;
    snprintf(what, sizeof(what), "(5) starting dirty logging, %" PRIu64
             " GiB in %d NORESERVE blocks; baseline: memset of a plain "
             "bitmap per client", lg->gib, LOG_BLOCKS);
    header(what);
    row_ratio("gm_system_log_global_start, bits clear", lg->t[LOG_GLOBAL],
              lg->t[LOG_MEMSET], "<= 10 ms", 0, TARGET_LOGSTART_S);
    row_ratio("    bits already set (information)", lg->t[LOG_GLOBAL_SET],
              lg->t[LOG_MEMSET], "", 0, 0);
    row_ratio("set_log, 4 clients x 4 blocks, 1 txn, bits clear",
              lg->t[LOG_ALL_TXN], all, "<= 10 ms", 0, TARGET_LOGSTART_S);
    row_ratio("    bits already set (information)", lg->t[LOG_ALL_SET], all,
              "", 0, 0);
    row_ratio("    a commit each, bits clear (information)",
              lg->t[LOG_ALL_SINGLE], all, "", 0, 0);
}

int main(int argc, char **argv)
{
    static struct snap_result sn;
    static struct mark_result mk;
    static struct alloc_result al;
    static struct restore_result rs;
    static struct log_result lg;
    struct bench_opts o;

    if (parse_args(argc, argv, &o)) {
        return 2;
    }
    printf("guestmem %s dirty-memory benchmark: median (min) of %d run%s, "
           "seed %#" PRIx64 "%s\n", gm_version_string(), o.repeats,
           o.repeats == 1 ? "" : "s", o.seed,
           o.quick ? " (--quick: small sizes, timings mean nothing)" : "");
    fflush(stdout);
    if (o.only & 1) {
        if (bench_snapshot(&o, &sn)) {
            return 1;
        }
        print_snapshot(&o, &sn);
        fflush(stdout);
    }
    if (o.only & 2) {
        if (bench_mark(&o, &mk)) {
            return 1;
        }
        print_mark(&o, &mk);
        fflush(stdout);
    }
    if (o.only & 4) {
        if (bench_alloc(&o, &al)) {
            return 1;
        }
        print_alloc(&o, &al);
        fflush(stdout);
    }
    if (o.only & 8) {
        if (bench_restore(&o, &rs)) {
            return 1;
        }
        print_restore(&o, &rs);
        fflush(stdout);
    }
    if (o.only & 16) {
        if (bench_logstart(&o, &lg)) {
            return 1;
        }
        print_logstart(&lg);
    }
    if (missed) {
        printf("\nsome targets were missed%s\n",
               o.strict ? "" : " (not fatal without --strict)");
    }
    /* The tests' convention: one line to grep, targets met and missed. */
    printf("\n%d passed, %d failed (targets%s)\n", n_met, n_missed,
           o.quick ? "; --quick: small sizes, timings mean nothing" : "");
    return missed && o.strict ? 1 : 0;
}
