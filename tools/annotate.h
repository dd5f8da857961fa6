/* SPDX-License-Identifier: MIT */
/*
 * tools/annotate.h - `guestmem annotate DUMP [QEMU_FLAT]`.
 *
 * Writes a QEMU `info mtree -D` dump back with the annotations that make
 * it exact (`container`, read-only aliases, `order K`), decided from
 * QEMU's own `info mtree -f` when it is given, else by the documented
 * heuristic (docs/board-format.md).
 */
#ifndef GUESTMEM_TOOLS_ANNOTATE_H
#define GUESTMEM_TOOLS_ANNOTATE_H

/**
 * annotate_main() - the `annotate` command.
 * @argc, @argv: the arguments after `annotate`.
 *
 * Prints the annotated dump on stdout and what it decided (or guessed) on
 * stderr.
 * Return: the exit status: 0 done (with QEMU_FLAT: the annotated dump
 * reproduces it), 1 with QEMU_FLAT when it does not, 2 on usage errors and
 * unreadable or malformed input.
 */
int annotate_main(int argc, char **argv);

#endif
