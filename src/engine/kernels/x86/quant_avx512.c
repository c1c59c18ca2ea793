/* quant_avx512.c - the AVX-512 level (built with F/BW/VL/DQ/VNNI/BF16 flags;
 * used only on CPUs with F, BW, VL, DQ and VNNI, and the BF16 dot only with
 * AVX512_BF16).
 *
 * The quantized dots are quant_x86_body.h's with the byte dot done by VNNI
 * vpdpbusd (no 16-bit intermediate), so the logic is the one the AVX2 level
 * tests; the F32 and F16 dots and tiles are the body's (256-bit: decode is
 * memory-bound, and one code path keeps tiles and dots identical), and BF16
 * uses vdpbf16ps where the CPU has it (it treats bf16 subnormals as zero, a
 * difference far below the float tolerance of a dot product).
 */
#include <immintrin.h>

/* Returns acc + the 4-byte-group dots of u (unsigned) and s (signed). */
static inline __m256i avx512_dot_u8s8(__m256i acc, __m256i u, __m256i s) {
    return _mm256_dpbusd_epi32(acc, u, s);
}

#define HX_DOT_U8S8(acc, u, s) avx512_dot_u8s8(acc, u, s)
#define HX_VNNI 1
#include "engine/kernels/x86/quant_x86_body.h"
#include "engine/kernels/x86/gemm_x86_body.h"

/* BF16 dot with vdpbf16ps: 32 pairs per instruction into 16 fp32 lanes. */
static void z_vec_dot_bf16(int64_t n, float *s, const void *vx, const void *vy) {
    const uint16_t *x = vx, *y = vy;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0;
#define Z_LD(p) ((__m512bh)_mm512_loadu_si512((const void *)(p)))
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        a0 = _mm512_dpbf16_ps(a0, Z_LD(x + i), Z_LD(y + i));
        a1 = _mm512_dpbf16_ps(a1, Z_LD(x + i + 32), Z_LD(y + i + 32));
    }
#undef Z_LD
    float rest = 0.0f;
    if (i < n) hx_vec_dot_bf16(n - i, &rest, x + i, y + i);
    *s = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1)) + rest;
}

/* Lists the AVX-512 kernels (after the body's, so the float dots here win);
 * see dispatch.h. Does not block. */
size_t hearth_kernels_list_avx512(const hearth_cpu_features *cpu, hearth_kernel_entry *out, size_t cap) {
    size_t n = hx_body_list(out, cap);
    const hearth_kernel_entry extra[] = {
        {HEARTH_TYPE_BF16, cpu->avx512_bf16 ? z_vec_dot_bf16 : NULL, NULL, NULL},
    };
    for (size_t k = 0; k < sizeof extra / sizeof extra[0] && n < cap; k++) out[n++] = extra[k];
    return n;
}

/* Lists the AVX-512 tile kernels (the shared body's, with VNNI byte dots,
 * and its float tiles, except BF16's where vdpbf16ps replaces that vec_dot:
 * a tile must match its level's vec_dot); see dispatch.h. Does not block. */
size_t hearth_gemm_list_avx512(const hearth_cpu_features *cpu, hearth_gemm_entry *out, size_t cap) {
    size_t n = hx_gemm_body_list(out, cap);
    hearth_gemm_entry fl[3];
    const size_t nf = hx_gemm_float_list(fl, 3);
    for (size_t i = 0; i < nf && n < cap; i++)
        if (!(fl[i].type == HEARTH_TYPE_BF16 && cpu->avx512_bf16)) out[n++] = fl[i];
    return n;
}
