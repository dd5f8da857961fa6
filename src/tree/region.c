/* SPDX-License-Identifier: MIT */
/*
 * tree/region.c - regions: creation, references, destruction, getters.
 *
 * A region is created with one reference, owned by its creator; containers
 * hold one per subregion, aliases one on their target, and later stages
 * (spaces, view records) their own. The last unref destroys it under the
 * writer lock: its subregions are detached and unreferenced, its alias
 * target let go, its RAM unmapped.
 *
 * RAM of RAM, ROM and ROM-device regions is a private anonymous mapping
 * made at creation (MAP_NORESERVE: untouched pages cost nothing), or the
 * caller's own memory (borrowed, never unmapped).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tree.h"

int gm__tree_init(gm_system *sys)
{
    struct gm_tree_state *t = calloc(1, sizeof(*t));

    if (!t) {
        return -ENOMEM;
    }
    atomic_init(&t->nr_regions, 0);
    sys->tree = t;
    return 0;
}

void gm__tree_fini(gm_system *sys)
{
    if (sys->tree) {
        gm__vec_free(&sys->tree->stack);
        gm__vec_free(&sys->tree->sinks);
        gm__vec_free(&sys->tree->flagged);
        free(sys->tree);
        sys->tree = NULL;
    }
}

int gm_system_set_memoryless(gm_system *sys, bool on, gm_error *err)
{
    if (!sys) {
        return gm__error_set(err, -EINVAL, "NULL system");
    }
    gm__lock(sys);
    sys->tree->memoryless = on;
    gm__unlock(sys);
    return 0;
}

bool gm__region_is_ram(const gm_region *r)
{
    return r->kind == GM_REGION_RAM || r->kind == GM_REGION_ROM ||
           r->kind == GM_REGION_ROM_DEVICE || r->kind == GM_REGION_RAM_DEVICE;
}

long gm__tree_nr_regions(gm_system *sys)
{
    return atomic_load(&sys->tree->nr_regions);
}

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
    atomic_fetch_add(&sys->tree->nr_regions, 1);
    return r;
}

struct gm_coal *gm__coal_append(const struct gm_coal *old, uint64_t offset,
                                uint64_t size)
{
    size_t n = old ? old->n : 0;
    struct gm_coal *c = malloc(sizeof(*c) + (n + 1) * sizeof(c->z[0]));

    if (!c) {
        return NULL;
    }
    atomic_init(&c->refcnt, 1);
    c->n = n + 1;
    if (n) {
        memcpy(c->z, old->z, n * sizeof(c->z[0]));
    }
    c->z[n].offset = offset;
    c->z[n].size = size;
    return c;
}

struct gm_coal *gm__coal_ref(struct gm_coal *c)
{
    if (c) {
        atomic_fetch_add_explicit(&c->refcnt, 1, memory_order_relaxed);
    }
    return c;
}

void gm__coal_unref(struct gm_coal *c)
{
    if (c && atomic_fetch_sub_explicit(&c->refcnt, 1,
                                       memory_order_acq_rel) == 1) {
        free(c);
    }
}

static void region_free_raw(gm_region *r)
{
    atomic_fetch_sub(&r->sys->tree->nr_regions, 1);
    free(r->name);
    free(r);
}

/*
 * The access sizes (bit n set: size n, n in 1, 2, 4, 8) for which ops take
 * a load or store as it is, one call with no cutting, widening or accepts
 * check, and whether unaligned ones qualify: computed once per region, so
 * the access path tests them inline.
 */
static void ops_simple(const struct gm_region_ops *o, uint8_t *sizes,
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

gm_region *gm_region_new_container(gm_system *sys, const char *name,
                                   gm_u128 size, gm_error *err)
{
    return region_alloc(sys, name, GM_REGION_CONTAINER, size, true, err);
}

/*
 * A RAM-backed region of kind with a block made as opts says (ram/). A
 * memoryless system, or GM_RAM_NONE, gives a region with no block at all:
 * nothing in the ram_addr space, no memory, reads unassigned.
 */
static gm_region *new_ram_kind(gm_system *sys, const char *name,
                               enum gm_region_kind kind, gm_u128 size,
                               const struct gm_ram_opts *opts,
                               gm_error *err)
{
    gm_region *r = region_alloc(sys, name, kind, size, false, err);
    int ret;

    if (!r) {
        return NULL;
    }
    if (sys->tree->memoryless || (opts && opts->backing == GM_RAM_NONE)) {
        return r; /* a map being drawn or compared */
    }
    if (size > ((gm_u128)1 << 63)) {
        gm__error_set(err, -EINVAL, "region '%s': RAM size exceeds 2^63",
                      r->name);
        region_free_raw(r);
        return NULL;
    }
    gm__lock(sys);
    ret = gm__ram_block_new(sys, r, r->name, (uint64_t)size, opts, &r->block,
                            err);
    gm__unlock(sys);
    if (ret) {
        region_free_raw(r);
        return NULL;
    }
    r->ram = r->block->host;
    r->ram_addr = r->block->offset;
    return r;
}

/* The options the classic constructors mean. */
static struct gm_ram_opts classic(void *host, gm_u128 size)
{
    struct gm_ram_opts o = {0};

    o.backing = host ? GM_RAM_PTR : GM_RAM_ANON;
    o.host = host;
    /* Untouched pages cost nothing: maps of many GiB are fine. */
    o.flags = GM_RAM_NORESERVE;
    /* The default 2 MiB (huge pages) where one fits, else a page. */
    o.align = size >= (2u << 20) ? 0 : 4096;
    return o;
}

gm_region *gm_region_new_ram_opts(gm_system *sys, const char *name,
                                  enum gm_region_kind kind, uint64_t size,
                                  const struct gm_ram_opts *opts,
                                  const struct gm_region_ops *ops,
                                  void *opaque, gm_error *err)
{
    gm_region *r;

    if (kind != GM_REGION_RAM && kind != GM_REGION_ROM &&
        kind != GM_REGION_ROM_DEVICE && kind != GM_REGION_RAM_DEVICE) {
        gm__error_set(err, -EINVAL, "region '%s': %s is not RAM-backed",
                      name ? name : "anonymous", gm_region_kind_name(kind));
        return NULL;
    }
    r = new_ram_kind(sys, name, kind, size, opts, err);
    if (r) {
        r->readonly = kind == GM_REGION_ROM;
        if (kind == GM_REGION_ROM_DEVICE) {
            r->ops = ops;
            r->opaque = opaque;
            ops_simple(ops, &r->simple_sizes, &r->simple_unaligned);
        }
    }
    return r;
}

gm_region *gm_region_new_ram(gm_system *sys, const char *name, gm_u128 size,
                             gm_error *err)
{
    struct gm_ram_opts o = classic(NULL, size);

    return new_ram_kind(sys, name, GM_REGION_RAM, size, &o, err);
}

gm_region *gm_region_new_ram_ptr(gm_system *sys, const char *name,
                                 gm_u128 size, void *host, gm_error *err)
{
    if (!host) {
        gm__error_set(err, -EINVAL, "region '%s': NULL host pointer",
                      name ? name : "anonymous");
        return NULL;
    }
    struct gm_ram_opts o = classic(host, size);

    return new_ram_kind(sys, name, GM_REGION_RAM, size, &o, err);
}

gm_region *gm_region_new_rom(gm_system *sys, const char *name, gm_u128 size,
                             gm_error *err)
{
    struct gm_ram_opts o = classic(NULL, size);
    gm_region *r = new_ram_kind(sys, name, GM_REGION_ROM, size, &o, err);

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
        ops_simple(ops, &r->simple_sizes, &r->simple_unaligned);
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
    if (gm__alias_attach(r, target)) {
        gm__unlock(sys);
        region_free_raw(r);
        gm__error_set(err, -ENOMEM, "cannot allocate alias");
        return NULL;
    }
    gm_region_ref(target);
    r->alias_offset = offset;
    gm__unlock(sys);
    return r;
}

gm_region *gm_region_new_rom_device(gm_system *sys, const char *name,
                                    gm_u128 size,
                                    const struct gm_region_ops *ops,
                                    void *opaque, gm_error *err)
{
    struct gm_ram_opts o = classic(NULL, size);
    gm_region *r =
        new_ram_kind(sys, name, GM_REGION_ROM_DEVICE, size, &o, err);

    if (r) {
        r->ops = ops;
        r->opaque = opaque;
        ops_simple(ops, &r->simple_sizes, &r->simple_unaligned);
    }
    return r;
}

gm_region *gm_region_new_ram_device(gm_system *sys, const char *name,
                                    gm_u128 size, void *host, gm_error *err)
{
    struct gm_ram_opts o = classic(host, size);

    if (!host && !(sys && sys->tree->memoryless)) {
        gm__error_set(err, -EINVAL, "region '%s': NULL host pointer",
                      name ? name : "anonymous");
        return NULL;
    }
    return new_ram_kind(sys, name, GM_REGION_RAM_DEVICE, size, &o, err);
}

gm_region *gm_region_ref(gm_region *r)
{
    if (r) {
        atomic_fetch_add_explicit(&r->refcnt, 1, memory_order_relaxed);
    }
    return r;
}

/* Drop one reference; a region that dies joins *dead. */
static void release(gm_region *r, gm_region **dead)
{
    if (atomic_fetch_sub_explicit(&r->refcnt, 1, memory_order_acq_rel) ==
        1) {
        r->dead_next = *dead;
        *dead = r;
    }
}

/*
 * Destroy the regions on the list and those they were the last to hold
 * (children, alias targets), one at a time: a chain of 100,000 nested
 * containers is a loop here, not a recursion. Writer lock held.
 */
static void destroy_all(gm_region *dead)
{
    while (dead) {
        gm_region *r = dead;

        dead = r->dead_next;
        while (r->first_child) {
            gm_region *c = r->first_child;
            gm__tree_unlink(c);
            release(c, &dead);
        }
        if (r->alias) {
            gm_region *t = r->alias;
            gm__alias_detach(r);
            release(t, &dead);
        }
        gm__ram_block_free(r->sys, r->block);
        gm__vec_free(&r->aliased_by);
        for (size_t i = 0; i < r->watches.n; i++) {
            r->watches.v[i]->r = NULL; /* its observer was flagged */
        }
        gm__vec_free(&r->watches);
        r->sys->tree->nr_evfds -= r->evfds.n;
        gm__vec_free(&r->evfds);
        gm__coal_unref(r->coal);
        /* The region is unreachable: no reader can hold its snapshot. */
        free(atomic_load_explicit(&r->evpub, memory_order_relaxed));
        region_free_raw(r);
    }
}

void gm_region_unref(gm_region *r)
{
    gm_system *sys;
    gm_region *dead = NULL;

    if (!r) {
        return;
    }
    sys = r->sys;
    release(r, &dead);
    if (dead) {
        gm__lock(sys);
        destroy_all(dead);
        gm__unlock(sys);
    }
}

void gm_region_set_owner(gm_region *r, void *owner)
{
    if (r) {
        gm__lock(r->sys);
        r->owner = owner;
        gm__unlock(r->sys);
    }
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

bool gm_region_flush_coalesced(gm_region *r)
{
    return r && atomic_load_explicit(&r->flush_coalesced,
                                     memory_order_relaxed);
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
