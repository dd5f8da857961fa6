/* SPDX-License-Identifier: MIT */
/*
 * tree/tree.h - regions and the region graph, and the marks changes leave.
 *
 * Regions form a DAG: containers point at their subregions (strong
 * references, in a list and in an interval index by extent), aliases at
 * their target (strong); the reverse links (container, the aliases
 * targeting a region) are weak, and are what marking walks. This module is
 * data: it keeps the graph's invariants (indexes, counts, acyclicity) and
 * records where a change may show (windows), but renders and publishes
 * nothing. api/ changes the tree through it; update/ reads the marks.
 *
 * Every field of a region is protected by the writer lock except refcnt
 * (atomic) and evpub (RCU-published for readers).
 */
#ifndef GM_TREE_H
#define GM_TREE_H

#include "../ram/ram.h"

struct gm_ioeventfd {
    uint64_t addr; /* offset in the region, or absolute in a view set */
    unsigned size;
    bool match_data;
    uint64_t data;
    int fd;
};

/* An immutable snapshot of a region's ioeventfds for the access path. */
struct gm_evfd_pub {
    struct rcu_head rcu;
    size_t n;
    struct gm_ioeventfd v[];
};

/* A window [lo, hi) of a view's address space that must be re-rendered. */
struct gm_window {
    gm_u128 lo, hi;
};
typedef GM_VEC(struct gm_window) gm_winvec;

/*
 * Where marks land: a view rendered from a region attaches a sink to it
 * (update/ embeds one in each view state). win: re-render; evwin: only the
 * ioeventfds changed. A sink with windows is queued on the tree's list of
 * pending sinks, so a commit visits only the views that changed.
 */
struct gm_winsink {
    gm_winvec win;
    gm_winvec evwin;
    bool queued; /* in gm_tree_state.pending */
};

/*
 * Resolution watches: an observer (update/'s spaces) watches the regions
 * its flat-view root was resolved through; a change of their shape flags
 * the observer, so a commit re-resolves only the spaces it may concern.
 */
struct gm_watcher {
    bool flagged; /* in gm_tree_state.flagged */
};

struct gm_watch {
    gm_region *r;              /* NULL once the region is gone */
    size_t idx;                /* in r->watches */
    struct gm_watcher *owner;
};

/*
 * A region's coalesced MMIO ranges (region offsets), in the order added:
 * immutable once made, shared by reference with the range records of the
 * views that were rendered while it was the region's, so that a range
 * that leaves a view is told with exactly the ranges it was told with.
 */
struct gm_coal {
    atomic_long refcnt;
    size_t n;
    struct gm_coal_zone {
        uint64_t offset, size;
    } z[];
};

struct gm_region {
    gm_system *sys;
    char *name;
    void *owner;
    enum gm_region_kind kind;
    atomic_long refcnt;

    bool terminates;
    bool enabled;
    bool readonly;
    bool nonvolatile;
    bool romd_mode;
    bool may_overlap;
    uint8_t dirty_log_mask;
    int priority;
    uint64_t addr;    /* offset in the container */
    gm_u128 size;     /* 0 .. 2^64 */
    uint64_t seq;     /* add order: among equal priorities, larger first */

    gm_region *container;          /* weak back pointer */
    gm_region *first_child;        /* children hold one reference each */
    gm_region *sib_prev, *sib_next;
    unsigned nr_children;
    unsigned nr_enabled_children;
    struct gm_itree_node *child_index; /* children by extent */
    struct gm_itree_node inode;        /* this region in its container */

    gm_region *alias; /* strong reference */
    uint64_t alias_offset;
    GM_VEC(gm_region *) aliased_by; /* aliases targeting us (weak) */

    const struct gm_region_ops *ops;
    void *opaque;
    uint8_t simple_sizes;  /* access sizes (as bits) ops take as they are */
    bool simple_unaligned; /* ... at any alignment (gm__ops_simple) */
    struct gm_ram_block *block; /* RAM-backed kinds (ram/); NULL: none */
    void *ram;                  /* its host memory, or NULL */
    uint64_t ram_addr;          /* its offset in the ram_addr space */

    GM_VEC(struct gm_ioeventfd) evfds; /* sorted, region offsets */
    struct gm_coal *coal;        /* coalesced MMIO ranges; NULL: none */
    _Atomic bool flush_coalesced; /* flush the coalesced ring first */
    struct gm_evfd_pub *_Atomic evpub;  /* readers' copy (RCU) */

    struct gm_winsink *sink; /* a view is rendered from this region */
    GM_VEC(struct gm_watch *) watches; /* resolutions through this region */
    size_t watches_reserved; /* room promised to gm__watch_add() */
    unsigned up_sinks;       /* upward neighbours reaching a sink (reach.c) */
    size_t live_aliases;     /* aliased_by[0, live_aliases) reach a sink */
    size_t alias_pos;        /* our index in alias->aliased_by */
    gm_region *flip_next;    /* reach.c's work list */
    gm_region *dead_next;    /* region.c's list of regions to destroy */
    uint64_t mark;           /* scratch for graph walks */
};

/* One step of a mark's walk (mark.c). */
struct gm_mark_item {
    gm_region *r;
    gm_u128 lo, hi; /* in r's coordinates */
    bool force;     /* the changed region itself: even when disabled */
};

/*
 * The tree's part of the system: change marks of the transaction in
 * progress and counters.
 */
struct gm_tree_state {
    uint64_t seq;      /* next region add order */
    uint64_t mark_gen; /* graph walk marks */
    size_t visits;     /* window propagation work in this transaction */
    bool pending;      /* some window or space change awaits a commit */
    bool all_dirty;    /* re-render every view */
    bool flag_all;     /* re-resolve every observer */
    GM_VEC(struct gm_winsink *) sinks;     /* sinks with windows */
    GM_VEC(struct gm_watcher *) flagged;   /* observers to re-resolve */
    bool global_log;   /* migration logging on every RAM region */
    bool memoryless;   /* RAM regions get no host memory (maps only) */
    bool snapshot_log; /* a gm_ram_snapshot is live: SNAPSHOT on all RAM */
    size_t nr_evfds;   /* ioeventfds on all regions */
    atomic_long nr_regions;
    GM_VEC(struct gm_mark_item) stack; /* mark.c's walk */
};

int gm__tree_init(gm_system *sys);
void gm__tree_fini(gm_system *sys);
/* Regions alive (any thread). */
long gm__tree_nr_regions(gm_system *sys);
/*
 * Coalesced MMIO range lists: a copy of old (NULL: empty) with one more
 * range (NULL on -ENOMEM); references (any thread).
 */
struct gm_coal *gm__coal_append(const struct gm_coal *old, uint64_t offset,
                                uint64_t size);
struct gm_coal *gm__coal_ref(struct gm_coal *c);
void gm__coal_unref(struct gm_coal *c);
/* A RAM-backed kind (RAM, ROM, ROM device, RAM device), memory or not. */
bool gm__region_is_ram(const gm_region *r);

/*
 * Graph changes (writer lock held, arguments validated by the caller).
 */
/* Would adding child under parent close a cycle? 0 or -ENOMEM. */
int gm__tree_would_loop(gm_region *parent, gm_region *child, bool *loop);
/* Link child into parent at offset, as the most recently added. */
void gm__tree_link(gm_region *parent, gm_region *child, uint64_t offset,
                   bool overlap, int priority);
/* Unlink child from its container (the container's reference stays). */
void gm__tree_unlink(gm_region *child);
/* Give r a new place in its container's order and index (moves, resizes). */
void gm__tree_reindex(gm_region *r);
/* r is re-added: newest of its priority, collisions checked again. */
void gm__tree_readd(gm_region *r);
void gm__tree_set_enabled(gm_region *r, bool enabled);

/* ioeventfds of a region: index of e, or of where it would go. */
size_t gm__evfd_find(const gm_region *r, const struct gm_ioeventfd *e,
                     bool *found);
int gm__evfd_cmp(const struct gm_ioeventfd *a, const struct gm_ioeventfd *b);
/*
 * The readers' copy: a snapshot of r's list as it is (NULL when empty;
 * -ENOMEM), published in place of the current one, which is returned; a
 * snapshot no longer published is retired (freed after readers).
 */
int gm__evfd_snapshot(const gm_region *r, struct gm_evfd_pub **out);
struct gm_evfd_pub *gm__evfd_swap(gm_region *r, struct gm_evfd_pub *p);
void gm__evfd_retire(struct gm_evfd_pub *p);

/*
 * A view state's sink is attached to its root / detached (the regions that
 * can reach it learn so; no allocation).
 */
void gm__tree_attach_sink(gm_region *r, struct gm_winsink *sink);
void gm__tree_detach_sink(gm_region *r);

/*
 * Marks: note that r may render differently over its whole extent (call
 * before and after a change) / that only its ioeventfds changed.
 */
void gm__mark_region(gm_region *r);
void gm__mark_region_evfd(gm_region *r);
/* Flag an observer for re-resolution / take it off the list. */
void gm__watcher_flag(gm_system *sys, struct gm_watcher *o);
void gm__watcher_unflag(gm_system *sys, struct gm_watcher *o);
/*
 * Room for one more watch on r (-ENOMEM), then either the watch (cannot
 * fail) or giving the room back.
 */
int gm__watch_reserve(gm_region *r);
void gm__watch_add(struct gm_watch *w, gm_region *r, struct gm_watcher *o);
void gm__watch_unreserve(gm_region *r);
void gm__watch_del(struct gm_watch *w);
/* A sink goes away: take it off the pending list. */
void gm__sink_forget(gm_system *sys, struct gm_winsink *sink);
/* Forget the marks of a completed update: windows, flags. */
void gm__tree_marks_clear(gm_system *sys);

/*
 * Reading the graph.
 */
/*
 * The region a view of mr is rendered from (QEMU's flat-view root rule),
 * and in *chain the regions whose shape that answer depends on (-ENOMEM).
 */
typedef GM_VEC(gm_region *) gm_regionvec;
int gm__resolve_root(gm_region *mr, gm_region **root, gm_regionvec *chain);
/* qsort comparator of region pointers in render order. */
int gm__cmp_render_order(const void *a, const void *b);
/* Dirty-log mask of mr's ranges (the region's own plus global logging). */
uint8_t gm__region_log_mask(gm_system *sys, const gm_region *mr);

/*
 * Shared by tree/'s own files.
 */
/* child was linked into or unlinked from container: counts of reach.c. */
void gm__reach_linked(gm_region *container, gm_region *child, bool linked);
/* Make a the alias of target (-ENOMEM) / let go of its target. */
int gm__alias_attach(gm_region *a, gm_region *target);
void gm__alias_detach(gm_region *a);

#endif
