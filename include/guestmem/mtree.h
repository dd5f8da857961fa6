/* SPDX-License-Identifier: MIT */
/*
 * guestmem/mtree.h - introspection in QEMU's `info mtree` formats and JSON.
 */
#ifndef GUESTMEM_MTREE_H
#define GUESTMEM_MTREE_H

#include <stdio.h>

#include "error.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

enum gm_mtree_flags {
    GM_MTREE_FLAT = 1 << 0,     /* flat views (`info mtree -f`) */
    GM_MTREE_DISABLED = 1 << 1, /* show disabled regions (`-D`) */
    GM_MTREE_ANNOTATE = 1 << 2, /* `container` / read-only alias tokens */
    GM_MTREE_JSON = 1 << 3,     /* JSON instead of text (docs/json.md) */
};

/**
 * gm_mtree_print() - print every address space of @sys.
 * @sys: system.
 * @out: stream to write to.
 * @flags: enum gm_mtree_flags.
 * @err: optional error record.
 *
 * Text output follows QEMU 7.2's `info mtree [-f] [-D]` byte for byte (with
 * LF line ends): the region trees, or with GM_MTREE_FLAT the flat views;
 * GM_MTREE_DISABLED adds the disabled regions' lines. GM_MTREE_ANNOTATE
 * writes `container` for regions that do not terminate and `rom` for
 * read-only aliases, the form our importer reads back.
 *
 * GM_MTREE_JSON writes the JSON document of docs/json.md (schema version 1)
 * instead: the region trees as a table of regions, or with GM_MTREE_FLAT
 * the flat views; GM_MTREE_DISABLED lists the disabled regions too; the
 * annotation does not apply. It is valid UTF-8 JSON whatever the names
 * hold (invalid bytes become U+FFFD, with the exact bytes beside).
 *
 * Trees of any depth print: the walk keeps its pending regions on the heap
 * (memory grows with the depth and the number of pending siblings, and
 * running out of it is -ENOMEM), never on the C stack. The text indents
 * each line by twice its depth, as QEMU does, so a tree n levels deep
 * prints O(n^2) bytes; the JSON stays linear.
 *
 * Return: 0, -EINVAL, -EIO (write error), -ENOMEM, -EBUSY (from a listener
 * callback). On an error the output stops where it was.
 * Context: takes the writer lock; not from a listener callback.
 */
GM_EXPORT int gm_mtree_print(gm_system *sys, FILE *out, unsigned flags,
                             gm_error *err);

#ifdef __cplusplus
}
#endif
#endif
