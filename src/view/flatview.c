/* SPDX-License-Identifier: MIT */
/*
 * view/flatview.c - flat view objects and the views spaces publish.
 *
 * A view's refcount is atomic because the last unref may come from any
 * thread; its memory is only freed under the writer lock, after a grace
 * period (reclaim/): a reader may have loaded the pointer from a space just
 * before the space dropped it. A view made by a commit is a version of its
 * view state's history: freeing it marks the version dead, and reclaim
 * frees what only dead versions used. Standalone views own their whole
 * structure.
 *
 * Spaces read their view through a cell shared by all spaces of one view
 * state: readers load the space's cell, then the cell's view, each with
 * acquire ordering, inside a read-side section; a retired cell is freed
 * only after a grace period.
 */
#include <string.h>

#include "view.h"

static void free_structure(gm_system *sys, gm_flatview *fv)
{
    gm__dispatch_free(sys, &fv->disp);
    gm__fv_free_all(sys, fv->tree);
}

static void version_free(gm_system *sys, struct gm_version *v, bool last)
{
    gm_flatview *fv = caa_container_of(v, gm_flatview, ver);

    if (last) {
        free_structure(sys, fv);
    }
    gm_region_unref(fv->root);
    free(fv);
}

struct gm_history *gm__view_history_new(void)
{
    return gm__history_new(version_free);
}

gm_flatview *gm__flatview_new(gm_system *sys, gm_region *root,
                              struct gm_fv_node *tree,
                              const struct gm_dispatch *disp,
                              struct gm_history *hist, gm_gcvec *gc)
{
    gm_flatview *fv = calloc(1, sizeof(*fv));

    if (!fv) {
        return NULL;
    }
    atomic_init(&fv->refcnt, 1);
    fv->sys = sys;
    fv->root = gm_region_ref(root);
    fv->tree = tree;
    if (disp) {
        fv->disp = *disp;
    }
    if (hist) {
        gm_gcvec none = {0};

        fv->in_history = true;
        gm__history_append(hist, &fv->ver, gc ? gc : &none);
    }
    return fv;
}

void gm__flatview_discard(gm_flatview *fv)
{
    if (fv->in_history) {
        gm__history_unappend(fv->sys, &fv->ver);
    }
    gm_region_unref(fv->root);
    free(fv);
}

/* After a grace period, writer lock held. */
static void flatview_final(struct gm_deferred *d)
{
    gm_flatview *fv = caa_container_of(d, gm_flatview, def);
    gm_system *sys = d->sys;

    if (fv->in_history) {
        gm__version_dead(sys, &fv->ver);
    } else {
        free_structure(sys, fv);
        gm_region_unref(fv->root);
        free(fv);
    }
}

gm_flatview *gm_flatview_ref(gm_flatview *fv)
{
    if (fv) {
        atomic_fetch_add_explicit(&fv->refcnt, 1, memory_order_relaxed);
    }
    return fv;
}

void gm_flatview_unref(gm_flatview *fv)
{
    if (fv && atomic_fetch_sub_explicit(&fv->refcnt, 1,
                                        memory_order_acq_rel) == 1) {
        gm__defer_rcu(fv->sys, &fv->def, flatview_final);
    }
}

/* Writer-side unref (lock held): the free waits for a grace period. */
static void flatview_put(gm_system *sys, gm_flatview *fv)
{
    if (fv && atomic_fetch_sub_explicit(&fv->refcnt, 1,
                                        memory_order_acq_rel) == 1) {
        gm__defer(sys, &fv->def, flatview_final);
    }
}

/*
 * A reader's reference on the view a space publishes. The space may have
 * dropped its own reference after the reader loaded the pointer: a count
 * of zero means the view is on its way out (its memory is still valid, we
 * are in a read-side section), so take the space's newer view instead of
 * resurrecting this one.
 */
gm_flatview *gm__space_view_get(gm_space *as)
{
    for (;;) {
        gm_flatview *fv = gm__space_view(as);
        long n = atomic_load_explicit(&fv->refcnt, memory_order_relaxed);

        while (n > 0) {
            if (atomic_compare_exchange_weak_explicit(
                    &fv->refcnt, &n, n + 1, memory_order_acquire,
                    memory_order_relaxed)) {
                return fv;
            }
        }
    }
}

struct gm_viewcell *gm__cell_new(gm_system *sys, gm_flatview *fv)
{
    struct gm_viewcell *c = calloc(1, sizeof(*c));

    (void)sys;
    if (!c) {
        return NULL;
    }
    if (pthread_mutex_init(&c->caches_lock, NULL)) {
        free(c);
        return NULL;
    }
    atomic_init(&c->view, fv);
    return c;
}

void gm__cell_publish(gm_system *sys, struct gm_viewcell *c, gm_flatview *fv)
{
    gm_flatview *old = gm__cell_view(c);

    gm__rcu_store(c->view, fv);
    flatview_put(sys, old);
}

static void cell_final(struct gm_deferred *d)
{
    struct gm_viewcell *c = caa_container_of(d, struct gm_viewcell, def);

    pthread_mutex_destroy(&c->caches_lock);
    free(c);
}

void gm__cell_retire(gm_system *sys, struct gm_viewcell *c)
{
    flatview_put(sys, gm__cell_view(c));
    gm__defer(sys, &c->def, cell_final);
}

gm_flatview *gm_space_get_flatview(gm_space *as)
{
    gm_flatview *fv;

    if (!as) {
        return NULL;
    }
    gm__rcu_read_lock();
    fv = gm__space_view_get(as);
    gm__rcu_read_unlock();
    return fv;
}

gm_region *gm_flatview_root(const gm_flatview *fv)
{
    return fv ? fv->root : NULL;
}

size_t gm_flatview_nr_ranges(const gm_flatview *fv)
{
    return fv ? gm__fv_count(fv->tree) : 0;
}

struct foreach_ctx {
    int (*fn)(const struct gm_section *s, void *opaque);
    void *opaque;
};

static int foreach_cb(const struct gm_range *rg, void *opaque)
{
    struct foreach_ctx *c = opaque;
    struct gm_section s;

    gm__range_to_section(rg, NULL, &s);
    return c->fn(&s, c->opaque);
}

int gm_flatview_foreach(const gm_flatview *fv,
                        int (*fn)(const struct gm_section *s, void *opaque),
                        void *opaque)
{
    struct foreach_ctx c = {fn, opaque};

    if (!fv || !fn) {
        return -EINVAL;
    }
    return gm__fv_walk(fv->tree, 0, UINT64_MAX, foreach_cb, &c);
}

bool gm_flatview_lookup(const gm_flatview *fv, uint64_t addr,
                        struct gm_section *out)
{
    const struct gm_range *rg;

    if (!fv) {
        return false;
    }
    rg = gm__fv_find(fv->tree, addr);
    if (!rg) {
        return false;
    }
    if (out) {
        gm__range_to_section(rg, NULL, out);
    }
    return true;
}
