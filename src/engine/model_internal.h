/* model_internal.h - the model and context layouts shared by model.c, the
 * shared decoder (decoder.c) and the architecture files (models/).
 * Not a public header. */
#ifndef HEARTH_MODEL_INTERNAL_H
#define HEARTH_MODEL_INTERNAL_H

#include "engine/ops.h"
#include "hearth/model.h"
#include "hearth/threadpool.h"

/* One transformer block. Matrices are views into the mapping; vectors are
 * F32 (mapped, or converted once at load). Absent optional tensors are NULL
 * vectors / weights with data == NULL. Shapes use d = n_embd, hd = head_dim,
 * nh = n_head, nkv = n_head_kv, ff = n_ff. */
typedef struct hearth_layer {
    const float *attn_norm;      /* [d] pre-attention norm (decoders) */
    hearth_weight wq;            /* [d] -> [nh*hd] */
    hearth_weight wk;            /* [d] -> [nkv*hd] */
    hearth_weight wv;            /* [d] -> [nkv*hd] */
    hearth_weight wo;            /* [nh*hd] -> [d] */
    const float *bq;             /* [nh*hd] or NULL (qwen2, bert) */
    const float *bk;             /* [nkv*hd] or NULL */
    const float *bv;             /* [nkv*hd] or NULL */
    const float *bo;             /* [d] or NULL (bert) */
    const float *q_norm;         /* [hd] per-head RMS norm of q (qwen3) or NULL */
    const float *k_norm;         /* [hd] per-head RMS norm of k (qwen3) or NULL */
    const float *attn_out_norm;  /* [d] post-attention LayerNorm weight (bert) */
    const float *attn_out_norm_b;/* [d] its bias */
    const float *ffn_norm;       /* [d] pre-FFN norm (decoders) */
    hearth_weight w_gate;        /* [d] -> [ff] (SwiGLU) or absent (bert) */
    hearth_weight w_up;          /* [d] -> [ff] */
    hearth_weight w_down;        /* [ff] -> [d] */
    const float *b_up;           /* [ff] or NULL (bert) */
    const float *b_down;         /* [d] or NULL (bert) */
    const float *out_norm;       /* [d] post-FFN LayerNorm weight (bert) */
    const float *out_norm_b;     /* [d] its bias */
} hearth_layer;

struct hearth_context;

/* One micro-batch as the forward passes see it: at most n_ubatch tokens,
 * each with its sequence and absolute position resolved. */
typedef struct hearth_ubatch {
    int32_t n;
    const int32_t *tokens;       /* [n] */
    const int32_t *token_types;  /* [n] (bert) or NULL */
    const int32_t *seq;          /* [n] */
    const int32_t *pos;          /* [n] */
    const int32_t *out;          /* [n_out] indices of tokens that get logits */
    int32_t n_out;
} hearth_ubatch;

/* What an architecture file provides. */
typedef struct hearth_arch_desc {
    const char *name;   /* general.architecture */
    hearth_arch arch;
    /* Reads hyperparameters and binds tensors; m->gguf is open. */
    hearth_status (*load)(struct hearth_model *m);
    /* Evaluates a micro-batch, writing its K/V into the cache; logits
     * (n_out rows of n_vocab, may be NULL) and/or hidden (final hidden
     * states [n][d], may be NULL). */
    hearth_status (*forward)(struct hearth_context *c, const hearth_ubatch *ub, float *logits,
                             float *hidden);
} hearth_arch_desc;

struct hearth_model {
    hearth_gguf *gguf;
    hearth_vocab *vocab;         /* NULL when the file has no tokenizer */
    hearth_hparams hp;
    const hearth_arch_desc *desc;
    hearth_weight tok_embd;      /* [d] x n_vocab rows */
    hearth_weight output;        /* [d] -> [n_vocab]; = tok_embd when tied */
    const float *output_norm;    /* [d] final norm (decoders) */
    hearth_weight type_embd;     /* bert: [d] x n_token_types rows */
    hearth_weight pos_embd;      /* bert: [d] x n_ctx_train rows */
    const float *embd_norm;      /* bert: [d] LayerNorm after embeddings */
    const float *embd_norm_b;    /* [d] */
    hearth_layer *layers;        /* [n_layer] */
    int32_t n_rot;               /* rotated dims per head */
    double *rope_inv_freq;       /* [n_rot/2] */
    float **owned;               /* vectors converted to F32 at load */
    size_t n_owned;
    uint64_t weight_bytes;
};

struct hearth_context {
    const struct hearth_model *m;
    int32_t n_ctx;               /* positions per sequence */
    int32_t n_seq;               /* sequences (KV cache slots) */
    int32_t *n_past;             /* [n_seq] cached positions per sequence */
    int32_t n_ubatch;            /* max tokens per forward call */
    int32_t *ub_seq;             /* [ub] scratch for hearth_decode */
    int32_t *ub_pos;             /* [ub] */
    int32_t *ub_out;             /* [ub] */
    int32_t *seq_need;           /* [n_seq] scratch for hearth_decode: tokens per sequence */
    int32_t *seq_last;           /* [n_seq] scratch: batch index of each sequence's last token */
    hearth_threadpool *pool;
    uint32_t kv_type;            /* HEARTH_TYPE_F32 or HEARTH_TYPE_F16: element type of the caches */
    size_t kv_row_bytes;         /* bytes of one cache row: nkv*hd elements of kv_type */
    uint8_t *k_cache;            /* [n_layer][n_seq][n_ctx][nkv*hd] of kv_type */
    uint8_t *v_cache;            /* [n_layer][n_seq][n_ctx][nkv*hd] of kv_type */
    uint64_t kv_bytes;           /* bytes of k_cache + v_cache */
    float *x;                    /* [ub][d] residual stream */
    float *xn;                   /* [ub][d] normalised input */
    float *q;                    /* [ub][nh*hd] */
    float *k;                    /* [ub][nkv*hd] */
    float *v;                    /* [ub][nkv*hd] */
    float *att;                  /* [ub][nh*hd] attention output */
    float *ffa;                  /* [ub][ff] */
    float *ffb;                  /* [ub][ff] */
    float *scores;               /* [n_threads][n_ctx] */
    float *out_rows;             /* [ub][d] rows picked for the output head */
    void *scratch;               /* matmul activation quantization */
    uint64_t bytes;
};

/* Binding helpers used by architecture files. `required` false: absent is
 * fine (weight stays empty / vector NULL). Shapes are checked exactly. */
hearth_status hearth_model_bind_matrix(struct hearth_model *m, const char *name, int64_t n_in,
                                       int64_t n_out, bool required, hearth_weight *w);
hearth_status hearth_model_bind_vector(struct hearth_model *m, const char *name, int64_t n,
                                       bool required, const float **out);
/* Reads "<arch>.<suffix>" as u32 / f32. */
hearth_status hearth_model_key_u32(const struct hearth_model *m, const char *suffix,
                                   bool required, uint32_t *out);
hearth_status hearth_model_key_f32(const struct hearth_model *m, const char *suffix,
                                   bool required, float *out);
/* Shared hyperparameters of decoder-only models (llama, qwen2, qwen3). */
hearth_status hearth_decoder_load_hparams(struct hearth_model *m, hearth_rope_kind rope);
/* Binds the tensors of a llama-style decoder; flags choose the extras. */
enum { HEARTH_DEC_QKV_BIAS = 1, HEARTH_DEC_QK_NORM = 2 };
hearth_status hearth_decoder_bind(struct hearth_model *m, unsigned flags);
/* The shared decoder forward (pre-norm, RoPE, GQA attention, SwiGLU). */
hearth_status hearth_decoder_forward(struct hearth_context *c, const hearth_ubatch *ub,
                                     float *logits, float *hidden);

/* Cache row of (layer, seq, pos) in k_cache or v_cache: nkv*hd elements of
 * c->kv_type (kv_row_bytes bytes). */
uint8_t *hearth_kv_row(struct hearth_context *c, uint8_t *cache, int32_t layer, int32_t seq, int32_t pos);
/* Copies the micro-batch's c->k / c->v into the cache at each token's (seq, pos). */
void hearth_kv_store(struct hearth_context *c, const hearth_ubatch *ub, int32_t layer);
/* Attention of a micro-batch against the layer's cache: causal tokens see
 * their sequence's positions 0..pos; non-causal ones see 0..n-1 of seq 0
 * (bert runs one sequence per call). Output in c->att. */
void hearth_attention(struct hearth_context *c, const hearth_ubatch *ub, int32_t layer, bool causal);

extern const hearth_arch_desc hearth_arch_llama;
extern const hearth_arch_desc hearth_arch_qwen2;
extern const hearth_arch_desc hearth_arch_qwen3;
extern const hearth_arch_desc hearth_arch_bert;

#endif
