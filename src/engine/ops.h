/* ops.h - the tensor operations a forward pass is built from.
 *
 * Activations are row-major float arrays [n_tokens][width]. Weights are views
 * into the mapped GGUF (hearth_weight). Every op that takes a thread pool
 * splits its work across all threads; the rest are cheap per-row helpers.
 * Not a public header.
 */
#ifndef HEARTH_OPS_H
#define HEARTH_OPS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "hearth/gguf.h"
#include "hearth/quant.h"
#include "hearth/threadpool.h"

/* A 2-D weight matrix: n_out rows of n_in values of `type`, row r at
 * data + r * row_bytes. 1-D tensors (norms, biases) are always held as F32. */
typedef struct hearth_weight {
    hearth_str name;        /* tensor name (a view into the mapping) */
    uint32_t type;
    int64_t n_in;           /* ne[0]: values per row */
    int64_t n_out;          /* ne[1]: rows */
    size_t row_bytes;
    const uint8_t *data;
} hearth_weight;

/* Bytes of scratch hearth_matmul needs for n_tokens rows of width n_in
 * with a pool of n_threads (the packed path gives each thread a buffer;
 * untouched parts of a large allocation are never made resident). */
size_t hearth_matmul_scratch_bytes(int64_t n_in, int32_t n_tokens, int n_threads);

/* y[t][r] = sum_i w[r][i] * x[t][i] for t < n_tokens, r < w->n_out.
 * Activations are first rounded to the weight type's vec_dot_type (as the
 * reference implementation does) in `scratch`, which holds at least
 * hearth_matmul_scratch_bytes(w->n_in, n_tokens, size of pool) bytes.
 * Blocks until done. */
void hearth_matmul(hearth_threadpool *pool, const hearth_weight *w, const float *x,
                   int32_t n_tokens, float *y, void *scratch);

/* y[i][j] += b[j] for i < n rows of `width`; a NULL b is a no-op. */
void hearth_add_bias(float *y, const float *b, int32_t n, int64_t width);

/* Copies row `row` of a (possibly quantized) matrix to out as floats. */
void hearth_weight_row(const hearth_weight *w, int64_t row, float *out);

/* y = x / sqrt(mean(x^2) + eps) * w, over n values (y may alias x). */
void hearth_rmsnorm(float *y, const float *x, const float *w, int64_t n, float eps);
/* y = (x - mean) / sqrt(var + eps) * w + b (y may alias x; b may be NULL). */
void hearth_layernorm(float *y, const float *x, const float *w, const float *b, int64_t n,
                      float eps);

/* Rotary position embedding in two steps, so that the n_rot/2 angles of a
 * position are computed once for all heads of a token: hearth_rope_angles
 * writes their cosines and sines (cs, sn: n_rot/2 floats each; `inv_freq`
 * holds n_rot/2 frequencies, already divided by any per-dimension factor),
 * and hearth_rope_apply rotates one head vector in place; pairs are
 * (2i, 2i+1) for NORMAL and (i, i + n_rot/2) for NEOX. */
/* Largest rotated dimension count: the model loader caps head_dim here. */
#define HEARTH_MAX_ROT 4096

void hearth_rope_angles(float *cs, float *sn, int32_t n_rot, int32_t pos, float pos_scale, const double *inv_freq);
void hearth_rope_apply(float *x, int32_t n_rot, const float *cs, const float *sn, int neox);

/* In-place softmax over n values. */
void hearth_softmax(float *x, int64_t n);

static inline float hearth_silu(float x) { return x / (1.0f + expf(-x)); }
float hearth_gelu(float x);

#endif
