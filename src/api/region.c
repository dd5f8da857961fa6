/* SPDX-License-Identifier: MIT */
/*
 * api/region.c - the calls that change the region tree.
 *
 * Each one validates its arguments (a refused call changes nothing), opens
 * an implicit transaction, notes the region's extent, changes the tree
 * (tree/), notes the extent again, and closes the transaction. When that
 * close is the outermost one it runs the update; if the update fails (out
 * of memory), nothing was published and no listener was told, and the
 * change is undone before the lock is released: the call fails and the
 * tree is exactly as before. Inside an explicit transaction the change
 * stands at once and the commit reports any failure.
 */
#include <string.h>

#include "api.h"

static const gm_u128 SPACE_END = GM_SIZE_2_64;

/*
 * How to take a change back if the update it is part of fails, and what
 * to do once it stands.
 */
struct undo {
    void (*undo)(struct undo *u);
    void (*done)(struct undo *u); /* may be NULL */
    gm_region *r;
    /* The values before the change. */
    gm_region *container;
    uint64_t addr, seq, u64;
    gm_u128 size;
    int priority;
    bool overlap, flag;
    uint8_t mask;
    struct gm_evfd_pub *pub;
    struct gm_ioeventfd evfd;
    size_t pos;
};

/* Close a change's transaction; see the top of the file. */
static int end_change(gm_system *sys, gm_error *err, struct undo *u)
{
    int ret = 0;

    if (--sys->base.depth == 0) {
        ret = gm__update(sys, err);
    }
    if (ret) {
        u->undo(u);
    } else if (u->done) {
        u->done(u);
    }
    gm__release(sys);
    return ret;
}

/*
 * Subregions.
 */

static void undo_add(struct undo *u)
{
    gm_region *r = u->r;

    gm__tree_unlink(r);
    /* A detached region keeps the place it had (its getters show it). */
    r->addr = u->addr;
    r->seq = u->seq;
    r->priority = u->priority;
    r->may_overlap = u->overlap;
    gm_region_unref(r);
}

static int add_common(gm_region *parent, uint64_t offset, gm_region *child,
                      bool overlap, int priority, gm_error *err)
{
    struct undo u = {.undo = undo_add, .r = child};
    bool loop = false;
    gm_system *sys;
    int ret;

    if (!parent || !child) {
        return gm__error_set(err, -EINVAL, "add_subregion: NULL %s",
                             parent ? "subregion" : "container");
    }
    sys = parent->sys;
    if (child->sys != sys) {
        return gm__error_set(err, -EINVAL,
                             "'%s' and '%s' belong to different systems",
                             parent->name, child->name);
    }
    if (parent->kind == GM_REGION_ALIAS) {
        return gm__error_set(err, -EINVAL,
                             "cannot add '%s' to alias '%s': aliases have "
                             "no subregions",
                             child->name, parent->name);
    }
    ret = gm__begin(sys, err);
    if (ret) {
        return ret;
    }
    if (child->container) {
        ret = gm__error_set(err, -EINVAL,
                            "'%s' is already a subregion of '%s'",
                            child->name, child->container->name);
    } else if ((gm_u128)offset + child->size > SPACE_END) {
        ret = gm__error_set(err, -ERANGE,
                            "'%s' at 0x%llx in '%s' would end past 2^64",
                            child->name, (unsigned long long)offset,
                            parent->name);
    } else if (gm__tree_would_loop(parent, child, &loop)) {
        ret = gm__error_set(err, -ENOMEM, "cannot add '%s' to '%s'",
                            child->name, parent->name);
    } else if (loop) {
        ret = gm__error_set(err, -ELOOP,
                            "adding '%s' to '%s' would make '%s' contain "
                            "itself",
                            child->name, parent->name, child->name);
    }
    if (ret) {
        gm__end_nothing(sys);
        return ret;
    }
    u.addr = child->addr;
    u.seq = child->seq;
    u.priority = child->priority;
    u.overlap = child->may_overlap;
    gm_region_ref(child);
    /* A view rendered from child moves with child->addr. */
    gm__mark_region(child);
    gm__tree_link(parent, child, offset, overlap, priority);
    gm__mark_region(child);
    return end_change(sys, err, &u);
}

int gm_region_add_subregion(gm_region *parent, uint64_t offset,
                            gm_region *child, gm_error *err)
{
    return add_common(parent, offset, child, false, 0, err);
}

int gm_region_add_subregion_overlap(gm_region *parent, uint64_t offset,
                                    gm_region *child, int priority,
                                    gm_error *err)
{
    return add_common(parent, offset, child, true, priority, err);
}

static void undo_del(struct undo *u)
{
    gm_region *r = u->r;

    gm__tree_link(u->container, r, u->addr, u->overlap, u->priority);
    r->seq = u->seq;
    gm__tree_reindex(r);
}

static void done_del(struct undo *u)
{
    gm_region_unref(u->r); /* the container's reference */
}

int gm_region_del_subregion(gm_region *parent, gm_region *child,
                            gm_error *err)
{
    struct undo u = {.undo = undo_del, .done = done_del, .r = child};
    gm_system *sys;
    int ret;

    if (!parent || !child) {
        return gm__error_set(err, -EINVAL, "del_subregion: NULL %s",
                             parent ? "subregion" : "container");
    }
    sys = parent->sys;
    ret = gm__begin(sys, err);
    if (ret) {
        return ret;
    }
    if (child->container != parent) {
        ret = gm__error_set(err, -ENOENT, "'%s' is not a subregion of '%s'",
                            child->name, parent->name);
        gm__end_nothing(sys);
        return ret;
    }
    u.container = parent;
    u.addr = child->addr;
    u.seq = child->seq;
    u.overlap = child->may_overlap;
    u.priority = child->priority;
    gm__mark_region(child);
    gm__tree_unlink(child);
    return end_change(sys, err, &u);
}

/*
 * Properties. A setter checks its argument, returns early when nothing
 * changes, saves the old value, and applies the new one between two marks.
 */

/* Open the setter's transaction after the NULL check. */
static int setter_begin(gm_region *r, gm_error *err)
{
    if (!r) {
        return gm__error_set(err, -EINVAL, "NULL region");
    }
    return gm__begin(r->sys, err);
}

/* Refuse (ret < 0) or skip (ret > 0) without a change. */
static int setter_refuse(gm_region *r, int ret)
{
    gm__end_nothing(r->sys);
    return ret > 0 ? 0 : ret;
}

static int setter_apply(gm_region *r, gm_error *err, struct undo *u,
                        void (*apply)(gm_region *r, const struct undo *v),
                        const struct undo *v)
{
    u->r = r;
    gm__mark_region(r);
    apply(r, v);
    gm__mark_region(r);
    return end_change(r->sys, err, u);
}

static void apply_addr(gm_region *r, const struct undo *v)
{
    r->addr = v->addr;
    gm__tree_readd(r);
}

static void undo_addr(struct undo *u)
{
    u->r->addr = u->addr;
    u->r->seq = u->seq;
    gm__tree_reindex(u->r);
}

int gm_region_set_address(gm_region *r, uint64_t addr, gm_error *err)
{
    struct undo u = {.undo = undo_addr}, v = {.addr = addr};
    int ret = setter_begin(r, err);

    if (ret) {
        return ret;
    }
    if (r->container && (gm_u128)addr + r->size > SPACE_END) {
        return setter_refuse(r, gm__error_set(err, -ERANGE,
                                              "'%s' at 0x%llx would end past "
                                              "2^64",
                                              r->name,
                                              (unsigned long long)addr));
    }
    if (r->addr == addr) {
        return setter_refuse(r, 1);
    }
    u.addr = r->addr;
    u.seq = r->seq;
    return setter_apply(r, err, &u, apply_addr, &v);
}

static void apply_priority(gm_region *r, const struct undo *v)
{
    r->priority = v->priority;
    gm__tree_readd(r);
}

static void undo_priority(struct undo *u)
{
    u->r->priority = u->priority;
    u->r->seq = u->seq;
    gm__tree_reindex(u->r);
}

int gm_region_set_priority(gm_region *r, int priority, gm_error *err)
{
    struct undo u = {.undo = undo_priority}, v = {.priority = priority};
    int ret = setter_begin(r, err);

    if (ret) {
        return ret;
    }
    if (r->priority == priority) {
        return setter_refuse(r, 1);
    }
    u.priority = r->priority;
    u.seq = r->seq;
    return setter_apply(r, err, &u, apply_priority, &v);
}

static void apply_enabled(gm_region *r, const struct undo *v)
{
    gm__tree_set_enabled(r, v->flag);
}

static void undo_enabled(struct undo *u)
{
    gm__tree_set_enabled(u->r, u->flag);
}

int gm_region_set_enabled(gm_region *r, bool enabled, gm_error *err)
{
    struct undo u = {.undo = undo_enabled}, v = {.flag = enabled};
    int ret = setter_begin(r, err);

    if (ret) {
        return ret;
    }
    if (r->enabled == enabled) {
        return setter_refuse(r, 1);
    }
    u.flag = r->enabled;
    return setter_apply(r, err, &u, apply_enabled, &v);
}

static void apply_readonly(gm_region *r, const struct undo *v)
{
    r->readonly = v->flag;
}

static void undo_readonly(struct undo *u)
{
    u->r->readonly = u->flag;
}

int gm_region_set_readonly(gm_region *r, bool readonly, gm_error *err)
{
    struct undo u = {.undo = undo_readonly}, v = {.flag = readonly};
    int ret = setter_begin(r, err);

    if (ret) {
        return ret;
    }
    if (r->readonly == readonly) {
        return setter_refuse(r, 1);
    }
    u.flag = r->readonly;
    return setter_apply(r, err, &u, apply_readonly, &v);
}

static void apply_nonvolatile(gm_region *r, const struct undo *v)
{
    r->nonvolatile = v->flag;
}

static void undo_nonvolatile(struct undo *u)
{
    u->r->nonvolatile = u->flag;
}

int gm_region_set_nonvolatile(gm_region *r, bool nonvolatile, gm_error *err)
{
    struct undo u = {.undo = undo_nonvolatile}, v = {.flag = nonvolatile};
    int ret = setter_begin(r, err);

    if (ret) {
        return ret;
    }
    if (r->nonvolatile == nonvolatile) {
        return setter_refuse(r, 1);
    }
    u.flag = r->nonvolatile;
    return setter_apply(r, err, &u, apply_nonvolatile, &v);
}

static void apply_size(gm_region *r, const struct undo *v)
{
    r->size = v->size;
    gm__tree_reindex(r);
}

static void undo_size(struct undo *u)
{
    u->r->size = u->size;
    gm__tree_reindex(u->r);
}

int gm_region_set_size(gm_region *r, gm_u128 size, gm_error *err)
{
    struct undo u = {.undo = undo_size}, v = {.size = size};
    char b[40];
    int ret = setter_begin(r, err);

    if (ret) {
        return ret;
    }
    if (size > SPACE_END) {
        ret = gm__error_set(err, -EINVAL, "'%s': size %s exceeds 2^64",
                            r->name, gm__u128_str(size, b));
    } else if (r->container && (gm_u128)r->addr + size > SPACE_END) {
        ret = gm__error_set(err, -ERANGE, "'%s': size %s would end past 2^64",
                            r->name, gm__u128_str(size, b));
    } else if (size == 0 && r->kind != GM_REGION_CONTAINER &&
               r->kind != GM_REGION_ALIAS) {
        ret = gm__error_set(err, -EINVAL, "'%s': size must not be zero",
                            r->name);
    } else if (r->block && size > r->block->max_length) {
        ret = gm__error_set(err, -EINVAL,
                            "'%s': cannot grow past its %llu bytes of "
                            "memory",
                            r->name,
                            (unsigned long long)r->block->max_length);
    } else if (r->kind == GM_REGION_ALIAS &&
               (gm_u128)r->alias_offset + size > SPACE_END) {
        ret = gm__error_set(err, -ERANGE,
                            "alias '%s': offset + size exceeds 2^64", r->name);
    } else if (r->size == size) {
        ret = 1;
    }
    if (ret) {
        return setter_refuse(r, ret);
    }
    u.size = r->size;
    return setter_apply(r, err, &u, apply_size, &v);
}

static void apply_resize(gm_region *r, const struct undo *v)
{
    r->block->used_length = v->u64;
    r->size = v->u64;
    gm__tree_reindex(r);
}

static void undo_resize(struct undo *u)
{
    u->r->block->used_length = u->u64;
    u->r->size = u->size;
    gm__tree_reindex(u->r);
}

/* The resize stands: tidy the memory and the bits, tell the owner. */
static void done_resize(struct undo *u)
{
    gm_region *r = u->r;
    struct gm_ram_block *b = r->block;
    uint64_t pg = GM_DIRTY_PAGE_SIZE;
    uint64_t old_end = (u->u64 + pg - 1) & ~(pg - 1);
    uint64_t new_end = (b->used_length + pg - 1) & ~(pg - 1);

    if (new_end < old_end) {
        /* Shrunk: the tail reads as zeros when it comes back. */
        gm__ram_discard(b, new_end, old_end - new_end);
    } else if (new_end > old_end) {
        gm__rcu_read_lock();
        gm__dirty_set(r->sys, (b->offset + old_end) >> GM_DIRTY_PAGE_BITS,
                      (new_end - old_end) >> GM_DIRTY_PAGE_BITS,
                      (1u << GM_DIRTY_CLIENTS) - 1);
        gm__rcu_read_unlock();
    }
    gm__ram_resized(r->sys, b);
}

int gm_region_ram_resize(gm_region *r, uint64_t used_length, gm_error *err)
{
    struct undo u = {.undo = undo_resize, .done = done_resize};
    struct undo v = {.u64 = used_length};
    int ret = setter_begin(r, err);
    struct gm_ram_block *b;

    if (ret) {
        return ret;
    }
    b = r->block;
    if (!b || !(b->flags & GM_RAM_RESIZEABLE)) {
        return setter_refuse(r, gm__error_set(err, -EINVAL,
                                              "'%s' is not resizeable RAM",
                                              r->name));
    }
    if (!used_length || used_length > b->max_length ||
        (r->container && (gm_u128)r->addr + used_length > SPACE_END)) {
        return setter_refuse(r, gm__error_set(
                                    err, -EINVAL,
                                    "'%s': %llu bytes is not within 1 .. "
                                    "its max_length %llu",
                                    r->name, (unsigned long long)used_length,
                                    (unsigned long long)b->max_length));
    }
    if (used_length == b->used_length) {
        return setter_refuse(r, 1);
    }
    u.u64 = b->used_length;
    u.size = r->size;
    return setter_apply(r, err, &u, apply_resize, &v);
}

static void apply_alias_offset(gm_region *r, const struct undo *v)
{
    r->alias_offset = v->u64;
}

static void undo_alias_offset(struct undo *u)
{
    u->r->alias_offset = u->u64;
}

int gm_region_set_alias_offset(gm_region *r, uint64_t offset, gm_error *err)
{
    struct undo u = {.undo = undo_alias_offset}, v = {.u64 = offset};
    int ret = setter_begin(r, err);

    if (ret) {
        return ret;
    }
    if (r->kind != GM_REGION_ALIAS) {
        ret = gm__error_set(err, -EINVAL, "'%s' is not an alias", r->name);
    } else if ((gm_u128)offset + r->size > SPACE_END) {
        ret = gm__error_set(err, -ERANGE,
                            "alias '%s': offset + size exceeds 2^64", r->name);
    } else if (r->alias_offset == offset) {
        ret = 1;
    }
    if (ret) {
        return setter_refuse(r, ret);
    }
    u.u64 = r->alias_offset;
    return setter_apply(r, err, &u, apply_alias_offset, &v);
}

static void apply_romd(gm_region *r, const struct undo *v)
{
    r->romd_mode = v->flag;
}

static void undo_romd(struct undo *u)
{
    u->r->romd_mode = u->flag;
}

int gm_region_set_romd(gm_region *r, bool romd, gm_error *err)
{
    struct undo u = {.undo = undo_romd}, v = {.flag = romd};
    int ret = setter_begin(r, err);

    if (ret) {
        return ret;
    }
    if (r->kind != GM_REGION_ROM_DEVICE) {
        ret = gm__error_set(err, -EINVAL, "'%s' is not a ROM device",
                            r->name);
    } else if (r->romd_mode == romd) {
        ret = 1;
    }
    if (ret) {
        return setter_refuse(r, ret);
    }
    u.flag = r->romd_mode;
    return setter_apply(r, err, &u, apply_romd, &v);
}

static void apply_log(gm_region *r, const struct undo *v)
{
    r->dirty_log_mask = v->mask;
}

static void undo_log(struct undo *u)
{
    u->r->dirty_log_mask = u->mask;
}

int gm_region_set_log(gm_region *r, bool log, enum gm_dirty_client client,
                      gm_error *err)
{
    struct undo u = {.undo = undo_log}, v = {0};
    int ret = setter_begin(r, err);
    uint8_t bit;

    if (ret) {
        return ret;
    }
    if ((unsigned)client >= GM_DIRTY_NR) {
        return setter_refuse(r, gm__error_set(err, -EINVAL,
                                              "bad dirty-log client %d",
                                              (int)client));
    }
    if (!gm__region_is_ram(r)) {
        return setter_refuse(r, gm__error_set(err, -EINVAL,
                                              "'%s' has no RAM to log",
                                              r->name));
    }
    bit = (uint8_t)(1u << client);
    if (!!(r->dirty_log_mask & bit) == log) {
        return setter_refuse(r, 1);
    }
    u.mask = r->dirty_log_mask;
    v.mask = log ? (uint8_t)(r->dirty_log_mask | bit)
                 : (uint8_t)(r->dirty_log_mask & ~bit);
    return setter_apply(r, err, &u, apply_log, &v);
}

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

static void undo_evfd_add(struct undo *u)
{
    evfd_remove_at(u->r, u->pos);
    gm__evfd_retire(gm__evfd_swap(u->r, u->pub));
}

static void undo_evfd_del(struct undo *u)
{
    evfd_insert_at(u->r, u->pos, &u->evfd);
    gm__evfd_retire(gm__evfd_swap(u->r, u->pub));
}

static void done_evfd(struct undo *u)
{
    gm__evfd_retire(u->pub);
}

static int eventfd_common(gm_region *r, uint64_t addr, unsigned size,
                          bool match_data, uint64_t data, int fd, bool add,
                          gm_error *err)
{
    struct gm_ioeventfd e = {addr, size, match_data, match_data ? data : 0,
                             fd};
    struct undo u = {.undo = add ? undo_evfd_add : undo_evfd_del,
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
    return end_change(sys, err, &u);
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
