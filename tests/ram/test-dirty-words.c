/* SPDX-License-Identifier: MIT */
/*
 * test-dirty-words.c - whole bitmap words: sets that store all 64 bits at
 * once, takes that go chunk by chunk, and the two racing.
 *
 * src/dirty/bitmap.c sets a whole word (64 pages, 256 KiB of RAM) with a
 * plain release store of all ones rather than an atomic OR, and takes
 * word-aligned ranges chunk by chunk (a chunk: 2^18 pages, 1 GiB). These
 * tests pin what that must keep:
 *
 *  - test_set_shapes, test_take_shapes: single-threaded, against a plain
 *    bitmap: ranges of every shape around word and chunk boundaries (1,
 *    63, 64, 65, 127, 128 pages and more; starting on a word, inside one,
 *    just before a chunk's end) set with gm_dirty_set() and
 *    gm_dirty_merge(), counted, tested, taken with
 *    gm_dirty_snapshot_and_clear(); pages outside a range never change.
 *    The RAM block spans the boundary of two chunks (a first block of
 *    1 GiB - 8 MiB pushes the second across it);
 *  - test_racing_words: two writers write whole 64-page groups of the
 *    block (gm_space_write() of 256 KiB; the host memory then
 *    gm_dirty_set() or gm_dirty_merge() of the group; or one
 *    gm_space_store() a page, which ORs single bits) while the main
 *    thread takes snapshot after snapshot. In each round every group is
 *    written at most once, by one writer, with values ("tags") that every
 *    thread computes from the seed, the round, the group and the page.
 *    Every page written in a round must be collected exactly once in it
 *    (in the snapshots taken during the round, or in the one after its
 *    closing barrier), no page not written may be collected, and a
 *    collected page must already hold its tag when the snapshot returns.
 *
 * Fixed seed, printed (--seed N); --rounds N (default 64). Threads meet at
 * barriers; the consumer takes snapshots until the writers have counted
 * themselves done, then one more.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>

#include <guestmem/guestmem.h>

#include "harness.h"

#define PAGE 4096u
#define WORD_PAGES 64u
#define GROUP_BYTES (WORD_PAGES * PAGE) /* one bitmap word: 256 KiB */
#define CHUNK_PAGES (1ull << 18)        /* of the bitmaps: 1 GiB */
#define PAD_BYTES ((1ull << 30) - (8ull << 20))
#define NGROUPS 64u /* the block: 16 MiB, half before the chunk boundary */
#define BLOCK_BYTES ((uint64_t)NGROUPS * GROUP_BYTES)
#define BLOCK_PAGES (BLOCK_BYTES / PAGE)
#define BASE 0x100000000ull /* where the block is mapped */
#define NW 2                /* writer threads */
#define MIG (1u << GM_DIRTY_MIGRATION)

static uint64_t opt_seed = 20261201;
static int opt_rounds = 64;

/* splitmix64's finaliser. */
static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t hash3(uint64_t a, uint64_t b, uint64_t c)
{
    return mix(opt_seed ^ mix(a ^ mix(b ^ mix(c))));
}

/*
 * A system whose second RAM block (16 MiB, mapped at BASE, MIGRATION
 * logged) crosses the boundary of the bitmaps' first two chunks.
 */
struct fix {
    gm_system *sys;
    gm_region *root, *pad, *ram;
    gm_space *as;
    uint8_t *host;
    uint64_t ra; /* the block's ram_addr */
};

static int fix_new(struct fix *f)
{
    struct gm_ram_opts ro = {0};
    gm_error err;

    memset(f, 0, sizeof(*f));
    gm_error_clear(&err);
    ro.flags = GM_RAM_NORESERVE;
    f->sys = gm_system_new(&err);
    if (!f->sys) {
        return -1;
    }
    f->root = gm_region_new_container(f->sys, "system", GM_SIZE_2_64, &err);
    f->as = f->root ? gm_space_new(f->sys, f->root, "memory", &err) : NULL;
    f->pad = gm_region_new_ram_opts(f->sys, "pad", GM_REGION_RAM, PAD_BYTES,
                                    &ro, NULL, NULL, &err);
    f->ram = gm_region_new_ram_opts(f->sys, "ram", GM_REGION_RAM,
                                    BLOCK_BYTES, &ro, NULL, NULL, &err);
    if (!f->as || !f->pad || !f->ram ||
        gm_region_add_subregion(f->root, BASE, f->ram, &err) ||
        gm_region_set_log(f->ram, true, GM_DIRTY_MIGRATION, &err)) {
        fprintf(stderr, "fixture: %s\n", err.msg);
        return -1;
    }
    f->host = gm_region_ram_ptr(f->ram);
    f->ra = gm_region_ram_addr(f->ram);
    /* Logging starts with every page dirty: start from none. */
    return gm_dirty_clear(f->sys, f->ra, BLOCK_BYTES, GM_DIRTY_MIGRATION,
                          &err);
}

static void fix_free(struct fix *f)
{
    gm_region_unref(f->ram);
    gm_region_unref(f->pad);
    if (f->as) {
        gm_space_destroy(f->as, NULL);
    }
    gm_region_unref(f->root);
    if (f->sys) {
        gm_system_destroy(f->sys, NULL);
    }
}

/* The shapes: [first page, +n) in the block; the chunk boundary is at
 * page CROSS (the block's page 2048). */
#define CROSS ((CHUNK_PAGES - (PAD_BYTES / PAGE)))
static const struct {
    uint64_t first, n;
} shapes[] = {
    {0, 1},       {0, 63},      {0, 64},          {0, 65},
    {0, 127},     {0, 128},     {64, 64},         {64, 200},
    {1, 1},       {1, 62},      {1, 63},          {1, 64},
    {5, 300},     {63, 2},      {63, 130},        {CROSS - 64, 64},
    {CROSS - 64, 128},          {CROSS - 1, 2},   {CROSS - 1, 66},
    {CROSS - 200, 1000},        {CROSS, 64},      {CROSS + 3, 61},
    {0, BLOCK_PAGES},           {1, BLOCK_PAGES - 1},
    {0, BLOCK_PAGES - 1},       {100, BLOCK_PAGES - 200},
};
#define NSHAPES (sizeof(shapes) / sizeof(shapes[0]))

static bool bit(const uint64_t *m, uint64_t p)
{
    return m[p / 64] >> (p % 64) & 1;
}

/* The block's MIGRATION bits equal the model, page by page. */
static void check_model(struct fix *f, const uint64_t *model,
                        const char *what, size_t shape)
{
    uint64_t n = 0;

    for (uint64_t p = 0; p < BLOCK_PAGES; p++) {
        bool d = gm_dirty_test(f->sys, f->ra + p * PAGE, PAGE,
                               GM_DIRTY_MIGRATION);

        if (d != bit(model, p)) {
            HARNESS_FAIL("%s, shape %zu: page %" PRIu64 " is %s", what,
                         shape, p, d ? "dirty" : "clean");
            return;
        }
        n += d;
    }
    CHECK_EQ_U64(gm_dirty_count(f->sys, f->ra, BLOCK_BYTES,
                                GM_DIRTY_MIGRATION), n);
}

/* Every shape set with gm_dirty_set(), then with gm_dirty_merge(). */
static void test_set_shapes(void)
{
    static uint64_t model[BLOCK_PAGES / 64], src[BLOCK_PAGES / 64];
    struct fix f;
    gm_error err;

    gm_error_clear(&err);
    if (fix_new(&f)) {
        HARNESS_FAIL("fixture");
        fix_free(&f);
        return;
    }
    CHECK_EQ_U64(f.ra % (CHUNK_PAGES * PAGE) + BLOCK_BYTES / 2,
                 CHUNK_PAGES * PAGE); /* the block crosses the boundary */
    for (int how = 0; how < 2; how++) {
        for (size_t i = 0; i < NSHAPES; i++) {
            uint64_t a = shapes[i].first, n = shapes[i].n;

            /* A background pattern the set must leave alone outside. */
            memset(model, 0, sizeof(model));
            for (uint64_t p = 0; p < BLOCK_PAGES; p++) {
                if (hash3(7, i, p) % 5 == 0) {
                    model[p / 64] |= 1ull << (p % 64);
                }
            }
            CHECK_EQ_INT(gm_dirty_clear(f.sys, f.ra, BLOCK_BYTES,
                                        GM_DIRTY_MIGRATION, &err), 0);
            CHECK_EQ_INT(gm_dirty_merge(f.sys, f.ra, BLOCK_PAGES, model, MIG,
                                        &err), 0);
            for (uint64_t p = a; p < a + n; p++) {
                model[p / 64] |= 1ull << (p % 64);
            }
            if (how == 0) {
                CHECK_EQ_INT(gm_dirty_set(f.sys, f.ra + a * PAGE, n * PAGE,
                                          MIG, &err), 0);
            } else {
                /* All ones over the range: whole words of ones. */
                memset(src, 0xff, sizeof(src));
                CHECK_EQ_INT(gm_dirty_merge(f.sys, f.ra + a * PAGE, n, src,
                                            MIG, &err), 0);
            }
            check_model(&f, model, how ? "merge" : "set", i);
            CHECK(gm_dirty_test(f.sys, f.ra + a * PAGE, n * PAGE,
                                GM_DIRTY_MIGRATION));
            CHECK_EQ_U64(gm_dirty_count(f.sys, f.ra + a * PAGE, n * PAGE,
                                        GM_DIRTY_MIGRATION), n);
        }
    }
    fix_free(&f);
}

/* Every shape taken from a random pattern. */
static void test_take_shapes(void)
{
    static uint64_t model[BLOCK_PAGES / 64];
    struct fix f;
    gm_error err;

    gm_error_clear(&err);
    if (fix_new(&f)) {
        HARNESS_FAIL("fixture");
        fix_free(&f);
        return;
    }
    for (size_t i = 0; i < NSHAPES; i++) {
        uint64_t a = shapes[i].first, n = shapes[i].n, want = 0, got = 0;
        uint64_t sum = 0, want_sum = 0, x;
        gm_dirty_snapshot *s;

        /* Dense, sparse and all-ones words. */
        for (uint64_t w = 0; w < BLOCK_PAGES / 64; w++) {
            uint64_t h = hash3(8, i, w);

            model[w] = h % 3 == 0 ? ~0ull
                       : h % 3 == 1 ? mix(h) & mix(h + 1) & mix(h + 2)
                                    : mix(h);
        }
        CHECK_EQ_INT(gm_dirty_clear(f.sys, f.ra, BLOCK_BYTES,
                                    GM_DIRTY_MIGRATION, &err), 0);
        CHECK_EQ_INT(gm_dirty_merge(f.sys, f.ra, BLOCK_PAGES, model, MIG,
                                    &err), 0);
        for (uint64_t p = a; p < a + n; p++) {
            if (bit(model, p)) {
                want++;
                want_sum += p;
            }
        }
        s = gm_dirty_snapshot_and_clear(f.sys, f.ra + a * PAGE, n * PAGE,
                                        GM_DIRTY_MIGRATION, &err);
        CHECK(s != NULL);
        if (!s) {
            break;
        }
        CHECK_EQ_U64(gm_dirty_snapshot_count(s), want);
        for (x = gm_dirty_snapshot_next(s, f.ra); x != GM_RAM_ADDR_INVALID;
             x = gm_dirty_snapshot_next(s, x + PAGE)) {
            uint64_t p = (x - f.ra) / PAGE;

            if (p < a || p >= a + n || !bit(model, p)) {
                HARNESS_FAIL("shape %zu: page %" PRIu64 " in the snapshot",
                             i, p);
                break;
            }
            got++;
            sum += p;
        }
        CHECK_EQ_U64(got, want);
        CHECK_EQ_U64(sum, want_sum);
        if (a) {
            CHECK(!gm_dirty_snapshot_test(s, f.ra, a * PAGE));
        }
        gm_dirty_snapshot_free(s);
        /* Taken inside, untouched outside. */
        for (uint64_t p = a; p < a + n; p++) {
            model[p / 64] &= ~(1ull << (p % 64));
        }
        check_model(&f, model, "take", i);
    }
    fix_free(&f);
}

/*
 * Racing: what happens to group g in round r.
 */
enum method {
    M_WRITE, /* gm_space_write() of the whole group */
    M_SET,   /* the host memory, then gm_dirty_set() of the group */
    M_MERGE, /* the host memory, then gm_dirty_merge() of all ones */
    M_STORE, /* one gm_space_store() a page: single bits */
    M_NR
};

struct sched {
    bool written;
    int writer;
    enum method method;
};

static struct sched sched_of(int r, unsigned g)
{
    uint64_t h = hash3(1, (uint64_t)r, g);
    struct sched s;

    s.written = (h & 0xff) < 200;
    s.writer = (int)((h >> 8) % NW);
    s.method = (enum method)((h >> 16) % M_NR);
    return s;
}

/* The value page p of group g holds after round r (never 0). */
static uint64_t tag_of(int r, unsigned g, uint64_t p)
{
    return hash3(2, (uint64_t)r << 32 | g, p) | 1;
}

/* Where M_STORE writes its 8 bytes in a page. */
static uint64_t store_off(int r, unsigned g, uint64_t p)
{
    return (hash3(3, (uint64_t)r << 32 | g, p) % (PAGE / 8)) * 8;
}

struct race {
    struct fix f;
    int rounds;
    pthread_barrier_t start, end;
    atomic_int done;
    pthread_mutex_t fail_lock; /* the harness is not thread-safe */
    long thread_fails;
    char fail_msg[256];
    uint8_t seen[BLOCK_PAGES];
    uint64_t snapshots, mid, collected;
};

struct writer {
    struct race *c;
    int id;
    uint8_t *buf; /* a group's bytes, for M_WRITE */
};

static void thread_fail(struct race *c, const char *fmt, ...)
{
    va_list ap;

    pthread_mutex_lock(&c->fail_lock);
    if (!c->thread_fails++) {
        va_start(ap, fmt);
        vsnprintf(c->fail_msg, sizeof(c->fail_msg), fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&c->fail_lock);
}

/* Fill a page with its tag (every 8-byte word). */
static void fill_page(uint8_t *p, uint64_t tag)
{
    for (unsigned i = 0; i < PAGE; i += 8) {
        memcpy(p + i, &tag, 8);
    }
}

static void write_group(struct writer *w, int r, unsigned g, enum method m)
{
    struct race *c = w->c;
    uint64_t off = (uint64_t)g * GROUP_BYTES;
    uint8_t *host = c->f.host + off;
    static const uint64_t ones[WORD_PAGES / 64] = {~0ull};
    gm_error err;

    gm_error_clear(&err);
    switch (m) {
    case M_WRITE:
        for (uint64_t p = 0; p < WORD_PAGES; p++) {
            fill_page(w->buf + p * PAGE, tag_of(r, g, p));
        }
        if (gm_space_write(c->f.as, BASE + off, w->buf, GROUP_BYTES,
                           GM_ATTRS_DEFAULT) != GM_RESULT_OK) {
            thread_fail(c, "gm_space_write of group %u failed", g);
        }
        break;
    case M_SET:
    case M_MERGE:
        for (uint64_t p = 0; p < WORD_PAGES; p++) {
            fill_page(host + p * PAGE, tag_of(r, g, p));
        }
        if (m == M_SET ? gm_dirty_set(c->f.sys, c->f.ra + off, GROUP_BYTES,
                                      MIG, &err)
                       : gm_dirty_merge(c->f.sys, c->f.ra + off, WORD_PAGES,
                                        ones, MIG, &err)) {
            thread_fail(c, "marking group %u: %s", g, err.msg);
        }
        break;
    default:
        for (uint64_t i = 0; i < WORD_PAGES; i++) {
            /* The pages in an order of their own. */
            uint64_t p = (i * 37 + (uint64_t)r) % WORD_PAGES;

            if (gm_space_store(c->f.as,
                               BASE + off + p * PAGE + store_off(r, g, p), 8,
                               GM_ENDIAN_LITTLE, tag_of(r, g, p),
                               GM_ATTRS_DEFAULT) != GM_RESULT_OK) {
                thread_fail(c, "gm_space_store in group %u failed", g);
            }
        }
        break;
    }
}

static void *writer_main(void *opaque)
{
    struct writer *w = opaque;
    struct race *c = w->c;

    for (int r = 0; r < c->rounds; r++) {
        pthread_barrier_wait(&c->start);
        for (unsigned i = 0; i < NGROUPS; i++) {
            /* Writers go through the groups in opposite directions. */
            unsigned g = w->id ? NGROUPS - 1 - i : i;
            struct sched s = sched_of(r, g);

            if (s.written && s.writer == w->id) {
                write_group(w, r, g, s.method);
            }
        }
        atomic_fetch_add_explicit(&c->done, 1, memory_order_release);
        pthread_barrier_wait(&c->end);
    }
    return NULL;
}

/* Whether page p (of the block) holds its tag of round r. */
static bool holds_tag(struct race *c, int r, uint64_t p)
{
    unsigned g = (unsigned)(p / WORD_PAGES);
    uint64_t q = p % WORD_PAGES, v, at;
    struct sched s = sched_of(r, g);

    at = s.method == M_STORE ? store_off(r, g, q) : PAGE - 8;
    memcpy(&v, c->f.host + p * PAGE + at, 8);
    if (v != tag_of(r, g, q)) {
        return false;
    }
    if (s.method != M_STORE) {
        memcpy(&v, c->f.host + p * PAGE, 8);
    }
    return v == tag_of(r, g, q);
}

/* One snapshot of the block; account and read what it holds. */
static void collect(struct race *c, int r, bool mid)
{
    gm_dirty_snapshot *s;
    gm_error err;
    uint64_t x;

    gm_error_clear(&err);
    s = gm_dirty_snapshot_and_clear(c->f.sys, c->f.ra, BLOCK_BYTES,
                                    GM_DIRTY_MIGRATION, &err);
    if (!s) {
        HARNESS_FAIL("gm_dirty_snapshot_and_clear: %s", err.msg);
        return;
    }
    c->snapshots++;
    for (x = gm_dirty_snapshot_next(s, c->f.ra); x != GM_RAM_ADDR_INVALID;
         x = gm_dirty_snapshot_next(s, x + PAGE)) {
        uint64_t p = (x - c->f.ra) / PAGE;
        struct sched sc = sched_of(r, (unsigned)(p / WORD_PAGES));

        if (!sc.written) {
            HARNESS_FAIL("round %d: page %" PRIu64 " collected, not "
                         "written", r, p);
        } else if (!holds_tag(c, r, p)) {
            HARNESS_FAIL("round %d: page %" PRIu64 " collected before its "
                         "data (method %d)", r, p, (int)sc.method);
        }
        c->seen[p]++;
        c->collected++;
        c->mid += mid;
    }
    gm_dirty_snapshot_free(s);
}

static void test_racing_words(void)
{
    static struct race c;
    struct writer w[NW];
    pthread_t tid[NW];
    int started = 0;

    memset(&c, 0, sizeof(c));
    c.rounds = opt_rounds;
    pthread_mutex_init(&c.fail_lock, NULL);
    if (fix_new(&c.f)) {
        HARNESS_FAIL("fixture");
        fix_free(&c.f);
        return;
    }
    pthread_barrier_init(&c.start, NULL, NW + 1);
    pthread_barrier_init(&c.end, NULL, NW + 1);
    for (int i = 0; i < NW; i++) {
        w[i] = (struct writer){&c, i, malloc(GROUP_BYTES)};
        if (!w[i].buf ||
            pthread_create(&tid[i], NULL, writer_main, &w[i]) != 0) {
            HARNESS_FAIL("writer %d not started", i);
            /* The barriers count NW + 1: without all writers, stop. */
            exit(1);
        }
        started++;
    }
    for (int r = 0; r < c.rounds; r++) {
        memset(c.seen, 0, sizeof(c.seen));
        atomic_store(&c.done, 0);
        pthread_barrier_wait(&c.start);
        while (atomic_load_explicit(&c.done, memory_order_acquire) < NW) {
            collect(&c, r, true);
        }
        collect(&c, r, false);
        for (uint64_t p = 0; p < BLOCK_PAGES; p++) {
            bool wr = sched_of(r, (unsigned)(p / WORD_PAGES)).written;

            if (c.seen[p] != wr) {
                HARNESS_FAIL("round %d: page %" PRIu64 " collected %u "
                             "times, written %d", r, p, c.seen[p], wr);
                break;
            }
        }
        pthread_barrier_wait(&c.end);
    }
    for (int i = 0; i < started; i++) {
        pthread_join(tid[i], NULL);
        free(w[i].buf);
    }
    if (c.thread_fails) {
        HARNESS_FAIL("%ld failures in the writers; the first: %s",
                     c.thread_fails, c.fail_msg);
    }
    printf("# %d rounds, %" PRIu64 " snapshots, %" PRIu64 " pages collected "
           "(%" PRIu64 " while the writers wrote)\n", c.rounds, c.snapshots,
           c.collected, c.mid);
    pthread_barrier_destroy(&c.start);
    pthread_barrier_destroy(&c.end);
    pthread_mutex_destroy(&c.fail_lock);
    fix_free(&c.f);
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
    printf("# seed %" PRIu64 ", %d rounds\n", opt_seed, opt_rounds);
    RUN(test_set_shapes);
    RUN(test_take_shapes);
    RUN(test_racing_words);
    return harness_done();
}
