/* dispatch.h - how ISA-specific kernels replace the scalar reference.
 *
 * hearth_type_get() returns a table that starts as a copy of the reference
 * table (hearth_type_get_ref()). On first use, inside a pthread_once init,
 * quant.c calls hearth_kernels_select(), which detects the CPU and calls
 * the register functions below for each kernel it has a faster version of.
 * After that the table is read-only, so lookups need no locking.
 *
 * A registered kernel must compute the same function as the reference with
 * the same signature and the same vec_dot_type (activation layout); tests
 * compare the two tables.
 */
#ifndef HEARTH_KERNELS_DISPATCH_H
#define HEARTH_KERNELS_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/kernels/cpu.h"
#include "hearth/quant.h"

/* Replaces the vec_dot and/or to_float kernel of `type` in the table that
 * hearth_type_get() returns; a NULL pointer leaves that kernel as it is.
 * Only valid from within hearth_kernels_select() (it is not synchronised);
 * ignores unknown types and types the reference cannot compute. */
void hearth_kernels_register(uint32_t type, hearth_vec_dot_fn vec_dot, hearth_to_float_fn to_float);

/* Replaces the gemm (register-tile) kernel of `type`; NULL leaves it. A
 * vec_dot registered by hearth_kernels_register() drops the type's gemm
 * (tiles must compute exactly what the level's vec_dot computes), so a level
 * registers its gemm after its vec_dot. Same rules as above. */
void hearth_kernels_register_gemm(uint32_t type, hearth_gemm_fn gemm);

/* Same for the from_float kernel (the activation quantizer of Q8_0, Q8_1
 * and Q8_K is on the hot path of every quantized matmul). */
void hearth_kernels_register_from_float(uint32_t type, hearth_from_float_fn from_float);

/* Chooses this CPU's kernels by calling the register functions. Called
 * exactly once, from the pthread_once init of the traits tables. Defined in
 * kernels/dispatch.c. Does not block. */
void hearth_kernels_select(void);

/* ---- ISA kernel sets -----------------------------------------------------
 * Each ISA file lists the kernels it replaces. A level registers the lists
 * of every lower level of its family in order, then its own (avx512 =
 * avx2's list, then avx512's; avxvnni and avx512 share a rank and never
 * include each other), so a later list overrides an earlier one. */

/* One type's replacement kernels; NULL members keep the previous kernel. */
typedef struct hearth_kernel_entry {
    uint32_t type;
    hearth_vec_dot_fn vec_dot;
    hearth_to_float_fn to_float;
    hearth_from_float_fn from_float;
} hearth_kernel_entry;

/* One type's tile kernel: bit for bit the same dots as the vec_dot of the
 * same level, for every tile shape. */
typedef struct hearth_gemm_entry {
    uint32_t type;
    hearth_gemm_fn gemm;
} hearth_gemm_entry;

/* Writes up to `cap` entries for a CPU with features `cpu` to `out`;
 * returns how many it wrote. */
typedef size_t (*hearth_kernel_list_fn)(const hearth_cpu_features *cpu, hearth_kernel_entry *out, size_t cap);

/* The lists of the ISA files (each defined only where it is built). */
size_t hearth_kernels_list_avx2(const hearth_cpu_features *cpu, hearth_kernel_entry *out, size_t cap);
size_t hearth_kernels_list_avxvnni(const hearth_cpu_features *cpu, hearth_kernel_entry *out, size_t cap);
size_t hearth_kernels_list_avx512(const hearth_cpu_features *cpu, hearth_kernel_entry *out, size_t cap);
size_t hearth_kernels_list_neon(const hearth_cpu_features *cpu, hearth_kernel_entry *out, size_t cap);
size_t hearth_kernels_list_dotprod(const hearth_cpu_features *cpu, hearth_kernel_entry *out, size_t cap);
size_t hearth_kernels_list_i8mm(const hearth_cpu_features *cpu, hearth_kernel_entry *out, size_t cap);

/* The gemm lists (same contract; registered after the level's vec_dot list). */
typedef size_t (*hearth_gemm_list_fn)(const hearth_cpu_features *cpu, hearth_gemm_entry *out, size_t cap);
size_t hearth_gemm_list_avx2(const hearth_cpu_features *cpu, hearth_gemm_entry *out, size_t cap);
size_t hearth_gemm_list_avxvnni(const hearth_cpu_features *cpu, hearth_gemm_entry *out, size_t cap);
size_t hearth_gemm_list_avx512(const hearth_cpu_features *cpu, hearth_gemm_entry *out, size_t cap);
size_t hearth_gemm_list_dotprod(const hearth_cpu_features *cpu, hearth_gemm_entry *out, size_t cap);
size_t hearth_gemm_list_i8mm(const hearth_cpu_features *cpu, hearth_gemm_entry *out, size_t cap);

/* Fills *out with the traits of `type` as level `isa` computes them: the
 * reference traits with that level's kernels in place. Returns false when
 * the CPU or the build does not support `isa` or `type` is not a ggml type.
 * For tests and benchmarks (to run every level, not only the selected one).
 * Does not block beyond the first-use init of the tables. */
bool hearth_kernels_traits_for(hearth_isa isa, uint32_t type, hearth_type_traits *out);

/* Returns the level hearth_type_get()'s table uses. */
hearth_isa hearth_kernels_level(void);

#endif
