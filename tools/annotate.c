/* SPDX-License-Identifier: MIT */
/*
 * tools/annotate.c - deciding what a plain `info mtree` dump leaves open.
 *
 * QEMU prints containers and MMIO regions alike as `i/o`, prints siblings
 * of equal priority by address although the one added last wins where they
 * overlap, and prints a read-only alias of RAM as `ram`. `guestmem annotate
 * DUMP [QEMU_FLAT]` writes DUMP back with what is missing: `container` on
 * the regions that do not terminate, `rom` on read-only aliases and
 * `, order K` on siblings whose render order differs from their print
 * order (docs/board-format.md). With QEMU_FLAT (`info mtree -f` from the
 * same monitor session) the choices are read off QEMU's own flat views;
 * without it they are the importer's documented guesses, all listed.
 *
 * The decisions are made bottom-up over the region graph (children and
 * alias targets first), once per region, so the whole run is linear in
 * what QEMU itself renders:
 *
 *  1. every address space is walked as QEMU renders it (base, clip,
 *     aliases), recording each region's instances: where it sits in which
 *     flat view and which window of it is visible;
 *  2. cover(R), the part of R that something inside R paints, is a
 *     terminating region's whole extent, an alias's slice of its target's
 *     cover, or a container's union of its children's covers. An unknown
 *     `i/o` region R terminates when a flat view shows R itself (its name,
 *     at the offset of that instance) somewhere in a visible window not
 *     covered by its children; it is a container when a flat view shows
 *     nothing at such a point (had R terminated, it would have filled it).
 *     When every such point shows something else, that is a region
 *     rendered before R (either kind fits) or after R (R must not fill),
 *     so R is written `container`; a region never visible keeps the
 *     importer's guess;
 *  3. among overlapping children of equal priority, the flat view says
 *     which one painted each point both cover (what each would paint is
 *     found by descending through covers in render order); each such point
 *     is a "renders before" constraint, and the ranks come from a
 *     topological sort that otherwise keeps the importer's preference;
 *  4. a flat range printed `rom` whose terminating region is not ROM was
 *     reached through a read-only alias: the innermost alias on its path
 *     that never leads to a writable range is marked `rom`.
 *
 * The annotated dump is then imported and rendered by the library and
 * compared with QEMU_FLAT, so the report ends with a checked verdict.
 * Everything is iterative (explicit stacks), and the walk refuses inputs
 * that would need more than MAX_INSTANCES region instances.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "mtree-import.h"

#define MAX_INSTANCES 20000000        /* region instances over all spaces */
#define MAX_ALIAS_HOPS 64             /* aliases on one render path */
#define MAX_PAINT_STEPS 100000        /* levels descended per point */
#define MAX_GROUP_WORK 20000000       /* points x siblings per group */
#define REPORT_WIDTH 78

__extension__ typedef __int128 i128;

/* [lo, hi) */
struct iv {
    gm_u128 lo, hi;
};

/*
 * The flat views of QEMU_FLAT.
 */

struct frange {
    uint64_t start, end; /* END inclusive */
    int prio;
    char *type;
    char *name;
    uint64_t off;
    unsigned line;
};

struct fblock {
    int first_as, nas;
    int first_range, nranges;
    char *root; /* NULL when not printed */
    unsigned line;
};

struct flat {
    const char *label;
    struct frange *r;
    int nr, rcap;
    struct fblock *b;
    int nb, bcap;
    char **as_name, **as_root;
    bool *as_used;
    int nas, ascap;
    bool old_format; /* one block per space, no offsets, no root line */
};

/* One visible place of a region in a flat view. */
struct inst {
    int block;
    i128 base;       /* address of the region's offset 0 */
    gm_u128 lo, hi;  /* the visible window */
    int next;        /* next instance of the same region, -1 */
};

/* Why a region got its annotation (for the report). */
enum why {
    W_NONE,
    W_SHOWN,      /* the flat view shows it */
    W_EMPTY,      /* the flat view shows nothing where it would fill */
    W_CONFLICT,   /* both; taken as terminating */
    W_HIDDEN,     /* visible, but every point shows something else */
    W_NO_EFFECT,  /* never visible: guessed */
};

struct ann {
    const char *label;
    struct mtree_dump *d;
    struct flat *f; /* NULL without QEMU_FLAT */
    struct inst *in;
    int nin, incap;
    int *ihead;            /* per node: first instance */
    struct iv **cov;       /* per node: cover in local coordinates */
    int *ncov;
    int **rkids;           /* per node: children in render order */
    int *nrkids;
    unsigned char *state;  /* per node: 0 new, 1 open, 2 done */
    unsigned char *why;    /* per node: enum why */
    gm_u128 *where;        /* per node: the address that decided */
    int *where_block;
    bool *tok_order;       /* per node: write `, order K` */
    unsigned char *gwhy;   /* per first member of a group: enum why */
    bool *rw_seen;         /* per alias: leads to a writable range */
    bool *orig_rom;        /* per alias: its line said `rom` */
    int *group_report;     /* first member of groups decided from FLAT */
    int ngroup_report;
    int *roots;            /* (root node, block) pairs already walked */
    int nroots;
    int nro_unplaced;      /* read-only ranges with no alias to mark */
    bool hops_warned;
    bool too_many;
};

static int grow(void *v, int *cap, int n, size_t esz)
{
    void **pv = v;

    if (n < *cap) {
        return 0;
    }
    if (*cap > (1 << 29)) {
        return -1;
    }
    int ncap = *cap ? *cap * 2 : 64;
    void *nv = realloc(*pv, (size_t)ncap * esz);

    if (!nv) {
        return -1;
    }
    *pv = nv;
    *cap = ncap;
    return 0;
}

static int ferr(const char *label, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int ferr(const char *label, unsigned line, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s:%u: expected ", label, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return -1;
}

/*
 * Reading files.
 */

/*
 * Parsing QEMU_FLAT.
 */

static bool lex_hex16(char **pp, uint64_t *out)
{
    char *p = *pp;
    uint64_t v = 0;
    int n = 0;

    for (;; p++, n++) {
        int c = *p;
        int x = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;

        if (x < 0) {
            break;
        }
        if (n == 16) {
            return false;
        }
        v = v << 4 | (uint64_t)x;
    }
    if (n == 0) {
        return false;
    }
    *pp = p;
    *out = v;
    return true;
}

static bool ends_with(char *s, const char *suffix, bool cut)
{
    size_t n = strlen(s), k = strlen(suffix);

    if (n > k && !strcmp(s + n - k, suffix)) {
        if (cut) {
            s[n - k] = '\0';
        }
        return true;
    }
    return false;
}

/* Strip ` owner:{...}` / ` parent:{...}` / ` orphan` (info mtree -f -o). */
static void strip_owners(char *s)
{
    for (;;) {
        size_t n = strlen(s);
        char *open;

        if (n && s[n - 1] == '}' && (open = strrchr(s, '{')) != NULL) {
            if (open - s >= 7 && !strncmp(open - 7, " owner:", 7)) {
                open[-7] = '\0';
                continue;
            }
            if (open - s >= 8 && !strncmp(open - 8, " parent:", 8)) {
                open[-8] = '\0';
                continue;
            }
        }
        break;
    }
    ends_with(s, " orphan", true);
}

static int flat_range(struct flat *f, char *s, unsigned line, bool owners)
{
    static const char *const accels[] = {" kvm", " KVM", " hvf", " HVF",
                                         " whpx", " WHPX", " nvmm", " NVMM",
                                         " xen", " Xen", " mshv", " MSHV"};
    struct frange r = {.line = line};
    char *p = s + 2, *q, *body;
    long prio;

    if (!lex_hex16(&p, &r.start) || *p++ != '-' || !lex_hex16(&p, &r.end) ||
        r.end < r.start || strncmp(p, " (prio ", 7)) {
        return ferr(f->label, line, "a range `  START-END (prio P, TYPE): NAME`");
    }
    p += 7;
    errno = 0;
    prio = strtol(p, &q, 10);
    if (q == p || errno || prio < INT32_MIN || prio > INT32_MAX ||
        strncmp(q, ", ", 2)) {
        return ferr(f->label, line, "a 32-bit priority in `(prio P, TYPE)`");
    }
    r.prio = (int)prio;
    r.type = q + 2;
    body = strstr(r.type, "): ");
    if (!body || body == r.type) {
        return ferr(f->label, line, "`(prio P, TYPE): NAME`");
    }
    *body = '\0';
    body += 3;
    for (bool again = true; again;) {
        again = false;
        for (size_t i = 0; i < sizeof(accels) / sizeof(accels[0]); i++) {
            if (ends_with(body, accels[i], true)) {
                again = true;
            }
        }
    }
    if (owners) {
        strip_owners(body);
    }
    q = strrchr(body, '@');
    if (q && q > body && q[-1] == ' ' && strlen(q + 1) == 16) {
        char *h = q + 1;

        if (lex_hex16(&h, &r.off) && *h == '\0') {
            q[-1] = '\0';
        }
    }
    r.name = body;
    if (grow(&f->r, &f->rcap, f->nr, sizeof(*f->r)) < 0) {
        return ferr(f->label, line, "memory for the flat view");
    }
    f->r[f->nr++] = r;
    f->b[f->nb - 1].nranges++;
    return 0;
}

static int flat_block(struct flat *f, unsigned line)
{
    if (grow(&f->b, &f->bcap, f->nb, sizeof(*f->b)) < 0) {
        return ferr(f->label, line, "memory for the flat view");
    }
    f->b[f->nb++] = (struct fblock){.first_as = f->nas, .first_range = f->nr,
                                    .line = line};
    return 0;
}

static int flat_as(struct flat *f, char *name, char *root, unsigned line)
{
    int cap = f->ascap;

    if (grow(&f->as_name, &cap, f->nas, sizeof(*f->as_name)) < 0) {
        return ferr(f->label, line, "memory for the flat view");
    }
    if (cap != f->ascap) {
        char **nr = realloc(f->as_root, (size_t)cap * sizeof(*nr));
        bool *nu;

        if (!nr) {
            return ferr(f->label, line, "memory for the flat view");
        }
        f->as_root = nr;
        nu = realloc(f->as_used, (size_t)cap * sizeof(*nu));
        if (!nu) {
            return ferr(f->label, line, "memory for the flat view");
        }
        f->as_used = nu;
        f->ascap = cap;
    }
    f->as_name[f->nas] = name;
    f->as_root[f->nas] = root;
    f->as_used[f->nas] = false;
    f->nas++;
    f->b[f->nb - 1].nas++;
    return 0;
}

/*
 * Parse `info mtree -f` output: `FlatView #N` blocks with ` AS "NAME",
 * root: ROOT` lines (QEMU 2.11 and later) or, from older QEMU, one
 * `address-space: NAME` block per space without offsets. @text is cut in
 * place.
 */
static int parse_flat(struct flat *f, char *text, size_t len)
{
    char *p = text, *end = text + len;
    unsigned line = 0;
    bool owners = memmem(text, len, " owner:{", 8) != NULL;

    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *s = p;
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

        p = nl ? nl + 1 : end;
        line++;
        if (memchr(s, '\0', n)) {
            return ferr(f->label, line, "text, not a NUL byte");
        }
        s[n] = '\0';
        if (n && s[n - 1] == '\r') {
            s[--n] = '\0';
        }
        if (n == 0) {
            continue;
        }
        if (!strncmp(s, "FlatView #", 10)) {
            if (flat_block(f, line) < 0) {
                return -1;
            }
            continue;
        }
        if (!strncmp(s, "address-space: ", 15) ||
            !strncmp(s, "address-space (flat view): ", 27)) {
            char *name = strchr(s, ':') + 2;

            f->old_format = true;
            if (flat_block(f, line) < 0 || flat_as(f, name, NULL, line) < 0) {
                return -1;
            }
            continue;
        }
        if (f->nb == 0) {
            return ferr(f->label, line,
                        "`FlatView #N` (QEMU's `info mtree -f` output)");
        }
        if (!strncmp(s, " AS \"", 5)) {
            char *q = strstr(s + 5, "\", root: ");
            char *alias;

            if (!q) {
                return ferr(f->label, line, "` AS \"NAME\", root: ROOT`");
            }
            *q = '\0';
            alias = strstr(q + 9, ", alias ");
            if (alias) {
                *alias = '\0';
            }
            if (flat_as(f, s + 5, q + 9, line) < 0) {
                return -1;
            }
            continue;
        }
        if (!strncmp(s, " Root memory region: ", 21)) {
            f->b[f->nb - 1].root = s + 21;
            continue;
        }
        if (!strcmp(s, "  No rendered FlatView") ||
            !strncmp(s, "  No rendered FlatView for address space '", 42)) {
            continue;
        }
        if (s[0] == ' ' && s[1] == ' ' && s[2] != ' ') {
            if (flat_range(f, s, line, owners) < 0) {
                return -1;
            }
            continue;
        }
        return ferr(f->label, line,
                    "a line of `info mtree -f` output (`FlatView #N`, ` AS`, "
                    "` Root memory region:` or a range), not `%s`",
                    s);
    }
    if (f->nb == 0) {
        return ferr(f->label, 1, "`FlatView #N` (QEMU's `info mtree -f` output)");
    }
    for (int b = 0; b < f->nb; b++) {
        const struct fblock *bl = &f->b[b];

        for (int i = 1; i < bl->nranges; i++) {
            const struct frange *x = &f->r[bl->first_range + i - 1];
            const struct frange *y = &f->r[bl->first_range + i];

            if (y->start <= x->end) {
                return ferr(f->label, y->line,
                            "sorted ranges that do not overlap (line %u)",
                            x->line);
            }
        }
    }
    return 0;
}

static void flat_free(struct flat *f)
{
    free(f->r);
    free(f->b);
    free(f->as_name);
    free(f->as_root);
    free(f->as_used);
}

/* The first range of block @b that ends at or after @x, or nranges. */
static int range_from(const struct flat *f, int b, gm_u128 x)
{
    const struct frange *r = f->r + f->b[b].first_range;
    int lo = 0, hi = f->b[b].nranges;

    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;

        if ((gm_u128)r[mid].end < x) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* The range of block @b holding @x, or NULL. */
static const struct frange *range_at(const struct flat *f, int b, gm_u128 x)
{
    int i = range_from(f, b, x);

    if (i < f->b[b].nranges && f->r[f->b[b].first_range + i].start <= x) {
        return &f->r[f->b[b].first_range + i];
    }
    return NULL;
}

/*
 * The region graph.
 */

static int target_of(const struct mtree_dump *d, int i)
{
    return d->nodes[d->trees[d->nodes[i].target_sec].root].obj;
}

static uint64_t own_addr(const struct mtree_dump *d, int i)
{
    int p = d->nodes[i].parent;

    return p < 0 ? d->nodes[i].start : d->nodes[i].start - d->nodes[p].start;
}

static bool terminates(const struct mtree_node *nd)
{
    return !nd->alias && nd->kind != MT_CONTAINER;
}

/* Whether local offset @x is in region @i's cover. */
static bool covered(const struct ann *a, int i, gm_u128 x)
{
    const struct iv *c = a->cov[i];
    int lo = 0, hi = a->ncov[i];

    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;

        if (c[mid].hi <= x) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < a->ncov[i] && c[lo].lo <= x;
}

/*
 * What region @m (its offset 0 at @base) paints at address @x, following
 * covers in render order: the terminating region and its base. Aliases met
 * are appended to @path (when not NULL, up to @cap). Returns false when
 * nothing inside @m paints @x.
 */
static bool paint_at(const struct ann *a, int m, i128 base, gm_u128 x,
                     int *painter, i128 *pbase, int *path, int *npath, int cap)
{
    const struct mtree_dump *d = a->d;

    for (int steps = 0; steps < MAX_PAINT_STEPS; steps++) {
        const struct mtree_node *nd = &d->nodes[m];
        bool down = false;

        if (nd->disabled || a->state[m] != 2 || (i128)x < base ||
            (i128)x >= base + (i128)nd->size) {
            return false;
        }
        if (nd->alias) {
            if (path && *npath < cap) {
                path[(*npath)++] = m;
            }
            base -= (i128)nd->off;
            m = target_of(d, m);
            continue;
        }
        for (int k = 0; k < a->nrkids[m]; k++) {
            int c = a->rkids[m][k];
            i128 cb = base + (i128)own_addr(d, c);

            if (!d->nodes[c].disabled && (i128)x >= cb &&
                covered(a, c, (gm_u128)((i128)x - cb))) {
                m = c;
                base = cb;
                down = true;
                break;
            }
        }
        if (down) {
            continue;
        }
        if (!terminates(nd)) {
            return false;
        }
        *painter = m;
        *pbase = base;
        return true;
    }
    return false;
}

/* Whether flat range @r is what region @p with base @base paints. */
static bool shows(const struct ann *a, const struct frange *r, int p,
                  i128 base)
{
    if (strcmp(r->name, a->d->nodes[p].name)) {
        return false;
    }
    return a->f->old_format || (i128)r->start - (i128)r->off == base;
}

/*
 * 1. Instances.
 */

struct frame {
    int node;
    i128 base;
    gm_u128 lo, hi;
    int hops;
};

static int add_instance(struct ann *a, int node, int block, i128 base,
                        gm_u128 lo, gm_u128 hi)
{
    if (a->nin >= MAX_INSTANCES) {
        if (!a->too_many) {
            fprintf(stderr,
                    "%s: expected at most %d region instances over all "
                    "address spaces (aliases multiply them)\n",
                    a->label, MAX_INSTANCES);
        }
        a->too_many = true;
        return -1;
    }
    if (grow(&a->in, &a->incap, a->nin, sizeof(*a->in)) < 0) {
        return -1;
    }
    a->in[a->nin] = (struct inst){block, base, lo, hi, a->ihead[node]};
    a->ihead[node] = a->nin++;
    return 0;
}

/* Walk region @root (a real node) as QEMU renders it for flat view @b. */
static int walk(struct ann *a, int root, int block)
{
    const struct mtree_dump *d = a->d;
    struct frame *st = NULL;
    int sp = 0, cap = 0, rc = 0;

    if (grow(&st, &cap, sp, sizeof(*st)) < 0) {
        return -1;
    }
    st[sp++] = (struct frame){root, (i128)own_addr(d, root), 0, GM_SIZE_2_64,
                              0};
    while (sp > 0 && !rc) {
        struct frame fr = st[--sp];
        const struct mtree_node *nd = &d->nodes[fr.node];
        i128 lo = fr.base > (i128)fr.lo ? fr.base : (i128)fr.lo;
        i128 hi = fr.base + (i128)nd->size;

        if (nd->disabled) {
            continue;
        }
        if (hi > (i128)fr.hi) {
            hi = (i128)fr.hi;
        }
        if (lo >= hi) {
            continue;
        }
        rc = add_instance(a, fr.node, block, fr.base, (gm_u128)lo,
                          (gm_u128)hi);
        if (rc) {
            break;
        }
        if (nd->alias) {
            if (fr.hops >= MAX_ALIAS_HOPS) {
                if (!a->hops_warned) {
                    fprintf(stderr,
                            "%s:%u: note: more than %d aliases on one render "
                            "path; not followed further\n",
                            a->label, nd->line, MAX_ALIAS_HOPS);
                }
                a->hops_warned = true;
                continue;
            }
            if (grow(&st, &cap, sp, sizeof(*st)) < 0) {
                rc = -1;
                break;
            }
            st[sp++] = (struct frame){target_of(d, fr.node),
                                      fr.base - (i128)nd->off, (gm_u128)lo,
                                      (gm_u128)hi, fr.hops + 1};
            continue;
        }
        for (int c = fr.node + 1; c < nd->end_idx; c = d->nodes[c].end_idx) {
            if (grow(&st, &cap, sp, sizeof(*st)) < 0) {
                rc = -1;
                break;
            }
            st[sp++] = (struct frame){c, fr.base + (i128)own_addr(d, c),
                                      (gm_u128)lo, (gm_u128)hi, fr.hops};
        }
    }
    free(st);
    return rc;
}

/* Match every group to a flat view and walk its root there. */
static int walk_spaces(struct ann *a)
{
    struct mtree_dump *d = a->d;
    struct flat *f = a->f;

    for (int t = 0; t < d->nt; t++) {
        const struct mtree_tree *tr = &d->trees[t];
        const char *rootname = d->nodes[tr->root].name;
        int block = -1;

        if (tr->section) {
            continue;
        }
        for (int b = 0; b < f->nb && block < 0; b++) {
            const struct fblock *bl = &f->b[b];
            bool all = true;

            for (int k = tr->first_as; k < tr->first_as + tr->nas && all; k++) {
                bool found = false;

                for (int j = bl->first_as; j < bl->first_as + bl->nas; j++) {
                    if (!f->as_used[j] && !strcmp(f->as_name[j], d->as_names[k]) &&
                        (!f->as_root[j] || !strcmp(f->as_root[j], rootname))) {
                        found = true;
                        break;
                    }
                }
                all = found;
            }
            if (all) {
                block = b;
            }
        }
        if (block < 0) {
            fprintf(stderr,
                    "%s: note: %s has no flat view for address space `%s`; "
                    "its regions are decided without it\n",
                    a->label, f->label, d->as_names[tr->first_as]);
            continue;
        }
        for (int k = tr->first_as; k < tr->first_as + tr->nas; k++) {
            const struct fblock *bl = &f->b[block];

            for (int j = bl->first_as; j < bl->first_as + bl->nas; j++) {
                if (!f->as_used[j] && !strcmp(f->as_name[j], d->as_names[k])) {
                    f->as_used[j] = true;
                    break;
                }
            }
        }
        int root = d->nodes[tr->root].obj;
        bool seen = false;

        for (int i = 0; i < a->nroots; i++) {
            seen |= a->roots[2 * i] == root && a->roots[2 * i + 1] == block;
        }
        if (seen) {
            continue;
        }
        int cap = a->nroots * 2;

        if (grow(&a->roots, &cap, a->nroots * 2 + 1, sizeof(int)) < 0) {
            return -1;
        }
        a->roots[2 * a->nroots] = root;
        a->roots[2 * a->nroots + 1] = block;
        a->nroots++;
        if (walk(a, root, block) < 0) {
            return -1;
        }
    }
    return 0;
}

/*
 * 2. Covers and kinds.
 */

static int cmp_iv(const void *x, const void *y)
{
    const struct iv *a = x, *b = y;

    if (a->lo != b->lo) {
        return a->lo < b->lo ? -1 : 1;
    }
    return (a->hi > b->hi) - (a->hi < b->hi);
}

/* Sort and merge @n intervals in place; returns the new count. */
static int merge_ivs(struct iv *v, int n)
{
    int m = 0;

    if (n > 1) { /* qsort(NULL, 0) is undefined */
        qsort(v, (size_t)n, sizeof(*v), cmp_iv);
    }
    for (int i = 0; i < n; i++) {
        if (m && v[i].lo <= v[m - 1].hi) {
            if (v[i].hi > v[m - 1].hi) {
                v[m - 1].hi = v[i].hi;
            }
        } else {
            v[m++] = v[i];
        }
    }
    return m;
}

/* The union of the enabled children's covers of @r, in @r's coordinates. */
static int children_cover(struct ann *a, int r, struct iv **out, int *nout)
{
    const struct mtree_dump *d = a->d;
    const struct mtree_node *nd = &d->nodes[r];
    struct iv *v = NULL;
    int n = 0, cap = 0;

    for (int c = r + 1; c < nd->end_idx; c = d->nodes[c].end_idx) {
        gm_u128 off = own_addr(d, c);

        if (d->nodes[c].disabled || a->state[c] != 2) {
            continue;
        }
        for (int k = 0; k < a->ncov[c]; k++) {
            gm_u128 lo = a->cov[c][k].lo + off, hi = a->cov[c][k].hi + off;

            if (hi > nd->size) {
                hi = nd->size;
            }
            if (lo >= hi) {
                continue;
            }
            if (grow(&v, &cap, n, sizeof(*v)) < 0) {
                free(v);
                return -1;
            }
            v[n++] = (struct iv){lo, hi};
        }
    }
    *nout = merge_ivs(v, n);
    *out = v;
    return 0;
}

/* An alias's cover: its target's cover sliced and shifted. */
static int alias_cover(struct ann *a, int r, struct iv **out, int *nout)
{
    const struct mtree_node *nd = &a->d->nodes[r];
    int t = target_of(a->d, r);
    gm_u128 lo = nd->off, hi = (gm_u128)nd->off + nd->size;
    struct iv *v = NULL;
    int n = 0, cap = 0;

    *out = NULL;
    *nout = 0;
    if (a->state[t] != 2 || a->d->nodes[t].disabled) {
        return 0;
    }
    for (int k = 0; k < a->ncov[t]; k++) {
        gm_u128 x = a->cov[t][k].lo, y = a->cov[t][k].hi;

        if (y <= lo || x >= hi) {
            continue;
        }
        if (grow(&v, &cap, n, sizeof(*v)) < 0) {
            free(v);
            return -1;
        }
        v[n++] = (struct iv){(x > lo ? x : lo) - lo, (y < hi ? y : hi) - lo};
    }
    *out = v;
    *nout = n;
    return 0;
}

/*
 * Decide unknown region @r from its instances: does a flat view show it, or
 * nothing, where it is visible and its children (cover @cc) leave a gap?
 */
static void decide_kind(struct ann *a, int r, const struct iv *cc, int ncc)
{
    struct mtree_node *nd = &a->d->nodes[r];
    const struct flat *f = a->f;
    bool shown = false, empty = false, visible = a->ihead[r] >= 0;
    gm_u128 at_shown = 0, at_empty = 0;
    int b_shown = -1, b_empty = -1;

    for (int i = a->ihead[r]; i >= 0 && !(shown && empty); i = a->in[i].next) {
        const struct inst *in = &a->in[i];
        gm_u128 pos = in->lo;
        int k = 0;

        /* Walk the gaps of the children's cover inside [lo, hi). */
        while (pos < in->hi && !(shown && empty)) {
            gm_u128 gap_end = in->hi;

            while (k < ncc && (gm_u128)((i128)cc[k].hi + in->base) <= pos) {
                k++;
            }
            if (k < ncc && (gm_u128)((i128)cc[k].lo + in->base) <= pos) {
                pos = (gm_u128)((i128)cc[k].hi + in->base);
                continue;
            }
            if (k < ncc && (gm_u128)((i128)cc[k].lo + in->base) < gap_end) {
                gap_end = (gm_u128)((i128)cc[k].lo + in->base);
            }
            /* [pos, gap_end) is visible and not covered by children. */
            const struct fblock *bl = &f->b[in->block];
            gm_u128 x = pos;

            for (int j = range_from(f, in->block, pos);
                 j < bl->nranges && x < gap_end; j++) {
                const struct frange *fr = &f->r[bl->first_range + j];

                if ((gm_u128)fr->start >= gap_end) {
                    break;
                }
                if ((gm_u128)fr->start > x && !empty) {
                    empty = true;
                    at_empty = x;
                    b_empty = in->block;
                }
                if (!shown && shows(a, fr, r, in->base)) {
                    shown = true;
                    at_shown = fr->start > x ? fr->start : x;
                    b_shown = in->block;
                }
                x = (gm_u128)fr->end + 1;
            }
            if (x < gap_end && !empty) {
                empty = true;
                at_empty = x;
                b_empty = in->block;
            }
            pos = gap_end;
        }
    }
    if (shown) {
        nd->kind = MT_IO;
        a->why[r] = empty ? W_CONFLICT : W_SHOWN;
        a->where[r] = at_shown;
        a->where_block[r] = b_shown;
    } else if (empty) {
        nd->kind = MT_CONTAINER;
        a->why[r] = W_EMPTY;
        a->where[r] = at_empty;
        a->where_block[r] = b_empty;
    } else if (visible) {
        /*
         * Wherever it could fill, the flat view shows a region rendered
         * before it (then either kind fits) or after it (then it must not
         * fill): a container fits every flat view.
         */
        nd->kind = MT_CONTAINER;
        a->why[r] = W_HIDDEN;
    } else {
        a->why[r] = W_NO_EFFECT;
    }
}

/*
 * 3. Orders.
 */

/* Children by priority (descending), then rank: QEMU's render order. */
static int cmp_render(const void *x, const void *y, void *arg)
{
    const struct mtree_dump *d = arg;
    const struct mtree_node *p = &d->nodes[*(const int *)x];
    const struct mtree_node *q = &d->nodes[*(const int *)y];

    if (p->prio != q->prio) {
        return p->prio > q->prio ? -1 : 1;
    }
    return (p->rank > q->rank) - (p->rank < q->rank);
}

static int cmp_u128(const void *x, const void *y)
{
    gm_u128 a = *(const gm_u128 *)x, b = *(const gm_u128 *)y;

    return (a > b) - (a < b);
}

static int cmp_pair(const void *x, const void *y)
{
    const int *a = x, *b = y;

    if (a[0] != b[0]) {
        return a[0] - b[0];
    }
    return a[1] - b[1];
}

/*
 * Gather "renders before" constraints among the @n siblings @sib (print
 * order) of @p from the flat views: at each point two or more of them
 * cover, the one whose paint the flat view shows renders before the others
 * that would paint something else. Appends position pairs to *@edges.
 */
static int group_edges(struct ann *a, int p, const int *sib, int n,
                       int **edges, int *ne, int *ecap)
{
    const struct mtree_dump *d = a->d;
    gm_u128 *pts = NULL;
    int npts = 0, pcap = 0, rc = 0;
    int *painter = malloc((size_t)n * sizeof(int));
    i128 *pbase = malloc((size_t)n * sizeof(i128));
    bool *cov = malloc((size_t)n * sizeof(bool));

    if (!painter || !pbase || !cov) {
        rc = -1;
        goto out;
    }
    for (int i = a->ihead[p]; i >= 0 && !rc; i = a->in[i].next) {
        const struct inst *in = &a->in[i];
        const struct fblock *bl = &a->f->b[in->block];

        npts = 0;
        /* Test points: members' cover boundaries and flat range starts. */
        for (int m = 0; m < n && !rc; m++) {
            i128 mb = in->base + (i128)own_addr(d, sib[m]);

            for (int k = 0; k < a->ncov[sib[m]]; k++) {
                i128 lo = mb + (i128)a->cov[sib[m]][k].lo;
                i128 hi = mb + (i128)a->cov[sib[m]][k].hi;

                if (hi <= (i128)in->lo || lo >= (i128)in->hi) {
                    continue;
                }
                if (lo < (i128)in->lo) {
                    lo = (i128)in->lo;
                }
                if (grow(&pts, &pcap, npts, sizeof(*pts)) < 0) {
                    rc = -1;
                    break;
                }
                pts[npts++] = (gm_u128)lo;
                for (int j = range_from(a->f, in->block, (gm_u128)lo);
                     j < bl->nranges && !rc; j++) {
                    const struct frange *fr = &a->f->r[bl->first_range + j];

                    if ((i128)fr->start >= hi) {
                        break;
                    }
                    if ((i128)fr->start > lo) {
                        if (grow(&pts, &pcap, npts, sizeof(*pts)) < 0) {
                            rc = -1;
                            break;
                        }
                        pts[npts++] = fr->start;
                    }
                }
            }
        }
        if (rc) {
            break;
        }
        if (npts > 1) { /* qsort(NULL, 0) is undefined */
            qsort(pts, (size_t)npts, sizeof(*pts), cmp_u128);
        }
        if ((double)npts * n > MAX_GROUP_WORK) {
            fprintf(stderr,
                    "%s:%u: note: too many overlapping siblings to decide "
                    "their order here\n",
                    a->label, d->nodes[sib[0]].line);
            break;
        }
        for (int k = 0; k < npts && !rc; k++) {
            gm_u128 x = pts[k];
            const struct frange *fr;
            int ncov = 0, win = -1;

            if (k && pts[k - 1] == x) {
                continue;
            }
            for (int m = 0; m < n; m++) {
                i128 mb = in->base + (i128)own_addr(d, sib[m]);

                cov[m] = !d->nodes[sib[m]].disabled && (i128)x >= mb &&
                         covered(a, sib[m], (gm_u128)((i128)x - mb));
                ncov += cov[m];
            }
            fr = ncov >= 2 ? range_at(a->f, in->block, x) : NULL;
            if (!fr) {
                continue;
            }
            for (int m = 0; m < n; m++) {
                if (cov[m] &&
                    !paint_at(a, sib[m], in->base + (i128)own_addr(d, sib[m]),
                              x, &painter[m], &pbase[m], NULL, NULL, 0)) {
                    cov[m] = false;
                }
                if (cov[m] && win < 0 && shows(a, fr, painter[m], pbase[m])) {
                    win = m;
                }
            }
            if (win < 0) {
                continue;
            }
            for (int m = 0; m < n && !rc; m++) {
                if (!cov[m] || m == win ||
                    (painter[m] == painter[win] && pbase[m] == pbase[win])) {
                    continue;
                }
                if (grow(edges, ecap, *ne * 2 + 1, 2 * sizeof(int)) < 0) {
                    rc = -1;
                    break;
                }
                (*edges)[2 * *ne] = win;
                (*edges)[2 * *ne + 1] = m;
                (*ne)++;
            }
        }
    }
out:
    free(pts);
    free(painter);
    free(pbase);
    free(cov);
    return rc;
}

/* Rank the children of @p; groups that overlap apart are decided here. */
static int order_children(struct ann *a, int p)
{
    struct mtree_dump *d = a->d;
    const struct mtree_node *pn = &d->nodes[p];
    int n = 0, rc = 0, *kids, *sib, *edges = NULL, ecap = 0;
    unsigned pos = 0;

    for (int c = p + 1; c < pn->end_idx; c = d->nodes[c].end_idx) {
        n++;
    }
    kids = malloc(((size_t)n + 1) * sizeof(*kids));
    sib = malloc(((size_t)n + 1) * sizeof(*sib));
    if (!kids || !sib) {
        free(kids);
        free(sib);
        return -1;
    }
    n = 0;
    for (int c = p + 1; c < pn->end_idx; c = d->nodes[c].end_idx) {
        kids[n++] = c;
    }
    for (int i = 0; i < n && !rc; i++) {
        int prio = d->nodes[kids[i]].prio, m = 0, ne = 0, nen = 0;

        if (d->nodes[kids[i]].state) {
            continue;
        }
        /* The group of this priority, in print order. */
        for (int j = i; j < n; j++) {
            if (d->nodes[kids[j]].prio == prio) {
                sib[m++] = kids[j];
                d->nodes[kids[j]].state = 1;
            }
        }
        for (int j = 0; j < m; j++) {
            nen += !d->nodes[sib[j]].disabled;
        }
        if (m < 2 || nen < 2) {
            continue;
        }
        int *en = malloc((size_t)m * sizeof(*en));

        if (!en) {
            rc = -1;
            break;
        }
        nen = 0;
        for (int j = 0; j < m; j++) {
            if (!d->nodes[sib[j]].disabled) {
                en[nen++] = sib[j];
            }
        }
        bool apart = mtree_overlap_apart(d, en, nen);

        free(en);
        if (!apart) {
            continue;
        }
        /* Print positions, then the constraints, then the ranks. */
        pos = 0;
        for (int c = p + 1; c < pn->end_idx; c = d->nodes[c].end_idx) {
            pos++;
            if (d->nodes[c].prio == prio) {
                d->nodes[c].rank = pos;
            }
        }
        if (a->f) {
            rc = group_edges(a, p, sib, m, &edges, &ne, &ecap);
        }
        if (rc) {
            break;
        }
        if (ne > 1) { /* qsort(NULL, 0) is undefined */
            qsort(edges, (size_t)ne, 2 * sizeof(int), cmp_pair);
        }
        int ue = 0;

        for (int e = 0; e < ne; e++) {
            if (!ue || cmp_pair(&edges[2 * e], &edges[2 * (ue - 1)])) {
                edges[2 * ue] = edges[2 * e];
                edges[2 * ue + 1] = edges[2 * e + 1];
                ue++;
            }
        }
        /* With QEMU_FLAT, what it does not constrain keeps print order. */
        rc = mtree_order_group(d, sib, m, edges, ue, a->f == NULL);
        if (rc < 0) {
            break;
        }
        a->gwhy[sib[0]] = rc == 1 ? W_CONFLICT : ue ? W_SHOWN : W_NO_EFFECT;
        rc = 0;
        for (int j = 0; j < m; j++) {
            if (d->nodes[sib[j]].rank != (unsigned)j + 1) {
                for (int k = 0; k < m; k++) {
                    a->tok_order[sib[k]] = true;
                }
                break;
            }
        }
        int *ng = realloc(a->group_report, ((size_t)a->ngroup_report + 1) *
                                               sizeof(*a->group_report));

        if (!ng) {
            rc = -1;
            break;
        }
        a->group_report = ng;
        a->group_report[a->ngroup_report++] = sib[0];
    }
    for (int i = 0; i < n; i++) {
        d->nodes[kids[i]].state = 0;
    }
    free(edges);
    free(kids);
    free(sib);
    return rc;
}

/* Cover, kind, children's order and render order of real node @r. */
static int finish(struct ann *a, int r)
{
    struct mtree_dump *d = a->d;
    struct mtree_node *nd = &d->nodes[r];
    struct iv *cc = NULL;
    int ncc = 0, nk = 0;

    if (nd->alias) {
        if (alias_cover(a, r, &a->cov[r], &a->ncov[r]) < 0) {
            return -1;
        }
        a->state[r] = 2;
        return 0;
    }
    if (children_cover(a, r, &cc, &ncc) < 0) {
        return -1;
    }
    if (nd->unknown && a->f) {
        decide_kind(a, r, cc, ncc);
    }
    if (terminates(nd)) {
        free(cc);
        cc = malloc(sizeof(*cc));
        if (!cc) {
            return -1;
        }
        cc[0] = (struct iv){0, nd->size};
        ncc = 1;
    }
    a->cov[r] = cc;
    a->ncov[r] = ncc;
    if (nd->end_idx > r + 1 && order_children(a, r) < 0) {
        return -1;
    }
    for (int c = r + 1; c < nd->end_idx; c = d->nodes[c].end_idx) {
        nk++;
    }
    a->rkids[r] = malloc(((size_t)nk + 1) * sizeof(int));
    if (!a->rkids[r]) {
        return -1;
    }
    nk = 0;
    for (int c = r + 1; c < nd->end_idx; c = d->nodes[c].end_idx) {
        a->rkids[r][nk++] = c;
    }
    qsort_r(a->rkids[r], (size_t)nk, sizeof(int), cmp_render, d);
    a->nrkids[r] = nk;
    a->state[r] = 2;
    return 0;
}

/*
 * Post-order over the region graph (children and alias targets first),
 * with an explicit stack: a node is pushed when a parent or alias opens
 * and is still new, so the stack holds at most nodes + edges entries. A
 * target still open when an alias finishes closes a loop; the alias then
 * covers nothing (QEMU renders such a window out of its own clip).
 */
static int decide_all(struct ann *a)
{
    struct mtree_dump *d = a->d;
    int *st = malloc((2 * (size_t)d->nn + 2) * sizeof(*st)), rc = 0;

    if (!st) {
        return -1;
    }
    for (int s = 0; s < d->nn && !rc; s++) {
        int sp = 0;

        if (d->nodes[s].obj != s || a->state[s]) {
            continue;
        }
        st[sp++] = s;
        while (sp > 0 && !rc) {
            int r = st[sp - 1];
            const struct mtree_node *nd = &d->nodes[r];

            if (a->state[r] == 2) {
                sp--;
            } else if (a->state[r] == 1) {
                sp--;
                rc = finish(a, r);
            } else if (nd->alias) {
                a->state[r] = 1;
                if (!a->state[target_of(d, r)]) {
                    st[sp++] = target_of(d, r);
                }
            } else {
                a->state[r] = 1;
                for (int c = r + 1; c < nd->end_idx; c = d->nodes[c].end_idx) {
                    if (!a->state[c]) {
                        st[sp++] = c;
                    }
                }
            }
        }
    }
    free(st);
    return rc;
}

/*
 * 4. Read-only aliases.
 */

/* Alias instance starts by flat view, then address (qsort). */
static int cmp_bpoint(const void *x, const void *y)
{
    const gm_u128 *a = x, *b = y;

    if (a[0] != b[0]) {
        return a[0] < b[0] ? -1 : 1;
    }
    return (a[1] > b[1]) - (a[1] < b[1]);
}

/*
 * Test one point of flat range @fr (view @b, walked from @root): with
 * @mark false record the aliases on writable paths, with @mark true mark
 * the innermost alias of a read-only path that never led to a writable one.
 */
static void readonly_point(struct ann *a, int root, int b,
                           const struct frange *fr, gm_u128 x, bool mark)
{
    const struct mtree_dump *d = a->d;
    const char *type = fr->type + (strncmp(fr->type, "nv-", 3) ? 0 : 3);
    int path[MAX_ALIAS_HOPS + 1], painter, np = 0, k;
    i128 pb;

    if (!paint_at(a, root, (i128)own_addr(d, root), x, &painter, &pb, path, &np,
                  MAX_ALIAS_HOPS) ||
        !shows(a, fr, painter, pb)) {
        return;
    }
    if (strcmp(type, "rom") || d->nodes[painter].kind == MT_ROM) {
        for (k = 0; k < np && !mark; k++) {
            a->rw_seen[path[k]] = true;
        }
        return;
    }
    if (!mark) {
        return;
    }
    for (k = np - 1; k >= 0 && a->rw_seen[path[k]]; k--) {
    }
    if (k < 0) {
        a->nro_unplaced++;
        return;
    }
    if (!d->nodes[path[k]].rom_token) {
        a->d->nodes[path[k]].rom_token = true;
        a->why[path[k]] = W_SHOWN;
        a->where[path[k]] = x;
        a->where_block[path[k]] = b;
    }
}

/*
 * Read-only aliases: every flat range is tested at its start and where an
 * alias window starts inside it (a range QEMU merged may run through
 * several aliases).
 */
static int readonly_pass(struct ann *a, bool mark)
{
    const struct mtree_dump *d = a->d;
    gm_u128 *pts = NULL;
    int npts = 0, cap = 0;

    for (int i = 0; i < d->nn; i++) {
        if (d->nodes[i].obj != i || !d->nodes[i].alias) {
            continue;
        }
        for (int k = a->ihead[i]; k >= 0; k = a->in[k].next) {
            if (grow(&pts, &cap, npts + 1, 2 * sizeof(*pts)) < 0) {
                free(pts);
                return -1;
            }
            pts[2 * npts] = (gm_u128)a->in[k].block;
            pts[2 * npts + 1] = a->in[k].lo;
            npts++;
        }
    }
    if (npts > 1) { /* qsort(NULL, 0) is undefined */
        qsort(pts, (size_t)npts, 2 * sizeof(*pts), cmp_bpoint);
    }
    for (int i = 0; i < a->nroots; i++) {
        int root = a->roots[2 * i], b = a->roots[2 * i + 1];
        const struct fblock *bl = &a->f->b[b];
        int p = 0;

        while (p < npts && pts[2 * p] < (gm_u128)b) {
            p++;
        }
        for (int j = 0; j < bl->nranges; j++) {
            const struct frange *fr = &a->f->r[bl->first_range + j];

            readonly_point(a, root, b, fr, fr->start, mark);
            while (p < npts && pts[2 * p] == (gm_u128)b &&
                   pts[2 * p + 1] <= fr->end) {
                if (pts[2 * p + 1] > fr->start) {
                    readonly_point(a, root, b, fr, pts[2 * p + 1], mark);
                }
                p++;
            }
        }
    }
    free(pts);
    return 0;
}

/*
 * Writing the annotated dump.
 */

/* The kind a chain of aliases ends at, or -1 (a loop). */
static int final_kind(const struct mtree_dump *d, int i)
{
    for (int hops = 0; hops <= d->nn; hops++) {
        if (!d->nodes[i].alias) {
            return d->nodes[i].kind;
        }
        i = target_of(d, i);
    }
    return -1;
}

/* The attributes written for node @i into @buf. */
static void attrs(const struct ann *a, int i, char *buf, size_t n)
{
    const struct mtree_dump *d = a->d;
    const struct mtree_node *nd = &d->nodes[i];
    const struct mtree_node *r = &d->nodes[nd->obj];
    const char *type;
    int fk;

    if (nd->alias) {
        fk = final_kind(d, nd->obj);
        if (r->rom_token) {
            type = "rom";
        } else if (fk == MT_CONTAINER || fk < 0) {
            type = "i/o";
        } else {
            type = mtree_kind_name((enum mtree_kind)fk);
        }
    } else {
        type = mtree_kind_name(r->kind);
    }
    if (a->tok_order[nd->obj]) {
        snprintf(buf, n, "%s%s, order %u", nd->nv ? "nv-" : "", type, r->rank);
    } else {
        snprintf(buf, n, "%s%s", nd->nv ? "nv-" : "", type);
    }
}

/* Write @text (the original dump) with every line's attributes rewritten. */
static int write_dump(const struct ann *a, const char *text, size_t len,
                      FILE *out, bool marker)
{
    const struct mtree_dump *d = a->d;
    size_t pos = 0;
    char buf[96];

    for (int i = 0; i < d->nn; i++) {
        const struct mtree_node *nd = &d->nodes[i];
        size_t olen = nd->type_end - nd->type_off;

        attrs(a, i, buf, sizeof(buf));
        if (marker && i == d->trees[0].root) {
            strncat(buf, ", order 1", sizeof(buf) - strlen(buf) - 1);
        }
        if (strlen(buf) == olen && !memcmp(buf, text + nd->type_off, olen) &&
            !(nd->order && !a->tok_order[nd->obj])) {
            continue;
        }
        fwrite(text + pos, 1, nd->type_off - pos, out);
        fputs(buf, out);
        pos = nd->type_end;
    }
    fwrite(text + pos, 1, len - pos, out);
    return ferror(out) ? -1 : 0;
}

/*
 * Checking the result against QEMU_FLAT.
 */

struct canon {
    char *key;  /* the AS lines, sorted */
    char *body; /* root and ranges */
};

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

static int cmp_canon(const void *x, const void *y)
{
    const struct canon *a = x, *b = y;
    int c = strcmp(a->key, b->key);

    return c ? c : strcmp(a->body, b->body);
}

/*
 * Flat view @b as comparable text, as check-flat compares them: the
 * sorted AS lines as key, the root and the ranges as body. With @as >= 0
 * (old QEMU, one view per space, no offsets or roots) the key is that one
 * space of the view.
 */
static int canon_block(const struct flat *f, int b, bool old, int as,
                       struct canon *c)
{
    const struct fblock *bl = &f->b[b];
    char **names = malloc(((size_t)bl->nas + 1) * sizeof(*names));
    char *key = NULL, *body = NULL;
    size_t klen = 0, blen = 0;
    int n = 0;
    FILE *k, *o;

    if (!names) {
        return -1;
    }
    k = open_memstream(&key, &klen);
    o = open_memstream(&body, &blen);
    if (!k || !o) {
        if (k) {
            fclose(k);
        }
        if (o) {
            fclose(o);
        }
        free(names);
        free(key);
        free(body);
        return -1;
    }
    for (int i = 0; i < bl->nas; i++) {
        if (as < 0 || i == as) {
            names[n++] = f->as_name[bl->first_as + i];
        }
    }
    if (n > 1) { /* qsort(NULL, 0) is undefined */
        qsort(names, (size_t)n, sizeof(*names), cmp_str);
    }
    for (int i = 0; i < n; i++) {
        fprintf(k, "AS \"%s\"\n", names[i]);
    }
    if (!old) {
        fprintf(o, " Root memory region: %s\n", bl->root ? bl->root : "?");
    }
    for (int i = 0; i < bl->nranges; i++) {
        const struct frange *r = &f->r[bl->first_range + i];
        const char *type = strcmp(r->type, "container") ? r->type : "i/o";

        fprintf(o, "  %016" PRIx64 "-%016" PRIx64 " (prio %d, %s): %s", r->start,
                r->end, r->prio, type, r->name);
        if (!old && r->off) {
            fprintf(o, " @%016" PRIx64, r->off);
        }
        fputc('\n', o);
    }
    fclose(k);
    fclose(o);
    free(names);
    c->key = key;
    c->body = body;
    return 0;
}

/*
 * All flat views of @f as comparable entries (one per view, or one per
 * space when @old). Returns the count, or -1.
 */
static int canon_all(const struct flat *f, bool old, struct canon **out)
{
    int n = 0, cap = old ? f->nas : f->nb;
    struct canon *c = calloc((size_t)cap + 1, sizeof(*c));

    if (!c) {
        return -1;
    }
    for (int b = 0; b < f->nb; b++) {
        for (int as = old ? 0 : -1; as < (old ? f->b[b].nas : 0); as++) {
            if (canon_block(f, b, old, as, &c[n]) < 0) {
                *out = c;
                return -1;
            }
            n++;
        }
    }
    if (n > 1) { /* qsort(NULL, 0) is undefined */
        qsort(c, (size_t)n, sizeof(*c), cmp_canon);
    }
    *out = c;
    return n;
}

static void canon_free(struct canon *c, int n)
{
    for (int i = 0; c && i < n; i++) {
        free(c[i].key);
        free(c[i].body);
    }
    free(c);
}

/* Print the first line where two flat views differ. */
static void show_diff(const char *want, const char *got)
{
    while (*want || *got) {
        size_t lw = strcspn(want, "\n"), lg = strcspn(got, "\n");

        if (lw != lg || memcmp(want, got, lw)) {
            fprintf(stderr, "  first difference:\n    QEMU:     %.*s\n"
                            "    guestmem: %.*s\n",
                    (int)lw, want, (int)lg, got);
            return;
        }
        want += lw + (want[lw] == '\n');
        got += lg + (got[lg] == '\n');
    }
}

/*
 * Import the annotated dump, render it with the library and compare its
 * flat views with QEMU_FLAT. Returns 1 when they match, 0 when not, -1 on
 * errors.
 */
static int verify(struct ann *a, const char *out, size_t len)
{
    char *copy = malloc(len + 1), *ftext = NULL;
    struct mtree_dump d2 = {0};
    struct machine m = {0};
    struct flat mine = {.label = "guestmem mtree -f"};
    struct canon *ca = NULL, *cb = NULL;
    gm_error err = {0};
    size_t flen = 0;
    int rc = -1, na = -1, nb = -1;
    FILE *fs;

    if (!copy) {
        return -1;
    }
    memcpy(copy, out, len);
    if (mtree_dump_parse(&d2, "<annotated dump>", copy, len) < 0 ||
        mtree_dump_guess(&d2) < 0 || mtree_dump_build(&d2, &m) < 0) {
        goto out;
    }
    fs = open_memstream(&ftext, &flen);
    if (!fs) {
        goto out;
    }
    if (gm_mtree_print(m.sys, fs, GM_MTREE_FLAT, &err) < 0) {
        fprintf(stderr, "%s: rendering the annotated dump: %s\n", a->label,
                err.msg);
        fclose(fs);
        goto out;
    }
    fclose(fs);
    if (parse_flat(&mine, ftext, flen) < 0) {
        goto out;
    }
    na = canon_all(a->f, a->f->old_format, &ca);
    nb = canon_all(&mine, a->f->old_format, &cb);
    if (na < 0 || nb < 0) {
        goto out;
    }
    rc = 1;
    for (int i = 0, j = 0, shown = 0; i < na; i++) {
        while (j < nb && cmp_canon(&cb[j], &ca[i]) < 0) {
            j++;
        }
        if (j < nb && !cmp_canon(&cb[j], &ca[i])) {
            j++;
            continue;
        }
        rc = 0;
        if (shown++ < 3) {
            const char *as = ca[i].key + 3;

            fprintf(stderr, "%s: differs from %s in the flat view of %.*s\n",
                    a->label, a->f->label, (int)strcspn(as, "\n"), as);
            for (int k = 0; k < nb; k++) {
                if (!strcmp(cb[k].key, ca[i].key)) {
                    show_diff(ca[i].body, cb[k].body);
                    break;
                }
            }
        }
    }
    if (rc == 1 && nb != na) {
        rc = 0;
        fprintf(stderr, "%s: guestmem renders %d flat views, %s has %d\n",
                a->label, nb, a->f->label, na);
    }
    if (rc == 1) {
        fprintf(stderr,
                "%s: the annotated dump reproduces %s (%d flat views, %d "
                "address spaces)\n",
                a->label, a->f->label, a->f->nb, a->f->nas);
    }
out:
    canon_free(ca, na > 0 ? na : (a->f->old_format ? a->f->nas : a->f->nb));
    canon_free(cb, nb > 0 ? nb : (a->f->old_format ? mine.nas : mine.nb));
    flat_free(&mine);
    free(ftext);
    machine_destroy(&m);
    mtree_dump_free(&d2);
    free(copy);
    return rc;
}

/*
 * The report.
 */

struct listing {
    int col;
    int n;
};

static void list_item(struct listing *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void list_item(struct listing *l, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    int len;

    va_start(ap, fmt);
    len = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (len < 0) {
        return;
    }
    if (l->n && l->col + len + 2 > REPORT_WIDTH) {
        fputs(",\n     ", stderr);
        l->col = 5;
    } else if (l->n) {
        fputs(", ", stderr);
        l->col += 2;
    }
    fputs(buf, stderr);
    l->col += len;
    l->n++;
}

static const char *space_of(const struct ann *a, int block)
{
    const struct fblock *bl = &a->f->b[block];

    return bl->nas ? a->f->as_name[bl->first_as] : "?";
}

static void report_flat(const struct ann *a)
{
    const struct mtree_dump *d = a->d;
    int nleaf = 0, nkept = 0, nhidden = 0;

    fprintf(stderr, "%s: decided from %s:\n", a->label, a->f->label);
    for (int i = 0; i < d->nn; i++) {
        const struct mtree_node *nd = &d->nodes[i];
        bool leaf = nd->end_idx == i + 1;

        if (nd->obj != i || !nd->unknown) {
            continue;
        }
        switch (a->why[i]) {
        case W_SHOWN:
            if (leaf) {
                nleaf++;
                break;
            }
            fprintf(stderr,
                    "  terminates: %s (line %u): the flat view of `%s` "
                    "shows it at 0x%" PRIx64 "\n",
                    nd->name, nd->line, space_of(a, a->where_block[i]),
                    (uint64_t)a->where[i]);
            break;
        case W_EMPTY:
            fprintf(stderr,
                    "  container: %s (line %u): the flat view of `%s` shows "
                    "nothing at 0x%" PRIx64 "%s\n",
                    nd->name, nd->line, space_of(a, a->where_block[i]),
                    (uint64_t)a->where[i],
                    leaf ? "" : ", outside its subregions");
            break;
        case W_CONFLICT:
            fprintf(stderr,
                    "  terminates (conflicting evidence): %s (line %u): "
                    "shown at 0x%" PRIx64 " in `%s`, but nothing shown "
                    "elsewhere in its gaps\n",
                    nd->name, nd->line, (uint64_t)a->where[i],
                    space_of(a, a->where_block[i]));
            break;
        case W_HIDDEN:
            nhidden++;
            break;
        default:
            nkept++;
            break;
        }
    }
    if (nhidden) {
        struct listing l = {0, 0};

        fprintf(stderr,
                "  container (where it could fill, the flat views show "
                "other regions; either kind fits) (%d): ",
                nhidden);
        l.col = 78;
        for (int i = 0; i < d->nn; i++) {
            const struct mtree_node *nd = &d->nodes[i];

            if (nd->obj == i && nd->unknown && a->why[i] == W_HIDDEN) {
                list_item(&l, "%s (line %u)", nd->name, nd->line);
            }
        }
        fputc('\n', stderr);
    }
    if (nleaf) {
        fprintf(stderr,
                "  terminates: %d i/o regions without subregions (the flat "
                "views show them)\n",
                nleaf);
    }
    for (int g = 0; g < a->ngroup_report; g++) {
        int s = a->group_report[g];
        const struct mtree_node *first = &d->nodes[s];
        const struct mtree_node *p = &d->nodes[first->parent];
        struct listing l = {0, 0};

        if (a->gwhy[s] == W_NO_EFFECT) {
            continue;
        }
        fprintf(stderr, "  order%s: in %s (line %u), priority %d, %s: ",
                a->gwhy[s] == W_CONFLICT ? " (conflicting evidence, guessed)"
                                        : "",
                p->name, p->line, first->prio,
                a->tok_order[s] ? "written" : "print order is right");
        l.col = 40;
        for (unsigned k = 1;; k++) {
            int found = -1;

            for (int c = first->parent + 1; c < p->end_idx;
                 c = d->nodes[c].end_idx) {
                if (d->nodes[c].prio == first->prio && d->nodes[c].rank == k) {
                    found = c;
                }
            }
            if (found < 0) {
                break;
            }
            list_item(&l, "%s%s", k > 1 ? "then " : "", d->nodes[found].name);
        }
        fputc('\n', stderr);
    }
    for (int i = 0; i < d->nn; i++) {
        const struct mtree_node *nd = &d->nodes[i];

        if (nd->obj == i && nd->alias && nd->rom_token && !a->orig_rom[i]) {
            fprintf(stderr,
                    "  read-only: alias %s (line %u): the flat view of `%s` "
                    "shows `rom` at 0x%" PRIx64 "\n",
                    nd->name, nd->line, space_of(a, a->where_block[i]),
                    (uint64_t)a->where[i]);
        }
    }
    if (a->nro_unplaced) {
        fprintf(stderr,
                "  note: %d read-only ranges reached through no alias that "
                "could carry `rom` (a read-only container?)\n",
                a->nro_unplaced);
    }
    if (nkept) {
        struct listing l = {0, 0};

        fprintf(stderr,
                "  in no flat view (disabled or outside every window), kept "
                "the guess (%d): ",
                nkept);
        l.col = 50;
        for (int i = 0; i < d->nn; i++) {
            const struct mtree_node *nd = &d->nodes[i];

            if (nd->obj == i && nd->unknown && a->why[i] == W_NO_EFFECT) {
                list_item(&l, "%s (line %u, %s)", nd->name, nd->line,
                          nd->kind == MT_CONTAINER ? "container" : "i/o");
            }
        }
        fputc('\n', stderr);
    }
}

static void report_guesses(const struct ann *a)
{
    const struct mtree_dump *d = a->d;
    struct listing l = {0, 0};
    int nc = 0, nt = 0;

    for (int i = 0; i < d->nguess_kind; i++) {
        if (d->nodes[d->guess_kind[i]].kind == MT_CONTAINER) {
            nc++;
        } else {
            nt++;
        }
    }
    if (!nc && !nt && !d->nguess_order) {
        fprintf(stderr, "%s: nothing to guess\n", a->label);
        return;
    }
    fprintf(stderr,
            "%s: no QEMU_FLAT: guessed by the heuristic of "
            "docs/board-format.md (give `info mtree -f` output to decide):\n",
            a->label);
    if (nc) {
        fprintf(stderr, "  containers (i/o with subregions, %d): ", nc);
        l.col = 40;
        for (int i = 0; i < d->nguess_kind; i++) {
            const struct mtree_node *nd = &d->nodes[d->guess_kind[i]];

            if (nd->kind == MT_CONTAINER) {
                list_item(&l, "%s (line %u)", nd->name, nd->line);
            }
        }
        fputc('\n', stderr);
    }
    if (nt) {
        l = (struct listing){0, 0};
        fprintf(stderr, "  terminating (i/o without subregions, %d): ", nt);
        l.col = 45;
        for (int i = 0; i < d->nguess_kind; i++) {
            const struct mtree_node *nd = &d->nodes[d->guess_kind[i]];

            if (nd->kind != MT_CONTAINER) {
                list_item(&l, "%s (line %u)", nd->name, nd->line);
            }
        }
        fputc('\n', stderr);
    }
    for (int g = 0; g < d->nguess_order; g++) {
        const struct mtree_node *first = &d->nodes[d->guess_order[g]];
        const struct mtree_node *p = &d->nodes[first->parent];

        l = (struct listing){0, 0};
        fprintf(stderr,
                "  order (smaller overlapping siblings first): in %s (line "
                "%u), priority %d: ",
                p->name, p->line, first->prio);
        l.col = 60;
        for (unsigned k = 1;; k++) {
            int found = -1;

            for (int c = first->parent + 1; c < p->end_idx;
                 c = d->nodes[c].end_idx) {
                if (d->nodes[c].prio == first->prio && d->nodes[c].rank == k) {
                    found = c;
                }
            }
            if (found < 0) {
                break;
            }
            list_item(&l, "%s%s", k > 1 ? "then " : "", d->nodes[found].name);
        }
        fputc('\n', stderr);
    }
}

/*
 * The command.
 */

const char cmd_annotate_usage[] =
    "usage: guestmem annotate DUMP [QEMU_FLAT]\n"
    "\n"
    "Print DUMP, a QEMU `info mtree -D` dump, with the annotations that\n"
    "make `guestmem mtree` exact: `container` on the i/o regions that\n"
    "do not terminate, `rom` on read-only aliases and `, order K` on\n"
    "overlapping siblings of equal priority whose render order is not\n"
    "their print order (docs/board-format.md).\n"
    "\n"
    "QEMU_FLAT is `info mtree -f` from the same QEMU monitor session:\n"
    "the annotations are read off QEMU's flat views and checked by\n"
    "rendering the result. Without it they are guessed, and every\n"
    "guess is listed. `-` reads standard input.\n"
    "\n"
    "Exit status: 0 done (with QEMU_FLAT: reproduced), 1 not\n"
    "reproduced, 2 usage or input errors.\n";

static void usage(FILE *f)
{
    fputs(cmd_annotate_usage, f);
}

/* Forget DUMP's own annotations: decide everything again. */
static void unannotate(struct ann *a)
{
    struct mtree_dump *d = a->d;

    for (int i = 0; i < d->nn; i++) {
        struct mtree_node *nd = &d->nodes[i];

        a->orig_rom[i] = nd->alias && nd->rom_token;
        if (!nd->alias && (nd->kind == MT_IO || nd->kind == MT_CONTAINER)) {
            nd->unknown = true;
            nd->kind = MT_IO;
        }
    }
    for (int i = 0; i < d->nn; i++) {
        struct mtree_node *nd = &d->nodes[i];

        if (nd->alias && nd->rom_token && final_kind(d, nd->obj) != MT_ROM) {
            nd->rom_token = false;
        }
        if (!nd->alias) {
            unsigned pos = 0;

            for (int c = i + 1; c < nd->end_idx; c = d->nodes[c].end_idx) {
                d->nodes[c].rank = ++pos;
                d->nodes[c].order = 0;
            }
        }
    }
    d->format &= ~(unsigned)MTF_ANNOTATED;
}

static int ann_alloc(struct ann *a)
{
    size_t n = (size_t)a->d->nn + 1;

    a->ihead = malloc(n * sizeof(int));
    a->cov = calloc(n, sizeof(*a->cov));
    a->ncov = calloc(n, sizeof(int));
    a->rkids = calloc(n, sizeof(*a->rkids));
    a->nrkids = calloc(n, sizeof(int));
    a->state = calloc(n, 1);
    a->why = calloc(n, 1);
    a->where = calloc(n, sizeof(gm_u128));
    a->where_block = calloc(n, sizeof(int));
    a->tok_order = calloc(n, sizeof(bool));
    a->gwhy = calloc(n, 1);
    a->rw_seen = calloc(n, sizeof(bool));
    a->orig_rom = calloc(n, sizeof(bool));
    if (!a->ihead || !a->cov || !a->ncov || !a->rkids || !a->nrkids ||
        !a->state || !a->why || !a->where || !a->where_block ||
        !a->tok_order || !a->gwhy || !a->rw_seen || !a->orig_rom) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        a->ihead[i] = -1;
    }
    return 0;
}

static void ann_free(struct ann *a)
{
    for (int i = 0; a->cov && i < a->d->nn; i++) {
        free(a->cov[i]);
        free(a->rkids[i]);
    }
    free(a->in);
    free(a->ihead);
    free(a->cov);
    free(a->ncov);
    free(a->rkids);
    free(a->nrkids);
    free(a->state);
    free(a->why);
    free(a->where);
    free(a->where_block);
    free(a->tok_order);
    free(a->gwhy);
    free(a->rw_seen);
    free(a->orig_rom);
    free(a->group_report);
    free(a->roots);
}

/* Whether the written dump would read as annotated. */
static bool has_token(const struct ann *a)
{
    const struct mtree_dump *d = a->d;

    for (int i = 0; i < d->nn; i++) {
        const struct mtree_node *r = &d->nodes[d->nodes[i].obj];

        if ((!r->alias && r->kind == MT_CONTAINER) ||
            a->tok_order[d->nodes[i].obj]) {
            return true;
        }
    }
    return false;
}

int cmd_annotate(const struct cli_command *cmd, int argc, char **argv)
{
    struct cli_input in = {.max_size = CLI_MAX_SIZE_DEFAULT};
    const char *path = NULL, *fpath = NULL;
    char *text = NULL, *orig = NULL, *ftext = NULL, *out = NULL;
    size_t len = 0, flen = 0, olen = 0;
    struct mtree_dump d = {0};
    struct flat f = {0};
    struct ann a = {0};
    int status = 2;
    bool opts = true;
    FILE *os;

    (void)cmd;
    for (int i = 1; i < argc; i++) {
        if (opts && !strcmp(argv[i], "--")) {
            opts = false;
        } else if (opts && (!strcmp(argv[i], "-h") ||
                            !strcmp(argv[i], "--help"))) {
            usage(stdout);
            return 0;
        } else if (opts && argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "guestmem annotate: unknown option `%s`\n",
                    argv[i]);
            usage(stderr);
            return 2;
        } else if (!path) {
            path = argv[i];
        } else if (!fpath) {
            fpath = argv[i];
        } else {
            fprintf(stderr, "guestmem annotate: more than DUMP and QEMU_FLAT\n");
            usage(stderr);
            return 2;
        }
    }
    if (!path) {
        usage(stderr);
        return 2;
    }
    text = cli_read(&in, path, &len);
    if (!text) {
        goto out;
    }
    orig = malloc(len + 1);
    if (!orig) {
        fprintf(stderr, "%s: expected memory for a copy\n", path);
        goto out;
    }
    memcpy(orig, text, len + 1);
    if (!mtree_import_detect(text, len)) {
        fprintf(stderr,
                "%s:1: expected a QEMU `info mtree -D` dump (starting with "
                "`address-space:` or `memory-region:`)\n",
                path);
        goto out;
    }
    if (mtree_dump_parse(&d, path, text, len) < 0) {
        goto out;
    }
    a.label = path;
    a.d = &d;
    if (ann_alloc(&a) < 0) {
        fprintf(stderr, "%s: expected memory for annotating\n", path);
        goto out;
    }
    if (fpath) {
        ftext = cli_read(&in, fpath, &flen);
        f.label = fpath;
        if (!ftext || parse_flat(&f, ftext, flen) < 0) {
            goto out;
        }
        a.f = &f;
        unannotate(&a);
    } else if (d.format & MTF_ANNOTATED) {
        fprintf(stderr,
                "%s: already annotated; give QEMU_FLAT to decide again\n",
                path);
        fwrite(orig, 1, len, stdout);
        status = ferror(stdout) ? 2 : 0;
        goto out;
    }
    if (mtree_dump_guess(&d) < 0) {
        goto out;
    }
    if ((a.f && walk_spaces(&a) < 0) || decide_all(&a) < 0 ||
        (a.f && (readonly_pass(&a, false) < 0 || readonly_pass(&a, true) < 0))) {
        if (!a.too_many) {
            fprintf(stderr, "%s: expected memory for annotating\n", path);
        }
        goto out;
    }
    os = open_memstream(&out, &olen);
    if (!os) {
        goto out;
    }
    if (write_dump(&a, orig, len, os, !has_token(&a)) < 0) {
        fclose(os);
        goto out;
    }
    fclose(os);
    if (a.f) {
        report_flat(&a);
    } else {
        report_guesses(&a);
    }
    fwrite(out, 1, olen, stdout);
    fflush(stdout);
    if (ferror(stdout)) {
        fprintf(stderr, "guestmem annotate: write error\n");
        goto out;
    }
    status = 0;
    if (a.f) {
        int v = verify(&a, out, olen);

        status = v == 1 ? 0 : v == 0 ? 1 : 2;
    }
out:
    ann_free(&a);
    flat_free(&f);
    mtree_dump_free(&d);
    free(text);
    free(orig);
    free(ftext);
    free(out);
    return status;
}
