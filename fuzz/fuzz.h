/* SPDX-License-Identifier: MIT */
/*
 * fuzz/fuzz.h - what the fuzz targets share.
 *
 * Each target defines LLVMFuzzerTestOneInput(). Built with clang and
 * -Dfuzz=true it links against libFuzzer (`make fuzz`); otherwise it links
 * against standalone.c, which replays files and a stream of generated
 * inputs, so `make check` runs every target's corpus too.
 */
#ifndef GM_FUZZ_H
#define GM_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken property: report it and abort, which the fuzzer records. */
#define FUZZ_CHECK(cond)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(fuzz_report(), "%s:%d: FUZZ_CHECK(%s) failed\n",          \
                    __FILE__, __LINE__, #cond);                                \
            abort();                                                           \
        }                                                                      \
    } while (0)

/*
 * The error messages the library and the importers print for bad input are
 * expected by the thousand: send stdio's stderr to /dev/null (unless
 * FUZZ_VERBOSE is set). File descriptor 2 stays open, so sanitizer and
 * fuzzer reports, and FUZZ_CHECK, still reach the terminal.
 */
static inline FILE *fuzz_report(void)
{
    static FILE *report;

    if (!report) {
        report = fdopen(2, "w");
        if (!report) {
            report = stdout;
        }
        setvbuf(report, NULL, _IONBF, 0);
    }
    return report;
}

static inline void fuzz_quiet_stderr(void)
{
    static int done;

    if (!done) {
        FILE *null = getenv("FUZZ_VERBOSE") ? NULL : fopen("/dev/null", "w");

        fuzz_report();
        if (null) {
            stderr = null;
        }
        done = 1;
    }
}

#endif
