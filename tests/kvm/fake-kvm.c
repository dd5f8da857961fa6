/* SPDX-License-Identifier: MIT */
/*
 * fake-kvm.c - the fake KVM kernel of fake-kvm.h: its rules are the
 * kernel's, restated from the API documentation and the kernel's checks
 * (see the header for the list).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "fake-kvm.h"

#define MAX_NR_PAGES ((1ull << 31) - 1) /* KVM_MEM_MAX_NR_PAGES */
#define IOBUS_DEVS 1000                  /* NR_IOBUS_DEVS */

static const char *const names[FK_NR] = {
    "KVM_CHECK_EXTENSION",         "KVM_ENABLE_CAP",
    "KVM_SET_USER_MEMORY_REGION",  "KVM_GET_DIRTY_LOG",
    "KVM_CLEAR_DIRTY_LOG",         "KVM_IOEVENTFD",
    "KVM_REGISTER_COALESCED_MMIO", "KVM_UNREGISTER_COALESCED_MMIO",
    "KVM_RESET_DIRTY_RINGS",       "other",
};

const char *fk_ioc_name(enum fk_ioc k)
{
    return k < FK_NR ? names[k] : "?";
}

void fk_caps_all(struct fk_caps *c)
{
    memset(c, 0, sizeof(*c));
    c->user_memory = 1;
    c->nr_memslots = 32;
    c->multi_address_space = 2;
    c->readonly_mem = 1;
    c->manual_dirty_log_protect2 =
        KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | KVM_DIRTY_LOG_INITIALLY_SET;
    c->dirty_log_ring = 65536 * (int)sizeof(struct kvm_dirty_gfn);
    c->dirty_log_ring_acq_rel = c->dirty_log_ring;
    c->ioeventfd_any_length = 1;
    c->coalesced_mmio = 1;
    c->coalesced_pio = 1;
}

static int fake_ioctl(void *opaque, int fd, unsigned long req, void *arg);

void fk_init(struct fake_kvm *fk, const struct fk_caps *caps)
{
    memset(fk, 0, sizeof(*fk));
    if (caps) {
        fk->caps = *caps;
    } else {
        fk_caps_all(&fk->caps);
    }
    pthread_mutex_init(&fk->lock, NULL);
    fk->nslots = fk->caps.nr_memslots > 0 ? (uint32_t)fk->caps.nr_memslots
                                          : 32;
    for (int i = 0; i < FK_MAX_AS; i++) {
        fk->slots[i] = calloc(fk->nslots, sizeof(struct fk_slot));
        if (!fk->slots[i]) {
            abort();
        }
    }
    fk->be.ioctl = fake_ioctl;
    fk->be.opaque = fk;
    fk->be.vm_fd = FK_VM_FD;
}

static unsigned nr_as(const struct fake_kvm *fk)
{
    return fk->caps.multi_address_space > 0
               ? (unsigned)fk->caps.multi_address_space
               : 1;
}

static void slot_clear(struct fk_slot *s)
{
    free(s->dirty);
    free(s->reported);
    memset(s, 0, sizeof(*s));
}

void fk_fini(struct fake_kvm *fk)
{
    for (int i = 0; i < FK_MAX_AS; i++) {
        for (uint32_t id = 0; id < fk->nslots; id++) {
            slot_clear(&fk->slots[i][id]);
        }
        free(fk->slots[i]);
    }
    free(fk->zones);
    free(fk->efds);
    pthread_mutex_destroy(&fk->lock);
}

const struct gm_kvm_backend *fk_backend(struct fake_kvm *fk)
{
    return &fk->be;
}

void fk_inject(struct fake_kvm *fk, enum fk_ioc kind, uint64_t nth, int err)
{
    pthread_mutex_lock(&fk->lock);
    fk->inject[kind].at = fk->calls[kind] + nth;
    fk->inject[kind].err = err;
    pthread_mutex_unlock(&fk->lock);
}

void fk_inject_clear(struct fake_kvm *fk)
{
    pthread_mutex_lock(&fk->lock);
    memset(fk->inject, 0, sizeof(fk->inject));
    pthread_mutex_unlock(&fk->lock);
}

uint64_t fk_rejected_total(const struct fake_kvm *fk)
{
    uint64_t n = 0;

    for (int k = 0; k < FK_NR; k++) {
        n += fk->rejected[k];
    }
    return n;
}

static int __attribute__((format(printf, 4, 5)))
reject(struct fake_kvm *fk, enum fk_ioc k, int err, const char *fmt, ...)
{
    va_list ap;
    int n;

    fk->rejected[k]++;
    n = snprintf(fk->last_reject, sizeof(fk->last_reject), "%s: ",
                 names[k]);
    va_start(ap, fmt);
    vsnprintf(fk->last_reject + n, sizeof(fk->last_reject) - (size_t)n, fmt,
              ap);
    va_end(ap);
    return -err;
}

static void __attribute__((format(printf, 3, 4)))
misuse(struct fake_kvm *fk, enum fk_ioc k, const char *fmt, ...)
{
    va_list ap;
    int n;

    fk->misuse++;
    n = snprintf(fk->last_misuse, sizeof(fk->last_misuse), "%s: ", names[k]);
    va_start(ap, fmt);
    vsnprintf(fk->last_misuse + n, sizeof(fk->last_misuse) - (size_t)n, fmt,
              ap);
    va_end(ap);
}

static uint64_t npages_of(const struct fk_slot *s)
{
    return s->size / FK_PAGE;
}

static uint64_t words_of(const struct fk_slot *s)
{
    return (npages_of(s) + 63) / 64;
}

static void set_bit64(uint64_t *b, uint64_t i)
{
    b[i / 64] |= 1ull << (i % 64);
}

/* A new dirty bitmap for a slot that starts logging. */
static void bitmap_new(struct fake_kvm *fk, struct fk_slot *s)
{
    s->dirty = calloc(words_of(s), sizeof(uint64_t));
    s->reported = calloc(words_of(s), sizeof(uint64_t));
    if (!s->dirty || !s->reported) {
        abort();
    }
    if ((fk->manual & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE) &&
        (fk->manual & KVM_DIRTY_LOG_INITIALLY_SET)) {
        for (uint64_t i = 0; i < npages_of(s); i++) {
            set_bit64(s->dirty, i);
        }
    }
}

static void bitmap_drop(struct fk_slot *s)
{
    free(s->dirty);
    free(s->reported);
    s->dirty = s->reported = NULL;
}

static int check_extension(struct fake_kvm *fk, long cap)
{
    const struct fk_caps *c = &fk->caps;

    switch (cap) {
    case KVM_CAP_USER_MEMORY:
        return c->user_memory;
    case KVM_CAP_NR_MEMSLOTS:
        return c->nr_memslots;
    case KVM_CAP_MULTI_ADDRESS_SPACE:
        return c->multi_address_space;
    case KVM_CAP_READONLY_MEM:
        return c->readonly_mem;
    case KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2:
        return c->manual_dirty_log_protect2;
    case KVM_CAP_DIRTY_LOG_RING:
        return c->dirty_log_ring;
    case KVM_CAP_DIRTY_LOG_RING_ACQ_REL:
        return c->dirty_log_ring_acq_rel;
    case KVM_CAP_IOEVENTFD_ANY_LENGTH:
        return c->ioeventfd_any_length;
    case KVM_CAP_COALESCED_MMIO:
        return c->coalesced_mmio;
    case KVM_CAP_COALESCED_PIO:
        return c->coalesced_pio;
    default:
        return 0;
    }
}

static int enable_cap(struct fake_kvm *fk, const struct kvm_enable_cap *ec)
{
    const enum fk_ioc k = FK_ENABLE_CAP;
    uint64_t a = ec->args[0];

    switch (ec->cap) {
    case KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2: {
        uint64_t allowed = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE;

        if (!fk->caps.manual_dirty_log_protect2) {
            return reject(fk, k, EINVAL, "manual protection not offered");
        }
        if (a & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE) {
            allowed = (uint64_t)fk->caps.manual_dirty_log_protect2;
        }
        if (ec->flags || (a & ~allowed)) {
            return reject(fk, k, EINVAL, "manual protection options 0x%llx",
                          (unsigned long long)a);
        }
        fk->manual = a;
        return 0;
    }
    case KVM_CAP_DIRTY_LOG_RING:
    case KVM_CAP_DIRTY_LOG_RING_ACQ_REL: {
        int max = check_extension(fk, ec->cap);

        if (max <= 0) {
            return reject(fk, k, EINVAL, "dirty ring cap %u not offered",
                          ec->cap);
        }
        if (!a || (a & (a - 1)) || a < FK_PAGE) {
            return reject(fk, k, EINVAL, "dirty ring size %llu",
                          (unsigned long long)a);
        }
        if (a > (uint64_t)max) {
            return reject(fk, k, E2BIG, "dirty ring size %llu > %d",
                          (unsigned long long)a, max);
        }
        if (fk->ring_bytes) {
            return reject(fk, k, EINVAL, "dirty ring enabled twice");
        }
        fk->ring_bytes = a;
        return 0;
    }
    default:
        return reject(fk, k, EINVAL, "unknown capability %u", ec->cap);
    }
}

static bool overlaps(const struct fk_slot *s, uint64_t gpa, uint64_t size)
{
    return s->used && gpa < s->gpa + s->size && s->gpa < gpa + size;
}

static int set_memory_region(struct fake_kvm *fk,
                             const struct kvm_userspace_memory_region *m)
{
    const enum fk_ioc k = FK_SET_USER_MEMORY_REGION;
    uint32_t valid = KVM_MEM_LOG_DIRTY_PAGES |
                     (fk->caps.readonly_mem ? KVM_MEM_READONLY : 0);
    unsigned as_id = m->slot >> 16;
    uint32_t id = m->slot & 0xffff;
    struct fk_slot *s;

    if (m->flags & ~valid) {
        return reject(fk, k, EINVAL, "slot %u/%u: flags 0x%x", as_id, id,
                      m->flags);
    }
    if ((m->memory_size | m->guest_phys_addr | m->userspace_addr) &
        (FK_PAGE - 1)) {
        return reject(fk, k, EINVAL, "slot %u/%u: unaligned gpa 0x%llx "
                      "size 0x%llx uaddr 0x%llx", as_id, id,
                      (unsigned long long)m->guest_phys_addr,
                      (unsigned long long)m->memory_size,
                      (unsigned long long)m->userspace_addr);
    }
    if (as_id >= nr_as(fk) || as_id >= FK_MAX_AS || id >= fk->nslots) {
        return reject(fk, k, EINVAL, "slot %u/%u beyond %u/%u", as_id, id,
                      nr_as(fk), fk->nslots);
    }
    if (m->guest_phys_addr + m->memory_size < m->guest_phys_addr ||
        m->userspace_addr + m->memory_size < m->userspace_addr) {
        return reject(fk, k, EINVAL, "slot %u/%u wraps", as_id, id);
    }
    s = &fk->slots[as_id][id];
    if (!m->memory_size) {
        if (!s->used) {
            return reject(fk, k, EINVAL, "deleting slot %u/%u, which does "
                          "not exist", as_id, id);
        }
        slot_clear(s);
        return 0;
    }
    if (m->memory_size / FK_PAGE > MAX_NR_PAGES) {
        return reject(fk, k, EINVAL, "slot %u/%u too big", as_id, id);
    }
    if (s->used) {
        bool move = m->guest_phys_addr != s->gpa;

        if (m->userspace_addr != s->uaddr || m->memory_size != s->size) {
            return reject(fk, k, EINVAL, "slot %u/%u at 0x%llx: resized or "
                          "another userspace address", as_id, id,
                          (unsigned long long)s->gpa);
        }
        if ((m->flags ^ s->flags) & KVM_MEM_READONLY) {
            return reject(fk, k, EINVAL, "slot %u/%u at 0x%llx: "
                          "KVM_MEM_READONLY toggled", as_id, id,
                          (unsigned long long)s->gpa);
        }
        if (move && !fk->allow_move) {
            return reject(fk, k, EINVAL, "slot %u/%u moved from 0x%llx to "
                          "0x%llx", as_id, id, (unsigned long long)s->gpa,
                          (unsigned long long)m->guest_phys_addr);
        }
        if (!move && m->flags == s->flags) {
            misuse(fk, k, "slot %u/%u: nothing changes", as_id, id);
            return 0;
        }
    }
    if (!s->used || m->guest_phys_addr != s->gpa) {
        for (uint32_t o = 0; o < fk->nslots; o++) {
            if (o != id && overlaps(&fk->slots[as_id][o], m->guest_phys_addr,
                                    m->memory_size)) {
                return reject(fk, k, EEXIST, "slot %u/%u at 0x%llx+0x%llx "
                              "overlaps slot %u at 0x%llx+0x%llx", as_id, id,
                              (unsigned long long)m->guest_phys_addr,
                              (unsigned long long)m->memory_size, o,
                              (unsigned long long)fk->slots[as_id][o].gpa,
                              (unsigned long long)fk->slots[as_id][o].size);
            }
        }
    }
    if (!s->used) {
        s->used = true;
        s->gpa = m->guest_phys_addr;
        s->size = m->memory_size;
        s->uaddr = m->userspace_addr;
    }
    s->gpa = m->guest_phys_addr;
    if ((m->flags & KVM_MEM_LOG_DIRTY_PAGES) && !fk->ring_bytes) {
        if (!s->dirty) {
            bitmap_new(fk, s);
        }
    } else {
        bitmap_drop(s);
    }
    s->flags = m->flags;
    return 0;
}

/* The logging slot a dirty-log ioctl names, or NULL with *r set. */
static struct fk_slot *log_slot(struct fake_kvm *fk, enum fk_ioc k,
                                uint32_t slot, int *r)
{
    unsigned as_id = slot >> 16;
    uint32_t id = slot & 0xffff;
    struct fk_slot *s;

    if (fk->ring_bytes) {
        *r = reject(fk, k, ENXIO, "dirty ring mode");
        return NULL;
    }
    if (as_id >= FK_MAX_AS || as_id >= nr_as(fk) || id >= fk->nslots) {
        *r = reject(fk, k, EINVAL, "slot %u/%u", as_id, id);
        return NULL;
    }
    s = &fk->slots[as_id][id];
    if (!s->used || !s->dirty) {
        *r = reject(fk, k, ENOENT, "slot %u/%u %s", as_id, id,
                    s->used ? "does not log" : "does not exist");
        return NULL;
    }
    return s;
}

static int get_dirty_log(struct fake_kvm *fk, const struct kvm_dirty_log *l)
{
    int r = 0;
    struct fk_slot *s = log_slot(fk, FK_GET_DIRTY_LOG, l->slot, &r);

    if (!s) {
        return r;
    }
    memcpy(l->dirty_bitmap, s->dirty, words_of(s) * sizeof(uint64_t));
    if (fk->manual & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE) {
        for (uint64_t w = 0; w < words_of(s); w++) {
            s->reported[w] |= s->dirty[w];
        }
    } else {
        memset(s->dirty, 0, words_of(s) * sizeof(uint64_t));
    }
    return 0;
}

static int clear_dirty_log(struct fake_kvm *fk,
                           const struct kvm_clear_dirty_log *c)
{
    const enum fk_ioc k = FK_CLEAR_DIRTY_LOG;
    const uint64_t *bits = c->dirty_bitmap;
    struct fk_slot *s;
    uint64_t np;
    int r = 0;

    if (fk->ring_bytes) {
        return reject(fk, k, ENXIO, "dirty ring mode");
    }
    if (c->first_page & 63) {
        return reject(fk, k, EINVAL, "first_page %llu",
                      (unsigned long long)c->first_page);
    }
    s = log_slot(fk, k, c->slot, &r);
    if (!s) {
        return r;
    }
    np = npages_of(s);
    if (c->first_page > np || c->num_pages > np - c->first_page ||
        (c->num_pages < np - c->first_page && (c->num_pages & 63))) {
        return reject(fk, k, EINVAL, "pages %llu+%u of a %llu-page slot",
                      (unsigned long long)c->first_page, c->num_pages,
                      (unsigned long long)np);
    }
    if (!(fk->manual & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE)) {
        misuse(fk, k, "without manual protection");
    }
    for (uint64_t i = 0; i < (c->num_pages + 63) / 64; i++) {
        uint64_t w = c->first_page / 64 + i, m = bits[i];

        if (m & s->dirty[w] & ~s->reported[w]) {
            misuse(fk, k, "slot 0x%x: clears dirty pages never reported "
                   "(word %llu: 0x%llx): their writes are lost", c->slot,
                   (unsigned long long)w,
                   (unsigned long long)(m & s->dirty[w] & ~s->reported[w]));
        }
        s->dirty[w] &= ~m;
        s->reported[w] &= ~m;
    }
    return 0;
}

static bool is_eventfd(int fd)
{
    char path[64], link[64];
    ssize_t n;

    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    n = readlink(path, link, sizeof(link) - 1);
    if (n < 0) {
        return true; /* no /proc: trust it */
    }
    link[n] = '\0';
    return strcmp(link, "anon_inode:[eventfd]") == 0;
}

static size_t bus_devices(struct fake_kvm *fk, bool pio)
{
    size_t n = 0;

    for (size_t i = 0; i < fk->nefds; i++) {
        n += fk->efds[i].pio == pio;
    }
    for (size_t i = 0; i < fk->nzones; i++) {
        n += (fk->zones[i].pio != 0) == pio;
    }
    return n;
}

static int ioeventfd(struct fake_kvm *fk, const struct kvm_ioeventfd *e)
{
    const enum fk_ioc k = FK_IOEVENTFD;
    bool pio = e->flags & KVM_IOEVENTFD_FLAG_PIO;
    bool wild = !(e->flags & KVM_IOEVENTFD_FLAG_DATAMATCH);

    if (fcntl(e->fd, F_GETFD) < 0) {
        return reject(fk, k, EBADF, "fd %d", e->fd);
    }
    if (!is_eventfd(e->fd)) {
        return reject(fk, k, EINVAL, "fd %d is not an eventfd", e->fd);
    }
    if (e->flags & KVM_IOEVENTFD_FLAG_DEASSIGN) {
        for (size_t i = 0; i < fk->nefds; i++) {
            struct fk_ioeventfd *p = &fk->efds[i];

            if (p->pio == pio && p->fd == e->fd && p->addr == e->addr &&
                p->len == e->len && p->wildcard == wild &&
                (wild || p->datamatch == e->datamatch)) {
                *p = fk->efds[--fk->nefds];
                return 0;
            }
        }
        return reject(fk, k, ENOENT, "deassign %s 0x%llx len %u: none",
                      pio ? "pio" : "mmio", (unsigned long long)e->addr,
                      e->len);
    }
    if (e->len != 0 && e->len != 1 && e->len != 2 && e->len != 4 &&
        e->len != 8) {
        return reject(fk, k, EINVAL, "len %u", e->len);
    }
    if (!e->len && !fk->caps.ioeventfd_any_length) {
        return reject(fk, k, EINVAL, "len 0 without "
                      "KVM_CAP_IOEVENTFD_ANY_LENGTH");
    }
    if (e->addr + e->len < e->addr) {
        return reject(fk, k, EINVAL, "wraps");
    }
    if (e->flags & ~(uint32_t)KVM_IOEVENTFD_VALID_FLAG_MASK) {
        return reject(fk, k, EINVAL, "flags 0x%x", e->flags);
    }
    if (!e->len && !wild) {
        return reject(fk, k, EINVAL, "len 0 with DATAMATCH");
    }
    for (size_t i = 0; i < fk->nefds; i++) {
        const struct fk_ioeventfd *p = &fk->efds[i];

        if (p->pio == pio && p->addr == e->addr &&
            (!p->len || !e->len ||
             (p->len == e->len &&
              (p->wildcard || wild || p->datamatch == e->datamatch)))) {
            return reject(fk, k, EEXIST, "%s 0x%llx len %u collides",
                          pio ? "pio" : "mmio", (unsigned long long)e->addr,
                          e->len);
        }
    }
    if (bus_devices(fk, pio) >= IOBUS_DEVS) {
        return reject(fk, k, ENOSPC, "bus full");
    }
    if (fk->nefds == fk->ecap) {
        fk->ecap = fk->ecap ? 2 * fk->ecap : 16;
        fk->efds = realloc(fk->efds, fk->ecap * sizeof(*fk->efds));
        if (!fk->efds) {
            abort();
        }
    }
    fk->efds[fk->nefds++] = (struct fk_ioeventfd){
        e->addr, wild ? 0 : e->datamatch, e->len, e->fd, pio, wild};
    return 0;
}

static int coalesced(struct fake_kvm *fk, const struct kvm_coalesced_mmio_zone *z,
                     bool add)
{
    const enum fk_ioc k =
        add ? FK_REGISTER_COALESCED_MMIO : FK_UNREGISTER_COALESCED_MMIO;
    uint32_t pio = z->pio;
    size_t removed = 0;

    if (!fk->caps.coalesced_mmio) {
        return reject(fk, k, ENOTTY, "no KVM_CAP_COALESCED_MMIO");
    }
    if (pio > 1) {
        return reject(fk, k, EINVAL, "pio %u", pio);
    }
    if (pio && !fk->caps.coalesced_pio) {
        misuse(fk, k, "a PIO zone without KVM_CAP_COALESCED_PIO (the field "
               "is padding there: an MMIO zone)");
        pio = 0;
    }
    if (add) {
        if (bus_devices(fk, pio) >= IOBUS_DEVS) {
            return reject(fk, k, ENOSPC, "bus full");
        }
        if (fk->nzones == fk->zcap) {
            fk->zcap = fk->zcap ? 2 * fk->zcap : 16;
            fk->zones = realloc(fk->zones, fk->zcap * sizeof(*fk->zones));
            if (!fk->zones) {
                abort();
            }
        }
        fk->zones[fk->nzones++] = (struct fk_zone){z->addr, z->size, pio};
        return 0;
    }
    for (size_t i = 0; i < fk->nzones;) {
        struct fk_zone *p = &fk->zones[i];

        /* coalesced_mmio_in_range(): the range lies inside the zone */
        if (p->pio == pio && z->addr >= p->addr &&
            z->addr + z->size <= p->addr + p->size) {
            *p = fk->zones[--fk->nzones];
            removed++;
        } else {
            i++;
        }
    }
    if (!removed) {
        misuse(fk, k, "0x%llx+0x%x pio %u matches no zone",
               (unsigned long long)z->addr, z->size, pio);
    }
    return 0;
}

static enum fk_ioc kind_of(unsigned long req)
{
    switch (req) {
    case KVM_CHECK_EXTENSION:
        return FK_CHECK_EXTENSION;
    case KVM_ENABLE_CAP:
        return FK_ENABLE_CAP;
    case KVM_SET_USER_MEMORY_REGION:
        return FK_SET_USER_MEMORY_REGION;
    case KVM_GET_DIRTY_LOG:
        return FK_GET_DIRTY_LOG;
    case KVM_CLEAR_DIRTY_LOG:
        return FK_CLEAR_DIRTY_LOG;
    case KVM_IOEVENTFD:
        return FK_IOEVENTFD;
    case KVM_REGISTER_COALESCED_MMIO:
        return FK_REGISTER_COALESCED_MMIO;
    case KVM_UNREGISTER_COALESCED_MMIO:
        return FK_UNREGISTER_COALESCED_MMIO;
    case KVM_RESET_DIRTY_RINGS:
        return FK_RESET_DIRTY_RINGS;
    default:
        return FK_OTHER;
    }
}

static int dispatch(struct fake_kvm *fk, enum fk_ioc k, unsigned long req,
                    void *arg)
{
    switch (k) {
    case FK_CHECK_EXTENSION:
        return check_extension(fk, (long)arg);
    case FK_ENABLE_CAP:
        return enable_cap(fk, arg);
    case FK_SET_USER_MEMORY_REGION:
        return set_memory_region(fk, arg);
    case FK_GET_DIRTY_LOG:
        return get_dirty_log(fk, arg);
    case FK_CLEAR_DIRTY_LOG:
        return clear_dirty_log(fk, arg);
    case FK_IOEVENTFD:
        return ioeventfd(fk, arg);
    case FK_REGISTER_COALESCED_MMIO:
        return coalesced(fk, arg, true);
    case FK_UNREGISTER_COALESCED_MMIO:
        return coalesced(fk, arg, false);
    case FK_RESET_DIRTY_RINGS:
        if (!fk->ring_bytes) {
            return reject(fk, k, EINVAL, "not in dirty ring mode");
        }
        return fk_reset_rings(fk); /* fake-kvm-guest.c */
    default:
        misuse(fk, FK_OTHER, "unknown request 0x%lx", req);
        return -ENOTTY;
    }
}

static int fake_ioctl(void *opaque, int fd, unsigned long req, void *arg)
{
    struct fake_kvm *fk = opaque;
    enum fk_ioc k = kind_of(req);
    int r;

    pthread_mutex_lock(&fk->lock);
    fk->calls[k]++;
    if (fd != FK_VM_FD) {
        misuse(fk, k, "on fd %d, not the VM's", fd);
        r = -EBADF;
    } else if (fk->inject[k].at && fk->calls[k] == fk->inject[k].at) {
        fk->inject[k].at = 0;
        fk->injected[k]++;
        r = -fk->inject[k].err;
    } else {
        r = dispatch(fk, k, req, arg);
    }
    pthread_mutex_unlock(&fk->lock);
    if (r < 0) {
        errno = -r;
        return -1;
    }
    return r;
}
