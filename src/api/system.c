/* SPDX-License-Identifier: MIT */
/*
 * api/system.c - the context object, transactions, global dirty logging.
 *
 * Everything of one machine hangs off a gm_system; the library has no
 * global mutable state of its own (liburcu's reader registry is process
 * wide by design). Each module sets up its own state here, bottom up, and
 * releases it top down.
 *
 * The writer lock is a recursive mutex (base/). gm_transaction_begin()
 * takes it and the outermost gm_transaction_commit() releases it, so nested
 * transactions and mutators inside a transaction simply re-enter it, and
 * another thread's writer waits for the whole transaction. Listener
 * callbacks run with the lock held and in_update set; every entry point
 * that would change something checks that flag and answers -EBUSY.
 *
 * Views a commit dropped are freed in batches behind one grace period,
 * waited for only once the writer lock is fully released (an MMIO callback
 * inside a read-side section may be waiting for that lock): gm__release().
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api.h"

struct module {
    int (*init)(gm_system *sys);
    void (*fini)(gm_system *sys);
};

/* Bottom up: each module may use the ones set up before it. */
static const struct module modules[] = {
    {gm__base_init, gm__base_fini},
    {gm__reclaim_init, gm__reclaim_fini},
    {gm__dirty_init, gm__dirty_fini},
    {gm__ram_init, gm__ram_fini},
    {gm__tree_init, gm__tree_fini},
    {gm__ranges_init, gm__ranges_fini},
    {gm__dispatch_init, gm__dispatch_fini},
    {gm__view_init, gm__view_fini},
    {gm__listen_init, gm__listen_fini},
    {gm__access_init, gm__access_fini},
    {gm__update_init, gm__update_fini},
};

#define NR_MODULES (sizeof(modules) / sizeof(modules[0]))

static void modules_fini(gm_system *sys, size_t n)
{
    while (n--) {
        modules[n].fini(sys);
    }
}

gm_system *gm_system_new(gm_error *err)
{
    gm_system *sys = calloc(1, sizeof(*sys));

    if (!sys) {
        gm__error_set(err, -ENOMEM, "cannot allocate a system");
        return NULL;
    }
    for (size_t i = 0; i < NR_MODULES; i++) {
        if (modules[i].init(sys)) {
            modules_fini(sys, i);
            free(sys);
            gm__error_set(err, -ENOMEM, "cannot allocate a system");
            return NULL;
        }
    }
    return sys;
}

/*
 * With the writer lock released: wait for a grace period if there is a
 * batch, then free it and what call_rcu handed back, under the lock.
 */
static void free_after_grace(gm_system *sys, struct gm_deferred *batch)
{
    if (batch) {
        urcu_bp_synchronize_rcu();
    }
    gm__lock(sys);
    gm__reclaim_free(sys, batch);
    gm__reclaim_drain(sys);
    gm__unlock(sys);
}

void gm__release(gm_system *sys)
{
    struct gm_deferred *batch = NULL;

    if (sys->base.lock_count == 1 && gm__reclaim_due(sys)) {
        batch = gm__reclaim_take(sys);
    }
    gm__unlock(sys);
    if (batch) {
        free_after_grace(sys, batch);
    }
}

int gm__begin(gm_system *sys, gm_error *err)
{
    gm__lock(sys);
    if (sys->base.in_update) {
        gm__unlock(sys);
        return gm__error_set(err, -EBUSY,
                             "cannot change the topology from a listener "
                             "callback");
    }
    if (sys->base.depth++ == 0) {
        sys->base.owner = pthread_self();
    }
    gm__coalesced_flush(sys); /* a change sees batched writes done */
    return 0;
}

/* Leave it: the outermost runs the update, then releases the lock. */
static int end(gm_system *sys, gm_error *err)
{
    int ret = 0;

    if (--sys->base.depth == 0) {
        ret = gm__update(sys, err);
    }
    gm__release(sys);
    return ret;
}

void gm__end_nothing(gm_system *sys)
{
    /*
     * The call changed nothing; the outermost close of a transaction
     * still has to publish what earlier calls of it changed.
     */
    if (sys->base.depth == 1 && sys->tree->pending) {
        end(sys, NULL);
        return;
    }
    sys->base.depth--;
    gm__release(sys);
}

void gm_system_set_warn_handler(gm_system *sys, gm_warn_fn fn, void *opaque)
{
    if (!sys) {
        return;
    }
    gm__lock(sys);
    sys->base.warn = fn;
    sys->base.warn_opaque = opaque;
    gm__unlock(sys);
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
    if (sys->base.depth == 0 || sys->base.in_update) {
        gm__unlock(sys);
        return gm__error_set(err, -EINVAL,
                             "commit without a matching begin");
    }
    ret = end(sys, err); /* releases the begin's hold */
    gm__release(sys);        /* and ours */
    return ret;
}

unsigned gm_transaction_depth(gm_system *sys)
{
    unsigned d = 0;

    if (!sys) {
        return 0;
    }
    if (pthread_mutex_trylock(&sys->base.lock) == 0) {
        d = sys->base.depth;
        pthread_mutex_unlock(&sys->base.lock);
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
    if (sys->tree->global_log == on) {
        gm__end_nothing(sys);
        return gm__error_set(err, -EALREADY,
                             "global dirty logging is already %s",
                             on ? "on" : "off");
    }
    sys->tree->global_log = on;
    sys->tree->all_dirty = true;
    sys->tree->pending = true;
    /*
     * As QEMU: log_global_start comes before the commit's log_start events,
     * log_global_stop after its log_stop events. When this call is the
     * outermost, the listeners hear it only once the commit can no longer
     * fail; inside a transaction at once (the events wait for its commit).
     */
    ret = 0;
    if (--sys->base.depth == 0) {
        ret = gm__update_prepare(sys, err);
        if (ret) {
            sys->tree->global_log = !on;
            gm__release(sys);
            return ret;
        }
        if (!on) {
            gm__update_apply(sys);
        }
    }
    sys->base.in_update = true;
    gm__listeners_global_log(sys, on);
    sys->base.in_update = false;
    if (sys->base.depth == 0 && on) {
        gm__update_apply(sys);
    }
    gm__release(sys);
    return ret;
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
    on = sys->tree->global_log;
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
    for (gm_space *as = sys->update->spaces; as && !ret;
         as = as->upd->next) {
        if (!as->upd->dying) {
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
    if (sys->base.depth || sys->base.in_update) {
        gm__unlock(sys);
        return gm__error_set(err, -EINVAL,
                             "cannot destroy a system inside a transaction "
                             "or a listener");
    }
    for (gm_space *as = sys->update->spaces; as; as = as->upd->next) {
        const char *busy = gm__access_in_use(as);

        if (busy) {
            gm__unlock(sys);
            return gm__error_set(err, -EBUSY, "%s on address space '%s'",
                                 busy, as->name);
        }
    }
    gm__listen_clear(sys);
    gm__update_teardown(sys);
    gm__unlock(sys);

    /*
     * Wait until every view handed to call_rcu has come back, freeing as
     * they arrive (freeing may release more). Only this system's callbacks
     * are waited for: rcu_barrier() would wait for the whole process's.
     */
    for (;;) {
        struct gm_deferred *batch;

        gm__lock(sys);
        batch = gm__reclaim_take(sys);
        gm__unlock(sys);
        free_after_grace(sys, batch);
        if (gm__reclaim_in_flight(sys) == 0) {
            break;
        }
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    gm__lock(sys);
    gm__reclaim_drain(sys);
    left = gm__tree_nr_regions(sys);
    gm__unlock(sys);
    if (left) {
        return gm__error_set(err, -EBUSY,
                             "%ld region(s) are still referenced; unref "
                             "them before destroying the system",
                             left);
    }
    modules_fini(sys, NR_MODULES);
    free(sys);
    return 0;
}
