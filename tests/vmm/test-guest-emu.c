/* SPDX-License-Identifier: MIT */
/*
 * test-guest-emu.c - `guestmem run`'s guest, page tables and descriptor
 * tables run on an emulated CPU (Unicorn 2), where no /dev/kvm is needed.
 *
 * The machine is the built-in board built as `guestmem run` builds it
 * (vmm_board_build() with the device models of devices.c, the guest and
 * the tables written by vmm_x86_load()). The emulator sees the memory
 * space as a KVM memslot listener would show it to a vCPU: writable RAM
 * is mapped directly (host memory of the library's RAM blocks), with the
 * pages written into a dirty-logged range marked as KVM's dirty log would
 * report them; everything else below 4 GiB (ROM, ROM devices in either
 * mode, MMIO, holes) and every IN/OUT goes through gm_space_load/store, as
 * KVM's exits reach the access path, so ROM writes are dropped, the flash
 * switches out of romd mode and the doorbell's ioeventfd fires there.
 *
 * The vCPU state comes from vmm_x86_state(), the values KVM_SET_SREGS and
 * KVM_SET_REGS get. An emulator cannot be handed a CPL3 state directly, so
 * a ring-0 stub, on a page of a hole of the board that exists only during
 * the stub, loads TR with LTR and enters the guest with IRETQ (the CPU
 * checks the GDT's user code and data descriptors, their DPL and RPL, the
 * 64-bit TSS descriptor, and takes RFLAGS with IOPL 3); paging is on from
 * the first instruction, so every fetch and access walks the identity page
 * tables. Checks:
 *
 *  - the GDT entries agree with the descriptor caches KVM is given, and
 *    the user selectors are a Linux host's (what PVM needs);
 *  - vCPU 0 runs the whole guest to the exit port: what report() in run.c
 *    checks (console, status, doorbell rings, 8 dirty framebuffer pages,
 *    2 flash mode changes) and the RAM the guest filled;
 *  - vCPU 1 of 2 fills its slice and rings; with vCPU 0 after it the
 *    rings are report()'s 3 + (vCPUs - 1);
 *  - the emulator enforces what this relies on: without the user bit in
 *    the page tables the guest faults at once (#PF: it runs at CPL3), and
 *    IRETQ to a DPL 0 code segment faults (#GP). Unicorn lets every IN
 *    and OUT through, so IOPL 3 is only checked as RFLAGS' value;
 *  - guest-interp.S (test-kvm-guest.c's guest) runs its command protocol.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <guestmem/guestmem.h>
#include <unicorn/unicorn.h>

#include "harness.h"
#include "vmm.h"

extern const uint8_t gm_test_guest_start[], gm_test_guest_end[];

#define LIMIT_4G 0x100000000ull
#define PAGE 0x1000ull
#define MAX_INSNS 20000000u
#define MAX_HOLES 64

#define MSR_EFER 0xc0000080u
#define STUB_IRETQ 15 /* the offset of the stub's IRETQ */

/* The board's machine plus the emulated vCPU; run.c's struct vmm here. */
struct vmm {
    struct machine m;
    struct vmm_devices dev;
    gm_space *mem, *io;
    const struct vmm_x86_layout *lay;
    uc_engine *uc;
    uint64_t stub;   /* the stub's page (in a hole), 0 if none */
    int intno;       /* the exception that stopped the vCPU, or -1 */
    uint64_t fault_rip;
    uint64_t bad_addr;
    bool bad_access; /* an access Unicorn could not map */
};

/* What the dirty-logged direct ranges need in the write hook. */
struct logged {
    struct vmm *vm;
    uint64_t addr, ram_addr, size;
    unsigned mask;
};

static struct logged logged[8];
static unsigned nlogged;

static void uc_ok(uc_err e, const char *what)
{
    if (e != UC_ERR_OK) {
        HARNESS_FAIL("%s: %s", what, uc_strerror(e));
    }
}

static void on_exit_port(struct vmm *vm, unsigned cpu)
{
    (void)cpu;
    uc_emu_stop(vm->uc); /* the guest spins after this; KVM kicks it */
}

static bool vm_build(struct vmm *vm, const uint8_t *guest, size_t len)
{
    const char *board = vmm_default_board();
    char text[2048];
    gm_error err = {0};

    memset(vm, 0, sizeof(*vm));
    vm->lay = &vmm_x86_default;
    vm->intno = -1;
    CHECK_EQ_INT(vmm_devices_init(&vm->dev), 0);
    vm->dev.on_exit = on_exit_port;
    vm->dev.vm = vm;
    if (strlen(board) >= sizeof(text)) {
        HARNESS_FAIL("the built-in board is longer than %zu", sizeof(text));
        return false;
    }
    memcpy(text, board, strlen(board) + 1);
    if (vmm_board_build(&vm->m, &vm->dev, "(built-in board)", text,
                        strlen(text), &vm->mem, &vm->io)) {
        HARNESS_FAIL("the built-in board does not build");
        return false;
    }
    CHECK(vm->io != NULL);
    if (vmm_x86_load(vm->mem, vm->lay, guest, len, &err)) {
        HARNESS_FAIL("vmm_x86_load: %s", err.msg);
        return false;
    }
    return true;
}

static void vm_fini(struct vmm *vm)
{
    if (vm->uc) {
        uc_close(vm->uc);
    }
    CHECK_EQ_INT(machine_destroy(&vm->m), 0);
    vmm_devices_fini(&vm->dev);
}

/*
 * The access path: what a KVM_EXIT_MMIO or KVM_EXIT_IO would reach.
 */
static uint64_t mmio_read(uc_engine *uc, uint64_t off, unsigned size,
                          void *opaque)
{
    struct vmm *vm = opaque;
    uint64_t v = 0;

    (void)uc;
    gm_space_load(vm->mem, off, size, GM_ENDIAN_LITTLE, &v, GM_ATTRS_DEFAULT);
    return v;
}

static void mmio_write(uc_engine *uc, uint64_t off, unsigned size,
                       uint64_t v, void *opaque)
{
    struct vmm *vm = opaque;

    (void)uc;
    gm_space_store(vm->mem, off, size, GM_ENDIAN_LITTLE, v, GM_ATTRS_DEFAULT);
}

/* uc_mmio_map gives offsets into the mapping: one per hole, based at 0. */
struct hole {
    struct vmm *vm;
    uint64_t base;
};

static struct hole holes[MAX_HOLES];
static unsigned nholes;

static uint64_t hole_read(uc_engine *uc, uint64_t off, unsigned size,
                          void *opaque)
{
    struct hole *h = opaque;

    return mmio_read(uc, h->base + off, size, h->vm);
}

static void hole_write(uc_engine *uc, uint64_t off, unsigned size,
                       uint64_t v, void *opaque)
{
    struct hole *h = opaque;

    mmio_write(uc, h->base + off, size, v, h->vm);
}

static uint32_t port_in(uc_engine *uc, uint32_t port, int size, void *opaque)
{
    struct vmm *vm = opaque;
    uint64_t v = 0;

    (void)uc;
    gm_space_load(vm->io, port, (unsigned)size, GM_ENDIAN_LITTLE, &v,
                  GM_ATTRS_DEFAULT);
    return (uint32_t)v;
}

static void port_out(uc_engine *uc, uint32_t port, int size, uint32_t v,
                     void *opaque)
{
    struct vmm *vm = opaque;

    (void)uc;
    gm_space_store(vm->io, port, (unsigned)size, GM_ENDIAN_LITTLE, v,
                   GM_ATTRS_DEFAULT);
}

/* KVM's dirty log for a logged slot: the pages the vCPU wrote. */
static void logged_write(uc_engine *uc, uc_mem_type type, uint64_t addr,
                         int size, int64_t value, void *opaque)
{
    struct logged *l = opaque;

    (void)uc;
    (void)type;
    (void)value;
    CHECK_EQ_INT(gm_dirty_set(gm_space_system(l->vm->mem),
                              l->ram_addr + (addr - l->addr),
                              (uint64_t)size, l->mask, NULL),
                 0);
}

static void on_intr(uc_engine *uc, uint32_t intno, void *opaque)
{
    struct vmm *vm = opaque;

    vm->intno = (int)intno;
    uc_reg_read(uc, UC_X86_REG_RIP, &vm->fault_rip);
    uc_emu_stop(uc);
}

static bool on_invalid(uc_engine *uc, uc_mem_type type, uint64_t addr,
                       int size, int64_t value, void *opaque)
{
    struct vmm *vm = opaque;

    (void)uc;
    (void)type;
    (void)size;
    (void)value;
    vm->bad_access = true;
    vm->bad_addr = addr;
    return false;
}

/* Writable RAM, page-aligned: mapped directly, like a KVM memslot. */
static bool direct(const struct gm_section *s)
{
    uint64_t size = (uint64_t)s->size;

    /* (romd is the mode of a ROM device: true for other regions) */
    return gm_region_kind(s->region) == GM_REGION_RAM && !s->readonly &&
           gm_region_ram_ptr(s->region) && !(s->addr % PAGE) &&
           !(size % PAGE) && s->addr + size <= LIMIT_4G;
}

struct map_walk {
    struct vmm *vm;
    uint64_t next; /* the first address not yet mapped */
};

static void map_hole(struct map_walk *w, uint64_t end)
{
    struct vmm *vm = w->vm;
    uint64_t start = w->next;

    if (start >= end) {
        return;
    }
    w->next = end;
    if (!vm->stub) { /* the stub's page, while the stub runs */
        struct gm_section s;
        gm_flatview *fv = gm_space_get_flatview(vm->mem);
        bool used = gm_flatview_lookup(fv, start, &s);

        gm_flatview_unref(fv);
        if (!used) {
            vm->stub = start;
            uc_ok(uc_mem_map(vm->uc, start, PAGE, UC_PROT_ALL),
                  "uc_mem_map (stub)");
            start += PAGE;
        }
    }
    if (start >= end || nholes >= MAX_HOLES) {
        CHECK(nholes < MAX_HOLES);
        return;
    }
    holes[nholes] = (struct hole){vm, start};
    uc_ok(uc_mmio_map(vm->uc, start, end - start, hole_read, &holes[nholes],
                      hole_write, &holes[nholes]),
          "uc_mmio_map");
    nholes++;
}

static int map_section(const struct gm_section *s, void *opaque)
{
    struct map_walk *w = opaque;
    struct vmm *vm = w->vm;
    uint64_t size = (uint64_t)s->size;

    if (!direct(s)) {
        return 0; /* stays in a hole: the access path */
    }
    map_hole(w, s->addr);
    uc_ok(uc_mem_map_ptr(vm->uc, s->addr, size, UC_PROT_ALL,
                         (uint8_t *)gm_region_ram_ptr(s->region) +
                             s->offset_in_region),
          "uc_mem_map_ptr");
    if (s->dirty_log_mask) {
        uc_hook h;
        struct logged *l = &logged[nlogged];

        if (nlogged >= sizeof(logged) / sizeof(logged[0])) {
            HARNESS_FAIL("more than %u dirty-logged ranges", nlogged);
            return 1;
        }
        *l = (struct logged){vm, s->addr,
                             gm_region_ram_addr(s->region) +
                                 s->offset_in_region,
                             size, s->dirty_log_mask};
        nlogged++;
        uc_ok(uc_hook_add(vm->uc, &h, UC_HOOK_MEM_WRITE, logged_write, l,
                          s->addr, s->addr + size - 1),
              "uc_hook_add (dirty log)");
    }
    w->next = s->addr + size;
    return 0;
}

static void map_memory(struct vmm *vm)
{
    struct map_walk w = {vm, 0};
    gm_flatview *fv = gm_space_get_flatview(vm->mem);

    nholes = 0;
    nlogged = 0;
    gm_flatview_foreach(fv, map_section, &w);
    gm_flatview_unref(fv);
    map_hole(&w, LIMIT_4G);
}

static void put_seg(uc_engine *uc, int reg, uint16_t sel, const char *what)
{
    uint64_t v = sel;

    uc_ok(uc_reg_write(uc, reg, &v), what);
}

/*
 * The ring-0 stub: LTR AX; XOR EAX, EAX; IRETQ with the frame of @st.
 * Returns false if it did not reach the guest's entry.
 */
static bool enter_cpl3(struct vmm *vm, const struct vmm_x86_state *st)
{
    static const uint8_t code[] = {
        0x0f, 0x00, 0xd8, /* ltr %ax */
        0x8e, 0xd9,       /* mov %ecx, %ds */
        0x8e, 0xc1,       /* mov %ecx, %es */
        0x8e, 0xe1,       /* mov %ecx, %fs */
        0x8e, 0xe9,       /* mov %ecx, %gs */
        0x31, 0xc0,       /* xor %eax, %eax */
        0x31, 0xc9,       /* xor %ecx, %ecx */
        0x48, 0xcf,       /* iretq */
    };
    uint64_t frame[5] = {st->rip, st->cs.selector, st->rflags, st->rsp,
                         st->ss.selector};
    uint64_t rsp0 = vm->stub + PAGE - sizeof(frame), v;
    uc_x86_mmr dt = {0};
    uc_x86_msr efer = {MSR_EFER, st->efer};
    uc_engine *uc = vm->uc;
    uint8_t gdt[128];
    uc_err e;

    CHECK(st->gdt.limit < sizeof(gdt));
    /* LTR marks the TSS descriptor busy; KVM_SET_SREGS writes nothing. */
    gm_space_read(vm->mem, st->gdt.base, gdt, st->gdt.limit + 1u,
                  GM_ATTRS_DEFAULT);
    uc_ok(uc_mem_write(uc, vm->stub, code, sizeof(code)), "stub code");
    uc_ok(uc_mem_write(uc, rsp0, frame, sizeof(frame)), "stub frame");
    v = st->cr4;
    uc_ok(uc_reg_write(uc, UC_X86_REG_CR4, &v), "CR4");
    v = st->cr3;
    uc_ok(uc_reg_write(uc, UC_X86_REG_CR3, &v), "CR3");
    uc_ok(uc_reg_write(uc, UC_X86_REG_MSR, &efer), "EFER");
    v = st->cr0;
    uc_ok(uc_reg_write(uc, UC_X86_REG_CR0, &v), "CR0");
    dt.base = st->gdt.base;
    dt.limit = st->gdt.limit;
    uc_ok(uc_reg_write(uc, UC_X86_REG_GDTR, &dt), "GDTR");
    dt.base = st->idt.base;
    dt.limit = st->idt.limit;
    uc_ok(uc_reg_write(uc, UC_X86_REG_IDTR, &dt), "IDTR");
    put_seg(uc, UC_X86_REG_CS, VMM_X86_SEL_KCODE, "CS (kernel)");
    put_seg(uc, UC_X86_REG_SS, VMM_X86_SEL_KDATA, "SS (kernel)");
    v = st->tr.selector;
    uc_ok(uc_reg_write(uc, UC_X86_REG_RAX, &v), "RAX");
    CHECK(st->es.selector == st->ds.selector &&
          st->fs.selector == st->ds.selector &&
          st->gs.selector == st->ds.selector);
    v = st->ds.selector;
    uc_ok(uc_reg_write(uc, UC_X86_REG_RCX, &v), "RCX");
    uc_ok(uc_reg_write(uc, UC_X86_REG_RSP, &rsp0), "RSP");
    uc_ok(uc_reg_write(uc, UC_X86_REG_RDI, &st->rdi), "RDI");
    uc_ok(uc_reg_write(uc, UC_X86_REG_RSI, &st->rsi), "RSI");
    v = 0x2;
    uc_ok(uc_reg_write(uc, UC_X86_REG_RFLAGS, &v), "RFLAGS");
    e = uc_emu_start(uc, vm->stub, st->rip, 0, 16);
    uc_ok(e, "the stub");
    uc_reg_read(uc, UC_X86_REG_RIP, &v);
    gm_space_write(vm->mem, st->gdt.base, gdt, st->gdt.limit + 1u,
                   GM_ATTRS_DEFAULT);
    if (e != UC_ERR_OK || v != st->rip || vm->intno >= 0) {
        printf("# the stub did not enter the guest: exception %d at RIP "
               "0x%" PRIx64 "\n", vm->intno, v);
        return false;
    }
    /* The block at the entry was translated to stop there: drop it. */
    uc_ok(uc_ctl_remove_cache(uc, st->rip, st->rip + 1), "remove_cache");
    /* The page goes back to the access path, as the rest of the hole. */
    uc_ok(uc_mem_unmap(uc, vm->stub, PAGE), "uc_mem_unmap (stub)");
    if (nholes >= MAX_HOLES) {
        HARNESS_FAIL("more than %u holes", nholes);
        return false;
    }
    holes[nholes] = (struct hole){vm, vm->stub};
    uc_ok(uc_mmio_map(uc, vm->stub, PAGE, hole_read, &holes[nholes],
                      hole_write, &holes[nholes]),
          "uc_mmio_map (stub)");
    nholes++;
    return true;
}

/* The state the guest starts in is the one KVM gets. */
static void check_entry_state(struct vmm *vm, const struct vmm_x86_state *st)
{
    uc_engine *uc = vm->uc;
    uc_x86_mmr tr = {0};
    uint64_t v;

    uc_reg_read(uc, UC_X86_REG_CS, &v);
    CHECK_EQ_U64(v & 0xffff, st->cs.selector);
    uc_reg_read(uc, UC_X86_REG_SS, &v);
    CHECK_EQ_U64(v & 0xffff, st->ss.selector);
    uc_reg_read(uc, UC_X86_REG_DS, &v);
    CHECK_EQ_U64(v & 0xffff, st->ds.selector);
    uc_reg_read(uc, UC_X86_REG_RSP, &v);
    CHECK_EQ_U64(v, st->rsp);
    uc_reg_read(uc, UC_X86_REG_RFLAGS, &v);
    CHECK_EQ_U64(v & 0x3fd7, st->rflags); /* IOPL and flags, no status */
    uc_reg_read(uc, UC_X86_REG_RDI, &v);
    CHECK_EQ_U64(v, st->rdi);
    uc_reg_read(uc, UC_X86_REG_RSI, &v);
    CHECK_EQ_U64(v, st->rsi);
    uc_reg_read(uc, UC_X86_REG_RAX, &v);
    CHECK_EQ_U64(v, 0);
    uc_reg_read(uc, UC_X86_REG_CR0, &v);
    CHECK_EQ_U64(v & st->cr0, st->cr0);
    uc_reg_read(uc, UC_X86_REG_CR3, &v);
    CHECK_EQ_U64(v, st->cr3);
    uc_reg_read(uc, UC_X86_REG_TR, &tr);
    CHECK_EQ_U64(tr.selector, st->tr.selector);
    CHECK_EQ_U64(tr.base, st->tr.base);
    CHECK_EQ_U64(tr.limit, st->tr.limit);
    /* QEMU keeps the type LTR read (available) in the cache */
    CHECK_EQ_U64(((tr.flags >> 8) & 0xf) | 0x2, st->tr.type);
}

/*
 * Start an engine on the board, vCPU @id of @nvcpus entered at CPL3 after
 * @tweak (if any) changed its state; run until the exit port. Returns the
 * uc_emu_start result of the guest's run.
 */
static uc_err run_vcpu(struct vmm *vm, unsigned id, unsigned nvcpus,
                       void (*tweak)(struct vmm_x86_state *st))
{
    struct vmm_x86_state st;
    uc_hook h;
    uc_err e;

    vmm_x86_state(vm->lay, id, nvcpus, &st);
    if (tweak) {
        tweak(&st);
    }
    if (vm->uc) {
        uc_close(vm->uc);
    }
    vm->stub = 0;
    vm->intno = -1;
    vm->bad_access = false;
    e = uc_open(UC_ARCH_X86, UC_MODE_64, &vm->uc);
    if (e != UC_ERR_OK) {
        HARNESS_FAIL("uc_open: %s", uc_strerror(e));
        vm->uc = NULL;
        return e;
    }
    map_memory(vm);
    CHECK(vm->stub != 0);
    uc_ok(uc_hook_add(vm->uc, &h, UC_HOOK_INSN, port_in, vm, 1, 0,
                      UC_X86_INS_IN),
          "uc_hook_add (IN)");
    uc_ok(uc_hook_add(vm->uc, &h, UC_HOOK_INSN, port_out, vm, 1, 0,
                      UC_X86_INS_OUT),
          "uc_hook_add (OUT)");
    uc_ok(uc_hook_add(vm->uc, &h, UC_HOOK_INTR, on_intr, vm, 1, 0),
          "uc_hook_add (INTR)");
    uc_ok(uc_hook_add(vm->uc, &h, UC_HOOK_MEM_INVALID, on_invalid, vm, 1, 0),
          "uc_hook_add (MEM_INVALID)");
    if (!vm->stub || !enter_cpl3(vm, &st)) {
        return UC_ERR_EXCEPTION;
    }
    check_entry_state(vm, &st);
    e = uc_emu_start(vm->uc, st.rip, 0, 0, MAX_INSNS);
    if (vm->bad_access) {
        printf("# vCPU %u: access Unicorn could not map at 0x%" PRIx64 "\n",
               id, vm->bad_addr);
    }
    return e;
}

/* gm_space_read into a buffer and compare with a repeated 64-bit value. */
static void check_fill(struct vmm *vm, uint64_t addr, uint64_t len,
                       uint64_t v)
{
    static uint64_t buf[0x100000 / 8];
    uint64_t bad = 0;

    CHECK(len <= sizeof(buf));
    CHECK_EQ_INT(gm_space_read(vm->mem, addr, buf, len, GM_ATTRS_DEFAULT),
                 GM_RESULT_OK);
    for (uint64_t i = 0; i < len / 8; i++) {
        bad += buf[i] != v;
    }
    CHECK_EQ_U64(bad, 0);
}

static uint64_t fb_dirty(struct vmm *vm)
{
    gm_region *fb = vm->dev.framebuffer;

    return gm_dirty_count(gm_region_system(fb), gm_region_ram_addr(fb),
                          (uint64_t)gm_region_size(fb), GM_DIRTY_VGA);
}

static void fb_clear(struct vmm *vm)
{
    gm_region *fb = vm->dev.framebuffer;

    CHECK_EQ_INT(gm_dirty_clear(gm_region_system(fb), gm_region_ram_addr(fb),
                                (uint64_t)gm_region_size(fb), GM_DIRTY_VGA,
                                NULL),
                 0);
}

static size_t guest_len(void)
{
    return (size_t)(gm_guest_end - gm_guest_start);
}

/* What run.c's report() checks of vCPU 0's run of the built-in guest. */
static void check_vcpu0(struct vmm *vm)
{
    uc_err e;

    fb_clear(vm);
    e = run_vcpu(vm, 0, 1, NULL);
    uc_ok(e, "vCPU 0");
    CHECK_EQ_INT(vm->intno, -1);
    CHECK(!vm->bad_access);
    printf("# vCPU 0 console:\n%s", vm->dev.console);
    CHECK_CONTAINS(vm->dev.console, "guest: hello from CPL3\n");
    CHECK_CONTAINS(vm->dev.console, "guest: done\n");
    CHECK(strstr(vm->dev.console, "CHECK FAILED") == NULL);
    CHECK(vm->dev.exited[0]);
    CHECK_EQ_INT(vm->dev.status[0], 0);
    CHECK_EQ_U64(vmm_doorbell_rings(&vm->dev), 3);
    CHECK_EQ_U64(vm->dev.doorbell_other, 2);
    CHECK_EQ_U64(fb_dirty(vm), 8);
    CHECK_EQ_INT(vm->dev.flash_mode_changes, 2);
    CHECK(gm_region_romd(vm->dev.flash));
    check_fill(vm, 0x200000, 0x100000, 0x6775657374726d67ull);
    check_fill(vm, 0xa0000, 8 * PAGE, 0x00ff00ff00ff00ffull);
}

static void test_board_descriptors(void)
{
    struct vmm vm;
    struct vmm_x86_state st;
    uint64_t gdt[16] = {0};

    if (!vm_build(&vm, gm_guest_start, guest_len())) {
        vm_fini(&vm);
        return;
    }
    vmm_x86_state(vm.lay, 0, 1, &st);
    CHECK(st.gdt.limit + 1u <= sizeof(gdt));
    CHECK_EQ_U64((st.gdt.limit + 1u) % 8, 0);
    gm_space_read(vm.mem, st.gdt.base, gdt, st.gdt.limit + 1u,
                  GM_ATTRS_DEFAULT);
    const struct kvm_segment *segs[] = {&st.cs, &st.ss, &st.ds, &st.es,
                                        &st.fs, &st.gs, &st.tr};
    for (size_t i = 0; i < sizeof(segs) / sizeof(segs[0]); i++) {
        const struct kvm_segment *s = segs[i];
        uint64_t d = gdt[s->selector >> 3];
        bool g = d >> 55 & 1;
        uint64_t limit = (d & 0xffff) | (d >> 32 & 0xf0000);
        uint64_t base = (d >> 16 & 0xffffff) | (d >> 32 & 0xff000000);

        if (!s->s) { /* a system descriptor: 16 bytes in long mode */
            base |= gdt[(s->selector >> 3) + 1] << 32;
        }
        limit = g ? limit << 12 | 0xfff : limit;
        CHECK_EQ_U64(base, s->base);
        CHECK_EQ_U64(limit, s->limit);
        CHECK_EQ_U64(d >> 44 & 1, s->s);
        CHECK_EQ_U64(d >> 45 & 3, s->dpl);
        CHECK_EQ_U64(d >> 47 & 1, s->present);
        CHECK_EQ_U64(d >> 53 & 1, s->l);
        CHECK_EQ_U64(d >> 54 & 1, s->db);
        CHECK_EQ_U64(g, s->g);
        CHECK_EQ_U64(s->selector & 3, s->s ? 3 : 0); /* RPL 3 for CPL3 */
        /* The GDT's TSS is available (LTR would refuse a busy one). */
        CHECK_EQ_U64(d >> 40 & 0xf, s->s ? s->type : 0x9);
    }
    CHECK_EQ_U64(st.tr.type, 0xb);
    /* A Linux host's __USER_CS and __USER_DS (PVM needs them: vmm.h). */
    CHECK_EQ_U64(st.cs.selector, 0x33);
    CHECK_EQ_U64(st.ss.selector, 0x2b);
    vm_fini(&vm);
}

static void test_vcpu0(void)
{
    struct vmm vm;

    if (vm_build(&vm, gm_guest_start, guest_len())) {
        check_vcpu0(&vm);
    }
    vm_fini(&vm);
}

static void test_two_vcpus(void)
{
    struct vmm vm;
    uc_err e;

    if (!vm_build(&vm, gm_guest_start, guest_len())) {
        vm_fini(&vm);
        return;
    }
    fb_clear(&vm);
    e = run_vcpu(&vm, 1, 2, NULL);
    uc_ok(e, "vCPU 1");
    CHECK_EQ_INT(vm.intno, -1);
    CHECK(vm.dev.exited[1]);
    CHECK(!vm.dev.exited[0]);
    CHECK_EQ_INT(vm.dev.status[1], 0);
    CHECK_EQ_U64(vm.dev.console_len, 0);
    CHECK_EQ_U64(fb_dirty(&vm), 0);
    CHECK_EQ_INT(vm.dev.flash_mode_changes, 0);
    check_fill(&vm, 0x400000 + (1u << 20), 0x40000, 1);
    /* vCPU 0 after it: report()'s 3 + (vCPUs - 1) rings in all. */
    uint64_t rings = vmm_doorbell_rings(&vm.dev);
    check_vcpu0(&vm);
    CHECK_EQ_U64(rings, 1);
    vm_fini(&vm);
}

static void kernel_cs(struct vmm_x86_state *st)
{
    st->cs.selector = VMM_X86_SEL_KCODE | 3;
}

/*
 * The emulator enforces what the runs above rely on, so they mean
 * something: the user bit of the page tables (the guest runs at CPL3) and
 * the DPL of the GDT's code descriptors. (Unicorn lets every IN and OUT
 * through, so IOPL 3 is checked only as the value RFLAGS holds.)
 */
static void test_emulator_checks(void)
{
    struct vmm vm;
    uint64_t pml4e;

    if (!vm_build(&vm, gm_guest_start, guest_len())) {
        vm_fini(&vm);
        return;
    }
    gm_space_read(vm.mem, vm.lay->pml4, &pml4e, 8, GM_ATTRS_DEFAULT);
    CHECK_EQ_U64(pml4e & 0x7, 0x7); /* present, writable, user */
    pml4e &= ~0x4ull;
    gm_space_write(vm.mem, vm.lay->pml4, &pml4e, 8, GM_ATTRS_DEFAULT);
    run_vcpu(&vm, 0, 1, NULL);
    CHECK_EQ_INT(vm.intno, 14); /* #PF fetching the entry at CPL3 */
    CHECK_EQ_U64(vm.fault_rip, vm.lay->entry);
    CHECK_EQ_U64(vm.dev.console_len, 0);
    pml4e |= 0x4;
    gm_space_write(vm.mem, vm.lay->pml4, &pml4e, 8, GM_ATTRS_DEFAULT);

    /* IRETQ to the kernel's code segment with RPL 3: #GP. */
    run_vcpu(&vm, 0, 1, kernel_cs);
    CHECK_EQ_INT(vm.intno, 13);
    CHECK_EQ_U64(vm.fault_rip, vm.stub + STUB_IRETQ);
    CHECK_EQ_U64(vm.dev.console_len, 0);
    CHECK(!vm.dev.exited[0]);

    /* Both restored: the guest runs. */
    check_vcpu0(&vm);
    vm_fini(&vm);
}

/* guest-interp.S: test-kvm-guest.c's command protocol. */
#define CMDS 0x3000
#define RESULTS 0x8000

enum { OP_END, OP_LOAD, OP_STORE, OP_OUT, OP_IN };

struct cmd {
    uint32_t op, size;
    uint64_t addr, value;
};

static void test_interp(void)
{
    static const struct cmd cmds[] = {
        {OP_LOAD, 8, 0xf0000, 0},            /* 0: the ROM */
        {OP_STORE, 8, 0x300000, 0x1122334455667788ull},
        {OP_LOAD, 1, 0x300007, 0},           /* 2 */
        {OP_LOAD, 2, 0x300002, 0},           /* 3 */
        {OP_LOAD, 4, 0x300004, 0},           /* 4 */
        {OP_STORE, 2, 0x300010, 0xbeef},
        {OP_STORE, 1, 0x300012, 0x5a},
        {OP_STORE, 4, 0x300014, 0xcafef00d},
        {OP_LOAD, 8, 0x300010, 0},           /* 8 */
        {OP_STORE, 4, 0xfeb00000, 1},        /* the doorbell rings */
        {OP_STORE, 4, 0xfeb00000, 5},        /* the device */
        {OP_OUT, 1, 0x3f8, 'K'},
        {OP_IN, 1, 0x3fd, 0},                /* 12: line status */
        {OP_STORE, 1, 0xfe000000, 0x90},     /* flash: ID mode */
        {OP_LOAD, 1, 0xfe000001, 0},         /* 14: device ID */
        {OP_STORE, 1, 0xfe000000, 0xff},
        {OP_LOAD, 4, 0xfe000000, 0},         /* 16: "FLSH" */
        {OP_STORE, 1, 0xf0000, 0x55},        /* ROM write: dropped */
        {OP_LOAD, 1, 0xf0000, 0},            /* 18 */
        {OP_END, 0, 0, 0},
    };
    static const struct {
        unsigned i;
        uint64_t v;
    } want[] = {
        {0, 0x534f49424d47ull}, {2, 0x11}, {3, 0x5566}, {4, 0x11223344},
        {8, 0xcafef00d005abeefull}, {12, 0x60}, {14, 0x18},
        {16, 0x48534c46}, {18, 'G'},
    };
    uint64_t result[sizeof(cmds) / sizeof(cmds[0])];
    struct vmm vm;
    uc_err e;

    if (!vm_build(&vm, gm_test_guest_start,
                  (size_t)(gm_test_guest_end - gm_test_guest_start))) {
        vm_fini(&vm);
        return;
    }
    CHECK_EQ_INT(gm_space_write(vm.mem, CMDS, cmds, sizeof(cmds),
                                GM_ATTRS_DEFAULT),
                 GM_RESULT_OK);
    e = run_vcpu(&vm, 0, 1, NULL);
    uc_ok(e, "guest-interp");
    CHECK_EQ_INT(vm.intno, -1);
    CHECK(vm.dev.exited[0]);
    CHECK_EQ_INT(vm.dev.status[0], 0);
    gm_space_read(vm.mem, RESULTS, result, sizeof(result), GM_ATTRS_DEFAULT);
    for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
        if (result[want[k].i] != want[k].v) {
            HARNESS_FAIL("command %u: 0x%" PRIx64 ", expected 0x%" PRIx64,
                         want[k].i, result[want[k].i], want[k].v);
        }
    }
    CHECK_EQ_STR(vm.dev.console, "K");
    CHECK_EQ_U64(vmm_doorbell_rings(&vm.dev), 1);
    CHECK_EQ_U64(vm.dev.doorbell_other, 1);
    CHECK_EQ_INT(vm.dev.flash_mode_changes, 2);
    vm_fini(&vm);
}

int main(void)
{
    unsigned major, minor;

    uc_version(&major, &minor);
    printf("# Unicorn %u.%u\n", major, minor);
    RUN(test_board_descriptors);
    RUN(test_vcpu0);
    RUN(test_two_vcpus);
    RUN(test_emulator_checks);
    RUN(test_interp);
    return harness_done();
}
