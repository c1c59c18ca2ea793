/* attn.c - chooses the attention kernel for this CPU. */
#include <pthread.h>

#include "engine/kernels/attn.h"
#include "engine/kernels/cpu.h"

static hearth_attn_fn chosen;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void choose(void) {
    chosen = hearth_attn_ref;
#if defined(__x86_64__) || defined(_M_X64)
    hearth_isa isa = hearth_cpu_best_isa();
    if (isa == HEARTH_ISA_AVX2 || isa == HEARTH_ISA_AVX512) chosen = hearth_attn_avx2;
#endif
}

hearth_attn_fn hearth_attn_kernel(void) {
    pthread_once(&once, choose);
    return chosen;
}
