/* SPDX-License-Identifier: MIT */
/*
 * update/evset.c - the ioeventfd set of a view, and what a commit changes
 * in it.
 *
 * A view's set holds every ioeventfd of every range's region that falls in
 * the range, at its absolute address, tagged with the range it came from.
 * Listeners hear of keys (address, size, match, data, fd): a key two
 * ranges give is one eventfd_add, and goes away when the last of them
 * does. So the set is two treaps: the entries by (range start, key), where
 * a re-rendered span finds its own in O(log n + k), and the distinct keys
 * with a count each.
 *
 * A commit costs what it touched: the entries of the spans it re-rendered
 * (or that an ioeventfd-only change marked) leave, the entries of the new
 * ranges there arrive, and only the keys among them are looked up. The
 * commit's first phase computes all of it and allocates every node it
 * will need (gm__evset_prepare, which may fail and changes nothing); its
 * second phase links them in (gm__evset_apply, which cannot fail).
 */
#include "update.h"

static const gm_u128 SPACE_END = GM_SIZE_2_64;

static int src_cmp(const struct gm_evnode *a, const struct gm_evnode *b)
{
    if (a->src != b->src) {
        return a->src < b->src ? -1 : 1;
    }
    return gm__evfd_cmp(&a->e, &b->e);
}

static int key_cmp(const struct gm_evkey *a, const struct gm_evkey *b)
{
    return gm__evfd_cmp(&a->e, &b->e);
}

#define EV_NOFIX(t) ((void)(t))
#define EV_SELF(c, t) ((void)(c), (t))
#define SRC_BEFORE(t, k) (src_cmp((t), (k)) < 0)
#define KEY_BEFORE(t, k) (key_cmp((t), (k)) < 0)
GM_TREAP_SPLIT_JOIN(src, struct gm_evnode, void *, const struct gm_evnode *,
                    SRC_BEFORE, EV_NOFIX, EV_SELF)
GM_TREAP_SPLIT_JOIN(key, struct gm_evkey, void *, const struct gm_evkey *,
                    KEY_BEFORE, EV_NOFIX, EV_SELF)

/* Insert n (its key absent) and remove n (present), for either treap. */
#define EV_TREAP_EDIT(name, T, CMP)                                            \
    static void name##_insert(T **root, T *n)                                  \
    {                                                                          \
        T **link = root;                                                       \
                                                                               \
        while (*link && (*link)->prio >= n->prio) {                            \
            link = CMP(n, *link) < 0 ? &(*link)->l : &(*link)->r;              \
        }                                                                      \
        name##_split(NULL, *link, n, &n->l, &n->r);                            \
        *link = n;                                                             \
    }                                                                          \
                                                                               \
    static void name##_remove(T **root, T *n)                                  \
    {                                                                          \
        T **link = root;                                                       \
                                                                               \
        while (*link && *link != n) {                                          \
            link = CMP(n, *link) < 0 ? &(*link)->l : &(*link)->r;              \
        }                                                                      \
        if (*link) {                                                           \
            *link = name##_join(NULL, n->l, n->r);                             \
        }                                                                      \
    }
EV_TREAP_EDIT(src, struct gm_evnode, src_cmp)
EV_TREAP_EDIT(key, struct gm_evkey, key_cmp)

static struct gm_evkey *key_find(struct gm_evkey *t,
                                 const struct gm_ioeventfd *e)
{
    while (t) {
        int c = gm__evfd_cmp(e, &t->e);

        if (c == 0) {
            return t;
        }
        t = c < 0 ? t->l : t->r;
    }
    return NULL;
}

/* Entries with src in [s, e) onto out, in order. */
static int src_collect(struct gm_evnode *t, gm_u128 s, gm_u128 e,
                       struct gm_vstate *vs)
{
    while (t) {
        if (t->src < s) {
            t = t->r;
            continue;
        }
        if (t->src >= e) {
            t = t->l;
            continue;
        }
        if (src_collect(t->l, s, e, vs) ||
            gm__vec_push(&vs->ev_out, t)) {
            return -ENOMEM;
        }
        s = (gm_u128)t->src; /* the rest of the right subtree is >= */
        t = t->r;
    }
    return 0;
}

struct in_ctx {
    struct gm_vstate *vs;
    int err;
};

/* The entries range rg gives, as new nodes onto vs->ev_in. */
static int range_entries(const struct gm_range *rg, void *opaque)
{
    struct in_ctx *c = opaque;
    gm_region *mr = rg->mr;

    for (size_t i = 0; i < mr->evfds.n; i++) {
        const struct gm_ioeventfd *e = &mr->evfds.v[i];
        gm_i128 tr = (gm_i128)rg->start - (gm_i128)rg->offset +
                     (gm_i128)e->addr;
        struct gm_evnode *n;

        if (tr < 0 || tr >= (gm_i128)SPACE_END) {
            continue;
        }
        if (!((tr >= rg->start && tr <= rg->last) ||
              (e->size && rg->start >= tr &&
               (gm_i128)rg->start < tr + (gm_i128)e->size))) {
            continue;
        }
        n = malloc(sizeof(*n));
        if (!n || gm__vec_push(&c->vs->ev_in, n)) {
            free(n);
            c->err = -ENOMEM;
            return 1;
        }
        n->l = n->r = NULL;
        n->prio = gm__rand(c->vs->sys);
        n->src = rg->start;
        n->e = *e;
        n->e.addr = (uint64_t)tr;
    }
    return 0;
}

static int delta_cmp(const void *a, const void *b)
{
    const struct gm_evdelta *x = a, *y = b;

    return gm__evfd_cmp(&x->e, &y->e);
}

/* Turn the entries leaving and arriving into per-key changes. */
static int key_deltas(struct gm_vstate *vs)
{
    GM_VEC(struct gm_evdelta) d = {0};
    struct gm_events *ev = &vs->ev;
    int ret = 0;

    if (gm__vec_reserve(&d, vs->ev_out.n + vs->ev_in.n)) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < vs->ev_out.n; i++) {
        d.v[d.n++] = (struct gm_evdelta){vs->ev_out.v[i]->e, -1, NULL};
    }
    for (size_t i = 0; i < vs->ev_in.n; i++) {
        d.v[d.n++] = (struct gm_evdelta){vs->ev_in.v[i]->e, 1, NULL};
    }
    if (d.n > 1) {
        qsort(d.v, d.n, sizeof(*d.v), delta_cmp);
    }
    for (size_t i = 0; i < d.n && !ret;) {
        struct gm_evdelta k = d.v[i];
        size_t old;

        for (i++; i < d.n && !gm__evfd_cmp(&d.v[i].e, &k.e); i++) {
            k.delta += d.v[i].delta;
        }
        if (!k.delta) {
            continue; /* the key moved between ranges */
        }
        k.key = key_find(vs->ev_keys, &k.e);
        old = k.key ? k.key->count : 0;
        if (!k.key) {
            /* A new key: its node now, so that applying cannot fail. */
            k.key = calloc(1, sizeof(*k.key));
            if (!k.key || gm__vec_push(&vs->ev_delta, k)) {
                free(k.key);
                ret = -ENOMEM;
                break;
            }
            k.key->e = k.e;
            k.key->prio = gm__rand(vs->sys);
            ret = gm__vec_push(&ev->ev_adds, k.e);
            continue;
        }
        ret = gm__vec_push(&vs->ev_delta, k);
        if (!ret && (long)old + k.delta == 0) {
            ret = gm__vec_push(&ev->ev_dels, k.e);
        }
    }
    gm__vec_free(&d);
    return ret;
}

int gm__evset_prepare(struct gm_vstate *vs, const struct gm_fv_node *t,
                      const gm_spanvec *spans)
{
    struct in_ctx c = {vs, 0};
    int ret = 0;

    if (!spans) {
        ret = src_collect(vs->ev_src, 0, SPACE_END, vs);
        if (!ret) {
            gm__fv_walk(t, 0, UINT64_MAX, range_entries, &c);
        }
    }
    for (size_t i = 0; spans && i < spans->n && !ret && !c.err; i++) {
        const struct gm_span *sp = &spans->v[i];

        if (sp->s >= sp->e) {
            continue;
        }
        ret = src_collect(vs->ev_src, sp->s, sp->e, vs);
        if (!ret) {
            gm__fv_walk(t, (uint64_t)sp->s, (uint64_t)(sp->e - 1),
                        range_entries, &c);
        }
    }
    if (!ret) {
        ret = c.err;
    }
    if (!ret) {
        ret = key_deltas(vs);
    }
    if (ret) {
        gm__evset_cancel(vs);
        return ret;
    }
    vs->ev.ev_changed = vs->ev.ev_dels.n || vs->ev.ev_adds.n;
    return 0;
}

static void deltas_clear(struct gm_vstate *vs)
{
    vs->ev_out.n = vs->ev_in.n = vs->ev_delta.n = 0;
}

void gm__evset_cancel(struct gm_vstate *vs)
{
    for (size_t i = 0; i < vs->ev_in.n; i++) {
        free(vs->ev_in.v[i]);
    }
    for (size_t i = 0; i < vs->ev_delta.n; i++) {
        if (!vs->ev_delta.v[i].key->count) {
            free(vs->ev_delta.v[i].key); /* made by this prepare */
        }
    }
    deltas_clear(vs);
}

void gm__evset_apply(struct gm_vstate *vs)
{
    for (size_t i = 0; i < vs->ev_out.n; i++) {
        src_remove(&vs->ev_src, vs->ev_out.v[i]);
        free(vs->ev_out.v[i]);
    }
    for (size_t i = 0; i < vs->ev_in.n; i++) {
        src_insert(&vs->ev_src, vs->ev_in.v[i]);
    }
    for (size_t i = 0; i < vs->ev_delta.n; i++) {
        struct gm_evdelta *d = &vs->ev_delta.v[i];
        bool fresh = d->key->count == 0;

        d->key->count = (size_t)((long)d->key->count + d->delta);
        if (fresh) {
            key_insert(&vs->ev_keys, d->key);
        } else if (!d->key->count) {
            key_remove(&vs->ev_keys, d->key);
            free(d->key);
        }
    }
    deltas_clear(vs);
}

struct keys_ctx {
    gm_evfdvec *out;
    int err;
};

static void keys_walk(const struct gm_evkey *t, struct keys_ctx *c)
{
    while (t && !c->err) {
        keys_walk(t->l, c);
        if (!c->err && gm__vec_push(c->out, t->e)) {
            c->err = -ENOMEM;
        }
        t = t->r;
    }
}

int gm__evset_keys(const struct gm_vstate *vs, bool next, gm_evfdvec *out)
{
    struct keys_ctx c = {out, 0};
    gm_evfdvec cur = {0};
    size_t i = 0, j = 0;

    out->n = 0;
    if (!next || !vs->processed || !vs->ev_delta.n) {
        keys_walk(vs->ev_keys, &c);
        return c.err;
    }
    /* The keys after this update: merge today's with the changes. */
    c.out = &cur;
    keys_walk(vs->ev_keys, &c);
    while (!c.err && (i < cur.n || j < vs->ev_delta.n)) {
        const struct gm_evdelta *d = j < vs->ev_delta.n ? &vs->ev_delta.v[j]
                                                         : NULL;
        int cmp = i == cur.n ? 1 : !d ? -1 : gm__evfd_cmp(&cur.v[i], &d->e);

        if (cmp < 0) {
            c.err = gm__vec_push(out, cur.v[i]);
            i++;
        } else {
            long n = (long)d->key->count + d->delta;

            if (n > 0) {
                c.err = gm__vec_push(out, d->e);
            }
            i += cmp == 0;
            j++;
        }
    }
    gm__vec_free(&cur);
    return c.err ? -ENOMEM : 0;
}

static void src_free(struct gm_evnode *t)
{
    while (t) {
        struct gm_evnode *r = t->r;

        src_free(t->l);
        free(t);
        t = r;
    }
}

static void key_free(struct gm_evkey *t)
{
    while (t) {
        struct gm_evkey *r = t->r;

        key_free(t->l);
        free(t);
        t = r;
    }
}

void gm__evset_free(struct gm_vstate *vs)
{
    gm__evset_cancel(vs);
    src_free(vs->ev_src);
    key_free(vs->ev_keys);
    vs->ev_src = NULL;
    vs->ev_keys = NULL;
    gm__vec_free(&vs->ev_out);
    gm__vec_free(&vs->ev_in);
    gm__vec_free(&vs->ev_delta);
}

static void foreach_rec(const struct gm_evkey *t,
                        void (*fn)(const struct gm_ioeventfd *e, void *o),
                        void *opaque)
{
    while (t) {
        foreach_rec(t->l, fn, opaque);
        fn(&t->e, opaque);
        t = t->r;
    }
}

void gm__evset_foreach(const struct gm_vstate *vs,
                       void (*fn)(const struct gm_ioeventfd *e, void *opaque),
                       void *opaque)
{
    foreach_rec(vs->ev_keys, fn, opaque);
}
