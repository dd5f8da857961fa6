/* SPDX-License-Identifier: MIT */
/*
 * tools/cli.h - what tools/guestmem.c shares with the other commands.
 *
 * The commands in their own files (map.c, diff.c) build machines the way
 * `guestmem mtree` does, through load_machine(), so that every command reads
 * the same inputs with the same messages.
 */
#ifndef GUESTMEM_TOOLS_CLI_H
#define GUESTMEM_TOOLS_CLI_H

#include "mtree-import.h"

/**
 * load_machine() - build @m from a dump or board file, as `guestmem mtree`.
 * @path: the file, or NULL for the built-in board.
 * @m: zeroed machine; filled on success (free with machine_destroy()).
 * Return: 0, or -1 after a message on stderr (@m left empty).
 */
int load_machine(const char *path, struct machine *m);

#endif
