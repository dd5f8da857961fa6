/* SPDX-License-Identifier: MIT */
/*
 * update/update.h - the commit driver: from a transaction's marks to new
 * flat views, events and publication.
 *
 * A view state is the writer's side of one distinct resolved root: its
 * current view, the windows marked on it (its sink), its ioeventfd set, and
 * the scratch of one update. Spaces whose roots resolve alike share one.
 */
#ifndef GM_UPDATE_H
#define GM_UPDATE_H

#include "../access/access.h"
#include "../listen/listen.h"

/* One ioeventfd of a view: absolute address, and the range it came from. */
struct gm_evfd_ent {
    struct gm_ioeventfd e;
    uint64_t src; /* start of the range it came from */
};
typedef GM_VEC(struct gm_evfd_ent) gm_evvec;
typedef GM_VEC(struct gm_section) gm_secvec;

struct gm_vstate {
    gm_system *sys;
    gm_region *root;          /* NULL: the shared empty view */
    gm_flatview *cur;         /* current view (one reference) */
    struct gm_history *hist;  /* versions of this state's views */
    gm_gcvec gc;              /* scratch: dropped by the version built */
    unsigned users;           /* spaces resolved to this state */
    bool full;                /* render everything at the next commit */
    struct gm_winsink sink;   /* windows marked since the last update */
    gm_evvec evfds;           /* sorted by (e, src) */
    gm_evvec next_evfds;
    struct gm_vstate *next;

    /* Scratch of one update. */
    gm_flatview *next_view;
    gm_secvec dels, adds;     /* adds: adds, nops, logs */
    GM_VEC(uint8_t) add_kind; /* enum gm_ev_kind per adds entry */
    GM_VEC(uint8_t) add_oldmask;
    gm_evvec ev_dels, ev_adds;
    bool changed;    /* ranges changed (new view to publish) */
    bool ev_changed; /* eventfd set changed */
    bool processed;  /* next_view / next_evfds valid */
};

/* A piece of a view being re-rendered. */
struct gm_span {
    gm_u128 s, e;  /* [s, e), edges are range boundaries of the old view */
    size_t n0, n1; /* its new ranges in the scratch vector */
    size_t o0, o1; /* its old ranges */
};
typedef GM_VEC(struct gm_span) gm_spanvec;

/* Buffers reused by every commit. */
struct gm_scratch {
    gm_rangevec nv, ov;
    gm_spanvec spans, evspans;
    gm_winvec all;
    gm_evvec added;
};

struct gm_update_state {
    gm_space *spaces, *spaces_tail; /* creation order */
    struct gm_vstate *vstates;
    struct gm_scratch scr;
    bool verify;   /* GM_DEBUG_VERIFY: compare with full renders */
    bool prepared; /* between gm__update_prepare() and _apply() */
    bool any;      /* ... and listeners have something to hear */
};

int gm__update_init(gm_system *sys);
void gm__update_fini(gm_system *sys);
/* Free every space and view state (the system is being destroyed). */
void gm__update_teardown(gm_system *sys);

/*
 * The update of the outermost commit: re-render what the marks touched,
 * tell the listeners, publish. Writer lock held. In two phases: prepare
 * does everything that can fail and changes nothing visible (on failure
 * the marks stay for the next attempt); apply tells, publishes and cannot
 * fail. gm__update() is both.
 */
int gm__update_prepare(gm_system *sys, gm_error *err);
void gm__update_apply(gm_system *sys);
int gm__update(gm_system *sys, gm_error *err);

/* A new space joins the list (its view is resolved by the next update). */
void gm__update_space_add(gm_space *as);
/* Take back a new space whose first update failed (lock held). */
void gm__update_space_remove(gm_space *as);
/* Replay as's current ranges and ioeventfds to one listener. */
void gm__update_replay(gm_listener *l, gm_space *as, bool add);

/*
 * Shared by update/'s own files.
 */
struct gm_vstate *gm__vstate_get(gm_system *sys, gm_region *root);
void gm__vstate_scratch_free(struct gm_vstate *vs);
void gm__vstate_destroy(gm_system *sys, struct gm_vstate *vs);
void gm__vstate_put(gm_system *sys, struct gm_vstate *vs);
/* Sort and merge windows in place. */
void gm__windows_normalize(gm_winvec *w);
/* Compute vs->next_view, its events and its ioeventfd changes. */
int gm__vstate_process(gm_system *sys, struct gm_vstate *vs);
/* Old vs new ranges, as events into vs's scratch. */
int gm__diff_ranges(struct gm_vstate *vs, const struct gm_range *o,
                    size_t no, const struct gm_range *n, size_t nn);
/* All ranges of t into out (emptied first). */
int gm__collect_all(const struct gm_fv_node *t, gm_rangevec *out);
/*
 * Recompute the ioeventfds found in spans (sorted, disjoint) of tree t and
 * note the keys that appear or disappear. spans == NULL: the whole view.
 */
int gm__evset_update(struct gm_vstate *vs, const struct gm_fv_node *t,
                     const gm_spanvec *spans);
bool gm__evset_has(const gm_evvec *set, const struct gm_ioeventfd *k);
/* Debug check: the incremental tree and table equal a full render. */
void gm__verify_view(gm_system *sys, struct gm_vstate *vs,
                     const struct gm_fv_node *t, const struct gm_dispatch *d);

#endif
