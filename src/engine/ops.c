/* ops.c - portable implementations of the forward-pass ops. */
#include <math.h>
#include <string.h>

#include "engine/ops.h"
#include "engine/kernels/gemv.h"
#include "engine/kernels/packed.h"
#include "hearth/alloc.h"

/* Groups of HEARTH_PACK_ROWS rows packed together: the buffer (a few
 * hundred KB at most for the widest rows) stays in L2 while every token
 * runs over it, and one token pair's activations stay in L1 across the
 * groups. */
#define PACK_GROUPS 4

/* Bytes of one thread's packing buffer for rows of n_in values: every
 * packed layout takes at most HEARTH_PACK_MAX_BYTES per value for its
 * group of rows (packed.h), plus alignment. */
static size_t pack_buffer_bytes(int64_t n_in) {
    return ((size_t)PACK_GROUPS * ((size_t)n_in * HEARTH_PACK_MAX_BYTES + 64) + 63) & ~(size_t)63;
}

/* Bytes of the activation part of the scratch. */
static size_t act_scratch_bytes(int64_t n_in, int32_t n_tokens) {
    /* The widest vec_dot_type is F32: 4 bytes per value; the packed path
     * needs two quantized layouts (< 2.5 bytes per value) and alignment. */
    return (size_t)n_in * 4 * (size_t)(n_tokens > 0 ? n_tokens : 1) + 192;
}

size_t hearth_matmul_scratch_bytes(int64_t n_in, int32_t n_tokens, int n_threads) {
    /* the packing buffers are used only by batches of PACK_MIN_TOKENS+ */
    return act_scratch_bytes(n_in, n_tokens) + 64 + (size_t)(n_threads > 0 ? n_threads : 1) * pack_buffer_bytes(n_in);
}

/* Fewest tokens for which a matmul repacks weights (below, the unpacking
 * would cost more than the per-token work it saves). */
#define PACK_MIN_TOKENS 4

typedef struct matmul_task {
    const hearth_weight *w;
    const hearth_type_traits *wt;   /* weight type */
    const hearth_type_traits *at;   /* activation (vec_dot) type */
    const float *x;
    int32_t n_tokens;
    float *y;
    uint8_t *act;                   /* quantized activations, or NULL for F32 */
    size_t act_row_bytes;
    const hearth_packed_gemm *pk;   /* packed-tile kernels, or NULL */
    uint8_t *pact;                  /* activations in pk's layout */
    size_t pact_row_bytes;
    uint8_t *packbuf;               /* per-thread packing buffers (pack_stride apart), or NULL */
    size_t pack_stride;
    const hearth_gemv *gv;          /* decode kernels, or NULL */
    uint8_t *gact;                  /* activations in gv's layout */
    size_t gact_row_bytes;
} matmul_task;

static void quantize_rows(void *arg, int ith, int nth) {
    matmul_task *t = arg;
    for (int32_t i = ith; i < t->n_tokens; i += nth) {
        t->at->from_float(t->x + (size_t)i * t->w->n_in, t->act + (size_t)i * t->act_row_bytes,
                          t->w->n_in);
        if (t->pk)
            t->pk->act_convert(t->w->n_in, t->act + (size_t)i * t->act_row_bytes,
                               t->pact + (size_t)i * t->pact_row_bytes);
        if (t->gv)
            t->gv->act_prepare(t->w->n_in, t->act + (size_t)i * t->act_row_bytes,
                               t->gact + (size_t)i * t->gact_row_bytes);
    }
}

/* The packed path of dot_rows: each group of rows is repacked once into a
 * per-thread buffer (the scratch's, or allocated when a layout does not
 * fit it) and used for all tokens. Returns false (nothing done) when the
 * buffer cannot be allocated. */
static bool dot_rows_packed(matmul_task *t, int ith, int nth) {
    const hearth_weight *w = t->w;
    const hearth_packed_gemm *pk = t->pk;
    const int64_t units = (w->n_out + HEARTH_PACK_ROWS - 1) / HEARTH_PACK_ROWS;
    const int64_t per = (units + nth - 1) / nth * HEARTH_PACK_ROWS;
    const int64_t r0 = per * ith, r1 = r0 + per < w->n_out ? r0 + per : w->n_out;
    if (r0 >= r1) return true;
    const size_t gb = (pk->group_bytes(w->n_in) + 63) & ~(size_t)63;
    const bool own = !t->packbuf || gb * PACK_GROUPS > t->pack_stride;
    uint8_t *buf = own ? hearth_malloc_aligned(gb * PACK_GROUPS, 64) : t->packbuf + (size_t)ith * t->pack_stride;
    if (!buf) return false;
    for (int64_t rb = r0; rb < r1; rb += (int64_t)PACK_GROUPS * HEARTH_PACK_ROWS) {
        int ng = 0, nr[PACK_GROUPS];
        for (; ng < PACK_GROUPS && rb + (int64_t)ng * HEARTH_PACK_ROWS < r1; ng++) {
            const int64_t r = rb + (int64_t)ng * HEARTH_PACK_ROWS;
            nr[ng] = r1 - r < HEARTH_PACK_ROWS ? (int)(r1 - r) : HEARTH_PACK_ROWS;
            pk->pack(w->n_in, w->data + (size_t)r * w->row_bytes, w->row_bytes, nr[ng], buf + (size_t)ng * gb);
        }
        /* While the tiles compute, the next rows are prefetched a slice per
         * tile call: with few tokens, packing would otherwise wait on
         * memory for every group (a third of a 16-token step). */
        const int64_t next = rb + (int64_t)PACK_GROUPS * HEARTH_PACK_ROWS;
        const int64_t next_end = next + (int64_t)PACK_GROUPS * HEARTH_PACK_ROWS < r1
                                     ? next + (int64_t)PACK_GROUPS * HEARTH_PACK_ROWS
                                     : r1;
        const uint8_t *pf = w->data + (size_t)next * w->row_bytes;
        /* (long batches amortise the memory time anyway; there the early
         * prefetches only crowd the caches) */
        const uint8_t *pf_end = next < r1 && t->n_tokens <= 64 ? w->data + (size_t)next_end * w->row_bytes : pf;
        const int64_t calls = (int64_t)((t->n_tokens + HEARTH_PACK_TOKENS - 1) / HEARTH_PACK_TOKENS) * ng;
        const size_t slice = ((size_t)(pf_end - pf) / (size_t)calls + 63) & ~(size_t)63;
        for (int32_t i = 0; i < t->n_tokens; i += HEARTH_PACK_TOKENS) {
            const int nt = t->n_tokens - i < HEARTH_PACK_TOKENS ? t->n_tokens - i : HEARTH_PACK_TOKENS;
            for (int g = 0; g < ng; g++) {
                for (size_t o = 0; o < slice && pf < pf_end; o += 64, pf += 64) __builtin_prefetch(pf, 0, 3);
                pk->tile(w->n_in, &t->y[(size_t)i * w->n_out + (size_t)rb + (size_t)g * HEARTH_PACK_ROWS],
                         (size_t)w->n_out, buf + (size_t)g * gb, t->pact + (size_t)i * t->pact_row_bytes,
                         t->pact_row_bytes, nr[g], nt);
            }
        }
    }
    if (own) hearth_free_aligned(buf);
    return true;
}

/* Rows are split across threads; within a thread's rows, the loop visits
 * blocks of ROW_BLOCK weight rows (kept in L1/L2) against blocks of
 * TOKEN_BLOCK activation rows (kept in L2), in register tiles of
 * HEARTH_GEMM_TILE x HEARTH_GEMM_TILE when the type has a tile kernel. */
#define ROW_BLOCK 16
#define TOKEN_BLOCK 64

static void dot_rows(void *arg, int ith, int nth) {
    matmul_task *t = arg;
    const hearth_weight *w = t->w;
    /* Split rows in multiples of the tile height so tiles stay full. */
    int64_t units = (w->n_out + HEARTH_GEMM_TILE - 1) / HEARTH_GEMM_TILE;
    int64_t per = (units + nth - 1) / nth * HEARTH_GEMM_TILE;
    int64_t r0 = per * ith, r1 = r0 + per < w->n_out ? r0 + per : w->n_out;
    size_t abytes = t->act ? t->act_row_bytes : (size_t)w->n_in * sizeof(float);
    const uint8_t *act = t->act ? t->act : (const uint8_t *)t->x;
    if (t->pk && dot_rows_packed(t, ith, nth)) return;
    if (t->gv) {
        /* a few tokens (below PACK_MIN_TOKENS): blocks of rows small enough
         * to stay in L1 while every token runs over them, so weights are
         * read from memory once, not once per token */
        const int64_t rblk = t->n_tokens == 1 ? r1 - r0 : ROW_BLOCK;
        for (int64_t rb = r0; rb < r1; rb += rblk) {
            const int64_t nr = r1 - rb < rblk ? r1 - rb : rblk;
            for (int32_t i = 0; i < t->n_tokens; i++)
                t->gv->rows(w->n_in, &t->y[(size_t)i * w->n_out + rb], w->data + (size_t)rb * w->row_bytes,
                            w->row_bytes, nr, t->gact + (size_t)i * t->gact_row_bytes);
        }
        return;
    }
    if (t->n_tokens == 1 || !t->wt->gemm) {
        for (int64_t rb = r0; rb < r1; rb += ROW_BLOCK) {
            int64_t re = rb + ROW_BLOCK < r1 ? rb + ROW_BLOCK : r1;
            for (int32_t tb = 0; tb < t->n_tokens; tb += TOKEN_BLOCK) {
                int32_t te = tb + TOKEN_BLOCK < t->n_tokens ? tb + TOKEN_BLOCK : t->n_tokens;
                for (int64_t r = rb; r < re; r++) {
                    const uint8_t *row = w->data + (size_t)r * w->row_bytes;
                    for (int32_t i = tb; i < te; i++)
                        t->wt->vec_dot(w->n_in, &t->y[(size_t)i * w->n_out + r], row,
                                       act + (size_t)i * abytes);
                }
            }
        }
        return;
    }
    for (int64_t rb = r0; rb < r1; rb += ROW_BLOCK) {
        int64_t re = rb + ROW_BLOCK < r1 ? rb + ROW_BLOCK : r1;
        for (int32_t tb = 0; tb < t->n_tokens; tb += TOKEN_BLOCK) {
            int32_t te = tb + TOKEN_BLOCK < t->n_tokens ? tb + TOKEN_BLOCK : t->n_tokens;
            for (int64_t r = rb; r < re; r += HEARTH_GEMM_TILE) {
                int nr = re - r < HEARTH_GEMM_TILE ? (int)(re - r) : HEARTH_GEMM_TILE;
                for (int32_t i = tb; i < te; i += HEARTH_GEMM_TILE) {
                    int nt = te - i < HEARTH_GEMM_TILE ? te - i : HEARTH_GEMM_TILE;
                    t->wt->gemm(w->n_in, &t->y[(size_t)i * w->n_out + r], (size_t)w->n_out,
                                w->data + (size_t)r * w->row_bytes, w->row_bytes,
                                act + (size_t)i * abytes, abytes, nr, nt);
                }
            }
        }
    }
}

void hearth_matmul(hearth_threadpool *pool, const hearth_weight *w, const float *x,
                   int32_t n_tokens, float *y, void *scratch) {
    matmul_task t = {0};
    t.w = w;
    t.wt = hearth_type_get(w->type);
    t.at = hearth_type_get(t.wt->vec_dot_type);
    t.x = x;
    t.n_tokens = n_tokens;
    t.y = y;
    if (t.wt->vec_dot_type != HEARTH_TYPE_F32) {
        t.act = scratch;
        t.act_row_bytes = hearth_row_size(t.wt->vec_dot_type, w->n_in);
        /* The packed kernels pay for their repacking from a few tokens on;
         * their activations go after the quantized rows (scratch has 4
         * bytes per value; both layouts together take under 2.5). */
        t.pk = n_tokens >= PACK_MIN_TOKENS ? hearth_packed_gemm_get(w->type) : NULL;
        t.gv = t.pk ? NULL : hearth_gemv_get(w->type);
        size_t off = ((size_t)n_tokens * t.act_row_bytes + 63) & ~(size_t)63;
        off += (size_t)(-(uintptr_t)(t.act + off) & 63);
        if (t.pk) {
            t.pact = t.act + off;
            t.pact_row_bytes = t.pk->act_bytes(w->n_in);
            uint8_t *pb = (uint8_t *)scratch + act_scratch_bytes(w->n_in, n_tokens);
            t.packbuf = pb + (size_t)(-(uintptr_t)pb & 63);
            t.pack_stride = pack_buffer_bytes(w->n_in);
        } else if (t.gv) {
            /* rows stay 32-byte aligned for the kernels' aligned loads */
            t.gact = t.act + off;
            t.gact_row_bytes = (t.gv->act_bytes(w->n_in) + 31) & ~(size_t)31;
        }
        /* One token's row takes a microsecond or two: less than waking the
         * workers and waiting at the barrier, so the caller does it. */
        if (n_tokens == 1)
            quantize_rows(&t, 0, 1);
        else
            hearth_threadpool_run(pool, quantize_rows, &t);
    }
    hearth_threadpool_run(pool, dot_rows, &t);
}

void hearth_add_bias(float *y, const float *b, int32_t n, int64_t width) {
    if (!b) return;
    for (int32_t i = 0; i < n; i++)
        for (int64_t j = 0; j < width; j++) y[(size_t)i * width + j] += b[j];
}

void hearth_weight_row(const hearth_weight *w, int64_t row, float *out) {
    const hearth_type_traits *tt = hearth_type_get(w->type);
    tt->to_float(w->data + (size_t)row * w->row_bytes, out, w->n_in);
}

void hearth_rmsnorm(float *y, const float *x, const float *w, int64_t n, float eps) {
    double ss = 0.0;
    for (int64_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
    float scale = (float)(1.0 / sqrt(ss / (double)n + eps));
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * scale * w[i];
}

void hearth_layernorm(float *y, const float *x, const float *w, const float *b, int64_t n,
                      float eps) {
    double mean = 0.0;
    for (int64_t i = 0; i < n; i++) mean += x[i];
    mean /= (double)n;
    double var = 0.0;
    for (int64_t i = 0; i < n; i++) var += ((double)x[i] - mean) * ((double)x[i] - mean);
    var /= (double)n;
    float scale = (float)(1.0 / sqrt(var + eps));
    for (int64_t i = 0; i < n; i++) {
        float v = (float)((double)x[i] - mean) * scale * w[i];
        y[i] = b ? v + b[i] : v;
    }
}

void hearth_rope_angles(float *cs, float *sn, int32_t n_rot, int32_t pos, float pos_scale, const double *inv_freq) {
    for (int32_t i = 0; i < n_rot / 2; i++) {
        double theta = (double)pos * pos_scale * inv_freq[i];
        cs[i] = (float)cos(theta);
        sn[i] = (float)sin(theta);
    }
}

void hearth_rope_apply(float *x, int32_t n_rot, const float *cs, const float *sn, int neox) {
    int32_t half = n_rot / 2;
    for (int32_t i = 0; i < half; i++) {
        float c = cs[i], s = sn[i];
        int32_t a = neox ? i : 2 * i;
        int32_t b = neox ? i + half : 2 * i + 1;
        float x0 = x[a], x1 = x[b];
        x[a] = x0 * c - x1 * s;
        x[b] = x0 * s + x1 * c;
    }
}

void hearth_softmax(float *x, int64_t n) {
    float max = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        if (x[i] > max) max = x[i];
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; i++) x[i] *= inv;
}

float hearth_gelu(float x) {
    /* tanh approximation, as BERT GGUFs are evaluated by the reference */
    const float c = 0.7978845608028654f; /* sqrt(2/pi) */
    return 0.5f * x * (1.0f + tanhf(c * (x + 0.044715f * x * x * x)));
}
