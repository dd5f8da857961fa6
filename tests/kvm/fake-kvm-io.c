/* SPDX-License-Identifier: MIT */
/*
 * fake-kvm-io.c - the fake kernel's I/O buses as a guest write meets them
 * (virt/kvm/eventfd.c, coalesced_mmio.c): a write an ioeventfd matches
 * signals its eventfd; one inside a coalesced zone is appended to the
 * coalesced ring while the ring has room; anything else exits to
 * userspace (the caller then plays the exit handler). And a vCPU's dirty
 * ring, which the fake fills and KVM_RESET_DIRTY_RINGS resets.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "fake-kvm.h"

void fk_set_coalesced_ring(struct fake_kvm *fk,
                           struct kvm_coalesced_mmio_ring *ring,
                           uint32_t entries)
{
    pthread_mutex_lock(&fk->lock);
    fk->cring = ring;
    fk->cring_max = entries;
    pthread_mutex_unlock(&fk->lock);
}

/* ioeventfd_in_range(): same address; any length, or the same length and
 * a wildcard or the same value. */
static bool efd_matches(const struct fk_ioeventfd *p, bool pio, uint64_t addr,
                        const void *data, uint32_t len)
{
    uint64_t v = 0;

    if (p->pio != pio || p->addr != addr) {
        return false;
    }
    if (!p->len) {
        return true;
    }
    if (p->len != len) {
        return false;
    }
    if (p->wildcard) {
        return true;
    }
    memcpy(&v, data, len); /* little-endian host */
    return v == p->datamatch;
}

enum fk_bus fk_guest_bus_write(struct fake_kvm *fk, bool pio, uint64_t addr,
                               const void *data, uint32_t len)
{
    enum fk_bus res = FK_BUS_EXIT;

    pthread_mutex_lock(&fk->lock);
    for (size_t i = 0; i < fk->nefds; i++) {
        if (efd_matches(&fk->efds[i], pio, addr, data, len)) {
            uint64_t one = 1;

            if (write(fk->efds[i].fd, &one, sizeof(one)) != sizeof(one)) {
                abort();
            }
            res = FK_BUS_EVENTFD;
            goto out;
        }
    }
    for (size_t i = 0; i < fk->nzones && fk->cring; i++) {
        const struct fk_zone *z = &fk->zones[i];
        struct kvm_coalesced_mmio_ring *r = fk->cring;
        uint32_t last, first;
        struct kvm_coalesced_mmio *e;

        if ((z->pio != 0) != pio || addr < z->addr ||
            addr + len > z->addr + z->size || len > sizeof(e->data)) {
            continue;
        }
        last = __atomic_load_n(&r->last, __ATOMIC_RELAXED);
        first = __atomic_load_n(&r->first, __ATOMIC_ACQUIRE);
        if ((first + fk->cring_max - last - 1) % fk->cring_max == 0) {
            break; /* full: the write exits */
        }
        e = &r->coalesced_mmio[last];
        memset(e, 0, sizeof(*e));
        e->phys_addr = addr;
        e->len = len;
        e->pio = pio;
        memcpy(e->data, data, len);
        __atomic_store_n(&r->last, (last + 1) % fk->cring_max,
                         __ATOMIC_RELEASE);
        res = FK_BUS_COALESCED;
        break;
    }
out:
    pthread_mutex_unlock(&fk->lock);
    return res;
}

void fk_set_dirty_ring(struct fake_kvm *fk, struct kvm_dirty_gfn *ring,
                       uint32_t n)
{
    pthread_mutex_lock(&fk->lock);
    fk->vring = ring;
    fk->vring_n = n;
    fk->vring_push = fk->vring_reset = 0;
    pthread_mutex_unlock(&fk->lock);
}

bool fk_ring_push(struct fake_kvm *fk, uint32_t slot, uint64_t offset)
{
    struct kvm_dirty_gfn *e;
    bool ok = false;

    pthread_mutex_lock(&fk->lock);
    if (fk->vring) {
        e = &fk->vring[fk->vring_push & (fk->vring_n - 1)];
        if (!__atomic_load_n(&e->flags, __ATOMIC_ACQUIRE)) {
            e->slot = slot;
            e->offset = offset;
            __atomic_store_n(&e->flags, KVM_DIRTY_GFN_F_DIRTY,
                             __ATOMIC_RELEASE);
            fk->vring_push++;
            ok = true;
        }
    }
    pthread_mutex_unlock(&fk->lock);
    return ok;
}

int fk_reset_rings(struct fake_kvm *fk)
{
    while (fk->vring && fk->vring_reset != fk->vring_push) {
        struct kvm_dirty_gfn *e =
            &fk->vring[fk->vring_reset & (fk->vring_n - 1)];

        if (!(__atomic_load_n(&e->flags, __ATOMIC_ACQUIRE) &
              KVM_DIRTY_GFN_F_RESET)) {
            break;
        }
        __atomic_store_n(&e->flags, 0, __ATOMIC_RELEASE);
        fk->vring_reset++;
        fk->vring_resets++;
    }
    return 0;
}
