/* SPDX-License-Identifier: MIT */
/*
 * access/rw.c - reading and writing guest memory.
 *
 * An access loads the space's current flat view under RCU, looks each
 * address up in the view's dispatch table (dispatch/) and then:
 *  - RAM (and ROM devices in romd mode, for reads) is copied directly;
 *    writes to read-only ranges are dropped and reported; writes to RAM
 *    whose range has a dirty-log mask call the system's dirty hook;
 *  - MMIO goes through the region's ops with QEMU's rules: the access is cut
 *    to the largest power of two the device may take at that alignment,
 *    checked against `valid` (a refusal is a decode error), then split or
 *    widened to the `impl` sizes; values travel in the device's byte order;
 *    an ioeventfd matching a write is signalled instead of the device;
 *  - holes, unassigned reservations and refused device reads read as the
 *    space's unassigned value (0 by default, as QEMU; all-ones for a
 *    floating bus) with a decode error.
 * Nothing here takes a lock except the DMA bookkeeping of one space; MMIO
 * callbacks run inside the RCU read-side section only.
 */
#include "access.h"

int gm__access_init(gm_system *sys)
{
    struct gm_access_state *st = calloc(1, sizeof(*st));

    if (!st) {
        return -ENOMEM;
    }
    atomic_init(&st->dirty_fn, NULL);
    atomic_init(&st->dirty_opaque, NULL);
    atomic_init(&st->flush_fn, NULL);
    atomic_init(&st->flush_opaque, NULL);
    if (pthread_mutex_init(&st->spaces_lock, NULL)) {
        free(st);
        return -ENOMEM;
    }
    sys->access = st;
    return 0;
}

void gm__access_fini(gm_system *sys)
{
    if (sys->access) {
        pthread_mutex_destroy(&sys->access->spaces_lock);
        free(sys->access);
        sys->access = NULL;
    }
}

void gm__access_space_link(gm_system *sys, struct gm_space_access *a)
{
    struct gm_access_state *st = sys->access;

    pthread_mutex_lock(&st->spaces_lock);
    a->prev = NULL;
    a->next = st->spaces;
    if (a->next) {
        a->next->prev = a;
    }
    st->spaces = a;
    pthread_mutex_unlock(&st->spaces_lock);
}

void gm__access_space_unlink(gm_system *sys, struct gm_space_access *a)
{
    struct gm_access_state *st = sys->access;

    pthread_mutex_lock(&st->spaces_lock);
    if (a->prev) {
        a->prev->next = a->next;
    } else {
        st->spaces = a->next;
    }
    if (a->next) {
        a->next->prev = a->prev;
    }
    pthread_mutex_unlock(&st->spaces_lock);
}

void gm__mark_dirty(gm_system *sys, gm_region *mr, uint64_t off,
                    uint64_t len, uint8_t mask)
{
    struct gm_access_state *st = sys->access;
    gm_dirty_fn fn;

    if (!mask) {
        return;
    }
    if (mr->block) {
        /* Nested in the caller's read-side section, or its own. */
        gm__rcu_read_lock();
        gm__dirty_mark(sys, mr->ram_addr + off, len, mask);
        gm__rcu_read_unlock();
    }
    fn = atomic_load_explicit(&st->dirty_fn, memory_order_acquire);
    if (fn) {
        fn(atomic_load_explicit(&st->dirty_opaque, memory_order_relaxed), mr,
           off, len, mask);
    }
}

enum gm_result gm__view_rw(gm_flatview *fv, uint64_t addr, uint8_t *buf,
                           size_t len, bool is_write,
                           struct gm_mem_attrs attrs, uint8_t fill)
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
                memset(buf, fill, l);
            }
            res |= GM_RESULT_DECODE_ERROR;
        } else {
            uint64_t off = rg->offset + (addr - rg->start);
            gm_region *mr = rg->mr;

            l = rg->last - addr + 1;
            if (l == 0 || l > len) {
                l = len; /* l == 0: the range ends at 2^64 */
            }
            if (!is_write && gm__is_direct_read(rg)) {
                memcpy(buf, rg->host + (addr - rg->start), l);
            } else if (is_write && gm__is_direct_write(rg)) {
                if (rg->readonly) {
                    res |= GM_RESULT_ACCESS_ERROR;
                } else {
                    memcpy(rg->host + (addr - rg->start), buf, l);
                    gm__mark_dirty(fv->sys, mr, off, l, rg->mask);
                }
            } else if (!mr->ops) {
                /* Unassigned reservation. */
                if (!is_write) {
                    memset(buf, fill, l);
                }
                res |= GM_RESULT_DECODE_ERROR;
            } else {
                enum gm_endian e = mr->ops->endianness;
                unsigned sz = gm__mmio_chunk(mr, off, l);
                uint64_t v;

                l = sz;
                if (is_write) {
                    v = gm__bytes_to_val(buf, sz, e);
                    res |= gm__mmio_write(mr, off, v, sz, attrs);
                } else {
                    res |= gm__mmio_read(mr, off, &v, sz, attrs, fill);
                    gm__val_to_bytes(v, buf, sz, e);
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
    r = gm__view_rw(gm__space_view(as), addr, buf, len, false, attrs,
                    gm__unassigned_fill(as));
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
    r = gm__view_rw(gm__space_view(as), addr, (void *)buf, len, true,
                    attrs, 0);
    gm__rcu_read_unlock();
    return r;
}

enum gm_result gm_space_load(gm_space *as, uint64_t addr, unsigned size,
                             enum gm_endian endian, uint64_t *val,
                             struct gm_mem_attrs attrs)
{
    uint8_t b[8];
    enum gm_result r;
    gm_flatview *fv;
    const struct gm_range *rg;

    if (!as || !val || !gm__good_size(size)) {
        if (val) {
            *val = UINT64_MAX;
        }
        return GM_RESULT_DECODE_ERROR;
    }
    gm__rcu_read_lock();
    fv = gm__space_view(as);
    rg = gm__dispatch_lookup(&fv->disp, addr);
    if (rg && addr + size - 1 <= rg->last && addr + size - 1 >= addr) {
        if (gm__is_direct_read(rg)) {
            /* Fast path: a RAM range holding the whole access. */
            *val = gm__bytes_to_val(rg->host + (addr - rg->start), size, endian);
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

            if (gm__simple_access(mr, off, size)) {
                /* The device takes it as it is: one call, no cutting. */
                r = gm__call_read(mr, off, &v, size, attrs);
                gm__rcu_read_unlock();
                v &= gm__size_mask(size);
                *val = gm__need_swap(o->endianness) == gm__need_swap(endian)
                           ? v
                           : gm__bswap_size(v, size);
                return r;
            }
            r = gm__mmio_read(mr, off, &v, size, attrs,
                              gm__unassigned_fill(as));
            gm__val_to_bytes(v, b, size, o->endianness);
        } else {
            r = gm__view_rw(fv, addr, b, size, false, attrs,
                            gm__unassigned_fill(as));
        }
    } else {
        r = gm__view_rw(fv, addr, b, size, false, attrs,
                            gm__unassigned_fill(as));
    }
    gm__rcu_read_unlock();
    *val = gm__bytes_to_val(b, size, endian);
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

    if (!as || !gm__good_size(size)) {
        return GM_RESULT_DECODE_ERROR;
    }
    gm__val_to_bytes(val, b, size, endian);
    gm__rcu_read_lock();
    fv = gm__space_view(as);
    rg = gm__dispatch_lookup(&fv->disp, addr);
    if (rg && gm__is_direct_write(rg) && !rg->readonly &&
        addr + size - 1 <= rg->last && addr + size - 1 >= addr) {
        /* Fast path: writable RAM holding the whole access. */
        memcpy(rg->host + (addr - rg->start), b, size);
        if (rg->mask) {
            gm__mark_dirty(fv->sys, rg->mr, rg->offset + (addr - rg->start),
                           size, rg->mask);
        }
        r = GM_RESULT_OK;
    } else if (rg && !gm__is_direct_write(rg) && rg->mr->ops &&
               addr + size - 1 <= rg->last && addr + size - 1 >= addr) {
        /* One device access of the full size, as QEMU's st*. */
        gm_region *mr = rg->mr;
        const struct gm_region_ops *o = mr->ops;
        uint64_t off = rg->offset + (addr - rg->start);
        uint64_t m = val & gm__size_mask(size);
        uint64_t v = gm__need_swap(o->endianness) == gm__need_swap(endian)
                         ? m
                         : gm__bswap_size(m, size);

        if (gm__simple_access(mr, off, size)) {
            /* The device takes it as it is: one call, no cutting. */
            r = gm__evfd_match(mr, off, size, v) ? GM_RESULT_OK
                                              : gm__call_write(mr, off, v, size,
                                                           attrs);
        } else {
            r = gm__mmio_write(mr, off, v, size, attrs);
        }
    } else {
        r = gm__view_rw(fv, addr, b, size, true, attrs, 0);
    }
    gm__rcu_read_unlock();
    return r;
}

int gm_space_set_unassigned(gm_space *as, enum gm_unassigned value,
                            gm_error *err)
{
    if (!as) {
        return gm__error_set(err, -EINVAL, "NULL address space");
    }
    if (value != GM_UNASSIGNED_ZERO && value != GM_UNASSIGNED_ONES) {
        return gm__error_set(err, -EINVAL, "bad unassigned value %d",
                             (int)value);
    }
    atomic_store_explicit(&as->unassigned,
                          value == GM_UNASSIGNED_ONES ? 0xff : 0x00,
                          memory_order_relaxed);
    return 0;
}

enum gm_unassigned gm_space_unassigned(const gm_space *as)
{
    return as && gm__unassigned_fill(as) ? GM_UNASSIGNED_ONES
                                          : GM_UNASSIGNED_ZERO;
}

void gm__coalesced_flush(gm_system *sys)
{
    struct gm_access_state *st = sys->access;
    gm_flush_fn fn = atomic_load_explicit(&st->flush_fn, memory_order_acquire);

    if (fn) {
        fn(atomic_load_explicit(&st->flush_opaque, memory_order_relaxed));
    }
}

void gm_system_set_coalesced_flush(gm_system *sys, gm_flush_fn fn,
                                   void *opaque)
{
    if (sys) {
        atomic_store_explicit(&sys->access->flush_opaque, opaque,
                              memory_order_relaxed);
        atomic_store_explicit(&sys->access->flush_fn, fn,
                              memory_order_release);
    }
}

void gm_system_set_dirty_hook(gm_system *sys, gm_dirty_fn fn, void *opaque)
{
    struct gm_access_state *st;

    if (!sys) {
        return;
    }
    st = sys->access;
    atomic_store_explicit(&st->dirty_opaque, opaque, memory_order_relaxed);
    atomic_store_explicit(&st->dirty_fn, fn, memory_order_release);
    /*
     * Caches storing inline into logged RAM would bypass a hook: make
     * every cache resolve again (a resolve from now on sees the hook).
     */
    pthread_mutex_lock(&st->spaces_lock);
    for (struct gm_space_access *a = st->spaces; a; a = a->next) {
        gm__access_space_moved(a->as);
    }
    pthread_mutex_unlock(&st->spaces_lock);
}
