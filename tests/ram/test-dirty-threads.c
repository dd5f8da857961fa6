/* SPDX-License-Identifier: MIT */
/*
 * test-dirty-threads.c - no dirty bit is lost: writers, a snapshotting
 * consumer and a thread changing the RAM blocks, all at once.
 *
 * Four writer threads write RAM through the access path: gm_space_store(),
 * gm_space_write(), access caches (gm_cache_store(), inline or not) and,
 * on the fourth thread, DMA maps unmapped with is_write. Every region is
 * logged for GM_DIRTY_MIGRATION. The main thread is the consumer: it takes
 * gm_dirty_snapshot_and_clear() of the whole ram_addr space and accounts
 * every page it collects, while a control thread adds RAM blocks (mapped,
 * logged; every third one reserving 1 GiB of ram_addr space, so that the
 * bitmaps' chunk table grows under the writers) and resizes a resizeable
 * block (gm_region_ram_resize()).
 *
 * The run is cut into rounds separated by barriers. In round r every page
 * of the blocks made before r is written at most once, by one writer, at
 * an offset and with a value (a "tag") that are a function of the seed,
 * r, the block and the page, so every thread knows them. Bits are clear at
 * the start of a round (the consumer took them all at the end of the one
 * before), and the control thread only dirties blocks it makes or resizes
 * in that round, so for the other blocks ("exact" ones) the accounting is
 * exact: a page written in r is collected exactly once in r (in the union
 * of the snapshots taken after its write, up to and including the one
 * after the round's closing barrier), a page not written is not collected
 * at all, and the number of pages written equals the number collected.
 * The pages the control thread dirties are checked as the headers promise
 * (a new block collected whole; pages a resize adds collected; nothing
 * beyond the largest length the round gave the block). The resizeable
 * block's first RZ_MIN pages are written in every round, also while it is
 * resized (its caches then resolve again); in the rounds that resize it,
 * its written pages must be collected, but not exactly once.
 *
 * Three tests:
 *  - test_barrier_rounds: the consumer takes one snapshot per round, after
 *    the writers are done; the control thread still runs during the writes;
 *  - test_racing_rounds: the consumer takes snapshot after snapshot while
 *    the writers write (a write lands right as its bit is taken), then one
 *    after the closing barrier; still exact;
 *  - test_racing_rewrites: the same, but every written page is written
 *    twice in its round (a provisional value, then the tag), so the second
 *    write often finds its bit already set and skips the atomic: the
 *    test-first path that the membarrier() in src/dirty/bitmap.c makes safe.
 *    A page may then be collected once or twice in the round.
 *
 * The data: whenever the consumer collects a page written in the round it
 * reads the page at once (in the racing tests, while the writers still
 * write others) and must see the tag: once the snapshot returns, the data
 * of every write it took is visible. With rewrites, the read made at a
 * page's last collection in the round must show the final tag (what a
 * migration sends last is what the page holds). At the end of each round
 * every written page is read again.
 *
 * ThreadSanitizer cannot see the ordering membarrier() gives, so under it
 * the rewrite test does not read pages in mid-round: those reads race, in
 * the C11 sense, with the writes that skipped their set (and with second
 * writes still under way, which a migration tolerates by sending the page
 * again); its bit accounting and the end-of-round reads stay. In the other
 * tests a page is written once per round, with its bit clear, so the write
 * sets it with an atomic fetch-or, which the snapshot's atomic exchange
 * reads: the consumer's read is ordered after the write, for TSan too.
 *
 * Fixed seed, printed (--seed N); --rounds N (default 48 per test). No
 * sleeps: threads meet at barriers; the racing consumer snapshots until
 * the others have counted themselves done.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <string.h>

#include <guestmem/guestmem.h>

#include "harness.h"

#if defined(__SANITIZE_THREAD__)
#define TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TEST_TSAN 1
#endif
#endif

#define PAGE 4096ull
#define GIB (1ull << 30)

enum {
    NW = 4,             /* writer threads */
    NTHREADS = NW + 2,  /* + the control thread + the consumer (main) */
    MAX_BLOCKS = 64,
    MAX_NEW = 16,       /* blocks the control thread adds, at most */
    RZ_MIN = 128,       /* pages the resizeable block always has */
    RZ_MAX = 512,       /* pages it may grow to in the run */
    BIG_USED = 96,      /* pages used of a block reserving 1 GiB */
    MAX_FAIL_LINES = 12,
};

enum method { M_STORE, M_WRITE, M_CACHE, M_DMA };

enum mode { BARRIER, RACING, REWRITES };

static uint64_t opt_seed = 20240611;
static int opt_rounds = 48;

struct blk {
    gm_region *region;
    int id;
    int born;           /* round the control thread made it in; -1: before */
    bool rz;            /* the resizeable block the control thread resizes */
    uint64_t ram;       /* ram_addr */
    uint64_t gpa;       /* where it is mapped */
    uint64_t npages;    /* pages the writers write: [0, npages) */
    uint64_t used;      /* pages at birth */
    uint64_t max_pages; /* pages of ram_addr space reserved */
    uint8_t *host;
    /* The consumer's, per round: collections of each page, and whether
     * the read at the last one showed the tag. */
    uint8_t *seen;
    uint8_t *last_ok;
    uint64_t hi;        /* seen[] is zero from here on */
};

struct ctx {
    enum mode mode;
    int rounds;
    gm_system *sys;
    gm_space *as;
    gm_region *root;
    struct blk blk[MAX_BLOCKS];
    _Atomic int nblocks; /* published blocks (release by the creator) */
    int targets[MAX_BLOCKS], ntargets; /* blocks written this round */
    pthread_barrier_t start, end;
    atomic_int done; /* writers and control done with the round */

    /* Control thread, read by the consumer after the closing barrier. */
    uint64_t rz_len;     /* pages */
    uint64_t rz_allowed; /* largest length this round's resizes gave */
    uint64_t grown_lo[2], grown_hi[2];
    int ngrown;
    int nnew;

    /* Failures of the other threads (the harness is not thread-safe). */
    pthread_mutex_t fail_lock;
    long thread_fails;
    char fail_msg[4][256];

    /* The consumer's. */
    uint64_t *pending; /* pages of blocks not yet published */
    size_t npending, cap_pending;
    long main_fails;
    uint64_t written, collected_exact, mid_collected, mid_written;
    uint64_t snapshots;
    uint64_t distinct, growths;
};

/* splitmix64's finaliser. */
static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t hash4(uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
    return mix(opt_seed ^ mix(a ^ mix(b ^ mix(c ^ mix(d)))));
}

/* What happens to page p of block id in round r. */
struct sched {
    bool written;
    int writer;
    enum method method;
    unsigned words; /* 8-byte words written: 1 or 8 */
    uint64_t off;   /* byte offset in the page */
    uint64_t tag;
};

static struct sched sched_of(int r, int id, uint64_t p)
{
    uint64_t h = hash4(1, (uint64_t)r, (uint64_t)id, p);
    struct sched s;

    s.written = (h & 0xff) < 160;
    s.writer = (int)((h >> 8) & (NW - 1));
    s.method = (enum method)((h >> 16) % (s.writer == NW - 1 ? 4 : 3));
    s.words = s.method == M_WRITE || s.method == M_DMA ? 8 : 1;
    s.off = ((h >> 24) % 505) * 8; /* 504 * 8 + 64 == 4096 */
    s.tag = mix(h) | 1;
    return s;
}

static void thread_fail(struct ctx *c, const char *fmt, ...)
{
    va_list ap;

    pthread_mutex_lock(&c->fail_lock);
    if (c->thread_fails < 4) {
        va_start(ap, fmt);
        vsnprintf(c->fail_msg[c->thread_fails], sizeof(c->fail_msg[0]), fmt,
                  ap);
        va_end(ap);
    }
    c->thread_fails++;
    pthread_mutex_unlock(&c->fail_lock);
}

/* A failed check of the consumer: print the first few, count them all. */
#define MAIN_FAIL(c, ...)                                                      \
    do {                                                                       \
        if ((c)->main_fails++ < MAX_FAIL_LINES) {                              \
            HARNESS_FAIL(__VA_ARGS__);                                         \
        } else {                                                               \
            harness_cur_failed++;                                              \
        }                                                                      \
    } while (0)

/* Publish block b (its fields set) to the other threads. */
static void publish(struct ctx *c, struct blk *b)
{
    b->seen = calloc(b->max_pages, 1);
    b->last_ok = calloc(b->npages, 1);
    if (!b->seen || !b->last_ok) {
        abort();
    }
    atomic_store_explicit(&c->nblocks, b->id + 1, memory_order_release);
}

/*
 * Make a RAM block of used pages (reserving max_pages), logged and mapped
 * at gpa; log_first: start logging before mapping it rather than after.
 */
static struct blk *make_block(struct ctx *c, int born, const char *name,
                              uint64_t used, uint64_t max_pages,
                              enum gm_ram_backing backing, uint64_t gpa,
                              bool log_first, gm_error *err)
{
    int id = atomic_load_explicit(&c->nblocks, memory_order_relaxed);
    struct blk *b = &c->blk[id];
    struct gm_ram_opts o = {0};
    struct gm_ram_block_info info;

    o.backing = backing;
    if (max_pages > used) {
        o.flags = GM_RAM_RESIZEABLE | GM_RAM_NORESERVE;
        o.max_length = max_pages * PAGE;
    }
    memset(b, 0, sizeof(*b));
    b->id = id;
    b->born = born;
    b->gpa = gpa;
    b->used = used;
    b->npages = used;
    b->max_pages = max_pages;
    b->region = gm_region_new_ram_opts(c->sys, name, GM_REGION_RAM,
                                       used * PAGE, &o, NULL, NULL, err);
    if (!b->region) {
        return NULL;
    }
    if ((log_first &&
         gm_region_set_log(b->region, true, GM_DIRTY_MIGRATION, err)) ||
        gm_region_add_subregion(c->root, gpa, b->region, err) ||
        (!log_first &&
         gm_region_set_log(b->region, true, GM_DIRTY_MIGRATION, err)) ||
        gm_region_ram_info(b->region, &info) ||
        info.offset != gm_region_ram_addr(b->region) || !info.host ||
        (info.offset & (PAGE - 1))) {
        if (!err->code) {
            snprintf(err->msg, sizeof(err->msg), "block %s: bad info",
                     name);
        }
        if (gm_region_container(b->region)) {
            gm_region_del_subregion(c->root, b->region, NULL);
        }
        gm_region_unref(b->region);
        return NULL;
    }
    b->ram = info.offset;
    b->host = info.host;
    return b;
}

/* The end of the ram_addr space: of every block's reservation. */
static int end_cb(const struct gm_ram_block_info *info, void *opaque)
{
    uint64_t *end = opaque;
    uint64_t e = info->offset + ((info->max_length + PAGE - 1) & ~(PAGE - 1));

    if (e > *end) {
        *end = e;
    }
    return 0;
}

static struct blk *find_block(struct ctx *c, int n, uint64_t ram)
{
    for (int i = 0; i < n; i++) {
        struct blk *b = &c->blk[i];

        if (ram >= b->ram && ram < b->ram + b->max_pages * PAGE) {
            return b;
        }
    }
    return NULL;
}

static bool is_target(const struct ctx *c, const struct blk *b, int r)
{
    return b->born < r;
}

/* Whether the control thread dirties b in round r. */
static bool control_dirties(const struct blk *b, int r)
{
    return b->born == r || (b->rz && (r & 1));
}

/* Whether page p of b holds the words of s with value v. */
static bool page_holds(const struct blk *b, uint64_t p,
                       const struct sched *s, uint64_t v)
{
    const uint8_t *at = b->host + p * PAGE + s->off;

    for (unsigned i = 0; i < s->words; i++) {
        uint64_t w;

        memcpy(&w, at + 8 * i, 8);
        if (w != v + i) {
            return false;
        }
    }
    return true;
}

/* Account page p of b collected in round r; read it when it was written. */
static void record(struct ctx *c, struct blk *b, uint64_t p, int r,
                   bool final)
{
    struct sched s;

    if (b->seen[p] < 255) {
        b->seen[p]++;
    }
    if (p + 1 > b->hi) {
        b->hi = p + 1;
    }
    if (!is_target(c, b, r) || control_dirties(b, r) || p >= b->npages) {
        return; /* not written this round, or not exactly accountable */
    }
    s = sched_of(r, b->id, p);
    if (!s.written) {
        return; /* a spurious bit: the round's check reports it */
    }
    c->mid_written += !final;
#ifdef TEST_TSAN
    if (c->mode == REWRITES) {
        return; /* see the top of the file */
    }
#endif
    b->last_ok[p] = page_holds(b, p, &s, s.tag);
    if (c->mode != REWRITES && !b->last_ok[p]) {
        uint64_t w;

        memcpy(&w, b->host + p * PAGE + s.off, 8);
        MAIN_FAIL(c, "round %d: block %d page %llu collected but reads "
                  "0x%llx, not the tag 0x%llx", r, b->id,
                  (unsigned long long)p, (unsigned long long)w,
                  (unsigned long long)s.tag);
    }
}

/* One snapshot of the whole ram_addr space, accounted. */
static void collect(struct ctx *c, int r, bool final)
{
    uint64_t end = 0, n = 0, a;
    gm_dirty_snapshot *s;
    gm_error err = {0};
    int nb;

    if (gm_system_foreach_ram_block(c->sys, end_cb, &end) || !end) {
        MAIN_FAIL(c, "gm_system_foreach_ram_block");
        return;
    }
    s = gm_dirty_snapshot_and_clear(c->sys, 0, end, GM_DIRTY_MIGRATION,
                                    &err);
    if (!s) {
        MAIN_FAIL(c, "snapshot of [0, 0x%llx): %s", (unsigned long long)end,
                  err.msg);
        return;
    }
    c->snapshots++;
    /* Blocks published before the snapshot (others wait for the end). */
    nb = atomic_load_explicit(&c->nblocks, memory_order_acquire);
    for (a = gm_dirty_snapshot_next(s, 0); a != GM_RAM_ADDR_INVALID;
         a = gm_dirty_snapshot_next(s, a + PAGE)) {
        struct blk *b = find_block(c, nb, a);

        n++;
        if (!final) {
            c->mid_collected++;
        }
        if (b) {
            record(c, b, (a - b->ram) / PAGE, r, final);
            continue;
        }
        if (c->npending == c->cap_pending) {
            c->cap_pending = c->cap_pending ? 2 * c->cap_pending : 1024;
            c->pending = realloc(c->pending,
                                 c->cap_pending * sizeof(*c->pending));
            if (!c->pending) {
                abort();
            }
        }
        c->pending[c->npending++] = a;
    }
    if (n != gm_dirty_snapshot_count(s)) {
        MAIN_FAIL(c, "snapshot walks %llu pages but counts %llu",
                  (unsigned long long)n,
                  (unsigned long long)gm_dirty_snapshot_count(s));
    }
    gm_dirty_snapshot_free(s);
}

/* The checks of round r, every thread waiting at the next barrier. */
static void check_round(struct ctx *c, int r)
{
    int nb = atomic_load_explicit(&c->nblocks, memory_order_acquire);
    uint64_t written = 0, collected = 0, distinct = 0;

    for (size_t i = 0; i < c->npending; i++) {
        struct blk *b = find_block(c, nb, c->pending[i]);

        if (!b) {
            MAIN_FAIL(c, "round %d: collected ram_addr 0x%llx, in no block",
                      r, (unsigned long long)c->pending[i]);
            continue;
        }
        record(c, b, (c->pending[i] - b->ram) / PAGE, r, true);
    }
    c->npending = 0;

    for (int i = 0; i < nb; i++) {
        struct blk *b = &c->blk[i];
        uint64_t lim = b->hi > b->npages ? b->hi : b->npages;

        if (lim < b->used) {
            lim = b->used;
        }
        if (control_dirties(b, r) && b->rz && lim < c->rz_allowed) {
            lim = c->rz_allowed;
        }

        if (b->born == r) {
            /* New: collected whole (maybe twice: made, then logged). */
            for (uint64_t p = 0; p < lim; p++) {
                if (p < b->used ? !b->seen[p] || b->seen[p] > 2
                                : b->seen[p] != 0) {
                    MAIN_FAIL(c, "round %d: new block %d page %llu "
                              "collected %d times", r, b->id,
                              (unsigned long long)p, b->seen[p]);
                }
            }
            continue;
        }
        if (b->born > r) {
            continue; /* published, but in a round to come */
        }
        for (uint64_t p = 0; p < lim; p++) {
            struct sched s = sched_of(r, b->id, p);
            bool w = p < b->npages && s.written;
            bool ok;

            if (w && !page_holds(b, p, &s, s.tag)) {
                MAIN_FAIL(c, "round %d: block %d page %llu does not hold "
                          "its tag at the end of the round", r, b->id,
                          (unsigned long long)p);
            }
            if (control_dirties(b, r)) {
                /* The resized block: written pages are collected,
                 * nothing past the longest length the round gave. */
                bool grown = false;

                for (int g = 0; g < c->ngrown; g++) {
                    grown |= p >= c->grown_lo[g] && p < c->grown_hi[g];
                }
                if (((w || grown) && !b->seen[p]) ||
                    (p >= c->rz_allowed && b->seen[p])) {
                    MAIN_FAIL(c, "round %d: resized block page %llu "
                              "(written %d, grown %d, allowed < %llu) "
                              "collected %d times", r,
                              (unsigned long long)p, w, grown,
                              (unsigned long long)c->rz_allowed,
                              b->seen[p]);
                }
                continue;
            }
            /* Exact. */
            if (c->mode == REWRITES) {
                ok = w ? b->seen[p] == 1 || b->seen[p] == 2 : !b->seen[p];
#ifndef TEST_TSAN
                if (w && !b->last_ok[p]) {
                    MAIN_FAIL(c, "round %d: block %d page %llu: the read "
                              "at its last collection missed the final "
                              "write", r, b->id, (unsigned long long)p);
                }
#endif
            } else {
                ok = b->seen[p] == (w ? 1 : 0);
            }
            if (!ok) {
                MAIN_FAIL(c, "round %d: block %d page %llu written %d "
                          "collected %d times", r, b->id,
                          (unsigned long long)p, w, b->seen[p]);
            }
            written += w;
            collected += b->seen[p];
            distinct += b->seen[p] != 0;
        }
    }
    /* The count: pages written == pages the snapshots collected
     * (with rewrites a page may be collected twice: distinct pages). */
    if ((c->mode == REWRITES ? distinct : collected) != written) {
        MAIN_FAIL(c, "round %d: %llu pages written, %llu collected (%llu "
                  "distinct)", r, (unsigned long long)written,
                  (unsigned long long)collected,
                  (unsigned long long)distinct);
    }
    c->written += written;
    c->collected_exact += collected;
    c->distinct += distinct;
}

/* Reset the consumer's per-round state and choose the round's targets. */
static void prepare_round(struct ctx *c, int r)
{
    int nb = atomic_load_explicit(&c->nblocks, memory_order_acquire);

    c->ntargets = 0;
    for (int i = 0; i < nb; i++) {
        struct blk *b = &c->blk[i];

        memset(b->seen, 0, b->hi);
        memset(b->last_ok, 0, b->npages);
        b->hi = 0;
        if (is_target(c, b, r)) {
            c->targets[c->ntargets++] = i;
        }
    }
    atomic_store(&c->done, 0);
}

struct writer {
    struct ctx *c;
    int id;
    struct gm_cache cache[MAX_BLOCKS];
    bool cache_open[MAX_BLOCKS];
};

static void write_page(struct writer *w, struct blk *b, uint64_t p,
                       const struct sched *s, uint64_t v)
{
    struct ctx *c = w->c;
    uint64_t off = p * PAGE + s->off, buf[8];
    enum gm_result res = GM_RESULT_OK;
    gm_error err = {0};
    uint64_t len;
    void *hp;

    for (unsigned i = 0; i < 8; i++) {
        buf[i] = v + i;
    }
    switch (s->method) {
    case M_STORE:
        res = gm_space_store(c->as, b->gpa + off, 8, GM_ENDIAN_NATIVE, v,
                             GM_ATTRS_DEFAULT);
        break;
    case M_WRITE:
        res = gm_space_write(c->as, b->gpa + off, buf, 64, GM_ATTRS_DEFAULT);
        break;
    case M_CACHE:
        if (!w->cache_open[b->id]) {
            if (gm_cache_init(&w->cache[b->id], c->as, b->gpa,
                              b->npages * PAGE, true, &err)) {
                thread_fail(c, "writer %d: cache on block %d: %s", w->id,
                            b->id, err.msg);
                return;
            }
            w->cache_open[b->id] = true;
        }
        res = gm_cache_store(&w->cache[b->id], off, 8, GM_ENDIAN_NATIVE, v);
        break;
    case M_DMA:
        len = 64;
        hp = gm_space_map(c->as, b->gpa + off, &len, true, GM_ATTRS_DEFAULT);
        if (!hp || len != 64) {
            thread_fail(c, "writer %d: DMA map of block %d page %llu: %p "
                        "len %llu", w->id, b->id, (unsigned long long)p, hp,
                        (unsigned long long)len);
            if (hp) {
                gm_space_unmap(c->as, hp, len, false, 0);
            }
            return;
        }
        memcpy(hp, buf, 64);
        gm_space_unmap(c->as, hp, 64, true, 64);
        break;
    }
    if (res != GM_RESULT_OK) {
        thread_fail(c, "writer %d: method %d on block %d page %llu: "
                    "result %d", w->id, (int)s->method, b->id,
                    (unsigned long long)p, (int)res);
    }
}

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    struct ctx *c = w->c;

    for (int r = 0; r < c->rounds; r++) {
        pthread_barrier_wait(&c->start);
        /* Rewrites: a provisional pass over the pages, then the tags. */
        for (int pass = c->mode == REWRITES ? 0 : 1; pass < 2; pass++) {
            for (int t = 0; t < c->ntargets; t++) {
                struct blk *b = &c->blk[c->targets[t]];

                for (uint64_t p = 0; p < b->npages; p++) {
                    struct sched s = sched_of(r, b->id, p);

                    if (s.written && s.writer == w->id) {
                        write_page(w, b, p, &s, pass ? s.tag : ~s.tag);
                    }
                }
            }
        }
        atomic_fetch_add(&c->done, 1);
        pthread_barrier_wait(&c->end);
    }
    for (int i = 0; i < MAX_BLOCKS; i++) {
        if (w->cache_open[i]) {
            gm_cache_destroy(&w->cache[i]);
        }
    }
    return NULL;
}

/* Even rounds: add a block (every third reserves 1 GiB). */
static void control_add(struct ctx *c, int r)
{
    uint64_t h = hash4(2, (uint64_t)r, 0, 0);
    bool big = c->nnew % 3 == 2;
    gm_error err = {0};
    char name[32];
    struct blk *b;

    snprintf(name, sizeof(name), "new%d", c->nnew);
    b = make_block(c, r, name, big ? BIG_USED : 24 + h % 177,
                   big ? GIB / PAGE : 24 + h % 177,
                   (h >> 8) & 1 ? GM_RAM_MEMFD : GM_RAM_ANON,
                   (uint64_t)(16 + c->nnew) * GIB, (h >> 9) & 1, &err);
    if (!b) {
        thread_fail(c, "control: block %s: %s", name, err.msg);
        return;
    }
    c->nnew++;
    c->growths += big;
    publish(c, b);
}

/* Odd rounds: resize the resizeable block twice. */
static void control_resize(struct ctx *c, int r, struct blk *rz)
{
    gm_error err = {0};

    c->ngrown = 0;
    c->rz_allowed = 0;
    for (int i = 0; i < 2; i++) {
        uint64_t h = hash4(3, (uint64_t)r, (uint64_t)i, 0);
        uint64_t len = RZ_MIN + h % (RZ_MAX - RZ_MIN + 1);

        if (len == c->rz_len) {
            len = len == RZ_MAX ? RZ_MIN : len + 1;
        }
        if (gm_region_ram_resize(rz->region, len * PAGE, &err)) {
            thread_fail(c, "control: resize to %llu pages: %s",
                        (unsigned long long)len, err.msg);
            return;
        }
        if (len > c->rz_len) {
            c->grown_lo[c->ngrown] = c->rz_len;
            c->grown_hi[c->ngrown++] = len;
        }
        if (len > c->rz_allowed) {
            c->rz_allowed = len;
        }
        c->rz_len = len;
    }
}

static void *control_main(void *arg)
{
    struct ctx *c = arg;
    struct blk *rz = NULL;

    for (int i = 0; i < atomic_load(&c->nblocks); i++) {
        if (c->blk[i].rz) {
            rz = &c->blk[i];
        }
    }
    for (int r = 0; r < c->rounds; r++) {
        pthread_barrier_wait(&c->start);
        if (r & 1) {
            control_resize(c, r, rz);
        } else if (c->nnew < MAX_NEW) {
            control_add(c, r);
        }
        atomic_fetch_add(&c->done, 1);
        pthread_barrier_wait(&c->end);
    }
    return NULL;
}

static const uint64_t initial_pages[] = {100, 250, 384, 520};

static void run(enum mode mode)
{
    struct ctx *c = calloc(1, sizeof(*c));
    struct writer *w = calloc(NW, sizeof(*w));
    pthread_t wt[NW], ct;
    gm_error err = {0};
    int nb, ninit = (int)(sizeof(initial_pages) / sizeof(initial_pages[0]));
    struct blk *b;
    bool ok = true;

    if (!c || !w) {
        abort();
    }
    c->mode = mode;
    c->rounds = opt_rounds;
    pthread_mutex_init(&c->fail_lock, NULL);
    c->sys = gm_system_new(&err);
    CHECK(c->sys != NULL);
    if (!c->sys) {
        goto out;
    }
    c->root = gm_region_new_container(c->sys, "root", GM_SIZE_2_64, &err);
    c->as = c->root ? gm_space_new(c->sys, c->root, "memory", &err) : NULL;
    CHECK(c->as != NULL);
    for (int i = 0; ok && i < ninit; i++) {
        char name[16];

        snprintf(name, sizeof(name), "ram%d", i);
        b = make_block(c, -1, name, initial_pages[i], initial_pages[i],
                       i == 1 ? GM_RAM_MEMFD : GM_RAM_ANON,
                       (uint64_t)(i + 1) * GIB, i & 1, &err);
        ok = b != NULL;
        if (ok) {
            publish(c, b);
        }
    }
    /*
     * The resizeable one reserves nearly 1 GiB: a block added later that
     * reserves 1 GiB (every third) then always needs another bitmap chunk.
     */
    b = ok ? make_block(c, -1, "rz", RZ_MIN, GIB / PAGE - 512,
                        GM_RAM_ANON, 8 * GIB, true, &err)
           : NULL;
    ok = b != NULL;
    if (!ok) {
        HARNESS_FAIL("setting up: %s", err.msg);
        goto out;
    }
    b->rz = true;
    b->npages = RZ_MIN;
    c->rz_len = RZ_MIN;
    publish(c, b);

    /* Made dirty: take it all, so that every round starts clean. */
    collect(c, -1, true);
    for (int i = 0; i < atomic_load(&c->nblocks); i++) {
        b = &c->blk[i];
        for (uint64_t p = 0; p < b->max_pages; p++) {
            if (b->seen[p] != (p < b->used)) {
                MAIN_FAIL(c, "new block %d page %llu collected %d times",
                          b->id, (unsigned long long)p, b->seen[p]);
            }
        }
    }
    CHECK_EQ_U64(c->npending, 0);

    pthread_barrier_init(&c->start, NULL, NTHREADS);
    pthread_barrier_init(&c->end, NULL, NTHREADS);
    for (int i = 0; i < NW; i++) {
        w[i].c = c;
        w[i].id = i;
        if (pthread_create(&wt[i], NULL, writer_main, &w[i])) {
            abort();
        }
    }
    if (pthread_create(&ct, NULL, control_main, c)) {
        abort();
    }
    for (int r = 0; r < c->rounds; r++) {
        prepare_round(c, r);
        pthread_barrier_wait(&c->start);
        if (mode != BARRIER) {
            while (atomic_load(&c->done) < NW + 1) {
                collect(c, r, false);
            }
        }
        pthread_barrier_wait(&c->end);
        collect(c, r, true);
        check_round(c, r);
    }
    for (int i = 0; i < NW; i++) {
        pthread_join(wt[i], NULL);
    }
    pthread_join(ct, NULL);
    pthread_barrier_destroy(&c->start);
    pthread_barrier_destroy(&c->end);

    printf("# %s: %d rounds; exact pages: %llu written, %llu collected "
           "(%llu in mid-round snapshots, of %llu pages there); %llu "
           "snapshots; %d blocks added (%llu reserving 1 GiB)\n",
           mode == BARRIER ? "barrier" : mode == RACING ? "racing"
                                                        : "rewrites",
           c->rounds, (unsigned long long)c->written,
           (unsigned long long)c->collected_exact,
           (unsigned long long)c->mid_written,
           (unsigned long long)c->mid_collected,
           (unsigned long long)c->snapshots, c->nnew,
           (unsigned long long)c->growths);
    CHECK(c->written > 0);
    CHECK_EQ_U64(c->distinct, c->written);
    if (mode != REWRITES) {
        CHECK_EQ_U64(c->collected_exact, c->written);
    } else {
        CHECK(c->collected_exact >= c->written &&
              c->collected_exact <= 2 * c->written);
    }
    for (int i = 0; i < (c->thread_fails < 4 ? c->thread_fails : 4); i++) {
        HARNESS_FAIL("%s", c->fail_msg[i]);
    }
    CHECK_EQ_INT(c->thread_fails, 0);
    CHECK_EQ_INT(c->nnew, (c->rounds + 1) / 2 < MAX_NEW ? (c->rounds + 1) / 2
                                                        : MAX_NEW);

out:
    nb = atomic_load(&c->nblocks);
    for (int i = 0; i < nb; i++) {
        gm_region_unref(c->blk[i].region);
        free(c->blk[i].seen);
        free(c->blk[i].last_ok);
    }
    if (c->as) {
        CHECK_EQ_INT(gm_space_destroy(c->as, NULL), 0);
    }
    gm_region_unref(c->root);
    if (c->sys) {
        CHECK_EQ_INT(gm_system_destroy(c->sys, NULL), 0);
    }
    pthread_mutex_destroy(&c->fail_lock);
    free(c->pending);
    free(c);
    free(w);
}

static void test_barrier_rounds(void)
{
    run(BARRIER);
}

static void test_racing_rounds(void)
{
    run(RACING);
}

static void test_racing_rewrites(void)
{
    run(REWRITES);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
            opt_seed = strtoull(argv[++i], NULL, 0);
        } else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
            opt_rounds = atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: %s [--seed N] [--rounds N]\n", argv[0]);
            return 2;
        }
    }
    if (opt_rounds < 1) {
        opt_rounds = 1;
    }
    printf("# seed %llu, %d rounds\n", (unsigned long long)opt_seed,
           opt_rounds);
    RUN(test_barrier_rounds);
    RUN(test_racing_rounds);
    RUN(test_racing_rewrites);
    return harness_done();
}
