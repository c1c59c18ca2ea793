/* bench/kernels.c - vec_dot throughput per type and ISA level (a speed check,
 * not a test).
 *
 * For each computable weight type and each level this CPU supports, runs
 * vec_dot over every row of a ROWS x COLS weight matrix against one
 * activation row (one token, as in decoding) and prints the weight bytes
 * read per second and the speed-up over the scalar reference.
 *
 * Usage: bench_kernels [type ...]   (default: all types; e.g. q4_0 q4_k)
 * Env: HEARTH_BENCH_ROWS / HEARTH_BENCH_COLS (default 4096 x 4096),
 *      HEARTH_BENCH_SECONDS (minimum time per measurement, default 0.3).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/kernels/cpu.h"
#include "engine/kernels/dispatch.h"
#include "hearth/alloc.h"
#include "hearth/quant.h"

/* Seconds of CPU time of this thread: on a shared machine, time spent
 * descheduled would otherwise count against whichever kernel ran then. */
static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng = 0x2545F4914F6CDD1DULL;

/* xorshift64: deterministic filler bytes. */
static uint64_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Byte offsets of the fp16 scales in a block (so random bytes do not make
 * NaN or subnormal scales, which would slow some CPUs down), -1 when absent. */
static void scale_offsets(uint32_t t, int *d, int *m) {
    *d = 0;
    *m = -1;
    switch (t) {
    case HEARTH_TYPE_Q4_1:
    case HEARTH_TYPE_Q5_1:
    case HEARTH_TYPE_Q4_K:
    case HEARTH_TYPE_Q5_K:
        *m = 2;
        break;
    case HEARTH_TYPE_Q2_K:
        *d = 80;
        *m = 82;
        break;
    case HEARTH_TYPE_Q3_K:
        *d = 108;
        break;
    case HEARTH_TYPE_Q6_K:
        *d = 208;
        break;
    case HEARTH_TYPE_Q8_K:
        *d = -1; /* float scale: set separately */
        break;
    default:
        break;
    }
}

/* Fills a weight matrix of type t with plausible data. */
static void fill_weights(uint32_t t, const hearth_type_traits *tr, uint8_t *w, size_t bytes) {
    if (!tr->is_quantized) {
        const size_t n = bytes / tr->type_size;
        float *tmp = hearth_malloc(4096 * sizeof(float));
        if (!tmp) return;
        for (size_t i = 0; i < n; i += 4096) {
            const size_t k = n - i < 4096 ? n - i : 4096;
            for (size_t j = 0; j < k; j++) tmp[j] = (float)((int)(rnd() % 2001) - 1000) / 1000.0f;
            tr->from_float(tmp, w + i * tr->type_size, (int64_t)k);
        }
        hearth_free(tmp);
        return;
    }
    for (size_t i = 0; i < bytes; i++) w[i] = (uint8_t)rnd();
    int d, m;
    scale_offsets(t, &d, &m);
    const uint16_t h = hearth_fp32_to_fp16(0.01f);
    const float f = 0.01f;
    for (size_t b = 0; b < bytes; b += tr->type_size) {
        if (d >= 0) memcpy(w + b + d, &h, 2);
        if (m >= 0) memcpy(w + b + m, &h, 2);
        if (t == HEARTH_TYPE_Q8_K) memcpy(w + b, &f, 4);
    }
}

/* Times vec_dot over all rows; returns seconds per pass. */
static double time_pass(hearth_vec_dot_fn dot, const uint8_t *w, size_t row_bytes, int64_t rows, int64_t cols,
                        const void *act, float *out, double min_seconds) {
    int passes = 0;
    const double t0 = now();
    double t;
    do {
        for (int64_t r = 0; r < rows; r++) dot(cols, &out[r], w + (size_t)r * row_bytes, act);
        passes++;
        t = now() - t0;
    } while (t < min_seconds);
    return t / passes;
}

int main(int argc, char **argv) {
    const char *e;
    int64_t rows = (e = getenv("HEARTH_BENCH_ROWS")) && atoll(e) > 0 ? atoll(e) : 4096;
    int64_t cols = (e = getenv("HEARTH_BENCH_COLS")) && atoll(e) > 0 ? atoll(e) : 4096;
    const double min_s = (e = getenv("HEARTH_BENCH_SECONDS")) && atof(e) > 0 ? atof(e) : 0.3;
    cols = (cols + 255) / 256 * 256;
    printf("kernels: %s; matrix %lld x %lld, one token\n", hearth_kernels_isa(), (long long)rows, (long long)cols);
    printf("%-8s %-8s %10s %10s %8s\n", "type", "path", "GB/s", "us/matvec", "speedup");
    float *x = hearth_malloc((size_t)cols * sizeof(float));
    float *out = hearth_malloc((size_t)rows * sizeof(float));
    uint8_t *act = hearth_malloc((size_t)cols * 4 + 64);
    if (!x || !out || !act) return 1;
    for (int64_t i = 0; i < cols; i++) x[i] = (float)((int)(rnd() % 2001) - 1000) / 1000.0f;
    for (uint32_t t = 0; t < HEARTH_TYPE_COUNT; t++) {
        const hearth_type_traits *ref = hearth_type_get_ref(t);
        if (!ref || !ref->vec_dot) continue;
        if (argc > 1) {
            int want = 0;
            for (int i = 1; i < argc; i++) want |= hearth_type_from_name(argv[i]) == (int)t;
            if (!want) continue;
        }
        const size_t row_bytes = hearth_row_size(t, cols);
        uint8_t *w = hearth_malloc(row_bytes * (size_t)rows);
        if (!w) return 1;
        fill_weights(t, ref, w, row_bytes * (size_t)rows);
        hearth_type_get_ref(ref->vec_dot_type)->from_float(x, act, cols);
        double scalar_time = 0.0;
        for (int li = 0; li < HEARTH_ISA_COUNT; li++) {
            hearth_type_traits tr;
            if (!hearth_kernels_traits_for((hearth_isa)li, t, &tr)) continue;
            if (li != HEARTH_ISA_SCALAR && tr.vec_dot == ref->vec_dot) continue;
            const double s = time_pass(tr.vec_dot, w, row_bytes, rows, cols, act, out, li ? min_s : min_s / 3);
            if (li == HEARTH_ISA_SCALAR) scalar_time = s;
            printf("%-8s %-8s %10.2f %10.1f %7.1fx\n", ref->name, hearth_isa_name((hearth_isa)li),
                   (double)row_bytes * (double)rows / s / 1e9, s * 1e6, scalar_time > 0 ? scalar_time / s : 0.0);
            fflush(stdout);
        }
        hearth_free(w);
    }
    hearth_free(x);
    hearth_free(out);
    hearth_free(act);
    return 0;
}
