/* test_status.c - status names, error details and the OOM hook. */
#include "hearth/alloc.h"
#include "hearth/status.h"
#include "test.h"

int main(void) {
    CHECK(strcmp(hearth_strerror(HEARTH_OK), "ok") == 0);
    CHECK(strcmp(hearth_strerror(HEARTH_ERR_NOMEM), "out of memory") == 0);
    CHECK(strcmp(hearth_strerror(-999), "unknown error") == 0);
    CHECK(hearth_error_set(HEARTH_ERR_FORMAT, "bad %s at %d", "key", 7) == HEARTH_ERR_FORMAT);
    CHECK(strcmp(hearth_error_last(), "bad key at 7") == 0);
    hearth_error_clear();
    CHECK(hearth_error_last()[0] == '\0');

    hearth_alloc_fail_after(1);
    void *a = hearth_malloc(10);
    void *b = hearth_malloc(10);
    CHECK(a != NULL);
    CHECK(b == NULL, "second allocation should fail");
    hearth_alloc_fail_after(-1);
    void *c = hearth_malloc(10);
    CHECK(c != NULL);
    hearth_free(a);
    hearth_free(c);
    hearth_free(NULL);
    CHECK(hearth_calloc((size_t)-1, 16) == NULL, "overflow must fail");
    TEST_DONE();
}
