/* SPDX-License-Identifier: MIT */
/*
 * tools/cli.h - what the commands of the `guestmem` tool share: the row of
 * the command table, option parsing with getopt_long(3), the exit
 * statuses, and reading input into a machine.
 *
 * Adding a command takes a function and a usage text in a file of its own,
 * their declarations below, and one row in the table of tools/guestmem.c:
 *
 *   {"NAME", cmd_NAME, "one-line summary", cmd_NAME_usage},
 *
 * The function parses its options with cli_getopt() (which handles
 * -h/--help from the row's usage text and --max-size for every command
 * that lists CLI_LONGOPT_MAX_SIZE), loads its input with cli_load() or
 * cli_read(), and returns the exit status.
 */
#ifndef GUESTMEM_TOOLS_CLI_H
#define GUESTMEM_TOOLS_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mtree-import.h"

/*
 * Exit statuses. Every command uses 0 for success and 2 for a usage error
 * or an input that cannot be read or imported; 1 is the command's own
 * (mtree: the output could not be written; a comparison: different).
 */
enum {
    CLI_OK = 0,
    CLI_FAIL = 1,
    CLI_USAGE = 2,
};

struct cli_command;

/*
 * cli_run_fn - a command. @argv[0] is the command's name, @argv[1..] its
 * arguments. Returns the exit status.
 */
typedef int cli_run_fn(const struct cli_command *cmd, int argc, char **argv);

/*
 * struct cli_command - one row of the command table.
 * @name: the command word (`guestmem NAME`).
 * @run: the command.
 * @summary: one line for `guestmem --help`, lowercase, no final period.
 * @usage: the whole text of `guestmem NAME --help`: a `usage:` line,
 *         what the command does, its options and its exit statuses.
 */
struct cli_command {
    const char *name;
    cli_run_fn *run;
    const char *summary;
    const char *usage;
};

/* The default input limit, 256 MiB (--max-size=SIZE changes it). */
#define CLI_MAX_SIZE_DEFAULT ((uint64_t)256 << 20)

/*
 * struct cli_input - how a command reads its input.
 * @max_size: the most bytes one input may have; 0: no limit.
 * @memory: build the machine with host memory behind its RAM-backed
 *          regions (RAM blocks), as the board's RAM backing options say
 *          (a dump's RAM: anonymous memory that reserves nothing). False
 *          (the default): a memoryless system, in which a map of any size
 *          costs nothing and no file=PATH is made; the options are
 *          checked all the same.
 */
struct cli_input {
    uint64_t max_size;
    bool memory;
};

/* getopt_long() values of the shared long options. */
enum {
    CLI_OPT_MAX_SIZE = 0x100,
    CLI_OPT_FIRST_FREE = 0x110, /* commands number their own from here */
};

/* Rows for a command's struct option table (-h goes in its shortopts). */
#define CLI_LONGOPT_HELP {"help", no_argument, NULL, 'h'}
#define CLI_LONGOPT_MAX_SIZE {"max-size", required_argument, NULL,        \
                              CLI_OPT_MAX_SIZE}
#define CLI_LONGOPT_END {NULL, 0, NULL, 0}

/* The usage lines of the shared options, for the commands' usage texts. */
#define CLI_USAGE_MAX_SIZE                                                 \
    "      --max-size=SIZE  refuse an input over SIZE bytes (default 256M;\n" \
    "                       suffixes K, M, G, T: powers of 1024; 0: no\n"  \
    "                       limit)\n"
#define CLI_USAGE_HELP                                                     \
    "  -h, --help           print this help and exit\n"

/*
 * struct cli_args - a command's arguments being parsed.
 * @cmd: the command (its name and usage text for messages and --help).
 * @argc, @argv: as given to the command (@argv[0] is its name).
 * @in: the shared input options, with their defaults.
 * @status: the exit status to return after cli_getopt() gave CLI_STOP.
 */
struct cli_args {
    const struct cli_command *cmd;
    int argc;
    char **argv;
    struct cli_input in;
    int status;
};

/* cli_getopt(): the command must return a->status now. */
#define CLI_STOP (-2)

/**
 * cli_args_init() - start parsing a command's arguments.
 * @a: filled.
 * @cmd, @argc, @argv: as given to the command.
 */
void cli_args_init(struct cli_args *a, const struct cli_command *cmd,
                   int argc, char **argv);

/**
 * cli_getopt() - the next option, as getopt_long(3) gives it.
 * @a: the arguments.
 * @shortopts: the command's short options, "h" included, without a
 *             leading '+' or ':' (GNU order: options may follow operands;
 *             `--` ends them; combined short options such as -fD work).
 * @longopts: the command's long options, ending with CLI_LONGOPT_END.
 *
 * -h/--help prints the command's usage on stdout; an unknown option, a
 * missing or bad argument prints a message and a hint on stderr; both
 * return CLI_STOP with the exit status in @a->status (0 or CLI_USAGE).
 * --max-size is parsed into @a->in.
 *
 * Return: the option's value; -1 when the options are over (the operands
 * are @a->argv[optind .. @a->argc - 1]); or CLI_STOP.
 */
int cli_getopt(struct cli_args *a, const char *shortopts,
               const struct option *longopts);

/**
 * cli_usage_error() - report a usage error of the command.
 * @a: the arguments.
 * @fmt: printf format of the message.
 *
 * Prints `guestmem NAME: MESSAGE` and a `--help` hint on stderr.
 * Return: CLI_USAGE.
 */
int cli_usage_error(const struct cli_args *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/**
 * cli_stdin_is_input() - whether a command that reads one optional FILE
 * reads standard input when FILE is not given: when standard input is not
 * a terminal (a file or a pipe was given to it). At a terminal it does
 * not wait for typed input; the command uses its default instead.
 */
bool cli_stdin_is_input(void);

/**
 * cli_read() - read a whole input.
 * @in: the limits.
 * @path: a file name, or "-" for standard input (which can be read only
 *        once per run).
 * @len: set to the number of bytes read.
 *
 * Refuses a directory, an input over @in->max_size bytes (before reading a
 * regular file, after max_size + 1 bytes of a stream) and anything that
 * cannot be opened or read, with `PATH: expected ...` on stderr
 * (`<stdin>` for standard input).
 * Return: the bytes, followed by a NUL that @len does not count (caller
 * frees), or NULL after a message.
 */
char *cli_read(const struct cli_input *in, const char *path, size_t *len);

/* The name of @path in messages: `<stdin>` for "-". */
const char *cli_label(const char *path);

/**
 * cli_load() - build a machine from an input.
 * @m: zeroed machine; filled on success (machine_destroy() it).
 * @in: the limits.
 * @path: a QEMU `info mtree` dump or a board description (told apart by
 *        their first line), "-" for standard input, or NULL for the
 *        built-in board.
 * The system is memoryless unless @in->memory.
 * Return: 0, or -1 after a `LABEL[:LINE]: expected ...` message.
 */
int cli_load(struct machine *m, const struct cli_input *in, const char *path);

/*
 * The commands, each in a file of its own (mtree in guestmem.c).
 */
int cmd_mtree(const struct cli_command *cmd, int argc, char **argv);
extern const char cmd_mtree_usage[];
/* `guestmem annotate DUMP [QEMU_FLAT]` (tools/annotate.c). */
int cmd_annotate(const struct cli_command *cmd, int argc, char **argv);
extern const char cmd_annotate_usage[];
/* `guestmem map [--svg | --html] [FILE]` (tools/map.c). */
int cmd_map(const struct cli_command *cmd, int argc, char **argv);
extern const char cmd_map_usage[];
/* `guestmem diff [--json] OLD NEW` (tools/diff.c). */
int cmd_diff(const struct cli_command *cmd, int argc, char **argv);
extern const char cmd_diff_usage[];
/* `guestmem ram [--json] [FILE]` (tools/ram.c). */
int cmd_ram(const struct cli_command *cmd, int argc, char **argv);
extern const char cmd_ram_usage[];
#ifdef GUESTMEM_HAVE_VMM
/* `guestmem run [--vcpus N] [--guest FILE] [BOARD]` (tools/vmm/run.c). */
int cmd_run(const struct cli_command *cmd, int argc, char **argv);
extern const char cmd_run_usage[];
#endif

#endif
