/* SPDX-License-Identifier: MIT */
/*
 * update/vstate.c - view states: one per distinct resolved root.
 *
 * Spaces whose roots resolve to the same region (QEMU's flat-view root
 * rule) share one view state and so one view, one history and one
 * ioeventfd set; all spaces whose root renders nothing share the empty
 * state. A state attaches its sink to its root region, so marks that reach
 * the root land in it. States live while spaces use them.
 */
#include "update.h"

struct gm_vstate *gm__vstate_get(gm_system *sys, gm_region *root)
{
    struct gm_vstate *vs;

    if (root && root->sink) {
        return caa_container_of(root->sink, struct gm_vstate, sink);
    }
    if (!root) {
        for (vs = sys->update->vstates; vs; vs = vs->next) {
            if (!vs->root) {
                return vs;
            }
        }
    }
    vs = calloc(1, sizeof(*vs));
    if (!vs) {
        return NULL;
    }
    vs->hist = gm__view_history_new();
    if (!vs->hist) {
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

void gm__vstate_scratch_free(struct gm_vstate *vs)
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
    if (vs->root) {
        gm__tree_detach_sink(vs->root);
        gm_region_unref(vs->root);
    }
    gm__flatview_put(sys, vs->cur);
    gm__history_orphan(sys, vs->hist);
    gm__gc_release(sys, &vs->gc);
    gm__vec_free(&vs->sink.win);
    gm__vec_free(&vs->sink.evwin);
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
        gm__vstate_destroy(sys, vs);
    }
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
