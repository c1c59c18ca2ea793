/* toolcall.c - tool calls out of generated text, per chat family.
 *
 * Every family goes through the same pipeline, most specific first, and
 * stops at the first stage that finds a call:
 *   1. the family's own marker: Mistral [TOOL_CALLS] (a JSON array, one or
 *      more objects, or the v11 form name[ARGS]{...}); Llama 3
 *      <|python_tag|> (JSON objects or a Python-style name.call(k=v));
 *   2. Hermes tags <tool_call>...</tool_call> (Qwen, ChatML fine-tunes, and
 *      a common fallback for the rest); an unclosed last tag runs to the end;
 *   3. the whole reply (optionally in a ``` fence) as one or more bare JSON
 *      objects that each have a name and arguments/parameters.
 * A span whose JSON does not parse, or whose objects are not calls, stays in
 * the content: nothing is dropped silently.
 */
#include <ctype.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hearth/alloc.h"
#include "hearth/toolcall.h"

/* ---- output accumulation -------------------------------------------------- */

/* A byte range of the input to cut out of the content. */
typedef struct cut {
    size_t lo, hi;
} cut;

typedef struct tc_ctx {
    const char *text;
    size_t len;
    json_t *calls;
    cut *cuts;
    size_t n_cuts, cap_cuts;
    hearth_status st; /* first allocation failure */
    bool need_args;   /* bare JSON: a name alone is data, not a call */
} tc_ctx;

static void add_cut(tc_ctx *cx, size_t lo, size_t hi) {
    if (cx->st) return;
    if (cx->n_cuts == cx->cap_cuts) {
        size_t nc = cx->cap_cuts ? cx->cap_cuts * 2 : 8;
        cut *q = hearth_reallocarray(cx->cuts, nc, sizeof(*q));
        if (!q) {
            cx->st = hearth_error_set(HEARTH_ERR_NOMEM, "tool call parse");
            return;
        }
        cx->cuts = q;
        cx->cap_cuts = nc;
    }
    cx->cuts[cx->n_cuts++] = (cut){lo, hi};
}

/* A fresh call id: "call_" and 24 hex digits from a process-wide counter
 * mixed with the clock, so ids differ across calls and requests. */
static void new_call_id(char out[32]) {
    static atomic_uint_fast64_t counter;
    uint64_t n = (uint64_t)atomic_fetch_add(&counter, 1) + 1;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = n * 0x9E3779B97F4A7C15ull ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)ts.tv_nsec;
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBull;
    x ^= x >> 31;
    snprintf(out, 32, "call_%016llx%08llx", (unsigned long long)x, (unsigned long long)(n & 0xFFFFFFFFu));
}

/* ---- JSON helpers ------------------------------------------------------------ */

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static size_t skip_ws(const char *s, size_t len, size_t i) {
    while (i < len && is_ws(s[i])) i++;
    return i;
}

static bool starts(const char *s, size_t len, size_t i, const char *lit) {
    size_t n = strlen(lit);
    return i + n <= len && memcmp(s + i, lit, n) == 0;
}

/* Finds `lit` in s[from..len); returns its index or len. */
static size_t find(const char *s, size_t len, size_t from, const char *lit) {
    size_t n = strlen(lit);
    for (size_t i = from; i + n <= len; i++)
        if (s[i] == lit[0] && memcmp(s + i, lit, n) == 0) return i;
    return len;
}

/* The end of the JSON object or array starting at s[i] ('{' or '['), by
 * bracket depth outside strings; 0 when it does not close. Depth is bounded
 * so hostile input costs at most one linear scan. */
static size_t json_extent(const char *s, size_t len, size_t i) {
    if (i >= len || (s[i] != '{' && s[i] != '[')) return 0;
    size_t depth = 0;
    bool in_str = false;
    for (; i < len; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\') i++;
            else if (c == '"') in_str = false;
            continue;
        }
        if (c == '"') in_str = true;
        else if (c == '{' || c == '[') {
            if (++depth > 1000) return 0;
        } else if (c == '}' || c == ']') {
            if (depth == 0) return 0;
            if (--depth == 0) return i + 1;
        }
    }
    return 0;
}

/* Compact JSON text of a call's arguments: an object or array as is, a
 * string that holds JSON parsed first, anything else encoded; missing or
 * null arguments are "{}". Returns a jansson string or NULL (NOMEM). */
static json_t *arguments_text(const json_t *args) {
    json_t *parsed = NULL;
    if (!args || json_is_null(args)) return json_string("{}");
    if (json_is_string(args)) {
        parsed = json_loadb(json_string_value(args), json_string_length(args), JSON_DECODE_ANY, NULL);
        if (parsed) args = parsed;
    }
    char *txt = json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(parsed);
    if (!txt) return NULL;
    json_t *s = json_string(txt);
    free(txt); /* json_dumps allocates with jansson's allocator (malloc) */
    return s;
}

/* Whether `o` is a call object: {"name": str, "arguments"|"parameters": ...}
 * or an OpenAI-shaped {"function": {"name", "arguments"}}. Sets name/args. */
static bool call_parts(const json_t *o, bool need_args, const json_t **name, const json_t **args) {
    if (!json_is_object(o)) return false;
    const json_t *fn = json_object_get(o, "function");
    if (json_is_object(fn) && !json_object_get(o, "name")) o = fn;
    *name = json_object_get(o, "name");
    if (!json_is_string(*name) || json_string_length(*name) == 0) return false;
    *args = json_object_get(o, "arguments");
    if (!*args) *args = json_object_get(o, "parameters");
    if (!*args) *args = json_object_get(o, "args");
    /* inside explicit call markers a bare {"name": ..} is a call without
     * arguments; as a whole reply it is more likely data */
    return *args != NULL || (!need_args && json_object_size(o) == 1);
}

/* Appends one call in OpenAI's shape to a staging array. */
static hearth_status push_call(json_t *out, const json_t *name, const json_t *args) {
    char id[32];
    new_call_id(id);
    json_t *at = arguments_text(args);
    json_t *call = at ? json_pack("{s:s, s:s, s:{s:O, s:o}}", "id", id, "type", "function", "function", "name", name,
                                  "arguments", at)
                      : NULL;
    if (!call || json_array_append_new(out, call)) {
        if (!call) json_decref(at);
        return hearth_error_set(HEARTH_ERR_NOMEM, "tool call");
    }
    return HEARTH_OK;
}

/* Parses s[i..end) as a sequence of call objects or arrays of them,
 * separated by whitespace, ',' or ';'. Returns true (appending to `out`)
 * only if the whole range is calls and there is at least one. */
static bool parse_call_seq(tc_ctx *cx, const char *s, size_t i, size_t end, json_t *out) {
    size_t n0 = json_array_size(out);
    for (;;) {
        while (i < end && (is_ws(s[i]) || s[i] == ',' || s[i] == ';')) i++;
        if (i >= end) break;
        size_t e = json_extent(s, end, i);
        if (!e) return false;
        json_t *v = json_loadb(s + i, e - i, 0, NULL);
        if (!v) return false;
        const json_t *name, *args;
        bool ok = true;
        if (json_is_array(v)) {
            ok = json_array_size(v) > 0;
            for (size_t k = 0; ok && k < json_array_size(v); k++)
                ok = call_parts(json_array_get(v, k), cx->need_args, &name, &args);
            for (size_t k = 0; ok && k < json_array_size(v); k++) {
                call_parts(json_array_get(v, k), cx->need_args, &name, &args);
                if ((cx->st = push_call(out, name, args))) ok = false;
            }
        } else {
            ok = call_parts(v, cx->need_args, &name, &args);
            if (ok && (cx->st = push_call(out, name, args))) ok = false;
        }
        json_decref(v);
        if (!ok) return false;
        i = e;
    }
    return json_array_size(out) > n0;
}

/* Moves the staged calls into the result. */
static void commit(tc_ctx *cx, json_t *staged) {
    if (!cx->st && json_array_extend(cx->calls, staged)) cx->st = hearth_error_set(HEARTH_ERR_NOMEM, "tool call");
}

/* ---- Python-style calls (Llama 3 <|python_tag|>) -------------------------------- */

/* Parses one Python literal value at s[*i] into JSON. */
static json_t *py_value(const char *s, size_t len, size_t *i) {
    size_t p = *i;
    if (p >= len) return NULL;
    if (s[p] == '"' || s[p] == '\'') {
        char q = s[p++];
        size_t cap = len - p + 1, n = 0;
        char *buf = hearth_malloc(cap);
        if (!buf) return NULL;
        while (p < len && s[p] != q) {
            char c = s[p++];
            if (c == '\\' && p < len) {
                c = s[p++];
                if (c == 'n') c = '\n';
                else if (c == 't') c = '\t';
            }
            buf[n++] = c;
        }
        json_t *v = p < len ? json_stringn(buf, n) : NULL;
        hearth_free(buf);
        *i = p + 1;
        return v;
    }
    if (s[p] == '{' || s[p] == '[') {
        size_t e = json_extent(s, len, p);
        if (!e) return NULL;
        *i = e;
        return json_loadb(s + p, e - p, 0, NULL);
    }
    size_t e = p;
    while (e < len && s[e] != ',' && s[e] != ')' && !is_ws(s[e])) e++;
    size_t n = e - p;
    *i = e;
    if ((n == 4 && !memcmp(s + p, "True", 4)) || (n == 4 && !memcmp(s + p, "true", 4))) return json_true();
    if ((n == 5 && !memcmp(s + p, "False", 5)) || (n == 5 && !memcmp(s + p, "false", 5))) return json_false();
    if ((n == 4 && !memcmp(s + p, "None", 4)) || (n == 4 && !memcmp(s + p, "null", 4))) return json_null();
    return n ? json_loadb(s + p, n, JSON_DECODE_ANY, NULL) : NULL; /* a number */
}

/* name.call(k=v, ...) or name(k=v, ...) spanning all of s[i..end). */
static bool parse_python_call(tc_ctx *cx, const char *s, size_t i, size_t end, json_t *out) {
    i = skip_ws(s, end, i);
    size_t n0 = i;
    while (i < end && (isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '.')) i++;
    size_t nl = i - n0;
    if (!nl || i >= end || s[i] != '(') return false;
    if (nl > 5 && !memcmp(s + i - 5, ".call", 5)) nl -= 5;
    json_t *args = json_object(), *name = json_stringn(s + n0, nl);
    bool ok = args && name;
    i++;
    while (ok) {
        i = skip_ws(s, end, i);
        if (i < end && s[i] == ')') {
            i++;
            break;
        }
        size_t k0 = i;
        while (i < end && (isalnum((unsigned char)s[i]) || s[i] == '_')) i++;
        size_t kl = i - k0;
        i = skip_ws(s, end, i);
        if (!kl || i >= end || s[i] != '=') {
            ok = false;
            break;
        }
        i = skip_ws(s, end, i + 1);
        json_t *v = py_value(s, end, &i);
        char key[128];
        if (!v || kl >= sizeof key) {
            json_decref(v);
            ok = false;
            break;
        }
        memcpy(key, s + k0, kl);
        key[kl] = '\0';
        json_object_set_new(args, key, v);
        i = skip_ws(s, end, i);
        if (i < end && s[i] == ',') i++;
    }
    ok = ok && skip_ws(s, end, i) == end;
    if (ok && (cx->st = push_call(out, name, args))) ok = false;
    json_decref(args);
    json_decref(name);
    return ok;
}

/* ---- stages ---------------------------------------------------------------------- */

/* Mistral: [TOOL_CALLS] followed by a JSON array/objects, or name[ARGS]{..}
 * (optionally name[CALL_ID]id[ARGS]{..}); each marker's calls run to the
 * next marker or the end of the JSON. */
static void stage_mistral(tc_ctx *cx, size_t from) {
    static const char TAG[] = "[TOOL_CALLS]";
    const char *s = cx->text;
    size_t len = cx->len;
    for (size_t p = find(s, len, from, TAG); p < len && !cx->st; p = find(s, len, p + 1, TAG)) {
        size_t i = skip_ws(s, len, p + strlen(TAG));
        json_t *staged = json_array();
        if (!staged) {
            cx->st = hearth_error_set(HEARTH_ERR_NOMEM, "tool call");
            return;
        }
        size_t end = 0;
        if (i < len && (s[i] == '[' || s[i] == '{')) {
            /* one array or a run of objects, up to the last one that closes */
            size_t e = i, last = 0;
            while (e < len && (s[e] == '[' || s[e] == '{')) {
                size_t x = json_extent(s, len, e);
                if (!x) break;
                last = x;
                e = skip_ws(s, len, x);
                if (e < len && (s[e] == ',' || s[e] == ';')) e = skip_ws(s, len, e + 1);
            }
            if (last && parse_call_seq(cx, s, i, last, staged)) end = last;
        } else {
            /* name[ARGS]{...} */
            size_t n0 = i;
            while (i < len && (isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '-' || s[i] == '.')) i++;
            size_t nl = i - n0;
            if (nl && starts(s, len, i, "[CALL_ID]")) i = find(s, len, i, "[ARGS]");
            if (nl && starts(s, len, i, "[ARGS]")) {
                size_t a = i + 6, x = json_extent(s, len, a);
                json_t *args = x ? json_loadb(s + a, x - a, 0, NULL) : NULL;
                json_t *name = json_stringn(s + n0, nl);
                if (args && name && !(cx->st = push_call(staged, name, args))) end = x;
                json_decref(args);
                json_decref(name);
            }
        }
        if (end) {
            commit(cx, staged);
            add_cut(cx, p, end);
            p = end - 1;
        }
        json_decref(staged);
    }
}

/* Llama 3: <|python_tag|> then JSON call objects or a Python-style call,
 * up to <|eom_id|>/<|eot_id|> or the end. */
static void stage_python_tag(tc_ctx *cx, size_t from) {
    static const char TAG[] = "<|python_tag|>";
    const char *s = cx->text;
    size_t len = cx->len;
    size_t p = find(s, len, from, TAG);
    if (p >= len) return;
    size_t i = p + strlen(TAG);
    size_t end = find(s, len, i, "<|eom_id|>");
    size_t end2 = find(s, len, i, "<|eot_id|>");
    if (end2 < end) end = end2;
    size_t cut_end = end < len ? end + 10 : len; /* both end markers are 10 bytes */
    json_t *staged = json_array();
    if (!staged) {
        cx->st = hearth_error_set(HEARTH_ERR_NOMEM, "tool call");
        return;
    }
    size_t j = skip_ws(s, end, i);
    bool ok = (j < end && (s[j] == '{' || s[j] == '[')) ? parse_call_seq(cx, s, j, end, staged)
                                                       : parse_python_call(cx, s, j, end, staged);
    if (ok) {
        commit(cx, staged);
        add_cut(cx, p, cut_end);
    }
    json_decref(staged);
}

/* Hermes: <tool_call> JSON </tool_call>, any number of them. */
static void stage_hermes(tc_ctx *cx, size_t from) {
    static const char OPEN[] = "<tool_call>", CLOSE[] = "</tool_call>";
    const char *s = cx->text;
    size_t len = cx->len;
    for (size_t p = find(s, len, from, OPEN); p < len && !cx->st; p = find(s, len, p, OPEN)) {
        size_t b = p + strlen(OPEN);
        size_t e = find(s, len, b, CLOSE);
        size_t next_open = find(s, len, b, OPEN);
        size_t body_end = e < next_open ? e : next_open;
        size_t cut_end = (e < len && e == body_end) ? e + strlen(CLOSE) : body_end;
        json_t *staged = json_array();
        if (!staged) {
            cx->st = hearth_error_set(HEARTH_ERR_NOMEM, "tool call");
            return;
        }
        if (parse_call_seq(cx, s, b, body_end, staged)) {
            commit(cx, staged);
            add_cut(cx, p, cut_end);
        }
        json_decref(staged);
        p = cut_end > p ? cut_end : p + 1;
    }
}

/* The whole (trimmed) reply as bare call objects, optionally fenced in
 * ```json ... ```. */
static void stage_bare(tc_ctx *cx, size_t from) {
    const char *s = cx->text;
    size_t lo = skip_ws(s, cx->len, from), hi = cx->len;
    while (hi > lo && is_ws(s[hi - 1])) hi--;
    size_t blo = lo, bhi = hi;
    if (starts(s, hi, lo, "```")) {
        size_t nl = find(s, hi, lo, "\n");
        if (nl < hi && hi - lo >= 6 && !memcmp(s + hi - 3, "```", 3) && nl + 1 <= hi - 3) {
            blo = nl + 1;
            bhi = hi - 3;
        }
    }
    blo = skip_ws(s, bhi, blo);
    if (blo >= bhi || (s[blo] != '{' && s[blo] != '[')) return;
    json_t *staged = json_array();
    if (!staged) {
        cx->st = hearth_error_set(HEARTH_ERR_NOMEM, "tool call");
        return;
    }
    cx->need_args = true;
    if (parse_call_seq(cx, s, blo, bhi, staged)) {
        commit(cx, staged);
        add_cut(cx, lo, hi);
    }
    cx->need_args = false;
    json_decref(staged);
}

/* ---- entry ------------------------------------------------------------------------- */

static int cut_cmp(const void *a, const void *b) {
    const cut *x = a, *y = b;
    return (x->lo > y->lo) - (x->lo < y->lo);
}

/* Builds the content: the text without the cut ranges, trimmed. */
static char *build_content(tc_ctx *cx, size_t skip_lo, size_t skip_hi) {
    const char *s = cx->text;
    char *out = hearth_malloc(cx->len + 1);
    if (!out) return NULL;
    if (cx->n_cuts > 1) qsort(cx->cuts, cx->n_cuts, sizeof(cut), cut_cmp);
    size_t n = 0, i = 0;
    for (size_t k = 0; k <= cx->n_cuts; k++) {
        size_t stop = k < cx->n_cuts ? cx->cuts[k].lo : cx->len;
        for (; i < stop; i++)
            if (i < skip_lo || i >= skip_hi) out[n++] = s[i];
        if (k < cx->n_cuts && cx->cuts[k].hi > i) i = cx->cuts[k].hi;
    }
    size_t a = 0;
    while (a < n && is_ws(out[a])) a++;
    while (n > a && is_ws(out[n - 1])) n--;
    memmove(out, out + a, n - a);
    out[n - a] = '\0';
    return out;
}

/* See toolcall.h. Does not block; linear in the text apart from JSON parsing. */
hearth_status hearth_toolcall_parse(hearth_chat_family family, const char *text, size_t len, json_t **tool_calls,
                                    char **content) {
    if (!tool_calls || !content) return hearth_error_set(HEARTH_ERR_INVALID, "hearth_toolcall_parse: NULL output");
    *tool_calls = NULL;
    *content = NULL;
    if (!text && len) return hearth_error_set(HEARTH_ERR_INVALID, "hearth_toolcall_parse: NULL text");
    if (!text) text = "";
    tc_ctx cx = {.text = text, .len = len, .calls = json_array()};
    if (!cx.calls) return hearth_error_set(HEARTH_ERR_NOMEM, "tool call parse");
    /* Qwen3 reasons inside <think>..</think>: calls are looked for after it,
     * and an empty think block is not content. */
    size_t from = 0, skip_lo = 0, skip_hi = 0;
    if (family == HEARTH_CHAT_QWEN3) {
        size_t t = find(text, len, 0, "</think>");
        if (t < len) {
            from = t + 8;
            size_t o = find(text, t, 0, "<think>");
            size_t inner = o < t ? skip_ws(text, t, o + 7) : t;
            if (o < t && inner == t && skip_ws(text, o, 0) == o) {
                skip_lo = o;
                skip_hi = from;
            }
        }
    }
    if (family == HEARTH_CHAT_MISTRAL) stage_mistral(&cx, from);
    if (family == HEARTH_CHAT_LLAMA3) stage_python_tag(&cx, from);
    if (!cx.st && json_array_size(cx.calls) == 0) stage_hermes(&cx, from);
    if (!cx.st && json_array_size(cx.calls) == 0 && family != HEARTH_CHAT_MISTRAL) stage_mistral(&cx, from);
    if (!cx.st && json_array_size(cx.calls) == 0) stage_bare(&cx, from);
    char *c = cx.st ? NULL : build_content(&cx, skip_lo, skip_hi);
    hearth_free(cx.cuts);
    if (!c) {
        json_decref(cx.calls);
        return cx.st ? cx.st : hearth_error_set(HEARTH_ERR_NOMEM, "tool call parse");
    }
    *tool_calls = cx.calls;
    *content = c;
    return HEARTH_OK;
}
