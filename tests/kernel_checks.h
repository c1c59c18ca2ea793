/* kernel_checks.h - the vec_dot and register-tile (gemm) checks that
 * tests/test_kernels.c runs on every kernel level, shared with tests that
 * check other kernel sets (tests/test_vnni_emu.c) the same way.
 *
 * check_quant_dot compares a quantized vec_dot with the scalar reference on
 * odd block counts and unaligned rows in three data modes ("unit": exact
 * integer results must match exactly; "bytes" and "float": only the
 * rounding of a different summation order is allowed, bounded by
 * 2 (n + 6) u sum|term|); check_gemm checks that a tile kernel gives, for
 * every tile shape, bit for bit the vec_dot it comes with. `level` only
 * names the kernel set in failure messages. The random stream (rnd) and the
 * trial count (iters, from HEARTH_TEST_ITERS in the includer) are per test
 * program. Include after test.h.
 */
#ifndef HEARTH_TEST_KERNEL_CHECKS_H
#define HEARTH_TEST_KERNEL_CHECKS_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/quant_blocks.h"
#include "hearth/alloc.h"
#include "hearth/quant.h"
#include "test.h"

#define U (1.0 / 16777216.0) /* 2^-24, the float unit roundoff */

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static int iters = 3;

/* xorshift64*: a deterministic stream. */
static inline uint64_t rnd(void) {
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545F4914F6CDD1DULL;
}

/* Uniform in [-1, 1). */
static inline float rndf(void) {
    return (float)((double)(rnd() >> 11) / 4503599627370496.0 - 1.0);
}

/* Random int in [lo, hi]. */
static inline int rndi(int lo, int hi) {
    return lo + (int)(rnd() % (uint64_t)(hi - lo + 1));
}

/* ---- block layout facts the test needs ------------------------------------ */

/* Where a weight type keeps its scales: fp16 `d` at d_off (float when
 * d_f32), and the fp16 of the second term (Q4_1/Q5_1 m, K-quant dmin) at
 * m_off, or -1 for single-term types. */
typedef struct {
    uint32_t type;
    int d_off;
    int m_off;
    bool d_f32;
} qspec;

static const qspec qspecs[] = {
    {HEARTH_TYPE_Q4_0, 0, -1, false},   {HEARTH_TYPE_Q4_1, 0, 2, false},   {HEARTH_TYPE_Q5_0, 0, -1, false},
    {HEARTH_TYPE_Q5_1, 0, 2, false},    {HEARTH_TYPE_Q8_0, 0, -1, false},  {HEARTH_TYPE_Q8_1, 0, -1, false},
    {HEARTH_TYPE_Q2_K, 80, 82, false},  {HEARTH_TYPE_Q3_K, 108, -1, false}, {HEARTH_TYPE_Q4_K, 0, 2, false},
    {HEARTH_TYPE_Q5_K, 0, 2, false},    {HEARTH_TYPE_Q6_K, 208, -1, false}, {HEARTH_TYPE_Q8_K, 0, -1, true},
    {HEARTH_TYPE_IQ4_NL, 0, -1, false}, {HEARTH_TYPE_IQ4_XS, 0, -1, false},
};

static inline void put16(uint8_t *p, uint16_t v) {
    memcpy(p, &v, 2);
}

static inline void putf(uint8_t *p, float v) {
    memcpy(p, &v, 4);
}

/* A random scale of either sign with magnitude in [2^-10, 1]. */
static inline float rnd_scale(void) {
    const float m = ldexpf(1.0f + fabsf(rndf()), -rndi(1, 10));
    return (rnd() & 1) ? m : -m;
}

/* Sets the scales of nb weight blocks: all 1 (unit) or random. */
static inline void set_weight_scales(const qspec *q, size_t bsize, uint8_t *x, int64_t nb, bool unit) {
    for (int64_t b = 0; b < nb; b++) {
        uint8_t *blk = x + (size_t)b * bsize;
        if (q->d_f32)
            putf(blk + q->d_off, unit ? 1.0f : rnd_scale());
        else
            put16(blk + q->d_off, hearth_fp32_to_fp16(unit ? 1.0f : rnd_scale()));
        if (q->m_off >= 0) put16(blk + q->m_off, hearth_fp32_to_fp16(unit ? 1.0f : rnd_scale()));
    }
}

/* Fills nb activation blocks of type t (Q8_0, Q8_1, Q8_K) with random quants
 * in -127..127 and consistent bsums; scales 1 (unit: Q8_1's s then a small
 * integer, so m * s stays exact) or random. */
static inline void fill_act_bytes(uint32_t t, uint8_t *y, int64_t nb, bool unit) {
    for (int64_t b = 0; b < nb; b++) {
        if (t == HEARTH_TYPE_Q8_K) {
            block_q8_K blk;
            blk.d = unit ? 1.0f : rnd_scale();
            for (int j = 0; j < 256; j++) blk.qs[j] = (int8_t)rndi(-127, 127);
            for (int g = 0; g < 16; g++) {
                int s = 0;
                for (int j = 0; j < 16; j++) s += blk.qs[16 * g + j];
                blk.bsums[g] = (int16_t)s;
            }
            memcpy(y + b * sizeof blk, &blk, sizeof blk);
        } else if (t == HEARTH_TYPE_Q8_1) {
            block_q8_1 blk;
            blk.d = hearth_fp32_to_fp16(unit ? 1.0f : rnd_scale());
            blk.s = hearth_fp32_to_fp16(unit ? (float)rndi(-512, 512) : rnd_scale() * 64);
            for (int j = 0; j < 32; j++) blk.qs[j] = (int8_t)rndi(-127, 127);
            memcpy(y + b * sizeof blk, &blk, sizeof blk);
        } else {
            block_q8_0 blk;
            blk.d = hearth_fp32_to_fp16(unit ? 1.0f : rnd_scale());
            for (int j = 0; j < 32; j++) blk.qs[j] = (int8_t)rndi(-127, 127);
            memcpy(y + b * sizeof blk, &blk, sizeof blk);
        }
    }
}

/* Returns the spec of a quantized weight type, or NULL. */
static inline const qspec *find_qspec(uint32_t t) {
    for (size_t i = 0; i < sizeof qspecs / sizeof qspecs[0]; i++)
        if (qspecs[i].type == t) return &qspecs[i];
    return NULL;
}

/* Sum over blocks of the magnitudes of the float terms a kernel may add in
 * any order: the reference's per-block terms (d-term and, for two-term
 * types, the m/dmin term, each measured by running the reference on the
 * block with the other scale zeroed), plus sum |x_e| |y_e| over the
 * dequantized elements (|x_e| + |m| for Q4_1/Q5_1), which bounds the
 * partial sums of vector lanes before they meet. */
static inline double term_magnitude(const qspec *q, const hearth_type_traits *ref, const uint8_t *x,
                                    const uint8_t *y, int64_t nb, size_t ysize) {
    const hearth_type_traits *at = hearth_type_get_ref(ref->vec_dot_type);
    uint8_t tmp[512];
    float xf[256], yf[256];
    double m = 0.0;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = x + (size_t)b * ref->type_size;
        const uint8_t *act = y + (size_t)b * ysize;
        float r;
        double mo = 0.0;
        if (q->m_off >= 0 && ref->block_size == 32) {
            uint16_t h;
            memcpy(&h, blk + q->m_off, 2);
            mo = fabs((double)hearth_fp16_to_fp32(h));
        }
        memcpy(tmp, blk, ref->type_size);
        ref->to_float(tmp, xf, ref->block_size);
        memcpy(tmp, act, ysize);
        at->to_float(tmp, yf, ref->block_size);
        for (int e = 0; e < ref->block_size; e++) m += (fabs((double)xf[e]) + mo) * fabs((double)yf[e]);
        memcpy(tmp, blk, ref->type_size);
        if (q->m_off >= 0) put16(tmp + q->m_off, 0);
        ref->vec_dot(ref->block_size, &r, tmp, act);
        m += fabs((double)r);
        if (q->m_off >= 0) {
            memcpy(tmp, blk, ref->type_size);
            put16(tmp + q->d_off, 0);
            ref->vec_dot(ref->block_size, &r, tmp, act);
            m += fabs((double)r);
        }
    }
    return m;
}

/* ---- vec_dot ------------------------------------------------------------ */

static const int block_counts[] = {1, 2, 3, 5, 7, 13, 31};

/* Returns the alignment a row of type t may rely on (its block struct's). */
static inline size_t type_align(uint32_t t) {
    switch (t) {
    case HEARTH_TYPE_F32:
    case HEARTH_TYPE_Q8_K:
        return 4;
    default:
        return 2;
    }
}

/* Compares the vec_dot of tr (kernel set `level`) for quantized type t
 * with the reference; returns the number of comparisons made. */
static inline int check_quant_dot(const char *level, const hearth_type_traits *tr, const hearth_type_traits *ref,
                                  const qspec *q, double *worst) {
    const hearth_type_traits *at = hearth_type_get_ref(ref->vec_dot_type);
    const size_t xa = type_align(q->type), ya = type_align(ref->vec_dot_type);
    int count = 0;
    for (size_t ci = 0; ci < sizeof block_counts / sizeof block_counts[0]; ci++) {
        const int64_t n = block_counts[ci] * ref->block_size;
        const int64_t nb = block_counts[ci];
        const size_t xbytes = hearth_row_size(q->type, n), ybytes = hearth_row_size(ref->vec_dot_type, n);
        const int64_t nay = n / at->block_size; /* activation blocks */
        const size_t ysize = at->type_size * (size_t)(ref->block_size / at->block_size); /* per weight block */
        float *f = hearth_malloc((size_t)n * sizeof(float));
        uint8_t *xs = hearth_malloc(xbytes + 16), *ys = hearth_malloc(ybytes + 16);
        /* on failure the loop is skipped and the frees below still run */
        const bool ok = f && xs && ys;
        CHECK(ok, "out of memory");
        for (int mode = 0; ok && mode < 3; mode++) {
            for (int it = 0; it < iters; it++) {
                const size_t xo = xa * (size_t)(it % 3 == 0 ? 0 : it % 3 == 1 ? 1 : 3);
                const size_t yo = ya * (size_t)((it + mode) % 3 == 0 ? 0 : (it + mode) % 3 == 1 ? 1 : 3);
                uint8_t *x = xs + xo, *y = ys + yo;
                if (mode == 2) {
                    for (int64_t i = 0; i < n; i++) f[i] = rndf() * (1.0f + (float)(i % 7));
                    ref->from_float(f, x, n);
                    for (int64_t i = 0; i < n; i++) f[i] = rndf() * (float)(1 + i % 5);
                    at->from_float(f, y, n);
                } else {
                    for (size_t i = 0; i < xbytes; i++) x[i] = (uint8_t)rnd();
                    set_weight_scales(q, ref->type_size, x, nb, mode == 0);
                    fill_act_bytes(ref->vec_dot_type, y, nay, mode == 0);
                }
                float got = NAN, want = NAN;
                tr->vec_dot(n, &got, x, y);
                ref->vec_dot(n, &want, x, y);
                count++;
                if (mode == 0) {
                    CHECK(got == want, "%s %s unit nb=%d: %.9g != %.9g (integer sums differ)", level,
                          ref->name, (int)nb, got, want);
                } else {
                    const double mag = term_magnitude(q, ref, x, y, nb, ysize);
                    const double tol = 2.0 * (double)(nb + 6) * U * mag + 1e-30;
                    const double err = fabs((double)got - (double)want);
                    if (mag > 0 && err / mag > *worst) *worst = err / mag;
                    CHECK(err <= tol, "%s %s %s nb=%d off=%zu/%zu: %.9g vs %.9g (err %.3g > tol %.3g)",
                          level, ref->name, mode == 1 ? "bytes" : "float", (int)nb, xo, yo, got,
                          want, err, tol);
                }
            }
        }
        hearth_free(f);
        hearth_free(xs);
        hearth_free(ys);
    }
    return count;
}

/* ---- gemm (register tiles) ------------------------------------------------ */

static const int gemm_block_counts[] = {1, 3, 4, 5, 7, 9, 13};
static const int gemm_float_counts[] = {1, 7, 33, 100};

/* Fills one row of n values of type t at p: random quant bytes with random
 * scales (mode 0) or quantized random floats (mode 1), or random floats for
 * the float types. */
static inline void fill_row(uint32_t t, bool act, uint8_t *p, int64_t n, int mode, float *f) {
    const hearth_type_traits *tr = hearth_type_get_ref(t);
    const qspec *q = act ? NULL : find_qspec(t);
    if (!tr->is_quantized || mode == 1) {
        const float scale = ldexpf(1.0f, rndi(-6, 6));
        for (int64_t i = 0; i < n; i++) f[i] = rndf() * scale * (float)(1 + i % 5);
        tr->from_float(f, p, n);
        return;
    }
    if (act) {
        fill_act_bytes(t, p, n / tr->block_size, false);
        return;
    }
    const size_t bytes = hearth_row_size(t, n);
    for (size_t i = 0; i < bytes; i++) p[i] = (uint8_t)rnd();
    set_weight_scales(q, tr->type_size, p, n / tr->block_size, false);
}

/* Checks the gemm of tr (kernel set `level`) for type t (and the reference
 * gemm) on every tile shape: each s[t * lds + r] must be bit for bit the same level's vec_dot
 * of (row r, token t) (so batching never changes results), cells outside
 * the tile untouched; rows are unaligned and bx / by larger than a row.
 * Returns the number of tiles checked. */
static inline int check_gemm(const char *level, const hearth_type_traits *tr, const hearth_type_traits *ref,
                             uint32_t t) {
    const hearth_type_traits *at = hearth_type_get_ref(ref->vec_dot_type);
    const bool quant = ref->is_quantized;
    const int *counts = quant ? gemm_block_counts : gemm_float_counts;
    const size_t ncounts = quant ? sizeof gemm_block_counts / sizeof *counts : sizeof gemm_float_counts / sizeof *counts;
    int tiles = 0;
    for (size_t ci = 0; ci < ncounts; ci++) {
        const int64_t n = counts[ci] * ref->block_size;
        const size_t xrow = hearth_row_size(t, n), yrow = hearth_row_size(ref->vec_dot_type, n);
        const size_t bx = xrow + type_align(t) * (size_t)rndi(0, 5), by = yrow + type_align(at->vec_dot_type) * 3;
        const size_t xo = type_align(t) * (size_t)(ci % 3), yo = type_align(ref->vec_dot_type) * (size_t)((ci + 1) % 3);
        float *f = hearth_malloc((size_t)n * sizeof(float));
        uint8_t *xs = hearth_malloc(4 * bx + 16), *ys = hearth_malloc(4 * by + 16);
        /* on failure the loop is skipped and the frees below still run */
        const bool ok = f && xs && ys;
        CHECK(ok, "out of memory");
        uint8_t *x = ok ? xs + xo : NULL, *y = ok ? ys + yo : NULL;
        for (int mode = 0; ok && mode < 2; mode++) {
            for (int r = 0; r < 4; r++) fill_row(t, false, x + (size_t)r * bx, n, mode, f);
            for (int k = 0; k < 4; k++) fill_row(ref->vec_dot_type, true, y + (size_t)k * by, n, mode, f);
            float want[4][4], wref[4][4];
            for (int k = 0; k < 4; k++)
                for (int r = 0; r < 4; r++) {
                    tr->vec_dot(n, &want[k][r], x + (size_t)r * bx, y + (size_t)k * by);
                    ref->vec_dot(n, &wref[k][r], x + (size_t)r * bx, y + (size_t)k * by);
                }
            for (int nr = 1; nr <= HEARTH_GEMM_TILE; nr++)
                for (int nt = 1; nt <= HEARTH_GEMM_TILE; nt++) {
                    const size_t lds = (size_t)nr + (size_t)rndi(0, 3);
                    float out[4 * 8], rout[4 * 8];
                    for (int i = 0; i < 32; i++) out[i] = rout[i] = -12345.0f;
                    if (tr->gemm) tr->gemm(n, out, lds, x, bx, y, by, nr, nt);
                    ref->gemm(n, rout, lds, x, bx, y, by, nr, nt);
                    tiles++;
                    for (int k = 0; k < 4; k++)
                        for (size_t r = 0; r < lds; r++) {
                            const size_t i = (size_t)k * lds + r;
                            const bool in = k < nt && r < (size_t)nr;
                            if (tr->gemm) {
                                if (in)
                                    CHECK(memcmp(&out[i], &want[k][r], sizeof(float)) == 0,
                                          "%s %s gemm nb=%d %dx%d (r%zu,t%d): %.9g != vec_dot %.9g (mode %d)",
                                          level, ref->name, counts[ci], nr, nt, r, k, out[i],
                                          want[k][r], mode);
                                else if (k < 4)
                                    CHECK(out[i] == -12345.0f, "%s %s gemm %dx%d wrote outside its tile",
                                          level, ref->name, nr, nt);
                            }
                            if (in)
                                CHECK(memcmp(&rout[i], &wref[k][r], sizeof(float)) == 0,
                                      "reference %s gemm %dx%d (r%zu,t%d): %.9g != vec_dot %.9g", ref->name, nr, nt,
                                      r, k, rout[i], wref[k][r]);
                            else
                                CHECK(rout[i] == -12345.0f, "reference %s gemm wrote outside its tile", ref->name);
                        }
                }
        }
        hearth_free(f);
        hearth_free(xs);
        hearth_free(ys);
    }
    return tiles;
}

#endif
