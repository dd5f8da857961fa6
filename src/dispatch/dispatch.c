/* SPDX-License-Identifier: MIT */
/*
 * dispatch/dispatch.c - from a guest address to its range in O(levels), lock-free.
 *
 * Each flat view carries a radix table over page numbers (4 KiB pages,
 * 512-entry nodes, up to 6 levels for the 64-bit space). An entry is
 *   - empty (unassigned),
 *   - a range record, when one range covers the entry's whole block: large
 *     ranges stop high in the tree (a 1 GiB RAM block is one entry of a
 *     level-2 node),
 *   - a child node, or
 *   - at the page level, a sub-page: the sorted boundaries of the ranges
 *     sharing that page, searched by bisection. It costs 16 bytes per range
 *     in the page; QEMU spends 8 KiB on every such page.
 * The root sits at the lowest level that covers every assigned address, so
 * a machine whose map ends below 512 GiB walks three levels, not six; the
 * table grows a level when a range appears above its reach.
 *
 * Paths are compacted: an entry whose node would hold a single non-empty
 * entry points past it, to that entry's node or record (QEMU's skip). A
 * lookup therefore ends with a check that the record (or sub-page) it
 * reached really covers the address; an address that took a skipped level
 * the wrong way fails that check and is unassigned, which is what the
 * skipped level's other entries said. An update that meets a skipped path
 * first rebuilds the levels it skipped (exactly, one entry each), then
 * compacts again what it changed.
 *
 * Updates follow the flat view's: a commit recomputes the entries of the
 * blocks that meet the spans where ranges changed, copying the nodes on the
 * way (path copying) and sharing all others with the previous version that
 * readers may still hold. Replaced nodes and sub-pages go on the version's
 * garbage list (reclaim/). Entries always point at records of the same
 * version's tree, so a reader holding a view can dereference them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"


/* Size of the block an entry of a level-k node covers (k <= 5). */
static inline gm_u128 entry_size(unsigned level)
{
    return (gm_u128)1 << gm__level_shift(level);
}

#define DNODE_CACHE_MAX 64

static void dnode_free(gm_system *sys, void *n)
{
    gm__freelist_put(&sys->dispatch->nodes, n);
}

static void subpage_free(gm_system *sys, void *sp)
{
    (void)sys;
    free(sp);
}

int gm__dispatch_init(gm_system *sys)
{
    struct gm_dispatch_state *st = calloc(1, sizeof(*st));

    if (!st) {
        return -ENOMEM;
    }
    st->nodes.max = DNODE_CACHE_MAX;
    st->kind_node = gm__reclaim_kind(sys, dnode_free);
    st->kind_subpage = gm__reclaim_kind(sys, subpage_free);
    sys->dispatch = st;
    return 0;
}

void gm__dispatch_fini(gm_system *sys)
{
    if (sys->dispatch) {
        gm__freelist_drain(&sys->dispatch->nodes);
        free(sys->dispatch);
        sys->dispatch = NULL;
    }
}

static void drop_dnode(struct gm_txn *tx, struct gm_dnode *n)
{
    gm__txn_drop(tx, n, tx->sys->dispatch->kind_node);
}

static struct gm_dnode *dnode_alloc(struct gm_txn *tx, unsigned level,
                                    uint64_t base)
{
    struct gm_dnode *n = gm__freelist_get(&tx->sys->dispatch->nodes,
                                          sizeof(*n));

    if (!n) {
        tx->err = -ENOMEM;
        return NULL;
    }
    n->gen = tx->gen;
    n->level = level;
    n->base = base;
    if (gm__txn_track(tx, n, tx->sys->dispatch->kind_node)) {
        dnode_free(tx->sys, n);
        return NULL;
    }
    return n;
}

/*
 * The entry to store for node n (current generation, just built or
 * updated): n itself, or, when n holds a single non-empty entry that is a
 * node or a record, that entry (n is dropped). Sub-pages are never hoisted:
 * a hoisted entry may later be copied into all 512 entries of a rebuilt
 * node, which records and empties allow but owned objects do not.
 */
static uintptr_t compact(struct gm_txn *tx, struct gm_dnode *n)
{
    uintptr_t only = 0;
    unsigned count = 0;

    for (unsigned i = 0; i < GM_DNODE_ENTRIES && count < 2; i++) {
        if (n->e[i]) {
            only = n->e[i];
            count++;
        }
    }
    if (count == 0) {
        drop_dnode(tx, n);
        return 0;
    }
    if (count == 1 && (DE_TAG(only) == DE_NODE || DE_TAG(only) == DE_REC)) {
        drop_dnode(tx, n);
        return only;
    }
    return (uintptr_t)n | DE_NODE;
}

static void drop_entry(struct gm_txn *tx, uintptr_t e)
{
    if (DE_TAG(e) == DE_SUB) {
        gm__txn_drop(tx, DE_PTR(e), tx->sys->dispatch->kind_subpage);
    } else if (DE_TAG(e) == DE_NODE) {
        /* A node replaced by a flat entry: drop its whole subtree. */
        struct gm_dnode *n = DE_PTR(e);
        for (unsigned i = 0; i < GM_DNODE_ENTRIES; i++) {
            if (DE_TAG(n->e[i]) == DE_NODE || DE_TAG(n->e[i]) == DE_SUB) {
                drop_entry(tx, n->e[i]);
            }
        }
        drop_dnode(tx, n);
    }
}

static uintptr_t make_entry(struct gm_txn *tx, const struct gm_fv_node *t,
                            unsigned level, gm_u128 b);

static uintptr_t make_subpage(struct gm_txn *tx, const struct gm_fv_node *t,
                              uint64_t page)
{
    struct gm_subpage *sp;
    uint64_t last = page + GM_PAGE_SIZE - 1;
    uint64_t pos = page;
    unsigned n = 0, cap = 8;

    sp = malloc(sizeof(*sp) + cap * sizeof(sp->v[0]));
    if (!sp) {
        tx->err = -ENOMEM;
        return 0;
    }
    sp->gen = tx->gen;
    sp->page = page;
    while (pos <= last) {
        struct gm_rrec *rec = gm__fv_find_rec(t, pos);
        uint64_t end; /* inclusive end of this piece */

        if (rec) {
            end = rec->rg.last < last ? rec->rg.last : last;
        } else {
            const struct gm_range *nx = gm__fv_next(t, pos);
            end = nx && nx->start <= last ? nx->start - 1 : last;
        }
        if (n == cap) {
            struct gm_subpage *nsp;
            cap *= 2;
            nsp = realloc(sp, sizeof(*sp) + cap * sizeof(sp->v[0]));
            if (!nsp) {
                free(sp);
                tx->err = -ENOMEM;
                return 0;
            }
            sp = nsp;
        }
        sp->v[n].start = (uint16_t)(pos - page);
        sp->v[n].rec = rec;
        n++;
        if (end == last) {
            break;
        }
        pos = end + 1;
    }
    sp->n = n;
    if (gm__txn_track(tx, sp, tx->sys->dispatch->kind_subpage)) {
        free(sp);
        return 0;
    }
    return (uintptr_t)sp | DE_SUB;
}

/* A node at level-1 covering [b, b + entry_size(level)). */
static uintptr_t make_node(struct gm_txn *tx, const struct gm_fv_node *t,
                           unsigned level, gm_u128 b)
{
    struct gm_dnode *n = dnode_alloc(tx, level - 1, (uint64_t)b);
    gm_u128 step = entry_size(level - 1);
    gm_u128 known_end = 0; /* entries below this repeat `known` */
    uintptr_t known = 0;

    if (!n) {
        return 0;
    }
    for (unsigned i = 0; i < GM_DNODE_ENTRIES; i++) {
        gm_u128 x = b + i * step;

        if (x + step <= known_end) {
            n->e[i] = known; /* same record, or still a hole */
            continue;
        }
        n->e[i] = make_entry(tx, t, level - 1, x);
        if (x >= GM_SIZE_2_64) {
            continue;
        }
        /* Learn how far this entry's content repeats. */
        struct gm_rrec *rec = gm__fv_find_rec(t, (uint64_t)x);
        if (rec) {
            known = DE_TAG(n->e[i]) == DE_REC ? n->e[i] : 0;
            known_end = known ? (gm_u128)rec->rg.last + 1 : 0;
        } else {
            const struct gm_range *nx = gm__fv_next(t, (uint64_t)x);
            known = 0;
            known_end = nx ? nx->start : GM_SIZE_2_64;
        }
    }
    if (tx->err) {
        return 0; /* n is tracked: the failed commit frees it */
    }
    return compact(tx, n);
}

/* The entry for the block [b, b + entry_size(level)) of tree t. */
static uintptr_t make_entry(struct gm_txn *tx, const struct gm_fv_node *t,
                            unsigned level, gm_u128 b)
{
    gm_u128 end = b + entry_size(level); /* exclusive, may be 2^64 */
    struct gm_rrec *rec;
    const struct gm_range *nx;

    if (b >= GM_SIZE_2_64 || tx->err) {
        return 0;
    }
    rec = gm__fv_find_rec(t, (uint64_t)b);
    if (rec) {
        if ((gm_u128)rec->rg.last + 1 >= end) {
            return (uintptr_t)rec | DE_REC;
        }
    } else {
        nx = gm__fv_next(t, (uint64_t)b);
        if (!nx || nx->start >= end) {
            return 0;
        }
    }
    if (level == 0) {
        return make_subpage(tx, t, (uint64_t)b);
    }
    return make_node(tx, t, level, b);
}

/*
 * A private node at `level` covering [base, ...) with the content of entry
 * e: a copy of e's node, the levels a compacted path skipped (one entry,
 * pointing on), or a node whose entries all repeat e (empty, or a record:
 * lookups check that a record covers the address).
 */
static struct gm_dnode *own_node(struct gm_txn *tx, uintptr_t e,
                                 unsigned level, uint64_t base)
{
    struct gm_dnode *n, *c;

    if (DE_TAG(e) == DE_NODE) {
        n = DE_PTR(e);
        if (n->level == level) {
            if (n->gen == tx->gen) {
                return n;
            }
            c = dnode_alloc(tx, level, base);
            if (c) {
                memcpy(c->e, n->e, sizeof(c->e));
                drop_dnode(tx, n);
            }
            return c;
        }
        /* A skipped level: rebuild it with its single entry. */
        c = dnode_alloc(tx, level, base);
        if (c) {
            memset(c->e, 0, sizeof(c->e));
            c->e[(n->base >> gm__level_shift(level)) & (GM_DNODE_ENTRIES - 1)] = e;
        }
        return c;
    }
    c = dnode_alloc(tx, level, base);
    if (c) {
        const struct gm_rrec *rec = DE_TAG(e) == DE_REC ? DE_PTR(e) : NULL;
        gm_u128 step = entry_size(level);

        /*
         * An empty entry, or a record (possibly hoisted from a smaller
         * block): it goes only where its range is, so that every entry
         * naming a record lies inside the record's range, which any change
         * of that range re-renders.
         */
        for (unsigned i = 0; i < GM_DNODE_ENTRIES; i++) {
            gm_u128 b = (gm_u128)base + i * step;
            c->e[i] = rec && b <= rec->rg.last &&
                              b + step > rec->rg.start
                          ? e
                          : 0;
        }
    }
    return c;
}

/*
 * Recompute, in node *slot (level k, first address base), the entries whose
 * blocks meet [s, e).
 */
static void update(struct gm_txn *tx, const struct gm_fv_node *t,
                   uintptr_t *slot, unsigned level, gm_u128 base, gm_u128 s,
                   gm_u128 e)
{
    struct gm_dnode *n = own_node(tx, *slot, level, (uint64_t)base);
    gm_u128 step = entry_size(level);
    unsigned i0, i1;

    if (!n) {
        return;
    }
    *slot = (uintptr_t)n | DE_NODE;
    if (s < base) {
        s = base;
    }
    /* Clamp in 128 bits: a window may reach 2^64, far past this node. */
    gm_u128 j0 = (s - base) >> gm__level_shift(level);
    gm_u128 j1 = (e - 1 - base) >> gm__level_shift(level);

    if (j0 >= GM_DNODE_ENTRIES) {
        j0 = GM_DNODE_ENTRIES; /* nothing of the window is in this node */
    }
    if (j1 >= GM_DNODE_ENTRIES) {
        j1 = GM_DNODE_ENTRIES - 1;
    }
    i0 = (unsigned)j0;
    i1 = (unsigned)j1;
    for (unsigned i = i0; i <= i1 && !tx->err; i++) {
        gm_u128 b = base + i * step;
        uintptr_t old = n->e[i];

        if (b >= GM_SIZE_2_64) {
            break;
        }
        if ((s <= b && b + step <= e) || level == 0) {
            uintptr_t ne = make_entry(tx, t, level, b);
            if (tx->err) {
                return;
            }
            /* A record entry is only ever replaced by the new version's. */
            drop_entry(tx, old);
            n->e[i] = ne;
        } else {
            update(tx, t, &n->e[i], level - 1, b, s, e);
        }
    }
    if (!tx->err) {
        *slot = compact(tx, n);
    }
}

/* Highest level needed so that the root covers address last. */
static unsigned level_for(uint64_t last)
{
    unsigned level = 0;

    while (level < GM_DISPATCH_LEVELS - 1 &&
           ((gm_u128)last >> gm__level_shift(level + 1)) != 0) {
        level++;
    }
    return level;
}

int gm__dispatch_update(struct gm_txn *tx, struct gm_dispatch *d,
                        const struct gm_fv_node *t, gm_u128 s, gm_u128 e)
{
    const struct gm_range *lastrg = gm__fv_last(t);
    unsigned need = level_for(lastrg ? lastrg->last : 0);
    gm_u128 cover;

    if (s >= e) {
        return 0;
    }
    /* Grow the root until it covers every range (empty table: start). */
    if (!d->root) {
        d->level = need;
    }
    while (d->level < need) {
        /* The old root becomes entry 0 of a new, still compacted, root. */
        d->level++;
    }
    cover = d->level == GM_DISPATCH_LEVELS - 1 ? GM_SIZE_2_64
                                               : entry_size(d->level + 1);
    if (e > cover) {
        e = cover; /* nothing is assigned beyond the root's reach */
    }
    if (s < e) {
        update(tx, t, &d->root, d->level, 0, s, e);
    }
    return tx->err;
}

/* Free a whole table (the last version of a history). */
static void free_entry(gm_system *sys, uintptr_t e)
{
    if (DE_TAG(e) == DE_SUB) {
        free(DE_PTR(e));
    } else if (DE_TAG(e) == DE_NODE) {
        struct gm_dnode *n = DE_PTR(e);
        for (unsigned i = 0; i < GM_DNODE_ENTRIES; i++) {
            free_entry(sys, n->e[i]);
        }
        dnode_free(sys, n);
    }
}

void gm__dispatch_free(gm_system *sys, struct gm_dispatch *d)
{
    free_entry(sys, d->root);
    d->root = 0;
}
