/* SPDX-License-Identifier: MIT */
/*
 * output/output.h - what the printers of gm_mtree_print() share.
 *
 * The output module is a client of the public API only (guestmem.h): it
 * walks address spaces, region trees and flat views through the getters,
 * like any program linked against the library could. mtree.c prints QEMU's
 * text formats, json.c the JSON of docs/json.md, and walk.c holds what both
 * use: the output stream with its first error, growable arrays, a pointer
 * map, the children of a region in print order and the grouping of spaces.
 *
 * Nothing in this module recurses: region trees are walked with explicit
 * stacks on the heap, so the depth of a tree costs memory (reported as
 * -ENOMEM when it runs out), never C stack. Every lookup is a hash-map
 * probe, so a print is linear in the regions and ranges printed (plus the
 * sort of each region's children).
 */
#ifndef GM_OUTPUT_H
#define GM_OUTPUT_H

#include <stdio.h>

#include "guestmem/guestmem.h"

/*
 * struct gm_out - an output stream and the first error met on it.
 * @out: destination.
 * @flags: enum gm_mtree_flags of the print.
 * @rc: 0, or the first error (-EIO for a failed write, -ENOMEM); once set,
 *      every further write is skipped.
 */
struct gm_out {
    FILE *out;
    unsigned flags;
    int rc;
};

/* Record @rc as the stream's error unless one is recorded already. */
static inline void gm_out_fail(struct gm_out *o, int rc)
{
    if (!o->rc) {
        o->rc = rc;
    }
}

/* QEMU's MR_SIZE(): size - 1, and 0 for an empty region. */
static inline uint64_t gm_out_size_m1(gm_u128 size)
{
    return size ? (uint64_t)(size - 1) : 0;
}

void gm__out_printf(struct gm_out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void gm__out_write(struct gm_out *o, const void *buf, size_t len);
/* @n blanks (indentation of any width, without a printf field width). */
void gm__out_blanks(struct gm_out *o, size_t n);

/* A growable array of pointers. */
struct gm_out_vec {
    void **v;
    size_t n, cap;
};

/* Append @p; 0 or -ENOMEM. */
int gm__out_vec_push(struct gm_out_vec *pv, void *p);

/*
 * struct gm_out_map - a map from pointers to indexes (open addressing,
 * linear probing, at most half full). Zero-initialised is empty.
 */
struct gm_out_map {
    const void **keys;
    size_t *vals;
    size_t n, cap;
};

#define GM_OUT_NONE ((size_t)-1)

/* The value of @key, or GM_OUT_NONE. */
size_t gm__out_map_get(const struct gm_out_map *m, const void *key);
/* Set @key (absent or present) to @val; 0 or -ENOMEM. */
int gm__out_map_put(struct gm_out_map *m, const void *key, size_t val);
void gm__out_map_free(struct gm_out_map *m);

/* One child of a region, with its position in render order. */
struct gm_out_child {
    gm_region *r;
    uint64_t addr;
    int prio;
    size_t idx;
};

/* A reusable list of children (->v is kept between calls; free it). */
struct gm_out_children {
    struct gm_out_child *v;
    size_t n, cap;
    int rc;
};

/*
 * gm__out_children() - the subregions of @r in QEMU's print order: address
 * ascending, priority descending, then render order. Replaces the content
 * of @cl. Return: 0 or -ENOMEM.
 */
int gm__out_children(gm_region *r, struct gm_out_children *cl);

/*
 * gm__out_type() - QEMU's memory_region_type(): "ram", "rom", "romd",
 * "ramd" or "i/o" (containers and MMIO alike); an alias shows its final
 * target's type.
 */
const char *gm__out_type(gm_region *r);

/* The spaces that share one root region (or one flat view). */
struct gm_out_group {
    const void *key;
    struct gm_out_vec spaces; /* in creation order */
};

/*
 * struct gm_out_groups - every space, grouped by root or by flat view.
 * @v, @n, @cap: groups in order of first appearance.
 * @order: every space in creation order.
 * @group_of: for each space of @order, the index of its group.
 * @by_view: groups are keyed by flat view (each group holds a reference).
 */
struct gm_out_groups {
    struct gm_out_group *v;
    size_t n, cap;
    struct gm_out_vec order;
    size_t *group_of;
    size_t group_of_cap;
    struct gm_out_map index;
    bool by_view;
    int rc;
};

/* Group the spaces of @sys; 0 or -ENOMEM (free @gl in either case). */
int gm__out_group_spaces(gm_system *sys, struct gm_out_groups *gl,
                         bool by_view);
void gm__out_groups_free(struct gm_out_groups *gl);

/* The JSON document of docs/json.md (json.c). */
void gm__out_json(struct gm_out *o, gm_system *sys);

#endif
