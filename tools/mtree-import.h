/* SPDX-License-Identifier: MIT */
/*
 * tools/mtree-import.h - building a gm_system from a text description.
 *
 * Two formats are read: QEMU's `info mtree -D` dump (optionally with the
 * `container`, read-only alias and `order` annotations, see
 * docs/board-format.md) and guestmem's own board format (tools/board.h).
 * Both importers build the machine through the public API only, in a
 * memoryless system (gm_system_set_memoryless()): RAM of any size renders
 * and prints, and no guest memory is allocated.
 *
 * Errors are reported on stderr as `LABEL:LINE: expected ...` and make the
 * importer return -1; the machine is then left empty (nothing leaks).
 *
 * The dump's parsed form (struct mtree_dump) is exposed for `guestmem
 * annotate` (tools/annotate.c), which decides what a plain dump leaves
 * open and rewrites its lines.
 */
#ifndef GUESTMEM_TOOLS_MTREE_IMPORT_H
#define GUESTMEM_TOOLS_MTREE_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guestmem/guestmem.h"

/*
 * struct machine - a system built from a description.
 * @sys: the system (owned; NULL until an import succeeded).
 * @loops: aliases the dump importer re-pointed at a proxy because they lie
 *         inside their own target (see fix_loop() in mtree-import.c); the
 *         annotated dump of such a machine names the proxies, not QEMU's
 *         regions.
 * @memory: set by the caller before an import: the RAM-backed regions get
 *          host memory and RAM blocks (a dump's: anonymous memory that
 *          reserves nothing, so only what is touched costs). Otherwise
 *          the system is memoryless: RAM of any size is only described.
 */
struct machine {
    gm_system *sys;
    unsigned loops;
    bool memory;
};

/**
 * machine_destroy() - destroy the system.
 * @m: machine; left zeroed (@memory too). Return: 0, or the gm_system_destroy() error.
 */
int machine_destroy(struct machine *m);

/**
 * mtree_import_detect() - whether @text looks like an `info mtree` dump
 * (its first non-blank line starts with `address-space:` or
 * `memory-region:`).
 */
bool mtree_import_detect(const char *text, size_t len);

/**
 * mtree_import() - build @m from an `info mtree -D` dump.
 * @m: zeroed machine; filled on success.
 * @label: file name used in messages.
 * @text: the dump, modified in place (lines are cut); need not be
 *        NUL-terminated but text[@len] must be writable (one spare byte);
 *        owned by the caller and no longer needed after the call.
 * @len: bytes in @text.
 *
 * A plain dump (as QEMU prints it, without the `container` annotation)
 * leaves open which `i/o` regions are containers and, among overlapping
 * siblings of equal priority, which one wins; the importer then guesses
 * (docs/board-format.md, "Plain dumps") and says so once on stderr, naming
 * the regions and pointing at `guestmem annotate`.
 *
 * Return: 0, or -1 after a message on stderr.
 */
int mtree_import(struct machine *m, const char *label, char *text, size_t len);

/*
 * The parsed dump.
 */

enum mtree_kind {
    MT_CONTAINER, /* does not terminate */
    MT_IO,        /* terminating MMIO (or, in a plain dump, not known) */
    MT_RAM,
    MT_ROM,
    MT_ROMD,
    MT_RAMD,
};

/*
 * struct mtree_node - one region line.
 * @name: region name (in the caller's text buffer).
 * @target: alias target name (in the text buffer).
 * @line: 1-based line number.
 * @level: depth in its tree, 1 for a tree root.
 * @start, @end: printed range (absolute within the tree, END inclusive).
 * @size: END - START + 1, 1 .. 2^64.
 * @off: alias offset.
 * @prio: printed priority.
 * @kind: the kind the region is built as (after guesses or annotate's
 *        decisions).
 * @order: the `order K` annotation (0: none); after parsing, @rank holds
 *         the render rank among equal-priority siblings (lower renders
 *         first and wins overlaps).
 * @rank: see @order.
 * @unknown: a plain dump's non-alias `i/o` line: container or terminating
 *           is not known from the dump.
 * @nv, @disabled, @alias: the line's flags.
 * @rom_token: an alias line written `rom` (read-only alias).
 * @parent: parent node, -1 for a tree root.
 * @end_idx: one past the last node of the subtree.
 * @tree: index of the tree holding the line.
 * @target_sec: alias: tree index of the target section.
 * @obj: node whose region stands for this line (itself for a region of
 *       its own; a tree root printed elsewhere too points there).
 * @line_off: offset of the line in the text; @type_off, @type_len: the
 *            TYPE token (annotate rewrites it); @type_end: offset of the
 *            `)` closing the attributes.
 * @state: scratch for the importer's walks.
 * @region: the created region (when @obj is the node itself).
 */
struct mtree_node {
    char *name;
    char *target;
    unsigned line;
    unsigned level;
    uint64_t start, end;
    gm_u128 size;
    uint64_t off;
    int prio;
    enum mtree_kind kind;
    unsigned order;
    unsigned rank;
    bool unknown, nv, disabled, alias, rom_token;
    int parent;
    int end_idx;
    int tree;
    int target_sec;
    int obj;
    size_t line_off, type_off, type_len, type_end;
    int state;
    gm_region *region;
};

/*
 * struct mtree_tree - an `address-space:` group or a `memory-region:`
 * section.
 * @line: line of the (first) header.
 * @section: a `memory-region:` section.
 * @secname: the section's name.
 * @first_as, @nas: the group's space names in the dump's as_names.
 * @root: the root node, -1 before the root line.
 */
struct mtree_tree {
    unsigned line;
    bool section;
    char *secname;
    int first_as, nas;
    int root;
};

/* What the dump says of its origin (bits of mtree_dump.format). */
enum mtree_format {
    MTF_ANNOTATED = 1 << 0,   /* `container` (guestmem) or `order` tokens */
    MTF_RW_FLAGS = 1 << 1,    /* old QEMU: `(prio N, RW)`, no type names */
    MTF_QEMU_CONTAINER = 1 << 2, /* QEMU >= 11 prints `container` itself */
    MTF_OWNERS = 1 << 3,      /* `info mtree -o` owner suffixes */
    MTF_TREE_DRAWING = 1 << 4, /* `|-- ` / `├── ` tree drawing */
    MTF_UNGROUPED = 1 << 5,   /* one `address-space:` per tree (old QEMU) */
};

/*
 * struct mtree_dump - a parsed dump.
 * @label: file name for messages.
 * @nodes, @nn: region lines in document order (a subtree is the index
 *              range [i, end_idx)).
 * @trees, @nt: groups and sections in document order.
 * @as_names, @as_lines, @nas: space names of the groups, with their lines.
 * @format: enum mtree_format bits.
 * @guess_kind, @nguess_kind: plain dump: unknown regions whose kind was
 *                            guessed (node indices).
 * @guess_order, @nguess_order: plain dump: first children of the
 *                              equal-priority groups of overlapping
 *                              siblings whose order was guessed.
 * The remaining fields are the importer's scratch.
 */
struct mtree_dump {
    const char *label;
    struct mtree_node *nodes;
    int nn, ncap;
    struct mtree_tree *trees;
    int nt, tcap;
    char **as_names;
    unsigned *as_lines;
    int nas, ascap;
    unsigned format;
    int *guess_kind;
    int nguess_kind;
    int *guess_order;
    int nguess_order;
    int *stack;
    int stackcap;
    int style_width, style_line;
};

/**
 * mtree_dump_parse() - parse a dump, resolve alias targets and decide
 * which lines stand for the same region.
 * @d: zeroed dump; free with mtree_dump_free() whatever the result.
 * @label: file name for messages.
 * @text, @len: as for mtree_import(); the nodes point into @text.
 *
 * Unknown kinds and orders of a plain dump are left to
 * mtree_dump_guess().
 * Return: 0, or -1 after a message on stderr.
 */
int mtree_dump_parse(struct mtree_dump *d, const char *label, char *text,
                     size_t len);

/**
 * mtree_dump_guess() - apply the plain-dump heuristic: an unknown region
 * with subregions is a container, one without terminates; overlapping
 * equal-priority siblings render smallest first, then in print order.
 * Records the guesses in @d (see struct mtree_dump). Ranks of groups that
 * carry `order` tokens are kept.
 * Return: 0, or -1 (out of memory, after a message).
 */
int mtree_dump_guess(struct mtree_dump *d);

/**
 * mtree_overlap_apart() - whether two of the @n siblings in @sib (node
 * indices; reordered by START) overlap while printed at different STARTs,
 * so that the dump does not tell which one wins.
 */
bool mtree_overlap_apart(const struct mtree_dump *d, int *sib, int n);

/**
 * mtree_order_group() - set the render ranks 1..@n of equal-priority
 * siblings.
 * @d: the dump.
 * @sib: the siblings' node indices in print order.
 * @n: how many.
 * @edges: @nedges pairs (i, j) of positions in @sib: @sib[i] renders
 *         before @sib[j] (it wins where they overlap).
 * @nedges: number of pairs.
 * @by_size: beyond the constraints, smaller siblings render first (the
 *           plain-dump guess); else print order decides alone.
 *
 * Siblings printed at the same START keep their print order (QEMU prints
 * those in render order).
 * Return: 0; 1 when @edges had a cycle and were ignored; -1 when out of
 * memory.
 */
int mtree_order_group(struct mtree_dump *d, const int *sib, int n,
                      const int *edges, int nedges, bool by_size);

/**
 * mtree_dump_build() - build @m from a parsed dump (kinds and ranks as
 * they are in @d).
 * @d: dump from mtree_dump_parse().
 * @m: zeroed machine; filled on success, left empty on failure.
 * Return: 0, or -1 after a message on stderr.
 */
int mtree_dump_build(struct mtree_dump *d, struct machine *m);

/**
 * mtree_dump_warn() - the one warning about a plain dump's guesses (on
 * stderr), if there were any.
 */
void mtree_dump_warn(const struct mtree_dump *d);

/** mtree_dump_free() - free what mtree_dump_parse() allocated. */
void mtree_dump_free(struct mtree_dump *d);

/** mtree_kind_name() - the TYPE token of a kind (`container` included). */
const char *mtree_kind_name(enum mtree_kind kind);

/*
 * A hash index of integer ids (sections by name, board IDs), in insertion
 * order within a hash value. Iterate with
 *   for (i = mt_index_first(ix, h); i >= 0; i = mt_index_next(ix, i))
 * and compare the keys: distinct keys may share a hash value.
 */
struct mt_index {
    int *head, *tail; /* per bucket, -1 when empty */
    int *next;        /* per id */
    uint64_t *hv;     /* per id */
    int *ids;         /* ids in insertion order */
    int n, ncap, idcap;
    size_t nb;        /* buckets, a power of two */
};

/** mt_hash_str() - a 64-bit hash of a NUL-terminated string. */
uint64_t mt_hash_str(const char *s);

/**
 * mt_index_add() - add @id (not yet in @ix) with hash @h.
 * Return: 0, or -1 when out of memory.
 */
int mt_index_add(struct mt_index *ix, int id, uint64_t h);

/** mt_index_first() - the first id added with hash @h, or -1. */
int mt_index_first(const struct mt_index *ix, uint64_t h);

/** mt_index_next() - the next id after @id with the same hash, or -1. */
int mt_index_next(const struct mt_index *ix, int id);

/** mt_index_free() - free @ix and zero it. */
void mt_index_free(struct mt_index *ix);

#endif
