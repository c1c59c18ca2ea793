/* qwen3.c - the qwen3 architecture (dense Qwen3).
 *
 * As qwen2 but without Q/K/V biases, with a per-head RMS norm of Q and K
 * (attn_q_norm.weight, attn_k_norm.weight, [head_dim] each) applied before
 * RoPE, and a head size given by attention.key_length (which need not equal
 * embedding_length / head_count, e.g. Qwen3-0.6B: 1024 / 16 heads, head 128). */
#include "engine/model_internal.h"

static hearth_status qwen3_load(hearth_model *m) {
    hearth_status st = hearth_decoder_load_hparams(m, HEARTH_ROPE_NEOX);
    if (st) return st;
    return hearth_decoder_bind(m, HEARTH_DEC_QK_NORM);
}

const hearth_arch_desc hearth_arch_qwen3 = {"qwen3", HEARTH_ARCH_QWEN3, qwen3_load, hearth_decoder_forward};
