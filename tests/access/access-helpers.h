/* SPDX-License-Identifier: MIT */
/*
 * access-helpers.h - what the access-path tests share: a machine (system,
 * 4 GiB root container, one address space), placing regions in it, RAM
 * filled with a byte, what unassigned addresses of a space read as, and a
 * dirty hook that records its last call.
 * Include after harness.h; everything is static.
 */
#ifndef GM_TESTS_ACCESS_HELPERS_H
#define GM_TESTS_ACCESS_HELPERS_H

#include <stdbool.h>
#include <stdint.h>
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

/*
 * What unassigned addresses of @as read as: a byte, a @size-byte value, and
 * whether @len bytes of @buf all are that byte. Tests about something else
 * follow the space's choice instead of naming 0 or all-ones.
 */
static HELPER_UNUSED uint8_t unassigned_byte(const gm_space *as)
{
    return gm_space_unassigned(as) == GM_UNASSIGNED_ONES ? 0xff : 0x00;
}

static HELPER_UNUSED uint64_t unassigned_val(const gm_space *as,
                                             unsigned size)
{
    if (gm_space_unassigned(as) != GM_UNASSIGNED_ONES) {
        return 0;
    }
    return size >= 8 ? UINT64_MAX : (UINT64_C(1) << (size * 8)) - 1;
}

static HELPER_UNUSED bool all_unassigned(const gm_space *as,
                                         const uint8_t *buf, size_t len)
{
    uint8_t b = unassigned_byte(as);

    for (size_t i = 0; i < len; i++) {
        if (buf[i] != b) {
            return false;
        }
    }
    return true;
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
