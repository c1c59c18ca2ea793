/* quant.c - the traits tables of hearth/quant.h and the half / bfloat16
 * conversions.
 *
 * Two tables: the reference table (scalar kernels from kernels/ref) and the
 * "best" table, which starts as a copy of the reference and is then edited
 * by the ISA dispatcher (kernels/dispatch.c). Both are filled once, under
 * pthread_once, on the first lookup; afterwards they are read-only, so
 * lookups from any thread need no lock.
 */
#include <pthread.h>
#include <string.h>

#include "engine/kernels/dispatch.h"
#include "engine/kernels/ref/quant_ref.h"
#include "engine/types_internal.h"

/* The kernels of one computable type. */
typedef struct {
    hearth_type type;
    hearth_type vec_dot_type;
    hearth_to_float_fn to_float;
    hearth_from_float_fn from_float;
    hearth_vec_dot_fn vec_dot;
} kernel_row;

#define ROW(T, VDT, name, dot)                                                                      \
    {HEARTH_TYPE_##T, HEARTH_TYPE_##VDT, hearth_ref_to_float_##name, hearth_ref_from_float_##name, \
     hearth_ref_vec_dot_##dot}

/* vec_dot_type as in ggml's CPU backend. Q8_0 and Q8_1 use the activation
 * quantizers (rounding like llama.cpp's x86 build) as from_float, because
 * that is what the matmul calls on every activation row. */
static const kernel_row ref_kernels[] = {
    ROW(F32, F32, f32, f32),
    ROW(F16, F16, f16, f16),
    ROW(BF16, BF16, bf16, bf16),
    ROW(Q4_0, Q8_0, q4_0, q4_0_q8_0),
    ROW(Q4_1, Q8_1, q4_1, q4_1_q8_1),
    ROW(Q5_0, Q8_0, q5_0, q5_0_q8_0),
    ROW(Q5_1, Q8_1, q5_1, q5_1_q8_1),
    {HEARTH_TYPE_Q8_0, HEARTH_TYPE_Q8_0, hearth_ref_to_float_q8_0, hearth_ref_quantize_act_q8_0,
     hearth_ref_vec_dot_q8_0_q8_0},
    {HEARTH_TYPE_Q8_1, HEARTH_TYPE_Q8_1, hearth_ref_to_float_q8_1, hearth_ref_quantize_act_q8_1,
     hearth_ref_vec_dot_q8_1_q8_1},
    ROW(Q2_K, Q8_K, q2_K, q2_K_q8_K),
    ROW(Q3_K, Q8_K, q3_K, q3_K_q8_K),
    ROW(Q4_K, Q8_K, q4_K, q4_K_q8_K),
    ROW(Q5_K, Q8_K, q5_K, q5_K_q8_K),
    ROW(Q6_K, Q8_K, q6_K, q6_K_q8_K),
    ROW(Q8_K, Q8_K, q8_K, q8_K_q8_K),
    ROW(IQ4_NL, Q8_0, iq4_nl, iq4_nl_q8_0),
    ROW(IQ4_XS, Q8_K, iq4_xs, iq4_xs_q8_K),
};

static hearth_type_traits ref_table[HEARTH_TYPE_COUNT];
static hearth_type_traits best_table[HEARTH_TYPE_COUNT];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

/* The activation type ggml pairs with a type hearth does not compute; only
 * informative, since such types have no kernels. */
static hearth_type default_vec_dot_type(uint32_t t) {
    switch (t) {
    case HEARTH_TYPE_IQ2_XXS:
    case HEARTH_TYPE_IQ2_XS:
    case HEARTH_TYPE_IQ3_XXS:
    case HEARTH_TYPE_IQ1_S:
    case HEARTH_TYPE_IQ3_S:
    case HEARTH_TYPE_IQ2_S:
    case HEARTH_TYPE_IQ1_M:
    case HEARTH_TYPE_TQ1_0:
    case HEARTH_TYPE_TQ2_0:
        return HEARTH_TYPE_Q8_K;
    default:
        return (hearth_type)t;
    }
}

/* Fills both tables and lets the dispatcher edit the best one. Runs once. */
static void tables_init(void) {
    for (uint32_t t = 0; t < HEARTH_TYPE_COUNT; t++) {
        const hearth_type_size *sz = &hearth_type_sizes[t];
        if (!sz->name) continue;
        ref_table[t] = (hearth_type_traits){
            .name = sz->name,
            .block_size = sz->block_size,
            .type_size = sz->type_size,
            .is_quantized = sz->block_size > 1,
            .vec_dot_type = default_vec_dot_type(t),
        };
    }
    for (size_t i = 0; i < sizeof ref_kernels / sizeof ref_kernels[0]; i++) {
        const kernel_row *k = &ref_kernels[i];
        hearth_type_traits *tr = &ref_table[k->type];
        tr->vec_dot_type = k->vec_dot_type;
        tr->to_float = k->to_float;
        tr->from_float = k->from_float;
        tr->vec_dot = k->vec_dot;
        tr->gemm = hearth_ref_gemm_for(k->type);
    }
    memcpy(best_table, ref_table, sizeof best_table);
    hearth_kernels_select();
}

/* Returns the registrable entry of `type`, or NULL for a type the reference
 * cannot compute (a faster kernel cannot replace a missing one). */
static hearth_type_traits *registrable(uint32_t type) {
    if (type >= HEARTH_TYPE_COUNT || !ref_table[type].to_float) return NULL;
    return &best_table[type];
}

/* See dispatch.h. Runs only inside the once-init, so no lock. */
void hearth_kernels_register(uint32_t type, hearth_vec_dot_fn vec_dot, hearth_to_float_fn to_float) {
    hearth_type_traits *tr = registrable(type);
    if (!tr) return;
    if (vec_dot) {
        tr->vec_dot = vec_dot;
        tr->gemm = NULL; /* a tile kernel must match its level's vec_dot */
    }
    if (to_float) tr->to_float = to_float;
}

/* See dispatch.h. */
void hearth_kernels_register_gemm(uint32_t type, hearth_gemm_fn gemm) {
    hearth_type_traits *tr = registrable(type);
    if (tr && gemm) tr->gemm = gemm;
}

/* See dispatch.h. */
void hearth_kernels_register_from_float(uint32_t type, hearth_from_float_fn from_float) {
    hearth_type_traits *tr = registrable(type);
    if (tr && from_float) tr->from_float = from_float;
}

/* Returns the dispatched traits or NULL; the first call builds the tables
 * (blocks only on pthread_once while another thread builds them). */
const hearth_type_traits *hearth_type_get(uint32_t type) {
    pthread_once(&tables_once, tables_init);
    if (type >= HEARTH_TYPE_COUNT || !best_table[type].name) return NULL;
    return &best_table[type];
}

/* Returns the reference traits or NULL; see hearth_type_get. */
const hearth_type_traits *hearth_type_get_ref(uint32_t type) {
    pthread_once(&tables_once, tables_init);
    if (type >= HEARTH_TYPE_COUNT || !ref_table[type].name) return NULL;
    return &ref_table[type];
}

/* ---- half and bfloat16 -------------------------------------------------- */

/* The bits of a float, and back. */
static inline uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Exact: every half is a float. */
float hearth_fp16_to_fp32(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    const uint32_t exp = (h >> 10) & 0x1F;
    uint32_t mant = h & 0x3FF;
    if (exp == 0x1F) return bits_f32(sign | 0x7F800000 | mant << 13); /* inf, NaN (payload kept) */
    if (exp != 0) return bits_f32(sign | (exp + 112) << 23 | mant << 13);
    if (mant == 0) return bits_f32(sign);
    /* subnormal: mant * 2^-24, normalised into a float */
    int e = -1;
    do {
        mant <<= 1;
        e++;
    } while (!(mant & 0x400));
    return bits_f32(sign | (uint32_t)(112 - e) << 23 | (mant & 0x3FF) << 13);
}

/* Round to nearest even; overflow goes to infinity, NaN stays NaN (quiet). */
uint16_t hearth_fp32_to_fp16(float f) {
    const uint32_t u = f32_bits(f);
    const uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    const uint32_t a = u & 0x7FFFFFFF;
    if (a > 0x7F800000) return (uint16_t)(sign | 0x7E00 | ((a >> 13) & 0x3FF));
    if (a >= 0x47800000) return (uint16_t)(sign | 0x7C00); /* >= 65536, or inf */
    if (a >= 0x38800000) {
        /* normal half: rebias, then round the 13 dropped bits; a carry out
         * of the mantissa correctly bumps the exponent (up to inf) */
        const uint32_t r = a - (112u << 23);
        return (uint16_t)(sign | ((r + 0x0FFF + ((r >> 13) & 1)) >> 13));
    }
    /* subnormal half (or zero): value / 2^-24 rounded to an integer */
    const uint32_t e = a >> 23;
    if (e < 102) return sign; /* below 2^-25: rounds to zero */
    const uint32_t m = (a & 0x7FFFFF) | 0x800000;
    const uint32_t shift = 126 - e; /* 14..24 */
    uint32_t q = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1))) q++;
    return (uint16_t)(sign | q);
}

/* Exact. */
float hearth_bf16_to_fp32(uint16_t h) {
    return bits_f32((uint32_t)h << 16);
}

/* Round to nearest even as ggml: NaN keeps its top bits and is made quiet;
 * subnormals are rounded, not flushed. */
uint16_t hearth_fp32_to_bf16(float f) {
    const uint32_t u = f32_bits(f);
    if ((u & 0x7FFFFFFF) > 0x7F800000) return (uint16_t)((u >> 16) | 0x40);
    return (uint16_t)((u + 0x7FFF + ((u >> 16) & 1)) >> 16);
}
