/* SPDX-License-Identifier: MIT */
/*
 * tools/diff.c - `guestmem diff`: what changed between two memory maps.
 *
 *   guestmem diff [--json] OLD NEW
 *
 * OLD and NEW are two descriptions of one machine (dumps or boards): before
 * and after the firmware assigned the PCI BARs, before and after a device
 * was plugged in. The question is what a listener on the machine would be
 * told if OLD became NEW in one commit, and the answer is what the
 * library's commit computes for every address space: the symmetric
 * difference of the old and new flat views, walked as QEMU's
 * address_space_update_topology_pass() walks it. Both lists are in address
 * order; an old range that starts before the next new one, or at the same
 * address but is not equal to it, leaves (region_del); equal ranges stay
 * (region_nop); a new range that is left over arrives (region_add). Two
 * ranges are equal when they have the same start, size, region, offset in
 * the region, type and read-only, romd and non-volatile flags (QEMU's
 * flatrange_equal()). The two machines are separate objects, so "the same
 * region" means a region of the same name.
 *
 * A removal directly followed by an addition at the same address of a
 * region of the same name is shown as one change (`~`), with the fields
 * that differ; a listener still sees a region_del and a region_add. Dirty
 * logging, which neither dumps nor boards describe, is not compared.
 *
 * Address spaces are matched by name and, among spaces of the same name,
 * by order of creation (the third `bus master container` of OLD with the
 * third of NEW). A space found in only one file is reported whole: all its
 * ranges removed (it was destroyed) or added (it was created). In the text
 * output spaces whose differences are the same are printed once under all
 * their names; the JSON output (docs/diff.md) lists every space.
 *
 * The exit status follows diff(1): 0 when every space renders alike, 1
 * when something differs, 2 for trouble (usage, unreadable or invalid
 * input, a write error).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "diff.h"

/* One range of a flat view, with what QEMU compares. */
struct drange {
    uint64_t start;
    gm_u128 size;
    const char *name; /* the region's name (the machine owns it) */
    const char *type; /* as `info mtree -f` prints it, without "nv-" */
    int prio;
    uint64_t offset;
    bool readonly, romd, nonvolatile;
    bool rom_device; /* romd means something only for ROM devices */
};

/* One address space with a copy of its flat view. */
struct dspace {
    const char *name;
    unsigned index; /* among the spaces of this name, from 0 */
    struct drange *v;
    size_t n, cap;
    bool matched;
};

struct dmachine {
    struct dspace *v;
    size_t n, cap;
    int err;
};

/* One difference: a removal, an addition, or a change (both). */
enum dkind { D_DEL, D_ADD, D_CHANGE };

struct dev {
    enum dkind kind;
    const struct drange *old, *new;
};

struct devs {
    struct dev *v;
    size_t n, cap;
};

static bool grow(void **v, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap) {
        return true;
    }
    size_t ncap = *cap ? *cap * 2 : 16;
    void *nv = realloc(*v, ncap * elem);

    if (!nv) {
        return false;
    }
    *v = nv;
    *cap = ncap;
    return true;
}

/* The type `info mtree -f` prints for a range (without "nv-"). */
static const char *range_type(const struct gm_section *s)
{
    if (s->readonly) {
        return "rom"; /* read-only accumulated along the path */
    }
    switch (gm_region_kind(s->region)) {
    case GM_REGION_RAM_DEVICE:
        return "ramd";
    case GM_REGION_ROM_DEVICE:
        return s->romd ? "romd" : "i/o"; /* the view's, not the region's */
    case GM_REGION_ROM:
        return "rom";
    case GM_REGION_RAM:
        return "ram";
    default:
        return "i/o";
    }
}

static int collect_range(const struct gm_section *s, void *opaque)
{
    struct dspace *sp = opaque;

    if (!grow((void **)&sp->v, &sp->cap, sp->n, sizeof(*sp->v))) {
        return -ENOMEM;
    }
    sp->v[sp->n++] = (struct drange){
        .start = s->addr,
        .size = s->size,
        .name = gm_region_name(s->region),
        .type = range_type(s),
        .prio = gm_region_priority(s->region),
        .offset = s->offset_in_region,
        .readonly = s->readonly,
        .romd = s->romd,
        .nonvolatile = s->nonvolatile,
        .rom_device = gm_region_kind(s->region) == GM_REGION_ROM_DEVICE,
    };
    return 0;
}

static int collect_space(gm_space *as, void *opaque)
{
    struct dmachine *dm = opaque;
    struct dspace *sp;
    gm_flatview *fv;
    int rc;

    if (!grow((void **)&dm->v, &dm->cap, dm->n, sizeof(*dm->v))) {
        dm->err = -ENOMEM;
        return 1;
    }
    sp = &dm->v[dm->n++];
    *sp = (struct dspace){.name = gm_space_name(as)};
    for (size_t i = 0; i + 1 < dm->n; i++) {
        if (!strcmp(dm->v[i].name, sp->name)) {
            sp->index++;
        }
    }
    fv = gm_space_get_flatview(as);
    rc = gm_flatview_foreach(fv, collect_range, sp);
    gm_flatview_unref(fv);
    if (rc) {
        dm->err = -ENOMEM;
        return 1;
    }
    return 0;
}

static void dmachine_free(struct dmachine *dm)
{
    for (size_t i = 0; i < dm->n; i++) {
        free(dm->v[i].v);
    }
    free(dm->v);
}

/* QEMU's flatrange_equal(), with regions known by name. */
static bool range_equal(const struct drange *a, const struct drange *b)
{
    return a->start == b->start && a->size == b->size &&
           !strcmp(a->name, b->name) && a->offset == b->offset &&
           !strcmp(a->type, b->type) && a->readonly == b->readonly &&
           a->romd == b->romd && a->nonvolatile == b->nonvolatile;
}

static bool push_ev(struct devs *d, struct dev e)
{
    if (!grow((void **)&d->v, &d->cap, d->n, sizeof(*d->v))) {
        return false;
    }
    d->v[d->n++] = e;
    return true;
}

/*
 * The update pass: walk both views in address order. @o or @n may be NULL
 * (a space in one file only). Return: 0, or -ENOMEM.
 */
static int diff_views(const struct dspace *o, const struct dspace *n,
                      struct devs *d)
{
    size_t no = o ? o->n : 0, nn = n ? n->n : 0, i = 0, j = 0;

    d->n = 0;
    while (i < no || j < nn) {
        const struct drange *a = i < no ? &o->v[i] : NULL;
        const struct drange *b = j < nn ? &n->v[j] : NULL;
        struct dev e;

        if (a && (!b || a->start < b->start ||
                  (a->start == b->start && !range_equal(a, b)))) {
            e = (struct dev){D_DEL, a, NULL};
            i++;
        } else if (a && b && range_equal(a, b)) {
            i++;
            j++;
            continue;
        } else {
            e = (struct dev){D_ADD, NULL, b};
            j++;
        }
        /* A deletion and the addition that follows at its address. */
        if (e.kind == D_ADD && d->n && d->v[d->n - 1].kind == D_DEL &&
            d->v[d->n - 1].old->start == b->start &&
            !strcmp(d->v[d->n - 1].old->name, b->name)) {
            d->v[d->n - 1].kind = D_CHANGE;
            d->v[d->n - 1].new = b;
            continue;
        }
        if (!push_ev(d, e)) {
            return -ENOMEM;
        }
    }
    return 0;
}

/*
 * Text.
 */

/* QEMU's MR_SIZE() end of a range: start + size - 1. */
static uint64_t range_end(const struct drange *r)
{
    return (uint64_t)((gm_u128)r->start + r->size - 1);
}

static void text_range(FILE *f, char mark, const struct drange *r)
{
    fprintf(f, "%c %016" PRIx64 "-%016" PRIx64 " (prio %d, %s%s): %s", mark,
            r->start, range_end(r), r->prio, r->nonvolatile ? "nv-" : "",
            r->type, r->name);
    if (r->offset) {
        fprintf(f, " @%016" PRIx64, r->offset);
    }
}

/* The fields of a change, as `(was: ...)`. */
static void text_was(FILE *f, const struct drange *o, const struct drange *n)
{
    const char *sep = "";

    fputs("  (was:", f);
    if (o->size != n->size) {
        fprintf(f, " end %016" PRIx64, range_end(o));
        sep = ",";
    }
    if (strcmp(o->type, n->type) || o->nonvolatile != n->nonvolatile) {
        fprintf(f, "%s %s%s", sep, o->nonvolatile ? "nv-" : "", o->type);
        sep = ",";
    }
    if (o->offset != n->offset) {
        fprintf(f, "%s @%016" PRIx64, sep, o->offset);
        sep = ",";
    }
    /* The type already tells read-only RAM and romd mode apart. */
    if (o->readonly != n->readonly && !strcmp(o->type, n->type)) {
        fprintf(f, "%s %s", sep, o->readonly ? "read-only" : "writable");
        sep = ",";
    }
    if (o->romd != n->romd && !strcmp(o->type, n->type)) {
        fprintf(f, "%s romd %s", sep, o->romd ? "on" : "off");
    }
    fputs(")", f);
}

/* The lines of one space's differences, into a string (caller frees). */
static char *text_body(const struct devs *d, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);

    if (!f) {
        return NULL;
    }
    for (size_t i = 0; i < d->n; i++) {
        const struct dev *e = &d->v[i];

        if (e->kind == D_DEL) {
            text_range(f, '-', e->old);
        } else if (e->kind == D_ADD) {
            text_range(f, '+', e->new);
        } else {
            text_range(f, '~', e->new);
            text_was(f, e->old, e->new);
        }
        fputc('\n', f);
    }
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/*
 * struct group - spaces whose differences print alike.
 * @names: "a, b, c" (malloc'd); @body: the lines; @only: "OLD", "NEW" or
 * NULL when the spaces are in both files.
 */
struct group {
    char *names, *body;
    const char *only;
};

static int add_to_groups(struct group **g, size_t *ng, size_t *cap,
                         const char *name, char *body, const char *only)
{
    size_t i;

    for (i = 0; i < *ng; i++) {
        if ((*g)[i].only == only && !strcmp((*g)[i].body, body)) {
            break;
        }
    }
    if (i < *ng) {
        size_t l = strlen((*g)[i].names), k = strlen(name);
        char *nn = realloc((*g)[i].names, l + 2 + k + 1);

        free(body);
        if (!nn) {
            return -ENOMEM;
        }
        memcpy(nn + l, ", ", 2);
        memcpy(nn + l + 2, name, k + 1);
        (*g)[i].names = nn;
        return 0;
    }
    if (!grow((void **)g, cap, *ng, sizeof(**g))) {
        free(body);
        return -ENOMEM;
    }
    (*g)[*ng] = (struct group){strdup(name), body, only};
    if (!(*g)[*ng].names) {
        free(body);
        return -ENOMEM;
    }
    (*ng)++;
    return 0;
}

/* Whether a space of @name has a namesake in @dm. */
static bool repeated(const struct dmachine *dm, const char *name)
{
    for (size_t i = 0; i < dm->n; i++) {
        if (dm->v[i].index > 0 && !strcmp(dm->v[i].name, name)) {
            return true;
        }
    }
    return false;
}

/* The NEW space matching @o (same name, same index), or NULL. */
static struct dspace *match(struct dmachine *nm, const struct dspace *o)
{
    for (size_t i = 0; i < nm->n; i++) {
        if (nm->v[i].index == o->index && !strcmp(nm->v[i].name, o->name)) {
            return &nm->v[i];
        }
    }
    return NULL;
}

/*
 * JSON.
 */

/* A string: UTF-8 as it is, other bytes as the text \xHH. */
static void json_string(FILE *f, const char *s)
{
    const unsigned char *c = (const unsigned char *)s;

    fputc('"', f);
    while (*c) {
        size_t n = 0;

        if (*c >= 0xc2 && *c <= 0xf4) {
            uint32_t cp = *c & (*c >= 0xf0 ? 0x07 : *c >= 0xe0 ? 0x0f : 0x1f);

            n = *c >= 0xf0 ? 4 : *c >= 0xe0 ? 3 : 2;
            for (size_t i = 1; i < n; i++) {
                if ((c[i] & 0xc0) != 0x80) {
                    n = 0;
                    break;
                }
                cp = cp << 6 | (c[i] & 0x3f);
            }
            if (n && ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
                      cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))) {
                n = 0;
            }
        }
        if (n) {
            fwrite(c, 1, n, f);
            c += n;
            continue;
        }
        if (*c == '"' || *c == '\\') {
            fprintf(f, "\\%c", *c);
        } else if (*c >= 0x20 && *c < 0x7f) {
            fputc(*c, f);
        } else if (*c < 0x20 || *c == 0x7f) {
            fprintf(f, "\\u%04x", *c);
        } else {
            fprintf(f, "\\\\x%02x", *c);
        }
        c++;
    }
    fputc('"', f);
}

static void json_u128(FILE *f, gm_u128 v)
{
    if (v >= GM_SIZE_2_64) {
        fputs("\"0x10000000000000000\"", f);
    } else {
        fprintf(f, "\"0x%" PRIx64 "\"", (uint64_t)v);
    }
}

static void json_range(FILE *f, const struct drange *r)
{
    fprintf(f,
            "{\"start\": \"0x%" PRIx64 "\", \"end\": \"0x%" PRIx64
            "\", \"size\": ",
            r->start, range_end(r));
    json_u128(f, r->size);
    fputs(", \"region\": ", f);
    json_string(f, r->name);
    fprintf(f,
            ", \"priority\": %d, \"type\": \"%s%s\", \"offset\": \"0x%" PRIx64
            "\", \"readonly\": %s, \"nonvolatile\": %s",
            r->prio, r->nonvolatile ? "nv-" : "", r->type, r->offset,
            r->readonly ? "true" : "false", r->nonvolatile ? "true" : "false");
    if (r->rom_device) {
        fprintf(f, ", \"romd\": %s", r->romd ? "true" : "false");
    }
    fputs("}", f);
}

static void json_fields(FILE *f, const struct drange *o, const struct drange *n)
{
    const char *sep = "";

    fputs("[", f);
    if (o->size != n->size) {
        fprintf(f, "%s\"size\"", sep);
        sep = ", ";
    }
    if (strcmp(o->type, n->type) || o->nonvolatile != n->nonvolatile) {
        fprintf(f, "%s\"type\"", sep);
        sep = ", ";
    }
    if (o->offset != n->offset) {
        fprintf(f, "%s\"offset\"", sep);
        sep = ", ";
    }
    if (o->readonly != n->readonly) {
        fprintf(f, "%s\"readonly\"", sep);
        sep = ", ";
    }
    if (o->romd != n->romd) {
        fprintf(f, "%s\"romd\"", sep);
    }
    fputs("]", f);
}

/* One space's entry; @status: equal, changed, only_old or only_new. */
static void json_space(FILE *f, const struct dspace *sp, const char *status,
                       const struct devs *d, bool first)
{
    static const char *const lists[] = {"removed", "added", "changed"};

    fprintf(f, "%s\n    {\"name\": ", first ? "" : ",");
    json_string(f, sp->name);
    fprintf(f, ", \"index\": %u, \"status\": \"%s\"", sp->index, status);
    for (int k = 0; k < 3; k++) {
        bool any = false;

        fprintf(f, ",\n     \"%s\": [", lists[k]);
        for (size_t i = 0; i < d->n; i++) {
            const struct dev *e = &d->v[i];

            if ((int)e->kind != k) {
                continue;
            }
            fputs(any ? ",\n       " : "\n       ", f);
            any = true;
            if (e->kind == D_DEL) {
                json_range(f, e->old);
            } else if (e->kind == D_ADD) {
                json_range(f, e->new);
            } else {
                fputs("{\"old\": ", f);
                json_range(f, e->old);
                fputs(",\n        \"new\": ", f);
                json_range(f, e->new);
                fputs(",\n        \"fields\": ", f);
                json_fields(f, e->old, e->new);
                fputs("}", f);
            }
        }
        fputs(any ? "\n     ]" : "]", f);
    }
    fputs("}", f);
}

/*
 * The comparison.
 */

static void free_groups(struct group *g, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(g[i].names);
        free(g[i].body);
    }
    free(g);
}

int diff_write(struct machine *old, struct machine *new, const char *old_label,
               const char *new_label, bool json, FILE *out)
{
    struct dmachine om = {0}, nm = {0};
    struct devs d = {0};
    struct group *g = NULL;
    size_t ng = 0, gcap = 0;
    bool differ = false, first = true;
    int rc = 0;

    gm_system_foreach_space(old->sys, collect_space, &om);
    gm_system_foreach_space(new->sys, collect_space, &nm);
    if (om.err || nm.err) {
        rc = -ENOMEM;
    }
    if (json && !rc) {
        fputs("{\n  \"version\": 1,\n  \"old\": ", out);
        json_string(out, old_label);
        fputs(",\n  \"new\": ", out);
        json_string(out, new_label);
        fputs(",\n  \"address_spaces\": [", out);
    }
    /* OLD's spaces in order (matched or not), then NEW's unmatched. */
    for (size_t k = 0; k < om.n + nm.n && !rc; k++) {
        struct dspace *o = k < om.n ? &om.v[k] : NULL;
        struct dspace *n = o ? match(&nm, o) : &nm.v[k - om.n];
        const char *only = !n ? "OLD" : !o ? "NEW" : NULL;

        if (!o && n->matched) {
            continue;
        }
        if (o && n) {
            n->matched = true;
        }
        if (diff_views(o, n, &d) < 0) {
            rc = -ENOMEM;
            break;
        }
        differ |= d.n > 0 || only;
        if (json) {
            const char *status = d.n ? "changed" : "equal";

            if (only) {
                status = o ? "only_old" : "only_new";
            }
            json_space(out, o ? o : n, status, &d, first);
            first = false;
        } else if (d.n || only) {
            const struct dspace *sp = o ? o : n;
            char *body, *name = NULL;
            size_t len;

            /* Namesakes are told apart by their rank: "bus master #2". */
            if (repeated(&om, sp->name) || repeated(&nm, sp->name)) {
                if (asprintf(&name, "%s #%u", sp->name, sp->index + 1) < 0) {
                    name = NULL;
                }
            } else {
                name = strdup(sp->name);
            }
            body = name ? text_body(&d, &len) : NULL;
            if (!body || add_to_groups(&g, &ng, &gcap, name, body, only) < 0) {
                rc = -ENOMEM;
            }
            free(name);
        }
    }
    if (!rc && json) {
        fprintf(out, "\n  ],\n  \"equal\": %s\n}\n", differ ? "false" : "true");
    } else if (!rc && ng) {
        fprintf(out, "--- %s\n+++ %s\n", old_label, new_label);
        for (size_t i = 0; i < ng; i++) {
            fprintf(out, "@@ %s%s%s%s @@\n%s", g[i].names,
                    g[i].only ? " (only in " : "", g[i].only ? g[i].only : "",
                    g[i].only ? ")" : "", g[i].body);
        }
    }
    free_groups(g, ng);
    free(d.v);
    dmachine_free(&om);
    dmachine_free(&nm);
    if (rc) {
        fprintf(stderr, "guestmem diff: out of memory\n");
        return -1;
    }
    if (fflush(out) != 0 || ferror(out)) {
        fprintf(stderr, "guestmem diff: write error: %s\n", strerror(errno));
        return -1;
    }
    return differ ? 1 : 0;
}

const char cmd_diff_usage[] =
    "usage: guestmem diff [--json] OLD NEW\n"
    "\n"
    "Compare the flat views of two descriptions of one machine (QEMU\n"
    "`info mtree -D` dumps or board files; one of them may be `-`, standard\n"
    "input), address space by address space, as the library's listeners\n"
    "would be told of the change: `-` a range removed, `+` a range added,\n"
    "`~` a range of the same region at the same address whose size or\n"
    "attributes changed.\n"
    "\n"
    "Options:\n"
    "      --json           JSON instead of text (docs/diff.md)\n"
    CLI_USAGE_MAX_SIZE
    CLI_USAGE_HELP
    "\n"
    "Exit status:\n"
    "  0  the flat views are the same\n"
    "  1  they differ\n"
    "  2  usage error, an input that cannot be read or imported, or the\n"
    "     report could not be written\n";

enum {
    OPT_JSON = CLI_OPT_FIRST_FREE,
};

int cmd_diff(const struct cli_command *cmd, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, OPT_JSON},
        CLI_LONGOPT_MAX_SIZE,
        CLI_LONGOPT_HELP,
        CLI_LONGOPT_END,
    };
    struct machine m[2] = {{0}, {0}};
    const char *path[2];
    struct cli_args a;
    bool json = false;
    int c, status;

    cli_args_init(&a, cmd, argc, argv);
    while ((c = cli_getopt(&a, "h", longopts)) != -1) {
        switch (c) {
        case CLI_STOP:
            return a.status;
        case OPT_JSON:
            json = true;
            break;
        default:
            break; /* --max-size, kept in a.in */
        }
    }
    if (argc - optind != 2) {
        return cli_usage_error(&a, "expected two files, OLD and NEW, not %d",
                               argc - optind);
    }
    path[0] = argv[optind];
    path[1] = argv[optind + 1];
    if (!strcmp(path[0], "-") && !strcmp(path[1], "-")) {
        return cli_usage_error(&a, "standard input can be OLD or NEW, not "
                               "both");
    }
    if (cli_load(&m[0], &a.in, path[0]) < 0) {
        return CLI_USAGE;
    }
    if (cli_load(&m[1], &a.in, path[1]) < 0) {
        machine_destroy(&m[0]);
        return CLI_USAGE;
    }
    status = diff_write(&m[0], &m[1], cli_label(path[0]), cli_label(path[1]),
                        json, stdout);
    if (status < 0) {
        status = CLI_USAGE;
    }
    if (machine_destroy(&m[0]) < 0) {
        status = CLI_USAGE;
    }
    if (machine_destroy(&m[1]) < 0) {
        status = CLI_USAGE;
    }
    return status;
}
