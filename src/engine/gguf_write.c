/* gguf_write.c - the streaming GGUF v3 writer of hearth/gguf_write.h.
 *
 * Metadata values are serialized into their file encoding as soon as they
 * are set, so open() only concatenates bytes. Every size is computed with
 * overflow checks; all multi-byte fields are assembled little-endian byte by
 * byte, so the output is the same on any host.
 */
#include "hearth/gguf_write.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "hearth/alloc.h"
#include "hearth/quant.h"

#define GGUF_VERSION 3u
#define DEFAULT_ALIGNMENT 32u
#define MAX_TENSOR_NAME 63u     /* ggml's GGML_MAX_NAME - 1: what llama.cpp loads */
#define IO_BUFFER (1u << 20)

typedef struct kv_entry {
    char *key;
    size_t klen;
    uint32_t type;
    uint8_t *val; /* the value as encoded in the file (after the type field) */
    size_t vlen;
} kv_entry;

typedef struct tensor_entry {
    char *name;
    size_t nlen;
    uint32_t n_dims;
    int64_t ne[4];
    uint32_t type;
    uint64_t nbytes;
    uint64_t offset; /* from the start of the data section; set by open() */
} tensor_entry;

struct hearth_gguf_writer {
    kv_entry *kvs;
    uint64_t n_kv, cap_kv;
    tensor_entry *ts;
    uint64_t n_t, cap_t;

    FILE *f;
    char *iobuf;
    char *path, *tmp_path;
    int state; /* 0 building, 1 open, 2 finished, 3 failed */
    uint64_t alignment;
    uint64_t data_start, file_size;
    uint64_t cur;         /* tensor being written */
    uint64_t cur_written; /* its bytes so far */
};

enum { ST_BUILD = 0, ST_OPEN = 1, ST_DONE = 2, ST_FAILED = 3 };

/* ---- byte buffers ------------------------------------------------------ */

typedef struct bbuf {
    uint8_t *p;
    size_t n, cap;
    bool oom;
} bbuf;

/* Makes room for `add` more bytes; returns false (and marks the buffer) on
 * overflow or out of memory. */
static bool bb_reserve(bbuf *b, size_t add) {
    if (b->oom) return false;
    if (add > SIZE_MAX - b->n) {
        b->oom = true;
        return false;
    }
    if (b->n + add <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + add) {
        if (cap > SIZE_MAX / 2) {
            cap = b->n + add;
            break;
        }
        cap *= 2;
    }
    uint8_t *p = hearth_realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

static void bb_bytes(bbuf *b, const void *src, size_t n) {
    if (n == 0 || !bb_reserve(b, n)) return;
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

/* Appends the low `n` bytes of v, least significant first. */
static void bb_le(bbuf *b, uint64_t v, int n) {
    uint8_t t[8];
    for (int i = 0; i < n; i++) t[i] = (uint8_t)(v >> (8 * i));
    bb_bytes(b, t, (size_t)n);
}

static void bb_str(bbuf *b, const char *s, uint64_t len) {
    bb_le(b, len, 8);
    if (len > SIZE_MAX) {
        b->oom = true;
        return;
    }
    bb_bytes(b, s, (size_t)len);
}

/* ---- helpers ------------------------------------------------------------ */

/* Returns the encoded size of one element of a numeric array type, or 0. */
static size_t elem_size(uint32_t t) {
    switch (t) {
    case HEARTH_GGUF_UINT8:
    case HEARTH_GGUF_INT8:
    case HEARTH_GGUF_BOOL: return 1;
    case HEARTH_GGUF_UINT16:
    case HEARTH_GGUF_INT16: return 2;
    case HEARTH_GGUF_UINT32:
    case HEARTH_GGUF_INT32:
    case HEARTH_GGUF_FLOAT32: return 4;
    case HEARTH_GGUF_UINT64:
    case HEARTH_GGUF_INT64:
    case HEARTH_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

static uint64_t pad_to(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

/* Returns INVALID unless the writer is still building its header. */
static hearth_status check_building(const hearth_gguf_writer *w, const char *what) {
    if (!w) return hearth_error_set(HEARTH_ERR_INVALID, "gguf writer: %s: no writer", what);
    if (w->state != ST_BUILD)
        return hearth_error_set(HEARTH_ERR_INVALID, "gguf writer: %s after the header was written", what);
    return HEARTH_OK;
}

static int64_t find_key(const hearth_gguf_writer *w, const char *key, size_t klen) {
    for (uint64_t i = 0; i < w->n_kv; i++)
        if (w->kvs[i].klen == klen && memcmp(w->kvs[i].key, key, klen) == 0) return (int64_t)i;
    return -1;
}

/* Removes entry i, keeping the order of the others. */
static void remove_at(hearth_gguf_writer *w, uint64_t i) {
    hearth_free(w->kvs[i].key);
    hearth_free(w->kvs[i].val);
    memmove(&w->kvs[i], &w->kvs[i + 1], (size_t)(w->n_kv - i - 1) * sizeof *w->kvs);
    w->n_kv--;
}

/* Appends key = (type, encoded value), replacing an existing entry of the
 * same key. Takes ownership of b's bytes (freed on failure). */
static hearth_status put_kv(hearth_gguf_writer *w, const char *key, size_t klen, uint32_t type, bbuf *b) {
    hearth_status st = check_building(w, "set metadata");
    if (st == HEARTH_OK && klen == 0) st = hearth_error_set(HEARTH_ERR_INVALID, "gguf writer: empty key");
    if (st == HEARTH_OK && b->oom) st = hearth_error_set(HEARTH_ERR_NOMEM, "gguf writer: value of '%.*s'", (int)klen, key);
    if (st != HEARTH_OK) {
        hearth_free(b->p);
        return st;
    }
    char *k = hearth_strndup(key, klen);
    if (!k) {
        hearth_free(b->p);
        return hearth_error_set(HEARTH_ERR_NOMEM, "gguf writer: key");
    }
    int64_t old = find_key(w, key, klen);
    if (old >= 0) remove_at(w, (uint64_t)old);
    if (w->n_kv == w->cap_kv) {
        uint64_t cap = w->cap_kv ? w->cap_kv * 2 : 32;
        kv_entry *kvs = hearth_reallocarray(w->kvs, (size_t)cap, sizeof *kvs);
        if (!kvs) {
            hearth_free(k);
            hearth_free(b->p);
            return hearth_error_set(HEARTH_ERR_NOMEM, "gguf writer: metadata table");
        }
        w->kvs = kvs;
        w->cap_kv = cap;
    }
    w->kvs[w->n_kv++] = (kv_entry){k, klen, type, b->p, b->n};
    return HEARTH_OK;
}

static hearth_status put_scalar(hearth_gguf_writer *w, const char *key, uint32_t type, uint64_t bits) {
    bbuf b = {0};
    bb_le(&b, bits, (int)elem_size(type));
    return put_kv(w, key ? key : "", key ? strlen(key) : 0, type, &b);
}

/* ---- public: lifetime ---------------------------------------------------- */

/* Returns a new empty writer in *out (OK or NOMEM). Does not block. */
hearth_status hearth_gguf_writer_new(hearth_gguf_writer **out) {
    if (!out) return hearth_error_set(HEARTH_ERR_INVALID, "gguf writer: no output pointer");
    *out = hearth_calloc(1, sizeof **out);
    if (!*out) return hearth_error_set(HEARTH_ERR_NOMEM, "gguf writer");
    (*out)->alignment = DEFAULT_ALIGNMENT;
    return HEARTH_OK;
}

/* Closes the file of an unfinished run and removes it. Blocks on I/O. */
static void abandon(hearth_gguf_writer *w) {
    if (w->f) {
        fclose(w->f);
        w->f = NULL;
    }
    if (w->tmp_path && (w->state == ST_OPEN || w->state == ST_FAILED)) unlink(w->tmp_path);
    if (w->state == ST_OPEN) w->state = ST_FAILED;
}

/* Frees everything; removes an unfinished temporary file. Blocks on I/O. */
void hearth_gguf_writer_free(hearth_gguf_writer *w) {
    if (!w) return;
    abandon(w);
    for (uint64_t i = 0; i < w->n_kv; i++) {
        hearth_free(w->kvs[i].key);
        hearth_free(w->kvs[i].val);
    }
    for (uint64_t i = 0; i < w->n_t; i++) hearth_free(w->ts[i].name);
    hearth_free(w->kvs);
    hearth_free(w->ts);
    hearth_free(w->iobuf);
    hearth_free(w->path);
    hearth_free(w->tmp_path);
    hearth_free(w);
}

/* ---- public: metadata ------------------------------------------------------ */

hearth_status hearth_gguf_writer_set_u8(hearth_gguf_writer *w, const char *key, uint8_t v) {
    return put_scalar(w, key, HEARTH_GGUF_UINT8, v);
}
hearth_status hearth_gguf_writer_set_i8(hearth_gguf_writer *w, const char *key, int8_t v) {
    return put_scalar(w, key, HEARTH_GGUF_INT8, (uint64_t)(uint8_t)v);
}
hearth_status hearth_gguf_writer_set_u16(hearth_gguf_writer *w, const char *key, uint16_t v) {
    return put_scalar(w, key, HEARTH_GGUF_UINT16, v);
}
hearth_status hearth_gguf_writer_set_i16(hearth_gguf_writer *w, const char *key, int16_t v) {
    return put_scalar(w, key, HEARTH_GGUF_INT16, (uint64_t)(uint16_t)v);
}
hearth_status hearth_gguf_writer_set_u32(hearth_gguf_writer *w, const char *key, uint32_t v) {
    return put_scalar(w, key, HEARTH_GGUF_UINT32, v);
}
hearth_status hearth_gguf_writer_set_i32(hearth_gguf_writer *w, const char *key, int32_t v) {
    return put_scalar(w, key, HEARTH_GGUF_INT32, (uint64_t)(uint32_t)v);
}
hearth_status hearth_gguf_writer_set_u64(hearth_gguf_writer *w, const char *key, uint64_t v) {
    return put_scalar(w, key, HEARTH_GGUF_UINT64, v);
}
hearth_status hearth_gguf_writer_set_i64(hearth_gguf_writer *w, const char *key, int64_t v) {
    return put_scalar(w, key, HEARTH_GGUF_INT64, (uint64_t)v);
}
hearth_status hearth_gguf_writer_set_f32(hearth_gguf_writer *w, const char *key, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    return put_scalar(w, key, HEARTH_GGUF_FLOAT32, u);
}
hearth_status hearth_gguf_writer_set_f64(hearth_gguf_writer *w, const char *key, double v) {
    uint64_t u;
    memcpy(&u, &v, 8);
    return put_scalar(w, key, HEARTH_GGUF_FLOAT64, u);
}
hearth_status hearth_gguf_writer_set_bool(hearth_gguf_writer *w, const char *key, bool v) {
    return put_scalar(w, key, HEARTH_GGUF_BOOL, v ? 1 : 0);
}

/* Sets a string value (OK, INVALID, NOMEM). Does not block. */
hearth_status hearth_gguf_writer_set_str(hearth_gguf_writer *w, const char *key, const char *s, uint64_t len) {
    if (!s && len) return hearth_error_set(HEARTH_ERR_INVALID, "gguf writer: NULL string");
    bbuf b = {0};
    bb_str(&b, s, len);
    return put_kv(w, key ? key : "", key ? strlen(key) : 0, HEARTH_GGUF_STRING, &b);
}

/* Returns the host value at element i of a numeric array as raw bits. */
static uint64_t host_bits(const void *data, uint32_t type, uint64_t i) {
    const uint8_t *p = (const uint8_t *)data + i * elem_size(type);
    switch (elem_size(type)) {
    case 1: return type == HEARTH_GGUF_BOOL ? (*p ? 1u : 0u) : *p;
    case 2: {
        uint16_t v;
        memcpy(&v, p, 2);
        return v;
    }
    case 4: {
        uint32_t v;
        memcpy(&v, p, 4);
        return v;
    }
    default: {
        uint64_t v;
        memcpy(&v, p, 8);
        return v;
    }
    }
}

/* Sets a numeric array from host values (OK, INVALID, NOMEM). Does not block. */
hearth_status hearth_gguf_writer_set_arr(hearth_gguf_writer *w, const char *key, hearth_gguf_vtype elem_type,
                                         const void *data, uint64_t n) {
    size_t es = elem_size(elem_type);
    if (es == 0)
        return hearth_error_set(HEARTH_ERR_INVALID, "gguf writer: array element type %d is not numeric",
                                (int)elem_type);
    if (n && !data) return hearth_error_set(HEARTH_ERR_INVALID, "gguf writer: NULL array data");
    if (n > (SIZE_MAX - 12) / es) return hearth_error_set(HEARTH_ERR_RANGE, "gguf writer: array too long");
    bbuf b = {0};
    bb_le(&b, elem_type, 4);
    bb_le(&b, n, 8);
    if (bb_reserve(&b, (size_t)n * es))
        for (uint64_t i = 0; i < n; i++) bb_le(&b, host_bits(data, elem_type, i), (int)es);
    return put_kv(w, key ? key : "", key ? strlen(key) : 0, HEARTH_GGUF_ARRAY, &b);
}

/* Sets an array of strings (OK, INVALID, NOMEM). Does not block. */
hearth_status hearth_gguf_writer_set_arr_str(hearth_gguf_writer *w, const char *key, const char *const *strs,
                                             const uint64_t *lens, uint64_t n) {
    if (n && !strs) return hearth_error_set(HEARTH_ERR_INVALID, "gguf writer: NULL string array");
    bbuf b = {0};
    bb_le(&b, HEARTH_GGUF_STRING, 4);
    bb_le(&b, n, 8);
    for (uint64_t i = 0; i < n && !b.oom; i++) {
        const char *s = strs[i] ? strs[i] : "";
        bb_str(&b, s, lens ? lens[i] : strlen(s));
    }
    return put_kv(w, key ? key : "", key ? strlen(key) : 0, HEARTH_GGUF_ARRAY, &b);
}

/* Copies one entry read by the GGUF reader (OK, INVALID, NOMEM). Arrays are
 * copied as their raw file bytes, which the reader has bounds-checked.
 * Does not block. */
hearth_status hearth_gguf_writer_copy_kv(hearth_gguf_writer *w, const hearth_gguf_kv *kv) {
    if (!kv) return hearth_error_set(HEARTH_ERR_INVALID, "gguf writer: NULL entry");
    if (kv->key.len > SIZE_MAX) return hearth_error_set(HEARTH_ERR_RANGE, "gguf writer: key too long");
    bbuf b = {0};
    switch (kv->type) {
    case HEARTH_GGUF_UINT8:
    case HEARTH_GGUF_UINT16:
    case HEARTH_GGUF_UINT32:
    case HEARTH_GGUF_UINT64:
    case HEARTH_GGUF_BOOL: bb_le(&b, kv->v.u64, (int)elem_size(kv->type)); break;
    case HEARTH_GGUF_INT8:
    case HEARTH_GGUF_INT16:
    case HEARTH_GGUF_INT32:
    case HEARTH_GGUF_INT64: bb_le(&b, (uint64_t)kv->v.i64, (int)elem_size(kv->type)); break;
    case HEARTH_GGUF_FLOAT32: {
        float f = (float)kv->v.f64; /* exact: the reader widened a float */
        uint32_t u;
        memcpy(&u, &f, 4);
        bb_le(&b, u, 4);
        break;
    }
    case HEARTH_GGUF_FLOAT64: {
        uint64_t u;
        memcpy(&u, &kv->v.f64, 8);
        bb_le(&b, u, 8);
        break;
    }
    case HEARTH_GGUF_STRING: bb_str(&b, kv->v.str.ptr, kv->v.str.len); break;
    case HEARTH_GGUF_ARRAY: {
        uint64_t n = kv->v.arr.n, raw;
        if (kv->v.arr.elem_type == HEARTH_GGUF_STRING) {
            raw = 0;
            if (n) {
                if (!kv->v.arr.str_offsets)
                    return hearth_error_set(HEARTH_ERR_INVALID, "gguf writer: string array without offsets");
                hearth_str last = hearth_gguf_arr_str(kv, n - 1);
                /* Elements are contiguous length-prefixed strings. */
                raw = kv->v.arr.str_offsets[n - 1] + 8 + last.len;
            }
        } else {
            size_t es = elem_size(kv->v.arr.elem_type);
            if (es == 0)
                return hearth_error_set(HEARTH_ERR_INVALID, "gguf writer: array of type %d",
                                        (int)kv->v.arr.elem_type);
            if (n > UINT64_MAX / es) return hearth_error_set(HEARTH_ERR_RANGE, "gguf writer: array too long");
            raw = n * es;
        }
        if (raw > SIZE_MAX) return hearth_error_set(HEARTH_ERR_RANGE, "gguf writer: array too long");
        bb_le(&b, kv->v.arr.elem_type, 4);
        bb_le(&b, n, 8);
        bb_bytes(&b, kv->v.arr.data, (size_t)raw);
        break;
    }
    default: return hearth_error_set(HEARTH_ERR_INVALID, "gguf writer: metadata type %d", (int)kv->type);
    }
    return put_kv(w, kv->key.ptr, (size_t)kv->key.len, kv->type, &b);
}

/* Copies all entries of g in order (OK, INVALID, NOMEM). Does not block. */
hearth_status hearth_gguf_writer_copy_kvs(hearth_gguf_writer *w, const hearth_gguf *g) {
    if (!g) return hearth_error_set(HEARTH_ERR_INVALID, "gguf writer: NULL gguf");
    for (uint64_t i = 0; i < hearth_gguf_n_kv(g); i++) {
        hearth_status st = hearth_gguf_writer_copy_kv(w, hearth_gguf_kv_at(g, i));
        if (st != HEARTH_OK) return st;
    }
    return HEARTH_OK;
}

/* Returns true when key was present (and is now removed). */
bool hearth_gguf_writer_remove(hearth_gguf_writer *w, const char *key) {
    if (!w || !key || w->state != ST_BUILD) return false;
    int64_t i = find_key(w, key, strlen(key));
    if (i < 0) return false;
    remove_at(w, (uint64_t)i);
    return true;
}

uint64_t hearth_gguf_writer_n_kv(const hearth_gguf_writer *w) { return w ? w->n_kv : 0; }

/* ---- public: tensors ------------------------------------------------------ */

/* Appends a tensor info after checking its name, shape and type.
 * Does not block. */
hearth_status hearth_gguf_writer_add_tensor(hearth_gguf_writer *w, const char *name, uint32_t n_dims,
                                            const int64_t *ne, uint32_t type) {
    hearth_status st = check_building(w, "add tensor");
    if (st != HEARTH_OK) return st;
    size_t nlen = name ? strlen(name) : 0;
    if (nlen == 0 || nlen > MAX_TENSOR_NAME)
        return hearth_error_set(HEARTH_ERR_INVALID, "gguf writer: tensor name '%s' must have 1..%u bytes",
                                name ? name : "", MAX_TENSOR_NAME);
    if (n_dims < 1 || n_dims > 4 || !ne)
        return hearth_error_set(HEARTH_ERR_INVALID, "gguf writer: tensor '%s': %u dimensions", name, n_dims);
    for (uint64_t i = 0; i < w->n_t; i++)
        if (w->ts[i].nlen == nlen && memcmp(w->ts[i].name, name, nlen) == 0)
            return hearth_error_set(HEARTH_ERR_INVALID, "gguf writer: duplicate tensor '%s'", name);
    tensor_entry t = {0};
    t.n_dims = n_dims;
    t.type = type;
    uint64_t rows = 1;
    for (uint32_t d = 0; d < 4; d++) {
        t.ne[d] = d < n_dims ? ne[d] : 1;
        if (t.ne[d] <= 0)
            return hearth_error_set(HEARTH_ERR_INVALID, "gguf writer: tensor '%s': ne[%u] = %lld", name, d,
                                    (long long)t.ne[d]);
        if (d > 0) {
            if ((uint64_t)t.ne[d] > UINT64_MAX / rows)
                return hearth_error_set(HEARTH_ERR_RANGE, "gguf writer: tensor '%s' is too large", name);
            rows *= (uint64_t)t.ne[d];
        }
    }
    size_t row = hearth_row_size(type, t.ne[0]);
    if (row == 0)
        return hearth_error_set(HEARTH_ERR_INVALID, "gguf writer: tensor '%s': type %s cannot hold rows of %lld",
                                name, hearth_type_name(type), (long long)t.ne[0]);
    if (rows > (UINT64_MAX / 2) / row)
        return hearth_error_set(HEARTH_ERR_RANGE, "gguf writer: tensor '%s' is too large", name);
    t.nbytes = rows * row;
    t.name = hearth_strndup(name, nlen);
    if (!t.name) return hearth_error_set(HEARTH_ERR_NOMEM, "gguf writer: tensor name");
    t.nlen = nlen;
    if (w->n_t == w->cap_t) {
        uint64_t cap = w->cap_t ? w->cap_t * 2 : 64;
        tensor_entry *ts = hearth_reallocarray(w->ts, (size_t)cap, sizeof *ts);
        if (!ts) {
            hearth_free(t.name);
            return hearth_error_set(HEARTH_ERR_NOMEM, "gguf writer: tensor table");
        }
        w->ts = ts;
        w->cap_t = cap;
    }
    w->ts[w->n_t++] = t;
    return HEARTH_OK;
}

uint64_t hearth_gguf_writer_tensor_nbytes(const hearth_gguf_writer *w, uint64_t i) {
    return w && i < w->n_t ? w->ts[i].nbytes : 0;
}

uint64_t hearth_gguf_writer_n_tensors(const hearth_gguf_writer *w) { return w ? w->n_t : 0; }

uint64_t hearth_gguf_writer_file_size(const hearth_gguf_writer *w) { return w ? w->file_size : 0; }

/* ---- public: output ---------------------------------------------------------- */

/* Records a failed write: removes the temporary file and returns IO with
 * the errno text. Blocks on the close. */
static hearth_status io_fail(hearth_gguf_writer *w, int err, const char *what) {
    hearth_status st = hearth_error_set(HEARTH_ERR_IO, "%s: %s: %s", w->tmp_path ? w->tmp_path : "gguf", what,
                                        err ? strerror(err) : "write error");
    abandon(w);
    w->state = ST_FAILED;
    return st;
}

/* Writes n bytes to the file or fails the run. Blocks on I/O. */
static hearth_status put(hearth_gguf_writer *w, const void *p, size_t n) {
    if (n == 0) return HEARTH_OK;
    errno = 0;
    if (fwrite(p, 1, n, w->f) != n || ferror(w->f)) return io_fail(w, errno, "write failed");
    return HEARTH_OK;
}

static hearth_status put_zeros(hearth_gguf_writer *w, uint64_t n) {
    static const uint8_t zeros[256];
    while (n > 0) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        hearth_status st = put(w, zeros, k);
        if (st != HEARTH_OK) return st;
        n -= k;
    }
    return HEARTH_OK;
}

/* Resolves the data alignment from general.alignment. */
static hearth_status resolve_alignment(hearth_gguf_writer *w) {
    int64_t i = find_key(w, "general.alignment", strlen("general.alignment"));
    w->alignment = DEFAULT_ALIGNMENT;
    if (i < 0) return HEARTH_OK;
    const kv_entry *e = &w->kvs[i];
    if (e->type != HEARTH_GGUF_UINT32 || e->vlen != 4)
        return hearth_error_set(HEARTH_ERR_INVALID, "gguf writer: general.alignment must be a uint32");
    uint32_t a = (uint32_t)e->val[0] | (uint32_t)e->val[1] << 8 | (uint32_t)e->val[2] << 16 |
                 (uint32_t)e->val[3] << 24;
    if (a == 0 || (a & (a - 1)) != 0)
        return hearth_error_set(HEARTH_ERR_INVALID, "gguf writer: general.alignment %u is not a power of two", a);
    w->alignment = a;
    return HEARTH_OK;
}

/* Creates <path>.tmp and writes the header. Blocks on I/O. */
hearth_status hearth_gguf_writer_open(hearth_gguf_writer *w, const char *path) {
    hearth_status st = check_building(w, "open");
    if (st != HEARTH_OK) return st;
    if (!path || !*path) return hearth_error_set(HEARTH_ERR_INVALID, "gguf writer: empty output path");
    st = resolve_alignment(w);
    if (st != HEARTH_OK) return st;

    /* Data offsets, with overflow checks (sizes were capped at 2^63). */
    uint64_t off = 0;
    for (uint64_t i = 0; i < w->n_t; i++) {
        w->ts[i].offset = off;
        uint64_t padded = pad_to(w->ts[i].nbytes, w->alignment);
        if (padded < w->ts[i].nbytes || off > UINT64_MAX / 2 - padded)
            return hearth_error_set(HEARTH_ERR_RANGE, "gguf writer: data section too large");
        off += padded;
    }

    bbuf h = {0};
    bb_bytes(&h, "GGUF", 4);
    bb_le(&h, GGUF_VERSION, 4);
    bb_le(&h, w->n_t, 8);
    bb_le(&h, w->n_kv, 8);
    for (uint64_t i = 0; i < w->n_kv; i++) {
        bb_str(&h, w->kvs[i].key, w->kvs[i].klen);
        bb_le(&h, w->kvs[i].type, 4);
        bb_bytes(&h, w->kvs[i].val, w->kvs[i].vlen);
    }
    for (uint64_t i = 0; i < w->n_t; i++) {
        const tensor_entry *t = &w->ts[i];
        bb_str(&h, t->name, t->nlen);
        bb_le(&h, t->n_dims, 4);
        for (uint32_t d = 0; d < t->n_dims; d++) bb_le(&h, (uint64_t)t->ne[d], 8);
        bb_le(&h, t->type, 4);
        bb_le(&h, t->offset, 8);
    }
    if (h.oom) {
        hearth_free(h.p);
        return hearth_error_set(HEARTH_ERR_NOMEM, "gguf writer: header");
    }
    w->data_start = pad_to(h.n, w->alignment);
    w->file_size = w->data_start + off;

    size_t plen = strlen(path);
    w->path = hearth_strdup(path);
    w->tmp_path = hearth_malloc(plen + 5);
    w->iobuf = hearth_malloc(IO_BUFFER);
    if (!w->path || !w->tmp_path || !w->iobuf) {
        hearth_free(h.p);
        return hearth_error_set(HEARTH_ERR_NOMEM, "gguf writer: paths");
    }
    memcpy(w->tmp_path, path, plen);
    memcpy(w->tmp_path + plen, ".tmp", 5);

    errno = 0;
    w->f = fopen(w->tmp_path, "wb");
    if (!w->f) {
        int err = errno;
        hearth_free(h.p);
        return hearth_error_set(HEARTH_ERR_IO, "%s: cannot create: %s", w->tmp_path, strerror(err));
    }
    setvbuf(w->f, w->iobuf, _IOFBF, IO_BUFFER);
    w->state = ST_OPEN;
    w->cur = 0;
    w->cur_written = 0;
    st = put(w, h.p, h.n);
    hearth_free(h.p);
    if (st == HEARTH_OK) st = put_zeros(w, w->data_start - h.n);
    return st;
}

/* Streams tensor bytes in table order, padding between tensors. Blocks on I/O. */
hearth_status hearth_gguf_writer_write(hearth_gguf_writer *w, const void *data, size_t n) {
    if (!w || w->state != ST_OPEN)
        return hearth_error_set(w && w->state == ST_FAILED ? HEARTH_ERR_IO : HEARTH_ERR_INVALID,
                                "gguf writer: write on a writer that is not open");
    const uint8_t *p = data;
    while (n > 0) {
        if (w->cur >= w->n_t)
            return hearth_error_set(HEARTH_ERR_INVALID, "gguf writer: %zu bytes past the last tensor", n);
        const tensor_entry *t = &w->ts[w->cur];
        uint64_t room = t->nbytes - w->cur_written;
        size_t k = room < n ? (size_t)room : n;
        hearth_status st = put(w, p, k);
        if (st != HEARTH_OK) return st;
        p += k;
        n -= k;
        w->cur_written += k;
        if (w->cur_written == t->nbytes) {
            st = put_zeros(w, pad_to(t->nbytes, w->alignment) - t->nbytes);
            if (st != HEARTH_OK) return st;
            w->cur++;
            w->cur_written = 0;
        }
    }
    return HEARTH_OK;
}

/* Completes the file and renames it into place. Blocks on I/O (fsync). */
hearth_status hearth_gguf_writer_finish(hearth_gguf_writer *w) {
    if (!w || w->state != ST_OPEN)
        return hearth_error_set(w && w->state == ST_FAILED ? HEARTH_ERR_IO : HEARTH_ERR_INVALID,
                                "gguf writer: finish on a writer that is not open");
    if (w->cur < w->n_t) {
        hearth_status st = hearth_error_set(HEARTH_ERR_INVALID, "gguf writer: tensor '%s' has %llu of %llu bytes",
                                            w->ts[w->cur].name, (unsigned long long)w->cur_written,
                                            (unsigned long long)w->ts[w->cur].nbytes);
        abandon(w);
        return st;
    }
    errno = 0;
    if (fflush(w->f) != 0 || ferror(w->f)) return io_fail(w, errno, "write failed");
    if (fsync(fileno(w->f)) != 0 && errno != EINVAL && errno != EROFS) return io_fail(w, errno, "fsync failed");
    FILE *f = w->f;
    w->f = NULL;
    errno = 0;
    if (fclose(f) != 0) return io_fail(w, errno, "close failed");
    if (rename(w->tmp_path, w->path) != 0) {
        int err = errno;
        hearth_status st = hearth_error_set(HEARTH_ERR_IO, "%s: cannot rename to %s: %s", w->tmp_path, w->path,
                                            strerror(err));
        abandon(w);
        w->state = ST_FAILED;
        return st;
    }
    w->state = ST_DONE;
    return HEARTH_OK;
}
