/* SPDX-License-Identifier: MIT */
/*
 * dirty/bitmap.c - per-client dirty bitmaps over the ram_addr space.
 *
 * A bit per 4 KiB page, per client. Writers (the access path, on every RAM
 * write whose range has a log mask) set bits with atomic word operations;
 * consumers (a VGA model, migration, the snapshot reset) test, count, or
 * take them: a take moves the bits of a range into the caller's array and
 * clears them, word by word with atomic exchanges, so a set racing with it
 * is seen either by this take or by the next, never lost.
 *
 * The bitmap of a client is cut into chunks of 2^18 bits (1 GiB of RAM,
 * 32 KiB), allocated zeroed and never moved or freed while the system
 * lives; a table of chunk pointers is published under RCU. Growing the
 * ram_addr space allocates chunks and publishes a longer table (the old
 * one is freed after a grace period): no bit is copied, no writer waits.
 * Because chunks never move, an access cache may keep a pointer to the
 * words of its window and mark pages without a read-side section.
 *
 * Writers first test the bit and only set it when it is clear: the common
 * case (a page written again) costs a load, not a locked instruction. That
 * is only correct if a clear cannot overtake a write the writer made just
 * before it found its bit set: x86 lets the writer's load pass its own
 * earlier store, so a consumer could clear the bit, read the page, and
 * miss the data still in the writer's store buffer. Clearing therefore
 * ends with a process-wide memory barrier (membarrier(2), private
 * expedited), after which every such store is visible. Where the kernel
 * does not offer it, writers always set atomically instead.
 */
#include <linux/membarrier.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "dirty.h"

static int membarrier(int cmd)
{
#ifdef __NR_membarrier
    return (int)syscall(__NR_membarrier, cmd, 0, 0);
#else
    (void)cmd;
    errno = ENOSYS;
    return -1;
#endif
}

int gm__dirty_init(gm_system *sys)
{
    struct gm_dirty_state *st = calloc(1, sizeof(*st));

    if (!st) {
        return -ENOMEM;
    }
    for (unsigned c = 0; c < GM_DIRTY_CLIENTS; c++) {
        atomic_init(&st->table[c], NULL);
    }
    st->test_first =
        membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
    sys->dirty = st;
    return 0;
}

void gm__dirty_fini(gm_system *sys)
{
    struct gm_dirty_state *st = sys->dirty;

    if (!st) {
        return;
    }
    for (unsigned c = 0; c < GM_DIRTY_CLIENTS; c++) {
        struct gm_dirty_table *t = atomic_load(&st->table[c]);

        if (t) {
            for (size_t i = 0; i < t->nchunks; i++) {
                free(t->chunk[i]);
            }
            free(t);
        }
    }
    free(st);
    sys->dirty = NULL;
}

static void table_free(struct gm_deferred *d)
{
    free(caa_container_of(d, struct gm_dirty_table, def));
}

int gm__dirty_reserve(gm_system *sys, uint64_t npages)
{
    struct gm_dirty_state *st = sys->dirty;
    struct gm_dirty_table *nt[GM_DIRTY_CLIENTS] = {0};
    size_t need = (size_t)((npages + GM_DIRTY_CHUNK_PAGES - 1) >>
                           GM_DIRTY_CHUNK_SHIFT);
    unsigned c;

    if (need <= st->nchunks) {
        return 0;
    }
    for (c = 0; c < GM_DIRTY_CLIENTS; c++) {
        struct gm_dirty_table *old = atomic_load_explicit(
            &st->table[c], memory_order_relaxed);

        nt[c] = calloc(1, sizeof(*nt[c]) + need * sizeof(uint64_t *));
        if (!nt[c]) {
            goto fail;
        }
        nt[c]->nchunks = need;
        for (size_t i = 0; i < need; i++) {
            if (old && i < old->nchunks) {
                nt[c]->chunk[i] = old->chunk[i];
                continue;
            }
            nt[c]->chunk[i] = calloc(GM_DIRTY_CHUNK_WORDS, sizeof(uint64_t));
            if (!nt[c]->chunk[i]) {
                goto fail;
            }
        }
    }
    for (c = 0; c < GM_DIRTY_CLIENTS; c++) {
        struct gm_dirty_table *old = atomic_load_explicit(
            &st->table[c], memory_order_relaxed);

        gm__rcu_store(st->table[c], nt[c]);
        if (old) {
            gm__defer(sys, &old->def, table_free);
        }
    }
    st->nchunks = need;
    return 0;

fail:
    for (c = 0; c < GM_DIRTY_CLIENTS && nt[c]; c++) {
        for (size_t i = st->nchunks; i < need; i++) {
            free(nt[c]->chunk[i]); /* the new ones only */
        }
        free(nt[c]);
    }
    return -ENOMEM;
}

uint64_t gm__dirty_pages(gm_system *sys)
{
    struct gm_dirty_table *t = gm__rcu_load(sys->dirty->table[0]);

    return t ? (uint64_t)t->nchunks << GM_DIRTY_CHUNK_SHIFT : 0;
}

uint64_t *gm__dirty_chunk(gm_system *sys, unsigned client, uint64_t page)
{
    struct gm_dirty_table *t = gm__rcu_load(sys->dirty->table[client]);
    uint64_t i = page >> GM_DIRTY_CHUNK_SHIFT;

    return t && i < t->nchunks ? t->chunk[i] : NULL;
}

/* The word holding page's bit (the range is covered). */
static uint64_t *word_of(const struct gm_dirty_table *t, uint64_t page)
{
    return &t->chunk[page >> GM_DIRTY_CHUNK_SHIFT]
                    [(page & (GM_DIRTY_CHUNK_PAGES - 1)) >> 6];
}

/* Bits lo..hi-1 of a word (0 <= lo < hi <= 64). */
static uint64_t bits(unsigned lo, unsigned hi)
{
    uint64_t m = hi == 64 ? ~0ull : (1ull << hi) - 1;

    return m & ~((1ull << lo) - 1);
}

/*
 * The number of bits set in v. Without -mpopcnt, GCC makes
 * __builtin_popcountll() on x86-64 a call to libgcc's __popcountdi2 (a
 * table lookup per byte); this is a few instructions inline.
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

/* A walk over the words holding the bits of pages [p, e). */
struct walk {
    uint64_t p, e; /* next page, end */
    uint64_t rel;  /* pages of the range before p */
};

/*
 * The next word: its address, the mask of the range's bits in it, and the
 * index (relative to the range's first page) of the first of them.
 */
static inline bool next_word(const struct gm_dirty_table *t, struct walk *it,
                             uint64_t **w, uint64_t *m, uint64_t *rel)
{
    unsigned lo, cnt;

    if (it->p >= it->e) {
        return false;
    }
    lo = (unsigned)(it->p & 63);
    cnt = it->e - it->p < 64 - lo ? (unsigned)(it->e - it->p) : 64 - lo;
    *w = word_of(t, it->p);
    *m = bits(lo, lo + cnt);
    *rel = it->rel;
    it->p += cnt;
    it->rel += cnt;
    return true;
}

#define FOR_EACH_WORD(t, page, n, w, m, rel)                                       for (struct walk it_ = {(page), (page) + (n), 0};                                   next_word((t), &it_, &(w), &(m), &(rel));)

/*
 * Set the bits m of w. A whole word is stored, not ORed: an OR of all ones
 * leaves all ones whatever the word held, so the store gives the word the
 * same sequence of values as the atomic OR would (a take racing with it
 * gets the bits or leaves them set; a clear racing with it comes before
 * or after it, as it would with the OR), and being a release it keeps the
 * writer's earlier stores (the data of the pages) before it. It is a plain
 * store, not a locked instruction: starting to log 128 GiB sets 2^19
 * words per client.
 */
static void set_bits(uint64_t *w, uint64_t m, bool test_first)
{
    if (test_first &&
        (__atomic_load_n(w, __ATOMIC_RELAXED) & m) == m) {
        return; /* already dirty: see the top of the file */
    }
    if (m == ~0ull) {
        __atomic_store_n(w, ~0ull, __ATOMIC_RELEASE);
    } else {
        __atomic_fetch_or(w, m, __ATOMIC_SEQ_CST);
    }
}

/* Set the bits of pages [p, e): whole words in a loop of their own. */
static void set_range(const struct gm_dirty_table *t, uint64_t p, uint64_t e,
                      bool test_first)
{
    while (p < e) {
        unsigned lo = (unsigned)(p & 63);
        uint64_t *w = word_of(t, p);
        uint64_t stop;

        if (lo || e - p < 64) {
            unsigned cnt = e - p < 64 - lo ? (unsigned)(e - p) : 64 - lo;

            set_bits(w, bits(lo, lo + cnt), test_first);
            p += cnt;
            continue;
        }
        /* To the range's last whole word or the chunk's end. */
        stop = (p | (GM_DIRTY_CHUNK_PAGES - 1)) + 1;
        if (stop > (e & ~63ull)) {
            stop = e & ~63ull;
        }
        for (uint64_t i = 0, nw = (stop - p) >> 6; i < nw; i++) {
            set_bits(&w[i], ~0ull, test_first);
        }
        p = stop;
    }
}

void gm__dirty_set(gm_system *sys, uint64_t page, uint64_t n, unsigned mask)
{
    struct gm_dirty_state *st = sys->dirty;

    for (unsigned c = 0; mask; c++, mask >>= 1) {
        if (mask & 1) {
            set_range(gm__rcu_load(st->table[c]), page, page + n,
                      st->test_first);
        }
    }
}

void gm__dirty_mark(gm_system *sys, uint64_t ram_addr, uint64_t len,
                    unsigned mask)
{
    uint64_t first = ram_addr >> GM_DIRTY_PAGE_BITS;
    uint64_t last = (ram_addr + len - 1) >> GM_DIRTY_PAGE_BITS;

    if (len && mask) {
        gm__dirty_set(sys, first, last - first + 1, mask);
    }
}

bool gm__dirty_test(gm_system *sys, uint64_t page, uint64_t n,
                    unsigned client)
{
    uint64_t *w, m, rel;
    struct gm_dirty_table *t = gm__rcu_load(sys->dirty->table[client]);

    FOR_EACH_WORD(t, page, n, w, m, rel) {
        if (__atomic_load_n(w, __ATOMIC_RELAXED) & m) {
            return true;
        }
    }
    return false;
}

uint64_t gm__dirty_count(gm_system *sys, uint64_t page, uint64_t n,
                         unsigned client)
{
    uint64_t *w, m, rel;
    struct gm_dirty_table *t = gm__rcu_load(sys->dirty->table[client]);
    uint64_t count = 0;

    FOR_EACH_WORD(t, page, n, w, m, rel) {
        count += popcount64(__atomic_load_n(w, __ATOMIC_RELAXED) & m);
    }
    return count;
}

/* After clearing: stores that preceded a skipped set are now visible. */
static void clear_done(struct gm_dirty_state *st)
{
    if (st->test_first) {
        membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED);
    }
}

/* Take the bits m of w (atomically), or 0 when none is set. */
static uint64_t take_bits(uint64_t *w, uint64_t m)
{
    if (!(__atomic_load_n(w, __ATOMIC_RELAXED) & m)) {
        return 0;
    }
    if (m == ~0ull) {
        return __atomic_exchange_n(w, 0, __ATOMIC_SEQ_CST);
    }
    return __atomic_fetch_and(w, ~m, __ATOMIC_SEQ_CST) & m;
}

void gm__dirty_clear(gm_system *sys, uint64_t page, uint64_t n,
                     unsigned client)
{
    uint64_t *w, m, rel;
    struct gm_dirty_state *st = sys->dirty;
    struct gm_dirty_table *t = gm__rcu_load(st->table[client]);

    FOR_EACH_WORD(t, page, n, w, m, rel) {
        take_bits(w, m);
    }
    clear_done(st);
}

/* Put the low count bits of v at bit position at of out. */
static void put_bits(uint64_t *out, uint64_t at, uint64_t v, unsigned count)
{
    unsigned sh = (unsigned)(at & 63);

    out[at >> 6] |= v << sh;
    if (sh && sh + count > 64) {
        out[(at >> 6) + 1] |= v >> (64 - sh);
    }
}

/*
 * Take whole words w[0, nw) into out[0, nw): the test before the exchange
 * skips the clean words (most of them, in a sparse bitmap) without a
 * locked instruction. Returns the number of bits taken.
 */
static uint64_t take_words(uint64_t *w, size_t nw, uint64_t *out)
{
    uint64_t count = 0;

    for (size_t i = 0; i < nw; i++) {
        uint64_t v = 0;

        if (__atomic_load_n(&w[i], __ATOMIC_RELAXED)) {
            v = __atomic_exchange_n(&w[i], 0, __ATOMIC_SEQ_CST);
            count += popcount64(v);
        }
        out[i] = v;
    }
    return count;
}

uint64_t gm__dirty_take(gm_system *sys, uint64_t page, uint64_t n,
                        unsigned client, uint64_t *words)
{
    uint64_t *w, m, rel;
    struct gm_dirty_state *st = sys->dirty;
    struct gm_dirty_table *t = gm__rcu_load(st->table[client]);
    uint64_t count = 0;

    if (!(page & 63)) {
        /*
         * Word-aligned (RAM blocks are): one word in, one word out, every
         * word of the array written; whole words chunk by chunk.
         */
        uint64_t p = page, e = page + n, stop;

        for (rel = 0; e - p >= 64; rel += stop - p, p = stop) {
            stop = (p | (GM_DIRTY_CHUNK_PAGES - 1)) + 1;
            if (stop > (e & ~63ull)) {
                stop = e & ~63ull;
            }
            count += take_words(word_of(t, p), (size_t)((stop - p) >> 6),
                                &words[rel >> 6]);
        }
        if (p < e) {
            uint64_t v = take_bits(word_of(t, p), bits(0, (unsigned)(e - p)));

            words[rel >> 6] = v;
            count += popcount64(v);
        }
    } else {
        memset(words, 0, ((n + 63) / 64) * sizeof(uint64_t));
        FOR_EACH_WORD(t, page, n, w, m, rel) {
            uint64_t v = take_bits(w, m);
            unsigned lo = (unsigned)__builtin_ctzll(m);

            if (v) {
                put_bits(words, rel, v >> lo, (unsigned)popcount64(m));
                count += popcount64(v);
            }
        }
    }
    clear_done(st);
    return count;
}

void gm__dirty_merge(gm_system *sys, uint64_t page, uint64_t n,
                     const uint64_t *src, unsigned mask)
{
    uint64_t *w, m, rel;
    struct gm_dirty_state *st = sys->dirty;

    for (unsigned c = 0; mask; c++, mask >>= 1) {
        struct gm_dirty_table *t;

        if (!(mask & 1)) {
            continue;
        }
        t = gm__rcu_load(st->table[c]);
        FOR_EACH_WORD(t, page, n, w, m, rel) {
            unsigned lo = (unsigned)__builtin_ctzll(m);
            unsigned cnt = (unsigned)popcount64(m);
            uint64_t v = src[rel >> 6] >> (rel & 63);

            if ((rel & 63) && (rel & 63) + cnt > 64) {
                v |= src[(rel >> 6) + 1] << (64 - (rel & 63));
            }
            v = (cnt == 64 ? v : v & ((1ull << cnt) - 1)) << lo;
            if (v) {
                set_bits(w, v, st->test_first);
            }
        }
    }
}
