/* quant_avxvnni.c - the AVX-VNNI level (built with -mavxvnni -mavx2 -mfma
 * -mf16c; used only on CPUs with AVX-VNNI, AVX2, FMA and F16C): the
 * VEX-encoded 256-bit vpdpbusd of CPUs that have VNNI without AVX-512
 * (Intel's hybrid laptop and desktop parts from Alder Lake on, among others).
 *
 * The quantized dots and tiles are quant_x86_body.h's and gemm_x86_body.h's
 * with HX_VNNI set, exactly as the AVX-512 level builds them (the EVEX and
 * VEX forms of vpdpbusd compute the same thing on 256 bits), so test_vnni_emu
 * checks this level's logic too; the float dots and tiles are the body's.
 */
#include <immintrin.h>

/* Returns acc + the 4-byte-group dots of u (unsigned) and s (signed). */
static inline __m256i avxvnni_dot_u8s8(__m256i acc, __m256i u, __m256i s) {
    return _mm256_dpbusd_avx_epi32(acc, u, s);
}

#define HX_DOT_U8S8(acc, u, s) avxvnni_dot_u8s8(acc, u, s)
#define HX_VNNI 1
#include "engine/kernels/x86/quant_x86_body.h"
#include "engine/kernels/x86/gemm_x86_body.h"

/* Lists the AVX-VNNI kernels; see dispatch.h. Does not block. */
size_t hearth_kernels_list_avxvnni(const hearth_cpu_features *cpu, hearth_kernel_entry *out, size_t cap) {
    (void)cpu;
    return hx_body_list(out, cap);
}

/* Lists the AVX-VNNI tile kernels (the body's, with VNNI byte dots, and its
 * float tiles); see dispatch.h. Does not block. */
size_t hearth_gemm_list_avxvnni(const hearth_cpu_features *cpu, hearth_gemm_entry *out, size_t cap) {
    (void)cpu;
    return hx_gemm_full_list(out, cap);
}
