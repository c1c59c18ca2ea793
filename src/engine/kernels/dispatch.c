/* dispatch.c - selects ISA-specific kernels at run time.
 *
 * The level is the best one cpu.c finds (capped by HEARTH_ISA); its kernel
 * lists, and those of the lower levels of its family, replace the reference
 * kernels in the table hearth_type_get() returns. Tests and benchmarks can
 * build the table of any supported level with hearth_kernels_traits_for().
 */
#include "engine/kernels/dispatch.h"
#include "engine/kernels/gemv.h"
#include "engine/kernels/packed.h"

/* One level and the functions listing its kernels. */
typedef struct {
    hearth_isa isa;
    hearth_kernel_list_fn list;
    hearth_gemm_list_fn gemm;
} level_list;

/* The levels built into this binary, lowest first; the trailing scalar row
 * has no list and keeps the array non-empty on other architectures. */
static const level_list levels[] = {
#if defined(__x86_64__)
    {HEARTH_ISA_AVX2, hearth_kernels_list_avx2, hearth_gemm_list_avx2},
    {HEARTH_ISA_AVXVNNI, hearth_kernels_list_avxvnni, hearth_gemm_list_avxvnni},
    {HEARTH_ISA_AVX512, hearth_kernels_list_avx512, hearth_gemm_list_avx512},
#elif defined(__aarch64__)
    {HEARTH_ISA_NEON, hearth_kernels_list_neon, NULL},
    {HEARTH_ISA_DOTPROD, hearth_kernels_list_dotprod, hearth_gemm_list_dotprod},
    {HEARTH_ISA_I8MM, hearth_kernels_list_i8mm, hearth_gemm_list_i8mm},
#endif
    {HEARTH_ISA_SCALAR, NULL, NULL},
};

#define MAX_ENTRIES 256

static hearth_isa selected = HEARTH_ISA_SCALAR;
static const char *selected_name = "scalar";

/* Applies the kernels of level `isa` (the lists of every level of its family
 * below its rank, lowest first, then its own: a sibling of the same rank may
 * need features this CPU lacks; in each level its vec_dot list, then its
 * gemm list) either to the dispatched table (out == NULL) or to *out, the
 * traits of type `type`. A replaced vec_dot drops the gemm, because a tile
 * kernel must match the vec_dot of its own level. */
static void apply(hearth_isa isa, uint32_t type, hearth_type_traits *out) {
    const hearth_cpu_features *cpu = hearth_cpu_features_get();
    hearth_kernel_entry entries[MAX_ENTRIES];
    hearth_gemm_entry gemms[MAX_ENTRIES];
    if (isa == HEARTH_ISA_SCALAR) return;
    for (size_t l = 0; l < sizeof levels / sizeof levels[0]; l++) {
        if (!levels[l].list) continue;
        if (levels[l].isa != isa && hearth_isa_rank(levels[l].isa) >= hearth_isa_rank(isa)) continue;
        const size_t n = levels[l].list(cpu, entries, MAX_ENTRIES);
        for (size_t i = 0; i < n; i++) {
            const hearth_kernel_entry *e = &entries[i];
            if (!out) {
                hearth_kernels_register(e->type, e->vec_dot, e->to_float);
                hearth_kernels_register_from_float(e->type, e->from_float);
                continue;
            }
            if (e->type != type) continue;
            if (e->vec_dot) {
                out->vec_dot = e->vec_dot;
                out->gemm = NULL;
            }
            if (e->to_float) out->to_float = e->to_float;
            if (e->from_float) out->from_float = e->from_float;
        }
        const size_t ng = levels[l].gemm ? levels[l].gemm(cpu, gemms, MAX_ENTRIES) : 0;
        for (size_t i = 0; i < ng; i++) {
            if (!out)
                hearth_kernels_register_gemm(gemms[i].type, gemms[i].gemm);
            else if (gemms[i].type == type && gemms[i].gemm)
                out->gemm = gemms[i].gemm;
        }
    }
}

/* The name hearth_kernels_isa() reports for a level on this CPU. */
static const char *level_name(hearth_isa isa) {
    const hearth_cpu_features *cpu = hearth_cpu_features_get();
    switch (isa) {
    case HEARTH_ISA_AVX2:
        return "avx2";
    case HEARTH_ISA_AVXVNNI:
        return "avx-vnni";
    case HEARTH_ISA_AVX512:
        return cpu->avx512_bf16 ? "avx512-vnni-bf16" : "avx512-vnni";
    case HEARTH_ISA_NEON:
        return "neon";
    case HEARTH_ISA_DOTPROD:
        return "neon-dotprod";
    case HEARTH_ISA_I8MM:
        return "neon-i8mm";
    default:
        return "scalar";
    }
}

/* Registers the kernels of the best level for this CPU. Runs once, inside
 * the tables' pthread_once (so it must not call hearth_type_get). */
void hearth_kernels_select(void) {
    const hearth_isa isa = hearth_cpu_best_isa();
    apply(isa, 0, NULL);
    selected = isa;
    selected_name = level_name(isa);
}

/* See dispatch.h. */
bool hearth_kernels_traits_for(hearth_isa isa, uint32_t type, hearth_type_traits *out) {
    if (!hearth_cpu_supports(isa)) return false;
    const hearth_type_traits *ref = hearth_type_get_ref(type);
    if (!ref) return false;
    *out = *ref;
    if (!ref->to_float) return true; /* not computable: nothing to replace */
    apply(isa, type, out);
    return true;
}

/* Returns the selected level (building the tables first if needed). */
hearth_isa hearth_kernels_level(void) {
    (void)hearth_type_get(HEARTH_TYPE_F32);
    return selected;
}

/* Returns the selected level's name; see hearth/quant.h. */
const char *hearth_kernels_isa(void) {
    (void)hearth_type_get(HEARTH_TYPE_F32);
    return selected_name;
}

/* Returns the packed prefill kernels of `type` for the selected level, or
 * NULL; see packed.h. The AVX-512 level's set is the AVX2 one with VNNI
 * tiles for the symmetric types: every level's vec_dots have the same exact
 * block integers and float statements (gemm_x86_body.h). */
const hearth_packed_gemm *hearth_packed_gemm_get(uint32_t type) {
#if defined(__x86_64__)
    const hearth_isa isa = hearth_kernels_level();
    if (isa == HEARTH_ISA_AVX2) return hearth_packed_gemm_avx2(type);
    if (isa == HEARTH_ISA_AVXVNNI) return hearth_packed_gemm_avxvnni(type);
    if (isa == HEARTH_ISA_AVX512) return hearth_packed_gemm_avx512(type);
#else
    (void)type;
#endif
    return NULL;
}

/* Returns the decode (gemv) kernels of `type` for the selected level, or
 * NULL; see gemv.h. The VNNI levels run the AVX2 set: the exact block integers and float statements are the same. */
const hearth_gemv *hearth_gemv_get(uint32_t type) {
#if defined(__x86_64__)
    const hearth_isa isa = hearth_kernels_level();
    if (isa == HEARTH_ISA_AVX2 || isa == HEARTH_ISA_AVXVNNI || isa == HEARTH_ISA_AVX512) return hearth_gemv_avx2(type);
#else
    (void)type;
#endif
    return NULL;
}
