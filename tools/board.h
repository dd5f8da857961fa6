/* SPDX-License-Identifier: MIT */
/*
 * tools/board.h - guestmem's board-description format.
 *
 * A line-oriented description of a machine: region declarations, their
 * placement into containers, and address spaces. The format is documented
 * in docs/board-format.md.
 */
#ifndef GUESTMEM_TOOLS_BOARD_H
#define GUESTMEM_TOOLS_BOARD_H

#include <stddef.h>

#include "mtree-import.h"

/**
 * board_import() - build @m from a board description.
 * @m: zeroed machine; filled on success.
 * @label: file name used in messages.
 * @text: the description, modified in place; text[@len] must be writable
 *        (one spare byte). Owned by the caller.
 * @len: bytes in @text.
 * Return: 0, or -1 after a `LABEL:LINE: expected ...` message on stderr.
 */
int board_import(struct machine *m, const char *label, char *text, size_t len);

/**
 * board_default_text() - the built-in board: a small PC-like machine.
 * Return: a static NUL-terminated description.
 */
const char *board_default_text(void);

#endif
