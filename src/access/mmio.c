/* SPDX-License-Identifier: MIT */
/*
 * access/mmio.c - device accesses with QEMU's rules.
 *
 * An access to a device is cut to the largest power of two the device may
 * take at that alignment (gm__mmio_chunk), checked against `valid` (a
 * refusal is a decode error), then split or widened to the `impl` sizes
 * (QEMU's access_with_adjusted_size); values travel in the device's byte
 * order. A write matching one of the region's ioeventfds signals it
 * instead of calling the device.
 */
#include <unistd.h>

#include "access.h"

bool gm__evfd_match(gm_region *mr, uint64_t off, unsigned size,
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

enum gm_result gm__mmio_read(gm_region *mr, uint64_t off, uint64_t *val,
                             unsigned size, struct gm_mem_attrs attrs,
                             uint8_t fill)
{
    const struct gm_region_ops *o = mr->ops;
    bool big = gm__endian_is_big(o->endianness);
    enum gm_result r = GM_RESULT_OK;
    uint64_t v = 0;
    unsigned asz;

    if (!access_valid(mr, off, size, false, attrs)) {
        /* Refused: read as unassigned memory, as QEMU does. */
        *val = fill ? gm__size_mask(size) : 0;
        return GM_RESULT_DECODE_ERROR;
    }
    impl_sizes(o, size, &asz);
    for (unsigned i = 0; i < size; i += asz) {
        int sh = part_shift(big, size, asz, i);
        uint64_t part = 0;

        r |= gm__call_read(mr, off + i, &part, asz, attrs);
        part &= gm__size_mask(asz);
        v |= sh >= 0 ? part << sh : part >> -sh;
    }
    *val = v & gm__size_mask(size);
    return r;
}

enum gm_result gm__mmio_write(gm_region *mr, uint64_t off, uint64_t val,
                                 unsigned size, struct gm_mem_attrs attrs)
{
    const struct gm_region_ops *o = mr->ops;
    bool big = gm__endian_is_big(o->endianness);
    enum gm_result r = GM_RESULT_OK;
    unsigned asz;

    if (!access_valid(mr, off, size, true, attrs)) {
        return GM_RESULT_DECODE_ERROR;
    }
    if (gm__evfd_match(mr, off, size, val)) {
        return GM_RESULT_OK; /* signalled instead of the device */
    }
    impl_sizes(o, size, &asz);
    for (unsigned i = 0; i < size; i += asz) {
        int sh = part_shift(big, size, asz, i);
        uint64_t part = sh >= 0 ? val >> sh : val << -sh;

        r |= gm__call_write(mr, off + i, part & gm__size_mask(asz), asz, attrs);
    }
    return r;
}

unsigned gm__mmio_chunk(gm_region *mr, uint64_t off, uint64_t l)
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
