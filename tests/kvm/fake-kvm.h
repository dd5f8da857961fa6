/* SPDX-License-Identifier: MIT */
/*
 * fake-kvm.h - a fake KVM kernel for the VM-level ioctls guestmem's KVM
 * backend uses (struct gm_kvm_backend), strict enough that a library
 * mistake fails the test.
 *
 * It keeps what the kernel keeps (memslots per address space with their
 * dirty bitmaps, ioeventfds, coalesced zones, the enabled capabilities) and
 * applies the kernel's rules (Documentation/virt/kvm/api.rst and
 * virt/kvm/kvm_main.c, eventfd.c, coalesced_mmio.c):
 *
 * KVM_SET_USER_MEMORY_REGION: unknown flags, and KVM_MEM_READONLY without
 *   KVM_CAP_READONLY_MEM, are -EINVAL; size, guest address and userspace
 *   address must be page-aligned, the slot's id (bits 0-15) below
 *   KVM_CAP_NR_MEMSLOTS and its address space (bits 16-31) below
 *   KVM_CAP_MULTI_ADDRESS_SPACE, the range must not wrap (-EINVAL). Size 0
 *   deletes (a slot that does not exist: -EINVAL). An existing slot may only
 *   change its flags: another userspace address or size, or toggling
 *   KVM_MEM_READONLY, is -EINVAL. Moving it (another guest address, same
 *   size and memory) is KVM_MR_MOVE, which the kernel accepts; the fake
 *   refuses it with -EINVAL unless allow_move is set, because guestmem
 *   promises to delete and re-add instead (a move leaves a window in which
 *   vCPUs see neither range). A new slot (or a move) overlapping another
 *   slot of its address space is -EEXIST. The dirty bitmap exists while
 *   KVM_MEM_LOG_DIRTY_PAGES is set (never in dirty-ring mode): it is dropped
 *   when logging stops or the slot goes, and starts all set with manual
 *   protection and KVM_DIRTY_LOG_INITIALLY_SET.
 * KVM_GET_DIRTY_LOG: -ENXIO in dirty-ring mode; bad slot number -EINVAL; a
 *   slot that does not exist or does not log: -ENOENT. Copies the bitmap
 *   (the slot's pages rounded up to 64 bits); clears it unless manual
 *   protection is enabled.
 * KVM_CLEAR_DIRTY_LOG: -ENXIO in ring mode; first_page must be a multiple
 *   of 64, num_pages a multiple of 64 unless the range ends at the slot's
 *   end, and the range must lie in the slot (-EINVAL); -ENOENT as above.
 *   Clears the given bits.
 * KVM_IOEVENTFD: len 1, 2, 4, 8, or 0 (with KVM_CAP_IOEVENTFD_ANY_LENGTH
 *   only; never with DATAMATCH); unknown flags -EINVAL; fd must be an open
 *   eventfd (-EBADF / -EINVAL); an assignment colliding with one on the same
 *   bus (same address, and a zero length on either side, or the same length
 *   with a wildcard on either side or the same data) is -EEXIST; deassign
 *   must name one exactly (bus, fd, address, length, wildcard, data): else
 *   -ENOENT.
 * KVM_(UN)REGISTER_COALESCED_MMIO: -ENOTTY without KVM_CAP_COALESCED_MMIO;
 *   pio must be 0 or 1. Unregister removes every zone of that bus that
 *   contains the given range (the kernel's coalesced_mmio_in_range()).
 * KVM_ENABLE_CAP: KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 (options within what
 *   KVM_CHECK_EXTENSION offered) and KVM_CAP_DIRTY_LOG_RING(_ACQ_REL) (a
 *   power of two of at least a page and at most the offered size, once).
 * KVM_RESET_DIRTY_RINGS: -EINVAL outside ring mode.
 *
 * Whatever the kernel would refuse is counted in rejected[] with a message
 * in last_reject. What the kernel would accept but only a buggy caller
 * does is counted in misuse with a message in last_misuse: a no-op
 * KVM_SET_USER_MEMORY_REGION, KVM_CLEAR_DIRTY_LOG of a page that is dirty
 * but was never reported by KVM_GET_DIRTY_LOG (its write is lost), or
 * without manual protection, an unregistration that matches no coalesced
 * zone, a PIO zone without KVM_CAP_COALESCED_PIO, an ioctl on another fd
 * or one the fake does not know. Tests expect both to stay 0 unless they
 * provoke them.
 *
 * Every ioctl is counted by kind (calls[]); fk_inject() makes the N-th
 * next call of a kind fail with an errno without changing anything.
 * fk_guest_write() is the guest writing through the memslots: it copies
 * into the userspace memory, marks logging slots' pages dirty and tells
 * how many bytes found no writable slot (they would exit to userspace).
 *
 * Not thread-safe beyond a mutex around each ioctl: tests drive it from
 * one thread.
 */
#ifndef GM_TESTS_FAKE_KVM_H
#define GM_TESTS_FAKE_KVM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <guestmem/kvm.h>

#define FK_PAGE 4096ull
#define FK_MAX_AS 4
#define FK_VM_FD 1000 /* the fd the fake answers on */

enum fk_ioc {
    FK_CHECK_EXTENSION,
    FK_ENABLE_CAP,
    FK_SET_USER_MEMORY_REGION,
    FK_GET_DIRTY_LOG,
    FK_CLEAR_DIRTY_LOG,
    FK_IOEVENTFD,
    FK_REGISTER_COALESCED_MMIO,
    FK_UNREGISTER_COALESCED_MMIO,
    FK_RESET_DIRTY_RINGS,
    FK_OTHER,
    FK_NR,
};

/* What KVM_CHECK_EXTENSION answers (0: not offered). */
struct fk_caps {
    int user_memory;
    int nr_memslots;
    int multi_address_space;
    int readonly_mem;
    int manual_dirty_log_protect2; /* the options offered */
    int dirty_log_ring;            /* the largest ring in bytes */
    int dirty_log_ring_acq_rel;
    int ioeventfd_any_length;
    int coalesced_mmio;            /* the ring's page offset */
    int coalesced_pio;
};

struct fk_slot {
    bool used;
    uint32_t flags;
    uint64_t gpa, size, uaddr;
    uint64_t *dirty;    /* the kernel's dirty bitmap (logging only) */
    uint64_t *reported; /* manual protection: returned, not cleared */
};

struct fk_zone {
    uint64_t addr;
    uint32_t size, pio;
};

struct fk_ioeventfd {
    uint64_t addr, datamatch;
    uint32_t len;
    int fd;
    bool pio, wildcard;
};

struct fake_kvm {
    struct fk_caps caps;
    bool allow_move;          /* accept KVM_MR_MOVE as the kernel does */
    struct gm_kvm_backend be;

    pthread_mutex_t lock;
    uint64_t manual;          /* enabled KVM_DIRTY_LOG_* options */
    uint64_t ring_bytes;      /* dirty ring enabled: its size */
    uint32_t nslots;          /* slot numbers per address space */
    struct fk_slot *slots[FK_MAX_AS];
    struct fk_zone *zones;
    size_t nzones, zcap;
    struct fk_ioeventfd *efds;
    size_t nefds, ecap;
    struct kvm_coalesced_mmio_ring *cring; /* fake-kvm-guest.c; NULL: none */
    uint32_t cring_max;                    /* its entries */
    struct kvm_dirty_gfn *vring;           /* one vCPU's dirty ring */
    uint32_t vring_n, vring_push, vring_reset;
    uint64_t vring_resets;                 /* entries reset */

    uint64_t calls[FK_NR], rejected[FK_NR], injected[FK_NR];
    uint64_t misuse;
    char last_reject[256], last_misuse[256];
    struct {
        uint64_t at; /* fail when calls[kind] reaches this (0: never) */
        int err;
    } inject[FK_NR];
};

/* Every capability offered: 32 slots, 2 address spaces, ... */
void fk_caps_all(struct fk_caps *c);
/* Set up with @caps (NULL: fk_caps_all). */
void fk_init(struct fake_kvm *fk, const struct fk_caps *caps);
void fk_fini(struct fake_kvm *fk);
/* The backend for gm_kvm_opts.backend (points into @fk). */
const struct gm_kvm_backend *fk_backend(struct fake_kvm *fk);
const char *fk_ioc_name(enum fk_ioc k);

/* The @nth next call of @kind (1: the very next) fails with -@err. */
void fk_inject(struct fake_kvm *fk, enum fk_ioc kind, uint64_t nth, int err);
void fk_inject_clear(struct fake_kvm *fk);
uint64_t fk_rejected_total(const struct fake_kvm *fk);

/*
 * The guest writes @len bytes of @buf (NULL: zeros) at @gpa of address
 * space @as_id: bytes in a writable slot land in its memory (and dirty its
 * page if it logs). Return: the number of bytes that found no writable
 * slot (an exit to userspace in real life), which are not written.
 */
uint64_t fk_guest_write(struct fake_kvm *fk, unsigned as_id, uint64_t gpa,
                        const void *buf, uint64_t len);
/* The same for reading (read-only slots too); unmapped bytes left alone. */
uint64_t fk_guest_read(struct fake_kvm *fk, unsigned as_id, uint64_t gpa,
                       void *buf, uint64_t len);
/* Whether the kernel holds page @page of slot @id dirty (bitmap mode). */
bool fk_page_dirty(struct fake_kvm *fk, unsigned as_id, uint32_t id,
                   uint64_t page);

/* Slots: how many, and each in (as_id, gpa) order. */
size_t fk_slot_count(struct fake_kvm *fk, unsigned as_id);
int fk_foreach_slot(struct fake_kvm *fk,
                    int (*fn)(unsigned as_id, uint32_t id,
                              const struct fk_slot *s, void *opaque),
                    void *opaque);
/* The slot holding @gpa in @as_id (its number in *@id), or NULL. */
const struct fk_slot *fk_slot_at(struct fake_kvm *fk, unsigned as_id,
                                 uint64_t gpa, uint32_t *id);

/* The ioeventfd / zone at @addr on a bus, or NULL. */
const struct fk_ioeventfd *fk_find_ioeventfd(struct fake_kvm *fk, bool pio,
                                             uint64_t addr);
const struct fk_zone *fk_find_zone(struct fake_kvm *fk, bool pio,
                                   uint64_t addr, uint32_t size);

/*
 * fake-kvm-guest.c: a guest write of @len bytes of @data at @addr on the PIO
 * or MMIO bus. An ioeventfd that matches it (as the kernel's
 * ioeventfd_in_range) is signalled; else a coalesced zone holding it
 * appends it to the coalesced ring, if the fake has one and it is not
 * full; else the write exits (nothing is written: the caller plays the
 * exit handler).
 */
enum fk_bus { FK_BUS_EXIT, FK_BUS_EVENTFD, FK_BUS_COALESCED };
enum fk_bus fk_guest_bus_write(struct fake_kvm *fk, bool pio, uint64_t addr,
                               const void *data, uint32_t len);
/* The coalesced ring page the kernel shares (the test owns it). */
struct kvm_coalesced_mmio_ring;
void fk_set_coalesced_ring(struct fake_kvm *fk,
                           struct kvm_coalesced_mmio_ring *ring,
                           uint32_t entries);

/*
 * A vCPU's dirty ring of @n entries (a power of two; NULL: none) that the
 * fake pushes to (fk_ring_push: the guest dirtied page @offset of slot
 * @slot, which carries the address space in bits 16-31; false when the
 * ring is full) and that KVM_RESET_DIRTY_RINGS resets as the kernel does:
 * from where it stopped, every entry userspace marked collected
 * (KVM_DIRTY_GFN_F_RESET) becomes free again.
 */
struct kvm_dirty_gfn;
void fk_set_dirty_ring(struct fake_kvm *fk, struct kvm_dirty_gfn *ring,
                       uint32_t n);
bool fk_ring_push(struct fake_kvm *fk, uint32_t slot, uint64_t offset);
int fk_reset_rings(struct fake_kvm *fk); /* lock held */

#endif
