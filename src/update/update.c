/* SPDX-License-Identifier: MIT */
/*
 * update/update.c - turning a transaction's changes into new flat views.
 *
 * QEMU re-renders every address space from scratch on every commit and
 * diffs the whole old and new views; a machine with a bus-master address
 * space per PCI device pays that per device. Here a commit costs what
 * changed, however many devices, spaces and listeners exist:
 *
 * 1. Marks. Every mutation of region R notes R's extent before and after
 *    the change; the notes walk up the region graph, only where a view can
 *    be reached, into the sinks of the view states that can see R, and
 *    queue those sinks (tree/mark.c). Changes of the shape near a space's
 *    root flag the spaces whose resolution went through there.
 *
 * 2. Resolution. Only flagged spaces resolve their root again (QEMU's
 *    flat-view root rule), recording the regions the answer depends on.
 *
 * 3. Views. Only queued view states (and new ones) re-render: each expands
 *    its windows to the edges of the old ranges they touch, re-renders those
 *    spans, diffs them for the listeners, splices the new ranges into a new
 *    persistent tree and dispatch table, and updates its ioeventfd set for
 *    the same spans (diff.c, evset.c).
 *
 * 4. Telling. The spaces listeners hear of are those of the changed states
 *    that some listener wants (all of them when one listener hears every
 *    space, else the ones with listeners filtered on them) and the spaces
 *    that moved to another state; they are told in creation order: every
 *    region_del first (old views still published), then the new views are
 *    published (one store per view state, shared by all its spaces),
 *    then additions, nops, log changes, and eventfd changes; begin and
 *    commit bracket it for the listeners concerned. Nothing is published
 *    and no listener runs when nothing changed.
 *
 * Steps 2, 3 and the choice of whom to tell happen in prepare(), which
 * may fail and changes nothing visible; apply() cannot fail.
 *
 * With GM_DEBUG_VERIFY=1 in the environment every incremental result is
 * compared with a full render (the property tests run that way).
 */
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
    if (gm__vstates_init(sys)) {
        free(st);
        sys->update = NULL;
        return -ENOMEM;
    }
    return 0;
}

static struct gm_space_update *U(const gm_space *as)
{
    return as->upd;
}

/*
 * A space's place in its view state's lists.
 */

#define SLIST_ADD(head, as, PREV, NEXT)                                        \
    do {                                                                       \
        U(as)->PREV = NULL;                                                    \
        U(as)->NEXT = (head);                                                  \
        if (head) {                                                            \
            U(head)->PREV = (as);                                              \
        }                                                                      \
        (head) = (as);                                                         \
    } while (0)

#define SLIST_DEL(head, as, PREV, NEXT)                                        \
    do {                                                                       \
        if (U(as)->PREV) {                                                     \
            U(U(as)->PREV)->NEXT = U(as)->NEXT;                                \
        } else {                                                               \
            (head) = U(as)->NEXT;                                              \
        }                                                                      \
        if (U(as)->NEXT) {                                                     \
            U(U(as)->NEXT)->PREV = U(as)->PREV;                                \
        }                                                                      \
        U(as)->PREV = U(as)->NEXT = NULL;                                      \
    } while (0)

static void vs_join(struct gm_vstate *vs, gm_space *as)
{
    U(as)->vs = vs;
    vs->users++;
    SLIST_ADD(vs->spaces, as, vs_prev, vs_next);
    if (U(as)->nr_filtered) {
        SLIST_ADD(vs->watched, as, w_prev, w_next);
    }
}

static void vs_leave(gm_space *as)
{
    struct gm_vstate *vs = U(as)->vs;

    SLIST_DEL(vs->spaces, as, vs_prev, vs_next);
    if (U(as)->nr_filtered) {
        SLIST_DEL(vs->watched, as, w_prev, w_next);
    }
    vs->users--;
    U(as)->vs = NULL;
}

void gm__update_space_filter(gm_space *as, int delta)
{
    struct gm_space_update *u = U(as);

    if (delta > 0 && u->nr_filtered++ == 0) {
        SLIST_ADD(u->vs->watched, as, w_prev, w_next);
    } else if (delta < 0 && --u->nr_filtered == 0) {
        SLIST_DEL(u->vs->watched, as, w_prev, w_next);
    }
}

/*
 * Spaces.
 */

int gm__update_space_add(gm_space *as)
{
    struct gm_update_state *st = as->sys->update;
    struct gm_space_update *u;

    if (!st->empty && gm__vstates_init(as->sys)) {
        return -ENOMEM;
    }
    u = calloc(1, sizeof(*u));
    if (!u) {
        return -ENOMEM;
    }
    as->upd = u;
    u->as = as;
    u->id = ++st->next_id;
    u->is_new = true;
    u->prev = st->spaces_tail;
    if (st->spaces_tail) {
        U(st->spaces_tail)->next = as;
    } else {
        st->spaces = as;
    }
    st->spaces_tail = as;
    vs_join(st->empty, as);
    atomic_store_explicit(&as->cell, st->empty->cell, memory_order_release);
    gm__watcher_flag(as->sys, &u->watcher);
    return 0;
}

static void chain_free(struct gm_watch *w, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        gm__watch_del(&w[i]);
    }
    free(w);
}

void gm__update_space_remove(gm_space *as)
{
    struct gm_update_state *st = as->sys->update;
    struct gm_space_update *u = U(as);

    if (u->prev) {
        U(u->prev)->next = u->next;
    } else {
        st->spaces = u->next;
    }
    if (u->next) {
        U(u->next)->prev = u->prev;
    } else {
        st->spaces_tail = u->prev;
    }
    gm__watcher_unflag(as->sys, &u->watcher);
    vs_leave(as);
    chain_free(u->chain, u->chain_n);
    free(u);
    as->upd = NULL;
}

void gm__update_space_dying(gm_space *as, bool dying)
{
    U(as)->dying = dying;
    if (dying) {
        gm__watcher_flag(as->sys, &U(as)->watcher);
    }
}

/* Unlink and free a space (lock held). */
static void space_free(gm_space *as)
{
    gm__update_space_remove(as);
    gm__access_space_fini(as);
    gm_region_unref(as->root);
    free(as->name);
    free(as);
}

struct replay_ctx {
    gm_listener *l;
    gm_space *as;
    bool add;
};

static void replay_evfd(const struct gm_ioeventfd *e, void *opaque)
{
    struct replay_ctx *c = opaque;

    gm__listener_eventfd(c->l, c->as, c->add, e);
}

void gm__update_replay(gm_listener *l, gm_space *as, bool add)
{
    struct replay_ctx c = {l, as, add};

    gm__listener_begin(l);
    gm__listener_replay_ranges(l, as, add);
    gm__evset_foreach(U(as)->vs, replay_evfd, &c);
    gm__listener_commit(l);
}

/*
 * Phase one.
 */

/* Queue vs to be processed in this update. */
static int work_add(struct gm_update_state *st, struct gm_vstate *vs)
{
    if (vs->queued) {
        return 0;
    }
    if (gm__vec_push(&st->scr.work, vs)) {
        return -ENOMEM;
    }
    vs->queued = true;
    return 0;
}

/* Resolve as's root again: its next state and the chain to watch. */
static int resolve(gm_system *sys, gm_space *as)
{
    struct gm_update_state *st = sys->update;
    struct gm_space_update *u = U(as);
    gm_regionvec *chain = &st->scr.chain;
    gm_region *root = NULL;
    struct gm_vstate *nvs;
    int ret;

    chain->n = 0;
    if (!u->dying) {
        ret = gm__resolve_root(as->root, &root, chain);
        if (ret) {
            return ret;
        }
    }
    nvs = gm__vstate_get(sys, root);
    if (!nvs) {
        return -ENOMEM;
    }
    u->next_vs = nvs;
    if (nvs->full && work_add(st, nvs)) {
        return -ENOMEM;
    }
    if (chain->n) {
        u->next_chain = calloc(chain->n, sizeof(*u->next_chain));
        if (!u->next_chain) {
            return -ENOMEM;
        }
        for (size_t i = 0; i < chain->n; i++) {
            if (gm__watch_reserve(chain->v[i])) {
                return -ENOMEM;
            }
            u->next_chain[i].r = chain->v[i]; /* linked by apply() */
            u->next_chain_n = i + 1;
        }
    }
    if (nvs != u->vs || u->is_new || u->dying) {
        u->switching = true;
        nvs->joining += nvs != u->vs;
        u->vs->leaving += nvs != u->vs;
    }
    return 0;
}

/* Full diff for a space that changes view state, is new, or dying. */
static int compute_switch(gm_space *as)
{
    struct gm_space_update *u = U(as);
    struct gm_vstate *ns = u->next_vs, *os = u->vs;
    gm_flatview *newv = ns->next_view ? ns->next_view : gm__cell_view(ns->cell);
    gm_flatview *oldv = gm__cell_view(os->cell);
    struct gm_events *ev = calloc(1, sizeof(*ev));
    gm_rangevec o = {0}, n = {0};
    gm_evfdvec ok = {0}, nk = {0};
    size_t i = 0, j = 0;
    int ret;

    if (!ev) {
        return -ENOMEM;
    }
    u->sw = ev;
    ret = gm__collect_all(oldv ? oldv->tree : NULL, &o);
    if (!ret && !u->dying) {
        ret = gm__collect_all(newv ? newv->tree : NULL, &n);
    }
    if (!ret) {
        ret = gm__diff_ranges(ev, o.v, o.n, n.v, n.n);
    }
    /* ioeventfds: the old state's keys now against the new one's next. */
    if (!ret) {
        ret = gm__evset_keys(os, false, &ok);
    }
    if (!ret && !u->dying) {
        ret = gm__evset_keys(ns, true, &nk);
    }
    while (!ret && (i < ok.n || j < nk.n)) {
        int c = i == ok.n ? 1 : j == nk.n ? -1
                                          : gm__evfd_cmp(&ok.v[i], &nk.v[j]);

        if (c < 0) {
            ret = gm__vec_push(&ev->ev_dels, ok.v[i++]);
        } else if (c > 0) {
            ret = gm__vec_push(&ev->ev_adds, nk.v[j++]);
        } else {
            i++;
            j++;
        }
    }
    ev->ev_changed = ev->ev_dels.n || ev->ev_adds.n;
    gm__vec_free(&o);
    gm__vec_free(&n);
    gm__vec_free(&ok);
    gm__vec_free(&nk);
    return ret;
}

static int cmp_space(const void *a, const void *b)
{
    uint64_t x = U(*(gm_space *const *)a)->id;
    uint64_t y = U(*(gm_space *const *)b)->id;

    return x < y ? -1 : x > y;
}

/* The spaces listeners hear of, in creation order. */
static int choose_told(gm_system *sys)
{
    struct gm_update_state *st = sys->update;
    struct gm_scratch *scr = &st->scr;

    scr->told.n = 0;
    for (size_t i = 0; i < scr->work.n; i++) {
        struct gm_vstate *vs = scr->work.v[i];
        gm_space *as;

        if (!vs->processed || !(vs->ev.changed || vs->ev.ev_changed)) {
            continue;
        }
        as = sys->listen->nr_global ? vs->spaces : vs->watched;
        for (; as; as = sys->listen->nr_global ? U(as)->vs_next
                                               : U(as)->w_next) {
            if (!U(as)->switching && gm__vec_push(&scr->told, as)) {
                return -ENOMEM;
            }
        }
    }
    for (size_t i = 0; i < scr->resolved.n; i++) {
        gm_space *as = scr->resolved.v[i];
        struct gm_events *sw = U(as)->sw;

        if (sw && (sw->changed || sw->ev_changed) &&
            gm__vec_push(&scr->told, as)) {
            return -ENOMEM;
        }
    }
    if (scr->told.n > 1) {
        qsort(scr->told.v, scr->told.n, sizeof(*scr->told.v), cmp_space);
    }
    return gm__listeners_prepare(sys, scr->told.v, scr->told.n);
}

/*
 * Everything that can fail, changing nothing visible: resolve the flagged
 * spaces, process the queued states, compute what listeners will hear.
 */
static int prepare(gm_system *sys)
{
    struct gm_update_state *st = sys->update;
    struct gm_tree_state *ts = sys->tree;
    struct gm_scratch *scr = &st->scr;
    int ret;

    gm__reclaim_next_gen(sys);
    scr->resolved.n = scr->work.n = 0;

    /* Resolution. */
    if (ts->flag_all) {
        for (gm_space *as = st->spaces; as; as = U(as)->next) {
            if (gm__vec_push(&scr->resolved, as)) {
                return -ENOMEM;
            }
        }
    } else {
        for (size_t i = 0; i < ts->flagged.n; i++) {
            struct gm_space_update *u = caa_container_of(
                ts->flagged.v[i], struct gm_space_update, watcher);

            if (gm__vec_push(&scr->resolved, u->as)) {
                return -ENOMEM;
            }
        }
    }
    for (size_t i = 0; i < scr->resolved.n; i++) {
        ret = resolve(sys, scr->resolved.v[i]);
        if (ret) {
            return ret;
        }
    }

    /* Views. */
    if (ts->all_dirty) {
        for (struct gm_vstate *vs = st->vstates; vs; vs = vs->next) {
            if (!vs->permanent && work_add(st, vs)) {
                return -ENOMEM;
            }
        }
    }
    for (size_t i = 0; i < ts->sinks.n; i++) {
        struct gm_vstate *vs =
            caa_container_of(ts->sinks.v[i], struct gm_vstate, sink);

        if (work_add(st, vs)) {
            return -ENOMEM;
        }
    }
    for (size_t i = 0; i < scr->work.n; i++) {
        struct gm_vstate *vs = scr->work.v[i];

        if (vs->users + vs->joining > vs->leaving) {
            ret = gm__vstate_process(sys, vs);
            if (ret) {
                return ret;
            }
        }
    }

    /* Switches, heard only where some listener hears the space. */
    for (size_t i = 0; i < scr->resolved.n; i++) {
        gm_space *as = scr->resolved.v[i];

        if (U(as)->switching && gm__listen_any_for(sys, as)) {
            ret = compute_switch(as);
            if (ret) {
                return ret;
            }
        }
    }
    ret = choose_told(sys);
    if (!ret && gm__vec_reserve(&scr->gone, scr->resolved.n)) {
        ret = -ENOMEM;
    }
    if (ret) {
        return ret;
    }
    /* What the commit made and dropped again is garbage already. */
    gm__reclaim_commit(sys);
    return 0;
}

/* Drop the attempt of a failed prepare: nothing was published or told. */
static void prepare_fail(gm_system *sys)
{
    struct gm_update_state *st = sys->update;
    struct gm_scratch *scr = &st->scr;

    for (size_t i = 0; i < scr->resolved.n; i++) {
        struct gm_space_update *u = U(scr->resolved.v[i]);

        if (u->sw) {
            gm__events_free(u->sw);
            free(u->sw);
            u->sw = NULL;
        }
        if (u->next_vs) {
            u->next_vs->joining = 0;
        }
        u->vs->leaving = 0;
        for (size_t j = 0; j < u->next_chain_n; j++) {
            gm__watch_unreserve(u->next_chain[j].r);
        }
        free(u->next_chain); /* its watches were never linked */
        u->next_chain = NULL;
        u->next_chain_n = 0;
        u->next_vs = NULL;
        u->switching = false;
    }
    for (struct gm_vstate *vs = st->vstates, *nvs; vs; vs = nvs) {
        nvs = vs->next;
        gm__vstate_scratch_free(vs);
        if (!vs->users && !vs->permanent) {
            gm__vstate_destroy(sys, vs); /* made by this attempt */
        }
    }
    scr->work.n = scr->resolved.n = scr->told.n = 0;
    gm__reclaim_abort(sys);
    /* The marks stay: the next commit re-renders the same windows. */
}

/*
 * Phase two: nothing here allocates or fails.
 */

static const struct gm_events *events_of(const gm_space *as)
{
    return U(as)->sw ? U(as)->sw : &U(as)->vs->ev;
}

static void tell_dels(gm_system *sys, gm_space *as)
{
    const struct gm_events *ev = events_of(as);

    for (size_t i = 0; i < ev->dels.n; i++) {
        gm__listeners_region(sys, as, GM_EV_DEL, &ev->dels.v[i], 0, 0,
                             ev->del_coal.v[i]);
    }
}

static void tell_adds(gm_system *sys, gm_space *as)
{
    const struct gm_events *ev = events_of(as);

    for (size_t i = 0; i < ev->adds.n; i++) {
        const struct gm_section *s = &ev->adds.v[i];

        gm__listeners_region(sys, as, (enum gm_ev_kind)ev->add_kind.v[i], s,
                             ev->add_oldmask.v[i], s->dirty_log_mask,
                             ev->add_coal.v[i]);
    }
}

static void tell_evfds(gm_system *sys, gm_space *as)
{
    const struct gm_events *ev = events_of(as);

    for (size_t i = 0; i < ev->ev_dels.n; i++) {
        gm__listeners_eventfd(sys, as, false, &ev->ev_dels.v[i]);
    }
    for (size_t i = 0; i < ev->ev_adds.n; i++) {
        gm__listeners_eventfd(sys, as, true, &ev->ev_adds.v[i]);
    }
}

/* Publish vs's new view; caches meeting a range that changed resolve. */
static void publish(gm_system *sys, struct gm_vstate *vs)
{
    const struct gm_events *ev = &vs->ev;

    gm__cell_publish(sys, vs->cell, vs->next_view);
    vs->next_view = NULL;
    gm__access_cell_lock(vs->cell);
    for (size_t i = 0; i < ev->dels.n; i++) {
        const struct gm_section *s = &ev->dels.v[i];
        gm__access_cell_stale(vs->cell, s->addr, (gm_u128)s->addr + s->size);
    }
    for (size_t i = 0; i < ev->adds.n; i++) {
        const struct gm_section *s = &ev->adds.v[i];

        if (ev->add_kind.v[i] != GM_EV_NOP) {
            gm__access_cell_stale(vs->cell, s->addr,
                                  (gm_u128)s->addr + s->size);
        }
    }
    gm__access_cell_unlock(vs->cell);
}

/* Move a re-resolved space to its next state and watch its new chain. */
static void settle_space(gm_system *sys, gm_space *as)
{
    struct gm_update_state *st = sys->update;
    struct gm_space_update *u = U(as);

    u->vs->leaving = 0;
    u->next_vs->joining = 0;
    chain_free(u->chain, u->chain_n);
    u->chain = u->next_chain;
    u->chain_n = u->next_chain_n;
    u->next_chain = NULL;
    u->next_chain_n = 0;
    for (size_t i = 0; i < u->chain_n; i++) {
        gm__watch_add(&u->chain[i], u->chain[i].r, &u->watcher);
    }
    if (u->next_vs != u->vs) {
        struct gm_vstate *old = u->vs;

        vs_leave(as);
        vs_join(u->next_vs, as);
        atomic_store_explicit(&as->cell, u->next_vs->cell,
                              memory_order_release);
        gm__access_space_moved(as);
        if (!old->users && !old->permanent) {
            /* Reserved by prepare: at most one entry per resolved space. */
            st->scr.gone.v[st->scr.gone.n++] = old;
        }
    }
    if (u->sw) {
        gm__events_free(u->sw);
        free(u->sw);
        u->sw = NULL;
    }
    u->next_vs = NULL;
    u->is_new = false;
    u->switching = false;
}

static void apply(gm_system *sys)
{
    struct gm_update_state *st = sys->update;
    struct gm_scratch *scr = &st->scr;
    bool tell = scr->told.n != 0;

    if (tell) {
        sys->base.in_update = true;
        gm__listeners_begin(sys);
        for (size_t i = 0; i < scr->told.n; i++) {
            tell_dels(sys, scr->told.v[i]);
        }
    }
    for (size_t i = 0; i < scr->work.n; i++) {
        struct gm_vstate *vs = scr->work.v[i];

        if (vs->processed && vs->next_view) {
            publish(sys, vs);
        }
    }
    scr->gone.n = 0;
    for (size_t i = 0; i < scr->resolved.n; i++) {
        gm_space *as = scr->resolved.v[i];

        if (U(as)->next_vs != U(as)->vs) {
            /* Readers of the space now read the other state's cell. */
            atomic_store_explicit(&as->cell, U(as)->next_vs->cell,
                                  memory_order_release);
        }
    }
    if (tell) {
        for (size_t i = 0; i < scr->told.n; i++) {
            tell_adds(sys, scr->told.v[i]);
        }
        for (size_t i = 0; i < scr->told.n; i++) {
            tell_evfds(sys, scr->told.v[i]);
        }
        gm__listeners_commit(sys);
        sys->base.in_update = false;
    }

    /* Settle: ioeventfd sets, spaces, marks, then what is gone. */
    for (size_t i = 0; i < scr->work.n; i++) {
        struct gm_vstate *vs = scr->work.v[i];

        if (vs->processed) {
            gm__vstate_initially_dirty(sys, vs);
            gm__evset_apply(vs);
            vs->full = false;
        }
        gm__vstate_scratch_free(vs);
    }
    for (size_t i = 0; i < scr->resolved.n; i++) {
        settle_space(sys, scr->resolved.v[i]);
    }
    gm__tree_marks_clear(sys);
    for (size_t i = 0; i < scr->resolved.n; i++) {
        gm_space *as = scr->resolved.v[i];

        if (U(as)->dying) {
            space_free(as);
        }
    }
    for (size_t i = 0; i < scr->gone.n; i++) {
        if (!scr->gone.v[i]->users) {
            gm__vstate_destroy(sys, scr->gone.v[i]);
        }
    }
    scr->work.n = scr->resolved.n = scr->told.n = scr->gone.n = 0;
}

int gm__update_prepare(gm_system *sys, gm_error *err)
{
    struct gm_update_state *st = sys->update;
    int ret;

    gm__reclaim_drain(sys);
    st->prepared = false;
    if (!sys->tree->pending) {
        return 0;
    }
    ret = prepare(sys);
    if (ret) {
        prepare_fail(sys);
        return gm__error_set(err, ret, "commit failed: %s", gm_strerror(ret));
    }
    st->prepared = true;
    return 0;
}

void gm__update_apply(gm_system *sys)
{
    if (sys->update->prepared) {
        sys->update->prepared = false;
        apply(sys);
        gm__reclaim_drain(sys);
        gm__ram_resized_flush(sys); /* resizes told: now their owners */
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
    gm__tree_marks_clear(sys);
    while (st->vstates) {
        gm__vstate_destroy(sys, st->vstates);
    }
    st->empty = NULL; /* made again if the system is used again (-EBUSY) */
}

void gm__update_fini(gm_system *sys)
{
    struct gm_update_state *st = sys->update;
    struct gm_scratch *scr;

    if (!st) {
        return;
    }
    scr = &st->scr;
    gm__update_teardown(sys);
    gm__vec_free(&scr->nv);
    gm__vec_free(&scr->ov);
    gm__vec_free(&scr->spans);
    gm__vec_free(&scr->evspans);
    gm__vec_free(&scr->all);
    gm__vec_free(&scr->chain);
    gm__vec_free(&scr->resolved);
    gm__vec_free(&scr->work);
    gm__vec_free(&scr->gone);
    gm__vec_free(&scr->told);
    free(st);
    sys->update = NULL;
}
