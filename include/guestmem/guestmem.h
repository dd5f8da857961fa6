/* SPDX-License-Identifier: MIT */
/*
 * guestmem/guestmem.h - umbrella header of the guestmem library.
 *
 * guestmem models a machine's guest-physical memory the way QEMU's memory API
 * does: a tree of regions (gm_region) rendered into flat views per address
 * space (gm_space), followed by listeners (gm_listener), all owned by a
 * context object (gm_system).
 */
#ifndef GUESTMEM_GUESTMEM_H
#define GUESTMEM_GUESTMEM_H

#include "types.h"
#include "error.h"
#include "version.h"
#include "system.h"
#include "region.h"
#include "space.h"
#include "listener.h"
#include "mtree.h"
#include "access.h"
#include "ram.h"
#include "dirty.h"
#include "kvm.h"

#endif
