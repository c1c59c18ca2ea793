/* test_quantize.c - `hearth quantize` and the GGUF writer.
 *
 * (a) The writer: metadata of every type (string arrays too), replacement
 *     order, alignment, tensor data and padding, read back with the reader;
 *     misuse and incomplete files leave nothing behind.
 * (b) tiny-llama-f32 quantized to q8_0 / q4_0 / q6_k (--pure) and q4_k_m /
 *     q5_k_m (recipe) against the shared llama-quantize files: the same
 *     metadata, tensor order, per-tensor types and bytes (differing blocks
 *     are counted), the same whole file; then P1 logits of the result
 *     against the reference logits with tolerances.json's tol_max/tol_rms.
 * (c) stories260K (n_ff = 172) to Q8_0: ffn_down falls back to F16, the
 *     file loads and its P1 logits stay within the Q8_0 reference's tolerance.
 * (d) Bad inputs: missing input, missing output directory, unknown type,
 *     quantized input, truncated input, a write failure (file size limit):
 *     clean statuses and neither OUT nor OUT.tmp left; the CLI's exit codes.
 * (e) F16/BF16 inputs (exact widening, copies, quantization) and every
 *     allocation failing in turn.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hearth/alloc.h"
#include "hearth/gguf.h"
#include "hearth/gguf_write.h"
#include "hearth/model.h"
#include "hearth/quant.h"
#include "hearth/quantize.h"
#include "test.h"
#include "test_logits.h"

static char tmpdir[256];

static const char *tmp_path(const char *name) {
    static char bufs[8][512];
    static int slot;
    char *b = bufs[slot++ & 7];
    snprintf(b, sizeof bufs[0], "%s/%s", tmpdir, name);
    return b;
}

static bool exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* True when neither path nor path.tmp exists. */
static bool nothing_left(const char *path) {
    char t[600];
    snprintf(t, sizeof t, "%s.tmp", path);
    return !exists(path) && !exists(t);
}

/* ---- (a) the writer ---------------------------------------------------------- */

static void test_writer(void) {
    const char *path = tmp_path("w.gguf");
    hearth_gguf_writer *w = NULL;
    REQUIRE(hearth_gguf_writer_new(&w) == HEARTH_OK);
    CHECK(hearth_gguf_writer_set_u32(w, "general.file_type", 0) == HEARTH_OK);
    CHECK(hearth_gguf_writer_set_u8(w, "t.u8", 200) == HEARTH_OK);
    CHECK(hearth_gguf_writer_set_i8(w, "t.i8", -100) == HEARTH_OK);
    CHECK(hearth_gguf_writer_set_u16(w, "t.u16", 60000) == HEARTH_OK);
    CHECK(hearth_gguf_writer_set_i16(w, "t.i16", -30000) == HEARTH_OK);
    CHECK(hearth_gguf_writer_set_i32(w, "t.i32", -2000000000) == HEARTH_OK);
    CHECK(hearth_gguf_writer_set_u64(w, "t.u64", 0x123456789abcdef0ull) == HEARTH_OK);
    CHECK(hearth_gguf_writer_set_i64(w, "t.i64", -5000000000ll) == HEARTH_OK);
    CHECK(hearth_gguf_writer_set_f32(w, "t.f32", 0.1f) == HEARTH_OK);
    CHECK(hearth_gguf_writer_set_f64(w, "t.f64", 0.1) == HEARTH_OK);
    CHECK(hearth_gguf_writer_set_bool(w, "t.bool", true) == HEARTH_OK);
    CHECK(hearth_gguf_writer_set_str(w, "t.str", "h\0llo", 5) == HEARTH_OK);
    const char *strs[] = {"a", "", "three"};
    CHECK(hearth_gguf_writer_set_arr_str(w, "t.strs", strs, NULL, 3) == HEARTH_OK);
    const int32_t ints[] = {1, -2, 3};
    CHECK(hearth_gguf_writer_set_arr(w, "t.ints", HEARTH_GGUF_INT32, ints, 3) == HEARTH_OK);
    const float fl[] = {0.5f, -1.25f};
    CHECK(hearth_gguf_writer_set_arr(w, "t.floats", HEARTH_GGUF_FLOAT32, fl, 2) == HEARTH_OK);
    CHECK(hearth_gguf_writer_set_arr(w, "t.empty", HEARTH_GGUF_UINT8, NULL, 0) == HEARTH_OK);
    CHECK(hearth_gguf_writer_set_arr(w, "t.bad", HEARTH_GGUF_STRING, ints, 1) == HEARTH_ERR_INVALID);
    CHECK(hearth_gguf_writer_set_u32(w, "", 1) == HEARTH_ERR_INVALID);
    /* Re-setting moves the key to the end, as ggml does. */
    CHECK(hearth_gguf_writer_set_u32(w, "general.file_type", 7) == HEARTH_OK);
    CHECK(hearth_gguf_writer_set_u32(w, "general.alignment", 64) == HEARTH_OK);
    CHECK(hearth_gguf_writer_set_u32(w, "t.gone", 1) == HEARTH_OK);
    CHECK(hearth_gguf_writer_remove(w, "t.gone"));
    CHECK(!hearth_gguf_writer_remove(w, "t.gone"));
    uint64_t n_kv = hearth_gguf_writer_n_kv(w);
    CHECK(n_kv == 17, "n_kv %llu", (unsigned long long)n_kv);

    const int64_t ne_a[2] = {3, 2}, ne_b[1] = {64}, ne_bad[1] = {33};
    CHECK(hearth_gguf_writer_add_tensor(w, "a", 2, ne_a, HEARTH_TYPE_F32) == HEARTH_OK);
    CHECK(hearth_gguf_writer_add_tensor(w, "b", 1, ne_b, HEARTH_TYPE_Q8_0) == HEARTH_OK);
    CHECK(hearth_gguf_writer_add_tensor(w, "a", 1, ne_b, HEARTH_TYPE_F32) == HEARTH_ERR_INVALID, "duplicate");
    CHECK(hearth_gguf_writer_add_tensor(w, "c", 1, ne_bad, HEARTH_TYPE_Q8_0) == HEARTH_ERR_INVALID, "rows of 33 in Q8_0");
    CHECK(hearth_gguf_writer_tensor_nbytes(w, 1) == 68);

    REQUIRE(hearth_gguf_writer_open(w, path) == HEARTH_OK, "%s", hearth_error_last());
    CHECK(hearth_gguf_writer_set_u32(w, "late", 1) == HEARTH_ERR_INVALID, "metadata after open");
    const float a[6] = {1, 2, 3, 4, 5, 6};
    uint8_t b[68];
    for (int i = 0; i < 68; i++) b[i] = (uint8_t)(i * 7);
    CHECK(hearth_gguf_writer_write(w, a, 10) == HEARTH_OK); /* in pieces, across tensors */
    uint8_t mix[14 + 68];
    memcpy(mix, (const uint8_t *)a + 10, 14);
    memcpy(mix + 14, b, 68);
    CHECK(hearth_gguf_writer_write(w, mix, sizeof mix) == HEARTH_OK);
    CHECK(hearth_gguf_writer_write(w, b, 1) == HEARTH_ERR_INVALID, "past the last tensor");
    CHECK(exists(tmp_path("w.gguf.tmp")) && !exists(path), "only the .tmp before finish");
    uint64_t size = hearth_gguf_writer_file_size(w);
    CHECK(hearth_gguf_writer_finish(w) == HEARTH_OK, "%s", hearth_error_last());
    hearth_gguf_writer_free(w);
    CHECK(exists(path) && !exists(tmp_path("w.gguf.tmp")));

    hearth_gguf *g = NULL;
    REQUIRE(hearth_gguf_open(path, &g) == HEARTH_OK, "read back: %s", hearth_error_last());
    CHECK(hearth_gguf_file_size(g) == size);
    CHECK(hearth_gguf_version(g) == 3 && hearth_gguf_alignment(g) == 64);
    CHECK(hearth_gguf_n_kv(g) == 17);
    const hearth_gguf_kv *last = hearth_gguf_kv_at(g, 15);
    CHECK(last && hearth_str_eq(last->key, "general.file_type") && last->v.u64 == 7, "replaced key moves last");
    const hearth_gguf_kv *kv;
    CHECK((kv = hearth_gguf_find(g, "t.u8")) && kv->type == HEARTH_GGUF_UINT8 && kv->v.u64 == 200);
    CHECK((kv = hearth_gguf_find(g, "t.i8")) && kv->type == HEARTH_GGUF_INT8 && kv->v.i64 == -100);
    CHECK((kv = hearth_gguf_find(g, "t.u16")) && kv->type == HEARTH_GGUF_UINT16 && kv->v.u64 == 60000);
    CHECK((kv = hearth_gguf_find(g, "t.i16")) && kv->type == HEARTH_GGUF_INT16 && kv->v.i64 == -30000);
    CHECK((kv = hearth_gguf_find(g, "t.i32")) && kv->type == HEARTH_GGUF_INT32 && kv->v.i64 == -2000000000);
    CHECK((kv = hearth_gguf_find(g, "t.u64")) && kv->type == HEARTH_GGUF_UINT64 && kv->v.u64 == 0x123456789abcdef0ull);
    CHECK((kv = hearth_gguf_find(g, "t.i64")) && kv->type == HEARTH_GGUF_INT64 && kv->v.i64 == -5000000000ll);
    CHECK((kv = hearth_gguf_find(g, "t.f32")) && kv->type == HEARTH_GGUF_FLOAT32 && kv->v.f64 == (double)0.1f);
    CHECK((kv = hearth_gguf_find(g, "t.f64")) && kv->type == HEARTH_GGUF_FLOAT64 && kv->v.f64 == 0.1);
    CHECK((kv = hearth_gguf_find(g, "t.bool")) && kv->type == HEARTH_GGUF_BOOL && kv->v.u64 == 1);
    CHECK((kv = hearth_gguf_find(g, "t.str")) && kv->v.str.len == 5 && memcmp(kv->v.str.ptr, "h\0llo", 5) == 0);
    kv = hearth_gguf_find(g, "t.strs");
    CHECK(kv && kv->v.arr.n == 3 && hearth_str_eq(hearth_gguf_arr_str(kv, 0), "a") &&
          hearth_str_eq(hearth_gguf_arr_str(kv, 1), "") && hearth_str_eq(hearth_gguf_arr_str(kv, 2), "three"));
    kv = hearth_gguf_find(g, "t.ints");
    CHECK(kv && kv->v.arr.n == 3 && hearth_gguf_arr_i64(kv, 1) == -2 && hearth_gguf_arr_i64(kv, 2) == 3);
    kv = hearth_gguf_find(g, "t.floats");
    CHECK(kv && kv->v.arr.n == 2 && hearth_gguf_arr_f64(kv, 1) == -1.25);
    CHECK((kv = hearth_gguf_find(g, "t.empty")) && kv->v.arr.n == 0);
    CHECK(!hearth_gguf_find(g, "t.gone") && !hearth_gguf_find(g, "late"));
    const hearth_gguf_tensor *ta = hearth_gguf_tensor_find(g, "a"), *tb = hearth_gguf_tensor_find(g, "b");
    CHECK(ta && ta->n_dims == 2 && ta->ne[0] == 3 && ta->ne[1] == 2 && memcmp(ta->data, a, 24) == 0);
    CHECK(tb && tb->type == HEARTH_TYPE_Q8_0 && tb->offset == 64 && memcmp(tb->data, b, 68) == 0);

    /* Copying every kv of a read file reproduces them (string arrays too). */
    hearth_gguf_writer *w2 = NULL;
    REQUIRE(hearth_gguf_writer_new(&w2) == HEARTH_OK);
    CHECK(hearth_gguf_writer_copy_kvs(w2, g) == HEARTH_OK);
    CHECK(hearth_gguf_writer_n_kv(w2) == 17);
    CHECK(hearth_gguf_writer_open(w2, tmp_path("w2.gguf")) == HEARTH_OK);
    CHECK(hearth_gguf_writer_finish(w2) == HEARTH_OK);
    hearth_gguf_writer_free(w2);
    hearth_gguf *g2 = NULL;
    CHECK(hearth_gguf_open(tmp_path("w2.gguf"), &g2) == HEARTH_OK);
    for (uint64_t i = 0; g2 && i < hearth_gguf_n_kv(g); i++) {
        const hearth_gguf_kv *x = hearth_gguf_kv_at(g, i), *y = hearth_gguf_kv_at(g2, i);
        CHECK(x->key.len == y->key.len && memcmp(x->key.ptr, y->key.ptr, x->key.len) == 0 && x->type == y->type,
              "kv %llu", (unsigned long long)i);
    }
    kv = g2 ? hearth_gguf_find(g2, "t.strs") : NULL;
    CHECK(kv && hearth_str_eq(hearth_gguf_arr_str(kv, 2), "three"));
    hearth_gguf_free(g2);
    hearth_gguf_free(g);

    /* Incomplete data: finish fails and removes the .tmp; so does free. */
    const char *p3 = tmp_path("w3.gguf");
    REQUIRE(hearth_gguf_writer_new(&w) == HEARTH_OK);
    CHECK(hearth_gguf_writer_add_tensor(w, "a", 2, ne_a, HEARTH_TYPE_F32) == HEARTH_OK);
    CHECK(hearth_gguf_writer_open(w, p3) == HEARTH_OK);
    CHECK(hearth_gguf_writer_write(w, a, 8) == HEARTH_OK);
    CHECK(hearth_gguf_writer_finish(w) == HEARTH_ERR_INVALID);
    CHECK(nothing_left(p3));
    hearth_gguf_writer_free(w);
    REQUIRE(hearth_gguf_writer_new(&w) == HEARTH_OK);
    CHECK(hearth_gguf_writer_open(w, p3) == HEARTH_OK);
    hearth_gguf_writer_free(w);
    CHECK(nothing_left(p3), "free without finish removes the .tmp");
    REQUIRE(hearth_gguf_writer_new(&w) == HEARTH_OK);
    CHECK(hearth_gguf_writer_open(w, "/nonexistent-dir/x.gguf") == HEARTH_ERR_IO);
    hearth_gguf_writer_free(w);
}

/* ---- (b) against llama-quantize's files ------------------------------------- */

typedef struct cmp_result {
    double max_abs, rms;
    int argmax_required, argmax_bad;
} cmp_result;

/* test_reference.c's comparison: max/RMS |dlogit| and the argmax rule. */
static cmp_result compare_logits(const float *got, const float *ref, int rows, int n_vocab, double tol_max) {
    cmp_result r = {0};
    double ss = 0.0;
    for (size_t i = 0; i < (size_t)rows * n_vocab; i++) {
        double dlt = fabs((double)got[i] - ref[i]);
        if (!(dlt <= r.max_abs)) r.max_abs = isnan(dlt) ? INFINITY : dlt;
        ss += dlt * dlt;
    }
    r.rms = sqrt(ss / ((double)rows * n_vocab));
    for (int p = 0; p < rows; p++) {
        float margin;
        int ra = argmax_row(ref + (size_t)p * n_vocab, n_vocab, &margin);
        if (margin > 2 * tol_max) {
            r.argmax_required++;
            if (argmax_row(got + (size_t)p * n_vocab, n_vocab, NULL) != ra) r.argmax_bad++;
        }
    }
    return r;
}

static json_t *tolerances;

/* The tolerances.json row of a reference file ("tiny-llama-q8_0.P1"). */
static const json_t *tol_row(const char *file) {
    const json_t *rows = json_object_get(tolerances, "rows");
    for (size_t i = 0; i < json_array_size(rows); i++) {
        const json_t *r = json_array_get(rows, i);
        const char *f = json_string_value(json_object_get(r, "file"));
        if (f && strcmp(f, file) == 0) return r;
    }
    return NULL;
}

/* Loads `model_path`, evaluates the prompt of reference/<ref>.json and
 * compares the logits with reference/<ref>.logits.f32 within the tolerance
 * of tolerances.json's row `tol_file`. */
static void check_logits(const char *model_path, const char *ref, const char *tol_file) {
    const json_t *row = tol_row(tol_file);
    REQUIRE(row != NULL, "no tolerances row %s", tol_file);
    double tol_max = json_real_value(json_object_get(row, "tol_max"));
    double tol_rms = json_real_value(json_object_get(row, "tol_rms"));
    char rel[256];
    snprintf(rel, sizeof rel, "reference/%s.json", ref);
    json_error_t jerr;
    json_t *j = json_load_file(test_data(rel), 0, &jerr);
    REQUIRE(j != NULL, "%s: %s", rel, jerr.text);
    const json_t *ids_j = json_object_get(j, "prompt_token_ids");
    size_t n = json_array_size(ids_j);
    int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
    for (size_t i = 0; i < n; i++) ids[i] = (int32_t)json_integer_value(json_array_get(ids_j, i));
    snprintf(rel, sizeof rel, "reference/%s", json_string_value(json_object_get(j, "logits_file")));
    size_t ref_len = 0;
    float *ref_logits = (float *)test_read_file(test_data(rel), &ref_len);

    hearth_model *m = NULL;
    hearth_context *c = NULL;
    float *logits = NULL;
    hearth_status st = hearth_model_load(model_path, &m);
    CHECK(st == HEARTH_OK, "load %s: %s", model_path, hearth_error_last());
    if (st == HEARTH_OK) st = hearth_context_new(m, (int32_t)n + 8, 2, &c);
    int n_vocab = m ? hearth_model_hparams(m)->n_vocab : 0;
    if (st == HEARTH_OK && ref_logits && n > 0 && ref_len == n * (size_t)n_vocab * sizeof(float)) {
        logits = malloc(n * (size_t)n_vocab * sizeof(float));
        st = hearth_eval(c, ids, (int32_t)n, logits, true);
        CHECK(st == HEARTH_OK, "eval: %s", hearth_error_last());
        if (st == HEARTH_OK) {
            cmp_result r = compare_logits(logits, ref_logits, (int)n, n_vocab, tol_max);
            printf("%-28s vs %-22s max %.3e (tol %.3e)  rms %.3e (tol %.3e)  argmax %d/%d\n", model_path + strlen(tmpdir) + 1,
                   ref, r.max_abs, tol_max, r.rms, tol_rms, r.argmax_required - r.argmax_bad, r.argmax_required);
            CHECK(r.max_abs <= tol_max, "%s: max |dlogit| %.4g > %.4g", ref, r.max_abs, tol_max);
            CHECK(r.rms <= tol_rms, "%s: rms %.4g > %.4g", ref, r.rms, tol_rms);
            CHECK(r.argmax_bad == 0, "%s: %d argmax positions differ", ref, r.argmax_bad);
        }
    } else {
        CHECK(0, "%s: cannot evaluate (reference logits %zu bytes)", ref, ref_len);
    }
    free(logits);
    free(ref_logits);
    free(ids);
    hearth_context_free(c);
    hearth_model_free(m);
    json_decref(j);
}

/* Compares metadata, tensor table and bytes of our file with the shared one. */
static void compare_files(const char *ours, const char *theirs) {
    hearth_gguf *a = NULL, *b = NULL;
    CHECK(hearth_gguf_open(ours, &a) == HEARTH_OK, "%s: %s", ours, hearth_error_last());
    CHECK(hearth_gguf_open(theirs, &b) == HEARTH_OK, "%s: %s", theirs, hearth_error_last());
    if (!a || !b) goto out;
    CHECK(hearth_gguf_n_kv(a) == hearth_gguf_n_kv(b), "%s: %llu keys, reference %llu", ours,
          (unsigned long long)hearth_gguf_n_kv(a), (unsigned long long)hearth_gguf_n_kv(b));
    for (uint64_t i = 0; i < hearth_gguf_n_kv(a) && i < hearth_gguf_n_kv(b); i++) {
        const hearth_gguf_kv *x = hearth_gguf_kv_at(a, i), *y = hearth_gguf_kv_at(b, i);
        CHECK(x->key.len == y->key.len && memcmp(x->key.ptr, y->key.ptr, x->key.len) == 0 && x->type == y->type,
              "%s: key %llu differs", ours, (unsigned long long)i);
    }
    uint32_t fa = 99, fb = 98, qv = 0;
    CHECK(hearth_gguf_get_u32(a, "general.file_type", &fa) == HEARTH_OK &&
              hearth_gguf_get_u32(b, "general.file_type", &fb) == HEARTH_OK && fa == fb,
          "%s: file_type %u, reference %u", ours, fa, fb);
    CHECK(hearth_gguf_get_u32(a, "general.quantization_version", &qv) == HEARTH_OK && qv == 2);
    CHECK(hearth_gguf_n_tensors(a) == hearth_gguf_n_tensors(b));
    uint64_t blocks_diff = 0, blocks = 0;
    int types_diff = 0;
    for (uint64_t i = 0; i < hearth_gguf_n_tensors(b); i++) {
        const hearth_gguf_tensor *tb = hearth_gguf_tensor_at(b, i);
        const hearth_gguf_tensor *ta = i < hearth_gguf_n_tensors(a) ? hearth_gguf_tensor_at(a, i) : NULL;
        CHECK(ta && ta->name.len == tb->name.len && memcmp(ta->name.ptr, tb->name.ptr, tb->name.len) == 0,
              "%s: tensor %llu: order differs", ours, (unsigned long long)i);
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)tb->name.len, tb->name.ptr);
        ta = hearth_gguf_tensor_find(a, name);
        CHECK(ta != NULL, "%s: tensor %s missing", ours, name);
        if (!ta) continue;
        CHECK(ta->type == tb->type, "%s: %s is %s, reference %s", ours, name, hearth_type_name(ta->type),
              hearth_type_name(tb->type));
        if (ta->type != tb->type) {
            types_diff++;
            continue;
        }
        CHECK(ta->offset == tb->offset && ta->nbytes == tb->nbytes, "%s: %s offset/size", ours, name);
        size_t bs = hearth_type_get(tb->type)->type_size;
        for (uint64_t off = 0; off + bs <= tb->nbytes && off + bs <= ta->nbytes; off += bs) {
            blocks++;
            if (memcmp((const uint8_t *)ta->data + off, (const uint8_t *)tb->data + off, bs) != 0) blocks_diff++;
        }
    }
    CHECK(types_diff == 0 && blocks_diff == 0, "%s: %d tensor types and %llu of %llu blocks differ", ours, types_diff,
          (unsigned long long)blocks_diff, (unsigned long long)blocks);
    CHECK(hearth_gguf_file_size(a) == hearth_gguf_file_size(b));
    if (hearth_gguf_file_size(a) == hearth_gguf_file_size(b))
        CHECK(memcmp(hearth_gguf_base(a), hearth_gguf_base(b), (size_t)hearth_gguf_file_size(a)) == 0,
              "%s: files differ", ours);
out:
    hearth_gguf_free(a);
    hearth_gguf_free(b);
}

typedef struct counter {
    int calls, fallbacks;
    uint64_t last_index, count;
} counter;

static void count_progress(void *user, const hearth_quantize_tensor_info *t) {
    counter *c = user;
    if (c->calls > 0 && t->index != c->last_index + 1) c->calls = -1000;
    c->calls++;
    c->fallbacks += t->fallback;
    c->last_index = t->index;
    c->count = t->count;
}

static void test_tiny_llama(const char *type, bool pure, int threads) {
    char out[64], ref[128], tol[64];
    snprintf(out, sizeof out, "tiny-llama-%s.gguf", type);
    snprintf(ref, sizeof ref, "models/tiny-llama-%s.gguf", type);
    snprintf(tol, sizeof tol, "tiny-llama-%s.P1", type);
    const char *path = tmp_path(out);
    counter cnt = {0};
    hearth_quantize_stats s;
    hearth_status st = hearth_quantize_file(test_data("models/tiny-llama-f32.gguf"), path, type, threads, pure,
                                            count_progress, &cnt, &s);
    REQUIRE(st == HEARTH_OK, "quantize %s: %s", type, hearth_error_last());
    CHECK(cnt.calls == 39 && cnt.count == 39 && cnt.fallbacks == 0, "%s: %d progress calls", type, cnt.calls);
    CHECK(s.n_tensors == 39 && s.n_converted == 30 && s.out_file_bytes > 0, "%s stats", type);
    CHECK(!exists(tmp_path("tiny-llama.tmp")));
    compare_files(path, test_data(ref));
    check_logits(path, tol, tol);
}

/* ---- (c) stories260K: rows of 172 ------------------------------------------------ */

static void test_stories_fallback(void) {
    const char *path = tmp_path("stories260K-q8_0.gguf");
    counter cnt = {0};
    hearth_status st = hearth_quantize_file(test_data("models/stories260K.gguf"), path, "Q8_0", 2, false,
                                            count_progress, &cnt, NULL);
    REQUIRE(st == HEARTH_OK, "quantize stories260K: %s", hearth_error_last());
    CHECK(cnt.fallbacks == 5, "%d fallbacks (one ffn_down per layer)", cnt.fallbacks);
    hearth_gguf *g = NULL;
    REQUIRE(hearth_gguf_open(path, &g) == HEARTH_OK);
    int n_q8 = 0, n_f16 = 0, n_f32 = 0;
    for (uint64_t i = 0; i < hearth_gguf_n_tensors(g); i++) {
        const hearth_gguf_tensor *t = hearth_gguf_tensor_at(g, i);
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        bool down = strstr(name, "ffn_down") != NULL;
        if (t->type == HEARTH_TYPE_Q8_0) n_q8++;
        if (t->type == HEARTH_TYPE_F16) {
            n_f16++;
            CHECK(down, "only ffn_down falls back: %s", name);
        }
        if (t->type == HEARTH_TYPE_F32) {
            n_f32++;
            CHECK(t->n_dims == 1, "only vectors stay F32: %s", name);
        }
    }
    CHECK(n_q8 == 32 && n_f16 == 5 && n_f32 == 11, "q8_0 %d, f16 %d, f32 %d", n_q8, n_f16, n_f32);
    uint32_t ft = 0;
    CHECK(hearth_gguf_get_u32(g, "general.file_type", &ft) == HEARTH_OK && ft == 7);
    hearth_gguf_free(g);
    /* The llama.cpp Q8_0 reference was made from a zero-padded n_ff = 192
     * copy whose other matrices quantize to the same blocks; only ffn_down
     * (F16 here, Q8_0 there) differs, well inside the 8-bit tolerance. */
    check_logits(path, "stories260K-q8_0.P1", "stories260K-q8_0.P1");
}

/* ---- (d) bad inputs ----------------------------------------------------------------- */

static void expect_fail(const char *in, const char *out, const char *type, hearth_status want, const char *what) {
    hearth_status st = hearth_quantize_file(in, out, type, 2, false, NULL, NULL, NULL);
    CHECK(st == want, "%s: status %d (%s), want %d", what, st, hearth_error_last(), want);
    CHECK(strlen(hearth_error_last()) > 0, "%s: no detail", what);
    CHECK(nothing_left(out), "%s: output left behind", what);
    printf("%-22s -> %s: %s\n", what, hearth_strerror(st), hearth_error_last());
}

static void test_bad_inputs(void) {
    const char *f32 = test_data("models/tiny-llama-f32.gguf");
    const char *out = tmp_path("bad.gguf");
    expect_fail(tmp_path("missing.gguf"), out, "Q8_0", HEARTH_ERR_IO, "missing input");
    expect_fail(f32, tmp_path("no-such-dir/out.gguf"), "Q8_0", HEARTH_ERR_IO, "missing output dir");
    expect_fail(f32, out, "Q9_9", HEARTH_ERR_INVALID, "unknown type");
    expect_fail(f32, out, "", HEARTH_ERR_INVALID, "empty type");
    expect_fail(test_data("models/tiny-llama-q4_0.gguf"), out, "Q8_0", HEARTH_ERR_UNSUPPORTED, "quantized input");
    CHECK(strstr(hearth_error_last(), "already quantized") != NULL);

    /* A truncated copy of the F32 model. */
    size_t len = 0;
    char *bytes = test_read_file(f32, &len);
    if (bytes) {
        const char *trunc = tmp_path("truncated.gguf");
        FILE *f = fopen(trunc, "wb");
        CHECK(f && fwrite(bytes, 1, len / 2, f) == len / 2);
        if (f) fclose(f);
        expect_fail(trunc, out, "Q4_K_M", HEARTH_ERR_FORMAT, "truncated input");
        /* A NaN weight: refused rather than quantized into garbage. */
        hearth_gguf *g = NULL;
        if (hearth_gguf_open(f32, &g) == HEARTH_OK) {
            const hearth_gguf_tensor *t = hearth_gguf_tensor_find(g, "blk.1.ffn_up.weight");
            size_t off = t ? (size_t)((const uint8_t *)t->data - hearth_gguf_base(g)) : 0;
            hearth_gguf_free(g);
            float nan = NAN;
            memcpy(bytes + off + 4 * 1000, &nan, 4);
            const char *nanf = tmp_path("nan.gguf");
            f = fopen(nanf, "wb");
            CHECK(f && fwrite(bytes, 1, len, f) == len);
            if (f) fclose(f);
            expect_fail(nanf, out, "Q8_0", HEARTH_ERR_FORMAT, "NaN weight");
        }
        free(bytes);
    }

    /* A write failure (EFBIG under a 1 MB file size limit, as ENOSPC would
     * be): IO, and neither the file nor its .tmp remains. */
    struct rlimit old;
    if (getrlimit(RLIMIT_FSIZE, &old) == 0) {
        struct rlimit lim = old;
        lim.rlim_cur = 1 << 20;
        void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
        if (setrlimit(RLIMIT_FSIZE, &lim) == 0) {
            expect_fail(f32, out, "F16", HEARTH_ERR_IO, "write failure");
            setrlimit(RLIMIT_FSIZE, &old);
        } else {
            CHECK(0, "setrlimit: %s", strerror(errno));
        }
        signal(SIGXFSZ, prev);
    }
}

/* ---- (e) F16 / BF16 inputs and out-of-memory ----------------------------------------- */

/* bf16 -> F32 widens exactly; f16 -> F16 copies; f16 -> Q8_0 quantizes the
 * widened values (same bytes as quantizing them from an F32 file). */
static void test_float_inputs(void) {
    const char *wide = tmp_path("bf16-to-f32.gguf");
    hearth_status st = hearth_quantize_file(test_data("models/tiny-llama-bf16.gguf"), wide, "F32", 2, false, NULL,
                                            NULL, NULL);
    REQUIRE(st == HEARTH_OK, "bf16 -> f32: %s", hearth_error_last());
    hearth_gguf *in = NULL, *out = NULL;
    REQUIRE(hearth_gguf_open(test_data("models/tiny-llama-bf16.gguf"), &in) == HEARTH_OK);
    REQUIRE(hearth_gguf_open(wide, &out) == HEARTH_OK);
    uint32_t ft = 99;
    CHECK(hearth_gguf_get_u32(out, "general.file_type", &ft) == HEARTH_OK && ft == 0);
    int bad = 0, n_matrices = 0;
    for (uint64_t i = 0; i < hearth_gguf_n_tensors(in); i++) {
        const hearth_gguf_tensor *a = hearth_gguf_tensor_at(in, i);
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)a->name.len, a->name.ptr);
        const hearth_gguf_tensor *b = hearth_gguf_tensor_find(out, name);
        if (!b || b->type != HEARTH_TYPE_F32) {
            bad++;
            continue;
        }
        if (a->type != HEARTH_TYPE_BF16) continue;
        n_matrices++;
        const uint8_t *pa = a->data, *pb = b->data;
        for (int64_t k = 0; k < a->ne[0] * a->ne[1]; k++) {
            uint16_t h;
            float f;
            memcpy(&h, pa + 2 * k, 2);
            memcpy(&f, pb + 4 * k, 4);
            if (f != hearth_bf16_to_fp32(h)) {
                bad++;
                break;
            }
        }
    }
    CHECK(bad == 0 && n_matrices == 30, "bf16 -> f32: %d bad tensors, %d matrices", bad, n_matrices);
    hearth_gguf_free(out);
    hearth_gguf_free(in);

    const char *same = tmp_path("f16-to-f16.gguf");
    st = hearth_quantize_file(test_data("models/tiny-llama-f16.gguf"), same, "F16", 1, false, NULL, NULL, NULL);
    CHECK(st == HEARTH_OK, "f16 -> f16: %s", hearth_error_last());
    compare_files(same, test_data("models/tiny-llama-f16.gguf"));

    const char *q = tmp_path("f16-to-q8_0.gguf");
    st = hearth_quantize_file(test_data("models/tiny-llama-f16.gguf"), q, "Q8_0", 2, true, NULL, NULL, NULL);
    CHECK(st == HEARTH_OK, "f16 -> q8_0: %s", hearth_error_last());
    hearth_model *m = NULL;
    CHECK(hearth_model_load(q, &m) == HEARTH_OK, "load f16 -> q8_0: %s", hearth_error_last());
    hearth_model_free(m);
}

/* Every allocation failing in turn: NOMEM or success, nothing left behind. */
static void test_oom(void) {
    const char *out = tmp_path("oom.gguf");
    int ok = 0, nomem = 0, other = 0;
    for (long n = 0; n < 400 && ok == 0; n++) {
        hearth_alloc_fail_after(n);
        hearth_status st =
            hearth_quantize_file(test_data("models/stories260K.gguf"), out, "Q4_K_M", 1, false, NULL, NULL, NULL);
        hearth_alloc_fail_after(-1);
        if (st == HEARTH_OK) {
            ok++;
        } else {
            if (st == HEARTH_ERR_NOMEM)
                nomem++;
            else
                other++;
            CHECK(nothing_left(out), "fail_after(%ld): output left behind", n);
        }
    }
    CHECK(ok == 1 && nomem > 10 && other == 0, "oom: ok %d, nomem %d, other %d", ok, nomem, other);
}

/* Runs the hearth binary with a shell command tail; returns its exit code. */
static int run_cli(const char *args) {
    const char *bin = getenv("HEARTH_BIN");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' quantize %s >/dev/null 2>&1", bin, args);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void test_cli(void) {
    const char *bin = getenv("HEARTH_BIN");
    REQUIRE(bin && *bin, "HEARTH_BIN is not set (run through ctest)");
    char args[1024];
    const char *out = tmp_path("cli.gguf");
    CHECK(run_cli("--help") == 0);
    CHECK(run_cli("") == 2, "missing arguments");
    snprintf(args, sizeof args, "'%s' '%s' Q9_9", test_data("models/stories260K.gguf"), out);
    CHECK(run_cli(args) == 2, "unknown type is a usage error");
    snprintf(args, sizeof args, "'%s' '%s' Q8_0 -t 0", test_data("models/stories260K.gguf"), out);
    CHECK(run_cli(args) == 2, "bad thread count");
    snprintf(args, sizeof args, "'%s' '%s' Q8_0", tmp_path("missing.gguf"), out);
    CHECK(run_cli(args) == 1 && nothing_left(out), "missing input");
    snprintf(args, sizeof args, "'%s' '%s' q4_k_m -t 1", test_data("models/tiny-llama-f32.gguf"), out);
    CHECK(run_cli(args) == 0 && exists(out), "quantize through the CLI");
    compare_files(out, test_data("models/tiny-llama-q4_k_m.gguf"));
}

static void cleanup(void) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", tmpdir);
}

int main(void) {
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/hearth-quantize-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    json_error_t jerr;
    tolerances = json_load_file(test_data("reference/tolerances.json"), 0, &jerr);
    CHECK(tolerances != NULL, "tolerances.json: %s", jerr.text);

    test_writer();
    test_tiny_llama("q8_0", true, 2);
    test_tiny_llama("q4_0", true, 1);
    test_tiny_llama("q6_k", true, 2);
    test_tiny_llama("q4_k_m", false, 2);
    test_tiny_llama("q5_k_m", false, 1);
    test_stories_fallback();
    test_bad_inputs();
    test_float_inputs();
    test_oom();
    test_cli();

    json_decref(tolerances);
    cleanup();
    TEST_DONE();
}
