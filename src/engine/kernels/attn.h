/* attn.h - the attention kernel of one query token and a group of query
 * heads that share one KV head (grouped-query attention).
 *
 * For each query head h < n_q (q and out hold the n_q heads back to back,
 * hd floats each):
 *   out_h[0..hd) = sum_j softmax_j(scale * q_h.k_j) * v_j  over j < n_keys,
 * where key j is k + j*stride and value j is v + j*stride (the KV cache rows
 * of the shared KV head). `scores` is caller scratch of n_q * n_keys floats.
 * Doing the heads of a group together reads each K and V row once for all
 * of them instead of once per head: in a long prefill, that traffic (not the
 * arithmetic) is what attention costs. A scalar reference and ISA versions
 * share this signature; hearth_attn_kernel() returns the best one for this
 * CPU (capped by HEARTH_ISA). Neither blocks.
 *
 * The F16 variants read K and V rows stored as IEEE half floats (an F16 KV
 * cache; `stride` still counts elements) and widen them exactly; q, the
 * products, the softmax and the sums stay F32, so they compute what the F32
 * kernels compute on the widened rows. (llama.cpp also rounds q and the
 * softmax weights to half for its F16 products; measured against its
 * perplexity with an F16 cache, that did not bring us closer, and it costs
 * accuracy, so it is not done.) */
#ifndef HEARTH_KERNELS_ATTN_H
#define HEARTH_KERNELS_ATTN_H

#include <stddef.h>
#include <stdint.h>

typedef void (*hearth_attn_fn)(const float *q, int32_t n_q, const float *k, const float *v, size_t stride,
                               int32_t n_keys, int32_t hd, float scale, float *scores, float *out);

void hearth_attn_ref(const float *q, int32_t n_q, const float *k, const float *v, size_t stride, int32_t n_keys,
                     int32_t hd, float scale, float *scores, float *out);
#if defined(__x86_64__) || defined(_M_X64)
void hearth_attn_avx2(const float *q, int32_t n_q, const float *k, const float *v, size_t stride, int32_t n_keys,
                      int32_t hd, float scale, float *scores, float *out);
#endif

/* The best kernel for this CPU; chosen once, thread-safe. */
hearth_attn_fn hearth_attn_kernel(void);

typedef void (*hearth_attn_f16_fn)(const float *q, int32_t n_q, const uint16_t *k, const uint16_t *v,
                                   size_t stride, int32_t n_keys, int32_t hd, float scale, float *scores,
                                   float *out);

void hearth_attn_f16_ref(const float *q, int32_t n_q, const uint16_t *k, const uint16_t *v, size_t stride,
                         int32_t n_keys, int32_t hd, float scale, float *scores, float *out);
#if defined(__x86_64__) || defined(_M_X64)
void hearth_attn_f16_avx2(const float *q, int32_t n_q, const uint16_t *k, const uint16_t *v, size_t stride,
                          int32_t n_keys, int32_t hd, float scale, float *scores, float *out);
#endif

/* The best F16 kernel for this CPU; chosen once, thread-safe. */
hearth_attn_f16_fn hearth_attn_f16_kernel(void);

/* Converts n floats to IEEE half, round to nearest even (as
 * hearth_fp32_to_fp16): how K/V rows enter an F16 cache. Any CPU gives the
 * same bits, so the cache contents do not depend on the ISA or batch. */
typedef void (*hearth_f16_row_fn)(const float *x, uint16_t *y, size_t n);
void hearth_f16_row_ref(const float *x, uint16_t *y, size_t n);
#if defined(__x86_64__) || defined(_M_X64)
void hearth_f16_row_avx2(const float *x, uint16_t *y, size_t n);
#endif
hearth_f16_row_fn hearth_f16_row_kernel(void);

#endif
