/* test_batch.c - batching must not change results.
 *
 * (1) Batch-size sweep: a long sequence evaluated in micro-batches of every
 * interesting size from 1 to 512 gives the same logits as one big batch
 * (within the file's tolerance; a kernel that is right only for some batch
 * shapes fails here). (2) Continuous batching: several sequences decoded
 * together in mixed batches (one prefilling while others decode) give the
 * same logits as each sequence alone. (3) Errors: overflow and bad ids leave
 * every cache as it was. */
#include <math.h>

#include "hearth/alloc.h"
#include "hearth/model.h"
#include "test.h"
#include "test_logits.h"

static int32_t *tokenize_file(const hearth_model *m, const char *rel, size_t *n) {
    size_t len;
    char *text = test_read_file(test_data(rel), &len);
    int32_t *ids = NULL;
    *n = 0;
    if (text) hearth_tokenize(hearth_model_vocab(m), text, len, true, false, &ids, n);
    free(text);
    return ids;
}

static void sweep(const char *model, int n_tokens, const int *sizes, int n_sizes, double tol) {
    hearth_model *m = NULL;
    hearth_status st = hearth_model_load(test_data(model), &m);
    REQUIRE(st == HEARTH_OK, "%s: %s", model, hearth_error_last());
    size_t n_ids;
    int32_t *ids = tokenize_file(m, "reference/ppl-text.txt", &n_ids);
    REQUIRE(ids && (int)n_ids >= n_tokens);
    int nv = hearth_model_hparams(m)->n_vocab;
    hearth_context *c = NULL;
    st = hearth_context_new(m, n_tokens, 2, &c);
    REQUIRE(st == HEARTH_OK, "%s", hearth_error_last());
    float *whole = malloc((size_t)n_tokens * nv * sizeof(float));
    float *part = malloc((size_t)n_tokens * nv * sizeof(float));
    st = hearth_eval(c, ids, n_tokens, whole, true);
    CHECK(st == HEARTH_OK, "%s", hearth_error_last());
    for (int s = 0; s < n_sizes; s++) {
        hearth_context_truncate(c, 0);
        for (int done = 0; done < n_tokens && st == HEARTH_OK; done += sizes[s]) {
            int k = n_tokens - done < sizes[s] ? n_tokens - done : sizes[s];
            st = hearth_eval(c, ids + done, k, part + (size_t)done * nv, true);
        }
        CHECK(st == HEARTH_OK, "batch %d: %s", sizes[s], hearth_error_last());
        double d = max_diff(whole, part, (size_t)n_tokens * nv);
        CHECK(d <= tol, "%s: micro-batches of %d differ from one batch by %.3g (tol %.3g)", model,
              sizes[s], d, tol);
    }
    printf("%s: %d batch sizes over %d tokens agree\n", model, n_sizes, n_tokens);
    free(whole);
    free(part);
    hearth_free(ids);
    hearth_context_free(c);
    hearth_model_free(m);
}

/* Three sequences: A prefilled alone then decoded, B and C joining later;
 * every step's logits must equal the same sequence evaluated alone. */
static void continuous(const char *model, double tol) {
    hearth_model *m = NULL;
    hearth_status st = hearth_model_load(test_data(model), &m);
    REQUIRE(st == HEARTH_OK, "%s: %s", model, hearth_error_last());
    size_t n_ids;
    int32_t *ids = tokenize_file(m, "reference/ppl-text.txt", &n_ids);
    REQUIRE(ids && n_ids > 300);
    int nv = hearth_model_hparams(m)->n_vocab;
    enum { NS = 3, LEN = 60 };
    const int32_t *seqs[NS] = {ids, ids + 100, ids + 200};
    /* Reference: each sequence alone, all logits. */
    float *alone = malloc((size_t)NS * LEN * nv * sizeof(float));
    hearth_context *c1 = NULL;
    st = hearth_context_new(m, LEN, 2, &c1);
    REQUIRE(st == HEARTH_OK);
    for (int s = 0; s < NS; s++) {
        hearth_context_truncate(c1, 0);
        st = hearth_eval(c1, seqs[s], LEN, alone + (size_t)s * LEN * nv, true);
        CHECK(st == HEARTH_OK);
    }
    /* Together: sequence s starts at step 10*s with a 20-token prefill,
     * then one token per step, all in one batch per step. */
    hearth_context *c = NULL;
    st = hearth_context_new_seqs(m, LEN, NS, 2, &c);
    REQUIRE(st == HEARTH_OK, "%s", hearth_error_last());
    int fed[NS] = {0};
    int32_t tok[NS * 20], seq[NS * 20];
    uint8_t want[NS * 20];
    float *out = malloc((size_t)NS * 20 * nv * sizeof(float));
    double worst = 0;
    for (int step = 0; step < 200; step++) {
        int n = 0;
        for (int s = 0; s < NS; s++) {
            if (step < 10 * s || fed[s] >= LEN) continue;
            int k = fed[s] == 0 ? 20 : 1;
            for (int j = 0; j < k; j++) {
                tok[n] = seqs[s][fed[s] + j];
                seq[n] = s;
                want[n] = 1;
                n++;
            }
        }
        if (n == 0) {
            if (fed[0] >= LEN && fed[1] >= LEN && fed[2] >= LEN) break;
            continue;
        }
        hearth_batch b = {n, tok, seq, want};
        st = hearth_decode(c, &b, out);
        CHECK(st == HEARTH_OK, "step %d: %s", step, hearth_error_last());
        if (st) break;
        for (int i = 0; i < n; i++) {
            int s = seq[i];
            double d = max_diff(out + (size_t)i * nv, alone + ((size_t)s * LEN + fed[s]) * nv, (size_t)nv);
            if (d > worst) worst = d;
            fed[s]++;
        }
        for (int s = 0; s < NS; s++) CHECK(hearth_seq_n_past(c, s) == fed[s]);
    }
    CHECK(fed[0] == LEN && fed[1] == LEN && fed[2] == LEN, "not every sequence finished");
    CHECK(worst <= tol, "%s: batched sequences differ from alone by %.3g (tol %.3g)", model, worst, tol);
    printf("%s: continuous batching max diff %.3g\n", model, worst);

    /* Overflow of one sequence fails the whole batch and changes nothing. */
    hearth_seq_truncate(c, 1, 10);
    int32_t t2[3] = {ids[0], ids[1], ids[2]}, s2[3] = {1, 0, 0};
    hearth_batch bad = {3, t2, s2, NULL};
    st = hearth_decode(c, &bad, NULL);
    CHECK(st == HEARTH_ERR_RANGE, "overflow of sequence 0 must be refused");
    CHECK(hearth_seq_n_past(c, 0) == LEN && hearth_seq_n_past(c, 1) == 10);
    int32_t s3[1] = {NS};
    hearth_batch badseq = {1, t2, s3, NULL};
    CHECK(hearth_decode(c, &badseq, NULL) == HEARTH_ERR_INVALID);
    int32_t badtok[1] = {nv};
    hearth_batch badid = {1, badtok, NULL, NULL};
    CHECK(hearth_decode(c, &badid, NULL) == HEARTH_ERR_INVALID);
    CHECK(hearth_seq_n_past(c, 1) == 10);

    free(out);
    free(alone);
    hearth_free(ids);
    hearth_context_free(c);
    hearth_context_free(c1);
    hearth_model_free(m);
}

int main(void) {
    static const int all[] = {1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65,
                              100, 127, 128, 129, 255, 256, 257, 511, 512};
    static const int few[] = {1, 16, 33, 300};
    /* Identical arithmetic per token is expected, so the bound is tight. */
    sweep("models/stories260K.gguf", 520, few, (int)(sizeof few / sizeof *few), 1e-4);
    sweep("models/stories260K-q4_0.gguf", 520, all, (int)(sizeof all / sizeof *all), 1e-3);
    sweep("models/tiny-llama-q4_k_m.gguf", 300, few, (int)(sizeof few / sizeof *few), 1e-3);
    sweep("models/tiny-llama-q5_k_m.gguf", 300, few, (int)(sizeof few / sizeof *few), 1e-3);
    sweep("models/tiny-llama-q3_k.gguf", 300, few, (int)(sizeof few / sizeof *few), 1e-3);
    sweep("models/tiny-llama-q2_k.gguf", 300, few, (int)(sizeof few / sizeof *few), 1e-3);
    continuous("models/stories260K-q8_0.gguf", 1e-3);
    continuous("models/tiny-qwen2-q4_k_m.gguf", 1e-2);
    TEST_DONE();
}
