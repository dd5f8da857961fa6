/* SPDX-License-Identifier: MIT */
/*
 * listener.c - follow a machine's memory map the way a VMM's memslot code
 * does.
 *
 * A hypervisor (KVM, for instance) maps guest RAM with "memory slots": one
 * slot per contiguous range of host memory. A listener keeps them in step
 * with the flat view: region_add creates a slot, region_del removes it, and
 * begin/commit bracket each update so that the slots can be changed as one
 * batch. MMIO ranges get no slot: guest accesses there trap to the VMM.
 *
 * The program registers the listener (which replays the current map), then
 * moves a PCI BAR, hides and shows it, makes the BIOS shadow read-only, and
 * finally unregisters (which replays the removal of every slot).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <guestmem/guestmem.h>

#define MiB (1024ULL * 1024)
#define NR_SLOTS 8

/* The VMM side: a table of slots, indexed by slot number. */
struct slot {
    bool used;
    uint64_t gpa;  /* guest-physical address */
    uint64_t size; /* bytes */
};

struct vmm {
    struct slot slots[NR_SLOTS];
};

/* Only RAM-backed ranges become slots; MMIO stays trapped. */
static bool is_slot(const struct gm_section *s)
{
    return gm_region_ram_ptr(s->region) != NULL;
}

static void on_begin(void *opaque)
{
    (void)opaque;
    printf("begin\n");
}

static void on_commit(void *opaque)
{
    (void)opaque;
    printf("commit\n");
}

static void on_add(void *opaque, const struct gm_section *s)
{
    struct vmm *vmm = opaque;

    if (!is_slot(s)) {
        printf("  mmio  %-10s gpa 0x%08" PRIx64 " (trapped, no slot)\n",
               gm_region_name(s->region), s->addr);
        return;
    }
    for (int i = 0; i < NR_SLOTS; i++) {
        if (!vmm->slots[i].used) {
            vmm->slots[i] = (struct slot){true, s->addr, (uint64_t)s->size};
            printf("  slot %d add: gpa 0x%08" PRIx64 " size 0x%08" PRIx64
                   " host %s+0x%" PRIx64 "%s\n",
                   i, s->addr, (uint64_t)s->size, gm_region_name(s->region),
                   s->offset_in_region, s->readonly ? " readonly" : "");
            return;
        }
    }
    printf("  out of slots!\n");
}

static void on_del(void *opaque, const struct gm_section *s)
{
    struct vmm *vmm = opaque;

    if (!is_slot(s)) {
        return;
    }
    for (int i = 0; i < NR_SLOTS; i++) {
        if (vmm->slots[i].used && vmm->slots[i].gpa == s->addr) {
            vmm->slots[i].used = false;
            printf("  slot %d del: gpa 0x%08" PRIx64 "\n", i, s->addr);
            return;
        }
    }
}

static const struct gm_listener_ops vmm_listener = {
    .begin = on_begin,
    .commit = on_commit,
    .region_add = on_add,
    .region_del = on_del,
};

static void check(int ret, const char *what, const gm_error *err)
{
    if (ret < 0) {
        fprintf(stderr, "listener: %s: %s\n", what, err->msg);
        exit(1);
    }
}

int main(void)
{
    static uint8_t bar_memory[1 * MiB]; /* e.g. a device's VRAM */
    struct vmm vmm = {0};
    gm_region *system, *ram, *shadow, *bar, *uart;
    gm_listener *l;
    gm_system *sys;
    gm_error err;

    /* A 4 GiB machine: RAM, a BIOS shadow alias, a BAR and a UART. */
    sys = gm_system_new(&err);
    system = gm_region_new_container(sys, "system", 4096 * MiB, &err);
    ram = gm_region_new_ram(sys, "ram", 64 * MiB, &err);
    shadow = gm_region_new_alias(sys, "shadow", ram, 0xe0000, 0x20000, &err);
    bar = gm_region_new_ram_ptr(sys, "vram", sizeof(bar_memory), bar_memory,
                                &err);
    uart = gm_region_new_io(sys, "uart", 8, NULL, NULL, &err);
    if (!sys || !system || !ram || !shadow || !bar || !uart) {
        fprintf(stderr, "listener: %s\n", err.msg);
        return 1;
    }
    check(gm_region_add_subregion(system, 0, ram, &err), "ram", &err);
    check(gm_region_add_subregion_overlap(system, 0xe0000, shadow, 1, &err),
          "shadow", &err);
    check(gm_region_add_subregion(system, 0xc0000000, bar, &err), "bar", &err);
    check(gm_region_add_subregion(system, 0xfe000000, uart, &err), "uart",
          &err);
    if (gm_space_new(sys, system, "memory", &err) == NULL) {
        fprintf(stderr, "listener: %s\n", err.msg);
        return 1;
    }

    printf("# register: the current map is replayed\n");
    l = gm_listener_register(sys, &vmm_listener, &vmm, 0, NULL, &err);
    if (l == NULL) {
        fprintf(stderr, "listener: %s\n", err.msg);
        return 1;
    }

    printf("# the guest moves the BAR\n");
    check(gm_region_set_address(bar, 0xd0000000, &err), "move", &err);

    printf("# the guest disables memory decoding, then enables it\n");
    check(gm_region_set_enabled(bar, false, &err), "disable", &err);
    check(gm_region_set_enabled(bar, true, &err), "enable", &err);

    printf("# the firmware write-protects its shadow\n");
    check(gm_region_set_readonly(shadow, true, &err), "readonly", &err);

    printf("# unregister: every slot is removed\n");
    check(gm_listener_unregister(l, &err), "unregister", &err);

    gm_region_unref(ram);
    gm_region_unref(shadow);
    gm_region_unref(bar);
    gm_region_unref(uart);
    gm_region_unref(system);
    check(gm_system_destroy(sys, &err), "destroy", &err);
    return 0;
}
