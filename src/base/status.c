/* status.c - status names and the per-thread error detail. */
#include "hearth/status.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char error_detail[512];

const char *hearth_strerror(hearth_status status) {
    switch (status) {
    case HEARTH_OK: return "ok";
    case HEARTH_ERR_NOMEM: return "out of memory";
    case HEARTH_ERR_IO: return "I/O error";
    case HEARTH_ERR_FORMAT: return "malformed input";
    case HEARTH_ERR_INVALID: return "invalid argument";
    case HEARTH_ERR_UNSUPPORTED: return "unsupported";
    case HEARTH_ERR_NOT_FOUND: return "not found";
    case HEARTH_ERR_RANGE: return "out of range";
    case HEARTH_ERR_TYPE: return "wrong type";
    case HEARTH_ERR_CANCELLED: return "cancelled";
    case HEARTH_ERR_INTERNAL: return "internal error";
    default: return status < 0 ? "unknown error" : "unknown status";
    }
}

hearth_status hearth_error_set(hearth_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_detail, sizeof error_detail, fmt, ap);
    va_end(ap);
    return status;
}

const char *hearth_error_last(void) { return error_detail; }

void hearth_error_clear(void) { error_detail[0] = '\0'; }
