/* packed.h - prefill kernels on weight tiles repacked on the fly (internal).
 *
 * For types that have one, hearth_matmul repacks HEARTH_PACK_ROWS weight rows
 * at a time into a small per-thread buffer (rows interleaved in 4-byte
 * groups, so one broadcast 4-byte group of a token's activations multiplies
 * all rows in one instruction), converts the activations once per matmul to
 * the kernel's layout, and runs `tile` over every token of the matmul with
 * the same packed rows: the unpacking is amortised over all tokens.
 *
 * Exactness: every (row, token) result is bit for bit the level's vec_dot
 * (the integer block sums are exact and the float statements are the
 * vec_dot's, in its order), so batch size never changes a result.
 */
#ifndef HEARTH_KERNELS_PACKED_H
#define HEARTH_KERNELS_PACKED_H

#include <stddef.h>
#include <stdint.h>

#define HEARTH_PACK_ROWS 8 /* rows per packed group */
#define HEARTH_PACK_TOKENS 4 /* most tokens per tile call */
/* Upper bound of group_bytes(n) / n for every layout: the matmul scratch
 * reserves this much per value for each thread's packing buffer (a layout
 * above it still works, with a buffer allocated per call). */
#define HEARTH_PACK_MAX_BYTES 18

typedef struct hearth_packed_gemm {
    /* Bytes of one packed group of HEARTH_PACK_ROWS rows of n values. */
    size_t (*group_bytes)(int64_t n);
    /* Packs rows 0..nr-1 of x (rows bx bytes apart; 1 <= nr <= PACK_ROWS)
     * into dst (group_bytes(n), 32-byte aligned); missing rows are zero. */
    void (*pack)(int64_t n, const void *x, size_t bx, int nr, void *dst);
    /* Bytes of one activation row of n values in the kernel's layout. */
    size_t (*act_bytes)(int64_t n);
    /* Converts one activation row from the vec_dot type to the layout. */
    void (*act_convert)(int64_t n, const void *src, void *dst);
    /* s[t * lds + r] = dot(row r, token t) for r < nr, t < nt (1 <= nt <=
     * HEARTH_PACK_TOKENS); tokens are `ab` bytes apart in act. */
    void (*tile)(int64_t n, float *s, size_t lds, const void *packed, const void *act, size_t ab, int nr,
                 int nt);
} hearth_packed_gemm;

/* The packed kernels of `type` at the selected kernel level, or NULL when
 * there are none (the matmul then uses the type's gemm or vec_dot). */
const hearth_packed_gemm *hearth_packed_gemm_get(uint32_t type);

/* The AVX2 set (defined only in x86 builds): the 32-value types in
 * x86/gemm_packed_avx2.c, which hands the K-quants to the second. */
const hearth_packed_gemm *hearth_packed_gemm_avx2(uint32_t type);
const hearth_packed_gemm *hearth_packed_gemm_avx2_k(uint32_t type);
/* IQ4_XS, Q4_1 and Q5_1 (x86/gemm_packed_extra_avx2.c), after the K-quants. */
/* The AVX-512 level's set (x86/gemm_packed_avx512.c): the symmetric 32-value
 * types with VNNI byte dots, then the AVX2 K-quants and the rest. */
const hearth_packed_gemm *hearth_packed_gemm_avx512(uint32_t type);
/* The AVX-VNNI level's set (x86/gemm_packed_avxvnni.c), likewise. */
const hearth_packed_gemm *hearth_packed_gemm_avxvnni(uint32_t type);
const hearth_packed_gemm *hearth_packed_gemm_avx2_extra(uint32_t type);

#endif
