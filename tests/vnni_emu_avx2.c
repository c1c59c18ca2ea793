/* vnni_emu_avx2.c - the AVX-512 level's quantized kernels with vpdpbusd
 * emulated in AVX2 (test only; see vnni_emu.h).
 *
 * The shared bodies are included exactly as quant_avx512.c includes them
 * (HX_DOT_U8S8 defined, HX_VNNI set), so every HX_VNNI code path is compiled
 * here; only the byte dot differs, and it is exact: vpdpbusd adds to each
 * int32 lane the 4 products unsigned byte x signed byte with no
 * intermediate saturation (unlike maddubs, whose 16-bit pair sums
 * saturate), which the emulation reproduces by widening the even and odd
 * bytes to int16 (products |u*s| <= 255 * 128 and pair sums fit madd's int32
 * lanes exactly) and adding with wrap-around, as vpdpbusd does.
 */
#if !defined(__AVX2__) || !defined(__FMA__) || !defined(__F16C__)
#error "vnni_emu_avx2.c must be built with -mavx2 -mfma -mf16c"
#endif

#include <immintrin.h>

#include "vnni_emu.h"

/* Returns acc + the 4-byte-group dots of u (unsigned) and s (signed), as
 * vpdpbusd (no saturation anywhere). */
static inline __m256i emu_dot_u8s8(__m256i acc, __m256i u, __m256i s) {
    const __m256i u_even = _mm256_and_si256(u, _mm256_set1_epi16(0x00FF));
    const __m256i u_odd = _mm256_srli_epi16(u, 8);
    const __m256i s_even = _mm256_srai_epi16(_mm256_slli_epi16(s, 8), 8);
    const __m256i s_odd = _mm256_srai_epi16(s, 8);
    const __m256i p = _mm256_add_epi32(_mm256_madd_epi16(u_even, s_even), _mm256_madd_epi16(u_odd, s_odd));
    return _mm256_add_epi32(acc, p);
}

#define HX_DOT_U8S8(acc, u, s) emu_dot_u8s8(acc, u, s)
#define HX_VNNI 1
#include "engine/kernels/x86/quant_x86_body.h"
#include "engine/kernels/x86/gemm_x86_body.h"
#define PK_VNNI 1
#define PK_DOT_U8S8(acc, u, s) emu_dot_u8s8(acc, u, s)
#include "engine/kernels/x86/gemm_packed_sym_body.h"

/* See vnni_emu.h. */
size_t vnni_emu_kernels_list(hearth_kernel_entry *out, size_t cap) {
    return hx_body_list(out, cap);
}

/* See vnni_emu.h. */
size_t vnni_emu_gemm_list(hearth_gemm_entry *out, size_t cap) {
    return hx_gemm_full_list(out, cap);
}

/* See vnni_emu.h. */
const hearth_packed_gemm *vnni_emu_packed_get(uint32_t type) { return pk_sym_get(type); }

/* See vnni_emu.h. */
void vnni_emu_dpbusd(int32_t out[8], const int32_t acc[8], const uint8_t u[32], const int8_t s[32]) {
    const __m256i r = HX_DOT_U8S8(_mm256_loadu_si256((const __m256i *)(const void *)acc),
                                  _mm256_loadu_si256((const __m256i *)(const void *)u),
                                  _mm256_loadu_si256((const __m256i *)(const void *)s));
    _mm256_storeu_si256((__m256i *)(void *)out, r);
}
