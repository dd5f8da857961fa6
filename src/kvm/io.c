/* SPDX-License-Identifier: MIT */
/*
 * kvm/io.c - ioeventfds and coalesced MMIO in KVM.
 *
 * An ioeventfd becomes KVM_IOEVENTFD (port I/O in the I/O space, MMIO in
 * a memory space; with a data match or without): the guest's write then
 * signals the eventfd in the kernel and never exits. One the kernel cannot
 * take (any length without KVM_CAP_IOEVENTFD_ANY_LENGTH) stays with
 * guestmem: the write exits and the access path signals it.
 *
 * A coalesced range becomes a KVM coalesced zone: the kernel appends the
 * guest's writes there to a ring shared with userspace instead of exiting.
 * The ring is drained into the devices through the access path, in order,
 * by gm__kvm_flush: guestmem calls it as transactions begin and before
 * accesses to a region that flushes, and the vCPU loop after every exit.
 * One thread drains at a time; a device write that begins a transaction
 * calls it again on the same thread, which returns at once.
 */
#include <string.h>

#include "kvm.h"

static void fail_locked(gm_kvm *kvm, int r, const char *what, uint64_t addr)
{
    pthread_mutex_lock(&kvm->lock);
    gm__kvm_fail(kvm, r, "KVM: %s at 0x%llx: %s", what,
                 (unsigned long long)addr, strerror(-r));
    pthread_mutex_unlock(&kvm->lock);
}

static void eventfd(struct gm_kspace *ks, const struct gm_section *s,
                    bool match, uint64_t data, int fd, bool add)
{
    gm_kvm *kvm = ks->kvm;
    struct kvm_ioeventfd e;
    int r;

    if (!s->size && !kvm->ioeventfd_any_len) {
        return; /* the access path signals it */
    }
    memset(&e, 0, sizeof(e));
    e.datamatch = match ? data : 0;
    e.addr = s->addr;
    e.len = (uint32_t)s->size;
    e.fd = fd;
    e.flags = (match ? KVM_IOEVENTFD_FLAG_DATAMATCH : 0) |
              (ks->io ? KVM_IOEVENTFD_FLAG_PIO : 0) |
              (add ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN);
    r = gm__kvm_vm_ioctl(kvm, KVM_IOEVENTFD, &e);
    if (r) {
        fail_locked(kvm, r, add ? "KVM_IOEVENTFD" : "KVM_IOEVENTFD deassign",
                    s->addr);
    }
}

void gm__kvm_eventfd_add(void *opaque, const struct gm_section *s,
                         bool match, uint64_t data, int fd)
{
    eventfd(opaque, s, match, data, fd, true);
}

void gm__kvm_eventfd_del(void *opaque, const struct gm_section *s,
                         bool match, uint64_t data, int fd)
{
    eventfd(opaque, s, match, data, fd, false);
}

static void zone(struct gm_kspace *ks, uint64_t addr, uint64_t size,
                 bool add)
{
    gm_kvm *kvm = ks->kvm;
    struct kvm_coalesced_mmio_zone z;
    int r;

    if (!kvm->coalesced_page || (ks->io && !kvm->coalesced_pio) ||
        size > UINT32_MAX) {
        return; /* the writes exit as usual */
    }
    memset(&z, 0, sizeof(z));
    z.addr = addr;
    z.size = (uint32_t)size;
    z.pio = ks->io;
    r = gm__kvm_vm_ioctl(kvm,
                         add ? KVM_REGISTER_COALESCED_MMIO
                             : KVM_UNREGISTER_COALESCED_MMIO,
                         &z);
    if (r) {
        fail_locked(kvm, r,
                    add ? "KVM_REGISTER_COALESCED_MMIO"
                        : "KVM_UNREGISTER_COALESCED_MMIO",
                    addr);
    }
}

void gm__kvm_coalesced_add(void *opaque, const struct gm_section *s,
                           uint64_t addr, uint64_t size)
{
    (void)s;
    zone(opaque, addr, size, true);
}

void gm__kvm_coalesced_del(void *opaque, const struct gm_section *s,
                           uint64_t addr, uint64_t size)
{
    (void)s;
    zone(opaque, addr, size, false);
}

void gm__kvm_flush(void *opaque)
{
    gm_kvm *kvm = opaque;
    struct kvm_coalesced_mmio_ring *ring =
        atomic_load_explicit(&kvm->cring, memory_order_acquire);
    pthread_t self = pthread_self();
    uint64_t n = 0;

    if (!ring || __atomic_load_n(&ring->last, __ATOMIC_ACQUIRE) ==
                     __atomic_load_n(&ring->first, __ATOMIC_RELAXED)) {
        return;
    }
    if (atomic_load_explicit(&kvm->flushing, memory_order_acquire) &&
        pthread_equal(kvm->flusher, self)) {
        return; /* a device write of this very flush began a transaction */
    }
    pthread_mutex_lock(&kvm->flush_lock);
    kvm->flusher = self;
    atomic_store_explicit(&kvm->flushing, true, memory_order_release);
    ring = atomic_load_explicit(&kvm->cring, memory_order_acquire);
    while (ring && ring->first != __atomic_load_n(&ring->last,
                                                  __ATOMIC_ACQUIRE)) {
        struct kvm_coalesced_mmio e = ring->coalesced_mmio[ring->first];
        struct gm_kspace *ks = e.pio ? kvm->io : kvm->mem0;

        if (ks && e.len <= sizeof(e.data)) {
            gm_space_write(ks->as, e.phys_addr, e.data, e.len,
                           GM_ATTRS_DEFAULT);
        }
        __atomic_store_n(&ring->first,
                         (ring->first + 1) % kvm->cring_max,
                         __ATOMIC_RELEASE);
        n++;
    }
    atomic_store_explicit(&kvm->flushing, false, memory_order_release);
    pthread_mutex_unlock(&kvm->flush_lock);
    __atomic_fetch_add(&kvm->stats.coalesced_flushed, n, __ATOMIC_RELAXED);
}

const struct gm_listener_ops gm__kvm_io_ops = {
    .eventfd_add = gm__kvm_eventfd_add,
    .eventfd_del = gm__kvm_eventfd_del,
    .coalesced_io_add = gm__kvm_coalesced_add,
    .coalesced_io_del = gm__kvm_coalesced_del,
};
