/* SPDX-License-Identifier: MIT */
/*
 * test-eventfd.c - unit tests of ioeventfds (gm_region_add_eventfd and
 * gm_region_del_eventfd) with real eventfd(2) descriptors.
 *
 * Invariants checked: an ioeventfd on a mapped region reaches listeners as
 * eventfd_add at the address-space address it appears at (through
 * containers and aliases), and leaves as eventfd_del when deleted or when
 * its region is unmapped; ioeventfd-only changes cause no region_add or
 * region_del; duplicates, unknown ones, out-of-range and malformed ones are
 * refused with their codes and change nothing.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <guestmem/guestmem.h>

#include "harness.h"

#include "unit-helpers.h"

/* The item "WHAT FIRST-LAST MATCH fd=FD" the recorder writes. */
static const char *efd(char *buf, size_t n, const char *what, uint64_t first,
                       uint64_t last, const char *match, int fd)
{
    snprintf(buf, n, "%s %" PRIx64 "-%" PRIx64 " %s fd=%d", what, first, last,
             match, fd);
    return buf;
}

static void test_add_del_mapped(void)
{
    struct strbuf log = {.len = 0}, only = {.len = 0}, sb = {.len = 0};
    struct rec rec = {.log = &log};
    struct machine m;
    gm_listener *l;
    gm_region *dev, *c;
    int fd1 = eventfd(0, EFD_CLOEXEC), fd2 = eventfd(0, EFD_CLOEXEC);
    char want[256];

    CHECK(fd1 >= 0 && fd2 >= 0);
    machine_init(&m);
    c = gm_region_new_container(m.sys, "bus", 0x8000, NULL);
    CHECK_EQ_INT(gm_region_add_subregion(m.root, 0x8000, c, NULL), 0);
    gm_region_unref(c);
    dev = add_io_prio(c, "virtio", 0x1000, 0x1000, 0);
    l = gm_listener_register(m.sys, &rec_ops, &rec, 0, NULL, NULL);

    /* Region offset 0x10 at 0x8000 + 0x1000: 0x9010 in the space. */
    sb_reset(&log);
    CHECK_EQ_INT(gm_region_add_eventfd(dev, 0x10, 4, true, 0x2a, fd1, NULL), 0);
    CHECK_EQ_STR(
        log_only(&log, "efd_add efd_del add del", &only),
        efd(want, sizeof(want), "efd_add", 0x9010, 0x9013, "data=2a", fd1));
    sb_reset(&log);
    CHECK_EQ_INT(gm_region_add_eventfd(dev, 0x20, 2, false, 0, fd2, NULL), 0);
    CHECK_EQ_STR(
        log_only(&log, "efd_add efd_del add del", &only),
        efd(want, sizeof(want), "efd_add", 0x9020, 0x9021, "any", fd2));
    /* The same address and fd with other data is another ioeventfd. */
    sb_reset(&log);
    CHECK_EQ_INT(gm_region_add_eventfd(dev, 0x10, 4, true, 0x2b, fd1, NULL), 0);
    CHECK_EQ_STR(
        log_only(&log, "efd_add efd_del add del", &only),
        efd(want, sizeof(want), "efd_add", 0x9010, 0x9013, "data=2b", fd1));

    /* ioeventfd changes leave the view alone. */
    CHECK_EQ_STR(as_str(m.as, &sb), "virtio 9000-9fff");

    sb_reset(&log);
    CHECK_EQ_INT(gm_region_del_eventfd(dev, 0x10, 4, true, 0x2b, fd1, NULL), 0);
    CHECK_EQ_STR(
        log_only(&log, "efd_add efd_del add del", &only),
        efd(want, sizeof(want), "efd_del", 0x9010, 0x9013, "data=2b", fd1));

    /* Moving the region moves its ioeventfds. */
    sb_reset(&log);
    CHECK_EQ_INT(gm_region_set_address(dev, 0x2000, NULL), 0);
    CHECK_CONTAINS(log.s, efd(want, sizeof(want), "efd_del", 0x9010, 0x9013,
                              "data=2a", fd1));
    CHECK_CONTAINS(log.s, efd(want, sizeof(want), "efd_add", 0xa010, 0xa013,
                              "data=2a", fd1));
    CHECK_CONTAINS(
        log.s, efd(want, sizeof(want), "efd_add", 0xa020, 0xa021, "any", fd2));
    CHECK_EQ_STR(log_only(&log, "add del", &only),
                 "del virtio 9000-9fff; add virtio a000-afff");

    /* Unmapping the region deletes them. */
    sb_reset(&log);
    gm_region_ref(dev);
    CHECK_EQ_INT(gm_region_del_subregion(c, dev, NULL), 0);
    {
        char w1[256], w2[256];

        efd(w1, sizeof(w1), "efd_del", 0xa010, 0xa013, "data=2a", fd1);
        efd(w2, sizeof(w2), "efd_del", 0xa020, 0xa021, "any", fd2);
        CHECK_CONTAINS(log.s, w1);
        CHECK_CONTAINS(log.s, w2);
    }
    CHECK_EQ_STR(log_only(&log, "add del", &only), "del virtio a000-afff");

    /* Unmapped: adding and deleting ioeventfds is silent. */
    sb_reset(&log);
    CHECK_EQ_INT(gm_region_del_eventfd(dev, 0x20, 2, false, 0, fd2, NULL), 0);
    CHECK_EQ_STR(log.s, "");
    /* Mapped again: its remaining ioeventfd comes back. */
    CHECK_EQ_INT(gm_region_add_subregion(c, 0x3000, dev, NULL), 0);
    CHECK_CONTAINS(log.s, efd(want, sizeof(want), "efd_add", 0xb010, 0xb013,
                              "data=2a", fd1));
    CHECK(strstr(log.s, "data=2b") == NULL && strstr(log.s, " any ") == NULL);

    /* Disabling hides them too. */
    sb_reset(&log);
    CHECK_EQ_INT(gm_region_set_enabled(dev, false, NULL), 0);
    CHECK_CONTAINS(log.s, efd(want, sizeof(want), "efd_del", 0xb010, 0xb013,
                              "data=2a", fd1));

    gm_region_unref(dev);
    CHECK_EQ_INT(gm_listener_unregister(l, NULL), 0);
    machine_fini(&m);
    close(fd1);
    close(fd2);
}

/* Through an alias the address is translated. */
static void test_alias_translation(void)
{
    struct strbuf log = {.len = 0}, only = {.len = 0};
    struct rec rec = {.log = &log};
    struct machine m;
    gm_listener *l;
    gm_region *dev, *al;
    int fd = eventfd(0, EFD_CLOEXEC);
    char want[256];

    machine_init(&m);
    dev = gm_region_new_io(m.sys, "dev", 0x1000, NULL, NULL, NULL);
    al = gm_region_new_alias(m.sys, "win", dev, 0x800, 0x800, NULL);
    CHECK_EQ_INT(gm_region_add_subregion(m.root, 0x4000, al, NULL), 0);
    l = gm_listener_register(m.sys, &rec_ops, &rec, 0, NULL, NULL);

    /* 0x900 in dev is 0x100 into the window at 0x4000. */
    sb_reset(&log);
    CHECK_EQ_INT(gm_region_add_eventfd(dev, 0x900, 8, true, 1, fd, NULL), 0);
    CHECK_EQ_STR(
        log_only(&log, "efd_add efd_del add del", &only),
        efd(want, sizeof(want), "efd_add", 0x4100, 0x4107, "data=1", fd));
    /* Outside the window: not visible. */
    sb_reset(&log);
    CHECK_EQ_INT(gm_region_add_eventfd(dev, 0x100, 4, true, 2, fd, NULL), 0);
    CHECK_EQ_STR(log_only(&log, "efd_add efd_del", &only), "");

    CHECK_EQ_INT(gm_listener_unregister(l, NULL), 0);
    /* Replay on unregister included only the visible one. */
    CHECK_CONTAINS(log.s, efd(want, sizeof(want), "efd_del", 0x4100, 0x4107,
                              "data=1", fd));
    CHECK(strstr(log.s, "data=2") == NULL);
    CHECK_EQ_INT(gm_region_del_eventfd(dev, 0x900, 8, true, 1, fd, NULL), 0);
    CHECK_EQ_INT(gm_region_del_eventfd(dev, 0x100, 4, true, 2, fd, NULL), 0);
    gm_region_unref(dev);
    gm_region_unref(al);
    machine_fini(&m);
    close(fd);
}

static void test_register_replay(void)
{
    struct strbuf log = {.len = 0}, only = {.len = 0};
    struct rec rec = {.log = &log};
    struct machine m;
    gm_listener *l;
    gm_region *dev;
    int fd = eventfd(0, EFD_CLOEXEC);
    char want[512], item[256];

    machine_init(&m);
    dev = add_io_prio(m.root, "dev", 0x1000, 0x100, 0);
    CHECK_EQ_INT(gm_region_add_eventfd(dev, 0x40, 4, true, 9, fd, NULL), 0);
    sb_reset(&log);
    l = gm_listener_register(m.sys, &rec_ops, &rec, 0, NULL, NULL);
    snprintf(want, sizeof(want), "begin; add dev 1000-10ff; %s; commit",
             efd(item, sizeof(item), "efd_add", 0x1040, 0x1043, "data=9", fd));
    CHECK_EQ_STR(log.s, want);

    sb_reset(&log);
    CHECK_EQ_INT(gm_listener_unregister(l, NULL), 0);
    CHECK_EQ_STR(log_only(&log, "del", &only), "del dev 1000-10ff");
    CHECK_EQ_STR(
        log_only(&log, "efd_del", &only),
        efd(item, sizeof(item), "efd_del", 0x1040, 0x1043, "data=9", fd));
    CHECK_EQ_INT(gm_region_del_eventfd(dev, 0x40, 4, true, 9, fd, NULL), 0);
    machine_fini(&m);
    close(fd);
}

/* Size 0 means any access size (and no data match). */
static void test_any_size(void)
{
    struct strbuf log = {.len = 0}, only = {.len = 0};
    struct rec rec = {.log = &log};
    struct machine m;
    gm_listener *l;
    gm_region *dev;
    int fd = eventfd(0, EFD_CLOEXEC);

    machine_init(&m);
    dev = add_io_prio(m.root, "dev", 0x1000, 0x100, 0);
    l = gm_listener_register(m.sys, &rec_ops, &rec, 0, NULL, NULL);
    sb_reset(&log);
    CHECK_EQ_INT(gm_region_add_eventfd(dev, 0x40, 0, false, 0, fd, NULL), 0);
    CHECK_EQ_INT(strncmp(log_only(&log, "efd_add", &only), "efd_add 1040-", 13),
                 0);
    CHECK(strchr(only.s, ';') == NULL); /* exactly one */
    CHECK_EQ_INT(gm_region_add_eventfd(dev, 0x40, 0, false, 0, fd, NULL),
                 -EEXIST);
    sb_reset(&log);
    CHECK_EQ_INT(gm_region_del_eventfd(dev, 0x40, 0, false, 0, fd, NULL), 0);
    CHECK_EQ_INT(strncmp(log_only(&log, "efd_del", &only), "efd_del 1040-", 13),
                 0);
    CHECK_EQ_INT(gm_listener_unregister(l, NULL), 0);
    machine_fini(&m);
    close(fd);
}

/* Expect an ioeventfd call to fail with @want, silently. */
#define CHECK_EFD_FAILS(m, log, call, want)                                    \
    do {                                                                       \
        gm_error e_;                                                           \
        gm_flatview *fvb_ = gm_space_get_flatview((m)->as), *fva_;             \
        sb_reset(log);                                                         \
        gm_error_clear(&e_);                                                   \
        CHECK_EQ_INT((call), (want));                                          \
        CHECK_EQ_INT(e_.code, (want));                                         \
        CHECK(e_.msg[0] != '\0');                                              \
        fva_ = gm_space_get_flatview((m)->as);                                 \
        CHECK_EQ_PTR(fva_, fvb_);                                              \
        gm_flatview_unref(fva_);                                               \
        gm_flatview_unref(fvb_);                                               \
        CHECK_EQ_STR((log)->s, "");                                            \
    } while (0)

static void test_errors(void)
{
    struct strbuf log = {.len = 0};
    struct rec rec = {.log = &log};
    struct machine m;
    gm_listener *l;
    gm_region *dev;
    int fd = eventfd(0, EFD_CLOEXEC), fd2 = eventfd(0, EFD_CLOEXEC);

    machine_init(&m);
    dev = add_io_prio(m.root, "dev", 0x1000, 0x100, 0);
    CHECK_EQ_INT(gm_region_add_eventfd(dev, 0x10, 4, true, 7, fd, NULL), 0);
    l = gm_listener_register(m.sys, &rec_ops, &rec, 0, NULL, NULL);

    /* Duplicates. */
    CHECK_EFD_FAILS(&m, &log,
                    gm_region_add_eventfd(dev, 0x10, 4, true, 7, fd, &e_),
                    -EEXIST);
    /* Unknown: wrong data, size, address, fd or matching. */
    CHECK_EFD_FAILS(&m, &log,
                    gm_region_del_eventfd(dev, 0x10, 4, true, 8, fd, &e_),
                    -ENOENT);
    CHECK_EFD_FAILS(&m, &log,
                    gm_region_del_eventfd(dev, 0x10, 2, true, 7, fd, &e_),
                    -ENOENT);
    CHECK_EFD_FAILS(&m, &log,
                    gm_region_del_eventfd(dev, 0x14, 4, true, 7, fd, &e_),
                    -ENOENT);
    CHECK_EFD_FAILS(&m, &log,
                    gm_region_del_eventfd(dev, 0x10, 4, true, 7, fd2, &e_),
                    -ENOENT);
    CHECK_EFD_FAILS(&m, &log,
                    gm_region_del_eventfd(dev, 0x10, 4, false, 0, fd, &e_),
                    -ENOENT);
    /* Outside the region. */
    CHECK_EFD_FAILS(&m, &log,
                    gm_region_add_eventfd(dev, 0x100, 1, false, 0, fd, &e_),
                    -ERANGE);
    CHECK_EFD_FAILS(&m, &log,
                    gm_region_add_eventfd(dev, 0xfe, 4, false, 0, fd, &e_),
                    -ERANGE);
    CHECK_EFD_FAILS(
        &m, &log,
        gm_region_add_eventfd(dev, UINT64_MAX - 1, 4, false, 0, fd, &e_),
        -ERANGE);
    /* Malformed: bad size, bad fd, data match without a size, NULL. */
    CHECK_EFD_FAILS(&m, &log,
                    gm_region_add_eventfd(dev, 0x20, 3, false, 0, fd, &e_),
                    -EINVAL);
    CHECK_EFD_FAILS(&m, &log,
                    gm_region_add_eventfd(dev, 0x20, 16, false, 0, fd, &e_),
                    -EINVAL);
    CHECK_EFD_FAILS(&m, &log,
                    gm_region_add_eventfd(dev, 0x20, 4, false, 0, -1, &e_),
                    -EBADF);
    CHECK_EFD_FAILS(&m, &log,
                    gm_region_add_eventfd(dev, 0x20, 0, true, 5, fd, &e_),
                    -EINVAL);
    CHECK_EFD_FAILS(&m, &log,
                    gm_region_add_eventfd(NULL, 0x20, 4, false, 0, fd, &e_),
                    -EINVAL);
    CHECK_EFD_FAILS(&m, &log,
                    gm_region_del_eventfd(NULL, 0x20, 4, false, 0, fd, &e_),
                    -EINVAL);

    /* The one that exists is still there and deletable once. */
    sb_reset(&log);
    CHECK_EQ_INT(gm_region_del_eventfd(dev, 0x10, 4, true, 7, fd, NULL), 0);
    CHECK_CONTAINS(log.s, "efd_del 1010-1013 data=7");
    CHECK_EFD_FAILS(&m, &log,
                    gm_region_del_eventfd(dev, 0x10, 4, true, 7, fd, &e_),
                    -ENOENT);

    CHECK_EQ_INT(gm_listener_unregister(l, NULL), 0);
    machine_fini(&m);
    close(fd);
    close(fd2);
}

/* A filtered listener hears ioeventfds of its own space only. */
static void test_filtered(void)
{
    struct strbuf log = {.len = 0}, only = {.len = 0};
    struct rec rec = {.log = &log};
    gm_system *sys = gm_system_new(NULL);
    gm_region *r1 = gm_region_new_container(sys, "r1", 0x10000, NULL);
    gm_region *r2 = gm_region_new_container(sys, "r2", 0x10000, NULL);
    gm_space *a = gm_space_new(sys, r1, "a", NULL);
    gm_space *b = gm_space_new(sys, r2, "b", NULL);
    gm_region *d1, *d2;
    gm_listener *l;
    int fd = eventfd(0, EFD_CLOEXEC);

    d1 = add_io_prio(r1, "d1", 0, 0x100, 0);
    d2 = add_io_prio(r2, "d2", 0, 0x100, 0);
    l = gm_listener_register(sys, &rec_ops, &rec, 0, a, NULL);
    sb_reset(&log);
    CHECK_EQ_INT(gm_region_add_eventfd(d2, 0, 4, false, 0, fd, NULL), 0);
    CHECK_EQ_STR(log_only(&log, "efd_add efd_del add del", &only), "");
    CHECK_EQ_INT(gm_region_add_eventfd(d1, 0, 4, false, 0, fd, NULL), 0);
    CHECK_CONTAINS(log.s, "efd_add 0-3 any");
    CHECK_EQ_INT(gm_listener_unregister(l, NULL), 0);
    CHECK(b != NULL);
    gm_region_unref(r1);
    gm_region_unref(r2);
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
    close(fd);
}

int main(void)
{
    RUN(test_add_del_mapped);
    RUN(test_alias_translation);
    RUN(test_register_replay);
    RUN(test_any_size);
    RUN(test_errors);
    RUN(test_filtered);
    return harness_done();
}
