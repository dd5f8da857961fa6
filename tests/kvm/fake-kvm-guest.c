/* SPDX-License-Identifier: MIT */
/*
 * fake-kvm-guest.c - the guest's side of the fake kernel (fake-kvm.c
 * holds the ioctls): accesses through the memslots, the I/O buses as a
 * guest write meets them (virt/kvm/eventfd.c, coalesced_mmio.c: a write an
 * ioeventfd matches signals its eventfd; one inside a coalesced zone is
 * appended to the coalesced ring while the ring has room; anything else
 * exits to userspace, and the caller then plays the exit handler), a
 * vCPU's dirty ring, which the fake fills and KVM_RESET_DIRTY_RINGS
 * resets, and the queries tests make of the fake's state.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "fake-kvm.h"

static void set_bit64(uint64_t *b, uint64_t i)
{
    b[i / 64] |= 1ull << (i % 64);
}

static uint64_t npages_of(const struct fk_slot *s)
{
    return s->size / FK_PAGE;
}

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

/* The slot of @as_id holding @gpa, or NULL. */
static struct fk_slot *find_slot(struct fake_kvm *fk, unsigned as_id,
                                 uint64_t gpa, uint32_t *id)
{
    if (as_id >= FK_MAX_AS) {
        return NULL;
    }
    for (uint32_t i = 0; i < fk->nslots; i++) {
        struct fk_slot *s = &fk->slots[as_id][i];

        if (s->used && gpa >= s->gpa && gpa - s->gpa < s->size) {
            if (id) {
                *id = i;
            }
            return s;
        }
    }
    return NULL;
}

static uint64_t guest_access(struct fake_kvm *fk, unsigned as_id,
                             uint64_t gpa, uint8_t *buf, uint64_t len,
                             bool write)
{
    uint64_t missed = 0;

    pthread_mutex_lock(&fk->lock);
    while (len) {
        uint64_t n = FK_PAGE - (gpa & (FK_PAGE - 1));
        struct fk_slot *s = find_slot(fk, as_id, gpa, NULL);

        n = n < len ? n : len;
        if (!s || (write && (s->flags & KVM_MEM_READONLY))) {
            missed += n;
        } else {
            uint8_t *host = (uint8_t *)(uintptr_t)(s->uaddr + (gpa - s->gpa));

            if (!write) {
                memcpy(buf, host, n);
            } else if (buf) {
                memcpy(host, buf, n);
            } else {
                memset(host, 0, n);
            }
            if (write && s->dirty) {
                set_bit64(s->dirty, (gpa - s->gpa) / FK_PAGE);
            }
        }
        gpa += n;
        len -= n;
        if (buf) {
            buf += n;
        }
    }
    pthread_mutex_unlock(&fk->lock);
    return missed;
}

uint64_t fk_guest_write(struct fake_kvm *fk, unsigned as_id, uint64_t gpa,
                        const void *buf, uint64_t len)
{
    return guest_access(fk, as_id, gpa, (uint8_t *)(uintptr_t)buf, len, true);
}

uint64_t fk_guest_read(struct fake_kvm *fk, unsigned as_id, uint64_t gpa,
                       void *buf, uint64_t len)
{
    return guest_access(fk, as_id, gpa, buf, len, false);
}

bool fk_page_dirty(struct fake_kvm *fk, unsigned as_id, uint32_t id,
                   uint64_t page)
{
    const struct fk_slot *s;

    if (as_id >= FK_MAX_AS || id >= fk->nslots) {
        return false;
    }
    s = &fk->slots[as_id][id];
    return s->used && s->dirty && page < npages_of(s) &&
           (s->dirty[page / 64] >> (page % 64) & 1);
}

size_t fk_slot_count(struct fake_kvm *fk, unsigned as_id)
{
    size_t n = 0;

    for (uint32_t i = 0; as_id < FK_MAX_AS && i < fk->nslots; i++) {
        n += fk->slots[as_id][i].used;
    }
    return n;
}

int fk_foreach_slot(struct fake_kvm *fk,
                    int (*fn)(unsigned as_id, uint32_t id,
                              const struct fk_slot *s, void *opaque),
                    void *opaque)
{
    for (unsigned as_id = 0; as_id < FK_MAX_AS; as_id++) {
        uint64_t from = 0;
        bool first = true;

        /* In address order: the next slot at or above from, each time. */
        for (;;) {
            uint32_t best = UINT32_MAX;
            int r;

            for (uint32_t i = 0; i < fk->nslots; i++) {
                const struct fk_slot *s = &fk->slots[as_id][i];

                if (s->used && (first || s->gpa > from) &&
                    (best == UINT32_MAX ||
                     s->gpa < fk->slots[as_id][best].gpa)) {
                    best = i;
                }
            }
            if (best == UINT32_MAX) {
                break;
            }
            r = fn(as_id, best, &fk->slots[as_id][best], opaque);
            if (r) {
                return r;
            }
            from = fk->slots[as_id][best].gpa;
            first = false;
        }
    }
    return 0;
}

const struct fk_slot *fk_slot_at(struct fake_kvm *fk, unsigned as_id,
                                 uint64_t gpa, uint32_t *id)
{
    return find_slot(fk, as_id, gpa, id);
}

const struct fk_ioeventfd *fk_find_ioeventfd(struct fake_kvm *fk, bool pio,
                                             uint64_t addr)
{
    for (size_t i = 0; i < fk->nefds; i++) {
        if (fk->efds[i].pio == pio && fk->efds[i].addr == addr) {
            return &fk->efds[i];
        }
    }
    return NULL;
}

const struct fk_zone *fk_find_zone(struct fake_kvm *fk, bool pio,
                                   uint64_t addr, uint32_t size)
{
    for (size_t i = 0; i < fk->nzones; i++) {
        if ((fk->zones[i].pio != 0) == pio && fk->zones[i].addr == addr &&
            fk->zones[i].size == size) {
            return &fk->zones[i];
        }
    }
    return NULL;
}
