/* bench/kernels.c - vec_dot throughput per type and ISA level (a speed check,
 * not a test).
 *
 * For each computable weight type and each level this CPU supports, runs
 * vec_dot over every row of a ROWS x COLS weight matrix against one
 * activation row (one token, as in decoding) and prints the weight bytes
 * read per second and the speed-up over the scalar reference; then the same
 * with the selected level's decode kernel (kernels/gemv.h) where the type
 * has one (path "gemv").
 *
 * With --gemm: prefill instead. For 2048 x 2048 and 5632 x 2048 weights
 * against HEARTH_BENCH_TOKENS (default 512) activation rows, on one thread,
 * runs the matmul loop of ops.c (16-row x 64-token cache blocks) once with
 * vec_dot per (row, token) and once with the level's gemm tile kernel, and
 * prints GOP/s (2 * rows * cols * tokens / time).
 *
 * Usage: bench_kernels [--gemm] [type ...]   (default: all types; e.g. q4_0 q4_k)
 * Env: HEARTH_BENCH_ROWS / HEARTH_BENCH_COLS (default 4096 x 4096),
 *      HEARTH_BENCH_SECONDS (minimum time per measurement, default 0.3).
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/kernels/cpu.h"
#include "engine/kernels/dispatch.h"
#include "engine/kernels/gemv.h"
#include "engine/kernels/packed.h"
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

/* The matmul loop of ops.c over all rows and tokens, with tiles when gemm
 * is set, else vec_dot per (row, token). */
static void matmul_pass(const hearth_type_traits *tr, bool tiles, const uint8_t *w, size_t row_bytes, int64_t rows,
                        int64_t cols, const uint8_t *act, size_t act_bytes, int32_t ntok, float *y) {
    enum { ROW_BLOCK = 16, TOKEN_BLOCK = 64, T = HEARTH_GEMM_TILE };
    for (int64_t rb = 0; rb < rows; rb += ROW_BLOCK) {
        const int64_t re = rb + ROW_BLOCK < rows ? rb + ROW_BLOCK : rows;
        for (int32_t tb = 0; tb < ntok; tb += TOKEN_BLOCK) {
            const int32_t te = tb + TOKEN_BLOCK < ntok ? tb + TOKEN_BLOCK : ntok;
            if (!tiles) {
                for (int64_t r = rb; r < re; r++)
                    for (int32_t i = tb; i < te; i++)
                        tr->vec_dot(cols, &y[(size_t)i * rows + r], w + (size_t)r * row_bytes, act + (size_t)i * act_bytes);
                continue;
            }
            for (int64_t r = rb; r < re; r += T) {
                const int nr = re - r < T ? (int)(re - r) : T;
                for (int32_t i = tb; i < te; i += T) {
                    const int nt = te - i < T ? te - i : T;
                    tr->gemm(cols, &y[(size_t)i * rows + r], (size_t)rows, w + (size_t)r * row_bytes, row_bytes,
                             act + (size_t)i * act_bytes, act_bytes, nr, nt);
                }
            }
        }
    }
}

/* The packed matmul loop of ops.c (dot_rows_packed, one thread): each group
 * of HEARTH_PACK_ROWS rows is repacked, then run against every token. `pa`
 * holds the activations converted to the kernel's layout, `pab` bytes
 * apart; buf holds 4 packed groups. */
static void packed_pass(const hearth_packed_gemm *pk, const uint8_t *w, size_t row_bytes, int64_t rows, int64_t cols,
                        const uint8_t *pa, size_t pab, int32_t ntok, float *y, uint8_t *buf) {
    enum { R = HEARTH_PACK_ROWS, G = 4 };
    const size_t gb = (pk->group_bytes(cols) + 63) & ~(size_t)63;
    for (int64_t rb = 0; rb < rows; rb += (int64_t)G * R) {
        int ng = 0, nr[G];
        for (; ng < G && rb + (int64_t)ng * R < rows; ng++) {
            const int64_t r = rb + (int64_t)ng * R;
            nr[ng] = rows - r < R ? (int)(rows - r) : R;
            pk->pack(cols, w + (size_t)r * row_bytes, row_bytes, nr[ng], buf + (size_t)ng * gb);
        }
        for (int32_t i = 0; i < ntok; i += HEARTH_PACK_TOKENS) {
            const int nt = ntok - i < HEARTH_PACK_TOKENS ? ntok - i : HEARTH_PACK_TOKENS;
            for (int g = 0; g < ng; g++)
                pk->tile(cols, &y[(size_t)i * rows + (size_t)rb + (size_t)g * R], (size_t)rows, buf + (size_t)g * gb,
                         pa + (size_t)i * pab, pab, nr[g], nt);
        }
    }
}

/* Prefill benchmark (--gemm); returns the process exit status. */
static int bench_gemm(int argc, char **argv, double min_s) {
    const char *e;
    const int32_t ntok = (e = getenv("HEARTH_BENCH_TOKENS")) && atoi(e) > 0 ? atoi(e) : 512;
    const int64_t shapes[2] = {2048, 5632}, cols = 2048;
    printf("kernels: %s; prefill %d tokens, %lld columns, 1 thread\n", hearth_kernels_isa(), ntok, (long long)cols);
    printf("%-8s %-8s %6s %10s %10s %8s %12s\n", "type", "path", "rows", "vec GOP/s", "gemm GOP/s", "speedup",
           "packed GOP/s");
    float *x = hearth_malloc((size_t)cols * (size_t)ntok * sizeof(float));
    float *y = hearth_malloc((size_t)5632 * (size_t)ntok * sizeof(float));
    uint8_t *act = hearth_malloc((size_t)cols * 4 * (size_t)ntok + 64);
    if (!x || !y || !act) return 1;
    for (size_t i = 0; i < (size_t)cols * (size_t)ntok; i++) x[i] = (float)((int)(rnd() % 2001) - 1000) / 1000.0f;
    for (uint32_t t = 0; t < HEARTH_TYPE_COUNT; t++) {
        const hearth_type_traits *ref = hearth_type_get_ref(t);
        if (!ref || !ref->vec_dot) continue;
        int want = argc <= 2;
        for (int i = 2; i < argc; i++) want |= hearth_type_from_name(argv[i]) == (int)t;
        if (!want) continue;
        const hearth_type_traits *at = hearth_type_get_ref(ref->vec_dot_type);
        const size_t row_bytes = hearth_row_size(t, cols), act_bytes = hearth_row_size(ref->vec_dot_type, cols);
        uint8_t *w = hearth_malloc(row_bytes * 5632);
        if (!w) return 1;
        fill_weights(t, ref, w, row_bytes * 5632);
        for (int32_t i = 0; i < ntok; i++) at->from_float(x + (size_t)i * cols, act + (size_t)i * act_bytes, cols);
        for (int li = 1; li < HEARTH_ISA_COUNT; li++) {
            hearth_type_traits tr;
            if (!hearth_kernels_traits_for((hearth_isa)li, t, &tr) || tr.vec_dot == ref->vec_dot) continue;
            for (int si = 0; si < 2; si++) {
                const int64_t rows = shapes[si];
                const double ops = 2.0 * (double)rows * (double)cols * (double)ntok;
                double tv, tg = 0.0;
                int passes = 0;
                double t0 = now();
                do {
                    matmul_pass(&tr, false, w, row_bytes, rows, cols, act, act_bytes, ntok, y);
                    passes++;
                } while ((tv = now() - t0) < min_s);
                tv /= passes;
                if (tr.gemm) {
                    passes = 0;
                    t0 = now();
                    do {
                        matmul_pass(&tr, true, w, row_bytes, rows, cols, act, act_bytes, ntok, y);
                        passes++;
                    } while ((tg = now() - t0) < min_s);
                    tg /= passes;
                }
                /* the packed kernels exist for the selected level only */
                const hearth_packed_gemm *pk = li == (int)hearth_kernels_level() ? hearth_packed_gemm_get(t) : NULL;
                double tp = 0.0;
                uint8_t *pa = pk ? hearth_malloc_aligned(pk->act_bytes(cols) * (size_t)ntok + 64, 64) : NULL;
                uint8_t *buf = pk ? hearth_malloc_aligned(((pk->group_bytes(cols) + 63) & ~(size_t)63) * 4, 64) : NULL;
                if (pa && buf) {
                    const size_t pab = pk->act_bytes(cols);
                    for (int32_t i = 0; i < ntok; i++)
                        pk->act_convert(cols, act + (size_t)i * act_bytes, pa + (size_t)i * pab);
                    passes = 0;
                    t0 = now();
                    do {
                        packed_pass(pk, w, row_bytes, rows, cols, pa, pab, ntok, y, buf);
                        passes++;
                    } while ((tp = now() - t0) < min_s);
                    tp /= passes;
                }
                hearth_free_aligned(pa);
                hearth_free_aligned(buf);
                printf("%-8s %-8s %6lld %10.1f %10.1f %7.2fx %12.1f\n", ref->name, hearth_isa_name((hearth_isa)li),
                       (long long)rows, ops / tv / 1e9, tg > 0 ? ops / tg / 1e9 : 0.0, tg > 0 ? tv / tg : 0.0,
                       tp > 0 ? ops / tp / 1e9 : 0.0);
                fflush(stdout);
            }
        }
        hearth_free(w);
    }
    hearth_free(x);
    hearth_free(y);
    hearth_free(act);
    return 0;
}

int main(int argc, char **argv) {
    const char *e;
    int64_t rows = (e = getenv("HEARTH_BENCH_ROWS")) && atoll(e) > 0 ? atoll(e) : 4096;
    int64_t cols = (e = getenv("HEARTH_BENCH_COLS")) && atoll(e) > 0 ? atoll(e) : 4096;
    const double min_s = (e = getenv("HEARTH_BENCH_SECONDS")) && atof(e) > 0 ? atof(e) : 0.3;
    if (argc > 1 && strcmp(argv[1], "--gemm") == 0) return bench_gemm(argc, argv, min_s);
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
        /* the selected level's decode kernel (gemv.h), when the type has one */
        const hearth_gemv *gv = hearth_gemv_get(t);
        uint8_t *gact = gv ? hearth_malloc_aligned(gv->act_bytes(cols), 64) : NULL;
        if (gact) {
            hearth_type_get(ref->vec_dot_type)->from_float(x, act, cols);
            gv->act_prepare(cols, act, gact);
            int passes = 0;
            const double t0 = now();
            double s;
            do {
                gv->rows(cols, out, w, row_bytes, rows, gact);
                passes++;
            } while ((s = now() - t0) < min_s);
            s /= passes;
            printf("%-8s %-8s %10.2f %10.1f %7.1fx\n", ref->name, "gemv", (double)row_bytes * (double)rows / s / 1e9,
                   s * 1e6, scalar_time > 0 ? scalar_time / s : 0.0);
            hearth_free_aligned(gact);
        }
        hearth_free(w);
    }
    hearth_free(x);
    hearth_free(out);
    hearth_free(act);
    return 0;
}
