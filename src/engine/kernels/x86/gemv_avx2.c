/* gemv_avx2.c - decode kernels (AVX2 + FMA + F16C; see kernels/gemv.h).
 *
 * Q4_0: the vec_dot spends most of its instructions on work that does not
 * depend on the weights: the sign trick that lets maddubs multiply signed
 * nibbles (q - 8) by signed activations, and the per-block scale products.
 * Here the nibbles stay unsigned (0..15, maddubs' unsigned operand as they
 * are) and the activation side is prepared once per token:
 *   sum (q - 8) * a = sum q * a - 8 * sum a,
 * with 8 * sum a precomputed per block. Two blocks share one 256-bit load
 * (block A's 16 bytes in the low lane, B's in the high lane), so one AND
 * gives both blocks' low nibbles and one shift + AND their high nibbles;
 * the prepared activation holds, per 4 blocks A B C D,
 *   A[0..15] B[0..15] | A[16..31] B[16..31] | C,D likewise (128 bytes)
 *   8 * sum per block, int32 lanes [A C A C B D B D]   (32 bytes)
 *   the activation scales as floats, same lanes          (32 bytes)
 * maddubs pair sums are at most 2 * 15 * 127 = 3810 and two are added in
 * 16 bits (7620 < 32768), so every block's integer is exact, and the float
 * statements are those of HX_DOT_SYM32 (quant_x86_body.h): block b is
 * added to accumulator b % 4 as fma(d_x * d_y, (float)isum, acc) — here the
 * accumulators are lanes 0 (b%4 = 0), 4 (1), 1 (2) and 5 (3) — and the
 * result is (acc0 + acc1) + (acc2 + acc3). Blocks past the last full group
 * of 4 keep their Q8_0 form and go through the same statements one by one.
 */
#include <immintrin.h>
#include <string.h>

#include "engine/kernels/gemv.h"
#include "engine/kernels/prefetch.h"
#include "engine/quant_blocks.h"
#include "hearth/quant.h"

enum { G40_GROUP = 192, G40_CORR = 128, G40_D = 160 };

/* Returns the prepared size of an activation row of n values. Does not
 * block. */
static size_t g40_act_bytes(int64_t n) {
    const int64_t nb = n / 32, ng = nb / 4;
    return (size_t)ng * G40_GROUP + (size_t)(nb - 4 * ng) * sizeof(block_q8_0);
}

/* Sum of a Q8_0 block's 32 quants. */
static int q8_sum(const block_q8_0 *y) {
    int s = 0;
    for (int i = 0; i < 32; i++) s += y->qs[i];
    return s;
}

/* Ends a row: blocks first..nb-1 of x (blocks xs bytes apart, fp16 scale
 * first), whose activations stay Q8_0 blocks at y, go to accumulators
 * s[b % 4] with the vec_dot's statements, one by one; returns
 * (s0 + s1) + (s2 + s3). isum is the type's exact integer block dot
 * (a constant after inlining). */
static inline __attribute__((always_inline)) float finish_row(float s[4], const uint8_t *x, size_t xs, int64_t first,
                                                              int64_t nb, const block_q8_0 *y,
                                                              int (*isum)(const void *, const block_q8_0 *)) {
    for (int64_t i = first; i < nb; i++, y++) {
        uint16_t hd;
        memcpy(&hd, x + (size_t)i * xs, sizeof hd);
        const __m128 d = _mm_set_ss(_cvtsh_ss(hd) * _cvtsh_ss(y->d));
        const __m128 v = _mm_set_ss((float)isum(x + (size_t)i * xs, y));
        s[i & 3] = _mm_cvtss_f32(_mm_fmadd_ss(d, v, _mm_set_ss(s[i & 3])));
    }
    return (s[0] + s[1]) + (s[2] + s[3]);
}

/* Prepares one Q8_0 activation row (see the file comment). Does not
 * block. */
static void g40_act_prepare(int64_t n, const void *src, void *dst) {
    const block_q8_0 *y = src;
    const int64_t nb = n / 32, ng = nb / 4;
    uint8_t *o = dst;
    for (int64_t g = 0; g < ng; g++, o += G40_GROUP) {
        const block_q8_0 *a = y + 4 * g; /* A B C D */
        for (int p = 0; p < 2; p++) {
            memcpy(o + 64 * p, a[2 * p].qs, 16);
            memcpy(o + 64 * p + 16, a[2 * p + 1].qs, 16);
            memcpy(o + 64 * p + 32, a[2 * p].qs + 16, 16);
            memcpy(o + 64 * p + 48, a[2 * p + 1].qs + 16, 16);
        }
        static const int lane_block[8] = {0, 2, 0, 2, 1, 3, 1, 3};
        int32_t corr[8];
        float d[8];
        for (int l = 0; l < 8; l++) {
            corr[l] = 8 * q8_sum(&a[lane_block[l]]);
            d[l] = _cvtsh_ss(a[lane_block[l]].d);
        }
        memcpy(o + G40_CORR, corr, sizeof corr);
        memcpy(o + G40_D, d, sizeof d);
    }
    memcpy(o, y + 4 * ng, (size_t)(nb - 4 * ng) * sizeof(block_q8_0));
}

/* Exact integer dot of one Q4_0 block with one Q8_0 block. */
static int q40_block_isum(const void *vx, const block_q8_0 *y) {
    const block_q4_0 *x = vx;
    int s = 0;
    for (int i = 0; i < 16; i++) {
        s += ((x->qs[i] & 0x0F) - 8) * y->qs[i];
        s += ((x->qs[i] >> 4) - 8) * y->qs[i + 16];
    }
    return s;
}

/* One Q4_0 row against a prepared activation. */
static inline float g40_row(const block_q4_0 *x, int64_t nb, const uint8_t *act) {
    const int64_t ng = nb / 4;
    const __m256i m4 = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
    __m256 acc = _mm256_setzero_ps();
    const uint8_t *a = act;
    for (int64_t g = 0; g < ng; g++, a += G40_GROUP) {
        const block_q4_0 *xb = x + 4 * g;
        hearth_prefetch_ahead(xb, 4 * sizeof *xb - 8); /* one line per 72-byte group */
        const __m256i qab = _mm256_inserti128_si256(
            _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)xb[0].qs)),
            _mm_loadu_si128((const __m128i *)(const void *)xb[1].qs), 1);
        const __m256i qcd = _mm256_inserti128_si256(
            _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)xb[2].qs)),
            _mm_loadu_si128((const __m128i *)(const void *)xb[3].qs), 1);
        const __m256i pab = _mm256_add_epi16(
            _mm256_maddubs_epi16(_mm256_and_si256(qab, m4), _mm256_load_si256((const __m256i *)(const void *)a)),
            _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(qab, 4), m4),
                                 _mm256_load_si256((const __m256i *)(const void *)(a + 32))));
        const __m256i pcd = _mm256_add_epi16(
            _mm256_maddubs_epi16(_mm256_and_si256(qcd, m4), _mm256_load_si256((const __m256i *)(const void *)(a + 64))),
            _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(qcd, 4), m4),
                                 _mm256_load_si256((const __m256i *)(const void *)(a + 96))));
        /* lanes [A0..3 | B0..3] and [C0..3 | D0..3] -> [A C A C | B D B D] */
        __m256i h = _mm256_hadd_epi32(_mm256_madd_epi16(pab, ones), _mm256_madd_epi16(pcd, ones));
        h = _mm256_hadd_epi32(h, h);
        h = _mm256_sub_epi32(h, _mm256_load_si256((const __m256i *)(const void *)(a + G40_CORR)));
        /* halves [A C 0 0 B D 0 0] (lanes 2, 3, 6, 7 get scale 0), each
         * inserted from memory: built in integer registers, the compiler
         * made them a long shuffle chain */
        __m128i hx = _mm_cvtsi32_si128(xb[0].d);
        hx = _mm_insert_epi16(hx, xb[2].d, 1);
        hx = _mm_insert_epi16(hx, xb[1].d, 4);
        hx = _mm_insert_epi16(hx, xb[3].d, 5);
        const __m256 dx = _mm256_cvtph_ps(hx);
        const __m256 d = _mm256_mul_ps(dx, _mm256_load_ps((const float *)(const void *)(a + G40_D)));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(h), acc);
    }
    float l[8];
    _mm256_storeu_ps(l, acc);
    float s[4] = {l[0], l[4], l[1], l[5]};
    return finish_row(s, (const uint8_t *)x, sizeof *x, 4 * ng, nb, (const block_q8_0 *)(const void *)a,
                      q40_block_isum);
}

/* The Q4_0 rows kernel; see gemv.h. Does not block. */
static void g40_rows(int64_t n, float *s, const void *x, size_t bx, int64_t nr, const void *act) {
    const int64_t nb = n / 32;
    for (int64_t r = 0; r < nr; r++)
        s[r] = g40_row((const block_q4_0 *)(const void *)((const uint8_t *)x + (size_t)r * bx), nb, act);
}

static const hearth_gemv q40_gemv = {g40_act_bytes, g40_act_prepare, g40_rows};

/* ---- Q8_0 -----------------------------------------------------------------
 * Signed weights against signed activations keep the vec_dot's sign trick
 * (|w| times a with w's sign: exact for w = -128 too), so the savings are in
 * the per-4-block work: the activation scales are prepared as floats in
 * order, the 4 block sums are reduced with 3 horizontal adds into lanes
 * [A B C D] (accumulators b % 4 directly), and the weight scales are
 * converted 4 at a time. A group of 4 blocks is the 4 Q8_0 quant arrays
 * (128 bytes) then the 4 scales as floats, padded to 160 bytes. */
enum { G80_GROUP = 160, G80_D = 128 };

/* Returns the prepared size of an activation row of n values. Does not
 * block. */
static size_t g80_act_bytes(int64_t n) {
    const int64_t nb = n / 32, ng = nb / 4;
    return (size_t)ng * G80_GROUP + (size_t)(nb - 4 * ng) * sizeof(block_q8_0);
}

/* Prepares one Q8_0 activation row (see above). Does not block. */
static void g80_act_prepare(int64_t n, const void *src, void *dst) {
    const block_q8_0 *y = src;
    const int64_t nb = n / 32, ng = nb / 4;
    uint8_t *o = dst;
    for (int64_t g = 0; g < ng; g++, o += G80_GROUP) {
        float d[8] = {0};
        for (int k = 0; k < 4; k++) {
            memcpy(o + 32 * k, y[4 * g + k].qs, 32);
            d[k] = _cvtsh_ss(y[4 * g + k].d);
        }
        memcpy(o + G80_D, d, sizeof d);
    }
    memcpy(o, y + 4 * ng, (size_t)(nb - 4 * ng) * sizeof(block_q8_0));
}

/* Exact integer dot of two Q8_0 blocks. */
static int q80_block_isum(const void *vx, const block_q8_0 *y) {
    const block_q8_0 *x = vx;
    int s = 0;
    for (int i = 0; i < 32; i++) s += x->qs[i] * y->qs[i];
    return s;
}

/* The 8 int32 pair-sum lanes of one Q8_0 weight block against 32
 * activation quants (|w| times a with w's sign; pair sums <= 32512). */
static inline __m256i g80_block(const block_q8_0 *x, const uint8_t *a, __m256i ones) {
    const __m256i w = _mm256_loadu_si256((const __m256i *)(const void *)x->qs);
    const __m256i y = _mm256_load_si256((const __m256i *)(const void *)a);
    return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(y, w)), ones);
}

/* One Q8_0 row against a prepared activation. */
static inline float g80_row(const block_q8_0 *x, int64_t nb, const uint8_t *act) {
    const int64_t ng = nb / 4;
    const __m256i ones = _mm256_set1_epi16(1);
    __m128 acc = _mm_setzero_ps();
    const uint8_t *a = act;
    for (int64_t g = 0; g < ng; g++, a += G80_GROUP) {
        const block_q8_0 *xb = x + 4 * g;
        hearth_prefetch_ahead(xb, 4 * sizeof *xb);
        const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(g80_block(&xb[0], a, ones), g80_block(&xb[1], a + 32, ones)),
                                            _mm256_hadd_epi32(g80_block(&xb[2], a + 64, ones), g80_block(&xb[3], a + 96, ones)));
        const __m128i is = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
        uint16_t hd[4];
        for (int k = 0; k < 4; k++) memcpy(&hd[k], &xb[k].d, 2);
        const uint64_t d4 = (uint64_t)hd[0] | (uint64_t)hd[1] << 16 | (uint64_t)hd[2] << 32 | (uint64_t)hd[3] << 48;
        const __m128 dx = _mm_cvtph_ps(_mm_cvtsi64_si128((long long)d4));
        const __m128 d = _mm_mul_ps(dx, _mm_load_ps((const float *)(const void *)(a + G80_D)));
        acc = _mm_fmadd_ps(d, _mm_cvtepi32_ps(is), acc);
    }
    float s[4];
    _mm_storeu_ps(s, acc);
    return finish_row(s, (const uint8_t *)x, sizeof *x, 4 * ng, nb, (const block_q8_0 *)(const void *)a,
                      q80_block_isum);
}

/* The Q8_0 rows kernel; see gemv.h. Does not block. */
static void g80_rows(int64_t n, float *s, const void *x, size_t bx, int64_t nr, const void *act) {
    const int64_t nb = n / 32;
    for (int64_t r = 0; r < nr; r++)
        s[r] = g80_row((const block_q8_0 *)(const void *)((const uint8_t *)x + (size_t)r * bx), nb, act);
}

static const hearth_gemv q80_gemv = {g80_act_bytes, g80_act_prepare, g80_rows};

/* Returns the AVX2 gemv kernels of `type`, or NULL. Does not block. */
const hearth_gemv *hearth_gemv_avx2(uint32_t type) {
    switch (type) {
    case HEARTH_TYPE_Q4_0: return &q40_gemv;
    case HEARTH_TYPE_Q8_0: return &q80_gemv;
    default: return NULL;
    }
}
