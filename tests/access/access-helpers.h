/* SPDX-License-Identifier: MIT */
/*
 * access-helpers.h - what the access-path tests share: a machine (system,
 * 4 GiB root container, one address space), placing regions in it, RAM
 * filled with a byte, and a dirty hook that records its last call.
 * Include after harness.h; everything is static.
 */
#ifndef GM_TESTS_ACCESS_HELPERS_H
#define GM_TESTS_ACCESS_HELPERS_H

#include <string.h>

#include <guestmem/guestmem.h>

#include "harness.h"

#define HELPER_UNUSED __attribute__((unused))

struct env {
    gm_system *sys;
    gm_region *root;
    gm_space *as;
};

static HELPER_UNUSED void env_init(struct env *e)
{
    gm_error err = {0};

    e->sys = gm_system_new(&err);
    CHECK(e->sys != NULL);
    gm_system_set_warn_handler(e->sys, NULL, NULL);
    e->root = gm_region_new_container(e->sys, "root", (gm_u128)1 << 32, &err);
    CHECK(e->root != NULL);
    e->as = gm_space_new(e->sys, e->root, "memory", &err);
    CHECK(e->as != NULL);
}

static HELPER_UNUSED void env_fini(struct env *e)
{
    gm_error err = {0};

    gm_region_unref(e->root);
    CHECK_EQ_INT(gm_system_destroy(e->sys, &err), 0);
}

/* Place @r (a new reference, consumed) in the root at @addr with @prio. */
static HELPER_UNUSED void place(struct env *e, uint64_t addr, gm_region *r,
                                int prio)
{
    CHECK(r != NULL);
    CHECK_EQ_INT(gm_region_add_subregion_overlap(e->root, addr, r, prio, NULL),
                 0);
    gm_region_unref(r);
}

/* RAM of @size bytes, every byte @fill. */
static HELPER_UNUSED gm_region *new_ram(struct env *e, const char *name,
                                        uint64_t size, uint8_t fill)
{
    gm_region *r = gm_region_new_ram(e->sys, name, size, NULL);

    CHECK(r != NULL);
    if (r) {
        memset(gm_region_ram_ptr(r), fill, size);
    }
    return r;
}

/* The dirty hook's calls: how many, and the last one's arguments. */
struct dirty_rec {
    unsigned n;
    gm_region *region;
    uint64_t off, len;
    uint8_t mask;
};

static HELPER_UNUSED void dirty_hook(void *opaque, gm_region *region,
                                     uint64_t offset, uint64_t len,
                                     uint8_t mask)
{
    struct dirty_rec *r = opaque;

    r->n++;
    r->region = region;
    r->off = offset;
    r->len = len;
    r->mask = mask;
}

#endif
