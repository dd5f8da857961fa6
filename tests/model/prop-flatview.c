/* SPDX-License-Identifier: MIT */
/*
 * prop-flatview.c - property (reference-model) test of the renderer, the
 * incremental commit, the flat-view sharing rule, listeners and ioeventfds.
 *
 * The program applies long random sequences of operations to random region
 * trees through the public API only, mirrors every operation that succeeded
 * in a shadow tree of its own (struct mreg), and after every outermost
 * commit compares what the library publishes with what a naive model says:
 *
 *   - the flat view of each address space against a brute-force resolver:
 *     every region extent is projected into absolute coordinates through
 *     every render path, the boundaries split the address space into
 *     elementary intervals, and each interval is resolved by a point walk of
 *     the shadow tree in render order (first match wins, a terminating
 *     region fills what its children left, readonly and non-volatile
 *     accumulate along the path); adjacent pieces of one region with
 *     contiguous offsets and equal attributes are then merged;
 *   - the flat-view root rule (follow whole aliases at offset 0 and
 *     containers whose single enabled child sits at 0): two spaces share a
 *     gm_flatview iff their resolved roots are equal, and gm_flatview_root()
 *     is the resolved root;
 *   - the state that each listener rebuilt from region_add / region_del /
 *     log_start / log_stop alone (ranges must never overlap on add, a del
 *     must name an existing range exactly, a nop must name an existing
 *     range, begin/commit must bracket every update);
 *   - the ioeventfds each listener rebuilt from eventfd_add / eventfd_del,
 *     against the set obtained by translating every ioeventfd of a region
 *     through each flat range of that region it intersects;
 *   - the getters of every region (address, size, flags, container, order
 *     of the children);
 *   - the dispatch table of each flat view, which accesses go through
 *     (gm_flatview_lookup() and gm_flatview_foreach() walk the range tree
 *     instead): one-byte loads, reads and stores, and DMA maps of RAM, at
 *     the first and last byte of every range, the bytes just outside, and
 *     the page and radix-block boundaries (multiples of 2^12, 2^21, 2^30,
 *     2^39, 2^48 and 2^57) next to them. Each must land where the model's
 *     view says: RAM-backed regions hold a hash of (region id, offset) in
 *     every byte, I/O regions and ROM devices record each callback
 *     (region id, offset, size) and read back a value derived from it, and
 *     holes and unassigned reservations give a decode error.
 *
 * Operations that must be refused (a child that already has a container, a
 * loop through children or aliases, a range past 2^64, deleting a
 * non-child, ...) are generated on purpose; they must return the documented
 * code with a message and change nothing (no listener event either).
 *
 * The run is split into epochs, each with a fresh gm_system holding three
 * address spaces: "A" rooted at a container, "B" rooted at an alias of A's
 * root (initially shared with A), "C" rooted at a container that starts
 * with a single child (shared with whatever the child resolves to). Each
 * epoch ends by tearing everything down (listeners unregistered with their
 * region_del replay checked, spaces and system destroyed, every reference
 * dropped), so the program is leak-free under LeakSanitizer.
 *
 * Usage: prop-flatview [--seed N] [--ops N] [--trace]. The seed defaults
 * to 1 and is printed first: `make check` passes fixed seeds, and only the
 * soak runs of `make fuzz` (scripts/fuzz.sh) pick random ones. Every
 * failure prints seed=N and the index of the operation; the run is a pure
 * function of the seed, so `--seed N` with at least as many operations
 * reproduces it, and --trace prints each operation before it runs.
 *
 * Model invariants: no cycles (the library refuses them, and the model
 * checks every add for a loop first); sizes are small (addresses mostly
 * 0..0x3000, some near the top of the space or straddling a radix-block
 * boundary; sizes mostly below 0x4000) except for occasional 2^64-sized
 * regions at 0, so the number of boundaries stays in the hundreds and the
 * brute force is cheap; the caller holds one reference on every live
 * region.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <guestmem/guestmem.h>

#include "harness.h"

typedef __int128 s128;

#define NREG 40          /* live regions per epoch, roots included */
#define NSPACE 3         /* address spaces per epoch */
#define NEFD 24          /* live ioeventfds per epoch */
#define NFDS 6           /* eventfd(2) descriptors shared by the run */
#define NLIS 5           /* 3 filtered + 1 global + 1 registered at times */
#define LIS_DYN 4        /* index of the listener registered on and off */
#define MAX_DEPTH 3      /* transaction nesting */
#define VISIT_MAX 200000 /* render-path visits per verification */
#define MAX_FAILS 20     /* stop reporting after this many failures */

/* Regions: a shadow of each region the test created and still holds. */
struct mreg {
    bool live;
    gm_region *h;
    enum gm_region_kind kind;
    char name[24];
    uint64_t addr;
    gm_u128 size;
    gm_u128 alloc; /* RAM-backed kinds: size at creation */
    int prio;      /* meaningful while in a container */
    bool enabled, readonly, nonvolatile, romd;
    uint8_t log;   /* dirty-log mask */
    int container; /* slot of the container, -1 when detached */
    int target;    /* alias target slot, -1 for other kinds */
    uint64_t alias_off;
    int nchild;
    int child[NREG]; /* children slots in render order */
    bool is_root;    /* root of an address space: never dropped */
    void *host;      /* RAM device memory, freed after the epoch */
    unsigned uid;    /* unique in the run: names the region in probes */
    uint8_t *mem;    /* RAM-backed kinds: gm_region_ram_ptr() */
    struct pdev *dev; /* I/O with callbacks, ROM devices; else NULL */
};

/* The opaque of a probed device: which region a callback is about. */
struct pdev {
    struct ctx *t;
    unsigned uid;
};

/* The last device callback, as the probes see it. */
struct pcall {
    unsigned n; /* callbacks since the probe began */
    unsigned uid;
    bool is_write;
    uint64_t off;
    unsigned size;
    uint64_t data;
};

/* An ioeventfd as the test registered it. */
struct mefd {
    bool live;
    int reg;
    uint64_t addr;
    unsigned size;
    bool match;
    uint64_t data;
    int fd;
};

/* One range of a (model or library) flat view. */
struct frange {
    s128 addr;
    s128 size;
    gm_region *region;
    int reg; /* model slot, -1 for ranges read from the library */
    s128 off;
    bool ro, nv, romd;
    uint8_t mask;
};

/* One ioeventfd of a space, in guest addresses. */
struct sefd {
    gm_space *space;
    uint64_t addr;
    uint64_t size;
    bool match;
    uint64_t data;
    int fd;
};

/* A range a listener was told about. */
struct lrange {
    gm_space *space;
    uint64_t addr;
    gm_u128 size;
    gm_region *region;
    uint64_t off;
    bool ro, romd, nv;
    uint8_t mask;      /* as last told (region_add, log_start/stop) */
    uint8_t prev_mask; /* at the begin of this update, 0 when added */
};

struct ctx;

/* A listener and the state it rebuilt from its events alone. */
struct lst {
    struct ctx *t;
    gm_listener *h;
    gm_space *filter;
    bool registered;
    bool in_update;
    bool global_log; /* as told by log_global_start/stop */
    char name[16];
    struct lrange *r;
    size_t nr, capr;
    struct sefd *e;
    size_t ne, cape;
};

/* Growable arrays of the verification. */
struct bounds {
    s128 *v;
    size_t n, cap;
};

struct rlist {
    struct frange *v;
    size_t n, cap;
};

struct elist {
    struct sefd *v;
    size_t n, cap;
};

struct opts {
    uint64_t seed;
    unsigned long ops;
    bool trace;
};

/* Everything of one run; no global mutable state besides the harness. */
struct ctx {
    uint64_t seed;
    uint64_t rng;
    unsigned long op;   /* global operation index */
    unsigned long nops; /* operations to run */
    bool trace;
    bool quiet;          /* failures no longer reported (cleanup) */
    int fails;
    unsigned long events; /* listener callbacks so far */
    unsigned long warnings;
    gm_system *sys;
    struct mreg reg[NREG];
    gm_space *space[NSPACE];
    int space_root[NSPACE];
    struct mefd efd[NEFD];
    int fds[NFDS];
    struct lst lis[NLIS];
    int depth;
    bool global_log; /* gm_system_log_global_start() is on */
    unsigned name_seq;
    unsigned long visits;
    bool overflow;
    struct bounds b;
    struct rlist view[NSPACE];
    int fvroot[NSPACE];
    struct rlist got;
    struct elist exp_efd[NSPACE];
    bool efd_skip[NSPACE];
    struct elist tmp_efd;
    void **deferred;
    size_t ndeferred, capdeferred;
    unsigned long stat_ok, stat_refused, stat_verify, stat_epochs;
    unsigned long stat_ranges, stat_efds, stat_shared;
    struct pcall call;
    uint64_t *probe; /* addresses of one space's probes */
    size_t nprobe, capprobe;
    unsigned long stat_probes;
};

/*
 * Failures, tracing, random numbers.
 */

static void __attribute__((format(printf, 3, 4)))
tfail(struct ctx *t, int line, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;

    t->fails++;
    if (t->fails > MAX_FAILS || t->quiet) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    HARNESS_FAIL("seed=%" PRIu64 " op=%lu (line %d): %s", t->seed, t->op, line,
                 buf);
}

#define TFAIL(t, ...) tfail((t), __LINE__, __VA_ARGS__)

static void __attribute__((format(printf, 2, 3)))
trace(struct ctx *t, const char *fmt, ...)
{
    va_list ap;

    if (!t->trace) {
        return;
    }
    printf("[%lu] ", t->op);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

/* splitmix64: small, fast, and a pure function of the seed. */
static uint64_t rnd(struct ctx *t)
{
    uint64_t z = (t->rng += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static unsigned rndn(struct ctx *t, unsigned n)
{
    return (unsigned)(rnd(t) % n);
}

static bool chance(struct ctx *t, unsigned pct)
{
    return rndn(t, 100) < pct;
}

/* Print a signed 128-bit value as hex into @buf (at least 40 bytes). */
static const char *hx(char *buf, s128 v)
{
    bool neg = v < 0;
    unsigned __int128 u = neg ? -(unsigned __int128)v : (unsigned __int128)v;
    uint64_t hi = (uint64_t)(u >> 64), lo = (uint64_t)u;

    if (hi) {
        snprintf(buf, 40, "%s0x%" PRIx64 "%016" PRIx64, neg ? "-" : "", hi, lo);
    } else {
        snprintf(buf, 40, "%s0x%" PRIx64, neg ? "-" : "", lo);
    }
    return buf;
}

static const char *kind_str(enum gm_region_kind k)
{
    switch (k) {
    case GM_REGION_CONTAINER:
        return "container";
    case GM_REGION_RAM:
        return "ram";
    case GM_REGION_ROM:
        return "rom";
    case GM_REGION_IO:
        return "io";
    case GM_REGION_ALIAS:
        return "alias";
    case GM_REGION_ROM_DEVICE:
        return "romdev";
    case GM_REGION_RAM_DEVICE:
        return "ramdev";
    }
    return "?";
}

static bool ram_backed(enum gm_region_kind k)
{
    return k == GM_REGION_RAM || k == GM_REGION_ROM ||
           k == GM_REGION_ROM_DEVICE || k == GM_REGION_RAM_DEVICE;
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);

    if (!q) {
        fprintf(stderr, "prop-flatview: out of memory\n");
        exit(2);
    }
    return q;
}

/* Make room for @need elements in @arr of capacity @cap. */
#define GROW(arr, need, cap)                                                   \
    do {                                                                       \
        if ((need) > (cap)) {                                                  \
            (cap) = (cap) ? 2 * (cap) : 64;                                    \
            (arr) = xrealloc((arr), (cap) * sizeof(*(arr)));                   \
        }                                                                      \
    } while (0)

/*
 * The shadow tree.
 */

static int slot_of(struct ctx *t, const gm_region *h)
{
    for (int i = 0; i < NREG; i++) {
        if (t->reg[i].live && t->reg[i].h == h) {
            return i;
        }
    }
    return -1;
}

static const char *rname(struct ctx *t, const gm_region *h)
{
    int s = h ? slot_of(t, h) : -1;

    return s >= 0 ? t->reg[s].name : (h ? "<unknown>" : "(none)");
}

/* Insert @c into @p's children: before the first of priority <= @prio. */
static void model_insert_child(struct ctx *t, int p, int c, int prio)
{
    struct mreg *pr = &t->reg[p];
    int i = 0;

    while (i < pr->nchild && t->reg[pr->child[i]].prio > prio) {
        i++;
    }
    memmove(&pr->child[i + 1], &pr->child[i],
            (size_t)(pr->nchild - i) * sizeof(int));
    pr->child[i] = c;
    pr->nchild++;
    t->reg[c].prio = prio;
    t->reg[c].container = p;
}

static void model_remove_child(struct ctx *t, int c)
{
    struct mreg *pr = &t->reg[t->reg[c].container];

    for (int i = 0; i < pr->nchild; i++) {
        if (pr->child[i] == c) {
            memmove(&pr->child[i], &pr->child[i + 1],
                    (size_t)(pr->nchild - i - 1) * sizeof(int));
            pr->nchild--;
            break;
        }
    }
    t->reg[c].container = -1;
}

static bool reaches_dfs(struct ctx *t, int from, int to, bool *seen)
{
    struct mreg *r = &t->reg[from];

    if (from == to) {
        return true;
    }
    if (seen[from]) {
        return false;
    }
    seen[from] = true;
    if (r->kind == GM_REGION_ALIAS) {
        return reaches_dfs(t, r->target, to, seen);
    }
    for (int i = 0; i < r->nchild; i++) {
        if (reaches_dfs(t, r->child[i], to, seen)) {
            return true;
        }
    }
    return false;
}

/* Whether @to is @from or lies inside it through children or aliases. */
static bool reaches(struct ctx *t, int from, int to)
{
    bool seen[NREG] = {false};

    return reaches_dfs(t, from, to, seen);
}

/* Number of render paths below @s (memoized in @memo, 0 = unknown). */
static uint64_t paths(struct ctx *t, int s, uint64_t *memo)
{
    struct mreg *r = &t->reg[s];
    uint64_t n = 1;

    if (memo[s]) {
        return memo[s];
    }
    if (r->kind == GM_REGION_ALIAS) {
        n += paths(t, r->target, memo);
    }
    for (int i = 0; i < r->nchild; i++) {
        n += paths(t, r->child[i], memo);
    }
    if (n > UINT32_MAX) {
        n = UINT32_MAX;
    }
    memo[s] = n;
    return n;
}

/* Whether rendering every space walks too many paths for the brute force. */
static bool too_many_paths(struct ctx *t)
{
    uint64_t memo[NREG] = {0}, total = 0;

    for (int i = 0; i < NSPACE; i++) {
        if (t->space[i]) {
            total += paths(t, t->space_root[i], memo);
        }
    }
    return total > 6000;
}

static bool is_alias_target(struct ctx *t, int s)
{
    for (int i = 0; i < NREG; i++) {
        if (t->reg[i].live && t->reg[i].kind == GM_REGION_ALIAS &&
            t->reg[i].target == s) {
            return true;
        }
    }
    return false;
}

static void dump_model(struct ctx *t)
{
    char b1[40], b2[40];

    fprintf(stderr, "model (seed=%" PRIu64 " op=%lu):\n", t->seed, t->op);
    for (int i = 0; i < NREG; i++) {
        struct mreg *r = &t->reg[i];

        if (!r->live) {
            continue;
        }
        fprintf(stderr,
                "  %-8s %-9s addr=%s size=%s prio=%d%s%s%s%s romd=%d "
                "log=%u in=%s",
                r->name, kind_str(r->kind), hx(b1, r->addr),
                hx(b2, (s128)r->size), r->prio, r->enabled ? "" : " DISABLED",
                r->readonly ? " ro" : "", r->nonvolatile ? " nv" : "",
                r->is_root ? " root" : "", r->romd, r->log,
                r->container >= 0 ? t->reg[r->container].name : "-");
        if (r->kind == GM_REGION_ALIAS) {
            fprintf(stderr, " -> %s @%s", t->reg[r->target].name,
                    hx(b1, r->alias_off));
        }
        if (r->nchild) {
            fprintf(stderr, " children:");
            for (int j = 0; j < r->nchild; j++) {
                fprintf(stderr, " %s", t->reg[r->child[j]].name);
            }
        }
        fputc('\n', stderr);
    }
    for (int i = 0; i < NEFD; i++) {
        struct mefd *e = &t->efd[i];

        if (e->live) {
            fprintf(stderr, "  eventfd %s @0x%" PRIx64 " size %u%s fd %d\n",
                    t->reg[e->reg].name, e->addr, e->size,
                    e->match ? " match" : "", e->fd);
        }
    }
    for (int i = 0; i < NSPACE; i++) {
        if (t->space[i]) {
            fprintf(stderr, "  space %d root %s\n", i,
                    t->reg[t->space_root[i]].name);
        }
    }
}

/*
 * The brute-force resolver.
 */

/* Push the clipped extent of every region visible through any path. */
static void collect(struct ctx *t, int s, s128 base, s128 lo, s128 hi)
{
    struct mreg *r = &t->reg[s];
    s128 a, b;

    if (!r->enabled) {
        return;
    }
    if (++t->visits > VISIT_MAX) {
        t->overflow = true;
        return;
    }
    base += (s128)r->addr;
    a = base > lo ? base : lo;
    b = base + (s128)r->size < hi ? base + (s128)r->size : hi;
    if (a >= b) {
        return;
    }
    GROW(t->b.v, t->b.n + 1, t->b.cap);
    t->b.v[t->b.n++] = a;
    GROW(t->b.v, t->b.n + 1, t->b.cap);
    t->b.v[t->b.n++] = b;
    if (r->kind == GM_REGION_ALIAS) {
        struct mreg *tg = &t->reg[r->target];

        collect(t, r->target, base - (s128)tg->addr - (s128)r->alias_off, a, b);
        return;
    }
    for (int i = 0; i < r->nchild; i++) {
        collect(t, r->child[i], base, a, b);
    }
}

struct hit {
    int reg;
    s128 off;
    bool ro, nv;
};

/* Which terminating region owns @x when rendering @s at @base. */
static bool resolve(struct ctx *t, int s, s128 base, s128 x, bool ro, bool nv,
                    struct hit *h)
{
    struct mreg *r = &t->reg[s];

    if (!r->enabled) {
        return false;
    }
    base += (s128)r->addr;
    if (x < base || x >= base + (s128)r->size) {
        return false;
    }
    ro |= r->readonly;
    nv |= r->nonvolatile;
    if (r->kind == GM_REGION_ALIAS) {
        struct mreg *tg = &t->reg[r->target];

        return resolve(t, r->target, base - (s128)tg->addr - (s128)r->alias_off,
                       x, ro, nv, h);
    }
    for (int i = 0; i < r->nchild; i++) {
        if (resolve(t, r->child[i], base, x, ro, nv, h)) {
            return true;
        }
    }
    if (r->kind == GM_REGION_CONTAINER) {
        return false;
    }
    h->reg = s;
    h->off = x - base;
    h->ro = ro;
    h->nv = nv;
    return true;
}

/* qsort() that accepts an empty (possibly NULL) array. */
static void sort(void *base, size_t n, size_t size,
                 int (*cmp)(const void *, const void *))
{
    if (n > 1) {
        qsort(base, n, size, cmp);
    }
}

static int cmp_s128(const void *a, const void *b)
{
    s128 x = *(const s128 *)a, y = *(const s128 *)b;

    return x < y ? -1 : x > y;
}

/* QEMU's flat-view root rule, on the shadow tree. -1 means no root. */
static int model_fvroot(struct ctx *t, int s)
{
    while (s >= 0 && t->reg[s].enabled) {
        struct mreg *r = &t->reg[s];

        if (r->kind == GM_REGION_ALIAS) {
            if (r->alias_off == 0 && r->size >= t->reg[r->target].size) {
                s = r->target;
                continue;
            }
        } else if (r->kind == GM_REGION_CONTAINER) {
            int found = 0, next = -1;

            for (int i = 0; i < r->nchild; i++) {
                struct mreg *c = &t->reg[r->child[i]];

                if (!c->enabled) {
                    continue;
                }
                if (++found > 1) {
                    next = -1;
                    break;
                }
                if (c->addr == 0 && r->size >= c->size) {
                    next = r->child[i];
                }
            }
            if (found == 0) {
                return -1;
            }
            if (next >= 0) {
                s = next;
                continue;
            }
        }
        return s;
    }
    return -1;
}

/* Render the view of region @root into @out (brute force). */
static void model_render(struct ctx *t, int root, struct rlist *out)
{
    out->n = 0;
    if (root < 0) {
        return;
    }
    t->b.n = 0;
    t->visits = 0;
    collect(t, root, 0, 0, (s128)GM_SIZE_2_64);
    sort(t->b.v, t->b.n, sizeof(s128), cmp_s128);
    for (size_t i = 0; i + 1 < t->b.n; i++) {
        s128 a = t->b.v[i], z = t->b.v[i + 1];
        struct frange *p;
        struct hit h;

        if (a == z || !resolve(t, root, 0, a, false, false, &h)) {
            continue;
        }
        p = out->n ? &out->v[out->n - 1] : NULL;
        if (p && p->reg == h.reg && p->addr + p->size == a &&
            p->off + p->size == h.off && p->ro == h.ro && p->nv == h.nv) {
            p->size += z - a;
            continue;
        }
        GROW(out->v, out->n + 1, out->cap);
        p = &out->v[out->n++];
        p->addr = a;
        p->size = z - a;
        p->reg = h.reg;
        p->region = t->reg[h.reg].h;
        p->off = h.off;
        p->ro = h.ro;
        p->nv = h.nv;
        p->romd = t->reg[h.reg].romd;
        p->mask = t->reg[h.reg].log;
        if (t->global_log && ram_backed(t->reg[h.reg].kind)) {
            p->mask |= 1u << GM_DIRTY_MIGRATION;
        }
    }
}

static int cmp_sefd(const void *pa, const void *pb)
{
    const struct sefd *a = pa, *b = pb;

    if (a->space != b->space) {
        return (uintptr_t)a->space < (uintptr_t)b->space ? -1 : 1;
    }
    if (a->addr != b->addr) {
        return a->addr < b->addr ? -1 : 1;
    }
    if (a->size != b->size) {
        return a->size < b->size ? -1 : 1;
    }
    if (a->match != b->match) {
        return a->match < b->match ? -1 : 1;
    }
    if (a->data != b->data) {
        return a->data < b->data ? -1 : 1;
    }
    return a->fd < b->fd ? -1 : a->fd > b->fd;
}

/*
 * Expected ioeventfds of space @i: each ioeventfd of a region, shifted
 * into guest addresses through every flat range of that region it
 * intersects (a size-0 ioeventfd intersects a range containing its start).
 */
static void model_efds(struct ctx *t, int i)
{
    struct elist *out = &t->exp_efd[i];
    struct rlist *v = &t->view[i];

    out->n = 0;
    t->efd_skip[i] = false;
    for (size_t k = 0; k < v->n; k++) {
        struct frange *fr = &v->v[k];

        for (int j = 0; j < NEFD; j++) {
            struct mefd *e = &t->efd[j];
            s128 start;
            bool hit;

            if (!e->live || e->reg != fr->reg) {
                continue;
            }
            start = (s128)e->addr + fr->addr - fr->off;
            hit = (start >= fr->addr && start < fr->addr + fr->size) ||
                  (fr->addr >= start && fr->addr < start + (s128)e->size);
            if (!hit) {
                continue;
            }
            if (start < 0) {
                /* Not representable in a uint64_t: do not compare. */
                t->efd_skip[i] = true;
                continue;
            }
            GROW(out->v, out->n + 1, out->cap);
            out->v[out->n++] = (struct sefd){
                .space = t->space[i],
                .addr = (uint64_t)start,
                .size = e->size,
                .match = e->match,
                .data = e->match ? e->data : 0,
                .fd = e->fd,
            };
        }
    }
    sort(out->v, out->n, sizeof(*out->v), cmp_sefd);
}

/*
 * Listener callbacks: rebuild the state from the events alone.
 */

static int space_index(struct ctx *t, const gm_space *as)
{
    for (int i = 0; i < NSPACE; i++) {
        if (as && t->space[i] == as) {
            return i;
        }
    }
    return -1;
}

static bool lis_event(struct lst *l, const struct gm_section *s,
                      const char *what, bool need_update)
{
    struct ctx *t = l->t;

    t->events++;
    if (!l->registered) {
        TFAIL(t, "%s: %s after unregister", l->name, what);
        return false;
    }
    if (need_update && !l->in_update) {
        TFAIL(t, "%s: %s outside begin/commit", l->name, what);
    }
    if (!s) {
        return true;
    }
    if (space_index(t, s->space) < 0) {
        TFAIL(t, "%s: %s for unknown space %p", l->name, what,
              (void *)s->space);
        return false;
    }
    if (l->filter && s->space != l->filter) {
        TFAIL(t, "%s: %s for space %s, filter %s", l->name, what,
              gm_space_name(s->space), gm_space_name(l->filter));
        return false;
    }
    return true;
}

static void describe_section(struct ctx *t, char *buf, size_t n,
                             const struct gm_section *s)
{
    char b1[40], b2[40], b3[40];

    snprintf(buf, n, "%s [%s +%s) %s @%s%s%s%s mask=%u",
             s->space ? gm_space_name(s->space) : "-", hx(b1, s->addr),
             hx(b2, (s128)s->size), rname(t, s->region),
             hx(b3, s->offset_in_region), s->readonly ? " ro" : "",
             s->nonvolatile ? " nv" : "", s->romd ? " romd" : "",
             s->dirty_log_mask);
}

static bool lrange_same(const struct lrange *r, const struct gm_section *s)
{
    return r->space == s->space && r->addr == s->addr && r->size == s->size &&
           r->region == s->region && r->off == s->offset_in_region &&
           r->ro == s->readonly && r->romd == s->romd &&
           r->nv == s->nonvolatile;
}

static struct lrange *lis_find(struct lst *l, const struct gm_section *s)
{
    for (size_t i = 0; i < l->nr; i++) {
        if (lrange_same(&l->r[i], s)) {
            return &l->r[i];
        }
    }
    return NULL;
}

static void cb_begin(void *opaque)
{
    struct lst *l = opaque;

    if (!lis_event(l, NULL, "begin", false)) {
        return;
    }
    if (l->in_update) {
        TFAIL(l->t, "%s: nested begin", l->name);
    }
    l->in_update = true;
    for (size_t i = 0; i < l->nr; i++) {
        l->r[i].prev_mask = l->r[i].mask;
    }
}

static void cb_commit(void *opaque)
{
    struct lst *l = opaque;

    if (!lis_event(l, NULL, "commit", false)) {
        return;
    }
    if (!l->in_update) {
        TFAIL(l->t, "%s: commit without begin", l->name);
    }
    l->in_update = false;
}

static void cb_region_add(void *opaque, const struct gm_section *s)
{
    struct lst *l = opaque;
    char buf[256];

    if (!lis_event(l, s, "region_add", true)) {
        return;
    }
    describe_section(l->t, buf, sizeof(buf), s);
    if (s->size == 0 || (gm_u128)s->addr + s->size > GM_SIZE_2_64) {
        TFAIL(l->t, "%s: region_add of a bad range %s", l->name, buf);
        return;
    }
    for (size_t i = 0; i < l->nr; i++) {
        struct lrange *r = &l->r[i];

        if (r->space == s->space && r->addr < s->addr + s->size &&
            s->addr < r->addr + r->size) {
            char b1[40], b2[40];

            TFAIL(l->t, "%s: region_add %s overlaps [%s +%s) %s", l->name, buf,
                  hx(b1, r->addr), hx(b2, (s128)r->size),
                  rname(l->t, r->region));
            return;
        }
    }
    GROW(l->r, l->nr + 1, l->capr);
    l->r[l->nr++] = (struct lrange){
        .space = s->space,
        .addr = s->addr,
        .size = s->size,
        .region = s->region,
        .off = s->offset_in_region,
        .ro = s->readonly,
        .romd = s->romd,
        .nv = s->nonvolatile,
        .mask = s->dirty_log_mask,
        .prev_mask = 0,
    };
}

static void cb_region_del(void *opaque, const struct gm_section *s)
{
    struct lst *l = opaque;
    struct lrange *r;
    char buf[256];

    if (!lis_event(l, s, "region_del", true)) {
        return;
    }
    r = lis_find(l, s);
    if (!r) {
        describe_section(l->t, buf, sizeof(buf), s);
        TFAIL(l->t, "%s: region_del of an unknown range %s", l->name, buf);
        return;
    }
    *r = l->r[--l->nr];
}

static void cb_region_nop(void *opaque, const struct gm_section *s)
{
    struct lst *l = opaque;
    char buf[256];

    if (!lis_event(l, s, "region_nop", true)) {
        return;
    }
    if (!lis_find(l, s)) {
        describe_section(l->t, buf, sizeof(buf), s);
        TFAIL(l->t, "%s: region_nop of an unknown range %s", l->name, buf);
    }
}

static void cb_log(struct lst *l, const struct gm_section *s, unsigned old,
                   unsigned new, bool start)
{
    const char *what = start ? "log_start" : "log_stop";
    struct lrange *r;
    char buf[256];

    if (!lis_event(l, s, what, true)) {
        return;
    }
    describe_section(l->t, buf, sizeof(buf), s);
    r = lis_find(l, s);
    if (!r) {
        TFAIL(l->t, "%s: %s of an unknown range %s", l->name, what, buf);
        return;
    }
    if (old == new || (start && !(new & ~old)) || (!start && !(old & ~new))) {
        TFAIL(l->t, "%s: %s %u -> %u on %s: mask did not change that way",
              l->name, what, old, new, buf);
    }
    if (old != r->prev_mask) {
        TFAIL(l->t, "%s: %s old mask %u, the range had %u: %s", l->name, what,
              old, r->prev_mask, buf);
    }
    r->mask = (uint8_t) new;
}

static void cb_log_start(void *opaque, const struct gm_section *s,
                         unsigned old_mask, unsigned new_mask)
{
    cb_log(opaque, s, old_mask, new_mask, true);
}

static void cb_log_stop(void *opaque, const struct gm_section *s,
                        unsigned old_mask, unsigned new_mask)
{
    cb_log(opaque, s, old_mask, new_mask, false);
}

static void cb_log_global(struct lst *l, bool on)
{
    if (!lis_event(l, NULL, on ? "log_global_start" : "log_global_stop",
                   false)) {
        return;
    }
    if (l->global_log == on) {
        TFAIL(l->t, "%s: log_global_%s twice", l->name, on ? "start" : "stop");
    }
    l->global_log = on;
}

static void cb_log_global_start(void *opaque)
{
    cb_log_global(opaque, true);
}

static void cb_log_global_stop(void *opaque)
{
    cb_log_global(opaque, false);
}

static void cb_eventfd_add(void *opaque, const struct gm_section *s,
                           bool match_data, uint64_t data, int fd)
{
    struct lst *l = opaque;

    if (!lis_event(l, s, "eventfd_add", false)) {
        return;
    }
    GROW(l->e, l->ne + 1, l->cape);
    l->e[l->ne++] = (struct sefd){
        .space = s->space,
        .addr = s->addr,
        .size = (uint64_t)s->size,
        .match = match_data,
        .data = match_data ? data : 0,
        .fd = fd,
    };
}

static void cb_eventfd_del(void *opaque, const struct gm_section *s,
                           bool match_data, uint64_t data, int fd)
{
    struct lst *l = opaque;
    struct sefd key;

    if (!lis_event(l, s, "eventfd_del", false)) {
        return;
    }
    key = (struct sefd){
        .space = s->space,
        .addr = s->addr,
        .size = (uint64_t)s->size,
        .match = match_data,
        .data = match_data ? data : 0,
        .fd = fd,
    };
    for (size_t i = 0; i < l->ne; i++) {
        if (cmp_sefd(&l->e[i], &key) == 0) {
            l->e[i] = l->e[--l->ne];
            return;
        }
    }
    TFAIL(l->t,
          "%s: eventfd_del of unknown %s @0x%" PRIx64 " size %" PRIu64 " fd %d",
          l->name, gm_space_name(s->space), key.addr, key.size, fd);
}

static const struct gm_listener_ops lis_ops = {
    .begin = cb_begin,
    .commit = cb_commit,
    .region_add = cb_region_add,
    .region_del = cb_region_del,
    .region_nop = cb_region_nop,
    .log_start = cb_log_start,
    .log_stop = cb_log_stop,
    .log_global_start = cb_log_global_start,
    .log_global_stop = cb_log_global_stop,
    .eventfd_add = cb_eventfd_add,
    .eventfd_del = cb_eventfd_del,
};

static void lis_register(struct ctx *t, int i, gm_space *filter, int prio)
{
    struct lst *l = &t->lis[i];
    gm_error err = {.code = 0};

    l->t = t;
    l->filter = filter;
    l->nr = 0;
    l->ne = 0;
    l->in_update = false;
    l->global_log = false;
    l->registered = true;
    snprintf(l->name, sizeof(l->name), "L%d%s%s", i, filter ? ":" : "",
             filter ? gm_space_name(filter) : "");
    trace(t, "register %s prio %d", l->name, prio);
    l->h = gm_listener_register(t->sys, &lis_ops, l, prio, filter, &err);
    if (!l->h) {
        TFAIL(t, "gm_listener_register: %d %s", err.code, err.msg);
        l->registered = false;
    }
}

static void lis_unregister(struct ctx *t, int i)
{
    struct lst *l = &t->lis[i];
    unsigned long ev = t->events;
    int rc;

    trace(t, "unregister %s", l->name);
    rc = gm_listener_unregister(l->h, NULL);
    if (rc) {
        TFAIL(t, "gm_listener_unregister(%s) = %d", l->name, rc);
        return;
    }
    l->registered = false;
    l->h = NULL;
    if (l->in_update) {
        TFAIL(t, "%s: unregister left an update open", l->name);
    }
    if (l->nr) {
        TFAIL(t, "%s: %zu ranges left after unregister (%lu events)", l->name,
              l->nr, t->events - ev);
    }
    if (l->ne) {
        TFAIL(t, "%s: %zu ioeventfds left after unregister", l->name, l->ne);
    }
    l->nr = 0;
    l->ne = 0;
}

/*
 * Verification against the library.
 */

static int fv_collect(const struct gm_section *s, void *opaque)
{
    struct rlist *out = opaque;
    struct frange *f;

    GROW(out->v, out->n + 1, out->cap);
    f = &out->v[out->n++];
    f->addr = s->addr;
    f->size = (s128)s->size;
    f->region = s->region;
    f->reg = -1;
    f->off = s->offset_in_region;
    f->ro = s->readonly;
    f->nv = s->nonvolatile;
    f->romd = s->romd;
    f->mask = s->dirty_log_mask;
    return 0;
}

static bool frange_eq(const struct frange *a, const struct frange *b)
{
    return a->addr == b->addr && a->size == b->size && a->region == b->region &&
           a->off == b->off && a->ro == b->ro && a->nv == b->nv &&
           a->romd == b->romd && a->mask == b->mask;
}

static void print_ranges(struct ctx *t, const char *title,
                         const struct rlist *l)
{
    char b1[40], b2[40], b3[40];

    fprintf(stderr, "  %s (%zu ranges):\n", title, l->n);
    for (size_t i = 0; i < l->n && i < 60; i++) {
        const struct frange *f = &l->v[i];

        fprintf(stderr, "    [%s +%s) %s @%s%s%s%s mask=%u\n", hx(b1, f->addr),
                hx(b2, f->size), rname(t, f->region), hx(b3, f->off),
                f->ro ? " ro" : "", f->nv ? " nv" : "", f->romd ? " romd" : "",
                f->mask);
    }
}

static bool compare_ranges(struct ctx *t, const char *what,
                           const struct rlist *exp, const struct rlist *got)
{
    size_t i;

    for (i = 0; i < exp->n && i < got->n; i++) {
        if (!frange_eq(&exp->v[i], &got->v[i])) {
            break;
        }
    }
    if (i == exp->n && i == got->n) {
        return true;
    }
    TFAIL(t, "%s differs from the model at range %zu", what, i);
    if (t->fails <= 3) {
        print_ranges(t, "expected", exp);
        print_ranges(t, "got", got);
        dump_model(t);
    }
    return false;
}

static void compare_efds(struct ctx *t, const char *what,
                         const struct elist *exp, struct sefd *got, size_t ngot)
{
    size_t i;

    sort(got, ngot, sizeof(*got), cmp_sefd);
    for (i = 0; i < exp->n && i < ngot; i++) {
        if (cmp_sefd(&exp->v[i], &got[i]) != 0) {
            break;
        }
    }
    if (i == exp->n && i == ngot) {
        return;
    }
    TFAIL(t, "%s: ioeventfds differ at %zu (expected %zu, got %zu)", what, i,
          exp->n, ngot);
    if (t->fails <= 3) {
        for (size_t k = 0; k < exp->n; k++) {
            fprintf(stderr,
                    "  expected @0x%" PRIx64 " size %" PRIu64
                    " match %d data %" PRIu64 " fd %d\n",
                    exp->v[k].addr, exp->v[k].size, exp->v[k].match,
                    exp->v[k].data, exp->v[k].fd);
        }
        for (size_t k = 0; k < ngot; k++) {
            fprintf(stderr,
                    "  got @0x%" PRIx64 " size %" PRIu64
                    " match %d data %" PRIu64 " fd %d\n",
                    got[k].addr, got[k].size, got[k].match, got[k].data,
                    got[k].fd);
        }
        dump_model(t);
    }
}

static int cmp_lrange(const void *pa, const void *pb)
{
    const struct lrange *a = pa, *b = pb;

    return a->addr < b->addr ? -1 : a->addr > b->addr;
}

/* Compare what listener @l rebuilt for space @i with the model. */
static void check_listener(struct ctx *t, struct lst *l, int i)
{
    char what[64];

    snprintf(what, sizeof(what), "%s view of space %s", l->name,
             gm_space_name(t->space[i]));
    t->got.n = 0;
    sort(l->r, l->nr, sizeof(*l->r), cmp_lrange);
    for (size_t k = 0; k < l->nr; k++) {
        struct lrange *r = &l->r[k];
        struct frange *f;

        if (r->space != t->space[i]) {
            continue;
        }
        GROW(t->got.v, t->got.n + 1, t->got.cap);
        f = &t->got.v[t->got.n++];
        f->addr = r->addr;
        f->size = (s128)r->size;
        f->region = r->region;
        f->reg = -1;
        f->off = r->off;
        f->ro = r->ro;
        f->nv = r->nv;
        f->romd = r->romd;
        f->mask = r->mask;
    }
    compare_ranges(t, what, &t->view[i], &t->got);
    if (t->efd_skip[i]) {
        return;
    }
    t->tmp_efd.n = 0;
    for (size_t k = 0; k < l->ne; k++) {
        if (l->e[k].space == t->space[i]) {
            GROW(t->tmp_efd.v, t->tmp_efd.n + 1, t->tmp_efd.cap);
            t->tmp_efd.v[t->tmp_efd.n++] = l->e[k];
        }
    }
    compare_efds(t, what, &t->exp_efd[i], t->tmp_efd.v, t->tmp_efd.n);
}

struct order_ctx {
    gm_region *v[NREG + 1];
    int n;
};

static int order_collect(gm_region *child, void *opaque)
{
    struct order_ctx *o = opaque;

    if (o->n <= NREG) {
        o->v[o->n++] = child;
    }
    return 0;
}

/* The getters of every live region against the shadow tree. */
static void check_regions(struct ctx *t)
{
    if (t->quiet) {
        return;
    }
    for (int i = 0; i < NREG; i++) {
        struct mreg *r = &t->reg[i];
        gm_region *c, *want;
        struct order_ctx o;

        if (!r->live) {
            continue;
        }
        if (gm_region_addr(r->h) != r->addr ||
            gm_region_size(r->h) != r->size ||
            gm_region_enabled(r->h) != r->enabled ||
            gm_region_readonly(r->h) != r->readonly ||
            gm_region_nonvolatile(r->h) != r->nonvolatile ||
            gm_region_romd(r->h) != r->romd ||
            gm_region_dirty_log_mask(r->h) != r->log) {
            char b1[40];

            TFAIL(t,
                  "getters of %s: addr 0x%" PRIx64 " size %s en %d ro %d "
                  "nv %d romd %d log %u",
                  r->name, gm_region_addr(r->h),
                  hx(b1, (s128)gm_region_size(r->h)), gm_region_enabled(r->h),
                  gm_region_readonly(r->h), gm_region_nonvolatile(r->h),
                  gm_region_romd(r->h), gm_region_dirty_log_mask(r->h));
            dump_model(t);
        }
        c = gm_region_container(r->h);
        want = r->container >= 0 ? t->reg[r->container].h : NULL;
        if (c != want) {
            TFAIL(t, "container of %s is %s, expected %s", r->name, rname(t, c),
                  rname(t, want));
        }
        if (r->container >= 0 && gm_region_priority(r->h) != r->prio) {
            TFAIL(t, "priority of %s is %d, expected %d", r->name,
                  gm_region_priority(r->h), r->prio);
        }
        if (r->kind == GM_REGION_ALIAS &&
            (gm_region_alias_offset(r->h) != r->alias_off ||
             gm_region_alias_target(r->h) != t->reg[r->target].h)) {
            TFAIL(t, "alias %s: offset 0x%" PRIx64 " target %s", r->name,
                  gm_region_alias_offset(r->h),
                  rname(t, gm_region_alias_target(r->h)));
        }
        o.n = 0;
        gm_region_foreach_subregion(r->h, order_collect, &o);
        bool same = o.n == r->nchild;

        for (int k = 0; same && k < o.n; k++) {
            same = o.v[k] == t->reg[r->child[k]].h;
        }
        if (!same) {
            TFAIL(t, "children of %s in a different order or set", r->name);
            fprintf(stderr, "  library:");
            for (int k = 0; k < o.n; k++) {
                fprintf(stderr, " %s", rname(t, o.v[k]));
            }
            fprintf(stderr, "\n  model:  ");
            for (int k = 0; k < r->nchild; k++) {
                fprintf(stderr, " %s", t->reg[r->child[k]].name);
            }
            fputc('\n', stderr);
        }
    }
}

/*
 * Recognizable contents: byte @off of the RAM-backed region @uid, and what
 * a device read of (@uid, @off, @size) returns. Both are fixed functions,
 * so a probe knows what it must read wherever it lands.
 */
static uint64_t hash64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint8_t ram_byte(unsigned uid, uint64_t off)
{
    return (uint8_t)hash64(((uint64_t)uid << 40) ^ off);
}

static uint64_t dev_value(unsigned uid, uint64_t off, unsigned size)
{
    return hash64(((uint64_t)uid << 44) ^ (off << 4) ^ size ^ 0x5a5a);
}

static void pdev_log(void *opaque, bool is_write, uint64_t off,
                     unsigned size, uint64_t data)
{
    struct pdev *d = opaque;
    struct pcall *c = &d->t->call;

    c->n++;
    c->uid = d->uid;
    c->is_write = is_write;
    c->off = off;
    c->size = size;
    c->data = data;
}

static uint64_t pdev_read(void *opaque, uint64_t off, unsigned size)
{
    struct pdev *d = opaque;
    uint64_t v = dev_value(d->uid, off, size);

    pdev_log(opaque, false, off, size, v);
    return v;
}

static void pdev_write(void *opaque, uint64_t off, uint64_t data,
                       unsigned size)
{
    pdev_log(opaque, true, off, size, data);
}

/* I/O regions with callbacks and ROM devices (out of romd mode). */
static const struct gm_region_ops pdev_ops = {
    .read = pdev_read,
    .write = pdev_write,
    .endianness = GM_ENDIAN_LITTLE,
};

/* Keep @p until the end of the epoch (the library may still hold it). */
static void defer_free(struct ctx *t, void *p)
{
    if (p) {
        GROW(t->deferred, t->ndeferred + 1, t->capdeferred);
        t->deferred[t->ndeferred++] = p;
    }
}

/*
 * Probes of the dispatch table: accesses at chosen addresses of a space,
 * each checked against the model's view of that space.
 */

#define A GM_ATTRS_DEFAULT

/* The model range of @v holding @x, or NULL in a hole (bisection). */
static const struct frange *model_at(const struct rlist *v, s128 x,
                                     size_t *idx)
{
    size_t lo = 0, hi = v->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (v->v[mid].addr <= x) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (lo == 0 || x >= v->v[lo - 1].addr + v->v[lo - 1].size) {
        return NULL;
    }
    *idx = lo - 1;
    return &v->v[lo - 1];
}

static void probe_add(struct ctx *t, s128 x)
{
    if (x >= 0 && x < (s128)GM_SIZE_2_64) {
        GROW(t->probe, t->nprobe + 1, t->capprobe);
        t->probe[t->nprobe++] = (uint64_t)x;
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/*
 * The probe addresses of view @v: the first and last byte of each range,
 * the bytes just outside, and on each side of both ends the multiples of
 * 2^12 (pages) and of 2^21 .. 2^57 (blocks of the radix levels) that
 * enclose it, with the bytes just below them. Sorted, without duplicates.
 */
static void probe_addrs(struct ctx *t, const struct rlist *v)
{
    static const unsigned shift[] = {12, 21, 30, 39, 48, 57};

    t->nprobe = 0;
    for (size_t k = 0; k < v->n; k++) {
        s128 ends[2] = {v->v[k].addr, v->v[k].addr + v->v[k].size};

        probe_add(t, ends[0] - 1);
        probe_add(t, ends[0]);
        probe_add(t, ends[1] - 1);
        probe_add(t, ends[1]);
        for (int e = 0; e < 2; e++) {
            for (size_t l = 0; l < sizeof(shift) / sizeof(shift[0]); l++) {
                s128 blk = (s128)1 << shift[l];
                s128 lo = ends[e] & ~(blk - 1);

                probe_add(t, lo - 1);
                probe_add(t, lo);
                probe_add(t, lo + blk - 1);
                probe_add(t, lo + blk);
            }
        }
    }
    sort(t->probe, t->nprobe, sizeof(*t->probe), cmp_u64);
    if (t->nprobe) {
        size_t n = 1;

        for (size_t k = 1; k < t->nprobe; k++) {
            if (t->probe[k] != t->probe[n - 1]) {
                t->probe[n++] = t->probe[k];
            }
        }
        t->nprobe = n;
    }
}

/* What an access to a byte of a range does, by the model. */
enum pkind {
    P_HOLE,    /* nothing there: a decode error */
    P_NULLIO,  /* an unassigned reservation: a decode error too */
    P_DIRECT,  /* reads come from the region's memory */
    P_DEVICE,  /* reads call the device */
};

static enum pkind read_kind(struct ctx *t, const struct frange *f)
{
    const struct mreg *m;

    if (!f) {
        return P_HOLE;
    }
    m = &t->reg[f->reg];
    if (m->kind == GM_REGION_IO) {
        return m->dev ? P_DEVICE : P_NULLIO;
    }
    if (m->kind == GM_REGION_ROM_DEVICE && !f->romd) {
        return P_DEVICE;
    }
    return P_DIRECT;
}

/* Whether an ioeventfd of slot @reg could take a write at @off. */
static bool efd_near(struct ctx *t, int reg, uint64_t off)
{
    for (int k = 0; k < NEFD; k++) {
        const struct mefd *e = &t->efd[k];

        if (e->live && e->reg == reg &&
            (e->addr > off ? e->addr - off : off - e->addr) < 8) {
            return true;
        }
    }
    return false;
}

/* A failed probe: "space S: KIND at ADDR: " and the details. */
#define PFAIL(t, as, kind, x, what, ...)                                       \
    do {                                                                       \
        char pb_[40];                                                          \
        TFAIL((t), "space %s: %s at %s: " what, gm_space_name(as), (kind),    \
              hx(pb_, (s128)(x)), __VA_ARGS__);                                \
    } while (0)

/* Where the model says @x lands, for messages. */
static void probe_where(struct ctx *t, const struct frange *f, uint64_t off,
                        char *buf, size_t n)
{
    if (!f) {
        snprintf(buf, n, "a hole");
    } else {
        snprintf(buf, n, "%s (uid %u) offset 0x%" PRIx64, t->reg[f->reg].name,
                 t->reg[f->reg].uid, off);
    }
}

/* Check the device calls of one access: none, or exactly @want. */
static bool probe_calls(struct ctx *t, const struct pcall *want)
{
    const struct pcall *c = &t->call;

    if (!want) {
        return c->n == 0;
    }
    return c->n == 1 && c->uid == want->uid && c->is_write == want->is_write &&
           c->off == want->off && c->size == want->size &&
           c->data == want->data;
}

/* Read the byte at @x (load or read, by @how) and check it. */
static void probe_read(struct ctx *t, gm_space *as, uint64_t x, unsigned how,
                       const struct frange *f, uint64_t off)
{
    const char *kind = how & 1 ? "1-byte read" : "1-byte load";
    const struct pcall *c = &t->call;
    struct pcall want = {0};
    enum gm_result r;
    uint64_t v = 0, exp = 0;
    char where[96];

    t->call.n = 0;
    if (how & 1) {
        uint8_t b = 0;

        r = gm_space_read(as, x, &b, 1, A);
        v = b;
    } else {
        r = gm_space_load(as, x, 1, GM_ENDIAN_LITTLE, &v, A);
    }
    probe_where(t, f, off, where, sizeof(where));
    switch (read_kind(t, f)) {
    case P_HOLE:
    case P_NULLIO:
        /* Only the result: the value of unassigned reads may change. */
        if (r != GM_RESULT_DECODE_ERROR || c->n) {
            PFAIL(t, as, kind, x,
                  "result %d and %u callbacks, expected a decode error "
                  "(model: %s)",
                  r, c->n, where);
        }
        break;
    case P_DIRECT:
        exp = ram_byte(t->reg[f->reg].uid, off);
        if (r != GM_RESULT_OK || v != exp || c->n) {
            PFAIL(t, as, kind, x,
                  "result %d value 0x%" PRIx64 " (%u callbacks), expected "
                  "0x%" PRIx64 " from %s",
                  r, v, c->n, exp, where);
        }
        break;
    case P_DEVICE:
        want = (struct pcall){
            .n = 1,
            .uid = t->reg[f->reg].uid,
            .off = off,
            .size = 1,
            .data = dev_value(t->reg[f->reg].uid, off, 1),
        };
        exp = want.data & 0xff;
        if (r != GM_RESULT_OK || v != exp || !probe_calls(t, &want)) {
            PFAIL(t, as, kind, x,
                  "result %d value 0x%" PRIx64 ", %u callbacks (last: uid "
                  "%u %s off 0x%" PRIx64 " size %u), expected 0x%" PRIx64
                  " from a read of %s",
                  r, v, c->n, c->uid, c->is_write ? "write" : "read", c->off,
                  c->size, exp, where);
        }
        break;
    }
}

/* Store one byte at @x and check where it went (RAM is restored). */
static void probe_store(struct ctx *t, gm_space *as, uint64_t x,
                        const struct frange *f, uint64_t off)
{
    const char *kind = "1-byte store";
    const struct mreg *m = f ? &t->reg[f->reg] : NULL;
    const struct pcall *c = &t->call;
    enum pkind pk = read_kind(t, f);
    struct pcall want = {0};
    enum gm_result r, exp;
    uint8_t val, old = 0;
    char where[96];

    if (m && m->kind == GM_REGION_RAM_DEVICE) {
        return; /* "MMIO semantics": how writes behave is not pinned down */
    }
    if (m && m->dev && efd_near(t, f->reg, off)) {
        return; /* an ioeventfd may take the write instead of the device */
    }
    val = (uint8_t)(x * 0x9d + 0x5b);
    if (m && m->mem) {
        /* A value the byte does not hold: a dropped write shows. */
        old = ram_byte(m->uid, off);
        val = (uint8_t)(old ^ 0xa5);
    }
    t->call.n = 0;
    r = gm_space_store(as, x, 1, GM_ENDIAN_LITTLE, val, A);
    probe_where(t, f, off, where, sizeof(where));
    if (pk == P_HOLE || pk == P_NULLIO) {
        if (r != GM_RESULT_DECODE_ERROR || c->n) {
            PFAIL(t, as, kind, x,
                  "result %d and %u callbacks, expected a decode error "
                  "(model: %s)",
                  r, c->n, where);
        }
        return;
    }
    if (m->dev) {
        /* I/O regions and ROM devices (in romd mode too) take writes. */
        want = (struct pcall){
            .n = 1,
            .uid = m->uid,
            .is_write = true,
            .off = off,
            .size = 1,
            .data = val,
        };
        if (r != GM_RESULT_OK || !probe_calls(t, &want)) {
            PFAIL(t, as, kind, x,
                  "result %d, %u callbacks (last: uid %u %s off 0x%" PRIx64
                  " size %u data 0x%" PRIx64 "), expected a write of 0x%x "
                  "to %s",
                  r, c->n, c->uid, c->is_write ? "write" : "read", c->off,
                  c->size, c->data, val, where);
        }
        return;
    }
    /* RAM and ROM: written unless the range is read-only. */
    exp = f->ro ? GM_RESULT_ACCESS_ERROR : GM_RESULT_OK;
    if (r != exp || c->n || m->mem[off] != (f->ro ? old : val)) {
        PFAIL(t, as, kind, x,
              "result %d (expected %d), %u callbacks, byte now 0x%x "
              "(expected 0x%x) at %s%s",
              r, exp, c->n, m->mem[off], f->ro ? old : val, where,
              f->ro ? ", read-only" : "");
    }
    m->mem[off] = old;
}

/*
 * A DMA read map at @x: a direct pointer into RAM or ROM at the model's
 * offset, as long as the ranges of that region continue at contiguous
 * offsets; nothing at all in a hole. Other kinds are bounced (not probed).
 */
static void probe_map(struct ctx *t, gm_space *as, const struct rlist *v,
                      uint64_t x, const struct frange *f, size_t idx,
                      uint64_t off)
{
    const char *kind = "read map";
    const struct mreg *m = f ? &t->reg[f->reg] : NULL;
    uint64_t len = 0x10000, want = 0;
    uint8_t *p;
    char where[96];

    if (m && m->kind != GM_REGION_RAM && m->kind != GM_REGION_ROM) {
        return;
    }
    if (f) {
        /* The map extends over following ranges of the same RAM. */
        s128 run = f->addr + f->size - (s128)x;
        const struct frange *prev = f;

        for (size_t k = idx + 1; k < v->n && run < (s128)len; k++) {
            const struct frange *n = &v->v[k];

            if (n->addr != prev->addr + prev->size || n->reg != f->reg ||
                n->off != prev->off + prev->size) {
                break;
            }
            run += n->size;
            prev = n;
        }
        want = run < (s128)len ? (uint64_t)run : len;
    }
    p = gm_space_map(as, x, &len, false, A);
    probe_where(t, f, off, where, sizeof(where));
    if (!f) {
        if (p || len) {
            PFAIL(t, as, kind, x,
                  "%p length 0x%" PRIx64 ", expected nothing (a hole)",
                  (void *)p, len);
        }
    } else if (p != m->mem + off || len != want) {
        PFAIL(t, as, kind, x,
              "%p length 0x%" PRIx64 ", expected %p length 0x%" PRIx64
              " in %s",
              (void *)p, len, (void *)(m->mem + off), want, where);
    }
    if (p) {
        gm_space_unmap(as, p, len, false, 0);
    }
}

/* Probe the dispatch table of space @i against the model's view. */
static void probe_space(struct ctx *t, int i)
{
    gm_space *as = t->space[i];
    const struct rlist *v = &t->view[i];

    probe_addrs(t, v);
    for (size_t k = 0; k < t->nprobe && !t->quiet && t->fails == 0; k++) {
        uint64_t x = t->probe[k];
        size_t idx = 0;
        const struct frange *f = model_at(v, (s128)x, &idx);
        uint64_t off = f ? (uint64_t)(f->off + ((s128)x - f->addr)) : 0;

        probe_read(t, as, x, (unsigned)k, f, off);
        probe_store(t, as, x, f, off);
        probe_map(t, as, v, x, f, idx, off);
        t->stat_probes++;
    }
}

/*
 * Full check, outside any transaction: flat views, roots, sharing,
 * listener states, ioeventfds, and accesses through the dispatch tables.
 */
static void verify(struct ctx *t)
{
    gm_flatview *fv[NSPACE] = {0};
    char what[64];
    bool same;

    if (t->quiet) {
        return;
    }
    t->stat_verify++;
    if (gm_transaction_depth(t->sys) != 0) {
        TFAIL(t, "transaction depth %u outside transactions",
              gm_transaction_depth(t->sys));
    }
    for (int i = 0; i < NSPACE; i++) {
        gm_region *root;

        if (!t->space[i]) {
            continue;
        }
        t->fvroot[i] = model_fvroot(t, t->space_root[i]);
        t->overflow = false;
        model_render(t, t->fvroot[i], &t->view[i]);
        if (t->overflow) {
            TFAIL(t, "model too large to render (test bug)");
            break;
        }
        model_efds(t, i);
        t->stat_ranges += t->view[i].n;
        t->stat_efds += t->exp_efd[i].n;
        fv[i] = gm_space_get_flatview(t->space[i]);
        if (!fv[i]) {
            TFAIL(t, "gm_space_get_flatview returned NULL");
            continue;
        }
        root = gm_flatview_root(fv[i]);
        if (root != (t->fvroot[i] >= 0 ? t->reg[t->fvroot[i]].h : NULL)) {
            TFAIL(t, "space %s: flat view root %s, model %s",
                  gm_space_name(t->space[i]), rname(t, root),
                  t->fvroot[i] >= 0 ? t->reg[t->fvroot[i]].name : "(none)");
        }
        t->got.n = 0;
        gm_flatview_foreach(fv[i], fv_collect, &t->got);
        snprintf(what, sizeof(what), "flat view of space %s",
                 gm_space_name(t->space[i]));
        same = compare_ranges(t, what, &t->view[i], &t->got);
        if (same && gm_flatview_nr_ranges(fv[i]) != t->got.n) {
            TFAIL(t, "%s: nr_ranges %zu, foreach gave %zu", what,
                  gm_flatview_nr_ranges(fv[i]), t->got.n);
        }
        /* Spot-check lookups at a few addresses. */
        for (int k = 0; k < 4 && t->view[i].n; k++) {
            struct frange *f = &t->view[i].v[rndn(t, (unsigned)t->view[i].n)];
            s128 a = f->addr +
                     (s128)(rnd(t) % (uint64_t)(f->size > 0x100000 ? 0x100000
                                                                   : f->size));
            struct gm_section s;

            if (!gm_flatview_lookup(fv[i], (uint64_t)a, &s) ||
                s.region != f->region || (s128)s.addr > a ||
                (s128)s.addr + (s128)s.size <= a ||
                (s128)s.offset_in_region - (s128)s.addr != f->off - f->addr) {
                char b1[40];

                TFAIL(t, "%s: lookup at %s does not match %s", what, hx(b1, a),
                      rname(t, f->region));
            }
        }
        /*
         * Accesses go through the dispatch table, not the tree walked
         * above; a view shared with an earlier space was probed already.
         */
        for (int j = 0; j < i; j++) {
            same = same && fv[j] != fv[i];
        }
        if (same) {
            probe_space(t, i);
        }
    }
    for (int i = 0; i < NSPACE; i++) {
        for (int j = i + 1; j < NSPACE; j++) {
            if (!fv[i] || !fv[j]) {
                continue;
            }
            t->stat_shared += fv[i] == fv[j];
            if ((fv[i] == fv[j]) != (t->fvroot[i] == t->fvroot[j])) {
                TFAIL(t, "spaces %s and %s: %s flat view, roots %s and %s",
                      gm_space_name(t->space[i]), gm_space_name(t->space[j]),
                      fv[i] == fv[j] ? "same" : "different",
                      t->fvroot[i] >= 0 ? t->reg[t->fvroot[i]].name : "(none)",
                      t->fvroot[j] >= 0 ? t->reg[t->fvroot[j]].name : "(none)");
            }
        }
    }
    for (int i = 0; i < NSPACE; i++) {
        gm_flatview_unref(fv[i]);
    }
    for (int k = 0; k < NLIS; k++) {
        struct lst *l = &t->lis[k];

        if (!l->registered) {
            continue;
        }
        if (l->in_update) {
            TFAIL(t, "%s: update still open after commit", l->name);
        }
        if (l->global_log != t->global_log) {
            TFAIL(t, "%s: told global logging %d, it is %d", l->name,
                  l->global_log, t->global_log);
        }
        for (size_t m = 0; m < l->nr; m++) {
            if (space_index(t, l->r[m].space) < 0) {
                TFAIL(t, "%s: range of a destroyed space", l->name);
                break;
            }
        }
        for (int i = 0; i < NSPACE; i++) {
            if (!t->space[i] || (l->filter && l->filter != t->space[i])) {
                continue;
            }
            check_listener(t, l, i);
        }
    }
    check_regions(t);
}

/*
 * Operations.
 */

static gm_u128 rand_size(struct ctx *t, bool zero, bool huge)
{
    unsigned c = rndn(t, 100);

    if (huge && c < 5) {
        switch (rndn(t, 4)) {
        case 0:
            return GM_SIZE_2_64;
        case 1:
            return GM_SIZE_2_64 - 1;
        case 2:
            return (gm_u128)1 << 63;
        default:
            return GM_SIZE_2_64 - 0x1000;
        }
    }
    if (zero && c < 9) {
        return 0;
    }
    if (c < 30) {
        return 0x100 * (1 + rndn(t, 16));
    }
    if (c < 45) {
        return 1 + rndn(t, 0x20);
    }
    if (c < 88) {
        return 1 + rndn(t, 0x1000);
    }
    return 0x1000 + rndn(t, 0x3001);
}

/* Containers are mostly large enough to hold the small address space. */
static gm_u128 container_size(struct ctx *t, bool huge)
{
    unsigned c = rndn(t, 100);

    if (c < 45) {
        return 0x4000;
    }
    if (c < 65) {
        return 0x1000 + rndn(t, 0x3001);
    }
    if (huge && c < 75) {
        return GM_SIZE_2_64;
    }
    return rand_size(t, true, huge);
}

static gm_u128 ram_size(struct ctx *t)
{
    return chance(t, 5) ? 0x10000 : 0x1000 * (1 + rndn(t, 3));
}

/*
 * An address that puts a region of @size (at most 1 MiB) across, or just
 * below, a multiple B of 2^21, 2^30, 2^39, 2^48 or 2^57: deep paths of the
 * dispatch radix, and blocks that a range only partly covers. B is a small
 * multiple half of the time, else one with random upper bits (below 2^63).
 */
static uint64_t boundary_addr(struct ctx *t, gm_u128 size)
{
    static const unsigned shift[] = {21, 30, 39, 48, 57};
    unsigned sh = shift[rndn(t, 5)];
    uint64_t k = chance(t, 50) ? 1 + rndn(t, 3) : (rnd(t) >> (sh + 1)) | 1;
    uint64_t below = rnd(t) % (uint64_t)(size < 0x2000 ? size + 1 : 0x2001);

    return (k << sh) - below;
}

/* An address for a region of @size; a legal one unless @bad. */
static uint64_t rand_addr(struct ctx *t, gm_u128 size, bool bad)
{
    unsigned c = rndn(t, 100);

    if (bad) {
        if (size == 0) {
            return 0;
        }
        return (uint64_t)(GM_SIZE_2_64 - size + 1 + rndn(t, 0x10));
    }
    if (size > 0x100000) {
        return c < 80 ? 0 : (uint64_t)(GM_SIZE_2_64 - size);
    }
    if (c < 40) {
        return 0x100 * rndn(t, 0x31);
    }
    if (c < 70) {
        return rndn(t, 0x3001);
    }
    if (c < 90) {
        return 0x1000 * rndn(t, 4);
    }
    if (c < 95) {
        return boundary_addr(t, size);
    }
    return (uint64_t)(GM_SIZE_2_64 - size);
}

/* A random live slot satisfying @pred, or -1. */
static int pick(struct ctx *t, bool (*pred)(struct ctx *t, int s))
{
    int cand[NREG], n = 0;

    for (int i = 0; i < NREG; i++) {
        if (t->reg[i].live && (!pred || pred(t, i))) {
            cand[n++] = i;
        }
    }
    return n ? cand[rndn(t, (unsigned)n)] : -1;
}

static bool p_detached(struct ctx *t, int s)
{
    return t->reg[s].container < 0;
}

static bool p_attached(struct ctx *t, int s)
{
    return t->reg[s].container >= 0;
}

static bool p_not_alias(struct ctx *t, int s)
{
    return t->reg[s].kind != GM_REGION_ALIAS;
}

static bool p_alias(struct ctx *t, int s)
{
    return t->reg[s].kind == GM_REGION_ALIAS;
}

static bool p_romdev(struct ctx *t, int s)
{
    return t->reg[s].kind == GM_REGION_ROM_DEVICE;
}

/* A non-alias region below a space root (through containers only). */
static bool p_visible_parent(struct ctx *t, int s)
{
    if (t->reg[s].kind == GM_REGION_ALIAS) {
        return false;
    }
    for (int depth = 0; s >= 0 && depth < NREG; depth++) {
        if (t->reg[s].is_root) {
            return true;
        }
        s = t->reg[s].container;
    }
    return false;
}

static bool p_resizable(struct ctx *t, int s)
{
    enum gm_region_kind k = t->reg[s].kind;

    return k == GM_REGION_CONTAINER || k == GM_REGION_ALIAS ||
           k == GM_REGION_IO;
}

static bool p_droppable(struct ctx *t, int s)
{
    return t->reg[s].container < 0 && !t->reg[s].is_root &&
           !is_alias_target(t, s);
}

static int live_regions(struct ctx *t)
{
    int n = 0;

    for (int i = 0; i < NREG; i++) {
        n += t->reg[i].live;
    }
    return n;
}

/* Check a call's result; @expect 1 means "any error". */
static bool expect_rc(struct ctx *t, const char *what, int rc, int expect,
                      const gm_error *err)
{
    if (expect == 1 ? rc >= 0 : rc != expect) {
        TFAIL(t, "%s returned %d (%s), expected %s%d", what, rc,
              rc ? err->msg : "", expect == 1 ? "an error, not " : "",
              expect == 1 ? 0 : expect);
        return false;
    }
    if (rc < 0 && (err->code != rc || !err->msg[0])) {
        TFAIL(t, "%s: error record code %d msg \"%s\" for %d", what, err->code,
              err->msg, rc);
    }
    if (rc < 0) {
        t->stat_refused++;
    } else {
        t->stat_ok++;
    }
    return true;
}

/* Create a region of @kind; returns its slot or -1. */
static int create_region(struct ctx *t, enum gm_region_kind kind, gm_u128 size,
                         int target, uint64_t off)
{
    int s = -1;
    struct mreg *r;
    gm_region *h = NULL;
    gm_error err = {.code = 0};
    char name[24];
    char b1[40];
    void *host = NULL;
    struct pdev *dev = NULL;
    unsigned uid = t->name_seq;

    for (int i = 0; i < NREG; i++) {
        if (!t->reg[i].live) {
            s = i;
            break;
        }
    }
    if (s < 0) {
        return -1;
    }
    snprintf(name, sizeof(name), "%c%u", "cmoiadv"[kind], t -> name_seq++);
    trace(t, "create %s %s size %s%s%s", kind_str(kind), name,
          hx(b1, (s128)size), kind == GM_REGION_ALIAS ? " -> " : "",
          kind == GM_REGION_ALIAS ? t->reg[target].name : "");
    switch (kind) {
    case GM_REGION_CONTAINER:
        h = gm_region_new_container(t->sys, name, size, &err);
        break;
    case GM_REGION_RAM:
        h = gm_region_new_ram(t->sys, name, size, &err);
        break;
    case GM_REGION_ROM:
        h = gm_region_new_rom(t->sys, name, size, &err);
        break;
    case GM_REGION_IO:
        /* Mostly devices; the others are unassigned reservations. */
        if (chance(t, 70)) {
            dev = malloc(sizeof(*dev));
            if (!dev) {
                return -1;
            }
            *dev = (struct pdev){.t = t, .uid = uid};
        }
        h = gm_region_new_io(t->sys, name, size, dev ? &pdev_ops : NULL, dev,
                             &err);
        break;
    case GM_REGION_ALIAS:
        h = gm_region_new_alias(t->sys, name, t->reg[target].h, off, size,
                                &err);
        break;
    case GM_REGION_ROM_DEVICE:
        dev = malloc(sizeof(*dev));
        if (!dev) {
            return -1;
        }
        *dev = (struct pdev){.t = t, .uid = uid};
        h = gm_region_new_rom_device(t->sys, name, size, &pdev_ops, dev,
                                     &err);
        break;
    case GM_REGION_RAM_DEVICE:
        host = calloc(1, (size_t)size);
        if (!host) {
            return -1;
        }
        h = gm_region_new_ram_device(t->sys, name, size, host, &err);
        break;
    }
    if (!h) {
        TFAIL(t, "creating %s %s failed: %d %s", kind_str(kind), name, err.code,
              err.msg);
        free(host);
        free(dev);
        return -1;
    }
    t->stat_ok++;
    r = &t->reg[s];
    memset(r, 0, sizeof(*r));
    r->live = true;
    r->h = h;
    r->kind = kind;
    snprintf(r->name, sizeof(r->name), "%s", name);
    r->size = size;
    r->alloc = size;
    r->enabled = true;
    /* Kind-dependent defaults: ROM is read-only, romd is the device's. */
    r->readonly = gm_region_readonly(h);
    r->romd = gm_region_romd(h);
    r->container = -1;
    r->target = kind == GM_REGION_ALIAS ? target : -1;
    r->alias_off = kind == GM_REGION_ALIAS ? off : 0;
    r->host = host;
    r->uid = uid;
    r->dev = dev;
    if (ram_backed(kind)) {
        /* Every byte says which region and offset it is. */
        r->mem = gm_region_ram_ptr(h);
        if (!r->mem) {
            TFAIL(t, "%s %s: no RAM pointer", kind_str(kind), name);
        }
        for (uint64_t i = 0; r->mem && i < (uint64_t)size; i++) {
            r->mem[i] = ram_byte(uid, i);
        }
    }
    if (kind == GM_REGION_ROM_DEVICE && !r->romd) {
        TFAIL(t, "ROM device %s not in romd mode at creation", name);
        r->romd = true;
    }
    if (strcmp(gm_region_name(h), name) != 0 || gm_region_kind(h) != kind) {
        TFAIL(t, "region %s: name \"%s\" kind %d", name, gm_region_name(h),
              (int)gm_region_kind(h));
    }
    return s;
}

static void op_create(struct ctx *t)
{
    unsigned c = rndn(t, 100);
    gm_u128 size;

    if (live_regions(t) >= NREG - 2) {
        return;
    }
    if (c < 25) {
        create_region(t, GM_REGION_CONTAINER, container_size(t, true), -1, 0);
    } else if (c < 43) {
        create_region(t, GM_REGION_IO, rand_size(t, false, true), -1, 0);
    } else if (c < 55) {
        create_region(t, GM_REGION_RAM, ram_size(t), -1, 0);
    } else if (c < 61) {
        create_region(t, GM_REGION_ROM, ram_size(t), -1, 0);
    } else if (c < 67) {
        create_region(t, GM_REGION_ROM_DEVICE, ram_size(t), -1, 0);
    } else if (c < 71) {
        create_region(t, GM_REGION_RAM_DEVICE, 0x1000, -1, 0);
    } else {
        int tg = pick(t, NULL);
        uint64_t off = chance(t, 40) ? 0 : rndn(t, 0x2000);

        if (tg < 0) {
            return;
        }
        if (chance(t, 15)) {
            /* Whole target at offset 0: candidate for flat-view roots. */
            off = 0;
            size = t->reg[tg].size;
        } else {
            size = rand_size(t, true, true);
        }
        if ((gm_u128)off + size > GM_SIZE_2_64) {
            /* Refused: offset + size past 2^64. */
            gm_error err = {.code = 0};
            gm_region *h;

            trace(t, "create alias off 0x%" PRIx64 " too large", off);
            h = gm_region_new_alias(t->sys, "bad", t->reg[tg].h, off, size,
                                    &err);
            if (h) {
                TFAIL(t,
                      "alias with offset 0x%" PRIx64 " + size past 2^64 "
                      "was accepted",
                      off);
                gm_region_unref(h);
            } else if (err.code != -EINVAL && err.code != -ERANGE) {
                TFAIL(t, "alias past 2^64: code %d", err.code);
            } else {
                t->stat_refused++;
            }
            return;
        }
        create_region(t, GM_REGION_ALIAS, size, tg, off);
    }
}

/* A parent for an add: often a space root or a visible container. */
static int pick_parent(struct ctx *t)
{
    if (chance(t, 30)) {
        int s = t->space_root[rndn(t, NSPACE)];

        if (t->reg[s].kind != GM_REGION_ALIAS) {
            return s;
        }
    }
    if (chance(t, 40)) {
        int s = pick(t, p_visible_parent);

        if (s >= 0) {
            return s;
        }
    }
    return pick(t, p_not_alias);
}

static bool p_detached_child(struct ctx *t, int s)
{
    return t->reg[s].container < 0 && (!t->reg[s].is_root || chance(t, 10));
}

static void op_add(struct ctx *t)
{
    int c = pick(t, p_detached_child), p = pick_parent(t);
    bool overlap = chance(t, 70);
    int prio = overlap ? (int)rndn(t, 6) - 2 : 0;
    bool loop, range;
    uint64_t addr;
    gm_error err = {.code = 0};
    int rc, expect;
    char b1[40];

    if (c < 0 || p < 0) {
        return;
    }
    /* Loops are tested by op_add_bad; mostly look for a legal child. */
    for (int i = 0; i < 4 && c >= 0 && reaches(t, c, p) && chance(t, 80); i++) {
        c = pick(t, p_detached_child);
    }
    if (c < 0) {
        return;
    }
    loop = reaches(t, c, p);
    addr = rand_addr(t, t->reg[c].size, chance(t, 3));
    range = (gm_u128)addr + t->reg[c].size > GM_SIZE_2_64;
    if (loop && range) {
        addr = 0;
        range = false;
    }
    expect = loop ? -ELOOP : range ? -ERANGE : 0;
    if (expect == 0) {
        /* Keep the brute force cheap: no trees with too many paths. */
        bool big;

        model_insert_child(t, p, c, prio);
        big = too_many_paths(t);
        model_remove_child(t, c);
        if (big) {
            return;
        }
    }
    trace(t, "add %s into %s at %s prio %d%s (expect %d)", t->reg[c].name,
          t->reg[p].name, hx(b1, addr), prio, overlap ? " overlap" : "",
          expect);
    if (overlap) {
        rc = gm_region_add_subregion_overlap(t->reg[p].h, addr, t->reg[c].h,
                                             prio, &err);
    } else {
        rc = gm_region_add_subregion(t->reg[p].h, addr, t->reg[c].h, &err);
    }
    if (expect_rc(t, "add_subregion", rc, expect, &err) && rc == 0) {
        t->reg[c].addr = addr;
        model_insert_child(t, p, c, prio);
    }
}

/* Refused adds: a child with a container, an alias parent, a loop. */
static void op_add_bad(struct ctx *t)
{
    int c, p, rc, expect;
    gm_error err = {.code = 0};
    unsigned how = rndn(t, 3);

    if (how == 0) {
        c = pick(t, p_attached);
        p = pick(t, p_not_alias);
        if (c < 0 || p < 0 || reaches(t, c, p)) {
            return;
        }
        expect = -EINVAL;
    } else if (how == 1) {
        c = pick(t, p_detached);
        p = pick(t, p_alias);
        if (c < 0 || p < 0 || reaches(t, c, p)) {
            return;
        }
        expect = -EINVAL;
    } else {
        /* Find a detached child that reaches some non-alias region. */
        int cand[NREG * NREG][2], n = 0;

        for (int i = 0; i < NREG; i++) {
            if (!t->reg[i].live || t->reg[i].container >= 0) {
                continue;
            }
            for (int j = 0; j < NREG; j++) {
                if (t->reg[j].live && t->reg[j].kind != GM_REGION_ALIAS &&
                    reaches(t, i, j)) {
                    cand[n][0] = i;
                    cand[n][1] = j;
                    n++;
                }
            }
        }
        if (!n) {
            return;
        }
        n = (int)rndn(t, (unsigned)n);
        c = cand[n][0];
        p = cand[n][1];
        expect = -ELOOP;
    }
    trace(t, "bad add %s into %s (expect %d)", t->reg[c].name, t->reg[p].name,
          expect);
    if (chance(t, 50)) {
        rc = gm_region_add_subregion(t->reg[p].h, 0, t->reg[c].h, &err);
    } else {
        rc = gm_region_add_subregion_overlap(t->reg[p].h, 0, t->reg[c].h, 1,
                                             &err);
    }
    expect_rc(t, "bad add_subregion", rc, expect, &err);
}

static void op_del(struct ctx *t)
{
    int c = pick(t, p_attached);
    gm_error err = {.code = 0};
    int rc;

    if (c < 0) {
        return;
    }
    trace(t, "del %s from %s", t->reg[c].name,
          t->reg[t->reg[c].container].name);
    rc = gm_region_del_subregion(t->reg[t->reg[c].container].h, t->reg[c].h,
                                 &err);
    if (expect_rc(t, "del_subregion", rc, 0, &err)) {
        model_remove_child(t, c);
    }
}

static void op_del_bad(struct ctx *t)
{
    int p = pick(t, p_not_alias), c = pick(t, NULL);
    gm_error err = {.code = 0};
    int rc;

    if (p < 0 || c < 0 || t->reg[c].container == p) {
        return;
    }
    trace(t, "bad del %s from %s", t->reg[c].name, t->reg[p].name);
    rc = gm_region_del_subregion(t->reg[p].h, t->reg[c].h, &err);
    expect_rc(t, "bad del_subregion", rc, -ENOENT, &err);
}

static void op_move(struct ctx *t)
{
    int s = pick(t, chance(t, 80) ? p_attached : NULL);
    struct mreg *r;
    bool bad = chance(t, 4);
    uint64_t addr;
    gm_error err = {.code = 0};
    int rc, expect;
    char b1[40];

    if (s < 0) {
        return;
    }
    r = &t->reg[s];
    addr = rand_addr(t, r->size, bad);
    /* Only a region inside a container has to fit below 2^64. */
    expect = r->container >= 0 && (gm_u128)addr + r->size > GM_SIZE_2_64
                 ? -ERANGE
                 : 0;
    trace(t, "move %s to %s (expect %d)", r->name, hx(b1, addr), expect);
    rc = gm_region_set_address(r->h, addr, &err);
    if (!expect_rc(t, "set_address", rc, expect, &err) || rc) {
        return;
    }
    if (addr != r->addr) {
        r->addr = addr;
        /*
         * QEMU's memory_region_set_address() re-adds the region, which
         * makes it the most recent among its priority.
         */
        if (r->container >= 0) {
            int p = r->container;

            model_remove_child(t, s);
            model_insert_child(t, p, s, r->prio);
        }
    }
}

static void op_resize(struct ctx *t)
{
    int s = pick(t, chance(t, 85) ? p_resizable : NULL);
    struct mreg *r;
    gm_u128 size;
    int expect = 0, rc;
    gm_error err = {.code = 0};
    char b1[40];

    if (s < 0) {
        return;
    }
    r = &t->reg[s];
    if (chance(t, 3)) {
        /* -EINVAL as the constructors, or -ERANGE as set_address. */
        size = GM_SIZE_2_64 + 1 + rndn(t, 4);
        expect = 1;
    } else if (ram_backed(r->kind)) {
        unsigned c = rndn(t, 10);

        if (c == 0) {
            size = r->alloc + 0x1000;
            expect = -EINVAL;
            if ((gm_u128)r->addr + size > GM_SIZE_2_64) {
                return;
            }
        } else if (c == 1) {
            size = 0;
            expect = -EINVAL;
        } else {
            size = 1 + rnd(t) % (uint64_t)r->alloc;
        }
    } else if (r->kind == GM_REGION_IO) {
        size = rand_size(t, false, r->addr == 0);
        if (chance(t, 4)) {
            size = 0;
            expect = -EINVAL;
        }
    } else if (r->is_root) {
        /* Roots keep covering the address space most of the time. */
        if (chance(t, 70)) {
            return;
        }
        size = chance(t, 50)   ? 0x4000
               : chance(t, 50) ? GM_SIZE_2_64
                               : rand_size(t, true, true);
        if (r->kind == GM_REGION_ALIAS &&
            (gm_u128)r->alias_off + size > GM_SIZE_2_64) {
            expect = 1;
        }
    } else if (r->kind == GM_REGION_CONTAINER) {
        size = container_size(t, r->addr == 0);
    } else {
        size = rand_size(t, true, r->addr == 0);
        if (r->kind == GM_REGION_ALIAS &&
            (gm_u128)r->alias_off + size > GM_SIZE_2_64) {
            expect = 1;
        }
    }
    if (expect == 0 && (gm_u128)r->addr + size > GM_SIZE_2_64) {
        return;
    }
    trace(t, "resize %s to %s (expect %d)", r->name, hx(b1, (s128)size),
          expect);
    rc = gm_region_set_size(r->h, size, &err);
    if (expect_rc(t, "set_size", rc, expect, &err) && rc == 0) {
        r->size = size;
    }
}

static void op_flag(struct ctx *t)
{
    int s = pick(t, NULL);
    struct mreg *r;
    bool v = chance(t, 50);
    gm_error err = {.code = 0};
    int rc;

    if (s < 0) {
        return;
    }
    r = &t->reg[s];
    switch (rndn(t, 4)) {
    case 0:
        /* Enabled more often than not, so that trees stay visible. */
        v = chance(t, r->is_root ? 92 : 70);
        trace(t, "enable %s %d", r->name, v);
        rc = gm_region_set_enabled(r->h, v, &err);
        if (expect_rc(t, "set_enabled", rc, 0, &err)) {
            r->enabled = v;
        }
        break;
    case 1:
        trace(t, "readonly %s %d", r->name, v);
        rc = gm_region_set_readonly(r->h, v, &err);
        if (expect_rc(t, "set_readonly", rc, 0, &err)) {
            r->readonly = v;
        }
        break;
    case 2:
        trace(t, "nonvolatile %s %d", r->name, v);
        rc = gm_region_set_nonvolatile(r->h, v, &err);
        if (expect_rc(t, "set_nonvolatile", rc, 0, &err)) {
            r->nonvolatile = v;
        }
        break;
    default:
        if (r->kind != GM_REGION_ROM_DEVICE && chance(t, 70)) {
            int s2 = pick(t, p_romdev);

            if (s2 >= 0) {
                r = &t->reg[s2];
            }
        }
        trace(t, "romd %s %d", r->name, v);
        rc = gm_region_set_romd(r->h, v, &err);
        if (r->kind == GM_REGION_ROM_DEVICE) {
            if (expect_rc(t, "set_romd", rc, 0, &err)) {
                r->romd = v;
            }
        } else if (rc == 0) {
            r->romd = v;
            t->stat_ok++;
        } else if (rc != -EINVAL) {
            TFAIL(t, "set_romd on %s %s: %d", kind_str(r->kind), r->name, rc);
        } else {
            t->stat_refused++;
        }
        break;
    }
}

static void op_log(struct ctx *t)
{
    int s = pick(t, NULL);
    struct mreg *r;
    bool on = chance(t, 50);
    unsigned client = rndn(t, GM_DIRTY_NR);
    gm_error err = {.code = 0};
    int rc;

    if (s < 0) {
        return;
    }
    r = &t->reg[s];
    trace(t, "log %s client %u %d", r->name, client, on);
    rc = gm_region_set_log(r->h, on, (enum gm_dirty_client)client, &err);
    if (r->kind == GM_REGION_RAM || r->kind == GM_REGION_ROM) {
        if (!expect_rc(t, "set_log", rc, 0, &err)) {
            return;
        }
    } else if (rc != 0 && rc != -EINVAL) {
        TFAIL(t, "set_log on %s: %d", kind_str(r->kind), rc);
        return;
    }
    if (rc == 0) {
        if (on) {
            r->log |= (uint8_t)(1u << client);
        } else {
            r->log &= (uint8_t) ~(1u << client);
        }
    }
}

static void op_alias_offset(struct ctx *t)
{
    int s = pick(t, chance(t, 90) ? p_alias : NULL);
    struct mreg *r;
    uint64_t off = chance(t, 35) ? 0 : rndn(t, 0x2000);
    gm_error err = {.code = 0};
    int rc, expect;

    if (s < 0) {
        return;
    }
    r = &t->reg[s];
    if (r->kind != GM_REGION_ALIAS) {
        expect = -EINVAL;
    } else if ((gm_u128)off + r->size > GM_SIZE_2_64) {
        expect = 1;
    } else {
        expect = 0;
    }
    trace(t, "alias offset %s 0x%" PRIx64 " (expect %d)", r->name, off, expect);
    rc = gm_region_set_alias_offset(r->h, off, &err);
    if (expect_rc(t, "set_alias_offset", rc, expect, &err) && rc == 0) {
        r->alias_off = off;
    }
}

static int efd_find(struct ctx *t, int s, uint64_t addr, unsigned size,
                    bool match, uint64_t data, int fd)
{
    for (int i = 0; i < NEFD; i++) {
        struct mefd *e = &t->efd[i];

        if (e->live && e->reg == s && e->addr == addr && e->size == size &&
            e->match == match && (!match || e->data == data) && e->fd == fd) {
            return i;
        }
    }
    return -1;
}

/* Delete ioeventfd @e, which exists; it must succeed. */
static void efd_del(struct ctx *t, struct mefd *e)
{
    gm_error err = {.code = 0};
    int rc;

    rc = gm_region_del_eventfd(t->reg[e->reg].h, e->addr, e->size, e->match,
                               e->data, e->fd, &err);
    if (expect_rc(t, "del_eventfd", rc, 0, &err)) {
        e->live = false;
    }
}

static void op_eventfd(struct ctx *t)
{
    static const unsigned sizes[] = {0, 1, 2, 4, 8};
    int live = 0, slot = -1;
    gm_error err = {.code = 0};
    int rc;

    for (int i = 0; i < NEFD; i++) {
        if (t->efd[i].live) {
            live++;
        } else {
            slot = i;
        }
    }
    if (live && chance(t, live >= NEFD - 2 ? 70 : 40)) {
        /* Delete an existing one. */
        int k = (int)rndn(t, NEFD);
        struct mefd *e;

        while (!t->efd[k].live) {
            k = (k + 1) % NEFD;
        }
        e = &t->efd[k];
        trace(t, "del eventfd %s @0x%" PRIx64 " size %u fd %d",
              t->reg[e->reg].name, e->addr, e->size, e->fd);
        efd_del(t, e);
        return;
    }
    int s = pick(t, NULL);
    struct mreg *r;
    unsigned size = sizes[rndn(t, 5)];
    bool match = size && chance(t, 50);
    uint64_t data = match ? rndn(t, 4) : 0;
    int fd = t->fds[rndn(t, NFDS)];
    uint64_t addr;
    unsigned how = rndn(t, 10);

    if (s < 0 || slot < 0) {
        return;
    }
    r = &t->reg[s];
    if (how == 0 && r->size <= 0x10000000) {
        /* Outside the region. */
        addr = (uint64_t)r->size + rndn(t, 0x10);
        trace(t, "bad eventfd %s @0x%" PRIx64, r->name, addr);
        rc = gm_region_add_eventfd(r->h, addr, size, match, data, fd, &err);
        expect_rc(t, "add_eventfd outside", rc, -ERANGE, &err);
        return;
    }
    if (how == 1) {
        /* Delete one that does not exist (inside the region). */
        if (r->size < 0x108) {
            return;
        }
        addr = rndn(t, 0x100);
        if (efd_find(t, s, addr, size, match, data, fd) >= 0) {
            return;
        }
        trace(t, "bad del eventfd %s @0x%" PRIx64, r->name, addr);
        rc = gm_region_del_eventfd(r->h, addr, size, match, data, fd, &err);
        expect_rc(t, "del_eventfd missing", rc, -ENOENT, &err);
        return;
    }
    if (r->size < (size ? size : 1)) {
        return;
    }
    if (how == 2 && live) {
        /* Add a duplicate. */
        int k = (int)rndn(t, NEFD);

        while (!t->efd[k].live) {
            k = (k + 1) % NEFD;
        }
        struct mefd *e = &t->efd[k];

        if ((gm_u128)e->addr + (e->size ? e->size : 1) > t->reg[e->reg].size) {
            return;
        }
        trace(t, "dup eventfd %s @0x%" PRIx64, t->reg[e->reg].name, e->addr);
        rc = gm_region_add_eventfd(t->reg[e->reg].h, e->addr, e->size, e->match,
                                   e->data, e->fd, &err);
        expect_rc(t, "add_eventfd duplicate", rc, -EEXIST, &err);
        return;
    }
    /* Mostly near the start, where flat ranges begin and end. */
    if (chance(t, 50) && r->size > 0x100) {
        addr = rndn(t, 0x100);
    } else {
        uint64_t span = (uint64_t)(r->size - (size ? size : 1) + 1);

        addr = span ? rnd(t) % span : rnd(t);
        if (r->size > 0x10000) {
            addr = rndn(t, 0x4000);
        }
    }
    if (efd_find(t, s, addr, size, match, data, fd) >= 0) {
        return;
    }
    trace(t, "add eventfd %s @0x%" PRIx64 " size %u match %d fd %d", r->name,
          addr, size, match, fd);
    rc = gm_region_add_eventfd(r->h, addr, size, match, data, fd, &err);
    if (r->kind == GM_REGION_ALIAS || r->kind == GM_REGION_CONTAINER) {
        if (rc != 0 && rc != -EINVAL) {
            TFAIL(t, "add_eventfd on %s: %d", kind_str(r->kind), rc);
            return;
        }
    } else if (!expect_rc(t, "add_eventfd", rc, 0, &err)) {
        return;
    }
    if (rc == 0) {
        t->efd[slot] = (struct mefd){
            .live = true,
            .reg = s,
            .addr = addr,
            .size = size,
            .match = match,
            .data = data,
            .fd = fd,
        };
    }
}

static void del_eventfds_of(struct ctx *t, int s)
{
    for (int i = 0; i < NEFD; i++) {
        struct mefd *e = &t->efd[i];

        if (!e->live || (s >= 0 && e->reg != s)) {
            continue;
        }
        trace(t, "del eventfd %s @0x%" PRIx64, t->reg[e->reg].name, e->addr);
        efd_del(t, e);
    }
}

/* Drop the caller's reference on a detached, unreferenced region. */
static void drop_region(struct ctx *t, int s)
{
    struct mreg *r = &t->reg[s];

    trace(t, "drop %s", r->name);
    while (r->nchild) {
        int c = r->child[0];
        gm_error err = {.code = 0};
        int rc;

        rc = gm_region_del_subregion(r->h, t->reg[c].h, &err);
        if (!expect_rc(t, "del_subregion before drop", rc, 0, &err)) {
            return;
        }
        model_remove_child(t, c);
    }
    del_eventfds_of(t, s);
    gm_region_unref(r->h);
    /* Tolerated leftovers (see efd_del()) go away with their region. */
    for (int i = 0; i < NEFD; i++) {
        if (t->efd[i].reg == s) {
            t->efd[i].live = false;
        }
    }
    defer_free(t, r->host);
    defer_free(t, r->dev);
    r->live = false;
    r->h = NULL;
}

static void op_drop(struct ctx *t)
{
    int s = pick(t, p_droppable);

    if (s >= 0 && live_regions(t) > 12) {
        drop_region(t, s);
    }
}

static void op_txn(struct ctx *t)
{
    gm_error err = {.code = 0};
    int rc;

    if (t->depth < MAX_DEPTH && (t->depth == 0 || chance(t, 20))) {
        trace(t, "begin (depth %d)", t->depth + 1);
        rc = gm_transaction_begin(t->sys);
        if (expect_rc(t, "transaction_begin", rc, 0, &err)) {
            t->depth++;
        }
    } else if (t->depth > 0) {
        trace(t, "commit (depth %d)", t->depth);
        rc = gm_transaction_commit(t->sys, &err);
        if (expect_rc(t, "transaction_commit", rc, 0, &err)) {
            t->depth--;
        }
    }
    if (gm_transaction_depth(t->sys) != (unsigned)t->depth) {
        TFAIL(t, "transaction depth %u, expected %d",
              gm_transaction_depth(t->sys), t->depth);
    }
}

static void op_global_log(struct ctx *t)
{
    bool on = chance(t, 90) ? !t->global_log : t->global_log;
    int expect = on == t->global_log ? -EALREADY : 0;
    gm_error err = {.code = 0};
    int rc;

    trace(t, "global log %d (expect %d)", on, expect);
    rc = on ? gm_system_log_global_start(t->sys, &err)
            : gm_system_log_global_stop(t->sys, &err);
    if (expect_rc(t, "log_global", rc, expect, &err) && rc == 0) {
        t->global_log = on;
    }
    if (gm_system_log_global_enabled(t->sys) != t->global_log) {
        TFAIL(t, "log_global_enabled is %d", !t->global_log);
    }
}

static void op_misc_refused(struct ctx *t)
{
    gm_error err = {.code = 0};
    int rc;

    if (t->depth) {
        return;
    }
    /*
     * gm_system_destroy() with references held is not tried here: its
     * -EBUSY destroys the spaces and listeners (documented); teardown()
     * checks it once they are gone anyway.
     */
    switch (rndn(t, 2)) {
    case 0:
        trace(t, "commit without begin");
        rc = gm_transaction_commit(t->sys, &err);
        expect_rc(t, "commit without begin", rc, -EINVAL, &err);
        break;
    default: {
        int i = (int)rndn(t, NSPACE);

        if (!t->space[i] || !t->lis[i].registered) {
            return;
        }
        trace(t, "destroy space %s with a listener",
              gm_space_name(t->space[i]));
        rc = gm_space_destroy(t->space[i], &err);
        expect_rc(t, "space_destroy with listener", rc, -EBUSY, &err);
        break;
    }
    }
}

static void op_listener(struct ctx *t)
{
    if (t->depth) {
        return;
    }
    if (t->lis[LIS_DYN].registered) {
        lis_unregister(t, LIS_DYN);
    } else {
        int i = (int)rndn(t, NSPACE + 1);

        lis_register(t, LIS_DYN, i < NSPACE ? t->space[i] : NULL,
                     (int)rndn(t, 5) - 2);
    }
}

/* One random operation, verification included. */
static void step(struct ctx *t)
{
    unsigned c = rndn(t, 1000);
    unsigned long ev = t->events;
    unsigned long refused = t->stat_refused;

    if (t->depth > 0 && chance(t, 20)) {
        op_txn(t);
    } else if (c < 90) {
        op_create(t);
    } else if (c < 260) {
        op_add(t);
    } else if (c < 290) {
        op_add_bad(t);
    } else if (c < 380) {
        op_del(t);
    } else if (c < 395) {
        op_del_bad(t);
    } else if (c < 480) {
        op_move(t);
    } else if (c < 560) {
        op_resize(t);
    } else if (c < 700) {
        op_flag(t);
    } else if (c < 740) {
        op_log(t);
    } else if (c < 800) {
        op_alias_offset(t);
    } else if (c < 880) {
        op_eventfd(t);
    } else if (c < 900) {
        op_drop(t);
    } else if (c < 925) {
        op_txn(t);
    } else if (c < 930) {
        op_global_log(t);
    } else if (c < 985) {
        op_flag(t);
    } else if (c < 990) {
        op_misc_refused(t);
    } else {
        op_listener(t);
    }
    if (t->stat_refused != refused && t->events != ev) {
        TFAIL(t, "a refused operation called listeners (%lu events)",
              t->events - ev);
    }
    if (t->depth == 0) {
        verify(t);
    } else {
        check_regions(t);
    }
}

static void warn_handler(void *opaque, const char *msg)
{
    struct ctx *t = opaque;

    t->warnings++;
    (void)msg;
}

/*
 * Epochs.
 */

static bool setup(struct ctx *t)
{
    gm_error err = {.code = 0};
    static const char *const names[NSPACE] = {"A", "B", "C"};
    int ra, rb, rc_, child;

    memset(t->reg, 0, sizeof(t->reg));
    memset(t->efd, 0, sizeof(t->efd));
    memset(t->space, 0, sizeof(t->space));
    t->depth = 0;
    t->global_log = false;
    t->sys = gm_system_new(&err);
    if (!t->sys) {
        TFAIL(t, "gm_system_new: %d %s", err.code, err.msg);
        return false;
    }
    gm_system_set_warn_handler(t->sys, warn_handler, t);
    ra = create_region(t, GM_REGION_CONTAINER,
                       chance(t, 50) ? GM_SIZE_2_64 : 0x4000, -1, 0);
    if (ra < 0) {
        return false;
    }
    rb = create_region(t, GM_REGION_ALIAS, t->reg[ra].size, ra, 0);
    rc_ = create_region(t, GM_REGION_CONTAINER,
                        chance(t, 50) ? GM_SIZE_2_64 : 0x4000, -1, 0);
    if (rb < 0 || rc_ < 0) {
        return false;
    }
    t->space_root[0] = ra;
    t->space_root[1] = rb;
    t->space_root[2] = rc_;
    for (int i = 0; i < NSPACE; i++) {
        t->reg[t->space_root[i]].is_root = true;
        t->space[i] =
            gm_space_new(t->sys, t->reg[t->space_root[i]].h, names[i], &err);
        if (!t->space[i]) {
            TFAIL(t, "gm_space_new: %d %s", err.code, err.msg);
            return false;
        }
    }
    /* C starts with a single child at 0: an alias of A or some RAM. */
    if (chance(t, 50)) {
        child = create_region(t, GM_REGION_ALIAS, t->reg[ra].size, ra, 0);
    } else {
        child = create_region(t, GM_REGION_RAM, 0x1000, -1, 0);
    }
    if (child >= 0 &&
        gm_region_add_subregion(t->reg[rc_].h, 0, t->reg[child].h, &err) == 0) {
        model_insert_child(t, rc_, child, 0);
    }
    for (int i = 0; i < NSPACE; i++) {
        lis_register(t, i, t->space[i], (int)rndn(t, 3) - 1);
    }
    lis_register(t, 3, NULL, 0);
    verify(t);
    return t->fails == 0;
}

static void teardown(struct ctx *t)
{
    gm_error err = {.code = 0};
    int rc, order[NREG], n = 0;

    while (t->depth > 0) {
        rc = gm_transaction_commit(t->sys, &err);
        expect_rc(t, "transaction_commit", rc, 0, &err);
        t->depth--;
    }
    verify(t);
    del_eventfds_of(t, -1);
    verify(t);
    for (int i = 0; i < NLIS; i++) {
        if (i != 3 && t->lis[i].registered) {
            lis_unregister(t, i);
        }
    }
    /* Destroy the spaces; the global listener sees their ranges go. */
    for (int i = 0; i < NSPACE; i++) {
        if (!t->space[i]) {
            continue;
        }
        trace(t, "destroy space %s", gm_space_name(t->space[i]));
        rc = gm_space_destroy(t->space[i], &err);
        if (!expect_rc(t, "space_destroy", rc, 0, &err)) {
            continue;
        }
        for (size_t k = 0; k < t->lis[3].nr; k++) {
            if (t->lis[3].r[k].space == t->space[i]) {
                TFAIL(t, "L3: ranges of destroyed space left");
                break;
            }
        }
        t->space[i] = NULL;
    }
    if (t->lis[3].registered) {
        lis_unregister(t, 3);
    }
    rc = gm_system_destroy(t->sys, &err);
    expect_rc(t, "system_destroy with references", rc, -EBUSY, &err);
    /* Drop every reference in random order, trees still linked. */
    for (int i = 0; i < NREG; i++) {
        if (t->reg[i].live) {
            order[n++] = i;
        }
    }
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rndn(t, (unsigned)i + 1), x = order[i];

        order[i] = order[j];
        order[j] = x;
    }
    for (int i = 0; i < n; i++) {
        struct mreg *r = &t->reg[order[i]];

        gm_region_unref(r->h);
        defer_free(t, r->host);
        defer_free(t, r->dev);
        r->live = false;
    }
    memset(t->efd, 0, sizeof(t->efd));
    rc = gm_system_destroy(t->sys, &err);
    expect_rc(t, "system_destroy", rc, 0, &err);
    t->sys = NULL;
    for (size_t i = 0; i < t->ndeferred; i++) {
        free(t->deferred[i]);
    }
    t->ndeferred = 0;
}

static void epoch(struct ctx *t, unsigned long len)
{
    t->stat_epochs++;
    trace(t, "epoch %lu: %lu operations", t->stat_epochs, len);
    if (!setup(t)) {
        t->quiet = true;
        if (t->sys) {
            teardown(t);
        }
        return;
    }
    for (unsigned long i = 0; i < len && t->fails == 0; i++) {
        t->op++;
        step(t);
    }
    /* After a failure, still release everything, without more reports. */
    t->quiet = t->fails > 0;
    teardown(t);
}

static struct opts opts;

static void test_random_ops(void)
{
    struct ctx *t = calloc(1, sizeof(*t));

    if (!t) {
        HARNESS_FAIL("out of memory");
        return;
    }
    t->seed = opts.seed;
    t->rng = opts.seed;
    t->nops = opts.ops;
    t->trace = opts.trace;
    for (int i = 0; i < NFDS; i++) {
        t->fds[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (t->fds[i] < 0) {
            HARNESS_FAIL("eventfd: %s", strerror(errno));
            return;
        }
    }
    while (t->op < t->nops && t->fails == 0) {
        unsigned long len = 2000 + rndn(t, 18000);

        if (len > t->nops - t->op) {
            len = t->nops - t->op;
        }
        epoch(t, len);
    }
    printf("seed=%" PRIu64 ": %lu operations in %lu epochs, %lu calls ok, "
           "%lu refused as expected, %lu verifications (%lu ranges, %lu "
           "ioeventfds, %lu shared views, %lu addresses probed), %lu "
           "listener events, %lu warnings\n",
           t->seed, t->op, t->stat_epochs, t->stat_ok, t->stat_refused,
           t->stat_verify, t->stat_ranges, t->stat_efds, t->stat_shared,
           t->stat_probes, t->events, t->warnings);
    if (t->fails) {
        fprintf(stderr, "reproduce with: --seed %" PRIu64 " --ops %lu\n",
                t->seed, t->op);
    }
    for (int i = 0; i < NFDS; i++) {
        close(t->fds[i]);
    }
    for (int i = 0; i < NLIS; i++) {
        free(t->lis[i].r);
        free(t->lis[i].e);
    }
    for (int i = 0; i < NSPACE; i++) {
        free(t->view[i].v);
        free(t->exp_efd[i].v);
    }
    free(t->tmp_efd.v);
    free(t->got.v);
    free(t->b.v);
    free(t->deferred);
    free(t->probe);
    free(t);
}

int main(int argc, char **argv)
{
    opts.seed = 1;
    opts.ops = 100000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
            opts.seed = strtoull(argv[++i], NULL, 0);
        } else if (!strcmp(argv[i], "--ops") && i + 1 < argc) {
            opts.ops = strtoul(argv[++i], NULL, 0);
        } else if (!strcmp(argv[i], "--trace")) {
            opts.trace = true;
        } else {
            fprintf(stderr,
                    "usage: %s [--seed N] [--ops N] [--trace]\n",
                    argv[0]);
            return 2;
        }
    }
    printf("prop-flatview: seed=%" PRIu64 " ops=%lu\n", opts.seed, opts.ops);
    fflush(stdout);
    RUN(test_random_ops);
    return harness_done();
}
