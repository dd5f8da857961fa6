/* SPDX-License-Identifier: MIT */
/*
 * kvm/kvm.h - the KVM accelerator: a VM, the memslots that mirror its
 * memory spaces, their dirty logs, eventfds, coalesced MMIO and vCPUs.
 *
 * The top of the stack: it uses guestmem through its public API only (a
 * listener per attached space, gm_dirty_*, gm_space_*), like any VMM
 * could, plus base/ for its interval tree and errors.
 *
 * Locking: the listener runs under the system's writer lock; kvm->lock
 * guards the slot tables (taken by the listener's commit, log sync, the
 * dirty-ring harvest on a vCPU thread, gm_kvm_foreach_slot) and is never
 * held while calling into guestmem in a way that takes the writer lock.
 * Order: writer lock, then kvm->lock. The coalesced ring has a lock of its
 * own (flush_lock), taken on any thread that flushes, never with kvm->lock.
 */
#ifndef GM_KVM_H
#define GM_KVM_H

#include <linux/kvm.h>

#include <guestmem/kvm.h>

#include "../base/base.h"

/* One memslot. */
struct gm_kslot {
    struct gm_itree_node n; /* [gpa, gpa + size) in its space's tree */
    struct gm_kspace *ks;
    uint32_t id;            /* KVM's slot number in its address space */
    uint64_t gpa, size;
    uint8_t *host;
    uint32_t flags;         /* KVM_MEM_* */
    uint8_t mask;           /* the range's dirty-log clients */
    gm_region *region;      /* referenced */
    uint64_t offset;        /* of gpa in region */
    /*
     * Manual protection: what the last KVM_GET_DIRTY_LOG reported and no
     * client has cleared yet (only those bits may be re-protected).
     */
    uint64_t *reported;
    struct gm_kslot *zombie_next; /* deleted, id held until rings drain */
};

/* A slot change a commit asks for (kvm/slots.c). */
enum gm_kop_kind { GM_KOP_DEL, GM_KOP_ADD, GM_KOP_FLAGS };

struct gm_kop {
    enum gm_kop_kind kind;
    uint64_t gpa, size;
    uint8_t *host;
    uint32_t flags;
    uint8_t mask;
    gm_region *region; /* referenced while queued */
    uint64_t offset;
};

/* An attached space. */
struct gm_kspace {
    gm_kvm *kvm;
    gm_space *as;
    gm_listener *l;
    unsigned as_id;
    bool io;                       /* port I/O space */
    struct gm_itree_node *tree;    /* its slots by address */
    struct gm_kslot **by_id;       /* its slots by number */
    uint32_t *free_ids;            /* recycled numbers (a stack) */
    uint32_t nfree, next_id, cap, nslots;
    GM_VEC(struct gm_kop) ops;     /* this commit's changes */
    bool resync;                   /* an op was lost: rebuild from the view */
    bool detaching;                /* ... except while detaching */
    struct gm_kspace *next;
};

struct gm_kring {
    struct kvm_dirty_gfn *gfns;
    uint32_t fetch;  /* next entry to look at */
};

struct gm_kvm_vcpu {
    gm_kvm *kvm;
    unsigned id;
    int fd;
    struct kvm_run *run;
    size_t run_size;
    struct gm_kring ring;   /* dirty ring (ring mode) */
    pthread_t thread;       /* the thread in gm_kvm_vcpu_run */
    int kick_signo;
    struct gm_kvm_vcpu *next;
};

struct gm_kvm {
    gm_system *sys;
    struct gm_kvm_backend be;
    bool own_fds;
    int dev_fd, vm_fd;
    enum gm_kvm_dirty_mode dirty_mode;
    uint32_t ring_entries;
    bool manual_protect, readonly_mem, ioeventfd_any_len, coalesced_pio;
    int coalesced_page;        /* KVM_CAP_COALESCED_MMIO: its page, or 0 */
    unsigned nr_as;            /* address spaces the kernel offers */
    uint32_t max_slots;
    size_t run_size;

    pthread_mutex_t lock;      /* slot tables, vCPU list, zombies */
    struct gm_kspace *spaces;
    struct gm_kspace *mem0;    /* address space 0: MMIO exits */
    struct gm_kspace *io;      /* port exits */
    struct gm_kvm_vcpu *vcpus;
    struct gm_kslot *zombies;
    int last_err;
    char last_msg[GM_ERROR_MSG_MAX];

    pthread_mutex_t flush_lock; /* the coalesced ring */
    pthread_t flusher;          /* the thread draining it (flush_lock) */
    _Atomic bool flushing;      /* ... while this is set */
    struct kvm_coalesced_mmio_ring *_Atomic cring;
    uint32_t cring_max;         /* its entries: one page's worth */

    struct gm_kvm_stats stats;
};

/* vm.c */
int gm__kvm_ioctl(gm_kvm *kvm, int fd, unsigned long req, void *arg);
int gm__kvm_vm_ioctl(gm_kvm *kvm, unsigned long req, void *arg);
/* Keep the first failure for gm_kvm_last_error(); kvm->lock held. */
void gm__kvm_fail(gm_kvm *kvm, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* slots.c: the memory listener. */
extern const struct gm_listener_ops gm__kvm_mem_ops;
/* Delete the slots a detached space still has (the kernel refused to). */
void gm__kspace_clear(struct gm_kspace *ks);
void gm__kspace_free(struct gm_kspace *ks);
/* The slot numbered id of address space as_id, or a zombie; lock held. */
struct gm_kslot *gm__kvm_slot_by_id(gm_kvm *kvm, unsigned as_id, uint32_t id);
/* Free the zombies (the rings hold no entry of theirs); lock held. */
void gm__kvm_bury_zombies(gm_kvm *kvm);

/* dirty.c: dirty logs. Lock held. */
int gm__kvm_slot_sync(struct gm_kslot *s);
/* Ring mode: collect every vCPU's ring, then reset them. */
void gm__kvm_harvest(gm_kvm *kvm);
void gm__kvm_log_sync(void *opaque, const struct gm_section *s);
void gm__kvm_log_clear(void *opaque, const struct gm_section *s);

/* io.c: eventfds, coalesced MMIO. */
void gm__kvm_eventfd_add(void *opaque, const struct gm_section *s,
                         bool match, uint64_t data, int fd);
void gm__kvm_eventfd_del(void *opaque, const struct gm_section *s,
                         bool match, uint64_t data, int fd);
void gm__kvm_coalesced_add(void *opaque, const struct gm_section *s,
                           uint64_t addr, uint64_t size);
void gm__kvm_coalesced_del(void *opaque, const struct gm_section *s,
                           uint64_t addr, uint64_t size);
/* Drain the coalesced ring into the devices (gm_system flush function). */
void gm__kvm_flush(void *opaque);

#endif
