/* SPDX-License-Identifier: MIT */
/*
 * error.c - error records, warnings, version, and small shared helpers.
 *
 * Errors travel as negative errno codes plus an optional caller-owned
 * struct gm_error that receives a formatted message; nothing here keeps
 * state between calls.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

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

    if (!sys->warn) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    sys->warn(sys->warn_opaque, buf);
}

const char *gm__u128_str(gm_u128 v, char *buf)
{
    if (v >> 64) {
        snprintf(buf, 40, "0x%llx%016llx", (unsigned long long)(v >> 64),
                 (unsigned long long)v);
    } else {
        snprintf(buf, 40, "0x%llx", (unsigned long long)v);
    }
    return buf;
}

int gm__vec_grow(void **v, size_t *cap, size_t need, size_t elem)
{
    size_t ncap;
    void *nv;

    if (need <= *cap) {
        return 0;
    }
    ncap = *cap ? *cap * 2 : 8;
    while (ncap < need) {
        ncap *= 2;
    }
    nv = realloc(*v, ncap * elem);
    if (!nv) {
        return -ENOMEM;
    }
    *v = nv;
    *cap = ncap;
    return 0;
}

unsigned gm_version(void)
{
    return GM_VERSION_NUMBER;
}

const char *gm_version_string(void)
{
    return GM_VERSION_STRING;
}
