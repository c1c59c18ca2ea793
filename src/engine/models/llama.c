/* llama.c - the llama architecture (Llama 2/3.x, Mistral, TinyLlama, SmolLM).
 *
 * Hyperparameters: llama.{embedding_length, block_count, feed_forward_length,
 * attention.head_count, attention.head_count_kv (GQA), context_length,
 * attention.layer_norm_rms_epsilon, rope.freq_base, rope.dimension_count,
 * rope.scaling.*}. Tensors per block: attn_norm, attn_q/k/v/output, ffn_norm,
 * ffn_gate/up/down; output.weight optional (tied to token_embd when absent);
 * rope_freqs.weight optional (Llama 3.1 frequency factors). RoPE pairs
 * (2i, 2i+1): the GGUF converter permutes Q/K rows for that. */
#include "engine/model_internal.h"

static hearth_status llama_load(hearth_model *m) {
    hearth_status st = hearth_decoder_load_hparams(m, HEARTH_ROPE_NORMAL);
    if (st) return st;
    return hearth_decoder_bind(m, 0);
}

const hearth_arch_desc hearth_arch_llama = {"llama", HEARTH_ARCH_LLAMA, llama_load, hearth_decoder_forward};
