/* SPDX-License-Identifier: MIT */
/*
 * guestmem/listener.h - following the flat views of a system.
 *
 * A listener sees every change of the flat views of one address space (or of
 * all). Each commit delivers exactly the symmetric difference of the old and
 * new view: region_del for ranges that left (or whose attributes changed),
 * then region_add for ranges that appeared, with region_nop for the
 * unchanged ranges inside the re-rendered windows and log_start/log_stop
 * when only the dirty-log mask of a range changed. Deletions run in
 * descending priority, additions in ascending priority; begin and commit
 * bracket each update.
 *
 * Context: callbacks run on the committing thread with the writer lock held.
 * They may read (getters, gm_space_get_flatview()) but must not change the
 * topology or (un)register listeners: such calls fail with -EBUSY. During
 * region_del callbacks the space still publishes the old view, during the
 * others the new one.
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
 * The table only ever grows at the end.
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
 * ioeventfd, commit).
 *
 * Return: a handle, or NULL: -EINVAL, -ENOMEM, -EBUSY (from a listener).
 */
GM_EXPORT gm_listener *gm_listener_register(gm_system *sys,
                                            const struct gm_listener_ops *ops,
                                            void *opaque, int priority,
                                            gm_space *filter, gm_error *err);

/**
 * gm_listener_unregister() - stop listening, replaying region_del (with
 * log_stop and eventfd_del) for the current state, and free @l.
 * Return: 0; -EBUSY from a listener callback (nothing is changed).
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
