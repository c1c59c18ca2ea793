/* quant_avx2.c - the AVX2 + FMA + F16C kernel level (built with -mavx2
 * -mfma -mf16c; only called after cpu.c has seen those features).
 *
 * The kernels are in quant_x86_body.h; here the unsigned-by-signed byte dot
 * is maddubs (16-bit pair sums) followed by madd with ones (32-bit sums).
 */
#include <immintrin.h>

/* Returns acc + the 4-byte-group dots of u (unsigned) and s (signed); the
 * pair sums u*s must fit in int16 (see quant_x86_body.h). */
static inline __m256i avx2_dot_u8s8(__m256i acc, __m256i u, __m256i s) {
    const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
    return _mm256_add_epi32(acc, p);
}

#define HX_DOT_U8S8(acc, u, s) avx2_dot_u8s8(acc, u, s)
#include "engine/kernels/x86/quant_x86_body.h"
#include "engine/kernels/x86/gemm_x86_body.h"

/* Lists the AVX2 kernels; see dispatch.h. Does not block. */
size_t hearth_kernels_list_avx2(const hearth_cpu_features *cpu, hearth_kernel_entry *out, size_t cap) {
    (void)cpu;
    return hx_body_list(out, cap);
}

/* Lists the AVX2 tile kernels; see dispatch.h. Does not block. */
size_t hearth_gemm_list_avx2(const hearth_cpu_features *cpu, hearth_gemm_entry *out, size_t cap) {
    (void)cpu;
    return hx_gemm_full_list(out, cap);
}
