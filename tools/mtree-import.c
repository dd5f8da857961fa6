/* SPDX-License-Identifier: MIT */
/*
 * tools/mtree-import.c - rebuilding a machine from QEMU's `info mtree -D`.
 *
 * A dump is a list of trees separated by blank lines: `address-space:`
 * groups (several spaces sharing one root region) and `memory-region:`
 * sections (one per alias target, in the order QEMU discovered them). Every
 * line is one region: `  START-END (prio P, TYPE): NAME [disabled]` or an
 * alias `... alias NAME @TARGET OFF-OFFEND`. The dump does not say which
 * lines are the same object, so the importer decides:
 *
 *  - a tree root binds to the first node of another tree that has the same
 *    name and structure (size, own address, priority, type, flags and the
 *    whole subtree): a section root to an inner node or a group root
 *    (`memory-region: system` is the root of the `memory` space, so the
 *    bus-master aliases pointing at it make their spaces share that flat
 *    view), a group root to an inner node only (arm-mps2-an505: the root
 *    `system` of `memory` sits inside `cpu-memory-0`'s tree). Two group
 *    roots never merge, nor do two sections; an unbound root is a new
 *    region;
 *  - `@TARGET` is resolved by replaying QEMU's discovery order (each alias
 *    that meets a target not yet queued queues the next section, which must
 *    carry that name); when the replay cannot be followed the first section
 *    of that name is taken.
 *
 * Equal-priority siblings render in print order: the library renders the
 * most recently added first, so siblings are added in reverse print order.
 * `container` (an annotation, never printed by QEMU) marks a region that
 * does not terminate; in a dump with no `container` token at all, an `i/o`
 * region with subregions is taken for a container. `rom` on an alias line
 * makes the alias read-only. QEMU accepts an alias inside its own target
 * (the window moves out of the clip); the library refuses the loop, so
 * such an alias is re-pointed at a proxy (see fix_loop()).
 *
 * Invariants: nodes are stored in document (pre-)order, so a subtree is the
 * index range [i, end_idx); node.obj names the node whose region stands for
 * the line (itself for a created region). Everything is built in one
 * transaction; on any error the partial system is destroyed and nothing
 * leaks. The expected workload is a few thousand lines.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "mtree-import.h"

enum ntype {
    T_CONTAINER,
    T_IO,
    T_RAM,
    T_ROM,
    T_ROMD,
    T_RAMD,
};

/*
 * struct node - one region line.
 * @name: region name (in the caller's text buffer).
 * @target: alias target name (in the text buffer).
 * @line: 1-based line number.
 * @level: indentation level, 1 for a tree root.
 * @start, @end: printed range (absolute within the tree, END inclusive).
 * @size: END - START + 1, 1 .. 2^64.
 * @off: alias offset; @offend: printed alias end.
 * @parent: parent node, -1 for a tree root.
 * @end_idx: one past the last node of the subtree.
 * @tree: index of the tree holding the line.
 * @target_sec: alias: tree index of the target section.
 * @obj: node whose region stands for this line.
 * @state: alias creation: 0 to do, 1 on the stack.
 * @region: the created region (when obj is the node itself).
 */
struct node {
    char *name;
    char *target;
    unsigned line;
    unsigned level;
    uint64_t start, end;
    gm_u128 size;
    uint64_t off, offend;
    int prio;
    enum ntype type;
    bool nv, disabled, alias, rom_token;
    int parent;
    int end_idx;
    int tree;
    int target_sec;
    int obj;
    int state;
    gm_region *region;
};

/*
 * struct tree - an `address-space:` group or a `memory-region:` section.
 * @line: line of the (first) header.
 * @section: a `memory-region:` section.
 * @secname: the section's name.
 * @first_as, @nas: the group's space names in imp->as_names.
 * @root: the root node, -1 before the root line.
 */
struct tree {
    unsigned line;
    bool section;
    char *secname;
    int first_as, nas;
    int root;
};

struct imp {
    const char *label;
    struct machine *m;
    struct node *nodes;
    int nn, ncap;
    struct tree *trees;
    int nt, tcap;
    char **as_names;
    unsigned *as_lines;
    int nas, ascap;
};

static int fail(struct imp *im, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct imp *im, unsigned line, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s:%u: expected ", im->label, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return -1;
}

static int oom(struct imp *im, unsigned line)
{
    return fail(im, line, "to have memory for it (out of memory)");
}

/* Grow *@v (of *@cap elements of @esz bytes) to hold one more than @n. */
static int grow(void *v, int *cap, int n, size_t esz)
{
    void **pv = v;

    if (n < *cap) {
        return 0;
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

/*
 * Machine helpers.
 */

void *machine_map_host(struct machine *m, size_t size)
{
    void *p;

    if (m->nmaps == m->maps_cap) {
        size_t ncap = m->maps_cap ? m->maps_cap * 2 : 8;
        void **nm = realloc(m->maps, ncap * sizeof(*nm));

        if (!nm) {
            return NULL;
        }
        m->maps = nm;
        size_t *ns = realloc(m->map_sizes, ncap * sizeof(*ns));

        if (!ns) {
            return NULL;
        }
        m->map_sizes = ns;
        m->maps_cap = ncap;
    }
    p = mmap(NULL, size, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        return NULL;
    }
    m->maps[m->nmaps] = p;
    m->map_sizes[m->nmaps] = size;
    m->nmaps++;
    return p;
}

int machine_destroy(struct machine *m)
{
    gm_error err = {0};
    int rc = 0;

    if (m->sys) {
        rc = gm_system_destroy(m->sys, &err);
        if (rc < 0) {
            fprintf(stderr, "guestmem: destroying the system: %s\n", err.msg);
            /* Keep the mappings: regions may still point into them. */
            return rc;
        }
    }
    for (size_t i = 0; i < m->nmaps; i++) {
        munmap(m->maps[i], m->map_sizes[i]);
    }
    free(m->maps);
    free(m->map_sizes);
    memset(m, 0, sizeof(*m));
    return rc;
}

/*
 * Lexing.
 */

bool mtree_import_detect(const char *text, size_t len)
{
    size_t i = 0;

    while (i < len && (text[i] == '\n' || text[i] == '\r' || text[i] == ' ' ||
                       text[i] == '\t')) {
        i++;
    }
    return (len - i >= 14 && !memcmp(text + i, "address-space:", 14)) ||
           (len - i >= 14 && !memcmp(text + i, "memory-region:", 14));
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* 1 to 16 hex digits; advances *@pp. */
static bool lex_hex(char **pp, uint64_t *out)
{
    char *p = *pp;
    uint64_t v = 0;
    int n = 0;

    while (hexval(*p) >= 0) {
        if (++n > 16) {
            return false;
        }
        v = v << 4 | (uint64_t)hexval(*p);
        p++;
    }
    if (n == 0) {
        return false;
    }
    *pp = p;
    *out = v;
    return true;
}

static bool lex_lit(char **pp, const char *lit)
{
    size_t n = strlen(lit);

    if (strncmp(*pp, lit, n)) {
        return false;
    }
    *pp += n;
    return true;
}

static bool lex_int(char **pp, int *out)
{
    char *p = *pp;
    bool neg = false;
    int64_t v = 0;

    if (*p == '-') {
        neg = true;
        p++;
    }
    if (*p < '0' || *p > '9') {
        return false;
    }
    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (*p - '0');
        if (v > (int64_t)INT32_MAX + 1) {
            return false;
        }
        p++;
    }
    if (neg) {
        v = -v;
    }
    if (v > INT32_MAX || v < INT32_MIN) {
        return false;
    }
    *pp = p;
    *out = (int)v;
    return true;
}

static bool strip_suffix(char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);

    if (n >= k && !strcmp(s + n - k, suffix)) {
        s[n - k] = '\0';
        return true;
    }
    return false;
}

/* Parse the TYPE token (between ", " and "): "). */
static bool lex_type(struct node *nd, const char *tok)
{
    static const struct {
        const char *name;
        enum ntype type;
    } types[] = {
        {"container", T_CONTAINER},
        {"i/o", T_IO},
        {"ram", T_RAM},
        {"rom", T_ROM},
        {"romd", T_ROMD},
        {"ramd", T_RAMD},
    };

    nd->nv = !strncmp(tok, "nv-", 3);
    if (nd->nv) {
        tok += 3;
    }
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (!strcmp(tok, types[i].name)) {
            nd->type = types[i].type;
            return true;
        }
    }
    return false;
}

/*
 * Parse one region line into @nd (level, range, prio, type, name or alias
 * body). Alias bodies are split into NAME and TARGET later, once every
 * section name is known; until then nd->name holds "NAME @TARGET".
 */
static int parse_region_line(struct imp *im, char *s, unsigned line,
                             struct node *nd)
{
    char *p = s, *tok, *body;
    size_t sp = 0;

    memset(nd, 0, sizeof(*nd));
    nd->line = line;
    lex_lit(&p, "[DETECTED OVERFLOW!] ");
    while (p[sp] == ' ') {
        sp++;
    }
    if (sp == 0 || sp % 2) {
        return fail(im, line,
                    "an indentation of 2, 4, 6, ... spaces "
                    "before a region line");
    }
    nd->level = (unsigned)(sp / 2);
    p += sp;
    if (!lex_hex(&p, &nd->start) || !lex_lit(&p, "-")) {
        return fail(im, line, "START-END as 16-digit hex numbers");
    }
    if (!lex_hex(&p, &nd->end)) {
        return fail(im, line, "a 16-digit hex END after START-");
    }
    if (nd->end < nd->start) {
        return fail(im, line, "END >= START in the range");
    }
    nd->size = (gm_u128)nd->end - nd->start + 1;
    if (!lex_lit(&p, " (prio ") || !lex_int(&p, &nd->prio)) {
        return fail(im, line,
                    "` (prio N, TYPE): ` after the range, with "
                    "N a 32-bit integer");
    }
    if (!lex_lit(&p, ", ")) {
        return fail(im, line, "`, TYPE` after the priority");
    }
    tok = p;
    p = strstr(p, "): ");
    if (!p) {
        return fail(im, line, "`): NAME` after the type");
    }
    *p = '\0';
    body = p + 3;
    if (!lex_type(nd, tok)) {
        return fail(im, line,
                    "a type among ram, rom, romd, ramd, i/o, "
                    "container (optionally nv-), not `%s`",
                    tok);
    }
    nd->disabled = strip_suffix(body, " [disabled]");
    nd->name = body;
    if (!strncmp(body, "alias ", 6)) {
        char *range = strrchr(body, ' ');
        char *q = range ? range + 1 : NULL;

        if (range && range > body + 5 && strstr(body + 6, " @") &&
            lex_hex(&q, &nd->off) && lex_lit(&q, "-") &&
            lex_hex(&q, &nd->offend) && *q == '\0') {
            *range = '\0';
            nd->alias = true;
            nd->name = body + 6; /* "NAME @TARGET", split later */
            nd->rom_token = nd->type == T_ROM;
            if (nd->offend != nd->off + (uint64_t)(nd->size - 1) &&
                !(nd->size == 1 && nd->offend == nd->off)) {
                return fail(im, line,
                            "the alias range OFF-OFFEND to be "
                            "as long as START-END");
            }
        } else if (strstr(body + 6, " @")) {
            return fail(im, line,
                        "`alias NAME @TARGET OFF-OFFEND` with "
                        "OFF and OFFEND 16-digit hex numbers");
        }
    }
    return 0;
}

static struct node *new_node(struct imp *im)
{
    if (grow(&im->nodes, &im->ncap, im->nn, sizeof(*im->nodes)) < 0) {
        return NULL;
    }
    return &im->nodes[im->nn++];
}

static struct tree *new_tree(struct imp *im, unsigned line, bool section)
{
    struct tree *t;

    if (grow(&im->trees, &im->tcap, im->nt, sizeof(*im->trees)) < 0) {
        return NULL;
    }
    t = &im->trees[im->nt++];
    memset(t, 0, sizeof(*t));
    t->line = line;
    t->section = section;
    t->root = -1;
    t->first_as = im->nas;
    return t;
}

static int add_as_name(struct imp *im, char *name, unsigned line)
{
    if (grow(&im->as_names, &im->ascap, im->nas, sizeof(*im->as_names)) < 0) {
        return -1;
    }
    /* as_lines grows with the same capacity. */
    unsigned *nl = realloc(im->as_lines, (size_t)im->ascap * sizeof(*nl));

    if (!nl) {
        return -1;
    }
    im->as_lines = nl;
    im->as_names[im->nas] = name;
    im->as_lines[im->nas] = line;
    im->nas++;
    return 0;
}

/* Split the text into trees and nodes. */
static int parse(struct imp *im, char *text, size_t len)
{
    char *p = text, *end = text + len;
    unsigned line = 0;
    int cur = -1; /* open tree, -1 between trees */

    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *s = p;
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

        p = nl ? nl + 1 : end;
        line++;
        if (memchr(s, '\0', n)) {
            return fail(im, line, "text, not a NUL byte");
        }
        s[n] = '\0'; /* the '\n', or one past the end (see caller) */
        if (n && s[n - 1] == '\r') {
            s[--n] = '\0';
        }
        if (n == 0) {
            if (cur >= 0 && im->trees[cur].root < 0) {
                return fail(im, line,
                            "a region line after the header of "
                            "line %u",
                            im->trees[cur].line);
            }
            cur = -1;
            continue;
        }
        if (!strncmp(s, "address-space: ", 15) ||
            !strncmp(s, "memory-region: ", 15)) {
            bool section = s[0] == 'm';

            if (cur >= 0 && im->trees[cur].root < 0 &&
                (section || im->trees[cur].section)) {
                return fail(im, line,
                            "a region line after the header of "
                            "line %u",
                            im->trees[cur].line);
            }
            if (cur < 0 || im->trees[cur].root >= 0) {
                struct tree *t = new_tree(im, line, section);

                if (!t) {
                    return oom(im, line);
                }
                cur = im->nt - 1;
            }
            if (section) {
                im->trees[cur].secname = s + 15;
            } else {
                if (add_as_name(im, s + 15, line) < 0) {
                    return oom(im, line);
                }
                im->trees[cur].nas++;
            }
            continue;
        }
        if (cur < 0) {
            return fail(im, line,
                        "`address-space: NAME`, `memory-region: "
                        "NAME` or a blank line");
        }

        struct node nd;
        struct tree *t = &im->trees[cur];

        if (parse_region_line(im, s, line, &nd) < 0) {
            return -1;
        }
        nd.tree = cur;
        nd.parent = -1;
        nd.target_sec = -1;
        if (t->root < 0) {
            if (nd.level != 1) {
                return fail(im, line,
                            "the root region of the tree at 2 "
                            "spaces of indentation");
            }
        } else {
            int prev = im->nn - 1;

            if (nd.level == 1) {
                return fail(im, line,
                            "a single root per tree (a new tree "
                            "needs a blank line and a header)");
            }
            if (nd.level > im->nodes[prev].level + 1) {
                return fail(im, line,
                            "at most %u spaces of indentation "
                            "(one level below line %u)",
                            2 * (im->nodes[prev].level + 1),
                            im->nodes[prev].line);
            }
            while (im->nodes[prev].level >= nd.level) {
                prev = im->nodes[prev].parent;
            }
            if (im->nodes[prev].alias) {
                return fail(im, line,
                            "no subregion under the alias of line "
                            "%u",
                            im->nodes[prev].line);
            }
            if (nd.start < im->nodes[prev].start) {
                return fail(im, line,
                            "a START not below the START of its "
                            "parent (line %u)",
                            im->nodes[prev].line);
            }
            nd.parent = prev;
        }
        struct node *slot = new_node(im);

        if (!slot) {
            return oom(im, line);
        }
        *slot = nd;
        slot->obj = im->nn - 1;
        if (t->root < 0) {
            t->root = im->nn - 1;
        }
    }
    if (cur >= 0 && im->trees[cur].root < 0) {
        return fail(im, line + 1,
                    "a region line after the header of line "
                    "%u (not the end of the file)",
                    im->trees[cur].line);
    }
    if (im->nt == 0) {
        return fail(im, 1, "`address-space: NAME` (no tree in the file)");
    }
    for (int i = im->nn - 1; i >= 0; i--) {
        int j = i + 1;

        while (j < im->nn && im->nodes[j].tree == im->nodes[i].tree &&
               im->nodes[j].level > im->nodes[i].level) {
            j = im->nodes[j].end_idx;
        }
        im->nodes[i].end_idx = j;
    }
    return 0;
}

/* Index of the first section named @name, or -1. */
static int find_section(struct imp *im, const char *name, int limit)
{
    for (int i = 0; i < im->nt && i < limit; i++) {
        if (im->trees[i].section && !strcmp(im->trees[i].secname, name)) {
            return i;
        }
    }
    return -1;
}

/* Split "NAME @TARGET", preferring a split whose TARGET is a section. */
static void split_alias(struct imp *im, struct node *nd)
{
    char *body = nd->name, *best = NULL;

    for (char *q = strstr(body, " @"); q; q = strstr(q + 1, " @")) {
        best = q;
        if (find_section(im, q + 2, im->nt) >= 0) {
            break;
        }
    }
    /* parse_region_line() checked that " @" occurs. */
    *best = '\0';
    nd->target = best + 2;
}

/*
 * Resolve every alias's target section by replaying QEMU's discovery: the
 * queue of sections fills in document order as aliases meet new targets.
 */
static int resolve_targets(struct imp *im)
{
    int *secs = malloc(((size_t)im->nt + 1) * sizeof(*secs));
    int m = 0, k = 0, rc = 0;

    if (!secs) {
        return oom(im, 1);
    }
    for (int i = 0; i < im->nt; i++) {
        if (im->trees[i].section) {
            secs[m++] = i;
        }
    }
    /* Group trees come first in the walk, then the sections in order. */
    for (int pass = 0; pass < 2 && !rc; pass++) {
        for (int i = 0; i < im->nn && !rc; i++) {
            struct node *nd = &im->nodes[i];
            int j;

            if (im->trees[nd->tree].section != (pass == 1) || !nd->alias) {
                continue;
            }
            if (k < m && !strcmp(im->trees[secs[k]].secname, nd->target)) {
                nd->target_sec = secs[k++];
                continue;
            }
            for (j = 0; j < k; j++) {
                if (!strcmp(im->trees[secs[j]].secname, nd->target)) {
                    break;
                }
            }
            if (j < k) {
                nd->target_sec = secs[j];
                continue;
            }
            nd->target_sec = find_section(im, nd->target, im->nt);
            if (nd->target_sec < 0) {
                rc = fail(im, nd->line,
                          "a `memory-region: %s` section for "
                          "the alias target `%s`",
                          nd->target, nd->target);
            }
        }
    }
    free(secs);
    return rc;
}

static uint64_t own_addr(struct imp *im, int i)
{
    int p = im->nodes[i].parent;

    return p < 0 ? im->nodes[i].start : im->nodes[i].start - im->nodes[p].start;
}

/* Whether the subtrees at @a and @b print alike (relative addresses). */
static bool same_subtree(struct imp *im, int a, int b)
{
    int n = im->nodes[a].end_idx - a;

    if (im->nodes[b].end_idx - b != n || own_addr(im, a) != own_addr(im, b)) {
        return false;
    }
    for (int k = 0; k < n; k++) {
        const struct node *x = &im->nodes[a + k], *y = &im->nodes[b + k];

        if (x->level - im->nodes[a].level != y->level - im->nodes[b].level ||
            x->start - im->nodes[a].start != y->start - im->nodes[b].start ||
            x->size != y->size || x->prio != y->prio || x->type != y->type ||
            x->nv != y->nv || x->disabled != y->disabled ||
            x->alias != y->alias || strcmp(x->name, y->name)) {
            return false;
        }
        if (x->alias && (x->off != y->off || strcmp(x->target, y->target))) {
            return false;
        }
    }
    return true;
}

static void bind_subtree(struct imp *im, int dst, int src)
{
    for (int k = 0; k < im->nodes[dst].end_idx - dst; k++) {
        im->nodes[dst + k].obj = im->nodes[src + k].obj;
    }
}

static int tree_size(struct imp *im, int t)
{
    int r = im->trees[t].root;

    return im->nodes[r].end_idx - r;
}

/* Larger trees first; among equal sizes groups, then document order. */
static int cmp_tree(struct imp *im, int a, int b)
{
    if (tree_size(im, a) != tree_size(im, b)) {
        return tree_size(im, a) > tree_size(im, b) ? -1 : 1;
    }
    if (im->trees[a].section != im->trees[b].section) {
        return im->trees[a].section ? 1 : -1;
    }
    return a < b ? -1 : 1;
}

/*
 * Decide which tree roots stand for regions printed elsewhere. A root binds
 * to the first node (document order) of another tree with the same name
 * and structure: a group root only to an inner node (an address space's
 * root may sit inside another space's tree), a section root to an inner
 * node or a group root. No region is claimed by two group roots or by two
 * sections, since QEMU prints each group and each section once. Trees are
 * taken largest first, so the node bound to is already final (an inner
 * node's tree is larger than the subtree; a group root is taken before a
 * section of its size).
 */
static int bind_roots(struct imp *im)
{
    int *order = malloc(((size_t)im->nt + 1) * sizeof(*order));
    bool *claim = calloc(2 * ((size_t)im->nn + 1), sizeof(*claim));

    if (!order || !claim) {
        free(order);
        free(claim);
        return oom(im, 1);
    }
    for (int t = 0; t < im->nt; t++) {
        int j = t;

        /* Insertion sort: there are few trees. */
        while (j > 0 && cmp_tree(im, order[j - 1], t) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = t;
    }
    for (int i = 0; i < im->nt; i++) {
        int t = order[i], r = im->trees[t].root;
        bool section = im->trees[t].section;
        bool *claimed = claim + (section ? im->nn : 0);

        for (int n = 0; n < im->nn; n++) {
            struct node *c = &im->nodes[n];
            bool n_root = c->parent < 0;

            if (c->tree == t || (n_root && !section) ||
                (n_root && im->trees[c->tree].section) || claimed[c->obj] ||
                c->size != im->nodes[r].size ||
                strcmp(c->name, im->nodes[r].name) || !same_subtree(im, n, r)) {
                continue;
            }
            claimed[c->obj] = true;
            bind_subtree(im, r, n);
            break;
        }
    }
    free(order);
    free(claim);
    return 0;
}

static uint64_t stub_read(void *opaque, uint64_t offset, unsigned size)
{
    return 0;
}

static void stub_write(void *opaque, uint64_t offset, uint64_t data,
                       unsigned size)
{
}

/* ROM devices need callbacks for their non-romd accesses: ignore them. */
static const struct gm_region_ops romd_stub_ops = {
    .read = stub_read,
    .write = stub_write,
};

static int create_plain(struct imp *im, struct node *nd)
{
    gm_system *sys = im->m->sys;
    gm_error err = {0};
    void *host;

    switch (nd->type) {
    case T_CONTAINER:
        nd->region = gm_region_new_container(sys, nd->name, nd->size, &err);
        break;
    case T_IO:
        nd->region =
            gm_region_new_io(sys, nd->name, nd->size, NULL, NULL, &err);
        break;
    case T_RAM:
        nd->region = gm_region_new_ram(sys, nd->name, nd->size, &err);
        break;
    case T_ROM:
        nd->region = gm_region_new_rom(sys, nd->name, nd->size, &err);
        break;
    case T_ROMD:
        nd->region = gm_region_new_rom_device(sys, nd->name, nd->size,
                                              &romd_stub_ops, NULL, &err);
        break;
    case T_RAMD:
        host = nd->size < GM_SIZE_2_64
                   ? machine_map_host(im->m, (size_t)nd->size)
                   : NULL;
        if (!host) {
            return fail(im, nd->line,
                        "a RAM device size that can be "
                        "mapped (%s)",
                        strerror(errno ? errno : ENOMEM));
        }
        nd->region =
            gm_region_new_ram_device(sys, nd->name, nd->size, host, &err);
        break;
    }
    if (!nd->region) {
        return fail(im, nd->line, "a region the library accepts: %s", err.msg);
    }
    return 0;
}

/* Create the aliases, targets first (an explicit stack, no recursion). */
static int create_aliases(struct imp *im)
{
    int *stack = malloc(((size_t)im->nn + 1) * sizeof(*stack));
    int rc = 0;

    if (!stack) {
        return oom(im, 1);
    }
    for (int i = 0; i < im->nn && !rc; i++) {
        int sp = 0;

        if (im->nodes[i].obj != i || !im->nodes[i].alias ||
            im->nodes[i].region) {
            continue;
        }
        stack[sp++] = i;
        im->nodes[i].state = 1;
        while (sp > 0 && !rc) {
            struct node *nd = &im->nodes[stack[sp - 1]];
            int r = im->trees[nd->target_sec].root;
            int o = im->nodes[r].obj;
            gm_error err = {0};

            if (im->nodes[o].region) {
                nd->region = gm_region_new_alias(im->m->sys, nd->name,
                                                 im->nodes[o].region, nd->off,
                                                 nd->size, &err);
                if (!nd->region) {
                    rc = fail(im, nd->line,
                              "an alias the library accepts: "
                              "%s",
                              err.msg);
                }
                nd->state = 0;
                sp--;
            } else if (im->nodes[o].state == 1) {
                rc = fail(im, nd->line,
                          "alias targets without a cycle "
                          "(`%s` leads back to itself)",
                          nd->name);
            } else {
                im->nodes[o].state = 1;
                stack[sp++] = o;
            }
        }
    }
    free(stack);
    return rc;
}

static int set_flags(struct imp *im, struct node *nd)
{
    gm_error err = {0};

    if ((nd->disabled && gm_region_set_enabled(nd->region, false, &err)) ||
        (nd->nv && gm_region_set_nonvolatile(nd->region, true, &err)) ||
        (nd->rom_token && gm_region_set_readonly(nd->region, true, &err))) {
        return fail(im, nd->line, "flags the library accepts: %s", err.msg);
    }
    return 0;
}

/*
 * Whether the region of (real) node @from contains or aliases, directly or
 * not, the region of node @to, following the dump's structure. Returns 1,
 * 0, or -1 when out of memory. Iterative: the graph may have cycles.
 */
static int reaches(struct imp *im, int from, int to)
{
    int *stack = malloc(((size_t)im->nn + 1) * sizeof(*stack));
    bool *seen = calloc((size_t)im->nn + 1, sizeof(*seen));
    int sp = 0, found = 0;

    if (!stack || !seen) {
        free(stack);
        free(seen);
        return -1;
    }
    stack[sp++] = from;
    seen[from] = true;
    while (sp > 0 && !found) {
        int x = stack[--sp];
        const struct node *nx = &im->nodes[x];

        if (x == to) {
            found = 1;
        } else if (nx->alias) {
            int y = im->nodes[im->trees[nx->target_sec].root].obj;

            if (!seen[y]) {
                seen[y] = true;
                stack[sp++] = y;
            }
        } else {
            for (int c = x + 1; c < nx->end_idx; c = im->nodes[c].end_idx) {
                int y = im->nodes[c].obj;

                if (!seen[y]) {
                    seen[y] = true;
                    stack[sp++] = y;
                }
            }
        }
    }
    free(stack);
    free(seen);
    return found;
}

/*
 * QEMU lets an alias point at a container that holds the alias itself
 * (arm-mps2-an505: `alias 3 @arm-sse-cpu-container0` inside that
 * container); rendering stops there because the window moves out of the
 * clip. The library refuses such loops (-ELOOP), so the alias of node @a is
 * re-pointed at a proxy: a container of the target's size holding, at the
 * same addresses and priorities and in the same order, one whole alias of
 * each child of the target. Every byte renders through the same terminating
 * regions as before; children that would close the loop again are left
 * out (QEMU renders nothing through them when they lie outside the window).
 */
static int fix_loop(struct imp *im, int a, int *kids)
{
    struct node *nd = &im->nodes[a];
    int tn = im->nodes[im->trees[nd->target_sec].root].obj;
    struct node *t = &im->nodes[tn];
    gm_system *sys = im->m->sys;
    gm_region *proxy, *alias;
    gm_error err = {0};
    int n = 0;

    if (t->alias || t->type != T_CONTAINER) {
        return fail(im, nd->line,
                    "an alias that does not contain itself "
                    "(target `%s` terminates)",
                    t->name);
    }
    proxy = gm_region_new_container(sys, t->name, t->size, &err);
    if (!proxy) {
        return fail(im, nd->line, "a region the library accepts: %s", err.msg);
    }
    for (int c = tn + 1; c < t->end_idx; c = im->nodes[c].end_idx) {
        kids[n++] = c;
    }
    /* Children that lead back to the target would close the loop again. */
    int kept = 0;

    for (int i = 0; i < n; i++) {
        int rc = reaches(im, im->nodes[kids[i]].obj, tn);

        if (rc < 0) {
            gm_region_unref(proxy);
            return oom(im, nd->line);
        }
        if (!rc) {
            kids[kept++] = kids[i];
        }
    }
    n = kept;
    while (n-- > 0) {
        struct node *c = &im->nodes[kids[n]];
        gm_region *w = gm_region_new_alias(
            sys, c->name, im->nodes[c->obj].region, 0, c->size, &err);

        if (!w) {
            gm_region_unref(proxy);
            return fail(im, c->line, "an alias the library accepts: %s",
                        err.msg);
        }
        gm_region_add_subregion_overlap(proxy, c->start - t->start, w, c->prio,
                                        NULL);
        gm_region_unref(w); /* freed here when it closed a loop */
    }
    alias = gm_region_new_alias(sys, nd->name, proxy, nd->off, nd->size, &err);
    gm_region_unref(proxy);
    if (!alias) {
        return fail(im, nd->line, "an alias the library accepts: %s", err.msg);
    }
    gm_region_unref(nd->region);
    nd->region = alias;
    im->m->loops++;
    return set_flags(im, nd);
}

/* Add the children of @p, in reverse print order. */
static int place_children(struct imp *im, int p, int *kids)
{
    int n = 0;

    for (int c = p + 1; c < im->nodes[p].end_idx; c = im->nodes[c].end_idx) {
        kids[n++] = c;
    }
    while (n-- > 0) {
        struct node *c = &im->nodes[kids[n]];
        gm_error err = {0};
        int rc;

        rc = gm_region_add_subregion_overlap(
            im->nodes[p].region, c->start - im->nodes[p].start,
            im->nodes[c->obj].region, c->prio, &err);
        if (rc == -ELOOP && c->obj == kids[n] && c->alias) {
            int *more = malloc(((size_t)im->nn + 1) * sizeof(*more));

            rc = more ? fix_loop(im, kids[n], more) : oom(im, c->line);
            free(more);
            if (rc < 0) {
                return rc;
            }
            rc = gm_region_add_subregion_overlap(im->nodes[p].region,
                                                 c->start - im->nodes[p].start,
                                                 c->region, c->prio, &err);
        }
        if (rc < 0) {
            return fail(im, c->line, "a placement the library accepts: %s",
                        err.msg);
        }
    }
    return 0;
}

static int build(struct imp *im)
{
    gm_error err = {0};
    int *kids;
    int rc = 0;

    for (int i = 0; i < im->nn && !rc; i++) {
        if (im->nodes[i].obj == i && !im->nodes[i].alias) {
            rc = create_plain(im, &im->nodes[i]);
        }
    }
    if (!rc) {
        rc = create_aliases(im);
    }
    for (int i = 0; i < im->nn && !rc; i++) {
        if (im->nodes[i].obj == i) {
            rc = set_flags(im, &im->nodes[i]);
        }
    }
    kids = malloc(((size_t)im->nn + 1) * sizeof(*kids));
    if (!kids && !rc) {
        rc = oom(im, 1);
    }
    for (int i = 0; i < im->nn && !rc; i++) {
        struct node *nd = &im->nodes[i];

        if (nd->obj != i) {
            continue;
        }
        if (!nd->alias) {
            rc = place_children(im, i, kids);
        }
        /* Keep a stand-alone root's own address (printed as its START). */
        if (!rc && nd->parent < 0 && nd->start) {
            gm_region_set_address(nd->region, nd->start, NULL);
        }
    }
    free(kids);
    for (int t = 0; t < im->nt && !rc; t++) {
        struct tree *tr = &im->trees[t];

        for (int a = tr->first_as; a < tr->first_as + tr->nas && !rc; a++) {
            int o = im->nodes[tr->root].obj;

            if (!gm_space_new(im->m->sys, im->nodes[o].region, im->as_names[a],
                              &err)) {
                rc = fail(im, im->as_lines[a],
                          "an address space the "
                          "library accepts: %s",
                          err.msg);
            }
        }
    }
    return rc;
}

int mtree_import(struct machine *m, const char *label, char *text, size_t len)
{
    struct imp im = {.label = label, .m = m};
    gm_error err = {0};
    int rc;
    bool annotated = false;

    /* The caller's buffer has one spare byte for the last line's NUL. */
    rc = parse(&im, text, len);
    if (!rc && im.nas == 0) {
        /* As a board file must: a machine nobody can see prints nothing. */
        rc = fail(&im, 1, "at least one `address-space: NAME` section");
    }
    for (int i = 0; i < im.nn && !rc; i++) {
        if (im.nodes[i].alias) {
            split_alias(&im, &im.nodes[i]);
        }
        annotated |= im.nodes[i].type == T_CONTAINER;
    }
    for (int i = 0; i < im.nn && !rc && !annotated; i++) {
        struct node *nd = &im.nodes[i];

        if (!nd->alias && nd->type == T_IO && nd->end_idx > i + 1) {
            nd->type = T_CONTAINER;
        }
    }
    if (!rc) {
        rc = resolve_targets(&im);
    }
    if (!rc) {
        rc = bind_roots(&im);
    }
    if (!rc) {
        m->sys = gm_system_new(&err);
        if (!m->sys) {
            rc = fail(&im, 1, "a new system: %s", err.msg);
        }
    }
    if (!rc) {
        gm_transaction_begin(m->sys);
        rc = build(&im);
        if (gm_transaction_commit(m->sys, &err) < 0 && !rc) {
            rc = fail(&im, 1, "a machine the library can render: %s", err.msg);
        }
    }
    /* Placed regions are held by their parents, targets by their aliases. */
    for (int i = 0; i < im.nn; i++) {
        gm_region_unref(im.nodes[i].region);
    }
    free(im.nodes);
    free(im.trees);
    free(im.as_names);
    free(im.as_lines);
    if (rc) {
        machine_destroy(m);
        return -1;
    }
    return 0;
}
