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
 * Out-of-line read-side calls: the inline (_LGPL_SOURCE) versions of
 * liburcu 0.13 access a 128-byte-aligned reader slot that its allocator
 * does not align, which UBSan reports on every read lock.
 */
#include <urcu-bp.h>
#include <urcu/rculist.h>

#define gm__rcu_read_lock() urcu_bp_read_lock()
#define gm__rcu_read_unlock() urcu_bp_read_unlock()
#define gm__rcu_call(head, fn) urcu_bp_call_rcu((head), (fn))
#define gm__rcu_barrier() urcu_bp_barrier()

#define gm__rcu_load(p) atomic_load_explicit(&(p), memory_order_acquire)
#define gm__rcu_store(p, v) atomic_store_explicit(&(p), (v), memory_order_release)

#endif
