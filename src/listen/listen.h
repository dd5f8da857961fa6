/* SPDX-License-Identifier: MIT */
/*
 * listen/listen.h - listeners: their order, and calling them.
 *
 * Listeners are ordered by ascending priority (equal priorities in
 * registration order). Additions, nops, log_start, begin, commit and
 * log_global_start go forward; deletions, log_stop and log_global_stop in
 * reverse, so a high-priority listener (a KVM memslot mirror) sees a range
 * appear last and disappear first.
 *
 * A listener without a filter hears every space; one with a filter only
 * its space. Each space keeps its filtered listeners in a list of its own
 * and the system keeps the unfiltered ones in another, so telling one
 * space costs the listeners that want it, not all listeners (a VMM may
 * register one per device address space). Everything here runs under the
 * writer lock; the caller sets in_update around callbacks.
 */
#ifndef GM_LISTEN_H
#define GM_LISTEN_H

#include "../view/view.h"

struct gm_listener {
    gm_system *sys;
    const struct gm_listener_ops *ops;
    void *opaque;
    int priority;
    uint64_t seq;               /* registration order */
    gm_space *filter;
    gm_listener *prev, *next;   /* all listeners, in order */
    gm_listener *sprev, *snext; /* the unfiltered ones, or its space's */
};

struct gm_listen_state {
    gm_listener *head, *tail;     /* all, in order */
    gm_listener *ghead, *gtail;   /* unfiltered, in order */
    size_t nr_global;
    uint64_t seq;
    GM_VEC(gm_listener *) bracket; /* who hears this commit's begin/commit */
};

enum gm_ev_kind {
    GM_EV_ADD,
    GM_EV_DEL,
    GM_EV_NOP,
    GM_EV_LOG_START,
    GM_EV_LOG_STOP,
    GM_EV_COALESCE, /* the region's coalesced ranges changed: old ones go */
};

int gm__listen_init(gm_system *sys);
void gm__listen_fini(gm_system *sys);
/* Free every listener without calling it (the system is destroyed). */
void gm__listen_clear(gm_system *sys);

/* Insert l in order (in its space's list when filtered) / take it out. */
void gm__listen_insert(gm_listener *l);
void gm__listen_remove(gm_listener *l);
/* Whether some listener hears as (an unfiltered one, or one on as). */
bool gm__listen_any_for(gm_system *sys, const gm_space *as);

/*
 * A commit: who hears begin and commit is settled before the commit's
 * point of no return (gm__listeners_prepare may fail: -ENOMEM): the
 * unfiltered listeners and those filtered on the spaces told.
 */
int gm__listeners_prepare(gm_system *sys, gm_space *const *told, size_t n);
void gm__listeners_begin(gm_system *sys);
void gm__listeners_commit(gm_system *sys);
/*
 * Delivery to every listener that hears as, in its order. coal: a DEL's
 * range's coalesced ranges (told as coalesced_io_del first), a COALESCE's
 * old ones; an ADD or COALESCE tells the region's current ones after.
 */
void gm__listeners_region(gm_system *sys, gm_space *as, enum gm_ev_kind k,
                          const struct gm_section *s, unsigned old_mask,
                          unsigned new_mask, const struct gm_coal *coal);
void gm__listeners_eventfd(gm_system *sys, gm_space *as, bool add,
                           const struct gm_ioeventfd *e);
void gm__listeners_global_log(gm_system *sys, bool on);
/*
 * log_clear to the listeners of as, for each range of its view that shows
 * [off, off + len) of region mr (clipped to it).
 */
void gm__listeners_log_clear(gm_system *sys, gm_space *as, gm_region *mr,
                             uint64_t off, uint64_t len);

/*
 * Replay to one listener: as's ranges as additions (with log_start) or
 * deletions (log_stop first), and single ioeventfds.
 */
void gm__listener_begin(gm_listener *l);
void gm__listener_commit(gm_listener *l);
void gm__listener_global_log(gm_listener *l, bool on);
void gm__listener_replay_ranges(gm_listener *l, gm_space *as, bool add);
void gm__listener_eventfd(gm_listener *l, gm_space *as, bool add,
                          const struct gm_ioeventfd *e);

#endif
