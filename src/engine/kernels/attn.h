/* attn.h - the attention kernel of one (query token, head) pair.
 *
 * out[0..hd) = sum_j softmax_j(scale * q.k_j) * v_j over j < n_keys, where
 * key j is k + j*stride and value j is v + j*stride (the KV cache rows of
 * one KV head). `scores` is caller scratch of n_keys floats. A scalar
 * reference and ISA versions share this signature; hearth_attn_kernel()
 * returns the best one for this CPU (capped by HEARTH_ISA). */
#ifndef HEARTH_KERNELS_ATTN_H
#define HEARTH_KERNELS_ATTN_H

#include <stddef.h>
#include <stdint.h>

typedef void (*hearth_attn_fn)(const float *q, const float *k, const float *v, size_t stride,
                               int32_t n_keys, int32_t hd, float scale, float *scores, float *out);

void hearth_attn_ref(const float *q, const float *k, const float *v, size_t stride, int32_t n_keys,
                     int32_t hd, float scale, float *scores, float *out);
#if defined(__x86_64__) || defined(_M_X64)
void hearth_attn_avx2(const float *q, const float *k, const float *v, size_t stride, int32_t n_keys,
                      int32_t hd, float scale, float *scores, float *out);
#endif

/* The best kernel for this CPU; chosen once, thread-safe. */
hearth_attn_fn hearth_attn_kernel(void);

#endif
