/* SPDX-License-Identifier: MIT */
/*
 * test-concurrency.c - readers against a committing writer.
 *
 * Four threads load, read across ranges, load through access caches (moved
 * to another page now and then) and DMA-map guest memory as fast as they
 * can while the main thread makes at least 10,000 commits that add, move
 * and remove RAM regions. Every region is filled with its own byte value,
 * so a value read must be one some committed view could give: eight equal
 * bytes of a region's value (OK), or a decode error with the value the
 * space gives for unassigned reads (a hole), read once before the threads
 * start. Run under ThreadSanitizer in `make check` (suite "concurrency")
 * and under ASan like every test: no race, no use-after-free, no leak.
 *
 * A second test runs the same readers in bus-master spaces whose root is an
 * alias of system memory that the writer keeps enabling and disabling:
 * each switch moves a space between view states (and its caches between
 * them) while its reader uses it.
 *
 * A third test has an MMIO callback commit on one thread while another
 * thread commits in a loop: no deadlock between the writer lock and the
 * grace periods the writer waits for.
 *
 * No outcome depends on timing. The threads meet at a start barrier, the
 * readers read until the writer is done, and the writer keeps committing
 * past its quota until every reader has done its share of accesses after
 * the barrier: on a loaded machine the writer may finish its quota before
 * a reader is even scheduled, and the overlap the test is about would then
 * not happen. A deadlock is caught by alarm().
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include <guestmem/guestmem.h>

#include "harness.h"

enum { NREG = 32, NREADERS = 4, COMMITS = 10000 };

/*
 * Accesses each reader makes while the writer commits (counted from the
 * start barrier), and committing MMIO reads the second test waits for.
 */
enum { READER_SHARE = 2000, MMIO_READS = 1000 };

struct shared {
    gm_space *as;
    gm_space *own[NREADERS]; /* a reader's own space, if any */
    uint64_t hole; /* what a load of an unassigned address gives */
    pthread_barrier_t start;
    atomic_int stop;
    atomic_long accesses;
    atomic_long bad;
    atomic_long maps;
    atomic_long cached;
    atomic_int next_id;
    atomic_long done[NREADERS]; /* accesses per reader since the barrier */
};

static bool good_value(const struct shared *sh, enum gm_result r,
                       uint64_t v)
{
    uint8_t b = (uint8_t)v;

    if (r == GM_RESULT_OK) {
        return b >= 1 && b <= NREG && v == b * 0x0101010101010101ULL;
    }
    return r == GM_RESULT_DECODE_ERROR && v == sh->hole;
}

/*
 * Whether the writer may stop: every reader did its share, or one failed
 * (it counted the failure in sh->bad and may have stopped reading).
 */
static bool readers_done(struct shared *sh)
{
    if (atomic_load(&sh->bad)) {
        return true;
    }
    for (int i = 0; i < NREADERS; i++) {
        if (atomic_load(&sh->done[i]) < READER_SHARE) {
            return false;
        }
    }
    return true;
}

static void *reader(void *arg)
{
    struct shared *sh = arg;
    int id = atomic_fetch_add(&sh->next_id, 1);
    gm_space *as = sh->own[id] ? sh->own[id] : sh->as;
    /* A fixed sequence per reader: runs differ only in the interleaving. */
    unsigned s = 12345u + (unsigned)id * 7919u;
    struct gm_cache c;
    long n = 0;
    int ret;

    /* (Failures are counted in sh->bad: the harness is not thread-safe.) */
    ret = gm_cache_init(&c, as, 0, 0x1000, false, NULL);
    pthread_barrier_wait(&sh->start);
    if (ret) {
        atomic_fetch_add(&sh->bad, 1);
        return NULL;
    }
    while (!atomic_load(&sh->stop)) {
        uint64_t addr, v, len;
        enum gm_result r;
        void *p;

        s = s * 1103515245u + 12345u;
        if ((++n & 255) == 0) {
            /* Re-register on another page, racing with the commits. */
            gm_cache_destroy(&c);
            if (gm_cache_init(&c, as, ((s >> 4) % 64) * 0x1000, 0x1000,
                              (s & 1) != 0, NULL)) {
                atomic_fetch_add(&sh->bad, 1);
                return NULL;
            }
        }
        for (int i = 0; i < 4; i++) {
            v = 0;
            r = gm_cache_load(&c, ((s >> (i * 3)) & 0x1ff) * 8, 8,
                              GM_ENDIAN_LITTLE, &v);
            if (!good_value(sh, r, v)) {
                atomic_fetch_add(&sh->bad, 1);
            }
            atomic_fetch_add_explicit(&sh->cached, 1, memory_order_relaxed);
        }
        addr = ((s >> 8) % 0x40000) & ~7ull;
        r = gm_space_load(as, addr, 8, GM_ENDIAN_LITTLE, &v,
                          GM_ATTRS_DEFAULT);
        if (!good_value(sh, r, v)) {
            atomic_fetch_add(&sh->bad, 1);
        }
        len = 64;
        p = gm_space_map(as, addr, &len, false, GM_ATTRS_DEFAULT);
        if (p) {
            /* A direct map must show one region's bytes throughout. */
            const uint8_t *q = p;
            for (uint64_t i = 1; i < len && len <= 64; i++) {
                if (q[i] != q[0]) {
                    atomic_fetch_add(&sh->bad, 1);
                    break;
                }
            }
            gm_space_unmap(as, p, len, false, 0);
            atomic_fetch_add(&sh->maps, 1);
        }
        atomic_fetch_add(&sh->accesses, 1);
        atomic_fetch_add(&sh->done[id], 1);
    }
    gm_cache_destroy(&c);
    return NULL;
}

/* Start the readers and meet them at the barrier. */
static void readers_start(struct shared *sh, pthread_t *t)
{
    pthread_barrier_init(&sh->start, NULL, NREADERS + 1);
    for (int i = 0; i < NREADERS; i++) {
        /* A reader that does not start would leave the barrier waiting. */
        if (pthread_create(&t[i], NULL, reader, sh) != 0) {
            HARNESS_FAIL("pthread_create failed");
            exit(1);
        }
    }
    pthread_barrier_wait(&sh->start);
}

/* Stop and join the readers; check what they saw and did. */
static void readers_stop(struct shared *sh, pthread_t *t, int commits)
{
    atomic_store(&sh->stop, 1);
    for (int i = 0; i < NREADERS; i++) {
        pthread_join(t[i], NULL);
    }
    pthread_barrier_destroy(&sh->start);
    printf("# %d commits, %ld accesses, %ld cached loads, %ld maps\n",
           commits, atomic_load(&sh->accesses), atomic_load(&sh->cached),
           atomic_load(&sh->maps));
    CHECK_EQ_INT(atomic_load(&sh->bad), 0);
    for (int i = 0; i < NREADERS; i++) {
        CHECK(atomic_load(&sh->done[i]) >= READER_SHARE);
    }
    CHECK(atomic_load(&sh->cached) >= 4L * NREADERS * READER_SHARE);
}

static void test_readers_vs_commits(void)
{
    struct shared sh = {0};
    gm_system *sys = gm_system_new(NULL);
    gm_region *root, *r[NREG];
    pthread_t t[NREADERS];
    unsigned s = 1;
    int commits = 0;

    gm_system_set_warn_handler(sys, NULL, NULL);
    root = gm_region_new_container(sys, "root", GM_SIZE_2_64, NULL);
    for (int i = 0; i < NREG; i++) {
        r[i] = gm_region_new_ram(sys, "r", 0x1000, NULL);
        memset(gm_region_ram_ptr(r[i]), i + 1, 0x1000);
    }
    sh.as = gm_space_new(sys, root, "memory", NULL);
    /*
     * Nothing is mapped yet. The value of unassigned reads is the space's
     * (all-ones as in QEMU's old default, or 0): the test takes it as is.
     */
    CHECK_EQ_INT(gm_space_load(sh.as, 0, 8, GM_ENDIAN_LITTLE, &sh.hole,
                               GM_ATTRS_DEFAULT),
                 GM_RESULT_DECODE_ERROR);
    readers_start(&sh, t);
    while (commits < COMMITS || !readers_done(&sh)) {
        gm_region *x;
        uint64_t addr;
        int ret;

        s = s * 1103515245u + 12345u;
        x = r[(s >> 8) % NREG];
        addr = ((s >> 12) % 64) * 0x1000;
        if (gm_region_container(x)) {
            ret = (s & 0x10000) ? gm_region_del_subregion(root, x, NULL)
                                : gm_region_set_address(x, addr, NULL);
        } else {
            ret = gm_region_add_subregion_overlap(root, addr, x,
                                                  (int)((s >> 20) % 3), NULL);
        }
        CHECK_EQ_INT(ret, 0);
        commits++;
    }
    readers_stop(&sh, t, commits);
    CHECK_EQ_INT(gm_space_destroy(sh.as, NULL), 0);
    for (int i = 0; i < NREG; i++) {
        gm_region_unref(r[i]);
    }
    gm_region_unref(root);
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
}

/*
 * Readers in bus-master spaces (a container holding an alias of system
 * memory) while the writer switches bus mastering on and off and moves
 * RAM: enabled, a space shares system memory's view; disabled, it renders
 * nothing. Both must read correctly at every moment, caches included.
 */
static void test_readers_vs_switches(void)
{
    struct shared sh = {0};
    gm_system *sys = gm_system_new(NULL);
    gm_region *root, *r[NREG], *bm[NREADERS], *al[NREADERS];
    pthread_t t[NREADERS];
    unsigned s = 7;
    int commits = 0;

    gm_system_set_warn_handler(sys, NULL, NULL);
    root = gm_region_new_container(sys, "root", GM_SIZE_2_64, NULL);
    for (int i = 0; i < NREG; i++) {
        r[i] = gm_region_new_ram(sys, "r", 0x1000, NULL);
        memset(gm_region_ram_ptr(r[i]), i + 1, 0x1000);
        CHECK_EQ_INT(gm_region_add_subregion(root, (uint64_t)i * 0x1000, r[i],
                                             NULL),
                     0);
    }
    sh.as = gm_space_new(sys, root, "memory", NULL);
    for (int i = 0; i < NREADERS; i++) {
        bm[i] = gm_region_new_container(sys, "bm", GM_SIZE_2_64, NULL);
        al[i] = gm_region_new_alias(sys, "bm-alias", root, 0, GM_SIZE_2_64,
                                    NULL);
        CHECK_EQ_INT(gm_region_add_subregion(bm[i], 0, al[i], NULL), 0);
        sh.own[i] = gm_space_new(sys, bm[i], "bus-master", NULL);
    }
    CHECK_EQ_INT(gm_space_load(sh.as, 0x100000, 8, GM_ENDIAN_LITTLE,
                               &sh.hole, GM_ATTRS_DEFAULT),
                 GM_RESULT_DECODE_ERROR);
    readers_start(&sh, t);
    while (commits < COMMITS || !readers_done(&sh)) {
        int ret;

        s = s * 1103515245u + 12345u;
        if (s & 0x100) {
            gm_region *a = al[(s >> 9) % NREADERS];

            ret = gm_region_set_enabled(a, !gm_region_enabled(a), NULL);
        } else {
            ret = gm_region_set_address(r[(s >> 9) % NREG],
                                        ((s >> 16) % 64) * 0x1000, NULL);
        }
        CHECK_EQ_INT(ret, 0);
        commits++;
    }
    readers_stop(&sh, t, commits);
    for (int i = 0; i < NREADERS; i++) {
        CHECK_EQ_INT(gm_space_destroy(sh.own[i], NULL), 0);
        gm_region_unref(al[i]);
        gm_region_unref(bm[i]);
    }
    CHECK_EQ_INT(gm_space_destroy(sh.as, NULL), 0);
    for (int i = 0; i < NREG; i++) {
        gm_region_unref(r[i]);
    }
    gm_region_unref(root);
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
}

/*
 * An MMIO callback that commits, on one thread, while another thread
 * commits in a loop: the writer must never wait for readers while holding
 * the lock the callback needs (it would wait for itself through them).
 */
struct mmio_commit {
    gm_space *as;
    gm_region *toggled; /* flipped by the callback */
    pthread_barrier_t start;
    atomic_int stop;
    atomic_long reads;
    atomic_long bad;
};

static uint64_t committing_read(void *opaque, uint64_t off, unsigned size)
{
    struct mmio_commit *mc = opaque;

    (void)off;
    (void)size;
    gm_region_set_enabled(mc->toggled, !gm_region_enabled(mc->toggled),
                          NULL);
    return 0x5a;
}

static const struct gm_region_ops committing_ops = {
    .read = committing_read,
    .endianness = GM_ENDIAN_LITTLE,
};

static void *mmio_reader(void *arg)
{
    struct mmio_commit *mc = arg;

    pthread_barrier_wait(&mc->start);
    while (!atomic_load(&mc->stop)) {
        uint64_t v = 0;
        enum gm_result r;

        r = gm_space_load(mc->as, 0x10000, 4, GM_ENDIAN_LITTLE, &v,
                          GM_ATTRS_DEFAULT);
        /* The device never moves: every load reaches its callback. */
        if (r != GM_RESULT_OK || v != 0x5a) {
            atomic_fetch_add(&mc->bad, 1);
        }
        atomic_fetch_add(&mc->reads, 1);
    }
    return NULL;
}

static void test_mmio_callback_commits(void)
{
    struct mmio_commit mc = {0};
    gm_system *sys = gm_system_new(NULL);
    gm_region *root, *dev, *ram, *flip;
    pthread_t t;
    int commits = 0;

    root = gm_region_new_container(sys, "root", GM_SIZE_2_64, NULL);
    dev = gm_region_new_io(sys, "dev", 0x1000, &committing_ops, &mc, NULL);
    ram = gm_region_new_ram(sys, "ram", 0x1000, NULL);
    flip = gm_region_new_ram(sys, "flip", 0x1000, NULL);
    mc.toggled = flip;
    CHECK_EQ_INT(gm_region_add_subregion(root, 0x10000, dev, NULL), 0);
    CHECK_EQ_INT(gm_region_add_subregion(root, 0x20000, ram, NULL), 0);
    CHECK_EQ_INT(gm_region_add_subregion(root, 0x30000, flip, NULL), 0);
    mc.as = gm_space_new(sys, root, "memory", NULL);
    pthread_barrier_init(&mc.start, NULL, 2);
    if (pthread_create(&t, NULL, mmio_reader, &mc) != 0) {
        HARNESS_FAIL("pthread_create failed");
        exit(1);
    }
    pthread_barrier_wait(&mc.start);
    /*
     * Commit until the reader's callbacks have committed MMIO_READS times
     * in between (or it saw a wrong value): 5,000 commits alone can be
     * over before the reader runs at all.
     */
    while (commits < COMMITS / 2 ||
           (atomic_load(&mc.reads) < MMIO_READS && !atomic_load(&mc.bad))) {
        CHECK_EQ_INT(gm_region_set_enabled(ram, commits & 1, NULL), 0);
        commits++;
    }
    atomic_store(&mc.stop, 1);
    pthread_join(t, NULL);
    pthread_barrier_destroy(&mc.start);
    printf("# %d commits here, %ld committing MMIO reads there\n", commits,
           atomic_load(&mc.reads));
    CHECK_EQ_INT(atomic_load(&mc.bad), 0);
    CHECK(atomic_load(&mc.reads) >= MMIO_READS);
    CHECK_EQ_INT(gm_space_destroy(mc.as, NULL), 0);
    gm_region_unref(dev);
    gm_region_unref(ram);
    gm_region_unref(flip);
    gm_region_unref(root);
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
}

int main(void)
{
    /* A deadlock must fail the test, not hang it. */
    alarm(240);
    RUN(test_readers_vs_commits);
    RUN(test_readers_vs_switches);
    RUN(test_mmio_callback_commits);
    return harness_done();
}
