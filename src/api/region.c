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

/* Close a change's transaction; see the top of the file. */
int gm__end_change(gm_system *sys, gm_error *err, struct gm_undo *u)
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

/* Open the setter's transaction after the NULL check. */
int gm__setter_begin(gm_region *r, gm_error *err)
{
    if (!r) {
        return gm__error_set(err, -EINVAL, "NULL region");
    }
    return gm__begin(r->sys, err);
}

/* Refuse (ret < 0) or skip (ret > 0) without a change. */
int gm__setter_refuse(gm_region *r, int ret)
{
    gm__end_nothing(r->sys);
    return ret > 0 ? 0 : ret;
}

int gm__setter_apply(gm_region *r, gm_error *err, struct gm_undo *u,
                        void (*apply)(gm_region *r, const struct gm_undo *v),
                        const struct gm_undo *v)
{
    u->r = r;
    gm__mark_region(r);
    apply(r, v);
    gm__mark_region(r);
    return gm__end_change(r->sys, err, u);
}

/*
 * Subregions.
 */

static void undo_add(struct gm_undo *u)
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
    struct gm_undo u = {.undo = undo_add, .r = child};
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
    return gm__end_change(sys, err, &u);
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

static void undo_del(struct gm_undo *u)
{
    gm_region *r = u->r;

    gm__tree_link(u->container, r, u->addr, u->overlap, u->priority);
    r->seq = u->seq;
    gm__tree_reindex(r);
}

static void done_del(struct gm_undo *u)
{
    gm_region_unref(u->r); /* the container's reference */
}

int gm_region_del_subregion(gm_region *parent, gm_region *child,
                            gm_error *err)
{
    struct gm_undo u = {.undo = undo_del, .done = done_del, .r = child};
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
    return gm__end_change(sys, err, &u);
}

/*
 * Properties. A setter checks its argument, returns early when nothing
 * changes, saves the old value, and applies the new one between two marks.
 */

static void apply_addr(gm_region *r, const struct gm_undo *v)
{
    r->addr = v->addr;
    gm__tree_readd(r);
}

static void undo_addr(struct gm_undo *u)
{
    u->r->addr = u->addr;
    u->r->seq = u->seq;
    gm__tree_reindex(u->r);
}

int gm_region_set_address(gm_region *r, uint64_t addr, gm_error *err)
{
    struct gm_undo u = {.undo = undo_addr}, v = {.addr = addr};
    int ret = gm__setter_begin(r, err);

    if (ret) {
        return ret;
    }
    if (r->container && (gm_u128)addr + r->size > SPACE_END) {
        return gm__setter_refuse(r, gm__error_set(err, -ERANGE,
                                              "'%s' at 0x%llx would end past "
                                              "2^64",
                                              r->name,
                                              (unsigned long long)addr));
    }
    if (r->addr == addr) {
        return gm__setter_refuse(r, 1);
    }
    u.addr = r->addr;
    u.seq = r->seq;
    return gm__setter_apply(r, err, &u, apply_addr, &v);
}

static void apply_priority(gm_region *r, const struct gm_undo *v)
{
    r->priority = v->priority;
    gm__tree_readd(r);
}

static void undo_priority(struct gm_undo *u)
{
    u->r->priority = u->priority;
    u->r->seq = u->seq;
    gm__tree_reindex(u->r);
}

int gm_region_set_priority(gm_region *r, int priority, gm_error *err)
{
    struct gm_undo u = {.undo = undo_priority}, v = {.priority = priority};
    int ret = gm__setter_begin(r, err);

    if (ret) {
        return ret;
    }
    if (r->priority == priority) {
        return gm__setter_refuse(r, 1);
    }
    u.priority = r->priority;
    u.seq = r->seq;
    return gm__setter_apply(r, err, &u, apply_priority, &v);
}

static void apply_enabled(gm_region *r, const struct gm_undo *v)
{
    gm__tree_set_enabled(r, v->flag);
}

static void undo_enabled(struct gm_undo *u)
{
    gm__tree_set_enabled(u->r, u->flag);
}

int gm_region_set_enabled(gm_region *r, bool enabled, gm_error *err)
{
    struct gm_undo u = {.undo = undo_enabled}, v = {.flag = enabled};
    int ret = gm__setter_begin(r, err);

    if (ret) {
        return ret;
    }
    if (r->enabled == enabled) {
        return gm__setter_refuse(r, 1);
    }
    u.flag = r->enabled;
    return gm__setter_apply(r, err, &u, apply_enabled, &v);
}

static void apply_readonly(gm_region *r, const struct gm_undo *v)
{
    r->readonly = v->flag;
}

static void undo_readonly(struct gm_undo *u)
{
    u->r->readonly = u->flag;
}

int gm_region_set_readonly(gm_region *r, bool readonly, gm_error *err)
{
    struct gm_undo u = {.undo = undo_readonly}, v = {.flag = readonly};
    int ret = gm__setter_begin(r, err);

    if (ret) {
        return ret;
    }
    if (r->readonly == readonly) {
        return gm__setter_refuse(r, 1);
    }
    u.flag = r->readonly;
    return gm__setter_apply(r, err, &u, apply_readonly, &v);
}

static void apply_nonvolatile(gm_region *r, const struct gm_undo *v)
{
    r->nonvolatile = v->flag;
}

static void undo_nonvolatile(struct gm_undo *u)
{
    u->r->nonvolatile = u->flag;
}

int gm_region_set_nonvolatile(gm_region *r, bool nonvolatile, gm_error *err)
{
    struct gm_undo u = {.undo = undo_nonvolatile}, v = {.flag = nonvolatile};
    int ret = gm__setter_begin(r, err);

    if (ret) {
        return ret;
    }
    if (r->nonvolatile == nonvolatile) {
        return gm__setter_refuse(r, 1);
    }
    u.flag = r->nonvolatile;
    return gm__setter_apply(r, err, &u, apply_nonvolatile, &v);
}

static void apply_size(gm_region *r, const struct gm_undo *v)
{
    r->size = v->size;
    gm__tree_reindex(r);
}

static void undo_size(struct gm_undo *u)
{
    u->r->size = u->size;
    gm__tree_reindex(u->r);
}

int gm_region_set_size(gm_region *r, gm_u128 size, gm_error *err)
{
    struct gm_undo u = {.undo = undo_size}, v = {.size = size};
    char b[40];
    int ret = gm__setter_begin(r, err);

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
        return gm__setter_refuse(r, ret);
    }
    u.size = r->size;
    return gm__setter_apply(r, err, &u, apply_size, &v);
}

static void apply_resize(gm_region *r, const struct gm_undo *v)
{
    r->block->used_length = v->u64;
    r->size = v->u64;
    gm__tree_reindex(r);
}

static void undo_resize(struct gm_undo *u)
{
    u->r->block->used_length = u->u64;
    u->r->size = u->size;
    gm__tree_reindex(u->r);
}

/* The resize stands: tidy the memory and the bits, tell the owner. */
static void done_resize(struct gm_undo *u)
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
    struct gm_undo u = {.undo = undo_resize, .done = done_resize};
    struct gm_undo v = {.u64 = used_length};
    int ret = gm__setter_begin(r, err);
    struct gm_ram_block *b;

    if (ret) {
        return ret;
    }
    b = r->block;
    if (!b || !(b->flags & GM_RAM_RESIZEABLE)) {
        return gm__setter_refuse(r, gm__error_set(err, -EINVAL,
                                              "'%s' is not resizeable RAM",
                                              r->name));
    }
    if (!used_length || used_length > b->max_length ||
        (r->container && (gm_u128)r->addr + used_length > SPACE_END)) {
        return gm__setter_refuse(r, gm__error_set(
                                    err, -EINVAL,
                                    "'%s': %llu bytes is not within 1 .. "
                                    "its max_length %llu",
                                    r->name, (unsigned long long)used_length,
                                    (unsigned long long)b->max_length));
    }
    if (used_length == b->used_length) {
        return gm__setter_refuse(r, 1);
    }
    u.u64 = b->used_length;
    u.size = r->size;
    return gm__setter_apply(r, err, &u, apply_resize, &v);
}

static void apply_alias_offset(gm_region *r, const struct gm_undo *v)
{
    r->alias_offset = v->u64;
}

static void undo_alias_offset(struct gm_undo *u)
{
    u->r->alias_offset = u->u64;
}

int gm_region_set_alias_offset(gm_region *r, uint64_t offset, gm_error *err)
{
    struct gm_undo u = {.undo = undo_alias_offset}, v = {.u64 = offset};
    int ret = gm__setter_begin(r, err);

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
        return gm__setter_refuse(r, ret);
    }
    u.u64 = r->alias_offset;
    return gm__setter_apply(r, err, &u, apply_alias_offset, &v);
}

static void apply_romd(gm_region *r, const struct gm_undo *v)
{
    r->romd_mode = v->flag;
}

static void undo_romd(struct gm_undo *u)
{
    u->r->romd_mode = u->flag;
}

int gm_region_set_romd(gm_region *r, bool romd, gm_error *err)
{
    struct gm_undo u = {.undo = undo_romd}, v = {.flag = romd};
    int ret = gm__setter_begin(r, err);

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
        return gm__setter_refuse(r, ret);
    }
    u.flag = r->romd_mode;
    return gm__setter_apply(r, err, &u, apply_romd, &v);
}

static void apply_log(gm_region *r, const struct gm_undo *v)
{
    r->dirty_log_mask = v->mask;
}

static void undo_log(struct gm_undo *u)
{
    u->r->dirty_log_mask = u->mask;
}

int gm_region_set_log(gm_region *r, bool log, enum gm_dirty_client client,
                      gm_error *err)
{
    struct gm_undo u = {.undo = undo_log}, v = {0};
    int ret = gm__setter_begin(r, err);
    uint8_t bit;

    if (ret) {
        return ret;
    }
    if ((unsigned)client >= GM_DIRTY_NR) {
        return gm__setter_refuse(r, gm__error_set(err, -EINVAL,
                                              "bad dirty-log client %d",
                                              (int)client));
    }
    if (!gm__region_is_ram(r)) {
        return gm__setter_refuse(r, gm__error_set(err, -EINVAL,
                                              "'%s' has no RAM to log",
                                              r->name));
    }
    bit = (uint8_t)(1u << client);
    if (!!(r->dirty_log_mask & bit) == log) {
        return gm__setter_refuse(r, 1);
    }
    u.mask = r->dirty_log_mask;
    v.mask = log ? (uint8_t)(r->dirty_log_mask | bit)
                 : (uint8_t)(r->dirty_log_mask & ~bit);
    return gm__setter_apply(r, err, &u, apply_log, &v);
}
