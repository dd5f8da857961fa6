/* SPDX-License-Identifier: MIT */
/*
 * listener.c - listener registration, replay and delivery.
 *
 * Listeners are kept in a list sorted by ascending priority (equal
 * priorities in registration order). Additions, nops, log_start, begin,
 * commit and log_global_start go forward; deletions, log_stop and
 * log_global_stop go in reverse, so a high-priority listener (e.g. a KVM
 * memslot mirror) sees a range appear last and disappear first.
 *
 * Everything here runs under the writer lock with sys->in_update set while
 * user callbacks run, so a callback cannot re-enter a commit.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static bool wants(const gm_listener *l, const gm_space *as)
{
    return !l->filter || l->filter == as;
}

void gm__listeners_begin(gm_system *sys)
{
    for (gm_listener *l = sys->listeners; l; l = l->next) {
        if (l->ops->begin) {
            l->ops->begin(l->opaque);
        }
    }
}

void gm__listeners_commit(gm_system *sys)
{
    for (gm_listener *l = sys->listeners; l; l = l->next) {
        if (l->ops->commit) {
            l->ops->commit(l->opaque);
        }
    }
}

static void call_one(gm_listener *l, enum gm_ev_kind k,
                     const struct gm_section *s, unsigned old_mask,
                     unsigned new_mask)
{
    const struct gm_listener_ops *o = l->ops;

    switch (k) {
    case GM_EV_ADD:
        if (o->region_add) {
            o->region_add(l->opaque, s);
        }
        break;
    case GM_EV_DEL:
        if (o->region_del) {
            o->region_del(l->opaque, s);
        }
        break;
    case GM_EV_NOP:
        if (o->region_nop) {
            o->region_nop(l->opaque, s);
        }
        break;
    case GM_EV_LOG_START:
        if (o->log_start) {
            o->log_start(l->opaque, s, old_mask, new_mask);
        }
        break;
    case GM_EV_LOG_STOP:
        if (o->log_stop) {
            o->log_stop(l->opaque, s, old_mask, new_mask);
        }
        break;
    }
}

void gm__listeners_region(gm_system *sys, gm_space *as, enum gm_ev_kind k,
                          const struct gm_section *s, unsigned old_mask,
                          unsigned new_mask)
{
    struct gm_section sec = *s;
    bool reverse = k == GM_EV_DEL || k == GM_EV_LOG_STOP;

    sec.space = as;
    for (gm_listener *l = reverse ? sys->listeners_tail : sys->listeners; l;
         l = reverse ? l->prev : l->next) {
        if (wants(l, as)) {
            call_one(l, k, &sec, old_mask, new_mask);
        }
    }
}

static void eventfd_section(gm_space *as, const struct gm_ioeventfd *e,
                            struct gm_section *s)
{
    memset(s, 0, sizeof(*s));
    s->space = as;
    s->addr = e->addr;
    s->size = e->size;
}

static void call_eventfd(gm_listener *l, bool add, const struct gm_section *s,
                         const struct gm_ioeventfd *e)
{
    void (*fn)(void *, const struct gm_section *, bool, uint64_t, int) =
        add ? l->ops->eventfd_add : l->ops->eventfd_del;

    if (fn) {
        fn(l->opaque, s, e->match_data, e->data, e->fd);
    }
}

void gm__listeners_eventfd(gm_system *sys, gm_space *as, bool add,
                           const struct gm_ioeventfd *e)
{
    struct gm_section s;

    eventfd_section(as, e, &s);
    for (gm_listener *l = add ? sys->listeners : sys->listeners_tail; l;
         l = add ? l->next : l->prev) {
        if (wants(l, as)) {
            call_eventfd(l, add, &s, e);
        }
    }
}

/* Replay one space's state to one listener as additions or deletions. */
static int replay_cb(const struct gm_range *rg, void *opaque)
{
    void **c = opaque;
    gm_listener *l = c[0];
    gm_space *as = c[1];
    bool add = c[2] != NULL;
    struct gm_section s;

    gm__range_to_section(rg, as, &s);
    if (add) {
        call_one(l, GM_EV_ADD, &s, 0, 0);
        if (rg->mask) {
            call_one(l, GM_EV_LOG_START, &s, 0, rg->mask);
        }
    } else {
        if (rg->mask) {
            call_one(l, GM_EV_LOG_STOP, &s, rg->mask, 0);
        }
        call_one(l, GM_EV_DEL, &s, 0, 0);
    }
    return 0;
}

static void replay_space(gm_listener *l, gm_space *as, bool add)
{
    gm_flatview *fv = atomic_load(&as->view);
    void *c[3] = {l, as, add ? (void *)1 : NULL};
    struct gm_vstate *vs = as->vs;

    if (l->ops->begin) {
        l->ops->begin(l->opaque);
    }
    gm__fv_walk(fv ? fv->tree : NULL, 0, UINT64_MAX, replay_cb, c);
    if (vs) {
        for (size_t i = 0; i < vs->evfds.n; i++) {
            const struct gm_ioeventfd *e = &vs->evfds.v[i].e;
            struct gm_section s;

            if (i && vs->evfds.v[i - 1].e.addr == e->addr &&
                vs->evfds.v[i - 1].e.size == e->size &&
                vs->evfds.v[i - 1].e.match_data == e->match_data &&
                vs->evfds.v[i - 1].e.data == e->data &&
                vs->evfds.v[i - 1].e.fd == e->fd) {
                continue;
            }
            eventfd_section(as, e, &s);
            call_eventfd(l, add, &s, e);
        }
    }
    if (l->ops->commit) {
        l->ops->commit(l->opaque);
    }
}

gm_listener *gm_listener_register(gm_system *sys,
                                  const struct gm_listener_ops *ops,
                                  void *opaque, int priority,
                                  gm_space *filter, gm_error *err)
{
    gm_listener *l, *o;

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
    if (sys->in_update) {
        gm__unlock(sys);
        free(l);
        gm__error_set(err, -EBUSY,
                      "cannot register a listener from a listener callback");
        return NULL;
    }
    if (filter && filter->dying) {
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
    /* Insert after the last listener of lower or equal priority. */
    for (o = sys->listeners_tail; o && o->priority > priority; o = o->prev) {
    }
    l->prev = o;
    l->next = o ? o->next : sys->listeners;
    if (l->next) {
        l->next->prev = l;
    } else {
        sys->listeners_tail = l;
    }
    if (o) {
        o->next = l;
    } else {
        sys->listeners = l;
    }

    sys->in_update = true;
    if (sys->global_log && ops->log_global_start) {
        ops->log_global_start(opaque);
    }
    for (gm_space *as = sys->spaces; as; as = as->next) {
        if (!as->dying && !as->is_new && wants(l, as)) {
            replay_space(l, as, true);
        }
    }
    sys->in_update = false;
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
    if (sys->in_update) {
        gm__unlock(sys);
        return gm__error_set(err, -EBUSY,
                             "cannot unregister a listener from a listener "
                             "callback");
    }
    sys->in_update = true;
    for (gm_space *as = sys->spaces; as; as = as->next) {
        if (!as->is_new && wants(l, as)) {
            replay_space(l, as, false);
        }
    }
    if (sys->global_log && l->ops->log_global_stop) {
        l->ops->log_global_stop(l->opaque);
    }
    sys->in_update = false;
    if (l->prev) {
        l->prev->next = l->next;
    } else {
        sys->listeners = l->next;
    }
    if (l->next) {
        l->next->prev = l->prev;
    } else {
        sys->listeners_tail = l->prev;
    }
    gm__unlock(sys);
    free(l);
    return 0;
}

void gm__listeners_destroy_all(gm_system *sys)
{
    while (sys->listeners) {
        gm_listener *l = sys->listeners;
        sys->listeners = l->next;
        free(l);
    }
    sys->listeners_tail = NULL;
}

struct sync_ctx {
    gm_system *sys;
    gm_space *as;
    gm_region *only;
};

static int sync_cb(const struct gm_range *rg, void *opaque)
{
    struct sync_ctx *c = opaque;
    struct gm_section s;

    if (!rg->mask || (c->only && rg->mr != c->only)) {
        return 0;
    }
    gm__range_to_section(rg, c->as, &s);
    for (gm_listener *l = c->sys->listeners; l; l = l->next) {
        if (wants(l, c->as) && l->ops->log_sync) {
            l->ops->log_sync(l->opaque, &s);
        }
    }
    return 0;
}

int gm_space_log_sync(gm_space *as, gm_region *region, gm_error *err)
{
    gm_system *sys;
    gm_flatview *fv;
    struct sync_ctx c;

    if (!as) {
        return gm__error_set(err, -EINVAL, "NULL address space");
    }
    sys = as->sys;
    if (region && region->sys != sys) {
        return gm__error_set(err, -EINVAL,
                             "region '%s' belongs to another system",
                             region->name);
    }
    gm__lock(sys);
    if (sys->in_update) {
        gm__unlock(sys);
        return gm__error_set(err, -EBUSY,
                             "cannot sync from a listener callback");
    }
    c = (struct sync_ctx){sys, as, region};
    fv = atomic_load(&as->view);
    sys->in_update = true;
    gm__fv_walk(fv ? fv->tree : NULL, 0, UINT64_MAX, sync_cb, &c);
    sys->in_update = false;
    gm__unlock(sys);
    return 0;
}
