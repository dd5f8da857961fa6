/* SPDX-License-Identifier: MIT */
/*
 * test-mtree.c - gm_mtree_print(): the text of a small machine byte for
 * byte, trees 100,000 containers deep in every mode (checked line by line,
 * printed on a thread with a 512 KiB stack, so recursion would crash), and
 * the JSON of docs/json.md: string escapes for every kind of byte, which
 * regions -D lists, ids shared by the tree and flat documents, and the
 * members that only some kinds have.
 *
 * The deep chain hangs below a disabled alias, so that no flat view renders
 * through it: this tests the printer, not the renderer.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <guestmem/guestmem.h>

#include "harness.h"

#define DEPTH 100000

/* What gm_mtree_print() writes, as a malloc'ed string (NULL on error). */
static char *print(gm_system *sys, unsigned flags, int *rc)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    gm_error err = {0};

    if (!f) {
        *rc = -errno;
        return NULL;
    }
    *rc = gm_mtree_print(sys, f, flags, &err);
    if (*rc) {
        fprintf(stderr, "# gm_mtree_print: %s\n", err.msg);
    }
    fclose(f);
    return buf;
}

static gm_region *place(gm_region *parent, uint64_t addr, gm_region *r,
                        int prio)
{
    CHECK(r != NULL);
    if (prio) {
        CHECK_EQ_INT(gm_region_add_subregion_overlap(parent, addr, r, prio,
                                                     NULL), 0);
    } else {
        CHECK_EQ_INT(gm_region_add_subregion(parent, addr, r, NULL), 0);
    }
    gm_region_unref(r);
    return r;
}

/*
 * A small machine: "system" (root of "memory") holds RAM, an overlapping
 * device, a disabled container with a RAM inside, an alias of that RAM (so
 * its target sits under a disabled region), a ROM device and a logged RAM;
 * "io" is a second space on a root of its own.
 */
struct small {
    gm_system *sys;
    gm_region *system, *ram, *dev, *box, *hidden, *win, *flash, *vram, *io;
};

static void small_build(struct small *s)
{
    gm_system *sys = gm_system_new(NULL);

    CHECK(sys != NULL);
    s->sys = sys;
    s->system = gm_region_new_container(sys, "system", 0x100000, NULL);
    s->io = gm_region_new_container(sys, "io", 0x10000, NULL);
    CHECK(s->system && s->io);
    s->ram = place(s->system, 0, gm_region_new_ram(sys, "ram", 0x8000, NULL),
                   0);
    s->dev = place(s->system, 0x1000,
                   gm_region_new_io(sys, "dev", 0x100, NULL, NULL, NULL), 2);
    s->box = place(s->system, 0x20000,
                   gm_region_new_container(sys, "box", 0x10000, NULL), 0);
    s->hidden = place(s->box, 0x100,
                      gm_region_new_ram(sys, "hidden", 0x1000, NULL), 0);
    CHECK_EQ_INT(gm_region_set_enabled(s->box, false, NULL), 0);
    s->win = place(s->system, 0x40000,
                   gm_region_new_alias(sys, "win", s->hidden, 0x10, 0x100,
                                       NULL), 0);
    s->flash = place(s->system, 0x50000,
                     gm_region_new_rom_device(sys, "flash", 0x1000, NULL,
                                              NULL, NULL), 0);
    s->vram = place(s->system, 0x60000,
                    gm_region_new_ram(sys, "vram", 0x1000, NULL), 0);
    CHECK_EQ_INT(gm_region_set_log(s->vram, true, GM_DIRTY_VGA, NULL), 0);
    CHECK_EQ_INT(gm_region_set_log(s->vram, true, GM_DIRTY_MIGRATION, NULL),
                 0);
    place(s->io, 0x60, gm_region_new_io(sys, "kbd", 1, NULL, NULL, NULL), 0);
    CHECK(gm_space_new(sys, s->system, "memory", NULL) != NULL);
    CHECK(gm_space_new(sys, s->io, "io", NULL) != NULL);
    gm_region_unref(s->system);
    gm_region_unref(s->io);
}

static void small_free(struct small *s)
{
    CHECK_EQ_INT(gm_system_destroy(s->sys, NULL), 0);
}

/* The text, exactly as QEMU 7.2 prints such a machine. */
static void test_text(void)
{
    struct small s;
    char *out;
    int rc;

    small_build(&s);
    out = print(s.sys, GM_MTREE_DISABLED, &rc);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_STR(out,
        "address-space: memory\n"
        "  0000000000000000-00000000000fffff (prio 0, i/o): system\n"
        "    0000000000000000-0000000000007fff (prio 0, ram): ram\n"
        "    0000000000001000-00000000000010ff (prio 2, i/o): dev\n"
        "    0000000000020000-000000000002ffff (prio 0, i/o): box "
        "[disabled]\n"
        "      0000000000020100-00000000000210ff (prio 0, ram): hidden\n"
        "    0000000000040000-00000000000400ff (prio 0, ram): alias win "
        "@hidden 0000000000000010-000000000000010f\n"
        "    0000000000050000-0000000000050fff (prio 0, romd): flash\n"
        "    0000000000060000-0000000000060fff (prio 0, ram): vram\n"
        "\n"
        "address-space: io\n"
        "  0000000000000000-000000000000ffff (prio 0, i/o): io\n"
        "    0000000000000060-0000000000000060 (prio 0, i/o): kbd\n"
        "\n"
        "memory-region: hidden\n"
        "  0000000000000100-00000000000010ff (prio 0, ram): hidden\n"
        "\n");
    free(out);
    /* Without -D the disabled line goes, its subregion stays (QEMU). */
    out = print(s.sys, 0, &rc);
    CHECK_EQ_INT(rc, 0);
    CHECK(out && !strstr(out, "box"));
    CHECK_CONTAINS(out, "\n      0000000000020100-00000000000210ff (prio 0, "
                        "ram): hidden\n");
    free(out);
    small_free(&s);
}

/* The line of @doc that holds @key, copied into @line. */
static bool find_line(const char *doc, const char *key, char *line,
                      size_t size)
{
    const char *p = doc ? strstr(doc, key) : NULL;
    const char *b, *e;

    if (!p) {
        return false;
    }
    for (b = p; b > doc && b[-1] != '\n'; b--) {
    }
    e = strchr(p, '\n');
    if (!e) {
        e = p + strlen(p);
    }
    snprintf(line, size, "%.*s", (int)(e - b), b);
    return true;
}

/* Which regions the tree document lists, with and without -D. */
static void test_json_disabled(void)
{
    struct small s;
    char *all, *some, line[1024];
    int rc;

    small_build(&s);
    all = print(s.sys, GM_MTREE_JSON | GM_MTREE_DISABLED, &rc);
    CHECK_EQ_INT(rc, 0);
    some = print(s.sys, GM_MTREE_JSON, &rc);
    CHECK_EQ_INT(rc, 0);
    CHECK_CONTAINS(all, "\"format\": \"guestmem-mtree\",\n  \"version\": 1,");
    CHECK_CONTAINS(all, "\"view\": \"tree\",\n  \"disabled\": true,");
    CHECK_CONTAINS(some, "\"view\": \"tree\",\n  \"disabled\": false,");
    CHECK_CONTAINS(all, "{\"name\": \"memory\", \"root\": 0}");
    CHECK_CONTAINS(all, "{\"name\": \"io\", \"root\": 8}");
    /* Ids: the walk's order, the same in both documents. */
    CHECK_CONTAINS(all, "{\"id\": 0, \"name\": \"system\", \"kind\": "
                        "\"container\", \"qemu_type\": \"i/o\", \"parent\": "
                        "null, \"start\": \"0x0\", \"end\": \"0xfffff\", "
                        "\"addr\": \"0x0\", \"size\": \"0x100000\"");
    CHECK_CONTAINS(all, "\"subregions\": [1, 2, 3, 5, 6, 7]}");
    CHECK_CONTAINS(some, "\"subregions\": [1, 2, 5, 6, 7]}");
    CHECK_CONTAINS(all, "{\"id\": 3, \"name\": \"box\", \"kind\": "
                        "\"container\"");
    CHECK_CONTAINS(all, "\"enabled\": false");
    CHECK(some && !strstr(some, "\"box\""));
    /* The target under the disabled box: its child with -D, a top without. */
    CHECK(find_line(all, "\"name\": \"hidden\"", line, sizeof(line)));
    CHECK_CONTAINS(line, "{\"id\": 4, ");
    CHECK_CONTAINS(line, "\"parent\": 3, \"start\": \"0x20100\", "
                         "\"end\": \"0x210ff\", \"addr\": \"0x100\"");
    CHECK(find_line(some, "\"name\": \"hidden\"", line, sizeof(line)));
    CHECK_CONTAINS(line, "{\"id\": 4, ");
    CHECK_CONTAINS(line, "\"parent\": null, \"start\": \"0x100\"");
    CHECK(find_line(some, "\"name\": \"win\"", line, sizeof(line)));
    CHECK_CONTAINS(line, "\"kind\": \"alias\", \"qemu_type\": \"ram\"");
    CHECK_CONTAINS(line, "\"alias\": {\"target\": 4, \"offset\": \"0x10\"}}");
    CHECK(!strstr(line, "subregions"));
    /* Members of some kinds only. */
    CHECK(find_line(some, "\"name\": \"flash\"", line, sizeof(line)));
    CHECK_CONTAINS(line, "\"kind\": \"rom-device\", \"qemu_type\": \"romd\"");
    CHECK_CONTAINS(line, "\"romd\": true");
    CHECK(find_line(some, "\"name\": \"ram\"", line, sizeof(line)));
    CHECK(!strstr(line, "romd"));
    CHECK(find_line(some, "\"name\": \"vram\"", line, sizeof(line)));
    CHECK_CONTAINS(line, "\"dirty_log\": [\"vga\", \"migration\"]");
    free(all);
    free(some);

    /* A disabled root is listed, without its subregions. */
    CHECK_EQ_INT(gm_region_set_enabled(s.io, false, NULL), 0);
    some = print(s.sys, GM_MTREE_JSON, &rc);
    CHECK_EQ_INT(rc, 0);
    CHECK(find_line(some, "\"name\": \"io\", \"kind\"", line, sizeof(line)));
    CHECK_CONTAINS(line, "{\"id\": 8, ");
    CHECK_CONTAINS(line, "\"enabled\": false");
    CHECK_CONTAINS(line, "\"subregions\": []}");
    CHECK(some && !strstr(some, "kbd"));
    free(some);
    small_free(&s);
}

/* The flat document: ranges name their regions by the tree's ids. */
static void test_json_flat(void)
{
    struct small s;
    char *flat, *flat_d, line[1024];
    int rc;

    small_build(&s);
    flat = print(s.sys, GM_MTREE_JSON | GM_MTREE_FLAT, &rc);
    CHECK_EQ_INT(rc, 0);
    flat_d = print(s.sys, GM_MTREE_JSON | GM_MTREE_FLAT | GM_MTREE_DISABLED,
                   &rc);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_STR(flat, flat_d); /* -D changes no flat view */
    CHECK_CONTAINS(flat, "\"view\": \"flat\",\n  \"address_spaces\"");
    CHECK(flat && !strstr(flat, "\"disabled\""));
    CHECK_CONTAINS(flat, "{\"name\": \"memory\", \"root\": 0, "
                         "\"flat_view\": 0}");
    CHECK_CONTAINS(flat, "{\"name\": \"io\", \"root\": 8, "
                         "\"flat_view\": 1}");
    CHECK_CONTAINS(flat, "{\"index\": 0, \"address_spaces\": [\"memory\"],"
                         "\n     \"root\": 0, \"ranges\": [");
    CHECK_CONTAINS(flat, "{\"start\": \"0x1000\", \"end\": \"0x10ff\", "
                         "\"size\": \"0x100\", \"region\": 2, \"name\": "
                         "\"dev\", \"qemu_type\": \"i/o\", \"priority\": 2, "
                         "\"offset\": \"0x0\", \"readonly\": false, "
                         "\"nonvolatile\": false, \"dirty_log\": []}");
    /* The alias's window onto the RAM under the disabled box. */
    CHECK_CONTAINS(flat, "{\"start\": \"0x40000\", \"end\": \"0x400ff\", "
                         "\"size\": \"0x100\", \"region\": 4, \"name\": "
                         "\"hidden\", \"qemu_type\": \"ram\", \"priority\": "
                         "0, \"offset\": \"0x10\",");
    CHECK(find_line(flat, "\"name\": \"flash\"", line, sizeof(line)));
    CHECK_CONTAINS(line, "\"romd\": true}");
    CHECK(find_line(flat, "\"name\": \"ram\"", line, sizeof(line)));
    CHECK(!strstr(line, "romd"));
    CHECK(find_line(flat, "\"name\": \"vram\"", line, sizeof(line)));
    CHECK_CONTAINS(line, "\"dirty_log\": [\"vga\", \"migration\"]}");
    free(flat);
    free(flat_d);

    /* Out of romd mode the flag says so. */
    CHECK_EQ_INT(gm_region_set_romd(s.flash, false, NULL), 0);
    flat = print(s.sys, GM_MTREE_JSON | GM_MTREE_FLAT, &rc);
    CHECK(find_line(flat, "\"name\": \"flash\"", line, sizeof(line)));
    CHECK_CONTAINS(line, "\"qemu_type\": \"i/o\"");
    CHECK_CONTAINS(line, "\"romd\": false}");
    free(flat);
    small_free(&s);
}

/* Names with every kind of byte come out as valid JSON strings. */
static void test_json_strings(void)
{
    static const struct {
        const char *name;
        const char *json; /* what follows `"name": ` */
    } cases[] = {
        {"q\"b\\s", "\"q\\\"b\\\\s\", \"kind\""},
        {"tab\tnl\ncr\r", "\"tab\\tnl\\ncr\\u000d\", \"kind\""},
        {"c0\x01\x1f del\x7f", "\"c0\\u0001\\u001f del\\u007f\", \"kind\""},
        {"c1\xc2\x85\xc2\x9f nbsp\xc2\xa0",
         "\"c1\\u0085\\u009f nbsp\xc2\xa0\", \"kind\""},
        {"utf8 \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf",
         "\"utf8 \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf\", "
         "\"kind\""},
        {"ff\xff", "\"ff\\ufffd\", \"name_hex\": \"6666ff\", \"kind\""},
        {"overlong\xc0\xaf",
         "\"overlong\\ufffd\\ufffd\", \"name_hex\": \"6f7665726c6f6e67c0af\""},
        {"e0\xe0\x80\x80", "\"e0\\ufffd\\ufffd\\ufffd\", \"name_hex\": "
                           "\"6530e08080\""},
        {"sur\xed\xa0\x80", "\"sur\\ufffd\\ufffd\\ufffd\", \"name_hex\": "
                            "\"737572eda080\""},
        {"big\xf4\x90\x80\x80", "\"big\\ufffd\\ufffd\\ufffd\\ufffd\", "
                                "\"name_hex\": \"626967f4908080\""},
        {"cut\xe2\x82", "\"cut\\ufffd\\ufffd\", \"name_hex\": "
                        "\"637574e282\""},
        {"lone\x80", "\"lone\\ufffd\", \"name_hex\": \"6c6f6e6580\""},
    };
    gm_system *sys = gm_system_new(NULL);
    gm_region *root = gm_region_new_container(sys, "root", 0x10000, NULL);
    char key[256];
    char *out;
    int rc;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        place(root, 0x100 * i,
              gm_region_new_io(sys, cases[i].name, 0x10, NULL, NULL, NULL),
              0);
    }
    CHECK(gm_space_new(sys, root, "sp\xfe", NULL) != NULL);
    gm_region_unref(root);
    out = print(sys, GM_MTREE_JSON, &rc);
    CHECK_EQ_INT(rc, 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(key, sizeof(key), "\"name\": %s", cases[i].json);
        CHECK_CONTAINS(out, key);
    }
    CHECK_CONTAINS(out, "{\"name\": \"sp\\ufffd\", \"name_hex\": "
                        "\"7370fe\", \"root\": 0}");
    free(out);
    out = print(sys, GM_MTREE_JSON | GM_MTREE_FLAT, &rc);
    CHECK_EQ_INT(rc, 0);
    CHECK_CONTAINS(out, "\"address_spaces\": [\"sp\\ufffd\"]");
    CHECK_CONTAINS(out, "\"name\": \"ff\\ufffd\", \"name_hex\": \"6666ff\", "
                        "\"qemu_type\"");
    /* Nothing but ASCII and valid UTF-8 is written. */
    for (const unsigned char *p = (const unsigned char *)out; p && *p; p++) {
        if (*p < 0x20 && *p != '\n') {
            HARNESS_FAIL("control byte 0x%02x at offset %zu", *p,
                         (size_t)(p - (const unsigned char *)out));
            break;
        }
    }
    CHECK(out && !strstr(out, "\xff") && !strstr(out, "\xfe"));
    free(out);
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
}

/*
 * The deep chain: "root" (space "memory") holds a disabled alias "al" of
 * "top", under which c0 holds c1 ... holds c(DEPTH - 1).
 */
static gm_system *deep_build(void)
{
    gm_system *sys = gm_system_new(NULL);
    gm_region *top = gm_region_new_container(sys, "top", GM_SIZE_2_64, NULL);
    gm_region *root = gm_region_new_container(sys, "root", GM_SIZE_2_64,
                                              NULL);
    gm_region *cur = top, *al;
    char name[32];

    CHECK(sys && top && root);
    CHECK_EQ_INT(gm_transaction_begin(sys), 0);
    for (unsigned i = 0; i < DEPTH; i++) {
        snprintf(name, sizeof(name), "c%u", i);
        cur = place(cur, 0, gm_region_new_container(sys, name, 0x1000, NULL),
                    0);
    }
    CHECK_EQ_INT(gm_transaction_commit(sys, NULL), 0);
    al = gm_region_new_alias(sys, "al", top, 0, 0x1000, NULL);
    CHECK(al != NULL);
    CHECK_EQ_INT(gm_region_set_enabled(al, false, NULL), 0);
    place(root, 0, al, 0);
    CHECK(gm_space_new(sys, root, "memory", NULL) != NULL);
    gm_region_unref(root);
    gm_region_unref(top);
    return sys;
}

/*
 * A stream that checks the lines written to it as they come (the text of
 * the deep chain is 10 GB: 2 * level blanks per line): for each line, its
 * indentation and up to sizeof(text) - 1 bytes of the rest.
 */
struct sink {
    unsigned long long bytes, lines;
    size_t indent;
    bool in_text;
    char text[512];
    size_t tlen;
    void (*line)(struct sink *k);
    unsigned long next;  /* next chain level expected */
    unsigned long bad;   /* lines that were not as expected */
    char first_bad[600]; /* the first of them */
};

static void sink_bad(struct sink *k)
{
    if (!k->bad++) {
        snprintf(k->first_bad, sizeof(k->first_bad), "line %llu: %zu "
                 "blanks, then \"%s\"", k->lines, k->indent, k->text);
    }
}

static char blanks[4096]; /* set by main() */

static ssize_t sink_write(void *cookie, const char *buf, size_t size)
{
    struct sink *k = cookie;
    size_t i = 0;

    k->bytes += size;
    while (i < size) {
        if (!k->in_text && buf[i] == ' ') {
            size_t run = size - i < sizeof(blanks) ? size - i
                                                   : sizeof(blanks);

            if (!memcmp(buf + i, blanks, run)) {
                k->indent += run;
                i += run;
                continue;
            }
            k->indent++;
            i++;
            continue;
        }
        if (buf[i] == '\n') {
            k->text[k->tlen] = '\0';
            k->line(k);
            k->lines++;
            k->indent = 0;
            k->tlen = 0;
            k->in_text = false;
        } else {
            k->in_text = true;
            if (k->tlen + 1 < sizeof(k->text)) {
                k->text[k->tlen++] = buf[i];
            }
        }
        i++;
    }
    return (ssize_t)size;
}

/* Lines of `info mtree -D`: the chain's lines are c0 .. c(DEPTH - 1). */
static void text_line(struct sink *k)
{
    char want[128];

    if (strncmp(k->text, "0000000000000000-0000000000000fff (prio 0, i/o): c",
                50) != 0) {
        return;
    }
    snprintf(want, sizeof(want), "0000000000000000-0000000000000fff "
             "(prio 0, i/o): c%lu", k->next);
    if (strcmp(k->text, want) || k->indent != 2 * (k->next + 2)) {
        sink_bad(k);
    }
    k->next++;
}

/* Lines of the JSON tree: "c<i>" has id i + 3, parent i + 2 and one child
 * i + 4 (the last none). */
static void json_line(struct sink *k)
{
    char want[256];
    unsigned long i = k->next;

    if (!strstr(k->text, "\"name\": \"c")) {
        return;
    }
    snprintf(want, sizeof(want), "{\"id\": %lu, \"name\": \"c%lu\", "
             "\"kind\": \"container\", \"qemu_type\": \"i/o\", \"parent\": "
             "%lu, ", i + 3, i, i + 2);
    if (strncmp(k->text, want, strlen(want))) {
        sink_bad(k);
    } else if (i + 1 < DEPTH) {
        snprintf(want, sizeof(want), "\"subregions\": [%lu]}", i + 4);
        if (!strstr(k->text, want)) {
            sink_bad(k);
        }
    } else if (!strstr(k->text, "\"subregions\": []}")) {
        sink_bad(k);
    }
    k->next++;
}

static void no_check(struct sink *k)
{
    (void)k;
}

struct deep_job {
    gm_system *sys;
    unsigned flags;
    struct sink sink;
    int rc;
};

static void *deep_print(void *opaque)
{
    struct deep_job *job = opaque;
    cookie_io_functions_t io = {.write = sink_write};
    FILE *f = fopencookie(&job->sink, "w", io);

    if (!f) {
        job->rc = -ENOMEM;
        return NULL;
    }
    setvbuf(f, NULL, _IONBF, 0); /* each write straight to the sink */
    job->rc = gm_mtree_print(job->sys, f, job->flags, NULL);
    fclose(f);
    return NULL;
}

/* Print on a thread with a 512 KiB stack. */
static void deep_run(struct deep_job *job)
{
    pthread_attr_t attr;
    pthread_t t;

    CHECK_EQ_INT(pthread_attr_init(&attr), 0);
    CHECK_EQ_INT(pthread_attr_setstacksize(&attr, 512 * 1024), 0);
    CHECK_EQ_INT(pthread_create(&t, &attr, deep_print, job), 0);
    CHECK_EQ_INT(pthread_join(t, NULL), 0);
    pthread_attr_destroy(&attr);
}

static void test_deep(void)
{
    gm_system *sys = deep_build();
    struct deep_job job = {.sys = sys, .flags = GM_MTREE_DISABLED};
    unsigned long long indent = (unsigned long long)DEPTH * (DEPTH + 3);

    /* `info mtree -D`: 10 GB, each chain line indented by 2 * depth. */
    job.sink.line = text_line;
    deep_run(&job);
    CHECK_EQ_INT(job.rc, 0);
    CHECK_EQ_U64(job.sink.next, DEPTH);
    CHECK_EQ_U64(job.sink.bad, 0);
    if (job.sink.bad) {
        fprintf(stderr, "# %s\n", job.sink.first_bad);
    }
    /* 5 lines around the chain and 1 per level, blanks included. */
    CHECK_EQ_U64(job.sink.lines, 7 + DEPTH);
    CHECK(job.sink.bytes > indent); /* the sum of 2 * (i + 2) */

    /* Without -D the alias line is hidden; the chain prints the same. */
    job = (struct deep_job){.sys = sys, .flags = 0};
    job.sink.line = text_line;
    deep_run(&job);
    CHECK_EQ_INT(job.rc, 0);
    CHECK_EQ_U64(job.sink.next, DEPTH);
    CHECK_EQ_U64(job.sink.bad, 0);

    /* The JSON tree, with -D to list the chain under the disabled alias. */
    job = (struct deep_job){.sys = sys,
                            .flags = GM_MTREE_JSON | GM_MTREE_DISABLED};
    job.sink.line = json_line;
    deep_run(&job);
    CHECK_EQ_INT(job.rc, 0);
    CHECK_EQ_U64(job.sink.next, DEPTH);
    CHECK_EQ_U64(job.sink.bad, 0);
    if (job.sink.bad) {
        fprintf(stderr, "# %s\n", job.sink.first_bad);
    }

    /* The flat views and their JSON (the chain renders nothing). */
    job = (struct deep_job){.sys = sys, .flags = GM_MTREE_FLAT};
    job.sink.line = no_check;
    deep_run(&job);
    CHECK_EQ_INT(job.rc, 0);
    job = (struct deep_job){.sys = sys,
                            .flags = GM_MTREE_FLAT | GM_MTREE_JSON};
    job.sink.line = no_check;
    deep_run(&job);
    CHECK_EQ_INT(job.rc, 0);
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
}

int main(void)
{
    memset(blanks, ' ', sizeof(blanks));
    RUN(test_text);
    RUN(test_json_disabled);
    RUN(test_json_flat);
    RUN(test_json_strings);
    RUN(test_deep);
    return harness_done();
}
