/* SPDX-License-Identifier: MIT */
/*
 * model-access.c - the access path against a brute-force reference.
 *
 * Each seed builds a random region tree in one address space (RAM filled
 * with known patterns, ROM, ROM devices, MMIO devices with random `valid`
 * and `impl` rules, unassigned reservations, containers, aliases with
 * offsets, overlaps with priorities, disabled and read-only regions), then
 * alternates random topology changes with random accesses: reads and
 * writes of 1..64 bytes, loads and stores of 1, 2, 4 or 8 bytes in a random
 * byte order, aimed mostly at region boundaries.
 *
 * Four seeds in ten keep the tree in a 64 KiB root. The others use a root
 * of 2^64 bytes and place the root's children in two to four 64 KiB
 * windows spread over the whole 64-bit space: around a multiple of 2^21,
 * 2^30, 2^39, 2^48 or 2^57 (a small multiple, or one with random upper
 * bits), at the top of the space and at 0. A quarter of those placements
 * straddle the window's block boundary, or end at 2^64 - 1 in the top
 * window, and moves may jump from one window to another: deep paths of
 * the dispatch radix, sub-page pieces at high addresses, ranges ending at
 * the last byte of the space.
 *
 * Every access is also computed by a reference written here: each byte is
 * resolved by walking our own copy of the tree as QEMU renders it (first
 * enabled child in priority order, then most recently added, wins; a
 * terminating region fills what its children leave; an alias forwards to
 * its target, whose own size and enabled flag still apply; readonly
 * accumulates along the path). MMIO follows QEMU:
 *  - reads and writes (flatview_read/write_continue) cut each flat range
 *    into chunks of the largest power of two <= min(remaining, 8) that the
 *    device's valid.max (0 means 4) and, unless impl.unaligned, the
 *    offset's alignment allow (memory_access_size);
 *  - a load or store held by one MMIO range is one access of its size
 *    (address_space_ld/st -> memory_region_dispatch_read/write); loads and
 *    stores crossing ranges are split like reads (the library's rule);
 *  - each device access is checked against `valid` (a refusal reads as
 *    unassigned memory with a decode error) and cut or widened to the
 *    `impl` sizes (access_with_adjusted_size), values travelling in the
 *    device's order;
 *  - holes, unassigned reservations and refused device reads read as the
 *    space's unassigned value: odd seeds keep the default, 0 (QEMU's
 *    unassigned_mem_read()), even seeds choose all-ones
 *    (gm_space_set_unassigned()). The choice does not draw from the random
 *    stream, so a seed builds the same tree either way.
 * Loads and stores also go through access caches (gm_cache_load/store) kept
 * over random windows across the topology changes and re-made now and
 * then: inside its window a cache must give exactly what the space gives at
 * that address after every commit, outside it a decode error and no device
 * call.
 * Compared: the result, the bytes or value, the exact sequence of device
 * callbacks (offset, size, data) and, after writes, all RAM contents.
 *
 * Usage: model-access [--seed N] [--seeds K] [--ops N]: seeds N .. N+K-1
 * (default 1 .. 20), printed first; `make check` passes fixed seeds, and
 * only the soak runs of `make fuzz` (scripts/fuzz.sh) pick random ones. On
 * a failure the seed is printed; rerun it with --seed. Ends with
 * "N passed, N failed", counting seeds.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <guestmem/guestmem.h>

#define ROOT_SIZE 0x10000u /* the root, in the seeds that keep it small */
#define WIN_SPAN 0x10000u  /* a window of the 2^64 root */
#define MAXWIN 4
#define MAXN 64
#define MAXKIDS 48
#define MAXCALLS 512
#define NCACHES 4

enum mkind { M_CONT, M_RAM, M_ROM, M_IO, M_NULLIO, M_ALIAS, M_ROMD };

static const char *const kind_names[] = {"cont", "ram",   "rom", "io",
                                         "null", "alias", "romd"};

struct model;

/* What a device callback receives: its model and node id. */
struct devctx {
    struct model *m;
    int id;
};

struct mnode {
    enum mkind kind;
    gm_region *r; /* one reference held by the model */
    uint64_t size;
    bool whole;   /* the root of 2^64 bytes (size is then meaningless) */
    uint8_t *shadow; /* expected contents (RAM, ROM, ROM device) */
    uint8_t *host;   /* gm_region_ram_ptr() */
    int parent;      /* -1: not placed */
    uint64_t addr;
    int prio;
    uint64_t seq; /* insertion order among equal priorities */
    bool enabled, readonly, romd;
    bool front; /* may hold aliases: never an alias target */
    int target; /* alias */
    uint64_t alias_off;
    int nkids;
    int kids[MAXKIDS]; /* sorted in render order */
    struct gm_region_ops ops;
    bool with_attrs, accepts;
    struct devctx ctx;
};

struct call {
    int id;
    bool is_write;
    uint64_t off;
    unsigned size;
    uint64_t data;
};

/*
 * A window of the 2^64 root: [base, base + WIN_SPAN). @bnd is the block
 * boundary in its middle (a multiple of 2^21 .. 2^57, or of 2^12 for the
 * window at 0); the window at the top of the space has @top set instead.
 */
struct window {
    uint64_t base;
    uint64_t bnd;
    bool top;
};

struct model {
    gm_system *sys;
    gm_space *as;
    int root;
    bool high; /* a 2^64 root with windows (else a 64 KiB root) */
    int nwin;
    struct window win[MAXWIN];
    int nn;
    struct mnode n[MAXN];
    uint64_t seqctr;
    uint64_t rng;
    unsigned nact, nexp;
    struct call act[MAXCALLS], exp[MAXCALLS];
    char why[512];
    struct gm_cache cache[NCACHES];
    uint8_t fill; /* what unassigned bytes read as: 0x00 or 0xff */
};

/*
 * Random numbers (xorshift64*) and the device function.
 */

static uint64_t rnd(struct model *m)
{
    m->rng ^= m->rng >> 12;
    m->rng ^= m->rng << 25;
    m->rng ^= m->rng >> 27;
    return m->rng * 0x2545f4914f6cdd1dULL;
}

static uint64_t rnd_below(struct model *m, uint64_t n)
{
    return n ? rnd(m) % n : 0;
}

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* The value device @id returns for a read (not masked to the size). */
static uint64_t dev_value(int id, uint64_t off, unsigned size)
{
    return mix(((uint64_t)id << 48) ^ (off << 8) ^ size);
}

/* The result a _with_attrs device gives. */
static enum gm_result dev_result(uint64_t off, unsigned size)
{
    return (off + size) % 11 == 3 ? GM_RESULT_ACCESS_ERROR : GM_RESULT_OK;
}

static bool dev_accept(uint64_t off, unsigned size, bool is_write)
{
    return (off * 7 + size * 3 + is_write) % 29 != 0;
}

static void act_log(struct devctx *c, bool w, uint64_t off, unsigned size,
                    uint64_t data)
{
    struct model *m = c->m;

    if (m->nact < MAXCALLS) {
        m->act[m->nact] = (struct call){c->id, w, off, size, data};
    }
    m->nact++;
}

static uint64_t cb_read(void *opaque, uint64_t off, unsigned size)
{
    uint64_t v = dev_value(((struct devctx *)opaque)->id, off, size);

    act_log(opaque, false, off, size, v);
    return v;
}

static void cb_write(void *opaque, uint64_t off, uint64_t data, unsigned size)
{
    act_log(opaque, true, off, size, data);
}

static enum gm_result cb_read_attrs(void *opaque, uint64_t off, uint64_t *data,
                                    unsigned size, struct gm_mem_attrs attrs)
{
    *data = cb_read(opaque, off, size);
    return dev_result(off, size);
}

static enum gm_result cb_write_attrs(void *opaque, uint64_t off, uint64_t data,
                                     unsigned size, struct gm_mem_attrs attrs)
{
    cb_write(opaque, off, data, size);
    return dev_result(off, size);
}

static bool cb_accepts(void *opaque, uint64_t off, unsigned size, bool is_write,
                       struct gm_mem_attrs attrs)
{
    return dev_accept(off, size, is_write);
}

/*
 * Building the tree.
 */

static bool is_mmio(enum mkind k)
{
    return k == M_IO || k == M_ROMD;
}

static bool has_ram(enum mkind k)
{
    return k == M_RAM || k == M_ROM || k == M_ROMD;
}

static bool terminates(enum mkind k)
{
    return k != M_CONT && k != M_ALIAS;
}

static void random_ops(struct model *m, struct mnode *n)
{
    static const unsigned vmax[] = {0, 1, 2, 4, 8, 4, 0};
    static const unsigned imax[] = {0, 1, 2, 4, 8, 0, 4};
    struct gm_region_ops *o = &n->ops;
    unsigned eff;

    memset(o, 0, sizeof(*o));
    o->endianness = (enum gm_endian)rnd_below(m, 3);
    o->valid.max_access_size = vmax[rnd_below(m, 7)];
    do {
        o->valid.min_access_size = (unsigned)rnd_below(m, 5);
    } while (o->valid.min_access_size == 3 ||
             (o->valid.max_access_size &&
              o->valid.min_access_size > o->valid.max_access_size));
    o->valid.unaligned = rnd_below(m, 3) == 0;
    o->impl.max_access_size = imax[rnd_below(m, 7)];
    eff = o->impl.max_access_size ? o->impl.max_access_size : 4;
    do {
        o->impl.min_access_size = (unsigned)rnd_below(m, 5);
    } while (o->impl.min_access_size == 3 || o->impl.min_access_size > eff);
    o->impl.unaligned = rnd_below(m, 4) == 0;
    n->with_attrs = rnd_below(m, 3) == 0;
    n->accepts = rnd_below(m, 4) == 0;
    if (n->with_attrs) {
        o->read_with_attrs = cb_read_attrs;
        o->write_with_attrs = cb_write_attrs;
    } else {
        o->read = cb_read;
        o->write = cb_write;
    }
    if (n->accepts) {
        o->valid.accepts = cb_accepts;
    }
}

static uint64_t random_size(struct model *m)
{
    switch (rnd_below(m, 4)) {
    case 0:
        return 1 + rnd_below(m, 16);
    case 1:
        return 0x10 + rnd_below(m, 0x200);
    case 2:
        return 0x800 + rnd_below(m, 0x2800);
    default:
        return 0x1000 * (1 + rnd_below(m, 3));
    }
}

static int new_node(struct model *m, enum mkind k, gm_u128 size, int target,
                    uint64_t alias_off)
{
    int id = m->nn++;
    struct mnode *n = &m->n[id];
    char name[32];
    gm_error err = {0};

    memset(n, 0, sizeof(*n));
    n->kind = k;
    n->whole = size == GM_SIZE_2_64;
    n->size = n->whole ? UINT64_MAX : (uint64_t)size;
    n->parent = -1;
    n->enabled = true;
    n->target = -1;
    n->ctx.m = m;
    n->ctx.id = id;
    snprintf(name, sizeof(name), "%s%d", kind_names[k], id);
    switch (k) {
    case M_CONT:
        n->r = gm_region_new_container(m->sys, name, size, &err);
        break;
    case M_RAM:
        n->r = gm_region_new_ram(m->sys, name, size, &err);
        break;
    case M_ROM:
        n->r = gm_region_new_rom(m->sys, name, size, &err);
        n->readonly = true; /* ROM is read-only RAM, as in QEMU */
        break;
    case M_IO:
        random_ops(m, n);
        n->r = gm_region_new_io(m->sys, name, size, &n->ops, &n->ctx, &err);
        break;
    case M_NULLIO:
        n->r = gm_region_new_io(m->sys, name, size, NULL, NULL, &err);
        break;
    case M_ROMD:
        random_ops(m, n);
        n->r = gm_region_new_rom_device(m->sys, name, size, &n->ops, &n->ctx,
                                        &err);
        n->romd = true;
        break;
    case M_ALIAS:
        n->target = target;
        n->alias_off = alias_off;
        n->r = gm_region_new_alias(m->sys, name, m->n[target].r, alias_off,
                                   size, &err);
        break;
    }
    if (!n->r) {
        fprintf(stderr, "cannot create %s: %s\n", name, err.msg);
        exit(2);
    }
    if (has_ram(k)) {
        n->host = gm_region_ram_ptr(n->r);
        n->shadow = malloc(n->size);
        if (!n->shadow || !n->host) {
            fprintf(stderr, "no memory\n");
            exit(2);
        }
        for (uint64_t i = 0; i < n->size; i++) {
            n->shadow[i] = (uint8_t)mix(((uint64_t)id << 32) ^ i);
        }
        memcpy(n->host, n->shadow, n->size);
    }
    return id;
}

static bool before(const struct mnode *a, const struct mnode *b)
{
    return a->prio > b->prio || (a->prio == b->prio && a->seq > b->seq);
}

static void sort_kids(struct model *m, int p)
{
    struct mnode *n = &m->n[p];

    for (int i = 1; i < n->nkids; i++) {
        int k = n->kids[i], j = i;
        while (j > 0 && before(&m->n[k], &m->n[n->kids[j - 1]])) {
            n->kids[j] = n->kids[j - 1];
            j--;
        }
        n->kids[j] = k;
    }
}

static void place(struct model *m, int p, int c, uint64_t addr, int prio)
{
    struct mnode *pn = &m->n[p], *cn = &m->n[c];
    gm_error err = {0};

    if (gm_region_add_subregion_overlap(pn->r, addr, cn->r, prio, &err)) {
        fprintf(stderr, "add_subregion: %s\n", err.msg);
        exit(2);
    }
    cn->parent = p;
    cn->addr = addr;
    cn->prio = prio;
    cn->seq = ++m->seqctr;
    pn->kids[pn->nkids++] = c;
    sort_kids(m, p);
}

static void unplace(struct model *m, int c)
{
    struct mnode *cn = &m->n[c], *pn = &m->n[cn->parent];

    if (gm_region_del_subregion(pn->r, cn->r, NULL)) {
        fprintf(stderr, "del_subregion failed\n");
        exit(2);
    }
    for (int i = 0; i < pn->nkids; i++) {
        if (pn->kids[i] == c) {
            memmove(&pn->kids[i], &pn->kids[i + 1],
                    (size_t)(pn->nkids - i - 1) * sizeof(int));
            pn->nkids--;
            break;
        }
    }
    cn->parent = -1;
}

static int random_prio(struct model *m)
{
    return (int)rnd_below(m, 4) - 1;
}

/*
 * The windows of a 2^64 root: one around a block boundary of a radix
 * level, then up to three more of any kind (another boundary, the top of
 * the space, or 0).
 */
static void make_windows(struct model *m)
{
    static const unsigned shift[] = {21, 30, 39, 48, 57};

    m->nwin = 2 + (int)rnd_below(m, MAXWIN - 1);
    for (int i = 0; i < m->nwin; i++) {
        struct window *w = &m->win[i];
        unsigned kind = i == 0 ? 0 : (unsigned)rnd_below(m, 4);

        memset(w, 0, sizeof(*w));
        if (kind <= 1) {
            unsigned sh = shift[rnd_below(m, 5)];
            /* A small multiple, or random bits up to 2^63 above @sh. */
            uint64_t k = rnd_below(m, 2) ? 1 + rnd_below(m, 3)
                                         : (rnd(m) >> (sh + 1)) | 1;

            w->bnd = k << sh;
            w->base = w->bnd - WIN_SPAN / 2;
        } else if (kind == 2) {
            w->top = true;
            w->base = (uint64_t)(GM_SIZE_2_64 - WIN_SPAN);
        } else {
            w->base = 0;
            w->bnd = WIN_SPAN / 2;
        }
    }
}

/* Whether a region of @size fits at @addr below 2^64. */
static bool fits(uint64_t addr, uint64_t size)
{
    return (gm_u128)addr + size <= GM_SIZE_2_64;
}

/*
 * An address for a child of @size in @p: anywhere in a small parent. In a
 * 2^64 root, in a window: three times in four anywhere in it, else across
 * its block boundary (or ending at 2^64 - 1 in the top window); never
 * past 2^64.
 */
static uint64_t place_addr(struct model *m, int p, uint64_t size)
{
    const struct window *w;
    uint64_t a;

    if (!m->n[p].whole) {
        return rnd_below(m, m->n[p].size);
    }
    w = &m->win[rnd_below(m, (uint64_t)m->nwin)];
    if (rnd_below(m, 4) != 0) {
        a = w->base + rnd_below(m, WIN_SPAN);
    } else if (w->top) {
        a = (uint64_t)(GM_SIZE_2_64 - size);
    } else {
        /* At least the boundary's last byte below and first byte above. */
        a = w->bnd - 1 - rnd_below(m, size > 1 ? size - 1 : 1);
    }
    if (!fits(a, size)) {
        a = (uint64_t)(GM_SIZE_2_64 - size);
    }
    return a;
}

static void build(struct model *m)
{
    static const enum mkind leaf_kinds[] = {M_RAM, M_RAM, M_RAM,    M_ROM, M_IO,
                                            M_IO,  M_IO,  M_NULLIO, M_ROMD};
    int nleaves = 5 + (int)rnd_below(m, 6);
    int targets[MAXN], nt = 0;
    int fronts[4], nf = 1;

    m->high = rnd_below(m, 10) >= 4;
    if (m->high) {
        make_windows(m);
        m->root = new_node(m, M_CONT, GM_SIZE_2_64, -1, 0);
    } else {
        m->root = new_node(m, M_CONT, ROOT_SIZE, -1, 0);
    }
    m->n[m->root].front = true;
    fronts[0] = m->root;

    /* Leaves, some inside backing containers or inside each other. */
    for (int i = 0; i < nleaves; i++) {
        enum mkind k = leaf_kinds[rnd_below(m, 9)];
        int id = new_node(m, k, random_size(m), -1, 0);
        targets[nt++] = id;
    }
    for (int i = 0, nc = (int)rnd_below(m, 3); i < nc; i++) {
        int id = new_node(m, M_CONT, 0x100 + rnd_below(m, 0x3000), -1, 0);
        for (int j = 0, nk = 1 + (int)rnd_below(m, 3); j < nk; j++) {
            enum mkind k = leaf_kinds[rnd_below(m, 9)];
            int c = new_node(m, k, random_size(m), -1, 0);
            place(m, id, c, rnd_below(m, m->n[id].size), random_prio(m));
            targets[nt++] = c;
        }
        targets[nt++] = id;
    }
    /* A leaf inside a RAM or device now and then. */
    if (rnd_below(m, 2)) {
        int p = targets[rnd_below(m, nt)];
        if (terminates(m->n[p].kind) && m->n[p].parent < 0) {
            int c = new_node(m, leaf_kinds[rnd_below(m, 9)],
                             1 + rnd_below(m, 0x80), -1, 0);
            place(m, p, c, rnd_below(m, m->n[p].size), random_prio(m));
            targets[nt++] = c;
        }
    }
    /* Front containers. */
    for (int i = 0, nc = (int)rnd_below(m, 3); i < nc; i++) {
        int id = new_node(m, M_CONT, 0x200 + rnd_below(m, 0x4000), -1, 0);
        m->n[id].front = true;
        place(m, m->root, id, place_addr(m, m->root, m->n[id].size),
              random_prio(m));
        fronts[nf++] = id;
    }
    /* Place most unplaced backing regions in the root. */
    for (int i = 0; i < nt; i++) {
        int id = targets[i];
        if (m->n[id].parent < 0 && rnd_below(m, 10) < 7) {
            place(m, m->root, id, place_addr(m, m->root, m->n[id].size),
                  random_prio(m));
        }
    }
    /* Aliases onto backing regions and onto earlier aliases. */
    for (int i = 0, na = 3 + (int)rnd_below(m, 6); i < na; i++) {
        int t = targets[rnd_below(m, nt)];
        uint64_t tsz = m->n[t].size;
        uint64_t off = rnd_below(m, tsz + 0x20);
        uint64_t size = 1 + rnd_below(m, tsz + 0x20);
        int id = new_node(m, M_ALIAS, size, t, off);
        int f = fronts[rnd_below(m, nf)];

        place(m, f, id, place_addr(m, f, size), random_prio(m));
        targets[nt++] = id;
    }
    /* A few disabled and read-only ones. */
    for (int i = 1; i < m->nn; i++) {
        if (rnd_below(m, 8) == 0) {
            m->n[i].enabled = false;
            gm_region_set_enabled(m->n[i].r, false, NULL);
        }
        if (rnd_below(m, 8) == 0) {
            m->n[i].readonly = true;
            gm_region_set_readonly(m->n[i].r, true, NULL);
        }
    }
}

/*
 * Mutations.
 */

static int random_placed(struct model *m)
{
    for (int tries = 0; tries < 100; tries++) {
        int id = 1 + (int)rnd_below(m, (uint64_t)m->nn - 1);
        if (m->n[id].parent >= 0) {
            return id;
        }
    }
    return -1;
}

static int random_of_kind(struct model *m, enum mkind k)
{
    for (int tries = 0; tries < 100; tries++) {
        int id = 1 + (int)rnd_below(m, (uint64_t)m->nn - 1);
        if (m->n[id].kind == k) {
            return id;
        }
    }
    return -1;
}

static void mutate(struct model *m, char *what, size_t wlen)
{
    int id;
    struct mnode *n;
    int rc = 0;

    snprintf(what, wlen, "nothing");
    switch (rnd_below(m, 7)) {
    case 0:
        id = random_placed(m);
        if (id < 0) {
            return;
        }
        n = &m->n[id];
        n->enabled = !n->enabled;
        rc = gm_region_set_enabled(n->r, n->enabled, NULL);
        snprintf(what, wlen, "node %d enabled=%d", id, n->enabled);
        break;
    case 1: {
        uint64_t a;
        id = random_placed(m);
        if (id < 0) {
            return;
        }
        n = &m->n[id];
        /* In a 2^64 root, possibly into another window. */
        a = place_addr(m, n->parent, n->size);
        rc = gm_region_set_address(n->r, a, NULL);
        if (a != n->addr) {
            n->seq = ++m->seqctr;
        }
        n->addr = a;
        sort_kids(m, n->parent);
        snprintf(what, wlen, "node %d addr=%#" PRIx64, id, a);
        break;
    }
    case 2:
        id = 1 + (int)rnd_below(m, (uint64_t)m->nn - 1);
        n = &m->n[id];
        n->readonly = !n->readonly;
        rc = gm_region_set_readonly(n->r, n->readonly, NULL);
        snprintf(what, wlen, "node %d readonly=%d", id, n->readonly);
        break;
    case 3:
        id = random_of_kind(m, M_ALIAS);
        if (id < 0) {
            return;
        }
        n = &m->n[id];
        n->alias_off = rnd_below(m, m->n[n->target].size + 0x20);
        rc = gm_region_set_alias_offset(n->r, n->alias_off, NULL);
        snprintf(what, wlen, "node %d alias_off=%#" PRIx64, id, n->alias_off);
        break;
    case 4:
        id = random_of_kind(m, M_ROMD);
        if (id < 0) {
            return;
        }
        n = &m->n[id];
        n->romd = !n->romd;
        rc = gm_region_set_romd(n->r, n->romd, NULL);
        snprintf(what, wlen, "node %d romd=%d", id, n->romd);
        break;
    case 5: {
        int p, prio = random_prio(m);
        id = random_placed(m);
        if (id < 0) {
            return;
        }
        n = &m->n[id];
        p = n->parent;
        unplace(m, id);
        place(m, p, id, n->addr, prio);
        snprintf(what, wlen, "node %d re-added prio=%d", id, prio);
        break;
    }
    default:
        id = random_of_kind(m, M_ALIAS);
        if (id < 0) {
            return;
        }
        n = &m->n[id];
        n->size = 1 + rnd_below(m, m->n[n->target].size + 0x20);
        if (n->parent >= 0 && !fits(n->addr, n->size)) {
            /* Placed near the top: it must still end by 2^64. */
            n->size = (uint64_t)(GM_SIZE_2_64 - n->addr);
        }
        rc = gm_region_set_size(n->r, n->size, NULL);
        snprintf(what, wlen, "node %d size=%#" PRIx64, id, n->size);
        break;
    }
    if (rc) {
        fprintf(stderr, "mutation %s failed: %d\n", what, rc);
        exit(2);
    }
}

/*
 * The reference.
 */

struct hit {
    int id; /* terminating node, -1 in a hole */
    uint64_t off;
    bool ro;
};

static bool resolve_in(struct model *m, int id, uint64_t o, bool ro,
                       struct hit *h)
{
    const struct mnode *n = &m->n[id];

    if (!n->enabled || (!n->whole && o >= n->size)) {
        return false;
    }
    ro = ro || n->readonly;
    if (n->kind == M_ALIAS) {
        return resolve_in(m, n->target, n->alias_off + o, ro, h);
    }
    for (int i = 0; i < n->nkids; i++) {
        const struct mnode *c = &m->n[n->kids[i]];
        if (o >= c->addr && o - c->addr < c->size &&
            resolve_in(m, n->kids[i], o - c->addr, ro, h)) {
            return true;
        }
    }
    if (terminates(n->kind)) {
        h->id = id;
        h->off = o;
        h->ro = ro;
        return true;
    }
    return false;
}

static struct hit resolve(struct model *m, uint64_t addr)
{
    struct hit h = {-1, 0, false};

    if (!resolve_in(m, m->root, addr, false, &h)) {
        h.id = -1;
    }
    return h;
}

/* Bytes from @a (at most @max) in the same flat range as @h. */
static uint64_t run_len(struct model *m, uint64_t a, struct hit h, uint64_t max)
{
    uint64_t k = 1;

    while (k < max) {
        struct hit x = resolve(m, a + k);
        if (x.id != h.id || x.off != h.off + k || x.ro != h.ro) {
            break;
        }
        k++;
    }
    return k;
}

static bool big_endian(enum gm_endian e)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return e != GM_ENDIAN_LITTLE;
#else
    return e == GM_ENDIAN_BIG;
#endif
}

static uint64_t to_val(const uint8_t *b, unsigned size, enum gm_endian e)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < size; i++) {
        unsigned k = big_endian(e) ? i : size - 1 - i;
        v = (v << 8) | b[k];
    }
    return v;
}

static void to_bytes(uint64_t v, uint8_t *b, unsigned size, enum gm_endian e)
{
    for (unsigned i = 0; i < size; i++) {
        unsigned k = big_endian(e) ? size - 1 - i : i;
        b[k] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t mask_of(unsigned size)
{
    return size >= 8 ? UINT64_MAX : (1ULL << (size * 8)) - 1;
}

/* QEMU's memory_access_size(). */
static unsigned chunk_size(const struct gm_region_ops *o, uint64_t off,
                           uint64_t l)
{
    uint64_t max = o->valid.max_access_size ? o->valid.max_access_size : 4;
    unsigned sz = 8;

    if (!o->impl.unaligned) {
        uint64_t align = off & (~off + 1);
        if (align && align < max) {
            max = align;
        }
    }
    if (l > max) {
        l = max;
    }
    while (sz > l) {
        sz >>= 1;
    }
    return sz;
}

/* QEMU's memory_region_access_valid(). */
static bool ref_valid(const struct mnode *n, uint64_t off, unsigned size,
                      bool is_write)
{
    const struct gm_region_ops *o = &n->ops;

    if (n->accepts && !dev_accept(off, size, is_write)) {
        return false;
    }
    if (!o->valid.unaligned && (off & (size - 1))) {
        return false;
    }
    if (!o->valid.max_access_size) {
        return true;
    }
    return size >= o->valid.min_access_size && size <= o->valid.max_access_size;
}

static void exp_log(struct model *m, int id, bool w, uint64_t off,
                    unsigned size, uint64_t data)
{
    if (m->nexp < MAXCALLS) {
        m->exp[m->nexp] = (struct call){id, w, off, size, data};
    }
    m->nexp++;
}

/*
 * One device access of @size bytes whose value is in the device's order
 * (QEMU's memory_region_dispatch_read/write after the endianness
 * adjustment, with access_with_adjusted_size).
 */
static enum gm_result ref_dispatch(struct model *m, int id, uint64_t off,
                                   unsigned size, bool is_write, uint64_t *val)
{
    const struct mnode *n = &m->n[id];
    const struct gm_region_ops *o = &n->ops;
    unsigned imin = o->impl.min_access_size ? o->impl.min_access_size : 1;
    unsigned imax = o->impl.max_access_size ? o->impl.max_access_size : 4;
    unsigned asz = size < imax ? size : imax;
    bool big = big_endian(o->endianness);
    enum gm_result r = GM_RESULT_OK;
    uint64_t v = 0;

    if (!ref_valid(n, off, size, is_write)) {
        if (!is_write) {
            *val = m->fill ? mask_of(size) : 0; /* read as unassigned */
        }
        return GM_RESULT_DECODE_ERROR;
    }
    if (asz < imin) {
        asz = imin;
    }
    for (unsigned i = 0; i < size; i += asz) {
        int sh = big ? (int)(size - asz - i) * 8 : (int)i * 8;
        if (is_write) {
            uint64_t part = sh >= 0 ? *val >> sh : *val << -sh;
            exp_log(m, id, true, off + i, asz, part & mask_of(asz));
        } else {
            uint64_t part = dev_value(id, off + i, asz);
            exp_log(m, id, false, off + i, asz, part);
            part &= mask_of(asz);
            v |= sh >= 0 ? part << sh : part >> -sh;
        }
        if (n->with_attrs) {
            r |= dev_result(off + i, asz);
        }
    }
    if (!is_write) {
        *val = v & mask_of(size);
    }
    return r;
}

/* gm_space_read / gm_space_write (flatview_read/write_continue). */
static enum gm_result ref_rw(struct model *m, uint64_t addr, uint8_t *buf,
                             uint64_t len, bool is_write)
{
    enum gm_result res = GM_RESULT_OK;

    while (len) {
        struct hit h = resolve(m, addr);
        uint64_t l = 1;

        if (h.id < 0) {
            if (!is_write) {
                buf[0] = m->fill;
            }
            res |= GM_RESULT_DECODE_ERROR;
        } else {
            struct mnode *n = &m->n[h.id];
            bool direct = is_write ? n->kind == M_RAM || n->kind == M_ROM
                                   : n->kind == M_RAM || n->kind == M_ROM ||
                                         (n->kind == M_ROMD && n->romd);
            if (direct && !is_write) {
                buf[0] = n->shadow[h.off];
            } else if (direct) {
                if (h.ro) {
                    res |= GM_RESULT_ACCESS_ERROR;
                } else {
                    n->shadow[h.off] = buf[0];
                }
            } else if (n->kind == M_NULLIO) {
                if (!is_write) {
                    buf[0] = m->fill;
                }
                res |= GM_RESULT_DECODE_ERROR;
            } else {
                enum gm_endian e = n->ops.endianness;
                uint64_t v;
                l = chunk_size(&n->ops, h.off, run_len(m, addr, h, len));
                if (is_write) {
                    v = to_val(buf, (unsigned)l, e);
                    res |= ref_dispatch(m, h.id, h.off, (unsigned)l, true, &v);
                } else {
                    res |= ref_dispatch(m, h.id, h.off, (unsigned)l, false, &v);
                    to_bytes(v, buf, (unsigned)l, e);
                }
            }
        }
        buf += l;
        addr += l;
        len -= l;
    }
    return res;
}

/*
 * gm_space_load / gm_space_store: one device access when a single MMIO
 * range holds the whole access (address_space_ld/st), else as read/write.
 */
static enum gm_result ref_ldst(struct model *m, uint64_t addr, unsigned size,
                               enum gm_endian e, bool is_write, uint64_t *val)
{
    struct hit h = resolve(m, addr);
    uint8_t b[8];
    enum gm_result r;

    if (h.id >= 0 && is_mmio(m->n[h.id].kind) &&
        (is_write || m->n[h.id].kind == M_IO || !m->n[h.id].romd) &&
        run_len(m, addr, h, size) == size) {
        enum gm_endian de = m->n[h.id].ops.endianness;
        uint64_t v;

        if (is_write) {
            to_bytes(*val, b, size, e);
            v = to_val(b, size, de);
            return ref_dispatch(m, h.id, h.off, size, true, &v);
        }
        r = ref_dispatch(m, h.id, h.off, size, false, &v);
        to_bytes(v, b, size, de);
        *val = to_val(b, size, e);
        return r;
    }
    if (is_write) {
        to_bytes(*val, b, size, e);
        return ref_rw(m, addr, b, size, true);
    }
    r = ref_rw(m, addr, b, size, false);
    *val = to_val(b, size, e);
    return r;
}

/*
 * Checking.
 */

static bool check_calls(struct model *m)
{
    unsigned n = m->nact < m->nexp ? m->nact : m->nexp;

    if (m->nact > MAXCALLS || m->nexp > MAXCALLS) {
        snprintf(m->why, sizeof(m->why), "too many callbacks");
        return false;
    }
    for (unsigned i = 0; i < n; i++) {
        const struct call *a = &m->act[i], *x = &m->exp[i];
        if (a->id != x->id || a->is_write != x->is_write || a->off != x->off ||
            a->size != x->size || a->data != x->data) {
            snprintf(
                m->why, sizeof(m->why),
                "callback %u: got dev %d %s off %#" PRIx64
                " size %u data %#" PRIx64 ", expected dev %d %s off %#" PRIx64
                " size %u data %#" PRIx64,
                i, a->id, a->is_write ? "W" : "R", a->off, a->size, a->data,
                x->id, x->is_write ? "W" : "R", x->off, x->size, x->data);
            return false;
        }
    }
    if (m->nact != m->nexp) {
        snprintf(m->why, sizeof(m->why), "%u callbacks, expected %u", m->nact,
                 m->nexp);
        return false;
    }
    return true;
}

static bool check_ram(struct model *m)
{
    for (int i = 0; i < m->nn; i++) {
        const struct mnode *n = &m->n[i];
        if (n->shadow && memcmp(n->shadow, n->host, n->size) != 0) {
            uint64_t k = 0;
            while (n->shadow[k] == n->host[k]) {
                k++;
            }
            snprintf(m->why, sizeof(m->why),
                     "node %d byte %#" PRIx64 ": %#x, expected %#x", i, k,
                     n->host[k], n->shadow[k]);
            return false;
        }
    }
    return true;
}

static void dump_tree(struct model *m, int id, int depth)
{
    const struct mnode *n = &m->n[id];

    fprintf(stderr,
            "%*s[%d] %s%d @%#" PRIx64 " size %#" PRIx64 " prio %d seq %" PRIu64
            "%s%s",
            depth * 2, "", id, kind_names[n->kind], id, n->addr,
            n->whole ? 0 : n->size,
            n->prio, n->seq, n->enabled ? "" : " disabled",
            n->readonly ? " ro" : "");
    if (n->kind == M_ALIAS) {
        fprintf(stderr, " -> %d + %#" PRIx64, n->target, n->alias_off);
    }
    if (n->kind == M_ROMD) {
        fprintf(stderr, " romd=%d", n->romd);
    }
    if (is_mmio(n->kind)) {
        fprintf(stderr, " end=%d valid=%u-%u%s impl=%u-%u%s%s%s",
                n->ops.endianness, n->ops.valid.min_access_size,
                n->ops.valid.max_access_size, n->ops.valid.unaligned ? "u" : "",
                n->ops.impl.min_access_size, n->ops.impl.max_access_size,
                n->ops.impl.unaligned ? "u" : "", n->with_attrs ? " attrs" : "",
                n->accepts ? " accepts" : "");
    }
    fputc('\n', stderr);
    for (int i = n->nkids - 1; i >= 0; i--) {
        dump_tree(m, n->kids[i], depth + 1);
    }
}

static void dump(struct model *m)
{
    fprintf(stderr, "tree (children from the last to render to the "
                    "first):\n");
    if (m->high) {
        fprintf(stderr, "  (root of 2^64 bytes; windows at");
        for (int i = 0; i < m->nwin; i++) {
            fprintf(stderr, " %#" PRIx64, m->win[i].base);
        }
        fprintf(stderr, ")\n");
    }
    dump_tree(m, m->root, 1);
    fprintf(stderr, "unplaced:\n");
    for (int i = 1; i < m->nn; i++) {
        if (m->n[i].parent < 0) {
            dump_tree(m, i, 1);
        }
    }
}

/* Anywhere in the small root or in a window, and a little past it. */
static uint64_t anywhere(struct model *m)
{
    const struct window *w;

    if (!m->high) {
        return rnd_below(m, ROOT_SIZE + 0x100);
    }
    w = &m->win[rnd_below(m, (uint64_t)m->nwin)];
    /* Past the top window's end: wraps to the bottom of the space. */
    return w->base - 0x100 + rnd_below(m, WIN_SPAN + 0x200);
}

/*
 * The first address of an access of @len bytes near @a that does not run
 * past 2^64 (what an access wrapping around the space should do is not
 * what this test is about).
 */
static uint64_t clamp_end(uint64_t a, uint64_t len)
{
    return fits(a, len) ? a : (uint64_t)(GM_SIZE_2_64 - len);
}

/* An address near a region boundary most of the time. */
static uint64_t random_addr(struct model *m)
{
    if (rnd_below(m, 4) == 0) {
        return anywhere(m);
    }
    for (int tries = 0; tries < 20; tries++) {
        int id = random_placed(m);
        uint64_t base = 0, edge;
        int p;
        if (id < 0) {
            break;
        }
        for (p = id; p != m->root && p >= 0; p = m->n[p].parent) {
            base += m->n[p].addr;
        }
        if (p != m->root) {
            continue; /* in a detached subtree */
        }
        edge = base + (rnd_below(m, 2) ? m->n[id].size : 0);
        return edge - 40 + rnd_below(m, 80);
    }
    return anywhere(m);
}

/*
 * After a load (@w false: @v read, @x expected) or a store (@w true): the
 * device calls, the RAM contents, the value and the result must all agree
 * with the reference. False with m->why set otherwise.
 */
static bool check_ldst(struct model *m, bool w, uint64_t v, uint64_t x,
                       enum gm_result got, enum gm_result want)
{
    if (!check_calls(m) || (w && !check_ram(m))) {
        return false;
    }
    if (!w && v != x) {
        snprintf(m->why, sizeof(m->why),
                 "value %#" PRIx64 ", expected %#" PRIx64, v, x);
        return false;
    }
    if (got != want) {
        snprintf(m->why, sizeof(m->why), "result %d, expected %d", got, want);
        return false;
    }
    return true;
}

/* A window for a cache: mostly around a region's edge, up to 2 pages. */
static void cache_remake(struct model *m, int i)
{
    uint64_t addr = random_addr(m);
    uint64_t len = 1 + rnd_below(m, rnd_below(m, 2) ? 64 : 0x2000);

    addr = clamp_end(addr, len);
    gm_cache_destroy(&m->cache[i]);
    if (gm_cache_init(&m->cache[i], m->as, addr, len, rnd_below(m, 2) != 0,
                      NULL)) {
        fprintf(stderr, "gm_cache_init failed\n");
        exit(2);
    }
}

/* A load or store through a random cache, against the reference. */
static bool cache_access(struct model *m, bool w, char *what, size_t wlen)
{
    static const enum gm_endian ends[] = {GM_ENDIAN_NATIVE, GM_ENDIAN_LITTLE,
                                          GM_ENDIAN_BIG};
    struct gm_cache *c = &m->cache[rnd_below(m, NCACHES)];
    unsigned size = 1u << rnd_below(m, 4);
    enum gm_endian e = ends[rnd_below(m, 3)];
    /* Offsets mostly inside, some across or past the end. */
    uint64_t off = rnd_below(m, c->len + 8);
    bool inside = off + size <= c->len;
    uint64_t v = rnd(m), x = v;
    enum gm_result got, want;

    snprintf(what, wlen,
             "cache [%#" PRIx64 "+%#" PRIx64 "] %s off %#" PRIx64
             " size %u endian %d val %#" PRIx64,
             c->addr, c->len, w ? "store" : "load", off, size, e, v);
    if (w) {
        got = gm_cache_store(c, off, size, e, v);
        want = inside ? ref_ldst(m, c->addr + off, size, e, true, &x)
                      : GM_RESULT_DECODE_ERROR;
    } else {
        got = gm_cache_load(c, off, size, e, &v);
        /* Outside the window: a bad argument, all-ones whatever the space
         * chose. */
        x = size == 8 ? UINT64_MAX : (1ull << (8 * size)) - 1;
        want = inside ? ref_ldst(m, c->addr + off, size, e, false, &x)
                      : GM_RESULT_DECODE_ERROR;
    }
    return check_ldst(m, w, v, x, got, want);
}

/* One access; false with m->why set on a mismatch. */
static bool one_access(struct model *m, char *what, size_t wlen)
{
    static const enum gm_endian ends[] = {GM_ENDIAN_NATIVE, GM_ENDIAN_LITTLE,
                                          GM_ENDIAN_BIG};
    uint64_t addr = random_addr(m);
    unsigned op = (unsigned)rnd_below(m, 26);
    enum gm_result got, want;

    if (op >= 20) {
        return cache_access(m, op >= 23, what, wlen);
    }

    m->nact = m->nexp = 0;
    m->why[0] = '\0';
    if (op < 7) {
        uint8_t a[64], x[64];
        unsigned len = 1 + (unsigned)rnd_below(m, 64);
        addr = clamp_end(addr, len);
        snprintf(what, wlen, "read %#" PRIx64 " len %u", addr, len);
        memset(a, 0x5a, sizeof(a));
        got = gm_space_read(m->as, addr, a, len, GM_ATTRS_DEFAULT);
        want = ref_rw(m, addr, x, len, false);
        if (!check_calls(m)) {
            return false;
        }
        for (unsigned i = 0; i < len; i++) {
            if (a[i] != x[i]) {
                snprintf(m->why, sizeof(m->why),
                         "byte %u (addr %#" PRIx64 "): %#x, expected %#x", i,
                         addr + i, a[i], x[i]);
                return false;
            }
        }
    } else if (op < 12) {
        uint8_t d[64];
        unsigned len = 1 + (unsigned)rnd_below(m, 64);
        for (unsigned i = 0; i < len; i++) {
            d[i] = (uint8_t)rnd(m);
        }
        addr = clamp_end(addr, len);
        snprintf(what, wlen, "write %#" PRIx64 " len %u", addr, len);
        got = gm_space_write(m->as, addr, d, len, GM_ATTRS_DEFAULT);
        want = ref_rw(m, addr, d, len, true);
        if (!check_calls(m) || !check_ram(m)) {
            return false;
        }
    } else {
        unsigned size = 1u << rnd_below(m, 4);
        enum gm_endian e = ends[rnd_below(m, 3)];
        bool w = op >= 16;
        uint64_t v = rnd(m), x = v;
        addr = clamp_end(addr, size);
        snprintf(what, wlen, "%s %#" PRIx64 " size %u endian %d val %#" PRIx64,
                 w ? "store" : "load", addr, size, e, v);
        if (w) {
            got = gm_space_store(m->as, addr, size, e, v, GM_ATTRS_DEFAULT);
            want = ref_ldst(m, addr, size, e, true, &x);
        } else {
            got = gm_space_load(m->as, addr, size, e, &v, GM_ATTRS_DEFAULT);
            want = ref_ldst(m, addr, size, e, false, &x);
        }
        return check_ldst(m, w, v, x, got, want);
    }
    if (got != want) {
        snprintf(m->why, sizeof(m->why), "result %d, expected %d", got, want);
        return false;
    }
    return true;
}

static bool run_seed(uint64_t seed, unsigned ops, bool verbose)
{
    struct model *m = calloc(1, sizeof(*m));
    char what[160], mut[160] = "none";
    bool ok = true;

    if (!m) {
        return false;
    }
    m->rng = mix(seed) | 1;
    m->sys = gm_system_new(NULL);
    if (!m->sys) {
        free(m);
        return false;
    }
    gm_system_set_warn_handler(m->sys, NULL, NULL);
    build(m);
    m->as = gm_space_new(m->sys, m->n[m->root].r, "memory", NULL);
    if (!m->as) {
        fprintf(stderr, "gm_space_new failed\n");
        exit(2);
    }
    m->fill = seed % 2 ? 0x00 : 0xff;
    if (m->fill && gm_space_set_unassigned(m->as, GM_UNASSIGNED_ONES, NULL)) {
        fprintf(stderr, "gm_space_set_unassigned failed\n");
        exit(2);
    }
    if (gm_space_unassigned(m->as) !=
        (m->fill ? GM_UNASSIGNED_ONES : GM_UNASSIGNED_ZERO)) {
        fprintf(stderr, "seed %" PRIu64 ": unassigned reads as %d\n", seed,
                (int)gm_space_unassigned(m->as));
        exit(2);
    }
    for (int i = 0; i < NCACHES; i++) {
        cache_remake(m, i);
    }
    for (unsigned i = 0; i < ops && ok; i++) {
        if (i % 64 == 63) {
            mutate(m, mut, sizeof(mut));
        }
        if (i % 512 == 511) {
            cache_remake(m, (int)rnd_below(m, NCACHES));
        }
        if (!one_access(m, what, sizeof(what))) {
            fprintf(stderr,
                    "FAIL seed %" PRIu64 " access %u: %s: %s\n"
                    "  (last mutation: %s; unassigned reads %#04x)\n",
                    seed, i, what, m->why, mut, m->fill);
            if (verbose) {
                dump(m);
            }
            ok = false;
        }
    }
    for (int i = 0; i < NCACHES; i++) {
        gm_cache_destroy(&m->cache[i]);
    }
    for (int i = 0; i < m->nn; i++) {
        gm_region_unref(m->n[i].r);
        free(m->n[i].shadow);
    }
    if (gm_system_destroy(m->sys, NULL)) {
        fprintf(stderr, "seed %" PRIu64 ": gm_system_destroy failed\n", seed);
        ok = false;
    }
    free(m);
    return ok;
}

int main(int argc, char **argv)
{
    uint64_t first = 1;
    unsigned seeds = 20, ops = 5000, failed = 0;
    bool one = false, many = false;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
            first = strtoull(argv[++i], NULL, 0);
            one = true;
        } else if (!strcmp(argv[i], "--seeds") && i + 1 < argc) {
            seeds = (unsigned)strtoul(argv[++i], NULL, 0);
            many = true;
        } else if (!strcmp(argv[i], "--ops") && i + 1 < argc) {
            ops = (unsigned)strtoul(argv[++i], NULL, 0);
        } else {
            fprintf(stderr,
                    "usage: %s [--seed N] [--seeds K] [--ops N]\n",
                    argv[0]);
            return 2;
        }
    }
    /* --seed alone replays one seed, whatever the order of the options. */
    if (one && !many) {
        seeds = 1;
    }
    printf("model-access: seeds %" PRIu64 "..%" PRIu64 ", %u accesses each\n",
           first, first + seeds - 1, ops);
    fflush(stdout);
    for (unsigned s = 0; s < seeds; s++) {
        /* The tree is printed for the first failing seed only. */
        if (!run_seed(first + s, ops, failed == 0)) {
            failed++;
        }
    }
    printf("%u seeds x %u accesses: %u failed\n", seeds, ops, failed);
    printf("%u passed, %u failed\n", seeds - failed, failed);
    return failed ? 1 : 0;
}
