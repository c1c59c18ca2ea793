/* attn_avx2.c - the attention kernel (kernels/attn.h) with AVX2 + FMA:
 * 8-wide q.k dots reduced 8 keys at a time, a vectorised exp, and 8-wide
 * accumulation of the weighted values (normalised once at the end), the
 * head vector kept in registers for head sizes up to 256. */
#include <immintrin.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "engine/kernels/attn.h"

static inline float hmax256(__m256 x) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

static inline float hsum256(__m256 x) {
    __m128 lo = _mm256_castps256_ps128(x), hi = _mm256_extractf128_ps(x, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

/* The 8 lane sums of a[0..7], in order (a transpose-and-add). */
static inline __m256 hsum8x8(const __m256 a[8]) {
    const __m256 h0 = _mm256_hadd_ps(_mm256_hadd_ps(a[0], a[1]), _mm256_hadd_ps(a[2], a[3]));
    const __m256 h1 = _mm256_hadd_ps(_mm256_hadd_ps(a[4], a[5]), _mm256_hadd_ps(a[6], a[7]));
    /* h0 = [s0l s1l s2l s3l | s0h s1h s2h s3h], h1 likewise for 4..7 */
    return _mm256_add_ps(_mm256_permute2f128_ps(h0, h1, 0x20), _mm256_permute2f128_ps(h0, h1, 0x31));
}

/* e^x for 8 lanes, x <= 0 (scores minus their maximum): Cody-Waite range
 * reduction x = n ln2 + r, |r| <= ln2/2, and a degree-6 polynomial for
 * e^r (error within 2 ulp of expf); lanes below -87 give 0, as expf's
 * result there is at most a subnormal that cannot move the softmax. */
static inline __m256 exp_neg8(__m256 x) {
    const __m256 lo = _mm256_set1_ps(-87.0f);
    const __m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
    x = _mm256_max_ps(x, lo);
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_andnot_ps(under, _mm256_mul_ps(p, _mm256_castsi256_ps(e)));
}

/* Keys per chunk: a chunk's K (or V) rows must stay in L1 while every head
 * of the group runs over them. L1 has 64 sets of 8 ways (64-byte lines),
 * and rows a power-of-two stride apart start in only 64 / gcd(stride in
 * lines, 64) set positions, so far fewer rows fit than its size suggests:
 * 64 keys with TinyLlama's 1 KB stride needed 16 lines per set and
 * thrashed (attention took 30 % longer than with 24). A chunk holds up to 6
 * rows per set position (two ways left for q, scores and out), a multiple
 * of 8 (the score kernel's key group, so results do not depend on the
 * chunk), from 8 to 64. */
static inline int32_t attn_chunk(size_t stride_bytes) {
    if (stride_bytes % 64 != 0) return 64; /* rows spread over all sets */
    size_t a = (stride_bytes / 64) % 64, b = 64;
    if (a == 0) a = 64;
    while (b != 0) { /* gcd(a, 64) */
        const size_t r = a % b;
        a = b;
        b = r;
    }
    const int32_t keys = (int32_t)(6 * (64 / a)) / 8 * 8;
    return keys < 8 ? 8 : keys > 64 ? 64 : keys;
}

/* 8 values of a K or V row from element e: floats, or half floats widened
 * with F16C (`half` is a constant after inlining). */
static inline __attribute__((always_inline)) __m256 load8(bool half, const void *row, size_t e) {
    return half ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)((const uint16_t *)row + e)))
                : _mm256_loadu_ps((const float *)row + e);
}

/* Scores of one (pre-scaled) query head against keys [j0, j1) of a chunk,
 * 8 keys at a time: 8 independent FMA chains (one per key, so the FMA
 * latency is hidden) and one transpose-add instead of 8 horizontal sums. */
static inline __attribute__((always_inline)) void chunk_scores(bool half, const __m256 *qv, int32_t nv, const void *k,
                                                               size_t stride, int32_t j0, int32_t j1, float *scores) {
    int32_t j = j0;
    for (; j + 8 <= j1; j += 8) {
        const size_t kj = (size_t)j * stride;
        __m256 a[8];
        for (int u = 0; u < 8; u++) a[u] = _mm256_mul_ps(qv[0], load8(half, k, kj + (size_t)u * stride));
        for (int32_t i = 1; i < nv; i++)
            for (int u = 0; u < 8; u++)
                a[u] = _mm256_fmadd_ps(qv[i], load8(half, k, kj + (size_t)u * stride + 8 * (size_t)i), a[u]);
        _mm256_storeu_ps(scores + j, hsum8x8(a));
    }
    for (; j < j1; j++) {
        const size_t kj = (size_t)j * stride;
        __m256 s = _mm256_mul_ps(qv[0], load8(half, k, kj));
        for (int32_t i = 1; i < nv; i++) s = _mm256_fmadd_ps(qv[i], load8(half, k, kj + 8 * (size_t)i), s);
        scores[j] = hsum256(s);
    }
}

/* o[0..8W) (+)= sum over keys [j0, j1) of p_j * v_j[0..8W), W = 1, 2, 4 or 8
 * (a constant after inlining, so the W accumulators live in registers;
 * with a run-time width they would round-trip through memory every key).
 * `v` points at the slice's first element of key 0 (element offset e0). */
static inline __attribute__((always_inline)) void pv_slice(int W, bool half, const void *v, size_t e0, size_t stride,
                                                           const float *p, int32_t j0, int32_t j1, bool first,
                                                           float *o) {
    __m256 acc[8];
    for (int u = 0; u < W; u++) acc[u] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(o + 8 * u);
    for (int32_t j = j0; j < j1; j++) {
        const size_t vj = e0 + (size_t)j * stride;
        const __m256 pj = _mm256_set1_ps(p[j]);
        for (int u = 0; u < W; u++) acc[u] = _mm256_fmadd_ps(pj, load8(half, v, vj + 8 * (size_t)u), acc[u]);
    }
    for (int u = 0; u < W; u++) _mm256_storeu_ps(o + 8 * u, acc[u]);
}

/* Replaces scores[0..n) by their softmax (normalised before the value pass,
 * so it needs no per-head factor and takes any number of heads). */
static inline void softmax(float *scores, int32_t n) {
    __m256 vmax = _mm256_set1_ps(-INFINITY);
    int32_t j = 0;
    for (; j + 8 <= n; j += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(scores + j));
    float max = hmax256(vmax);
    for (; j < n; j++)
        if (scores[j] > max) max = scores[j];
    const __m256 vm = _mm256_set1_ps(max);
    __m256 vsum = _mm256_setzero_ps();
    for (j = 0; j + 8 <= n; j += 8) {
        const __m256 e = exp_neg8(_mm256_sub_ps(_mm256_loadu_ps(scores + j), vm));
        _mm256_storeu_ps(scores + j, e);
        vsum = _mm256_add_ps(vsum, e);
    }
    double sum = hsum256(vsum);
    for (; j < n; j++) {
        scores[j] = expf(scores[j] - max);
        sum += scores[j];
    }
    const float inv = (float)(1.0 / sum);
    const __m256 vi = _mm256_set1_ps(inv);
    for (j = 0; j + 8 <= n; j += 8) _mm256_storeu_ps(scores + j, _mm256_mul_ps(_mm256_loadu_ps(scores + j), vi));
    for (; j < n; j++) scores[j] *= inv;
}

/* The kernel over F32 or F16 rows (see attn.h). The three passes (scores,
 * softmax, weighted values) run chunk by chunk over the keys with every
 * head of the group inside, so K and V rows come from memory once per
 * group. hd is a multiple of 8, at most 256. */
static inline __attribute__((always_inline)) void attn_body(bool half, const float *q, int32_t n_q, const void *k,
                                                            const void *v, size_t stride, int32_t n_keys, int32_t hd,
                                                            float scale, float *scores, float *out) {
    /* (one head reads each row once: no reuse to keep, no chunk to size) */
    const int32_t nv = hd / 8, chunk = n_q > 1 ? attn_chunk(stride * (half ? 2 : 4)) : 64;
    __m256 qv[32];
    for (int32_t c0 = 0; c0 < n_keys; c0 += chunk) {
        const int32_t c1 = c0 + chunk < n_keys ? c0 + chunk : n_keys;
        for (int32_t h = 0; h < n_q; h++) {
            const float *qh = q + (size_t)h * hd;
            for (int32_t i = 0; i < nv; i++) qv[i] = _mm256_mul_ps(_mm256_loadu_ps(qh + 8 * i), _mm256_set1_ps(scale));
            chunk_scores(half, qv, nv, k, stride, c0, c1, scores + (size_t)h * n_keys);
        }
    }
    for (int32_t h = 0; h < n_q; h++) softmax(scores + (size_t)h * n_keys, n_keys);
    for (int32_t c0 = 0; c0 < n_keys; c0 += chunk) {
        const int32_t c1 = c0 + chunk < n_keys ? c0 + chunk : n_keys;
        const bool first = c0 == 0;
        for (int32_t h = 0; h < n_q; h++) {
            float *oh = out + (size_t)h * hd;
            const float *sh = scores + (size_t)h * n_keys;
            int32_t i = 0;
            for (; i + 8 <= nv; i += 8) pv_slice(8, half, v, 8 * (size_t)i, stride, sh, c0, c1, first, oh + 8 * i);
            if (i + 4 <= nv) {
                pv_slice(4, half, v, 8 * (size_t)i, stride, sh, c0, c1, first, oh + 8 * i);
                i += 4;
            }
            if (i + 2 <= nv) {
                pv_slice(2, half, v, 8 * (size_t)i, stride, sh, c0, c1, first, oh + 8 * i);
                i += 2;
            }
            if (i < nv) pv_slice(1, half, v, 8 * (size_t)i, stride, sh, c0, c1, first, oh + 8 * i);
        }
    }
}

/* See attn.h. */
void hearth_attn_avx2(const float *q, int32_t n_q, const float *k, const float *v, size_t stride, int32_t n_keys,
                      int32_t hd, float scale, float *scores, float *out) {
    if (hd > 256 || (hd & 7) != 0) /* unusual head sizes: the reference */
        hearth_attn_ref(q, n_q, k, v, stride, n_keys, hd, scale, scores, out);
    else
        attn_body(false, q, n_q, k, v, stride, n_keys, hd, scale, scores, out);
}

/* See attn.h: the same passes over half-float rows. */
void hearth_attn_f16_avx2(const float *q, int32_t n_q, const uint16_t *k, const uint16_t *v, size_t stride,
                          int32_t n_keys, int32_t hd, float scale, float *scores, float *out) {
    if (hd > 256 || (hd & 7) != 0)
        hearth_attn_f16_ref(q, n_q, k, v, stride, n_keys, hd, scale, scores, out);
    else
        attn_body(true, q, n_q, k, v, stride, n_keys, hd, scale, scores, out);
}

/* See attn.h. */
void hearth_f16_row_avx2(const float *x, uint16_t *y, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) y[i] = (uint16_t)_mm_extract_epi16(_mm_cvtps_ph(_mm_set_ss(x[i]), _MM_FROUND_TO_NEAREST_INT), 0);
}
