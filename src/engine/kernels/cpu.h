/* cpu.h - runtime CPU feature detection and the ISA levels of the kernel
 * dispatcher.
 *
 * A level is a set of kernel files that one CPU can run: x86 has scalar <
 * avx2 < avxvnni or avx512 (siblings of the same rank: avxvnni needs the
 * VEX-encoded AVX-VNNI of CPUs without AVX-512, such as Intel's hybrid
 * laptop and desktop parts; avx512 needs F/BW/VL/DQ and VNNI and wins when
 * a CPU has both), aarch64 has
 * scalar < neon < dotprod < i8mm (the i8mm level needs dotprod too). Detection asks the CPU and the OS (x86: cpuid and
 * xgetbv, so a level is only used when the OS saves its register state;
 * Linux/aarch64: getauxval; macOS/arm64: sysctlbyname) and never assumes
 * what the compiler was told. The environment variable HEARTH_ISA caps the
 * level for tests and benchmarks: scalar, avx2, avxvnni, avx512, neon,
 * dotprod, i8mm
 * (a cap names a rank, so "avx2" on an ARM machine means "neon").
 */
#ifndef HEARTH_KERNELS_CPU_H
#define HEARTH_KERNELS_CPU_H

#include <stdbool.h>

typedef enum hearth_isa {
    HEARTH_ISA_SCALAR = 0,
    HEARTH_ISA_AVX2,
    HEARTH_ISA_AVXVNNI,
    HEARTH_ISA_AVX512,
    HEARTH_ISA_NEON,
    HEARTH_ISA_DOTPROD,
    HEARTH_ISA_I8MM,
    HEARTH_ISA_COUNT
} hearth_isa;

typedef struct hearth_cpu_features {
    /* x86: instruction sets the CPU reports AND the OS has enabled */
    bool avx2, fma, f16c;
    bool avx512f, avx512bw, avx512vl, avx512dq, avx512_vnni, avx512_bf16;
    bool avx_vnni;
    bool amx_tile, amx_int8, amx_bf16; /* reported only; no AMX kernels */
    /* aarch64 */
    bool neon, dotprod, i8mm, fp16;
} hearth_cpu_features;

/* Returns this CPU's features, detected once (thread-safe, static storage,
 * never NULL). Does not block beyond a pthread_once. */
const hearth_cpu_features *hearth_cpu_features_get(void);

/* Returns whether this build has kernels for `isa` and this CPU can run them
 * (ignores HEARTH_ISA). HEARTH_ISA_SCALAR is always supported. */
bool hearth_cpu_supports(hearth_isa isa);

/* Returns the highest level this CPU supports, capped by HEARTH_ISA when it
 * is set to a known name (an unknown name does not cap). */
hearth_isa hearth_cpu_best_isa(void);

/* Returns the rank cap that a HEARTH_ISA value means (0 scalar, 1 avx2 or
 * neon, 2 avxvnni, avx512 or dotprod, 3 i8mm), or -1 for NULL or an
 * unknown name. */
int hearth_isa_cap_rank(const char *name);

/* Returns the rank of a level (0 to 3; see hearth_isa_cap_rank). */
int hearth_isa_rank(hearth_isa isa);

/* Returns the short name of a level ("scalar", "avx2", "avxvnni", "avx512", "neon",
 * "dotprod", "i8mm"), or "?" for an out-of-range value. */
const char *hearth_isa_name(hearth_isa isa);

#endif
