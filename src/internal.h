/* SPDX-License-Identifier: MIT */
/*
 * internal.h - structures shared by the library's source files.
 *
 * Nothing here is visible to users. Every mutable field of a region, space,
 * listener or view state is protected by the system's writer lock
 * (sys->lock) unless its comment says otherwise; flat views (struct
 * gm_flatview and its nodes) are immutable once published and are read
 * under RCU.
 */
#ifndef GM_INTERNAL_H
#define GM_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>

#include <guestmem/guestmem.h>

#include "rcu.h"

__extension__ typedef __int128 gm_i128;

#define GM_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define gm__unlikely(x) __builtin_expect(!!(x), 0)

/* error.c */
int gm__error_set(gm_error *err, int code, const char *fmt, ...)
    GM_PRINTF(3, 4);
void gm__warn(gm_system *sys, const char *fmt, ...) GM_PRINTF(2, 3);
/* Format a 128-bit value as hex (buf of at least 40 bytes). */
const char *gm__u128_str(gm_u128 v, char *buf);

/* A growable array of plain structs. */
#define GM_VEC(type)                                                           \
    struct {                                                                   \
        type *v;                                                               \
        size_t n, cap;                                                         \
    }
int gm__vec_grow(void **v, size_t *cap, size_t need, size_t elem);
#define gm__vec_reserve(vec, need)                                             \
    gm__vec_grow((void **)&(vec)->v, &(vec)->cap, (need), sizeof(*(vec)->v))
#define gm__vec_push(vec, val)                                                 \
    (gm__vec_reserve((vec), (vec)->n + 1) ? -ENOMEM                            \
                                          : ((vec)->v[(vec)->n++] = (val), 0))
#define gm__vec_free(vec)                                                      \
    do {                                                                       \
        free((vec)->v);                                                        \
        (vec)->v = NULL;                                                       \
        (vec)->n = (vec)->cap = 0;                                             \
    } while (0)

/*
 * itree.c - interval treap over a container's children, keyed by start,
 * augmented with the largest end of each subtree. Extents are [start, end)
 * in the container's coordinates (end up to 2^65).
 */
struct gm_itree_node {
    struct gm_itree_node *l, *r;
    uint32_t prio;
    gm_u128 start, end, max_end;
};
void gm__itree_insert(struct gm_itree_node **root, struct gm_itree_node *n);
void gm__itree_remove(struct gm_itree_node **root, struct gm_itree_node *n);
/* Calls fn for every node with start < hi && end > lo, in start order. */
void gm__itree_query(struct gm_itree_node *root, gm_u128 lo, gm_u128 hi,
                     void (*fn)(struct gm_itree_node *n, void *opaque),
                     void *opaque);

struct gm_ioeventfd {
    uint64_t addr; /* offset in the region, or absolute in a view set */
    unsigned size;
    bool match_data;
    uint64_t data;
    int fd;
};

struct gm_vstate;

/* An immutable snapshot of a region's ioeventfds for the access path. */
struct gm_evfd_pub {
    struct rcu_head rcu;
    size_t n;
    struct gm_ioeventfd v[];
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
    void *ram;        /* host memory, NULL for non-RAM kinds */
    size_t ram_len;   /* bytes mapped/owned; 0 when caller-provided */
    size_t ram_alloc; /* usable bytes behind ram */

    GM_VEC(struct gm_ioeventfd) evfds; /* sorted, region offsets */
    struct gm_evfd_pub *_Atomic evpub;  /* readers' copy (RCU) */

    struct gm_vstate *vs; /* view state rendered from this region */
    uint64_t mark;        /* scratch for graph walks (writer lock) */
};

/* flatview.c - persistent treap of flat ranges. */
struct gm_range {
    uint64_t start, last; /* inclusive */
    gm_region *mr;        /* referenced by the node */
    uint64_t offset;      /* offset of start in mr */
    bool readonly, romd, nonvolatile;
    uint8_t mask;
    /* Filled in range records only (gm__rrec_prepare), for the access path. */
    uint8_t acc;    /* GM_ACC_* */
    uint8_t *host;  /* host address of start, for RAM-backed regions */
};

#define GM_ACC_READ 1u  /* reads are plain loads from host */
#define GM_ACC_RAM 2u   /* writes go to host (unless readonly) */

/*
 * Memory of flat views is reclaimed by generation, not by reference
 * counts: building version g of a view copies the nodes it changes and
 * drops the replaced ones on version g's garbage list; that list is freed
 * once every version older than g is gone (struct gm_history). Objects
 * created by the commit in progress (gen == sys->gen) are private to it and
 * are changed or freed in place.
 */
enum gm_gc_kind {
    GM_GC_NODE,
    GM_GC_REC,
    GM_GC_DNODE,
    GM_GC_SUBPAGE,
};
struct gm_gc_ent {
    void *p;
    enum gm_gc_kind kind;
};
typedef GM_VEC(struct gm_gc_ent) gm_gcvec;

/* An immutable range record: what dispatch tables point at. */
struct gm_rrec {
    uint64_t gen;
    struct gm_range rg; /* holds one reference on rg.mr */
};

struct gm_fv_node {
    struct gm_fv_node *l, *r;
    uint64_t gen;        /* commit generation that created it */
    uint32_t prio;
    size_t count;        /* ranges in this subtree */
    struct gm_range rg;  /* copy of rec->rg, for cache-friendly walks */
    struct gm_rrec *rec; /* shared by the copies of this node */
};

/* dispatch.c - radix table from page number to range (see there). */
#define GM_PAGE_BITS 12
#define GM_PAGE_SIZE (1u << GM_PAGE_BITS)
#define GM_DNODE_ENTRIES 512
#define GM_DISPATCH_LEVELS 6

struct gm_dnode {
    uint64_t gen;
    uint64_t base;  /* first address of the block the node covers */
    unsigned level; /* entries cover 2^(12 + 9 * level) bytes */
    uintptr_t e[GM_DNODE_ENTRIES];
};

struct gm_subpage {
    uint64_t gen;
    uint64_t page; /* address of the page */
    unsigned n;
    struct {
        uint16_t start;      /* offset in the page where this piece begins */
        struct gm_rrec *rec; /* NULL: a hole */
    } v[];
};

struct gm_dispatch {
    uintptr_t root; /* tagged entry of the root node (0: empty) */
    unsigned level; /* the root node's level */
};

struct gm_history {
    gm_flatview *oldest, *newest; /* versions not yet reclaimed */
    bool orphan;                  /* its view state is gone */
};

struct gm_flatview {
    atomic_long refcnt;
    gm_system *sys;
    gm_region *root;          /* referenced; NULL for an empty view */
    struct gm_fv_node *tree;
    struct gm_history *hist;  /* NULL: standalone (empty) view */
    gm_flatview *hnext;       /* next newer version */
    bool dead;                /* refcount reached 0 after a grace period */
    gm_gcvec garbage;         /* dropped when this version was made */
    struct gm_dispatch disp;  /* address -> range */
    struct rcu_head rcu;
    struct gm_flatview *reclaim_next;
};

/* Per-commit context of one view state's tree edits. */
struct gm_txn {
    gm_system *sys;
    gm_gcvec *gc;
    int err;
};

bool gm__range_equal(const struct gm_range *a, const struct gm_range *b);
bool gm__range_can_merge(const struct gm_range *a, const struct gm_range *b);
void gm__range_to_section(const struct gm_range *rg, gm_space *as,
                          struct gm_section *s);

void gm__fv_cache_free(gm_system *sys);
/* Split t into ranges starting before key and the rest. */
void gm__fv_split(struct gm_txn *tx, struct gm_fv_node *t, uint64_t key,
                  struct gm_fv_node **lt, struct gm_fv_node **ge);
struct gm_fv_node *gm__fv_join(struct gm_txn *tx, struct gm_fv_node *a,
                               struct gm_fv_node *b);
int gm__fv_insert(struct gm_txn *tx, struct gm_fv_node **t,
                  const struct gm_range *rg);
void gm__fv_delete(struct gm_txn *tx, struct gm_fv_node **t, uint64_t start);
/* Drop every node and range of t (ranges removed from the view). */
void gm__fv_drop_all(struct gm_txn *tx, struct gm_fv_node *t);
/* Build a tree from sorted ranges; -ENOMEM leaves nothing behind. */
int gm__fv_build(struct gm_txn *tx, const struct gm_range *v, size_t n,
                 struct gm_fv_node **out);
/* Free what this commit created in an unpublished tree. */
void gm__fv_discard(gm_system *sys, struct gm_fv_node *t);
void gm__gc_free(gm_system *sys, gm_gcvec *gc);
void gm__gc_push(struct gm_txn *tx, void *p, enum gm_gc_kind kind);
/* The first range starting after addr / the last range, or NULL. */
const struct gm_range *gm__fv_next(const struct gm_fv_node *t, uint64_t addr);
const struct gm_range *gm__fv_last(const struct gm_fv_node *t);

/* dispatch.c */
int gm__dispatch_update(struct gm_txn *tx, struct gm_dispatch *d,
                        const struct gm_fv_node *t, gm_u128 s, gm_u128 e);
void gm__dispatch_free(gm_system *sys, struct gm_dispatch *d);
void gm__dnode_free(gm_system *sys, struct gm_dnode *n);
void gm__dnode_cache_free(gm_system *sys);
void gm__dispatch_discard(gm_system *sys, struct gm_dispatch *d);

/*
 * Tagged dispatch entries: the low two bits say what the pointer is (0 with
 * a NULL pointer: a hole).
 */
#define DE_NODE 1u
#define DE_REC 2u
#define DE_SUB 3u
#define DE_TAG(e) ((unsigned)((e) & 3u))
#define DE_PTR(e) ((void *)((e) & ~(uintptr_t)3u))

/* Entries of a level-k node cover 2^(12 + 9k) bytes. */
static inline unsigned gm__level_shift(unsigned level)
{
    return GM_PAGE_BITS + 9 * level;
}

/*
 * The range holding addr, or NULL. Inline: every access starts here. Call
 * inside an RCU read-side section (or with the writer lock) on a view that
 * is alive.
 */
static inline const struct gm_range *
gm__dispatch_lookup(const struct gm_dispatch *d, uint64_t addr)
{
    uintptr_t e = d->root;

    if (d->level < GM_DISPATCH_LEVELS - 1 &&
        (addr >> gm__level_shift(d->level + 1)) != 0) {
        return NULL;
    }
    while (DE_TAG(e) == DE_NODE) {
        const struct gm_dnode *n = (const void *)(e - DE_NODE);
        e = n->e[(addr >> gm__level_shift(n->level)) & (GM_DNODE_ENTRIES - 1)];
    }
    if (__builtin_expect(DE_TAG(e) == DE_REC, 1)) {
        const struct gm_range *rg = &((const struct gm_rrec *)(e - DE_REC))->rg;
        /* A compacted path may lead here from outside the range. */
        return addr >= rg->start && addr <= rg->last ? rg : NULL;
    }
    if (DE_TAG(e) == DE_SUB) {
        const struct gm_subpage *sp = DE_PTR(e);
        unsigned off = (unsigned)(addr & (GM_PAGE_SIZE - 1));
        unsigned lo = 0, hi = sp->n;

        if ((addr & ~(uint64_t)(GM_PAGE_SIZE - 1)) != sp->page) {
            return NULL;
        }

        while (hi - lo > 1) {
            unsigned mid = (lo + hi) / 2;
            if (sp->v[mid].start <= off) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        return sp->v[lo].rec ? &sp->v[lo].rec->rg : NULL;
    }
    return NULL;
}
/* Give a garbage list an array from the pool / return it to the pool. */
void gm__gc_prepare(gm_system *sys, gm_gcvec *gc);
void gm__gc_release(gm_system *sys, gm_gcvec *gc);
const struct gm_range *gm__fv_find(const struct gm_fv_node *t, uint64_t addr);
/* The record of the range containing addr, or NULL. */
struct gm_rrec *gm__fv_find_rec(const struct gm_fv_node *t, uint64_t addr);
const struct gm_range *gm__fv_find_start(const struct gm_fv_node *t,
                                         uint64_t start);
/* Visit ranges with start in [lo, hi] (inclusive hi) in order. */
int gm__fv_walk(const struct gm_fv_node *t, uint64_t lo, uint64_t hi,
                int (*fn)(const struct gm_range *rg, void *opaque),
                void *opaque);
size_t gm__fv_count(const struct gm_fv_node *t);

/* A new version of hist (NULL: standalone); takes over tree and *gc. */
gm_flatview *gm__flatview_new(gm_system *sys, gm_region *root,
                              struct gm_fv_node *tree, struct gm_history *hist,
                              gm_gcvec *gc);
/* Writer-side unref (lock held): batches frees behind one grace period. */
void gm__flatview_put(gm_system *sys, gm_flatview *fv);
/*
 * Batched freeing of the writer's dead views: due when the batch is full;
 * take detaches it (under the lock; NULL if handed to call_rcu because the
 * caller is inside a read-side section); free_batch frees it after a grace
 * period, lock held again.
 */
bool gm__flatview_flush_due(gm_system *sys);
gm_flatview *gm__flatview_flush_take(gm_system *sys);
void gm__flatview_free_batch(gm_flatview *fv);
/* A reference on as's current view; call inside an RCU read section. */
gm_flatview *gm__space_view_get(gm_space *as);
/* Undo gm__flatview_new() of a version that was never published. */
void gm__flatview_discard(gm_flatview *fv);
/* The view state lets go of its history. */
void gm__history_orphan(gm_system *sys, struct gm_history *hist);
/* Unref whose final free happens after an RCU grace period. */
void gm__flatview_unref_rcu(gm_flatview *fv);

/* render.c - region tree to sorted pieces over a window. */
typedef GM_VEC(struct gm_range) gm_rangevec;
/* Render root over [lo, hi) (hi <= 2^64), append merged ranges to out. */
int gm__render(gm_system *sys, gm_region *root, gm_u128 lo, gm_u128 hi,
               gm_rangevec *out);
uint8_t gm__region_log_mask(gm_system *sys, gm_region *mr);
void gm__render_scratch_free(gm_system *sys);

/* commit.c - dirty windows, view states, the update. */
struct gm_window {
    gm_u128 lo, hi;
};

struct gm_evfd_ent {
    struct gm_ioeventfd e; /* addr absolute in the view */
    uint64_t src;          /* start of the range it came from */
};
typedef GM_VEC(struct gm_window) gm_winvec;
typedef GM_VEC(struct gm_evfd_ent) gm_evvec;
typedef GM_VEC(struct gm_section) gm_secvec;

struct gm_vstate {
    gm_system *sys;
    gm_region *root;     /* NULL: the shared empty view */
    gm_flatview *cur;    /* current view (one reference) */
    struct gm_history *hist; /* versions of this state's views */
    gm_gcvec gc;         /* scratch: dropped by the version being built */
    unsigned users;      /* spaces resolved to this state */
    bool full;           /* render everything at the next commit */
    gm_winvec win;    /* pending re-render windows */
    gm_winvec evwin;  /* pending ioeventfd-only windows */
    gm_evvec evfds; /* sorted by (e, src) */
    gm_evvec next_evfds;
    struct gm_vstate *next;

    /* Scratch of one update. */
    gm_flatview *next_view;
    gm_secvec dels, adds; /* adds: adds, nops, logs */
    GM_VEC(uint8_t) add_kind;             /* per adds entry */
    GM_VEC(uint8_t) add_oldmask;
    gm_evvec ev_dels, ev_adds;
    bool changed;    /* ranges changed (new view to publish) */
    bool ev_changed; /* eventfd set changed */
    bool processed;  /* next_view / next_evfds valid */
};

struct gm_span {
    gm_u128 s, e;  /* [s, e), edges are range boundaries of the old view */
    size_t n0, n1; /* its new ranges in the scratch vector */
    size_t o0, o1; /* its old ranges */
};
typedef GM_VEC(struct gm_span) gm_spanvec;

/* Buffers reused by every commit (writer lock). */
struct gm_scratch {
    gm_rangevec nv, ov;
    gm_spanvec spans, evspans;
    gm_winvec all;
    gm_evvec added;
    void *render; /* render.c's own buffers */
};

struct gm_space {
    gm_system *sys;
    char *name;
    gm_region *root;          /* referenced */
    struct gm_vstate *vs;     /* resolved view state */
    struct gm_vstate *next_vs; /* during an update: the new one */
    struct gm_vstate *sw;      /* during an update: events of a switch */
    gm_flatview *_Atomic view; /* published view (one reference) */
    bool dying;
    bool is_new;
    gm_space *prev, *next;

    /* Access caches (access.c), by window; caches_lock protects them. */
    pthread_mutex_t caches_lock;
    struct gm_itree_node *caches;
    size_t nr_caches;

    /* DMA (access.c); maps_lock protects what follows. */
    pthread_mutex_t maps_lock;
    size_t bounce_budget;
    size_t bounce_used;
    struct gm_dma_map *maps;
    struct gm_map_client *clients;
};

struct gm_listener {
    gm_system *sys;
    const struct gm_listener_ops *ops;
    void *opaque;
    int priority;
    gm_space *filter;
    gm_listener *prev, *next;
};

struct gm_system {
    pthread_mutex_t lock; /* recursive writer lock */
    pthread_t owner;      /* holder while depth > 0 */
    unsigned lock_count;  /* recursion of the holder (lock held) */
    unsigned depth;       /* transaction nesting */
    bool in_update;       /* listener callbacks running */
    gm_warn_fn warn;
    void *warn_opaque;

    uint64_t seq;      /* next region add order */
    uint64_t gen;      /* current commit generation */
    uint64_t rng;      /* treap priorities */
    uint64_t mark_gen; /* graph walk marks */
    bool global_log;
    bool topo_dirty;   /* re-resolve flat-view roots */
    bool all_dirty;    /* re-render every view */
    bool pending;      /* some window or space change awaits a commit */
    size_t nr_evfds;   /* ioeventfds on all regions */
    bool verify;       /* GM_DEBUG_VERIFY: compare with full renders */
    size_t visits;     /* window propagation work in this transaction */

    gm_space *spaces, *spaces_tail;
    struct gm_vstate *vstates;
    gm_listener *listeners, *listeners_tail; /* ascending priority */

    struct gm_fv_node *node_cache; /* recycled view nodes (writer lock) */
    size_t node_cache_n;
    gm_gcvec gcpool[16]; /* recycled garbage lists (writer lock) */
    struct gm_dnode *dnode_cache; /* recycled dispatch nodes */
    size_t dnode_cache_n;
    struct gm_scratch scr;
    unsigned gcpool_n;

    _Atomic(gm_dirty_fn) dirty_fn; /* read by the access path */
    void *_Atomic dirty_opaque;

    atomic_long nr_regions;
    atomic_long rcu_pending; /* views waiting in call_rcu */
    gm_flatview *deferred;   /* writer's dead views awaiting a grace period */
    size_t deferred_n;
    gm_flatview *_Atomic reclaim; /* views past their grace period */
};

/* system.c */
void gm__lock(gm_system *sys);
void gm__unlock(gm_system *sys);
/* Enter an implicit transaction for a mutator; -EBUSY from listeners. */
int gm__begin(gm_system *sys, gm_error *err);
int gm__end(gm_system *sys, gm_error *err);
void gm__reclaim(gm_system *sys);
uint32_t gm__rand(gm_system *sys);

/* region.c */
void gm__region_destroy(gm_region *r);
/* qsort comparator of gm_region pointers in render order. */
int gm__cmp_render_order(const void *a, const void *b);
int gm__evfd_cmp(const struct gm_ioeventfd *a, const struct gm_ioeventfd *b);
gm_region *gm__resolve_root(gm_region *mr);

/* access.c */
/*
 * The access sizes (bit n set: size n, n in 1, 2, 4, 8) for which ops take
 * a load or store as it is, one call with no cutting, widening or accepts
 * check, and whether unaligned ones qualify; computed once per region.
 */
void gm__ops_simple(const struct gm_region_ops *o, uint8_t *sizes,
                    bool *unaligned);
void gm__space_dma_init(gm_space *as);
void gm__space_dma_fini(gm_space *as);
/*
 * A commit changed these ranges of as's view (kinds: per entry, NULL for
 * all changed): caches whose window meets one resolve again. Writer lock
 * held, after the view is published.
 */
void gm__space_caches_changed(gm_space *as, const gm_secvec *secs,
                              const uint8_t *kinds);
void gm__region_publish_evfds(gm_region *r);
void gm__region_free_evfds(gm_region *r);

/* commit.c */
/* Note that r may render differently over its whole extent. */
void gm__mark_region(gm_region *r);
void gm__mark_region_evfd(gm_region *r);
int gm__update(gm_system *sys, gm_error *err);
void gm__vstate_put(gm_system *sys, struct gm_vstate *vs);
void gm__space_free(gm_space *as);
void gm__flatview_free(gm_flatview *fv);
void gm__commit_teardown(gm_system *sys);

/* listener.c */
void gm__listeners_begin(gm_system *sys);
void gm__listeners_commit(gm_system *sys);
enum gm_ev_kind {
    GM_EV_ADD,
    GM_EV_DEL,
    GM_EV_NOP,
    GM_EV_LOG_START,
    GM_EV_LOG_STOP,
};
void gm__listeners_region(gm_system *sys, gm_space *as, enum gm_ev_kind k,
                          const struct gm_section *s, unsigned old_mask,
                          unsigned new_mask);
void gm__listeners_eventfd(gm_system *sys, gm_space *as, bool add,
                           const struct gm_ioeventfd *e);
void gm__listeners_destroy_all(gm_system *sys);

#endif
