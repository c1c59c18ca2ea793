/* test.h - the few macros hearth's tests need.
 *
 * CHECK records a failure and goes on; REQUIRE records it and returns from
 * the current test function. Each test program ends with TEST_DONE(), which
 * prints "N passed, N failed" and returns the exit status.
 *
 * Fixtures come from HEARTH_TEST_DATA (default ../shared). A fixture that is
 * missing is a failure, never a skip.
 */
#ifndef HEARTH_TEST_H
#define HEARTH_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_passed, test_failed;

#define CHECK(cond, ...)                                                         \
    do {                                                                         \
        if (cond) {                                                              \
            test_passed++;                                                       \
        } else {                                                                 \
            test_failed++;                                                       \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);      \
            fprintf(stderr, " " __VA_ARGS__);                                    \
            fputc('\n', stderr);                                                 \
        }                                                                        \
    } while (0)

#define REQUIRE(cond, ...)                                                       \
    do {                                                                         \
        int ok_ = !!(cond);                                                      \
        CHECK(ok_, __VA_ARGS__);                                       \
        if (!ok_) return;                                                        \
    } while (0)

#define TEST_DONE()                                                              \
    do {                                                                         \
        printf("%d passed, %d failed\n", test_passed, test_failed);              \
        return test_failed ? 1 : 0;                                              \
    } while (0)

/* Path of a file under the shared test data, in a static buffer per call site
 * rotation (8 slots). */
static inline const char *test_data(const char *rel) {
    static char bufs[8][4096];
    static int slot;
    const char *root = getenv("HEARTH_TEST_DATA");
    if (!root || !*root) root = "../shared";
    char *b = bufs[slot++ & 7];
    snprintf(b, sizeof bufs[0], "%s/%s", root, rel);
    return b;
}

/* Reads a whole file; returns NULL (and records a failure) when it is missing. */
static inline char *test_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        test_failed++;
        fprintf(stderr, "FAIL: fixture missing: %s (set HEARTH_TEST_DATA)\n", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(buf);
        test_failed++;
        fprintf(stderr, "FAIL: cannot read %s\n", path);
        return NULL;
    }
    fclose(f);
    buf[n] = '\0';
    if (len) *len = (size_t)n;
    return buf;
}

#endif
