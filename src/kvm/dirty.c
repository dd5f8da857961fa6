/* SPDX-License-Identifier: MIT */
/*
 * kvm/dirty.c - KVM's dirty logs into guestmem's dirty bitmaps.
 *
 * Bitmap mode: KVM_GET_DIRTY_LOG returns a slot's bitmap, merged into the
 * bitmaps of the clients that log the slot's range (gm_dirty_merge). With
 * manual protection (KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2) the kernel does
 * not write-protect the pages it reports: the slot remembers what was
 * reported, and when a client clears a range (the listener's log_clear)
 * exactly the reported pages of that range are cleared and protected again
 * (KVM_CLEAR_DIRTY_LOG), never a page written since the last report, which
 * KVM still holds for the next one.
 *
 * Ring mode: each vCPU's ring lists the pages it dirtied as (slot, page)
 * entries; harvesting walks every ring from where it stopped, sets the
 * bits, marks the entries collected and asks the kernel to re-protect
 * them (KVM_RESET_DIRTY_RINGS). A sync harvests every ring, as does a
 * vCPU whose ring is full, and so does the deletion of a logging slot.
 *
 * All under kvm->lock.
 */
#include <string.h>

#include "kvm.h"

#define PAGE 4096ull

static uint64_t ram_addr_of(const struct gm_kslot *s)
{
    uint64_t base = gm_region_ram_addr(s->region);

    return base == GM_RAM_ADDR_INVALID ? base : base + s->offset;
}

int gm__kvm_slot_sync(struct gm_kslot *s)
{
    gm_kvm *kvm = s->ks->kvm;
    uint64_t npages = s->size / PAGE, words = (npages + 63) / 64;
    uint64_t ra = ram_addr_of(s);
    struct kvm_dirty_log log;
    uint64_t *bits;
    int r;

    if (kvm->dirty_mode == GM_KVM_DIRTY_RING) {
        gm__kvm_harvest(kvm);
        return 0;
    }
    bits = calloc(words, sizeof(*bits));
    if (!bits) {
        gm__kvm_fail(kvm, -ENOMEM, "KVM: out of memory syncing slot %u",
                     s->id);
        return -ENOMEM;
    }
    memset(&log, 0, sizeof(log));
    log.slot = s->id | (uint32_t)s->ks->as_id << 16;
    log.dirty_bitmap = bits;
    kvm->stats.get_dirty_log++;
    r = gm__kvm_vm_ioctl(kvm, KVM_GET_DIRTY_LOG, &log);
    if (r) {
        gm__kvm_fail(kvm, r, "KVM: KVM_GET_DIRTY_LOG of slot %u: %s", s->id,
                     strerror(-r));
        free(bits);
        /*
         * What the kernel logged is unknown: every page may be dirty (a
         * sync before the slot goes or stops logging is the last chance).
         */
        if (ra != GM_RAM_ADDR_INVALID && s->mask) {
            gm_dirty_set(kvm->sys, ra, s->size, s->mask, NULL);
        }
        return r;
    }
    if (ra != GM_RAM_ADDR_INVALID && s->mask) {
        gm_dirty_merge(kvm->sys, ra, npages, bits, s->mask, NULL);
    }
    if (kvm->manual_protect) {
        if (!s->reported) {
            s->reported = bits; /* it is all there is to remember */
            return 0;
        }
        for (uint64_t i = 0; i < words; i++) {
            s->reported[i] |= bits[i];
        }
    }
    free(bits);
    return 0;
}

static void log_clear_slot(struct gm_kslot *s, uint64_t first, uint64_t n)
{
    gm_kvm *kvm = s->ks->kvm;
    uint64_t npages = s->size / PAGE;
    uint64_t start = first & ~63ull, end = (first + n + 63) & ~63ull;
    uint64_t bits[64], words, any = 0;
    struct kvm_clear_dirty_log c;
    int r;

    if (!kvm->manual_protect || !s->reported || !n) {
        return;
    }
    end = end < npages ? end : npages;
    /* In pieces of 4096 pages: the bitmap on the stack stays small. */
    for (uint64_t at = start; at < end; at += 64 * 64) {
        uint64_t stop = at + 64 * 64 < end ? at + 64 * 64 : end;

        words = (stop - at + 63) / 64;
        any = 0;
        for (uint64_t w = 0; w < words; w++) {
            uint64_t page = at + w * 64, m = ~0ull;

            if (page < first) {
                m &= ~0ull << (first - page);
            }
            if (page + 64 > first + n) {
                m &= ~0ull >> (page + 64 - (first + n));
            }
            bits[w] = s->reported[page / 64] & m;
            s->reported[page / 64] &= ~bits[w];
            any |= bits[w];
        }
        if (!any) {
            continue;
        }
        memset(&c, 0, sizeof(c));
        c.slot = s->id | (uint32_t)s->ks->as_id << 16;
        c.first_page = at;
        c.num_pages = (uint32_t)(stop - at);
        c.dirty_bitmap = bits;
        kvm->stats.clear_dirty_log++;
        r = gm__kvm_vm_ioctl(kvm, KVM_CLEAR_DIRTY_LOG, &c);
        if (r) {
            gm__kvm_fail(kvm, r, "KVM: KVM_CLEAR_DIRTY_LOG of slot %u: %s",
                         s->id, strerror(-r));
            return;
        }
    }
}

/* Collect one ring's dirty entries; the number collected. */
static uint64_t harvest_ring(gm_kvm *kvm, struct gm_kring *ring)
{
    uint64_t got = 0;

    for (;;) {
        struct kvm_dirty_gfn *e =
            &ring->gfns[ring->fetch & (kvm->ring_entries - 1)];
        uint32_t flags = __atomic_load_n(&e->flags, __ATOMIC_ACQUIRE);
        struct gm_kslot *s;

        if (!(flags & KVM_DIRTY_GFN_F_DIRTY)) {
            break;
        }
        s = gm__kvm_slot_by_id(kvm, e->slot >> 16, e->slot & 0xffff);
        if (s && e->offset < s->size / PAGE && s->mask) {
            uint64_t ra = ram_addr_of(s);

            if (ra != GM_RAM_ADDR_INVALID) {
                gm_dirty_set(kvm->sys, ra + e->offset * PAGE, PAGE, s->mask,
                             NULL);
            }
        }
        __atomic_store_n(&e->flags, KVM_DIRTY_GFN_F_RESET, __ATOMIC_RELEASE);
        ring->fetch++;
        got++;
    }
    return got;
}

void gm__kvm_harvest(gm_kvm *kvm)
{
    uint64_t got = 0;

    for (struct gm_kvm_vcpu *v = kvm->vcpus; v; v = v->next) {
        if (v->ring.gfns) {
            got += harvest_ring(kvm, &v->ring);
        }
    }
    if (got) {
        int r = gm__kvm_vm_ioctl(kvm, KVM_RESET_DIRTY_RINGS, NULL);

        if (r < 0) {
            gm__kvm_fail(kvm, r, "KVM: KVM_RESET_DIRTY_RINGS: %s",
                         strerror(-r));
        }
        __atomic_fetch_add(&kvm->stats.ring_harvested, got,
                           __ATOMIC_RELAXED);
    }
    gm__kvm_bury_zombies(kvm);
}

struct range_ctx {
    uint64_t lo;
    gm_u128 hi;
    bool clear;
};

static void sync_cb(struct gm_itree_node *n, void *opaque)
{
    struct range_ctx *c = opaque;
    struct gm_kslot *s = caa_container_of(n, struct gm_kslot, n);
    uint64_t lo, hi;

    if (!(s->flags & KVM_MEM_LOG_DIRTY_PAGES)) {
        return;
    }
    if (!c->clear) {
        gm__kvm_slot_sync(s);
        return;
    }
    /* The whole pages of [lo, hi) in the slot. */
    lo = c->lo > s->gpa ? c->lo : s->gpa;
    hi = c->hi < s->gpa + s->size ? (uint64_t)c->hi : s->gpa + s->size;
    lo = (lo - s->gpa + PAGE - 1) / PAGE;
    hi = (hi - s->gpa) / PAGE;
    if (hi > lo) {
        log_clear_slot(s, lo, hi - lo);
    }
}

static void over_range(struct gm_kspace *ks, const struct gm_section *s,
                       bool clear)
{
    struct range_ctx c = {s->addr, (gm_u128)s->addr + s->size, clear};

    pthread_mutex_lock(&ks->kvm->lock);
    if (!clear && ks->kvm->dirty_mode == GM_KVM_DIRTY_RING) {
        gm__kvm_harvest(ks->kvm);
    } else {
        gm__itree_query(ks->tree, c.lo, c.hi, sync_cb, &c);
    }
    pthread_mutex_unlock(&ks->kvm->lock);
}

void gm__kvm_log_sync(void *opaque, const struct gm_section *s)
{
    over_range(opaque, s, false);
}

void gm__kvm_log_clear(void *opaque, const struct gm_section *s)
{
    over_range(opaque, s, true);
}
