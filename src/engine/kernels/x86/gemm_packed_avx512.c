/* gemm_packed_avx512.c - prefill kernels on repacked weight groups for the
 * AVX-512 level (built with its flags; see kernels/packed.h): the symmetric
 * 32-value types from gemm_packed_sym_body.h with their byte dots done by
 * 256-bit VNNI vpdpbusd, which adds the four byte products of each int32
 * lane with no 16-bit step, so a group and token cost one instruction
 * instead of maddubs plus an add (and Q8_0 no longer needs the sign trick).
 * The other types use the AVX2 packed kernels, whose block integers and
 * float statements are the same.
 */
#include <immintrin.h>

/* Returns acc + the 4-byte-group dots of u (unsigned) and s (signed). */
static inline __m256i avx512_pk_dot_u8s8(__m256i acc, __m256i u, __m256i s) { return _mm256_dpbusd_epi32(acc, u, s); }

#define PK_VNNI 1
#define PK_DOT_U8S8(acc, u, s) avx512_pk_dot_u8s8(acc, u, s)
#include "engine/kernels/x86/gemm_packed_sym_body.h"

/* Returns the AVX-512 level's packed kernels of `type`, or NULL. Does not
 * block. */
const hearth_packed_gemm *hearth_packed_gemm_avx512(uint32_t type) {
    const hearth_packed_gemm *pk = pk_sym_get(type);
    return pk ? pk : hearth_packed_gemm_avx2_k(type);
}
