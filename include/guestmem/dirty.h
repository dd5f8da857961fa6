/* SPDX-License-Identifier: MIT */
/*
 * guestmem/dirty.h - which pages of guest RAM were written, per client.
 *
 * A dirty bitmap per client (enum gm_dirty_client: VGA, CODE, MIGRATION,
 * SNAPSHOT) over the system's ram_addr space (ram.h), one bit per 4 KiB
 * page, as QEMU's ram_list.dirty_memory. Every write to RAM through the
 * API (gm_space_write/store, caches, the write-back of a DMA unmap) sets
 * the bits of the clients whose logging is on for that range (the range's
 * dirty-log mask: gm_region_set_log(), global migration logging, a live
 * gm_ram_snapshot); a new block starts dirty for every client, and logging
 * that starts on a range marks it all dirty (what a consumer has never
 * looked at counts as changed, as KVM's "initially set" dirty logs do).
 * Writes made directly to a block's host memory are not seen: a device
 * model writing there marks them with gm_dirty_set().
 *
 * Ranges are given in the ram_addr space: gm_region_ram_addr(r) + offset.
 * Bits are set only within blocks that exist: gm_dirty_set() and
 * gm_dirty_merge() refuse a page outside every block. Consumers test,
 * count, clear, or take a snapshot of any range the bitmaps cover (every
 * block, in whole GiB; so the whole ram_addr space from 0 to the end of
 * the last block at once), where pages outside the blocks read clean. They
 * take a snapshot (QEMU's cpu_physical_memory_snapshot_and_clear_dirty):
 * the bits are moved into the snapshot atomically word by word, so a write
 * racing with it is in this snapshot or stays for the next, never lost;
 * once the call returns, the data of every write it took is visible to the
 * caller. Listeners' log_clear hears every clear and snapshot (so KVM can
 * write-protect exactly those pages again).
 *
 * Context: test, count and set: any thread, lock-free. Clear and
 * snapshots take the writer lock (for log_clear); not from a listener.
 */
#ifndef GUESTMEM_DIRTY_H
#define GUESTMEM_DIRTY_H

#include "error.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GM_DIRTY_PAGE_SIZE_BYTES 4096u

/** gm_dirty_test() - whether a page of [@ram_addr, +@len) is dirty. */
GM_EXPORT bool gm_dirty_test(gm_system *sys, uint64_t ram_addr, uint64_t len,
                             enum gm_dirty_client client);

/** gm_dirty_count() - how many pages of [@ram_addr, +@len) are dirty. */
GM_EXPORT uint64_t gm_dirty_count(gm_system *sys, uint64_t ram_addr,
                                  uint64_t len, enum gm_dirty_client client);

/**
 * gm_dirty_set() - mark the pages of [@ram_addr, +@len) dirty for the
 * clients of @mask (bit 1 << client). Return: 0, -EINVAL (a page outside
 * every block, or a bad mask).
 */
GM_EXPORT int gm_dirty_set(gm_system *sys, uint64_t ram_addr, uint64_t len,
                           unsigned mask, gm_error *err);

/**
 * gm_dirty_clear() - clear @client's bits of [@ram_addr, +@len) and tell
 * the listeners (log_clear). Return: 0, -EINVAL, -EBUSY (from a listener).
 */
GM_EXPORT int gm_dirty_clear(gm_system *sys, uint64_t ram_addr, uint64_t len,
                             enum gm_dirty_client client, gm_error *err);

/*
 * A snapshot: the bits of one client over one range at one moment, owned
 * by the caller.
 */
typedef struct gm_dirty_snapshot gm_dirty_snapshot;

/**
 * gm_dirty_snapshot_and_clear() - move @client's bits of [@ram_addr, +@len)
 * into a new snapshot (then log_clear).
 * Return: the snapshot (free it with gm_dirty_snapshot_free()), or NULL:
 * -EINVAL, -ENOMEM (nothing cleared), -EBUSY.
 */
GM_EXPORT gm_dirty_snapshot *gm_dirty_snapshot_and_clear(
    gm_system *sys, uint64_t ram_addr, uint64_t len,
    enum gm_dirty_client client, gm_error *err);

/** Whether a page of [@ram_addr, +@len) was dirty in @s (false outside). */
GM_EXPORT bool gm_dirty_snapshot_test(const gm_dirty_snapshot *s,
                                      uint64_t ram_addr, uint64_t len);
/** The number of dirty pages in @s. */
GM_EXPORT uint64_t gm_dirty_snapshot_count(const gm_dirty_snapshot *s);
/**
 * gm_dirty_snapshot_next() - the first dirty page of @s at or after
 * @ram_addr (its ram_addr), or GM_RAM_ADDR_INVALID: for walking it.
 */
GM_EXPORT uint64_t gm_dirty_snapshot_next(const gm_dirty_snapshot *s,
                                          uint64_t ram_addr);
GM_EXPORT void gm_dirty_snapshot_free(gm_dirty_snapshot *s);

/**
 * gm_dirty_merge() - OR a bitmap of @npages pages (bit i of word i / 64:
 * the page at @ram_addr + i * 4096) into the clients of @mask: what a
 * listener's log_sync does with the dirty log of KVM or another source.
 * Return: 0, -EINVAL.
 */
GM_EXPORT int gm_dirty_merge(gm_system *sys, uint64_t ram_addr,
                             uint64_t npages, const uint64_t *bitmap,
                             unsigned mask, gm_error *err);

/*
 * Snapshot reset (beyond QEMU, for fuzzers and tests): a copy of all RAM,
 * restored later by copying back only the pages written since, which the
 * SNAPSHOT client tracks while the snapshot lives. A reset costs what the
 * guest touched, not what it has.
 */
typedef struct gm_ram_snapshot gm_ram_snapshot;

/**
 * gm_ram_snapshot_take() - copy the used memory of every RAM block and
 * start the SNAPSHOT client on all RAM. Return: the snapshot, or NULL:
 * -ENOMEM (nothing changed), -EBUSY (from a listener, or a snapshot is
 * already live).
 */
GM_EXPORT gm_ram_snapshot *gm_ram_snapshot_take(gm_system *sys,
                                                gm_error *err);

/**
 * gm_ram_snapshot_restore() - put back every page written since the
 * snapshot (or since the last restore): blocks get back the used length
 * and the bytes they had; blocks made since are left alone.
 * Return: 0; -EBUSY (from a listener), -ENOMEM (a resize back failed;
 * nothing restored). gm_ram_snapshot_restored() tells how many pages it
 * copied.
 */
GM_EXPORT int gm_ram_snapshot_restore(gm_ram_snapshot *s, gm_error *err);
/** Pages the last gm_ram_snapshot_restore() copied back. */
GM_EXPORT uint64_t gm_ram_snapshot_restored(const gm_ram_snapshot *s);
/** Stop tracking and free the copy. */
GM_EXPORT void gm_ram_snapshot_free(gm_ram_snapshot *s);

#ifdef __cplusplus
}
#endif
#endif
