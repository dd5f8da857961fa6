/* SPDX-License-Identifier: MIT */
/*
 * test-kvm-guest.c - the KVM backend checked through a real guest.
 *
 * Each test builds a small machine, mirrors it into a KVM VM and runs the
 * command interpreter of guest-interp.S on one vCPU (64-bit, CPL3: the
 * setup of tools/vmm/x86.c): the guest loads and stores what the test
 * asks and leaves the values it read in RAM. What the guest saw is compared
 * with what the host reads through the API (the truth), and the exit
 * counters tell whether an access went through a memslot (no exit) or
 * through the access path (an exit):
 *
 *  - after topology changes, RAM and ROM are read without exits and show
 *    the right data, MMIO exits, and the slots are the view's RAM pages;
 *  - pages the guest writes are exactly the dirty ones after log_sync, and
 *    a region unmapped while logging keeps its bits;
 *  - guest writes to ROM exit and are ignored; romd toggles both ways;
 *  - an ioeventfd fires for its value only, without an exit;
 *  - MMIO and port exits reach the callback with size, data, byte order;
 *  - coalesced writes reach the device in order before its next read.
 *
 * Without /dev/kvm the program prints a SKIP line and exits 77.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <guestmem/guestmem.h>

#include "harness.h"
#include "vmm.h"

extern const uint8_t gm_test_guest_start[], gm_test_guest_end[];

#define CMDS 0x3000
#define RESULTS 0x8000
#define MAX_CMDS 200

enum { OP_END, OP_LOAD, OP_STORE, OP_OUT, OP_IN };

struct cmd {
    uint32_t op, size;
    uint64_t addr, value;
};

struct tvm {
    gm_system *sys;
    gm_region *mroot, *ioroot, *ram;
    gm_space *mem, *io;
    gm_kvm *kvm;
    gm_kvm_vcpu *v;
    struct cmd cmd[MAX_CMDS + 1];
    unsigned n;
    uint64_t result[MAX_CMDS];
    struct gm_kvm_exit exit;
    bool done;
};

int vmm_err(gm_error *err, int code, const char *fmt, ...)
{
    va_list ap;

    if (err) {
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return code;
}

static void exit_write(void *opaque, uint64_t off, uint64_t v, unsigned size)
{
    struct tvm *t = opaque;

    (void)off;
    (void)v;
    (void)size;
    t->done = true;
    gm_kvm_vcpu_kick(t->v); /* this thread: KVM_RUN returns at once */
}

static const struct gm_region_ops exit_ops = {
    .write = exit_write,
    .endianness = GM_ENDIAN_LITTLE,
};

/* Place @r in @parent at @addr with @prio and drop the caller's reference. */
static void place(gm_region *parent, uint64_t addr, gm_region *r, int prio)
{
    CHECK(r != NULL);
    CHECK_EQ_INT(gm_region_add_subregion_overlap(parent, addr, r, prio, NULL),
                 0);
    gm_region_unref(r);
}

static bool tvm_init(struct tvm *t)
{
    gm_error err = {0};

    memset(t, 0, sizeof(*t));
    t->sys = gm_system_new(NULL);
    t->mroot = gm_region_new_container(t->sys, "system", GM_SIZE_2_64, NULL);
    t->ioroot = gm_region_new_container(t->sys, "io", 0x10000, NULL);
    t->mem = gm_space_new(t->sys, t->mroot, "memory", NULL);
    t->io = gm_space_new(t->sys, t->ioroot, "io", NULL);
    gm_region_unref(t->mroot);
    gm_region_unref(t->ioroot);
    t->ram = gm_region_new_ram(t->sys, "low-ram", 16u << 20, NULL);
    place(t->mroot, 0, t->ram, 0);
    place(t->ioroot, 0x501, gm_region_new_io(t->sys, "exit", 2, &exit_ops, t,
                                              NULL), 0);
    CHECK_EQ_INT(gm_space_write(t->mem, vmm_x86_default.entry,
                                gm_test_guest_start,
                                (size_t)(gm_test_guest_end -
                                         gm_test_guest_start),
                                GM_ATTRS_DEFAULT),
                 GM_RESULT_OK);
    CHECK_EQ_INT(vmm_x86_setup_memory(t->mem, &vmm_x86_default, &err), 0);
    t->kvm = gm_kvm_open(t->sys, NULL, &err);
    if (!t->kvm) {
        HARNESS_FAIL("gm_kvm_open: %s", err.msg);
        return false;
    }
    CHECK_EQ_INT(gm_kvm_attach_memory(t->kvm, t->mem, 0, &err), 0);
    CHECK_EQ_INT(gm_kvm_attach_io(t->kvm, t->io, &err), 0);
    t->v = gm_kvm_vcpu_new(t->kvm, 0, &err);
    if (!t->v) {
        HARNESS_FAIL("gm_kvm_vcpu_new: %s", err.msg);
        return false;
    }
    if (vmm_x86_setup_vcpu(gm_kvm_vcpu_fd(t->v), &vmm_x86_default, 0, 1,
                           &err)) {
        HARNESS_FAIL("vmm_x86_setup_vcpu: %s", err.msg);
        return false;
    }
    return true;
}

static void tvm_fini(struct tvm *t)
{
    gm_kvm_close(t->kvm);
    gm_space_destroy(t->io, NULL);
    gm_space_destroy(t->mem, NULL);
    CHECK_EQ_INT(gm_system_destroy(t->sys, NULL), 0);
}

static unsigned tvm_cmd(struct tvm *t, uint32_t op, uint32_t size,
                        uint64_t addr, uint64_t value)
{
    CHECK(t->n < MAX_CMDS);
    t->cmd[t->n] = (struct cmd){op, size, addr, value};
    return t->n++;
}

/* Run the queued commands; false if the guest did not end normally. */
static bool tvm_run(struct tvm *t)
{
    gm_error err = {0};

    t->cmd[t->n] = (struct cmd){OP_END, 0, 0, 0};
    CHECK_EQ_INT(gm_space_write(t->mem, CMDS, t->cmd,
                                (t->n + 1) * sizeof(t->cmd[0]),
                                GM_ATTRS_DEFAULT),
                 GM_RESULT_OK);
    CHECK_EQ_INT(vmm_x86_reset_vcpu(gm_kvm_vcpu_fd(t->v), &vmm_x86_default,
                                    0, 1, &err),
                 0);
    t->done = false;
    for (int tries = 0; !t->done && tries < 4; tries++) {
        if (gm_kvm_vcpu_run(t->v, &t->exit) || t->exit.reason != KVM_EXIT_INTR) {
            HARNESS_FAIL("vCPU stopped: reason %u, error %d", t->exit.reason,
                         t->exit.err);
            return false;
        }
    }
    CHECK(t->done);
    gm_space_read(t->mem, RESULTS, t->result, t->n * sizeof(t->result[0]),
                  GM_ATTRS_DEFAULT);
    t->n = 0;
    return t->done;
}

static uint64_t host_load(gm_space *as, uint64_t addr, unsigned size)
{
    uint64_t v = 0;

    gm_space_load(as, addr, size, GM_ENDIAN_LITTLE, &v, GM_ATTRS_DEFAULT);
    return v;
}

static uint64_t mmio_read(void *opaque, uint64_t off, unsigned size)
{
    (void)opaque;
    (void)size;
    return 0xd0d0d0d000000000ull | off;
}

static const struct gm_region_ops mmio_ops = {
    .read = mmio_read,
    .endianness = GM_ENDIAN_LITTLE,
    .impl = {.max_access_size = 8},
};

static int count_slot(const struct gm_kvm_slot_info *s, void *opaque)
{
    (void)s;
    (*(unsigned *)opaque)++;
    return 0;
}

/* Reads through the guest agree with the host; RAM does not exit. */
static void check_reads(struct tvm *t, const uint64_t *addr, size_t n,
                        unsigned expect_exits)
{
    unsigned idx[64];

    for (size_t i = 0; i < n; i++) {
        idx[i] = tvm_cmd(t, OP_LOAD, 8, addr[i], 0);
    }
    if (!tvm_run(t)) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        CHECK_EQ_U64(t->result[idx[i]], host_load(t->mem, addr[i], 8));
    }
    CHECK_EQ_U64(t->exit.mmio_exits, expect_exits);
}

static void test_slots_through_guest(void)
{
    struct tvm t;
    gm_region *a, *b, *rom, *dev, *alias;
    unsigned nslots = 0;

    if (!tvm_init(&t)) {
        tvm_fini(&t);
        return;
    }
    a = gm_region_new_ram(t.sys, "a", 1u << 20, NULL);
    b = gm_region_new_ram(t.sys, "b", 1u << 20, NULL);
    rom = gm_region_new_rom(t.sys, "rom", 0x10000, NULL);
    memset(gm_region_ram_ptr(a), 0xa1, 1u << 20);
    memset(gm_region_ram_ptr(b), 0xb2, 1u << 20);
    memset(gm_region_ram_ptr(rom), 0x5e, 0x10000);
    gm_region_ref(a);
    gm_region_ref(b);
    place(t.mroot, 0x1000000, a, 0);
    place(t.mroot, 0x2000000, b, 0);
    place(t.mroot, 0x3000000, rom, 0);

    uint64_t ram_addrs[] = {0x1000000, 0x10ffff8, 0x2000000, 0x20ffff8,
                            0x3000000, 0x300fff8};
    check_reads(&t, ram_addrs, 6, 0);

    /* An MMIO overlay in the middle of a: prefix and suffix keep slots. */
    dev = gm_region_new_io(t.sys, "dev", 0x2000, &mmio_ops, NULL, NULL);
    place(t.mroot, 0x1080000, dev, 1);
    uint64_t over[] = {0x107fff8, 0x1080000, 0x1081ff8, 0x1082000};
    check_reads(&t, over, 4, 2);

    /* Move b, alias a: the guest follows. */
    CHECK_EQ_INT(gm_region_set_address(b, 0x4000000, NULL), 0);
    alias = gm_region_new_alias(t.sys, "a-alias", a, 0x10000, 0x10000, NULL);
    place(t.mroot, 0x5000000, alias, 0);
    uint64_t moved[] = {0x4000000, 0x40ffff8, 0x5000000, 0x500fff8};
    check_reads(&t, moved, 4, 0);
    gm_kvm_foreach_slot(t.kvm, count_slot, &nslots);
    /* low RAM, a's prefix and suffix, b, rom, the alias */
    CHECK_EQ_INT(nslots, 6);
    CHECK_EQ_INT(gm_kvm_last_error(t.kvm, NULL), 0);
    gm_region_unref(a);
    gm_region_unref(b);
    tvm_fini(&t);
}

static void test_dirty_pages(void)
{
    struct tvm t;
    gm_region *r;
    uint64_t ra;
    const unsigned pages[] = {0, 5, 17, 255};

    if (!tvm_init(&t)) {
        tvm_fini(&t);
        return;
    }
    r = gm_region_new_ram(t.sys, "logged", 1u << 20, NULL);
    gm_region_ref(r);
    place(t.mroot, 0x1000000, r, 0);
    CHECK_EQ_INT(gm_region_set_log(r, true, GM_DIRTY_MIGRATION, NULL), 0);
    ra = gm_region_ram_addr(r);
    CHECK_EQ_INT(gm_space_log_sync(t.mem, r, NULL), 0);
    CHECK_EQ_INT(gm_dirty_clear(t.sys, ra, 1u << 20, GM_DIRTY_MIGRATION, NULL),
                 0);
    for (size_t i = 0; i < 4; i++) {
        tvm_cmd(&t, OP_STORE, 8, 0x1000000 + pages[i] * 4096ull + 8, i + 1);
    }
    tvm_run(&t);
    CHECK_EQ_INT(gm_space_log_sync(t.mem, r, NULL), 0);
    CHECK_EQ_U64(gm_dirty_count(t.sys, ra, 1u << 20, GM_DIRTY_MIGRATION), 4);
    for (size_t i = 0; i < 4; i++) {
        CHECK(gm_dirty_test(t.sys, ra + pages[i] * 4096ull, 4096,
                            GM_DIRTY_MIGRATION));
    }
    /* Written, then unmapped without a sync: the bit survives. */
    CHECK_EQ_INT(gm_dirty_clear(t.sys, ra, 1u << 20, GM_DIRTY_MIGRATION, NULL),
                 0);
    tvm_cmd(&t, OP_STORE, 4, 0x1000000 + 7 * 4096, 0x77);
    tvm_run(&t);
    CHECK_EQ_INT(gm_region_del_subregion(t.mroot, r, NULL), 0);
    CHECK(gm_dirty_test(t.sys, ra + 7 * 4096, 4096, GM_DIRTY_MIGRATION));
    CHECK_EQ_U64(gm_dirty_count(t.sys, ra, 1u << 20, GM_DIRTY_MIGRATION), 1);
    gm_region_unref(r);
    tvm_fini(&t);
}

static uint64_t romd_read(void *opaque, uint64_t off, unsigned size)
{
    (void)opaque;
    (void)size;
    return 0xc0de0000 | off;
}

static void romd_write(void *opaque, uint64_t off, uint64_t v, unsigned size)
{
    (*(unsigned *)opaque)++;
    (void)off;
    (void)v;
    (void)size;
}

static const struct gm_region_ops romd_ops = {
    .read = romd_read,
    .write = romd_write,
    .endianness = GM_ENDIAN_LITTLE,
};

static void test_rom_and_romd(void)
{
    struct tvm t;
    gm_region *rom, *flash;
    unsigned writes = 0, i0, i1;

    if (!tvm_init(&t)) {
        tvm_fini(&t);
        return;
    }
    rom = gm_region_new_rom(t.sys, "rom", 0x10000, NULL);
    memset(gm_region_ram_ptr(rom), 0x42, 0x10000);
    place(t.mroot, 0x3000000, rom, 0);
    flash = gm_region_new_rom_device(t.sys, "flash", 0x10000, &romd_ops,
                                     &writes, NULL);
    memset(gm_region_ram_ptr(flash), 0x99, 0x10000);
    gm_region_ref(flash);
    place(t.mroot, 0x6000000, flash, 0);

    tvm_cmd(&t, OP_STORE, 1, 0x3000010, 0x55);
    i0 = tvm_cmd(&t, OP_LOAD, 1, 0x3000010, 0);
    i1 = tvm_cmd(&t, OP_LOAD, 4, 0x6000000, 0);
    tvm_run(&t);
    CHECK_EQ_U64(t.result[i0], 0x42);                   /* write ignored */
    CHECK_EQ_U64(t.result[i1], 0x99999999);             /* romd: memory */
    CHECK_EQ_U64(t.exit.mmio_exits, 1);                 /* the ROM write */

    CHECK_EQ_INT(gm_region_set_romd(flash, false, NULL), 0);
    i0 = tvm_cmd(&t, OP_LOAD, 4, 0x6000004, 0);
    tvm_cmd(&t, OP_STORE, 1, 0x6000000, 0x90);
    tvm_run(&t);
    CHECK_EQ_U64(t.result[i0], 0xc0de0004);             /* the device */
    CHECK_EQ_U64(writes, 1);

    CHECK_EQ_INT(gm_region_set_romd(flash, true, NULL), 0);
    i0 = tvm_cmd(&t, OP_LOAD, 4, 0x6000004, 0);
    tvm_run(&t);
    CHECK_EQ_U64(t.result[i0], 0x99999999);
    CHECK_EQ_U64(t.exit.mmio_exits, 0);
    gm_region_unref(flash);
    tvm_fini(&t);
}

struct rec {
    unsigned n;
    uint64_t off[32], data[32];
    unsigned size[32];
    bool write[32];
};

static uint64_t rec_read(void *opaque, uint64_t off, unsigned size)
{
    struct rec *r = opaque;

    if (r->n < 32) {
        r->off[r->n] = off;
        r->size[r->n] = size;
        r->write[r->n] = false;
        r->data[r->n++] = 0;
    }
    return 0x1122334455667788ull >> (8 * (8 - size)); /* the top bytes */
}

static void rec_write(void *opaque, uint64_t off, uint64_t v, unsigned size)
{
    struct rec *r = opaque;

    if (r->n < 32) {
        r->off[r->n] = off;
        r->size[r->n] = size;
        r->write[r->n] = true;
        r->data[r->n++] = v;
    }
}

static void test_ioeventfd(void)
{
    struct rec rec = {0};
    const struct gm_region_ops ops = {.read = rec_read, .write = rec_write,
                                      .endianness = GM_ENDIAN_LITTLE};
    struct tvm t;
    gm_region *dev, *port;
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), pfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    uint64_t n = 0;

    CHECK(fd >= 0 && pfd >= 0);
    if (!tvm_init(&t)) {
        tvm_fini(&t);
        return;
    }
    dev = gm_region_new_io(t.sys, "bell", 0x1000, &ops, &rec, NULL);
    CHECK_EQ_INT(gm_region_add_eventfd(dev, 0, 4, true, 1, fd, NULL), 0);
    place(t.mroot, 0x7000000, dev, 0);
    port = gm_region_new_io(t.sys, "pbell", 4, &ops, &rec, NULL);
    CHECK_EQ_INT(gm_region_add_eventfd(port, 0, 2, true, 7, pfd, NULL), 0);
    place(t.ioroot, 0x700, port, 0);

    tvm_cmd(&t, OP_STORE, 4, 0x7000000, 1);
    tvm_cmd(&t, OP_STORE, 4, 0x7000000, 1);
    tvm_cmd(&t, OP_OUT, 2, 0x700, 7);
    tvm_run(&t);
    CHECK_EQ_U64(t.exit.mmio_exits, 0); /* the kernel signalled them */
    CHECK_EQ_INT(read(fd, &n, sizeof(n)), (int)sizeof(n));
    CHECK_EQ_U64(n, 2);
    CHECK_EQ_INT(read(pfd, &n, sizeof(n)), (int)sizeof(n));
    CHECK_EQ_U64(n, 1);
    CHECK_EQ_INT(rec.n, 0);

    tvm_cmd(&t, OP_STORE, 4, 0x7000000, 2); /* no match: the device */
    tvm_run(&t);
    CHECK_EQ_U64(t.exit.mmio_exits, 1);
    CHECK_EQ_INT(rec.n, 1);
    CHECK_EQ_U64(rec.data[0], 2);
    CHECK(read(fd, &n, sizeof(n)) < 0 && errno == EAGAIN);
    close(fd);
    close(pfd);
    tvm_fini(&t);
}

static void test_exits(void)
{
    struct rec le = {0}, be = {0};
    const struct gm_region_ops le_ops = {
        .read = rec_read, .write = rec_write, .endianness = GM_ENDIAN_LITTLE,
        .impl = {.max_access_size = 8}};
    const struct gm_region_ops be_ops = {
        .read = rec_read, .write = rec_write, .endianness = GM_ENDIAN_BIG,
        .impl = {.max_access_size = 8}};
    struct tvm t;
    unsigned in1, in4;

    if (!tvm_init(&t)) {
        tvm_fini(&t);
        return;
    }
    place(t.mroot, 0x8000000,
          gm_region_new_io(t.sys, "le", 0x100, &le_ops, &le, NULL), 0);
    place(t.mroot, 0x9000000,
          gm_region_new_io(t.sys, "be", 0x100, &be_ops, &be, NULL), 0);
    place(t.ioroot, 0x800,
          gm_region_new_io(t.sys, "port", 8, &le_ops, &le, NULL), 0);
    tvm_cmd(&t, OP_STORE, 1, 0x8000001, 0xab);
    tvm_cmd(&t, OP_STORE, 2, 0x8000002, 0xabcd);
    tvm_cmd(&t, OP_STORE, 4, 0x8000004, 0x01020304);
    tvm_cmd(&t, OP_STORE, 8, 0x8000008, 0x0102030405060708ull);
    tvm_cmd(&t, OP_STORE, 4, 0x9000000, 0x11223344);
    tvm_cmd(&t, OP_OUT, 1, 0x801, 0x5a);
    tvm_cmd(&t, OP_OUT, 4, 0x804, 0xcafef00d);
    in1 = tvm_cmd(&t, OP_IN, 1, 0x802, 0);
    in4 = tvm_cmd(&t, OP_IN, 4, 0x804, 0);
    tvm_run(&t);
    CHECK_EQ_U64(t.exit.mmio_exits, 5);
    CHECK_EQ_U64(t.exit.io_exits, 4);
    CHECK_EQ_INT(le.n, 8);
    const uint64_t offs[] = {1, 2, 4, 8, 1, 4, 2, 4};
    const unsigned sizes[] = {1, 2, 4, 8, 1, 4, 1, 4};
    const uint64_t data[] = {0xab, 0xabcd, 0x01020304, 0x0102030405060708ull,
                             0x5a, 0xcafef00d, 0, 0};
    for (unsigned i = 0; i < 8 && i < le.n; i++) {
        CHECK_EQ_U64(le.off[i], offs[i]);
        CHECK_EQ_INT(le.size[i], sizes[i]);
        CHECK_EQ_U64(le.data[i], data[i]);
    }
    CHECK_EQ_INT(be.n, 1);
    CHECK_EQ_U64(be.data[0], 0x44332211); /* the guest's bytes, big-endian */
    CHECK_EQ_U64(t.result[in1], 0x11);
    CHECK_EQ_U64(t.result[in4], 0x11223344);
    tvm_fini(&t);
}

struct seq {
    unsigned n;
    uint64_t v[16];
    unsigned seen_at_read; /* writes the device had when it was read */
};

static uint64_t seq_read(void *opaque, uint64_t off, unsigned size)
{
    struct seq *s = opaque;

    (void)off;
    (void)size;
    s->seen_at_read = s->n;
    return s->n;
}

static void seq_write(void *opaque, uint64_t off, uint64_t v, unsigned size)
{
    struct seq *s = opaque;

    (void)off;
    (void)size;
    if (s->n < 16) {
        s->v[s->n++] = v;
    }
}

static void test_coalesced(void)
{
    struct seq s = {0};
    const struct gm_region_ops ops = {.read = seq_read, .write = seq_write,
                                      .endianness = GM_ENDIAN_LITTLE};
    struct tvm t;
    gm_region *dev;
    unsigned i0;

    if (!tvm_init(&t)) {
        tvm_fini(&t);
        return;
    }
    dev = gm_region_new_io(t.sys, "batched", 0x1000, &ops, &s, NULL);
    CHECK_EQ_INT(gm_region_add_coalescing(dev, 0, 0x1000, NULL), 0);
    place(t.mroot, 0xa000000, dev, 0);
    for (uint64_t i = 0; i < 5; i++) {
        tvm_cmd(&t, OP_STORE, 4, 0xa000000 + 4 * i, 100 + i);
    }
    i0 = tvm_cmd(&t, OP_LOAD, 4, 0xa000000, 0);
    tvm_run(&t);
    CHECK_EQ_U64(t.result[i0], 5); /* all five arrived before the read */
    CHECK_EQ_INT(s.seen_at_read, 5);
    for (unsigned i = 0; i < 5 && i < s.n; i++) {
        CHECK_EQ_U64(s.v[i], 100 + i);
    }
    /* Five writes batched, one read exit (unless the kernel lacks it). */
    if (gm_kvm_check_extension(t.kvm, KVM_CAP_COALESCED_MMIO) > 0) {
        CHECK_EQ_U64(t.exit.mmio_exits, 1);
    }
    tvm_fini(&t);
}

int main(void)
{
    if (access("/dev/kvm", R_OK | W_OK)) {
        printf("SKIP: /dev/kvm not available (%s): the KVM guest tests "
               "need it\n", strerror(errno));
        return 77;
    }
    RUN(test_slots_through_guest);
    RUN(test_dirty_pages);
    RUN(test_rom_and_romd);
    RUN(test_ioeventfd);
    RUN(test_exits);
    RUN(test_coalesced);
    return harness_done();
}
