/* SPDX-License-Identifier: MIT */
/*
 * api/dirty.c - the dirty bitmaps as users see them (guestmem/dirty.h).
 *
 * Ranges are in the ram_addr space and turned into pages here; the bits
 * themselves are dirty/'s. Reading and setting need only a read-side
 * section; clearing and snapshots take the writer lock, because they tell
 * the listeners (log_clear) which parts of which views they cleared.
 */
#include <string.h>

#include "api.h"

struct gm_dirty_snapshot {
    uint64_t page;   /* first page */
    uint64_t npages;
    uint64_t count;
    uint64_t words[];
};

/* The pages of [ram_addr, +len), if the bitmaps cover them. */
static bool pages_of(gm_system *sys, uint64_t ram_addr, uint64_t len,
                     uint64_t *page, uint64_t *n)
{
    uint64_t first, last;

    if (!sys || !len || ram_addr + len - 1 < ram_addr) {
        return false;
    }
    first = ram_addr >> GM_DIRTY_PAGE_BITS;
    last = (ram_addr + len - 1) >> GM_DIRTY_PAGE_BITS;
    if (last >= gm__dirty_pages(sys)) {
        return false;
    }
    *page = first;
    *n = last - first + 1;
    return true;
}

/* Whether every page of [page, page + n) belongs to a block (RCU or lock). */
static bool in_blocks(gm_system *sys, uint64_t page, uint64_t n)
{
    return gm__dirty_count(sys, page, n, GM_DIRTY_BLOCKS) == n;
}

static bool good_client(unsigned client)
{
    return client < GM_DIRTY_NR;
}

bool gm_dirty_test(gm_system *sys, uint64_t ram_addr, uint64_t len,
                   enum gm_dirty_client client)
{
    uint64_t page, n;
    bool r = false;

    if (!good_client(client)) {
        return false;
    }
    gm__rcu_read_lock();
    if (pages_of(sys, ram_addr, len, &page, &n)) {
        r = gm__dirty_test(sys, page, n, client);
    }
    gm__rcu_read_unlock();
    return r;
}

uint64_t gm_dirty_count(gm_system *sys, uint64_t ram_addr, uint64_t len,
                        enum gm_dirty_client client)
{
    uint64_t page, n, r = 0;

    if (!good_client(client)) {
        return 0;
    }
    gm__rcu_read_lock();
    if (pages_of(sys, ram_addr, len, &page, &n)) {
        r = gm__dirty_count(sys, page, n, client);
    }
    gm__rcu_read_unlock();
    return r;
}

int gm_dirty_set(gm_system *sys, uint64_t ram_addr, uint64_t len,
                 unsigned mask, gm_error *err)
{
    uint64_t page, n;
    int ret = 0;

    if (mask >= 1u << GM_DIRTY_NR) {
        return gm__error_set(err, -EINVAL, "bad dirty client mask 0x%x",
                             mask);
    }
    gm__rcu_read_lock();
    if (pages_of(sys, ram_addr, len, &page, &n) && in_blocks(sys, page, n)) {
        gm__dirty_set(sys, page, n, mask);
    } else {
        ret = gm__error_set(err, -EINVAL, "ram_addr range 0x%llx+0x%llx is "
                            "not RAM", (unsigned long long)ram_addr,
                            (unsigned long long)len);
    }
    gm__rcu_read_unlock();
    return ret;
}

int gm_dirty_merge(gm_system *sys, uint64_t ram_addr, uint64_t npages,
                   const uint64_t *bitmap, unsigned mask, gm_error *err)
{
    uint64_t page, n;
    int ret = 0;

    if (mask >= 1u << GM_DIRTY_NR || !bitmap || !npages ||
        (ram_addr & (GM_DIRTY_PAGE_SIZE - 1)) ||
        npages > UINT64_MAX >> GM_DIRTY_PAGE_BITS) {
        return gm__error_set(err, -EINVAL, "gm_dirty_merge: bad argument");
    }
    gm__rcu_read_lock();
    if (pages_of(sys, ram_addr, npages << GM_DIRTY_PAGE_BITS, &page, &n) &&
        in_blocks(sys, page, n)) {
        gm__dirty_merge(sys, page, n, bitmap, mask);
    } else {
        ret = gm__error_set(err, -EINVAL, "ram_addr range 0x%llx of %llu "
                            "pages is not RAM", (unsigned long long)ram_addr,
                            (unsigned long long)npages);
    }
    gm__rcu_read_unlock();
    return ret;
}

struct clear_ctx {
    gm_system *sys;
    uint64_t lo, hi; /* [lo, hi) in the ram_addr space */
};

static int clear_block(struct gm_ram_block *b, void *opaque)
{
    struct clear_ctx *c = opaque;
    uint64_t lo = c->lo > b->offset ? c->lo : b->offset;
    uint64_t end = b->offset + b->used_length;
    uint64_t hi = c->hi < end ? c->hi : end;

    if (lo >= hi) {
        return 0;
    }
    for (gm_space *as = c->sys->update->spaces; as; as = as->upd->next) {
        gm__listeners_log_clear(c->sys, as, b->region, lo - b->offset,
                                hi - lo);
    }
    return 0;
}

/* Tell the listeners which ranges of which views were cleared. */
static void tell_cleared(gm_system *sys, uint64_t page, uint64_t n)
{
    struct clear_ctx c = {sys, page << GM_DIRTY_PAGE_BITS,
                          (page + n) << GM_DIRTY_PAGE_BITS};

    if (!sys->listen->head) {
        return;
    }
    sys->base.in_update = true;
    gm__ram_foreach(sys, clear_block, &c);
    sys->base.in_update = false;
}

/* The writer lock, unless in a listener callback. */
static int lock_for_clear(gm_system *sys, gm_error *err)
{
    gm__lock(sys);
    if (sys->base.in_update) {
        gm__unlock(sys);
        return gm__error_set(err, -EBUSY, "cannot clear dirty bits from a "
                             "listener callback");
    }
    return 0;
}

int gm_dirty_clear(gm_system *sys, uint64_t ram_addr, uint64_t len,
                   enum gm_dirty_client client, gm_error *err)
{
    uint64_t page, n;
    int ret;

    if (!sys || !good_client(client)) {
        return gm__error_set(err, -EINVAL, "gm_dirty_clear: bad client or "
                             "range");
    }
    ret = lock_for_clear(sys, err);
    if (ret) {
        return ret;
    }
    if (!pages_of(sys, ram_addr, len, &page, &n)) {
        gm__unlock(sys);
        return gm__error_set(err, -EINVAL, "gm_dirty_clear: ram_addr range "
                             "0x%llx+0x%llx is past the dirty bitmaps",
                             (unsigned long long)ram_addr,
                             (unsigned long long)len);
    }
    gm__dirty_clear(sys, page, n, client);
    tell_cleared(sys, page, n);
    gm__unlock(sys);
    return 0;
}

gm_dirty_snapshot *gm_dirty_snapshot_and_clear(gm_system *sys,
                                               uint64_t ram_addr,
                                               uint64_t len,
                                               enum gm_dirty_client client,
                                               gm_error *err)
{
    gm_dirty_snapshot *s;
    uint64_t page, n;

    if (!sys || !good_client(client)) {
        gm__error_set(err, -EINVAL, "gm_dirty_snapshot_and_clear: bad "
                      "client or range");
        return NULL;
    }
    if (lock_for_clear(sys, err)) {
        return NULL;
    }
    if (!pages_of(sys, ram_addr, len, &page, &n)) {
        gm__unlock(sys);
        gm__error_set(err, -EINVAL, "gm_dirty_snapshot_and_clear: ram_addr "
                      "range 0x%llx+0x%llx is past the dirty bitmaps",
                      (unsigned long long)ram_addr, (unsigned long long)len);
        return NULL;
    }
    s = malloc(sizeof(*s) + ((n + 63) / 64) * sizeof(uint64_t));
    if (!s) {
        gm__unlock(sys);
        gm__error_set(err, -ENOMEM, "no memory for a dirty snapshot of %llu "
                      "pages", (unsigned long long)n);
        return NULL;
    }
    s->page = page;
    s->npages = n;
    s->count = gm__dirty_take(sys, page, n, client, s->words);
    tell_cleared(sys, page, n);
    gm__unlock(sys);
    return s;
}

bool gm_dirty_snapshot_test(const gm_dirty_snapshot *s, uint64_t ram_addr,
                            uint64_t len)
{
    uint64_t first, last;

    if (!s || !len || ram_addr + len - 1 < ram_addr) {
        return false;
    }
    first = ram_addr >> GM_DIRTY_PAGE_BITS;
    last = (ram_addr + len - 1) >> GM_DIRTY_PAGE_BITS;
    if (last < s->page || first >= s->page + s->npages) {
        return false;
    }
    if (first < s->page) {
        first = s->page;
    }
    if (last >= s->page + s->npages) {
        last = s->page + s->npages - 1;
    }
    for (uint64_t p = first - s->page; p <= last - s->page; p++) {
        if (s->words[p >> 6] >> (p & 63) & 1) {
            return true;
        }
    }
    return false;
}

uint64_t gm_dirty_snapshot_count(const gm_dirty_snapshot *s)
{
    return s ? s->count : 0;
}

uint64_t gm_dirty_snapshot_next(const gm_dirty_snapshot *s, uint64_t ram_addr)
{
    uint64_t p;

    if (!s) {
        return GM_RAM_ADDR_INVALID;
    }
    p = ram_addr >> GM_DIRTY_PAGE_BITS;
    p = p < s->page ? 0 : p - s->page;
    while (p < s->npages) {
        uint64_t w = s->words[p >> 6] >> (p & 63);

        if (w) {
            p += (uint64_t)__builtin_ctzll(w);
            return p < s->npages ? (s->page + p) << GM_DIRTY_PAGE_BITS
                                 : GM_RAM_ADDR_INVALID;
        }
        p = (p | 63) + 1;
    }
    return GM_RAM_ADDR_INVALID;
}

void gm_dirty_snapshot_free(gm_dirty_snapshot *s)
{
    free(s);
}
