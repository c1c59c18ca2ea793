/* attn.c - chooses the attention kernels for this CPU. */
#include <pthread.h>

#include "engine/kernels/attn.h"
#include "engine/kernels/cpu.h"

static hearth_attn_fn chosen;
static hearth_attn_f16_fn chosen_f16;
static hearth_f16_row_fn chosen_f16_row;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* The AVX2 level implies F16C (cpu.c), which the F16 kernels need. */
static void choose(void) {
    chosen = hearth_attn_ref;
    chosen_f16 = hearth_attn_f16_ref;
    chosen_f16_row = hearth_f16_row_ref;
#if defined(__x86_64__) || defined(_M_X64)
    hearth_isa isa = hearth_cpu_best_isa();
    if (isa == HEARTH_ISA_AVX2 || isa == HEARTH_ISA_AVXVNNI || isa == HEARTH_ISA_AVX512) {
        chosen = hearth_attn_avx2;
        chosen_f16 = hearth_attn_f16_avx2;
        chosen_f16_row = hearth_f16_row_avx2;
    }
#endif
}

/* Returns the F32 kernel; does not block beyond a pthread_once. */
hearth_attn_fn hearth_attn_kernel(void) {
    pthread_once(&once, choose);
    return chosen;
}

/* Returns the F16 kernel; does not block beyond a pthread_once. */
hearth_attn_f16_fn hearth_attn_f16_kernel(void) {
    pthread_once(&once, choose);
    return chosen_f16;
}

/* Returns the row converter; does not block beyond a pthread_once. */
hearth_f16_row_fn hearth_f16_row_kernel(void) {
    pthread_once(&once, choose);
    return chosen_f16_row;
}
