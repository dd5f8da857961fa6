/* SPDX-License-Identifier: MIT */
/*
 * ram/block.c - RAM blocks: their memory, their place, and finding them.
 *
 * A block maps max_length bytes once, at creation, and never moves: a
 * resizeable block changes only its used_length. The backings:
 *  - ANON: a private anonymous mapping aligned to opts->align (2 MiB by
 *    default, so transparent huge pages can back it), made by mapping
 *    align more than needed and trimming both ends;
 *  - MEMFD: memfd_create() (MFD_HUGETLB for GM_RAM_HUGEPAGE), sized with
 *    ftruncate(), mapped shared: its fd can be handed to another process
 *    (a vhost-user back end, a second VMM receiving a migration);
 *  - FILE: a regular file or one on hugetlbfs, whose page size
 *    (fstatfs()'s f_bsize on hugetlbfs) becomes the block's; private
 *    unless GM_RAM_SHARED;
 *  - PTR: the caller's memory, borrowed, never unmapped;
 *  - NONE: nothing (memoryless systems).
 * then madvise() for MERGE, HUGEPAGE (ANON), NODUMP and NOFORK, and with
 * PREALLOC every page is touched (by prealloc_threads threads) so later
 * accesses never fault. Every failure undoes what was done and names the
 * block and the call that failed.
 *
 * Blocks are found by ram_addr and by host address through two interval
 * treaps (base.h); a block's ram_addr range is its max_length rounded up
 * to GM_RAM_ALIGN. Writer lock held throughout.
 */
#include <fcntl.h>
#include <linux/magic.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "ram.h"

#define DEFAULT_ALIGN (2u << 20)

int gm__ram_init(gm_system *sys)
{
    sys->ram = calloc(1, sizeof(*sys->ram));
    if (!sys->ram) {
        return -ENOMEM;
    }
    if (gm__ram_space_init(sys)) {
        free(sys->ram);
        sys->ram = NULL;
        return -ENOMEM;
    }
    return 0;
}

void gm__ram_fini(gm_system *sys)
{
    if (sys->ram) {
        gm__ram_space_fini(sys);
        free(sys->ram);
        sys->ram = NULL;
    }
}

static size_t host_page_size(void)
{
    long pg = sysconf(_SC_PAGESIZE);

    return pg > 0 ? (size_t)pg : 4096;
}

static uint64_t round_up(uint64_t x, uint64_t a)
{
    return (x + a - 1) & ~(a - 1);
}

/* An anonymous private mapping of len bytes aligned to align. */
static int map_anon(struct gm_ram_block *b, size_t len, size_t align,
                    gm_error *err, const char *name)
{
    int flags = MAP_PRIVATE | MAP_ANONYMOUS;
    size_t total = len + align;
    uint8_t *p, *start, *lo, *hi;
    int e;

    if (b->flags & GM_RAM_NORESERVE) {
        flags |= MAP_NORESERVE;
    }
    if (total < len) {
        return gm__error_set(err, -EINVAL, "RAM block '%s': %zu bytes "
                             "cannot be mapped", name, len);
    }
    p = mmap(NULL, total, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (p == MAP_FAILED) {
        return gm__error_set(err, -errno, "RAM block '%s': mmap of %zu "
                             "bytes: %s", name, len, strerror(errno));
    }
    start = (uint8_t *)round_up((uint64_t)(uintptr_t)p, align);
    lo = p; /* [lo, hi): what is still mapped */
    hi = p + total;
    if (start > p) {
        if (munmap(p, (size_t)(start - p))) {
            goto trim_failed;
        }
        lo = start;
    }
    if (hi > start + len &&
        munmap(start + len, (size_t)(hi - (start + len)))) {
        goto trim_failed;
    }
    b->map = b->host = start;
    b->map_len = len;
    return 0;

trim_failed:
    /* Unmapping can fail (too many mappings): then none of it is kept. */
    e = errno;
    munmap(lo, (size_t)(hi - lo));
    return gm__error_set(err, -e, "RAM block '%s': munmap of the alignment "
                         "margin: %s", name, strerror(e));
}

/* Map b->fd (len bytes), shared or private. */
static int map_fd(struct gm_ram_block *b, size_t len, bool shared,
                  gm_error *err, const char *name)
{
    int flags = shared ? MAP_SHARED : MAP_PRIVATE;
    void *p;

    if (b->flags & GM_RAM_NORESERVE) {
        flags |= MAP_NORESERVE;
    }
    p = mmap(NULL, len, PROT_READ | PROT_WRITE, flags, b->fd, 0);
    if (p == MAP_FAILED) {
        return gm__error_set(err, -errno, "RAM block '%s': mmap of %zu "
                             "bytes: %s", name, len, strerror(errno));
    }
    b->map = b->host = p;
    b->map_len = len;
    return 0;
}

static int make_memfd(struct gm_ram_block *b, size_t len, gm_error *err,
                      const char *name)
{
    unsigned mfd = MFD_CLOEXEC;
    char label[128];

    if (b->flags & GM_RAM_HUGEPAGE) {
        mfd |= MFD_HUGETLB;
    }
    /* Only a label (/proc/PID/fd): the kernel refuses one over 249 bytes. */
    snprintf(label, sizeof(label), "%.100s", name);
    b->fd = memfd_create(label, mfd);
    if (b->fd < 0) {
        return gm__error_set(err, -errno, "RAM block '%s': memfd_create: %s",
                             name, strerror(errno));
    }
    if (b->flags & GM_RAM_HUGEPAGE) {
        struct statfs fs;

        if (fstatfs(b->fd, &fs) == 0 && fs.f_bsize > 0) {
            b->page_size = (size_t)fs.f_bsize;
        }
    }
    if (len % b->page_size) {
        return gm__error_set(err, -EINVAL, "RAM block '%s': %zu bytes is "
                             "not a multiple of its %zu-byte pages",
                             name, len, b->page_size);
    }
    if (ftruncate(b->fd, (off_t)len)) {
        return gm__error_set(err, -errno, "RAM block '%s': ftruncate to %zu "
                             "bytes: %s", name, len, strerror(errno));
    }
    return map_fd(b, len, true, err, name);
}

static int open_file(struct gm_ram_block *b, const char *path, size_t len,
                     gm_error *err, const char *name)
{
    struct statfs fs;
    struct stat st;

    if (!path) {
        return gm__error_set(err, -EINVAL, "RAM block '%s': a FILE backing "
                             "needs a path", name);
    }
    /* Made here only if missing: a failure then removes it again. */
    for (;;) {
        b->fd = open(path, O_RDWR | O_CLOEXEC);
        if (b->fd >= 0 || errno != ENOENT) {
            break;
        }
        b->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (b->fd >= 0) {
            b->created = true;
            break;
        }
        if (errno != EEXIST) {
            break;
        }
        /* Made by someone else meanwhile: open theirs. */
    }
    if (b->fd < 0) {
        return gm__error_set(err, -errno, "RAM block '%s': open '%s': %s",
                             name, path, strerror(errno));
    }
    if (fstat(b->fd, &st) || !S_ISREG(st.st_mode)) {
        return gm__error_set(err, -EINVAL, "RAM block '%s': '%s' is not a "
                             "regular file", name, path);
    }
    if (fstatfs(b->fd, &fs) == 0 && (unsigned long)fs.f_type ==
                                        (unsigned long)HUGETLBFS_MAGIC) {
        b->page_size = (size_t)fs.f_bsize;
    }
    if (len % b->page_size) {
        return gm__error_set(err, -EINVAL, "RAM block '%s': %zu bytes is "
                             "not a multiple of the %zu-byte pages of '%s'",
                             name, len, b->page_size, path);
    }
    if ((uint64_t)st.st_size < len && ftruncate(b->fd, (off_t)len)) {
        return gm__error_set(err, -errno, "RAM block '%s': ftruncate '%s' "
                             "to %zu bytes: %s", name, path, len,
                             strerror(errno));
    }
    return map_fd(b, len, (b->flags & GM_RAM_SHARED) != 0, err, name);
}

static int advise(struct gm_ram_block *b, gm_error *err, const char *name)
{
    static const struct {
        unsigned flag;
        int advice;
        const char *what;
    } table[] = {
        {GM_RAM_MERGE, MADV_MERGEABLE, "MADV_MERGEABLE"},
        {GM_RAM_NODUMP, MADV_DONTDUMP, "MADV_DONTDUMP"},
        {GM_RAM_NOFORK, MADV_DONTFORK, "MADV_DONTFORK"},
    };

    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if ((b->flags & table[i].flag) &&
            madvise(b->host, b->map_len, table[i].advice)) {
            return gm__error_set(err, -errno, "RAM block '%s': madvise %s: "
                                 "%s", name, table[i].what, strerror(errno));
        }
    }
    if ((b->flags & GM_RAM_HUGEPAGE) && b->backing == GM_RAM_ANON &&
        madvise(b->host, b->map_len, MADV_HUGEPAGE)) {
        return gm__error_set(err, -errno, "RAM block '%s': madvise "
                             "MADV_HUGEPAGE: %s", name, strerror(errno));
    }
    return 0;
}

struct touch {
    volatile uint8_t *p;
    size_t len, step;
};

static void *touch_pages(void *arg)
{
    struct touch *t = arg;

    /* A write per page: the kernel allocates it now, not at first use. */
    for (size_t off = 0; off < t->len; off += t->step) {
        t->p[off] = t->p[off];
    }
    return NULL;
}

/* Touch every page of b, with up to threads threads (0: 1). */
static void prealloc(struct gm_ram_block *b, unsigned threads)
{
    pthread_t tid[64];
    struct touch part[64];
    bool started[64] = {false};
    size_t pages = b->map_len / b->page_size, per;
    unsigned n = threads ? threads : 1;

    if (n > 64) {
        n = 64;
    }
    if (pages && n > pages) {
        n = (unsigned)pages;
    }
    per = (pages + n - 1) / n;
    for (unsigned i = 0; i < n; i++) {
        size_t first = (size_t)i * per;
        size_t count = first >= pages ? 0
                                      : (pages - first < per ? pages - first
                                                             : per);

        part[i] = (struct touch){(uint8_t *)b->host + first * b->page_size,
                                 count * b->page_size, b->page_size};
    }
    for (unsigned i = 1; i < n; i++) {
        started[i] =
            pthread_create(&tid[i], NULL, touch_pages, &part[i]) == 0;
        if (!started[i]) {
            touch_pages(&part[i]); /* no thread: do its part here */
        }
    }
    touch_pages(&part[0]);
    for (unsigned i = 1; i < n; i++) {
        if (started[i]) {
            pthread_join(tid[i], NULL);
        }
    }
}

/* Unmap, close: undo whatever of the memory was made. */
static void memory_free(struct gm_ram_block *b)
{
    if (b->map) {
        munmap(b->map, b->map_len);
    }
    if (b->fd >= 0) {
        close(b->fd);
    }
    b->map = b->host = NULL;
    b->fd = -1;
}

/* Undo a failed construction's memory, and the file it made. */
static void memory_undo(struct gm_ram_block *b, const struct gm_ram_opts *opts)
{
    memory_free(b);
    if (b->created) {
        unlink(opts->path);
        b->created = false;
    }
}

static int memory_make(struct gm_ram_block *b,
                       const struct gm_ram_opts *opts, gm_error *err,
                       const char *name)
{
    size_t len;
    int ret;

    if (b->max_length > SIZE_MAX - (1u << 30)) {
        return gm__error_set(err, -EINVAL, "RAM block '%s': %llu bytes "
                             "cannot be mapped on this host", name,
                             (unsigned long long)b->max_length);
    }
    len = (size_t)round_up(b->max_length, b->page_size);
    switch (b->backing) {
    case GM_RAM_ANON: {
        size_t align = opts && opts->align ? opts->align : DEFAULT_ALIGN;

        if (align & (align - 1) || align < b->page_size) {
            return gm__error_set(err, -EINVAL, "RAM block '%s': alignment "
                                 "%zu is not a power of two of at least a "
                                 "page", name, align);
        }
        ret = map_anon(b, len, align, err, name);
        break;
    }
    case GM_RAM_MEMFD:
        ret = make_memfd(b, len, err, name);
        break;
    case GM_RAM_FILE:
        ret = open_file(b, opts ? opts->path : NULL, len, err, name);
        break;
    case GM_RAM_PTR:
        if (!opts || !opts->host) {
            return gm__error_set(err, -EINVAL, "RAM block '%s': NULL host "
                                 "pointer", name);
        }
        b->host = opts->host;
        return 0;
    case GM_RAM_NONE:
        return 0;
    default:
        return gm__error_set(err, -EINVAL, "RAM block '%s': unknown "
                             "backing %d", name, (int)b->backing);
    }
    if (!ret) {
        ret = advise(b, err, name);
    }
    if (!ret && (b->flags & GM_RAM_PREALLOC)) {
        prealloc(b, opts->prealloc_threads);
    }
    if (ret) {
        memory_undo(b, opts);
    }
    return ret;
}

int gm__ram_block_new(gm_system *sys, gm_region *r, const char *name,
                      uint64_t size, const struct gm_ram_opts *opts,
                      struct gm_ram_block **out, gm_error *err)
{
    struct gm_ram_state *st = sys->ram;
    struct gm_ram_block *b;
    int ret;

    *out = NULL;
    if (!size || size > (1ull << 63)) {
        return gm__error_set(err, -EINVAL, "RAM block '%s': size must be "
                             "1 .. 2^63", name);
    }
    b = calloc(1, sizeof(*b));
    if (!b) {
        return gm__error_set(err, -ENOMEM, "RAM block '%s': out of memory",
                             name);
    }
    b->region = r;
    b->fd = -1;
    b->page_size = host_page_size();
    b->backing = opts ? opts->backing : GM_RAM_ANON;
    b->flags = opts ? opts->flags : 0;
    b->used_length = size;
    b->max_length = size;
    if (b->flags & GM_RAM_RESIZEABLE) {
        if (opts->max_length && opts->max_length < size) {
            free(b);
            return gm__error_set(err, -EINVAL, "RAM block '%s': max_length "
                                 "below its size", name);
        }
        b->max_length = opts->max_length ? opts->max_length : size;
        if (b->backing == GM_RAM_PTR && b->max_length > size) {
            /* The caller gave @size bytes: growing would go past them. */
            free(b);
            return gm__error_set(err, -EINVAL, "RAM block '%s': borrowed "
                                 "memory cannot grow past its size", name);
        }
        b->resized = opts->resized;
        b->resized_opaque = opts->resized_opaque;
    }
    if (b->max_length > GM_RAM_SPACE / 2) {
        unsigned long long len = b->max_length;

        free(b);
        return gm__error_set(err, -EINVAL, "RAM block '%s': %llu bytes "
                             "exceed the ram_addr space", name, len);
    }
    b->reserved = round_up(b->max_length, GM_RAM_ALIGN);
    ret = memory_make(b, opts, err, name);
    if (ret) {
        free(b);
        return ret;
    }
    if (gm__ram_space_alloc(sys, b->reserved, &b->offset, &b->spare)) {
        unsigned long long len = b->reserved;

        memory_undo(b, opts);
        free(b);
        return gm__error_set(err, -ENOMEM, "RAM block '%s': no room for "
                             "%llu bytes in the ram_addr space", name, len);
    }
    if (gm__dirty_reserve(sys, (b->offset + b->reserved) >>
                                   GM_DIRTY_PAGE_BITS)) {
        gm__ram_space_free(sys, b->offset, b->reserved, b->spare);
        memory_undo(b, opts);
        free(b);
        return gm__error_set(err, -ENOMEM, "RAM block '%s': out of memory "
                             "for its dirty bitmaps", name);
    }
    b->by_addr.start = b->offset;
    b->by_addr.end = (gm_u128)b->offset + b->reserved;
    gm__itree_insert(&st->by_addr, &b->by_addr);
    if (b->host) {
        b->by_host.start = (uint64_t)(uintptr_t)b->host;
        b->by_host.end = (gm_u128)(uintptr_t)b->host + b->max_length;
        gm__itree_insert(&st->by_host, &b->by_host);
    }
    b->created = false; /* the file is the caller's now */
    st->nr_blocks++;
    /* Its pages exist now; a new block starts dirty for every client
     * (QEMU does the same). */
    gm__dirty_set(sys, b->offset >> GM_DIRTY_PAGE_BITS,
                  round_up(b->max_length, GM_DIRTY_PAGE_SIZE) >>
                      GM_DIRTY_PAGE_BITS,
                  1u << GM_DIRTY_BLOCKS);
    gm__dirty_set(sys, b->offset >> GM_DIRTY_PAGE_BITS,
                  round_up(b->used_length, GM_DIRTY_PAGE_SIZE) >>
                      GM_DIRTY_PAGE_BITS,
                  (1u << GM_DIRTY_CLIENTS) - 1);
    *out = b;
    return 0;
}

void gm__ram_block_free(gm_system *sys, struct gm_ram_block *b)
{
    struct gm_ram_state *st = sys->ram;

    if (!b) {
        return;
    }
    gm__itree_remove(&st->by_addr, &b->by_addr);
    if (b->host) {
        gm__itree_remove(&st->by_host, &b->by_host);
    }
    gm__dirty_clear(sys, b->offset >> GM_DIRTY_PAGE_BITS,
                    b->reserved >> GM_DIRTY_PAGE_BITS, GM_DIRTY_BLOCKS);
    gm__ram_space_free(sys, b->offset, b->reserved, b->spare);
    st->nr_blocks--;
    if (b->resized_due) {
        st->nr_resized_due--;
    }
    memory_free(b);
    free(b);
}

static void first_cb(struct gm_itree_node *n, void *opaque)
{
    struct gm_itree_node **out = opaque;

    if (!*out) {
        *out = n;
    }
}

struct gm_ram_block *gm__ram_find(gm_system *sys, uint64_t ram_addr)
{
    struct gm_itree_node *n = NULL;

    gm__itree_query(sys->ram->by_addr, ram_addr, (gm_u128)ram_addr + 1,
                    first_cb, &n);
    return n ? caa_container_of(n, struct gm_ram_block, by_addr) : NULL;
}

struct gm_ram_block *gm__ram_find_host(gm_system *sys, const void *host)
{
    struct gm_itree_node *n = NULL;
    uint64_t a = (uint64_t)(uintptr_t)host;

    gm__itree_query(sys->ram->by_host, a, (gm_u128)a + 1, first_cb, &n);
    return n ? caa_container_of(n, struct gm_ram_block, by_host) : NULL;
}

struct foreach_ctx {
    int (*fn)(struct gm_ram_block *b, void *opaque);
    void *opaque;
    int ret;
};

static void foreach_cb(struct gm_itree_node *n, void *opaque)
{
    struct foreach_ctx *c = opaque;

    if (!c->ret) {
        c->ret = c->fn(caa_container_of(n, struct gm_ram_block, by_addr),
                       c->opaque);
    }
}

int gm__ram_foreach(gm_system *sys,
                    int (*fn)(struct gm_ram_block *b, void *opaque),
                    void *opaque)
{
    struct foreach_ctx c = {fn, opaque, 0};

    gm__itree_query(sys->ram->by_addr, 0, GM_RAM_SPACE, foreach_cb, &c);
    return c.ret;
}

void gm__ram_resized(gm_system *sys, struct gm_ram_block *b)
{
    if (!b->resized) {
        return;
    }
    if (sys->base.depth) {
        /* In a transaction: the listeners hear of it at its end. */
        if (!b->resized_due) {
            b->resized_due = true;
            sys->ram->nr_resized_due++;
        }
        return;
    }
    b->resized(b->resized_opaque, b->region, b->used_length);
}

static int first_due(struct gm_ram_block *b, void *opaque)
{
    if (b->resized_due) {
        *(struct gm_ram_block **)opaque = b;
        return 1;
    }
    return 0;
}

void gm__ram_resized_flush(gm_system *sys)
{
    /* One at a time: a callback may change the blocks. */
    while (sys->ram->nr_resized_due && !sys->base.depth) {
        struct gm_ram_block *b = NULL;

        gm__ram_foreach(sys, first_due, &b);
        if (!b) {
            break;
        }
        b->resized_due = false;
        sys->ram->nr_resized_due--;
        b->resized(b->resized_opaque, b->region, b->used_length);
    }
}

int gm__ram_discard(struct gm_ram_block *b, uint64_t off, uint64_t len)
{
    uint8_t *p = (uint8_t *)b->host + off;

    if (!b->host || !len) {
        return 0;
    }
    if (b->fd >= 0) {
        /* The pages belong to the file: punch them out of it. */
        if (fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                      (off_t)off, (off_t)len)) {
            return -errno;
        }
        if (b->backing == GM_RAM_MEMFD || (b->flags & GM_RAM_SHARED)) {
            return 0;
        }
        /* A private mapping of it keeps its copies: drop them too. */
    }
    if (b->backing == GM_RAM_PTR) {
        memset(p, 0, len); /* not ours to give back */
        return 0;
    }
    return madvise(p, len, MADV_DONTNEED) ? -errno : 0;
}
