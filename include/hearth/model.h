/* model.h - loading a GGUF model and evaluating it.
 *
 * A hearth_model is the read-only part (mapped weights, hyperparameters,
 * vocabulary) and may be shared by many contexts. A hearth_context holds one
 * sequence's KV cache and scratch buffers, sized from the context length the
 * caller asks for (not the model's training maximum).
 */
#ifndef HEARTH_MODEL_H
#define HEARTH_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hearth/gguf.h"
#include "hearth/status.h"
#include "hearth/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hearth_arch {
    HEARTH_ARCH_LLAMA = 1,
    HEARTH_ARCH_QWEN2 = 2,
    HEARTH_ARCH_QWEN3 = 3,
    HEARTH_ARCH_BERT = 4
} hearth_arch;

typedef enum hearth_rope_kind {
    HEARTH_ROPE_NONE = 0,   /* learned absolute positions (BERT) */
    HEARTH_ROPE_NORMAL = 1, /* rotate pairs (2i, 2i+1) */
    HEARTH_ROPE_NEOX = 2    /* rotate pairs (i, i + head_dim/2) */
} hearth_rope_kind;

typedef enum hearth_pooling {
    HEARTH_POOLING_NONE = 0,
    HEARTH_POOLING_MEAN = 1,
    HEARTH_POOLING_CLS = 2,
    HEARTH_POOLING_LAST = 3
} hearth_pooling;

typedef struct hearth_hparams {
    hearth_arch arch;
    char arch_name[32];
    int32_t n_vocab;
    int32_t n_embd;
    int32_t n_layer;
    int32_t n_head;
    int32_t n_head_kv;
    int32_t head_dim;
    int32_t n_ff;
    int32_t n_ctx_train;
    float norm_eps;
    float rope_base;
    float rope_scale;       /* linear position scale (1: none) */
    hearth_rope_kind rope;
    bool causal;
    hearth_pooling pooling;
    int32_t n_token_types;  /* BERT */
} hearth_hparams;

typedef struct hearth_model hearth_model;

/* Maps and validates a GGUF model, checks that every tensor the architecture
 * needs is present with the right shape and a computable type. Blocks on file
 * I/O. On failure returns a negative status with a one-line detail. */
hearth_status hearth_model_load(const char *path, hearth_model **out);
void hearth_model_free(hearth_model *m);

const hearth_hparams *hearth_model_hparams(const hearth_model *m);
const hearth_gguf *hearth_model_gguf(const hearth_model *m);
const hearth_vocab *hearth_model_vocab(const hearth_model *m);
/* tokenizer.chat_template, or an empty view. */
hearth_str hearth_model_chat_template(const hearth_model *m);
/* Bytes of weights the model maps. */
uint64_t hearth_model_weight_bytes(const hearth_model *m);

typedef struct hearth_context hearth_context;

/* Creates a context for up to `n_ctx` positions (<= 0: the model's training
 * length) using `n_threads` threads (<= 0: physical cores). */
hearth_status hearth_context_new(const hearth_model *m, int32_t n_ctx, int32_t n_threads,
                                 hearth_context **out);
void hearth_context_free(hearth_context *c);
int32_t hearth_context_n_ctx(const hearth_context *c);
/* Number of positions already in the KV cache. */
int32_t hearth_context_n_past(const hearth_context *c);
/* Drops cached positions >= n_keep (0 clears the cache). */
void hearth_context_truncate(hearth_context *c, int32_t n_keep);
/* Bytes allocated by the context (KV cache + scratch). */
uint64_t hearth_context_bytes(const hearth_context *c);

/* Evaluates `n` tokens at positions n_past .. n_past+n-1 in one batch and
 * appends them to the KV cache. When `logits` is not NULL it receives
 * n * n_vocab floats (all_logits) or the last position's n_vocab floats.
 * Returns HEARTH_ERR_RANGE (cache unchanged) when the tokens do not fit,
 * HEARTH_ERR_INVALID for an id outside the vocabulary. Blocks while it
 * computes. Not for BERT (see hearth_embed). */
hearth_status hearth_eval(hearth_context *c, const int32_t *tokens, int32_t n,
                          float *logits, bool all_logits);

/* ---- several sequences in one context (continuous batching) ----------- */

/* Creates a context with `n_seq` independent sequences of up to `n_ctx`
 * positions each (one KV cache slot per sequence). hearth_context_new is
 * this with n_seq = 1. */
hearth_status hearth_context_new_seqs(const hearth_model *m, int32_t n_ctx, int32_t n_seq,
                                      int32_t n_threads, hearth_context **out);
int32_t hearth_context_n_seq(const hearth_context *c);

/* Context settings for hearth_context_new_opts. A zeroed struct means: the
 * model's training length, one sequence, physical cores, an F32 KV cache. */
typedef struct hearth_context_opts {
    int32_t n_ctx;     /* positions per sequence (<= 0: the model's training length) */
    int32_t n_seq;     /* sequences, as hearth_context_new_seqs (<= 0: 1) */
    int32_t n_threads; /* threads (<= 0: physical cores) */
    uint32_t kv_type;  /* element type of the KV cache: HEARTH_TYPE_F32 (0, the
                        * default) or HEARTH_TYPE_F16 (hearth/quant.h), which
                        * halves the cache and the KV bytes a decode step reads;
                        * K/V are rounded to half floats, as llama.cpp's default */
} hearth_context_opts;

/* Creates a context as hearth_context_new_seqs does, with the settings in
 * `o` (NULL: all defaults). Returns HEARTH_ERR_INVALID for a kv_type other
 * than F32 / F16, HEARTH_ERR_RANGE / HEARTH_ERR_NOMEM as new_seqs. Does not
 * block beyond allocating. */
hearth_status hearth_context_new_opts(const hearth_model *m, const hearth_context_opts *o,
                                      hearth_context **out);
/* The KV cache's element type (HEARTH_TYPE_F32 or HEARTH_TYPE_F16). */
uint32_t hearth_context_kv_type(const hearth_context *c);
/* Bytes of the KV cache (K and V, all layers and sequences); part of
 * hearth_context_bytes. */
uint64_t hearth_context_kv_bytes(const hearth_context *c);
/* Positions already cached for sequence `seq` (0 for a bad seq). */
int32_t hearth_seq_n_past(const hearth_context *c, int32_t seq);
/* Drops cached positions >= n_keep of one sequence. */
void hearth_seq_truncate(hearth_context *c, int32_t seq, int32_t n_keep);

/* A batch of tokens from any mix of sequences. Each token goes to the next
 * position of its sequence, in batch order, so a sequence's tokens must
 * appear in order. `want_logits[i]` (NULL: only each sequence's last token
 * in the batch) chooses the rows that get logits. */
typedef struct hearth_batch {
    int32_t n;
    const int32_t *tokens;       /* [n] */
    const int32_t *seq;          /* [n] sequence of each token; NULL: all 0 */
    const uint8_t *want_logits;  /* [n] or NULL */
} hearth_batch;

/* Evaluates a batch in one forward pass (each weight read once for all the
 * batch's tokens). `logits` receives n_vocab floats per selected row, in
 * batch order; it may be NULL. Returns HEARTH_ERR_RANGE (no cache changed)
 * when a sequence would overflow, HEARTH_ERR_INVALID for a bad id or seq.
 * Blocks while it computes. */
hearth_status hearth_decode(hearth_context *c, const hearth_batch *b, float *logits);

/* Runs a whole sequence (non-causal for BERT; the cache is cleared first) and
 * writes the pooled embedding (n_embd floats) to out, L2-normalised when
 * `normalize`. For decoder models the pooling is the mean of the last hidden
 * states. */
hearth_status hearth_embed(hearth_context *c, const int32_t *tokens, int32_t n,
                           const int32_t *token_types, float *out, bool normalize);

#ifdef __cplusplus
}
#endif
#endif
