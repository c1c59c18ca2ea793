/* cpu.c - runtime CPU feature detection (see cpu.h).
 *
 * Every platform part is behind #if so that the file compiles everywhere;
 * an unknown platform reports no features, which selects the scalar kernels.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/cpu.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HEARTH_CPU_X86 1
#include <cpuid.h>
#elif defined(__aarch64__)
#define HEARTH_CPU_ARM64 1
#if defined(__linux__)
#include <sys/auxv.h>
#elif defined(__APPLE__)
#include <sys/sysctl.h>
#include <sys/types.h>
#endif
#endif

static hearth_cpu_features features;
static pthread_once_t features_once = PTHREAD_ONCE_INIT;

#ifdef HEARTH_CPU_X86
/* The XCR0 register: which register states the OS saves on a context switch.
 * Inline asm rather than _xgetbv, which needs -mxsave on this file. */
static uint64_t read_xcr0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (uint64_t)hi << 32 | lo;
}

/* Fills the x86 flags from cpuid and xgetbv. An instruction set counts only
 * when the OS has enabled its state: YMM (XCR0 bits 1-2) for AVX/AVX2/FMA/
 * F16C, opmask + ZMM (bits 5-7) for AVX-512, tile config/data (17-18) for AMX. */
static void detect_x86(hearth_cpu_features *f) {
    unsigned a, b, c, d;
    const unsigned max_leaf = __get_cpuid_max(0, NULL);
    if (max_leaf < 1) return;
    __cpuid_count(1, 0, a, b, c, d);
    const bool osxsave = c >> 27 & 1, avx = c >> 28 & 1;
    const bool fma = c >> 12 & 1, f16c = c >> 29 & 1;
    if (!osxsave || !avx) return;
    const uint64_t xcr0 = read_xcr0();
    const bool os_ymm = (xcr0 & 0x6) == 0x6;
    const bool os_zmm = os_ymm && (xcr0 & 0xE0) == 0xE0;
    const bool os_amx = (xcr0 & 0x60000) == 0x60000;
    if (!os_ymm) return;
    f->fma = fma;
    f->f16c = f16c;
    if (max_leaf < 7) return;
    __cpuid_count(7, 0, a, b, c, d);
    const unsigned sub_leaves = a;
    f->avx2 = b >> 5 & 1;
    if (os_zmm) {
        f->avx512f = b >> 16 & 1;
        f->avx512dq = b >> 17 & 1;
        f->avx512bw = b >> 30 & 1;
        f->avx512vl = b >> 31 & 1;
        f->avx512_vnni = c >> 11 & 1;
    }
    if (os_amx) {
        f->amx_bf16 = d >> 22 & 1;
        f->amx_tile = d >> 24 & 1;
        f->amx_int8 = d >> 25 & 1;
    }
    if (sub_leaves >= 1) {
        __cpuid_count(7, 1, a, b, c, d);
        f->avx_vnni = a >> 4 & 1;
        if (os_zmm) f->avx512_bf16 = a >> 5 & 1;
    }
}
#endif

#ifdef HEARTH_CPU_ARM64
#if defined(__APPLE__)
/* Returns whether the sysctl `name` exists and is non-zero. */
static bool sysctl_flag(const char *name) {
    int v = 0;
    size_t len = sizeof v;
    return sysctlbyname(name, &v, &len, NULL, 0) == 0 && v != 0;
}
#endif

/* Fills the aarch64 flags. Advanced SIMD is part of the aarch64 ABIs hearth
 * targets; the rest comes from the OS. */
static void detect_arm64(hearth_cpu_features *f) {
    f->neon = true;
#if defined(__linux__)
    /* bit numbers of the Linux arm64 hwcap ABI (asm/hwcap.h) */
    const unsigned long hw = getauxval(AT_HWCAP);
#ifdef AT_HWCAP2
    const unsigned long hw2 = getauxval(AT_HWCAP2);
#else
    const unsigned long hw2 = 0;
#endif
    f->fp16 = (hw >> 9 & 1) && (hw >> 10 & 1); /* fphp, asimdhp */
    f->dotprod = hw >> 20 & 1;                 /* asimddp */
    f->i8mm = hw2 >> 13 & 1;                   /* i8mm */
#elif defined(__APPLE__)
    f->dotprod = sysctl_flag("hw.optional.arm.FEAT_DotProd");
    f->i8mm = sysctl_flag("hw.optional.arm.FEAT_I8MM");
    f->fp16 = sysctl_flag("hw.optional.arm.FEAT_FP16");
#endif
}
#endif

/* Runs the platform detection once. */
static void detect(void) {
#ifdef HEARTH_CPU_X86
    detect_x86(&features);
#endif
#ifdef HEARTH_CPU_ARM64
    detect_arm64(&features);
#endif
}

/* Returns the cached features; the first call detects them. */
const hearth_cpu_features *hearth_cpu_features_get(void) {
    pthread_once(&features_once, detect);
    return &features;
}

/* Returns whether this build and CPU can run `isa`. */
bool hearth_cpu_supports(hearth_isa isa) {
    const hearth_cpu_features *f = hearth_cpu_features_get();
    switch (isa) {
    case HEARTH_ISA_SCALAR:
        return true;
#ifdef HEARTH_CPU_X86
    case HEARTH_ISA_AVX2:
        return f->avx2 && f->fma && f->f16c;
    case HEARTH_ISA_AVXVNNI:
        return f->avx2 && f->fma && f->f16c && f->avx_vnni;
    case HEARTH_ISA_AVX512:
        return f->avx2 && f->fma && f->f16c && f->avx512f && f->avx512bw && f->avx512vl && f->avx512dq &&
               f->avx512_vnni;
#endif
#ifdef HEARTH_CPU_ARM64
    case HEARTH_ISA_NEON:
        return f->neon;
    case HEARTH_ISA_DOTPROD:
        return f->neon && f->dotprod;
    case HEARTH_ISA_I8MM:
        return f->neon && f->dotprod && f->i8mm;
#endif
    default:
        (void)f;
        return false;
    }
}

/* Returns the level's rank (0 scalar, 1 first vector level, 2 second, 3
 * third). */
int hearth_isa_rank(hearth_isa isa) {
    switch (isa) {
    case HEARTH_ISA_AVX2:
    case HEARTH_ISA_NEON:
        return 1;
    case HEARTH_ISA_AVXVNNI:
    case HEARTH_ISA_AVX512:
    case HEARTH_ISA_DOTPROD:
        return 2;
    case HEARTH_ISA_I8MM:
        return 3;
    default:
        return 0;
    }
}

/* Returns the rank a HEARTH_ISA value caps at, or -1. */
int hearth_isa_cap_rank(const char *name) {
    static const struct {
        const char *name;
        int rank;
    } caps[] = {{"scalar", 0}, {"avx2", 1}, {"neon", 1}, {"avxvnni", 2}, {"avx512", 2}, {"dotprod", 2}, {"i8mm", 3}};
    if (!name) return -1;
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++)
        if (strcmp(name, caps[i].name) == 0) return caps[i].rank;
    return -1;
}

/* Returns the best supported level within the HEARTH_ISA cap. */
hearth_isa hearth_cpu_best_isa(void) {
    const int cap = hearth_isa_cap_rank(getenv("HEARTH_ISA"));
    hearth_isa best = HEARTH_ISA_SCALAR;
    for (int i = 0; i < HEARTH_ISA_COUNT; i++) {
        const hearth_isa isa = (hearth_isa)i;
        if (!hearth_cpu_supports(isa)) continue;
        if (cap >= 0 && hearth_isa_rank(isa) > cap) continue;
        if (hearth_isa_rank(isa) >= hearth_isa_rank(best)) best = isa;
    }
    return best;
}

/* Returns the level's short name. */
const char *hearth_isa_name(hearth_isa isa) {
    static const char *const names[HEARTH_ISA_COUNT] = {"scalar", "avx2", "avxvnni", "avx512", "neon", "dotprod", "i8mm"};
    return (unsigned)isa < HEARTH_ISA_COUNT ? names[isa] : "?";
}
