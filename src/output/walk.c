/* SPDX-License-Identifier: MIT */
/*
 * walk.c - what the text and JSON printers share (see output.h): writes
 * that remember the first error, growable arrays, a pointer map, children
 * in print order, QEMU's type token and the grouping of address spaces.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"

void gm__out_printf(struct gm_out *o, const char *fmt, ...)
{
    va_list ap;

    if (o->rc) {
        return;
    }
    va_start(ap, fmt);
    if (vfprintf(o->out, fmt, ap) < 0) {
        o->rc = -EIO;
    }
    va_end(ap);
}

void gm__out_write(struct gm_out *o, const void *buf, size_t len)
{
    if (o->rc || len == 0) {
        return;
    }
    if (fwrite(buf, 1, len, o->out) != len) {
        o->rc = -EIO;
    }
}

void gm__out_blanks(struct gm_out *o, size_t n)
{
    char blanks[4096];
    size_t k = n < sizeof(blanks) ? n : sizeof(blanks);

    memset(blanks, ' ', k);
    while (n && !o->rc) {
        k = n < sizeof(blanks) ? n : sizeof(blanks);
        gm__out_write(o, blanks, k);
        n -= k;
    }
}

int gm__out_vec_push(struct gm_out_vec *pv, void *p)
{
    if (pv->n == pv->cap) {
        size_t ncap = pv->cap ? pv->cap * 2 : 16;
        void **nv;

        if (ncap > SIZE_MAX / sizeof(*nv)) {
            return -ENOMEM;
        }
        nv = realloc(pv->v, ncap * sizeof(*nv));
        if (!nv) {
            return -ENOMEM;
        }
        pv->v = nv;
        pv->cap = ncap;
    }
    pv->v[pv->n++] = p;
    return 0;
}

/* A pointer hash (a 64-bit mix: pointers are aligned and clustered). */
static size_t map_hash(const void *key)
{
    uint64_t x = (uint64_t)(uintptr_t)key;

    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x;
}

/* The slot of @key, or of the empty slot where it would go. */
static size_t map_slot(const struct gm_out_map *m, const void *key)
{
    size_t i = map_hash(key) & (m->cap - 1);

    while (m->keys[i] && m->keys[i] != key) {
        i = (i + 1) & (m->cap - 1);
    }
    return i;
}

size_t gm__out_map_get(const struct gm_out_map *m, const void *key)
{
    size_t i;

    if (!m->cap || !key) {
        return GM_OUT_NONE;
    }
    i = map_slot(m, key);
    return m->keys[i] ? m->vals[i] : GM_OUT_NONE;
}

static int map_grow(struct gm_out_map *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 64;
    struct gm_out_map nm = {.cap = ncap};

    if (ncap > SIZE_MAX / sizeof(*nm.vals)) {
        return -ENOMEM;
    }
    nm.keys = calloc(ncap, sizeof(*nm.keys));
    nm.vals = malloc(ncap * sizeof(*nm.vals));
    if (!nm.keys || !nm.vals) {
        free(nm.keys);
        free(nm.vals);
        return -ENOMEM;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (m->keys[i]) {
            size_t j = map_slot(&nm, m->keys[i]);

            nm.keys[j] = m->keys[i];
            nm.vals[j] = m->vals[i];
        }
    }
    nm.n = m->n;
    gm__out_map_free(m);
    *m = nm;
    return 0;
}

int gm__out_map_put(struct gm_out_map *m, const void *key, size_t val)
{
    size_t i;

    if (!key) {
        return -EINVAL;
    }
    if (2 * (m->n + 1) > m->cap && map_grow(m) < 0) {
        return -ENOMEM;
    }
    i = map_slot(m, key);
    if (!m->keys[i]) {
        m->keys[i] = key;
        m->n++;
    }
    m->vals[i] = val;
    return 0;
}

void gm__out_map_free(struct gm_out_map *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof(*m));
}

static int collect_child(gm_region *child, void *opaque)
{
    struct gm_out_children *cl = opaque;

    if (cl->n == cl->cap) {
        size_t ncap = cl->cap ? cl->cap * 2 : 8;
        struct gm_out_child *nv;

        if (ncap > SIZE_MAX / sizeof(*nv)) {
            cl->rc = -ENOMEM;
            return 1;
        }
        nv = realloc(cl->v, ncap * sizeof(*nv));
        if (!nv) {
            cl->rc = -ENOMEM;
            return 1;
        }
        cl->v = nv;
        cl->cap = ncap;
    }
    cl->v[cl->n] = (struct gm_out_child){
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
    const struct gm_out_child *x = a, *y = b;

    if (x->addr != y->addr) {
        return x->addr < y->addr ? -1 : 1;
    }
    if (x->prio != y->prio) {
        return x->prio > y->prio ? -1 : 1;
    }
    return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

int gm__out_children(gm_region *r, struct gm_out_children *cl)
{
    int rc;

    cl->n = 0;
    cl->rc = 0;
    rc = gm_region_foreach_subregion(r, collect_child, cl);
    if (cl->rc || rc < 0) {
        cl->n = 0;
        return cl->rc ? cl->rc : rc;
    }
    if (cl->n > 1) {
        qsort(cl->v, cl->n, sizeof(*cl->v), child_cmp);
    }
    return 0;
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

const char *gm__out_type(gm_region *r)
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

static int group_space(gm_space *as, void *opaque)
{
    struct gm_out_groups *gl = opaque;
    const void *key;
    size_t i;

    if (gl->by_view) {
        key = gm_space_get_flatview(as); /* a reference, kept or dropped */
    } else {
        key = gm_space_root(as);
    }
    i = gm__out_map_get(&gl->index, key);
    if (i != GM_OUT_NONE && gl->by_view) {
        gm_flatview_unref((gm_flatview *)key); /* the group holds one */
    }
    if (i == GM_OUT_NONE) {
        if (gl->n == gl->cap) {
            size_t ncap = gl->cap ? gl->cap * 2 : 8;
            struct gm_out_group *nv = realloc(gl->v, ncap * sizeof(*nv));

            if (!nv) {
                goto nomem_key;
            }
            gl->v = nv;
            gl->cap = ncap;
        }
        if (gm__out_map_put(&gl->index, key, gl->n) < 0) {
            goto nomem_key;
        }
        i = gl->n++;
        gl->v[i] = (struct gm_out_group){.key = key};
    }
    if (gl->order.n == gl->group_of_cap) {
        size_t ncap = gl->group_of_cap ? gl->group_of_cap * 2 : 16;
        size_t *nv = realloc(gl->group_of, ncap * sizeof(*nv));

        if (!nv) {
            gl->rc = -ENOMEM;
            return 1;
        }
        gl->group_of = nv;
        gl->group_of_cap = ncap;
    }
    if (gm__out_vec_push(&gl->v[i].spaces, as) < 0 ||
        gm__out_vec_push(&gl->order, as) < 0) {
        gl->rc = -ENOMEM;
        return 1;
    }
    gl->group_of[gl->order.n - 1] = i;
    return 0;

nomem_key:
    if (gl->by_view) {
        gm_flatview_unref((gm_flatview *)key);
    }
    gl->rc = -ENOMEM;
    return 1;
}

int gm__out_group_spaces(gm_system *sys, struct gm_out_groups *gl,
                         bool by_view)
{
    memset(gl, 0, sizeof(*gl));
    gl->by_view = by_view;
    gm_system_foreach_space(sys, group_space, gl);
    return gl->rc;
}

void gm__out_groups_free(struct gm_out_groups *gl)
{
    for (size_t i = 0; i < gl->n; i++) {
        if (gl->by_view) {
            gm_flatview_unref((gm_flatview *)gl->v[i].key);
        }
        free(gl->v[i].spaces.v);
    }
    free(gl->v);
    free(gl->order.v);
    free(gl->group_of);
    gm__out_map_free(&gl->index);
    memset(gl, 0, sizeof(*gl));
}
