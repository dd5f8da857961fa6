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

#include <stdbool.h>
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
 * struct board_devices - how a program with device models builds a board.
 * @create: make the region of a declaration `KIND ID SIZE dev=TYPE ...`
 *          (@kind: container, ram, rom, io, romdev or ramdev; @name: its
 *          displayed name). Returns the region, holding one reference that
 *          the board takes, or NULL with @err set (the board then fails
 *          with `LABEL:LINE: expected a device the program knows: MSG`).
 * @opaque: passed to @create.
 * @memory: give RAM real memory (else the system is memoryless).
 */
struct board_devices {
    gm_region *(*create)(void *opaque, gm_system *sys, const char *kind,
                         const char *dev, const char *name, gm_u128 size,
                         gm_error *err);
    void *opaque;
    bool memory;
};

/**
 * board_import_devices() - board_import(), with device models.
 * @devs: the models for `dev=TYPE` flags, or NULL (then `dev=` is read and
 *        the region is made as without it).
 */
int board_import_devices(struct machine *m, const char *label, char *text,
                         size_t len, const struct board_devices *devs);

/**
 * board_default_text() - the built-in board: a small PC-like machine.
 * Return: a static NUL-terminated description.
 */
const char *board_default_text(void);

#endif
