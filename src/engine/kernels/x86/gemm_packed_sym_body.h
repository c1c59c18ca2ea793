/* gemm_packed_sym_body.h - the packed prefill kernels of the 32-value
 * symmetric types (Q4_0; Q8_0, and Q5_0 and IQ4_NL unpacked to its layout),
 * shared by the AVX2 level (gemm_packed_avx2.c: maddubs) and the VNNI levels
 * (vpdpbusd). The including file defines PK_VNNI (0 or 1) and, with 1,
 * PK_DOT_U8S8(acc, u, s): acc (8 x int32) plus the 4-byte-group dots of
 * unsigned u and signed s, with no saturation. Everything is static; the
 * includer gets pk_sym_get(type).
 *
 * Q4_0: a packed group keeps the weights as 4-bit nibbles, so it is as
 * small as the rows it comes from and cheap to build: per 32-value block,
 * four 32-byte vectors, vector k holding bytes 4k..4k+3 of the 8 rows' qs
 * (row r in int32 lane r: low nibbles are values 4k..4k+3, high nibbles
 * values 16+4k..16+4k+3), then the rows' scales (float x 8): 160 bytes per
 * block. Activations are the Q8_0 quants unchanged (their natural order is
 * the packed one), after the row's nb block scales as floats and nb
 * corrections 8 * sum(a) as int32. Per block and token the inner work is 8
 * broadcasts and 8 maddubs and 8 adds for 8 rows (8 vpdpbusd with VNNI),
 * plus one AND, one shift and one AND per 4-byte group shared by all
 * tokens:
 *   sum (q - 8) * a = sum q * a - 8 * sum a,
 * with 16-bit pair sums of at most 2 * 15 * 128 = 3840, eight of which stay
 * below 32768, so the block's integer is exact. The float statements are
 * those of the symmetric vec_dot (quant_x86_body.h): block b goes to
 * accumulator b % 4 as fma(d_x * d_y, (float)isum, acc), and the result is
 * (acc0 + acc1) + (acc2 + acc3).
 */
#ifndef HEARTH_GEMM_PACKED_SYM_BODY_H
#define HEARTH_GEMM_PACKED_SYM_BODY_H

#if !defined(PK_VNNI)
#error "define PK_VNNI (and PK_DOT_U8S8 when it is 1) before including gemm_packed_sym_body.h"
#endif

#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#include "engine/kernels/packed.h"
#include "engine/kernels/x86/blocks_x86.h"
#include "engine/kernels/x86/packed_x86.h"
#include "engine/quant_blocks.h"
#include "hearth/quant.h"

enum { Q40_BLOCK = 160, Q40_QS = 0, Q40_D = 128 };

/* Returns the packed size of 8 rows of n Q4_0 values. Does not block. */
static size_t q40_group_bytes(int64_t n) { return (size_t)(n / 32) * Q40_BLOCK; }

/* Returns the activation row size for n values. Does not block. */
static size_t q40_act_bytes(int64_t n) { return (size_t)(n / 32) * (2 * sizeof(float) + 32); }

/* Converts one Q8_0 row: block scales as floats, then f * sum(a) per
 * block, then the quants as they are (f = 8 for Q4_0's offset nibbles,
 * 128 for the VNNI Q8_0 layout's offset bytes). */
PK_INLINE void bsum_act_convert(int64_t n, const void *src, void *dst, int32_t f) {
    const block_q8_0 *y = src;
    const int64_t nb = n / 32;
    float *d = dst;
    int32_t *bs = (int32_t *)dst + nb;
    uint8_t *q = (uint8_t *)dst + (size_t)nb * 2 * sizeof(float);
    for (int64_t b = 0; b < nb; b++) {
        d[b] = _cvtsh_ss(y[b].d);
        int32_t sum = 0;
        for (int i = 0; i < 32; i++) sum += y[b].qs[i];
        bs[b] = f * sum;
        memcpy(q + 32 * b, y[b].qs, 32);
    }
}

/* Converts one activation row for the Q4_0 tile. Does not block. */
static void q40_act_convert(int64_t n, const void *src, void *dst) { bsum_act_convert(n, src, dst, 8); }

/* Packs up to 8 Q4_0 rows (see the file comment): rows j and j + 4 share
 * one vector, so a 4 x 4 transpose of 4-byte groups in each 128-bit half
 * gives the packed vectors. */
PK_INLINE void q40_pack_nr(int64_t n, const void *vx, size_t bx, int nr, void *vdst) {
    const int64_t nb = n / 32;
    uint8_t *dst = vdst;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *x = (const uint8_t *)vx + (size_t)b * sizeof(block_q4_0); /* row 0's block b */
        __m256i r[4];
        PK_UNROLL
        for (int j = 0; j < 4; j++) {
            const __m128i lo = j < nr ? _mm_loadu_si128((const __m128i *)(const void *)(x + (size_t)j * bx + 2))
                                      : _mm_setzero_si128();
            const __m128i hi = j + 4 < nr ? _mm_loadu_si128((const __m128i *)(const void *)(x + (size_t)(j + 4) * bx + 2))
                                          : _mm_setzero_si128();
            r[j] = _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
        }
        const __m256i t0 = _mm256_unpacklo_epi32(r[0], r[1]), t1 = _mm256_unpackhi_epi32(r[0], r[1]);
        const __m256i t2 = _mm256_unpacklo_epi32(r[2], r[3]), t3 = _mm256_unpackhi_epi32(r[2], r[3]);
        uint8_t *p = dst + (size_t)b * Q40_BLOCK;
        _mm256_store_si256((__m256i *)(void *)(p + Q40_QS), _mm256_unpacklo_epi64(t0, t2));
        _mm256_store_si256((__m256i *)(void *)(p + Q40_QS + 32), _mm256_unpackhi_epi64(t0, t2));
        _mm256_store_si256((__m256i *)(void *)(p + Q40_QS + 64), _mm256_unpacklo_epi64(t1, t3));
        _mm256_store_si256((__m256i *)(void *)(p + Q40_QS + 96), _mm256_unpackhi_epi64(t1, t3));
        pk_store_row_scales(p + Q40_D, x, bx, nr);
    }
}

/* q40_pack_nr with the common full group compiled on its own. Does not
 * block. */
static void q40_pack(int64_t n, const void *vx, size_t bx, int nr, void *vdst) {
    if (nr == HEARTH_PACK_ROWS)
        q40_pack_nr(n, vx, bx, HEARTH_PACK_ROWS, vdst);
    else
        q40_pack_nr(n, vx, bx, nr, vdst);
}

/* Block b of the tile for nt tokens (compile-time): acc[t] += d_x d_y isum
 * for each token t. */
PK_INLINE void q40_block(const uint8_t *pk, const float *const d[HEARTH_PACK_TOKENS],
                         const int32_t *const bs[HEARTH_PACK_TOKENS], const uint8_t *const q[HEARTH_PACK_TOKENS],
                         int64_t b, int nt, __m256 *acc[HEARTH_PACK_TOKENS]) {
    const uint8_t *w = pk + (size_t)b * Q40_BLOCK;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256i s[HEARTH_PACK_TOKENS];
    PK_UNROLL
    for (int k = 0; k < 4; k++) {
        const __m256i wq = _mm256_load_si256((const __m256i *)(const void *)(w + Q40_QS + 32 * k));
        const __m256i lo = _mm256_and_si256(wq, m4), hi = _mm256_and_si256(_mm256_srli_epi16(wq, 4), m4);
        PK_UNROLL
        for (int t = 0; t < nt; t++) {
#if PK_VNNI
            s[t] = PK_DOT_U8S8(k == 0 ? _mm256_setzero_si256() : s[t], lo, pk_bcast4(q[t] + 32 * b + 4 * k));
            s[t] = PK_DOT_U8S8(s[t], hi, pk_bcast4(q[t] + 32 * b + 16 + 4 * k));
#else
            const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(lo, pk_bcast4(q[t] + 32 * b + 4 * k)),
                                               _mm256_maddubs_epi16(hi, pk_bcast4(q[t] + 32 * b + 16 + 4 * k)));
            s[t] = k == 0 ? p : _mm256_add_epi16(s[t], p);
#endif
            PK_CHAIN(s[t]);
        }
    }
    const __m256 dx = _mm256_load_ps((const float *)(const void *)(w + Q40_D));
    PK_UNROLL
    for (int t = 0; t < nt; t++) {
#if PK_VNNI
        const __m256i i = _mm256_sub_epi32(s[t], _mm256_set1_epi32(bs[t][b]));
#else
        const __m256i i = _mm256_sub_epi32(_mm256_madd_epi16(s[t], _mm256_set1_epi16(1)), _mm256_set1_epi32(bs[t][b]));
#endif
        *acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dx, _mm256_broadcast_ss(d[t] + b)), _mm256_cvtepi32_ps(i), *acc[t]);
    }
}

/* ---- Q8_0 -----------------------------------------------------------------
 * Offsetting the activations as for Q4_0 would overflow maddubs' 16-bit pair
 * sums (255 * 127 * 2 > 32767), so without VNNI Q8_0 uses the sign trick on
 * the packed rows instead: a packed block holds |w| of 8 rows interleaved in
 * 4-byte groups (unsigned, at most 128), then w itself in the same order,
 * then the rows' scales as floats (544 bytes). Per group and token:
 * broadcast the token's 4 quants, give them the signs of w (sign_epi8),
 * maddubs with |w| (pair sums at most 2 * 128 * 127 = 32512: exact), widen
 * to int32 and add. Activations are the Q8_0 quants unchanged after the
 * row's block scales as floats.
 * With VNNI, vpdpbusd adds into int32 with no 16-bit step, so the rows are
 * stored offset instead, w + 128 (unsigned), then the scales (288 bytes),
 * and the activations carry 128 * sum(a) per block as Q4_0's carry 8 *
 * sum(a): per group and token one broadcast and one vpdpbusd.
 * The float statements are the vec_dot's, as for Q4_0. */
#if PK_VNNI
enum { Q80_BLOCK = 288, Q80_U = 0, Q80_D = 256 };
#else
enum { Q80_BLOCK = 544, Q80_ABS = 0, Q80_SGN = 256, Q80_D = 512 };
#endif

/* Returns the packed size of 8 rows of n Q8_0 values. Does not block. */
static size_t q80_group_bytes(int64_t n) { return (size_t)(n / 32) * Q80_BLOCK; }

#if PK_VNNI
/* The activation layout is Q4_0's, with 128 * sum(a). Do not block. */
static size_t q80_act_bytes(int64_t n) { return q40_act_bytes(n); }
static void q80_act_convert(int64_t n, const void *src, void *dst) { bsum_act_convert(n, src, dst, 128); }
#else
/* Returns the activation row size for n values. Does not block. */
static size_t q80_act_bytes(int64_t n) { return (size_t)(n / 32) * (sizeof(float) + 32); }

/* Converts one Q8_0 activation row: block scales as floats, then quants. */
static void q80_act_convert(int64_t n, const void *src, void *dst) {
    const block_q8_0 *y = src;
    const int64_t nb = n / 32;
    float *d = dst;
    uint8_t *q = (uint8_t *)dst + (size_t)nb * sizeof(float);
    for (int64_t b = 0; b < nb; b++) {
        d[b] = _cvtsh_ss(y[b].d);
        memcpy(q + 32 * b, y[b].qs, 32);
    }
}
#endif

/* Packs up to 8 rows of symmetric 32-value kind k (blocks_x86.h) in the
 * Q8_0 layout above: Q5_0 and IQ4_NL blocks are unpacked to their signed
 * values and then multiply like Q8_0's (their vec_dots share its float
 * statements). */
PK_INLINE void sym_pack(int64_t n, const void *vx, size_t bx, int nr, void *vdst, int k) {
    const int64_t nb = n / 32;
    const size_t xs = hx_sym_size(k);
    uint8_t *dst = vdst;
    for (int64_t b = 0; b < nb; b++) {
        __m256i r[8], o[8];
        PK_UNROLL
        for (int i = 0; i < 8; i++)
            r[i] = i < nr ? hx_unpack_sym((const uint8_t *)vx + (size_t)i * bx + (size_t)b * xs, k) : _mm256_setzero_si256();
        pk_transpose8(r, o);
        uint8_t *p = dst + (size_t)b * Q80_BLOCK;
        PK_UNROLL
        for (int g = 0; g < 8; g++) {
#if PK_VNNI
            _mm256_store_si256((__m256i *)(void *)(p + Q80_U + 32 * g), _mm256_xor_si256(o[g], _mm256_set1_epi8((char)0x80)));
#else
            _mm256_store_si256((__m256i *)(void *)(p + Q80_ABS + 32 * g), _mm256_sign_epi8(o[g], o[g]));
            _mm256_store_si256((__m256i *)(void *)(p + Q80_SGN + 32 * g), o[g]);
#endif
        }
        pk_store_row_scales(p + Q80_D, (const uint8_t *)vx + (size_t)b * xs, bx, nr);
    }
}

/* Packs up to 8 Q8_0, Q5_0 or IQ4_NL rows (see above). Do not block. */
static void q80_pack(int64_t n, const void *vx, size_t bx, int nr, void *vdst) { sym_pack(n, vx, bx, nr, vdst, HX_K_Q8_0); }
static void q50_pack(int64_t n, const void *vx, size_t bx, int nr, void *vdst) { sym_pack(n, vx, bx, nr, vdst, HX_K_Q5_0); }
static void iq4nl_pack(int64_t n, const void *vx, size_t bx, int nr, void *vdst) {
    sym_pack(n, vx, bx, nr, vdst, HX_K_IQ4_NL);
}

/* Block b of a Q8_0 tile for nt tokens (compile-time): acc[t] += d_x d_y
 * isum for each token t. */
PK_INLINE void q80_block(const uint8_t *pk, const float *const d[HEARTH_PACK_TOKENS],
                         const int32_t *const bs[HEARTH_PACK_TOKENS], const uint8_t *const q[HEARTH_PACK_TOKENS],
                         int64_t b, int nt, __m256 *acc[HEARTH_PACK_TOKENS]) {
    const uint8_t *w = pk + (size_t)b * Q80_BLOCK;
    __m256i s[HEARTH_PACK_TOKENS];
#if PK_VNNI
    PK_UNROLL
    for (int g = 0; g < 8; g++) {
        const __m256i wu = _mm256_load_si256((const __m256i *)(const void *)(w + Q80_U + 32 * g));
        PK_UNROLL
        for (int t = 0; t < nt; t++) {
            s[t] = PK_DOT_U8S8(g == 0 ? _mm256_setzero_si256() : s[t], wu, pk_bcast4(q[t] + 32 * b + 4 * g));
            PK_CHAIN(s[t]);
        }
    }
    PK_UNROLL
    for (int t = 0; t < nt; t++) s[t] = _mm256_sub_epi32(s[t], _mm256_set1_epi32(bs[t][b]));
#else
    (void)bs;
    const __m256i ones = _mm256_set1_epi16(1);
    PK_UNROLL
    for (int g = 0; g < 8; g++) {
        const __m256i ua = _mm256_load_si256((const __m256i *)(const void *)(w + Q80_ABS + 32 * g));
        const __m256i sg = _mm256_load_si256((const __m256i *)(const void *)(w + Q80_SGN + 32 * g));
        PK_UNROLL
        for (int t = 0; t < nt; t++) {
            const __m256i p =
                _mm256_madd_epi16(_mm256_maddubs_epi16(ua, _mm256_sign_epi8(pk_bcast4(q[t] + 32 * b + 4 * g), sg)), ones);
            s[t] = g == 0 ? p : _mm256_add_epi32(s[t], p);
            PK_CHAIN(s[t]);
        }
    }
#endif
    const __m256 dx = _mm256_load_ps((const float *)(const void *)(w + Q80_D));
    PK_UNROLL
    for (int t = 0; t < nt; t++)
        *acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dx, _mm256_broadcast_ss(d[t] + b)), _mm256_cvtepi32_ps(s[t]), *acc[t]);
}

enum { PK_Q4_0, PK_Q8_0 };

/* Block b of a tile of kind k (compile-time). */
PK_INLINE void pk_block(int k, const uint8_t *pk, const float *const d[HEARTH_PACK_TOKENS],
                        const int32_t *const bs[HEARTH_PACK_TOKENS], const uint8_t *const q[HEARTH_PACK_TOKENS], int64_t b,
                        int nt, __m256 *acc[HEARTH_PACK_TOKENS]) {
    if (k == PK_Q4_0)
        q40_block(pk, d, bs, q, b, nt, acc);
    else
        q80_block(pk, d, bs, q, b, nt, acc);
}

/* A tile of a 32-value kind k of 8 rows and nt tokens (both compile-time):
 * block b goes to phase b % 4, as in the vec_dot. */
PK_INLINE void pk_tile_nt(int64_t n, float *s, size_t lds, const uint8_t *pk, const uint8_t *act, size_t ab, int nr,
                          int nt, int k) {
    const int64_t nb = n / 32;
    const float *d[HEARTH_PACK_TOKENS];
    const int32_t *bs[HEARTH_PACK_TOKENS]; /* in the layouts with block sums */
    const uint8_t *q[HEARTH_PACK_TOKENS];
    PK_UNROLL
    for (int t = 0; t < HEARTH_PACK_TOKENS; t++) {
        const uint8_t *a = act + (t < nt ? (size_t)t * ab : 0);
        d[t] = (const float *)(const void *)a;
        bs[t] = (const int32_t *)(const void *)(a + (size_t)nb * sizeof(float));
        q[t] = a + (size_t)nb * (k == PK_Q4_0 || PK_VNNI ? 2 : 1) * sizeof(float);
    }
    /* One phase at a time: only nt accumulators stay live (all 4 phases at
     * once need 16 and the compiler spills them), and each phase still adds
     * its blocks in increasing order, as the vec_dot does. */
    __m256 res[4][HEARTH_PACK_TOKENS]; /* [phase][token] */
    for (int p = 0; p < 4; p++) {
        __m256 acc[HEARTH_PACK_TOKENS];
        __m256 *ap[HEARTH_PACK_TOKENS];
        PK_UNROLL
        for (int t = 0; t < HEARTH_PACK_TOKENS; t++) {
            acc[t] = _mm256_setzero_ps();
            ap[t] = &acc[t];
        }
        for (int64_t b = p; b < nb; b += 4) pk_block(k, pk, d, bs, q, b, nt, ap);
        PK_UNROLL
        for (int t = 0; t < nt; t++) res[p][t] = acc[t];
    }
    PK_UNROLL
    for (int t = 0; t < nt; t++)
        pk_store(s + (size_t)t * lds, _mm256_add_ps(_mm256_add_ps(res[0][t], res[1][t]), _mm256_add_ps(res[2][t], res[3][t])),
                 nr);
}

/* The Q4_0 and Q8_0 tile kernels; see packed.h. Do not block. */
PK_DEFINE_TILE(q40_tile, pk_tile_nt, PK_Q4_0)
PK_DEFINE_TILE(q80_tile, pk_tile_nt, PK_Q8_0)

static const hearth_packed_gemm q40_kernels = {q40_group_bytes, q40_pack, q40_act_bytes, q40_act_convert,
                                               q40_tile};
static const hearth_packed_gemm q80_kernels = {q80_group_bytes, q80_pack, q80_act_bytes, q80_act_convert,
                                               q80_tile};
static const hearth_packed_gemm q50_kernels = {q80_group_bytes, q50_pack, q80_act_bytes, q80_act_convert,
                                               q80_tile};
static const hearth_packed_gemm iq4nl_kernels = {q80_group_bytes, iq4nl_pack, q80_act_bytes, q80_act_convert,
                                                 q80_tile};

/* Returns this body's packed kernels of `type`, or NULL. Does not block. */
static const hearth_packed_gemm *pk_sym_get(uint32_t type) {
    switch (type) {
    case HEARTH_TYPE_Q4_0: return &q40_kernels;
    case HEARTH_TYPE_Q8_0: return &q80_kernels;
    case HEARTH_TYPE_Q5_0: return &q50_kernels;
    case HEARTH_TYPE_IQ4_NL: return &iq4nl_kernels;
    default: return NULL;
    }
}

#endif
