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
 * Listeners receive region_add (and eventfd_add) for the new space's
 * ranges at the commit that closes its creation; inside a transaction the
 * space reads as empty until the outermost commit. It reads unassigned
 * addresses as 0 (gm_space_set_unassigned()).
 * Return: the space (owned by @sys, destroyed by gm_space_destroy() or with
 * the system), or NULL: -EINVAL, -ENOMEM (nothing created, no listener
 * told), -EBUSY (from a listener).
 */
GM_EXPORT gm_space *gm_space_new(gm_system *sys, gm_region *root,
                                 const char *name, gm_error *err);

/**
 * gm_space_destroy() - destroy an address space; listeners get region_del
 * (and eventfd_del).
 * @as: space, or NULL (no-op returning 0).
 *
 * Inside a transaction the space lives on until the outermost commit,
 * which tells the listeners and frees it.
 * Return: 0; -EBUSY when a listener is still filtered on @as, an access
 * cache is still open on it, a DMA map of it is still active or a map
 * client still registered, or from a listener callback; -ENOMEM (the
 * space lives on, nothing told).
 */
GM_EXPORT int gm_space_destroy(gm_space *as, gm_error *err);

GM_EXPORT const char *gm_space_name(const gm_space *as);
/* The root region (borrowed). */
GM_EXPORT gm_region *gm_space_root(const gm_space *as);
GM_EXPORT gm_system *gm_space_system(const gm_space *as);

/**
 * gm_space_get_flatview() - the current flat view, with a reference.
 * Return: never NULL for a space (NULL only for a NULL @as); release with
 * gm_flatview_unref().
 * Context: any thread, lock-free (RCU).
 */
GM_EXPORT gm_flatview *gm_space_get_flatview(gm_space *as);

GM_EXPORT gm_flatview *gm_flatview_ref(gm_flatview *fv);
/* Drop a reference; the view is freed after an RCU grace period. */
GM_EXPORT void gm_flatview_unref(gm_flatview *fv);

/*
 * The region the view was rendered from (the space's root as resolved), or
 * NULL when that resolves to nothing (a disabled root, a container with no
 * enabled child).
 */
GM_EXPORT gm_region *gm_flatview_root(const gm_flatview *fv);
GM_EXPORT size_t gm_flatview_nr_ranges(const gm_flatview *fv);

/**
 * gm_flatview_foreach() - visit the ranges in address order.
 * @fn: called with a section (space NULL) valid during the call; non-zero
 *      stops the walk and is returned.
 * Return: 0, @fn's non-zero value, or -EINVAL (NULL @fv or @fn).
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
