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
 * An address space: a name, a root, the published view, and what the
 * modules above keep per space (the update's view state, access caches
 * and DMA bookkeeping).
 */
struct gm_space_access;
struct gm_vstate;

struct gm_space {
    gm_system *sys;
    char *name;
    gm_region *root;           /* referenced */
    gm_flatview *_Atomic view; /* published view (one reference) */
    /* update/'s (writer lock) */
    struct gm_vstate *vs;      /* resolved view state */
    struct gm_vstate *next_vs; /* during an update: the new one */
    struct gm_vstate *sw;      /* during an update: events of a switch */
    bool dying;
    bool is_new;
    gm_space *prev, *next;     /* the system's spaces, creation order */
    /* access/'s */
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
/* Writer-side unref (lock held): the free waits for a grace period. */
void gm__flatview_put(gm_system *sys, gm_flatview *fv);
/* A reference on as's current view; call inside an RCU read section. */
gm_flatview *gm__space_view_get(gm_space *as);

#endif
