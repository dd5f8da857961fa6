/* SPDX-License-Identifier: MIT */
/*
 * tools/vmm/vmm.h - `guestmem run`: a mini virtual machine monitor on the
 * library's KVM backend.
 *
 * The machine comes from a board description (tools/board.h) whose
 * regions may name a device model (`dev=uart` ...: devices.c); the memory
 * space is mirrored into KVM (include/guestmem/kvm.h), the guest is
 * entered in 64-bit mode at CPL3 (x86.c), and each vCPU runs on its own
 * thread while the main thread keeps changing the topology. Where KVM is
 * missing, the same script of accesses is made from the host through the
 * API, so the board and its devices still run.
 */
#ifndef GUESTMEM_TOOLS_VMM_H
#define GUESTMEM_TOOLS_VMM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <guestmem/guestmem.h>

#include "../mtree-import.h"

#define VMM_MAX_VCPUS 16
#define VMM_CONSOLE_MAX 4096

struct vmm;

/* Fill @err (if any) and return @code. */
int vmm_err(gm_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The devices of a board, and what they saw (devices.c). */
struct vmm_devices {
    /* UART: what the guest printed. */
    char console[VMM_CONSOLE_MAX];
    size_t console_len; /* guarded by lock */
    bool echo;          /* also copy it to stdout as it comes */
    /* Exit port: per vCPU, whether it finished and its status. */
    bool exited[VMM_MAX_VCPUS];
    unsigned status[VMM_MAX_VCPUS];
    /* Doorbell: the eventfd's region and fd, and writes that reached us. */
    int doorbell_fd;
    uint64_t doorbell_other;
    /* Flash (ROM device): its region, command state and mode changes. */
    gm_region *flash;
    unsigned flash_mode_changes;
    /* Regions by role, for the report (borrowed from the system). */
    gm_region *framebuffer;
    gm_region *bar;
    /* Called by the exit port with the vCPU that finished. */
    void (*on_exit)(struct vmm *vm, unsigned vcpu);
    struct vmm *vm;
    pthread_mutex_t lock;
};

/*
 * A device model: make its region (with ops, eventfds, contents) for a
 * board declaration `KIND ID SIZE dev=TYPE`. Returns the region (one
 * reference, the board's) or NULL with @err set.
 */
struct vmm_device_type {
    const char *name;
    const char *kind; /* the board keyword it goes with: io, rom, romdev */
    gm_region *(*create)(struct vmm_devices *d, gm_system *sys,
                         const char *name, gm_u128 size, gm_error *err);
};

const struct vmm_device_type *vmm_device_find(const char *name,
                                              const char *kind);
int vmm_devices_init(struct vmm_devices *d);
void vmm_devices_fini(struct vmm_devices *d);
/* Doorbell rings the eventfd counted (reads and resets it). */
uint64_t vmm_doorbell_rings(struct vmm_devices *d);

/*
 * Build the machine of a board description (@text, @len: modified in place
 * as by board_import_devices()) with these device models into @m (zeroed),
 * their state in @d; find its spaces `memory` (required) and `io` (NULL if
 * absent). Return: 0, or -1 after a message on stderr.
 */
int vmm_board_build(struct machine *m, struct vmm_devices *d,
                    const char *label, char *text, size_t len,
                    gm_space **mem, gm_space **io);

/* x86.c: long mode at CPL3 through KVM_SET_SREGS. */
/*
 * The GDT's selectors (RPL 3 for the user's): Linux's x86-64 layout, so
 * that the user selectors are the host's __USER_CS and __USER_DS. A PVM
 * host runs CPL3 guest code on its own GDT with the guest's CS and SS
 * selectors, and takes only __USER_CS for 64-bit code.
 */
#define VMM_X86_SEL_KCODE 0x10 /* 64-bit kernel code (unused by the guest) */
#define VMM_X86_SEL_KDATA 0x18 /* kernel data (unused by the guest) */
#define VMM_X86_SEL_UDATA 0x2b /* user data and stack */
#define VMM_X86_SEL_UCODE 0x33 /* 64-bit user code */
#define VMM_X86_SEL_TSS 0x40   /* the 64-bit TSS (two entries) */
struct vmm_x86_layout {
    uint64_t gdt, tss, pml4; /* guest-physical addresses in low RAM */
    uint64_t entry;          /* where the guest code is loaded */
    uint64_t stack_top;      /* vCPU n's stack ends at stack_top - n * 4 KiB */
};
extern const struct vmm_x86_layout vmm_x86_default;
/* Write the GDT, TSS and identity page tables (4 GiB, user) into RAM. */
int vmm_x86_setup_memory(gm_space *mem, const struct vmm_x86_layout *lay,
                         gm_error *err);
/*
 * The architectural state a vCPU starts in: what vmm_x86_setup_vcpu()
 * gives KVM (segments as KVM's descriptor caches), as plain values.
 */
struct vmm_x86_state {
    struct kvm_segment cs, ds, es, fs, gs, ss, tr, ldt;
    struct kvm_dtable gdt, idt;
    uint64_t cr0, cr3, cr4, efer;
    uint64_t rip, rsp, rflags, rdi, rsi;
};
void vmm_x86_state(const struct vmm_x86_layout *lay, unsigned id,
                   unsigned nvcpus, struct vmm_x86_state *st);
/* Copy @guest to the entry address, then vmm_x86_setup_memory(). */
int vmm_x86_load(gm_space *mem, const struct vmm_x86_layout *lay,
                 const void *guest, size_t len, gm_error *err);
/*
 * CPUID, segments, control registers and registers of vCPU @id: once,
 * before its first KVM_RUN (KVM refuses another CPUID after it).
 */
int vmm_x86_setup_vcpu(int vcpu_fd, const struct vmm_x86_layout *lay,
                       unsigned id, unsigned nvcpus, gm_error *err);
/* The same without CPUID: start vCPU @id over at the entry, any time. */
int vmm_x86_reset_vcpu(int vcpu_fd, const struct vmm_x86_layout *lay,
                       unsigned id, unsigned nvcpus, gm_error *err);

/* The built-in guest (guest.S) and the default board (board text). */
extern const uint8_t gm_guest_start[], gm_guest_end[];
const char *vmm_default_board(void);

/* run.c is `guestmem run` (cmd_run, declared in tools/cli.h). */

#endif
