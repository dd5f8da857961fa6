/* SPDX-License-Identifier: MIT */
/*
 * update/evset.c - the ioeventfd set of a view, and what a commit changed
 * in it.
 *
 * A view's set holds every ioeventfd of every range's region that falls in
 * the range, at its absolute address, tagged with the range it came from.
 * A commit recomputes the entries of the spans it re-rendered (or that an
 * ioeventfd-only change marked) and diffs the keys, so listeners see
 * eventfd_add / eventfd_del once per key.
 */
#include "update.h"

static const gm_u128 SPACE_END = GM_SIZE_2_64;

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

bool gm__evset_has(const gm_evvec *set,
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

static bool in_spans(const gm_spanvec *sp, uint64_t x)
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
int gm__evset_update(struct gm_vstate *vs, const struct gm_fv_node *t,
                     const gm_spanvec *spans)
{
    gm_evvec added = vs->sys->update->scr.added;
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
        if (!gm__evset_has(&vs->next_evfds, &x->e)) {
            ret = gm__vec_push(&vs->ev_dels, *x);
        }
    }
    for (size_t i = 0; i < vs->next_evfds.n && !ret; i++) {
        const struct gm_evfd_ent *x = &vs->next_evfds.v[i];
        if (i && !gm__evfd_cmp(&vs->next_evfds.v[i - 1].e, &x->e)) {
            continue;
        }
        if (!gm__evset_has(&vs->evfds, &x->e)) {
            ret = gm__vec_push(&vs->ev_adds, *x);
        }
    }
    if (vs->ev_dels.n || vs->ev_adds.n) {
        vs->ev_changed = true;
    }
out:
    vs->sys->update->scr.added = added;
    return ret;
}
