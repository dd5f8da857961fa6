/* SPDX-License-Identifier: MIT */
/*
 * update/verify.c - GM_DEBUG_VERIFY: every incremental result against a
 * full render.
 *
 * With GM_DEBUG_VERIFY=1 in the environment, each commit renders every
 * view it changed from scratch and compares ranges, masks and dispatch
 * lookups (at range edges, holes and radix block boundaries). A difference
 * is a broken internal invariant: it is printed and the process aborts.
 * The property tests run this way.
 */
#include <stdio.h>

#include "update.h"

static const gm_u128 SPACE_END = GM_SIZE_2_64;

static bool dispatch_agrees(const struct gm_dispatch *d, uint64_t addr,
                            const struct gm_range *want)
{
    const struct gm_range *got = gm__dispatch_lookup(d, addr);

    if (!want || !got) {
        return want == got;
    }
    return got->start == want->start && got->last == want->last &&
           got->mr == want->mr && got->offset == want->offset;
}

/*
 * Whether the table gives want (NULL: a hole) throughout [a, z]: probed at
 * both ends, the middle, and, for each radix level, the first two and last
 * two block boundaries inside, where a wrong entry of that level shows.
 */
static bool dispatch_agrees_on(const struct gm_dispatch *d, uint64_t a,
                               uint64_t z, const struct gm_range *want)
{
    if (!dispatch_agrees(d, a, want) || !dispatch_agrees(d, z, want) ||
        !dispatch_agrees(d, a + (z - a) / 2, want)) {
        return false;
    }
    for (unsigned level = 0; level < GM_DISPATCH_LEVELS; level++) {
        gm_u128 step = (gm_u128)1 << gm__level_shift(level);
        gm_u128 first = ((gm_u128)a + step - 1) / step * step;
        gm_u128 last = (gm_u128)z / step * step;

        if (first > z) {
            continue;
        }
        if (!dispatch_agrees(d, (uint64_t)first, want) ||
            (first + step <= z &&
             !dispatch_agrees(d, (uint64_t)(first + step), want)) ||
            !dispatch_agrees(d, (uint64_t)last, want) ||
            (last > a && !dispatch_agrees(d, (uint64_t)last - 1, want))) {
            return false;
        }
    }
    return true;
}

void gm__verify_view(gm_system *sys, struct gm_vstate *vs,
                     const struct gm_fv_node *t, const struct gm_dispatch *d)
{
    gm_rangevec full = {0}, have = {0};

    if (gm__render(sys, vs->root, 0, SPACE_END, &full)) {
        goto out;
    }
    if (gm__collect_all(t, &have)) {
        goto out;
    }
    bool same = full.n == have.n;
    for (size_t i = 0; same && i < full.n; i++) {
        same = gm__range_equal(&full.v[i], &have.v[i]) &&
               full.v[i].mask == have.v[i].mask;
    }
    /* The dispatch table must agree at every edge and in every hole. */
    for (size_t i = 0; same && i < have.n; i++) {
        const struct gm_range *rg = &have.v[i];
        if (!dispatch_agrees_on(d, rg->start, rg->last, rg)) {
            fprintf(stderr, "guestmem: GM_DEBUG_VERIFY: dispatch disagrees "
                            "on range %016llx-%016llx\n",
                    (unsigned long long)rg->start,
                    (unsigned long long)rg->last);
            same = false;
        }
        uint64_t hole = rg->last + 1;
        if (rg->last != UINT64_MAX &&
            (i + 1 == have.n || have.v[i + 1].start > hole) &&
            !dispatch_agrees_on(d, hole,
                                i + 1 == have.n ? UINT64_MAX
                                                : have.v[i + 1].start - 1,
                                NULL)) {
            fprintf(stderr, "guestmem: GM_DEBUG_VERIFY: dispatch maps hole "
                            "at %016llx\n",
                    (unsigned long long)hole);
            same = false;
        }
    }
    if (same && (!have.n || have.v[0].start > 0) &&
        !dispatch_agrees_on(d, 0, have.n ? have.v[0].start - 1 : UINT64_MAX,
                            NULL)) {
        fprintf(stderr, "guestmem: GM_DEBUG_VERIFY: dispatch maps 0\n");
        same = false;
    }
    if (!same) {
        fprintf(stderr, "guestmem: GM_DEBUG_VERIFY: incremental view of "
                        "'%s' differs from a full render\n",
                vs->root ? vs->root->name : "(none)");
        for (size_t i = 0; i < full.n || i < have.n; i++) {
            if (i < full.n) {
                fprintf(stderr, "  full %016llx-%016llx %s @%llx\n",
                        (unsigned long long)full.v[i].start,
                        (unsigned long long)full.v[i].last,
                        full.v[i].mr->name,
                        (unsigned long long)full.v[i].offset);
            }
            if (i < have.n) {
                fprintf(stderr, "  incr %016llx-%016llx %s @%llx\n",
                        (unsigned long long)have.v[i].start,
                        (unsigned long long)have.v[i].last,
                        have.v[i].mr->name,
                        (unsigned long long)have.v[i].offset);
            }
        }
        abort(); /* an internal invariant is broken */
    }
out:
    gm__vec_free(&full);
    gm__vec_free(&have);
}
