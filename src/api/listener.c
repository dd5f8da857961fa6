/* SPDX-License-Identifier: MIT */
/*
 * api/listener.c - registering and unregistering listeners.
 *
 * Registration replays the current state to the new listener (global
 * logging, then for each space its ranges and ioeventfds); unregistration
 * replays it as deletions. Both run with in_update set, so the listener's
 * callbacks cannot change the topology meanwhile.
 */
#include "api.h"

/*
 * Replay the current state of the spaces l hears (its filter space, or
 * all) as additions or deletions. Spaces not yet resolved have nothing to
 * replay: their first commit tells every listener.
 */
static void replay(gm_listener *l, bool add)
{
    gm_space *as = l->filter ? l->filter : l->sys->update->spaces;

    for (; as; as = l->filter ? NULL : as->upd->next) {
        if (!as->upd->is_new && (!add || !as->upd->dying)) {
            gm__update_replay(l, as, add);
        }
    }
}

gm_listener *gm_listener_register(gm_system *sys,
                                  const struct gm_listener_ops *ops,
                                  void *opaque, int priority,
                                  gm_space *filter, gm_error *err)
{
    gm_listener *l;

    if (!sys || !ops) {
        gm__error_set(err, -EINVAL, "gm_listener_register: NULL %s",
                      sys ? "ops" : "system");
        return NULL;
    }
    if (filter && filter->sys != sys) {
        gm__error_set(err, -EINVAL,
                      "filter address space belongs to another system");
        return NULL;
    }
    l = calloc(1, sizeof(*l));
    if (!l) {
        gm__error_set(err, -ENOMEM, "cannot allocate a listener");
        return NULL;
    }
    gm__lock(sys);
    if (sys->base.in_update) {
        gm__unlock(sys);
        free(l);
        gm__error_set(err, -EBUSY,
                      "cannot register a listener from a listener callback");
        return NULL;
    }
    if (filter && filter->upd->dying) {
        gm__unlock(sys);
        free(l);
        gm__error_set(err, -EINVAL, "filter address space is being destroyed");
        return NULL;
    }
    l->sys = sys;
    l->ops = ops;
    l->opaque = opaque;
    l->priority = priority;
    l->filter = filter;
    gm__listen_insert(l);
    if (filter) {
        gm__update_space_filter(filter, 1);
    }

    sys->base.in_update = true;
    if (sys->tree->global_log) {
        gm__listener_global_log(l, true);
    }
    replay(l, true);
    sys->base.in_update = false;
    gm__unlock(sys);
    return l;
}

int gm_listener_unregister(gm_listener *l, gm_error *err)
{
    gm_system *sys;

    if (!l) {
        return gm__error_set(err, -EINVAL, "NULL listener");
    }
    sys = l->sys;
    gm__lock(sys);
    if (sys->base.in_update) {
        gm__unlock(sys);
        return gm__error_set(err, -EBUSY,
                             "cannot unregister a listener from a listener "
                             "callback");
    }
    sys->base.in_update = true;
    replay(l, false);
    if (sys->tree->global_log) {
        gm__listener_global_log(l, false);
    }
    sys->base.in_update = false;
    gm__listen_remove(l);
    if (l->filter) {
        gm__update_space_filter(l->filter, -1);
    }
    gm__unlock(sys);
    free(l);
    return 0;
}
