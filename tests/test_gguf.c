/* test_gguf.c - the GGUF reader against the shared models and hostile files.
 *
 * 1. Every shared model and tokenizer GGUF opens, and the facts stated in the
 *    shared READMEs hold (tensor counts and types, hyperparameters, vocab
 *    sizes, special token texts, the chat template of the chat/ JSON files).
 * 2. Hostile variants built in memory from a shared model: truncation at
 *    every header byte, pseudo-random byte mutations, and targeted
 *    corruptions of every validated field. Each must fail with a detail
 *    message (or, for random mutations, succeed with a sane handle).
 * 3. The file path API on temp files and a missing path.
 * 4. Allocation failure at every allocation of an open.
 */
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <unistd.h>

#include "hearth/alloc.h"
#include "hearth/gguf.h"
#include "hearth/quant.h"
#include "test.h"

/* ---- helpers ---------------------------------------------------------------- */

/* Reads a whole file into an exact-size malloc block (so ASan sees reads
 * past the end); NULL and a recorded failure when missing. */
static uint8_t *read_exact(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        test_failed++;
        fprintf(stderr, "FAIL: fixture missing: %s\n", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
    if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(b);
        test_failed++;
        fprintf(stderr, "FAIL: cannot read %s\n", path);
        return NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* Little-endian stores used to build and corrupt files. */
static void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static volatile unsigned sink;

/* Touches every byte a successful handle exposes (kv strings, array
 * elements, tensor data ends), so ASan catches any view outside the buffer. */
static void walk_handle(const hearth_gguf *g) {
    unsigned acc = 0;
    for (uint64_t i = 0; i < hearth_gguf_n_kv(g); i++) {
        const hearth_gguf_kv *kv = hearth_gguf_kv_at(g, i);
        for (uint64_t j = 0; j < kv->key.len; j++) acc += (unsigned char)kv->key.ptr[j];
        if (kv->type == HEARTH_GGUF_STRING && kv->v.str.len) {
            acc += (unsigned char)kv->v.str.ptr[0] + (unsigned char)kv->v.str.ptr[kv->v.str.len - 1];
        } else if (kv->type == HEARTH_GGUF_ARRAY) {
            for (uint64_t j = 0; j < kv->v.arr.n; j++) {
                if (kv->v.arr.elem_type == HEARTH_GGUF_STRING) {
                    hearth_str s = hearth_gguf_arr_str(kv, j);
                    if (s.len) acc += (unsigned char)s.ptr[0] + (unsigned char)s.ptr[s.len - 1];
                } else {
                    acc += (unsigned)hearth_gguf_arr_i64(kv, j);
                    acc += (unsigned)(hearth_gguf_arr_f64(kv, j) != 0.0);
                }
            }
        }
    }
    for (uint64_t i = 0; i < hearth_gguf_n_tensors(g); i++) {
        const hearth_gguf_tensor *t = hearth_gguf_tensor_at(g, i);
        const uint8_t *d = t->data;
        acc += d[0] + d[t->nbytes - 1];
        acc += hearth_gguf_tensor_find(g, "x") != NULL;
    }
    sink += acc;
}

/* Opens a buffer that may be valid or not: on failure the detail must be
 * set; on success the handle is walked. Returns the status. */
static int try_open(const uint8_t *b, size_t n) {
    hearth_gguf *g = (hearth_gguf *)0x1;
    hearth_error_clear();
    int st = hearth_gguf_open_buffer(b, n, &g);
    if (st < 0) {
        CHECK(g == NULL, "handle must be NULL on failure");
        CHECK(hearth_error_last()[0] != '\0', "status %d without a detail message", st);
        CHECK(strchr(hearth_error_last(), '\n') == NULL, "multi-line detail: %s", hearth_error_last());
    } else {
        walk_handle(g);
        hearth_gguf_free(g);
    }
    return st;
}

/* Opens a buffer that must be rejected; `what` names the corruption. Returns
 * the status. */
static int expect_fail(const uint8_t *b, size_t n, const char *what) {
    int st = try_open(b, n);
    CHECK(st < 0, "%s: accepted a corrupt file", what);
    if (getenv("GGUF_TEST_VERBOSE")) printf("  %-40s -> %d %s\n", what, st, hearth_error_last());
    return st;
}

/* Like expect_fail, and the detail must contain `needle`. */
static void expect_fail_msg(const uint8_t *b, size_t n, const char *what, const char *needle) {
    int st = expect_fail(b, n, what);
    if (st < 0)
        CHECK(strstr(hearth_error_last(), needle) != NULL, "%s: detail '%s' lacks '%s'", what,
              hearth_error_last(), needle);
}

/* ---- 1. the shared files ------------------------------------------------------ */

/* Counts tensors of a type. */
static int count_type(const hearth_gguf *g, const char *type) {
    int t = hearth_type_from_name(type), n = 0;
    for (uint64_t i = 0; i < hearth_gguf_n_tensors(g); i++) n += (int)hearth_gguf_tensor_at(g, i)->type == t;
    return n;
}

/* Checks the structural invariants every valid file must satisfy. */
static void check_invariants(const char *name, const hearth_gguf *g) {
    CHECK(hearth_gguf_version(g) == 3, "%s: version %u", name, hearth_gguf_version(g));
    CHECK(hearth_gguf_alignment(g) == 32, "%s: alignment", name);
    const uint8_t *base = hearth_gguf_base(g);
    uint64_t size = hearth_gguf_file_size(g);
    for (uint64_t i = 0; i < hearth_gguf_n_kv(g); i++) {
        const hearth_gguf_kv *kv = hearth_gguf_kv_at(g, i);
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)kv->key.len, kv->key.ptr);
        CHECK(hearth_gguf_find(g, key) == kv, "%s: find('%s')", name, key);
    }
    uint64_t prev_end = 0;
    for (uint64_t i = 0; i < hearth_gguf_n_tensors(g); i++) {
        const hearth_gguf_tensor *t = hearth_gguf_tensor_at(g, i);
        char tn[256];
        snprintf(tn, sizeof tn, "%.*s", (int)t->name.len, t->name.ptr);
        CHECK(hearth_gguf_tensor_find(g, tn) == t, "%s: tensor_find('%s')", name, tn);
        uint64_t want = hearth_row_size(t->type, t->ne[0]) * (uint64_t)(t->ne[1] * t->ne[2] * t->ne[3]);
        CHECK(want > 0 && t->nbytes == want, "%s: %s nbytes %llu, row size says %llu", name, tn,
              (unsigned long long)t->nbytes, (unsigned long long)want);
        uint64_t at = (uint64_t)((const uint8_t *)t->data - base);
        CHECK(at + t->nbytes <= size, "%s: %s data past end", name, tn);
        CHECK(at % 32 == 0 && t->offset % 32 == 0, "%s: %s misaligned", name, tn);
        CHECK(at >= prev_end, "%s: %s overlaps its predecessor", name, tn);
        prev_end = at + t->nbytes;
        for (uint32_t d = t->n_dims; d < 4; d++) CHECK(t->ne[d] == 1, "%s: %s unused dim", name, tn);
    }
    CHECK(hearth_gguf_tensor_find(g, "no.such.tensor") == NULL, "%s", name);
    CHECK(hearth_gguf_find(g, "no.such.key") == NULL, "%s", name);
    CHECK(hearth_gguf_kv_at(g, hearth_gguf_n_kv(g)) == NULL, "%s", name);
    CHECK(hearth_gguf_tensor_at(g, hearth_gguf_n_tensors(g)) == NULL, "%s", name);
}

/* Checks a uint32 hyperparameter "<arch>.<suffix>". */
static void check_hp(const hearth_gguf *g, const char *file, const char *arch, const char *suffix, uint32_t want) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    uint32_t v = 0xdeadbeef;
    int st = hearth_gguf_get_u32(g, key, &v);
    CHECK(st == HEARTH_OK && v == want, "%s: %s = %u (st %d), want %u", file, key, v, st, want);
}

/* Checks a tensor's type and shape. */
static void check_tensor(const hearth_gguf *g, const char *file, const char *name, const char *type, int64_t ne0,
                         int64_t ne1) {
    const hearth_gguf_tensor *t = hearth_gguf_tensor_find(g, name);
    CHECK(t != NULL, "%s: tensor %s missing", file, name);
    if (!t) return;
    CHECK((int)t->type == hearth_type_from_name(type), "%s: %s is %s, want %s", file, name,
          hearth_type_name(t->type), type);
    CHECK(t->ne[0] == ne0 && t->ne[1] == ne1, "%s: %s shape %lld x %lld", file, name, (long long)t->ne[0],
          (long long)t->ne[1]);
}

typedef struct model_fact {
    const char *file;
    uint64_t bytes;
    const char *arch;
    int n_tensors;
    uint32_t n_embd, n_layer, n_head, n_ff, ctx;
    uint64_t n_vocab;
    const char *types[3]; /* "type:count" */
} model_fact;

/* From /work/shared/models/README.md. */
static const model_fact models[] = {
    {"stories260K.gguf", 1185376, "llama", 48, 64, 5, 8, 172, 128, 512, {"f32:48"}},
    {"stories260K-q8_0.gguf", 347808, "llama", 48, 64, 5, 8, 192, 128, 512, {"q8_0:37", "f32:11"}},
    {"stories260K-q4_0.gguf", 208544, "llama", 48, 64, 5, 8, 192, 128, 512, {"q4_0:36", "q8_0:1", "f32:11"}},
    {"tiny-llama-f32.gguf", 13654432, "llama", 39, 256, 4, 4, 768, 2048, 512, {"f32:39"}},
    {"tiny-llama-f16.gguf", 6838720, "llama", 39, 256, 4, 4, 768, 2048, 512, {"f16:30", "f32:9"}},
    {"tiny-llama-bf16.gguf", 6838720, "llama", 39, 256, 4, 4, 768, 2048, 512, {"bf16:30", "f32:9"}},
    {"tiny-llama-q8_0.gguf", 3643840, "llama", 39, 256, 4, 4, 768, 2048, 512, {"q8_0:30", "f32:9"}},
    {"tiny-llama-q4_0.gguf", 1939904, "llama", 39, 256, 4, 4, 768, 2048, 512, {"q4_0:30", "f32:9"}},
    {"tiny-llama-q4_1.gguf", 2152896, "llama", 39, 256, 4, 4, 768, 2048, 512, {"q4_1:30", "f32:9"}},
    {"tiny-llama-q5_0.gguf", 2365888, "llama", 39, 256, 4, 4, 768, 2048, 512, {"q5_0:30", "f32:9"}},
    {"tiny-llama-q5_1.gguf", 2578880, "llama", 39, 256, 4, 4, 768, 2048, 512, {"q5_1:30", "f32:9"}},
    {"tiny-llama-q2_k.gguf", 1141184, "llama", 39, 256, 4, 4, 768, 2048, 512, {"q2_k:30", "f32:9"}},
    {"tiny-llama-q3_k.gguf", 1487296, "llama", 39, 256, 4, 4, 768, 2048, 512, {"q3_k:30", "f32:9"}},
    {"tiny-llama-q4_k.gguf", 1939904, "llama", 39, 256, 4, 4, 768, 2048, 512, {"q4_k:30", "f32:9"}},
    {"tiny-llama-q5_k.gguf", 2365888, "llama", 39, 256, 4, 4, 768, 2048, 512, {"q5_k:30", "f32:9"}},
    {"tiny-llama-q6_k.gguf", 2818496, "llama", 39, 256, 4, 4, 768, 2048, 512, {"q6_k:30", "f32:9"}},
    {"tiny-llama-iq4_nl.gguf", 1939904, "llama", 39, 256, 4, 4, 768, 2048, 512, {"iq4_nl:30", "f32:9"}},
    {"tiny-llama-iq4_xs.gguf", 1833408, "llama", 39, 256, 4, 4, 768, 2048, 512, {"iq4_xs:30", "f32:9"}},
    {"tiny-llama-q4_k_m.gguf", 2091968, "llama", 39, 256, 4, 4, 768, 2048, 512, {"q4_k:25", "q6_k:5", "f32:9"}},
    {"tiny-llama-q5_k_m.gguf", 2444224, "llama", 39, 256, 4, 4, 768, 2048, 512, {"q5_k:25", "q6_k:5", "f32:9"}},
    {"tiny-qwen2-f32.gguf", 13138848, "qwen2", 50, 256, 4, 4, 768, 2048, 512, {"f32:50"}},
    {"tiny-qwen2-q8_0.gguf", 3513312, "qwen2", 50, 256, 4, 4, 768, 2048, 512, {"q8_0:29", "f32:21"}},
    {"tiny-qwen2-q4_k_m.gguf", 2026976, "qwen2", 50, 256, 4, 4, 768, 2048, 512, {"q4_k:24", "q6_k:5", "f32:21"}},
    {"tiny-bert-f32.gguf", 18107328, "bert", 37, 128, 2, 4, 512, 512, 30522, {"f32:37"}},
    {"tiny-bert-q8_0.gguf", 5476032, "bert", 37, 128, 2, 4, 512, 512, 30522, {"q8_0:13", "f32:24"}},
};

/* Checks one model file against its README facts. */
static void test_model(const model_fact *m) {
    char rel[256];
    snprintf(rel, sizeof rel, "models/%s", m->file);
    hearth_gguf *g = NULL;
    int st = hearth_gguf_open(test_data(rel), &g);
    REQUIRE(st == HEARTH_OK, "%s: %s", m->file, hearth_error_last());
    check_invariants(m->file, g);
    CHECK(hearth_gguf_file_size(g) == m->bytes, "%s: size %llu", m->file,
          (unsigned long long)hearth_gguf_file_size(g));
    CHECK((int)hearth_gguf_n_tensors(g) == m->n_tensors, "%s: %llu tensors", m->file,
          (unsigned long long)hearth_gguf_n_tensors(g));
    hearth_str arch = {0};
    CHECK(hearth_gguf_get_str(g, "general.architecture", &arch) == HEARTH_OK && hearth_str_eq(arch, m->arch),
          "%s: architecture", m->file);
    check_hp(g, m->file, m->arch, "embedding_length", m->n_embd);
    check_hp(g, m->file, m->arch, "block_count", m->n_layer);
    check_hp(g, m->file, m->arch, "attention.head_count", m->n_head);
    check_hp(g, m->file, m->arch, "feed_forward_length", m->n_ff);
    check_hp(g, m->file, m->arch, "context_length", m->ctx);
    const hearth_gguf_kv *tok = NULL;
    CHECK(hearth_gguf_get_arr(g, "tokenizer.ggml.tokens", HEARTH_GGUF_STRING, &tok) == HEARTH_OK && tok &&
              tok->v.arr.n == m->n_vocab,
          "%s: vocab size", m->file);
    for (int i = 0; i < 3 && m->types[i]; i++) {
        char ty[16];
        int n = 0;
        const char *colon = strchr(m->types[i], ':');
        snprintf(ty, sizeof ty, "%.*s", (int)(colon - m->types[i]), m->types[i]);
        n = atoi(colon + 1);
        CHECK(count_type(g, ty) == n, "%s: %d tensors of %s, want %d", m->file, count_type(g, ty), ty, n);
    }
    /* Norm epsilon: RMS 1e-5 for llama, 1e-6 for qwen2, LayerNorm 1e-12 for bert. */
    char key[128];
    float eps = -1.0f, want_eps = 1e-5f;
    if (!strcmp(m->arch, "bert")) {
        snprintf(key, sizeof key, "bert.attention.layer_norm_epsilon");
        want_eps = 1e-12f;
    } else {
        snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", m->arch);
        if (!strcmp(m->arch, "qwen2")) want_eps = 1e-6f;
    }
    CHECK(hearth_gguf_get_f32(g, key, &eps) == HEARTH_OK && fabsf(eps - want_eps) <= want_eps * 1e-6f,
          "%s: %s = %g", m->file, key, eps);
    if (!strcmp(m->arch, "llama") || !strcmp(m->arch, "qwen2")) {
        uint32_t kv_heads = 0;
        snprintf(key, sizeof key, "%s.attention.head_count_kv", m->arch);
        CHECK(hearth_gguf_get_u32(g, key, &kv_heads) == HEARTH_OK && kv_heads == (m->n_embd == 64 ? 4u : 2u),
              "%s: head_count_kv", m->file);
    }
    hearth_gguf_free(g);
}

/* Facts about specific files beyond the table. */
static void test_model_specifics(void) {
    hearth_gguf *g = NULL;
    const char *f = "stories260K.gguf";
    REQUIRE(hearth_gguf_open(test_data("models/stories260K.gguf"), &g) == HEARTH_OK, "%s", hearth_error_last());
    hearth_str s = {0};
    CHECK(hearth_gguf_get_str(g, "general.name", &s) == HEARTH_OK && hearth_str_eq(s, "llama"), "general.name");
    uint32_t u = 77;
    CHECK(hearth_gguf_get_u32(g, "general.file_type", &u) == HEARTH_ERR_NOT_FOUND && u == 77,
          "no file_type, out untouched");
    float fb = 123.0f;
    CHECK(hearth_gguf_get_f32(g, "llama.rope.freq_base", &fb) == HEARTH_ERR_NOT_FOUND && fb == 123.0f, "no freq_base");
    check_tensor(g, f, "token_embd.weight", "f32", 64, 512);
    check_tensor(g, f, "output.weight", "f32", 64, 512);
    check_tensor(g, f, "blk.0.ffn_down.weight", "f32", 172, 64);
    check_tensor(g, f, "blk.4.ffn_gate.weight", "f32", 64, 172);
    /* SPM vocab: byte-fallback tokens <0x00>..<0xFF> at 3..258. */
    const hearth_gguf_kv *tok = NULL;
    if (hearth_gguf_get_arr(g, "tokenizer.ggml.tokens", HEARTH_GGUF_STRING, &tok) == HEARTH_OK) {
        CHECK(hearth_str_eq(hearth_gguf_arr_str(tok, 3), "<0x00>"), "token 3");
        CHECK(hearth_str_eq(hearth_gguf_arr_str(tok, 258), "<0xFF>"), "token 258");
        CHECK(hearth_gguf_arr_str(tok, 512).len == 0, "out of range token is empty");
    } else {
        CHECK(0, "tokens array");
    }
    uint32_t bos = 0, eos = 0, unk = 9;
    CHECK(hearth_gguf_get_u32(g, "tokenizer.ggml.bos_token_id", &bos) == HEARTH_OK && bos == 1, "bos");
    CHECK(hearth_gguf_get_u32(g, "tokenizer.ggml.eos_token_id", &eos) == HEARTH_OK && eos == 2, "eos");
    CHECK(hearth_gguf_get_u32(g, "tokenizer.ggml.unknown_token_id", &unk) == HEARTH_OK && unk == 0, "unk");
    /* Getter type checks on real keys. */
    bool bv;
    CHECK(hearth_gguf_get_bool(g, "llama.block_count", &bv) == HEARTH_ERR_TYPE, "u32 is not bool");
    CHECK(hearth_error_last()[0] != '\0', "type error detail");
    CHECK(hearth_gguf_get_u32(g, "general.architecture", &u) == HEARTH_ERR_TYPE, "string is not u32");
    CHECK(hearth_gguf_get_str(g, "llama.block_count", &s) == HEARTH_ERR_TYPE, "u32 is not string");
    const hearth_gguf_kv *arr = NULL;
    CHECK(hearth_gguf_get_arr(g, "tokenizer.ggml.tokens", HEARTH_GGUF_INT32, &arr) == HEARTH_ERR_TYPE, "elem type");
    CHECK(hearth_gguf_get_arr(g, "tokenizer.ggml.token_type", HEARTH_GGUF_INT32, &arr) == HEARTH_OK, "token_type");
    if (arr) {
        CHECK(hearth_gguf_arr_i64(arr, 3) == 6 && hearth_gguf_arr_f64(arr, 258) == 6.0, "byte tokens are BYTE (6)");
        CHECK(hearth_gguf_arr_i64(arr, 1) == 3, "<s> is CONTROL");
        CHECK(hearth_gguf_arr_i64(arr, 100000) == 0, "bad index gives 0");
        CHECK(hearth_gguf_arr_str(arr, 0).len == 0, "arr_str on a numeric array is empty");
    }
    uint64_t u64 = 0;
    CHECK(hearth_gguf_get_u64(g, "tokenizer.ggml.padding_token_id", &u64) == HEARTH_OK && u64 == 4294967295u,
          "u64 getter on uint32");
    int32_t i32 = 5;
    CHECK(hearth_gguf_get_i32(g, "tokenizer.ggml.padding_token_id", &i32) == HEARTH_ERR_TYPE && i32 == 5,
          "4294967295 does not fit int32");
    float ff = 0;
    CHECK(hearth_gguf_get_f32(g, "llama.block_count", &ff) == HEARTH_OK && ff == 5.0f, "f32 getter on uint32");
    hearth_gguf_free(g);

    g = NULL;
    REQUIRE(hearth_gguf_open(test_data("models/stories260K-q4_0.gguf"), &g) == HEARTH_OK, "%s", hearth_error_last());
    check_tensor(g, "stories260K-q4_0", "output.weight", "q8_0", 64, 512);
    check_tensor(g, "stories260K-q4_0", "token_embd.weight", "q4_0", 64, 512);
    check_tensor(g, "stories260K-q4_0", "blk.0.ffn_down.weight", "q4_0", 192, 64);
    check_tensor(g, "stories260K-q4_0", "output_norm.weight", "f32", 64, 1);
    hearth_gguf_free(g);

    static const char *const q6[] = {"output.weight", "blk.2.attn_v.weight", "blk.3.attn_v.weight",
                                     "blk.2.ffn_down.weight", "blk.3.ffn_down.weight"};
    static const char *const km[] = {"models/tiny-llama-q4_k_m.gguf", "models/tiny-llama-q5_k_m.gguf"};
    for (int k = 0; k < 2; k++) {
        g = NULL;
        REQUIRE(hearth_gguf_open(test_data(km[k]), &g) == HEARTH_OK, "%s", hearth_error_last());
        for (int i = 0; i < 5; i++) {
            const hearth_gguf_tensor *t = hearth_gguf_tensor_find(g, q6[i]);
            CHECK(t && t->type == HEARTH_TYPE_Q6_K, "%s: %s is Q6_K", km[k], q6[i]);
        }
        check_tensor(g, km[k], "token_embd.weight", k ? "q5_k" : "q4_k", 256, 512);
        hearth_gguf_free(g);
    }
    g = NULL;
    REQUIRE(hearth_gguf_open(test_data("models/tiny-qwen2-q4_k_m.gguf"), &g) == HEARTH_OK, "%s", hearth_error_last());
    check_tensor(g, "tiny-qwen2-q4_k_m", "token_embd.weight", "q6_k", 256, 512);
    check_tensor(g, "tiny-qwen2-q4_k_m", "blk.3.ffn_down.weight", "q6_k", 768, 256);
    CHECK(hearth_gguf_tensor_find(g, "output.weight") == NULL, "qwen2 output is tied");
    hearth_gguf_free(g);

    /* --pure K aliases keep the _M file_type (12, 15, 17). */
    static const struct { const char *f; uint32_t ft; } fts[] = {
        {"models/tiny-llama-q3_k.gguf", 12}, {"models/tiny-llama-q4_k.gguf", 15}, {"models/tiny-llama-q5_k.gguf", 17}};
    for (int i = 0; i < 3; i++) {
        g = NULL;
        REQUIRE(hearth_gguf_open(test_data(fts[i].f), &g) == HEARTH_OK, "%s", hearth_error_last());
        uint32_t ft = 0;
        CHECK(hearth_gguf_get_u32(g, "general.file_type", &ft) == HEARTH_OK && ft == fts[i].ft, "%s file_type %u",
              fts[i].f, ft);
        hearth_gguf_free(g);
    }
}

typedef struct tok_fact {
    const char *file;
    const char *model, *pre;
    uint64_t n_tokens, n_merges;
    struct { uint32_t id; const char *text; } tokens[4];
    const char *chat_json; /* chat/<x>.json whose chat_template equals the GGUF's */
} tok_fact;

/* From /work/shared/tokenizer/README.md. */
static const tok_fact toks[] = {
    {"llama-spm.gguf", "llama", "default", 32000, 0, {{0, "<unk>"}, {1, "<s>"}, {2, "</s>"}, {3, "<0x00>"}}, NULL},
    {"phi-3.gguf", "llama", "default", 32064, 0, {{1, "<s>"}, {32000, "<|endoftext|>"}, {32007, "<|end|>"}}, NULL},
    {"bert-bge.gguf", "bert", "bert-bge", 30522, 0,
     {{0, "[PAD]"}, {100, "[UNK]"}, {101, "[CLS]"}, {102, "[SEP]"}}, NULL},
    {"gpt-2.gguf", "gpt2", "gpt-2", 50257, 50000, {{0, "!"}, {50256, "<|endoftext|>"}}, NULL},
    {"llama-bpe.gguf", "gpt2", "llama-bpe", 128256, 280147,
     {{0, "!"}, {128000, "<|begin_of_text|>"}, {128001, "<|end_of_text|>"}, {128009, "<|eot_id|>"}},
     "tokenizer/chat/llama3.json"},
    {"qwen2.gguf", "gpt2", "qwen2", 151936, 151387,
     {{0, "!"}, {151643, "<|endoftext|>"}, {151645, "<|im_end|>"}}, "tokenizer/chat/qwen3.json"},
};

/* Checks one vocab-only tokenizer file. */
static void test_tokenizer_file(const tok_fact *tf) {
    char rel[256];
    snprintf(rel, sizeof rel, "tokenizer/%s", tf->file);
    hearth_gguf *g = NULL;
    REQUIRE(hearth_gguf_open(test_data(rel), &g) == HEARTH_OK, "%s: %s", tf->file, hearth_error_last());
    check_invariants(tf->file, g);
    CHECK(hearth_gguf_n_tensors(g) == 0, "%s: vocab-only", tf->file);
    hearth_str s = {0};
    CHECK(hearth_gguf_get_str(g, "tokenizer.ggml.model", &s) == HEARTH_OK && hearth_str_eq(s, tf->model),
          "%s: model", tf->file);
    CHECK(hearth_gguf_get_str(g, "tokenizer.ggml.pre", &s) == HEARTH_OK && hearth_str_eq(s, tf->pre), "%s: pre",
          tf->file);
    const hearth_gguf_kv *tok = NULL;
    REQUIRE(hearth_gguf_get_arr(g, "tokenizer.ggml.tokens", HEARTH_GGUF_STRING, &tok) == HEARTH_OK, "%s: %s",
            tf->file, hearth_error_last());
    CHECK(tok->v.arr.n == tf->n_tokens, "%s: %llu tokens", tf->file, (unsigned long long)tok->v.arr.n);
    CHECK(tok->v.arr.str_offsets != NULL, "%s: offsets table", tf->file);
    for (int i = 0; i < 4 && tf->tokens[i].text; i++)
        CHECK(hearth_str_eq(hearth_gguf_arr_str(tok, tf->tokens[i].id), tf->tokens[i].text), "%s: token %u", tf->file,
              tf->tokens[i].id);
    /* Every element view lies inside the file and the views are contiguous. */
    const uint8_t *base = hearth_gguf_base(g), *end = base + hearth_gguf_file_size(g);
    const char *expect = (const char *)tok->v.arr.data + 8;
    bool ok = true;
    for (uint64_t i = 0; i < tok->v.arr.n && ok; i++) {
        hearth_str e = hearth_gguf_arr_str(tok, i);
        ok = e.ptr == expect && (const uint8_t *)e.ptr + e.len <= end;
        expect = e.ptr + e.len + 8;
    }
    CHECK(ok, "%s: string array views", tf->file);
    const hearth_gguf_kv *types = NULL;
    CHECK(hearth_gguf_get_arr(g, "tokenizer.ggml.token_type", HEARTH_GGUF_INT32, &types) == HEARTH_OK &&
              types->v.arr.n == tf->n_tokens,
          "%s: token_type", tf->file);
    if (tf->n_merges) {
        const hearth_gguf_kv *mg = NULL;
        REQUIRE(hearth_gguf_get_arr(g, "tokenizer.ggml.merges", HEARTH_GGUF_STRING, &mg) == HEARTH_OK, "%s: merges",
                tf->file);
        CHECK(mg->v.arr.n == tf->n_merges, "%s: %llu merges", tf->file, (unsigned long long)mg->v.arr.n);
        /* Every merge is "left right": one space between two non-empty parts. */
        uint64_t bad = 0;
        for (uint64_t i = 0; i < mg->v.arr.n; i++) {
            hearth_str m = hearth_gguf_arr_str(mg, i);
            const char *sp = m.len ? memchr(m.ptr, ' ', (size_t)m.len) : NULL;
            if (!sp || sp == m.ptr || sp == m.ptr + m.len - 1 ||
                memchr(sp + 1, ' ', (size_t)(m.ptr + m.len - sp - 1)))
                bad++;
        }
        CHECK(bad == 0, "%s: %llu malformed merges", tf->file, (unsigned long long)bad);
    }
    if (tf->chat_json) {
        json_error_t jerr;
        json_t *j = json_load_file(test_data(tf->chat_json), 0, &jerr);
        CHECK(j != NULL, "%s: %s", tf->chat_json, jerr.text);
        const char *tmpl = j ? json_string_value(json_object_get(j, "chat_template")) : NULL;
        CHECK(tmpl != NULL, "%s: chat_template", tf->chat_json);
        CHECK(tmpl && hearth_gguf_get_str(g, "tokenizer.chat_template", &s) == HEARTH_OK && hearth_str_eq(s, tmpl),
              "%s: tokenizer.chat_template differs from %s", tf->file, tf->chat_json);
        json_decref(j);
    }
    hearth_gguf_free(g);
}

/* Well-known first merges of GPT-2 (merges.txt) and Qwen2. */
static void test_known_merges(void) {
    hearth_gguf *g = NULL;
    const hearth_gguf_kv *mg = NULL;
    REQUIRE(hearth_gguf_open(test_data("tokenizer/gpt-2.gguf"), &g) == HEARTH_OK, "%s", hearth_error_last());
    if (hearth_gguf_get_arr(g, "tokenizer.ggml.merges", HEARTH_GGUF_STRING, &mg) == HEARTH_OK) {
        CHECK(hearth_str_eq(hearth_gguf_arr_str(mg, 0), "\xc4\xa0 t"), "gpt-2 merge 0");
        CHECK(hearth_str_eq(hearth_gguf_arr_str(mg, 2), "h e"), "gpt-2 merge 2");
    }
    hearth_gguf_free(g);
    g = NULL;
    REQUIRE(hearth_gguf_open(test_data("tokenizer/qwen2.gguf"), &g) == HEARTH_OK, "%s", hearth_error_last());
    if (hearth_gguf_get_arr(g, "tokenizer.ggml.merges", HEARTH_GGUF_STRING, &mg) == HEARTH_OK) {
        CHECK(hearth_str_eq(hearth_gguf_arr_str(mg, 0), "\xc4\xa0 \xc4\xa0"), "qwen2 merge 0");
        CHECK(hearth_str_eq(hearth_gguf_arr_str(mg, 2), "i n"), "qwen2 merge 2");
    }
    hearth_gguf_free(g);
}

/* ---- 2. hostile buffers ----------------------------------------------------------- */

/* Byte offsets of the fields of a parsed file, found through its views. */
typedef struct layout {
    size_t data_start;  /* start of the data section */
    size_t tensors_end; /* end of the last tensor's data */
} layout;

static size_t off_of(const hearth_gguf *g, const void *p) { return (size_t)((const uint8_t *)p - hearth_gguf_base(g)); }

/* Finds a kv by key and returns the offset of its type field. */
static size_t kv_type_off(const hearth_gguf *g, const char *key) {
    const hearth_gguf_kv *kv = hearth_gguf_find(g, key);
    if (!kv) {
        CHECK(0, "key %s missing", key);
        return 0;
    }
    return off_of(g, kv->key.ptr) + (size_t)kv->key.len;
}

/* Returns the offset of a tensor info's n_dims field. */
static size_t ti_off(const hearth_gguf *g, uint64_t i) {
    const hearth_gguf_tensor *t = hearth_gguf_tensor_at(g, i);
    return off_of(g, t->name.ptr) + (size_t)t->name.len;
}

/* Applies a 4- or 8-byte field overwrite to a copy and expects failure. */
static void corrupt(const uint8_t *orig, size_t n, size_t at, int width, uint64_t v, const char *what,
                    const char *needle) {
    uint8_t *b = malloc(n);
    memcpy(b, orig, n);
    if (width == 4) put_u32(b + at, (uint32_t)v);
    else if (width == 8) put_u64(b + at, v);
    else b[at] = (uint8_t)v;
    if (needle) expect_fail_msg(b, n, what, needle);
    else expect_fail(b, n, what);
    free(b);
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
/* Returns the next value of a fixed-seed xorshift64* generator. */
static uint64_t rng(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

static void test_hostile(void) {
    size_t n = 0;
    uint8_t *orig = read_exact(test_data("models/stories260K-q4_0.gguf"), &n);
    REQUIRE(orig != NULL);
    hearth_gguf *g = NULL;
    REQUIRE(hearth_gguf_open_buffer(orig, n, &g) == HEARTH_OK, "%s", hearth_error_last());
    layout L = {0};
    for (uint64_t i = 0; i < hearth_gguf_n_tensors(g); i++) {
        const hearth_gguf_tensor *t = hearth_gguf_tensor_at(g, i);
        size_t end = off_of(g, t->data) + (size_t)t->nbytes;
        if (end > L.tensors_end) L.tensors_end = end;
        if (i == 0) L.data_start = off_of(g, t->data) - (size_t)t->offset;
    }
    REQUIRE(L.data_start > 24 && L.data_start < n && L.tensors_end <= n);

    /* Truncation at every byte of the header region and at points through
     * the data: each prefix is copied to an exact-size block. */
    int trunc_ok = 0;
    for (size_t k = 0; k < L.data_start + 64; k++) {
        uint8_t *b = malloc(k ? k : 1);
        memcpy(b, orig, k);
        trunc_ok += try_open(k ? b : NULL, k) == HEARTH_OK;
        free(b);
    }
    CHECK(trunc_ok == 0, "%d header truncations accepted", trunc_ok);
    for (int s = 0; s < 64; s++) {
        size_t k = L.data_start + (L.tensors_end - L.data_start) * (size_t)s / 64 + (size_t)(rng() % 97);
        if (k >= L.tensors_end) k = L.tensors_end - 1;
        uint8_t *b = malloc(k);
        memcpy(b, orig, k);
        expect_fail(b, k, "data truncation");
        free(b);
    }

    /* Pseudo-random mutations over the header: single bit flips, random
     * byte runs and "interesting" 4/8-byte values. On success the handle is
     * walked; on failure the detail must be set. */
    uint8_t *m = malloc(n);
    memcpy(m, orig, n);
    int accepted = 0;
    static const uint64_t interesting[] = {0, 1, 2, 3, 4, 5, 8, 9, 12, 13, 31, 32, 33, 0x7f, 0xff, 0xffff,
                                           0x7fffffff, 0x80000000u, 0xffffffffu, 1ull << 32, 1ull << 62,
                                           (1ull << 63) - 1, 1ull << 63, UINT64_MAX, UINT64_MAX - 7};
    for (int it = 0; it < 3000; it++) {
        size_t at = (size_t)(rng() % L.data_start), len = 1;
        int kind = (int)(rng() % 4);
        if (kind == 0) {
            m[at] ^= (uint8_t)(1u << (rng() % 8));
        } else if (kind == 1) {
            len = 1 + (size_t)(rng() % 8);
            if (at + len > n) len = n - at;
            for (size_t j = 0; j < len; j++) m[at + j] = (uint8_t)rng();
        } else {
            len = kind == 2 ? 4 : 8;
            if (at + len > n) at = n - len;
            uint64_t v = interesting[rng() % (sizeof interesting / sizeof interesting[0])];
            if (len == 4) put_u32(m + at, (uint32_t)v);
            else put_u64(m + at, v);
        }
        accepted += try_open(m, n) == HEARTH_OK;
        memcpy(m + at, orig + at, len);
    }
    free(m);
    CHECK(accepted < 3000, "every mutation accepted?");

    /* Targeted corruptions. */
    corrupt(orig, n, 0, 1, 'X', "wrong magic", "magic");
    corrupt(orig, n, 0, 4, 0x4c4d4747u, "GGML magic", "GGUF");
    corrupt(orig, n, 4, 4, 1, "version 1", "version 1");
    corrupt(orig, n, 4, 4, 4, "version 4", "version 4");
    corrupt(orig, n, 4, 4, 0xffffffffu, "version huge", "version");
    corrupt(orig, n, 4, 4, 0, "version 0", "version");
    corrupt(orig, n, 4, 4, 0x03000000u, "big-endian v3", "big-endian");
    corrupt(orig, n, 4, 4, 0x02000000u, "big-endian v2", "big-endian");
    corrupt(orig, n, 8, 8, UINT64_MAX, "tensor count 2^64-1", "tensor count");
    corrupt(orig, n, 8, 8, 1ull << 40, "tensor count 2^40", "tensor count");
    corrupt(orig, n, 8, 8, n / 33 + 1, "tensor count just too big", "tensor count");
    corrupt(orig, n, 16, 8, UINT64_MAX, "kv count 2^64-1", "kv count");
    corrupt(orig, n, 16, 8, 1ull << 40, "kv count 2^40", "kv count");
    corrupt(orig, n, 16, 8, hearth_gguf_n_kv(g) + 1, "kv count + 1", NULL);
    corrupt(orig, n, 8, 8, hearth_gguf_n_tensors(g) + 1, "tensor count + 1", NULL);
    corrupt(orig, n, 24, 8, UINT64_MAX, "key length 2^64-1", "kv 0");
    corrupt(orig, n, 24, 8, 1ull << 40, "key length huge", "length");
    corrupt(orig, n, 24, 8, n, "key length = file size", "length");
    corrupt(orig, n, 24, 8, 0, "empty key", "empty key");

    size_t arch_t = kv_type_off(g, "general.architecture");
    corrupt(orig, n, arch_t + 4, 8, UINT64_MAX, "string value length 2^64-1", "general.architecture");
    corrupt(orig, n, arch_t + 4, 8, n - arch_t - 12 + 1, "string value 1 byte past EOF", "exceeds");
    corrupt(orig, n, arch_t, 4, 13, "metadata type 13", "unknown value type 13");
    corrupt(orig, n, arch_t, 4, 0xffffffffu, "metadata type 2^32-1", "unknown value type");
    size_t ctx_t = kv_type_off(g, "llama.context_length"); /* value 128: not a valid bool */
    corrupt(orig, n, ctx_t, 4, HEARTH_GGUF_BOOL, "bool value 128", "bool");

    size_t tok_t = kv_type_off(g, "tokenizer.ggml.tokens");
    corrupt(orig, n, tok_t + 4, 4, HEARTH_GGUF_ARRAY, "nested array", "nested array");
    corrupt(orig, n, tok_t + 4, 4, 13, "array element type 13", "element type 13");
    corrupt(orig, n, tok_t + 8, 8, UINT64_MAX, "array count 2^64-1", "array of");
    corrupt(orig, n, tok_t + 8, 8, 1ull << 60, "array count 2^60", "array of");
    corrupt(orig, n, tok_t + 16, 8, UINT64_MAX, "array string 0 length 2^64-1", "string 0 of 512");
    size_t sc_t = kv_type_off(g, "tokenizer.ggml.scores");
    corrupt(orig, n, sc_t + 8, 8, (n - sc_t) / 4, "float array past EOF", "array of");

    /* Duplicate keys: overwrite a key with another key of the same length. */
    {
        const hearth_gguf_kv *a = hearth_gguf_find(g, "tokenizer.ggml.bos_token_id");
        const hearth_gguf_kv *b2 = hearth_gguf_find(g, "tokenizer.ggml.eos_token_id");
        REQUIRE(a && b2 && a->key.len == b2->key.len);
        uint8_t *b = malloc(n);
        memcpy(b, orig, n);
        memcpy(b + off_of(g, b2->key.ptr), a->key.ptr, (size_t)a->key.len);
        expect_fail_msg(b, n, "duplicate key", "duplicate key");
        free(b);
    }
    /* general.alignment: rename llama.block_count (same length, uint32). */
    {
        const hearth_gguf_kv *bc = hearth_gguf_find(g, "llama.block_count");
        REQUIRE(bc && bc->type == HEARTH_GGUF_UINT32 && bc->key.len == strlen("general.alignment"));
        size_t ko = off_of(g, bc->key.ptr), vo = ko + (size_t)bc->key.len + 4;
        uint8_t *b = malloc(n);
        memcpy(b, orig, n);
        memcpy(b + ko, "general.alignment", 17);
        static const uint32_t bad_align[] = {0, 3, 5, 48, 0xffffffffu};
        for (int i = 0; i < 5; i++) {
            put_u32(b + vo, bad_align[i]);
            expect_fail_msg(b, n, "bad alignment", "general.alignment");
        }
        put_u32(b + vo, 1u << 31);
        expect_fail_msg(b, n, "alignment 2^31 pushes data past EOF", "past end of file");
        put_u32(b + vo, 32);
        CHECK(try_open(b, n) == HEARTH_OK, "explicit alignment 32: %s", hearth_error_last());
        put_u32(b + vo - 4, HEARTH_GGUF_INT32);
        expect_fail_msg(b, n, "alignment of type int32", "uint32");
        free(b);
    }

    /* Tensor infos. Tensor 3 is blk.0.attn_k.weight (Q4_0, 2 dims). */
    uint64_t nt = hearth_gguf_n_tensors(g);
    const hearth_gguf_tensor *t0 = hearth_gguf_tensor_at(g, 0), *t3 = hearth_gguf_tensor_at(g, 3);
    REQUIRE(t3->n_dims == 2 && t3->type == HEARTH_TYPE_Q4_0);
    size_t nd3 = ti_off(g, 3), ne3 = nd3 + 4, ty3 = ne3 + 16, of3 = ty3 + 4;
    size_t name3 = off_of(g, t3->name.ptr) - 8;
    corrupt(orig, n, name3, 8, 0, "empty tensor name", "empty tensor name");
    corrupt(orig, n, name3, 8, UINT64_MAX, "tensor name length 2^64-1", "tensor 3");
    corrupt(orig, n, name3 + 8, 1, 0, "NUL in tensor name", "NUL");
    corrupt(orig, n, nd3, 4, 0, "n_dims 0", "n_dims 0");
    corrupt(orig, n, nd3, 4, 5, "n_dims 5", "n_dims 5");
    corrupt(orig, n, nd3, 4, 0xffffffffu, "n_dims 2^32-1", "n_dims");
    corrupt(orig, n, ne3, 8, 0, "ne[0] = 0", "ne[0] = 0");
    corrupt(orig, n, ne3 + 8, 8, 0, "ne[1] = 0", "ne[1] = 0");
    corrupt(orig, n, ne3, 8, 1ull << 62, "ne[0] = 2^62", "ne[0]");
    corrupt(orig, n, ne3, 8, UINT64_MAX, "ne[0] = 2^64-1", "ne[0]");
    corrupt(orig, n, ne3, 8, 33, "ne[0] not a block multiple", "block size");
    {
        uint8_t *b = malloc(n);
        memcpy(b, orig, n);
        put_u64(b + ne3, 1ull << 32);
        put_u64(b + ne3 + 8, 1ull << 32);
        expect_fail_msg(b, n, "element count overflow", "overflow");
        put_u64(b + ne3 + 8, 1ull << 20);
        expect_fail_msg(b, n, "huge tensor past EOF", "past end of file");
        free(b);
    }
    corrupt(orig, n, ty3, 4, 4, "removed type 4", "unknown ggml type 4");
    corrupt(orig, n, ty3, 4, HEARTH_TYPE_COUNT, "type id HEARTH_TYPE_COUNT", "unknown ggml type");
    for (uint32_t ty = 0; ty < HEARTH_TYPE_COUNT; ty++)
        if (!strcmp(hearth_type_name(ty), "unknown")) corrupt(orig, n, ty3, 4, ty, "gap in the type ids", "unknown ggml type");
    corrupt(orig, n, ty3, 4, 0xffffffffu, "type 2^32-1", "unknown ggml type");
    corrupt(orig, n, ty3, 4, HEARTH_TYPE_Q4_K, "Q4_K with ne[0] = 64", "block size");
    corrupt(orig, n, ty3, 4, HEARTH_TYPE_F32, "F32 grows into the next tensor", "overlaps");
    corrupt(orig, n, of3, 8, t3->offset + 1, "misaligned offset +1", "alignment");
    corrupt(orig, n, of3, 8, t3->offset + 16, "misaligned offset +16", "not a multiple");
    corrupt(orig, n, of3, 8, UINT64_MAX, "offset 2^64-1", "tensor 'blk.0.attn_k.weight'");
    corrupt(orig, n, of3, 8, UINT64_MAX - 31, "aligned offset 2^64-32", "past end of file");
    corrupt(orig, n, of3, 8, (n + 31) / 32 * 32, "offset past EOF", "past end of file");
    corrupt(orig, n, of3, 8, t0->offset, "overlapping tensors", "overlaps");
    {
        const hearth_gguf_tensor *last = hearth_gguf_tensor_at(g, nt - 1);
        size_t lo = ti_off(g, nt - 1) + 4 + 8 * last->n_dims + 4;
        corrupt(orig, n, lo, 8, last->offset + 32, "last tensor shifted past EOF", "extends past end of file");
    }
    /* Duplicate tensor names: copy a name over another of the same length. */
    {
        uint64_t a = nt, c = nt;
        for (uint64_t i = 0; i < nt && a == nt; i++)
            for (uint64_t j = i + 1; j < nt; j++)
                if (hearth_gguf_tensor_at(g, i)->name.len == hearth_gguf_tensor_at(g, j)->name.len) {
                    a = i;
                    c = j;
                    break;
                }
        REQUIRE(a < nt);
        uint8_t *b = malloc(n);
        memcpy(b, orig, n);
        const hearth_gguf_tensor *ta = hearth_gguf_tensor_at(g, a), *tc = hearth_gguf_tensor_at(g, c);
        memcpy(b + off_of(g, tc->name.ptr), ta->name.ptr, (size_t)ta->name.len);
        expect_fail_msg(b, n, "duplicate tensor name", "duplicate tensor name");
        free(b);
    }
    /* Two same-size tensors with swapped offsets are valid (unsorted order). */
    {
        const hearth_gguf_tensor *tv = hearth_gguf_tensor_find(g, "blk.0.attn_v.weight");
        REQUIRE(tv && tv->nbytes == t3->nbytes);
        uint64_t iv = (uint64_t)(tv - hearth_gguf_tensor_at(g, 0));
        size_t ofv = ti_off(g, iv) + 4 + 16 + 4;
        uint8_t *b = malloc(n);
        memcpy(b, orig, n);
        put_u64(b + of3, tv->offset);
        put_u64(b + ofv, t3->offset);
        hearth_gguf *h = NULL;
        CHECK(hearth_gguf_open_buffer(b, n, &h) == HEARTH_OK, "swapped offsets: %s", hearth_error_last());
        if (h) {
            const hearth_gguf_tensor *k = hearth_gguf_tensor_find(h, "blk.0.attn_k.weight");
            CHECK(k && k->data == b + L.data_start + tv->offset, "swapped data pointer");
            /* Out of memory on the sort path too. */
            hearth_gguf_free(h);
            int done = 0;
            for (long a = 0; a < 40 && !done; a++) {
                hearth_alloc_fail_after(a);
                int st = hearth_gguf_open_buffer(b, n, &h);
                hearth_alloc_fail_after(-1);
                if (st == HEARTH_OK) {
                    hearth_gguf_free(h);
                    done = 1;
                } else {
                    CHECK(st == HEARTH_ERR_NOMEM && h == NULL, "OOM at %ld gave %d: %s", a, st, hearth_error_last());
                }
            }
            CHECK(done, "sort path never succeeded");
        }
        /* The same with overlap among unsorted tensors. */
        put_u64(b + ofv, tv->offset);
        expect_fail_msg(b, n, "unsorted overlapping tensors", "overlaps");
        free(b);
    }
    hearth_gguf_free(g);

    /* Empty buffer, tiny buffers, random bytes. */
    expect_fail_msg(NULL, 0, "empty buffer", "empty");
    expect_fail_msg(orig, 0, "empty buffer (non-NULL)", "empty");
    for (int it = 0; it < 200; it++) {
        size_t len = 1 + (size_t)(rng() % 4096);
        uint8_t *b = malloc(len);
        for (size_t j = 0; j < len; j++) b[j] = (uint8_t)rng();
        if (it % 2 && len >= 8) {
            /* A valid prefix so the random bytes reach the counts and kvs. */
            memcpy(b, "GGUF", 4);
            put_u32(b + 4, 2 + (uint32_t)(it % 4 == 1));
            if (len >= 24 && it % 4 == 1) {
                put_u64(b + 8, rng() % 4);
                put_u64(b + 16, 1 + rng() % 4); /* >= 1 kv: 0 and 0 would be valid */
            }
        }
        expect_fail(b, len, "random bytes");
        free(b);
    }
    free(orig);
}

/* ---- synthetic files: the valid edge cases -------------------------------------------- */

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

/* Appenders of a growable byte buffer (test-only; malloc failure aborts via
 * the NULL dereference, which is acceptable in a test). */
static void b_put(buf *b, const void *src, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}
static void b_u32(buf *b, uint32_t v) {
    uint8_t t[4];
    put_u32(t, v);
    b_put(b, t, 4);
}
static void b_u64(buf *b, uint64_t v) {
    uint8_t t[8];
    put_u64(t, v);
    b_put(b, t, 8);
}
static void b_str(buf *b, const char *s) {
    b_u64(b, strlen(s));
    b_put(b, s, strlen(s));
}
static void b_key(buf *b, const char *k, uint32_t type) {
    b_str(b, k);
    b_u32(b, type);
}

/* Builds a small valid file: version `ver`, alignment `align` (0: no key),
 * a few typed kvs, one 4-d F16 tensor and one Q8_0 matrix. Returns the
 * exact-size bytes (caller frees). */
static uint8_t *build(uint32_t ver, uint32_t align, uint8_t boolval, size_t *len) {
    buf b = {0};
    b_put(&b, "GGUF", 4);
    b_u32(&b, ver);
    b_u64(&b, 2);                /* tensors */
    b_u64(&b, align ? 11 : 10); /* kvs */
    if (align) {
        b_key(&b, "general.alignment", HEARTH_GGUF_UINT32);
        b_u32(&b, align);
    }
    b_key(&b, "t.neg", HEARTH_GGUF_INT32);
    b_u32(&b, (uint32_t)-5);
    b_key(&b, "t.big", HEARTH_GGUF_UINT64);
    b_u64(&b, 1ull << 40);
    b_key(&b, "t.huge_f64", HEARTH_GGUF_FLOAT64);
    double d = 1e300;
    uint64_t du;
    memcpy(&du, &d, 8);
    b_u64(&b, du);
    b_key(&b, "t.f64", HEARTH_GGUF_FLOAT64);
    d = 0.25;
    memcpy(&du, &d, 8);
    b_u64(&b, du);
    b_key(&b, "t.flag", HEARTH_GGUF_BOOL);
    b_put(&b, &boolval, 1);
    b_key(&b, "t.i8", HEARTH_GGUF_INT8);
    uint8_t m1 = 0xff;
    b_put(&b, &m1, 1);
    b_key(&b, "t.empty_strs", HEARTH_GGUF_ARRAY);
    b_u32(&b, HEARTH_GGUF_STRING);
    b_u64(&b, 0);
    b_key(&b, "t.strs", HEARTH_GGUF_ARRAY);
    b_u32(&b, HEARTH_GGUF_STRING);
    b_u64(&b, 3);
    b_str(&b, "a");
    b_str(&b, "");
    b_str(&b, "ccc");
    b_key(&b, "t.i16s", HEARTH_GGUF_ARRAY);
    b_u32(&b, HEARTH_GGUF_INT16);
    b_u64(&b, 3);
    b_u32(&b, 0xfffe0001u); /* 1, -2 */
    uint8_t x[2] = {0x00, 0x80}; /* -32768 */
    b_put(&b, x, 2);
    b_key(&b, "t.bools", HEARTH_GGUF_ARRAY);
    b_u32(&b, HEARTH_GGUF_BOOL);
    b_u64(&b, 2);
    uint8_t bb[2] = {1, 0};
    b_put(&b, bb, 2);
    /* Tensor infos. */
    b_str(&b, "t4d");
    b_u32(&b, 4);
    b_u64(&b, 2);
    b_u64(&b, 3);
    b_u64(&b, 4);
    b_u64(&b, 5);
    b_u32(&b, HEARTH_TYPE_F16);
    b_u64(&b, 0);
    uint32_t a = align ? align : 32;
    uint64_t t4_bytes = 2 * 3 * 4 * 5 * 2;
    b_str(&b, "q8");
    b_u32(&b, 2);
    b_u64(&b, 64);
    b_u64(&b, 2);
    b_u32(&b, HEARTH_TYPE_Q8_0);
    uint64_t q8_off = (t4_bytes + a - 1) / a * a;
    b_u64(&b, q8_off);
    /* Padding, then data. */
    while (b.n % a) b_put(&b, "", 1);
    uint8_t zero[256] = {0};
    for (uint64_t i = 0; i < q8_off; i++) b_put(&b, zero, 1);
    b_put(&b, zero, 2 * 2 * 34);
    *len = b.n;
    uint8_t *out = malloc(b.n);
    memcpy(out, b.p, b.n);
    free(b.p);
    return out;
}

static void test_synthetic(void) {
    static const struct { uint32_t ver, align; } cases[] = {{3, 0}, {2, 0}, {3, 64}, {2, 8}, {3, 1}};
    for (int c = 0; c < 5; c++) {
        size_t n;
        uint8_t *b = build(cases[c].ver, cases[c].align, 1, &n);
        hearth_gguf *g = NULL;
        int st = hearth_gguf_open_buffer(b, n, &g);
        CHECK(st == HEARTH_OK, "synthetic v%u align %u: %s", cases[c].ver, cases[c].align, hearth_error_last());
        if (st == HEARTH_OK) {
            uint64_t al = cases[c].align ? cases[c].align : 32;
            CHECK(hearth_gguf_version(g) == cases[c].ver && hearth_gguf_alignment(g) == al, "version/alignment");
            uint32_t u = 9;
            int32_t i = 9;
            uint64_t u64 = 9;
            float f = 9;
            bool bo = false;
            CHECK(hearth_gguf_get_u32(g, "t.neg", &u) == HEARTH_ERR_TYPE && u == 9, "negative to u32");
            CHECK(hearth_gguf_get_u64(g, "t.neg", &u64) == HEARTH_ERR_TYPE && u64 == 9, "negative to u64");
            CHECK(hearth_gguf_get_i32(g, "t.neg", &i) == HEARTH_OK && i == -5, "i32");
            CHECK(hearth_gguf_get_f32(g, "t.neg", &f) == HEARTH_OK && f == -5.0f, "int to f32");
            CHECK(hearth_gguf_get_i32(g, "t.i8", &i) == HEARTH_OK && i == -1, "int8 sign extension");
            CHECK(hearth_gguf_get_u32(g, "t.big", &u) == HEARTH_ERR_TYPE, "2^40 to u32");
            CHECK(hearth_gguf_get_i32(g, "t.big", &i) == HEARTH_ERR_TYPE, "2^40 to i32");
            CHECK(hearth_gguf_get_u64(g, "t.big", &u64) == HEARTH_OK && u64 == 1ull << 40, "u64");
            CHECK(hearth_gguf_get_f32(g, "t.huge_f64", &f) == HEARTH_ERR_TYPE, "1e300 to f32");
            CHECK(hearth_gguf_get_f32(g, "t.f64", &f) == HEARTH_OK && f == 0.25f, "f64 to f32");
            CHECK(hearth_gguf_get_u32(g, "t.f64", &u) == HEARTH_ERR_TYPE, "float to u32");
            CHECK(hearth_gguf_get_bool(g, "t.flag", &bo) == HEARTH_OK && bo, "bool");
            CHECK(hearth_gguf_get_u32(g, "t.flag", &u) == HEARTH_ERR_TYPE, "bool to u32");
            CHECK(hearth_gguf_get_u32(g, "t.absent", &u) == HEARTH_ERR_NOT_FOUND, "absent");
            const hearth_gguf_kv *kv = NULL;
            CHECK(hearth_gguf_get_arr(g, "t.strs", HEARTH_GGUF_STRING, &kv) == HEARTH_OK, "strs");
            if (kv) {
                CHECK(kv->v.arr.n == 3 && hearth_str_eq(hearth_gguf_arr_str(kv, 0), "a") &&
                          hearth_str_eq(hearth_gguf_arr_str(kv, 1), "") &&
                          hearth_str_eq(hearth_gguf_arr_str(kv, 2), "ccc") && hearth_gguf_arr_str(kv, 3).len == 0,
                      "string array elements");
                CHECK(hearth_gguf_arr_f64(kv, 0) == 0.0, "f64 of a string array");
            }
            kv = NULL;
            CHECK(hearth_gguf_get_arr(g, "t.empty_strs", HEARTH_GGUF_STRING, &kv) == HEARTH_OK && kv &&
                      kv->v.arr.n == 0 && hearth_gguf_arr_str(kv, 0).len == 0,
                  "empty string array");
            kv = NULL;
            CHECK(hearth_gguf_get_arr(g, "t.i16s", HEARTH_GGUF_INT16, &kv) == HEARTH_OK, "i16s");
            if (kv)
                CHECK(hearth_gguf_arr_i64(kv, 0) == 1 && hearth_gguf_arr_i64(kv, 1) == -2 &&
                          hearth_gguf_arr_f64(kv, 2) == -32768.0,
                      "int16 array elements");
            kv = NULL;
            CHECK(hearth_gguf_get_arr(g, "t.bools", HEARTH_GGUF_BOOL, &kv) == HEARTH_OK && kv &&
                      hearth_gguf_arr_i64(kv, 0) == 1 && hearth_gguf_arr_i64(kv, 1) == 0,
                  "bool array");
            CHECK(hearth_gguf_get_arr(g, "t.neg", HEARTH_GGUF_INT32, &kv) == HEARTH_ERR_TYPE, "scalar is no array");
            const hearth_gguf_tensor *t = hearth_gguf_tensor_find(g, "t4d");
            CHECK(t && t->n_dims == 4 && t->ne[0] == 2 && t->ne[3] == 5 && t->nbytes == 240 && t->offset == 0 &&
                      (const uint8_t *)t->data + 240 + (t->nbytes ? 0 : 1) <= b + n,
                  "4-d tensor");
            t = hearth_gguf_tensor_find(g, "q8");
            CHECK(t && t->nbytes == 136 && t->offset % al == 0 && (const uint8_t *)t->data + 136 == b + n, "q8 tensor");
            hearth_gguf_free(g);
        }
        free(b);
    }
    /* A bool of 2 and a bool array element of 2. */
    size_t n;
    uint8_t *b = build(3, 0, 2, &n);
    expect_fail_msg(b, n, "bool value 2", "t.flag");
    free(b);
    b = build(3, 0, 1, &n);
    for (size_t i = 0; i + 7 < n; i++)
        if (!memcmp(b + i, "t.bools", 7)) {
            b[i + 7 + 4 + 4 + 8 + 1] = 2;
            break;
        }
    expect_fail_msg(b, n, "bool array element 2", "bool array element 1");
    free(b);
    /* Minimal valid file: no kvs, no tensors, header only. */
    uint8_t mini[24] = {'G', 'G', 'U', 'F'};
    put_u32(mini + 4, 3);
    hearth_gguf *g = NULL;
    CHECK(hearth_gguf_open_buffer(mini, 24, &g) == HEARTH_OK && hearth_gguf_n_kv(g) == 0 &&
              hearth_gguf_find(g, "x") == NULL && hearth_gguf_tensor_find(g, "x") == NULL,
          "minimal file: %s", hearth_error_last());
    hearth_gguf_free(g);
    hearth_gguf_free(NULL);
}

/* ---- 3. the file API -------------------------------------------------------------- */

/* Writes `n` bytes to a new temp file; returns its path in `path`. */
static int write_temp(char *path, size_t cap, const uint8_t *b, size_t n) {
    const char *dir = getenv("TMPDIR");
    snprintf(path, cap, "%s/hearth_gguf_XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) return -1;
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, b + done, n - done);
        if (w <= 0) break;
        done += (size_t)w;
    }
    close(fd);
    return done == n ? 0 : -1;
}

static void test_files(void) {
    hearth_gguf *g = (hearth_gguf *)0x1;
    const char *missing = "/nonexistent/dir/model.gguf";
    CHECK(hearth_gguf_open(missing, &g) == HEARTH_ERR_IO && g == NULL, "missing file");
    CHECK(strstr(hearth_error_last(), missing) != NULL, "path in detail: %s", hearth_error_last());
    CHECK(hearth_gguf_open("/tmp", &g) < 0 && hearth_error_last()[0], "a directory");

    size_t n = 0;
    uint8_t *orig = read_exact(test_data("models/stories260K-q8_0.gguf"), &n);
    REQUIRE(orig != NULL);
    char path[512];
    REQUIRE(write_temp(path, sizeof path, orig, n / 2) == 0, "temp file");
    CHECK(hearth_gguf_open(path, &g) == HEARTH_ERR_FORMAT, "truncated temp file");
    CHECK(strstr(hearth_error_last(), path) && strstr(hearth_error_last(), "past end of file"),
          "detail: %s", hearth_error_last());
    unlink(path);
    REQUIRE(write_temp(path, sizeof path, orig, 0) == 0, "temp file");
    CHECK(hearth_gguf_open(path, &g) == HEARTH_ERR_FORMAT && strstr(hearth_error_last(), "empty"),
          "empty file: %s", hearth_error_last());
    unlink(path);
    REQUIRE(write_temp(path, sizeof path, orig, n) == 0, "temp file");
    g = NULL;
    CHECK(hearth_gguf_open(path, &g) == HEARTH_OK, "full copy: %s", hearth_error_last());
    if (g) {
        const hearth_gguf_tensor *t = hearth_gguf_tensor_find(g, "output.weight");
        const uint8_t *base = hearth_gguf_base(g);
        CHECK(t && hearth_gguf_file_size(g) == n, "mapped size");
        if (t)
            CHECK(memcmp(t->data, orig + ((const uint8_t *)t->data - base), (size_t)t->nbytes) == 0,
                  "mapped data equals the file bytes");
        hearth_gguf_free(g);
    }
    unlink(path);
    free(orig);
}

/* ---- 4. out of memory ------------------------------------------------------------------ */

static void test_oom(void) {
    static const char *const files[] = {"models/stories260K-q4_0.gguf", "tokenizer/gpt-2.gguf"};
    for (int f = 0; f < 2; f++) {
        int done = 0;
        for (long k = 0; k < 64 && !done; k++) {
            hearth_gguf *g = (hearth_gguf *)0x1;
            hearth_alloc_fail_after(k);
            int st = hearth_gguf_open(test_data(files[f]), &g);
            hearth_alloc_fail_after(-1);
            if (st == HEARTH_OK) {
                CHECK(k >= 3, "%s opened with only %ld allocations", files[f], k);
                hearth_gguf_free(g);
                done = 1;
            } else {
                CHECK(st == HEARTH_ERR_NOMEM && g == NULL, "%s: OOM at %ld gave %d: %s", files[f], k, st,
                      hearth_error_last());
            }
        }
        CHECK(done, "%s never opened under the allocation limit", files[f]);
    }
}

int main(void) {
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) test_model(&models[i]);
    test_model_specifics();
    for (size_t i = 0; i < sizeof toks / sizeof toks[0]; i++) test_tokenizer_file(&toks[i]);
    test_known_merges();
    test_hostile();
    test_synthetic();
    test_files();
    test_oom();
    TEST_DONE();
}
