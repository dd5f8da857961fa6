/* SPDX-License-Identifier: MIT */
/*
 * reclaim/reclaim.h - when memory that readers may still see is freed.
 *
 * Three mechanisms, none of which knows what it frees (the owners register
 * free functions; reclaim never names a view, a table or a region):
 *
 *  - Generations and garbage lists. A commit has a generation; objects it
 *    creates carry it and may be changed or freed in place during that
 *    commit. Older objects are shared with published versions: a commit
 *    that stops using one pushes it on the garbage list of the version it
 *    builds, with the kind of object it is.
 *  - Histories. The versions of one view, oldest first. The garbage of
 *    version g is freed once every version before g is dead; the last
 *    version takes its whole structure along (its owner's hook). No
 *    per-object counts: copying an object touches only that object.
 *  - Deferred frees. An object whose last reference went away is freed
 *    after an RCU grace period: in batches behind one synchronize_rcu() for
 *    the writer's own drops (api/ waits with the writer lock released), or
 *    through call_rcu for drops from any other thread, whose callback only
 *    queues the object for the next writer (freeing may destroy regions,
 *    which needs the writer lock).
 *
 * Everything here runs under the writer lock unless it says otherwise.
 */
#ifndef GM_RECLAIM_H
#define GM_RECLAIM_H

#include "../base/base.h"

/* One object on a garbage list: what it is, by its owner's kind number. */
struct gm_gc_ent {
    void *p;
    unsigned kind;
};
typedef GM_VEC(struct gm_gc_ent) gm_gcvec;

typedef void (*gm_gc_free_fn)(gm_system *sys, void *obj);

#define GM_GC_KINDS 8

struct gm_deferred;

struct gm_reclaim {
    uint64_t gen;                        /* the commit in progress */
    gm_gcvec made;                       /* objects it made (tracked) */
    gm_gc_free_fn free_fn[GM_GC_KINDS];  /* by kind */
    unsigned nr_kinds;
    gm_gcvec pool[16];                   /* recycled garbage lists */
    unsigned pool_n;
    struct gm_deferred *deferred;        /* writer's drops, awaiting a GP */
    size_t deferred_n;
    struct gm_deferred *_Atomic done;    /* past their grace period */
    atomic_long rcu_pending;             /* handed to call_rcu */
};

int gm__reclaim_init(gm_system *sys);
void gm__reclaim_fini(gm_system *sys);
/* Register the free function of a kind of object (at init); its number. */
unsigned gm__reclaim_kind(gm_system *sys, gm_gc_free_fn fn);

/*
 * The context of one structure's edits in a commit: objects of generation
 * tx->gen are private, older ones go on *gc when dropped. err collects the
 * first failure of an operation that cannot return one.
 */
struct gm_txn {
    gm_system *sys;
    uint64_t gen;
    gm_gcvec *gc;
    int err;
};

/*
 * Objects managed by generation start with their generation (uint64_t).
 * A commit's own objects that it stops using again get GM_GEN_DEAD.
 */
#define GM_GEN_DEAD UINT64_MAX

/* Start a new commit generation and return it. */
uint64_t gm__reclaim_next_gen(gm_system *sys);
/*
 * Track obj, just made by the commit in progress (its gen is tx->gen): if
 * the commit fails, it is freed with everything else the commit made.
 * -ENOMEM: not tracked, the caller frees obj.
 */
int gm__txn_track(struct gm_txn *tx, void *obj, unsigned kind);
/*
 * obj leaves the version being built: if the commit made it, it is freed
 * when the commit ends; if an older version uses it, it goes on the
 * garbage list of the version being built (which may fail: tx->err).
 */
void gm__txn_drop(struct gm_txn *tx, void *obj, unsigned kind);
/*
 * The end of a commit: free what it made and dropped again (success), or
 * everything it made (failure: no published version refers to any of it).
 */
void gm__reclaim_commit(gm_system *sys);
void gm__reclaim_abort(gm_system *sys);
/* Give gc an array from the pool / return it to the pool. */
void gm__gc_prepare(gm_system *sys, gm_gcvec *gc);
void gm__gc_release(gm_system *sys, gm_gcvec *gc);

/*
 * Histories.
 */
struct gm_history;

struct gm_version {
    struct gm_version *next; /* newer */
    struct gm_history *hist;
    gm_gcvec garbage;        /* dropped when this version was made */
    bool dead;
};

/*
 * free_version: free the version's own object; when last, also the whole
 * structure it holds (nothing else refers to it any more).
 */
typedef void (*gm_version_free_fn)(gm_system *sys, struct gm_version *v,
                                   bool last);

struct gm_history {
    struct gm_version *oldest, *newest;
    bool orphan; /* its owner is gone: free it with its last version */
    gm_version_free_fn free_version;
};

struct gm_history *gm__history_new(gm_version_free_fn fn);
/* Append v as the newest version; it takes over *gc (left empty). */
void gm__history_append(struct gm_history *h, struct gm_version *v,
                        gm_gcvec *gc);
/*
 * Take back the newest version v, never published: its garbage is still
 * in use by the version before (the list is emptied, not freed).
 */
void gm__history_unappend(gm_system *sys, struct gm_version *v);
/* Nobody uses v any more: free what only dead versions used. */
void gm__version_dead(gm_system *sys, struct gm_version *v);
/* The owner lets go of h. */
void gm__history_orphan(gm_system *sys, struct gm_history *h);

/*
 * Deferred frees.
 */
struct gm_deferred {
    struct rcu_head rcu;
    struct gm_deferred *next;
    gm_system *sys;
    void (*free)(struct gm_deferred *d); /* called with the writer lock */
};

/* Writer side (lock held): free d after a grace period, batched. */
void gm__defer(gm_system *sys, struct gm_deferred *d,
               void (*fn)(struct gm_deferred *d));
/* Any thread: free d after a grace period, through call_rcu. */
void gm__defer_rcu(gm_system *sys, struct gm_deferred *d,
                   void (*fn)(struct gm_deferred *d));
/* A batch of the writer's drops is big enough to wait for. */
bool gm__reclaim_due(gm_system *sys);
/*
 * Detach the batch (lock held). NULL when empty, or when the caller is in
 * a read-side section (waiting would wait for itself): the batch then goes
 * through call_rcu.
 */
struct gm_deferred *gm__reclaim_take(gm_system *sys);
/* After a grace period, lock held: free a detached batch. */
void gm__reclaim_free(gm_system *sys, struct gm_deferred *batch);
/* Free what call_rcu has handed back (lock held). */
void gm__reclaim_drain(gm_system *sys);
/* Objects still waiting in call_rcu (any thread). */
long gm__reclaim_in_flight(gm_system *sys);

#endif
