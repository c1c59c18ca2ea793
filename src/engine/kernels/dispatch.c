/* dispatch.c - selects ISA-specific kernels at run time.
 *
 * The level is the best one cpu.c finds (capped by HEARTH_ISA); its kernel
 * lists, and those of the lower levels of its family, replace the reference
 * kernels in the table hearth_type_get() returns. Tests and benchmarks can
 * build the table of any supported level with hearth_kernels_traits_for().
 */
#include "engine/kernels/dispatch.h"

/* One level and the function listing its kernels. */
typedef struct {
    hearth_isa isa;
    hearth_kernel_list_fn list;
} level_list;

/* The levels built into this binary, lowest first; the trailing scalar row
 * has no list and keeps the array non-empty on other architectures. */
static const level_list levels[] = {
#if defined(__x86_64__)
    {HEARTH_ISA_AVX2, hearth_kernels_list_avx2},
    {HEARTH_ISA_AVX512, hearth_kernels_list_avx512},
#elif defined(__aarch64__)
    {HEARTH_ISA_NEON, hearth_kernels_list_neon},
    {HEARTH_ISA_DOTPROD, hearth_kernels_list_dotprod},
#endif
    {HEARTH_ISA_SCALAR, NULL},
};

#define MAX_ENTRIES 256

static hearth_isa selected = HEARTH_ISA_SCALAR;
static const char *selected_name = "scalar";

/* Writes the entries level `isa` registers (all lists of its family up to
 * its rank, lowest first) to out; returns the count. */
static size_t collect(hearth_isa isa, hearth_kernel_entry *out, size_t cap) {
    const hearth_cpu_features *cpu = hearth_cpu_features_get();
    size_t n = 0;
    if (isa == HEARTH_ISA_SCALAR) return 0;
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        if (!levels[i].list || hearth_isa_rank(levels[i].isa) > hearth_isa_rank(isa)) continue;
        n += levels[i].list(cpu, out + n, cap - n);
    }
    return n;
}

/* The name hearth_kernels_isa() reports for a level on this CPU. */
static const char *level_name(hearth_isa isa) {
    const hearth_cpu_features *cpu = hearth_cpu_features_get();
    switch (isa) {
    case HEARTH_ISA_AVX2:
        return "avx2";
    case HEARTH_ISA_AVX512:
        return cpu->avx512_bf16 ? "avx512-vnni-bf16" : "avx512-vnni";
    case HEARTH_ISA_NEON:
        return "neon";
    case HEARTH_ISA_DOTPROD:
        return "neon-dotprod";
    default:
        return "scalar";
    }
}

/* Registers the kernels of the best level for this CPU. Runs once, inside
 * the tables' pthread_once (so it must not call hearth_type_get). */
void hearth_kernels_select(void) {
    hearth_kernel_entry entries[MAX_ENTRIES];
    const hearth_isa isa = hearth_cpu_best_isa();
    const size_t n = collect(isa, entries, MAX_ENTRIES);
    for (size_t i = 0; i < n; i++) {
        hearth_kernels_register(entries[i].type, entries[i].vec_dot, entries[i].to_float);
        hearth_kernels_register_from_float(entries[i].type, entries[i].from_float);
    }
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
    hearth_kernel_entry entries[MAX_ENTRIES];
    const size_t n = collect(isa, entries, MAX_ENTRIES);
    for (size_t i = 0; i < n; i++) {
        if (entries[i].type != type) continue;
        if (entries[i].vec_dot) out->vec_dot = entries[i].vec_dot;
        if (entries[i].to_float) out->to_float = entries[i].to_float;
        if (entries[i].from_float) out->from_float = entries[i].from_float;
    }
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
