/* SPDX-License-Identifier: MIT */
/*
 * access/dma.c - mapping guest memory for DMA.
 *
 * gm_space_map() hands out a pointer straight into RAM when the range is
 * RAM (extended over contiguous ranges of the same RAM), or a bounce buffer
 * charged to the space's budget otherwise; the map keeps its view (and so
 * the memory) alive until gm_space_unmap(). Clients waiting for bounce room
 * are told when a bounce buffer is released. One small mutex per space
 * guards this bookkeeping; the accesses themselves take none.
 *
 * Active maps are found again at unmap by their pointer, in a hash table
 * that doubles when it is twice as full as it has buckets (a device may
 * keep thousands of scatter-gather maps in flight); when doubling cannot
 * get memory the chains just grow longer.
 */
#include <string.h>

#include "access.h"

#define BOUNCE_DEFAULT 4096 /* bytes, as QEMU */

struct gm_dma_map {
    struct gm_dma_map *next;
    void *buf;
    uint64_t len;
    gm_flatview *view;  /* keeps the RAM (or device) alive */
    bool bounce;
    uint64_t addr;      /* guest address (bounce write-back) */
    struct gm_mem_attrs attrs;
    gm_region *region;  /* RAM: for dirty marking */
    uint64_t offset;
    uint8_t mask;
};

struct gm_map_client {
    struct gm_map_client *next;
    gm_space *as;
    void (*fn)(void *);
    void *opaque;
    bool called; /* told once; stays listed until unregistered */
};

struct notify {
    void (*fn)(void *);
    void *opaque;
};

/*
 * Collect the clients not yet told (maps_lock held); the caller calls them
 * after dropping the lock, from the copies.
 */
static size_t clients_take(gm_space *as, struct notify **out)
{
    size_t n = 0, i = 0;
    struct gm_map_client *c;

    *out = NULL;
    for (c = as->acc->clients; c; c = c->next) {
        n += !c->called;
    }
    if (!n || !(*out = malloc(n * sizeof(**out)))) {
        return 0; /* ENOMEM: they are told at the next release */
    }
    for (c = as->acc->clients; c; c = c->next) {
        if (!c->called) {
            c->called = true;
            (*out)[i++] = (struct notify){c->fn, c->opaque};
        }
    }
    return n;
}

static void clients_call(struct notify *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        v[i].fn(v[i].opaque);
    }
    free(v);
}
/*
 * DMA.
 */

static size_t map_hash(const struct gm_space_access *a, const void *buf)
{
    uint64_t x = (uint64_t)(uintptr_t)buf * 0x9e3779b97f4a7c15ULL;

    return (size_t)(x >> 32) & (a->nbuckets - 1);
}

/* maps_lock held. */
static void maps_grow(struct gm_space_access *a)
{
    size_t n = a->nbuckets * 2;
    struct gm_dma_map **b = calloc(n, sizeof(*b));
    struct gm_dma_map **old = a->buckets;
    size_t oldn = a->nbuckets;

    if (!b) {
        return; /* longer chains, still correct */
    }
    a->buckets = b;
    a->nbuckets = n;
    for (size_t i = 0; i < oldn; i++) {
        while (old[i]) {
            struct gm_dma_map *m = old[i];
            size_t h = map_hash(a, m->buf);

            old[i] = m->next;
            m->next = b[h];
            b[h] = m;
        }
    }
    if (old != a->inline_buckets) {
        free(old);
    }
}

/* maps_lock held. */
static void maps_insert(struct gm_space_access *a, struct gm_dma_map *m)
{
    size_t h;

    if (a->nmaps >= 2 * a->nbuckets) {
        maps_grow(a);
    }
    h = map_hash(a, m->buf);
    m->next = a->buckets[h];
    a->buckets[h] = m;
    a->nmaps++;
}

/* maps_lock held: take out a map of buf and len, or NULL. */
static struct gm_dma_map *maps_take(struct gm_space_access *a,
                                    const void *buf, uint64_t len)
{
    struct gm_dma_map **pp = &a->buckets[map_hash(a, buf)];

    for (; *pp; pp = &(*pp)->next) {
        if ((*pp)->buf == buf && (*pp)->len == len) {
            struct gm_dma_map *m = *pp;

            *pp = m->next;
            a->nmaps--;
            return m;
        }
    }
    return NULL;
}

int gm__access_space_init(gm_space *as)
{
    struct gm_space_access *a = calloc(1, sizeof(*a));

    if (!a) {
        return -ENOMEM;
    }
    if (pthread_mutex_init(&a->lock, NULL)) {
        free(a);
        return -ENOMEM;
    }
    if (pthread_mutex_init(&a->maps_lock, NULL)) {
        pthread_mutex_destroy(&a->lock);
        free(a);
        return -ENOMEM;
    }
    a->bounce_budget = BOUNCE_DEFAULT;
    a->buckets = a->inline_buckets;
    a->nbuckets = GM_DMA_INLINE_BUCKETS;
    a->as = as;
    as->acc = a;
    gm__access_space_link(as->sys, a);
    return 0;
}

void gm__access_space_fini(gm_space *as)
{
    struct gm_space_access *a = as->acc;

    if (!a) {
        return;
    }
    gm__access_space_unlink(as->sys, a);
    for (size_t i = 0; i < a->nbuckets; i++) {
        while (a->buckets[i]) {
            struct gm_dma_map *m = a->buckets[i];

            a->buckets[i] = m->next;
            if (m->bounce) {
                free(m->buf);
            }
            gm_flatview_unref(m->view);
            free(m);
        }
    }
    if (a->buckets != a->inline_buckets) {
        free(a->buckets);
    }
    while (a->clients) {
        struct gm_map_client *c = a->clients;
        a->clients = c->next;
        free(c);
    }
    pthread_mutex_destroy(&a->maps_lock);
    pthread_mutex_destroy(&a->lock);
    free(a);
    as->acc = NULL;
}

int gm_space_set_bounce_budget(gm_space *as, size_t bytes, gm_error *err)
{
    if (!as) {
        return gm__error_set(err, -EINVAL, "NULL address space");
    }
    pthread_mutex_lock(&as->acc->maps_lock);
    as->acc->bounce_budget = bytes;
    pthread_mutex_unlock(&as->acc->maps_lock);
    return 0;
}

void *gm_space_map(gm_space *as, uint64_t addr, uint64_t *plen,
                   bool is_write, struct gm_mem_attrs attrs)
{
    struct gm_dma_map *m;
    const struct gm_range *rg;
    gm_flatview *fv;
    uint64_t want, l;

    if (!as || !plen || !*plen) {
        if (plen) {
            *plen = 0;
        }
        return NULL;
    }
    want = *plen;
    *plen = 0;
    m = calloc(1, sizeof(*m));
    if (!m) {
        return NULL;
    }
    gm__rcu_read_lock();
    fv = gm__space_view_get(as);
    gm__rcu_read_unlock();
    /* The reference keeps the view (and its regions' memory) alive. */
    rg = gm__dispatch_lookup(&fv->disp, addr);
    if (rg && (is_write ? gm__is_direct_write(rg) && !rg->readonly
                        : gm__is_direct_read(rg))) {
        uint64_t off = rg->offset + (addr - rg->start);
        const struct gm_range *cur = rg;

        l = rg->last - addr + 1;
        /* Extend over following ranges of the same RAM, contiguous. */
        while (l && l < want && cur->last != UINT64_MAX) {
            const struct gm_range *nx = gm__dispatch_lookup(&fv->disp,
                                                            cur->last + 1);
            if (!nx || nx->mr != rg->mr ||
                nx->offset != cur->offset + (cur->last - cur->start) + 1 ||
                (is_write && nx->readonly)) {
                break;
            }
            l += nx->last - nx->start + 1;
            cur = nx;
        }
        if (l == 0 || l > want) {
            l = want;
        }
        m->buf = (uint8_t *)rg->mr->ram + off;
        m->len = l;
        m->view = fv;
        m->region = rg->mr;
        m->offset = off;
        m->mask = rg->mask;
    } else if (rg) {
        /* Bounce through a buffer, within the space's budget. */
        pthread_mutex_lock(&as->acc->maps_lock);
        l = as->acc->bounce_used >= as->acc->bounce_budget
                ? 0
                : as->acc->bounce_budget - as->acc->bounce_used;
        if (l > want) {
            l = want;
        }
        if (rg && !gm__is_direct_read(rg) && !gm__is_direct_write(rg)) {
            /* MMIO: limit to this range. */
            uint64_t rl = rg->last - addr + 1;
            if (rl && rl < l) {
                l = rl;
            }
        }
        if (l) {
            as->acc->bounce_used += l;
        }
        pthread_mutex_unlock(&as->acc->maps_lock);
        m->buf = l ? malloc(l) : NULL;
        if (!m->buf) {
            if (l) {
                pthread_mutex_lock(&as->acc->maps_lock);
                as->acc->bounce_used -= l;
                pthread_mutex_unlock(&as->acc->maps_lock);
            }
            gm_flatview_unref(fv);
            free(m);
            return NULL;
        }
        m->len = l;
        m->view = fv;
        m->bounce = true;
        m->addr = addr;
        m->attrs = attrs;
        if (!is_write) {
            gm__rcu_read_lock();
            gm__view_rw(fv, addr, m->buf, l, false, attrs,
                        gm__unassigned_fill(as));
            gm__rcu_read_unlock();
        }
    } else {
        gm_flatview_unref(fv);
        free(m);
        return NULL;
    }
    /*
     * Once listed, the entry may be taken by an unmap of an identical map
     * from another thread (direct maps of one address share a pointer, and
     * either entry releases the same resources): read it before.
     */
    *plen = m->len;
    void *buf = m->buf;
    pthread_mutex_lock(&as->acc->maps_lock);
    maps_insert(as->acc, m);
    pthread_mutex_unlock(&as->acc->maps_lock);
    return buf;
}

void gm_space_unmap(gm_space *as, void *buf, uint64_t len, bool is_write,
                    uint64_t access_len)
{
    struct gm_dma_map *m;
    struct notify *clients = NULL;
    size_t nclients = 0;

    if (!as || !buf) {
        return;
    }
    pthread_mutex_lock(&as->acc->maps_lock);
    m = maps_take(as->acc, buf, len);
    if (m && m->bounce) {
        as->acc->bounce_used -= m->len;
        nclients = clients_take(as, &clients);
    }
    pthread_mutex_unlock(&as->acc->maps_lock);
    if (!m) {
        return; /* not ours: nothing to do (a caller bug) */
    }
    if (access_len > m->len) {
        access_len = m->len;
    }
    (void)len;
    if (is_write && access_len) {
        if (m->bounce) {
            gm_space_write(as, m->addr, m->buf, access_len, m->attrs);
        } else {
            gm__mark_dirty(as->sys, m->region, m->offset, access_len,
                           m->mask);
        }
    }
    if (m->bounce) {
        free(m->buf);
    }
    gm_flatview_unref(m->view);
    free(m);
    clients_call(clients, nclients);
}

gm_map_client *gm_space_register_map_client(gm_space *as, void (*fn)(void *),
                                            void *opaque)
{
    gm_map_client *c;

    if (!as || !fn) {
        return NULL;
    }
    c = calloc(1, sizeof(*c));
    if (!c) {
        return NULL;
    }
    c->as = as;
    c->fn = fn;
    c->opaque = opaque;
    pthread_mutex_lock(&as->acc->maps_lock);
    c->next = as->acc->clients;
    as->acc->clients = c;
    /* Nothing bounced right now: a retry can succeed, say so at once. */
    if (as->acc->bounce_used < as->acc->bounce_budget) {
        c->called = true;
    }
    pthread_mutex_unlock(&as->acc->maps_lock);
    if (c->called) {
        fn(opaque);
    }
    return c;
}

void gm_space_unregister_map_client(gm_map_client *c)
{
    gm_space *as;
    gm_map_client **pp;

    if (!c) {
        return;
    }
    as = c->as;
    pthread_mutex_lock(&as->acc->maps_lock);
    for (pp = &as->acc->clients; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            pthread_mutex_unlock(&as->acc->maps_lock);
            free(c);
            return;
        }
    }
    pthread_mutex_unlock(&as->acc->maps_lock);
}
