/* attn_ref.c - scalar reference of the attention kernel (kernels/attn.h). */
#include <math.h>
#include <string.h>

#include "engine/kernels/attn.h"
#include "hearth/quant.h"

/* One query head: the definition, in plain loops. */
static void attn_head(const float *q, const float *k, const float *v, size_t stride, int32_t n_keys, int32_t hd,
                      float scale, float *scores, float *out) {
    float max = -INFINITY;
    for (int32_t j = 0; j < n_keys; j++) {
        const float *kj = k + (size_t)j * stride;
        float s = 0.0f;
        for (int32_t e = 0; e < hd; e++) s += q[e] * kj[e];
        s *= scale;
        scores[j] = s;
        if (s > max) max = s;
    }
    double sum = 0.0;
    for (int32_t j = 0; j < n_keys; j++) {
        scores[j] = expf(scores[j] - max);
        sum += scores[j];
    }
    float inv = (float)(1.0 / sum);
    memset(out, 0, (size_t)hd * sizeof *out);
    for (int32_t j = 0; j < n_keys; j++) {
        const float *vj = v + (size_t)j * stride;
        float p = scores[j] * inv;
        for (int32_t e = 0; e < hd; e++) out[e] += p * vj[e];
    }
}

/* See attn.h: each head of the group in turn. */
void hearth_attn_ref(const float *q, int32_t n_q, const float *k, const float *v, size_t stride, int32_t n_keys,
                     int32_t hd, float scale, float *scores, float *out) {
    for (int32_t h = 0; h < n_q; h++)
        attn_head(q + (size_t)h * hd, k, v, stride, n_keys, hd, scale, scores + (size_t)h * n_keys,
                  out + (size_t)h * hd);
}

/* ---- F16 K/V rows --------------------------------------------------------- */

/* One query head against half-float K/V rows: attn_head on the widened
 * values, in the same order (so it equals attn_head on F32 copies). */
static void attn_head_f16(const float *q, const uint16_t *k, const uint16_t *v, size_t stride, int32_t n_keys,
                          int32_t hd, float scale, float *scores, float *out) {
    float max = -INFINITY;
    for (int32_t j = 0; j < n_keys; j++) {
        const uint16_t *kj = k + (size_t)j * stride;
        float s = 0.0f;
        for (int32_t e = 0; e < hd; e++) s += q[e] * hearth_fp16_to_fp32(kj[e]);
        s *= scale;
        scores[j] = s;
        if (s > max) max = s;
    }
    double sum = 0.0;
    for (int32_t j = 0; j < n_keys; j++) {
        scores[j] = expf(scores[j] - max);
        sum += scores[j];
    }
    float inv = (float)(1.0 / sum);
    memset(out, 0, (size_t)hd * sizeof *out);
    for (int32_t j = 0; j < n_keys; j++) {
        const uint16_t *vj = v + (size_t)j * stride;
        float p = scores[j] * inv;
        for (int32_t e = 0; e < hd; e++) out[e] += p * hearth_fp16_to_fp32(vj[e]);
    }
}

/* See attn.h: each head of the group in turn. */
void hearth_attn_f16_ref(const float *q, int32_t n_q, const uint16_t *k, const uint16_t *v, size_t stride,
                         int32_t n_keys, int32_t hd, float scale, float *scores, float *out) {
    for (int32_t h = 0; h < n_q; h++)
        attn_head_f16(q + (size_t)h * hd, k, v, stride, n_keys, hd, scale, scores + (size_t)h * n_keys,
                      out + (size_t)h * hd);
}

/* See attn.h. */
void hearth_f16_row_ref(const float *x, uint16_t *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = hearth_fp32_to_fp16(x[i]);
}
