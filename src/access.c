/* SPDX-License-Identifier: MIT */
/*
 * access.c - reading and writing guest memory, DMA maps, access caches.
 *
 * An access loads the space's current flat view under RCU, looks each
 * address up in the view's dispatch table (dispatch.c) and then:
 *  - RAM (and ROM devices in romd mode, for reads) is copied directly;
 *    writes to read-only ranges are dropped and reported; writes to RAM
 *    whose range has a dirty-log mask call the system's dirty hook;
 *  - MMIO goes through the region's ops with QEMU's rules: the access is cut
 *    to the largest power of two the device may take at that alignment,
 *    checked against `valid` (a refusal is a decode error), then split or
 *    widened to the `impl` sizes; values travel in the device's byte order;
 *    an ioeventfd matching a write is signalled instead of the device;
 *  - holes read as all-ones with a decode error.
 * Nothing here takes a lock except the DMA bookkeeping of one space; MMIO
 * callbacks run inside the RCU read-side section only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define BOUNCE_DEFAULT 4096

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
    for (c = as->clients; c; c = c->next) {
        n += !c->called;
    }
    if (!n || !(*out = malloc(n * sizeof(**out)))) {
        return 0; /* ENOMEM: they are told at the next release */
    }
    for (c = as->clients; c; c = c->next) {
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
 * ioeventfds, readers' copy.
 */

static void evpub_free_cb(struct rcu_head *h)
{
    gm__rcu_cb_enter(h);
    free(caa_container_of(h, struct gm_evfd_pub, rcu));
}

/* Writer lock held. */
void gm__region_publish_evfds(gm_region *r)
{
    struct gm_evfd_pub *p = NULL, *old;

    if (r->evfds.n) {
        p = malloc(sizeof(*p) + r->evfds.n * sizeof(p->v[0]));
        if (p) {
            p->n = r->evfds.n;
            memcpy(p->v, r->evfds.v, r->evfds.n * sizeof(p->v[0]));
        }
        /* On ENOMEM the previous snapshot stays: writes keep matching it. */
        if (!p) {
            return;
        }
    }
    old = atomic_exchange_explicit(&r->evpub, p, memory_order_acq_rel);
    if (old) {
        gm__rcu_call(&old->rcu, evpub_free_cb);
    }
}

void gm__region_free_evfds(gm_region *r)
{
    /* The region is unreachable: no reader can hold the snapshot. */
    free(atomic_load_explicit(&r->evpub, memory_order_relaxed));
}

static bool evfd_match(gm_region *mr, uint64_t off, unsigned size,
                       uint64_t data)
{
    struct gm_evfd_pub *p = gm__rcu_load(mr->evpub);

    if (!p) {
        return false;
    }
    for (size_t i = 0; i < p->n; i++) {
        const struct gm_ioeventfd *e = &p->v[i];
        if (e->addr == off && (e->size == 0 || e->size == size) &&
            (!e->match_data || e->data == data)) {
            uint64_t one = 1;
            /* A full counter only means the consumer is far behind. */
            ssize_t n = write(e->fd, &one, sizeof(one));
            (void)n;
            return true;
        }
    }
    return false;
}

/*
 * Byte order helpers.
 */

static bool endian_is_big(enum gm_endian e)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return e != GM_ENDIAN_LITTLE;
#else
    return e == GM_ENDIAN_BIG;
#endif
}

static bool need_swap(enum gm_endian e)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return e == GM_ENDIAN_LITTLE;
#else
    return e == GM_ENDIAN_BIG;
#endif
}

/* Value of `size` bytes in memory order, interpreted in byte order e. */
static uint64_t bytes_to_val(const uint8_t *b, unsigned size, enum gm_endian e)
{
    bool sw = need_swap(e);

    switch (size) {
    case 1:
        return b[0];
    case 2: {
        uint16_t v;
        memcpy(&v, b, 2);
        return sw ? __builtin_bswap16(v) : v;
    }
    case 4: {
        uint32_t v;
        memcpy(&v, b, 4);
        return sw ? __builtin_bswap32(v) : v;
    }
    default: {
        uint64_t v;
        memcpy(&v, b, 8);
        return sw ? __builtin_bswap64(v) : v;
    }
    }
}

static void val_to_bytes(uint64_t v, uint8_t *b, unsigned size,
                         enum gm_endian e)
{
    bool sw = need_swap(e);

    switch (size) {
    case 1:
        b[0] = (uint8_t)v;
        break;
    case 2: {
        uint16_t x = sw ? __builtin_bswap16((uint16_t)v) : (uint16_t)v;
        memcpy(b, &x, 2);
        break;
    }
    case 4: {
        uint32_t x = sw ? __builtin_bswap32((uint32_t)v) : (uint32_t)v;
        memcpy(b, &x, 4);
        break;
    }
    default: {
        uint64_t x = sw ? __builtin_bswap64(v) : v;
        memcpy(b, &x, 8);
        break;
    }
    }
}

/*
 * MMIO.
 */

/* Only for ranges from the dispatch table (records carry acc and host). */
static inline bool is_direct_read(const struct gm_range *rg)
{
    return rg->acc & GM_ACC_READ;
}

static inline bool is_direct_write(const struct gm_range *rg)
{
    return rg->acc & GM_ACC_RAM;
}

static bool access_valid(gm_region *mr, uint64_t off, unsigned size,
                         bool is_write, struct gm_mem_attrs attrs)
{
    const struct gm_region_ops *o = mr->ops;
    unsigned vmin = o->valid.min_access_size ? o->valid.min_access_size : 1;

    if (o->valid.accepts &&
        !o->valid.accepts(mr->opaque, off, size, is_write, attrs)) {
        return false;
    }
    if (!o->valid.unaligned && (off & (size - 1))) {
        return false;
    }
    if (!o->valid.max_access_size) {
        return true;
    }
    return size >= vmin && size <= o->valid.max_access_size;
}

/*
 * The sizes whose accesses pass `valid` without asking the device and need
 * no cutting by `impl`, the common case: computed once per region
 * (internal.h), checked inline by simple_access().
 */
void gm__ops_simple(const struct gm_region_ops *o, uint8_t *sizes,
                    bool *unaligned)
{
    *sizes = 0;
    *unaligned = false;
    if (!o || o->valid.accepts) {
        return;
    }
    unsigned imin = o->impl.min_access_size ? o->impl.min_access_size : 1;
    unsigned imax = o->impl.max_access_size ? o->impl.max_access_size : 4;
    unsigned vmin = o->valid.min_access_size ? o->valid.min_access_size : 1;

    for (unsigned size = 1; size <= 8; size *= 2) {
        if ((!o->valid.max_access_size ||
             (size >= vmin && size <= o->valid.max_access_size)) &&
            size >= imin && size <= imax) {
            *sizes |= (uint8_t)size;
        }
    }
    *unaligned = o->valid.unaligned;
}

/* Does the device take this access as it is (see gm__ops_simple)? */
static inline bool simple_access(const gm_region *mr, uint64_t off,
                                 unsigned size)
{
    return (mr->simple_sizes & size) &&
           (mr->simple_unaligned || !(off & (size - 1)));
}

static inline uint64_t bswap_size(uint64_t v, unsigned size)
{
    switch (size) {
    case 2:
        return __builtin_bswap16((uint16_t)v);
    case 4:
        return __builtin_bswap32((uint32_t)v);
    case 8:
        return __builtin_bswap64(v);
    default:
        return v;
    }
}

static enum gm_result call_read(gm_region *mr, uint64_t off, uint64_t *v,
                                unsigned size, struct gm_mem_attrs attrs)
{
    const struct gm_region_ops *o = mr->ops;

    if (o->read_with_attrs) {
        return o->read_with_attrs(mr->opaque, off, v, size, attrs);
    }
    *v = o->read ? o->read(mr->opaque, off, size) : 0;
    return GM_RESULT_OK;
}

static enum gm_result call_write(gm_region *mr, uint64_t off, uint64_t v,
                                 unsigned size, struct gm_mem_attrs attrs)
{
    const struct gm_region_ops *o = mr->ops;

    if (o->write_with_attrs) {
        return o->write_with_attrs(mr->opaque, off, v, size, attrs);
    }
    if (o->write) {
        o->write(mr->opaque, off, v, size);
    }
    return GM_RESULT_OK;
}

static uint64_t size_mask(unsigned size)
{
    return size >= 8 ? UINT64_MAX : ((uint64_t)1 << (size * 8)) - 1;
}

/*
 * One device access of `size` bytes (a power of two <= 8) whose value is in
 * the device's byte order, cut into the impl sizes: split into several
 * callbacks when the device implements smaller accesses, widened when it
 * implements only larger ones (as QEMU's access_with_adjusted_size).
 */
static int part_shift(bool big, unsigned size, unsigned asz, unsigned i)
{
    return big ? (int)(size - asz - i) * 8 : (int)i * 8;
}

static void impl_sizes(const struct gm_region_ops *o, unsigned size,
                       unsigned *asz)
{
    unsigned imin = o->impl.min_access_size ? o->impl.min_access_size : 1;
    unsigned imax = o->impl.max_access_size ? o->impl.max_access_size : 4;
    unsigned a = size < imax ? size : imax;

    *asz = a < imin ? imin : a;
}

static enum gm_result mmio_read(gm_region *mr, uint64_t off, uint64_t *val,
                                unsigned size, struct gm_mem_attrs attrs)
{
    const struct gm_region_ops *o = mr->ops;
    bool big = endian_is_big(o->endianness);
    enum gm_result r = GM_RESULT_OK;
    uint64_t v = 0;
    unsigned asz;

    if (!access_valid(mr, off, size, false, attrs)) {
        *val = size_mask(size);
        return GM_RESULT_DECODE_ERROR;
    }
    impl_sizes(o, size, &asz);
    for (unsigned i = 0; i < size; i += asz) {
        int sh = part_shift(big, size, asz, i);
        uint64_t part = 0;

        r |= call_read(mr, off + i, &part, asz, attrs);
        part &= size_mask(asz);
        v |= sh >= 0 ? part << sh : part >> -sh;
    }
    *val = v & size_mask(size);
    return r;
}

static enum gm_result mmio_write(gm_region *mr, uint64_t off, uint64_t val,
                                 unsigned size, struct gm_mem_attrs attrs)
{
    const struct gm_region_ops *o = mr->ops;
    bool big = endian_is_big(o->endianness);
    enum gm_result r = GM_RESULT_OK;
    unsigned asz;

    if (!access_valid(mr, off, size, true, attrs)) {
        return GM_RESULT_DECODE_ERROR;
    }
    if (evfd_match(mr, off, size, val)) {
        return GM_RESULT_OK; /* signalled instead of the device */
    }
    impl_sizes(o, size, &asz);
    for (unsigned i = 0; i < size; i += asz) {
        int sh = part_shift(big, size, asz, i);
        uint64_t part = sh >= 0 ? val >> sh : val << -sh;

        r |= call_write(mr, off + i, part & size_mask(asz), asz, attrs);
    }
    return r;
}

/* The largest access the device may take at off, at most l bytes. */
static unsigned mmio_chunk(gm_region *mr, uint64_t off, uint64_t l)
{
    const struct gm_region_ops *o = mr->ops;
    unsigned max = o->valid.max_access_size ? o->valid.max_access_size : 4;
    unsigned sz = 8;

    if (max > 8) {
        max = 8;
    }
    if (!o->impl.unaligned) {
        uint64_t align = off & (~off + 1); /* lowest set bit, 0 if off 0 */
        if (align && align < max) {
            max = (unsigned)align;
        }
    }
    while (sz > max || sz > l) {
        sz >>= 1;
    }
    return sz ? sz : 1;
}

/*
 * The core loop.
 */

static void mark_dirty(gm_system *sys, const struct gm_range *rg,
                       uint64_t off, uint64_t len)
{
    gm_dirty_fn fn = atomic_load_explicit(&sys->dirty_fn,
                                          memory_order_acquire);

    if (fn && rg->mask) {
        fn(atomic_load_explicit(&sys->dirty_opaque, memory_order_relaxed),
           rg->mr, off, len, rg->mask);
    }
}

static enum gm_result view_rw(gm_flatview *fv, uint64_t addr, uint8_t *buf,
                              size_t len, bool is_write,
                              struct gm_mem_attrs attrs)
{
    enum gm_result res = GM_RESULT_OK;

    while (len) {
        const struct gm_range *rg = gm__dispatch_lookup(&fv->disp, addr);
        uint64_t l;

        if (!rg) {
            /* A hole up to the next range (or the end of the access). */
            const struct gm_range *nx = gm__fv_next(fv->tree, addr);
            l = nx ? nx->start - addr : UINT64_MAX - addr + 1;
            if (l == 0 || l > len) {
                l = len;
            }
            if (!is_write) {
                memset(buf, 0xff, l);
            }
            res |= GM_RESULT_DECODE_ERROR;
        } else {
            uint64_t off = rg->offset + (addr - rg->start);
            gm_region *mr = rg->mr;

            l = rg->last - addr + 1;
            if (l == 0 || l > len) {
                l = len; /* l == 0: the range ends at 2^64 */
            }
            if (!is_write && is_direct_read(rg)) {
                memcpy(buf, rg->host + (addr - rg->start), l);
            } else if (is_write && is_direct_write(rg)) {
                if (rg->readonly) {
                    res |= GM_RESULT_ACCESS_ERROR;
                } else {
                    memcpy(rg->host + (addr - rg->start), buf, l);
                    mark_dirty(fv->sys, rg, off, l);
                }
            } else if (!mr->ops) {
                /* Unassigned reservation. */
                if (!is_write) {
                    memset(buf, 0xff, l);
                }
                res |= GM_RESULT_DECODE_ERROR;
            } else {
                enum gm_endian e = mr->ops->endianness;
                unsigned sz = mmio_chunk(mr, off, l);
                uint64_t v;

                l = sz;
                if (is_write) {
                    v = bytes_to_val(buf, sz, e);
                    res |= mmio_write(mr, off, v, sz, attrs);
                } else {
                    res |= mmio_read(mr, off, &v, sz, attrs);
                    val_to_bytes(v, buf, sz, e);
                }
            }
        }
        buf += l;
        addr += l;
        len -= l;
    }
    return res;
}

enum gm_result gm_space_read(gm_space *as, uint64_t addr, void *buf,
                             size_t len, struct gm_mem_attrs attrs)
{
    enum gm_result r;

    if (!as || (!buf && len)) {
        return GM_RESULT_DECODE_ERROR;
    }
    gm__rcu_read_lock();
    r = view_rw(gm__rcu_load(as->view), addr, buf, len, false, attrs);
    gm__rcu_read_unlock();
    return r;
}

enum gm_result gm_space_write(gm_space *as, uint64_t addr, const void *buf,
                              size_t len, struct gm_mem_attrs attrs)
{
    enum gm_result r;

    if (!as || (!buf && len)) {
        return GM_RESULT_DECODE_ERROR;
    }
    gm__rcu_read_lock();
    r = view_rw(gm__rcu_load(as->view), addr, (void *)buf, len, true,
                attrs);
    gm__rcu_read_unlock();
    return r;
}

static bool good_size(unsigned size)
{
    return size == 1 || size == 2 || size == 4 || size == 8;
}

enum gm_result gm_space_load(gm_space *as, uint64_t addr, unsigned size,
                             enum gm_endian endian, uint64_t *val,
                             struct gm_mem_attrs attrs)
{
    uint8_t b[8];
    enum gm_result r;
    gm_flatview *fv;
    const struct gm_range *rg;

    if (!as || !val || !good_size(size)) {
        if (val) {
            *val = UINT64_MAX;
        }
        return GM_RESULT_DECODE_ERROR;
    }
    gm__rcu_read_lock();
    fv = gm__rcu_load(as->view);
    rg = gm__dispatch_lookup(&fv->disp, addr);
    if (rg && addr + size - 1 <= rg->last && addr + size - 1 >= addr) {
        if (is_direct_read(rg)) {
            /* Fast path: a RAM range holding the whole access. */
            *val = bytes_to_val(rg->host + (addr - rg->start), size, endian);
            gm__rcu_read_unlock();
            return GM_RESULT_OK;
        }
        if (rg->mr->ops) {
            /*
             * One device access of the full size, as QEMU's ld*: checked
             * against `valid`, then cut only by `impl`.
             */
            gm_region *mr = rg->mr;
            const struct gm_region_ops *o = mr->ops;
            uint64_t off = rg->offset + (addr - rg->start), v;

            if (simple_access(mr, off, size)) {
                /* The device takes it as it is: one call, no cutting. */
                r = call_read(mr, off, &v, size, attrs);
                gm__rcu_read_unlock();
                v &= size_mask(size);
                *val = need_swap(o->endianness) == need_swap(endian)
                           ? v
                           : bswap_size(v, size);
                return r;
            }
            r = mmio_read(mr, off, &v, size, attrs);
            val_to_bytes(v, b, size, o->endianness);
        } else {
            r = view_rw(fv, addr, b, size, false, attrs);
        }
    } else {
        r = view_rw(fv, addr, b, size, false, attrs);
    }
    gm__rcu_read_unlock();
    *val = bytes_to_val(b, size, endian);
    return r;
}

enum gm_result gm_space_store(gm_space *as, uint64_t addr, unsigned size,
                              enum gm_endian endian, uint64_t val,
                              struct gm_mem_attrs attrs)
{
    const struct gm_range *rg;
    gm_flatview *fv;
    uint8_t b[8];
    enum gm_result r;

    if (!as || !good_size(size)) {
        return GM_RESULT_DECODE_ERROR;
    }
    val_to_bytes(val, b, size, endian);
    gm__rcu_read_lock();
    fv = gm__rcu_load(as->view);
    rg = gm__dispatch_lookup(&fv->disp, addr);
    if (rg && is_direct_write(rg) && !rg->readonly &&
        addr + size - 1 <= rg->last && addr + size - 1 >= addr) {
        /* Fast path: writable RAM holding the whole access. */
        memcpy(rg->host + (addr - rg->start), b, size);
        if (rg->mask) {
            mark_dirty(fv->sys, rg, rg->offset + (addr - rg->start), size);
        }
        r = GM_RESULT_OK;
    } else if (rg && !is_direct_write(rg) && rg->mr->ops &&
               addr + size - 1 <= rg->last && addr + size - 1 >= addr) {
        /* One device access of the full size, as QEMU's st*. */
        gm_region *mr = rg->mr;
        const struct gm_region_ops *o = mr->ops;
        uint64_t off = rg->offset + (addr - rg->start);
        uint64_t m = val & size_mask(size);
        uint64_t v = need_swap(o->endianness) == need_swap(endian)
                         ? m
                         : bswap_size(m, size);

        if (simple_access(mr, off, size)) {
            /* The device takes it as it is: one call, no cutting. */
            r = evfd_match(mr, off, size, v) ? GM_RESULT_OK
                                              : call_write(mr, off, v, size,
                                                           attrs);
        } else {
            r = mmio_write(mr, off, v, size, attrs);
        }
    } else {
        r = view_rw(fv, addr, b, size, true, attrs);
    }
    gm__rcu_read_unlock();
    return r;
}

void gm_system_set_dirty_hook(gm_system *sys, gm_dirty_fn fn, void *opaque)
{
    if (sys) {
        atomic_store_explicit(&sys->dirty_opaque, opaque,
                              memory_order_relaxed);
        atomic_store_explicit(&sys->dirty_fn, fn, memory_order_release);
    }
}

/*
 * DMA.
 */

/* A new space's DMA and access-cache bookkeeping. */
void gm__space_dma_init(gm_space *as)
{
    pthread_mutex_init(&as->caches_lock, NULL);
    pthread_mutex_init(&as->maps_lock, NULL);
    as->bounce_budget = BOUNCE_DEFAULT;
}

void gm__space_dma_fini(gm_space *as)
{
    while (as->maps) {
        struct gm_dma_map *m = as->maps;
        as->maps = m->next;
        if (m->bounce) {
            free(m->buf);
        }
        gm_flatview_unref(m->view);
        free(m);
    }
    while (as->clients) {
        struct gm_map_client *c = as->clients;
        as->clients = c->next;
        free(c);
    }
    pthread_mutex_destroy(&as->maps_lock);
    pthread_mutex_destroy(&as->caches_lock);
}

int gm_space_set_bounce_budget(gm_space *as, size_t bytes, gm_error *err)
{
    if (!as) {
        return gm__error_set(err, -EINVAL, "NULL address space");
    }
    pthread_mutex_lock(&as->maps_lock);
    as->bounce_budget = bytes;
    pthread_mutex_unlock(&as->maps_lock);
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
    if (rg && (is_write ? is_direct_write(rg) && !rg->readonly
                        : is_direct_read(rg))) {
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
        pthread_mutex_lock(&as->maps_lock);
        l = as->bounce_used >= as->bounce_budget
                ? 0
                : as->bounce_budget - as->bounce_used;
        if (l > want) {
            l = want;
        }
        if (rg && !is_direct_read(rg) && !is_direct_write(rg)) {
            /* MMIO: limit to this range. */
            uint64_t rl = rg->last - addr + 1;
            if (rl && rl < l) {
                l = rl;
            }
        }
        if (l) {
            as->bounce_used += l;
        }
        pthread_mutex_unlock(&as->maps_lock);
        m->buf = l ? malloc(l) : NULL;
        if (!m->buf) {
            if (l) {
                pthread_mutex_lock(&as->maps_lock);
                as->bounce_used -= l;
                pthread_mutex_unlock(&as->maps_lock);
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
            view_rw(fv, addr, m->buf, l, false, attrs);
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
    pthread_mutex_lock(&as->maps_lock);
    m->next = as->maps;
    as->maps = m;
    pthread_mutex_unlock(&as->maps_lock);
    return buf;
}

void gm_space_unmap(gm_space *as, void *buf, uint64_t len, bool is_write,
                    uint64_t access_len)
{
    struct gm_dma_map **pp, *m = NULL;
    struct notify *clients = NULL;
    size_t nclients = 0;

    if (!as || !buf) {
        return;
    }
    pthread_mutex_lock(&as->maps_lock);
    for (pp = &as->maps; *pp; pp = &(*pp)->next) {
        if ((*pp)->buf == buf && (*pp)->len == len) {
            m = *pp;
            *pp = m->next;
            break;
        }
    }
    if (m && m->bounce) {
        as->bounce_used -= m->len;
        nclients = clients_take(as, &clients);
    }
    pthread_mutex_unlock(&as->maps_lock);
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
        } else if (m->mask) {
            struct gm_range rg = {0};
            rg.mr = m->region;
            rg.mask = m->mask;
            mark_dirty(as->sys, &rg, m->offset, access_len);
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
    pthread_mutex_lock(&as->maps_lock);
    c->next = as->clients;
    as->clients = c;
    /* Nothing bounced right now: a retry can succeed, say so at once. */
    if (as->bounce_used < as->bounce_budget) {
        c->called = true;
    }
    pthread_mutex_unlock(&as->maps_lock);
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
    pthread_mutex_lock(&as->maps_lock);
    for (pp = &as->clients; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            pthread_mutex_unlock(&as->maps_lock);
            free(c);
            return;
        }
    }
    pthread_mutex_unlock(&as->maps_lock);
}

/*
 * Access caches.
 *
 * A cache's inline paths read only fast_rd / fast_wr and the fields the
 * owning thread wrote when it resolved the window. Commits never touch
 * those fields; they only lower fast_* to 0 and raise stale, under the
 * space's caches_lock, after the new view is published and before the
 * commit returns. The owner resolves again under the same lock, so either
 * it resolves after that commit (and sees the new view), or the commit's
 * invalidation lands after it: no interleaving leaves a stale window on
 * the fast path. Region references are dropped outside the lock (a last
 * unref takes the writer lock, which commits hold while taking this one).
 */

struct gm_cache_link {
    struct gm_itree_node n; /* the window, in the space's index */
    struct gm_cache *c;
};

static void cache_set_fast(struct gm_cache *c, uint64_t rd, uint64_t wr,
                           memory_order mo)
{
    atomic_store_explicit((_Atomic uint64_t *)&c->fast_rd, rd, mo);
    atomic_store_explicit((_Atomic uint64_t *)&c->fast_wr, wr, mo);
}

/*
 * Resolve the window against the space's current view (caches_lock held).
 * Returns the region reference the cache let go of.
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
    gm__rcu_read_lock();
    rg = gm__dispatch_lookup(&gm__rcu_load(c->as->view)->disp, c->addr);
    if (rg && c->addr + c->len - 1 <= rg->last && is_direct_read(rg)) {
        c->offset = rg->offset + (c->addr - rg->start);
        c->ptr = (uint8_t *)rg->mr->ram + c->offset;
        /* The view holds the region; this reference outlives the view. */
        c->region = gm_region_ref(rg->mr);
        c->mask = rg->mask;
        c->writable = is_direct_write(rg) && !rg->readonly;
        if (c->len >= 8) {
            rd = c->len - 7; /* see struct gm_cache */
            if (c->writable && !rg->mask) {
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
    pthread_mutex_lock(&c->as->caches_lock);
    old = cache_resolve(c);
    pthread_mutex_unlock(&c->as->caches_lock);
    gm_region_unref(old);
}

static void cache_stale_cb(struct gm_itree_node *n, void *opaque)
{
    struct gm_cache *c = ((struct gm_cache_link *)n)->c;

    (void)opaque;
    atomic_store_explicit((_Atomic int *)&c->stale, 1, memory_order_relaxed);
    cache_set_fast(c, 0, 0, memory_order_release);
}

void gm__space_caches_changed(gm_space *as, const gm_secvec *secs,
                              const uint8_t *kinds)
{
    pthread_mutex_lock(&as->caches_lock);
    for (size_t i = 0; i < secs->n; i++) {
        const struct gm_section *s = &secs->v[i];

        if (kinds && kinds[i] == GM_EV_NOP) {
            continue; /* the same range as before */
        }
        gm__itree_query(as->caches, s->addr, (gm_u128)s->addr + s->size,
                        cache_stale_cb, NULL);
    }
    pthread_mutex_unlock(&as->caches_lock);
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
    pthread_mutex_lock(&as->caches_lock);
    gm__itree_insert(&as->caches, &l->n);
    as->nr_caches++;
    old = cache_resolve(c);
    pthread_mutex_unlock(&as->caches_lock);
    gm_region_unref(old);
    return 0;
}

void gm_cache_destroy(struct gm_cache *c)
{
    gm_region *old;

    if (!c || !c->link) {
        return;
    }
    pthread_mutex_lock(&c->as->caches_lock);
    gm__itree_remove(&c->as->caches, &((struct gm_cache_link *)c->link)->n);
    c->as->nr_caches--;
    cache_set_fast(c, 0, 0, memory_order_relaxed);
    old = c->region;
    c->region = NULL;
    c->ptr = NULL;
    pthread_mutex_unlock(&c->as->caches_lock);
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
    r = view_rw(gm__rcu_load(c->as->view), c->addr + off, buf, len, false,
                GM_ATTRS_DEFAULT);
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
            struct gm_range rg = {0};
            rg.mr = c->region;
            rg.mask = c->mask;
            mark_dirty(c->as->sys, &rg, c->offset + off, len);
        }
        return GM_RESULT_OK;
    }
    gm__rcu_read_lock();
    r = view_rw(gm__rcu_load(c->as->view), c->addr + off, (void *)buf, len,
                true, GM_ATTRS_DEFAULT);
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
    if (!c || !c->link || !good_size(size) || !cache_in(c, off, size)) {
        *val = good_size(size) ? size_mask(size) : UINT64_MAX;
        return GM_RESULT_DECODE_ERROR;
    }
    cache_sync(c);
    if (c->ptr) {
        *val = bytes_to_val(c->ptr + off, size, endian);
        return GM_RESULT_OK;
    }
    return gm_space_load(c->as, c->addr + off, size, endian, val,
                         GM_ATTRS_DEFAULT);
}

enum gm_result gm_cache_store_slow(struct gm_cache *c, uint64_t off,
                                   unsigned size, enum gm_endian endian,
                                   uint64_t val)
{
    if (!c || !c->link || !good_size(size) || !cache_in(c, off, size)) {
        return GM_RESULT_DECODE_ERROR;
    }
    cache_sync(c);
    if (c->ptr && c->writable) {
        uint8_t b[8];

        val_to_bytes(val, b, size, endian);
        return gm_cache_write(c, off, b, size);
    }
    return gm_space_store(c->as, c->addr + off, size, endian, val,
                          GM_ATTRS_DEFAULT);
}
