/* qwen2.c - the qwen2 architecture (Qwen2, Qwen2.5).
 *
 * As llama, plus: biases on Q, K and V (attn_q/k/v.bias, required), NEOX RoPE
 * (pairs (i, i + n_rot/2)), and usually tied output embeddings. */
#include "engine/model_internal.h"

static hearth_status qwen2_load(hearth_model *m) {
    hearth_status st = hearth_decoder_load_hparams(m, HEARTH_ROPE_NEOX);
    if (st) return st;
    return hearth_decoder_bind(m, HEARTH_DEC_QKV_BIAS);
}

const hearth_arch_desc hearth_arch_qwen2 = {"qwen2", HEARTH_ARCH_QWEN2, qwen2_load, hearth_decoder_forward};
