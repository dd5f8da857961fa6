/* SPDX-License-Identifier: MIT */
/*
 * base/base.h - what every module of the library may use: RCU, errors,
 * vectors, free lists, treaps, the writer lock, and the system object.
 *
 * The library is a stack of modules, each a folder of src/ with one private
 * header, calling downwards only (ARCHITECTURE.md draws the stack; the
 * build checks it, scripts/check-layout.py):
 *
 *   api      public entry points that change things: validate, change the
 *            tree, mark, update; system, spaces, listeners, transactions
 *   update   the commit driver: view states, windows, diff, splice,
 *            ioeventfd sets, delivery, publication, verification
 *   listen   listeners: order, replay, callbacks, log sync
 *   access   reads, writes, MMIO rules, DMA, access caches
 *   view     rendering a region tree; flat view objects; spaces' views
 *   dispatch radix tables from address to range record
 *   ranges   range records and the persistent range treap
 *   tree     regions: subregions, aliases, ioeventfd lists, change marks
 *   ram      RAM blocks: backings, the ram_addr space, lookups
 *   dirty    dirty bitmaps per client over the ram_addr space
 *   reclaim  generations, garbage lists, deferred frees after RCU
 *   base     this header
 *
 * Every module keeps its own state behind one pointer of struct gm_system,
 * set up by its init function and released by its fini function; the
 * types are declared here only by name, defined by their modules.
 */
#ifndef GM_BASE_H
#define GM_BASE_H

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>

#include <guestmem/guestmem.h>

/*
 * RCU: the flavour used by guestmem, behind one set of names.
 *
 * guestmem uses liburcu's "bulletproof" flavour: threads register
 * themselves on their first read-side section, which suits a library that
 * is called from threads it did not create. Pointer publication goes
 * through C11 acquire/release atomics so that ThreadSanitizer sees the
 * ordering (Debian's liburcu 0.13 predates its TSan support).
 */
/*
 * The read side is inlined (_LGPL_SOURCE): the out-of-line calls cost a PLT
 * hop and a general-dynamic TLS lookup each, about 19 ns per lock+unlock
 * here against 2 ns inline. UBSan builds use the calls: the inline code of
 * liburcu 0.13 touches a 128-byte-aligned reader slot that its allocator
 * does not align (harmless on x86, reported on every read lock).
 */
#ifndef GM_URCU_NO_INLINE
#define _LGPL_SOURCE
#endif
#include <urcu-bp.h>
#include <urcu/rculist.h>

#if defined(__SANITIZE_THREAD__)
#define GM_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GM_TSAN 1
#endif
#endif

#ifdef GM_TSAN
/*
 * ThreadSanitizer cannot see liburcu's grace periods nor its call_rcu
 * queue. Tell it: every read-side section "releases" one sync object that
 * every RCU callback "acquires" (a callback runs after a grace period, so
 * after every reader that could have seen the object), and a call_rcu
 * hands its object over from caller to callback.
 */
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
extern char gm__tsan_rcu_sync;
#define gm__tsan_acquire(p) __tsan_acquire(p)
#define gm__tsan_release(p) __tsan_release(p)
#else
#define gm__tsan_acquire(p) ((void)(p))
#define gm__tsan_release(p) ((void)(p))
#endif
#ifdef GM_TSAN
#define gm__rcu_after_sync() __tsan_acquire(&gm__tsan_rcu_sync)
#else
#define gm__rcu_after_sync() ((void)0)
#endif

#define gm__rcu_read_lock() urcu_bp_read_lock()
#ifdef GM_TSAN
#define gm__rcu_read_unlock()                                                  \
    do {                                                                       \
        __tsan_release(&gm__tsan_rcu_sync);                                    \
        urcu_bp_read_unlock();                                                 \
    } while (0)
#define gm__rcu_cb_enter(obj)                                                  \
    do {                                                                       \
        __tsan_acquire(&gm__tsan_rcu_sync);                                    \
        __tsan_acquire(obj);                                                   \
    } while (0)
#define gm__rcu_call(head, fn)                                                 \
    do {                                                                       \
        __tsan_release(head);                                                  \
        urcu_bp_call_rcu((head), (fn));                                        \
    } while (0)
#else
#define gm__rcu_read_unlock() urcu_bp_read_unlock()
#define gm__rcu_cb_enter(obj) ((void)(obj))
#define gm__rcu_call(head, fn) urcu_bp_call_rcu((head), (fn))
#endif
#define gm__rcu_barrier() urcu_bp_barrier()

#define gm__rcu_load(p) atomic_load_explicit(&(p), memory_order_acquire)
#define gm__rcu_store(p, v) atomic_store_explicit(&(p), (v), memory_order_release)


__extension__ typedef __int128 gm_i128;

#define GM_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define gm__unlikely(x) __builtin_expect(!!(x), 0)

/*
 * Errors: fill the caller's record (may be NULL) and return code.
 */
int gm__error_set(gm_error *err, int code, const char *fmt, ...)
    GM_PRINTF(3, 4);
/* Format a 128-bit value as hex into buf (at least 40 bytes). */
const char *gm__u128_str(gm_u128 v, char *buf);

/*
 * A growable array of plain structs. Growth may fail (-ENOMEM) and then
 * leaves the vector as it was.
 */
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
 * A free list of same-sized blocks (at least one pointer each): the range
 * treap's nodes and the dispatch tables' nodes are recycled through one,
 * bounded by max blocks.
 */
struct gm_freelist {
    void *head;
    size_t n, max;
};

static inline void *gm__freelist_get(struct gm_freelist *fl, size_t size)
{
    void *p = fl->head;

    if (p) {
        fl->head = *(void **)p;
        fl->n--;
        return p;
    }
    return malloc(size);
}

static inline void gm__freelist_put(struct gm_freelist *fl, void *p)
{
    if (fl->n < fl->max) {
        *(void **)p = fl->head;
        fl->head = p;
        fl->n++;
    } else {
        free(p);
    }
}

void gm__freelist_drain(struct gm_freelist *fl);

/*
 * The interval treap: nodes keyed by start (ties by address), each
 * carrying the largest end of its subtree. Embedded in their owners (a
 * container's children, a view's access caches); not thread-safe.
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

/*
 * Treaps: the split and join, written once.
 *
 * Three treaps share them: the interval treap of a container's children and
 * of a view's access caches (base/itree.c: mutable nodes embedded in their
 * owners, augmented with the largest end), the persistent treap of a flat
 * view's ranges (ranges/: path copying, augmented with subtree counts), and
 * the ioeventfd sets of a view (update/). They differ only in three places,
 * which the user passes as macros, so each instance compiles to the same
 * code a hand-written one would (no calls through pointers):
 *
 *   BEFORE(t, k)  node t belongs left of a split at key k;
 *   FIX(t)        recompute t's augmentation from its children;
 *   OWN(c, t)     the node to change in place of t: t itself for a mutable
 *                 treap, a private copy for a persistent one, or NULL when
 *                 the copy could not be allocated. The operation then stops
 *                 where it is, leaving a tree that is garbage but made of
 *                 valid pointers, without having changed any node it does
 *                 not own; the caller sees the failure in its context and
 *                 throws the attempt away.
 *
 * Nodes have fields l, r (children) and prio (a max-heap on it). Depth is
 * that of a treap with random priorities, O(log n) expected whatever the
 * keys, so the recursion depth is not in the input's hands.
 */
#define GM_TREAP_SPLIT_JOIN(name, T, CTX, K, BEFORE, FIX, OWN)                 \
    __attribute__((unused)) static void name##_split(CTX c, T *t, K k,         \
                                                     T **lt, T **ge)           \
    {                                                                          \
        T *o;                                                                  \
                                                                               \
        if (!t) {                                                              \
            *lt = *ge = NULL;                                                  \
            return;                                                            \
        }                                                                      \
        o = OWN(c, t);                                                         \
        if (!o) {                                                              \
            *lt = t;                                                           \
            *ge = NULL;                                                        \
            return;                                                            \
        }                                                                      \
        if (BEFORE(o, k)) {                                                    \
            name##_split(c, o->r, k, &o->r, ge);                               \
            *lt = o;                                                           \
        } else {                                                               \
            name##_split(c, o->l, k, lt, &o->l);                               \
            *ge = o;                                                           \
        }                                                                      \
        FIX(o);                                                                \
    }                                                                          \
                                                                               \
    __attribute__((unused)) static T *name##_join(CTX c, T *a, T *b)           \
    {                                                                          \
        T *o;                                                                  \
                                                                               \
        if (!a) {                                                              \
            return b;                                                          \
        }                                                                      \
        if (!b) {                                                              \
            return a;                                                          \
        }                                                                      \
        if (a->prio > b->prio) {                                               \
            o = OWN(c, a);                                                     \
            if (!o) {                                                          \
                return a;                                                      \
            }                                                                  \
            o->r = name##_join(c, o->r, b);                                    \
            FIX(o);                                                            \
            return o;                                                          \
        }                                                                      \
        o = OWN(c, b);                                                         \
        if (!o) {                                                              \
            return b;                                                          \
        }                                                                      \
        o->l = name##_join(c, a, o->l);                                        \
        FIX(o);                                                                \
        return o;                                                              \
    }

/*
 * The system. base's part is embedded; every other module's state is its
 * own type behind a pointer.
 */
struct gm_base {
    pthread_mutex_t lock; /* the writer lock, recursive */
    pthread_t owner;      /* holder of the outermost transaction */
    unsigned lock_count;  /* holds of the current holder */
    unsigned depth;       /* transaction nesting (lock held) */
    bool in_update;       /* listener callbacks are running */
    gm_warn_fn warn;
    void *warn_opaque;
    uint64_t rng;         /* treap priorities (lock held) */
};

struct gm_system {
    struct gm_base base;
    struct gm_reclaim *reclaim;
    struct gm_dirty_state *dirty;
    struct gm_ram_state *ram;
    struct gm_tree_state *tree;
    struct gm_ranges_state *ranges;
    struct gm_dispatch_state *dispatch;
    struct gm_view_state *view;
    struct gm_listen_state *listen;
    struct gm_access_state *access;
    struct gm_update_state *update;
};

int gm__base_init(gm_system *sys);
void gm__base_fini(gm_system *sys);
/* The writer lock: plain (recursive) locking, nothing else happens. */
void gm__lock(gm_system *sys);
void gm__unlock(gm_system *sys);
/* Report a warning through the system's handler (lock held or not). */
void gm__warn(gm_system *sys, const char *fmt, ...) GM_PRINTF(2, 3);
/* A random 32-bit value (writer lock held). */
uint32_t gm__rand(gm_system *sys);

#endif
