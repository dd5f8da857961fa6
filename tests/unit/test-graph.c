/* SPDX-License-Identifier: MIT */
/*
 * test-graph.c - the region graph at sizes and shapes that used to cost the
 * whole machine or the whole stack: cycles found from either end, deep
 * nesting, and changes seen through many aliases of one region.
 *
 * The library walks the graph without recursion and visits only regions
 * from which some view can be reached; these tests pin what that must not
 * change: -ELOOP exactly when an edge would close a cycle, views that
 * follow every change they can see (and only those), and teardown of any
 * depth.
 */
#include <errno.h>

#include "unit-helpers.h"

/* A chain c[0] > c[1] > ... > c[n-1] of containers, each at offset 0x10. */
static gm_region **chain(gm_system *sys, unsigned n)
{
    gm_region **c = calloc(n, sizeof(*c));
    char name[32];

    CHECK(c != NULL);
    for (unsigned i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "c%u", i);
        c[i] = gm_region_new_container(sys, name, (gm_u128)1 << 62, NULL);
        CHECK(c[i] != NULL);
        if (i) {
            CHECK_EQ_INT(gm_region_add_subregion(c[i - 1], 0x10, c[i], NULL),
                         0);
        }
    }
    return c;
}

static void test_loop_found_from_either_end(void)
{
    enum { N = 2000 };
    gm_system *sys = gm_system_new(NULL);
    gm_region **c = chain(sys, N);
    gm_region *a;
    gm_error err = {0};

    /* The top under the bottom: the walk up from the bottom is long. */
    CHECK_EQ_INT(gm_region_add_subregion(c[N - 1], 0, c[0], &err), -ELOOP);
    CHECK(strstr(err.msg, "contain itself") != NULL);
    /* Into itself. */
    a = gm_region_new_container(sys, "x", 0x1000, NULL);
    CHECK_EQ_INT(gm_region_add_subregion(a, 0, a, NULL), -ELOOP);
    gm_region_unref(a);
    /* Through an alias: an alias of the top placed under the middle. */
    a = gm_region_new_alias(sys, "a", c[0], 0, 0x1000, NULL);
    CHECK_EQ_INT(gm_region_add_subregion(c[N / 2], 0x100, a, NULL), -ELOOP);
    /* An alias of the bottom placed in the top is fine (no cycle). */
    gm_region_unref(a);
    a = gm_region_new_alias(sys, "b", c[N - 1], 0, 0x1000, NULL);
    CHECK_EQ_INT(gm_region_add_subregion(c[0], 0x100000, a, NULL), 0);
    /* ...after which the top under the alias's target is a cycle. */
    CHECK_EQ_INT(gm_region_add_subregion(c[N - 1], 0x1000, c[0], NULL),
                 -ELOOP);
    gm_region_unref(a);
    for (unsigned i = 0; i < N; i++) {
        gm_region_unref(c[i]);
    }
    free(c);
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
}

/* Teardown of a 100,000-deep chain is a loop, not a recursion. */
static void test_deep_chain_teardown(void)
{
    enum { N = 100000 };
    gm_system *sys = gm_system_new(NULL);
    gm_region **c = chain(sys, N);

    /* Only the top keeps the chain alive. */
    for (unsigned i = 1; i < N; i++) {
        gm_region_unref(c[i]);
    }
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), -EBUSY);
    gm_region_unref(c[0]);
    free(c);
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
}

/* Rendering a 100,000-deep chain is a loop too, and so is every change. */
static void test_deep_chain_renders(void)
{
    enum { N = 100000 };
    struct strbuf b = {.len = 0};
    gm_system *sys = gm_system_new(NULL);
    gm_region **c = chain(sys, N);
    gm_region *ram = gm_region_new_ram(sys, "ram", 0x1000, NULL);
    gm_space *as;
    char want[64];

    CHECK_EQ_INT(gm_region_add_subregion(c[N - 1], 0, ram, NULL), 0);
    as = gm_space_new(sys, c[0], "deep", NULL);
    CHECK(as != NULL);
    snprintf(want, sizeof(want), "ram %x-%x", 0x10 * (N - 1),
             0x10 * (N - 1) + 0xfff);
    CHECK_EQ_STR(as_str(as, &b), want);
    /* A change at the bottom reaches the view at the top. */
    CHECK_EQ_INT(gm_region_set_address(ram, 0x1000, NULL), 0);
    snprintf(want, sizeof(want), "ram %x-%x", 0x10 * (N - 1) + 0x1000,
             0x10 * (N - 1) + 0x1fff);
    CHECK_EQ_STR(as_str(as, &b), want);
    CHECK_EQ_INT(gm_space_destroy(as, NULL), 0);
    gm_region_unref(ram);
    for (unsigned i = 0; i < N; i++) {
        gm_region_unref(c[i]);
    }
    free(c);
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
}

/*
 * One RAM region aliased by many containers, of which only some are the
 * root of a space (and only some of those aliases enabled): changes of the
 * RAM show exactly in the views that can see it, also when a space
 * appears or goes away after the aliases were made.
 */
static void test_views_through_many_aliases(void)
{
    enum { N = 300 };
    struct strbuf b = {.len = 0};
    gm_system *sys = gm_system_new(NULL);
    gm_region *ram = gm_region_new_ram(sys, "ram", 0x4000, NULL);
    gm_region *top = gm_region_new_container(sys, "top", GM_SIZE_2_64, NULL);
    gm_region *cont[N], *al[N];
    gm_space *as[N] = {0};
    char name[32];

    CHECK_EQ_INT(gm_region_add_subregion(top, 0x100000, ram, NULL), 0);
    for (unsigned i = 0; i < N; i++) {
        snprintf(name, sizeof(name), "bm%u", i);
        cont[i] = gm_region_new_container(sys, name, GM_SIZE_2_64, NULL);
        snprintf(name, sizeof(name), "al%u", i);
        al[i] = gm_region_new_alias(sys, name, top, 0x100000, 0x2000, NULL);
        CHECK_EQ_INT(gm_region_set_enabled(al[i], i % 2 == 0, NULL), 0);
        /* Two children: the view is the container's own, not top's. */
        CHECK_EQ_INT(gm_region_add_subregion(cont[i], 0x1000, al[i], NULL),
                     0);
        add_ram(cont[i], "own", 0x8000, 0x1000);
        if (i % 3 == 0) {
            as[i] = gm_space_new(sys, cont[i], name, NULL);
        }
    }
    CHECK_EQ_INT(gm_region_set_readonly(ram, true, NULL), 0);
    CHECK_EQ_STR(as_str(as[0], &b), "ram 1000-2fff ro; own 8000-8fff");
    CHECK_EQ_STR(as_str(as[3], &b), "own 8000-8fff");
    /* A space made now sees the RAM and follows its changes. */
    as[2] = gm_space_new(sys, cont[2], "late", NULL);
    CHECK_EQ_STR(as_str(as[2], &b), "ram 1000-2fff ro; own 8000-8fff");
    CHECK_EQ_INT(gm_region_set_readonly(ram, false, NULL), 0);
    CHECK_EQ_STR(as_str(as[2], &b), "ram 1000-2fff; own 8000-8fff");
    CHECK_EQ_STR(as_str(as[6], &b), "ram 1000-2fff; own 8000-8fff");
    /* Enabling an alias of a space's root shows the RAM there. */
    CHECK_EQ_INT(gm_region_set_enabled(al[3], true, NULL), 0);
    CHECK_EQ_INT(gm_region_set_address(ram, 0x101000, NULL), 0);
    CHECK_EQ_STR(as_str(as[3], &b), "ram 2000-2fff; own 8000-8fff");
    CHECK_EQ_STR(as_str(as[0], &b), "ram 2000-2fff; own 8000-8fff");
    /* Spaces and aliases go away in a scrambled order. */
    for (unsigned k = 0; k < N; k++) {
        unsigned i = (k * 7) % N;

        if (as[i]) {
            CHECK_EQ_INT(gm_space_destroy(as[i], NULL), 0);
            as[i] = NULL;
        }
        if (k == N / 2) {
            CHECK_EQ_INT(gm_region_set_address(ram, 0x100000, NULL), 0);
        }
        gm_region_unref(al[i]);
    }
    for (unsigned i = 0; i < N; i++) {
        gm_region_unref(cont[i]);
    }
    gm_region_unref(ram);
    gm_region_unref(top);
    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
}

int main(void)
{
    RUN(test_loop_found_from_either_end);
    RUN(test_deep_chain_teardown);
    RUN(test_deep_chain_renders);
    RUN(test_views_through_many_aliases);
    return harness_done();
}
