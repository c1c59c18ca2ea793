/* test_quant.c - tensor types: traits, quantize/dequantize round trips, dot
 * products, activation rounding, the shared model files, fp16/bf16.
 *
 * (a) Random data, for every computable type and 1, 3, 7, 13 blocks:
 *     quantize -> dequantize error within a per-type bound; vec_dot against
 *     the double dot of the dequantized operands; the dispatched table
 *     against the reference table.
 * (b) The tiny-llama files of every type: dequantized token_embd and
 *     blk.0.ffn_down against the F32 originals (relative RMS error between
 *     a lower and an upper bound per type), and our weight quantizers
 *     against the bytes llama-quantize wrote.
 * (c) fp16 / bf16: all 65536 round trips, ties, subnormals, inf, NaN, and
 *     random floats against a brute-force nearest-half oracle.
 *
 * Set HEARTH_TEST_VERBOSE=1 to print the measured errors.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/ref/quant_ref.h"
#include "engine/quant_blocks.h"
#include "hearth/gguf.h"
#include "hearth/quant.h"
#include "test.h"

static int verbose;

/* ---- deterministic random numbers --------------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rng_u64(void) {
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double rng_uniform(void) { return (double)(rng_u64() >> 11) * (1.0 / 9007199254740992.0); }

static double rng_gauss(void) {
    double u = rng_uniform(), v = rng_uniform();
    if (u < 1e-300) u = 1e-300;
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* ---- helpers ------------------------------------------------------------- */

static double rel_rms(const float *a, const float *ref, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        const double d = (double)a[i] - (double)ref[i];
        num += d * d;
        den += (double)ref[i] * ref[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* The computable types and their bounds on random N(0,1) data: the relative
 * RMS error of quantize -> dequantize (upper), and the relative dot error
 * allowed against the double dot of the dequantized operands. */
typedef struct {
    hearth_type type;
    double rt_max;   /* round-trip relative RMS error, upper bound */
    double rt_min;   /* ... lower bound: a lossy type must lose something */
} type_case;

static const type_case cases[] = {
    {HEARTH_TYPE_F32, 0.0, 0.0},
    {HEARTH_TYPE_F16, 4e-4, 1e-5},
    {HEARTH_TYPE_BF16, 3e-3, 5e-4},
    {HEARTH_TYPE_Q8_0, 0.008, 0.002},
    {HEARTH_TYPE_Q8_1, 0.008, 0.002},
    {HEARTH_TYPE_Q8_K, 0.009, 0.002},
    {HEARTH_TYPE_Q6_K, 0.03, 0.005},
    {HEARTH_TYPE_Q5_0, 0.06, 0.02},
    {HEARTH_TYPE_Q5_1, 0.06, 0.02},
    {HEARTH_TYPE_Q5_K, 0.06, 0.015},
    {HEARTH_TYPE_Q4_0, 0.12, 0.05},
    {HEARTH_TYPE_Q4_1, 0.12, 0.04},
    {HEARTH_TYPE_Q4_K, 0.12, 0.04},
    {HEARTH_TYPE_IQ4_NL, 0.12, 0.04},
    {HEARTH_TYPE_IQ4_XS, 0.12, 0.04},
    {HEARTH_TYPE_Q3_K, 0.25, 0.08},
    {HEARTH_TYPE_Q2_K, 0.45, 0.15},
};
#define N_CASES ((int)(sizeof cases / sizeof cases[0]))

/* ---- (a) traits ---------------------------------------------------------- */

static void test_traits(void) {
    static const struct {
        hearth_type t, vdt;
        int64_t bs;
        size_t ts;
    } want[] = {
        {HEARTH_TYPE_F32, HEARTH_TYPE_F32, 1, 4},         {HEARTH_TYPE_F16, HEARTH_TYPE_F16, 1, 2},
        {HEARTH_TYPE_BF16, HEARTH_TYPE_BF16, 1, 2},       {HEARTH_TYPE_Q4_0, HEARTH_TYPE_Q8_0, 32, 18},
        {HEARTH_TYPE_Q4_1, HEARTH_TYPE_Q8_1, 32, 20},     {HEARTH_TYPE_Q5_0, HEARTH_TYPE_Q8_0, 32, 22},
        {HEARTH_TYPE_Q5_1, HEARTH_TYPE_Q8_1, 32, 24},     {HEARTH_TYPE_Q8_0, HEARTH_TYPE_Q8_0, 32, 34},
        {HEARTH_TYPE_Q2_K, HEARTH_TYPE_Q8_K, 256, 84},    {HEARTH_TYPE_Q3_K, HEARTH_TYPE_Q8_K, 256, 110},
        {HEARTH_TYPE_Q4_K, HEARTH_TYPE_Q8_K, 256, 144},   {HEARTH_TYPE_Q5_K, HEARTH_TYPE_Q8_K, 256, 176},
        {HEARTH_TYPE_Q6_K, HEARTH_TYPE_Q8_K, 256, 210},   {HEARTH_TYPE_IQ4_NL, HEARTH_TYPE_Q8_0, 32, 18},
        {HEARTH_TYPE_IQ4_XS, HEARTH_TYPE_Q8_K, 256, 136},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const hearth_type_traits *tr = hearth_type_get(want[i].t);
        const hearth_type_traits *rf = hearth_type_get_ref(want[i].t);
        REQUIRE(tr && rf, "type %d", want[i].t);
        CHECK(tr->vec_dot_type == want[i].vdt, "%s vec_dot_type %d", tr->name, tr->vec_dot_type);
        CHECK(tr->block_size == want[i].bs && tr->type_size == want[i].ts, "%s size", tr->name);
        CHECK(tr->to_float && tr->vec_dot && rf->to_float && rf->vec_dot && rf->from_float, "%s kernels", tr->name);
        CHECK(tr->is_quantized == (want[i].bs > 1), "%s is_quantized", tr->name);
        CHECK(rf->vec_dot_type == tr->vec_dot_type, "%s ref vdt", tr->name);
    }
    /* activation types can be produced */
    CHECK(hearth_type_get(HEARTH_TYPE_Q8_1)->from_float && hearth_type_get(HEARTH_TYPE_Q8_K)->from_float);
    /* known but not computed; unknown ids */
    const hearth_type_traits *iq2 = hearth_type_get(HEARTH_TYPE_IQ2_XXS);
    CHECK(iq2 && iq2->type_size == 66 && !iq2->to_float && !iq2->vec_dot, "iq2_xxs");
    CHECK(hearth_type_get(4) == NULL && hearth_type_get(HEARTH_TYPE_COUNT) == NULL && hearth_type_get(999) == NULL);
    CHECK(hearth_type_get_ref(31) == NULL);
    /* the block structs agree with the size table */
    CHECK(hearth_type_get(HEARTH_TYPE_Q8_1)->type_size == sizeof(block_q8_1));
    CHECK(hearth_type_get(HEARTH_TYPE_Q8_K)->type_size == sizeof(block_q8_K));
    CHECK(hearth_type_get(HEARTH_TYPE_Q2_K)->type_size == sizeof(block_q2_K));
    CHECK(hearth_type_get(HEARTH_TYPE_Q6_K)->type_size == sizeof(block_q6_K));
}

/* ---- (a) random round trips and dots -------------------------------------- */

static void test_random_type(const type_case *c) {
    const hearth_type_traits *tr = hearth_type_get_ref(c->type);
    const hearth_type_traits *best = hearth_type_get(c->type);
    REQUIRE(tr && best, "type %d", c->type);
    const hearth_type_traits *vt = hearth_type_get_ref(tr->vec_dot_type);
    const hearth_type_traits *vbest = hearth_type_get(tr->vec_dot_type);
    REQUIRE(vt && vt->from_float && vt->to_float, "%s vec_dot_type", tr->name);
    static const int counts[] = {1, 3, 7, 13};
    for (int ci = 0; ci < 4; ci++) {
        /* block multiples; odd lengths (37 per count) for the float types */
        const int64_t nn = tr->block_size == 1 ? counts[ci] * 37 : counts[ci] * tr->block_size;
        float *x = malloc(sizeof(float) * (size_t)nn), *yv = malloc(sizeof(float) * (size_t)nn);
        float *xd = malloc(sizeof(float) * (size_t)nn), *yd = malloc(sizeof(float) * (size_t)nn);
        float *xd2 = malloc(sizeof(float) * (size_t)nn);
        uint8_t *xq = malloc(hearth_row_size(c->type, nn) + 1);
        uint8_t *yq = malloc(hearth_row_size(tr->vec_dot_type, nn) + 1);
        uint8_t *yq2 = malloc(hearth_row_size(tr->vec_dot_type, nn) + 1);
        REQUIRE(x && yv && xd && yd && xd2 && xq && yq && yq2);
        for (int64_t i = 0; i < nn; i++) {
            x[i] = (float)rng_gauss();
            yv[i] = (float)rng_gauss();
        }
        /* a few blocks with an offset, so the min terms matter */
        for (int64_t i = 0; i < nn / 3; i++) x[i] += 0.7f;

        tr->from_float(x, xq, nn);
        tr->to_float(xq, xd, nn);
        const double err = rel_rms(xd, x, nn);
        if (verbose) printf("  %-7s n=%-5lld round-trip rel rms %.5f\n", tr->name, (long long)nn, err);
        CHECK(err <= c->rt_max && err >= c->rt_min, "%s n=%lld round trip %.6f not in [%g, %g]", tr->name,
              (long long)nn, err, c->rt_min, c->rt_max);

        /* the dispatched dequantizer agrees with the reference */
        best->to_float(xq, xd2, nn);
        double dmax = 0, amax = 0;
        for (int64_t i = 0; i < nn; i++) {
            dmax = fmax(dmax, fabs((double)xd2[i] - xd[i]));
            amax = fmax(amax, fabs((double)xd[i]));
        }
        CHECK(dmax <= 1e-6 * amax, "%s dispatched to_float differs by %g", tr->name, dmax);

        /* dot with the quantized activations */
        vt->from_float(yv, yq, nn);
        vt->to_float(yq, yd, nn);
        double dot = 0, mag = 0;
        for (int64_t i = 0; i < nn; i++) {
            dot += (double)xd[i] * yd[i];
            mag += fabs((double)xd[i] * yd[i]);
        }
        if (c->type == HEARTH_TYPE_Q4_1 || c->type == HEARTH_TYPE_Q5_1) {
            /* the min term uses Q8_1's s = fp16(d * sum q), not the sum of
             * the dequantized values: swap one for the other per block */
            for (int64_t b = 0; b < nn / 32; b++) {
                uint16_t mh;
                memcpy(&mh, xq + (size_t)b * tr->type_size + 2, 2); /* Q4_1/Q5_1: d, then m */
                const block_q8_1 *yb = (const block_q8_1 *)yq + b;
                double ysum = 0;
                for (int j = 0; j < 32; j++) ysum += yd[32 * b + j];
                dot += (double)hearth_fp16_to_fp32(mh) * ((double)hearth_fp16_to_fp32(yb->s) - ysum);
            }
        }
        float s = NAN;
        tr->vec_dot(nn, &s, xq, yq);
        const double rel = fabs((double)s - dot) / (mag > 0 ? mag : 1);
        if (verbose) printf("  %-7s n=%-5lld vec_dot %.6f vs %.6f (rel %.2e)\n", tr->name, (long long)nn, s, dot, rel);
        CHECK(rel < 2e-6, "%s n=%lld vec_dot %.7g vs double %.7g (rel %.3g)", tr->name, (long long)nn, s, dot, rel);

        /* the dispatched activation quantizer is bit-identical; its dot agrees */
        vbest->from_float(yv, yq2, nn);
        CHECK(memcmp(yq, yq2, hearth_row_size(tr->vec_dot_type, nn)) == 0, "%s dispatched from_float differs",
              vt->name);
        float s2 = NAN;
        best->vec_dot(nn, &s2, xq, yq2);
        CHECK(fabs((double)s2 - dot) / (mag > 0 ? mag : 1) < 1e-5, "%s dispatched vec_dot %.7g vs %.7g", tr->name,
              s2, dot);
        free(x), free(yv), free(xd), free(yd), free(xd2), free(xq), free(yq), free(yq2);
    }
}

/* All-zero and constant blocks must not produce NaN or garbage. */
static void test_degenerate(void) {
    for (int c = 0; c < N_CASES; c++) {
        const hearth_type_traits *tr = hearth_type_get_ref(cases[c].type);
        const int64_t n = tr->block_size == 1 ? 64 : 2 * tr->block_size;
        float x[512], xd[512];
        uint8_t q[2 * 292 + 8];
        for (int pass = 0; pass < 2; pass++) {
            for (int64_t i = 0; i < n; i++) x[i] = pass == 0 ? 0.0f : 0.5f;
            tr->from_float(x, q, n);
            tr->to_float(q, xd, n);
            double e = 0;
            for (int64_t i = 0; i < n; i++) e = fmax(e, fabs((double)xd[i] - x[i]));
            CHECK(e <= (pass == 0 ? 0.0 : 0.02), "%s %s block: max error %g", tr->name, pass ? "constant" : "zero", e);
        }
    }
}

/* ---- (a) activation rounding, bit for bit ---------------------------------- */

static void test_activation_rounding(void) {
    /* amax 127 makes d = 1 and id = 1 exactly, so x*id lands on exact ties */
    float x[256];
    for (int i = 0; i < 256; i++) x[i] = 0.0f;
    x[0] = 127.0f;
    x[1] = 2.5f;
    x[2] = 3.5f;
    x[3] = -2.5f;
    x[4] = 0.5f;
    x[5] = -126.5f;
    block_q8_0 b0[8];
    hearth_type_get(HEARTH_TYPE_Q8_0)->from_float(x, b0, 32);
    CHECK(hearth_fp16_to_fp32(b0[0].d) == 1.0f);
    CHECK(b0[0].qs[0] == 127 && b0[0].qs[1] == 2 && b0[0].qs[2] == 4 && b0[0].qs[3] == -2 && b0[0].qs[4] == 0 &&
              b0[0].qs[5] == -126,
          "q8_0 activation ties to even: %d %d %d %d %d %d", b0[0].qs[0], b0[0].qs[1], b0[0].qs[2], b0[0].qs[3],
          b0[0].qs[4], b0[0].qs[5]);
    /* the weight quantizer (llama-quantize's) rounds ties away from zero */
    hearth_ref_from_float_q8_0(x, b0, 32);
    CHECK(b0[0].qs[1] == 3 && b0[0].qs[2] == 4 && b0[0].qs[3] == -3 && b0[0].qs[4] == 1 && b0[0].qs[5] == -127,
          "q8_0 weight ties away from zero");

    block_q8_1 b1[8];
    hearth_type_get(HEARTH_TYPE_Q8_1)->from_float(x, b1, 32);
    CHECK(b1[0].qs[1] == 2 && b1[0].qs[5] == -126);
    CHECK(hearth_fp16_to_fp32(b1[0].s) == (float)(127 + 2 + 4 - 2 + 0 - 126), "q8_1 s = d*sum(q): %g",
          hearth_fp16_to_fp32(b1[0].s));

    /* Q8_K: signed max -127 -> iscale = 1 (x -> x), d = 1 */
    x[0] = -127.0f;
    block_q8_K bk;
    hearth_type_get(HEARTH_TYPE_Q8_K)->from_float(x, &bk, 256);
    CHECK(bk.d == 1.0f, "q8_K d %g", bk.d);
    CHECK(bk.qs[0] == -127 && bk.qs[1] == 2 && bk.qs[2] == 4 && bk.qs[3] == -2 && bk.qs[5] == -126,
          "q8_K ties to even: %d %d %d %d %d", bk.qs[0], bk.qs[1], bk.qs[2], bk.qs[3], bk.qs[5]);
    CHECK(bk.bsums[0] == -127 + 2 + 4 - 2 + 0 - 126 && bk.bsums[1] == 0);
    /* positive max 127 -> iscale = -1: signs flip, d = -1 */
    x[0] = 127.0f;
    hearth_type_get(HEARTH_TYPE_Q8_K)->from_float(x, &bk, 256);
    CHECK(bk.d == -1.0f && bk.qs[0] == -127 && bk.qs[1] == -2 && bk.qs[5] == 126, "q8_K positive max");

    /* random blocks against the rule written out independently */
    for (int trial = 0; trial < 50; trial++) {
        float v[256];
        for (int i = 0; i < 256; i++) v[i] = (float)(rng_gauss() * (1 + trial));
        float amax = 0, max = 0;
        for (int i = 0; i < 256; i++)
            if (fabsf(v[i]) > amax) amax = fabsf(v[i]), max = v[i];
        hearth_type_get(HEARTH_TYPE_Q8_K)->from_float(v, &bk, 256);
        const float iscale = -127.0f / max;
        int bad = 0;
        for (int i = 0; i < 256; i++) {
            long q = lrintf(iscale * v[i]);
            if (q > 127) q = 127;
            bad += bk.qs[i] != q;
        }
        for (int g = 0; g < 16; g++) {
            int sum = 0;
            for (int i = 0; i < 16; i++) sum += bk.qs[16 * g + i];
            bad += bk.bsums[g] != sum;
        }
        bad += bk.d != 1 / iscale;
        hearth_type_get(HEARTH_TYPE_Q8_0)->from_float(v, b0, 256);
        for (int blk = 0; blk < 8; blk++) {
            float am = 0;
            for (int i = 0; i < 32; i++) am = fmaxf(am, fabsf(v[32 * blk + i]));
            bad += b0[blk].d != hearth_fp32_to_fp16(am / 127.0f);
            for (int i = 0; i < 32; i++) bad += b0[blk].qs[i] != lrintf(v[32 * blk + i] * (127.0f / am));
        }
        CHECK(bad == 0, "activation quantizer rule violated %d times", bad);
    }
}

/* ---- (b) the shared model files ------------------------------------------- */

typedef struct {
    const char *file;
    hearth_type type;
    double lo, hi; /* bounds on rel RMS error vs F32 */
    int exact;     /* our weight quantizer must reproduce the file's bytes */
} file_case;

static const file_case files[] = {
    /* measured: f16 2.1e-4, bf16 1.65e-3, q8_0 0.0054, q6_k 0.0178,
     * q5_0 0.043, q5_1 0.038, q5_k 0.036, q4_0 0.086, q4_1 0.078,
     * q4_k 0.071, iq4_nl 0.076, iq4_xs 0.077, q3_k 0.151, q2_k 0.297 */
    {"f16", HEARTH_TYPE_F16, 1e-4, 4e-4, 1},       {"bf16", HEARTH_TYPE_BF16, 1e-3, 3e-3, 1},
    {"q8_0", HEARTH_TYPE_Q8_0, 0.003, 0.008, 1},   {"q6_k", HEARTH_TYPE_Q6_K, 0.01, 0.025, 1},
    {"q5_0", HEARTH_TYPE_Q5_0, 0.028, 0.055, 1},   {"q5_1", HEARTH_TYPE_Q5_1, 0.028, 0.055, 1},
    {"q5_k", HEARTH_TYPE_Q5_K, 0.028, 0.055, 1},   {"q4_0", HEARTH_TYPE_Q4_0, 0.06, 0.11, 1},
    {"q4_1", HEARTH_TYPE_Q4_1, 0.06, 0.11, 1},     {"q4_k", HEARTH_TYPE_Q4_K, 0.055, 0.11, 1},
    {"iq4_nl", HEARTH_TYPE_IQ4_NL, 0.06, 0.11, 1}, {"iq4_xs", HEARTH_TYPE_IQ4_XS, 0.06, 0.11, 1},
    {"q3_k", HEARTH_TYPE_Q3_K, 0.12, 0.2, 1},      {"q2_k", HEARTH_TYPE_Q2_K, 0.24, 0.4, 1},
};

/* The weight quantizer llama-quantize uses for a type (Q8_0's table entry
 * is the activation quantizer, which rounds ties differently). */
static hearth_from_float_fn weight_quantizer(hearth_type t) {
    if (t == HEARTH_TYPE_Q8_0) return hearth_ref_from_float_q8_0;
    return hearth_type_get_ref(t)->from_float;
}

static void test_file(const hearth_gguf *f32, const file_case *fc) {
    char rel[128];
    snprintf(rel, sizeof rel, "models/tiny-llama-%s.gguf", fc->file);
    hearth_gguf *g = NULL;
    hearth_status st = hearth_gguf_open(test_data(rel), &g);
    REQUIRE(st == HEARTH_OK, "open %s: %d", rel, st);
    static const char *names[] = {"token_embd.weight", "blk.0.ffn_down.weight"};
    for (int k = 0; k < 2; k++) {
        const hearth_gguf_tensor *tq = hearth_gguf_tensor_find(g, names[k]);
        const hearth_gguf_tensor *tf = hearth_gguf_tensor_find(f32, names[k]);
        CHECK(tq && tf, "%s: %s missing", fc->file, names[k]);
        if (!tq || !tf) continue;
        CHECK(tq->type == fc->type, "%s: %s has type %u", fc->file, names[k], tq->type);
        CHECK(tf->type == HEARTH_TYPE_F32);
        const int64_t n = tf->ne[0] * tf->ne[1] * tf->ne[2] * tf->ne[3];
        CHECK(tq->ne[0] == tf->ne[0] && tq->ne[1] == tf->ne[1], "%s shape", names[k]);
        if (tq->type != fc->type || tf->type != HEARTH_TYPE_F32 || tq->ne[0] != tf->ne[0]) continue;
        const hearth_type_traits *tr = hearth_type_get(fc->type);
        const size_t rowsz = hearth_row_size(fc->type, tq->ne[0]);
        CHECK(tq->nbytes == rowsz * (size_t)(n / tq->ne[0]), "%s nbytes", names[k]);
        float *deq = malloc(sizeof(float) * (size_t)n);
        uint8_t *req = malloc(tq->nbytes);
        REQUIRE(deq && req);
        tr->to_float(tq->data, deq, n);
        const double err = rel_rms(deq, tf->data, n);
        if (verbose) printf("  %-7s %-22s rel rms %.5f\n", fc->file, names[k], err);
        CHECK(err >= fc->lo && err <= fc->hi, "%s %s: rel rms %.5f not in [%g, %g]", fc->file, names[k], err, fc->lo,
              fc->hi);

        /* row by row must give the same as the whole tensor at once */
        float *row = malloc(sizeof(float) * (size_t)tq->ne[0]);
        REQUIRE(row);
        const int64_t last = n / tq->ne[0] - 1;
        tr->to_float((const uint8_t *)tq->data + rowsz * (size_t)last, row, tq->ne[0]);
        CHECK(memcmp(row, deq + last * tq->ne[0], sizeof(float) * (size_t)tq->ne[0]) == 0, "%s row", fc->file);
        free(row);

        /* re-quantize the F32 original: llama-quantize's bytes, block by block */
        weight_quantizer(fc->type)(tf->data, req, n);
        const size_t bsz = tr->type_size, nblk = tq->nbytes / bsz;
        size_t same = 0;
        for (size_t b = 0; b < nblk; b++) same += memcmp(req + b * bsz, (const uint8_t *)tq->data + b * bsz, bsz) == 0;
        if (verbose) printf("  %-7s %-22s re-quantized: %zu / %zu blocks identical\n", fc->file, names[k], same, nblk);
        if (fc->exact)
            CHECK(same == nblk, "%s %s: only %zu of %zu blocks re-quantize identically", fc->file, names[k], same, nblk);
        free(deq);
        free(req);
    }
    hearth_gguf_free(g);
}

static void test_files(void) {
    hearth_gguf *f32 = NULL;
    hearth_status st = hearth_gguf_open(test_data("models/tiny-llama-f32.gguf"), &f32);
    REQUIRE(st == HEARTH_OK, "open tiny-llama-f32.gguf: %d", st);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) test_file(f32, &files[i]);
    hearth_gguf_free(f32);
}

/* ---- (c) fp16 / bf16 ------------------------------------------------------ */

static uint32_t fbits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bitsf(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* The half nearest to f by exhaustive search over the positive finite
 * halves (ties to the even encoding), as an oracle independent of the bit
 * manipulation under test. */
static uint16_t oracle_fp16(float f, const double *pos) {
    const uint16_t sign = (fbits(f) >> 31) ? 0x8000 : 0;
    const double a = fabs((double)f);
    if (a >= 65520.0) return sign | 0x7C00;
    int lo = 0, hi = 0x7BFF; /* pos[lo] <= a <= pos[hi] */
    while (hi - lo > 1) {
        const int mid = (lo + hi) / 2;
        if (pos[mid] <= a) lo = mid; else hi = mid;
    }
    const double dl = a - pos[lo], dh = pos[hi] - a;
    const int pick = dl < dh ? lo : dh < dl ? hi : ((lo & 1) ? hi : lo);
    return (uint16_t)(sign | pick);
}

static void test_fp16(void) {
    int bad_rt = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        const float f = hearth_fp16_to_fp32((uint16_t)h);
        const int is_nan = (h & 0x7C00) == 0x7C00 && (h & 0x3FF);
        if (is_nan) {
            bad_rt += !isnan(f);
            const uint16_t back = hearth_fp32_to_fp16(f);
            bad_rt += !((back & 0x7C00) == 0x7C00 && (back & 0x3FF) && (back & 0x200));
        } else {
            bad_rt += hearth_fp32_to_fp16(f) != h;
        }
    }
    CHECK(bad_rt == 0, "fp16 round trips failed %d times", bad_rt);
    /* exact values, including subnormals */
    CHECK(hearth_fp16_to_fp32(0x0001) == ldexpf(1.0f, -24));
    CHECK(hearth_fp16_to_fp32(0x03FF) == ldexpf(1023.0f, -24));
    CHECK(hearth_fp16_to_fp32(0x0400) == ldexpf(1.0f, -14));
    CHECK(hearth_fp16_to_fp32(0x3C00) == 1.0f && hearth_fp16_to_fp32(0xC000) == -2.0f);
    CHECK(hearth_fp16_to_fp32(0x7BFF) == 65504.0f);
    CHECK(isinf(hearth_fp16_to_fp32(0x7C00)) && hearth_fp16_to_fp32(0xFC00) < 0);
    CHECK(fbits(hearth_fp16_to_fp32(0x8000)) == 0x80000000u);

    double pos[0x7C00];
    for (int h = 0; h < 0x7C00; h++) pos[h] = (double)hearth_fp16_to_fp32((uint16_t)h);
    for (int h = 1; h < 0x7C00; h++) REQUIRE(pos[h] > pos[h - 1], "fp16 order at %#x", h);

    /* ties between neighbours go to the even one; just off a tie goes near */
    int bad_tie = 0;
    for (int h = 0; h < 0x7BFF; h++) {
        const double mid = (pos[h] + pos[h + 1]) / 2; /* exact in float */
        const float m = (float)mid;
        bad_tie += (double)m != mid;
        const uint16_t even = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
        bad_tie += hearth_fp32_to_fp16(m) != even;
        bad_tie += hearth_fp32_to_fp16(-m) != (even | 0x8000);
        bad_tie += hearth_fp32_to_fp16(nextafterf(m, 0.0f)) != h;
        bad_tie += hearth_fp32_to_fp16(nextafterf(m, 1e9f)) != h + 1;
    }
    CHECK(bad_tie == 0, "fp16 tie rounding failed %d times", bad_tie);

    /* overflow, underflow, inf, NaN */
    CHECK(hearth_fp32_to_fp16(65504.0f) == 0x7BFF);
    CHECK(hearth_fp32_to_fp16(nextafterf(65520.0f, 0)) == 0x7BFF);
    CHECK(hearth_fp32_to_fp16(65520.0f) == 0x7C00 && hearth_fp32_to_fp16(1e10f) == 0x7C00);
    CHECK(hearth_fp32_to_fp16(-INFINITY) == 0xFC00 && hearth_fp32_to_fp16(INFINITY) == 0x7C00);
    CHECK(hearth_fp32_to_fp16(ldexpf(1.0f, -25)) == 0x0000, "2^-25 ties to zero");
    CHECK(hearth_fp32_to_fp16(nextafterf(ldexpf(1.0f, -25), 1)) == 0x0001);
    CHECK(hearth_fp32_to_fp16(ldexpf(3.0f, -25)) == 0x0002, "1.5 * 2^-24 ties to 2 * 2^-24");
    CHECK(hearth_fp32_to_fp16(1e-30f) == 0 && hearth_fp32_to_fp16(-1e-30f) == 0x8000);
    CHECK(hearth_fp32_to_fp16(bitsf(1)) == 0, "float subnormal");
    const uint16_t hn = hearth_fp32_to_fp16(NAN);
    CHECK((hn & 0x7C00) == 0x7C00 && (hn & 0x3FF));
    const uint16_t hs = hearth_fp32_to_fp16(bitsf(0x7F800001)); /* signalling, payload only in low bits */
    CHECK((hs & 0x7C00) == 0x7C00 && (hs & 0x200), "sNaN must stay NaN (quiet): %#x", hs);

    /* random floats of every magnitude against the oracle */
    int bad_rand = 0;
    for (int i = 0; i < 200000; i++) {
        const uint32_t e = 96 + (uint32_t)(rng_u64() % 48); /* 2^-31 .. 2^16 */
        const uint32_t u = (uint32_t)(rng_u64() & 0x807FFFFF) | e << 23;
        const float f = bitsf(u);
        bad_rand += hearth_fp32_to_fp16(f) != oracle_fp16(f, pos);
    }
    CHECK(bad_rand == 0, "fp16 rounding differs from the oracle %d times", bad_rand);
}

static void test_bf16(void) {
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        const float f = hearth_bf16_to_fp32((uint16_t)h);
        bad += fbits(f) != h << 16;
        const int is_nan = (h & 0x7F80) == 0x7F80 && (h & 0x7F);
        if (is_nan)
            bad += hearth_fp32_to_bf16(f) != (h | 0x40);
        else
            bad += hearth_fp32_to_bf16(f) != h;
    }
    CHECK(bad == 0, "bf16 round trips failed %d times", bad);
    /* ties to even, including subnormals (not flushed) */
    CHECK(hearth_fp32_to_bf16(bitsf(0x3F808000)) == 0x3F80, "tie down to even");
    CHECK(hearth_fp32_to_bf16(bitsf(0x3F818000)) == 0x3F82, "tie up to even");
    CHECK(hearth_fp32_to_bf16(bitsf(0x3F808001)) == 0x3F81);
    CHECK(hearth_fp32_to_bf16(bitsf(0x3F807FFF)) == 0x3F80);
    CHECK(hearth_fp32_to_bf16(bitsf(0x00008000)) == 0x0000 && hearth_fp32_to_bf16(bitsf(0x00018000)) == 0x0002);
    CHECK(hearth_fp32_to_bf16(bitsf(0x00010000)) == 0x0001, "subnormal kept");
    CHECK(hearth_fp32_to_bf16(bitsf(0x80008001)) == 0x8001);
    /* overflow to inf; inf and NaN */
    CHECK(hearth_fp32_to_bf16(bitsf(0x7F7FFFFF)) == 0x7F80);
    CHECK(hearth_fp32_to_bf16(INFINITY) == 0x7F80 && hearth_fp32_to_bf16(-INFINITY) == 0xFF80);
    CHECK(hearth_fp32_to_bf16(bitsf(0x7F800001)) == 0x7FC0, "sNaN quietened, not turned into inf");
    CHECK(hearth_fp32_to_bf16(bitsf(0xFFC12345)) == 0xFFC1);
    /* random floats against round-half-even written with doubles */
    int bad_rand = 0;
    for (int i = 0; i < 200000; i++) {
        const uint32_t u = (uint32_t)rng_u64();
        if ((u & 0x7F800000) == 0x7F800000 || ((u >> 16) & 0x7FFF) == 0x7F7F) continue; /* NaN, or rounds to inf */
        const double v = (double)bitsf(u);
        const uint16_t lo = (uint16_t)(u >> 16);
        const double a = (double)bitsf((uint32_t)lo << 16), b = (double)bitsf((uint32_t)(lo + 1) << 16);
        const double da = fabs(v - a), db = fabs(b - v);
        const uint16_t want = da < db ? lo : db < da ? (uint16_t)(lo + 1) : ((lo & 1) ? (uint16_t)(lo + 1) : lo);
        bad_rand += hearth_fp32_to_bf16((float)v) != want;
    }
    CHECK(bad_rand == 0, "bf16 rounding wrong %d times", bad_rand);
}

int main(void) {
    verbose = getenv("HEARTH_TEST_VERBOSE") != NULL;
    test_traits();
    for (int c = 0; c < N_CASES; c++) test_random_type(&cases[c]);
    test_degenerate();
    test_activation_rounding();
    test_fp16();
    test_bf16();
    test_files();
    TEST_DONE();
}
