/* jinja_value.c - the Jinja interpreter's values: arena storage, lists and
 * dicts, conversion from jansson, Python truthiness/equality/ordering, and
 * the three ways a value becomes text (str, repr, json.dumps). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/jinja.h"
#include "hearth/alloc.h"

/* ---- arena ------------------------------------------------------------ */

struct jarena_chunk {
    jarena_chunk *next;
    size_t used, cap;
    max_align_t data[];
};

#define JARENA_CHUNK (64u << 10)

/* Returns aligned storage from the current chunk or a new one; NULL when the
 * heap fails or the arena limit is reached. Does not block. */
void *jarena_alloc(jarena *a, size_t n) {
    const size_t al = sizeof(max_align_t);
    if (n > ((size_t)1 << 40)) return NULL;
    n = (n + al - 1) & ~(al - 1);
    if (n == 0) n = al;
    jarena_chunk *c = a->head;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > JARENA_CHUNK ? n : JARENA_CHUNK;
        if (a->limit && a->total + cap > a->limit) {
            a->over_limit = true;
            return NULL;
        }
        c = hearth_malloc(sizeof(*c) + cap);
        if (!c) {
            a->over_limit = false;
            return NULL;
        }
        c->used = 0;
        c->cap = cap;
        a->total += cap;
        /* A big block gets its own chunk behind the head so the head's free
         * space stays usable for small allocations. */
        if (a->head && cap > JARENA_CHUNK) {
            c->next = a->head->next;
            a->head->next = c;
        } else {
            c->next = a->head;
            a->head = c;
        }
    }
    void *p = (char *)c->data + c->used;
    c->used += n;
    return p;
}

/* Returns an arena copy of s[0..n) with a NUL, or NULL. Does not block. */
char *jarena_strndup(jarena *a, const char *s, size_t n) {
    char *d = jarena_alloc(a, n + 1);
    if (!d) return NULL;
    if (n) memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* Frees every chunk; the arena is reusable (empty) afterwards. */
void jarena_free(jarena *a) {
    if (!a) return;
    jarena_chunk *c = a->head;
    while (c) {
        jarena_chunk *next = c->next;
        hearth_free(c);
        c = next;
    }
    a->head = NULL;
    a->total = 0;
}

/* ---- buffer ----------------------------------------------------------- */

/* Returns HEARTH_OK, HEARTH_ERR_RANGE past JINJA_MAX_OUTPUT or
 * HEARTH_ERR_NOMEM. Does not block. */
hearth_status jbuf_add(jbuf *b, const char *s, size_t n) {
    if (n == 0) return HEARTH_OK;
    if (n > JINJA_MAX_OUTPUT || b->n + n > JINJA_MAX_OUTPUT)
        return hearth_error_set(HEARTH_ERR_RANGE, "template output exceeds %u bytes",
                                JINJA_MAX_OUTPUT);
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = hearth_realloc(b->p, cap);
        if (!p) return hearth_error_set(HEARTH_ERR_NOMEM, "template output buffer");
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
    return HEARTH_OK;
}

/* Releases the buffer's heap block; accepts NULL. */
void jbuf_free(jbuf *b) {
    if (!b) return;
    hearth_free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

static hearth_status jbuf_cstr(jbuf *b, const char *s) { return jbuf_add(b, s, strlen(s)); }

/* ---- lists and dicts -------------------------------------------------- */

/* Returns an empty list with room for `cap` items, or NULL. */
jlist *jlist_new(jarena *a, size_t cap) {
    jlist *l = jarena_alloc(a, sizeof(*l));
    if (!l) return NULL;
    memset(l, 0, sizeof(*l));
    if (cap) {
        if (cap > SIZE_MAX / sizeof(jv) / 2) return NULL;
        l->v = jarena_alloc(a, cap * sizeof(jv));
        if (!l->v) return NULL;
        l->cap = cap;
    }
    return l;
}

/* Returns false when growing fails. Old storage stays in the arena. */
bool jlist_push(jarena *a, jlist *l, jv v) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        jv *nv = jarena_alloc(a, cap * sizeof(jv));
        if (!nv) return false;
        if (l->n) memcpy(nv, l->v, l->n * sizeof(jv));
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = v;
    return true;
}

/* Returns an empty dict, or NULL. */
jdict *jdict_new(jarena *a, size_t cap) {
    jdict *d = jarena_alloc(a, sizeof(*d));
    if (!d) return NULL;
    memset(d, 0, sizeof(*d));
    if (cap) {
        if (cap > SIZE_MAX / sizeof(jv) / 2) return NULL;
        d->k = jarena_alloc(a, cap * sizeof(jv));
        d->v = jarena_alloc(a, cap * sizeof(jv));
        if (!d->k || !d->v) return NULL;
        d->cap = cap;
    }
    return d;
}

/* Returns a pointer to the value under `key` (Python ==), or NULL. */
jv *jdict_get(const jdict *d, jv key) {
    for (size_t i = 0; i < d->n; i++)
        if (jv_eq(d->k[i], key)) return &d->v[i];
    return NULL;
}

/* Returns a pointer to the value under a string key, or NULL. */
jv *jdict_get_str(const jdict *d, const char *k, size_t n) {
    for (size_t i = 0; i < d->n; i++)
        if (d->k[i].t == JV_STR && d->k[i].u.s.n == n && memcmp(d->k[i].u.s.p, k, n) == 0)
            return &d->v[i];
    return NULL;
}

/* Inserts or replaces; keeps insertion order. False on allocation failure. */
bool jdict_set(jarena *a, jdict *d, jv key, jv val) {
    jv *slot = jdict_get(d, key);
    if (slot) {
        *slot = val;
        return true;
    }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 4;
        jv *nk = jarena_alloc(a, cap * sizeof(jv));
        jv *nv = jarena_alloc(a, cap * sizeof(jv));
        if (!nk || !nv) return false;
        if (d->n) {
            memcpy(nk, d->k, d->n * sizeof(jv));
            memcpy(nv, d->v, d->n * sizeof(jv));
        }
        d->k = nk;
        d->v = nv;
        d->cap = cap;
    }
    d->k[d->n] = key;
    d->v[d->n] = val;
    d->n++;
    return true;
}

/* Converts a jansson tree; strings point into the json. False on allocation
 * failure or a tree deeper than 256. Does not block. */
bool jv_from_json(jarena *a, const json_t *j, jv *out, int depth) {
    if (depth > 256) return false;
    if (!j) {
        *out = jv_none();
        return true;
    }
    switch (json_typeof(j)) {
    case JSON_NULL: *out = jv_none(); return true;
    case JSON_TRUE: *out = jv_bool(true); return true;
    case JSON_FALSE: *out = jv_bool(false); return true;
    case JSON_INTEGER: *out = jv_int((int64_t)json_integer_value(j)); return true;
    case JSON_REAL: *out = jv_float(json_real_value(j)); return true;
    case JSON_STRING: *out = jv_str(json_string_value(j), json_string_length(j)); return true;
    case JSON_ARRAY: {
        size_t n = json_array_size(j);
        jlist *l = jlist_new(a, n);
        if (!l) return false;
        for (size_t i = 0; i < n; i++) {
            if (!jv_from_json(a, json_array_get(j, i), &l->v[i], depth + 1)) return false;
        }
        l->n = n;
        out->t = JV_LIST;
        out->aux = 0;
        out->u.l = l;
        return true;
    }
    case JSON_OBJECT: {
        size_t n = json_object_size(j);
        jdict *d = jdict_new(a, n);
        if (!d) return false;
        const char *key;
        json_t *val;
        /* json_object_foreach takes a non-const object; iteration does not
         * modify it. */
        json_t *jm = (json_t *)(uintptr_t)j;
        json_object_foreach(jm, key, val) {
            if (d->n >= n) break;
            d->k[d->n] = jv_str(key, strlen(key));
            if (!jv_from_json(a, val, &d->v[d->n], depth + 1)) return false;
            d->n++;
        }
        out->t = JV_DICT;
        out->aux = 0;
        out->u.d = d;
        return true;
    }
    }
    *out = jv_none();
    return true;
}

/* ---- semantics -------------------------------------------------------- */

/* Python truthiness; undefined is false. */
bool jv_truthy(jv v) {
    switch (v.t) {
    case JV_UNDEF:
    case JV_NONE: return false;
    case JV_BOOL: return v.u.b;
    case JV_INT: return v.u.i != 0;
    case JV_FLOAT: return v.u.f != 0.0;
    case JV_STR: return v.u.s.n != 0;
    case JV_LIST: return v.u.l->n != 0;
    case JV_DICT: return v.u.d->n != 0;
    default: return true;
    }
}

bool jv_is_number(jv v) { return v.t == JV_INT || v.t == JV_FLOAT; }

static bool jv_numeric(jv v, double *f, int64_t *i, bool *is_int) {
    if (v.t == JV_BOOL) { *i = v.u.b; *f = v.u.b; *is_int = true; return true; }
    if (v.t == JV_INT) { *i = v.u.i; *f = (double)v.u.i; *is_int = true; return true; }
    if (v.t == JV_FLOAT) { *f = v.u.f; *i = 0; *is_int = false; return true; }
    return false;
}

/* Python == (True == 1, 1 == 1.0, deep list/dict equality). */
bool jv_eq(jv a, jv b) {
    double fa, fb;
    int64_t ia, ib;
    bool inta, intb;
    if (jv_numeric(a, &fa, &ia, &inta) && jv_numeric(b, &fb, &ib, &intb)) {
        if (inta && intb) return ia == ib;
        return fa == fb;
    }
    if (a.t != b.t) return false;
    switch (a.t) {
    case JV_UNDEF:
    case JV_NONE: return true;
    case JV_STR: return a.u.s.n == b.u.s.n && (a.u.s.n == 0 || memcmp(a.u.s.p, b.u.s.p, a.u.s.n) == 0);
    case JV_LIST:
        if (a.u.l->n != b.u.l->n || a.u.l->tuple != b.u.l->tuple) return false;
        for (size_t i = 0; i < a.u.l->n; i++)
            if (!jv_eq(a.u.l->v[i], b.u.l->v[i])) return false;
        return true;
    case JV_DICT:
        if (a.u.d->n != b.u.d->n) return false;
        for (size_t i = 0; i < a.u.d->n; i++) {
            jv *o = jdict_get(b.u.d, a.u.d->k[i]);
            if (!o || !jv_eq(a.u.d->v[i], *o)) return false;
        }
        return true;
    case JV_NS: return a.u.d == b.u.d;
    case JV_LOOP: return a.u.loop == b.u.loop;
    case JV_MACRO: return a.u.m == b.u.m;
    case JV_FUNC: return a.aux == b.aux;
    case JV_METHOD: return a.u.bm == b.u.bm;
    default: return false;
    }
}

/* Returns <0, 0, >0 like Python's ordering for numbers, strings (code point
 * order = UTF-8 byte order) and lists; sets *err for other combinations. */
int jv_cmp(jv a, jv b, bool *err) {
    double fa, fb;
    int64_t ia, ib;
    bool inta, intb;
    if (jv_numeric(a, &fa, &ia, &inta) && jv_numeric(b, &fb, &ib, &intb)) {
        if (inta && intb) return ia < ib ? -1 : ia > ib;
        return fa < fb ? -1 : fa > fb;
    }
    if (a.t == JV_UNDEF && b.t == JV_UNDEF) return 0; /* sorting by a missing attribute keeps order */
    if (a.t == JV_STR && b.t == JV_STR) {
        size_t n = a.u.s.n < b.u.s.n ? a.u.s.n : b.u.s.n;
        int r = n ? memcmp(a.u.s.p, b.u.s.p, n) : 0;
        if (r) return r;
        return a.u.s.n < b.u.s.n ? -1 : a.u.s.n > b.u.s.n;
    }
    if (a.t == JV_LIST && b.t == JV_LIST) {
        size_t n = a.u.l->n < b.u.l->n ? a.u.l->n : b.u.l->n;
        for (size_t i = 0; i < n; i++) {
            if (jv_eq(a.u.l->v[i], b.u.l->v[i])) continue;
            return jv_cmp(a.u.l->v[i], b.u.l->v[i], err);
        }
        return a.u.l->n < b.u.l->n ? -1 : a.u.l->n > b.u.l->n;
    }
    *err = true;
    return 0;
}

/* Python's type name, for error messages. */
const char *jv_type_name(jv v) {
    switch (v.t) {
    case JV_UNDEF: return "Undefined";
    case JV_NONE: return "NoneType";
    case JV_BOOL: return "bool";
    case JV_INT: return "int";
    case JV_FLOAT: return "float";
    case JV_STR: return "str";
    case JV_LIST: return v.u.l->tuple ? "tuple" : "list";
    case JV_DICT: return "dict";
    case JV_NS: return "Namespace";
    case JV_LOOP: return "LoopContext";
    case JV_MACRO: return "Macro";
    case JV_FUNC: return "function";
    case JV_METHOD: return "builtin_function_or_method";
    }
    return "object";
}

/* ---- UTF-8 ------------------------------------------------------------ */

/* Counts code points (continuation bytes are not counted). */
size_t ju_count(const char *s, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) c++;
    return c;
}

/* Returns the byte offset of code point `cp`, or n when past the end. */
size_t ju_offset(const char *s, size_t n, size_t cp) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80) {
            if (c == cp) return i;
            c++;
        }
    }
    return n;
}

/* ---- text forms ------------------------------------------------------- */

/* Formats a double as Python repr(): the shortest digits that round-trip,
 * fixed notation for exponents in [-4, 16), else d.ddde+XX. */
void jv_float_repr(double f, char *out, size_t cap) {
    if (isnan(f)) { snprintf(out, cap, "nan"); return; }
    if (isinf(f)) { snprintf(out, cap, f < 0 ? "-inf" : "inf"); return; }
    char buf[64];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*e", prec - 1, f);
        if (strtod(buf, NULL) == f) break;
    }
    /* buf is [-]d[.ddd]e[+-]XX; pull out digits and exponent. */
    char digits[32];
    size_t nd = 0;
    const char *p = buf;
    bool neg = false;
    if (*p == '-') { neg = true; p++; }
    while (*p && *p != 'e') {
        if (*p >= '0' && *p <= '9' && nd < sizeof digits - 1) digits[nd++] = *p;
        p++;
    }
    digits[nd] = '\0';
    int exp = *p == 'e' ? atoi(p + 1) : 0;
    while (nd > 1 && digits[nd - 1] == '0') digits[--nd] = '\0';
    char res[80];
    size_t r = 0;
    if (neg) res[r++] = '-';
    if (exp >= -4 && exp < 16) {
        if (exp < 0) {
            res[r++] = '0';
            res[r++] = '.';
            for (int i = -1; i > exp; i--) res[r++] = '0';
            for (size_t i = 0; i < nd; i++) res[r++] = digits[i];
        } else {
            for (int i = 0; i <= exp; i++) res[r++] = (size_t)i < nd ? digits[i] : '0';
            res[r++] = '.';
            if ((size_t)exp + 1 < nd)
                for (size_t i = (size_t)exp + 1; i < nd; i++) res[r++] = digits[i];
            else
                res[r++] = '0';
        }
        res[r] = '\0';
    } else {
        res[r++] = digits[0];
        if (nd > 1) {
            res[r++] = '.';
            for (size_t i = 1; i < nd; i++) res[r++] = digits[i];
        }
        res[r] = '\0';
        snprintf(res + r, sizeof res - r, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    }
    snprintf(out, cap, "%s", res);
}

static hearth_status write_scalar(jbuf *b, jv v, bool *done) {
    char tmp[64];
    *done = true;
    switch (v.t) {
    case JV_UNDEF: return HEARTH_OK;
    case JV_NONE: return jbuf_cstr(b, "None");
    case JV_BOOL: return jbuf_cstr(b, v.u.b ? "True" : "False");
    case JV_INT: snprintf(tmp, sizeof tmp, "%" PRId64, v.u.i); return jbuf_cstr(b, tmp);
    case JV_FLOAT: jv_float_repr(v.u.f, tmp, sizeof tmp); return jbuf_cstr(b, tmp);
    default: *done = false; return HEARTH_OK;
    }
}

static hearth_status write_container(jbuf *b, jv v, int depth);

/* Appends repr(v): strings quoted the way Python picks quotes. */
hearth_status jv_write_repr(jbuf *b, jv v) {
    if (v.t == JV_STR) {
        const char *s = v.u.s.p;
        size_t n = v.u.s.n;
        bool has_sq = memchr(s, '\'', n) != NULL, has_dq = memchr(s, '"', n) != NULL;
        char q = (has_sq && !has_dq) ? '"' : '\'';
        hearth_status st = jbuf_add(b, &q, 1);
        size_t run = 0;
        for (size_t i = 0; i < n && st == HEARTH_OK; i++) {
            unsigned char ch = (unsigned char)s[i];
            const char *esc = NULL;
            char tmp[8];
            if (ch == '\\') esc = "\\\\";
            else if (ch == (unsigned char)q) esc = q == '\'' ? "\\'" : "\\\"";
            else if (ch == '\n') esc = "\\n";
            else if (ch == '\r') esc = "\\r";
            else if (ch == '\t') esc = "\\t";
            else if (ch < 0x20 || ch == 0x7f) {
                snprintf(tmp, sizeof tmp, "\\x%02x", ch);
                esc = tmp;
            }
            if (esc) {
                st = jbuf_add(b, s + i - run, run);
                run = 0;
                if (st == HEARTH_OK) st = jbuf_cstr(b, esc);
            } else {
                run++;
            }
        }
        if (st == HEARTH_OK) st = jbuf_add(b, s + n - run, run);
        if (st == HEARTH_OK) st = jbuf_add(b, &q, 1);
        return st;
    }
    if (v.t == JV_UNDEF) return jbuf_cstr(b, "Undefined");
    bool done;
    hearth_status st = write_scalar(b, v, &done);
    if (done) return st;
    return write_container(b, v, 0);
}

static hearth_status write_container(jbuf *b, jv v, int depth) {
    hearth_status st = HEARTH_OK;
    if (depth > 200) return hearth_error_set(HEARTH_ERR_RANGE, "value nested too deeply");
    if (v.t == JV_LIST) {
        const jlist *l = v.u.l;
        st = jbuf_cstr(b, l->tuple ? "(" : "[");
        for (size_t i = 0; i < l->n && st == HEARTH_OK; i++) {
            if (i) st = jbuf_cstr(b, ", ");
            if (st != HEARTH_OK) break;
            if (l->v[i].t == JV_LIST || l->v[i].t == JV_DICT)
                st = write_container(b, l->v[i], depth + 1);
            else
                st = jv_write_repr(b, l->v[i]);
        }
        if (st == HEARTH_OK && l->tuple && l->n == 1) st = jbuf_cstr(b, ",");
        if (st == HEARTH_OK) st = jbuf_cstr(b, l->tuple ? ")" : "]");
        return st;
    }
    if (v.t == JV_DICT || v.t == JV_NS) {
        const jdict *d = v.u.d;
        if (v.t == JV_NS) st = jbuf_cstr(b, "<Namespace ");
        if (st == HEARTH_OK) st = jbuf_cstr(b, "{");
        for (size_t i = 0; i < d->n && st == HEARTH_OK; i++) {
            if (i) st = jbuf_cstr(b, ", ");
            if (st == HEARTH_OK) st = jv_write_repr(b, d->k[i]);
            if (st == HEARTH_OK) st = jbuf_cstr(b, ": ");
            if (st != HEARTH_OK) break;
            if (d->v[i].t == JV_LIST || d->v[i].t == JV_DICT)
                st = write_container(b, d->v[i], depth + 1);
            else
                st = jv_write_repr(b, d->v[i]);
        }
        if (st == HEARTH_OK) st = jbuf_cstr(b, "}");
        if (st == HEARTH_OK && v.t == JV_NS) st = jbuf_cstr(b, ">");
        return st;
    }
    switch (v.t) {
    case JV_LOOP: return jbuf_cstr(b, "<LoopContext>");
    case JV_MACRO: return jbuf_cstr(b, "<Macro>");
    case JV_FUNC: return jbuf_cstr(b, "<function>");
    case JV_METHOD: return jbuf_cstr(b, "<built-in method>");
    default: return HEARTH_OK;
    }
}

/* Appends str(v): strings as is, containers as their repr. */
hearth_status jv_write_str(jbuf *b, jv v) {
    if (v.t == JV_STR) return jbuf_add(b, v.u.s.p, v.u.s.n);
    bool done;
    hearth_status st = write_scalar(b, v, &done);
    if (done) return st;
    return write_container(b, v, 0);
}

static hearth_status jstr_json(jbuf *b, const char *s, size_t n) {
    hearth_status st = jbuf_add(b, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n && st == HEARTH_OK; i++) {
        unsigned char ch = (unsigned char)s[i];
        const char *esc = NULL;
        char tmp[8];
        switch (ch) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default:
            if (ch < 0x20) {
                snprintf(tmp, sizeof tmp, "\\u%04x", ch);
                esc = tmp;
            }
        }
        if (esc) {
            st = jbuf_add(b, s + i - run, run);
            run = 0;
            if (st == HEARTH_OK) st = jbuf_cstr(b, esc);
        } else {
            run++;
        }
    }
    if (st == HEARTH_OK) st = jbuf_add(b, s + n - run, run);
    if (st == HEARTH_OK) st = jbuf_add(b, "\"", 1);
    return st;
}

static hearth_status json_newline(jbuf *b, const char *ind, size_t il, int level) {
    hearth_status st = jbuf_add(b, "\n", 1);
    for (int i = 0; i < level && st == HEARTH_OK; i++) st = jbuf_add(b, ind, il);
    return st;
}

static hearth_status json_rec(jbuf *b, jv v, const char *ind, size_t il, bool sort, int level) {
    char tmp[64];
    if (level > 200) return hearth_error_set(HEARTH_ERR_RANGE, "tojson: value nested too deeply");
    switch (v.t) {
    case JV_NONE: return jbuf_cstr(b, "null");
    case JV_BOOL: return jbuf_cstr(b, v.u.b ? "true" : "false");
    case JV_INT: snprintf(tmp, sizeof tmp, "%" PRId64, v.u.i); return jbuf_cstr(b, tmp);
    case JV_FLOAT:
        if (isnan(v.u.f)) return jbuf_cstr(b, "NaN");
        if (isinf(v.u.f)) return jbuf_cstr(b, v.u.f < 0 ? "-Infinity" : "Infinity");
        jv_float_repr(v.u.f, tmp, sizeof tmp);
        return jbuf_cstr(b, tmp);
    case JV_STR: return jstr_json(b, v.u.s.p, v.u.s.n);
    case JV_LIST: {
        const jlist *l = v.u.l;
        if (l->n == 0) return jbuf_cstr(b, "[]");
        hearth_status st = jbuf_cstr(b, "[");
        for (size_t i = 0; i < l->n && st == HEARTH_OK; i++) {
            if (i) st = jbuf_cstr(b, ind ? "," : ", ");
            if (st == HEARTH_OK && ind) st = json_newline(b, ind, il, level + 1);
            if (st == HEARTH_OK) st = json_rec(b, l->v[i], ind, il, sort, level + 1);
        }
        if (st == HEARTH_OK && ind) st = json_newline(b, ind, il, level);
        if (st == HEARTH_OK) st = jbuf_cstr(b, "]");
        return st;
    }
    case JV_DICT:
    case JV_NS: {
        const jdict *d = v.u.d;
        if (d->n == 0) return jbuf_cstr(b, "{}");
        /* Keys are emitted in insertion order, or sorted (strings only). */
        size_t order_small[64];
        size_t *order = order_small;
        if (d->n > 64) {
            order = hearth_malloc(d->n * sizeof(size_t));
            if (!order) return hearth_error_set(HEARTH_ERR_NOMEM, "tojson");
        }
        for (size_t i = 0; i < d->n; i++) order[i] = i;
        if (sort) {
            for (size_t i = 1; i < d->n; i++) { /* insertion sort: stable, small dicts */
                size_t x = order[i], j = i;
                bool err = false;
                while (j > 0 && jv_cmp(d->k[order[j - 1]], d->k[x], &err) > 0) {
                    order[j] = order[j - 1];
                    j--;
                }
                order[j] = x;
            }
        }
        hearth_status st = jbuf_cstr(b, "{");
        for (size_t oi = 0; oi < d->n && st == HEARTH_OK; oi++) {
            size_t i = order[oi];
            if (oi) st = jbuf_cstr(b, ind ? "," : ", ");
            if (st == HEARTH_OK && ind) st = json_newline(b, ind, il, level + 1);
            if (st != HEARTH_OK) break;
            jv k = d->k[i];
            if (k.t == JV_STR) {
                st = jstr_json(b, k.u.s.p, k.u.s.n);
            } else if (k.t == JV_INT || k.t == JV_FLOAT || k.t == JV_BOOL || k.t == JV_NONE) {
                /* json.dumps turns scalar keys into strings. */
                jbuf kb = {0};
                st = json_rec(&kb, k, NULL, 0, false, level + 1);
                if (st == HEARTH_OK) st = jstr_json(b, kb.p ? kb.p : "", kb.n);
                jbuf_free(&kb);
            } else {
                st = hearth_error_set(HEARTH_ERR_TYPE, "tojson: keys must be str, int, float, bool or None");
            }
            if (st == HEARTH_OK) st = jbuf_cstr(b, ": ");
            if (st == HEARTH_OK) st = json_rec(b, d->v[i], ind, il, sort, level + 1);
        }
        if (st == HEARTH_OK && ind) st = json_newline(b, ind, il, level);
        if (st == HEARTH_OK) st = jbuf_cstr(b, "}");
        if (order != order_small) hearth_free(order);
        return st;
    }
    default:
        return hearth_error_set(HEARTH_ERR_TYPE, "tojson: object of type %s is not JSON serializable",
                                jv_type_name(v));
    }
}

/* Appends json.dumps(v, ensure_ascii=False, ...). With an indent the item
 * separator is "," (Python's default when indent is set), else ", ". */
hearth_status jv_write_json(jbuf *b, jv v, const char *indent_str, size_t indent_len,
                            bool sort_keys, int depth) {
    return json_rec(b, v, indent_str, indent_len, sort_keys, depth);
}
