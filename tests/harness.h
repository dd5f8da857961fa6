/* SPDX-License-Identifier: MIT */
/*
 * tests/harness.h - a tiny test harness: typed checks that print both sides,
 * test functions run in order, and a final "N passed, N failed" line.
 *
 *   static void test_foo(void) { CHECK_EQ_U64(1 + 1, 2); }
 *   int main(void) { RUN(test_foo); return harness_done(); }
 *
 * A test passes when none of its checks failed; the counts are of tests.
 */
#ifndef GM_TESTS_HARNESS_H
#define GM_TESTS_HARNESS_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int harness_passed, harness_failed, harness_cur_failed;
static const char *harness_cur_name;

#define HARNESS_FAIL(...)                                                      \
    do {                                                                       \
        harness_cur_failed++;                                                  \
        fprintf(stderr, "FAIL %s (%s:%d): ", harness_cur_name, __FILE__,      \
                __LINE__);                                                     \
        fprintf(stderr, __VA_ARGS__);                                          \
        fputc('\n', stderr);                                                   \
    } while (0)

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            HARNESS_FAIL("CHECK(%s)", #cond);                                  \
    } while (0)

#define CHECK_EQ_U64(a, b)                                                     \
    do {                                                                       \
        uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);                       \
        if (a_ != b_)                                                          \
            HARNESS_FAIL("%s == %s: 0x%" PRIx64 " != 0x%" PRIx64, #a, #b, a_, \
                         b_);                                                  \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                     \
    do {                                                                       \
        long long a_ = (long long)(a), b_ = (long long)(b);                    \
        if (a_ != b_)                                                          \
            HARNESS_FAIL("%s == %s: %lld != %lld", #a, #b, a_, b_);            \
    } while (0)

#define CHECK_EQ_PTR(a, b)                                                     \
    do {                                                                       \
        const void *a_ = (const void *)(a), *b_ = (const void *)(b);           \
        if (a_ != b_)                                                          \
            HARNESS_FAIL("%s == %s: %p != %p", #a, #b, a_, b_);                \
    } while (0)

#define CHECK_EQ_STR(a, b)                                                     \
    do {                                                                       \
        const char *a_ = (a), *b_ = (b);                                       \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                 \
            HARNESS_FAIL("%s == %s: \"%s\" != \"%s\"", #a, #b,                 \
                         a_ ? a_ : "(null)", b_ ? b_ : "(null)");              \
    } while (0)

/* Check that a string contains a substring (e.g. an error message). */
#define CHECK_CONTAINS(hay, needle)                                            \
    do {                                                                       \
        const char *h_ = (hay), *n_ = (needle);                                \
        if (!h_ || !strstr(h_, n_))                                            \
            HARNESS_FAIL("\"%s\" contains \"%s\"", h_ ? h_ : "(null)", n_);    \
    } while (0)

#define RUN(fn)                                                                \
    do {                                                                       \
        harness_cur_name = #fn;                                                \
        harness_cur_failed = 0;                                                \
        fn();                                                                  \
        if (harness_cur_failed) {                                              \
            harness_failed++;                                                  \
            fprintf(stderr, "not ok %s\n", #fn);                               \
        } else {                                                               \
            harness_passed++;                                                  \
            printf("ok %s\n", #fn);                                            \
        }                                                                      \
    } while (0)

static inline int harness_done(void)
{
    printf("%d passed, %d failed\n", harness_passed, harness_failed);
    fflush(stdout);
    return harness_failed ? 1 : 0;
}

#endif
