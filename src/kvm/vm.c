/* SPDX-License-Identifier: MIT */
/*
 * kvm/vm.c - the VM: opening it, what the kernel offers, attaching spaces.
 *
 * gm_kvm_open() creates the VM (or adopts the backend's), reads the
 * capabilities the listener depends on, and enables what the options ask
 * for before any vCPU exists (the dirty ring and manual protection must
 * be enabled first). Attaching a space registers its listener; the
 * listener's replay mirrors the current view at once, and a failure there
 * (too many ranges for the memslots) unregisters it again, so a failed
 * attach leaves nothing behind.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "kvm.h"

#define DEFAULT_RING_ENTRIES 4096u
#define LISTENER_PRIORITY 10 /* QEMU's: after the dispatch tables */

extern const struct gm_listener_ops gm__kvm_io_ops;

static int real_ioctl(void *opaque, int fd, unsigned long req, void *arg)
{
    (void)opaque;
    return ioctl(fd, req, arg);
}

int gm__kvm_ioctl(gm_kvm *kvm, int fd, unsigned long req, void *arg)
{
    int r;

    do {
        r = kvm->be.ioctl(kvm->be.opaque, fd, req, arg);
    } while (r < 0 && errno == EINTR && req != KVM_RUN);
    return r < 0 ? -errno : r;
}

int gm__kvm_vm_ioctl(gm_kvm *kvm, unsigned long req, void *arg)
{
    return gm__kvm_ioctl(kvm, kvm->vm_fd, req, arg);
}

void gm__kvm_fail(gm_kvm *kvm, int err, const char *fmt, ...)
{
    va_list ap;

    if (kvm->last_err) {
        return; /* the first failure is the one to report */
    }
    kvm->last_err = err;
    va_start(ap, fmt);
    vsnprintf(kvm->last_msg, sizeof(kvm->last_msg), fmt, ap);
    va_end(ap);
}

int gm_kvm_check_extension(gm_kvm *kvm, long cap)
{
    return kvm ? gm__kvm_vm_ioctl(kvm, KVM_CHECK_EXTENSION, (void *)cap)
               : -EINVAL;
}

static int enable_cap(gm_kvm *kvm, uint32_t cap, uint64_t arg0)
{
    struct kvm_enable_cap ec;

    memset(&ec, 0, sizeof(ec));
    ec.cap = cap;
    ec.args[0] = arg0;
    return gm__kvm_vm_ioctl(kvm, KVM_ENABLE_CAP, &ec);
}

/* Read the capabilities and enable what opts ask for. */
static int setup(gm_kvm *kvm, const struct gm_kvm_opts *o, gm_error *err)
{
    int r;

    if (gm_kvm_check_extension(kvm, KVM_CAP_USER_MEMORY) <= 0) {
        return gm__error_set(err, -ENOTSUP,
                             "KVM: KVM_CAP_USER_MEMORY is not offered");
    }
    r = gm_kvm_check_extension(kvm, KVM_CAP_NR_MEMSLOTS);
    kvm->max_slots = r > 0 ? (uint32_t)r : 32;
    if (o->max_slots && o->max_slots < kvm->max_slots) {
        kvm->max_slots = o->max_slots;
    }
    r = gm_kvm_check_extension(kvm, KVM_CAP_MULTI_ADDRESS_SPACE);
    kvm->nr_as = r > 0 ? (unsigned)r : 1;
    kvm->readonly_mem = gm_kvm_check_extension(kvm, KVM_CAP_READONLY_MEM) > 0;
    kvm->ioeventfd_any_len =
        gm_kvm_check_extension(kvm, KVM_CAP_IOEVENTFD_ANY_LENGTH) > 0;
    r = gm_kvm_check_extension(kvm, KVM_CAP_COALESCED_MMIO);
    kvm->coalesced_page = r > 0 ? r : 0;
    kvm->coalesced_pio = gm_kvm_check_extension(kvm, KVM_CAP_COALESCED_PIO) > 0;

    kvm->dirty_mode = o->dirty_mode;
    if (o->dirty_mode == GM_KVM_DIRTY_RING) {
        uint32_t n = o->dirty_ring_entries ? o->dirty_ring_entries
                                           : DEFAULT_RING_ENTRIES;
        uint64_t bytes = (uint64_t)n * sizeof(struct kvm_dirty_gfn);
        int cap = gm_kvm_check_extension(kvm, KVM_CAP_DIRTY_LOG_RING_ACQ_REL);
        uint32_t which = KVM_CAP_DIRTY_LOG_RING_ACQ_REL;

        if (cap <= 0) {
            cap = gm_kvm_check_extension(kvm, KVM_CAP_DIRTY_LOG_RING);
            which = KVM_CAP_DIRTY_LOG_RING;
        }
        if (n & (n - 1)) {
            return gm__error_set(err, -EINVAL, "KVM: dirty ring size %u is "
                                 "not a power of two", n);
        }
        if (cap <= 0) {
            return gm__error_set(err, -ENOTSUP,
                                 "KVM: the dirty ring is not offered");
        }
        if (bytes > (uint64_t)cap) {
            return gm__error_set(err, -EINVAL, "KVM: a dirty ring of %u "
                                 "entries exceeds the kernel's %d bytes",
                                 n, cap);
        }
        r = enable_cap(kvm, which, bytes);
        if (r) {
            return gm__error_set(err, r, "KVM: enabling the dirty ring: %s",
                                 strerror(-r));
        }
        kvm->ring_entries = n;
    } else if (!o->no_manual_protect) {
        r = gm_kvm_check_extension(kvm, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2);
        if (r > 0) {
            uint64_t want = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE;

            if (!o->no_initially_set) {
                want |= KVM_DIRTY_LOG_INITIALLY_SET;
            }
            if (!enable_cap(kvm, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
                            want & (uint64_t)r)) {
                kvm->manual_protect = true;
            }
        }
    }
    return 0;
}

gm_kvm *gm_kvm_open(gm_system *sys, const struct gm_kvm_opts *opts,
                    gm_error *err)
{
    static const struct gm_kvm_opts none;
    const struct gm_kvm_opts *o = opts ? opts : &none;
    const char *dev = o->device ? o->device : "/dev/kvm";
    gm_kvm *kvm;
    int r;

    if (!sys) {
        gm__error_set(err, -EINVAL, "KVM: NULL system");
        return NULL;
    }
    kvm = calloc(1, sizeof(*kvm));
    if (!kvm) {
        gm__error_set(err, -ENOMEM, "KVM: out of memory");
        return NULL;
    }
    kvm->sys = sys;
    kvm->dev_fd = kvm->vm_fd = -1;
    if (pthread_mutex_init(&kvm->lock, NULL)) {
        free(kvm);
        gm__error_set(err, -ENOMEM, "KVM: cannot make a mutex");
        return NULL;
    }
    if (pthread_mutex_init(&kvm->flush_lock, NULL)) {
        pthread_mutex_destroy(&kvm->lock);
        free(kvm);
        gm__error_set(err, -ENOMEM, "KVM: cannot make a mutex");
        return NULL;
    }
    if (o->backend) {
        kvm->be = *o->backend;
        kvm->vm_fd = o->backend->vm_fd;
    } else {
        kvm->be.ioctl = real_ioctl;
        kvm->own_fds = true;
        kvm->dev_fd = open(dev, O_RDWR | O_CLOEXEC);
        if (kvm->dev_fd < 0) {
            r = -errno;
            gm__error_set(err, r, "KVM: cannot open %s: %s%s", dev,
                          strerror(-r),
                          r == -ENOENT ? " (no KVM on this host)" : "");
            goto fail;
        }
        r = gm__kvm_ioctl(kvm, kvm->dev_fd, KVM_GET_API_VERSION, NULL);
        if (r != KVM_API_VERSION) {
            gm__error_set(err, -ENOTSUP, "KVM: API version %d, not %d", r,
                          KVM_API_VERSION);
            goto fail;
        }
        r = gm__kvm_ioctl(kvm, kvm->dev_fd, KVM_CREATE_VM, NULL);
        if (r < 0) {
            gm__error_set(err, r, "KVM: KVM_CREATE_VM: %s", strerror(-r));
            goto fail;
        }
        kvm->vm_fd = r;
        r = gm__kvm_ioctl(kvm, kvm->dev_fd, KVM_GET_VCPU_MMAP_SIZE, NULL);
        kvm->run_size = r > 0 ? (size_t)r : 0;
    }
    if (setup(kvm, o, err)) {
        goto fail;
    }
    kvm->stats.max_slots = kvm->max_slots;
    kvm->cring_max = (uint32_t)(((size_t)sysconf(_SC_PAGESIZE) -
                                 sizeof(struct kvm_coalesced_mmio_ring)) /
                                sizeof(struct kvm_coalesced_mmio));
    gm_system_set_coalesced_flush(sys, gm__kvm_flush, kvm);
    return kvm;
fail:
    if (kvm->own_fds) {
        if (kvm->vm_fd >= 0) {
            close(kvm->vm_fd);
        }
        if (kvm->dev_fd >= 0) {
            close(kvm->dev_fd);
        }
    }
    pthread_mutex_destroy(&kvm->flush_lock);
    pthread_mutex_destroy(&kvm->lock);
    free(kvm);
    return NULL;
}

void gm_kvm_close(gm_kvm *kvm)
{
    if (!kvm) {
        return;
    }
    while (kvm->spaces) {
        gm_kvm_detach(kvm, kvm->spaces->as, NULL);
    }
    gm_system_set_coalesced_flush(kvm->sys, NULL, NULL);
    while (kvm->vcpus) {
        gm_kvm_vcpu_free(kvm->vcpus);
    }
    pthread_mutex_lock(&kvm->lock);
    gm__kvm_bury_zombies(kvm);
    pthread_mutex_unlock(&kvm->lock);
    if (kvm->own_fds) {
        close(kvm->vm_fd);
        close(kvm->dev_fd);
    }
    pthread_mutex_destroy(&kvm->flush_lock);
    pthread_mutex_destroy(&kvm->lock);
    free(kvm);
}

int gm_kvm_vm_fd(const gm_kvm *kvm)
{
    return kvm ? kvm->vm_fd : -1;
}

static struct gm_kspace *find_space(gm_kvm *kvm, gm_space *as)
{
    for (struct gm_kspace *ks = kvm->spaces; ks; ks = ks->next) {
        if (ks->as == as) {
            return ks;
        }
    }
    return NULL;
}

static int attach(gm_kvm *kvm, gm_space *as, unsigned as_id, bool io,
                  gm_error *err)
{
    struct gm_kspace *ks;
    int r;

    if (!kvm || !as) {
        return gm__error_set(err, -EINVAL, "KVM: NULL argument");
    }
    if (find_space(kvm, as)) {
        return gm__error_set(err, -EINVAL, "KVM: space '%s' is already "
                             "attached", gm_space_name(as));
    }
    if (io ? kvm->io != NULL : as_id >= kvm->nr_as) {
        return io ? gm__error_set(err, -EINVAL, "KVM: an I/O space is "
                                  "already attached")
                  : gm__error_set(err, -EINVAL, "KVM: address space %u: "
                                  "the kernel offers %u", as_id, kvm->nr_as);
    }
    for (struct gm_kspace *o = kvm->spaces; o && !io; o = o->next) {
        if (!o->io && o->as_id == as_id) {
            return gm__error_set(err, -EINVAL, "KVM: address space %u is "
                                 "already attached", as_id);
        }
    }
    ks = calloc(1, sizeof(*ks));
    if (!ks) {
        return gm__error_set(err, -ENOMEM, "KVM: out of memory");
    }
    ks->kvm = kvm;
    ks->as = as;
    ks->as_id = as_id;
    ks->io = io;
    pthread_mutex_lock(&kvm->lock);
    ks->next = kvm->spaces;
    kvm->spaces = ks;
    if (io) {
        kvm->io = ks;
    } else if (as_id == 0) {
        kvm->mem0 = ks;
    }
    kvm->last_err = 0;
    pthread_mutex_unlock(&kvm->lock);
    ks->l = gm_listener_register(gm_space_system(as),
                                 io ? &gm__kvm_io_ops : &gm__kvm_mem_ops, ks,
                                 LISTENER_PRIORITY, as, err);
    r = ks->l ? gm_kvm_last_error(kvm, err) : (err ? err->code : -ENOMEM);
    if (r) {
        gm_kvm_detach(kvm, as, NULL);
        return r;
    }
    return 0;
}

int gm_kvm_attach_memory(gm_kvm *kvm, gm_space *as, unsigned as_id,
                         gm_error *err)
{
    return attach(kvm, as, as_id, false, err);
}

int gm_kvm_attach_io(gm_kvm *kvm, gm_space *as, gm_error *err)
{
    return attach(kvm, as, 0, true, err);
}

int gm_kvm_detach(gm_kvm *kvm, gm_space *as, gm_error *err)
{
    struct gm_kspace *ks, **pp;
    int r;

    if (!kvm || !(ks = find_space(kvm, as))) {
        return gm__error_set(err, -EINVAL, "KVM: space not attached");
    }
    if (ks->l) {
        pthread_mutex_lock(&kvm->lock);
        ks->detaching = true;
        pthread_mutex_unlock(&kvm->lock);
        r = gm_listener_unregister(ks->l, err); /* replays deletions */
        if (r) {
            pthread_mutex_lock(&kvm->lock);
            ks->detaching = false;
            pthread_mutex_unlock(&kvm->lock);
            return r;
        }
        ks->l = NULL;
    }
    pthread_mutex_lock(&kvm->lock);
    gm__kspace_clear(ks); /* what the replayed deletions left */
    /*
     * Ring mode: its deleted logging slots wait as zombies (pointing at ks)
     * for a harvest; collect their entries and bury them now.
     */
    if (kvm->dirty_mode == GM_KVM_DIRTY_RING) {
        gm__kvm_harvest(kvm);
    }
    for (pp = &kvm->spaces; *pp != ks; pp = &(*pp)->next) {
    }
    *pp = ks->next;
    if (kvm->io == ks) {
        kvm->io = NULL;
    }
    if (kvm->mem0 == ks) {
        kvm->mem0 = NULL;
    }
    gm__kspace_free(ks);
    pthread_mutex_unlock(&kvm->lock);
    return 0;
}

int gm_kvm_last_error(gm_kvm *kvm, gm_error *err)
{
    int r;

    if (!kvm) {
        return gm__error_set(err, -EINVAL, "KVM: NULL VM");
    }
    pthread_mutex_lock(&kvm->lock);
    r = kvm->last_err;
    if (r) {
        gm__error_set(err, r, "%s", kvm->last_msg);
    }
    kvm->last_err = 0;
    pthread_mutex_unlock(&kvm->lock);
    return r;
}

void gm_kvm_get_stats(gm_kvm *kvm, struct gm_kvm_stats *out)
{
    if (!kvm || !out) {
        return;
    }
    pthread_mutex_lock(&kvm->lock);
    *out = kvm->stats;
    pthread_mutex_unlock(&kvm->lock);
}
