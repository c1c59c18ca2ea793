/* blocks_x86.h - the 32 values of a symmetric 32-value block (Q4_0, Q5_0,
 * Q8_0, IQ4_NL) as signed bytes in element order (AVX2; internal). Shared by
 * the vec_dots (quant_x86_body.h), the register tiles (gemm_x86_body.h) and
 * the packed prefill tiles (gemm_packed_avx2.c), so a format is unpacked by
 * one piece of code. Every function is inline and does not block.
 */
#ifndef HEARTH_BLOCKS_X86_H
#define HEARTH_BLOCKS_X86_H

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "engine/quant_blocks.h"

/* Expands 16 bytes of packed nibbles: bytes 0..15 get the low nibbles,
 * bytes 16..31 the high ones (the element order of the 32-value blocks). */
static inline __m256i hx_nibbles(const uint8_t *qs) {
    const __m256i b = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs));
    return _mm256_and_si256(_mm256_blend_epi32(b, _mm256_srli_epi16(b, 4), 0xF0), _mm256_set1_epi8(0x0F));
}

/* Byte e = 0xFF where bit e of the little-endian 32-bit mask is set. */
static inline __m256i hx_bits_to_bytes(const uint8_t qh[4]) {
    uint32_t m;
    memcpy(&m, qh, 4); /* x86 is little-endian, as the format */
    const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3,
                                            3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    const __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)m), spread);
    return _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
}

/* The 16 IQ4_NL levels in both 128-bit lanes, for byte shuffles. */
static inline __m256i hx_iq4nl_table(void) {
    const __m128i t = _mm_loadu_si128((const __m128i *)hearth_kvalues_iq4nl);
    return _mm256_inserti128_si256(_mm256_castsi128_si256(t), t, 1);
}

enum { HX_K_Q4_0, HX_K_Q5_0, HX_K_Q8_0, HX_K_IQ4_NL };

/* The 32 signed values of one block of kind `k`, in element order. */
static inline __attribute__((always_inline)) __m256i hx_unpack_sym(const uint8_t *blk, int k) {
    switch (k) {
    case HX_K_Q4_0:
        return _mm256_sub_epi8(hx_nibbles(((const block_q4_0 *)(const void *)blk)->qs), _mm256_set1_epi8(8));
    case HX_K_Q5_0: { /* q - 16 = nibble - 16 * (1 - 5th bit) */
        const block_q5_0 *x = (const block_q5_0 *)(const void *)blk;
        const __m256i hi = _mm256_andnot_si256(hx_bits_to_bytes(x->qh), _mm256_set1_epi8(0x10));
        return _mm256_sub_epi8(hx_nibbles(x->qs), hi);
    }
    case HX_K_Q8_0:
        return _mm256_loadu_si256((const __m256i *)((const block_q8_0 *)(const void *)blk)->qs);
    default:
        return _mm256_shuffle_epi8(hx_iq4nl_table(), hx_nibbles(((const block_iq4_nl *)(const void *)blk)->qs));
    }
}

/* t[k] = qword k of rows r0..r3 (a 4 x 4 transpose of 64-bit elements):
 * the register tiles' row interleave, and the second half of the packed
 * tiles' 8 x 8 transpose of 32-bit elements (packed_x86.h). */
static inline __attribute__((always_inline)) void hx_transpose4(__m256i r0, __m256i r1, __m256i r2, __m256i r3,
                                                                __m256i t[4]) {
    const __m256i a = _mm256_unpacklo_epi64(r0, r1), b = _mm256_unpackhi_epi64(r0, r1);
    const __m256i c = _mm256_unpacklo_epi64(r2, r3), d = _mm256_unpackhi_epi64(r2, r3);
    t[0] = _mm256_permute2x128_si256(a, c, 0x20);
    t[1] = _mm256_permute2x128_si256(b, d, 0x20);
    t[2] = _mm256_permute2x128_si256(a, c, 0x31);
    t[3] = _mm256_permute2x128_si256(b, d, 0x31);
}

/* Bytes of one block of kind `k` (each starts with its fp16 scale). */
static inline __attribute__((always_inline)) size_t hx_sym_size(int k) {
    switch (k) {
    case HX_K_Q4_0: return sizeof(block_q4_0);
    case HX_K_Q5_0: return sizeof(block_q5_0);
    case HX_K_Q8_0: return sizeof(block_q8_0);
    default: return sizeof(block_iq4_nl);
    }
}

#endif
