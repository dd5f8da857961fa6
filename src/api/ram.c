/* SPDX-License-Identifier: MIT */
/*
 * api/ram.c - RAM blocks as users see them (guestmem/ram.h): what a block
 * is, finding one, and giving memory back. Resizing is a topology change
 * and lives with the other region changes (api/region.c).
 */
#include <string.h>

#include "api.h"

uint64_t gm_region_ram_addr(gm_region *r)
{
    /* A block's offset never changes: no lock needed. */
    return r && r->block ? r->ram_addr : GM_RAM_ADDR_INVALID;
}

static void fill_info(const struct gm_ram_block *b,
                      struct gm_ram_block_info *out)
{
    out->region = b->region;
    out->name = b->region->name;
    out->offset = b->offset;
    out->used_length = b->used_length;
    out->max_length = b->max_length;
    out->page_size = b->page_size;
    out->backing = b->backing;
    out->flags = b->flags;
    out->host = b->host;
    out->fd = b->fd;
}

int gm_region_ram_info(gm_region *r, struct gm_ram_block_info *out)
{
    if (!r || !out || !r->block) {
        return -EINVAL;
    }
    gm__lock(r->sys);
    fill_info(r->block, out);
    gm__unlock(r->sys);
    return 0;
}

struct foreach_ctx {
    int (*fn)(const struct gm_ram_block_info *b, void *opaque);
    void *opaque;
};

static int foreach_cb(struct gm_ram_block *b, void *opaque)
{
    struct foreach_ctx *c = opaque;
    struct gm_ram_block_info info;

    fill_info(b, &info);
    return c->fn(&info, c->opaque);
}

int gm_system_foreach_ram_block(
    gm_system *sys, int (*fn)(const struct gm_ram_block_info *b, void *opaque),
    void *opaque)
{
    struct foreach_ctx c = {fn, opaque};
    int ret;

    if (!sys || !fn) {
        return -EINVAL;
    }
    gm__lock(sys);
    ret = gm__ram_foreach(sys, foreach_cb, &c);
    gm__unlock(sys);
    return ret;
}

/* The region of b with a reference, and the offset of x in it. */
static gm_region *found(struct gm_ram_block *b, uint64_t off, uint64_t *offset)
{
    if (!b || off >= b->max_length) {
        return NULL;
    }
    if (offset) {
        *offset = off;
    }
    return gm_region_ref(b->region);
}

gm_region *gm_system_ram_lookup(gm_system *sys, uint64_t ram_addr,
                                uint64_t *offset)
{
    struct gm_ram_block *b;
    gm_region *r;

    if (!sys) {
        return NULL;
    }
    gm__lock(sys);
    b = gm__ram_find(sys, ram_addr);
    r = b ? found(b, ram_addr - b->offset, offset) : NULL;
    gm__unlock(sys);
    return r;
}

gm_region *gm_system_ram_from_host(gm_system *sys, const void *host,
                                   uint64_t *offset)
{
    struct gm_ram_block *b;
    gm_region *r;

    if (!sys || !host) {
        return NULL;
    }
    gm__lock(sys);
    b = gm__ram_find_host(sys, host);
    r = b ? found(b, (uint64_t)((const uint8_t *)host -
                                (const uint8_t *)b->host),
                  offset)
          : NULL;
    gm__unlock(sys);
    return r;
}

int gm_region_ram_discard(gm_region *r, uint64_t offset, uint64_t len,
                          gm_error *err)
{
    struct gm_ram_block *b;
    int ret = 0;

    if (!r) {
        return gm__error_set(err, -EINVAL, "NULL region");
    }
    gm__lock(r->sys);
    b = r->block;
    if (!b || !len || (offset | len) & (GM_DIRTY_PAGE_SIZE - 1) ||
        offset > b->used_length || len > b->used_length - offset) {
        ret = gm__error_set(err, -EINVAL, "'%s': cannot discard 0x%llx+"
                            "0x%llx (page-aligned, within its RAM)",
                            r->name, (unsigned long long)offset,
                            (unsigned long long)len);
    } else {
        ret = gm__ram_discard(b, offset, len);
        if (ret) {
            gm__error_set(err, ret, "'%s': discard 0x%llx+0x%llx: %s",
                          r->name, (unsigned long long)offset,
                          (unsigned long long)len, strerror(-ret));
        } else {
            /* Zeros now: changed, for every client. */
            gm__dirty_set(r->sys, (b->offset + offset) >> GM_DIRTY_PAGE_BITS,
                          len >> GM_DIRTY_PAGE_BITS,
                          (1u << GM_DIRTY_CLIENTS) - 1);
        }
    }
    gm__unlock(r->sys);
    return ret;
}
