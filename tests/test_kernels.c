/* test_kernels.c - every ISA kernel level this CPU can run against the scalar
 * reference kernels.
 *
 * For each supported level (forced through hearth_kernels_traits_for, not
 * only the selected one) and each computable type:
 *  - vec_dot on odd block counts and unaligned rows, in three data modes:
 *    "unit" (random quants, all scales 1, so every result is an exact
 *    integer: the kernel's integer sums must equal the reference's exactly),
 *    "bytes" (random quants and random scales: every bit pattern) and
 *    "float" (rows quantized from random floats by the reference); the last
 *    two allow only the rounding of a different summation order, bounded by
 *    2 (n + 6) u sum|term| with the per-block terms taken from the reference;
 *  - the activation quantizers (Q8_0, Q8_1, Q8_K, F16) byte for byte,
 *    including ties, zero blocks and duplicate +-max values.
 * It also checks that detection is honest: the levels the OS reports in
 * /proc/cpuinfo (or HEARTH_TEST_EXPECT_ISA names) are supported and tested,
 * that each tested vector level really replaces the kernels, and that
 * hearth_type_get() uses the selected level's kernels.
 *
 * The quantized vec_dot and tile (gemm) checks are in kernel_checks.h,
 * shared with test_vnni_emu.c (the AVX-512 level's integer logic, emulated).
 *
 * HEARTH_TEST_ITERS (default 3) sets the random trials per case (the ARM
 * script lowers it under qemu).
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/cpu.h"
#include "engine/kernels/dispatch.h"
#include "engine/quant_blocks.h"
#include "hearth/alloc.h"
#include "hearth/quant.h"
#include "test.h"
#include "kernel_checks.h"

/* Types every vector level must replace (vec_dot), and activation
 * quantizers it must replace (from_float). */
static const uint32_t expect_dot[] = {
    HEARTH_TYPE_F32,  HEARTH_TYPE_F16,  HEARTH_TYPE_BF16, HEARTH_TYPE_Q4_0, HEARTH_TYPE_Q4_1,  HEARTH_TYPE_Q5_0,
    HEARTH_TYPE_Q5_1, HEARTH_TYPE_Q8_0, HEARTH_TYPE_Q2_K, HEARTH_TYPE_Q3_K, HEARTH_TYPE_Q4_K,  HEARTH_TYPE_Q5_K,
    HEARTH_TYPE_Q6_K, HEARTH_TYPE_Q8_K, HEARTH_TYPE_IQ4_NL, HEARTH_TYPE_IQ4_XS,
};
static const uint32_t expect_quant[] = {HEARTH_TYPE_Q8_0, HEARTH_TYPE_Q8_1, HEARTH_TYPE_Q8_K};

/* ---- vec_dot ------------------------------------------------------------ */

static const int float_counts[] = {1, 7, 15, 33, 64, 257, 1000};

/* The float value of element i of a float-type row. */
static double float_elem(uint32_t t, const void *p, int64_t i) {
    if (t == HEARTH_TYPE_F32) return ((const float *)p)[i];
    uint16_t h;
    memcpy(&h, (const uint8_t *)p + 2 * i, 2);
    return t == HEARTH_TYPE_F16 ? hearth_fp16_to_fp32(h) : hearth_bf16_to_fp32(h);
}

/* Compares level `isa`'s vec_dot for F32/F16/BF16 with the reference at odd
 * lengths and offsets; returns the number of comparisons. */
static int check_float_dot(hearth_isa isa, const hearth_type_traits *tr, const hearth_type_traits *ref, uint32_t t,
                           double *worst) {
    const size_t a = type_align(t);
    int count = 0;
    for (size_t ci = 0; ci < sizeof float_counts / sizeof float_counts[0]; ci++) {
        const int64_t n = float_counts[ci];
        float *f = hearth_malloc((size_t)n * sizeof(float));
        uint8_t *xs = hearth_malloc(hearth_row_size(t, n) + 16), *ys = hearth_malloc(hearth_row_size(t, n) + 16);
        /* on failure the loop is skipped and the frees below still run */
        const bool ok = f && xs && ys;
        CHECK(ok, "out of memory");
        for (int it = 0; ok && it < iters * 2; it++) {
            const size_t xo = a * (size_t)(it % 3 == 0 ? 0 : it % 3 == 1 ? 1 : 3);
            const size_t yo = a * (size_t)((it / 3) % 3 == 0 ? 0 : (it / 3) % 3 == 1 ? 1 : 3);
            uint8_t *x = xs + xo, *y = ys + yo;
            const float scale = ldexpf(1.0f, rndi(-8, 8));
            for (int64_t i = 0; i < n; i++) f[i] = rndf() * scale;
            ref->from_float(f, x, n);
            for (int64_t i = 0; i < n; i++) f[i] = rndf();
            ref->from_float(f, y, n);
            float got = NAN, want = NAN;
            tr->vec_dot(n, &got, x, y);
            ref->vec_dot(n, &want, x, y);
            double mag = 0.0;
            for (int64_t i = 0; i < n; i++) mag += fabs(float_elem(t, x, i) * float_elem(t, y, i));
            const double tol = 2.0 * (double)(n + 4) * U * mag + 1e-30;
            const double err = fabs((double)got - (double)want);
            if (mag > 0 && err / mag > *worst) *worst = err / mag;
            CHECK(err <= tol, "%s %s n=%d off=%zu/%zu: %.9g vs %.9g (err %.3g > tol %.3g)", hearth_isa_name(isa),
                  ref->name, (int)n, xo, yo, got, want, err, tol);
            count++;
        }
        hearth_free(f);
        hearth_free(xs);
        hearth_free(ys);
    }
    return count;
}

/* ---- gemm (register tiles) ------------------------------------------------ */

/* Types every vector level must give a tile kernel. */
static const uint32_t expect_gemm[] = {HEARTH_TYPE_Q4_0, HEARTH_TYPE_Q8_0, HEARTH_TYPE_Q4_K, HEARTH_TYPE_Q6_K};


/* ---- activation quantizers ------------------------------------------------ */

/* Fills block b (of `bs` floats) of x with one of several patterns: random
 * at a random scale, zeros, exact ties (amax 127, so id = 1), duplicate
 * +-max in either order, tiny and huge values. */
static void fill_quant_input(float *x, int bs, int pattern) {
    const float scale = ldexpf(1.0f, rndi(-20, 20));
    for (int j = 0; j < bs; j++) x[j] = rndf() * scale;
    switch (pattern % 7) {
    case 1:
        for (int j = 0; j < bs; j++) x[j] = 0.0f;
        break;
    case 2: /* amax 127: Q8_0/Q8_1 get id = 1, so k + 0.5 are ties */
        for (int j = 0; j < bs; j++) x[j] = (float)rndi(-126, 125) + 0.5f;
        x[rndi(0, bs - 1)] = (rnd() & 1) ? 127.0f : -127.0f;
        break;
    case 3: /* -max first, then +max: Q8_K must take the first */
        x[rndi(0, bs / 2 - 1)] = -2.0f * scale;
        x[rndi(bs / 2, bs - 1)] = 2.0f * scale;
        break;
    case 4:
        x[rndi(0, bs / 2 - 1)] = 2.0f * scale;
        x[rndi(bs / 2, bs - 1)] = -2.0f * scale;
        break;
    case 5: /* Q8_K ties: max -127 gives iscale 1 */
        for (int j = 0; j < bs; j++) x[j] = (float)rndi(-126, 126) + 0.5f;
        x[rndi(0, bs - 1)] = -127.0f;
        break;
    case 6:
        for (int j = 0; j < bs; j++) x[j] *= (j & 1) ? 1e-30f : 1e30f;
        break;
    default:
        break;
    }
}

/* Compares level `isa`'s from_float of activation type t with the reference
 * byte for byte; returns the number of comparisons. */
static int check_quantizer(hearth_isa isa, const hearth_type_traits *tr, const hearth_type_traits *ref, uint32_t t) {
    const int bs = (int)ref->block_size;
    int count = 0;
    for (size_t ci = 0; ci < sizeof block_counts / sizeof block_counts[0]; ci++) {
        const int64_t nb = block_counts[ci], n = nb * bs;
        const size_t bytes = hearth_row_size(t, n);
        float *fs = hearth_malloc((size_t)n * sizeof(float) + 16);
        uint8_t *a = hearth_malloc(bytes + 16), *b = hearth_malloc(bytes + 16);
        /* on failure the loop is skipped and the frees below still run */
        const bool ok = fs && a && b;
        CHECK(ok, "out of memory");
        for (int it = 0; ok && it < iters * 3; it++) {
            const size_t fo = (size_t)(it % 3 == 2 ? 3 : it % 3) * 4 / sizeof(float); /* 0, 1, 3 floats */
            const size_t yo = type_align(t) * (size_t)(it % 2 ? 3 : 0);
            float *x = fs + fo;
            for (int64_t blk = 0; blk < nb; blk++) fill_quant_input(x + blk * bs, bs, it + (int)blk);
            memset(a, 0xA5, bytes + 16);
            memset(b, 0xA5, bytes + 16);
            tr->from_float(x, a + yo, n);
            ref->from_float(x, b + yo, n);
            CHECK(memcmp(a, b, bytes + 16) == 0, "%s from_float %s nb=%d pattern %d differs", hearth_isa_name(isa),
                  ref->name, (int)nb, it);
            count++;
        }
        hearth_free(fs);
        hearth_free(a);
        hearth_free(b);
    }
    return count;
}

/* F16 narrowing of random, subnormal-range, overflowing and tie values at
 * odd lengths. */
static int check_f16_narrow(hearth_isa isa, const hearth_type_traits *tr, const hearth_type_traits *ref) {
    int count = 0;
    for (size_t ci = 0; ci < sizeof float_counts / sizeof float_counts[0]; ci++) {
        const int64_t n = float_counts[ci];
        float *x = hearth_malloc((size_t)n * sizeof(float));
        uint16_t *a = hearth_malloc((size_t)n * 2 + 8), *b = hearth_malloc((size_t)n * 2 + 8);
        /* on failure the loop is skipped and the frees below still run */
        const bool ok = x && a && b;
        CHECK(ok, "out of memory");
        for (int it = 0; ok && it < iters; it++) {
            for (int64_t i = 0; i < n; i++) {
                switch (rnd() % 6) {
                case 0: x[i] = rndf() * 1e-5f; break; /* half subnormals */
                case 1: x[i] = rndf() * 1e5f; break;  /* overflow to inf */
                case 2: x[i] = hearth_fp16_to_fp32((uint16_t)rnd()) + ldexpf(1.0f, -11) * hearth_fp16_to_fp32(0x3C00); break;
                case 3: x[i] = (rnd() & 1) ? INFINITY : -0.0f; break;
                default: x[i] = rndf() * ldexpf(1.0f, rndi(-30, 15)); break;
                }
                if (isnan(x[i])) x[i] = 1.0f; /* NaN payloads are not specified */
            }
            memset(a, 0, (size_t)n * 2 + 8);
            memset(b, 0, (size_t)n * 2 + 8);
            tr->from_float(x, a + 1, n);
            ref->from_float(x, b + 1, n);
            CHECK(memcmp(a, b, (size_t)n * 2 + 8) == 0, "%s from_float f16 n=%d differs", hearth_isa_name(isa), (int)n);
            count++;
        }
        hearth_free(x);
        hearth_free(a);
        hearth_free(b);
    }
    return count;
}

/* ---- detection honesty ---------------------------------------------------- */

/* Returns whether the Linux /proc/cpuinfo flags line ("flags" on x86,
 * "Features" on arm64) of the first CPU was found, with every word of
 * `need` (space separated) present. *found tells whether the line exists. */
static bool cpuinfo_has(const char *key, const char *need, bool *found) {
    *found = false;
    FILE *fp = fopen("/proc/cpuinfo", "r");
    if (!fp) return false;
    static char line[16384];
    bool ok = false;
    while (fgets(line, sizeof line, fp)) {
        if (strncmp(line, key, strlen(key)) != 0) continue;
        const char *colon = strchr(line, ':');
        if (!colon) continue;
        *found = true;
        ok = true;
        char words[256];
        snprintf(words, sizeof words, "%s", need);
        for (char *w = strtok(words, " "); w; w = strtok(NULL, " ")) {
            char pat[64];
            snprintf(pat, sizeof pat, " %s", w);
            const char *p = colon;
            bool hit = false;
            const size_t wl = strlen(pat);
            while ((p = strstr(p, pat)) != NULL) {
                if (p[wl] == ' ' || p[wl] == '\n' || p[wl] == '\0') {
                    hit = true;
                    break;
                }
                p += wl;
            }
            if (!hit) ok = false;
        }
        break;
    }
    fclose(fp);
    return ok;
}

/* Checks that level isa has a tile kernel (not the reference's) for each of
 * types[0..n); returns how many it has. */
static int check_tiles_exist(hearth_isa isa, const uint32_t *types, size_t n) {
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        hearth_type_traits tr;
        hearth_kernels_traits_for(isa, types[i], &tr);
        const bool rep = tr.gemm && tr.gemm != hearth_type_get_ref(types[i])->gemm;
        CHECK(rep, "%s has no tile kernel for %s", hearth_isa_name(isa), tr.name);
        found += rep;
    }
    return found;
}

/* Checks that detection agrees with the OS's view of this CPU. */
static void check_detection(void) {
    bool found;
#if defined(__x86_64__)
    const bool avx2 = cpuinfo_has("flags", "avx2 fma f16c", &found);
    if (found) {
        CHECK(avx2 == hearth_cpu_supports(HEARTH_ISA_AVX2), "/proc/cpuinfo avx2/fma/f16c = %d, detection = %d", avx2,
              hearth_cpu_supports(HEARTH_ISA_AVX2));
        const bool z = cpuinfo_has("flags", "avx512f avx512bw avx512vl avx512dq avx512_vnni", &found);
        CHECK(z == hearth_cpu_supports(HEARTH_ISA_AVX512), "/proc/cpuinfo avx512 f/bw/vl/dq/vnni = %d, detection = %d",
              z, hearth_cpu_supports(HEARTH_ISA_AVX512));
        const bool vnni = cpuinfo_has("flags", "avx2 fma f16c avx_vnni", &found);
        CHECK(vnni == hearth_cpu_supports(HEARTH_ISA_AVXVNNI), "/proc/cpuinfo avx2/fma/f16c/avx_vnni = %d, detection = %d",
              vnni, hearth_cpu_supports(HEARTH_ISA_AVXVNNI));
        const bool bf16 = cpuinfo_has("flags", "avx512_bf16", &found);
        CHECK(!z || bf16 == hearth_cpu_features_get()->avx512_bf16, "avx512_bf16 detection");
    }
#elif defined(__aarch64__)
    CHECK(hearth_cpu_supports(HEARTH_ISA_NEON), "aarch64 always has Advanced SIMD");
    const bool dp = cpuinfo_has("Features", "asimddp", &found);
    if (found) CHECK(dp == hearth_cpu_supports(HEARTH_ISA_DOTPROD), "/proc/cpuinfo asimddp = %d, detection = %d", dp,
                     hearth_cpu_supports(HEARTH_ISA_DOTPROD));
    const bool mm = cpuinfo_has("Features", "asimddp i8mm", &found);
    if (found) CHECK(mm == hearth_cpu_supports(HEARTH_ISA_I8MM), "/proc/cpuinfo asimddp+i8mm = %d, detection = %d", mm,
                     hearth_cpu_supports(HEARTH_ISA_I8MM));
#endif
    (void)found;
    const char *expect = getenv("HEARTH_TEST_EXPECT_ISA");
    if (expect && *expect)
        CHECK(strcmp(hearth_kernels_isa(), expect) == 0, "selected kernels '%s', expected '%s'", hearth_kernels_isa(),
              expect);
    /* without a cap, the best level the CPU supports must be the one in use */
    hearth_isa top = HEARTH_ISA_SCALAR;
    for (int i = 0; i < HEARTH_ISA_COUNT; i++)
        if (hearth_cpu_supports((hearth_isa)i) && hearth_isa_rank((hearth_isa)i) >= hearth_isa_rank(top))
            top = (hearth_isa)i;
    if (hearth_isa_cap_rank(getenv("HEARTH_ISA")) < 0)
        CHECK(hearth_kernels_level() == top, "selected %s but the CPU supports %s", hearth_isa_name(hearth_kernels_level()),
              hearth_isa_name(top));
    CHECK(hearth_kernels_level() == hearth_cpu_best_isa(), "selected level is not the best capped level");
    /* the dispatched table is exactly the selected level's */
    for (uint32_t t = 0; t < HEARTH_TYPE_COUNT; t++) {
        const hearth_type_traits *best = hearth_type_get(t);
        hearth_type_traits lv;
        if (!best) continue;
        CHECK(hearth_kernels_traits_for(hearth_kernels_level(), t, &lv), "traits_for(selected, %u)", t);
        CHECK(lv.vec_dot == best->vec_dot && lv.from_float == best->from_float && lv.to_float == best->to_float &&
                  lv.gemm == best->gemm,
              "hearth_type_get(%s) does not use the selected level's kernels", best->name);
    }
    /* the env cap parser */
    CHECK(hearth_isa_cap_rank("scalar") == 0 && hearth_isa_cap_rank("avx2") == 1 && hearth_isa_cap_rank("neon") == 1 &&
              hearth_isa_cap_rank("avx512") == 2 && hearth_isa_cap_rank("avxvnni") == 2 &&
              hearth_isa_cap_rank("dotprod") == 2 &&
              hearth_isa_cap_rank("i8mm") == 3 && hearth_isa_cap_rank("bogus") == -1 && hearth_isa_cap_rank(NULL) == -1,
          "HEARTH_ISA names");
}

int main(void) {
    const char *it = getenv("HEARTH_TEST_ITERS");
    if (it && atoi(it) > 0) iters = atoi(it);
    check_detection();
    char tested[256] = "";
    int levels_tested = 0;
    for (int li = 0; li < HEARTH_ISA_COUNT; li++) {
        const hearth_isa isa = (hearth_isa)li;
        if (!hearth_cpu_supports(isa)) continue;
        int dots = 0, quants = 0, tiles = 0, gemms = 0;
        double worst = 0.0;
        for (uint32_t t = 0; t < HEARTH_TYPE_COUNT; t++) {
            const hearth_type_traits *ref = hearth_type_get_ref(t);
            hearth_type_traits tr;
            if (!ref || !ref->vec_dot) continue;
            if (!hearth_kernels_traits_for(isa, t, &tr)) {
                CHECK(0, "traits_for(%s, %s) failed", hearth_isa_name(isa), ref->name);
                continue;
            }
            const qspec *q = find_qspec(t);
            if (q)
                dots += check_quant_dot(hearth_isa_name(isa), &tr, ref, q, &worst);
            else if (t == HEARTH_TYPE_F32 || t == HEARTH_TYPE_F16 || t == HEARTH_TYPE_BF16)
                dots += check_float_dot(isa, &tr, ref, t, &worst);
            else
                CHECK(0, "type %s has a vec_dot but no test", ref->name);
            if (t == HEARTH_TYPE_Q8_0 || t == HEARTH_TYPE_Q8_1 || t == HEARTH_TYPE_Q8_K)
                quants += check_quantizer(isa, &tr, ref, t);
            if (t == HEARTH_TYPE_F16) quants += check_f16_narrow(isa, &tr, ref);
            CHECK(ref->gemm != NULL, "type %s has a vec_dot but no reference gemm", ref->name);
            if (ref->gemm) tiles += check_gemm(hearth_isa_name(isa), &tr, ref, t);
            if (tr.gemm) gemms++;
        }
        /* a vector level must really replace the hot kernels */
        int replaced = 0;
        if (isa != HEARTH_ISA_SCALAR) {
            for (size_t i = 0; i < sizeof expect_dot / sizeof expect_dot[0]; i++) {
                hearth_type_traits tr;
                hearth_kernels_traits_for(isa, expect_dot[i], &tr);
                const bool rep = tr.vec_dot != hearth_type_get_ref(expect_dot[i])->vec_dot;
                CHECK(rep, "%s does not replace vec_dot of %s", hearth_isa_name(isa), tr.name);
                replaced += rep;
            }
            /* Tile kernels exist for the x86 levels and ARM i8mm; the NEON
             * and dotprod levels run matmuls through their vec_dot. */
            const bool x86 = isa == HEARTH_ISA_AVX2 || isa == HEARTH_ISA_AVXVNNI || isa == HEARTH_ISA_AVX512;
            const bool has_tiles = x86 || isa == HEARTH_ISA_I8MM;
            if (has_tiles) replaced += check_tiles_exist(isa, expect_gemm, sizeof expect_gemm / sizeof expect_gemm[0]);
            /* and the x86 levels tile float weights too */
            static const uint32_t expect_float_gemm[] = {HEARTH_TYPE_F32, HEARTH_TYPE_F16};
            if (x86)
                replaced += check_tiles_exist(isa, expect_float_gemm, sizeof expect_float_gemm / sizeof expect_float_gemm[0]);
            for (size_t i = 0; i < sizeof expect_quant / sizeof expect_quant[0]; i++) {
                hearth_type_traits tr;
                hearth_kernels_traits_for(isa, expect_quant[i], &tr);
                const bool rep = tr.from_float != hearth_type_get_ref(expect_quant[i])->from_float;
                CHECK(rep, "%s does not replace from_float of %s", hearth_isa_name(isa), tr.name);
                replaced += rep;
            }
        }
        printf("path %-8s: %d dot comparisons, %d quantizer comparisons, %d tiles (%d gemm kernels), %d kernels "
               "replaced, worst rel err %.3g\n",
               hearth_isa_name(isa), dots, quants, tiles, gemms, replaced, worst);
        CHECK(dots > 0, "no dots tested for %s", hearth_isa_name(isa));
        snprintf(tested + strlen(tested), sizeof tested - strlen(tested), " %s", hearth_isa_name(isa));
        levels_tested++;
    }
    /* every level the CPU supports was exercised, including the selected one */
    for (int li = 0; li < HEARTH_ISA_COUNT; li++)
        if (hearth_cpu_supports((hearth_isa)li))
            CHECK(strstr(tested, hearth_isa_name((hearth_isa)li)) != NULL, "level %s not tested",
                  hearth_isa_name((hearth_isa)li));
    printf("tested paths:%s; selected: %s (%s)\n", tested, hearth_isa_name(hearth_kernels_level()),
           hearth_kernels_isa());
    CHECK(levels_tested >= 1, "no level tested");
    TEST_DONE();
}
