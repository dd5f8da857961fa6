/* SPDX-License-Identifier: MIT */
/*
 * tools/vmm/devices.c - the device models a board can name with dev=TYPE.
 *
 *   io     dev=uart         a 16550's transmit side: bytes written to
 *                           offset 0 go to the console; the line status
 *                           register (offset 5) always says "ready"
 *   io     dev=exit         a write of (vCPU << 8 | status) ends a vCPU
 *   io     dev=doorbell     offset 0: an ioeventfd for the value 1 (KVM
 *                           signals it in the kernel, the guest never
 *                           exits); other writes reach the model
 *   romdev dev=flash        a flash chip: reads come from its memory (romd
 *                           mode) until the read-ID command 0x90 takes it
 *                           out of romd mode (reads then return IDs);
 *                           0xff puts it back
 *   rom    dev=bios         a ROM whose first bytes are "GMBIOS"
 *   ram    dev=framebuffer  RAM logged for the VGA client
 *   io     dev=bar          a BAR (reads return the offset) that the VMM
 *                           moves while the guest runs
 *
 * Callbacks run on vCPU threads (through the access path) or on the main
 * thread (the host-only run); what they record is guarded by d->lock.
 */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "../board.h"
#include "vmm.h"

#define FLASH_MAGIC "FLSH"
#define FLASH_MANUFACTURER 0x89
#define FLASH_DEVICE 0x18

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

static uint64_t uart_read(void *opaque, uint64_t off, unsigned size)
{
    (void)opaque;
    (void)size;
    return off == 5 ? 0x60 : 0; /* transmitter empty, holding register empty */
}

static void uart_write(void *opaque, uint64_t off, uint64_t v, unsigned size)
{
    struct vmm_devices *d = opaque;

    (void)size;
    if (off != 0) {
        return;
    }
    pthread_mutex_lock(&d->lock);
    if (d->console_len < sizeof(d->console) - 1) {
        d->console[d->console_len++] = (char)v;
        d->console[d->console_len] = '\0';
    }
    if (d->echo) {
        fputc((int)(v & 0xff), stdout);
        if ((v & 0xff) == '\n') {
            fflush(stdout);
        }
    }
    pthread_mutex_unlock(&d->lock);
}

static const struct gm_region_ops uart_ops = {
    .read = uart_read,
    .write = uart_write,
    .endianness = GM_ENDIAN_LITTLE,
    .impl = {.min_access_size = 1, .max_access_size = 1},
};

static gm_region *make_uart(struct vmm_devices *d, gm_system *sys,
                            const char *name, gm_u128 size, gm_error *err)
{
    return gm_region_new_io(sys, name, size, &uart_ops, d, err);
}

static void exit_write(void *opaque, uint64_t off, uint64_t v, unsigned size)
{
    struct vmm_devices *d = opaque;
    unsigned cpu = (unsigned)(v >> 8) & 0xff;

    (void)off;
    (void)size;
    if (cpu >= VMM_MAX_VCPUS) {
        return;
    }
    pthread_mutex_lock(&d->lock);
    d->exited[cpu] = true;
    d->status[cpu] = (unsigned)(v & 0xff);
    pthread_mutex_unlock(&d->lock);
    if (d->on_exit) {
        d->on_exit(d->vm, cpu);
    }
}

static const struct gm_region_ops exit_ops = {
    .write = exit_write,
    .endianness = GM_ENDIAN_LITTLE,
    .impl = {.min_access_size = 1, .max_access_size = 2},
};

static gm_region *make_exit(struct vmm_devices *d, gm_system *sys,
                            const char *name, gm_u128 size, gm_error *err)
{
    return gm_region_new_io(sys, name, size, &exit_ops, d, err);
}

static void doorbell_write(void *opaque, uint64_t off, uint64_t v,
                           unsigned size)
{
    struct vmm_devices *d = opaque;

    (void)off;
    (void)v;
    (void)size;
    pthread_mutex_lock(&d->lock);
    d->doorbell_other++;
    pthread_mutex_unlock(&d->lock);
}

static const struct gm_region_ops doorbell_ops = {
    .write = doorbell_write,
    .endianness = GM_ENDIAN_LITTLE,
    .impl = {.min_access_size = 4, .max_access_size = 4},
};

static gm_region *make_doorbell(struct vmm_devices *d, gm_system *sys,
                                const char *name, gm_u128 size, gm_error *err)
{
    gm_region *r;

    if (size < 8) {
        vmm_err(err, -EINVAL, "device '%s': a doorbell needs 8 bytes",
                     name);
        return NULL;
    }
    r = gm_region_new_io(sys, name, size, &doorbell_ops, d, err);
    if (!r) {
        return NULL;
    }
    if (d->doorbell_fd < 0) {
        d->doorbell_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    }
    if (d->doorbell_fd < 0) {
        vmm_err(err, -errno, "device '%s': eventfd: %s", name,
                     strerror(errno));
        gm_region_unref(r);
        return NULL;
    }
    if (gm_region_add_eventfd(r, 0, 4, true, 1, d->doorbell_fd, err)) {
        gm_region_unref(r);
        return NULL;
    }
    return r;
}

uint64_t vmm_doorbell_rings(struct vmm_devices *d)
{
    uint64_t n = 0;

    if (d->doorbell_fd < 0 ||
        read(d->doorbell_fd, &n, sizeof(n)) != (ssize_t)sizeof(n)) {
        return 0; /* EAGAIN: it never rang */
    }
    return n;
}

static uint64_t flash_read(void *opaque, uint64_t off, unsigned size)
{
    (void)opaque;
    (void)size;
    /* Only out of romd mode: the ID registers. */
    return off == 0 ? FLASH_MANUFACTURER : off == 1 ? FLASH_DEVICE : 0;
}

static void flash_write(void *opaque, uint64_t off, uint64_t v, unsigned size)
{
    struct vmm_devices *d = opaque;
    bool romd;

    (void)off;
    (void)size;
    if ((v & 0xff) == 0x90) {
        romd = false; /* read ID */
    } else if ((v & 0xff) == 0xff) {
        romd = true; /* read array */
    } else {
        return;
    }
    if (gm_region_romd(d->flash) != romd &&
        gm_region_set_romd(d->flash, romd, NULL) == 0) {
        pthread_mutex_lock(&d->lock);
        d->flash_mode_changes++;
        pthread_mutex_unlock(&d->lock);
    }
}

static const struct gm_region_ops flash_ops = {
    .read = flash_read,
    .write = flash_write,
    .endianness = GM_ENDIAN_LITTLE,
    .impl = {.min_access_size = 1, .max_access_size = 1},
};

static gm_region *make_flash(struct vmm_devices *d, gm_system *sys,
                             const char *name, gm_u128 size, gm_error *err)
{
    gm_region *r = gm_region_new_rom_device(sys, name, size, &flash_ops, d,
                                            err);
    uint8_t *mem;

    if (!r) {
        return NULL;
    }
    mem = gm_region_ram_ptr(r);
    if (mem && size >= 4) {
        memcpy(mem, FLASH_MAGIC, 4);
        for (uint64_t i = 4; i < (uint64_t)size && i < 4096; i++) {
            mem[i] = (uint8_t)i;
        }
    }
    d->flash = r;
    return r;
}

static gm_region *make_bios(struct vmm_devices *d, gm_system *sys,
                            const char *name, gm_u128 size, gm_error *err)
{
    gm_region *r = gm_region_new_rom(sys, name, size, err);
    uint8_t *mem = r ? gm_region_ram_ptr(r) : NULL;

    (void)d;
    if (mem && size >= 8) {
        memcpy(mem, "GMBIOS\0\0", 8);
    }
    return r;
}

static gm_region *make_framebuffer(struct vmm_devices *d, gm_system *sys,
                                   const char *name, gm_u128 size,
                                   gm_error *err)
{
    gm_region *r = gm_region_new_ram(sys, name, size, err);

    if (r && gm_region_set_log(r, true, GM_DIRTY_VGA, err)) {
        gm_region_unref(r);
        return NULL;
    }
    d->framebuffer = r;
    return r;
}

static uint64_t bar_read(void *opaque, uint64_t off, unsigned size)
{
    (void)opaque;
    (void)size;
    return off;
}

static const struct gm_region_ops bar_ops = {
    .read = bar_read,
    .endianness = GM_ENDIAN_LITTLE,
};

static gm_region *make_bar(struct vmm_devices *d, gm_system *sys,
                           const char *name, gm_u128 size, gm_error *err)
{
    gm_region *r = gm_region_new_io(sys, name, size, &bar_ops, d, err);

    d->bar = r;
    return r;
}

static const struct vmm_device_type types[] = {
    {"uart", "io", make_uart},
    {"exit", "io", make_exit},
    {"doorbell", "io", make_doorbell},
    {"flash", "romdev", make_flash},
    {"bios", "rom", make_bios},
    {"framebuffer", "ram", make_framebuffer},
    {"bar", "io", make_bar},
};

const struct vmm_device_type *vmm_device_find(const char *name,
                                              const char *kind)
{
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (!strcmp(types[i].name, name) &&
            (!kind || !strcmp(types[i].kind, kind))) {
            return &types[i];
        }
    }
    return NULL;
}

int vmm_devices_init(struct vmm_devices *d)
{
    memset(d, 0, sizeof(*d));
    d->doorbell_fd = -1;
    return pthread_mutex_init(&d->lock, NULL) ? -ENOMEM : 0;
}

void vmm_devices_fini(struct vmm_devices *d)
{
    if (d->doorbell_fd >= 0) {
        close(d->doorbell_fd);
    }
    pthread_mutex_destroy(&d->lock);
}

static gm_region *make_device(void *opaque, gm_system *sys, const char *kind,
                              const char *dev, const char *name, gm_u128 size,
                              gm_error *err)
{
    const struct vmm_device_type *t = vmm_device_find(dev, kind);

    if (!t) {
        vmm_err(err, -EINVAL, "no device model '%s' for a `%s` region", dev,
                kind);
        return NULL;
    }
    return t->create(opaque, sys, name, size, err);
}

struct spaces {
    gm_space *mem, *io;
};

static int find_spaces(gm_space *as, void *opaque)
{
    struct spaces *sp = opaque;

    if (!strcmp(gm_space_name(as), "memory")) {
        sp->mem = as;
    } else if (!strcmp(gm_space_name(as), "io")) {
        sp->io = as;
    }
    return 0;
}

int vmm_board_build(struct machine *m, struct vmm_devices *d,
                    const char *label, char *text, size_t len,
                    gm_space **mem, gm_space **io)
{
    struct board_devices devs = {make_device, d, true};
    struct spaces sp = {NULL, NULL};

    if (board_import_devices(m, label, text, len, &devs)) {
        return -1;
    }
    gm_system_foreach_space(m->sys, find_spaces, &sp);
    if (!sp.mem) {
        fprintf(stderr, "%s: expected an address space named `memory`\n",
                label);
        return -1;
    }
    *mem = sp.mem;
    *io = sp.io;
    return 0;
}

static const char default_board[] =
    "# guestmem run's built-in board: RAM with a hole, a ROM with an alias,\n"
    "# a UART, an MMIO device with an ioeventfd doorbell, a flash ROM\n"
    "# device, a framebuffer logged for VGA, and a BAR the VMM moves.\n"
    "container sysmem 16E name=system\n"
    "ram       ram    64M  name=pc.ram\n"
    "alias     ram-lo 640K ram 0\n"
    "alias     ram-hi 63M  ram 1M\n"
    "ram       fb     128K dev=framebuffer name=vga.vram\n"
    "rom       bios   64K  dev=bios name=pc.bios\n"
    "alias     bios-hi 64K bios 0 name=pc.bios.alias\n"
    "romdev    flash  64K  dev=flash name=system.flash0\n"
    "io        bell   4K   dev=doorbell name=virtio-doorbell\n"
    "io        bar    4K   dev=bar name=pci-bar0\n"
    "map sysmem 0          ram-lo\n"
    "map sysmem 0xa0000    fb\n"
    "map sysmem 0xf0000    bios\n"
    "map sysmem 0x100000   ram-hi\n"
    "map sysmem 0xe0000000 bar\n"
    "map sysmem 0xfe000000 flash\n"
    "map sysmem 0xfeb00000 bell\n"
    "map sysmem 0xffff0000 bios-hi\n"
    "container ioroot 64K name=io\n"
    "io        uart   8    dev=uart name=serial\n"
    "io        exit   2    dev=exit name=debug-exit\n"
    "map ioroot 0x3f8 uart\n"
    "map ioroot 0x501 exit\n"
    "space memory sysmem\n"
    "space io     ioroot\n";

const char *vmm_default_board(void)
{
    return default_board;
}
