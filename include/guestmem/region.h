/* SPDX-License-Identifier: MIT */
/*
 * guestmem/region.h - memory regions and the region tree.
 *
 * A region is a refcounted object with a name, an optional owner and a kind:
 *
 *   container   groups subregions; renders nothing of its own
 *   RAM / ROM   host memory (ROM is RAM that guests cannot write)
 *   I/O         MMIO callbacks (NULL ops: an unassigned reservation)
 *   alias       a window onto another region (target + offset)
 *   ROM device  RAM read directly in romd mode, callbacks otherwise
 *   RAM device  caller memory, accessed as RAM (prints "ramd")
 *
 * Sizes go up to 2^64 inclusive (GM_SIZE_2_64) and are passed as gm_u128.
 * Every region except aliases may hold subregions; siblings render in order
 * of priority (descending) and, among equal priorities, most recently added
 * first; the first to render a byte owns it. A terminating region (every
 * kind but container and alias) fills what its subregions left empty.
 *
 * Ownership: a constructor returns one reference owned by the caller. A
 * container holds a reference on each subregion, an alias on its target, an
 * address space on its root and a flat view on every region it shows, so
 * the caller may drop its reference once the region is placed.
 *
 * Context: every mutator takes the system's writer lock and runs in an
 * implicit transaction when none is open; a mutator called from a listener
 * callback fails with -EBUSY (gm_region_set_owner() excepted: it changes
 * no view). Getters may be called from listener callbacks; those of
 * properties that can change take the lock.
 *
 * Errors: besides the codes each mutator lists, every mutator returns
 * -EINVAL for a NULL region, -EBUSY from a listener callback, and -ENOMEM
 * when the commit that closes its implicit transaction runs out of memory.
 * A call that fails changes nothing: the change is undone, no view is
 * published and no listener is told (a collision warning may already have
 * been given). Inside an explicit transaction a change stands at once and
 * gm_transaction_commit() reports a failed commit.
 */
#ifndef GUESTMEM_REGION_H
#define GUESTMEM_REGION_H

#include "error.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

enum gm_region_kind {
    GM_REGION_CONTAINER,
    GM_REGION_RAM,
    GM_REGION_ROM,
    GM_REGION_IO,
    GM_REGION_ALIAS,
    GM_REGION_ROM_DEVICE,
    GM_REGION_RAM_DEVICE,
};

/* Byte order of a device's registers. */
enum gm_endian {
    GM_ENDIAN_NATIVE = 0,
    GM_ENDIAN_LITTLE,
    GM_ENDIAN_BIG,
};

/* Result of an access (QEMU's MemTxResult). */
enum gm_result {
    GM_RESULT_OK = 0,
    GM_RESULT_DECODE_ERROR = 1, /* nothing (willing) at that address: a
                                   hole, an unassigned reservation, or a
                                   device refusing the access */
    GM_RESULT_ACCESS_ERROR = 2, /* a write to ROM or read-only RAM, or a
                                   device callback's own error */
};

/**
 * struct gm_mem_attrs - attributes of one access, passed to callbacks.
 * @requester_id: bus requester (e.g. PCI BDF), 0 for CPUs.
 * @secure: secure-world access.
 * @user: unprivileged access.
 */
struct gm_mem_attrs {
    uint32_t requester_id;
    bool secure;
    bool user;
};

/**
 * struct gm_region_ops - callbacks of an I/O region or ROM device.
 *
 * Set either the plain pair or the _with_attrs pair (the latter wins).
 * Offsets are relative to the region. Tables only ever grow at the end.
 */
struct gm_region_ops {
    uint64_t (*read)(void *opaque, uint64_t offset, unsigned size);
    void (*write)(void *opaque, uint64_t offset, uint64_t data, unsigned size);
    enum gm_result (*read_with_attrs)(void *opaque, uint64_t offset,
                                      uint64_t *data, unsigned size,
                                      struct gm_mem_attrs attrs);
    enum gm_result (*write_with_attrs)(void *opaque, uint64_t offset,
                                       uint64_t data, unsigned size,
                                       struct gm_mem_attrs attrs);
    enum gm_endian endianness;
    /* What the device accepts; a refused access is a decode error. */
    struct {
        unsigned min_access_size; /* 0 means 1 */
        unsigned max_access_size; /* 0: any size is valid (QEMU's rule);
                                     gm_space_read() / write() then cut
                                     buffers into accesses of at most 4
                                     bytes (loads and stores keep their
                                     size) */
        bool unaligned;
        bool (*accepts)(void *opaque, uint64_t offset, unsigned size,
                        bool is_write, struct gm_mem_attrs attrs);
    } valid;
    /* What the callbacks implement; accesses are split or widened to fit. */
    struct {
        unsigned min_access_size; /* 0 means 1 */
        unsigned max_access_size; /* 0 means 4 */
        bool unaligned;
    } impl;
};

/*
 * Constructors. @sys owns the region's bookkeeping; @name is copied (NULL
 * gives "anonymous"); sizes are 1 .. 2^64 (containers and aliases may also
 * be 0, e.g. a closed bridge window). They return NULL with -EINVAL (bad
 * argument) or -ENOMEM and a message in @err.
 */

/** gm_region_new_container() - a region that only groups subregions. */
GM_EXPORT gm_region *gm_region_new_container(gm_system *sys, const char *name,
                                             gm_u128 size, gm_error *err);

/**
 * gm_region_new_ram() - RAM backed by an anonymous private mapping.
 * @size: 1 .. 2^63, rounded up to the host page size for the mapping.
 */
GM_EXPORT gm_region *gm_region_new_ram(gm_system *sys, const char *name,
                                       gm_u128 size, gm_error *err);

/**
 * gm_region_new_ram_ptr() - RAM backed by caller memory.
 * @host: at least @size bytes, owned by the caller, valid until the region
 *        is destroyed.
 */
GM_EXPORT gm_region *gm_region_new_ram_ptr(gm_system *sys, const char *name,
                                           gm_u128 size, void *host,
                                           gm_error *err);

/** gm_region_new_rom() - read-only RAM (contents set through its pointer). */
GM_EXPORT gm_region *gm_region_new_rom(gm_system *sys, const char *name,
                                       gm_u128 size, gm_error *err);

/**
 * gm_region_new_io() - an MMIO region.
 * @ops: callbacks, or NULL for an unassigned reservation; must stay valid
 *       for the region's lifetime.
 * @opaque: passed to every callback.
 */
GM_EXPORT gm_region *gm_region_new_io(gm_system *sys, const char *name,
                                      gm_u128 size,
                                      const struct gm_region_ops *ops,
                                      void *opaque, gm_error *err);

/**
 * gm_region_new_alias() - a window of @size bytes onto @target at @offset.
 * @target: takes a reference on it; must belong to @sys.
 * @offset: offset in @target; @offset + @size must not exceed 2^64.
 */
GM_EXPORT gm_region *gm_region_new_alias(gm_system *sys, const char *name,
                                         gm_region *target, uint64_t offset,
                                         gm_u128 size, gm_error *err);

/**
 * gm_region_new_rom_device() - RAM-backed device, romd mode on at creation.
 * In romd mode reads come from its RAM and writes go to @ops; otherwise both
 * go to @ops.
 */
GM_EXPORT gm_region *gm_region_new_rom_device(gm_system *sys,
                                              const char *name, gm_u128 size,
                                              const struct gm_region_ops *ops,
                                              void *opaque, gm_error *err);

/**
 * gm_region_new_ram_device() - caller memory (e.g. a passed-through BAR);
 * @host owned by the caller. Accesses treat it as RAM: reads and writes
 * copy directly, DMA maps and caches point into it and it can be dirty
 * logged (QEMU gives such regions MMIO semantics instead: sized host
 * accesses and bounce-buffered maps).
 */
GM_EXPORT gm_region *gm_region_new_ram_device(gm_system *sys,
                                              const char *name, gm_u128 size,
                                              void *host, gm_error *err);

/** gm_region_ref() - take a reference; returns @r (NULL allowed). */
GM_EXPORT gm_region *gm_region_ref(gm_region *r);

/**
 * gm_region_unref() - drop a reference; NULL is a no-op.
 *
 * The region is destroyed when the last reference goes (its subregions are
 * detached and unreferenced, its memory unmapped). Flat views that still
 * show it keep it alive until RCU readers are done.
 */
GM_EXPORT void gm_region_unref(gm_region *r);

/*
 * Subregions.
 */

/**
 * gm_region_add_subregion() - place @child at @offset in @parent, priority 0,
 * not expected to overlap its siblings.
 *
 * A non-overlapping child that collides with a non-overlapping sibling is
 * reported through the warning handler; rendering still follows priority and
 * insertion order.
 *
 * Return: 0; -EINVAL (NULL, @parent is an alias, regions of different
 * systems, @child already has a container); -ELOOP (@parent lies inside
 * @child, directly or through aliases); -ERANGE (@offset + size > 2^64);
 * -EBUSY (from a listener); -ENOMEM.
 */
GM_EXPORT int gm_region_add_subregion(gm_region *parent, uint64_t offset,
                                      gm_region *child, gm_error *err);

/** gm_region_add_subregion_overlap() - the same with overlap and @priority. */
GM_EXPORT int gm_region_add_subregion_overlap(gm_region *parent,
                                              uint64_t offset,
                                              gm_region *child, int priority,
                                              gm_error *err);

/**
 * gm_region_del_subregion() - detach @child from @parent and drop the
 * parent's reference. Return: 0; -EINVAL (NULL); -ENOENT (not a child);
 * -EBUSY (from a listener); -ENOMEM (@child stays in place).
 */
GM_EXPORT int gm_region_del_subregion(gm_region *parent, gm_region *child,
                                      gm_error *err);

/**
 * gm_region_set_address() - move within the container. As in QEMU the
 * region is re-added: it becomes the most recently added of its priority
 * (unless @addr is its address already: then nothing changes).
 * Return: 0; -ERANGE (would end past 2^64); see Errors above.
 */
GM_EXPORT int gm_region_set_address(gm_region *r, uint64_t addr,
                                    gm_error *err);

/**
 * gm_region_set_priority() - change the priority among overlapping siblings.
 * Like a move, the region is re-added (the most recently added of its new
 * priority; nothing changes when it has that priority already). QEMU has no
 * such call (a priority is set by add_subregion_overlap); it serves to
 * rebuild a dump where a region in no container still shows a priority.
 * Return: 0; see Errors above.
 */
GM_EXPORT int gm_region_set_priority(gm_region *r, int priority,
                                     gm_error *err);

/** gm_region_set_enabled() - show or hide the region (and its subtree). */
GM_EXPORT int gm_region_set_enabled(gm_region *r, bool enabled,
                                    gm_error *err);

/** gm_region_set_readonly() - readonly accumulates along the render path. */
GM_EXPORT int gm_region_set_readonly(gm_region *r, bool readonly,
                                     gm_error *err);

/** gm_region_set_nonvolatile() - mark as non-volatile (prints nv-). */
GM_EXPORT int gm_region_set_nonvolatile(gm_region *r, bool nonvolatile,
                                        gm_error *err);

/**
 * gm_region_set_size() - resize.
 * Return: 0; -EINVAL (size above 2^64, zero for a kind that refuses it, or
 * a RAM-backed region growing past its allocation); -ERANGE (the region
 * would end past 2^64 in its container, or an alias past its target's
 * 2^64).
 */
GM_EXPORT int gm_region_set_size(gm_region *r, gm_u128 size, gm_error *err);

/**
 * gm_region_set_alias_offset() - -EINVAL unless @r is an alias; -ERANGE
 * when @offset + size would exceed 2^64.
 */
GM_EXPORT int gm_region_set_alias_offset(gm_region *r, uint64_t offset,
                                         gm_error *err);

/** gm_region_set_romd() - switch a ROM device's romd mode. */
GM_EXPORT int gm_region_set_romd(gm_region *r, bool romd, gm_error *err);

/**
 * gm_region_set_log() - enable or disable dirty logging of one client on a
 * RAM-backed region (log_start / log_stop events follow).
 */
GM_EXPORT int gm_region_set_log(gm_region *r, bool log,
                                enum gm_dirty_client client, gm_error *err);

/** gm_region_set_owner() - attach an opaque owner pointer (not owned). */
GM_EXPORT void gm_region_set_owner(gm_region *r, void *owner);

/*
 * ioeventfds: a guest write of @size bytes at @addr (region offset), with
 * @data when @match_data, signals @fd instead of reaching the device. @fd is
 * owned by the caller and must stay open until the eventfd is deleted.
 * @size is 1, 2, 4 or 8, or 0 for "any size" (no data match).
 * Return: 0; -EINVAL (bad size, or @match_data with size 0); -EBADF
 * (@fd < 0); -ERANGE (add outside the region); -EEXIST (add twice) /
 * -ENOENT (delete an unknown one); see Errors above.
 * Deleting works whatever the region's size has become.
 */
GM_EXPORT int gm_region_add_eventfd(gm_region *r, uint64_t addr,
                                    unsigned size, bool match_data,
                                    uint64_t data, int fd, gm_error *err);
GM_EXPORT int gm_region_del_eventfd(gm_region *r, uint64_t addr,
                                    unsigned size, bool match_data,
                                    uint64_t data, int fd, gm_error *err);

/*
 * Coalesced MMIO (QEMU's memory_region_add_coalescing): guest writes to
 * [@offset, @offset + @size) of an I/O or ROM-device region may be batched
 * by an accelerator and delivered to the device later, in order; listeners
 * hear coalesced_io_add / coalesced_io_del for the parts their spaces
 * show. Adding a range also makes the region flush: pending batched writes
 * are delivered before each access to it (gm_system_set_coalesced_flush()).
 * Return: 0; -EINVAL (NULL, a kind other than I/O or ROM device, @size 0,
 * a range outside the region); -ENOMEM; see Errors above.
 */
GM_EXPORT int gm_region_add_coalescing(gm_region *r, uint64_t offset,
                                       uint64_t size, gm_error *err);
/** gm_region_clear_coalescing() - drop every range; the region stops
 * flushing. Return: 0; -EINVAL; -ENOMEM; see Errors above. */
GM_EXPORT int gm_region_clear_coalescing(gm_region *r, gm_error *err);
/**
 * gm_region_set_flush_coalesced() - deliver pending coalesced writes before
 * each access to @r (a device whose registers see the effect of batched
 * writes elsewhere: QEMU's memory_region_set_flush_coalesced).
 * Return: 0; -EINVAL (NULL); -EBUSY (turning it off while @r has coalesced
 * ranges: clear them instead); see Errors above.
 */
GM_EXPORT int gm_region_set_flush_coalesced(gm_region *r, bool flush,
                                            gm_error *err);
/**
 * gm_region_foreach_coalesced() - call @fn for each coalesced range of @r
 * (region offsets), in the order added, under the writer lock (@fn must
 * not change the topology). Return: the first non-zero value of @fn, or 0;
 * -EINVAL.
 */
GM_EXPORT int gm_region_foreach_coalesced(
    gm_region *r, int (*fn)(uint64_t offset, uint64_t size, void *opaque),
    void *opaque);

/*
 * Getters. The name, kind, system, alias target, host memory, ops and
 * opaque never change and are read without the lock; the others are read
 * under the writer lock.
 */
GM_EXPORT const char *gm_region_name(const gm_region *r);
GM_EXPORT enum gm_region_kind gm_region_kind(const gm_region *r);
GM_EXPORT const char *gm_region_kind_name(enum gm_region_kind kind);
GM_EXPORT void *gm_region_owner(gm_region *r);
GM_EXPORT gm_system *gm_region_system(const gm_region *r);
GM_EXPORT gm_u128 gm_region_size(gm_region *r);
GM_EXPORT uint64_t gm_region_addr(gm_region *r);
GM_EXPORT int gm_region_priority(gm_region *r);
GM_EXPORT bool gm_region_may_overlap(gm_region *r);
GM_EXPORT bool gm_region_enabled(gm_region *r);
GM_EXPORT bool gm_region_readonly(gm_region *r);
GM_EXPORT bool gm_region_nonvolatile(gm_region *r);
GM_EXPORT bool gm_region_romd(gm_region *r);
GM_EXPORT bool gm_region_flush_coalesced(gm_region *r);
GM_EXPORT bool gm_region_terminates(const gm_region *r);
GM_EXPORT uint8_t gm_region_dirty_log_mask(gm_region *r);
/* The container, or NULL; the pointer is borrowed (no reference taken). */
GM_EXPORT gm_region *gm_region_container(gm_region *r);
/* Alias target (borrowed) and offset; NULL / 0 for other kinds. */
GM_EXPORT gm_region *gm_region_alias_target(const gm_region *r);
GM_EXPORT uint64_t gm_region_alias_offset(gm_region *r);
/* Host memory of RAM, ROM, ROM and RAM devices; NULL for other kinds. */
GM_EXPORT void *gm_region_ram_ptr(const gm_region *r);
GM_EXPORT const struct gm_region_ops *gm_region_ops(const gm_region *r);
GM_EXPORT void *gm_region_opaque(const gm_region *r);

/**
 * gm_region_foreach_subregion() - visit the children in render order
 * (priority descending, then most recently added first).
 * @fn: non-zero return stops the walk and is returned.
 * Return: 0, @fn's non-zero value, -EINVAL (NULL) or -ENOMEM.
 * Context: takes the writer lock and holds it while @fn runs; @fn must
 * not change the topology.
 */
GM_EXPORT int gm_region_foreach_subregion(gm_region *r,
                                          int (*fn)(gm_region *child,
                                                    void *opaque),
                                          void *opaque);

/* Property values by name, as QEMU's QOM properties of a MemoryRegion. */
enum gm_prop_type {
    GM_PROP_REGION, /* "container" (NULL when detached) */
    GM_PROP_U64,    /* "addr", "size" (2^64 reads as UINT64_MAX) */
    GM_PROP_INT,    /* "priority" */
    GM_PROP_BOOL,   /* "may-overlap" */
};

struct gm_prop_value {
    enum gm_prop_type type;
    union {
        gm_region *region;
        uint64_t u64;
        int64_t i;
        bool b;
    } u;
};

/**
 * gm_region_get_property() - read a property by name.
 * @name: "container", "addr", "priority", "may-overlap" or "size".
 * Return: 0, or -ENOENT for an unknown name, -EINVAL for NULL arguments.
 */
GM_EXPORT int gm_region_get_property(gm_region *r, const char *name,
                                     struct gm_prop_value *out,
                                     gm_error *err);

#ifdef __cplusplus
}
#endif
#endif
