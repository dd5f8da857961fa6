/* SPDX-License-Identifier: MIT */
/*
 * api/device.c - what a device model adds to its regions: ioeventfds and
 * coalesced MMIO ranges.
 *
 * A region's coalesced ranges are an immutable list replaced as a whole
 * (tree.h): the views rendered after the change carry the new list, and a
 * range whose list changed is told as coalesced_io_del of the old pieces
 * and coalesced_io_add of the new ones (update/diff.c, listen/).
 */
#include <string.h>

#include "api.h"

/*
 * ioeventfds. The list changes, then the readers' snapshot is replaced;
 * the old snapshot is retired only once the change stands.
 */

static void evfd_remove_at(gm_region *r, size_t i)
{
    memmove(&r->evfds.v[i], &r->evfds.v[i + 1],
            (r->evfds.n - i - 1) * sizeof(r->evfds.v[0]));
    r->evfds.n--;
    r->sys->tree->nr_evfds--;
}

static void evfd_insert_at(gm_region *r, size_t i,
                           const struct gm_ioeventfd *e)
{
    /* Capacity is reserved by the caller. */
    memmove(&r->evfds.v[i + 1], &r->evfds.v[i],
            (r->evfds.n - i) * sizeof(r->evfds.v[0]));
    r->evfds.v[i] = *e;
    r->evfds.n++;
    r->sys->tree->nr_evfds++;
}

static void undo_evfd_add(struct gm_undo *u)
{
    evfd_remove_at(u->r, u->pos);
    gm__evfd_retire(gm__evfd_swap(u->r, u->pub));
}

static void undo_evfd_del(struct gm_undo *u)
{
    evfd_insert_at(u->r, u->pos, &u->evfd);
    gm__evfd_retire(gm__evfd_swap(u->r, u->pub));
}

static void done_evfd(struct gm_undo *u)
{
    gm__evfd_retire(u->pub);
}

static int eventfd_common(gm_region *r, uint64_t addr, unsigned size,
                          bool match_data, uint64_t data, int fd, bool add,
                          gm_error *err)
{
    struct gm_ioeventfd e = {addr, size, match_data, match_data ? data : 0,
                             fd};
    struct gm_undo u = {.undo = add ? undo_evfd_add : undo_evfd_del,
                     .done = done_evfd, .r = r, .evfd = e};
    struct gm_evfd_pub *pub;
    gm_system *sys;
    bool found;
    int ret;

    if (!r) {
        return gm__error_set(err, -EINVAL, "NULL region");
    }
    if (size != 0 && size != 1 && size != 2 && size != 4 && size != 8) {
        return gm__error_set(err, -EINVAL,
                             "ioeventfd size %u: must be 0, 1, 2, 4 or 8",
                             size);
    }
    if (size == 0 && match_data) {
        return gm__error_set(err, -EINVAL,
                             "ioeventfd of any size cannot match data");
    }
    if (fd < 0) {
        return gm__error_set(err, -EBADF, "ioeventfd: bad fd %d", fd);
    }
    if (add && (gm_u128)addr + (size ? size : 1) > r->size) {
        return gm__error_set(err, -ERANGE,
                             "ioeventfd at 0x%llx+%u is outside '%s'",
                             (unsigned long long)addr, size, r->name);
    }
    sys = r->sys;
    ret = gm__begin(sys, err);
    if (ret) {
        return ret;
    }
    u.pos = gm__evfd_find(r, &e, &found);
    if (add && found) {
        ret = gm__error_set(err, -EEXIST,
                            "ioeventfd at 0x%llx already on '%s'",
                            (unsigned long long)addr, r->name);
    } else if (!add && !found) {
        ret = gm__error_set(err, -ENOENT, "no such ioeventfd on '%s'",
                            r->name);
    } else if (add && gm__vec_reserve(&r->evfds, r->evfds.n + 1)) {
        ret = gm__error_set(err, -ENOMEM, "cannot add ioeventfd");
    }
    if (ret) {
        gm__end_nothing(sys);
        return ret;
    }
    if (add) {
        evfd_insert_at(r, u.pos, &e);
    } else {
        evfd_remove_at(r, u.pos);
    }
    if (gm__evfd_snapshot(r, &pub)) {
        if (add) {
            evfd_remove_at(r, u.pos);
        } else {
            evfd_insert_at(r, u.pos, &e);
        }
        gm__end_nothing(sys);
        return gm__error_set(err, -ENOMEM, "cannot publish ioeventfds");
    }
    u.pub = gm__evfd_swap(r, pub);
    gm__mark_region_evfd(r);
    return gm__end_change(sys, err, &u);
}

int gm_region_add_eventfd(gm_region *r, uint64_t addr, unsigned size,
                          bool match_data, uint64_t data, int fd,
                          gm_error *err)
{
    return eventfd_common(r, addr, size, match_data, data, fd, true, err);
}

int gm_region_del_eventfd(gm_region *r, uint64_t addr, unsigned size,
                          bool match_data, uint64_t data, int fd,
                          gm_error *err)
{
    return eventfd_common(r, addr, size, match_data, data, fd, false, err);
}

/*
 * Coalesced MMIO. The new list is made before anything changes; undo puts
 * the old one back, done drops it.
 */

static void apply_coal(gm_region *r, const struct gm_undo *v)
{
    r->coal = v->coal;
    atomic_store_explicit(&r->flush_coalesced, v->flag, memory_order_relaxed);
}

static void undo_coal(struct gm_undo *u)
{
    gm_region *r = u->r;

    gm__coal_unref(r->coal);
    r->coal = u->coal;
    atomic_store_explicit(&r->flush_coalesced, u->flag, memory_order_relaxed);
}

static void done_coal(struct gm_undo *u)
{
    gm__coal_unref(u->coal);
}

int gm_region_add_coalescing(gm_region *r, uint64_t offset, uint64_t size,
                             gm_error *err)
{
    struct gm_undo u = {.undo = undo_coal, .done = done_coal}, v = {0};
    int ret = gm__setter_begin(r, err);

    if (ret) {
        return ret;
    }
    if (r->kind != GM_REGION_IO && r->kind != GM_REGION_ROM_DEVICE) {
        return gm__setter_refuse(
            r, gm__error_set(err, -EINVAL, "'%s' is not an I/O or ROM "
                             "device region: no writes to coalesce",
                             r->name));
    }
    if (!size || (gm_u128)offset + size > r->size) {
        return gm__setter_refuse(
            r, gm__error_set(err, -EINVAL, "coalesced range [0x%llx, +0x%llx) "
                             "is empty or outside '%s'",
                             (unsigned long long)offset,
                             (unsigned long long)size, r->name));
    }
    v.coal = gm__coal_append(r->coal, offset, size);
    if (!v.coal) {
        return gm__setter_refuse(
            r, gm__error_set(err, -ENOMEM, "out of memory"));
    }
    v.flag = true;
    u.coal = r->coal;
    u.flag = atomic_load_explicit(&r->flush_coalesced, memory_order_relaxed);
    return gm__setter_apply(r, err, &u, apply_coal, &v);
}

int gm_region_clear_coalescing(gm_region *r, gm_error *err)
{
    struct gm_undo u = {.undo = undo_coal, .done = done_coal}, v = {0};
    int ret = gm__setter_begin(r, err);

    if (ret) {
        return ret;
    }
    if (!r->coal) {
        atomic_store_explicit(&r->flush_coalesced, false,
                              memory_order_relaxed);
        return gm__setter_refuse(r, 1);
    }
    u.coal = r->coal;
    u.flag = atomic_load_explicit(&r->flush_coalesced, memory_order_relaxed);
    return gm__setter_apply(r, err, &u, apply_coal, &v);
}

int gm_region_set_flush_coalesced(gm_region *r, bool flush, gm_error *err)
{
    int ret = gm__setter_begin(r, err);

    if (ret) {
        return ret;
    }
    if (!flush && r->coal) {
        return gm__setter_refuse(
            r, gm__error_set(err, -EBUSY, "'%s' has coalesced ranges: "
                             "clear them to stop flushing", r->name));
    }
    atomic_store_explicit(&r->flush_coalesced, flush, memory_order_relaxed);
    return gm__setter_refuse(r, 1); /* the views do not change */
}

int gm_region_foreach_coalesced(gm_region *r,
                                int (*fn)(uint64_t, uint64_t, void *),
                                void *opaque)
{
    int ret = 0;

    if (!r || !fn) {
        return -EINVAL;
    }
    gm__lock(r->sys);
    for (size_t i = 0; r->coal && i < r->coal->n && !ret; i++) {
        ret = fn(r->coal->z[i].offset, r->coal->z[i].size, opaque);
    }
    gm__unlock(r->sys);
    return ret;
}
