/* SPDX-License-Identifier: MIT */
/*
 * base/error.c - error records, warnings, version strings.
 *
 * Errors travel as negative errno codes plus an optional caller-owned
 * struct gm_error that receives a formatted message; nothing here keeps
 * state between calls.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"

int gm__error_set(gm_error *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;

        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return code;
}

void gm_error_clear(gm_error *err)
{
    if (err) {
        err->code = 0;
        err->msg[0] = '\0';
    }
}

const char *gm_strerror(int code)
{
    long c = code < 0 ? -(long)code : code;

    switch (c) {
    case 0:
        return "success";
    case EINVAL:
        return "invalid argument";
    case ENOMEM:
        return "out of memory";
    case ENOENT:
        return "no such object";
    case EEXIST:
        return "already exists";
    case ERANGE:
        return "range outside the address space";
    case ELOOP:
        return "region would contain itself";
    case EBUSY:
        return "busy (called from a listener or still in use)";
    case EALREADY:
        return "already in that state";
    case EIO:
        return "input/output error";
    case EBADF:
        return "bad file descriptor";
    default:
        return "unknown error";
    }
}

void gm__warn(gm_system *sys, const char *fmt, ...)
{
    char buf[512];
    va_list ap;

    if (!sys->base.warn) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    sys->base.warn(sys->base.warn_opaque, buf);
}

unsigned gm_version(void)
{
    return GM_VERSION_NUMBER;
}

const char *gm_version_string(void)
{
    return GM_VERSION_STRING;
}
