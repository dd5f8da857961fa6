/* SPDX-License-Identifier: MIT */
/*
 * tools/diff.h - `guestmem diff`: what changed between two memory maps.
 */
#ifndef GUESTMEM_TOOLS_DIFF_H
#define GUESTMEM_TOOLS_DIFF_H

#include <stdbool.h>
#include <stdio.h>

#include "mtree-import.h"

/**
 * diff_write() - compare the flat views of two machines, space by space.
 * @old, @new: loaded machines.
 * @old_label, @new_label: their file names, for the header.
 * @json: JSON (docs/diff.md) instead of text.
 * @out: where to write.
 * Return: 0 when every space renders alike, 1 when something differs,
 * -1 after a message on stderr (out of memory, write error).
 */
int diff_write(struct machine *old, struct machine *new, const char *old_label,
               const char *new_label, bool json, FILE *out);


#endif
