/* gemm_packed_extra_avx2.c - prefill kernels on repacked weight groups for
 * IQ4_XS, Q4_1 and Q5_1 (AVX2 + FMA + F16C; see kernels/packed.h and, for
 * the shared conventions, gemm_packed_avx2.c).
 *
 * Q4_1 / Q5_1: a packed block holds the unsigned quants q (Q4_1 0..15, Q5_1
 * 0..31: maddubs' first operand) of 8 rows interleaved in 4-byte groups
 * (256 bytes = 8 groups of 32), then the rows' d and m as floats: 320
 * bytes. Activations: the row's nb Q8_1 scales d_y as floats, then its nb
 * s_y, then the quants (unchanged). Per group and token one broadcast and
 * one maddubs give 16-bit pair sums of at most 2 * 15 * 127 = 3810 (Q4_1:
 * all 8 groups add to at most 30480, exact in 16 bits) or 2 * 31 * 127 =
 * 7874 (Q5_1: two 16-bit halves of 4 groups, at most 31496 each), widened
 * by madd. The float statements are the vec_dot's (HX_DOT_ASYM32 in
 * quant_x86_body.h): block b goes to accumulator b % 4 as fma(d_x * d_y,
 * (float)isum, acc) and m_x * s_y to a second accumulator b % 4 as an add,
 * and the result is ((acc0 + acc1) + (acc2 + acc3)) + ((m0 + m1) + (m2 +
 * m3)).
 *
 * IQ4_XS: a packed super-block holds, per 32-value sub-block j, the
 * absolute values |w| of the signed levels w of 8 rows interleaved in
 * 4-byte groups (256 bytes, at most 127), then w itself in the same order
 * (256 bytes, for the sign trick as in Q8_0's tile), after all 8 sub-blocks
 * (4096 bytes) the sub-block scales ls - 32 per row as int16 pairs (8 x 32
 * bytes; lanes 2r, 2r+1 = row r), then d of the rows as floats: 4384 bytes.
 * Activations per super-block: the Q8_K scale (float) and the 256 quants
 * (260 bytes). Per group and token: broadcast, give the 4 quants the signs
 * of w, maddubs with |w| (pair sums at most 2 * 127 * 127 = 32258: exact),
 * madd with the scales into int32. As in the vec_dot, per super-block
 * d = d_x * d_y, t = d * (float)isum, sum += t (three roundings, no fma).
 */
#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#include "engine/kernels/packed.h"
#include "engine/kernels/x86/blocks_x86.h"
#include "engine/kernels/x86/packed_x86.h"
#include "engine/quant_blocks.h"
#include "hearth/quant.h"

/* ---- Q4_1 / Q5_1 ------------------------------------------------------- */
enum { A1_BLOCK = 320, A1_QS = 0, A1_D = 256, A1_M = 288 };

/* Returns the packed size of 8 rows of n Q4_1 or Q5_1 values. Does not
 * block. */
static size_t a1_group_bytes(int64_t n) { return (size_t)(n / 32) * A1_BLOCK; }

/* Returns the activation row size for n values. Does not block. */
static size_t a1_act_bytes(int64_t n) { return (size_t)(n / 32) * (2 * sizeof(float) + 32); }

/* Converts one Q8_1 row: scales d, then sums s as floats, then the quants.
 * Does not block. */
static void a1_act_convert(int64_t n, const void *src, void *dst) {
    const block_q8_1 *y = src;
    const int64_t nb = n / 32;
    float *d = dst, *s = d + nb;
    uint8_t *q = (uint8_t *)dst + (size_t)nb * 2 * sizeof(float);
    for (int64_t b = 0; b < nb; b++) {
        d[b] = _cvtsh_ss(y[b].d);
        s[b] = _cvtsh_ss(y[b].s);
        memcpy(q + 32 * b, y[b].qs, 32);
    }
}

/* Packs up to 8 Q4_1 (q5 == 0) or Q5_1 rows (see the file comment). */
PK_INLINE void a1_pack(int64_t n, const void *vx, size_t bx, int nr, void *vdst, int q5) {
    const int64_t nb = n / 32;
    const size_t xs = q5 ? sizeof(block_q5_1) : sizeof(block_q4_1);
    uint8_t *dst = vdst;
    for (int64_t b = 0; b < nb; b++) {
        __m256i r[8], o[8];
        PK_UNROLL
        for (int i = 0; i < 8; i++) {
            if (i < nr) {
                const uint8_t *x = (const uint8_t *)vx + (size_t)i * bx + (size_t)b * xs;
                if (q5) {
                    const block_q5_1 *x5 = (const block_q5_1 *)(const void *)x;
                    r[i] = _mm256_or_si256(hx_nibbles(x5->qs),
                                           _mm256_and_si256(hx_bits_to_bytes(x5->qh), _mm256_set1_epi8(0x10)));
                } else {
                    r[i] = hx_nibbles(((const block_q4_1 *)(const void *)x)->qs);
                }
            } else {
                r[i] = _mm256_setzero_si256();
            }
        }
        pk_transpose8(r, o);
        uint8_t *p = dst + (size_t)b * A1_BLOCK;
        PK_UNROLL
        for (int g = 0; g < 8; g++) _mm256_store_si256((__m256i *)(void *)(p + A1_QS + 32 * g), o[g]);
        /* d, then m, lead both blocks */
        pk_store_row_scales(p + A1_D, (const uint8_t *)vx + (size_t)b * xs, bx, nr);
        pk_store_row_scales(p + A1_M, (const uint8_t *)vx + (size_t)b * xs + 2, bx, nr);
    }
}

/* Packs up to 8 Q4_1 or Q5_1 rows (see the file comment). Do not block. */
static void q41_pack(int64_t n, const void *vx, size_t bx, int nr, void *vdst) { a1_pack(n, vx, bx, nr, vdst, 0); }
static void q51_pack(int64_t n, const void *vx, size_t bx, int nr, void *vdst) { a1_pack(n, vx, bx, nr, vdst, 1); }

/* A Q4_1 (q5 == 0) or Q5_1 tile of 8 rows and nt tokens (both
 * compile-time), one phase b % 4 at a time as in gemm_packed_avx2.c (only
 * 2 nt accumulators live; each phase adds its blocks in increasing order). */
PK_INLINE void a1_tile_nt(int64_t n, float *s, size_t lds, const uint8_t *pk, const uint8_t *act, size_t ab, int nr,
                          int nt, int q5) {
    const int64_t nb = n / 32;
    const float *dy[HEARTH_PACK_TOKENS], *sy[HEARTH_PACK_TOKENS];
    const uint8_t *q[HEARTH_PACK_TOKENS];
    PK_UNROLL
    for (int t = 0; t < HEARTH_PACK_TOKENS; t++) {
        const uint8_t *a = act + (t < nt ? (size_t)t * ab : 0);
        dy[t] = (const float *)(const void *)a;
        sy[t] = dy[t] + nb;
        q[t] = a + (size_t)nb * 2 * sizeof(float);
    }
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 res[4][HEARTH_PACK_TOKENS], mres[4][HEARTH_PACK_TOKENS]; /* [phase][token] */
    for (int ph = 0; ph < 4; ph++) {
        __m256 acc[HEARTH_PACK_TOKENS], macc[HEARTH_PACK_TOKENS];
        PK_UNROLL
        for (int t = 0; t < HEARTH_PACK_TOKENS; t++) acc[t] = macc[t] = _mm256_setzero_ps();
        for (int64_t b = ph; b < nb; b += 4) {
            const uint8_t *w = pk + (size_t)b * A1_BLOCK;
            __m256i s16[HEARTH_PACK_TOKENS], h16[HEARTH_PACK_TOKENS];
            PK_UNROLL
            for (int g = 0; g < 8; g++) {
                const __m256i wg = _mm256_load_si256((const __m256i *)(const void *)(w + A1_QS + 32 * g));
                PK_UNROLL
                for (int t = 0; t < nt; t++) {
                    const __m256i p = _mm256_maddubs_epi16(wg, pk_bcast4(q[t] + 32 * b + 4 * g));
                    if (q5 && g >= 4) {
                        h16[t] = g == 4 ? p : _mm256_add_epi16(h16[t], p);
                        PK_CHAIN(h16[t]);
                    } else {
                        s16[t] = g == 0 ? p : _mm256_add_epi16(s16[t], p);
                        PK_CHAIN(s16[t]);
                    }
                }
            }
            const __m256 dx = _mm256_load_ps((const float *)(const void *)(w + A1_D));
            const __m256 mx = _mm256_load_ps((const float *)(const void *)(w + A1_M));
            PK_UNROLL
            for (int t = 0; t < nt; t++) {
                __m256i i = _mm256_madd_epi16(s16[t], ones);
                if (q5) i = _mm256_add_epi32(i, _mm256_madd_epi16(h16[t], ones));
                acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dx, _mm256_broadcast_ss(dy[t] + b)), _mm256_cvtepi32_ps(i), acc[t]);
                macc[t] = _mm256_add_ps(macc[t], _mm256_mul_ps(mx, _mm256_broadcast_ss(sy[t] + b)));
            }
        }
        PK_UNROLL
        for (int t = 0; t < nt; t++) {
            res[ph][t] = acc[t];
            mres[ph][t] = macc[t];
        }
    }
    PK_UNROLL
    for (int t = 0; t < nt; t++) {
        const __m256 a = _mm256_add_ps(_mm256_add_ps(res[0][t], res[1][t]), _mm256_add_ps(res[2][t], res[3][t]));
        const __m256 m = _mm256_add_ps(_mm256_add_ps(mres[0][t], mres[1][t]), _mm256_add_ps(mres[2][t], mres[3][t]));
        pk_store(s + (size_t)t * lds, _mm256_add_ps(a, m), nr);
    }
}

/* The Q4_1 and Q5_1 tile kernels; see packed.h. Do not block. */
PK_DEFINE_TILE(q41_tile, a1_tile_nt, 0)
PK_DEFINE_TILE(q51_tile, a1_tile_nt, 1)

/* ---- IQ4_XS ------------------------------------------------------------ */
enum { X4_BLOCK = 4384, X4_SUB = 512, X4_ABS = 0, X4_SGN = 256, X4_SC = 4096, X4_D = 4352 };
enum { X4_ACT = 260, X4_ACT_QS = 4 };

/* Returns the packed size of 8 rows of n IQ4_XS values. Does not block. */
static size_t x4_group_bytes(int64_t n) { return (size_t)(n / HEARTH_QK_K) * X4_BLOCK; }

/* Returns the activation row size for n values. Does not block. */
static size_t x4_act_bytes(int64_t n) { return (size_t)(n / HEARTH_QK_K) * X4_ACT; }

/* Converts one Q8_K row (see the file comment: no bsums). Does not
 * block. */
static void x4_act_convert(int64_t n, const void *src, void *dst) { pk_q8k_act_convert(n, src, dst, X4_ACT, 0, X4_ACT_QS); }

/* Packs up to 8 IQ4_XS rows (see the file comment). Does not block. */
static void x4_pack(int64_t n, const void *vx, size_t bx, int nr, void *vdst) {
    const int64_t nb = n / HEARTH_QK_K;
    uint8_t *dst = vdst;
    const __m256i table = hx_iq4nl_table();
    for (int64_t b = 0; b < nb; b++) {
        uint8_t *p = dst + (size_t)b * X4_BLOCK;
        const block_iq4_xs *x[8];
        for (int i = 0; i < 8; i++)
            x[i] = i < nr ? (const block_iq4_xs *)(const void *)((const uint8_t *)vx + (size_t)i * bx) + b : NULL;
        for (int j = 0; j < 8; j++) {
            __m256i r[8], o[8];
            PK_UNROLL
            for (int i = 0; i < 8; i++)
                r[i] = x[i] ? _mm256_shuffle_epi8(table, hx_nibbles(x[i]->qs + 16 * j)) : _mm256_setzero_si256();
            pk_transpose8(r, o);
            uint8_t *pj = p + (size_t)j * X4_SUB;
            PK_UNROLL
            for (int g = 0; g < 8; g++) {
                _mm256_store_si256((__m256i *)(void *)(pj + X4_ABS + 32 * g), _mm256_sign_epi8(o[g], o[g]));
                _mm256_store_si256((__m256i *)(void *)(pj + X4_SGN + 32 * g), o[g]);
            }
        }
        int16_t sc[8][16];
        for (int i = 0; i < 8; i++) {
            for (int j = 0; j < 8; j++) {
                int16_t v = 0;
                if (x[i])
                    v = (int16_t)((((x[i]->scales_l[j / 2] >> (4 * (j % 2))) & 0x0F) | ((x[i]->scales_h >> (2 * j)) & 3) << 4) -
                                  32);
                sc[j][2 * i] = sc[j][2 * i + 1] = v;
            }
        }
        memcpy(p + X4_SC, sc, sizeof sc);
        pk_store_row_scales(p + X4_D, (const uint8_t *)vx + (size_t)b * sizeof(block_iq4_xs) + offsetof(block_iq4_xs, d),
                            bx, nr);
    }
}

/* An IQ4_XS tile of 8 rows and nt (compile-time) tokens. */
PK_INLINE void x4_tile_nt(int64_t n, float *s, size_t lds, const uint8_t *pk, const uint8_t *act, size_t ab, int nr,
                          int nt, int unused_kind) {
    (void)unused_kind; /* one kind: PK_DEFINE_TILE's argument */
    const uint8_t *a[HEARTH_PACK_TOKENS];
    PK_UNROLL
    for (int t = 0; t < HEARTH_PACK_TOKENS; t++) a[t] = act + (t < nt ? (size_t)t * ab : 0);
    __m256 acc[HEARTH_PACK_TOKENS];
    PK_UNROLL
    for (int t = 0; t < HEARTH_PACK_TOKENS; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / HEARTH_QK_K; b++) {
        const uint8_t *w = pk + (size_t)b * X4_BLOCK;
        const size_t ao = (size_t)b * X4_ACT;
        __m256i is[HEARTH_PACK_TOKENS];
        for (int j = 0; j < 8; j++) {
            const uint8_t *wj = w + (size_t)j * X4_SUB;
            const __m256i scj = _mm256_load_si256((const __m256i *)(const void *)(w + X4_SC + 32 * j));
            PK_UNROLL
            for (int g = 0; g < 8; g++) {
                const __m256i ua = _mm256_load_si256((const __m256i *)(const void *)(wj + X4_ABS + 32 * g));
                const __m256i sg = _mm256_load_si256((const __m256i *)(const void *)(wj + X4_SGN + 32 * g));
                PK_UNROLL
                for (int t = 0; t < nt; t++) {
                    const __m256i yv = pk_bcast4(a[t] + ao + X4_ACT_QS + 32 * j + 4 * g);
                    const __m256i v = _mm256_madd_epi16(_mm256_maddubs_epi16(ua, _mm256_sign_epi8(yv, sg)), scj);
                    is[t] = j == 0 && g == 0 ? v : _mm256_add_epi32(is[t], v);
                    PK_CHAIN(is[t]);
                }
            }
        }
        const __m256 dx = _mm256_load_ps((const float *)(const void *)(w + X4_D));
        PK_UNROLL
        for (int t = 0; t < nt; t++) {
            float dyf;
            memcpy(&dyf, a[t] + ao, sizeof dyf);
            const __m256 tt = _mm256_mul_ps(_mm256_mul_ps(dx, _mm256_set1_ps(dyf)), _mm256_cvtepi32_ps(is[t]));
            acc[t] = _mm256_add_ps(acc[t], tt);
        }
    }
    PK_UNROLL
    for (int t = 0; t < nt; t++) pk_store(s + (size_t)t * lds, acc[t], nr);
}

/* The IQ4_XS tile kernel; see packed.h. Does not block. */
PK_DEFINE_TILE(x4_tile, x4_tile_nt, 0)

static const hearth_packed_gemm q41_kernels = {a1_group_bytes, q41_pack, a1_act_bytes, a1_act_convert, q41_tile};
static const hearth_packed_gemm q51_kernels = {a1_group_bytes, q51_pack, a1_act_bytes, a1_act_convert, q51_tile};
static const hearth_packed_gemm x4_kernels = {x4_group_bytes, x4_pack, x4_act_bytes, x4_act_convert, x4_tile};

/* Returns the AVX2 packed kernels of IQ4_XS, Q4_1 or Q5_1, or NULL. Does
 * not block. */
const hearth_packed_gemm *hearth_packed_gemm_avx2_extra(uint32_t type) {
    switch (type) {
    case HEARTH_TYPE_Q4_1: return &q41_kernels;
    case HEARTH_TYPE_Q5_1: return &q51_kernels;
    case HEARTH_TYPE_IQ4_XS: return &x4_kernels;
    default: return NULL;
    }
}
