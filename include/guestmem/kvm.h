/* SPDX-License-Identifier: MIT */
/*
 * guestmem/kvm.h - guestmem's address spaces mirrored into a KVM virtual
 * machine: memslots, dirty logging, ioeventfds, coalesced MMIO, and vCPUs
 * whose MMIO and port exits go through the access path.
 *
 * A gm_kvm is one VM. Attaching a memory address space registers a listener
 * (priority 10, like QEMU's) that keeps KVM's memslots equal to the space's
 * flat view: every RAM, ROM and ROM-device (romd) range becomes a memslot,
 * trimmed to whole pages (a sub-page head or tail stays trapped, and so
 * goes through the access path); ROM and romd ranges get KVM_MEM_READONLY
 * slots (without the capability they get no slot at all and every access
 * traps); a ROM device out of romd mode has no slot. The changes of one
 * commit are applied at its end, deletions first; a range that comes back
 * unchanged keeps its slot, one whose dirty logging alone changed is
 * updated in place, and a slot with dirty logging is synced into the RAM
 * dirty bitmaps (dirty.h) before it is removed or stops logging, so no
 * dirty bit is lost. Slot numbers are recycled; the kernel's limit
 * (KVM_CAP_NR_MEMSLOTS) is honoured with a clear error.
 *
 * Dirty logging: ranges with a dirty-log mask get KVM_MEM_LOG_DIRTY_PAGES;
 * gm_space_log_sync() (the listener's log_sync) moves what KVM logged into
 * the dirty bitmaps of the range's clients. Two modes, as QEMU offers:
 * the per-slot bitmap (KVM_GET_DIRTY_LOG; with
 * KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, pages are write-protected again only
 * when a client clears them: the listener's log_clear sends
 * KVM_CLEAR_DIRTY_LOG for exactly those), or the per-vCPU dirty ring
 * (KVM_CAP_DIRTY_LOG_RING), harvested on sync and when a ring fills.
 *
 * Attaching an I/O space turns its ioeventfds and coalesced ranges into
 * port I/O ones; a memory space's become MMIO ones (with or without a data
 * match, KVM_IOEVENTFD). Coalesced MMIO writes are drained from KVM's ring
 * into the devices, in order, before each transaction begins, before any
 * access to a device that flushes, and after every vCPU exit
 * (gm_system_set_coalesced_flush() is taken by the gm_kvm).
 *
 * Context: gm_kvm_open/close and attach/detach: the thread that owns the
 * topology (they take the writer lock). Each vCPU is run by one thread at a
 * time; vCPUs run concurrently with each other and with topology changes.
 */
#ifndef GUESTMEM_KVM_H
#define GUESTMEM_KVM_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gm_kvm gm_kvm;
typedef struct gm_kvm_vcpu gm_kvm_vcpu;

enum gm_kvm_dirty_mode {
    GM_KVM_DIRTY_BITMAP = 0, /* KVM_GET_DIRTY_LOG per slot (the default) */
    GM_KVM_DIRTY_RING,       /* KVM_CAP_DIRTY_LOG_RING, per vCPU */
};

/*
 * The kernel interface, replaceable (a recording fake in the tests, a
 * hypervisor that speaks the KVM API elsewhere): ioctl on the VM's fd and
 * on /dev/kvm, returning what ioctl(2) returns (-1 with errno set).
 */
struct gm_kvm_backend {
    int (*ioctl)(void *opaque, int fd, unsigned long request, void *arg);
    void *opaque;
    int vm_fd; /* the VM's fd as the backend knows it */
};

/**
 * struct gm_kvm_opts - how to open the VM (all zero: the defaults).
 * @device: the KVM device (NULL: "/dev/kvm").
 * @dirty_mode: bitmap or ring (ring: -ENOTSUP where not offered).
 * @dirty_ring_entries: ring size per vCPU in entries, a power of two
 *                      (0: 4096).
 * @no_manual_protect: do not use KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 even
 *                     where offered (KVM_GET_DIRTY_LOG then re-protects).
 * @no_initially_set: with manual protection, do not ask for
 *                    KVM_DIRTY_LOG_INITIALLY_SET.
 * @max_slots: use at most this many memslots per address space (0: the
 *             kernel's limit); a lower limit is for tests.
 * @backend: NULL: the real kernel, through @device.
 */
struct gm_kvm_opts {
    const char *device;
    enum gm_kvm_dirty_mode dirty_mode;
    uint32_t dirty_ring_entries;
    bool no_manual_protect;
    bool no_initially_set;
    uint32_t max_slots;
    const struct gm_kvm_backend *backend;
};

/**
 * gm_kvm_open() - create a VM for @sys.
 * Return: the VM, or NULL with @err set: -ENOENT (no KVM device: the
 * message says so), -EACCES, -ENOTSUP (a capability the options ask for
 * or KVM_CAP_USER_MEMORY missing), -ENOMEM, another -errno of the kernel.
 * The system must outlive it; gm_kvm_close() before gm_system_destroy().
 */
GM_EXPORT gm_kvm *gm_kvm_open(gm_system *sys, const struct gm_kvm_opts *opts,
                              gm_error *err);
/** gm_kvm_close() - detach every space, destroy the vCPUs, close the VM. */
GM_EXPORT void gm_kvm_close(gm_kvm *kvm);
/** gm_kvm_vm_fd() - the VM's fd, for the caller's own ioctls (IRQ chip). */
GM_EXPORT int gm_kvm_vm_fd(const gm_kvm *kvm);
/** gm_kvm_check_extension() - KVM_CHECK_EXTENSION on the VM (<0: error). */
GM_EXPORT int gm_kvm_check_extension(gm_kvm *kvm, long cap);

/**
 * gm_kvm_attach_memory() - mirror @as into KVM address space @as_id (0
 * normally; 1 for x86 SMM where KVM_CAP_MULTI_ADDRESS_SPACE offers it).
 * The current view is registered at once (the listener's replay).
 * vCPU MMIO exits go to the space of @as_id 0.
 * Return: 0; -EINVAL (bad @as_id, a space already attached); -ENOTSUP;
 * -ENOSPC (more ranges than memslots: nothing stays registered); -ENOMEM;
 * a -errno of KVM_SET_USER_MEMORY_REGION.
 */
GM_EXPORT int gm_kvm_attach_memory(gm_kvm *kvm, gm_space *as, unsigned as_id,
                                   gm_error *err);
/**
 * gm_kvm_attach_io() - @as is the port I/O space: its ioeventfds and
 * coalesced ranges become port I/O ones, and port exits go to it.
 */
GM_EXPORT int gm_kvm_attach_io(gm_kvm *kvm, gm_space *as, gm_error *err);
/** gm_kvm_detach() - stop mirroring @as (its slots and eventfds go). */
GM_EXPORT int gm_kvm_detach(gm_kvm *kvm, gm_space *as, gm_error *err);

/**
 * gm_kvm_last_error() - a failure the listener met while applying a commit
 * (listeners cannot fail a commit: the slot that could not be made is left
 * out, its range traps, and the error is kept here until read; a slot the
 * kernel would not delete stays, memory referenced; the space's next
 * commit rebuilds its slots from the view, repairing them once the kernel
 * agrees; a failed dirty-log sync counts the slot's pages dirty). Return:
 * 0 or the -errno, with the message in @err; reading clears it.
 */
GM_EXPORT int gm_kvm_last_error(gm_kvm *kvm, gm_error *err);

/** One memslot, as gm_kvm_foreach_slot() shows it. */
struct gm_kvm_slot_info {
    unsigned as_id;
    uint32_t slot;      /* KVM's slot number in its address space */
    uint64_t gpa;       /* guest-physical address */
    uint64_t size;      /* bytes, whole pages */
    void *host;         /* userspace address */
    uint32_t flags;     /* KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_READONLY */
    gm_region *region;  /* whose memory (borrowed for the call) */
    uint64_t offset;    /* offset of gpa in region */
};

/**
 * gm_kvm_foreach_slot() - @fn for every memslot, by address space and
 * address. Return: the first non-zero value of @fn, or 0.
 */
GM_EXPORT int gm_kvm_foreach_slot(gm_kvm *kvm,
                                  int (*fn)(const struct gm_kvm_slot_info *s,
                                            void *opaque),
                                  void *opaque);

/** Counters: what the listener asked of the kernel (for tests, benches). */
struct gm_kvm_stats {
    uint64_t set_memory_region; /* KVM_SET_USER_MEMORY_REGION calls */
    uint64_t get_dirty_log;     /* KVM_GET_DIRTY_LOG calls */
    uint64_t clear_dirty_log;   /* KVM_CLEAR_DIRTY_LOG calls */
    uint64_t ring_harvested;    /* dirty-ring entries collected */
    uint64_t coalesced_flushed; /* coalesced writes delivered */
    uint32_t slots;             /* memslots now */
    uint32_t max_slots;         /* the limit in use */
};
GM_EXPORT void gm_kvm_get_stats(gm_kvm *kvm, struct gm_kvm_stats *out);

/*
 * vCPUs.
 */

/**
 * gm_kvm_vcpu_new() - KVM_CREATE_VCPU @id, its kvm_run mapping and, in
 * ring mode, its dirty ring. Registers and state are the caller's to set
 * (gm_kvm_vcpu_fd() with KVM_SET_SREGS / KVM_SET_REGS).
 * Return: the vCPU, or NULL with @err set.
 */
GM_EXPORT gm_kvm_vcpu *gm_kvm_vcpu_new(gm_kvm *kvm, unsigned id,
                                       gm_error *err);
GM_EXPORT void gm_kvm_vcpu_free(gm_kvm_vcpu *v);
GM_EXPORT int gm_kvm_vcpu_fd(const gm_kvm_vcpu *v);
/** The vCPU's struct kvm_run (from <linux/kvm.h>), mapped. */
GM_EXPORT void *gm_kvm_vcpu_run_page(const gm_kvm_vcpu *v);

/** Why gm_kvm_vcpu_run() returned. */
struct gm_kvm_exit {
    uint32_t reason;    /* KVM_EXIT_* of the exit that was not handled */
    int err;            /* -errno when KVM_RUN itself failed */
    uint64_t mmio_exits, io_exits; /* handled since the call began */
};

/**
 * gm_kvm_vcpu_run() - run until an exit guestmem does not handle itself.
 * Handled: KVM_EXIT_MMIO (through the space attached as address space 0),
 * KVM_EXIT_IO (through the I/O space; without one, reads are all-ones),
 * KVM_EXIT_DIRTY_RING_FULL (the rings are harvested). Coalesced writes are
 * drained after every exit.
 * Return: 0 with @out->reason the exit (KVM_EXIT_HLT, KVM_EXIT_SHUTDOWN,
 * KVM_EXIT_INTR, KVM_EXIT_FAIL_ENTRY, KVM_EXIT_INTERNAL_ERROR, ...), or a
 * -errno of KVM_RUN (also in @out->err).
 * Context: the vCPU's thread; the access path is lock-free, so vCPUs run
 * while another thread changes the topology.
 */
GM_EXPORT int gm_kvm_vcpu_run(gm_kvm_vcpu *v, struct gm_kvm_exit *out);
/**
 * gm_kvm_vcpu_set_kick_signal() - the signal gm_kvm_vcpu_kick() sends to
 * this thread, which must be the one that runs @v and must have a handler
 * for it (one that does nothing will do): it interrupts KVM_RUN. 0: none.
 * Context: the vCPU's thread.
 */
GM_EXPORT void gm_kvm_vcpu_set_kick_signal(gm_kvm_vcpu *v, int signo);
/**
 * gm_kvm_vcpu_kick() - make gm_kvm_vcpu_run() return with KVM_EXIT_INTR:
 * at once if the kick signal is set, else at its next entry to the guest.
 * Context: any thread.
 */
GM_EXPORT void gm_kvm_vcpu_kick(gm_kvm_vcpu *v);

#ifdef __cplusplus
}
#endif
#endif
