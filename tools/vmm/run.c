/* SPDX-License-Identifier: MIT */
/*
 * tools/vmm/run.c - `guestmem run`: build a board, run a guest on KVM.
 *
 *   guestmem run [--vcpus N] [--guest FILE] [--no-kvm] [--quiet] [BOARD]
 *
 * The board (a file, or the built-in one below) must have the
 * address spaces `memory` and `io`. The guest (the built-in one: guest.S,
 * or a raw binary FILE) is copied to the entry address; page tables and
 * descriptor tables go below it. With KVM, each vCPU runs on a thread of
 * its own while this thread keeps moving a BAR (the board's region `bar`,
 * if any), so the guest's accesses meet topology changes; without KVM the
 * built-in guest's script of accesses is made from the host (host_script).
 *
 * The report: the memory tree and flat views, KVM's memslots, the guest's
 * console, the doorbell count, the framebuffer pages the guest dirtied.
 * Exit status 0 when every vCPU ended with status 0 and the built-in
 * guest's expectations hold; 1 when the guest failed; 2 for bad arguments,
 * a bad board or guest file, or a VM that could not be set up.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../board.h"
#include "../cli.h"
#include "vmm.h"

#define GUEST_MAX (16u << 20)
#define WATCHDOG_SECONDS 60

struct vmm {
    struct machine m;
    struct vmm_devices dev;
    gm_space *mem, *io;
    gm_region *bar;
    gm_kvm *kvm;
    gm_kvm_vcpu *vcpu[VMM_MAX_VCPUS];
    pthread_t thread[VMM_MAX_VCPUS];
    struct gm_kvm_exit exit[VMM_MAX_VCPUS];
    int run_err[VMM_MAX_VCPUS];
    unsigned nvcpus;
    bool builtin_guest, quiet;
    unsigned changes; /* topology changes made while the guest ran */
    struct vcpu_arg {
        struct vmm *vm;
        unsigned id;
    } arg[VMM_MAX_VCPUS];
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned finished; /* vCPU threads that returned */
};

static void on_exit_port(struct vmm *vm, unsigned cpu)
{
    if (cpu < vm->nvcpus && vm->vcpu[cpu]) {
        gm_kvm_vcpu_kick(vm->vcpu[cpu]); /* its thread: the next entry */
    }
}

static void *vcpu_thread(void *opaque)
{
    struct vcpu_arg *a = opaque;
    struct vmm *vm = a->vm;
    unsigned id = a->id;

    gm_kvm_vcpu_set_kick_signal(vm->vcpu[id], SIGUSR1);
    for (;;) {
        vm->run_err[id] = gm_kvm_vcpu_run(vm->vcpu[id], &vm->exit[id]);
        if (vm->run_err[id] || vm->exit[id].reason != KVM_EXIT_INTR) {
            break; /* something the guest was not meant to do */
        }
        pthread_mutex_lock(&vm->dev.lock);
        bool done = vm->dev.exited[id];
        pthread_mutex_unlock(&vm->dev.lock);
        if (done) {
            break;
        }
    }
    pthread_mutex_lock(&vm->lock);
    vm->finished++;
    pthread_cond_signal(&vm->cond);
    pthread_mutex_unlock(&vm->lock);
    return NULL;
}

static int print_slot(const struct gm_kvm_slot_info *s, void *opaque)
{
    (void)opaque;
    printf("  slot %-3u as %u  %016llx-%016llx  %-10s %s%s\n", s->slot,
           s->as_id, (unsigned long long)s->gpa,
           (unsigned long long)(s->gpa + s->size - 1),
           gm_region_name(s->region),
           s->flags & KVM_MEM_READONLY ? "readonly " : "",
           s->flags & KVM_MEM_LOG_DIRTY_PAGES ? "dirty-log" : "");
    return 0;
}

/* The VGA client's dirty pages of the framebuffer, after a sync. */
static uint64_t fb_dirty(struct vmm *vm, uint64_t *pages)
{
    gm_region *fb = vm->dev.framebuffer;
    uint64_t ra, size;

    *pages = 0;
    if (!fb || (ra = gm_region_ram_addr(fb)) == GM_RAM_ADDR_INVALID) {
        return 0;
    }
    gm_space_log_sync(vm->mem, fb, NULL);
    size = (uint64_t)gm_region_size(fb);
    *pages = size / 4096;
    return gm_dirty_count(gm_region_system(fb), ra, size, GM_DIRTY_VGA);
}

static void fb_clear(struct vmm *vm)
{
    gm_region *fb = vm->dev.framebuffer;
    uint64_t ra;

    if (fb && (ra = gm_region_ram_addr(fb)) != GM_RAM_ADDR_INVALID) {
        gm_space_log_sync(vm->mem, fb, NULL);
        gm_dirty_clear(gm_region_system(fb), ra, (uint64_t)gm_region_size(fb),
                       GM_DIRTY_VGA, NULL);
    }
}

/* Keep moving the BAR until every vCPU is done (or the watchdog fires). */
static bool supervise(struct vmm *vm)
{
    struct timespec deadline;
    uint64_t base = vm->bar ? gm_region_addr(vm->bar) : 0;
    bool ok = true;

    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += WATCHDOG_SECONDS;
    pthread_mutex_lock(&vm->lock);
    while (vm->finished < vm->nvcpus) {
        struct timespec tick;

        pthread_mutex_unlock(&vm->lock);
        if (vm->bar && gm_region_set_address(vm->bar,
                                             vm->changes & 1 ? base
                                                             : base + 0x10000,
                                             NULL) == 0) {
            vm->changes++;
        }
        clock_gettime(CLOCK_REALTIME, &tick);
        tick.tv_nsec += 1000000;
        if (tick.tv_nsec >= 1000000000) {
            tick.tv_sec++;
            tick.tv_nsec -= 1000000000;
        }
        pthread_mutex_lock(&vm->lock);
        if (vm->finished < vm->nvcpus) {
            pthread_cond_timedwait(&vm->cond, &vm->lock, &tick);
        }
        if (tick.tv_sec > deadline.tv_sec) {
            ok = false;
            break;
        }
    }
    pthread_mutex_unlock(&vm->lock);
    if (!ok) {
        fprintf(stderr, "guestmem run: the guest did not finish in %d s\n",
                WATCHDOG_SECONDS);
        for (unsigned i = 0; i < vm->nvcpus; i++) {
            gm_kvm_vcpu_kick(vm->vcpu[i]);
        }
    }
    if (vm->bar) {
        gm_region_set_address(vm->bar, base, NULL);
    }
    return ok;
}

static void on_kick_signal(int sig)
{
    (void)sig;
}

static int run_kvm(struct vmm *vm, gm_error *err)
{
    const struct vmm_x86_layout *lay = &vmm_x86_default;
    struct sigaction sa;
    int r;

    vm->kvm = gm_kvm_open(vm->m.sys, NULL, err);
    if (!vm->kvm) {
        return err->code;
    }
    if ((r = gm_kvm_attach_memory(vm->kvm, vm->mem, 0, err)) ||
        (vm->io && (r = gm_kvm_attach_io(vm->kvm, vm->io, err)))) {
        return r;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_kick_signal;
    sigaction(SIGUSR1, &sa, NULL);
    for (unsigned i = 0; i < vm->nvcpus; i++) {
        vm->vcpu[i] = gm_kvm_vcpu_new(vm->kvm, i, err);
        if (!vm->vcpu[i]) {
            return err->code;
        }
        r = vmm_x86_setup_vcpu(gm_kvm_vcpu_fd(vm->vcpu[i]), lay, i,
                               vm->nvcpus, err);
        if (r) {
            return r;
        }
    }
    fb_clear(vm);
    vm->finished = 0;
    for (unsigned i = 0; i < vm->nvcpus; i++) {
        vm->arg[i].vm = vm;
        vm->arg[i].id = i;
        if (pthread_create(&vm->thread[i], NULL, vcpu_thread, &vm->arg[i])) {
            vm->nvcpus = i; /* wait for those that started */
            r = vmm_err(err, -EAGAIN, "cannot start vCPU thread %u", i);
            break;
        }
    }
    supervise(vm);
    for (unsigned i = 0; i < vm->nvcpus; i++) {
        pthread_join(vm->thread[i], NULL);
    }
    return r;
}

/*
 * Without KVM: the built-in guest's accesses, made from the host through
 * the API in the same order (the addresses are guest.S's).
 */
static void host_puts(struct vmm *vm, const char *s)
{
    for (; *s; s++) {
        gm_space_store(vm->io, 0x3f8, 1, GM_ENDIAN_LITTLE, (uint8_t)*s,
                       GM_ATTRS_DEFAULT);
    }
}

static uint64_t host_load(gm_space *as, uint64_t addr, unsigned size)
{
    uint64_t v = 0;

    gm_space_load(as, addr, size, GM_ENDIAN_LITTLE, &v, GM_ATTRS_DEFAULT);
    return v;
}

static void host_fill(gm_space *as, uint64_t addr, uint64_t len, uint64_t v)
{
    uint64_t buf[512];

    for (size_t i = 0; i < 512; i++) {
        buf[i] = v;
    }
    for (uint64_t at = 0; at < len; at += sizeof(buf)) {
        uint64_t n = len - at < sizeof(buf) ? len - at : sizeof(buf);

        gm_space_write(as, addr + at, buf, n, GM_ATTRS_DEFAULT);
    }
}

static void host_script(struct vmm *vm)
{
    gm_space *m = vm->mem;
    unsigned bad = 0;
    const uint64_t bios = 0x534f49424d47ull;

    fb_clear(vm);
    host_puts(vm, "guest: hello from the host (no vCPU)\n");
    host_fill(m, 0x200000, 0x100000, 0x6775657374726d67ull);
    host_puts(vm, "guest: filled 1 MiB of RAM\n");
    host_fill(m, 0xa0000, 8 * 4096, 0x00ff00ff00ff00ffull);
    host_puts(vm, "guest: drew 8 framebuffer pages\n");
    for (int i = 0; i < 3; i++) {
        gm_space_store(m, 0xfeb00000, 4, GM_ENDIAN_LITTLE, 1,
                       GM_ATTRS_DEFAULT);
    }
    gm_space_store(m, 0xfeb00000, 4, GM_ENDIAN_LITTLE, 2, GM_ATTRS_DEFAULT);
    gm_space_store(m, 0xfeb00004, 4, GM_ENDIAN_LITTLE, 0x77,
                   GM_ATTRS_DEFAULT);
    host_puts(vm, "guest: rang the doorbell\n");
    bad += host_load(m, 0xf0000, 8) != bios;
    bad += host_load(m, 0xffff0000, 8) != bios;
    host_puts(vm, "guest: read the ROM and its alias\n");
    gm_space_store(m, 0xf0000, 1, GM_ENDIAN_LITTLE, 0x55, GM_ATTRS_DEFAULT);
    bad += host_load(m, 0xf0000, 1) != 'G';
    host_puts(vm, "guest: a write to the ROM was ignored\n");
    bad += host_load(m, 0xfe000000, 4) != 0x48534c46;
    gm_space_store(m, 0xfe000000, 1, GM_ENDIAN_LITTLE, 0x90,
                   GM_ATTRS_DEFAULT);
    bad += host_load(m, 0xfe000000, 1) != 0x89;
    gm_space_store(m, 0xfe000000, 1, GM_ENDIAN_LITTLE, 0xff,
                   GM_ATTRS_DEFAULT);
    bad += host_load(m, 0xfe000000, 4) != 0x48534c46;
    host_puts(vm, "guest: flash ID mode and back\n");
    if (bad) {
        host_puts(vm, "guest: CHECK FAILED\n");
    }
    host_puts(vm, "guest: done\n");
    gm_space_store(vm->io, 0x501, 2, GM_ENDIAN_LITTLE, bad ? 1 : 0,
                   GM_ATTRS_DEFAULT);
    for (unsigned id = 1; id < vm->nvcpus; id++) {
        host_fill(m, 0x400000 + ((uint64_t)id << 20), 0x40000, id);
        gm_space_store(m, 0xfeb00000, 4, GM_ENDIAN_LITTLE, 1,
                       GM_ATTRS_DEFAULT);
        gm_space_store(vm->io, 0x501, 2, GM_ENDIAN_LITTLE, (uint64_t)id << 8,
                       GM_ATTRS_DEFAULT);
    }
}

const char cmd_run_usage[] =
    "usage: guestmem run [--vcpus N] [--guest FILE] [--no-kvm] [--quiet]\n"
    "                    [BOARD]\n"
    "\n"
    "Build the machine of BOARD (docs/board-format.md, with device models\n"
    "named by dev=TYPE; without BOARD, a built-in board), mirror its\n"
    "`memory` and `io` spaces into a KVM VM and run a guest on N vCPUs at\n"
    "CPL3 in 64-bit mode while the main thread moves a BAR; print the\n"
    "memory tree, the flat views, the KVM memslots, the guest's console,\n"
    "the doorbell count and the framebuffer pages it dirtied. Without\n"
    "/dev/kvm (or with --no-kvm) the built-in guest's accesses are made\n"
    "from the host through the API.\n"
    "\n"
    "Options:\n"
    "      --vcpus N        vCPUs, each on its own thread (1 to 16; default 1)\n"
    "      --guest FILE     a raw x86-64 binary loaded at 0x100000, entered\n"
    "                       at CPL3 with %rdi = vCPU number, %rsi = vCPUs\n"
    "      --no-kvm         run without KVM even where it is available\n"
    "      --quiet          print the report only, not the trees\n"
    CLI_USAGE_MAX_SIZE
    CLI_USAGE_HELP
    "\n"
    "Exit status:\n"
    "  0  every vCPU halted as expected\n"
    "  1  the guest failed (or did not halt within 60 s)\n"
    "  2  usage error, a bad board or guest file, or a VM that could not\n"
    "     be set up\n";

static int report(struct vmm *vm, bool host_only)
{
    uint64_t pages, dirty = fb_dirty(vm, &pages);
    uint64_t rings = vmm_doorbell_rings(&vm->dev);
    uint64_t want_rings = 3 + (vm->nvcpus - 1);
    bool ok = true;

    if (!vm->quiet) {
        printf("== memory tree\n");
        gm_mtree_print(vm->m.sys, stdout, 0, NULL);
        printf("== flat views\n");
        gm_mtree_print(vm->m.sys, stdout, GM_MTREE_FLAT, NULL);
    }
    printf("== KVM memslots\n");
    if (vm->kvm) {
        struct gm_kvm_stats st;

        gm_kvm_foreach_slot(vm->kvm, print_slot, NULL);
        gm_kvm_get_stats(vm->kvm, &st);
        printf("  %u slots of %u; %llu KVM_SET_USER_MEMORY_REGION calls\n",
               st.slots, st.max_slots,
               (unsigned long long)st.set_memory_region);
    } else {
        printf("  no slot: %s\n", host_only ? "run without KVM" : "no VM");
    }
    printf("== console\n%s", vm->dev.console);
    printf("== results\n");
    printf("doorbell: %llu rings through the ioeventfd, %llu other writes\n",
           (unsigned long long)rings,
           (unsigned long long)vm->dev.doorbell_other);
    printf("dirty framebuffer pages (VGA client): %llu of %llu\n",
           (unsigned long long)dirty, (unsigned long long)pages);
    printf("flash mode changes: %u; topology changes while running: %u\n",
           vm->dev.flash_mode_changes, vm->changes);
    for (unsigned i = 0; i < vm->nvcpus; i++) {
        if (!vm->dev.exited[i]) {
            printf("vCPU %u: did not finish (exit reason %u, error %d)\n", i,
                   vm->exit[i].reason, vm->run_err[i]);
            ok = false;
        } else {
            printf("vCPU %u: finished with status %u\n", i,
                   vm->dev.status[i]);
            ok &= vm->dev.status[i] == 0;
        }
    }
    if (vm->builtin_guest) {
        ok &= rings == want_rings && dirty == 8 &&
              vm->dev.flash_mode_changes == 2 &&
              strstr(vm->dev.console, "guest: done\n") != NULL;
    }
    printf("%s\n", ok ? "guest halted as expected" : "GUEST FAILED");
    return ok ? 0 : 1;
}

static int load(struct vmm *vm, const struct cli_input *in,
                const char *board, const char *guest)
{
    const struct vmm_x86_layout *lay = &vmm_x86_default;
    const struct cli_input guest_in = {.max_size = GUEST_MAX};
    const char *label = board ? cli_label(board) : "(built-in board)";
    gm_error err = {0};
    size_t len;
    char *text;
    int r;

    if (board) {
        text = cli_read(in, board, &len);
    } else {
        len = strlen(vmm_default_board());
        text = malloc(len + 1);
        if (text) {
            memcpy(text, vmm_default_board(), len + 1);
        }
    }
    if (!text) {
        return 2;
    }
    r = vmm_board_build(&vm->m, &vm->dev, label, text, len, &vm->mem,
                        &vm->io);
    free(text);
    if (r) {
        return 2;
    }
    vm->bar = vm->dev.bar;
    if (guest) {
        text = cli_read(&guest_in, guest, &len);
        if (!text) {
            return 2;
        }
        r = vmm_x86_load(vm->mem, lay, text, len, &err);
        free(text);
    } else {
        r = vmm_x86_load(vm->mem, lay, gm_guest_start,
                         (size_t)(gm_guest_end - gm_guest_start), &err);
    }
    if (r) {
        fprintf(stderr, "%s: %s\n", label, err.msg);
        return 2;
    }
    return 0;
}

enum {
    OPT_VCPUS = CLI_OPT_FIRST_FREE,
    OPT_GUEST,
    OPT_NO_KVM,
    OPT_QUIET,
};

int cmd_run(const struct cli_command *cmd, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"vcpus", required_argument, NULL, OPT_VCPUS},
        {"guest", required_argument, NULL, OPT_GUEST},
        {"no-kvm", no_argument, NULL, OPT_NO_KVM},
        {"quiet", no_argument, NULL, OPT_QUIET},
        CLI_LONGOPT_MAX_SIZE,
        CLI_LONGOPT_HELP,
        CLI_LONGOPT_END,
    };
    const char *board = NULL, *guest = NULL;
    bool no_kvm = false, quiet = false, host_only;
    unsigned nvcpus = 1;
    struct cli_args a;
    struct vmm *vm;
    gm_error err = {0};
    int c, rc = 0;

    cli_args_init(&a, cmd, argc, argv);
    while ((c = cli_getopt(&a, "h", longopts)) != -1) {
        char *end;
        unsigned long n;

        switch (c) {
        case CLI_STOP:
            return a.status;
        case OPT_VCPUS:
            errno = 0;
            n = strtoul(optarg, &end, 10);
            if (errno || end == optarg || *end || n < 1 ||
                n > VMM_MAX_VCPUS) {
                return cli_usage_error(&a, "--vcpus: expected 1 to %d, not "
                                       "`%s`", VMM_MAX_VCPUS, optarg);
            }
            nvcpus = (unsigned)n;
            break;
        case OPT_GUEST:
            guest = optarg;
            break;
        case OPT_NO_KVM:
            no_kvm = true;
            break;
        case OPT_QUIET:
            quiet = true;
            break;
        default:
            break; /* --max-size, kept in a.in */
        }
    }
    if (argc - optind > 1) {
        return cli_usage_error(&a, "expected one BOARD, not %d",
                               argc - optind);
    }
    if (optind < argc) {
        board = argv[optind];
    }
    if (board && guest && !strcmp(board, "-") && !strcmp(guest, "-")) {
        return cli_usage_error(&a, "standard input can be BOARD or the "
                               "guest, not both");
    }
    vm = calloc(1, sizeof(*vm));
    if (!vm || vmm_devices_init(&vm->dev)) {
        fprintf(stderr, "guestmem run: out of memory\n");
        free(vm);
        return 2;
    }
    pthread_mutex_init(&vm->lock, NULL);
    pthread_cond_init(&vm->cond, NULL);
    vm->nvcpus = nvcpus;
    vm->quiet = quiet;
    vm->builtin_guest = !guest;
    vm->dev.on_exit = on_exit_port;
    vm->dev.vm = vm;
    rc = load(vm, &a.in, board, guest);
    host_only = no_kvm || access("/dev/kvm", R_OK | W_OK) != 0;
    if (!rc && host_only) {
        if (!no_kvm) {
            printf("guestmem run: /dev/kvm is not available (%s): the board "
                   "runs without a vCPU, the guest's accesses made from the "
                   "host\n", strerror(errno));
        }
        if (guest) {
            fprintf(stderr, "guestmem run: a guest file needs KVM\n");
            rc = 2;
        } else {
            host_script(vm);
        }
    } else if (!rc && run_kvm(vm, &err)) {
        fprintf(stderr, "guestmem run: %s\n", err.msg);
        rc = 2;
    }
    if (!rc) {
        rc = report(vm, host_only);
    }
    gm_kvm_close(vm->kvm);
    machine_destroy(&vm->m);
    vmm_devices_fini(&vm->dev);
    pthread_cond_destroy(&vm->cond);
    pthread_mutex_destroy(&vm->lock);
    free(vm);
    return rc;
}
