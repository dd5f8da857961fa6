/* SPDX-License-Identifier: MIT */
/*
 * mtree.c - gm_mtree_print(): QEMU's `info mtree` text formats, and the
 * entry point that picks the text or the JSON printer (json.c).
 *
 * The printer holds the writer lock for the whole print by opening an
 * empty transaction, so the topology cannot change between two lines; the
 * commit that closes it renders nothing.
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
 * never holds a region twice. The depth-first walk keeps its pending
 * regions on a heap stack (no recursion), and the queue's membership test
 * is a hash map, so the time is linear in the lines printed (each line is
 * indented by twice its depth, as QEMU does). All temporary memory is freed
 * before return.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"

/*
 * struct text - state of one text print.
 * @o: the stream.
 * @queue: alias targets in discovery order (memory-region sections).
 * @queued: the regions of @queue.
 * @kids: scratch list of children.
 */
struct text {
    struct gm_out *o;
    struct gm_out_vec queue;
    struct gm_out_map queued;
    struct gm_out_children kids;
};

static void set_error(gm_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

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

static void queue_target(struct text *t, gm_region *target)
{
    if (!target || t->o->rc ||
        gm__out_map_get(&t->queued, target) != GM_OUT_NONE) {
        return;
    }
    if (gm__out_map_put(&t->queued, target, t->queue.n) < 0 ||
        gm__out_vec_push(&t->queue, target) < 0) {
        gm_out_fail(t->o, -ENOMEM);
    }
}

/* The TYPE token of a tree line, with the annotations when asked for. */
static const char *tree_type(const struct gm_out *o, gm_region *r)
{
    if (o->flags & GM_MTREE_ANNOTATE) {
        if (gm_region_kind(r) == GM_REGION_ALIAS) {
            if (gm_region_readonly(r)) {
                return "rom";
            }
        } else if (!gm_region_terminates(r)) {
            return "container";
        }
    }
    return gm__out_type(r);
}

/* A region waiting on the walk's stack: its depth and its parent's START. */
struct pending {
    gm_region *r;
    uint64_t base;
    size_t level;
};

struct pending_stack {
    struct pending *v;
    size_t n, cap;
};

static int pending_push(struct pending_stack *s, gm_region *r, uint64_t base,
                        size_t level)
{
    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 64;
        struct pending *nv;

        if (ncap > SIZE_MAX / sizeof(*nv)) {
            return -ENOMEM;
        }
        nv = realloc(s->v, ncap * sizeof(*nv));
        if (!nv) {
            return -ENOMEM;
        }
        s->v = nv;
        s->cap = ncap;
    }
    s->v[s->n++] = (struct pending){.r = r, .base = base, .level = level};
    return 0;
}

/* QEMU's mtree_print_mr() for one region: its line. */
static void print_line(struct text *t, gm_region *r, uint64_t start,
                       uint64_t base, size_t level)
{
    struct gm_out *o = t->o;
    uint64_t end = start + gm_out_size_m1(gm_region_size(r));
    bool enabled = gm_region_enabled(r);
    bool show = enabled || (o->flags & GM_MTREE_DISABLED);

    /*
     * Like QEMU, the overflow marker is written even when the line itself
     * is hidden (a disabled region without -D).
     */
    if (start < base || end < start) {
        gm__out_printf(o, "[DETECTED OVERFLOW!] ");
    }
    if (show) {
        gm__out_blanks(o, 2 * level);
        gm__out_printf(o, "%016" PRIx64 "-%016" PRIx64 " (prio %d, %s%s): ",
                       start, end, gm_region_priority(r),
                       gm_region_nonvolatile(r) ? "nv-" : "",
                       tree_type(o, r));
    }
    if (gm_region_kind(r) == GM_REGION_ALIAS) {
        gm_region *target = gm_region_alias_target(r);
        uint64_t off = gm_region_alias_offset(r);

        queue_target(t, target);
        if (show) {
            gm__out_printf(o, "alias %s @%s %016" PRIx64 "-%016" PRIx64
                           "%s\n", gm_region_name(r),
                           target ? gm_region_name(target) : "(null)", off,
                           off + gm_out_size_m1(gm_region_size(r)),
                           enabled ? "" : " [disabled]");
        }
    } else if (show) {
        gm__out_printf(o, "%s%s\n", gm_region_name(r),
                       enabled ? "" : " [disabled]");
    }
}

/*
 * QEMU's mtree_print_mr() on the tree under @top, depth first: the walk
 * pops a region, prints its line and pushes its children in reverse print
 * order, so they come off the stack in print order.
 */
static void print_tree(struct text *t, gm_region *top)
{
    struct pending_stack st = {0};

    if (pending_push(&st, top, 0, 1) < 0) {
        gm_out_fail(t->o, -ENOMEM);
    }
    while (st.n && !t->o->rc) {
        struct pending p = st.v[--st.n];
        uint64_t start = p.base + gm_region_addr(p.r);

        print_line(t, p.r, start, p.base, p.level);
        if (gm_region_kind(p.r) == GM_REGION_ALIAS) {
            continue;
        }
        if (gm__out_children(p.r, &t->kids) < 0) {
            gm_out_fail(t->o, -ENOMEM);
            break;
        }
        for (size_t i = t->kids.n; i-- > 0;) {
            if (pending_push(&st, t->kids.v[i].r, start, p.level + 1) < 0) {
                gm_out_fail(t->o, -ENOMEM);
                break;
            }
        }
    }
    free(st.v);
}

struct named {
    gm_space *as;
    size_t idx;
};

/* Spaces by name; equal names keep creation order. */
static int named_cmp(const void *a, const void *b)
{
    const struct named *x = a, *y = b;
    int c = strcmp(gm_space_name(x->as), gm_space_name(y->as));

    if (c) {
        return c;
    }
    return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

/*
 * The `address-space:` lines of one group, sorted by name (QEMU's list
 * insertion puts later equal names first, but equal names print alike).
 */
static void print_space_names(struct gm_out *o, const struct gm_out_vec *sp)
{
    struct named *v = malloc((sp->n ? sp->n : 1) * sizeof(*v));

    if (!v) {
        gm_out_fail(o, -ENOMEM);
        return;
    }
    for (size_t j = 0; j < sp->n; j++) {
        v[j] = (struct named){.as = sp->v[j], .idx = j};
    }
    qsort(v, sp->n, sizeof(*v), named_cmp);
    for (size_t j = 0; j < sp->n; j++) {
        gm__out_printf(o, "address-space: %s\n", gm_space_name(v[j].as));
    }
    free(v);
}

static void print_trees(struct gm_out *o, gm_system *sys)
{
    struct text t = {.o = o};
    struct gm_out_groups gl;

    if (gm__out_group_spaces(sys, &gl, false) < 0) {
        gm_out_fail(o, -ENOMEM);
    }
    for (size_t i = 0; i < gl.n && !o->rc; i++) {
        print_space_names(o, &gl.v[i].spaces);
        print_tree(&t, (gm_region *)gl.v[i].key);
        gm__out_printf(o, "\n");
    }
    gm__out_groups_free(&gl);
    /* The queue grows while it is walked: sections queue sections. */
    for (size_t i = 0; i < t.queue.n && !o->rc; i++) {
        gm_region *r = t.queue.v[i];

        gm__out_printf(o, "memory-region: %s\n", gm_region_name(r));
        print_tree(&t, r);
        gm__out_printf(o, "\n");
    }
    free(t.queue.v);
    gm__out_map_free(&t.queued);
    free(t.kids.v);
}

static int print_range(const struct gm_section *s, void *opaque)
{
    struct gm_out *o = opaque;
    gm_region *r = s->region;

    gm__out_printf(o, "  %016" PRIx64 "-%016" PRIx64 " (prio %d, %s%s): %s",
                   s->addr, s->addr + gm_out_size_m1(s->size),
                   gm_region_priority(r), s->nonvolatile ? "nv-" : "",
                   s->readonly ? "rom" : gm__out_type(r), gm_region_name(r));
    if (s->offset_in_region) {
        gm__out_printf(o, " @%016" PRIx64, s->offset_in_region);
    }
    gm__out_printf(o, "\n");
    return o->rc;
}

static void print_flat(struct gm_out *o, gm_system *sys)
{
    struct gm_out_groups gl;

    if (gm__out_group_spaces(sys, &gl, true) < 0) {
        gm_out_fail(o, -ENOMEM);
    }
    for (size_t i = 0; i < gl.n && !o->rc; i++) {
        const gm_flatview *fv = gl.v[i].key;
        struct gm_out_vec *sp = &gl.v[i].spaces;
        gm_region *root = gm_flatview_root(fv);

        gm__out_printf(o, "FlatView #%zu\n", i);
        for (size_t j = 0; j < sp->n; j++) {
            gm_region *asroot = gm_space_root(sp->v[j]);

            gm__out_printf(o, " AS \"%s\", root: %s", gm_space_name(sp->v[j]),
                           gm_region_name(asroot));
            if (gm_region_kind(asroot) == GM_REGION_ALIAS &&
                gm_region_alias_target(asroot)) {
                gm__out_printf(o, ", alias %s",
                               gm_region_name(gm_region_alias_target(asroot)));
            }
            gm__out_printf(o, "\n");
        }
        gm__out_printf(o, " Root memory region: %s\n",
                       root ? gm_region_name(root) : "(none)");
        if (gm_flatview_nr_ranges(fv) == 0) {
            gm__out_printf(o, "  No rendered FlatView\n\n");
            continue;
        }
        gm_flatview_foreach(fv, print_range, o);
        gm__out_printf(o, "\n");
    }
    gm__out_groups_free(&gl);
}

GM_EXPORT int gm_mtree_print(gm_system *sys, FILE *out, unsigned flags,
                             gm_error *err)
{
    struct gm_out o = {.out = out, .flags = flags};
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
        gm__out_json(&o, sys);
    } else if (flags & GM_MTREE_FLAT) {
        print_flat(&o, sys);
    } else {
        print_trees(&o, sys);
    }
    rc = gm_transaction_commit(sys, NULL);
    (void)rc; /* nothing changed, so there is nothing to fail */
    if (!o.rc && (fflush(out) != 0 || ferror(out))) {
        o.rc = -EIO;
    }
    if (o.rc) {
        set_error(err, o.rc, "gm_mtree_print: %s",
                  o.rc == -EIO ? "write error" : "out of memory");
    }
    return o.rc;
}
