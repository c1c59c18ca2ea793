/* gemm_packed_avx2.c - prefill kernels on repacked weight groups (AVX2 +
 * FMA + F16C; see kernels/packed.h): the symmetric 32-value types from
 * gemm_packed_sym_body.h with maddubs byte dots; the K-quants and the rest
 * follow in the other gemm_packed_*_avx2.c files.
 */
#define PK_VNNI 0
#include "engine/kernels/x86/gemm_packed_sym_body.h"

/* Returns the AVX2 packed kernels of `type`, or NULL. Does not block. */
const hearth_packed_gemm *hearth_packed_gemm_avx2(uint32_t type) {
    const hearth_packed_gemm *pk = pk_sym_get(type);
    return pk ? pk : hearth_packed_gemm_avx2_k(type);
}
