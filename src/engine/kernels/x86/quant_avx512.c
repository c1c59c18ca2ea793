/* quant_avx512.c - the AVX-512 level (built with F/BW/VL/DQ/VNNI/BF16 flags;
 * used only on CPUs with F, BW, VL, DQ and VNNI, and the BF16 dot only with
 * AVX512_BF16).
 *
 * The quantized dots are quant_x86_body.h's with the byte dot done by VNNI
 * vpdpbusd (no 16-bit intermediate), so the logic is the one the AVX2 level
 * tests; the float dots use 512-bit FMA, and BF16 uses vdpbf16ps where the
 * CPU has it (it treats bf16 subnormals as zero, a difference far below the
 * float tolerance of a dot product).
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

/* F32 dot with 512-bit FMA; shorter tails go to the 256-bit kernel's loop. */
static void z_vec_dot_f32(int64_t n, float *s, const void *vx, const void *vy) {
    const float *x = vx, *y = vy;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(y + i + 16), a1);
    }
    float rest = 0.0f;
    if (i < n) hx_vec_dot_f32(n - i, &rest, x + i, y + i);
    *s = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1)) + rest;
}

/* F16 dot: vcvtph2ps to 16 floats, 512-bit FMA. */
static void z_vec_dot_f16(int64_t n, float *s, const void *vx, const void *vy) {
    const uint16_t *x = vx, *y = vy;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0;
#define Z_LD(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p)))
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm512_fmadd_ps(Z_LD(x + i), Z_LD(y + i), a0);
        a1 = _mm512_fmadd_ps(Z_LD(x + i + 16), Z_LD(y + i + 16), a1);
    }
#undef Z_LD
    float rest = 0.0f;
    if (i < n) hx_vec_dot_f16(n - i, &rest, x + i, y + i);
    *s = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1)) + rest;
}

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
        {HEARTH_TYPE_F32, z_vec_dot_f32, NULL, NULL},
        {HEARTH_TYPE_F16, z_vec_dot_f16, NULL, NULL},
        {HEARTH_TYPE_BF16, cpu->avx512_bf16 ? z_vec_dot_bf16 : NULL, NULL, NULL},
    };
    for (size_t k = 0; k < sizeof extra / sizeof extra[0] && n < cap; k++) out[n++] = extra[k];
    return n;
}

/* Lists the AVX-512 tile kernels (the shared body's, with VNNI byte dots);
 * see dispatch.h. Does not block. */
size_t hearth_gemm_list_avx512(const hearth_cpu_features *cpu, hearth_gemm_entry *out, size_t cap) {
    (void)cpu;
    return hx_gemm_body_list(out, cap);
}
