/* SPDX-License-Identifier: MIT */
/*
 * ranges/ranges.c - a flat view's ranges as a persistent treap.
 *
 * A flat view is the sorted list of non-overlapping ranges an address space
 * renders to. Readers hold views for as long as they like, so a view is
 * immutable once published; yet a commit must not copy a 10,000-range view
 * to change three ranges. The ranges are therefore kept in a persistent
 * treap: a commit splits the previous tree at the edges of each re-rendered
 * window, drops the middle, and joins in the new ranges. Only the O(log n)
 * nodes on the split and join paths are copied; every other subtree is
 * shared with the previous version.
 *
 * Invariants:
 *  - a node or range record whose gen is the commit's generation was
 *    created by the commit in progress and is reachable from no published
 *    view, so it may be changed in place; every other node is copied before
 *    a change, and what a version no longer uses goes on that version's
 *    garbage list (reclaim/);
 *  - everything a commit makes is tracked (reclaim/): when the commit
 *    fails halfway through a split or a join, the half-built tree is
 *    simply forgotten and the tracked objects freed, while every published
 *    node is untouched;
 *  - in-order, ranges are sorted by start, do not overlap, and no two
 *    neighbours could merge (gm__range_can_merge);
 *  - range records are immutable and shared by all copies of their node;
 *    each holds one reference on its region.
 */
#include <string.h>

#include "ranges.h"

#define NODE_CACHE_MAX 4096

static void node_gc_free(gm_system *sys, void *p)
{
    gm__freelist_put(&sys->ranges->nodes, p);
}

static void rec_free(gm_system *sys, void *p)
{
    struct gm_rrec *r = p;

    (void)sys;
    gm__coal_unref(r->rg.coal);
    gm_region_unref(r->rg.mr);
    free(r);
}

int gm__ranges_init(gm_system *sys)
{
    struct gm_ranges_state *st = calloc(1, sizeof(*st));

    if (!st) {
        return -ENOMEM;
    }
    st->nodes.max = NODE_CACHE_MAX;
    st->kind_node = gm__reclaim_kind(sys, node_gc_free);
    st->kind_rec = gm__reclaim_kind(sys, rec_free);
    sys->ranges = st;
    return 0;
}

void gm__ranges_fini(gm_system *sys)
{
    if (sys->ranges) {
        gm__freelist_drain(&sys->ranges->nodes);
        free(sys->ranges);
        sys->ranges = NULL;
    }
}

bool gm__range_equal(const struct gm_range *a, const struct gm_range *b)
{
    return a->start == b->start && a->last == b->last && a->mr == b->mr &&
           a->offset == b->offset && a->readonly == b->readonly &&
           a->romd == b->romd && a->nonvolatile == b->nonvolatile;
}

bool gm__range_can_merge(const struct gm_range *a, const struct gm_range *b)
{
    return a->last != UINT64_MAX && a->last + 1 == b->start &&
           a->mr == b->mr &&
           a->offset + (a->last - a->start) + 1 == b->offset &&
           a->readonly == b->readonly && a->romd == b->romd &&
           a->nonvolatile == b->nonvolatile && a->mask == b->mask &&
           a->coal == b->coal;
}

void gm__range_to_section(const struct gm_range *rg, gm_space *as,
                          struct gm_section *s)
{
    s->space = as;
    s->region = rg->mr;
    s->addr = rg->start;
    s->size = (gm_u128)(rg->last - rg->start) + 1;
    s->offset_in_region = rg->offset;
    s->readonly = rg->readonly;
    s->romd = rg->romd;
    s->nonvolatile = rg->nonvolatile;
    s->dirty_log_mask = rg->mask;
}

static size_t cnt(const struct gm_fv_node *n)
{
    return n ? n->count : 0;
}

static void fix(struct gm_fv_node *n)
{
    n->count = 1 + cnt(n->l) + cnt(n->r);
}

static void drop_node(struct gm_txn *tx, struct gm_fv_node *n)
{
    gm__txn_drop(tx, n, tx->sys->ranges->kind_node);
}

static void drop_rec(struct gm_txn *tx, struct gm_rrec *r)
{
    gm__txn_drop(tx, r, tx->sys->ranges->kind_rec);
}

/* A node of this commit for rec (NULL: out of memory, tx->err set). */
static struct gm_fv_node *node_with_rec(struct gm_txn *tx, struct gm_rrec *rec,
                                        uint32_t prio)
{
    struct gm_ranges_state *st = tx->sys->ranges;
    struct gm_fv_node *n = gm__freelist_get(&st->nodes, sizeof(*n));

    if (!n) {
        tx->err = -ENOMEM;
        return NULL;
    }
    n->l = n->r = NULL;
    n->gen = tx->gen;
    n->prio = prio;
    n->count = 1;
    n->rg = rec->rg;
    n->rec = rec;
    if (gm__txn_track(tx, n, st->kind_node)) {
        gm__freelist_put(&st->nodes, n);
        return NULL;
    }
    return n;
}

/* A node with a new record of rg (NULL: out of memory, tx->err set). */
static struct gm_fv_node *node_new(struct gm_txn *tx,
                                   const struct gm_range *rg, uint32_t prio)
{
    struct gm_rrec *rec = malloc(sizeof(*rec));

    if (!rec) {
        tx->err = -ENOMEM;
        return NULL;
    }
    rec->gen = tx->gen;
    rec->rg = *rg;
    rec->rg.acc = 0;
    rec->rg.host = NULL;
    if (rg->mr->ram) {
        enum gm_region_kind k = rg->mr->kind;
        rec->rg.host = (uint8_t *)rg->mr->ram + rg->offset;
        if (k != GM_REGION_ROM_DEVICE) {
            rec->rg.acc = GM_ACC_READ | GM_ACC_RAM;
        } else if (rg->romd) {
            rec->rg.acc = GM_ACC_READ;
        }
    }
    gm_region_ref(rg->mr);
    gm__coal_ref(rg->coal);
    if (gm__txn_track(tx, rec, tx->sys->ranges->kind_rec)) {
        rec_free(tx->sys, rec);
        return NULL;
    }
    return node_with_rec(tx, rec, prio);
}

/* Make t private to this commit (NULL: out of memory, tx->err set). */
static struct gm_fv_node *cow(struct gm_txn *tx, struct gm_fv_node *t)
{
    struct gm_fv_node *c;

    if (t->gen == tx->gen) {
        return t;
    }
    c = node_with_rec(tx, t->rec, t->prio);
    if (!c) {
        return NULL;
    }
    c->l = t->l;
    c->r = t->r;
    c->count = t->count;
    drop_node(tx, t);
    return c;
}

#define FV_BEFORE(t, key) ((t)->rg.start < (key))
#define FV_FIX(t) fix(t)
#define FV_OWN(tx, t) cow((tx), (t))
GM_TREAP_SPLIT_JOIN(fv, struct gm_fv_node, struct gm_txn *, uint64_t,
                    FV_BEFORE, FV_FIX, FV_OWN)

void gm__fv_split(struct gm_txn *tx, struct gm_fv_node *t, uint64_t key,
                  struct gm_fv_node **lt, struct gm_fv_node **ge)
{
    fv_split(tx, t, key, lt, ge);
}

struct gm_fv_node *gm__fv_join(struct gm_txn *tx, struct gm_fv_node *a,
                               struct gm_fv_node *b)
{
    return fv_join(tx, a, b);
}

/*
 * Insert one range (no overlap with the tree's ranges) by path copying:
 * only the nodes on the search path are copied.
 */
int gm__fv_insert(struct gm_txn *tx, struct gm_fv_node **t,
                  const struct gm_range *rg)
{
    struct gm_fv_node *nd = node_new(tx, rg, gm__rand(tx->sys));
    struct gm_fv_node **link = t;

    if (!nd) {
        return tx->err;
    }
    while (*link && (*link)->prio >= nd->prio) {
        struct gm_fv_node *c = cow(tx, *link);
        if (!c) {
            return tx->err;
        }
        *link = c;
        c->count++;
        link = rg->start < c->rg.start ? &c->l : &c->r;
    }
    fv_split(tx, *link, rg->start, &nd->l, &nd->r);
    fix(nd);
    *link = nd;
    return tx->err;
}

/* Remove the range starting at start (which must exist). */
void gm__fv_delete(struct gm_txn *tx, struct gm_fv_node **t, uint64_t start)
{
    struct gm_fv_node **link = t;

    while (*link && !tx->err) {
        struct gm_fv_node *c = *link;

        if (c->rg.start == start) {
            *link = fv_join(tx, c->l, c->r);
            drop_rec(tx, c->rec);
            drop_node(tx, c);
            return;
        }
        c = cow(tx, c);
        if (!c) {
            return;
        }
        *link = c;
        c->count--;
        link = start < c->rg.start ? &c->l : &c->r;
    }
}

void gm__fv_drop_all(struct gm_txn *tx, struct gm_fv_node *t)
{
    while (t) {
        struct gm_fv_node *r = t->r;

        gm__fv_drop_all(tx, t->l);
        drop_rec(tx, t->rec);
        drop_node(tx, t);
        t = r;
    }
}

void gm__fv_free_all(gm_system *sys, struct gm_fv_node *t)
{
    while (t) {
        struct gm_fv_node *r = t->r;

        gm__fv_free_all(sys, t->l);
        rec_free(sys, t->rec);
        node_gc_free(sys, t);
        t = r;
    }
}

/* Build a treap over sorted ranges in O(n) with a right-spine stack. */
int gm__fv_build(struct gm_txn *tx, const struct gm_range *v, size_t n,
                 struct gm_fv_node **out)
{
    struct gm_fv_node **stack;
    size_t top = 0;

    *out = NULL;
    if (!n) {
        return 0;
    }
    stack = malloc(n * sizeof(*stack));
    if (!stack) {
        return tx->err = -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        struct gm_fv_node *nd = node_new(tx, &v[i], gm__rand(tx->sys));
        struct gm_fv_node *last = NULL;

        if (!nd) {
            /* What was built is tracked: a failed commit frees it. */
            free(stack);
            return tx->err;
        }
        while (top && stack[top - 1]->prio < nd->prio) {
            last = stack[--top];
            if (top) {
                stack[top - 1]->r = last;
            }
            fix(last);
        }
        nd->l = last;
        if (top) {
            stack[top - 1]->r = nd;
        }
        stack[top++] = nd;
    }
    while (top > 1) {
        fix(stack[--top]);
    }
    fix(stack[0]);
    *out = stack[0];
    free(stack);
    return 0;
}

const struct gm_range *gm__fv_find(const struct gm_fv_node *t, uint64_t addr)
{
    while (t) {
        if (addr < t->rg.start) {
            t = t->l;
        } else if (addr > t->rg.last) {
            t = t->r;
        } else {
            return &t->rg;
        }
    }
    return NULL;
}

struct gm_rrec *gm__fv_find_rec(const struct gm_fv_node *t, uint64_t addr)
{
    while (t) {
        if (addr < t->rg.start) {
            t = t->l;
        } else if (addr > t->rg.last) {
            t = t->r;
        } else {
            return t->rec;
        }
    }
    return NULL;
}

const struct gm_range *gm__fv_next(const struct gm_fv_node *t, uint64_t addr)
{
    const struct gm_range *best = NULL;

    while (t) {
        if (t->rg.start > addr) {
            best = &t->rg;
            t = t->l;
        } else {
            t = t->r;
        }
    }
    return best;
}

const struct gm_range *gm__fv_last(const struct gm_fv_node *t)
{
    if (!t) {
        return NULL;
    }
    while (t->r) {
        t = t->r;
    }
    return &t->rg;
}

const struct gm_range *gm__fv_find_start(const struct gm_fv_node *t,
                                         uint64_t start)
{
    const struct gm_range *rg = gm__fv_find(t, start);

    return rg && rg->start == start ? rg : NULL;
}

int gm__fv_walk(const struct gm_fv_node *t, uint64_t lo, uint64_t hi,
                int (*fn)(const struct gm_range *rg, void *opaque),
                void *opaque)
{
    int ret;

    while (t) {
        if (t->rg.start < lo) {
            t = t->r;
            continue;
        }
        if (t->rg.start > hi) {
            t = t->l;
            continue;
        }
        ret = gm__fv_walk(t->l, lo, hi, fn, opaque);
        if (ret) {
            return ret;
        }
        ret = fn(&t->rg, opaque);
        if (ret) {
            return ret;
        }
        lo = t->rg.start + 1;
        t = t->r;
    }
    return 0;
}

size_t gm__fv_count(const struct gm_fv_node *t)
{
    return cnt(t);
}
