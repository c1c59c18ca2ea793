/* gemm_ref.c - the reference register-tile kernels: one per computable type,
 * each a loop over that type's reference vec_dot, so that a tiled matmul
 * with the reference table computes exactly what the per-(row, token) loop
 * does. Faster levels replace them with blocked kernels (dispatch.h). */
#include "engine/kernels/ref/quant_ref.h"

/* Defines hearth_ref_gemm_<dot>: s[t * lds + r] = dot(x row r, y row t). */
#define REF_GEMM(dot)                                                                             \
    static void ref_gemm_##dot(int64_t n, float *s, size_t lds, const void *x, size_t bx,         \
                               const void *y, size_t by, int nr, int nt) {                        \
        for (int t = 0; t < nt; t++)                                                              \
            for (int r = 0; r < nr; r++)                                                          \
                hearth_ref_vec_dot_##dot(n, &s[(size_t)t * lds + (size_t)r],                      \
                                         (const char *)x + (size_t)r * bx,                        \
                                         (const char *)y + (size_t)t * by);                       \
    }

REF_GEMM(f32)
REF_GEMM(f16)
REF_GEMM(bf16)
REF_GEMM(q4_0_q8_0)
REF_GEMM(q4_1_q8_1)
REF_GEMM(q5_0_q8_0)
REF_GEMM(q5_1_q8_1)
REF_GEMM(q8_0_q8_0)
REF_GEMM(q8_1_q8_1)
REF_GEMM(q2_K_q8_K)
REF_GEMM(q3_K_q8_K)
REF_GEMM(q4_K_q8_K)
REF_GEMM(q5_K_q8_K)
REF_GEMM(q6_K_q8_K)
REF_GEMM(q8_K_q8_K)
REF_GEMM(iq4_nl_q8_0)
REF_GEMM(iq4_xs_q8_K)

/* Returns the reference tile kernel of a type, or NULL for a type the
 * reference cannot compute. Does not block. */
hearth_gemm_fn hearth_ref_gemm_for(uint32_t type) {
    switch (type) {
    case HEARTH_TYPE_F32: return ref_gemm_f32;
    case HEARTH_TYPE_F16: return ref_gemm_f16;
    case HEARTH_TYPE_BF16: return ref_gemm_bf16;
    case HEARTH_TYPE_Q4_0: return ref_gemm_q4_0_q8_0;
    case HEARTH_TYPE_Q4_1: return ref_gemm_q4_1_q8_1;
    case HEARTH_TYPE_Q5_0: return ref_gemm_q5_0_q8_0;
    case HEARTH_TYPE_Q5_1: return ref_gemm_q5_1_q8_1;
    case HEARTH_TYPE_Q8_0: return ref_gemm_q8_0_q8_0;
    case HEARTH_TYPE_Q8_1: return ref_gemm_q8_1_q8_1;
    case HEARTH_TYPE_Q2_K: return ref_gemm_q2_K_q8_K;
    case HEARTH_TYPE_Q3_K: return ref_gemm_q3_K_q8_K;
    case HEARTH_TYPE_Q4_K: return ref_gemm_q4_K_q8_K;
    case HEARTH_TYPE_Q5_K: return ref_gemm_q5_K_q8_K;
    case HEARTH_TYPE_Q6_K: return ref_gemm_q6_K_q8_K;
    case HEARTH_TYPE_Q8_K: return ref_gemm_q8_K_q8_K;
    case HEARTH_TYPE_IQ4_NL: return ref_gemm_iq4_nl_q8_0;
    case HEARTH_TYPE_IQ4_XS: return ref_gemm_iq4_xs_q8_K;
    default: return NULL;
    }
}
