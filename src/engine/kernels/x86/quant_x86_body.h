/* quant_x86_body.h - the AVX2 kernels, included by quant_avx2.c (built with
 * -mavx2 -mfma -mf16c) and by quant_avx512.c (built with AVX-512 flags), so
 * that the AVX-512 level runs the same, tested code with VNNI in place of the
 * two-step byte multiply-add.
 *
 * The including file defines HX_DOT_U8S8(acc, u, s): acc (8 x int32) plus,
 * in each lane, the sum of the 4 products u*s of unsigned and signed bytes.
 * Without VNNI that goes through 16-bit pair sums, which saturate above
 * 32767; every caller below keeps |u*s pair| < 32768 given the activation
 * precondition (see below), so both forms give the same exact integers.
 *
 * Precondition of every quantized dot: activation quants are in -127..127
 * (the Q8_0/Q8_1/Q8_K quantizers never produce -128), and Q8_K bsums are the
 * sums of their 16 quants. Signed weights go through the sign trick
 * (|x| times y with x's sign), which needs y != -128.
 *
 * Float work: 32-value block types accumulate d * isum in vector lanes
 * (differing from the reference only by summation order); super-block
 * types compute each super-block's exact integer sums and then apply the
 * scales with the reference's float operations in the reference's order,
 * one statement per product so no compiler fuses them into an FMA.
 */
#ifndef HEARTH_QUANT_X86_BODY_H
#define HEARTH_QUANT_X86_BODY_H

#include <immintrin.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "engine/kernels/dispatch.h"
#include "engine/kernels/prefetch.h"
#include "engine/kernels/x86/blocks_x86.h"
#include "engine/kernels/ref/quant_ref.h"
#include "engine/quant_blocks.h"

#ifndef HX_DOT_U8S8
#error "define HX_DOT_U8S8 before including quant_x86_body.h"
#endif

/* ---- helpers ------------------------------------------------------------ */

/* Exact fp16 -> fp32 (F16C). */
static inline float hx_h2f(uint16_t h) {
    return _cvtsh_ss(h);
}

/* fp32 -> fp16 rounding to nearest even, as hearth_fp32_to_fp16. */
static inline uint16_t hx_f2h(float f) {
    return (uint16_t)_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT);
}

/* Sum of the 8 lanes. */
static inline float hx_hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Sum of the 8 int32 lanes (wrapping, so exact whenever the total fits). */
static inline int hx_hsum_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

/* Maximum of the 8 lanes. */
static inline float hx_hmax_ps(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

/* acc + dot of signed bytes x and y in 4-byte groups (y != -128). */
static inline __m256i hx_dot_s8s8(__m256i acc, __m256i x, __m256i y) {
    return HX_DOT_U8S8(acc, _mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

/* The products d_x * d_y of 4 consecutive blocks (fp16 scales at xd and yd,
 * blocks xs and ys bytes apart), as 4 floats: the halves are gathered in
 * general registers so that one conversion serves 4 blocks. */
static inline __m128 hx_scales4(const uint8_t *xd, size_t xs, const uint8_t *yd, size_t ys) {
    uint16_t a[4], b[4];
    memcpy(&a[0], xd, 2);
    memcpy(&a[1], xd + xs, 2);
    memcpy(&a[2], xd + 2 * xs, 2);
    memcpy(&a[3], xd + 3 * xs, 2);
    memcpy(&b[0], yd, 2);
    memcpy(&b[1], yd + ys, 2);
    memcpy(&b[2], yd + 2 * ys, 2);
    memcpy(&b[3], yd + 3 * ys, 2);
    const uint64_t ax = (uint64_t)a[0] | (uint64_t)a[1] << 16 | (uint64_t)a[2] << 32 | (uint64_t)a[3] << 48;
    const uint64_t ay = (uint64_t)b[0] | (uint64_t)b[1] << 16 | (uint64_t)b[2] << 32 | (uint64_t)b[3] << 48;
    const __m128 fx = _mm_cvtph_ps(_mm_cvtsi64_si128((long long)ax));
    const __m128 fy = _mm_cvtph_ps(_mm_cvtsi64_si128((long long)ay));
    return _mm_mul_ps(fx, fy);
}

/* Lane k of a 4-float vector broadcast to 8 lanes. */
static inline __m256 hx_lane(__m128 v, int k) {
    return _mm256_permutevar8x32_ps(_mm256_castps128_ps256(v), _mm256_set1_epi32(k));
}

/* int16 lanes: a in the low 128 bits, b in the high 128 bits. */
static inline __m256i hx_pair16(int a, int b) {
    return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16((short)a)), _mm_set1_epi16((short)b), 1);
}

/* ---- float types -------------------------------------------------------- */

/* 8 bfloat16 widened to floats (exact: a 16-bit shift). */
static inline __m256 hx_load_bf16(const uint16_t *p) {
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}

/* Float weight kinds: one row function serves the vec_dots and the tiles
 * (gemm_x86_body.h), so both compute every dot with the same statements. */
enum { HX_F_F32, HX_F_F16, HX_F_BF16 };

/* 8 values of kind k at element i of row p, as floats (exact). */
static inline __attribute__((always_inline)) __m256 hx_fload(const void *p, int64_t i, int k) {
    if (k == HX_F_F32) return _mm256_loadu_ps((const float *)p + i);
    if (k == HX_F_F16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)p + i)));
    return hx_load_bf16((const uint16_t *)p + i);
}

/* Value i of row p of kind k as a float (exact). */
static inline __attribute__((always_inline)) float hx_fscalar(const void *p, int64_t i, int k) {
    if (k == HX_F_F32) return ((const float *)p)[i];
    if (k == HX_F_F16) return hx_h2f(((const uint16_t *)p)[i]);
    return hearth_bf16_to_fp32(((const uint16_t *)p)[i]);
}

/* out[t] = dot(x, y[t]) for t < nt (1..3, compile-time) over n values of
 * kind k. Order per dot: element i goes to accumulator (i / 8) % 4 while 32
 * remain, then whole 8s to accumulator 0, each lane an FMA chain; the sum
 * is hsum((a0 + a1) + (a2 + a3)), then the last n % 8 values are added with
 * fmaf one by one. The row is loaded once for all nt tokens. */
static inline __attribute__((always_inline)) void hx_fdot_rows(int64_t n, const void *x, const void *const y[3],
                                                               int nt, int k, float out[3]) {
    __m256 a[3][4];
    for (int t = 0; t < 3; t++)
        for (int j = 0; j < 4; j++) a[t][j] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        for (int j = 0; j < 4; j++) {
            const __m256 w = hx_fload(x, i + 8 * j, k);
            for (int t = 0; t < nt; t++) a[t][j] = _mm256_fmadd_ps(w, hx_fload(y[t], i + 8 * j, k), a[t][j]);
        }
    }
    for (; i + 8 <= n; i += 8) {
        const __m256 w = hx_fload(x, i, k);
        for (int t = 0; t < nt; t++) a[t][0] = _mm256_fmadd_ps(w, hx_fload(y[t], i, k), a[t][0]);
    }
    for (int t = 0; t < nt; t++)
        out[t] = hx_hsum_ps(_mm256_add_ps(_mm256_add_ps(a[t][0], a[t][1]), _mm256_add_ps(a[t][2], a[t][3])));
    for (; i < n; i++) {
        const float w = hx_fscalar(x, i, k);
        for (int t = 0; t < nt; t++) out[t] = fmaf(w, hx_fscalar(y[t], i, k), out[t]);
    }
}

/* F32, F16 (F16C widening) and BF16 (shift widening) dots, FMA in fp32. */
#define HX_FDOT(name, K)                                                         \
    static void name(int64_t n, float *s, const void *vx, const void *vy) {      \
        const void *const y[3] = {vy, vy, vy};                                   \
        float o[3];                                                              \
        hx_fdot_rows(n, vx, y, 1, K, o);                                         \
        *s = o[0];                                                               \
    }
HX_FDOT(hx_vec_dot_f32, HX_F_F32)
HX_FDOT(hx_vec_dot_f16, HX_F_F16)
HX_FDOT(hx_vec_dot_bf16, HX_F_BF16)

/* fp32 -> fp16 rows with F16C (round to nearest even, like the reference). */
static void hx_from_float_f16(const float *x, void *vy, int64_t n) {
    uint16_t *y = vy;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) y[i] = hearth_fp32_to_fp16(x[i]);
}

/* ---- activation quantizers ---------------------------------------------- */

/* Rounds 32 floats times id to nearest even (the MXCSR default, as rintf)
 * and packs them to bytes in order; also returns their sum in *sum. */
static inline __m256i hx_round_pack32(const float *x, float id, int *sum) {
    const __m256 vid = _mm256_set1_ps(id);
    const __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x), vid));
    const __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8), vid));
    const __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 16), vid));
    const __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 24), vid));
    if (sum) *sum = hx_hsum_epi32(_mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3)));
    /* the packs interleave 128-bit lanes; the permute restores the order */
    const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
    return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* Largest |x| over 32 floats. */
static inline float hx_amax32(const float *x) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256 m0 = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x)), _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 8)));
    const __m256 m1 =
        _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + 16)), _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 24)));
    return hx_hmax_ps(_mm256_max_ps(m0, m1));
}

/* Q8_0 activation quantizer, byte for byte hearth_ref_quantize_act_q8_0. */
static void hx_quantize_q8_0(const float *x, void *vy, int64_t n) {
    block_q8_0 *y = vy;
    for (int64_t i = 0; i < n / HEARTH_QK8_0; i++, x += HEARTH_QK8_0) {
        const float amax = hx_amax32(x);
        const float d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        y[i].d = hx_f2h(d);
        _mm256_storeu_si256((__m256i *)y[i].qs, hx_round_pack32(x, id, NULL));
    }
}

/* Q8_1 activation quantizer, byte for byte hearth_ref_quantize_act_q8_1. */
static void hx_quantize_q8_1(const float *x, void *vy, int64_t n) {
    block_q8_1 *y = vy;
    for (int64_t i = 0; i < n / HEARTH_QK8_1; i++, x += HEARTH_QK8_1) {
        const float amax = hx_amax32(x);
        const float d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        int sum;
        y[i].d = hx_f2h(d);
        _mm256_storeu_si256((__m256i *)y[i].qs, hx_round_pack32(x, id, &sum));
        y[i].s = hx_f2h(d * (float)sum);
    }
}

/* Q8_K quantizer, byte for byte hearth_ref_from_float_q8_K: the first value
 * of largest magnitude maps to -127. */
static void hx_quantize_q8_K(const float *x, void *vy, int64_t n) {
    block_q8_K *y = vy;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t i = 0; i < n / HEARTH_QK_K; i++, x += HEARTH_QK_K) {
        __m256 m = _mm256_setzero_ps();
        for (int j = 0; j < HEARTH_QK_K; j += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)));
        const float amax = hx_hmax_ps(m);
        if (amax == 0.0f) {
            y[i].d = 0.0f;
            memset(y[i].qs, 0, sizeof y[i].qs);
            memset(y[i].bsums, 0, sizeof y[i].bsums);
            continue;
        }
        float max = amax;
        const __m256 va = _mm256_set1_ps(amax);
        for (int j = 0; j < HEARTH_QK_K; j += 8) {
            const __m256 v = _mm256_loadu_ps(x + j);
            const int mask = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_andnot_ps(sign, v), va, _CMP_EQ_OQ));
            if (mask) {
                max = x[j + __builtin_ctz((unsigned)mask)];
                break;
            }
        }
        const float iscale = -127.0f / max;
        const __m256 vs = _mm256_set1_ps(iscale);
        const __m256i cap = _mm256_set1_epi32(127);
        for (int j = 0; j < HEARTH_QK_K; j += 32) {
            __m256i q[4];
            for (int k = 0; k < 4; k++)
                q[k] = _mm256_min_epi32(cap, _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + j + 8 * k), vs)));
            const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
            _mm256_storeu_si256((__m256i *)(y[i].qs + j),
                                _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
        }
        for (int g = 0; g < 16; g++) {
            int sum = 0;
            for (int j = 0; j < 16; j++) sum += y[i].qs[16 * g + j];
            y[i].bsums[g] = (int16_t)sum;
        }
        y[i].d = 1 / iscale;
    }
}

/* ---- 32-value block types ----------------------------------------------- */

/* The integer dot lanes of one block pair, per symmetric 32-value type. */
static inline __m256i hx_blk_q4_0(const block_q4_0 *x, const block_q8_0 *y) {
    return hx_dot_s8s8(_mm256_setzero_si256(), hx_unpack_sym((const uint8_t *)x, HX_K_Q4_0),
                       _mm256_loadu_si256((const __m256i *)y->qs));
}

static inline __m256i hx_blk_q5_0(const block_q5_0 *x, const block_q8_0 *y) {
    return hx_dot_s8s8(_mm256_setzero_si256(), hx_unpack_sym((const uint8_t *)x, HX_K_Q5_0),
                       _mm256_loadu_si256((const __m256i *)y->qs));
}

static inline __m256i hx_blk_q8_0(const block_q8_0 *x, const block_q8_0 *y) {
    return hx_dot_s8s8(_mm256_setzero_si256(), _mm256_loadu_si256((const __m256i *)x->qs),
                       _mm256_loadu_si256((const __m256i *)y->qs));
}

static inline __m256i hx_blk_iq4_nl(const block_iq4_nl *x, const block_q8_0 *y) {
    return hx_dot_s8s8(_mm256_setzero_si256(), hx_unpack_sym((const uint8_t *)x, HX_K_IQ4_NL),
                       _mm256_loadu_si256((const __m256i *)y->qs));
}

/* The 4 lane sums of a, b, c, d (exact integer sums). */
static inline __m128i hx_hsum4_epi32(__m256i a, __m256i b, __m256i c, __m256i d) {
    const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(a, b), _mm256_hadd_epi32(c, d));
    return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

/* Defines a dot of a symmetric 32-value type with Q8_0. Float order, shared
 * with the tile kernels of gemm_x86_body.h so that batching never changes a
 * result: block b's exact integer dot isum is added to accumulator b % 4 as
 * fma(d_x * d_y, (float)isum, acc), and the result is (acc0 + acc1) +
 * (acc2 + acc3). 4 blocks per step share one fp16 conversion and one fma. */
#define HX_DOT_SYM32(name, XT, blk)                                                                        \
    static void name(int64_t n, float *s, const void *vx, const void *vy) {                                \
        const XT *x = vx;                                                                                  \
        const block_q8_0 *y = vy;                                                                          \
        const int64_t nb = n / 32;                                                                         \
        __m128 acc = _mm_setzero_ps();                                                                     \
        int64_t i = 0;                                                                                     \
        for (; i + 4 <= nb; i += 4) {                                                                      \
            const __m128 d4 =                                                                              \
                hx_scales4((const uint8_t *)&x[i].d, sizeof *x, (const uint8_t *)&y[i].d, sizeof *y);      \
            const __m128i is = hx_hsum4_epi32(blk(&x[i], &y[i]), blk(&x[i + 1], &y[i + 1]),                \
                                              blk(&x[i + 2], &y[i + 2]), blk(&x[i + 3], &y[i + 3]));       \
            acc = _mm_fmadd_ps(d4, _mm_cvtepi32_ps(is), acc);                                              \
        }                                                                                                  \
        float a[4];                                                                                        \
        _mm_storeu_ps(a, acc);                                                                             \
        for (; i < nb; i++) {                                                                              \
            const __m128 d = _mm_set_ss(hx_h2f(x[i].d) * hx_h2f(y[i].d));                                  \
            const __m128 v = _mm_set_ss((float)hx_hsum_epi32(blk(&x[i], &y[i])));                         \
            a[i & 3] = _mm_cvtss_f32(_mm_fmadd_ss(d, v, _mm_set_ss(a[i & 3])));                            \
        }                                                                                                  \
        *s = (a[0] + a[1]) + (a[2] + a[3]);                                                                \
    }

HX_DOT_SYM32(hx_vec_dot_q4_0_q8_0, block_q4_0, hx_blk_q4_0)
HX_DOT_SYM32(hx_vec_dot_q5_0_q8_0, block_q5_0, hx_blk_q5_0)
HX_DOT_SYM32(hx_vec_dot_q8_0_q8_0, block_q8_0, hx_blk_q8_0)
HX_DOT_SYM32(hx_vec_dot_iq4_nl_q8_0, block_iq4_nl, hx_blk_iq4_nl)

/* The integer dot lanes of one Q4_1 / Q5_1 block with a Q8_1 block
 * (unsigned quants at most 31, so pair sums are at most 2 * 31 * 127). */
static inline __m256i hx_blk_q4_1(const block_q4_1 *x, const block_q8_1 *y) {
    return HX_DOT_U8S8(_mm256_setzero_si256(), hx_nibbles(x->qs), _mm256_loadu_si256((const __m256i *)y->qs));
}

static inline __m256i hx_blk_q5_1(const block_q5_1 *x, const block_q8_1 *y) {
    const __m256i q = _mm256_or_si256(hx_nibbles(x->qs), _mm256_and_si256(hx_bits_to_bytes(x->qh), _mm256_set1_epi8(0x10)));
    return HX_DOT_U8S8(_mm256_setzero_si256(), q, _mm256_loadu_si256((const __m256i *)y->qs));
}

/* Defines a dot of Q4_1 or Q5_1 with Q8_1. Float order, shared with the
 * packed tiles (gemm_packed_extra_avx2.c) so that batching never changes a
 * result: block b's exact integer dot isum goes to accumulator b % 4 as
 * fma(d_x * d_y, (float)isum, acc), its min term m_x * s_y to a second
 * accumulator b % 4 as a plain add (the product of two fp16 values is exact
 * in fp32, so fusing it or not gives the same float), and the result is
 * ((acc0 + acc1) + (acc2 + acc3)) + ((m0 + m1) + (m2 + m3)). */
#define HX_DOT_ASYM32(name, XT, blk)                                                                       \
    static void name(int64_t n, float *s, const void *vx, const void *vy) {                                \
        const XT *x = vx;                                                                                  \
        const block_q8_1 *y = vy;                                                                          \
        const int64_t nb = n / HEARTH_QK8_1;                                                               \
        __m128 acc = _mm_setzero_ps(), macc = _mm_setzero_ps();                                            \
        int64_t i = 0;                                                                                     \
        for (; i + 4 <= nb; i += 4) {                                                                      \
            const __m128 d4 =                                                                              \
                hx_scales4((const uint8_t *)&x[i].d, sizeof *x, (const uint8_t *)&y[i].d, sizeof *y);      \
            const __m128 m4 =                                                                              \
                hx_scales4((const uint8_t *)&x[i].m, sizeof *x, (const uint8_t *)&y[i].s, sizeof *y);      \
            const __m128i is = hx_hsum4_epi32(blk(&x[i], &y[i]), blk(&x[i + 1], &y[i + 1]),                \
                                              blk(&x[i + 2], &y[i + 2]), blk(&x[i + 3], &y[i + 3]));       \
            acc = _mm_fmadd_ps(d4, _mm_cvtepi32_ps(is), acc);                                              \
            macc = _mm_add_ps(macc, m4);                                                                   \
        }                                                                                                  \
        float a[4], m[4];                                                                                  \
        _mm_storeu_ps(a, acc);                                                                             \
        _mm_storeu_ps(m, macc);                                                                            \
        for (; i < nb; i++) {                                                                              \
            const __m128 d = _mm_set_ss(hx_h2f(x[i].d) * hx_h2f(y[i].d));                                  \
            const __m128 v = _mm_set_ss((float)hx_hsum_epi32(blk(&x[i], &y[i])));                         \
            a[i & 3] = _mm_cvtss_f32(_mm_fmadd_ss(d, v, _mm_set_ss(a[i & 3])));                            \
            const float mt = hx_h2f(x[i].m) * hx_h2f(y[i].s);                                              \
            m[i & 3] += mt;                                                                                \
        }                                                                                                  \
        *s = ((a[0] + a[1]) + (a[2] + a[3])) + ((m[0] + m[1]) + (m[2] + m[3]));                            \
    }

HX_DOT_ASYM32(hx_vec_dot_q4_1_q8_1, block_q4_1, hx_blk_q4_1)
HX_DOT_ASYM32(hx_vec_dot_q5_1_q8_1, block_q5_1, hx_blk_q5_1)

/* ---- super-block types --------------------------------------------------
 * Each computes the reference's integer isum (and msum) of a super-block
 * exactly: unsigned quants (at most 63) times activation bytes in 16-bit
 * pair sums (|pair| <= 16002), times the integer sub-block scale into
 * 32-bit lanes. */

/* Sum over the 16 sub-blocks of scale[j] * bsums[j] (int16 x int16). */
static inline int hx_scaled_bsums(const int16_t *scale16, const int16_t *bsums) {
    const __m256i sc = _mm256_loadu_si256((const __m256i *)scale16);
    const __m256i bs = _mm256_loadu_si256((const __m256i *)bsums);
    return hx_hsum_epi32(_mm256_madd_epi16(sc, bs));
}

/* Q2_K . Q8_K */
static void hx_vec_dot_q2_K_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q2_K *x = vx;
    const block_q8_K *y = vy;
    const __m256i m3 = _mm256_set1_epi8(3);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / HEARTH_QK_K; i++) {
        int16_t mins[16];
        for (int j = 0; j < 16; j++) mins[j] = (int16_t)(x[i].scales[j] >> 4);
        __m256i acc = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i qv = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * h));
            for (int k = 0; k < 4; k++) {
                const __m256i u = _mm256_and_si256(_mm256_srli_epi16(qv, 2 * k), m3);
                const __m256i yv = _mm256_loadu_si256((const __m256i *)(y[i].qs + 128 * h + 32 * k));
                const int j = 8 * h + 2 * k;
                const __m256i sc = hx_pair16(x[i].scales[j] & 0x0F, x[i].scales[j + 1] & 0x0F);
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, yv), sc));
            }
        }
        const int isum = hx_hsum_epi32(acc);
        const int msum = hx_scaled_bsums(mins, y[i].bsums);
        const float dall = y[i].d * hx_h2f(x[i].d);
        const float dmin = y[i].d * hx_h2f(x[i].dmin);
        const float t = dall * (float)isum;
        const float tm = dmin * (float)msum;
        sum += t - tm;
    }
    *s = sum;
}

/* Q3_K . Q8_K: unsigned q = low 2 bits + 4 * hmask bit; isum subtracts
 * 4 * scale * bsum per sub-block. */
static void hx_vec_dot_q3_K_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q3_K *x = vx;
    const block_q8_K *y = vy;
    const __m256i m3 = _mm256_set1_epi8(3), m1 = _mm256_set1_epi8(1);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / HEARTH_QK_K; i++) {
        const uint8_t *sp = x[i].scales;
        int16_t sc[16];
        for (int j = 0; j < 16; j++) {
            const int lo = j < 8 ? (sp[j] & 0x0F) : (sp[j - 8] >> 4);
            const int hi = (sp[8 + j % 4] >> (2 * (j / 4))) & 3;
            sc[j] = (int16_t)((lo | hi << 4) - 32);
        }
        const __m256i hm = _mm256_loadu_si256((const __m256i *)x[i].hmask);
        __m256i acc = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i qv = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * h));
            for (int k = 0; k < 4; k++) {
                const __m256i low = _mm256_and_si256(_mm256_srli_epi16(qv, 2 * k), m3);
                const __m256i hb = _mm256_and_si256(_mm256_srli_epi16(hm, 4 * h + k), m1);
                const __m256i u = _mm256_or_si256(low, _mm256_slli_epi16(hb, 2));
                const __m256i yv = _mm256_loadu_si256((const __m256i *)(y[i].qs + 128 * h + 32 * k));
                const int j = 8 * h + 2 * k;
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, yv), hx_pair16(sc[j], sc[j + 1])));
            }
        }
        const int isum = hx_hsum_epi32(acc) - 4 * hx_scaled_bsums(sc, y[i].bsums);
        const float d = hx_h2f(x[i].d) * y[i].d;
        const float t = d * (float)isum; /* its own statement: never fused (the packed tile's order) */
        sum += t;
    }
    *s = sum;
}

/* Small fixed loops below are unrolled so that shift counts and shuffle
 * masks become constants and the vectors stay in registers. */
#define HX_K_UNROLL _Pragma("GCC unroll 8")

/* The 8 scales and the 8 mins of a Q4_K/Q5_K super-block as two 64-bit
 * words, byte j = sub-block j's value: the 12 packed bytes are 3 words and
 * each field is a masked shift of them, all 4 sub-blocks at once. */
static inline void hx_k4_words(const uint8_t *q, uint64_t *sc, uint64_t *mn) {
    uint64_t u01;
    uint32_t u2;
    memcpy(&u01, q, 8); /* x86 is little-endian, as the format */
    memcpy(&u2, q + 8, 4);
    const uint32_t u0 = (uint32_t)u01, u1 = (uint32_t)(u01 >> 32);
    const uint32_t lo6 = 0x3F3F3F3Fu, lo4 = 0x0F0F0F0Fu, lo2 = 0x03030303u;
    const uint32_t sc_hi = (u2 & lo4) | ((u0 >> 6) & lo2) << 4;
    const uint32_t mn_hi = ((u2 >> 4) & lo4) | ((u1 >> 6) & lo2) << 4;
    *sc = (uint64_t)(u0 & lo6) | (uint64_t)sc_hi << 32;
    *mn = (uint64_t)(u1 & lo6) | (uint64_t)mn_hi << 32;
}

/* The 8 scales and mins of a Q4_K/Q5_K super-block (for the tile kernels). */
static inline void hx_k4_scales(const uint8_t *q, int sc[8], int m[8]) {
    uint64_t s, mn;
    hx_k4_words(q, &s, &mn);
    for (int j = 0; j < 8; j++) {
        sc[j] = (int)(s >> 8 * j & 0xFF);
        m[j] = (int)(mn >> 8 * j & 0xFF);
    }
}

/* Shuffle mask giving int16 lanes = zero-extended byte j of each 64-bit
 * element (the low byte, then a zero byte from the 0x80 index). */
static inline __m256i hx_byte_to_16(int j) {
    return _mm256_set1_epi16((short)(j | -32768));
}

/* Byte bit k of v moved to bit 4 (the other bits are garbage): shifts are
 * per 16-bit lane, but bit 4 of either byte only comes from its own byte
 * for these counts (left by <= 4, right by <= 3). */
static inline __m256i hx_bit_to_4(__m256i v, int k) {
    return k < 4 ? _mm256_slli_epi16(v, 4 - k) : k == 4 ? v : _mm256_srli_epi16(v, k - 4);
}

/* Q4_K (q5 == 0) or Q5_K (q5 == 1) super-block: integer lanes summing to
 * isum = sum_j sc[j] * dot(q_j, y_j), and lanes summing to msum = sum_j
 * m[j] * (bsums[2j] + bsums[2j+1]). q (at most 31) times activation bytes in
 * 16-bit pair sums (|pair| <= 7874); scales and mins are at most 63. */
static inline void hx_k45_block(const uint8_t *scales, const uint8_t *qs, const uint8_t *qh, const block_q8_K *y,
                                int q5, __m256i *isum, __m256i *msum) {
    uint64_t s, mn;
    hx_k4_words(scales, &s, &mn);
    const __m256i sv = _mm256_set1_epi64x((long long)s);
    /* m0 m0 m1 m1 m2 m2 m3 m3 | m4 m4 .. m7 m7 as int16, against the 16 bsums */
    const __m256i mmask = _mm256_setr_epi8(0, -128, 0, -128, 1, -128, 1, -128, 2, -128, 2, -128, 3, -128, 3, -128, 4, -128,
                                           4, -128, 5, -128, 5, -128, 6, -128, 6, -128, 7, -128, 7, -128);
    const __m256i mv = _mm256_shuffle_epi8(_mm256_set1_epi64x((long long)mn), mmask);
    *msum = _mm256_madd_epi16(mv, _mm256_loadu_si256((const __m256i *)y->bsums));
    const __m256i m4 = _mm256_set1_epi8(0x0F), b4 = _mm256_set1_epi8(0x10);
    const __m256i hv = q5 ? _mm256_loadu_si256((const __m256i *)qh) : _mm256_setzero_si256();
    __m256i acc0 = _mm256_setzero_si256(), acc1 = acc0;
    HX_K_UNROLL
    for (int c = 0; c < 4; c++) {
        const __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
        __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
        if (q5) {
            lo = _mm256_or_si256(lo, _mm256_and_si256(hx_bit_to_4(hv, 2 * c), b4));
            hi = _mm256_or_si256(hi, _mm256_and_si256(hx_bit_to_4(hv, 2 * c + 1), b4));
        }
        const __m256i y0 = _mm256_loadu_si256((const __m256i *)(y->qs + 64 * c));
        const __m256i y1 = _mm256_loadu_si256((const __m256i *)(y->qs + 64 * c + 32));
        const __m256i s0 = _mm256_shuffle_epi8(sv, hx_byte_to_16(2 * c));
        const __m256i s1 = _mm256_shuffle_epi8(sv, hx_byte_to_16(2 * c + 1));
        acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(_mm256_maddubs_epi16(lo, y0), s0));
        acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(_mm256_maddubs_epi16(hi, y1), s1));
    }
    *isum = _mm256_add_epi32(acc0, acc1);
}

/* Q4_K/Q5_K dot over nb super-blocks xs bytes apart (d, dmin first, scales
 * at offset 4), qs/qh at the given offsets. Two super-blocks per step share
 * one reduction, one fp16 conversion and the scale products, which are the
 * reference's: d = h2f(x.d) * y.d, dmin = h2f(x.dmin) * y.d, t = d * isum,
 * tm = dmin * msum, then sum += t - tm in super-block order. */
static inline float hx_k45_dot(int64_t nb, const uint8_t *x, size_t xs, size_t qs_off, size_t qh_off,
                               const block_q8_K *y, int q5) {
    float sum = 0.0f;
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        const uint8_t *x0 = x + (size_t)i * xs, *x1 = x0 + xs;
        hearth_prefetch_ahead(x0, 2 * xs);
        __m256i is0, ms0, is1, ms1;
        hx_k45_block(x0 + 4, x0 + qs_off, x0 + qh_off, &y[i], q5, &is0, &ms0);
        hx_k45_block(x1 + 4, x1 + qs_off, x1 + qh_off, &y[i + 1], q5, &is1, &ms1);
        const __m128 f = _mm_cvtepi32_ps(hx_hsum4_epi32(is0, ms0, is1, ms1));
        uint32_t h0, h1; /* (d, dmin) of each super-block */
        memcpy(&h0, x0, 4);
        memcpy(&h1, x1, 4);
        const __m128 dx = _mm_cvtph_ps(_mm_cvtsi64_si128((long long)((uint64_t)h0 | (uint64_t)h1 << 32)));
        const __m128 dy = _mm_setr_ps(y[i].d, y[i].d, y[i + 1].d, y[i + 1].d);
        const __m128 dd = _mm_mul_ps(dx, dy);  /* d0 dmin0 d1 dmin1 */
        const __m128 tt = _mm_mul_ps(dd, f);   /* t0 tm0 t1 tm1 */
        const __m128 df = _mm_sub_ps(tt, _mm_movehdup_ps(tt));
        sum += _mm_cvtss_f32(df);
        sum += _mm_cvtss_f32(_mm_movehl_ps(df, df));
    }
    for (; i < nb; i++) {
        const uint8_t *x0 = x + (size_t)i * xs;
        __m256i is, ms;
        hx_k45_block(x0 + 4, x0 + qs_off, x0 + qh_off, &y[i], q5, &is, &ms);
        uint16_t hd, hm;
        memcpy(&hd, x0, 2);
        memcpy(&hm, x0 + 2, 2);
        const int isum = hx_hsum_epi32(is), msum = hx_hsum_epi32(ms);
        const float d = hx_h2f(hd) * y[i].d;
        const float dmin = hx_h2f(hm) * y[i].d;
        const float t = d * (float)isum;
        const float tm = dmin * (float)msum;
        sum += t - tm;
    }
    return sum;
}

/* Q4_K . Q8_K */
static void hx_vec_dot_q4_K_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
    *s = hx_k45_dot(n / HEARTH_QK_K, vx, sizeof(block_q4_K), offsetof(block_q4_K, qs), 0, vy, 0);
}

/* Q5_K . Q8_K */
static void hx_vec_dot_q5_K_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
    *s = hx_k45_dot(n / HEARTH_QK_K, vx, sizeof(block_q5_K), offsetof(block_q5_K, qs), offsetof(block_q5_K, qh), vy, 1);
}

/* Q6_K super-block: integer lanes summing to isum = sum_j sc[j] *
 * (dot(q_j, y_j) - 32 * bsums[j]), q unsigned (0..63) against the quants in
 * 16-bit pair sums (|pair| <= 16002). A 32-byte register holds sub-block
 * 2k in its low half and 2k + 1 in its high half, so its scale vector is
 * one shuffle of the 16 scales widened to int16. */
static inline __m256i hx_q6k_block(const block_q6_K *x, const block_q8_K *y) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
    const __m256i w = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x->scales));
    const __m256i sc[2] = {_mm256_permute4x64_epi64(w, 0x44), _mm256_permute4x64_epi64(w, 0xEE)};
    /* -32 * sum_j sc[j] * bsums[j], folded into the lanes */
    __m256i acc = _mm256_slli_epi32(_mm256_madd_epi16(w, _mm256_loadu_si256((const __m256i *)y->bsums)), 5);
    acc = _mm256_sub_epi32(_mm256_setzero_si256(), acc);
    __m256i acc1 = _mm256_setzero_si256();
    HX_K_UNROLL
    for (int h = 0; h < 2; h++) {
        const __m256i l0 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h));
        const __m256i l1 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h + 32));
        const __m256i hv = _mm256_loadu_si256((const __m256i *)(x->qh + 32 * h));
        __m256i q[4];
        q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(hv, 4), m30));
        q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(hv, 2), m30));
        q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(hv, m30));
        q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                               _mm256_and_si256(_mm256_srli_epi16(hv, 2), m30));
        HX_K_UNROLL
        for (int k = 0; k < 4; k++) {
            const __m256i yv = _mm256_loadu_si256((const __m256i *)(y->qs + 128 * h + 32 * k));
            /* int16 lane 2k in the low half, 2k + 1 in the high half */
            const __m256i mask = _mm256_setr_epi8(4 * k, 4 * k + 1, 4 * k, 4 * k + 1, 4 * k, 4 * k + 1, 4 * k, 4 * k + 1,
                                                  4 * k, 4 * k + 1, 4 * k, 4 * k + 1, 4 * k, 4 * k + 1, 4 * k, 4 * k + 1,
                                                  4 * k + 2, 4 * k + 3, 4 * k + 2, 4 * k + 3, 4 * k + 2, 4 * k + 3, 4 * k + 2,
                                                  4 * k + 3, 4 * k + 2, 4 * k + 3, 4 * k + 2, 4 * k + 3, 4 * k + 2, 4 * k + 3,
                                                  4 * k + 2, 4 * k + 3);
            const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(q[k], yv), _mm256_shuffle_epi8(sc[h], mask));
            if (k & 1)
                acc1 = _mm256_add_epi32(acc1, p);
            else
                acc = _mm256_add_epi32(acc, p);
        }
    }
    return _mm256_add_epi32(acc, acc1);
}

/* Q6_K . Q8_K: two super-blocks per step share one reduction and one fp16
 * conversion; the float statements are the reference's and the tile's,
 * d = h2f(x.d) * y.d, t = d * isum, sum += t (separate statements, so that
 * no compiler fuses them), in super-block order. */
static void hx_vec_dot_q6_K_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q6_K *x = vx;
    const block_q8_K *y = vy;
    const int64_t nb = n / HEARTH_QK_K;
    float sum = 0.0f;
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        hearth_prefetch_ahead(&x[i], 2 * sizeof *x);
        const __m256i a0 = hx_q6k_block(&x[i], &y[i]), a1 = hx_q6k_block(&x[i + 1], &y[i + 1]);
        /* lanes 0 and 1: the two exact sums */
        const __m256i h = _mm256_hadd_epi32(a0, a1);
        __m128i is = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
        is = _mm_hadd_epi32(is, is);
        const uint32_t hd = (uint32_t)x[i].d | (uint32_t)x[i + 1].d << 16;
        const __m128 dx = _mm_cvtph_ps(_mm_cvtsi32_si128((int)hd));
        const __m128 d = _mm_mul_ps(dx, _mm_setr_ps(y[i].d, y[i + 1].d, 0.0f, 0.0f));
        const __m128 t = _mm_mul_ps(d, _mm_cvtepi32_ps(is));
        sum += _mm_cvtss_f32(t);
        sum += _mm_cvtss_f32(_mm_movehdup_ps(t));
    }
    for (; i < nb; i++) {
        const int isum = hx_hsum_epi32(hx_q6k_block(&x[i], &y[i]));
        const float d = hx_h2f(x[i].d) * y[i].d;
        const float t = d * (float)isum;
        sum += t;
    }
    *s = sum;
}

#undef HX_K_UNROLL

/* Q8_K . Q8_K */
static void hx_vec_dot_q8_K_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q8_K *x = vx;
    const block_q8_K *y = vy;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / HEARTH_QK_K; i++) {
        __m256i acc = _mm256_setzero_si256();
        for (int j = 0; j < HEARTH_QK_K; j += 32)
            acc = hx_dot_s8s8(acc, _mm256_loadu_si256((const __m256i *)(x[i].qs + j)),
                              _mm256_loadu_si256((const __m256i *)(y[i].qs + j)));
        const int isum = hx_hsum_epi32(acc);
        const float d = x[i].d * y[i].d;
        sum += d * (float)isum;
    }
    *s = sum;
}

/* IQ4_XS . Q8_K: per 32-value sub-block, levels by table, signed dot
 * (|pair| <= 2 * 127 * 127), times the 6-bit scale - 32. */
static void hx_vec_dot_iq4_xs_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_iq4_xs *x = vx;
    const block_q8_K *y = vy;
    const __m256i table = hx_iq4nl_table();
    float sum = 0.0f;
    for (int64_t i = 0; i < n / HEARTH_QK_K; i++) {
        __m256i acc = _mm256_setzero_si256();
        for (int ib = 0; ib < 8; ib++) {
            const int ls = ((x[i].scales_l[ib / 2] >> (4 * (ib % 2))) & 0x0F) | ((x[i].scales_h >> (2 * ib)) & 3) << 4;
            const __m256i q = _mm256_shuffle_epi8(table, hx_nibbles(x[i].qs + 16 * ib));
            const __m256i yv = _mm256_loadu_si256((const __m256i *)(y[i].qs + 32 * ib));
            const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(q, q), _mm256_sign_epi8(yv, q));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, _mm256_set1_epi16((short)(ls - 32))));
        }
        const int isum = hx_hsum_epi32(acc);
        const float d = hx_h2f(x[i].d) * y[i].d;
        const float t = d * (float)isum; /* its own statement: never fused (the packed tile's order) */
        sum += t;
    }
    *s = sum;
}

/* The kernels this body provides, for the including file's list. */
static size_t hx_body_list(hearth_kernel_entry *out, size_t cap) {
    const hearth_kernel_entry all[] = {
        {HEARTH_TYPE_F32, hx_vec_dot_f32, NULL, NULL},
        {HEARTH_TYPE_F16, hx_vec_dot_f16, NULL, hx_from_float_f16},
        {HEARTH_TYPE_BF16, hx_vec_dot_bf16, NULL, NULL},
        {HEARTH_TYPE_Q4_0, hx_vec_dot_q4_0_q8_0, NULL, NULL},
        {HEARTH_TYPE_Q4_1, hx_vec_dot_q4_1_q8_1, NULL, NULL},
        {HEARTH_TYPE_Q5_0, hx_vec_dot_q5_0_q8_0, NULL, NULL},
        {HEARTH_TYPE_Q5_1, hx_vec_dot_q5_1_q8_1, NULL, NULL},
        {HEARTH_TYPE_Q8_0, hx_vec_dot_q8_0_q8_0, NULL, hx_quantize_q8_0},
        {HEARTH_TYPE_Q8_1, NULL, NULL, hx_quantize_q8_1},
        {HEARTH_TYPE_Q2_K, hx_vec_dot_q2_K_q8_K, NULL, NULL},
        {HEARTH_TYPE_Q3_K, hx_vec_dot_q3_K_q8_K, NULL, NULL},
        {HEARTH_TYPE_Q4_K, hx_vec_dot_q4_K_q8_K, NULL, NULL},
        {HEARTH_TYPE_Q5_K, hx_vec_dot_q5_K_q8_K, NULL, NULL},
        {HEARTH_TYPE_Q6_K, hx_vec_dot_q6_K_q8_K, NULL, NULL},
        {HEARTH_TYPE_Q8_K, hx_vec_dot_q8_K_q8_K, NULL, hx_quantize_q8_K},
        {HEARTH_TYPE_IQ4_NL, hx_vec_dot_iq4_nl_q8_0, NULL, NULL},
        {HEARTH_TYPE_IQ4_XS, hx_vec_dot_iq4_xs_q8_K, NULL, NULL},
    };
    size_t n = 0;
    for (; n < sizeof all / sizeof all[0] && n < cap; n++) out[n] = all[n];
    return n;
}

#endif
