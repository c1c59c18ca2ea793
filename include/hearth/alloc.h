/* alloc.h - hearth's allocation wrappers.
 *
 * All heap memory in hearth goes through these so that out-of-memory is a
 * testable path: hearth_alloc_fail_after(n) makes the (n+1)-th allocation from
 * now on fail (in tests), and the code under test must return
 * HEARTH_ERR_NOMEM without crashing or leaking.
 *
 * Every function here is safe to call with NULL where it frees.
 */
#ifndef HEARTH_ALLOC_H
#define HEARTH_ALLOC_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Returns a block of `size` bytes (uninitialised), or NULL on failure. */
void *hearth_malloc(size_t size);
/* Returns `n * size` zeroed bytes, or NULL on failure or overflow. */
void *hearth_calloc(size_t n, size_t size);
/* Like realloc; on failure returns NULL and leaves `p` untouched. */
void *hearth_realloc(void *p, size_t size);
/* Like realloc for `n * size` bytes, NULL on overflow. */
void *hearth_reallocarray(void *p, size_t n, size_t size);
/* Returns `size` bytes aligned to `align` (a power of two >= sizeof(void*)),
 * freed with hearth_free_aligned. */
void *hearth_malloc_aligned(size_t size, size_t align);
void hearth_free(void *p);
void hearth_free_aligned(void *p);
/* Returns a NUL-terminated copy of the first `len` bytes of `s`. */
char *hearth_strndup(const char *s, size_t len);
char *hearth_strdup(const char *s);

/* Test hook: after `n` more successful allocations, every allocation fails
 * until hearth_alloc_fail_after(-1) is called. Not thread-safe by design; use
 * from single-threaded tests only. */
void hearth_alloc_fail_after(long n);

#ifdef __cplusplus
}
#endif
#endif
