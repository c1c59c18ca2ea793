/* quant_ref.c - scalar reference kernels for the float types and the legacy
 * 32-value block types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, IQ4_NL).
 *
 * Weight quantizers follow ggml's deterministic "_ref" arithmetic step for
 * step (same float operations in the same order), so quantizing an F32
 * tensor reproduces the bytes llama-quantize writes. Dot products compute
 * an exact integer dot per block and then apply the scales, as ggml's
 * scalar path does.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "engine/kernels/ref/quant_ref.h"
#include "engine/quant_blocks.h"

const int8_t hearth_kvalues_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                         1,    13,   25,  38,  53,  69,  89,  113};

#define H2F(h) hearth_fp16_to_fp32(h)
#define F2H(f) hearth_fp32_to_fp16(f)

/* ---- float types ------------------------------------------------------- */

/* Copies n floats. */
void hearth_ref_to_float_f32(const void *x, float *y, int64_t n) {
    memmove(y, x, (size_t)n * sizeof(float));
}

/* Copies n floats. */
void hearth_ref_from_float_f32(const float *x, void *y, int64_t n) {
    memmove(y, x, (size_t)n * sizeof(float));
}

/* Widens n halves to floats (exact). */
void hearth_ref_to_float_f16(const void *x, float *y, int64_t n) {
    const uint16_t *h = x;
    for (int64_t i = 0; i < n; i++) y[i] = H2F(h[i]);
}

/* Narrows n floats to halves, rounding to nearest even. */
void hearth_ref_from_float_f16(const float *x, void *y, int64_t n) {
    uint16_t *h = y;
    for (int64_t i = 0; i < n; i++) h[i] = F2H(x[i]);
}

/* Widens n bfloat16 to floats (exact). */
void hearth_ref_to_float_bf16(const void *x, float *y, int64_t n) {
    const uint16_t *h = x;
    for (int64_t i = 0; i < n; i++) y[i] = hearth_bf16_to_fp32(h[i]);
}

/* Narrows n floats to bfloat16, rounding to nearest even. */
void hearth_ref_from_float_bf16(const float *x, void *y, int64_t n) {
    uint16_t *h = y;
    for (int64_t i = 0; i < n; i++) h[i] = hearth_fp32_to_bf16(x[i]);
}

/* Dot of two f32 rows, accumulated in double (ggml's ggml_float). */
void hearth_ref_vec_dot_f32(int64_t n, float *s, const void *x, const void *y) {
    const float *a = x, *b = y;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)(a[i] * b[i]);
    *s = (float)sum;
}

/* Dot of two f16 rows: products in float, sum in double. */
void hearth_ref_vec_dot_f16(int64_t n, float *s, const void *x, const void *y) {
    const uint16_t *a = x, *b = y;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)(H2F(a[i]) * H2F(b[i]));
    *s = (float)sum;
}

/* Dot of two bf16 rows: products in float, sum in double. */
void hearth_ref_vec_dot_bf16(int64_t n, float *s, const void *x, const void *y) {
    const uint16_t *a = x, *b = y;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)(hearth_bf16_to_fp32(a[i]) * hearth_bf16_to_fp32(b[i]));
    *s = (float)sum;
}

/* ---- Q4_0 -------------------------------------------------------------- */

/* Dequantizes Q4_0: d * (q - 8). */
void hearth_ref_to_float_q4_0(const void *x, float *y, int64_t n) {
    const block_q4_0 *b = x;
    for (int64_t i = 0; i < n / HEARTH_QK4_0; i++, y += HEARTH_QK4_0) {
        const float d = H2F(b[i].d);
        for (int j = 0; j < 16; j++) {
            y[j] = (float)((b[i].qs[j] & 0x0F) - 8) * d;
            y[j + 16] = (float)((b[i].qs[j] >> 4) - 8) * d;
        }
    }
}

/* Quantizes to Q4_0 as ggml's quantize_row_q4_0_ref: the signed value of
 * largest magnitude maps to -8, so the scale can be negative. */
void hearth_ref_from_float_q4_0(const float *x, void *y, int64_t n) {
    block_q4_0 *b = y;
    for (int64_t i = 0; i < n / HEARTH_QK4_0; i++, x += HEARTH_QK4_0) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < 32; j++) {
            if (amax < fabsf(x[j])) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        const float d = max / -8;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = F2H(d);
        for (int j = 0; j < 16; j++) {
            /* truncation of v + 8.5 is rounding half up of v + 8, as ggml */
            int q0 = (int8_t)(x[j] * id + 8.5f);
            int q1 = (int8_t)(x[j + 16] * id + 8.5f);
            q0 = q0 < 15 ? q0 : 15;
            q1 = q1 < 15 ? q1 : 15;
            b[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

/* Sum over blocks of d_x * d_y * (integer dot). */
void hearth_ref_vec_dot_q4_0_q8_0(int64_t n, float *s, const void *x, const void *y) {
    const block_q4_0 *a = x;
    const block_q8_0 *b = y;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / HEARTH_QK8_0; i++) {
        int isum = 0;
        for (int j = 0; j < 16; j++) {
            isum += ((a[i].qs[j] & 0x0F) - 8) * b[i].qs[j];
            isum += ((a[i].qs[j] >> 4) - 8) * b[i].qs[j + 16];
        }
        sum += (float)isum * H2F(a[i].d) * H2F(b[i].d);
    }
    *s = sum;
}

/* ---- Q4_1 -------------------------------------------------------------- */

/* Dequantizes Q4_1: d * q + m. */
void hearth_ref_to_float_q4_1(const void *x, float *y, int64_t n) {
    const block_q4_1 *b = x;
    for (int64_t i = 0; i < n / HEARTH_QK4_1; i++, y += HEARTH_QK4_1) {
        const float d = H2F(b[i].d), m = H2F(b[i].m);
        for (int j = 0; j < 16; j++) {
            y[j] = (float)(b[i].qs[j] & 0x0F) * d + m;
            y[j + 16] = (float)(b[i].qs[j] >> 4) * d + m;
        }
    }
}

/* Quantizes to Q4_1 as quantize_row_q4_1_ref: min/max affine, 15 steps. */
void hearth_ref_from_float_q4_1(const float *x, void *y, int64_t n) {
    block_q4_1 *b = y;
    for (int64_t i = 0; i < n / HEARTH_QK4_1; i++, x += HEARTH_QK4_1) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < 32; j++) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        const float d = (max - min) / 15;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = F2H(d);
        b[i].m = F2H(min);
        for (int j = 0; j < 16; j++) {
            int q0 = (int8_t)((x[j] - min) * id + 0.5f);
            int q1 = (int8_t)((x[j + 16] - min) * id + 0.5f);
            q0 = q0 < 15 ? q0 : 15;
            q1 = q1 < 15 ? q1 : 15;
            b[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

/* Sum over blocks of d_x*d_y*(integer dot) + m_x * s_y (s_y = d_y * sum q_y). */
void hearth_ref_vec_dot_q4_1_q8_1(int64_t n, float *s, const void *x, const void *y) {
    const block_q4_1 *a = x;
    const block_q8_1 *b = y;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / HEARTH_QK8_1; i++) {
        int isum = 0;
        for (int j = 0; j < 16; j++) {
            isum += (a[i].qs[j] & 0x0F) * b[i].qs[j];
            isum += (a[i].qs[j] >> 4) * b[i].qs[j + 16];
        }
        sum += (float)isum * H2F(a[i].d) * H2F(b[i].d) + H2F(a[i].m) * H2F(b[i].s);
    }
    *s = sum;
}

/* ---- Q5_0 / Q5_1 ------------------------------------------------------- */

/* The little-endian 32-bit 5th-bit mask of a Q5 block, and back. */
static uint32_t load_qh(const uint8_t qh[4]) {
    return (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
}

static void store_qh(uint8_t qh[4], uint32_t v) {
    for (int k = 0; k < 4; k++) qh[k] = (uint8_t)(v >> (8 * k));
}

/* The 5-bit quant of element j (0..31) of a Q5 block, 0..31. */
static inline int q5_value(const uint8_t qs[16], uint32_t qh, int j) {
    const int lo = j < 16 ? (qs[j] & 0x0F) : (qs[j - 16] >> 4);
    return lo | (int)((qh >> j) & 1) << 4;
}

/* Dequantizes Q5_0: d * (q - 16). */
void hearth_ref_to_float_q5_0(const void *x, float *y, int64_t n) {
    const block_q5_0 *b = x;
    for (int64_t i = 0; i < n / HEARTH_QK5_0; i++, y += HEARTH_QK5_0) {
        const float d = H2F(b[i].d);
        const uint32_t qh = load_qh(b[i].qh);
        for (int j = 0; j < 32; j++) y[j] = (float)(q5_value(b[i].qs, qh, j) - 16) * d;
    }
}

/* Quantizes to Q5_0 as quantize_row_q5_0_ref (largest magnitude -> -16). */
void hearth_ref_from_float_q5_0(const float *x, void *y, int64_t n) {
    block_q5_0 *b = y;
    for (int64_t i = 0; i < n / HEARTH_QK5_0; i++, x += HEARTH_QK5_0) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < 32; j++) {
            if (amax < fabsf(x[j])) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        const float d = max / -16;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = F2H(d);
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) {
            int q0 = (int8_t)(x[j] * id + 16.5f);
            int q1 = (int8_t)(x[j + 16] * id + 16.5f);
            q0 = q0 < 31 ? q0 : 31;
            q1 = q1 < 31 ? q1 : 31;
            b[i].qs[j] = (uint8_t)((q0 & 0x0F) | ((q1 & 0x0F) << 4));
            qh |= (uint32_t)(q0 >> 4) << j;
            qh |= (uint32_t)(q1 >> 4) << (j + 16);
        }
        store_qh(b[i].qh, qh);
    }
}

/* Sum over blocks of d_x * d_y * (integer dot). */
void hearth_ref_vec_dot_q5_0_q8_0(int64_t n, float *s, const void *x, const void *y) {
    const block_q5_0 *a = x;
    const block_q8_0 *b = y;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / HEARTH_QK8_0; i++) {
        const uint32_t qh = load_qh(a[i].qh);
        int isum = 0;
        for (int j = 0; j < 32; j++) isum += (q5_value(a[i].qs, qh, j) - 16) * b[i].qs[j];
        sum += (float)isum * H2F(a[i].d) * H2F(b[i].d);
    }
    *s = sum;
}

/* Dequantizes Q5_1: d * q + m. */
void hearth_ref_to_float_q5_1(const void *x, float *y, int64_t n) {
    const block_q5_1 *b = x;
    for (int64_t i = 0; i < n / HEARTH_QK5_1; i++, y += HEARTH_QK5_1) {
        const float d = H2F(b[i].d), m = H2F(b[i].m);
        const uint32_t qh = load_qh(b[i].qh);
        for (int j = 0; j < 32; j++) y[j] = (float)q5_value(b[i].qs, qh, j) * d + m;
    }
}

/* Quantizes to Q5_1 as quantize_row_q5_1_ref (min/max affine, 31 steps). */
void hearth_ref_from_float_q5_1(const float *x, void *y, int64_t n) {
    block_q5_1 *b = y;
    for (int64_t i = 0; i < n / HEARTH_QK5_1; i++, x += HEARTH_QK5_1) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < 32; j++) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        const float d = (max - min) / 31;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = F2H(d);
        b[i].m = F2H(min);
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) {
            const unsigned q0 = (uint8_t)((x[j] - min) * id + 0.5f);
            const unsigned q1 = (uint8_t)((x[j + 16] - min) * id + 0.5f);
            b[i].qs[j] = (uint8_t)((q0 & 0x0F) | ((q1 & 0x0F) << 4));
            qh |= ((q0 >> 4) & 1u) << j;
            qh |= ((q1 >> 4) & 1u) << (j + 16);
        }
        store_qh(b[i].qh, qh);
    }
}

/* Sum over blocks of d_x*d_y*(integer dot) + m_x * s_y. */
void hearth_ref_vec_dot_q5_1_q8_1(int64_t n, float *s, const void *x, const void *y) {
    const block_q5_1 *a = x;
    const block_q8_1 *b = y;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / HEARTH_QK8_1; i++) {
        const uint32_t qh = load_qh(a[i].qh);
        int isum = 0;
        for (int j = 0; j < 32; j++) isum += q5_value(a[i].qs, qh, j) * b[i].qs[j];
        sum += (float)isum * H2F(a[i].d) * H2F(b[i].d) + H2F(a[i].m) * H2F(b[i].s);
    }
    *s = sum;
}

/* ---- Q8_0 / Q8_1 ------------------------------------------------------- */

/* Dequantizes Q8_0: d * q. */
void hearth_ref_to_float_q8_0(const void *x, float *y, int64_t n) {
    const block_q8_0 *b = x;
    for (int64_t i = 0; i < n / HEARTH_QK8_0; i++, y += HEARTH_QK8_0) {
        const float d = H2F(b[i].d);
        for (int j = 0; j < 32; j++) y[j] = (float)b[i].qs[j] * d;
    }
}

/* Quantizes weights to Q8_0 as quantize_row_q8_0_ref (what llama-quantize
 * writes): d = amax/127, q = roundf(x * (1/d)), ties away from zero. */
void hearth_ref_from_float_q8_0(const float *x, void *y, int64_t n) {
    block_q8_0 *b = y;
    for (int64_t i = 0; i < n / HEARTH_QK8_0; i++, x += HEARTH_QK8_0) {
        float amax = 0.0f;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = F2H(d);
        for (int j = 0; j < 32; j++) b[i].qs[j] = (int8_t)roundf(x[j] * id);
    }
}

/* The block maximum of |x| as llama.cpp's SIMD activation quantizer finds it. */
static float block_amax(const float *x, int n) {
    float amax = 0.0f;
    for (int j = 0; j < n; j++) {
        const float a = fabsf(x[j]);
        if (a > amax) amax = a;
    }
    return amax;
}

/* Quantizes activations to Q8_0 as llama.cpp's x86 CPU backend does (its
 * AVX path, which produced the reference logits): d = amax/127 stored as
 * fp16, id = 127/amax, q = x*id rounded to nearest even. This differs from
 * the weight quantizer above only on exact ties and 1-ulp id differences,
 * but the logits tolerances assume the identical activation bytes. */
void hearth_ref_quantize_act_q8_0(const float *x, void *y, int64_t n) {
    block_q8_0 *b = y;
    for (int64_t i = 0; i < n / HEARTH_QK8_0; i++, x += HEARTH_QK8_0) {
        const float amax = block_amax(x, 32);
        const float d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        b[i].d = F2H(d);
        for (int j = 0; j < 32; j++) b[i].qs[j] = (int8_t)rintf(x[j] * id);
    }
}

/* Sum over blocks of d_x * d_y * (integer dot). */
void hearth_ref_vec_dot_q8_0_q8_0(int64_t n, float *s, const void *x, const void *y) {
    const block_q8_0 *a = x, *b = y;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / HEARTH_QK8_0; i++) {
        int isum = 0;
        for (int j = 0; j < 32; j++) isum += a[i].qs[j] * b[i].qs[j];
        sum += (float)isum * H2F(a[i].d) * H2F(b[i].d);
    }
    *s = sum;
}

/* Dequantizes Q8_1: d * q (s is only for dot products). */
void hearth_ref_to_float_q8_1(const void *x, float *y, int64_t n) {
    const block_q8_1 *b = x;
    for (int64_t i = 0; i < n / HEARTH_QK8_1; i++, y += HEARTH_QK8_1) {
        const float d = H2F(b[i].d);
        for (int j = 0; j < 32; j++) y[j] = (float)b[i].qs[j] * d;
    }
}

/* Quantizes to Q8_1 as quantize_row_q8_1_ref: roundf, s = sum(q) * d. */
void hearth_ref_from_float_q8_1(const float *x, void *y, int64_t n) {
    block_q8_1 *b = y;
    for (int64_t i = 0; i < n / HEARTH_QK8_1; i++, x += HEARTH_QK8_1) {
        float amax = 0.0f;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = F2H(d);
        int sum = 0;
        for (int j = 0; j < 32; j++) {
            b[i].qs[j] = (int8_t)roundf(x[j] * id);
            sum += b[i].qs[j];
        }
        b[i].s = F2H((float)sum * d);
    }
}

/* Quantizes activations to Q8_1 as llama.cpp's x86 backend (see the Q8_0
 * version): round to nearest even with id = 127/amax; s = d * sum(q) with
 * the fp32 d. */
void hearth_ref_quantize_act_q8_1(const float *x, void *y, int64_t n) {
    block_q8_1 *b = y;
    for (int64_t i = 0; i < n / HEARTH_QK8_1; i++, x += HEARTH_QK8_1) {
        const float amax = block_amax(x, 32);
        const float d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        b[i].d = F2H(d);
        int sum = 0;
        for (int j = 0; j < 32; j++) {
            b[i].qs[j] = (int8_t)rintf(x[j] * id);
            sum += b[i].qs[j];
        }
        b[i].s = F2H(d * (float)sum);
    }
}

/* Sum over blocks of d_x * d_y * (integer dot). */
void hearth_ref_vec_dot_q8_1_q8_1(int64_t n, float *s, const void *x, const void *y) {
    const block_q8_1 *a = x, *b = y;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / HEARTH_QK8_1; i++) {
        int isum = 0;
        for (int j = 0; j < 32; j++) isum += a[i].qs[j] * b[i].qs[j];
        sum += (float)isum * H2F(a[i].d) * H2F(b[i].d);
    }
    *s = sum;
}

/* ---- IQ4_NL ------------------------------------------------------------ */

/* Dequantizes IQ4_NL: d * kvalues[q]. */
void hearth_ref_to_float_iq4_nl(const void *x, float *y, int64_t n) {
    const block_iq4_nl *b = x;
    for (int64_t i = 0; i < n / HEARTH_QK4_NL; i++, y += HEARTH_QK4_NL) {
        const float d = H2F(b[i].d);
        for (int j = 0; j < 16; j++) {
            y[j] = d * (float)hearth_kvalues_iq4nl[b[i].qs[j] & 0x0F];
            y[j + 16] = d * (float)hearth_kvalues_iq4nl[b[i].qs[j] >> 4];
        }
    }
}

/* Sum over blocks of d_x * d_y * (integer dot of the levels with q8). */
void hearth_ref_vec_dot_iq4_nl_q8_0(int64_t n, float *s, const void *x, const void *y) {
    const block_iq4_nl *a = x;
    const block_q8_0 *b = y;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / HEARTH_QK4_NL; i++) {
        int isum = 0;
        for (int j = 0; j < 16; j++) {
            isum += hearth_kvalues_iq4nl[a[i].qs[j] & 0x0F] * b[i].qs[j];
            isum += hearth_kvalues_iq4nl[a[i].qs[j] >> 4] * b[i].qs[j + 16];
        }
        sum += (float)isum * H2F(a[i].d) * H2F(b[i].d);
    }
    *s = sum;
}
