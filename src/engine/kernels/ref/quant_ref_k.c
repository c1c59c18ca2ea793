/* quant_ref_k.c - scalar reference kernels for the 256-value super-block
 * types: Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K and IQ4_XS, plus the IQ4_NL
 * weight quantizer (which shares the IQ4_XS search).
 *
 * The weight quantizers are the searches ggml runs without an importance
 * matrix (quantize_row_*_ref for the K-quants, quantize_iq4_nl/_xs with
 * x^2 weights), performed with the same float operations in the same order
 * so that their output matches llama-quantize's. The Q8_K activation
 * quantizer is exactly ggml's (llama.cpp's x86 backend uses the scalar one).
 *
 * Dot products take an integer dot per sub-block, multiply it by the
 * sub-block's integer scale, and apply the fp16 super-block scales and the
 * Q8_K scale once per super-block; the min terms of Q2_K/Q4_K/Q5_K come
 * from the Q8_K bsums.
 */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "engine/kernels/ref/quant_ref.h"
#include "engine/quant_blocks.h"

#define QK HEARTH_QK_K
#define H2F(h) hearth_fp16_to_fp32(h)
#define F2H(f) hearth_fp32_to_fp16(f)
#define GROUP_MAX_EPS 1e-15f

/* Integer min / max. */
static inline int imin(int a, int b) { return a < b ? a : b; }
static inline int imax(int a, int b) { return a > b ? a : b; }

/* ---- shared bit packing ------------------------------------------------- */

/* The 2-bit field of element e (0..255) in a Q2_K/Q3_K qs array. */
static inline int q2_bits(const uint8_t *qs, int e) {
    const int h = e >> 7, k = (e >> 5) & 3, l = e & 31;
    return (qs[32 * h + l] >> (2 * k)) & 3;
}

/* Packs 256 values 0..3 into the Q2_K/Q3_K qs layout. */
static void q2_pack(const uint8_t *L, uint8_t *qs) {
    for (int h = 0; h < 2; h++)
        for (int l = 0; l < 32; l++) {
            const uint8_t *p = L + 128 * h + l;
            qs[32 * h + l] = (uint8_t)(p[0] | p[32] << 2 | p[64] << 4 | p[96] << 6);
        }
}

/* The 16 signed sub-block scales of a Q3_K block (stored value - 32). */
static void q3_scales(const uint8_t s[12], int sc[16]) {
    for (int j = 0; j < 16; j++) {
        const int lo = j < 8 ? (s[j] & 0x0F) : (s[j - 8] >> 4);
        const int hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
        sc[j] = (lo | hi << 4) - 32;
    }
}

/* The 3-bit quant of element e of a Q3_K block, -4..3. */
static inline int q3_value(const block_q3_K *b, int e) {
    const int bit = (e >> 7) * 4 + ((e >> 5) & 3); /* k in the hmask comment */
    const int high = (b->hmask[e & 31] >> bit) & 1;
    return q2_bits(b->qs, e) - (high ? 0 : 4);
}

/* Scale and min of sub-block j (0..7) from the 12-byte Q4_K/Q5_K packing. */
static inline void k4_scale_min(int j, const uint8_t *q, int *sc, int *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0x0F) | (q[j - 4] >> 6) << 4;
        *m = (q[j + 4] >> 4) | (q[j] >> 6) << 4;
    }
}

/* Packs 8 six-bit scales and mins into the Q4_K/Q5_K 12-byte layout. */
static void k4_pack_scales(const uint8_t ls[8], const uint8_t lm[8], uint8_t *q) {
    memset(q, 0, 12);
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            q[j] = ls[j];
            q[j + 4] = lm[j];
        } else {
            q[j + 4] = (uint8_t)((ls[j] & 0x0F) | (lm[j] & 0x0F) << 4);
            q[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
            q[j] |= (uint8_t)((lm[j] >> 4) << 6);
        }
    }
}

/* The 4-bit field of element e in a Q4_K/Q5_K qs array. */
static inline int k4_nibble(const uint8_t *qs, int e) {
    const int c = e >> 6, l = e & 31;
    return (e & 32) ? qs[32 * c + l] >> 4 : qs[32 * c + l] & 0x0F;
}

/* The 6-bit quant of element e of a Q6_K block, -32..31. */
static inline int q6_value(const block_q6_K *b, int e) {
    const int h = e >> 7, r = e & 127, k = r >> 5, l = r & 31;
    const uint8_t lo = b->ql[64 * h + 32 * (k & 1) + l];
    const int low = (k & 2) ? lo >> 4 : lo & 0x0F;
    const int high = (b->qh[32 * h + l] >> (2 * k)) & 3;
    return (low | high << 4) - 32;
}

/* The 6-bit IQ4_XS scale of sub-block ib (stored value, 0..63). */
static inline int iq4xs_scale(const block_iq4_xs *b, int ib) {
    const int lo = (b->scales_l[ib / 2] >> (4 * (ib % 2))) & 0x0F;
    const int hi = (b->scales_h >> (2 * ib)) & 3;
    return lo | hi << 4;
}

/* ---- dequantizers ------------------------------------------------------- */

/* Dequantizes Q2_K: d*sc*q - dmin*m per 16-value sub-block. */
void hearth_ref_to_float_q2_K(const void *x, float *y, int64_t n) {
    const block_q2_K *b = x;
    for (int64_t i = 0; i < n / QK; i++, y += QK) {
        const float d = H2F(b[i].d), dmin = H2F(b[i].dmin);
        for (int e = 0; e < QK; e++) {
            const uint8_t sc = b[i].scales[e / 16];
            y[e] = d * (float)(sc & 0x0F) * (float)q2_bits(b[i].qs, e) - dmin * (float)(sc >> 4);
        }
    }
}

/* Dequantizes Q3_K: d*(sc-32)*q per 16-value sub-block. */
void hearth_ref_to_float_q3_K(const void *x, float *y, int64_t n) {
    const block_q3_K *b = x;
    for (int64_t i = 0; i < n / QK; i++, y += QK) {
        const float d = H2F(b[i].d);
        int sc[16];
        q3_scales(b[i].scales, sc);
        for (int e = 0; e < QK; e++) y[e] = d * (float)sc[e / 16] * (float)q3_value(&b[i], e);
    }
}

/* Dequantizes Q4_K: d*sc*q - dmin*m per 32-value sub-block. */
void hearth_ref_to_float_q4_K(const void *x, float *y, int64_t n) {
    const block_q4_K *b = x;
    for (int64_t i = 0; i < n / QK; i++, y += QK) {
        const float d = H2F(b[i].d), dmin = H2F(b[i].dmin);
        for (int sb = 0; sb < 8; sb++) {
            int sc, m;
            k4_scale_min(sb, b[i].scales, &sc, &m);
            const float dl = d * (float)sc, ml = dmin * (float)m;
            for (int e = 32 * sb; e < 32 * sb + 32; e++) y[e] = dl * (float)k4_nibble(b[i].qs, e) - ml;
        }
    }
}

/* Dequantizes Q5_K: as Q4_K with the 5th bit from qh. */
void hearth_ref_to_float_q5_K(const void *x, float *y, int64_t n) {
    const block_q5_K *b = x;
    for (int64_t i = 0; i < n / QK; i++, y += QK) {
        const float d = H2F(b[i].d), dmin = H2F(b[i].dmin);
        for (int sb = 0; sb < 8; sb++) {
            int sc, m;
            k4_scale_min(sb, b[i].scales, &sc, &m);
            const float dl = d * (float)sc, ml = dmin * (float)m;
            for (int e = 32 * sb; e < 32 * sb + 32; e++) {
                const int q = k4_nibble(b[i].qs, e) | ((b[i].qh[e & 31] >> sb) & 1) << 4;
                y[e] = dl * (float)q - ml;
            }
        }
    }
}

/* Dequantizes Q6_K: d*sc*(q-32) per 16-value sub-block. */
void hearth_ref_to_float_q6_K(const void *x, float *y, int64_t n) {
    const block_q6_K *b = x;
    for (int64_t i = 0; i < n / QK; i++, y += QK) {
        const float d = H2F(b[i].d);
        for (int e = 0; e < QK; e++) y[e] = d * (float)b[i].scales[e / 16] * (float)q6_value(&b[i], e);
    }
}

/* Dequantizes Q8_K: d*q. */
void hearth_ref_to_float_q8_K(const void *x, float *y, int64_t n) {
    const block_q8_K *b = x;
    for (int64_t i = 0; i < n / QK; i++, y += QK)
        for (int e = 0; e < QK; e++) y[e] = b[i].d * (float)b[i].qs[e];
}

/* Dequantizes IQ4_XS: d*(ls-32)*kvalues[q] per 32-value sub-block. */
void hearth_ref_to_float_iq4_xs(const void *x, float *y, int64_t n) {
    const block_iq4_xs *b = x;
    for (int64_t i = 0; i < n / QK; i++, y += QK) {
        const float d = H2F(b[i].d);
        for (int ib = 0; ib < 8; ib++) {
            const float dl = d * (float)(iq4xs_scale(&b[i], ib) - 32);
            const uint8_t *qs = b[i].qs + 16 * ib;
            float *yb = y + 32 * ib;
            for (int j = 0; j < 16; j++) {
                yb[j] = dl * (float)hearth_kvalues_iq4nl[qs[j] & 0x0F];
                yb[j + 16] = dl * (float)hearth_kvalues_iq4nl[qs[j] >> 4];
            }
        }
    }
}

/* ---- Q8_K activation quantizer ----------------------------------------- */

/* Quantizes to Q8_K as ggml: the signed value of largest magnitude maps to
 * -127 (iscale = -127/max), q = nearest_int(iscale*x) capped at 127,
 * d = 1/iscale, bsums = sums of 16 consecutive quants. */
void hearth_ref_from_float_q8_K(const float *x, void *y, int64_t n) {
    block_q8_K *b = y;
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < QK; j++) {
            const float ax = fabsf(x[j]);
            if (ax > amax) {
                amax = ax;
                max = x[j];
            }
        }
        if (amax == 0.0f) {
            b[i].d = 0.0f;
            memset(b[i].qs, 0, sizeof b[i].qs);
            memset(b[i].bsums, 0, sizeof b[i].bsums); /* ggml leaves them stale */
            continue;
        }
        const float iscale = -127.0f / max;
        for (int j = 0; j < QK; j++) b[i].qs[j] = (int8_t)imin(127, hearth_ref_nearest_int(iscale * x[j]));
        for (int g = 0; g < 16; g++) {
            int sum = 0;
            for (int j = 0; j < 16; j++) sum += b[i].qs[16 * g + j];
            b[i].bsums[g] = (int16_t)sum;
        }
        b[i].d = 1 / iscale;
    }
}

/* ---- dot products ------------------------------------------------------- */

/* Q2_K . Q8_K */
void hearth_ref_vec_dot_q2_K_q8_K(int64_t n, float *s, const void *x, const void *y) {
    const block_q2_K *a = x;
    const block_q8_K *b = y;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK; i++) {
        int isum = 0, msum = 0;
        for (int sb = 0; sb < 16; sb++) {
            int dot = 0;
            for (int e = 16 * sb; e < 16 * sb + 16; e++) dot += q2_bits(a[i].qs, e) * b[i].qs[e];
            isum += (a[i].scales[sb] & 0x0F) * dot;
            msum += (a[i].scales[sb] >> 4) * b[i].bsums[sb];
        }
        const float dall = b[i].d * H2F(a[i].d), dmin = b[i].d * H2F(a[i].dmin);
        sum += dall * (float)isum - dmin * (float)msum;
    }
    *s = sum;
}

/* Q3_K . Q8_K */
void hearth_ref_vec_dot_q3_K_q8_K(int64_t n, float *s, const void *x, const void *y) {
    const block_q3_K *a = x;
    const block_q8_K *b = y;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK; i++) {
        int sc[16];
        q3_scales(a[i].scales, sc);
        int isum = 0;
        for (int sb = 0; sb < 16; sb++) {
            int dot = 0;
            for (int e = 16 * sb; e < 16 * sb + 16; e++) dot += q3_value(&a[i], e) * b[i].qs[e];
            isum += sc[sb] * dot;
        }
        sum += H2F(a[i].d) * b[i].d * (float)isum;
    }
    *s = sum;
}

/* Q4_K . Q8_K */
void hearth_ref_vec_dot_q4_K_q8_K(int64_t n, float *s, const void *x, const void *y) {
    const block_q4_K *a = x;
    const block_q8_K *b = y;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK; i++) {
        int isum = 0, msum = 0;
        for (int sb = 0; sb < 8; sb++) {
            int sc, m, dot = 0;
            k4_scale_min(sb, a[i].scales, &sc, &m);
            for (int e = 32 * sb; e < 32 * sb + 32; e++) dot += k4_nibble(a[i].qs, e) * b[i].qs[e];
            isum += sc * dot;
            msum += m * (b[i].bsums[2 * sb] + b[i].bsums[2 * sb + 1]);
        }
        const float d = H2F(a[i].d) * b[i].d, dmin = H2F(a[i].dmin) * b[i].d;
        sum += d * (float)isum - dmin * (float)msum;
    }
    *s = sum;
}

/* Q5_K . Q8_K */
void hearth_ref_vec_dot_q5_K_q8_K(int64_t n, float *s, const void *x, const void *y) {
    const block_q5_K *a = x;
    const block_q8_K *b = y;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK; i++) {
        int isum = 0, msum = 0;
        for (int sb = 0; sb < 8; sb++) {
            int sc, m, dot = 0;
            k4_scale_min(sb, a[i].scales, &sc, &m);
            for (int e = 32 * sb; e < 32 * sb + 32; e++) {
                const int q = k4_nibble(a[i].qs, e) | ((a[i].qh[e & 31] >> sb) & 1) << 4;
                dot += q * b[i].qs[e];
            }
            isum += sc * dot;
            msum += m * (b[i].bsums[2 * sb] + b[i].bsums[2 * sb + 1]);
        }
        const float d = H2F(a[i].d) * b[i].d, dmin = H2F(a[i].dmin) * b[i].d;
        sum += d * (float)isum - dmin * (float)msum;
    }
    *s = sum;
}

/* Q6_K . Q8_K */
void hearth_ref_vec_dot_q6_K_q8_K(int64_t n, float *s, const void *x, const void *y) {
    const block_q6_K *a = x;
    const block_q8_K *b = y;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK; i++) {
        int isum = 0;
        for (int sb = 0; sb < 16; sb++) {
            int dot = 0;
            for (int e = 16 * sb; e < 16 * sb + 16; e++) dot += q6_value(&a[i], e) * b[i].qs[e];
            isum += a[i].scales[sb] * dot;
        }
        sum += H2F(a[i].d) * b[i].d * (float)isum;
    }
    *s = sum;
}

/* Q8_K . Q8_K (a Q8_K weight is unusual, but computable for free). */
void hearth_ref_vec_dot_q8_K_q8_K(int64_t n, float *s, const void *x, const void *y) {
    const block_q8_K *a = x, *b = y;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK; i++) {
        int isum = 0;
        for (int e = 0; e < QK; e++) isum += a[i].qs[e] * b[i].qs[e];
        sum += a[i].d * b[i].d * (float)isum;
    }
    *s = sum;
}

/* IQ4_XS . Q8_K */
void hearth_ref_vec_dot_iq4_xs_q8_K(int64_t n, float *s, const void *x, const void *y) {
    const block_iq4_xs *a = x;
    const block_q8_K *b = y;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK; i++) {
        int isum = 0;
        for (int ib = 0; ib < 8; ib++) {
            const uint8_t *qs = a[i].qs + 16 * ib;
            const int8_t *q8 = b[i].qs + 32 * ib;
            int dot = 0;
            for (int j = 0; j < 16; j++) {
                dot += hearth_kvalues_iq4nl[qs[j] & 0x0F] * q8[j];
                dot += hearth_kvalues_iq4nl[qs[j] >> 4] * q8[j + 16];
            }
            isum += (iq4xs_scale(&a[i], ib) - 32) * dot;
        }
        sum += H2F(a[i].d) * b[i].d * (float)isum;
    }
    *s = sum;
}

/* ---- weight quantizer searches (ggml's, without importance matrix) ------ */

/* Symmetric quantization of n values to nmax levels each side (L gets
 * q + nmax), refining the scale by a weighted least-squares search over 19
 * candidate scales (ggml's make_qx_quants with rmse_type 1, x^2 weights).
 * Returns the scale. */
static float make_qx_quants(int n, int nmax, const float *x, int8_t *L) {
    float max = 0.0f, amax = 0.0f;
    for (int i = 0; i < n; i++) {
        const float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float iscale = -nmax / max;
    float sumlx = 0.0f, suml2 = 0.0f;
    for (int i = 0; i < n; i++) {
        int l = hearth_ref_nearest_int(iscale * x[i]);
        l = imax(-nmax, imin(nmax - 1, l));
        L[i] = (int8_t)(l + nmax);
        const float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0.0f;
        for (int i = 0; i < n; i++) {
            int l = hearth_ref_nearest_int(iscale * x[i]);
            l = imax(-nmax, imin(nmax - 1, l));
            const float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++) {
                const int l = hearth_ref_nearest_int(iscale * x[i]);
                L[i] = (int8_t)(nmax + imax(-nmax, imin(nmax - 1, l)));
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Symmetric 3-bit search with coordinate-descent refinement (ggml's
 * make_q3_quants with do_rmse). L gets q + nmax. Returns the scale. */
static float make_q3_quants(int n, int nmax, const float *x, int8_t *L) {
    float max = 0.0f, amax = 0.0f;
    for (int i = 0; i < n; i++) {
        const float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    const float iscale = -nmax / max;
    float sumlx = 0.0f, suml2 = 0.0f;
    for (int i = 0; i < n; i++) {
        int l = hearth_ref_nearest_int(iscale * x[i]);
        l = imax(-nmax, imin(nmax - 1, l));
        L[i] = (int8_t)l;
        const float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (int itry = 0; itry < 5; itry++) {
        int changed = 0;
        for (int i = 0; i < n; i++) {
            const float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * L[i];
            if (slx > 0) {
                float sl2 = suml2 - w * L[i] * L[i];
                int nl = hearth_ref_nearest_int(x[i] * sl2 / slx);
                nl = imax(-nmax, imin(nmax - 1, nl));
                if (nl != L[i]) {
                    slx += w * x[i] * nl;
                    sl2 += w * nl * nl;
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (int8_t)nl;
                        sumlx = slx;
                        suml2 = sl2;
                        changed++;
                    }
                }
            }
        }
        if (!changed) break;
    }
    for (int i = 0; i < n; i++) L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* Affine (scale and non-positive min) search over nstep+1 candidate scales,
 * minimising the weighted squared (or absolute) error (ggml's
 * make_qkx2_quants). L gets 0..nmax; *the_min gets -min >= 0. Returns the
 * scale. */
static float make_qkx2_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L,
                              float *the_min, uint8_t *Laux, float rmin, float rdelta, int nstep,
                              bool use_mad) {
    float min = x[0], max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        const float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *the_min = -min;
        return 0.0f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; i++) {
        const int l = hearth_ref_nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)imax(0, imin(nmax, l));
        float diff = scale * L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        best_error += weights[i] * diff;
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = hearth_ref_nearest_int(iscale * (x[i] - min));
            l = imax(0, imin(nmax, l));
            Laux[i] = (uint8_t)l;
            const float w = weights[i];
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; i++) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                diff = use_mad ? fabsf(diff) : diff * diff;
                cur_error += weights[i] * diff;
            }
            if (cur_error < best_error) {
                memcpy(L, Laux, (size_t)n);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

/* ---- K-quant weight quantizers ------------------------------------------ */

/* Quantizes to Q2_K as quantize_row_q2_K_ref. */
void hearth_ref_from_float_q2_K(const float *x, void *y, int64_t n) {
    block_q2_K *b = y;
    uint8_t L[QK], Laux[16];
    float weights[16], mins[16], scales[16];
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < 16; j++) {
            for (int l = 0; l < 16; l++) weights[l] = fabsf(x[16 * j + l]);
            scales[j] = make_qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5f,
                                         0.1f, 15, true);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        if (max_scale > 0) {
            const float iscale = 15.0f / max_scale;
            for (int j = 0; j < 16; j++) b[i].scales[j] = (uint8_t)hearth_ref_nearest_int(iscale * scales[j]);
            b[i].d = F2H(max_scale / 15.0f);
        } else {
            memset(b[i].scales, 0, 16);
            b[i].d = F2H(0.0f);
        }
        if (max_min > 0) {
            const float iscale = 15.0f / max_min;
            for (int j = 0; j < 16; j++)
                b[i].scales[j] |= (uint8_t)(hearth_ref_nearest_int(iscale * mins[j]) << 4);
            b[i].dmin = F2H(max_min / 15.0f);
        } else {
            b[i].dmin = F2H(0.0f);
        }
        /* requantize against the rounded scales actually stored */
        for (int j = 0; j < 16; j++) {
            const float d = H2F(b[i].d) * (float)(b[i].scales[j] & 0x0F);
            if (d == 0.0f) continue;
            const float dm = H2F(b[i].dmin) * (float)(b[i].scales[j] >> 4);
            for (int l = 0; l < 16; l++) {
                const int q = hearth_ref_nearest_int((x[16 * j + l] + dm) / d);
                L[16 * j + l] = (uint8_t)imax(0, imin(3, q));
            }
        }
        q2_pack(L, b[i].qs);
    }
}

/* Quantizes to Q3_K as quantize_row_q3_K_ref. */
void hearth_ref_from_float_q3_K(const float *x, void *y, int64_t n) {
    block_q3_K *b = y;
    int8_t L[QK];
    float scales[16];
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        float max_scale = 0, amax = 0;
        for (int j = 0; j < 16; j++) {
            scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
            if (fabsf(scales[j]) > amax) {
                amax = fabsf(scales[j]);
                max_scale = scales[j];
            }
        }
        memset(b[i].scales, 0, 12);
        if (max_scale != 0.0f) {
            const float iscale = -32.0f / max_scale;
            for (int j = 0; j < 16; j++) {
                int l = hearth_ref_nearest_int(iscale * scales[j]);
                l = imax(-32, imin(31, l)) + 32;
                if (j < 8)
                    b[i].scales[j] = (uint8_t)(l & 0x0F);
                else
                    b[i].scales[j - 8] |= (uint8_t)((l & 0x0F) << 4);
                b[i].scales[8 + j % 4] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
            }
            b[i].d = F2H(1 / iscale);
        } else {
            b[i].d = F2H(0.0f);
        }
        int sc[16];
        q3_scales(b[i].scales, sc);
        for (int j = 0; j < 16; j++) {
            const float d = H2F(b[i].d) * (float)sc[j];
            if (d == 0.0f) continue;
            for (int l = 0; l < 16; l++) {
                const int q = hearth_ref_nearest_int(x[16 * j + l] / d);
                L[16 * j + l] = (int8_t)(imax(-4, imin(3, q)) + 4);
            }
        }
        /* values 4..7 keep their high bit in hmask, the low 2 bits in qs */
        uint8_t low[QK];
        memset(b[i].hmask, 0, 32);
        for (int e = 0; e < QK; e++) {
            const int bit = (e >> 7) * 4 + ((e >> 5) & 3);
            if (L[e] > 3) b[i].hmask[e & 31] |= (uint8_t)(1u << bit);
            low[e] = (uint8_t)(L[e] & 3);
        }
        q2_pack(low, b[i].qs);
    }
}

/* The first pass shared by Q4_K and Q5_K: per-sub-block affine search, then
 * 6-bit scales/mins relative to the largest, then requantization against
 * the stored scales into L (0..nmax). */
static void k4_quantize(const float *x, int nmax, float rmin, int nstep, uint16_t *dh, uint16_t *dminh,
                        uint8_t *packed_scales, uint8_t *L) {
    uint8_t Laux[32];
    float weights[32], mins[8], scales[8];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; j++) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += x[32 * j + l] * x[32 * j + l];
        const float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) weights[l] = av_x + fabsf(x[32 * j + l]);
        scales[j] = make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, rmin, 0.1f,
                                     nstep, false);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
    const float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
    uint8_t ls[8], lm[8];
    for (int j = 0; j < 8; j++) {
        /* ggml stores the rounded values in uint8_t before clamping */
        ls[j] = (uint8_t)hearth_ref_nearest_int(inv_scale * scales[j]);
        lm[j] = (uint8_t)hearth_ref_nearest_int(inv_min * mins[j]);
        if (ls[j] > 63) ls[j] = 63;
        if (lm[j] > 63) lm[j] = 63;
    }
    k4_pack_scales(ls, lm, packed_scales);
    *dh = F2H(max_scale / 63.0f);
    *dminh = F2H(max_min / 63.0f);
    for (int j = 0; j < 8; j++) {
        int sc, m;
        k4_scale_min(j, packed_scales, &sc, &m);
        const float d = H2F(*dh) * (float)sc;
        if (d == 0.0f) continue;
        const float dm = H2F(*dminh) * (float)m;
        for (int l = 0; l < 32; l++) {
            const int q = hearth_ref_nearest_int((x[32 * j + l] + dm) / d);
            L[32 * j + l] = (uint8_t)imax(0, imin(nmax, q));
        }
    }
}

/* Quantizes to Q4_K as quantize_row_q4_K_ref. */
void hearth_ref_from_float_q4_K(const float *x, void *y, int64_t n) {
    block_q4_K *b = y;
    uint8_t L[QK];
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        k4_quantize(x, 15, -1.0f, 20, &b[i].d, &b[i].dmin, b[i].scales, L);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
                b[i].qs[32 * c + l] = (uint8_t)(L[64 * c + l] | L[64 * c + 32 + l] << 4);
    }
}

/* Quantizes to Q5_K as quantize_row_q5_K_ref. */
void hearth_ref_from_float_q5_K(const float *x, void *y, int64_t n) {
    block_q5_K *b = y;
    uint8_t L[QK];
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        k4_quantize(x, 31, -0.5f, 15, &b[i].d, &b[i].dmin, b[i].scales, L);
        memset(b[i].qh, 0, 32);
        for (int e = 0; e < QK; e++)
            if (L[e] > 15) b[i].qh[e & 31] |= (uint8_t)(1u << (e >> 5));
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
                b[i].qs[32 * c + l] = (uint8_t)((L[64 * c + l] & 15) | (L[64 * c + 32 + l] & 15) << 4);
    }
}

/* Quantizes to Q6_K as quantize_row_q6_K_ref. */
void hearth_ref_from_float_q6_K(const float *x, void *y, int64_t n) {
    block_q6_K *b = y;
    int8_t L[QK];
    float scales[16];
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        float max_scale = 0, max_abs_scale = 0;
        for (int ib = 0; ib < 16; ib++) {
            scales[ib] = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib);
            if (fabsf(scales[ib]) > max_abs_scale) {
                max_abs_scale = fabsf(scales[ib]);
                max_scale = scales[ib];
            }
        }
        if (max_abs_scale < GROUP_MAX_EPS) {
            memset(&b[i], 0, sizeof b[i]);
            continue;
        }
        const float iscale = -128.0f / max_scale;
        b[i].d = F2H(1 / iscale);
        for (int ib = 0; ib < 16; ib++) b[i].scales[ib] = (int8_t)imin(127, hearth_ref_nearest_int(iscale * scales[ib]));
        for (int j = 0; j < 16; j++) {
            const float d = H2F(b[i].d) * (float)b[i].scales[j];
            if (d == 0.0f) continue;
            for (int l = 0; l < 16; l++) {
                const int q = hearth_ref_nearest_int(x[16 * j + l] / d);
                L[16 * j + l] = (int8_t)(imax(-32, imin(31, q)) + 32);
            }
        }
        for (int h = 0; h < 2; h++) {
            const int8_t *Lh = L + 128 * h;
            for (int l = 0; l < 32; l++) {
                b[i].ql[64 * h + l] = (uint8_t)((Lh[l] & 0x0F) | (Lh[l + 64] & 0x0F) << 4);
                b[i].ql[64 * h + 32 + l] = (uint8_t)((Lh[l + 32] & 0x0F) | (Lh[l + 96] & 0x0F) << 4);
                b[i].qh[32 * h + l] = (uint8_t)((Lh[l] >> 4) | (Lh[l + 32] >> 4) << 2 | (Lh[l + 64] >> 4) << 4 |
                                                (Lh[l + 96] >> 4) << 6);
            }
        }
    }
}

/* ---- IQ4_NL / IQ4_XS weight quantizers ----------------------------------- */

/* Index of the IQ4_NL level nearest to v (ties to the larger level). */
static inline int iq4_best_index(float v) {
    const int8_t *val = hearth_kvalues_iq4nl;
    const float v2 = v + v;
    int idx = 0;
    for (int step = 8; step > 0; step >>= 1) {
        const int j = idx + step;
        if (v2 >= (float)(val[j - 1] + val[j])) idx = j;
    }
    return idx;
}

/* The search of ggml's quantize_row_iq4_nl_impl without importance matrix
 * (weights x^2, ntry 7): per 32-value block, try 15 scales and keep the one
 * with the best weighted fit. For a super-block of 256 (IQ4_XS), the block
 * scales are then stored as 6-bit multiples of a super-block scale. L gets
 * level indices. */
static void iq4_quantize(int super_block_size, const float *x, uint16_t *dh, uint16_t *scales_h,
                         uint8_t *scales_l, uint8_t *L) {
    const int8_t *values = hearth_kvalues_iq4nl;
    const int ntry = 7;
    const int nblocks = super_block_size / 32;
    float scales[8], weight[32];
    float max_scale = 0, amax_scale = 0;
    *dh = F2H(0.0f);
    for (int ib = 0; ib < nblocks; ib++) {
        const float *xb = x + 32 * ib;
        uint8_t *Lb = L + 32 * ib;
        for (int j = 0; j < 32; j++) weight[j] = xb[j] * xb[j];
        float amax = 0, max = 0;
        for (int j = 0; j < 32; j++) {
            const float ax = fabsf(xb[j]);
            if (ax > amax) {
                amax = ax;
                max = xb[j];
            }
        }
        if (amax < GROUP_MAX_EPS) {
            scales[ib] = 0;
            memset(Lb, 0, 32);
            continue;
        }
        float d = -max / values[0];
        float id = 1 / d;
        float sumqx = 0, sumq2 = 0;
        for (int j = 0; j < 32; j++) {
            const int l = iq4_best_index(id * xb[j]);
            Lb[j] = (uint8_t)l;
            const float q = values[l];
            sumqx += weight[j] * q * xb[j];
            sumq2 += weight[j] * q * q;
        }
        d = sumq2 > 0 ? sumqx / sumq2 : 0.0f;
        float best = d * sumqx;
        for (int itry = -ntry; itry <= ntry; itry++) {
            id = (itry + values[0]) / max;
            sumqx = sumq2 = 0;
            for (int j = 0; j < 32; j++) {
                const float q = values[iq4_best_index(id * xb[j])];
                sumqx += weight[j] * q * xb[j];
                sumq2 += weight[j] * q * q;
            }
            if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
                d = sumqx / sumq2;
                best = d * sumqx;
            }
        }
        scales[ib] = d;
        if (fabsf(d) > amax_scale) {
            amax_scale = fabsf(d);
            max_scale = d;
        }
    }
    if (nblocks > 1) {
        *scales_h = 0;
        const float d = -max_scale / 32;
        *dh = F2H(d);
        const float id = d != 0.0f ? 1 / d : 0.0f;
        for (int ib = 0; ib < nblocks; ib++) {
            int l = hearth_ref_nearest_int(id * scales[ib]);
            l = imax(-32, imin(31, l));
            const float dl = d * l;
            const float idl = dl != 0.0f ? 1 / dl : 0.0f;
            for (int j = 0; j < 32; j++) L[32 * ib + j] = (uint8_t)iq4_best_index(idl * x[32 * ib + j]);
            l += 32;
            if (ib % 2 == 0)
                scales_l[ib / 2] = (uint8_t)(l & 0x0F);
            else
                scales_l[ib / 2] |= (uint8_t)((l & 0x0F) << 4);
            *scales_h |= (uint16_t)((l >> 4) << (2 * ib));
        }
    } else {
        *dh = F2H(scales[0]);
        const float id = scales[0] != 0.0f ? 1 / scales[0] : 0.0f;
        for (int j = 0; j < 32; j++) L[j] = (uint8_t)iq4_best_index(id * x[j]);
    }
}

/* Quantizes to IQ4_NL as llama-quantize does without importance matrix. */
void hearth_ref_from_float_iq4_nl(const float *x, void *y, int64_t n) {
    block_iq4_nl *b = y;
    uint8_t L[32];
    for (int64_t i = 0; i < n / HEARTH_QK4_NL; i++, x += HEARTH_QK4_NL) {
        uint16_t unused_h;
        iq4_quantize(32, x, &b[i].d, &unused_h, NULL, L);
        for (int j = 0; j < 16; j++) b[i].qs[j] = (uint8_t)(L[j] | L[j + 16] << 4);
    }
}

/* Quantizes to IQ4_XS as llama-quantize does without importance matrix. */
void hearth_ref_from_float_iq4_xs(const float *x, void *y, int64_t n) {
    block_iq4_xs *b = y;
    uint8_t L[QK];
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        iq4_quantize(QK, x, &b[i].d, &b[i].scales_h, b[i].scales_l, L);
        for (int ib = 0; ib < 8; ib++)
            for (int j = 0; j < 16; j++)
                b[i].qs[16 * ib + j] = (uint8_t)(L[32 * ib + j] | L[32 * ib + 16 + j] << 4);
    }
}
