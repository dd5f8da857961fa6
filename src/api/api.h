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

#endif
