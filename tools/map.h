/* SPDX-License-Identifier: MIT */
/*
 * tools/map.h - `guestmem map`: the flat views of a machine as a picture.
 */
#ifndef GUESTMEM_TOOLS_MAP_H
#define GUESTMEM_TOOLS_MAP_H

#include <stdio.h>

#include "mtree-import.h"

/* Output formats of map_write(). */
enum map_format {
    MAP_SVG,  /* a standalone SVG document */
    MAP_HTML, /* an HTML page holding the SVG, a legend and hover styles */
};

/**
 * map_write() - draw the flat views of @m->sys.
 * @m: a loaded machine.
 * @label: what the picture is of (the file name), shown in its title.
 * @fmt: SVG or HTML.
 * @out: where to write.
 * Return: 0, or -1 after a message on stderr (out of memory, a write
 * error, or more ranges than a picture can show).
 */
int map_write(struct machine *m, const char *label, enum map_format fmt,
              FILE *out);


#endif
