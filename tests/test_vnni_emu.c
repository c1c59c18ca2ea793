/* test_vnni_emu.c - the AVX-512 level's integer (HX_VNNI) logic, run on an
 * AVX2 machine through an exact AVX2 emulation of vpdpbusd
 * (tests/vnni_emu_avx2.c builds the shared x86 bodies as quant_avx512.c
 * does, with the emulation as the byte dot).
 *
 * Any CPU with AVX-512 VNNI runs those code paths by default, and at that
 * level the dispatcher also uses the AVX2 packed prefill tiles and decode
 * kernels, which must give the level's vec_dot bit for bit. This test
 * checks, without AVX-512 hardware:
 *  (1) the emulation itself against a scalar vpdpbusd: random and extreme
 *      bytes (including lanes where maddubs would saturate) and wrap-around
 *      of the accumulator;
 *  (2) for every quantized type whose vec_dot the body provides, the
 *      emulated vec_dot against the scalar reference, and the emulated tile
 *      kernels (gemm) bit for bit against the emulated vec_dot, with
 *      test_kernels' checks and tolerances (kernel_checks.h);
 *  (3) the emulated vec_dot bit for bit equal to the AVX2 level's (the
 *      bodies promise both byte dots give the same exact integers and the
 *      float statements are shared), on random, quantized and extreme data,
 *      and within the reference tolerance on extreme data;
 *  (4) the AVX2 packed tiles (Q4_0, Q5_0, Q8_0, IQ4_NL, Q4_K, Q5_K, Q6_K)
 *      and decode kernels (Q4_0, Q8_0) bit for bit equal to the emulated
 *      vec_dot on every tile shape / row count, as the dispatcher assumes at
 *      the AVX-512 level.
 * The AVX-512 level's own float dots (512-bit FMA, vdpbf16ps) cannot be
 * emulated and are not tested here. On x86 CPUs without AVX2, FMA and F16C,
 * and in non-x86 builds, the test prints why it has nothing to run and
 * passes. HEARTH_TEST_ITERS (default 3) sets the random trials per case.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/cpu.h"
#include "engine/kernels/dispatch.h"
#include "engine/kernels/gemv.h"
#include "engine/kernels/packed.h"
#include "hearth/alloc.h"
#include "hearth/quant.h"
#include "test.h"
#include "kernel_checks.h"

#if defined(__x86_64__)
#include "vnni_emu.h"

#define LEVEL "avx512-emu"

enum { MAX_ENTRIES = 256, NT = HEARTH_PACK_TOKENS, NR = HEARTH_PACK_ROWS };

static hearth_kernel_entry emu_k[MAX_ENTRIES];
static hearth_gemm_entry emu_g[MAX_ENTRIES];
static size_t n_emu_k, n_emu_g;

/* ---- (1) the emulation itself ---------------------------------------------- */

/* One lane of vpdpbusd computed with plain integers: acc plus the 4 products,
 * wrapping modulo 2^32. */
static uint32_t model_lane(int32_t acc, const uint8_t *u, const int8_t *s) {
    uint32_t r = (uint32_t)acc;
    for (int k = 0; k < 4; k++) r += (uint32_t)((int32_t)u[k] * (int32_t)s[k]);
    return r;
}

/* Compares vnni_emu_dpbusd with the model on one input; returns whether all
 * 8 lanes agree. */
static bool emu_matches(const int32_t acc[8], const uint8_t u[32], const int8_t s[32]) {
    int32_t out[8];
    vnni_emu_dpbusd(out, acc, u, s);
    bool ok = true;
    for (int i = 0; i < 8; i++) ok = ok && (uint32_t)out[i] == model_lane(acc[i], u + 4 * i, s + 4 * i);
    return ok;
}

/* Checks the emulated vpdpbusd on random, extreme and saturating inputs. */
static void check_emulation(void) {
    static const uint8_t ue[] = {0, 1, 2, 127, 128, 129, 254, 255};
    static const int8_t se[] = {-128, -127, -1, 0, 1, 2, 126, 127};
    static const int32_t ae[] = {0, 1, -1, INT32_MAX, INT32_MIN, INT32_MAX - 100000, INT32_MIN + 100000, 12345};
    int32_t acc[8];
    uint8_t u[32];
    int8_t s[32];
    int bad = 0, cases = 0;
    for (int it = 0; it < 4000; it++, cases++) {
        for (int i = 0; i < 32; i++) {
            const bool ext = it % 2 == 1;
            u[i] = ext ? ue[rnd() % 8] : (uint8_t)rnd();
            s[i] = ext ? se[rnd() % 8] : (int8_t)(uint8_t)rnd();
        }
        for (int i = 0; i < 8; i++) acc[i] = it % 4 == 3 ? ae[rnd() % 8] : (int32_t)(rnd() >> 40) - (1 << 23);
        bad += !emu_matches(acc, u, s);
    }
    /* every pair of extreme bytes in every position of a lane */
    for (int a = 0; a < 8; a++)
        for (int b = 0; b < 8; b++) {
            for (int i = 0; i < 32; i++) {
                u[i] = ue[(a + i) % 8];
                s[i] = se[(b + 3 * i) % 8];
            }
            for (int i = 0; i < 8; i++) acc[i] = ae[(a + b + i) % 8];
            bad += !emu_matches(acc, u, s);
            cases++;
        }
    CHECK(bad == 0, "emulated vpdpbusd differs from the scalar model in %d of %d cases", bad, cases);
    /* lanes whose pair sums maddubs would saturate (2 * 255 * 127 > 32767):
     * vpdpbusd has no intermediate saturation */
    memset(acc, 0, sizeof acc);
    memset(u, 255, sizeof u);
    memset(s, 127, sizeof s);
    int32_t out[8];
    vnni_emu_dpbusd(out, acc, u, s);
    CHECK(out[0] == 4 * 255 * 127 && out[7] == 4 * 255 * 127, "255 * 127 lane: %d, want %d", out[0], 4 * 255 * 127);
    memset(s, 0x80, sizeof s);
    vnni_emu_dpbusd(out, acc, u, s);
    CHECK(out[3] == -4 * 255 * 128, "255 * -128 lane: %d, want %d", out[3], -4 * 255 * 128);
    printf("emulated vpdpbusd: %d cases equal the scalar model\n", cases);
}

/* ---- traits of the emulated level ----------------------------------------- */

/* Fills *out with the reference traits of type t with the emulated level's
 * kernels in place, as dispatch.c builds a level's traits (a replaced
 * vec_dot drops the gemm; the tile list comes after). Returns false for an
 * unknown type. */
static bool emu_traits(uint32_t t, hearth_type_traits *out) {
    const hearth_type_traits *ref = hearth_type_get_ref(t);
    if (!ref) return false;
    *out = *ref;
    if (!ref->to_float) return true;
    for (size_t i = 0; i < n_emu_k; i++) {
        if (emu_k[i].type != t) continue;
        if (emu_k[i].vec_dot) {
            out->vec_dot = emu_k[i].vec_dot;
            out->gemm = NULL;
        }
        if (emu_k[i].to_float) out->to_float = emu_k[i].to_float;
        if (emu_k[i].from_float) out->from_float = emu_k[i].from_float;
    }
    for (size_t i = 0; i < n_emu_g; i++)
        if (emu_g[i].type == t && emu_g[i].gemm) out->gemm = emu_g[i].gemm;
    return true;
}

/* ---- (3) emulated vec_dot against the AVX2 level ------------------------- */

/* Bytes that stress the byte dots: nibbles 0 and 15, bytes -128, 127, -1. */
static const uint8_t extreme_bytes[] = {0x00, 0xFF, 0x80, 0x7F, 0x0F, 0xF0, 0x88, 0x77, 0x01};

/* Fills n_rows weight rows (rb bytes each, bx apart) of type t with bytes
 * from extreme_bytes and scales 1 (unit) or random. */
static void fill_extreme_weights(uint32_t t, uint8_t *p, size_t bx, int64_t n, int n_rows, bool unit) {
    const hearth_type_traits *ref = hearth_type_get_ref(t);
    const qspec *q = find_qspec(t);
    const size_t rb = hearth_row_size(t, n);
    for (int r = 0; r < n_rows; r++) {
        uint8_t *row = p + (size_t)r * bx;
        for (size_t i = 0; i < rb; i++) row[i] = extreme_bytes[rnd() % sizeof extreme_bytes];
        if (q) set_weight_scales(q, ref->type_size, row, n / ref->block_size, unit);
    }
}

/* Fills one activation row of type at (Q8_0, Q8_1, Q8_K) with quants of
 * magnitude 127 only (the reference quantizer of +-1), all positive
 * (pattern 0), all negative (1) or of random signs. */
static void fill_extreme_act(uint32_t at, uint8_t *p, int64_t n, int pattern, float *f) {
    for (int64_t i = 0; i < n; i++) f[i] = pattern % 3 == 0 ? 1.0f : pattern % 3 == 1 ? -1.0f : (rnd() & 1) ? 1.0f : -1.0f;
    hearth_type_get_ref(at)->from_float(f, p, n);
}

/* Compares the emulated vec_dot of type t with the AVX2 level's bit for bit
 * (random bytes, quantized floats, extreme bytes) and, on extreme data, with
 * the reference within kernel_checks.h's tolerance. Returns the number of
 * comparisons. */
static int check_against_avx2(const hearth_type_traits *emu, const hearth_type_traits *a2,
                              const hearth_type_traits *ref, const qspec *q) {
    const hearth_type_traits *at = hearth_type_get_ref(ref->vec_dot_type);
    const size_t ysize = at->type_size * (size_t)(ref->block_size / at->block_size);
    int count = 0;
    for (size_t ci = 0; ci < sizeof block_counts / sizeof block_counts[0]; ci++) {
        const int64_t nb = block_counts[ci], n = nb * ref->block_size;
        const size_t xbytes = hearth_row_size(q->type, n), ybytes = hearth_row_size(ref->vec_dot_type, n);
        float *f = hearth_malloc((size_t)n * sizeof(float));
        uint8_t *x = hearth_malloc(xbytes + 16), *y = hearth_malloc(ybytes + 16);
        /* on failure the loop is skipped and the frees below still run */
        const bool ok = f && x && y;
        CHECK(ok, "out of memory");
        for (int mode = 0; ok && mode < 3; mode++)
            for (int it = 0; it < iters; it++) {
                if (mode < 2) {
                    fill_row(q->type, false, x, n, mode, f);
                    fill_row(ref->vec_dot_type, true, y, n, mode, f);
                } else {
                    fill_extreme_weights(q->type, x, xbytes, n, 1, it % 2 == 0);
                    fill_extreme_act(ref->vec_dot_type, y, n, it, f);
                }
                float ge = NAN, g2 = NAN;
                emu->vec_dot(n, &ge, x, y);
                a2->vec_dot(n, &g2, x, y);
                CHECK(memcmp(&ge, &g2, sizeof ge) == 0, "%s %s mode %d nb=%d: %.9g != avx2 vec_dot %.9g", LEVEL,
                      ref->name, mode, (int)nb, ge, g2);
                if (mode == 2) {
                    float want = NAN;
                    ref->vec_dot(n, &want, x, y);
                    const double mag = term_magnitude(q, ref, x, y, nb, ysize);
                    const double tol = 2.0 * (double)(nb + 6) * U * mag + 1e-30;
                    const double err = fabs((double)ge - (double)want);
                    CHECK(err <= tol, "%s %s extreme nb=%d: %.9g vs reference %.9g (err %.3g > tol %.3g)", LEVEL,
                          ref->name, (int)nb, ge, want, err, tol);
                }
                count++;
            }
        hearth_free(f);
        hearth_free(x);
        hearth_free(y);
    }
    return count;
}

/* ---- (4) AVX2 packed tiles and decode kernels ------------------------------ */

/* Fills n_rows weight rows of type t (bx bytes apart) in mode 0 (random
 * bytes, random scales), 1 (quantized floats) or 2 (extreme bytes). */
static void fill_weights(uint32_t t, uint8_t *p, size_t bx, int64_t n, int n_rows, int mode, float *f) {
    if (mode == 2) {
        fill_extreme_weights(t, p, bx, n, n_rows, false);
        return;
    }
    for (int r = 0; r < n_rows; r++) fill_row(t, false, p + (size_t)r * bx, n, mode, f);
}

/* Fills one activation row of type at in the same modes. */
static void fill_act(uint32_t at, uint8_t *p, int64_t n, int mode, int k, float *f) {
    if (mode == 2)
        fill_extreme_act(at, p, n, k, f);
    else
        fill_row(at, true, p, n, mode, f);
}

/* Checks every tile shape of type t's packed kernels pk (`set` names them
 * in messages) against the emulated vec_dot; returns the number of tiles. */
static int check_packed(uint32_t t, const hearth_packed_gemm *pk, const hearth_type_traits *emu, const char *set) {
    static const int blocks[] = {1, 3, 4, 5, 7, 9, 13, 64};
    int tiles = 0;
    for (size_t bi = 0; bi < sizeof blocks / sizeof *blocks; bi++) {
        const int64_t n = blocks[bi] * emu->block_size;
        const size_t xrow = hearth_row_size(t, n), yrow = hearth_row_size(emu->vec_dot_type, n);
        const size_t ab = pk->act_bytes(n);
        uint8_t *x = hearth_malloc(NR * xrow), *y = hearth_malloc(NT * yrow), *pa = hearth_malloc(NT * ab + 64);
        uint8_t *buf = hearth_malloc_aligned(pk->group_bytes(n) + 64, 64);
        float *f = hearth_malloc((size_t)n * sizeof(float));
        /* on failure the loop is skipped and the frees below still run */
        const bool ok = x && y && pa && buf && f;
        CHECK(ok, "out of memory");
        for (int mode = 0; ok && mode < 3; mode++) {
            fill_weights(t, x, xrow, n, NR, mode, f);
            for (int k = 0; k < NT; k++) {
                fill_act(emu->vec_dot_type, y + (size_t)k * yrow, n, mode, k, f);
                pk->act_convert(n, y + (size_t)k * yrow, pa + (size_t)k * ab);
            }
            float want[NT][NR];
            for (int k = 0; k < NT; k++)
                for (int r = 0; r < NR; r++) emu->vec_dot(n, &want[k][r], x + (size_t)r * xrow, y + (size_t)k * yrow);
            for (int nr = 1; nr <= NR; nr++) {
                pk->pack(n, x, xrow, nr, buf);
                for (int nt = 1; nt <= NT; nt++) {
                    enum { LDS = NR + 3 };
                    float out[NT * LDS];
                    for (int i = 0; i < NT * LDS; i++) out[i] = -12345.0f;
                    pk->tile(n, out, LDS, buf, pa, ab, nr, nt);
                    tiles++;
                    for (int k = 0; k < NT; k++)
                        for (int r = 0; r < LDS; r++) {
                            const float v = out[k * LDS + r];
                            if (k < nt && r < nr)
                                CHECK(memcmp(&v, &want[k][r], sizeof v) == 0,
                                      "%s %s packed nb=%d %dx%d (r%d,t%d): %.9g != %s vec_dot %.9g (mode %d)",
                                      emu->name, set, blocks[bi], nr, nt, r, k, v, LEVEL, want[k][r], mode);
                            else
                                CHECK(v == -12345.0f, "%s %s packed %dx%d wrote outside its tile", emu->name, set, nr, nt);
                        }
                }
            }
        }
        hearth_free(x);
        hearth_free(y);
        hearth_free(pa);
        hearth_free(f);
        hearth_free_aligned(buf);
    }
    return tiles;
}

/* Checks type t's AVX2 decode kernel against the emulated vec_dot on rows
 * aligned only as their blocks (2 bytes); returns the number of rows. */
static int check_gemv(uint32_t t, const hearth_gemv *gv, const hearth_type_traits *emu) {
    static const int blocks[] = {1, 2, 3, 4, 5, 7, 8, 9, 13, 64, 67};
    enum { ROWS = 11, PAD = 2 };
    int dots = 0;
    for (size_t bi = 0; bi < sizeof blocks / sizeof *blocks; bi++) {
        const int64_t n = blocks[bi] * emu->block_size;
        const size_t xrow = hearth_row_size(t, n), bx = xrow + PAD;
        uint8_t *x = hearth_malloc(ROWS * bx + PAD), *w = hearth_malloc(ROWS * xrow);
        uint8_t *y = hearth_malloc(hearth_row_size(emu->vec_dot_type, n));
        uint8_t *ga = hearth_malloc_aligned(gv->act_bytes(n) + 32, 32);
        float *f = hearth_malloc((size_t)n * sizeof(float));
        /* on failure the loop is skipped and the frees below still run */
        const bool ok = x && w && y && ga && f;
        CHECK(ok, "out of memory");
        for (int mode = 0; ok && mode < 3; mode++) {
            fill_weights(t, w, xrow, n, ROWS, mode, f);
            for (int r = 0; r < ROWS; r++) memcpy(x + PAD + (size_t)r * bx, w + (size_t)r * xrow, xrow);
            fill_act(emu->vec_dot_type, y, n, mode, (int)bi, f);
            gv->act_prepare(n, y, ga);
            float out[ROWS + 1];
            for (int i = 0; i <= ROWS; i++) out[i] = -12345.0f;
            gv->rows(n, out, x + PAD, bx, ROWS, ga);
            for (int r = 0; r < ROWS; r++) {
                float want = NAN;
                emu->vec_dot(n, &want, w + (size_t)r * xrow, y);
                CHECK(memcmp(&out[r], &want, sizeof want) == 0,
                      "%s avx2 gemv nb=%d row %d: %.9g != %s vec_dot %.9g (mode %d)", emu->name, blocks[bi], r, out[r],
                      LEVEL, want, mode);
                dots++;
            }
            CHECK(out[ROWS] == -12345.0f, "%s avx2 gemv wrote past its rows", emu->name);
        }
        hearth_free(x);
        hearth_free(w);
        hearth_free(y);
        hearth_free(f);
        hearth_free_aligned(ga);
    }
    return dots;
}

/* ---- driver ------------------------------------------------------------------ */

/* Runs checks (2) and (3) on every quantized type of the emulated list and
 * checks that the list covers what the AVX-512 level must replace. */
static void check_level(void) {
    int types = 0, dots = 0, tiles = 0, gemms = 0, same = 0;
    double worst = 0.0;
    for (size_t i = 0; i < n_emu_k; i++) {
        const uint32_t t = emu_k[i].type;
        const hearth_type_traits *ref = hearth_type_get_ref(t);
        if (!emu_k[i].vec_dot || !ref || !ref->is_quantized) continue;
        hearth_type_traits emu, a2;
        const qspec *q = find_qspec(t);
        CHECK(q != NULL, "%s: emulated vec_dot of %s has no test", LEVEL, ref->name);
        if (!q || !emu_traits(t, &emu)) continue;
        CHECK(emu.vec_dot == emu_k[i].vec_dot, "%s: traits of %s do not use the emulated vec_dot", LEVEL, ref->name);
        types++;
        dots += check_quant_dot(LEVEL, &emu, ref, q, &worst);
        CHECK(ref->gemm != NULL, "type %s has a vec_dot but no reference gemm", ref->name);
        if (ref->gemm) tiles += check_gemm(LEVEL, &emu, ref, t);
        gemms += emu.gemm != NULL;
        if (hearth_kernels_traits_for(HEARTH_ISA_AVX2, t, &a2)) {
            CHECK(a2.vec_dot != emu.vec_dot, "%s: AVX2 and emulated vec_dot are one function", ref->name);
            same += check_against_avx2(&emu, &a2, ref, q);
        } else {
            CHECK(0, "traits_for(avx2, %s) failed", ref->name);
        }
    }
    /* the body's quantized dots and tiles the AVX-512 level registers */
    static const uint32_t want_dot[] = {HEARTH_TYPE_Q4_0, HEARTH_TYPE_Q4_1, HEARTH_TYPE_Q5_0,  HEARTH_TYPE_Q5_1,
                                        HEARTH_TYPE_Q8_0, HEARTH_TYPE_Q2_K, HEARTH_TYPE_Q3_K,  HEARTH_TYPE_Q4_K,
                                        HEARTH_TYPE_Q5_K, HEARTH_TYPE_Q6_K, HEARTH_TYPE_Q8_K,  HEARTH_TYPE_IQ4_NL,
                                        HEARTH_TYPE_IQ4_XS};
    static const uint32_t want_gemm[] = {HEARTH_TYPE_Q4_0, HEARTH_TYPE_Q5_0, HEARTH_TYPE_Q8_0, HEARTH_TYPE_IQ4_NL,
                                         HEARTH_TYPE_Q4_K, HEARTH_TYPE_Q5_K, HEARTH_TYPE_Q6_K};
    for (size_t i = 0; i < sizeof want_dot / sizeof *want_dot; i++) {
        hearth_type_traits emu;
        CHECK(emu_traits(want_dot[i], &emu) && emu.vec_dot != hearth_type_get_ref(want_dot[i])->vec_dot,
              "%s has no emulated vec_dot", hearth_type_get_ref(want_dot[i])->name);
    }
    for (size_t i = 0; i < sizeof want_gemm / sizeof *want_gemm; i++) {
        hearth_type_traits emu;
        CHECK(emu_traits(want_gemm[i], &emu) && emu.gemm && emu.gemm != hearth_type_get_ref(want_gemm[i])->gemm,
              "%s has no emulated tile kernel", hearth_type_get_ref(want_gemm[i])->name);
    }
    printf("path %s: %d quantized types, %d dot comparisons, %d tiles (%d gemm kernels), %d dots equal to avx2's, "
           "worst rel err %.3g\n",
           LEVEL, types, dots, tiles, gemms, same, worst);
    CHECK(types >= (int)(sizeof want_dot / sizeof *want_dot), "only %d quantized types tested", types);
}

/* Runs check (4) on the types the dispatcher has AVX2 packed and decode
 * kernels for. */
static void check_avx2_sets(void) {
    static const uint32_t packed_types[] = {HEARTH_TYPE_Q4_0, HEARTH_TYPE_Q4_1, HEARTH_TYPE_Q5_0, HEARTH_TYPE_Q5_1,
                                            HEARTH_TYPE_Q8_0, HEARTH_TYPE_IQ4_NL, HEARTH_TYPE_IQ4_XS, HEARTH_TYPE_Q2_K,
                                            HEARTH_TYPE_Q3_K, HEARTH_TYPE_Q4_K, HEARTH_TYPE_Q5_K, HEARTH_TYPE_Q6_K};
    static const uint32_t gemv_types[] = {HEARTH_TYPE_Q4_0, HEARTH_TYPE_Q8_0};
    for (size_t i = 0; i < sizeof packed_types / sizeof *packed_types; i++) {
        const uint32_t t = packed_types[i];
        hearth_type_traits emu;
        const hearth_packed_gemm *pk = hearth_packed_gemm_avx2(t);
        CHECK(pk != NULL, "no AVX2 packed kernels for %s", hearth_type_get_ref(t)->name);
        if (!pk || !emu_traits(t, &emu)) continue;
        printf("%s: %d avx2 packed tiles equal the %s vec_dot\n", emu.name, check_packed(t, pk, &emu, "avx2"), LEVEL);
    }
    /* the level's own VNNI packed kernels (gemm_packed_avx512.c) */
    static const uint32_t vnni_types[] = {HEARTH_TYPE_Q4_0, HEARTH_TYPE_Q8_0, HEARTH_TYPE_Q5_0, HEARTH_TYPE_IQ4_NL};
    for (size_t i = 0; i < sizeof vnni_types / sizeof *vnni_types; i++) {
        const uint32_t t = vnni_types[i];
        hearth_type_traits emu;
        const hearth_packed_gemm *pk = vnni_emu_packed_get(t);
        CHECK(pk != NULL, "no VNNI packed kernels for %s", hearth_type_get_ref(t)->name);
        if (!pk || !emu_traits(t, &emu)) continue;
        printf("%s: %d vnni packed tiles equal the %s vec_dot\n", emu.name, check_packed(t, pk, &emu, "vnni"), LEVEL);
    }
    for (size_t i = 0; i < sizeof gemv_types / sizeof *gemv_types; i++) {
        const uint32_t t = gemv_types[i];
        hearth_type_traits emu;
        const hearth_gemv *gv = hearth_gemv_avx2(t);
        CHECK(gv != NULL, "no AVX2 decode kernels for %s", hearth_type_get_ref(t)->name);
        if (!gv || !emu_traits(t, &emu)) continue;
        printf("%s: %d avx2 decode-kernel dots equal the %s vec_dot\n", emu.name, check_gemv(t, gv, &emu), LEVEL);
    }
}
#endif

int main(void) {
    const char *it = getenv("HEARTH_TEST_ITERS");
    if (it && atoi(it) > 0) iters = atoi(it);
#if defined(__x86_64__)
    if (!hearth_cpu_supports(HEARTH_ISA_AVX2)) {
        printf("test_vnni_emu: this CPU (or its OS) lacks AVX2, FMA or F16C, which the emulation needs: "
               "nothing to run\n");
        TEST_DONE();
    }
    n_emu_k = vnni_emu_kernels_list(emu_k, MAX_ENTRIES);
    n_emu_g = vnni_emu_gemm_list(emu_g, MAX_ENTRIES);
    CHECK(n_emu_k > 0 && n_emu_g > 0, "empty emulated kernel lists (%zu, %zu)", n_emu_k, n_emu_g);
    check_emulation();
    check_level();
    check_avx2_sets();
    if (hearth_cpu_supports(HEARTH_ISA_AVX512))
        printf("this CPU has AVX-512 VNNI: test_kernels and test_packed also run the real level\n");
#else
    printf("test_vnni_emu: not an x86-64 build (the AVX-512 level does not exist here): nothing to run\n");
#endif
    TEST_DONE();
}
