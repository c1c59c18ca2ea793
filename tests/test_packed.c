/* test_packed.c - the packed prefill kernels (kernels/packed.h), the decode
 * kernels (kernels/gemv.h) and the matmul that uses them.
 *
 * (1) Every tile shape (1..8 rows, 1..HEARTH_PACK_TOKENS tokens) over several row lengths
 * gives bit for bit the selected level's vec_dot of each (row, token), and
 * nothing outside the tile is written. (2) hearth_matmul over many tokens
 * (packed path, 1 and 2 threads, row counts that leave partial groups)
 * gives bit for bit what it gives one token at a time (decode path). (3) The
 * decode kernels give bit for bit the vec_dot of every row, for row lengths
 * with and without partial groups of blocks, on rows that are only 2-byte
 * aligned (the blocks' own alignment; nothing wider is assumed). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/gemv.h"
#include "engine/kernels/packed.h"
#include "engine/ops.h"
#include "hearth/alloc.h"
#include "hearth/quant.h"
#include "hearth/threadpool.h"
#include "test.h"

enum { NT = HEARTH_PACK_TOKENS };

static uint64_t seed = 0x9e3779b97f4a7c15ULL;

/* Returns the next pseudo-random 32 bits. */
static uint32_t rnd(void) {
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return (uint32_t)(seed >> 16);
}

/* Returns a random float in [-1, 1). */
static float rndf(void) { return (float)(rnd() % 65536) / 32768.0f - 1.0f; }

/* Fills n_rows weight rows of a type with fp16 block scales
 * (Q4_0, Q5_0, Q8_0, IQ4_NL, IQ4_XS: d; Q4_1, Q5_1: d, m; Q4_K, Q5_K: d, dmin; Q6_K: d last): random quant bytes (mode 0: the Q8_0
 * extreme -128 too), small quants (mode 1) or all-ones bytes in even rows and zero bytes in odd rows
 * (mode 2: the largest unsigned quants and IQ4_XS's -127), with sane random scales. */
static void fill_weights(uint32_t t, uint8_t *p, int64_t n, int64_t n_rows, int mode) {
    const hearth_type_traits *tr = hearth_type_get(t);
    const size_t rb = hearth_row_size(t, n);
    for (int64_t r = 0; r < n_rows; r++) {
        uint8_t *row = p + (size_t)r * rb;
        for (size_t i = 0; i < rb; i++) row[i] = (uint8_t)(mode == 2 ? (r % 2 ? 0x00 : 0xFF) : mode ? rnd() % 3 : rnd());
        for (int64_t b = 0; b < n / tr->block_size; b++) {
            /* Q6_K and Q3_K keep their one scale last, Q2_K its two */
            const size_t at = t == HEARTH_TYPE_Q6_K || t == HEARTH_TYPE_Q3_K ? tr->type_size - 2
                              : t == HEARTH_TYPE_Q2_K                       ? tr->type_size - 4
                                                                            : 0;
            const int n_scales = t == HEARTH_TYPE_Q4_K || t == HEARTH_TYPE_Q5_K || t == HEARTH_TYPE_Q2_K ||
                                         t == HEARTH_TYPE_Q4_1 || t == HEARTH_TYPE_Q5_1
                                     ? 2
                                     : 1;
            for (int k = 0; k < n_scales; k++) {
                const uint16_t h = hearth_fp32_to_fp16(ldexpf(0.5f + 0.5f * fabsf(rndf()), -(int)(rnd() % 12)));
                memcpy(row + (size_t)b * tr->type_size + at + 2 * (size_t)k, &h, 2);
            }
        }
    }
}

/* Checks every tile shape of type t's packed kernel against vec_dot. */
static void check_tiles(uint32_t t, const hearth_packed_gemm *pk) {
    const hearth_type_traits *tr = hearth_type_get(t);
    const hearth_type_traits *at = hearth_type_get(tr->vec_dot_type);
    static const int blocks[] = {1, 3, 4, 5, 7, 9, 13, 64};
    int tiles = 0;
    for (size_t bi = 0; bi < sizeof blocks / sizeof *blocks; bi++) {
        const int64_t n = blocks[bi] * tr->block_size;
        const size_t xrow = hearth_row_size(t, n), yrow = hearth_row_size(tr->vec_dot_type, n);
        const size_t ab = pk->act_bytes(n);
        uint8_t *x = malloc(8 * xrow), *y = malloc(NT * yrow), *pa = malloc(NT * ab + 64);
        uint8_t *buf = hearth_malloc_aligned(pk->group_bytes(n) + 64, 64);
        float *f = malloc((size_t)n * sizeof(float));
        REQUIRE(x && y && pa && buf && f);
        for (int mode = 0; mode < 3; mode++) { /* mode 2: every maddubs pair at its bound */
            fill_weights(t, x, n, 8, mode);
            for (int k = 0; k < NT; k++) {
                for (int64_t i = 0; i < n; i++) f[i] = mode == 2 ? (k % 2 ? -1.0f : 1.0f) : rndf() * (mode ? 100.0f : 1.0f);
                at->from_float(f, y + (size_t)k * yrow, n);
                pk->act_convert(n, y + (size_t)k * yrow, pa + (size_t)k * ab);
            }
            float want[NT][8];
            for (int k = 0; k < NT; k++)
                for (int r = 0; r < 8; r++) tr->vec_dot(n, &want[k][r], x + (size_t)r * xrow, y + (size_t)k * yrow);
            for (int nr = 1; nr <= 8; nr++) {
                pk->pack(n, x, xrow, nr, buf);
                for (int nt = 1; nt <= NT; nt++) {
                    const size_t lds = 11;
                    float out[NT * 11];
                    for (int i = 0; i < NT * 11; i++) out[i] = -12345.0f;
                    pk->tile(n, out, lds, buf, pa, ab, nr, nt);
                    tiles++;
                    for (int k = 0; k < NT; k++)
                        for (int r = 0; r < 11; r++) {
                            const float v = out[(size_t)k * lds + (size_t)r];
                            if (k < nt && r < nr)
                                CHECK(memcmp(&v, &want[k][r], sizeof v) == 0,
                                      "%s packed nb=%d %dx%d (r%d,t%d): %.9g != vec_dot %.9g (mode %d)", tr->name,
                                      blocks[bi], nr, nt, r, k, v, want[k][r], mode);
                            else
                                CHECK(v == -12345.0f, "%s packed %dx%d wrote outside its tile", tr->name, nr, nt);
                        }
                }
            }
        }
        free(x);
        free(y);
        free(pa);
        free(f);
        hearth_free_aligned(buf);
    }
    printf("%s: %d packed tiles equal vec_dot\n", tr->name, tiles);
}

/* Checks type t's decode kernel against vec_dot on unaligned rows. */
static void check_gemv(uint32_t t, const hearth_gemv *gv) {
    const hearth_type_traits *tr = hearth_type_get(t);
    const hearth_type_traits *at = hearth_type_get(tr->vec_dot_type);
    static const int blocks[] = {1, 2, 3, 4, 5, 7, 8, 9, 13, 64, 67};
    enum { ROWS = 11, PAD = 2 }; /* rows 2 apart from 32-byte alignment: the blocks' own (fp16) alignment */
    int dots = 0;
    for (size_t bi = 0; bi < sizeof blocks / sizeof *blocks; bi++) {
        const int64_t n = blocks[bi] * tr->block_size;
        const size_t xrow = hearth_row_size(t, n), bx = xrow + PAD;
        uint8_t *x = malloc(ROWS * bx + 2), *y = malloc(hearth_row_size(tr->vec_dot_type, n));
        uint8_t *ga = hearth_malloc_aligned(gv->act_bytes(n) + 32, 32), *w = malloc(ROWS * xrow);
        float *f = malloc((size_t)n * sizeof(float));
        REQUIRE(x && y && ga && w && f);
        for (int mode = 0; mode < 2; mode++) {
            fill_weights(t, w, n, ROWS, mode);
            for (int r = 0; r < ROWS; r++) memcpy(x + 2 + (size_t)r * bx, w + (size_t)r * xrow, xrow);
            for (int64_t i = 0; i < n; i++) f[i] = rndf() * (mode ? 100.0f : 1.0f);
            if (mode) f[rnd() % n] = 0.0f;
            at->from_float(f, y, n);
            gv->act_prepare(n, y, ga);
            float out[ROWS + 1];
            for (int i = 0; i <= ROWS; i++) out[i] = -12345.0f;
            gv->rows(n, out, x + 2, bx, ROWS, ga);
            for (int r = 0; r < ROWS; r++) {
                float want;
                tr->vec_dot(n, &want, w + (size_t)r * xrow, y);
                CHECK(memcmp(&out[r], &want, sizeof want) == 0, "%s gemv nb=%d row %d: %.9g != vec_dot %.9g (mode %d)",
                      tr->name, blocks[bi], r, out[r], want, mode);
                dots++;
            }
            CHECK(out[ROWS] == -12345.0f, "%s gemv wrote past its rows", tr->name);
        }
        free(x);
        free(y);
        free(w);
        free(f);
        hearth_free_aligned(ga);
    }
    printf("%s: %d decode-kernel dots equal vec_dot\n", tr->name, dots);
}

/* hearth_matmul of many tokens equals the one-token matmul, bit for bit. */
static void check_matmul(uint32_t t, int threads) {
    const hearth_type_traits *tr = hearth_type_get(t);
    const int64_t n_in = 8 * tr->block_size, n_out = 45; /* 5 full groups + 5 rows */
    const int32_t n_tok = 13;
    const size_t rb = hearth_row_size(t, n_in);
    uint8_t *data = malloc((size_t)n_out * rb);
    float *x = malloc((size_t)n_tok * n_in * sizeof(float));
    float *y = malloc((size_t)n_tok * n_out * sizeof(float)), *y1 = malloc((size_t)n_out * sizeof(float));
    void *scratch = hearth_malloc(hearth_matmul_scratch_bytes(n_in, n_tok, threads));
    hearth_threadpool *pool = NULL;
    REQUIRE(data && x && y && y1 && scratch && hearth_threadpool_new(threads, &pool) == HEARTH_OK);
    fill_weights(t, data, n_in, n_out, 0);
    for (int64_t i = 0; i < (int64_t)n_tok * n_in; i++) x[i] = rndf() * 3.0f;
    hearth_weight w = {.type = t, .n_in = n_in, .n_out = n_out, .row_bytes = rb, .data = data};
    hearth_matmul(pool, &w, x, n_tok, y, scratch);
    int bad = 0;
    for (int32_t k = 0; k < n_tok; k++) {
        hearth_matmul(pool, &w, x + (size_t)k * n_in, 1, y1, scratch);
        bad += memcmp(y1, y + (size_t)k * n_out, (size_t)n_out * sizeof(float)) != 0;
    }
    CHECK(bad == 0, "%s matmul (%d threads): %d of %d tokens differ from one-token matmuls", tr->name, threads, bad,
          n_tok);
    hearth_threadpool_free(pool);
    hearth_free(scratch);
    free(data);
    free(x);
    free(y);
    free(y1);
}

int main(void) {
    static const uint32_t types[] = {HEARTH_TYPE_Q4_0, HEARTH_TYPE_Q8_0, HEARTH_TYPE_Q4_K, HEARTH_TYPE_Q5_K, HEARTH_TYPE_Q6_K,
                                     HEARTH_TYPE_Q5_0, HEARTH_TYPE_IQ4_NL, HEARTH_TYPE_Q3_K, HEARTH_TYPE_Q2_K,
                                     HEARTH_TYPE_IQ4_XS, HEARTH_TYPE_Q4_1, HEARTH_TYPE_Q5_1};
    int with = 0;
    for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
        const hearth_packed_gemm *pk = hearth_packed_gemm_get(types[i]);
        if (pk) {
            check_tiles(types[i], pk);
            with++;
        }
        const hearth_gemv *gv = hearth_gemv_get(types[i]);
        if (gv) check_gemv(types[i], gv);
        check_matmul(types[i], 1);
        check_matmul(types[i], 2);
    }
#if defined(__x86_64__)
    /* AVX2 machines must have every packed kernel above */
    if (strcmp(hearth_kernels_isa(), "scalar") != 0)
        for (size_t i = 0; i < sizeof types / sizeof *types; i++)
            CHECK(hearth_packed_gemm_get(types[i]) != NULL, "no packed %s kernel on %s", hearth_type_get(types[i])->name,
                  hearth_kernels_isa());
    /* and the decode kernels of Q4_0 and Q8_0 */
    if (strcmp(hearth_kernels_isa(), "scalar") != 0) {
        CHECK(hearth_gemv_get(HEARTH_TYPE_Q4_0) != NULL, "no Q4_0 decode kernel on %s", hearth_kernels_isa());
        CHECK(hearth_gemv_get(HEARTH_TYPE_Q8_0) != NULL, "no Q8_0 decode kernel on %s", hearth_kernels_isa());
    }
#endif
    printf("%d types with packed kernels on %s\n", with, hearth_kernels_isa());
    TEST_DONE();
}
