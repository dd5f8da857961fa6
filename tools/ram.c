/* SPDX-License-Identifier: MIT */
/*
 * tools/ram.c - `guestmem ram`: the RAM blocks of a machine.
 *
 *   guestmem ram [--json] [FILE]
 *
 * builds the machine with host memory behind its RAM-backed regions (the
 * other commands build it memoryless) and lists its RAM blocks in ram_addr
 * order: offset, used and reserved length, page size, backing with its
 * options, and how many pages each dirty-log client (VGA, CODE, MIGRATION,
 * SNAPSHOT) sees dirty. A board's `ram`, `rom`, `romdev` and `ramdev`
 * regions get the memory their RAM backing options ask for
 * (docs/board-format.md); a QEMU dump's get anonymous memory that reserves
 * nothing, so listing a 64 GiB machine costs only the page tables of what
 * is touched (nothing). Regions of a size the library cannot back (over
 * 8 EiB) are refused with a `FILE:LINE: expected ...` message.
 *
 * The text is an aligned table under a header line, the name last (names
 * are bytes: control characters, `\` and invalid UTF-8 are written as
 * `\xHH`); --json writes the document of docs/ram.md.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* One block, as listed. */
struct row {
    struct gm_ram_block_info info;
    char *path; /* FILE: the file's name as the kernel gives it, or NULL */
    uint64_t dirty[GM_DIRTY_NR];
};

struct rows {
    struct row *v;
    size_t n, cap;
};

static const char *const client_names[GM_DIRTY_NR] = {
    [GM_DIRTY_VGA] = "vga",
    [GM_DIRTY_CODE] = "code",
    [GM_DIRTY_MIGRATION] = "migration",
    [GM_DIRTY_SNAPSHOT] = "snapshot",
};

static const char *backing_name(enum gm_ram_backing b)
{
    switch (b) {
    case GM_RAM_ANON:
        return "anon";
    case GM_RAM_MEMFD:
        return "memfd";
    case GM_RAM_FILE:
        return "file";
    case GM_RAM_PTR:
        return "ptr";
    case GM_RAM_NONE:
        return "none";
    }
    return "unknown";
}

/* The flags, in the order they are listed, with the board's names. */
static const struct {
    unsigned flag;
    const char *name;
} flag_names[] = {
    {GM_RAM_SHARED, "shared"},         {GM_RAM_HUGEPAGE, "hugepages"},
    {GM_RAM_NORESERVE, "noreserve"},   {GM_RAM_PREALLOC, "prealloc"},
    {GM_RAM_RESIZEABLE, "resizeable"}, {GM_RAM_MERGE, "merge"},
    {GM_RAM_NODUMP, "nodump"},         {GM_RAM_NOFORK, "nofork"},
};

#define NR_FLAGS (sizeof(flag_names) / sizeof(flag_names[0]))

/* The name of the file open as @fd (/proc/self/fd), or NULL. */
static char *fd_path(int fd)
{
    char link[64], buf[PATH_MAX + 1];
    ssize_t n;

    if (fd < 0) {
        return NULL;
    }
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    n = readlink(link, buf, sizeof(buf) - 1);
    if (n <= 0) {
        return NULL;
    }
    buf[n] = '\0';
    return strdup(buf);
}

static int collect(const struct gm_ram_block_info *b, void *opaque)
{
    struct rows *rs = opaque;
    struct row *r;

    if (rs->n == rs->cap) {
        size_t ncap = rs->cap ? rs->cap * 2 : 16;
        struct row *nv = realloc(rs->v, ncap * sizeof(*nv));

        if (!nv) {
            return -ENOMEM;
        }
        rs->v = nv;
        rs->cap = ncap;
    }
    r = &rs->v[rs->n++];
    memset(r, 0, sizeof(*r));
    r->info = *b;
    if (b->backing == GM_RAM_FILE) {
        r->path = fd_path(b->fd);
    }
    return 0;
}

/*
 * Text.
 */

/* Length of the valid UTF-8 sequence at @c (not a C1 control), or 0. */
static size_t utf8_len(const unsigned char *c)
{
    uint32_t cp;
    size_t n;

    if (*c < 0xc2 || *c > 0xf4) {
        return 0;
    }
    n = *c >= 0xf0 ? 4 : *c >= 0xe0 ? 3 : 2;
    cp = *c & (*c >= 0xf0 ? 0x07 : *c >= 0xe0 ? 0x0f : 0x1f);
    for (size_t i = 1; i < n; i++) {
        if ((c[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = cp << 6 | (c[i] & 0x3f);
    }
    if ((n == 2 && cp < 0xa0) || (n == 3 && cp < 0x800) ||
        (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0; /* C1 controls, overlong forms, surrogates */
    }
    return n;
}

/*
 * Write @s for the table: valid UTF-8 as it is, other bytes, control
 * characters and `\` (and blanks when @blanks) as `\xHH`.
 */
static void text_escaped(FILE *f, const char *s, bool blanks)
{
    const unsigned char *c = (const unsigned char *)s;

    while (*c) {
        size_t n = utf8_len(c);

        if (n) {
            fwrite(c, 1, n, f);
            c += n;
        } else if (*c < 0x20 || *c >= 0x7f || *c == '\\' ||
                   (blanks && *c == ' ')) {
            fprintf(f, "\\x%02x", *c++);
        } else {
            fputc(*c++, f);
        }
    }
}

/* The BACKING column: `anon`, `file=PATH`, then `,FLAG` for each flag. */
static void text_backing(FILE *f, const struct row *r)
{
    fputs(backing_name(r->info.backing), f);
    if (r->info.backing == GM_RAM_FILE) {
        fputc('=', f);
        text_escaped(f, r->path ? r->path : "?", true);
    }
    for (size_t i = 0; i < NR_FLAGS; i++) {
        if (r->info.flags & flag_names[i].flag) {
            fprintf(f, ",%s", flag_names[i].name);
        }
    }
}

/* Columns: widths of the longest cell, header included. */
enum {
    C_OFFSET,
    C_USED,
    C_MAX,
    C_PAGE,
    C_DIRTY,
    C_BACKING = C_DIRTY + 4,
    C_NR
};

static void write_text(FILE *f, const struct rows *rs)
{
    static const char *const head[C_NR] = {"OFFSET",    "USED",     "MAX",
                                           "PAGE",      "VGA",      "CODE",
                                           "MIGRATION", "SNAPSHOT", "BACKING"};
    int w[C_NR];
    char cell[64];

    for (int c = 0; c < C_NR; c++) {
        w[c] = (int)strlen(head[c]);
    }
    for (size_t i = 0; i < rs->n; i++) {
        const struct row *r = &rs->v[i];
        uint64_t v[C_BACKING] = {r->info.offset,     r->info.used_length,
                                 r->info.max_length, r->info.page_size,
                                 r->dirty[0],        r->dirty[1],
                                 r->dirty[2],        r->dirty[3]};
        char *buf = NULL;
        size_t len = 0;
        FILE *m;

        for (int c = 0; c < C_BACKING; c++) {
            int n = snprintf(cell, sizeof(cell),
                             c < C_PAGE ? "0x%" PRIx64 : "%" PRIu64, v[c]);

            w[c] = n > w[c] ? n : w[c];
        }
        m = open_memstream(&buf, &len);
        if (m) {
            text_backing(m, r);
            fclose(m);
            w[C_BACKING] = (int)len > w[C_BACKING] ? (int)len : w[C_BACKING];
            free(buf);
        }
    }
    for (int c = 0; c < C_NR; c++) {
        /* Numbers to the right, the backing to the left. */
        fprintf(f, c < C_BACKING ? "%*s  " : "%-*s  ", w[c], head[c]);
    }
    fputs("NAME\n", f);
    for (size_t i = 0; i < rs->n; i++) {
        const struct row *r = &rs->v[i];
        uint64_t v[C_BACKING] = {r->info.offset,     r->info.used_length,
                                 r->info.max_length, r->info.page_size,
                                 r->dirty[0],        r->dirty[1],
                                 r->dirty[2],        r->dirty[3]};
        char *buf = NULL;
        size_t len = 0;
        FILE *m;

        for (int c = 0; c < C_BACKING; c++) {
            snprintf(cell, sizeof(cell), c < C_PAGE ? "0x%" PRIx64 : "%" PRIu64,
                     v[c]);
            fprintf(f, "%*s  ", w[c], cell);
        }
        m = open_memstream(&buf, &len);
        if (m) {
            text_backing(m, r);
            fclose(m);
            fprintf(f, "%-*s  ", w[C_BACKING], buf ? buf : "");
            free(buf);
        }
        text_escaped(f, r->info.name ? r->info.name : "", false);
        fputc('\n', f);
    }
}

/*
 * JSON (docs/ram.md; the string conventions of docs/json.md).
 */

/* Whether @s is valid UTF-8 (C1 controls allowed: they are escaped). */
static bool valid_utf8(const char *s)
{
    const unsigned char *c = (const unsigned char *)s;

    while (*c) {
        size_t n;

        if (*c < 0x80) {
            c++;
            continue;
        }
        if (c[0] == 0xc2 && c[1] >= 0x80 && c[1] <= 0x9f) {
            c += 2; /* a C1 control */
            continue;
        }
        n = utf8_len(c);
        if (!n) {
            return false;
        }
        c += n;
    }
    return true;
}

static void json_string(FILE *f, const char *s)
{
    const unsigned char *c = (const unsigned char *)s;

    fputc('"', f);
    while (*c) {
        size_t n;

        if (*c == '"' || *c == '\\') {
            fprintf(f, "\\%c", *c++);
        } else if (*c == '\n') {
            fputs("\\n", f);
            c++;
        } else if (*c == '\t') {
            fputs("\\t", f);
            c++;
        } else if (*c < 0x20 || *c == 0x7f) {
            fprintf(f, "\\u%04x", *c++);
        } else if (*c < 0x80) {
            fputc(*c++, f);
        } else if (c[0] == 0xc2 && c[1] >= 0x80 && c[1] <= 0x9f) {
            fprintf(f, "\\u%04x", c[1]);
            c += 2;
        } else if ((n = utf8_len(c)) != 0) {
            fwrite(c, 1, n, f);
            c += n;
        } else {
            fputs("\\ufffd", f);
            c++;
        }
    }
    fputc('"', f);
}

/* `"KEY": STRING`, and `"KEY_hex": HEX` when STRING is not valid UTF-8. */
static void json_named(FILE *f, const char *key, const char *s)
{
    fprintf(f, "\"%s\": ", key);
    json_string(f, s);
    if (!valid_utf8(s)) {
        fprintf(f, ", \"%s_hex\": \"", key);
        for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
            fprintf(f, "%02x", *c);
        }
        fputc('"', f);
    }
}

static void write_json(FILE *f, const struct rows *rs)
{
    fputs("{\n  \"format\": \"guestmem-ram\",\n  \"version\": 1,\n", f);
    fprintf(f, "  \"generator\": \"guestmem %s\",\n", gm_version_string());
    fputs("  \"ram_blocks\": [", f);
    for (size_t i = 0; i < rs->n; i++) {
        const struct row *r = &rs->v[i];
        bool first = true;

        fputs(i ? ",\n    {" : "\n    {", f);
        json_named(f, "name", r->info.name ? r->info.name : "");
        fprintf(f,
                ", \"offset\": \"0x%" PRIx64 "\", \"used_length\": \"0x%" PRIx64
                "\", \"max_length\": \"0x%" PRIx64 "\", \"page_size\": %zu"
                ", \"backing\": \"%s\"",
                r->info.offset, r->info.used_length, r->info.max_length,
                r->info.page_size, backing_name(r->info.backing));
        if (r->info.backing == GM_RAM_FILE) {
            fputs(", ", f);
            if (r->path) {
                json_named(f, "path", r->path);
            } else {
                fputs("\"path\": null", f);
            }
        }
        fputs(", \"flags\": [", f);
        for (size_t j = 0; j < NR_FLAGS; j++) {
            if (r->info.flags & flag_names[j].flag) {
                fprintf(f, "%s\"%s\"", first ? "" : ", ", flag_names[j].name);
                first = false;
            }
        }
        fputs("], \"dirty\": {", f);
        for (int c = 0; c < GM_DIRTY_NR; c++) {
            fprintf(f, "%s\"%s\": %" PRIu64, c ? ", " : "", client_names[c],
                    r->dirty[c]);
        }
        fputs("}}", f);
    }
    fputs(rs->n ? "\n  ]\n}\n" : "]\n}\n", f);
}

/*
 * The command.
 */

const char cmd_ram_usage[] =
    "usage: guestmem ram [--json] [FILE]\n"
    "       guestmem ram [--json] --builtin\n"
    "\n"
    "Build a machine with host memory behind its RAM, ROM, ROM-device and\n"
    "RAM-device regions and list its RAM blocks in ram_addr order: offset,\n"
    "used and maximum length, page size, backing and its options, and the\n"
    "pages each dirty-log client (VGA, CODE, MIGRATION, SNAPSHOT) sees\n"
    "dirty (a new block starts dirty for all of them).\n"
    "\n"
    "FILE is a QEMU `info mtree` dump or a guestmem board description, as\n"
    "for `guestmem mtree`; `-` is standard input. Without FILE, standard\n"
    "input is read when it is not a terminal; at a terminal, or with\n"
    "--builtin, the built-in PC-like board is used. A board's regions get\n"
    "the memory their options ask for (memfd, file=PATH, share, hugepages,\n"
    "noreserve, prealloc, max=SIZE: see docs/board-format.md); without\n"
    "options, and in a dump, anonymous memory that reserves nothing, so\n"
    "only touched pages cost (none are).\n"
    "\n"
    "Options:\n"
    "      --json           JSON (docs/ram.md) instead of the table\n"
    "      --builtin        the built-in board, whatever standard input "
    "is\n" CLI_USAGE_MAX_SIZE CLI_USAGE_HELP "\n"
    "Exit status:\n"
    "  0  the blocks were listed\n"
    "  1  the output could not be written (or memory ran out)\n"
    "  2  usage error, or the input cannot be read or imported, or its\n"
    "     memory cannot be made (`FILE:LINE: expected ...` on stderr)\n";

enum {
    OPT_JSON = CLI_OPT_FIRST_FREE,
    OPT_BUILTIN,
};

int cmd_ram(const struct cli_command *cmd, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, OPT_JSON},
        {"builtin", no_argument, NULL, OPT_BUILTIN},
        CLI_LONGOPT_MAX_SIZE,
        CLI_LONGOPT_HELP,
        CLI_LONGOPT_END,
    };
    const char *path = NULL;
    struct machine m = {0};
    struct rows rs = {0};
    struct cli_args a;
    bool builtin = false, json = false, implicit = false;
    int c, status = CLI_OK;

    cli_args_init(&a, cmd, argc, argv);
    while ((c = cli_getopt(&a, "h", longopts)) != -1) {
        switch (c) {
        case CLI_STOP:
            return a.status;
        case OPT_JSON:
            json = true;
            break;
        case OPT_BUILTIN:
            builtin = true;
            break;
        default:
            break; /* --max-size, kept in a.in */
        }
    }
    if (argc - optind > 1) {
        return cli_usage_error(&a, "expected one FILE, not %d", argc - optind);
    }
    if (optind < argc) {
        path = argv[optind];
        if (builtin) {
            return cli_usage_error(&a, "expected FILE or --builtin, not "
                                       "both");
        }
    } else if (!builtin && cli_stdin_is_input()) {
        path = "-";
        implicit = true;
    }
    a.in.memory = true;
    if (cli_load(&m, &a.in, path) < 0) {
        if (implicit) {
            fprintf(stderr,
                    "guestmem ram: with no FILE, standard input is read "
                    "when it is not a terminal; --builtin lists the "
                    "built-in board's blocks\n");
        }
        return CLI_USAGE;
    }
    if (gm_system_foreach_ram_block(m.sys, collect, &rs) < 0) {
        fprintf(stderr, "guestmem ram: out of memory\n");
        status = CLI_FAIL;
    }
    for (size_t i = 0; i < rs.n && status == CLI_OK; i++) {
        struct row *r = &rs.v[i];

        for (int cl = 0; cl < GM_DIRTY_NR; cl++) {
            r->dirty[cl] =
                gm_dirty_count(m.sys, r->info.offset, r->info.used_length,
                               (enum gm_dirty_client)cl);
        }
    }
    if (status == CLI_OK) {
        if (json) {
            write_json(stdout, &rs);
        } else {
            write_text(stdout, &rs);
        }
        if (fflush(stdout) == EOF || ferror(stdout)) {
            fprintf(stderr, "guestmem ram: write error: %s\n", strerror(errno));
            status = CLI_FAIL;
        }
    }
    for (size_t i = 0; i < rs.n; i++) {
        free(rs.v[i].path);
    }
    free(rs.v);
    if (machine_destroy(&m) < 0) {
        status = CLI_FAIL;
    }
    return status;
}
