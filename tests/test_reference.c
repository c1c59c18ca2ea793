/* test_reference.c - every language model in ../shared/models against the
 * reference implementation's logits, with the rules of TOLERANCES.md:
 * max and RMS |Δlogit| within the file's tol_max / tol_rms, the argmax rule
 * (top-1 must agree wherever the reference top-1/top-2 margin > 2·tol_max),
 * greedy continuations up to the first step with a small margin, and each
 * generation step's top-5 logits through one sequence. Also the BERT
 * embeddings against the S4 references, and the prompt tokenization. */
#include <jansson.h>
#include <math.h>

#include "hearth/alloc.h"
#include "hearth/model.h"
#include "test.h"
#include "test_logits.h"

typedef struct cmp_result {
    double max_abs, rms;
    int argmax_required, argmax_bad;
} cmp_result;

static cmp_result compare_logits(const float *got, const float *ref, int rows, int n_vocab,
                                 double tol_max) {
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

static void check_language_model(const json_t *row) {
    const char *file = json_string_value(json_object_get(row, "file"));
    const char *model = json_string_value(json_object_get(row, "model"));
    double tol_max = json_real_value(json_object_get(row, "tol_max"));
    double tol_rms = json_real_value(json_object_get(row, "tol_rms"));
    char path[512];
    snprintf(path, sizeof path, "reference/%s.json", file);
    json_error_t jerr;
    json_t *ref = json_load_file(test_data(path), 0, &jerr);
    REQUIRE(ref != NULL, "%s: %s", path, jerr.text);
    snprintf(path, sizeof path, "models/%s.gguf", model);
    hearth_model *m = NULL;
    hearth_status st = hearth_model_load(test_data(path), &m);
    CHECK(st == HEARTH_OK, "%s: %s: %s", path, hearth_strerror(st), hearth_error_last());
    if (st) {
        json_decref(ref);
        return;
    }
    int n_vocab = hearth_model_hparams(m)->n_vocab;
    size_t n_prompt, n_gen;
    int32_t *prompt = json_ids(json_object_get(ref, "prompt_token_ids"), &n_prompt);
    int32_t *gen = json_ids(json_object_get(ref, "generated_ids"), &n_gen);

    /* Our tokenizer must give the reference's prompt ids. */
    const char *text = json_string_value(json_object_get(ref, "prompt"));
    int32_t *ids = NULL;
    size_t n_ids = 0;
    st = hearth_tokenize(hearth_model_vocab(m), text, strlen(text), true, false, &ids, &n_ids);
    CHECK(st == HEARTH_OK && n_ids == n_prompt && memcmp(ids, prompt, n_prompt * 4) == 0,
          "%s: prompt tokenization differs", file);
    hearth_free(ids);

    /* Prompt logits, one batch. */
    size_t ref_len;
    snprintf(path, sizeof path, "reference/%s",
             json_string_value(json_object_get(ref, "logits_file")));
    float *ref_logits = (float *)test_read_file(test_data(path), &ref_len);
    hearth_context *c = NULL;
    st = hearth_context_new(m, (int32_t)(n_prompt + n_gen + 8), 2, &c);
    CHECK(st == HEARTH_OK, "%s: context: %s", file, hearth_error_last());
    float *logits = malloc((n_prompt + n_gen) * (size_t)n_vocab * sizeof(float));
    if (ref_logits && c && ref_len == n_prompt * n_vocab * sizeof(float)) {
        st = hearth_eval(c, prompt, (int32_t)n_prompt, logits, true);
        CHECK(st == HEARTH_OK, "%s: eval: %s", file, hearth_error_last());
        cmp_result r = compare_logits(logits, ref_logits, (int)n_prompt, n_vocab, tol_max);
        printf("%-24s max %.3e (tol %.3e)  rms %.3e (tol %.3e)  argmax %d/%d\n", file, r.max_abs,
               tol_max, r.rms, tol_rms, r.argmax_required - r.argmax_bad, r.argmax_required);
        CHECK(r.max_abs <= tol_max, "%s: max |dlogit| %.4g > %.4g", file, r.max_abs, tol_max);
        CHECK(r.rms <= tol_rms, "%s: rms dlogit %.4g > %.4g", file, r.rms, tol_rms);
        CHECK(r.argmax_bad == 0, "%s: %d of %d required argmax positions differ", file, r.argmax_bad,
              r.argmax_required);

        /* Greedy continuation, one token per eval, up to the first step the
         * reference's own margin cannot decide. */
        const json_t *top5 = json_object_get(ref, "generated_top5");
        int32_t tok = (int32_t)argmax_row(logits + (n_prompt - 1) * (size_t)n_vocab, n_vocab, NULL);
        int checked = 0;
        for (size_t k = 0; k < n_gen; k++) {
            const json_t *t5 = json_array_get(top5, k);
            double margin = json_real_value(json_array_get(json_array_get(t5, 0), 1)) -
                            json_real_value(json_array_get(json_array_get(t5, 1), 1));
            if (margin <= 2 * tol_max) break;
            CHECK(tok == gen[k], "%s: greedy step %zu: got %d, reference %d", file, k, tok, gen[k]);
            if (tok != gen[k]) break;
            checked++;
            st = hearth_eval(c, &tok, 1, logits, false);
            if (st) break;
            tok = (int32_t)argmax_row(logits, n_vocab, NULL);
        }
        int expect_checkable = (int)json_integer_value(json_object_get(row, "greedy_checkable"));
        CHECK(checked >= expect_checkable, "%s: only %d greedy steps matched, %d checkable", file,
              checked, expect_checkable);

        /* The robust check: prompt + generated[:-1] as one sequence; each
         * generation step's reference top-5 logits within tol_max. */
        hearth_context_truncate(c, 0);
        int32_t *seq = malloc((n_prompt + n_gen) * sizeof *seq);
        memcpy(seq, prompt, n_prompt * sizeof *seq);
        memcpy(seq + n_prompt, gen, (n_gen - 1) * sizeof *seq);
        st = hearth_eval(c, seq, (int32_t)(n_prompt + n_gen - 1), logits, true);
        CHECK(st == HEARTH_OK, "%s: eval of the continuation: %s", file, hearth_error_last());
        double worst = 0.0;
        for (size_t k = 0; k < n_gen && st == HEARTH_OK; k++) {
            const float *row_l = logits + (n_prompt - 1 + k) * (size_t)n_vocab;
            const json_t *t5 = json_array_get(top5, k);
            for (size_t j = 0; j < json_array_size(t5); j++) {
                int id = (int)json_integer_value(json_array_get(json_array_get(t5, j), 0));
                double v = json_real_value(json_array_get(json_array_get(t5, j), 1));
                double dlt = fabs(row_l[id] - v);
                if (dlt > worst) worst = dlt;
            }
        }
        CHECK(worst <= tol_max, "%s: generation top-5 differ by %.4g > %.4g", file, worst, tol_max);
        free(seq);
    } else {
        CHECK(0, "%s: reference logits missing or wrong size", file);
    }
    free(logits);
    free(ref_logits);
    free(prompt);
    free(gen);
    hearth_context_free(c);
    hearth_model_free(m);
    json_decref(ref);
}

static void check_bert(const char *name, double tol_max, double tol_cos) {
    char path[256];
    snprintf(path, sizeof path, "reference/%s.S4.json", name);
    json_error_t jerr;
    json_t *ref = json_load_file(test_data(path), 0, &jerr);
    REQUIRE(ref != NULL, "%s: %s", path, jerr.text);
    snprintf(path, sizeof path, "models/%s.gguf", name);
    hearth_model *m = NULL;
    hearth_status st = hearth_model_load(test_data(path), &m);
    CHECK(st == HEARTH_OK, "%s: %s", path, hearth_error_last());
    hearth_context *c = NULL;
    if (m) st = hearth_context_new(m, 0, 2, &c);
    const json_t *sents = json_object_get(ref, "sentences");
    for (size_t s = 0; c && s < json_array_size(sents); s++) {
        const json_t *sent = json_array_get(sents, s);
        size_t n;
        int32_t *ids = json_ids(json_object_get(sent, "token_ids"), &n);
        const char *text = json_string_value(json_object_get(sent, "text"));
        int32_t *tok = NULL;
        size_t n_tok = 0;
        st = hearth_tokenize(hearth_model_vocab(m), text, strlen(text), true, false, &tok, &n_tok);
        CHECK(st == HEARTH_OK && n_tok == n && memcmp(tok, ids, n * 4) == 0,
              "%s sentence %zu: tokenization differs", name, s);
        hearth_free(tok);
        int d = hearth_model_hparams(m)->n_embd;
        float *emb = malloc((size_t)d * sizeof *emb);
        st = hearth_embed(c, ids, (int32_t)n, NULL, emb, true);
        CHECK(st == HEARTH_OK, "%s: embed: %s", name, hearth_error_last());
        const json_t *e = json_object_get(sent, "embedding");
        CHECK((int)json_array_size(e) == d);
        double maxd = 0, dot = 0, na = 0, nb = 0;
        for (int j = 0; j < d && j < (int)json_array_size(e); j++) {
            double r = json_real_value(json_array_get(e, j));
            double dlt = fabs(emb[j] - r);
            if (!(dlt <= maxd)) maxd = isnan(dlt) ? INFINITY : dlt;
            dot += emb[j] * r;
            na += (double)emb[j] * emb[j];
            nb += r * r;
        }
        double one_minus_cos = 1.0 - dot / sqrt(na * nb);
        printf("%-24s sentence %zu: max %.3e (tol %.0e)  1-cos %.3e (tol %.0e)\n", name, s, maxd,
               tol_max, one_minus_cos, tol_cos);
        CHECK(maxd <= tol_max, "%s sentence %zu: max diff %.4g", name, s, maxd);
        CHECK(one_minus_cos <= tol_cos, "%s sentence %zu: 1-cos %.4g", name, s, one_minus_cos);
        free(emb);
        free(ids);
    }
    hearth_context_free(c);
    hearth_model_free(m);
    json_decref(ref);
}

int main(void) {
    json_error_t jerr;
    json_t *tol = json_load_file(test_data("reference/tolerances.json"), 0, &jerr);
    CHECK(tol != NULL, "tolerances.json: %s", jerr.text);
    const json_t *rows = json_object_get(tol, "rows");
    CHECK(json_array_size(rows) >= 26, "expected 26 reference rows");
    for (size_t i = 0; i < json_array_size(rows); i++) check_language_model(json_array_get(rows, i));
    json_decref(tol);
    /* BERT tolerances from TOLERANCES.md ("BERT embeddings"). */
    check_bert("tiny-bert-f32", 1e-4, 1e-6);
    check_bert("tiny-bert-q8_0", 3e-3, 3e-5);
    TEST_DONE();
}
