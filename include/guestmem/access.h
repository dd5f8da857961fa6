/* SPDX-License-Identifier: MIT */
/*
 * guestmem/access.h - reading and writing guest memory through an address
 * space, mapping it for DMA, and caching a device's window.
 *
 * Every access looks its address up in the dispatch table of the space's
 * current flat view (a radix table over page numbers, updated by each
 * commit only where the view changed) inside an RCU read-side section: no
 * lock is taken, any number of threads may access while another commits.
 * MMIO callbacks run in that read-side section, without any guestmem lock;
 * they may access memory and even commit topology changes (a commit made
 * inside a read-side section never waits for readers; elsewhere a call
 * that changes the topology may wait for a grace period once it has
 * released the writer lock).
 *
 * Results follow QEMU: reads of unassigned addresses (holes, regions made
 * with NULL ops) and reads a device refuses (valid rules, accepts
 * callback) return GM_RESULT_DECODE_ERROR and read as 0, as QEMU's
 * unassigned_mem_read() (QEMU 8 to 10); a space can read all-ones there
 * instead (gm_space_set_unassigned()), as a PC's I/O ports and a PCI
 * master abort do. Writes there are dropped with the same result. Writes
 * to ROM or read-only RAM are dropped and reported as
 * GM_RESULT_ACCESS_ERROR (QEMU reports a decode error there: its RAM
 * regions have unassigned ops); a device callback's own error is passed
 * on. Accesses crossing ranges are split; the result is the OR of the
 * parts' results.
 */
#ifndef GUESTMEM_ACCESS_H
#define GUESTMEM_ACCESS_H

#include "error.h"
#include "region.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Attributes of a plain CPU access. */
#define GM_ATTRS_DEFAULT ((struct gm_mem_attrs){0, false, false})

/**
 * gm_space_read() - copy @len bytes of guest memory at @addr into @buf.
 * Return: GM_RESULT_OK or the OR of the parts' errors (unassigned bytes
 * read as the space's unassigned value); GM_RESULT_DECODE_ERROR with @buf
 * untouched for a NULL @as, or a NULL @buf and a non-zero @len.
 * Context: any thread; lock-free.
 */
GM_EXPORT enum gm_result gm_space_read(gm_space *as, uint64_t addr,
                                       void *buf, size_t len,
                                       struct gm_mem_attrs attrs);

/** gm_space_write() - copy @len bytes from @buf into guest memory. */
GM_EXPORT enum gm_result gm_space_write(gm_space *as, uint64_t addr,
                                        const void *buf, size_t len,
                                        struct gm_mem_attrs attrs);

/**
 * gm_space_load() - a 1, 2, 4 or 8-byte load in the given byte order.
 * @val: receives the value: bytes at unassigned addresses, and all of a
 *       device access the device refuses, read as the space's unassigned
 *       value; all-ones for a bad argument.
 *
 * When one device range holds the whole load it is one device access of
 * @size bytes (checked against the device's `valid` rules, then split or
 * widened by its `impl` sizes), as QEMU's ld* helpers; gm_space_read()
 * instead cuts a buffer into the largest accesses the device takes, and so
 * does a load that crosses ranges.
 * Return: as gm_space_read(); GM_RESULT_DECODE_ERROR for a bad @size.
 */
GM_EXPORT enum gm_result gm_space_load(gm_space *as, uint64_t addr,
                                       unsigned size, enum gm_endian endian,
                                       uint64_t *val,
                                       struct gm_mem_attrs attrs);

/** gm_space_store() - a 1, 2, 4 or 8-byte store in the given byte order. */
GM_EXPORT enum gm_result gm_space_store(gm_space *as, uint64_t addr,
                                        unsigned size, enum gm_endian endian,
                                        uint64_t val,
                                        struct gm_mem_attrs attrs);

/**
 * enum gm_unassigned - what reads of unassigned addresses return.
 * @GM_UNASSIGNED_ZERO: zeros, as QEMU's unassigned_mem_read() (default).
 * @GM_UNASSIGNED_ONES: all-ones: a floating bus, as a PC's I/O port space
 *                      (QEMU gives it an unassigned_io_ops region covering
 *                      every port) or a PCI master abort.
 */
enum gm_unassigned {
    GM_UNASSIGNED_ZERO = 0,
    GM_UNASSIGNED_ONES = 1,
};

/**
 * gm_space_set_unassigned() - choose what unassigned reads of @as return.
 * Return: 0 or -EINVAL. Context: any thread; accesses already running may
 * still use the previous value.
 */
GM_EXPORT int gm_space_set_unassigned(gm_space *as, enum gm_unassigned value,
                                      gm_error *err);
/** gm_space_unassigned() - the current choice (GM_UNASSIGNED_ZERO for NULL). */
GM_EXPORT enum gm_unassigned gm_space_unassigned(const gm_space *as);

/*
 * DMA. gm_space_map() returns a host pointer for up to *@plen bytes at
 * @addr: directly into RAM (extended across contiguous ranges of the same
 * RAM), or into a bounce buffer for anything else, charged to the space's
 * bounce budget. It returns NULL when nothing can be mapped now (the budget
 * is exhausted, @addr is not mapped at all, or memory ran out); *@plen is
 * then 0. Maps still held when @as is destroyed are released with it
 * (bounce buffers freed): unmap them first. Clients registered with
 * gm_space_register_map_client() are told when a bounce buffer is
 * released. gm_space_unmap() must be given the pointer and length of the
 * map, and how many bytes were actually written (@access_len): a written
 * RAM mapping marks them dirty, a written bounce buffer is written back
 * through gm_space_write().
 */
GM_EXPORT void *gm_space_map(gm_space *as, uint64_t addr, uint64_t *plen,
                             bool is_write, struct gm_mem_attrs attrs);
GM_EXPORT void gm_space_unmap(gm_space *as, void *buf, uint64_t len,
                              bool is_write, uint64_t access_len);

/**
 * gm_space_set_bounce_budget() - bytes of bounce buffers that may be mapped
 * at once in @as (default 4096, as QEMU). Return: 0 or -EINVAL.
 */
GM_EXPORT int gm_space_set_bounce_budget(gm_space *as, size_t bytes,
                                         gm_error *err);

typedef struct gm_map_client gm_map_client;
/**
 * gm_space_register_map_client() - call @fn(@opaque) once, when a retry of
 * a failed map may succeed: the next time a bounce buffer of @as is
 * released, or at once if bounce room is free now.
 * Return: a handle, or NULL on -ENOMEM. The handle stays valid after the
 * call: release it with gm_space_unregister_map_client() either way; while
 * it is registered, @as cannot be destroyed (-EBUSY).
 * Context: @fn runs on the thread that releases the buffer (or registers),
 * with no guestmem lock held.
 */
GM_EXPORT gm_map_client *gm_space_register_map_client(gm_space *as,
                                                      void (*fn)(void *),
                                                      void *opaque);
/** Forget a client (before or after its call) and free the handle. */
GM_EXPORT void gm_space_unregister_map_client(gm_map_client *c);

/*
 * The dirty hook: called for every write through this API (and every
 * written DMA unmap) that lands in RAM whose range has a non-zero dirty-log
 * mask, with the region, the offset and length written, and the mask.
 * Context: the writing thread (for a DMA map, the one that unmaps it);
 * inside an RCU read-side section for writes through the space, outside
 * one for a cache's writes to its RAM and for unmaps of RAM maps; must not
 * block.
 */
typedef void (*gm_dirty_fn)(void *opaque, gm_region *region,
                            uint64_t offset, uint64_t len, uint8_t mask);
/**
 * gm_system_set_dirty_hook() - install @fn (NULL: none). The dirty bitmaps
 * (dirty.h) are set whether or not a hook is installed; with one, access
 * caches stop storing inline into logged RAM so the hook sees those
 * stores too (open caches resolve again).
 * Context: any thread but the hook's own; writes already in flight may
 * still reach the previous hook.
 */
GM_EXPORT void gm_system_set_dirty_hook(gm_system *sys, gm_dirty_fn fn,
                                        void *opaque);

/**
 * gm_system_set_coalesced_flush() - install the function that drains
 * batched (coalesced) MMIO writes into their devices, such as KVM's
 * coalesced MMIO ring (NULL: none). guestmem calls it as each transaction
 * begins (every mutator's implicit one too) and before each device access
 * to a region that flushes (gm_region_set_flush_coalesced(), which
 * gm_region_add_coalescing() implies), so a device sees its writes in
 * order and before its next read, and a topology change sees them done.
 * Context: @fn runs on the thread that begins or accesses, perhaps with
 * the writer lock held or inside an RCU read-side section. The device
 * writes it replays may begin transactions and so call @fn again on the
 * same thread: it must notice that and return at once (QEMU's
 * coalesced_flush_in_progress), and it must serialise itself across
 * threads. Writes already draining may still reach the previous @fn.
 */
typedef void (*gm_flush_fn)(void *opaque);
GM_EXPORT void gm_system_set_coalesced_flush(gm_system *sys, gm_flush_fn fn,
                                             void *opaque);

/*
 * Access caches (QEMU's MemoryRegionCache): a device that keeps touching
 * one window of guest memory (a virtqueue ring) resolves it once.
 *
 * When the window lies in one range of plain RAM (or ROM, for reading),
 * the inline gm_cache_load() / gm_cache_store() are a bounds check against
 * one atomic field and the memory access. The cache stays safe across
 * topology changes: the space indexes its caches by window, and a commit
 * that changes, removes or adds a range meeting a window (or changes its
 * dirty-log mask) clears that field before it returns, so the next access
 * takes the slow path and resolves again. Commits elsewhere in the space
 * leave the cache alone. The cache holds a reference on the RAM's region,
 * so an access racing with the commit that unmaps it still lands in live
 * memory (it is ordered before the commit).
 *
 * The struct belongs to the caller (embed it anywhere) but must be set up
 * by gm_cache_init() and released by gm_cache_destroy(); its fields are
 * private except as, addr, len and is_write, which are read-only.
 */
struct gm_cache {
    gm_space *as;
    uint64_t addr, len;
    bool is_write;
    /* Private below (read by the inline fast paths). */
    /*
     * Atomic: an inline load (store) at off is served when off < fast_rd
     * (fast_wr). They are len - 7 when the window allows it, so any access
     * of up to 8 bytes fits with one comparison; 0 sends every access to
     * the slow path (as do the last 7 bytes of the window, and windows
     * shorter than 8 bytes).
     */
    uint64_t fast_rd;
    uint64_t fast_wr;
    uint8_t *ptr;       /* the window in host memory when it is plain RAM */
    gm_region *region;  /* that RAM's region (referenced while ptr is set) */
    uint64_t offset;    /* offset of addr in region */
    uint8_t mask;       /* dirty-log mask of that RAM */
    bool writable;      /* ... and it takes writes */
    int stale;          /* atomic: a commit changed the window */
    void *link;         /* the space's index entry */
    /*
     * Logged stores inline: the words of the bitmap chunk holding the
     * window, per logging client (ndirty of them), the window's first
     * page in that chunk and its offset in that page; dirty_always: set
     * bits without testing them first (see src/dirty/bitmap.c).
     */
    uint64_t *dirty[GM_DIRTY_NR];
    uint32_t dirty_page;
    uint16_t dirty_skew;
    uint8_t ndirty;
    bool dirty_always;
};

/**
 * gm_cache_init() - resolve [@addr, @addr + @len) of @as for repeated use.
 * @is_write: whether the caller means to write (QEMU's flag, recorded in
 *            the cache); loads and stores both work, and each takes the
 *            inline path whenever the range allows it.
 * Return: 0; -EINVAL (bad argument), -ENOMEM. Context: any thread, outside
 * an RCU read-side section. While the cache lives, @as cannot be destroyed
 * (gm_space_destroy() returns -EBUSY).
 */
GM_EXPORT int gm_cache_init(struct gm_cache *c, gm_space *as, uint64_t addr,
                            uint64_t len, bool is_write, gm_error *err);
/** Unregister @c and drop its reference. Context: as gm_cache_init(). */
GM_EXPORT void gm_cache_destroy(struct gm_cache *c);
/** Whether the inline fast path serves @c now (for tests and statistics). */
GM_EXPORT bool gm_cache_is_direct(const struct gm_cache *c);
/* Accesses at @off inside the window; out-of-window accesses fail. */
GM_EXPORT enum gm_result gm_cache_read(struct gm_cache *c, uint64_t off,
                                       void *buf, size_t len);
GM_EXPORT enum gm_result gm_cache_write(struct gm_cache *c, uint64_t off,
                                        const void *buf, size_t len);
GM_EXPORT GM_COLD enum gm_result gm_cache_load_slow(struct gm_cache *c,
                                            uint64_t off, unsigned size,
                                            enum gm_endian endian,
                                            uint64_t *val);
GM_EXPORT GM_COLD enum gm_result gm_cache_store_slow(struct gm_cache *c,
                                             uint64_t off, unsigned size,
                                             enum gm_endian endian,
                                             uint64_t val);

/*
 * The inline paths' bound (fast_rd, fast_wr). A relaxed load is enough: the
 * fields behind it are written by the thread that owns the cache, and a
 * commit only ever lowers it to 0; an access that still sees the old value
 * happened before that commit, and the region reference keeps its memory
 * alive.
 */
static inline uint64_t gm__cache_fast(const uint64_t *field)
{
    return __atomic_load_n(field, __ATOMIC_RELAXED);
}

static inline bool gm__cache_swap(enum gm_endian e)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return e == GM_ENDIAN_LITTLE;
#else
    return e == GM_ENDIAN_BIG;
#endif
}

/**
 * gm_cache_load() - a 1, 2, 4 or 8-byte load at @off inside the window.
 *
 * Inline over plain RAM or ROM: a bounds check against
 * one atomic field, then the memory load; anything else (a device, a hole,
 * a window a commit changed) goes to gm_cache_load_slow().
 * Context: one thread at a time per cache.
 */
static inline enum gm_result gm_cache_load(struct gm_cache *c, uint64_t off,
                                           unsigned size,
                                           enum gm_endian endian,
                                           uint64_t *val)
{
    /* The NULL test costs nothing when c is the address of an object. */
    uint64_t fl = c ? gm__cache_fast(&c->fast_rd) : 0;

    if (__builtin_expect(off < fl, 1)) {
        bool sw = gm__cache_swap(endian);
        switch (size) {
        case 1:
            *val = c->ptr[off];
            return GM_RESULT_OK;
        case 2: {
            uint16_t v;
            __builtin_memcpy(&v, c->ptr + off, 2);
            *val = sw ? __builtin_bswap16(v) : v;
            return GM_RESULT_OK;
        }
        case 4: {
            uint32_t v;
            __builtin_memcpy(&v, c->ptr + off, 4);
            *val = sw ? __builtin_bswap32(v) : v;
            return GM_RESULT_OK;
        }
        case 8: {
            uint64_t v;
            __builtin_memcpy(&v, c->ptr + off, 8);
            *val = sw ? __builtin_bswap64(v) : v;
            return GM_RESULT_OK;
        }
        default:
            break;
        }
    }
    /* Through a temporary: *val then need not live in memory. */
    uint64_t tmp;
    enum gm_result r = gm_cache_load_slow(c, off, size, endian, &tmp);
    *val = tmp;
    return r;
}

/* Set the dirty bit of one page (test first unless @always). */
static inline void gm__cache_dirty_page(uint64_t *words, uint64_t page,
                                        bool always)
{
    uint64_t *w = words + (page >> 6);
    uint64_t bit = 1ull << (page & 63);

    if (always || !(__atomic_load_n(w, __ATOMIC_RELAXED) & bit)) {
        __atomic_fetch_or(w, bit, __ATOMIC_SEQ_CST);
    }
}

/* A logged store of @size bytes at @off: mark its page(s). */
static inline void gm__cache_dirty(struct gm_cache *c, uint64_t off,
                                   unsigned size)
{
    uint64_t a = c->dirty_skew + off;
    uint64_t p0 = c->dirty_page + (a >> 12);
    uint64_t p1 = c->dirty_page + ((a + size - 1) >> 12);

    /*
     * The common case first: one client, one page, its bit set already
     * (the page was written since the last take): a load and a test.
     */
    if (__builtin_expect(c->ndirty == 1 && !c->dirty_always && p1 == p0,
                         1)) {
        uint64_t *w = c->dirty[0] + (p0 >> 6);

        if (__builtin_expect(
                (__atomic_load_n(w, __ATOMIC_RELAXED) >> (p0 & 63)) & 1, 1)) {
            return;
        }
    }
    for (unsigned i = 0; i < c->ndirty; i++) {
        gm__cache_dirty_page(c->dirty[i], p0, c->dirty_always);
        if (p1 != p0) {
            gm__cache_dirty_page(c->dirty[i], p1, c->dirty_always);
        }
    }
}

/**
 * gm_cache_store() - a 1, 2, 4 or 8-byte store at @off inside the window;
 * inline over writable RAM (marking its dirty bits when clients log it),
 * gm_cache_store_slow() otherwise.
 */
static inline enum gm_result gm_cache_store(struct gm_cache *c, uint64_t off,
                                            unsigned size,
                                            enum gm_endian endian,
                                            uint64_t val)
{
    uint64_t fl = c ? gm__cache_fast(&c->fast_wr) : 0;

    if (__builtin_expect(off < fl, 1)) {
        bool sw = gm__cache_swap(endian);
        switch (size) {
        case 1:
            c->ptr[off] = (uint8_t)val;
            break;
        case 2: {
            uint16_t v = sw ? __builtin_bswap16((uint16_t)val) : (uint16_t)val;
            __builtin_memcpy(c->ptr + off, &v, 2);
            break;
        }
        case 4: {
            uint32_t v = sw ? __builtin_bswap32((uint32_t)val) : (uint32_t)val;
            __builtin_memcpy(c->ptr + off, &v, 4);
            break;
        }
        case 8: {
            uint64_t v = sw ? __builtin_bswap64(val) : val;
            __builtin_memcpy(c->ptr + off, &v, 8);
            break;
        }
        default:
            return gm_cache_store_slow(c, off, size, endian, val);
        }
        if (__builtin_expect(c->ndirty != 0, 0)) {
            gm__cache_dirty(c, off, size);
        }
        return GM_RESULT_OK;
    }
    return gm_cache_store_slow(c, off, size, endian, val);
}

#ifdef __cplusplus
}
#endif
#endif
