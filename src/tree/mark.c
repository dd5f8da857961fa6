/* SPDX-License-Identifier: MIT */
/*
 * tree/mark.c - where a change may show: dirty windows.
 *
 * Every change of region R is noted before and after it happens, as R's
 * extent in R's own coordinates (gm__mark_region). The note walks up the
 * graph: at each region it is clipped to the region's size, recorded in the
 * sink of a view rendered from that region (if any), translated into the
 * coordinates of every alias that targets the region, and translated into
 * the container's. Disabled regions stop the walk (they render nothing),
 * except the changed region itself, and so do regions from which no view
 * can be reached (reach.c). The windows recorded are all a commit
 * re-renders; a pathological fan-out (diamonds of aliases) trips a budget
 * and degrades to re-rendering everything, as does running out of memory
 * while recording.
 *
 * Marks only record: the commit that consumes them is update/'s.
 */
#include "tree.h"

#define VISIT_BUDGET 200000

static const gm_u128 SPACE_END = GM_SIZE_2_64;

static void add_window(struct gm_tree_state *ts, struct gm_winsink *sink,
                       gm_u128 lo, gm_u128 hi, bool evonly)
{
    struct gm_window w = {lo, hi};

    if (hi > SPACE_END) {
        w.hi = SPACE_END;
    }
    if (w.lo >= w.hi) {
        return;
    }
    if (!sink->queued) {
        if (gm__vec_push(&ts->sinks, sink)) {
            ts->all_dirty = true; /* cannot remember it: render everything */
            ts->pending = true;
            return;
        }
        sink->queued = true;
    }
    if (gm__vec_push(evonly ? &sink->evwin : &sink->win, w)) {
        ts->all_dirty = true;
    }
    ts->pending = true;
}

/*
 * Walk up from r over [lo, hi) of r, recording windows in the sinks met.
 * Iterative with a stack kept in the tree's state: the nesting depth is
 * the input's. Only neighbours that reach a sink are visited (reach.c).
 */
static void mark_walk(struct gm_tree_state *ts, gm_region *r, gm_u128 lo,
                      gm_u128 hi, bool evonly)
{
    struct gm_mark_item it = {r, lo, hi, true};

    if (ts->all_dirty || !r->up_sinks) {
        return;
    }
    ts->stack.n = 0;
    if (gm__vec_push(&ts->stack, it)) {
        ts->all_dirty = true; /* cannot walk: render everything */
        ts->pending = true;
        return;
    }
    while (ts->stack.n && !ts->all_dirty) {
        it = ts->stack.v[--ts->stack.n];
        r = it.r;
        if (!it.force && !r->enabled) {
            continue; /* renders nothing */
        }
        if (it.hi > r->size) {
            it.hi = r->size;
        }
        if (it.lo >= it.hi) {
            continue;
        }
        if (++ts->visits > VISIT_BUDGET) {
            ts->all_dirty = true;
            ts->pending = true;
            return;
        }
        if (r->sink) {
            add_window(ts, r->sink, it.lo + r->addr, it.hi + r->addr,
                       evonly);
        }
        for (size_t i = 0; i < r->live_aliases; i++) {
            gm_region *a = r->aliased_by.v[i];
            uint64_t off = a->alias_offset;
            struct gm_mark_item up = {a, it.lo > off ? it.lo - off : 0,
                                      it.hi - off, false};

            if (it.hi > off && gm__vec_push(&ts->stack, up)) {
                ts->all_dirty = true;
            }
        }
        if (r->container && r->container->up_sinks) {
            struct gm_mark_item up = {r->container, it.lo + r->addr,
                                      it.hi + r->addr, false};

            if (gm__vec_push(&ts->stack, up)) {
                ts->all_dirty = true;
            }
        }
    }
    if (ts->all_dirty) {
        ts->pending = true;
    }
}

static void flag_watchers(gm_system *sys, gm_region *r)
{
    for (size_t i = 0; i < r->watches.n; i++) {
        gm__watcher_flag(sys, r->watches.v[i]->owner);
    }
}

void gm__mark_region(gm_region *r)
{
    struct gm_tree_state *ts = r->sys->tree;

    ts->pending = true;
    /*
     * Resolutions through r, or through its container when the number of
     * its enabled children may cross 1 (QEMU's rule looks at "one child").
     */
    flag_watchers(r->sys, r);
    if (r->container && r->container->nr_enabled_children <= 2) {
        flag_watchers(r->sys, r->container);
    }
    mark_walk(ts, r, 0, r->size, false);
}

void gm__watcher_flag(gm_system *sys, struct gm_watcher *o)
{
    struct gm_tree_state *ts = sys->tree;

    ts->pending = true;
    if (o->flagged) {
        return;
    }
    if (gm__vec_push(&ts->flagged, o)) {
        ts->flag_all = true; /* cannot remember it: re-resolve everyone */
        return;
    }
    o->flagged = true;
}

void gm__watcher_unflag(gm_system *sys, struct gm_watcher *o)
{
    struct gm_tree_state *ts = sys->tree;

    if (!o->flagged) {
        return;
    }
    for (size_t i = 0; i < ts->flagged.n; i++) {
        if (ts->flagged.v[i] == o) {
            ts->flagged.v[i] = ts->flagged.v[--ts->flagged.n];
            break;
        }
    }
    o->flagged = false;
}

int gm__watch_reserve(gm_region *r)
{
    if (gm__vec_reserve(&r->watches,
                        r->watches.n + r->watches_reserved + 1)) {
        return -ENOMEM;
    }
    r->watches_reserved++;
    return 0;
}

void gm__watch_unreserve(gm_region *r)
{
    r->watches_reserved--;
}

void gm__watch_add(struct gm_watch *w, gm_region *r, struct gm_watcher *o)
{
    r->watches_reserved--;
    w->r = r;
    w->owner = o;
    w->idx = r->watches.n;
    r->watches.v[r->watches.n++] = w; /* room reserved above */
}

void gm__watch_del(struct gm_watch *w)
{
    gm_region *r = w->r;
    struct gm_watch *last;

    if (!r) {
        return; /* the region is gone */
    }
    last = r->watches.v[--r->watches.n];
    r->watches.v[w->idx] = last;
    last->idx = w->idx;
    w->r = NULL;
}

void gm__sink_forget(gm_system *sys, struct gm_winsink *sink)
{
    struct gm_tree_state *ts = sys->tree;

    if (!sink->queued) {
        return;
    }
    for (size_t i = 0; i < ts->sinks.n; i++) {
        if (ts->sinks.v[i] == sink) {
            ts->sinks.v[i] = ts->sinks.v[--ts->sinks.n];
            break;
        }
    }
    sink->queued = false;
}

void gm__mark_region_evfd(gm_region *r)
{
    if (r->enabled) {
        mark_walk(r->sys->tree, r, 0, r->size, true);
    }
}

void gm__tree_marks_clear(gm_system *sys)
{
    struct gm_tree_state *ts = sys->tree;

    for (size_t i = 0; i < ts->sinks.n; i++) {
        struct gm_winsink *s = ts->sinks.v[i];

        s->win.n = s->evwin.n = 0;
        s->queued = false;
    }
    ts->sinks.n = 0;
    for (size_t i = 0; i < ts->flagged.n; i++) {
        ts->flagged.v[i]->flagged = false;
    }
    ts->flagged.n = 0;
    ts->all_dirty = false;
    ts->flag_all = false;
    ts->pending = false;
    ts->visits = 0;
}
