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
 * CPU (capped by HEARTH_ISA). Neither blocks. */
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

#endif
