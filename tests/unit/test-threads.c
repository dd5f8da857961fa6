/* SPDX-License-Identifier: MIT */
/*
 * test-threads.c - flat views read concurrently with commits.
 *
 * Reader threads repeatedly take the current flat view of a space, walk it
 * and drop it, while the main thread commits 2000 topology changes (moves,
 * toggles, adds and deletes, some grouped in transactions). Every view a
 * reader sees must be internally consistent: ranges sorted by address,
 * non-overlapping, non-empty, each naming a region, and gm_flatview_lookup
 * agreeing with the walk. Run under ASan and TSan this also checks that a
 * view is never freed while a reader holds it.
 *
 * The threads meet at a start barrier, the readers walk until the writer
 * is done, and the writer keeps changing the topology past its 2000
 * changes until every reader has walked VIEW_SHARE views since the
 * barrier, so readers and commits always overlap whatever the scheduling;
 * nothing depends on timing, and alarm() catches a deadlock.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <guestmem/guestmem.h>

#include "harness.h"

#define NR_READERS 4
#define NR_REGIONS 16
#define NR_CHANGES 2000
#define ROOT_SIZE 0x40000
#define VIEW_SHARE 200 /* views each reader walks while the writer commits */

struct reader {
    pthread_t thread;
    gm_space *as;
    pthread_barrier_t *start;
    atomic_bool *stop;
    atomic_bool quit; /* stopped early on an error */
    atomic_ulong views;
    unsigned long bad;
    char first_error[160];
};

struct walk {
    struct reader *rd;
    const gm_flatview *fv;
    size_t count;
    gm_u128 next; /* end of the previous range */
};

static void reader_error(struct reader *rd, const char *what, uint64_t addr)
{
    if (rd->bad++ == 0) {
        snprintf(rd->first_error, sizeof(rd->first_error), "%s at 0x%" PRIx64,
                 what, addr);
    }
}

static int check_range(const struct gm_section *s, void *opaque)
{
    struct walk *w = opaque;
    struct gm_section found;

    if (w->count && (gm_u128)s->addr < w->next) {
        reader_error(w->rd, "unsorted or overlapping range", s->addr);
    }
    if (s->size == 0) {
        reader_error(w->rd, "empty range", s->addr);
    }
    if (s->region == NULL) {
        reader_error(w->rd, "range without region", s->addr);
    }
    if ((gm_u128)s->addr + s->size > ROOT_SIZE) {
        reader_error(w->rd, "range past the root", s->addr);
    }
    if (!gm_flatview_lookup(w->fv, s->addr, &found) || found.addr != s->addr ||
        found.region != s->region) {
        reader_error(w->rd, "lookup disagrees with walk", s->addr);
    }
    w->next = (gm_u128)s->addr + s->size;
    w->count++;
    return 0;
}

static void *reader_main(void *arg)
{
    struct reader *rd = arg;

    pthread_barrier_wait(rd->start);
    while (!atomic_load_explicit(rd->stop, memory_order_acquire)) {
        gm_flatview *fv = gm_space_get_flatview(rd->as);
        struct walk w = {.rd = rd, .fv = fv};

        if (fv == NULL) {
            reader_error(rd, "NULL view", 0);
            atomic_store(&rd->quit, true);
            break;
        }
        gm_flatview_foreach(fv, check_range, &w);
        if (w.count != gm_flatview_nr_ranges(fv)) {
            reader_error(rd, "nr_ranges disagrees with walk", w.count);
        }
        gm_flatview_unref(fv);
        atomic_fetch_add(&rd->views, 1);
    }
    return NULL;
}

/* Whether every reader walked its share of views (or gave up). */
static bool readers_done(struct reader *rd)
{
    for (int i = 0; i < NR_READERS; i++) {
        if (!atomic_load(&rd[i].quit) &&
            atomic_load(&rd[i].views) < VIEW_SHARE) {
            return false;
        }
    }
    return true;
}

static void test_readers_during_commits(void)
{
    gm_system *sys = gm_system_new(NULL);
    gm_region *root = gm_region_new_container(sys, "root", ROOT_SIZE, NULL);
    gm_space *as = gm_space_new(sys, root, "mem", NULL);
    gm_region *r[NR_REGIONS];
    struct reader rd[NR_READERS];
    pthread_barrier_t start;
    atomic_bool stop = false;
    unsigned changes = 0;
    int failures = 0;

    for (int i = 0; i < NR_REGIONS; i++) {
        char name[16];

        snprintf(name, sizeof(name), "r%d", i);
        r[i] = i % 2 ? gm_region_new_ram(sys, name, 0x2000, NULL)
                     : gm_region_new_io(sys, name, 0x3000, NULL, NULL, NULL);
        CHECK(r[i] != NULL);
        CHECK_EQ_INT(gm_region_add_subregion_overlap(root, (uint64_t)i * 0x4000,
                                                     r[i], i % 3 - 1, NULL),
                     0);
    }
    pthread_barrier_init(&start, NULL, NR_READERS + 1);
    for (int i = 0; i < NR_READERS; i++) {
        memset(&rd[i], 0, sizeof(rd[i]));
        atomic_init(&rd[i].views, 0);
        atomic_init(&rd[i].quit, false);
        rd[i].as = as;
        rd[i].start = &start;
        rd[i].stop = &stop;
        /* A reader that does not start would leave the barrier waiting. */
        if (pthread_create(&rd[i].thread, NULL, reader_main, &rd[i]) != 0) {
            HARNESS_FAIL("pthread_create failed");
            exit(1);
        }
    }
    pthread_barrier_wait(&start);

    /*
     * At least 2000 changes, and more until the readers walked their
     * share; every 50th iteration groups three in a transaction.
     */
    for (unsigned i = 0; changes < NR_CHANGES || !readers_done(rd); i++) {
        gm_region *x = r[i % NR_REGIONS];
        bool txn = i % 50 == 0;
        int ret = 0;

        if (txn) {
            ret |= gm_transaction_begin(sys);
        }
        for (int k = 0; k < (txn ? 3 : 1); k++, changes++) {
            switch ((i + (unsigned)k) % 4) {
            case 0:
                ret |= gm_region_set_address(
                    x,
                    (uint64_t)((i * 7919u) % (ROOT_SIZE / 0x1000 - 3)) * 0x1000,
                    NULL);
                break;
            case 1:
                ret |= gm_region_set_enabled(x, !gm_region_enabled(x), NULL);
                break;
            case 2:
                gm_region_ref(x);
                ret |= gm_region_del_subregion(root, x, NULL);
                ret |= gm_region_add_subregion_overlap(
                    root, (uint64_t)(i % 61) * 0x1000, x, (int)(i % 5) - 2,
                    NULL);
                gm_region_unref(x);
                break;
            default:
                ret |= gm_region_set_readonly(x, !gm_region_readonly(x), NULL);
                break;
            }
        }
        if (txn) {
            ret |= gm_transaction_commit(sys, NULL);
        }
        failures += ret != 0;
    }
    atomic_store_explicit(&stop, true, memory_order_release);

    for (int i = 0; i < NR_READERS; i++) {
        CHECK_EQ_INT(pthread_join(rd[i].thread, NULL), 0);
        if (rd[i].bad) {
            HARNESS_FAIL("reader %d: %lu bad views, first: %s", i, rd[i].bad,
                         rd[i].first_error);
        }
        CHECK(atomic_load(&rd[i].views) >= VIEW_SHARE);
    }
    pthread_barrier_destroy(&start);
    printf("# %u changes\n", changes);
    CHECK_EQ_INT(failures, 0);

    for (int i = 0; i < NR_REGIONS; i++) {
        gm_region_unref(r[i]);
    }
    gm_region_unref(root);
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
}

int main(void)
{
    /* A deadlock must fail the test, not hang it. */
    alarm(100);
    RUN(test_readers_during_commits);
    return harness_done();
}
