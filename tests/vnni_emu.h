/* vnni_emu.h - the AVX-512 level's quantized kernels rebuilt for AVX2 (test
 * only; defined in tests/vnni_emu_avx2.c, which x86 builds compile with
 * -mavx2 -mfma -mf16c into test_vnni_emu).
 *
 * quant_avx512.c includes the shared x86 bodies with HX_VNNI set and the
 * byte dot done by vpdpbusd; vnni_emu_avx2.c includes them the same way with
 * an exact AVX2 emulation of vpdpbusd, so a machine without AVX-512 runs the
 * integer logic of the AVX-512 level. Every function here may only be called
 * when hearth_cpu_supports(HEARTH_ISA_AVX2) (AVX2, FMA and F16C).
 */
#ifndef HEARTH_TEST_VNNI_EMU_H
#define HEARTH_TEST_VNNI_EMU_H

#include <stddef.h>
#include <stdint.h>

#include "engine/kernels/dispatch.h"
#include "engine/kernels/packed.h"

/* Writes up to cap entries of the emulated level's kernel list (the shared
 * body's hx_body_list, as hearth_kernels_list_avx512 starts with) to out;
 * returns how many it wrote. Does not block. */
size_t vnni_emu_kernels_list(hearth_kernel_entry *out, size_t cap);

/* Writes up to cap entries of the emulated level's tile (gemm) list, as
 * hearth_gemm_list_avx512; returns how many it wrote. Does not block. */
size_t vnni_emu_gemm_list(hearth_gemm_entry *out, size_t cap);

/* The AVX-512 level's VNNI packed kernels of `type` (gemm_packed_sym_body.h
 * as gemm_packed_avx512.c builds it, emulated), or NULL for the types that
 * level takes from the AVX2 set. Does not block. */
const hearth_packed_gemm *vnni_emu_packed_get(uint32_t type);

/* out[i] = acc[i] + sum over k < 4 of u[4i + k] * s[4i + k] (wrapping), as
 * the emulated vpdpbusd computes it; for checking the emulation itself.
 * Does not block. */
void vnni_emu_dpbusd(int32_t out[8], const int32_t acc[8], const uint8_t u[32], const int8_t s[32]);

#endif
