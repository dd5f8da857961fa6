/* SPDX-License-Identifier: MIT */
/*
 * system.c - the context object, its writer lock and transactions.
 *
 * Everything of one machine hangs off a gm_system; the library has no
 * global mutable state of its own (liburcu's reader registry is process
 * wide by design).
 *
 * The writer lock is a recursive mutex. gm_transaction_begin() takes it and
 * the outermost gm_transaction_commit() releases it, so nested transactions
 * and mutators called inside a transaction simply re-enter it, and another
 * thread's writer waits for the whole transaction. Listener callbacks run
 * with the lock held and sys->in_update set; any writer entry point checks
 * that flag and answers -EBUSY instead of recursing into a commit.
 *
 * Flat views whose last reference went away are freed after an RCU grace
 * period. The RCU callback only pushes them on a lock-free list; the list
 * is drained under the writer lock (at every commit, or at once when the
 * lock is free), because freeing a view may drop the last reference of a
 * region, and destroying a region touches the tree.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"


#ifdef GM_TSAN
/* Only its address is used, as a ThreadSanitizer sync object (rcu.h). */
char gm__tsan_rcu_sync;
#endif

void gm__lock(gm_system *sys)
{
    pthread_mutex_lock(&sys->lock);
    sys->lock_count++;
}

/*
 * When the outermost hold ends and a batch of dead views is due, wait for
 * the grace period with the lock released, then free them (flatview.c).
 */
void gm__unlock(gm_system *sys)
{
    gm_flatview *batch;

    if (--sys->lock_count || !gm__flatview_flush_due(sys)) {
        pthread_mutex_unlock(&sys->lock);
        return;
    }
    batch = gm__flatview_flush_take(sys);
    pthread_mutex_unlock(&sys->lock);
    if (!batch) {
        return;
    }
    urcu_bp_synchronize_rcu();
    pthread_mutex_lock(&sys->lock);
    sys->lock_count++;
    gm__flatview_free_batch(batch);
    sys->lock_count--;
    pthread_mutex_unlock(&sys->lock);
}

uint32_t gm__rand(gm_system *sys)
{
    /* xorshift64* */
    uint64_t x = sys->rng;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    sys->rng = x;
    return (uint32_t)((x * 0x2545F4914F6CDD1DULL) >> 32);
}

static void default_warn(void *opaque, const char *msg)
{
    (void)opaque;
    fprintf(stderr, "guestmem: warning: %s\n", msg);
}

gm_system *gm_system_new(gm_error *err)
{
    gm_system *sys = calloc(1, sizeof(*sys));
    pthread_mutexattr_t attr;
    const char *v;

    if (!sys) {
        gm__error_set(err, -ENOMEM, "cannot allocate a system");
        return NULL;
    }
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&sys->lock, &attr);
    pthread_mutexattr_destroy(&attr);
    sys->warn = default_warn;
    sys->rng = 0x9e3779b97f4a7c15ULL ^ (uint64_t)(uintptr_t)sys;
    v = getenv("GM_DEBUG_VERIFY");
    sys->verify = v && *v && strcmp(v, "0") != 0;
    atomic_init(&sys->nr_regions, 0);
    atomic_init(&sys->reclaim, NULL);
    return sys;
}

void gm__reclaim(gm_system *sys)
{
    gm_flatview *fv = atomic_exchange_explicit(&sys->reclaim, NULL,
                                               memory_order_acquire);

    while (fv) {
        gm_flatview *next = fv->reclaim_next;
        gm__flatview_free(fv);
        fv = next;
    }
}

void gm_system_set_warn_handler(gm_system *sys, gm_warn_fn fn, void *opaque)
{
    if (!sys) {
        return;
    }
    gm__lock(sys);
    sys->warn = fn;
    sys->warn_opaque = opaque;
    gm__unlock(sys);
}

int gm__begin(gm_system *sys, gm_error *err)
{
    gm__lock(sys);
    if (sys->in_update) {
        gm__unlock(sys);
        return gm__error_set(err, -EBUSY,
                             "cannot change the topology from a listener "
                             "callback");
    }
    if (sys->depth++ == 0) {
        sys->owner = pthread_self();
    }
    return 0;
}

int gm__end(gm_system *sys, gm_error *err)
{
    int ret = 0;

    if (--sys->depth == 0) {
        ret = gm__update(sys, err);
    }
    gm__unlock(sys);
    return ret;
}

int gm_transaction_begin(gm_system *sys)
{
    if (!sys) {
        return -EINVAL;
    }
    return gm__begin(sys, NULL);
}

int gm_transaction_commit(gm_system *sys, gm_error *err)
{
    int ret;

    if (!sys) {
        return gm__error_set(err, -EINVAL, "NULL system");
    }
    gm__lock(sys);
    if (sys->depth == 0 || sys->in_update) {
        gm__unlock(sys);
        return gm__error_set(err, -EINVAL,
                             "commit without a matching begin");
    }
    ret = gm__end(sys, err); /* releases the begin's hold */
    gm__unlock(sys);         /* and ours */
    return ret;
}

unsigned gm_transaction_depth(gm_system *sys)
{
    unsigned d = 0;

    if (!sys) {
        return 0;
    }
    if (pthread_mutex_trylock(&sys->lock) == 0) {
        d = sys->depth;
        pthread_mutex_unlock(&sys->lock);
    }
    return d;
}

static int log_global(gm_system *sys, bool on, gm_error *err)
{
    int ret;

    if (!sys) {
        return gm__error_set(err, -EINVAL, "NULL system");
    }
    ret = gm__begin(sys, err);
    if (ret) {
        return ret;
    }
    if (sys->global_log == on) {
        sys->depth--;
        gm__unlock(sys);
        return gm__error_set(err, -EALREADY,
                             "global dirty logging is already %s",
                             on ? "on" : "off");
    }
    sys->in_update = true;
    for (gm_listener *l = on ? sys->listeners : sys->listeners_tail; l;
         l = on ? l->next : l->prev) {
        void (*fn)(void *) = on ? l->ops->log_global_start
                                : l->ops->log_global_stop;
        if (fn) {
            fn(l->opaque);
        }
    }
    sys->in_update = false;
    sys->global_log = on;
    sys->all_dirty = true;
    sys->pending = true;
    return gm__end(sys, err);
}

int gm_system_log_global_start(gm_system *sys, gm_error *err)
{
    return log_global(sys, true, err);
}

int gm_system_log_global_stop(gm_system *sys, gm_error *err)
{
    return log_global(sys, false, err);
}

bool gm_system_log_global_enabled(gm_system *sys)
{
    bool on;

    if (!sys) {
        return false;
    }
    gm__lock(sys);
    on = sys->global_log;
    gm__unlock(sys);
    return on;
}

int gm_system_foreach_space(gm_system *sys,
                            int (*fn)(gm_space *as, void *opaque),
                            void *opaque)
{
    int ret = 0;

    if (!sys || !fn) {
        return -EINVAL;
    }
    gm__lock(sys);
    for (gm_space *as = sys->spaces; as && !ret; as = as->next) {
        if (!as->dying) {
            ret = fn(as, opaque);
        }
    }
    gm__unlock(sys);
    return ret;
}


int gm_system_destroy(gm_system *sys, gm_error *err)
{
    long left;

    if (!sys) {
        return 0;
    }
    gm__lock(sys);
    if (sys->depth || sys->in_update) {
        gm__unlock(sys);
        return gm__error_set(err, -EINVAL,
                             "cannot destroy a system inside a transaction "
                             "or a listener");
    }
    gm__listeners_destroy_all(sys);
    while (sys->spaces) {
        gm__space_free(sys->spaces);
    }
    gm__commit_teardown(sys);
    gm__unlock(sys);

    /*
     * Wait until every view handed to call_rcu has come back, freeing as
     * they arrive (freeing may release more). Only this system's callbacks
     * are waited for: rcu_barrier() would wait for the whole process's.
     */
    for (;;) {
        gm_flatview *batch;

        gm__lock(sys);
        batch = gm__flatview_flush_take(sys);
        gm__unlock(sys);
        if (batch) {
            urcu_bp_synchronize_rcu();
        }
        gm__lock(sys);
        gm__flatview_free_batch(batch);
        gm__reclaim(sys);
        gm__unlock(sys);
        if (atomic_load_explicit(&sys->rcu_pending, memory_order_acquire) ==
            0) {
            break;
        }
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    gm__lock(sys);
    gm__reclaim(sys);
    left = atomic_load(&sys->nr_regions);
    gm__unlock(sys);
    if (left) {
        return gm__error_set(err, -EBUSY,
                             "%ld region(s) are still referenced; unref "
                             "them before destroying the system",
                             left);
    }
    gm__fv_cache_free(sys);
    gm__dnode_cache_free(sys);
    while (sys->gcpool_n) {
        free(sys->gcpool[--sys->gcpool_n].v);
    }
    pthread_mutex_destroy(&sys->lock);
    free(sys);
    return 0;
}
