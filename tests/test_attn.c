/* test_attn.c - the dispatched attention kernel against the scalar
 * reference: head sizes 8..256 (and odd ones that fall back), key counts
 * 1..300 (across the kernel's key chunks), groups of 1, 3 and 8 query heads
 * sharing the KV rows, strides wider than a head, random data. */
#include <math.h>
#include <stdlib.h>

#include "engine/kernels/attn.h"
#include "test.h"

static float frand(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return ((float)((*s >> 8) & 0xFFFF) / 32768.0f - 1.0f) * 2.0f;
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
            for (size_t g = 0; g < sizeof groups / sizeof *groups; g++) {
                int hd = hds[a], nk = keys[b], nq = groups[g];
                size_t stride = (size_t)hd * 3 + 5;
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
                CHECK(md <= 1e-5, "hd %d keys %d heads %d: max diff %.3g", hd, nk, nq, md);
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
    TEST_DONE();
}
