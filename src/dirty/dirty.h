/* SPDX-License-Identifier: MIT */
/*
 * dirty/dirty.h - dirty bitmaps: one bit per page of the ram_addr space,
 * per client (VGA, CODE, MIGRATION, SNAPSHOT, and room for more).
 *
 * Each client's bitmap is cut into chunks of GM_DIRTY_CHUNK_PAGES bits
 * that never move once made; a table of chunk pointers is published under
 * RCU and replaced (pointers copied, never bits) when the ram_addr space
 * grows, so growth neither copies bits nor stops writers. Chunks live as
 * long as the system.
 */
#ifndef GM_DIRTY_H
#define GM_DIRTY_H

#include "../reclaim/reclaim.h"

#define GM_DIRTY_PAGE_BITS 12
#define GM_DIRTY_PAGE_SIZE (1ull << GM_DIRTY_PAGE_BITS)
#define GM_DIRTY_CLIENTS 8
/*
 * Not a client: the bitmap of this slot marks the pages that belong to a
 * RAM block (set when it is made, cleared when it goes), so that a range
 * can be checked against the blocks without the writer lock.
 */
#define GM_DIRTY_BLOCKS (GM_DIRTY_CLIENTS - 1)
_Static_assert(GM_DIRTY_NR <= GM_DIRTY_BLOCKS, "a client in the blocks slot");
#define GM_DIRTY_CHUNK_SHIFT 18 /* pages per chunk: 1 GiB of RAM, 32 KiB */
#define GM_DIRTY_CHUNK_PAGES (1ull << GM_DIRTY_CHUNK_SHIFT)
#define GM_DIRTY_CHUNK_WORDS (GM_DIRTY_CHUNK_PAGES / 64)

/* An immutable table of one client's chunks. */
struct gm_dirty_table {
    struct gm_deferred def;
    size_t nchunks;
    uint64_t *chunk[];
};

struct gm_dirty_state {
    struct gm_dirty_table *_Atomic table[GM_DIRTY_CLIENTS];
    size_t nchunks;   /* chunks every table has (writer lock) */
    /*
     * Writers may test a bit before setting it (and skip the atomic when
     * it is set) only if clearing waits for them with a process-wide
     * memory barrier (membarrier(2)); else they always set atomically.
     */
    bool test_first;
};

int gm__dirty_init(gm_system *sys);
void gm__dirty_fini(gm_system *sys);

/*
 * Cover pages [0, npages) in every client's bitmap (writer lock; -ENOMEM
 * changes nothing visible). Never shrinks.
 */
int gm__dirty_reserve(gm_system *sys, uint64_t npages);
/* Pages covered now (readers: inside an RCU read-side section). */
uint64_t gm__dirty_pages(gm_system *sys);

/*
 * Bits of pages [page, page + n). Set and test may run on any thread
 * inside an RCU read-side section (or with the writer lock); the range
 * must be covered (a RAM block's pages always are).
 */
void gm__dirty_set(gm_system *sys, uint64_t page, uint64_t n, unsigned mask);
/* Mark the bytes [ram_addr, ram_addr + len) written, for clients in mask. */
void gm__dirty_mark(gm_system *sys, uint64_t ram_addr, uint64_t len,
                    unsigned mask);
bool gm__dirty_test(gm_system *sys, uint64_t page, uint64_t n,
                    unsigned client);
uint64_t gm__dirty_count(gm_system *sys, uint64_t page, uint64_t n,
                         unsigned client);
/* Clear, atomically word by word, so no concurrent set is lost. */
void gm__dirty_clear(gm_system *sys, uint64_t page, uint64_t n,
                     unsigned client);
/*
 * Move the bits of [page, page + n) into words (n bits from bit 0, the
 * caller's array of ceil(n / 64) words), clearing them; a set racing with
 * it lands in one or the other, never in neither. Returns the count.
 */
uint64_t gm__dirty_take(gm_system *sys, uint64_t page, uint64_t n,
                        unsigned client, uint64_t *words);
/* OR a bitmap of n pages (bit 0: page) into clients of mask. */
void gm__dirty_merge(gm_system *sys, uint64_t page, uint64_t n,
                     const uint64_t *bits, unsigned mask);
/*
 * The word array of the chunk holding page, for client: stable for the
 * system's life, so an access cache may keep it (and set bits without an
 * RCU read-side section). NULL when not covered.
 */
uint64_t *gm__dirty_chunk(gm_system *sys, unsigned client, uint64_t page);

#endif
