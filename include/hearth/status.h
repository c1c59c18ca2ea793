/* status.h - the one status type of hearth.
 *
 * Every fallible function returns hearth_status: HEARTH_OK (0) on success, a
 * negative code on failure. The code says what kind of failure it was; the
 * detail (which key, which tensor, which byte) goes to a per-thread message
 * set with hearth_error_set() and read back with hearth_error_last(), so a
 * caller can print one line that names what is wrong.
 */
#ifndef HEARTH_STATUS_H
#define HEARTH_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef int hearth_status;

enum {
    HEARTH_OK = 0,
    HEARTH_ERR_NOMEM = -1,       /* an allocation failed */
    HEARTH_ERR_IO = -2,          /* open/read/mmap/write failed (errno in message) */
    HEARTH_ERR_FORMAT = -3,      /* a file or payload is malformed */
    HEARTH_ERR_INVALID = -4,     /* a caller passed a bad argument */
    HEARTH_ERR_UNSUPPORTED = -5, /* well-formed but not something hearth runs */
    HEARTH_ERR_NOT_FOUND = -6,   /* a key, tensor or token is absent */
    HEARTH_ERR_RANGE = -7,       /* a value or size is out of range (context full, too big) */
    HEARTH_ERR_TYPE = -8,        /* a value has the wrong type */
    HEARTH_ERR_CANCELLED = -9,   /* the operation was stopped by its caller */
    HEARTH_ERR_INTERNAL = -10    /* an invariant broke: a bug in hearth */
};

/* Returns a static, human-readable name for a status code; never NULL. */
const char *hearth_strerror(hearth_status status);

/* Records a detail message for the calling thread (printf-style) and returns
 * `status`, so code can write `return hearth_error_set(HEARTH_ERR_FORMAT, ...)`.
 * Does not block; never allocates (the message is truncated to fit a
 * per-thread buffer). */
hearth_status hearth_error_set(hearth_status status, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Returns the calling thread's last detail message, or "" if none. The
 * pointer is owned by the thread-local buffer and valid until the next
 * hearth_error_set() on this thread. */
const char *hearth_error_last(void);

/* Clears the calling thread's detail message. */
void hearth_error_clear(void);

#ifdef __cplusplus
}
#endif
#endif
