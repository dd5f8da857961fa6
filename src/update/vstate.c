/* SPDX-License-Identifier: MIT */
/*
 * update/vstate.c - view states: one per distinct resolved root.
 *
 * Spaces whose roots resolve to the same region (QEMU's flat-view root
 * rule) share one view state and so one view, one history and one
 * ioeventfd set; all spaces whose root renders nothing, and new spaces
 * until their first update, share the empty state, which lives as long as
 * the system. A state attaches its sink to its root region, so marks that
 * reach the root land in it. Other states live while spaces use them.
 * Once a state's new view is published, the RAM of its ranges that appear
 * with a dirty-log mask (or gain clients) is marked dirty.
 */
#include "update.h"

static struct gm_vstate *vstate_new(gm_system *sys, gm_region *root)
{
    struct gm_vstate *vs = calloc(1, sizeof(*vs));

    if (!vs) {
        return NULL;
    }
    vs->hist = gm__view_history_new();
    vs->cell = gm__cell_new(sys, NULL);
    if (!vs->hist || !vs->cell) {
        free(vs->hist);
        if (vs->cell) {
            gm__cell_retire(sys, vs->cell);
        }
        free(vs);
        return NULL;
    }
    vs->sys = sys;
    vs->root = gm_region_ref(root);
    vs->full = true;
    if (root) {
        gm__tree_attach_sink(root, &vs->sink);
    }
    vs->next = sys->update->vstates;
    sys->update->vstates = vs;
    return vs;
}

int gm__vstates_init(gm_system *sys)
{
    struct gm_vstate *vs = vstate_new(sys, NULL);
    gm_flatview *fv;

    if (!vs) {
        return -ENOMEM;
    }
    fv = gm__flatview_new(sys, NULL, NULL, NULL, vs->hist, NULL);
    if (!fv) {
        gm__vstate_destroy(sys, vs);
        return -ENOMEM;
    }
    gm__cell_publish(sys, vs->cell, fv);
    vs->full = false;
    vs->permanent = true;
    sys->update->empty = vs;
    return 0;
}

struct gm_vstate *gm__vstate_get(gm_system *sys, gm_region *root)
{
    if (!root) {
        return sys->update->empty;
    }
    if (root->sink) {
        return caa_container_of(root->sink, struct gm_vstate, sink);
    }
    return vstate_new(sys, root);
}

static void events_clear(struct gm_events *ev)
{
    ev->dels.n = ev->adds.n = ev->add_kind.n = ev->add_oldmask.n = 0;
    ev->del_coal.n = ev->add_coal.n = 0;
    ev->ev_dels.n = ev->ev_adds.n = 0;
    ev->changed = ev->ev_changed = false;
}

void gm__events_free(struct gm_events *ev)
{
    gm__vec_free(&ev->dels);
    gm__vec_free(&ev->adds);
    gm__vec_free(&ev->add_kind);
    gm__vec_free(&ev->add_oldmask);
    gm__vec_free(&ev->del_coal);
    gm__vec_free(&ev->add_coal);
    gm__vec_free(&ev->ev_dels);
    gm__vec_free(&ev->ev_adds);
}

void gm__vstate_scratch_free(struct gm_vstate *vs)
{
    if (vs->next_view) {
        /* Never published: only possible on error paths. */
        gm__flatview_discard(vs->next_view);
        vs->next_view = NULL;
    }
    gm__evset_cancel(vs);
    events_clear(&vs->ev);
    vs->processed = vs->queued = false;
    vs->joining = vs->leaving = 0;
}

void gm__vstate_destroy(gm_system *sys, struct gm_vstate *vs)
{
    struct gm_vstate **pp;

    for (pp = &sys->update->vstates; *pp; pp = &(*pp)->next) {
        if (*pp == vs) {
            *pp = vs->next;
            break;
        }
    }
    gm__vstate_scratch_free(vs);
    gm__sink_forget(sys, &vs->sink);
    if (vs->root) {
        gm__tree_detach_sink(vs->root);
        gm_region_unref(vs->root);
    }
    gm__cell_retire(sys, vs->cell);
    gm__history_orphan(sys, vs->hist);
    gm__gc_release(sys, &vs->gc);
    gm__vec_free(&vs->sink.win);
    gm__vec_free(&vs->sink.evwin);
    gm__evset_free(vs);
    gm__events_free(&vs->ev);
    free(vs);
}

static int cmp_window(const void *a, const void *b)
{
    const struct gm_window *x = a, *y = b;

    if (x->lo != y->lo) {
        return x->lo < y->lo ? -1 : 1;
    }
    return 0;
}

void gm__windows_normalize(gm_winvec *w)
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

/* A range of a first view: it appears with its mask. */
static int appears(const struct gm_range *rg, void *opaque)
{
    if (rg->mask && rg->mr->block) {
        gm__dirty_mark(opaque, rg->mr->ram_addr + rg->offset,
                    rg->last - rg->start + 1, rg->mask);
    }
    return 0;
}

/*
 * Logging that starts on RAM starts with every page dirty (what a consumer
 * has never looked at counts as changed, as KVM's "initially set" dirty
 * logs): for each range of vs that appears with a mask, or gains clients.
 * A new view state's first view is rendered in full without a diff: all
 * of its ranges appear.
 */
void gm__vstate_initially_dirty(gm_system *sys, struct gm_vstate *vs)
{
    const struct gm_events *ev = &vs->ev;

    if (vs->full) {
        gm_flatview *fv = gm__cell_view(vs->cell);

        if (fv) {
            gm__fv_walk(fv->tree, 0, UINT64_MAX, appears, sys);
        }
        return;
    }
    for (size_t i = 0; i < ev->adds.n; i++) {
        const struct gm_section *s = &ev->adds.v[i];
        enum gm_ev_kind k = (enum gm_ev_kind)ev->add_kind.v[i];
        unsigned gained = s->dirty_log_mask;
        gm_region *mr = s->region;

        if (k == GM_EV_LOG_START) {
            gained &= ~(unsigned)ev->add_oldmask.v[i];
        } else if (k != GM_EV_ADD) {
            continue;
        }
        if (!gained || !mr->block) {
            continue;
        }
        gm__dirty_mark(sys, mr->ram_addr + s->offset_in_region,
                    (uint64_t)s->size, gained);
    }
}
