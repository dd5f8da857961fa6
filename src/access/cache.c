/* SPDX-License-Identifier: MIT */
/*
 * access/cache.c - access caches (QEMU's MemoryRegionCache).
 *
 * A device that keeps touching one window of guest memory (a virtqueue
 * ring) resolves it once. Caches are indexed by window (an interval treap)
 * in the cell their space reads its view from (view/): a commit finds the
 * caches its changed ranges meet in O(log n + k), however many spaces
 * share the view, and leaves the others alone. A space that moves to
 * another view state takes its caches along (each then resolves again).
 *
 * A cache's inline paths read only fast_rd / fast_wr and the fields the
 * owning thread wrote when it resolved the window. Commits never touch
 * those fields; they only lower fast_* to 0 and raise stale, under the
 * cell's caches_lock, after the new view is published and before the
 * commit returns. The owner resolves again under the same lock, so either
 * it resolves after that commit (and sees the new view), or the commit's
 * invalidation lands after it: no interleaving leaves a stale window on
 * the fast path. A space's lock (taken first) keeps its caches in their
 * cell while they resolve. Region references are dropped outside the
 * locks (a last unref takes the writer lock, which commits hold while
 * taking these).
 */
#include "access.h"

struct gm_cache_link {
    struct gm_itree_node n;     /* the window, in its cell's index */
    struct gm_cache *c;
    struct gm_viewcell *cell;   /* whose index holds it */
    struct gm_cache_link *prev, *next; /* the space's caches */
};

static void cache_set_fast(struct gm_cache *c, uint64_t rd, uint64_t wr,
                           memory_order mo)
{
    atomic_store_explicit((_Atomic uint64_t *)&c->fast_rd, rd, mo);
    atomic_store_explicit((_Atomic uint64_t *)&c->fast_wr, wr, mo);
}

/*
 * A logged window can take stores inline when its pages lie in one chunk
 * of each client's bitmap (chunks never move: the cache keeps pointers to
 * their words) and no dirty hook wants to hear of every write. Read-side
 * section held.
 */
static bool dirty_inline(struct gm_cache *c)
{
    gm_system *sys = c->as->sys;
    uint64_t ra = c->region->ram_addr + c->offset;
    uint64_t first = ra >> GM_DIRTY_PAGE_BITS;
    uint64_t last = (ra + c->len - 1) >> GM_DIRTY_PAGE_BITS;
    unsigned n = 0;

    if (!c->region->block ||
        atomic_load_explicit(&sys->access->dirty_fn, memory_order_acquire) ||
        (first >> GM_DIRTY_CHUNK_SHIFT) != (last >> GM_DIRTY_CHUNK_SHIFT)) {
        return false;
    }
    for (unsigned client = 0; client < GM_DIRTY_NR; client++) {
        if (c->mask & (1u << client)) {
            c->dirty[n] = gm__dirty_chunk(sys, client, first);
            if (!c->dirty[n]) {
                return false;
            }
            n++;
        }
    }
    c->dirty_page = (uint32_t)(first & (GM_DIRTY_CHUNK_PAGES - 1));
    c->dirty_skew = (uint16_t)(ra & (GM_DIRTY_PAGE_SIZE - 1));
    c->dirty_always = !sys->dirty->test_first;
    c->ndirty = (uint8_t)n;
    return true;
}

/*
 * Resolve the window against the space's current view (the space's lock
 * and its cell's caches_lock held). Returns the region reference the cache
 * let go of.
 */
static gm_region *cache_resolve(struct gm_cache *c)
{
    gm_region *old = c->region;
    const struct gm_range *rg;
    uint64_t rd = 0, wr = 0;

    atomic_store_explicit((_Atomic int *)&c->stale, 0, memory_order_relaxed);
    c->ptr = NULL;
    c->region = NULL;
    c->mask = 0;
    c->writable = false;
    c->ndirty = 0;
    gm__rcu_read_lock();
    rg = gm__dispatch_lookup(&gm__space_view(c->as)->disp, c->addr);
    if (rg && c->addr + c->len - 1 <= rg->last && gm__is_direct_read(rg)) {
        c->offset = rg->offset + (c->addr - rg->start);
        c->ptr = (uint8_t *)rg->mr->ram + c->offset;
        /* The view holds the region; this reference outlives the view. */
        c->region = gm_region_ref(rg->mr);
        c->mask = rg->mask;
        c->writable = gm__is_direct_write(rg) && !rg->readonly;
        if (c->len >= 8) {
            rd = c->len - 7; /* see struct gm_cache */
            if (c->writable && (!rg->mask || dirty_inline(c))) {
                wr = rd;
            }
        }
    }
    gm__rcu_read_unlock();
    cache_set_fast(c, rd, wr, memory_order_relaxed);
    return old;
}

/* Bring the cache up to date after a commit changed its window. */
static void cache_sync(struct gm_cache *c)
{
    gm_region *old;

    /*
     * Pairs with the release in cache_stale_cb(): if the inline path read
     * the 0 a commit stored, this thread now sees that commit's stale.
     */
    atomic_thread_fence(memory_order_acquire);
    if (!atomic_load_explicit((_Atomic int *)&c->stale,
                              memory_order_relaxed)) {
        return;
    }
    struct gm_cache_link *l = c->link;

    pthread_mutex_lock(&c->as->acc->lock);
    pthread_mutex_lock(&l->cell->caches_lock);
    old = cache_resolve(c);
    pthread_mutex_unlock(&l->cell->caches_lock);
    pthread_mutex_unlock(&c->as->acc->lock);
    gm_region_unref(old);
}

static void cache_stale_cb(struct gm_itree_node *n, void *opaque)
{
    struct gm_cache *c = ((struct gm_cache_link *)n)->c;

    (void)opaque;
    atomic_store_explicit((_Atomic int *)&c->stale, 1, memory_order_relaxed);
    cache_set_fast(c, 0, 0, memory_order_release);
}

void gm__access_cell_lock(struct gm_viewcell *cell)
{
    pthread_mutex_lock(&cell->caches_lock);
}

void gm__access_cell_stale(struct gm_viewcell *cell, uint64_t lo, gm_u128 hi)
{
    gm__itree_query(cell->caches, lo, hi, cache_stale_cb, NULL);
}

void gm__access_cell_unlock(struct gm_viewcell *cell)
{
    pthread_mutex_unlock(&cell->caches_lock);
}

void gm__access_space_moved(gm_space *as)
{
    struct gm_viewcell *to = atomic_load_explicit(&as->cell,
                                                  memory_order_relaxed);

    pthread_mutex_lock(&as->acc->lock);
    for (struct gm_cache_link *l = as->acc->caches; l; l = l->next) {
        if (l->cell != to) {
            pthread_mutex_lock(&l->cell->caches_lock);
            gm__itree_remove(&l->cell->caches, &l->n);
            pthread_mutex_unlock(&l->cell->caches_lock);
            l->cell = to;
            pthread_mutex_lock(&to->caches_lock);
            gm__itree_insert(&to->caches, &l->n);
        } else {
            pthread_mutex_lock(&to->caches_lock);
        }
        cache_stale_cb(&l->n, NULL); /* another view entirely */
        pthread_mutex_unlock(&to->caches_lock);
    }
    pthread_mutex_unlock(&as->acc->lock);
}

static size_t nr_caches(gm_space *as)
{
    size_t n;

    pthread_mutex_lock(&as->acc->lock);
    n = as->acc->nr_caches;
    pthread_mutex_unlock(&as->acc->lock);
    return n;
}

const char *gm__access_in_use(gm_space *as)
{
    bool maps, clients;

    if (nr_caches(as)) {
        return "an access cache is still open";
    }
    pthread_mutex_lock(&as->acc->maps_lock);
    maps = as->acc->nmaps != 0;
    clients = as->acc->clients != NULL;
    pthread_mutex_unlock(&as->acc->maps_lock);
    if (maps) {
        return "a DMA map is still active";
    }
    return clients ? "a map client is still registered" : NULL;
}

int gm_cache_init(struct gm_cache *c, gm_space *as, uint64_t addr,
                  uint64_t len, bool is_write, gm_error *err)
{
    struct gm_cache_link *l;
    gm_region *old;

    if (c) {
        memset(c, 0, sizeof(*c)); /* a failed init leaves a cache that
                                     gm_cache_destroy() accepts */
    }
    if (!c || !as || !len || addr + len - 1 < addr) {
        return gm__error_set(err, -EINVAL, "gm_cache_init: bad argument");
    }
    l = calloc(1, sizeof(*l));
    if (!l) {
        return gm__error_set(err, -ENOMEM, "gm_cache_init: out of memory");
    }
    l->c = c;
    l->n.start = addr;
    l->n.end = (gm_u128)addr + len;
    c->as = as;
    c->addr = addr;
    c->len = len;
    c->is_write = is_write;
    c->link = l;
    pthread_mutex_lock(&as->acc->lock);
    l->cell = atomic_load_explicit(&as->cell, memory_order_acquire);
    l->next = as->acc->caches;
    if (l->next) {
        l->next->prev = l;
    }
    as->acc->caches = l;
    as->acc->nr_caches++;
    pthread_mutex_lock(&l->cell->caches_lock);
    gm__itree_insert(&l->cell->caches, &l->n);
    old = cache_resolve(c);
    pthread_mutex_unlock(&l->cell->caches_lock);
    pthread_mutex_unlock(&as->acc->lock);
    gm_region_unref(old);
    return 0;
}

void gm_cache_destroy(struct gm_cache *c)
{
    gm_region *old;

    if (!c || !c->link) {
        return;
    }
    struct gm_space_access *a = c->as->acc;
    struct gm_cache_link *l = c->link;

    pthread_mutex_lock(&a->lock);
    if (l->prev) {
        l->prev->next = l->next;
    } else {
        a->caches = l->next;
    }
    if (l->next) {
        l->next->prev = l->prev;
    }
    a->nr_caches--;
    pthread_mutex_lock(&l->cell->caches_lock);
    gm__itree_remove(&l->cell->caches, &l->n);
    cache_set_fast(c, 0, 0, memory_order_relaxed);
    old = c->region;
    c->region = NULL;
    c->ptr = NULL;
    pthread_mutex_unlock(&l->cell->caches_lock);
    pthread_mutex_unlock(&a->lock);
    free(c->link);
    c->link = NULL;
    gm_region_unref(old);
}

bool gm_cache_is_direct(const struct gm_cache *c)
{
    return c && gm__cache_fast(c->is_write ? &c->fast_wr : &c->fast_rd);
}

static bool cache_in(const struct gm_cache *c, uint64_t off, size_t len)
{
    return off <= c->len && len <= c->len - off;
}

enum gm_result gm_cache_read(struct gm_cache *c, uint64_t off, void *buf,
                             size_t len)
{
    enum gm_result r;

    if (!c || !c->link || !cache_in(c, off, len) || (!buf && len)) {
        return GM_RESULT_DECODE_ERROR;
    }
    cache_sync(c);
    if (c->ptr) {
        memcpy(buf, c->ptr + off, len);
        return GM_RESULT_OK;
    }
    gm__rcu_read_lock();
    r = gm__view_rw(gm__space_view(c->as), c->addr + off, buf, len, false,
                    GM_ATTRS_DEFAULT, gm__unassigned_fill(c->as));
    gm__rcu_read_unlock();
    return r;
}

enum gm_result gm_cache_write(struct gm_cache *c, uint64_t off,
                              const void *buf, size_t len)
{
    enum gm_result r;

    if (!c || !c->link || !cache_in(c, off, len) || (!buf && len)) {
        return GM_RESULT_DECODE_ERROR;
    }
    cache_sync(c);
    if (c->ptr && c->writable) {
        memcpy(c->ptr + off, buf, len);
        if (c->mask) {
            gm__mark_dirty(c->as->sys, c->region, c->offset + off, len,
                           c->mask);
        }
        return GM_RESULT_OK;
    }
    gm__rcu_read_lock();
    r = gm__view_rw(gm__space_view(c->as), c->addr + off, (void *)buf, len,
                    true, GM_ATTRS_DEFAULT, 0);
    gm__rcu_read_unlock();
    return r;
}

/*
 * The slow paths of gm_cache_load() / gm_cache_store(): RAM through the
 * cache's pointer, anything else exactly as gm_space_load() /
 * gm_space_store() at that address (one device access of the full size,
 * as QEMU's cached ld/st).
 */
enum gm_result gm_cache_load_slow(struct gm_cache *c, uint64_t off,
                                  unsigned size, enum gm_endian endian,
                                  uint64_t *val)
{
    if (!val) {
        return GM_RESULT_DECODE_ERROR;
    }
    if (!c || !c->link || !gm__good_size(size) || !cache_in(c, off, size)) {
        *val = gm__good_size(size) ? gm__size_mask(size) : UINT64_MAX;
        return GM_RESULT_DECODE_ERROR;
    }
    cache_sync(c);
    if (c->ptr) {
        *val = gm__bytes_to_val(c->ptr + off, size, endian);
        return GM_RESULT_OK;
    }
    return gm_space_load(c->as, c->addr + off, size, endian, val,
                         GM_ATTRS_DEFAULT);
}

enum gm_result gm_cache_store_slow(struct gm_cache *c, uint64_t off,
                                   unsigned size, enum gm_endian endian,
                                   uint64_t val)
{
    if (!c || !c->link || !gm__good_size(size) || !cache_in(c, off, size)) {
        return GM_RESULT_DECODE_ERROR;
    }
    cache_sync(c);
    if (c->ptr && c->writable) {
        uint8_t b[8];

        gm__val_to_bytes(val, b, size, endian);
        return gm_cache_write(c, off, b, size);
    }
    return gm_space_store(c->as, c->addr + off, size, endian, val,
                          GM_ATTRS_DEFAULT);
}
