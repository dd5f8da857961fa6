/* SPDX-License-Identifier: MIT */
/*
 * tools/board.c - the board-description format and the built-in board.
 *
 * A board file is a list of statements, one per line; `#` starts a comment,
 * tokens are separated by blanks and a token in double quotes may hold
 * blanks (`\"` and `\\` escape). Statements (docs/board-format.md):
 *
 *   container|ram|rom|io|romdev|ramdev ID SIZE [FLAG...]
 *   alias ID SIZE TARGET OFFSET [FLAG...]
 *   map PARENT ADDR CHILD [prio N]
 *   space NAME ROOT
 *
 * FLAG is disabled, readonly, nonvolatile, romd-off, name=STRING (the
 * region's displayed name; it defaults to ID and need not be unique),
 * dev=TYPE (a device model: board_import_devices() asks its caller to make
 * the region; board_import() makes the usual one) or, on a RAM-backed
 * region, a RAM backing option: memfd, file=PATH, share, hugepages,
 * noreserve, prealloc, max=SIZE (struct gm_ram_opts).
 *
 * Invariants: IDs are unique and declared before use, so a file is read in
 * one pass; every statement maps to one or two public API calls and the
 * whole file is one transaction. Errors name the line and what was
 * expected, and leave nothing behind (the partial system is destroyed).
 * IDs are found through a hash index, so a board costs time linear in its
 * length; nothing here recurses, whatever the nesting. The system is
 * memoryless unless the machine asks for memory (struct machine's
 * @memory, `guestmem ram`): RAM of any size is only described, never
 * allocated, and a file=PATH is never made. The RAM backing options are
 * checked either way.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "board.h"

#define MAX_TOKENS 16

/*
 * struct decl - one declared region.
 * @id: identifier used by later statements (in the text buffer).
 * @line: line of the declaration.
 * @region: the region; the board holds one reference until the end.
 */
struct decl {
    const char *id;
    unsigned line;
    gm_region *region;
};

struct board {
    const char *label;
    struct machine *m;
    const struct board_devices *devs; /* NULL: stubs */
    struct decl *decls;
    size_t n, cap;
    struct mt_index ids;
};

static int fail(struct board *b, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct board *b, unsigned line, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s:%u: expected ", b->label, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return -1;
}

/*
 * Split @s into at most MAX_TOKENS tokens, in place. Returns the count, or
 * -1 with a message.
 */
static int tokenize(struct board *b, unsigned line, char *s, char **tok)
{
    int n = 0;

    for (;;) {
        while (*s == ' ' || *s == '\t') {
            s++;
        }
        if (*s == '\0' || *s == '#') {
            return n;
        }
        if (n == MAX_TOKENS) {
            return fail(b, line, "at most %d tokens on a line", MAX_TOKENS);
        }
        if (*s == '"') {
            char *w = ++s;

            tok[n++] = w;
            while (*s != '"') {
                if (*s == '\0') {
                    return fail(b, line, "a closing double quote");
                }
                if (*s == '\\' && (s[1] == '"' || s[1] == '\\')) {
                    s++;
                }
                *w++ = *s++;
            }
            s++;
            if (*s != '\0' && *s != ' ' && *s != '\t' && *s != '#') {
                return fail(b, line, "a blank after a quoted token");
            }
            *w = '\0';
        } else {
            tok[n++] = s;
            while (*s && *s != ' ' && *s != '\t') {
                s++;
            }
            if (*s) {
                *s++ = '\0';
            }
        }
    }
}

/*
 * A number: decimal or 0x-hex, optionally followed by K, M, G, T, P or E
 * (powers of 1024). The value may not exceed 2^64.
 */
static bool parse_num(const char *s, gm_u128 *out)
{
    gm_u128 v = 0;
    unsigned base = 10;
    int digits = 0;
    static const char suffixes[] = "KMGTPE";
    const char *sfx;

    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    }
    for (; *s; s++, digits++) {
        unsigned d;

        if (*s >= '0' && *s <= '9') {
            d = (unsigned)(*s - '0');
        } else if (base == 16 && *s >= 'a' && *s <= 'f') {
            d = (unsigned)(*s - 'a' + 10);
        } else if (base == 16 && *s >= 'A' && *s <= 'F') {
            d = (unsigned)(*s - 'A' + 10);
        } else {
            break;
        }
        v = v * base + d;
        if (v > GM_SIZE_2_64) {
            return false;
        }
    }
    if (digits == 0) {
        return false;
    }
    if (*s) {
        sfx = strchr(suffixes, *s);
        if (!sfx || s[1] != '\0') {
            return false;
        }
        for (long i = 0; i <= sfx - suffixes; i++) {
            v <<= 10;
            if (v > GM_SIZE_2_64) {
                return false;
            }
        }
    }
    *out = v;
    return true;
}

static bool parse_prio(const char *s, int *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 0);
    if (errno || end == s || *end || v < INT32_MIN || v > INT32_MAX) {
        return false;
    }
    *out = (int)v;
    return true;
}

static struct decl *lookup(struct board *b, const char *id)
{
    for (int i = mt_index_first(&b->ids, mt_hash_str(id)); i >= 0;
         i = mt_index_next(&b->ids, i)) {
        if (!strcmp(b->decls[i].id, id)) {
            return &b->decls[i];
        }
    }
    return NULL;
}

static uint64_t stub_read(void *opaque, uint64_t offset, unsigned size)
{
    return 0;
}

static void stub_write(void *opaque, uint64_t offset, uint64_t data,
                       unsigned size)
{
}

/* Device callbacks for a board without devices: reads 0, writes ignored. */
static const struct gm_region_ops stub_ops = {
    .read = stub_read,
    .write = stub_write,
};

/*
 * Flags parsed from the tail of a declaration. @ram: a RAM backing option
 * was given (@memfd .. @max), all of which go into the block's
 * struct gm_ram_opts.
 */
struct flags {
    bool disabled, readonly, nonvolatile, romd_off;
    const char *name;
    const char *dev;
    bool ram, memfd, share, hugepages, noreserve, prealloc, has_max;
    const char *file;
    gm_u128 max;
};

static int parse_flags(struct board *b, unsigned line, char **tok, int n,
                       struct flags *f)
{
    memset(f, 0, sizeof(*f));
    for (int i = 0; i < n; i++) {
        bool ram = true;

        if (!strcmp(tok[i], "disabled")) {
            f->disabled = true;
            ram = false;
        } else if (!strcmp(tok[i], "readonly")) {
            f->readonly = true;
            ram = false;
        } else if (!strcmp(tok[i], "nonvolatile")) {
            f->nonvolatile = true;
            ram = false;
        } else if (!strcmp(tok[i], "romd-off")) {
            f->romd_off = true;
            ram = false;
        } else if (!strncmp(tok[i], "name=", 5)) {
            f->name = tok[i] + 5;
            ram = false;
        } else if (!strncmp(tok[i], "dev=", 4) && tok[i][4]) {
            f->dev = tok[i] + 4;
            ram = false;
        } else if (!strcmp(tok[i], "memfd")) {
            f->memfd = true;
        } else if (!strncmp(tok[i], "file=", 5)) {
            if (f->file) {
                return fail(b, line, "one file=PATH, not two");
            }
            if (tok[i][5] == '\0') {
                return fail(b, line, "a PATH after file=");
            }
            f->file = tok[i] + 5;
        } else if (!strcmp(tok[i], "share")) {
            f->share = true;
        } else if (!strcmp(tok[i], "hugepages")) {
            f->hugepages = true;
        } else if (!strcmp(tok[i], "noreserve")) {
            f->noreserve = true;
        } else if (!strcmp(tok[i], "prealloc")) {
            f->prealloc = true;
        } else if (!strncmp(tok[i], "max=", 4)) {
            if (f->has_max) {
                return fail(b, line, "one max=SIZE, not two");
            }
            if (!parse_num(tok[i] + 4, &f->max)) {
                return fail(b, line,
                            "a max=SIZE (decimal or 0x hex, optional "
                            "K/M/G/T/P/E suffix), not `%s`",
                            tok[i]);
            }
            f->has_max = true;
        } else {
            return fail(b, line,
                        "a flag (disabled, readonly, nonvolatile, "
                        "romd-off, name=STRING, dev=TYPE, memfd, file=PATH, "
                        "share, hugepages, noreserve, prealloc, max=SIZE), "
                        "not "
                        "`%s`",
                        tok[i]);
        }
        f->ram |= ram;
    }
    return 0;
}

/*
 * Check the RAM backing options of a @kind region of @size bytes: they
 * are checked whether or not the system has memory, so a board that
 * `guestmem mtree` accepts is one `guestmem ram` can build, up to what
 * the host refuses (a file that cannot be made, no huge pages).
 */
static int check_ram_flags(struct board *b, unsigned line, const char *kind,
                           gm_u128 size, const struct flags *f)
{
    if (!f->ram) {
        return 0;
    }
    if (strcmp(kind, "ram") && strcmp(kind, "rom") &&
        strcmp(kind, "romdev") && strcmp(kind, "ramdev")) {
        return fail(b, line,
                    "RAM backing options (memfd, file=PATH, share, "
                    "hugepages, noreserve, prealloc, max=SIZE) only on "
                    "ram, rom, romdev and ramdev, not on `%s`",
                    kind);
    }
    if (f->memfd && f->file) {
        return fail(b, line, "memfd or file=PATH, not both");
    }
    if (f->share && !f->file) {
        return fail(b, line,
                    "share only with file=PATH (anonymous memory is "
                    "private, memfd memory always shared)");
    }
    if (f->hugepages && f->file) {
        return fail(b, line,
                    "hugepages only with anonymous or memfd memory (a "
                    "file=PATH on hugetlbfs has huge pages already)");
    }
    if (f->prealloc && f->noreserve) {
        return fail(b, line,
                    "prealloc or noreserve, not both (memory cannot be "
                    "both allocated now and left unreserved)");
    }
    if (size > ((gm_u128)1 << 61)) {
        return fail(b, line,
                    "a SIZE of at most 2E (the most a RAM block may have) "
                    "for a region with RAM backing options");
    }
    if (f->has_max && (f->max < size || f->max > ((gm_u128)1 << 61))) {
        return fail(b, line,
                    "a max=SIZE from the region's SIZE up to 2E (the most "
                    "a resizeable block may grow to)");
    }
    return 0;
}

/*
 * The block options of a RAM-backed region (a system with memory): those
 * of the flags, or without any, anonymous memory that reserves nothing
 * (what gm_region_new_ram() makes), so a large board costs only what is
 * touched.
 */
static void ram_opts(const struct flags *f, gm_u128 size,
                     struct gm_ram_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->backing = f->memfd ? GM_RAM_MEMFD : f->file ? GM_RAM_FILE : GM_RAM_ANON;
    o->path = f->file;
    o->flags = (f->share ? GM_RAM_SHARED : 0) |
               (f->hugepages ? GM_RAM_HUGEPAGE : 0) |
               (f->noreserve ? GM_RAM_NORESERVE : 0) |
               (f->prealloc ? GM_RAM_PREALLOC : 0);
    if (!f->ram) {
        o->flags = GM_RAM_NORESERVE;
    }
    if (f->has_max) {
        o->flags |= GM_RAM_RESIZEABLE;
        o->max_length = (uint64_t)f->max;
    }
    /* A page for what is too small for a 2 MiB huge page. */
    o->align = size >= (2u << 20) ? 0 : 4096;
}

/* A RAM-backed region of @kind with host memory made as @f says. */
static gm_region *new_ram(struct board *b, const char *kind,
                          const char *name, gm_u128 size,
                          const struct flags *f, gm_error *err)
{
    static const struct {
        const char *kind;
        enum gm_region_kind k;
    } kinds[] = {
        {"ram", GM_REGION_RAM},
        {"rom", GM_REGION_ROM},
        {"romdev", GM_REGION_ROM_DEVICE},
        {"ramdev", GM_REGION_RAM_DEVICE},
    };
    enum gm_region_kind k = GM_REGION_RAM;
    struct gm_ram_opts o;

    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (!strcmp(kind, kinds[i].kind)) {
            k = kinds[i].k;
        }
    }
    ram_opts(f, size, &o);
    return gm_region_new_ram_opts(b->m->sys, name, k, (uint64_t)size, &o,
                                  k == GM_REGION_ROM_DEVICE ? &stub_ops
                                                            : NULL,
                                  NULL, err);
}

/* container|ram|rom|io|romdev|ramdev|alias ID SIZE ... */
static int declare(struct board *b, unsigned line, char **tok, int n)
{
    const char *kind = tok[0];
    bool alias = !strcmp(kind, "alias");
    int nfixed = alias ? 5 : 3;
    gm_system *sys = b->m->sys;
    struct decl *prev, *target = NULL;
    gm_error err = {0};
    gm_region *r = NULL;
    struct flags f;
    gm_u128 size, off = 0;
    const char *name;
    bool ram;

    if (n < nfixed) {
        return fail(b, line,
                    alias ? "`alias ID SIZE TARGET OFFSET [FLAG...]`"
                          : "`%s ID SIZE [FLAG...]`",
                    kind);
    }
    prev = lookup(b, tok[1]);
    if (prev) {
        return fail(b, line, "a new ID (`%s` was declared on line %u)", tok[1],
                    prev->line);
    }
    if (!parse_num(tok[2], &size)) {
        return fail(b, line,
                    "a SIZE (decimal or 0x hex, optional K/M/G/T/"
                    "P/E suffix, at most 16E), not `%s`",
                    tok[2]);
    }
    if (alias) {
        target = lookup(b, tok[3]);
        if (!target) {
            return fail(b, line, "a declared alias TARGET, not `%s`", tok[3]);
        }
        if (!parse_num(tok[4], &off) || off >= GM_SIZE_2_64) {
            return fail(b, line, "an alias OFFSET below 2^64, not `%s`",
                        tok[4]);
        }
    }
    if (parse_flags(b, line, tok + nfixed, n - nfixed, &f) < 0) {
        return -1;
    }
    if (f.romd_off && strcmp(kind, "romdev")) {
        return fail(b, line, "romd-off only on a romdev");
    }
    if (check_ram_flags(b, line, kind, size, &f) < 0) {
        return -1;
    }
    name = f.name ? f.name : tok[1];
    ram = !strcmp(kind, "ram") || !strcmp(kind, "rom") ||
          !strcmp(kind, "romdev") || !strcmp(kind, "ramdev");
    if (ram && b->m->memory && size > ((gm_u128)1 << 63)) {
        return fail(b, line,
                    "a RAM SIZE of at most 8E in a machine with memory, "
                    "not `%s`",
                    tok[2]);
    }
    if (f.dev && alias) {
        return fail(b, line, "dev=TYPE on a region, not on an alias");
    }
    if (f.dev && b->devs) {
        r = b->devs->create(b->devs->opaque, sys, kind, f.dev, name, size,
                            &err);
        if (!r) {
            return fail(b, line, "a device the program knows: %s", err.msg);
        }
    } else if (ram && b->m->memory) {
        r = new_ram(b, kind, name, size, &f, &err);
    } else if (!strcmp(kind, "container")) {
        r = gm_region_new_container(sys, name, size, &err);
    } else if (!strcmp(kind, "ram")) {
        r = gm_region_new_ram(sys, name, size, &err);
    } else if (!strcmp(kind, "rom")) {
        r = gm_region_new_rom(sys, name, size, &err);
    } else if (!strcmp(kind, "io")) {
        r = gm_region_new_io(sys, name, size, &stub_ops, NULL, &err);
    } else if (!strcmp(kind, "romdev")) {
        r = gm_region_new_rom_device(sys, name, size, &stub_ops, NULL, &err);
    } else if (!strcmp(kind, "ramdev")) {
        r = gm_region_new_ram_device(sys, name, size, NULL, &err);
    } else {
        r = gm_region_new_alias(sys, name, target->region, (uint64_t)off, size,
                                &err);
    }
    if (!r) {
        return fail(b, line, "a region the library accepts: %s%s", err.msg,
                    ram && b->m->memory && f.hugepages
                        ? " (hugepages: the host must have huge pages to "
                          "give, see /proc/sys/vm/nr_hugepages and "
                          "/sys/kernel/mm/transparent_hugepage/enabled)"
                        : "");
    }
    if (b->n == b->cap) {
        size_t ncap = b->cap ? b->cap * 2 : 32;
        struct decl *nd = realloc(b->decls, ncap * sizeof(*nd));

        if (!nd) {
            gm_region_unref(r);
            return fail(b, line, "memory for the declaration");
        }
        b->decls = nd;
        b->cap = ncap;
    }
    if (mt_index_add(&b->ids, (int)b->n, mt_hash_str(tok[1])) < 0) {
        gm_region_unref(r);
        return fail(b, line, "memory for the declaration");
    }
    b->decls[b->n++] = (struct decl){.id = tok[1], .line = line, .region = r};
    if ((f.disabled && gm_region_set_enabled(r, false, &err) < 0) ||
        (f.readonly && gm_region_set_readonly(r, true, &err) < 0) ||
        (f.nonvolatile && gm_region_set_nonvolatile(r, true, &err) < 0) ||
        (f.romd_off && gm_region_set_romd(r, false, &err) < 0)) {
        return fail(b, line, "flags the library accepts: %s", err.msg);
    }
    return 0;
}

/* map PARENT ADDR CHILD [prio N] */
static int map(struct board *b, unsigned line, char **tok, int n)
{
    struct decl *parent, *child;
    gm_error err = {0};
    gm_u128 addr;
    int prio = 0, rc;

    if (n != 4 && !(n == 6 && !strcmp(tok[4], "prio"))) {
        return fail(b, line, "`map PARENT ADDR CHILD [prio N]`");
    }
    parent = lookup(b, tok[1]);
    if (!parent) {
        return fail(b, line, "a declared PARENT, not `%s`", tok[1]);
    }
    if (!parse_num(tok[2], &addr) || addr >= GM_SIZE_2_64) {
        return fail(b, line, "an ADDR below 2^64, not `%s`", tok[2]);
    }
    child = lookup(b, tok[3]);
    if (!child) {
        return fail(b, line, "a declared CHILD, not `%s`", tok[3]);
    }
    if (n == 6 && !parse_prio(tok[5], &prio)) {
        return fail(b, line, "a 32-bit priority after `prio`, not `%s`",
                    tok[5]);
    }
    if (n == 6) {
        rc = gm_region_add_subregion_overlap(parent->region, (uint64_t)addr,
                                             child->region, prio, &err);
    } else {
        rc = gm_region_add_subregion(parent->region, (uint64_t)addr,
                                     child->region, &err);
    }
    if (rc < 0) {
        return fail(b, line, "a placement the library accepts: %s", err.msg);
    }
    return 0;
}

/* space NAME ROOT */
static int space(struct board *b, unsigned line, char **tok, int n)
{
    struct decl *root;
    gm_error err = {0};

    if (n != 3) {
        return fail(b, line, "`space NAME ROOT`");
    }
    root = lookup(b, tok[2]);
    if (!root) {
        return fail(b, line, "a declared ROOT, not `%s`", tok[2]);
    }
    if (!gm_space_new(b->m->sys, root->region, tok[1], &err)) {
        return fail(b, line, "an address space the library accepts: %s",
                    err.msg);
    }
    return 0;
}

static int statement(struct board *b, unsigned line, char *s, int *nspaces)
{
    static const char *const kinds[] = {"container", "ram",    "rom",  "io",
                                        "romdev",    "ramdev", "alias"};
    char *tok[MAX_TOKENS];
    int n = tokenize(b, line, s, tok);

    if (n <= 0) {
        return n;
    }
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (!strcmp(tok[0], kinds[i])) {
            return declare(b, line, tok, n);
        }
    }
    if (!strcmp(tok[0], "map")) {
        return map(b, line, tok, n);
    }
    if (!strcmp(tok[0], "space")) {
        ++*nspaces;
        return space(b, line, tok, n);
    }
    return fail(b, line,
                "a statement (container, ram, rom, io, romdev, "
                "ramdev, alias, map, space), not `%s`",
                tok[0]);
}

int board_import(struct machine *m, const char *label, char *text, size_t len)
{
    return board_import_devices(m, label, text, len, NULL);
}

int board_import_devices(struct machine *m, const char *label, char *text,
                         size_t len, const struct board_devices *devs)
{
    struct board b = {.label = label, .m = m, .devs = devs};
    gm_error err = {0};
    char *p = text, *end = text + len;
    unsigned line = 0;
    int rc = 0, nspaces = 0;

    m->sys = gm_system_new(&err);
    if (!m->sys) {
        return fail(&b, 1, "a new system: %s", err.msg);
    }
    if (devs && devs->memory) {
        m->memory = true;
    }
    if (!m->memory && gm_system_set_memoryless(m->sys, true, &err) < 0) {
        fail(&b, 1, "a memoryless system: %s", err.msg);
        machine_destroy(m);
        return -1;
    }
    gm_transaction_begin(m->sys);
    while (p < end && !rc) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *s = p;
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

        p = nl ? nl + 1 : end;
        line++;
        if (memchr(s, '\0', n)) {
            rc = fail(&b, line, "text, not a NUL byte");
            break;
        }
        s[n] = '\0';
        if (n && s[n - 1] == '\r') {
            s[n - 1] = '\0';
        }
        rc = statement(&b, line, s, &nspaces);
    }
    if (!rc && nspaces == 0) {
        rc = fail(&b, line ? line : 1, "at least one `space NAME ROOT`");
    }
    if (gm_transaction_commit(m->sys, &err) < 0 && !rc) {
        rc = fail(&b, line, "a machine the library can render: %s", err.msg);
    }
    for (size_t i = 0; i < b.n; i++) {
        gm_region_unref(b.decls[i].region);
    }
    free(b.decls);
    mt_index_free(&b.ids);
    if (rc) {
        machine_destroy(m);
        return -1;
    }
    return 0;
}

/*
 * The built-in board: an i440FX-style PC with 1 GiB of RAM. The SMRAM
 * window at 0xa0000 shows VGA to the CPU and RAM in SMM; the BIOS area
 * 0xc0000-0xfffff is read from PCI (pam-pci) while the shadow RAM alias
 * (pam-ram) is disabled; one bus master is enabled (it shares the
 * CPU's flat view), the other is not (no rendered view).
 */
static const char default_board[] =
    "# guestmem default board: a small PC-like machine (i440FX style)\n"
    "\n"
    "# System memory: RAM below and above 4 GiB through aliases.\n"
    "container system        16E\n"
    "ram       pc.ram        1G\n"
    "alias     ram-below-4g  768M  pc.ram 0\n"
    "alias     ram-above-4g  256M  pc.ram 0x30000000\n"
    "ram       nvdimm0       16M   nonvolatile\n"
    "io        ioapic        4K\n"
    "io        hpet          1K\n"
    "io        apic-msi      1M\n"
    "\n"
    "# The PCI hole: everything the host bridge forwards to PCI.\n"
    "container pci           16E\n"
    "io        vga-lowmem    128K\n"
    "rom       pc.rom        128K\n"
    "rom       pc.bios       256K\n"
    "alias     isa-bios      128K  pc.bios 0x20000\n"
    "romdev    pflash0       2M\n"
    "ramdev    vfio-bar0     16K\n"
    "io        e1000-mmio    128K\n"
    "\n"
    "# SMRAM: the legacy VGA window shows PCI, or RAM in SMM.\n"
    "alias     smram-region  128K  pci 0xa0000\n"
    "container smram         4G\n"
    "alias     smram-low     128K  pc.ram 0xa0000\n"
    "\n"
    "# PAM: the BIOS area is read from PCI until firmware shadows it.\n"
    "alias     pam-pci       256K  pci    0xc0000\n"
    "alias     pam-ram       256K  pc.ram 0xc0000  disabled\n"
    "container smm-root      16E   name=memory\n"
    "alias     smram-alias   4G    smram  0        name=smram\n"
    "alias     smm-system    16E   system 0        name=memory\n"
    "\n"
    "map system 0            ram-below-4g\n"
    "map system 0x100000000  ram-above-4g\n"
    "map system 0x140000000  nvdimm0\n"
    "map system 0            pci           prio -1\n"
    "map system 0xa0000      smram-region  prio 1\n"
    "map system 0xc0000      pam-ram       prio 1\n"
    "map system 0xc0000      pam-pci       prio 1\n"
    "map system 0xfec00000   ioapic\n"
    "map system 0xfed00000   hpet\n"
    "map system 0xfee00000   apic-msi      prio 4096\n"
    "map pci    0xa0000      vga-lowmem    prio 1\n"
    "map pci    0xc0000      pc.rom        prio 1\n"
    "map pci    0xe0000      isa-bios      prio 1\n"
    "map pci    0xfe000000   vfio-bar0     prio 1\n"
    "map pci    0xfebc0000   e1000-mmio    prio 1\n"
    "map pci    0xffc00000   pflash0\n"
    "map pci    0xfffc0000   pc.bios\n"
    "map smram  0xa0000      smram-low\n"
    "map smm-root 0          smram-alias   prio 1\n"
    "map smm-root 0          smm-system    prio 0\n"
    "\n"
    "# Port I/O: the root terminates, so unclaimed ports read as `io`.\n"
    "io        io            64K\n"
    "io        dma-chan      8\n"
    "io        pic           2\n"
    "io        pit           4\n"
    "io        i8042-data    1\n"
    "io        rtc           2\n"
    "io        rtc-index     1\n"
    "io        serial0       8     name=serial\n"
    "io        pci-conf-idx  4\n"
    "io        pci-reset     1     name=piix3-reset-control\n"
    "io        pci-conf-data 4\n"
    "map io    0x0           dma-chan\n"
    "map io    0x20          pic\n"
    "map io    0x40          pit\n"
    "map io    0x60          i8042-data\n"
    "map io    0x70          rtc\n"
    "map rtc   0x0           rtc-index\n"
    "map io    0x3f8         serial0\n"
    "map io    0xcf8         pci-conf-idx\n"
    "map io    0xcf9         pci-reset     prio 1\n"
    "map io    0xcfc         pci-conf-data\n"
    "\n"
    "# Bus masters: the NIC's is on, the VGA's is off.\n"
    "container nic-bm        16E   \"name=bus master container\"\n"
    "alias     nic-bm-alias  16E   system 0  \"name=bus master\"\n"
    "container vga-bm        16E   \"name=bus master container\"\n"
    "alias     vga-bm-alias  16E   system 0  \"name=bus master\" disabled\n"
    "map nic-bm 0            nic-bm-alias\n"
    "map vga-bm 0            vga-bm-alias\n"
    "\n"
    "space memory            system\n"
    "space cpu-memory-0      system\n"
    "space cpu-smm-0         smm-root\n"
    "space I/O               io\n"
    "space e1000             nic-bm\n"
    "space VGA               vga-bm\n";

const char *board_default_text(void)
{
    return default_board;
}
