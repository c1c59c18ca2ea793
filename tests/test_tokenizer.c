/* test_tokenizer.c - the vocabularies and tokenizers against llama.cpp's
 * reference ids (../shared/tokenizer/NAME.tests.json), the stories260K prompt,
 * the streaming detokenizer and hostile vocab metadata. */
#include "test.h"
#include "test_logits.h"

#include <jansson.h>
#include <stdint.h>

#include "hearth/alloc.h"
#include "hearth/gguf.h"
#include "hearth/tokenizer.h"

/* ---- helpers ------------------------------------------------------------ */

/* Prints s[0..n) as a C-escaped string. */
static void print_escaped(FILE *f, const char *s, size_t n) {
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20 || c == 0x7f) fprintf(f, "\\x%02x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

static void print_ids(FILE *f, const int32_t *ids, size_t n) {
    fputc('[', f);
    for (size_t i = 0; i < n; i++) fprintf(f, "%s%d", i ? ", " : "", (int)ids[i]);
    fputc(']', f);
}

/* Whether two id arrays are equal. */
static bool ids_equal(const int32_t *a, size_t na, const int32_t *b, size_t nb) {
    return na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
}

/* True when s[0..n) is well-formed UTF-8 (RFC 3629). */
static bool valid_utf8(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        size_t need;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c < 0x80) { i++; continue; }
        if (c >= 0xC2 && c <= 0xDF) need = 2;
        else if (c >= 0xE0 && c <= 0xEF) { need = 3; if (c == 0xE0) lo = 0xA0; if (c == 0xED) hi = 0x9F; }
        else if (c >= 0xF0 && c <= 0xF4) { need = 4; if (c == 0xF0) lo = 0x90; if (c == 0xF4) hi = 0x8F; }
        else return false;
        if (i + need > n) return false;
        if (p[i + 1] < lo || p[i + 1] > hi) return false;
        for (size_t k = 2; k < need; k++)
            if (p[i + k] < 0x80 || p[i + k] > 0xBF) return false;
        i += need;
    }
    return true;
}

/* ---- reference vocab files ---------------------------------------------- */

typedef struct expect_ids {
    const char *name;
    int32_t bos, eos, eot, unk;
    bool add_bos;
    hearth_vocab_kind kind;
    int32_t n_tokens;
    int32_t eog[6];
    size_t n_eog;
} expect_ids;

/* The "Vocabularies" table of ../shared/tokenizer/README.md. */
static const expect_ids vocab_table[] = {
    {"llama-spm", 1, 2, -1, 0, true, HEARTH_VOCAB_SPM, 32000, {2}, 1},
    {"phi-3", 1, 32000, 32007, 0, true, HEARTH_VOCAB_SPM, 32064, {32000, 32007}, 2},
    {"bert-bge", 101, -1, -1, 100, true, HEARTH_VOCAB_WPM, 30522, {0}, 0},
    {"gpt-2", 50256, 50256, 50256, -1, false, HEARTH_VOCAB_BPE, 50257, {50256}, 1},
    {"llama-bpe", 128000, 128001, 128009, -1, true, HEARTH_VOCAB_BPE, 128256, {128001, 128009}, 2},
    {"qwen2", 151643, 151645, 151645, -1, false, HEARTH_VOCAB_BPE, 151936,
     {151643, 151645, 151662, 151663, 151664}, 5},
};

static int mismatch_prints;

/* Reports one id-list mismatch (bounded output). */
static void report_ids(const char *vocab, const char *check, const char *text, size_t tlen,
                       const int32_t *exp, size_t nexp, const int32_t *got, size_t ngot) {
    if (mismatch_prints++ > 60) return;
    fprintf(stderr, "  %s %s: text=", vocab, check);
    print_escaped(stderr, text, tlen);
    fprintf(stderr, "\n    expected ");
    print_ids(stderr, exp, nexp);
    fprintf(stderr, "\n    got      ");
    print_ids(stderr, got, ngot);
    fputc('\n', stderr);
}

static void report_str(const char *vocab, const char *check, const char *text, size_t tlen,
                       const char *exp, size_t nexp, const char *got, size_t ngot) {
    if (mismatch_prints++ > 60) return;
    fprintf(stderr, "  %s %s: text=", vocab, check);
    print_escaped(stderr, text, tlen);
    fprintf(stderr, "\n    expected ");
    print_escaped(stderr, exp, nexp);
    fprintf(stderr, "\n    got      ");
    print_escaped(stderr, got, ngot);
    fputc('\n', stderr);
}

/* Streams `ids` through the detokenizer; checks every step emits valid UTF-8
 * and that the whole equals hearth_detokenize(ids, false, false). Returns
 * true on success. */
static bool stream_matches(const hearth_vocab *v, const int32_t *ids, size_t n, bool verbose) {
    char *full = NULL;
    size_t full_len = 0;
    if (hearth_detokenize(v, ids, n, false, false, &full, &full_len) != HEARTH_OK) return false;
    hearth_detok_stream s;
    hearth_detok_stream_init(&s, v);
    char *acc = malloc(full_len * 3 + 400);
    size_t acc_n = 0;
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        char out[400];
        int r = hearth_detok_stream_push(&s, ids[i], out, sizeof out);
        if (r < 0) { ok = false; break; }
        if (!valid_utf8(out, (size_t)r)) {
            if (verbose) fprintf(stderr, "  stream step %zu emitted invalid UTF-8\n", i);
            ok = false;
        }
        if (acc_n + (size_t)r > full_len * 3 + 300) { ok = false; break; }
        memcpy(acc + acc_n, out, (size_t)r);
        acc_n += (size_t)r;
    }
    if (ok) {
        char out[16];
        int r = hearth_detok_stream_flush(&s, out, sizeof out);
        if (r < 0) ok = false;
        else {
            memcpy(acc + acc_n, out, (size_t)r);
            acc_n += (size_t)r;
        }
    }
    if (ok && (acc_n != full_len || memcmp(acc, full, full_len) != 0)) {
        if (verbose) {
            fprintf(stderr, "  stream: expected ");
            print_escaped(stderr, full, full_len);
            fprintf(stderr, "\n          got      ");
            print_escaped(stderr, acc, acc_n);
            fputc('\n', stderr);
        }
        ok = false;
    }
    free(acc);
    hearth_free(full);
    return ok;
}

static void test_vocab_file(const expect_ids *e) {
    char rel[128];
    snprintf(rel, sizeof rel, "tokenizer/%s.gguf", e->name);
    hearth_gguf *g = NULL;
    hearth_status st = hearth_gguf_open(test_data(rel), &g);
    REQUIRE(st == HEARTH_OK, "%s: open: %s", rel, hearth_error_last());
    hearth_vocab *v = NULL;
    st = hearth_vocab_load(g, &v);
    CHECK(st == HEARTH_OK, "%s: vocab load: %s", e->name, hearth_error_last());
    if (st != HEARTH_OK) {
        hearth_gguf_free(g);
        return;
    }

    /* the README's table */
    CHECK(hearth_vocab_kind_of(v) == e->kind, "%s kind", e->name);
    CHECK(hearth_vocab_n_tokens(v) == e->n_tokens, "%s n_tokens %d", e->name, hearth_vocab_n_tokens(v));
    CHECK(hearth_vocab_bos(v) == e->bos, "%s bos %d", e->name, hearth_vocab_bos(v));
    CHECK(hearth_vocab_eos(v) == e->eos, "%s eos %d", e->name, hearth_vocab_eos(v));
    CHECK(hearth_vocab_eot(v) == e->eot, "%s eot %d", e->name, hearth_vocab_eot(v));
    CHECK(hearth_vocab_unk(v) == e->unk, "%s unk %d", e->name, hearth_vocab_unk(v));
    CHECK(hearth_vocab_add_bos(v) == e->add_bos, "%s add_bos", e->name);
    CHECK(!hearth_vocab_add_eos(v), "%s add_eos", e->name);
    for (size_t i = 0; i < e->n_eog; i++)
        CHECK(hearth_vocab_is_eog(v, e->eog[i]), "%s: %d should be EOG", e->name, (int)e->eog[i]);
    size_t n_eog = 0;
    for (int32_t id = 0; id < hearth_vocab_n_tokens(v); id++) n_eog += hearth_vocab_is_eog(v, id);
    CHECK(n_eog == e->n_eog, "%s: %zu EOG tokens, expected %zu", e->name, n_eog, e->n_eog);

    snprintf(rel, sizeof rel, "tokenizer/%s.tests.json", e->name);
    json_error_t jerr;
    json_t *root = json_load_file(test_data(rel), JSON_ALLOW_NUL, &jerr);
    CHECK(root && json_is_array(root), "%s: %s", rel, jerr.text);
    if (!root) {
        hearth_vocab_free(v);
        hearth_gguf_free(g);
        return;
    }
    size_t n_fail[5] = {0}, n_entries = json_array_size(root), n_stream_fail = 0;
    CHECK(n_entries == 110, "%s: %zu entries", rel, n_entries);
    for (size_t k = 0; k < n_entries; k++) {
        json_t *ent = json_array_get(root, k);
        json_t *jt = json_object_get(ent, "text");
        const char *text = json_string_value(jt);
        size_t tlen = json_string_length(jt);
        REQUIRE(text, "%s: entry %zu has no text", rel, k);
        size_t n_exp[3];
        int32_t *exp[3] = {json_ids(json_object_get(ent, "ids"), &n_exp[0]),
                           json_ids(json_object_get(ent, "ids_parse_special"), &n_exp[1]),
                           json_ids(json_object_get(ent, "ids_add_special"), &n_exp[2])};
        static const char *names[3] = {"ids", "ids_parse_special", "ids_add_special"};
        static const bool add_sp[3] = {false, false, true}, parse_sp[3] = {false, true, false};
        for (int c = 0; c < 3; c++) {
            int32_t *got = NULL;
            size_t ngot = 0;
            st = hearth_tokenize(v, text, tlen, add_sp[c], parse_sp[c], &got, &ngot);
            if (st != HEARTH_OK) {
                n_fail[c]++;
                if (mismatch_prints++ <= 60)
                    fprintf(stderr, "  %s %s: tokenize failed: %s (%s)\n", e->name, names[c],
                            hearth_strerror(st), hearth_error_last());
            } else if (!ids_equal(got, ngot, exp[c], n_exp[c])) {
                n_fail[c]++;
                report_ids(e->name, names[c], text, tlen, exp[c], n_exp[c], got, ngot);
            }
            hearth_free(got);
        }
        static const char *dnames[2] = {"detok", "detok_parse_special"};
        for (int c = 0; c < 2; c++) {
            json_t *jd = json_object_get(ent, dnames[c]);
            char *got = NULL;
            size_t ngot = 0;
            st = hearth_detokenize(v, exp[c], n_exp[c], false, true, &got, &ngot);
            if (st != HEARTH_OK) {
                n_fail[3 + c]++;
            } else if (ngot != json_string_length(jd) || memcmp(got, json_string_value(jd), ngot) != 0) {
                n_fail[3 + c]++;
                report_str(e->name, dnames[c], text, tlen, json_string_value(jd), json_string_length(jd), got,
                           ngot);
            }
            hearth_free(got);
        }
        /* streaming over the reference ids: byte-fallback and byte-level
         * pieces split characters; vocabs without clean_spaces must stream
         * to exactly the detokenized text */
        if (e->kind == HEARTH_VOCAB_SPM || strcmp(e->name, "qwen2") == 0)
            if (!stream_matches(v, exp[0], n_exp[0], n_stream_fail < 3)) n_stream_fail++;
        for (int c = 0; c < 3; c++) free(exp[c]);
    }
    CHECK(n_fail[0] == 0, "%s: %zu/%zu ids mismatches", e->name, n_fail[0], n_entries);
    CHECK(n_fail[1] == 0, "%s: %zu/%zu ids_parse_special mismatches", e->name, n_fail[1], n_entries);
    CHECK(n_fail[2] == 0, "%s: %zu/%zu ids_add_special mismatches", e->name, n_fail[2], n_entries);
    CHECK(n_fail[3] == 0, "%s: %zu/%zu detok mismatches", e->name, n_fail[3], n_entries);
    CHECK(n_fail[4] == 0, "%s: %zu/%zu detok_parse_special mismatches", e->name, n_fail[4], n_entries);
    CHECK(n_stream_fail == 0, "%s: %zu streaming mismatches", e->name, n_stream_fail);
    json_decref(root);
    hearth_vocab_free(v);
    hearth_gguf_free(g);
}

/* ---- stories260K prompt -------------------------------------------------- */

static void test_stories(void) {
    hearth_gguf *g = NULL;
    hearth_status st = hearth_gguf_open(test_data("models/stories260K.gguf"), &g);
    REQUIRE(st == HEARTH_OK, "open stories260K: %s", hearth_error_last());
    hearth_vocab *v = NULL;
    st = hearth_vocab_load(g, &v);
    CHECK(st == HEARTH_OK, "stories260K vocab: %s", hearth_error_last());
    size_t plen = 0;
    char *prompt = test_read_file(test_data("reference/P1.txt"), &plen);
    json_error_t jerr;
    json_t *ref = json_load_file(test_data("reference/stories260K.P1.json"), 0, &jerr);
    CHECK(ref != NULL, "stories260K.P1.json: %s", jerr.text);
    if (v && prompt && ref) {
        size_t nexp;
        int32_t *exp = json_ids(json_object_get(ref, "prompt_token_ids"), &nexp);
        int32_t *got = NULL;
        size_t ngot = 0;
        st = hearth_tokenize(v, prompt, plen, true, false, &got, &ngot);
        CHECK(st == HEARTH_OK && ids_equal(got, ngot, exp, nexp), "stories260K P1 tokens");
        if (st == HEARTH_OK && !ids_equal(got, ngot, exp, nexp)) {
            report_ids("stories260K", "P1", prompt, plen, exp, nexp, got, ngot);
        }
        /* special ids of this file: sep/pad are 0xFFFFFFFF, which llama.cpp
         * ignores (keeps the default, none) */
        CHECK(hearth_vocab_bos(v) == (int32_t)json_integer_value(json_object_get(ref, "bos_id")), "bos");
        CHECK(hearth_vocab_eos(v) == (int32_t)json_integer_value(json_object_get(ref, "eos_id")), "eos");
        CHECK(hearth_vocab_sep(v) == -1 && hearth_vocab_pad(v) == -1, "sep/pad out of range -> none");
        CHECK(hearth_vocab_n_tokens(v) == (int32_t)json_integer_value(json_object_get(ref, "n_vocab")), "n_vocab");

        /* each generated piece, and the whole text */
        json_t *gen = json_object_get(ref, "generated_ids"), *hex = json_object_get(ref, "generated_pieces_hex");
        size_t ngen = json_array_size(gen);
        CHECK(ngen > 0 && ngen == json_array_size(hex), "generated arrays");
        for (size_t i = 0; i < ngen; i++) {
            char buf[300], want[300];
            int n = hearth_token_to_piece(v, (int32_t)json_integer_value(json_array_get(gen, i)), buf, sizeof buf, true);
            const char *h = json_string_value(json_array_get(hex, i));
            size_t wn = strlen(h) / 2;
            for (size_t k = 0; k < wn; k++) {
                unsigned x;
                sscanf(h + 2 * k, "%2x", &x);
                want[k] = (char)x;
            }
            CHECK(n == (int)wn && memcmp(buf, want, wn) == 0, "piece %zu", i);
        }
        /* too small a buffer: full length returned */
        char tiny[1];
        int n = hearth_token_to_piece(v, 403, tiny, 0, true);
        CHECK(n > 0, "piece length without buffer: %d", n);
        CHECK(hearth_token_to_piece(v, 512, tiny, 1, true) < 0, "bad id");
        CHECK(hearth_token_to_piece(v, -1, tiny, 1, true) < 0, "negative id");
        free(exp);
        hearth_free(got);
    }
    json_decref(ref);
    free(prompt);
    hearth_vocab_free(v);
    hearth_gguf_free(g);
}

/* ---- streaming with characters split across byte tokens ----------------- */

static void test_stream_bytes(void) {
    hearth_gguf *g = NULL;
    hearth_status st = hearth_gguf_open(test_data("tokenizer/llama-spm.gguf"), &g);
    REQUIRE(st == HEARTH_OK, "open llama-spm: %s", hearth_error_last());
    hearth_vocab *v = NULL;
    REQUIRE(hearth_vocab_load(g, &v) == HEARTH_OK, "load: %s", hearth_error_last());
    /* emoji and rare CJK are not in the Llama-2 vocab: they become <0xXX> */
    const char *text = "a \xf0\x9f\xa6\x99 llama \xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9 \xe9\xbe\x98 end";
    int32_t *ids = NULL;
    size_t n = 0;
    REQUIRE(hearth_tokenize(v, text, strlen(text), true, false, &ids, &n) == HEARTH_OK, "tokenize");
    size_t n_byte = 0;
    for (size_t i = 0; i < n; i++) n_byte += hearth_vocab_token_type(v, ids[i]) == HEARTH_TOKEN_BYTE;
    CHECK(n_byte >= 8, "expected byte-fallback tokens, got %zu", n_byte);
    CHECK(stream_matches(v, ids, n, true), "stream over byte tokens");
    char *full = NULL;
    size_t full_len = 0;
    /* without the BOS the prefix space is removed (with it, llama.cpp keeps it) */
    CHECK(n > 1 && hearth_detokenize(v, ids + 1, n - 1, true, false, &full, &full_len) == HEARTH_OK &&
              full_len == strlen(text) && memcmp(full, text, full_len) == 0,
          "round trip");
    hearth_free(full);

    /* step by step: nothing is emitted until the 4th byte of the llama emoji */
    hearth_detok_stream s;
    hearth_detok_stream_init(&s, v);
    int32_t f0 = hearth_vocab_find(v, "<0xF0>", 6), f9f = hearth_vocab_find(v, "<0x9F>", 6),
            fa6 = hearth_vocab_find(v, "<0xA6>", 6), f99 = hearth_vocab_find(v, "<0x99>", 6);
    REQUIRE(f0 >= 0 && f9f >= 0 && fa6 >= 0 && f99 >= 0, "byte tokens present");
    char out[300];
    CHECK(hearth_detok_stream_push(&s, f0, out, sizeof out) == 0, "held 1");
    CHECK(hearth_detok_stream_push(&s, f9f, out, sizeof out) == 0, "held 2");
    CHECK(hearth_detok_stream_push(&s, fa6, out, sizeof out) == 0, "held 3");
    CHECK(hearth_detok_stream_push(&s, f99, out, sizeof out) == 4 && memcmp(out, "\xf0\x9f\xa6\x99", 4) == 0,
          "complete");
    /* an unfinished tail flushes as U+FFFD; a broken one too */
    CHECK(hearth_detok_stream_push(&s, f0, out, sizeof out) == 0, "held again");
    CHECK(hearth_detok_stream_flush(&s, out, sizeof out) == 3 && memcmp(out, "\xef\xbf\xbd", 3) == 0, "flush");
    CHECK(hearth_detok_stream_flush(&s, out, sizeof out) == 0, "flush empty");
    int32_t a_id = hearth_vocab_find(v, "a", 1);
    CHECK(hearth_detok_stream_push(&s, f0, out, sizeof out) == 0, "held");
    int r = hearth_detok_stream_push(&s, a_id, out, sizeof out);
    CHECK(r == 4 && memcmp(out, "\xef\xbf\xbd" "a", 4) == 0 && valid_utf8(out, 4), "broken sequence: %d", r);
    /* a small output buffer is refused without losing state */
    CHECK(hearth_detok_stream_push(&s, hearth_vocab_find(v, "\xe2\x96\x81llama", 8), out, 2) == HEARTH_ERR_RANGE,
          "cap");
    CHECK(hearth_detok_stream_push(&s, 99999, out, sizeof out) < 0, "bad id");
    hearth_free(ids);
    hearth_vocab_free(v);
    hearth_gguf_free(g);
}

/* ---- hostile metadata ----------------------------------------------------- */

typedef struct gb {
    unsigned char *p;
    size_t n, cap;
    uint64_t n_kv;
} gb;

static void gb_put(gb *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void gb_u32(gb *b, uint32_t x) { unsigned char t[4] = {x, x >> 8, x >> 16, x >> 24}; gb_put(b, t, 4); }
static void gb_u64(gb *b, uint64_t x) { gb_u32(b, (uint32_t)x); gb_u32(b, (uint32_t)(x >> 32)); }
static void gb_str(gb *b, const char *s) { gb_u64(b, strlen(s)); gb_put(b, s, strlen(s)); }
static void gb_key(gb *b, const char *k, uint32_t type) { gb_str(b, k); gb_u32(b, type); b->n_kv++; }
static void kv_str(gb *b, const char *k, const char *v) { gb_key(b, k, HEARTH_GGUF_STRING); gb_str(b, v); }
static void kv_u32(gb *b, const char *k, uint32_t v) { gb_key(b, k, HEARTH_GGUF_UINT32); gb_u32(b, v); }
static void kv_bool(gb *b, const char *k, bool v) { unsigned char c = v; gb_key(b, k, HEARTH_GGUF_BOOL); gb_put(b, &c, 1); }
static void kv_strs(gb *b, const char *k, const char *const *v, size_t n) {
    gb_key(b, k, HEARTH_GGUF_ARRAY);
    gb_u32(b, HEARTH_GGUF_STRING);
    gb_u64(b, n);
    for (size_t i = 0; i < n; i++) gb_str(b, v[i]);
}
static void kv_f32s(gb *b, const char *k, const float *v, size_t n) {
    gb_key(b, k, HEARTH_GGUF_ARRAY);
    gb_u32(b, HEARTH_GGUF_FLOAT32);
    gb_u64(b, n);
    gb_put(b, v, n * 4);
}
static void kv_i32s(gb *b, const char *k, const int32_t *v, size_t n) {
    gb_key(b, k, HEARTH_GGUF_ARRAY);
    gb_u32(b, HEARTH_GGUF_INT32);
    gb_u64(b, n);
    gb_put(b, v, n * 4);
}
/* Assembles header + kvs into a fresh buffer. */
static unsigned char *gb_finish(gb *kvs, size_t *size) {
    gb out = {0};
    gb_put(&out, "GGUF", 4);
    gb_u32(&out, 3);
    gb_u64(&out, 0);
    gb_u64(&out, kvs->n_kv);
    gb_put(&out, kvs->p, kvs->n);
    *size = out.n;
    return out.p;
}

/* Bits of a small SPM vocab; `omit` / `mutate` select what to break. */
enum {
    M_NONE, M_NO_TOKENS, M_NO_MODEL, M_SCORES_SHORT, M_TYPES_LONG, M_TYPES_STRINGS, M_TOKENS_INTS,
    M_BOS_STRING, M_ADD_BOS_STRING, M_MODEL_T5, M_BOS_HUGE, M_ONE_TOKEN, M_GPT2_NO_MERGES, M_MODEL_INT,
    M_SCORES_STRINGS, M_EMPTY_TOKENS, M_BAD_TYPES, M_COUNT
};

static unsigned char *make_vocab(int m, size_t *size) {
    static const char *const toks[] = {"<unk>", "<s>", "</s>", "\xe2\x96\x81" "a", "b", "<0x", "<0x41>", "",
                                       "<|im_end|>", "\xe2\x96\x81" "ab"};
    const size_t nt = m == M_ONE_TOKEN ? 1 : sizeof toks / sizeof toks[0];
    float scores[10] = {0, 0, 0, -1, -2, 0, 0, 0, 0, -0.5f};
    int32_t types[11] = {2, 3, 3, 1, 1, 6, 6, 1, 1, 1, 1};
    if (m == M_BAD_TYPES) { types[3] = 77; types[4] = -5; types[1] = 0; }
    gb b = {0};
    if (m == M_MODEL_INT) kv_u32(&b, "tokenizer.ggml.model", 7);
    else if (m != M_NO_MODEL) kv_str(&b, "tokenizer.ggml.model", m == M_MODEL_T5 ? "t5" : m == M_GPT2_NO_MERGES ? "gpt2" : "llama");
    if (m == M_TOKENS_INTS) kv_i32s(&b, "tokenizer.ggml.tokens", types, nt);
    else if (m == M_EMPTY_TOKENS) kv_strs(&b, "tokenizer.ggml.tokens", toks, 0);
    else if (m != M_NO_TOKENS) kv_strs(&b, "tokenizer.ggml.tokens", toks, nt);
    if (m == M_SCORES_STRINGS) kv_strs(&b, "tokenizer.ggml.scores", toks, nt);
    else kv_f32s(&b, "tokenizer.ggml.scores", scores, m == M_SCORES_SHORT ? nt - 1 : nt);
    if (m == M_TYPES_STRINGS) kv_strs(&b, "tokenizer.ggml.token_type", toks, nt);
    else kv_i32s(&b, "tokenizer.ggml.token_type", types, m == M_TYPES_LONG ? nt + 1 : nt);
    if (m == M_BOS_STRING) kv_str(&b, "tokenizer.ggml.bos_token_id", "1");
    else kv_u32(&b, "tokenizer.ggml.bos_token_id", m == M_BOS_HUGE ? 0xFFFFFFFFu : 1);
    kv_u32(&b, "tokenizer.ggml.eos_token_id", m == M_BOS_HUGE ? 1000 : 2);
    if (m == M_ADD_BOS_STRING) kv_str(&b, "tokenizer.ggml.add_bos_token", "yes");
    else kv_bool(&b, "tokenizer.ggml.add_bos_token", true);
    unsigned char *r = gb_finish(&b, size);
    free(b.p);
    return r;
}

/* Loads a buffer; returns the vocab status (GGUF must open). */
static hearth_status load_buf(const unsigned char *buf, size_t size, hearth_gguf **g, hearth_vocab **v) {
    *g = NULL;
    *v = NULL;
    hearth_status st = hearth_gguf_open_buffer(buf, size, g);
    if (st != HEARTH_OK) return 1000 + st;
    return hearth_vocab_load(*g, v);
}

/* Exercises a loaded vocab with odd inputs: every id stays in range. */
static void exercise(const hearth_vocab *v) {
    static const char *const texts[] = {"", " ", "ab a b", "\xff\xfe<0x41>", "<s><unk></s> a", "\x00\x80\xc3",
                                        "<|im_end|>a"};
    for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
        for (int mode = 0; mode < 4; mode++) {
            int32_t *ids = NULL;
            size_t n = 0;
            size_t len = t == 5 ? 3 : strlen(texts[t]);
            if (hearth_tokenize(v, texts[t], len, mode & 1, mode & 2, &ids, &n) == HEARTH_OK) {
                bool in_range = true;
                for (size_t i = 0; i < n; i++) in_range &= ids[i] >= 0 && ids[i] < hearth_vocab_n_tokens(v);
                CHECK(in_range, "ids in range for text %zu mode %d", t, mode);
                char *s = NULL;
                if (hearth_detokenize(v, ids, n, mode & 1, true, &s, NULL) == HEARTH_OK) hearth_free(s);
            }
            hearth_free(ids);
        }
    }
    for (int32_t id = -2; id < hearth_vocab_n_tokens(v) + 2; id++) {
        char buf[64];
        (void)hearth_token_to_piece(v, id, buf, sizeof buf, true);
        (void)hearth_vocab_token_text(v, id);
        (void)hearth_vocab_is_eog(v, id);
    }
}

static void test_hostile(void) {
    static const struct {
        int m;
        hearth_status want;
    } cases[] = {
        {M_NONE, HEARTH_OK},
        {M_NO_TOKENS, HEARTH_ERR_FORMAT},
        {M_NO_MODEL, HEARTH_ERR_FORMAT}, /* tokens without a model */
        {M_SCORES_SHORT, HEARTH_ERR_FORMAT},
        {M_TYPES_LONG, HEARTH_ERR_FORMAT},
        {M_TYPES_STRINGS, HEARTH_ERR_FORMAT},
        {M_TOKENS_INTS, HEARTH_ERR_FORMAT},
        {M_BOS_STRING, HEARTH_ERR_FORMAT},
        {M_ADD_BOS_STRING, HEARTH_ERR_FORMAT},
        {M_MODEL_T5, HEARTH_ERR_UNSUPPORTED},
        {M_BOS_HUGE, HEARTH_OK},
        {M_ONE_TOKEN, HEARTH_OK},
        {M_GPT2_NO_MERGES, HEARTH_ERR_FORMAT},
        {M_MODEL_INT, HEARTH_ERR_FORMAT},
        {M_SCORES_STRINGS, HEARTH_ERR_FORMAT},
        {M_EMPTY_TOKENS, HEARTH_ERR_FORMAT},
        {M_BAD_TYPES, HEARTH_OK},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t size;
        unsigned char *buf = make_vocab(cases[c].m, &size);
        hearth_gguf *g;
        hearth_vocab *v;
        hearth_error_clear();
        hearth_status st = load_buf(buf, size, &g, &v);
        CHECK(st == cases[c].want, "hostile case %d: got %d (%s), want %d", cases[c].m, st, hearth_error_last(),
              cases[c].want);
        if (st != HEARTH_OK) CHECK(hearth_error_last()[0] != '\0', "case %d has a detail", cases[c].m);
        if (st == HEARTH_OK) {
            exercise(v);
            if (cases[c].m == M_BOS_HUGE) {
                CHECK(hearth_vocab_bos(v) == 1, "out-of-range bos keeps the default");
                CHECK(hearth_vocab_eos(v) == 2, "out-of-range eos keeps the default");
            }
            if (cases[c].m == M_ONE_TOKEN) {
                CHECK(hearth_vocab_bos(v) == -1 && hearth_vocab_eos(v) == -1, "defaults beyond a 1-token vocab");
                int32_t *ids = NULL;
                size_t n = 0;
                CHECK(hearth_tokenize(v, "", 0, true, false, &ids, &n) == HEARTH_OK && n == 0, "no BOS to add");
                hearth_free(ids);
            }
            if (cases[c].m == M_NONE) {
                int32_t *ids = NULL;
                size_t n = 0;
                /* "<|im_end|>" is retyped CONTROL and EOG */
                CHECK(hearth_vocab_token_type(v, 8) == HEARTH_TOKEN_CONTROL, "retyped");
                CHECK(hearth_vocab_is_eog(v, 8), "im_end EOG");
                CHECK(hearth_tokenize(v, "ab", 2, true, false, &ids, &n) == HEARTH_OK && n == 2 && ids[0] == 1 &&
                          ids[1] == 9,
                      "tiny SPM: [bos, \xe2\x96\x81" "ab]");
                hearth_free(ids);
                char piece[8];
                CHECK(hearth_token_to_piece(v, 5, piece, sizeof piece, true) == 1, "odd byte token text");
                CHECK(hearth_token_to_piece(v, 6, piece, sizeof piece, true) == 1 && piece[0] == 'A', "<0x41>");
            }
        }
        hearth_vocab_free(v);
        hearth_gguf_free(g);

        /* every truncation, and byte flips, of the valid buffer fail cleanly */
        if (cases[c].m == M_NONE) {
            for (size_t cut = 0; cut < size; cut += 3) {
                if (load_buf(buf, cut, &g, &v) == HEARTH_OK) exercise(v);
                hearth_vocab_free(v);
                hearth_gguf_free(g);
            }
            unsigned char *copy = malloc(size);
            uint32_t seed = 12345;
            for (int it = 0; it < 3000; it++) {
                memcpy(copy, buf, size);
                for (int k = 0; k < 3; k++) {
                    seed = seed * 1664525u + 1013904223u;
                    copy[(seed >> 8) % size] ^= (unsigned char)(1u << (seed >> 29));
                }
                if (load_buf(copy, size, &g, &v) == HEARTH_OK) exercise(v);
                hearth_vocab_free(v);
                hearth_gguf_free(g);
            }
            free(copy);
        }
        free(buf);
    }
    hearth_gguf *g;
    hearth_vocab *v;
    CHECK(hearth_vocab_load(NULL, &v) < 0, "NULL gguf");
    /* a GGUF with no tokenizer at all */
    gb b = {0};
    kv_str(&b, "general.architecture", "llama");
    size_t size;
    unsigned char *buf = gb_finish(&b, &size);
    CHECK(load_buf(buf, size, &g, &v) == HEARTH_ERR_NOT_FOUND, "no tokenizer -> NOT_FOUND");
    hearth_vocab_free(v);
    hearth_gguf_free(g);
    free(buf);
    free(b.p);
}

/* Out of memory at every allocation of a load and a tokenize. */
static void test_oom(void) {
    size_t size;
    unsigned char *buf = make_vocab(M_NONE, &size);
    hearth_gguf *g = NULL;
    REQUIRE(hearth_gguf_open_buffer(buf, size, &g) == HEARTH_OK, "open");
    bool saw_ok = false;
    for (long k = 0; k < 200 && !saw_ok; k++) {
        hearth_vocab *v = NULL;
        hearth_alloc_fail_after(k);
        hearth_status st = hearth_vocab_load(g, &v);
        if (st == HEARTH_OK) {
            int32_t *ids = NULL;
            size_t n;
            st = hearth_tokenize(v, "ab <s> a", 8, true, true, &ids, &n);
            if (st == HEARTH_OK) {
                char *s = NULL;
                st = hearth_detokenize(v, ids, n, false, true, &s, NULL);
                hearth_free(s);
            }
            hearth_free(ids);
            saw_ok = st == HEARTH_OK;
        }
        hearth_alloc_fail_after(-1);
        CHECK(st == HEARTH_OK || st == HEARTH_ERR_NOMEM, "oom at %ld: %d", k, st);
        hearth_vocab_free(v);
    }
    CHECK(saw_ok, "eventually succeeds");
    hearth_gguf_free(g);
    free(buf);
}

int main(void) {
    for (size_t i = 0; i < sizeof vocab_table / sizeof vocab_table[0]; i++) test_vocab_file(&vocab_table[i]);
    test_stories();
    test_stream_bytes();
    test_hostile();
    test_oom();
    TEST_DONE();
}
