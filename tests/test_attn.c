/* test_attn.c - the dispatched attention kernel against the scalar
 * reference: head sizes 8..256 (and odd ones that fall back), key counts
 * 1..300 (across the kernel's key chunks), groups of 1, 3 and 8 query heads
 * sharing the KV rows, odd strides wider than a head and the power-of-two
 * strides of real KV caches (which size the key chunks), random data. The same
 * for the F16 (half-float K/V) kernels against the F16 reference, and the
 * row converter against hearth_fp32_to_fp16 bit for bit. */
#include <math.h>
#include <stdlib.h>

#include "engine/kernels/attn.h"
#include "hearth/quant.h"
#include "test.h"

/* Row strides (floats) tested: wider than a head and odd, the next power of
 * two of 4 heads (a KV cache row of 4 KV heads: rows land in few L1 sets,
 * which sizes the kernel's key chunks), and 4096 (a 16 KB row, as 32 KV
 * heads of 128: every row in the same sets). */
enum { N_STRIDES = 3 };
static size_t stride_of(int hd, int kind) {
    if (kind == 0) return (size_t)hd * 3 + 5;
    if (kind == 2) return 4096;
    size_t p = 1;
    while (p < (size_t)hd * 4) p *= 2;
    return p;
}

static float frand(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return ((float)((*s >> 8) & 0xFFFF) / 32768.0f - 1.0f) * 2.0f;
}

/* The F16 kernels: the fast one against the F16 reference with the F32
 * bound, and the F16 reference against the F32 reference on the same
 * (exactly widened) rows, which it must reproduce (same arithmetic, same
 * order). */
static void check_f16(const int *hds, size_t n_hds, const int *keys, size_t n_keys, const int *groups,
                      size_t n_groups) {
    hearth_attn_f16_fn fast = hearth_attn_f16_kernel();
    CHECK(fast != NULL);
#if defined(__x86_64__)
    printf("f16 attention kernel: %s\n", fast == hearth_attn_f16_avx2 ? "avx2" : "scalar");
#endif
    unsigned seed = 11;
    double worst = 0, worst_f32 = 0;
    for (size_t a = 0; a < n_hds; a++) {
        for (size_t b = 0; b < n_keys; b++) {
            for (size_t g = 0; g < n_groups * N_STRIDES; g++) {
                int hd = hds[a], nk = keys[b], nq = groups[g % n_groups];
                size_t stride = stride_of(hd, (int)(g / n_groups));
                uint16_t *k = malloc(stride * nk * sizeof *k), *v = malloc(stride * nk * sizeof *v);
                float *kf = malloc(stride * nk * sizeof *kf), *vf = malloc(stride * nk * sizeof *vf);
                float *q = malloc((size_t)nq * hd * sizeof *q), *o1 = malloc((size_t)nq * hd * sizeof *o1);
                float *o2 = malloc((size_t)(nq * hd + 1) * sizeof *o2), *o3 = malloc((size_t)nq * hd * sizeof *o3);
                float *s1 = malloc((size_t)nq * nk * sizeof *s1), *s2 = malloc((size_t)nq * nk * sizeof *s2);
                if (!(k && v && kf && vf && q && o1 && o2 && o3 && s1 && s2)) {
                    CHECK(0, "out of memory");
                    exit(1);
                }
                for (size_t i = 0; i < stride * nk; i++) {
                    k[i] = hearth_fp32_to_fp16(frand(&seed));
                    v[i] = hearth_fp32_to_fp16(frand(&seed));
                    kf[i] = hearth_fp16_to_fp32(k[i]);
                    vf[i] = hearth_fp16_to_fp32(v[i]);
                }
                for (int i = 0; i < nq * hd; i++) q[i] = frand(&seed) * (float)(1 + i % 3);
                o2[nq * hd] = 12345.0f;
                float scale = 1.0f / sqrtf((float)hd);
                hearth_attn_f16_ref(q, nq, k, v, stride, nk, hd, scale, s1, o1);
                fast(q, nq, k, v, stride, nk, hd, scale, s2, o2);
                hearth_attn_ref(q, nq, kf, vf, stride, nk, hd, scale, s1, o3);
                double md = 0, m32 = 0;
                for (int i = 0; i < nq * hd; i++) {
                    double d = fabs((double)o1[i] - o2[i]);
                    if (!(d <= md)) md = isnan(d) ? INFINITY : d;
                    d = fabs((double)o1[i] - o3[i]);
                    if (!(d <= m32)) m32 = isnan(d) ? INFINITY : d;
                }
                if (md > worst) worst = md;
                if (m32 > worst_f32) worst_f32 = m32;
                CHECK(md <= 1e-5, "f16 hd %d keys %d heads %d stride %zu: max diff %.3g", hd, nk, nq, stride, md);
                CHECK(m32 <= 1e-6, "f16 ref vs f32 ref hd %d keys %d heads %d: max diff %.3g", hd, nk, nq, m32);
                CHECK(o2[nq * hd] == 12345.0f, "f16 hd %d keys %d heads %d: wrote past the output", hd, nk, nq);
                free(k);
                free(v);
                free(kf);
                free(vf);
                free(q);
                free(o1);
                free(o2);
                free(o3);
                free(s1);
                free(s2);
            }
        }
    }
    printf("f16: worst difference %.3g (f16 ref vs f32 ref on the same rows: %.3g)\n", worst, worst_f32);
}

/* The dispatched row converter gives hearth_fp32_to_fp16's bits, including
 * ties, subnormals, overflow and the tail after the last 8-wide block. */
static void check_f16_rows(void) {
    hearth_f16_row_fn cvt = hearth_f16_row_kernel();
    enum { N = 4099 };
    static float x[N];
    static uint16_t y[N + 1];
    unsigned seed = 3;
    static const float special[] = {0.0f, -0.0f, 1.0f, 65504.0f, 65520.0f, 1e6f, -1e6f, 6.1e-5f, 5.96e-8f,
                                    2.98e-8f, 1e-10f, 1.00048828125f, 1.00146484375f, 0.333333333f};
    for (int i = 0; i < N; i++) {
        float f = frand(&seed);
        x[i] = i < (int)(sizeof special / sizeof *special) ? special[i] : f * powf(2.0f, (float)(i % 40 - 26));
    }
    y[N] = 0xBEEF;
    cvt(x, y, N);
    int bad = 0;
    for (int i = 0; i < N; i++)
        if (y[i] != hearth_fp32_to_fp16(x[i])) bad++;
    CHECK(bad == 0, "f16 row converter: %d of %d values differ from hearth_fp32_to_fp16", bad, N);
    CHECK(y[N] == 0xBEEF, "f16 row converter wrote past the row");
}

int main(void) {
    static const int hds[] = {8, 16, 32, 40, 64, 96, 100, 128, 256};
    static const int keys[] = {1, 2, 7, 31, 64, 129, 300};
    unsigned seed = 7;
    hearth_attn_fn fast = hearth_attn_kernel();
    CHECK(fast != NULL);
#if defined(__x86_64__)
    printf("attention kernel: %s\n", fast == hearth_attn_avx2 ? "avx2" : "scalar");
#endif
    static const int groups[] = {1, 3, 8};
    double worst = 0;
    for (size_t a = 0; a < sizeof hds / sizeof *hds; a++) {
        for (size_t b = 0; b < sizeof keys / sizeof *keys; b++) {
            for (size_t g = 0; g < sizeof groups / sizeof *groups * N_STRIDES; g++) {
                int hd = hds[a], nk = keys[b], nq = groups[g % (sizeof groups / sizeof *groups)];
                size_t stride = stride_of(hd, (int)(g / (sizeof groups / sizeof *groups)));
                float *k = malloc(stride * nk * sizeof *k), *v = malloc(stride * nk * sizeof *v);
                float *q = malloc((size_t)nq * hd * sizeof *q), *o1 = malloc((size_t)nq * hd * sizeof *o1);
                float *o2 = malloc((size_t)(nq * hd + 1) * sizeof *o2);
                float *s1 = malloc((size_t)nq * nk * sizeof *s1), *s2 = malloc((size_t)nq * nk * sizeof *s2);
                if (!(k && v && q && o1 && o2 && s1 && s2)) {
                    CHECK(0, "out of memory");
                    return 1;
                }
                for (size_t i = 0; i < stride * nk; i++) {
                    k[i] = frand(&seed);
                    v[i] = frand(&seed);
                }
                for (int i = 0; i < nq * hd; i++) q[i] = frand(&seed) * (float)(1 + i % 3);
                o2[nq * hd] = 12345.0f;
                float scale = 1.0f / sqrtf((float)hd);
                hearth_attn_ref(q, nq, k, v, stride, nk, hd, scale, s1, o1);
                fast(q, nq, k, v, stride, nk, hd, scale, s2, o2);
                double md = 0;
                for (int i = 0; i < nq * hd; i++) {
                    double d = fabs((double)o1[i] - o2[i]);
                    if (!(d <= md)) md = isnan(d) ? INFINITY : d;
                }
                if (md > worst) worst = md;
                CHECK(md <= 1e-5, "hd %d keys %d heads %d stride %zu: max diff %.3g", hd, nk, nq, stride, md);
                CHECK(o2[nq * hd] == 12345.0f, "hd %d keys %d heads %d: wrote past the output", hd, nk, nq);
                free(k);
                free(v);
                free(q);
                free(o1);
                free(o2);
                free(s1);
                free(s2);
            }
        }
    }
    printf("worst difference %.3g\n", worst);
    check_f16(hds, sizeof hds / sizeof *hds, keys, sizeof keys / sizeof *keys, groups, sizeof groups / sizeof *groups);
    check_f16_rows();
    TEST_DONE();
}
