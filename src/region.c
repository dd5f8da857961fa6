/* SPDX-License-Identifier: MIT */
/*
 * region.c - memory regions and the region tree.
 *
 * A region is a node of a DAG: containers point at their subregions
 * (strong references, kept in a list and in an interval index by extent),
 * aliases at their target (strong); the reverse links (container, the list
 * of aliases targeting a region) are weak and are what the commit walks to
 * find the address windows a change touches. Adding a subregion refuses
 * any edge that would close a cycle, so every walk terminates.
 *
 * Each mutator validates its arguments first (a refused call changes
 * nothing), then notes the region's extent before the change, applies it,
 * and notes the extent after (gm__mark_region), all inside a transaction.
 *
 * Render order among siblings is (priority descending, seq descending),
 * where seq is a per-system counter stamped when the region is added: the
 * most recently added of equal priority renders first, as in QEMU.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

static const gm_u128 SPACE_END = GM_SIZE_2_64;

static gm_region *region_alloc(gm_system *sys, const char *name,
                               enum gm_region_kind kind, gm_u128 size,
                               bool zero_ok, gm_error *err)
{
    gm_region *r;
    char b[40];

    if (!sys) {
        gm__error_set(err, -EINVAL, "NULL system");
        return NULL;
    }
    if (size > SPACE_END) {
        gm__error_set(err, -EINVAL, "region '%s': size %s exceeds 2^64",
                      name ? name : "anonymous", gm__u128_str(size, b));
        return NULL;
    }
    if (size == 0 && !zero_ok) {
        gm__error_set(err, -EINVAL, "region '%s': size must not be zero",
                      name ? name : "anonymous");
        return NULL;
    }
    r = calloc(1, sizeof(*r));
    if (!r || !(r->name = strdup(name ? name : "anonymous"))) {
        free(r);
        gm__error_set(err, -ENOMEM, "cannot allocate region");
        return NULL;
    }
    r->sys = sys;
    r->kind = kind;
    atomic_init(&r->refcnt, 1);
    r->enabled = true;
    r->romd_mode = true;
    r->size = size;
    r->terminates = kind != GM_REGION_CONTAINER && kind != GM_REGION_ALIAS;
    atomic_fetch_add(&sys->nr_regions, 1);
    return r;
}

static void region_free_raw(gm_region *r)
{
    atomic_fetch_sub(&r->sys->nr_regions, 1);
    free(r->name);
    free(r);
}

gm_region *gm_region_new_container(gm_system *sys, const char *name,
                                   gm_u128 size, gm_error *err)
{
    return region_alloc(sys, name, GM_REGION_CONTAINER, size, true, err);
}

static int ram_map(gm_region *r, gm_u128 size, gm_error *err)
{
    long pg = sysconf(_SC_PAGESIZE);
    size_t len;
    void *p;

    if (size > ((gm_u128)1 << 63) || size > SIZE_MAX - (size_t)pg) {
        return gm__error_set(err, -EINVAL,
                             "region '%s': RAM size too large", r->name);
    }
    len = ((size_t)size + (size_t)pg - 1) & ~((size_t)pg - 1);
    p = mmap(NULL, len, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        return gm__error_set(err, -ENOMEM,
                             "region '%s': cannot map %zu bytes of RAM",
                             r->name, len);
    }
    r->ram = p;
    r->ram_len = len;
    r->ram_alloc = (size_t)size;
    return 0;
}

static gm_region *new_ram_kind(gm_system *sys, const char *name,
                               enum gm_region_kind kind, gm_u128 size,
                               void *host, gm_error *err)
{
    gm_region *r = region_alloc(sys, name, kind, size, false, err);

    if (!r) {
        return NULL;
    }
    if (host) {
        if (size > SIZE_MAX) {
            gm__error_set(err, -EINVAL, "region '%s': size too large",
                          r->name);
            region_free_raw(r);
            return NULL;
        }
        r->ram = host;
        r->ram_alloc = (size_t)size;
    } else if (ram_map(r, size, err)) {
        region_free_raw(r);
        return NULL;
    }
    return r;
}

gm_region *gm_region_new_ram(gm_system *sys, const char *name, gm_u128 size,
                             gm_error *err)
{
    return new_ram_kind(sys, name, GM_REGION_RAM, size, NULL, err);
}

gm_region *gm_region_new_ram_ptr(gm_system *sys, const char *name,
                                 gm_u128 size, void *host, gm_error *err)
{
    if (!host) {
        gm__error_set(err, -EINVAL, "region '%s': NULL host pointer",
                      name ? name : "anonymous");
        return NULL;
    }
    return new_ram_kind(sys, name, GM_REGION_RAM, size, host, err);
}

gm_region *gm_region_new_rom(gm_system *sys, const char *name, gm_u128 size,
                             gm_error *err)
{
    gm_region *r = new_ram_kind(sys, name, GM_REGION_ROM, size, NULL, err);

    if (r) {
        r->readonly = true;
    }
    return r;
}

gm_region *gm_region_new_io(gm_system *sys, const char *name, gm_u128 size,
                            const struct gm_region_ops *ops, void *opaque,
                            gm_error *err)
{
    gm_region *r = region_alloc(sys, name, GM_REGION_IO, size, false, err);

    if (r) {
        r->ops = ops;
        r->opaque = opaque;
        gm__ops_simple(ops, &r->simple_sizes, &r->simple_unaligned);
    }
    return r;
}

gm_region *gm_region_new_alias(gm_system *sys, const char *name,
                               gm_region *target, uint64_t offset,
                               gm_u128 size, gm_error *err)
{
    gm_region *r;

    if (!target) {
        gm__error_set(err, -EINVAL, "alias '%s': NULL target",
                      name ? name : "anonymous");
        return NULL;
    }
    if (sys && target->sys != sys) {
        gm__error_set(err, -EINVAL,
                      "alias '%s': target '%s' belongs to another system",
                      name ? name : "anonymous", target->name);
        return NULL;
    }
    if ((gm_u128)offset + size > SPACE_END) {
        gm__error_set(err, -EINVAL,
                      "alias '%s': offset + size exceeds 2^64",
                      name ? name : "anonymous");
        return NULL;
    }
    r = region_alloc(sys, name, GM_REGION_ALIAS, size, true, err);
    if (!r) {
        return NULL;
    }
    gm__lock(sys);
    if (gm__vec_push(&target->aliased_by, r)) {
        gm__unlock(sys);
        region_free_raw(r);
        gm__error_set(err, -ENOMEM, "cannot allocate alias");
        return NULL;
    }
    r->alias = gm_region_ref(target);
    r->alias_offset = offset;
    gm__unlock(sys);
    return r;
}

gm_region *gm_region_new_rom_device(gm_system *sys, const char *name,
                                    gm_u128 size,
                                    const struct gm_region_ops *ops,
                                    void *opaque, gm_error *err)
{
    gm_region *r =
        new_ram_kind(sys, name, GM_REGION_ROM_DEVICE, size, NULL, err);

    if (r) {
        r->ops = ops;
        r->opaque = opaque;
        gm__ops_simple(ops, &r->simple_sizes, &r->simple_unaligned);
    }
    return r;
}

gm_region *gm_region_new_ram_device(gm_system *sys, const char *name,
                                    gm_u128 size, void *host, gm_error *err)
{
    if (!host) {
        gm__error_set(err, -EINVAL, "region '%s': NULL host pointer",
                      name ? name : "anonymous");
        return NULL;
    }
    return new_ram_kind(sys, name, GM_REGION_RAM_DEVICE, size, host, err);
}

gm_region *gm_region_ref(gm_region *r)
{
    if (r) {
        atomic_fetch_add_explicit(&r->refcnt, 1, memory_order_relaxed);
    }
    return r;
}

static void child_unlink(gm_region *parent, gm_region *child)
{
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
}

/* Destroy a region whose refcount reached zero; writer lock held. */
void gm__region_destroy(gm_region *r)
{
    while (r->first_child) {
        gm_region *c = r->first_child;
        child_unlink(r, c);
        gm_region_unref(c);
    }
    if (r->alias) {
        gm_region *t = r->alias;
        for (size_t i = 0; i < t->aliased_by.n; i++) {
            if (t->aliased_by.v[i] == r) {
                t->aliased_by.v[i] = t->aliased_by.v[--t->aliased_by.n];
                break;
            }
        }
        r->alias = NULL;
        gm_region_unref(t);
    }
    if (r->ram_len) {
        munmap(r->ram, r->ram_len);
    }
    gm__vec_free(&r->aliased_by);
    r->sys->nr_evfds -= r->evfds.n;
    gm__vec_free(&r->evfds);
    gm__region_free_evfds(r);
    region_free_raw(r);
}

void gm_region_unref(gm_region *r)
{
    gm_system *sys;

    if (!r) {
        return;
    }
    sys = r->sys;
    if (atomic_fetch_sub_explicit(&r->refcnt, 1, memory_order_acq_rel) != 1) {
        return;
    }
    gm__lock(sys);
    gm__region_destroy(r);
    gm__unlock(sys);
}

/*
 * Topology.
 */

/* Is target reachable by walking up from r (containers and aliasers)? */
static bool reaches_up(gm_region *r, gm_region *target, uint64_t mark)
{
    if (r == target) {
        return true;
    }
    if (r->mark == mark) {
        return false;
    }
    r->mark = mark;
    if (r->container && reaches_up(r->container, target, mark)) {
        return true;
    }
    for (size_t i = 0; i < r->aliased_by.n; i++) {
        if (reaches_up(r->aliased_by.v[i], target, mark)) {
            return true;
        }
    }
    return false;
}

struct collide_ctx {
    gm_region *child;
};

static void collide_cb(struct gm_itree_node *n, void *opaque)
{
    struct collide_ctx *c = opaque;
    gm_region *o = caa_container_of(n, gm_region, inode);
    gm_region *r = c->child;
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

static int add_common(gm_region *parent, uint64_t offset, gm_region *child,
                      bool overlap, int priority, gm_error *err)
{
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
        goto out;
    }
    if ((gm_u128)offset + child->size > SPACE_END) {
        ret = gm__error_set(err, -ERANGE,
                            "'%s' at 0x%llx in '%s' would end past 2^64",
                            child->name, (unsigned long long)offset,
                            parent->name);
        goto out;
    }
    if (reaches_up(parent, child, ++sys->mark_gen)) {
        ret = gm__error_set(err, -ELOOP,
                            "adding '%s' to '%s' would make '%s' contain "
                            "itself",
                            child->name, parent->name, child->name);
        goto out;
    }
    gm_region_ref(child);
    /* A view rendered from child moves with child->addr. */
    gm__mark_region(child);
    child->container = parent;
    child->addr = offset;
    child->may_overlap = overlap;
    child->priority = priority;
    child->seq = ++sys->seq;
    child->inode.start = offset;
    child->inode.end = (gm_u128)offset + child->size;
    if (!overlap) {
        struct collide_ctx c = {child};
        gm__itree_query(parent->child_index, child->inode.start,
                        child->inode.end, collide_cb, &c);
    }
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
    gm__mark_region(child);
out:
    return gm__end(sys, err) ? ret ? ret : -ENOMEM : ret;
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

int gm_region_del_subregion(gm_region *parent, gm_region *child,
                            gm_error *err)
{
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
        goto out;
    }
    gm__mark_region(child);
    child_unlink(parent, child);
    gm_region_unref(child);
out:
    return gm__end(sys, err) ? ret ? ret : -ENOMEM : ret;
}

/* Apply a change to r between two marks, inside a transaction. */
#define REGION_CHANGE(r, err, check, change)                                   \
    do {                                                                       \
        gm_system *sys_;                                                       \
        int ret_;                                                              \
        if (!(r)) {                                                            \
            return gm__error_set((err), -EINVAL, "NULL region");               \
        }                                                                      \
        sys_ = (r)->sys;                                                       \
        ret_ = gm__begin(sys_, (err));                                         \
        if (ret_) {                                                            \
            return ret_;                                                       \
        }                                                                      \
        check;                                                                 \
        if (!ret_) {                                                           \
            gm__mark_region(r);                                                \
            change;                                                            \
            gm__mark_region(r);                                                \
        }                                                                      \
        if (gm__end(sys_, (err)) && ret_ == 0) {                               \
            ret_ = -ENOMEM;                                                    \
        }                                                                      \
        return ret_ > 0 ? 0 : ret_; /* 1: nothing to change */                 \
    } while (0)

static void reindex(gm_region *r)
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
static void readd(gm_region *r)
{
    if (r->container) {
        r->seq = ++r->sys->seq;
        reindex(r);
        if (!r->may_overlap) {
            struct collide_ctx c = {r};
            gm__itree_query(r->container->child_index, r->inode.start,
                            r->inode.end, collide_cb, &c);
        }
    }
}

int gm_region_set_address(gm_region *r, uint64_t addr, gm_error *err)
{
    REGION_CHANGE(
        r, err,
        if (r->container && (gm_u128)addr + r->size > SPACE_END) {
            ret_ = gm__error_set(err, -ERANGE,
                                 "'%s' at 0x%llx would end past 2^64",
                                 r->name, (unsigned long long)addr);
        } else if (r->addr == addr) { ret_ = 1; },
        r->addr = addr;
        readd(r));
}

int gm_region_set_enabled(gm_region *r, bool enabled, gm_error *err)
{
    REGION_CHANGE(
        r, err, if (r->enabled == enabled) { ret_ = 1; },
        r->enabled = enabled;
        if (r->container) {
            r->container->nr_enabled_children += enabled ? 1 : -1;
        });
}

int gm_region_set_readonly(gm_region *r, bool readonly, gm_error *err)
{
    REGION_CHANGE(
        r, err, if (r->readonly == readonly) { ret_ = 1; },
        r->readonly = readonly);
}

int gm_region_set_nonvolatile(gm_region *r, bool nonvolatile, gm_error *err)
{
    REGION_CHANGE(
        r, err, if (r->nonvolatile == nonvolatile) { ret_ = 1; },
        r->nonvolatile = nonvolatile);
}

int gm_region_set_size(gm_region *r, gm_u128 size, gm_error *err)
{
    char b[40];

    REGION_CHANGE(
        r, err,
        if (size > SPACE_END) {
            ret_ = gm__error_set(err, -EINVAL,
                                 "'%s': size %s exceeds 2^64", r->name,
                                 gm__u128_str(size, b));
        } else if (r->container && (gm_u128)r->addr + size > SPACE_END) {
            ret_ = gm__error_set(err, -ERANGE,
                                 "'%s': size %s would end past 2^64",
                                 r->name, gm__u128_str(size, b));
        } else if (size == 0 && r->kind != GM_REGION_CONTAINER &&
                   r->kind != GM_REGION_ALIAS) {
            ret_ = gm__error_set(err, -EINVAL,
                                 "'%s': size must not be zero", r->name);
        } else if (r->ram && size > r->ram_alloc) {
            ret_ = gm__error_set(err, -EINVAL,
                                 "'%s': cannot grow past its %zu bytes of "
                                 "memory",
                                 r->name, r->ram_alloc);
        } else if (r->kind == GM_REGION_ALIAS &&
                   (gm_u128)r->alias_offset + size > SPACE_END) {
            ret_ = gm__error_set(err, -ERANGE,
                                 "alias '%s': offset + size exceeds 2^64",
                                 r->name);
        } else if (r->size == size) { ret_ = 1; },
        r->size = size;
        reindex(r));
}

int gm_region_set_alias_offset(gm_region *r, uint64_t offset, gm_error *err)
{
    REGION_CHANGE(
        r, err,
        if (r->kind != GM_REGION_ALIAS) {
            ret_ = gm__error_set(err, -EINVAL, "'%s' is not an alias",
                                 r->name);
        } else if ((gm_u128)offset + r->size > SPACE_END) {
            ret_ = gm__error_set(err, -ERANGE,
                                 "alias '%s': offset + size exceeds 2^64",
                                 r->name);
        } else if (r->alias_offset == offset) { ret_ = 1; },
        r->alias_offset = offset);
}

int gm_region_set_romd(gm_region *r, bool romd, gm_error *err)
{
    REGION_CHANGE(
        r, err,
        if (r->kind != GM_REGION_ROM_DEVICE) {
            ret_ = gm__error_set(err, -EINVAL, "'%s' is not a ROM device",
                                 r->name);
        } else if (r->romd_mode == romd) { ret_ = 1; },
        r->romd_mode = romd);
}

int gm_region_set_log(gm_region *r, bool log, enum gm_dirty_client client,
                      gm_error *err)
{
    REGION_CHANGE(
        r, err,
        if ((unsigned)client >= GM_DIRTY_NR) {
            ret_ = gm__error_set(err, -EINVAL, "bad dirty-log client %d",
                                 (int)client);
        } else if (!r->ram) {
            ret_ = gm__error_set(err, -EINVAL,
                                 "'%s' has no RAM to log", r->name);
        } else if (!!(r->dirty_log_mask & (1u << client)) == log) {
            ret_ = 1;
        },
        if (log) {
            r->dirty_log_mask |= (uint8_t)(1u << client);
        } else {
            r->dirty_log_mask &= (uint8_t)~(1u << client);
        });
}

/*
 * The REGION_CHANGE checks use ret_ = 1 for "nothing to do"; translate to
 * success for callers.
 */

void gm_region_set_owner(gm_region *r, void *owner)
{
    if (r) {
        gm__lock(r->sys);
        r->owner = owner;
        gm__unlock(r->sys);
    }
}

/*
 * ioeventfds.
 */

/* Order of ioeventfds: address, size, match, data (when matched), fd. */
int gm__evfd_cmp(const struct gm_ioeventfd *a, const struct gm_ioeventfd *b)
{
    if (a->addr != b->addr) {
        return a->addr < b->addr ? -1 : 1;
    }
    if (a->size != b->size) {
        return a->size < b->size ? -1 : 1;
    }
    if (a->match_data != b->match_data) {
        return a->match_data < b->match_data ? -1 : 1;
    }
    if (a->match_data && a->data != b->data) {
        return a->data < b->data ? -1 : 1;
    }
    return a->fd < b->fd ? -1 : (a->fd > b->fd ? 1 : 0);
}

static int eventfd_common(gm_region *r, uint64_t addr, unsigned size,
                          bool match_data, uint64_t data, int fd, bool add,
                          gm_error *err)
{
    struct gm_ioeventfd e = {addr, size, match_data, match_data ? data : 0,
                             fd};
    gm_system *sys;
    size_t i;
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
    for (i = 0; i < r->evfds.n && gm__evfd_cmp(&r->evfds.v[i], &e) < 0; i++) {
    }
    bool found = i < r->evfds.n && gm__evfd_cmp(&r->evfds.v[i], &e) == 0;
    if (add && found) {
        ret = gm__error_set(err, -EEXIST,
                            "ioeventfd at 0x%llx already on '%s'",
                            (unsigned long long)addr, r->name);
    } else if (!add && !found) {
        ret = gm__error_set(err, -ENOENT, "no such ioeventfd on '%s'",
                            r->name);
    } else if (add) {
        if (gm__vec_reserve(&r->evfds, r->evfds.n + 1)) {
            ret = gm__error_set(err, -ENOMEM, "cannot add ioeventfd");
        } else {
            memmove(&r->evfds.v[i + 1], &r->evfds.v[i],
                    (r->evfds.n - i) * sizeof(e));
            r->evfds.v[i] = e;
            r->evfds.n++;
            sys->nr_evfds++;
            gm__region_publish_evfds(r);
            gm__mark_region_evfd(r);
        }
    } else {
        memmove(&r->evfds.v[i], &r->evfds.v[i + 1],
                (r->evfds.n - i - 1) * sizeof(e));
        r->evfds.n--;
        sys->nr_evfds--;
        gm__region_publish_evfds(r);
        gm__mark_region_evfd(r);
    }
    if (gm__end(sys, err) && !ret) {
        ret = -ENOMEM;
    }
    return ret;
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
 * Flat-view root resolution (QEMU's rule, so that spaces share views).
 */
gm_region *gm__resolve_root(gm_region *mr)
{
    while (mr && mr->enabled) {
        if (mr->alias) {
            if (!mr->alias_offset && mr->size >= mr->alias->size) {
                mr = mr->alias;
                continue;
            }
        } else if (!mr->terminates) {
            gm_region *c, *next = NULL;

            if (mr->nr_enabled_children == 0) {
                return NULL;
            }
            if (mr->nr_enabled_children == 1) {
                for (c = mr->first_child; c && !c->enabled; c = c->sib_next) {
                }
                if (c && c->addr == 0 && mr->size >= c->size) {
                    next = c;
                }
            }
            if (next) {
                mr = next;
                continue;
            }
        }
        return mr;
    }
    return NULL;
}

/*
 * Getters.
 */

#define LOCKED_GET(r, type, expr, dflt)                                        \
    do {                                                                       \
        type v_;                                                               \
        if (!(r)) {                                                            \
            return dflt;                                                       \
        }                                                                      \
        gm__lock((r)->sys);                                                    \
        v_ = (expr);                                                           \
        gm__unlock((r)->sys);                                                  \
        return v_;                                                             \
    } while (0)

const char *gm_region_name(const gm_region *r)
{
    return r ? r->name : NULL;
}

enum gm_region_kind gm_region_kind(const gm_region *r)
{
    return r ? r->kind : GM_REGION_CONTAINER;
}

const char *gm_region_kind_name(enum gm_region_kind kind)
{
    switch (kind) {
    case GM_REGION_CONTAINER:
        return "container";
    case GM_REGION_RAM:
        return "ram";
    case GM_REGION_ROM:
        return "rom";
    case GM_REGION_IO:
        return "io";
    case GM_REGION_ALIAS:
        return "alias";
    case GM_REGION_ROM_DEVICE:
        return "rom-device";
    case GM_REGION_RAM_DEVICE:
        return "ram-device";
    }
    return "unknown";
}

void *gm_region_owner(gm_region *r)
{
    LOCKED_GET(r, void *, r->owner, NULL);
}

gm_system *gm_region_system(const gm_region *r)
{
    return r ? r->sys : NULL;
}

gm_u128 gm_region_size(gm_region *r)
{
    LOCKED_GET(r, gm_u128, r->size, 0);
}

uint64_t gm_region_addr(gm_region *r)
{
    LOCKED_GET(r, uint64_t, r->addr, 0);
}

int gm_region_priority(gm_region *r)
{
    LOCKED_GET(r, int, r->priority, 0);
}

bool gm_region_may_overlap(gm_region *r)
{
    LOCKED_GET(r, bool, r->may_overlap, false);
}

bool gm_region_enabled(gm_region *r)
{
    LOCKED_GET(r, bool, r->enabled, false);
}

bool gm_region_readonly(gm_region *r)
{
    LOCKED_GET(r, bool, r->readonly, false);
}

bool gm_region_nonvolatile(gm_region *r)
{
    LOCKED_GET(r, bool, r->nonvolatile, false);
}

bool gm_region_romd(gm_region *r)
{
    LOCKED_GET(r, bool, r->romd_mode, false);
}

bool gm_region_terminates(const gm_region *r)
{
    return r && r->terminates;
}

uint8_t gm_region_dirty_log_mask(gm_region *r)
{
    LOCKED_GET(r, uint8_t, r->dirty_log_mask, 0);
}

gm_region *gm_region_container(gm_region *r)
{
    LOCKED_GET(r, gm_region *, r->container, NULL);
}

gm_region *gm_region_alias_target(const gm_region *r)
{
    return r ? r->alias : NULL;
}

uint64_t gm_region_alias_offset(gm_region *r)
{
    LOCKED_GET(r, uint64_t, r->alias_offset, 0);
}

void *gm_region_ram_ptr(const gm_region *r)
{
    return r ? r->ram : NULL;
}

const struct gm_region_ops *gm_region_ops(const gm_region *r)
{
    return r ? r->ops : NULL;
}

void *gm_region_opaque(const gm_region *r)
{
    return r ? r->opaque : NULL;
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
