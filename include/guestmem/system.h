/* SPDX-License-Identifier: MIT */
/*
 * guestmem/system.h - the context object and transactions.
 *
 * A gm_system owns everything of one machine: its address spaces, its
 * listeners, the transaction depth and the writer lock. Two systems in one
 * process never see each other.
 *
 * Locking model: topology changes (region mutators, transactions, space and
 * listener (un)registration) take the system's writer lock, a recursive
 * mutex. gm_transaction_begin() takes it and the matching outermost
 * gm_transaction_commit() releases it, so a transaction is atomic with
 * respect to other writers. Readers (flat views) never take it: they use RCU.
 * Listener callbacks run with the lock held and must not change the topology
 * (such calls fail with -EBUSY).
 */
#ifndef GUESTMEM_SYSTEM_H
#define GUESTMEM_SYSTEM_H

#include "error.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * typedef gm_warn_fn - receives warnings (e.g. colliding subregions).
 * @opaque: the pointer given to gm_system_set_warn_handler().
 * @msg: NUL-terminated message, valid only during the call.
 */
typedef void (*gm_warn_fn)(void *opaque, const char *msg);

/**
 * gm_system_new() - create an empty system.
 * @err: optional error record.
 *
 * Return: a new system owned by the caller, or NULL (-ENOMEM).
 * Context: any thread.
 */
GM_EXPORT gm_system *gm_system_new(gm_error *err);

/**
 * gm_system_destroy() - destroy a system.
 * @sys: system, or NULL (no-op).
 * @err: optional error record.
 *
 * Destroys the remaining address spaces and listeners (without replaying
 * region_del), waits for RCU readers, then frees the system.
 *
 * Return: 0; -EBUSY if a space is still in use (see Context; nothing is
 * destroyed), or if regions are still referenced by the caller (spaces
 * and listeners are gone but the system stays allocated: unref the regions
 * and call again); -EINVAL inside a transaction or a listener.
 * Context: not from a listener or with a transaction open; no flat view of
 * this system may still be referenced. A space still in use (an access
 * cache open, a DMA map active, a map client registered) makes it return
 * -EBUSY with nothing destroyed: release those first.
 */
GM_EXPORT int gm_system_destroy(gm_system *sys, gm_error *err);

/**
 * gm_system_set_memoryless() - whether RAM-backed regions made from now on
 * get host memory.
 * @sys: system.
 * @on: true: RAM, ROM, ROM-device and RAM-device regions created after this
 *      call get none (any size up to 2^64; a RAM device needs no pointer).
 * @err: optional error record.
 *
 * For drawing, comparing and checking memory maps without the memory: such
 * regions render, print and log like RAM, but accesses to them are
 * unassigned (decode errors) and they cannot be mapped for DMA. Regions
 * made before keep what they have.
 * Return: 0, -EINVAL. Context: any thread, not from a listener.
 */
GM_EXPORT int gm_system_set_memoryless(gm_system *sys, bool on,
                                       gm_error *err);

/**
 * gm_system_set_warn_handler() - route warnings.
 * @sys: system.
 * @fn: handler, or NULL to drop warnings. The default prints to stderr.
 * @opaque: passed back to @fn.
 */
GM_EXPORT void gm_system_set_warn_handler(gm_system *sys, gm_warn_fn fn,
                                          void *opaque);

/**
 * gm_transaction_begin() - open a (nestable) transaction.
 * @sys: system.
 *
 * Takes the writer lock; changes made until the outermost commit are
 * published as one topology update.
 *
 * Return: 0; -EINVAL (NULL); -EBUSY when called from a listener callback.
 */
GM_EXPORT int gm_transaction_begin(gm_system *sys);

/**
 * gm_transaction_commit() - close a transaction.
 * @sys: system.
 * @err: optional error record.
 *
 * The outermost commit renders only the windows of the address space that
 * the transaction's changes touched, tells listeners the difference, and
 * publishes the new flat views (see listener.h for the order). No view is
 * published and no listener is called when nothing visible changed (a
 * change undone within the transaction still re-renders its windows to
 * find that out).
 *
 * Return: 0; -EINVAL without a matching begin on this thread (also from a
 * listener callback); -ENOMEM (the transaction is closed all the same: no
 * view was published and no listener told, the changes stay pending and
 * the next commit retries).
 */
GM_EXPORT int gm_transaction_commit(gm_system *sys, gm_error *err);

/**
 * gm_transaction_depth() - nesting depth of the caller's transaction.
 * Return: 0 outside a transaction.
 */
GM_EXPORT unsigned gm_transaction_depth(gm_system *sys);

/**
 * gm_system_log_global_start() - enable migration dirty logging globally.
 * @sys: system.
 * @err: optional error record.
 *
 * Calls log_global_start on every listener (filtered ones included), then
 * every range of RAM-backed memory gets GM_DIRTY_MIGRATION in its
 * dirty-log mask (region_nop and log_start events, in a commit of their
 * own). Inside a transaction log_global_start is called at once and the
 * log_start events come with the outermost commit.
 * Return: 0, -EINVAL (NULL), -EALREADY, -EBUSY from a listener, or -ENOMEM
 * (nothing changed, no listener called).
 */
GM_EXPORT int gm_system_log_global_start(gm_system *sys, gm_error *err);

/**
 * gm_system_log_global_stop() - the same for stopping, in the reverse
 * order, as QEMU: the log_stop events first, then log_global_stop
 * (listeners in reverse order); -EALREADY when not started.
 */
GM_EXPORT int gm_system_log_global_stop(gm_system *sys, gm_error *err);

/** gm_system_log_global_enabled() - whether global dirty logging is on. */
GM_EXPORT bool gm_system_log_global_enabled(gm_system *sys);

/**
 * gm_system_foreach_space() - visit the address spaces in creation order.
 * @sys: system.
 * @fn: called for each space; a non-zero return stops the walk.
 * @opaque: passed to @fn.
 *
 * Return: the first non-zero value @fn returned, 0, or -EINVAL (NULL @sys
 * or @fn).
 * Context: takes the writer lock; @fn must not create or destroy spaces.
 */
GM_EXPORT int gm_system_foreach_space(gm_system *sys,
                                      int (*fn)(gm_space *as, void *opaque),
                                      void *opaque);

#ifdef __cplusplus
}
#endif
#endif
