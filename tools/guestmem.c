/* SPDX-License-Identifier: MIT */
/*
 * tools/guestmem.c - the `guestmem` command-line tool: the command table,
 * what the commands share (tools/cli.h: options, input, exit statuses) and
 * the `mtree` command.
 *
 *   guestmem COMMAND [OPTION]... [ARG]...
 *   guestmem help [COMMAND] | --help | --version
 *
 * `guestmem mtree [-f] [-D] [--annotate] [--json] [FILE]` builds a machine
 * from FILE (a QEMU `info mtree` dump or a board description, told apart by
 * their first line; `-` is standard input), from standard input when no
 * FILE is given and standard input is not a terminal, or else from the
 * built-in board, and prints it the way QEMU's `info mtree` does, or as
 * the JSON of docs/json.md. The tool is a client of the public API only.
 *
 * Exit status: 0 on success, 1 when printing fails, 2 for a usage error or
 * an input that cannot be read or imported (with a `LABEL[:LINE]: expected
 * ...` message on stderr). Everything is freed before exit, so the tool
 * runs clean under LeakSanitizer.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "board.h"
#include "cli.h"

/*
 * The command table: `guestmem --help` lists it in this order.
 */
static const struct cli_command commands[] = {
    {"mtree", cmd_mtree,
     "print the memory map as QEMU's `info mtree` does, or as JSON",
     cmd_mtree_usage},
    {"annotate", cmd_annotate,
     "write a plain QEMU dump's annotations, decided from QEMU's flat views",
     cmd_annotate_usage},
    {"map", cmd_map,
     "draw the flat views as an SVG picture or an HTML page",
     cmd_map_usage},
    {"diff", cmd_diff,
     "what a listener would be told between two maps of one machine",
     cmd_diff_usage},
    {"ram", cmd_ram,
     "list the RAM blocks: offsets, lengths, backing, dirty pages",
     cmd_ram_usage},
#ifdef GUESTMEM_HAVE_VMM
    {"run", cmd_run,
     "run a guest on KVM over a board's memory map (a mini VMM)",
     cmd_run_usage},
#endif
};

#define NR_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
    fputs("usage: guestmem COMMAND [OPTION]... [ARG]...\n"
          "       guestmem help [COMMAND]\n"
          "       guestmem --help | --version\n"
          "\n"
          "Read a machine's memory map (a QEMU `info mtree` dump or a\n"
          "guestmem board description) and show it.\n"
          "\n"
          "Commands:\n",
          f);
    for (size_t i = 0; i < NR_COMMANDS; i++) {
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    }
    fputs("\n"
          "`guestmem COMMAND --help` describes a command, its options and\n"
          "its exit statuses; `man guestmem` describes them all.\n"
          "\n"
          "Exit status: 0 on success, 2 for a usage error or an input that\n"
          "cannot be read or imported; 1 means what the command says.\n",
          f);
}

static const struct cli_command *find_command(const char *name)
{
    for (size_t i = 0; i < NR_COMMANDS; i++) {
        if (!strcmp(commands[i].name, name)) {
            return &commands[i];
        }
    }
    return NULL;
}

/*
 * Option parsing.
 */

void cli_args_init(struct cli_args *a, const struct cli_command *cmd,
                   int argc, char **argv)
{
    *a = (struct cli_args){
        .cmd = cmd,
        .argc = argc,
        .argv = argv,
        .in = {.max_size = CLI_MAX_SIZE_DEFAULT},
    };
    optind = 0; /* GNU getopt: start over, from argv[1] */
    opterr = 0; /* cli_getopt() writes the messages */
}

int cli_usage_error(const struct cli_args *a, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "guestmem %s: ", a->cmd->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry `guestmem %s --help`.\n", a->cmd->name);
    return CLI_USAGE;
}

/* SIZE: decimal digits and an optional K, M, G or T (powers of 1024). */
static int parse_size(const char *s, uint64_t *out)
{
    unsigned shift = 0;
    uint64_t v = 0;
    const char *p = s;

    if (*p < '0' || *p > '9') {
        return -1;
    }
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');

        if (v > (UINT64_MAX - d) / 10) {
            return -1;
        }
        v = v * 10 + d;
    }
    switch (*p) {
    case '\0':
        break;
    case 'k':
    case 'K':
        shift = 10;
        break;
    case 'm':
    case 'M':
        shift = 20;
        break;
    case 'g':
    case 'G':
        shift = 30;
        break;
    case 't':
    case 'T':
        shift = 40;
        break;
    default:
        return -1;
    }
    if (*p && p[1]) {
        return -1;
    }
    if (shift && v > (UINT64_MAX >> shift)) {
        return -1;
    }
    *out = v << shift;
    return 0;
}

/* The name of the option that getopt_long() just refused. */
static void refused_option(const struct cli_args *a, char *buf, size_t size)
{
    const char *arg = optind > 0 && optind <= a->argc ? a->argv[optind - 1]
                                                      : "";

    if (optopt > 0 && optopt < 0x100 && strncmp(arg, "--", 2)) {
        snprintf(buf, size, "-%c", optopt);
    } else {
        snprintf(buf, size, "%.*s", (int)strcspn(arg, "="), arg);
    }
}

int cli_getopt(struct cli_args *a, const char *shortopts,
               const struct option *longopts)
{
    char opts[128], name[64];
    int c;

    /* A leading ':' tells a missing argument (':') from an unknown '?'. */
    snprintf(opts, sizeof(opts), ":%s", shortopts);
    c = getopt_long(a->argc, a->argv, opts, longopts, NULL);
    switch (c) {
    case 'h':
        fputs(a->cmd->usage, stdout);
        a->status = fflush(stdout) == 0 && !ferror(stdout) ? CLI_OK
                                                           : CLI_FAIL;
        return CLI_STOP;
    case CLI_OPT_MAX_SIZE:
        if (parse_size(optarg, &a->in.max_size) < 0) {
            a->status = cli_usage_error(a, "--max-size: expected a size "
                                        "such as 4096, 64K or 1G, not "
                                        "`%s`", optarg);
            return CLI_STOP;
        }
        return c;
    case ':':
        refused_option(a, name, sizeof(name));
        a->status = cli_usage_error(a, "option `%s` needs a value", name);
        return CLI_STOP;
    case '?':
        refused_option(a, name, sizeof(name));
        a->status = cli_usage_error(a, "unknown option `%s`", name);
        return CLI_STOP;
    default:
        return c;
    }
}

/*
 * Input.
 */

bool cli_stdin_is_input(void)
{
    return !isatty(STDIN_FILENO);
}

const char *cli_label(const char *path)
{
    return strcmp(path, "-") ? path : "<stdin>";
}

/* "256 MiB", or "1000 bytes" when no unit divides @n. */
static void fmt_size(char *buf, size_t size, uint64_t n)
{
    static const char *const units[] = {"TiB", "GiB", "MiB", "KiB"};

    for (unsigned i = 0; i < 4; i++) {
        unsigned shift = 40 - 10 * i;

        if (n && n % ((uint64_t)1 << shift) == 0) {
            snprintf(buf, size, "%" PRIu64 " %s", n >> shift, units[i]);
            return;
        }
    }
    snprintf(buf, size, "%" PRIu64 " byte%s", n, n == 1 ? "" : "s");
}

static void too_big(const char *label, uint64_t max)
{
    char lim[32];

    fmt_size(lim, sizeof(lim), max);
    fprintf(stderr,
            "%s: expected at most %s of input, the limit "
            "(--max-size=SIZE raises it)\n",
            label, lim);
}

/* Read @fd to its end into a buffer with one spare byte; NULL after a
 * message. */
static char *read_fd(int fd, const char *label, const struct stat *st,
                     uint64_t max, size_t *len)
{
    char *buf = NULL;
    size_t n = 0, cap = 0;
    /* The buffer never needs more than max + 1 bytes and the NUL. */
    size_t cap_max = max >= SIZE_MAX - 2 ? SIZE_MAX : (size_t)max + 2;

    if (S_ISREG(st->st_mode) && st->st_size > 0) {
        cap = (uint64_t)st->st_size < cap_max - 2 ? (size_t)st->st_size + 2
                                                  : cap_max;
        buf = malloc(cap);
        if (!buf) {
            fprintf(stderr, "%s: expected input that fits in memory\n",
                    label);
            return NULL;
        }
    }
    for (;;) {
        ssize_t got;

        if (cap - n < 2) {
            size_t ncap = cap ? cap * 2 : 65536;
            char *nb;

            if (ncap < cap || ncap > cap_max) {
                ncap = cap_max;
            }
            nb = ncap > cap ? realloc(buf, ncap) : NULL;
            if (!nb) {
                fprintf(stderr, "%s: expected input that fits in memory\n",
                        label);
                free(buf);
                return NULL;
            }
            buf = nb;
            cap = ncap;
        }
        got = read(fd, buf + n, cap - n - 1);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got < 0) {
            fprintf(stderr, "%s: expected a readable file: %s\n", label,
                    strerror(errno));
            free(buf);
            return NULL;
        }
        if (got == 0) {
            break;
        }
        n += (size_t)got;
        if (n > max) {
            too_big(label, max);
            free(buf);
            return NULL;
        }
    }
    if (!buf) {
        buf = malloc(1);
        if (!buf) {
            fprintf(stderr, "%s: expected input that fits in memory\n",
                    label);
            return NULL;
        }
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

char *cli_read(const struct cli_input *in, const char *path, size_t *len)
{
    static bool stdin_taken;
    const char *label = cli_label(path);
    uint64_t max = in->max_size ? in->max_size : UINT64_MAX;
    bool is_stdin = !strcmp(path, "-");
    struct stat st;
    char *buf = NULL;
    int fd;

    if (is_stdin) {
        if (stdin_taken) {
            fprintf(stderr, "%s: expected standard input once, not "
                    "twice\n", label);
            return NULL;
        }
        stdin_taken = true;
        fd = STDIN_FILENO;
    } else {
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            fprintf(stderr, "%s: expected a readable file: %s\n", label,
                    strerror(errno));
            return NULL;
        }
    }
    if (fstat(fd, &st) < 0) {
        fprintf(stderr, "%s: expected a readable file: %s\n", label,
                strerror(errno));
    } else if (S_ISDIR(st.st_mode)) {
        fprintf(stderr, "%s: expected a file, not a directory\n", label);
    } else if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > max) {
        too_big(label, max);
    } else {
        buf = read_fd(fd, label, &st, max, len);
    }
    if (!is_stdin) {
        close(fd);
    }
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

int cli_load(struct machine *m, const struct cli_input *in, const char *path)
{
    const char *label = path ? cli_label(path) : "<built-in board>";
    size_t len = 0;
    char *text;
    int rc;

    if (path) {
        text = cli_read(in, path, &len);
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
                "%s:1: expected a QEMU `info mtree` dump or a board "
                "description, not an empty %s\n",
                label, path && !strcmp(path, "-") ? "input" : "file");
        free(text);
        return -1;
    }
    m->memory = in->memory;
    if (mtree_import_detect(text, len)) {
        rc = mtree_import(m, label, text, len);
    } else {
        rc = board_import(m, label, text, len);
    }
    free(text);
    return rc;
}

/*
 * guestmem mtree
 */

const char cmd_mtree_usage[] =
    "usage: guestmem mtree [-f] [-D] [--annotate] [--json] [FILE]\n"
    "       guestmem mtree [-f] [-D] [--annotate] [--json] --builtin\n"
    "\n"
    "Print a machine's memory map as QEMU's `info mtree` does: the region\n"
    "tree of every address space, or with -f the flat views.\n"
    "\n"
    "FILE is a QEMU `info mtree` dump (plain or annotated, LF or CRLF) or\n"
    "a guestmem board description; `-` is standard input. Without FILE,\n"
    "standard input is read when it is not a terminal (a file or a pipe);\n"
    "at a terminal, or with --builtin, a built-in PC-like board is shown.\n"
    "\n"
    "Options:\n"
    "  -f, --flat           the flat views (`info mtree -f`)\n"
    "  -D, --disabled       also the disabled regions (`info mtree -D`)\n"
    "      --annotate       write `container` for regions that do not\n"
    "                       terminate and `rom` for read-only aliases, so\n"
    "                       that the dump imports back exactly (text only)\n"
    "      --json           JSON (docs/json.md): the region trees, or with\n"
    "                       -f the flat views; -D adds disabled regions\n"
    "      --builtin        the built-in board, whatever standard input is\n"
    CLI_USAGE_MAX_SIZE
    CLI_USAGE_HELP
    "\n"
    "Short options combine: -fD is -f -D.\n"
    "\n"
    "Exit status:\n"
    "  0  the map was printed\n"
    "  1  the output could not be written (or memory ran out)\n"
    "  2  usage error, or the input cannot be read or imported\n"
    "     (`FILE:LINE: expected ...` on stderr)\n";

enum {
    OPT_ANNOTATE = CLI_OPT_FIRST_FREE,
    OPT_JSON,
    OPT_BUILTIN,
};

int cmd_mtree(const struct cli_command *cmd, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"flat", no_argument, NULL, 'f'},
        {"disabled", no_argument, NULL, 'D'},
        {"annotate", no_argument, NULL, OPT_ANNOTATE},
        {"json", no_argument, NULL, OPT_JSON},
        {"builtin", no_argument, NULL, OPT_BUILTIN},
        CLI_LONGOPT_MAX_SIZE,
        CLI_LONGOPT_HELP,
        CLI_LONGOPT_END,
    };
    struct cli_args a;
    unsigned flags = 0;
    bool builtin = false, implicit = false;
    const char *path = NULL;
    struct machine m = {0};
    gm_error err = {0};
    int c, status = CLI_OK;

    cli_args_init(&a, cmd, argc, argv);
    while ((c = cli_getopt(&a, "fDh", longopts)) != -1) {
        switch (c) {
        case CLI_STOP:
            return a.status;
        case 'f':
            flags |= GM_MTREE_FLAT;
            break;
        case 'D':
            flags |= GM_MTREE_DISABLED;
            break;
        case OPT_ANNOTATE:
            flags |= GM_MTREE_ANNOTATE;
            break;
        case OPT_JSON:
            flags |= GM_MTREE_JSON;
            break;
        case OPT_BUILTIN:
            builtin = true;
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
        implicit = true;
    }
    if (cli_load(&m, &a.in, path) < 0) {
        if (implicit) {
            fprintf(stderr,
                    "guestmem mtree: with no FILE, standard input is read "
                    "when it is not a terminal; --builtin shows the "
                    "built-in board\n");
        }
        return CLI_USAGE;
    }
    if (gm_mtree_print(m.sys, stdout, flags, &err) < 0) {
        fprintf(stderr, "guestmem mtree: %s\n", err.msg);
        status = CLI_FAIL;
    }
    if (machine_destroy(&m) < 0) {
        status = CLI_FAIL;
    }
    return status;
}

int main(int argc, char **argv)
{
    const struct cli_command *cmd;

    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        return CLI_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("guestmem %s (library %s)\n", GM_VERSION_STRING,
               gm_version_string());
        return CLI_OK;
    }
    if (!strcmp(argv[1], "help")) {
        if (argc == 2) {
            usage(stdout);
            return CLI_OK;
        }
        cmd = find_command(argv[2]);
        if (argc > 3 || !cmd) {
            fprintf(stderr, "guestmem help: expected one of the commands "
                    "of `guestmem --help`\n");
            return CLI_USAGE;
        }
        fputs(cmd->usage, stdout);
        return CLI_OK;
    }
    cmd = find_command(argv[1]);
    if (cmd) {
        return cmd->run(cmd, argc - 1, argv + 1);
    }
    fprintf(stderr, "guestmem: unknown %s `%s`\nTry `guestmem --help`.\n",
            argv[1][0] == '-' ? "option" : "command", argv[1]);
    return CLI_USAGE;
}
