/* bert.c - the bert architecture, for sentence embeddings (BGE, MiniLM, ...).
 *
 * Hyperparameters: bert.{embedding_length, block_count, feed_forward_length,
 * attention.head_count, context_length, attention.layer_norm_epsilon,
 * attention.causal (false), pooling_type (1 mean, 2 CLS, 3 last)}.
 * Input: token_embd[id] + token_types[type] + position_embd[pos], then a
 * LayerNorm (token_embd_norm). Post-norm blocks: x = LN(x + attn(x)),
 * x = LN(x + ffn(x)) with a GELU FFN; biases everywhere. No output head. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "engine/model_internal.h"
#include "hearth/alloc.h"

static hearth_status bert_load(hearth_model *m) {
    hearth_hparams *hp = &m->hp;
    hearth_status st;
    uint32_t v;
    /* Shared checks live in the decoder loader; bert reads its own keys. */
    v = 0;
    if ((st = hearth_model_key_u32(m, "embedding_length", true, &v))) return st;
    hp->n_embd = v > 65536 ? -1 : (int32_t)v;
    v = 0;
    if ((st = hearth_model_key_u32(m, "block_count", true, &v))) return st;
    hp->n_layer = v > 1024 ? -1 : (int32_t)v;
    v = 0;
    if ((st = hearth_model_key_u32(m, "feed_forward_length", true, &v))) return st;
    hp->n_ff = v > (1u << 20) ? -1 : (int32_t)v;
    v = 0;
    if ((st = hearth_model_key_u32(m, "attention.head_count", true, &v))) return st;
    hp->n_head = v > 4096 ? -1 : (int32_t)v;
    v = 512;
    if ((st = hearth_model_key_u32(m, "context_length", false, &v))) return st;
    hp->n_ctx_train = v > (1u << 20) ? -1 : (int32_t)v;
    if (hp->n_embd < 1 || hp->n_layer < 1 || hp->n_ff < 1 || hp->n_head < 1 || hp->n_ctx_train < 1 ||
        hp->n_embd % hp->n_head)
        return hearth_error_set(HEARTH_ERR_FORMAT, "bert hyperparameters are invalid (embd %d, layers %d, ff %d, heads %d, ctx %d)",
                                hp->n_embd, hp->n_layer, hp->n_ff, hp->n_head, hp->n_ctx_train);
    hp->n_head_kv = hp->n_head;
    hp->head_dim = hp->n_embd / hp->n_head;
    hp->norm_eps = 1e-12f;
    if ((st = hearth_model_key_f32(m, "attention.layer_norm_epsilon", false, &hp->norm_eps))) return st;
    if (!(hp->norm_eps > 0 && hp->norm_eps < 1))
        return hearth_error_set(HEARTH_ERR_FORMAT, "layer norm epsilon %g is out of range", hp->norm_eps);
    hp->rope = HEARTH_ROPE_NONE;
    hp->rope_scale = 1.0f;
    hp->causal = false;
    bool causal = false;
    char key[96];
    snprintf(key, sizeof key, "%s.attention.causal", hp->arch_name);
    if (hearth_gguf_get_bool(m->gguf, key, &causal) == HEARTH_OK && causal)
        return hearth_error_set(HEARTH_ERR_UNSUPPORTED, "causal bert models are not supported");
    uint32_t pooling = HEARTH_POOLING_CLS;
    if ((st = hearth_model_key_u32(m, "pooling_type", false, &pooling))) return st;
    if (pooling == 0) pooling = HEARTH_POOLING_MEAN;
    if (pooling > HEARTH_POOLING_LAST)
        return hearth_error_set(HEARTH_ERR_UNSUPPORTED, "bert pooling type %u is not supported", pooling);
    hp->pooling = (hearth_pooling)pooling;

    int64_t d = hp->n_embd, ff = hp->n_ff;
    const hearth_gguf_tensor *te = hearth_gguf_tensor_find(m->gguf, "token_embd.weight");
    if (!te) return hearth_error_set(HEARTH_ERR_FORMAT, "model is missing tensor 'token_embd.weight'");
    if ((st = hearth_model_bind_matrix(m, "token_embd.weight", d, te->ne[1], true, &m->tok_embd))) return st;
    const hearth_gguf_tensor *tt = hearth_gguf_tensor_find(m->gguf, "token_types.weight");
    hp->n_token_types = tt ? (int32_t)(tt->ne[1] > 64 ? 64 : tt->ne[1]) : 0;
    if (tt && (st = hearth_model_bind_matrix(m, "token_types.weight", d, tt->ne[1], true, &m->type_embd))) return st;
    if ((st = hearth_model_bind_matrix(m, "position_embd.weight", d, hp->n_ctx_train, true, &m->pos_embd))) return st;
    if ((st = hearth_model_bind_vector(m, "token_embd_norm.weight", d, true, &m->embd_norm))) return st;
    if ((st = hearth_model_bind_vector(m, "token_embd_norm.bias", d, true, &m->embd_norm_b))) return st;
    m->layers = hearth_calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) return HEARTH_ERR_NOMEM;
    char name[96];
#define NAME(fmt) (snprintf(name, sizeof name, "blk.%d." fmt, i), name)
    for (int i = 0; i < hp->n_layer; i++) {
        hearth_layer *L = &m->layers[i];
        if ((st = hearth_model_bind_matrix(m, NAME("attn_q.weight"), d, d, true, &L->wq))) return st;
        if ((st = hearth_model_bind_vector(m, NAME("attn_q.bias"), d, true, &L->bq))) return st;
        if ((st = hearth_model_bind_matrix(m, NAME("attn_k.weight"), d, d, true, &L->wk))) return st;
        if ((st = hearth_model_bind_vector(m, NAME("attn_k.bias"), d, true, &L->bk))) return st;
        if ((st = hearth_model_bind_matrix(m, NAME("attn_v.weight"), d, d, true, &L->wv))) return st;
        if ((st = hearth_model_bind_vector(m, NAME("attn_v.bias"), d, true, &L->bv))) return st;
        if ((st = hearth_model_bind_matrix(m, NAME("attn_output.weight"), d, d, true, &L->wo))) return st;
        if ((st = hearth_model_bind_vector(m, NAME("attn_output.bias"), d, true, &L->bo))) return st;
        if ((st = hearth_model_bind_vector(m, NAME("attn_output_norm.weight"), d, true, &L->attn_out_norm))) return st;
        if ((st = hearth_model_bind_vector(m, NAME("attn_output_norm.bias"), d, true, &L->attn_out_norm_b))) return st;
        if ((st = hearth_model_bind_matrix(m, NAME("ffn_up.weight"), d, ff, true, &L->w_up))) return st;
        if ((st = hearth_model_bind_vector(m, NAME("ffn_up.bias"), ff, true, &L->b_up))) return st;
        if ((st = hearth_model_bind_matrix(m, NAME("ffn_down.weight"), ff, d, true, &L->w_down))) return st;
        if ((st = hearth_model_bind_vector(m, NAME("ffn_down.bias"), d, true, &L->b_down))) return st;
        if ((st = hearth_model_bind_vector(m, NAME("layer_output_norm.weight"), d, true, &L->out_norm))) return st;
        if ((st = hearth_model_bind_vector(m, NAME("layer_output_norm.bias"), d, true, &L->out_norm_b))) return st;
    }
#undef NAME
    return HEARTH_OK;
}

static hearth_status bert_forward(hearth_context *c, const hearth_ubatch *ub, float *logits,
                                  float *hidden) {
    (void)logits;
    const hearth_model *m = c->m;
    const int32_t *tokens = ub->tokens, *token_types = ub->token_types;
    int32_t n = ub->n;
    const hearth_hparams *hp = &m->hp;
    int32_t d = hp->n_embd, ff = hp->n_ff;
    if (n > hp->n_ctx_train)
        return hearth_error_set(HEARTH_ERR_RANGE, "%d tokens exceed the model's %d positions", n, hp->n_ctx_train);
    float *tmp = c->xn;
    for (int32_t i = 0; i < n; i++) {
        float *x = c->x + (size_t)i * d;
        hearth_weight_row(&m->tok_embd, tokens[i], x);
        if (m->type_embd.data) {
            hearth_weight_row(&m->type_embd, token_types ? token_types[i] : 0, tmp);
            for (int32_t j = 0; j < d; j++) x[j] += tmp[j];
        }
        hearth_weight_row(&m->pos_embd, i, tmp);
        for (int32_t j = 0; j < d; j++) x[j] += tmp[j];
        hearth_layernorm(x, x, m->embd_norm, m->embd_norm_b, d, hp->norm_eps);
    }
    for (int32_t l = 0; l < hp->n_layer; l++) {
        const hearth_layer *L = &m->layers[l];
        hearth_matmul(c->pool, &L->wq, c->x, n, c->q, c->scratch);
        hearth_matmul(c->pool, &L->wk, c->x, n, c->k, c->scratch);
        hearth_matmul(c->pool, &L->wv, c->x, n, c->v, c->scratch);
        hearth_add_bias(c->q, L->bq, n, d);
        hearth_add_bias(c->k, L->bk, n, d);
        hearth_add_bias(c->v, L->bv, n, d);
        hearth_kv_store(c, ub, l);
        hearth_attention(c, ub, l, false);
        hearth_matmul(c->pool, &L->wo, c->att, n, c->xn, c->scratch);
        hearth_add_bias(c->xn, L->bo, n, d);
        for (int32_t i = 0; i < n; i++) {
            float *x = c->x + (size_t)i * d;
            const float *o = c->xn + (size_t)i * d;
            for (int32_t j = 0; j < d; j++) x[j] += o[j];
            hearth_layernorm(x, x, L->attn_out_norm, L->attn_out_norm_b, d, hp->norm_eps);
        }
        hearth_matmul(c->pool, &L->w_up, c->x, n, c->ffa, c->scratch);
        hearth_add_bias(c->ffa, L->b_up, n, ff);
        for (size_t j = 0; j < (size_t)n * ff; j++) c->ffa[j] = hearth_gelu(c->ffa[j]);
        hearth_matmul(c->pool, &L->w_down, c->ffa, n, c->xn, c->scratch);
        hearth_add_bias(c->xn, L->b_down, n, d);
        for (int32_t i = 0; i < n; i++) {
            float *x = c->x + (size_t)i * d;
            const float *o = c->xn + (size_t)i * d;
            for (int32_t j = 0; j < d; j++) x[j] += o[j];
            hearth_layernorm(x, x, L->out_norm, L->out_norm_b, d, hp->norm_eps);
        }
    }
    if (hidden) memcpy(hidden, c->x, (size_t)n * d * sizeof(float));
    return HEARTH_OK;
}

const hearth_arch_desc hearth_arch_bert = {"bert", HEARTH_ARCH_BERT, bert_load, bert_forward};
