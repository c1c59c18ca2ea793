/* decoder.c - the decoder-only transformer shared by llama, qwen2 and qwen3:
 * pre-RMSNorm blocks, RoPE, grouped-query attention over a KV cache, SwiGLU
 * feed-forward, final norm and the output head. The architecture files only
 * declare which tensors and extras they have. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "engine/kernels/attn.h"
#include "engine/model_internal.h"
#include "hearth/alloc.h"
#include "hearth/quant.h"

hearth_status hearth_decoder_bind(hearth_model *m, unsigned flags) {
    const hearth_hparams *hp = &m->hp;
    int64_t d = hp->n_embd, hd = hp->head_dim;
    int64_t qd = (int64_t)hp->n_head * hd, kvd = (int64_t)hp->n_head_kv * hd, ff = hp->n_ff;
    hearth_status st;
    const hearth_gguf_tensor *te = hearth_gguf_tensor_find(m->gguf, "token_embd.weight");
    if (!te) return hearth_error_set(HEARTH_ERR_FORMAT, "model is missing tensor 'token_embd.weight'");
    if ((st = hearth_model_bind_matrix(m, "token_embd.weight", d, te->ne[1], true, &m->tok_embd))) return st;
    if (m->tok_embd.n_out < 1 || m->tok_embd.n_out > (1 << 24))
        return hearth_error_set(HEARTH_ERR_FORMAT, "vocabulary size %lld is out of range",
                                (long long)m->tok_embd.n_out);
    if ((st = hearth_model_bind_vector(m, "output_norm.weight", d, true, &m->output_norm))) return st;
    if ((st = hearth_model_bind_matrix(m, "output.weight", d, m->tok_embd.n_out, false, &m->output))) return st;
    if (!m->output.data) m->output = m->tok_embd; /* tied embeddings */

    m->layers = hearth_calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) return HEARTH_ERR_NOMEM;
    char name[96];
#define NAME(fmt) (snprintf(name, sizeof name, "blk.%d." fmt, i), name)
    for (int i = 0; i < hp->n_layer; i++) {
        hearth_layer *L = &m->layers[i];
        if ((st = hearth_model_bind_vector(m, NAME("attn_norm.weight"), d, true, &L->attn_norm))) return st;
        if ((st = hearth_model_bind_matrix(m, NAME("attn_q.weight"), d, qd, true, &L->wq))) return st;
        if ((st = hearth_model_bind_matrix(m, NAME("attn_k.weight"), d, kvd, true, &L->wk))) return st;
        if ((st = hearth_model_bind_matrix(m, NAME("attn_v.weight"), d, kvd, true, &L->wv))) return st;
        if ((st = hearth_model_bind_matrix(m, NAME("attn_output.weight"), qd, d, true, &L->wo))) return st;
        bool bias = flags & HEARTH_DEC_QKV_BIAS;
        /* Biases are required where the architecture defines them, and
         * accepted when present elsewhere (some llama fine-tunes carry them). */
        if ((st = hearth_model_bind_vector(m, NAME("attn_q.bias"), qd, bias, &L->bq))) return st;
        if ((st = hearth_model_bind_vector(m, NAME("attn_k.bias"), kvd, bias, &L->bk))) return st;
        if ((st = hearth_model_bind_vector(m, NAME("attn_v.bias"), kvd, bias, &L->bv))) return st;
        if ((st = hearth_model_bind_vector(m, NAME("attn_output.bias"), d, false, &L->bo))) return st;
        bool qkn = flags & HEARTH_DEC_QK_NORM;
        if ((st = hearth_model_bind_vector(m, NAME("attn_q_norm.weight"), hd, qkn, &L->q_norm))) return st;
        if ((st = hearth_model_bind_vector(m, NAME("attn_k_norm.weight"), hd, qkn, &L->k_norm))) return st;
        if ((st = hearth_model_bind_vector(m, NAME("ffn_norm.weight"), d, true, &L->ffn_norm))) return st;
        if ((st = hearth_model_bind_matrix(m, NAME("ffn_gate.weight"), d, ff, true, &L->w_gate))) return st;
        if ((st = hearth_model_bind_matrix(m, NAME("ffn_up.weight"), d, ff, true, &L->w_up))) return st;
        if ((st = hearth_model_bind_matrix(m, NAME("ffn_down.weight"), ff, d, true, &L->w_down))) return st;
    }
#undef NAME
    return HEARTH_OK;
}

/* ---- KV cache and attention ------------------------------------------- */

/* Returns the row's address; does not block. */
uint8_t *hearth_kv_row(hearth_context *c, uint8_t *cache, int32_t layer, int32_t seq, int32_t pos) {
    return cache + (((size_t)layer * c->n_seq + seq) * c->n_ctx + pos) * c->kv_row_bytes;
}

/* An F16 cache gets rows rounded to half floats (attn.h), the same bits
 * whatever the batch; does not block. */
void hearth_kv_store(hearth_context *c, const hearth_ubatch *ub, int32_t layer) {
    size_t kvd = (size_t)c->m->hp.n_head_kv * c->m->hp.head_dim;
    if (c->kv_type == HEARTH_TYPE_F16) {
        hearth_f16_row_fn cvt = hearth_f16_row_kernel();
        for (int32_t i = 0; i < ub->n; i++) {
            cvt(c->k + i * kvd, (uint16_t *)(void *)hearth_kv_row(c, c->k_cache, layer, ub->seq[i], ub->pos[i]), kvd);
            cvt(c->v + i * kvd, (uint16_t *)(void *)hearth_kv_row(c, c->v_cache, layer, ub->seq[i], ub->pos[i]), kvd);
        }
        return;
    }
    for (int32_t i = 0; i < ub->n; i++) {
        memcpy(hearth_kv_row(c, c->k_cache, layer, ub->seq[i], ub->pos[i]), c->k + i * kvd, c->kv_row_bytes);
        memcpy(hearth_kv_row(c, c->v_cache, layer, ub->seq[i], ub->pos[i]), c->v + i * kvd, c->kv_row_bytes);
    }
}

typedef struct attn_task {
    hearth_context *c;
    const hearth_ubatch *ub;
    int32_t layer;
    bool causal;
} attn_task;

/* Each (token, KV head) pair is independent: split them across threads,
 * all query heads of the KV head in one kernel call (attn.h). When there
 * are too few pairs to keep every thread busy (decoding one token), the
 * query heads of a group are split further. */
static void attention_rows(void *arg, int ith, int nth) {
    attn_task *t = arg;
    hearth_context *c = t->c;
    const hearth_ubatch *ub = t->ub;
    const hearth_hparams *hp = &c->m->hp;
    int32_t hd = hp->head_dim, nh = hp->n_head, nkv = hp->n_head_kv;
    int32_t group = nh / nkv;
    size_t kvd = (size_t)nkv * hd, qd = (size_t)nh * hd;
    size_t rows = (size_t)(c->n_ctx > c->n_ubatch ? c->n_ctx : c->n_ubatch);
    float *sc = c->scores + (size_t)ith * (size_t)group * rows;
    float scale = 1.0f / sqrtf((float)hd);
    hearth_attn_fn attn = hearth_attn_kernel();
    hearth_attn_f16_fn attn16 = hearth_attn_f16_kernel();
    const bool f16 = c->kv_type == HEARTH_TYPE_F16;
    int32_t per = group; /* query heads per job */
    while (per % 2 == 0 && (int64_t)ub->n * nkv * (group / per) < 2 * (int64_t)nth) per /= 2;
    int32_t parts = group / per;
    int64_t total = (int64_t)ub->n * nkv * parts;
    for (int64_t job = ith; job < total; job += nth) {
        int32_t i = (int32_t)(job / ((int64_t)nkv * parts));
        int32_t rest = (int32_t)(job % ((int64_t)nkv * parts));
        int32_t kvh = rest / parts, h = kvh * group + (rest % parts) * per;
        int32_t seq = t->causal ? ub->seq[i] : 0;
        /* the rows of the sequence start at position 0; this head's slice of each */
        const void *kc = hearth_kv_row(c, c->k_cache, t->layer, seq, 0);
        const void *vc = hearth_kv_row(c, c->v_cache, t->layer, seq, 0);
        int32_t n_keys = t->causal ? ub->pos[i] + 1 : ub->n;
        const float *qi = c->q + (size_t)i * qd + (size_t)h * hd;
        float *oi = c->att + (size_t)i * qd + (size_t)h * hd;
        if (f16)
            attn16(qi, per, (const uint16_t *)kc + (size_t)kvh * hd, (const uint16_t *)vc + (size_t)kvh * hd, kvd,
                   n_keys, hd, scale, sc, oi);
        else
            attn(qi, per, (const float *)kc + (size_t)kvh * hd, (const float *)vc + (size_t)kvh * hd, kvd, n_keys,
                 hd, scale, sc, oi);
    }
}

void hearth_attention(hearth_context *c, const hearth_ubatch *ub, int32_t layer, bool causal) {
    attn_task t = {c, ub, layer, causal};
    hearth_threadpool_run(c->pool, attention_rows, &t);
}

/* ---- forward ------------------------------------------------------------ */

typedef struct rope_task {
    hearth_context *c;
    const hearth_layer *L;
    const hearth_ubatch *ub;
} rope_task;

/* Per-head Q/K norm (qwen3) and RoPE at each token's own position. */
static void qk_rope_rows(void *arg, int ith, int nth) {
    rope_task *t = arg;
    hearth_context *c = t->c;
    const hearth_model *m = c->m;
    const hearth_hparams *hp = &m->hp;
    int32_t hd = hp->head_dim, nh = hp->n_head, nkv = hp->n_head_kv;
    int neox = hp->rope == HEARTH_ROPE_NEOX;
    float cs[HEARTH_MAX_ROT / 2], sn[HEARTH_MAX_ROT / 2];
    for (int32_t i = ith; i < t->ub->n; i += nth) {
        hearth_rope_angles(cs, sn, m->n_rot, t->ub->pos[i], hp->rope_scale, m->rope_inv_freq);
        for (int32_t h = 0; h < nh; h++) {
            float *q = c->q + ((size_t)i * nh + h) * hd;
            if (t->L->q_norm) hearth_rmsnorm(q, q, t->L->q_norm, hd, hp->norm_eps);
            hearth_rope_apply(q, m->n_rot, cs, sn, neox);
        }
        for (int32_t h = 0; h < nkv; h++) {
            float *k = c->k + ((size_t)i * nkv + h) * hd;
            if (t->L->k_norm) hearth_rmsnorm(k, k, t->L->k_norm, hd, hp->norm_eps);
            hearth_rope_apply(k, m->n_rot, cs, sn, neox);
        }
    }
}

/* ---- element-wise passes over the batch ---------------------------------- */

/* Below this many values a pass runs on the calling thread: waking the
 * workers costs more than a decode step's norms and adds. */
#define PARALLEL_MIN_VALUES 32768

typedef enum { EW_NORM, EW_SWIGLU, EW_ADD } ew_kind;

typedef struct ew_task {
    ew_kind kind;
    float *y;        /* EW_NORM: out rows; EW_SWIGLU: gate (becomes silu(gate) * up); EW_ADD: x (+= a) */
    const float *a;  /* EW_NORM: in rows; EW_SWIGLU: up; EW_ADD: the addend */
    const float *w;  /* EW_NORM: norm weight [width] */
    int32_t n;       /* rows */
    int64_t width;   /* values per row */
    float eps;
} ew_task;

/* One thread's share of an element-wise pass: whole rows for the norms,
 * equal slices of the values otherwise (each value is computed exactly as
 * the serial loop does, so the split never changes a result). */
static void ew_rows(void *arg, int ith, int nth) {
    const ew_task *t = arg;
    if (t->kind == EW_NORM) {
        for (int32_t i = ith; i < t->n; i += nth)
            hearth_rmsnorm(t->y + (size_t)i * (size_t)t->width, t->a + (size_t)i * (size_t)t->width, t->w, t->width,
                           t->eps);
        return;
    }
    const size_t total = (size_t)t->n * (size_t)t->width, per = (total + (size_t)nth - 1) / (size_t)nth;
    const size_t j0 = per * (size_t)ith, j1 = j0 + per < total ? j0 + per : total;
    if (t->kind == EW_SWIGLU)
        for (size_t j = j0; j < j1; j++) t->y[j] = hearth_silu(t->y[j]) * t->a[j];
    else
        for (size_t j = j0; j < j1; j++) t->y[j] += t->a[j];
}

/* Runs an element-wise pass on the pool, or inline when it is small. Blocks
 * until it is done. */
static void ew_run(hearth_context *c, ew_kind kind, float *y, const float *a, const float *w, int32_t n,
                   int64_t width, float eps) {
    ew_task t = {kind, y, a, w, n, width, eps};
    if ((int64_t)n * width < PARALLEL_MIN_VALUES)
        ew_rows(&t, 0, 1);
    else
        hearth_threadpool_run(c->pool, ew_rows, &t);
}

hearth_status hearth_decoder_forward(hearth_context *c, const hearth_ubatch *ub, float *logits,
                                     float *hidden) {
    const hearth_model *m = c->m;
    const hearth_hparams *hp = &m->hp;
    int32_t d = hp->n_embd, hd = hp->head_dim, n = ub->n;
    size_t qd = (size_t)hp->n_head * hd, kvd = (size_t)hp->n_head_kv * hd;
    int32_t ff = hp->n_ff;

    for (int32_t i = 0; i < n; i++) hearth_weight_row(&m->tok_embd, ub->tokens[i], c->x + (size_t)i * d);

    for (int32_t l = 0; l < hp->n_layer; l++) {
        const hearth_layer *L = &m->layers[l];
        ew_run(c, EW_NORM, c->xn, c->x, L->attn_norm, n, d, hp->norm_eps);
        hearth_matmul(c->pool, &L->wq, c->xn, n, c->q, c->scratch);
        hearth_matmul(c->pool, &L->wk, c->xn, n, c->k, c->scratch);
        hearth_matmul(c->pool, &L->wv, c->xn, n, c->v, c->scratch);
        hearth_add_bias(c->q, L->bq, n, (int64_t)qd);
        hearth_add_bias(c->k, L->bk, n, (int64_t)kvd);
        hearth_add_bias(c->v, L->bv, n, (int64_t)kvd);
        rope_task rt = {c, L, ub};
        hearth_threadpool_run(c->pool, qk_rope_rows, &rt);
        hearth_kv_store(c, ub, l);
        hearth_attention(c, ub, l, true);
        hearth_matmul(c->pool, &L->wo, c->att, n, c->xn, c->scratch);
        hearth_add_bias(c->xn, L->bo, n, d);
        ew_run(c, EW_ADD, c->x, c->xn, NULL, n, d, 0.0f);

        ew_run(c, EW_NORM, c->xn, c->x, L->ffn_norm, n, d, hp->norm_eps);
        hearth_matmul(c->pool, &L->w_gate, c->xn, n, c->ffa, c->scratch);
        hearth_matmul(c->pool, &L->w_up, c->xn, n, c->ffb, c->scratch);
        ew_run(c, EW_SWIGLU, c->ffa, c->ffb, NULL, n, ff, 0.0f);
        hearth_matmul(c->pool, &L->w_down, c->ffa, n, c->xn, c->scratch);
        ew_run(c, EW_ADD, c->x, c->xn, NULL, n, d, 0.0f);
    }

    if (hidden) {
        for (int32_t i = 0; i < n; i++)
            hearth_rmsnorm(hidden + (size_t)i * d, c->x + (size_t)i * d, m->output_norm, d, hp->norm_eps);
    }
    if (logits && ub->n_out > 0) {
        for (int32_t r = 0; r < ub->n_out; r++)
            hearth_rmsnorm(c->out_rows + (size_t)r * d, c->x + (size_t)ub->out[r] * d, m->output_norm, d,
                           hp->norm_eps);
        hearth_matmul(c->pool, &m->output, c->out_rows, ub->n_out, logits, c->scratch);
    }
    return HEARTH_OK;
}
