/* alloc.c - allocation wrappers with an out-of-memory injection hook. */
#include "hearth/alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static long fail_countdown = -1; /* -1: never fail */

static int should_fail(void) {
    if (fail_countdown < 0) return 0;
    if (fail_countdown == 0) return 1;
    fail_countdown--;
    return 0;
}

void hearth_alloc_fail_after(long n) { fail_countdown = n; }

void *hearth_malloc(size_t size) {
    if (should_fail()) return NULL;
    return malloc(size ? size : 1);
}

void *hearth_calloc(size_t n, size_t size) {
    if (should_fail()) return NULL;
    if (n && size > SIZE_MAX / n) return NULL;
    return calloc(n ? n : 1, size ? size : 1);
}

void *hearth_realloc(void *p, size_t size) {
    if (should_fail()) return NULL;
    return realloc(p, size ? size : 1);
}

void *hearth_reallocarray(void *p, size_t n, size_t size) {
    if (n && size > SIZE_MAX / n) return NULL;
    return hearth_realloc(p, n * size);
}

void *hearth_malloc_aligned(size_t size, size_t align) {
    if (should_fail()) return NULL;
    void *p = NULL;
    if (align < sizeof(void *)) align = sizeof(void *);
    if (posix_memalign(&p, align, size ? size : 1) != 0) return NULL;
    return p;
}

void hearth_free(void *p) { free(p); }
void hearth_free_aligned(void *p) { free(p); }

char *hearth_strndup(const char *s, size_t len) {
    char *d = hearth_malloc(len + 1);
    if (!d) return NULL;
    if (len) memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

char *hearth_strdup(const char *s) { return hearth_strndup(s, strlen(s)); }
