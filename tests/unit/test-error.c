/* SPDX-License-Identifier: MIT */
/*
 * test-error.c - unit tests of guestmem/error.h and guestmem/version.h.
 *
 * gm_strerror() must answer every code (negative, positive, unknown) with a
 * non-empty static string; gm_error_clear() resets a record and accepts
 * NULL; a failing call fills the caller's record with the code it returns
 * and a message; gm_version() and gm_version_string() agree with the header
 * the test was compiled against.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <guestmem/guestmem.h>

#include "harness.h"

static void test_strerror_codes(void)
{
    static const int codes[] = {
        -EINVAL, -ENOENT, -EBUSY,    -ELOOP, -ERANGE,
        -EEXIST, -ENOMEM, -EALREADY, -EIO,
    };

    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        const char *s = gm_strerror(codes[i]);

        CHECK(s != NULL);
        CHECK(s && s[0] != '\0');
        /* The positive errno describes the same error. */
        CHECK_EQ_STR(gm_strerror(-codes[i]), s);
    }
    /* Distinct errors get distinct descriptions. */
    CHECK(strcmp(gm_strerror(-EINVAL), gm_strerror(-ENOENT)) != 0);
    CHECK(strcmp(gm_strerror(-EBUSY), gm_strerror(-ELOOP)) != 0);
    CHECK(strcmp(gm_strerror(-ERANGE), gm_strerror(-EEXIST)) != 0);
}

static void test_strerror_odd_codes(void)
{
    const char *s;

    s = gm_strerror(0);
    CHECK(s != NULL && s[0] != '\0');
    s = gm_strerror(-999999);
    CHECK(s != NULL && s[0] != '\0');
    s = gm_strerror(999999);
    CHECK(s != NULL && s[0] != '\0');
    s = gm_strerror(-2147483647 - 1);
    CHECK(s != NULL && s[0] != '\0');
}

static void test_error_clear(void)
{
    gm_error err;

    err.code = -EINVAL;
    strcpy(err.msg, "something went wrong");
    gm_error_clear(&err);
    CHECK_EQ_INT(err.code, 0);
    CHECK_EQ_STR(err.msg, "");
    gm_error_clear(NULL); /* no-op, must not crash */
}

/* A failing call reports the same code in its return and in the record. */
static void test_error_record_filled(void)
{
    gm_error err;
    gm_system *sys = gm_system_new(NULL);
    gm_region *r;
    int ret;

    CHECK(sys != NULL);
    gm_error_clear(&err);
    r = gm_region_new_ram(sys, "zero", 0, &err);
    CHECK(r == NULL);
    CHECK_EQ_INT(err.code, -EINVAL);
    CHECK(err.msg[0] != '\0');
    /* The message is NUL-terminated inside the buffer. */
    CHECK(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);

    gm_error_clear(&err);
    ret = gm_transaction_commit(sys, &err);
    CHECK_EQ_INT(ret, -EINVAL);
    CHECK_EQ_INT(err.code, ret);
    CHECK(err.msg[0] != '\0');

    /* Passing no record is always allowed. */
    CHECK(gm_region_new_ram(sys, "zero", 0, NULL) == NULL);
    CHECK_EQ_INT(gm_transaction_commit(sys, NULL), -EINVAL);

    CHECK_EQ_INT(gm_system_destroy(sys, NULL), 0);
}

static void test_version(void)
{
    char buf[32];

    CHECK_EQ_INT(gm_version(), GM_VERSION_NUMBER);
    CHECK_EQ_INT(GM_VERSION_NUMBER, 100);
    CHECK_EQ_STR(gm_version_string(), GM_VERSION_STRING);
    snprintf(buf, sizeof(buf), "%d.%d.%d", GM_VERSION_MAJOR, GM_VERSION_MINOR,
             GM_VERSION_PATCH);
    CHECK_EQ_STR(gm_version_string(), buf);
}

int main(void)
{
    RUN(test_strerror_codes);
    RUN(test_strerror_odd_codes);
    RUN(test_error_clear);
    RUN(test_error_record_filled);
    RUN(test_version);
    return harness_done();
}
