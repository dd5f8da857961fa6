/* SPDX-License-Identifier: MIT */
/*
 * update/update.c - turning a transaction's changes into new flat views.
 *
 * QEMU re-renders every address space from scratch on every commit and
 * diffs the whole old and new views. Here a commit costs what changed:
 *
 * 1. Dirty windows. Every mutation of region R notes R's extent before and
 *    after the change; the notes walk up the region graph into the sinks of
 *    the view states that can see R (tree/mark.c).
 *
 * 2. At the outermost commit each view state with windows expands them to
 *    the edges of the old ranges they touch, re-renders only those spans
 *    (view/render.c), re-merges with the ranges on either side, diffs old and
 *    new ranges inside the spans for the listeners, and splices the new
 *    ranges into a new persistent tree that shares everything else with the
 *    old one (ranges/); diff.c.
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

#include <stdio.h>
#include <string.h>

#include "update.h"

int gm__update_init(gm_system *sys)
{
    struct gm_update_state *st = calloc(1, sizeof(*st));
    const char *v = getenv("GM_DEBUG_VERIFY");

    if (!st) {
        return -ENOMEM;
    }
    st->verify = v && *v && strcmp(v, "0") != 0;
    sys->update = st;
    return 0;
}

void gm__update_space_add(gm_space *as)
{
    struct gm_update_state *st = as->sys->update;

    as->is_new = true;
    as->prev = st->spaces_tail;
    as->next = NULL;
    if (st->spaces_tail) {
        st->spaces_tail->next = as;
    } else {
        st->spaces = as;
    }
    st->spaces_tail = as;
    as->sys->tree->topo_dirty = true;
    as->sys->tree->pending = true;
}

void gm__update_space_remove(gm_space *as)
{
    struct gm_update_state *st = as->sys->update;

    if (as->prev) {
        as->prev->next = as->next;
    } else {
        st->spaces = as->next;
    }
    if (as->next) {
        as->next->prev = as->prev;
    } else {
        st->spaces_tail = as->prev;
    }
    as->prev = as->next = NULL;
}

/* Unlink and free a space (lock held). */
static void space_free(gm_space *as)
{
    gm_system *sys = as->sys;

    gm__update_space_remove(as);
    gm__access_space_fini(as);
    gm__flatview_put(sys, atomic_load(&as->view));
    gm__vstate_put(sys, as->vs);
    gm_region_unref(as->root);
    free(as->name);
    free(as);
}

void gm__update_replay(gm_listener *l, gm_space *as, bool add)
{
    struct gm_vstate *vs = as->vs;

    gm__listener_begin(l);
    gm__listener_replay_ranges(l, as, add);
    if (vs) {
        for (size_t i = 0; i < vs->evfds.n; i++) {
            const struct gm_ioeventfd *e = &vs->evfds.v[i].e;

            if (i && !gm__evfd_cmp(&vs->evfds.v[i - 1].e, e)) {
                continue;
            }
            gm__listener_eventfd(l, as, add, e);
        }
    }
    gm__listener_commit(l);
}

/*
 * Delivery.
 */

/* Caches of as meeting a range that left, arrived or changed its mask. */
static void caches_changed(gm_space *as, const struct gm_vstate *vs)
{
    gm__access_caches_lock(as);
    for (size_t i = 0; i < vs->dels.n; i++) {
        const struct gm_section *s = &vs->dels.v[i];
        gm__access_caches_stale(as, s->addr, (gm_u128)s->addr + s->size);
    }
    for (size_t i = 0; i < vs->adds.n; i++) {
        const struct gm_section *s = &vs->adds.v[i];

        if (vs->add_kind.v[i] != GM_EV_NOP) {
            gm__access_caches_stale(as, s->addr, (gm_u128)s->addr + s->size);
        }
    }
    gm__access_caches_unlock(as);
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
    caches_changed(as, vs);
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
    ret = gm__collect_all(oldv ? oldv->tree : NULL, &o);
    if (!ret) {
        ret = gm__collect_all(newv ? newv->tree : NULL, &n);
    }
    if (!ret) {
        ret = gm__diff_ranges(ev, o.v, o.n, n.v, n.n);
    }
    /* ioeventfds: old state's current set against the new state's next. */
    if (os) {
        oset = &os->evfds;
    }
    nset = ns->processed ? &ns->next_evfds : &ns->evfds;
    for (size_t i = 0; !ret && oset && i < oset->n; i++) {
        if ((i == 0 || gm__evfd_cmp(&oset->v[i - 1].e, &oset->v[i].e)) &&
            !gm__evset_has(nset, &oset->v[i].e)) {
            ret = gm__vec_push(&ev->ev_dels, oset->v[i]);
        }
    }
    for (size_t i = 0; !ret && i < nset->n; i++) {
        if ((i == 0 || gm__evfd_cmp(&nset->v[i - 1].e, &nset->v[i].e)) &&
            (!oset || !gm__evset_has(oset, &nset->v[i].e))) {
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
    for (struct gm_vstate *vs = sys->update->vstates; vs; vs = vs->next) {
        vs->sink.win.n = 0;
        vs->sink.evwin.n = 0;
    }
    gm__tree_marks_clear(sys);
}

/* Drop the attempt of a failed prepare: nothing was published or told. */
static void prepare_fail(gm_system *sys)
{
    struct gm_vstate *vs, *nvs;
    gm_space *as;

    for (as = sys->update->spaces; as; as = as->next) {
        if (as->sw) {
            events_free(as->sw);
            as->sw = NULL;
        }
        if (as->next_vs && (sys->tree->topo_dirty || as->is_new || !as->vs)) {
            as->next_vs->users--;
        }
        as->next_vs = NULL;
    }
    for (vs = sys->update->vstates; vs; vs = nvs) {
        nvs = vs->next;
        gm__vstate_scratch_free(vs);
        if (!vs->users) {
            gm__vstate_destroy(sys, vs);
        }
    }
    gm__reclaim_abort(sys);
    /* The marks stay: the next commit re-renders the same windows. */
}

/*
 * Phase one: everything that can fail. Resolve the roots, re-render and
 * diff what changed, build the new trees, tables and views, compute the
 * events. Nothing is visible yet; on failure nothing ever was.
 */
static int prepare(gm_system *sys, bool *any)
{
    gm_space *as;
    struct gm_vstate *vs;
    int ret;

    *any = false;
    gm__reclaim_next_gen(sys);

    /* 1. Resolve flat-view roots. */
    for (as = sys->update->spaces; as; as = as->next) {
        gm_region *root = NULL;

        if (!sys->tree->topo_dirty && as->vs && !as->is_new) {
            as->next_vs = as->vs;
            continue;
        }
        if (!as->dying) {
            root = gm__resolve_root(as->root);
        }
        as->next_vs = gm__vstate_get(sys, root);
        if (!as->next_vs) {
            return -ENOMEM;
        }
        as->next_vs->users++; /* provisional; settled by apply() */
    }

    /* 2. Re-render what changed in every state still in use. */
    for (vs = sys->update->vstates; vs; vs = vs->next) {
        bool used = false;

        for (as = sys->update->spaces; as && !used; as = as->next) {
            used = as->next_vs == vs;
        }
        if (!used) {
            continue;
        }
        if (vs->full || vs->sink.win.n || vs->sink.evwin.n ||
            sys->tree->all_dirty) {
            ret = gm__vstate_process(sys, vs);
            if (ret) {
                return ret;
            }
        }
    }
    for (as = sys->update->spaces; as; as = as->next) {
        if (as->next_vs != as->vs || as->is_new) {
            ret = compute_switch(as);
            if (ret) {
                return ret;
            }
            if (as->sw->changed || as->sw->ev_changed) {
                *any = true;
            }
        } else if (as->next_vs->changed || as->next_vs->ev_changed) {
            *any = true;
        }
    }
    /* What the commit made and dropped again is garbage already. */
    gm__reclaim_commit(sys);
    return 0;
}

/*
 * Phase two: nothing here allocates or fails. Tell the listeners, publish,
 * and settle the view states.
 */
static void apply(gm_system *sys, bool any)
{
    gm_space *as, *nas;
    struct gm_vstate *vs, *nvs;

    if (any) {
        sys->base.in_update = true;
        gm__listeners_begin(sys);
        for (as = sys->update->spaces; as; as = as->next) {
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
        sys->base.in_update = false;
    } else {
        /* Nothing to tell: spaces that moved still get their new view. */
        for (as = sys->update->spaces; as; as = as->next) {
            if (as->sw) {
                vs = as->next_vs;
                publish(as, vs->next_view ? vs->next_view : vs->cur);
            }
        }
    }
    for (as = sys->update->spaces; as; as = as->next) {
        if (as->sw) {
            events_free(as->sw);
            as->sw = NULL;
        }
    }

    /* Settle states. */
    for (vs = sys->update->vstates; vs; vs = vs->next) {
        if (vs->processed) {
            if (vs->next_view) {
                gm__flatview_put(sys, vs->cur);
                vs->cur = vs->next_view;
                vs->next_view = NULL;
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
        gm__vstate_scratch_free(vs);
    }
    for (as = sys->update->spaces; as; as = as->next) {
        if (as->next_vs != as->vs) {
            struct gm_vstate *old = as->vs;
            as->vs = as->next_vs;
            if (old) {
                old->users--;
            }
        } else if (as->next_vs && (sys->tree->topo_dirty || as->is_new)) {
            as->next_vs->users--; /* undo the provisional count */
        }
        as->is_new = false;
        as->next_vs = NULL;
    }
    for (as = sys->update->spaces; as; as = nas) {
        nas = as->next;
        if (as->dying) {
            space_free(as);
        }
    }
    for (vs = sys->update->vstates; vs; vs = nvs) {
        nvs = vs->next;
        if (!vs->users) {
            gm__vstate_destroy(sys, vs);
        }
    }
    clear_pending(sys);
}

int gm__update_prepare(gm_system *sys, gm_error *err)
{
    int ret;

    gm__reclaim_drain(sys);
    sys->update->prepared = false;
    if (!sys->tree->pending && !sys->tree->all_dirty &&
        !sys->tree->topo_dirty) {
        return 0;
    }
    ret = prepare(sys, &sys->update->any);
    if (ret) {
        prepare_fail(sys);
        return gm__error_set(err, ret, "commit failed: %s",
                             gm_strerror(ret));
    }
    sys->update->prepared = true;
    return 0;
}

void gm__update_apply(gm_system *sys)
{
    if (sys->update->prepared) {
        sys->update->prepared = false;
        apply(sys, sys->update->any);
        gm__reclaim_drain(sys);
    }
}

int gm__update(gm_system *sys, gm_error *err)
{
    int ret = gm__update_prepare(sys, err);

    if (!ret) {
        gm__update_apply(sys);
    }
    return ret;
}

void gm__update_teardown(gm_system *sys)
{
    struct gm_update_state *st = sys->update;

    while (st->spaces) {
        space_free(st->spaces);
    }
    while (st->vstates) {
        gm__vstate_destroy(sys, st->vstates);
    }
}

void gm__update_fini(gm_system *sys)
{
    struct gm_update_state *st = sys->update;
    struct gm_scratch *scr;

    if (!st) {
        return;
    }
    scr = &st->scr;
    gm__vec_free(&scr->nv);
    gm__vec_free(&scr->ov);
    gm__vec_free(&scr->spans);
    gm__vec_free(&scr->evspans);
    gm__vec_free(&scr->all);
    gm__vec_free(&scr->added);
    gm__update_teardown(sys);
    free(st);
    sys->update = NULL;
}
