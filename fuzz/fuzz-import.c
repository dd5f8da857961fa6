/* SPDX-License-Identifier: MIT */
/*
 * fuzz/fuzz-import.c - the two machine-description importers against
 * arbitrary bytes.
 *
 * The input is a board file or a QEMU `info mtree -D` dump (chosen the way
 * the CLI chooses: by its first line). Whatever it holds, the importer must
 * either build a machine or refuse the text with a message; it must never
 * crash, hang, leak or leave a half-built system. When a machine is built,
 * every way of printing it is exercised, and its annotated dump is read
 * back: every address space of the rebuilt machine must have the same flat
 * view (see views_of()), unless the dump cannot describe the machine (see
 * struct walk) or the importer had to break an alias loop (struct machine,
 * @loops).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <guestmem/guestmem.h>

#include "board.h"
#include "fuzz.h"
#include "mtree-import.h"

#define MAX_INPUT (64 * 1024)

/* What gm_mtree_print() writes, in a malloc'ed string (NULL on error). */
static char *print(gm_system *sys, unsigned flags, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    int rc;

    if (!f) {
        return NULL;
    }
    rc = gm_mtree_print(sys, f, flags, NULL);
    if (fclose(f) || rc) {
        free(buf);
        return NULL;
    }
    return buf;
}

/*
 * Every address space's flat view, one line per range, spaces sorted by
 * name: what a machine means, whichever spaces happen to share a view (QEMU
 * prints shared views once; which spaces share depends on how their roots
 * resolve, which the dump does not always pin down).
 */
struct views {
    char **lines; /* one string per space: "NAME\n" then its ranges */
    size_t n, cap;
    FILE *cur;
};

static int put_range(const struct gm_section *sec, void *opaque)
{
    FILE *f = opaque;

    fprintf(f, "%016llx %016llx%016llx %s @%llx%s%s%s\n",
            (unsigned long long)sec->addr,
            (unsigned long long)(sec->size >> 64),
            (unsigned long long)sec->size, gm_region_name(sec->region),
            (unsigned long long)sec->offset_in_region,
            sec->readonly ? " ro" : "", sec->romd ? " romd" : "",
            sec->nonvolatile ? " nv" : "");
    return 0;
}

static int put_space(gm_space *as, void *opaque)
{
    struct views *v = opaque;
    char *buf = NULL;
    size_t len;
    FILE *f = open_memstream(&buf, &len);
    gm_flatview *fv = gm_space_get_flatview(as);

    FUZZ_CHECK(f && fv);
    fprintf(f, "%s\n", gm_space_name(as));
    gm_flatview_foreach(fv, put_range, f);
    gm_flatview_unref(fv);
    FUZZ_CHECK(fclose(f) == 0);
    if (v->n == v->cap) {
        v->cap = v->cap ? 2 * v->cap : 8;
        v->lines = realloc(v->lines, v->cap * sizeof(*v->lines));
        FUZZ_CHECK(v->lines != NULL);
    }
    v->lines[v->n++] = buf;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static struct views views_of(gm_system *sys)
{
    struct views v = {0};

    gm_system_foreach_space(sys, put_space, &v);
    if (v.n) {
        qsort(v.lines, v.n, sizeof(*v.lines), cmp_str);
    }
    return v;
}

static bool same_views(const struct views *a, const struct views *b)
{
    if (a->n != b->n) {
        return false;
    }
    for (size_t i = 0; i < a->n; i++) {
        if (strcmp(a->lines[i], b->lines[i])) {
            return false;
        }
    }
    return true;
}

static void views_free(struct views *v)
{
    for (size_t i = 0; i < v->n; i++) {
        free(v->lines[i]);
    }
    free(v->lines);
}

/*
 * Whether the round trip cannot be asked of this machine, because QEMU's
 * dump format cannot describe it exactly or because it is too big:
 *  - two enabled siblings of equal priority overlap: which one wins is
 *    decided by the order they were added in, and `info mtree` prints
 *    siblings by address (the library warns about such collisions);
 *  - a region or space name cannot be written unambiguously, or a region
 *    is empty;
 *  - I/O regions have subregions but no region is a container (see
 *    no_round_trip());
 *  - it maps more than 1 TiB of RAM, which a second machine may not get.
 * See visit().
 */
struct walk {
    gm_region **seen;
    size_t n, cap;
    gm_region *kids[64];
    size_t nkids;
    bool no_round_trip;
    bool containers, io_parents; /* see no_round_trip() */
};

static bool printable(const char *name)
{
    for (const char *c = name; *c; c++) {
        if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e) {
            return false;
        }
    }
    return true;
}

static int collect(gm_region *child, void *opaque)
{
    struct walk *w = opaque;

    if (w->nkids == sizeof(w->kids) / sizeof(w->kids[0])) {
        w->no_round_trip = true; /* too many to check: do not judge */
        return 1;
    }
    w->kids[w->nkids++] = child;
    return 0;
}

static void visit(struct walk *w, gm_region *r)
{
    gm_region *kids[64];
    size_t nk;

    if (!r || w->no_round_trip) {
        return;
    }
    for (size_t i = 0; i < w->n; i++) {
        if (w->seen[i] == r) {
            return;
        }
    }
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 32;
        gm_region **s = realloc(w->seen, cap * sizeof(*s));

        FUZZ_CHECK(s != NULL);
        w->seen = s;
        w->cap = cap;
    }
    w->seen[w->n++] = r;
    /*
     * QEMU's dump does not quote names: a region line whose name begins
     * with "alias " reads as an alias line, and bytes that are not
     * printable ASCII (a lone CR, say) may not survive the line reader.
     */
    const char *name = gm_region_name(r);
    if (!strncmp(name, "alias ", 6)) {
        w->no_round_trip = true;
    }
    /* QEMU prints a region of size 0 as START-START, as one of size 1. */
    if (gm_region_size(r) == 0) {
        w->no_round_trip = true;
    }
    /* Mapping that much host memory a second time may fail (not a bug). */
    enum gm_region_kind k = gm_region_kind(r);
    if ((k == GM_REGION_RAM || k == GM_REGION_ROM ||
         k == GM_REGION_ROM_DEVICE || k == GM_REGION_RAM_DEVICE) &&
        gm_region_size(r) > ((gm_u128)1 << 40)) {
        w->no_round_trip = true;
    }
    if (!printable(name)) {
        w->no_round_trip = true;
    }
    w->nkids = 0;
    gm_region_foreach_subregion(r, collect, w);
    nk = w->nkids;
    w->containers |= gm_region_kind(r) == GM_REGION_CONTAINER;
    w->io_parents |= gm_region_kind(r) == GM_REGION_IO && nk > 0;
    memcpy(kids, w->kids, nk * sizeof(kids[0]));
    for (size_t i = 0; i < nk && !w->no_round_trip; i++) {
        for (size_t j = i + 1; j < nk; j++) {
            gm_region *a = kids[i], *b = kids[j];
            gm_u128 a0 = gm_region_addr(a), b0 = gm_region_addr(b);

            if (gm_region_enabled(a) && gm_region_enabled(b) &&
                gm_region_priority(a) == gm_region_priority(b) &&
                a0 < b0 + gm_region_size(b) && b0 < a0 + gm_region_size(a)) {
                w->no_round_trip = true;
            }
        }
    }
    for (size_t i = 0; i < nk; i++) {
        visit(w, kids[i]);
    }
    visit(w, gm_region_alias_target(r));
}

static int visit_space(gm_space *as, void *opaque)
{
    struct walk *w = opaque;

    if (!printable(gm_space_name(as))) {
        w->no_round_trip = true;
    }
    visit(w, gm_space_root(as));
    return 0;
}

static bool no_round_trip(gm_system *sys)
{
    struct walk w = {0};

    gm_system_foreach_space(sys, visit_space, &w);
    free(w.seen);
    /*
     * The importer takes a dump without a single `container` for one
     * without annotations, where QEMU prints containers as i/o: an i/o
     * region with subregions then reads back as a container.
     */
    return w.no_round_trip || (w.io_parents && !w.containers);
}

static int import(struct machine *m, char *text, size_t len)
{
    if (mtree_import_detect(text, len)) {
        return mtree_import(m, "fuzz", text, len);
    }
    return board_import(m, "fuzz", text, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct machine m = {0}, back = {0};
    char *text, *dump, *flat;
    size_t dlen, flen;

    if (size > MAX_INPUT) {
        return 0;
    }
    fuzz_quiet_stderr();
    text = malloc(size + 1);
    if (!text) {
        return 0;
    }
    memcpy(text, data, size);
    text[size] = '\0';
    if (import(&m, text, size)) {
        FUZZ_CHECK(m.sys == NULL); /* a refusal leaves nothing behind */
        free(text);
        return 0;
    }
    free(text);

    free(print(m.sys, 0, &dlen));
    free(print(m.sys, GM_MTREE_JSON | GM_MTREE_DISABLED, &dlen));
    free(print(m.sys, GM_MTREE_JSON | GM_MTREE_FLAT, &dlen));
    flat = print(m.sys, GM_MTREE_FLAT, &flen);
    dump = print(m.sys, GM_MTREE_DISABLED | GM_MTREE_ANNOTATE, &dlen);
    FUZZ_CHECK(flat != NULL && dump != NULL);

    /* The annotated dump is the CLI's round-trip format: read it back. */
    if (dump && flat && !m.loops && !no_round_trip(m.sys)) {
        int rc = mtree_import(&back, "round-trip", dump, dlen);

        FUZZ_CHECK(rc == 0);
        if (rc == 0) {
            struct views va = views_of(m.sys), vb = views_of(back.sys);

            FUZZ_CHECK(same_views(&va, &vb));
            views_free(&va);
            views_free(&vb);
        }
    }
    free(dump);
    free(flat);
    FUZZ_CHECK(machine_destroy(&back) == 0);
    FUZZ_CHECK(machine_destroy(&m) == 0);
    return 0;
}
