/* SPDX-License-Identifier: MIT */
/*
 * tools/guestmem.c - the `guestmem` command-line tool.
 *
 *   guestmem mtree [-f] [-D] [--annotate] [--json] [FILE]
 *
 * builds a machine from FILE (a QEMU `info mtree -D` dump or a board
 * description, told apart by their first line) or from the built-in board,
 * and prints it the way QEMU's `info mtree` does. The tool is a client of
 * the public API only.
 *
 * Exit status: 0 on success, 1 when printing fails, 2 for a usage error or
 * a file that cannot be read or imported (with a `FILE:LINE: expected ...`
 * message on stderr). Everything is freed before exit, so the tool runs
 * clean under LeakSanitizer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "board.h"
#include "cli.h"
#include "diff.h"
#include "map.h"
#include "mtree-import.h"

static void usage(FILE *f)
{
    fputs("usage: guestmem mtree [-f] [-D] [--annotate] [--json] [FILE]\n"
          "       guestmem map [--svg | --html] [FILE]\n"
          "       guestmem diff [--json] OLD NEW\n"
          "       guestmem --help | --version\n"
          "\n"
          "Print the memory map of a machine as QEMU's `info mtree` does.\n"
          "FILE is a QEMU `info mtree -D` dump (optionally annotated) or a\n"
          "guestmem board description (docs/board-format.md); without FILE\n"
          "a built-in PC-like board is used.\n"
          "\n"
          "  -f          flat views (`info mtree -f`)\n"
          "  -D          show disabled regions\n"
          "  --annotate  write `container` for regions that do not terminate\n"
          "              and `rom` for read-only aliases (re-importable)\n"
          "  --json      JSON with the trees and the flat views\n",
          f);
}

/*
 * Read @path whole, with one spare byte after the data. Returns the buffer
 * (caller frees) or NULL after a message.
 */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0;

    if (!f) {
        fprintf(stderr, "%s: expected a readable file: %s\n", path,
                strerror(errno));
        return NULL;
    }
    for (;;) {
        if (cap - n < 4096 + 1) {
            size_t ncap = cap ? cap * 2 : 65536;
            char *nb = realloc(buf, ncap);

            if (!nb) {
                fprintf(stderr, "%s: expected a file that fits in memory\n",
                        path);
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);

        n += got;
        if (got == 0) {
            break;
        }
    }
    if (ferror(f)) {
        fprintf(stderr, "%s: expected a readable file: read error\n", path);
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static bool blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') {
            return false;
        }
    }
    return true;
}

/* Build @m from @path, or from the built-in board when @path is NULL. */
static int load(struct machine *m, const char *path)
{
    const char *label = path ? path : "<default board>";
    size_t len;
    char *text;
    int rc;

    if (path) {
        text = read_file(path, &len);
    } else {
        len = strlen(board_default_text());
        text = malloc(len + 1);
        if (text) {
            memcpy(text, board_default_text(), len + 1);
        } else {
            fprintf(stderr, "%s: expected memory\n", label);
        }
    }
    if (!text) {
        return -1;
    }
    if (blank(text, len)) {
        fprintf(stderr,
                "%s:1: expected a QEMU `info mtree -D` dump or a "
                "board description, not an empty file\n",
                label);
        free(text);
        return -1;
    }
    if (mtree_import_detect(text, len)) {
        rc = mtree_import(m, label, text, len);
    } else {
        rc = board_import(m, label, text, len);
    }
    free(text);
    return rc;
}

int load_machine(const char *path, struct machine *m)
{
    return load(m, path);
}

static int cmd_mtree(int argc, char **argv)
{
    unsigned flags = 0;
    const char *path = NULL;
    struct machine m = {0};
    gm_error err = {0};
    int rc, status = 0;
    bool opts = true;

    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];

        if (opts && !strcmp(a, "--")) {
            opts = false;
        } else if (opts && !strcmp(a, "-f")) {
            flags |= GM_MTREE_FLAT;
        } else if (opts && !strcmp(a, "-D")) {
            flags |= GM_MTREE_DISABLED;
        } else if (opts && !strcmp(a, "--annotate")) {
            flags |= GM_MTREE_ANNOTATE;
        } else if (opts && !strcmp(a, "--json")) {
            flags |= GM_MTREE_JSON;
        } else if (opts && (!strcmp(a, "-h") || !strcmp(a, "--help"))) {
            usage(stdout);
            return 0;
        } else if (opts && a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "guestmem: unknown option `%s`\n", a);
            usage(stderr);
            return 2;
        } else if (!path) {
            path = a;
        } else {
            fprintf(stderr, "guestmem: more than one FILE\n");
            usage(stderr);
            return 2;
        }
    }
    if (load(&m, path) < 0) {
        return 2;
    }
    rc = gm_mtree_print(m.sys, stdout, flags, &err);
    if (rc < 0) {
        fprintf(stderr, "guestmem: %s\n", err.msg);
        status = 1;
    }
    if (machine_destroy(&m) < 0) {
        status = 1;
    }
    return status;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("guestmem %s (library %s)\n", GM_VERSION_STRING,
               gm_version_string());
        return 0;
    }
    if (!strcmp(argv[1], "mtree")) {
        return cmd_mtree(argc - 2, argv + 2);
    }
    if (!strcmp(argv[1], "map")) {
        return cmd_map(argc - 2, argv + 2);
    }
    if (!strcmp(argv[1], "diff")) {
        return cmd_diff(argc - 2, argv + 2);
    }
    fprintf(stderr, "guestmem: unknown command `%s`\n", argv[1]);
    usage(stderr);
    return 2;
}
