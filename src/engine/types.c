/* types.c - the table of ggml tensor types: names, block sizes, byte sizes,
 * and the kernels for the types hearth computes.
 *
 * Sizes follow the GGUF/ggml definitions so that any file can be validated,
 * including types hearth does not compute (their kernels are NULL). The
 * kernel pointers are filled by quant.c (scalar reference) and replaced by
 * ISA-specific versions by the dispatcher.
 */
#include <ctype.h>
#include <string.h>

#include "engine/types_internal.h"

/* Byte sizes per block, from the ggml block layouts. */
const hearth_type_size hearth_type_sizes[HEARTH_TYPE_COUNT] = {
    [HEARTH_TYPE_F32] = {"f32", 1, 4},
    [HEARTH_TYPE_F16] = {"f16", 1, 2},
    [HEARTH_TYPE_Q4_0] = {"q4_0", 32, 2 + 16},
    [HEARTH_TYPE_Q4_1] = {"q4_1", 32, 2 + 2 + 16},
    [HEARTH_TYPE_Q5_0] = {"q5_0", 32, 2 + 4 + 16},
    [HEARTH_TYPE_Q5_1] = {"q5_1", 32, 2 + 2 + 4 + 16},
    [HEARTH_TYPE_Q8_0] = {"q8_0", 32, 2 + 32},
    [HEARTH_TYPE_Q8_1] = {"q8_1", 32, 2 + 2 + 32},
    [HEARTH_TYPE_Q2_K] = {"q2_k", 256, 16 + 64 + 2 + 2},
    [HEARTH_TYPE_Q3_K] = {"q3_k", 256, 32 + 64 + 12 + 2},
    [HEARTH_TYPE_Q4_K] = {"q4_k", 256, 2 + 2 + 12 + 128},
    [HEARTH_TYPE_Q5_K] = {"q5_k", 256, 2 + 2 + 12 + 32 + 128},
    [HEARTH_TYPE_Q6_K] = {"q6_k", 256, 128 + 64 + 16 + 2},
    [HEARTH_TYPE_Q8_K] = {"q8_k", 256, 4 + 256 + 2 * 16},
    [HEARTH_TYPE_IQ2_XXS] = {"iq2_xxs", 256, 2 + 2 * 32},
    [HEARTH_TYPE_IQ2_XS] = {"iq2_xs", 256, 2 + 2 * 32 + 8},
    [HEARTH_TYPE_IQ3_XXS] = {"iq3_xxs", 256, 2 + 3 * 256 / 8},
    [HEARTH_TYPE_IQ1_S] = {"iq1_s", 256, 2 + 32 + 16},
    [HEARTH_TYPE_IQ4_NL] = {"iq4_nl", 32, 2 + 16},
    [HEARTH_TYPE_IQ3_S] = {"iq3_s", 256, 2 + 64 + 32 + 8 + 4},
    [HEARTH_TYPE_IQ2_S] = {"iq2_s", 256, 2 + 64 + 16},
    [HEARTH_TYPE_IQ4_XS] = {"iq4_xs", 256, 2 + 2 + 4 + 128},
    [HEARTH_TYPE_I8] = {"i8", 1, 1},
    [HEARTH_TYPE_I16] = {"i16", 1, 2},
    [HEARTH_TYPE_I32] = {"i32", 1, 4},
    [HEARTH_TYPE_I64] = {"i64", 1, 8},
    [HEARTH_TYPE_F64] = {"f64", 1, 8},
    [HEARTH_TYPE_IQ1_M] = {"iq1_m", 256, 32 + 16 + 8},
    [HEARTH_TYPE_BF16] = {"bf16", 1, 2},
    [HEARTH_TYPE_TQ1_0] = {"tq1_0", 256, (256 - 4 * 256 / 64) / 5 + 256 / 64 + 2},
    [HEARTH_TYPE_TQ2_0] = {"tq2_0", 256, 256 / 4 + 2},
    /* MXFP4 (gpt-oss): a shared E8M0 exponent byte + 16 bytes of 4-bit
     * values; listed so files holding it are reported as unsupported by
     * name rather than rejected as corrupt. */
    [39] = {"mxfp4", 32, 1 + 16},
};

const char *hearth_type_name(uint32_t type) {
    if (type >= HEARTH_TYPE_COUNT || !hearth_type_sizes[type].name) return "unknown";
    return hearth_type_sizes[type].name;
}

int hearth_type_from_name(const char *name) {
    if (!name) return -1;
    for (int t = 0; t < HEARTH_TYPE_COUNT; t++) {
        const char *n = hearth_type_sizes[t].name;
        if (!n) continue;
        size_t i = 0;
        while (n[i] && name[i] && tolower((unsigned char)name[i]) == n[i]) i++;
        if (!n[i] && !name[i]) return t;
    }
    return -1;
}

size_t hearth_row_size(uint32_t type, int64_t n) {
    if (type >= HEARTH_TYPE_COUNT || !hearth_type_sizes[type].name || n < 0) return 0;
    const hearth_type_size *s = &hearth_type_sizes[type];
    if (n % s->block_size) return 0;
    return (size_t)(n / s->block_size) * s->type_size;
}
