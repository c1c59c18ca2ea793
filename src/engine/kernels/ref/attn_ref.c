/* attn_ref.c - scalar reference of the attention kernel (kernels/attn.h). */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "engine/kernels/attn.h"
#include "hearth/quant.h"

/* Element e of a K or V row of floats, or of half floats (widened). */
static inline float row_at(bool half, const void *row, size_t e) {
    return half ? hearth_fp16_to_fp32(((const uint16_t *)row)[e]) : ((const float *)row)[e];
}

/* One query head: the definition, in plain loops. The F16 version is the
 * F32 one on the widened values, in the same order, so it equals the F32
 * reference run on F32 copies of the rows. */
static inline void attn_head(bool half, const float *q, const void *k, const void *v, size_t stride, int32_t n_keys,
                             int32_t hd, float scale, float *scores, float *out) {
    float max = -INFINITY;
    for (int32_t j = 0; j < n_keys; j++) {
        float s = 0.0f;
        for (int32_t e = 0; e < hd; e++) s += q[e] * row_at(half, k, (size_t)j * stride + (size_t)e);
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
        float p = scores[j] * inv;
        for (int32_t e = 0; e < hd; e++) out[e] += p * row_at(half, v, (size_t)j * stride + (size_t)e);
    }
}

/* See attn.h: each head of the group in turn. */
void hearth_attn_ref(const float *q, int32_t n_q, const float *k, const float *v, size_t stride, int32_t n_keys,
                     int32_t hd, float scale, float *scores, float *out) {
    for (int32_t h = 0; h < n_q; h++)
        attn_head(false, q + (size_t)h * hd, k, v, stride, n_keys, hd, scale, scores + (size_t)h * n_keys,
                  out + (size_t)h * hd);
}

/* See attn.h: each head of the group in turn, over half-float K/V rows. */
void hearth_attn_f16_ref(const float *q, int32_t n_q, const uint16_t *k, const uint16_t *v, size_t stride,
                         int32_t n_keys, int32_t hd, float scale, float *scores, float *out) {
    for (int32_t h = 0; h < n_q; h++)
        attn_head(true, q + (size_t)h * hd, k, v, stride, n_keys, hd, scale, scores + (size_t)h * n_keys,
                  out + (size_t)h * hd);
}

/* See attn.h. */
void hearth_f16_row_ref(const float *x, uint16_t *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = hearth_fp32_to_fp16(x[i]);
}
