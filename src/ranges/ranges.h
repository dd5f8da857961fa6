/* SPDX-License-Identifier: MIT */
/*
 * ranges/ranges.h - flat ranges, their records, and the persistent treap
 * that holds a view's ranges.
 *
 * A range is one piece of a flat view: [start, last] of the address space
 * owned by one terminating region at an offset, with the attributes
 * accumulated on the way down. A range record is the immutable copy that
 * dispatch tables point at (it holds a reference on its region and, for
 * the access path, the host address and access kind). The treap holds a
 * view's ranges in address order; all versions of a view share every node
 * a commit did not copy (path copying; see ranges.c).
 */
#ifndef GM_RANGES_H
#define GM_RANGES_H

#include "../reclaim/reclaim.h"
#include "../tree/tree.h"

struct gm_range {
    uint64_t start, last; /* inclusive */
    gm_region *mr;        /* referenced by the record */
    uint64_t offset;      /* offset of start in mr */
    bool readonly, romd, nonvolatile;
    uint8_t mask;         /* dirty-log mask */
    struct gm_coal *coal; /* the region's coalesced ranges (records: a
                             reference) */
    /* Filled in range records only (gm__rec_new), for the access path. */
    uint8_t acc;          /* GM_ACC_* */
    uint8_t *host;        /* host address of start, RAM-backed regions */
};
typedef GM_VEC(struct gm_range) gm_rangevec;

#define GM_ACC_READ 1u /* reads are plain loads from host */
#define GM_ACC_RAM 2u  /* writes go to host (unless readonly) */

/* An immutable range record: what dispatch tables point at. */
struct gm_rrec {
    uint64_t gen;
    struct gm_range rg; /* holds one reference on rg.mr */
};

struct gm_fv_node {
    uint64_t gen;         /* commit generation that created it */
    struct gm_fv_node *l, *r;
    uint32_t prio;
    size_t count;         /* ranges in this subtree */
    struct gm_range rg;   /* copy of rec->rg, for cache-friendly walks */
    struct gm_rrec *rec;  /* shared by the copies of this node */
};

struct gm_ranges_state {
    struct gm_freelist nodes; /* recycled treap nodes */
    unsigned kind_node, kind_rec;
};

int gm__ranges_init(gm_system *sys);
void gm__ranges_fini(gm_system *sys);

bool gm__range_equal(const struct gm_range *a, const struct gm_range *b);
bool gm__range_can_merge(const struct gm_range *a, const struct gm_range *b);
void gm__range_to_section(const struct gm_range *rg, gm_space *as,
                          struct gm_section *s);

/*
 * Edits, in a commit (tx): only nodes of tx->gen are changed in place;
 * failures are left in tx->err (the tree is then garbage: the commit
 * fails and reclaim/ frees what it made).
 */
/* Split t into ranges starting before key and the rest. */
void gm__fv_split(struct gm_txn *tx, struct gm_fv_node *t, uint64_t key,
                  struct gm_fv_node **lt, struct gm_fv_node **ge);
struct gm_fv_node *gm__fv_join(struct gm_txn *tx, struct gm_fv_node *a,
                               struct gm_fv_node *b);
int gm__fv_insert(struct gm_txn *tx, struct gm_fv_node **t,
                  const struct gm_range *rg);
void gm__fv_delete(struct gm_txn *tx, struct gm_fv_node **t, uint64_t start);
/* Drop every node and range of t (ranges removed from the view). */
void gm__fv_drop_all(struct gm_txn *tx, struct gm_fv_node *t);
/* Build a tree from sorted ranges. */
int gm__fv_build(struct gm_txn *tx, const struct gm_range *v, size_t n,
                 struct gm_fv_node **out);
/* Free a whole tree: the last version of a history, or a standalone one. */
void gm__fv_free_all(gm_system *sys, struct gm_fv_node *t);

/* Queries: lock held, or inside a read-side section on a live view. */
const struct gm_range *gm__fv_find(const struct gm_fv_node *t, uint64_t addr);
/* The record of the range containing addr, or NULL. */
struct gm_rrec *gm__fv_find_rec(const struct gm_fv_node *t, uint64_t addr);
const struct gm_range *gm__fv_find_start(const struct gm_fv_node *t,
                                         uint64_t start);
/* The first range starting after addr / the last range, or NULL. */
const struct gm_range *gm__fv_next(const struct gm_fv_node *t, uint64_t addr);
const struct gm_range *gm__fv_last(const struct gm_fv_node *t);
/* Visit ranges with start in [lo, hi] (inclusive hi) in order. */
int gm__fv_walk(const struct gm_fv_node *t, uint64_t lo, uint64_t hi,
                int (*fn)(const struct gm_range *rg, void *opaque),
                void *opaque);
size_t gm__fv_count(const struct gm_fv_node *t);

#endif
