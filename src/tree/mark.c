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
 * except the changed region itself. The windows recorded are all a commit
 * re-renders; a pathological fan-out (diamonds of aliases) trips a budget
 * and degrades to re-rendering everything.
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
    if (gm__vec_push(evonly ? &sink->evwin : &sink->win, w)) {
        ts->all_dirty = true; /* cannot remember it: render everything */
    }
    ts->pending = true;
}

static void mark_rec(struct gm_tree_state *ts, gm_region *r, gm_u128 lo,
                     gm_u128 hi, bool force, bool evonly)
{
    if (ts->all_dirty || (!force && !r->enabled)) {
        return;
    }
    if (hi > r->size) {
        hi = r->size;
    }
    if (lo >= hi) {
        return;
    }
    if (++ts->visits > VISIT_BUDGET) {
        ts->all_dirty = true;
        ts->pending = true;
        return;
    }
    if (r->sink) {
        add_window(ts, r->sink, lo + r->addr, hi + r->addr, evonly);
    }
    for (size_t i = 0; i < r->aliased_by.n; i++) {
        gm_region *a = r->aliased_by.v[i];
        uint64_t off = a->alias_offset;

        if (hi > off) {
            mark_rec(ts, a, lo > off ? lo - off : 0, hi - off, false,
                     evonly);
        }
    }
    if (r->container) {
        mark_rec(ts, r->container, lo + r->addr, hi + r->addr, false,
                 evonly);
    }
}

void gm__mark_region(gm_region *r)
{
    struct gm_tree_state *ts = r->sys->tree;

    ts->topo_dirty = true;
    ts->pending = true;
    mark_rec(ts, r, 0, r->size, true, false);
}

void gm__mark_region_evfd(gm_region *r)
{
    mark_rec(r->sys->tree, r, 0, r->size, false, true);
}

void gm__tree_marks_clear(gm_system *sys)
{
    struct gm_tree_state *ts = sys->tree;

    ts->all_dirty = false;
    ts->topo_dirty = false;
    ts->pending = false;
    ts->visits = 0;
}
