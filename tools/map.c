/* SPDX-License-Identifier: MIT */
/*
 * tools/map.c - `guestmem map`: the flat views of a machine as a picture.
 *
 *   guestmem map [--svg | --html] [FILE]
 *
 * draws each flat view as a column of its ranges, top to bottom in address
 * order, and writes an SVG document (or an HTML page holding it) to
 * standard output. The picture has to show a 1-byte I/O port and 2 GiB of
 * RAM in the same column, so the scale is not linear: a range is as tall as
 * a clamped logarithm of its size (18 px up to 4 KiB, 3 px more per
 * doubling, at most 66 px), and the addresses no range covers are drawn as
 * short gaps, or as zig-zag breaks that say how much they skip when they
 * are 64 KiB or more. Addresses are written on an axis at every boundary.
 *
 * Colours say what a guest reaches there, as `info mtree -f` prints it:
 * RAM, ROM (and RAM seen read-only), ROM devices in romd mode, RAM devices,
 * non-volatile RAM, MMIO. A range whose region is the view's own root
 * (an I/O root filling what its subregions leave, like the `io` space of a
 * PC) is "unassigned": the catch-all QEMU gives such roots.
 *
 * Aliases. A flat range names the terminating region that owns it, not the
 * aliases that led there. To find them, the range's first address is
 * looked up again in the region tree through the public getters, the way
 * the library renders: children in render order, the first that renders
 * the address wins, an alias translates it into its target. The aliases on
 * the way are the range's alias path (all of it in the tooltip). An alias
 * whose target is mapped at the very addresses the alias shows it at
 * (a bus master's window onto `system`, the SMM view's window onto
 * `memory`, SMRAM's window onto PCI) is a pass-through and is not labelled
 * on the range; the others are ("pc.bios via isa-bios"). When the target of
 * a labelled alias is itself mapped in some address space (its containers
 * lead to a space's root), an arrow goes from the range to the addresses
 * the window shows: in the gutter beside the column when they are in the
 * same view (or in a view this one passes through to), across to a column
 * of a neighbouring stack when they are there, and otherwise a note on the
 * range names the view and address. All the ranges seen through one window
 * share one arrow, even when other windows' ranges come between them.
 *
 * Spaces that share a flat view, and spaces whose views have the same
 * ranges reached through the same labelled aliases (the four `cpu-smm-N`
 * of a 4-CPU q35 before SMRAM opens), are drawn once with all their names;
 * spaces that render nothing are listed under the picture. The system
 * memory comes first, then I/O, then the others in creation order. Columns
 * are placed in up to four stacks, each next column under the shortest
 * stack, with as many stacks as keep the picture's longer side shortest:
 * fifty one-device views of an Arm MPS2 board fill four stacks instead of
 * one row twenty thousand pixels long.
 *
 * Text. Names are arbitrary bytes: valid UTF-8 is written as it is (with
 * XML's five escapes), anything else (invalid sequences, control
 * characters, code points XML forbids) as the four characters `\xHH` per
 * byte, so the document is always well-formed. Labels that do not fit are
 * cut with an ellipsis; the tooltip (<title>) has the whole text.
 *
 * Limits: the lookups are iterative (no recursion the input controls) and
 * children lists are cached per region; more than MAX_RANGES ranges in
 * all are refused with a message, as no picture of them would be legible.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "map.h"

/*
 * More ranges than this, in all the columns, make no legible picture (and
 * one column of them is already taller than renderers draw: cairo stops at
 * 32767 px).
 */
#define MAX_RANGES 5000

/* Geometry (px) and fonts. */
#define MARGIN 24.0
#define BAR_W 300.0
#define COL_SPACE 28.0
#define ROW_MIN 18.0
#define ROW_MAX 66.0
#define GAP_H 14.0
#define BREAK_H 26.0
#define BIG_HOLE ((gm_u128)64 * 1024)
#define LANE_W 9.0
#define MONO_W 6.02 /* advance of DejaVu Sans Mono at 10 px */
#define SANS_W 6.6  /* a generous average advance of DejaVu Sans at 11 px */
#define HEAD_W 7.4  /* the same for bold 12 px */
#define SANS "DejaVu Sans, Verdana, Arial, sans-serif"
#define MONO "DejaVu Sans Mono, Menlo, Consolas, monospace"

enum kind {
    K_RAM,
    K_ROM,
    K_ROMD,
    K_RAMD,
    K_NVRAM,
    K_MMIO,
    K_UNASSIGNED,
    K_HOLE,
    K_NKINDS,
};

static const struct {
    const char *name, *fill, *stroke, *legend;
} kinds[K_NKINDS] = {
    [K_RAM] = {"ram", "#9ad8a8", "#4f9a62", "RAM"},
    [K_ROM] = {"rom", "#f3d28c", "#b8923f", "ROM / read-only"},
    [K_ROMD] = {"romd", "#f5ab80", "#c06a3d", "ROM device (romd)"},
    [K_RAMD] = {"ramd", "#8dd3d3", "#3f9193", "RAM device"},
    [K_NVRAM] = {"nvram", "#c8b8ec", "#7d68b8", "non-volatile RAM"},
    [K_MMIO] = {"mmio", "#aac6f6", "#5b7fc4", "MMIO (i/o)"},
    [K_UNASSIGNED] = {"unassigned", "#ececec", "#b4b4b4",
                      "unassigned (root fill)"},
    [K_HOLE] = {"hole", "#ffffff", "#c8c8c8", "nothing mapped"},
};

/*
 * struct row - one range of a flat view, or a hole between ranges.
 * @start, @size: the addresses.
 * @region: the terminating region (NULL for a hole).
 * @offset, @readonly, @romd, @nonvolatile: as in the section.
 * @type: the type `info mtree -f` prints (ram, rom, romd, ramd, i/o).
 * @via: the labelled aliases ("a > b"), or NULL; @path: every alias on
 *       the way, for the tooltip, or NULL.
 * @link_space: where the first labelled alias with a mapped target leads
 *       (NULL: no arrow); @link_here: it leads into this very view (the
 *       space is one of the column's, or seen through a pass-through);
 *       @link_start: the address there of @start; @link_alias: the alias.
 * @y, @h: vertical position once laid out.
 */
struct row {
    uint64_t start;
    gm_u128 size;
    enum kind kind;
    gm_region *region;
    uint64_t offset;
    bool readonly, romd, nonvolatile;
    const char *type;
    char *via, *path;
    gm_region *link_alias;
    gm_space *link_space;
    bool link_here;
    uint64_t link_start;
    double y, h;
};

/* Lines of text, each malloc'd. */
struct lines {
    char **v;
    size_t n, cap;
};

/*
 * struct col - one column: a flat view and the spaces that show it.
 * @fv: the view (one reference); @root: its root region; @roots: when
 * views of other roots were merged in, all their names ("a, b"), or NULL.
 * @extent: where the column ends: the size of the spaces' root.
 * @lanes: gutter lanes its arrows need; @stack: the stack it is placed in.
 * @x, @y0: its top left corner (header); @rows_y: the top of its rows.
 * @axis_w, @bar_x, @gutter_w, @width: horizontal geometry.
 * @height: of its rows; @head_h: of its header.
 */
struct col {
    gm_flatview *fv;
    gm_region *root;
    char *roots; /* the names of the roots of views merged into this one */
    gm_space **sp;
    size_t nsp, spcap;
    struct row *rows;
    size_t nrows, rowcap;
    gm_u128 extent;
    unsigned lanes, stack;
    double x, axis_w, bar_x, gutter_w, width, height, head_h, y0, rows_y;
    struct lines head; /* the spaces' names, wrapped */
};

/* A region's children in render order, cached. */
struct kids {
    gm_region *r;
    gm_region **v;
    size_t n;
};

/*
 * struct link - an arrow from an alias window to its target's addresses.
 * @from, @row, @nrows: the column and rows of the window; @to: the target
 * column (@from itself, or one in a neighbouring stack).
 * @sa, @sb: the window's span (y in @from's rows); @ya, @yb: the target
 * addresses' span (y in @to's rows).
 * @lane: gutter lane (same-column arrows).
 */
struct link {
    size_t from, row, nrows, to;
    double sa, sb, ya, yb;
    unsigned lane;
};

struct map {
    struct col *cols;
    size_t ncols, colcap;
    gm_space **empty; /* spaces whose views render nothing */
    size_t nempty, emptycap;
    gm_space **spaces; /* every space, creation order */
    size_t nspaces, spacecap;
    struct kids *cache; /* open addressing on the region pointer */
    size_t cache_n, cache_cap;
    struct link *links;
    size_t nlinks, linkcap;
    size_t total_ranges;
    double area_w, area_h; /* the columns' stacks */
    int err;               /* -ENOMEM, or -E2BIG for too many ranges */
};

/* A step of the alias lookup: a region and where its offset 0 is. */
struct frame {
    gm_region *r;
    uint64_t base;
    size_t next;
    bool alias_done;
};

static bool grow(void **v, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap) {
        return true;
    }
    size_t ncap = *cap ? *cap * 2 : 8;
    void *nv = realloc(*v, ncap * elem);

    if (!nv) {
        return false;
    }
    *v = nv;
    *cap = ncap;
    return true;
}

#define PUSH(m, v, n, cap, x)                                                  \
    (grow((void **)&(v), &(cap), (n), sizeof(*(v)))                            \
         ? ((v)[(n)++] = (x), true)                                            \
         : ((m)->err = -ENOMEM, false))

/*
 * Text: UTF-8 as it is, everything else as \xHH.
 */

/* Length of the UTF-8 sequence at @s if it is one character XML allows. */
static size_t xml_char(const unsigned char *s)
{
    uint32_t cp;
    size_t n;

    if (s[0] < 0x80) {
        return s[0] >= 0x20 && s[0] != 0x7f ? 1 : 0;
    } else if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        n = 2;
        cp = s[0] & 0x1f;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        n = 3;
        cp = s[0] & 0x0f;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        n = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe || cp == 0xffff) {
        return 0;
    }
    return n;
}

/* Characters @s shows as (an escaped byte counts 4). */
static size_t text_chars(const char *s)
{
    const unsigned char *c = (const unsigned char *)s;
    size_t n = 0;

    while (*c) {
        size_t k = xml_char(c);

        n += k ? 1 : 4;
        c += k ? k : 1;
    }
    return n;
}

/*
 * Write @s escaped, at most @max characters: a longer text is cut and ends
 * with an ellipsis. Returns the characters written.
 */
static size_t put_text(FILE *f, const char *s, size_t max)
{
    const unsigned char *c = (const unsigned char *)s;
    size_t total = text_chars(s), n = 0;
    bool cut = total > max;
    size_t room = cut ? (max ? max - 1 : 0) : total;

    while (*c) {
        size_t k = xml_char(c);
        size_t w = k ? 1 : 4;

        if (n + w > room) {
            break;
        }
        if (!k) {
            fprintf(f, "\\x%02x", *c);
            c++;
        } else if (*c == '<') {
            fputs("&lt;", f);
            c++;
        } else if (*c == '>') {
            fputs("&gt;", f);
            c++;
        } else if (*c == '&') {
            fputs("&amp;", f);
            c++;
        } else if (*c == '"') {
            fputs("&quot;", f);
            c++;
        } else if (*c == '\'') {
            fputs("&apos;", f);
            c++;
        } else {
            fwrite(c, 1, k, f);
            c += k;
        }
        n += w;
    }
    if (cut && max) {
        fputs("\xe2\x80\xa6", f); /* U+2026 */
        n++;
    }
    return n;
}

static void put_all(FILE *f, const char *s)
{
    put_text(f, s, SIZE_MAX);
}

/* A size for people: "4 KiB", "1.5 GiB", "16 EiB", "3 B". */
static void fmt_size(char *buf, size_t len, gm_u128 size)
{
    static const char *const units[] = {"B",   "KiB", "MiB", "GiB",
                                        "TiB", "PiB", "EiB"};
    unsigned u = 0;
    double v;

    while (u + 1 < sizeof(units) / sizeof(units[0]) &&
           size >= (gm_u128)1 << (10 * (u + 1))) {
        u++;
    }
    if (size % ((gm_u128)1 << (10 * u)) == 0) {
        snprintf(buf, len, "%" PRIu64 " %s", (uint64_t)(size >> (10 * u)),
                 units[u]);
        return;
    }
    v = (double)size / (double)((gm_u128)1 << (10 * u));
    snprintf(buf, len, "%.4g %s", v, units[u]);
}

/* Hex digits of the column's addresses: 4, 8, 12 or 16. */
static unsigned col_digits(const struct col *c)
{
    gm_u128 last = c->extent ? c->extent - 1 : 0;
    unsigned d = 4;

    while (d < 16 && (last >> (4 * d)) != 0) {
        d += 4;
    }
    return d;
}

/* An address on the axis: zero-padded, 16 digits grouped by 8. */
static void fmt_addr(char *buf, size_t len, gm_u128 a, unsigned digits)
{
    if (a >= GM_SIZE_2_64) {
        snprintf(buf, len, "%s", digits > 8 ? "1_00000000_00000000" : "2^64");
    } else if (digits > 8) {
        snprintf(buf, len, "%0*" PRIx64 "_%08" PRIx64, (int)digits - 8,
                 (uint64_t)(a >> 32), (uint64_t)a & 0xffffffffu);
    } else {
        snprintf(buf, len, "%0*" PRIx64, (int)digits, (uint64_t)a);
    }
}

/* The type `info mtree -f` prints for a range. */
static const char *range_type(const struct gm_section *s)
{
    if (s->readonly) {
        return "rom"; /* read-only accumulated along the path */
    }
    switch (gm_region_kind(s->region)) {
    case GM_REGION_RAM_DEVICE:
        return "ramd";
    case GM_REGION_ROM_DEVICE:
        return s->romd ? "romd" : "i/o"; /* the view's, not the region's */
    case GM_REGION_ROM:
        return "rom";
    case GM_REGION_RAM:
        return "ram";
    default:
        return "i/o";
    }
}

static enum kind range_kind(const struct col *c, const struct row *rw)
{
    const char *t = rw->type;

    if (rw->region == c->root && !strcmp(t, "i/o")) {
        return K_UNASSIGNED;
    }
    if (!strcmp(t, "ram")) {
        return rw->nonvolatile ? K_NVRAM : K_RAM;
    }
    if (!strcmp(t, "rom")) {
        return K_ROM;
    }
    if (!strcmp(t, "romd")) {
        return K_ROMD;
    }
    if (!strcmp(t, "ramd")) {
        return K_RAMD;
    }
    return K_MMIO;
}

/*
 * Children in render order, cached.
 */

static size_t hash_ptr(const void *p, size_t cap)
{
    uint64_t x = (uint64_t)(uintptr_t)p;

    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (size_t)x & (cap - 1);
}

static int collect_kid(gm_region *child, void *opaque)
{
    struct kids *k = opaque;

    /* The array grows whenever n reaches a power of two. */
    if ((k->n & (k->n - 1)) == 0) {
        gm_region **nv = realloc(k->v, (k->n ? k->n * 2 : 1) * sizeof(*nv));

        if (!nv) {
            return -ENOMEM;
        }
        k->v = nv;
    }
    k->v[k->n++] = child;
    return 0;
}

static const struct kids *children(struct map *m, gm_region *r)
{
    size_t i;

    if (m->cache_n * 2 >= m->cache_cap) {
        size_t ncap = m->cache_cap ? m->cache_cap * 2 : 256;
        struct kids *nc = calloc(ncap, sizeof(*nc));

        if (!nc) {
            m->err = -ENOMEM;
            return NULL;
        }
        for (size_t j = 0; j < m->cache_cap; j++) {
            if (m->cache[j].r) {
                size_t h = hash_ptr(m->cache[j].r, ncap);

                while (nc[h].r) {
                    h = (h + 1) & (ncap - 1);
                }
                nc[h] = m->cache[j];
            }
        }
        free(m->cache);
        m->cache = nc;
        m->cache_cap = ncap;
    }
    i = hash_ptr(r, m->cache_cap);
    while (m->cache[i].r && m->cache[i].r != r) {
        i = (i + 1) & (m->cache_cap - 1);
    }
    if (!m->cache[i].r) {
        struct kids k = {.r = r};

        if (gm_region_foreach_subregion(r, collect_kid, &k) != 0) {
            free(k.v);
            m->err = -ENOMEM;
            return NULL;
        }
        m->cache[i] = k;
        m->cache_n++;
    }
    return &m->cache[i];
}

/* Whether @r, with its offset 0 at @base, may render @a at all. */
static bool covers(gm_region *r, uint64_t base, uint64_t a)
{
    gm_u128 size = gm_region_size(r);

    return gm_region_enabled(r) && size && (gm_u128)(a - base) < size;
}

/*
 * Where @t is mapped: follow its containers up to the root of a space.
 * Return: the space (its address @*abs is where @t's offset 0 is), or NULL
 * when @t is in no space (or a region on the way is disabled).
 */
static gm_space *home_of(struct map *m, gm_region *t, uint64_t *abs)
{
    uint64_t a = 0;
    gm_region *r = t;

    /* Depth is bounded by the tree (the library refuses loops). */
    for (gm_region *up; (up = gm_region_container(r)); r = up) {
        if (!gm_region_enabled(r)) {
            return NULL;
        }
        a += gm_region_addr(r);
    }
    if (!gm_region_enabled(r)) {
        return NULL;
    }
    for (size_t i = 0; i < m->nspaces; i++) {
        if (gm_space_root(m->spaces[i]) == r) {
            *abs = a;
            return m->spaces[i];
        }
    }
    return NULL;
}

/* Append @s to the malloc'd string *@dst, with @sep before when not empty. */
static bool append(char **dst, const char *sep, const char *s)
{
    size_t old = *dst ? strlen(*dst) : 0;
    size_t add = (old ? strlen(sep) : 0) + strlen(s);
    char *n = realloc(*dst, old + add + 1);

    if (!n) {
        return false;
    }
    if (!old) {
        n[0] = '\0';
    } else {
        strcat(n, sep);
    }
    strcat(n, s);
    *dst = n;
    return true;
}

/*
 * Look @rw's first address up again from @root, as rendering does, and
 * fill its alias path, label and link. A lookup that does not end at the
 * row's own region and offset leaves the row unlabelled.
 */
static void find_aliases(struct map *m, const struct col *c, struct row *rw)
{
    gm_region *root = c->root;
    struct frame *st = NULL;
    size_t sp = 0, cap = 0;
    struct same {
        gm_space *as;
        uint64_t lo;
        gm_u128 hi;
    } *same = NULL;
    size_t nsame = 0, samecap = 0;
    uint64_t a = rw->start;
    bool found = false;

    if (!covers(root, 0, a)) {
        return;
    }
    if (!PUSH(m, st, sp, cap, ((struct frame){root, 0, 0, false}))) {
        return;
    }
    while (sp && !m->err) {
        struct frame *f = &st[sp - 1];

        if (gm_region_kind(f->r) == GM_REGION_ALIAS) {
            gm_region *t = gm_region_alias_target(f->r);
            uint64_t tb = f->base - gm_region_alias_offset(f->r);

            if (!f->alias_done && t && covers(t, tb, a)) {
                f->alias_done = true;
                PUSH(m, st, sp, cap, ((struct frame){t, tb, 0, false}));
            } else {
                sp--;
            }
            continue;
        }
        const struct kids *k = children(m, f->r);
        bool pushed = false;

        if (!k) {
            break;
        }
        while (f->next < k->n) {
            gm_region *kid = k->v[f->next++];
            uint64_t cb = f->base + gm_region_addr(kid);

            if (covers(kid, cb, a)) {
                PUSH(m, st, sp, cap, ((struct frame){kid, cb, 0, false}));
                pushed = true;
                break;
            }
        }
        if (pushed) {
            continue;
        }
        if (gm_region_terminates(f->r)) {
            found = f->r == rw->region && a - f->base == rw->offset;
            break;
        }
        sp--;
    }
    for (size_t i = 0; found && i + 1 < sp && !m->err; i++) {
        gm_region *al = st[i].r, *t;
        uint64_t tb, home = 0;
        gm_space *hs;

        if (gm_region_kind(al) != GM_REGION_ALIAS) {
            continue;
        }
        t = st[i + 1].r;
        tb = st[i + 1].base;
        if (!append(&rw->path, " > ", gm_region_name(al))) {
            m->err = -ENOMEM;
            break;
        }
        hs = home_of(m, t, &home);
        if (hs && home == tb) {
            /* A pass-through: this view shows hs at the same addresses. */
            PUSH(m, same, nsame, samecap,
                 ((struct same){hs, st[i].base,
                                (gm_u128)st[i].base + gm_region_size(al)}));
            continue;
        }
        if (!append(&rw->via, " > ", gm_region_name(al))) {
            m->err = -ENOMEM;
            break;
        }
        if (hs && !rw->link_space) {
            uint64_t d = home + (a - tb);

            rw->link_alias = al;
            rw->link_space = hs;
            rw->link_start = d;
            for (size_t j = 0; j < c->nsp; j++) {
                rw->link_here |= c->sp[j] == hs;
            }
            for (size_t j = 0; j < nsame; j++) {
                rw->link_here |=
                    same[j].as == hs && same[j].lo <= d && d < same[j].hi;
            }
        }
    }
    free(same);
    free(st);
}

/*
 * Break the names of @n spaces into lines of at most @width characters,
 * "a, b, c", appended to @out.
 */
static bool wrap_names(struct map *m, gm_space *const *sp, size_t n,
                       size_t width, struct lines *out)
{
    char *line = NULL;
    size_t used = 0;

    for (size_t i = 0; i < n; i++) {
        const char *name = gm_space_name(sp[i]);
        size_t w = text_chars(name) + (i + 1 < n ? 1 : 0);

        if (line && used + 1 + w > width) {
            if (!PUSH(m, out->v, out->n, out->cap, line)) {
                free(line);
                return false;
            }
            line = NULL;
            used = 0;
        }
        if (!append(&line, " ", name) ||
            (i + 1 < n && !append(&line, "", ","))) {
            free(line);
            m->err = -ENOMEM;
            return false;
        }
        used += (used ? 1 : 0) + w;
    }
    if (line && !PUSH(m, out->v, out->n, out->cap, line)) {
        free(line);
        return false;
    }
    return true;
}

static void free_lines(struct lines *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i]);
    }
    free(l->v);
    *l = (struct lines){0};
}

/*
 * Building the columns.
 */

struct fill_ctx {
    struct map *m;
    struct col *c;
};

static bool add_row(struct map *m, struct col *c, struct row r)
{
    if (r.region && ++m->total_ranges > MAX_RANGES) {
        m->err = -E2BIG;
        return false;
    }
    return PUSH(m, c->rows, c->nrows, c->rowcap, r);
}

static bool add_hole(struct map *m, struct col *c, gm_u128 from, gm_u128 to)
{
    if (to <= from) {
        return true;
    }
    return add_row(m, c,
                   (struct row){.start = (uint64_t)from,
                                .size = to - from,
                                .kind = K_HOLE});
}

static int fill_range(const struct gm_section *s, void *opaque)
{
    struct fill_ctx *fc = opaque;
    struct col *c = fc->c;
    gm_u128 end = 0;
    struct row r = {
        .start = s->addr,
        .size = s->size,
        .region = s->region,
        .offset = s->offset_in_region,
        .readonly = s->readonly,
        .romd = s->romd,
        .nonvolatile = s->nonvolatile,
        .type = range_type(s),
    };

    if (c->nrows) {
        const struct row *l = &c->rows[c->nrows - 1];

        end = (gm_u128)l->start + l->size;
    }
    if (!add_hole(fc->m, c, end, s->addr)) {
        return 1;
    }
    r.kind = range_kind(c, &r);
    return add_row(fc->m, c, r) ? 0 : 1;
}

static int collect_space(gm_space *as, void *opaque)
{
    struct map *m = opaque;

    return PUSH(m, m->spaces, m->nspaces, m->spacecap, as) ? 0 : 1;
}

/* The columns, one per flat view, in creation order of their spaces. */
static void build_columns(struct map *m, gm_system *sys)
{
    gm_system_foreach_space(sys, collect_space, m);
    for (size_t i = 0; i < m->nspaces && !m->err; i++) {
        gm_space *as = m->spaces[i];
        gm_flatview *fv = gm_space_get_flatview(as);
        size_t j;

        if (!gm_flatview_nr_ranges(fv)) {
            gm_flatview_unref(fv);
            PUSH(m, m->empty, m->nempty, m->emptycap, as);
            continue;
        }
        for (j = 0; j < m->ncols && m->cols[j].fv != fv; j++) {
        }
        if (j < m->ncols) {
            gm_flatview_unref(fv);
        } else if (PUSH(m, m->cols, m->ncols, m->colcap,
                        ((struct col){.fv = fv,
                                      .root = gm_flatview_root(fv)}))) {
            struct col *c = &m->cols[j];
            struct fill_ctx fc = {m, c};
            gm_u128 end;

            c->extent = gm_region_size(gm_space_root(as));
            gm_flatview_foreach(fv, fill_range, &fc);
            end = (gm_u128)c->rows[c->nrows - 1].start +
                  c->rows[c->nrows - 1].size;
            if (c->extent < end) {
                c->extent = end;
            }
            add_hole(m, c, end, c->extent);
        } else {
            gm_flatview_unref(fv);
            break;
        }
        PUSH(m, m->cols[j].sp, m->cols[j].nsp, m->cols[j].spcap, as);
    }
    for (size_t j = 0; j < m->ncols && !m->err; j++) {
        struct col *c = &m->cols[j];

        for (size_t k = 0; k < c->nrows && !m->err; k++) {
            if (c->rows[k].region) {
                find_aliases(m, c, &c->rows[k]);
            }
        }
    }
}

static bool same_str(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

static bool same_rows(const struct col *a, const struct col *b)
{
    if (a->nrows != b->nrows || a->extent != b->extent) {
        return false;
    }
    for (size_t i = 0; i < a->nrows; i++) {
        const struct row *x = &a->rows[i], *y = &b->rows[i];

        if (x->start != y->start || x->size != y->size || x->kind != y->kind ||
            x->region != y->region || x->offset != y->offset ||
            x->readonly != y->readonly || x->romd != y->romd ||
            x->nonvolatile != y->nonvolatile || !same_str(x->via, y->via) ||
            x->link_space != y->link_space || x->link_here != y->link_here ||
            x->link_start != y->link_start) {
            return false;
        }
    }
    return true;
}

static void free_col(struct col *c)
{
    for (size_t i = 0; i < c->nrows; i++) {
        free(c->rows[i].via);
        free(c->rows[i].path);
    }
    free_lines(&c->head);
    free(c->roots);
    free(c->rows);
    free(c->sp);
    gm_flatview_unref(c->fv);
}

/* Whether @name is one of the items of @list ("a, b, c"). */
static bool in_list(const char *list, const char *name)
{
    size_t n = strlen(name);

    for (const char *p = list; p; p = strstr(p, ", ")) {
        p += p == list ? 0 : 2;
        if (!strncmp(p, name, n) && (p[n] == '\0' || p[n] == ',')) {
            return true;
        }
    }
    return false;
}

/* Columns with the same rows become one, with every space's name. */
static void merge_columns(struct map *m)
{
    size_t n = 0;

    for (size_t i = 0; i < m->ncols && !m->err; i++) {
        struct col *c = &m->cols[i];
        size_t j;

        for (j = 0; j < n && !same_rows(&m->cols[j], c); j++) {
        }
        if (j == n) {
            m->cols[n++] = *c;
            continue;
        }
        for (size_t k = 0; k < c->nsp && !m->err; k++) {
            PUSH(m, m->cols[j].sp, m->cols[j].nsp, m->cols[j].spcap, c->sp[k]);
        }
        if (m->cols[j].root != c->root && c->root) {
            struct col *k = &m->cols[j];
            const char *rn = gm_region_name(c->root);

            if (!k->roots && k->root &&
                !append(&k->roots, "", gm_region_name(k->root))) {
                m->err = -ENOMEM;
            }
            if (!k->roots || !in_list(k->roots, rn)) {
                if (!append(&k->roots, ", ", rn)) {
                    m->err = -ENOMEM;
                }
            }
        }
        /* Paths that differ only in pass-throughs: keep what is shown. */
        for (size_t k = 0; k < c->nrows; k++) {
            struct row *r = &m->cols[j].rows[k];

            if (!same_str(r->path, c->rows[k].path)) {
                free(r->path);
                r->path = r->via ? strdup(r->via) : NULL;
                if (r->via && !r->path) {
                    m->err = -ENOMEM;
                }
            }
        }
        free_col(c);
    }
    if (!m->err) {
        m->ncols = n;
    }
}

/* Names in natural order: "cpu-2" before "cpu-10". */
static int natural_cmp(const char *a, const char *b)
{
    while (*a && *b) {
        if (*a >= '0' && *a <= '9' && *b >= '0' && *b <= '9') {
            const char *x = a, *y = b;

            while (*x == '0') {
                x++;
            }
            while (*y == '0') {
                y++;
            }
            size_t lx = strspn(x, "0123456789"), ly = strspn(y, "0123456789");
            int c = lx != ly ? (lx < ly ? -1 : 1) : strncmp(x, y, lx);

            if (c) {
                return c;
            }
            a = x + lx;
            b = y + ly;
        } else if (*a != *b) {
            return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
        } else {
            a++;
            b++;
        }
    }
    return *a ? 1 : *b ? -1 : 0;
}

/* The system memory first, then the I/O space, then creation order. */
static int col_rank(const struct col *c)
{
    int rank = 2;

    for (size_t i = 0; i < c->nsp; i++) {
        const char *n = gm_space_name(c->sp[i]);

        if (!strcmp(n, "memory")) {
            return 0;
        }
        if (!strcmp(n, "I/O")) {
            rank = 1;
        }
    }
    return rank;
}

/* Insertion sorts: stable, and the lists are short. */
static void order_columns(struct map *m)
{
    for (size_t i = 1; i < m->ncols; i++) {
        struct col x = m->cols[i];
        size_t j = i;

        while (j > 0 && col_rank(&m->cols[j - 1]) > col_rank(&x)) {
            m->cols[j] = m->cols[j - 1];
            j--;
        }
        m->cols[j] = x;
    }
    for (size_t k = 0; k < m->ncols; k++) {
        struct col *c = &m->cols[k];

        for (size_t i = 1; i < c->nsp; i++) {
            gm_space *x = c->sp[i];
            size_t j = i;

            while (j > 0 && natural_cmp(gm_space_name(c->sp[j - 1]),
                                        gm_space_name(x)) > 0) {
                c->sp[j] = c->sp[j - 1];
                j--;
            }
            c->sp[j] = x;
        }
    }
}

static size_t col_of_space(const struct map *m, const gm_space *as)
{
    if (!as) {
        return SIZE_MAX;
    }
    for (size_t i = 0; i < m->ncols; i++) {
        for (size_t j = 0; j < m->cols[i].nsp; j++) {
            if (m->cols[i].sp[j] == as) {
                return i;
            }
        }
    }
    return SIZE_MAX;
}

/* The column an arrow from row @r of column @ci goes to, or SIZE_MAX. */
static size_t link_col(const struct map *m, size_t ci, const struct row *r)
{
    if (!r->link_space) {
        return SIZE_MAX;
    }
    return r->link_here ? ci : col_of_space(m, r->link_space);
}

/*
 * Layout.
 */

static double range_height(gm_u128 size)
{
    double h = ROW_MIN + 3.0 * (log2((double)size) - 12.0);

    return h < ROW_MIN ? ROW_MIN : h > ROW_MAX ? ROW_MAX : h;
}

/* y of address @a in @c (interpolated inside its row). */
static double addr_y(const struct col *c, gm_u128 a)
{
    size_t lo = 0, hi = c->nrows;

    if (!c->nrows) {
        return 0;
    }
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;

        if (c->rows[mid].start <= a) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    const struct row *r = &c->rows[lo];
    gm_u128 off = a > r->start ? a - r->start : 0;

    if (off > r->size) {
        off = r->size;
    }
    return r->y + r->h * ((double)off / (double)r->size);
}

/* Whether an arrow can be drawn from column @from to column @to. */
static bool arrow_ok(const struct map *m, size_t from, size_t to)
{
    unsigned a, b;

    if (to == from) {
        return true;
    }
    if (to >= m->ncols) {
        return false;
    }
    a = m->cols[from].stack;
    b = m->cols[to].stack;
    return a + 1 == b || b + 1 == a;
}

/* Whether row @j is seen through the alias window of row @i. */
static bool same_window(const struct row *i, const struct row *j)
{
    return j->link_alias == i->link_alias && j->link_space == i->link_space &&
           j->link_here == i->link_here &&
           j->link_start - j->start == i->link_start - i->start;
}

static void link_span(const struct link *l, double *top, double *bot)
{
    *top = fmin(l->sa, l->ya);
    *bot = fmax(l->sb, l->yb);
}

/* Same-column arrows: shortest spans take the innermost lanes. */
static void assign_lanes(struct map *m, size_t ci)
{
    struct col *c = &m->cols[ci];
    size_t *ix = malloc((m->nlinks ? m->nlinks : 1) * sizeof(*ix));
    size_t n = 0;

    if (!ix) {
        m->err = -ENOMEM;
        return;
    }
    for (size_t i = 0; i < m->nlinks; i++) {
        const struct link *x = &m->links[i];
        double xt, xb;
        size_t j = n;

        if (x->from != ci || x->to != ci) {
            continue;
        }
        link_span(x, &xt, &xb);
        while (j > 0) {
            double yt, yb;

            link_span(&m->links[ix[j - 1]], &yt, &yb);
            if (yb - yt <= xb - xt) {
                break;
            }
            ix[j] = ix[j - 1];
            j--;
        }
        ix[j] = i;
        n++;
    }
    for (size_t i = 0; i < n; i++) {
        struct link *l = &m->links[ix[i]];
        double top, bot;
        unsigned lane = 0;

        link_span(l, &top, &bot);
        for (bool clash = true; clash;) {
            clash = false;
            for (size_t j = 0; j < i; j++) {
                const struct link *o = &m->links[ix[j]];
                double ot, ob;

                link_span(o, &ot, &ob);
                if (o->lane == lane && ot < bot + 4 && top < ob + 4) {
                    clash = true;
                    lane++;
                    break;
                }
            }
        }
        l->lane = lane;
        if (lane + 1 > c->lanes) {
            c->lanes = lane + 1;
        }
    }
    free(ix);
}

/* The arrows of column @ci: one per run of rows through one window. */
static void find_links(struct map *m, size_t ci)
{
    struct col *c = &m->cols[ci];
    bool *done = calloc(c->nrows ? c->nrows : 1, sizeof(*done));

    if (!done) {
        m->err = -ENOMEM;
        return;
    }
    for (size_t i = 0; i < c->nrows && !m->err; i++) {
        const struct row *r = &c->rows[i];
        size_t to = link_col(m, ci, r), last = i;

        if (done[i] || to == SIZE_MAX || !arrow_ok(m, ci, to)) {
            continue;
        }
        /* The whole window, across ranges that other windows show. */
        for (size_t j = i + 1; j < c->nrows; j++) {
            if (c->rows[j].link_alias && same_window(r, &c->rows[j])) {
                done[j] = true;
                last = j;
            }
        }
        const struct row *e = &c->rows[last];
        struct link l = {
            .from = ci,
            .row = i,
            .nrows = last - i + 1,
            .to = to,
            .sa = r->y,
            .sb = e->y + e->h,
            .ya = addr_y(&m->cols[to], r->link_start),
            .yb = addr_y(&m->cols[to], (gm_u128)e->link_start + e->size),
        };
        PUSH(m, m->links, m->nlinks, m->linkcap, l);
    }
    free(done);
}

/*
 * Geometry. Columns go into at most MAX_STACKS stacks, each into the
 * shortest so far; y is relative to the top of the stacks.
 */
#define MAX_STACKS 4

/*
 * Put the columns in @nst stacks, each into the shortest so far; returns
 * the height of the tallest stack. Only records the placement when @keep.
 */
static double place(struct map *m, size_t nst, bool keep)
{
    double st_h[MAX_STACKS] = {0}, tallest = 0;

    for (size_t ci = 0; ci < m->ncols; ci++) {
        struct col *c = &m->cols[ci];
        size_t s = 0;

        for (size_t k = 1; k < nst; k++) {
            if (st_h[k] < st_h[s]) {
                s = k;
            }
        }
        if (keep) {
            c->stack = (unsigned)s;
            c->y0 = st_h[s];
            c->rows_y = c->y0 + c->head_h;
        }
        st_h[s] += c->head_h + c->height + 30;
        tallest = fmax(tallest, st_h[s]);
    }
    return tallest;
}

static void layout(struct map *m)
{
    size_t nst = 1;
    double st_axis[MAX_STACKS] = {0}, st_gut[MAX_STACKS] = {0};
    double x = MARGIN, best = 0;

    for (size_t ci = 0; ci < m->ncols && !m->err; ci++) {
        struct col *c = &m->cols[ci];
        double y = 0;

        wrap_names(m, c->sp, c->nsp, (size_t)((BAR_W + 30) / HEAD_W), &c->head);
        c->head_h = 15.0 * (double)(c->head.n + 1) + 10;
        for (size_t i = 0; i < c->nrows; i++) {
            struct row *r = &c->rows[i];

            if (r->kind != K_HOLE) {
                r->h = range_height(r->size);
            } else {
                r->h = r->size >= BIG_HOLE ? BREAK_H : GAP_H;
            }
            r->y = y;
            y += r->h;
        }
        c->height = y;
    }
    /*
     * As many stacks as keep the picture from being much taller than wide
     * (a stack is some 470 px wide): the cost is the longer side.
     */
    for (size_t k = 1; k <= MAX_STACKS && k <= m->ncols; k++) {
        double cost = fmax(place(m, k, false), 1.3 * 470 * (double)k);

        if (k == 1 || cost < best) {
            best = cost;
            nst = k;
        }
    }
    place(m, nst, true);
    for (size_t ci = 0; ci < m->ncols; ci++) {
        struct col *c = &m->cols[ci];
        char a[40];

        fmt_addr(a, sizeof(a), c->extent, col_digits(c));
        c->axis_w = MONO_W * (double)strlen(a) + 12;
        st_axis[c->stack] = fmax(st_axis[c->stack], c->axis_w);
    }
    for (size_t ci = 0; ci < m->ncols && !m->err; ci++) {
        find_links(m, ci);
    }
    for (size_t ci = 0; ci < m->ncols && !m->err; ci++) {
        struct col *c = &m->cols[ci];

        assign_lanes(m, ci);
        c->gutter_w = c->lanes ? 14 + LANE_W * (double)c->lanes : 6;
        st_gut[c->stack] = fmax(st_gut[c->stack], c->gutter_w);
    }
    m->area_h = place(m, nst, false);
    for (size_t s = 0; s < nst; s++) {
        for (size_t ci = 0; ci < m->ncols; ci++) {
            struct col *c = &m->cols[ci];

            if (c->stack == s) {
                c->x = x + st_axis[s] - c->axis_w;
                c->bar_x = x + st_axis[s];
                c->width = c->axis_w + BAR_W + c->gutter_w;
            }
        }
        x += st_axis[s] + BAR_W + st_gut[s] + COL_SPACE;
    }
    m->area_w = x - COL_SPACE + MARGIN;
}

/*
 * Writing.
 */

struct pic {
    struct map *m;
    FILE *f;
    const char *label;
    double width, height, top;
    bool used[K_NKINDS];
};

static void row_tooltip(FILE *f, const struct col *c, const struct row *r)
{
    char a[40], b[40], sz[32];
    unsigned d = col_digits(c);

    fmt_addr(a, sizeof(a), r->start, d);
    fmt_addr(b, sizeof(b), (gm_u128)r->start + r->size - 1, d);
    fmt_size(sz, sizeof(sz), r->size);
    fputs("<title>", f);
    if (!r->region) {
        fprintf(f, "nothing mapped: %s-%s (%s)", a, b, sz);
    } else {
        put_all(f, gm_region_name(r->region));
        fprintf(f, "\n%s-%s (%s)\n%s%s, prio %d", a, b, sz,
                r->nonvolatile ? "nv-" : "", r->type,
                gm_region_priority(r->region));
        if (r->offset) {
            fprintf(f, ", at offset %" PRIx64 " of the region", r->offset);
        }
        if (r->path) {
            fputs("\nthrough alias ", f);
            put_all(f, r->path);
        }
        if (r->link_space) {
            fputs("\na window onto ", f);
            put_all(f, gm_space_name(r->link_space));
            fprintf(f, " %" PRIx64, r->link_start);
        }
    }
    fputs("</title>", f);
}

/*
 * The label of a range: the name, its offset, the aliases and @note, cut
 * to @max characters in all.
 */
static void row_label(FILE *f, const struct row *r, const char *note,
                      size_t max)
{
    size_t n = put_text(f, gm_region_name(r->region), max);
    char off[32];

    if (r->offset && n + 3 < max) {
        snprintf(off, sizeof(off), "@%" PRIx64, r->offset);
        fputs("<tspan class=\"o\" dx=\"4\">", f);
        n++;
        n += put_text(f, off, max - n);
        fputs("</tspan>", f);
    }
    if (r->via && n + 6 < max) {
        fputs("<tspan class=\"v\" dx=\"5\">via ", f);
        n += 5;
        n += put_text(f, r->via, max - n);
        fputs("</tspan>", f);
    }
    if (note && n + 6 < max) {
        fputs("<tspan class=\"v\" dx=\"5\">", f);
        n += 1;
        put_text(f, note, max - n);
        fputs("</tspan>", f);
    }
}

static void zigzag(FILE *f, double x, double y, double w)
{
    fputs("<polyline class=\"z\" points=\"", f);
    for (int i = 0; i * 6.0 <= w; i++) {
        fprintf(f, "%s%.1f,%.1f", i ? " " : "", x + 6.0 * i,
                y + (i % 2 ? 2 : -2));
    }
    fputs("\"/>", f);
}

static void draw_head(struct pic *p, const struct col *c)
{
    FILE *f = p->f;
    double y = p->top + c->y0 + 12;

    for (size_t i = 0; i < c->head.n; i++) {
        fprintf(f, "<text class=\"h\" x=\"%.1f\" y=\"%.1f\">", c->bar_x,
                y + 15 * (double)i);
        put_text(f, c->head.v[i], (size_t)((BAR_W + 30) / HEAD_W));
        fputs("</text>\n", f);
    }
    fprintf(f, "<text class=\"hr\" x=\"%.1f\" y=\"%.1f\">%s ", c->bar_x,
            y + 15 * (double)c->head.n, c->roots ? "roots" : "root");
    if (c->roots) {
        put_text(f, c->roots, (size_t)(BAR_W / 6.2) - 6);
    } else {
        put_text(f, c->root ? gm_region_name(c->root) : "(none)",
                 (size_t)(BAR_W / 6.2) - 5);
    }
    fputs("</text>\n", f);
}

static void draw_rows(struct pic *p, size_t ci)
{
    struct map *m = p->m;
    const struct col *c = &m->cols[ci];
    FILE *f = p->f;
    double bx = c->bar_x;

    for (size_t i = 0; i < c->nrows; i++) {
        const struct row *r = &c->rows[i];
        char sz[32];

        fmt_size(sz, sizeof(sz), r->size);
        fprintf(f, "<g class=\"r %s\">", kinds[r->kind].name);
        row_tooltip(f, c, r);
        if (r->kind == K_HOLE && r->size >= BIG_HOLE) {
            fprintf(f,
                    "<rect class=\"brk\" x=\"%.1f\" y=\"%.1f\" "
                    "width=\"%.1f\" height=\"%.1f\"/>",
                    bx, r->y, BAR_W, r->h);
            zigzag(f, bx, r->y + 4, BAR_W);
            zigzag(f, bx, r->y + r->h - 4, BAR_W);
            fprintf(f,
                    "<text class=\"gap\" x=\"%.1f\" y=\"%.1f\">%s not "
                    "mapped</text>",
                    bx + BAR_W / 2, r->y + r->h / 2 + 3.4, sz);
        } else if (r->kind == K_HOLE) {
            fprintf(f,
                    "<rect class=\"hole\" x=\"%.1f\" y=\"%.1f\" "
                    "width=\"%.1f\" height=\"%.1f\"/>"
                    "<text class=\"gap\" x=\"%.1f\" y=\"%.1f\">%s</text>",
                    bx, r->y, BAR_W, r->h, bx + BAR_W / 2,
                    r->y + r->h / 2 + 3.2, sz);
        } else {
            char note[96] = "";
            size_t to = link_col(m, ci, r), room;

            if (to != SIZE_MAX && !arrow_ok(m, ci, to)) {
                snprintf(note, sizeof(note), "\xe2\x86\x92 %" PRIx64 " of ",
                         r->link_start);
                strncat(note, gm_space_name(r->link_space),
                        sizeof(note) - strlen(note) - 1);
            }
            fprintf(f,
                    "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                    "height=\"%.1f\" fill=\"%s\" stroke=\"%s\"/>",
                    bx, r->y, BAR_W, r->h, kinds[r->kind].fill,
                    kinds[r->kind].stroke);
            fprintf(f, "<text class=\"sz\" x=\"%.1f\" y=\"%.1f\">%s</text>",
                    bx + BAR_W - 6, r->y + r->h / 2 + 3.6, sz);
            room = (size_t)((BAR_W - 24 - 6.2 * (double)strlen(sz)) / SANS_W);
            fprintf(f, "<text class=\"n\" x=\"%.1f\" y=\"%.1f\">", bx + 6,
                    r->y + r->h / 2 + 3.9);
            row_label(f, r, note[0] ? note : NULL, room);
            fputs("</text>", f);
        }
        fputs("</g>\n", f);
    }
}

/* The address axis: a tick and an address at every boundary. */
static void draw_axis(struct pic *p, const struct col *c)
{
    FILE *f = p->f;
    unsigned d = col_digits(c);
    double bx = c->bar_x;

    fputs("<g class=\"axis\">\n", f);
    for (size_t i = 0; i <= c->nrows && c->nrows; i++) {
        const struct row *r = &c->rows[i < c->nrows ? i : i - 1];
        gm_u128 at = i < c->nrows ? r->start : (gm_u128)r->start + r->size;
        double y = i < c->nrows ? r->y : r->y + r->h;
        char a[40];

        fmt_addr(a, sizeof(a), at, d);
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n",
                bx - 4, y, bx, y, bx - 6, y + 3.4, a);
    }
    fputs("</g>\n", f);
}

/*
 * Arrows: a bracket on the window's rows, one on the target's addresses,
 * and a line between, in the gutter or across to the next stack.
 */
static void draw_links(struct pic *p)
{
    struct map *m = p->m;
    FILE *f = p->f;

    fputs("<g class=\"links\">\n", f);
    for (size_t i = 0; i < m->nlinks; i++) {
        const struct link *l = &m->links[i];
        const struct col *c = &m->cols[l->from], *t = &m->cols[l->to];
        const struct row *r = &c->rows[l->row];
        double gx = c->bar_x + BAR_W;
        double oy = p->top + c->rows_y, ty = p->top + t->rows_y;
        double sa = oy + l->sa, sb = oy + l->sb, ys = (sa + sb) / 2;
        double ya = ty + l->ya, yb = ty + l->yb, yd = (ya + yb) / 2;

        fputs("<g class=\"link\"><title>", f);
        put_all(f, r->via ? r->via : "");
        fprintf(f, ": a window onto %" PRIx64 " of ", r->link_start);
        put_all(f, gm_space_name(r->link_space));
        fputs("</title>", f);
        if (t->stack + 1 == c->stack) {
            /* To the stack on the left: from the axis, to the gutter. */
            double sx = c->x - 2, tx = t->bar_x + BAR_W + 1;
            double mx = (sx - 5 + tx + 8) / 2;

            fprintf(f,
                    "<path class=\"br\" d=\"M%.1f,%.1f h-5 V%.1f h5\"/>"
                    "<path class=\"br\" d=\"M%.1f,%.1f h5 V%.1f h-5\"/>"
                    "<path class=\"ln\" d=\"M%.1f,%.1f C%.1f,%.1f "
                    "%.1f,%.1f %.1f,%.1f\"/></g>\n",
                    sx, sa + 2, sb - 2, tx, ya + 2, yb - 2, sx - 5, ys, mx, ys,
                    mx, yd, tx + 8, yd);
            continue;
        }
        fprintf(f, "<path class=\"br\" d=\"M%.1f,%.1f h5 V%.1f h-5\"/>", gx + 1,
                sa + 2, sb - 2);
        if (l->to == l->from) {
            double lx = gx + 14 + LANE_W * l->lane;

            fprintf(f,
                    "<path class=\"br\" d=\"M%.1f,%.1f h5 V%.1f h-5\"/>"
                    "<path class=\"ln\" d=\"M%.1f,%.1f H%.1f V%.1f "
                    "H%.1f\"/>",
                    gx + 1, ya + 2, yb - 2, gx + 6, ys, lx, yd, gx + 8);
        } else {
            double tx = t->x - 2, mx = (gx + 6 + tx) / 2;

            fprintf(f,
                    "<path class=\"br\" d=\"M%.1f,%.1f h-5 V%.1f h5\"/>"
                    "<path class=\"ln\" d=\"M%.1f,%.1f C%.1f,%.1f "
                    "%.1f,%.1f %.1f,%.1f\"/>",
                    tx, ya + 2, yb - 2, gx + 6, ys, mx, ys, mx, yd, tx - 7, yd);
        }
        fputs("</g>\n", f);
    }
    fputs("</g>\n", f);
}

/* Legend items, wrapped to the picture's width; returns its height. */
static double draw_legend(struct pic *p, double y, bool draw)
{
    FILE *f = p->f;
    double x = MARGIN, h = 18;

    for (int k = 0; k <= K_NKINDS; k++) {
        const char *text = k < K_NKINDS ? kinds[k].legend : "alias window";
        double w = 22 + 6.1 * (double)strlen(text) + 18;

        if (k < K_NKINDS ? !p->used[k] : !p->m->nlinks) {
            continue;
        }
        if (x + w > p->width - MARGIN && x > MARGIN) {
            x = MARGIN;
            y += 20;
            h += 20;
        }
        if (draw && k < K_NKINDS) {
            fprintf(f,
                    "<rect x=\"%.1f\" y=\"%.1f\" width=\"16\" height=\"12\" "
                    "fill=\"%s\" stroke=\"%s\"/>",
                    x, y - 10, kinds[k].fill, kinds[k].stroke);
            if (k == K_HOLE) {
                zigzag(f, x, y - 7, 16);
            }
        } else if (draw) {
            fprintf(f,
                    "<path class=\"br\" d=\"M%.1f,%.1f h4 V%.1f h-4\"/>"
                    "<path class=\"ln\" d=\"M%.1f,%.1f h11\"/>",
                    x, y - 10, y + 1, x + 5, y - 4.5);
        }
        if (draw) {
            fprintf(f, "<text class=\"lg\" x=\"%.1f\" y=\"%.1f\">%s</text>\n",
                    x + 22, y, text);
        }
        x += w;
    }
    return h;
}

static const char style[] =
    "text{font-family:" SANS ";font-size:11px;fill:#1d2430}\n"
    ".t{font-size:16px;font-weight:bold}\n"
    ".st{font-size:11px;fill:#5d6675}\n"
    ".h{font-size:12px;font-weight:bold}\n"
    ".hr{font-size:10.5px;fill:#5d6675}\n"
    ".lg{font-size:11px;fill:#3a4250}\n"
    ".sz{font-size:10px;fill:#3d4756;text-anchor:end}\n"
    ".o{fill:#4d5666}\n"
    ".v{fill:#4b3aa8;font-style:italic}\n"
    ".gap{font-size:9.5px;fill:#8a8f98;font-style:italic;"
    "text-anchor:middle}\n"
    ".axis text{font-family:" MONO ";font-size:10px;fill:#3d4756;"
    "text-anchor:end}\n"
    ".axis line{stroke:#8a8f98;stroke-width:1}\n"
    "rect{stroke-width:0.8}\n"
    ".hole{fill:#fbfbfc;stroke:#d6d9de;stroke-dasharray:3 2}\n"
    ".brk{fill:#ffffff;stroke:none}\n"
    ".z{fill:none;stroke:#b4b9c1;stroke-width:1}\n"
    ".ln{fill:none;stroke:#6a4fd8;stroke-width:1.4;"
    "marker-end:url(#arrow);opacity:0.85}\n"
    ".br{fill:none;stroke:#6a4fd8;stroke-width:1.6}\n";

/* Extra rules for the HTML page: hovering lights a range or an arrow up. */
static const char hover_style[] =
    ".r:hover rect{stroke:#111;stroke-width:2}\n"
    ".link:hover .ln{stroke-width:2.6;opacity:1}\n"
    ".link:hover .br{stroke-width:2.6}\n";

static void write_svg(struct pic *p, bool html)
{
    struct map *m = p->m;
    FILE *f = p->f;
    struct lines foot = {0};
    double legend_h;

    for (size_t i = 0; i < m->ncols; i++) {
        for (size_t j = 0; j < m->cols[i].nrows; j++) {
            p->used[m->cols[i].rows[j].kind] = true;
        }
    }
    p->width = fmax(m->area_w, 600);
    legend_h = draw_legend(p, 0, false);
    p->top = MARGIN + 44 + legend_h + 12;
    /* Spaces that render nothing, under the columns; 4 lines at most. */
    wrap_names(m, m->empty, m->nempty,
               (size_t)((p->width - 2 * MARGIN) / SANS_W) - 18, &foot);
    if (foot.n > 4) {
        if (!append(&foot.v[3], "", " \xe2\x80\xa6")) {
            m->err = -ENOMEM;
        }
        for (size_t i = 4; i < foot.n; i++) {
            free(foot.v[i]);
        }
        foot.n = 4;
    }
    p->height = p->top + m->area_h + 15 * (double)foot.n + MARGIN - 6;

    if (!html) {
        fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", f);
    }
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" "
            "width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\">\n",
            p->width, p->height, p->width, p->height);
    fputs("<title>guestmem map: ", f);
    put_all(f, p->label);
    fprintf(f, "</title>\n<style>\n%s%s</style>\n", style,
            html ? hover_style : "");
    fputs("<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"9\" "
          "refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" "
          "orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" "
          "fill=\"#6a4fd8\"/></marker></defs>\n",
          f);
    fprintf(f,
            "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" "
            "fill=\"#ffffff\" stroke=\"none\"/>\n",
            p->width, p->height);
    fprintf(f, "<text class=\"t\" x=\"%.1f\" y=\"%.1f\">", MARGIN, MARGIN + 8);
    put_text(f, p->label, (size_t)((p->width - 2 * MARGIN) / 10));
    fputs("</text>\n", f);
    fprintf(f,
            "<text class=\"st\" x=\"%.1f\" y=\"%.1f\">One column per flat "
            "view; heights grow with the log of a range's size.</text>\n",
            MARGIN, MARGIN + 25);
    draw_legend(p, MARGIN + 50, true);
    for (size_t ci = 0; ci < m->ncols; ci++) {
        const struct col *c = &m->cols[ci];

        draw_head(p, c);
        fprintf(f, "<g transform=\"translate(0,%.1f)\">\n", p->top + c->rows_y);
        draw_rows(p, ci);
        draw_axis(p, c);
        fputs("</g>\n", f);
    }
    draw_links(p);
    for (size_t i = 0; i < foot.n; i++) {
        fprintf(f, "<text class=\"st\" x=\"%.1f\" y=\"%.1f\">%s", MARGIN,
                p->height - MARGIN + 4 - 15 * (double)(foot.n - 1 - i),
                i ? "" : "Nothing rendered: ");
        put_all(f, foot.v[i]);
        fputs("</text>\n", f);
    }
    free_lines(&foot);
    fputs("</svg>\n", f);
}

static void map_free(struct map *m)
{
    for (size_t i = 0; i < m->ncols; i++) {
        free_col(&m->cols[i]);
    }
    for (size_t i = 0; i < m->cache_cap; i++) {
        free(m->cache[i].v);
    }
    free(m->cache);
    free(m->cols);
    free(m->empty);
    free(m->spaces);
    free(m->links);
}

int map_write(struct machine *mach, const char *label, enum map_format fmt,
              FILE *out)
{
    struct map m = {0};
    struct pic p = {.m = &m, .f = out, .label = label};
    int rc = 0;

    build_columns(&m, mach->sys);
    if (!m.err) {
        merge_columns(&m);
        order_columns(&m);
    }
    if (!m.err) {
        layout(&m);
    }
    if (m.err == -E2BIG) {
        fprintf(stderr,
                "guestmem map: %s: more than %d ranges; no picture of them "
                "would be legible (try `guestmem mtree -f`)\n",
                label, MAX_RANGES);
        rc = -1;
    } else if (m.err) {
        fprintf(stderr, "guestmem map: %s: out of memory\n", label);
        rc = -1;
    }
    if (!rc && fmt == MAP_HTML) {
        fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
              "<meta charset=\"utf-8\"/>\n<title>guestmem map: ",
              out);
        put_all(out, label);
        fputs("</title>\n<style>body{margin:0;background:#f4f5f7}"
              "svg{display:block;margin:16px auto;background:#fff;"
              "box-shadow:0 1px 4px rgba(0,0,0,.15)}"
              "p{font-family:" SANS ";font-size:13px;color:#3a4250;"
              "text-align:center}</style>\n</head>\n<body>\n"
              "<p>Point at a range or an arrow for its details.</p>\n",
              out);
    }
    if (!rc) {
        write_svg(&p, fmt == MAP_HTML);
        if (m.err) {
            fprintf(stderr, "guestmem map: %s: out of memory\n", label);
            rc = -1;
        }
    }
    if (!rc && fmt == MAP_HTML) {
        fputs("</body>\n</html>\n", out);
    }
    map_free(&m);
    if (!rc && (fflush(out) != 0 || ferror(out))) {
        fprintf(stderr, "guestmem map: write error: %s\n", strerror(errno));
        rc = -1;
    }
    return rc;
}

const char cmd_map_usage[] =
    "usage: guestmem map [--svg | --html] [FILE]\n"
    "       guestmem map [--svg | --html] --builtin\n"
    "\n"
    "Draw the flat views of a machine (FILE: a QEMU `info mtree -D` dump\n"
    "or a board file, `-` for standard input; without FILE, standard input\n"
    "when it is not a terminal, else the built-in board) as an SVG picture\n"
    "on standard output. One column per flat view; colours tell RAM, ROM,\n"
    "ROM devices, RAM devices and MMIO apart; aliases are named on the\n"
    "ranges they show, with arrows to their targets.\n"
    "\n"
    "Options:\n"
    "      --svg            an SVG document (the default)\n"
    "      --html           an HTML page with the SVG and hover highlights\n"
    "      --builtin        draw the built-in board\n"
    CLI_USAGE_MAX_SIZE
    CLI_USAGE_HELP
    "\n"
    "Exit status:\n"
    "  0  the picture was written\n"
    "  1  it could not be written\n"
    "  2  usage error, or the input cannot be read or imported\n";

enum {
    OPT_SVG = CLI_OPT_FIRST_FREE,
    OPT_HTML,
    OPT_BUILTIN,
};

int cmd_map(const struct cli_command *cmd, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"svg", no_argument, NULL, OPT_SVG},
        {"html", no_argument, NULL, OPT_HTML},
        {"builtin", no_argument, NULL, OPT_BUILTIN},
        CLI_LONGOPT_MAX_SIZE,
        CLI_LONGOPT_HELP,
        CLI_LONGOPT_END,
    };
    enum map_format fmt = MAP_SVG;
    const char *path = NULL;
    struct machine m = {0};
    struct cli_args a;
    bool builtin = false;
    int c, status = CLI_OK;

    cli_args_init(&a, cmd, argc, argv);
    while ((c = cli_getopt(&a, "h", longopts)) != -1) {
        switch (c) {
        case CLI_STOP:
            return a.status;
        case OPT_BUILTIN:
            builtin = true;
            break;
        case OPT_SVG:
            fmt = MAP_SVG;
            break;
        case OPT_HTML:
            fmt = MAP_HTML;
            break;
        default:
            break; /* --max-size, kept in a.in */
        }
    }
    if (argc - optind > 1) {
        return cli_usage_error(&a, "expected one FILE, not %d",
                               argc - optind);
    }
    if (optind < argc) {
        path = argv[optind];
        if (builtin) {
            return cli_usage_error(&a, "expected FILE or --builtin, not "
                                   "both");
        }
    } else if (!builtin && cli_stdin_is_input()) {
        path = "-";
    }
    if (cli_load(&m, &a.in, path) < 0) {
        return CLI_USAGE;
    }
    if (map_write(&m, path ? cli_label(path) : "built-in board", fmt,
                  stdout) < 0) {
        status = CLI_FAIL;
    }
    if (machine_destroy(&m) < 0) {
        status = CLI_FAIL;
    }
    return status;
}
