/* SPDX-License-Identifier: MIT */
/*
 * listen/listener.c - the listener list, delivery and replay, log sync.
 *
 * See listen.h for the order. Everything here runs under the writer lock
 * with in_update set while user callbacks run, so a callback cannot
 * re-enter a commit.
 */
#include <string.h>

#include "listen.h"

int gm__listen_init(gm_system *sys)
{
    sys->listen = calloc(1, sizeof(*sys->listen));
    return sys->listen ? 0 : -ENOMEM;
}

void gm__listen_clear(gm_system *sys)
{
    struct gm_listen_state *st = sys->listen;

    while (st->head) {
        gm_listener *l = st->head;
        st->head = l->next;
        free(l);
    }
    st->tail = NULL;
}

void gm__listen_fini(gm_system *sys)
{
    if (sys->listen) {
        gm__listen_clear(sys);
        free(sys->listen);
        sys->listen = NULL;
    }
}

void gm__listen_insert(gm_listener *l)
{
    struct gm_listen_state *st = l->sys->listen;
    gm_listener *o;

    /* After the last listener of lower or equal priority. */
    for (o = st->tail; o && o->priority > l->priority; o = o->prev) {
    }
    l->prev = o;
    l->next = o ? o->next : st->head;
    if (l->next) {
        l->next->prev = l;
    } else {
        st->tail = l;
    }
    if (o) {
        o->next = l;
    } else {
        st->head = l;
    }
}

void gm__listen_remove(gm_listener *l)
{
    struct gm_listen_state *st = l->sys->listen;

    if (l->prev) {
        l->prev->next = l->next;
    } else {
        st->head = l->next;
    }
    if (l->next) {
        l->next->prev = l->prev;
    } else {
        st->tail = l->prev;
    }
    l->prev = l->next = NULL;
}

bool gm__listen_wants(const gm_listener *l, const gm_space *as)
{
    return !l->filter || l->filter == as;
}

bool gm__listen_filtered_on(gm_system *sys, const gm_space *as)
{
    for (gm_listener *l = sys->listen->head; l; l = l->next) {
        if (l->filter == as) {
            return true;
        }
    }
    return false;
}

void gm__listener_begin(gm_listener *l)
{
    if (l->ops->begin) {
        l->ops->begin(l->opaque);
    }
}

void gm__listener_commit(gm_listener *l)
{
    if (l->ops->commit) {
        l->ops->commit(l->opaque);
    }
}

void gm__listener_global_log(gm_listener *l, bool on)
{
    void (*fn)(void *) = on ? l->ops->log_global_start
                            : l->ops->log_global_stop;

    if (fn) {
        fn(l->opaque);
    }
}

void gm__listeners_begin(gm_system *sys)
{
    for (gm_listener *l = sys->listen->head; l; l = l->next) {
        gm__listener_begin(l);
    }
}

void gm__listeners_commit(gm_system *sys)
{
    for (gm_listener *l = sys->listen->head; l; l = l->next) {
        gm__listener_commit(l);
    }
}

void gm__listeners_global_log(gm_system *sys, bool on)
{
    struct gm_listen_state *st = sys->listen;

    for (gm_listener *l = on ? st->head : st->tail; l;
         l = on ? l->next : l->prev) {
        gm__listener_global_log(l, on);
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
    struct gm_listen_state *st = sys->listen;
    struct gm_section sec = *s;
    bool reverse = k == GM_EV_DEL || k == GM_EV_LOG_STOP;

    sec.space = as;
    for (gm_listener *l = reverse ? st->tail : st->head; l;
         l = reverse ? l->prev : l->next) {
        if (gm__listen_wants(l, as)) {
            call_one(l, k, &sec, old_mask, new_mask);
        }
    }
}

void gm__listener_eventfd(gm_listener *l, gm_space *as, bool add,
                          const struct gm_ioeventfd *e)
{
    void (*fn)(void *, const struct gm_section *, bool, uint64_t, int) =
        add ? l->ops->eventfd_add : l->ops->eventfd_del;
    struct gm_section s;

    if (!fn) {
        return;
    }
    memset(&s, 0, sizeof(s));
    s.space = as;
    s.addr = e->addr;
    s.size = e->size;
    fn(l->opaque, &s, e->match_data, e->data, e->fd);
}

void gm__listeners_eventfd(gm_system *sys, gm_space *as, bool add,
                           const struct gm_ioeventfd *e)
{
    struct gm_listen_state *st = sys->listen;

    for (gm_listener *l = add ? st->head : st->tail; l;
         l = add ? l->next : l->prev) {
        if (gm__listen_wants(l, as)) {
            gm__listener_eventfd(l, as, add, e);
        }
    }
}

struct replay_ctx {
    gm_listener *l;
    gm_space *as;
    bool add;
};

static int replay_cb(const struct gm_range *rg, void *opaque)
{
    struct replay_ctx *c = opaque;
    struct gm_section s;

    gm__range_to_section(rg, c->as, &s);
    if (c->add) {
        call_one(c->l, GM_EV_ADD, &s, 0, 0);
        if (rg->mask) {
            call_one(c->l, GM_EV_LOG_START, &s, 0, rg->mask);
        }
    } else {
        if (rg->mask) {
            call_one(c->l, GM_EV_LOG_STOP, &s, rg->mask, 0);
        }
        call_one(c->l, GM_EV_DEL, &s, 0, 0);
    }
    return 0;
}

void gm__listener_replay_ranges(gm_listener *l, gm_space *as, bool add)
{
    gm_flatview *fv = atomic_load(&as->view);
    struct replay_ctx c = {l, as, add};

    gm__fv_walk(fv ? fv->tree : NULL, 0, UINT64_MAX, replay_cb, &c);
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
    for (gm_listener *l = c->sys->listen->head; l; l = l->next) {
        if (gm__listen_wants(l, c->as) && l->ops->log_sync) {
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
    if (sys->base.in_update) {
        gm__unlock(sys);
        return gm__error_set(err, -EBUSY,
                             "cannot sync from a listener callback");
    }
    c = (struct sync_ctx){sys, as, region};
    fv = atomic_load(&as->view);
    sys->base.in_update = true;
    gm__fv_walk(fv ? fv->tree : NULL, 0, UINT64_MAX, sync_cb, &c);
    sys->base.in_update = false;
    gm__unlock(sys);
    return 0;
}
