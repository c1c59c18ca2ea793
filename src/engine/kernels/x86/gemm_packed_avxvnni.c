/* gemm_packed_avxvnni.c - prefill kernels on repacked weight groups for the
 * AVX-VNNI level (built with its flags; see kernels/packed.h): the
 * symmetric 32-value types from gemm_packed_sym_body.h with the VEX
 * vpdpbusd, as gemm_packed_avx512.c builds them with the EVEX one; the other
 * types use the AVX2 packed kernels.
 */
#include <immintrin.h>

/* Returns acc + the 4-byte-group dots of u (unsigned) and s (signed). */
static inline __m256i avxvnni_pk_dot_u8s8(__m256i acc, __m256i u, __m256i s) {
    return _mm256_dpbusd_avx_epi32(acc, u, s);
}

#define PK_VNNI 1
#define PK_DOT_U8S8(acc, u, s) avxvnni_pk_dot_u8s8(acc, u, s)
#include "engine/kernels/x86/gemm_packed_sym_body.h"

/* Returns the AVX-VNNI level's packed kernels of `type`, or NULL. Does not
 * block. */
const hearth_packed_gemm *hearth_packed_gemm_avxvnni(uint32_t type) {
    const hearth_packed_gemm *pk = pk_sym_get(type);
    return pk ? pk : hearth_packed_gemm_avx2_k(type);
}
