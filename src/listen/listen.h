/* SPDX-License-Identifier: MIT */
/*
 * listen/listen.h - listeners: their order, and calling them.
 *
 * Listeners are kept sorted by ascending priority (equal priorities in
 * registration order). Additions, nops, log_start, begin, commit and
 * log_global_start go forward; deletions, log_stop and log_global_stop in
 * reverse, so a high-priority listener (a KVM memslot mirror) sees a range
 * appear last and disappear first. Everything here runs under the writer
 * lock; the caller sets in_update around callbacks.
 */
#ifndef GM_LISTEN_H
#define GM_LISTEN_H

#include "../view/view.h"

struct gm_listener {
    gm_system *sys;
    const struct gm_listener_ops *ops;
    void *opaque;
    int priority;
    gm_space *filter;
    gm_listener *prev, *next;
};

struct gm_listen_state {
    gm_listener *head, *tail; /* ascending priority */
};

enum gm_ev_kind {
    GM_EV_ADD,
    GM_EV_DEL,
    GM_EV_NOP,
    GM_EV_LOG_START,
    GM_EV_LOG_STOP,
};

int gm__listen_init(gm_system *sys);
void gm__listen_fini(gm_system *sys);
/* Free every listener without calling it (the system is destroyed). */
void gm__listen_clear(gm_system *sys);

/* Insert l in priority order / take it out of the list. */
void gm__listen_insert(gm_listener *l);
void gm__listen_remove(gm_listener *l);
bool gm__listen_wants(const gm_listener *l, const gm_space *as);
/* Whether a listener is filtered on as. */
bool gm__listen_filtered_on(gm_system *sys, const gm_space *as);

/* Delivery to every listener that wants the space, in its order. */
void gm__listeners_begin(gm_system *sys);
void gm__listeners_commit(gm_system *sys);
void gm__listeners_region(gm_system *sys, gm_space *as, enum gm_ev_kind k,
                          const struct gm_section *s, unsigned old_mask,
                          unsigned new_mask);
void gm__listeners_eventfd(gm_system *sys, gm_space *as, bool add,
                           const struct gm_ioeventfd *e);
void gm__listeners_global_log(gm_system *sys, bool on);

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
