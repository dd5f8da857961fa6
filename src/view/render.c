/* SPDX-License-Identifier: MIT */
/*
 * view/render.c - rendering a region tree into flat ranges over a window.
 *
 * render(mr, base, [lo, hi)) produces the sorted, non-overlapping pieces
 * that mr contributes inside the window, with QEMU's semantics:
 *  - a disabled region renders nothing; base += mr->addr; the window is
 *    clipped to the region's extent; readonly and non-volatile accumulate;
 *  - an alias renders its target with base - target->addr - alias_offset
 *    (the target's own address cancels, its flags still apply);
 *  - subregions render in priority order (descending, then most recently
 *    added first) and the first to claim a byte owns it;
 *  - a terminating region then fills whatever its subregions left empty.
 *
 * Unlike QEMU, which inserts every piece into one sorted array (quadratic
 * in the worst case), each level renders its children separately and
 * combines them: children whose extents do not overlap (the usual case) are
 * concatenated in address order; overlapping children are combined with a
 * sweep over their pieces that keeps, at each point, the piece of the
 * highest-ranked child (a min-heap on render rank), O(m log m). Children are
 * found through the container's interval index, so a window costs what it
 * contains, not what the container holds.
 *
 * The walk down the tree keeps its state on an explicit stack of frames
 * (one per container whose children are being rendered), not on the C
 * stack: a tree 100,000 containers deep renders like any other.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "view.h"

struct piece {
    gm_u128 start, end; /* [start, end) absolute */
    gm_region *mr;
    uint64_t offset;
    bool ro, nv;
    uint32_t rank; /* of the child it came from, when children overlap */
};

typedef GM_VEC(struct piece) piecevec;

/* How a container's children combine. */
enum kids_mode {
    KIDS_ONE,      /* a single child meets the window */
    KIDS_DISJOINT, /* in address order, no overlap: concatenate */
    KIDS_OVERLAP,  /* in render order: overlay by rank */
};

/*
 * A container whose children are being rendered: what render() had on its
 * stack when it recursed, kept on an explicit stack instead (the nesting
 * depth is the input's).
 */
struct frame {
    gm_region *mr;
    gm_i128 base, lo, hi;
    bool ro, nv;
    enum kids_mode mode;
    size_t from;   /* pieces before this region's */
    size_t k0, k1; /* its children on the kids stack */
    size_t next;   /* the next child to render */
    size_t before; /* pieces before the child being rendered */
};

/* Buffers kept across commits in sys->view->render. */
struct rscratch {
    piecevec pv;  /* the pieces of the window being rendered */
    piecevec res; /* temporary of fill_gaps / overlay */
    GM_VEC(gm_region *) kids; /* a stack of per-level child lists */
    GM_VEC(struct frame) frames;
};

struct rctx {
    gm_system *sys;
    struct rscratch *rs;
    int err;
};

int gm__view_init(gm_system *sys)
{
    struct gm_view_state *st = calloc(1, sizeof(*st));

    if (!st) {
        return -ENOMEM;
    }
    sys->view = st;
    return 0;
}

void gm__view_fini(gm_system *sys)
{
    struct gm_view_state *st = sys->view;
    struct rscratch *rs;

    if (!st) {
        return;
    }
    rs = st->render;
    if (rs) {
        gm__vec_free(&rs->pv);
        gm__vec_free(&rs->res);
        gm__vec_free(&rs->kids);
        gm__vec_free(&rs->frames);
        free(rs);
    }
    free(st);
    sys->view = NULL;
}

static int push_piece(piecevec *out, gm_u128 s, gm_u128 e, gm_region *mr,
                      uint64_t off, bool ro, bool nv)
{
    struct piece p = {s, e, mr, off, ro, nv, 0};

    return gm__vec_push(out, p);
}

static void collect_kid(struct gm_itree_node *n, void *opaque)
{
    struct rctx *c = opaque;
    gm_region *r = caa_container_of(n, gm_region, inode);

    if (r->enabled && gm__vec_push(&c->rs->kids, r)) {
        c->err = -ENOMEM;
    }
}


/* Sweep event: a piece starting or ending. */
struct sev {
    gm_u128 pos;
    uint32_t idx;  /* piece index */
    bool is_end;
};

static int cmp_sev(const void *a, const void *b)
{
    const struct sev *x = a, *y = b;

    if (x->pos != y->pos) {
        return x->pos < y->pos ? -1 : 1;
    }
    if (x->is_end != y->is_end) {
        return x->is_end ? -1 : 1; /* ends first */
    }
    return 0;
}

struct heap {
    uint32_t *v; /* ranks */
    size_t n;
};

static void heap_push(struct heap *h, uint32_t x)
{
    size_t i = h->n++;

    h->v[i] = x;
    while (i && h->v[(i - 1) / 2] > h->v[i]) {
        uint32_t t = h->v[i];
        h->v[i] = h->v[(i - 1) / 2];
        h->v[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

static void heap_pop(struct heap *h)
{
    size_t i = 0;

    h->v[0] = h->v[--h->n];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && h->v[l] < h->v[m]) {
            m = l;
        }
        if (r < h->n && h->v[r] < h->v[m]) {
            m = r;
        }
        if (m == i) {
            break;
        }
        uint32_t t = h->v[i];
        h->v[i] = h->v[m];
        h->v[m] = t;
        i = m;
    }
}

/*
 * Combine pieces[from..], each tagged with the rank of the child it came
 * from: keep, at each point, the piece with the smallest rank. Replaces
 * out[from..].
 */
static int overlay(struct rctx *c, piecevec *out, size_t from,
                   uint32_t nranks)
{
    size_t np = out->n - from;
    struct sev *ev = malloc(2 * np * sizeof(*ev));
    struct heap h = {malloc((np + 1) * sizeof(uint32_t)), 0};
    int32_t *active = malloc(nranks * sizeof(*active));
    piecevec res = c->rs->res;
    int ret = 0;

    res.n = 0;

    if (!ev || !h.v || !active) {
        ret = -ENOMEM;
        goto out;
    }
    for (uint32_t r = 0; r < nranks; r++) {
        active[r] = -1;
    }
    for (size_t i = 0; i < np; i++) {
        ev[2 * i] = (struct sev){out->v[from + i].start, (uint32_t)i, false};
        ev[2 * i + 1] = (struct sev){out->v[from + i].end, (uint32_t)i, true};
    }
    qsort(ev, 2 * np, sizeof(*ev), cmp_sev);
    for (size_t i = 0; i < 2 * np;) {
        gm_u128 pos = ev[i].pos;

        for (; i < 2 * np && ev[i].pos == pos; i++) {
            uint32_t r = out->v[from + ev[i].idx].rank;
            if (ev[i].is_end) {
                if (active[r] == (int32_t)ev[i].idx) {
                    active[r] = -1;
                }
            } else {
                active[r] = (int32_t)ev[i].idx;
                heap_push(&h, r);
            }
        }
        while (h.n && active[h.v[0]] < 0) {
            heap_pop(&h);
        }
        if (h.n && i < 2 * np) {
            const struct piece *p = &out->v[from + active[h.v[0]]];
            gm_u128 next = ev[i].pos;
            if (push_piece(&res, pos, next, p->mr,
                           p->offset + (uint64_t)(pos - p->start), p->ro,
                           p->nv)) {
                ret = -ENOMEM;
                goto out;
            }
        }
    }
    out->n = from;
    if (gm__vec_reserve(out, from + res.n)) {
        ret = -ENOMEM;
        goto out;
    }
    if (res.n) {
        memcpy(out->v + from, res.v, res.n * sizeof(*res.v));
    }
    out->n = from + res.n;
out:
    free(ev);
    free(h.v);
    free(active);
    c->rs->res = res;
    return ret;
}

/* Fill the gaps of out[from..] inside [lo, hi) with mr. */
static void fill_gaps(struct rctx *c, gm_region *mr, gm_i128 base,
                      gm_i128 lo, gm_i128 hi, bool ro, bool nv,
                      piecevec *out, size_t from)
{
    size_t n = out->n - from;
    piecevec res = c->rs->res;
    gm_i128 pos = lo;

    res.n = 0;

    if (n == 0) {
        if (push_piece(out, (gm_u128)lo, (gm_u128)hi, mr,
                       (uint64_t)(lo - base), ro, nv)) {
            c->err = -ENOMEM;
        }
        return;
    }
    if (gm__vec_reserve(&res, 2 * n + 1)) {
        c->rs->res = res;
        c->err = -ENOMEM;
        return;
    }
    for (size_t i = from; i < out->n; i++) {
        struct piece *p = &out->v[i];
        if ((gm_i128)p->start > pos) {
            res.v[res.n++] = (struct piece){(gm_u128)pos, p->start, mr,
                                            (uint64_t)(pos - base), ro, nv,
                                            0};
        }
        res.v[res.n++] = *p;
        pos = (gm_i128)p->end;
    }
    if (pos < hi) {
        res.v[res.n++] = (struct piece){(gm_u128)pos, (gm_u128)hi, mr,
                                        (uint64_t)(pos - base), ro, nv, 0};
    }
    out->n = from;
    if (gm__vec_reserve(out, from + res.n)) {
        c->err = -ENOMEM;
    } else {
        memcpy(out->v + from, res.v, res.n * sizeof(*res.v));
        out->n = from + res.n;
    }
    c->rs->res = res;
}

/*
 * Start rendering mr over [lo, hi): follow aliases, clip, then either fill
 * a terminating region without children at once, or push a frame whose
 * children the driver renders one by one.
 */
static void enter(struct rctx *c, gm_region *mr, gm_i128 base, gm_i128 lo,
                  gm_i128 hi, bool ro, bool nv, piecevec *out)
{
    struct rscratch *rs = c->rs;
    struct frame f;
    gm_i128 end;

    for (;;) {
        if (!mr->enabled || c->err) {
            return;
        }
        base += mr->addr;
        ro |= mr->readonly;
        nv |= mr->nonvolatile;
        end = base + (gm_i128)mr->size;
        if (base > lo) {
            lo = base;
        }
        if (end < hi) {
            hi = end;
        }
        if (lo >= hi) {
            return;
        }
        if (!mr->alias) {
            break;
        }
        /* The target's own address cancels; its flags still apply. */
        base -= (gm_i128)mr->alias->addr + (gm_i128)mr->alias_offset;
        mr = mr->alias;
    }
    f = (struct frame){mr, base, lo, hi, ro, nv, KIDS_ONE, out->n,
                       rs->kids.n, 0, 0, 0};
    if (mr->nr_children) {
        gm__itree_query(mr->child_index, (gm_u128)(lo - base),
                        (gm_u128)(hi - base), collect_kid, c);
    }
    f.k1 = rs->kids.n;
    f.next = f.k0;
    if (c->err || f.k1 == f.k0) {
        rs->kids.n = f.k0;
        if (mr->terminates && !c->err) {
            fill_gaps(c, mr, base, lo, hi, ro, nv, out, f.from);
        }
        return;
    }
    if (f.k1 - f.k0 > 1) {
        /*
         * Disjoint extents (in start order, as the index returns them)
         * render in address order; overlapping ones in render order.
         */
        f.mode = KIDS_DISJOINT;
        for (size_t i = f.k0 + 1; i < f.k1; i++) {
            gm_region *a = rs->kids.v[i - 1];
            if ((gm_u128)a->addr + a->size > rs->kids.v[i]->addr) {
                f.mode = KIDS_OVERLAP;
                qsort(rs->kids.v + f.k0, f.k1 - f.k0, sizeof(gm_region *),
                      gm__cmp_render_order);
                break;
            }
        }
    }
    if (gm__vec_push(&rs->frames, f)) {
        c->err = -ENOMEM;
    }
}

/*
 * Render mr over [lo, hi) into out with an explicit stack: each frame is a
 * container rendering its children one at a time; when the last is done,
 * overlapping children are combined and a terminating container fills
 * its gaps, exactly as the recursion it replaces did on its way back.
 */
static void render(struct rctx *c, gm_region *mr, gm_i128 lo, gm_i128 hi,
                   piecevec *out)
{
    struct rscratch *rs = c->rs;
    size_t base_depth = rs->frames.n;

    enter(c, mr, 0, lo, hi, false, false, out);
    while (rs->frames.n > base_depth && !c->err) {
        struct frame *f = &rs->frames.v[rs->frames.n - 1];

        if (f->mode == KIDS_OVERLAP && f->next > f->k0) {
            uint32_t rank = (uint32_t)(f->next - 1 - f->k0);
            for (size_t j = f->before; j < out->n; j++) {
                out->v[j].rank = rank;
            }
        }
        if (f->next < f->k1) {
            gm_region *kid = rs->kids.v[f->next++];

            f->before = out->n;
            /* f may move when enter() pushes a frame: copy what it needs. */
            enter(c, kid, f->base, f->lo, f->hi, f->ro, f->nv, out);
            continue;
        }
        {
            struct frame done = *f;

            rs->frames.n--;
            if (done.mode == KIDS_OVERLAP && out->n > done.from) {
                c->err = overlay(c, out, done.from,
                                 (uint32_t)(done.k1 - done.k0));
            }
            rs->kids.n = done.k0;
            if (done.mr->terminates && !c->err) {
                fill_gaps(c, done.mr, done.base, done.lo, done.hi, done.ro,
                          done.nv, out, done.from);
            }
        }
    }
    rs->frames.n = base_depth;
}

int gm__render(gm_system *sys, gm_region *root, gm_u128 lo, gm_u128 hi,
               gm_rangevec *out)
{
    struct rscratch *rs = sys->view->render;
    struct rctx c = {sys, NULL, 0};
    piecevec pv;

    if (!rs) {
        rs = calloc(1, sizeof(*rs));
        if (!rs) {
            return -ENOMEM;
        }
        sys->view->render = rs;
    }
    c.rs = rs;
    pv = rs->pv;
    pv.n = 0;
    rs->kids.n = 0;
    if (root) {
        render(&c, root, (gm_i128)lo, (gm_i128)hi, &pv);
    }
    for (size_t i = 0; i < pv.n && !c.err; i++) {
        const struct piece *p = &pv.v[i];
        struct gm_range rg = {
            .start = (uint64_t)p->start,
            .last = (uint64_t)(p->end - 1),
            .mr = p->mr,
            .offset = p->offset,
            .readonly = p->ro,
            .romd = p->mr->romd_mode,
            .nonvolatile = p->nv,
            .mask = gm__region_log_mask(sys, p->mr),
            .coal = p->mr->coal,
        };

        if (out->n && gm__range_can_merge(&out->v[out->n - 1], &rg)) {
            out->v[out->n - 1].last = rg.last;
        } else if (gm__vec_push(out, rg)) {
            c.err = -ENOMEM;
        }
    }
    rs->pv = pv;
    return c.err;
}
