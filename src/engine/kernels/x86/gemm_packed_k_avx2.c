/* gemm_packed_k_avx2.c - prefill kernels on repacked weight groups for the
 * K-quants (AVX2 + FMA + F16C; see kernels/packed.h and, for the 32-value
 * types and the shared conventions, gemm_packed_avx2.c).
 */
#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#include "engine/kernels/packed.h"
#include "engine/kernels/x86/packed_x86.h"
#include "engine/quant_blocks.h"
#include "hearth/quant.h"

/* ---- Q4_K -----------------------------------------------------------------
 * A packed super-block holds, per 32-value sub-block j, the nibbles q (0..15,
 * unsigned: maddubs' first operand) of 8 rows interleaved in 4-byte groups
 * (256 bytes), then per sub-block the rows' 6-bit scales as int16 pairs
 * (lanes 2r, 2r+1 = scale of row r), then the mins of sub-blocks 2k, 2k+1
 * per row as int16 pairs (k = 0..3), then d and dmin of the rows as floats:
 * 2496 bytes. Activations per super-block: the Q8_K scale (float), the 8
 * sub-block sums of the quants (int16: bsums 2j + 2j+1), padding, then the
 * 256 quants. Per sub-block and token the 8 maddubs pair sums are at most
 * 8 * 2 * 15 * 127 = 30480 (exact in 16 bits), then one madd with the
 * scales widens and weights them. The float statements are the vec_dot's:
 * t = (d_x d_y) isum, tm = (dmin_x d_y) msum, sum += t - tm. */
enum { K4_BLOCK = 2496, K4_QS = 0, K4_SC = 2048, K4_MN = 2304, K4_D = 2432, K4_DMIN = 2464 };
enum { K4_ACT = 288, K4_ACT_BS = 4, K4_ACT_QS = 32 };

/* Returns the packed size of 8 rows of n Q4_K values. Does not block. */
static size_t k4_group_bytes(int64_t n) { return (size_t)(n / HEARTH_QK_K) * K4_BLOCK; }

/* Returns the activation row size for n values. Does not block. */
static size_t k4_act_bytes(int64_t n) { return (size_t)(n / HEARTH_QK_K) * K4_ACT; }

/* Converts one Q8_K row (see above: the bsums of the 8 32-value
 * sub-blocks). Does not block. */
static void k4_act_convert(int64_t n, const void *src, void *dst) { pk_q8k_act_convert(n, src, dst, K4_ACT, 8, K4_ACT_QS); }

/* Returns the 4 bytes at p (rows past nr read as 0) of the 8 rows at x[i],
 * as int32 lane i. */
PK_INLINE __m256i k4_row_words(const uint8_t *const x[8], size_t off, int nr) {
    int32_t w[8];
    PK_UNROLL
    for (int i = 0; i < 8; i++) {
        w[i] = 0;
        if (i < nr) memcpy(&w[i], x[i] + off, 4);
    }
    return _mm256_setr_epi32(w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]);
}

/* Stores the 8 rows' 6-bit sub-block scales and mins of a Q4_K (or Q5_K)
 * super-block in the packed layout (K4_SC, K4_MN). The 12 scale bytes of
 * row i are read as 3 words, lane i of u0, u1, u2; per byte j < 4:
 *   scale j = u0 & 63,  scale j+4 = (u2 & 15) | (u0 >> 6) << 4,
 *   min j   = u1 & 63,  min j+4   = (u2 >> 4) | (u1 >> 6) << 4
 * (quant_blocks.h), so all 8 rows decode at once; then one byte shuffle per
 * output vector spreads them into the int16 lanes. Working in registers
 * matters: building the tables with 2-byte stores and copying them out
 * stalled on store forwarding. */
PK_INLINE void k4_store_scales(uint8_t *p, const uint8_t *const x[8], int nr) {
    const __m256i u0 = k4_row_words(x, 4, nr), u1 = k4_row_words(x, 8, nr), u2 = k4_row_words(x, 12, nr);
    const __m256i m6 = _mm256_set1_epi8(63), m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3);
    const __m256i sc_lo = _mm256_and_si256(u0, m6), mn_lo = _mm256_and_si256(u1, m6);
    const __m256i sc_hi = _mm256_or_si256(_mm256_and_si256(u2, m4),
                                          _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(u0, 6), m2), 4));
    const __m256i mn_hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(u2, 4), m4),
                                          _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(u1, 6), m2), 4));
    PK_UNROLL
    for (int j = 0; j < 8; j++) {
        /* row r's 4 bytes: its byte j % 4, 0, the same byte, 0 */
        const char b = (char)(j & 3);
        const __m256i idx = _mm256_setr_epi8(b, -1, b, -1, (char)(4 + b), -1, (char)(4 + b), -1, (char)(8 + b), -1,
                                             (char)(8 + b), -1, (char)(12 + b), -1, (char)(12 + b), -1, b, -1, b, -1,
                                             (char)(4 + b), -1, (char)(4 + b), -1, (char)(8 + b), -1, (char)(8 + b), -1,
                                             (char)(12 + b), -1, (char)(12 + b), -1);
        _mm256_store_si256((__m256i *)(void *)(p + K4_SC + 32 * j), _mm256_shuffle_epi8(j < 4 ? sc_lo : sc_hi, idx));
    }
    PK_UNROLL
    for (int k = 0; k < 4; k++) {
        /* row r's 4 bytes: its bytes 2k % 4 and 2k % 4 + 1 as int16 */
        const char b = (char)((2 * k) & 3), c = (char)(b + 1);
        const __m256i idx = _mm256_setr_epi8(b, -1, c, -1, (char)(4 + b), -1, (char)(4 + c), -1, (char)(8 + b), -1,
                                             (char)(8 + c), -1, (char)(12 + b), -1, (char)(12 + c), -1, b, -1, c, -1,
                                             (char)(4 + b), -1, (char)(4 + c), -1, (char)(8 + b), -1, (char)(8 + c), -1,
                                             (char)(12 + b), -1, (char)(12 + c), -1);
        _mm256_store_si256((__m256i *)(void *)(p + K4_MN + 32 * k), _mm256_shuffle_epi8(k < 2 ? mn_lo : mn_hi, idx));
    }
}

/* Bit k (0..7) of each byte of v, moved to bit 4 (0x10 or 0): Q5_K's 5th
 * bit of sub-block k. The 16-bit shifts never move a bit across a byte
 * boundary into bit 4 (left by at most 4, right by at most 3). */
PK_INLINE __m256i k5_bit(__m256i v, int k) {
    const __m256i s = k <= 4 ? _mm256_slli_epi16(v, 4 - k) : _mm256_srli_epi16(v, k - 4);
    return _mm256_and_si256(s, _mm256_set1_epi8(0x10));
}

/* Packs up to 8 Q4_K (q5 == 0) or Q5_K rows (see above; Q5_K's q adds its
 * 5th bit, 0..31). Super-blocks are xs bytes apart with d, dmin and the
 * scales first and the quants (and 5th bits) at qs_off (qh_off). */
PK_INLINE void k45_pack(int64_t n, const void *vx, size_t bx, int nr, void *vdst, size_t xs, size_t qs_off,
                        size_t qh_off, int q5) {
    const int64_t nb = n / HEARTH_QK_K;
    uint8_t *dst = vdst;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int64_t b = 0; b < nb; b++) {
        uint8_t *p = dst + (size_t)b * K4_BLOCK;
        const uint8_t *x[8];
        for (int i = 0; i < 8; i++) x[i] = i < nr ? (const uint8_t *)vx + (size_t)i * bx + (size_t)b * xs : NULL;
        for (int c = 0; c < 4; c++) {
            __m256i lo[8], hi[8], o[8];
            PK_UNROLL
            for (int i = 0; i < 8; i++) {
                const __m256i q = x[i] ? _mm256_loadu_si256((const __m256i *)(const void *)(x[i] + qs_off + 32 * c))
                                       : _mm256_setzero_si256();
                lo[i] = _mm256_and_si256(q, m4);
                hi[i] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
                if (q5 && x[i]) {
                    const __m256i h = _mm256_loadu_si256((const __m256i *)(const void *)(x[i] + qh_off));
                    lo[i] = _mm256_or_si256(lo[i], k5_bit(h, 2 * c));
                    hi[i] = _mm256_or_si256(hi[i], k5_bit(h, 2 * c + 1));
                }
            }
            pk_transpose8(lo, o);
            PK_UNROLL
            for (int g = 0; g < 8; g++) _mm256_store_si256((__m256i *)(void *)(p + K4_QS + 256 * (2 * c) + 32 * g), o[g]);
            pk_transpose8(hi, o);
            PK_UNROLL
            for (int g = 0; g < 8; g++)
                _mm256_store_si256((__m256i *)(void *)(p + K4_QS + 256 * (2 * c + 1) + 32 * g), o[g]);
        }
        k4_store_scales(p, x, nr);
        const uint8_t *x0 = (const uint8_t *)vx + (size_t)b * xs; /* d, then dmin, lead the super-block */
        pk_store_row_scales(p + K4_D, x0, bx, nr);
        pk_store_row_scales(p + K4_DMIN, x0 + 2, bx, nr);
    }
}

/* Packs up to 8 Q4_K rows (see above). Does not block. */
static void k4_pack(int64_t n, const void *vx, size_t bx, int nr, void *vdst) {
    k45_pack(n, vx, bx, nr, vdst, sizeof(block_q4_K), offsetof(block_q4_K, qs), 0, 0);
}

/* Packs up to 8 Q5_K rows (see above). Does not block. */
static void k5_pack(int64_t n, const void *vx, size_t bx, int nr, void *vdst) {
    k45_pack(n, vx, bx, nr, vdst, sizeof(block_q5_K), offsetof(block_q5_K, qs), offsetof(block_q5_K, qh), 1);
}

/* A Q4_K (q5 == 0) or Q5_K tile of 8 rows and nt tokens (both
 * compile-time). Q5_K's pair sums reach 2 * 31 * 127 = 7874, so its 8 per
 * sub-block are summed as two 16-bit halves of 4 (31496), each weighted by
 * the scales in its own madd. */
PK_INLINE void k45_tile_nt(int64_t n, float *s, size_t lds, const uint8_t *pk, const uint8_t *act, size_t ab, int nr,
                           int nt, int q5) {
    const uint8_t *a[HEARTH_PACK_TOKENS];
    PK_UNROLL
    for (int t = 0; t < HEARTH_PACK_TOKENS; t++) a[t] = act + (t < nt ? (size_t)t * ab : 0);
    __m256 acc[HEARTH_PACK_TOKENS];
    PK_UNROLL
    for (int t = 0; t < HEARTH_PACK_TOKENS; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / HEARTH_QK_K; b++) {
        const uint8_t *w = pk + (size_t)b * K4_BLOCK;
        const size_t ao = (size_t)b * K4_ACT;
        __m256i is[HEARTH_PACK_TOKENS], ms[HEARTH_PACK_TOKENS];
        for (int j = 0; j < 8; j++) {
            __m256i s16[HEARTH_PACK_TOKENS], h16[HEARTH_PACK_TOKENS];
            PK_UNROLL
            for (int g = 0; g < 8; g++) {
                const __m256i wg = _mm256_load_si256((const __m256i *)(const void *)(w + K4_QS + 256 * j + 32 * g));
                PK_UNROLL
                for (int t = 0; t < nt; t++) {
                    const __m256i p = _mm256_maddubs_epi16(wg, pk_bcast4(a[t] + ao + K4_ACT_QS + 32 * j + 4 * g));
                    if (q5 && g >= 4) {
                        h16[t] = g == 4 ? p : _mm256_add_epi16(h16[t], p);
                        PK_CHAIN(h16[t]);
                    } else {
                        s16[t] = g == 0 ? p : _mm256_add_epi16(s16[t], p);
                        PK_CHAIN(s16[t]);
                    }
                }
            }
            const __m256i scj = _mm256_load_si256((const __m256i *)(const void *)(w + K4_SC + 32 * j));
            PK_UNROLL
            for (int t = 0; t < nt; t++) {
                __m256i v = _mm256_madd_epi16(s16[t], scj);
                if (q5) v = _mm256_add_epi32(v, _mm256_madd_epi16(h16[t], scj));
                is[t] = j == 0 ? v : _mm256_add_epi32(is[t], v);
            }
        }
        pk_bsum_terms(w + K4_MN, 4, a, ao + K4_ACT_BS, nt, ms);
        const __m256 dx = _mm256_load_ps((const float *)(const void *)(w + K4_D));
        const __m256 mx = _mm256_load_ps((const float *)(const void *)(w + K4_DMIN));
        PK_UNROLL
        for (int t = 0; t < nt; t++) {
            float dyf;
            memcpy(&dyf, a[t] + ao, sizeof dyf);
            acc[t] = pk_acc_with_min(acc[t], dx, mx, dyf, is[t], ms[t]);
        }
    }
    PK_UNROLL
    for (int t = 0; t < nt; t++) pk_store(s + (size_t)t * lds, acc[t], nr);
}

/* The Q4_K and Q5_K tile kernels; see packed.h. Do not block. */
PK_DEFINE_TILE(k4_tile, k45_tile_nt, 0)
PK_DEFINE_TILE(k5_tile, k45_tile_nt, 1)

/* ---- Q6_K, Q3_K, Q2_K: 16 sub-blocks of 16 -------------------------------
 * A packed super-block holds, per 32-value chunk c (sub-blocks 2c, 2c+1 of
 * 16 values), the unsigned q of 8 rows interleaved in 4-byte groups (256
 * bytes; groups 0..3 are sub-block 2c): Q6_K 0..63, Q3_K 0..7 (two low bits
 * and the hmask bit), Q2_K 0..3. Then per sub-block the rows' scales as
 * int16 pairs (lanes 2r, 2r+1): Q6_K's signed scales, Q3_K's 6-bit scale
 * minus 32, Q2_K's 4-bit scale; then per pair of sub-blocks 2k, 2k+1 the
 * factors of the bsum term per row as int16 pairs (k = 0..7): the scales
 * again (Q6_K, Q3_K) or Q2_K's mins; then d and dmin (Q2_K) of the rows as
 * floats: 2880 bytes. Activations per super-block: the Q8_K scale (float),
 * its 16 bsums (int16), padding, the 256 quants. Two maddubs pair sums stay
 * below 2 * 2 * 63 * 127 = 32004 (exact in 16 bits); each such pair is
 * weighted by madd with the scales. As in the vec_dots:
 *   Q6_K: isum = sum sc (q . y) - 32 sum sc bsum, sum += (d_x d_y) isum;
 *   Q3_K: isum = sum sc (q . y) -  4 sum sc bsum, sum += (d_x d_y) isum;
 *   Q2_K: isum = sum sc (q . y), msum = sum m bsum,
 *         sum += (d_x d_y) isum - (dmin_x d_y) msum. */
enum { K16_BLOCK = 2880, K16_QS = 0, K16_SC = 2048, K16_SCP = 2560, K16_D = 2816, K16_DMIN = 2848 };
enum { K16_ACT = 320, K16_ACT_BS = 4, K16_ACT_QS = 64 };
enum { PK_K6, PK_K3, PK_K2 };

/* Returns the packed size of 8 rows of n values. Does not block. */
static size_t k16_group_bytes(int64_t n) { return (size_t)(n / HEARTH_QK_K) * K16_BLOCK; }

/* Returns the activation row size for n values. Does not block. */
static size_t k16_act_bytes(int64_t n) { return (size_t)(n / HEARTH_QK_K) * K16_ACT; }

/* Converts one Q8_K row (see above: its 16 bsums as they are). Does not
 * block. */
static void k16_act_convert(int64_t n, const void *src, void *dst) {
    pk_q8k_act_convert(n, src, dst, K16_ACT, 16, K16_ACT_QS);
}

/* The q of chunks 4h..4h+3 (elements 128h + 32k + l) of one super-block of
 * kind `kind` at x, into q[k]. */
PK_INLINE void k16_values(const uint8_t *x, int h, int kind, __m256i q[4]) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(3), m1 = _mm256_set1_epi8(1);
    if (kind == PK_K6) {
        const block_q6_K *b = (const block_q6_K *)(const void *)x;
        const __m256i l0 = _mm256_loadu_si256((const __m256i *)(const void *)(b->ql + 64 * h));
        const __m256i l1 = _mm256_loadu_si256((const __m256i *)(const void *)(b->ql + 64 * h + 32));
        const __m256i hv = _mm256_loadu_si256((const __m256i *)(const void *)(b->qh + 32 * h));
        q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(hv, m3), 4));
        q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hv, 2), m3), 4));
        q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                               _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hv, 4), m3), 4));
        q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                               _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hv, 6), m3), 4));
        return;
    }
    const uint8_t *qs = kind == PK_K3 ? ((const block_q3_K *)(const void *)x)->qs : ((const block_q2_K *)(const void *)x)->qs;
    const __m256i qv = _mm256_loadu_si256((const __m256i *)(const void *)(qs + 32 * h));
    PK_UNROLL
    for (int k = 0; k < 4; k++) {
        q[k] = _mm256_and_si256(_mm256_srli_epi16(qv, 2 * k), m3);
        if (kind == PK_K3) {
            const __m256i hm = _mm256_loadu_si256((const __m256i *)(const void *)((const block_q3_K *)(const void *)x)->hmask);
            const __m256i hb = _mm256_and_si256(_mm256_srli_epi16(hm, 4 * h + k), m1);
            q[k] = _mm256_or_si256(q[k], _mm256_slli_epi16(hb, 2));
        }
    }
}

/* The 16 sub-block scales (*sc) and bsum factors (*f) of one super-block
 * of kind `kind` at x (see above), as int8 lanes. */
PK_INLINE void k16_scales(const uint8_t *x, int kind, __m128i *sc, __m128i *f) {
    if (kind == PK_K6) {
        *sc = *f = _mm_loadu_si128((const __m128i *)(const void *)((const block_q6_K *)(const void *)x)->scales);
    } else if (kind == PK_K3) {
        const block_q3_K *b = (const block_q3_K *)(const void *)x;
        int8_t v[16];
        for (int j = 0; j < 16; j++) {
            const int lo = j < 8 ? (b->scales[j] & 0x0F) : (b->scales[j - 8] >> 4);
            const int hi = (b->scales[8 + j % 4] >> (2 * (j / 4))) & 3;
            v[j] = (int8_t)((lo | hi << 4) - 32);
        }
        *sc = *f = _mm_loadu_si128((const __m128i *)(const void *)v);
    } else {
        const __m128i v = _mm_loadu_si128((const __m128i *)(const void *)((const block_q2_K *)(const void *)x)->scales);
        const __m128i m4 = _mm_set1_epi8(0x0F);
        *sc = _mm_and_si128(v, m4);
        *f = _mm_and_si128(_mm_srli_epi16(v, 4), m4);
    }
}

/* Stores the 8 rows' scale tables of one super-block (K16_SC, K16_SCP)
 * from their int8 scales sc[i] and factors f[i]: widened to int16, a
 * transpose of 4-byte pairs gives the factor pairs (2k, 2k+1) of every row
 * in one vector, and duplicating each half of those pairs gives the scale
 * vectors. Built in registers: 2-byte table stores copied out wider
 * stalled on store forwarding. */
PK_INLINE void k16_store_tables(uint8_t *p, const __m128i sc[8], const __m128i f[8]) {
    __m256i r[8], o[8];
    PK_UNROLL
    for (int i = 0; i < 8; i++) r[i] = _mm256_cvtepi8_epi16(sc[i]);
    pk_transpose8(r, o);
    PK_UNROLL
    for (int k = 0; k < 8; k++) {
        const __m256i lo = _mm256_shufflehi_epi16(_mm256_shufflelo_epi16(o[k], 0xA0), 0xA0); /* words 0,0,2,2 */
        const __m256i hi = _mm256_shufflehi_epi16(_mm256_shufflelo_epi16(o[k], 0xF5), 0xF5); /* words 1,1,3,3 */
        _mm256_store_si256((__m256i *)(void *)(p + K16_SC + 32 * (2 * k)), lo);
        _mm256_store_si256((__m256i *)(void *)(p + K16_SC + 32 * (2 * k + 1)), hi);
    }
    PK_UNROLL
    for (int i = 0; i < 8; i++) r[i] = _mm256_cvtepi8_epi16(f[i]);
    pk_transpose8(r, o);
    PK_UNROLL
    for (int k = 0; k < 8; k++) _mm256_store_si256((__m256i *)(void *)(p + K16_SCP + 32 * k), o[k]);
}

/* Packs up to 8 rows of kind `kind` (super-blocks xs bytes apart; see
 * above). Does not block. */
PK_INLINE void k16_pack(int64_t n, const void *vx, size_t bx, int nr, void *vdst, int kind, size_t xs) {
    const int64_t nb = n / HEARTH_QK_K;
    uint8_t *dst = vdst;
    for (int64_t b = 0; b < nb; b++) {
        uint8_t *p = dst + (size_t)b * K16_BLOCK;
        const uint8_t *x[8];
        for (int i = 0; i < 8; i++) x[i] = i < nr ? (const uint8_t *)vx + (size_t)i * bx + (size_t)b * xs : NULL;
        for (int h = 0; h < 2; h++) {
            __m256i q[4][8], o[8];
            PK_UNROLL
            for (int i = 0; i < 8; i++) {
                __m256i v[4];
                if (x[i])
                    k16_values(x[i], h, kind, v);
                else
                    v[0] = v[1] = v[2] = v[3] = _mm256_setzero_si256();
                for (int k = 0; k < 4; k++) q[k][i] = v[k];
            }
            for (int k = 0; k < 4; k++) {
                pk_transpose8(q[k], o);
                PK_UNROLL
                for (int g = 0; g < 8; g++)
                    _mm256_store_si256((__m256i *)(void *)(p + K16_QS + 256 * (4 * h + k) + 32 * g), o[g]);
            }
        }
        __m128i sc[8], f[8];
        PK_UNROLL
        for (int i = 0; i < 8; i++) {
            sc[i] = f[i] = _mm_setzero_si128();
            if (x[i]) k16_scales(x[i], kind, &sc[i], &f[i]);
        }
        k16_store_tables(p, sc, f);
        const uint8_t *x0 = (const uint8_t *)vx + (size_t)b * xs;
        const size_t d_off = kind == PK_K6 ? offsetof(block_q6_K, d)
                             : kind == PK_K3 ? offsetof(block_q3_K, d)
                                             : offsetof(block_q2_K, d);
        pk_store_row_scales(p + K16_D, x0 + d_off, bx, nr);
        if (kind == PK_K2)
            pk_store_row_scales(p + K16_DMIN, x0 + offsetof(block_q2_K, dmin), bx, nr);
        else
            _mm256_store_ps((float *)(void *)(p + K16_DMIN), _mm256_setzero_ps());
    }
}

/* Packs up to 8 Q6_K, Q3_K or Q2_K rows (see above). Do not block. */
static void k6_pack(int64_t n, const void *vx, size_t bx, int nr, void *vdst) {
    k16_pack(n, vx, bx, nr, vdst, PK_K6, sizeof(block_q6_K));
}
static void k3_pack(int64_t n, const void *vx, size_t bx, int nr, void *vdst) {
    k16_pack(n, vx, bx, nr, vdst, PK_K3, sizeof(block_q3_K));
}
static void k2_pack(int64_t n, const void *vx, size_t bx, int nr, void *vdst) {
    k16_pack(n, vx, bx, nr, vdst, PK_K2, sizeof(block_q2_K));
}

/* A tile of kind `kind`, 8 rows and nt tokens (both compile-time). */
PK_INLINE void k16_tile_nt(int64_t n, float *s, size_t lds, const uint8_t *pk, const uint8_t *act, size_t ab, int nr,
                           int nt, int kind) {
    const uint8_t *a[HEARTH_PACK_TOKENS];
    PK_UNROLL
    for (int t = 0; t < HEARTH_PACK_TOKENS; t++) a[t] = act + (t < nt ? (size_t)t * ab : 0);
    __m256 acc[HEARTH_PACK_TOKENS];
    PK_UNROLL
    for (int t = 0; t < HEARTH_PACK_TOKENS; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / HEARTH_QK_K; b++) {
        const uint8_t *w = pk + (size_t)b * K16_BLOCK;
        const size_t ao = (size_t)b * K16_ACT;
        __m256i is[HEARTH_PACK_TOKENS], cs[HEARTH_PACK_TOKENS];
        for (int c = 0; c < 8; c++) {
            const uint8_t *wc = w + K16_QS + 256 * c;
            __m256i wg[8];
            PK_UNROLL
            for (int g = 0; g < 8; g++) wg[g] = _mm256_load_si256((const __m256i *)(const void *)(wc + 32 * g));
            const __m256i s0 = _mm256_load_si256((const __m256i *)(const void *)(w + K16_SC + 64 * c));
            const __m256i s1 = _mm256_load_si256((const __m256i *)(const void *)(w + K16_SC + 64 * c + 32));
            PK_UNROLL
            for (int t = 0; t < nt; t++) {
                const uint8_t *y = a[t] + ao + K16_ACT_QS + 32 * c;
                __m256i h[4];
                PK_UNROLL
                for (int e = 0; e < 4; e++)
                    h[e] = _mm256_add_epi16(_mm256_maddubs_epi16(wg[2 * e], pk_bcast4(y + 8 * e)),
                                            _mm256_maddubs_epi16(wg[2 * e + 1], pk_bcast4(y + 8 * e + 4)));
                const __m256i v = _mm256_add_epi32(_mm256_add_epi32(_mm256_madd_epi16(h[0], s0), _mm256_madd_epi16(h[1], s0)),
                                                   _mm256_add_epi32(_mm256_madd_epi16(h[2], s1), _mm256_madd_epi16(h[3], s1)));
                is[t] = c == 0 ? v : _mm256_add_epi32(is[t], v);
            }
        }
        pk_bsum_terms(w + K16_SCP, 8, a, ao + K16_ACT_BS, nt, cs);
        const __m256 dx = _mm256_load_ps((const float *)(const void *)(w + K16_D));
        const __m256 mx = _mm256_load_ps((const float *)(const void *)(w + K16_DMIN));
        PK_UNROLL
        for (int t = 0; t < nt; t++) {
            float dyf;
            memcpy(&dyf, a[t] + ao, sizeof dyf);
            const __m256 dy = _mm256_set1_ps(dyf);
            if (kind == PK_K2) {
                acc[t] = pk_acc_with_min(acc[t], dx, mx, dyf, is[t], cs[t]);
            } else {
                const __m256i isum = _mm256_sub_epi32(is[t], _mm256_slli_epi32(cs[t], kind == PK_K6 ? 5 : 2));
                acc[t] = _mm256_add_ps(acc[t], _mm256_mul_ps(_mm256_mul_ps(dx, dy), _mm256_cvtepi32_ps(isum)));
            }
        }
    }
    PK_UNROLL
    for (int t = 0; t < nt; t++) pk_store(s + (size_t)t * lds, acc[t], nr);
}

/* The Q6_K, Q3_K and Q2_K tile kernels; see packed.h. Do not block. */
PK_DEFINE_TILE(k6_tile, k16_tile_nt, PK_K6)
PK_DEFINE_TILE(k3_tile, k16_tile_nt, PK_K3)
PK_DEFINE_TILE(k2_tile, k16_tile_nt, PK_K2)

static const hearth_packed_gemm k4_kernels = {k4_group_bytes, k4_pack, k4_act_bytes, k4_act_convert, k4_tile};
static const hearth_packed_gemm k5_kernels = {k4_group_bytes, k5_pack, k4_act_bytes, k4_act_convert, k5_tile};
static const hearth_packed_gemm k6_kernels = {k16_group_bytes, k6_pack, k16_act_bytes, k16_act_convert, k6_tile};
static const hearth_packed_gemm k3_kernels = {k16_group_bytes, k3_pack, k16_act_bytes, k16_act_convert, k3_tile};
static const hearth_packed_gemm k2_kernels = {k16_group_bytes, k2_pack, k16_act_bytes, k16_act_convert, k2_tile};

/* Returns the AVX2 packed kernels of K-quant `type`, or NULL. Does not
 * block. */
const hearth_packed_gemm *hearth_packed_gemm_avx2_k(uint32_t type) {
    switch (type) {
    case HEARTH_TYPE_Q4_K: return &k4_kernels;
    case HEARTH_TYPE_Q5_K: return &k5_kernels;
    case HEARTH_TYPE_Q6_K: return &k6_kernels;
    case HEARTH_TYPE_Q3_K: return &k3_kernels;
    case HEARTH_TYPE_Q2_K: return &k2_kernels;
    default: return hearth_packed_gemm_avx2_extra(type);
    }
}
