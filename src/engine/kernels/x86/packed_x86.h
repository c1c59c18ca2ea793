/* packed_x86.h - helpers shared by the AVX2 packed prefill tiles
 * (gemm_packed*_avx2.c; see kernels/packed.h). Internal; everything here is
 * inline and does not block.
 */
#ifndef HEARTH_PACKED_X86_H
#define HEARTH_PACKED_X86_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#define PK_INLINE static inline __attribute__((always_inline))
#define PK_UNROLL _Pragma("GCC unroll 8")
/* Keeps a running sum a running sum: without it the compiler reassociates
 * the (modular, so legally reorderable) integer adds of an unrolled block
 * into a tree that needs every product live at once, and spills them. */
#define PK_CHAIN(v) __asm__("" : "+x"(v))

/* 8 x 8 transpose of 32-bit groups: o[g] = group g of rows r[0..7]. */
PK_INLINE void pk_transpose8(const __m256i r[8], __m256i o[8]) {
    const __m256i t0 = _mm256_unpacklo_epi32(r[0], r[1]), t1 = _mm256_unpackhi_epi32(r[0], r[1]);
    const __m256i t2 = _mm256_unpacklo_epi32(r[2], r[3]), t3 = _mm256_unpackhi_epi32(r[2], r[3]);
    const __m256i t4 = _mm256_unpacklo_epi32(r[4], r[5]), t5 = _mm256_unpackhi_epi32(r[4], r[5]);
    const __m256i t6 = _mm256_unpacklo_epi32(r[6], r[7]), t7 = _mm256_unpackhi_epi32(r[6], r[7]);
    const __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
    const __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
    const __m256i u4 = _mm256_unpacklo_epi64(t4, t6), u5 = _mm256_unpackhi_epi64(t4, t6);
    const __m256i u6 = _mm256_unpacklo_epi64(t5, t7), u7 = _mm256_unpackhi_epi64(t5, t7);
    o[0] = _mm256_permute2x128_si256(u0, u4, 0x20);
    o[1] = _mm256_permute2x128_si256(u1, u5, 0x20);
    o[2] = _mm256_permute2x128_si256(u2, u6, 0x20);
    o[3] = _mm256_permute2x128_si256(u3, u7, 0x20);
    o[4] = _mm256_permute2x128_si256(u0, u4, 0x31);
    o[5] = _mm256_permute2x128_si256(u1, u5, 0x31);
    o[6] = _mm256_permute2x128_si256(u2, u6, 0x31);
    o[7] = _mm256_permute2x128_si256(u3, u7, 0x31);
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

/* Stores the 8 rows' fp16 scales h as floats at dst (32-byte aligned): the
 * per-row d (and m / dmin) of every packed layout. */
PK_INLINE void pk_store_scales(uint8_t *dst, const uint16_t h[8]) {
    const __m128i v = _mm_set_epi16((short)h[7], (short)h[6], (short)h[5], (short)h[4], (short)h[3], (short)h[2],
                                    (short)h[1], (short)h[0]);
    _mm256_store_ps((float *)(void *)dst, _mm256_cvtph_ps(v));
}

/* Stores as floats at dst (32-byte aligned) the fp16 scales at p of rows
 * 0..nr-1 (stride bytes apart; missing rows get 0). For the per-block
 * scales of the 32-value types, which are packed once per 32 values: each
 * is inserted straight from memory, because an array of them spilled as
 * 2-byte stores and reloaded wider stalled every block on store forwarding
 * (half the packing time). */
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
