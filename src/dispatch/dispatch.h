/* SPDX-License-Identifier: MIT */
/*
 * dispatch/dispatch.h - from a guest address to its range record, in a
 * radix table over page numbers that each commit path-copies.
 */
#ifndef GM_DISPATCH_H
#define GM_DISPATCH_H

#include "../ranges/ranges.h"

#define GM_PAGE_BITS 12
#define GM_PAGE_SIZE (1u << GM_PAGE_BITS)
#define GM_DNODE_ENTRIES 512
#define GM_DISPATCH_LEVELS 6

struct gm_dnode {
    uint64_t gen;
    uint64_t base;  /* first address of the block the node covers */
    unsigned level; /* entries cover 2^(12 + 9 * level) bytes */
    uintptr_t e[GM_DNODE_ENTRIES];
};

struct gm_subpage {
    uint64_t gen;
    uint64_t page; /* address of the page */
    unsigned n;
    struct {
        uint16_t start;      /* offset in the page where this piece begins */
        struct gm_rrec *rec; /* NULL: a hole */
    } v[];
};

/* A table: a tagged root entry (0: empty) and the root node's level. */
struct gm_dispatch {
    uintptr_t root;
    unsigned level;
};

struct gm_dispatch_state {
    struct gm_freelist nodes; /* recycled table nodes */
    unsigned kind_node, kind_subpage;
};

int gm__dispatch_init(gm_system *sys);
void gm__dispatch_fini(gm_system *sys);

/*
 * Recompute the entries of d meeting [s, e) from tree t, in a commit: old
 * nodes are copied, replaced ones go on tx's garbage list.
 */
int gm__dispatch_update(struct gm_txn *tx, struct gm_dispatch *d,
                        const struct gm_fv_node *t, gm_u128 s, gm_u128 e);
/* Free a whole table (the last version of a history). */
void gm__dispatch_free(gm_system *sys, struct gm_dispatch *d);

/*
 * Tagged dispatch entries: the low two bits say what the pointer is (0 with
 * a NULL pointer: a hole).
 */
#define DE_NODE 1u
#define DE_REC 2u
#define DE_SUB 3u
#define DE_TAG(e) ((unsigned)((e) & 3u))
#define DE_PTR(e) ((void *)((e) & ~(uintptr_t)3u))

/* Entries of a level-k node cover 2^(12 + 9k) bytes. */
static inline unsigned gm__level_shift(unsigned level)
{
    return GM_PAGE_BITS + 9 * level;
}

/*
 * The range holding addr, or NULL. Inline: every access starts here. Call
 * inside an RCU read-side section (or with the writer lock) on a view that
 * is alive.
 */
static inline const struct gm_range *
gm__dispatch_lookup(const struct gm_dispatch *d, uint64_t addr)
{
    uintptr_t e = d->root;

    if (d->level < GM_DISPATCH_LEVELS - 1 &&
        (addr >> gm__level_shift(d->level + 1)) != 0) {
        return NULL;
    }
    while (DE_TAG(e) == DE_NODE) {
        const struct gm_dnode *n = (const void *)(e - DE_NODE);
        e = n->e[(addr >> gm__level_shift(n->level)) & (GM_DNODE_ENTRIES - 1)];
    }
    if (__builtin_expect(DE_TAG(e) == DE_REC, 1)) {
        const struct gm_range *rg = &((const struct gm_rrec *)(e - DE_REC))->rg;
        /* A compacted path may lead here from outside the range. */
        return addr >= rg->start && addr <= rg->last ? rg : NULL;
    }
    if (DE_TAG(e) == DE_SUB) {
        const struct gm_subpage *sp = DE_PTR(e);
        unsigned off = (unsigned)(addr & (GM_PAGE_SIZE - 1));
        unsigned lo = 0, hi = sp->n;

        if ((addr & ~(uint64_t)(GM_PAGE_SIZE - 1)) != sp->page) {
            return NULL;
        }

        while (hi - lo > 1) {
            unsigned mid = (lo + hi) / 2;
            if (sp->v[mid].start <= off) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        return sp->v[lo].rec ? &sp->v[lo].rec->rg : NULL;
    }
    return NULL;
}

#endif
