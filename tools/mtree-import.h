/* SPDX-License-Identifier: MIT */
/*
 * tools/mtree-import.h - building a gm_system from a text description.
 *
 * Two formats are read: QEMU's `info mtree -D` dump (optionally with the
 * `container` / read-only alias annotations of the conformance corpus) and
 * guestmem's own board format (tools/board.h, docs/board-format.md). Both
 * importers build the machine through the public API only.
 *
 * Errors are reported on stderr as `LABEL:LINE: expected ...` and make the
 * importer return -1; the machine is then left empty (nothing leaks).
 */
#ifndef GUESTMEM_TOOLS_MTREE_IMPORT_H
#define GUESTMEM_TOOLS_MTREE_IMPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "guestmem/guestmem.h"

/*
 * struct machine - a system built from a description, with what it owns.
 * @sys: the system (owned; NULL until an import succeeded).
 * @maps: host mappings backing RAM devices, unmapped by machine_destroy()
 *        after the system is gone.
 * @map_sizes: length in bytes of each mapping.
 * @nmaps: number of mappings; @maps_cap: allocated slots.
 * @loops: aliases the dump importer re-pointed at a proxy because they lie
 *         inside their own target (see fix_loop() in mtree-import.c); the
 *         annotated dump of such a machine names the proxies, not QEMU's
 *         regions.
 */
struct machine {
    gm_system *sys;
    void **maps;
    size_t *map_sizes;
    size_t nmaps, maps_cap;
    unsigned loops;
};

/**
 * machine_map_host() - an anonymous MAP_NORESERVE mapping for a RAM device.
 * @m: machine that keeps the mapping until machine_destroy().
 * @size: bytes, > 0.
 * Return: the mapping, or NULL (errno set).
 */
void *machine_map_host(struct machine *m, size_t size);

/**
 * machine_destroy() - destroy the system, then unmap the host mappings.
 * @m: machine; left zeroed. Return: 0, or the gm_system_destroy() error.
 */
int machine_destroy(struct machine *m);

/**
 * mtree_import_detect() - whether @text looks like an `info mtree` dump
 * (its first non-blank line starts with `address-space:` or
 * `memory-region:`).
 */
bool mtree_import_detect(const char *text, size_t len);

/**
 * mtree_import() - build @m from an `info mtree -D` dump.
 * @m: zeroed machine; filled on success.
 * @label: file name used in messages.
 * @text: the dump, modified in place (lines are cut); need not be
 *        NUL-terminated but text[@len] must be writable (one spare byte);
 *        owned by the caller and no longer needed after the call.
 * @len: bytes in @text.
 * Return: 0, or -1 after a message on stderr.
 */
int mtree_import(struct machine *m, const char *label, char *text, size_t len);

#endif
