/* SPDX-License-Identifier: MIT */
/*
 * guestmem/listener.h - following the flat views of a system.
 *
 * A listener sees every change of the flat views of one address space (or of
 * all). Each commit delivers exactly the symmetric difference of the old and
 * new view: region_del for ranges that left (or whose attributes changed),
 * then region_add for ranges that appeared, with region_nop for the
 * unchanged ranges inside the re-rendered windows and log_start/log_stop
 * (after the range's region_nop) when only the dirty-log mask of a range
 * changed; ranges of one space come in address order. Deletions, log_stop
 * and eventfd_del run in descending listener priority, the others in
 * ascending priority.
 *
 * One commit may change several spaces. It calls begin on every listener
 * that hears at least one of the spaces it tells about (listeners filtered
 * on other spaces hear nothing, not even begin and commit; a commit that
 * changes nothing visible calls nobody); then region_del for every space
 * told (spaces in creation order); then it publishes the new views; then
 * region_add, region_nop, log_start and log_stop for every space; then,
 * space by space, eventfd_del and eventfd_add; then commit.
 *
 * Context: callbacks run on the committing (or registering) thread with the
 * writer lock held. They may read (getters, gm_space_get_flatview()) but
 * must not change the topology or (un)register listeners: such calls fail
 * with -EBUSY. During begin and region_del callbacks every space still
 * publishes its old view, during the others (commit included) the new one.
 */
#ifndef GUESTMEM_LISTENER_H
#define GUESTMEM_LISTENER_H

#include "error.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Callbacks; any may be NULL. Sections are valid only during the call.
 * The sections of eventfd_add / eventfd_del carry only the space, the
 * ioeventfd's absolute address (addr) and its size (0: any size); their
 * region is NULL. The table only ever grows at the end.
 */
struct gm_listener_ops {
    void (*begin)(void *opaque);
    void (*commit)(void *opaque);
    void (*region_add)(void *opaque, const struct gm_section *s);
    void (*region_del)(void *opaque, const struct gm_section *s);
    void (*region_nop)(void *opaque, const struct gm_section *s);
    void (*log_start)(void *opaque, const struct gm_section *s,
                      unsigned old_mask, unsigned new_mask);
    void (*log_stop)(void *opaque, const struct gm_section *s,
                     unsigned old_mask, unsigned new_mask);
    void (*log_sync)(void *opaque, const struct gm_section *s);
    void (*log_global_start)(void *opaque);
    void (*log_global_stop)(void *opaque);
    void (*eventfd_add)(void *opaque, const struct gm_section *s,
                        bool match_data, uint64_t data, int fd);
    void (*eventfd_del)(void *opaque, const struct gm_section *s,
                        bool match_data, uint64_t data, int fd);
    /*
     * A dirty-bitmap client cleared (or took a snapshot of) the part of a
     * RAM range that @s covers (dirty.h): an accelerator that write-protects
     * pages to log them can protect exactly these again (QEMU's log_clear).
     */
    void (*log_clear)(void *opaque, const struct gm_section *s);
    /*
     * Coalesced MMIO (gm_region_add_coalescing()): writes to
     * [addr, addr + size), a part of @s, may be batched by an accelerator
     * (KVM's coalesced MMIO ring) and flushed later. Told after the
     * region_add of @s (and when the region's ranges change), one call
     * per coalesced range clipped to @s; each piece is deleted, before
     * the region_del of @s or when the ranges change, with the same
     * (addr, size) it was added with.
     */
    void (*coalesced_io_add)(void *opaque, const struct gm_section *s,
                             uint64_t addr, uint64_t size);
    void (*coalesced_io_del)(void *opaque, const struct gm_section *s,
                             uint64_t addr, uint64_t size);
};

/**
 * gm_listener_register() - start listening.
 * @sys: system.
 * @ops: callbacks; must outlive the registration.
 * @opaque: passed to every callback.
 * @priority: ordering among listeners (ascending for additions).
 * @filter: only this space, or NULL for every space.
 * @err: optional error record.
 *
 * Replays the current state: log_global_start if global logging is on, then
 * for each space (begin, region_add and log_start per range, eventfd_add per
 * ioeventfd, commit). Spaces created in a transaction still open are not
 * replayed: the listener hears them at its commit.
 *
 * Return: a handle, or NULL: -EINVAL, -ENOMEM, -EBUSY (from a listener).
 */
GM_EXPORT gm_listener *gm_listener_register(gm_system *sys,
                                            const struct gm_listener_ops *ops,
                                            void *opaque, int priority,
                                            gm_space *filter, gm_error *err);

/**
 * gm_listener_unregister() - stop listening, replaying the current state as
 * deletions, and free @l: for each space (begin, log_stop and region_del
 * per range, eventfd_del per ioeventfd, commit), then log_global_stop if
 * global logging is on.
 * Return: 0; -EINVAL (NULL); -EBUSY from a listener callback (nothing is
 * changed).
 */
GM_EXPORT int gm_listener_unregister(gm_listener *l, gm_error *err);

/**
 * gm_space_log_sync() - call log_sync on the listeners for each range of
 * @as (only those of @region when not NULL) whose dirty-log mask is set.
 * Return: 0, -EINVAL, -EBUSY.
 */
GM_EXPORT int gm_space_log_sync(gm_space *as, gm_region *region,
                                gm_error *err);

#ifdef __cplusplus
}
#endif
#endif
