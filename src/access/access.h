/* SPDX-License-Identifier: MIT */
/*
 * access/access.h - the access path: what update/ and api/ call, and the
 * helpers access/'s own files share (inline: every access runs them).
 */
#ifndef GM_ACCESS_H
#define GM_ACCESS_H

#include <string.h>

#include "../view/view.h"

struct gm_dma_map;
struct gm_map_client;

#define GM_DMA_INLINE_BUCKETS 8

struct gm_cache_link;

/* Per space: its access caches, and DMA bookkeeping. */
struct gm_space_access {
    gm_space *as;
    struct gm_space_access *next, *prev; /* the system's (spaces_lock) */
    /* Access caches (cache.c): lock protects the list and their cells. */
    pthread_mutex_t lock;
    struct gm_cache_link *caches;
    size_t nr_caches;

    /* DMA (dma.c); maps_lock protects what follows. */
    pthread_mutex_t maps_lock;
    size_t bounce_budget;
    size_t bounce_used;
    struct gm_dma_map **buckets; /* active maps by pointer (a hash) */
    size_t nbuckets;             /* a power of two */
    size_t nmaps;
    struct gm_dma_map *inline_buckets[GM_DMA_INLINE_BUCKETS];
    struct gm_map_client *clients;
};

struct gm_access_state {
    _Atomic(gm_dirty_fn) dirty_fn; /* read by the access path */
    void *_Atomic dirty_opaque;
    _Atomic(gm_flush_fn) flush_fn; /* drains coalesced MMIO */
    void *_Atomic flush_opaque;
    /* Every space's part, to restale all caches when the hook changes. */
    pthread_mutex_t spaces_lock;
    struct gm_space_access *spaces;
};

int gm__access_init(gm_system *sys);
void gm__access_fini(gm_system *sys);
/* A new space's part / releasing it (maps still held are dropped). */
int gm__access_space_init(gm_space *as);
void gm__access_space_fini(gm_space *as);
/*
 * What still uses as from outside (NULL: nothing): an open access cache, an
 * active DMA map, a registered map client. A space in use is not destroyed.
 */
const char *gm__access_in_use(gm_space *as);
/* Enter a space's part in the system's list / take it out (rw.c). */
void gm__access_space_link(gm_system *sys, struct gm_space_access *a);
void gm__access_space_unlink(gm_system *sys, struct gm_space_access *a);

/*
 * A commit changed [lo, hi) of the view published in cell: caches whose
 * window meets it resolve again. Writer lock held, after the view is
 * published, between lock and unlock (one hold for all of a commit's
 * ranges).
 */
void gm__access_cell_lock(struct gm_viewcell *cell);
void gm__access_cell_stale(struct gm_viewcell *cell, uint64_t lo, gm_u128 hi);
void gm__access_cell_unlock(struct gm_viewcell *cell);
/* as now reads another cell: its caches follow and resolve again. */
void gm__access_space_moved(gm_space *as);

/*
 * Shared by access/'s own files.
 */
/*
 * The core loop: read or write len bytes at addr through view fv; fill is
 * the byte unassigned addresses read as (the space's choice).
 */
enum gm_result gm__view_rw(gm_flatview *fv, uint64_t addr, uint8_t *buf,
                           size_t len, bool is_write,
                           struct gm_mem_attrs attrs, uint8_t fill);

/* The byte unassigned addresses of as read as: 0x00 or 0xff. */
static inline uint8_t gm__unassigned_fill(const gm_space *as)
{
    return atomic_load_explicit(&as->unassigned, memory_order_relaxed);
}
/*
 * A write to RAM of mr: set the dirty bits of the clients in mask, and tell
 * the dirty hook (nothing when mask is 0). Any thread.
 */
void gm__mark_dirty(gm_system *sys, gm_region *mr, uint64_t off,
                    uint64_t len, uint8_t mask);
/* MMIO with QEMU's valid / impl rules (mmio.c). */
enum gm_result gm__mmio_read(gm_region *mr, uint64_t off, uint64_t *val,
                             unsigned size, struct gm_mem_attrs attrs,
                             uint8_t fill);
enum gm_result gm__mmio_write(gm_region *mr, uint64_t off, uint64_t val,
                              unsigned size, struct gm_mem_attrs attrs);
/* The largest access the device may take at off, at most l bytes. */
unsigned gm__mmio_chunk(gm_region *mr, uint64_t off, uint64_t l);
/* Signal an ioeventfd matching this write instead of the device. */
bool gm__evfd_match(gm_region *mr, uint64_t off, unsigned size,
                    uint64_t data);

static inline bool gm__good_size(unsigned size)
{
    return size == 1 || size == 2 || size == 4 || size == 8;
}

static inline bool gm__endian_is_big(enum gm_endian e)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return e != GM_ENDIAN_LITTLE;
#else
    return e == GM_ENDIAN_BIG;
#endif
}

static inline bool gm__need_swap(enum gm_endian e)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return e == GM_ENDIAN_LITTLE;
#else
    return e == GM_ENDIAN_BIG;
#endif
}

/* Value of `size` bytes in memory order, interpreted in byte order e. */
static inline uint64_t gm__bytes_to_val(const uint8_t *b, unsigned size, enum gm_endian e)
{
    bool sw = gm__need_swap(e);

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

static inline void gm__val_to_bytes(uint64_t v, uint8_t *b, unsigned size,
                         enum gm_endian e)
{
    bool sw = gm__need_swap(e);

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

/* Only for ranges from the dispatch table (records carry acc and host). */
static inline bool gm__is_direct_read(const struct gm_range *rg)
{
    return rg->acc & GM_ACC_READ;
}

static inline bool gm__is_direct_write(const struct gm_range *rg)
{
    return rg->acc & GM_ACC_RAM;
}

/* Does the device take this access as it is (tree/region.c ops_simple)? */
static inline bool gm__simple_access(const gm_region *mr, uint64_t off,
                                 unsigned size)
{
    return (mr->simple_sizes & size) &&
           (mr->simple_unaligned || !(off & (size - 1)));
}

static inline uint64_t gm__bswap_size(uint64_t v, unsigned size)
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

/* Drain coalesced MMIO writes (the system's flush function, if any). */
void gm__coalesced_flush(gm_system *sys);

/* Before a device access: its pending coalesced writes first. */
static inline void gm__flush_before(gm_region *mr)
{
    if (atomic_load_explicit(&mr->flush_coalesced, memory_order_relaxed)) {
        gm__coalesced_flush(mr->sys);
    }
}

static inline enum gm_result gm__call_read(gm_region *mr, uint64_t off, uint64_t *v,
                                unsigned size, struct gm_mem_attrs attrs)
{
    const struct gm_region_ops *o = mr->ops;

    gm__flush_before(mr);
    if (o->read_with_attrs) {
        return o->read_with_attrs(mr->opaque, off, v, size, attrs);
    }
    *v = o->read ? o->read(mr->opaque, off, size) : 0;
    return GM_RESULT_OK;
}

static inline enum gm_result gm__call_write(gm_region *mr, uint64_t off, uint64_t v,
                                 unsigned size, struct gm_mem_attrs attrs)
{
    const struct gm_region_ops *o = mr->ops;

    gm__flush_before(mr);
    if (o->write_with_attrs) {
        return o->write_with_attrs(mr->opaque, off, v, size, attrs);
    }
    if (o->write) {
        o->write(mr->opaque, off, v, size);
    }
    return GM_RESULT_OK;
}

static inline uint64_t gm__size_mask(unsigned size)
{
    return size >= 8 ? UINT64_MAX : ((uint64_t)1 << (size * 8)) - 1;
}

#endif
