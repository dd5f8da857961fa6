/* SPDX-License-Identifier: MIT */
/*
 * guestmem/types.h - opaque handles and basic types shared by every header.
 */
#ifndef GUESTMEM_TYPES_H
#define GUESTMEM_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(GM_BUILDING_LIBRARY)
#define GM_EXPORT __attribute__((visibility("default")))
#else
#define GM_EXPORT
#endif

/* A function only rare paths call: the compiler keeps it out of hot code. */
#if defined(__GNUC__)
#define GM_COLD __attribute__((cold))
#else
#define GM_COLD
#endif

/*
 * A 128-bit unsigned integer. Region sizes go up to 2^64 inclusive, so every
 * size and every "end" (start + size) is carried in 128 bits.
 */
__extension__ typedef unsigned __int128 gm_u128;

/* The size of the whole 64-bit address space, 2^64. */
#define GM_SIZE_2_64 (((gm_u128)1) << 64)

/* Opaque handles. */
typedef struct gm_system gm_system;     /* one machine: lock, spaces, ... */
typedef struct gm_region gm_region;     /* a memory region (refcounted) */
typedef struct gm_space gm_space;       /* an address space */
typedef struct gm_flatview gm_flatview; /* an immutable rendered view */
typedef struct gm_listener gm_listener; /* a registered listener */

/* Dirty-logging clients; a dirty-log mask has bit (1 << client) set. */
enum gm_dirty_client {
    GM_DIRTY_VGA = 0,
    GM_DIRTY_CODE = 1,
    GM_DIRTY_MIGRATION = 2,
    GM_DIRTY_SNAPSHOT = 3, /* a live gm_ram_snapshot (dirty.h) */
    GM_DIRTY_NR = 4,
};

/**
 * struct gm_section - one rendered range of a flat view.
 * @space: address space the event is about (NULL when iterating a flat view
 *         that is not tied to a space).
 * @region: terminating region that owns the range (never a container or an
 *          alias). Valid while the flat view or the callback lasts. NULL
 *          in eventfd_add / eventfd_del callbacks.
 * @addr: first guest address of the range.
 * @size: size in bytes, 1 .. 2^64 (in eventfd callbacks the ioeventfd's
 *        size, 0 for any size).
 * @offset_in_region: offset of @addr inside @region.
 * @readonly: writes are refused (readonly accumulated along the path).
 * @romd: the region's romd mode (meaningful for ROM devices).
 * @nonvolatile: non-volatile flag accumulated along the path.
 * @dirty_log_mask: bit (1 << client) for each enabled enum gm_dirty_client.
 */
struct gm_section {
    gm_space *space;
    gm_region *region;
    uint64_t addr;
    gm_u128 size;
    uint64_t offset_in_region;
    bool readonly;
    bool romd;
    bool nonvolatile;
    uint8_t dirty_log_mask;
};

#ifdef __cplusplus
}
#endif
#endif
