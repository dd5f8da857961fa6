/* SPDX-License-Identifier: MIT */
/*
 * bench/bench-unicorn.c - guestmem next to Unicorn 2, in the same run.
 *
 * Unicorn (a CPU emulator built from QEMU) exposes guest memory through
 * uc_mem_read() / uc_mem_write() and builds its map with uc_mem_map() and
 * uc_mmio_map(): the nearest library a program embedding an emulated
 * memory map would otherwise use. Both engines are driven here with the
 * same work, one after the other, in one process:
 *
 *   - an 8-byte load and store on one RAM page: uc_mem_read / uc_mem_write
 *     on a uc_mem_map()'ed page against gm_space_load / gm_space_store;
 *   - 1 MiB copied in and out of RAM: uc_mem_read / uc_mem_write against
 *     gm_space_read / gm_space_write;
 *   - a 4-byte MMIO read and write on a region whose callbacks return a
 *     constant and drop the value: uc_mmio_map() against an I/O region;
 *   - building a map of N regions, 4 KiB each, one every 8 KiB: N calls of
 *     uc_mem_map() (or uc_mmio_map()) against N region constructors and
 *     gm_region_add_subregion() calls, one commit each, N = 100, 1,000 and
 *     4,000. Creating the engine or system and tearing it down are not
 *     timed. A run of the peer that passes 60 s is stopped where it is and
 *     reported as such (Unicorn's map updates grow faster than N^2).
 *
 * Every figure is the median of several repetitions (a mapping row whose
 * run took more than a few seconds is run once). The table prints both
 * columns and Unicorn's time divided by ours: above 1 means guestmem is
 * ahead, which is the target of every row. --strict exits 1 when a target
 * is missed; --quick is a smoke test (make check) with small counts.
 */
#include <guestmem/guestmem.h>
#include <unicorn/unicorn.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_NAME "bench-unicorn"
#include "bench-util.h"

#define PAGE 0x1000u
#define RAM_BASE 0x100000ull      /* the RAM of the access rows */
#define RAM_SIZE (1u << 20)       /* 1 MiB: also the bulk copy's size */
#define HOT_ADDR (RAM_BASE + 0x100)
#define MMIO_BASE 0xfe000000ull   /* the MMIO page of the access rows */
#define MMIO_VALUE BENCH_MMIO_VALUE
#define MAP_BASE 0x100000000ull   /* where the mapping rows place regions */
#define MAP_STRIDE 0x2000u        /* one 4 KiB region every 8 KiB */
#define PEER_LIMIT_S 60.0         /* a peer run is stopped past this */
#define SLOW_RUN_S 5.0            /* a mapping run this long is not repeated */
#define MAX_REPEATS 9

/* Settings from the command line. */
struct bench_opts {
    int repeats;       /* measurements per figure, median reported */
    long access_iters; /* 8-byte and MMIO accesses per measurement */
    long bulk_iters;   /* 1 MiB copies per measurement */
    int max_map;       /* mapping rows up to this N */
    int strict;        /* exit 1 when a target is missed */
};

/* Both engines set up for the access rows. */
struct peers {
    struct bench_space s;
    uc_engine *uc;
    uint8_t *buf;   /* RAM_SIZE bytes of caller memory */
};

/* One row of the table: ns per operation (or per map) for each engine. */
struct result {
    double ours, peer;
    int runs;
    int stopped;     /* the peer's run was stopped at PEER_LIMIT_S */
    long peer_done;  /* regions the stopped run mapped */
};

static void uc_fail(const char *what, uc_err e)
{
    fprintf(stderr, "bench-unicorn: %s failed: %s\n", what, uc_strerror(e));
}

/*
 * place() - add @r at @addr in @s's root and drop the caller's reference.
 * Return: 0, or -1 after printing the error.
 */
static int place(struct bench_space *s, gm_region *r, uint64_t addr,
                 const char *what, gm_error *err)
{
    int rc;

    if (!r) {
        fail(what, err->code, err);
        return -1;
    }
    rc = gm_region_add_subregion(s->root, addr, r, err);
    gm_region_unref(r);
    if (rc) {
        fail("gm_region_add_subregion", rc, err);
        return -1;
    }
    return 0;
}

/*
 * The device on both engines: bench-util.h's callbacks for guestmem, the
 * same behaviour in Unicorn's callback types (one real call each).
 */
static const struct gm_region_ops dev_ops = {
    .read = bench_dev_read,
    .write = bench_dev_write,
    .endianness = GM_ENDIAN_LITTLE,
};

__attribute__((noinline)) static uint64_t uc_dev_read(uc_engine *uc,
                                                      uint64_t offset,
                                                      unsigned size,
                                                      void *user_data)
{
    clobber(user_data);
    return MMIO_VALUE;
}

__attribute__((noinline)) static void uc_dev_write(uc_engine *uc,
                                                   uint64_t offset,
                                                   unsigned size,
                                                   uint64_t value,
                                                   void *user_data)
{
    clobber(user_data);
}

/*
 * uc_new() - an x86-64 engine, initialised: Unicorn 2 builds its machine
 * on the first call that needs it, which a register read forces here so
 * that the build is not timed. Return: the engine, or NULL after printing.
 */
static uc_engine *uc_new(void)
{
    uc_engine *uc;
    uint64_t rax;
    uc_err e;

    e = uc_open(UC_ARCH_X86, UC_MODE_64, &uc);
    if (e != UC_ERR_OK) {
        uc_fail("uc_open", e);
        return NULL;
    }
    e = uc_reg_read(uc, UC_X86_REG_RAX, &rax);
    if (e != UC_ERR_OK) {
        uc_fail("uc_reg_read", e);
        uc_close(uc);
        return NULL;
    }
    return uc;
}

/*
 * Access rows.
 */

static void peers_free(struct peers *p)
{
    if (p->uc) {
        uc_close(p->uc);
    }
    space_free(&p->s);
    free(p->buf);
    memset(p, 0, sizeof(*p));
}

/* RAM and an MMIO page at the same addresses in both engines. */
static int peers_new(struct peers *p, int *dev)
{
    gm_region *r;
    gm_error err;
    uc_err e;

    memset(p, 0, sizeof(*p));
    gm_error_clear(&err);
    p->buf = malloc(RAM_SIZE);
    if (!p->buf) {
        fprintf(stderr, "bench-unicorn: out of memory\n");
        return -1;
    }
    memset(p->buf, 0xa5, RAM_SIZE);
    if (space_new(&p->s)) {
        goto fail;
    }
    r = gm_region_new_ram(p->s.sys, "ram", RAM_SIZE, &err);
    if (place(&p->s, r, RAM_BASE, "gm_region_new_ram", &err)) {
        goto fail;
    }
    r = gm_region_new_io(p->s.sys, "dev", PAGE, &dev_ops, dev, &err);
    if (place(&p->s, r, MMIO_BASE, "gm_region_new_io", &err)) {
        goto fail;
    }
    p->uc = uc_new();
    if (!p->uc) {
        goto fail;
    }
    e = uc_mem_map(p->uc, RAM_BASE, RAM_SIZE, UC_PROT_ALL);
    if (e != UC_ERR_OK) {
        uc_fail("uc_mem_map", e);
        goto fail;
    }
    e = uc_mmio_map(p->uc, MMIO_BASE, PAGE, uc_dev_read, dev, uc_dev_write,
                    dev);
    if (e != UC_ERR_OK) {
        uc_fail("uc_mmio_map", e);
        goto fail;
    }
    /*
     * Fill both RAMs: a read of never-written anonymous memory would copy
     * the kernel's shared zero page, which stays in L1, not RAM.
     */
    e = uc_mem_write(p->uc, RAM_BASE, p->buf, RAM_SIZE);
    if (e != UC_ERR_OK) {
        uc_fail("uc_mem_write", e);
        goto fail;
    }
    if (gm_space_write(p->s.as, RAM_BASE, p->buf, RAM_SIZE,
                       GM_ATTRS_DEFAULT) != GM_RESULT_OK) {
        fprintf(stderr, "bench-unicorn: gm_space_write failed\n");
        goto fail;
    }
    return 0;

fail:
    peers_free(p);
    return -1;
}

/* The access rows, in the order they are measured and printed. */
enum access_kind {
    ACC_LOAD8,
    ACC_STORE8,
    ACC_READ_1M,
    ACC_WRITE_1M,
    ACC_MMIO_READ,
    ACC_MMIO_WRITE,
    ACC_NR
};

/*
 * access_run() - time @iters operations of one kind on one engine.
 * Return: ns per operation, or a negative value when an operation failed
 * (reported once, on stderr).
 */
static double access_run(struct peers *p, enum access_kind k, int peer,
                         long iters, uint64_t *sum)
{
    uint64_t acc = 0, v = 0;
    uint32_t v32 = 0;
    int bad = 0;
    double t0 = now_s();

    switch (k) {
    case ACC_LOAD8:
        for (long i = 0; i < iters; i++) {
            if (peer) {
                bad |= uc_mem_read(p->uc, HOT_ADDR, &v, 8) != UC_ERR_OK;
            } else {
                bad |= gm_space_load(p->s.as, HOT_ADDR, 8, GM_ENDIAN_LITTLE,
                                     &v, GM_ATTRS_DEFAULT) != GM_RESULT_OK;
            }
            acc += v;
        }
        break;
    case ACC_STORE8:
        for (long i = 0; i < iters; i++) {
            v = (uint64_t)i;
            if (peer) {
                bad |= uc_mem_write(p->uc, HOT_ADDR, &v, 8) != UC_ERR_OK;
            } else {
                bad |= gm_space_store(p->s.as, HOT_ADDR, 8, GM_ENDIAN_LITTLE,
                                      v, GM_ATTRS_DEFAULT) != GM_RESULT_OK;
            }
        }
        break;
    case ACC_READ_1M:
        for (long i = 0; i < iters; i++) {
            if (peer) {
                bad |= uc_mem_read(p->uc, RAM_BASE, p->buf, RAM_SIZE) !=
                       UC_ERR_OK;
            } else {
                bad |= gm_space_read(p->s.as, RAM_BASE, p->buf, RAM_SIZE,
                                     GM_ATTRS_DEFAULT) != GM_RESULT_OK;
            }
            clobber(p->buf);
        }
        break;
    case ACC_WRITE_1M:
        for (long i = 0; i < iters; i++) {
            if (peer) {
                bad |= uc_mem_write(p->uc, RAM_BASE, p->buf, RAM_SIZE) !=
                       UC_ERR_OK;
            } else {
                bad |= gm_space_write(p->s.as, RAM_BASE, p->buf, RAM_SIZE,
                                      GM_ATTRS_DEFAULT) != GM_RESULT_OK;
            }
            clobber(p->buf);
        }
        break;
    case ACC_MMIO_READ:
        for (long i = 0; i < iters; i++) {
            if (peer) {
                bad |= uc_mem_read(p->uc, MMIO_BASE + 0x10, &v32, 4) !=
                       UC_ERR_OK;
                v = v32;
            } else {
                bad |= gm_space_load(p->s.as, MMIO_BASE + 0x10, 4,
                                     GM_ENDIAN_LITTLE, &v,
                                     GM_ATTRS_DEFAULT) != GM_RESULT_OK;
            }
            acc += v;
        }
        break;
    default:
        for (long i = 0; i < iters; i++) {
            v32 = (uint32_t)i;
            if (peer) {
                bad |= uc_mem_write(p->uc, MMIO_BASE + 0x10, &v32, 4) !=
                       UC_ERR_OK;
            } else {
                bad |= gm_space_store(p->s.as, MMIO_BASE + 0x10, 4,
                                      GM_ENDIAN_LITTLE, v32,
                                      GM_ATTRS_DEFAULT) != GM_RESULT_OK;
            }
        }
        break;
    }
    *sum = acc;
    if (bad) {
        fprintf(stderr, "bench-unicorn: %s access %d failed\n",
                peer ? "unicorn" : "guestmem", (int)k);
        return -1;
    }
    return (now_s() - t0) / (double)iters * 1e9;
}

static int bench_access(const struct bench_opts *o, struct result *res)
{
    double t[2][MAX_REPEATS];
    struct peers p;
    uint64_t sum[2], v = 0x1122334455667788ull;
    int dev = 0;

    memset(res, 0, ACC_NR * sizeof(*res));
    if (peers_new(&p, &dev)) {
        return -1;
    }
    for (int k = 0; k < ACC_NR; k++) {
        long iters = k == ACC_READ_1M || k == ACC_WRITE_1M ? o->bulk_iters
                                                           : o->access_iters;

        for (int e = 0; e < 2; e++) {
            if (access_run(&p, (enum access_kind)k, e, 16, &sum[e]) < 0) {
                peers_free(&p);
                return -1;
            }
        }
        if (k == ACC_LOAD8) {
            /* Both engines hold the same word: the loads must agree. */
            if (uc_mem_write(p.uc, HOT_ADDR, &v, 8) != UC_ERR_OK ||
                gm_space_store(p.s.as, HOT_ADDR, 8, GM_ENDIAN_LITTLE, v,
                               GM_ATTRS_DEFAULT) != GM_RESULT_OK) {
                fprintf(stderr, "bench-unicorn: cannot seed the RAM\n");
                peers_free(&p);
                return -1;
            }
        }
        for (int r = 0; r < o->repeats; r++) {
            bool bulk = k == ACC_READ_1M || k == ACC_WRITE_1M;
            /* Copies take turns copy by copy (both are one memcpy, so
             * drift in the machine's state would otherwise decide the row);
             * other kinds take turns at going first. */
            long turns = bulk ? iters : 1, per_turn = bulk ? 1 : iters;

            t[0][r] = t[1][r] = 0;
            for (long j = 0; j < turns; j++) {
                for (int i = 0; i < 2; i++) {
                    int e = i ^ (int)((bulk ? j : r) & 1);
                    double x = access_run(&p, (enum access_kind)k, e,
                                          per_turn, &sum[e]);

                    if (x < 0) {
                        peers_free(&p);
                        return -1;
                    }
                    t[e][r] += x / (double)turns;
                }
            }
            if (sum[0] != sum[1]) {
                fprintf(stderr, "bench-unicorn: the engines loaded "
                        "different values (%" PRIx64 " / %" PRIx64 ")\n",
                        sum[0], sum[1]);
                peers_free(&p);
                return -1;
            }
        }
        res[k].ours = median(t[0], o->repeats);
        res[k].peer = median(t[1], o->repeats);
        res[k].runs = o->repeats;
    }
    peers_free(&p);
    return 0;
}

/*
 * Mapping rows.
 */

/*
 * map_ours() - n regions added to a fresh space, one commit each.
 * Return: seconds, or a negative value after printing what failed.
 */
static double map_ours(long n, int mmio)
{
    struct bench_space s;
    gm_error err;
    char name[32];
    int dev = 0;
    double t0, t;

    if (space_new(&s)) {
        return -1;
    }
    gm_error_clear(&err);
    t0 = now_s();
    for (long i = 0; i < n; i++) {
        gm_region *r;

        snprintf(name, sizeof(name), "r%ld", i);
        r = mmio ? gm_region_new_io(s.sys, name, PAGE, &dev_ops, &dev, &err)
                 : gm_region_new_ram(s.sys, name, PAGE, &err);
        if (place(&s, r, MAP_BASE + (uint64_t)i * MAP_STRIDE,
                  mmio ? "gm_region_new_io" : "gm_region_new_ram", &err)) {
            space_free(&s);
            return -1;
        }
    }
    t = now_s() - t0;
    space_free(&s);
    return t;
}

/*
 * map_peer() - the same n regions with uc_mem_map() / uc_mmio_map(),
 * stopped once PEER_LIMIT_S has passed.
 * @done: the regions mapped (n unless stopped).
 * Return: seconds, or a negative value after printing what failed.
 */
static double map_peer(long n, int mmio, long *done)
{
    uc_engine *uc = uc_new();
    int dev = 0;
    double t0, t = 0;
    uc_err e;
    long i;

    if (!uc) {
        return -1;
    }
    t0 = now_s();
    for (i = 0; i < n; i++) {
        uint64_t a = MAP_BASE + (uint64_t)i * MAP_STRIDE;

        e = mmio ? uc_mmio_map(uc, a, PAGE, uc_dev_read, &dev, uc_dev_write,
                               &dev)
                 : uc_mem_map(uc, a, PAGE, UC_PROT_ALL);
        if (e != UC_ERR_OK) {
            uc_fail(mmio ? "uc_mmio_map" : "uc_mem_map", e);
            uc_close(uc);
            return -1;
        }
        t = now_s() - t0;
        if (t > PEER_LIMIT_S) {
            i++;
            break;
        }
    }
    *done = i;
    uc_close(uc);
    return t;
}

static int bench_map(const struct bench_opts *o, long n, int mmio,
                     struct result *res)
{
    double t[2][MAX_REPEATS];
    int r;

    memset(res, 0, sizeof(*res));
    for (r = 0; r < o->repeats; r++) {
        t[0][r] = map_ours(n, mmio);
        t[1][r] = map_peer(n, mmio, &res->peer_done);
        if (t[0][r] < 0 || t[1][r] < 0) {
            return -1;
        }
        if (res->peer_done < n) {
            res->stopped = 1;
            r++;
            break;
        }
        if (t[1][r] > SLOW_RUN_S) {
            r++;
            break;
        }
    }
    res->runs = r;
    res->ours = median(t[0], r) * 1e9;
    res->peer = median(t[1], r) * 1e9;
    return 0;
}

/*
 * Output.
 */

static void header(void)
{
    printf("| %-40s | %12s | %30s | %9s | %4s | %-4s |\n", "measurement",
           "guestmem", "unicorn 2", "uc / ours", "runs", "");
    printf("|%s|%s|%s|%s|%s|%s|\n",
           "------------------------------------------", "-------------:",
           "--------------------------------:", "-----------:", "------:",
           "------");
}

/* Time in a readable unit: ns below 10 us, then us, ms, s. */
static void fmt_time(char *buf, size_t len, double ns)
{
    if (ns < 1e4) {
        snprintf(buf, len, "%.1f ns", ns);
    } else if (ns < 1e6) {
        snprintf(buf, len, "%.1f us", ns / 1e3);
    } else if (ns < 1e10) {
        snprintf(buf, len, "%.2f ms", ns / 1e6);
    } else {
        snprintf(buf, len, "%.2f s", ns / 1e9);
    }
}

/* Print one row; return 1 when guestmem is ahead (the target), else 0. */
static int row(const char *what, const struct result *r, long n)
{
    char ours[32], peer[48], ratio[32];
    int ok = r->peer > r->ours;

    fmt_time(ours, sizeof(ours), r->ours);
    if (r->stopped) {
        char t[32];

        fmt_time(t, sizeof(t), r->peer);
        snprintf(peer, sizeof(peer), "stopped: %ld/%ld in %s", r->peer_done,
                 n, t);
        snprintf(ratio, sizeof(ratio), ">= %.0fx", r->peer / r->ours);
    } else {
        fmt_time(peer, sizeof(peer), r->peer);
        snprintf(ratio, sizeof(ratio),
                 r->peer / r->ours >= 100 ? "%.0fx"
                 : r->peer / r->ours < 1.1 ? "%.3fx"
                                           : "%.2fx",
                 r->peer / r->ours);
    }
    printf("| %-40s | %12s | %30s | %9s | %4d | %-4s |\n", what, ours, peer,
           ratio, r->runs, ok ? "ok" : "MISS");
    return ok;
}

static int parse_args(int argc, char **argv, struct bench_opts *o)
{
    int rc;

    o->repeats = 7;
    o->access_iters = 1L << 21;
    o->bulk_iters = 256;
    o->max_map = 4000;
    o->strict = 0;
    rc = bench_parse(argc, argv, MAX_REPEATS, &o->repeats, &o->strict);
    if (rc == 1) {
        o->access_iters = 1L << 10;
        o->bulk_iters = 2;
        o->max_map = 100;
    }
    return rc < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
    static const char *const access_labels[ACC_NR] = {
        "8-byte load, RAM", "8-byte store, RAM", "1 MiB read, RAM",
        "1 MiB write, RAM", "4-byte MMIO read", "4-byte MMIO write",
    };
    static const long map_n[] = {100, 1000, 4000};
    static const char *const map_labels[] = {"100", "1,000", "4,000"};
    struct result acc[ACC_NR], map[2][3];
    struct bench_opts o;
    unsigned major, minor;
    char what[64];
    int missed = 0, stopped = 0, nmap = 0;

    if (parse_args(argc, argv, &o)) {
        return 2;
    }
    if (bench_access(&o, acc)) {
        return 1;
    }
    for (int i = 0; i < 3 && map_n[i] <= o.max_map; i++) {
        for (int mmio = 0; mmio < 2; mmio++) {
            if (bench_map(&o, map_n[i], mmio, &map[mmio][i])) {
                return 1;
            }
            stopped |= map[mmio][i].stopped;
        }
        nmap = i + 1;
    }

    uc_version(&major, &minor);
    printf("guestmem %s against Unicorn %u.%u: median of up to %d run%s\n\n",
           gm_version_string(), major, minor, o.repeats,
           o.repeats == 1 ? "" : "s");
    header();
    for (int k = 0; k < ACC_NR; k++) {
        missed |= !row(access_labels[k], &acc[k], 0);
    }
    for (int mmio = 0; mmio < 2; mmio++) {
        for (int i = 0; i < nmap; i++) {
            snprintf(what, sizeof(what), "map %s %s regions", map_labels[i],
                     mmio ? "MMIO" : "RAM");
            missed |= !row(what, &map[mmio][i], map_n[i]);
        }
    }
    printf("\nuc / ours: Unicorn's time divided by guestmem's; above 1, "
           "guestmem is ahead (the target of every row).\n");
    printf("map rows: uc_mem_map() / uc_mmio_map() against region "
           "constructors + gm_region_add_subregion(), one commit each.\n");
    if (stopped) {
        printf("A stopped run passed %.0f s and was cut there: its ratio is "
               "a lower bound.\n", PEER_LIMIT_S);
    }
    if (missed) {
        printf("\nsome targets were missed%s\n",
               o.strict ? "" : " (not fatal without --strict)");
    }
    return missed && o.strict ? 1 : 0;
}
