/* test_constraint.c - constrained decoding (JSON / JSON Schema).
 *
 * Random walks over real vocabularies (llama-spm, gpt-2, qwen2, and the
 * stories260K model's) pick random allowed tokens under a fixed seed; every
 * text the constraint calls complete must parse with jansson and validate
 * against the schema with the small independent validator below. Along the
 * way: accept() of a masked token fails, EOG is allowed exactly when the
 * document is complete, and at sampled steps the mask agrees with accept()
 * for every token of the vocabulary. Then greedy generation with the real
 * stories260K model, hostile and unsupported schemas, and OOM injection.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "engine/constraint_internal.h"
#include "hearth/alloc.h"
#include "hearth/constraint.h"
#include "hearth/gguf.h"
#include "hearth/model.h"
#include "hearth/tokenizer.h"
#include "test.h"

/* ---- a small JSON Schema validator for the supported subset ------------- */

static const json_t *ref_target(const json_t *root, const char *ref) {
    if (strcmp(ref, "#") == 0) return root;
    if (strncmp(ref, "#/$defs/", 8) == 0) return json_object_get(json_object_get(root, "$defs"), ref + 8);
    if (strncmp(ref, "#/definitions/", 14) == 0)
        return json_object_get(json_object_get(root, "definitions"), ref + 14);
    return NULL;
}

/* JSON equality where numbers compare by value (1 == 1.0). */
static int json_same(const json_t *a, const json_t *b) {
    if (json_is_number(a) && json_is_number(b)) return json_number_value(a) == json_number_value(b);
    if (json_typeof(a) != json_typeof(b)) return 0;
    if (json_is_array(a)) {
        if (json_array_size(a) != json_array_size(b)) return 0;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!json_same(json_array_get(a, i), json_array_get(b, i))) return 0;
        return 1;
    }
    if (json_is_object(a)) {
        if (json_object_size(a) != json_object_size(b)) return 0;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)a, k, v) {
            json_t *w = json_object_get(b, k);
            if (!w || !json_same(v, w)) return 0;
        }
        return 1;
    }
    return json_equal((json_t *)a, (json_t *)b);
}

static size_t utf8_chars(const char *s, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) c++;
    return c;
}

static int type_is(const json_t *v, const char *t) {
    if (!strcmp(t, "object")) return json_is_object(v);
    if (!strcmp(t, "array")) return json_is_array(v);
    if (!strcmp(t, "string")) return json_is_string(v);
    if (!strcmp(t, "number")) return json_is_number(v);
    if (!strcmp(t, "integer"))
        return json_is_integer(v) || (json_is_real(v) && floor(json_real_value(v)) == json_real_value(v));
    if (!strcmp(t, "boolean")) return json_is_boolean(v);
    if (!strcmp(t, "null")) return json_is_null(v);
    return 0;
}

static int validate(const json_t *v, const json_t *s, const json_t *root, int depth) {
    if (depth > 200) return 0;
    if (json_is_true(s)) return 1;
    if (json_is_false(s)) return 0;
    json_t *x;
    if ((x = json_object_get(s, "$ref"))) {
        const json_t *t = ref_target(root, json_string_value(x));
        return t && validate(v, t, root, depth + 1);
    }
    if ((x = json_object_get(s, "anyOf"))) {
        for (size_t i = 0; i < json_array_size(x); i++)
            if (validate(v, json_array_get(x, i), root, depth + 1)) return 1;
        return 0;
    }
    if ((x = json_object_get(s, "oneOf"))) {
        int n = 0;
        for (size_t i = 0; i < json_array_size(x); i++) n += validate(v, json_array_get(x, i), root, depth + 1);
        return n == 1;
    }
    if ((x = json_object_get(s, "const")) && !json_same(v, x)) return 0;
    if ((x = json_object_get(s, "enum"))) {
        int found = 0;
        for (size_t i = 0; i < json_array_size(x) && !found; i++) found = json_same(v, json_array_get(x, i));
        if (!found) return 0;
    }
    if ((x = json_object_get(s, "type"))) {
        int ok = 0;
        if (json_is_string(x)) ok = type_is(v, json_string_value(x));
        for (size_t i = 0; json_is_array(x) && i < json_array_size(x); i++)
            ok |= type_is(v, json_string_value(json_array_get(x, i)));
        if (!ok) return 0;
    }
    if (json_is_object(v)) {
        json_t *props = json_object_get(s, "properties"), *ap = json_object_get(s, "additionalProperties");
        json_t *req = json_object_get(s, "required");
        for (size_t i = 0; i < json_array_size(req); i++)
            if (!json_object_get(v, json_string_value(json_array_get(req, i)))) return 0;
        const char *k;
        json_t *val;
        json_object_foreach((json_t *)v, k, val) {
            json_t *ps = props ? json_object_get(props, k) : NULL;
            if (ps) {
                if (!validate(val, ps, root, depth + 1)) return 0;
            } else if (json_is_false(ap)) {
                return 0;
            } else if (json_is_object(ap) && !validate(val, ap, root, depth + 1)) {
                return 0;
            }
        }
    }
    if (json_is_array(v)) {
        json_t *items = json_object_get(s, "items");
        if ((x = json_object_get(s, "minItems")) && json_array_size(v) < (size_t)json_integer_value(x)) return 0;
        if ((x = json_object_get(s, "maxItems")) && json_array_size(v) > (size_t)json_integer_value(x)) return 0;
        for (size_t i = 0; items && i < json_array_size(v); i++)
            if (!validate(json_array_get(v, i), items, root, depth + 1)) return 0;
    }
    if (json_is_string(v)) {
        size_t n = utf8_chars(json_string_value(v), json_string_length(v));
        if ((x = json_object_get(s, "minLength")) && n < (size_t)json_integer_value(x)) return 0;
        if ((x = json_object_get(s, "maxLength")) && n > (size_t)json_integer_value(x)) return 0;
    }
    return 1;
}

/* Parses text and validates it; schema NULL means "any JSON object". */
static int text_valid(const char *text, size_t n, const json_t *schema, char *why, size_t why_cap) {
    json_error_t err;
    json_t *v = json_loadb(text, n, JSON_DECODE_ANY, &err);
    if (!v) {
        snprintf(why, why_cap, "parse: %s", err.text);
        return 0;
    }
    int ok = schema ? validate(v, schema, schema, 0) : json_is_object(v);
    if (!ok) snprintf(why, why_cap, "does not validate");
    json_decref(v);
    return ok;
}

/* ---- helpers ----------------------------------------------------------------- */

static uint64_t rng_state;
static uint32_t rnd(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng_state >> 33);
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

typedef struct fixture {
    const char *name;
    hearth_gguf *g;
    hearth_vocab *v;
} fixture;

static int load_vocab(fixture *f, const char *rel) {
    f->name = rel;
    if (hearth_gguf_open(test_data(rel), &f->g) != HEARTH_OK) {
        CHECK(0, "open %s: %s", rel, hearth_error_last());
        return 0;
    }
    if (hearth_vocab_load(f->g, &f->v) != HEARTH_OK) {
        CHECK(0, "vocab %s: %s", rel, hearth_error_last());
        return 0;
    }
    return 1;
}

static void free_fixture(fixture *f) {
    hearth_vocab_free(f->v);
    hearth_gguf_free(f->g);
}

static json_t *J(const char *text) {
    json_error_t e;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
    if (!j) fprintf(stderr, "bad test JSON: %s: %s\n", e.text, text);
    return j;
}

typedef struct walk_stats {
    int finished, capped;
    double apply_ms, apply_max_ms;
    long applies;
} walk_stats;

/* One random walk. Returns 1 if it ended with EOG. `full_check_every`: how
 * often (in steps) to compare the mask with accept() over the whole vocab. */
static int random_walk(const hearth_vocab *v, hearth_constraint *c, const json_t *schema, int cap,
                       int full_check_every, walk_stats *ws, const char *label) {
    int32_t nv = hearth_vocab_n_tokens(v);
    float *logits = malloc((size_t)nv * sizeof(float));
    int32_t *allowed = malloc((size_t)nv * sizeof(int32_t));
    int32_t *masked = malloc((size_t)nv * sizeof(int32_t));
    char *text = malloc(65536);
    size_t tlen = 0;
    hearth_constraint_state *st = NULL, *probe = NULL;
    int ended = 0;
    if (!logits || !allowed || !masked || !text) goto out;
    if (hearth_constraint_state_new(c, &st) != HEARTH_OK || hearth_constraint_state_new(c, &probe) != HEARTH_OK) {
        CHECK(0, "state_new: %s", hearth_error_last());
        goto out;
    }
    for (int step = 0; step < cap; step++) {
        for (int32_t i = 0; i < nv; i++) logits[i] = 0.0f;
        double t0 = now_ms();
        hearth_constraint_apply(st, logits, nv);
        double dt = now_ms() - t0;
        ws->apply_ms += dt;
        ws->applies++;
        if (dt > ws->apply_max_ms) ws->apply_max_ms = dt;
        int na = 0, nm = 0, eog_allowed = 0, eog_masked = 0;
        for (int32_t i = 0; i < nv; i++) {
            if (hearth_vocab_is_eog(v, i)) {
                if (isinf(logits[i])) eog_masked = 1;
                else eog_allowed = 1;
                continue;
            }
            if (isinf(logits[i])) masked[nm++] = i;
            else allowed[na++] = i;
        }
        bool complete = hearth_constraint_complete(st);
        CHECK(eog_allowed == complete && (!complete || !eog_masked), "%s: EOG allowed %d but complete %d at step %d",
              label, eog_allowed, (int)complete, step);
        if (complete) {
            char why[200];
            int ok = text_valid(text, tlen, schema, why, sizeof why);
            CHECK(ok, "%s: complete but invalid (%s): %.*s", label, why, (int)tlen, text);
        }
        /* the mask agrees with accept() for every token */
        if (full_check_every && step % full_check_every == 0) {
            int bad = 0;
            for (int32_t i = 0; i < nv && bad < 3; i++) {
                hc_state_copy(probe, st);
                bool ok = hearth_constraint_accept(probe, i) == HEARTH_OK;
                if (ok != !isinf(logits[i])) {
                    bad++;
                    CHECK(0, "%s: token %d: mask says %d, accept says %d (step %d, text %.*s)", label, i,
                          !isinf(logits[i]), ok, step, (int)tlen, text);
                }
            }
        }
        /* a masked token is refused and leaves the state as it was */
        if (nm) {
            int32_t bad = masked[rnd() % (uint32_t)nm];
            CHECK(hearth_constraint_accept(st, bad) == HEARTH_ERR_INVALID, "%s: masked token %d accepted", label, bad);
        }
        if (eog_allowed && (na == 0 || rnd() % 3 == 0)) {
            int32_t eog = -1;
            for (int32_t i = 0; i < nv && eog < 0; i++)
                if (hearth_vocab_is_eog(v, i) && !isinf(logits[i])) eog = i;
            CHECK(hearth_constraint_accept(st, eog) == HEARTH_OK, "%s: EOG refused", label);
            ended = 1;
            break;
        }
        if (na == 0) {
            CHECK(0, "%s: dead end at step %d: %.*s", label, step, (int)tlen, text);
            break;
        }
        int32_t tok = allowed[rnd() % (uint32_t)na];
        hearth_status s = hearth_constraint_accept(st, tok);
        CHECK(s == HEARTH_OK, "%s: allowed token %d refused: %s", label, tok, hearth_error_last());
        if (s != HEARTH_OK) break;
        char piece[600];
        int n = hearth_token_to_piece(v, tok, piece, sizeof piece, false);
        if (n > 0 && tlen + (size_t)n < 65536) {
            memcpy(text + tlen, piece, (size_t)n);
            tlen += (size_t)n;
        }
    }
    if (ended) {
        char why[200];
        int ok = text_valid(text, tlen, schema, why, sizeof why);
        CHECK(ok, "%s: finished text invalid (%s): %.*s", label, why, (int)tlen, text);
        CHECK(hearth_constraint_accept(st, 0) == HEARTH_ERR_INVALID, "%s: token after EOG accepted", label);
        ws->finished++;
    } else ws->capped++;
out:
    hearth_constraint_state_free(st);
    hearth_constraint_state_free(probe);
    free(logits);
    free(allowed);
    free(masked);
    free(text);
    return ended;
}

/* ---- schemas -------------------------------------------------------------------- */

static const char *SCHEMAS[] = {
    /* 0: object with required string/integer/boolean/enum/array/nested object */
    "{\"type\":\"object\",\"properties\":{"
    "\"name\":{\"type\":\"string\",\"maxLength\":12},"
    "\"age\":{\"type\":\"integer\"},"
    "\"ok\":{\"type\":\"boolean\"},"
    "\"color\":{\"enum\":[\"red\",\"green\",\"blue\",1,null]},"
    "\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\",\"maxLength\":6},\"minItems\":1,\"maxItems\":3},"
    "\"pos\":{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"number\"},\"y\":{\"type\":\"number\"}},"
    "\"required\":[\"x\",\"y\"],\"additionalProperties\":false}},"
    "\"required\":[\"name\",\"age\",\"ok\",\"color\",\"tags\",\"pos\"],\"additionalProperties\":false}",
    /* 1: anyOf of tagged objects and null */
    "{\"anyOf\":[{\"type\":\"object\",\"properties\":{\"kind\":{\"const\":\"circle\"},\"r\":{\"type\":\"number\"}},"
    "\"required\":[\"kind\",\"r\"],\"additionalProperties\":false},"
    "{\"type\":\"object\",\"properties\":{\"kind\":{\"const\":\"rect\"},\"w\":{\"type\":\"integer\"},"
    "\"h\":{\"type\":\"integer\"}},\"required\":[\"kind\",\"w\",\"h\"],\"additionalProperties\":false},"
    "{\"type\":\"null\"}]}",
    /* 2: recursive $ref */
    "{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{\"v\":{\"type\":\"integer\"},"
    "\"kids\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/node\"},\"maxItems\":2}},"
    "\"required\":[\"v\"],\"additionalProperties\":false}},\"$ref\":\"#/$defs/node\"}",
    /* 3: const, optional properties, type lists, unicode */
    "{\"type\":\"object\",\"properties\":{\"a\":{\"const\":{\"x\":[1,2.5,\"q\\u00e9\"]}},"
    "\"b\":{\"type\":\"string\",\"minLength\":2,\"maxLength\":4},\"c\":{\"type\":[\"integer\",\"null\"]},"
    "\"d\":{\"type\":\"boolean\"}},\"required\":[\"b\"],\"additionalProperties\":false}",
    /* 4: oneOf at top level (number or short string) */
    "{\"oneOf\":[{\"type\":\"number\"},{\"type\":\"string\",\"maxLength\":5}]}",
    /* 5: free-form map of integers, definitions */
    "{\"definitions\":{\"i\":{\"type\":\"integer\"}},\"type\":\"object\","
    "\"additionalProperties\":{\"$ref\":\"#/definitions/i\"}}",
    /* 6: array of an enum with prefix-sharing values */
    "{\"type\":\"array\",\"items\":{\"enum\":[\"a\",\"ab\",\"abc\",12,1,123]},\"maxItems\":4}",
    /* 7: json_object */
    NULL,
};
#define N_SCHEMAS (int)(sizeof SCHEMAS / sizeof SCHEMAS[0])

static void test_walks(const char *vocab_rel, int walks, int cap, int full_every) {
    fixture f = {0};
    if (!load_vocab(&f, vocab_rel)) return;
    for (int si = 0; si < N_SCHEMAS; si++) {
        json_t *schema = SCHEMAS[si] ? J(SCHEMAS[si]) : NULL;
        hearth_constraint *c = NULL;
        double t0 = now_ms();
        hearth_status st = hearth_constraint_new_json(f.v, schema, &c);
        double build = now_ms() - t0;
        CHECK(st == HEARTH_OK, "%s schema %d: %s", vocab_rel, si, hearth_error_last());
        if (st == HEARTH_OK) {
            walk_stats ws = {0};
            char label[128];
            rng_state = 0x1234u + (uint64_t)si;
            for (int w = 0; w < walks; w++) {
                snprintf(label, sizeof label, "%s schema %d walk %d", vocab_rel, si, w);
                random_walk(f.v, c, schema, cap, w == 0 ? full_every : 0, &ws, label);
            }
            /* schemas 5 and 7 are unbounded (free-form objects): random walks
             * often run into the length cap there */
            int need = (si == 5 || si == 7) ? (walks + 3) / 4 : (walks + 1) / 2;
            CHECK(ws.finished >= need, "%s schema %d: only %d of %d walks finished", vocab_rel, si, ws.finished,
                  walks);
            printf("  %-22s schema %d: build %.1f ms, %d/%d walks finished, apply mean %.3f ms max %.3f ms\n",
                   vocab_rel, si, build, ws.finished, walks, ws.apply_ms / (double)(ws.applies ? ws.applies : 1),
                   ws.apply_max_ms);
        }
        hearth_constraint_free(c);
        json_decref(schema);
    }
    free_fixture(&f);
}

/* ---- real model, greedy ------------------------------------------------------------- */

static void test_model_greedy(void) {
    hearth_model *m = NULL;
    hearth_context *ctx = NULL;
    REQUIRE(hearth_model_load(test_data("models/stories260K.gguf"), &m) == HEARTH_OK, "load: %s", hearth_error_last());
    const hearth_vocab *v = hearth_model_vocab(m);
    int32_t nv = hearth_model_hparams(m)->n_vocab;
    float *logits = malloc((size_t)nv * sizeof(float));
    const int schemas[] = {0, 1, 2, 3, 6};
    for (size_t si = 0; si < sizeof schemas / sizeof schemas[0]; si++) {
        json_t *schema = J(SCHEMAS[schemas[si]]);
        hearth_constraint *c = NULL;
        hearth_constraint_state *st = NULL;
        CHECK(hearth_constraint_new_json(v, schema, &c) == HEARTH_OK, "new: %s", hearth_error_last());
        CHECK(c && hearth_constraint_state_new(c, &st) == HEARTH_OK, "state: %s", hearth_error_last());
        CHECK(hearth_context_new(m, 512, 1, &ctx) == HEARTH_OK, "ctx: %s", hearth_error_last());
        if (!c || !st || !ctx) {
            hearth_constraint_state_free(st);
            hearth_constraint_free(c);
            json_decref(schema);
            hearth_context_free(ctx);
            ctx = NULL;
            continue;
        }
        int32_t *prompt = NULL;
        size_t np = 0;
        const char *ptxt = "Once upon a time, the JSON was";
        CHECK(hearth_tokenize(v, ptxt, strlen(ptxt), true, false, &prompt, &np) == HEARTH_OK, "tokenize");
        hearth_status s = hearth_eval(ctx, prompt, (int32_t)np, logits, false);
        CHECK(s == HEARTH_OK, "eval prompt: %s", hearth_error_last());
        hearth_free(prompt);
        char text[8192];
        size_t tlen = 0;
        int ended = 0, n_tok = 0;
        while (s == HEARTH_OK && n_tok < 400) {
            hearth_constraint_apply(st, logits, nv);
            int32_t best = -1;
            for (int32_t i = 0; i < nv; i++)
                if (!isinf(logits[i]) && (best < 0 || logits[i] > logits[best])) best = i;
            if (best < 0) {
                CHECK(0, "schema %d: every token masked", schemas[si]);
                break;
            }
            CHECK(hearth_constraint_accept(st, best) == HEARTH_OK, "greedy token refused");
            if (hearth_vocab_is_eog(v, best)) {
                ended = 1;
                break;
            }
            char piece[300];
            int n = hearth_token_to_piece(v, best, piece, sizeof piece, false);
            if (n > 0 && tlen + (size_t)n < sizeof text) {
                memcpy(text + tlen, piece, (size_t)n);
                tlen += (size_t)n;
            }
            n_tok++;
            s = hearth_eval(ctx, &best, 1, logits, false);
            CHECK(s == HEARTH_OK, "eval: %s", hearth_error_last());
        }
        char why[200] = "";
        int ok = ended && text_valid(text, tlen, schema, why, sizeof why);
        CHECK(ok, "schema %d: greedy output not valid (ended %d, %s): %.*s", schemas[si], ended, why, (int)tlen, text);
        printf("  stories260K greedy schema %d (%d tokens): %.*s\n", schemas[si], n_tok, (int)tlen, text);
        hearth_context_free(ctx);
        ctx = NULL;
        hearth_constraint_state_free(st);
        hearth_constraint_free(c);
        json_decref(schema);
    }
    free(logits);
    hearth_model_free(m);
}

/* ---- hostile, unsupported and malformed schemas ------------------------------------------ */

static void expect_status(const hearth_vocab *v, const char *schema_text, hearth_status want, const char *needle) {
    json_t *s = J(schema_text);
    hearth_constraint *c = NULL;
    hearth_status st = hearth_constraint_new_json(v, s, &c);
    CHECK(st == want, "schema %.120s: got %d (%s), want %d", schema_text, st, hearth_error_last(), want);
    if (st != HEARTH_OK && needle)
        CHECK(strstr(hearth_error_last(), needle) != NULL, "detail '%s' lacks '%s'", hearth_error_last(), needle);
    CHECK((st == HEARTH_OK) == (c != NULL), "out set iff OK");
    hearth_constraint_free(c);
    json_decref(s);
}

/* Builds {"type":"object","properties":{"a": ...}} nested n levels. */
static char *nested(int n, int required) {
    size_t cap = (size_t)n * 90 + 64, len = 0;
    char *b = malloc(cap);
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(b + len, cap - len, "{\"type\":\"object\",%s\"properties\":{\"a\":",
                                required ? "\"required\":[\"a\"]," : "");
    len += (size_t)snprintf(b + len, cap - len, "{\"type\":\"integer\"}");
    for (int i = 0; i < n; i++) len += (size_t)snprintf(b + len, cap - len, "}}");
    return b;
}

static void test_hostile(void) {
    fixture f = {0};
    if (!load_vocab(&f, "tokenizer/gpt-2.gguf")) return;
    const hearth_vocab *v = f.v;
    /* unsupported keywords are named */
    expect_status(v, "{\"type\":\"string\",\"pattern\":\"a+\"}", HEARTH_ERR_UNSUPPORTED, "pattern");
    expect_status(v, "{\"type\":\"integer\",\"minimum\":3}", HEARTH_ERR_UNSUPPORTED, "minimum");
    expect_status(v, "{\"type\":\"string\",\"format\":\"date\"}", HEARTH_ERR_UNSUPPORTED, "format");
    expect_status(v, "{\"allOf\":[{\"type\":\"string\"}]}", HEARTH_ERR_UNSUPPORTED, "allOf");
    expect_status(v, "{\"type\":\"object\",\"properties\":{\"a\":{\"not\":{}}}}", HEARTH_ERR_UNSUPPORTED, "not");
    expect_status(v, "{\"$ref\":\"http://x/y.json\"}", HEARTH_ERR_UNSUPPORTED, "$ref");
    expect_status(v, "{\"type\":\"array\",\"items\":[{\"type\":\"string\"}]}", HEARTH_ERR_UNSUPPORTED, "items");
    expect_status(v, "{\"type\":\"object\",\"properties\":{\"a\":{}},\"additionalProperties\":true}",
                  HEARTH_ERR_UNSUPPORTED, "additionalProperties");
    /* malformed */
    expect_status(v, "\"hello\"", HEARTH_ERR_INVALID, "schema");
    expect_status(v, "[1,2]", HEARTH_ERR_INVALID, "schema");
    expect_status(v, "42", HEARTH_ERR_INVALID, "schema");
    expect_status(v, "{\"type\":\"strin\"}", HEARTH_ERR_INVALID, "strin");
    expect_status(v, "{\"type\":\"object\",\"required\":\"a\"}", HEARTH_ERR_INVALID, "required");
    expect_status(v, "{\"type\":\"string\",\"minLength\":-1}", HEARTH_ERR_INVALID, "minLength");
    expect_status(v, "{\"$ref\":\"#/$defs/missing\"}", HEARTH_ERR_INVALID, "missing");
    expect_status(v, "{\"anyOf\":[]}", HEARTH_ERR_INVALID, "anyOf");
    expect_status(v, "{\"enum\":5}", HEARTH_ERR_INVALID, "enum");
    /* unsatisfiable */
    expect_status(v, "{\"type\":\"string\",\"minLength\":5,\"maxLength\":2}", HEARTH_ERR_INVALID, NULL);
    expect_status(v, "false", HEARTH_ERR_INVALID, NULL);
    expect_status(v, "{\"enum\":[]}", HEARTH_ERR_INVALID, NULL);
    expect_status(v, "{\"type\":\"string\",\"enum\":[1,2]}", HEARTH_ERR_INVALID, NULL);
    expect_status(v, "{\"type\":\"object\",\"properties\":{},\"required\":[\"a\"],\"additionalProperties\":false}",
                  HEARTH_ERR_INVALID, "'a'");
    /* recursive $ref loops */
    expect_status(v, "{\"$ref\":\"#\"}", HEARTH_ERR_INVALID, NULL);
    expect_status(v, "{\"$defs\":{\"a\":{\"$ref\":\"#/$defs/b\"},\"b\":{\"$ref\":\"#/$defs/a\"}},\"$ref\":\"#/$defs/a\"}",
                  HEARTH_ERR_INVALID, NULL);
    expect_status(v, "{\"type\":\"object\",\"properties\":{\"a\":{\"$ref\":\"#\"}},\"required\":[\"a\"]}",
                  HEARTH_ERR_INVALID, NULL);
    expect_status(v, "{\"anyOf\":[{\"$ref\":\"#\"},{\"anyOf\":[{\"$ref\":\"#\"}]}]}", HEARTH_ERR_INVALID, NULL);
    /* a productive recursion and a union that contains itself work */
    expect_status(v, "{\"anyOf\":[{\"$ref\":\"#\"},{\"type\":\"integer\"}]}", HEARTH_OK, NULL);
    expect_status(v, "{\"type\":\"object\",\"properties\":{\"a\":{\"$ref\":\"#\"}}}", HEARTH_OK, NULL);
    /* deep nesting: 200 levels exceed the schema depth bound, 40 required
     * levels exceed the frame budget, 25 fit */
    char *deep = nested(200, 0);
    expect_status(v, deep, HEARTH_ERR_RANGE, "deeper");
    free(deep);
    deep = nested(40, 1);
    expect_status(v, deep, HEARTH_ERR_INVALID, NULL);
    free(deep);
    deep = nested(25, 1);
    expect_status(v, deep, HEARTH_OK, NULL);
    {
        json_t *s = J(deep);
        hearth_constraint *c = NULL;
        if (hearth_constraint_new_json(v, s, &c) == HEARTH_OK) {
            walk_stats ws = {0};
            rng_state = 99;
            for (int w = 0; w < 3; w++) random_walk(v, c, s, 600, 0, &ws, "nested 25");
            CHECK(ws.finished >= 1, "nested walks finished %d", ws.finished);
        }
        hearth_constraint_free(c);
        json_decref(s);
    }
    free(deep);
    /* optional deep nesting is bounded by the frame budget, not refused */
    deep = nested(60, 0);
    expect_status(v, deep, HEARTH_OK, NULL);
    free(deep);
    /* a huge enum and a wide union stay correct and bounded */
    {
        json_t *en = json_array();
        for (int i = 0; i < 20000; i++) {
            char b[32];
            snprintf(b, sizeof b, "v%d", i * 7919 % 100003);
            json_array_append_new(en, json_string(b));
        }
        json_array_append_new(en, json_integer(5));
        json_t *s = json_pack("{s:s, s:{s:{s:o}}, s:[s]}", "type", "object", "properties", "k", "enum", en,
                              "required", "k");
        hearth_constraint *c = NULL;
        CHECK(hearth_constraint_new_json(v, s, &c) == HEARTH_OK, "huge enum: %s", hearth_error_last());
        if (c) {
            walk_stats ws = {0};
            rng_state = 7;
            for (int w = 0; w < 4; w++) random_walk(v, c, s, 300, w == 0 ? 5 : 0, &ws, "huge enum");
            CHECK(ws.finished >= 2, "huge enum walks finished %d", ws.finished);
            printf("  huge enum: apply mean %.3f ms max %.3f ms\n", ws.apply_ms / (double)ws.applies, ws.apply_max_ms);
        }
        hearth_constraint_free(c);
        json_decref(s);
    }
    {
        json_t *alts = json_array();
        for (int i = 0; i < 64; i++)
            json_array_append_new(alts, json_pack("{s:s, s:{s:{s:i}, s:{s:s}}, s:[s,s], s:b}", "type", "object",
                                                  "properties", "kind", "const", i, "v", "type", "string",
                                                  "required", "kind", "v", "additionalProperties", 0));
        json_t *s = json_pack("{s:o}", "anyOf", alts);
        hearth_constraint *c = NULL;
        CHECK(hearth_constraint_new_json(v, s, &c) == HEARTH_OK, "wide union: %s", hearth_error_last());
        if (c) {
            walk_stats ws = {0};
            rng_state = 8;
            for (int w = 0; w < 4; w++) random_walk(v, c, s, 300, w == 0 ? 7 : 0, &ws, "wide union");
            CHECK(ws.finished >= 2, "wide union walks finished %d", ws.finished);
        }
        hearth_constraint_free(c);
        json_decref(s);
    }
    {
        /* 24 alternatives that share their first bytes are followed in
         * parallel (objects) or merged into one literal set (consts): every
         * one stays reachable */
        for (int kind = 0; kind < 2; kind++) {
            json_t *alts = json_array();
            for (int i = 0; i < 24; i++) {
                char b[32];
                snprintf(b, sizeof b, "key%d", i);
                json_t *cst = json_pack("{s:s}", "const", b);
                json_array_append_new(alts, kind ? json_pack("{s:s, s:{s:o}, s:[s], s:b}", "type", "object",
                                                             "properties", "k", cst, "required", "k",
                                                             "additionalProperties", 0)
                                                 : cst);
            }
            json_t *s = json_pack("{s:o}", "anyOf", alts);
            hearth_constraint *c = NULL;
            CHECK(hearth_constraint_new_json(v, s, &c) == HEARTH_OK, "24-way union: %s", hearth_error_last());
            for (int i = 0; c && i < 24; i++) {
                char doc[32];
                snprintf(doc, sizeof doc, kind ? "{\"k\":\"key%d\"}" : "\"key%d\"", i);
                int32_t *ids = NULL;
                size_t n = 0;
                hearth_constraint_state *st = NULL;
                CHECK(hearth_tokenize(v, doc, strlen(doc), false, false, &ids, &n) == HEARTH_OK, "tokenize");
                CHECK(hearth_constraint_state_new(c, &st) == HEARTH_OK, "state");
                int ok = st != NULL;
                for (size_t k = 0; ok && k < n; k++) ok = hearth_constraint_accept(st, ids[k]) == HEARTH_OK;
                CHECK(ok && hearth_constraint_complete(st), "alternative %s not reachable", doc);
                hearth_free(ids);
                hearth_constraint_state_free(st);
            }
            hearth_constraint_free(c);
            json_decref(s);
        }
    }
    /* bad arguments */
    hearth_constraint *c = NULL;
    CHECK(hearth_constraint_new_json(NULL, NULL, &c) == HEARTH_ERR_INVALID, "NULL vocab");
    CHECK(hearth_constraint_new_json(v, NULL, NULL) == HEARTH_ERR_INVALID, "NULL out");
    CHECK(hearth_constraint_state_new(NULL, NULL) == HEARTH_ERR_INVALID, "NULL state args");
    hearth_constraint_free(NULL);
    hearth_constraint_state_free(NULL);
    if (hearth_constraint_new_json(v, NULL, &c) == HEARTH_OK) {
        hearth_constraint_state *st = NULL;
        if (hearth_constraint_state_new(c, &st) == HEARTH_OK) {
            CHECK(hearth_constraint_accept(st, -1) == HEARTH_ERR_INVALID, "negative id");
            CHECK(hearth_constraint_accept(st, hearth_vocab_n_tokens(v)) == HEARTH_ERR_INVALID, "id past end");
            CHECK(hearth_constraint_accept(st, hearth_vocab_eos(v)) == HEARTH_ERR_INVALID, "EOG at start");
            CHECK(!hearth_constraint_complete(st), "empty text is not complete");
            /* logits beyond the vocabulary are masked */
            int32_t nv = hearth_vocab_n_tokens(v) + 10;
            float *lg = calloc((size_t)nv, sizeof(float));
            hearth_constraint_apply(st, lg, nv);
            int extra_masked = 1;
            for (int32_t i = nv - 10; i < nv; i++) extra_masked &= isinf(lg[i]) != 0;
            CHECK(extra_masked, "ids past the vocab masked");
            free(lg);
        }
        hearth_constraint_state_free(st);
    }
    hearth_constraint_free(c);
    free_fixture(&f);
}

/* ---- OOM injection ------------------------------------------------------------------------ */

static void test_oom(void) {
    fixture f = {0};
    if (!load_vocab(&f, "models/stories260K.gguf")) return;
    for (int si = 0; si < N_SCHEMAS; si++) {
        json_t *schema = SCHEMAS[si] ? J(SCHEMAS[si]) : NULL;
        int ok_at = -1;
        for (long n = 0; n < 100000; n++) {
            hearth_constraint *c = NULL;
            hearth_constraint_state *st = NULL;
            hearth_alloc_fail_after(n);
            hearth_status s = hearth_constraint_new_json(f.v, schema, &c);
            if (s == HEARTH_OK) s = hearth_constraint_state_new(c, &st);
            hearth_alloc_fail_after(-1);
            if (s == HEARTH_OK) {
                ok_at = (int)n;
                /* the survivor works */
                float lg[1024];
                int32_t nv = hearth_vocab_n_tokens(f.v);
                if (nv <= 1024) {
                    memset(lg, 0, sizeof lg);
                    hearth_constraint_apply(st, lg, nv);
                    int any = 0;
                    for (int32_t i = 0; i < nv; i++) any |= !isinf(lg[i]);
                    CHECK(any, "schema %d: nothing allowed after OOM loop", si);
                }
                hearth_constraint_state_free(st);
                hearth_constraint_free(c);
                break;
            }
            CHECK(s == HEARTH_ERR_NOMEM, "schema %d fail_after %ld: status %d (%s)", si, n, s, hearth_error_last());
            CHECK(c == NULL || st == NULL, "no half-made output");
            hearth_constraint_state_free(st);
            hearth_constraint_free(c);
            if (s != HEARTH_ERR_NOMEM) break;
        }
        CHECK(ok_at > 0, "schema %d: never succeeded", si);
        json_decref(schema);
    }
    free_fixture(&f);
}

int main(void) {
    printf("random walks:\n");
    test_walks("models/stories260K.gguf", 30, 400, 3);
    test_walks("tokenizer/llama-spm.gguf", 12, 300, 5);
    test_walks("tokenizer/gpt-2.gguf", 8, 300, 9);
    test_walks("tokenizer/qwen2.gguf", 6, 300, 17);
    printf("greedy with stories260K:\n");
    test_model_greedy();
    printf("hostile schemas:\n");
    test_hostile();
    test_oom();
    TEST_DONE();
}
