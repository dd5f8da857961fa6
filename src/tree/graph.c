/* SPDX-License-Identifier: MIT */
/*
 * tree/graph.c - the shape of the region graph: subregions, their order and
 * index, acyclicity, and the flat-view root rule.
 *
 * Render order among siblings is (priority descending, seq descending),
 * where seq is a per-system counter stamped when the region is added: the
 * most recently added of equal priority renders first, as in QEMU. Each
 * container indexes its children by extent (base/itree.c) so that a window
 * finds the children it meets in O(log n + k).
 *
 * Adding a subregion refuses any edge that would close a cycle, so every
 * walk over the graph terminates.
 */
#include <stdlib.h>
#include <string.h>

#include "tree.h"

static const gm_u128 SPACE_END = GM_SIZE_2_64;

/*
 * Flat-view root resolution (QEMU's rule, so that spaces share views):
 * follow enabled aliases at offset 0 that cover their whole target, and
 * enabled containers whose single enabled child sits at 0 and fits. The
 * answer depends on the shape of every region visited (its enabled flag,
 * size, alias offset, children) and, for an alias that is not followed,
 * on its target's size: those are the chain update/ watches.
 */
int gm__resolve_root(gm_region *mr, gm_region **root, gm_regionvec *chain)
{
    *root = NULL;
    while (mr) {
        if (gm__vec_push(chain, mr)) {
            return -ENOMEM;
        }
        if (!mr->enabled) {
            return 0;
        }
        if (mr->alias) {
            if (!mr->alias_offset && mr->size >= mr->alias->size) {
                mr = mr->alias;
                continue;
            }
            *root = mr;
            return gm__vec_push(chain, mr->alias) ? -ENOMEM : 0;
        }
        if (!mr->terminates) {
            gm_region *c = NULL;

            if (mr->nr_enabled_children == 0) {
                return 0;
            }
            if (mr->nr_enabled_children == 1) {
                for (c = mr->first_child; c && !c->enabled; c = c->sib_next) {
                }
                if (c && c->addr == 0 && mr->size >= c->size) {
                    mr = c;
                    continue;
                }
            }
        }
        *root = mr;
        return 0;
    }
    return 0;
}

int gm__cmp_render_order(const void *a, const void *b)
{
    const gm_region *x = *(gm_region *const *)a;
    const gm_region *y = *(gm_region *const *)b;

    if (x->priority != y->priority) {
        return x->priority > y->priority ? -1 : 1;
    }
    return x->seq > y->seq ? -1 : (x->seq < y->seq ? 1 : 0);
}

int gm_region_foreach_subregion(gm_region *r,
                                int (*fn)(gm_region *child, void *opaque),
                                void *opaque)
{
    gm_region **v;
    size_t n = 0;
    int ret = 0;

    if (!r || !fn) {
        return -EINVAL;
    }
    gm__lock(r->sys);
    v = malloc((r->nr_children ? r->nr_children : 1) * sizeof(*v));
    if (!v) {
        gm__unlock(r->sys);
        return -ENOMEM;
    }
    for (gm_region *c = r->first_child; c; c = c->sib_next) {
        v[n++] = c;
    }
    qsort(v, n, sizeof(*v), gm__cmp_render_order);
    for (size_t i = 0; i < n && !ret; i++) {
        ret = fn(v[i], opaque);
    }
    free(v);
    gm__unlock(r->sys);
    return ret;
}

int gm_region_get_property(gm_region *r, const char *name,
                           struct gm_prop_value *out, gm_error *err)
{
    int ret = 0;

    if (!r || !name || !out) {
        return gm__error_set(err, -EINVAL, "get_property: NULL argument");
    }
    gm__lock(r->sys);
    if (!strcmp(name, "container")) {
        out->type = GM_PROP_REGION;
        out->u.region = r->container;
    } else if (!strcmp(name, "addr")) {
        out->type = GM_PROP_U64;
        out->u.u64 = r->addr;
    } else if (!strcmp(name, "priority")) {
        out->type = GM_PROP_INT;
        out->u.i = r->priority;
    } else if (!strcmp(name, "may-overlap")) {
        out->type = GM_PROP_BOOL;
        out->u.b = r->may_overlap;
    } else if (!strcmp(name, "size")) {
        out->type = GM_PROP_U64;
        out->u.u64 = r->size >= SPACE_END ? UINT64_MAX : (uint64_t)r->size;
    } else {
        ret = gm__error_set(err, -ENOENT,
                            "region '%s' has no property '%s'", r->name,
                            name);
    }
    gm__unlock(r->sys);
    return ret;
}

static void collide_cb(struct gm_itree_node *n, void *opaque)
{
    gm_region *r = opaque;
    gm_region *o = caa_container_of(n, gm_region, inode);
    char b1[40], b2[40];

    if (o == r || o->may_overlap || r->size == 0 || o->size == 0) {
        return;
    }
    gm__warn(r->sys,
             "subregion collision 0x%llx/%s (%s) vs 0x%llx/%s (%s) in '%s'",
             (unsigned long long)r->addr, gm__u128_str(r->size, b1), r->name,
             (unsigned long long)o->addr, gm__u128_str(o->size, b2), o->name,
             r->container->name);
}

/* Warn about children r overlaps without either being allowed to. */
static void check_collisions(gm_region *r)
{
    if (!r->may_overlap) {
        gm__itree_query(r->container->child_index, r->inode.start,
                        r->inode.end, collide_cb, r);
    }
}

void gm__tree_link(gm_region *parent, gm_region *child, uint64_t offset,
                   bool overlap, int priority)
{
    child->container = parent;
    child->addr = offset;
    child->may_overlap = overlap;
    child->priority = priority;
    child->seq = ++parent->sys->tree->seq;
    child->inode.start = offset;
    child->inode.end = (gm_u128)offset + child->size;
    check_collisions(child);
    gm__itree_insert(&parent->child_index, &child->inode);
    child->sib_prev = NULL;
    child->sib_next = parent->first_child;
    if (parent->first_child) {
        parent->first_child->sib_prev = child;
    }
    parent->first_child = child;
    parent->nr_children++;
    if (child->enabled) {
        parent->nr_enabled_children++;
    }
    gm__reach_linked(parent, child, true);
}

void gm__tree_unlink(gm_region *child)
{
    gm_region *parent = child->container;

    if (child->sib_prev) {
        child->sib_prev->sib_next = child->sib_next;
    } else {
        parent->first_child = child->sib_next;
    }
    if (child->sib_next) {
        child->sib_next->sib_prev = child->sib_prev;
    }
    child->sib_prev = child->sib_next = NULL;
    gm__itree_remove(&parent->child_index, &child->inode);
    parent->nr_children--;
    if (child->enabled) {
        parent->nr_enabled_children--;
    }
    child->container = NULL;
    gm__reach_linked(parent, child, false);
}

void gm__tree_reindex(gm_region *r)
{
    gm_region *p = r->container;

    if (p) {
        gm__itree_remove(&p->child_index, &r->inode);
        r->inode.start = r->addr;
        r->inode.end = (gm_u128)r->addr + r->size;
        gm__itree_insert(&p->child_index, &r->inode);
    }
}

/*
 * Moving a subregion re-adds it, as QEMU does: it becomes the most recently
 * added of its priority, and collisions are checked again.
 */
void gm__tree_readd(gm_region *r)
{
    if (r->container) {
        r->seq = ++r->sys->tree->seq;
        gm__tree_reindex(r);
        check_collisions(r);
    }
}

void gm__tree_set_enabled(gm_region *r, bool enabled)
{
    if (r->enabled != enabled) {
        r->enabled = enabled;
        if (r->container) {
            r->container->nr_enabled_children += enabled ? 1 : -1;
        }
    }
}

uint8_t gm__region_log_mask(gm_system *sys, const gm_region *mr)
{
    uint8_t mask = mr->dirty_log_mask;

    if (sys->tree->global_log && gm__region_is_ram(mr)) {
        mask |= 1u << GM_DIRTY_MIGRATION;
    }
    if (sys->tree->snapshot_log && gm__region_is_ram(mr)) {
        mask |= 1u << GM_DIRTY_SNAPSHOT;
    }
    return mask;
}
