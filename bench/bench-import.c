/* SPDX-License-Identifier: MIT */
/*
 * bench/bench-import.c - whether the importers stay linear.
 *
 * `guestmem mtree FILE` must read any dump or board in time proportional
 * to its size: a dump importer that compared every alias with every
 * section, or a board importer that scanned its IDs for every statement,
 * would turn 200,000 regions into hours. Three inputs are generated in
 * memory at N = 20,000 and N = 200,000 regions and imported through the
 * same code as the CLI (tools/mtree-import.c, tools/board.c), rendering
 * included (the import commits one transaction), then destroyed:
 *
 *   flat    an annotated `info mtree -D` dump: N MMIO regions side by
 *           side in one 2^64 container;
 *   alias   N/2 RAM aliases in that container, each onto its own
 *           `memory-region:` section holding one RAM region (N regions,
 *           N/2 sections to resolve by name);
 *   deep    a board of N containers, each nested in the previous one, and
 *           one address space over the outermost.
 *
 * For each, t(200,000) / t(20,000) is printed with its target (<= 15; 10
 * is linear). t is the CPU time of the process (user and system), which a
 * loaded machine does not inflate the way it does wall time; the wall
 * times are printed too. Every run is made in a fresh child process, as
 * the CLI imports once per process: in one long process the 20,000-region
 * runs would reuse a warm heap and caches that the 200,000-region runs
 * outgrow, and the ratio would measure the cache instead of the code. Times are medians of --repeats runs; with
 * --strict a missed target makes the exit status 1. --quick uses N =
 * 2,000 and 20,000 and one run, as a smoke test under the sanitizers.
 */
#include <guestmem/guestmem.h>

#include <inttypes.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BENCH_NAME "bench-import"
#include "bench-util.h"

#include "board.h"
#include "mtree-import.h"

#define MAX_REPEATS 9
#define TARGET_RATIO 15.0 /* t(10 N) / t(N), at most */

/* A growing text buffer. */
struct text {
    char *s;
    size_t n, cap;
};

static int put(struct text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int put(struct text *t, const char *fmt, ...)
{
    va_list ap;
    int len;

    for (;;) {
        va_start(ap, fmt);
        len = vsnprintf(t->s + t->n, t->cap - t->n, fmt, ap);
        va_end(ap);
        if (len < 0) {
            return -1;
        }
        if ((size_t)len < t->cap - t->n) {
            t->n += (size_t)len;
            return 0;
        }
        size_t ncap = t->cap ? t->cap * 2 : 1 << 20;
        char *ns = realloc(t->s, ncap);

        if (!ns) {
            return -1;
        }
        t->s = ns;
        t->cap = ncap;
    }
}

static int gen_flat(struct text *t, size_t n)
{
    int rc = put(t, "address-space: memory\n  0000000000000000-"
                    "ffffffffffffffff (prio 0, container): system\n");

    for (size_t i = 0; i < n && !rc; i++) {
        rc = put(t, "    %016" PRIx64 "-%016" PRIx64 " (prio 0, i/o): dev%zu\n",
                 (uint64_t)i << 12, ((uint64_t)i << 12) + 0xfff, i);
    }
    return rc ? rc : put(t, "\n");
}

static int gen_alias(struct text *t, size_t n)
{
    int rc = put(t, "address-space: memory\n  0000000000000000-"
                    "ffffffffffffffff (prio 0, container): system\n");

    for (size_t i = 0; i < n / 2 && !rc; i++) {
        rc = put(t,
                 "    %016" PRIx64 "-%016" PRIx64 " (prio 0, ram): alias a%zu "
                 "@ram%zu 0000000000000000-0000000000000fff\n",
                 (uint64_t)i << 12, ((uint64_t)i << 12) + 0xfff, i, i);
    }
    rc = rc ? rc : put(t, "\n");
    for (size_t i = 0; i < n / 2 && !rc; i++) {
        rc = put(t,
                 "memory-region: ram%zu\n  0000000000000000-0000000000000fff "
                 "(prio 0, ram): ram%zu\n\n",
                 i, i);
    }
    return rc;
}

static int gen_deep(struct text *t, size_t n)
{
    int rc = 0;

    for (size_t i = 0; i < n && !rc; i++) {
        rc = put(t, "container c%zu 16E\n", i);
    }
    for (size_t i = 0; i + 1 < n && !rc; i++) {
        rc = put(t, "map c%zu 0 c%zu\n", i, i + 1);
    }
    return rc ? rc : put(t, "space memory c0\n");
}

struct workload {
    const char *name;
    int (*gen)(struct text *, size_t);
    bool board;
};

static double cpu_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/*
 * Import @t once (from a copy: importers cut lines in place); CPU and wall
 * seconds.
 */
static int run_once(const struct workload *w, const struct text *t,
                    double *cpu, double *wall)
{
    char *copy = malloc(t->n + 1);
    struct machine m = {0};
    double t0, c0;
    int rc;

    if (!copy) {
        fprintf(stderr, BENCH_NAME ": out of memory\n");
        return -1;
    }
    memcpy(copy, t->s, t->n + 1);
    t0 = now_s();
    c0 = cpu_s();
    rc = w->board ? board_import(&m, w->name, copy, t->n)
                  : mtree_import(&m, w->name, copy, t->n);
    if (rc == 0) {
        rc = machine_destroy(&m);
    }
    *cpu = cpu_s() - c0;
    *wall = now_s() - t0;
    free(copy);
    if (rc) {
        fprintf(stderr, BENCH_NAME ": importing %s failed\n", w->name);
    }
    return rc ? -1 : 0;
}

/* One run in a fresh child process: generate, import, report the times. */
static int run_child(const struct workload *w, size_t n, double *cpu,
                     double *wall)
{
    double times[2];
    int fd[2], status;
    pid_t pid;
    ssize_t got;

    if (pipe(fd) < 0) {
        perror(BENCH_NAME ": pipe");
        return -1;
    }
    fflush(stdout);
    pid = fork();
    if (pid < 0) {
        perror(BENCH_NAME ": fork");
        close(fd[0]);
        close(fd[1]);
        return -1;
    }
    if (pid == 0) {
        struct text t = {0};
        int rc;

        close(fd[0]);
        rc = w->gen(&t, n);
        if (rc < 0) {
            fprintf(stderr, BENCH_NAME ": out of memory\n");
        } else {
            rc = run_once(w, &t, &times[0], &times[1]);
        }
        free(t.s);
        if (rc == 0 && write(fd[1], times, sizeof(times)) != sizeof(times)) {
            rc = -1;
        }
        close(fd[1]);
        _exit(rc ? 1 : 0);
    }
    close(fd[1]);
    got = read(fd[0], times, sizeof(times));
    close(fd[0]);
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0 || got != sizeof(times)) {
        fprintf(stderr, BENCH_NAME ": the %s run failed\n", w->name);
        return -1;
    }
    *cpu = times[0];
    *wall = times[1];
    return 0;
}

static int measure(const struct workload *w, size_t n, int repeats,
                   double *cpu, double *wall)
{
    double v[MAX_REPEATS], u[MAX_REPEATS];

    for (int r = 0; r < repeats; r++) {
        if (run_child(w, n, &v[r], &u[r]) < 0) {
            return -1;
        }
    }
    *cpu = median(v, repeats);
    *wall = median(u, repeats);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct workload loads[] = {
        {"flat dump", gen_flat, false},
        {"alias dump", gen_alias, false},
        {"deep board", gen_deep, true},
    };
    int repeats = 3, strict = 0, quick, missed = 0;
    size_t small = 20000, big = 200000;

    quick = bench_parse(argc, argv, MAX_REPEATS, &repeats, &strict);
    if (quick < 0) {
        return 2;
    }
    if (quick) {
        small = 2000;
        big = 20000;
    }
    printf("guestmem %s import benchmark: median of %d run%s, CPU time "
           "(wall time)\n\n",
           gm_version_string(), repeats, repeats == 1 ? "" : "s");
    printf("| %-10s | %-20s | %-20s | %6s | %-6s | %-4s |\n", "input",
           quick ? "t(2,000)" : "t(20,000)", quick ? "t(20,000)" : "t(200,000)",
           "ratio", "target", "");
    printf("|------------|----------------------|----------------------|"
           "-------:|--------|------|\n");
    for (size_t i = 0; i < sizeof(loads) / sizeof(loads[0]); i++) {
        double ts, tb, ws, wb, ratio;
        char a[32], b[32];
        bool ok;

        if (measure(&loads[i], small, repeats, &ts, &ws) < 0 ||
            measure(&loads[i], big, repeats, &tb, &wb) < 0) {
            return 1;
        }
        ratio = ts > 0 ? tb / ts : 0;
        ok = ratio <= TARGET_RATIO;
        missed |= !ok;
        snprintf(a, sizeof(a), "%.3f s (%.3f s)", ts, ws);
        snprintf(b, sizeof(b), "%.3f s (%.3f s)", tb, wb);
        printf("| %-10s | %20s | %20s | %6.2f | <= %-3.0f | %-4s |\n",
               loads[i].name, a, b, ratio, TARGET_RATIO, ok ? "ok" : "MISS");
    }
    if (missed) {
        printf("\nsome targets were missed%s\n",
               strict ? "" : " (not fatal without --strict)");
    }
    return missed && strict ? 1 : 0;
}
