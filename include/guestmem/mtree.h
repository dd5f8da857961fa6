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
    GM_MTREE_JSON = 1 << 3,     /* JSON instead of text */
};

/**
 * gm_mtree_print() - print every address space of @sys.
 * @sys: system.
 * @out: stream to write to.
 * @flags: enum gm_mtree_flags.
 * @err: optional error record.
 *
 * Text output follows QEMU 7.2's `info mtree [-f] [-D]` byte for byte (with
 * LF line ends); GM_MTREE_ANNOTATE writes `container` for regions that do
 * not terminate and `rom` for read-only aliases, the form our importer reads
 * back. JSON gives the same information as objects.
 * Return: 0, -EINVAL, -EIO (write error), -ENOMEM, -EBUSY (from a listener
 * callback).
 * Context: takes the writer lock; not from a listener callback.
 */
GM_EXPORT int gm_mtree_print(gm_system *sys, FILE *out, unsigned flags,
                             gm_error *err);

#ifdef __cplusplus
}
#endif
#endif
