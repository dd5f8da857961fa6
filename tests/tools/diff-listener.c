/* SPDX-License-Identifier: MIT */
/*
 * tests/tools/diff-listener.c - what a listener really hears, for diff.sh.
 *
 *   diff-listener OLD_BOARD FLAT_OUT
 *
 * `guestmem diff OLD NEW` claims to report what the library's listeners
 * would be told if OLD became NEW in one commit. This program makes that
 * commit: it builds boards/diff-old.board, registers a listener on every
 * space, then changes the machine through the API, in one transaction,
 * into what boards/diff-new.board describes (a RAM window grown, a BAR
 * moved, a flash out of romd mode, a PAM window read-only, an NVDIMM
 * non-volatile, the serial port removed, a NIC and its space added, the
 * two bus masters switched). It prints every region_del and region_add it
 * hears, one per line,
 *
 *   SPACE <TAB> INDEX <TAB> del|add <TAB> START <TAB> END <TAB> REGION
 *         <TAB> TYPE <TAB> OFFSET
 *
 * (INDEX: rank among the spaces of that name; numbers in hex), and writes
 * the flat views of the changed machine to FLAT_OUT, which diff.sh
 * compares with `guestmem mtree -f` of the new board (so the change really
 * is OLD -> NEW) before comparing the events with `guestmem diff --json`.
 * Exit status 0, or 1 with a message.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "board.h"

#define MAX_SPACES 16

static gm_space *spaces[MAX_SPACES];
static size_t nspaces;

static int collect_space(gm_space *as, void *opaque)
{
    (void)opaque;
    if (nspaces < MAX_SPACES) {
        spaces[nspaces++] = as;
    }
    return 0;
}

/* The rank of @as among the spaces of its name, by creation order. */
static unsigned space_index(gm_space *as)
{
    unsigned idx = 0;

    nspaces = 0;
    gm_system_foreach_space(gm_space_system(as), collect_space, NULL);
    for (size_t i = 0; i < nspaces && spaces[i] != as; i++) {
        idx += !strcmp(gm_space_name(spaces[i]), gm_space_name(as));
    }
    return idx;
}

/*
 * The type of the range as the view has it: a region_del tells of the old
 * range after the change is made, so the region's own romd mode may be the
 * new one already; the section's is the range's.
 */
static const char *range_type(const struct gm_section *s)
{
    if (s->readonly) {
        return "rom";
    }
    switch (gm_region_kind(s->region)) {
    case GM_REGION_RAM_DEVICE:
        return "ramd";
    case GM_REGION_ROM_DEVICE:
        return s->romd ? "romd" : "i/o";
    case GM_REGION_ROM:
        return "rom";
    case GM_REGION_RAM:
        return "ram";
    default:
        return "i/o";
    }
}

static bool recording;

static void event(const char *what, const struct gm_section *s)
{
    if (!recording) {
        return;
    }
    printf("%s\t%u\t%s\t%" PRIx64 "\t%" PRIx64 "\t%s\t%s%s\t%" PRIx64 "\n",
           gm_space_name(s->space), space_index(s->space), what, s->addr,
           (uint64_t)(s->addr + s->size - 1), gm_region_name(s->region),
           s->nonvolatile ? "nv-" : "", range_type(s), s->offset_in_region);
}

static void on_del(void *opaque, const struct gm_section *s)
{
    (void)opaque;
    event("del", s);
}

static void on_add(void *opaque, const struct gm_section *s)
{
    (void)opaque;
    event("add", s);
}

static const struct gm_listener_ops ops = {
    .region_del = on_del,
    .region_add = on_add,
};

/* Depth-first through subregions and alias targets; small machines only. */
static gm_region *found;
static const char *wanted;

static int look(gm_region *r, void *opaque);

static void visit(gm_region *r)
{
    if (found || !r) {
        return;
    }
    if (!strcmp(gm_region_name(r), wanted)) {
        found = r;
        return;
    }
    if (gm_region_kind(r) == GM_REGION_ALIAS) {
        visit(gm_region_alias_target(r));
    } else {
        gm_region_foreach_subregion(r, look, NULL);
    }
}

static int look(gm_region *r, void *opaque)
{
    (void)opaque;
    visit(r);
    return found != NULL;
}

static gm_region *find(const char *name)
{
    found = NULL;
    wanted = name;
    for (size_t i = 0; i < nspaces && !found; i++) {
        visit(gm_space_root(spaces[i]));
    }
    if (!found) {
        fprintf(stderr, "diff-listener: no region `%s`\n", name);
        exit(1);
    }
    return found;
}

static void check(int rc, const char *what, const gm_error *err)
{
    if (rc < 0) {
        fprintf(stderr, "diff-listener: %s: %s\n", what, err->msg);
        exit(1);
    }
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) || !(buf = malloc((size_t)n + 1)) ||
        fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "diff-listener: cannot read %s\n", path);
        exit(1);
    }
    fclose(f);
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

int main(int argc, char **argv)
{
    struct machine m = {0};
    gm_error err = {0};
    gm_listener *l;
    gm_region *sys, *nic, *bm[2];
    size_t len, nbm = 0;
    char *text;
    FILE *flat;

    if (argc != 3) {
        fprintf(stderr, "usage: diff-listener OLD_BOARD FLAT_OUT\n");
        return 1;
    }
    text = slurp(argv[1], &len);
    if (board_import(&m, argv[1], text, len) < 0) {
        return 1;
    }
    free(text);
    l = gm_listener_register(m.sys, &ops, NULL, 0, NULL, &err);
    if (!l) {
        check(-1, "register", &err);
    }
    nspaces = 0;
    gm_system_foreach_space(m.sys, collect_space, NULL);
    sys = gm_space_root(spaces[0]); /* `memory` */
    for (size_t i = 0; i < nspaces && nbm < 2; i++) {
        if (!strcmp(gm_space_name(spaces[i]), "bus master container")) {
            wanted = "bus master";
            found = NULL;
            gm_region_foreach_subregion(gm_space_root(spaces[i]), look, NULL);
            bm[nbm++] = found;
        }
    }
    if (nbm != 2 || !bm[0] || !bm[1]) {
        fprintf(stderr, "diff-listener: expected two bus masters\n");
        return 1;
    }

    recording = true;
    gm_transaction_begin(m.sys);
    check(gm_region_set_size(find("ram-below-4g"), 128 << 20, &err), "grow RAM",
          &err);
    check(gm_region_set_readonly(find("pam"), true, &err), "PAM", &err);
    check(gm_region_set_nonvolatile(find("nvdimm"), true, &err), "NVDIMM",
          &err);
    check(gm_region_set_address(find("ahci"), 0xfebe0000, &err), "BAR", &err);
    check(gm_region_set_romd(find("flash0"), false, &err), "flash", &err);
    check(gm_region_del_subregion(sys, find("serial"), &err), "serial", &err);
    nic = gm_region_new_io(m.sys, "e1000-mmio", 128 << 10, NULL, NULL, &err);
    if (!nic) {
        check(-1, "NIC", &err);
    }
    check(gm_region_add_subregion(sys, 0xfeb00000, nic, &err), "plug", &err);
    if (!gm_space_new(m.sys, nic, "e1000", &err)) {
        check(-1, "NIC space", &err);
    }
    gm_region_unref(nic);
    check(gm_region_set_enabled(bm[0], true, &err), "bus master 1", &err);
    check(gm_region_set_enabled(bm[1], false, &err), "bus master 2", &err);
    check(gm_transaction_commit(m.sys, &err), "commit", &err);
    recording = false;

    flat = fopen(argv[2], "w");
    if (!flat || gm_mtree_print(m.sys, flat, GM_MTREE_FLAT, &err) < 0 ||
        fclose(flat) != 0) {
        fprintf(stderr, "diff-listener: cannot write %s\n", argv[2]);
        return 1;
    }
    check(gm_listener_unregister(l, &err), "unregister", &err);
    check(machine_destroy(&m), "destroy", &err);
    return fflush(stdout) == 0 ? 0 : 1;
}
