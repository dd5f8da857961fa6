/* SPDX-License-Identifier: MIT */
/*
 * mtree.c - introspection: QEMU's `info mtree` formats and JSON.
 *
 * This printer is a client of the public API only: it walks the address
 * spaces (gm_system_foreach_space), the region trees
 * (gm_region_foreach_subregion plus the getters) and the flat views
 * (gm_space_get_flatview, gm_flatview_foreach). It holds the writer lock for
 * the whole print by opening an empty transaction, so the topology cannot
 * change between two lines; the commit that closes it renders nothing.
 *
 * Text output reproduces QEMU 7.2 byte for byte (with LF line ends):
 *
 *  - tree mode groups the address spaces by root region (in order of first
 *    appearance; QEMU uses hash order), prints each tree depth first with
 *    the children of a region sorted by (address ascending, priority
 *    descending), ties kept in render order, then one `memory-region:`
 *    section per distinct alias target (by pointer) in discovery order;
 *    sections may queue further sections;
 *  - flat mode groups the address spaces by flat view pointer (spaces whose
 *    roots resolve alike share one view) and prints the ranges.
 *
 * Invariants: every number is 16 lowercase hex digits; END is START +
 * size - 1 computed modulo 2^64 (size 0 prints START-START); the alias queue
 * never holds a region twice. All temporary memory is freed before return.
 * The expected workload is small (a few thousand regions), so the
 * "already queued" test, the grouping and the JSON id map use plain arrays
 * with linear search.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guestmem/guestmem.h"

/* A growable array of pointers. */
struct ptrvec {
    void **v;
    size_t n, cap;
};

/*
 * struct pctx - state of one gm_mtree_print() call.
 * @out: destination stream.
 * @flags: enum gm_mtree_flags.
 * @rc: first error met (-EIO, -ENOMEM), 0 while all is well.
 * @queue: alias targets in discovery order (memory-region sections).
 * @ids: regions given a JSON id, in id order (index = id).
 */
struct pctx {
    FILE *out;
    unsigned flags;
    int rc;
    struct ptrvec queue;
    struct ptrvec ids;
};

static void set_error(gm_error *err, int code, const char *fmt, ...)
{
    va_list ap;

    if (!err) {
        return;
    }
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
}

static int ptrvec_push(struct ptrvec *pv, void *p)
{
    if (pv->n == pv->cap) {
        size_t ncap = pv->cap ? pv->cap * 2 : 16;
        void **nv = realloc(pv->v, ncap * sizeof(*nv));

        if (!nv) {
            return -ENOMEM;
        }
        pv->v = nv;
        pv->cap = ncap;
    }
    pv->v[pv->n++] = p;
    return 0;
}

/* Index of @p in @pv, or -1. */
static long ptrvec_find(const struct ptrvec *pv, const void *p)
{
    for (size_t i = 0; i < pv->n; i++) {
        if (pv->v[i] == p) {
            return (long)i;
        }
    }
    return -1;
}

static void emit(struct pctx *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void emit(struct pctx *p, const char *fmt, ...)
{
    va_list ap;

    if (p->rc) {
        return;
    }
    va_start(ap, fmt);
    if (vfprintf(p->out, fmt, ap) < 0) {
        p->rc = -EIO;
    }
    va_end(ap);
}

/* The final target of an alias chain (the region itself otherwise). */
static gm_region *final_target(gm_region *r)
{
    /* The library refuses alias loops; the bound only guards the walk. */
    for (unsigned i = 0; i < 4096 && gm_region_kind(r) == GM_REGION_ALIAS;
         i++) {
        gm_region *t = gm_region_alias_target(r);

        if (!t) {
            break;
        }
        r = t;
    }
    return r;
}

/* QEMU's memory_region_type(): aliases show their final target's type. */
static const char *region_type(gm_region *r)
{
    r = final_target(r);
    switch (gm_region_kind(r)) {
    case GM_REGION_RAM_DEVICE:
        return "ramd";
    case GM_REGION_ROM_DEVICE:
        return gm_region_romd(r) ? "romd" : "i/o";
    case GM_REGION_ROM:
        return "rom";
    case GM_REGION_RAM:
        return gm_region_readonly(r) ? "rom" : "ram";
    default:
        return "i/o";
    }
}

/* The TYPE token of a tree line, with the annotations when asked for. */
static const char *tree_type(struct pctx *p, gm_region *r)
{
    if (p->flags & GM_MTREE_ANNOTATE) {
        if (gm_region_kind(r) == GM_REGION_ALIAS) {
            if (gm_region_readonly(r)) {
                return "rom";
            }
        } else if (!gm_region_terminates(r)) {
            return "container";
        }
    }
    return region_type(r);
}

/* QEMU's MR_SIZE(): size - 1, and 0 for an empty region. */
static uint64_t size_minus_one(gm_u128 size)
{
    return size ? (uint64_t)(size - 1) : 0;
}

/* One child, with its position in render order to keep the sort stable. */
struct child {
    gm_region *r;
    uint64_t addr;
    int prio;
    size_t idx;
};

struct child_list {
    struct child *v;
    size_t n, cap;
    int rc;
};

static int collect_child(gm_region *child, void *opaque)
{
    struct child_list *cl = opaque;

    if (cl->n == cl->cap) {
        size_t ncap = cl->cap ? cl->cap * 2 : 8;
        struct child *nv = realloc(cl->v, ncap * sizeof(*nv));

        if (!nv) {
            cl->rc = -ENOMEM;
            return 1;
        }
        cl->v = nv;
        cl->cap = ncap;
    }
    cl->v[cl->n] = (struct child){
        .r = child,
        .addr = gm_region_addr(child),
        .prio = gm_region_priority(child),
        .idx = cl->n,
    };
    cl->n++;
    return 0;
}

/* Print order: address ascending, priority descending, then render order. */
static int child_cmp(const void *a, const void *b)
{
    const struct child *x = a, *y = b;

    if (x->addr != y->addr) {
        return x->addr < y->addr ? -1 : 1;
    }
    if (x->prio != y->prio) {
        return x->prio > y->prio ? -1 : 1;
    }
    return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

/*
 * The children of @r in print order; the caller frees ->v. Returns 0 or
 * -ENOMEM.
 */
static int sorted_children(gm_region *r, struct child_list *cl)
{
    memset(cl, 0, sizeof(*cl));
    gm_region_foreach_subregion(r, collect_child, cl);
    if (cl->rc) {
        free(cl->v);
        cl->v = NULL;
        return cl->rc;
    }
    if (cl->n > 1) {
        qsort(cl->v, cl->n, sizeof(*cl->v), child_cmp);
    }
    return 0;
}

static void queue_target(struct pctx *p, gm_region *target)
{
    if (!target || p->rc) {
        return;
    }
    if (ptrvec_find(&p->queue, target) < 0 &&
        ptrvec_push(&p->queue, target) < 0) {
        p->rc = -ENOMEM;
    }
}

/* QEMU's mtree_print_mr(): one region line, then its children. */
static void print_tree(struct pctx *p, gm_region *r, unsigned level,
                       uint64_t base)
{
    uint64_t start = base + gm_region_addr(r);
    uint64_t end = start + size_minus_one(gm_region_size(r));
    bool enabled = gm_region_enabled(r);
    bool show = enabled || (p->flags & GM_MTREE_DISABLED);
    struct child_list cl;

    if (p->rc) {
        return;
    }
    /*
     * Like QEMU, the overflow marker is written even when the line itself
     * is hidden (a disabled region without -D).
     */
    if (start < base || end < start) {
        emit(p, "[DETECTED OVERFLOW!] ");
    }
    if (show) {
        emit(p, "%*s%016" PRIx64 "-%016" PRIx64 " (prio %d, %s%s): ",
             (int)(2 * level), "", start, end, gm_region_priority(r),
             gm_region_nonvolatile(r) ? "nv-" : "", tree_type(p, r));
    }
    if (gm_region_kind(r) == GM_REGION_ALIAS) {
        gm_region *t = gm_region_alias_target(r);
        uint64_t off = gm_region_alias_offset(r);

        queue_target(p, t);
        if (show) {
            emit(p, "alias %s @%s %016" PRIx64 "-%016" PRIx64 "%s\n",
                 gm_region_name(r), t ? gm_region_name(t) : "(null)", off,
                 off + size_minus_one(gm_region_size(r)),
                 enabled ? "" : " [disabled]");
        }
        return;
    }
    if (show) {
        emit(p, "%s%s\n", gm_region_name(r), enabled ? "" : " [disabled]");
    }
    if (sorted_children(r, &cl) < 0) {
        p->rc = -ENOMEM;
        return;
    }
    for (size_t i = 0; i < cl.n; i++) {
        print_tree(p, cl.v[i].r, level + 1, start);
    }
    free(cl.v);
}

/* An address-space group: the spaces sharing one root (or one view). */
struct group {
    const void *key;
    struct ptrvec spaces;
    bool shown; /* JSON: the root tree was written */
};

/*
 * struct group_list - the spaces grouped by root or by flat view.
 * @v, @n, @cap: groups in order of first appearance.
 * @order: every space in creation order; @nspaces: their number.
 */
struct group_list {
    struct group *v;
    size_t n, cap;
    struct ptrvec order;
    size_t nspaces;
    bool by_view; /* key is the flat view (with a reference) */
    int rc;
};

static int group_space(gm_space *as, void *opaque)
{
    struct group_list *gl = opaque;
    const void *key;
    size_t i;

    if (gl->by_view) {
        gm_flatview *fv = gm_space_get_flatview(as);

        key = fv;
        for (i = 0; i < gl->n && gl->v[i].key != key; i++) {
        }
        if (i < gl->n) {
            gm_flatview_unref(fv); /* the group holds one reference */
        }
    } else {
        key = gm_space_root(as);
        for (i = 0; i < gl->n && gl->v[i].key != key; i++) {
        }
    }
    if (i == gl->n) {
        if (gl->n == gl->cap) {
            size_t ncap = gl->cap ? gl->cap * 2 : 8;
            struct group *nv = realloc(gl->v, ncap * sizeof(*nv));

            if (!nv) {
                if (gl->by_view) {
                    gm_flatview_unref((gm_flatview *)key);
                }
                gl->rc = -ENOMEM;
                return 1;
            }
            gl->v = nv;
            gl->cap = ncap;
        }
        gl->v[gl->n++] = (struct group){.key = key};
    }
    if (ptrvec_push(&gl->v[i].spaces, as) < 0 ||
        ptrvec_push(&gl->order, as) < 0) {
        gl->rc = -ENOMEM;
        return 1;
    }
    gl->nspaces++;
    return 0;
}

static void groups_free(struct group_list *gl)
{
    for (size_t i = 0; i < gl->n; i++) {
        if (gl->by_view) {
            gm_flatview_unref((gm_flatview *)gl->v[i].key);
        }
        free(gl->v[i].spaces.v);
    }
    free(gl->v);
    free(gl->order.v);
}

static int group_spaces(gm_system *sys, struct group_list *gl, bool by_view)
{
    memset(gl, 0, sizeof(*gl));
    gl->by_view = by_view;
    gm_system_foreach_space(sys, group_space, gl);
    return gl->rc;
}

/*
 * Insertion sort by name keeps equal names in creation order; QEMU's list
 * insertion puts later equal names first, but equal names print alike.
 */
static void sort_by_name(struct ptrvec *pv)
{
    for (size_t i = 1; i < pv->n; i++) {
        void *x = pv->v[i];
        size_t j = i;

        while (j > 0 &&
               strcmp(gm_space_name(pv->v[j - 1]), gm_space_name(x)) > 0) {
            pv->v[j] = pv->v[j - 1];
            j--;
        }
        pv->v[j] = x;
    }
}

static void print_trees(struct pctx *p, gm_system *sys)
{
    struct group_list gl;

    if (group_spaces(sys, &gl, false) < 0) {
        p->rc = -ENOMEM;
        groups_free(&gl);
        return;
    }
    for (size_t i = 0; i < gl.n && !p->rc; i++) {
        struct ptrvec *sp = &gl.v[i].spaces;

        sort_by_name(sp);
        for (size_t j = 0; j < sp->n; j++) {
            emit(p, "address-space: %s\n", gm_space_name(sp->v[j]));
        }
        print_tree(p, (gm_region *)gl.v[i].key, 1, 0);
        emit(p, "\n");
    }
    groups_free(&gl);
    /* The queue grows while it is walked: sections queue sections. */
    for (size_t i = 0; i < p->queue.n && !p->rc; i++) {
        gm_region *r = p->queue.v[i];

        emit(p, "memory-region: %s\n", gm_region_name(r));
        print_tree(p, r, 1, 0);
        emit(p, "\n");
    }
}

static int print_range(const struct gm_section *s, void *opaque)
{
    struct pctx *p = opaque;
    gm_region *r = s->region;

    emit(p, "  %016" PRIx64 "-%016" PRIx64 " (prio %d, %s%s): %s", s->addr,
         s->addr + size_minus_one(s->size), gm_region_priority(r),
         s->nonvolatile ? "nv-" : "", s->readonly ? "rom" : region_type(r),
         gm_region_name(r));
    if (s->offset_in_region) {
        emit(p, " @%016" PRIx64, s->offset_in_region);
    }
    emit(p, "\n");
    return p->rc;
}

static void print_flat(struct pctx *p, gm_system *sys)
{
    struct group_list gl;

    if (group_spaces(sys, &gl, true) < 0) {
        p->rc = -ENOMEM;
        groups_free(&gl);
        return;
    }
    for (size_t i = 0; i < gl.n && !p->rc; i++) {
        const gm_flatview *fv = gl.v[i].key;
        struct ptrvec *sp = &gl.v[i].spaces;
        gm_region *root = gm_flatview_root(fv);

        emit(p, "FlatView #%zu\n", i);
        for (size_t j = 0; j < sp->n; j++) {
            gm_region *asroot = gm_space_root(sp->v[j]);

            emit(p, " AS \"%s\", root: %s", gm_space_name(sp->v[j]),
                 gm_region_name(asroot));
            if (gm_region_kind(asroot) == GM_REGION_ALIAS &&
                gm_region_alias_target(asroot)) {
                emit(p, ", alias %s",
                     gm_region_name(gm_region_alias_target(asroot)));
            }
            emit(p, "\n");
        }
        emit(p, " Root memory region: %s\n",
             root ? gm_region_name(root) : "(none)");
        if (gm_flatview_nr_ranges(fv) == 0) {
            emit(p, "  No rendered FlatView\n\n");
            continue;
        }
        gm_flatview_foreach(fv, print_range, p);
        emit(p, "\n");
    }
    groups_free(&gl);
}

/*
 * JSON.
 */

static void json_string(struct pctx *p, const char *s)
{
    emit(p, "\"");
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        switch (*c) {
        case '"':
            emit(p, "\\\"");
            break;
        case '\\':
            emit(p, "\\\\");
            break;
        case '\n':
            emit(p, "\\n");
            break;
        case '\r':
            emit(p, "\\r");
            break;
        case '\t':
            emit(p, "\\t");
            break;
        default:
            if (*c < 0x20 || *c == 0x7f) {
                emit(p, "\\u%04x", *c);
            } else {
                emit(p, "%c", *c);
            }
        }
    }
    emit(p, "\"");
}

/* A size as "0x..." (up to 0x10000000000000000). */
static void json_size(struct pctx *p, gm_u128 size)
{
    if (size >= GM_SIZE_2_64) {
        emit(p, "\"0x10000000000000000\"");
    } else {
        emit(p, "\"0x%" PRIx64 "\"", (uint64_t)size);
    }
}

/* The JSON id of @r, assigning the next one when it has none. */
static long json_id(struct pctx *p, gm_region *r)
{
    long id = ptrvec_find(&p->ids, r);

    if (id < 0) {
        if (ptrvec_push(&p->ids, r) < 0) {
            p->rc = -ENOMEM;
            return -1;
        }
        id = (long)p->ids.n - 1;
    }
    return id;
}

static void json_tree(struct pctx *p, gm_region *r, unsigned depth)
{
    int ind = (int)(2 * depth);
    struct child_list cl;

    if (p->rc) {
        return;
    }
    emit(p, "{\"id\": %ld, \"name\": ", json_id(p, r));
    json_string(p, gm_region_name(r));
    emit(p,
         ", \"kind\": \"%s\", \"type\": \"%s\", \"addr\": \"0x%" PRIx64
         "\", \"size\": ",
         gm_region_kind_name(gm_region_kind(r)), region_type(r),
         gm_region_addr(r));
    json_size(p, gm_region_size(r));
    emit(p,
         ", \"priority\": %d, \"enabled\": %s, \"readonly\": %s, "
         "\"nonvolatile\": %s, \"terminates\": %s",
         gm_region_priority(r), gm_region_enabled(r) ? "true" : "false",
         gm_region_readonly(r) ? "true" : "false",
         gm_region_nonvolatile(r) ? "true" : "false",
         gm_region_terminates(r) ? "true" : "false");
    if (gm_region_kind(r) == GM_REGION_ROM_DEVICE) {
        emit(p, ", \"romd\": %s", gm_region_romd(r) ? "true" : "false");
    }
    if (gm_region_kind(r) == GM_REGION_ALIAS) {
        gm_region *t = gm_region_alias_target(r);

        queue_target(p, t);
        emit(p, ", \"alias\": {\"target\": ");
        json_string(p, t ? gm_region_name(t) : "");
        emit(p, ", \"target_id\": %ld, \"offset\": \"0x%" PRIx64 "\"}}",
             t ? json_id(p, t) : -1L, gm_region_alias_offset(r));
        return;
    }
    if (sorted_children(r, &cl) < 0) {
        p->rc = -ENOMEM;
        return;
    }
    if (cl.n == 0) {
        emit(p, ", \"subregions\": []}");
    } else {
        emit(p, ", \"subregions\": [\n");
        for (size_t i = 0; i < cl.n; i++) {
            emit(p, "%*s", ind + 2, "");
            json_tree(p, cl.v[i].r, depth + 1);
            emit(p, "%s\n", i + 1 < cl.n ? "," : "");
        }
        emit(p, "%*s]}", ind, "");
    }
    free(cl.v);
}

struct json_range_ctx {
    struct pctx *p;
    bool first;
};

static int json_range(const struct gm_section *s, void *opaque)
{
    struct json_range_ctx *jc = opaque;
    struct pctx *p = jc->p;
    gm_region *r = s->region;

    emit(p,
         "%s        {\"start\": \"0x%" PRIx64 "\", \"end\": \"0x%" PRIx64
         "\", \"size\": ",
         jc->first ? "" : ",\n", s->addr, s->addr + size_minus_one(s->size));
    jc->first = false;
    json_size(p, s->size);
    emit(p, ", \"region\": ");
    json_string(p, gm_region_name(r));
    emit(p,
         ", \"region_id\": %ld, \"priority\": %d, \"type\": \"%s\", "
         "\"offset\": \"0x%" PRIx64 "\", \"readonly\": %s, "
         "\"nonvolatile\": %s, \"romd\": %s, \"dirty_log_mask\": %u}",
         json_id(p, r), gm_region_priority(r),
         s->readonly ? "rom" : region_type(r), s->offset_in_region,
         s->readonly ? "true" : "false", s->nonvolatile ? "true" : "false",
         s->romd ? "true" : "false", (unsigned)s->dirty_log_mask);
    return p->rc;
}

static void print_json(struct pctx *p, gm_system *sys)
{
    struct group_list gl;

    if (group_spaces(sys, &gl, false) < 0) {
        p->rc = -ENOMEM;
        groups_free(&gl);
        return;
    }
    emit(p, "{\n  \"version\": \"%s\",\n  \"address_spaces\": [",
         gm_version_string());
    /* In creation order; a root shared with an earlier space is not
     * repeated, only named by its id. */
    for (size_t i = 0; i < gl.n; i++) {
        gl.v[i].shown = false;
    }
    for (size_t k = 0; k < gl.nspaces && !p->rc; k++) {
        gm_space *as = gl.order.v[k];
        gm_region *root = gm_space_root(as);
        size_t g = 0;

        while (gl.v[g].key != root) {
            g++;
        }
        emit(p, "%s\n    {\"name\": ", k ? "," : "");
        json_string(p, gm_space_name(as));
        emit(p, ", \"root_id\": %ld", json_id(p, root));
        if (!gl.v[g].shown) {
            gl.v[g].shown = true;
            emit(p, ", \"root\": ");
            json_tree(p, root, 2);
        }
        emit(p, "}");
    }
    groups_free(&gl);
    emit(p, "\n  ],\n  \"alias_targets\": [");
    for (size_t i = 0; i < p->queue.n && !p->rc; i++) {
        emit(p, "%s\n    ", i ? "," : "");
        json_tree(p, p->queue.v[i], 2);
    }
    emit(p, "\n  ],\n  \"flat_views\": [");
    if (group_spaces(sys, &gl, true) < 0) {
        p->rc = -ENOMEM;
    }
    for (size_t i = 0; i < gl.n && !p->rc; i++) {
        const gm_flatview *fv = gl.v[i].key;
        struct ptrvec *sp = &gl.v[i].spaces;
        gm_region *root = gm_flatview_root(fv);
        struct json_range_ctx jc = {.p = p, .first = true};

        emit(p, "%s\n    {\"address_spaces\": [", i ? "," : "");
        for (size_t j = 0; j < sp->n; j++) {
            emit(p, "%s", j ? ", " : "");
            json_string(p, gm_space_name(sp->v[j]));
        }
        emit(p, "],\n      \"root\": ");
        if (root) {
            json_string(p, gm_region_name(root));
        } else {
            emit(p, "null");
        }
        emit(p, ",\n      \"ranges\": [");
        if (gm_flatview_nr_ranges(fv)) {
            emit(p, "\n");
            gm_flatview_foreach(fv, json_range, &jc);
            emit(p, "\n      ");
        }
        emit(p, "]}");
    }
    groups_free(&gl);
    emit(p, "\n  ]\n}\n");
}

GM_EXPORT int gm_mtree_print(gm_system *sys, FILE *out, unsigned flags,
                             gm_error *err)
{
    struct pctx p = {.out = out, .flags = flags};
    int rc;

    if (!sys || !out) {
        set_error(err, -EINVAL, "gm_mtree_print: %s is NULL",
                  sys ? "out" : "sys");
        return -EINVAL;
    }
    if (flags & ~(unsigned)(GM_MTREE_FLAT | GM_MTREE_DISABLED |
                            GM_MTREE_ANNOTATE | GM_MTREE_JSON)) {
        set_error(err, -EINVAL, "gm_mtree_print: unknown flags 0x%x", flags);
        return -EINVAL;
    }
    /* An empty transaction holds the writer lock for a consistent dump. */
    rc = gm_transaction_begin(sys);
    if (rc < 0) {
        set_error(err, rc, "gm_mtree_print: %s", gm_strerror(rc));
        return rc;
    }
    if (flags & GM_MTREE_JSON) {
        print_json(&p, sys);
    } else if (flags & GM_MTREE_FLAT) {
        print_flat(&p, sys);
    } else {
        print_trees(&p, sys);
    }
    rc = gm_transaction_commit(sys, NULL);
    (void)rc; /* nothing changed, so there is nothing to fail */
    free(p.queue.v);
    free(p.ids.v);
    if (!p.rc && (fflush(out) != 0 || ferror(out))) {
        p.rc = -EIO;
    }
    if (p.rc) {
        set_error(err, p.rc, "gm_mtree_print: %s",
                  p.rc == -EIO ? "write error" : "out of memory");
    }
    return p.rc;
}
