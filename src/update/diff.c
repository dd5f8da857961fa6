/* SPDX-License-Identifier: MIT */
/*
 * update/diff.c - re-rendering a view state's windows: spans, diff, splice.
 *
 * At the outermost commit each view state with windows expands them to the
 * edges of the old ranges they touch (spans), re-renders only those spans
 * (view/render.c), re-merges with the ranges on either side, diffs old and
 * new ranges inside the spans for the listeners (QEMU's symmetric
 * difference: del, add, nop, log_start, log_stop), and splices the new
 * ranges into a new persistent tree that shares everything else with the
 * old one (ranges/), then updates the dispatch table over the spans
 * (dispatch/). Nothing here is visible until update.c publishes.
 */
#include "update.h"

static const gm_u128 SPACE_END = GM_SIZE_2_64;

/* Expand windows to whole old ranges and merge spans sharing a neighbour. */
static int make_spans(const struct gm_fv_node *t,
                      const gm_winvec *w, gm_spanvec *out)
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
            struct gm_span *l = &out->v[out->n - 1];
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
        struct gm_span sp = {a, b, 0, 0, 0, 0};
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

int gm__collect_all(const struct gm_fv_node *t, gm_rangevec *out)
{
    struct walk_ctx c = {out, 0};

    out->n = 0;
    gm__fv_walk(t, 0, UINT64_MAX, collect_range, &c);
    return c.err;
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

/* oldmask: LOG_*'s old mask; old: a COALESCE's old coalesced ranges. */
static int ev_add(struct gm_events *ev, enum gm_ev_kind k,
                  const struct gm_range *rg, uint8_t oldmask,
                  struct gm_coal *old)
{
    struct gm_section s;

    gm__range_to_section(rg, NULL, &s);
    if (k == GM_EV_DEL) {
        ev->changed = true;
        return gm__vec_push(&ev->dels, s) ||
                       gm__vec_push(&ev->del_coal, rg->coal)
                   ? -ENOMEM
                   : 0;
    }
    if (k != GM_EV_NOP) {
        ev->changed = true;
    }
    if (gm__vec_push(&ev->adds, s) || gm__vec_push(&ev->add_kind, k) ||
        gm__vec_push(&ev->add_oldmask, oldmask) ||
        gm__vec_push(&ev->add_coal, old)) {
        return -ENOMEM;
    }
    return 0;
}

/* QEMU's symmetric difference of two sorted range lists. */
int gm__diff_ranges(struct gm_events *ev, const struct gm_range *o,
                    size_t no, const struct gm_range *n, size_t nn)
{
    size_t i = 0, j = 0;
    int ret = 0;

    while (!ret && (i < no || j < nn)) {
        if (i < no && (j == nn || o[i].start < n[j].start ||
                       (o[i].start == n[j].start &&
                        !gm__range_equal(&o[i], &n[j])))) {
            ret = ev_add(ev, GM_EV_DEL, &o[i++], 0, NULL);
        } else if (i < no && j < nn && gm__range_equal(&o[i], &n[j])) {
            ret = ev_add(ev, GM_EV_NOP, &n[j], 0, NULL);
            if (!ret && (n[j].mask & ~o[i].mask)) {
                ret = ev_add(ev, GM_EV_LOG_START, &n[j], o[i].mask, NULL);
            }
            if (!ret && (o[i].mask & ~n[j].mask)) {
                ret = ev_add(ev, GM_EV_LOG_STOP, &n[j], o[i].mask, NULL);
            }
            if (!ret && o[i].coal != n[j].coal) {
                ret = ev_add(ev, GM_EV_COALESCE, &n[j], 0, o[i].coal);
            }
            i++;
            j++;
        } else {
            ret = ev_add(ev, GM_EV_ADD, &n[j++], 0, NULL);
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
        for (size_t i = 0; i < n && !tx->err; i++) {
            gm__fv_insert(tx, t, &v[i]);
        }
        return tx->err;
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
/*
 * &v->v[i], where i may be v->n; NULL for a vector never allocated (NULL
 * plus an offset, even 0, is undefined behaviour in C).
 */
static const struct gm_range *at(const gm_rangevec *v, size_t i)
{
    return v->v ? v->v + i : NULL;
}

int gm__vstate_process(gm_system *sys, struct gm_vstate *vs)
{
    gm_flatview *cur = gm__cell_view(vs->cell);
    struct gm_fv_node *old = cur ? cur->tree : NULL;
    struct gm_fv_node *t = old; /* working tree: old nodes stay intact */
    struct gm_txn tx = {sys, sys->reclaim->gen, &vs->gc, 0};
    struct gm_dispatch disp = {0, 0};
    struct gm_scratch *scr = &sys->update->scr;
    gm_rangevec nv = scr->nv, ov = scr->ov;
    gm_spanvec spans = scr->spans, evspans = scr->evspans;
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
        vs->ev.changed = true;
        ret = gm__evset_prepare(vs, t, NULL);
        if (ret) {
            goto fail;
        }
        goto publish;
    }

    if (sys->tree->all_dirty) {
        struct gm_window all = {0, SPACE_END};

        vs->sink.win.n = 0;
        if (gm__vec_push(&vs->sink.win, all)) {
            ret = -ENOMEM;
            goto fail;
        }
    }
    gm__windows_normalize(&vs->sink.win);
    gm__windows_normalize(&vs->sink.evwin);
    ret = make_spans(old, &vs->sink.win, &spans);
    if (ret) {
        goto fail;
    }
    for (size_t i = 0; i < spans.n && !ret; i++) {
        struct gm_span *sp = &spans.v[i];
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
            ret = gm__diff_ranges(&vs->ev, at(&ov, sp->o0), sp->o1 - sp->o0,
                              at(&nv, sp->n0), sp->n1 - sp->n0);
        }
    }
    if (ret) {
        goto fail;
    }
    if (vs->ev.changed) {
        for (size_t i = spans.n; i-- > 0 && !ret;) {
            struct gm_span *sp = &spans.v[i];
            ret = splice(&tx, &t, sp->s, sp->e, at(&ov, sp->o0),
                         sp->o1 - sp->o0, at(&nv, sp->n0), sp->n1 - sp->n0);
        }
        if (cur) {
            disp = cur->disp;
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
    if (!sys->tree->nr_evfds && !vs->ev_src) {
        goto publish; /* no ioeventfd anywhere: the set stays empty */
    }
    if (vs->ev_src || vs->sink.evwin.n || vs->ev.changed ||
        sys->tree->all_dirty) {
        gm_winvec all = scr->all;

        all.n = 0;
        for (size_t i = 0; i < spans.n && !ret; i++) {
            struct gm_window w = {spans.v[i].s, spans.v[i].e};
            ret = gm__vec_push(&all, w);
        }
        for (size_t i = 0; i < vs->sink.evwin.n && !ret; i++) {
            ret = gm__vec_push(&all, vs->sink.evwin.v[i]);
        }
        if (!ret) {
            gm__windows_normalize(&all);
            ret = make_spans(t, &all, &evspans);
        }
        scr->all = all;
    }
    if (!ret) {
        ret = gm__evset_prepare(vs, t, &evspans);
    }
    if (ret) {
        goto fail;
    }

publish:
    if (tx.err) {
        ret = tx.err; /* a drop could not be remembered */
        goto fail;
    }
    if (sys->update->verify) {
        gm__verify_view(sys, vs, t, vs->ev.changed ? &disp : &cur->disp);
    }
    if (vs->ev.changed) {
        vs->next_view = gm__flatview_new(sys, vs->root, t, &disp, vs->hist,
                                         &vs->gc);
        if (!vs->next_view) {
            ret = -ENOMEM;
            goto fail;
        }
    }
    vs->processed = true;
    goto out;
fail:
    /* What this commit made is freed by its failure (reclaim/). */
    vs->gc.n = 0; /* still used by the current version */
out:
    scr->nv = nv;
    scr->ov = ov;
    scr->spans = spans;
    scr->evspans = evspans;
    return ret;
}
