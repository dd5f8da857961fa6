/* SPDX-License-Identifier: MIT */
/*
 * guestmem/error.h - error reporting.
 *
 * Fallible calls return 0 or a negative errno-style code (constructors return
 * NULL) and, when the caller passes a struct gm_error, fill it with the code
 * and a human-readable message. Passing NULL is always allowed.
 */
#ifndef GUESTMEM_ERROR_H
#define GUESTMEM_ERROR_H

#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GM_ERROR_MSG_MAX 256

/**
 * struct gm_error - caller-owned error record.
 * @code: negative errno-style code, 0 when no error was reported.
 * @msg: NUL-terminated message naming what was wrong.
 */
typedef struct gm_error {
    int code;
    char msg[GM_ERROR_MSG_MAX];
} gm_error;

/**
 * gm_strerror() - describe an error code.
 * @code: a value returned by a guestmem call (negative or positive errno).
 *
 * Return: a static string; never NULL.
 * Context: any thread.
 */
GM_EXPORT const char *gm_strerror(int code);

/**
 * gm_error_clear() - reset an error record.
 * @err: record to reset; may be NULL.
 */
GM_EXPORT void gm_error_clear(gm_error *err);

#ifdef __cplusplus
}
#endif
#endif
