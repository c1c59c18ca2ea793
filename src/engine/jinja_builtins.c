/* jinja_builtins.c - the library a chat template can call: filters, tests,
 * attribute/subscript access, methods of str/dict/list, and the globals
 * transformers provides (range, namespace, dict, raise_exception,
 * strftime_now). Behaviour follows Jinja2 3.1 and Python 3 where templates
 * can observe it; case mapping is ASCII-only.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/jinja.h"
#include "hearth/alloc.h"

#define TRY(x)                                                                                     \
    do {                                                                                           \
        hearth_status st_ = (x);                                                                   \
        if (st_ != HEARTH_OK) return st_;                                                          \
    } while (0)

static bool name_is(const char *name, size_t nlen, const char *lit) {
    return nlen == strlen(lit) && memcmp(name, lit, nlen) == 0;
}

static jv list_val(jlist *l) {
    jv v = jv_undef();
    v.t = JV_LIST;
    v.u.l = l;
    return v;
}

static jv dict_val(jdict *d, jv_type t) {
    jv v = jv_undef();
    v.t = t;
    v.u.d = d;
    return v;
}

static hearth_status mkstr(jctx *c, const char *p, size_t n, jv *out) {
    if (n > JINJA_MAX_OUTPUT) return jx_fail(c, HEARTH_ERR_RANGE, "string exceeds %u bytes", JINJA_MAX_OUTPUT);
    char *s = jarena_strndup(&c->arena, p, n);
    if (!s) return jx_oom(c);
    *out = jv_str(s, n);
    return HEARTH_OK;
}

static hearth_status buf_to_str(jctx *c, jbuf *b, hearth_status st, jv *out) {
    if (st == HEARTH_OK) st = jx_charge(c, b->n / 16);
    if (st == HEARTH_OK) st = mkstr(c, b->p ? b->p : "", b->n, out);
    jbuf_free(b);
    return st;
}

const jv *jb_kwarg(const jargs *a, const char *name) {
    for (size_t i = 0; i < a->nkw; i++)
        if (name_is(a->kwn[i], a->kwl[i], name)) return &a->kwv[i];
    return NULL;
}

/* Positional argument i, else keyword `name`, else NULL. */
static const jv *arg(const jargs *a, size_t i, const char *name) {
    if (i < a->npos) return &a->pos[i];
    return name ? jb_kwarg(a, name) : NULL;
}

static bool arg_bool(const jargs *a, size_t i, const char *name, bool dflt) {
    const jv *v = arg(a, i, name);
    return v ? jv_truthy(*v) : dflt;
}

static hearth_status need_str(jctx *c, jv v, const char *what) {
    if (v.t != JV_STR)
        return jx_fail(c, HEARTH_ERR_TYPE, "%s expects a string, got %s", what, jv_type_name(v));
    return HEARTH_OK;
}

static hearth_status need_int(jctx *c, const jv *v, const char *what, int64_t *out) {
    if (!v || (v->t != JV_INT && v->t != JV_BOOL))
        return jx_fail(c, HEARTH_ERR_TYPE, "%s expects an integer", what);
    *out = v->t == JV_INT ? v->u.i : v->u.b;
    return HEARTH_OK;
}

/* ---- globals ---------------------------------------------------------- */

int jb_global(const char *name, size_t nlen) {
    if (name_is(name, nlen, "range")) return JF_RANGE;
    if (name_is(name, nlen, "namespace")) return JF_NAMESPACE;
    if (name_is(name, nlen, "dict")) return JF_DICT;
    if (name_is(name, nlen, "raise_exception")) return JF_RAISE;
    if (name_is(name, nlen, "strftime_now")) return JF_STRFTIME;
    return 0;
}

static hearth_status g_range(jctx *c, const jargs *a, jv *out) {
    int64_t start = 0, stop = 0, step = 1;
    if (a->npos == 1) {
        TRY(need_int(c, &a->pos[0], "range()", &stop));
    } else if (a->npos == 2 || a->npos == 3) {
        TRY(need_int(c, &a->pos[0], "range()", &start));
        TRY(need_int(c, &a->pos[1], "range()", &stop));
        if (a->npos == 3) TRY(need_int(c, &a->pos[2], "range()", &step));
    } else {
        return jx_fail(c, HEARTH_ERR_TYPE, "range expected 1 to 3 arguments, got %zu", a->npos);
    }
    if (step == 0) return jx_fail(c, HEARTH_ERR_INVALID, "range() arg 3 must not be zero");
    double count = step > 0 ? ceil(((double)stop - (double)start) / (double)step)
                            : ceil(((double)start - (double)stop) / (double)-step);
    if (count < 0) count = 0;
    if (count > JINJA_MAX_LIST)
        return jx_fail(c, HEARTH_ERR_RANGE, "range() of %.0f items exceeds the limit of %u", count, JINJA_MAX_LIST);
    size_t n = (size_t)count;
    TRY(jx_charge(c, n));
    jlist *l = jlist_new(&c->arena, n);
    if (!l) return jx_oom(c);
    for (size_t i = 0; i < n; i++) l->v[i] = jv_int(start + (int64_t)i * step);
    l->n = n;
    *out = list_val(l);
    return HEARTH_OK;
}

static hearth_status g_dictlike(jctx *c, const jargs *a, jv_type t, jv *out) {
    jdict *d = jdict_new(&c->arena, a->nkw);
    if (!d) return jx_oom(c);
    for (size_t i = 0; i < a->npos; i++) {
        jv p = a->pos[i];
        if (p.t == JV_DICT || p.t == JV_NS) {
            for (size_t k = 0; k < p.u.d->n; k++)
                if (!jdict_set(&c->arena, d, p.u.d->k[k], p.u.d->v[k])) return jx_oom(c);
        } else if (p.t == JV_LIST) {
            for (size_t k = 0; k < p.u.l->n; k++) {
                jv pair = p.u.l->v[k];
                if (pair.t != JV_LIST || pair.u.l->n != 2)
                    return jx_fail(c, HEARTH_ERR_TYPE, "dictionary update sequence element has wrong length");
                if (!jdict_set(&c->arena, d, pair.u.l->v[0], pair.u.l->v[1])) return jx_oom(c);
            }
        } else {
            return jx_fail(c, HEARTH_ERR_TYPE, "'%s' object is not a mapping", jv_type_name(p));
        }
    }
    for (size_t i = 0; i < a->nkw; i++)
        if (!jdict_set(&c->arena, d, jv_str(a->kwn[i], a->kwl[i]), a->kwv[i])) return jx_oom(c);
    *out = dict_val(d, t);
    return HEARTH_OK;
}

static hearth_status g_strftime(jctx *c, const jargs *a, jv *out) {
    const jv *f = arg(a, 0, "format");
    if (!f) return jx_fail(c, HEARTH_ERR_TYPE, "strftime_now() needs a format");
    TRY(need_str(c, *f, "strftime_now()"));
    if (f->u.s.n > 256) return jx_fail(c, HEARTH_ERR_RANGE, "strftime_now() format too long");
    char fmt[260], res[1024];
    memcpy(fmt, f->u.s.p, f->u.s.n);
    fmt[f->u.s.n] = '\0';
    time_t now = time(NULL);
    struct tm tmv;
    localtime_r(&now, &tmv);
    size_t n = strftime(res, sizeof res, fmt, &tmv);
    return mkstr(c, res, n, out);
}

/* ---- iteration and access --------------------------------------------- */

/* Splits a string into its code points. */
static hearth_status chars(jctx *c, jv s, jlist **out) {
    size_t n = ju_count(s.u.s.p, s.u.s.n);
    if (n > JINJA_MAX_LIST) return jx_fail(c, HEARTH_ERR_RANGE, "string too long to iterate");
    TRY(jx_charge(c, n));
    jlist *l = jlist_new(&c->arena, n);
    if (!l) return jx_oom(c);
    const char *p = s.u.s.p;
    size_t i = 0, len = s.u.s.n;
    while (i < len) {
        size_t j = i + 1;
        while (j < len && ((unsigned char)p[j] & 0xC0) == 0x80) j++;
        l->v[l->n++] = jv_str(p + i, j - i);
        i = j;
    }
    *out = l;
    return HEARTH_OK;
}

hearth_status jb_iter(jctx *c, jv v, jlist **out) {
    switch (v.t) {
    case JV_LIST: *out = v.u.l; return HEARTH_OK;
    case JV_UNDEF:
        *out = jlist_new(&c->arena, 0);
        return *out ? HEARTH_OK : jx_oom(c);
    case JV_DICT: {
        jlist *l = jlist_new(&c->arena, v.u.d->n);
        if (!l) return jx_oom(c);
        memcpy(l->v, v.u.d->k, v.u.d->n * sizeof(jv));
        l->n = v.u.d->n;
        *out = l;
        return HEARTH_OK;
    }
    case JV_STR: return chars(c, v, out);
    default: return jx_fail(c, HEARTH_ERR_TYPE, "'%s' object is not iterable", jv_type_name(v));
    }
}

static const char *const STR_METHODS[] = {
    "strip", "lstrip", "rstrip", "startswith", "endswith", "split", "rsplit", "upper", "lower",
    "replace", "title", "capitalize", "find", "rfind", "index", "count", "join", "format", "isdigit",
    "isalpha", "isalnum", "isspace", "islower", "isupper", "splitlines", "removeprefix", "removesuffix",
    "swapcase", "zfill", "center", "ljust", "rjust", "partition", "rpartition", "casefold", NULL};
static const char *const DICT_METHODS[] = {"items", "keys", "values", "get", NULL};
static const char *const LIST_METHODS[] = {"index", "count", NULL};

static bool in_list(const char *const *names, const char *name, size_t nlen) {
    for (size_t i = 0; names[i]; i++)
        if (name_is(name, nlen, names[i])) return true;
    return false;
}

static hearth_status method(jctx *c, jv self, const char *name, size_t nlen, jv *out) {
    jmethod *m = jarena_alloc(&c->arena, sizeof(*m));
    if (!m) return jx_oom(c);
    m->self = self;
    m->name = name;
    m->nlen = nlen;
    *out = jv_undef();
    out->t = JV_METHOD;
    out->u.bm = m;
    return HEARTH_OK;
}

hearth_status jb_getattr(jctx *c, jv obj, const char *name, size_t nlen, jv *out) {
    *out = jv_undef();
    switch (obj.t) {
    case JV_DICT: {
        if (in_list(DICT_METHODS, name, nlen)) return method(c, obj, name, nlen, out);
        jv *v = jdict_get_str(obj.u.d, name, nlen);
        if (v) *out = *v;
        return HEARTH_OK;
    }
    case JV_NS: {
        jv *v = jdict_get_str(obj.u.d, name, nlen);
        if (v) *out = *v;
        return HEARTH_OK;
    }
    case JV_STR:
        if (in_list(STR_METHODS, name, nlen)) return method(c, obj, name, nlen, out);
        return HEARTH_OK;
    case JV_LIST:
        if (in_list(LIST_METHODS, name, nlen)) return method(c, obj, name, nlen, out);
        return HEARTH_OK;
    case JV_LOOP: {
        const jloop *l = obj.u.loop;
        int64_t i = (int64_t)l->index0, n = (int64_t)l->items->n;
        if (name_is(name, nlen, "index")) *out = jv_int(i + 1);
        else if (name_is(name, nlen, "index0")) *out = jv_int(i);
        else if (name_is(name, nlen, "revindex")) *out = jv_int(n - i);
        else if (name_is(name, nlen, "revindex0")) *out = jv_int(n - i - 1);
        else if (name_is(name, nlen, "first")) *out = jv_bool(i == 0);
        else if (name_is(name, nlen, "last")) *out = jv_bool(i == n - 1);
        else if (name_is(name, nlen, "length")) *out = jv_int(n);
        else if (name_is(name, nlen, "depth")) *out = jv_int(1);
        else if (name_is(name, nlen, "depth0")) *out = jv_int(0);
        else if (name_is(name, nlen, "previtem")) { if (i > 0) *out = l->items->v[i - 1]; }
        else if (name_is(name, nlen, "nextitem")) { if (i + 1 < n) *out = l->items->v[i + 1]; }
        else if (name_is(name, nlen, "cycle")) return method(c, obj, name, nlen, out);
        return HEARTH_OK;
    }
    default: return HEARTH_OK; /* undefined, None, numbers: no attributes */
    }
}

hearth_status jb_getitem(jctx *c, jv obj, jv key, jv *out) {
    *out = jv_undef();
    switch (obj.t) {
    case JV_LIST:
        if (key.t == JV_INT || key.t == JV_BOOL) {
            int64_t i = key.t == JV_INT ? key.u.i : key.u.b, n = (int64_t)obj.u.l->n;
            if (i < 0) i += n;
            if (i >= 0 && i < n) *out = obj.u.l->v[i];
        }
        return HEARTH_OK;
    case JV_STR:
        if (key.t == JV_INT || key.t == JV_BOOL) {
            int64_t i = key.t == JV_INT ? key.u.i : key.u.b;
            int64_t n = (int64_t)ju_count(obj.u.s.p, obj.u.s.n);
            if (i < 0) i += n;
            if (i >= 0 && i < n) {
                size_t a = ju_offset(obj.u.s.p, obj.u.s.n, (size_t)i);
                size_t b = ju_offset(obj.u.s.p, obj.u.s.n, (size_t)i + 1);
                *out = jv_str(obj.u.s.p + a, b - a);
            }
        }
        return HEARTH_OK;
    case JV_DICT: {
        jv *v = jdict_get(obj.u.d, key);
        if (v) {
            *out = *v;
            return HEARTH_OK;
        }
        if (key.t == JV_STR && in_list(DICT_METHODS, key.u.s.p, key.u.s.n))
            return method(c, obj, key.u.s.p, key.u.s.n, out);
        return HEARTH_OK;
    }
    case JV_NS:
    case JV_LOOP:
        if (key.t == JV_STR) return jb_getattr(c, obj, key.u.s.p, key.u.s.n, out);
        return HEARTH_OK;
    default: return HEARTH_OK;
    }
}

/* ---- string helpers --------------------------------------------------- */

/* Decodes one code point at s[*i] (advancing *i); invalid bytes are taken
 * one at a time as themselves. */
static uint32_t u8_next(const char *s, size_t n, size_t *i) {
    unsigned char b = (unsigned char)s[*i];
    if (b < 0x80) { (*i)++; return b; }
    int len = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
    if (len == 1 || *i + (size_t)len > n) { (*i)++; return b; }
    uint32_t cp = b & (0x3F >> (len - 1));
    for (int k = 1; k < len; k++) cp = (cp << 6) | ((unsigned char)s[*i + (size_t)k] & 0x3F);
    *i += (size_t)len;
    return cp;
}

/* Python's str.isspace() set. */
static bool py_space(uint32_t cp) {
    return (cp >= 9 && cp <= 13) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
           cp == 0x3000;
}

static bool cp_in(uint32_t cp, const jv *chars_) {
    if (!chars_) return py_space(cp);
    size_t i = 0;
    while (i < chars_->u.s.n)
        if (u8_next(chars_->u.s.p, chars_->u.s.n, &i) == cp) return true;
    return false;
}

/* str.strip/lstrip/rstrip: which = 1 left, 2 right, 3 both. chars NULL:
 * whitespace. */
static jv strip(jv s, const jv *chars_, int which) {
    const char *p = s.u.s.p;
    size_t a = 0, b = s.u.s.n;
    if (which & 1) {
        while (a < b) {
            size_t i = a;
            if (!cp_in(u8_next(p, b, &i), chars_)) break;
            a = i;
        }
    }
    if (which & 2) {
        while (b > a) {
            size_t st = b - 1;
            while (st > a && ((unsigned char)p[st] & 0xC0) == 0x80) st--;
            size_t i = st;
            if (!cp_in(u8_next(p, b, &i), chars_)) break;
            b = st;
        }
    }
    return jv_str(p + a, b - a);
}

static const char *find_sub(const char *h, size_t hn, const char *nd, size_t nn, size_t from) {
    if (nn == 0) return from <= hn ? h + from : NULL;
    for (size_t i = from; i + nn <= hn; i++)
        if (memcmp(h + i, nd, nn) == 0) return h + i;
    return NULL;
}

static const char *rfind_sub(const char *h, size_t hn, const char *nd, size_t nn) {
    if (nn > hn) return NULL;
    for (size_t i = hn - nn + 1; i > 0; i--)
        if (memcmp(h + i - 1, nd, nn) == 0) return h + i - 1;
    return NULL;
}

typedef enum { CASE_UPPER, CASE_LOWER, CASE_CAPITALIZE, CASE_TITLE_PY, CASE_TITLE_JINJA, CASE_SWAP } case_mode;

static hearth_status recase(jctx *c, jv s, case_mode mode, jv *out) {
    TRY(jx_charge(c, s.u.s.n / 16));
    char *d = jarena_alloc(&c->arena, s.u.s.n + 1);
    if (!d) return jx_oom(c);
    bool prev_cased = false, word_start = true;
    for (size_t i = 0; i < s.u.s.n; i++) {
        unsigned char ch = (unsigned char)s.u.s.p[i];
        bool alpha = isalpha(ch) != 0;
        switch (mode) {
        case CASE_UPPER: d[i] = (char)toupper(ch); break;
        case CASE_LOWER: d[i] = (char)tolower(ch); break;
        case CASE_SWAP: d[i] = (char)(isupper(ch) ? tolower(ch) : toupper(ch)); break;
        case CASE_CAPITALIZE: d[i] = (char)(i == 0 ? toupper(ch) : tolower(ch)); break;
        case CASE_TITLE_PY:
            d[i] = (char)(prev_cased ? tolower(ch) : toupper(ch));
            prev_cased = alpha || ch >= 0x80;
            break;
        case CASE_TITLE_JINJA: {
            /* Jinja splits on runs of [-\s({[<] and capitalises each piece. */
            bool sep = ch == '-' || isspace(ch) || ch == '(' || ch == '{' || ch == '[' || ch == '<';
            d[i] = (char)(sep ? ch : word_start ? toupper(ch) : tolower(ch));
            word_start = sep;
            break;
        }
        }
    }
    d[s.u.s.n] = '\0';
    *out = jv_str(d, s.u.s.n);
    return HEARTH_OK;
}

static hearth_status str_replace(jctx *c, jv s, jv old, jv new_, int64_t count, jv *out) {
    jbuf b = {0};
    hearth_status st = HEARTH_OK;
    size_t pos = 0;
    int64_t done = 0;
    if (old.u.s.n == 0) {
        /* Python inserts `new` between every character and at both ends. */
        size_t i = 0;
        while (st == HEARTH_OK && (count < 0 || done < count)) {
            st = jbuf_add(&b, new_.u.s.p, new_.u.s.n);
            done++;
            if (i >= s.u.s.n) break;
            size_t j = i;
            u8_next(s.u.s.p, s.u.s.n, &j);
            if (st == HEARTH_OK) st = jbuf_add(&b, s.u.s.p + i, j - i);
            i = j;
        }
        pos = i;
    } else {
        while (st == HEARTH_OK && (count < 0 || done < count)) {
            const char *f = find_sub(s.u.s.p, s.u.s.n, old.u.s.p, old.u.s.n, pos);
            if (!f) break;
            size_t at = (size_t)(f - s.u.s.p);
            st = jbuf_add(&b, s.u.s.p + pos, at - pos);
            if (st == HEARTH_OK) st = jbuf_add(&b, new_.u.s.p, new_.u.s.n);
            pos = at + old.u.s.n;
            done++;
        }
    }
    if (st == HEARTH_OK && pos < s.u.s.n) st = jbuf_add(&b, s.u.s.p + pos, s.u.s.n - pos);
    return buf_to_str(c, &b, st, out);
}

/* str.split / rsplit with Python semantics (sep NULL: whitespace runs). */
static hearth_status str_split(jctx *c, jv s, const jv *sep, int64_t maxsplit, bool right, jv *out) {
    jlist *l = jlist_new(&c->arena, 0);
    if (!l) return jx_oom(c);
    TRY(jx_charge(c, s.u.s.n / 8 + 1));
    const char *p = s.u.s.p;
    size_t n = s.u.s.n;
    if (sep && sep->t != JV_NONE) {
        TRY(need_str(c, *sep, "split()"));
        if (sep->u.s.n == 0) return jx_fail(c, HEARTH_ERR_INVALID, "empty separator");
        size_t sn = sep->u.s.n;
        if (!right) {
            size_t pos = 0;
            int64_t k = 0;
            while (maxsplit < 0 || k < maxsplit) {
                const char *f = find_sub(p, n, sep->u.s.p, sn, pos);
                if (!f) break;
                if (!jlist_push(&c->arena, l, jv_str(p + pos, (size_t)(f - p) - pos))) return jx_oom(c);
                pos = (size_t)(f - p) + sn;
                k++;
            }
            if (!jlist_push(&c->arena, l, jv_str(p + pos, n - pos))) return jx_oom(c);
        } else {
            size_t end = n;
            int64_t k = 0;
            while (maxsplit < 0 || k < maxsplit) {
                const char *f = rfind_sub(p, end, sep->u.s.p, sn);
                if (!f) break;
                size_t at = (size_t)(f - p);
                if (!jlist_push(&c->arena, l, jv_str(p + at + sn, end - at - sn))) return jx_oom(c);
                end = at;
                k++;
            }
            if (!jlist_push(&c->arena, l, jv_str(p, end))) return jx_oom(c);
            for (size_t i = 0; i < l->n / 2; i++) {
                jv t = l->v[i];
                l->v[i] = l->v[l->n - 1 - i];
                l->v[l->n - 1 - i] = t;
            }
        }
    } else {
        /* Whitespace split drops empty pieces; maxsplit leaves the rest
         * (left-stripped) as the last piece. */
        size_t i = 0;
        int64_t k = 0;
        if (!right) {
            while (i < n) {
                size_t j = i;
                while (i < n) {
                    j = i;
                    if (!py_space(u8_next(p, n, &j))) break;
                    i = j;
                }
                if (i >= n) break;
                if (maxsplit >= 0 && k >= maxsplit) {
                    if (!jlist_push(&c->arena, l, jv_str(p + i, n - i))) return jx_oom(c);
                    break;
                }
                size_t st = i;
                while (i < n) {
                    j = i;
                    if (py_space(u8_next(p, n, &j))) break;
                    i = j;
                }
                if (!jlist_push(&c->arena, l, jv_str(p + st, i - st))) return jx_oom(c);
                k++;
            }
        } else {
            /* rsplit(None, maxsplit): split from the right. */
            jv all;
            TRY(str_split(c, s, NULL, -1, false, &all));
            jlist *w = all.u.l;
            if (maxsplit < 0 || (size_t)maxsplit >= w->n) {
                *out = all;
                return HEARTH_OK;
            }
            size_t keep = w->n - (size_t)maxsplit; /* pieces merged into the first */
            jv first = jv_str(p, (size_t)(w->v[keep - 1].u.s.p + w->v[keep - 1].u.s.n - p));
            if (!jlist_push(&c->arena, l, first)) return jx_oom(c);
            for (size_t q = keep; q < w->n; q++)
                if (!jlist_push(&c->arena, l, w->v[q])) return jx_oom(c);
        }
    }
    *out = list_val(l);
    return HEARTH_OK;
}

static bool affix(jv s, jv x, bool end) {
    if (x.t != JV_STR || x.u.s.n > s.u.s.n) return false;
    const char *at = end ? s.u.s.p + s.u.s.n - x.u.s.n : s.u.s.p;
    return x.u.s.n == 0 || memcmp(at, x.u.s.p, x.u.s.n) == 0;
}

/* Python str.format with {}, {0}, {name} and {{ }}; format specs are
 * ignored (values use str()). */
static hearth_status str_format(jctx *c, jv fmt, const jargs *a, jv *out) {
    jbuf b = {0};
    hearth_status st = HEARTH_OK;
    const char *p = fmt.u.s.p;
    size_t n = fmt.u.s.n, auto_i = 0;
    for (size_t i = 0; i < n && st == HEARTH_OK; i++) {
        if (p[i] == '{' && i + 1 < n && p[i + 1] == '{') { st = jbuf_add(&b, "{", 1); i++; continue; }
        if (p[i] == '}' && i + 1 < n && p[i + 1] == '}') { st = jbuf_add(&b, "}", 1); i++; continue; }
        if (p[i] != '{') { st = jbuf_add(&b, p + i, 1); continue; }
        size_t j = i + 1;
        while (j < n && p[j] != '}') j++;
        if (j >= n) { st = jx_fail(c, HEARTH_ERR_INVALID, "format: single '{' encountered"); break; }
        size_t fe = i + 1;
        while (fe < j && p[fe] != ':' && p[fe] != '!') fe++;
        const jv *v = NULL;
        if (fe == i + 1) {
            v = arg(a, auto_i++, NULL);
        } else if (isdigit((unsigned char)p[i + 1])) {
            v = arg(a, (size_t)strtoul(p + i + 1, NULL, 10), NULL);
        } else {
            for (size_t k = 0; k < a->nkw; k++)
                if (a->kwl[k] == fe - i - 1 && memcmp(a->kwn[k], p + i + 1, a->kwl[k]) == 0) v = &a->kwv[k];
        }
        if (!v) { st = jx_fail(c, HEARTH_ERR_INVALID, "format: missing argument"); break; }
        st = jv_write_str(&b, *v);
        i = j;
    }
    return buf_to_str(c, &b, st, out);
}

static hearth_status str_join(jctx *c, jv sep, jv seq, const char *attr, size_t alen, jv *out);

static hearth_status str_method(jctx *c, jv s, const char *name, size_t nlen, const jargs *a, jv *out) {
    const jv *a0 = arg(a, 0, NULL), *a1 = arg(a, 1, NULL), *a2 = arg(a, 2, NULL);
#define M(lit) name_is(name, nlen, lit)
    if (M("strip") || M("lstrip") || M("rstrip")) {
        if (a0 && a0->t != JV_NONE) TRY(need_str(c, *a0, "strip()"));
        *out = strip(s, a0 && a0->t != JV_NONE ? a0 : NULL, M("strip") ? 3 : M("lstrip") ? 1 : 2);
        return HEARTH_OK;
    }
    if (M("startswith") || M("endswith")) {
        if (!a0) return jx_fail(c, HEARTH_ERR_TYPE, "%.*s() takes at least 1 argument", (int)nlen, name);
        bool end = M("endswith"), r = false;
        if (a0->t == JV_LIST) {
            for (size_t i = 0; i < a0->u.l->n; i++) r = r || affix(s, a0->u.l->v[i], end);
        } else {
            TRY(need_str(c, *a0, "startswith()/endswith()"));
            r = affix(s, *a0, end);
        }
        *out = jv_bool(r);
        return HEARTH_OK;
    }
    if (M("split") || M("rsplit")) {
        int64_t maxsplit = -1;
        const jv *sep = arg(a, 0, "sep"), *ms = arg(a, 1, "maxsplit");
        if (ms) TRY(need_int(c, ms, "split()", &maxsplit));
        return str_split(c, s, sep, maxsplit, M("rsplit"), out);
    }
    if (M("splitlines")) {
        jlist *l = jlist_new(&c->arena, 0);
        if (!l) return jx_oom(c);
        const char *p = s.u.s.p;
        size_t n = s.u.s.n, st = 0;
        for (size_t i = 0; i < n; i++) {
            if (p[i] == '\n' || p[i] == '\r') {
                if (!jlist_push(&c->arena, l, jv_str(p + st, i - st))) return jx_oom(c);
                if (p[i] == '\r' && i + 1 < n && p[i + 1] == '\n') i++;
                st = i + 1;
            }
        }
        if (st < n && !jlist_push(&c->arena, l, jv_str(p + st, n - st))) return jx_oom(c);
        *out = list_val(l);
        return HEARTH_OK;
    }
    if (M("upper")) return recase(c, s, CASE_UPPER, out);
    if (M("lower") || M("casefold")) return recase(c, s, CASE_LOWER, out);
    if (M("title")) return recase(c, s, CASE_TITLE_PY, out);
    if (M("capitalize")) return recase(c, s, CASE_CAPITALIZE, out);
    if (M("swapcase")) return recase(c, s, CASE_SWAP, out);
    if (M("replace")) {
        if (!a0 || !a1) return jx_fail(c, HEARTH_ERR_TYPE, "replace() takes at least 2 arguments");
        TRY(need_str(c, *a0, "replace()"));
        TRY(need_str(c, *a1, "replace()"));
        int64_t count = -1;
        if (a2) TRY(need_int(c, a2, "replace()", &count));
        return str_replace(c, s, *a0, *a1, count, out);
    }
    if (M("find") || M("rfind") || M("index") || M("count")) {
        if (!a0) return jx_fail(c, HEARTH_ERR_TYPE, "%.*s() takes at least 1 argument", (int)nlen, name);
        TRY(need_str(c, *a0, "find()"));
        if (M("count")) {
            int64_t k = 0;
            size_t pos = 0;
            if (a0->u.s.n == 0) {
                *out = jv_int((int64_t)ju_count(s.u.s.p, s.u.s.n) + 1);
                return HEARTH_OK;
            }
            const char *f;
            while ((f = find_sub(s.u.s.p, s.u.s.n, a0->u.s.p, a0->u.s.n, pos))) {
                k++;
                pos = (size_t)(f - s.u.s.p) + a0->u.s.n;
            }
            *out = jv_int(k);
            return HEARTH_OK;
        }
        const char *f = M("rfind") ? rfind_sub(s.u.s.p, s.u.s.n, a0->u.s.p, a0->u.s.n)
                                   : find_sub(s.u.s.p, s.u.s.n, a0->u.s.p, a0->u.s.n, 0);
        if (!f && M("index")) return jx_fail(c, HEARTH_ERR_INVALID, "substring not found");
        *out = jv_int(f ? (int64_t)ju_count(s.u.s.p, (size_t)(f - s.u.s.p)) : -1);
        return HEARTH_OK;
    }
    if (M("join")) {
        if (!a0) return jx_fail(c, HEARTH_ERR_TYPE, "join() takes exactly one argument");
        return str_join(c, s, *a0, NULL, 0, out);
    }
    if (M("format")) return str_format(c, s, a, out);
    if (M("removeprefix") || M("removesuffix")) {
        if (!a0) return jx_fail(c, HEARTH_ERR_TYPE, "%.*s() takes exactly one argument", (int)nlen, name);
        TRY(need_str(c, *a0, "removeprefix()"));
        bool end = M("removesuffix");
        if (affix(s, *a0, end))
            *out = jv_str(end ? s.u.s.p : s.u.s.p + a0->u.s.n, s.u.s.n - a0->u.s.n);
        else
            *out = s;
        return HEARTH_OK;
    }
    if (M("partition") || M("rpartition")) {
        if (!a0) return jx_fail(c, HEARTH_ERR_TYPE, "partition() takes exactly one argument");
        TRY(need_str(c, *a0, "partition()"));
        if (a0->u.s.n == 0) return jx_fail(c, HEARTH_ERR_INVALID, "empty separator");
        bool r = M("rpartition");
        const char *f = r ? rfind_sub(s.u.s.p, s.u.s.n, a0->u.s.p, a0->u.s.n)
                          : find_sub(s.u.s.p, s.u.s.n, a0->u.s.p, a0->u.s.n, 0);
        jlist *l = jlist_new(&c->arena, 3);
        if (!l) return jx_oom(c);
        l->n = 3;
        l->tuple = true;
        if (!f) {
            l->v[r ? 2 : 0] = s;
            l->v[1] = jv_str("", 0);
            l->v[r ? 0 : 2] = jv_str("", 0);
        } else {
            size_t at = (size_t)(f - s.u.s.p);
            l->v[0] = jv_str(s.u.s.p, at);
            l->v[1] = *a0;
            l->v[2] = jv_str(f + a0->u.s.n, s.u.s.n - at - a0->u.s.n);
        }
        *out = list_val(l);
        return HEARTH_OK;
    }
    if (M("isdigit") || M("isalpha") || M("isalnum") || M("isspace") || M("islower") || M("isupper")) {
        bool r = s.u.s.n > 0, cased = false;
        for (size_t i = 0; i < s.u.s.n; i++) {
            unsigned char ch = (unsigned char)s.u.s.p[i];
            if (M("isdigit")) r = r && isdigit(ch);
            else if (M("isalpha")) r = r && isalpha(ch);
            else if (M("isalnum")) r = r && isalnum(ch);
            else if (M("isspace")) r = r && isspace(ch);
            else if (M("islower")) { r = r && !isupper(ch); cased = cased || islower(ch); }
            else { r = r && !islower(ch); cased = cased || isupper(ch); }
        }
        if (M("islower") || M("isupper")) r = r && cased;
        *out = jv_bool(r);
        return HEARTH_OK;
    }
    if (M("zfill") || M("center") || M("ljust") || M("rjust")) {
        int64_t w = 0;
        TRY(need_int(c, a0, "zfill()/center()", &w));
        size_t len = ju_count(s.u.s.p, s.u.s.n);
        if (w > (int64_t)JINJA_MAX_OUTPUT) return jx_fail(c, HEARTH_ERR_RANGE, "width too large");
        if (w <= (int64_t)len) { *out = s; return HEARTH_OK; }
        size_t pad = (size_t)w - len, left = 0;
        char fill = M("zfill") ? '0' : ' ';
        if (a1 && a1->t == JV_STR && a1->u.s.n == 1) fill = a1->u.s.p[0];
        if (M("center")) left = pad / 2 + (pad & (size_t)w & 1);
        else if (M("rjust") || M("zfill")) left = pad;
        jbuf b = {0};
        hearth_status st = HEARTH_OK;
        size_t skip = 0;
        if (M("zfill") && s.u.s.n && (s.u.s.p[0] == '-' || s.u.s.p[0] == '+')) {
            st = jbuf_add(&b, s.u.s.p, 1);
            skip = 1;
        }
        for (size_t i = 0; i < left && st == HEARTH_OK; i++) st = jbuf_add(&b, &fill, 1);
        if (st == HEARTH_OK) st = jbuf_add(&b, s.u.s.p + skip, s.u.s.n - skip);
        for (size_t i = left; i < pad && st == HEARTH_OK; i++) st = jbuf_add(&b, &fill, 1);
        return buf_to_str(c, &b, st, out);
    }
#undef M
    return jx_fail(c, HEARTH_ERR_UNSUPPORTED, "str has no method '%.*s'", (int)nlen, name);
}

static hearth_status dict_items(jctx *c, const jdict *d, int which, jv *out) {
    TRY(jx_charge(c, d->n));
    jlist *l = jlist_new(&c->arena, d->n);
    if (!l) return jx_oom(c);
    for (size_t i = 0; i < d->n; i++) {
        if (which == 0) {
            jlist *pair = jlist_new(&c->arena, 2);
            if (!pair) return jx_oom(c);
            pair->v[0] = d->k[i];
            pair->v[1] = d->v[i];
            pair->n = 2;
            pair->tuple = true;
            l->v[i] = list_val(pair);
        } else {
            l->v[i] = which == 1 ? d->k[i] : d->v[i];
        }
    }
    l->n = d->n;
    *out = list_val(l);
    return HEARTH_OK;
}

hearth_status jb_call_builtin(jctx *c, jv callee, const jargs *a, jv *out) {
    if (callee.t == JV_FUNC) {
        switch (callee.aux) {
        case JF_RANGE: return g_range(c, a, out);
        case JF_NAMESPACE: return g_dictlike(c, a, JV_NS, out);
        case JF_DICT: return g_dictlike(c, a, JV_DICT, out);
        case JF_STRFTIME: return g_strftime(c, a, out);
        case JF_RAISE: {
            jv msg = jv_str("", 0);
            if (a->npos) TRY(jx_to_str(c, a->pos[0], &msg));
            return hearth_error_set(HEARTH_ERR_INVALID, "%.*s", (int)(msg.u.s.n > 400 ? 400 : msg.u.s.n),
                                    msg.u.s.p);
        }
        default: return jx_fail(c, HEARTH_ERR_INTERNAL, "unknown global function");
        }
    }
    const jmethod *m = callee.u.bm;
    jv self = m->self;
    const char *name = m->name;
    size_t nlen = m->nlen;
    if (self.t == JV_STR) return str_method(c, self, name, nlen, a, out);
    if (self.t == JV_DICT) {
        if (name_is(name, nlen, "items")) return dict_items(c, self.u.d, 0, out);
        if (name_is(name, nlen, "keys")) return dict_items(c, self.u.d, 1, out);
        if (name_is(name, nlen, "values")) return dict_items(c, self.u.d, 2, out);
        if (name_is(name, nlen, "get")) {
            const jv *k = arg(a, 0, NULL), *d = arg(a, 1, "default");
            if (!k) return jx_fail(c, HEARTH_ERR_TYPE, "get expected at least 1 argument");
            jv *v = jdict_get(self.u.d, *k);
            *out = v ? *v : d ? *d : jv_none();
            return HEARTH_OK;
        }
    }
    if (self.t == JV_LIST) {
        const jv *x = arg(a, 0, NULL);
        if (!x) return jx_fail(c, HEARTH_ERR_TYPE, "%.*s() takes exactly one argument", (int)nlen, name);
        int64_t k = 0;
        for (size_t i = 0; i < self.u.l->n; i++) {
            if (jv_eq(self.u.l->v[i], *x)) {
                if (name_is(name, nlen, "index")) {
                    *out = jv_int((int64_t)i);
                    return HEARTH_OK;
                }
                k++;
            }
        }
        if (name_is(name, nlen, "index")) return jx_fail(c, HEARTH_ERR_INVALID, "value is not in list");
        *out = jv_int(k);
        return HEARTH_OK;
    }
    if (self.t == JV_LOOP) { /* loop.cycle(a, b, ...) */
        if (!a->npos) return jx_fail(c, HEARTH_ERR_TYPE, "no items for cycling given");
        *out = a->pos[self.u.loop->index0 % a->npos];
        return HEARTH_OK;
    }
    return jx_fail(c, HEARTH_ERR_UNSUPPORTED, "unsupported method '%.*s'", (int)nlen, name);
}

/* ---- sorting ---------------------------------------------------------- */

/* Lower-cases string keys (ASCII) for case-insensitive comparisons. */
static hearth_status fold_key(jctx *c, jv v, bool case_sensitive, jv *out) {
    if (case_sensitive || v.t != JV_STR) {
        *out = v;
        return HEARTH_OK;
    }
    return recase(c, v, CASE_LOWER, out);
}

/* Stable merge sort of idx[] by keys[]; type errors are reported. */
static hearth_status msort(jctx *c, const jv *keys, size_t *idx, size_t *tmp, size_t n, bool reverse) {
    if (n < 2) return HEARTH_OK;
    size_t h = n / 2;
    TRY(msort(c, keys, idx, tmp, h, reverse));
    TRY(msort(c, keys, idx + h, tmp, n - h, reverse));
    TRY(jx_charge(c, n));
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        bool err = false;
        int r = jv_cmp(keys[idx[j]], keys[idx[i]], &err);
        if (err)
            return jx_fail(c, HEARTH_ERR_TYPE, "cannot sort '%s' and '%s' values", jv_type_name(keys[idx[j]]),
                           jv_type_name(keys[idx[i]]));
        /* take from the right half only when strictly before the left */
        if (reverse ? r > 0 : r < 0) tmp[k++] = idx[j++];
        else tmp[k++] = idx[i++];
    }
    while (i < h) tmp[k++] = idx[i++];
    while (j < n) tmp[k++] = idx[j++];
    memcpy(idx, tmp, n * sizeof(size_t));
    return HEARTH_OK;
}

/* Returns item's attribute by a dotted path ("a.b", "0"), like Jinja's
 * make_attrgetter (subscript first). */
static hearth_status attr_path(jctx *c, jv item, const jv *attr, jv *out) {
    if (attr->t == JV_INT) return jb_getitem(c, item, *attr, out);
    if (attr->t != JV_STR) return jx_fail(c, HEARTH_ERR_TYPE, "attribute must be a string");
    const char *p = attr->u.s.p;
    size_t n = attr->u.s.n, i = 0;
    jv v = item;
    while (i <= n) {
        size_t j = i;
        while (j < n && p[j] != '.') j++;
        jv key = jv_str(p + i, j - i);
        bool digits = j > i;
        for (size_t k = i; k < j; k++) digits = digits && isdigit((unsigned char)p[k]);
        if (digits) key = jv_int(strtoll(p + i, NULL, 10));
        jv next;
        TRY(jb_getitem(c, v, key, &next));
        if (next.t == JV_UNDEF && key.t == JV_STR) TRY(jb_getattr(c, v, key.u.s.p, key.u.s.n, &next));
        v = next;
        i = j + 1;
    }
    *out = v;
    return HEARTH_OK;
}

static hearth_status sorted(jctx *c, jlist *items, const jv *attr, bool case_sensitive, bool reverse,
                            jlist **out) {
    size_t n = items->n;
    jv *keys = jarena_alloc(&c->arena, (n + 1) * sizeof(jv));
    size_t *idx = jarena_alloc(&c->arena, (n + 1) * sizeof(size_t));
    size_t *tmp = jarena_alloc(&c->arena, (n + 1) * sizeof(size_t));
    jlist *r = jlist_new(&c->arena, n);
    if (!keys || !idx || !tmp || !r) return jx_oom(c);
    for (size_t i = 0; i < n; i++) {
        jv k = items->v[i];
        if (attr) TRY(attr_path(c, k, attr, &k));
        TRY(fold_key(c, k, case_sensitive, &keys[i]));
        idx[i] = i;
    }
    TRY(msort(c, keys, idx, tmp, n, reverse));
    for (size_t i = 0; i < n; i++) r->v[i] = items->v[idx[i]];
    r->n = n;
    *out = r;
    return HEARTH_OK;
}

/* ---- filters ---------------------------------------------------------- */

static hearth_status str_join(jctx *c, jv sep, jv seq, const char *attr, size_t alen, jv *out) {
    jlist *items;
    TRY(jb_iter(c, seq, &items));
    jbuf b = {0};
    hearth_status st = HEARTH_OK;
    for (size_t i = 0; i < items->n && st == HEARTH_OK; i++) {
        jv v = items->v[i];
        if (attr) {
            jv av = jv_str(attr, alen);
            st = attr_path(c, v, &av, &v);
        }
        if (i && st == HEARTH_OK) st = jv_write_str(&b, sep);
        if (st == HEARTH_OK) st = jv_write_str(&b, v);
    }
    return buf_to_str(c, &b, st, out);
}

static hearth_status length_of(jctx *c, jv v, int64_t *n) {
    switch (v.t) {
    case JV_UNDEF: *n = 0; return HEARTH_OK;
    case JV_STR: *n = (int64_t)ju_count(v.u.s.p, v.u.s.n); return HEARTH_OK;
    case JV_LIST: *n = (int64_t)v.u.l->n; return HEARTH_OK;
    case JV_DICT: *n = (int64_t)v.u.d->n; return HEARTH_OK;
    default: return jx_fail(c, HEARTH_ERR_TYPE, "object of type '%s' has no len()", jv_type_name(v));
    }
}

static hearth_status to_int(jctx *c, jv v, const jargs *a, jv *out) {
    const jv *dflt = arg(a, 0, "default");
    int64_t base = 10;
    const jv *bv = arg(a, 1, "base");
    if (bv) TRY(need_int(c, bv, "int", &base));
    *out = dflt ? *dflt : jv_int(0);
    if (v.t == JV_INT) *out = v;
    else if (v.t == JV_BOOL) *out = jv_int(v.u.b);
    else if (v.t == JV_FLOAT) {
        if (isfinite(v.u.f) && fabs(v.u.f) < 9.2e18) *out = jv_int((int64_t)v.u.f);
    } else if (v.t == JV_STR && v.u.s.n < 64) {
        char tmp[64];
        memcpy(tmp, v.u.s.p, v.u.s.n);
        tmp[v.u.s.n] = '\0';
        char *end;
        errno = 0;
        long long i = strtoll(tmp, &end, (int)(base >= 2 && base <= 36 ? base : 10));
        while (*end && isspace((unsigned char)*end)) end++;
        if (end != tmp && !*end) {
            *out = jv_int(i);
        } else {
            double f = strtod(tmp, &end);
            while (*end && isspace((unsigned char)*end)) end++;
            if (end != tmp && !*end && isfinite(f) && fabs(f) < 9.2e18) *out = jv_int((int64_t)f);
        }
    }
    return HEARTH_OK;
}

static hearth_status to_float(jctx *c, jv v, const jargs *a, jv *out) {
    (void)c;
    const jv *dflt = arg(a, 0, "default");
    *out = dflt ? *dflt : jv_float(0.0);
    if (v.t == JV_FLOAT) *out = v;
    else if (v.t == JV_INT) *out = jv_float((double)v.u.i);
    else if (v.t == JV_BOOL) *out = jv_float(v.u.b);
    else if (v.t == JV_STR && v.u.s.n < 64) {
        char tmp[64], *end;
        memcpy(tmp, v.u.s.p, v.u.s.n);
        tmp[v.u.s.n] = '\0';
        double f = strtod(tmp, &end);
        while (*end && isspace((unsigned char)*end)) end++;
        if (end != tmp && !*end) *out = jv_float(f);
    }
    return HEARTH_OK;
}

static hearth_status f_tojson(jctx *c, jv v, const jargs *a, jv *out) {
    const jv *ind = arg(a, 0, "indent");
    const jv *sk = jb_kwarg(a, "sort_keys");
    char spaces[64];
    const char *istr = NULL;
    size_t il = 0;
    if (ind && ind->t == JV_INT) {
        int64_t w = ind->u.i < 0 ? 0 : ind->u.i > 32 ? 32 : ind->u.i;
        memset(spaces, ' ', (size_t)w);
        istr = spaces;
        il = (size_t)w;
    } else if (ind && ind->t == JV_STR) {
        istr = ind->u.s.p;
        il = ind->u.s.n;
    }
    jbuf b = {0};
    hearth_status st = jv_write_json(&b, v, istr, il, sk && jv_truthy(*sk), 0);
    if (st != HEARTH_OK && st != HEARTH_ERR_NOMEM && st != HEARTH_ERR_RANGE) {
        jbuf_free(&b);
        return jx_fail(c, st, "%s", hearth_error_last());
    }
    return buf_to_str(c, &b, st, out);
}

static hearth_status f_indent(jctx *c, jv v, const jargs *a, jv *out) {
    jv s;
    TRY(jx_to_str(c, v, &s));
    const jv *w = arg(a, 0, "width");
    bool first = arg_bool(a, 1, "first", false), blank = arg_bool(a, 2, "blank", false);
    const char *ind = "    ";
    size_t il = 4;
    char spaces[256];
    if (w && w->t == JV_STR) {
        ind = w->u.s.p;
        il = w->u.s.n;
    } else if (w) {
        int64_t n = 0;
        TRY(need_int(c, w, "indent", &n));
        if (n < 0) n = 0;
        if (n > 255) n = 255;
        memset(spaces, ' ', (size_t)n);
        ind = spaces;
        il = (size_t)n;
    }
    jbuf b = {0};
    hearth_status st = HEARTH_OK;
    const char *p = s.u.s.p;
    size_t n = s.u.s.n, i = 0;
    bool line_no = 0;
    if (first && st == HEARTH_OK) st = jbuf_add(&b, ind, il);
    /* Lines after the first are indented; blank lines only with blank=True.
     * A trailing newline starts one more (empty) line, as in Jinja, which
     * appends "\n" before splitlines(). */
    while (st == HEARTH_OK) {
        size_t j = i;
        while (j < n && p[j] != '\n' && p[j] != '\r') j++;
        if (line_no) {
            st = jbuf_add(&b, "\n", 1);
            if (st == HEARTH_OK && (blank || j > i)) st = jbuf_add(&b, ind, il);
        }
        if (st == HEARTH_OK) st = jbuf_add(&b, p + i, j - i);
        line_no = 1;
        if (j >= n) break;
        if (p[j] == '\r' && j + 1 < n && p[j + 1] == '\n') j++;
        i = j + 1;
    }
    return buf_to_str(c, &b, st, out);
}

static hearth_status f_escape(jctx *c, jv v, jv *out) {
    jv s;
    TRY(jx_to_str(c, v, &s));
    jbuf b = {0};
    hearth_status st = HEARTH_OK;
    for (size_t i = 0; i < s.u.s.n && st == HEARTH_OK; i++) {
        char ch = s.u.s.p[i];
        const char *e = ch == '&' ? "&amp;" : ch == '<' ? "&lt;" : ch == '>' ? "&gt;" : ch == '"' ? "&#34;"
                      : ch == '\'' ? "&#39;" : NULL;
        st = e ? jbuf_add(&b, e, strlen(e)) : jbuf_add(&b, &ch, 1);
    }
    return buf_to_str(c, &b, st, out);
}

/* select/reject/selectattr/rejectattr. */
static hearth_status f_select(jctx *c, jv v, const jargs *a, bool attr, bool keep, jv *out) {
    jlist *items;
    TRY(jb_iter(c, v, &items));
    jlist *r = jlist_new(&c->arena, 0);
    if (!r) return jx_oom(c);
    size_t off = attr ? 1 : 0;
    if (attr && !a->npos) return jx_fail(c, HEARTH_ERR_TYPE, "selectattr needs an attribute name");
    const jv *test = a->npos > off ? &a->pos[off] : NULL;
    if (test) TRY(need_str(c, *test, "select test name"));
    jargs ta = {0};
    ta.pos = a->npos > off + 1 ? a->pos + off + 1 : NULL;
    ta.npos = a->npos > off + 1 ? a->npos - off - 1 : 0;
    for (size_t i = 0; i < items->n; i++) {
        jv x = items->v[i];
        if (attr) TRY(attr_path(c, x, &a->pos[0], &x));
        bool ok = false;
        if (test) TRY(jb_test(c, test->u.s.p, test->u.s.n, x, &ta, &ok));
        else ok = jv_truthy(x);
        if (ok == keep && !jlist_push(&c->arena, r, items->v[i])) return jx_oom(c);
    }
    *out = list_val(r);
    return HEARTH_OK;
}

static hearth_status f_map(jctx *c, jv v, const jargs *a, jv *out) {
    jlist *items;
    TRY(jb_iter(c, v, &items));
    jlist *r = jlist_new(&c->arena, items->n);
    if (!r) return jx_oom(c);
    const jv *attr = jb_kwarg(a, "attribute"), *dflt = jb_kwarg(a, "default");
    if (!attr && !a->npos) return jx_fail(c, HEARTH_ERR_TYPE, "map needs a filter name or attribute=");
    if (!attr) TRY(need_str(c, a->pos[0], "map filter name"));
    jargs fa = {0};
    if (!attr) {
        fa.pos = a->npos > 1 ? a->pos + 1 : NULL;
        fa.npos = a->npos - 1;
        fa.kwn = a->kwn;
        fa.kwl = a->kwl;
        fa.kwv = a->kwv;
        fa.nkw = a->nkw;
    }
    for (size_t i = 0; i < items->n; i++) {
        jv x;
        if (attr) {
            TRY(attr_path(c, items->v[i], attr, &x));
            if (x.t == JV_UNDEF && dflt) x = *dflt;
        } else {
            TRY(jb_filter(c, a->pos[0].u.s.p, a->pos[0].u.s.n, items->v[i], &fa, &x));
        }
        r->v[r->n++] = x;
    }
    *out = list_val(r);
    return HEARTH_OK;
}

static hearth_status f_unique(jctx *c, jv v, const jargs *a, jv *out) {
    jlist *items;
    TRY(jb_iter(c, v, &items));
    bool cs = arg_bool(a, 0, "case_sensitive", false);
    const jv *attr = arg(a, 1, "attribute");
    jlist *r = jlist_new(&c->arena, 0), *seen = jlist_new(&c->arena, 0);
    if (!r || !seen) return jx_oom(c);
    for (size_t i = 0; i < items->n; i++) {
        jv k = items->v[i];
        if (attr) TRY(attr_path(c, k, attr, &k));
        TRY(fold_key(c, k, cs, &k));
        TRY(jx_charge(c, seen->n));
        bool dup = false;
        for (size_t j = 0; j < seen->n && !dup; j++) dup = jv_eq(seen->v[j], k);
        if (dup) continue;
        if (!jlist_push(&c->arena, seen, k) || !jlist_push(&c->arena, r, items->v[i])) return jx_oom(c);
    }
    *out = list_val(r);
    return HEARTH_OK;
}

static hearth_status f_minmax(jctx *c, jv v, const jargs *a, bool want_max, jv *out) {
    jlist *items;
    TRY(jb_iter(c, v, &items));
    bool cs = arg_bool(a, 0, "case_sensitive", false);
    const jv *attr = arg(a, 1, "attribute");
    *out = jv_undef();
    jv best_key = jv_undef();
    for (size_t i = 0; i < items->n; i++) {
        jv k = items->v[i];
        if (attr) TRY(attr_path(c, k, attr, &k));
        TRY(fold_key(c, k, cs, &k));
        bool err = false;
        if (i == 0 || (want_max ? jv_cmp(k, best_key, &err) > 0 : jv_cmp(k, best_key, &err) < 0)) {
            *out = items->v[i];
            best_key = k;
        }
        if (err) return jx_fail(c, HEARTH_ERR_TYPE, "cannot compare '%s' values", jv_type_name(k));
    }
    return HEARTH_OK;
}

static hearth_status f_sum(jctx *c, jv v, const jargs *a, jv *out) {
    jlist *items;
    TRY(jb_iter(c, v, &items));
    const jv *attr = arg(a, 0, "attribute"), *start = arg(a, 1, "start");
    int64_t si = 0;
    double sf = 0;
    bool is_float = false;
    if (start) {
        if (start->t == JV_FLOAT) { is_float = true; sf = start->u.f; }
        else TRY(need_int(c, start, "sum start", &si));
    }
    for (size_t i = 0; i < items->n; i++) {
        jv x = items->v[i];
        if (attr) TRY(attr_path(c, x, attr, &x));
        if (x.t == JV_FLOAT) {
            if (!is_float) { sf = (double)si; is_float = true; }
            sf += x.u.f;
        } else if (x.t == JV_INT || x.t == JV_BOOL) {
            int64_t xi = x.t == JV_INT ? x.u.i : x.u.b;
            if (is_float) sf += (double)xi;
            else if (__builtin_add_overflow(si, xi, &si)) return jx_fail(c, HEARTH_ERR_RANGE, "sum overflow");
        } else {
            return jx_fail(c, HEARTH_ERR_TYPE, "unsupported operand type(s) for +: 'int' and '%s'", jv_type_name(x));
        }
    }
    *out = is_float ? jv_float(sf) : jv_int(si);
    return HEARTH_OK;
}

static hearth_status f_round(jctx *c, jv v, const jargs *a, jv *out) {
    int64_t prec = 0;
    const jv *p = arg(a, 0, "precision"), *m = arg(a, 1, "method");
    if (p) TRY(need_int(c, p, "round precision", &prec));
    if (prec > 300) prec = 300;
    if (prec < -300) prec = -300;
    double f;
    if (v.t == JV_FLOAT) f = v.u.f;
    else if (v.t == JV_INT || v.t == JV_BOOL) f = (double)(v.t == JV_INT ? v.u.i : v.u.b);
    else return jx_fail(c, HEARTH_ERR_TYPE, "round expects a number, got %s", jv_type_name(v));
    const char *method_ = "common";
    size_t ml = 6;
    if (m) {
        TRY(need_str(c, *m, "round method"));
        method_ = m->u.s.p;
        ml = m->u.s.n;
    }
    if (name_is(method_, ml, "common")) {
        if ((v.t == JV_INT || v.t == JV_BOOL) && prec >= 0) {
            *out = jv_int(v.t == JV_INT ? v.u.i : v.u.b);
            return HEARTH_OK;
        }
        if (prec >= 0 && prec <= 17 && isfinite(f)) {
            char tmp[400];
            snprintf(tmp, sizeof tmp, "%.*f", (int)prec, f); /* correctly rounded, ties to even */
            *out = jv_float(strtod(tmp, NULL));
        } else {
            double s = pow(10.0, (double)prec);
            *out = jv_float(rint(f * s) / s);
        }
        return HEARTH_OK;
    }
    double s = pow(10.0, (double)prec);
    if (name_is(method_, ml, "ceil")) *out = jv_float(ceil(f * s) / s);
    else if (name_is(method_, ml, "floor")) *out = jv_float(floor(f * s) / s);
    else return jx_fail(c, HEARTH_ERR_INVALID, "method must be common, ceil or floor");
    return HEARTH_OK;
}

static hearth_status f_format(jctx *c, jv v, const jargs *a, jv *out) {
    /* printf-style "%s" % args, the subset templates use: %s %d %i %f %r %%. */
    TRY(need_str(c, v, "format"));
    jbuf b = {0};
    hearth_status st = HEARTH_OK;
    size_t ai = 0;
    for (size_t i = 0; i < v.u.s.n && st == HEARTH_OK; i++) {
        char ch = v.u.s.p[i];
        if (ch != '%' || i + 1 >= v.u.s.n) { st = jbuf_add(&b, &ch, 1); continue; }
        char f = v.u.s.p[++i];
        if (f == '%') { st = jbuf_add(&b, "%", 1); continue; }
        const jv *x = arg(a, ai++, NULL);
        if (!x) { st = jx_fail(c, HEARTH_ERR_INVALID, "not enough arguments for format string"); break; }
        if (f == 'r') st = jv_write_repr(&b, *x);
        else if ((f == 'd' || f == 'i') && x->t == JV_FLOAT) st = jv_write_str(&b, jv_int((int64_t)x->u.f));
        else st = jv_write_str(&b, *x);
    }
    return buf_to_str(c, &b, st, out);
}

hearth_status jb_filter(jctx *c, const char *name, size_t nlen, jv v, const jargs *a, jv *out) {
    TRY(jx_charge(c, 1));
#define F(lit) name_is(name, nlen, lit)
    if (F("default") || F("d")) {
        const jv *d = arg(a, 0, "default_value");
        bool boolean = arg_bool(a, 1, "boolean", false);
        if (v.t == JV_UNDEF || (boolean && !jv_truthy(v))) *out = d ? *d : jv_str("", 0);
        else *out = v;
        return HEARTH_OK;
    }
    if (F("tojson")) return f_tojson(c, v, a, out);
    if (F("safe")) return jx_to_str(c, v, out); /* Markup(str(v)) */
    if (F("string")) return jx_to_str(c, v, out);
    if (F("length") || F("count")) {
        int64_t n = 0;
        TRY(length_of(c, v, &n));
        *out = jv_int(n);
        return HEARTH_OK;
    }
    if (F("trim")) {
        jv s;
        TRY(jx_to_str(c, v, &s));
        const jv *chars_ = arg(a, 0, "chars");
        if (chars_ && chars_->t != JV_NONE) TRY(need_str(c, *chars_, "trim"));
        *out = strip(s, chars_ && chars_->t != JV_NONE ? chars_ : NULL, 3);
        return HEARTH_OK;
    }
    if (F("upper") || F("lower") || F("capitalize") || F("title")) {
        jv s;
        TRY(jx_to_str(c, v, &s));
        return recase(c, s, F("upper") ? CASE_UPPER : F("lower") ? CASE_LOWER
                            : F("capitalize") ? CASE_CAPITALIZE : CASE_TITLE_JINJA, out);
    }
    if (F("replace")) {
        jv s;
        TRY(jx_to_str(c, v, &s));
        const jv *o = arg(a, 0, "old"), *n = arg(a, 1, "new"), *cnt = arg(a, 2, "count");
        if (!o || !n) return jx_fail(c, HEARTH_ERR_TYPE, "replace needs old and new");
        jv os, ns;
        TRY(jx_to_str(c, *o, &os));
        TRY(jx_to_str(c, *n, &ns));
        int64_t count = -1;
        if (cnt && cnt->t != JV_NONE) TRY(need_int(c, cnt, "replace count", &count));
        return str_replace(c, s, os, ns, count, out);
    }
    if (F("join")) {
        const jv *sep = arg(a, 0, "d"), *attr = arg(a, 1, "attribute");
        jv sv = jv_str("", 0);
        if (sep) TRY(jx_to_str(c, *sep, &sv));
        if (attr && attr->t != JV_STR && attr->t != JV_NONE) return jx_fail(c, HEARTH_ERR_TYPE, "join attribute must be a string");
        bool has_attr = attr && attr->t == JV_STR;
        return str_join(c, sv, v, has_attr ? attr->u.s.p : NULL, has_attr ? attr->u.s.n : 0, out);
    }
    if (F("first") || F("last")) {
        jlist *items;
        TRY(jb_iter(c, v, &items));
        *out = items->n ? items->v[F("first") ? 0 : items->n - 1] : jv_undef();
        return HEARTH_OK;
    }
    if (F("list")) {
        jlist *items;
        TRY(jb_iter(c, v, &items));
        jlist *r = jlist_new(&c->arena, items->n);
        if (!r) return jx_oom(c);
        if (items->n) memcpy(r->v, items->v, items->n * sizeof(jv));
        r->n = items->n;
        *out = list_val(r);
        return HEARTH_OK;
    }
    if (F("items")) {
        if (v.t == JV_UNDEF) {
            jlist *r = jlist_new(&c->arena, 0);
            if (!r) return jx_oom(c);
            *out = list_val(r);
            return HEARTH_OK;
        }
        if (v.t != JV_DICT && v.t != JV_NS)
            return jx_fail(c, HEARTH_ERR_TYPE, "items expects a mapping, got %s", jv_type_name(v));
        return dict_items(c, v.u.d, 0, out);
    }
    if (F("dictsort")) {
        if (v.t != JV_DICT) return jx_fail(c, HEARTH_ERR_TYPE, "dictsort expects a mapping");
        bool cs = arg_bool(a, 0, "case_sensitive", false), rev = arg_bool(a, 2, "reverse", false);
        const jv *by = arg(a, 1, "by");
        jv pairs;
        TRY(dict_items(c, v.u.d, 0, &pairs));
        jv pos = jv_int(by && by->t == JV_STR && name_is(by->u.s.p, by->u.s.n, "value") ? 1 : 0);
        jlist *r;
        TRY(sorted(c, pairs.u.l, &pos, cs, rev, &r));
        *out = list_val(r);
        return HEARTH_OK;
    }
    if (F("sort")) {
        jlist *items, *r;
        TRY(jb_iter(c, v, &items));
        bool rev = arg_bool(a, 0, "reverse", false), cs = arg_bool(a, 1, "case_sensitive", false);
        const jv *attr = arg(a, 2, "attribute");
        if (attr && attr->t == JV_NONE) attr = NULL;
        TRY(sorted(c, items, attr, cs, rev, &r));
        *out = list_val(r);
        return HEARTH_OK;
    }
    if (F("reverse")) {
        if (v.t == JV_STR) {
            jlist *ch;
            TRY(chars(c, v, &ch));
            char *d = jarena_alloc(&c->arena, v.u.s.n + 1);
            if (!d) return jx_oom(c);
            size_t o = 0;
            for (size_t i = ch->n; i > 0; i--) {
                memcpy(d + o, ch->v[i - 1].u.s.p, ch->v[i - 1].u.s.n);
                o += ch->v[i - 1].u.s.n;
            }
            d[o] = '\0';
            *out = jv_str(d, o);
            return HEARTH_OK;
        }
        jlist *items;
        TRY(jb_iter(c, v, &items));
        jlist *r = jlist_new(&c->arena, items->n);
        if (!r) return jx_oom(c);
        for (size_t i = 0; i < items->n; i++) r->v[i] = items->v[items->n - 1 - i];
        r->n = items->n;
        *out = list_val(r);
        return HEARTH_OK;
    }
    if (F("select")) return f_select(c, v, a, false, true, out);
    if (F("reject")) return f_select(c, v, a, false, false, out);
    if (F("selectattr")) return f_select(c, v, a, true, true, out);
    if (F("rejectattr")) return f_select(c, v, a, true, false, out);
    if (F("map")) return f_map(c, v, a, out);
    if (F("unique")) return f_unique(c, v, a, out);
    if (F("min")) return f_minmax(c, v, a, false, out);
    if (F("max")) return f_minmax(c, v, a, true, out);
    if (F("sum")) return f_sum(c, v, a, out);
    if (F("int")) return to_int(c, v, a, out);
    if (F("float")) return to_float(c, v, a, out);
    if (F("abs")) {
        if (v.t == JV_INT) {
            if (v.u.i == INT64_MIN) return jx_fail(c, HEARTH_ERR_RANGE, "integer overflow");
            *out = jv_int(v.u.i < 0 ? -v.u.i : v.u.i);
        } else if (v.t == JV_BOOL) *out = jv_int(v.u.b);
        else if (v.t == JV_FLOAT) *out = jv_float(fabs(v.u.f));
        else return jx_fail(c, HEARTH_ERR_TYPE, "bad operand type for abs(): '%s'", jv_type_name(v));
        return HEARTH_OK;
    }
    if (F("round")) return f_round(c, v, a, out);
    if (F("indent")) return f_indent(c, v, a, out);
    if (F("escape") || F("e") || F("forceescape")) return f_escape(c, v, out);
    if (F("attr")) {
        const jv *n = arg(a, 0, "name");
        if (!n) return jx_fail(c, HEARTH_ERR_TYPE, "attr needs a name");
        TRY(need_str(c, *n, "attr"));
        return jb_getattr(c, v, n->u.s.p, n->u.s.n, out);
    }
    if (F("batch")) {
        int64_t size = 0;
        TRY(need_int(c, arg(a, 0, "linecount"), "batch", &size));
        if (size <= 0) return jx_fail(c, HEARTH_ERR_INVALID, "batch size must be positive");
        const jv *fill = arg(a, 1, "fill_with");
        jlist *items;
        TRY(jb_iter(c, v, &items));
        jlist *r = jlist_new(&c->arena, 0), *cur = NULL;
        if (!r) return jx_oom(c);
        for (size_t i = 0; i < items->n; i++) {
            if (!cur || cur->n == (size_t)size) {
                cur = jlist_new(&c->arena, 0);
                if (!cur || !jlist_push(&c->arena, r, list_val(cur))) return jx_oom(c);
            }
            if (!jlist_push(&c->arena, cur, items->v[i])) return jx_oom(c);
        }
        while (fill && cur && cur->n < (size_t)size)
            if (!jlist_push(&c->arena, cur, *fill)) return jx_oom(c);
        *out = list_val(r);
        return HEARTH_OK;
    }
    if (F("wordcount")) { /* runs of \w (non-ASCII counts as a word character) */
        jv s;
        TRY(jx_to_str(c, v, &s));
        int64_t words = 0;
        bool in_word = false;
        for (size_t i = 0; i < s.u.s.n; i++) {
            unsigned char ch = (unsigned char)s.u.s.p[i];
            bool w = isalnum(ch) || ch == '_' || ch >= 0x80;
            if (w && !in_word) words++;
            in_word = w;
        }
        *out = jv_int(words);
        return HEARTH_OK;
    }
    if (F("center")) {
        jv s;
        TRY(jx_to_str(c, v, &s));
        const jv *w = arg(a, 0, "width");
        jv dw = jv_int(80);
        jargs ca = {w ? w : &dw, 1, NULL, NULL, NULL, 0};
        return str_method(c, s, "center", 6, &ca, out);
    }
    if (F("format")) return f_format(c, v, a, out);
    if (F("pprint")) {
        jbuf b = {0};
        hearth_status st = jv_write_repr(&b, v);
        return buf_to_str(c, &b, st, out);
    }
#undef F
    return jx_fail(c, HEARTH_ERR_UNSUPPORTED, "no filter named '%.*s'", (int)nlen, name);
}

/* ---- tests ------------------------------------------------------------ */

hearth_status jb_test(jctx *c, const char *name, size_t nlen, jv v, const jargs *a, bool *out) {
    const jv *x = arg(a, 0, NULL);
#define T(lit) name_is(name, nlen, lit)
    if (T("defined")) *out = v.t != JV_UNDEF;
    else if (T("undefined")) *out = v.t == JV_UNDEF;
    else if (T("none")) *out = v.t == JV_NONE;
    else if (T("boolean")) *out = v.t == JV_BOOL;
    else if (T("true")) *out = v.t == JV_BOOL && v.u.b;
    else if (T("false")) *out = v.t == JV_BOOL && !v.u.b;
    else if (T("integer")) *out = v.t == JV_INT;
    else if (T("float")) *out = v.t == JV_FLOAT;
    else if (T("number")) *out = v.t == JV_INT || v.t == JV_FLOAT || v.t == JV_BOOL;
    else if (T("string")) *out = v.t == JV_STR;
    else if (T("mapping")) *out = v.t == JV_DICT;
    else if (T("iterable")) *out = v.t == JV_STR || v.t == JV_LIST || v.t == JV_DICT || v.t == JV_UNDEF;
    else if (T("sequence")) *out = v.t == JV_STR || v.t == JV_LIST || v.t == JV_DICT;
    else if (T("callable")) *out = v.t == JV_MACRO || v.t == JV_FUNC || v.t == JV_METHOD;
    else if (T("escaped")) *out = false;
    else if (T("lower") || T("upper")) {
        jv r, s;
        jargs none = {0};
        TRY(jx_to_str(c, v, &s)); /* Jinja tests str(value) */
        TRY(str_method(c, s, T("lower") ? "islower" : "isupper", 7, &none, &r));
        *out = r.u.b;
    } else if (T("even") || T("odd")) {
        if (v.t == JV_FLOAT) {
            *out = (fmod(v.u.f, 2.0) == 0) == T("even");
            return HEARTH_OK;
        }
        int64_t i = 0;
        TRY(need_int(c, &v, "even/odd", &i));
        *out = (i % 2 == 0) == T("even");
    } else if (T("divisibleby")) {
        jv r;
        if (!x) return jx_fail(c, HEARTH_ERR_TYPE, "divisibleby needs an argument");
        hearth_status st = HEARTH_OK;
        bool err = false;
        if ((v.t == JV_INT || v.t == JV_BOOL) && (x->t == JV_INT || x->t == JV_BOOL)) {
            int64_t a_ = v.t == JV_INT ? v.u.i : v.u.b, b_ = x->t == JV_INT ? x->u.i : x->u.b;
            if (b_ == 0) return jx_fail(c, HEARTH_ERR_INVALID, "integer division or modulo by zero");
            *out = b_ == -1 || a_ % b_ == 0;
            return HEARTH_OK;
        }
        if (!jv_is_number(v) || !jv_is_number(*x)) err = true;
        if (err) return jx_fail(c, HEARTH_ERR_TYPE, "divisibleby expects numbers");
        double fa = v.t == JV_FLOAT ? v.u.f : (double)v.u.i, fb = x->t == JV_FLOAT ? x->u.f : (double)x->u.i;
        if (fb == 0) return jx_fail(c, HEARTH_ERR_INVALID, "float modulo");
        r = jv_float(fmod(fa, fb));
        *out = r.u.f == 0;
        return st;
    } else if (T("eq") || T("equalto") || T("==") || T("ne") || T("!=") || T("sameas")) {
        if (!x) return jx_fail(c, HEARTH_ERR_TYPE, "test '%.*s' needs an argument", (int)nlen, name);
        bool eq = jv_eq(v, *x);
        if (T("sameas")) eq = eq && v.t == x->t && (v.t <= JV_STR || v.t == x->t);
        *out = (T("ne") || T("!=")) ? !eq : eq;
    } else if (T("lt") || T("lessthan") || T("<") || T("le") || T("<=") || T("gt") || T("greaterthan") ||
               T(">") || T("ge") || T(">=")) {
        if (!x) return jx_fail(c, HEARTH_ERR_TYPE, "test '%.*s' needs an argument", (int)nlen, name);
        bool err = false;
        int r = jv_cmp(v, *x, &err);
        if (err) return jx_fail(c, HEARTH_ERR_TYPE, "cannot compare '%s' and '%s'", jv_type_name(v), jv_type_name(*x));
        if (T("lt") || T("lessthan") || T("<")) *out = r < 0;
        else if (T("le") || T("<=")) *out = r <= 0;
        else if (T("gt") || T("greaterthan") || T(">")) *out = r > 0;
        else *out = r >= 0;
    } else if (T("in")) {
        if (!x) return jx_fail(c, HEARTH_ERR_TYPE, "test 'in' needs an argument");
        if (x->t == JV_STR) {
            TRY(need_str(c, v, "'in <string>'"));
            *out = find_sub(x->u.s.p, x->u.s.n, v.u.s.p, v.u.s.n, 0) != NULL;
        } else {
            jlist *items;
            TRY(jb_iter(c, *x, &items));
            *out = false;
            for (size_t i = 0; i < items->n && !*out; i++) *out = jv_eq(items->v[i], v);
        }
    } else {
        return jx_fail(c, HEARTH_ERR_UNSUPPORTED, "no test named '%.*s'", (int)nlen, name);
    }
#undef T
    return HEARTH_OK;
}
