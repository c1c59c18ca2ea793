/* json_schema.c - JSON Schema (the subset constraint.h lists) to the node
 * graph the constrained decoder runs.
 *
 * Compilation is one recursive pass over the schema; $ref targets are
 * compiled once each through an alias node (so recursive schemas become
 * cycles in the graph), and afterwards aliases are resolved, nested unions
 * flattened, and every node's "mindepth" (frames needed to finish it)
 * computed by a fixpoint. A node whose mindepth exceeds the frame budget
 * cannot be finished in bounds: the runtime never enters it, and a schema
 * whose root is such a node (unsatisfiable, infinitely recursive, or
 * nested too deeply) is rejected here.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/constraint_internal.h"
#include "hearth/alloc.h"

typedef struct ref_entry {
    char *ref;
    uint32_t node;
} ref_entry;

typedef struct cctx {
    hc_grammar *g;
    const json_t *root;
    ref_entry *refs;
    size_t n_refs, cap_refs;
    uint32_t any;    /* the any-value union, 0 until made */
    uint32_t keystr; /* string node for free-form keys */
    uint32_t empty;  /* an HC_EMPTY node */
} cctx;

/* ---- pools -------------------------------------------------------------- */

/* Grows an array to hold at least `need` items; returns HEARTH_OK or NOMEM. */
static hearth_status grow(void **p, uint32_t *cap, uint32_t need, size_t item) {
    if (need <= *cap) return HEARTH_OK;
    uint32_t nc = *cap ? *cap : 16;
    while (nc < need) {
        if (nc > UINT32_MAX / 2) return hearth_error_set(HEARTH_ERR_RANGE, "schema too large");
        nc *= 2;
    }
    void *q = hearth_reallocarray(*p, nc, item);
    if (!q) return hearth_error_set(HEARTH_ERR_NOMEM, "schema compile");
    *p = q;
    *cap = nc;
    return HEARTH_OK;
}

/* Appends a node; returns its id through *id. */
static hearth_status new_node(hc_grammar *g, hc_kind kind, uint32_t *id) {
    if (g->n_nodes >= HC_MAX_NODES)
        return hearth_error_set(HEARTH_ERR_RANGE, "schema too large (more than %u nodes)", HC_MAX_NODES);
    hearth_status st = grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes + 1, sizeof(hc_node));
    if (st) return st;
    hc_node *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof(*n));
    n->kind = (uint8_t)kind;
    n->mindepth = HC_INF;
    *id = g->n_nodes++;
    return HEARTH_OK;
}

static hearth_status put_bytes(hc_grammar *g, const void *p, size_t n) {
    if (n > HC_MAX_LITERAL_BYTES || g->n_bytes + n > HC_MAX_LITERAL_BYTES)
        return hearth_error_set(HEARTH_ERR_RANGE, "schema literals larger than %u bytes", HC_MAX_LITERAL_BYTES);
    hearth_status st = grow((void **)&g->bytes, &g->cap_bytes, g->n_bytes + (uint32_t)n, 1);
    if (st) return st;
    memcpy(g->bytes + g->n_bytes, p, n);
    g->n_bytes += (uint32_t)n;
    return HEARTH_OK;
}

static hearth_status put_alt(hc_grammar *g, uint32_t node) {
    if (g->n_alts >= HC_MAX_UNION_ALTS) return hearth_error_set(HEARTH_ERR_RANGE, "schema has too many alternatives");
    hearth_status st = grow((void **)&g->alts, &g->cap_alts, g->n_alts + 1, sizeof(uint32_t));
    if (st) return st;
    g->alts[g->n_alts++] = node;
    return HEARTH_OK;
}

/* ---- literals ------------------------------------------------------------ */

/* Appends `s` as a JSON string literal (quotes, escapes for '"', '\\' and
 * control characters, UTF-8 kept as is). */
static hearth_status put_json_string(hc_grammar *g, const char *s, size_t n) {
    hearth_status st = put_bytes(g, "\"", 1);
    for (size_t i = 0; i < n && !st; i++) {
        unsigned char ch = (unsigned char)s[i];
        char esc[8];
        if (ch == '"') st = put_bytes(g, "\\\"", 2);
        else if (ch == '\\') st = put_bytes(g, "\\\\", 2);
        else if (ch == '\n') st = put_bytes(g, "\\n", 2);
        else if (ch == '\t') st = put_bytes(g, "\\t", 2);
        else if (ch == '\r') st = put_bytes(g, "\\r", 2);
        else if (ch == '\b') st = put_bytes(g, "\\b", 2);
        else if (ch == '\f') st = put_bytes(g, "\\f", 2);
        else if (ch < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", ch);
            st = put_bytes(g, esc, 6);
        } else st = put_bytes(g, &ch, 1);
    }
    return st ? st : put_bytes(g, "\"", 1);
}

/* Appends the compact JSON text of `v` (reals in their shortest round-trip
 * form, kept real with ".0"). Bounded by the schema's own nesting. */
static hearth_status put_json(hc_grammar *g, const json_t *v, int depth) {
    char num[64];
    hearth_status st = HEARTH_OK;
    if (depth > HC_MAX_SCHEMA_DEPTH) return hearth_error_set(HEARTH_ERR_RANGE, "literal nested too deeply");
    switch (json_typeof(v)) {
    case JSON_NULL: return put_bytes(g, "null", 4);
    case JSON_TRUE: return put_bytes(g, "true", 4);
    case JSON_FALSE: return put_bytes(g, "false", 5);
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return put_bytes(g, num, strlen(num));
    case JSON_REAL: {
        double d = json_real_value(v);
        for (int p = 1; p <= 17; p++) {
            snprintf(num, sizeof num, "%.*g", p, d);
            if (strtod(num, NULL) == d) break;
        }
        if (!strpbrk(num, ".eE")) strcat(num, ".0");
        return put_bytes(g, num, strlen(num));
    }
    case JSON_STRING: return put_json_string(g, json_string_value(v), json_string_length(v));
    case JSON_ARRAY:
        st = put_bytes(g, "[", 1);
        for (size_t i = 0; i < json_array_size(v) && !st; i++) {
            if (i) st = put_bytes(g, ",", 1);
            if (!st) st = put_json(g, json_array_get(v, i), depth + 1);
        }
        return st ? st : put_bytes(g, "]", 1);
    case JSON_OBJECT: {
        const char *k;
        json_t *x;
        int first = 1;
        st = put_bytes(g, "{", 1);
        json_object_foreach((json_t *)v, k, x) {
            if (st) break;
            if (!first) st = put_bytes(g, ",", 1);
            first = 0;
            if (!st) st = put_json_string(g, k, strlen(k));
            if (!st) st = put_bytes(g, ":", 1);
            if (!st) st = put_json(g, x, depth + 1);
        }
        return st ? st : put_bytes(g, "}", 1);
    }
    }
    return hearth_error_set(HEARTH_ERR_INTERNAL, "unknown JSON type");
}

/* Appends one literal record for bytes [off, n_bytes). */
static hearth_status add_lit(hc_grammar *g, uint32_t off, uint32_t tag) {
    uint32_t len = g->n_bytes - off;
    if (len > HC_MAX_LITERAL_LEN)
        return hearth_error_set(HEARTH_ERR_RANGE, "schema literal longer than %u bytes", HC_MAX_LITERAL_LEN);
    hearth_status st = grow((void **)&g->lits, &g->cap_lits, g->n_lits + 1, sizeof(hc_lit));
    if (st) return st;
    g->lits[g->n_lits++] = (hc_lit){off, len, tag};
    return HEARTH_OK;
}

typedef struct lit_sort {
    const uint8_t *p;
    hc_lit lit;
} lit_sort;

static int lit_cmp(const void *a, const void *b) {
    const lit_sort *x = a, *y = b;
    uint32_t n = x->lit.len < y->lit.len ? x->lit.len : y->lit.len;
    int c = memcmp(x->p, y->p, n);
    if (c) return c;
    return (x->lit.len > y->lit.len) - (x->lit.len < y->lit.len);
}

/* Sorts lits[first .. n_lits) by bytes (a prefix before its extensions,
 * which the runtime's range narrowing relies on) and drops duplicates. */
static hearth_status sort_lits(hc_grammar *g, uint32_t first) {
    uint32_t n = g->n_lits - first;
    if (n < 2) return HEARTH_OK;
    lit_sort *tmp = hearth_malloc((size_t)n * sizeof(*tmp));
    if (!tmp) return hearth_error_set(HEARTH_ERR_NOMEM, "schema compile");
    for (uint32_t i = 0; i < n; i++) tmp[i] = (lit_sort){g->bytes + g->lits[first + i].off, g->lits[first + i]};
    qsort(tmp, n, sizeof(*tmp), lit_cmp);
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (k && lit_cmp(&tmp[i], &tmp[k - 1]) == 0) continue;
        tmp[k++] = tmp[i];
    }
    for (uint32_t i = 0; i < k; i++) g->lits[first + i] = tmp[i].lit;
    g->n_lits = first + k;
    hearth_free(tmp);
    return HEARTH_OK;
}

/* ---- schema walk ----------------------------------------------------------- */

static const char *const KW_IGNORED[] = {"title", "description", "default", "examples", "$schema", "$id",
                                         "$comment", "deprecated", "readOnly", "writeOnly", "$defs",
                                         "definitions", NULL};
static const char *const KW_OBJECT[] = {"properties", "required", "additionalProperties", NULL};
static const char *const KW_ARRAY[] = {"items", "minItems", "maxItems", NULL};
static const char *const KW_STRING[] = {"minLength", "maxLength", NULL};
static const char *const KW_OTHER[] = {"type", "enum", "const", "anyOf", "oneOf", "$ref", NULL};

static bool in_list(const char *k, const char *const *list) {
    for (; *list; list++)
        if (strcmp(k, *list) == 0) return true;
    return false;
}

/* Returns true when `s` has any keyword of `list`. */
static bool has_any(const json_t *s, const char *const *list) {
    for (; *list; list++)
        if (json_object_get(s, *list)) return true;
    return false;
}

/* The first constraint keyword of `s` other than `except` (NULL if none). */
static const char *other_constraint(const json_t *s, const char *except) {
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)s, k, v) {
        (void)v;
        if (in_list(k, KW_IGNORED) || strcmp(k, except) == 0) continue;
        return k;
    }
    return NULL;
}

static hearth_status compile(cctx *cx, const json_t *s, int depth, uint32_t *out);

/* Reads a non-negative integer keyword; *out keeps its value when absent. */
static hearth_status get_count(const json_t *s, const char *key, uint32_t *out) {
    json_t *v = json_object_get(s, key);
    if (!v) return HEARTH_OK;
    double d;
    if (json_is_integer(v)) d = (double)json_integer_value(v);
    else if (json_is_real(v) && floor(json_real_value(v)) == json_real_value(v)) d = json_real_value(v);
    else return hearth_error_set(HEARTH_ERR_INVALID, "schema: '%s' must be a non-negative integer", key);
    if (d < 0) return hearth_error_set(HEARTH_ERR_INVALID, "schema: '%s' must be a non-negative integer", key);
    *out = d >= (double)UINT32_MAX ? UINT32_MAX : (uint32_t)d;
    return HEARTH_OK;
}

/* The any-value node: a union of free-form object, array of any, string,
 * number and true/false/null. Made once, on first use. */
static hearth_status any_node(cctx *cx, uint32_t *out) {
    if (cx->any) {
        *out = cx->any;
        return HEARTH_OK;
    }
    hc_grammar *g = cx->g;
    uint32_t u = 0, map = 0, arr = 0, str = 0, num = 0, lit = 0;
    hearth_status st;
    if ((st = new_node(g, HC_UNION, &u))) return st;
    cx->any = u;
    if ((st = new_node(g, HC_MAP, &map)) || (st = new_node(g, HC_ARR, &arr)) ||
        (st = new_node(g, HC_STR, &str)) || (st = new_node(g, HC_NUM, &num)) || (st = new_node(g, HC_LIT, &lit)))
        return st;
    g->nodes[map].a = cx->keystr;
    g->nodes[map].b = u;
    g->nodes[arr].a = u;
    g->nodes[arr].b = 0;
    g->nodes[arr].c = UINT32_MAX;
    g->nodes[str].b = 0;
    g->nodes[str].c = HC_STR_DEFAULT_MAX;
    uint32_t first = g->n_lits;
    static const char *const words[] = {"false", "null", "true"};
    for (int i = 0; i < 3; i++) {
        uint32_t off = g->n_bytes;
        if ((st = put_bytes(g, words[i], strlen(words[i]))) || (st = add_lit(g, off, 0))) return st;
    }
    g->nodes[lit].a = first;
    g->nodes[lit].b = 3;
    g->nodes[u].a = g->n_alts;
    g->nodes[u].b = 5;
    uint32_t alts[5] = {map, arr, str, num, lit};
    for (int i = 0; i < 5; i++)
        if ((st = put_alt(g, alts[i]))) return st;
    *out = u;
    return HEARTH_OK;
}

/* Follows a JSON pointer fragment ("#/a/b") from the root; NULL if absent. */
static const json_t *resolve_pointer(const json_t *root, const char *ref) {
    const json_t *cur = root;
    const char *p = ref + 1; /* after '#' */
    char seg[256];
    while (*p) {
        if (*p != '/') return NULL;
        p++;
        size_t n = 0;
        while (*p && *p != '/') {
            char ch = *p++;
            if (ch == '~') {
                if (*p == '0') ch = '~';
                else if (*p == '1') ch = '/';
                else return NULL;
                p++;
            }
            if (n + 1 >= sizeof seg) return NULL;
            seg[n++] = ch;
        }
        seg[n] = '\0';
        if (json_is_object(cur)) cur = json_object_get(cur, seg);
        else if (json_is_array(cur)) {
            char *end;
            long idx = strtol(seg, &end, 10);
            if (!n || *end || idx < 0) return NULL;
            cur = json_array_get(cur, (size_t)idx);
        } else return NULL;
        if (!cur) return NULL;
    }
    return cur;
}

static hearth_status compile_ref(cctx *cx, const json_t *s, int depth, uint32_t *out) {
    const json_t *r = json_object_get(s, "$ref");
    if (!json_is_string(r)) return hearth_error_set(HEARTH_ERR_INVALID, "schema: '$ref' must be a string");
    const char *ref = json_string_value(r);
    const char *extra = other_constraint(s, "$ref");
    if (extra) return hearth_error_set(HEARTH_ERR_UNSUPPORTED, "schema: '$ref' together with '%s'", extra);
    if (ref[0] != '#') return hearth_error_set(HEARTH_ERR_UNSUPPORTED, "schema: only local $ref is supported ('%s')", ref);
    for (size_t i = 0; i < cx->n_refs; i++)
        if (strcmp(cx->refs[i].ref, ref) == 0) {
            *out = cx->refs[i].node;
            return HEARTH_OK;
        }
    const json_t *target = resolve_pointer(cx->root, ref);
    if (!target) return hearth_error_set(HEARTH_ERR_INVALID, "schema: $ref '%s' does not resolve", ref);
    uint32_t alias;
    hearth_status st = new_node(cx->g, HC_ALIAS, &alias);
    if (st) return st;
    if (cx->n_refs == cx->cap_refs) {
        size_t nc = cx->cap_refs ? cx->cap_refs * 2 : 8;
        ref_entry *q = hearth_reallocarray(cx->refs, nc, sizeof(*q));
        if (!q) return hearth_error_set(HEARTH_ERR_NOMEM, "schema compile");
        cx->refs = q;
        cx->cap_refs = nc;
    }
    char *copy = hearth_strdup(ref);
    if (!copy) return hearth_error_set(HEARTH_ERR_NOMEM, "schema compile");
    cx->refs[cx->n_refs++] = (ref_entry){copy, alias};
    uint32_t t;
    if ((st = compile(cx, target, depth + 1, &t))) return st;
    cx->g->nodes[alias].a = t;
    *out = alias;
    return HEARTH_OK;
}

enum { T_NULL = 1, T_BOOL = 2, T_OBJ = 4, T_ARR = 8, T_STR = 16, T_NUM = 32, T_INT = 64 };

/* Parses "type" into a mask of T_* bits (0 when absent). */
static hearth_status type_mask(const json_t *s, unsigned *mask) {
    static const struct { const char *name; unsigned bit; } names[] = {
        {"null", T_NULL}, {"boolean", T_BOOL}, {"object", T_OBJ}, {"array", T_ARR},
        {"string", T_STR}, {"number", T_NUM}, {"integer", T_INT}};
    json_t *t = json_object_get(s, "type");
    *mask = 0;
    if (!t) return HEARTH_OK;
    size_t n = json_is_array(t) ? json_array_size(t) : 1;
    if (!json_is_array(t) && !json_is_string(t))
        return hearth_error_set(HEARTH_ERR_INVALID, "schema: 'type' must be a string or an array");
    if (n == 0) return hearth_error_set(HEARTH_ERR_INVALID, "schema: 'type' is an empty array");
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_is_array(t) ? json_array_get(t, i) : t;
        if (!json_is_string(e)) return hearth_error_set(HEARTH_ERR_INVALID, "schema: 'type' entries must be strings");
        unsigned bit = 0;
        for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
            if (strcmp(json_string_value(e), names[k].name) == 0) bit = names[k].bit;
        if (!bit) return hearth_error_set(HEARTH_ERR_INVALID, "schema: unknown type '%s'", json_string_value(e));
        *mask |= bit;
    }
    return HEARTH_OK;
}

/* True when `v` is an instance of a type in `mask` (0: any). */
static bool type_ok(const json_t *v, unsigned mask) {
    if (!mask) return true;
    switch (json_typeof(v)) {
    case JSON_NULL: return mask & T_NULL;
    case JSON_TRUE:
    case JSON_FALSE: return mask & T_BOOL;
    case JSON_OBJECT: return mask & T_OBJ;
    case JSON_ARRAY: return mask & T_ARR;
    case JSON_STRING: return mask & T_STR;
    case JSON_INTEGER: return mask & (T_NUM | T_INT);
    case JSON_REAL:
        return (mask & T_NUM) || ((mask & T_INT) && floor(json_real_value(v)) == json_real_value(v));
    }
    return false;
}

/* enum / const: a literal set of the values whose type the schema allows. */
static hearth_status compile_literals(cctx *cx, const json_t *s, uint32_t *out) {
    hc_grammar *g = cx->g;
    const json_t *en = json_object_get(s, "enum"), *cn = json_object_get(s, "const");
    if (en && cn) return hearth_error_set(HEARTH_ERR_UNSUPPORTED, "schema: 'enum' together with 'const'");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)s, k, v) {
        (void)v;
        if (!in_list(k, KW_IGNORED) && strcmp(k, "enum") && strcmp(k, "const") && strcmp(k, "type"))
            return hearth_error_set(HEARTH_ERR_UNSUPPORTED, "schema: '%s' together with '%s'", en ? "enum" : "const", k);
    }
    if (en && !json_is_array(en)) return hearth_error_set(HEARTH_ERR_INVALID, "schema: 'enum' must be an array");
    unsigned mask;
    hearth_status st = type_mask(s, &mask);
    if (st) return st;
    uint32_t id, first = g->n_lits;
    if ((st = new_node(g, HC_LIT, &id))) return st;
    size_t n = en ? json_array_size(en) : 1;
    for (size_t i = 0; i < n; i++) {
        const json_t *x = en ? json_array_get(en, i) : cn;
        if (!type_ok(x, mask)) continue;
        uint32_t off = g->n_bytes;
        if ((st = put_json(g, x, 0)) || (st = add_lit(g, off, 0))) return st;
    }
    if ((st = sort_lits(g, first))) return st;
    g->nodes[id].a = first;
    g->nodes[id].b = g->n_lits - first;
    if (g->n_lits == first) g->nodes[id].kind = HC_EMPTY;
    *out = id;
    return HEARTH_OK;
}

static hearth_status compile_union(cctx *cx, const json_t *s, int depth, uint32_t *out) {
    const char *kw = json_object_get(s, "anyOf") ? "anyOf" : "oneOf";
    const json_t *arr = json_object_get(s, kw);
    const char *extra = other_constraint(s, kw);
    if (extra) return hearth_error_set(HEARTH_ERR_UNSUPPORTED, "schema: '%s' together with '%s'", kw, extra);
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return hearth_error_set(HEARTH_ERR_INVALID, "schema: '%s' must be a non-empty array", kw);
    size_t n = json_array_size(arr);
    uint32_t *tmp = hearth_malloc(n * sizeof(uint32_t));
    if (!tmp) return hearth_error_set(HEARTH_ERR_NOMEM, "schema compile");
    hearth_status st = HEARTH_OK;
    uint32_t id = 0;
    for (size_t i = 0; i < n && !st; i++) st = compile(cx, json_array_get(arr, i), depth + 1, &tmp[i]);
    if (!st) st = new_node(cx->g, HC_UNION, &id);
    if (!st) {
        cx->g->nodes[id].a = cx->g->n_alts;
        cx->g->nodes[id].b = (uint32_t)n;
        for (size_t i = 0; i < n && !st; i++) st = put_alt(cx->g, tmp[i]);
    }
    hearth_free(tmp);
    if (!st) *out = id;
    return st;
}

static hearth_status compile_object(cctx *cx, const json_t *s, int depth, uint32_t *out) {
    hc_grammar *g = cx->g;
    const json_t *props = json_object_get(s, "properties");
    const json_t *req = json_object_get(s, "required");
    const json_t *ap = json_object_get(s, "additionalProperties");
    hearth_status st;
    if (props && !json_is_object(props)) return hearth_error_set(HEARTH_ERR_INVALID, "schema: 'properties' must be an object");
    if (req && !json_is_array(req)) return hearth_error_set(HEARTH_ERR_INVALID, "schema: 'required' must be an array");
    for (size_t i = 0; req && i < json_array_size(req); i++)
        if (!json_is_string(json_array_get(req, i)))
            return hearth_error_set(HEARTH_ERR_INVALID, "schema: 'required' entries must be strings");
    if (ap && !json_is_boolean(ap) && !json_is_object(ap))
        return hearth_error_set(HEARTH_ERR_INVALID, "schema: 'additionalProperties' must be a boolean or a schema");
    bool listed = props || (req && json_array_size(req)) || json_is_false(ap);
    if (json_is_object(ap) || (json_is_true(ap) && listed)) {
        if (listed)
            return hearth_error_set(HEARTH_ERR_UNSUPPORTED,
                                    "schema: 'additionalProperties' other than false together with 'properties'");
    }
    if (!listed) { /* free-form object, values per additionalProperties */
        uint32_t val, id;
        if (json_is_object(ap)) st = compile(cx, ap, depth + 1, &val);
        else st = any_node(cx, &val);
        if (st || (st = new_node(g, HC_MAP, &id))) return st;
        g->nodes[id].a = cx->keystr;
        g->nodes[id].b = val;
        *out = id;
        return HEARTH_OK;
    }
    /* listed properties, then required names that are not listed */
    size_t n_listed = props ? json_object_size(props) : 0;
    size_t n_req = req ? json_array_size(req) : 0;
    size_t cap = n_listed + n_req;
    const char **names = hearth_calloc(cap ? cap : 1, sizeof(char *));
    uint32_t *vals = hearth_calloc(cap ? cap : 1, sizeof(uint32_t));
    uint8_t *reqd = hearth_calloc(cap ? cap : 1, 1);
    size_t n = 0;
    st = (!names || !vals || !reqd) ? hearth_error_set(HEARTH_ERR_NOMEM, "schema compile") : HEARTH_OK;
    if (!st && props) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)props, k, v) {
            if ((st = compile(cx, v, depth + 1, &vals[n]))) break;
            names[n++] = k;
        }
    }
    for (size_t i = 0; !st && i < n_req; i++) {
        const char *r = json_string_value(json_array_get(req, i));
        size_t j = 0;
        while (j < n && strcmp(names[j], r) != 0) j++;
        if (j == n) {
            if (json_is_false(ap)) {
                st = hearth_error_set(HEARTH_ERR_INVALID,
                                      "schema: required property '%s' is not in 'properties' and "
                                      "additionalProperties is false", r);
                break;
            }
            if ((st = any_node(cx, &vals[n]))) break;
            names[n++] = r;
        }
        reqd[j] = 1;
    }
    uint32_t id = 0;
    if (!st) st = new_node(g, HC_OBJ, &id);
    if (!st) st = grow((void **)&g->props, &g->cap_props, g->n_props + (uint32_t)n, sizeof(hc_prop));
    if (!st) {
        uint32_t first = g->n_props, lit0 = g->n_lits;
        uint32_t next = (uint32_t)n;
        for (size_t i = n; i-- > 0;) {
            if (reqd[i]) next = (uint32_t)i;
            g->props[first + i] = (hc_prop){vals[i], next, reqd[i]};
        }
        g->n_props += (uint32_t)n;
        for (size_t i = 0; i < n && !st; i++) {
            uint32_t off = g->n_bytes;
            if (!(st = put_json_string(g, names[i], strlen(names[i])))) st = add_lit(g, off, (uint32_t)i);
        }
        if (!st) st = sort_lits(g, lit0);
        if (!st && g->n_lits - lit0 != n) st = hearth_error_set(HEARTH_ERR_INVALID, "schema: duplicate property name");
        g->nodes[id].a = first;
        g->nodes[id].b = (uint32_t)n;
        g->nodes[id].c = lit0;
    }
    hearth_free(names);
    hearth_free(vals);
    hearth_free(reqd);
    if (!st) *out = id;
    return st;
}

static hearth_status compile_array(cctx *cx, const json_t *s, int depth, uint32_t *out) {
    const json_t *items = json_object_get(s, "items");
    uint32_t lo = 0, hi = UINT32_MAX, it, id;
    hearth_status st;
    if (json_is_array(items)) return hearth_error_set(HEARTH_ERR_UNSUPPORTED, "schema: 'items' as an array (tuple)");
    if ((st = get_count(s, "minItems", &lo)) || (st = get_count(s, "maxItems", &hi))) return st;
    if (items) st = compile(cx, items, depth + 1, &it);
    else st = any_node(cx, &it);
    if (st || (st = new_node(cx->g, lo <= hi ? HC_ARR : HC_EMPTY, &id))) return st;
    cx->g->nodes[id].a = it;
    cx->g->nodes[id].b = lo;
    cx->g->nodes[id].c = hi;
    *out = id;
    return HEARTH_OK;
}

static hearth_status compile_string(cctx *cx, const json_t *s, uint32_t *out) {
    uint32_t lo = 0, hi = UINT32_MAX, id;
    hearth_status st;
    if ((st = get_count(s, "minLength", &lo)) || (st = get_count(s, "maxLength", &hi))) return st;
    if (!json_object_get(s, "maxLength")) hi = lo > HC_STR_DEFAULT_MAX ? lo : HC_STR_DEFAULT_MAX;
    if ((st = new_node(cx->g, lo <= hi ? HC_STR : HC_EMPTY, &id))) return st;
    cx->g->nodes[id].b = lo;
    cx->g->nodes[id].c = hi;
    *out = id;
    return HEARTH_OK;
}

/* Compiles one schema into a node. Recursion is bounded by `depth`. */
static hearth_status compile(cctx *cx, const json_t *s, int depth, uint32_t *out) {
    hearth_status st;
    if (depth > HC_MAX_SCHEMA_DEPTH)
        return hearth_error_set(HEARTH_ERR_RANGE, "schema nests deeper than %d levels", HC_MAX_SCHEMA_DEPTH);
    if (json_is_true(s)) return any_node(cx, out);
    if (json_is_false(s)) {
        *out = cx->empty;
        return HEARTH_OK;
    }
    if (!json_is_object(s)) return hearth_error_set(HEARTH_ERR_INVALID, "schema must be an object or a boolean");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)s, k, v) {
        (void)v;
        if (!in_list(k, KW_IGNORED) && !in_list(k, KW_OBJECT) && !in_list(k, KW_ARRAY) && !in_list(k, KW_STRING) &&
            !in_list(k, KW_OTHER))
            return hearth_error_set(HEARTH_ERR_UNSUPPORTED, "unsupported JSON Schema keyword '%s'", k);
    }
    if (json_object_get(s, "$ref")) return compile_ref(cx, s, depth, out);
    if (json_object_get(s, "anyOf") && json_object_get(s, "oneOf"))
        return hearth_error_set(HEARTH_ERR_UNSUPPORTED, "schema: 'anyOf' together with 'oneOf'");
    if (json_object_get(s, "anyOf") || json_object_get(s, "oneOf")) return compile_union(cx, s, depth, out);
    if (json_object_get(s, "enum") || json_object_get(s, "const")) return compile_literals(cx, s, out);
    unsigned mask;
    if ((st = type_mask(s, &mask))) return st;
    if (!mask) {
        if (has_any(s, KW_OBJECT)) mask |= T_OBJ;
        if (has_any(s, KW_ARRAY)) mask |= T_ARR;
        if (has_any(s, KW_STRING)) mask |= T_STR;
        if (!mask) return any_node(cx, out);
    }
    if (mask & T_NUM) mask &= ~(unsigned)T_INT;
    uint32_t alt[7];
    int n = 0;
    hc_grammar *g = cx->g;
    if (mask & T_OBJ) {
        if ((st = compile_object(cx, s, depth, &alt[n++]))) return st;
    }
    if (mask & T_ARR) {
        if ((st = compile_array(cx, s, depth, &alt[n++]))) return st;
    }
    if (mask & T_STR) {
        if ((st = compile_string(cx, s, &alt[n++]))) return st;
    }
    if (mask & (T_NUM | T_INT)) {
        if ((st = new_node(g, (mask & T_NUM) ? HC_NUM : HC_INT, &alt[n++]))) return st;
    }
    if (mask & (T_BOOL | T_NULL)) {
        uint32_t id, first = g->n_lits;
        if ((st = new_node(g, HC_LIT, &id))) return st;
        static const char *const words[] = {"false", "true", "null"};
        for (int i = (mask & T_BOOL) ? 0 : 2; i < ((mask & T_NULL) ? 3 : 2); i++) {
            uint32_t off = g->n_bytes;
            if ((st = put_bytes(g, words[i], strlen(words[i]))) || (st = add_lit(g, off, 0))) return st;
        }
        if ((st = sort_lits(g, first))) return st;
        g->nodes[id].a = first;
        g->nodes[id].b = g->n_lits - first;
        alt[n++] = id;
    }
    if (n == 1) {
        *out = alt[0];
        return HEARTH_OK;
    }
    uint32_t u;
    if ((st = new_node(g, HC_UNION, &u))) return st;
    g->nodes[u].a = g->n_alts;
    g->nodes[u].b = (uint32_t)n;
    for (int i = 0; i < n; i++)
        if ((st = put_alt(g, alt[i]))) return st;
    *out = u;
    return HEARTH_OK;
}

/* ---- post-processing --------------------------------------------------------- */

/* The node an alias chain ends at; a pure alias cycle is the empty node. */
static uint32_t resolve(const hc_grammar *g, uint32_t id, uint32_t empty) {
    for (uint32_t steps = 0; g->nodes[id].kind == HC_ALIAS; steps++) {
        if (steps > g->n_nodes) return empty;
        id = g->nodes[id].a;
    }
    return id;
}

/* Rewrites every child reference past aliases. */
static void resolve_aliases(hc_grammar *g, uint32_t empty) {
    for (uint32_t i = 0; i < g->n_nodes; i++) {
        hc_node *n = &g->nodes[i];
        switch (n->kind) {
        case HC_DOC:
        case HC_ARR: n->a = resolve(g, n->a, empty); break;
        case HC_MAP: n->b = resolve(g, n->b, empty); break;
        default: break;
        }
    }
    for (uint32_t i = 0; i < g->n_props; i++) g->props[i].value = resolve(g, g->props[i].value, empty);
    for (uint32_t i = 0; i < g->n_alts; i++) g->alts[i] = resolve(g, g->alts[i], empty);
}

/* Flattens union `u` into the end of the alts pool: nested unions are
 * expanded (each at most once: `mark` holds the union being flattened,
 * which also breaks union cycles), duplicates and empties dropped. Uses an
 * explicit stack so a long union chain cannot overflow the C stack. */
static hearth_status flatten_union(hc_grammar *g, uint32_t u, uint32_t *mark, uint32_t **stack, uint32_t *stack_cap) {
    uint32_t sp = 0, first = g->n_alts;
    hearth_status st;
    mark[u] = u + 1;
    if ((st = grow((void **)stack, stack_cap, 1, sizeof(uint32_t)))) return st;
    (*stack)[sp++] = u;
    while (sp) {
        const hc_node *n = &g->nodes[(*stack)[--sp]];
        uint32_t a0 = n->a, cnt = n->b;
        for (uint32_t i = 0; i < cnt; i++) {
            uint32_t alt = g->alts[a0 + i];
            if (mark[alt] == u + 1) continue;
            mark[alt] = u + 1;
            if (g->nodes[alt].kind == HC_UNION) {
                if ((st = grow((void **)stack, stack_cap, sp + 1, sizeof(uint32_t)))) return st;
                (*stack)[sp++] = alt;
            } else if (g->nodes[alt].kind != HC_EMPTY) {
                if ((st = put_alt(g, alt))) return st;
            }
        }
    }
    g->nodes[u].a = first;
    g->nodes[u].b = g->n_alts - first;
    if (g->nodes[u].b == 0) g->nodes[u].kind = HC_EMPTY;
    return HEARTH_OK;
}

/* Merges the literal-set alternatives of union u into one literal set, so
 * anyOf/oneOf of consts (what enum-with-descriptions schemas look like)
 * is one sorted set followed by one thread, not one thread per value. */
static hearth_status merge_literal_alts(hc_grammar *g, uint32_t u) {
    uint32_t a0 = g->nodes[u].a, cnt = g->nodes[u].b, n_lit = 0;
    for (uint32_t i = 0; i < cnt; i++) n_lit += g->nodes[g->alts[a0 + i]].kind == HC_LIT;
    if (n_lit < 2) return HEARTH_OK;
    uint32_t id, first = g->n_lits;
    hearth_status st = new_node(g, HC_LIT, &id);
    for (uint32_t i = 0; i < cnt && !st; i++) {
        const hc_node *alt = &g->nodes[g->alts[a0 + i]];
        if (alt->kind != HC_LIT) continue;
        st = grow((void **)&g->lits, &g->cap_lits, g->n_lits + alt->b, sizeof(hc_lit));
        if (st) break;
        memcpy(&g->lits[g->n_lits], &g->lits[alt->a], alt->b * sizeof(hc_lit));
        g->n_lits += alt->b;
    }
    if (!st) st = sort_lits(g, first);
    if (st) return st;
    g->nodes[id].a = first;
    g->nodes[id].b = g->n_lits - first;
    /* the union's list becomes: the merged set, then the other alternatives */
    uint32_t k = 0, merged = 0;
    for (uint32_t i = 0; i < cnt; i++) {
        uint32_t alt = g->alts[a0 + i];
        if (g->nodes[alt].kind == HC_LIT) {
            if (merged++) continue;
            alt = id;
        }
        g->alts[a0 + k++] = alt;
    }
    g->nodes[u].b = k;
    return HEARTH_OK;
}

static uint8_t md_add1(uint32_t v) { return v >= HC_MAX_FRAMES ? HC_INF : (uint8_t)(v + 1); }

/* One node's mindepth from its children's current values. */
static uint8_t node_mindepth(const hc_grammar *g, const hc_node *n) {
    switch (n->kind) {
    case HC_STR:
    case HC_NUM:
    case HC_INT:
    case HC_MAP: return 1;
    case HC_LIT: return n->b ? 1 : HC_INF;
    case HC_DOC: return md_add1(g->nodes[n->a].mindepth);
    case HC_ARR: return n->b == 0 ? 1 : md_add1(g->nodes[n->a].mindepth);
    case HC_UNION: {
        uint8_t m = HC_INF;
        for (uint32_t i = 0; i < n->b; i++) {
            uint8_t x = g->nodes[g->alts[n->a + i]].mindepth;
            if (x < m) m = x;
        }
        return m;
    }
    case HC_OBJ: {
        uint32_t m = 1; /* the key literal frame */
        for (uint32_t i = 0; i < n->b; i++) {
            const hc_prop *p = &g->props[n->a + i];
            if (!p->required) continue;
            uint32_t x = g->nodes[p->value].mindepth;
            if (x == HC_INF) return HC_INF;
            if (x > m) m = x;
        }
        return md_add1(m);
    }
    default: return HC_INF;
    }
}

/* Computes mindepth for all nodes (values only decrease, so it converges;
 * a pass count cap keeps hostile graphs bounded). */
static void compute_mindepth(hc_grammar *g) {
    for (uint32_t i = 0; i < g->n_nodes; i++) g->nodes[i].mindepth = HC_INF;
    for (int pass = 0; pass < 4 * HC_MAX_FRAMES + 8; pass++) {
        bool changed = false;
        for (uint32_t i = 0; i < g->n_nodes; i++) {
            uint8_t m = node_mindepth(g, &g->nodes[i]);
            if (m < g->nodes[i].mindepth) {
                g->nodes[i].mindepth = m;
                changed = true;
            }
        }
        if (!changed) break;
    }
}

/* See constraint_internal.h. */
hearth_status hc_compile(const json_t *schema, hc_grammar *g) {
    cctx cx = {.g = g, .root = schema};
    hearth_status st;
    uint32_t root = 0, doc = 0;
    if ((st = new_node(g, HC_EMPTY, &cx.empty)) || (st = new_node(g, HC_STR, &cx.keystr))) goto done;
    g->nodes[cx.keystr].b = 0;
    g->nodes[cx.keystr].c = HC_KEY_MAX;
    if (!schema) { /* response_format json_object: any object */
        uint32_t any;
        if ((st = any_node(&cx, &any)) || (st = new_node(g, HC_MAP, &root))) goto done;
        g->nodes[root].a = cx.keystr;
        g->nodes[root].b = any;
    } else if ((st = compile(&cx, schema, 0, &root))) {
        goto done;
    }
    if ((st = new_node(g, HC_DOC, &doc))) goto done;
    g->nodes[doc].a = root;
    g->doc = doc;
    resolve_aliases(g, cx.empty);
    {
        uint32_t *mark = hearth_calloc(g->n_nodes, sizeof(uint32_t));
        uint32_t *stack = NULL, stack_cap = 0;
        if (!mark) st = hearth_error_set(HEARTH_ERR_NOMEM, "schema compile");
        uint32_t n_nodes = g->n_nodes;
        for (uint32_t i = 0; i < n_nodes && !st; i++)
            if (g->nodes[i].kind == HC_UNION) st = flatten_union(g, i, mark, &stack, &stack_cap);
        for (uint32_t i = 0; i < n_nodes && !st; i++)
            if (g->nodes[i].kind == HC_UNION) st = merge_literal_alts(g, i);
        hearth_free(mark);
        hearth_free(stack);
        if (st) goto done;
    }
    compute_mindepth(g);
    if (g->nodes[doc].mindepth == HC_INF)
        st = hearth_error_set(HEARTH_ERR_INVALID,
                              "schema cannot be satisfied by any document nested at most %d levels deep "
                              "(unsatisfiable, infinitely recursive, or too deep)", HC_MAX_FRAMES - 2);
done:
    for (size_t i = 0; i < cx.n_refs; i++) hearth_free(cx.refs[i].ref);
    hearth_free(cx.refs);
    return st;
}

void hc_grammar_free(hc_grammar *g) {
    if (!g) return;
    hearth_free(g->nodes);
    hearth_free(g->props);
    hearth_free(g->lits);
    hearth_free(g->bytes);
    hearth_free(g->alts);
    memset(g, 0, sizeof(*g));
}
