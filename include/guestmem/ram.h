/* SPDX-License-Identifier: MIT */
/*
 * guestmem/ram.h - RAM blocks: the memory behind RAM-backed regions.
 *
 * Every RAM, ROM, ROM-device and RAM-device region has a RAM block (QEMU's
 * RAMBlock): host memory of one backing, and a place in the system's
 * ram_addr space, the address space of all guest RAM in which the dirty
 * bitmaps (dirty.h) and migration count pages. A block's offset is chosen
 * as QEMU's find_ram_offset() does, in the smallest gap that fits (so
 * freed space is reused), aligned to 64 pages (256 KiB) so that bitmaps of
 * different blocks never share a word; it stays the same for the block's
 * life. A resizeable block reserves max_length bytes of ram_addr space and
 * of host address space, and its used_length (the region's size) may grow
 * and shrink within them without the memory moving.
 *
 * Blocks are listed in ram_addr order. Lookups (from a ram_addr, from a
 * host pointer) cost O(log n) and take the writer lock.
 */
#ifndef GUESTMEM_RAM_H
#define GUESTMEM_RAM_H

#include "error.h"
#include "region.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

/** enum gm_ram_backing - where a block's memory comes from. */
enum gm_ram_backing {
    GM_RAM_ANON = 0, /* private anonymous memory (the default) */
    GM_RAM_MEMFD,    /* shared memory of a memfd another process can map */
    GM_RAM_FILE,     /* a file, regular or on hugetlbfs (@path) */
    GM_RAM_PTR,      /* the caller's memory (@host), never unmapped */
    GM_RAM_NONE,     /* no memory (memoryless systems): reads unassigned */
};

/** enum gm_ram_flags - options of a RAM block. */
enum gm_ram_flags {
    GM_RAM_SHARED = 1 << 0,     /* FILE: MAP_SHARED (writes reach the file) */
    GM_RAM_MERGE = 1 << 1,      /* madvise MADV_MERGEABLE (KSM) */
    GM_RAM_HUGEPAGE = 1 << 2,   /* ANON: MADV_HUGEPAGE; MEMFD: hugetlb */
    GM_RAM_NODUMP = 1 << 3,     /* madvise MADV_DONTDUMP */
    GM_RAM_NOFORK = 1 << 4,     /* madvise MADV_DONTFORK */
    GM_RAM_PREALLOC = 1 << 5,   /* touch every page at creation */
    GM_RAM_NORESERVE = 1 << 6,  /* MAP_NORESERVE: no swap reserved */
    GM_RAM_RESIZEABLE = 1 << 7, /* used_length may change up to max */
};

/**
 * struct gm_ram_opts - how to make a block. Zero-initialise, then set what
 * differs from the defaults; fields are only ever added at the end.
 * @backing: enum gm_ram_backing.
 * @flags: enum gm_ram_flags.
 * @max_length: GM_RAM_RESIZEABLE: the most the block may grow to, in
 *              bytes (0: its size).
 * @align: ANON: alignment of the mapping (0: 2 MiB, for transparent huge
 *         pages); a power of two, at least the host page size.
 * @path: FILE: the file, created if missing and extended to the block's
 *        length; on hugetlbfs the page size is the file system's.
 * @host: PTR: @size bytes owned by the caller, valid for the block's life.
 * @prealloc_threads: GM_RAM_PREALLOC: threads touching pages (0: 1).
 * @resized: GM_RAM_RESIZEABLE: called after a resize (writer lock held,
 *           listeners already told), or NULL.
 * @resized_opaque: passed to @resized.
 */
struct gm_ram_opts {
    enum gm_ram_backing backing;
    unsigned flags;
    uint64_t max_length;
    size_t align;
    const char *path;
    void *host;
    unsigned prealloc_threads;
    void (*resized)(void *opaque, gm_region *r, uint64_t used_length);
    void *resized_opaque;
};

/**
 * gm_region_new_ram_opts() - a RAM-backed region of @kind with a block made
 * as @opts says.
 * @kind: GM_REGION_RAM, GM_REGION_ROM, GM_REGION_ROM_DEVICE (with @ops and
 *        @opaque) or GM_REGION_RAM_DEVICE.
 * @size: bytes, the block's used_length; 1 .. 2^63 (a multiple of the
 *        page size for a FILE on hugetlbfs).
 * @opts: NULL for the defaults (anonymous, 2 MiB aligned).
 *
 * Return: the region, or NULL with the cause in @err naming the block:
 * -EINVAL (bad option), -ENOMEM, or the errno of the mmap(), memfd_create(),
 * open() or ftruncate() that failed. A failure leaves nothing behind.
 * Context: any thread, not from a listener callback.
 */
GM_EXPORT gm_region *gm_region_new_ram_opts(gm_system *sys, const char *name,
                                            enum gm_region_kind kind,
                                            uint64_t size,
                                            const struct gm_ram_opts *opts,
                                            const struct gm_region_ops *ops,
                                            void *opaque, gm_error *err);

/** An offset in the ram_addr space that no block has. */
#define GM_RAM_ADDR_INVALID UINT64_MAX

/** gm_region_ram_addr() - the block's offset in the ram_addr space. */
GM_EXPORT uint64_t gm_region_ram_addr(gm_region *r);

/**
 * struct gm_ram_block_info - what a block is (gm_region_ram_info(),
 * gm_system_foreach_ram_block()); valid while the region lives.
 */
struct gm_ram_block_info {
    gm_region *region;
    const char *name;
    uint64_t offset;       /* in the ram_addr space */
    uint64_t used_length;  /* bytes: the region's size */
    uint64_t max_length;   /* bytes reserved */
    size_t page_size;      /* of the backing (huge pages included) */
    enum gm_ram_backing backing;
    unsigned flags;        /* enum gm_ram_flags */
    void *host;            /* NULL for GM_RAM_NONE */
    int fd;                /* MEMFD / FILE: mappable by another process */
};

/** gm_region_ram_info() - Return: 0, or -EINVAL when @r has no block. */
GM_EXPORT int gm_region_ram_info(gm_region *r, struct gm_ram_block_info *out);

/**
 * gm_system_foreach_ram_block() - visit the blocks in ram_addr order.
 * Return: the first non-zero value @fn returned, or 0; -EINVAL.
 * Context: takes the writer lock; @fn must not create or destroy regions.
 */
GM_EXPORT int gm_system_foreach_ram_block(
    gm_system *sys, int (*fn)(const struct gm_ram_block_info *b, void *opaque),
    void *opaque);

/**
 * gm_system_ram_lookup() - the region whose block holds @ram_addr.
 * @offset: receives the offset of @ram_addr in the region (may be NULL).
 * Return: the region with a new reference (gm_region_unref() it), or NULL.
 */
GM_EXPORT gm_region *gm_system_ram_lookup(gm_system *sys, uint64_t ram_addr,
                                          uint64_t *offset);

/**
 * gm_system_ram_from_host() - the region whose memory holds @host (QEMU's
 * qemu_ram_block_from_host()). Return: as gm_system_ram_lookup().
 */
GM_EXPORT gm_region *gm_system_ram_from_host(gm_system *sys,
                                             const void *host,
                                             uint64_t *offset);

/**
 * gm_region_ram_resize() - change the used length of a resizeable block:
 * the region's size follows (listeners are told in the same commit), new
 * pages read as zeros and start dirty, and the memory does not move.
 * Return: 0; -EINVAL (not resizeable, 0, or beyond max_length); -EBUSY
 * (from a listener); -ENOMEM (nothing changed).
 */
GM_EXPORT int gm_region_ram_resize(gm_region *r, uint64_t used_length,
                                   gm_error *err);

/**
 * gm_region_ram_discard() - give the memory of [@offset, @offset + @len)
 * back to the host (MADV_DONTNEED for private memory, a punched hole for
 * shared and file memory): it reads back as zeros, and its pages are
 * marked dirty for every client. Page-aligned arguments.
 * Return: 0; -EINVAL; the errno of madvise() / fallocate().
 */
GM_EXPORT int gm_region_ram_discard(gm_region *r, uint64_t offset,
                                    uint64_t len, gm_error *err);

#ifdef __cplusplus
}
#endif
#endif
