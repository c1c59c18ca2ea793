/* quant_dotprod.c - the aarch64 dot-product level (built with
 * -march=armv8.2-a+dotprod+fp16; used only where the OS reports asimddp /
 * FEAT_DotProd).
 *
 * The kernels are quant_arm_body.h's with the signed byte dot done by
 * SDOT (vdotq_s32: 4 products per 32-bit lane), the logic the NEON level
 * also runs.
 *
 * SMMLA (vmmlaq_s32) multiplies a 2x8 by an 8x2 byte tile, which pays off
 * only when a kernel sees two weight rows and two tokens at once: the i8mm
 * level (quant_i8mm.c) builds its register tiles on it.
 */
#include <arm_neon.h>

/* Returns acc + the products of a and b, 4 per lane (SDOT). */
static inline int32x4_t dotprod_dot(int32x4_t acc, int8x16_t a, int8x16_t b) {
    return vdotq_s32(acc, a, b);
}

#define HA_DOT(acc, a, b) dotprod_dot(acc, a, b)
#include "engine/kernels/arm/quant_arm_body.h"

/* Lists the dot-product kernels; see dispatch.h. Does not block. */
size_t hearth_kernels_list_dotprod(const hearth_cpu_features *cpu, hearth_kernel_entry *out, size_t cap) {
    (void)cpu;
    return ha_body_list(out, cap);
}

/* Lists the dot-product tile kernels (none yet: the matmul falls back to
 * vec_dot per (row, token)); see dispatch.h. Does not block. */
size_t hearth_gemm_list_dotprod(const hearth_cpu_features *cpu, hearth_gemm_entry *out, size_t cap) {
    (void)cpu;
    (void)out;
    (void)cap;
    return 0;
}
