/* SPDX-License-Identifier: MIT */
/*
 * tree/evfd.c - a region's ioeventfds and the copy readers match against.
 *
 * Each region keeps its ioeventfds sorted (by address, size, match, data,
 * fd), in region offsets; update/ derives each view's set from them. The
 * access path matches writes against an immutable snapshot published under
 * RCU, replaced whole when the list changes (rarely: when a driver sets up
 * a queue).
 */
#include <string.h>

#include "tree.h"

/* Order of ioeventfds: address, size, match, data (when matched), fd. */
int gm__evfd_cmp(const struct gm_ioeventfd *a, const struct gm_ioeventfd *b)
{
    if (a->addr != b->addr) {
        return a->addr < b->addr ? -1 : 1;
    }
    if (a->size != b->size) {
        return a->size < b->size ? -1 : 1;
    }
    if (a->match_data != b->match_data) {
        return a->match_data < b->match_data ? -1 : 1;
    }
    if (a->match_data && a->data != b->data) {
        return a->data < b->data ? -1 : 1;
    }
    return a->fd < b->fd ? -1 : (a->fd > b->fd ? 1 : 0);
}


size_t gm__evfd_find(const gm_region *r, const struct gm_ioeventfd *e,
                     bool *found)
{
    size_t lo = 0, hi = r->evfds.n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = gm__evfd_cmp(&r->evfds.v[mid], e);

        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    *found = false;
    return lo;
}

static void evpub_free_cb(struct rcu_head *h)
{
    gm__rcu_cb_enter(h);
    free(caa_container_of(h, struct gm_evfd_pub, rcu));
}

int gm__evfd_snapshot(const gm_region *r, struct gm_evfd_pub **out)
{
    struct gm_evfd_pub *p = NULL;

    if (r->evfds.n) {
        p = malloc(sizeof(*p) + r->evfds.n * sizeof(p->v[0]));
        if (!p) {
            return -ENOMEM;
        }
        p->n = r->evfds.n;
        memcpy(p->v, r->evfds.v, r->evfds.n * sizeof(p->v[0]));
    }
    *out = p;
    return 0;
}

struct gm_evfd_pub *gm__evfd_swap(gm_region *r, struct gm_evfd_pub *p)
{
    return atomic_exchange_explicit(&r->evpub, p, memory_order_acq_rel);
}

void gm__evfd_retire(struct gm_evfd_pub *p)
{
    if (p) {
        gm__rcu_call(&p->rcu, evpub_free_cb);
    }
}
