/* SPDX-License-Identifier: MIT */
#ifndef GUESTMEM_VERSION_H
#define GUESTMEM_VERSION_H

#include "types.h"

#define GM_VERSION_MAJOR 0
#define GM_VERSION_MINOR 1
#define GM_VERSION_PATCH 0
#define GM_VERSION_STRING "0.1.0"
#define GM_VERSION_NUMBER                                                      \
    (GM_VERSION_MAJOR * 10000 + GM_VERSION_MINOR * 100 + GM_VERSION_PATCH)

#ifdef __cplusplus
extern "C" {
#endif

/**
 * gm_version() - version of the library actually linked.
 *
 * Return: GM_VERSION_NUMBER of the library binary.
 */
GM_EXPORT unsigned gm_version(void);

/** gm_version_string() - "MAJOR.MINOR.PATCH" of the library binary. */
GM_EXPORT const char *gm_version_string(void);

#ifdef __cplusplus
}
#endif
#endif
