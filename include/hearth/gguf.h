/* gguf.h - a distrustful reader of GGUF files (versions 2 and 3).
 *
 * hearth_gguf_open() maps the file read-only and validates the whole header
 * before returning: magic, version, counts, every string and array length,
 * every metadata type, the tensor table (names unique, dims positive, element
 * counts without overflow, type known, offsets aligned and in the file, data
 * not overlapping the header). Weights are never copied: tensor data pointers
 * point into the mapping, which lives until hearth_gguf_free().
 *
 * Strings in a GGUF are not NUL-terminated; they are exposed as hearth_str
 * views into the mapping. Lengths were checked against the file size, so a
 * view is always safe to read.
 */
#ifndef HEARTH_GGUF_H
#define HEARTH_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hearth/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Metadata value types, numbered as in the GGUF specification. */
typedef enum hearth_gguf_vtype {
    HEARTH_GGUF_UINT8 = 0,
    HEARTH_GGUF_INT8 = 1,
    HEARTH_GGUF_UINT16 = 2,
    HEARTH_GGUF_INT16 = 3,
    HEARTH_GGUF_UINT32 = 4,
    HEARTH_GGUF_INT32 = 5,
    HEARTH_GGUF_FLOAT32 = 6,
    HEARTH_GGUF_BOOL = 7,
    HEARTH_GGUF_STRING = 8,
    HEARTH_GGUF_ARRAY = 9,
    HEARTH_GGUF_UINT64 = 10,
    HEARTH_GGUF_INT64 = 11,
    HEARTH_GGUF_FLOAT64 = 12,
    HEARTH_GGUF_VTYPE_COUNT = 13
} hearth_gguf_vtype;

/* A byte string view (not NUL-terminated) into the mapping. */
typedef struct hearth_str {
    const char *ptr;
    uint64_t len;
} hearth_str;

/* One metadata entry. Scalars are decoded into the union; arrays keep a
 * pointer to their raw little-endian elements (for string arrays, use
 * hearth_gguf_arr_str, which uses a table of offsets built at open time). */
typedef struct hearth_gguf_kv {
    hearth_str key;
    hearth_gguf_vtype type;
    union {
        uint64_t u64;    /* UINT8..UINT64 (zero-extended) and BOOL (0/1) */
        int64_t i64;     /* INT8..INT64 (sign-extended) */
        double f64;      /* FLOAT32, FLOAT64 */
        hearth_str str;  /* STRING */
        struct {
            hearth_gguf_vtype elem_type; /* never ARRAY: nested arrays are rejected */
            uint64_t n;                  /* element count */
            const uint8_t *data;         /* first element, raw */
            const uint64_t *str_offsets; /* STRING arrays: offset of each element's
                                            length prefix from `data`; else NULL */
        } arr;
    } v;
} hearth_gguf_kv;

/* One tensor of the tensor table. ne[0] is the contiguous (row) dimension, as
 * in ggml: a matrix with ne = {n_in, n_out} has n_out rows of n_in elements. */
typedef struct hearth_gguf_tensor {
    hearth_str name;
    uint32_t n_dims;    /* 1..4 */
    int64_t ne[4];      /* unused dims are 1 */
    uint32_t type;      /* ggml type id (see hearth/quant.h), known to hearth */
    uint64_t offset;    /* from the start of the data section */
    const void *data;   /* into the mapping */
    uint64_t nbytes;    /* exact size of the data */
} hearth_gguf_tensor;

typedef struct hearth_gguf hearth_gguf;

/* Opens, maps and validates `path`. On success *out owns the mapping; free it
 * with hearth_gguf_free. On failure returns a negative status and sets a
 * one-line detail (hearth_error_last) naming what is wrong, e.g.
 * "tensor 'blk.0.attn_q.weight': data ends at 123456 past end of file (100000)".
 * Blocks on file I/O (open, fstat, mmap); reads only the header pages. */
hearth_status hearth_gguf_open(const char *path, hearth_gguf **out);

/* Same validation on a caller-owned buffer (not copied; must outlive the
 * handle). Used by tests and fuzzers. */
hearth_status hearth_gguf_open_buffer(const void *data, size_t size, hearth_gguf **out);

/* Unmaps and frees; NULL is a no-op. */
void hearth_gguf_free(hearth_gguf *g);

uint32_t hearth_gguf_version(const hearth_gguf *g);
uint64_t hearth_gguf_alignment(const hearth_gguf *g);
uint64_t hearth_gguf_file_size(const hearth_gguf *g);
/* Start of the mapping (for computing file offsets of tensor data). */
const uint8_t *hearth_gguf_base(const hearth_gguf *g);

/* Metadata: count, by index, by key (NULL when absent). */
uint64_t hearth_gguf_n_kv(const hearth_gguf *g);
const hearth_gguf_kv *hearth_gguf_kv_at(const hearth_gguf *g, uint64_t i);
const hearth_gguf_kv *hearth_gguf_find(const hearth_gguf *g, const char *key);

/* Typed getters. Return HEARTH_OK, HEARTH_ERR_NOT_FOUND when the key is absent
 * (out untouched, so set a default first), or HEARTH_ERR_TYPE when present
 * with an incompatible type or a value that does not fit (detail set).
 * Integer getters accept any integer type whose value fits; the float getter
 * accepts FLOAT32/FLOAT64 and integers. */
hearth_status hearth_gguf_get_u32(const hearth_gguf *g, const char *key, uint32_t *out);
hearth_status hearth_gguf_get_i32(const hearth_gguf *g, const char *key, int32_t *out);
hearth_status hearth_gguf_get_u64(const hearth_gguf *g, const char *key, uint64_t *out);
hearth_status hearth_gguf_get_f32(const hearth_gguf *g, const char *key, float *out);
hearth_status hearth_gguf_get_bool(const hearth_gguf *g, const char *key, bool *out);
hearth_status hearth_gguf_get_str(const hearth_gguf *g, const char *key, hearth_str *out);
/* Array getter: the kv must be an ARRAY whose element type is `elem_type`. */
hearth_status hearth_gguf_get_arr(const hearth_gguf *g, const char *key,
                                  hearth_gguf_vtype elem_type, const hearth_gguf_kv **out);

/* Element i of a STRING array kv (i < n, checked: returns an empty view on a
 * bad index or non-string array). O(1). */
hearth_str hearth_gguf_arr_str(const hearth_gguf_kv *kv, uint64_t i);
/* Element i of a numeric array as double / int64 (converted from the element
 * type; 0 on bad index). */
double hearth_gguf_arr_f64(const hearth_gguf_kv *kv, uint64_t i);
int64_t hearth_gguf_arr_i64(const hearth_gguf_kv *kv, uint64_t i);

/* Tensors: count, by index, by name (NULL when absent). */
uint64_t hearth_gguf_n_tensors(const hearth_gguf *g);
const hearth_gguf_tensor *hearth_gguf_tensor_at(const hearth_gguf *g, uint64_t i);
const hearth_gguf_tensor *hearth_gguf_tensor_find(const hearth_gguf *g, const char *name);

/* Returns the name of a metadata type ("uint32", "string", ...). */
const char *hearth_gguf_vtype_name(hearth_gguf_vtype t);

/* True when a view equals a C string. */
bool hearth_str_eq(hearth_str s, const char *cstr);

#ifdef __cplusplus
}
#endif
#endif
