/* SPDX-License-Identifier: MIT */
/*
 * base/util.c - vectors, free lists, 128-bit formatting, the writer lock.
 *
 * The writer lock is a recursive mutex: gm_transaction_begin() takes it and
 * the outermost commit releases it, so mutators inside a transaction
 * simply re-enter it. Locking and unlocking do nothing else: whatever a
 * commit dropped is freed by the commit driver as a step of its own, after
 * the lock is released (api/system.c).
 */
#include <stdio.h>
#include <string.h>

#include "base.h"

#ifdef GM_TSAN
/* Only its address is used, as a ThreadSanitizer sync object (base.h). */
char gm__tsan_rcu_sync;
#endif

const char *gm__u128_str(gm_u128 v, char *buf)
{
    if (v >> 64) {
        snprintf(buf, 40, "0x%llx%016llx", (unsigned long long)(v >> 64),
                 (unsigned long long)v);
    } else {
        snprintf(buf, 40, "0x%llx", (unsigned long long)v);
    }
    return buf;
}

int gm__vec_grow(void **v, size_t *cap, size_t need, size_t elem)
{
    size_t ncap;
    void *nv;

    if (need <= *cap) {
        return 0;
    }
    ncap = *cap ? *cap * 2 : 8;
    while (ncap < need) {
        ncap *= 2;
    }
    nv = realloc(*v, ncap * elem);
    if (!nv) {
        return -ENOMEM;
    }
    *v = nv;
    *cap = ncap;
    return 0;
}

void gm__freelist_drain(struct gm_freelist *fl)
{
    while (fl->head) {
        void *p = fl->head;
        fl->head = *(void **)p;
        free(p);
    }
    fl->n = 0;
}

static void default_warn(void *opaque, const char *msg)
{
    (void)opaque;
    fprintf(stderr, "guestmem: warning: %s\n", msg);
}

int gm__base_init(gm_system *sys)
{
    struct gm_base *b = &sys->base;
    pthread_mutexattr_t attr;

    if (pthread_mutexattr_init(&attr)) {
        return -ENOMEM;
    }
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    if (pthread_mutex_init(&b->lock, &attr)) {
        pthread_mutexattr_destroy(&attr);
        return -ENOMEM;
    }
    pthread_mutexattr_destroy(&attr);
    b->warn = default_warn;
    b->rng = 0x9e3779b97f4a7c15ULL ^ (uint64_t)(uintptr_t)sys;
    return 0;
}

void gm__base_fini(gm_system *sys)
{
    pthread_mutex_destroy(&sys->base.lock);
}

void gm__lock(gm_system *sys)
{
    pthread_mutex_lock(&sys->base.lock);
    sys->base.lock_count++;
}

void gm__unlock(gm_system *sys)
{
    sys->base.lock_count--;
    pthread_mutex_unlock(&sys->base.lock);
}

uint32_t gm__rand(gm_system *sys)
{
    /* xorshift64* */
    uint64_t x = sys->base.rng;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    sys->base.rng = x;
    return (uint32_t)((x * 0x2545F4914F6CDD1DULL) >> 32);
}
