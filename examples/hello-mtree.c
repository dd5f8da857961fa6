/* SPDX-License-Identifier: MIT */
/*
 * hello-mtree.c - build a small machine and print its flat view.
 *
 * The machine, in the shape of a PC:
 *
 *   system      4 GiB container, the root of address space "memory"
 *   pc.ram      128 MiB of RAM at 0
 *   uart        8 bytes of MMIO at 0xfe000000 (callbacks log each access)
 *   bios        64 KiB ROM at the top of 4 GiB
 *   isa-bios    an alias showing the same ROM below 1 MiB, at 0xf0000,
 *               with priority 1 so that it wins over the RAM there
 *
 * The board is built inside one transaction, so listeners (none here) would
 * see a single update. A few guest accesses go through the address space
 * (the UART's callbacks log theirs), then `gm_mtree_print(...,
 * GM_MTREE_FLAT, ...)` prints what the guest sees, in QEMU's `info mtree -f`
 * format.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <guestmem/guestmem.h>

#define KiB (1024ULL)
#define MiB (1024 * KiB)
#define GiB (1024 * MiB)

/* Stop the program with the message of a failed call. */
static void die(const char *what, const gm_error *err)
{
    fprintf(stderr, "hello-mtree: %s: %s (%s)\n", what, err->msg,
            gm_strerror(err->code));
    exit(1);
}

static gm_region *need(gm_region *r, const char *what, const gm_error *err)
{
    if (r == NULL) {
        die(what, err);
    }
    return r;
}

static void check(int ret, const char *what, const gm_error *err)
{
    if (ret < 0) {
        die(what, err);
    }
}

/* A device model: its state is the opaque pointer of its callbacks. */
struct uart {
    uint8_t scratch;
};

static uint64_t uart_read(void *opaque, uint64_t offset, unsigned size)
{
    struct uart *u = opaque;

    printf("uart: read  offset 0x%" PRIx64 " size %u\n", offset, size);
    return offset == 7 ? u->scratch : 0;
}

static void uart_write(void *opaque, uint64_t offset, uint64_t data,
                       unsigned size)
{
    struct uart *u = opaque;

    printf("uart: write offset 0x%" PRIx64 " size %u data 0x%" PRIx64 "\n",
           offset, size, data);
    if (offset == 7) {
        u->scratch = (uint8_t)data;
    }
}

static const struct gm_region_ops uart_ops = {
    .read = uart_read,
    .write = uart_write,
    .endianness = GM_ENDIAN_LITTLE,
    .valid = {.min_access_size = 1, .max_access_size = 1},
};

int main(void)
{
    static const uint8_t reset_vector[] = {0xea, 0x5b, 0xe0, 0x00, 0xf0};
    struct uart uart = {0};
    gm_region *system, *ram, *mmio, *bios, *isa_bios;
    gm_space *memory;
    gm_system *sys;
    uint64_t val;
    gm_error err;

    sys = gm_system_new(&err);
    if (sys == NULL) {
        die("gm_system_new", &err);
    }

    /* The root first, so that the space exists while the board is built. */
    system = need(gm_region_new_container(sys, "system", 4 * GiB, &err),
                  "system", &err);
    memory = gm_space_new(sys, system, "memory", &err);
    if (memory == NULL) {
        die("gm_space_new", &err);
    }

    ram =
        need(gm_region_new_ram(sys, "pc.ram", 128 * MiB, &err), "pc.ram", &err);
    mmio = need(gm_region_new_io(sys, "uart", 8, &uart_ops, &uart, &err),
                "uart", &err);
    bios = need(gm_region_new_rom(sys, "bios", 64 * KiB, &err), "bios", &err);
    isa_bios =
        need(gm_region_new_alias(sys, "isa-bios", bios, 0, 64 * KiB, &err),
             "isa-bios", &err);

    /* A ROM's contents are written through its host pointer. */
    memcpy((uint8_t *)gm_region_ram_ptr(bios) + 64 * KiB - 16, reset_vector,
           sizeof(reset_vector));

    /* Place everything in one transaction: one topology update. */
    check(gm_transaction_begin(sys), "gm_transaction_begin", &err);
    check(gm_region_add_subregion(system, 0, ram, &err), "add pc.ram", &err);
    check(gm_region_add_subregion(system, 0xfe000000, mmio, &err), "add uart",
          &err);
    check(gm_region_add_subregion(system, 4 * GiB - 64 * KiB, bios, &err),
          "add bios", &err);
    check(gm_region_add_subregion_overlap(system, 0xf0000, isa_bios, 1, &err),
          "add isa-bios", &err);
    check(gm_transaction_commit(sys, &err), "gm_transaction_commit", &err);

    /*
     * The containers, the alias and the space now hold references on what
     * they use: drop ours, the system owns the rest.
     */
    gm_region_unref(ram);
    gm_region_unref(mmio);
    gm_region_unref(bios);
    gm_region_unref(isa_bios);
    gm_region_unref(system);

    /* Guest accesses: RAM, the UART's callbacks, the ROM seen twice. */
    gm_space_store(memory, 0x1000, 4, GM_ENDIAN_LITTLE, 0xcafe,
                   GM_ATTRS_DEFAULT);
    gm_space_load(memory, 0x1000, 4, GM_ENDIAN_LITTLE, &val, GM_ATTRS_DEFAULT);
    printf("ram[0x1000] = 0x%" PRIx64 "\n", val);
    gm_space_store(memory, 0xfe000007, 1, GM_ENDIAN_LITTLE, 0x42,
                   GM_ATTRS_DEFAULT);
    gm_space_load(memory, 0xfe000007, 1, GM_ENDIAN_LITTLE, &val,
                  GM_ATTRS_DEFAULT);
    printf("uart scratch = 0x%" PRIx64 "\n", val);
    gm_space_load(memory, 0xfffffff0, 1, GM_ENDIAN_LITTLE, &val,
                  GM_ATTRS_DEFAULT);
    printf("reset vector at 0xfffffff0: 0x%02" PRIx64 "\n", val);
    gm_space_load(memory, 0xffff0, 1, GM_ENDIAN_LITTLE, &val, GM_ATTRS_DEFAULT);
    printf("and through isa-bios at 0xffff0: 0x%02" PRIx64 "\n\n", val);

    check(gm_mtree_print(sys, stdout, GM_MTREE_FLAT, &err), "gm_mtree_print",
          &err);

    check(gm_system_destroy(sys, &err), "gm_system_destroy", &err);
    return 0;
}
