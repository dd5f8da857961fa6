/* SPDX-License-Identifier: MIT */
/*
 * fuzz/fuzz-ops.c - the public API driven by arbitrary bytes.
 *
 * The input is a program: each step reads an opcode and its arguments from
 * the bytes and makes one call on a machine of a few dozen regions (RAM,
 * ROM, devices with assorted `valid` / `impl` rules, aliases, containers,
 * ROM devices) under a 2^64 root: constructors, placing, moving, resizing,
 * enabling, read-only and romd switches, dirty logging, ioeventfds, nested
 * transactions, listeners, loads, stores, reads and writes of any size and
 * address, access caches and DMA maps. Arguments are mostly in range but
 * not always: a bad call must fail with an error, never crash.
 *
 * The library checks itself (GM_DEBUG_VERIFY=1, set here): after every
 * commit each incremental view is compared with a full render and the
 * dispatch table with the view, and a mismatch aborts. This program adds:
 * listener callbacks come in begin/commit pairs, a published view is sorted
 * and non-overlapping, a cache load gives what gm_space_load gives at that
 * address for RAM, and everything is released at the end (the system
 * destroys cleanly; ASan checks for leaks).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <guestmem/guestmem.h>

#include "fuzz.h"

#define NREG 24
#define NCACHE 3
#define NMAP 4
#define MAX_STEPS 400

struct input {
    const uint8_t *p;
    size_t n;
};

/* FUZZ_TRACE=1 prints every call (to replay a failure by hand). */
static int tracing = -1;
#define TRACE(...)                                                             \
    do {                                                                       \
        if (tracing < 0) {                                                     \
            tracing = getenv("FUZZ_TRACE") != NULL;                            \
        }                                                                      \
        if (tracing) {                                                         \
            fprintf(fuzz_report(), __VA_ARGS__);                               \
        }                                                                      \
    } while (0)

static uint64_t take(struct input *in, unsigned bytes)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < bytes && in->n; i++, in->n--) {
        v |= (uint64_t)*in->p++ << (8 * i);
    }
    return v;
}

static unsigned take_below(struct input *in, unsigned n)
{
    return n ? (unsigned)(take(in, 1) % n) : 0;
}

/* An address or size: small, near a power of two, or anything. */
static uint64_t take_num(struct input *in)
{
    switch (take(in, 1) & 3) {
    case 0:
        return take(in, 1);
    case 1:
        return take(in, 2) << 4;
    case 2: {
        unsigned sh = take_below(in, 64);
        return ((uint64_t)1 << sh) + (uint64_t)(int8_t)take(in, 1);
    }
    default:
        return take(in, 8);
    }
}

static unsigned take_size(struct input *in)
{
    static const unsigned sizes[] = {1, 2, 4, 8, 3, 0, 16};

    return sizes[take_below(in, 7)];
}

/* Devices: reads give a function of the offset; writes are counted. */
struct dev {
    unsigned writes;
};

static uint64_t dev_read(void *opaque, uint64_t off, unsigned size)
{
    uint64_t v = off * 0x9e3779b97f4a7c15ULL;

    (void)opaque;
    return size >= 8 ? v : v & ((1ULL << (8 * size)) - 1);
}

static void dev_write(void *opaque, uint64_t off, uint64_t data,
                      unsigned size)
{
    struct dev *d = opaque;

    (void)off;
    (void)data;
    (void)size;
    d->writes++;
}

static enum gm_result dev_read_attrs(void *opaque, uint64_t off,
                                     uint64_t *data, unsigned size,
                                     struct gm_mem_attrs attrs)
{
    *data = dev_read(opaque, off, size);
    return (off & 0xff) == 0xe0 ? GM_RESULT_ACCESS_ERROR : GM_RESULT_OK;
}

static bool dev_accepts(void *opaque, uint64_t off, unsigned size,
                        bool is_write, struct gm_mem_attrs attrs)
{
    (void)opaque;
    (void)size;
    (void)attrs;
    return (off & 0x30) != 0x30 || !is_write;
}

static const struct gm_region_ops dev_ops[] = {
    {.read = dev_read, .write = dev_write, .endianness = GM_ENDIAN_LITTLE},
    {.read = dev_read, .write = dev_write, .endianness = GM_ENDIAN_BIG,
     .valid = {.min_access_size = 2, .max_access_size = 4},
     .impl = {.min_access_size = 4, .max_access_size = 4}},
    {.read_with_attrs = dev_read_attrs, .write = dev_write,
     .endianness = GM_ENDIAN_NATIVE,
     .valid = {.max_access_size = 8, .unaligned = true,
               .accepts = dev_accepts},
     .impl = {.max_access_size = 1, .unaligned = true}},
    {.read = dev_read, .endianness = GM_ENDIAN_LITTLE,
     .valid = {.min_access_size = 1, .max_access_size = 8},
     .impl = {.min_access_size = 8, .max_access_size = 8}},
};

/* Listener: callbacks must come inside begin ... commit. */
struct watch {
    int depth;
    unsigned events;
};

static void l_begin(void *o)
{
    struct watch *w = o;

    FUZZ_CHECK(w->depth == 0);
    w->depth++;
}

static void l_commit(void *o)
{
    struct watch *w = o;

    FUZZ_CHECK(w->depth == 1);
    w->depth--;
}

static void l_section(void *o, const struct gm_section *s)
{
    struct watch *w = o;

    FUZZ_CHECK(w->depth == 1);
    FUZZ_CHECK(s->size > 0);
    w->events++;
}

static const struct gm_listener_ops watch_ops = {
    .begin = l_begin,
    .commit = l_commit,
    .region_add = l_section,
    .region_del = l_section,
    .region_nop = l_section,
};

struct check_ctx {
    bool ended;    /* a range reached 2^64 */
    uint64_t next; /* the first address the next range may start at */
};

static int check_range(const struct gm_section *s, void *opaque)
{
    struct check_ctx *c = opaque;
    gm_u128 end = (gm_u128)s->addr + s->size;

    FUZZ_CHECK(s->size > 0 && s->region != NULL);
    FUZZ_CHECK(!c->ended && s->addr >= c->next);
    FUZZ_CHECK(end <= GM_SIZE_2_64);
    c->ended = end == GM_SIZE_2_64;
    c->next = (uint64_t)end;
    return 0;
}

struct machine {
    gm_system *sys;
    gm_region *root;
    gm_space *as;
    gm_region *r[NREG];
    struct dev dev;
    struct gm_cache cache[NCACHE];
    struct {
        void *p;
        uint64_t len;
        bool is_write;
    } map[NMAP];
    gm_listener *listener;
    struct watch watch;
    int efd;
    unsigned depth;
};

static gm_region *pick(struct machine *m, struct input *in)
{
    return m->r[take_below(in, NREG)];
}

static void new_region(struct machine *m, struct input *in)
{
    unsigned slot = take_below(in, NREG), kind = take_below(in, 8);
    uint64_t size = take_num(in);
    gm_u128 big = kind >= 5 && (take(in, 1) & 1) ? GM_SIZE_2_64 : size;
    gm_region *r = NULL, *target;

    if (m->r[slot]) {
        return;
    }
    switch (kind) {
    case 0:
        r = gm_region_new_ram(m->sys, "ram", size % (1 << 20), NULL);
        break;
    case 1:
        r = gm_region_new_rom(m->sys, "rom", size % (1 << 16), NULL);
        break;
    case 2:
    case 3:
        r = gm_region_new_io(m->sys, "io", big,
                             &dev_ops[take_below(in, 4)], &m->dev, NULL);
        break;
    case 4:
        r = gm_region_new_rom_device(m->sys, "romd", size % (1 << 16),
                                     &dev_ops[take_below(in, 4)], &m->dev,
                                     NULL);
        break;
    case 5:
    case 6:
        r = gm_region_new_container(m->sys, "cont", big, NULL);
        break;
    default:
        target = pick(m, in);
        if (target) {
            r = gm_region_new_alias(m->sys, "alias", target, take_num(in),
                                    big, NULL);
        }
        break;
    }
    m->r[slot] = r;
    TRACE("r%u = kind %u size %#" PRIx64 "%s%s\n", slot, kind, size,
          big == GM_SIZE_2_64 ? " (2^64)" : "", r ? "" : ": failed");
}

static void access_step(struct machine *m, struct input *in, unsigned op)
{
    static const enum gm_endian ends[] = {GM_ENDIAN_LITTLE, GM_ENDIAN_BIG,
                                          GM_ENDIAN_NATIVE};
    struct gm_mem_attrs attrs = GM_ATTRS_DEFAULT;
    uint64_t addr = take_num(in), v = take(in, 8);
    unsigned size = take_size(in);
    enum gm_endian e = ends[take_below(in, 3)];
    uint8_t buf[300];
    size_t len = take_below(in, sizeof(buf) + 1);

    attrs.requester_id = (uint32_t)take(in, 2);
    attrs.secure = take(in, 1) & 1;
    switch (op) {
    case 0:
        gm_space_load(m->as, addr, size, e, &v, attrs);
        break;
    case 1:
        gm_space_store(m->as, addr, size, e, v, attrs);
        break;
    case 2:
        gm_space_read(m->as, addr, buf, len, attrs);
        break;
    default:
        memset(buf, (int)v, sizeof(buf));
        gm_space_write(m->as, addr, buf, len, attrs);
        break;
    }
}

static void cache_step(struct machine *m, struct input *in)
{
    struct gm_cache *c = &m->cache[take_below(in, NCACHE)];
    unsigned op = take_below(in, 4), size = take_size(in);
    uint64_t off = take(in, 2), v = 0, w = 0;

    switch (op) {
    case 0:
        gm_cache_destroy(c);
        gm_cache_init(c, m->as, take_num(in), take(in, 2), take(in, 1) & 1,
                      NULL);
        break;
    case 1: {
        enum gm_result r = gm_cache_load(c, off, size, GM_ENDIAN_LITTLE, &v);

        /* Over RAM the cache and the space must agree. */
        if (r == GM_RESULT_OK && gm_cache_is_direct(c) &&
            !c->is_write) {
            FUZZ_CHECK(gm_space_load(m->as, c->addr + off, size,
                                     GM_ENDIAN_LITTLE, &w,
                                     GM_ATTRS_DEFAULT) == GM_RESULT_OK);
            FUZZ_CHECK(v == w);
        }
        break;
    }
    case 2:
        gm_cache_store(c, off, size, GM_ENDIAN_BIG, take(in, 8));
        break;
    default: {
        uint8_t buf[64];
        size_t len = take_below(in, sizeof(buf) + 1);

        if (take(in, 1) & 1) {
            gm_cache_read(c, off, buf, len);
        } else {
            memset(buf, 0x5c, sizeof(buf));
            gm_cache_write(c, off, buf, len);
        }
        break;
    }
    }
}

static void map_step(struct machine *m, struct input *in)
{
    unsigned i = take_below(in, NMAP);

    if (m->map[i].p) {
        gm_space_unmap(m->as, m->map[i].p, m->map[i].len, m->map[i].is_write,
                       m->map[i].len);
        m->map[i].p = NULL;
        return;
    }
    m->map[i].len = take(in, 2);
    m->map[i].is_write = take(in, 1) & 1;
    m->map[i].p = gm_space_map(m->as, take_num(in), &m->map[i].len,
                               m->map[i].is_write, GM_ATTRS_DEFAULT);
    if (m->map[i].p && m->map[i].len) {
        volatile uint8_t *p = m->map[i].p;
        p[m->map[i].len - 1] = p[0]; /* the whole length is addressable */
    }
}

static void step(struct machine *m, struct input *in)
{
    unsigned ia = take_below(in, NREG), ib = take_below(in, NREG);
    gm_region *a = m->r[ia], *b = m->r[ib];
    bool to_root = take(in, 1) & 1;
    gm_region *parent = to_root ? m->root : a;
    unsigned op = take_below(in, 24);
    uint64_t x;
    int rc = 0, pr;
    unsigned k;

    switch (op) {
    case 0:
    case 1:
        new_region(m, in);
        break;
    case 2:
        if (b) {
            x = take_num(in);
            rc = gm_region_add_subregion(parent, x, b, NULL);
            TRACE("add r%u to %s%u at %#" PRIx64 ": %d\n", ib,
                  to_root ? "root" : "r", to_root ? 0 : ia, x, rc);
        }
        break;
    case 3:
        if (b) {
            x = take_num(in);
            pr = (int)take(in, 1) - 128;
            rc = gm_region_add_subregion_overlap(parent, x, b, pr, NULL);
            TRACE("add r%u to %s%u at %#" PRIx64 " prio %d: %d\n", ib,
                  to_root ? "root" : "r", to_root ? 0 : ia, x, pr, rc);
        }
        break;
    case 4:
        if (b && gm_region_container(b)) {
            rc = gm_region_del_subregion(gm_region_container(b), b, NULL);
            TRACE("del r%u: %d\n", ib, rc);
        }
        break;
    case 5:
        if (a) {
            x = take_num(in);
            rc = gm_region_set_address(a, x, NULL);
            TRACE("r%u address %#" PRIx64 ": %d\n", ia, x, rc);
        }
        break;
    case 6:
        if (a) {
            k = take(in, 1) & 1;
            rc = gm_region_set_enabled(a, k, NULL);
            TRACE("r%u enabled %u: %d\n", ia, k, rc);
        }
        break;
    case 7:
        if (a) {
            k = take(in, 1) & 1;
            rc = gm_region_set_readonly(a, k, NULL);
            TRACE("r%u readonly %u: %d\n", ia, k, rc);
        }
        break;
    case 8:
        if (a) {
            x = take_num(in);
            rc = gm_region_set_size(a, x, NULL);
            TRACE("r%u size %#" PRIx64 ": %d\n", ia, x, rc);
        }
        break;
    case 9:
        if (a) {
            x = take_num(in);
            rc = gm_region_set_alias_offset(a, x, NULL);
            TRACE("r%u alias offset %#" PRIx64 ": %d\n", ia, x, rc);
        }
        break;
    case 10:
        if (a) {
            k = take(in, 1) & 1;
            rc = gm_region_set_romd(a, k, NULL);
            TRACE("r%u romd %u: %d\n", ia, k, rc);
        }
        break;
    case 11:
        if (a) {
            k = take(in, 1) & 1;
            pr = (int)take_below(in, 4);
            rc = gm_region_set_log(a, k, (enum gm_dirty_client)pr, NULL);
            TRACE("r%u log %u client %d: %d\n", ia, k, pr, rc);
        }
        break;
    case 12:
        if (a && m->efd >= 0) {
            uint64_t addr = take(in, 1);
            unsigned size = take_size(in);
            bool match = take(in, 1) & 1;

            k = take(in, 1) & 1;
            rc = k ? gm_region_add_eventfd(a, addr, size, match, 7, m->efd,
                                           NULL)
                   : gm_region_del_eventfd(a, addr, size, match, 7, m->efd,
                                           NULL);
            TRACE("r%u %s eventfd %#" PRIx64 " size %u%s: %d\n", ia,
                  k ? "add" : "del", addr, size, match ? " =7" : "", rc);
        }
        break;
    case 13:
        if (m->depth < 4 && gm_transaction_begin(m->sys) == 0) {
            m->depth++;
            TRACE("begin (depth %u)\n", m->depth);
        }
        break;
    case 14:
        if (m->depth && gm_transaction_commit(m->sys, NULL) == 0) {
            m->depth--;
            TRACE("commit (depth %u)\n", m->depth);
        }
        break;
    case 15:
        if (a) {
            /* Drop the machine's reference; the tree may keep it alive. */
            for (unsigned i = 0; i < NREG; i++) {
                if (m->r[i] == a) {
                    m->r[i] = NULL;
                    gm_region_unref(a);
                    TRACE("unref r%u\n", i);
                    break;
                }
            }
        }
        break;
    case 16:
        if (m->listener) {
            rc = gm_listener_unregister(m->listener, NULL);
            TRACE("listener unregister: %d\n", rc);
            if (rc == 0) {
                m->listener = NULL;
            }
        } else if (!m->depth) {
            pr = (int)take(in, 1);
            k = take(in, 1) & 1;
            m->listener = gm_listener_register(m->sys, &watch_ops, &m->watch,
                                               pr, k ? m->as : NULL, NULL);
            TRACE("listener register prio %d%s: %s\n", pr,
                  k ? " (filtered)" : "", m->listener ? "ok" : "failed");
        }
        break;
    case 17:
    case 18:
    case 19:
    case 20:
        TRACE("access %u\n", op - 17);
        access_step(m, in, op - 17);
        break;
    case 21:
    case 22:
        TRACE("cache\n");
        cache_step(m, in);
        break;
    default:
        TRACE("map\n");
        map_step(m, in);
        break;
    }
}

static void check_view(struct machine *m)
{
    struct check_ctx c = {false, 0};
    gm_flatview *fv = gm_space_get_flatview(m->as);

    FUZZ_CHECK(fv != NULL);
    FUZZ_CHECK(gm_flatview_foreach(fv, check_range, &c) == 0);
    gm_flatview_unref(fv);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    setenv("GM_DEBUG_VERIFY", "1", 0);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = {data, size};
    struct machine m;

    fuzz_quiet_stderr();
    memset(&m, 0, sizeof(m));
    m.sys = gm_system_new(NULL);
    FUZZ_CHECK(m.sys != NULL);
    gm_system_set_warn_handler(m.sys, NULL, NULL);
    m.root = gm_region_new_container(m.sys, "root", GM_SIZE_2_64, NULL);
    m.as = gm_space_new(m.sys, m.root, "memory", NULL);
    FUZZ_CHECK(m.root != NULL && m.as != NULL);
    m.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

    for (unsigned i = 0; i < MAX_STEPS && in.n; i++) {
        step(&m, &in);
        if (!m.depth) {
            check_view(&m);
        }
    }

    while (m.depth) {
        FUZZ_CHECK(gm_transaction_commit(m.sys, NULL) == 0);
        m.depth--;
    }
    check_view(&m);
    for (unsigned i = 0; i < NMAP; i++) {
        if (m.map[i].p) {
            gm_space_unmap(m.as, m.map[i].p, m.map[i].len, false, 0);
        }
    }
    for (unsigned i = 0; i < NCACHE; i++) {
        gm_cache_destroy(&m.cache[i]);
    }
    if (m.listener) {
        FUZZ_CHECK(gm_listener_unregister(m.listener, NULL) == 0);
    }
    FUZZ_CHECK(gm_space_destroy(m.as, NULL) == 0);
    for (unsigned i = 0; i < NREG; i++) {
        gm_region_unref(m.r[i]);
    }
    gm_region_unref(m.root);
    FUZZ_CHECK(gm_system_destroy(m.sys, NULL) == 0);
    if (m.efd >= 0) {
        close(m.efd);
    }
    return 0;
}
