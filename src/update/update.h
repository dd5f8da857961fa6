/* SPDX-License-Identifier: MIT */
/*
 * update/update.h - the commit driver: from a transaction's marks to new
 * flat views, events and publication.
 *
 * A view state is the writer's side of one distinct resolved root: its
 * cell (the published view and the caches, view/), the windows marked on
 * it (its sink), its ioeventfd set, the spaces that resolve to it, and the
 * scratch of one update. Spaces whose roots resolve alike share one.
 */
#ifndef GM_UPDATE_H
#define GM_UPDATE_H

#include "../access/access.h"
#include "../listen/listen.h"

typedef GM_VEC(struct gm_section) gm_secvec;
typedef GM_VEC(struct gm_ioeventfd) gm_evfdvec;

/* What listeners hear about one view (or one space's switch of views). */
struct gm_events {
    gm_secvec dels, adds;       /* adds: adds, nops, logs */
    GM_VEC(uint8_t) add_kind;   /* enum gm_ev_kind per adds entry */
    GM_VEC(uint8_t) add_oldmask;
    /* The coalesced ranges a deleted range had / a COALESCE's old ones. */
    GM_VEC(struct gm_coal *) del_coal, add_coal;
    gm_evfdvec ev_dels, ev_adds; /* ioeventfd keys that left / arrived */
    bool changed;                /* ranges changed */
    bool ev_changed;             /* the ioeventfd keys changed */
};

/*
 * A view's ioeventfds: every ioeventfd of every range's region that falls
 * in the range, at its absolute address, by the range it came from (so a
 * re-rendered span finds its own in O(log n + k)), and the distinct keys
 * with how many ranges give each (what listeners hear of). evset.c.
 */
struct gm_evnode {
    struct gm_evnode *l, *r;
    uint32_t prio;
    uint64_t src; /* start of the range it came from */
    struct gm_ioeventfd e;
};

struct gm_evkey {
    struct gm_evkey *l, *r;
    uint32_t prio;
    struct gm_ioeventfd e;
    size_t count;
};

/* A key's change in one commit: its node (NULL: new, preallocated). */
struct gm_evdelta {
    struct gm_ioeventfd e;
    long delta;
    struct gm_evkey *key;
};

struct gm_vstate {
    gm_system *sys;
    gm_region *root;          /* NULL: the shared empty view */
    struct gm_viewcell *cell; /* what its spaces read */
    struct gm_history *hist;  /* versions of its views */
    gm_gcvec gc;              /* scratch: dropped by the version built */
    unsigned users;           /* spaces resolved to this state */
    unsigned joining, leaving; /* during an update */
    bool full;                /* render everything at the next commit */
    bool permanent;           /* the empty state: never destroyed */
    struct gm_winsink sink;   /* windows marked since the last update */
    gm_space *spaces;         /* resolved to it (gm_space_update.vs_*) */
    gm_space *watched;        /* those with filtered listeners (w_*) */
    struct gm_evnode *ev_src; /* its ioeventfds by (src, key) */
    struct gm_evkey *ev_keys; /* by key, with counts */
    struct gm_vstate *next;   /* all states */

    /* Scratch of one update. */
    gm_flatview *next_view;
    struct gm_events ev;
    GM_VEC(struct gm_evnode *) ev_out;  /* entries leaving */
    GM_VEC(struct gm_evnode *) ev_in;   /* entries arriving (allocated) */
    GM_VEC(struct gm_evdelta) ev_delta; /* per key that changes count */
    bool queued;    /* in this update's work list */
    bool processed; /* next_view, events and ioeventfd changes valid */
};

/* update/'s part of a space. */
struct gm_space_update {
    gm_space *as;
    uint64_t id;                  /* creation order */
    struct gm_vstate *vs;         /* resolved view state */
    struct gm_vstate *next_vs;    /* during an update */
    struct gm_events *sw;         /* the events of a switch of states */
    gm_space *prev, *next;        /* all spaces, creation order */
    gm_space *vs_prev, *vs_next;  /* vs->spaces */
    gm_space *w_prev, *w_next;    /* vs->watched */
    unsigned nr_filtered;         /* listeners filtered on it */
    struct gm_watcher watcher;    /* flagged: resolve again */
    struct gm_watch *chain;       /* the regions its root resolved through */
    size_t chain_n;
    struct gm_watch *next_chain;  /* during an update */
    size_t next_chain_n;
    bool dying;
    bool is_new;
    bool switching; /* during an update: moves to next_vs */
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
    gm_regionvec chain;
    GM_VEC(gm_space *) resolved; /* spaces resolved again */
    GM_VEC(struct gm_vstate *) work; /* states to process */
    GM_VEC(struct gm_vstate *) gone; /* states that may lose all users */
    GM_VEC(gm_space *) told;     /* spaces listeners hear of, by id */
};

struct gm_update_state {
    gm_space *spaces, *spaces_tail; /* creation order */
    uint64_t next_id;
    struct gm_vstate *vstates;
    struct gm_vstate *empty; /* permanent: new spaces, roots that render 0 */
    struct gm_scratch scr;
    bool verify;   /* GM_DEBUG_VERIFY: compare with full renders */
    bool prepared; /* between gm__update_prepare() and _apply() */
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

/*
 * Spaces. A new space starts in the empty state and is resolved by the
 * next update; a dying one is told its ranges went away, then freed.
 */
int gm__update_space_add(gm_space *as);
/* Take back a new space whose first update failed (lock held). */
void gm__update_space_remove(gm_space *as);
void gm__update_space_dying(gm_space *as, bool dying);
/* A listener filtered on as came (+1) or went (-1). */
void gm__update_space_filter(gm_space *as, int delta);
/* Replay as's current ranges and ioeventfds to one listener. */
void gm__update_replay(gm_listener *l, gm_space *as, bool add);

/*
 * Shared by update/'s own files.
 */
int gm__vstates_init(gm_system *sys);
struct gm_vstate *gm__vstate_get(gm_system *sys, gm_region *root);
void gm__vstate_scratch_free(struct gm_vstate *vs);
void gm__vstate_destroy(gm_system *sys, struct gm_vstate *vs);
/* Sort and merge windows in place. */
void gm__windows_normalize(gm_winvec *w);
/*
 * After publishing vs's new view: mark dirty the RAM of ranges that appear
 * with a dirty-log mask or gain clients (all of a first view's ranges).
 */
void gm__vstate_initially_dirty(gm_system *sys, struct gm_vstate *vs);
/* Compute vs->next_view, its events and its ioeventfd changes. */
int gm__vstate_process(gm_system *sys, struct gm_vstate *vs);
/* Old vs new ranges, as events. */
int gm__diff_ranges(struct gm_events *ev, const struct gm_range *o,
                    size_t no, const struct gm_range *n, size_t nn);
/* All ranges of t into out (emptied first). */
int gm__collect_all(const struct gm_fv_node *t, gm_rangevec *out);
void gm__events_free(struct gm_events *ev);

/*
 * ioeventfd sets (evset.c). Prepare: recompute the entries of spans
 * (sorted, disjoint; NULL: the whole view) of tree t and the keys that
 * appear or disappear (vs->ev). Apply: make it the set (cannot fail).
 */
int gm__evset_prepare(struct gm_vstate *vs, const struct gm_fv_node *t,
                      const gm_spanvec *spans);
void gm__evset_apply(struct gm_vstate *vs);
/* Undo a prepare that will not be applied. */
void gm__evset_cancel(struct gm_vstate *vs);
/* The keys of vs after this update (sorted): for switches. */
int gm__evset_keys(const struct gm_vstate *vs, bool next, gm_evfdvec *out);
void gm__evset_free(struct gm_vstate *vs);
/* Call fn for each key in order (replay). */
void gm__evset_foreach(const struct gm_vstate *vs,
                       void (*fn)(const struct gm_ioeventfd *e, void *opaque),
                       void *opaque);

/* Debug check: the incremental tree and table equal a full render. */
void gm__verify_view(gm_system *sys, struct gm_vstate *vs,
                     const struct gm_fv_node *t, const struct gm_dispatch *d);

#endif
