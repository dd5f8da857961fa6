/* SPDX-License-Identifier: MIT */
/*
 * reclaim/reclaim.c - generations, garbage lists, histories, deferred frees.
 *
 * See reclaim.h for the three mechanisms. The expected workload: a commit
 * drops O(log n) objects per changed range onto one garbage list; versions
 * die in order (readers let go of old views quickly) so a history holds a
 * handful of versions; dead views arrive in batches of DEFER_BATCH behind
 * one grace period.
 */
#include <string.h>

#include "reclaim.h"

#define DEFER_BATCH 64
#define POOL_MAX 16

int gm__reclaim_init(gm_system *sys)
{
    struct gm_reclaim *rc = calloc(1, sizeof(*rc));

    if (!rc) {
        return -ENOMEM;
    }
    atomic_init(&rc->done, NULL);
    atomic_init(&rc->rcu_pending, 0);
    sys->reclaim = rc;
    return 0;
}

void gm__reclaim_fini(gm_system *sys)
{
    struct gm_reclaim *rc = sys->reclaim;

    if (!rc) {
        return;
    }
    while (rc->pool_n) {
        free(rc->pool[--rc->pool_n].v);
    }
    gm__vec_free(&rc->made);
    free(rc);
    sys->reclaim = NULL;
}

unsigned gm__reclaim_kind(gm_system *sys, gm_gc_free_fn fn)
{
    struct gm_reclaim *rc = sys->reclaim;

    /* A fixed number of kinds is compiled in; running out is a bug. */
    if (rc->nr_kinds >= GM_GC_KINDS) {
        abort();
    }
    rc->free_fn[rc->nr_kinds] = fn;
    return rc->nr_kinds++;
}

uint64_t gm__reclaim_next_gen(gm_system *sys)
{
    return ++sys->reclaim->gen;
}

int gm__txn_track(struct gm_txn *tx, void *obj, unsigned kind)
{
    struct gm_gc_ent e = {obj, kind};

    if (gm__vec_push(&tx->sys->reclaim->made, e)) {
        return tx->err = -ENOMEM;
    }
    return 0;
}

void gm__txn_drop(struct gm_txn *tx, void *obj, unsigned kind)
{
    uint64_t *gen = obj;
    struct gm_gc_ent e = {obj, kind};

    if (*gen == tx->gen) {
        *gen = GM_GEN_DEAD;
    } else if (gm__vec_push(tx->gc, e)) {
        /*
         * Cannot remember it: the commit fails, and the object stays with
         * the versions that use it.
         */
        tx->err = -ENOMEM;
    }
}

void gm__reclaim_commit(gm_system *sys)
{
    struct gm_reclaim *rc = sys->reclaim;

    for (size_t i = 0; i < rc->made.n; i++) {
        if (*(uint64_t *)rc->made.v[i].p == GM_GEN_DEAD) {
            rc->free_fn[rc->made.v[i].kind](sys, rc->made.v[i].p);
        }
    }
    rc->made.n = 0;
}

void gm__reclaim_abort(gm_system *sys)
{
    struct gm_reclaim *rc = sys->reclaim;

    for (size_t i = 0; i < rc->made.n; i++) {
        rc->free_fn[rc->made.v[i].kind](sys, rc->made.v[i].p);
    }
    rc->made.n = 0;
}

/* Free everything on gc (its versions are all dead). */
static void gc_free(gm_system *sys, gm_gcvec *gc)
{
    struct gm_reclaim *rc = sys->reclaim;

    for (size_t i = 0; i < gc->n; i++) {
        rc->free_fn[gc->v[i].kind](sys, gc->v[i].p);
    }
    gc->n = 0;
}

void gm__gc_prepare(gm_system *sys, gm_gcvec *gc)
{
    struct gm_reclaim *rc = sys->reclaim;

    if (!gc->v && rc->pool_n) {
        *gc = rc->pool[--rc->pool_n];
        gc->n = 0;
    }
}

void gm__gc_release(gm_system *sys, gm_gcvec *gc)
{
    struct gm_reclaim *rc = sys->reclaim;

    if (gc->v && rc->pool_n < POOL_MAX) {
        rc->pool[rc->pool_n++] = *gc;
    } else {
        free(gc->v);
    }
    gc->v = NULL;
    gc->n = gc->cap = 0;
}

/*
 * Histories.
 */

struct gm_history *gm__history_new(gm_version_free_fn fn)
{
    struct gm_history *h = calloc(1, sizeof(*h));

    if (h) {
        h->free_version = fn;
    }
    return h;
}

void gm__history_append(struct gm_history *h, struct gm_version *v,
                        gm_gcvec *gc)
{
    v->hist = h;
    v->next = NULL;
    v->dead = false;
    v->garbage = *gc;
    gc->v = NULL;
    gc->n = gc->cap = 0;
    if (h->newest) {
        h->newest->next = v;
    } else {
        h->oldest = v;
    }
    h->newest = v;
}

void gm__history_unappend(gm_system *sys, struct gm_version *v)
{
    struct gm_history *h = v->hist;
    struct gm_version **pp = &h->oldest, *prev = NULL;

    while (*pp != v) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    *pp = NULL;
    h->newest = prev;
    v->garbage.n = 0; /* its entries live on in older versions */
    gm__gc_release(sys, &v->garbage);
}

/*
 * Free the versions nobody can reach any more: while the oldest version is
 * dead, pop it; the garbage of the version after it then belongs to dead
 * versions only. The last version also takes its whole structure along.
 */
static void history_collect(gm_system *sys, struct gm_history *h)
{
    while (h->oldest && h->oldest->dead) {
        struct gm_version *v = h->oldest;
        bool last;

        h->oldest = v->next;
        last = !h->oldest;
        if (last) {
            h->newest = NULL;
        } else {
            gc_free(sys, &h->oldest->garbage);
        }
        gc_free(sys, &v->garbage); /* empty unless it was the first */
        gm__gc_release(sys, &v->garbage);
        h->free_version(sys, v, last);
    }
    if (!h->oldest && h->orphan) {
        free(h);
    }
}

void gm__version_dead(gm_system *sys, struct gm_version *v)
{
    v->dead = true;
    history_collect(sys, v->hist);
}

void gm__history_orphan(gm_system *sys, struct gm_history *h)
{
    if (h) {
        h->orphan = true;
        history_collect(sys, h);
    }
}

/*
 * Deferred frees.
 */

static void done_push(struct gm_reclaim *rc, struct gm_deferred *d)
{
    struct gm_deferred *head =
        atomic_load_explicit(&rc->done, memory_order_relaxed);

    do {
        d->next = head;
    } while (!atomic_compare_exchange_weak_explicit(
        &rc->done, &head, d, memory_order_release, memory_order_relaxed));
}

static void deferred_rcu_cb(struct rcu_head *head)
{
    /*
     * The next writer frees it: freeing here, on liburcu's callback
     * thread, would need the writer lock and would hand every block back
     * to another thread's arena.
     */
    struct gm_deferred *d = caa_container_of(head, struct gm_deferred, rcu);
    struct gm_reclaim *rc;

    gm__rcu_cb_enter(head);
    rc = d->sys->reclaim;
    done_push(rc, d);
    atomic_fetch_sub_explicit(&rc->rcu_pending, 1, memory_order_release);
}

void gm__defer(gm_system *sys, struct gm_deferred *d,
               void (*fn)(struct gm_deferred *d))
{
    struct gm_reclaim *rc = sys->reclaim;

    d->sys = sys;
    d->free = fn;
    d->next = rc->deferred;
    rc->deferred = d;
    rc->deferred_n++;
}

void gm__defer_rcu(gm_system *sys, struct gm_deferred *d,
                   void (*fn)(struct gm_deferred *d))
{
    d->sys = sys;
    d->free = fn;
    atomic_fetch_add_explicit(&sys->reclaim->rcu_pending, 1,
                              memory_order_relaxed);
    gm__rcu_call(&d->rcu, deferred_rcu_cb);
}

bool gm__reclaim_due(gm_system *sys)
{
    return sys->reclaim->deferred_n >= DEFER_BATCH;
}

struct gm_deferred *gm__reclaim_take(gm_system *sys)
{
    struct gm_reclaim *rc = sys->reclaim;
    struct gm_deferred *d = rc->deferred;

    rc->deferred = NULL;
    rc->deferred_n = 0;
    if (d && urcu_bp_read_ongoing()) {
        /* Inside a read-side section: waiting would wait for ourselves. */
        while (d) {
            struct gm_deferred *next = d->next;
            gm__defer_rcu(sys, d, d->free);
            d = next;
        }
    }
    return d;
}

void gm__reclaim_free(gm_system *sys, struct gm_deferred *d)
{
    (void)sys;
    gm__rcu_after_sync();
    while (d) {
        struct gm_deferred *next = d->next;
        d->free(d);
        d = next;
    }
}

void gm__reclaim_drain(gm_system *sys)
{
    struct gm_deferred *d = atomic_exchange_explicit(
        &sys->reclaim->done, NULL, memory_order_acquire);

    while (d) {
        struct gm_deferred *next = d->next;
        d->free(d);
        d = next;
    }
}

long gm__reclaim_in_flight(gm_system *sys)
{
    return atomic_load_explicit(&sys->reclaim->rcu_pending,
                                memory_order_acquire);
}
