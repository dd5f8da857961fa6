/* SPDX-License-Identifier: MIT */
/*
 * api/api.h - the entry points that change things, and how they bracket
 * their work.
 *
 * Every public call that changes the topology has one shape: validate the
 * arguments (a refused call changes nothing), open an implicit transaction
 * (gm__begin), mark, change the tree, mark, and close it: the outermost
 * close runs the update (update/); if the update fails, nothing was
 * published or told, and the call undoes its change before it releases
 * the writer lock. Only then is what the update dropped freed, as a step
 * of its own (gm__release). Nothing below api/ calls up into it.
 */
#ifndef GM_API_H
#define GM_API_H

#include "../update/update.h"

/* Enter an implicit transaction for a mutator; -EBUSY from listeners. */
int gm__begin(gm_system *sys, gm_error *err);
/* Leave without an update (the call changed nothing). */
void gm__end_nothing(gm_system *sys);
/*
 * Release the writer lock; when its outermost hold ends and enough dead
 * views are waiting, wait for a grace period with the lock released and
 * free them.
 */
void gm__release(gm_system *sys);

/*
 * How to take a change back if the update it is part of fails, and what
 * to do once it stands.
 */
struct gm_undo {
    void (*undo)(struct gm_undo *u);
    void (*done)(struct gm_undo *u); /* may be NULL */
    gm_region *r;
    /* The values before the change. */
    gm_region *container;
    uint64_t addr, seq, u64;
    gm_u128 size;
    int priority;
    bool overlap, flag;
    uint8_t mask;
    struct gm_evfd_pub *pub;
    struct gm_coal *coal;
    struct gm_ioeventfd evfd;
    size_t pos;
};

/* Close a change's transaction (see api/region.c): undo it if it fails. */
int gm__end_change(gm_system *sys, gm_error *err, struct gm_undo *u);
/* A property setter: begin (after the NULL check), refuse or skip
 * (ret < 0, ret > 0: no change), apply between two marks. */
int gm__setter_begin(gm_region *r, gm_error *err);
int gm__setter_refuse(gm_region *r, int ret);
int gm__setter_apply(gm_region *r, gm_error *err, struct gm_undo *u,
                     void (*apply)(gm_region *r, const struct gm_undo *v),
                     const struct gm_undo *v);

#endif
