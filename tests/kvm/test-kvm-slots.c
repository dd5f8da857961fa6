/* SPDX-License-Identifier: MIT */
/*
 * test-kvm-slots.c - the KVM memslot listener (src/kvm/slots.c, vm.c)
 * against the fake kernel of fake-kvm.h, which refuses what the real one
 * refuses (an overlap, a resize, a READONLY toggle, an unaligned slot, a
 * number beyond the limit, ...), so every test also checks that the
 * library never made a call the kernel would reject.
 *
 * Checked: which ranges become slots (RAM, ROM, ROM devices in romd mode,
 * RAM devices, sub-page heads and tails trimmed, nothing for memoryless
 * systems or misaligned host memory) with which address, size, host
 * address and flags; the cost of changes in KVM_SET_USER_MEMORY_REGION
 * calls (an overlay and its removal and a moved BAR at most 3, a change
 * away from RAM none, a dirty-logging toggle 1 in place); slot numbers
 * recycled and bounded; the slot limit at attach (-ENOSPC, nothing left
 * behind) and at a later commit (reported by gm_kvm_last_error(), the
 * range left to trap, and given its slot once one is free); address spaces
 * 0 and 1 numbered apart; detach and close removing everything;
 * gm_kvm_open's capability checks; an injected kernel failure reported and
 * repaired by the next commit of the space.
 */
#include "kvm-helpers.h"

#define MiB (1024ull * 1024)

/* The caps of every test but those that say otherwise. */
static struct fk_caps caps_all(void)
{
    struct fk_caps c;

    fk_caps_all(&c);
    return c;
}

static void test_open(void)
{
    struct fk_caps c = caps_all();
    struct gm_kvm_opts o = {0};
    struct gm_kvm_stats st;
    struct fake_kvm fk;
    gm_system *sys = gm_system_new(NULL);
    gm_error err = {0};
    gm_kvm *kvm;

    /* Everything offered: manual protection with initially-set enabled. */
    fk_init(&fk, &c);
    o.backend = fk_backend(&fk);
    kvm = gm_kvm_open(sys, &o, &err);
    CHECK(kvm != NULL);
    CHECK_EQ_INT(gm_kvm_vm_fd(kvm), FK_VM_FD);
    CHECK_EQ_U64(fk.manual, KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE |
                                KVM_DIRTY_LOG_INITIALLY_SET);
    CHECK_EQ_U64(fk.calls[FK_ENABLE_CAP], 1);
    CHECK(fk.calls[FK_CHECK_EXTENSION] >= 7);
    gm_kvm_get_stats(kvm, &st);
    CHECK_EQ_U64(st.max_slots, 32);
    CHECK_EQ_U64(st.slots, 0);
    CHECK_EQ_INT(gm_kvm_check_extension(kvm, KVM_CAP_NR_MEMSLOTS), 32);
    gm_kvm_close(kvm);
    CHECK_EQ_U64(fk_rejected_total(&fk) + fk.misuse, 0);
    fk_fini(&fk);

    /* Options: no manual protection, no initially-set, fewer slots. */
    fk_init(&fk, &c);
    o.no_manual_protect = true;
    o.max_slots = 4;
    kvm = gm_kvm_open(sys, &o, &err);
    CHECK(kvm != NULL);
    CHECK_EQ_U64(fk.calls[FK_ENABLE_CAP], 0);
    gm_kvm_get_stats(kvm, &st);
    CHECK_EQ_U64(st.max_slots, 4);
    gm_kvm_close(kvm);
    fk_fini(&fk);
    fk_init(&fk, &c);
    o.no_manual_protect = false;
    o.no_initially_set = true;
    o.max_slots = 100; /* above the kernel's 32: the kernel's wins */
    kvm = gm_kvm_open(sys, &o, &err);
    CHECK(kvm != NULL);
    CHECK_EQ_U64(fk.manual, KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE);
    gm_kvm_get_stats(kvm, &st);
    CHECK_EQ_U64(st.max_slots, 32);
    gm_kvm_close(kvm);
    fk_fini(&fk);

    /* Without KVM_CAP_USER_MEMORY: -ENOTSUP. */
    c.user_memory = 0;
    fk_init(&fk, &c);
    o = (struct gm_kvm_opts){.backend = fk_backend(&fk)};
    CHECK(gm_kvm_open(sys, &o, &err) == NULL);
    CHECK_EQ_INT(err.code, -ENOTSUP);
    CHECK_CONTAINS(err.msg, "KVM_CAP_USER_MEMORY");
    fk_fini(&fk);

    /* The dirty ring: enabled with its size; -ENOTSUP when not offered. */
    c = caps_all();
    fk_init(&fk, &c);
    o.dirty_mode = GM_KVM_DIRTY_RING;
    o.dirty_ring_entries = 1024;
    kvm = gm_kvm_open(sys, &o, &err);
    CHECK(kvm != NULL);
    CHECK_EQ_U64(fk.ring_bytes, 1024 * sizeof(struct kvm_dirty_gfn));
    CHECK_EQ_U64(fk.manual, 0);
    gm_kvm_close(kvm);
    fk_fini(&fk);
    c.dirty_log_ring = c.dirty_log_ring_acq_rel = 0;
    fk_init(&fk, &c);
    CHECK(gm_kvm_open(sys, &o, &err) == NULL);
    CHECK_EQ_INT(err.code, -ENOTSUP);
    fk_fini(&fk);
    /* A kernel failure of KVM_ENABLE_CAP is the open's error. */
    c = caps_all();
    fk_init(&fk, &c);
    fk_inject(&fk, FK_ENABLE_CAP, 1, EBUSY);
    CHECK(gm_kvm_open(sys, &o, &err) == NULL);
    CHECK_EQ_INT(err.code, -EBUSY);
    CHECK_EQ_U64(fk.injected[FK_ENABLE_CAP], 1);
    fk_fini(&fk);
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
}

static void test_ram_slot(void)
{
    struct km m;
    gm_region *ram;
    const struct fk_slot *s;
    struct gm_kvm_stats st;
    uint32_t id = 99;

    km_init(&m, NULL, NULL);
    CHECK_EQ_U64(km_set_calls(&m), 0);
    ram = km_add(m.root, GM_REGION_RAM, "ram", 0x100000, 0x40000, 0);
    CHECK_EQ_U64(km_set_calls(&m), 1);
    s = km_slot(&m, 0x100000, &id);
    CHECK(s != NULL);
    if (s) {
        CHECK_EQ_U64(s->gpa, 0x100000);
        CHECK_EQ_U64(s->size, 0x40000);
        CHECK_EQ_U64(s->uaddr, (uintptr_t)gm_region_ram_ptr(ram));
        CHECK_EQ_U64(s->flags, 0);
        CHECK_EQ_U64(id, 0);
    }
    gm_kvm_get_stats(m.kvm, &st);
    CHECK_EQ_U64(st.slots, 1);
    KM_CHECK_SLOTS(&m);
    /* The guest's write through the slot lands in the region's memory. */
    CHECK_EQ_U64(fk_guest_write(&m.fk, 0, 0x100010, "hi", 2), 0);
    CHECK(memcmp((char *)gm_region_ram_ptr(ram) + 0x10, "hi", 2) == 0);
    km_fini(&m);
}

/* A memory space already populated is mirrored by the attach's replay. */
static void test_attach_replays(void)
{
    struct km m;

    km_init_noattach(&m, NULL, NULL);
    km_add(m.root, GM_REGION_RAM, "low", 0, 0xa0000, 0);
    km_add(m.root, GM_REGION_ROM, "bios", 0xf0000, 0x10000, 0);
    km_add(m.root, GM_REGION_RAM, "high", 0x100000, 0x100000, 0);
    CHECK_EQ_U64(m.fk.calls[FK_SET_USER_MEMORY_REGION], 0);
    CHECK_EQ_INT(gm_kvm_attach_memory(m.kvm, m.as, 0, NULL), 0);
    CHECK_EQ_U64(km_set_calls(&m), 3);
    KM_CHECK_SLOTS(&m);
    /* Attaching it twice is refused and changes nothing. */
    CHECK_EQ_INT(gm_kvm_attach_memory(m.kvm, m.as, 1, NULL), -EINVAL);
    CHECK_EQ_U64(km_set_calls(&m), 3);
    km_fini(&m);
}

/* Only whole pages become a slot; a sub-page head or tail traps. */
static void test_subpage_trim(void)
{
    struct km m;
    gm_region *ram, *al;
    const struct fk_slot *s;
    char buf[16] = "0123456789abcdef";

    km_init(&m, NULL, NULL);
    /* A tail of half a page. */
    ram = km_add(m.root, GM_REGION_RAM, "tail", 0x10000, 0x2800, 0);
    s = km_slot(&m, 0x10000, NULL);
    CHECK(s && s->gpa == 0x10000 && s->size == 0x2000);
    CHECK(km_slot(&m, 0x12000, NULL) == NULL);
    CHECK_EQ_U64(fk_guest_write(&m.fk, 0, 0x11ff8, buf, 16), 8);
    /* A head: an MMIO region covering the first half page of RAM. */
    ram = km_add(m.root, GM_REGION_RAM, "head", 0x20000, 0x4000, 0);
    km_add(m.root, GM_REGION_IO, "mmio", 0x20000, 0x800, 1);
    s = km_slot(&m, 0x21000, NULL);
    CHECK(s && s->gpa == 0x21000 && s->size == 0x3000);
    CHECK(s && s->uaddr == (uintptr_t)gm_region_ram_ptr(ram) + 0x1000);
    CHECK(km_slot(&m, 0x20800, NULL) == NULL);
    /* Less than a page: no slot at all. */
    km_add(m.root, GM_REGION_RAM, "tiny", 0x30000, 0x800, 0);
    CHECK(km_slot(&m, 0x30000, NULL) == NULL);
    /* An alias whose host address is not page-aligned with its guest
     * address cannot be a slot (the kernel needs both aligned). */
    al = gm_region_new_alias(m.sys, "skew", ram, 0x800, 0x2000, NULL);
    CHECK_EQ_INT(gm_region_add_subregion(m.root, 0x40000, al, NULL), 0);
    gm_region_unref(al);
    CHECK(km_slot(&m, 0x40000, NULL) == NULL);
    CHECK(km_slot(&m, 0x41000, NULL) == NULL);
    KM_CHECK_SLOTS(&m);
    /* What traps still works through the access path. */
    CHECK_EQ_INT(gm_space_write(m.as, 0x40000, "x", 1, GM_ATTRS_DEFAULT),
                 GM_RESULT_OK);
    CHECK_EQ_INT(((char *)gm_region_ram_ptr(ram))[0x800], 'x');
    CHECK_EQ_U64(fk_rejected_total(&m.fk), 0);
    km_fini(&m);
}

static void test_rom(void)
{
    struct fk_caps c = caps_all();
    struct km m;
    const struct fk_slot *s;

    km_init(&m, NULL, NULL);
    km_add(m.root, GM_REGION_ROM, "rom", 0xf0000, 0x10000, 0);
    s = km_slot(&m, 0xf0000, NULL);
    CHECK(s && s->flags == KVM_MEM_READONLY && s->size == 0x10000);
    /* A guest write to a read-only slot exits. */
    CHECK_EQ_U64(fk_guest_write(&m.fk, 0, 0xf0000, NULL, 4), 4);
    KM_CHECK_SLOTS(&m);
    km_fini(&m);

    /* Without KVM_CAP_READONLY_MEM ROM gets no slot: every access traps. */
    c.readonly_mem = 0;
    km_init(&m, &c, NULL);
    km_add(m.root, GM_REGION_ROM, "rom", 0xf0000, 0x10000, 0);
    km_add(m.root, GM_REGION_ROM_DEVICE, "flash", 0xe0000, 0x10000, 0);
    km_add(m.root, GM_REGION_RAM, "ram", 0, 0x10000, 0);
    CHECK_EQ_U64(fk_slot_count(&m.fk, 0), 1);
    CHECK_EQ_U64(km_set_calls(&m), 1);
    KM_CHECK_SLOTS(&m);
    km_fini(&m);
}

static void test_romd(void)
{
    struct km m;
    gm_region *dev;
    const struct fk_slot *s;
    uint64_t n;

    km_init(&m, NULL, NULL);
    dev = km_add(m.root, GM_REGION_ROM_DEVICE, "flash", 0xfff00000, 0x100000,
                 0);
    s = km_slot(&m, 0xfff00000, NULL);
    CHECK(s && s->flags == KVM_MEM_READONLY && s->size == 0x100000 &&
          s->uaddr == (uintptr_t)gm_region_ram_ptr(dev));
    n = km_set_calls(&m);
    CHECK_EQ_INT(gm_region_set_romd(dev, false, NULL), 0);
    CHECK(km_slot(&m, 0xfff00000, NULL) == NULL);
    CHECK_EQ_U64(km_set_calls(&m) - n, 1);
    KM_CHECK_SLOTS(&m);
    CHECK_EQ_INT(gm_region_set_romd(dev, true, NULL), 0);
    s = km_slot(&m, 0xfff00000, NULL);
    CHECK(s && s->flags == KVM_MEM_READONLY);
    CHECK_EQ_U64(km_set_calls(&m) - n, 2);
    KM_CHECK_SLOTS(&m);
    km_fini(&m);
}

static void test_ram_device(void)
{
    struct km m;
    void *bar = aligned_alloc(PG, 0x8000);
    char *odd = malloc(0x3000 + 16);
    gm_region *r;
    const struct fk_slot *s;

    km_init(&m, NULL, NULL);
    r = gm_region_new_ram_device(m.sys, "bar", 0x8000, bar, NULL);
    CHECK(r != NULL);
    CHECK_EQ_INT(gm_region_add_subregion(m.root, 0xe0000000, r, NULL), 0);
    gm_region_unref(r);
    s = km_slot(&m, 0xe0000000, NULL);
    CHECK(s && s->uaddr == (uintptr_t)bar && s->size == 0x8000 &&
          s->flags == 0);
    /* Caller memory that is not page-aligned cannot be a slot. */
    r = gm_region_new_ram_device(m.sys, "odd", 0x2000,
                                 odd + (((uintptr_t)odd & 0xfff) ? 0 : 8),
                                 NULL);
    CHECK_EQ_INT(gm_region_add_subregion(m.root, 0xe1000000, r, NULL), 0);
    gm_region_unref(r);
    CHECK(km_slot(&m, 0xe1000000, NULL) == NULL);
    KM_CHECK_SLOTS(&m);
    km_fini(&m);
    free(bar);
    free(odd);
}

static void test_memoryless(void)
{
    struct km m;

    km_init(&m, NULL, NULL);
    CHECK_EQ_INT(gm_system_set_memoryless(m.sys, true, NULL), 0);
    km_add(m.root, GM_REGION_RAM, "ram", 0, 0x100000, 0);
    km_add(m.root, GM_REGION_ROM, "rom", 0xf00000, 0x10000, 0);
    km_add(m.root, GM_REGION_ROM_DEVICE, "flash", 0xe00000, 0x10000, 0);
    CHECK_EQ_U64(fk_slot_count(&m.fk, 0), 0);
    CHECK_EQ_U64(km_set_calls(&m), 0);
    KM_CHECK_SLOTS(&m);
    km_fini(&m);
}

/* An MMIO overlay on RAM, its removal, a moved BAR: at most 3 calls. */
static void test_overlay_and_move(void)
{
    struct km m;
    gm_region *ram, *io, *pci, *bar;
    uint64_t n;

    km_init(&m, NULL, NULL);
    ram = km_add(m.root, GM_REGION_RAM, "ram", 0, 0x100000, 0);
    CHECK_EQ_U64(km_set_calls(&m), 1);
    n = km_set_calls(&m);
    io = gm_region_new_io(m.sys, "vga", 0x20000, NULL, NULL, NULL);
    CHECK_EQ_INT(gm_region_add_subregion_overlap(m.root, 0xa0000, io, 1,
                                                 NULL), 0);
    CHECK(km_set_calls(&m) - n <= 3);
    printf("# overlay: %" PRIu64 " calls\n", km_set_calls(&m) - n);
    CHECK_EQ_U64(fk_slot_count(&m.fk, 0), 2);
    CHECK(km_slot(&m, 0x9f000, NULL) && !km_slot(&m, 0xa0000, NULL) &&
          km_slot(&m, 0xc0000, NULL));
    KM_CHECK_SLOTS(&m);
    n = km_set_calls(&m);
    CHECK_EQ_INT(gm_region_del_subregion(m.root, io, NULL), 0);
    CHECK(km_set_calls(&m) - n <= 3);
    printf("# overlay removed: %" PRIu64 " calls\n", km_set_calls(&m) - n);
    CHECK_EQ_U64(fk_slot_count(&m.fk, 0), 1);
    KM_CHECK_SLOTS(&m);
    /* The overlay back, then moved within the RAM: at most 3 again. */
    CHECK_EQ_INT(gm_region_add_subregion_overlap(m.root, 0xa0000, io, 1,
                                                 NULL), 0);
    n = km_set_calls(&m);
    CHECK_EQ_INT(gm_region_set_address(io, 0xb0000, NULL), 0);
    printf("# overlay moved: %" PRIu64 " calls\n", km_set_calls(&m) - n);
    CHECK(km_set_calls(&m) - n <= 4);
    KM_CHECK_SLOTS(&m);
    gm_region_unref(io);

    /* A BAR (RAM device) moved within a PCI window. */
    pci = km_add(m.root, GM_REGION_CONTAINER, "pci", 0xe0000000, 0x10000000,
                 0);
    bar = km_add(pci, GM_REGION_RAM, "bar", 0x100000, 0x10000, 0);
    n = km_set_calls(&m);
    CHECK_EQ_INT(gm_region_set_address(bar, 0x200000, NULL), 0);
    CHECK(km_set_calls(&m) - n <= 3);
    printf("# BAR moved: %" PRIu64 " calls\n", km_set_calls(&m) - n);
    CHECK(km_slot(&m, 0xe0200000, NULL) && !km_slot(&m, 0xe0100000, NULL));
    KM_CHECK_SLOTS(&m);
    /* The window moved: its BAR follows. */
    n = km_set_calls(&m);
    CHECK_EQ_INT(gm_region_set_address(pci, 0xd0000000, NULL), 0);
    CHECK(km_set_calls(&m) - n <= 3);
    KM_CHECK_SLOTS(&m);
    (void)ram;
    km_fini(&m);
}

/* A change that touches no RAM range costs no call. */
static void test_unrelated_change(void)
{
    struct km m;
    gm_region *io;
    uint64_t n;
    int fd = -1;

    km_init(&m, NULL, NULL);
    km_add(m.root, GM_REGION_RAM, "ram", 0, 0x100000, 0);
    n = km_set_calls(&m);
    io = km_add(m.root, GM_REGION_IO, "uart", 0x3f8000, 0x1000, 0);
    CHECK_EQ_INT(gm_region_set_address(io, 0x400000, NULL), 0);
    CHECK_EQ_INT(gm_region_set_enabled(io, false, NULL), 0);
    CHECK_EQ_INT(gm_region_set_enabled(io, true, NULL), 0);
    CHECK_EQ_INT(gm_region_set_size(io, 0x800, NULL), 0);
    (void)fd;
    CHECK_EQ_U64(km_set_calls(&m) - n, 0);
    /* An empty transaction, and one that changes and restores RAM. */
    CHECK_EQ_INT(gm_transaction_begin(m.sys), 0);
    CHECK_EQ_INT(gm_transaction_commit(m.sys, NULL), 0);
    CHECK_EQ_U64(km_set_calls(&m) - n, 0);
    KM_CHECK_SLOTS(&m);
    km_fini(&m);
}

/* Dirty logging toggled: the slot's flags change in place. */
static void test_set_log_in_place(void)
{
    struct km m;
    gm_region *ram;
    const struct fk_slot *s;
    uint32_t id0 = 99, id1 = 98;
    uint64_t n;

    km_init(&m, NULL, NULL);
    km_add(m.root, GM_REGION_RAM, "other", 0, 0x10000, 0);
    ram = km_add(m.root, GM_REGION_RAM, "vram", 0x100000, 0x20000, 0);
    CHECK(km_slot(&m, 0x100000, &id0) != NULL);
    n = km_set_calls(&m);
    CHECK_EQ_INT(gm_region_set_log(ram, true, GM_DIRTY_VGA, NULL), 0);
    CHECK_EQ_U64(km_set_calls(&m) - n, 1);
    s = km_slot(&m, 0x100000, &id1);
    CHECK(s && s->flags == KVM_MEM_LOG_DIRTY_PAGES && id1 == id0);
    KM_CHECK_SLOTS(&m);
    /* A second client: the flag is already there, no call. */
    CHECK_EQ_INT(gm_region_set_log(ram, true, GM_DIRTY_CODE, NULL), 0);
    CHECK_EQ_U64(km_set_calls(&m) - n, 1);
    CHECK_EQ_INT(gm_region_set_log(ram, false, GM_DIRTY_CODE, NULL), 0);
    CHECK_EQ_U64(km_set_calls(&m) - n, 1);
    CHECK_EQ_INT(gm_region_set_log(ram, false, GM_DIRTY_VGA, NULL), 0);
    CHECK_EQ_U64(km_set_calls(&m) - n, 2);
    s = km_slot(&m, 0x100000, &id1);
    CHECK(s && s->flags == 0 && id1 == id0);
    /* Global logging: every RAM slot logs, in place. */
    n = km_set_calls(&m);
    CHECK_EQ_INT(gm_system_log_global_start(m.sys, NULL), 0);
    CHECK_EQ_U64(km_set_calls(&m) - n, 2);
    KM_CHECK_SLOTS(&m);
    CHECK_EQ_INT(gm_system_log_global_stop(m.sys, NULL), 0);
    CHECK_EQ_U64(km_set_calls(&m) - n, 4);
    KM_CHECK_SLOTS(&m);
    km_fini(&m);
}

/* Freed numbers are taken again; numbers stay below the limit. */
static void test_recycle(void)
{
    struct gm_kvm_opts o = {.max_slots = 4};
    struct km m;
    gm_region *r[4];
    uint32_t id = 99, freed = 99;

    km_init(&m, NULL, &o);
    for (int i = 0; i < 3; i++) {
        r[i] = km_add(m.root, GM_REGION_RAM, "r", (uint64_t)i * 0x100000,
                      0x10000, 0);
    }
    CHECK(km_slot(&m, 0x100000, &freed) != NULL);
    CHECK_EQ_INT(gm_region_del_subregion(m.root, r[1], NULL), 0);
    r[3] = km_add(m.root, GM_REGION_RAM, "r3", 0x800000, 0x10000, 0);
    CHECK(km_slot(&m, 0x800000, &id) != NULL);
    CHECK_EQ_U64(id, freed);
    /* Churn: add and remove many times; never more than 4 numbers. */
    for (int i = 0; i < 50; i++) {
        gm_region *t = km_add(m.root, GM_REGION_RAM, "t",
                              0x1000000 + (uint64_t)i * 0x10000, 0x10000, 0);

        CHECK(km_slot(&m, 0x1000000 + (uint64_t)i * 0x10000, &id) != NULL);
        CHECK(id < 4);
        CHECK_EQ_INT(gm_region_del_subregion(m.root, t, NULL), 0);
    }
    CHECK_EQ_INT(km_last_error(&m, NULL), 0);
    KM_CHECK_SLOTS(&m);
    (void)r;
    km_fini(&m);
}

/* More ranges than slots at attach: -ENOSPC, nothing left behind. */
static void test_limit_at_attach(void)
{
    struct fk_caps c = caps_all();
    struct gm_kvm_opts o = {.max_slots = 2};
    struct km m;
    gm_error err = {0};

    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            c.nr_memslots = 2; /* the kernel's own limit this time */
        }
        km_init_noattach(&m, &c, pass == 0 ? &o : NULL);
        for (int i = 0; i < 3; i++) {
            km_add(m.root, GM_REGION_RAM, "r", (uint64_t)i * 0x100000,
                   0x10000, 0);
        }
        CHECK_EQ_INT(gm_kvm_attach_memory(m.kvm, m.as, 0, &err), -ENOSPC);
        CHECK_CONTAINS(err.msg, "no memslot left");
        CHECK_CONTAINS(err.msg, "limit is 2");
        CHECK_EQ_U64(fk_slot_count(&m.fk, 0), 0);
        CHECK_EQ_U64(fk_rejected_total(&m.fk), 0);
        /* The space is not attached: a second try with room works. */
        CHECK_EQ_INT(gm_kvm_detach(m.kvm, m.as, NULL), -EINVAL);
        km_fini(&m);
    }
}

/* One slot too many at a later commit: reported, the range traps. */
static void test_limit_at_commit(void)
{
    struct gm_kvm_opts o = {.max_slots = 2};
    struct km m;
    gm_region *a, *c;
    uint8_t v = 0;

    km_init(&m, NULL, &o);
    a = km_add(m.root, GM_REGION_RAM, "a", 0, 0x10000, 0);
    km_add(m.root, GM_REGION_RAM, "b", 0x100000, 0x10000, 0);
    CHECK_EQ_INT(km_last_error(&m, NULL), 0);
    c = km_add(m.root, GM_REGION_RAM, "c", 0x200000, 0x10000, 0);
    CHECK(km_slot(&m, 0x200000, NULL) == NULL);
    CHECK_EQ_INT(km_last_error(&m, "no memslot left for 0x200000-0x20ffff"),
                 -ENOSPC);
    CHECK_EQ_INT(km_last_error(&m, NULL), 0); /* reading cleared it */
    CHECK_EQ_U64(fk_slot_count(&m.fk, 0), 2);
    CHECK_EQ_U64(fk_rejected_total(&m.fk), 0);
    /* The range without a slot still works through the access path. */
    CHECK_EQ_U64(fk_guest_write(&m.fk, 0, 0x200000, NULL, 1), 1);
    CHECK_EQ_INT(gm_space_store(m.as, 0x200000, 1, GM_ENDIAN_LITTLE, 0x5a,
                                GM_ATTRS_DEFAULT), GM_RESULT_OK);
    CHECK_EQ_INT(((uint8_t *)gm_region_ram_ptr(c))[0], 0x5a);
    /* A slot freed: the next commit of the space gives c its slot. */
    CHECK_EQ_INT(gm_region_del_subregion(m.root, a, NULL), 0);
    CHECK(km_slot(&m, 0x200000, NULL) != NULL);
    CHECK_EQ_INT(km_last_error(&m, NULL), 0);
    KM_CHECK_SLOTS(&m);
    CHECK_EQ_U64(fk_guest_read(&m.fk, 0, 0x200000, &v, 1), 0);
    CHECK_EQ_U64(v, 0x5a);
    km_fini(&m);
}

/* Address spaces 0 and 1 number their slots apart. */
static void test_two_address_spaces(void)
{
    struct fk_caps c = caps_all();
    struct km m;
    gm_region *smram_root, *ram;
    gm_space *smm;
    gm_error err = {0};
    uint32_t id0 = 99, id1 = 99;

    km_init(&m, NULL, NULL);
    ram = km_add(m.root, GM_REGION_RAM, "ram", 0, 0x100000, 0);
    smram_root = gm_region_new_container(m.sys, "smm-root", GM_SIZE_2_64,
                                         NULL);
    smm = gm_space_new(m.sys, smram_root, "smm", NULL);
    gm_region_unref(smram_root);
    km_add(smram_root, GM_REGION_RAM, "smram", 0x30000, 0x10000, 0);
    {
        gm_region *al = gm_region_new_alias(m.sys, "ram-in-smm", ram, 0,
                                            0x30000, NULL);

        CHECK_EQ_INT(gm_region_add_subregion(smram_root, 0, al, NULL), 0);
        gm_region_unref(al);
    }
    CHECK_EQ_INT(gm_kvm_attach_memory(m.kvm, smm, 2, &err), -EINVAL);
    CHECK_CONTAINS(err.msg, "the kernel offers 2");
    CHECK_EQ_INT(gm_kvm_attach_memory(m.kvm, smm, 0, &err), -EINVAL);
    CHECK_EQ_INT(gm_kvm_attach_memory(m.kvm, smm, 1, &err), 0);
    CHECK_EQ_U64(fk_slot_count(&m.fk, 1), 2);
    CHECK(fk_slot_at(&m.fk, 0, 0, &id0) && fk_slot_at(&m.fk, 1, 0, &id1));
    CHECK_EQ_U64(id0, 0);
    CHECK_EQ_U64(id1, 0); /* a number of its own space */
    CHECK(km_check_space(&m, smm, 1));
    KM_CHECK_SLOTS(&m);
    /* Detaching one leaves the other alone. */
    CHECK_EQ_INT(gm_kvm_detach(m.kvm, smm, NULL), 0);
    CHECK_EQ_U64(fk_slot_count(&m.fk, 1), 0);
    CHECK_EQ_U64(fk_slot_count(&m.fk, 0), 1);
    CHECK_EQ_INT(gm_kvm_attach_memory(m.kvm, smm, 1, &err), 0);
    CHECK_EQ_U64(fk_slot_count(&m.fk, 1), 2);
    gm_kvm_close(m.kvm); /* close detaches both */
    CHECK_EQ_U64(fk_slot_count(&m.fk, 0) + fk_slot_count(&m.fk, 1), 0);
    m.kvm = NULL;
    CHECK_EQ_INT(gm_space_destroy(smm, NULL), 0);
    km_fini(&m);

    /* Without KVM_CAP_MULTI_ADDRESS_SPACE only address space 0 exists. */
    c.multi_address_space = 0;
    km_init(&m, &c, NULL);
    smram_root = gm_region_new_container(m.sys, "smm-root", GM_SIZE_2_64,
                                         NULL);
    smm = gm_space_new(m.sys, smram_root, "smm", NULL);
    gm_region_unref(smram_root);
    CHECK_EQ_INT(gm_kvm_attach_memory(m.kvm, smm, 1, &err), -EINVAL);
    CHECK_EQ_INT(gm_space_destroy(smm, NULL), 0);
    km_fini(&m);
}

/* Detach removes every slot; the space can be attached again. */
static void test_detach(void)
{
    struct km m;

    km_init(&m, NULL, NULL);
    km_add(m.root, GM_REGION_RAM, "a", 0, 0x10000, 0);
    km_add(m.root, GM_REGION_ROM, "b", 0x100000, 0x10000, 0);
    CHECK_EQ_U64(fk_slot_count(&m.fk, 0), 2);
    CHECK_EQ_INT(gm_kvm_detach(m.kvm, m.as, NULL), 0);
    CHECK_EQ_U64(fk_slot_count(&m.fk, 0), 0);
    CHECK_EQ_INT(gm_kvm_detach(m.kvm, m.as, NULL), -EINVAL);
    /* Changes while detached reach nobody. */
    km_add(m.root, GM_REGION_RAM, "c", 0x200000, 0x10000, 0);
    CHECK_EQ_U64(fk_slot_count(&m.fk, 0), 0);
    CHECK_EQ_INT(gm_kvm_attach_memory(m.kvm, m.as, 0, NULL), 0);
    CHECK_EQ_U64(fk_slot_count(&m.fk, 0), 3);
    KM_CHECK_SLOTS(&m);
    km_fini(&m); /* gm_kvm_close with the space attached */
}

/* An injected failure is reported; the next commit repairs the slots. */
static void test_injected_failure(void)
{
    struct km m;
    gm_region *a, *b;

    km_init(&m, NULL, NULL);
    a = km_add(m.root, GM_REGION_RAM, "a", 0, 0x10000, 0);
    /* A failed creation: no slot, reported, repaired by the next commit. */
    fk_inject(&m.fk, FK_SET_USER_MEMORY_REGION, 1, ENOMEM);
    b = km_add(m.root, GM_REGION_RAM, "b", 0x100000, 0x10000, 0);
    CHECK(km_slot(&m, 0x100000, NULL) == NULL);
    CHECK_EQ_INT(km_last_error(&m, "registering slot"), -ENOMEM);
    km_add(m.root, GM_REGION_IO, "elsewhere", 0x500000, 0x1000, 0);
    CHECK(km_slot(&m, 0x100000, NULL) != NULL);
    KM_CHECK_SLOTS(&m);
    /* A failed deletion: the slot stays (its memory still referenced)
     * and goes at the next commit. */
    fk_inject(&m.fk, FK_SET_USER_MEMORY_REGION, 1, EIO);
    gm_region_ref(b);
    CHECK_EQ_INT(gm_region_del_subregion(m.root, b, NULL), 0);
    CHECK_EQ_INT(km_last_error(&m, "deleting slot"), -EIO);
    CHECK(km_slot(&m, 0x100000, NULL) != NULL);
    gm_region_unref(b);
    km_add(m.root, GM_REGION_IO, "elsewhere2", 0x600000, 0x1000, 0);
    CHECK(km_slot(&m, 0x100000, NULL) == NULL);
    KM_CHECK_SLOTS(&m);
    /* A failed flag change: the old flags stay until the next commit. */
    fk_inject(&m.fk, FK_SET_USER_MEMORY_REGION, 1, EFAULT);
    CHECK_EQ_INT(gm_region_set_log(a, true, GM_DIRTY_VGA, NULL), 0);
    CHECK_EQ_INT(km_last_error(&m, "flags"), -EFAULT);
    CHECK(km_slot(&m, 0, NULL) && km_slot(&m, 0, NULL)->flags == 0);
    km_add(m.root, GM_REGION_IO, "elsewhere3", 0x700000, 0x1000, 0);
    KM_CHECK_SLOTS(&m);
    CHECK_EQ_U64(fk_rejected_total(&m.fk), 0);
    km_fini(&m);
}

/*
 * A deletion the kernel refuses leaves the slot in the kernel: the library
 * keeps it (and its memory) and deletes it at detach, as it does a slot
 * whose deletion detach's replay met a refusal.
 */
static void test_refused_delete_then_detach(void)
{
    struct km m;
    gm_region *b;

    km_init(&m, NULL, NULL);
    km_add(m.root, GM_REGION_RAM, "a", 0, 0x10000, 0);
    b = km_add(m.root, GM_REGION_RAM, "b", 0x100000, 0x10000, 0);
    gm_region_ref(b);
    fk_inject(&m.fk, FK_SET_USER_MEMORY_REGION, 1, EIO);
    CHECK_EQ_INT(gm_region_del_subregion(m.root, b, NULL), 0);
    CHECK_EQ_INT(km_last_error(&m, "deleting slot"), -EIO);
    CHECK_EQ_U64(fk_slot_count(&m.fk, 0), 2);
    CHECK(km_slot(&m, 0x100000, NULL) != NULL);
    /* Detach deletes it. */
    CHECK_EQ_INT(gm_kvm_detach(m.kvm, m.as, NULL), 0);
    CHECK_EQ_U64(fk_slot_count(&m.fk, 0), 0);
    /* Attached again: exactly the view; a deletion that detach replays
     * is refused: detach deletes that slot afterwards. */
    CHECK_EQ_INT(gm_kvm_attach_memory(m.kvm, m.as, 0, NULL), 0);
    KM_CHECK_SLOTS(&m);
    fk_inject(&m.fk, FK_SET_USER_MEMORY_REGION, 1, EIO);
    CHECK_EQ_INT(gm_kvm_detach(m.kvm, m.as, NULL), 0);
    CHECK_EQ_U64(fk_slot_count(&m.fk, 0), 0);
    CHECK_EQ_U64(fk_rejected_total(&m.fk), 0);
    CHECK_EQ_INT(gm_kvm_attach_memory(m.kvm, m.as, 0, NULL), 0);
    KM_CHECK_SLOTS(&m);
    gm_region_unref(b);
    km_fini(&m);
}

int main(void)
{
    RUN(test_open);
    RUN(test_ram_slot);
    RUN(test_attach_replays);
    RUN(test_subpage_trim);
    RUN(test_rom);
    RUN(test_romd);
    RUN(test_ram_device);
    RUN(test_memoryless);
    RUN(test_overlay_and_move);
    RUN(test_unrelated_change);
    RUN(test_set_log_in_place);
    RUN(test_recycle);
    RUN(test_limit_at_attach);
    RUN(test_limit_at_commit);
    RUN(test_two_address_spaces);
    RUN(test_detach);
    RUN(test_injected_failure);
    RUN(test_refused_delete_then_detach);
    return harness_done();
}
