/* SPDX-License-Identifier: MIT */
/*
 * listen/listener.c - the listener lists, delivery and replay, log sync.
 *
 * See listen.h for the order and the lists. Everything here runs under
 * the writer lock with in_update set while user callbacks run, so a
 * callback cannot re-enter a commit.
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
        if (l->filter) {
            l->filter->lhead = l->filter->ltail = NULL;
        }
        free(l);
    }
    st->tail = st->ghead = st->gtail = NULL;
    st->nr_global = 0;
}

void gm__listen_fini(gm_system *sys)
{
    if (sys->listen) {
        gm__listen_clear(sys);
        gm__vec_free(&sys->listen->bracket);
        free(sys->listen);
        sys->listen = NULL;
    }
}

/* Does a come before b? */
static bool before(const gm_listener *a, const gm_listener *b)
{
    return a->priority != b->priority ? a->priority < b->priority
                                      : a->seq < b->seq;
}

/*
 * Link l into one of two lists (all, or the unfiltered / a space's) kept in
 * order; the newest of a priority goes after the others of it.
 */
#define LIST_INSERT(head, tail, l, PREV, NEXT)                                     do {                                                                               gm_listener *o_ = (tail);                                                      while (o_ && o_->priority > (l)->priority) {                                       o_ = o_->PREV;                                                             }                                                                              (l)->PREV = o_;                                                                (l)->NEXT = o_ ? o_->NEXT : (head);                                            if ((l)->NEXT) {                                                                   (l)->NEXT->PREV = (l);                                                     } else {                                                                           (tail) = (l);                                                              }                                                                              if (o_) {                                                                          o_->NEXT = (l);                                                            } else {                                                                           (head) = (l);                                                              }                                                                          } while (0)

#define LIST_REMOVE(head, tail, l, PREV, NEXT)                                     do {                                                                               if ((l)->PREV) {                                                                   (l)->PREV->NEXT = (l)->NEXT;                                               } else {                                                                           (head) = (l)->NEXT;                                                        }                                                                              if ((l)->NEXT) {                                                                   (l)->NEXT->PREV = (l)->PREV;                                               } else {                                                                           (tail) = (l)->PREV;                                                        }                                                                              (l)->PREV = (l)->NEXT = NULL;                                              } while (0)

void gm__listen_insert(gm_listener *l)
{
    struct gm_listen_state *st = l->sys->listen;

    l->seq = ++st->seq;
    LIST_INSERT(st->head, st->tail, l, prev, next);
    if (l->filter) {
        LIST_INSERT(l->filter->lhead, l->filter->ltail, l, sprev, snext);
    } else {
        LIST_INSERT(st->ghead, st->gtail, l, sprev, snext);
        st->nr_global++;
    }
}

void gm__listen_remove(gm_listener *l)
{
    struct gm_listen_state *st = l->sys->listen;

    LIST_REMOVE(st->head, st->tail, l, prev, next);
    if (l->filter) {
        LIST_REMOVE(l->filter->lhead, l->filter->ltail, l, sprev, snext);
    } else {
        LIST_REMOVE(st->ghead, st->gtail, l, sprev, snext);
        st->nr_global--;
    }
}

bool gm__listen_any_for(gm_system *sys, const gm_space *as)
{
    return sys->listen->nr_global || as->lhead;
}

/*
 * The listeners that hear as, in order (forward) or reverse: the
 * unfiltered ones merged with as's own.
 */
struct hearers {
    gm_listener *g, *s;
    bool rev;
};

static void hearers_start(struct hearers *h, gm_system *sys,
                          const gm_space *as, bool rev)
{
    struct gm_listen_state *st = sys->listen;

    h->rev = rev;
    h->g = rev ? st->gtail : st->ghead;
    h->s = as ? (rev ? as->ltail : as->lhead) : NULL;
}

static gm_listener *hearers_next(struct hearers *h)
{
    gm_listener *l;
    bool take_g;

    if (!h->g && !h->s) {
        return NULL;
    }
    if (!h->s) {
        take_g = true;
    } else if (!h->g) {
        take_g = false;
    } else {
        take_g = h->rev ? before(h->s, h->g) : before(h->g, h->s);
    }
    if (take_g) {
        l = h->g;
        h->g = h->rev ? l->sprev : l->snext;
    } else {
        l = h->s;
        h->s = h->rev ? l->sprev : l->snext;
    }
    return l;
}

static int cmp_listener(const void *a, const void *b)
{
    const gm_listener *x = *(gm_listener *const *)a;
    const gm_listener *y = *(gm_listener *const *)b;

    return before(x, y) ? -1 : before(y, x) ? 1 : 0;
}

int gm__listeners_prepare(gm_system *sys, gm_space *const *told, size_t n)
{
    struct gm_listen_state *st = sys->listen;

    st->bracket.n = 0;
    for (gm_listener *l = st->ghead; l; l = l->snext) {
        if (gm__vec_push(&st->bracket, l)) {
            return -ENOMEM;
        }
    }
    for (size_t i = 0; i < n; i++) {
        for (gm_listener *l = told[i]->lhead; l; l = l->snext) {
            if (gm__vec_push(&st->bracket, l)) {
                return -ENOMEM;
            }
        }
    }
    if (st->bracket.n > 1) {
        qsort(st->bracket.v, st->bracket.n, sizeof(*st->bracket.v),
              cmp_listener);
    }
    return 0;
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
    struct gm_listen_state *st = sys->listen;

    for (size_t i = 0; i < st->bracket.n; i++) {
        gm__listener_begin(st->bracket.v[i]);
    }
}

void gm__listeners_commit(gm_system *sys)
{
    struct gm_listen_state *st = sys->listen;

    for (size_t i = 0; i < st->bracket.n; i++) {
        gm__listener_commit(st->bracket.v[i]);
    }
    st->bracket.n = 0;
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
    case GM_EV_COALESCE:
        break;
    }
}

/*
 * Tell l of the coalesced ranges of c that s shows, each clipped to s, as
 * additions or deletions: a range is deleted with exactly the pieces it
 * was added with.
 */
static void call_coal(gm_listener *l, const struct gm_section *s,
                      const struct gm_coal *c, bool add)
{
    void (*fn)(void *, const struct gm_section *, uint64_t, uint64_t) =
        add ? l->ops->coalesced_io_add : l->ops->coalesced_io_del;
    gm_u128 lo = s->offset_in_region, hi = lo + s->size;

    for (size_t i = 0; fn && c && i < c->n; i++) {
        gm_u128 zlo = c->z[i].offset, zhi = zlo + c->z[i].size;
        gm_u128 a = zlo > lo ? zlo : lo, b = zhi < hi ? zhi : hi;

        if (a < b) {
            fn(l->opaque, s, s->addr + (uint64_t)(a - lo), (uint64_t)(b - a));
        }
    }
}

void gm__listeners_region(gm_system *sys, gm_space *as, enum gm_ev_kind k,
                          const struct gm_section *s, unsigned old_mask,
                          unsigned new_mask, const struct gm_coal *coal)
{
    struct gm_section sec = *s;
    struct hearers h;
    gm_listener *l;

    sec.space = as;
    if (coal && (k == GM_EV_DEL || k == GM_EV_COALESCE)) {
        hearers_start(&h, sys, as, true);
        while ((l = hearers_next(&h))) {
            call_coal(l, &sec, coal, false);
        }
    }
    hearers_start(&h, sys, as, k == GM_EV_DEL || k == GM_EV_LOG_STOP);
    while ((l = hearers_next(&h))) {
        call_one(l, k, &sec, old_mask, new_mask);
    }
    if ((k == GM_EV_ADD || k == GM_EV_COALESCE) && s->region->coal) {
        hearers_start(&h, sys, as, false);
        while ((l = hearers_next(&h))) {
            call_coal(l, &sec, s->region->coal, true);
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
    struct hearers h;
    gm_listener *l;

    hearers_start(&h, sys, as, !add);
    while ((l = hearers_next(&h))) {
        gm__listener_eventfd(l, as, add, e);
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
        call_coal(c->l, &s, rg->coal, true);
        if (rg->mask) {
            call_one(c->l, GM_EV_LOG_START, &s, 0, rg->mask);
        }
    } else {
        if (rg->mask) {
            call_one(c->l, GM_EV_LOG_STOP, &s, rg->mask, 0);
        }
        call_coal(c->l, &s, rg->coal, false);
        call_one(c->l, GM_EV_DEL, &s, 0, 0);
    }
    return 0;
}

void gm__listener_replay_ranges(gm_listener *l, gm_space *as, bool add)
{
    gm_flatview *fv = gm__cell_view(as->cell);
    struct replay_ctx c = {l, as, add};

    gm__fv_walk(fv ? fv->tree : NULL, 0, UINT64_MAX, replay_cb, &c);
}

struct clear_ctx {
    gm_system *sys;
    gm_space *as;
    gm_region *mr;
    uint64_t off, len;
};

static int clear_cb(const struct gm_range *rg, void *opaque)
{
    struct clear_ctx *c = opaque;
    uint64_t lo, hi, rlast;
    struct gm_section s;
    struct hearers h;
    gm_listener *l;

    if (rg->mr != c->mr) {
        return 0;
    }
    rlast = rg->offset + (rg->last - rg->start); /* in the region */
    lo = c->off > rg->offset ? c->off : rg->offset;
    hi = c->off + c->len - 1 < rlast ? c->off + c->len - 1 : rlast;
    if (lo > hi) {
        return 0;
    }
    gm__range_to_section(rg, c->as, &s);
    s.addr = rg->start + (lo - rg->offset);
    s.offset_in_region = lo;
    s.size = (gm_u128)(hi - lo) + 1;
    hearers_start(&h, c->sys, c->as, false);
    while ((l = hearers_next(&h))) {
        if (l->ops->log_clear) {
            l->ops->log_clear(l->opaque, &s);
        }
    }
    return 0;
}

void gm__listeners_log_clear(gm_system *sys, gm_space *as, gm_region *mr,
                             uint64_t off, uint64_t len)
{
    struct clear_ctx c = {sys, as, mr, off, len};
    gm_flatview *fv = gm__cell_view(as->cell);

    if (!gm__listen_any_for(sys, as) || !len) {
        return;
    }
    gm__fv_walk(fv ? fv->tree : NULL, 0, UINT64_MAX, clear_cb, &c);
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
    struct hearers h;
    gm_listener *l;

    if (!rg->mask || (c->only && rg->mr != c->only)) {
        return 0;
    }
    gm__range_to_section(rg, c->as, &s);
    hearers_start(&h, c->sys, c->as, false);
    while ((l = hearers_next(&h))) {
        if (l->ops->log_sync) {
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
    fv = gm__cell_view(as->cell);
    sys->base.in_update = true;
    gm__fv_walk(fv ? fv->tree : NULL, 0, UINT64_MAX, sync_cb, &c);
    sys->base.in_update = false;
    gm__unlock(sys);
    return 0;
}
