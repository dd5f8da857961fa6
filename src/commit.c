/* SPDX-License-Identifier: MIT */
/*
 * commit.c - turning a transaction's changes into new flat views.
 *
 * QEMU re-renders every address space from scratch on every commit and
 * diffs the whole old and new views. Here a commit costs what changed:
 *
 * 1. Dirty windows. Every mutation of region R notes R's extent, in R's own
 *    coordinates, before and after the change (gm__mark_region). The note
 *    walks up: at each region it is clipped to the region's size, recorded
 *    in the view state rendered from that region (if any), translated into
 *    the coordinates of every alias that targets the region, and translated
 *    into the container's. Disabled regions stop the walk (they render
 *    nothing), except the changed region itself. A pathological fan-out
 *    (diamonds of aliases) trips a budget and degrades to a full render.
 *
 * 2. At the outermost commit each view state with windows expands them to
 *    the edges of the old ranges they touch, re-renders only those spans
 *    (render.c), re-merges with the ranges on either side, diffs old and
 *    new ranges inside the spans for the listeners, and splices the new
 *    ranges into a new persistent tree that shares everything else with the
 *    old one (flatview.c).
 *
 * 3. Flat-view roots are re-resolved; address spaces that move to another
 *    view state get a full diff. ioeventfds are recomputed only for the
 *    spans that changed (or that an ioeventfd-only change marked) and
 *    diffed per key.
 *
 * 4. Listeners get begin, per space the deletions (old view still
 *    published), the new view is published, then additions, nops, log
 *    changes and eventfd changes, and commit. Nothing is published and no
 *    listener runs when nothing changed.
 *
 * With GM_DEBUG_VERIFY=1 in the environment every incremental result is
 * compared with a full render (the property tests run that way).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define VISIT_BUDGET 200000


static const gm_u128 SPACE_END = GM_SIZE_2_64;

/*
 * Window recording.
 */

static void add_window(gm_system *sys, struct gm_vstate *vs, gm_u128 lo,
                       gm_u128 hi, bool evonly)
{
    struct gm_window w = {lo, hi};

    if (hi > SPACE_END) {
        w.hi = SPACE_END;
    }
    if (w.lo >= w.hi) {
        return;
    }
    if (gm__vec_push(evonly ? &vs->evwin : &vs->win, w)) {
        sys->all_dirty = true; /* cannot remember it: render everything */
    }
    sys->pending = true;
}

static void mark_rec(gm_system *sys, gm_region *r, gm_u128 lo, gm_u128 hi,
                     bool force, bool evonly)
{
    if (sys->all_dirty || (!force && !r->enabled)) {
        return;
    }
    if (hi > r->size) {
        hi = r->size;
    }
    if (lo >= hi) {
        return;
    }
    if (++sys->visits > VISIT_BUDGET) {
        sys->all_dirty = true;
        sys->pending = true;
        return;
    }
    if (r->vs) {
        add_window(sys, r->vs, lo + r->addr, hi + r->addr, evonly);
    }
    for (size_t i = 0; i < r->aliased_by.n; i++) {
        gm_region *a = r->aliased_by.v[i];
        uint64_t off = a->alias_offset;

        if (hi > off) {
            mark_rec(sys, a, lo > off ? lo - off : 0, hi - off, false,
                     evonly);
        }
    }
    if (r->container) {
        mark_rec(sys, r->container, lo + r->addr, hi + r->addr, false,
                 evonly);
    }
}

void gm__mark_region(gm_region *r)
{
    gm_system *sys = r->sys;

    sys->topo_dirty = true;
    sys->pending = true;
    mark_rec(sys, r, 0, r->size, true, false);
}

void gm__mark_region_evfd(gm_region *r)
{
    mark_rec(r->sys, r, 0, r->size, false, true);
}

/*
 * View states.
 */

static struct gm_vstate *vstate_get(gm_system *sys, gm_region *root)
{
    struct gm_vstate *vs;

    if (root && root->vs) {
        return root->vs;
    }
    if (!root) {
        for (vs = sys->vstates; vs; vs = vs->next) {
            if (!vs->root) {
                return vs;
            }
        }
    }
    vs = calloc(1, sizeof(*vs));
    if (!vs) {
        return NULL;
    }
    vs->hist = calloc(1, sizeof(*vs->hist));
    if (!vs->hist) {
        free(vs);
        return NULL;
    }
    vs->sys = sys;
    vs->root = gm_region_ref(root);
    vs->full = true;
    if (root) {
        root->vs = vs;
    }
    vs->next = sys->vstates;
    sys->vstates = vs;
    return vs;
}

static void vstate_scratch_free(struct gm_vstate *vs)
{
    if (vs->next_view) {
        /* Never published: only possible on error paths. */
        gm__flatview_discard(vs->next_view);
        vs->next_view = NULL;
    }
    vs->dels.n = vs->adds.n = vs->add_kind.n = vs->add_oldmask.n = 0;
    vs->ev_dels.n = vs->ev_adds.n = 0;
    vs->next_evfds.n = 0;
    vs->changed = vs->ev_changed = vs->processed = false;
}

static void vstate_destroy(gm_system *sys, struct gm_vstate *vs)
{
    struct gm_vstate **pp;

    for (pp = &sys->vstates; *pp; pp = &(*pp)->next) {
        if (*pp == vs) {
            *pp = vs->next;
            break;
        }
    }
    vstate_scratch_free(vs);
    if (vs->root) {
        vs->root->vs = NULL;
        gm_region_unref(vs->root);
    }
    gm__flatview_put(sys, vs->cur);
    gm__history_orphan(sys, vs->hist);
    gm__gc_release(sys, &vs->gc);
    gm__vec_free(&vs->win);
    gm__vec_free(&vs->evwin);
    gm__vec_free(&vs->evfds);
    gm__vec_free(&vs->next_evfds);
    gm__vec_free(&vs->dels);
    gm__vec_free(&vs->adds);
    gm__vec_free(&vs->add_kind);
    gm__vec_free(&vs->add_oldmask);
    gm__vec_free(&vs->ev_dels);
    gm__vec_free(&vs->ev_adds);
    free(vs);
}

void gm__vstate_put(gm_system *sys, struct gm_vstate *vs)
{
    if (vs && --vs->users == 0) {
        vstate_destroy(sys, vs);
    }
}

/*
 * Window processing.
 */

static int cmp_window(const void *a, const void *b)
{
    const struct gm_window *x = a, *y = b;

    if (x->lo != y->lo) {
        return x->lo < y->lo ? -1 : 1;
    }
    return 0;
}

/* Sort and merge windows in place. */
static void windows_normalize(gm_winvec *w)
{
    size_t o = 0;

    if (!w->n) {
        return;
    }
    qsort(w->v, w->n, sizeof(*w->v), cmp_window);
    for (size_t i = 1; i < w->n; i++) {
        if (w->v[i].lo <= w->v[o].hi) {
            if (w->v[i].hi > w->v[o].hi) {
                w->v[o].hi = w->v[i].hi;
            }
        } else {
            w->v[++o] = w->v[i];
        }
    }
    w->n = o + 1;
}

typedef struct gm_span span_t;
typedef gm_spanvec spanvec;
#define span gm_span

/* Expand windows to whole old ranges and merge spans sharing a neighbour. */
static int make_spans(const struct gm_fv_node *t,
                      const gm_winvec *w, spanvec *out)
{
    for (size_t i = 0; i < w->n; i++) {
        gm_u128 a = w->v[i].lo, b = w->v[i].hi;
        const struct gm_range *rg;

        if (a < SPACE_END && (rg = gm__fv_find(t, (uint64_t)a))) {
            a = rg->start;
        }
        if (b > 0 && (rg = gm__fv_find(t, (uint64_t)(b - 1)))) {
            b = (gm_u128)rg->last + 1;
        }
        if (out->n) {
            struct span *l = &out->v[out->n - 1];
            const struct gm_range *nb = NULL;

            if (l->e < SPACE_END) {
                nb = gm__fv_find_start(t, (uint64_t)l->e);
            }
            if (a <= l->e || (nb && (gm_u128)nb->last + 1 == a)) {
                if (b > l->e) {
                    l->e = b;
                }
                continue;
            }
        }
        struct span sp = {a, b, 0, 0, 0, 0};
        if (gm__vec_push(out, sp)) {
            return -ENOMEM;
        }
    }
    return 0;
}

struct walk_ctx {
    gm_rangevec *v;
    int err;
};

static int collect_range(const struct gm_range *rg, void *opaque)
{
    struct walk_ctx *c = opaque;

    if (gm__vec_push(c->v, *rg)) {
        c->err = -ENOMEM;
        return 1;
    }
    return 0;
}

/* Old ranges with start in [s, e). */
static int collect_old(const struct gm_fv_node *t, gm_u128 s, gm_u128 e,
                       gm_rangevec *out)
{
    struct walk_ctx c = {out, 0};

    if (s >= e) {
        return 0;
    }
    gm__fv_walk(t, (uint64_t)s, (uint64_t)(e - 1), collect_range, &c);
    return c.err;
}

static int ev_add(struct gm_vstate *vs, enum gm_ev_kind k,
                  const struct gm_range *rg, uint8_t oldmask)
{
    struct gm_section s;

    gm__range_to_section(rg, NULL, &s);
    if (k == GM_EV_DEL) {
        vs->changed = true;
        return gm__vec_push(&vs->dels, s);
    }
    if (k != GM_EV_NOP) {
        vs->changed = true;
    }
    if (gm__vec_push(&vs->adds, s) || gm__vec_push(&vs->add_kind, k) ||
        gm__vec_push(&vs->add_oldmask, oldmask)) {
        return -ENOMEM;
    }
    return 0;
}

/* QEMU's symmetric difference of two sorted range lists. */
static int diff_ranges(struct gm_vstate *vs, const struct gm_range *o,
                       size_t no, const struct gm_range *n, size_t nn)
{
    size_t i = 0, j = 0;
    int ret = 0;

    while (!ret && (i < no || j < nn)) {
        if (i < no && (j == nn || o[i].start < n[j].start ||
                       (o[i].start == n[j].start &&
                        !gm__range_equal(&o[i], &n[j])))) {
            ret = ev_add(vs, GM_EV_DEL, &o[i++], 0);
        } else if (i < no && j < nn && gm__range_equal(&o[i], &n[j])) {
            ret = ev_add(vs, GM_EV_NOP, &n[j], 0);
            if (!ret && (n[j].mask & ~o[i].mask)) {
                ret = ev_add(vs, GM_EV_LOG_START, &n[j], o[i].mask);
            }
            if (!ret && (o[i].mask & ~n[j].mask)) {
                ret = ev_add(vs, GM_EV_LOG_STOP, &n[j], o[i].mask);
            }
            i++;
            j++;
        } else {
            ret = ev_add(vs, GM_EV_ADD, &n[j++], 0);
        }
    }
    return ret;
}

/*
 * Replace the ranges starting in [s, e) of *t (old[0..no) are those ranges)
 * by v[0..n). Small changes go range by range, copying one search path;
 * large ones split the tree at s and e and join a tree built from v.
 */
static int splice(struct gm_txn *tx, struct gm_fv_node **t, gm_u128 s,
                  gm_u128 e, const struct gm_range *old, size_t no,
                  const struct gm_range *v, size_t n)
{
    struct gm_fv_node *l, *m, *r, *b;
    int ret;

    if (no + n <= 8) {
        for (size_t i = 0; i < no; i++) {
            gm__fv_delete(tx, t, old[i].start);
        }
        for (size_t i = 0; i < n; i++) {
            ret = gm__fv_insert(tx, t, &v[i]);
            if (ret) {
                return ret;
            }
        }
        return 0;
    }
    ret = gm__fv_build(tx, v, n, &b);
    if (ret) {
        return ret;
    }
    if (s >= SPACE_END) {
        l = *t;
        m = NULL;
    } else {
        gm__fv_split(tx, *t, (uint64_t)s, &l, &m);
    }
    if (e >= SPACE_END) {
        r = NULL;
    } else {
        gm__fv_split(tx, m, (uint64_t)e, &m, &r);
    }
    gm__fv_drop_all(tx, m);
    *t = gm__fv_join(tx, gm__fv_join(tx, l, b), r);
    return tx->err;
}

/* ioeventfds of range rg, appended with src = rg->start. */
static int evfds_of_range(const struct gm_range *rg,
                          gm_evvec *out)
{
    gm_region *mr = rg->mr;

    for (size_t i = 0; i < mr->evfds.n; i++) {
        const struct gm_ioeventfd *e = &mr->evfds.v[i];
        gm_i128 tr = (gm_i128)rg->start - (gm_i128)rg->offset +
                     (gm_i128)e->addr;
        bool hit;

        if (tr < 0 || tr >= (gm_i128)SPACE_END) {
            continue;
        }
        hit = (tr >= rg->start && tr <= rg->last) ||
              (e->size && rg->start >= tr &&
               (gm_i128)rg->start < tr + (gm_i128)e->size);
        if (hit) {
            struct gm_evfd_ent ent = {*e, rg->start};
            ent.e.addr = (uint64_t)tr;
            if (gm__vec_push(out, ent)) {
                return -ENOMEM;
            }
        }
    }
    return 0;
}


static int cmp_event(const void *a, const void *b)
{
    const struct gm_evfd_ent *x = a, *y = b;
    int c = gm__evfd_cmp(&x->e, &y->e);

    if (c) {
        return c;
    }
    return x->src < y->src ? -1 : (x->src > y->src ? 1 : 0);
}

static bool evset_has(const gm_evvec *set,
                      const struct gm_ioeventfd *k)
{
    size_t lo = 0, hi = set->n;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = gm__evfd_cmp(&set->v[mid].e, k);
        if (c == 0) {
            return true;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return false;
}

struct evspan_ctx {
    gm_evvec *out;
    int err;
};

static int evfd_walk_cb(const struct gm_range *rg, void *opaque)
{
    struct evspan_ctx *c = opaque;

    if (rg->mr->evfds.n && evfds_of_range(rg, c->out)) {
        c->err = -ENOMEM;
        return 1;
    }
    return 0;
}

static bool in_spans(const spanvec *sp, uint64_t x)
{
    size_t lo = 0, hi = sp->n;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (x < sp->v[mid].s) {
            hi = mid;
        } else if (x >= sp->v[mid].e) {
            lo = mid + 1;
        } else {
            return true;
        }
    }
    return false;
}

/*
 * Recompute the ioeventfds found in spans (sorted, disjoint) of tree t and
 * note the keys that appear or disappear. spans == NULL: the whole view.
 */
static int update_evfds(struct gm_vstate *vs, const struct gm_fv_node *t,
                        const spanvec *spans)
{
    gm_evvec added = vs->sys->scr.added;
    struct evspan_ctx c = {&added, 0};
    int ret = 0;

    added.n = 0;
    vs->next_evfds.n = 0;
    for (size_t i = 0; i < vs->evfds.n; i++) {
        if (spans && !in_spans(spans, vs->evfds.v[i].src)) {
            if (gm__vec_push(&vs->next_evfds, vs->evfds.v[i])) {
                ret = -ENOMEM;
                goto out;
            }
        }
    }
    if (spans) {
        for (size_t i = 0; i < spans->n && !c.err; i++) {
            if (spans->v[i].s < spans->v[i].e) {
                gm__fv_walk(t, (uint64_t)spans->v[i].s,
                            (uint64_t)(spans->v[i].e - 1), evfd_walk_cb, &c);
            }
        }
    } else {
        gm__fv_walk(t, 0, UINT64_MAX, evfd_walk_cb, &c);
    }
    if (c.err || gm__vec_reserve(&vs->next_evfds,
                                 vs->next_evfds.n + added.n)) {
        ret = -ENOMEM;
        goto out;
    }
    if (added.n) {
        memcpy(vs->next_evfds.v + vs->next_evfds.n, added.v,
               added.n * sizeof(*added.v));
        vs->next_evfds.n += added.n;
        qsort(vs->next_evfds.v, vs->next_evfds.n, sizeof(*vs->next_evfds.v),
              cmp_event);
    }

    /* Keys that left or arrived. */
    for (size_t i = 0; i < vs->evfds.n && !ret; i++) {
        const struct gm_evfd_ent *x = &vs->evfds.v[i];
        if (i && !gm__evfd_cmp(&vs->evfds.v[i - 1].e, &x->e)) {
            continue;
        }
        if (!evset_has(&vs->next_evfds, &x->e)) {
            ret = gm__vec_push(&vs->ev_dels, *x);
        }
    }
    for (size_t i = 0; i < vs->next_evfds.n && !ret; i++) {
        const struct gm_evfd_ent *x = &vs->next_evfds.v[i];
        if (i && !gm__evfd_cmp(&vs->next_evfds.v[i - 1].e, &x->e)) {
            continue;
        }
        if (!evset_has(&vs->evfds, &x->e)) {
            ret = gm__vec_push(&vs->ev_adds, *x);
        }
    }
    if (vs->ev_dels.n || vs->ev_adds.n) {
        vs->ev_changed = true;
    }
out:
    vs->sys->scr.added = added;
    return ret;
}

static void verify_view(gm_system *sys, struct gm_vstate *vs,
                        const struct gm_fv_node *t,
                        const struct gm_dispatch *d);

/*
 * &v->v[i], where i may be v->n; NULL for a vector never allocated (NULL
 * plus an offset, even 0, is undefined behaviour in C).
 */
static const struct gm_range *at(const gm_rangevec *v, size_t i)
{
    return v->v ? v->v + i : NULL;
}

/* Compute vs->next_view, events and eventfd changes. */
static int vstate_process(gm_system *sys, struct gm_vstate *vs)
{
    struct gm_fv_node *old = vs->cur ? vs->cur->tree : NULL;
    struct gm_fv_node *t = old; /* working tree: old nodes stay intact */
    struct gm_txn tx = {sys, &vs->gc, 0};
    struct gm_dispatch disp = {0, 0};
    struct gm_scratch *scr = &sys->scr;
    gm_rangevec nv = scr->nv, ov = scr->ov;
    spanvec spans = scr->spans, evspans = scr->evspans;
    int ret = 0;

    gm__gc_prepare(sys, &vs->gc);
    nv.n = ov.n = spans.n = evspans.n = 0;

    if (vs->full) {
        ret = gm__render(sys, vs->root, 0, SPACE_END, &nv);
        if (!ret) {
            ret = gm__fv_build(&tx, nv.v, nv.n, &t);
        }
        if (!ret) {
            ret = gm__dispatch_update(&tx, &disp, t, 0, SPACE_END);
        }
        if (ret) {
            goto fail;
        }
        vs->changed = true;
        ret = update_evfds(vs, t, NULL);
        if (ret) {
            goto fail;
        }
        goto publish;
    }

    if (sys->all_dirty) {
        struct gm_window all = {0, SPACE_END};

        vs->win.n = 0;
        if (gm__vec_push(&vs->win, all)) {
            ret = -ENOMEM;
            goto fail;
        }
    }
    windows_normalize(&vs->win);
    windows_normalize(&vs->evwin);
    ret = make_spans(old, &vs->win, &spans);
    if (ret) {
        goto fail;
    }
    for (size_t i = 0; i < spans.n && !ret; i++) {
        struct span *sp = &spans.v[i];
        const struct gm_range *ln = NULL, *rn = NULL;

        sp->n0 = nv.n;
        ret = gm__render(sys, vs->root, sp->s, sp->e, &nv);
        if (ret) {
            break;
        }
        sp->n1 = nv.n;
        if (sp->n1 > sp->n0) {
            if (sp->s > 0) {
                ln = gm__fv_find(old, (uint64_t)(sp->s - 1));
            }
            if (ln && gm__range_can_merge(ln, &nv.v[sp->n0])) {
                nv.v[sp->n0].start = ln->start;
                nv.v[sp->n0].offset = ln->offset;
                sp->s = ln->start;
            }
            if (sp->e < SPACE_END) {
                rn = gm__fv_find_start(old, (uint64_t)sp->e);
            }
            if (rn && gm__range_can_merge(&nv.v[sp->n1 - 1], rn)) {
                nv.v[sp->n1 - 1].last = rn->last;
                sp->e = (gm_u128)rn->last + 1;
            }
        }
        sp->o0 = ov.n;
        ret = collect_old(old, sp->s, sp->e, &ov);
        sp->o1 = ov.n;
        if (!ret) {
            ret = diff_ranges(vs, at(&ov, sp->o0), sp->o1 - sp->o0,
                              at(&nv, sp->n0), sp->n1 - sp->n0);
        }
    }
    if (ret) {
        goto fail;
    }
    if (vs->changed) {
        for (size_t i = spans.n; i-- > 0 && !ret;) {
            struct span *sp = &spans.v[i];
            ret = splice(&tx, &t, sp->s, sp->e, at(&ov, sp->o0),
                         sp->o1 - sp->o0, at(&nv, sp->n0), sp->n1 - sp->n0);
        }
        if (vs->cur) {
            disp = vs->cur->disp;
        }
        for (size_t i = 0; i < spans.n && !ret; i++) {
            ret = gm__dispatch_update(&tx, &disp, t, spans.v[i].s,
                                      spans.v[i].e);
        }
        if (ret) {
            goto fail;
        }
    }

    /* ioeventfds: spans that changed plus ioeventfd-only windows. */
    if (!sys->nr_evfds && !vs->evfds.n) {
        goto publish; /* no ioeventfd anywhere: the set stays empty */
    }
    if (vs->evfds.n || vs->evwin.n || vs->changed || sys->all_dirty) {
        gm_winvec all = scr->all;

        all.n = 0;
        for (size_t i = 0; i < spans.n && !ret; i++) {
            struct gm_window w = {spans.v[i].s, spans.v[i].e};
            ret = gm__vec_push(&all, w);
        }
        for (size_t i = 0; i < vs->evwin.n && !ret; i++) {
            ret = gm__vec_push(&all, vs->evwin.v[i]);
        }
        if (!ret) {
            windows_normalize(&all);
            ret = make_spans(t, &all, &evspans);
        }
        scr->all = all;
    }
    if (!ret) {
        ret = update_evfds(vs, t, &evspans);
    }
    if (ret) {
        goto fail;
    }

publish:
    if (sys->verify) {
        verify_view(sys, vs, t, vs->changed ? &disp : &vs->cur->disp);
    }
    if (vs->changed) {
        vs->next_view = gm__flatview_new(sys, vs->root, t, vs->hist, &vs->gc);
        if (!vs->next_view) {
            ret = -ENOMEM;
            goto fail;
        }
        vs->next_view->disp = disp;
    }
    vs->processed = true;
    goto out;
fail:
    gm__dispatch_discard(sys, &disp);
    gm__fv_discard(sys, t);
    vs->gc.n = 0; /* still used by the current version */
out:
    scr->nv = nv;
    scr->ov = ov;
    scr->spans = spans;
    scr->evspans = evspans;
    return ret;
}

/* Debug check: the incremental tree equals a full render. */
static bool dispatch_agrees(const struct gm_dispatch *d, uint64_t addr,
                            const struct gm_range *want)
{
    const struct gm_range *got = gm__dispatch_lookup(d, addr);

    if (!want || !got) {
        return want == got;
    }
    return got->start == want->start && got->last == want->last &&
           got->mr == want->mr && got->offset == want->offset;
}

/*
 * Whether the table gives want (NULL: a hole) throughout [a, z]: probed at
 * both ends, the middle, and, for each radix level, the first two and last
 * two block boundaries inside, where a wrong entry of that level shows.
 */
static bool dispatch_agrees_on(const struct gm_dispatch *d, uint64_t a,
                               uint64_t z, const struct gm_range *want)
{
    if (!dispatch_agrees(d, a, want) || !dispatch_agrees(d, z, want) ||
        !dispatch_agrees(d, a + (z - a) / 2, want)) {
        return false;
    }
    for (unsigned level = 0; level < GM_DISPATCH_LEVELS; level++) {
        gm_u128 step = (gm_u128)1 << gm__level_shift(level);
        gm_u128 first = ((gm_u128)a + step - 1) / step * step;
        gm_u128 last = (gm_u128)z / step * step;

        if (first > z) {
            continue;
        }
        if (!dispatch_agrees(d, (uint64_t)first, want) ||
            (first + step <= z &&
             !dispatch_agrees(d, (uint64_t)(first + step), want)) ||
            !dispatch_agrees(d, (uint64_t)last, want) ||
            (last > a && !dispatch_agrees(d, (uint64_t)last - 1, want))) {
            return false;
        }
    }
    return true;
}

static void verify_view(gm_system *sys, struct gm_vstate *vs,
                        const struct gm_fv_node *t,
                        const struct gm_dispatch *d)
{
    gm_rangevec full = {0}, have = {0};
    struct walk_ctx c = {&have, 0};

    if (gm__render(sys, vs->root, 0, SPACE_END, &full)) {
        goto out;
    }
    gm__fv_walk(t, 0, UINT64_MAX, collect_range, &c);
    if (c.err) {
        goto out;
    }
    bool same = full.n == have.n;
    for (size_t i = 0; same && i < full.n; i++) {
        same = gm__range_equal(&full.v[i], &have.v[i]) &&
               full.v[i].mask == have.v[i].mask;
    }
    /* The dispatch table must agree at every edge and in every hole. */
    for (size_t i = 0; same && i < have.n; i++) {
        const struct gm_range *rg = &have.v[i];
        if (!dispatch_agrees_on(d, rg->start, rg->last, rg)) {
            fprintf(stderr, "guestmem: GM_DEBUG_VERIFY: dispatch disagrees "
                            "on range %016llx-%016llx\n",
                    (unsigned long long)rg->start,
                    (unsigned long long)rg->last);
            same = false;
        }
        uint64_t hole = rg->last + 1;
        if (rg->last != UINT64_MAX &&
            (i + 1 == have.n || have.v[i + 1].start > hole) &&
            !dispatch_agrees_on(d, hole,
                                i + 1 == have.n ? UINT64_MAX
                                                : have.v[i + 1].start - 1,
                                NULL)) {
            fprintf(stderr, "guestmem: GM_DEBUG_VERIFY: dispatch maps hole "
                            "at %016llx\n",
                    (unsigned long long)hole);
            same = false;
        }
    }
    if (same && (!have.n || have.v[0].start > 0) &&
        !dispatch_agrees_on(d, 0, have.n ? have.v[0].start - 1 : UINT64_MAX,
                            NULL)) {
        fprintf(stderr, "guestmem: GM_DEBUG_VERIFY: dispatch maps 0\n");
        same = false;
    }
    if (!same) {
        fprintf(stderr, "guestmem: GM_DEBUG_VERIFY: incremental view of "
                        "'%s' differs from a full render\n",
                vs->root ? vs->root->name : "(none)");
        for (size_t i = 0; i < full.n || i < have.n; i++) {
            if (i < full.n) {
                fprintf(stderr, "  full %016llx-%016llx %s @%llx\n",
                        (unsigned long long)full.v[i].start,
                        (unsigned long long)full.v[i].last,
                        full.v[i].mr->name,
                        (unsigned long long)full.v[i].offset);
            }
            if (i < have.n) {
                fprintf(stderr, "  incr %016llx-%016llx %s @%llx\n",
                        (unsigned long long)have.v[i].start,
                        (unsigned long long)have.v[i].last,
                        have.v[i].mr->name,
                        (unsigned long long)have.v[i].offset);
            }
        }
        abort(); /* an internal invariant is broken */
    }
out:
    gm__vec_free(&full);
    gm__vec_free(&have);
}

/*
 * Delivery.
 */

static int collect_all(const struct gm_fv_node *t, gm_rangevec *out)
{
    struct walk_ctx c = {out, 0};

    out->n = 0;
    gm__fv_walk(t, 0, UINT64_MAX, collect_range, &c);
    return c.err;
}

static void publish(gm_space *as, gm_flatview *newv);

static void deliver_events(gm_system *sys, gm_space *as,
                           struct gm_vstate *vs, gm_flatview *newv)
{
    for (size_t i = 0; i < vs->dels.n; i++) {
        struct gm_section s = vs->dels.v[i];
        gm__listeners_region(sys, as, GM_EV_DEL, &s, 0, 0);
    }
    publish(as, newv);
    gm__space_caches_changed(as, &vs->dels, NULL);
    gm__space_caches_changed(as, &vs->adds, vs->add_kind.v);
    for (size_t i = 0; i < vs->adds.n; i++) {
        struct gm_section s = vs->adds.v[i];
        gm__listeners_region(sys, as, (enum gm_ev_kind)vs->add_kind.v[i], &s,
                             vs->add_oldmask.v[i], s.dirty_log_mask);
    }
}

static void deliver_evfds(gm_system *sys, gm_space *as,
                          const struct gm_evfd_ent *dels, size_t nd,
                          const struct gm_evfd_ent *adds, size_t na)
{
    for (size_t i = 0; i < nd; i++) {
        gm__listeners_eventfd(sys, as, false, &dels[i].e);
    }
    for (size_t i = 0; i < na; i++) {
        gm__listeners_eventfd(sys, as, true, &adds[i].e);
    }
}

static void events_free(struct gm_vstate *ev)
{
    gm__vec_free(&ev->dels);
    gm__vec_free(&ev->adds);
    gm__vec_free(&ev->add_kind);
    gm__vec_free(&ev->add_oldmask);
    gm__vec_free(&ev->ev_dels);
    gm__vec_free(&ev->ev_adds);
    free(ev);
}

/*
 * Full diff for a space that changes view state (or is new or dying), kept
 * in as->sw (only its event vectors are used) until delivery.
 */
static int compute_switch(gm_space *as)
{
    struct gm_vstate *ns = as->next_vs, *os = as->vs;
    gm_flatview *newv = ns->next_view ? ns->next_view : ns->cur;
    gm_flatview *oldv = atomic_load(&as->view);
    struct gm_vstate *ev = calloc(1, sizeof(*ev));
    gm_rangevec o = {0}, n = {0};
    const gm_evvec *oset = NULL, *nset;
    int ret;

    if (!ev) {
        return -ENOMEM;
    }
    as->sw = ev;
    ret = collect_all(oldv ? oldv->tree : NULL, &o);
    if (!ret) {
        ret = collect_all(newv ? newv->tree : NULL, &n);
    }
    if (!ret) {
        ret = diff_ranges(ev, o.v, o.n, n.v, n.n);
    }
    /* ioeventfds: old state's current set against the new state's next. */
    if (os) {
        oset = &os->evfds;
    }
    nset = ns->processed ? &ns->next_evfds : &ns->evfds;
    for (size_t i = 0; !ret && oset && i < oset->n; i++) {
        if ((i == 0 || gm__evfd_cmp(&oset->v[i - 1].e, &oset->v[i].e)) &&
            !evset_has(nset, &oset->v[i].e)) {
            ret = gm__vec_push(&ev->ev_dels, oset->v[i]);
        }
    }
    for (size_t i = 0; !ret && i < nset->n; i++) {
        if ((i == 0 || gm__evfd_cmp(&nset->v[i - 1].e, &nset->v[i].e)) &&
            (!oset || !evset_has(oset, &nset->v[i].e))) {
            ret = gm__vec_push(&ev->ev_adds, nset->v[i]);
        }
    }
    ev->ev_changed = ev->ev_dels.n || ev->ev_adds.n;
    gm__vec_free(&o);
    gm__vec_free(&n);
    return ret;
}

static void publish(gm_space *as, gm_flatview *newv)
{
    gm_flatview *old = atomic_load(&as->view);

    if (newv && newv != old) {
        gm__rcu_store(as->view, gm_flatview_ref(newv));
        gm__flatview_put(as->sys, old);
    }
}

/*
 * The update.
 */

static void clear_pending(gm_system *sys)
{
    for (struct gm_vstate *vs = sys->vstates; vs; vs = vs->next) {
        vs->win.n = 0;
        vs->evwin.n = 0;
    }
    sys->all_dirty = false;
    sys->topo_dirty = false;
    sys->pending = false;
    sys->visits = 0;
}

int gm__update(gm_system *sys, gm_error *err)
{
    bool any = false;
    int ret = 0;
    gm_space *as, *nas;
    struct gm_vstate *vs, *nvs;

    gm__reclaim(sys);
    if (!sys->pending && !sys->all_dirty && !sys->topo_dirty) {
        return 0;
    }
    sys->gen++;

    /* 1. Resolve flat-view roots. */
    for (as = sys->spaces; as; as = as->next) {
        gm_region *root = NULL;

        if (!as->dying) {
            root = gm__resolve_root(as->root);
        }
        if (!sys->topo_dirty && as->vs && !as->is_new) {
            as->next_vs = as->vs;
            continue;
        }
        as->next_vs = vstate_get(sys, root);
        if (!as->next_vs) {
            ret = -ENOMEM;
            goto fail;
        }
        as->next_vs->users++; /* provisional; settled below */
    }

    /* 2. Re-render what changed in every state still in use. */
    for (vs = sys->vstates; vs; vs = vs->next) {
        bool used = false;

        for (as = sys->spaces; as && !used; as = as->next) {
            used = as->next_vs == vs;
        }
        if (!used) {
            continue;
        }
        if (vs->full || vs->win.n || vs->evwin.n || sys->all_dirty) {
            ret = vstate_process(sys, vs);
            if (ret) {
                goto fail;
            }
        }
    }
    for (as = sys->spaces; as; as = as->next) {
        if (as->next_vs != as->vs || as->is_new) {
            ret = compute_switch(as);
            if (ret) {
                goto fail;
            }
            if (as->sw->changed || as->sw->ev_changed) {
                any = true;
            }
        } else if (as->next_vs->changed || as->next_vs->ev_changed) {
            any = true;
        }
    }

    /* 3. Tell the listeners and publish. */
    if (any) {
        sys->in_update = true;
        gm__listeners_begin(sys);
        for (as = sys->spaces; as; as = as->next) {
            vs = as->next_vs;
            if (as->sw) {
                deliver_events(sys, as, as->sw,
                               vs->next_view ? vs->next_view : vs->cur);
                deliver_evfds(sys, as, as->sw->ev_dels.v, as->sw->ev_dels.n,
                              as->sw->ev_adds.v, as->sw->ev_adds.n);
                continue;
            }
            if (vs->changed) {
                deliver_events(sys, as, vs, vs->next_view);
            }
            if (vs->ev_changed) {
                deliver_evfds(sys, as, vs->ev_dels.v, vs->ev_dels.n,
                              vs->ev_adds.v, vs->ev_adds.n);
            }
        }
        gm__listeners_commit(sys);
        sys->in_update = false;
    } else {
        /* Nothing to tell: spaces that moved still get their new view. */
        for (as = sys->spaces; as; as = as->next) {
            if (as->sw) {
                vs = as->next_vs;
                publish(as, vs->next_view ? vs->next_view : vs->cur);
            }
        }
    }
    for (as = sys->spaces; as; as = as->next) {
        if (as->sw) {
            events_free(as->sw);
            as->sw = NULL;
        }
    }

    /* 4. Settle states. */
    for (vs = sys->vstates; vs; vs = vs->next) {
        if (vs->processed) {
            if (vs->next_view) {
                gm__flatview_put(sys, vs->cur);
                vs->cur = vs->next_view;
                vs->next_view = NULL;
            }
            if (!vs->cur) {
                vs->cur = gm__flatview_new(sys, vs->root, NULL, vs->hist,
                                           NULL);
            }
            /* swap the eventfd sets */
            struct gm_evfd_ent *v = vs->evfds.v;
            size_t n = vs->evfds.n, cap = vs->evfds.cap;
            vs->evfds.v = vs->next_evfds.v;
            vs->evfds.n = vs->next_evfds.n;
            vs->evfds.cap = vs->next_evfds.cap;
            vs->next_evfds.v = v;
            vs->next_evfds.n = n;
            vs->next_evfds.cap = cap;
            vs->full = false;
        }
        vstate_scratch_free(vs);
    }
    for (as = sys->spaces; as; as = as->next) {
        if (as->next_vs != as->vs) {
            struct gm_vstate *old = as->vs;
            as->vs = as->next_vs;
            if (old) {
                old->users--;
            }
        } else if (as->next_vs && (sys->topo_dirty || as->is_new)) {
            as->next_vs->users--; /* undo the provisional count */
        }
        as->is_new = false;
        as->next_vs = NULL;
    }
    for (as = sys->spaces; as; as = nas) {
        nas = as->next;
        if (as->dying) {
            gm__space_free(as);
        }
    }
    for (vs = sys->vstates; vs; vs = nvs) {
        nvs = vs->next;
        if (!vs->users) {
            vstate_destroy(sys, vs);
        }
    }
    clear_pending(sys);
    gm__reclaim(sys);
    return ret;

fail:
    /* Keep the windows for the next commit; drop this attempt. */
    for (as = sys->spaces; as; as = as->next) {
        if (as->sw) {
            events_free(as->sw);
            as->sw = NULL;
        }
        if (as->next_vs && (sys->topo_dirty || as->is_new || !as->vs)) {
            as->next_vs->users--;
        }
        as->next_vs = NULL;
    }
    for (vs = sys->vstates; vs; vs = nvs) {
        nvs = vs->next;
        vstate_scratch_free(vs);
        if (!vs->users) {
            vstate_destroy(sys, vs);
        }
    }
    sys->all_dirty = true;
    sys->pending = true;
    return gm__error_set(err, ret, "commit failed: %s", gm_strerror(ret));
}


void gm__commit_teardown(gm_system *sys)
{
    struct gm_scratch *scr = &sys->scr;

    gm__vec_free(&scr->nv);
    gm__vec_free(&scr->ov);
    gm__vec_free(&scr->spans);
    gm__vec_free(&scr->evspans);
    gm__vec_free(&scr->all);
    gm__vec_free(&scr->added);
    gm__render_scratch_free(sys);
    while (sys->vstates) {
        vstate_destroy(sys, sys->vstates);
    }
}
