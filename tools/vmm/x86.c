/* SPDX-License-Identifier: MIT */
/*
 * tools/vmm/x86.c - a vCPU in 64-bit mode at CPL3, set up from outside.
 *
 * No firmware and no guest kernel: the VMM writes a GDT (kernel and user
 * segments and a TSS, at the selectors a Linux host uses: vmm.h),
 * identity-mapped page tables for the low 4 GiB with the user bit set
 * (2 MiB pages), and loads the vCPU's state directly with
 * KVM_SET_SREGS / KVM_SET_REGS: long mode, paging on, the user code and
 * data segments (CPL3), RFLAGS.IOPL 3 so the guest may use port I/O. Guest
 * code at CPL3 runs natively even where KVM emulates CPL0 (PVM), and the
 * state is architecturally valid for hardware VMX/SVM too. There is no IDT:
 * the guest is written to take no exception (one would shut the VM down,
 * which the VMM reports).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vmm.h"

#define PTE_P 0x1ull
#define PTE_RW 0x2ull
#define PTE_US 0x4ull
#define PTE_PS 0x80ull

#define GDT_ENTRIES 10
#define TSS_LIMIT 0x67

#define CR0_PE 0x1ull
#define CR0_MP 0x2ull
#define CR0_ET 0x10ull
#define CR0_NE 0x20ull
#define CR0_WP 0x10000ull
#define CR0_PG 0x80000000ull
#define CR4_PAE 0x20ull
#define EFER_LME 0x100ull
#define EFER_LMA 0x400ull
#define RFLAGS_IOPL3 0x3000ull
#define RFLAGS_FIXED 0x2ull

const struct vmm_x86_layout vmm_x86_default = {
    .gdt = 0x1000,
    .tss = 0x2000,
    .pml4 = 0x10000, /* then the PDPT and four page directories */
    .entry = 0x100000,
    .stack_top = 0x80000,
};

/* A code or data descriptor: base 0, limit 4 GiB. */
static uint64_t seg_desc(unsigned type, unsigned dpl, bool l, bool db)
{
    return 0xffffull | (0xfull << 48) | ((uint64_t)type << 40) |
           (1ull << 44) /* S */ | ((uint64_t)dpl << 45) | (1ull << 47) |
           ((uint64_t)l << 53) | ((uint64_t)db << 54) | (1ull << 55) /* G */;
}

static int put(gm_space *mem, uint64_t addr, const void *buf, size_t len,
               gm_error *err)
{
    if (gm_space_write(mem, addr, buf, len, GM_ATTRS_DEFAULT) !=
        GM_RESULT_OK) {
        return vmm_err(err, -EFAULT, "x86: guest RAM missing at 0x%llx",
                       (unsigned long long)addr);
    }
    return 0;
}

int vmm_x86_setup_memory(gm_space *mem, const struct vmm_x86_layout *lay,
                         gm_error *err)
{
    uint64_t gdt[GDT_ENTRIES] = {0};
    uint64_t table[512];
    uint8_t tss[TSS_LIMIT + 1];
    uint64_t pdpt = lay->pml4 + 0x1000, pd = lay->pml4 + 0x2000;
    int r;

    gdt[VMM_X86_SEL_KCODE >> 3] = seg_desc(0xb, 0, true, false);
    gdt[VMM_X86_SEL_KDATA >> 3] = seg_desc(0x3, 0, false, true);
    gdt[VMM_X86_SEL_UCODE >> 3] = seg_desc(0xb, 3, true, false);
    gdt[VMM_X86_SEL_UDATA >> 3] = seg_desc(0x3, 3, false, true);
    gdt[VMM_X86_SEL_TSS >> 3] = TSS_LIMIT | ((lay->tss & 0xffffff) << 16) |
                                (0x9ull << 40) | (1ull << 47) |
                                ((lay->tss >> 24 & 0xff) << 56);
    gdt[(VMM_X86_SEL_TSS >> 3) + 1] = lay->tss >> 32;
    memset(tss, 0, sizeof(tss));
    tss[0x66] = sizeof(tss); /* I/O bitmap base past the limit: none */
    if ((r = put(mem, lay->gdt, gdt, sizeof(gdt), err)) ||
        (r = put(mem, lay->tss, tss, sizeof(tss), err))) {
        return r;
    }
    memset(table, 0, sizeof(table));
    table[0] = pdpt | PTE_P | PTE_RW | PTE_US;
    if ((r = put(mem, lay->pml4, table, sizeof(table), err))) {
        return r;
    }
    for (unsigned i = 0; i < 4; i++) {
        table[i] = (pd + i * 0x1000ull) | PTE_P | PTE_RW | PTE_US;
    }
    if ((r = put(mem, pdpt, table, sizeof(table), err))) {
        return r;
    }
    for (unsigned i = 0; i < 4; i++) {
        for (unsigned j = 0; j < 512; j++) {
            table[j] = ((uint64_t)(i * 512 + j) << 21) | PTE_P | PTE_RW |
                       PTE_US | PTE_PS;
        }
        if ((r = put(mem, pd + i * 0x1000ull, table, sizeof(table), err))) {
            return r;
        }
    }
    return 0;
}

int vmm_x86_load(gm_space *mem, const struct vmm_x86_layout *lay,
                 const void *guest, size_t len, gm_error *err)
{
    int r = put(mem, lay->entry, guest, len, err);

    return r ? r : vmm_x86_setup_memory(mem, lay, err);
}

/* Give the vCPU what the host's KVM supports (long mode among it). */
static int set_cpuid(int vcpu_fd, gm_error *err)
{
    enum { MAX = 256 };
    struct kvm_cpuid2 *c = calloc(1, sizeof(*c) +
                                         MAX * sizeof(struct kvm_cpuid_entry2));
    int dev = open("/dev/kvm", O_RDWR | O_CLOEXEC), r = 0;

    if (!c || dev < 0) {
        r = vmm_err(err, c ? -errno : -ENOMEM, "x86: cannot read CPUID: %s",
                    strerror(c ? errno : ENOMEM));
        goto out;
    }
    c->nent = MAX;
    if (ioctl(dev, KVM_GET_SUPPORTED_CPUID, c) < 0 ||
        ioctl(vcpu_fd, KVM_SET_CPUID2, c) < 0) {
        r = vmm_err(err, -errno, "x86: KVM CPUID: %s", strerror(errno));
    }
out:
    if (dev >= 0) {
        close(dev);
    }
    free(c);
    return r;
}

static void user_seg(struct kvm_segment *s, uint16_t sel, unsigned type,
                     bool code)
{
    memset(s, 0, sizeof(*s));
    s->base = 0;
    s->limit = 0xffffffff;
    s->selector = sel;
    s->type = (uint8_t)type;
    s->present = 1;
    s->dpl = 3;
    s->s = 1;
    s->l = code;
    s->db = !code;
    s->g = 1;
}

void vmm_x86_state(const struct vmm_x86_layout *lay, unsigned id,
                   unsigned nvcpus, struct vmm_x86_state *st)
{
    memset(st, 0, sizeof(*st));
    user_seg(&st->cs, VMM_X86_SEL_UCODE, 0xb, true);
    user_seg(&st->ds, VMM_X86_SEL_UDATA, 0x3, false);
    st->es = st->fs = st->gs = st->ss = st->ds;
    st->tr.base = lay->tss;
    st->tr.limit = TSS_LIMIT;
    st->tr.selector = VMM_X86_SEL_TSS;
    st->tr.type = 0xb; /* busy 64-bit TSS */
    st->tr.present = 1;
    st->ldt.type = 0x2;
    st->ldt.unusable = 1;
    st->gdt.base = lay->gdt;
    st->gdt.limit = GDT_ENTRIES * 8 - 1;
    st->idt.base = 0;
    st->idt.limit = 0;
    st->cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
    st->cr3 = lay->pml4;
    st->cr4 = CR4_PAE;
    st->efer = EFER_LME | EFER_LMA;
    st->rip = lay->entry;
    st->rsp = lay->stack_top - (uint64_t)id * 0x1000;
    st->rflags = RFLAGS_IOPL3 | RFLAGS_FIXED;
    st->rdi = id;
    st->rsi = nvcpus;
}

int vmm_x86_setup_vcpu(int vcpu_fd, const struct vmm_x86_layout *lay,
                       unsigned id, unsigned nvcpus, gm_error *err)
{
    int r = set_cpuid(vcpu_fd, err);

    return r ? r : vmm_x86_reset_vcpu(vcpu_fd, lay, id, nvcpus, err);
}

int vmm_x86_reset_vcpu(int vcpu_fd, const struct vmm_x86_layout *lay,
                       unsigned id, unsigned nvcpus, gm_error *err)
{
    struct vmm_x86_state st;
    struct kvm_sregs sr;
    struct kvm_regs regs;

    if (ioctl(vcpu_fd, KVM_GET_SREGS, &sr) < 0) {
        return vmm_err(err, -errno, "x86: KVM_GET_SREGS: %s", strerror(errno));
    }
    vmm_x86_state(lay, id, nvcpus, &st);
    sr.cs = st.cs;
    sr.ds = st.ds;
    sr.es = st.es;
    sr.fs = st.fs;
    sr.gs = st.gs;
    sr.ss = st.ss;
    sr.tr = st.tr;
    sr.ldt = st.ldt;
    sr.gdt = st.gdt;
    sr.idt = st.idt;
    sr.cr0 = st.cr0;
    sr.cr3 = st.cr3;
    sr.cr4 = st.cr4;
    sr.efer = st.efer;
    if (ioctl(vcpu_fd, KVM_SET_SREGS, &sr) < 0) {
        return vmm_err(err, -errno, "x86: KVM_SET_SREGS (long mode, CPL3): "
                       "%s", strerror(errno));
    }
    memset(&regs, 0, sizeof(regs));
    regs.rip = st.rip;
    regs.rsp = st.rsp;
    regs.rflags = st.rflags;
    regs.rdi = st.rdi;
    regs.rsi = st.rsi;
    if (ioctl(vcpu_fd, KVM_SET_REGS, &regs) < 0) {
        return vmm_err(err, -errno, "x86: KVM_SET_REGS: %s", strerror(errno));
    }
    return 0;
}
