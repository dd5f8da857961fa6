/* SPDX-License-Identifier: MIT */
/*
 * fuzz/standalone.c - run a fuzz target without libFuzzer.
 *
 *   fuzz-X [--random N] [--seed S] [--first I] [FILE|DIR]...
 *
 * Each FILE (or every file of each DIR) is passed to the target once, then
 * N generated inputs (default 0) from index I (default 0): half are random
 * bytes of random length, half a corpus file with a few random edits (bytes
 * flipped, inserted, deleted or copied from elsewhere in it), each a
 * function of S, its index and the corpus given. When one aborts, its
 * index is printed: the same arguments with `--first INDEX --random 1` run
 * it alone, and FUZZ_SAVE=FILE writes each generated input to FILE first. `make check` replays the corpus and a few thousand generated
 * inputs this way, under ASan and UBSan; `make fuzz` uses libFuzzer.
 * Prints "N passed, 0 failed" (a failing input aborts, naming itself).
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static unsigned long runs;

/* The corpus, kept for the generated inputs. */
static struct {
    uint8_t *data;
    size_t len;
} *corpus;
static size_t ncorpus;
static volatile unsigned long current = ~0ul; /* generated input running */

/* On abort, name the generated input (async-signal-safe). */
static void on_abort(int sig)
{
    char msg[64], digits[24];
    unsigned long v = current;
    int n = 0, k = 0;

    if (v != ~0ul) {
        do {
            digits[n++] = (char)('0' + v % 10);
            v /= 10;
        } while (v);
        memcpy(msg, "\nfailing generated input: --first ", 34);
        k = 34;
        while (n) {
            msg[k++] = digits[--n];
        }
        msg[k++] = '\n';
        if (write(2, msg, (size_t)k) < 0) {
            /* nothing more to do */
        }
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long n;

    if (!f) {
        fprintf(fuzz_report(), "%s: %s\n", path, strerror(errno));
        return -1;
    }
    if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET)) {
        fprintf(fuzz_report(), "%s: cannot size the file\n", path);
        fclose(f);
        return -1;
    }
    buf = malloc(n ? (size_t)n : 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fprintf(fuzz_report(), "%s: cannot read the file\n", path);
        free(buf);
        fclose(f);
        return -1;
    }
    fclose(f);
    fprintf(fuzz_report(), "# %s (%ld bytes)\n", path, n);
    LLVMFuzzerTestOneInput(buf, (size_t)n);
    runs++;
    void *grown = realloc(corpus, (ncorpus + 1) * sizeof(*corpus));
    if (!grown) {
        free(buf);
        return 0; /* only fewer mutations to choose from */
    }
    corpus = grown;
    corpus[ncorpus].data = buf;
    corpus[ncorpus].len = (size_t)n;
    ncorpus++;
    return 0;
}

static int run_path(const char *path)
{
    struct stat st;
    struct dirent **names;
    int n, bad = 0;

    if (stat(path, &st)) {
        fprintf(fuzz_report(), "%s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        return run_file(path);
    }
    n = scandir(path, &names, NULL, alphasort); /* a stable order */
    if (n < 0) {
        fprintf(fuzz_report(), "%s: %s\n", path, strerror(errno));
        return -1;
    }
    for (int i = 0; i < n; i++) {
        if (names[i]->d_name[0] != '.') {
            char *p = malloc(strlen(path) + strlen(names[i]->d_name) + 2);

            if (!p) {
                bad = -1;
            } else {
                sprintf(p, "%s/%s", path, names[i]->d_name);
                bad |= run_file(p);
                free(p);
            }
        }
        free(names[i]);
    }
    free(names);
    return bad;
}

static uint64_t next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dULL;
}

/* Input i of the generated stream (malloc'ed; *len set). */
static uint8_t *generate(uint64_t seed, unsigned long i, size_t *len)
{
    uint64_t st = (seed * 0x9e3779b97f4a7c15ULL + i) | 1;
    uint8_t *buf;
    size_t n;

    if (!ncorpus || (next(&st) & 1)) {
        n = (size_t)(next(&st) % 4096);
        buf = malloc(n ? n : 1);
        for (size_t j = 0; buf && j < n; j++) {
            buf[j] = (uint8_t)next(&st);
        }
        *len = n;
        return buf;
    }
    const uint8_t *src = corpus[next(&st) % ncorpus].data;
    size_t slen = corpus[0].len, cap;
    unsigned edits = 1 + (unsigned)(next(&st) % 8);

    for (size_t k = 0; k < ncorpus; k++) {
        if (corpus[k].data == src) {
            slen = corpus[k].len;
        }
    }
    cap = slen + 8 * 64 + 1;
    buf = malloc(cap);
    if (!buf) {
        return NULL;
    }
    memcpy(buf, src, slen);
    n = slen;
    for (unsigned k = 0; k < edits; k++) {
        size_t at = n ? (size_t)(next(&st) % n) : 0;
        size_t span = 1 + (size_t)(next(&st) % 64);

        switch (next(&st) % 4) {
        case 0: /* flip */
            if (n) {
                buf[at] ^= (uint8_t)(1u << (next(&st) % 8));
            }
            break;
        case 1: /* insert a random byte */
            memmove(buf + at + 1, buf + at, n - at);
            buf[at] = (uint8_t)next(&st);
            n++;
            break;
        case 2: /* delete a span */
            if (span > n - at) {
                span = n - at;
            }
            memmove(buf + at, buf + at + span, n - at - span);
            n -= span;
            break;
        default: /* copy a span from elsewhere over this place */
            if (n) {
                size_t from = (size_t)(next(&st) % n);
                if (span > n - from) {
                    span = n - from;
                }
                if (span > n - at) {
                    span = n - at;
                }
                memmove(buf + at, buf + from, span);
            }
            break;
        }
    }
    *len = n;
    return buf;
}

int main(int argc, char **argv)
{
    unsigned long random_runs = 0, first = 0;
    const char *save = getenv("FUZZ_SAVE"); /* write each generated input */
    uint64_t seed = 1;
    int bad = 0;

    if (LLVMFuzzerInitialize) {
        LLVMFuzzerInitialize(&argc, &argv);
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--random") && i + 1 < argc) {
            random_runs = strtoul(argv[++i], NULL, 0);
        } else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
            seed = strtoull(argv[++i], NULL, 0);
        } else if (!strcmp(argv[i], "--first") && i + 1 < argc) {
            first = strtoul(argv[++i], NULL, 0);
        } else {
            bad |= run_path(argv[i]);
        }
    }
    signal(SIGABRT, on_abort);
    for (unsigned long i = first; i < first + random_runs; i++) {
        size_t len;
        uint8_t *buf = generate(seed, i, &len);

        if (!buf) {
            return 1;
        }
        if (save) {
            FILE *f = fopen(save, "wb");

            if (!f || fwrite(buf, 1, len, f) != len || fclose(f)) {
                fprintf(fuzz_report(), "%s: cannot write\n", save);
                return 1;
            }
        }
        current = i;
        LLVMFuzzerTestOneInput(buf, len);
        current = ~0ul;
        free(buf);
        runs++;
    }
    if (random_runs) {
        printf("# %lu generated inputs from %lu, --seed %llu\n", random_runs,
               first, (unsigned long long)seed);
    }
    for (size_t k = 0; k < ncorpus; k++) {
        free(corpus[k].data);
    }
    free(corpus);
    printf("%lu passed, %d failed\n", runs, bad ? 1 : 0);
    return bad ? 1 : 0;
}
