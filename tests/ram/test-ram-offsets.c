/* SPDX-License-Identifier: MIT */
/*
 * test-ram-offsets.c - where RAM blocks land in the ram_addr space,
 * against a brute-force reference.
 *
 * ram.h: a block's offset is chosen "in the smallest gap that fits (so
 * freed space is reused), aligned to 64 pages (256 KiB)", and a block
 * reserves max_length bytes of ram_addr space (src/ram: rounded up to 256
 * KiB; among gaps of the same size the lowest wins). The reference keeps
 * the live blocks sorted by offset and, for each new block, scans every
 * gap between them for the smallest that holds the block's max_length
 * rounded up to 256 KiB, taking the lowest on ties; the library's offset
 * must be exactly that one, every time.
 *
 * 10,000 blocks of random sizes are made and freed in random order: tiny
 * (1 byte .. a page), whole pages, around 256 KiB (either side of the
 * rounding), MiB, GiB (anonymous NORESERVE memory: nothing is touched, so
 * they cost no memory), resizeable ones whose max_length exceeds their
 * size, and blocks of the caller's memory (GM_RAM_PTR). After every
 * operation the blocks gm_system_foreach_ram_block() lists are compared
 * with the reference: ram_addr order, count, offsets aligned to 256 KiB,
 * no two [offset, offset + max_length) overlapping, and each block's
 * region, offset and lengths. Random lookups follow:
 * gm_system_ram_lookup() anywhere (inside a block, in the reserved tail
 * past max_length, between blocks, past the last) names the reference's
 * owner and the offset in it; gm_system_ram_from_host() inside a block's
 * memory names the block. At the end every block is freed, and a new one
 * lands at 0 again.
 *
 * GM_RAM_NONE regions (and RAM made while the system is memoryless) have
 * no block at all: they take no ram_addr space, so made among the others
 * they leave every offset as the reference says.
 *
 * Usage: test-ram-offsets [--seed N] [--blocks N] (defaults 1 and 10,000).
 * A mismatch prints the seed and the operation and stops.
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
#define ALIGN (64 * PG)
#define SPACE_END ((uint64_t)1 << 62) /* the allocator's whole space */
#define KIB ((uint64_t)1 << 10)
#define MIB ((uint64_t)1 << 20)
#define GIB ((uint64_t)1 << 30)
#define TARGET_LIVE 300

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

static uint64_t round_up(uint64_t x, uint64_t a)
{
    return (x + a - 1) / a * a;
}

struct ref {
    gm_region *r;
    uint64_t off, reserved, used, max;
    uint8_t *host;
    void *owned; /* GM_RAM_PTR: our memory, freed after the region */
};

static struct {
    uint64_t seed, nblocks;
    gm_system *sys;
    struct ref *v; /* live blocks, sorted by offset */
    size_t n, cap;
    gm_region **none; /* regions without a block */
    size_t nnone;
    uint64_t op;
    char what[160];
    bool failed;
    uint64_t allocs, frees, lookups, reused, ties, none_made, gib;
} S;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void fail(const char *fmt, ...)
{
    va_list ap;
    char msg[512];

    if (S.failed) {
        return;
    }
    S.failed = true;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    HARNESS_FAIL("seed %" PRIu64 ", operation %" PRIu64 " (%s): %s", S.seed,
                 S.op, S.what, msg);
}

/*
 * The reference's offset for a block reserving size bytes: the smallest
 * gap holding it, the lowest on ties. Also tells whether that gap lies
 * before the last block (freed space reused) and whether a gap of the
 * same size lost a tie to it.
 */
static uint64_t ref_place(uint64_t size, bool *reuse, bool *tie)
{
    uint64_t best = UINT64_MAX, best_size = UINT64_MAX, prev = 0;

    *reuse = *tie = false;
    for (size_t i = 0; i <= S.n; i++) {
        uint64_t end = i < S.n ? S.v[i].off : SPACE_END;
        uint64_t g = end - prev;

        if (g >= size) {
            if (g < best_size) {
                best_size = g;
                best = prev;
                *reuse = i < S.n;
                *tie = false;
            } else if (g == best_size) {
                *tie = true;
            }
        }
        if (i < S.n) {
            prev = S.v[i].off + S.v[i].reserved;
        }
    }
    return best;
}

static void ref_insert(const struct ref *b)
{
    size_t i = 0;

    if (S.n == S.cap) {
        S.cap = S.cap ? 2 * S.cap : 256;
        S.v = realloc(S.v, S.cap * sizeof(*S.v));
        if (!S.v) {
            fprintf(stderr, "out of memory\n");
            exit(2);
        }
    }
    while (i < S.n && S.v[i].off < b->off) {
        i++;
    }
    memmove(&S.v[i + 1], &S.v[i], (S.n - i) * sizeof(*S.v));
    S.v[i] = *b;
    S.n++;
}

/* The reference's block holding ram_addr a (-1: none). */
static long ref_owner(uint64_t a)
{
    size_t lo = 0, hi = S.n;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;

        if (S.v[mid].off <= a) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (lo && a - S.v[lo - 1].off < S.v[lo - 1].max) {
        return (long)lo - 1;
    }
    return -1;
}

/* What gm_system_foreach_ram_block() lists, compared in one pass. */
struct walk {
    size_t i;
    uint64_t prev_end;
};

static int walk_cb(const struct gm_ram_block_info *b, void *opaque)
{
    struct walk *w = opaque;
    const struct ref *r;

    if (w->i >= S.n) {
        fail("foreach lists more than the %zu live blocks", S.n);
        return 1;
    }
    r = &S.v[w->i];
    if (b->offset % ALIGN) {
        fail("block '%s' at 0x%" PRIx64 ": not aligned to 256 KiB", b->name,
             b->offset);
        return 1;
    }
    if (w->i > 0 && b->offset < w->prev_end) {
        fail("block '%s' at 0x%" PRIx64 " overlaps the previous one or is "
             "listed out of ram_addr order (previous ends at 0x%" PRIx64 ")",
             b->name, b->offset, w->prev_end);
        return 1;
    }
    if (b->region != r->r || b->offset != r->off ||
        b->used_length != r->used || b->max_length != r->max) {
        fail("block %zu in ram_addr order: library '%s' at 0x%" PRIx64
             " (%" PRIu64 "/%" PRIu64 " bytes), reference '%s' at 0x%" PRIx64
             " (%" PRIu64 "/%" PRIu64 ")", w->i, b->name, b->offset,
             b->used_length, b->max_length, gm_region_name(r->r), r->off,
             r->used, r->max);
        return 1;
    }
    w->prev_end = b->offset + b->max_length;
    w->i++;
    return 0;
}

static void check_all(void)
{
    struct walk w = {0, 0};
    int ret = gm_system_foreach_ram_block(S.sys, walk_cb, &w);

    if (!S.failed && (ret != 0 || w.i != S.n)) {
        fail("foreach returned %d after %zu blocks, %zu live", ret, w.i, S.n);
    }
}

static void check_lookup(uint64_t a)
{
    long want = ref_owner(a);
    uint64_t off = UINT64_MAX;
    gm_region *got = gm_system_ram_lookup(S.sys, a, &off);

    S.lookups++;
    if (want < 0 ? got != NULL
                 : (got != S.v[want].r || off != a - S.v[want].off)) {
        fail("gm_system_ram_lookup(0x%" PRIx64 "): '%s' +0x%" PRIx64
             ", reference '%s' +0x%" PRIx64, a,
             got ? gm_region_name(got) : "(none)", off,
             want < 0 ? "(none)" : gm_region_name(S.v[want].r),
             want < 0 ? 0 : a - S.v[want].off);
    }
    gm_region_unref(got);
}

static void check_lookups(void)
{
    uint64_t end = S.n ? S.v[S.n - 1].off + S.v[S.n - 1].reserved : 0;

    for (int k = 0; k < 8 && !S.failed; k++) {
        uint64_t a;

        if (S.n && k < 5) {
            const struct ref *b = &S.v[below(S.n)];

            switch (k) {
            case 0: a = b->off; break;
            case 1: a = b->off + b->max - 1; break;
            case 2: a = b->off + b->max; break;      /* the tail, or next */
            case 3: a = b->off + below(b->reserved); break;
            default: a = b->off - 1 - below(ALIGN); break; /* before it */
            }
        } else if (k == 5) {
            a = end + below(4 * GIB);
        } else {
            a = below(end + 1);
        }
        check_lookup(a);
    }
    /* Host addresses inside a block name it. */
    for (int k = 0; k < 2 && S.n && !S.failed; k++) {
        const struct ref *b = &S.v[below(S.n)];
        uint64_t o = k ? b->max - 1 : below(b->max), off = UINT64_MAX;
        gm_region *got = gm_system_ram_from_host(S.sys, b->host + o, &off);

        if (got != b->r || off != o) {
            fail("gm_system_ram_from_host(block '%s' + 0x%" PRIx64 "): '%s' "
                 "+0x%" PRIx64, gm_region_name(b->r), o,
                 got ? gm_region_name(got) : "(none)", off);
        }
        gm_region_unref(got);
    }
}

static void alloc_one(void)
{
    struct gm_ram_opts o = {0};
    struct ref b = {0};
    gm_error err = {0};
    uint64_t size, k = below(100), want;
    bool reuse, tie;
    char name[32];

    o.backing = GM_RAM_ANON;
    o.flags = GM_RAM_NORESERVE;
    o.align = PG;
    if (k < 15) {
        size = 1 + below(PG);                          /* tiny */
    } else if (k < 35) {
        size = PG * (1 + below(96));                   /* whole pages */
    } else if (k < 50) {
        size = ALIGN * (1 + below(4)) + below(2 * PG) - PG; /* ~256 KiB */
    } else if (k < 75) {
        size = 1 + below(64 * MIB);                    /* MiB */
        o.align = 0;
    } else if (k < 77) {
        size = GIB * (1 + below(4)) + below(GIB);      /* GiB */
        o.align = 0;
        S.gib++;
    } else if (k < 92) {
        size = 1 + below(8 * MIB);                     /* resizeable */
        o.flags |= GM_RAM_RESIZEABLE;
        o.max_length = size + (below(2) ? below(32 * MIB) : 0);
    } else {
        size = 1 + below(64 * KIB);                    /* caller's */
        b.owned = malloc(size);
        if (!b.owned) {
            fail("out of memory");
            return;
        }
        o.backing = GM_RAM_PTR;
        o.host = b.owned;
        o.flags = 0;
    }
    b.used = size;
    b.max = (o.flags & GM_RAM_RESIZEABLE) && o.max_length ? o.max_length
                                                          : size;
    b.reserved = round_up(b.max, ALIGN);
    want = ref_place(b.reserved, &reuse, &tie);
    snprintf(S.what, sizeof(S.what), "make block %" PRIu64 ": %" PRIu64
             " bytes, max_length %" PRIu64 "%s", S.allocs, size, b.max,
             o.backing == GM_RAM_PTR ? ", caller's memory" : "");
    snprintf(name, sizeof(name), "b%" PRIu64, S.allocs);
    b.r = gm_region_new_ram_opts(S.sys, name, GM_REGION_RAM, size, &o, NULL,
                                 NULL, &err);
    S.allocs++;
    if (!b.r) {
        fail("gm_region_new_ram_opts: %s", err.msg);
        free(b.owned);
        return;
    }
    b.off = gm_region_ram_addr(b.r);
    b.host = gm_region_ram_ptr(b.r);
    ref_insert(&b);
    if (b.off != want) {
        fail("offset 0x%" PRIx64 ", reference (smallest gap of at least %"
             PRIu64 " bytes, lowest on ties) 0x%" PRIx64, b.off, b.reserved,
             want);
        return;
    }
    S.reused += reuse;
    S.ties += tie;
}

static void free_one(size_t i)
{
    struct ref b = S.v[i];

    snprintf(S.what, sizeof(S.what), "free block '%s' at 0x%" PRIx64,
             gm_region_name(b.r), b.off);
    memmove(&S.v[i], &S.v[i + 1], (S.n - i - 1) * sizeof(*S.v));
    S.n--;
    gm_region_unref(b.r);
    free(b.owned);
    S.frees++;
}

/* A region without a block: no ram_addr, not listed, nothing taken. */
static void none_one(void)
{
    struct gm_ram_opts o = {.backing = GM_RAM_NONE};
    struct gm_ram_block_info info;
    gm_region *r;
    bool memoryless = below(2);

    snprintf(S.what, sizeof(S.what), "RAM without memory (%s)",
             memoryless ? "memoryless system" : "GM_RAM_NONE");
    if (memoryless) {
        CHECK_EQ_INT(gm_system_set_memoryless(S.sys, true, NULL), 0);
        r = gm_region_new_ram(S.sys, "none", GIB, NULL);
        CHECK_EQ_INT(gm_system_set_memoryless(S.sys, false, NULL), 0);
    } else {
        r = gm_region_new_ram_opts(S.sys, "none", GM_REGION_RAM, GIB, &o,
                                   NULL, NULL, NULL);
    }
    if (!r) {
        fail("could not make it");
        return;
    }
    if (gm_region_ram_addr(r) != GM_RAM_ADDR_INVALID ||
        gm_region_ram_info(r, &info) != -EINVAL ||
        gm_region_ram_ptr(r) != NULL) {
        fail("it has a block: ram_addr 0x%" PRIx64, gm_region_ram_addr(r));
    }
    S.none = realloc(S.none, (S.nnone + 1) * sizeof(*S.none));
    if (!S.none) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    S.none[S.nnone++] = r;
    S.none_made++;
}

static void test_offsets(void)
{
    gm_error err = {0};

    S.sys = gm_system_new(&err);
    CHECK(S.sys != NULL);
    if (!S.sys) {
        return;
    }
    while (S.allocs < S.nblocks && !S.failed) {
        /* Drift towards TARGET_LIVE blocks, in random order. */
        uint64_t p = S.n < TARGET_LIVE / 4 ? 90 : S.n > 2 * TARGET_LIVE
                                                      ? 30
                                                      : 55;

        if (below(100) < 2) {
            none_one();
        } else if (!S.n || below(100) < p) {
            alloc_one();
        } else {
            free_one(below(S.n));
        }
        if (!S.failed) {
            check_all();
        }
        if (!S.failed) {
            check_lookups();
        }
        S.op++;
    }
    while (S.n && !S.failed) {
        free_one(below(S.n));
        check_all();
        if (!S.failed) {
            check_lookups();
        }
        S.op++;
    }
    /* Everything is free again: the next block starts at 0. */
    if (!S.failed) {
        alloc_one();
        CHECK_EQ_U64(S.n == 1 ? S.v[0].off : UINT64_MAX, 0);
        check_all();
        while (S.n) {
            free_one(0);
        }
    }
    /* The search really chose among gaps. */
    CHECK(S.reused > S.nblocks / 10);
    CHECK(S.ties > 0);
    CHECK(S.none_made > 0 && S.gib > 0);
    printf("# %" PRIu64 " blocks made (%" PRIu64 " of GiB), %" PRIu64
           " freed, %" PRIu64 " in a gap before the last block, %" PRIu64
           " chosen among equal gaps, %" PRIu64 " lookups, %" PRIu64
           " regions without a block\n",
           S.allocs, S.gib, S.frees, S.reused, S.ties, S.lookups,
           S.none_made);
    for (size_t i = 0; i < S.nnone; i++) {
        gm_region_unref(S.none[i]);
    }
    free(S.none);
    free(S.v);
    CHECK_EQ_INT(gm_system_destroy(S.sys, NULL), 0);
}

int main(int argc, char **argv)
{
    S.seed = 1;
    S.nblocks = 10000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
            S.seed = strtoull(argv[++i], NULL, 0);
        } else if (!strcmp(argv[i], "--blocks") && i + 1 < argc) {
            S.nblocks = strtoull(argv[++i], NULL, 0);
        } else {
            fprintf(stderr, "usage: %s [--seed N] [--blocks N]\n", argv[0]);
            return 2;
        }
    }
    printf("# seed %" PRIu64 ", %" PRIu64 " blocks\n", S.seed, S.nblocks);
    fflush(stdout);
    rng = S.seed;
    RUN(test_offsets);
    return harness_done();
}
