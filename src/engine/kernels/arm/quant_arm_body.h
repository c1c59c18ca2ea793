/* quant_arm_body.h - the aarch64 Advanced SIMD kernels, included by
 * quant_neon.c (baseline armv8-a) and quant_dotprod.c (built with
 * +dotprod), which differ only in the signed byte dot.
 *
 * The including file defines HA_DOT(acc, a, b): acc (4 x int32) plus the
 * products of the signed bytes a and b, summed into the lanes in any
 * grouping (callers only use the total of the four lanes). Both forms are
 * exact for every input (the plain form widens to 16 bits before adding),
 * so unlike x86 no activation precondition is needed.
 *
 * Float work follows quant_x86_body.h: 32-value block types accumulate
 * d * isum in vector lanes; super-block types compute exact integer sums
 * and then apply the scales with the reference's operations in its order,
 * one statement per product so that no compiler fuses them into an FMA
 * (clang's default -ffp-contract=on fuses within one expression). The
 * i8mm level's tiles (quant_i8mm.c) repeat the super-block float
 * statements of these vec_dots: change both together.
 *
 * Only <arm_neon.h> and the C library are used, so this compiles with GCC
 * and clang on Linux and macOS alike.
 */
#ifndef HEARTH_QUANT_ARM_BODY_H
#define HEARTH_QUANT_ARM_BODY_H

#include <arm_neon.h>
#include <string.h>

#include "engine/kernels/dispatch.h"
#include "engine/kernels/ref/quant_ref.h"
#include "engine/quant_blocks.h"

#ifndef HA_DOT
#error "define HA_DOT before including quant_arm_body.h"
#endif

/* ---- helpers ------------------------------------------------------------ */

/* Exact fp16 -> fp32 (FCVTL, baseline aarch64). */
static inline float ha_h2f(uint16_t h) {
    return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0);
}

/* Sum of the 4 int32 lanes of a dot (wrapping, exact when the total fits). */
static inline int ha_dot_total(int32x4_t v) {
    return vaddvq_s32(v);
}

/* The dot of two 32-byte signed rows. */
static inline int32x4_t ha_dot32(int32x4_t acc, const int8_t *a, const int8_t *b) {
    acc = HA_DOT(acc, vld1q_s8(a), vld1q_s8(b));
    return HA_DOT(acc, vld1q_s8(a + 16), vld1q_s8(b + 16));
}

/* Byte masks of a Q5 block's 5th bits: m[0] for elements 0..15, m[1] for
 * 16..31 (0xFF where the bit is set). */
static inline void ha_q5_bits(const uint8_t qh[4], uint8x16_t m[2]) {
    static const uint8_t bits[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t b = vld1q_u8(bits);
    m[0] = vtstq_u8(vcombine_u8(vdup_n_u8(qh[0]), vdup_n_u8(qh[1])), b);
    m[1] = vtstq_u8(vcombine_u8(vdup_n_u8(qh[2]), vdup_n_u8(qh[3])), b);
}

/* ---- float types -------------------------------------------------------- */

/* F32 dot with 4 FMA accumulators; the tail is scalar. */
static void ha_vec_dot_f32(int64_t n, float *s, const void *vx, const void *vy) {
    const float *x = vx, *y = vy;
    float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = vfmaq_f32(a0, vld1q_f32(x + i), vld1q_f32(y + i));
        a1 = vfmaq_f32(a1, vld1q_f32(x + i + 4), vld1q_f32(y + i + 4));
        a2 = vfmaq_f32(a2, vld1q_f32(x + i + 8), vld1q_f32(y + i + 8));
        a3 = vfmaq_f32(a3, vld1q_f32(x + i + 12), vld1q_f32(y + i + 12));
    }
    for (; i + 4 <= n; i += 4) a0 = vfmaq_f32(a0, vld1q_f32(x + i), vld1q_f32(y + i));
    float sum = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
    for (; i < n; i++) sum += x[i] * y[i];
    *s = sum;
}

/* 4 halves widened to floats. */
static inline float32x4_t ha_load_f16(const uint16_t *p) {
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)));
}

/* F16 dot: widen, FMA in fp32. */
static void ha_vec_dot_f16(int64_t n, float *s, const void *vx, const void *vy) {
    const uint16_t *x = vx, *y = vy;
    float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = vfmaq_f32(a0, ha_load_f16(x + i), ha_load_f16(y + i));
        a1 = vfmaq_f32(a1, ha_load_f16(x + i + 4), ha_load_f16(y + i + 4));
        a2 = vfmaq_f32(a2, ha_load_f16(x + i + 8), ha_load_f16(y + i + 8));
        a3 = vfmaq_f32(a3, ha_load_f16(x + i + 12), ha_load_f16(y + i + 12));
    }
    for (; i + 4 <= n; i += 4) a0 = vfmaq_f32(a0, ha_load_f16(x + i), ha_load_f16(y + i));
    float sum = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
    for (; i < n; i++) sum += ha_h2f(x[i]) * ha_h2f(y[i]);
    *s = sum;
}

/* 4 bfloat16 widened to floats (a 16-bit shift, exact). */
static inline float32x4_t ha_load_bf16(const uint16_t *p) {
    return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16));
}

/* BF16 dot: widen, FMA in fp32. */
static void ha_vec_dot_bf16(int64_t n, float *s, const void *vx, const void *vy) {
    const uint16_t *x = vx, *y = vy;
    float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = vfmaq_f32(a0, ha_load_bf16(x + i), ha_load_bf16(y + i));
        a1 = vfmaq_f32(a1, ha_load_bf16(x + i + 4), ha_load_bf16(y + i + 4));
        a2 = vfmaq_f32(a2, ha_load_bf16(x + i + 8), ha_load_bf16(y + i + 8));
        a3 = vfmaq_f32(a3, ha_load_bf16(x + i + 12), ha_load_bf16(y + i + 12));
    }
    for (; i + 4 <= n; i += 4) a0 = vfmaq_f32(a0, ha_load_bf16(x + i), ha_load_bf16(y + i));
    float sum = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
    for (; i < n; i++) sum += hearth_bf16_to_fp32(x[i]) * hearth_bf16_to_fp32(y[i]);
    *s = sum;
}

/* ---- activation quantizers ---------------------------------------------- */

/* Largest |x| over 32 floats. */
static inline float ha_amax32(const float *x) {
    float32x4_t m = vabsq_f32(vld1q_f32(x));
    for (int j = 4; j < 32; j += 4) m = vmaxq_f32(m, vabsq_f32(vld1q_f32(x + j)));
    return vmaxvq_f32(m);
}

/* Rounds 32 floats times id to nearest even (FCVTNS, as rintf in the
 * default rounding mode) and stores them as bytes; returns their sum. */
static inline int ha_round_store32(const float *x, float id, int8_t *q) {
    int32x4_t sum = vdupq_n_s32(0);
    for (int j = 0; j < 32; j += 8) {
        const int32x4_t a = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + j), id));
        const int32x4_t b = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + j + 4), id));
        sum = vaddq_s32(sum, vaddq_s32(a, b));
        const int16x8_t h = vcombine_s16(vmovn_s32(a), vmovn_s32(b));
        vst1_s8(q + j, vmovn_s16(h));
    }
    return vaddvq_s32(sum);
}

/* Q8_0 activation quantizer, byte for byte hearth_ref_quantize_act_q8_0. */
static void ha_quantize_q8_0(const float *x, void *vy, int64_t n) {
    block_q8_0 *y = vy;
    for (int64_t i = 0; i < n / HEARTH_QK8_0; i++, x += HEARTH_QK8_0) {
        const float amax = ha_amax32(x);
        const float d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        y[i].d = hearth_fp32_to_fp16(d);
        (void)ha_round_store32(x, id, y[i].qs);
    }
}

/* Q8_1 activation quantizer, byte for byte hearth_ref_quantize_act_q8_1. */
static void ha_quantize_q8_1(const float *x, void *vy, int64_t n) {
    block_q8_1 *y = vy;
    for (int64_t i = 0; i < n / HEARTH_QK8_1; i++, x += HEARTH_QK8_1) {
        const float amax = ha_amax32(x);
        const float d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        y[i].d = hearth_fp32_to_fp16(d);
        const int sum = ha_round_store32(x, id, y[i].qs);
        y[i].s = hearth_fp32_to_fp16(d * (float)sum);
    }
}

/* Q8_K quantizer, byte for byte hearth_ref_from_float_q8_K. */
static void ha_quantize_q8_K(const float *x, void *vy, int64_t n) {
    block_q8_K *y = vy;
    for (int64_t i = 0; i < n / HEARTH_QK_K; i++, x += HEARTH_QK_K) {
        float32x4_t m = vdupq_n_f32(0.0f);
        for (int j = 0; j < HEARTH_QK_K; j += 4) m = vmaxq_f32(m, vabsq_f32(vld1q_f32(x + j)));
        const float amax = vmaxvq_f32(m);
        if (amax == 0.0f) {
            y[i].d = 0.0f;
            memset(y[i].qs, 0, sizeof y[i].qs);
            memset(y[i].bsums, 0, sizeof y[i].bsums);
            continue;
        }
        float max = amax;
        for (int j = 0; j < HEARTH_QK_K; j++) /* the first value of largest magnitude */
            if (x[j] == amax || x[j] == -amax) {
                max = x[j];
                break;
            }
        const float iscale = -127.0f / max;
        const int32x4_t cap = vdupq_n_s32(127);
        for (int j = 0; j < HEARTH_QK_K; j += 8) {
            const int32x4_t a = vminq_s32(cap, vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + j), iscale)));
            const int32x4_t b = vminq_s32(cap, vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + j + 4), iscale)));
            vst1_s8(y[i].qs + j, vmovn_s16(vcombine_s16(vmovn_s32(a), vmovn_s32(b))));
        }
        for (int g = 0; g < 16; g++) y[i].bsums[g] = (int16_t)vaddlvq_s8(vld1q_s8(y[i].qs + 16 * g));
        y[i].d = 1 / iscale;
    }
}

/* ---- 32-value block types ----------------------------------------------- */

/* Q4_0 . Q8_0 */
static void ha_vec_dot_q4_0_q8_0(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    const int8x16_t off = vdupq_n_s8(8);
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = acc0;
    const int64_t nb = n / HEARTH_QK8_0;
    int64_t i = 0;
    for (; i < nb; i++) {
        const uint8x16_t q = vld1q_u8(x[i].qs);
        const int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, m4)), off);
        const int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), off);
        int32x4_t p = HA_DOT(vdupq_n_s32(0), lo, vld1q_s8(y[i].qs));
        p = HA_DOT(p, hi, vld1q_s8(y[i].qs + 16));
        const float d = ha_h2f(x[i].d) * ha_h2f(y[i].d);
        if (i & 1)
            acc1 = vfmaq_n_f32(acc1, vcvtq_f32_s32(p), d);
        else
            acc0 = vfmaq_n_f32(acc0, vcvtq_f32_s32(p), d);
    }
    *s = vaddvq_f32(vaddq_f32(acc0, acc1));
}

/* Q4_1 . Q8_1 */
static void ha_vec_dot_q4_1_q8_1(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_1 *x = vx;
    const block_q8_1 *y = vy;
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    float32x4_t acc = vdupq_n_f32(0.0f);
    float summ = 0.0f;
    for (int64_t i = 0; i < n / HEARTH_QK8_1; i++) {
        const uint8x16_t q = vld1q_u8(x[i].qs);
        int32x4_t p = HA_DOT(vdupq_n_s32(0), vreinterpretq_s8_u8(vandq_u8(q, m4)), vld1q_s8(y[i].qs));
        p = HA_DOT(p, vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), vld1q_s8(y[i].qs + 16));
        acc = vfmaq_n_f32(acc, vcvtq_f32_s32(p), ha_h2f(x[i].d) * ha_h2f(y[i].d));
        summ += ha_h2f(x[i].m) * ha_h2f(y[i].s);
    }
    *s = vaddvq_f32(acc) + summ;
}

/* Q5_0 . Q8_0: q - 16 = nibble - 16 * (1 - 5th bit). */
static void ha_vec_dot_q5_0_q8_0(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q5_0 *x = vx;
    const block_q8_0 *y = vy;
    const uint8x16_t m4 = vdupq_n_u8(0x0F), b16 = vdupq_n_u8(0x10);
    float32x4_t acc = vdupq_n_f32(0.0f);
    for (int64_t i = 0; i < n / HEARTH_QK8_0; i++) {
        uint8x16_t hb[2];
        ha_q5_bits(x[i].qh, hb);
        const uint8x16_t q = vld1q_u8(x[i].qs);
        const int8x16_t lo = vreinterpretq_s8_u8(vsubq_u8(vandq_u8(q, m4), vbicq_u8(b16, hb[0])));
        const int8x16_t hi = vreinterpretq_s8_u8(vsubq_u8(vshrq_n_u8(q, 4), vbicq_u8(b16, hb[1])));
        int32x4_t p = HA_DOT(vdupq_n_s32(0), lo, vld1q_s8(y[i].qs));
        p = HA_DOT(p, hi, vld1q_s8(y[i].qs + 16));
        acc = vfmaq_n_f32(acc, vcvtq_f32_s32(p), ha_h2f(x[i].d) * ha_h2f(y[i].d));
    }
    *s = vaddvq_f32(acc);
}

/* Q5_1 . Q8_1 */
static void ha_vec_dot_q5_1_q8_1(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q5_1 *x = vx;
    const block_q8_1 *y = vy;
    const uint8x16_t m4 = vdupq_n_u8(0x0F), b16 = vdupq_n_u8(0x10);
    float32x4_t acc = vdupq_n_f32(0.0f);
    float summ = 0.0f;
    for (int64_t i = 0; i < n / HEARTH_QK8_1; i++) {
        uint8x16_t hb[2];
        ha_q5_bits(x[i].qh, hb);
        const uint8x16_t q = vld1q_u8(x[i].qs);
        const int8x16_t lo = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q, m4), vandq_u8(b16, hb[0])));
        const int8x16_t hi = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q, 4), vandq_u8(b16, hb[1])));
        int32x4_t p = HA_DOT(vdupq_n_s32(0), lo, vld1q_s8(y[i].qs));
        p = HA_DOT(p, hi, vld1q_s8(y[i].qs + 16));
        acc = vfmaq_n_f32(acc, vcvtq_f32_s32(p), ha_h2f(x[i].d) * ha_h2f(y[i].d));
        summ += ha_h2f(x[i].m) * ha_h2f(y[i].s);
    }
    *s = vaddvq_f32(acc) + summ;
}

/* Q8_0 . Q8_0 */
static void ha_vec_dot_q8_0_q8_0(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q8_0 *x = vx;
    const block_q8_0 *y = vy;
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = acc0;
    for (int64_t i = 0; i < n / HEARTH_QK8_0; i++) {
        const int32x4_t p = ha_dot32(vdupq_n_s32(0), x[i].qs, y[i].qs);
        const float d = ha_h2f(x[i].d) * ha_h2f(y[i].d);
        if (i & 1)
            acc1 = vfmaq_n_f32(acc1, vcvtq_f32_s32(p), d);
        else
            acc0 = vfmaq_n_f32(acc0, vcvtq_f32_s32(p), d);
    }
    *s = vaddvq_f32(vaddq_f32(acc0, acc1));
}

/* IQ4_NL . Q8_0: the nibbles index the level table. */
static void ha_vec_dot_iq4_nl_q8_0(int64_t n, float *s, const void *vx, const void *vy) {
    const block_iq4_nl *x = vx;
    const block_q8_0 *y = vy;
    const int8x16_t table = vld1q_s8(hearth_kvalues_iq4nl);
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    float32x4_t acc = vdupq_n_f32(0.0f);
    for (int64_t i = 0; i < n / HEARTH_QK4_NL; i++) {
        const uint8x16_t q = vld1q_u8(x[i].qs);
        int32x4_t p = HA_DOT(vdupq_n_s32(0), vqtbl1q_s8(table, vandq_u8(q, m4)), vld1q_s8(y[i].qs));
        p = HA_DOT(p, vqtbl1q_s8(table, vshrq_n_u8(q, 4)), vld1q_s8(y[i].qs + 16));
        acc = vfmaq_n_f32(acc, vcvtq_f32_s32(p), ha_h2f(x[i].d) * ha_h2f(y[i].d));
    }
    *s = vaddvq_f32(acc);
}

/* ---- super-block types -------------------------------------------------- */

/* Q2_K . Q8_K */
static void ha_vec_dot_q2_K_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q2_K *x = vx;
    const block_q8_K *y = vy;
    const uint8x16_t m3 = vdupq_n_u8(3);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / HEARTH_QK_K; i++) {
        int32x4_t acc = vdupq_n_s32(0);
        int msum = 0;
        for (int j = 0; j < 16; j++) msum += (x[i].scales[j] >> 4) * y[i].bsums[j];
        for (int h = 0; h < 2; h++) {
            const uint8x16_t q0 = vld1q_u8(x[i].qs + 32 * h), q1 = vld1q_u8(x[i].qs + 32 * h + 16);
            for (int k = 0; k < 4; k++) {
                const int8x16_t sh = vdupq_n_s8((int8_t)(-2 * k));
                const int8x16_t u0 = vreinterpretq_s8_u8(vandq_u8(vshlq_u8(q0, sh), m3));
                const int8x16_t u1 = vreinterpretq_s8_u8(vandq_u8(vshlq_u8(q1, sh), m3));
                const int8_t *yq = y[i].qs + 128 * h + 32 * k;
                const int j = 8 * h + 2 * k;
                acc = vmlaq_n_s32(acc, HA_DOT(vdupq_n_s32(0), u0, vld1q_s8(yq)), x[i].scales[j] & 0x0F);
                acc = vmlaq_n_s32(acc, HA_DOT(vdupq_n_s32(0), u1, vld1q_s8(yq + 16)), x[i].scales[j + 1] & 0x0F);
            }
        }
        const int isum = ha_dot_total(acc);
        const float dall = y[i].d * ha_h2f(x[i].d);
        const float dmin = y[i].d * ha_h2f(x[i].dmin);
        const float t = dall * (float)isum;
        const float tm = dmin * (float)msum;
        sum += t - tm;
    }
    *s = sum;
}

/* Q3_K . Q8_K: signed q = low 2 bits + 4 * hmask bit - 4. */
static void ha_vec_dot_q3_K_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q3_K *x = vx;
    const block_q8_K *y = vy;
    const uint8x16_t m3 = vdupq_n_u8(3), four = vdupq_n_u8(4);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / HEARTH_QK_K; i++) {
        const uint8_t *sp = x[i].scales;
        int sc[16];
        for (int j = 0; j < 16; j++) {
            const int lo = j < 8 ? (sp[j] & 0x0F) : (sp[j - 8] >> 4);
            const int hi = (sp[8 + j % 4] >> (2 * (j / 4))) & 3;
            sc[j] = (lo | hi << 4) - 32;
        }
        const uint8x16_t hm0 = vld1q_u8(x[i].hmask), hm1 = vld1q_u8(x[i].hmask + 16);
        int32x4_t acc = vdupq_n_s32(0);
        for (int h = 0; h < 2; h++) {
            const uint8x16_t q0 = vld1q_u8(x[i].qs + 32 * h), q1 = vld1q_u8(x[i].qs + 32 * h + 16);
            for (int k = 0; k < 4; k++) {
                const int8x16_t sh = vdupq_n_s8((int8_t)(-2 * k));
                const uint8x16_t bit = vdupq_n_u8((uint8_t)(1u << (4 * h + k)));
                /* value = low - 4 where the high bit is clear */
                const int8x16_t v0 = vreinterpretq_s8_u8(
                    vsubq_u8(vandq_u8(vshlq_u8(q0, sh), m3), vbicq_u8(four, vtstq_u8(hm0, bit))));
                const int8x16_t v1 = vreinterpretq_s8_u8(
                    vsubq_u8(vandq_u8(vshlq_u8(q1, sh), m3), vbicq_u8(four, vtstq_u8(hm1, bit))));
                const int8_t *yq = y[i].qs + 128 * h + 32 * k;
                const int j = 8 * h + 2 * k;
                acc = vmlaq_n_s32(acc, HA_DOT(vdupq_n_s32(0), v0, vld1q_s8(yq)), sc[j]);
                acc = vmlaq_n_s32(acc, HA_DOT(vdupq_n_s32(0), v1, vld1q_s8(yq + 16)), sc[j + 1]);
            }
        }
        const int isum = ha_dot_total(acc);
        const float d = ha_h2f(x[i].d) * y[i].d;
        const float t = d * (float)isum; /* own statement: never fused into an FMA */
        sum += t;
    }
    *s = sum;
}

/* The 8 scales and mins of a Q4_K/Q5_K super-block. */
static inline void ha_k4_scales(const uint8_t *q, int sc[8], int m[8]) {
    for (int j = 0; j < 4; j++) {
        sc[j] = q[j] & 63;
        m[j] = q[j + 4] & 63;
        sc[j + 4] = (q[j + 8] & 0x0F) | (q[j] >> 6) << 4;
        m[j + 4] = (q[j + 8] >> 4) | (q[j + 4] >> 6) << 4;
    }
}

/* Q4_K . Q8_K */
static void ha_vec_dot_q4_K_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_K *x = vx;
    const block_q8_K *y = vy;
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / HEARTH_QK_K; i++) {
        int sc[8], m[8];
        ha_k4_scales(x[i].scales, sc, m);
        int32x4_t acc = vdupq_n_s32(0);
        for (int c = 0; c < 4; c++) {
            const uint8x16_t q0 = vld1q_u8(x[i].qs + 32 * c), q1 = vld1q_u8(x[i].qs + 32 * c + 16);
            const int8_t *yq = y[i].qs + 64 * c;
            int32x4_t lo = HA_DOT(vdupq_n_s32(0), vreinterpretq_s8_u8(vandq_u8(q0, m4)), vld1q_s8(yq));
            lo = HA_DOT(lo, vreinterpretq_s8_u8(vandq_u8(q1, m4)), vld1q_s8(yq + 16));
            int32x4_t hi = HA_DOT(vdupq_n_s32(0), vreinterpretq_s8_u8(vshrq_n_u8(q0, 4)), vld1q_s8(yq + 32));
            hi = HA_DOT(hi, vreinterpretq_s8_u8(vshrq_n_u8(q1, 4)), vld1q_s8(yq + 48));
            acc = vmlaq_n_s32(acc, lo, sc[2 * c]);
            acc = vmlaq_n_s32(acc, hi, sc[2 * c + 1]);
        }
        int msum = 0;
        for (int j = 0; j < 8; j++) msum += m[j] * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
        const int isum = ha_dot_total(acc);
        const float d = ha_h2f(x[i].d) * y[i].d;
        const float dmin = ha_h2f(x[i].dmin) * y[i].d;
        const float t = d * (float)isum;
        const float tm = dmin * (float)msum;
        sum += t - tm;
    }
    *s = sum;
}

/* Q5_K . Q8_K */
static void ha_vec_dot_q5_K_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q5_K *x = vx;
    const block_q8_K *y = vy;
    const uint8x16_t m4 = vdupq_n_u8(0x0F), b16 = vdupq_n_u8(0x10);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / HEARTH_QK_K; i++) {
        int sc[8], m[8];
        ha_k4_scales(x[i].scales, sc, m);
        const uint8x16_t qh0 = vld1q_u8(x[i].qh), qh1 = vld1q_u8(x[i].qh + 16);
        int32x4_t acc = vdupq_n_s32(0);
        for (int c = 0; c < 4; c++) {
            const uint8x16_t q0 = vld1q_u8(x[i].qs + 32 * c), q1 = vld1q_u8(x[i].qs + 32 * c + 16);
            const uint8x16_t bl = vdupq_n_u8((uint8_t)(1u << (2 * c))), bh = vdupq_n_u8((uint8_t)(2u << (2 * c)));
            const int8_t *yq = y[i].qs + 64 * c;
            const int8x16_t l0 = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q0, m4), vandq_u8(vtstq_u8(qh0, bl), b16)));
            const int8x16_t l1 = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q1, m4), vandq_u8(vtstq_u8(qh1, bl), b16)));
            const int8x16_t h0 = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q0, 4), vandq_u8(vtstq_u8(qh0, bh), b16)));
            const int8x16_t h1 = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q1, 4), vandq_u8(vtstq_u8(qh1, bh), b16)));
            int32x4_t lo = HA_DOT(vdupq_n_s32(0), l0, vld1q_s8(yq));
            lo = HA_DOT(lo, l1, vld1q_s8(yq + 16));
            int32x4_t hi = HA_DOT(vdupq_n_s32(0), h0, vld1q_s8(yq + 32));
            hi = HA_DOT(hi, h1, vld1q_s8(yq + 48));
            acc = vmlaq_n_s32(acc, lo, sc[2 * c]);
            acc = vmlaq_n_s32(acc, hi, sc[2 * c + 1]);
        }
        int msum = 0;
        for (int j = 0; j < 8; j++) msum += m[j] * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
        const int isum = ha_dot_total(acc);
        const float d = ha_h2f(x[i].d) * y[i].d;
        const float dmin = ha_h2f(x[i].dmin) * y[i].d;
        const float t = d * (float)isum;
        const float tm = dmin * (float)msum;
        sum += t - tm;
    }
    *s = sum;
}

/* Q6_K . Q8_K: signed q = low 4 bits | high 2 bits << 4, minus 32; each
 * 16-byte vector is one sub-block. */
static void ha_vec_dot_q6_K_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q6_K *x = vx;
    const block_q8_K *y = vy;
    const uint8x16_t m4 = vdupq_n_u8(0x0F), m3 = vdupq_n_u8(3);
    const int8x16_t off = vdupq_n_s8(32);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / HEARTH_QK_K; i++) {
        int32x4_t acc = vdupq_n_s32(0);
        for (int h = 0; h < 2; h++) {
            for (int half = 0; half < 2; half++) {
                const int l = 16 * half;
                const uint8x16_t l0 = vld1q_u8(x[i].ql + 64 * h + l), l1 = vld1q_u8(x[i].ql + 64 * h + 32 + l);
                const uint8x16_t hv = vld1q_u8(x[i].qh + 32 * h + l);
                uint8x16_t q[4];
                q[0] = vorrq_u8(vandq_u8(l0, m4), vshlq_n_u8(vandq_u8(hv, m3), 4));
                q[1] = vorrq_u8(vandq_u8(l1, m4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hv, 2), m3), 4));
                q[2] = vorrq_u8(vshrq_n_u8(l0, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hv, 4), m3), 4));
                q[3] = vorrq_u8(vshrq_n_u8(l1, 4), vshlq_n_u8(vshrq_n_u8(hv, 6), 4));
                for (int k = 0; k < 4; k++) {
                    const int8x16_t v = vsubq_s8(vreinterpretq_s8_u8(q[k]), off);
                    const int8_t *yq = y[i].qs + 128 * h + 32 * k + l;
                    acc = vmlaq_n_s32(acc, HA_DOT(vdupq_n_s32(0), v, vld1q_s8(yq)), x[i].scales[8 * h + 2 * k + half]);
                }
            }
        }
        const int isum = ha_dot_total(acc);
        const float d = ha_h2f(x[i].d) * y[i].d;
        const float t = d * (float)isum; /* own statement: never fused into an FMA */
        sum += t;
    }
    *s = sum;
}

/* Q8_K . Q8_K */
static void ha_vec_dot_q8_K_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q8_K *x = vx;
    const block_q8_K *y = vy;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / HEARTH_QK_K; i++) {
        int32x4_t acc = vdupq_n_s32(0);
        for (int j = 0; j < HEARTH_QK_K; j += 32) acc = ha_dot32(acc, x[i].qs + j, y[i].qs + j);
        const int isum = ha_dot_total(acc);
        const float d = x[i].d * y[i].d;
        const float t = d * (float)isum; /* own statement: never fused into an FMA */
        sum += t;
    }
    *s = sum;
}

/* IQ4_XS . Q8_K */
static void ha_vec_dot_iq4_xs_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_iq4_xs *x = vx;
    const block_q8_K *y = vy;
    const int8x16_t table = vld1q_s8(hearth_kvalues_iq4nl);
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / HEARTH_QK_K; i++) {
        int32x4_t acc = vdupq_n_s32(0);
        for (int ib = 0; ib < 8; ib++) {
            const int ls = ((x[i].scales_l[ib / 2] >> (4 * (ib % 2))) & 0x0F) | ((x[i].scales_h >> (2 * ib)) & 3) << 4;
            const uint8x16_t q = vld1q_u8(x[i].qs + 16 * ib);
            const int8_t *yq = y[i].qs + 32 * ib;
            int32x4_t p = HA_DOT(vdupq_n_s32(0), vqtbl1q_s8(table, vandq_u8(q, m4)), vld1q_s8(yq));
            p = HA_DOT(p, vqtbl1q_s8(table, vshrq_n_u8(q, 4)), vld1q_s8(yq + 16));
            acc = vmlaq_n_s32(acc, p, ls - 32);
        }
        const int isum = ha_dot_total(acc);
        const float d = ha_h2f(x[i].d) * y[i].d;
        const float t = d * (float)isum; /* own statement: never fused into an FMA */
        sum += t;
    }
    *s = sum;
}

/* The kernels this body provides, for the including file's list. */
static size_t ha_body_list(hearth_kernel_entry *out, size_t cap) {
    const hearth_kernel_entry all[] = {
        {HEARTH_TYPE_F32, ha_vec_dot_f32, NULL, NULL},
        {HEARTH_TYPE_F16, ha_vec_dot_f16, NULL, NULL},
        {HEARTH_TYPE_BF16, ha_vec_dot_bf16, NULL, NULL},
        {HEARTH_TYPE_Q4_0, ha_vec_dot_q4_0_q8_0, NULL, NULL},
        {HEARTH_TYPE_Q4_1, ha_vec_dot_q4_1_q8_1, NULL, NULL},
        {HEARTH_TYPE_Q5_0, ha_vec_dot_q5_0_q8_0, NULL, NULL},
        {HEARTH_TYPE_Q5_1, ha_vec_dot_q5_1_q8_1, NULL, NULL},
        {HEARTH_TYPE_Q8_0, ha_vec_dot_q8_0_q8_0, NULL, ha_quantize_q8_0},
        {HEARTH_TYPE_Q8_1, NULL, NULL, ha_quantize_q8_1},
        {HEARTH_TYPE_Q2_K, ha_vec_dot_q2_K_q8_K, NULL, NULL},
        {HEARTH_TYPE_Q3_K, ha_vec_dot_q3_K_q8_K, NULL, NULL},
        {HEARTH_TYPE_Q4_K, ha_vec_dot_q4_K_q8_K, NULL, NULL},
        {HEARTH_TYPE_Q5_K, ha_vec_dot_q5_K_q8_K, NULL, NULL},
        {HEARTH_TYPE_Q6_K, ha_vec_dot_q6_K_q8_K, NULL, NULL},
        {HEARTH_TYPE_Q8_K, ha_vec_dot_q8_K_q8_K, NULL, ha_quantize_q8_K},
        {HEARTH_TYPE_IQ4_NL, ha_vec_dot_iq4_nl_q8_0, NULL, NULL},
        {HEARTH_TYPE_IQ4_XS, ha_vec_dot_iq4_xs_q8_K, NULL, NULL},
    };
    size_t n = 0;
    for (; n < sizeof all / sizeof all[0] && n < cap; n++) out[n] = all[n];
    return n;
}

#endif
