/* SPDX-License-Identifier: MIT */
/*
 * space.c - address spaces.
 *
 * A space names a root region and publishes the flat view of the view
 * state its root resolves to (commit.c). The published pointer holds one
 * reference; readers load it under RCU and take their own reference, which
 * is safe because a replaced view is only unreferenced by the space, and
 * only freed after a grace period.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

gm_space *gm_space_new(gm_system *sys, gm_region *root, const char *name,
                       gm_error *err)
{
    gm_space *as;
    int ret;

    if (!sys || !root) {
        gm__error_set(err, -EINVAL, "gm_space_new: NULL %s",
                      sys ? "root" : "system");
        return NULL;
    }
    if (root->sys != sys) {
        gm__error_set(err, -EINVAL,
                      "root region '%s' belongs to another system",
                      root->name);
        return NULL;
    }
    as = calloc(1, sizeof(*as));
    if (!as || !(as->name = strdup(name ? name : "anonymous"))) {
        free(as);
        gm__error_set(err, -ENOMEM, "cannot allocate address space");
        return NULL;
    }
    as->view = gm__flatview_new(sys, NULL, NULL, NULL, NULL);
    if (!as->view) {
        free(as->name);
        free(as);
        gm__error_set(err, -ENOMEM, "cannot allocate address space");
        return NULL;
    }
    ret = gm__begin(sys, err);
    if (ret) {
        gm_flatview_unref(as->view);
        free(as->name);
        free(as);
        return NULL;
    }
    as->sys = sys;
    as->root = gm_region_ref(root);
    as->is_new = true;
    gm__space_dma_init(as);
    as->prev = sys->spaces_tail;
    if (sys->spaces_tail) {
        sys->spaces_tail->next = as;
    } else {
        sys->spaces = as;
    }
    sys->spaces_tail = as;
    sys->topo_dirty = true;
    sys->pending = true;
    gm__end(sys, err);
    return as;
}

/* Unlink and free; the caller holds the lock. */
void gm__space_free(gm_space *as)
{
    gm_system *sys = as->sys;

    if (as->prev) {
        as->prev->next = as->next;
    } else {
        sys->spaces = as->next;
    }
    if (as->next) {
        as->next->prev = as->prev;
    } else {
        sys->spaces_tail = as->prev;
    }
    gm__space_dma_fini(as);
    gm__flatview_put(sys, atomic_load(&as->view));
    gm__vstate_put(sys, as->vs);
    gm_region_unref(as->root);
    free(as->name);
    free(as);
}

int gm_space_destroy(gm_space *as, gm_error *err)
{
    gm_system *sys;
    int ret;

    if (!as) {
        return 0;
    }
    sys = as->sys;
    ret = gm__begin(sys, err);
    if (ret) {
        return ret;
    }
    for (gm_listener *l = sys->listeners; l; l = l->next) {
        if (l->filter == as) {
            sys->depth--;
            gm__unlock(sys);
            return gm__error_set(err, -EBUSY,
                                 "a listener is still filtered on address "
                                 "space '%s'",
                                 as->name);
        }
    }
    pthread_mutex_lock(&as->caches_lock);
    ret = as->nr_caches ? -EBUSY : 0;
    pthread_mutex_unlock(&as->caches_lock);
    if (ret) {
        sys->depth--;
        gm__unlock(sys);
        return gm__error_set(err, ret,
                             "an access cache is still open on address "
                             "space '%s'",
                             as->name);
    }
    /* The commit that closes this transaction delivers region_del and
     * frees the space (commit.c). */
    as->dying = true;
    sys->topo_dirty = true;
    sys->pending = true;
    return gm__end(sys, err);
}

const char *gm_space_name(const gm_space *as)
{
    return as ? as->name : NULL;
}

gm_region *gm_space_root(const gm_space *as)
{
    return as ? as->root : NULL;
}

gm_system *gm_space_system(const gm_space *as)
{
    return as ? as->sys : NULL;
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
