/* quant_neon.c - the baseline aarch64 Advanced SIMD level (no extra flags).
 *
 * The kernels are in quant_arm_body.h; here the signed byte dot widens the
 * products to 16 bits (vmull_s8) and pairwise-adds them into 32-bit lanes
 * (vpadalq_s16), which is exact for every input.
 */
#include <arm_neon.h>

/* Returns acc + the products of a and b, summed into the 4 lanes. */
static inline int32x4_t neon_dot(int32x4_t acc, int8x16_t a, int8x16_t b) {
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    return vpadalq_s16(acc, vmull_high_s8(a, b));
}

#define HA_DOT(acc, a, b) neon_dot(acc, a, b)
#include "engine/kernels/arm/quant_arm_body.h"

/* Lists the NEON kernels; see dispatch.h. Does not block. */
size_t hearth_kernels_list_neon(const hearth_cpu_features *cpu, hearth_kernel_entry *out, size_t cap) {
    (void)cpu;
    return ha_body_list(out, cap);
}
