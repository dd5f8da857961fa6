/* SPDX-License-Identifier: MIT */
/*
 * ram/alloc.c - offsets in the ram_addr space: the smallest gap that fits.
 *
 * QEMU's find_ram_offset() picks, among the gaps between blocks, the
 * smallest that holds the new block, so that freed space is reused; it
 * finds it by comparing every block with every other, O(n^2) per block.
 * Here the free space itself is kept, as gaps indexed twice: by (size,
 * start), where the smallest fitting gap is a lower bound, and by start,
 * where a freed block finds the gaps it touches to merge with. Both are
 * treaps (base.h's split and join): O(log n) a block, allocated or freed.
 *
 * Offsets and sizes are multiples of GM_RAM_ALIGN (64 pages), so every
 * block starts on a word of every dirty bitmap. The space starts as one
 * gap [0, GM_RAM_SPACE). Writer lock held throughout.
 */
#include "ram.h"

#define BY_SIZE(l) caa_container_of((l), struct gm_ram_gap, by_size)
#define BY_START(l) caa_container_of((l), struct gm_ram_gap, by_start)

static bool size_before(const struct gm_ram_gap_link *a,
                        const struct gm_ram_gap_link *b)
{
    const struct gm_ram_gap *x = BY_SIZE(a), *y = BY_SIZE(b);

    return x->size != y->size ? x->size < y->size : x->start < y->start;
}

static bool start_before(const struct gm_ram_gap_link *a,
                         const struct gm_ram_gap_link *b)
{
    return BY_START(a)->start < BY_START(b)->start;
}

#define GAP_NOFIX(t) ((void)(t))
#define GAP_SELF(c, t) ((void)(c), (t))
#define SIZE_BEFORE(t, k) size_before((t), (k))
#define START_BEFORE(t, k) start_before((t), (k))
GM_TREAP_SPLIT_JOIN(bysize, struct gm_ram_gap_link, void *,
                    const struct gm_ram_gap_link *, SIZE_BEFORE, GAP_NOFIX,
                    GAP_SELF)
GM_TREAP_SPLIT_JOIN(bystart, struct gm_ram_gap_link, void *,
                    const struct gm_ram_gap_link *, START_BEFORE, GAP_NOFIX,
                    GAP_SELF)

/* Insert n / remove n, in a treap ordered by before(). */
#define GAP_EDIT(name, before)                                                 \
    static void name##_insert(struct gm_ram_gap_link **root,                   \
                              struct gm_ram_gap_link *n)                       \
    {                                                                          \
        struct gm_ram_gap_link **link = root;                                  \
                                                                               \
        while (*link && (*link)->prio >= n->prio) {                            \
            link = before(n, *link) ? &(*link)->l : &(*link)->r;               \
        }                                                                      \
        name##_split(NULL, *link, n, &n->l, &n->r);                            \
        *link = n;                                                             \
    }                                                                          \
                                                                               \
    static void name##_remove(struct gm_ram_gap_link **root,                   \
                              struct gm_ram_gap_link *n)                       \
    {                                                                          \
        struct gm_ram_gap_link **link = root;                                  \
                                                                               \
        while (*link && *link != n) {                                          \
            link = before(n, *link) ? &(*link)->l : &(*link)->r;               \
        }                                                                      \
        if (*link) {                                                           \
            *link = name##_join(NULL, n->l, n->r);                             \
            n->l = n->r = NULL;                                                \
        }                                                                      \
    }
GAP_EDIT(bysize, size_before)
GAP_EDIT(bystart, start_before)

static void gap_add(struct gm_ram_state *st, struct gm_ram_gap *g,
                    gm_system *sys)
{
    g->by_size.prio = gm__rand(sys);
    g->by_start.prio = gm__rand(sys);
    g->by_size.l = g->by_size.r = g->by_start.l = g->by_start.r = NULL;
    bysize_insert(&st->gaps_by_size, &g->by_size);
    bystart_insert(&st->gaps_by_start, &g->by_start);
}

static void gap_remove(struct gm_ram_state *st, struct gm_ram_gap *g)
{
    bysize_remove(&st->gaps_by_size, &g->by_size);
    bystart_remove(&st->gaps_by_start, &g->by_start);
}

/* Change g's size (its start order is unchanged): re-key it by size. */
static void gap_resize(struct gm_ram_state *st, struct gm_ram_gap *g,
                       uint64_t start, uint64_t size)
{
    bysize_remove(&st->gaps_by_size, &g->by_size);
    g->start = start;
    g->size = size;
    bysize_insert(&st->gaps_by_size, &g->by_size);
}

int gm__ram_space_init(gm_system *sys)
{
    struct gm_ram_gap *g = calloc(1, sizeof(*g));

    if (!g) {
        return -ENOMEM;
    }
    g->start = 0;
    g->size = GM_RAM_SPACE;
    gap_add(sys->ram, g, sys);
    return 0;
}

static void free_all(struct gm_ram_gap_link *t)
{
    while (t) {
        struct gm_ram_gap_link *r = t->r;

        free_all(t->l);
        free(BY_START(t));
        t = r;
    }
}

void gm__ram_space_fini(gm_system *sys)
{
    free_all(sys->ram->gaps_by_start);
    sys->ram->gaps_by_start = sys->ram->gaps_by_size = NULL;
}

int gm__ram_space_alloc(gm_system *sys, uint64_t size, uint64_t *offset,
                        struct gm_ram_gap **spare)
{
    struct gm_ram_state *st = sys->ram;
    struct gm_ram_gap_link *t = st->gaps_by_size, *best = NULL;
    struct gm_ram_gap *g;

    /* The first gap in (size, start) order with room for size bytes. */
    while (t) {
        if (BY_SIZE(t)->size >= size) {
            best = t;
            t = t->l;
        } else {
            t = t->r;
        }
    }
    if (!best) {
        return -ENOMEM;
    }
    *spare = calloc(1, sizeof(**spare));
    if (!*spare) {
        return -ENOMEM;
    }
    g = BY_SIZE(best);
    *offset = g->start;
    if (g->size == size) {
        gap_remove(st, g);
        free(g);
    } else {
        gap_resize(st, g, g->start + size, g->size - size);
    }
    return 0;
}

/* The gap with the largest start below x, or NULL. */
static struct gm_ram_gap *gap_before(struct gm_ram_state *st, uint64_t x)
{
    struct gm_ram_gap_link *t = st->gaps_by_start;
    struct gm_ram_gap *best = NULL;

    while (t) {
        if (BY_START(t)->start < x) {
            best = BY_START(t);
            t = t->r;
        } else {
            t = t->l;
        }
    }
    return best;
}

/* The gap starting at x, or NULL. */
static struct gm_ram_gap *gap_at(struct gm_ram_state *st, uint64_t x)
{
    struct gm_ram_gap_link *t = st->gaps_by_start;

    while (t) {
        uint64_t s = BY_START(t)->start;

        if (s == x) {
            return BY_START(t);
        }
        t = x < s ? t->l : t->r;
    }
    return NULL;
}

void gm__ram_space_free(gm_system *sys, uint64_t offset, uint64_t size,
                        struct gm_ram_gap *spare)
{
    struct gm_ram_state *st = sys->ram;
    struct gm_ram_gap *lo = gap_before(st, offset);
    struct gm_ram_gap *hi = gap_at(st, offset + size);

    if (lo && lo->start + lo->size != offset) {
        lo = NULL; /* a block lies between */
    }
    if (lo && hi) {
        gap_remove(st, hi);
        gap_resize(st, lo, lo->start, lo->size + size + hi->size);
        free(hi);
        free(spare);
    } else if (lo) {
        gap_resize(st, lo, lo->start, lo->size + size);
        free(spare);
    } else if (hi) {
        /* Its start moves down: still between the same neighbours. */
        gap_resize(st, hi, offset, size + hi->size);
        free(spare);
    } else {
        spare->start = offset;
        spare->size = size;
        gap_add(st, spare, sys);
    }
}
