/* SPDX-License-Identifier: MIT */
/*
 * rcu.h - the RCU flavour used by guestmem, behind one set of names.
 *
 * guestmem uses liburcu's "bulletproof" flavour: threads register
 * themselves on their first read-side section, which suits a library that
 * is called from threads it did not create. Pointer publication goes
 * through C11 acquire/release atomics so that ThreadSanitizer sees the
 * ordering (Debian's liburcu 0.13 predates its TSan support).
 */
#ifndef GM_RCU_H
#define GM_RCU_H

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

#endif
