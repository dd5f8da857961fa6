/* SPDX-License-Identifier: MIT */
/*
 * json.c - gm_mtree_print(..., GM_MTREE_JSON): the document that
 * docs/json.md describes (schema version 1).
 *
 * Without GM_MTREE_FLAT the document holds the region trees as a table,
 * one object per region with the ids of its parent and subregions, rather
 * than as nested objects: any depth then parses with any parser (Python's
 * json module, for one, gives up near 1,000 nesting levels) and a region
 * reached from several places (as a root, as an alias target) is written
 * once. With GM_MTREE_FLAT it holds the flat views, whose ranges name their
 * region by the same ids.
 *
 * Ids come from one walk over every region (disabled ones included) that
 * the spaces' roots and the alias targets reach: each walk starts from the
 * topmost container of a root or target and goes depth first in QEMU's
 * print order; a region's id is its position in that walk. The same
 * machine therefore gets the same ids with and without -f and -D. The
 * table itself comes from a second walk that, without GM_MTREE_DISABLED,
 * neither climbs to nor enters disabled regions (a disabled root or alias
 * target is listed alone): what it visits is listed, with the parent it
 * was reached from.
 *
 * Strings are valid UTF-8 JSON whatever the bytes of a name: invalid bytes
 * become U+FFFD (the exact bytes follow in a "..._hex" member), control
 * characters (C0, DEL, C1) are escaped.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"

#define JSON_VERSION 1

/*
 * struct jreg - a region with an id.
 * @parent: id of the region it was reached from in the last walk that
 *          visited it, or GM_OUT_NONE for the start of a walk.
 * @start: its START as the text shows it: the sum of the addresses along
 *         the walk from its start.
 * @seen: the number of the last walk that visited it.
 */
struct jreg {
    gm_region *r;
    size_t parent;
    uint64_t start;
    unsigned seen;
};

struct jpending {
    gm_region *r;
    size_t parent;
    uint64_t base;
};

/*
 * struct json - state of one JSON print.
 * @ids: region -> id; @reg: by id.
 * @pass: number of the current walk (1, 2).
 * @queue: alias targets met by the current walk (with repeats).
 * @stack: the walk's pending regions.
 */
struct json {
    struct gm_out *o;
    struct gm_out_map ids;
    struct jreg *reg;
    size_t n, cap;
    unsigned pass;
    struct gm_out_vec queue;
    struct jpending *stack;
    size_t sn, scap;
    struct gm_out_children kids;
};

/* The id of @r, assigned now when it has none; GM_OUT_NONE on -ENOMEM. */
static size_t id_of(struct json *j, gm_region *r)
{
    size_t id = gm__out_map_get(&j->ids, r);

    if (id != GM_OUT_NONE) {
        return id;
    }
    if (j->n == j->cap) {
        size_t ncap = j->cap ? j->cap * 2 : 64;
        struct jreg *nv;

        if (ncap > SIZE_MAX / sizeof(*nv)) {
            goto nomem;
        }
        nv = realloc(j->reg, ncap * sizeof(*nv));
        if (!nv) {
            goto nomem;
        }
        j->reg = nv;
        j->cap = ncap;
    }
    if (gm__out_map_put(&j->ids, r, j->n) < 0) {
        goto nomem;
    }
    j->reg[j->n] = (struct jreg){.r = r, .parent = GM_OUT_NONE};
    return j->n++;

nomem:
    gm_out_fail(j->o, -ENOMEM);
    return GM_OUT_NONE;
}

/* Whether the current walk visited @r already. */
static bool visited(const struct json *j, gm_region *r)
{
    size_t id = gm__out_map_get(&j->ids, r);

    return id != GM_OUT_NONE && j->reg[id].seen == j->pass;
}

static int push(struct json *j, gm_region *r, size_t parent, uint64_t base)
{
    if (j->sn == j->scap) {
        size_t ncap = j->scap ? j->scap * 2 : 64;
        struct jpending *nv;

        if (ncap > SIZE_MAX / sizeof(*nv)) {
            return -ENOMEM;
        }
        nv = realloc(j->stack, ncap * sizeof(*nv));
        if (!nv) {
            return -ENOMEM;
        }
        j->stack = nv;
        j->scap = ncap;
    }
    j->stack[j->sn++] = (struct jpending){r, parent, base};
    return 0;
}

/*
 * Walk depth first from @r, which is not visited yet: first up to the
 * topmost container whose walk would list @r, then down from there. @all:
 * list disabled regions too; without it the walk lists no disabled region
 * but its start, and goes below none.
 */
static void walk_from(struct json *j, gm_region *r, bool all)
{
    gm_region *c;

    while ((c = gm_region_container(r)) &&
           (all || (gm_region_enabled(r) && gm_region_enabled(c))) &&
           !visited(j, c)) {
        r = c;
    }
    if (push(j, r, GM_OUT_NONE, 0) < 0) {
        gm_out_fail(j->o, -ENOMEM);
    }
    while (j->sn && !j->o->rc) {
        struct jpending p = j->stack[--j->sn];
        size_t id = id_of(j, p.r);
        struct jreg *e;

        if (id == GM_OUT_NONE) {
            break;
        }
        e = &j->reg[id];
        if (e->seen == j->pass) {
            continue; /* not in a tree; only guards the walk */
        }
        e->seen = j->pass;
        e->parent = p.parent;
        e->start = p.base + gm_region_addr(p.r);
        if (gm_region_kind(p.r) == GM_REGION_ALIAS) {
            gm_region *t = gm_region_alias_target(p.r);

            if (t && !visited(j, t) && gm__out_vec_push(&j->queue, t) < 0) {
                gm_out_fail(j->o, -ENOMEM);
            }
            continue;
        }
        if (!all && !gm_region_enabled(p.r)) {
            continue; /* a disabled start: nothing below it renders */
        }
        if (gm__out_children(p.r, &j->kids) < 0) {
            gm_out_fail(j->o, -ENOMEM);
            break;
        }
        for (size_t i = j->kids.n; i-- > 0;) {
            gm_region *k = j->kids.v[i].r;

            if ((all || gm_region_enabled(k)) &&
                push(j, k, id, e->start) < 0) {
                gm_out_fail(j->o, -ENOMEM);
                break;
            }
        }
    }
    j->sn = 0;
}

/* One walk from every space's root, then from every alias target met. */
static void walk(struct json *j, const struct gm_out_vec *spaces, bool all)
{
    j->pass++;
    j->queue.n = 0;
    for (size_t i = 0; i < spaces->n && !j->o->rc; i++) {
        gm_region *root = gm_space_root(spaces->v[i]);

        if (!visited(j, root)) {
            walk_from(j, root, all);
        }
    }
    /* The queue grows while it is walked. */
    for (size_t i = 0; i < j->queue.n && !j->o->rc; i++) {
        if (!visited(j, j->queue.v[i])) {
            walk_from(j, j->queue.v[i], all);
        }
    }
}

/* Length of the valid UTF-8 sequence at @s (1 to 4), 0 when invalid. */
static size_t utf8_seq(const unsigned char *s)
{
    unsigned char lo = 0x80, hi = 0xbf;
    size_t len;

    if (s[0] < 0x80) {
        return 1;
    } else if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        len = 2;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        len = 3;
        lo = s[0] == 0xe0 ? 0xa0 : lo; /* no overlong forms */
        hi = s[0] == 0xed ? 0x9f : hi; /* no surrogates */
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        len = 4;
        lo = s[0] == 0xf0 ? 0x90 : lo; /* no overlong forms */
        hi = s[0] == 0xf4 ? 0x8f : hi; /* nothing above U+10FFFF */
    } else {
        return 0;
    }
    if (s[1] < lo || s[1] > hi) {
        return 0;
    }
    for (size_t i = 2; i < len; i++) {
        if (s[i] < 0x80 || s[i] > 0xbf) {
            return 0;
        }
    }
    return len;
}

/*
 * Write @s as a JSON string. Returns false when @s is not valid UTF-8 (each
 * invalid byte was written as U+FFFD).
 */
static bool json_string(struct gm_out *o, const char *s)
{
    const unsigned char *p = (const unsigned char *)s, *run = p;
    bool valid = true;

    gm__out_write(o, "\"", 1);
    while (*p) {
        size_t k = utf8_seq(p);
        const char *esc = NULL;
        char buf[8];

        if (k == 0) {
            esc = "\\ufffd";
            valid = false;
            k = 1;
        } else if (k == 1 && (*p == '"' || *p == '\\')) {
            esc = *p == '"' ? "\\\"" : "\\\\";
        } else if (k == 1 && *p == '\n') {
            esc = "\\n";
        } else if (k == 1 && *p == '\t') {
            esc = "\\t";
        } else if (k == 1 && (*p < 0x20 || *p == 0x7f)) {
            snprintf(buf, sizeof(buf), "\\u%04x", *p);
            esc = buf;
        } else if (k == 2 && p[0] == 0xc2 && p[1] < 0xa0) {
            snprintf(buf, sizeof(buf), "\\u%04x", p[1]); /* C1 control */
            esc = buf;
        }
        if (esc) {
            gm__out_write(o, run, (size_t)(p - run));
            gm__out_write(o, esc, strlen(esc));
            run = p + k;
        }
        p += k;
    }
    gm__out_write(o, run, (size_t)(p - run));
    gm__out_write(o, "\"", 1);
    return valid;
}

/*
 * `"KEY": "NAME"`, then `, "KEY_hex": "..."` with the exact bytes when NAME
 * is not valid UTF-8.
 */
static void json_name(struct gm_out *o, const char *key, const char *name)
{
    gm__out_printf(o, "\"%s\": ", key);
    if (json_string(o, name)) {
        return;
    }
    gm__out_printf(o, ", \"%s_hex\": \"", key);
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        gm__out_printf(o, "%02x", *p);
    }
    gm__out_write(o, "\"", 1);
}

/* A size as a hex string (up to "0x10000000000000000"). */
static void json_size(struct gm_out *o, gm_u128 size)
{
    if (size >= GM_SIZE_2_64) {
        gm__out_printf(o, "\"0x10000000000000000\"");
    } else {
        gm__out_printf(o, "\"0x%" PRIx64 "\"", (uint64_t)size);
    }
}

static void json_dirty_log(struct gm_out *o, unsigned mask)
{
    static const char *const names[GM_DIRTY_NR] = {"vga", "code",
                                                    "migration"};
    bool first = true;

    gm__out_printf(o, "\"dirty_log\": [");
    for (unsigned i = 0; i < GM_DIRTY_NR; i++) {
        if (mask & (1u << i)) {
            gm__out_printf(o, "%s\"%s\"", first ? "" : ", ", names[i]);
            first = false;
        }
    }
    gm__out_printf(o, "]");
}

static const char *jbool(bool b)
{
    return b ? "true" : "false";
}

static void json_id(struct gm_out *o, size_t id)
{
    if (id == GM_OUT_NONE) {
        gm__out_printf(o, "null");
    } else {
        gm__out_printf(o, "%zu", id);
    }
}

/* Whether @id was listed by the last walk, with @parent as its parent. */
static bool listed_under(const struct json *j, size_t id, size_t parent)
{
    return id != GM_OUT_NONE && j->reg[id].seen == j->pass &&
           j->reg[id].parent == parent;
}

static void json_region(struct json *j, size_t id)
{
    struct gm_out *o = j->o;
    const struct jreg *e = &j->reg[id];
    gm_region *r = e->r;
    enum gm_region_kind kind = gm_region_kind(r);
    gm_u128 size = gm_region_size(r);
    bool first = true;

    gm__out_printf(o, "    {\"id\": %zu, ", id);
    json_name(o, "name", gm_region_name(r));
    gm__out_printf(o, ", \"kind\": \"%s\", \"qemu_type\": \"%s\", "
                   "\"parent\": ", gm_region_kind_name(kind),
                   gm__out_type(r));
    json_id(o, e->parent);
    gm__out_printf(o, ", \"start\": \"0x%" PRIx64 "\", \"end\": \"0x%" PRIx64
                   "\", \"addr\": \"0x%" PRIx64 "\", \"size\": ", e->start,
                   e->start + gm_out_size_m1(size), gm_region_addr(r));
    json_size(o, size);
    gm__out_printf(o, ", \"priority\": %d, \"enabled\": %s, "
                   "\"readonly\": %s, \"nonvolatile\": %s, ",
                   gm_region_priority(r), jbool(gm_region_enabled(r)),
                   jbool(gm_region_readonly(r)),
                   jbool(gm_region_nonvolatile(r)));
    json_dirty_log(o, gm_region_dirty_log_mask(r));
    if (kind == GM_REGION_ROM_DEVICE) {
        gm__out_printf(o, ", \"romd\": %s", jbool(gm_region_romd(r)));
    }
    if (kind == GM_REGION_ALIAS) {
        gm_region *t = gm_region_alias_target(r);

        gm__out_printf(o, ", \"alias\": {\"target\": ");
        json_id(o, t ? gm__out_map_get(&j->ids, t) : GM_OUT_NONE);
        gm__out_printf(o, ", \"offset\": \"0x%" PRIx64 "\"}}",
                       gm_region_alias_offset(r));
        return;
    }
    gm__out_printf(o, ", \"subregions\": [");
    if (gm__out_children(r, &j->kids) < 0) {
        gm_out_fail(o, -ENOMEM);
        return;
    }
    for (size_t i = 0; i < j->kids.n; i++) {
        size_t kid = gm__out_map_get(&j->ids, j->kids.v[i].r);

        if (listed_under(j, kid, id)) {
            gm__out_printf(o, "%s%zu", first ? "" : ", ", kid);
            first = false;
        }
    }
    gm__out_printf(o, "]}");
}

static void json_header(struct gm_out *o, const char *view)
{
    gm__out_printf(o,
                   "{\n  \"format\": \"guestmem-mtree\",\n"
                   "  \"version\": %d,\n"
                   "  \"generator\": \"guestmem %s\",\n"
                   "  \"view\": \"%s\",\n",
                   JSON_VERSION, gm_version_string(), view);
}

static void json_tree(struct json *j, const struct gm_out_vec *spaces)
{
    struct gm_out *o = j->o;
    bool all = o->flags & GM_MTREE_DISABLED;
    bool first = true;

    if (!all) {
        walk(j, spaces, false);
    }
    json_header(o, "tree");
    gm__out_printf(o, "  \"disabled\": %s,\n  \"address_spaces\": [",
                   jbool(all));
    for (size_t i = 0; i < spaces->n && !o->rc; i++) {
        gm_space *as = spaces->v[i];

        gm__out_printf(o, "%s\n    {", i ? "," : "");
        json_name(o, "name", gm_space_name(as));
        gm__out_printf(o, ", \"root\": ");
        json_id(o, gm__out_map_get(&j->ids, gm_space_root(as)));
        gm__out_printf(o, "}");
    }
    gm__out_printf(o, "\n  ],\n  \"regions\": [");
    for (size_t id = 0; id < j->n && !o->rc; id++) {
        if (j->reg[id].seen == j->pass) {
            gm__out_printf(o, "%s\n", first ? "" : ",");
            json_region(j, id);
            first = false;
        }
    }
    gm__out_printf(o, "\n  ]\n}\n");
}

struct range_ctx {
    struct json *j;
    bool first;
};

static int json_range(const struct gm_section *s, void *opaque)
{
    struct range_ctx *rc = opaque;
    struct gm_out *o = rc->j->o;
    gm_region *r = s->region;

    gm__out_printf(o, "%s        {\"start\": \"0x%" PRIx64
                   "\", \"end\": \"0x%" PRIx64 "\", \"size\": ",
                   rc->first ? "" : ",\n", s->addr,
                   s->addr + gm_out_size_m1(s->size));
    rc->first = false;
    json_size(o, s->size);
    gm__out_printf(o, ", \"region\": ");
    json_id(o, gm__out_map_get(&rc->j->ids, r));
    gm__out_printf(o, ", ");
    json_name(o, "name", gm_region_name(r));
    gm__out_printf(o, ", \"qemu_type\": \"%s\", \"priority\": %d, "
                   "\"offset\": \"0x%" PRIx64 "\", \"readonly\": %s, "
                   "\"nonvolatile\": %s, ",
                   s->readonly ? "rom" : gm__out_type(r),
                   gm_region_priority(r), s->offset_in_region,
                   jbool(s->readonly), jbool(s->nonvolatile));
    json_dirty_log(o, s->dirty_log_mask);
    if (gm_region_kind(r) == GM_REGION_ROM_DEVICE) {
        gm__out_printf(o, ", \"romd\": %s", jbool(s->romd));
    }
    gm__out_printf(o, "}");
    return o->rc;
}

static void json_flat(struct json *j, gm_system *sys)
{
    struct gm_out *o = j->o;
    struct gm_out_groups gl;

    if (gm__out_group_spaces(sys, &gl, true) < 0) {
        gm_out_fail(o, -ENOMEM);
    }
    json_header(o, "flat");
    gm__out_printf(o, "  \"address_spaces\": [");
    for (size_t i = 0; i < gl.order.n && !o->rc; i++) {
        gm_space *as = gl.order.v[i];

        gm__out_printf(o, "%s\n    {", i ? "," : "");
        json_name(o, "name", gm_space_name(as));
        gm__out_printf(o, ", \"root\": ");
        json_id(o, gm__out_map_get(&j->ids, gm_space_root(as)));
        gm__out_printf(o, ", \"flat_view\": %zu}", gl.group_of[i]);
    }
    gm__out_printf(o, "\n  ],\n  \"flat_views\": [");
    for (size_t i = 0; i < gl.n && !o->rc; i++) {
        const gm_flatview *fv = gl.v[i].key;
        const struct gm_out_vec *sp = &gl.v[i].spaces;
        gm_region *root = gm_flatview_root(fv);
        struct range_ctx rc = {.j = j, .first = true};

        gm__out_printf(o, "%s\n    {\"index\": %zu, \"address_spaces\": [",
                       i ? "," : "", i);
        for (size_t k = 0; k < sp->n; k++) {
            gm__out_printf(o, "%s", k ? ", " : "");
            json_string(o, gm_space_name(sp->v[k]));
        }
        gm__out_printf(o, "],\n     \"root\": ");
        json_id(o, root ? gm__out_map_get(&j->ids, root) : GM_OUT_NONE);
        gm__out_printf(o, ", \"ranges\": [");
        if (gm_flatview_nr_ranges(fv)) {
            gm__out_printf(o, "\n");
            gm_flatview_foreach(fv, json_range, &rc);
            gm__out_printf(o, "\n     ");
        }
        gm__out_printf(o, "]}");
    }
    gm__out_printf(o, "\n  ]\n}\n");
    gm__out_groups_free(&gl);
}

void gm__out_json(struct gm_out *o, gm_system *sys)
{
    struct json j = {.o = o};
    struct gm_out_groups gl;

    /* Spaces in creation order (grouped by root only to get them). */
    if (gm__out_group_spaces(sys, &gl, false) < 0) {
        gm_out_fail(o, -ENOMEM);
    }
    walk(&j, &gl.order, true); /* ids */
    if (o->flags & GM_MTREE_FLAT) {
        json_flat(&j, sys);
    } else {
        json_tree(&j, &gl.order);
    }
    gm__out_groups_free(&gl);
    gm__out_map_free(&j.ids);
    free(j.reg);
    free(j.queue.v);
    free(j.stack);
    free(j.kids.v);
}
