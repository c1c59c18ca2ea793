/* quant_i8mm.c - the aarch64 int8 matrix-multiply level (built with
 * -march=armv8.6-a+dotprod+i8mm+fp16; used only where the OS reports both
 * asimddp and i8mm / FEAT_DotProd and FEAT_I8MM).
 *
 * The level runs the dot-product level's kernels (dispatch.c registers the
 * dotprod lists first) plus register-tile (gemm) kernels built on SMMLA
 * (vmmlaq_s32): one instruction multiplies a 2x8 byte tile of two weight
 * rows by an 8x2 byte tile of two tokens into the 2x2 int32 dots, so a
 * 4-row x 4-token tile is 2 x 2 such sub-tiles and each unpacked weight
 * block serves every token of the tile.
 *
 * Exactness (dispatch.h): a tile's (row, token) result must be bit for bit
 * the level's vec_dot of that row and token. SMMLA gives each (row, token)
 * the exact integer dot of its 8-byte groups, so every integer sum below
 * (per block, per sub-block times its scale, per super-block) is exactly
 * the integer the vec_dot forms; the floats are then the vec_dot's
 * statements, lane by lane in the 2x2 layout [r0.t0, r0.t1, r1.t0, r1.t1].
 *  - Super-block types (Q4_K, Q5_K, Q6_K, Q8_K) keep quant_arm_body.h's
 *    vec_dots, which reduce each super-block to exact integers before any
 *    float work.
 *  - The 32-value block types (Q4_0, Q5_0, Q8_0, IQ4_NL) do not: the body's
 *    vec_dots convert the four SDOT lanes of a block to float separately,
 *    so the result depends on how a block's sum is split over lanes, which
 *    SMMLA does not reproduce. This level registers its own vec_dots for
 *    them, with the order the x86 levels use: block b adds
 *    fma((float)isum_b, d_x * d_y) to phase accumulator b % 4, and the
 *    result is (acc0 + acc1) + (acc2 + acc3). The vec_dot keeps the four
 *    phases in the lanes of one vector; a tile keeps one vector per phase.
 *
 * Rows past nr repeat row 0 and tokens past nt repeat token 0 (computed in
 * a half-used sub-tile, never stored); a 1- or 2-row (token) tile skips the
 * second pair altogether.
 */
#include <arm_neon.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "engine/kernels/dispatch.h"
#include "engine/quant_blocks.h"

#define HI_INLINE static inline __attribute__((always_inline))
/* Small fixed loops must be unrolled so that their vectors (the phase
 * accumulators above all) stay in registers instead of a stack array. */
#define HI_UNROLL _Pragma("GCC unroll 16")

/* ---- helpers ------------------------------------------------------------ */

/* The fp16 bits at p (blocks are only 2-byte aligned). */
HI_INLINE uint16_t hi_ld16(const void *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return h;
}

/* Four fp16 values widened exactly to floats (FCVTL). */
HI_INLINE float32x4_t hi_h2f4(const uint16_t h[4]) {
    const uint64_t v = (uint64_t)h[0] | (uint64_t)h[1] << 16 | (uint64_t)h[2] << 32 | (uint64_t)h[3] << 48;
    return vcvt_f32_f16(vreinterpret_f16_u64(vcreate_u64(v)));
}

/* SMMLA operands of two 16-byte rows a and b: *lo = [a bytes 0..7, b bytes
 * 0..7], *hi = [a bytes 8..15, b bytes 8..15]. */
HI_INLINE void hi_pair(int8x16_t a, int8x16_t b, int8x16_t *lo, int8x16_t *hi) {
    const int64x2_t a64 = vreinterpretq_s64_s8(a), b64 = vreinterpretq_s64_s8(b);
    *lo = vreinterpretq_s8_s64(vzip1q_s64(a64, b64));
    *hi = vreinterpretq_s8_s64(vzip2q_s64(a64, b64));
}

/* The operands of 32 values of two rows (a0|a1 and b0|b1, 16 bytes each). */
HI_INLINE void hi_pair32(int8x16_t a0, int8x16_t a1, int8x16_t b0, int8x16_t b1, int8x16_t op[4]) {
    hi_pair(a0, b0, &op[0], &op[1]);
    hi_pair(a1, b1, &op[2], &op[3]);
}

/* The operands of the 32 bytes at a and at b. */
HI_INLINE void hi_pair32p(const int8_t *a, const int8_t *b, int8x16_t op[4]) {
    hi_pair32(vld1q_s8(a), vld1q_s8(a + 16), vld1q_s8(b), vld1q_s8(b + 16), op);
}

/* acc + the exact 2x2 dots of 32 values (four SMMLAs). */
HI_INLINE int32x4_t hi_mm32(int32x4_t acc, const int8x16_t a[4], const int8x16_t b[4]) {
    acc = vmmlaq_s32(acc, a[0], b[0]);
    acc = vmmlaq_s32(acc, a[1], b[1]);
    acc = vmmlaq_s32(acc, a[2], b[2]);
    return vmmlaq_s32(acc, a[3], b[3]);
}

/* Row values of pair p in the 2x2 layout: [x0, x0, x1, x1] (p = 0) or
 * [x2, x2, x3, x3] (p = 1). */
HI_INLINE float32x4_t hi_rows_f(float32x4_t x4, int p) {
    return p ? vzip2q_f32(x4, x4) : vzip1q_f32(x4, x4);
}

/* Token values of pair p in the 2x2 layout: [y0, y1, y0, y1] or [y2, y3,
 * y2, y3]. */
HI_INLINE float32x4_t hi_toks_f(float32x4_t y4, int p) {
    return p ? vcombine_f32(vget_high_f32(y4), vget_high_f32(y4)) : vcombine_f32(vget_low_f32(y4), vget_low_f32(y4));
}

/* Row integers (one per row of pair p) in the 2x2 layout. */
HI_INLINE int32x4_t hi_rows_i(int32_t a, int32_t b) {
    return vcombine_s32(vdup_n_s32(a), vdup_n_s32(b));
}

/* Stores the 2x2 result v of row pair rp and token pair tp to s[t * lds +
 * r], skipping rows >= nr and tokens >= nt. */
HI_INLINE void hi_store(float *s, size_t lds, float32x4_t v, int rp, int tp, int nr, int nt) {
    float o[4];
    vst1q_f32(o, v);
    HI_UNROLL
    for (int i = 0; i < 2; i++)
        HI_UNROLL
        for (int j = 0; j < 2; j++) {
            const int r = 2 * rp + i, t = 2 * tp + j;
            if (r < nr && t < nt) s[(size_t)t * lds + (size_t)r] = o[2 * i + j];
        }
}

/* Row and token pointers of a tile: rows past nr repeat row 0, tokens past
 * nt token 0. */
HI_INLINE void hi_tile_ptrs(const void *vx, size_t bx, const void *vy, size_t by, int nr, int nt,
                            const uint8_t *xr[4], const uint8_t *yt[4]) {
    HI_UNROLL
    for (int r = 0; r < 4; r++) xr[r] = (const uint8_t *)vx + (r < nr ? (size_t)r * bx : 0);
    HI_UNROLL
    for (int t = 0; t < 4; t++) yt[t] = (const uint8_t *)vy + (t < nt ? (size_t)t * by : 0);
}

/* ---- 32-value block types (Q4_0, Q5_0, Q8_0, IQ4_NL) ---------------------- */

enum { HI_K_Q4_0, HI_K_Q5_0, HI_K_Q8_0, HI_K_IQ4_NL };

/* Bytes per block of kind k (the fp16 scale is at offset 0 in each). */
HI_INLINE size_t hi_sym_size(int k) {
    switch (k) {
    case HI_K_Q4_0: return sizeof(block_q4_0);
    case HI_K_Q5_0: return sizeof(block_q5_0);
    case HI_K_Q8_0: return sizeof(block_q8_0);
    default: return sizeof(block_iq4_nl);
    }
}

/* The 32 signed values of one block of kind k: *lo = elements 0..15, *hi =
 * elements 16..31. */
HI_INLINE void hi_unpack_sym(const uint8_t *blk, int k, int8x16_t *lo, int8x16_t *hi) {
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    switch (k) {
    case HI_K_Q4_0: {
        const uint8x16_t q = vld1q_u8(((const block_q4_0 *)(const void *)blk)->qs);
        *lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, m4)), vdupq_n_s8(8));
        *hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), vdupq_n_s8(8));
        break;
    }
    case HI_K_Q5_0: {
        /* q - 16 = nibble - 16 * (1 - 5th bit) */
        static const uint8_t bits[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
        const block_q5_0 *x = (const block_q5_0 *)(const void *)blk;
        const uint8x16_t b = vld1q_u8(bits), b16 = vdupq_n_u8(0x10);
        const uint8x16_t h0 = vtstq_u8(vcombine_u8(vdup_n_u8(x->qh[0]), vdup_n_u8(x->qh[1])), b);
        const uint8x16_t h1 = vtstq_u8(vcombine_u8(vdup_n_u8(x->qh[2]), vdup_n_u8(x->qh[3])), b);
        const uint8x16_t q = vld1q_u8(x->qs);
        *lo = vreinterpretq_s8_u8(vsubq_u8(vandq_u8(q, m4), vbicq_u8(b16, h0)));
        *hi = vreinterpretq_s8_u8(vsubq_u8(vshrq_n_u8(q, 4), vbicq_u8(b16, h1)));
        break;
    }
    case HI_K_Q8_0: {
        const int8_t *q = ((const block_q8_0 *)(const void *)blk)->qs;
        *lo = vld1q_s8(q);
        *hi = vld1q_s8(q + 16);
        break;
    }
    default: {
        const int8x16_t table = vld1q_s8(hearth_kvalues_iq4nl);
        const uint8x16_t q = vld1q_u8(((const block_iq4_nl *)(const void *)blk)->qs);
        *lo = vqtbl1q_s8(table, vandq_u8(q, m4));
        *hi = vqtbl1q_s8(table, vshrq_n_u8(q, 4));
        break;
    }
    }
}

/* (a0 + a1) + (a2 + a3) of the lanes of a, in that order. */
HI_INLINE float hi_phase_sum(float32x4_t a) {
    const float32x4_t p = vpaddq_f32(a, a);
    return vgetq_lane_f32(p, 0) + vgetq_lane_f32(p, 1);
}

/* The vec_dot of cnt (1..4) consecutive blocks starting at block i, added
 * to the phase lanes: lane j gets fma((float)isum, d_x * d_y) of block
 * i + j; lanes j >= cnt keep their value. */
HI_INLINE float32x4_t hi_sym_dot4(float32x4_t acc, const uint8_t *x, const block_q8_0 *y, int64_t i, int k, int cnt) {
    const size_t xs = hi_sym_size(k);
    int32x4_t p[4];
    uint16_t dx[4], dy[4];
    HI_UNROLL
    for (int j = 0; j < 4; j++) {
        if (j >= cnt) {
            p[j] = vdupq_n_s32(0);
            dx[j] = dy[j] = 0;
            continue;
        }
        const uint8_t *b = x + (size_t)(i + j) * xs;
        int8x16_t lo, hi;
        hi_unpack_sym(b, k, &lo, &hi);
        p[j] = vdotq_s32(vdotq_s32(vdupq_n_s32(0), lo, vld1q_s8(y[i + j].qs)), hi, vld1q_s8(y[i + j].qs + 16));
        dx[j] = hi_ld16(b);
        dy[j] = y[i + j].d;
    }
    /* exact block totals, block i + j in lane j */
    const int32x4_t tot = vpaddq_s32(vpaddq_s32(p[0], p[1]), vpaddq_s32(p[2], p[3]));
    const float32x4_t d = vmulq_f32(hi_h2f4(dx), hi_h2f4(dy));
    const float32x4_t a = vfmaq_f32(acc, vcvtq_f32_s32(tot), d);
    if (cnt == 4) return a;
    static const uint32_t lanes[4] = {0, 1, 2, 3};
    return vbslq_f32(vcltq_u32(vld1q_u32(lanes), vdupq_n_u32((uint32_t)cnt)), a, acc);
}

/* The i8mm level's vec_dot of a symmetric kind (see the file comment). */
HI_INLINE void hi_vec_dot_sym(int64_t n, float *s, const void *vx, const void *vy, int k) {
    const uint8_t *x = vx;
    const block_q8_0 *y = vy;
    const int64_t nb = n / HEARTH_QK8_0;
    float32x4_t acc = vdupq_n_f32(0.0f);
    int64_t i = 0;
    for (; i + 4 <= nb; i += 4) acc = hi_sym_dot4(acc, x, y, i, k, 4);
    if (i < nb) acc = hi_sym_dot4(acc, x, y, i, k, (int)(nb - i));
    *s = hi_phase_sum(acc);
}

static void hi_vec_dot_q4_0_q8_0(int64_t n, float *s, const void *vx, const void *vy) {
    hi_vec_dot_sym(n, s, vx, vy, HI_K_Q4_0);
}
static void hi_vec_dot_q5_0_q8_0(int64_t n, float *s, const void *vx, const void *vy) {
    hi_vec_dot_sym(n, s, vx, vy, HI_K_Q5_0);
}
static void hi_vec_dot_q8_0_q8_0(int64_t n, float *s, const void *vx, const void *vy) {
    hi_vec_dot_sym(n, s, vx, vy, HI_K_Q8_0);
}
static void hi_vec_dot_iq4_nl_q8_0(int64_t n, float *s, const void *vx, const void *vy) {
    hi_vec_dot_sym(n, s, vx, vy, HI_K_IQ4_NL);
}

/* Block b of a tile (phase ph = b % 4): f[rp][tp][ph] += (float)isum * d_x
 * d_y, fused, for the 2x2 sub-tiles of np row pairs and nq token pairs.
 * A row pair's operands stay in registers while the token pairs' are
 * rebuilt (cheaper than unpacking weights twice, and it keeps the 16 phase
 * accumulators of a 4x4 tile in registers). */
HI_INLINE void hi_sym_block(const uint8_t *const xr[4], const uint8_t *const yt[4], int64_t b, int k, int np, int nq,
                            float32x4_t f[2][2][4], int ph) {
    const size_t xo = (size_t)b * hi_sym_size(k), yo = (size_t)b * sizeof(block_q8_0);
    uint16_t hx[4], hy[4];
    HI_UNROLL
    for (int r = 0; r < 4; r++) hx[r] = hi_ld16(xr[r] + xo);
    HI_UNROLL
    for (int t = 0; t < 4; t++) hy[t] = hi_ld16(yt[t] + yo);
    const float32x4_t dx4 = hi_h2f4(hx), dy4 = hi_h2f4(hy);
    HI_UNROLL
    for (int p = 0; p < np; p++) {
        int8x16_t a[4], l0, h0, l1, h1;
        hi_unpack_sym(xr[2 * p] + xo, k, &l0, &h0);
        hi_unpack_sym(xr[2 * p + 1] + xo, k, &l1, &h1);
        hi_pair32(l0, h0, l1, h1, a);
        const float32x4_t dx = hi_rows_f(dx4, p);
        HI_UNROLL
        for (int q = 0; q < nq; q++) {
            int8x16_t bq[4];
            hi_pair32p(((const block_q8_0 *)(const void *)(yt[2 * q] + yo))->qs,
                       ((const block_q8_0 *)(const void *)(yt[2 * q + 1] + yo))->qs, bq);
            const int32x4_t isum = hi_mm32(vdupq_n_s32(0), a, bq);
            const float32x4_t d = vmulq_f32(dx, hi_toks_f(dy4, q));
            f[p][q][ph] = vfmaq_f32(f[p][q][ph], vcvtq_f32_s32(isum), d);
        }
    }
    /* Keeps the next block's loads after this block's work: GCC hoists
     * them across the unrolled blocks and spills the accumulators. */
    __asm__ volatile("" ::: "memory");
}

/* A whole tile of a symmetric kind with np row pairs and nq token pairs. */
HI_INLINE void hi_sym_tile(int64_t n, float *s, size_t lds, const void *vx, size_t bx, const void *vy, size_t by,
                           int nr, int nt, int k, int np, int nq) {
    const uint8_t *xr[4], *yt[4];
    hi_tile_ptrs(vx, bx, vy, by, nr, nt, xr, yt);
    const int64_t nb = n / HEARTH_QK8_0;
    float32x4_t f[2][2][4];
    HI_UNROLL
    for (int p = 0; p < 2; p++)
        HI_UNROLL
        for (int q = 0; q < 2; q++)
            HI_UNROLL
            for (int ph = 0; ph < 4; ph++) f[p][q][ph] = vdupq_n_f32(0.0f);
    int64_t b = 0;
    for (; b + 4 <= nb; b += 4) {
        hi_sym_block(xr, yt, b, k, np, nq, f, 0);
        hi_sym_block(xr, yt, b + 1, k, np, nq, f, 1);
        hi_sym_block(xr, yt, b + 2, k, np, nq, f, 2);
        hi_sym_block(xr, yt, b + 3, k, np, nq, f, 3);
    }
    if (b < nb) hi_sym_block(xr, yt, b++, k, np, nq, f, 0);
    if (b < nb) hi_sym_block(xr, yt, b++, k, np, nq, f, 1);
    if (b < nb) hi_sym_block(xr, yt, b, k, np, nq, f, 2);
    HI_UNROLL
    for (int p = 0; p < np; p++)
        HI_UNROLL
        for (int q = 0; q < nq; q++) {
            const float32x4_t v = vaddq_f32(vaddq_f32(f[p][q][0], f[p][q][1]), vaddq_f32(f[p][q][2], f[p][q][3]));
            hi_store(s, lds, v, p, q, nr, nt);
        }
}

/* Defines a gemm_fn from a tile macro or function `call` (taking the gemm
 * arguments plus the numbers of row and token pairs), specialised on those
 * two numbers so the pair loops unroll. */
#define HI_GEMM(name, call)                                                                                       \
    static void name(int64_t n, float *s, size_t lds, const void *x, size_t bx, const void *y, size_t by, int nr, \
                     int nt) {                                                                                    \
        if (nr > 2) {                                                                                             \
            if (nt > 2)                                                                                           \
                call(n, s, lds, x, bx, y, by, nr, nt, 2, 2);                                                      \
            else                                                                                                  \
                call(n, s, lds, x, bx, y, by, nr, nt, 2, 1);                                                      \
        } else if (nt > 2) {                                                                                      \
            call(n, s, lds, x, bx, y, by, nr, nt, 1, 2);                                                          \
        } else {                                                                                                  \
            call(n, s, lds, x, bx, y, by, nr, nt, 1, 1);                                                          \
        }                                                                                                         \
    }

#define HI_Q4_0(n, s, lds, x, bx, y, by, nr, nt, np, nq) hi_sym_tile(n, s, lds, x, bx, y, by, nr, nt, HI_K_Q4_0, np, nq)
#define HI_Q5_0(n, s, lds, x, bx, y, by, nr, nt, np, nq) hi_sym_tile(n, s, lds, x, bx, y, by, nr, nt, HI_K_Q5_0, np, nq)
#define HI_Q8_0(n, s, lds, x, bx, y, by, nr, nt, np, nq) hi_sym_tile(n, s, lds, x, bx, y, by, nr, nt, HI_K_Q8_0, np, nq)
#define HI_IQ4NL(n, s, lds, x, bx, y, by, nr, nt, np, nq) \
    hi_sym_tile(n, s, lds, x, bx, y, by, nr, nt, HI_K_IQ4_NL, np, nq)
HI_GEMM(hi_gemm_q4_0_q8_0, HI_Q4_0)
HI_GEMM(hi_gemm_q5_0_q8_0, HI_Q5_0)
HI_GEMM(hi_gemm_q8_0_q8_0, HI_Q8_0)
HI_GEMM(hi_gemm_iq4_nl_q8_0, HI_IQ4NL)

/* ---- super-block types ---------------------------------------------------
 * The vec_dots are quant_arm_body.h's (dotprod level): an exact integer
 * isum (and msum) per super-block, then scalar float statements. */

/* The Q8_K super-block i of row (or token) t. */
HI_INLINE const block_q8_K *hi_yk(const uint8_t *const yt[4], int t, int64_t i) {
    return (const block_q8_K *)(const void *)(yt[t] + (size_t)i * sizeof(block_q8_K));
}

/* The 8 scales and mins of a Q4_K/Q5_K super-block (as the body's). */
HI_INLINE void hi_k4_scales(const uint8_t *q, int32_t sc[8], int32_t m[8]) {
    HI_UNROLL
    for (int j = 0; j < 4; j++) {
        sc[j] = q[j] & 63;
        m[j] = q[j + 4] & 63;
        sc[j + 4] = (q[j + 8] & 0x0F) | (q[j] >> 6) << 4;
        m[j + 4] = (q[j + 8] >> 4) | (q[j + 4] >> 6) << 4;
    }
}

/* The 2x2 integers sum_j m_r[j] * bp_t[j] over 8 int16 pairs (exact). */
HI_INLINE int32x4_t hi_msum(int16x8_t m0, int16x8_t m1, int16x8_t b0, int16x8_t b1) {
    const int32x4_t p00 = vmlal_high_s16(vmull_s16(vget_low_s16(m0), vget_low_s16(b0)), m0, b0);
    const int32x4_t p01 = vmlal_high_s16(vmull_s16(vget_low_s16(m0), vget_low_s16(b1)), m0, b1);
    const int32x4_t p10 = vmlal_high_s16(vmull_s16(vget_low_s16(m1), vget_low_s16(b0)), m1, b0);
    const int32x4_t p11 = vmlal_high_s16(vmull_s16(vget_low_s16(m1), vget_low_s16(b1)), m1, b1);
    return vpaddq_s32(vpaddq_s32(p00, p01), vpaddq_s32(p10, p11));
}

/* acc[p][q] += (d_x of the rows of p * d_y of the tokens of q) * isum[p][q]
 * for the np x nq sub-tiles: the Q6_K/Q8_K vec_dots' two products, in
 * their order. */
HI_INLINE void hi_scale_add(float32x4_t acc[2][2], int32x4_t isum[2][2], float32x4_t xd4, float32x4_t yd4, int np,
                            int nq) {
    HI_UNROLL
    for (int p = 0; p < np; p++)
        HI_UNROLL
        for (int q = 0; q < nq; q++) {
            const float32x4_t d = vmulq_f32(hi_rows_f(xd4, p), hi_toks_f(yd4, q));
            acc[p][q] = vaddq_f32(acc[p][q], vmulq_f32(d, vcvtq_f32_s32(isum[p][q])));
        }
}

/* Stores the np x nq sub-tiles of acc (rows < nr, tokens < nt only). */
HI_INLINE void hi_store_tile(float *s, size_t lds, float32x4_t acc[2][2], int np, int nq, int nr, int nt) {
    HI_UNROLL
    for (int p = 0; p < np; p++)
        HI_UNROLL
        for (int q = 0; q < nq; q++) hi_store(s, lds, acc[p][q], p, q, nr, nt);
}

/* Q4_K (q5 = 0) or Q5_K (q5 = 1) tile. Per super-block, as the vec_dot:
 * d = x.d * y.d; dmin = x.dmin * y.d; t = d * isum; tm = dmin * msum;
 * sum += t - tm. */
HI_INLINE void hi_k45_tile(int64_t n, float *s, size_t lds, const void *vx, size_t bx, const void *vy, size_t by,
                           int nr, int nt, int q5, int np, int nq) {
    const uint8_t *xr[4], *yt[4];
    hi_tile_ptrs(vx, bx, vy, by, nr, nt, xr, yt);
    const size_t xs = q5 ? sizeof(block_q5_K) : sizeof(block_q4_K);
    const size_t qs_off = q5 ? offsetof(block_q5_K, qs) : offsetof(block_q4_K, qs);
    const uint8x16_t m4 = vdupq_n_u8(0x0F), b16 = vdupq_n_u8(0x10);
    float32x4_t acc[2][2];
    HI_UNROLL
    for (int p = 0; p < 2; p++)
        HI_UNROLL
        for (int q = 0; q < 2; q++) acc[p][q] = vdupq_n_f32(0.0f);
    for (int64_t i = 0; i < n / HEARTH_QK_K; i++) {
        const uint8_t *xb[4];
        HI_UNROLL
        for (int r = 0; r < 4; r++) xb[r] = xr[r] + (size_t)i * xs;
        /* scales and mins sit at the same offsets in block_q4_K and block_q5_K */
        int32_t sc[4][8], mn[4][8];
        HI_UNROLL
        for (int r = 0; r < 2 * np; r++) hi_k4_scales(xb[r] + offsetof(block_q4_K, scales), sc[r], mn[r]);
        int32x4_t isum[2][2];
        HI_UNROLL
        for (int p = 0; p < 2; p++)
            HI_UNROLL
            for (int q = 0; q < 2; q++) isum[p][q] = vdupq_n_s32(0);
        for (int c = 0; c < 4; c++) {
            int8x16_t alo[2][4], ahi[2][4];
            HI_UNROLL
            for (int p = 0; p < np; p++) {
                int8x16_t lo[2][2], hi[2][2]; /* [row of pair][16-byte half] */
                HI_UNROLL
                for (int e = 0; e < 2; e++) {
                    const uint8_t *xq = xb[2 * p + e];
                    HI_UNROLL
                    for (int u = 0; u < 2; u++) {
                        const uint8x16_t q = vld1q_u8(xq + qs_off + 32 * c + 16 * u);
                        uint8x16_t l = vandq_u8(q, m4), h = vshrq_n_u8(q, 4);
                        if (q5) {
                            const uint8x16_t qh = vld1q_u8(xq + offsetof(block_q5_K, qh) + 16 * u);
                            l = vorrq_u8(l, vandq_u8(vtstq_u8(qh, vdupq_n_u8((uint8_t)(1u << (2 * c)))), b16));
                            h = vorrq_u8(h, vandq_u8(vtstq_u8(qh, vdupq_n_u8((uint8_t)(2u << (2 * c)))), b16));
                        }
                        lo[e][u] = vreinterpretq_s8_u8(l);
                        hi[e][u] = vreinterpretq_s8_u8(h);
                    }
                }
                hi_pair32(lo[0][0], lo[0][1], lo[1][0], lo[1][1], alo[p]);
                hi_pair32(hi[0][0], hi[0][1], hi[1][0], hi[1][1], ahi[p]);
            }
            HI_UNROLL
            for (int q = 0; q < nq; q++) {
                const int8_t *y0 = hi_yk(yt, 2 * q, i)->qs + 64 * c, *y1 = hi_yk(yt, 2 * q + 1, i)->qs + 64 * c;
                int8x16_t blo[4], bhi[4];
                hi_pair32p(y0, y1, blo);
                hi_pair32p(y0 + 32, y1 + 32, bhi);
                HI_UNROLL
                for (int p = 0; p < np; p++) {
                    const int32x4_t pl = hi_mm32(vdupq_n_s32(0), alo[p], blo);
                    const int32x4_t ph = hi_mm32(vdupq_n_s32(0), ahi[p], bhi);
                    isum[p][q] = vmlaq_s32(isum[p][q], pl, hi_rows_i(sc[2 * p][2 * c], sc[2 * p + 1][2 * c]));
                    isum[p][q] = vmlaq_s32(isum[p][q], ph, hi_rows_i(sc[2 * p][2 * c + 1], sc[2 * p + 1][2 * c + 1]));
                }
            }
            __asm__ volatile("" ::: "memory"); /* as in hi_sym_block */
        }
        /* msum: the mins times the sums of each 32-value sub-block's activations */
        int16x8_t mv[4], bp[4];
        HI_UNROLL
        for (int r = 0; r < 2 * np; r++) {
            int16_t m16[8];
            HI_UNROLL
            for (int j = 0; j < 8; j++) m16[j] = (int16_t)mn[r][j];
            mv[r] = vld1q_s16(m16);
        }
        HI_UNROLL
        for (int t = 0; t < 2 * nq; t++) {
            const int16_t *bs = hi_yk(yt, t, i)->bsums;
            bp[t] = vpaddq_s16(vld1q_s16(bs), vld1q_s16(bs + 8));
        }
        uint16_t hd[4], hm[4];
        float yd[4];
        HI_UNROLL
        for (int r = 0; r < 4; r++) {
            hd[r] = hi_ld16(xb[r] + offsetof(block_q4_K, d));
            hm[r] = hi_ld16(xb[r] + offsetof(block_q4_K, dmin));
        }
        HI_UNROLL
        for (int t = 0; t < 4; t++) yd[t] = hi_yk(yt, t, i)->d;
        const float32x4_t xd4 = hi_h2f4(hd), xm4 = hi_h2f4(hm), yd4 = vld1q_f32(yd);
        HI_UNROLL
        for (int p = 0; p < np; p++)
            HI_UNROLL
            for (int q = 0; q < nq; q++) {
                const int32x4_t ms = hi_msum(mv[2 * p], mv[2 * p + 1], bp[2 * q], bp[2 * q + 1]);
                const float32x4_t dy = hi_toks_f(yd4, q);
                const float32x4_t d = vmulq_f32(hi_rows_f(xd4, p), dy);
                const float32x4_t dmin = vmulq_f32(hi_rows_f(xm4, p), dy);
                const float32x4_t t = vmulq_f32(d, vcvtq_f32_s32(isum[p][q]));
                const float32x4_t tm = vmulq_f32(dmin, vcvtq_f32_s32(ms));
                acc[p][q] = vaddq_f32(acc[p][q], vsubq_f32(t, tm));
            }
    }
    hi_store_tile(s, lds, acc, np, nq, nr, nt);
}

/* Q6_K tile: signed q = low 4 bits | high 2 bits << 4, minus 32, per
 * 16-value sub-block times its scale; then sum += (x.d * y.d) * isum. */
HI_INLINE void hi_q6k_tile(int64_t n, float *s, size_t lds, const void *vx, size_t bx, const void *vy, size_t by,
                           int nr, int nt, int np, int nq) {
    const uint8_t *xr[4], *yt[4];
    hi_tile_ptrs(vx, bx, vy, by, nr, nt, xr, yt);
    const uint8x16_t m4 = vdupq_n_u8(0x0F), m3 = vdupq_n_u8(3);
    const int8x16_t off = vdupq_n_s8(32);
    float32x4_t acc[2][2];
    HI_UNROLL
    for (int p = 0; p < 2; p++)
        HI_UNROLL
        for (int q = 0; q < 2; q++) acc[p][q] = vdupq_n_f32(0.0f);
    for (int64_t i = 0; i < n / HEARTH_QK_K; i++) {
        const block_q6_K *xb[4];
        HI_UNROLL
        for (int r = 0; r < 4; r++) xb[r] = (const block_q6_K *)(const void *)(xr[r] + (size_t)i * sizeof(block_q6_K));
        int32x4_t isum[2][2];
        HI_UNROLL
        for (int p = 0; p < 2; p++)
            HI_UNROLL
            for (int q = 0; q < 2; q++) isum[p][q] = vdupq_n_s32(0);
        for (int h = 0; h < 2; h++)
            for (int half = 0; half < 2; half++) {
                const int l = 16 * half;
                int8x16_t v[4][4]; /* [k][row] */
                HI_UNROLL
                for (int r = 0; r < 2 * np; r++) {
                    const uint8x16_t l0 = vld1q_u8(xb[r]->ql + 64 * h + l), l1 = vld1q_u8(xb[r]->ql + 64 * h + 32 + l);
                    const uint8x16_t hv = vld1q_u8(xb[r]->qh + 32 * h + l);
                    uint8x16_t qv[4];
                    qv[0] = vorrq_u8(vandq_u8(l0, m4), vshlq_n_u8(vandq_u8(hv, m3), 4));
                    qv[1] = vorrq_u8(vandq_u8(l1, m4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hv, 2), m3), 4));
                    qv[2] = vorrq_u8(vshrq_n_u8(l0, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hv, 4), m3), 4));
                    qv[3] = vorrq_u8(vshrq_n_u8(l1, 4), vshlq_n_u8(vshrq_n_u8(hv, 6), 4));
                    for (int k = 0; k < 4; k++) v[k][r] = vsubq_s8(vreinterpretq_s8_u8(qv[k]), off);
                }
                for (int k = 0; k < 4; k++) {
                    const int j = 8 * h + 2 * k + half;
                    int8x16_t a[2][2];
                    HI_UNROLL
                    for (int p = 0; p < np; p++) hi_pair(v[k][2 * p], v[k][2 * p + 1], &a[p][0], &a[p][1]);
                    HI_UNROLL
                    for (int q = 0; q < nq; q++) {
                        const int o = 128 * h + 32 * k + l;
                        int8x16_t b0, b1;
                        hi_pair(vld1q_s8(hi_yk(yt, 2 * q, i)->qs + o), vld1q_s8(hi_yk(yt, 2 * q + 1, i)->qs + o), &b0,
                                &b1);
                        HI_UNROLL
                        for (int p = 0; p < np; p++) {
                            const int32x4_t d = vmmlaq_s32(vmmlaq_s32(vdupq_n_s32(0), a[p][0], b0), a[p][1], b1);
                            isum[p][q] = vmlaq_s32(isum[p][q], d, hi_rows_i(xb[2 * p]->scales[j], xb[2 * p + 1]->scales[j]));
                        }
                    }
                }
            }
        uint16_t hd[4];
        float yd[4];
        HI_UNROLL
        for (int r = 0; r < 4; r++) hd[r] = hi_ld16(&xb[r]->d);
        HI_UNROLL
        for (int t = 0; t < 4; t++) yd[t] = hi_yk(yt, t, i)->d;
        const float32x4_t xd4 = hi_h2f4(hd), yd4 = vld1q_f32(yd);
        hi_scale_add(acc, isum, xd4, yd4, np, nq);
    }
    hi_store_tile(s, lds, acc, np, nq, nr, nt);
}

/* Q8_K tile: sum += (x.d * y.d) * isum per super-block. */
HI_INLINE void hi_q8k_tile(int64_t n, float *s, size_t lds, const void *vx, size_t bx, const void *vy, size_t by,
                           int nr, int nt, int np, int nq) {
    const uint8_t *xr[4], *yt[4];
    hi_tile_ptrs(vx, bx, vy, by, nr, nt, xr, yt);
    float32x4_t acc[2][2];
    HI_UNROLL
    for (int p = 0; p < 2; p++)
        HI_UNROLL
        for (int q = 0; q < 2; q++) acc[p][q] = vdupq_n_f32(0.0f);
    for (int64_t i = 0; i < n / HEARTH_QK_K; i++) {
        const block_q8_K *xb[4];
        HI_UNROLL
        for (int r = 0; r < 4; r++) xb[r] = hi_yk(xr, r, i);
        int32x4_t isum[2][2];
        HI_UNROLL
        for (int p = 0; p < 2; p++)
            HI_UNROLL
            for (int q = 0; q < 2; q++) isum[p][q] = vdupq_n_s32(0);
        for (int g = 0; g < HEARTH_QK_K; g += 32) {
            int8x16_t a[2][4];
            HI_UNROLL
            for (int p = 0; p < np; p++) hi_pair32p(xb[2 * p]->qs + g, xb[2 * p + 1]->qs + g, a[p]);
            HI_UNROLL
            for (int q = 0; q < nq; q++) {
                int8x16_t b[4];
                hi_pair32p(hi_yk(yt, 2 * q, i)->qs + g, hi_yk(yt, 2 * q + 1, i)->qs + g, b);
                HI_UNROLL
                for (int p = 0; p < np; p++) isum[p][q] = hi_mm32(isum[p][q], a[p], b);
            }
        }
        float xd[4], yd[4];
        HI_UNROLL
        for (int r = 0; r < 4; r++) xd[r] = xb[r]->d;
        HI_UNROLL
        for (int t = 0; t < 4; t++) yd[t] = hi_yk(yt, t, i)->d;
        const float32x4_t xd4 = vld1q_f32(xd), yd4 = vld1q_f32(yd);
        hi_scale_add(acc, isum, xd4, yd4, np, nq);
    }
    hi_store_tile(s, lds, acc, np, nq, nr, nt);
}

#define HI_Q4K(n, s, lds, x, bx, y, by, nr, nt, np, nq) hi_k45_tile(n, s, lds, x, bx, y, by, nr, nt, 0, np, nq)
#define HI_Q5K(n, s, lds, x, bx, y, by, nr, nt, np, nq) hi_k45_tile(n, s, lds, x, bx, y, by, nr, nt, 1, np, nq)
HI_GEMM(hi_gemm_q4_K_q8_K, HI_Q4K)
HI_GEMM(hi_gemm_q5_K_q8_K, HI_Q5K)
HI_GEMM(hi_gemm_q6_K_q8_K, hi_q6k_tile)
HI_GEMM(hi_gemm_q8_K_q8_K, hi_q8k_tile)

/* ---- lists ---------------------------------------------------------------- */

/* Lists the i8mm level's own vec_dots (the 32-value block types, whose
 * float order its tiles follow); the rest are the dotprod level's. See
 * dispatch.h. Does not block. */
size_t hearth_kernels_list_i8mm(const hearth_cpu_features *cpu, hearth_kernel_entry *out, size_t cap) {
    (void)cpu;
    const hearth_kernel_entry all[] = {
        {HEARTH_TYPE_Q4_0, hi_vec_dot_q4_0_q8_0, NULL, NULL},
        {HEARTH_TYPE_Q5_0, hi_vec_dot_q5_0_q8_0, NULL, NULL},
        {HEARTH_TYPE_Q8_0, hi_vec_dot_q8_0_q8_0, NULL, NULL},
        {HEARTH_TYPE_IQ4_NL, hi_vec_dot_iq4_nl_q8_0, NULL, NULL},
    };
    size_t n = 0;
    for (; n < sizeof all / sizeof all[0] && n < cap; n++) out[n] = all[n];
    return n;
}

/* Lists the SMMLA tile kernels; see dispatch.h. Does not block. */
size_t hearth_gemm_list_i8mm(const hearth_cpu_features *cpu, hearth_gemm_entry *out, size_t cap) {
    (void)cpu;
    const hearth_gemm_entry all[] = {
        {HEARTH_TYPE_Q4_0, hi_gemm_q4_0_q8_0},   {HEARTH_TYPE_Q5_0, hi_gemm_q5_0_q8_0},
        {HEARTH_TYPE_Q8_0, hi_gemm_q8_0_q8_0},   {HEARTH_TYPE_IQ4_NL, hi_gemm_iq4_nl_q8_0},
        {HEARTH_TYPE_Q4_K, hi_gemm_q4_K_q8_K},   {HEARTH_TYPE_Q5_K, hi_gemm_q5_K_q8_K},
        {HEARTH_TYPE_Q6_K, hi_gemm_q6_K_q8_K},   {HEARTH_TYPE_Q8_K, hi_gemm_q8_K_q8_K},
    };
    size_t n = 0;
    for (; n < sizeof all / sizeof all[0] && n < cap; n++) out[n] = all[n];
    return n;
}
