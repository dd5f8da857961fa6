/* SPDX-License-Identifier: MIT */
/*
 * ram/ram.h - RAM blocks: host memory of one backing, and a place in the
 * system's ram_addr space (guestmem/ram.h says what users see).
 *
 * Everything here runs under the writer lock. The access path never looks
 * a block up: a region keeps its block's host pointer and offset.
 */
#ifndef GM_RAM_H
#define GM_RAM_H

#include <guestmem/ram.h>

#include "../dirty/dirty.h"

/* Block offsets and lengths in the ram_addr space are multiples of this. */
#define GM_RAM_ALIGN (64ull << GM_DIRTY_PAGE_BITS) /* a bitmap word */
/* The ram_addr space ends here (2^62: bitmaps stay addressable). */
#define GM_RAM_SPACE (1ull << 62)

struct gm_ram_block {
    gm_region *region;        /* weak: the region owns its block */
    uint64_t offset;          /* in the ram_addr space */
    uint64_t reserved;        /* ram_addr bytes: max_length, aligned */
    uint64_t used_length;     /* bytes */
    uint64_t max_length;      /* bytes */
    size_t page_size;
    enum gm_ram_backing backing;
    unsigned flags;
    void *host;               /* NULL for GM_RAM_NONE */
    void *map;                /* what was mmap'ed (NULL: nothing) */
    size_t map_len;
    int fd;                   /* -1 when none */
    bool created;             /* FILE: the block made the file (creation) */
    struct gm_ram_gap *spare; /* for when the block's space is freed */
    void (*resized)(void *opaque, gm_region *r, uint64_t used_length);
    void *resized_opaque;
    bool resized_due;         /* resized in a transaction: call at commit */
    struct gm_itree_node by_addr; /* [offset, offset + reserved) */
    struct gm_itree_node by_host; /* [host, host + max_length) */
};

/* A free stretch of the ram_addr space, indexed by size and by start. */
struct gm_ram_gap_link {
    struct gm_ram_gap_link *l, *r;
    uint32_t prio;
};

struct gm_ram_gap {
    uint64_t start, size;
    struct gm_ram_gap_link by_size, by_start;
};

struct gm_ram_state {
    struct gm_itree_node *by_addr, *by_host;
    struct gm_ram_gap_link *gaps_by_size, *gaps_by_start;
    size_t nr_blocks;
    size_t nr_resized_due; /* blocks with resized_due set */
};

int gm__ram_init(gm_system *sys);
void gm__ram_fini(gm_system *sys);

/*
 * Make the block of region r (named name) of size bytes as opts says
 * (NULL: defaults): memory, ram_addr offset, dirty bitmap coverage, all
 * pages dirty for every client. On failure nothing is left and err names
 * the block and the cause.
 */
int gm__ram_block_new(gm_system *sys, gm_region *r, const char *name,
                      uint64_t size, const struct gm_ram_opts *opts,
                      struct gm_ram_block **out, gm_error *err);
void gm__ram_block_free(gm_system *sys, struct gm_ram_block *b);
/* The block holding ram_addr / the host address, or NULL. */
struct gm_ram_block *gm__ram_find(gm_system *sys, uint64_t ram_addr);
struct gm_ram_block *gm__ram_find_host(gm_system *sys, const void *host);
/* Visit every block in ram_addr order; a non-zero return stops. */
int gm__ram_foreach(gm_system *sys,
                    int (*fn)(struct gm_ram_block *b, void *opaque),
                    void *opaque);
/*
 * Tell b's owner of a resize (the resized callback) once the listeners
 * have heard of it: now, or inside a transaction at the update that ends
 * it (gm__ram_resized_flush()).
 */
void gm__ram_resized(gm_system *sys, struct gm_ram_block *b);
void gm__ram_resized_flush(gm_system *sys);
/* Give [off, off + len) of b's memory back to the host (page-aligned). */
int gm__ram_discard(struct gm_ram_block *b, uint64_t off, uint64_t len);

/*
 * The ram_addr allocator (alloc.c). Alloc takes size bytes (a multiple of
 * GM_RAM_ALIGN) from the smallest gap that holds them (-ENOMEM when none)
 * and hands back a spare gap for the day they are freed, so that freeing,
 * which merges with the neighbouring gaps, cannot fail.
 */
int gm__ram_space_init(gm_system *sys);
void gm__ram_space_fini(gm_system *sys);
int gm__ram_space_alloc(gm_system *sys, uint64_t size, uint64_t *offset,
                        struct gm_ram_gap **spare);
void gm__ram_space_free(gm_system *sys, uint64_t offset, uint64_t size,
                        struct gm_ram_gap *spare);

#endif
