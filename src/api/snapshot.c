/* SPDX-License-Identifier: MIT */
/*
 * api/snapshot.c - snapshot reset: put guest RAM back as it was, copying
 * only what was written since.
 *
 * Hypervisor fuzzers (Nyx, kAFL) run a guest from one state thousands of
 * times a second; copying all of its RAM back each time would cost what
 * the guest has, not what it touched. A snapshot copies the used memory of
 * every block once and turns on the SNAPSHOT dirty client on all RAM (like
 * global migration logging: every range's log mask gains the bit, and
 * listeners hear log_start). A restore takes the SNAPSHOT bits of each
 * block and copies back just those pages; a block that was resized since
 * is resized back first (the pages that come back are dirty, so they are
 * copied too). Restored pages are marked dirty for the other clients: for
 * them the memory changed. Blocks made after the snapshot are left alone.
 *
 * Writes that bypass the API (to a block's host memory directly, or by a
 * vCPU whose dirty log is not synced) are not seen: sync before a restore.
 */
#include <string.h>

#include "api.h"

struct snap_block {
    gm_region *region; /* referenced: its block lives as long */
    uint64_t used_length;
    uint8_t *copy;
};

struct gm_ram_snapshot {
    gm_system *sys;
    uint64_t restored;  /* pages the last restore copied back */
    uint64_t *bits;     /* scratch: one block's SNAPSHOT bits */
    uint64_t bits_pages;
    size_t n;
    struct snap_block b[];
};

static int count_cb(struct gm_ram_block *b, void *opaque)
{
    (void)b;
    (*(size_t *)opaque)++;
    return 0;
}

struct fill_ctx {
    gm_ram_snapshot *s;
    size_t i;
};

/* Room for one block's copy (allocation only: nothing is taken yet). */
static int alloc_cb(struct gm_ram_block *b, void *opaque)
{
    struct fill_ctx *c = opaque;
    struct snap_block *sb = &c->s->b[c->i++];
    uint64_t pages = (b->used_length + GM_DIRTY_PAGE_SIZE - 1) >>
                     GM_DIRTY_PAGE_BITS;

    sb->region = b->region;
    sb->used_length = b->used_length;
    if (!b->host) {
        return 0;
    }
    sb->copy = malloc(b->used_length);
    if (!sb->copy) {
        return -ENOMEM;
    }
    if (pages > c->s->bits_pages) {
        c->s->bits_pages = pages;
    }
    return 0;
}

static void snapshot_free_mem(gm_ram_snapshot *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->b[i].copy);
    }
    free(s->bits);
    free(s);
}

gm_ram_snapshot *gm_ram_snapshot_take(gm_system *sys, gm_error *err)
{
    gm_ram_snapshot *s;
    struct fill_ctx c;
    size_t n = 0;
    int ret;

    if (!sys) {
        gm__error_set(err, -EINVAL, "NULL system");
        return NULL;
    }
    ret = gm__begin(sys, err);
    if (ret) {
        return NULL;
    }
    if (sys->tree->snapshot_log || sys->base.depth > 1) {
        gm__end_nothing(sys);
        gm__error_set(err, -EBUSY, "a RAM snapshot is taken only outside "
                      "a transaction, one at a time");
        return NULL;
    }
    gm__ram_foreach(sys, count_cb, &n);
    s = calloc(1, sizeof(*s) + n * sizeof(s->b[0]));
    c = (struct fill_ctx){s, 0};
    if (!s || gm__ram_foreach(sys, alloc_cb, &c) ||
        !(s->bits = calloc((s->bits_pages + 63) / 64 + 1,
                           sizeof(uint64_t)))) {
        if (s) {
            s->n = c.i;
            snapshot_free_mem(s);
        }
        gm__end_nothing(sys);
        gm__error_set(err, -ENOMEM, "no memory for a RAM snapshot");
        return NULL;
    }
    s->sys = sys;
    s->n = n;
    /* Log from now on; then forget what came before, and copy. */
    sys->tree->snapshot_log = true;
    sys->tree->all_dirty = true;
    sys->tree->pending = true;
    sys->base.depth--;
    ret = gm__update(sys, err);
    if (ret) {
        sys->tree->snapshot_log = false;
        gm__release(sys);
        snapshot_free_mem(s);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        struct snap_block *sb = &s->b[i];
        struct gm_ram_block *b = sb->region->block;

        gm_region_ref(sb->region);
        if (sb->copy) {
            gm__rcu_read_lock();
            gm__dirty_clear(sys, b->offset >> GM_DIRTY_PAGE_BITS,
                            (b->used_length + GM_DIRTY_PAGE_SIZE - 1) >>
                                GM_DIRTY_PAGE_BITS,
                            GM_DIRTY_SNAPSHOT);
            gm__rcu_read_unlock();
            memcpy(sb->copy, b->host, b->used_length);
        }
    }
    gm__release(sys);
    return s;
}

/* Copy back the pages of one block written since. */
static uint64_t restore_block(gm_ram_snapshot *s, struct snap_block *sb)
{
    struct gm_ram_block *b = sb->region->block;
    uint64_t pages = (sb->used_length + GM_DIRTY_PAGE_SIZE - 1) >>
                     GM_DIRTY_PAGE_BITS;
    uint64_t first = b->offset >> GM_DIRTY_PAGE_BITS, copied = 0;
    /*
     * The clients only: the slots past GM_DIRTY_NR are spare or the
     * blocks' own bitmap (set for every page of a block already), and a
     * bit set in each of those would cost a cache miss per page.
     */
    unsigned others = ((1u << GM_DIRTY_NR) - 1) &
                      ~(1u << GM_DIRTY_SNAPSHOT);

    gm__rcu_read_lock();
    gm__dirty_take(s->sys, first, pages, GM_DIRTY_SNAPSHOT, s->bits);
    for (uint64_t w = 0; w < (pages + 63) / 64; w++) {
        uint64_t bits = s->bits[w];

        while (bits) {
            uint64_t p = w * 64 + (uint64_t)__builtin_ctzll(bits);
            uint64_t off = p << GM_DIRTY_PAGE_BITS;
            uint64_t len = sb->used_length - off < GM_DIRTY_PAGE_SIZE
                               ? sb->used_length - off
                               : GM_DIRTY_PAGE_SIZE;

            bits &= bits - 1;
            memcpy((uint8_t *)b->host + off, sb->copy + off, len);
            gm__dirty_set(s->sys, first + p, 1, others);
            copied++;
        }
    }
    gm__rcu_read_unlock();
    return copied;
}

int gm_ram_snapshot_restore(gm_ram_snapshot *s, gm_error *err)
{
    gm_system *sys;
    int ret;

    if (!s) {
        return gm__error_set(err, -EINVAL, "NULL snapshot");
    }
    sys = s->sys;
    ret = gm_transaction_begin(sys);
    if (ret) {
        return gm__error_set(err, ret, "cannot restore a RAM snapshot from "
                             "a listener callback");
    }
    /* Sizes first (one commit for all), then the bytes. */
    for (size_t i = 0; i < s->n && !ret; i++) {
        struct snap_block *sb = &s->b[i];

        if (sb->region->block->used_length != sb->used_length) {
            ret = gm_region_ram_resize(sb->region, sb->used_length, err);
        }
    }
    if (!ret) {
        ret = gm_transaction_commit(sys, err);
    } else {
        gm_transaction_commit(sys, NULL);
        return ret;
    }
    if (ret) {
        return ret;
    }
    gm__lock(sys);
    s->restored = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (s->b[i].copy) {
            s->restored += restore_block(s, &s->b[i]);
        }
    }
    gm__unlock(sys);
    return 0;
}

uint64_t gm_ram_snapshot_restored(const gm_ram_snapshot *s)
{
    return s ? s->restored : 0;
}

void gm_ram_snapshot_free(gm_ram_snapshot *s)
{
    gm_system *sys;

    if (!s) {
        return;
    }
    sys = s->sys;
    if (!gm__begin(sys, NULL)) {
        sys->tree->snapshot_log = false;
        sys->tree->all_dirty = true;
        sys->tree->pending = true;
        /* On failure the next commit drops the SNAPSHOT bit instead. */
        sys->base.depth--;
        if (sys->base.depth == 0) {
            gm__update(sys, NULL);
        }
        gm__release(sys);
    }
    for (size_t i = 0; i < s->n; i++) {
        gm_region_unref(s->b[i].region);
    }
    snapshot_free_mem(s);
}
