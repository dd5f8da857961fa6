/* SPDX-License-Identifier: MIT */
/*
 * guestmem/space.h - address spaces and their flat views.
 *
 * An address space has a name and a root region. Its flat view is the sorted
 * list of non-overlapping ranges the root renders to, each naming the
 * terminating region that owns it. Address spaces whose roots resolve to the
 * same region share one flat view (QEMU's flatview-root rule: follow whole
 * aliases at offset 0 and containers with a single enabled child at 0).
 *
 * Flat views are immutable and refcounted. A reader gets the current one
 * with gm_space_get_flatview() without taking any lock; a commit publishes a
 * new one and the old one is freed once every reader has let go (RCU).
 */
#ifndef GUESTMEM_SPACE_H
#define GUESTMEM_SPACE_H

#include "error.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * gm_space_new() - create an address space.
 * @sys: system.
 * @root: root region (a reference is taken); must belong to @sys.
 * @name: copied; NULL gives "anonymous".
 * @err: optional error record.
 *
 * Listeners receive region_add for the new space's ranges.
 * Return: the space (owned by @sys, destroyed by gm_space_destroy() or with
 * the system), or NULL: -EINVAL, -ENOMEM, -EBUSY (from a listener).
 */
GM_EXPORT gm_space *gm_space_new(gm_system *sys, gm_region *root,
                                 const char *name, gm_error *err);

/**
 * gm_space_destroy() - destroy an address space; listeners get region_del.
 * @as: space, or NULL (no-op returning 0).
 * Return: 0; -EBUSY when a listener is still filtered on @as, or from a
 * listener callback.
 */
GM_EXPORT int gm_space_destroy(gm_space *as, gm_error *err);

GM_EXPORT const char *gm_space_name(const gm_space *as);
/* The root region (borrowed). */
GM_EXPORT gm_region *gm_space_root(const gm_space *as);
GM_EXPORT gm_system *gm_space_system(const gm_space *as);

/**
 * gm_space_get_flatview() - the current flat view, with a reference.
 * Return: never NULL; release with gm_flatview_unref().
 * Context: any thread, lock-free (RCU).
 */
GM_EXPORT gm_flatview *gm_space_get_flatview(gm_space *as);

GM_EXPORT gm_flatview *gm_flatview_ref(gm_flatview *fv);
/* Drop a reference; the view is freed after an RCU grace period. */
GM_EXPORT void gm_flatview_unref(gm_flatview *fv);

/* The region the view was rendered from, or NULL for an empty root. */
GM_EXPORT gm_region *gm_flatview_root(const gm_flatview *fv);
GM_EXPORT size_t gm_flatview_nr_ranges(const gm_flatview *fv);

/**
 * gm_flatview_foreach() - visit the ranges in address order.
 * @fn: called with a section (space NULL) valid during the call; non-zero
 *      stops the walk and is returned.
 */
GM_EXPORT int gm_flatview_foreach(const gm_flatview *fv,
                                  int (*fn)(const struct gm_section *s,
                                            void *opaque),
                                  void *opaque);

/**
 * gm_flatview_lookup() - the range containing @addr.
 * Return: true and *@out filled, or false in a hole.
 */
GM_EXPORT bool gm_flatview_lookup(const gm_flatview *fv, uint64_t addr,
                                  struct gm_section *out);

#ifdef __cplusplus
}
#endif
#endif
