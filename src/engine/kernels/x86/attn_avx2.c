/* attn_avx2.c - the attention kernel (kernels/attn.h) with AVX2 + FMA:
 * 8-wide q.k dots and 8-wide accumulation of the weighted values, the head
 * vector kept in registers for head sizes up to 256. */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "engine/kernels/attn.h"

static inline float hsum256(__m256 x) {
    __m128 lo = _mm256_castps256_ps128(x), hi = _mm256_extractf128_ps(x, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

void hearth_attn_avx2(const float *q, const float *k, const float *v, size_t stride, int32_t n_keys,
                      int32_t hd, float scale, float *scores, float *out) {
    int32_t hv = hd & ~7;
    if (hd > 256 || hv != hd) { /* unusual head sizes: the reference */
        hearth_attn_ref(q, k, v, stride, n_keys, hd, scale, scores, out);
        return;
    }
    int32_t nv = hd / 8;
    __m256 qv[32];
    for (int32_t i = 0; i < nv; i++) qv[i] = _mm256_loadu_ps(q + 8 * i);
    float max = -INFINITY;
    for (int32_t j = 0; j < n_keys; j++) {
        const float *kj = k + (size_t)j * stride;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        int32_t i = 0;
        for (; i + 1 < nv; i += 2) {
            a0 = _mm256_fmadd_ps(qv[i], _mm256_loadu_ps(kj + 8 * i), a0);
            a1 = _mm256_fmadd_ps(qv[i + 1], _mm256_loadu_ps(kj + 8 * i + 8), a1);
        }
        if (i < nv) a0 = _mm256_fmadd_ps(qv[i], _mm256_loadu_ps(kj + 8 * i), a0);
        float s = hsum256(_mm256_add_ps(a0, a1)) * scale;
        scores[j] = s;
        if (s > max) max = s;
    }
    double sum = 0.0;
    for (int32_t j = 0; j < n_keys; j++) {
        scores[j] = expf(scores[j] - max);
        sum += scores[j];
    }
    float inv = (float)(1.0 / sum);
    __m256 acc[32];
    for (int32_t i = 0; i < nv; i++) acc[i] = _mm256_setzero_ps();
    for (int32_t j = 0; j < n_keys; j++) {
        const float *vj = v + (size_t)j * stride;
        __m256 p = _mm256_set1_ps(scores[j] * inv);
        for (int32_t i = 0; i < nv; i++) acc[i] = _mm256_fmadd_ps(p, _mm256_loadu_ps(vj + 8 * i), acc[i]);
    }
    for (int32_t i = 0; i < nv; i++) _mm256_storeu_ps(out + 8 * i, acc[i]);
}
