/* SPDX-License-Identifier: MIT */
/*
 * flatview.c - flat views as persistent treaps of ranges.
 *
 * A flat view is the sorted list of non-overlapping ranges an address space
 * renders to. Readers hold views for as long as they like, so a view is
 * immutable once published; yet a commit must not copy a 10,000-range view
 * to change three ranges. Views are therefore persistent treaps: a commit
 * splits the previous tree at the edges of each re-rendered window, drops
 * the middle, and joins in the new ranges. Only the O(log n) nodes on the
 * split and join paths are copied; every other subtree is shared with the
 * previous version.
 *
 * Invariants:
 *  - a node or range record whose gen equals the system's current
 *    generation was created by the commit in progress and is reachable from
 *    no published view, so it may be changed or freed in place; every other
 *    node is copied before a change, and what a version no longer uses goes
 *    on that version's garbage list;
 *  - the versions of one view state form a history, oldest first; the
 *    garbage of version g is freed once every version before g is dead, and
 *    the last version frees its whole tree. No per-node reference counts:
 *    copying a node touches only that node;
 *  - in-order, ranges are sorted by start, do not overlap, and no two
 *    neighbours could merge (gm__range_can_merge);
 *  - range records are immutable and shared by all copies of their node;
 *    each holds one reference on its region.
 *
 * Views' refcounts are atomic because the last unref may come from any
 * thread; memory is only freed under the writer lock (views whose count
 * reached zero are queued on the system's reclaim list, see system.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

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
           a->nonvolatile == b->nonvolatile && a->mask == b->mask;
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

#define NODE_CACHE_MAX 4096

static struct gm_fv_node *node_alloc(gm_system *sys)
{
    struct gm_fv_node *n = sys->node_cache;

    if (n) {
        sys->node_cache = n->l;
        sys->node_cache_n--;
        return n;
    }
    return malloc(sizeof(*n));
}

static void node_free(gm_system *sys, struct gm_fv_node *n)
{
    if (sys->node_cache_n < NODE_CACHE_MAX) {
        n->l = sys->node_cache;
        sys->node_cache = n;
        sys->node_cache_n++;
    } else {
        free(n);
    }
}

void gm__fv_cache_free(gm_system *sys)
{
    while (sys->node_cache) {
        struct gm_fv_node *n = sys->node_cache;
        sys->node_cache = n->l;
        free(n);
    }
    sys->node_cache_n = 0;
}

static void rec_free(struct gm_rrec *r)
{
    gm_region_unref(r->rg.mr);
    free(r);
}

void gm__gc_push(struct gm_txn *tx, void *p, enum gm_gc_kind kind)
{
    struct gm_gc_ent e = {p, kind};

    if (gm__vec_push(tx->gc, e)) {
        /*
         * Cannot remember it: leak rather than free memory a reader may
         * still use. Only reachable when malloc fails.
         */
        tx->err = -ENOMEM;
    }
}

static void drop_node(struct gm_txn *tx, struct gm_fv_node *n)
{
    if (n->gen == tx->sys->gen) {
        node_free(tx->sys, n);
    } else {
        gm__gc_push(tx, n, GM_GC_NODE);
    }
}

static void drop_rec(struct gm_txn *tx, struct gm_rrec *r)
{
    if (r->gen == tx->sys->gen) {
        rec_free(r);
    } else {
        gm__gc_push(tx, r, GM_GC_REC);
    }
}

void gm__gc_free(gm_system *sys, gm_gcvec *gc)
{
    for (size_t i = 0; i < gc->n; i++) {
        switch (gc->v[i].kind) {
        case GM_GC_NODE:
            node_free(sys, gc->v[i].p);
            break;
        case GM_GC_REC:
            rec_free(gc->v[i].p);
            break;
        case GM_GC_DNODE:
            gm__dnode_free(sys, gc->v[i].p);
            break;
        case GM_GC_SUBPAGE:
            free(gc->v[i].p);
            break;
        }
    }
    gc->n = 0;
}

void gm__gc_prepare(gm_system *sys, gm_gcvec *gc)
{
    if (!gc->v && sys->gcpool_n) {
        *gc = sys->gcpool[--sys->gcpool_n];
        gc->n = 0;
    }
}

void gm__gc_release(gm_system *sys, gm_gcvec *gc)
{
    if (gc->v && sys->gcpool_n < 16) {
        sys->gcpool[sys->gcpool_n++] = *gc;
    } else {
        free(gc->v);
    }
    gc->v = NULL;
    gc->n = gc->cap = 0;
}

static struct gm_fv_node *node_with_rec(gm_system *sys, struct gm_rrec *rec,
                                        uint32_t prio)
{
    struct gm_fv_node *n = node_alloc(sys);

    if (!n) {
        return NULL;
    }
    n->l = n->r = NULL;
    n->gen = sys->gen;
    n->prio = prio;
    n->count = 1;
    n->rg = rec->rg;
    n->rec = rec;
    return n;
}

static struct gm_fv_node *node_new(gm_system *sys, const struct gm_range *rg,
                                   uint32_t prio)
{
    struct gm_rrec *rec = malloc(sizeof(*rec));
    struct gm_fv_node *n;

    if (!rec) {
        return NULL;
    }
    rec->gen = sys->gen;
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
    n = node_with_rec(sys, rec, prio);
    if (!n) {
        free(rec);
        return NULL;
    }
    gm_region_ref(rg->mr);
    return n;
}

/*
 * Make t private to this commit. Copying cannot be allowed to fail halfway
 * through a split, so an allocation failure here aborts: node copies are
 * small and bounded by the tree depth.
 */
static struct gm_fv_node *cow(struct gm_txn *tx, struct gm_fv_node *t)
{
    struct gm_fv_node *c;

    if (t->gen == tx->sys->gen) {
        return t;
    }
    c = node_with_rec(tx->sys, t->rec, t->prio);
    if (!c) {
        abort();
    }
    c->l = t->l;
    c->r = t->r;
    c->count = t->count;
    drop_node(tx, t);
    return c;
}

void gm__fv_split(struct gm_txn *tx, struct gm_fv_node *t, uint64_t key,
                  struct gm_fv_node **lt, struct gm_fv_node **ge)
{
    if (!t) {
        *lt = *ge = NULL;
        return;
    }
    t = cow(tx, t);
    if (t->rg.start < key) {
        gm__fv_split(tx, t->r, key, &t->r, ge);
        *lt = t;
    } else {
        gm__fv_split(tx, t->l, key, lt, &t->l);
        *ge = t;
    }
    fix(t);
}

struct gm_fv_node *gm__fv_join(struct gm_txn *tx, struct gm_fv_node *a,
                               struct gm_fv_node *b)
{
    if (!a) {
        return b;
    }
    if (!b) {
        return a;
    }
    if (a->prio > b->prio) {
        a = cow(tx, a);
        a->r = gm__fv_join(tx, a->r, b);
        fix(a);
        return a;
    }
    b = cow(tx, b);
    b->l = gm__fv_join(tx, a, b->l);
    fix(b);
    return b;
}

/*
 * Insert one range (no overlap with the tree's ranges) by path copying:
 * only the nodes on the search path are copied.
 */
int gm__fv_insert(struct gm_txn *tx, struct gm_fv_node **t,
                  const struct gm_range *rg)
{
    struct gm_fv_node *nd = node_new(tx->sys, rg, gm__rand(tx->sys));
    struct gm_fv_node **link = t;

    if (!nd) {
        return -ENOMEM;
    }
    while (*link && (*link)->prio >= nd->prio) {
        struct gm_fv_node *c = cow(tx, *link);
        *link = c;
        c->count++;
        link = rg->start < c->rg.start ? &c->l : &c->r;
    }
    gm__fv_split(tx, *link, rg->start, &nd->l, &nd->r);
    fix(nd);
    *link = nd;
    return 0;
}

/* Remove the range starting at start (which must exist). */
void gm__fv_delete(struct gm_txn *tx, struct gm_fv_node **t, uint64_t start)
{
    struct gm_fv_node **link = t;

    while (*link) {
        struct gm_fv_node *c = *link;

        if (c->rg.start == start) {
            *link = gm__fv_join(tx, c->l, c->r);
            drop_rec(tx, c->rec);
            drop_node(tx, c);
            return;
        }
        c = cow(tx, c);
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

void gm__fv_discard(gm_system *sys, struct gm_fv_node *t)
{
    while (t && t->gen == sys->gen) {
        struct gm_fv_node *r = t->r;

        gm__fv_discard(sys, t->l);
        if (t->rec->gen == sys->gen) {
            rec_free(t->rec);
        }
        node_free(sys, t);
        t = r;
    }
}

/* Free a whole tree: the last version of a history. */
static void free_all(gm_system *sys, struct gm_fv_node *t)
{
    while (t) {
        struct gm_fv_node *r = t->r;

        free_all(sys, t->l);
        rec_free(t->rec);
        node_free(sys, t);
        t = r;
    }
}

/* Build a treap over sorted ranges in O(n) with a right-spine stack. */
int gm__fv_build(struct gm_txn *tx, const struct gm_range *v, size_t n,
                 struct gm_fv_node **out)
{
    gm_system *sys = tx->sys;
    struct gm_fv_node **stack;
    size_t top = 0;

    *out = NULL;
    if (!n) {
        return 0;
    }
    stack = malloc(n * sizeof(*stack));
    if (!stack) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        struct gm_fv_node *nd = node_new(sys, &v[i], gm__rand(sys));
        struct gm_fv_node *last = NULL;

        if (!nd) {
            /* Release what was built: the bottom of the stack owns it. */
            while (top > 1) {
                struct gm_fv_node *c = stack[--top];
                stack[top - 1]->r = c;
            }
            if (top) {
                gm__fv_discard(sys, stack[0]);
            }
            free(stack);
            return -ENOMEM;
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

gm_flatview *gm__flatview_new(gm_system *sys, gm_region *root,
                              struct gm_fv_node *tree, struct gm_history *hist,
                              gm_gcvec *gc)
{
    gm_flatview *fv = calloc(1, sizeof(*fv));

    if (!fv) {
        return NULL;
    }
    atomic_init(&fv->refcnt, 1);
    fv->sys = sys;
    fv->root = gm_region_ref(root);
    fv->tree = tree;
    fv->hist = hist;
    if (gc) {
        fv->garbage = *gc;
        gc->v = NULL;
        gc->n = gc->cap = 0;
    }
    if (hist) {
        if (hist->newest) {
            hist->newest->hnext = fv;
        } else {
            hist->oldest = fv;
        }
        hist->newest = fv;
    }
    return fv;
}

static void flatview_reclaim_push(gm_flatview *fv)
{
    gm_system *sys = fv->sys;
    gm_flatview *head = atomic_load_explicit(&sys->reclaim,
                                             memory_order_relaxed);

    do {
        fv->reclaim_next = head;
    } while (!atomic_compare_exchange_weak_explicit(
        &sys->reclaim, &head, fv, memory_order_release, memory_order_relaxed));
}

static void flatview_rcu_cb(struct rcu_head *head)
{
    /*
     * The next writer (commit, region unref, system destroy) frees it:
     * freeing here, on liburcu's callback thread, would need the writer
     * lock and would hand every block back to another thread's arena.
     */
    gm_flatview *fv = caa_container_of(head, gm_flatview, rcu);
    gm_system *sys;

    gm__rcu_cb_enter(head);
    sys = fv->sys;
    flatview_reclaim_push(fv);
    atomic_fetch_sub_explicit(&sys->rcu_pending, 1, memory_order_release);
}

gm_flatview *gm_flatview_ref(gm_flatview *fv)
{
    if (fv) {
        atomic_fetch_add_explicit(&fv->refcnt, 1, memory_order_relaxed);
    }
    return fv;
}

/*
 * A reader's reference on the view a space publishes. The space may have
 * dropped its own reference after the reader loaded the pointer: a count
 * of zero means the view is on its way out (its memory is still valid, we
 * are in a read-side section), so take the space's newer view instead of
 * resurrecting this one.
 */
gm_flatview *gm__space_view_get(gm_space *as)
{
    for (;;) {
        gm_flatview *fv = gm__rcu_load(as->view);
        long n = atomic_load_explicit(&fv->refcnt, memory_order_relaxed);

        while (n > 0) {
            if (atomic_compare_exchange_weak_explicit(
                    &fv->refcnt, &n, n + 1, memory_order_acquire,
                    memory_order_relaxed)) {
                return fv;
            }
        }
    }
}

void gm_flatview_unref(gm_flatview *fv)
{
    if (fv && atomic_fetch_sub_explicit(&fv->refcnt, 1,
                                        memory_order_acq_rel) == 1) {
        /*
         * A reader may have loaded the pointer from a space just before the
         * space dropped it; wait for the grace period before freeing.
         */
        atomic_fetch_add_explicit(&fv->sys->rcu_pending, 1,
                                  memory_order_relaxed);
        gm__rcu_call(&fv->rcu, flatview_rcu_cb);
    }
}

#define DEFERRED_BATCH 64

void gm__flatview_put(gm_system *sys, gm_flatview *fv)
{
    if (fv && atomic_fetch_sub_explicit(&fv->refcnt, 1,
                                        memory_order_acq_rel) == 1) {
        fv->reclaim_next = sys->deferred;
        sys->deferred = fv;
        sys->deferred_n++;
    }
}

/*
 * The writer frees the views it dropped itself in batches, behind one
 * synchronize_rcu() per batch: call_rcu's callback thread wakes up every
 * few milliseconds, and a writer committing in a tight loop would otherwise
 * keep thousands of dead versions (and their garbage) around.
 *
 * The wait happens with the writer lock released (gm__unlock, when the
 * lock's outermost hold ends): a reader inside an MMIO callback may be
 * waiting for that lock to commit, and would never leave its read-side
 * section. A writer that is itself inside a read-side section (an MMIO
 * callback that commits) would wait for itself, so it hands the batch to
 * call_rcu instead.
 */
bool gm__flatview_flush_due(gm_system *sys)
{
    return sys->deferred_n >= DEFERRED_BATCH;
}

gm_flatview *gm__flatview_flush_take(gm_system *sys)
{
    gm_flatview *fv = sys->deferred;

    sys->deferred = NULL;
    sys->deferred_n = 0;
    if (fv && urcu_bp_read_ongoing()) {
        while (fv) {
            gm_flatview *next = fv->reclaim_next;
            atomic_fetch_add_explicit(&sys->rcu_pending, 1,
                                      memory_order_relaxed);
            gm__rcu_call(&fv->rcu, flatview_rcu_cb);
            fv = next;
        }
    }
    return fv;
}

/* After a grace period, with the writer lock held. */
void gm__flatview_free_batch(gm_flatview *fv)
{
    gm__rcu_after_sync();
    while (fv) {
        gm_flatview *next = fv->reclaim_next;
        gm__flatview_free(fv);
        fv = next;
    }
}

static void version_free(gm_flatview *fv)
{
    gm__gc_free(fv->sys, &fv->garbage);
    gm__gc_release(fv->sys, &fv->garbage);
    gm_region_unref(fv->root);
    free(fv);
}

/*
 * Free the versions nobody can reach any more: while the oldest version is
 * dead, pop it; the garbage of the version after it then belongs to dead
 * versions only. The last version also takes its whole tree along.
 */
static void history_collect(gm_system *sys, struct gm_history *h)
{
    while (h->oldest && h->oldest->dead) {
        gm_flatview *fv = h->oldest;

        h->oldest = fv->hnext;
        if (h->oldest) {
            gm__gc_free(sys, &h->oldest->garbage);
        } else {
            h->newest = NULL;
            gm__dispatch_free(sys, &fv->disp);
            free_all(sys, fv->tree);
        }
        version_free(fv);
    }
    if (!h->oldest && h->orphan) {
        free(h);
    }
}

void gm__history_orphan(gm_system *sys, struct gm_history *hist)
{
    if (hist) {
        hist->orphan = true;
        history_collect(sys, hist);
    }
}

void gm__flatview_discard(gm_flatview *fv)
{
    struct gm_history *h = fv->hist;

    if (h) {
        gm_flatview **pp = &h->oldest, *prev = NULL;

        while (*pp != fv) {
            prev = *pp;
            pp = &(*pp)->hnext;
        }
        *pp = NULL;
        h->newest = prev;
    }
    gm__dispatch_discard(fv->sys, &fv->disp);
    gm__fv_discard(fv->sys, fv->tree);
    fv->garbage.n = 0; /* its entries live on in older versions */
    gm__gc_release(fv->sys, &fv->garbage);
    gm_region_unref(fv->root);
    free(fv);
}

/* Called by gm__reclaim() under the writer lock. */
void gm__flatview_free(gm_flatview *fv)
{
    if (!fv->hist) {
        gm__dispatch_free(fv->sys, &fv->disp);
        free_all(fv->sys, fv->tree);
        version_free(fv);
        return;
    }
    fv->dead = true;
    history_collect(fv->sys, fv->hist);
}

gm_region *gm_flatview_root(const gm_flatview *fv)
{
    return fv ? fv->root : NULL;
}

size_t gm_flatview_nr_ranges(const gm_flatview *fv)
{
    return fv ? cnt(fv->tree) : 0;
}

static int foreach_rec(const struct gm_fv_node *t,
                       int (*fn)(const struct gm_section *s, void *opaque),
                       void *opaque)
{
    while (t) {
        struct gm_section s;
        int ret = foreach_rec(t->l, fn, opaque);

        if (ret) {
            return ret;
        }
        gm__range_to_section(&t->rg, NULL, &s);
        ret = fn(&s, opaque);
        if (ret) {
            return ret;
        }
        t = t->r;
    }
    return 0;
}

int gm_flatview_foreach(const gm_flatview *fv,
                        int (*fn)(const struct gm_section *s, void *opaque),
                        void *opaque)
{
    if (!fv || !fn) {
        return -EINVAL;
    }
    return foreach_rec(fv->tree, fn, opaque);
}

bool gm_flatview_lookup(const gm_flatview *fv, uint64_t addr,
                        struct gm_section *out)
{
    const struct gm_range *rg;

    if (!fv) {
        return false;
    }
    rg = gm__fv_find(fv->tree, addr);
    if (!rg) {
        return false;
    }
    if (out) {
        gm__range_to_section(rg, NULL, out);
    }
    return true;
}
