/* SPDX-License-Identifier: MIT */
/*
 * tree/reach.c - which regions can see which: cycles, and where marks go.
 *
 * Two questions about the region graph must not cost the size of the
 * machine.
 *
 * Would adding child under parent close a cycle? Only if child is an
 * ancestor of parent (up: containers and the aliases targeting a region).
 * Walking up from parent alone can be huge when parent sits under a region
 * that a thousand bus-master aliases target; walking down from child alone
 * is huge when child is such an alias. So both walks run in turns, one
 * region each, and the first to run out answers "no"; either walk meeting
 * the other's ground answers "yes". Cost: twice the smaller walk.
 *
 * Can a change of a region show anywhere? Only if a view state's sink is
 * reachable upwards from it. Each region counts its upward neighbours that
 * reach a sink (its container, the aliases targeting it), plus one for a
 * sink of its own: up_sinks. A mark walks only into neighbours whose count
 * is not zero, and a region keeps the aliases targeting it partitioned,
 * those that reach a sink first, so the walk never even looks at the
 * others (a thousand disabled or sink-less bus-master aliases of system
 * memory cost nothing). Counts change when a sink is attached or detached
 * and when a subregion is linked or unlinked; a region whose count turns
 * zero or non-zero passes the change down to its children and its alias
 * target, through an intrusive work list (no recursion, no allocation).
 * Each region flips at most once per change, so the cost is the number of
 * regions that start or stop seeing a sink: a whole machine when its first
 * view appears, a device's subtree when it is plugged.
 */
#include "tree.h"

static bool reaches(const gm_region *r)
{
    return r->up_sinks != 0;
}

/* Move alias a into the reaching / non-reaching part of its target's list. */
static void alias_set_live(gm_region *a, bool live)
{
    gm_region *t = a->alias;
    size_t to = live ? t->live_aliases : t->live_aliases - 1;
    gm_region *o = t->aliased_by.v[to];

    t->aliased_by.v[to] = a;
    t->aliased_by.v[a->alias_pos] = o;
    o->alias_pos = a->alias_pos;
    a->alias_pos = to;
    t->live_aliases += live ? 1 : -1;
}

/* r's count changed by delta; push r on *flipped if it turned on or off. */
static void count(gm_region *r, int delta, gm_region **flipped)
{
    bool before = reaches(r);

    r->up_sinks += (unsigned)delta;
    if (before != reaches(r)) {
        r->flip_next = *flipped;
        *flipped = r;
    }
}

/* Pass flips down until nothing more turns on or off. */
static void propagate(gm_region *flipped)
{
    while (flipped) {
        gm_region *x = flipped;
        int delta = reaches(x) ? 1 : -1;

        flipped = x->flip_next;
        x->flip_next = NULL;
        for (gm_region *c = x->first_child; c; c = c->sib_next) {
            count(c, delta, &flipped);
        }
        if (x->alias) {
            alias_set_live(x, delta > 0);
            count(x->alias, delta, &flipped);
        }
    }
}

void gm__tree_attach_sink(gm_region *r, struct gm_winsink *sink)
{
    gm_region *flipped = NULL;

    r->sink = sink;
    count(r, 1, &flipped);
    propagate(flipped);
}

void gm__tree_detach_sink(gm_region *r)
{
    gm_region *flipped = NULL;

    r->sink = NULL;
    count(r, -1, &flipped);
    propagate(flipped);
}

/* child was linked into (or unlinked from) container. */
void gm__reach_linked(gm_region *container, gm_region *child, bool linked)
{
    gm_region *flipped = NULL;

    if (reaches(container)) {
        count(child, linked ? 1 : -1, &flipped);
        propagate(flipped);
    }
}

int gm__alias_attach(gm_region *a, gm_region *target)
{
    /* A new alias is in no container and has no sink: it reaches none. */
    if (gm__vec_push(&target->aliased_by, a)) {
        return -ENOMEM;
    }
    a->alias = target;
    a->alias_pos = target->aliased_by.n - 1;
    return 0;
}

void gm__alias_detach(gm_region *a)
{
    gm_region *t = a->alias;
    gm_region *last;

    if (reaches(a)) {
        /* Cannot happen for an alias being destroyed; keep counts exact. */
        gm_region *flipped = NULL;

        alias_set_live(a, false);
        count(t, -1, &flipped);
        propagate(flipped);
    }
    last = t->aliased_by.v[--t->aliased_by.n];
    t->aliased_by.v[a->alias_pos] = last;
    last->alias_pos = a->alias_pos;
    a->alias = NULL;
}

/*
 * Cycles.
 */

struct walk {
    GM_VEC(gm_region *) st;
    uint64_t mine, theirs;
};

/* Visit y from one walk: true when the other walk has been there. */
static bool meet(struct walk *w, gm_region *y, int *err)
{
    if (y->mark == w->theirs) {
        return true;
    }
    if (y->mark != w->mine) {
        y->mark = w->mine;
        if (gm__vec_push(&w->st, y)) {
            *err = -ENOMEM;
        }
    }
    return false;
}

int gm__tree_would_loop(gm_region *parent, gm_region *child, bool *loop)
{
    struct gm_tree_state *ts = parent->sys->tree;
    struct walk up = {{0}, ++ts->mark_gen, 0};
    struct walk down = {{0}, ++ts->mark_gen, 0};
    int err = 0;

    up.theirs = down.mine;
    down.theirs = up.mine;
    *loop = parent == child;
    if (*loop) {
        return 0;
    }
    parent->mark = up.mine;
    child->mark = down.mine;
    if (gm__vec_push(&up.st, parent) || gm__vec_push(&down.st, child)) {
        err = -ENOMEM;
    }
    while (!err && !*loop && up.st.n && down.st.n) {
        gm_region *x = up.st.v[--up.st.n];

        if (x->container) {
            *loop = meet(&up, x->container, &err);
        }
        for (size_t i = 0; i < x->aliased_by.n && !*loop && !err; i++) {
            *loop = meet(&up, x->aliased_by.v[i], &err);
        }
        if (*loop || err) {
            break;
        }
        x = down.st.v[--down.st.n];
        for (gm_region *c = x->first_child; c && !*loop && !err;
             c = c->sib_next) {
            *loop = meet(&down, c, &err);
        }
        if (x->alias && !*loop && !err) {
            *loop = meet(&down, x->alias, &err);
        }
    }
    gm__vec_free(&up.st);
    gm__vec_free(&down.st);
    return err;
}
