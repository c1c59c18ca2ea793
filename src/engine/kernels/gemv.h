/* gemv.h - decode kernels: many weight rows against one activation row
 * (internal).
 *
 * Decoding reads every weight once per token, so each core's dot product
 * must consume weights faster than memory delivers them. The generic
 * vec_dot cannot: it recomputes, for every row, work that depends only on
 * the activation (the sign trick, per-block sums, scale conversion). A gemv
 * kernel moves that work to act_prepare, which runs once per activation row
 * and writes the activation in a layout made for the kernel, so the
 * per-row loop is only weight unpacking and multiply-adds. Weights are read
 * in place from the mapped file: nothing is repacked or copied.
 *
 * Exactness: rows() gives, bit for bit, the selected level's vec_dot of
 * each row with the original activation (same exact integer block sums,
 * same float statements in the same order), so the decode path and the
 * batched prefill path agree exactly.
 */
#ifndef HEARTH_KERNELS_GEMV_H
#define HEARTH_KERNELS_GEMV_H

#include <stddef.h>
#include <stdint.h>

typedef struct hearth_gemv {
    /* Bytes of one prepared activation row of n values. */
    size_t (*act_bytes)(int64_t n);
    /* Prepares one activation row from its vec_dot-type row `src`; dst is
     * act_bytes(n) bytes, 32-byte aligned. */
    void (*act_prepare)(int64_t n, const void *src, void *dst);
    /* s[r] = dot(row r, activation) for 0 <= r < nr; row r starts at
     * x + r * bx, aligned as its blocks are (as in a GGUF file; nothing
     * wider is assumed); act is a prepared row. */
    void (*rows)(int64_t n, float *s, const void *x, size_t bx, int64_t nr, const void *act);
} hearth_gemv;

/* The gemv kernels of `type` at the selected kernel level, or NULL (the
 * matmul then uses vec_dot). */
const hearth_gemv *hearth_gemv_get(uint32_t type);

/* The AVX2 set (defined only in x86 builds). */
const hearth_gemv *hearth_gemv_avx2(uint32_t type);

#endif
