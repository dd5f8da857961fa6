/* SPDX-License-Identifier: MIT */
/*
 * view/view.h - rendering a region tree, flat view objects, and the view an
 * address space publishes.
 *
 * A flat view ties together the ranges a root renders to (ranges/) and the
 * dispatch table over them (dispatch/). It is immutable once published and
 * refcounted; its memory is one version of its view state's history
 * (reclaim/), freed when no reader and no newer version needs it.
 */
#ifndef GM_VIEW_H
#define GM_VIEW_H

#include "../dispatch/dispatch.h"

struct gm_flatview {
    atomic_long refcnt;
    gm_system *sys;
    gm_region *root;          /* referenced; NULL for an empty view */
    struct gm_fv_node *tree;
    struct gm_dispatch disp;  /* address -> range */
    bool in_history;          /* false: a standalone (empty) view */
    struct gm_version ver;    /* in its view state's history */
    struct gm_deferred def;   /* freed after a grace period */
};

/*
 * What the readers of one view state see: its published view, and the
 * access caches of every space publishing through it, indexed by window
 * (access/'s, under caches_lock). Spaces whose roots resolve alike share
 * one cell, so publishing a view costs one store however many spaces (a
 * thousand bus-master spaces of system memory) show it.
 */
struct gm_viewcell {
    gm_flatview *_Atomic view; /* one reference */
    pthread_mutex_t caches_lock;
    struct gm_itree_node *caches;
    struct gm_deferred def;    /* freed after a grace period */
};

/*
 * An address space: a name, a root, the cell it reads its view from, and
 * what the modules above keep per space behind their own pointers.
 */
struct gm_space_access;
struct gm_space_update;

struct gm_space {
    gm_system *sys;
    char *name;
    gm_region *root;                   /* referenced */
    struct gm_viewcell *_Atomic cell;  /* published by update/ */
    _Atomic uint8_t unassigned;        /* what holes read as (access/) */
    gm_listener *lhead, *ltail;        /* listeners filtered on it (listen/) */
    struct gm_space_update *upd;
    struct gm_space_access *acc;
};

struct gm_view_state {
    void *render; /* render.c's buffers, kept across commits */
};

int gm__view_init(gm_system *sys);
void gm__view_fini(gm_system *sys);

/* Render root over [lo, hi) (hi <= 2^64), append merged ranges to out. */
int gm__render(gm_system *sys, gm_region *root, gm_u128 lo, gm_u128 hi,
               gm_rangevec *out);

/* A history for the versions of one view (reclaim/ frees them). */
struct gm_history *gm__view_history_new(void);
/*
 * A new view of root with tree and table, as the newest version of hist
 * (NULL: a standalone view); takes over *gc. NULL on -ENOMEM (nothing
 * taken over).
 */
gm_flatview *gm__flatview_new(gm_system *sys, gm_region *root,
                              struct gm_fv_node *tree,
                              const struct gm_dispatch *disp,
                              struct gm_history *hist, gm_gcvec *gc);
/*
 * Undo gm__flatview_new() of a version never published; its tree and table
 * belong to the failed commit, which frees them (reclaim/).
 */
void gm__flatview_discard(gm_flatview *fv);
/* A cell publishing fv (its reference is taken over); NULL on -ENOMEM. */
struct gm_viewcell *gm__cell_new(gm_system *sys, gm_flatview *fv);
/*
 * Publish fv in c, taking over the caller's reference; the view published
 * before is dropped (freed after readers).
 */
void gm__cell_publish(gm_system *sys, struct gm_viewcell *c, gm_flatview *fv);
/* The writer's view of the cell (lock held). */
static inline gm_flatview *gm__cell_view(struct gm_viewcell *c)
{
    return atomic_load_explicit(&c->view, memory_order_relaxed);
}
/* Free c (no space reads it any more) after a grace period. */
void gm__cell_retire(gm_system *sys, struct gm_viewcell *c);

/*
 * as's current view, inside an RCU read-side section: valid until the
 * section ends. Two dependent loads; the access path starts here.
 */
static inline gm_flatview *gm__space_view(gm_space *as)
{
    return gm__rcu_load(gm__rcu_load(as->cell)->view);
}
/* A reference on as's current view; call inside an RCU read section. */
gm_flatview *gm__space_view_get(gm_space *as);

#endif
