/* SPDX-License-Identifier: MIT */
/*
 * kvm/vcpu.c - vCPUs whose exits go through guestmem's access path.
 *
 * A vCPU maps its kvm_run page (and, after it, the VM's coalesced MMIO
 * ring) and in ring mode its dirty ring. gm_kvm_vcpu_run() enters the
 * guest and handles the exits that are about memory: an MMIO exit is a
 * read or write of the memory space attached as address space 0, a port
 * exit one of the I/O space, both through the lock-free access path, so
 * any number of vCPUs run while another thread changes the topology. A
 * full dirty ring is harvested. After every exit the coalesced ring is
 * drained, so a device sees batched writes before anything that follows
 * them. Other exits return to the caller.
 */
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvm.h"

gm_kvm_vcpu *gm_kvm_vcpu_new(gm_kvm *kvm, unsigned id, gm_error *err)
{
    long page = sysconf(_SC_PAGESIZE);
    gm_kvm_vcpu *v;
    int r;

    if (!kvm) {
        gm__error_set(err, -EINVAL, "KVM: NULL VM");
        return NULL;
    }
    if (!kvm->own_fds || !kvm->run_size) {
        gm__error_set(err, -ENOTSUP, "KVM: vCPUs need the kernel's KVM "
                      "(not a backend)");
        return NULL;
    }
    v = calloc(1, sizeof(*v));
    if (!v) {
        gm__error_set(err, -ENOMEM, "KVM: out of memory");
        return NULL;
    }
    v->kvm = kvm;
    v->id = id;
    r = gm__kvm_vm_ioctl(kvm, KVM_CREATE_VCPU, (void *)(uintptr_t)id);
    if (r < 0) {
        gm__error_set(err, r, "KVM: KVM_CREATE_VCPU %u: %s", id,
                      strerror(-r));
        free(v);
        return NULL;
    }
    v->fd = r;
    v->run_size = kvm->run_size;
    v->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
                  v->fd, 0);
    if (v->run == MAP_FAILED) {
        r = -errno;
        gm__error_set(err, r, "KVM: mapping vCPU %u's kvm_run: %s", id,
                      strerror(-r));
        close(v->fd);
        free(v);
        return NULL;
    }
    if (kvm->dirty_mode == GM_KVM_DIRTY_RING) {
        size_t bytes = (size_t)kvm->ring_entries * sizeof(struct kvm_dirty_gfn);
        void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd,
                       (off_t)KVM_DIRTY_LOG_PAGE_OFFSET * page);

        if (p == MAP_FAILED) {
            r = -errno;
            gm__error_set(err, r, "KVM: mapping vCPU %u's dirty ring: %s",
                          id, strerror(-r));
            munmap(v->run, v->run_size);
            close(v->fd);
            free(v);
            return NULL;
        }
        v->ring.gfns = p;
    }
    pthread_mutex_lock(&kvm->lock);
    v->next = kvm->vcpus;
    kvm->vcpus = v;
    pthread_mutex_unlock(&kvm->lock);
    if (kvm->coalesced_page &&
        (size_t)kvm->coalesced_page * (size_t)page < v->run_size) {
        struct kvm_coalesced_mmio_ring *ring = NULL;

        /* One ring per VM, seen through every vCPU's mapping. */
        atomic_compare_exchange_strong(
            &kvm->cring, &ring,
            (void *)((uint8_t *)v->run + kvm->coalesced_page * page));
    }
    return v;
}

void gm_kvm_vcpu_free(gm_kvm_vcpu *v)
{
    gm_kvm *kvm;
    long page = sysconf(_SC_PAGESIZE);
    gm_kvm_vcpu **pp;

    if (!v) {
        return;
    }
    kvm = v->kvm;
    pthread_mutex_lock(&kvm->lock);
    if (v->ring.gfns) {
        gm__kvm_harvest(kvm); /* what it dirtied last */
    }
    for (pp = &kvm->vcpus; *pp != v; pp = &(*pp)->next) {
    }
    *pp = v->next;
    pthread_mutex_unlock(&kvm->lock);
    /* If the coalesced ring was seen through this vCPU, use another's. */
    pthread_mutex_lock(&kvm->flush_lock);
    if ((uint8_t *)atomic_load(&kvm->cring) ==
        (uint8_t *)v->run + kvm->coalesced_page * page) {
        gm_kvm_vcpu *o = kvm->vcpus;

        atomic_store(&kvm->cring,
                     o ? (void *)((uint8_t *)o->run +
                                  kvm->coalesced_page * page)
                       : NULL);
    }
    pthread_mutex_unlock(&kvm->flush_lock);
    if (v->ring.gfns) {
        munmap(v->ring.gfns,
               (size_t)kvm->ring_entries * sizeof(struct kvm_dirty_gfn));
    }
    munmap(v->run, v->run_size);
    close(v->fd);
    free(v);
}

int gm_kvm_vcpu_fd(const gm_kvm_vcpu *v)
{
    return v ? v->fd : -1;
}

void *gm_kvm_vcpu_run_page(const gm_kvm_vcpu *v)
{
    return v ? v->run : NULL;
}

/* KVM_EXIT_MMIO: one access of up to 8 bytes in address space 0. */
static void do_mmio(gm_kvm *kvm, struct kvm_run *run)
{
    struct gm_kspace *ks = kvm->mem0;
    uint32_t len = run->mmio.len <= 8 ? run->mmio.len : 8;

    if (!ks) {
        if (!run->mmio.is_write) {
            memset(run->mmio.data, 0xff, len);
        }
    } else if (run->mmio.is_write) {
        gm_space_write(ks->as, run->mmio.phys_addr, run->mmio.data, len,
                       GM_ATTRS_DEFAULT);
    } else {
        gm_space_read(ks->as, run->mmio.phys_addr, run->mmio.data, len,
                      GM_ATTRS_DEFAULT);
    }
}

/* KVM_EXIT_IO: count accesses of size bytes to one port. */
static void do_io(gm_kvm *kvm, struct kvm_run *run)
{
    struct gm_kspace *ks = kvm->io;
    uint8_t *data = (uint8_t *)run + run->io.data_offset;
    bool out = run->io.direction == KVM_EXIT_IO_OUT;

    for (uint32_t i = 0; i < run->io.count; i++) {
        uint8_t *p = data + (size_t)i * run->io.size;

        if (!ks) {
            if (!out) {
                memset(p, 0xff, run->io.size);
            }
        } else if (out) {
            gm_space_write(ks->as, run->io.port, p, run->io.size,
                           GM_ATTRS_DEFAULT);
        } else {
            gm_space_read(ks->as, run->io.port, p, run->io.size,
                          GM_ATTRS_DEFAULT);
        }
    }
}

int gm_kvm_vcpu_run(gm_kvm_vcpu *v, struct gm_kvm_exit *out)
{
    struct gm_kvm_exit dummy;
    gm_kvm *kvm;
    int r;

    if (!out) {
        out = &dummy;
    }
    memset(out, 0, sizeof(*out));
    if (!v) {
        return out->err = -EINVAL;
    }
    kvm = v->kvm;
    for (;;) {
        r = gm__kvm_ioctl(kvm, v->fd, KVM_RUN, NULL);
        gm__kvm_flush(kvm);
        if (r < 0) {
            if (r == -EINTR || r == -EAGAIN) {
                v->run->immediate_exit = 0;
                out->reason = KVM_EXIT_INTR;
                return 0;
            }
            out->err = r;
            return r;
        }
        switch (v->run->exit_reason) {
        case KVM_EXIT_MMIO:
            do_mmio(kvm, v->run);
            out->mmio_exits++;
            continue;
        case KVM_EXIT_IO:
            do_io(kvm, v->run);
            out->io_exits++;
            continue;
        case KVM_EXIT_DIRTY_RING_FULL:
            pthread_mutex_lock(&kvm->lock);
            gm__kvm_harvest(kvm);
            pthread_mutex_unlock(&kvm->lock);
            continue;
        default:
            out->reason = v->run->exit_reason;
            return 0;
        }
    }
}

void gm_kvm_vcpu_set_kick_signal(gm_kvm_vcpu *v, int signo)
{
    if (v) {
        v->thread = pthread_self();
        __atomic_store_n(&v->kick_signo, signo, __ATOMIC_RELEASE);
    }
}

void gm_kvm_vcpu_kick(gm_kvm_vcpu *v)
{
    int signo;

    if (!v) {
        return;
    }
    __atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_RELEASE);
    signo = __atomic_load_n(&v->kick_signo, __ATOMIC_ACQUIRE);
    if (signo) {
        pthread_kill(v->thread, signo);
    }
}
