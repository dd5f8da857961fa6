/* SPDX-License-Identifier: MIT */
/*
 * bench/bench-machine.c - what firmware's BAR programming costs on a
 * machine with many PCI devices.
 *
 * QEMU gives every PCI device a bus-master address space: a container
 * holding an alias of system memory, disabled until the guest sets the
 * device's bus-master bit. A machine with N devices therefore has N + 2
 * address spaces, and firmware programs the devices one register write at
 * a time, each write a commit of its own. When a commit re-renders every
 * space, it costs O(N) and booting costs O(N^2): on machines with hundreds
 * of devices that re-render was QEMU's dominant cost. This program builds
 * such a machine through the public API and times the firmware's sequence.
 *
 * The machine, PC-like: a 2^64 system memory container; 8 GiB of RAM (one
 * region, mapped MAP_NORESERVE and never touched) shown by two aliases,
 * 3 GiB at 0 and 5 GiB at 4 GiB; a 256 KiB BIOS ROM ending at 4 GiB and its
 * last 128 KiB aliased at 0xe0000 over RAM (isa-bios, priority 1); a 64 KiB
 * I/O port container with a few legacy devices, root of its own space; a
 * 2^64 PCI memory container shown in system memory by the 32-bit hole
 * alias (0xe0000000..0xfec00000) and a 64-bit hole alias at 32 GiB; and N
 * devices, each with its bus-master space, two MMIO BARs (4 KiB and 16 KiB,
 * simple callbacks) in the PCI container, disabled at address 0 (priority
 * 1, as QEMU maps BARs), and an eventfd(2) for its doorbell. A listener
 * filtered on system memory stands for a KVM-like accelerator: it counts
 * region_add, region_del and eventfd_add. Building the machine is one
 * transaction and is not timed.
 *
 * Timed: for every device in turn, for each BAR: disable, move to its
 * final address, enable (firmware writes the command register, the BAR,
 * the command register; the first disable finds the BAR disabled, as
 * after reset, and changes nothing visible); then bus mastering on (the
 * alias enabled) and the doorbell added on BAR0. That is 8 mutating calls
 * outside any transaction, so 8 commits, per device. N = 10, 100 and
 * 1,000; each repetition times 1,000 devices' worth of sequence (100
 * machines of 10, 10 of 100, one of 1,000) and reports one machine's
 * share. Figures: the sequence's time, the mean per commit, the growth
 * t(1,000) / t(100) (10 when a commit's cost does not depend on N) and the
 * mean commit at 1,000 over the mean commit at 10 (1 in the same case);
 * the same without the listener for information.
 *
 * Baseline, same run and same machine: a brute-force re-render of every
 * address space after each commit, by a small reference renderer in this
 * file that reads the tree through public getters only, with QEMU's rules
 * (a disabled region renders nothing; an alias renders its target shifted
 * by -alias_offset; children in render order claim bytes first; a
 * terminating region fills what its children left). It only renders: no
 * diff, no listener, no dispatch table, so it is less than a commit that
 * re-renders everything would pay; but each getter takes the writer lock,
 * which a renderer inside a library would not. At N = 1,000 one commit in
 * 211 is rendered (37 samples spread over the whole sequence) and the
 * mean extrapolated; the output says so.
 *
 * Correctness: in the first repetition at each N, the flat view of every
 * space is compared with the reference render at the end of the sequence
 * and half-way through it (with BARs and bus masters still disabled: the
 * end state has everything enabled); after every machine, the listener's
 * counts are compared with the expected ones (2 region_add, no region_del,
 * 1 eventfd_add per device; the ranges it was told of add up to the system
 * memory view). A difference is printed and the program exits 1: a
 * benchmark that measures a wrong answer is useless.
 *
 * Only the public API is used. Targets are printed next to the figures;
 * with --strict the program exits 1 when one is missed. --quick runs one
 * repetition with N = 10 and 100 and one machine each (the baseline
 * renders one commit in 13 at N = 100), as a smoke test under the
 * sanitizers (make check), whose timings mean nothing.
 */
#include <guestmem/guestmem.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define BENCH_NAME "bench-machine"
#include "bench-util.h"

#define GIB (1ull << 30)
#define RAM_SIZE (8 * GIB)       /* one RAM region */
#define RAM_BELOW_4G (3 * GIB)   /* shown at 0; the rest at 4 GiB */
#define BIOS_SIZE 0x40000u       /* ROM ending at 4 GiB */
#define ISA_BIOS_SIZE 0x20000u   /* its last 128 KiB, below 1 MiB */
#define ISA_BIOS_ADDR (0x100000u - ISA_BIOS_SIZE)
#define PCI_HOLE_START 0xe0000000ull
#define PCI_HOLE_END 0xfec00000ull
#define PCI_HOLE64_START (32 * GIB)
#define PCI_HOLE64_SIZE (32 * GIB)
#define IO_SPACE_SIZE 0x10000u   /* I/O ports */
#define BAR0_SIZE 0x1000u        /* 4 KiB, holds the doorbell */
#define BAR1_SIZE 0x4000u        /* 16 KiB */
#define DEV_STRIDE 0x8000u       /* PCI addresses per device */
#define DOORBELL_OFFSET 0x10u    /* in BAR0 */
#define COMMITS_PER_DEV 8u       /* mutating calls per device */
#define BAR_PRIORITY 1           /* QEMU maps BARs with priority 1 */
#define MAX_REPEATS 9
#define NR_SIZES 3

/* Targets. */
#define TARGET_GROWTH 12.0       /* t(1,000) / t(100), at most */
#define TARGET_COMMIT_RATIO 2.0  /* mean commit at 1,000 / at 10, at most */

/* One size of machine. */
struct bench_size {
    size_t n;            /* devices */
    const char *label;   /* n, printed */
    unsigned machines;   /* machines timed per repetition */
    unsigned bf_stride;  /* the baseline renders after every k-th commit */
    unsigned quick_stride; /* the same with --quick */
};

/* Strides are prime: samples fall on every step of the sequence. */
static const struct bench_size sizes[NR_SIZES] = {
    {10, "10", 100, 1, 1},
    {100, "100", 10, 1, 13},
    {1000, "1,000", 1, 211, 211},
};

/* Legacy devices of the I/O port space. */
static const struct {
    const char *name;
    uint64_t port;
    uint64_t size;
} legacy[] = {
    {"pic", 0x20, 2},   {"pit", 0x40, 4},    {"kbd", 0x60, 1},
    {"rtc", 0x70, 2},   {"serial", 0x3f8, 8}, {"pci-conf", 0xcf8, 8},
};

#define NR_LEGACY (sizeof(legacy) / sizeof(legacy[0]))

static const struct gm_region_ops dev_ops = {
    .read = bench_dev_read,
    .write = bench_dev_write,
    .endianness = GM_ENDIAN_LITTLE,
};

/* Settings from the command line. */
struct bench_opts {
    int repeats;      /* measurements per figure, median reported */
    int nr_sizes;     /* how many of sizes[] are measured */
    bool one_machine; /* time one machine per repetition (--quick) */
    int strict;       /* exit 1 when a target is missed */
};

static void oom(void)
{
    fprintf(stderr, BENCH_NAME ": out of memory\n");
    exit(1);
}

/*
 * The reference renderer.
 */

/* Signed: an alias offset can put its target's base below 0. */
__extension__ typedef __int128 ref_i128;

/* One flat range: [start, end) shows @region from @offset. */
struct ref_range {
    gm_u128 start, end;
    gm_region *region;
    uint64_t offset;
    bool readonly, nonvolatile;
};

/* A sorted list of non-overlapping ranges. */
struct ref_vec {
    struct ref_range *v;
    size_t n, cap;
};

/* The children of one region, in render order. */
struct ref_kids {
    gm_region **v;
    size_t n, cap;
};

static void ref_push(struct ref_vec *v, struct ref_range r)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 8;
        struct ref_range *nv = realloc(v->v, cap * sizeof(*nv));

        if (!nv) {
            oom();
        }
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = r;
}

static int kid_push(gm_region *child, void *opaque)
{
    struct ref_kids *k = opaque;

    if (k->n == k->cap) {
        size_t cap = k->cap ? 2 * k->cap : 8;
        gm_region **nv = realloc(k->v, cap * sizeof(*nv));

        if (!nv) {
            oom();
        }
        k->v = nv;
        k->cap = cap;
    }
    k->v[k->n++] = child;
    return 0;
}

/*
 * ref_claim() - *@out = @a, plus the parts of @b that no range of @a
 * covers. @a rendered first, so it owns every byte it covers. Both are
 * sorted and non-overlapping, and so is the result; @out starts empty.
 */
static void ref_claim(const struct ref_vec *a, const struct ref_vec *b,
                      struct ref_vec *out)
{
    size_t i = 0;

    for (size_t j = 0; j < b->n; j++) {
        struct ref_range p = b->v[j]; /* what is left of b's range */

        while (p.start < p.end) {
            gm_u128 cut;

            /* a's ranges that end before p come first. */
            while (i < a->n && a->v[i].end <= p.start) {
                ref_push(out, a->v[i++]);
            }
            if (i < a->n && a->v[i].start <= p.start) {
                /* a owns p's first byte: skip what a covers. */
                cut = a->v[i].end < p.end ? a->v[i].end : p.end;
            } else {
                /* p's bytes up to a's next range are free: b gets them. */
                struct ref_range q = p;

                cut = i < a->n && a->v[i].start < p.end ? a->v[i].start
                                                        : p.end;
                q.end = cut;
                ref_push(out, q);
            }
            p.offset += (uint64_t)(cut - p.start);
            p.start = cut;
        }
    }
    while (i < a->n) {
        ref_push(out, a->v[i++]);
    }
}

/*
 * ref_combine() - *@out = what parts[0], ..., parts[k - 1] render together
 * when each claims bytes before the next. Claiming is associative
 * ((A then B) then C is A then (B then C): a byte goes to the first part
 * that covers it), so halves are combined first: O(m log k) for m ranges,
 * where claiming one part after another would be O(m k). Takes over the
 * parts' memory; @out starts empty.
 */
static void ref_combine(struct ref_vec *parts, size_t k, struct ref_vec *out)
{
    struct ref_vec l = {0}, r = {0};

    if (k == 1) {
        *out = parts[0];
        memset(&parts[0], 0, sizeof(parts[0]));
        return;
    }
    ref_combine(parts, k / 2, &l);
    ref_combine(parts + k / 2, k - k / 2, &r);
    ref_claim(&l, &r, out);
    free(l.v);
    free(r.v);
}

/*
 * ref_render() - render @r into *@out (which starts empty): the sorted
 * ranges it shows inside [@lo, @hi), for a container whose offset 0 is at
 * @base, with the readonly / non-volatile flags of the path above it.
 */
static void ref_render(gm_region *r, ref_i128 base, ref_i128 lo, ref_i128 hi,
                       bool ro, bool nv, struct ref_vec *out)
{
    struct ref_kids kids = {0};
    ref_i128 end;

    if (!gm_region_enabled(r)) {
        return;
    }
    base += (ref_i128)gm_region_addr(r);
    ro = ro || gm_region_readonly(r);
    nv = nv || gm_region_nonvolatile(r);
    end = base + (ref_i128)gm_region_size(r);
    if (lo < base) {
        lo = base;
    }
    if (hi > end) {
        hi = end;
    }
    if (lo >= hi) {
        return;
    }
    if (gm_region_kind(r) == GM_REGION_ALIAS) {
        /* The target's offset alias_offset lands at base; its own address
         * in its container does not count. */
        gm_region *t = gm_region_alias_target(r);

        ref_render(t,
                   base - (ref_i128)gm_region_addr(t) -
                       (ref_i128)gm_region_alias_offset(r),
                   lo, hi, ro, nv, out);
        return;
    }
    gm_region_foreach_subregion(r, kid_push, &kids);
    if (kids.n) {
        struct ref_vec *parts = calloc(kids.n, sizeof(*parts));

        if (!parts) {
            oom();
        }
        for (size_t i = 0; i < kids.n; i++) {
            ref_render(kids.v[i], base, lo, hi, ro, nv, &parts[i]);
        }
        ref_combine(parts, kids.n, out);
        free(parts);
    }
    free(kids.v);
    if (gm_region_terminates(r)) {
        struct ref_range whole = {(gm_u128)lo, (gm_u128)hi, r,
                                  (uint64_t)(lo - base), ro, nv};
        struct ref_vec fill = {&whole, 1, 1};
        struct ref_vec res = {0};

        ref_claim(out, &fill, &res);
        free(out->v);
        *out = res;
    }
}

/*
 * ref_render_space() - the flat view of @as as the reference sees it, into
 * *@out (which starts empty). Neighbours showing one region contiguously
 * with equal flags are one range (QEMU's flatview_simplify).
 */
static void ref_render_space(gm_space *as, struct ref_vec *out)
{
    size_t n = 0;

    ref_render(gm_space_root(as), 0, 0, (ref_i128)GM_SIZE_2_64, false, false,
               out);
    for (size_t i = 0; i < out->n; i++) {
        struct ref_range *p = n ? &out->v[n - 1] : NULL;
        const struct ref_range *q = &out->v[i];

        if (p && p->end == q->start && p->region == q->region &&
            p->offset + (uint64_t)(p->end - p->start) == q->offset &&
            p->readonly == q->readonly && p->nonvolatile == q->nonvolatile) {
            p->end = q->end;
        } else {
            out->v[n++] = *q;
        }
    }
    out->n = n;
}

static int section_push(const struct gm_section *s, void *opaque)
{
    struct ref_range r = {s->addr, (gm_u128)s->addr + s->size, s->region,
                          s->offset_in_region, s->readonly, s->nonvolatile};

    ref_push(opaque, r);
    return 0;
}

static bool range_eq(const struct ref_range *a, const struct ref_range *b)
{
    return a->start == b->start && a->end == b->end &&
           a->region == b->region && a->offset == b->offset &&
           a->readonly == b->readonly && a->nonvolatile == b->nonvolatile;
}

static void print_range(const char *who, const struct ref_vec *v, size_t i)
{
    const struct ref_range *r;

    if (i >= v->n) {
        printf("  %s: (no range)\n", who);
        return;
    }
    r = &v->v[i];
    printf("  %s: [0x%016" PRIx64 ", 0x%016" PRIx64 "] '%s' +0x%" PRIx64
           "%s%s\n",
           who, (uint64_t)r->start, (uint64_t)(r->end - 1),
           gm_region_name(r->region), r->offset, r->readonly ? " ro" : "",
           r->nonvolatile ? " nv" : "");
}

/*
 * check_space() - compare @as's flat view with the reference render.
 * @verbose: print the first difference.
 * Return: 0 when equal, -1 when they differ.
 */
static int check_space(gm_space *as, bool verbose)
{
    struct ref_vec lib = {0}, ref = {0};
    gm_flatview *fv = gm_space_get_flatview(as);
    size_t i;
    int ret = 0;

    gm_flatview_foreach(fv, section_push, &lib);
    gm_flatview_unref(fv);
    ref_render_space(as, &ref);
    for (i = 0; i < lib.n && i < ref.n; i++) {
        if (!range_eq(&lib.v[i], &ref.v[i])) {
            break;
        }
    }
    if ((i < lib.n || i < ref.n) && verbose) {
        printf(BENCH_NAME ": WRONG: the flat view of '%s' (%zu ranges) "
               "differs from the reference render (%zu ranges) at range "
               "%zu:\n",
               gm_space_name(as), lib.n, ref.n, i);
        print_range("library  ", &lib, i);
        print_range("reference", &ref, i);
    }
    if (i < lib.n || i < ref.n) {
        ret = -1;
    }
    free(lib.v);
    free(ref.v);
    return ret;
}

/*
 * The machine.
 */

struct device {
    gm_region *bm_root;  /* bus master container: root of bm_as */
    gm_region *bm_alias; /* system memory, disabled until bus mastering */
    gm_space *bm_as;
    gm_region *bar[2];   /* BAR0 (4 KiB, doorbell), BAR1 (16 KiB) */
    int fd;              /* the doorbell's eventfd, or -1 */
};

/* What the KVM-like listener was told. */
struct kvm_counts {
    unsigned long begin;
    unsigned long add;
    unsigned long del;
    unsigned long evfd_add;
    unsigned long evfd_del;
};

struct machine {
    gm_system *sys;
    gm_region *sysmem, *ram, *ram_below, *ram_above, *bios, *isa_bios;
    gm_region *pci, *pci_hole, *pci_hole64, *io;
    gm_region *legacy[NR_LEGACY];
    gm_space *mem_as, *io_as;
    struct device *dev;
    size_t n;                  /* devices */
    gm_listener *kvm;          /* NULL without the listener */
    struct kvm_counts counts;  /* since the listener's replay */
    struct kvm_counts replay;  /* what its registration replayed */
    unsigned long commits;     /* mutating calls of the sequence */
    unsigned long warnings;    /* from the system's warning handler */
};

static void kvm_begin(void *opaque)
{
    ((struct kvm_counts *)opaque)->begin++;
}

static void kvm_add(void *opaque, const struct gm_section *s)
{
    ((struct kvm_counts *)opaque)->add++;
}

static void kvm_del(void *opaque, const struct gm_section *s)
{
    ((struct kvm_counts *)opaque)->del++;
}

static void kvm_evfd_add(void *opaque, const struct gm_section *s,
                         bool match_data, uint64_t data, int fd)
{
    ((struct kvm_counts *)opaque)->evfd_add++;
}

static void kvm_evfd_del(void *opaque, const struct gm_section *s,
                         bool match_data, uint64_t data, int fd)
{
    ((struct kvm_counts *)opaque)->evfd_del++;
}

static const struct gm_listener_ops kvm_ops = {
    .begin = kvm_begin,
    .region_add = kvm_add,
    .region_del = kvm_del,
    .eventfd_add = kvm_evfd_add,
    .eventfd_del = kvm_evfd_del,
};

static void count_warning(void *opaque, const char *msg)
{
    struct machine *m = opaque;

    if (!m->warnings) {
        fprintf(stderr, BENCH_NAME ": warning: %s\n", msg);
    }
    m->warnings++;
}

/*
 * machine_free() - drop every reference and destroy the system.
 * Return: 0, or -1 after printing why the system could not be destroyed.
 */
static int machine_free(struct machine *m)
{
    gm_error err;
    int ret = 0;
    int rc;

    gm_error_clear(&err);
    for (size_t i = 0; m->dev && i < m->n; i++) {
        struct device *d = &m->dev[i];

        gm_region_unref(d->bar[0]);
        gm_region_unref(d->bar[1]);
        gm_region_unref(d->bm_alias);
        gm_region_unref(d->bm_root);
    }
    for (size_t i = 0; i < NR_LEGACY; i++) {
        gm_region_unref(m->legacy[i]);
    }
    gm_region_unref(m->io);
    gm_region_unref(m->pci_hole64);
    gm_region_unref(m->pci_hole);
    gm_region_unref(m->pci);
    gm_region_unref(m->isa_bios);
    gm_region_unref(m->bios);
    gm_region_unref(m->ram_above);
    gm_region_unref(m->ram_below);
    gm_region_unref(m->ram);
    gm_region_unref(m->sysmem);
    if (m->sys) {
        /* Spaces and the listener go with the system. */
        rc = gm_system_destroy(m->sys, &err);
        if (rc) {
            fail("gm_system_destroy", rc, &err);
            ret = -1;
        }
    }
    for (size_t i = 0; m->dev && i < m->n; i++) {
        if (m->dev[i].fd >= 0) {
            close(m->dev[i].fd);
        }
    }
    free(m->dev);
    memset(m, 0, sizeof(*m));
    return ret;
}

/* Return: 0, or -1 after printing that @what failed. */
static int made(const void *p, const char *what, const gm_error *err)
{
    if (!p) {
        fail(what, err->code, err);
        return -1;
    }
    return 0;
}

static int add(gm_region *parent, uint64_t addr, gm_region *child,
               gm_error *err)
{
    int rc = gm_region_add_subregion(parent, addr, child, err);

    if (rc) {
        fail("gm_region_add_subregion", rc, err);
        return -1;
    }
    return 0;
}

static int add_overlap(gm_region *parent, uint64_t addr, gm_region *child,
                       int priority, gm_error *err)
{
    int rc = gm_region_add_subregion_overlap(parent, addr, child, priority,
                                             err);

    if (rc) {
        fail("gm_region_add_subregion_overlap", rc, err);
        return -1;
    }
    return 0;
}

static int disable(gm_region *r, gm_error *err)
{
    int rc = gm_region_set_enabled(r, false, err);

    if (rc) {
        fail("gm_region_set_enabled", rc, err);
        return -1;
    }
    return 0;
}

/* The board: RAM, BIOS, I/O ports, PCI holes. */
static int board_populate(struct machine *m, gm_error *err)
{
    gm_system *sys = m->sys;

    m->sysmem = gm_region_new_container(sys, "system", GM_SIZE_2_64, err);
    if (made(m->sysmem, "gm_region_new_container", err)) {
        return -1;
    }
    m->mem_as = gm_space_new(sys, m->sysmem, "memory", err);
    if (made(m->mem_as, "gm_space_new", err)) {
        return -1;
    }
    m->ram = gm_region_new_ram(sys, "pc.ram", RAM_SIZE, err);
    if (made(m->ram, "gm_region_new_ram", err)) {
        return -1;
    }
    m->ram_below = gm_region_new_alias(sys, "ram-below-4g", m->ram, 0,
                                       RAM_BELOW_4G, err);
    m->ram_above = m->ram_below
                       ? gm_region_new_alias(sys, "ram-above-4g", m->ram,
                                             RAM_BELOW_4G,
                                             RAM_SIZE - RAM_BELOW_4G, err)
                       : NULL;
    if (made(m->ram_above, "gm_region_new_alias", err) ||
        add(m->sysmem, 0, m->ram_below, err) ||
        add(m->sysmem, 4 * GIB, m->ram_above, err)) {
        return -1;
    }
    m->bios = gm_region_new_rom(sys, "pc.bios", BIOS_SIZE, err);
    m->isa_bios = m->bios ? gm_region_new_alias(sys, "isa-bios", m->bios,
                                                BIOS_SIZE - ISA_BIOS_SIZE,
                                                ISA_BIOS_SIZE, err)
                          : NULL;
    if (made(m->isa_bios, "gm_region_new_rom/alias", err) ||
        add(m->sysmem, 4 * GIB - BIOS_SIZE, m->bios, err) ||
        add_overlap(m->sysmem, ISA_BIOS_ADDR, m->isa_bios, 1, err)) {
        return -1;
    }
    m->pci = gm_region_new_container(sys, "pci", GM_SIZE_2_64, err);
    m->pci_hole = m->pci ? gm_region_new_alias(sys, "pci-hole", m->pci,
                                               PCI_HOLE_START,
                                               PCI_HOLE_END - PCI_HOLE_START,
                                               err)
                         : NULL;
    m->pci_hole64 = m->pci_hole
                        ? gm_region_new_alias(sys, "pci-hole64", m->pci,
                                              PCI_HOLE64_START,
                                              PCI_HOLE64_SIZE, err)
                        : NULL;
    if (made(m->pci_hole64, "gm_region_new_container/alias", err) ||
        add(m->sysmem, PCI_HOLE_START, m->pci_hole, err) ||
        add(m->sysmem, PCI_HOLE64_START, m->pci_hole64, err)) {
        return -1;
    }
    m->io = gm_region_new_container(sys, "io", IO_SPACE_SIZE, err);
    if (made(m->io, "gm_region_new_container", err)) {
        return -1;
    }
    m->io_as = gm_space_new(sys, m->io, "I/O", err);
    if (made(m->io_as, "gm_space_new", err)) {
        return -1;
    }
    for (size_t i = 0; i < NR_LEGACY; i++) {
        m->legacy[i] = gm_region_new_io(sys, legacy[i].name, legacy[i].size,
                                        &dev_ops, m, err);
        if (made(m->legacy[i], "gm_region_new_io", err) ||
            add(m->io, legacy[i].port, m->legacy[i], err)) {
            return -1;
        }
    }
    return 0;
}

/* Device @i: its bus-master space, its BARs (off, at 0), its eventfd. */
static int device_populate(struct machine *m, size_t i, gm_error *err)
{
    static const uint64_t bar_size[2] = {BAR0_SIZE, BAR1_SIZE};
    struct device *d = &m->dev[i];
    gm_system *sys = m->sys;
    char name[64];

    snprintf(name, sizeof(name), "dev%zu.bus-master-container", i);
    d->bm_root = gm_region_new_container(sys, name, GM_SIZE_2_64, err);
    if (made(d->bm_root, "gm_region_new_container", err)) {
        return -1;
    }
    snprintf(name, sizeof(name), "dev%zu.bus-master", i);
    d->bm_alias =
        gm_region_new_alias(sys, name, m->sysmem, 0, GM_SIZE_2_64, err);
    if (made(d->bm_alias, "gm_region_new_alias", err) ||
        disable(d->bm_alias, err) || add(d->bm_root, 0, d->bm_alias, err)) {
        return -1;
    }
    snprintf(name, sizeof(name), "dev%zu", i);
    d->bm_as = gm_space_new(sys, d->bm_root, name, err);
    if (made(d->bm_as, "gm_space_new", err)) {
        return -1;
    }
    for (int b = 0; b < 2; b++) {
        snprintf(name, sizeof(name), "dev%zu.bar%d", i, b);
        d->bar[b] = gm_region_new_io(sys, name, bar_size[b], &dev_ops, d, err);
        if (made(d->bar[b], "gm_region_new_io", err) ||
            disable(d->bar[b], err) ||
            add_overlap(m->pci, 0, d->bar[b], BAR_PRIORITY, err)) {
            return -1;
        }
    }
    d->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (d->fd < 0) {
        perror(BENCH_NAME ": eventfd");
        return -1;
    }
    return 0;
}

/*
 * machine_new() - build the machine with @n devices in one transaction,
 * then register the listener when @listen.
 * Return: 0, or -1 after printing what failed (nothing is left allocated).
 */
static int machine_new(struct machine *m, size_t n, bool listen)
{
    gm_error err;
    int rc;

    memset(m, 0, sizeof(*m));
    gm_error_clear(&err);
    m->sys = gm_system_new(&err);
    if (made(m->sys, "gm_system_new", &err)) {
        return -1;
    }
    gm_system_set_warn_handler(m->sys, count_warning, m);
    m->dev = calloc(n, sizeof(*m->dev));
    if (!m->dev) {
        oom();
    }
    m->n = n;
    for (size_t i = 0; i < n; i++) {
        m->dev[i].fd = -1;
    }
    rc = gm_transaction_begin(m->sys);
    if (rc) {
        fail("gm_transaction_begin", rc, NULL);
        machine_free(m);
        return -1;
    }
    rc = board_populate(m, &err);
    for (size_t i = 0; i < n && !rc; i++) {
        rc = device_populate(m, i, &err);
    }
    if (gm_transaction_commit(m->sys, &err) && !rc) {
        fail("gm_transaction_commit", err.code, &err);
        rc = -1;
    }
    if (!rc && listen) {
        m->kvm = gm_listener_register(m->sys, &kvm_ops, &m->counts, 0,
                                      m->mem_as, &err);
        if (made(m->kvm, "gm_listener_register", &err)) {
            rc = -1;
        }
        m->replay = m->counts;
        memset(&m->counts, 0, sizeof(m->counts));
    }
    if (rc) {
        machine_free(m);
        return -1;
    }
    return 0;
}

/*
 * check_views() - compare every space's flat view with the reference.
 * Return: 0, or -1 after printing the first difference and how many
 * views differ.
 */
static int check_views(struct machine *m)
{
    /* System memory first: the space the issue is about. */
    unsigned long wrong = 0;

    wrong += check_space(m->mem_as, !wrong) != 0;
    wrong += check_space(m->io_as, !wrong) != 0;
    for (size_t i = 0; i < m->n; i++) {
        wrong += check_space(m->dev[i].bm_as, !wrong) != 0;
    }
    if (wrong) {
        printf(BENCH_NAME ": WRONG: after %lu commits, %lu of %zu flat views "
               "differ from the reference\n",
               m->commits, wrong, m->n + 2);
        return -1;
    }
    return 0;
}

/*
 * The firmware's sequence, and the baseline that re-renders every space
 * after every commit.
 */

/* The brute-force baseline's state. */
struct brute {
    unsigned stride;       /* render after every stride-th commit */
    unsigned long check_at; /* compare the views after this commit, or 0 */
    unsigned long samples; /* commits after which everything was rendered */
    double seconds;        /* spent rendering */
    unsigned long ranges;  /* ranges rendered in all */
};

/* Render every space of @m once, timed. */
static void brute_render_all(struct machine *m, struct brute *bf)
{
    struct ref_vec v = {0};
    unsigned long ranges = 0;
    double t0 = now_s();

    ref_render_space(m->mem_as, &v);
    ranges += v.n;
    free(v.v);
    memset(&v, 0, sizeof(v));
    ref_render_space(m->io_as, &v);
    ranges += v.n;
    free(v.v);
    for (size_t i = 0; i < m->n; i++) {
        memset(&v, 0, sizeof(v));
        ref_render_space(m->dev[i].bm_as, &v);
        ranges += v.n;
        free(v.v);
    }
    bf->seconds += now_s() - t0;
    bf->samples++;
    bf->ranges += ranges;
}

/*
 * step() - one mutating call of the sequence returned @rc: count its
 * commit and, with a baseline, re-render everything when it is sampled
 * and check the views at the chosen commit.
 * Return: 0, or -1 after printing that @what failed or what is wrong.
 */
static inline int step(struct machine *m, int rc, const char *what,
                       const gm_error *err, struct brute *bf)
{
    if (rc) {
        fail(what, rc, err);
        return -1;
    }
    m->commits++;
    if (bf && m->commits % bf->stride == 0) {
        brute_render_all(m, bf);
    }
    if (bf && m->commits == bf->check_at && check_views(m)) {
        return -1;
    }
    return 0;
}

/*
 * firmware() - place every device's BARs, enable its bus mastering and
 * add its doorbell, one commit per call; @bf, when not NULL, re-renders
 * every space after (sampled) commits and checks the views half-way.
 * Return: 0, or -1 after printing what failed.
 */
static int firmware(struct machine *m, struct brute *bf)
{
    gm_error err;

    gm_error_clear(&err);
    for (size_t i = 0; i < m->n; i++) {
        struct device *d = &m->dev[i];
        uint64_t base = PCI_HOLE_START + (uint64_t)i * DEV_STRIDE;
        const uint64_t addr[2] = {base + BAR1_SIZE, base};

        for (int b = 0; b < 2; b++) {
            if (step(m, gm_region_set_enabled(d->bar[b], false, &err),
                     "gm_region_set_enabled", &err, bf) ||
                step(m, gm_region_set_address(d->bar[b], addr[b], &err),
                     "gm_region_set_address", &err, bf) ||
                step(m, gm_region_set_enabled(d->bar[b], true, &err),
                     "gm_region_set_enabled", &err, bf)) {
                return -1;
            }
        }
        if (step(m, gm_region_set_enabled(d->bm_alias, true, &err),
                 "gm_region_set_enabled", &err, bf) ||
            step(m,
                 gm_region_add_eventfd(d->bar[0], DOORBELL_OFFSET, 4, false,
                                       0, d->fd, &err),
                 "gm_region_add_eventfd", &err, bf)) {
            return -1;
        }
    }
    return 0;
}

/*
 * check_machine() - after the sequence: the commit count, the listener's
 * counts and, when @views, every space's flat view against the reference.
 * Return: 0, or -1 after printing what is wrong.
 */
static int check_machine(struct machine *m, bool views)
{
    unsigned long n = m->n;
    int ret = 0;

    if (m->commits != COMMITS_PER_DEV * n) {
        printf(BENCH_NAME ": WRONG: %lu commits for %lu devices\n",
               m->commits, n);
        ret = -1;
    }
    if (m->kvm) {
        const struct kvm_counts *c = &m->counts;
        gm_flatview *fv = gm_space_get_flatview(m->mem_as);
        unsigned long nr = (unsigned long)gm_flatview_nr_ranges(fv);
        unsigned long live = m->replay.add + c->add - c->del;

        gm_flatview_unref(fv);
        if (c->add != 2 * n || c->del != 0 || c->evfd_add != n ||
            c->evfd_del != 0 || live != nr) {
            printf(BENCH_NAME ": WRONG: for %lu devices the listener saw "
                   "%lu region_add, %lu region_del, %lu eventfd_add, %lu "
                   "eventfd_del (expected %lu, 0, %lu, 0); it holds %lu "
                   "ranges, the view %lu\n",
                   n, c->add, c->del, c->evfd_add, c->evfd_del, 2 * n, n,
                   live, nr);
            ret = -1;
        }
    }
    if (views && check_views(m)) {
        ret = -1;
    }
    return ret;
}

/*
 * run_machines() - build @machines machines of size @s one after the
 * other and time their sequences.
 * @check: also compare the first machine's flat views with the reference.
 * @seen: when not NULL, what the listener of the last machine was told.
 * Return: 0 and *@seconds, the mean time of one machine's sequence; or -1
 * after printing what failed or was wrong.
 */
static int run_machines(const struct bench_size *s, unsigned machines,
                        bool listen, bool check, double *seconds,
                        struct kvm_counts *seen)
{
    struct machine m;
    double total = 0, t0;

    for (unsigned k = 0; k < machines; k++) {
        if (machine_new(&m, s->n, listen)) {
            return -1;
        }
        t0 = now_s();
        if (firmware(&m, NULL)) {
            machine_free(&m);
            return -1;
        }
        total += now_s() - t0;
        if (check_machine(&m, check && k == 0)) {
            machine_free(&m);
            return -1;
        }
        if (m.warnings) {
            printf(BENCH_NAME ": WRONG: %lu warnings building or booting "
                   "the machine\n",
                   m.warnings);
            machine_free(&m);
            return -1;
        }
        if (seen) {
            *seen = m.counts;
        }
        if (machine_free(&m)) {
            return -1;
        }
    }
    *seconds = total / machines;
    return 0;
}

/*
 * run_brute() - the baseline: the same sequence on a machine of size @s
 * (no listener), every space re-rendered after every @stride-th commit.
 * @check: also compare every flat view with the reference half-way, when
 *         device N / 2 has BAR0 enabled, BAR1 moved but still disabled and
 *         bus mastering off, and later devices are untouched (the end
 *         state, checked by run_machines(), has everything enabled).
 * Return: 0 and *@us, the mean render time per sampled commit in
 * microseconds, *@samples; or -1 after printing what failed.
 */
static int run_brute(const struct bench_size *s, unsigned stride, bool check,
                     double *us, unsigned long *samples)
{
    struct brute bf = {stride, check ? s->n / 2 * COMMITS_PER_DEV + 5 : 0, 0,
                       0, 0};
    struct machine m;

    if (machine_new(&m, s->n, false)) {
        return -1;
    }
    if (firmware(&m, &bf)) {
        machine_free(&m);
        return -1;
    }
    if (machine_free(&m)) {
        return -1;
    }
    if (!bf.samples || !bf.ranges) {
        printf(BENCH_NAME ": the baseline rendered nothing\n");
        return -1;
    }
    *us = bf.seconds / (double)bf.samples * 1e6;
    *samples = bf.samples;
    return 0;
}

/*
 * Output.
 */

/* @v in seconds, printed with a unit that keeps 3 or 4 digits. */
static void fmt_time(char *buf, size_t len, double v)
{
    if (v >= 1) {
        snprintf(buf, len, "%.2f s", v);
    } else if (v >= 1e-3) {
        snprintf(buf, len, "%.2f ms", v * 1e3);
    } else {
        snprintf(buf, len, "%.2f us", v * 1e6);
    }
}

static void row(const char *what, const char *value, const char *target, int ok)
{
    printf("| %-44s | %10s | %-7s | %-4s |\n", what, value, target,
           ok < 0 ? ""
           : ok   ? "ok"
                  : "MISS");
}

static int parse_args(int argc, char **argv, struct bench_opts *o)
{
    int rc;

    o->repeats = 3;
    o->nr_sizes = NR_SIZES;
    o->one_machine = false;
    o->strict = 0;
    rc = bench_parse(argc, argv, MAX_REPEATS, &o->repeats, &o->strict);
    if (rc == 1) {
        o->nr_sizes = 2;
        o->one_machine = true;
    }
    return rc < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
    double t_listen[NR_SIZES], t_plain[NR_SIZES], bf_us[NR_SIZES];
    unsigned long bf_samples[NR_SIZES], commits[NR_SIZES];
    unsigned bf_stride[NR_SIZES];
    double tl[MAX_REPEATS], tp[MAX_REPEATS], tb[MAX_REPEATS];
    struct kvm_counts seen[NR_SIZES];
    struct bench_opts o;
    char buf[64], b1[32], b2[32], b3[32], b4[32], b5[32];
    int missed = 0;
    int ok;

    if (parse_args(argc, argv, &o)) {
        return 2;
    }
    for (int s = 0; s < o.nr_sizes; s++) {
        const struct bench_size *sz = &sizes[s];
        unsigned machines = o.one_machine ? 1 : sz->machines;
        unsigned stride = o.one_machine ? sz->quick_stride : sz->bf_stride;

        for (int r = 0; r < o.repeats; r++) {
            if (run_machines(sz, machines, true, r == 0, &tl[r], &seen[s]) ||
                run_machines(sz, machines, false, false, &tp[r], NULL) ||
                run_brute(sz, stride, r == 0, &tb[r], &bf_samples[s])) {
                return 1;
            }
        }
        t_listen[s] = median(tl, o.repeats);
        t_plain[s] = median(tp, o.repeats);
        bf_us[s] = median(tb, o.repeats);
        commits[s] = COMMITS_PER_DEV * (unsigned long)sz->n;
        bf_stride[s] = stride;
    }

    printf("guestmem %s machine benchmark: median of %d run%s\n\n",
           gm_version_string(), o.repeats, o.repeats == 1 ? "" : "s");
    printf("N PCI devices, N + 2 address spaces; timed: per device, each "
           "BAR disabled,\nmoved, enabled, then bus mastering on and the "
           "doorbell added: %u commits.\nbrute force: every space "
           "re-rendered by the reference renderer per commit.\n\n",
           COMMITS_PER_DEV);
    printf("| %5s | %7s | %10s | %10s | %11s | %11s | %10s | %9s |\n", "N",
           "commits", "sequence", "per commit", "no listener",
           "brute force", "bf total", "lib / bf");
    printf("|------:|--------:|-----------:|-----------:|------------:|"
           "------------:|-----------:|----------:|\n");
    for (int s = 0; s < o.nr_sizes; s++) {
        double per = t_listen[s] / (double)commits[s];

        fmt_time(b1, sizeof(b1), t_listen[s]);
        fmt_time(b2, sizeof(b2), per);
        fmt_time(b3, sizeof(b3), t_plain[s] / (double)commits[s]);
        fmt_time(b4, sizeof(b4), bf_us[s] * 1e-6);
        fmt_time(b5, sizeof(b5), bf_us[s] * 1e-6 * (double)commits[s]);
        printf("| %5s | %7lu | %10s | %10s | %11s | %11s | %10s | %9.3g |\n",
               sizes[s].label, commits[s], b1, b2, b3, b4, b5,
               per / (bf_us[s] * 1e-6));
    }
    for (int s = 0; s < o.nr_sizes; s++) {
        if (bf_samples[s] != commits[s]) {
            printf("\nbrute force at N = %s: one commit in %u rendered "
                   "(%lu of %lu), the mean extrapolated to all.\n",
                   sizes[s].label, bf_stride[s], bf_samples[s], commits[s]);
        }
    }

    printf("\n| %-44s | %10s | %-7s | %-4s |\n", "measurement", "value",
           "target", "");
    printf("|----------------------------------------------|-----------:|"
           "---------|------|\n");
    if (o.nr_sizes == NR_SIZES) {
        double growth = t_listen[2] / t_listen[1];
        double ratio = (t_listen[2] / (double)commits[2]) /
                       (t_listen[0] / (double)commits[0]);

        snprintf(buf, sizeof(buf), "%.2f", growth);
        ok = growth <= TARGET_GROWTH;
        missed |= !ok;
        row("t(1,000) / t(100), linear: 10", buf, "<= 12", ok);
        snprintf(buf, sizeof(buf), "%.2f", ratio);
        ok = ratio <= TARGET_COMMIT_RATIO;
        missed |= !ok;
        row("mean commit at 1,000 / at 10, flat: 1", buf, "<= 2", ok);
        snprintf(buf, sizeof(buf), "%.2f", t_plain[2] / t_plain[1]);
        row("    no listener: t(1,000) / t(100)", buf, "", -1);
        snprintf(buf, sizeof(buf), "%.2f",
                 (t_plain[2] / (double)commits[2]) /
                     (t_plain[0] / (double)commits[0]));
        row("    no listener: commit at 1,000 / at 10", buf, "", -1);
    } else {
        row("t(1,000) / t(100): not measured (--quick)", "", "<= 12", -1);
        row("mean commit at 1,000 / at 10: not measured", "", "<= 2", -1);
    }
    snprintf(buf, sizeof(buf), "%.2f", t_listen[1] / t_listen[0]);
    row("t(100) / t(10), linear: 10", buf, "", -1);
    for (int s = 0; s < o.nr_sizes; s++) {
        const struct kvm_counts *c = &seen[s];
        double n = (double)sizes[s].n;
        char what[64];

        snprintf(what, sizeof(what), "listener at N = %s, per device",
                 sizes[s].label);
        snprintf(buf, sizeof(buf), "%.0f/%.0f/%.0f/%.1f", (double)c->add / n,
                 (double)c->del / n, (double)c->evfd_add / n,
                 (double)c->begin / n);
        row(what, buf, "", -1);
    }
    printf("\nlistener: region_add/region_del/eventfd_add/updates (begin) "
           "per device;\nthe first three as expected (2/0/1) on every "
           "machine.\ncorrect: at every N, the flat views of all N + 2 "
           "spaces equal the reference render,\nhalf-way through the "
           "sequence and at its end.\n");
    if (missed) {
        printf("\nsome targets were missed%s\n",
               o.strict ? "" : " (not fatal without --strict)");
    }
    return missed && o.strict ? 1 : 0;
}
