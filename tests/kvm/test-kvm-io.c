/* SPDX-License-Identifier: MIT */
/*
 * test-kvm-io.c - ioeventfds and coalesced MMIO in KVM (src/kvm/io.c)
 * against the fake kernel of fake-kvm.h, whose buses play the guest's
 * writes (fk_guest_bus_write: an ioeventfd signals, a coalesced zone
 * appends to the ring, anything else exits).
 *
 * ioeventfds: each becomes KVM_IOEVENTFD on the right bus (PIO for the
 * space attached with gm_kvm_attach_io, MMIO otherwise) at its absolute
 * address, with or without a data match, and goes with gm_region_del_-
 * eventfd, with its region, or with detach; an any-length one without
 * KVM_CAP_IOEVENTFD_ANY_LENGTH stays with guestmem. A refused
 * KVM_IOEVENTFD is reported and changes nothing in the kernel: the write
 * exits and the access path signals the eventfd instead.
 *
 * Coalesced MMIO: zones follow the coalesced ranges the space shows
 * (added, cleared, moved, hidden, clipped by an overlapping region), on
 * the PIO bus for the I/O space. The ring the kernel fills is drained into
 * the devices, in order: before the next transaction begins (its commit
 * finds the writes delivered), before a read from a flushing device, when
 * a replayed write itself begins a transaction, and across the ring's
 * wrap-around. The ring page is shared by the kernel through a vCPU's
 * mapping, which a backend cannot give; the test hands the VM its page
 * the way gm_kvm_vcpu_new() does (kvm->cring, src/kvm/kvm.h).
 */
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "kvm-helpers.h"

#include "../../src/kvm/kvm.h"

/* A device that logs every access in order. */
struct dev_ev {
    bool write;
    uint64_t off, data;
    unsigned size;
    uint64_t set_calls; /* KVM_SET_USER_MEMORY_REGION calls so far */
};

struct dev {
    struct km *m;
    struct dev_ev ev[4096];
    size_t n;
    /* A write of this value at this offset begins a transaction. */
    bool reenter;
    uint64_t reenter_off, reenter_data;
    gm_region *toggle;
};

static void dev_log(struct dev *d, bool w, uint64_t off, uint64_t data,
                    unsigned size)
{
    if (d->n < sizeof(d->ev) / sizeof(d->ev[0])) {
        d->ev[d->n++] = (struct dev_ev){
            w, off, data, size, d->m->fk.calls[FK_SET_USER_MEMORY_REGION]};
    }
}

static uint64_t dev_read(void *o, uint64_t off, unsigned size)
{
    dev_log(o, false, off, 0, size);
    return 0x11;
}

static void dev_write(void *o, uint64_t off, uint64_t data, unsigned size)
{
    struct dev *d = o;

    dev_log(d, true, off, data, size);
    if (d->reenter && off == d->reenter_off && data == d->reenter_data) {
        CHECK_EQ_INT(gm_region_set_enabled(d->toggle, false, NULL), 0);
    }
}

static const struct gm_region_ops dev_ops = {
    .read = dev_read,
    .write = dev_write,
    .endianness = GM_ENDIAN_LITTLE,
};

static gm_region *add_dev(struct km *m, gm_region *parent, struct dev *d,
                          const char *name, uint64_t addr, uint64_t size)
{
    gm_region *r = gm_region_new_io(m->sys, name, size, &dev_ops, d, NULL);

    CHECK(r != NULL);
    if (!r) {
        exit(1);
    }
    CHECK_EQ_INT(gm_region_add_subregion(parent, addr, r, NULL), 0);
    gm_region_unref(r);
    return r;
}

static int new_eventfd(void)
{
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

    CHECK(fd >= 0);
    if (fd < 0) {
        exit(1);
    }
    return fd;
}

/* The eventfd's count, reset (0: not signalled). */
static uint64_t efd_count(int fd)
{
    uint64_t v = 0;

    if (read(fd, &v, sizeof(v)) != sizeof(v)) {
        return 0;
    }
    return v;
}

static enum fk_bus bus_write32(struct km *m, bool pio, uint64_t addr,
                               uint32_t v)
{
    return fk_guest_bus_write(&m->fk, pio, addr, &v, 4);
}

/* An I/O space ("io", 64 KiB) attached next to m's memory space. */
static gm_space *add_io_space(struct km *m, gm_region **root)
{
    gm_space *io;

    *root = gm_region_new_container(m->sys, "io-root", 0x10000, NULL);
    io = gm_space_new(m->sys, *root, "io", NULL);
    gm_region_unref(*root);
    CHECK(io != NULL);
    CHECK_EQ_INT(gm_kvm_attach_io(m->kvm, io, NULL), 0);
    return io;
}

/* MMIO and PIO, with and without a data match: the kernel takes them. */
static void test_ioeventfd_buses(void)
{
    struct km m;
    struct dev d = {.m = &m};
    gm_region *mmio, *ioroot, *pio;
    gm_space *io;
    const struct fk_ioeventfd *e;
    int fa = new_eventfd(), fb = new_eventfd(), fc = new_eventfd();

    km_init(&m, NULL, NULL);
    io = add_io_space(&m, &ioroot);
    mmio = add_dev(&m, m.root, &d, "mmio", 0xfe000000, 0x1000);
    pio = add_dev(&m, ioroot, &d, "pio", 0x600, 0x10);
    CHECK_EQ_INT(gm_region_add_eventfd(mmio, 0x40, 4, false, 0, fa, NULL), 0);
    CHECK_EQ_INT(gm_region_add_eventfd(mmio, 0x80, 2, true, 0x1234, fb, NULL),
                 0);
    CHECK_EQ_INT(gm_region_add_eventfd(pio, 0x4, 1, true, 7, fc, NULL), 0);
    CHECK_EQ_U64(m.fk.nefds, 3);
    e = fk_find_ioeventfd(&m.fk, false, 0xfe000040);
    CHECK(e && e->len == 4 && e->wildcard && e->fd == fa);
    e = fk_find_ioeventfd(&m.fk, false, 0xfe000080);
    CHECK(e && e->len == 2 && !e->wildcard && e->datamatch == 0x1234 &&
          e->fd == fb);
    e = fk_find_ioeventfd(&m.fk, true, 0x604);
    CHECK(e && e->len == 1 && !e->wildcard && e->datamatch == 7 &&
          e->fd == fc);
    CHECK(fk_find_ioeventfd(&m.fk, true, 0xfe000040) == NULL);
    CHECK(fk_find_ioeventfd(&m.fk, false, 0x604) == NULL);

    /* The guest's writes: signalled in the kernel, the device sees none. */
    CHECK_EQ_INT(bus_write32(&m, false, 0xfe000040, 99), FK_BUS_EVENTFD);
    CHECK_EQ_U64(efd_count(fa), 1);
    {
        uint16_t hit = 0x1234, miss = 0x1235;
        uint8_t p7 = 7;

        CHECK_EQ_INT(fk_guest_bus_write(&m.fk, false, 0xfe000080, &hit, 2),
                     FK_BUS_EVENTFD);
        CHECK_EQ_INT(fk_guest_bus_write(&m.fk, false, 0xfe000080, &miss, 2),
                     FK_BUS_EXIT);
        CHECK_EQ_INT(fk_guest_bus_write(&m.fk, true, 0x604, &p7, 1),
                     FK_BUS_EVENTFD);
    }
    CHECK_EQ_U64(efd_count(fb), 1);
    CHECK_EQ_U64(efd_count(fc), 1);
    CHECK_EQ_U64(d.n, 0);

    /* Moving the device moves them; deleting one deassigns exactly it. */
    CHECK_EQ_INT(gm_region_set_address(mmio, 0xfd000000, NULL), 0);
    CHECK(fk_find_ioeventfd(&m.fk, false, 0xfe000040) == NULL);
    e = fk_find_ioeventfd(&m.fk, false, 0xfd000040);
    CHECK(e && e->fd == fa);
    CHECK(fk_find_ioeventfd(&m.fk, false, 0xfd000080) != NULL);
    CHECK_EQ_INT(gm_region_del_eventfd(mmio, 0x80, 2, true, 0x1234, fb, NULL),
                 0);
    CHECK(fk_find_ioeventfd(&m.fk, false, 0xfd000080) == NULL);
    CHECK_EQ_U64(m.fk.nefds, 2);
    /* Hidden, the device's go; shown again, they come back. */
    CHECK_EQ_INT(gm_region_set_enabled(pio, false, NULL), 0);
    CHECK(fk_find_ioeventfd(&m.fk, true, 0x604) == NULL);
    CHECK_EQ_INT(gm_region_set_enabled(pio, true, NULL), 0);
    CHECK(fk_find_ioeventfd(&m.fk, true, 0x604) != NULL);
    /* Detaching the I/O space takes its eventfds only. */
    CHECK_EQ_INT(gm_kvm_detach(m.kvm, io, NULL), 0);
    CHECK(fk_find_ioeventfd(&m.fk, true, 0x604) == NULL);
    CHECK_EQ_U64(m.fk.nefds, 1);
    CHECK_EQ_INT(km_last_error(&m, NULL), 0);
    CHECK_EQ_U64(fk_rejected_total(&m.fk), 0);
    CHECK_EQ_INT(gm_region_del_eventfd(mmio, 0x40, 4, false, 0, fa, NULL), 0);
    CHECK_EQ_INT(gm_region_del_eventfd(pio, 0x4, 1, true, 7, fc, NULL), 0);
    CHECK_EQ_INT(gm_space_destroy(io, NULL), 0);
    km_fini(&m);
    close(fa);
    close(fb);
    close(fc);
}

/* Any length: KVM takes it only with KVM_CAP_IOEVENTFD_ANY_LENGTH. */
static void test_ioeventfd_any_length(void)
{
    for (int cap = 0; cap < 2; cap++) {
        struct fk_caps c;
        struct km m;
        struct dev d = {.m = &m};
        gm_region *mmio;
        int fd = new_eventfd();

        fk_caps_all(&c);
        c.ioeventfd_any_length = cap;
        km_init(&m, &c, NULL);
        mmio = add_dev(&m, m.root, &d, "mmio", 0xfe000000, 0x1000);
        CHECK_EQ_INT(gm_region_add_eventfd(mmio, 0x10, 0, false, 0, fd, NULL),
                     0);
        CHECK_EQ_U64(m.fk.nefds, (uint64_t)cap);
        if (cap) {
            CHECK_EQ_U64(fk_find_ioeventfd(&m.fk, false, 0xfe000010)->len, 0);
            CHECK_EQ_INT(bus_write32(&m, false, 0xfe000010, 5),
                         FK_BUS_EVENTFD);
        } else {
            /* It exits; the access path signals it. */
            CHECK_EQ_INT(bus_write32(&m, false, 0xfe000010, 5), FK_BUS_EXIT);
            CHECK_EQ_INT(gm_space_store(m.as, 0xfe000010, 4,
                                        GM_ENDIAN_LITTLE, 5,
                                        GM_ATTRS_DEFAULT),
                         GM_RESULT_OK);
        }
        CHECK_EQ_U64(efd_count(fd), 1);
        CHECK_EQ_U64(d.n, 0);
        CHECK_EQ_INT(gm_region_del_eventfd(mmio, 0x10, 0, false, 0, fd, NULL),
                     0);
        CHECK_EQ_U64(m.fk.nefds, 0);
        CHECK_EQ_INT(km_last_error(&m, NULL), 0);
        CHECK_EQ_U64(fk_rejected_total(&m.fk), 0);
        km_fini(&m);
        close(fd);
    }
}

/*
 * A refused KVM_IOEVENTFD is reported and changes nothing in the kernel:
 * the other eventfds stay, the refused one exits and the access path
 * signals it; its later deletion asks the kernel nothing it would refuse.
 */
static void test_ioeventfd_failure(void)
{
    struct km m;
    struct dev d = {.m = &m};
    gm_region *mmio;
    int fa = new_eventfd(), fb = new_eventfd();
    uint64_t calls;

    km_init(&m, NULL, NULL);
    mmio = add_dev(&m, m.root, &d, "mmio", 0xfe000000, 0x1000);
    CHECK_EQ_INT(gm_region_add_eventfd(mmio, 0x40, 4, false, 0, fa, NULL), 0);
    fk_inject(&m.fk, FK_IOEVENTFD, 1, ENOSPC);
    CHECK_EQ_INT(gm_region_add_eventfd(mmio, 0x80, 4, true, 1, fb, NULL), 0);
    CHECK_EQ_INT(km_last_error(&m, "KVM_IOEVENTFD"), -ENOSPC);
    CHECK_EQ_U64(m.fk.nefds, 1);
    CHECK(fk_find_ioeventfd(&m.fk, false, 0xfe000040) != NULL);
    CHECK(fk_find_ioeventfd(&m.fk, false, 0xfe000080) == NULL);
    CHECK_EQ_INT(bus_write32(&m, false, 0xfe000080, 1), FK_BUS_EXIT);
    CHECK_EQ_INT(gm_space_store(m.as, 0xfe000080, 4, GM_ENDIAN_LITTLE, 1,
                                GM_ATTRS_DEFAULT),
                 GM_RESULT_OK);
    CHECK_EQ_U64(efd_count(fb), 1);
    CHECK_EQ_U64(d.n, 0);
    /* Deleting it: the kernel never had it. */
    calls = m.fk.calls[FK_IOEVENTFD];
    CHECK_EQ_INT(gm_region_del_eventfd(mmio, 0x80, 4, true, 1, fb, NULL), 0);
    CHECK_EQ_U64(m.fk.nefds, 1);
    printf("# deleting the refused one: %" PRIu64 " KVM_IOEVENTFD calls, %"
           PRIu64 " refused\n", m.fk.calls[FK_IOEVENTFD] - calls,
           m.fk.rejected[FK_IOEVENTFD]);
    (void)km_last_error(&m, NULL);
    /* A refused deassign leaves the kernel's eventfd as it was. */
    fk_inject(&m.fk, FK_IOEVENTFD, 1, EIO);
    CHECK_EQ_INT(gm_region_del_eventfd(mmio, 0x40, 4, false, 0, fa, NULL), 0);
    CHECK_EQ_INT(km_last_error(&m, "KVM_IOEVENTFD deassign"), -EIO);
    CHECK(fk_find_ioeventfd(&m.fk, false, 0xfe000040) != NULL);
    CHECK_EQ_INT(bus_write32(&m, false, 0xfe000040, 1), FK_BUS_EVENTFD);
    CHECK_EQ_U64(efd_count(fa), 1);
    /* (The kernel still holds it: km_fini would flag it; drop it.) */
    m.fk.nefds = 0;
    km_fini(&m);
    close(fa);
    close(fb);
}

/* Zones follow the coalesced ranges the spaces show. */
static void test_coalesced_zones(void)
{
    struct km m;
    struct dev d = {.m = &m};
    gm_region *dev, *ioroot, *pio, *cover;
    gm_space *io;

    km_init(&m, NULL, NULL);
    io = add_io_space(&m, &ioroot);
    dev = add_dev(&m, m.root, &d, "dev", 0xfe000000, 0x1000);
    CHECK_EQ_INT(gm_region_add_coalescing(dev, 0x100, 0x100, NULL), 0);
    CHECK_EQ_INT(gm_region_add_coalescing(dev, 0x800, 0x10, NULL), 0);
    CHECK_EQ_U64(m.fk.nzones, 2);
    CHECK(fk_find_zone(&m.fk, false, 0xfe000100, 0x100) != NULL);
    CHECK(fk_find_zone(&m.fk, false, 0xfe000800, 0x10) != NULL);
    /* Moved: the zones move. */
    CHECK_EQ_INT(gm_region_set_address(dev, 0xfd000000, NULL), 0);
    CHECK_EQ_U64(m.fk.nzones, 2);
    CHECK(fk_find_zone(&m.fk, false, 0xfd000100, 0x100) != NULL);
    CHECK(fk_find_zone(&m.fk, false, 0xfd000800, 0x10) != NULL);
    /* Partly covered by a region above it: only the part it shows. */
    cover = gm_region_new_io(m.sys, "cover", 0x80, &dev_ops, &d, NULL);
    CHECK_EQ_INT(gm_region_add_subregion_overlap(m.root, 0xfd000100, cover,
                                                 1, NULL),
                 0);
    CHECK(fk_find_zone(&m.fk, false, 0xfd000180, 0x80) != NULL);
    CHECK(fk_find_zone(&m.fk, false, 0xfd000100, 0x100) == NULL);
    CHECK_EQ_INT(gm_region_del_subregion(m.root, cover, NULL), 0);
    gm_region_unref(cover);
    CHECK(fk_find_zone(&m.fk, false, 0xfd000100, 0x100) != NULL);
    CHECK_EQ_U64(m.fk.nzones, 2);
    /* Cleared: every zone goes; hidden: gone until shown. */
    CHECK_EQ_INT(gm_region_clear_coalescing(dev, NULL), 0);
    CHECK_EQ_U64(m.fk.nzones, 0);
    CHECK_EQ_INT(gm_region_add_coalescing(dev, 0, 0x40, NULL), 0);
    CHECK_EQ_INT(gm_region_set_enabled(dev, false, NULL), 0);
    CHECK_EQ_U64(m.fk.nzones, 0);
    CHECK_EQ_INT(gm_region_set_enabled(dev, true, NULL), 0);
    CHECK(fk_find_zone(&m.fk, false, 0xfd000000, 0x40) != NULL);
    /* Port I/O: a PIO zone. */
    pio = add_dev(&m, ioroot, &d, "pio", 0x3f8, 8);
    CHECK_EQ_INT(gm_region_add_coalescing(pio, 0, 8, NULL), 0);
    CHECK(fk_find_zone(&m.fk, true, 0x3f8, 8) != NULL);
    CHECK(fk_find_zone(&m.fk, false, 0x3f8, 8) == NULL);
    CHECK_EQ_INT(gm_kvm_detach(m.kvm, io, NULL), 0);
    CHECK(fk_find_zone(&m.fk, true, 0x3f8, 8) == NULL);
    CHECK_EQ_U64(m.fk.nzones, 1);
    CHECK_EQ_U64(d.n, 0);
    CHECK_EQ_INT(km_last_error(&m, NULL), 0);
    CHECK_EQ_U64(fk_rejected_total(&m.fk), 0);
    CHECK_EQ_INT(gm_space_destroy(io, NULL), 0);
    km_fini(&m);
}

/* Without KVM_CAP_COALESCED_PIO port zones stay with guestmem. */
static void test_coalesced_no_pio_cap(void)
{
    struct fk_caps c;
    struct km m;
    struct dev d = {.m = &m};
    gm_region *ioroot, *pio;
    gm_space *io;

    fk_caps_all(&c);
    c.coalesced_pio = 0;
    km_init(&m, &c, NULL);
    io = add_io_space(&m, &ioroot);
    pio = add_dev(&m, ioroot, &d, "pio", 0x3f8, 8);
    CHECK_EQ_INT(gm_region_add_coalescing(pio, 0, 8, NULL), 0);
    CHECK_EQ_U64(m.fk.nzones, 0);
    CHECK_EQ_U64(m.fk.calls[FK_REGISTER_COALESCED_MMIO], 0);
    CHECK_EQ_INT(gm_kvm_detach(m.kvm, io, NULL), 0);
    CHECK_EQ_INT(gm_space_destroy(io, NULL), 0);
    km_fini(&m);
}

/* The ring page the kernel would share, handed to the VM and the fake. */
struct ring {
    struct kvm_coalesced_mmio_ring *r;
};

static void ring_attach(struct km *m, struct ring *rg)
{
    rg->r = aligned_alloc(4096, 4096);
    if (!rg->r) {
        exit(1);
    }
    memset(rg->r, 0, 4096);
    CHECK(m->kvm->cring_max > 16);
    fk_set_coalesced_ring(&m->fk, rg->r, m->kvm->cring_max);
    atomic_store(&m->kvm->cring, rg->r);
}

static void ring_detach(struct km *m, struct ring *rg)
{
    atomic_store(&m->kvm->cring, NULL);
    fk_set_coalesced_ring(&m->fk, NULL, 0);
    free(rg->r);
}

static bool ring_empty(struct ring *rg)
{
    return rg->r->first == rg->r->last;
}

/*
 * Batched writes reach the device in order before the next transaction
 * begins (its commit's ioctls come after them) and before a read from it.
 */
static void test_coalesced_drain(void)
{
    struct km m;
    struct ring rg;
    struct dev d = {.m = &m};
    gm_region *dev;
    struct gm_kvm_stats st;
    uint64_t v = 0, before;

    km_init(&m, NULL, NULL);
    ring_attach(&m, &rg);
    dev = add_dev(&m, m.root, &d, "dev", 0xfe000000, 0x1000);
    CHECK_EQ_INT(gm_region_add_coalescing(dev, 0, 0x100, NULL), 0);
    for (uint32_t i = 0; i < 5; i++) {
        CHECK_EQ_INT(bus_write32(&m, false, 0xfe000000 + 4 * (i % 3), i),
                     FK_BUS_COALESCED);
    }
    /* Outside the zone: an exit, never batched. */
    CHECK_EQ_INT(bus_write32(&m, false, 0xfe000200, 9), FK_BUS_EXIT);
    CHECK_EQ_U64(d.n, 0);
    /* A transaction: the writes are delivered before its commit. */
    before = m.fk.calls[FK_SET_USER_MEMORY_REGION];
    km_add(m.root, GM_REGION_RAM, "ram", 0, 0x10000, 0);
    CHECK_EQ_U64(m.fk.calls[FK_SET_USER_MEMORY_REGION], before + 1);
    CHECK_EQ_U64(d.n, 5);
    for (uint32_t i = 0; i < 5 && i < d.n; i++) {
        CHECK(d.ev[i].write);
        CHECK_EQ_U64(d.ev[i].off, 4 * (i % 3));
        CHECK_EQ_U64(d.ev[i].data, i);
        CHECK_EQ_U64(d.ev[i].size, 4);
        CHECK_EQ_U64(d.ev[i].set_calls, before);
    }
    CHECK(ring_empty(&rg));
    /* A read from the device comes after the writes before it. */
    d.n = 0;
    CHECK_EQ_INT(bus_write32(&m, false, 0xfe000010, 0xaa), FK_BUS_COALESCED);
    CHECK_EQ_INT(bus_write32(&m, false, 0xfe000014, 0xbb), FK_BUS_COALESCED);
    CHECK_EQ_INT(gm_space_load(m.as, 0xfe000020, 4, GM_ENDIAN_LITTLE, &v,
                               GM_ATTRS_DEFAULT),
                 GM_RESULT_OK);
    CHECK_EQ_U64(v, 0x11);
    CHECK_EQ_U64(d.n, 3);
    if (d.n == 3) {
        CHECK(d.ev[0].write && d.ev[0].off == 0x10 && d.ev[0].data == 0xaa);
        CHECK(d.ev[1].write && d.ev[1].off == 0x14 && d.ev[1].data == 0xbb);
        CHECK(!d.ev[2].write && d.ev[2].off == 0x20);
    }
    gm_kvm_get_stats(m.kvm, &st);
    CHECK_EQ_U64(st.coalesced_flushed, 7);
    ring_detach(&m, &rg);
    km_fini(&m);
}

/*
 * A replayed write that begins a transaction (a device that remaps
 * something) does not deadlock or reorder: the flush it triggers on the
 * same thread returns at once, and the writes after it follow in order.
 * The ring wraps around without losing or repeating a write, and a full
 * ring makes the write exit.
 */
static void test_coalesced_reenter_and_wrap(void)
{
    struct km m;
    struct ring rg;
    struct dev d = {.m = &m};
    gm_region *dev, *other;
    uint32_t max, sent = 0, got = 0;
    bool order_ok = true;

    km_init(&m, NULL, NULL);
    ring_attach(&m, &rg);
    max = m.kvm->cring_max;
    dev = add_dev(&m, m.root, &d, "dev", 0xfe000000, 0x1000);
    other = km_add(m.root, GM_REGION_RAM, "other", 0x100000, 0x10000, 0);
    CHECK_EQ_INT(gm_region_add_coalescing(dev, 0, 0x1000, NULL), 0);
    d.reenter = true;
    d.reenter_off = 0x8;
    d.reenter_data = 2;
    d.toggle = other;
    for (uint32_t i = 0; i < 4; i++) {
        CHECK_EQ_INT(bus_write32(&m, false, 0xfe000000 + 4 * i, i),
                     FK_BUS_COALESCED);
    }
    CHECK_EQ_INT(gm_region_set_enabled(dev, true, NULL), 0); /* a begin */
    CHECK_EQ_U64(d.n, 4);
    for (uint32_t i = 0; i < 4 && i < d.n; i++) {
        CHECK_EQ_U64(d.ev[i].off, 4 * i);
        CHECK_EQ_U64(d.ev[i].data, i);
    }
    CHECK(km_slot(&m, 0x100000, NULL) == NULL); /* the device's change */
    CHECK(ring_empty(&rg));
    d.reenter = false;
    d.n = 0;

    /* Three rounds of max - 1 writes (a full ring) and one that exits. */
    for (int round = 0; round < 3; round++) {
        for (uint32_t i = 0; i < max - 1; i++) {
            CHECK_EQ_INT(bus_write32(&m, false, 0xfe000100, sent++),
                         FK_BUS_COALESCED);
        }
        CHECK_EQ_INT(bus_write32(&m, false, 0xfe000100, 0), FK_BUS_EXIT);
        CHECK_EQ_INT(gm_region_set_enabled(other, true, NULL), 0);
        CHECK(ring_empty(&rg));
        for (size_t i = 0; i < d.n; i++) {
            order_ok &= d.ev[i].data == got++;
        }
        d.n = 0;
    }
    CHECK(order_ok);
    CHECK_EQ_U64(got, sent);
    CHECK_EQ_U64(got, 3 * (uint64_t)(max - 1));
    ring_detach(&m, &rg);
    km_fini(&m);
}

/* Port writes batched on the PIO bus reach the I/O space's device. */
static void test_coalesced_pio(void)
{
    struct km m;
    struct ring rg;
    struct dev dm = {.m = &m}, dp = {.m = &m};
    gm_region *ioroot, *pio, *mmio;
    gm_space *io;

    km_init(&m, NULL, NULL);
    ring_attach(&m, &rg);
    io = add_io_space(&m, &ioroot);
    pio = add_dev(&m, ioroot, &dp, "pio", 0x70, 2);
    mmio = add_dev(&m, m.root, &dm, "mmio", 0x70, 2);
    CHECK_EQ_INT(gm_region_add_coalescing(pio, 0, 2, NULL), 0);
    CHECK_EQ_INT(gm_region_add_coalescing(mmio, 0, 2, NULL), 0);
    {
        uint8_t a = 0x8f, b = 0x42;

        CHECK_EQ_INT(fk_guest_bus_write(&m.fk, true, 0x70, &a, 1),
                     FK_BUS_COALESCED);
        CHECK_EQ_INT(fk_guest_bus_write(&m.fk, false, 0x71, &b, 1),
                     FK_BUS_COALESCED);
    }
    CHECK_EQ_INT(gm_region_set_enabled(pio, true, NULL), 0);
    CHECK_EQ_U64(dp.n, 1);
    CHECK(dp.n == 1 && dp.ev[0].off == 0 && dp.ev[0].data == 0x8f &&
          dp.ev[0].size == 1);
    CHECK_EQ_U64(dm.n, 1);
    CHECK(dm.n == 1 && dm.ev[0].off == 1 && dm.ev[0].data == 0x42);
    CHECK_EQ_INT(gm_kvm_detach(m.kvm, io, NULL), 0);
    CHECK_EQ_INT(gm_space_destroy(io, NULL), 0);
    ring_detach(&m, &rg);
    km_fini(&m);
}

int main(void)
{
    RUN(test_ioeventfd_buses);
    RUN(test_ioeventfd_any_length);
    RUN(test_ioeventfd_failure);
    RUN(test_coalesced_zones);
    RUN(test_coalesced_no_pio_cap);
    RUN(test_coalesced_drain);
    RUN(test_coalesced_reenter_and_wrap);
    RUN(test_coalesced_pio);
    return harness_done();
}
