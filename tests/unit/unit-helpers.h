/* SPDX-License-Identifier: MIT */
/*
 * unit-helpers.h - helpers shared by the unit test programs: flat views and
 * listener events rendered as strings, and a small machine to test on.
 * Included once per program (everything is static).
 */
#ifndef GM_TESTS_UNIT_HELPERS_H
#define GM_TESTS_UNIT_HELPERS_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <guestmem/guestmem.h>

#include "harness.h"

/*
 * Helpers shared by the tests of this file: a flat view printed as a string
 * ("NAME FIRST-LAST[ @OFFSET][ ro][ nv][ log=MASK]; ...") and a listener
 * that records every event it receives into a string log.
 */
#define HELPER_ATTR __attribute__((unused))
#define HELPER static HELPER_ATTR

#define CHECK_EQ_U128(a, b)                                                    \
    do {                                                                       \
        gm_u128 x_ = (a), y_ = (b);                                            \
        CHECK_EQ_U64((uint64_t)(x_ >> 64), (uint64_t)(y_ >> 64));              \
        CHECK_EQ_U64((uint64_t)x_, (uint64_t)y_);                              \
    } while (0)

/* A string builder whose items are separated by "; ". */
struct strbuf {
    char s[16384];
    size_t len;
};

HELPER void sb_reset(struct strbuf *b)
{
    b->len = 0;
    b->s[0] = '\0';
}

HELPER void __attribute__((format(printf, 2, 3)))
sb_add(struct strbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (b->len && b->len + 2 < sizeof(b->s)) {
        memcpy(b->s + b->len, "; ", 3);
        b->len += 2;
    }
    va_start(ap, fmt);
    n = vsnprintf(b->s + b->len, sizeof(b->s) - b->len, fmt, ap);
    va_end(ap);
    if (n > 0) {
        b->len += (size_t)n;
        if (b->len >= sizeof(b->s)) {
            b->len = sizeof(b->s) - 1;
        }
    }
}

/* "NAME FIRST-LAST" plus the attributes that are set. */
HELPER void sec_fmt(char *buf, size_t n, const struct gm_section *s,
                    bool with_log)
{
    uint64_t last = (uint64_t)(s->addr + s->size - 1);
    int len;

    len = snprintf(buf, n, "%s %" PRIx64 "-%" PRIx64, gm_region_name(s->region),
                   s->addr, last);
    if (s->offset_in_region) {
        len += snprintf(buf + len, n - (size_t)len, " @%" PRIx64,
                        s->offset_in_region);
    }
    if (s->readonly) {
        len += snprintf(buf + len, n - (size_t)len, " ro");
    }
    if (s->nonvolatile) {
        len += snprintf(buf + len, n - (size_t)len, " nv");
    }
    if (with_log && s->dirty_log_mask) {
        snprintf(buf + len, n - (size_t)len, " log=%x", s->dirty_log_mask);
    }
}

HELPER int fv_item(const struct gm_section *s, void *opaque)
{
    char t[256];

    sec_fmt(t, sizeof(t), s, true);
    sb_add(opaque, "%s", t);
    return 0;
}

/* The ranges of @fv as a string (in @b, which is returned). */
HELPER const char *fv_str(const gm_flatview *fv, struct strbuf *b)
{
    sb_reset(b);
    gm_flatview_foreach(fv, fv_item, b);
    return b->s;
}

/* The ranges of the current flat view of @as. */
HELPER const char *as_str(gm_space *as, struct strbuf *b)
{
    gm_flatview *fv = gm_space_get_flatview(as);

    fv_str(fv, b);
    gm_flatview_unref(fv);
    return b->s;
}

/* A system with a 64 KiB container "root" as the root of space "mem". */
struct machine {
    gm_system *sys;
    gm_region *root; /* borrowed: the space holds the reference */
    gm_space *as;
};

HELPER void machine_init(struct machine *m)
{
    m->sys = gm_system_new(NULL);
    CHECK(m->sys != NULL);
    m->root = gm_region_new_container(m->sys, "root", 0x10000, NULL);
    CHECK(m->root != NULL);
    m->as = gm_space_new(m->sys, m->root, "mem", NULL);
    CHECK(m->as != NULL);
    gm_region_unref(m->root);
}

HELPER void machine_fini(struct machine *m)
{
    CHECK_EQ_INT(gm_system_destroy(m->sys, NULL), 0);
}

/* Place a new RAM region in @parent and return it (borrowed). */
HELPER gm_region *add_ram(gm_region *parent, const char *name, uint64_t addr,
                          uint64_t size)
{
    gm_region *r =
        gm_region_new_ram(gm_region_system(parent), name, size, NULL);

    CHECK(r != NULL);
    CHECK_EQ_INT(gm_region_add_subregion(parent, addr, r, NULL), 0);
    gm_region_unref(r);
    return r;
}

/* Place a new unassigned I/O region in @parent with overlap and @prio. */
HELPER gm_region *add_io_prio(gm_region *parent, const char *name,
                              uint64_t addr, uint64_t size, int prio)
{
    gm_region *r = gm_region_new_io(gm_region_system(parent), name, size, NULL,
                                    NULL, NULL);

    CHECK(r != NULL);
    CHECK_EQ_INT(gm_region_add_subregion_overlap(parent, addr, r, prio, NULL),
                 0);
    gm_region_unref(r);
    return r;
}

/*
 * The recording listener: each callback appends "[TAG:]EVENT[ SPACE] SECTION
 * [EXTRA]" to @log. region_nop is recorded only when @nop is set; @hook,
 * when set, runs inside every region_add and region_del callback (to test
 * what callbacks may call and see).
 */
struct rec {
    struct strbuf *log;
    const char *tag;
    bool nop;
    bool show_space;
    void (*hook)(struct rec *r, const char *what, const struct gm_section *s);
    void *hook_data;
};

HELPER void rec_ev(struct rec *r, const char *what, const struct gm_section *s,
                   const char *extra)
{
    bool with_log = !strcmp(what, "add") || !strcmp(what, "del");
    const char *space = "";
    char sec[256] = "";

    if (s) {
        sec_fmt(sec, sizeof(sec), s, with_log);
        if (r->show_space) {
            space = s->space ? gm_space_name(s->space) : "(null)";
        }
    }
    sb_add(r->log, "%s%s%s%s%s%s%s%s", r->tag ? r->tag : "", r->tag ? ":" : "",
           what, *space ? " " : "", space, s ? " " : "", sec,
           extra ? extra : "");
}

HELPER void rec_begin(void *o)
{
    rec_ev(o, "begin", NULL, NULL);
}

HELPER void rec_commit(void *o)
{
    rec_ev(o, "commit", NULL, NULL);
}

HELPER void rec_add(void *o, const struct gm_section *s)
{
    struct rec *r = o;

    rec_ev(r, "add", s, NULL);
    if (r->hook) {
        r->hook(r, "add", s);
    }
}

HELPER void rec_del(void *o, const struct gm_section *s)
{
    struct rec *r = o;

    rec_ev(r, "del", s, NULL);
    if (r->hook) {
        r->hook(r, "del", s);
    }
}

HELPER void rec_nop(void *o, const struct gm_section *s)
{
    struct rec *r = o;

    if (r->nop) {
        rec_ev(r, "nop", s, NULL);
    }
}

HELPER void rec_log_start(void *o, const struct gm_section *s, unsigned om,
                          unsigned nm)
{
    char t[32];

    snprintf(t, sizeof(t), " %x->%x", om, nm);
    rec_ev(o, "log_start", s, t);
}

HELPER void rec_log_stop(void *o, const struct gm_section *s, unsigned om,
                         unsigned nm)
{
    char t[32];

    snprintf(t, sizeof(t), " %x->%x", om, nm);
    rec_ev(o, "log_stop", s, t);
}

HELPER void rec_log_sync(void *o, const struct gm_section *s)
{
    rec_ev(o, "sync", s, NULL);
}

HELPER void rec_global_start(void *o)
{
    rec_ev(o, "global_start", NULL, NULL);
}

HELPER void rec_global_stop(void *o)
{
    rec_ev(o, "global_stop", NULL, NULL);
}

/*
 * ioeventfd events: "efd_add FIRST-LAST data=DATA|any fd=FD". Only the
 * address range of the section is meaningful here (as in QEMU, it need not
 * name a region).
 */
HELPER void rec_eventfd(struct rec *r, const char *what,
                        const struct gm_section *s, bool match_data,
                        uint64_t data, int fd)
{
    char t[64];

    if (match_data) {
        snprintf(t, sizeof(t), "data=%" PRIx64, data);
    } else {
        snprintf(t, sizeof(t), "any");
    }
    sb_add(r->log, "%s%s%s %" PRIx64 "-%" PRIx64 " %s fd=%d",
           r->tag ? r->tag : "", r->tag ? ":" : "", what, s->addr,
           (uint64_t)(s->addr + s->size - 1), t, fd);
}

HELPER void rec_eventfd_add(void *o, const struct gm_section *s,
                            bool match_data, uint64_t data, int fd)
{
    rec_eventfd(o, "efd_add", s, match_data, data, fd);
}

HELPER void rec_eventfd_del(void *o, const struct gm_section *s,
                            bool match_data, uint64_t data, int fd)
{
    rec_eventfd(o, "efd_del", s, match_data, data, fd);
}

/* Coalesced MMIO: "coal_add FIRST-LAST in REGION". */
HELPER void rec_coal(struct rec *r, const char *what,
                     const struct gm_section *s, uint64_t addr,
                     uint64_t size)
{
    sb_add(r->log, "%s%s%s %" PRIx64 "-%" PRIx64 " in %s",
           r->tag ? r->tag : "", r->tag ? ":" : "", what, addr,
           addr + size - 1, gm_region_name(s->region));
}

HELPER void rec_coal_add(void *o, const struct gm_section *s, uint64_t addr,
                         uint64_t size)
{
    rec_coal(o, "coal_add", s, addr, size);
}

HELPER void rec_coal_del(void *o, const struct gm_section *s, uint64_t addr,
                         uint64_t size)
{
    rec_coal(o, "coal_del", s, addr, size);
}

static const struct gm_listener_ops rec_ops HELPER_ATTR = {
    .begin = rec_begin,
    .commit = rec_commit,
    .region_add = rec_add,
    .region_del = rec_del,
    .region_nop = rec_nop,
    .log_start = rec_log_start,
    .log_stop = rec_log_stop,
    .log_sync = rec_log_sync,
    .log_global_start = rec_global_start,
    .log_global_stop = rec_global_stop,
    .eventfd_add = rec_eventfd_add,
    .eventfd_del = rec_eventfd_del,
    .coalesced_io_add = rec_coal_add,
    .coalesced_io_del = rec_coal_del,
};

/*
 * The items of @log whose event (after an optional "TAG:") starts with one
 * of the space-separated words of @kinds, e.g. "add del".
 */
HELPER const char *log_only(const struct strbuf *log, const char *kinds,
                            struct strbuf *out)
{
    char copy[sizeof(log->s)];
    char *save = NULL;

    sb_reset(out);
    memcpy(copy, log->s, log->len + 1);
    for (char *it = strtok_r(copy, ";", &save); it;
         it = strtok_r(NULL, ";", &save)) {
        const char *ev = it, *colon, *k = kinds;

        while (*ev == ' ') {
            ev++;
        }
        colon = memchr(ev, ':', strcspn(ev, " "));
        if (colon) {
            ev = colon + 1;
        }
        while (*k) {
            size_t n = strcspn(k, " ");

            if (!strncmp(ev, k, n) && (ev[n] == ' ' || ev[n] == '\0')) {
                sb_add(out, "%s", it + strspn(it, " "));
                break;
            }
            k += n;
            k += strspn(k, " ");
        }
    }
    return out->s;
}

#endif
