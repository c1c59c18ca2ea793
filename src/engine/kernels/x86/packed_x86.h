/* packed_x86.h - helpers shared by the AVX2 packed prefill tiles
 * (gemm_packed*_avx2.c; see kernels/packed.h). Internal; everything here is
 * inline and does not block.
 */
#ifndef HEARTH_PACKED_X86_H
#define HEARTH_PACKED_X86_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "engine/kernels/x86/blocks_x86.h"

#define PK_INLINE static inline __attribute__((always_inline))
#define PK_UNROLL _Pragma("GCC unroll 8")
/* Keeps a running sum a running sum: without it the compiler reassociates
 * the (modular, so legally reorderable) integer adds of an unrolled block
 * into a tree that needs every product live at once, and spills them. */
#define PK_CHAIN(v) __asm__("" : "+x"(v))

/* 8 x 8 transpose of 32-bit groups: o[g] = group g of rows r[0..7]. */
PK_INLINE void pk_transpose8(const __m256i r[8], __m256i o[8]) {
    /* pairs of rows interleaved by dword, then qwords transposed 4 x 4:
     * rows 0, 2, 4, 6 of t give dwords 0, 1, 4, 5 of every row */
    const __m256i t0 = _mm256_unpacklo_epi32(r[0], r[1]), t1 = _mm256_unpackhi_epi32(r[0], r[1]);
    const __m256i t2 = _mm256_unpacklo_epi32(r[2], r[3]), t3 = _mm256_unpackhi_epi32(r[2], r[3]);
    const __m256i t4 = _mm256_unpacklo_epi32(r[4], r[5]), t5 = _mm256_unpackhi_epi32(r[4], r[5]);
    const __m256i t6 = _mm256_unpacklo_epi32(r[6], r[7]), t7 = _mm256_unpackhi_epi32(r[6], r[7]);
    __m256i lo[4], hi[4];
    hx_transpose4(t0, t2, t4, t6, lo);
    hx_transpose4(t1, t3, t5, t7, hi);
    o[0] = lo[0];
    o[1] = lo[1];
    o[2] = hi[0];
    o[3] = hi[1];
    o[4] = lo[2];
    o[5] = lo[3];
    o[6] = hi[2];
    o[7] = hi[3];
}

/* Stores the 8-row result vector f of one token to s (first nr rows). */
PK_INLINE void pk_store(float *s, __m256 f, int nr) {
    if (nr == 8) {
        _mm256_storeu_ps(s, f);
        return;
    }
    float v[8];
    _mm256_storeu_ps(v, f);
    memcpy(s, v, (size_t)nr * sizeof(float));
}

/* Returns the 4 bytes at p as one int32 broadcast to all lanes. */
PK_INLINE __m256i pk_bcast4(const uint8_t *p) {
    int32_t a;
    memcpy(&a, p, 4);
    return _mm256_set1_epi32(a);
}

/* out[t] = sum over k < nk of madd(f_k, the 4 bytes at a[t] + off + 4k
 * broadcast): per row (int32 lane r), the K-quants' sum of per-row factors
 * (scales or mins, int16 pairs at f, 32 bytes apart) times activation
 * sub-block sums (int16 pairs). nt is compile-time. */
PK_INLINE void pk_bsum_terms(const uint8_t *f, int nk, const uint8_t *const *a, size_t off, int nt, __m256i *out) {
    PK_UNROLL
    for (int k = 0; k < nk; k++) {
        const __m256i fk = _mm256_load_si256((const __m256i *)(const void *)(f + 32 * k));
        PK_UNROLL
        for (int t = 0; t < nt; t++) {
            const __m256i v = _mm256_madd_epi16(fk, pk_bcast4(a[t] + off + 4 * k));
            out[t] = k == 0 ? v : _mm256_add_epi32(out[t], v);
        }
    }
}

/* acc += (dx dy) isum - (mx dy) msum, the float statements of the
 * K-quant vec_dots with a min (Q4_K, Q5_K, Q2_K), per row lane. */
PK_INLINE __m256 pk_acc_with_min(__m256 acc, __m256 dx, __m256 mx, float dy, __m256i isum, __m256i msum) {
    const __m256 vy = _mm256_set1_ps(dy);
    const __m256 tt = _mm256_mul_ps(_mm256_mul_ps(dx, vy), _mm256_cvtepi32_ps(isum));
    const __m256 tm = _mm256_mul_ps(_mm256_mul_ps(mx, vy), _mm256_cvtepi32_ps(msum));
    return _mm256_add_ps(acc, _mm256_sub_ps(tt, tm));
}

/* Stores as floats at dst (32-byte aligned) the fp16 scales at p of rows
 * 0..nr-1 (stride bytes apart; missing rows get 0): the per-row d (and m or
 * dmin) of every packed layout. Each is inserted straight from memory,
 * because an array of them spilled as 2-byte stores and reloaded wider
 * stalled every block on store forwarding (half the packing time). */
PK_INLINE void pk_store_row_scales(uint8_t *dst, const uint8_t *p, size_t stride, int nr) {
    __m128i v = _mm_setzero_si128();
    int16_t h;
    /* _mm_insert_epi16 wants a literal lane (clang does not unroll first) */
#define PK_ROW_SCALE(i)                                                                                          \
    if ((i) < nr) {                                                                                              \
        memcpy(&h, p + (size_t)(i) * stride, 2);                                                                 \
        v = _mm_insert_epi16(v, h, (i));                                                                         \
    }
    PK_ROW_SCALE(0) PK_ROW_SCALE(1) PK_ROW_SCALE(2) PK_ROW_SCALE(3)
    PK_ROW_SCALE(4) PK_ROW_SCALE(5) PK_ROW_SCALE(6) PK_ROW_SCALE(7)
#undef PK_ROW_SCALE
    _mm256_store_ps((float *)(void *)dst, _mm256_cvtph_ps(v));
}

/* Converts one Q8_K activation row (n values) to the layout of the
 * super-block tiles, `stride` bytes per super-block: the scale (float) at
 * 0, then nbs block sums as int16 (the 16 bsums added in groups of 16 /
 * nbs; nbs 0, 8 or 16), zeros up to qs_off, then the 256 quants. */
PK_INLINE void pk_q8k_act_convert(int64_t n, const void *src, void *dst, size_t stride, int nbs, size_t qs_off) {
    const block_q8_K *y = src;
    uint8_t *o = dst;
    for (int64_t b = 0; b < n / HEARTH_QK_K; b++, o += stride) {
        memcpy(o, &y[b].d, sizeof(float));
        int16_t bs[16];
        for (int j = 0; j < nbs; j++) {
            int s = 0;
            for (int k = 0; k < 16 / nbs; k++) s += y[b].bsums[j * (16 / nbs) + k];
            bs[j] = (int16_t)s;
        }
        memcpy(o + sizeof(float), bs, (size_t)nbs * sizeof(int16_t));
        memset(o + sizeof(float) + (size_t)nbs * sizeof(int16_t), 0, qs_off - sizeof(float) - (size_t)nbs * sizeof(int16_t));
        memcpy(o + qs_off, y[b].qs, HEARTH_QK_K);
    }
}

/* Defines the tile kernel `name` of kernels/packed.h: a switch on the token
 * count that calls body(n, s, lds, packed, act, ab, nr, NT, kind) with NT
 * a compile-time constant, so each count gets its own unrolled code. */
#define PK_DEFINE_TILE(name, body, kind)                                                                        \
    static void name(int64_t n, float *s, size_t lds, const void *packed, const void *act, size_t ab, int nr,   \
                     int nt) {                                                                                   \
        switch (nt) {                                                                                            \
        case 1: body(n, s, lds, packed, act, ab, nr, 1, kind); break;                                            \
        case 2: body(n, s, lds, packed, act, ab, nr, 2, kind); break;                                            \
        case 3: body(n, s, lds, packed, act, ab, nr, 3, kind); break;                                            \
        default: body(n, s, lds, packed, act, ab, nr, HEARTH_PACK_TOKENS, kind); break;                          \
        }                                                                                                        \
    }

#endif
