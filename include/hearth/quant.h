/* quant.h - tensor types: sizes, dequantizers, activation quantizers, dot products.
 *
 * Type ids are ggml's (they are what GGUF stores). The traits table knows the
 * block size and byte size of every ggml type id so that the GGUF reader can
 * validate any file; `to_float`/`vec_dot` are NULL for types hearth does not
 * compute (the model loader reports those by name).
 *
 * Dot products follow the reference implementation: a weight row of type T is
 * multiplied with an activation row already quantized to T's `vec_dot_type`
 * (Q8_0, Q8_1, Q8_K, F16, BF16 or F32), which is what TOLERANCES.md measures.
 *
 * Kernels: every function pointer in the table returned by
 * hearth_type_get() is the best implementation for this CPU (chosen once at
 * first use from runtime CPU detection); hearth_type_get_ref() returns the
 * portable scalar reference with identical signatures, which tests compare
 * against.
 */
#ifndef HEARTH_QUANT_H
#define HEARTH_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hearth_type {
    HEARTH_TYPE_F32 = 0,
    HEARTH_TYPE_F16 = 1,
    HEARTH_TYPE_Q4_0 = 2,
    HEARTH_TYPE_Q4_1 = 3,
    /* 4, 5: removed Q4_2/Q4_3 */
    HEARTH_TYPE_Q5_0 = 6,
    HEARTH_TYPE_Q5_1 = 7,
    HEARTH_TYPE_Q8_0 = 8,
    HEARTH_TYPE_Q8_1 = 9,
    HEARTH_TYPE_Q2_K = 10,
    HEARTH_TYPE_Q3_K = 11,
    HEARTH_TYPE_Q4_K = 12,
    HEARTH_TYPE_Q5_K = 13,
    HEARTH_TYPE_Q6_K = 14,
    HEARTH_TYPE_Q8_K = 15,
    HEARTH_TYPE_IQ2_XXS = 16,
    HEARTH_TYPE_IQ2_XS = 17,
    HEARTH_TYPE_IQ3_XXS = 18,
    HEARTH_TYPE_IQ1_S = 19,
    HEARTH_TYPE_IQ4_NL = 20,
    HEARTH_TYPE_IQ3_S = 21,
    HEARTH_TYPE_IQ2_S = 22,
    HEARTH_TYPE_IQ4_XS = 23,
    HEARTH_TYPE_I8 = 24,
    HEARTH_TYPE_I16 = 25,
    HEARTH_TYPE_I32 = 26,
    HEARTH_TYPE_I64 = 27,
    HEARTH_TYPE_F64 = 28,
    HEARTH_TYPE_IQ1_M = 29,
    HEARTH_TYPE_BF16 = 30,
    /* 31-33: removed Q4_0_4_4 etc. */
    HEARTH_TYPE_TQ1_0 = 34,
    HEARTH_TYPE_TQ2_0 = 35,
    HEARTH_TYPE_COUNT = 40
} hearth_type;

/* Dequantizes `n` values (a multiple of the block size) from `x` to `y`. */
typedef void (*hearth_to_float_fn)(const void *x, float *y, int64_t n);
/* Quantizes `n` floats (a multiple of the block size) from `x` into blocks at `y`. */
typedef void (*hearth_from_float_fn)(const float *x, void *y, int64_t n);
/* *s = dot(x, y) over `n` values; x is a row of the weight type, y a row of
 * its vec_dot_type; n is a multiple of the block size of both. */
typedef void (*hearth_vec_dot_fn)(int64_t n, float *s, const void *x, const void *y);
/* A register tile of dot products for batched matmuls (prefill):
 * s[t * lds + r] = dot(x row r, y row t) for r < nr, t < nt, with
 * 1 <= nr, nt <= HEARTH_GEMM_TILE. Rows of x are bx bytes apart, rows of y
 * (the activations, of the vec_dot_type) by bytes apart. Each weight block
 * is unpacked once and used for every token of the tile. */
#define HEARTH_GEMM_TILE 4
typedef void (*hearth_gemm_fn)(int64_t n, float *s, size_t lds, const void *x, size_t bx,
                               const void *y, size_t by, int nr, int nt);

typedef struct hearth_type_traits {
    const char *name;             /* "q4_k", "f16", ... */
    int64_t block_size;           /* values per block (1 for float types) */
    size_t type_size;             /* bytes per block */
    bool is_quantized;
    hearth_type vec_dot_type;     /* activation type for vec_dot */
    hearth_to_float_fn to_float;  /* NULL when hearth cannot compute this type */
    hearth_from_float_fn from_float; /* NULL when hearth cannot produce this type */
    hearth_vec_dot_fn vec_dot;    /* NULL when hearth cannot compute this type */
    hearth_gemm_fn gemm;          /* NULL: matmuls use vec_dot per (row, token) */
} hearth_type_traits;

/* Returns the traits of a type id with the best kernels for this CPU, or NULL
 * for an id that is not a ggml type. Thread-safe; the first call detects the
 * CPU. The table is static: never free it. */
const hearth_type_traits *hearth_type_get(uint32_t type);
/* Same with the scalar reference kernels only. */
const hearth_type_traits *hearth_type_get_ref(uint32_t type);

/* Returns the name of the kernel set hearth_type_get() uses on this CPU:
 * "scalar", "avx2", "avx512-vnni", "avx512-vnni-bf16", "neon",
 * "neon-dotprod", "neon-i8mm" (the env var HEARTH_ISA caps it; see kernels/cpu.h).
 * Static string; the first call detects the CPU. */
const char *hearth_kernels_isa(void);

/* Returns the name of a type id, or "unknown". */
const char *hearth_type_name(uint32_t type);
/* Parses a type name ("Q4_0", "q4_k", "f16"; case-insensitive); -1 if unknown. */
int hearth_type_from_name(const char *name);

/* Bytes in a row of `n` values, or 0 when `type` is unknown or `n` is not a
 * multiple of its block size. */
size_t hearth_row_size(uint32_t type, int64_t n);

/* IEEE half and bfloat16 conversions (round to nearest even). */
float hearth_fp16_to_fp32(uint16_t h);
uint16_t hearth_fp32_to_fp16(float f);
float hearth_bf16_to_fp32(uint16_t h);
uint16_t hearth_fp32_to_bf16(float f);

#ifdef __cplusplus
}
#endif
#endif
