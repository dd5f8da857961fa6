/* SPDX-License-Identifier: MIT */
/*
 * model-dirty.c - the dirty bitmaps (dirty.h) against a plain model: one
 * bool per page of the ram_addr space, per client.
 *
 * A system holds up to eight RAM blocks: a permanent one of 1..1.5 GiB and
 * a permanent resizeable one (max_length up to 1.5 GiB), both spanning
 * more than one bitmap chunk (2^18 pages), and blocks that come and go
 * (tiny, small, big, resizeable, memfd), anonymous blocks NORESERVE so
 * that the GiB of them cost nothing until touched. Most are mapped in an
 * address space, each in its own 4 GiB slot. Random operations, each
 * checked against the model as it happens:
 *  - set (random client masks, byte ranges with partial pages), clear,
 *    snapshot-and-clear (the snapshot's count, every page through
 *    gm_dirty_snapshot_next() and gm_dirty_snapshot_test(), and the range
 *    clear afterwards), test, count, merge of a random bitmap (bits past
 *    npages in its last word set on purpose: they must be ignored);
 *  - writes through the access path into the mapped blocks (space stores
 *    and writes, a cache per block with loads and stores inline or slow,
 *    DMA maps written and unmapped with an access length): they set the
 *    bits of the clients the block logs (gm_region_set_log()), no others;
 *  - starting a client's log on a mapped block (the whole block becomes
 *    dirty for it: "logging that starts on a range marks it all dirty"),
 *    mapping a block (its range appears with its mask: the same), adding
 *    a block (every page dirty for every client, also where a freed
 *    block's clean bits were), freeing one, resizing a resizeable one
 *    (new pages dirty for every client; a mapped block's range is
 *    re-added, so all of it becomes dirty for the clients it logs),
 *    discarding pages (dirty for every client, reading back as zeros).
 * Ranges are drawn mostly small, often across a 64-page bitmap word or a
 * chunk boundary, now and then a whole block. Writes go to a few 64 KiB
 * windows per block so that little memory is ever touched. Every 50,000
 * operations and at the end every page of every block is compared for
 * every client.
 *
 * Usage: model-dirty [--seed N] [--ops N] [--check-from OP] (defaults:
 * seed 1, 1,000,000 operations). A mismatch prints the seed, the
 * operation's index, the operation and the page, and stops; rerun with
 * --check-from to compare everything after every operation from OP on,
 * which names the first one that went wrong. Ends with "N passed, N
 * failed".
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <guestmem/guestmem.h>

#include "harness.h"

#define PG ((uint64_t)4096)
#define NC GM_DIRTY_NR
#define ALL_CLIENTS ((1u << NC) - 1)
#define CHUNK ((uint64_t)1 << 30)    /* ram_addr bytes of one bitmap chunk */
#define WORD (64 * PG)         /* ram_addr bytes of one bitmap word */
#define MAXB 8                 /* block slots; 0 and 1 are permanent */
#define SLOT ((uint64_t)4 << 30)     /* guest addresses of one slot */
#define HOT_SPAN ((uint64_t)0x10000)   /* writes land in NHOT windows this long */
#define NHOT 6
#define MERGE_MAX 4200         /* pages of a merged bitmap */
#define FULL_EVERY 50000

/* splitmix64: a fixed seed gives the same run everywhere. */
static uint64_t rng;

static uint64_t rnd(void)
{
    uint64_t z = (rng += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t below(uint64_t n)
{
    return n ? rnd() % n : 0;
}

enum opk {
    OP_SET, OP_CLEAR, OP_SNAP, OP_TEST, OP_COUNT, OP_MERGE, OP_STORE,
    OP_CACHE, OP_WRITE, OP_DMA, OP_DISCARD, OP_LOG, OP_MAP, OP_ADD,
    OP_DEL, OP_RESIZE, OP_FULL, NOPK
};

static const char *const opname[NOPK] = {
    "set", "clear", "snapshot_and_clear", "test", "count", "merge",
    "space_store", "cache_store", "space_write", "dma", "discard",
    "set_log", "map/unmap", "add_block", "free_block", "resize",
    "full check",
};

/* Weights per 10,000 operations (OP_SET takes what is left). */
static const unsigned weight[NOPK] = {
    [OP_CLEAR] = 800, [OP_SNAP] = 600, [OP_TEST] = 1500,
    [OP_COUNT] = 1500, [OP_MERGE] = 600, [OP_STORE] = 1200,
    [OP_CACHE] = 1000, [OP_WRITE] = 400, [OP_DMA] = 300,
    [OP_DISCARD] = 100, [OP_LOG] = 6, [OP_MAP] = 4, [OP_ADD] = 5,
    [OP_DEL] = 4, [OP_RESIZE] = 8,
};

/* The operation running: printed when the model and the library differ. */
struct op {
    enum opk k;
    int blk;
    uint64_t ra, len; /* ram_addr range, or region offset for writes */
    unsigned client, mask;
    const char *what;
};

struct blk {
    bool live, permanent, resizeable, mapped;
    gm_region *r;
    uint64_t ra;          /* ram_addr */
    uint64_t used, max;
    uint64_t gpa;         /* where it is (or would be) mapped */
    uint8_t log;          /* clients logged with gm_region_set_log() */
    uint64_t hot[NHOT];   /* region offsets of the windows writes go to */
    bool has_cache;
    struct gm_cache cache;
    uint64_t cw, cl;      /* the cache's window: region offset, length */
    uint64_t resized_to;  /* last used_length the resized callback saw */
};

static struct {
    uint64_t seed, nops, opi;
    uint64_t check_from;     /* full checks after every op from this one */
    struct op cur;
    gm_system *sys;
    gm_region *root;
    gm_space *as;
    struct blk b[MAXB];
    bool *m[NC];     /* the model: m[client][page] */
    uint64_t npages; /* pages the model covers */
    bool failed;
    uint64_t count[NOPK];
    uint64_t chunk_crossing; /* ranges checked that cross a chunk */
    uint64_t max_extent;     /* highest ram_addr end seen */
} S;

static uint64_t pages_up(uint64_t bytes)
{
    return (bytes + PG - 1) / PG;
}

/* Print what ran, once, and stop the run. */
static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void report(const char *fmt, ...)
{
    va_list ap;
    const struct op *o = &S.cur;

    if (S.failed) {
        return;
    }
    S.failed = true;
    HARNESS_FAIL("seed %" PRIu64 ", op %" PRIu64 " (%s%s%s): block %d, "
                 "range 0x%" PRIx64 "+0x%" PRIx64 ", client %u, mask 0x%x",
                 S.seed, S.opi, opname[o->k], o->what ? " " : "",
                 o->what ? o->what : "", o->blk, o->ra, o->len, o->client,
                 o->mask);
    fprintf(stderr, "  ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* The model. */

static void model_cover(uint64_t end_page)
{
    if (end_page <= S.npages) {
        return;
    }
    for (unsigned c = 0; c < NC; c++) {
        S.m[c] = realloc(S.m[c], end_page * sizeof(bool));
        if (!S.m[c]) {
            fprintf(stderr, "out of memory for the model\n");
            exit(2);
        }
        memset(S.m[c] + S.npages, 0, (end_page - S.npages) * sizeof(bool));
    }
    S.npages = end_page;
}

static void model_set(uint64_t first, uint64_t n, unsigned mask)
{
    for (unsigned c = 0; c < NC; c++) {
        if (mask & (1u << c)) {
            memset(S.m[c] + first, 1, n * sizeof(bool));
        }
    }
}

static uint64_t model_count(uint64_t first, uint64_t n, unsigned c)
{
    const bool *p = S.m[c] + first;
    uint64_t k = 0;

    for (uint64_t i = 0; i < n; i++) {
        k += p[i];
    }
    return k;
}

/* Pages [*first, *first + *n) holding the bytes [ra, ra + len). */
static void pages_of(uint64_t ra, uint64_t len, uint64_t *first, uint64_t *n)
{
    *first = ra / PG;
    *n = (ra + len - 1) / PG - *first + 1;
}

/* After a mismatch: the first runs of pages where the two differ. */
static void diff_runs(uint64_t first, uint64_t n, unsigned c)
{
    uint64_t runs = 0, start = 0;
    bool in = false;

    for (uint64_t p = first; p <= first + n && runs < 8; p++) {
        bool d = p < first + n &&
                 gm_dirty_test(S.sys, p * PG, PG, (enum gm_dirty_client)c) !=
                     S.m[c][p];

        if (d && !in) {
            start = p;
        } else if (!d && in) {
            fprintf(stderr, "  differs: ram_addr 0x%" PRIx64 "..0x%" PRIx64
                    " (%" PRIu64 " pages), model %d\n", start * PG,
                    p * PG - 1, p - start, S.m[c][start]);
            runs++;
        }
        in = d;
    }
}

/* Name the first page of [first, +n) where the library and model differ. */
static void find_diff(uint64_t first, uint64_t n, unsigned c,
                      const char *what, uint64_t want, uint64_t got)
{
    for (uint64_t p = first; p < first + n; p++) {
        bool lib = gm_dirty_test(S.sys, p * PG, PG, (enum gm_dirty_client)c);

        if (lib != S.m[c][p]) {
            report("%s: page at ram_addr 0x%" PRIx64 ", client %u: model %d, "
                   "library %d", what, p * PG, c, S.m[c][p], lib);
            diff_runs(p, first + n - p, c);
            return;
        }
    }
    report("%s of pages 0x%" PRIx64 "+%" PRIu64 ", client %u: model %" PRIu64
           ", library %" PRIu64 " (every page agrees when tested alone)",
           what, first * PG, n, c, want, got);
}

/* Count (and test) [first, +n) for every client in mask. */
static void check_pages(uint64_t first, uint64_t n, unsigned mask)
{
    if (first / (CHUNK / PG) != (first + n - 1) / (CHUNK / PG)) {
        S.chunk_crossing++;
    }
    for (unsigned c = 0; c < NC && !S.failed; c++) {
        uint64_t want, got;
        bool t;

        if (!(mask & (1u << c))) {
            continue;
        }
        want = model_count(first, n, c);
        got = gm_dirty_count(S.sys, first * PG, n * PG,
                             (enum gm_dirty_client)c);
        if (got != want) {
            find_diff(first, n, c, "count", want, got);
            return;
        }
        t = gm_dirty_test(S.sys, first * PG, n * PG, (enum gm_dirty_client)c);
        if (t != (want != 0)) {
            find_diff(first, n, c, "test", want != 0, t);
        }
    }
}

/* Every page of every block, every client, one by one. */
static void full_check(void)
{
    for (int i = 0; i < MAXB && !S.failed; i++) {
        struct blk *b = &S.b[i];
        uint64_t first = b->ra / PG, n = pages_up(b->used);

        if (!b->live) {
            continue;
        }
        for (unsigned c = 0; c < NC && !S.failed; c++) {
            for (uint64_t p = first; p < first + n; p++) {
                bool lib = gm_dirty_test(S.sys, p * PG, 1,
                                         (enum gm_dirty_client)c);

                if (lib != S.m[c][p]) {
                    report("full check: page at ram_addr 0x%" PRIx64
                           " (page %" PRIu64 " of block %d), client %u: "
                           "model %d, library %d", p * PG, p - first, i, c,
                           S.m[c][p], lib);
                    diff_runs(p, first + n - p, c);
                    break;
                }
            }
        }
    }
}

/* Blocks. */

static void resized_cb(void *opaque, gm_region *r, uint64_t used_length)
{
    struct blk *b = opaque;

    if (r != b->r) {
        report("resized callback for the wrong region");
    }
    b->resized_to = used_length;
}

/* A region offset in one of b's write windows where size bytes fit. */
static bool pick_write(const struct blk *b, uint64_t size, uint64_t *off)
{
    uint64_t o = b->hot[below(NHOT)] + below(HOT_SPAN);

    if (b->used < size) {
        return false;
    }
    if (o > b->used - size) {
        o = b->used - size;
    }
    *off = o;
    return true;
}

static void cache_drop(struct blk *b)
{
    if (b->has_cache) {
        gm_cache_destroy(&b->cache);
        b->has_cache = false;
    }
}

/* A cache over a window of b: sometimes across a chunk or page edge. */
static void cache_make(struct blk *b)
{
    gm_error err = {0};
    uint64_t cl = 8 + below(HOT_SPAN - 8), cw;

    if (!b->mapped || b->used < 16) {
        return;
    }
    if (cl > b->used) {
        cl = b->used;
    }
    cw = b->hot[below(NHOT)] + below(HOT_SPAN - cl + 1);
    if (cw > b->used - cl) {
        cw = b->used - cl;
    }
    if (gm_cache_init(&b->cache, S.as, b->gpa + cw, cl, true, &err)) {
        report("gm_cache_init: %s", err.msg);
        return;
    }
    b->has_cache = true;
    b->cw = cw;
    b->cl = cl;
}

static void map_block(struct blk *b)
{
    gm_error err = {0};

    if (gm_region_add_subregion(S.root, b->gpa, b->r, &err)) {
        report("add_subregion: %s", err.msg);
        return;
    }
    b->mapped = true;
    /* Its range appears with its mask: all dirty for those clients. */
    model_set(b->ra / PG, pages_up(b->used), b->log);
}

static void unmap_block(struct blk *b)
{
    gm_error err = {0};

    cache_drop(b);
    if (gm_region_del_subregion(S.root, b->r, &err)) {
        report("del_subregion: %s", err.msg);
    }
    b->mapped = false;
}

enum bkind { BK_TINY, BK_SMALL, BK_BIG, BK_RESIZE, BK_MEMFD, NBK };

static void block_new(int i, enum bkind kind)
{
    struct blk *b = &S.b[i];
    struct gm_ram_opts o = {0};
    struct gm_ram_block_info info;
    gm_error err = {0};
    uint64_t size = 0, max;
    char name[32];

    memset(b, 0, sizeof(*b));
    o.backing = GM_RAM_ANON;
    o.flags = GM_RAM_NORESERVE;
    o.align = PG;
    switch (kind) {
    case BK_TINY:
        size = 1 + below(3 * PG);
        break;
    case BK_SMALL:
        size = PG * (16 + below(1024));
        size -= (rnd() & 1) ? below(PG) : 0;
        break;
    case BK_BIG:
        size = CHUNK + PG * below(1u << 17);
        size -= (rnd() & 1) ? below(PG) : 0;
        o.align = 0;
        break;
    case BK_RESIZE:
        max = (rnd() & 1) ? CHUNK + PG * below(1u << 17)
                          : PG * (16 + below(4096));
        max -= (rnd() & 1) ? below(PG) : 0;
        size = 1 + below(max);
        o.flags |= GM_RAM_RESIZEABLE;
        o.max_length = max;
        o.resized = resized_cb;
        o.resized_opaque = b;
        b->resizeable = true;
        break;
    case BK_MEMFD:
        o.backing = GM_RAM_MEMFD;
        size = PG * (16 + below(512));
        break;
    default:
        break;
    }
    snprintf(name, sizeof(name), "blk%d.%" PRIu64, i, S.opi);
    b->r = gm_region_new_ram_opts(S.sys, name, GM_REGION_RAM, size, &o, NULL,
                                  NULL, &err);
    if (!b->r) {
        report("gm_region_new_ram_opts(%" PRIu64 " bytes): %s", size,
               err.msg);
        return;
    }
    b->live = true;
    b->ra = gm_region_ram_addr(b->r);
    b->used = size;
    b->max = b->resizeable ? o.max_length : size;
    /*
     * Not at 0: a root whose only child sits at 0 resolves to that child
     * (QEMU's flat-view root rule), a new view state whose first view
     * marks all its logged RAM again, which this model does not follow.
     */
    b->gpa = (uint64_t)(i + 1) * SLOT;
    S.cur.blk = i;
    S.cur.ra = b->ra;
    S.cur.len = size;
    if (b->ra % WORD) {
        report("ram_addr 0x%" PRIx64 " is not aligned to 64 pages", b->ra);
        return;
    }
    if (gm_region_ram_info(b->r, &info) || info.offset != b->ra ||
        info.used_length != size || info.max_length != b->max) {
        report("gm_region_ram_info disagrees");
        return;
    }
    if (b->ra + b->max > S.max_extent) {
        S.max_extent = b->ra + b->max;
    }
    model_cover(pages_up(b->ra + b->max));
    /* A new block starts dirty for every client. */
    model_set(b->ra / PG, pages_up(size), ALL_CLIENTS);

    /* Write windows: the start, the end, a chunk edge, a word edge. */
    b->hot[0] = 0;
    b->hot[1] = b->max > HOT_SPAN ? b->max - HOT_SPAN : 0;
    b->hot[2] = CHUNK - b->ra % CHUNK;
    b->hot[2] = b->hot[2] < b->max ? b->hot[2] - HOT_SPAN / 2 : below(b->max);
    b->hot[3] = WORD * (1 + below(b->max / WORD + 1)) - HOT_SPAN / 2;
    b->hot[3] = b->hot[3] < b->max ? b->hot[3] : below(b->max);
    b->hot[4] = below(b->max) & ~(PG - 1);
    b->hot[5] = below(b->max);

    /* Some clients logged before it is mapped. */
    for (unsigned c = 0; c < NC; c++) {
        if (below(4) == 0) {
            if (gm_region_set_log(b->r, true, (enum gm_dirty_client)c,
                                  &err)) {
                report("set_log: %s", err.msg);
                return;
            }
            b->log |= (uint8_t)(1u << c);
        }
    }
    if (below(4) != 0) {
        map_block(b);
        cache_make(b);
    }
}

static void block_free(int i)
{
    struct blk *b = &S.b[i];

    if (b->mapped) {
        unmap_block(b);
    }
    gm_region_unref(b->r);
    b->live = false;
    b->r = NULL;
}

/* A random live block (-1: none), mapped only if asked. */
static int pick_block(bool mapped)
{
    int live[MAXB], n = 0;

    for (int i = 0; i < MAXB; i++) {
        if (S.b[i].live && (!mapped || S.b[i].mapped)) {
            live[n++] = i;
        }
    }
    return n ? live[below((uint64_t)n)] : -1;
}

/*
 * A byte range inside b's used memory, as a ram_addr range: mostly small,
 * often across a bitmap word or chunk edge, now and then all of it.
 */
static void pick_range(const struct blk *b, uint64_t *ra, uint64_t *len)
{
    uint64_t used = b->used, start, l, k = below(1024);

    if (k == 0) {
        start = 0;
        l = used;
    } else if (k < 400) {
        start = below(used);
        l = 1 + below(3 * PG);
    } else if (k < 650) {
        start = below(used);
        l = 1 + below(256 * PG);
    } else if (k < 800) {
        /* Across a word edge. */
        uint64_t e = WORD * (1 + below(used / WORD + 1));

        start = e > 70 * PG ? e - below(70 * PG) : 0;
        l = 1 + below(140 * PG);
    } else if (k < 950) {
        /* Across the chunk edge, when the block has one. */
        uint64_t e = CHUNK - b->ra % CHUNK;

        if (e >= used) {
            e = used / 2;
        }
        start = e > 300 * PG ? e - below(300 * PG) : 0;
        l = 1 + below(600 * PG);
    } else {
        start = below(used);
        l = 1 + below(16384 * PG);
    }
    if (start >= used) {
        start = used - 1;
    }
    if (l > used - start) {
        l = used - start;
    }
    *ra = b->ra + start;
    *len = l;
}

/* The operations. */

static void op_set(struct blk *b)
{
    gm_error err = {0};
    unsigned mask = (unsigned)below(1u << NC);
    uint64_t first, n;

    pick_range(b, &S.cur.ra, &S.cur.len);
    S.cur.mask = mask;
    if (gm_dirty_set(S.sys, S.cur.ra, S.cur.len, mask, &err)) {
        report("gm_dirty_set failed: %s", err.msg);
        return;
    }
    pages_of(S.cur.ra, S.cur.len, &first, &n);
    model_set(first, n, mask);
    check_pages(first, n, ALL_CLIENTS);
}

static void op_clear(struct blk *b)
{
    gm_error err = {0};
    unsigned c = (unsigned)below(NC);
    uint64_t first, n;

    pick_range(b, &S.cur.ra, &S.cur.len);
    S.cur.client = c;
    if (gm_dirty_clear(S.sys, S.cur.ra, S.cur.len, (enum gm_dirty_client)c,
                       &err)) {
        report("gm_dirty_clear failed: %s", err.msg);
        return;
    }
    pages_of(S.cur.ra, S.cur.len, &first, &n);
    memset(S.m[c] + first, 0, n * sizeof(bool));
    check_pages(first, n, ALL_CLIENTS);
}

static void op_snap(struct blk *b)
{
    gm_error err = {0};
    unsigned c = (unsigned)below(NC);
    uint64_t first, n, want, a;
    gm_dirty_snapshot *s;

    pick_range(b, &S.cur.ra, &S.cur.len);
    S.cur.client = c;
    pages_of(S.cur.ra, S.cur.len, &first, &n);
    want = model_count(first, n, c);
    s = gm_dirty_snapshot_and_clear(S.sys, S.cur.ra, S.cur.len,
                                    (enum gm_dirty_client)c, &err);
    if (!s) {
        report("gm_dirty_snapshot_and_clear failed: %s", err.msg);
        return;
    }
    if (gm_dirty_snapshot_count(s) != want) {
        report("snapshot count %" PRIu64 ", model %" PRIu64,
               gm_dirty_snapshot_count(s), want);
    }
    /*
     * Walk it: exactly the model's dirty pages, in order. The address
     * given to gm_dirty_snapshot_next() stands for the page holding it
     * (it returns that page when dirty, as the library does).
     */
    a = gm_dirty_snapshot_next(s, S.cur.ra);
    for (uint64_t p = first; p < first + n && !S.failed; p++) {
        bool in = gm_dirty_snapshot_test(s, p * PG, PG);

        if (in != S.m[c][p]) {
            report("snapshot_test of the page at ram_addr 0x%" PRIx64
                   ": model %d, snapshot %d", p * PG, S.m[c][p], in);
        } else if (S.m[c][p]) {
            if (a != p * PG) {
                report("snapshot_next gave 0x%" PRIx64 ", model's next "
                       "dirty page is at 0x%" PRIx64, a, p * PG);
            }
            a = gm_dirty_snapshot_next(s, (p + 1) * PG + below(PG));
        }
    }
    if (!S.failed && a != GM_RAM_ADDR_INVALID) {
        report("snapshot_next gave 0x%" PRIx64 " past the model's last "
               "dirty page", a);
    }
    /* Random sub-ranges, and ranges reaching outside it. */
    for (int k = 0; k < 4 && !S.failed; k++) {
        uint64_t lo = first + below(n), hi = lo + below(first + n - lo);
        bool got = gm_dirty_snapshot_test(s, lo * PG + below(PG),
                                          (hi - lo) * PG + 1);

        if (got != (model_count(lo, hi - lo + 1, c) != 0)) {
            report("snapshot_test of pages 0x%" PRIx64 "..0x%" PRIx64
                   ": %d", lo * PG, hi * PG, got);
        }
    }
    /* Outside its range it holds nothing; a range reaching in sees in. */
    if (!S.failed && ((first > 0 && gm_dirty_snapshot_test(s, 0, first * PG)) ||
                      gm_dirty_snapshot_test(s, (first + n) * PG, PG))) {
        report("snapshot_test outside the snapshot's range is true");
    }
    if (!S.failed && first > 0 &&
        gm_dirty_snapshot_test(s, (first - 1) * PG, 2 * PG) !=
            S.m[c][first]) {
        report("snapshot_test of a range starting before it");
    }
    gm_dirty_snapshot_free(s);
    memset(S.m[c] + first, 0, n * sizeof(bool));
    if (!S.failed && gm_dirty_count(S.sys, S.cur.ra, S.cur.len,
                                    (enum gm_dirty_client)c) != 0) {
        report("the range is not clear after the snapshot");
    }
    check_pages(first, n, ALL_CLIENTS);
}

static void op_query(struct blk *b, bool count)
{
    unsigned c = (unsigned)below(NC);
    uint64_t first, n, want;

    pick_range(b, &S.cur.ra, &S.cur.len);
    S.cur.client = c;
    pages_of(S.cur.ra, S.cur.len, &first, &n);
    want = model_count(first, n, c);
    if (count) {
        uint64_t got = gm_dirty_count(S.sys, S.cur.ra, S.cur.len,
                                      (enum gm_dirty_client)c);
        if (got != want) {
            find_diff(first, n, c, "count", want, got);
        }
    } else {
        bool got = gm_dirty_test(S.sys, S.cur.ra, S.cur.len,
                                 (enum gm_dirty_client)c);
        if (got != (want != 0)) {
            find_diff(first, n, c, "test", want != 0, got);
        }
    }
}

static void op_merge(struct blk *b)
{
    static uint64_t bits[MERGE_MAX / 64 + 1];
    gm_error err = {0};
    unsigned mask = (unsigned)below(1u << NC);
    uint64_t used_pages = pages_up(b->used), start, np, dens = below(5);

    if (below(3) == 0 && b->ra % CHUNK + b->used > CHUNK) {
        uint64_t e = (CHUNK - b->ra % CHUNK) / PG;

        start = e - below(e < MERGE_MAX / 2 ? e : MERGE_MAX / 2);
    } else {
        start = below(used_pages);
    }
    np = 1 + below(MERGE_MAX);
    if (np > used_pages - start) {
        np = used_pages - start;
    }
    for (uint64_t w = 0; w < (np + 63) / 64; w++) {
        switch (dens) {
        case 0: bits[w] = 0; break;
        case 1: bits[w] = rnd() & rnd() & rnd(); break;
        case 2: bits[w] = rnd(); break;
        case 3: bits[w] = rnd() | rnd(); break;
        default: bits[w] = ~0ull; break;
        }
    }
    S.cur.ra = b->ra + start * PG;
    S.cur.len = np * PG;
    S.cur.mask = mask;
    if (gm_dirty_merge(S.sys, S.cur.ra, np, bits, mask, &err)) {
        report("gm_dirty_merge failed: %s", err.msg);
        return;
    }
    for (uint64_t i = 0; i < np; i++) {
        if (bits[i / 64] >> (i % 64) & 1) {
            model_set(S.cur.ra / PG + i, 1, mask);
        }
    }
    check_pages(S.cur.ra / PG, np, ALL_CLIENTS);
}

/* b's region bytes [off, off + len) were written through the API. */
static void written(const struct blk *b, uint64_t off, uint64_t len)
{
    uint64_t first, n;

    S.cur.ra = b->ra + off;
    S.cur.len = len;
    S.cur.mask = b->log;
    if (!len) {
        return;
    }
    pages_of(b->ra + off, len, &first, &n);
    model_set(first, n, b->log);
    check_pages(first, n, ALL_CLIENTS);
}

static const unsigned sizes[4] = {1, 2, 4, 8};

static void op_store(struct blk *b)
{
    unsigned size = sizes[below(4)];
    uint64_t off;
    enum gm_result res;

    if (!pick_write(b, size, &off)) {
        return;
    }
    res = gm_space_store(S.as, b->gpa + off, size,
                         (rnd() & 1) ? GM_ENDIAN_BIG : GM_ENDIAN_LITTLE,
                         rnd(), GM_ATTRS_DEFAULT);
    if (res != GM_RESULT_OK) {
        report("gm_space_store: result %d", (int)res);
        return;
    }
    written(b, off, size);
}

static void op_cache(struct blk *b)
{
    unsigned size = sizes[below(4)];
    uint64_t off, v;
    enum gm_result res;

    if (!b->has_cache) {
        cache_make(b);
        return;
    }
    if (below(8) == 0) {
        uint8_t buf[64];
        uint64_t len = 1 + below(b->cl < 64 ? b->cl : 64);

        off = below(b->cl - len + 1);
        for (uint64_t i = 0; i < len; i++) {
            buf[i] = (uint8_t)rnd();
        }
        S.cur.what = "(gm_cache_write)";
        res = gm_cache_write(&b->cache, off, buf, len);
        if (res != GM_RESULT_OK) {
            report("gm_cache_write: result %d", (int)res);
            return;
        }
        written(b, b->cw + off, len);
        return;
    }
    if (size > b->cl) {
        size = 1;
    }
    off = below(b->cl - size + 1);
    v = rnd();
    S.cur.what = gm_cache_is_direct(&b->cache) ? "(inline)" : "(slow)";
    res = gm_cache_store(&b->cache, off, size, GM_ENDIAN_LITTLE, v);
    if (res != GM_RESULT_OK) {
        report("gm_cache_store: result %d", (int)res);
        return;
    }
    written(b, b->cw + off, size);
    if (!S.failed) {
        uint64_t back = 0;

        res = gm_cache_load(&b->cache, off, size, GM_ENDIAN_LITTLE, &back);
        if (res != GM_RESULT_OK ||
            back != (size == 8 ? v : v & ((1ull << (8 * size)) - 1))) {
            report("gm_cache_load after a store: result %d, 0x%" PRIx64,
                   (int)res, back);
        }
    }
}

static void op_write(struct blk *b)
{
    static uint8_t buf[3 * PG];
    uint64_t len = 1 + below(sizeof(buf)), off;
    enum gm_result res;

    if (len > b->used) {
        len = b->used;
    }
    if (!pick_write(b, len, &off)) {
        return;
    }
    for (uint64_t i = 0; i < len; i += 8) {
        buf[i] = (uint8_t)rnd();
    }
    res = gm_space_write(S.as, b->gpa + off, buf, len, GM_ATTRS_DEFAULT);
    if (res != GM_RESULT_OK) {
        report("gm_space_write: result %d", (int)res);
        return;
    }
    written(b, off, len);
}

static void op_dma(struct blk *b)
{
    uint64_t len = 1 + below(3 * PG), off, plen, acc;
    uint8_t *p;

    if (len > b->used) {
        len = b->used;
    }
    if (!pick_write(b, len, &off)) {
        return;
    }
    plen = len;
    p = gm_space_map(S.as, b->gpa + off, &plen, true, GM_ATTRS_DEFAULT);
    if (!p || plen == 0 || plen > len) {
        report("gm_space_map of RAM: %p, %" PRIu64 " bytes of %" PRIu64,
               (void *)p, plen, len);
        return;
    }
    acc = below(plen + 1);
    memset(p, (int)(rnd() & 0xff), acc);
    gm_space_unmap(S.as, p, plen, true, acc);
    written(b, off, acc);
}

static void op_discard(struct blk *b)
{
    gm_error err = {0};
    uint64_t full = b->used / PG, off, len, first;
    const uint8_t *host = gm_region_ram_ptr(b->r);

    if (!full) {
        return;
    }
    if (below(2)) {
        /* Over a write window: the memory written there goes back. */
        off = (b->hot[below(NHOT)] / PG) * PG;
        if (off / PG >= full) {
            off = (full - 1) * PG;
        }
        len = HOT_SPAN;
    } else {
        off = below(full) * PG;
        len = PG * (1 + below(512));
    }
    if (len > (full - off / PG) * PG) {
        len = (full - off / PG) * PG;
    }
    S.cur.ra = b->ra + off;
    S.cur.len = len;
    if (gm_region_ram_discard(b->r, off, len, &err)) {
        report("gm_region_ram_discard: %s", err.msg);
        return;
    }
    first = (b->ra + off) / PG;
    model_set(first, len / PG, ALL_CLIENTS);
    check_pages(first, len / PG, ALL_CLIENTS);
    {
        uint64_t at = off + below(len);

        if (host[at] != 0) {
            report("byte 0x%" PRIx64 " of the block reads 0x%02x after the "
                   "discard", at, host[at]);
        }
    }
}

static void op_log(struct blk *b)
{
    gm_error err = {0};
    unsigned c = (unsigned)below(NC);
    bool on = !(b->log & (1u << c));

    S.cur.client = c;
    S.cur.what = on ? "(start)" : "(stop)";
    S.cur.ra = b->ra;
    S.cur.len = b->used;
    if (gm_region_set_log(b->r, on, (enum gm_dirty_client)c, &err)) {
        report("gm_region_set_log: %s", err.msg);
        return;
    }
    b->log ^= (uint8_t)(1u << c);
    if (on && b->mapped) {
        model_set(b->ra / PG, pages_up(b->used), 1u << c);
    }
    check_pages(b->ra / PG, pages_up(b->used), 1u << c);
}

static void op_map(struct blk *b)
{
    S.cur.what = b->mapped ? "(unmap)" : "(map)";
    S.cur.ra = b->ra;
    S.cur.len = b->used;
    S.cur.mask = b->log;
    if (b->mapped) {
        unmap_block(b);
    } else {
        map_block(b);
        cache_make(b);
    }
    check_pages(b->ra / PG, pages_up(b->used), ALL_CLIENTS);
}

static void op_resize(struct blk *b)
{
    gm_error err = {0};
    uint64_t nu, old_end = pages_up(b->used), new_end, k = below(4);

    if (k == 0) {
        nu = PG * (1 + below(b->max / PG)); /* whole pages */
    } else if (k == 1) {
        nu = b->used + below(8 * PG) - 4 * PG; /* near the old size */
    } else {
        nu = 1 + below(b->max);
    }
    if (nu == 0 || nu > b->max || nu == b->used) {
        nu = b->used == b->max ? b->max / 2 + 1 : b->max;
    }
    if (nu == b->used) {
        return;
    }
    S.cur.ra = b->ra;
    S.cur.len = nu;
    S.cur.mask = b->log;
    /* Beyond max_length: refused, nothing changes. */
    if (gm_region_ram_resize(b->r, b->max + 1 + below(PG), NULL) != -EINVAL ||
        gm_region_size(b->r) != b->used) {
        report("a resize past max_length was not refused");
        return;
    }
    if (b->has_cache && b->cw + b->cl > nu) {
        cache_drop(b);
    }
    b->resized_to = 0;
    if (gm_region_ram_resize(b->r, nu, &err)) {
        report("gm_region_ram_resize(%" PRIu64 "): %s", nu, err.msg);
        return;
    }
    if (b->resized_to != nu || gm_region_size(b->r) != nu) {
        report("after the resize to %" PRIu64 ": callback saw %" PRIu64
               ", region size %" PRIu64, nu, b->resized_to,
               (uint64_t)gm_region_size(b->r));
        return;
    }
    new_end = pages_up(nu);
    if (new_end > old_end) {
        model_set(b->ra / PG + old_end, new_end - old_end, ALL_CLIENTS);
    }
    if (b->mapped) {
        /* Its range was re-added with its mask. */
        model_set(b->ra / PG, new_end, b->log);
    }
    b->used = nu;
    check_pages(b->ra / PG, new_end, ALL_CLIENTS);
}

static void op_add(void)
{
    int i;

    for (i = 2; i < MAXB && S.b[i].live; i++) {
    }
    if (i == MAXB) {
        return;
    }
    S.cur.blk = i;
    block_new(i, (enum bkind)below(NBK));
    if (!S.failed) {
        check_pages(S.b[i].ra / PG, pages_up(S.b[i].used), ALL_CLIENTS);
    }
}

static void op_del(void)
{
    int i = pick_block(false);

    if (i < 0 || S.b[i].permanent) {
        return;
    }
    S.cur.blk = i;
    block_free(i);
}

static enum opk pick_op(void)
{
    uint64_t x = below(10000), acc = 0;

    for (int k = 0; k < NOPK; k++) {
        acc += weight[k];
        if (x < acc) {
            return (enum opk)k;
        }
    }
    return OP_SET;
}

static void run_one(void)
{
    enum opk k = pick_op();
    int i;
    struct blk *b;

    S.cur = (struct op){.k = k, .blk = -1};
    switch (k) {
    case OP_ADD:
        op_add();
        S.count[k]++;
        return;
    case OP_DEL:
        op_del();
        S.count[k]++;
        return;
    default:
        break;
    }
    i = pick_block(k == OP_STORE || k == OP_CACHE || k == OP_WRITE ||
                   k == OP_DMA);
    if (i < 0) {
        return;
    }
    b = &S.b[i];
    S.cur.blk = i;
    S.count[k]++;
    switch (k) {
    case OP_SET: op_set(b); break;
    case OP_CLEAR: op_clear(b); break;
    case OP_SNAP: op_snap(b); break;
    case OP_TEST: op_query(b, false); break;
    case OP_COUNT: op_query(b, true); break;
    case OP_MERGE: op_merge(b); break;
    case OP_STORE: op_store(b); break;
    case OP_CACHE: op_cache(b); break;
    case OP_WRITE: op_write(b); break;
    case OP_DMA: op_dma(b); break;
    case OP_DISCARD: op_discard(b); break;
    case OP_LOG: op_log(b); break;
    case OP_MAP: op_map(b); break;
    case OP_RESIZE:
        if (b->resizeable) {
            op_resize(b);
        }
        break;
    default: break;
    }
}

static void test_model(void)
{
    gm_error err = {0};

    S.sys = gm_system_new(&err);
    CHECK(S.sys != NULL);
    if (!S.sys) {
        return;
    }
    gm_system_set_warn_handler(S.sys, NULL, NULL);
    S.root = gm_region_new_container(S.sys, "root", (gm_u128)1 << 48, &err);
    S.as = gm_space_new(S.sys, S.root, "memory", &err);
    CHECK(S.root && S.as);

    S.cur = (struct op){.k = OP_ADD, .blk = 0};
    block_new(0, BK_BIG);
    S.b[0].permanent = true;
    S.cur = (struct op){.k = OP_ADD, .blk = 1};
    do {
        if (S.b[1].live) {
            block_free(1);
        }
        block_new(1, BK_RESIZE);
    } while (!S.failed && S.b[1].max <= CHUNK);
    S.b[1].permanent = true;
    for (int i = 2; i < 5 && !S.failed; i++) {
        S.cur = (struct op){.k = OP_ADD, .blk = i};
        block_new(i, (enum bkind)below(NBK));
    }
    if (!S.failed && !S.b[0].mapped) {
        map_block(&S.b[0]);
        cache_make(&S.b[0]);
    }

    for (S.opi = 0; S.opi < S.nops && !S.failed; S.opi++) {
        run_one();
        if (((S.opi + 1) % FULL_EVERY == 0 || S.opi >= S.check_from) &&
            !S.failed) {
            full_check(); /* after S.cur: a failure names it */
            S.count[OP_FULL]++;
        }
    }
    if (!S.failed) {
        S.cur = (struct op){.k = OP_FULL, .blk = -1};
        full_check();
    }
    CHECK(S.chunk_crossing > 0);
    printf("# %" PRIu64 " operations; ranges checked across a chunk edge: %"
           PRIu64 "; ram_addr space used up to 0x%" PRIx64 "\n#",
           S.opi, S.chunk_crossing, S.max_extent);
    for (int k = 0; k < NOPK; k++) {
        printf(" %s %" PRIu64 "%s", opname[k], S.count[k],
               k + 1 < NOPK ? "," : "\n");
    }

    for (int i = 0; i < MAXB; i++) {
        if (S.b[i].live) {
            block_free(i);
        }
    }
    gm_region_unref(S.root);
    CHECK_EQ_INT(gm_space_destroy(S.as, NULL), 0);
    CHECK_EQ_INT(gm_system_destroy(S.sys, NULL), 0);
    for (unsigned c = 0; c < NC; c++) {
        free(S.m[c]);
    }
}

/*
 * Logging that starts on a range marks it all dirty, also when the range
 * is in the first view of a view state (rendered whole, without a diff):
 * the first region mapped under an empty root, and a new space over a
 * logged RAM region. Both used to leave the bits clean.
 */
static void test_first_view_marks_logged_ram(void)
{
    gm_system *sys = gm_system_new(NULL);
    gm_region *root = gm_region_new_container(sys, "root", (gm_u128)1 << 40,
                                              NULL);
    gm_space *as = gm_space_new(sys, root, "memory", NULL);
    gm_region *r = gm_region_new_ram(sys, "r", 1 << 20, NULL);
    uint64_t ra = gm_region_ram_addr(r);
    gm_space *as2;

    CHECK_EQ_INT(gm_region_set_log(r, true, GM_DIRTY_VGA, NULL), 0);
    CHECK_EQ_INT(gm_dirty_clear(sys, ra, 1 << 20, GM_DIRTY_VGA, NULL), 0);
    /* The root rendered nothing: r is the first range of a new view. */
    CHECK_EQ_INT(gm_region_add_subregion(root, 0x1000, r, NULL), 0);
    CHECK_EQ_U64(gm_dirty_count(sys, ra, 1 << 20, GM_DIRTY_VGA), 256);
    CHECK_EQ_U64(gm_dirty_count(sys, ra, 1 << 20, GM_DIRTY_CODE), 256);

    /* Out of every view, clean; then the root of a new space. */
    CHECK_EQ_INT(gm_region_del_subregion(root, r, NULL), 0);
    CHECK_EQ_INT(gm_dirty_clear(sys, ra, 1 << 20, GM_DIRTY_VGA, NULL), 0);
    CHECK_EQ_INT(gm_dirty_clear(sys, ra, 1 << 20, GM_DIRTY_CODE, NULL), 0);
    as2 = gm_space_new(sys, r, "r", NULL);
    CHECK(as2 != NULL);
    CHECK_EQ_U64(gm_dirty_count(sys, ra, 1 << 20, GM_DIRTY_VGA), 256);
    /* Only the clients it logs. */
    CHECK_EQ_U64(gm_dirty_count(sys, ra, 1 << 20, GM_DIRTY_CODE), 0);

    CHECK_EQ_INT(gm_space_destroy(as2, NULL), 0);
    CHECK_EQ_INT(gm_space_destroy(as, NULL), 0);
    gm_region_unref(r);
    gm_region_unref(root);
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
}

int main(int argc, char **argv)
{
    S.seed = 1;
    S.nops = 1000000;
    S.check_from = UINT64_MAX;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
            S.seed = strtoull(argv[++i], NULL, 0);
        } else if (!strcmp(argv[i], "--ops") && i + 1 < argc) {
            S.nops = strtoull(argv[++i], NULL, 0);
        } else if (!strcmp(argv[i], "--check-from") && i + 1 < argc) {
            S.check_from = strtoull(argv[++i], NULL, 0);
        } else {
            fprintf(stderr, "usage: %s [--seed N] [--ops N] "
                    "[--check-from OP]\n", argv[0]);
            return 2;
        }
    }
    printf("# seed %" PRIu64 ", %" PRIu64 " operations\n", S.seed, S.nops);
    fflush(stdout);
    rng = S.seed;
    RUN(test_first_view_marks_logged_ram);
    RUN(test_model);
    return harness_done();
}
