/* SPDX-License-Identifier: MIT */
/*
 * test-alloc-fail.c - every topology call, with each of its allocations
 * failing in turn, must either succeed with the right result or fail and
 * change nothing.
 *
 * ARCHITECTURE.md promises that a failed call changes nothing. This program
 * checks that promise against allocation failures, through the public API
 * only.
 *
 * The injector. The program defines malloc, calloc, realloc, reallocarray,
 * free, posix_memalign, aligned_alloc, memalign, valloc, strdup and strndup
 * itself. Being in the executable, these interpose every allocation the
 * library makes, and those glibc makes on its behalf (qsort's buffer), and
 * forward to the allocator that comes next, found with dlsym(RTLD_NEXT):
 * glibc's in the normal build, ASan's in the sanitizer build, so ASan and
 * LSan still see every block. dlsym may allocate before the real functions
 * are known: those few blocks come from a static buffer and are never
 * freed. strdup and strndup are ours because ASan's interceptors would
 * otherwise allocate them behind our back. Allocations are counted only
 * while the injector is armed, and only on the thread that armed it
 * (liburcu's call_rcu thread is left alone); armed for N, the N-th
 * allocation returns NULL with ENOMEM and every other one succeeds.
 *
 * Leaks. During each run the injector also keeps the set of blocks the test
 * thread allocated and nobody freed yet, with their call sites; after
 * gm_system_destroy() the set must be empty (after rcu_barrier() if it is
 * not: the library frees some readers' snapshots through call_rcu). Leaks
 * are so reported per case and N, with the allocation site, in both builds;
 * in the ASan build LSan reports them again with stacks when the process
 * exits, and makes its exit status non-zero.
 *
 * The machine, rebuilt from scratch for every run (see build()), has four
 * address spaces: "memory" (root "system"), "cpu" (an alias of all of
 * "system", so it shares memory's view), "io" and "dma" (roots of their own
 * that reach into "system" and its "pci" container through aliases). It has
 * RAM, ROM, a ROM device, I/O devices, overlapping subregions, a disabled
 * one, a logged and non-volatile RAM BAR, three ioeventfds on real eventfds
 * and two recording listeners (one for every space, one filtered on "dma").
 * RAM is filled with a byte pattern derived from (region, offset); device
 * reads return a value derived from the same and log who was called where.
 *
 * The cases. Each is one public call: a mutator, a transaction's commit,
 * gm_listener_register() (which replays the state to the new listener) or
 * gm_listener_unregister(), gm_space_new() or gm_space_destroy(), an
 * ioeventfd add or delete, gm_system_log_global_start(), or
 * gm_mtree_print() (text and JSON, trees and flat views; it changes
 * nothing, so a failure must be -ENOMEM with the state untouched and no
 * block left). The call first runs without injection, twice: once to
 * learn which addresses matter
 * (every range's first and last byte and the bytes just outside, before
 * and after the call, and where the doorbells are), once to record the
 * state before and after and what the listeners were told. Then, for
 * N = 1, 2, 3, ... until the call no longer reaches its N-th allocation,
 * on a fresh machine: snapshot, arm for N, call, disarm, and
 *   - if the call succeeded: the state and the events (region_nop aside:
 *     how much is re-rendered is the library's business) must be the
 *     reference post-state and events;
 *   - if it failed: the code must be -ENOMEM, the transaction depth 0, and
 *     the state exactly the snapshot: the region tree (every property, the
 *     children's order), the spaces, every space's flat view (addr, size,
 *     region, offset, readonly, romd, nonvolatile, dirty-log mask), the
 *     dispatch tables (1- and 8-byte loads at the addresses above: RAM must
 *     read its pattern, devices must be called at the right offset), the
 *     ioeventfds (a store at each doorbell must signal the same eventfd, or
 *     reach the device, as before), and no listener may have been told
 *     anything but begin and commit; then the same call (for a transaction,
 *     an empty begin/commit: its changes stay pending) must succeed without
 *     injection and give the reference post-state and events;
 *   - the system must then be destroyed with 0, leaving no block behind.
 * A transaction is snapshotted inside it, after its mutations: a failed
 * commit leaves them pending in the tree, as include/guestmem/system.h says.
 * A failed gm_listener_register() must also leave no listener behind.
 *
 * Warm-up. Before anything is armed, machines are built, probed and
 * destroyed and a view's last reference is dropped through call_rcu, so
 * that liburcu's one-time work (reader registration, starting the call_rcu
 * thread), which aborts when an allocation fails, is done; the allocations
 * of the first and of a later machine are compared and a difference (work
 * done only on first use) is reported.
 *
 * Crashes. The parent never touches the library: a forked worker runs the
 * cases, and when it dies (the library aborts, a sanitizer stops it) the
 * parent reports the case, the N, the signal and the allocation that was
 * failed, and a new worker resumes at N + 1. The first crash of each case
 * prints a backtrace. The library's treaps draw their priorities from the
 * system's address, so the exact sequence of a call's allocations can vary
 * a little from run to run; each report names the failed allocation's call
 * site, and a run reaching fewer allocations ends the case.
 *
 * Options: --case NAME (repeatable; --list shows them), --n N (only this
 * N, after the reference runs), --no-fork (one process, for a debugger),
 * --verbose (a line per N), --dump (the reference states and events).
 * Output: the findings as FAIL lines (case, N, the allocation that was
 * failed, what differed: the first differing line of the state's text),
 * a summary line per case (failures injected, reported as errors,
 * survived, crashed), a legend of the allocation sites that were failed
 * (named by addr2line when it is installed) with what each led to, "ok
 * NAME" / "not ok NAME", totals, and "N passed, N failed" (a test per
 * case, and one for a clean exit of the last worker).
 */
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <inttypes.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <urcu-bp.h> /* rcu_barrier() only */

#include <guestmem/guestmem.h>

#include "harness.h"

/*
 * The allocation injector.
 */

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);
static int (*real_posix_memalign)(void **, size_t, size_t);
static void *(*real_aligned_alloc)(size_t, size_t);
static void *(*real_memalign)(size_t, size_t);
static void *(*real_valloc)(size_t);

/* 0: not resolved, 1: resolving (dlsym is running), 2: resolved. */
static volatile int resolve_state;

/* Blocks handed out while dlsym runs: a size header, then the block. */
#define BOOT_SIZE 16384
static _Alignas(16) unsigned char boot_buf[BOOT_SIZE];
static size_t boot_used;

/* Armed only on the thread that arms it. */
static __thread volatile bool inj_armed;
static unsigned long inj_fail_at; /* the allocation to fail; 0: none */
static unsigned long inj_count;   /* allocations counted while armed */
static bool inj_hit;              /* the inj_fail_at-th one was failed */
static const void *inj_site;      /* ... called from here */
static const char *inj_fn;        /* ... through this function */

/*
 * The same, where the parent can read them after a crash (the child is
 * forked, not executed: addresses mean the same in both).
 */
struct inj_note {
    unsigned long n;
    const void *site;
    const char *fn;
};
static struct inj_note *inj_shared;

/*
 * The blocks the test thread allocated while tracking (one run) and nobody
 * freed yet, with their call sites: an open-addressing set (0: empty, 1:
 * deleted), frees from any thread remove their block. Addresses are stored
 * XORed with TRACK_KEY, or LSan would take the set for references to the
 * very blocks it should report.
 */
#define TRACK_KEY ((uintptr_t)0x5a5a5a5a5a5a5a50ULL)
#define TRACK_BITS 15
#define TRACK_SIZE (1u << TRACK_BITS)
struct track_ent {
    uintptr_t p;
    const void *site;
};
static struct track_ent track_tab[TRACK_SIZE];
static atomic_flag track_lock = ATOMIC_FLAG_INIT;
static atomic_long track_n; /* blocks in the set */
static bool track_overflow;
static __thread volatile bool tracking;

static void *boot_alloc(size_t n)
{
    size_t need = ((n + 15) & ~(size_t)15) + 16;
    unsigned char *p;

    if (n > BOOT_SIZE || boot_used + need > BOOT_SIZE) {
        return NULL;
    }
    p = boot_buf + boot_used;
    boot_used += need;
    memcpy(p, &n, sizeof(n));
    return p + 16;
}

static bool is_boot(const void *p)
{
    const unsigned char *c = p;

    return c >= boot_buf && c < boot_buf + BOOT_SIZE;
}

static void die_raw(const char *msg)
{
    ssize_t r = write(2, msg, strlen(msg));

    (void)r;
    _exit(99);
}

static void resolve(void)
{
    if (resolve_state != 0) {
        return;
    }
    resolve_state = 1;
    real_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
    real_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
    real_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
    real_posix_memalign = (int (*)(void **, size_t, size_t))dlsym(
        RTLD_NEXT, "posix_memalign");
    real_aligned_alloc =
        (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "aligned_alloc");
    real_memalign = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "memalign");
    real_valloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "valloc");
    real_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
    if (!real_malloc || !real_calloc || !real_realloc || !real_free ||
        !real_posix_memalign || !real_aligned_alloc || !real_memalign ||
        !real_valloc) {
        die_raw("test-alloc-fail: cannot find the real allocator\n");
    }
    resolve_state = 2;
}

static bool ready(void)
{
    if (resolve_state != 2) {
        resolve();
    }
    return resolve_state == 2;
}

/* Whether this allocation is the one to fail (counting it when armed). */
static bool inj_fail_now(const char *fn, const void *site)
{
    if (!inj_armed) {
        return false;
    }
    if (++inj_count == inj_fail_at) {
        inj_hit = true;
        inj_site = site;
        inj_fn = fn;
        if (inj_shared) {
            inj_shared->n = inj_fail_at;
            inj_shared->site = site;
            inj_shared->fn = fn;
        }
        return true;
    }
    return false;
}

static size_t track_hash(uintptr_t p)
{
    return (size_t)(((uint64_t)p >> 4) * 0x9e3779b97f4a7c15ULL >>
                    (64 - TRACK_BITS));
}

static void track_locked(bool on)
{
    if (on) {
        while (atomic_flag_test_and_set_explicit(&track_lock,
                                                 memory_order_acquire)) {
        }
    } else {
        atomic_flag_clear_explicit(&track_lock, memory_order_release);
    }
}

static void track_put(void *p, const void *site)
{
    size_t i = track_hash((uintptr_t)p);

    track_locked(true);
    for (size_t k = 0; k < TRACK_SIZE; k++, i = (i + 1) & (TRACK_SIZE - 1)) {
        if (track_tab[i].p <= 1) {
            track_tab[i].p = (uintptr_t)p ^ TRACK_KEY;
            track_tab[i].site = site;
            atomic_fetch_add(&track_n, 1);
            track_locked(false);
            return;
        }
    }
    track_overflow = true;
    track_locked(false);
}

/* Forget @p; whether it was tracked. */
static bool track_del(void *p)
{
    size_t i = track_hash((uintptr_t)p);
    bool found = false;

    if (atomic_load_explicit(&track_n, memory_order_relaxed) == 0) {
        return false;
    }
    track_locked(true);
    for (size_t k = 0; k < TRACK_SIZE; k++, i = (i + 1) & (TRACK_SIZE - 1)) {
        if (track_tab[i].p == ((uintptr_t)p ^ TRACK_KEY)) {
            track_tab[i].p = 1;
            atomic_fetch_sub(&track_n, 1);
            found = true;
            break;
        }
        if (track_tab[i].p == 0) {
            break;
        }
    }
    track_locked(false);
    return found;
}

static void track_new(void *p, const void *site)
{
    if (p && tracking) {
        track_put(p, site);
    }
}

/* Start tracking this thread's allocations with an empty set. */
static void track_start(void)
{
    track_locked(true);
    memset(track_tab, 0, sizeof(track_tab));
    atomic_store(&track_n, 0);
    track_overflow = false;
    track_locked(false);
    tracking = true;
}

static void track_stop(void)
{
    tracking = false;
}

static void *do_malloc(size_t n, const char *fn, const void *site)
{
    void *p;

    if (!ready()) {
        return boot_alloc(n);
    }
    if (inj_fail_now(fn, site)) {
        errno = ENOMEM;
        return NULL;
    }
    p = real_malloc(n);
    track_new(p, site);
    return p;
}

void *malloc(size_t n)
{
    return do_malloc(n, "malloc", __builtin_return_address(0));
}

void *calloc(size_t n, size_t size)
{
    void *p;

    if (!ready()) {
        if (size && n > SIZE_MAX / size) {
            return NULL;
        }
        return boot_alloc(n * size); /* static, hence zeroed */
    }
    if (inj_fail_now("calloc", __builtin_return_address(0))) {
        errno = ENOMEM;
        return NULL;
    }
    p = real_calloc(n, size);
    track_new(p, __builtin_return_address(0));
    return p;
}

void free(void *p)
{
    if (!p || is_boot(p)) {
        return;
    }
    if (!ready()) {
        die_raw("test-alloc-fail: free before the allocator is known\n");
    }
    track_del(p);
    real_free(p);
}

static void *do_realloc(void *p, size_t n, const char *fn, const void *site)
{
    void *q;

    if (!p) {
        return do_malloc(n, fn, site);
    }
    if (n == 0) {
        free(p);
        return NULL;
    }
    if (is_boot(p)) {
        size_t old;

        memcpy(&old, (unsigned char *)p - 16, sizeof(old));
        q = do_malloc(n, fn, site);
        if (q) {
            memcpy(q, p, old < n ? old : n);
        }
        return q;
    }
    if (inj_fail_now(fn, site)) {
        errno = ENOMEM;
        return NULL;
    }
    q = real_realloc(p, n);
    if (q && track_del(p)) {
        track_put(q, site); /* a block of this run, moved */
    }
    return q;
}

void *realloc(void *p, size_t n)
{
    return do_realloc(p, n, "realloc", __builtin_return_address(0));
}

void *reallocarray(void *p, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size) {
        errno = ENOMEM;
        return NULL;
    }
    return do_realloc(p, n * size, "reallocarray",
                      __builtin_return_address(0));
}

int posix_memalign(void **out, size_t align, size_t n)
{
    int r;

    if (!ready()) {
        return ENOMEM;
    }
    if (inj_fail_now("posix_memalign", __builtin_return_address(0))) {
        return ENOMEM;
    }
    r = real_posix_memalign(out, align, n);
    if (r == 0) {
        track_new(*out, __builtin_return_address(0));
    }
    return r;
}

static void *aligned_common(void *(*fn)(size_t, size_t), size_t align,
                            size_t n, const char *name, const void *site)
{
    void *p;

    if (inj_fail_now(name, site)) {
        errno = ENOMEM;
        return NULL;
    }
    p = fn(align, n);
    track_new(p, site);
    return p;
}

void *aligned_alloc(size_t align, size_t n)
{
    if (!ready()) {
        return NULL;
    }
    return aligned_common(real_aligned_alloc, align, n, "aligned_alloc",
                          __builtin_return_address(0));
}

void *memalign(size_t align, size_t n)
{
    if (!ready()) {
        return NULL;
    }
    return aligned_common(real_memalign, align, n, "memalign",
                          __builtin_return_address(0));
}

void *valloc(size_t n)
{
    void *p;

    if (!ready()) {
        return NULL;
    }
    if (inj_fail_now("valloc", __builtin_return_address(0))) {
        errno = ENOMEM;
        return NULL;
    }
    p = real_valloc(n);
    track_new(p, __builtin_return_address(0));
    return p;
}

char *strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = do_malloc(n, "strdup", __builtin_return_address(0));

    if (p) {
        memcpy(p, s, n);
    }
    return p;
}

char *strndup(const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    char *p = do_malloc(n + 1, "strndup", __builtin_return_address(0));

    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* Arm for the @n-th allocation (0: count only); disarm returns the count. */
static void inj_arm(unsigned long n)
{
    inj_fail_at = n;
    inj_count = 0;
    inj_hit = false;
    inj_site = NULL;
    inj_fn = NULL;
    if (inj_shared) {
        inj_shared->n = 0;
    }
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    inj_armed = true;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
}

static unsigned long inj_disarm(void)
{
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    inj_armed = false;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    return inj_count;
}

/* "libguestmem.so.0+0x1234 (symbol)" for an address. */
static const char *site_str(const void *site, char *buf, size_t n)
{
    Dl_info info;

    if (!site) {
        snprintf(buf, n, "?");
    } else if (dladdr(site, &info) && info.dli_fname) {
        const char *base = strrchr(info.dli_fname, '/');

        base = base ? base + 1 : info.dli_fname;
        snprintf(buf, n, "%s+0x%" PRIxPTR "%s%s%s", base,
                 (uintptr_t)site - (uintptr_t)info.dli_fbase,
                 info.dli_sname ? " (" : "",
                 info.dli_sname ? info.dli_sname : "",
                 info.dli_sname ? ")" : "");
    } else {
        snprintf(buf, n, "%p", site);
    }
    return buf;
}

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif
#if UNDER_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

/*
 * State shared between the parent and its children: where the child is,
 * and what it counted per case, so that a crash loses nothing and can be
 * reported with its case and N.
 */
#define MAX_N 10000
#define MAX_CASES 32

struct case_stats {
    unsigned long last_n; /* the last N run */
    unsigned long injected, errors, survived, crashes;
    unsigned long failures;     /* failed checks */
    unsigned long ref_allocs;   /* allocations of the call, reference run */
    unsigned long final_allocs; /* ... of the run that was not failed */
    double seconds;
    bool backtrace_shown;               /* of a crash */
    unsigned char bad_n[MAX_N / 8 + 1]; /* N with failed checks */
};

/* What failing the allocations made at one call site led to. */
#define MAX_SITES 128
struct site_stats {
    const void *site;
    const char *fn;
    unsigned long errors, survived, crashed;
    unsigned long bad; /* runs with failed checks */
};

struct shared {
    int case_idx;        /* the case the child is running */
    unsigned long cur_n; /* N being run; 0: warm-up or reference */
    char phase[48];      /* what the child was doing */
    int done;            /* the child ran its cases to the end */
    bool warm_up_told;   /* the warm-up's counts were printed */
    struct inj_note inj; /* the failure injected at cur_n */
    struct case_stats cs[MAX_CASES];
    struct site_stats sites[MAX_SITES];
    int nsites;
};

static struct shared *sh;
static const char *cur_case = "";
static bool verbose, dump;

static struct case_stats *cur_stats(void)
{
    return &sh->cs[sh->case_idx];
}

static void set_phase(const char *p)
{
    snprintf(sh->phase, sizeof(sh->phase), "%s", p);
}

static struct site_stats *site_stats(const void *site, const char *fn)
{
    static struct site_stats lost;

    for (int i = 0; i < sh->nsites; i++) {
        if (sh->sites[i].site == site && sh->sites[i].fn == fn) {
            return &sh->sites[i];
        }
    }
    if (sh->nsites == MAX_SITES) {
        return &lost;
    }
    sh->sites[sh->nsites].site = site;
    sh->sites[sh->nsites].fn = fn;
    return &sh->sites[sh->nsites++];
}

static void mark_bad(struct case_stats *cs, unsigned long n)
{
    if (n < MAX_N) {
        cs->bad_n[n / 8] |= (unsigned char)(1u << n % 8);
    }
}

/* A failed check of the current case at the current N. */
#define FAILN(fmt, ...)                                                        \
    do {                                                                       \
        mark_bad(cur_stats(), sh->cur_n);                                      \
        cur_stats()->failures++;                                               \
        HARNESS_FAIL("N=%lu: " fmt, sh->cur_n, ##__VA_ARGS__);                 \
    } while (0)

/* Setup that must not fail (nothing is armed): stop the case if it does. */
static void must(bool ok, const char *what, const gm_error *err)
{
    if (!ok) {
        fprintf(stderr, "FAIL %s: setup: %s failed: %s\n", cur_case, what,
                err && err->code ? err->msg : "?");
        fflush(NULL);
        _exit(3);
    }
}

/*
 * A string that grows (allocated only while disarmed).
 */
struct dstr {
    char *s;
    size_t len, cap;
};

static void __attribute__((format(printf, 2, 3)))
ds_add(struct dstr *d, const char *fmt, ...)
{
    va_list ap;
    int n;

    for (;;) {
        size_t room = d->cap - d->len;

        va_start(ap, fmt);
        n = vsnprintf(d->s ? d->s + d->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < room) {
            d->len += (size_t)n;
            return;
        }
        d->cap = d->cap ? d->cap * 2 : 4096;
        while (d->cap - d->len <= (size_t)n) {
            d->cap *= 2;
        }
        d->s = realloc(d->s, d->cap);
        if (!d->s) {
            die_raw("test-alloc-fail: out of memory\n");
        }
    }
}

static void ds_free(struct dstr *d)
{
    free(d->s);
    d->s = NULL;
    d->len = d->cap = 0;
}

static const char *ds_str(const struct dstr *d)
{
    return d->s ? d->s : "";
}

/*
 * The machine.
 */
enum { EFD_A, EFD_B, EFD_C, EFD_D, EFD_E, NR_EFD };
static const char *const efd_names[NR_EFD] = {"efdA", "efdB", "efdC", "efdD",
                                              "efdE"};

#define MAX_REG 40
#define MMIO_MAX 16
#define REC_MAX (1 << 16)

struct machine;

struct dev {
    struct machine *m;
    int id;
};

struct mmio_ev {
    int id;
    bool write;
    uint64_t off, data;
    unsigned size;
};

/* A recording listener: one line per event, in a fixed buffer. */
struct rec {
    struct machine *m;
    const char *name;
    char buf[REC_MAX];
    size_t len;
    bool overflow;
};

struct machine {
    gm_system *sys;
    gm_region *reg[MAX_REG]; /* one reference each, dropped at teardown */
    size_t ram_len[MAX_REG]; /* bytes of host memory to fill */
    struct dev dev[MAX_REG];
    int nreg;
    int efd[NR_EFD];
    struct rec rec_all, rec_dma, rec_new, rec_retry;
    gm_listener *l_all, *l_dma, *l_new, *l_retry;
    gm_space *new_space;
    /* Arguments of the call, found before it is armed. */
    gm_region *a0, *a1;
    gm_space *s0;
    struct mmio_ev mmio[MMIO_MAX];
    int nmmio;
    unsigned warnings;
};

static struct machine M;

static uint8_t pat(int id, uint64_t off)
{
    return (uint8_t)(id * 0x3b + off * 0x9d + (off >> 8) * 0x17 +
                     (off >> 16) * 0x05 + 1);
}

static void fill_ram(struct machine *m)
{
    for (int i = 0; i < m->nreg; i++) {
        uint8_t *p = gm_region_ram_ptr(m->reg[i]);

        for (size_t o = 0; p && o < m->ram_len[i]; o++) {
            p[o] = pat(i + 1, o);
        }
    }
}

static void mmio_log(struct dev *d, bool write, uint64_t off, uint64_t data,
                     unsigned size)
{
    struct machine *m = d->m;

    if (m->nmmio < MMIO_MAX) {
        m->mmio[m->nmmio++] = (struct mmio_ev){d->id, write, off, data, size};
    }
}

static uint64_t dev_read(void *opaque, uint64_t off, unsigned size)
{
    struct dev *d = opaque;
    uint64_t v = 0;

    mmio_log(d, false, off, 0, size);
    for (unsigned i = 0; i < size; i++) {
        v |= (uint64_t)(uint8_t)(pat(d->id, off + i) ^ 0xa5) << (8 * i);
    }
    return v;
}

static void dev_write(void *opaque, uint64_t off, uint64_t data,
                      unsigned size)
{
    mmio_log(opaque, true, off, data, size);
}

static const struct gm_region_ops dev_ops = {
    .read = dev_read,
    .write = dev_write,
    .endianness = GM_ENDIAN_LITTLE,
    .valid = {.min_access_size = 1, .max_access_size = 8, .unaligned = true},
    .impl = {.min_access_size = 1, .max_access_size = 8, .unaligned = true},
};

static void count_warning(void *opaque, const char *msg)
{
    (void)msg;
    ((struct machine *)opaque)->warnings++;
}

/* Events. Nothing here allocates: the callbacks run under injection. */
static void __attribute__((format(printf, 2, 3)))
rec_put(struct rec *r, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (r->overflow) {
        return;
    }
    va_start(ap, fmt);
    n = vsnprintf(r->buf + r->len, REC_MAX - r->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= REC_MAX - r->len) {
        r->overflow = true;
        r->buf[r->len] = '\0';
        return;
    }
    r->len += (size_t)n;
}

static void rec_clear(struct rec *r)
{
    r->len = 0;
    r->buf[0] = '\0';
    r->overflow = false;
}

static void rec_sec(struct rec *r, const char *what,
                    const struct gm_section *s, const char *extra)
{
    rec_put(r, "%s %s %s %" PRIx64 "-%" PRIx64 " @%" PRIx64 "%s%s%s log=%x%s\n",
            what, s->space ? gm_space_name(s->space) : "(null)",
            gm_region_name(s->region), s->addr,
            (uint64_t)(s->addr + s->size - 1), s->offset_in_region,
            s->readonly ? " ro" : "", s->romd ? " romd" : "",
            s->nonvolatile ? " nv" : "", s->dirty_log_mask, extra);
}

static void ev_begin(void *o)
{
    rec_put(o, "begin\n");
}

static void ev_commit(void *o)
{
    rec_put(o, "commit\n");
}

static void ev_add(void *o, const struct gm_section *s)
{
    rec_sec(o, "add", s, "");
}

static void ev_del(void *o, const struct gm_section *s)
{
    rec_sec(o, "del", s, "");
}

static void ev_nop(void *o, const struct gm_section *s)
{
    rec_sec(o, "nop", s, "");
}

static void ev_log(struct rec *r, const char *what, const struct gm_section *s,
                   unsigned om, unsigned nm)
{
    char t[32];

    snprintf(t, sizeof(t), " %x->%x", om, nm);
    rec_sec(r, what, s, t);
}

static void ev_log_start(void *o, const struct gm_section *s, unsigned om,
                         unsigned nm)
{
    ev_log(o, "log_start", s, om, nm);
}

static void ev_log_stop(void *o, const struct gm_section *s, unsigned om,
                        unsigned nm)
{
    ev_log(o, "log_stop", s, om, nm);
}

static void ev_log_sync(void *o, const struct gm_section *s)
{
    rec_sec(o, "log_sync", s, "");
}

static void ev_global_start(void *o)
{
    rec_put(o, "log_global_start\n");
}

static void ev_global_stop(void *o)
{
    rec_put(o, "log_global_stop\n");
}

static const char *efd_name(const struct machine *m, int fd)
{
    for (int i = 0; i < NR_EFD; i++) {
        if (m->efd[i] == fd) {
            return efd_names[i];
        }
    }
    return "unknown-fd";
}

static void ev_efd(struct rec *r, const char *what, const struct gm_section *s,
                   bool match, uint64_t data, int fd)
{
    char d[32] = "any";

    if (match) {
        snprintf(d, sizeof(d), "data=%" PRIx64, data);
    }
    rec_put(r, "%s %s %" PRIx64 "-%" PRIx64 " %s %s\n", what,
            s->space ? gm_space_name(s->space) : "(null)", s->addr,
            (uint64_t)(s->addr + s->size - 1), d, efd_name(r->m, fd));
}

static void ev_efd_add(void *o, const struct gm_section *s, bool match,
                       uint64_t data, int fd)
{
    ev_efd(o, "eventfd_add", s, match, data, fd);
}

static void ev_efd_del(void *o, const struct gm_section *s, bool match,
                       uint64_t data, int fd)
{
    ev_efd(o, "eventfd_del", s, match, data, fd);
}

static void ev_coal(struct rec *r, const char *what,
                    const struct gm_section *s, uint64_t addr, uint64_t size)
{
    rec_put(r, "%s %s %" PRIx64 "-%" PRIx64 " %s\n", what,
            s->space ? gm_space_name(s->space) : "(null)", addr,
            addr + size - 1, gm_region_name(s->region));
}

static void ev_coal_add(void *o, const struct gm_section *s, uint64_t addr,
                        uint64_t size)
{
    ev_coal(o, "coalesced_io_add", s, addr, size);
}

static void ev_coal_del(void *o, const struct gm_section *s, uint64_t addr,
                        uint64_t size)
{
    ev_coal(o, "coalesced_io_del", s, addr, size);
}

static const struct gm_listener_ops rec_ops = {
    .begin = ev_begin,
    .commit = ev_commit,
    .region_add = ev_add,
    .region_del = ev_del,
    .region_nop = ev_nop,
    .log_start = ev_log_start,
    .log_stop = ev_log_stop,
    .log_sync = ev_log_sync,
    .log_global_start = ev_global_start,
    .log_global_stop = ev_global_stop,
    .eventfd_add = ev_efd_add,
    .eventfd_del = ev_efd_del,
    .coalesced_io_add = ev_coal_add,
    .coalesced_io_del = ev_coal_del,
};

/* Region constructors: each region goes in the table. */
static gm_region *keep(struct machine *m, gm_region *r, const char *what,
                       const gm_error *err)
{
    must(r != NULL, what, err);
    must(m->nreg < MAX_REG, "region table", NULL);
    if (gm_region_ram_ptr(r)) {
        m->ram_len[m->nreg] = (size_t)gm_region_size(r);
    }
    m->reg[m->nreg++] = r;
    return r;
}

static gm_region *mk_container(struct machine *m, const char *name,
                               gm_u128 size)
{
    gm_error err = {0};

    return keep(m, gm_region_new_container(m->sys, name, size, &err), name,
                &err);
}

static gm_region *mk_ram(struct machine *m, const char *name, uint64_t size)
{
    gm_error err = {0};

    return keep(m, gm_region_new_ram(m->sys, name, size, &err), name, &err);
}

static gm_region *mk_rom(struct machine *m, const char *name, uint64_t size)
{
    gm_error err = {0};

    return keep(m, gm_region_new_rom(m->sys, name, size, &err), name, &err);
}

static gm_region *mk_io(struct machine *m, const char *name, uint64_t size)
{
    gm_error err = {0};
    struct dev *d = &m->dev[m->nreg];

    d->m = m;
    d->id = m->nreg + 1;
    return keep(m, gm_region_new_io(m->sys, name, size, &dev_ops, d, &err),
                name, &err);
}

static gm_region *mk_romdev(struct machine *m, const char *name,
                            uint64_t size)
{
    gm_error err = {0};
    struct dev *d = &m->dev[m->nreg];

    d->m = m;
    d->id = m->nreg + 1;
    return keep(m,
                gm_region_new_rom_device(m->sys, name, size, &dev_ops, d,
                                         &err),
                name, &err);
}

static gm_region *mk_alias(struct machine *m, const char *name,
                           gm_region *target, uint64_t off, gm_u128 size)
{
    gm_error err = {0};

    return keep(m,
                gm_region_new_alias(m->sys, name, target, off, size, &err),
                name, &err);
}

static void place(gm_region *parent, uint64_t off, gm_region *child)
{
    gm_error err = {0};

    must(gm_region_add_subregion(parent, off, child, &err) == 0,
         gm_region_name(child), &err);
}

static void place_prio(gm_region *parent, uint64_t off, gm_region *child,
                       int prio)
{
    gm_error err = {0};

    must(gm_region_add_subregion_overlap(parent, off, child, prio, &err) ==
             0,
         gm_region_name(child), &err);
}

static gm_region *reg(struct machine *m, const char *name)
{
    for (int i = 0; i < m->nreg; i++) {
        if (!strcmp(gm_region_name(m->reg[i]), name)) {
            return m->reg[i];
        }
    }
    must(false, name, NULL);
    return NULL;
}

struct spaces {
    gm_space *v[16];
    int n;
};

static int space_cb(gm_space *as, void *opaque)
{
    struct spaces *s = opaque;

    if (s->n < 16) {
        s->v[s->n++] = as;
    }
    return 0;
}

static void spaces_of(struct machine *m, struct spaces *s)
{
    s->n = 0;
    gm_system_foreach_space(m->sys, space_cb, s);
}

static gm_space *space(struct machine *m, const char *name)
{
    struct spaces s;

    spaces_of(m, &s);
    for (int i = 0; i < s.n; i++) {
        if (!strcmp(gm_space_name(s.v[i]), name)) {
            return s.v[i];
        }
    }
    return NULL;
}

static gm_space *mk_space(struct machine *m, gm_region *root,
                           const char *name)
{
    gm_error err = {0};
    gm_space *as = gm_space_new(m->sys, root, name, &err);

    must(as != NULL, name, &err);
    return as;
}

static void add_efd(struct machine *m, const char *region, uint64_t off,
                    unsigned size, bool match, uint64_t data, int which)
{
    gm_error err = {0};

    must(gm_region_add_eventfd(reg(m, region), off, size, match, data,
                               m->efd[which], &err) == 0,
         "ioeventfd", &err);
}

static void rec_init(struct machine *m, struct rec *r, const char *name)
{
    r->m = m;
    r->name = name;
    rec_clear(r);
}

/*
 * The machine every run starts from:
 *
 * memory (root "system", 256 KiB)     cpu: alias of all of "system"
 *   0x00000 ram0 RAM 32 KiB              (shares memory's view)
 *   0x04000 vga I/O 8 KiB, prio 1 over ram0
 *   0x10000 lowmem: alias of ram0 at 0x4000, 8 KiB
 *   0x14000 flash: ROM device 4 KiB (romd)
 *   0x20000 pci container 32 KiB
 *             0x0000 dev-a I/O  (ioeventfd efdA at 0x10, 4 bytes, 0x2a)
 *             0x2000 dev-b I/O  (ioeventfd efdC at 0x8, 4 bytes, any)
 *             0x4000 bar RAM 4 KiB (VGA logging, non-volatile)
 *             0x4800 shadow I/O 4 KiB, prio 1, disabled
 *   0x3f000 bios ROM 4 KiB
 * io (root "io", 64 KiB)
 *   0x0060 port-a, 0x0070 port-b (ioeventfd efdB at 0, 2 bytes, any)
 *   0x1000 io-win: alias of pci at 0x2000 (dev-b), 4 KiB
 * dma (root "dma-root", 1 MiB)
 *   0x00000 dma-pci: alias of pci, 12 KiB (dev-a, dev-b)
 *   0x80000 dma-win: alias of system, 128 KiB
 * Listeners: rec_all (every space), rec_dma (dma only).
 */
static void build(struct machine *m)
{
    gm_error err = {0};
    gm_region *sysm, *ram0, *pci, *io, *dma, *r;

    memset(m, 0, sizeof(*m));
    for (int i = 0; i < NR_EFD; i++) {
        m->efd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        must(m->efd[i] >= 0, "eventfd", NULL);
    }
    m->sys = gm_system_new(&err);
    must(m->sys != NULL, "gm_system_new", &err);
    gm_system_set_warn_handler(m->sys, count_warning, m);

    sysm = mk_container(m, "system", 0x40000);
    ram0 = mk_ram(m, "ram0", 0x8000);
    place(sysm, 0x0, ram0);
    place_prio(sysm, 0x4000, mk_io(m, "vga", 0x2000), 1);
    place(sysm, 0x10000, mk_alias(m, "lowmem", ram0, 0x4000, 0x2000));
    place(sysm, 0x14000, mk_romdev(m, "flash", 0x1000));
    pci = mk_container(m, "pci", 0x8000);
    place(sysm, 0x20000, pci);
    place(pci, 0x0, mk_io(m, "dev-a", 0x1000));
    place(pci, 0x2000, mk_io(m, "dev-b", 0x1000));
    r = mk_ram(m, "bar", 0x1000);
    must(gm_region_set_log(r, true, GM_DIRTY_VGA, &err) == 0, "set_log",
         &err);
    must(gm_region_set_nonvolatile(r, true, &err) == 0, "nonvolatile", &err);
    place(pci, 0x4000, r);
    r = mk_io(m, "shadow", 0x1000);
    must(gm_region_set_enabled(r, false, &err) == 0, "disable", &err);
    place_prio(pci, 0x4800, r, 1);
    place(sysm, 0x3f000, mk_rom(m, "bios", 0x1000));

    io = mk_container(m, "io", 0x10000);
    place(io, 0x60, mk_io(m, "port-a", 0x10));
    place(io, 0x70, mk_io(m, "port-b", 0x10));
    place(io, 0x1000, mk_alias(m, "io-win", pci, 0x2000, 0x1000));

    dma = mk_container(m, "dma-root", 0x100000);
    place(dma, 0x0, mk_alias(m, "dma-pci", pci, 0x0, 0x3000));
    place(dma, 0x80000, mk_alias(m, "dma-win", sysm, 0x0, 0x20000));

    add_efd(m, "dev-a", 0x10, 4, true, 0x2a, EFD_A);
    add_efd(m, "dev-b", 0x8, 4, false, 0, EFD_C);
    add_efd(m, "port-b", 0x0, 2, false, 0, EFD_B);

    mk_space(m, sysm, "memory");
    mk_space(m, mk_alias(m, "cpu-root", sysm, 0, 0x40000), "cpu");
    mk_space(m, io, "io");
    mk_space(m, dma, "dma");

    rec_init(m, &m->rec_all, "all");
    rec_init(m, &m->rec_dma, "dma");
    rec_init(m, &m->rec_new, "new");
    rec_init(m, &m->rec_retry, "new");
    m->l_all = gm_listener_register(m->sys, &rec_ops, &m->rec_all, 0, NULL,
                                    &err);
    must(m->l_all != NULL, "listener", &err);
    m->l_dma = gm_listener_register(m->sys, &rec_ops, &m->rec_dma, 1,
                                    space(m, "dma"), &err);
    must(m->l_dma != NULL, "listener", &err);
    fill_ram(m);
}

/* Drop the references and destroy the system: 0 expected. */
static int teardown(struct machine *m, gm_error *err)
{
    int ret;

    for (int i = 0; i < m->nreg; i++) {
        gm_region_unref(m->reg[i]);
    }
    m->nreg = 0;
    ret = gm_system_destroy(m->sys, err);
    for (int i = 0; i < NR_EFD; i++) {
        close(m->efd[i]);
    }
    return ret;
}

/*
 * Stop tracking and report the blocks of this run still allocated. The
 * library frees some readers' snapshots through call_rcu, possibly after
 * gm_system_destroy() has returned: when blocks remain, wait for the
 * callbacks queued so far (rcu_barrier() takes a few milliseconds) and
 * look again.
 */
static void check_leaks(void)
{
    char site[160];
    long n;
    int shown = 0;

    track_stop();
    if (atomic_load(&track_n)) {
        rcu_barrier();
    }
    if (track_overflow) {
        printf("# %s N=%lu: too many blocks to track; leaks not checked\n",
               cur_case, sh->cur_n);
        return;
    }
    n = atomic_load(&track_n);
    if (!n) {
        return;
    }
    FAILN("%ld block(s) still allocated after gm_system_destroy()", n);
    for (size_t i = 0; i < TRACK_SIZE && shown < 4; i++) {
        if (track_tab[i].p > 1) {
            fprintf(stderr, "    leaked block allocated from %s\n",
                    site_str(track_tab[i].site, site, sizeof(site)));
            shown++;
        }
    }
}

/*
 * Snapshots. The probe plan (which addresses to load, where the doorbells
 * are) is made once per case from the reference views before and after the
 * call, so that both states are probed at every boundary either has.
 */
struct secrec {
    char space[32];
    char region[32];
    uint64_t addr;
    gm_u128 size;
    uint64_t off;
};

struct probe {
    char space[32];
    uint64_t addr;
    unsigned size;
    uint64_t data; /* doorbells only */
};

struct plan {
    struct probe *loads;
    size_t nloads, capl;
    struct probe *bells;
    size_t nbells, capb;
};

/* The doorbells: region, offset, size, data of a store. */
static const struct {
    const char *region;
    uint64_t off;
    unsigned size;
    uint64_t data;
} bell_specs[] = {
    {"dev-a", 0x10, 4, 0x2a}, /* efdA */
    {"dev-a", 0x10, 4, 0x2b}, /* efdA's address, other data: the device */
    {"dev-a", 0x20, 4, 0x5},  /* efdD once added */
    {"dev-b", 0x8, 4, 0x77},  /* efdC */
    {"dev-b", 0xc, 4, 0x9},   /* efdD, when dev-b has two */
    {"port-b", 0x0, 2, 0x1},  /* efdB */
    {"new-io", 0x4, 4, 0x7},  /* efdE (the overlapping case's region) */
};

enum { P_TREE, P_VIEWS, P_LOADS, P_BELLS, NR_PART };
static const char *const part_names[NR_PART] = {
    "region tree", "flat views", "dispatch (loads)", "ioeventfds (doorbells)"};

struct snap {
    struct dstr part[NR_PART];
};

static void snap_free(struct snap *s)
{
    for (int i = 0; i < NR_PART; i++) {
        ds_free(&s->part[i]);
    }
}

static void u128_hex(gm_u128 v, char *buf, size_t n)
{
    if (v >> 64) {
        snprintf(buf, n, "0x%" PRIx64 "%016" PRIx64, (uint64_t)(v >> 64),
                 (uint64_t)v);
    } else {
        snprintf(buf, n, "0x%" PRIx64, (uint64_t)v);
    }
}

static int kid_cb(gm_region *child, void *opaque)
{
    ds_add(opaque, " %s", gm_region_name(child));
    return 0;
}

static int coal_cb(uint64_t off, uint64_t size, void *opaque)
{
    ds_add(opaque, " %" PRIx64 "+%" PRIx64, off, size);
    return 0;
}

static void snap_tree(struct machine *m, struct dstr *d)
{
    struct spaces s;

    for (int i = 0; i < m->nreg; i++) {
        gm_region *r = m->reg[i], *c = gm_region_container(r);
        gm_region *t = gm_region_alias_target(r);
        char sz[40];

        u128_hex(gm_region_size(r), sz, sizeof(sz));
        ds_add(d,
               "%s %s size=%s in=%s addr=%" PRIx64 " prio=%d overlap=%d "
               "en=%d ro=%d nv=%d romd=%d log=%x",
               gm_region_name(r), gm_region_kind_name(gm_region_kind(r)), sz,
               c ? gm_region_name(c) : "-", gm_region_addr(r),
               gm_region_priority(r), gm_region_may_overlap(r),
               gm_region_enabled(r), gm_region_readonly(r),
               gm_region_nonvolatile(r), gm_region_romd(r),
               gm_region_dirty_log_mask(r));
        if (t) {
            ds_add(d, " alias=%s+%" PRIx64, gm_region_name(t),
                   gm_region_alias_offset(r));
        }
        ds_add(d, " flush=%d coalesced:", gm_region_flush_coalesced(r));
        gm_region_foreach_coalesced(r, coal_cb, d);
        ds_add(d, " kids:");
        gm_region_foreach_subregion(r, kid_cb, d);
        ds_add(d, "\n");
    }
    ds_add(d, "global dirty logging %s\n",
           gm_system_log_global_enabled(m->sys) ? "on" : "off");
    spaces_of(m, &s);
    for (int i = 0; i < s.n; i++) {
        gm_region *root = gm_space_root(s.v[i]);

        ds_add(d, "space %s root=%s\n", gm_space_name(s.v[i]),
               root ? gm_region_name(root) : "-");
    }
}

struct view_ctx {
    struct dstr *d;     /* print the ranges here, when set */
    bool collect;       /* collect them in out[] */
    const char *space;
    struct secrec *out;
    size_t n, cap;
};

static int view_cb(const struct gm_section *sec, void *opaque)
{
    struct view_ctx *c = opaque;

    if (c->d) {
        ds_add(c->d,
               "%s %" PRIx64 "-%" PRIx64 " %s @%" PRIx64 "%s%s%s log=%x\n",
               c->space, sec->addr, (uint64_t)(sec->addr + sec->size - 1),
               gm_region_name(sec->region), sec->offset_in_region,
               sec->readonly ? " ro" : "", sec->romd ? " romd" : "",
               sec->nonvolatile ? " nv" : "", sec->dirty_log_mask);
    }
    if (c->collect) {
        if (c->n == c->cap) {
            c->cap = c->cap ? 2 * c->cap : 64;
            c->out = realloc(c->out, c->cap * sizeof(*c->out));
            if (!c->out) {
                die_raw("test-alloc-fail: out of memory\n");
            }
        }
        struct secrec *r = &c->out[c->n++];
        snprintf(r->space, sizeof(r->space), "%s", c->space);
        snprintf(r->region, sizeof(r->region), "%s",
                 gm_region_name(sec->region));
        r->addr = sec->addr;
        r->size = sec->size;
        r->off = sec->offset_in_region;
    }
    return 0;
}

/* Print every space's view into @d (may be NULL) and collect the ranges. */
static void walk_views(struct machine *m, struct dstr *d, struct view_ctx *c)
{
    struct spaces s;

    c->d = d;
    spaces_of(m, &s);
    for (int i = 0; i < s.n; i++) {
        gm_flatview *fv = gm_space_get_flatview(s.v[i]);

        c->space = gm_space_name(s.v[i]);
        if (d) {
            ds_add(d, "space %s: %zu ranges\n", c->space,
                   gm_flatview_nr_ranges(fv));
        }
        gm_flatview_foreach(fv, view_cb, c);
        gm_flatview_unref(fv);
    }
}

static void plan_push(struct probe **v, size_t *n, size_t *cap,
                      const char *space, uint64_t addr, unsigned size,
                      uint64_t data)
{
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 256;
        *v = realloc(*v, *cap * sizeof(**v));
        if (!*v) {
            die_raw("test-alloc-fail: out of memory\n");
        }
    }
    snprintf((*v)[*n].space, sizeof((*v)[*n].space), "%s", space);
    (*v)[*n].addr = addr;
    (*v)[*n].size = size;
    (*v)[*n].data = data;
    (*n)++;
}

static int probe_cmp(const void *a, const void *b)
{
    const struct probe *x = a, *y = b;
    int c = strcmp(x->space, y->space);

    if (c) {
        return c;
    }
    if (x->addr != y->addr) {
        return x->addr < y->addr ? -1 : 1;
    }
    if (x->size != y->size) {
        return x->size < y->size ? -1 : 1;
    }
    return x->data < y->data ? -1 : x->data > y->data;
}

static size_t uniq(struct probe *v, size_t n)
{
    size_t k = 0;

    if (n) {
        qsort(v, n, sizeof(*v), probe_cmp);
    }
    for (size_t i = 0; i < n; i++) {
        if (!k || probe_cmp(&v[k - 1], &v[i])) {
            v[k++] = v[i];
        }
    }
    return k;
}

/* Add the probes of the ranges in @c (a view before or after the call). */
static void plan_add(struct plan *p, const struct view_ctx *c)
{
    for (size_t i = 0; i < c->n; i++) {
        const struct secrec *s = &c->out[i];
        uint64_t last = (uint64_t)(s->addr + s->size - 1);

        plan_push(&p->loads, &p->nloads, &p->capl, s->space, s->addr, 1, 0);
        plan_push(&p->loads, &p->nloads, &p->capl, s->space, last, 1, 0);
        if (s->addr) {
            plan_push(&p->loads, &p->nloads, &p->capl, s->space, s->addr - 1,
                      1, 0);
        }
        if (last != UINT64_MAX) {
            plan_push(&p->loads, &p->nloads, &p->capl, s->space, last + 1, 1,
                      0);
        }
        if (s->size >= 8) {
            plan_push(&p->loads, &p->nloads, &p->capl, s->space, s->addr, 8,
                      0);
            plan_push(&p->loads, &p->nloads, &p->capl, s->space, last - 7, 8,
                      0);
        }
        for (size_t b = 0; b < sizeof(bell_specs) / sizeof(bell_specs[0]);
             b++) {
            uint64_t off = bell_specs[b].off;

            if (strcmp(bell_specs[b].region, s->region) || off < s->off ||
                (gm_u128)off - s->off + bell_specs[b].size > s->size) {
                continue;
            }
            plan_push(&p->bells, &p->nbells, &p->capb, s->space,
                      s->addr + (off - s->off), bell_specs[b].size,
                      bell_specs[b].data);
        }
    }
    p->nloads = uniq(p->loads, p->nloads);
    p->nbells = uniq(p->bells, p->nbells);
}

static void plan_free(struct plan *p)
{
    free(p->loads);
    free(p->bells);
    memset(p, 0, sizeof(*p));
}

static void mmio_str(struct machine *m, struct dstr *d)
{
    for (int i = 0; i < m->nmmio; i++) {
        const struct mmio_ev *e = &m->mmio[i];

        ds_add(d, " [%s %s @%" PRIx64 " /%u", gm_region_name(m->reg[e->id - 1]),
               e->write ? "w" : "r", e->off, e->size);
        if (e->write) {
            ds_add(d, " =%" PRIx64, e->data);
        }
        ds_add(d, "]");
    }
    m->nmmio = 0;
}

static void snap_loads(struct machine *m, const struct plan *p,
                       struct dstr *d)
{
    for (size_t i = 0; i < p->nloads; i++) {
        const struct probe *pr = &p->loads[i];
        gm_space *as = space(m, pr->space);
        uint64_t v = 0;
        enum gm_result r;

        if (!as) {
            ds_add(d, "%s ld%u %" PRIx64 ": no such space\n", pr->space,
                   pr->size, pr->addr);
            continue;
        }
        m->nmmio = 0;
        r = gm_space_load(as, pr->addr, pr->size, GM_ENDIAN_LITTLE, &v,
                          GM_ATTRS_DEFAULT);
        ds_add(d, "%s ld%u %" PRIx64 " -> %d %" PRIx64, pr->space, pr->size,
               pr->addr, (int)r, v);
        mmio_str(m, d);
        ds_add(d, "\n");
    }
}

static void snap_bells(struct machine *m, const struct plan *p,
                       struct dstr *d)
{
    bool touched = false;

    for (size_t i = 0; i < p->nbells; i++) {
        const struct probe *pr = &p->bells[i];
        gm_space *as = space(m, pr->space);
        enum gm_result r;
        bool any = false;

        if (!as) {
            ds_add(d, "%s st%u %" PRIx64 "=%" PRIx64 ": no such space\n",
                   pr->space, pr->size, pr->addr, pr->data);
            continue;
        }
        m->nmmio = 0;
        r = gm_space_store(as, pr->addr, pr->size, GM_ENDIAN_LITTLE, pr->data,
                           GM_ATTRS_DEFAULT);
        ds_add(d, "%s st%u %" PRIx64 "=%" PRIx64 " -> %d", pr->space,
               pr->size, pr->addr, pr->data, (int)r);
        for (int e = 0; e < NR_EFD; e++) {
            uint64_t cnt;

            if (read(m->efd[e], &cnt, sizeof(cnt)) == sizeof(cnt)) {
                ds_add(d, " %s+%" PRIu64, efd_names[e], cnt);
                any = true;
            }
        }
        if (!any && !m->nmmio && r == GM_RESULT_OK) {
            touched = true; /* may have written RAM: restore it below */
        }
        mmio_str(m, d);
        ds_add(d, "\n");
    }
    if (touched) {
        fill_ram(m);
    }
}

static void snapshot(struct machine *m, const struct plan *p, struct snap *s)
{
    struct view_ctx c = {0};

    memset(s, 0, sizeof(*s));
    snap_tree(m, &s->part[P_TREE]);
    walk_views(m, &s->part[P_VIEWS], &c);
    snap_loads(m, p, &s->part[P_LOADS]);
    snap_bells(m, p, &s->part[P_BELLS]);
}

/* Copy line @k (from 1) of @s into @buf. */
static void line_of(const char *s, int k, char *buf, size_t n)
{
    for (int i = 1; i < k && s; i++) {
        s = strchr(s, '\n');
        s = s ? s + 1 : NULL;
    }
    if (!s || !*s) {
        snprintf(buf, n, "(end)");
        return;
    }
    size_t len = strcspn(s, "\n");
    snprintf(buf, n, "%.*s", (int)(len < n - 1 ? len : n - 1), s);
}

/* First line where @a and @b differ, 0 when equal. */
static int first_diff(const char *a, const char *b)
{
    int line = 1;

    for (size_t i = 0;; i++) {
        if (a[i] != b[i]) {
            return line;
        }
        if (!a[i]) {
            return 0;
        }
        if (a[i] == '\n') {
            line++;
        }
    }
}

/* Count of lines that differ (as multisets would be overkill: positional). */
static int diff_lines(const char *a, const char *b)
{
    int n = 0;

    while (*a || *b) {
        size_t la = strcspn(a, "\n"), lb = strcspn(b, "\n");

        if (la != lb || memcmp(a, b, la)) {
            n++;
        }
        a += la + (a[la] == '\n');
        b += lb + (b[lb] == '\n');
    }
    return n;
}

/* Compare two texts; report the first difference. */
static bool same_text(const char *what, const char *part, const char *want,
                      const char *got)
{
    char w[200], g[200];
    int k = first_diff(want, got);

    if (!k) {
        return true;
    }
    line_of(want, k, w, sizeof(w));
    line_of(got, k, g, sizeof(g));
    FAILN("%s: %s differ (%d lines); first at line %d: expected \"%s\", "
          "got \"%s\"",
          what, part, diff_lines(want, got), k, w, g);
    return false;
}

static bool same_snap(const char *what, const struct snap *want,
                      const struct snap *got)
{
    bool ok = true;

    for (int i = 0; i < NR_PART; i++) {
        ok &= same_text(what, part_names[i], ds_str(&want->part[i]),
                        ds_str(&got->part[i]));
    }
    return ok;
}

/* The events of the listeners, region_nop left out. */
static void events_of(struct machine *m, struct dstr *d)
{
    struct rec *recs[] = {&m->rec_all, &m->rec_dma, &m->rec_new,
                          &m->rec_retry};

    for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++) {
        const char *s = recs[i]->buf;

        if (recs[i]->overflow) {
            ds_add(d, "%s: (overflow)\n", recs[i]->name);
        }
        while (*s) {
            size_t n = strcspn(s, "\n");

            if (strncmp(s, "nop ", 4)) {
                ds_add(d, "%s: %.*s\n", recs[i]->name, (int)n, s);
            }
            s += n + (s[n] == '\n');
        }
    }
}

static void recs_clear(struct machine *m)
{
    rec_clear(&m->rec_all);
    rec_clear(&m->rec_dma);
    rec_clear(&m->rec_new);
    rec_clear(&m->rec_retry);
}

/* After a failed call only begin and commit may have been delivered. */
static void check_no_events(struct machine *m, const char *what)
{
    struct rec *recs[] = {&m->rec_all, &m->rec_dma, &m->rec_new,
                          &m->rec_retry};

    for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++) {
        const char *s = recs[i]->buf;
        int n = 0;
        char first[200] = "";

        while (*s) {
            size_t len = strcspn(s, "\n");

            if (strncmp(s, "begin\n", 6) && strncmp(s, "commit\n", 7)) {
                if (!n++) {
                    snprintf(first, sizeof(first), "%.*s", (int)len, s);
                }
            }
            s += len + (s[len] == '\n');
        }
        if (n) {
            FAILN("%s: listener '%s' was told %d event(s) of a failed call, "
                  "first \"%s\"",
                  what, recs[i]->name, n, first);
        }
    }
}

/*
 * The cases.
 */
struct tcase {
    const char *name;
    const char *what;
    void (*prepare)(struct machine *m);
    int (*call)(struct machine *m, gm_error *err);
    int (*retry)(struct machine *m, gm_error *err); /* NULL: call again */
    bool listener; /* registers m->rec_new (retry: m->rec_retry) */
};

static void prep_none(struct machine *m)
{
    (void)m;
}

static void prep_new_ram(struct machine *m)
{
    m->a0 = reg(m, "system");
    m->a1 = mk_ram(m, "new-ram", 0x2000);
    fill_ram(m);
}

static int call_add(struct machine *m, gm_error *err)
{
    return gm_region_add_subregion(m->a0, 0x18000, m->a1, err);
}

static void prep_new_io(struct machine *m)
{
    m->a0 = reg(m, "system");
    m->a1 = mk_io(m, "new-io", 0x1000);
    add_efd(m, "new-io", 0x4, 4, true, 0x7, EFD_E);
}

static int call_add_overlap(struct machine *m, gm_error *err)
{
    return gm_region_add_subregion_overlap(m->a0, 0x2000, m->a1, 2, err);
}

static void prep_del(struct machine *m)
{
    m->a0 = reg(m, "pci");
    m->a1 = reg(m, "dev-a");
}

static int call_del(struct machine *m, gm_error *err)
{
    return gm_region_del_subregion(m->a0, m->a1, err);
}

static void prep_vga(struct machine *m)
{
    m->a0 = reg(m, "vga");
}

static int call_set_address(struct machine *m, gm_error *err)
{
    return gm_region_set_address(m->a0, 0x5000, err);
}

static void prep_pci(struct machine *m)
{
    m->a0 = reg(m, "pci");
}

static int call_disable(struct machine *m, gm_error *err)
{
    return gm_region_set_enabled(m->a0, false, err);
}

static void prep_shadow(struct machine *m)
{
    m->a0 = reg(m, "shadow");
}

static int call_enable(struct machine *m, gm_error *err)
{
    return gm_region_set_enabled(m->a0, true, err);
}

static void prep_ram0(struct machine *m)
{
    m->a0 = reg(m, "ram0");
}

static int call_readonly(struct machine *m, gm_error *err)
{
    return gm_region_set_readonly(m->a0, true, err);
}

static void prep_lowmem(struct machine *m)
{
    m->a0 = reg(m, "lowmem");
}

static int call_alias_offset(struct machine *m, gm_error *err)
{
    return gm_region_set_alias_offset(m->a0, 0x1000, err);
}

static int call_set_size(struct machine *m, gm_error *err)
{
    return gm_region_set_size(m->a0, 0x4800, err);
}

/* A transaction: several mutations, then the commit under injection. */
static void prep_txn(struct machine *m)
{
    gm_error err = {0};
    gm_region *nr = mk_ram(m, "new-ram", 0x2000);

    fill_ram(m);
    must(gm_transaction_begin(m->sys) == 0, "begin", NULL);
    must(gm_region_set_enabled(reg(m, "vga"), false, &err) == 0, "txn",
         &err);
    must(gm_region_set_address(reg(m, "dev-b"), 0x3000, &err) == 0, "txn",
         &err);
    must(gm_region_add_subregion(reg(m, "system"), 0x18000, nr, &err) == 0,
         "txn", &err);
    must(gm_region_set_alias_offset(reg(m, "lowmem"), 0x2000, &err) == 0,
         "txn", &err);
    must(gm_region_del_subregion(reg(m, "io"), reg(m, "port-a"), &err) == 0,
         "txn", &err);
    must(gm_region_set_readonly(reg(m, "bar"), true, &err) == 0, "txn",
         &err);
    must(gm_region_add_eventfd(reg(m, "dev-a"), 0x20, 4, true, 0x5,
                               m->efd[EFD_D], &err) == 0,
         "txn", &err);
}

static int call_commit(struct machine *m, gm_error *err)
{
    return gm_transaction_commit(m->sys, err);
}

/* A failed commit keeps its changes pending: an empty one retries them. */
static int retry_commit(struct machine *m, gm_error *err)
{
    int ret = gm_transaction_begin(m->sys);

    return ret ? ret : gm_transaction_commit(m->sys, err);
}

static int call_listener(struct machine *m, gm_error *err)
{
    m->l_new = gm_listener_register(m->sys, &rec_ops, &m->rec_new, 5, m->s0,
                                    err);
    return m->l_new ? 0 : (err->code ? err->code : -1);
}

static int retry_listener(struct machine *m, gm_error *err)
{
    m->l_retry = gm_listener_register(m->sys, &rec_ops, &m->rec_retry, 5,
                                      m->s0, err);
    return m->l_retry ? 0 : (err->code ? err->code : -1);
}

static void prep_filter_io(struct machine *m)
{
    m->s0 = space(m, "io");
}

static void prep_space_shared(struct machine *m)
{
    m->a0 = reg(m, "system");
}

static void prep_space_fresh(struct machine *m)
{
    gm_region *root = mk_container(m, "extra-root", 0x10000);

    place(root, 0x0, mk_alias(m, "extra-pci", reg(m, "pci"), 0x0, 0x3000));
    place(root, 0x8000, mk_alias(m, "extra-ram", reg(m, "ram0"), 0, 0x1000));
    m->a0 = root;
}

static int call_space_new(struct machine *m, gm_error *err)
{
    m->new_space = gm_space_new(m->sys, m->a0, "extra", err);
    return m->new_space ? 0 : (err->code ? err->code : -1);
}

static void prep_dev_a(struct machine *m)
{
    m->a0 = reg(m, "dev-a");
}

static int call_efd_add(struct machine *m, gm_error *err)
{
    return gm_region_add_eventfd(m->a0, 0x20, 4, true, 0x5, m->efd[EFD_D],
                                 err);
}

static int call_coal_add(struct machine *m, gm_error *err)
{
    return gm_region_add_coalescing(m->a0, 0x8, 0x10, err);
}

static void prep_dev_b_coal(struct machine *m)
{
    m->a0 = reg(m, "dev-b");
    CHECK_EQ_INT(gm_region_add_coalescing(m->a0, 0x0, 0x4, NULL), 0);
    CHECK_EQ_INT(gm_region_add_coalescing(m->a0, 0xc, 0x4, NULL), 0);
}

static int call_coal_clear(struct machine *m, gm_error *err)
{
    return gm_region_clear_coalescing(m->a0, err);
}

static void prep_dev_b(struct machine *m)
{
    m->a0 = reg(m, "dev-b");
}

static int call_efd_del(struct machine *m, gm_error *err)
{
    return gm_region_del_eventfd(m->a0, 0x8, 4, false, 0, m->efd[EFD_C], err);
}

static int call_set_log(struct machine *m, gm_error *err)
{
    return gm_region_set_log(m->a0, true, GM_DIRTY_MIGRATION, err);
}

/* dev-b gets a second ioeventfd: deleting one leaves one to publish. */
static void prep_dev_b_two(struct machine *m)
{
    m->a0 = reg(m, "dev-b");
    add_efd(m, "dev-b", 0xc, 4, true, 0x9, EFD_D);
}

static void prep_space_io(struct machine *m)
{
    m->s0 = space(m, "io");
}

static int call_space_destroy(struct machine *m, gm_error *err)
{
    return gm_space_destroy(m->s0, err);
}

static int call_log_global(struct machine *m, gm_error *err)
{
    return gm_system_log_global_start(m->sys, err);
}

static int call_unregister(struct machine *m, gm_error *err)
{
    int ret = gm_listener_unregister(m->l_all, err);

    if (!ret) {
        m->l_all = NULL;
    }
    return ret;
}

static void prep_flash(struct machine *m)
{
    m->a0 = reg(m, "flash");
}

static int call_romd(struct machine *m, gm_error *err)
{
    return gm_region_set_romd(m->a0, false, err);
}

/*
 * gm_mtree_print() writes to /dev/null through a stream that main() opens
 * before any run, with a static buffer: the stream itself allocates
 * nothing, so every allocation counted is the printer's.
 */
static FILE *mtree_out;
static char mtree_buf[BUFSIZ];

static int call_mtree(struct machine *m, unsigned flags, gm_error *err)
{
    if (!mtree_out) {
        return -EIO;
    }
    return gm_mtree_print(m->sys, mtree_out, flags, err);
}

static int call_mtree_text(struct machine *m, gm_error *err)
{
    return call_mtree(m, GM_MTREE_DISABLED, err);
}

static int call_mtree_flat(struct machine *m, gm_error *err)
{
    return call_mtree(m, GM_MTREE_FLAT, err);
}

static int call_mtree_json(struct machine *m, gm_error *err)
{
    return call_mtree(m, GM_MTREE_JSON, err);
}

static int call_mtree_json_flat(struct machine *m, gm_error *err)
{
    return call_mtree(m, GM_MTREE_JSON | GM_MTREE_FLAT, err);
}

static const struct tcase cases[] = {
    {"add-subregion", "add new-ram to system at 0x18000", prep_new_ram,
     call_add, NULL, false},
    {"add-subregion-overlap",
     "add new-io (with an ioeventfd) over ram0 at 0x2000, priority 2",
     prep_new_io, call_add_overlap, NULL, false},
    {"del-subregion", "delete dev-a (with an ioeventfd) from pci", prep_del,
     call_del, NULL, false},
    {"set-address", "move vga from 0x4000 to 0x5000 (over ram0)", prep_vga,
     call_set_address, NULL, false},
    {"disable", "disable pci", prep_pci, call_disable, NULL, false},
    {"enable", "enable shadow (over bar)", prep_shadow, call_enable, NULL,
     false},
    {"set-readonly", "make ram0 read-only", prep_ram0, call_readonly, NULL,
     false},
    {"set-alias-offset", "lowmem's offset from 0x4000 to 0x1000",
     prep_lowmem, call_alias_offset, NULL, false},
    {"set-size", "shrink pci to 0x4800 (clips bar, hides shadow)", prep_pci,
     call_set_size, NULL, false},
    {"transaction",
     "commit of: disable vga, move dev-b, add new-ram, lowmem offset, "
     "delete port-a, bar read-only, add an ioeventfd",
     prep_txn, call_commit, retry_commit, false},
    {"listener-register", "register a listener on every space (replay)",
     prep_none, call_listener, retry_listener, true},
    {"listener-register-filtered", "register a listener on io (replay)",
     prep_filter_io, call_listener, retry_listener, true},
    {"space-new-shared", "new space on system (shares memory's view)",
     prep_space_shared, call_space_new, NULL, false},
    {"space-new", "new space on a new root (a view of its own)",
     prep_space_fresh, call_space_new, NULL, false},
    {"eventfd-add", "add an ioeventfd to dev-a", prep_dev_a, call_efd_add,
     NULL, false},
    {"eventfd-del", "delete dev-b's ioeventfd", prep_dev_b, call_efd_del,
     NULL, false},
    {"set-log", "start migration logging of ram0", prep_ram0, call_set_log,
     NULL, false},
    {"coalescing-add", "add a coalesced MMIO range to dev-a", prep_dev_a,
     call_coal_add, NULL, false},
    {"coalescing-clear", "clear dev-b's two coalesced MMIO ranges",
     prep_dev_b_coal, call_coal_clear, NULL, false},
    {"set-romd", "leave romd mode of flash", prep_flash, call_romd, NULL,
     false},
    {"eventfd-del-one", "delete one of dev-b's two ioeventfds",
     prep_dev_b_two, call_efd_del, NULL, false},
    {"space-destroy", "destroy the io space", prep_space_io,
     call_space_destroy, NULL, false},
    {"log-global-start", "start global dirty logging", prep_none,
     call_log_global, NULL, false},
    {"listener-unregister", "unregister the listener of every space "
     "(replays region_del)", prep_none, call_unregister, NULL, false},
    {"mtree-text", "gm_mtree_print() of the trees, disabled regions too",
     prep_none, call_mtree_text, NULL, false},
    {"mtree-flat", "gm_mtree_print() of the flat views", prep_none,
     call_mtree_flat, NULL, false},
    {"mtree-json", "gm_mtree_print() of the trees as JSON (two walks)",
     prep_none, call_mtree_json, NULL, false},
    {"mtree-json-flat", "gm_mtree_print() of the flat views as JSON",
     prep_none, call_mtree_json_flat, NULL, false},
};

#define NR_CASES (sizeof(cases) / sizeof(cases[0]))

/*
 * Running a case.
 */
struct ref {
    struct plan plan;
    struct snap pre, post;
    struct dstr events;
    unsigned long allocs;
};

/*
 * The reference: the call without injection, on two machines: one to make
 * the probe plan from the views before and after, one to record the states
 * and the listener events.
 */
static void reference(const struct tcase *c, struct ref *ref)
{
    struct machine *m = &M;
    struct view_ctx before = {.collect = true}, after = {.collect = true};
    gm_error err = {0};
    int rc;

    sh->cur_n = 0;
    memset(ref, 0, sizeof(*ref));

    /* 1. Which addresses matter. */
    set_phase("reference: views");
    build(m);
    c->prepare(m);
    walk_views(m, NULL, &before);
    rc = c->call(m, &err);
    must(rc == 0, c->name, &err);
    walk_views(m, NULL, &after);
    plan_add(&ref->plan, &before);
    plan_add(&ref->plan, &after);
    free(before.out);
    free(after.out);
    must(teardown(m, &err) == 0, "reference teardown", &err);

    /* 2. The states and the events. */
    set_phase("reference: states");
    build(m);
    c->prepare(m);
    snapshot(m, &ref->plan, &ref->pre);
    recs_clear(m);
    inj_arm(0);
    rc = c->call(m, &err);
    ref->allocs = inj_disarm();
    must(rc == 0, c->name, &err);
    must(gm_transaction_depth(m->sys) == 0, "transaction depth", NULL);
    events_of(m, &ref->events);
    snapshot(m, &ref->plan, &ref->post);
    must(teardown(m, &err) == 0, "reference teardown", &err);
    cur_stats()->ref_allocs = ref->allocs;
    if (dump) {
        for (int i = 0; i < NR_PART; i++) {
            printf("--- %s before:\n%s--- %s after:\n%s", part_names[i],
                   ds_str(&ref->pre.part[i]), part_names[i],
                   ds_str(&ref->post.part[i]));
        }
        printf("--- listener events of the call:\n%s",
               ds_str(&ref->events));
    }
}

static void ref_free(struct ref *ref)
{
    plan_free(&ref->plan);
    snap_free(&ref->pre);
    snap_free(&ref->post);
    ds_free(&ref->events);
}

/* The state and the events after a successful call (or retry). */
static bool check_post(struct machine *m, const struct ref *ref,
                       const char *what)
{
    struct snap s;
    struct dstr ev = {0};
    bool ok;

    events_of(m, &ev);
    ok = same_text(what, "listener events", ds_str(&ref->events),
                   ds_str(&ev));
    ds_free(&ev);
    snapshot(m, &ref->plan, &s);
    ok &= same_snap(what, &ref->post, &s);
    snap_free(&s);
    return ok;
}

/*
 * After a wrong result, say whether an empty commit brings the expected
 * state (it would mean the change was left pending), for who fixes it.
 */
static void note_flush(struct machine *m, const struct ref *ref)
{
    gm_error err = {0};
    struct snap s;
    bool same = true;
    int rc = gm_transaction_begin(m->sys);

    if (!rc) {
        rc = gm_transaction_commit(m->sys, &err);
    }
    snapshot(m, &ref->plan, &s);
    for (int i = 0; i < NR_PART; i++) {
        same &= !strcmp(ds_str(&ref->post.part[i]), ds_str(&s.part[i]));
    }
    snap_free(&s);
    fprintf(stderr, "    note: an empty commit afterwards returns %d, and "
                    "the state %s the expected one\n",
            rc, same ? "is then" : "is still not");
}

/*
 * A failed registration must leave no listener behind: a later commit
 * reaches only the listeners that were registered.
 */
static void check_listeners_after(struct machine *m)
{
    gm_error err = {0};
    gm_region *r = reg(m, m->s0 ? "port-a" : "vga"); /* seen by the filter */

    recs_clear(m);
    if (gm_region_set_enabled(r, !gm_region_enabled(r), &err)) {
        FAILN("machine broken: toggling %s failed: %s", gm_region_name(r),
              err.msg);
        return;
    }
    if (!m->l_new && m->rec_new.len) {
        FAILN("the failed registration's listener still receives events: "
              "\"%.60s\"",
              m->rec_new.buf);
    }
    if (m->l_new && !m->rec_new.len) {
        FAILN("the registered listener receives nothing");
    }
    if (m->l_retry && !m->rec_retry.len) {
        FAILN("the listener registered on retry receives nothing");
    }
}

static const char *rc_str(int rc, char *buf, size_t n)
{
    snprintf(buf, n, "%d (%s)", rc, rc ? gm_strerror(rc) : "ok");
    return buf;
}

/* One run: a fresh machine, the call with its N-th allocation failing. */
static bool run_n(const struct tcase *c, const struct ref *ref,
                  unsigned long n)
{
    struct machine *m = &M;
    struct case_stats *cs = cur_stats();
    struct site_stats *ss = NULL;
    unsigned long failures0 = cs->failures;
    struct snap pre, after;
    gm_error err = {0};
    unsigned long count;
    bool hit;
    char site[160], b1[64];
    int rc;

    sh->cur_n = n;
    set_phase("build");
    track_start();
    build(m);
    c->prepare(m);
    snapshot(m, &ref->plan, &pre);
    same_snap("setup (not the reference machine)", &ref->pre, &pre);
    recs_clear(m);

    set_phase("call under injection");
    inj_arm(n);
    rc = c->call(m, &err);
    count = inj_disarm();
    hit = inj_hit;
    site_str(inj_site, site, sizeof(site));
    set_phase("checks");

    if (!hit) {
        cs->final_allocs = count;
    } else {
        ss = site_stats(inj_site, inj_fn);
        if (rc) {
            ss->errors++;
        } else {
            ss->survived++;
        }
    }
    if (verbose && hit) {
        printf("  %s N=%lu: %s from %s failed; returned %s; %lu "
               "allocations\n",
               c->name, n, inj_fn, site, rc_str(rc, b1, sizeof(b1)), count);
    } else if (verbose) {
        printf("  %s N=%lu: not reached; returned %s; %lu allocations\n",
               c->name, n, rc_str(rc, b1, sizeof(b1)), count);
    }
    if (gm_transaction_depth(m->sys) != 0) {
        FAILN("transaction depth %u after the call (returned %s)",
              gm_transaction_depth(m->sys), rc_str(rc, b1, sizeof(b1)));
    }
    if (!hit) {
        if (rc) {
            FAILN("failed without an injected failure: %s: %s",
                  rc_str(rc, b1, sizeof(b1)), err.msg);
        }
        check_post(m, ref, "call without a failure");
    } else if (rc == 0) {
        char what[256];

        cs->injected++;
        cs->survived++;
        snprintf(what, sizeof(what),
                 "succeeded although %s from %s failed", inj_fn, site);
        if (!check_post(m, ref, what)) {
            note_flush(m, ref);
        }
    } else {
        char what[256];

        cs->injected++;
        cs->errors++;
        snprintf(what, sizeof(what), "returned %s after %s from %s failed",
                 rc_str(rc, b1, sizeof(b1)), inj_fn, site);
        if (rc != -ENOMEM) {
            FAILN("%s: expected -ENOMEM", what);
        }
        if (err.code != rc) {
            FAILN("%s: error record has code %d", what, err.code);
        }
        check_no_events(m, what);
        snapshot(m, &ref->plan, &after);
        same_snap(what, &pre, &after);
        snap_free(&after);

        /* The machine is not broken: the call (or a retry) succeeds. */
        set_phase("retry");
        recs_clear(m);
        gm_error_clear(&err);
        rc = c->retry ? c->retry(m, &err) : c->call(m, &err);
        set_phase("checks after retry");
        if (rc) {
            FAILN("%s; the retry then returned %s: %s", what,
                  rc_str(rc, b1, sizeof(b1)), err.msg);
        }
        if (gm_transaction_depth(m->sys) != 0) {
            FAILN("transaction depth %u after the retry",
                  gm_transaction_depth(m->sys));
        }
        snprintf(what + strlen(what), sizeof(what) - strlen(what),
                 ", then the retry");
        check_post(m, ref, what);
    }
    if (c->listener) {
        check_listeners_after(m);
    }
    snap_free(&pre);

    set_phase("teardown");
    gm_error_clear(&err);
    rc = teardown(m, &err);
    if (rc) {
        track_stop();
        FAILN("gm_system_destroy() returned %s: %s",
              rc_str(rc, b1, sizeof(b1)), err.msg);
    } else {
        check_leaks();
    }
    if (ss && cs->failures != failures0) {
        ss->bad++;
    }
    return hit;
}

static void warm_up(void)
{
    struct machine *m = &M;
    struct view_ctx c = {.collect = true};
    struct plan p = {0};
    struct snap s;
    gm_error err = {0};
    gm_flatview *fv;
    unsigned long first = 0, later = 0, rcu = 0;

    sh->cur_n = 0;
    set_phase("warm-up");
#if !UNDER_ASAN
    /*
     * Load libgcc_s now rather than in a crash handler. Not under ASan: it
     * prints its own stacks, and LSan would report dlopen's blocks (their
     * allocation looks made by us, not by the dynamic linker).
     */
    void *bt[4];
    backtrace(bt, 4);
#endif

    for (int round = 0; round < 3; round++) {
        inj_arm(0);
        build(m);
        walk_views(m, NULL, &c);
        plan_add(&p, &c);
        snapshot(m, &p, &s);
        snap_free(&s);
        if (round == 1) {
            /* A view's last reference dropped outside the lock: call_rcu. */
            fv = gm_space_get_flatview(space(m, "memory"));
            must(gm_region_set_enabled(reg(m, "vga"), false, &err) == 0,
                 "warm-up", &err);
            rcu = inj_count;
            gm_flatview_unref(fv);
            rcu = inj_count - rcu;
        }
        must(teardown(m, &err) == 0, "warm-up teardown", &err);
        plan_free(&p);
        free(c.out);
        c = (struct view_ctx){.collect = true};
        if (round == 0) {
            first = inj_disarm();
        } else if (round == 2) {
            later = inj_disarm();
        } else {
            inj_disarm();
        }
    }
    if (!sh->warm_up_told) {
        sh->warm_up_told = true;
        printf("# warm-up: the first machine made %lu allocations, a later "
               "one %lu%s; dropping the first view through call_rcu made "
               "%lu (liburcu starting its call_rcu thread)\n",
               first, later,
               first != later ? " (one-time initialisation on first use)"
                              : "",
               rcu);
    }
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run one case from N = @start (only N = @only when it is not 0). */
static void child_case(int idx, unsigned long start, unsigned long only)
{
    const struct tcase *c = &cases[idx];
    struct case_stats *cs = &sh->cs[idx];
    struct ref ref;
    double t = now_s();

    sh->case_idx = idx;
    cur_case = c->name;
    harness_cur_name = c->name;
    if (start == 1) {
        printf("case %s: %s\n", c->name, c->what);
    } else {
        printf("case %s: resumed at N=%lu\n", c->name, start);
    }
    fflush(stdout);
    reference(c, &ref);
    for (unsigned long n = only ? only : start; n < MAX_N; n++) {
        bool hit = run_n(c, &ref, n);
        double t2 = now_s();

        cs->last_n = n;
        cs->seconds += t2 - t;
        t = t2;
        if (!hit || only) {
            break;
        }
    }
    if (!only && cs->last_n + 1 >= MAX_N) {
        FAILN("still reaching allocation %d: giving up", MAX_N - 1);
    }
    cs->seconds += now_s() - t;
    ref_free(&ref);
}

/* The child: warm up, then the picked cases from (@first, @start) on. */
static void child_main(const bool *pick, int first, unsigned long start,
                       unsigned long only)
{
    warm_up();
    for (int k = first; k < (int)NR_CASES; k++) {
        if (pick[k]) {
            child_case(k, k == first ? start : 1, only);
        }
    }
    sh->done = 1;
    fflush(NULL);
}

/*
 * Crashes. The first one of each case prints a backtrace (symbolized by
 * the sanitizer runtime when there is one); the parent names the injected
 * failure of every one.
 */
static void on_fatal(int sig)
{
    struct case_stats *cs = cur_stats();
    char buf[256];
    int len;

    inj_armed = false;
    len = snprintf(buf, sizeof(buf), "*** %s: signal %d at N=%lu (%s)%s\n",
                   cur_case, sig, sh->cur_n, sh->phase,
                   cs->backtrace_shown ? "" : "; backtrace:");
    if (write(2, buf, (size_t)len) < 0) {
        /* nothing to do */
    }
    if (!cs->backtrace_shown) {
        cs->backtrace_shown = true;
#if UNDER_ASAN
        __sanitizer_print_stack_trace();
#else
        void *bt[64];
        int n = backtrace(bt, 64);

        backtrace_symbols_fd(bt, n, 2);
#endif
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static void install_fatal_handlers(void)
{
    signal(SIGABRT, on_fatal);
    if (!UNDER_ASAN) {
        /* ASan reports these itself, with more to say. */
        signal(SIGSEGV, on_fatal);
        signal(SIGBUS, on_fatal);
        signal(SIGFPE, on_fatal);
        signal(SIGILL, on_fatal);
    }
}

/* A child died: report where, and where to resume. */
static void report_crash(int status)
{
    struct case_stats *cs = cur_stats();
    char site[160] = "";
    char how[64];

    if (WIFSIGNALED(status)) {
        snprintf(how, sizeof(how), "killed by signal %d (%s)",
                 WTERMSIG(status), strsignal(WTERMSIG(status)));
    } else {
        snprintf(how, sizeof(how), "died with exit status %d",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    if (sh->inj.n == sh->cur_n && sh->cur_n) {
        char s[128];

        snprintf(site, sizeof(site), " after %s from %s failed",
                 sh->inj.fn ? sh->inj.fn : "?",
                 site_str(sh->inj.site, s, sizeof(s)));
    }
    fprintf(stderr, "FAIL %s: N=%lu: %s in phase '%s'%s\n",
            cases[sh->case_idx].name, sh->cur_n, how, sh->phase, site);
    cs->crashes++;
    cs->last_n = sh->cur_n;
    mark_bad(cs, sh->cur_n);
    if (sh->inj.n == sh->cur_n && sh->cur_n) {
        cs->injected++;
        site_stats(sh->inj.site, sh->inj.fn)->crashed++;
    }
}

struct totals {
    unsigned long injected, errors, survived, crashes, cases_failed;
};

static void print_bad_n(const struct case_stats *cs)
{
    int k = 0;

    for (unsigned long n = 0; n < MAX_N; n++) {
        if (cs->bad_n[n / 8] & (1u << n % 8)) {
            if (k++ == 0) {
                printf("    N with failures:");
            }
            printf(" %lu", n);
        }
    }
    if (k) {
        printf("\n");
    }
}

static void summarise(int idx, struct totals *t)
{
    const struct tcase *c = &cases[idx];
    const struct case_stats *cs = &sh->cs[idx];

    printf("%s: N=1..%lu: %lu failures injected: %lu reported as errors, "
           "%lu survived, %lu crashed; the call makes %lu allocations; "
           "%.2f s\n",
           c->name, cs->last_n, cs->injected, cs->errors, cs->survived,
           cs->crashes, cs->final_allocs ? cs->final_allocs : cs->ref_allocs,
           cs->seconds);
    print_bad_n(cs);
    t->injected += cs->injected;
    t->errors += cs->errors;
    t->survived += cs->survived;
    t->crashes += cs->crashes;
    if (cs->failures || cs->crashes) {
        t->cases_failed++;
        harness_failed++;
        fprintf(stderr, "not ok %s\n", c->name);
    } else {
        harness_passed++;
        printf("ok %s\n", c->name);
    }
}

/*
 * The parent: a child runs the cases; when one dies, the next resumes at
 * the same case and N + 1 (the next case if the reference itself died).
 */
static bool run_children(const bool *pick, unsigned long only)
{
    int first = 0;
    unsigned long start = 1;
    bool clean = true;

    while (first < (int)NR_CASES && !pick[first]) {
        first++;
    }
    while (first < (int)NR_CASES) {
        pid_t pid;
        int status;

        sh->done = 0;
        sh->case_idx = first;
        sh->cur_n = 0;
        fflush(NULL);
        pid = fork();
        if (pid < 0) {
            perror("fork");
            exit(2);
        }
        if (pid == 0) {
            install_fatal_handlers();
            child_main(pick, first, start, only);
            exit(0); /* LSan, when present, checks for leaks here */
        }
        while (waitpid(pid, &status, 0) < 0) {
        }
        if (sh->done) {
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr,
                        "FAIL: the child ran every case but exited with "
                        "%d (leaks found by LSan? see its report above)\n",
                        WIFEXITED(status) ? WEXITSTATUS(status)
                                          : 128 + WTERMSIG(status));
                clean = false;
            }
            break;
        }
        report_crash(status);
        if (sh->cur_n == 0 || only) {
            /* The reference (or the only N) died: on to the next case. */
            first = sh->case_idx + 1;
            while (first < (int)NR_CASES && !pick[first]) {
                first++;
            }
            start = 1;
        } else {
            first = sh->case_idx;
            start = sh->cur_n + 1;
        }
    }
    return clean;
}

/*
 * The call sites whose allocations were failed, named by addr2line when
 * it is there (the library's own symbols are hidden from dladdr).
 */
static void print_sites(void)
{
    printf("allocation sites failed (errors / survived / crashed / runs "
           "with failed checks):\n");
    for (int i = 0; i < sh->nsites; i++) {
        const struct site_stats *ss = &sh->sites[i];
        char where[160], line[512], cmd[1024];
        Dl_info info;
        FILE *f = NULL;

        printf("  %s from %s: %lu / %lu / %lu / %lu\n", ss->fn,
               site_str(ss->site, where, sizeof(where)), ss->errors,
               ss->survived, ss->crashed, ss->bad);
        if (dladdr(ss->site, &info) && info.dli_fname &&
            !strchr(info.dli_fname, '\'')) {
            snprintf(cmd, sizeof(cmd),
                     "addr2line -f -i -p -e '%s' 0x%" PRIxPTR
                     " 2>/dev/null",
                     info.dli_fname,
                     (uintptr_t)ss->site - (uintptr_t)info.dli_fbase - 1);
            f = popen(cmd, "r");
        }
        while (f && fgets(line, sizeof(line), f)) {
            const char *base = strrchr(line, '/');

            /* "fn at /path/file.c:12" -> "fn at file.c:12" */
            if (base && strstr(line, " at ")) {
                printf("      %.*s%s", (int)(strstr(line, " at ") - line + 4),
                       line, base + 1);
            } else if (strncmp(line, "??", 2)) {
                printf("      %s", line);
            }
        }
        if (f) {
            pclose(f);
        }
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: test-alloc-fail [--case NAME]... [--n N] "
                    "[--no-fork] [--verbose] [--dump] [--list]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    bool pick[NR_CASES] = {false}, any = false, fork_it = true, clean = true;
    unsigned long only = 0;
    struct totals t = {0};
    double t0 = now_s();

    _Static_assert(NR_CASES <= MAX_CASES, "MAX_CASES");
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--case") && i + 1 < argc) {
            bool found = false;

            i++;
            for (size_t k = 0; k < NR_CASES; k++) {
                if (!strcmp(cases[k].name, argv[i])) {
                    pick[k] = found = any = true;
                }
            }
            if (!found) {
                fprintf(stderr, "unknown case '%s' (--list)\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(argv[i], "--n") && i + 1 < argc) {
            only = strtoul(argv[++i], NULL, 0);
            if (!only || only >= MAX_N) {
                usage();
            }
        } else if (!strcmp(argv[i], "--no-fork")) {
            fork_it = false;
        } else if (!strcmp(argv[i], "--verbose")) {
            verbose = true;
        } else if (!strcmp(argv[i], "--dump")) {
            dump = true;
        } else if (!strcmp(argv[i], "--list")) {
            for (size_t k = 0; k < NR_CASES; k++) {
                printf("%-28s %s\n", cases[k].name, cases[k].what);
            }
            return 0;
        } else {
            usage();
        }
    }
    for (size_t k = 0; k < NR_CASES; k++) {
        pick[k] = pick[k] || !any;
    }
    sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) {
        perror("mmap");
        return 2;
    }
    memset(sh, 0, sizeof(*sh));
    inj_shared = &sh->inj;
    mtree_out = fopen("/dev/null", "w");
    if (mtree_out) {
        setvbuf(mtree_out, mtree_buf, _IOFBF, sizeof(mtree_buf));
    }
    if (fork_it) {
        clean = run_children(pick, only);
    } else {
        install_fatal_handlers();
        child_main(pick, 0, 1, only);
    }

    printf("summary:\n");
    for (size_t k = 0; k < NR_CASES; k++) {
        if (pick[k]) {
            summarise((int)k, &t);
        }
    }
    harness_cur_name = "clean-exit";
    if (clean) {
        harness_passed++;
        printf("ok clean-exit\n");
    } else {
        harness_failed++;
        fprintf(stderr, "not ok clean-exit\n");
    }
    print_sites();
    printf("total: %lu failures injected: %lu reported as errors, %lu "
           "survived, %lu crashed; %lu case(s) failed; %.2f s\n",
           t.injected, t.errors, t.survived, t.crashes, t.cases_failed,
           now_s() - t0);
    munmap(sh, sizeof(*sh));
    return harness_done();
}
