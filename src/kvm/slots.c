/* SPDX-License-Identifier: MIT */
/*
 * kvm/slots.c - memslots that mirror a memory space's flat view.
 *
 * The listener turns each range it hears of into the slot it wants: whole
 * pages of a range with host memory, KVM_MEM_READONLY for ROM and romd,
 * KVM_MEM_LOG_DIRTY_PAGES when a client logs it. region_del, region_add,
 * log_start and log_stop only queue that wish; the commit applies the
 * queue in one pass under kvm->lock:
 *
 *  1. each deletion is paired with an addition of the same pages and host
 *     memory, if the commit has one: same flags, the slot stays as it is;
 *     only KVM_MEM_LOG_DIRTY_PAGES differs, its flags change in place;
 *  2. flag changes of ranges that stayed (log_start / log_stop);
 *  3. the other deletions (a slot is synced into the dirty bitmaps before
 *     it goes or stops logging);
 *  4. the other additions: a slot still overlapping one is cut (the old
 *     one goes, its prefix and suffix come back), then a number is taken
 *     (recycled ones first) and the slot is registered.
 *
 * Slots are found by address in an interval tree per space and by number
 * in an array, so a change costs O(log n) of bookkeeping plus its ioctls:
 * a one-range change needs at most three KVM_SET_USER_MEMORY_REGION calls
 * (the old slot goes, its prefix and suffix come back). A listener cannot
 * fail a commit: a slot that cannot be made is left out (its range traps
 * and works through the access path, slowly) and the failure is kept for
 * gm_kvm_last_error(); a slot the kernel would not delete stays in the
 * tables (and its memory referenced), since the kernel still maps it. Any
 * such failure, like an allocation failure while queueing (which loses
 * the queue), makes the next commit rebuild the wish list from the whole
 * view, which repairs the slots once the kernel agrees again.
 *
 * In ring mode a deleted slot keeps its number (a zombie) until the next
 * harvest of the dirty rings, so entries the kernel pushed before the
 * deletion still find their pages and a recycled number never takes
 * them.
 */
#include <stdio.h>
#include <string.h>

#include "kvm.h"

#define PAGE 4096ull

/* The slot a section wants, if any. */
static bool want_slot(gm_kvm *kvm, const struct gm_section *s,
                      struct gm_kop *op)
{
    gm_region *r = s->region;
    uint8_t *host = r ? gm_region_ram_ptr(r) : NULL;
    enum gm_region_kind kind;
    gm_u128 start, end;
    bool ro;

    if (!host) {
        return false;
    }
    kind = gm_region_kind(r);
    if (kind == GM_REGION_ROM_DEVICE && !s->romd) {
        return false; /* out of romd mode: every access traps */
    }
    ro = s->readonly || kind == GM_REGION_ROM_DEVICE;
    if (ro && !kvm->readonly_mem) {
        return false; /* no read-only slots: trap, so writes are refused */
    }
    start = ((gm_u128)s->addr + PAGE - 1) & ~(gm_u128)(PAGE - 1);
    end = ((gm_u128)s->addr + s->size) & ~(gm_u128)(PAGE - 1);
    if (end <= start) {
        return false;
    }
    op->gpa = (uint64_t)start;
    op->size = (uint64_t)(end - start);
    op->offset = s->offset_in_region + (op->gpa - s->addr);
    op->host = host + op->offset;
    if ((uintptr_t)op->host & (PAGE - 1)) {
        return false; /* host memory not page-aligned with the guest's */
    }
    op->flags = (s->dirty_log_mask ? KVM_MEM_LOG_DIRTY_PAGES : 0) |
                (ro ? KVM_MEM_READONLY : 0);
    op->mask = s->dirty_log_mask;
    op->region = r;
    return true;
}

static void queue(struct gm_kspace *ks, enum gm_kop_kind kind,
                  const struct gm_section *s)
{
    struct gm_kop op;

    if (ks->resync || !want_slot(ks->kvm, s, &op)) {
        return;
    }
    op.kind = kind;
    if (gm__vec_push(&ks->ops, op)) {
        ks->resync = true; /* the commit rebuilds from the view */
        return;
    }
    gm_region_ref(op.region);
}

static void on_add(void *o, const struct gm_section *s)
{
    queue(o, GM_KOP_ADD, s);
}

static void on_del(void *o, const struct gm_section *s)
{
    queue(o, GM_KOP_DEL, s);
}

static void on_log(void *o, const struct gm_section *s, unsigned old_mask,
                   unsigned new_mask)
{
    (void)old_mask;
    (void)new_mask;
    queue(o, GM_KOP_FLAGS, s);
}

/* Tell KVM what slot s is now (size 0: gone). */
static int set_region(struct gm_kslot *s, uint64_t size)
{
    gm_kvm *kvm = s->ks->kvm;
    struct kvm_userspace_memory_region m = {
        .slot = s->id | (uint32_t)s->ks->as_id << 16,
        .flags = s->flags,
        .guest_phys_addr = s->gpa,
        .memory_size = size,
        .userspace_addr = (uint64_t)(uintptr_t)s->host,
    };

    kvm->stats.set_memory_region++;
    return gm__kvm_vm_ioctl(kvm, KVM_SET_USER_MEMORY_REGION, &m);
}

struct gm_kslot *gm__kvm_slot_by_id(gm_kvm *kvm, unsigned as_id, uint32_t id)
{
    for (struct gm_kspace *ks = kvm->spaces; ks; ks = ks->next) {
        if (!ks->io && ks->as_id == as_id && id < ks->next_id &&
            ks->by_id[id]) {
            return ks->by_id[id];
        }
    }
    for (struct gm_kslot *z = kvm->zombies; z; z = z->zombie_next) {
        if (z->ks->as_id == as_id && z->id == id) {
            return z;
        }
    }
    return NULL;
}

static void slot_free(struct gm_kslot *s)
{
    gm_region_unref(s->region);
    free(s->reported);
    free(s);
}

static void release_id(struct gm_kspace *ks, uint32_t id)
{
    ks->by_id[id] = NULL;
    ks->free_ids[ks->nfree++] = id;
}

void gm__kvm_bury_zombies(gm_kvm *kvm)
{
    while (kvm->zombies) {
        struct gm_kslot *z = kvm->zombies;

        kvm->zombies = z->zombie_next;
        release_id(z->ks, z->id);
        slot_free(z);
    }
}

/*
 * Take a slot out of KVM and of the tables (synced first). If the kernel
 * refuses, it still maps the slot: it stays in the tables, and the next
 * commit tries again.
 */
static int slot_delete(struct gm_kslot *s)
{
    struct gm_kspace *ks = s->ks;
    gm_kvm *kvm = ks->kvm;
    int r;

    if (s->flags & KVM_MEM_LOG_DIRTY_PAGES) {
        gm__kvm_slot_sync(s);
    }
    r = set_region(s, 0);
    if (r) {
        gm__kvm_fail(kvm, r, "KVM: deleting slot %u at 0x%llx: %s", s->id,
                     (unsigned long long)s->gpa, strerror(-r));
        ks->resync = true;
        return r;
    }
    gm__itree_remove(&ks->tree, &s->n);
    ks->nslots--;
    kvm->stats.slots--;
    if (kvm->dirty_mode == GM_KVM_DIRTY_RING &&
        (s->flags & KVM_MEM_LOG_DIRTY_PAGES)) {
        s->zombie_next = kvm->zombies; /* its number waits for a harvest */
        kvm->zombies = s;
        return 0;
    }
    release_id(ks, s->id);
    slot_free(s);
    return 0;
}

/* Change a slot's flags in place (only the dirty-logging flag may). */
static void slot_set_flags(struct gm_kslot *s, uint32_t flags, uint8_t mask)
{
    gm_kvm *kvm = s->ks->kvm;
    uint32_t old = s->flags;
    int r;

    if (old == flags) {
        s->mask = mask; /* other clients, same flag */
        return;
    }
    if (old & KVM_MEM_LOG_DIRTY_PAGES) {
        gm__kvm_slot_sync(s); /* what it logged, for the old clients */
    }
    s->flags = flags;
    r = set_region(s, s->size);
    if (r) {
        s->flags = old;
        s->ks->resync = true;
        gm__kvm_fail(kvm, r, "KVM: changing the flags of slot %u at 0x%llx: "
                     "%s", s->id, (unsigned long long)s->gpa, strerror(-r));
        return;
    }
    free(s->reported);
    s->reported = NULL;
    s->mask = mask;
}

static int take_id(struct gm_kspace *ks, uint32_t *id)
{
    gm_kvm *kvm = ks->kvm;

    if (ks->nfree) {
        *id = ks->free_ids[--ks->nfree];
        return 0;
    }
    if (ks->next_id >= kvm->max_slots) {
        return -ENOSPC;
    }
    if (ks->next_id == ks->cap) {
        uint32_t n = ks->cap ? 2 * ks->cap : 16;
        struct gm_kslot **b;
        uint32_t *f;

        n = n < kvm->max_slots ? n : kvm->max_slots;
        b = realloc(ks->by_id, n * sizeof(*b));
        if (!b) {
            return -ENOMEM;
        }
        ks->by_id = b;
        f = realloc(ks->free_ids, n * sizeof(*f));
        if (!f) {
            return -ENOMEM;
        }
        ks->free_ids = f;
        ks->cap = n;
    }
    ks->by_id[ks->next_id] = NULL;
    *id = ks->next_id++;
    return 0;
}

/* Make and register a slot for op (its region reference is taken over). */
static void slot_create(struct gm_kspace *ks, const struct gm_kop *op)
{
    gm_kvm *kvm = ks->kvm;
    struct gm_kslot *s = calloc(1, sizeof(*s));
    int r;

    r = s ? take_id(ks, &s->id) : -ENOMEM;
    if (r) {
        gm__kvm_fail(kvm, r, r == -ENOSPC
                                 ? "KVM: no memslot left for 0x%llx-0x%llx "
                                   "(the limit is %u per address space)"
                                 : "KVM: out of memory for the slot at "
                                   "0x%llx-0x%llx (limit %u)",
                     (unsigned long long)op->gpa,
                     (unsigned long long)(op->gpa + op->size - 1),
                     kvm->max_slots);
        ks->resync = true; /* a later commit may find room */
        free(s);
        gm_region_unref(op->region);
        return;
    }
    s->ks = ks;
    s->gpa = op->gpa;
    s->size = op->size;
    s->host = op->host;
    s->flags = op->flags;
    s->mask = op->mask;
    s->region = op->region;
    s->offset = op->offset;
    s->n.start = op->gpa;
    s->n.end = (gm_u128)op->gpa + op->size;
    r = set_region(s, s->size);
    if (r) {
        gm__kvm_fail(kvm, r, "KVM: registering slot %u at 0x%llx-0x%llx: %s",
                     s->id, (unsigned long long)s->gpa,
                     (unsigned long long)(s->gpa + s->size - 1),
                     strerror(-r));
        ks->resync = true;
        ks->free_ids[ks->nfree++] = s->id;
        slot_free(s);
        return;
    }
    ks->by_id[s->id] = s;
    gm__itree_insert(&ks->tree, &s->n);
    ks->nslots++;
    kvm->stats.slots++;
}

struct overlap {
    struct gm_kslot *v[4];
    size_t n;
    bool more;
};

static void collect_cb(struct gm_itree_node *n, void *opaque)
{
    struct overlap *o = opaque;

    if (o->n < 4) {
        o->v[o->n++] = caa_container_of(n, struct gm_kslot, n);
    } else {
        o->more = true;
    }
}

/* The slot exactly at [gpa, gpa + size), or NULL. */
static struct gm_kslot *find_exact(struct gm_kspace *ks, uint64_t gpa,
                                   uint64_t size)
{
    struct overlap o = {.n = 0};

    gm__itree_query(ks->tree, gpa, (gm_u128)gpa + 1, collect_cb, &o);
    for (size_t i = 0; i < o.n; i++) {
        if (o.v[i]->gpa == gpa && o.v[i]->size == size) {
            return o.v[i];
        }
    }
    return NULL;
}

/*
 * Make room for op: any slot overlapping it goes, and the parts of it
 * outside op come back as slots of their own (its prefix and suffix).
 * Return: 0, or the error of a deletion the kernel refused (op would
 * overlap that slot: it must not be made).
 */
static int cut_overlaps(struct gm_kspace *ks, const struct gm_kop *op)
{
    for (;;) {
        struct overlap o = {.n = 0};
        struct gm_kslot *s;
        struct gm_kop pre, suf;
        bool has_pre, has_suf;

        gm__itree_query(ks->tree, op->gpa, (gm_u128)op->gpa + op->size,
                        collect_cb, &o);
        if (!o.n) {
            return 0;
        }
        s = o.v[0];
        has_pre = s->gpa < op->gpa;
        has_suf = s->gpa + s->size > op->gpa + op->size;
        pre = (struct gm_kop){GM_KOP_ADD, s->gpa, op->gpa - s->gpa, s->host,
                              s->flags, s->mask, s->region, s->offset};
        suf.kind = GM_KOP_ADD;
        suf.gpa = op->gpa + op->size;
        suf.size = s->gpa + s->size - suf.gpa;
        suf.host = s->host + (suf.gpa - s->gpa);
        suf.flags = s->flags;
        suf.mask = s->mask;
        suf.region = s->region;
        suf.offset = s->offset + (suf.gpa - s->gpa);
        /* References first: the deletion may drop the slot's last one. */
        if (has_pre) {
            gm_region_ref(pre.region);
        }
        if (has_suf) {
            gm_region_ref(suf.region);
        }
        if (slot_delete(s)) {
            if (has_pre) {
                gm_region_unref(pre.region);
            }
            if (has_suf) {
                gm_region_unref(suf.region);
            }
            return -EBUSY;
        }
        if (has_pre) {
            slot_create(ks, &pre);
        }
        if (has_suf) {
            slot_create(ks, &suf);
        }
    }
}

static int cmp_op_gpa(const void *a, const void *b)
{
    const struct gm_kop *x = a, *y = b;

    return x->gpa < y->gpa ? -1 : x->gpa > y->gpa;
}

/* The unconsumed addition of adds[0, n) exactly like del, or NULL. */
static struct gm_kop *find_pair(struct gm_kop *adds, size_t n,
                                const struct gm_kop *del)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (adds[mid].gpa < del->gpa) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    for (; lo < n && adds[lo].gpa == del->gpa; lo++) {
        if (adds[lo].kind == GM_KOP_ADD && adds[lo].size == del->size &&
            adds[lo].host == del->host) {
            return &adds[lo];
        }
    }
    return NULL;
}

static int rebuild_cb(const struct gm_section *s, void *opaque)
{
    queue(opaque, GM_KOP_ADD, s);
    return 0;
}

/*
 * An op was lost: wish for exactly the current view. Every slot is queued
 * for deletion and every range for addition; the pairing keeps the slots
 * that are right.
 */
static void rebuild(struct gm_kspace *ks)
{
    gm_flatview *fv;

    for (size_t i = 0; i < ks->ops.n; i++) {
        gm_region_unref(ks->ops.v[i].region);
    }
    ks->ops.n = 0;
    ks->resync = false;
    for (uint32_t id = 0; id < ks->next_id; id++) {
        struct gm_kslot *s = ks->by_id[id];

        /* Skip zombies: out of the tree, their numbers wait for a harvest. */
        if (s && find_exact(ks, s->gpa, s->size) == s) {
            struct gm_kop op = {GM_KOP_DEL, s->gpa, s->size, s->host,
                                s->flags, s->mask, s->region, s->offset};

            if (gm__vec_push(&ks->ops, op)) {
                goto fail;
            }
            gm_region_ref(s->region);
        }
    }
    fv = gm_space_get_flatview(ks->as);
    gm_flatview_foreach(fv, rebuild_cb, ks);
    gm_flatview_unref(fv);
    if (!ks->resync) {
        return;
    }
fail:
    gm__kvm_fail(ks->kvm, -ENOMEM, "KVM: out of memory: the memslots of "
                 "'%s' may be stale", gm_space_name(ks->as));
    ks->resync = true; /* try again at the next commit */
}

static void apply(struct gm_kspace *ks)
{
    struct gm_kop *v;
    size_t n, nadd = 0;

    if (ks->resync && !ks->detaching) {
        rebuild(ks); /* (detaching: gm__kspace_clear() follows) */
    }
    v = ks->ops.v;
    n = ks->ops.n;
    /* Additions sorted by address at the front, the rest after. */
    for (size_t i = 0; i < n; i++) {
        if (v[i].kind == GM_KOP_ADD) {
            struct gm_kop t = v[nadd];

            v[nadd++] = v[i];
            v[i] = t;
        }
    }
    if (nadd > 1) {
        qsort(v, nadd, sizeof(*v), cmp_op_gpa); /* v may be NULL if n == 0 */
    }

    /* 1 and 3: deletions, kept or changed in place when re-added. */
    for (size_t i = nadd; i < n; i++) {
        struct gm_kslot *s;
        struct gm_kop *add;

        if (v[i].kind != GM_KOP_DEL) {
            continue;
        }
        s = find_exact(ks, v[i].gpa, v[i].size);
        if (!s) {
            continue; /* never made (left out, or trimmed away) */
        }
        add = find_pair(v, nadd, &v[i]);
        if (add && !((add->flags ^ s->flags) & ~KVM_MEM_LOG_DIRTY_PAGES)) {
            add->kind = GM_KOP_FLAGS; /* consumed */
            gm_region_unref(s->region);
            s->region = gm_region_ref(add->region);
            s->offset = add->offset;
            slot_set_flags(s, add->flags, add->mask);
            continue;
        }
        slot_delete(s);
    }
    /* 2: flag changes of ranges that stayed. */
    for (size_t i = nadd; i < n; i++) {
        struct gm_kslot *s;

        if (v[i].kind == GM_KOP_FLAGS &&
            (s = find_exact(ks, v[i].gpa, v[i].size)) != NULL) {
            slot_set_flags(s, v[i].flags, v[i].mask);
        }
    }
    /* 4: additions. */
    for (size_t i = 0; i < nadd; i++) {
        if (v[i].kind == GM_KOP_ADD && !cut_overlaps(ks, &v[i])) {
            slot_create(ks, &v[i]); /* takes the region reference */
            v[i].region = NULL;
        }
    }
    for (size_t i = 0; i < n; i++) {
        gm_region_unref(v[i].region);
    }
    ks->ops.n = 0;
}

static void on_commit(void *o)
{
    struct gm_kspace *ks = o;

    pthread_mutex_lock(&ks->kvm->lock);
    apply(ks);
    pthread_mutex_unlock(&ks->kvm->lock);
}

void gm__kspace_clear(struct gm_kspace *ks)
{
    for (uint32_t id = 0; id < ks->next_id; id++) {
        struct gm_kslot *s = ks->by_id[id];

        if (s && find_exact(ks, s->gpa, s->size) == s) {
            slot_delete(s);
        }
    }
}

void gm__kspace_free(struct gm_kspace *ks)
{
    for (uint32_t id = 0; id < ks->next_id; id++) {
        if (ks->by_id[id]) {
            slot_free(ks->by_id[id]);
        }
    }
    for (size_t i = 0; i < ks->ops.n; i++) {
        gm_region_unref(ks->ops.v[i].region);
    }
    gm__vec_free(&ks->ops);
    free(ks->by_id);
    free(ks->free_ids);
    free(ks);
}

struct foreach_ctx {
    int (*fn)(const struct gm_kvm_slot_info *, void *);
    void *opaque;
    struct gm_kspace *ks;
    int ret;
};

static void foreach_cb(struct gm_itree_node *n, void *opaque)
{
    struct foreach_ctx *c = opaque;
    struct gm_kslot *s = caa_container_of(n, struct gm_kslot, n);
    struct gm_kvm_slot_info i = {c->ks->as_id, s->id,  s->gpa,
                                 s->size,      s->host, s->flags,
                                 s->region,    s->offset};

    if (!c->ret) {
        c->ret = c->fn(&i, c->opaque);
    }
}

int gm_kvm_foreach_slot(gm_kvm *kvm,
                        int (*fn)(const struct gm_kvm_slot_info *, void *),
                        void *opaque)
{
    struct foreach_ctx c = {fn, opaque, NULL, 0};

    if (!kvm || !fn) {
        return -EINVAL;
    }
    pthread_mutex_lock(&kvm->lock);
    for (unsigned as_id = 0; as_id < kvm->nr_as && !c.ret; as_id++) {
        for (struct gm_kspace *ks = kvm->spaces; ks; ks = ks->next) {
            if (!ks->io && ks->as_id == as_id) {
                c.ks = ks;
                gm__itree_query(ks->tree, 0, GM_SIZE_2_64, foreach_cb, &c);
            }
        }
    }
    pthread_mutex_unlock(&kvm->lock);
    return c.ret;
}

const struct gm_listener_ops gm__kvm_mem_ops = {
    .commit = on_commit,
    .region_add = on_add,
    .region_del = on_del,
    .log_start = on_log,
    .log_stop = on_log,
    .log_sync = gm__kvm_log_sync,
    .log_clear = gm__kvm_log_clear,
    .eventfd_add = gm__kvm_eventfd_add,
    .eventfd_del = gm__kvm_eventfd_del,
    .coalesced_io_add = gm__kvm_coalesced_add,
    .coalesced_io_del = gm__kvm_coalesced_del,
};
