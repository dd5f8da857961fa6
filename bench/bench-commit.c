/* SPDX-License-Identifier: MIT */
/*
 * bench/bench-commit.c - how much a topology commit costs.
 *
 * A machine model builds its memory map one region at a time, and each
 * gm_region_add_subregion() outside a transaction is its own commit: the
 * address space is re-rendered (at least the window that changed), the new
 * flat view is published and listeners are told the difference. If a
 * commit cost grew with the size of the whole map, building a map of N
 * regions would cost O(N^2); an incremental commit keeps it near O(N log N).
 *
 * Measurements, each repeated and reported as the median:
 *   (a) add N I/O regions (NULL ops, 4 KiB, one every 8 KiB so the view
 *       alternates ranges and holes) to a 2^64 root container, one commit
 *       each, for N = 100, 1,000 and 10,000; the growth ratio
 *       t(10,000) / t(1,000) is 10 for a perfectly linear build. N = 20,000
 *       is added to tell a cache step (10,000 regions outgrow a 2 MiB L2,
 *       1,000 do not) from a growing per-commit cost;
 *   (b) in the 10,000-region map, toggle one region's enabled flag: every
 *       toggle is one commit that removes or restores a single range;
 *   (c) the same with a listener registered, counting its callbacks;
 *   (d) a baseline from the same run: qsort() of a shuffled 10,000-entry
 *       array, about what a full re-render of the map must at least pay.
 *       The ratio (b) / (d) varies less between machines than (b) alone.
 *
 * Only the public API is used. Targets are printed next to the figures;
 * with --strict the program exits 1 when one is missed (timings on shared
 * machines are noisy, so by default a miss is only reported). --quick runs
 * one repetition with fewer toggles, as a smoke test.
 */
#include <guestmem/guestmem.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_NAME "bench-commit"
#include "bench-util.h"

#define REGION_SIZE 0x1000u   /* bytes per I/O region */
#define REGION_STRIDE 0x2000u /* distance between regions: leaves holes */
#define BIG_N 10000u          /* regions in the map that (b)-(d) use */
#define MAX_REPEATS 9         /* upper bound of --repeats */
#define SORT_N 10000u         /* entries of the qsort baseline */

/* Targets. */
#define TARGET_ADD_10K_S 0.3  /* 10,000 adds, seconds in total */
#define TARGET_GROWTH 12.0    /* t(10,000) / t(1,000), at most */
#define TARGET_COMMIT_US 20.0 /* one toggle commit, microseconds */

/* Settings from the command line. */
struct bench_opts {
    int repeats;          /* measurements per figure, median reported */
    long toggle_commits;  /* commits per toggle measurement (even) */
    double toggle_budget; /* seconds one toggle measurement may take */
    int strict;           /* exit 1 when a target is missed */
};

/* One address space holding n I/O regions under a 2^64 container. */
struct bench_map {
    gm_system *sys;
    gm_region *root;
    gm_space *as;
    gm_region **regions; /* n references owned by the map */
    size_t n;
};

/* Callback counts of the listener in (c). */
struct bench_counts {
    unsigned long begin;
    unsigned long commit;
    unsigned long add;
    unsigned long del;
    unsigned long nop;
    unsigned long other;
};

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return (x > y) - (x < y);
}

static void map_free(struct bench_map *m)
{
    gm_error err;
    int rc;

    gm_error_clear(&err);
    if (m->regions) {
        for (size_t i = 0; i < m->n; i++) {
            gm_region_unref(m->regions[i]);
        }
        free(m->regions);
    }
    if (m->as) {
        rc = gm_space_destroy(m->as, &err);
        if (rc) {
            fail("gm_space_destroy", rc, &err);
        }
    }
    gm_region_unref(m->root);
    rc = gm_system_destroy(m->sys, &err);
    if (rc) {
        fail("gm_system_destroy", rc, &err);
    }
    memset(m, 0, sizeof(*m));
}

/*
 * map_build() - create a space with n regions, one commit per region.
 * @elapsed: set to the seconds the n gm_region_add_subregion() calls took
 *           (creating the region objects is not counted).
 * Return: 0, or -1 after printing what failed (the map is then freed).
 */
static int map_build(struct bench_map *m, size_t n, double *elapsed)
{
    gm_error err;
    char name[32];
    double t0;
    size_t nr;
    int rc;

    memset(m, 0, sizeof(*m));
    gm_error_clear(&err);
    m->sys = gm_system_new(&err);
    if (!m->sys) {
        fail("gm_system_new", err.code, &err);
        return -1;
    }
    m->root = gm_region_new_container(m->sys, "system", GM_SIZE_2_64, &err);
    if (!m->root) {
        fail("gm_region_new_container", err.code, &err);
        goto fail;
    }
    m->as = gm_space_new(m->sys, m->root, "memory", &err);
    if (!m->as) {
        fail("gm_space_new", err.code, &err);
        goto fail;
    }
    m->regions = calloc(n, sizeof(*m->regions));
    if (!m->regions) {
        fprintf(stderr, "bench-commit: out of memory\n");
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "dev%zu", i);
        m->regions[i] =
            gm_region_new_io(m->sys, name, REGION_SIZE, NULL, NULL, &err);
        if (!m->regions[i]) {
            fail("gm_region_new_io", err.code, &err);
            goto fail;
        }
        m->n = i + 1;
    }

    t0 = now_s();
    for (size_t i = 0; i < n; i++) {
        rc = gm_region_add_subregion(m->root, (uint64_t)i * REGION_STRIDE,
                                     m->regions[i], &err);
        if (rc) {
            fail("gm_region_add_subregion", rc, &err);
            goto fail;
        }
    }
    *elapsed = now_s() - t0;

    /* Every region is its own range: holes keep them apart. */
    gm_flatview *fv = gm_space_get_flatview(m->as);
    nr = gm_flatview_nr_ranges(fv);
    gm_flatview_unref(fv);
    if (nr != n) {
        fprintf(stderr, "bench-commit: %zu regions gave %zu ranges\n", n, nr);
        goto fail;
    }
    return 0;

fail:
    map_free(m);
    return -1;
}

/*
 * toggle() - flip @r's enabled flag @commits times (even: it ends enabled).
 * Return: 0 and *@elapsed in seconds, or -1 after printing the error.
 */
static int toggle(gm_region *r, long commits, double *elapsed)
{
    gm_error err;
    double t0;
    int rc;

    gm_error_clear(&err);
    t0 = now_s();
    for (long k = 0; k < commits; k++) {
        rc = gm_region_set_enabled(r, k % 2 != 0, &err);
        if (rc) {
            fail("gm_region_set_enabled", rc, &err);
            return -1;
        }
    }
    *elapsed = now_s() - t0;
    return 0;
}

/*
 * toggle_median_us() - median cost of one toggle commit in microseconds.
 * @commits: in: wanted commits per measurement; out: the number used, which
 *           is lowered so that a measurement stays within the time budget.
 */
static int toggle_median_us(gm_region *r, const struct bench_opts *o,
                            long *commits, double *us)
{
    double t[MAX_REPEATS], probe;
    long want = o->toggle_commits;

    if (toggle(r, 100, &probe)) {
        return -1;
    }
    if (probe > 0 && probe / 100 * (double)want > o->toggle_budget) {
        want = (long)(o->toggle_budget / (probe / 100));
    }
    want &= ~1L;
    if (want < 100) {
        want = 100;
    }
    for (int i = 0; i < o->repeats; i++) {
        if (toggle(r, want, &t[i])) {
            return -1;
        }
        t[i] = t[i] / (double)want * 1e6;
    }
    *commits = want;
    *us = median(t, o->repeats);
    return 0;
}

static void count_begin(void *opaque)
{
    ((struct bench_counts *)opaque)->begin++;
}

static void count_commit(void *opaque)
{
    ((struct bench_counts *)opaque)->commit++;
}

static void count_add(void *opaque, const struct gm_section *s)
{
    ((struct bench_counts *)opaque)->add++;
}

static void count_del(void *opaque, const struct gm_section *s)
{
    ((struct bench_counts *)opaque)->del++;
}

static void count_nop(void *opaque, const struct gm_section *s)
{
    ((struct bench_counts *)opaque)->nop++;
}

static void count_log(void *opaque, const struct gm_section *s,
                      unsigned old_mask, unsigned new_mask)
{
    ((struct bench_counts *)opaque)->other++;
}

static const struct gm_listener_ops count_ops = {
    .begin = count_begin,
    .commit = count_commit,
    .region_add = count_add,
    .region_del = count_del,
    .region_nop = count_nop,
    .log_start = count_log,
    .log_stop = count_log,
};

/*
 * qsort_median_us() - median time of sorting a copy of a shuffled
 * SORT_N-entry array, in microseconds per sort.
 */
static int qsort_median_us(const struct bench_opts *o, double *us)
{
    uint64_t *base = malloc(SORT_N * sizeof(*base));
    uint64_t *work = malloc(SORT_N * sizeof(*work));
    uint64_t state = 0x9e3779b97f4a7c15ull;
    double t[MAX_REPEATS], t0;
    const int iters = 200;

    if (!base || !work) {
        free(base);
        free(work);
        fprintf(stderr, "bench-commit: out of memory\n");
        return -1;
    }
    for (size_t i = 0; i < SORT_N; i++) {
        base[i] = (uint64_t)i * REGION_STRIDE;
    }
    for (size_t i = SORT_N - 1; i > 0; i--) {
        size_t j = (size_t)(next_rand(&state) % (i + 1));
        uint64_t tmp = base[i];

        base[i] = base[j];
        base[j] = tmp;
    }
    for (int r = 0; r < o->repeats; r++) {
        t0 = now_s();
        for (int k = 0; k < iters; k++) {
            memcpy(work, base, SORT_N * sizeof(*work));
            qsort(work, SORT_N, sizeof(*work), cmp_u64);
        }
        t[r] = (now_s() - t0) / iters * 1e6;
        if (work[0] != 0 ||
            work[SORT_N - 1] != (SORT_N - 1) * (uint64_t)REGION_STRIDE) {
            fprintf(stderr, "bench-commit: qsort baseline is wrong\n");
            free(base);
            free(work);
            return -1;
        }
    }
    free(base);
    free(work);
    *us = median(t, o->repeats);
    return 0;
}

static void row(const char *what, const char *value, const char *target, int ok)
{
    printf("| %-38s | %14s | %-10s | %-4s |\n", what, value, target,
           ok < 0 ? ""
           : ok   ? "ok"
                  : "MISS");
}

static int parse_args(int argc, char **argv, struct bench_opts *o)
{
    int rc;

    o->repeats = 7;
    o->toggle_commits = 20000;
    o->toggle_budget = 2.0;
    o->strict = 0;
    rc = bench_parse(argc, argv, MAX_REPEATS, &o->repeats, &o->strict);
    if (rc == 1) {
        o->toggle_commits = 2000;
        o->toggle_budget = 0.5;
    }
    return rc < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
    static const size_t sizes[] = {100, 1000, BIG_N, 2 * BIG_N};
    static const char *const labels[] = {"100", "1,000", "10,000", "20,000"};
    double add_s[4], t[MAX_REPEATS];
    double plain_us, listen_us, sort_us;
    long plain_commits, listen_commits;
    struct bench_counts counts = {0};
    struct bench_opts o;
    struct bench_map m;
    gm_listener *l;
    gm_error err;
    char buf[64];
    int missed = 0;
    int ok, rc;

    if (parse_args(argc, argv, &o)) {
        return 2;
    }
    gm_error_clear(&err);

    /*
     * (a) building maps of 100, 1,000 and 10,000 regions; 20,000 shows
     * whether the growth from 1,000 to 10,000 continues.
     */
    for (int s = 0; s < 4; s++) {
        for (int r = 0; r < o.repeats; r++) {
            if (map_build(&m, sizes[s], &t[r])) {
                return 1;
            }
            map_free(&m);
        }
        add_s[s] = median(t, o.repeats);
    }

    /* (b) toggling one region in the 10,000-region map. */
    if (map_build(&m, BIG_N, &t[0])) {
        return 1;
    }
    gm_region *victim = m.regions[BIG_N / 2];
    if (toggle_median_us(victim, &o, &plain_commits, &plain_us)) {
        map_free(&m);
        return 1;
    }

    /* (c) the same with a counting listener. */
    l = gm_listener_register(m.sys, &count_ops, &counts, 0, NULL, &err);
    if (!l) {
        fail("gm_listener_register", err.code, &err);
        map_free(&m);
        return 1;
    }
    memset(&counts, 0, sizeof(counts));
    if (toggle_median_us(victim, &o, &listen_commits, &listen_us)) {
        gm_listener_unregister(l, NULL);
        map_free(&m);
        return 1;
    }
    /* Every commit of (c): 100 probe commits plus the repetitions. */
    unsigned long nr_commits =
        100 + (unsigned long)listen_commits * (unsigned long)o.repeats;
    struct bench_counts seen = counts; /* unregistering replays deletions */
    rc = gm_listener_unregister(l, &err);
    if (rc) {
        fail("gm_listener_unregister", rc, &err);
    }
    map_free(&m);

    /* (d) the qsort baseline. */
    if (qsort_median_us(&o, &sort_us)) {
        return 1;
    }

    printf("guestmem %s commit benchmark: median of %d run%s\n\n",
           gm_version_string(), o.repeats, o.repeats == 1 ? "" : "s");
    printf("| %-38s | %14s | %-10s | %-4s |\n", "measurement", "value",
           "target", "");
    printf("|%s|%s|%s|%s|\n", "----------------------------------------",
           "---------------:", "------------", "------");
    for (int s = 0; s < 4; s++) {
        char what[64];

        snprintf(what, sizeof(what), "(a) add %s regions, 1 commit each",
                 labels[s]);
        snprintf(buf, sizeof(buf), "%.4f s", add_s[s]);
        if (sizes[s] == BIG_N) {
            ok = add_s[s] < TARGET_ADD_10K_S;
            missed |= !ok;
            row(what, buf, "< 0.3 s", ok);
        } else {
            row(what, buf, "", -1);
        }
    }
    snprintf(buf, sizeof(buf), "%.2f us", add_s[1] / 1000 * 1e6);
    row("    mean per add at 1,000", buf, "", -1);
    snprintf(buf, sizeof(buf), "%.2f us", add_s[2] / BIG_N * 1e6);
    row("    mean per add at 10,000", buf, "", -1);
    double growth = add_s[1] > 0 ? add_s[2] / add_s[1] : 0;
    snprintf(buf, sizeof(buf), "%.2f", growth);
    ok = growth <= TARGET_GROWTH;
    missed |= !ok;
    row("(a) t(10,000) / t(1,000)", buf, "<= 12", ok);
    snprintf(buf, sizeof(buf), "%.2f", add_s[2] > 0 ? add_s[3] / add_s[2] : 0);
    row("    t(20,000) / t(10,000), linear: 2", buf, "", -1);

    snprintf(buf, sizeof(buf), "%.2f us", plain_us);
    ok = plain_us < TARGET_COMMIT_US;
    missed |= !ok;
    row("(b) toggle commit, 10,000 regions", buf, "< 20 us", ok);
    snprintf(buf, sizeof(buf), "%ld", plain_commits);
    row("    commits per run", buf, "", -1);

    snprintf(buf, sizeof(buf), "%.2f us", listen_us);
    row("(c) toggle commit with a listener", buf, "", -1);
    snprintf(buf, sizeof(buf), "%.2f",
             (double)(seen.add + seen.del + seen.nop + seen.other) /
                 (double)nr_commits);
    row("    range callbacks per commit", buf, "", -1);
    snprintf(buf, sizeof(buf), "%.2f/%.2f/%.2f",
             (double)seen.add / (double)nr_commits,
             (double)seen.del / (double)nr_commits,
             (double)seen.nop / (double)nr_commits);
    row("    add/del/nop per commit", buf, "", -1);

    snprintf(buf, sizeof(buf), "%.2f us", sort_us);
    row("(d) qsort of 10,000 entries", buf, "", -1);
    snprintf(buf, sizeof(buf), "%.4f", sort_us > 0 ? plain_us / sort_us : 0);
    row("    (b) / (d)", buf, "", -1);

    if (seen.begin != nr_commits || seen.commit != nr_commits) {
        printf("\nnote: listener saw %lu begin / %lu commit for %lu "
               "commits\n",
               seen.begin, seen.commit, nr_commits);
    }
    if (missed) {
        printf("\nsome targets were missed%s\n",
               o.strict ? "" : " (not fatal without --strict)");
    }
    return missed && o.strict ? 1 : 0;
}
