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
 *    roots merge only in an old dump that printed one tree per space. An
 *    unbound root is a region in no container: it keeps the address and
 *    priority of its line;
 *  - `@TARGET` is resolved by replaying QEMU's discovery order (each alias
 *    that meets a target not yet queued queues the next section, which must
 *    carry that name); when the replay cannot be followed the first section
 *    of that name is taken.
 *
 * What a plain dump leaves open (which `i/o` regions are containers, which
 * of two overlapping siblings of equal priority wins) is guessed by
 * mtree_dump_guess() and reported once; `guestmem annotate` decides it from
 * QEMU's flat views instead (tools/annotate.c). The annotations read here:
 * `container` marks a region that does not terminate (every other
 * non-alias region then terminates), `rom` on an alias line a read-only
 * alias, and `, order K` after the type the render rank among siblings of
 * equal priority (without it, siblings render in print order). QEMU accepts
 * an alias inside its own target (the window moves out of the clip); the
 * library refuses the loop, so such an alias is re-pointed at a proxy (see
 * fix_loop()).
 *
 * Versions: LF or CRLF; the `[DETECTED OVERFLOW!]` marker (refused: the
 * region would end past 2^64); old `(prio N, RW)` attributes (QEMU before
 * type names: RAM and I/O look alike, read as unknown `i/o`); `-o` owner
 * suffixes; one tree per space (QEMU before groups); QEMU >= 11, which
 * prints `container` for a region in no container (told apart from the
 * annotation by alias lines, which print their target's type); and the
 * proposed tree drawing (`|-- `, `` `-- ``, `├── `, `└── `, `│   `, in
 * cells of 3 or 4 columns). Anything else is an error naming its line.
 *
 * Cost: linear in the dump (hash indexes for section names, sorting by a
 * structural hash to bind roots); no recursion, so any depth is read. The
 * whole machine is built in one transaction in a memoryless system (one
 * with memory when the machine asks: struct machine's @memory); on any
 * error the partial system is destroyed and nothing leaks.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtree-import.h"

/* Names listed in the plain-dump warning before "and N more". */
#define WARN_NAMES 8

static int fail(struct mtree_dump *d, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct mtree_dump *d, unsigned line, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s:%u: expected ", d->label, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return -1;
}

static int oom(struct mtree_dump *d, unsigned line)
{
    return fail(d, line, "to have memory for it (out of memory)");
}

/* Grow *@v (of *@cap elements of @esz bytes) to hold one more than @n. */
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

int machine_destroy(struct machine *m)
{
    gm_error err = {0};
    int rc = 0;

    if (m->sys) {
        rc = gm_system_destroy(m->sys, &err);
        if (rc < 0) {
            fprintf(stderr, "guestmem: destroying the system: %s\n", err.msg);
            return rc;
        }
    }
    memset(m, 0, sizeof(*m));
    return rc;
}

const char *mtree_kind_name(enum mtree_kind kind)
{
    static const char *const names[] = {"container", "i/o",  "ram",
                                        "rom",       "romd", "ramd"};

    return names[kind];
}

/*
 * Hash index.
 */

uint64_t mt_hash_str(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;

    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    return h ^ (h >> 29);
}

static void index_link(struct mt_index *ix, int id)
{
    size_t b = (size_t)ix->hv[id] & (ix->nb - 1);

    ix->next[id] = -1;
    if (ix->tail[b] < 0) {
        ix->head[b] = id;
    } else {
        ix->next[ix->tail[b]] = id;
    }
    ix->tail[b] = id;
}

static int index_rehash(struct mt_index *ix, size_t nb)
{
    int *head = malloc(nb * sizeof(*head));
    int *tail = malloc(nb * sizeof(*tail));

    if (!head || !tail) {
        free(head);
        free(tail);
        return -1;
    }
    free(ix->head);
    free(ix->tail);
    ix->head = head;
    ix->tail = tail;
    ix->nb = nb;
    for (size_t b = 0; b < nb; b++) {
        head[b] = tail[b] = -1;
    }
    for (int i = 0; i < ix->n; i++) {
        index_link(ix, ix->ids[i]);
    }
    return 0;
}

int mt_index_add(struct mt_index *ix, int id, uint64_t h)
{
    if (id < 0) {
        return -1;
    }
    if (id >= ix->idcap) {
        int ncap = ix->idcap ? ix->idcap : 64;

        while (ncap <= id) {
            ncap *= 2;
        }
        int *nx = realloc(ix->next, (size_t)ncap * sizeof(*nx));

        if (!nx) {
            return -1;
        }
        ix->next = nx;
        uint64_t *nh = realloc(ix->hv, (size_t)ncap * sizeof(*nh));

        if (!nh) {
            return -1;
        }
        ix->hv = nh;
        ix->idcap = ncap;
    }
    if (grow(&ix->ids, &ix->ncap, ix->n, sizeof(*ix->ids)) < 0) {
        return -1;
    }
    ix->ids[ix->n++] = id;
    ix->hv[id] = h;
    if ((size_t)ix->n > ix->nb) {
        return index_rehash(ix, ix->nb ? ix->nb * 4 : 64);
    }
    index_link(ix, id);
    return 0;
}

int mt_index_first(const struct mt_index *ix, uint64_t h)
{
    if (!ix->nb) {
        return -1;
    }
    for (int i = ix->head[(size_t)h & (ix->nb - 1)]; i >= 0; i = ix->next[i]) {
        if (ix->hv[i] == h) {
            return i;
        }
    }
    return -1;
}

int mt_index_next(const struct mt_index *ix, int id)
{
    for (int i = ix->next[id]; i >= 0; i = ix->next[i]) {
        if (ix->hv[i] == ix->hv[id]) {
            return i;
        }
    }
    return -1;
}

void mt_index_free(struct mt_index *ix)
{
    free(ix->head);
    free(ix->tail);
    free(ix->next);
    free(ix->hv);
    free(ix->ids);
    memset(ix, 0, sizeof(*ix));
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

/*
 * Strip one `-o` owner suffix (` owner:{...}` or ` parent:{...}`) from the
 * end of @s. Returns whether one was there.
 */
static bool strip_owner(char *s)
{
    size_t n = strlen(s);
    char *open;

    if (n == 0 || s[n - 1] != '}') {
        return false;
    }
    s[n - 1] = '\0';
    open = strrchr(s, '{');
    s[n - 1] = '}';
    if (!open || strchr(open, '}') != s + n - 1) {
        return false;
    }
    if (open - s >= 7 && !strncmp(open - 7, " owner:", 7)) {
        open[-7] = '\0';
        return true;
    }
    if (open - s >= 8 && !strncmp(open - 8, " parent:", 8)) {
        open[-8] = '\0';
        return true;
    }
    return false;
}

/* Units of a tree drawing: one ASCII byte or one 3-byte box character. */
enum unit {
    U_SPACE,
    U_BAR,    /* | or │ */
    U_TEE,    /* ├ (a branch, never a column) */
    U_LAST,   /* ` or └ */
    U_DASH,   /* - or ─ */
    U_HEX,    /* the START of the range */
    U_OTHER,
};

static enum unit next_unit(const char **pp)
{
    const unsigned char *p = (const unsigned char *)*pp;

    if (p[0] == 0xe2 && p[1] == 0x94) {
        static const struct {
            unsigned char b;
            enum unit u;
        } box[] = {{0x82, U_BAR}, {0x9c, U_TEE}, {0x94, U_LAST}, {0x80, U_DASH}};

        for (size_t i = 0; i < sizeof(box) / sizeof(box[0]); i++) {
            if (p[2] == box[i].b) {
                *pp += 3;
                return box[i].u;
            }
        }
        return U_OTHER;
    }
    *pp += 1;
    switch (p[0]) {
    case ' ':
        return U_SPACE;
    case '|':
        return U_BAR;
    case '`':
        return U_LAST;
    case '-':
        return U_DASH;
    default:
        *pp -= 1;
        return hexval((char)p[0]) >= 0 ? U_HEX : U_OTHER;
    }
}

/*
 * The depth of a region line from its indentation: 2 spaces per level
 * (level 1 at 2 spaces), or the proposed tree drawing, where every level
 * is a cell of W columns (W = 3 or 4): columns `|` / `│` / blank, then the
 * branch `|-- `, `` `-- ``, `├── ` or `└── ` (`|- `, `` `- `` for W = 3);
 * the root's cell is its branch. The first region line of the file fixes
 * the style (d->style_width: 2 for spaces, 1 for a drawing whose W is not
 * known yet, else W). Advances *@pp past the prefix; returns the level, or
 * 0 after a message.
 */
static unsigned lex_indent(struct mtree_dump *d, char **pp, unsigned line)
{
    const char *q = *pp;
    unsigned cells = 0;

    if (d->style_width == 0) {
        d->style_width = (q[0] == ' ' && q[1] == ' ' && hexval(q[2]) >= 0)
                             ? 2
                             : 1;
        d->style_line = line;
    }
    if (d->style_width == 2) {
        size_t sp = 0;

        while (q[sp] == ' ') {
            sp++;
        }
        if (sp == 0 || sp % 2 || hexval(q[sp]) < 0) {
            goto bad;
        }
        *pp += sp;
        return (unsigned)(sp / 2);
    }
    for (;;) {
        const char *r = q, *r2;
        enum unit u = next_unit(&r), u2;

        r2 = r;
        u2 = (u == U_HEX || u == U_OTHER) ? U_OTHER : next_unit(&r2);
        if (u == U_TEE || u == U_LAST || (u == U_BAR && u2 == U_DASH)) {
            int dashes = 0;

            for (;;) {
                const char *t = r;

                if (next_unit(&t) != U_DASH) {
                    break;
                }
                r = t;
                dashes++;
            }
            if (dashes == 0 || *r != ' ' || hexval(r[1]) < 0) {
                goto bad;
            }
            if (d->style_width == 1) {
                d->style_width = dashes + 2;
            }
            if (dashes + 2 != d->style_width) {
                goto bad;
            }
            *pp = (char *)r + 1;
            return cells + 1;
        }
        if ((u != U_BAR && u != U_SPACE) || d->style_width < 3) {
            goto bad;
        }
        q = r;
        for (int k = 1; k < d->style_width; k++, q++) {
            if (*q != ' ') {
                goto bad;
            }
        }
        cells++;
    }
bad:
    fail(d, line,
         "an indentation of 2, 4, 6, ... spaces or a tree drawing "
         "(`|-- `, `` `-- ``, `├── `, `└── `, `│   `) before a region line, "
         "in the style of line %u",
         d->style_line);
    return 0;
}

/* Parse the TYPE token; @tok is NUL-terminated. */
static bool lex_type(struct mtree_node *nd, const char *tok, bool *rw_flags)
{
    static const struct {
        const char *name;
        enum mtree_kind kind;
    } kinds[] = {
        {"container", MT_CONTAINER},
        {"i/o", MT_IO},
        {"ram", MT_RAM},
        {"rom", MT_ROM},
        {"romd", MT_ROMD},
        {"ramd", MT_RAMD},
    };

    /* Old QEMU: romd-mode and writable flags instead of a type. */
    if (strlen(tok) == 2 && (tok[0] == 'R' || tok[0] == '-') &&
        (tok[1] == 'W' || tok[1] == '-')) {
        *rw_flags = true;
        nd->kind = !strcmp(tok, "R-") ? MT_ROM : MT_IO;
        return true;
    }
    *rw_flags = false;
    nd->nv = !strncmp(tok, "nv-", 3);
    if (nd->nv) {
        tok += 3;
    }
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (!strcmp(tok, kinds[i].name)) {
            nd->kind = kinds[i].kind;
            return true;
        }
    }
    return false;
}

/*
 * Parse one region line @s (the line at @s in the original text @text) into
 * @nd. Alias bodies are split into NAME and TARGET later, once every
 * section name is known; until then nd->name holds "NAME @TARGET".
 */
static int parse_region_line(struct mtree_dump *d, char *text, char *s,
                             unsigned line, struct mtree_node *nd,
                             int *attr_style)
{
    char *p = s, *tok, *body;
    bool rw;

    memset(nd, 0, sizeof(*nd));
    nd->line = line;
    nd->line_off = (size_t)(s - text);
    if (lex_lit(&p, "[DETECTED OVERFLOW!] ")) {
        return fail(d, line,
                    "a region that ends below 2^64 (QEMU marked this "
                    "line [DETECTED OVERFLOW!])");
    }
    nd->level = lex_indent(d, &p, line);
    if (nd->level == 0) {
        return -1;
    }
    if (!lex_hex(&p, &nd->start) || !lex_lit(&p, "-")) {
        return fail(d, line, "START-END as 16-digit hex numbers");
    }
    if (!lex_hex(&p, &nd->end)) {
        return fail(d, line, "a 16-digit hex END after START-");
    }
    if (nd->end < nd->start) {
        return fail(d, line, "END >= START in the range");
    }
    nd->size = (gm_u128)nd->end - nd->start + 1;
    if (!lex_lit(&p, " (prio ") || !lex_int(&p, &nd->prio)) {
        return fail(d, line,
                    "` (prio N, TYPE): ` after the range, with "
                    "N a 32-bit integer");
    }
    if (!lex_lit(&p, ", ")) {
        return fail(d, line, "`, TYPE` after the priority");
    }
    tok = p;
    p += strcspn(p, ",)");
    nd->type_off = (size_t)(tok - text);
    nd->type_len = (size_t)(p - tok);
    if (*p == ',') {
        int order;

        *p++ = '\0';
        if (!lex_lit(&p, " order ") || !lex_int(&p, &order) || order < 1) {
            return fail(d, line,
                        "`, order K` (K = 1, 2, ...) or `)` after the type");
        }
        nd->order = (unsigned)order;
    }
    nd->type_end = (size_t)(p - text);
    if (!lex_lit(&p, "): ")) {
        return fail(d, line, "`): NAME` after the type");
    }
    tok[nd->type_len] = '\0';
    body = p;
    if (!lex_type(nd, tok, &rw)) {
        return fail(d, line,
                    "a type among ram, rom, romd, ramd, i/o, "
                    "container (optionally nv-), or QEMU's old RW, R-, "
                    "-W, --, not `%s`",
                    tok);
    }
    if (*attr_style == 0) {
        *attr_style = rw ? 2 : 1;
        d->format |= rw ? MTF_RW_FLAGS : 0;
    } else if (*attr_style != (rw ? 2 : 1)) {
        return fail(d, line,
                    "the same kind of attributes on every line (type "
                    "names or QEMU's old RW flags), not `%s`",
                    tok);
    }
    if (d->format & MTF_OWNERS) {
        bool any = false;

        while (strip_owner(body)) {
            any = true;
        }
        if (!any && !strip_suffix(body, " orphan")) {
            return fail(d, line,
                        "an ` owner:{...}`, ` parent:{...}` or ` orphan` "
                        "suffix, as `info mtree -o` prints on every line");
        }
    }
    nd->disabled = strip_suffix(body, " [disabled]");
    nd->name = body;
    if (!strncmp(body, "alias ", 6)) {
        char *range = strrchr(body, ' ');
        char *q = range ? range + 1 : NULL;
        uint64_t offend;

        if (range && range > body + 5 && strstr(body + 6, " @") &&
            lex_hex(&q, &nd->off) && lex_lit(&q, "-") && lex_hex(&q, &offend) &&
            *q == '\0') {
            *range = '\0';
            nd->alias = true;
            nd->name = body + 6; /* "NAME @TARGET", split later */
            nd->rom_token = nd->kind == MT_ROM && !rw;
            if (offend != nd->off + (uint64_t)(nd->size - 1) &&
                !(nd->size == 1 && offend == nd->off)) {
                return fail(d, line,
                            "the alias range OFF-OFFEND to be "
                            "as long as START-END");
            }
            if (nd->size > GM_SIZE_2_64 - nd->off) {
                return fail(d, line, "an alias window that ends below 2^64");
            }
        } else if (strstr(body + 6, " @")) {
            return fail(d, line,
                        "`alias NAME @TARGET OFF-OFFEND` with "
                        "OFF and OFFEND 16-digit hex numbers");
        }
    }
    return 0;
}

static struct mtree_node *new_node(struct mtree_dump *d)
{
    if (grow(&d->nodes, &d->ncap, d->nn, sizeof(*d->nodes)) < 0) {
        return NULL;
    }
    return &d->nodes[d->nn++];
}

static struct mtree_tree *new_tree(struct mtree_dump *d, unsigned line,
                                   bool section)
{
    struct mtree_tree *t;

    if (grow(&d->trees, &d->tcap, d->nt, sizeof(*d->trees)) < 0) {
        return NULL;
    }
    t = &d->trees[d->nt++];
    memset(t, 0, sizeof(*t));
    t->line = line;
    t->section = section;
    t->root = -1;
    t->first_as = d->nas;
    return t;
}

static int add_as_name(struct mtree_dump *d, char *name, unsigned line)
{
    int cap = d->ascap;

    if (grow(&d->as_names, &cap, d->nas, sizeof(*d->as_names)) < 0) {
        return -1;
    }
    if (cap != d->ascap) {
        unsigned *nl = realloc(d->as_lines, (size_t)cap * sizeof(*nl));

        if (!nl) {
            return -1;
        }
        d->as_lines = nl;
        d->ascap = cap;
    }
    d->as_names[d->nas] = name;
    d->as_lines[d->nas] = line;
    d->nas++;
    return 0;
}

/* Whether `-o` owner suffixes appear anywhere in the text. */
static bool has_owners(const char *text, size_t len)
{
    return memmem(text, len, " owner:{", 8) || memmem(text, len, " parent:{", 9);
}

/* Attach @nd (a region line of tree @cur) to its parent and store it. */
static int add_line(struct mtree_dump *d, int cur, struct mtree_node *nd)
{
    struct mtree_tree *t = &d->trees[cur];
    struct mtree_node *slot;

    nd->tree = cur;
    nd->parent = -1;
    nd->target_sec = -1;
    if (t->root < 0) {
        if (nd->level != 1) {
            return fail(d, nd->line,
                        "the root region of the tree at 2 spaces of "
                        "indentation (or the first cell of the drawing)");
        }
    } else {
        int prev = d->nn - 1;

        if (nd->level == 1) {
            return fail(d, nd->line,
                        "a single root per tree (a new tree needs a blank "
                        "line and a header)");
        }
        if (nd->level > d->nodes[prev].level + 1) {
            return fail(d, nd->line,
                        "at most one level deeper than line %u",
                        d->nodes[prev].line);
        }
        nd->parent = d->stack[nd->level - 1];
        if (d->nodes[nd->parent].alias) {
            return fail(d, nd->line, "no subregion under the alias of line %u",
                        d->nodes[nd->parent].line);
        }
        if (nd->start < d->nodes[nd->parent].start) {
            return fail(d, nd->line,
                        "a START not below the START of its parent (line %u)",
                        d->nodes[nd->parent].line);
        }
    }
    if (grow(&d->stack, &d->stackcap, (int)nd->level + 1, sizeof(int)) < 0) {
        return oom(d, nd->line);
    }
    slot = new_node(d);
    if (!slot) {
        return oom(d, nd->line);
    }
    *slot = *nd;
    slot->obj = d->nn - 1;
    d->stack[nd->level] = d->nn - 1;
    if (t->root < 0) {
        t->root = d->nn - 1;
    }
    return 0;
}

/* Split the text into trees and nodes. */
static int parse(struct mtree_dump *d, char *text, size_t len)
{
    char *p = text, *end = text + len;
    unsigned line = 0;
    int cur = -1; /* open tree, -1 between trees */
    int attr_style = 0;
    bool multi = false; /* a group with two or more spaces */

    if (has_owners(text, len)) {
        d->format |= MTF_OWNERS;
    }
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *s = p;
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

        p = nl ? nl + 1 : end;
        line++;
        if (memchr(s, '\0', n)) {
            return fail(d, line, "text, not a NUL byte");
        }
        s[n] = '\0'; /* the '\n', or one past the end (see caller) */
        if (n && s[n - 1] == '\r') {
            s[--n] = '\0';
        }
        if (n == 0) {
            if (cur >= 0 && d->trees[cur].root < 0) {
                return fail(d, line, "a region line after the header of line %u",
                            d->trees[cur].line);
            }
            cur = -1;
            continue;
        }
        if (!strncmp(s, "address-space: ", 15) ||
            !strncmp(s, "memory-region: ", 15)) {
            bool section = s[0] == 'm';

            if (cur >= 0 && d->trees[cur].root < 0 &&
                (section || d->trees[cur].section)) {
                return fail(d, line, "a region line after the header of line %u",
                            d->trees[cur].line);
            }
            if (cur < 0 || d->trees[cur].root >= 0) {
                if (!new_tree(d, line, section)) {
                    return oom(d, line);
                }
                cur = d->nt - 1;
            }
            if (section) {
                d->trees[cur].secname = s + 15;
            } else {
                if (add_as_name(d, s + 15, line) < 0) {
                    return oom(d, line);
                }
                d->trees[cur].nas++;
                multi |= d->trees[cur].nas > 1;
            }
            continue;
        }
        if (cur < 0) {
            return fail(d, line,
                        "`address-space: NAME`, `memory-region: NAME` or a "
                        "blank line");
        }

        struct mtree_node nd;

        if (parse_region_line(d, text, s, line, &nd, &attr_style) < 0 ||
            add_line(d, cur, &nd) < 0) {
            return -1;
        }
    }
    if (cur >= 0 && d->trees[cur].root < 0) {
        return fail(d, line + 1,
                    "a region line after the header of line %u (not the end "
                    "of the file)",
                    d->trees[cur].line);
    }
    if (d->nt == 0) {
        return fail(d, 1, "`address-space: NAME` (no tree in the file)");
    }
    if (d->nas == 0) {
        /* As a board file must: a machine nobody can see prints nothing. */
        return fail(d, 1, "at least one `address-space: NAME` section");
    }
    if (!multi && d->nas > 1) {
        d->format |= MTF_UNGROUPED;
    }
    if (d->style_width != 2) {
        d->format |= MTF_TREE_DRAWING;
    }
    for (int i = d->nn - 1; i >= 0; i--) {
        int j = i + 1;

        while (j < d->nn && d->nodes[j].tree == d->nodes[i].tree &&
               d->nodes[j].level > d->nodes[i].level) {
            j = d->nodes[j].end_idx;
        }
        d->nodes[i].end_idx = j;
    }
    return 0;
}

/*
 * Sections by name.
 */

static int index_sections(struct mtree_dump *d, struct mt_index *ix)
{
    for (int t = 0; t < d->nt; t++) {
        if (d->trees[t].section &&
            mt_index_add(ix, t, mt_hash_str(d->trees[t].secname)) < 0) {
            return oom(d, d->trees[t].line);
        }
    }
    return 0;
}

/* Index of the first section named @name, or -1. */
static int find_section(struct mtree_dump *d, const struct mt_index *ix,
                        const char *name)
{
    for (int t = mt_index_first(ix, mt_hash_str(name)); t >= 0;
         t = mt_index_next(ix, t)) {
        if (!strcmp(d->trees[t].secname, name)) {
            return t;
        }
    }
    return -1;
}

/* Split "NAME @TARGET", preferring a split whose TARGET is a section. */
static void split_alias(struct mtree_dump *d, const struct mt_index *ix,
                        struct mtree_node *nd)
{
    char *body = nd->name, *best = NULL;

    for (char *q = strstr(body, " @"); q; q = strstr(q + 1, " @")) {
        best = q;
        if (find_section(d, ix, q + 2) >= 0) {
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
 * A target already queued, or one the replay cannot follow, is the first
 * section of that name (sections are found through a hash index).
 */
static int resolve_targets(struct mtree_dump *d, const struct mt_index *ix)
{
    int k = 0; /* next section expected in the queue */

    while (k < d->nt && !d->trees[k].section) {
        k++;
    }
    /* Group trees come first in the walk, then the sections in order. */
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < d->nn; i++) {
            struct mtree_node *nd = &d->nodes[i];

            if (d->trees[nd->tree].section != (pass == 1) || !nd->alias) {
                continue;
            }
            if (k < d->nt && !strcmp(d->trees[k].secname, nd->target)) {
                nd->target_sec = k++;
                while (k < d->nt && !d->trees[k].section) {
                    k++;
                }
                continue;
            }
            nd->target_sec = find_section(d, ix, nd->target);
            if (nd->target_sec < 0) {
                return fail(d, nd->line,
                            "a `memory-region: %s` section for the alias "
                            "target `%s`",
                            nd->target, nd->target);
            }
        }
    }
    return 0;
}

/*
 * Binding tree roots to the lines they also appear as.
 */

static uint64_t own_addr(const struct mtree_dump *d, int i)
{
    int p = d->nodes[i].parent;

    return p < 0 ? d->nodes[i].start : d->nodes[i].start - d->nodes[p].start;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    h *= 0xff51afd7ed558ccdull;
    return h ^ (h >> 33);
}

/* A node's own fields, as same_subtree() compares them. */
static uint64_t node_hash(const struct mtree_node *x)
{
    uint64_t h = mt_hash_str(x->name);

    h = mix(h, (uint64_t)x->size);
    h = mix(h, (uint64_t)(x->size >> 64));
    h = mix(h, (uint64_t)(uint32_t)x->prio);
    h = mix(h, (uint64_t)x->kind << 8 | (uint64_t)x->nv << 4 |
                   (uint64_t)x->disabled << 2 | (uint64_t)x->alias << 1 |
                   (uint64_t)x->rom_token);
    h = mix(h, x->order);
    if (x->alias) {
        h = mix(h, x->off);
        h = mix(h, mt_hash_str(x->target));
    }
    return h;
}

/* Whether the subtrees at @a and @b print alike (relative addresses). */
static bool same_subtree(const struct mtree_dump *d, int a, int b)
{
    int n = d->nodes[a].end_idx - a;

    if (d->nodes[b].end_idx - b != n || own_addr(d, a) != own_addr(d, b)) {
        return false;
    }
    for (int k = 0; k < n; k++) {
        const struct mtree_node *x = &d->nodes[a + k], *y = &d->nodes[b + k];

        if (x->level - d->nodes[a].level != y->level - d->nodes[b].level ||
            x->start - d->nodes[a].start != y->start - d->nodes[b].start ||
            x->size != y->size || x->prio != y->prio || x->kind != y->kind ||
            x->nv != y->nv || x->disabled != y->disabled ||
            x->alias != y->alias || x->rom_token != y->rom_token ||
            x->order != y->order || strcmp(x->name, y->name)) {
            return false;
        }
        if (x->alias && (x->off != y->off || strcmp(x->target, y->target))) {
            return false;
        }
    }
    return true;
}

/* Nodes by structural key, then document order (qsort_r). */
static int cmp_by_key(const void *a, const void *b, void *arg)
{
    const uint64_t *key = arg;
    int x = *(const int *)a, y = *(const int *)b;

    if (key[x] != key[y]) {
        return key[x] < key[y] ? -1 : 1;
    }
    return (x > y) - (x < y);
}

static int tree_size(const struct mtree_dump *d, int t)
{
    int r = d->trees[t].root;

    return d->nodes[r].end_idx - r;
}

/* Larger trees first; among equal sizes groups, then document order. */
static int cmp_tree(const void *a, const void *b, void *arg)
{
    const struct mtree_dump *d = arg;
    int x = *(const int *)a, y = *(const int *)b;

    if (tree_size(d, x) != tree_size(d, y)) {
        return tree_size(d, x) > tree_size(d, y) ? -1 : 1;
    }
    if (d->trees[x].section != d->trees[y].section) {
        return d->trees[x].section ? 1 : -1;
    }
    return (x > y) - (x < y);
}

/*
 * Decide which tree roots stand for regions printed elsewhere. A root binds
 * to the first node (document order) of another tree with the same name
 * and structure: a group root only to an inner node (or, in an old
 * ungrouped dump, to an earlier group root), a section root to an inner
 * node or a group root. No region is claimed by two group roots or by two
 * sections, since QEMU prints each group and each section once. Trees are
 * taken largest first, so the node bound to is already final.
 *
 * Candidates are sorted by a structural hash (own fields, then each
 * child's offset and hash, computed bottom-up), so each tree looks at the
 * nodes of its own shape only; per shape, one cursor per kind of tree
 * skips the nodes that can no longer be taken.
 */
static int bind_roots(struct mtree_dump *d)
{
    size_t nn = (size_t)d->nn + 1;
    uint64_t *key = malloc(nn * sizeof(*key));
    int *sorted = malloc(nn * sizeof(*sorted));
    int *order = malloc(((size_t)d->nt + 1) * sizeof(*order));
    int *cursor = malloc(2 * nn * sizeof(*cursor));
    bool *claim = calloc(2 * nn, sizeof(*claim));
    int rc = 0;

    if (!key || !sorted || !order || !cursor || !claim) {
        rc = oom(d, 1);
        goto out;
    }
    /* Bottom-up structural hashes: children follow their parent. */
    for (int i = d->nn - 1; i >= 0; i--) {
        uint64_t h = node_hash(&d->nodes[i]);

        for (int c = i + 1; c < d->nodes[i].end_idx; c = d->nodes[c].end_idx) {
            h = mix(h, d->nodes[c].start - d->nodes[i].start);
            h = mix(h, key[c]);
        }
        key[i] = h;
    }
    /* The key of a candidate also holds its own address. */
    for (int i = 0; i < d->nn; i++) {
        key[i] = mix(key[i], own_addr(d, i));
        sorted[i] = i;
    }
    for (int t = 0; t < d->nt; t++) {
        order[t] = t;
    }
    qsort_r(sorted, (size_t)d->nn, sizeof(*sorted), cmp_by_key, key);
    qsort_r(order, (size_t)d->nt, sizeof(*order), cmp_tree, d);
    for (int i = 0; i < 2 * d->nn; i++) {
        cursor[i] = -1;
    }
    for (int i = 0; i < d->nt; i++) {
        int t = order[i], r = d->trees[t].root;
        bool section = d->trees[t].section;
        bool *claimed = claim + (section ? d->nn : 0);
        int lo = 0, hi = d->nn;

        /* The first candidate with r's key. */
        while (lo < hi) {
            int mid = lo + (hi - lo) / 2;

            if (key[sorted[mid]] < key[r]) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        int *cur = &cursor[(section ? d->nn : 0) + lo];

        if (*cur < lo) {
            *cur = lo;
        }
        for (int k = *cur; k < d->nn && key[sorted[k]] == key[r]; k++) {
            int n = sorted[k];
            const struct mtree_node *c = &d->nodes[n];
            bool n_root = c->parent < 0;
            bool dead = claimed[c->obj] ||
                        (n_root && d->trees[c->tree].section) ||
                        (n_root && !section &&
                         !(d->format & MTF_UNGROUPED));

            if (dead) {
                /* Never a candidate again for this kind of tree. */
                if (k == *cur) {
                    (*cur)++;
                }
                continue;
            }
            if (c->tree == t || (n_root && !section && n > r) ||
                c->size != d->nodes[r].size ||
                strcmp(c->name, d->nodes[r].name) || !same_subtree(d, n, r)) {
                continue;
            }
            /* In an old dump, one region may root many spaces' trees. */
            if (!(n_root && !section)) {
                claimed[c->obj] = true;
            }
            for (int j = 0; j < d->nodes[r].end_idx - r; j++) {
                d->nodes[r + j].obj = d->nodes[n + j].obj;
            }
            break;
        }
    }
out:
    free(key);
    free(sorted);
    free(order);
    free(cursor);
    free(claim);
    return rc;
}

/*
 * Kinds and orders.
 */

/* Siblings by priority, then print position (qsort_r). */
static int cmp_prio_pos(const void *x, const void *y, void *arg)
{
    const struct mtree_dump *d = arg;
    const struct mtree_node *a = &d->nodes[*(const int *)x];
    const struct mtree_node *b = &d->nodes[*(const int *)y];

    if (a->prio != b->prio) {
        return a->prio < b->prio ? -1 : 1;
    }
    return (a->rank > b->rank) - (a->rank < b->rank);
}

/*
 * Sort the @n children of @p into @kids by priority, then print position;
 * *@ngroups receives the number of priorities and @group the index in
 * @kids where each starts (plus one past the end).
 */
static int sibling_groups(const struct mtree_dump *d, int p, int *kids,
                          int *group, int *ngroups)
{
    int n = 0, g = 0;

    for (int c = p + 1; c < d->nodes[p].end_idx; c = d->nodes[c].end_idx) {
        kids[n++] = c;
    }
    qsort_r(kids, (size_t)n, sizeof(*kids), cmp_prio_pos, (void *)d);
    for (int i = 0; i < n; i++) {
        if (i == 0 || d->nodes[kids[i]].prio != d->nodes[kids[i - 1]].prio) {
            group[g++] = i;
        }
    }
    group[g] = n;
    *ngroups = g;
    return n;
}

static int cmp_order(const void *x, const void *y, void *arg)
{
    const struct mtree_dump *d = arg;
    unsigned a = d->nodes[*(const int *)x].order;
    unsigned b = d->nodes[*(const int *)y].order;

    return (a > b) - (a < b);
}

/*
 * Set the render rank of @p's children: their print position, or their
 * `order` token; per priority, the token is on every sibling or on none,
 * with distinct values.
 */
static int rank_children(struct mtree_dump *d, int p, int *kids, int *group)
{
    int pos = 0, ng;

    for (int c = p + 1; c < d->nodes[p].end_idx; c = d->nodes[c].end_idx) {
        d->nodes[c].rank = (unsigned)++pos;
    }
    sibling_groups(d, p, kids, group, &ng);
    for (int g = 0; g < ng; g++) {
        int *k = kids + group[g], n = group[g + 1] - group[g];
        int with = -1, without = -1;

        for (int i = 0; i < n; i++) {
            if (d->nodes[k[i]].order) {
                with = with < 0 ? k[i] : with;
            } else {
                without = without < 0 ? k[i] : without;
            }
        }
        if (with < 0) {
            continue;
        }
        if (without >= 0) {
            return fail(d, d->nodes[without].line,
                        "`, order K` here too, as on line %u: either every "
                        "sibling of priority %d carries it or none",
                        d->nodes[with].line, d->nodes[with].prio);
        }
        qsort_r(k, (size_t)n, sizeof(*k), cmp_order, d);
        for (int i = 0; i < n; i++) {
            if (i && d->nodes[k[i]].order == d->nodes[k[i - 1]].order) {
                return fail(d, d->nodes[k[i]].line,
                            "a distinct `order` among the siblings of "
                            "priority %d (line %u has order %u too)",
                            d->nodes[k[i]].prio, d->nodes[k[i - 1]].line,
                            d->nodes[k[i]].order);
            }
            d->nodes[k[i]].rank = d->nodes[k[i]].order;
        }
    }
    return 0;
}

/*
 * Decide the dump's kind of annotation and mark what a plain dump leaves
 * open; set every child's render rank from its `order` token or its print
 * position.
 */
static int classify(struct mtree_dump *d)
{
    bool annotated = false, qemu_container = false;
    int *kids = malloc(((size_t)d->nn + 1) * sizeof(*kids));
    int *group = malloc(((size_t)d->nn + 2) * sizeof(*group));
    int rc = 0;

    if (!kids || !group) {
        free(kids);
        free(group);
        return oom(d, 1);
    }
    for (int i = 0; i < d->nn; i++) {
        const struct mtree_node *nd = &d->nodes[i];

        /* QEMU >= 11 prints an alias of a parentless region `container`. */
        qemu_container |= nd->alias && nd->kind == MT_CONTAINER;
        annotated |= nd->order > 0;
    }
    if (qemu_container) {
        d->format |= MTF_QEMU_CONTAINER;
    }
    for (int i = 0; i < d->nn; i++) {
        struct mtree_node *nd = &d->nodes[i];

        if (nd->kind == MT_CONTAINER && !nd->alias) {
            if (qemu_container) {
                nd->kind = MT_IO;
            } else {
                annotated = true;
            }
        }
    }
    if (annotated) {
        d->format |= MTF_ANNOTATED;
    }
    for (int i = 0; i < d->nn && !rc; i++) {
        struct mtree_node *nd = &d->nodes[i];

        nd->unknown = !annotated && !nd->alias && nd->kind == MT_IO;
        if (!nd->alias && nd->end_idx > i + 1) {
            rc = rank_children(d, i, kids, group);
        }
    }
    free(kids);
    free(group);
    return rc;
}

int mtree_dump_parse(struct mtree_dump *d, const char *label, char *text,
                     size_t len)
{
    struct mt_index ix = {0};
    int rc;

    d->label = label;
    rc = parse(d, text, len);
    if (!rc) {
        rc = index_sections(d, &ix);
    }
    for (int i = 0; i < d->nn && !rc; i++) {
        if (d->nodes[i].alias) {
            split_alias(d, &ix, &d->nodes[i]);
        }
    }
    if (!rc) {
        rc = resolve_targets(d, &ix);
    }
    mt_index_free(&ix);
    if (!rc) {
        rc = classify(d);
    }
    if (!rc) {
        rc = bind_roots(d);
    }
    return rc;
}

/*
 * The plain-dump heuristic.
 */

/* Ranking a group: positions in @sib, with their print ranks in @pos. */
struct ranking {
    const struct mtree_dump *d;
    const int *sib;
    const unsigned *pos;
    bool by_size;
};

/* Whether position @a is preferred to render before @b (smaller first). */
static bool prefer(const struct ranking *k, int a, int b)
{
    const struct mtree_node *x = &k->d->nodes[k->sib[a]];
    const struct mtree_node *y = &k->d->nodes[k->sib[b]];

    if (k->by_size && x->size != y->size) {
        return x->size < y->size;
    }
    return k->pos[a] < k->pos[b];
}

static void heap_push(const struct ranking *k, int *h, int *n, int x)
{
    int i = (*n)++;

    h[i] = x;
    while (i > 0 && prefer(k, h[i], h[(i - 1) / 2])) {
        int t = h[i];

        h[i] = h[(i - 1) / 2];
        h[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

static int heap_pop(const struct ranking *k, int *h, int *n)
{
    int top = h[0], i = 0;

    h[0] = h[--*n];
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;

        if (l < *n && prefer(k, h[l], h[m])) {
            m = l;
        }
        if (r < *n && prefer(k, h[r], h[m])) {
            m = r;
        }
        if (m == i) {
            return top;
        }
        int t = h[i];

        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

int mtree_order_group(struct mtree_dump *d, const int *sib, int n,
                      const int *edges, int nedges, bool by_size)
{
    size_t sz = (size_t)n + 1;
    int *indeg = malloc(sz * sizeof(int)), *heap = malloc(sz * sizeof(int));
    int *first = malloc(sz * sizeof(int)), *same = malloc(sz * sizeof(int));
    int *enext = malloc(((size_t)nedges + 1) * sizeof(int));
    unsigned *pos = malloc(sz * sizeof(unsigned));
    struct ranking k = {d, sib, pos, by_size};
    int rc = 0;

    if (!indeg || !heap || !first || !same || !enext || !pos) {
        rc = -1;
        goto out;
    }
    for (int i = 0; i < n; i++) {
        pos[i] = d->nodes[sib[i]].rank;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        int hn = 0, done = 0;
        unsigned rank = 1;

        for (int i = 0; i < n; i++) {
            indeg[i] = 0;
            first[i] = -1;
            same[i] = -1;
        }
        /* Siblings printed at one START render in print order. */
        for (int i = 0; i + 1 < n; i++) {
            if (d->nodes[sib[i]].start == d->nodes[sib[i + 1]].start) {
                same[i] = i + 1;
                indeg[i + 1]++;
            }
        }
        for (int e = 0; attempt == 0 && e < nedges; e++) {
            int x = edges[2 * e], y = edges[2 * e + 1];

            enext[e] = first[x];
            first[x] = e;
            indeg[y]++;
        }
        for (int i = 0; i < n; i++) {
            if (!indeg[i]) {
                heap_push(&k, heap, &hn, i);
            }
        }
        while (hn > 0) {
            int i = heap_pop(&k, heap, &hn);

            d->nodes[sib[i]].rank = rank++;
            done++;
            if (same[i] >= 0 && --indeg[same[i]] == 0) {
                heap_push(&k, heap, &hn, same[i]);
            }
            for (int e = first[i]; e >= 0; e = enext[e]) {
                if (--indeg[edges[2 * e + 1]] == 0) {
                    heap_push(&k, heap, &hn, edges[2 * e + 1]);
                }
            }
        }
        if (done == n) {
            break;
        }
        rc = 1; /* a cycle: rank again without @edges */
        for (int i = 0; i < n; i++) {
            d->nodes[sib[i]].rank = pos[i];
        }
    }
out:
    free(indeg);
    free(heap);
    free(first);
    free(same);
    free(enext);
    free(pos);
    return rc;
}

/* Siblings by START, then print position (qsort_r). */
static int cmp_start(const void *x, const void *y, void *arg)
{
    const struct mtree_dump *d = arg;
    const struct mtree_node *a = &d->nodes[*(const int *)x];
    const struct mtree_node *b = &d->nodes[*(const int *)y];

    if (a->start != b->start) {
        return a->start < b->start ? -1 : 1;
    }
    return (a->rank > b->rank) - (a->rank < b->rank);
}

bool mtree_overlap_apart(const struct mtree_dump *d, int *sib, int n)
{
    gm_u128 max_end = 0;
    uint64_t max_start = 0;

    qsort_r(sib, (size_t)n, sizeof(*sib), cmp_start, (void *)d);
    for (int i = 0; i < n; i++) {
        const struct mtree_node *x = &d->nodes[sib[i]];

        if (i && x->start < max_end && x->start != max_start) {
            return true;
        }
        if (i == 0 || (gm_u128)x->start + x->size > max_end) {
            max_end = (gm_u128)x->start + x->size;
            max_start = x->start;
        }
    }
    return false;
}

int mtree_dump_guess(struct mtree_dump *d)
{
    size_t nn = (size_t)d->nn + 2;
    int *kids = malloc(nn * sizeof(*kids)), *group = malloc(nn * sizeof(int));
    int *sib = malloc(nn * sizeof(*sib));
    int rc = 0;

    free(d->guess_kind);
    free(d->guess_order);
    d->guess_kind = malloc(nn * sizeof(int));
    d->guess_order = malloc(nn * sizeof(int));
    d->nguess_kind = d->nguess_order = 0;
    if (!kids || !group || !sib || !d->guess_kind || !d->guess_order) {
        rc = oom(d, 1);
        goto out;
    }
    if (d->format & MTF_ANNOTATED) {
        goto out;
    }
    for (int i = 0; i < d->nn; i++) {
        struct mtree_node *nd = &d->nodes[i];

        if (!nd->unknown) {
            continue;
        }
        nd->kind = nd->end_idx > i + 1 ? MT_CONTAINER : MT_IO;
        if (nd->obj == i) {
            d->guess_kind[d->nguess_kind++] = i;
        }
    }
    /* Overlapping enabled siblings of equal priority that start apart. */
    for (int p = 0; p < d->nn && !rc; p++) {
        const struct mtree_node *pn = &d->nodes[p];
        int ng;

        if (pn->alias || pn->obj != p || pn->end_idx == p + 1) {
            continue;
        }
        sibling_groups(d, p, kids, group, &ng);
        for (int g = 0; g < ng && !rc; g++) {
            int n = 0;

            for (int i = group[g]; i < group[g + 1]; i++) {
                if (!d->nodes[kids[i]].disabled) {
                    sib[n++] = kids[i];
                }
            }
            if (n < 2 || !mtree_overlap_apart(d, sib, n)) {
                continue;
            }
            qsort_r(sib, (size_t)n, sizeof(*sib), cmp_prio_pos, d);
            if (mtree_order_group(d, sib, n, NULL, 0, true) < 0) {
                rc = oom(d, pn->line);
            }
            d->guess_order[d->nguess_order++] = sib[0];
        }
    }
out:
    free(kids);
    free(group);
    free(sib);
    return rc;
}

static void warn_names(const struct mtree_dump *d, const int *idx, int n,
                       bool parent)
{
    for (int i = 0; i < n && i < WARN_NAMES; i++) {
        const struct mtree_node *nd = &d->nodes[idx[i]];

        if (parent) {
            nd = &d->nodes[nd->parent];
        }
        fprintf(stderr, "%s%s (line %u)", i ? ", " : "", nd->name, nd->line);
    }
    if (n > WARN_NAMES) {
        fprintf(stderr, " and %d more", n - WARN_NAMES);
    }
}

void mtree_dump_warn(const struct mtree_dump *d)
{
    int nc = 0, nt = 0;
    int *cont;

    if (d->format & MTF_RW_FLAGS) {
        fprintf(stderr,
                "%s: warning: QEMU's old `RW` attributes do not tell RAM "
                "from I/O: `RW` regions are read as i/o\n",
                d->label);
    }
    if (d->nguess_kind == 0 && d->nguess_order == 0) {
        return;
    }
    cont = malloc(((size_t)d->nguess_kind + 1) * sizeof(*cont));
    if (!cont) {
        return;
    }
    for (int i = 0; i < d->nguess_kind; i++) {
        if (d->nodes[d->guess_kind[i]].kind == MT_CONTAINER) {
            cont[nc++] = d->guess_kind[i];
        } else {
            nt++;
        }
    }
    fprintf(stderr,
            "%s: warning: a plain `info mtree` dump does not say which i/o "
            "regions are containers%s; guessed:\n",
            d->label,
            d->nguess_order ? " nor which overlapping sibling wins" : "");
    if (nc) {
        fprintf(stderr, "  %d with subregions are containers: ", nc);
        warn_names(d, cont, nc, false);
        fputc('\n', stderr);
    }
    if (nt) {
        fprintf(stderr, "  %d without subregions terminate\n", nt);
    }
    if (d->nguess_order) {
        fprintf(stderr,
                "  smaller overlapping siblings of equal priority win, in: ");
        warn_names(d, d->guess_order, d->nguess_order, true);
        fputc('\n', stderr);
    }
    if (d->format & MTF_QEMU_CONTAINER) {
        fprintf(stderr,
                "  (this QEMU prints `container` for any region in no "
                "container: read as i/o)\n");
    }
    fprintf(stderr,
            "%s: `guestmem annotate %s FLAT` decides them from QEMU's "
            "`info mtree -f` output (FLAT)\n",
            d->label, d->label);
    free(cont);
}

void mtree_dump_free(struct mtree_dump *d)
{
    free(d->nodes);
    free(d->trees);
    free(d->as_names);
    free(d->as_lines);
    free(d->guess_kind);
    free(d->guess_order);
    free(d->stack);
    memset(d, 0, sizeof(*d));
}

/*
 * Building.
 */

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

static int create_plain(struct mtree_dump *d, gm_system *sys, bool memory,
                        struct mtree_node *nd)
{
    gm_error err = {0};
    /* A RAM device's memory, with memory: no caller's pointer to borrow. */
    struct gm_ram_opts ramd = {.backing = GM_RAM_ANON,
                               .flags = GM_RAM_NORESERVE,
                               .align = nd->size >= (2u << 20) ? 0 : 4096};

    switch (nd->kind) {
    case MT_CONTAINER:
        nd->region = gm_region_new_container(sys, nd->name, nd->size, &err);
        break;
    case MT_IO:
        nd->region = gm_region_new_io(sys, nd->name, nd->size, NULL, NULL, &err);
        break;
    case MT_RAM:
        nd->region = gm_region_new_ram(sys, nd->name, nd->size, &err);
        break;
    case MT_ROM:
        nd->region = gm_region_new_rom(sys, nd->name, nd->size, &err);
        break;
    case MT_ROMD:
        nd->region = gm_region_new_rom_device(sys, nd->name, nd->size,
                                              &romd_stub_ops, NULL, &err);
        break;
    case MT_RAMD:
        if (memory && nd->size > ((gm_u128)1 << 63)) {
            return fail(d, nd->line, "a RAM device of at most 8E in a "
                        "machine with memory");
        }
        if (memory) {
            nd->region = gm_region_new_ram_opts(
                sys, nd->name, GM_REGION_RAM_DEVICE, (uint64_t)nd->size,
                &ramd, NULL, NULL, &err);
        } else {
            nd->region =
                gm_region_new_ram_device(sys, nd->name, nd->size, NULL, &err);
        }
        break;
    }
    if (!nd->region) {
        return fail(d, nd->line, "a region the library accepts: %s", err.msg);
    }
    return 0;
}

/* Create the aliases, targets first (an explicit stack, no recursion). */
static int create_aliases(struct mtree_dump *d, gm_system *sys)
{
    int *stack = malloc(((size_t)d->nn + 1) * sizeof(*stack));
    int rc = 0;

    if (!stack) {
        return oom(d, 1);
    }
    for (int i = 0; i < d->nn; i++) {
        d->nodes[i].state = 0;
    }
    for (int i = 0; i < d->nn && !rc; i++) {
        int sp = 0;

        if (d->nodes[i].obj != i || !d->nodes[i].alias || d->nodes[i].region) {
            continue;
        }
        stack[sp++] = i;
        d->nodes[i].state = 1;
        while (sp > 0 && !rc) {
            struct mtree_node *nd = &d->nodes[stack[sp - 1]];
            int r = d->trees[nd->target_sec].root;
            int o = d->nodes[r].obj;
            gm_error err = {0};

            if (d->nodes[o].region) {
                nd->region = gm_region_new_alias(
                    sys, nd->name, d->nodes[o].region, nd->off, nd->size, &err);
                if (!nd->region) {
                    rc = fail(d, nd->line, "an alias the library accepts: %s",
                              err.msg);
                }
                nd->state = 0;
                sp--;
            } else if (d->nodes[o].state == 1) {
                rc = fail(d, nd->line,
                          "alias targets without a cycle (`%s` leads back to "
                          "itself)",
                          nd->name);
            } else {
                d->nodes[o].state = 1;
                stack[sp++] = o;
            }
        }
    }
    free(stack);
    return rc;
}

static int set_flags(struct mtree_dump *d, struct mtree_node *nd)
{
    gm_error err = {0};

    if ((nd->disabled && gm_region_set_enabled(nd->region, false, &err)) ||
        (nd->nv && gm_region_set_nonvolatile(nd->region, true, &err)) ||
        (nd->rom_token && gm_region_set_readonly(nd->region, true, &err))) {
        return fail(d, nd->line, "flags the library accepts: %s", err.msg);
    }
    return 0;
}

/*
 * Whether the region of (real) node @from contains or aliases, directly or
 * not, the region of node @to, following the dump's structure. Returns 1,
 * 0, or -1 when out of memory. Iterative: the graph may have cycles.
 */
static int reaches(struct mtree_dump *d, int from, int to)
{
    int *stack = malloc(((size_t)d->nn + 1) * sizeof(*stack));
    bool *seen = calloc((size_t)d->nn + 1, sizeof(*seen));
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
        const struct mtree_node *nx = &d->nodes[x];

        if (x == to) {
            found = 1;
        } else if (nx->alias) {
            int y = d->nodes[d->trees[nx->target_sec].root].obj;

            if (!seen[y]) {
                seen[y] = true;
                stack[sp++] = y;
            }
        } else {
            for (int c = x + 1; c < nx->end_idx; c = d->nodes[c].end_idx) {
                int y = d->nodes[c].obj;

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
static int fix_loop(struct mtree_dump *d, struct machine *m, int a, int *kids)
{
    struct mtree_node *nd = &d->nodes[a];
    int tn = d->nodes[d->trees[nd->target_sec].root].obj;
    struct mtree_node *t = &d->nodes[tn];
    gm_region *proxy, *alias;
    gm_error err = {0};
    int n = 0;

    if (t->alias || t->kind != MT_CONTAINER) {
        return fail(d, nd->line,
                    "an alias that does not contain itself (target `%s` "
                    "terminates)",
                    t->name);
    }
    proxy = gm_region_new_container(m->sys, t->name, t->size, &err);
    if (!proxy) {
        return fail(d, nd->line, "a region the library accepts: %s", err.msg);
    }
    for (int c = tn + 1; c < t->end_idx; c = d->nodes[c].end_idx) {
        kids[n++] = c;
    }
    /* Children that lead back to the target would close the loop again. */
    int kept = 0;

    for (int i = 0; i < n; i++) {
        int rc = reaches(d, d->nodes[kids[i]].obj, tn);

        if (rc < 0) {
            gm_region_unref(proxy);
            return oom(d, nd->line);
        }
        if (!rc) {
            kids[kept++] = kids[i];
        }
    }
    n = kept;
    while (n-- > 0) {
        struct mtree_node *c = &d->nodes[kids[n]];
        gm_region *w = gm_region_new_alias(
            m->sys, c->name, d->nodes[c->obj].region, 0, c->size, &err);

        if (!w) {
            gm_region_unref(proxy);
            return fail(d, c->line, "an alias the library accepts: %s",
                        err.msg);
        }
        gm_region_add_subregion_overlap(proxy, c->start - t->start, w, c->prio,
                                        NULL);
        gm_region_unref(w); /* freed here when it closed a loop */
    }
    alias = gm_region_new_alias(m->sys, nd->name, proxy, nd->off, nd->size,
                                &err);
    gm_region_unref(proxy);
    if (!alias) {
        return fail(d, nd->line, "an alias the library accepts: %s", err.msg);
    }
    gm_region_unref(nd->region);
    nd->region = alias;
    m->loops++;
    return set_flags(d, nd);
}

/* Higher ranks first: among equal priorities the last added renders first. */
static int cmp_rank_desc(const void *x, const void *y, void *arg)
{
    const struct mtree_dump *d = arg;
    const struct mtree_node *a = &d->nodes[*(const int *)x];
    const struct mtree_node *b = &d->nodes[*(const int *)y];

    return (a->rank < b->rank) - (a->rank > b->rank);
}

/* Add the children of @p so that each priority renders in rank order. */
static int place_children(struct mtree_dump *d, struct machine *m, int p,
                          int *kids)
{
    int n = 0;

    for (int c = p + 1; c < d->nodes[p].end_idx; c = d->nodes[c].end_idx) {
        kids[n++] = c;
    }
    qsort_r(kids, (size_t)n, sizeof(*kids), cmp_rank_desc, d);
    for (int i = 0; i < n; i++) {
        struct mtree_node *c = &d->nodes[kids[i]];
        gm_error err = {0};
        int rc;

        rc = gm_region_add_subregion_overlap(d->nodes[p].region,
                                             c->start - d->nodes[p].start,
                                             d->nodes[c->obj].region, c->prio,
                                             &err);
        if (rc == -ELOOP && c->obj == kids[i] && c->alias) {
            int *more = malloc(((size_t)d->nn + 1) * sizeof(*more));

            rc = more ? fix_loop(d, m, kids[i], more) : oom(d, c->line);
            free(more);
            if (rc < 0) {
                return rc;
            }
            rc = gm_region_add_subregion_overlap(d->nodes[p].region,
                                                 c->start - d->nodes[p].start,
                                                 c->region, c->prio, &err);
        }
        if (rc < 0) {
            return fail(d, c->line, "a placement the library accepts: %s",
                        err.msg);
        }
    }
    return 0;
}

static int build(struct mtree_dump *d, struct machine *m)
{
    gm_error err = {0};
    int *kids;
    int rc = 0;

    for (int i = 0; i < d->nn && !rc; i++) {
        if (d->nodes[i].obj == i && !d->nodes[i].alias) {
            rc = create_plain(d, m->sys, m->memory, &d->nodes[i]);
        }
    }
    if (!rc) {
        rc = create_aliases(d, m->sys);
    }
    for (int i = 0; i < d->nn && !rc; i++) {
        if (d->nodes[i].obj == i) {
            rc = set_flags(d, &d->nodes[i]);
        }
    }
    kids = malloc(((size_t)d->nn + 1) * sizeof(*kids));
    if (!kids && !rc) {
        rc = oom(d, 1);
    }
    for (int i = 0; i < d->nn && !rc; i++) {
        struct mtree_node *nd = &d->nodes[i];

        if (nd->obj != i) {
            continue;
        }
        if (!nd->alias) {
            rc = place_children(d, m, i, kids);
        }
        /*
         * A region in no container keeps the address and priority of its
         * line (its START is its own address; QEMU prints mr->priority).
         */
        if (!rc && nd->parent < 0 &&
            ((nd->start && gm_region_set_address(nd->region, nd->start, &err)) ||
             (nd->prio &&
              gm_region_set_priority(nd->region, nd->prio, &err)))) {
            rc = fail(d, nd->line, "an address and priority the library "
                      "accepts: %s", err.msg);
        }
    }
    free(kids);
    for (int t = 0; t < d->nt && !rc; t++) {
        struct mtree_tree *tr = &d->trees[t];

        for (int a = tr->first_as; a < tr->first_as + tr->nas && !rc; a++) {
            int o = d->nodes[tr->root].obj;

            if (!gm_space_new(m->sys, d->nodes[o].region, d->as_names[a],
                              &err)) {
                rc = fail(d, d->as_lines[a],
                          "an address space the library accepts: %s", err.msg);
            }
        }
    }
    return rc;
}

int mtree_dump_build(struct mtree_dump *d, struct machine *m)
{
    gm_error err = {0};
    int rc = 0;

    m->sys = gm_system_new(&err);
    if (!m->sys) {
        return fail(d, 1, "a new system: %s", err.msg);
    }
    if (!m->memory && gm_system_set_memoryless(m->sys, true, &err) < 0) {
        rc = fail(d, 1, "a memoryless system: %s", err.msg);
    }
    if (!rc) {
        gm_transaction_begin(m->sys);
        rc = build(d, m);
        if (gm_transaction_commit(m->sys, &err) < 0 && !rc) {
            rc = fail(d, 1, "a machine the library can render: %s", err.msg);
        }
    }
    /* Placed regions are held by their parents, targets by their aliases. */
    for (int i = 0; i < d->nn; i++) {
        gm_region_unref(d->nodes[i].region);
        d->nodes[i].region = NULL;
    }
    if (rc) {
        machine_destroy(m);
        return -1;
    }
    return 0;
}

int mtree_import(struct machine *m, const char *label, char *text, size_t len)
{
    struct mtree_dump d = {0};
    int rc;

    /* The caller's buffer has one spare byte for the last line's NUL. */
    rc = mtree_dump_parse(&d, label, text, len);
    if (!rc) {
        rc = mtree_dump_guess(&d);
    }
    if (!rc) {
        rc = mtree_dump_build(&d, m);
    }
    if (!rc) {
        mtree_dump_warn(&d);
    }
    mtree_dump_free(&d);
    return rc ? -1 : 0;
}
