/* SPDX-License-Identifier: MIT */
/*
 * test-kvm-dirty.c - KVM dirty logs into guestmem's dirty bitmaps
 * (src/kvm/dirty.c) against the fake kernel of fake-kvm.h.
 *
 * The fake keeps each logging slot's bitmap as the kernel does; the test
 * plays the guest with fk_guest_write() and checks, with gm_dirty_test(),
 * that the pages it wrote reach the bitmaps of exactly the clients that
 * log their range: on gm_space_log_sync() in both bitmap modes, before
 * logging stops and before a logging slot goes (no dirty bit lost).
 * With manual protection, a client's clear sends KVM_CLEAR_DIRTY_LOG for
 * exactly the pages KVM reported and no others (the fake flags a clear of
 * a page dirty but never reported as a lost write), in pieces the kernel
 * accepts (64-page aligned, within the slot), so a page written after a
 * sync and before the clear is reported by the next sync. A failed
 * KVM_GET_DIRTY_LOG is reported and loses nothing (the slot's pages count
 * as dirty). In dirty-ring mode no bitmap ioctl is made, and a logging
 * slot's number waits for a harvest before it is reused.
 */
#include "kvm-helpers.h"

#define VGA GM_DIRTY_VGA
#define CODE GM_DIRTY_CODE
#define MIG GM_DIRTY_MIGRATION

static uint64_t ra(gm_region *r, uint64_t page)
{
    return gm_region_ram_addr(r) + page * PG;
}

static bool dirty(struct km *m, gm_region *r, uint64_t page,
                  enum gm_dirty_client c)
{
    return gm_dirty_test(m->sys, ra(r, page), PG, c);
}

/* Clear every client's bits of @r (logging that starts marks all dirty). */
static void clean(struct km *m, gm_region *r)
{
    uint64_t size = (uint64_t)gm_region_size(r);

    for (int c = 0; c < GM_DIRTY_NR; c++) {
        CHECK_EQ_INT(gm_dirty_clear(m->sys, ra(r, 0), size,
                                    (enum gm_dirty_client)c, NULL), 0);
    }
}

static void guest_touch(struct km *m, uint64_t gpa)
{
    CHECK_EQ_U64(fk_guest_write(&m->fk, 0, gpa, "w", 1), 0);
}

/* Without manual protection: KVM_GET_DIRTY_LOG returns and re-protects. */
static void test_sync_bitmap(void)
{
    struct gm_kvm_opts o = {.no_manual_protect = true};
    struct km m;
    gm_region *a, *b;
    uint32_t id = 99;

    km_init(&m, NULL, &o);
    a = km_add(m.root, GM_REGION_RAM, "a", 0x100000, 64 * PG, 0);
    b = km_add(m.root, GM_REGION_RAM, "b", 0x200000, 16 * PG, 0);
    CHECK_EQ_INT(gm_region_set_log(a, true, VGA, NULL), 0);
    CHECK_EQ_INT(gm_region_set_log(a, true, CODE, NULL), 0);
    CHECK_EQ_INT(gm_region_set_log(b, true, CODE, NULL), 0);
    clean(&m, a);
    clean(&m, b);
    guest_touch(&m, 0x100000 + 1 * PG);
    guest_touch(&m, 0x100000 + 5 * PG + 7);
    guest_touch(&m, 0x100000 + 63 * PG);
    guest_touch(&m, 0x200000 + 2 * PG);
    CHECK(!dirty(&m, a, 1, VGA)); /* KVM holds it until a sync */
    CHECK_EQ_INT(gm_space_log_sync(m.as, NULL, NULL), 0);
    CHECK_EQ_U64(m.fk.calls[FK_GET_DIRTY_LOG], 2);
    for (uint64_t p = 0; p < 64; p++) {
        bool w = p == 1 || p == 5 || p == 63;

        CHECK_EQ_INT(dirty(&m, a, p, VGA), w);
        CHECK_EQ_INT(dirty(&m, a, p, CODE), w);
        CHECK(!dirty(&m, a, p, MIG));
    }
    /* b is logged by CODE only. */
    CHECK(dirty(&m, b, 2, CODE) && !dirty(&m, b, 2, VGA));
    CHECK(!dirty(&m, b, 3, CODE));
    /* The kernel forgot what it returned. */
    CHECK(fk_slot_at(&m.fk, 0, 0x100000, &id) != NULL);
    CHECK(!fk_page_dirty(&m.fk, 0, id, 1));
    CHECK_EQ_U64(m.fk.calls[FK_CLEAR_DIRTY_LOG], 0);
    /* One region only: its slot alone is synced. */
    CHECK_EQ_INT(gm_space_log_sync(m.as, b, NULL), 0);
    CHECK_EQ_U64(m.fk.calls[FK_GET_DIRTY_LOG], 3);
    km_fini(&m);
}

/*
 * Logging stops, or the logging range goes: what KVM logged is synced
 * first (the kernel drops the bitmap with the flag or the slot).
 */
static void test_sync_before_stop_and_delete(void)
{
    for (int manual = 0; manual < 2; manual++) {
        struct gm_kvm_opts o = {.no_manual_protect = !manual};
        struct km m;
        gm_region *a;
        uint64_t gets;

        km_init(&m, NULL, &o);
        a = km_add(m.root, GM_REGION_RAM, "a", 0x100000, 32 * PG, 0);
        CHECK_EQ_INT(gm_region_set_log(a, true, VGA, NULL), 0);
        CHECK_EQ_INT(gm_space_log_sync(m.as, NULL, NULL), 0);
        clean(&m, a);
        guest_touch(&m, 0x100000 + 3 * PG);
        gets = m.fk.calls[FK_GET_DIRTY_LOG];
        CHECK_EQ_INT(gm_region_set_log(a, false, VGA, NULL), 0);
        CHECK_EQ_U64(m.fk.calls[FK_GET_DIRTY_LOG], gets + 1);
        CHECK(dirty(&m, a, 3, VGA));
        CHECK(!dirty(&m, a, 4, VGA));
        CHECK(fk_slot_at(&m.fk, 0, 0x100000, NULL)->flags == 0);

        /* Now the range goes while logging. */
        CHECK_EQ_INT(gm_region_set_log(a, true, CODE, NULL), 0);
        CHECK_EQ_INT(gm_space_log_sync(m.as, NULL, NULL), 0);
        clean(&m, a);
        guest_touch(&m, 0x100000 + 9 * PG);
        gm_region_ref(a);
        gets = m.fk.calls[FK_GET_DIRTY_LOG];
        CHECK_EQ_INT(gm_region_del_subregion(m.root, a, NULL), 0);
        CHECK_EQ_U64(m.fk.calls[FK_GET_DIRTY_LOG], gets + 1);
        CHECK(fk_slot_at(&m.fk, 0, 0x100000, NULL) == NULL);
        CHECK(dirty(&m, a, 9, CODE));
        CHECK(!dirty(&m, a, 8, CODE));
        gm_region_unref(a);
        CHECK_EQ_U64(fk_rejected_total(&m.fk), 0);
        km_fini(&m);
    }
}

/*
 * Manual protection: reported pages are cleared in KVM only when a client
 * clears them, and only those: a page written after the sync survives.
 */
static void test_manual_protect(void)
{
    struct km m;
    gm_region *a;
    gm_dirty_snapshot *snap;
    uint32_t id = 99;

    km_init(&m, NULL, NULL);
    a = km_add(m.root, GM_REGION_RAM, "a", 0x100000, 128 * PG, 0);
    CHECK_EQ_INT(gm_region_set_log(a, true, VGA, NULL), 0);
    CHECK(fk_slot_at(&m.fk, 0, 0x100000, &id) != NULL);
    /* KVM_DIRTY_LOG_INITIALLY_SET: everything starts dirty in KVM. */
    CHECK(fk_page_dirty(&m.fk, 0, id, 0) && fk_page_dirty(&m.fk, 0, id, 127));
    CHECK_EQ_INT(gm_space_log_sync(m.as, NULL, NULL), 0);
    CHECK(fk_page_dirty(&m.fk, 0, id, 5)); /* reported, not cleared */
    clean(&m, a);
    CHECK(m.fk.calls[FK_CLEAR_DIRTY_LOG] >= 1);
    for (uint64_t p = 0; p < 128; p++) {
        CHECK(!fk_page_dirty(&m.fk, 0, id, p));
    }
    /* Written, synced, then one more page written before the clear. */
    guest_touch(&m, 0x100000 + 3 * PG);
    guest_touch(&m, 0x100000 + 70 * PG);
    CHECK_EQ_INT(gm_space_log_sync(m.as, NULL, NULL), 0);
    guest_touch(&m, 0x100000 + 100 * PG);
    snap = gm_dirty_snapshot_and_clear(m.sys, ra(a, 0), 128 * PG, VGA, NULL);
    CHECK(snap != NULL);
    CHECK_EQ_U64(gm_dirty_snapshot_count(snap), 2);
    CHECK(gm_dirty_snapshot_test(snap, ra(a, 3), PG));
    CHECK(gm_dirty_snapshot_test(snap, ra(a, 70), PG));
    gm_dirty_snapshot_free(snap);
    CHECK(!fk_page_dirty(&m.fk, 0, id, 3) && !fk_page_dirty(&m.fk, 0, id, 70));
    CHECK(fk_page_dirty(&m.fk, 0, id, 100));
    CHECK(!dirty(&m, a, 100, VGA));
    CHECK_EQ_INT(gm_space_log_sync(m.as, NULL, NULL), 0);
    CHECK(dirty(&m, a, 100, VGA));
    CHECK(!dirty(&m, a, 3, VGA));
    CHECK_EQ_U64(m.fk.misuse, 0);
    CHECK_EQ_U64(fk_rejected_total(&m.fk), 0);
    km_fini(&m);
}

/* Clears of odd ranges of a big slot: the kernel's alignment rules. */
static void test_manual_clear_ranges(void)
{
    const uint64_t np = 10000; /* not a multiple of 64 */
    struct km m;
    gm_region *a;
    uint32_t id = 99;
    uint64_t pages[] = {0, 63, 64, 99, 100, 101, 4095, 4096, 4999, 5000,
                        9983, 9984, 9990, 9999};

    km_init(&m, NULL, NULL);
    a = km_add(m.root, GM_REGION_RAM, "big", 0x10000000, np * PG, 0);
    CHECK_EQ_INT(gm_region_set_log(a, true, MIG, NULL), 0);
    CHECK_EQ_INT(gm_space_log_sync(m.as, NULL, NULL), 0);
    clean(&m, a);
    CHECK(fk_slot_at(&m.fk, 0, 0x10000000, &id) != NULL);
    for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
        guest_touch(&m, 0x10000000 + pages[i] * PG);
    }
    CHECK_EQ_INT(gm_space_log_sync(m.as, NULL, NULL), 0);
    /* Clear pages [100, 5000) and [9990, 10000). */
    CHECK_EQ_INT(gm_dirty_clear(m.sys, ra(a, 100), 4900 * PG, MIG, NULL), 0);
    CHECK_EQ_INT(gm_dirty_clear(m.sys, ra(a, 9990), 10 * PG, MIG, NULL), 0);
    for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
        uint64_t p = pages[i];
        bool cleared = (p >= 100 && p < 5000) || p >= 9990;

        CHECK_EQ_INT(fk_page_dirty(&m.fk, 0, id, p), !cleared);
        CHECK_EQ_INT(dirty(&m, a, p, MIG), !cleared);
    }
    CHECK_EQ_U64(fk_rejected_total(&m.fk), 0);
    if (fk_rejected_total(&m.fk)) {
        fprintf(stderr, "  %s\n", m.fk.last_reject);
    }
    printf("# %" PRIu64 " KVM_CLEAR_DIRTY_LOG calls\n",
           m.fk.calls[FK_CLEAR_DIRTY_LOG]);
    km_fini(&m);
}

/* A failed KVM_GET_DIRTY_LOG is reported and loses no page. */
static void test_sync_failure(void)
{
    for (int manual = 0; manual < 2; manual++) {
        struct gm_kvm_opts o = {.no_manual_protect = !manual};
        struct km m;
        gm_region *a;

        km_init(&m, NULL, &o);
        a = km_add(m.root, GM_REGION_RAM, "a", 0x100000, 16 * PG, 0);
        CHECK_EQ_INT(gm_region_set_log(a, true, VGA, NULL), 0);
        CHECK_EQ_INT(gm_space_log_sync(m.as, NULL, NULL), 0);
        clean(&m, a);
        guest_touch(&m, 0x100000 + 2 * PG);
        fk_inject(&m.fk, FK_GET_DIRTY_LOG, 1, EFAULT);
        CHECK_EQ_INT(gm_space_log_sync(m.as, NULL, NULL), 0);
        CHECK_EQ_INT(km_last_error(&m, "KVM_GET_DIRTY_LOG"), -EFAULT);
        CHECK(dirty(&m, a, 2, VGA));
        /* The same when logging stops. */
        clean(&m, a);
        CHECK_EQ_INT(gm_space_log_sync(m.as, NULL, NULL), 0);
        clean(&m, a);
        guest_touch(&m, 0x100000 + 5 * PG);
        fk_inject(&m.fk, FK_GET_DIRTY_LOG, 1, EFAULT);
        CHECK_EQ_INT(gm_region_set_log(a, false, VGA, NULL), 0);
        CHECK_EQ_INT(km_last_error(&m, "KVM_GET_DIRTY_LOG"), -EFAULT);
        CHECK(dirty(&m, a, 5, VGA));
        km_fini(&m);
    }
}

/*
 * Dirty-ring mode: no bitmap ioctl; a deleted logging slot keeps its
 * number until the rings are harvested; detach and close with such a
 * slot pending.
 */
static void test_ring_mode(void)
{
    struct gm_kvm_opts o = {.dirty_mode = GM_KVM_DIRTY_RING};
    struct km m;
    gm_region *a, *b, *c;
    uint32_t ida = 99, idb = 99, idc = 99;

    km_init(&m, NULL, &o);
    a = km_add(m.root, GM_REGION_RAM, "a", 0x100000, 16 * PG, 0);
    CHECK_EQ_INT(gm_region_set_log(a, true, VGA, NULL), 0);
    CHECK(fk_slot_at(&m.fk, 0, 0x100000, &ida) != NULL);
    CHECK(fk_slot_at(&m.fk, 0, 0x100000, NULL)->flags ==
          KVM_MEM_LOG_DIRTY_PAGES);
    CHECK_EQ_INT(gm_space_log_sync(m.as, NULL, NULL), 0);
    CHECK_EQ_U64(m.fk.calls[FK_GET_DIRTY_LOG], 0);
    CHECK_EQ_INT(gm_region_del_subregion(m.root, a, NULL), 0);
    b = km_add(m.root, GM_REGION_RAM, "b", 0x200000, 16 * PG, 0);
    CHECK(fk_slot_at(&m.fk, 0, 0x200000, &idb) != NULL);
    CHECK(idb != ida);
    CHECK_EQ_INT(gm_region_set_log(b, true, VGA, NULL), 0);
    CHECK_EQ_INT(gm_space_log_sync(m.as, NULL, NULL), 0); /* harvests */
    c = km_add(m.root, GM_REGION_RAM, "c", 0x300000, 16 * PG, 0);
    CHECK(fk_slot_at(&m.fk, 0, 0x300000, &idc) != NULL);
    CHECK_EQ_U64(idc, ida);
    KM_CHECK_SLOTS(&m);
    /* Detach with a deleted logging slot still waiting for a harvest. */
    CHECK_EQ_INT(gm_region_del_subregion(m.root, b, NULL), 0);
    CHECK_EQ_INT(gm_kvm_detach(m.kvm, m.as, NULL), 0);
    CHECK_EQ_U64(fk_slot_count(&m.fk, 0), 0);
    CHECK_EQ_INT(gm_kvm_attach_memory(m.kvm, m.as, 0, NULL), 0);
    CHECK_EQ_INT(gm_region_set_log(c, true, CODE, NULL), 0);
    CHECK_EQ_INT(gm_region_del_subregion(m.root, c, NULL), 0);
    CHECK_EQ_U64(m.fk.calls[FK_GET_DIRTY_LOG] +
                 m.fk.calls[FK_CLEAR_DIRTY_LOG], 0);
    CHECK_EQ_U64(fk_rejected_total(&m.fk), 0);
    km_fini(&m); /* close with one pending too */
}

/*
 * Ring mode: a rebuild of the slots (after a failed creation) while a
 * deleted logging slot of the same range waits for a harvest keeps the
 * live slot: the zombie is not mistaken for it.
 */
static void test_ring_rebuild_with_zombie(void)
{
    struct gm_kvm_opts o = {.dirty_mode = GM_KVM_DIRTY_RING};
    struct km m;
    gm_region *a;
    uint64_t before;

    km_init(&m, NULL, &o);
    a = km_add(m.root, GM_REGION_RAM, "a", 0x100000, 16 * PG, 0);
    CHECK_EQ_INT(gm_region_set_log(a, true, VGA, NULL), 0);
    gm_region_ref(a);
    CHECK_EQ_INT(gm_region_del_subregion(m.root, a, NULL), 0); /* zombie */
    CHECK_EQ_INT(gm_region_add_subregion(m.root, 0x100000, a, NULL), 0);
    gm_region_unref(a);
    CHECK(km_slot(&m, 0x100000, NULL) != NULL);
    /* A failed creation: the next commit rebuilds from the view. */
    fk_inject(&m.fk, FK_SET_USER_MEMORY_REGION, 1, ENOMEM);
    km_add(m.root, GM_REGION_RAM, "b", 0x200000, 16 * PG, 0);
    CHECK_EQ_INT(km_last_error(&m, "registering slot"), -ENOMEM);
    before = m.fk.calls[FK_SET_USER_MEMORY_REGION];
    km_add(m.root, GM_REGION_IO, "elsewhere", 0x500000, 0x1000, 0);
    /* Only b's slot is made; a's stays as it is. */
    CHECK_EQ_U64(m.fk.calls[FK_SET_USER_MEMORY_REGION] - before, 1);
    KM_CHECK_SLOTS(&m);
    CHECK_EQ_INT(km_last_error(&m, NULL), 0);
    CHECK_EQ_U64(fk_rejected_total(&m.fk), 0);
    km_fini(&m);
}

int main(void)
{
    RUN(test_sync_bitmap);
    RUN(test_sync_before_stop_and_delete);
    RUN(test_manual_protect);
    RUN(test_manual_clear_ranges);
    RUN(test_sync_failure);
    RUN(test_ring_mode);
    RUN(test_ring_rebuild_with_zombie);
    return harness_done();
}
