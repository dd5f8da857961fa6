/* SPDX-License-Identifier: MIT */
/*
 * api/space.c - creating and destroying address spaces.
 *
 * A space names a root region and publishes the flat view of the view
 * state its root resolves to (update/). A new space publishes an empty
 * view until the commit that closes its creation resolves it; a destroyed
 * space is freed by the commit that tells the listeners it is gone.
 */
#include <string.h>

#include "api.h"

static void space_free_new(gm_space *as)
{
    gm__access_space_fini(as);
    free(as->name);
    free(as);
}

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
    as->sys = sys;
    if (gm__access_space_init(as)) {
        space_free_new(as);
        gm__error_set(err, -ENOMEM, "cannot allocate address space");
        return NULL;
    }
    ret = gm__begin(sys, err);
    if (ret) {
        space_free_new(as);
        return NULL;
    }
    if (gm__update_space_add(as)) {
        gm__end_nothing(sys);
        space_free_new(as);
        gm__error_set(err, -ENOMEM, "cannot allocate address space");
        return NULL;
    }
    as->root = gm_region_ref(root);
    if (--sys->base.depth == 0 && gm__update(sys, err)) {
        /* Nothing was published or told: take the space back. */
        gm__update_space_remove(as);
        gm_region_unref(as->root);
        gm__release(sys);
        space_free_new(as);
        return NULL;
    }
    gm__release(sys);
    return as;
}

int gm_space_destroy(gm_space *as, gm_error *err)
{
    const char *busy;
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
    if (as->lhead) {
        gm__end_nothing(sys);
        return gm__error_set(err, -EBUSY,
                             "a listener is still filtered on address "
                             "space '%s'",
                             as->name);
    }
    busy = gm__access_in_use(as);
    if (busy) {
        gm__end_nothing(sys);
        return gm__error_set(err, -EBUSY, "%s on address space '%s'", busy,
                             as->name);
    }
    /* The commit that closes this transaction delivers region_del and
     * frees the space (update/). */
    gm__update_space_dying(as, true);
    ret = 0;
    if (--sys->base.depth == 0) {
        ret = gm__update(sys, err);
        if (ret) {
            /* nothing was told: it lives on */
            gm__update_space_dying(as, false);
        }
    }
    gm__release(sys);
    return ret;
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
