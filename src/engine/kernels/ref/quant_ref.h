/* quant_ref.h - the portable scalar reference kernels behind
 * hearth_type_get_ref(). Signatures are those of hearth/quant.h:
 *   to_float(x, y, n), from_float(x, y, n), vec_dot(n, s, x, y),
 * with n a multiple of the block size. None of them allocates or blocks.
 */
#ifndef HEARTH_QUANT_REF_H
#define HEARTH_QUANT_REF_H

#include <stdint.h>

#include "hearth/quant.h"

#include <math.h>

/* Nearest integer with ties to even, for |f| < 2^22: what ggml's nearest_int
 * (adding 1.5 * 2^23 and reading the mantissa) computes. The K-quant and
 * Q8_K quantizers use it, and matching it keeps their rounding identical. */
static inline int hearth_ref_nearest_int(float f) { return (int)rintf(f); }

#define HEARTH_REF_DECL(t)                                                     \
    void hearth_ref_to_float_##t(const void *x, float *y, int64_t n);          \
    void hearth_ref_from_float_##t(const float *x, void *y, int64_t n);

HEARTH_REF_DECL(f32)
HEARTH_REF_DECL(f16)
HEARTH_REF_DECL(bf16)
HEARTH_REF_DECL(q4_0)
HEARTH_REF_DECL(q4_1)
HEARTH_REF_DECL(q5_0)
HEARTH_REF_DECL(q5_1)
HEARTH_REF_DECL(q8_0)
HEARTH_REF_DECL(q8_1)
HEARTH_REF_DECL(q2_K)
HEARTH_REF_DECL(q3_K)
HEARTH_REF_DECL(q4_K)
HEARTH_REF_DECL(q5_K)
HEARTH_REF_DECL(q6_K)
HEARTH_REF_DECL(q8_K)
HEARTH_REF_DECL(iq4_nl)
HEARTH_REF_DECL(iq4_xs)
#undef HEARTH_REF_DECL

/* Activation quantizers for Q8_0 / Q8_1, rounding as llama.cpp's x86 CPU
 * build does (the build that produced the reference logits); the weight
 * quantizers above use ggml's "_ref" rounding instead. */
void hearth_ref_quantize_act_q8_0(const float *x, void *y, int64_t n);
void hearth_ref_quantize_act_q8_1(const float *x, void *y, int64_t n);

void hearth_ref_vec_dot_f32(int64_t n, float *s, const void *x, const void *y);
void hearth_ref_vec_dot_f16(int64_t n, float *s, const void *x, const void *y);
void hearth_ref_vec_dot_bf16(int64_t n, float *s, const void *x, const void *y);
void hearth_ref_vec_dot_q4_0_q8_0(int64_t n, float *s, const void *x, const void *y);
void hearth_ref_vec_dot_q4_1_q8_1(int64_t n, float *s, const void *x, const void *y);
void hearth_ref_vec_dot_q5_0_q8_0(int64_t n, float *s, const void *x, const void *y);
void hearth_ref_vec_dot_q5_1_q8_1(int64_t n, float *s, const void *x, const void *y);
void hearth_ref_vec_dot_q8_0_q8_0(int64_t n, float *s, const void *x, const void *y);
void hearth_ref_vec_dot_q8_1_q8_1(int64_t n, float *s, const void *x, const void *y);
void hearth_ref_vec_dot_q2_K_q8_K(int64_t n, float *s, const void *x, const void *y);
void hearth_ref_vec_dot_q3_K_q8_K(int64_t n, float *s, const void *x, const void *y);
void hearth_ref_vec_dot_q4_K_q8_K(int64_t n, float *s, const void *x, const void *y);
void hearth_ref_vec_dot_q5_K_q8_K(int64_t n, float *s, const void *x, const void *y);
void hearth_ref_vec_dot_q6_K_q8_K(int64_t n, float *s, const void *x, const void *y);
void hearth_ref_vec_dot_q8_K_q8_K(int64_t n, float *s, const void *x, const void *y);
void hearth_ref_vec_dot_iq4_nl_q8_0(int64_t n, float *s, const void *x, const void *y);
void hearth_ref_vec_dot_iq4_xs_q8_K(int64_t n, float *s, const void *x, const void *y);

/* The reference register-tile kernel of `type` (a loop over its reference
 * vec_dot, so results equal the per-(row, token) loop), or NULL for a type
 * the reference cannot compute. Defined in gemm_ref.c. */
hearth_gemm_fn hearth_ref_gemm_for(uint32_t type);

#endif
