/* gguf.c - a distrustful GGUF reader (versions 2 and 3).
 *
 * The file is mapped read-only and every field is validated against the
 * number of bytes actually present before it is used: counts are bounded by
 * what the remaining bytes could hold before anything is allocated, so a
 * hostile count can never cause a large allocation; every length, offset and
 * size is computed with overflow checks. All multi-byte fields are read with
 * explicit little-endian byte assembly, never through unaligned pointers.
 *
 * Lookups: keys and tensor names go into open-addressing hash tables built
 * while parsing, which also detect duplicates in linear time.
 */
#include "hearth/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hearth/alloc.h"
#include "engine/types_internal.h"

#define GGUF_DEFAULT_ALIGNMENT 32u
#define GGUF_MAX_NAME 65535u /* keys and tensor names: at most 2^16-1 bytes */

/* Smallest encodings, used to bound counts by the bytes that remain:
 * a kv is a key (u64 length + >= 1 byte), a u32 type and >= 1 value byte;
 * a tensor info is a name (8 + >= 1), n_dims (4), >= 1 ne (8), type (4) and
 * offset (8). */
#define MIN_KV_BYTES 14u
#define MIN_TENSOR_BYTES 33u

struct hearth_gguf {
    const uint8_t *base;
    uint64_t size;
    int mapped; /* 1: base is our mmap and must be unmapped */
    uint32_t version;
    uint64_t alignment;
    uint64_t data_offset; /* start of the data section in the file */
    uint64_t n_kv;
    hearth_gguf_kv *kvs;
    uint64_t n_tensors;
    hearth_gguf_tensor *tensors;
    /* Hash tables: slots hold index + 1, 0 = empty; capacities are powers
     * of two at least twice the entry count. */
    uint64_t *kv_slots;
    uint64_t kv_cap;
    uint64_t *tensor_slots;
    uint64_t tensor_cap;
};

/* ---- little-endian loads ---------------------------------------------- */

/* Returns the little-endian u32 at p (any alignment). */
static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Returns the little-endian u64 at p (any alignment). */
static uint64_t le64(const uint8_t *p) {
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* Returns the little-endian u16 at p (any alignment). */
static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

/* Returns the IEEE single at p, little-endian. */
static float lef32(const uint8_t *p) {
    uint32_t u = le32(p);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Returns the IEEE double at p, little-endian. */
static double lef64(const uint8_t *p) {
    uint64_t u = le64(p);
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* ---- small helpers ------------------------------------------------------ */

/* Returns the 64-bit FNV-1a hash of a byte string. */
static uint64_t hash_bytes(const char *s, uint64_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (uint64_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* Returns true when two views hold the same bytes. */
static bool str_same(hearth_str a, hearth_str b) {
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, (size_t)a.len) == 0);
}

/* Writes a printable, truncated copy of a (possibly hostile) string view to
 * buf, so error messages stay one line; returns buf. */
static const char *printable(hearth_str s, char *buf, size_t cap) {
    size_t o = 0;
    uint64_t n = s.len;
    bool cut = false;
    if (n > 80) {
        n = 80;
        cut = true;
    }
    for (uint64_t i = 0; i < n && o + 1 < cap; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        buf[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (cut && o + 4 < cap) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o < cap ? o : cap - 1] = '\0';
    return buf;
}

/* Returns the size in bytes of one scalar metadata value, or 0 for STRING,
 * ARRAY and unknown types. */
static uint64_t scalar_size(uint32_t t) {
    switch (t) {
    case HEARTH_GGUF_UINT8:
    case HEARTH_GGUF_INT8:
    case HEARTH_GGUF_BOOL:
        return 1;
    case HEARTH_GGUF_UINT16:
    case HEARTH_GGUF_INT16:
        return 2;
    case HEARTH_GGUF_UINT32:
    case HEARTH_GGUF_INT32:
    case HEARTH_GGUF_FLOAT32:
        return 4;
    case HEARTH_GGUF_UINT64:
    case HEARTH_GGUF_INT64:
    case HEARTH_GGUF_FLOAT64:
        return 8;
    default:
        return 0;
    }
}

/* Returns the smallest hash capacity (a power of two >= 8) holding n entries
 * at most half full. */
static uint64_t hash_cap(uint64_t n) {
    uint64_t c = 8;
    while (c < n * 2) c <<= 1;
    return c;
}

/* ---- the parser ----------------------------------------------------------- */

typedef struct parser {
    const uint8_t *b;
    uint64_t size;
    uint64_t pos;
    hearth_gguf *g;
    char where[200]; /* "kv 3 'general.name'" or "tensor 7 'x'": error prefix */
} parser;

/* Records a FORMAT-class error prefixed with the parser's current location;
 * returns `status`. */
static hearth_status pfail(parser *ps, hearth_status status, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static hearth_status pfail(parser *ps, hearth_status status, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (ps->where[0]) return hearth_error_set(status, "%s: %s", ps->where, msg);
    return hearth_error_set(status, "%s", msg);
}

/* Returns the number of unread bytes. */
static uint64_t left(const parser *ps) { return ps->size - ps->pos; }

/* Reads a u32 field named `what`; returns OK or a truncation error. */
static hearth_status rd_u32(parser *ps, const char *what, uint32_t *out) {
    *out = 0; /* defined even on failure (and quiets gcc's flow analysis) */
    if (left(ps) < 4)
        return pfail(ps, HEARTH_ERR_FORMAT, "truncated: %s (4 bytes) at offset %llu, file is %llu bytes",
                     what, (unsigned long long)ps->pos, (unsigned long long)ps->size);
    *out = le32(ps->b + ps->pos);
    ps->pos += 4;
    return HEARTH_OK;
}

/* Reads a u64 field named `what`; returns OK or a truncation error. */
static hearth_status rd_u64(parser *ps, const char *what, uint64_t *out) {
    *out = 0; /* defined even on failure (and quiets gcc's flow analysis) */
    if (left(ps) < 8)
        return pfail(ps, HEARTH_ERR_FORMAT, "truncated: %s (8 bytes) at offset %llu, file is %llu bytes",
                     what, (unsigned long long)ps->pos, (unsigned long long)ps->size);
    *out = le64(ps->b + ps->pos);
    ps->pos += 8;
    return HEARTH_OK;
}

/* Reads a GGUF string (u64 length + bytes) named `what` into a view. */
static hearth_status rd_str(parser *ps, const char *what, hearth_str *out) {
    uint64_t at = ps->pos, n;
    hearth_status st = rd_u64(ps, what, &n);
    if (st < 0) return st;
    if (n > left(ps))
        return pfail(ps, HEARTH_ERR_FORMAT,
                     "%s at offset %llu: length %llu exceeds the %llu bytes left in the file", what,
                     (unsigned long long)at, (unsigned long long)n, (unsigned long long)left(ps));
    out->ptr = (const char *)ps->b + ps->pos;
    out->len = n;
    ps->pos += n;
    return HEARTH_OK;
}

/* Checks a key or tensor name: non-empty, at most 65535 bytes, no NUL (it
 * could never be looked up by C string). Returns OK or FORMAT. */
static hearth_status check_name(parser *ps, const char *what, hearth_str s) {
    if (s.len == 0) return pfail(ps, HEARTH_ERR_FORMAT, "empty %s", what);
    if (s.len > GGUF_MAX_NAME)
        return pfail(ps, HEARTH_ERR_FORMAT, "%s is %llu bytes long (limit %u)", what,
                     (unsigned long long)s.len, GGUF_MAX_NAME);
    if (memchr(s.ptr, 0, (size_t)s.len))
        return pfail(ps, HEARTH_ERR_FORMAT, "%s contains a NUL byte", what);
    return HEARTH_OK;
}

/* Inserts entry `idx` named `name` into a hash table; returns the index + 1
 * of an existing entry with the same name (a duplicate), else 0. */
static uint64_t hash_insert(uint64_t *slots, uint64_t cap, hearth_str name, uint64_t idx,
                            const hearth_str *(*name_of)(const hearth_gguf *, uint64_t),
                            const hearth_gguf *g) {
    uint64_t mask = cap - 1;
    uint64_t h = hash_bytes(name.ptr, name.len) & mask;
    while (slots[h]) {
        if (str_same(*name_of(g, slots[h] - 1), name)) return slots[h];
        h = (h + 1) & mask;
    }
    slots[h] = idx + 1;
    return 0;
}

/* Returns the key of kv i (for the hash helpers). */
static const hearth_str *kv_name(const hearth_gguf *g, uint64_t i) { return &g->kvs[i].key; }
/* Returns the name of tensor i (for the hash helpers). */
static const hearth_str *tensor_name(const hearth_gguf *g, uint64_t i) { return &g->tensors[i].name; }

/* Returns the index of the entry named `name` (len bytes), or UINT64_MAX. */
static uint64_t hash_find(const uint64_t *slots, uint64_t cap, const char *name, uint64_t len,
                          const hearth_str *(*name_of)(const hearth_gguf *, uint64_t),
                          const hearth_gguf *g) {
    if (!slots) return UINT64_MAX;
    hearth_str want = {name, len};
    uint64_t mask = cap - 1;
    uint64_t h = hash_bytes(name, len) & mask;
    while (slots[h]) {
        if (str_same(*name_of(g, slots[h] - 1), want)) return slots[h] - 1;
        h = (h + 1) & mask;
    }
    return UINT64_MAX;
}

/* Parses the value of kv `kv` whose type has been read; fills kv->v.
 * Returns OK, FORMAT or NOMEM. */
static hearth_status parse_value(parser *ps, hearth_gguf_kv *kv) {
    uint32_t t = kv->type;
    if (t == HEARTH_GGUF_STRING) return rd_str(ps, "string value", &kv->v.str);
    if (t != HEARTH_GGUF_ARRAY) {
        uint64_t n = scalar_size(t);
        if (left(ps) < n)
            return pfail(ps, HEARTH_ERR_FORMAT, "truncated: %s value (%llu bytes) at offset %llu, file is %llu bytes",
                         hearth_gguf_vtype_name(kv->type), (unsigned long long)n,
                         (unsigned long long)ps->pos, (unsigned long long)ps->size);
        const uint8_t *p = ps->b + ps->pos;
        switch (t) {
        case HEARTH_GGUF_UINT8: kv->v.u64 = p[0]; break;
        case HEARTH_GGUF_INT8: kv->v.i64 = (int8_t)p[0]; break;
        case HEARTH_GGUF_UINT16: kv->v.u64 = le16(p); break;
        case HEARTH_GGUF_INT16: kv->v.i64 = (int16_t)le16(p); break;
        case HEARTH_GGUF_UINT32: kv->v.u64 = le32(p); break;
        case HEARTH_GGUF_INT32: kv->v.i64 = (int32_t)le32(p); break;
        case HEARTH_GGUF_UINT64: kv->v.u64 = le64(p); break;
        case HEARTH_GGUF_INT64: kv->v.i64 = (int64_t)le64(p); break;
        case HEARTH_GGUF_FLOAT32: kv->v.f64 = lef32(p); break;
        case HEARTH_GGUF_FLOAT64: kv->v.f64 = lef64(p); break;
        case HEARTH_GGUF_BOOL:
            if (p[0] > 1)
                return pfail(ps, HEARTH_ERR_FORMAT, "bool value %u at offset %llu is not 0 or 1", p[0],
                             (unsigned long long)ps->pos);
            kv->v.u64 = p[0];
            break;
        default: break; /* unreachable: the type was checked by the caller */
        }
        ps->pos += n;
        return HEARTH_OK;
    }

    /* ARRAY: element type, count, elements. */
    uint32_t et;
    uint64_t n;
    hearth_status st = rd_u32(ps, "array element type", &et);
    if (st < 0) return st;
    if (et == HEARTH_GGUF_ARRAY)
        return pfail(ps, HEARTH_ERR_FORMAT, "nested array (element type array) at offset %llu",
                     (unsigned long long)(ps->pos - 4));
    if (et >= HEARTH_GGUF_VTYPE_COUNT)
        return pfail(ps, HEARTH_ERR_FORMAT, "unknown array element type %u at offset %llu", et,
                     (unsigned long long)(ps->pos - 4));
    if ((st = rd_u64(ps, "array count", &n)) < 0) return st;
    uint64_t esize = et == HEARTH_GGUF_STRING ? 8 : scalar_size(et);
    if (n > left(ps) / esize)
        return pfail(ps, HEARTH_ERR_FORMAT,
                     "array of %llu %s needs at least %llu bytes per element but only %llu bytes are left at offset %llu",
                     (unsigned long long)n, hearth_gguf_vtype_name(et), (unsigned long long)esize,
                     (unsigned long long)left(ps), (unsigned long long)ps->pos);
    kv->v.arr.elem_type = (hearth_gguf_vtype)et;
    kv->v.arr.n = n;
    kv->v.arr.data = ps->b + ps->pos;
    kv->v.arr.str_offsets = NULL;
    if (et != HEARTH_GGUF_STRING) {
        if (et == HEARTH_GGUF_BOOL) {
            for (uint64_t i = 0; i < n; i++)
                if (kv->v.arr.data[i] > 1)
                    return pfail(ps, HEARTH_ERR_FORMAT, "bool array element %llu is %u, not 0 or 1",
                                 (unsigned long long)i, kv->v.arr.data[i]);
        }
        ps->pos += n * esize;
        return HEARTH_OK;
    }
    if (n == 0) return HEARTH_OK;
    /* n <= left/8, so this table is at most the size of the file region. */
    uint64_t *offs = hearth_malloc((size_t)n * sizeof *offs);
    if (!offs)
        return pfail(ps, HEARTH_ERR_NOMEM, "out of memory for the offsets of %llu strings",
                     (unsigned long long)n);
    kv->v.arr.str_offsets = offs; /* owned by the kv from here; freed with it */
    uint64_t start = ps->pos;
    for (uint64_t i = 0; i < n; i++) {
        offs[i] = ps->pos - start;
        if (left(ps) < 8)
            return pfail(ps, HEARTH_ERR_FORMAT, "truncated: string %llu of %llu at offset %llu, file is %llu bytes",
                         (unsigned long long)i, (unsigned long long)n, (unsigned long long)ps->pos,
                         (unsigned long long)ps->size);
        uint64_t len = le64(ps->b + ps->pos);
        ps->pos += 8;
        if (len > left(ps))
            return pfail(ps, HEARTH_ERR_FORMAT,
                         "string %llu of %llu at offset %llu: length %llu exceeds the %llu bytes left in the file",
                         (unsigned long long)i, (unsigned long long)n, (unsigned long long)(ps->pos - 8),
                         (unsigned long long)len, (unsigned long long)left(ps));
        ps->pos += len;
    }
    return HEARTH_OK;
}

/* Parses all metadata entries into g->kvs and the key hash. Returns OK,
 * FORMAT or NOMEM. */
static hearth_status parse_kvs(parser *ps) {
    hearth_gguf *g = ps->g;
    char pb[100];
    for (uint64_t i = 0; i < g->n_kv; i++) {
        hearth_gguf_kv *kv = &g->kvs[i];
        snprintf(ps->where, sizeof ps->where, "kv %llu", (unsigned long long)i);
        hearth_status st = rd_str(ps, "key", &kv->key);
        if (st < 0) return st;
        if ((st = check_name(ps, "key", kv->key)) < 0) return st;
        snprintf(ps->where, sizeof ps->where, "kv %llu '%s'", (unsigned long long)i,
                 printable(kv->key, pb, sizeof pb));
        uint64_t dup = hash_insert(g->kv_slots, g->kv_cap, kv->key, i, kv_name, g);
        if (dup) return pfail(ps, HEARTH_ERR_FORMAT, "duplicate key (first at kv %llu)", (unsigned long long)(dup - 1));
        uint32_t t;
        if ((st = rd_u32(ps, "value type", &t)) < 0) return st;
        if (t >= HEARTH_GGUF_VTYPE_COUNT)
            return pfail(ps, HEARTH_ERR_FORMAT, "unknown value type %u at offset %llu", t,
                         (unsigned long long)(ps->pos - 4));
        kv->type = (hearth_gguf_vtype)t;
        if ((st = parse_value(ps, kv)) < 0) return st;
    }
    ps->where[0] = '\0';
    return HEARTH_OK;
}

/* Reads general.alignment if present: it must be a uint32 power of two. */
static hearth_status read_alignment(parser *ps) {
    hearth_gguf *g = ps->g;
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    const hearth_gguf_kv *kv = hearth_gguf_find(g, "general.alignment");
    if (!kv) return HEARTH_OK;
    if (kv->type != HEARTH_GGUF_UINT32)
        return pfail(ps, HEARTH_ERR_FORMAT, "general.alignment has type %s, expected uint32",
                     hearth_gguf_vtype_name(kv->type));
    uint64_t a = kv->v.u64;
    if (a == 0 || (a & (a - 1)))
        return pfail(ps, HEARTH_ERR_FORMAT, "general.alignment %llu is not a nonzero power of two",
                     (unsigned long long)a);
    g->alignment = a;
    return HEARTH_OK;
}

/* Parses all tensor infos (shape, type, size; positions are checked later,
 * once the data section start is known). Returns OK or FORMAT. */
static hearth_status parse_tensor_infos(parser *ps) {
    hearth_gguf *g = ps->g;
    char pb[100];
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        hearth_gguf_tensor *t = &g->tensors[i];
        snprintf(ps->where, sizeof ps->where, "tensor %llu", (unsigned long long)i);
        hearth_status st = rd_str(ps, "name", &t->name);
        if (st < 0) return st;
        if ((st = check_name(ps, "tensor name", t->name)) < 0) return st;
        snprintf(ps->where, sizeof ps->where, "tensor '%s'", printable(t->name, pb, sizeof pb));
        uint64_t dup = hash_insert(g->tensor_slots, g->tensor_cap, t->name, i, tensor_name, g);
        if (dup)
            return pfail(ps, HEARTH_ERR_FORMAT, "duplicate tensor name (tensors %llu and %llu)",
                         (unsigned long long)(dup - 1), (unsigned long long)i);
        uint32_t nd;
        if ((st = rd_u32(ps, "n_dims", &nd)) < 0) return st;
        if (nd < 1 || nd > 4) return pfail(ps, HEARTH_ERR_FORMAT, "n_dims %u is not in 1..4", nd);
        t->n_dims = nd;
        uint64_t nel = 1;
        for (uint32_t d = 0; d < 4; d++) {
            uint64_t ne = 1;
            if (d < nd && (st = rd_u64(ps, "ne", &ne)) < 0) return st;
            if (ne == 0 || ne >= (1ull << 62))
                return pfail(ps, HEARTH_ERR_FORMAT, "ne[%u] = %llu is out of range [1, 2^62)", d,
                             (unsigned long long)ne);
            if (ne > (uint64_t)INT64_MAX / nel)
                return pfail(ps, HEARTH_ERR_FORMAT, "element count overflows at ne[%u] = %llu", d,
                             (unsigned long long)ne);
            nel *= ne;
            t->ne[d] = (int64_t)ne;
        }
        uint32_t type;
        if ((st = rd_u32(ps, "type", &type)) < 0) return st;
        if (type >= HEARTH_TYPE_COUNT || !hearth_type_sizes[type].name)
            return pfail(ps, HEARTH_ERR_FORMAT, "unknown ggml type %u", type);
        t->type = type;
        const hearth_type_size *ts = &hearth_type_sizes[type];
        if (t->ne[0] % ts->block_size)
            return pfail(ps, HEARTH_ERR_FORMAT, "ne[0] = %lld is not a multiple of the %s block size %lld",
                         (long long)t->ne[0], ts->name, (long long)ts->block_size);
        uint64_t blocks = (uint64_t)(t->ne[0] / ts->block_size);
        uint64_t rows = (uint64_t)t->ne[1] * (uint64_t)t->ne[2] * (uint64_t)t->ne[3]; /* <= nel */
        if (blocks > UINT64_MAX / ts->type_size || blocks * ts->type_size > UINT64_MAX / rows)
            return pfail(ps, HEARTH_ERR_FORMAT, "byte size overflows (%llu elements of %s)",
                         (unsigned long long)nel, ts->name);
        t->nbytes = blocks * ts->type_size * rows;
        if ((st = rd_u64(ps, "offset", &t->offset)) < 0) return st;
    }
    ps->where[0] = '\0';
    return HEARTH_OK;
}

/* qsort comparator over tensor pointers by data offset. */
static int cmp_offset(const void *a, const void *b) {
    const hearth_gguf_tensor *x = *(const hearth_gguf_tensor *const *)a;
    const hearth_gguf_tensor *y = *(const hearth_gguf_tensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Reports two tensors whose data ranges overlap; returns FORMAT. */
static hearth_status overlap_fail(const hearth_gguf_tensor *a, const hearth_gguf_tensor *b) {
    char pa[100], pb[100];
    return hearth_error_set(HEARTH_ERR_FORMAT,
                            "tensor '%s': data [%llu, %llu) overlaps tensor '%s' at [%llu, %llu) in the data section",
                            printable(b->name, pb, sizeof pb), (unsigned long long)b->offset,
                            (unsigned long long)(b->offset + b->nbytes), printable(a->name, pa, sizeof pa),
                            (unsigned long long)a->offset, (unsigned long long)(a->offset + a->nbytes));
}

/* Checks every tensor's placement (aligned, inside the file) and that no
 * two tensors share bytes; sets the data pointers. Returns OK, FORMAT or
 * NOMEM. */
static hearth_status place_tensors(parser *ps) {
    hearth_gguf *g = ps->g;
    char pb[100];
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        hearth_gguf_tensor *t = &g->tensors[i];
        const char *nm = printable(t->name, pb, sizeof pb);
        if (t->offset % g->alignment)
            return hearth_error_set(HEARTH_ERR_FORMAT, "tensor '%s': offset %llu is not a multiple of the alignment %llu",
                                    nm, (unsigned long long)t->offset, (unsigned long long)g->alignment);
        uint64_t start = g->data_offset + t->offset;
        if (t->offset > g->size || start > g->size || t->nbytes > g->size - start) {
            bool ovf = t->offset > UINT64_MAX - g->data_offset ||
                       t->nbytes > UINT64_MAX - g->data_offset - t->offset;
            if (ovf)
                return hearth_error_set(HEARTH_ERR_FORMAT,
                                        "tensor '%s': offset %llu + %llu bytes is past end of file (%llu bytes)", nm,
                                        (unsigned long long)t->offset, (unsigned long long)t->nbytes,
                                        (unsigned long long)g->size);
            return hearth_error_set(HEARTH_ERR_FORMAT, "tensor '%s': data [%llu, %llu) extends past end of file (%llu bytes)",
                                    nm, (unsigned long long)start, (unsigned long long)(start + t->nbytes),
                                    (unsigned long long)g->size);
        }
        t->data = g->base + start;
    }
    /* Overlap check: files list tensors in offset order, so first try the
     * order as stored and only sort (allocating) when it is not monotonic. */
    bool sorted = true;
    for (uint64_t i = 1; i < g->n_tensors; i++) {
        const hearth_gguf_tensor *a = &g->tensors[i - 1], *b = &g->tensors[i];
        if (b->offset < a->offset) {
            sorted = false;
            break;
        }
        if (b->offset < a->offset + a->nbytes) return overlap_fail(a, b);
    }
    if (sorted) return HEARTH_OK;
    const hearth_gguf_tensor **ord = hearth_malloc((size_t)g->n_tensors * sizeof *ord);
    if (!ord)
        return hearth_error_set(HEARTH_ERR_NOMEM, "out of memory sorting %llu tensors",
                                (unsigned long long)g->n_tensors);
    for (uint64_t i = 0; i < g->n_tensors; i++) ord[i] = &g->tensors[i];
    qsort(ord, (size_t)g->n_tensors, sizeof *ord, cmp_offset);
    hearth_status st = HEARTH_OK;
    for (uint64_t i = 1; i < g->n_tensors && st == HEARTH_OK; i++)
        if (ord[i]->offset < ord[i - 1]->offset + ord[i - 1]->nbytes) st = overlap_fail(ord[i - 1], ord[i]);
    hearth_free(ord);
    return st;
}

/* Validates the bytes [b, b+size) as a GGUF file and fills g. Returns OK,
 * FORMAT, UNSUPPORTED or NOMEM (detail set). */
static hearth_status parse(hearth_gguf *g) {
    parser ps = {.b = g->base, .size = g->size, .pos = 0, .g = g, .where = ""};
    const uint8_t *b = g->base;
    if (g->size == 0) return hearth_error_set(HEARTH_ERR_FORMAT, "empty file (0 bytes)");
    if (g->size < 4)
        return hearth_error_set(HEARTH_ERR_FORMAT, "file is %llu bytes, too short for the GGUF magic",
                                (unsigned long long)g->size);
    if (memcmp(b, "GGUF", 4) != 0) {
        char m[5];
        for (int i = 0; i < 4; i++) m[i] = (b[i] >= 0x20 && b[i] < 0x7f) ? (char)b[i] : '?';
        m[4] = '\0';
        return hearth_error_set(HEARTH_ERR_FORMAT,
                                "not a GGUF file: magic is '%s' (%02x %02x %02x %02x), expected 'GGUF'", m, b[0],
                                b[1], b[2], b[3]);
    }
    ps.pos = 4;
    uint32_t version;
    hearth_status st = rd_u32(&ps, "version", &version);
    if (st < 0) return st;
    if (version == 1)
        return hearth_error_set(HEARTH_ERR_UNSUPPORTED, "GGUF version 1 is not supported (only versions 2 and 3)");
    if (version != 2 && version != 3) {
        uint32_t sw = (version >> 24) | ((version >> 8) & 0xff00u) | ((version << 8) & 0xff0000u) | (version << 24);
        if (sw >= 1 && sw <= 3)
            return hearth_error_set(HEARTH_ERR_UNSUPPORTED,
                                    "big-endian GGUF (version field reads as byte-swapped %u) is not supported", sw);
        return hearth_error_set(HEARTH_ERR_UNSUPPORTED, "GGUF version %u is not supported (only versions 2 and 3)",
                                version);
    }
    g->version = version;
    uint64_t n_tensors, n_kv;
    if ((st = rd_u64(&ps, "tensor count", &n_tensors)) < 0) return st;
    if ((st = rd_u64(&ps, "kv count", &n_kv)) < 0) return st;
    /* Bound both counts by what the rest of the file could hold before any
     * allocation depends on them. */
    uint64_t rest = left(&ps);
    if (n_kv > rest / MIN_KV_BYTES)
        return hearth_error_set(HEARTH_ERR_FORMAT,
                                "kv count %llu is impossible: %llu bytes after the header hold at most %llu entries",
                                (unsigned long long)n_kv, (unsigned long long)rest,
                                (unsigned long long)(rest / MIN_KV_BYTES));
    if (n_tensors > (rest - n_kv * MIN_KV_BYTES) / MIN_TENSOR_BYTES)
        return hearth_error_set(HEARTH_ERR_FORMAT,
                                "tensor count %llu is impossible: %llu bytes after the header and %llu kvs hold at most %llu tensor infos",
                                (unsigned long long)n_tensors, (unsigned long long)rest, (unsigned long long)n_kv,
                                (unsigned long long)((rest - n_kv * MIN_KV_BYTES) / MIN_TENSOR_BYTES));
    g->n_kv = n_kv;
    g->n_tensors = n_tensors;
    if (n_kv) {
        g->kvs = hearth_calloc((size_t)n_kv, sizeof *g->kvs);
        g->kv_cap = hash_cap(n_kv);
        g->kv_slots = hearth_calloc((size_t)g->kv_cap, sizeof *g->kv_slots);
        if (!g->kvs || !g->kv_slots)
            return hearth_error_set(HEARTH_ERR_NOMEM, "out of memory for %llu metadata entries",
                                    (unsigned long long)n_kv);
    }
    if (n_tensors) {
        g->tensors = hearth_calloc((size_t)n_tensors, sizeof *g->tensors);
        g->tensor_cap = hash_cap(n_tensors);
        g->tensor_slots = hearth_calloc((size_t)g->tensor_cap, sizeof *g->tensor_slots);
        if (!g->tensors || !g->tensor_slots)
            return hearth_error_set(HEARTH_ERR_NOMEM, "out of memory for %llu tensor infos",
                                    (unsigned long long)n_tensors);
    }
    if ((st = parse_kvs(&ps)) < 0) return st;
    if ((st = read_alignment(&ps)) < 0) return st;
    if ((st = parse_tensor_infos(&ps)) < 0) return st;
    /* The data section starts at the header end rounded up to the alignment
     * (pos <= size < 2^63 and alignment <= 2^31, so this cannot overflow). */
    g->data_offset = (ps.pos + g->alignment - 1) / g->alignment * g->alignment;
    return place_tensors(&ps);
}

/* ---- open / free ------------------------------------------------------------ */

/* Frees everything but the mapping itself. */
static void release(hearth_gguf *g) {
    if (g->kvs)
        for (uint64_t i = 0; i < g->n_kv; i++)
            if (g->kvs[i].type == HEARTH_GGUF_ARRAY) hearth_free((void *)g->kvs[i].v.arr.str_offsets);
    hearth_free(g->kvs);
    hearth_free(g->kv_slots);
    hearth_free(g->tensors);
    hearth_free(g->tensor_slots);
}

/* Wraps [data, data+size) into a new handle and validates it; on failure
 * frees the handle (not the bytes). Returns a status; *out is set on OK. */
static hearth_status open_bytes(const void *data, uint64_t size, int mapped, hearth_gguf **out) {
    hearth_gguf *g = hearth_calloc(1, sizeof *g);
    if (!g) return hearth_error_set(HEARTH_ERR_NOMEM, "out of memory for a GGUF handle");
    g->base = data;
    g->size = size;
    g->mapped = mapped;
    hearth_status st = parse(g);
    if (st < 0) {
        release(g);
        hearth_free(g);
        return st;
    }
    *out = g;
    return HEARTH_OK;
}

/* Validates a caller-owned buffer (see gguf.h). Does not block. */
hearth_status hearth_gguf_open_buffer(const void *data, size_t size, hearth_gguf **out) {
    if (!out) return hearth_error_set(HEARTH_ERR_INVALID, "hearth_gguf_open_buffer: out is NULL");
    *out = NULL;
    if (!data && size) return hearth_error_set(HEARTH_ERR_INVALID, "hearth_gguf_open_buffer: data is NULL");
    if (!data) return hearth_error_set(HEARTH_ERR_FORMAT, "empty file (0 bytes)");
    return open_bytes(data, size, 0, out);
}

/* Opens, maps and validates a file (see gguf.h). Blocks on open/fstat/mmap
 * and on reading the header pages. */
hearth_status hearth_gguf_open(const char *path, hearth_gguf **out) {
    if (!out) return hearth_error_set(HEARTH_ERR_INVALID, "hearth_gguf_open: out is NULL");
    *out = NULL;
    if (!path) return hearth_error_set(HEARTH_ERR_INVALID, "hearth_gguf_open: path is NULL");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return hearth_error_set(HEARTH_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return hearth_error_set(HEARTH_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return hearth_error_set(HEARTH_ERR_IO, "%s: not a regular file", path);
    }
    if (sb.st_size == 0) {
        close(fd);
        return hearth_error_set(HEARTH_ERR_FORMAT, "%s: empty file (0 bytes)", path);
    }
    if ((uint64_t)sb.st_size > SIZE_MAX) {
        close(fd);
        return hearth_error_set(HEARTH_ERR_RANGE, "%s: file too large to map (%lld bytes)", path,
                                (long long)sb.st_size);
    }
    size_t size = (size_t)sb.st_size;
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd); /* the mapping keeps the file referenced */
    if (map == MAP_FAILED)
        return hearth_error_set(HEARTH_ERR_IO, "%s: cannot mmap %zu bytes: %s", path, size, strerror(e));
    hearth_status st = open_bytes(map, size, 1, out);
    if (st < 0) {
        /* Prefix the path so the caller's one line says which file. */
        char detail[512];
        snprintf(detail, sizeof detail, "%s", hearth_error_last());
        munmap(map, size);
        return hearth_error_set(st, "%s: %s", path, detail);
    }
    return HEARTH_OK;
}

/* Unmaps and frees; NULL is a no-op. Does not block beyond munmap. */
void hearth_gguf_free(hearth_gguf *g) {
    if (!g) return;
    release(g);
    if (g->mapped) munmap((void *)g->base, (size_t)g->size);
    hearth_free(g);
}

/* ---- accessors -------------------------------------------------------------- */

/* Returns the GGUF version (2 or 3); 0 for NULL. */
uint32_t hearth_gguf_version(const hearth_gguf *g) { return g ? g->version : 0; }
/* Returns the data alignment in bytes; 0 for NULL. */
uint64_t hearth_gguf_alignment(const hearth_gguf *g) { return g ? g->alignment : 0; }
/* Returns the file (or buffer) size in bytes; 0 for NULL. */
uint64_t hearth_gguf_file_size(const hearth_gguf *g) { return g ? g->size : 0; }
/* Returns the first byte of the mapping; NULL for NULL. */
const uint8_t *hearth_gguf_base(const hearth_gguf *g) { return g ? g->base : NULL; }
/* Returns the number of metadata entries; 0 for NULL. */
uint64_t hearth_gguf_n_kv(const hearth_gguf *g) { return g ? g->n_kv : 0; }
/* Returns the number of tensors; 0 for NULL. */
uint64_t hearth_gguf_n_tensors(const hearth_gguf *g) { return g ? g->n_tensors : 0; }

/* Returns kv i, or NULL when out of range. */
const hearth_gguf_kv *hearth_gguf_kv_at(const hearth_gguf *g, uint64_t i) {
    return g && i < g->n_kv ? &g->kvs[i] : NULL;
}

/* Returns the kv with this key (hash lookup), or NULL. */
const hearth_gguf_kv *hearth_gguf_find(const hearth_gguf *g, const char *key) {
    if (!g || !key) return NULL;
    uint64_t i = hash_find(g->kv_slots, g->kv_cap, key, strlen(key), kv_name, g);
    return i == UINT64_MAX ? NULL : &g->kvs[i];
}

/* Returns tensor i, or NULL when out of range. */
const hearth_gguf_tensor *hearth_gguf_tensor_at(const hearth_gguf *g, uint64_t i) {
    return g && i < g->n_tensors ? &g->tensors[i] : NULL;
}

/* Returns the tensor with this name (hash lookup), or NULL. */
const hearth_gguf_tensor *hearth_gguf_tensor_find(const hearth_gguf *g, const char *name) {
    if (!g || !name) return NULL;
    uint64_t i = hash_find(g->tensor_slots, g->tensor_cap, name, strlen(name), tensor_name, g);
    return i == UINT64_MAX ? NULL : &g->tensors[i];
}

/* ---- typed getters ------------------------------------------------------------ */

/* Looks up `key` for a getter: returns OK with *kv set, NOT_FOUND or INVALID. */
static hearth_status lookup(const hearth_gguf *g, const char *key, const hearth_gguf_kv **kv) {
    if (!g || !key) return hearth_error_set(HEARTH_ERR_INVALID, "gguf getter: NULL handle or key");
    *kv = hearth_gguf_find(g, key);
    if (!*kv) return hearth_error_set(HEARTH_ERR_NOT_FOUND, "key '%s' not found", key);
    return HEARTH_OK;
}

/* Returns true for the unsigned integer types (their value is in v.u64). */
static bool is_unsigned(hearth_gguf_vtype t) {
    return t == HEARTH_GGUF_UINT8 || t == HEARTH_GGUF_UINT16 || t == HEARTH_GGUF_UINT32 || t == HEARTH_GGUF_UINT64;
}

/* Returns true for the signed integer types (their value is in v.i64). */
static bool is_signed(hearth_gguf_vtype t) {
    return t == HEARTH_GGUF_INT8 || t == HEARTH_GGUF_INT16 || t == HEARTH_GGUF_INT32 || t == HEARTH_GGUF_INT64;
}

/* Reports a value of the wrong type; returns TYPE. */
static hearth_status type_fail(const char *key, const hearth_gguf_kv *kv, const char *want) {
    return hearth_error_set(HEARTH_ERR_TYPE, "key '%s' has type %s, expected %s", key,
                            hearth_gguf_vtype_name(kv->type), want);
}

/* Reports an integer that does not fit; returns TYPE. */
static hearth_status range_fail(const char *key, const hearth_gguf_kv *kv, const char *want) {
    if (is_signed(kv->type))
        return hearth_error_set(HEARTH_ERR_TYPE, "key '%s': %s value %lld does not fit %s", key,
                                hearth_gguf_vtype_name(kv->type), (long long)kv->v.i64, want);
    return hearth_error_set(HEARTH_ERR_TYPE, "key '%s': %s value %llu does not fit %s", key,
                            hearth_gguf_vtype_name(kv->type), (unsigned long long)kv->v.u64, want);
}

/* Reads an integer key that fits in uint32. Does not block. */
hearth_status hearth_gguf_get_u32(const hearth_gguf *g, const char *key, uint32_t *out) {
    const hearth_gguf_kv *kv;
    hearth_status st = lookup(g, key, &kv);
    if (st < 0) return st;
    if (is_unsigned(kv->type)) {
        if (kv->v.u64 > UINT32_MAX) return range_fail(key, kv, "uint32");
        *out = (uint32_t)kv->v.u64;
    } else if (is_signed(kv->type)) {
        if (kv->v.i64 < 0 || kv->v.i64 > (int64_t)UINT32_MAX) return range_fail(key, kv, "uint32");
        *out = (uint32_t)kv->v.i64;
    } else {
        return type_fail(key, kv, "an integer");
    }
    return HEARTH_OK;
}

/* Reads an integer key that fits in int32. Does not block. */
hearth_status hearth_gguf_get_i32(const hearth_gguf *g, const char *key, int32_t *out) {
    const hearth_gguf_kv *kv;
    hearth_status st = lookup(g, key, &kv);
    if (st < 0) return st;
    if (is_unsigned(kv->type)) {
        if (kv->v.u64 > INT32_MAX) return range_fail(key, kv, "int32");
        *out = (int32_t)kv->v.u64;
    } else if (is_signed(kv->type)) {
        if (kv->v.i64 < INT32_MIN || kv->v.i64 > INT32_MAX) return range_fail(key, kv, "int32");
        *out = (int32_t)kv->v.i64;
    } else {
        return type_fail(key, kv, "an integer");
    }
    return HEARTH_OK;
}

/* Reads an integer key that fits in uint64 (negative values do not). Does
 * not block. */
hearth_status hearth_gguf_get_u64(const hearth_gguf *g, const char *key, uint64_t *out) {
    const hearth_gguf_kv *kv;
    hearth_status st = lookup(g, key, &kv);
    if (st < 0) return st;
    if (is_unsigned(kv->type)) {
        *out = kv->v.u64;
    } else if (is_signed(kv->type)) {
        if (kv->v.i64 < 0) return range_fail(key, kv, "uint64");
        *out = (uint64_t)kv->v.i64;
    } else {
        return type_fail(key, kv, "an integer");
    }
    return HEARTH_OK;
}

/* Reads a float key (FLOAT32, FLOAT64 or an integer, converted). A finite
 * FLOAT64 beyond the float range is a TYPE error. Does not block. */
hearth_status hearth_gguf_get_f32(const hearth_gguf *g, const char *key, float *out) {
    const hearth_gguf_kv *kv;
    hearth_status st = lookup(g, key, &kv);
    if (st < 0) return st;
    if (kv->type == HEARTH_GGUF_FLOAT32 || kv->type == HEARTH_GGUF_FLOAT64) {
        double d = kv->v.f64;
        if (d == d && (d > FLT_MAX || d < -FLT_MAX) && d - d == 0.0)
            return hearth_error_set(HEARTH_ERR_TYPE, "key '%s': float64 value %g does not fit float32", key, d);
        *out = (float)d;
    } else if (is_unsigned(kv->type)) {
        *out = (float)kv->v.u64;
    } else if (is_signed(kv->type)) {
        *out = (float)kv->v.i64;
    } else {
        return type_fail(key, kv, "a number");
    }
    return HEARTH_OK;
}

/* Reads a BOOL key. Does not block. */
hearth_status hearth_gguf_get_bool(const hearth_gguf *g, const char *key, bool *out) {
    const hearth_gguf_kv *kv;
    hearth_status st = lookup(g, key, &kv);
    if (st < 0) return st;
    if (kv->type != HEARTH_GGUF_BOOL) return type_fail(key, kv, "bool");
    *out = kv->v.u64 != 0;
    return HEARTH_OK;
}

/* Reads a STRING key as a view into the mapping. Does not block. */
hearth_status hearth_gguf_get_str(const hearth_gguf *g, const char *key, hearth_str *out) {
    const hearth_gguf_kv *kv;
    hearth_status st = lookup(g, key, &kv);
    if (st < 0) return st;
    if (kv->type != HEARTH_GGUF_STRING) return type_fail(key, kv, "string");
    *out = kv->v.str;
    return HEARTH_OK;
}

/* Finds an ARRAY key whose elements are `elem_type`. Does not block. */
hearth_status hearth_gguf_get_arr(const hearth_gguf *g, const char *key, hearth_gguf_vtype elem_type,
                                  const hearth_gguf_kv **out) {
    const hearth_gguf_kv *kv;
    hearth_status st = lookup(g, key, &kv);
    if (st < 0) return st;
    if (kv->type != HEARTH_GGUF_ARRAY) {
        char want[48];
        snprintf(want, sizeof want, "array of %s", hearth_gguf_vtype_name(elem_type));
        return type_fail(key, kv, want);
    }
    if (kv->v.arr.elem_type != elem_type)
        return hearth_error_set(HEARTH_ERR_TYPE, "key '%s' is an array of %s, expected an array of %s", key,
                                hearth_gguf_vtype_name(kv->v.arr.elem_type), hearth_gguf_vtype_name(elem_type));
    *out = kv;
    return HEARTH_OK;
}

/* Returns element i of a STRING array (empty view on a bad index or kv). */
hearth_str hearth_gguf_arr_str(const hearth_gguf_kv *kv, uint64_t i) {
    hearth_str s = {"", 0};
    if (!kv || kv->type != HEARTH_GGUF_ARRAY || kv->v.arr.elem_type != HEARTH_GGUF_STRING ||
        i >= kv->v.arr.n || !kv->v.arr.str_offsets)
        return s;
    const uint8_t *p = kv->v.arr.data + kv->v.arr.str_offsets[i];
    s.len = le64(p);
    s.ptr = (const char *)p + 8;
    return s;
}

/* Returns a pointer to element i of a numeric array and its type, or NULL. */
static const uint8_t *num_elem(const hearth_gguf_kv *kv, uint64_t i, hearth_gguf_vtype *t) {
    if (!kv || kv->type != HEARTH_GGUF_ARRAY || i >= kv->v.arr.n) return NULL;
    uint64_t es = scalar_size(kv->v.arr.elem_type);
    if (!es) return NULL;
    *t = kv->v.arr.elem_type;
    return kv->v.arr.data + i * es;
}

/* Returns element i of a numeric array as a double (0 on a bad index). */
double hearth_gguf_arr_f64(const hearth_gguf_kv *kv, uint64_t i) {
    hearth_gguf_vtype t;
    const uint8_t *p = num_elem(kv, i, &t);
    if (!p) return 0.0;
    switch (t) {
    case HEARTH_GGUF_UINT8: case HEARTH_GGUF_BOOL: return p[0];
    case HEARTH_GGUF_INT8: return (int8_t)p[0];
    case HEARTH_GGUF_UINT16: return le16(p);
    case HEARTH_GGUF_INT16: return (int16_t)le16(p);
    case HEARTH_GGUF_UINT32: return le32(p);
    case HEARTH_GGUF_INT32: return (int32_t)le32(p);
    case HEARTH_GGUF_UINT64: return (double)le64(p);
    case HEARTH_GGUF_INT64: return (double)(int64_t)le64(p);
    case HEARTH_GGUF_FLOAT32: return lef32(p);
    case HEARTH_GGUF_FLOAT64: return lef64(p);
    default: return 0.0;
    }
}

/* Returns element i of a numeric array as int64 (0 on a bad index; floats
 * are truncated toward zero and saturated, NaN gives 0; uint64 values above
 * INT64_MAX saturate). */
int64_t hearth_gguf_arr_i64(const hearth_gguf_kv *kv, uint64_t i) {
    hearth_gguf_vtype t;
    const uint8_t *p = num_elem(kv, i, &t);
    if (!p) return 0;
    if (t == HEARTH_GGUF_UINT64) {
        uint64_t u = le64(p);
        return u > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)u;
    }
    if (t == HEARTH_GGUF_INT64) return (int64_t)le64(p);
    double d = hearth_gguf_arr_f64(kv, i);
    if (d != d) return 0;
    if (d >= 9223372036854775807.0) return INT64_MAX;
    if (d <= -9223372036854775808.0) return INT64_MIN;
    return (int64_t)d;
}

/* Returns the static name of a metadata type. */
const char *hearth_gguf_vtype_name(hearth_gguf_vtype t) {
    static const char *const names[HEARTH_GGUF_VTYPE_COUNT] = {
        "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
        "bool", "string", "array", "uint64", "int64", "float64"};
    return (unsigned)t < HEARTH_GGUF_VTYPE_COUNT ? names[t] : "unknown";
}

/* True when the view holds exactly the bytes of cstr. */
bool hearth_str_eq(hearth_str s, const char *cstr) {
    if (!cstr) return false;
    size_t n = strlen(cstr);
    return s.len == n && (n == 0 || (s.ptr && memcmp(s.ptr, cstr, n) == 0));
}
