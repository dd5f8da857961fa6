/* SPDX-License-Identifier: MIT */
/*
 * base/itree.c - an interval treap: which of many extents meet a window.
 *
 * Rendering a window of a container must find the children whose extent
 * meets the window without looking at the others: a container may hold
 * tens of thousands of children (one per device queue, per BAR, per page of
 * a fuzzer's map) and a commit must cost what changed. The access caches of
 * a view are found the same way when a commit changes ranges. Nodes are
 * kept in a treap ordered by (start, node address), each carrying the
 * largest end in its subtree, so a query costs O(log n + k) expected.
 *
 * Nodes are embedded in their owners and changed in place (the split and
 * join are base.h's, with nothing to copy). Priorities come from a
 * hash of the node's address: the shape is random with respect to the
 * keys, deterministic for a given allocation. Callers serialise access.
 */
#include "base.h"

static inline gm_u128 max_u128(gm_u128 a, gm_u128 b)
{
    return a > b ? a : b;
}

static void fix(struct gm_itree_node *n)
{
    gm_u128 m = n->end;

    if (n->l) {
        m = max_u128(m, n->l->max_end);
    }
    if (n->r) {
        m = max_u128(m, n->r->max_end);
    }
    n->max_end = m;
}

static bool key_lt(const struct gm_itree_node *a,
                   const struct gm_itree_node *b)
{
    if (a->start != b->start) {
        return a->start < b->start;
    }
    return (uintptr_t)a < (uintptr_t)b;
}

static uint32_t hash_ptr(const void *p)
{
    uint64_t x = (uint64_t)(uintptr_t)p;

    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return (uint32_t)x;
}

#define IT_BEFORE(t, k) key_lt((t), (k))
#define IT_FIX(t) fix(t)
#define IT_OWN(c, t) ((void)(c), (t))
GM_TREAP_SPLIT_JOIN(it, struct gm_itree_node, void *,
                    const struct gm_itree_node *, IT_BEFORE, IT_FIX, IT_OWN)

void gm__itree_insert(struct gm_itree_node **root, struct gm_itree_node *n)
{
    struct gm_itree_node **link = root;

    n->prio = hash_ptr(n);
    n->max_end = n->end;
    /* Descend to where n's priority puts it, then split that subtree. */
    while (*link && (*link)->prio >= n->prio) {
        struct gm_itree_node *t = *link;

        if (n->end > t->max_end) {
            t->max_end = n->end;
        }
        link = key_lt(n, t) ? &t->l : &t->r;
    }
    it_split(NULL, *link, n, &n->l, &n->r);
    fix(n);
    *link = n;
}

static struct gm_itree_node *remove_rec(struct gm_itree_node *t,
                                        struct gm_itree_node *n)
{
    struct gm_itree_node *res;

    if (!t) {
        return NULL; /* not found: the caller's invariant is broken */
    }
    if (t == n) {
        res = it_join(NULL, t->l, t->r);
        n->l = n->r = NULL;
        return res;
    }
    if (key_lt(n, t)) {
        t->l = remove_rec(t->l, n);
    } else {
        t->r = remove_rec(t->r, n);
    }
    fix(t);
    return t;
}

void gm__itree_remove(struct gm_itree_node **root, struct gm_itree_node *n)
{
    *root = remove_rec(*root, n);
}

void gm__itree_query(struct gm_itree_node *t, gm_u128 lo, gm_u128 hi,
                     void (*fn)(struct gm_itree_node *n, void *opaque),
                     void *opaque)
{
    while (t) {
        if (t->max_end <= lo) {
            return;
        }
        if (t->l) {
            gm__itree_query(t->l, lo, hi, fn, opaque);
        }
        if (t->start >= hi) {
            return;
        }
        if (t->end > lo) {
            fn(t, opaque);
        }
        t = t->r;
    }
}
