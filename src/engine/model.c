/* model.c - loading models, creating contexts, and the eval/embed entry
 * points shared by every architecture. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "engine/model_internal.h"
#include "hearth/alloc.h"
#include "hearth/quant.h"

static const hearth_arch_desc *const arch_table[] = {
    &hearth_arch_llama, &hearth_arch_qwen2, &hearth_arch_qwen3, &hearth_arch_bert,
};

/* ---- binding tensors ---------------------------------------------------- */

/* Returns an F32 view of a 1-D tensor: the mapping itself for F32, else a
 * converted copy owned by the model. */
static hearth_status vector_as_f32(hearth_model *m, const hearth_gguf_tensor *t,
                                   const float **out) {
    if (t->type == HEARTH_TYPE_F32) {
        if (((uintptr_t)t->data & 3) != 0)
            return hearth_error_set(HEARTH_ERR_FORMAT, "tensor '%.*s' is not 4-byte aligned",
                                    (int)t->name.len, t->name.ptr);
        *out = t->data;
        return HEARTH_OK;
    }
    const hearth_type_traits *tt = hearth_type_get(t->type);
    if (!tt || !tt->to_float)
        return hearth_error_set(HEARTH_ERR_UNSUPPORTED, "tensor '%.*s' has type %s, which hearth cannot compute",
                                (int)t->name.len, t->name.ptr, hearth_type_name(t->type));
    float **owned = hearth_reallocarray(m->owned, m->n_owned + 1, sizeof *owned);
    if (!owned) return HEARTH_ERR_NOMEM;
    m->owned = owned;
    float *v = hearth_malloc((size_t)t->ne[0] * sizeof(float));
    if (!v) return HEARTH_ERR_NOMEM;
    tt->to_float(t->data, v, t->ne[0]);
    m->owned[m->n_owned++] = v;
    *out = v;
    return HEARTH_OK;
}

hearth_status hearth_model_bind_vector(hearth_model *m, const char *name, int64_t n,
                                       bool required, const float **out) {
    *out = NULL;
    const hearth_gguf_tensor *t = hearth_gguf_tensor_find(m->gguf, name);
    if (!t) {
        if (!required) return HEARTH_OK;
        return hearth_error_set(HEARTH_ERR_FORMAT, "model is missing tensor '%s'", name);
    }
    if (t->ne[0] != n || t->ne[1] != 1 || t->ne[2] != 1 || t->ne[3] != 1)
        return hearth_error_set(HEARTH_ERR_FORMAT,
                                "tensor '%s' has shape [%lld, %lld], expected [%lld]", name,
                                (long long)t->ne[0], (long long)t->ne[1], (long long)n);
    m->weight_bytes += t->nbytes;
    return vector_as_f32(m, t, out);
}

hearth_status hearth_model_bind_matrix(hearth_model *m, const char *name, int64_t n_in,
                                       int64_t n_out, bool required, hearth_weight *w) {
    memset(w, 0, sizeof *w);
    const hearth_gguf_tensor *t = hearth_gguf_tensor_find(m->gguf, name);
    if (!t) {
        if (!required) return HEARTH_OK;
        return hearth_error_set(HEARTH_ERR_FORMAT, "model is missing tensor '%s'", name);
    }
    if (t->ne[0] != n_in || t->ne[1] != n_out || t->ne[2] != 1 || t->ne[3] != 1)
        return hearth_error_set(HEARTH_ERR_FORMAT,
                                "tensor '%s' has shape [%lld, %lld], expected [%lld, %lld]", name,
                                (long long)t->ne[0], (long long)t->ne[1], (long long)n_in,
                                (long long)n_out);
    const hearth_type_traits *tt = hearth_type_get(t->type);
    if (!tt || !tt->vec_dot || !tt->to_float)
        return hearth_error_set(HEARTH_ERR_UNSUPPORTED,
                                "tensor '%s' has type %s, which hearth cannot compute", name,
                                hearth_type_name(t->type));
    const hearth_type_traits *at = hearth_type_get(tt->vec_dot_type);
    if (!at || (tt->vec_dot_type != HEARTH_TYPE_F32 && !at->from_float))
        return hearth_error_set(HEARTH_ERR_UNSUPPORTED, "tensor '%s': no activation quantizer for %s",
                                name, hearth_type_name(tt->vec_dot_type));
    w->name = t->name;
    w->type = t->type;
    w->n_in = n_in;
    w->n_out = n_out;
    w->row_bytes = hearth_row_size(t->type, n_in);
    w->data = t->data;
    m->weight_bytes += t->nbytes;
    return HEARTH_OK;
}

/* ---- hyperparameters ---------------------------------------------------- */

static hearth_status arch_key(const hearth_model *m, const char *suffix, char *buf, size_t cap) {
    int k = snprintf(buf, cap, "%s.%s", m->hp.arch_name, suffix);
    if (k < 0 || (size_t)k >= cap) return hearth_error_set(HEARTH_ERR_RANGE, "key too long");
    return HEARTH_OK;
}

hearth_status hearth_model_key_u32(const hearth_model *m, const char *suffix, bool required,
                                   uint32_t *out) {
    char key[160];
    hearth_status st = arch_key(m, suffix, key, sizeof key);
    if (st) return st;
    st = hearth_gguf_get_u32(m->gguf, key, out);
    if (st == HEARTH_ERR_NOT_FOUND) {
        if (!required) return HEARTH_OK;
        return hearth_error_set(HEARTH_ERR_FORMAT, "model is missing metadata key '%s'", key);
    }
    return st;
}

hearth_status hearth_model_key_f32(const hearth_model *m, const char *suffix, bool required,
                                   float *out) {
    char key[160];
    hearth_status st = arch_key(m, suffix, key, sizeof key);
    if (st) return st;
    st = hearth_gguf_get_f32(m->gguf, key, out);
    if (st == HEARTH_ERR_NOT_FOUND) {
        if (!required) return HEARTH_OK;
        return hearth_error_set(HEARTH_ERR_FORMAT, "model is missing metadata key '%s'", key);
    }
    return st;
}

#define CHECK_RANGE(field, lo, hi)                                                            \
    if ((int64_t)(field) < (lo) || (int64_t)(field) > (hi))                                   \
        return hearth_error_set(HEARTH_ERR_FORMAT, "%s.%s = %lld is out of range [%lld, %lld]",  \
                                m->hp.arch_name, #field, (long long)(field), (long long)(lo), \
                                (long long)(hi));

/* Reads the hyperparameters every transformer here shares and checks them
 * against sane limits before anything is sized from them. */
static hearth_status load_common_hparams(hearth_model *m) {
    hearth_hparams *hp = &m->hp;
    uint32_t v;
    hearth_status st;
    v = 0;
    if ((st = hearth_model_key_u32(m, "embedding_length", true, &v))) return st;
    hp->n_embd = (v > INT32_MAX ? -1 : (int32_t)v);
    v = 0;
    if ((st = hearth_model_key_u32(m, "block_count", true, &v))) return st;
    hp->n_layer = (v > INT32_MAX ? -1 : (int32_t)v);
    v = 0;
    if ((st = hearth_model_key_u32(m, "feed_forward_length", true, &v))) return st;
    hp->n_ff = (v > INT32_MAX ? -1 : (int32_t)v);
    v = 0;
    if ((st = hearth_model_key_u32(m, "attention.head_count", true, &v))) return st;
    hp->n_head = (v > INT32_MAX ? -1 : (int32_t)v);
    v = (uint32_t)hp->n_head;
    if ((st = hearth_model_key_u32(m, "attention.head_count_kv", false, &v))) return st;
    hp->n_head_kv = (v > INT32_MAX ? -1 : (int32_t)v);
    v = 2048;
    if ((st = hearth_model_key_u32(m, "context_length", false, &v))) return st;
    hp->n_ctx_train = (int32_t)(v > INT32_MAX ? INT32_MAX : v);
    CHECK_RANGE(hp->n_embd, 1, 1 << 16);
    CHECK_RANGE(hp->n_layer, 1, 1024);
    CHECK_RANGE(hp->n_ff, 1, 1 << 20);
    CHECK_RANGE(hp->n_head, 1, 4096);
    CHECK_RANGE(hp->n_head_kv, 1, hp->n_head);
    CHECK_RANGE(hp->n_ctx_train, 1, 1 << 24);
    if (hp->n_head % hp->n_head_kv)
        return hearth_error_set(HEARTH_ERR_FORMAT, "head_count %d is not a multiple of head_count_kv %d",
                                hp->n_head, hp->n_head_kv);
    v = (uint32_t)(hp->n_embd / hp->n_head);
    if ((st = hearth_model_key_u32(m, "attention.key_length", false, &v))) return st;
    hp->head_dim = (v > 65536 ? -1 : (int32_t)v);
    uint32_t vlen = (uint32_t)hp->head_dim;
    if ((st = hearth_model_key_u32(m, "attention.value_length", false, &vlen))) return st;
    CHECK_RANGE(hp->head_dim, 1, HEARTH_MAX_ROT); /* n_rot <= head_dim (ops.h) */
    if ((int32_t)vlen != hp->head_dim)
        return hearth_error_set(HEARTH_ERR_UNSUPPORTED, "key_length %d != value_length %u",
                                hp->head_dim, vlen);
    return HEARTH_OK;
}

hearth_status hearth_decoder_load_hparams(hearth_model *m, hearth_rope_kind rope) {
    hearth_hparams *hp = &m->hp;
    hearth_status st = load_common_hparams(m);
    if (st) return st;
    hp->norm_eps = 1e-5f;
    if ((st = hearth_model_key_f32(m, "attention.layer_norm_rms_epsilon", false, &hp->norm_eps))) return st;
    if (!(hp->norm_eps > 0 && hp->norm_eps < 1))
        return hearth_error_set(HEARTH_ERR_FORMAT, "rms epsilon %g is out of range", hp->norm_eps);
    hp->rope_base = 10000.0f;
    if ((st = hearth_model_key_f32(m, "rope.freq_base", false, &hp->rope_base))) return st;
    if (!(hp->rope_base > 1 && isfinite(hp->rope_base)))
        return hearth_error_set(HEARTH_ERR_FORMAT, "rope.freq_base %g is out of range", hp->rope_base);
    uint32_t n_rot = (uint32_t)hp->head_dim;
    if ((st = hearth_model_key_u32(m, "rope.dimension_count", false, &n_rot))) return st;
    if (n_rot == 0 || n_rot > (uint32_t)hp->head_dim || n_rot % 2)
        return hearth_error_set(HEARTH_ERR_FORMAT, "rope.dimension_count %u is invalid for head size %d",
                                n_rot, hp->head_dim);
    m->n_rot = (int32_t)n_rot;
    hp->rope = rope;
    hp->causal = true;
    hp->pooling = HEARTH_POOLING_MEAN;

    /* Linear position scaling (rope.scaling.type = linear), or the older
     * rope_scale key. Llama-3.1-style scaling comes as rope_freqs.weight. */
    hp->rope_scale = 1.0f;
    char key[160];
    hearth_str stype = {0};
    arch_key(m, "rope.scaling.type", key, sizeof key);
    hearth_gguf_get_str(m->gguf, key, &stype);
    float factor = 0.0f;
    if ((st = hearth_model_key_f32(m, "rope.scaling.factor", false, &factor))) return st;
    if (stype.len == 0 || hearth_str_eq(stype, "linear")) {
        if (factor > 0) hp->rope_scale = 1.0f / factor;
    } else if (!hearth_str_eq(stype, "none") && !hearth_str_eq(stype, "llama3")) {
        return hearth_error_set(HEARTH_ERR_UNSUPPORTED, "rope scaling type '%.*s' is not supported",
                                (int)stype.len, stype.ptr);
    }
    if (!(hp->rope_scale > 0 && hp->rope_scale <= 1))
        return hearth_error_set(HEARTH_ERR_FORMAT, "rope scaling factor %g is invalid", factor);

    m->rope_inv_freq = hearth_calloc((size_t)n_rot / 2, sizeof(double));
    if (!m->rope_inv_freq) return HEARTH_ERR_NOMEM;
    for (uint32_t i = 0; i < n_rot / 2; i++)
        m->rope_inv_freq[i] = pow((double)hp->rope_base, -2.0 * i / (double)n_rot);
    const float *factors = NULL;
    if ((st = hearth_model_bind_vector(m, "rope_freqs.weight", n_rot / 2, false, &factors))) return st;
    if (factors) {
        for (uint32_t i = 0; i < n_rot / 2; i++) {
            if (!(factors[i] > 0 && isfinite(factors[i])))
                return hearth_error_set(HEARTH_ERR_FORMAT, "rope_freqs.weight[%u] = %g is invalid", i,
                                        factors[i]);
            m->rope_inv_freq[i] /= factors[i];
        }
    } else if (hearth_str_eq(stype, "llama3") && factor > 0) {
        /* Llama 3.1 frequency smoothing, computed from metadata when the
         * converter did not store rope_freqs. */
        float lo = 1.0f, hi = 4.0f;
        uint32_t orig = 8192;
        hearth_model_key_f32(m, "rope.scaling.low_freq_factor", false, &lo);
        hearth_model_key_f32(m, "rope.scaling.high_freq_factor", false, &hi);
        hearth_model_key_u32(m, "rope.scaling.original_context_length", false, &orig);
        double lo_wav = orig / lo, hi_wav = orig / hi;
        for (uint32_t i = 0; i < n_rot / 2; i++) {
            double wav = 2 * 3.14159265358979323846 / m->rope_inv_freq[i];
            if (wav > lo_wav) m->rope_inv_freq[i] /= factor;
            else if (wav >= hi_wav && hi != lo) {
                double smooth = (orig / wav - lo) / (hi - lo);
                m->rope_inv_freq[i] = (1 - smooth) * m->rope_inv_freq[i] / factor + smooth * m->rope_inv_freq[i];
            }
        }
    }
    return HEARTH_OK;
}

/* ---- load / free -------------------------------------------------------- */

hearth_status hearth_model_load(const char *path, hearth_model **out) {
    *out = NULL;
    hearth_model *m = hearth_calloc(1, sizeof *m);
    if (!m) return HEARTH_ERR_NOMEM;
    hearth_status st = hearth_gguf_open(path, &m->gguf);
    if (st) goto fail;
    hearth_str arch = {0};
    st = hearth_gguf_get_str(m->gguf, "general.architecture", &arch);
    if (st) {
        st = hearth_error_set(HEARTH_ERR_FORMAT, "%s: no general.architecture key", path);
        goto fail;
    }
    for (size_t i = 0; i < sizeof arch_table / sizeof *arch_table; i++)
        if (hearth_str_eq(arch, arch_table[i]->name)) m->desc = arch_table[i];
    if (!m->desc) {
        st = hearth_error_set(HEARTH_ERR_UNSUPPORTED,
                              "architecture '%.*s' is not supported (hearth runs llama, qwen2, qwen3, bert)",
                              (int)(arch.len > 64 ? 64 : arch.len), arch.ptr);
        goto fail;
    }
    m->hp.arch = m->desc->arch;
    snprintf(m->hp.arch_name, sizeof m->hp.arch_name, "%s", m->desc->name);
    st = hearth_vocab_load(m->gguf, &m->vocab);
    if (st) goto fail;
    st = m->desc->load(m);
    if (st) goto fail;
    m->hp.n_vocab = (int32_t)m->tok_embd.n_out;
    if (hearth_vocab_n_tokens(m->vocab) > m->hp.n_vocab) {
        st = hearth_error_set(HEARTH_ERR_FORMAT, "tokenizer has %d tokens but the embedding only %d rows",
                              hearth_vocab_n_tokens(m->vocab), m->hp.n_vocab);
        goto fail;
    }
    *out = m;
    return HEARTH_OK;
fail:
    hearth_model_free(m);
    return st;
}

void hearth_model_free(hearth_model *m) {
    if (!m) return;
    for (size_t i = 0; i < m->n_owned; i++) hearth_free(m->owned[i]);
    hearth_free(m->owned);
    hearth_free(m->layers);
    hearth_free(m->rope_inv_freq);
    hearth_vocab_free(m->vocab);
    hearth_gguf_free(m->gguf);
    hearth_free(m);
}

const hearth_hparams *hearth_model_hparams(const hearth_model *m) { return &m->hp; }
const hearth_gguf *hearth_model_gguf(const hearth_model *m) { return m->gguf; }
const hearth_vocab *hearth_model_vocab(const hearth_model *m) { return m->vocab; }
uint64_t hearth_model_weight_bytes(const hearth_model *m) { return m->weight_bytes; }

hearth_str hearth_model_chat_template(const hearth_model *m) {
    hearth_str s = {0};
    hearth_gguf_get_str(m->gguf, "tokenizer.chat_template", &s);
    return s;
}

/* ---- contexts ----------------------------------------------------------- */

static float *ctx_alloc(hearth_context *c, size_t n_floats) {
    c->bytes += n_floats * sizeof(float);
    return hearth_malloc_aligned(n_floats * sizeof(float), 64);
}

/* See model.h; allocates everything up front, does not block otherwise. */
hearth_status hearth_context_new_opts(const hearth_model *m, const hearth_context_opts *o, hearth_context **out) {
    *out = NULL;
    const hearth_context_opts defaults = {0};
    if (!o) o = &defaults;
    int32_t n_ctx = o->n_ctx, n_seq = o->n_seq > 0 ? o->n_seq : 1, n_threads = o->n_threads;
    size_t kv_elem;
    if (o->kv_type == HEARTH_TYPE_F32) kv_elem = sizeof(float);
    else if (o->kv_type == HEARTH_TYPE_F16) kv_elem = sizeof(uint16_t);
    else
        return hearth_error_set(HEARTH_ERR_INVALID, "KV cache type %u (%s) is not supported: use F32 or F16",
                                (unsigned)o->kv_type, hearth_type_name(o->kv_type));
    const hearth_hparams *hp = &m->hp;
    if (n_ctx <= 0) n_ctx = hp->n_ctx_train;
    if (n_ctx > (1 << 22))
        return hearth_error_set(HEARTH_ERR_RANGE, "context length %d is too large", n_ctx);
    if (n_seq < 1 || n_seq > 4096)
        return hearth_error_set(HEARTH_ERR_RANGE, "sequence count %d is outside 1..4096", n_seq);
    if (hp->arch == HEARTH_ARCH_BERT && n_ctx > hp->n_ctx_train) n_ctx = hp->n_ctx_train;
    if (n_threads <= 0) n_threads = hearth_physical_cores();
    hearth_context *c = hearth_calloc(1, sizeof *c);
    if (!c) return HEARTH_ERR_NOMEM;
    c->m = m;
    c->n_ctx = n_ctx;
    c->n_seq = n_seq;
    int64_t ub_max = (int64_t)n_ctx * n_seq;
    c->n_ubatch = ub_max < 512 ? (int32_t)ub_max : 512;
    hearth_status st = hearth_threadpool_new(n_threads, &c->pool);
    if (st) {
        hearth_free(c);
        return st;
    }
    size_t ub = (size_t)c->n_ubatch, d = (size_t)hp->n_embd;
    size_t qd = (size_t)hp->n_head * hp->head_dim, kvd = (size_t)hp->n_head_kv * hp->head_dim;
    c->kv_type = o->kv_type;
    c->kv_row_bytes = kvd * kv_elem;
    size_t cache = (size_t)hp->n_layer * (size_t)n_seq * (size_t)n_ctx * c->kv_row_bytes;
    size_t wmax = d > qd ? d : qd;
    if ((size_t)hp->n_ff > wmax) wmax = (size_t)hp->n_ff;
    c->n_past = hearth_calloc((size_t)n_seq, sizeof *c->n_past);
    c->ub_seq = hearth_calloc(ub, sizeof *c->ub_seq);
    c->ub_pos = hearth_calloc(ub, sizeof *c->ub_pos);
    c->ub_out = hearth_calloc(ub, sizeof *c->ub_out);
    c->seq_need = hearth_calloc((size_t)n_seq, sizeof *c->seq_need);
    c->seq_last = hearth_calloc((size_t)n_seq, sizeof *c->seq_last);
    c->k_cache = hearth_malloc_aligned(cache, 64);
    c->v_cache = hearth_malloc_aligned(cache, 64);
    c->kv_bytes = 2 * (uint64_t)cache;
    c->bytes += c->kv_bytes;
    c->x = ctx_alloc(c, ub * d);
    c->xn = ctx_alloc(c, ub * wmax);
    c->q = ctx_alloc(c, ub * qd);
    c->k = ctx_alloc(c, ub * kvd);
    c->v = ctx_alloc(c, ub * kvd);
    c->att = ctx_alloc(c, ub * qd);
    c->ffa = ctx_alloc(c, ub * (size_t)hp->n_ff);
    c->ffb = ctx_alloc(c, ub * (size_t)hp->n_ff);
    /* per thread: one score row per query head of a KV group (attn.h) */
    c->scores = ctx_alloc(c, (size_t)n_threads * (size_t)(hp->n_head / hp->n_head_kv) *
                                 (size_t)(n_ctx > c->n_ubatch ? n_ctx : c->n_ubatch));
    c->out_rows = ctx_alloc(c, ub * d);
    size_t sb = hearth_matmul_scratch_bytes((int64_t)wmax, c->n_ubatch, n_threads);
    c->scratch = hearth_malloc_aligned(sb, 64);
    c->bytes += sb;
    if (!c->n_past || !c->ub_seq || !c->ub_pos || !c->ub_out || !c->seq_need || !c->seq_last || !c->k_cache || !c->v_cache || !c->x ||
        !c->xn || !c->q || !c->k || !c->v || !c->att || !c->ffa || !c->ffb || !c->scores ||
        !c->out_rows || !c->scratch) {
        hearth_context_free(c);
        return hearth_error_set(HEARTH_ERR_NOMEM, "cannot allocate a context of %d x %d positions",
                                n_seq, n_ctx);
    }
    *out = c;
    return HEARTH_OK;
}

hearth_status hearth_context_new_seqs(const hearth_model *m, int32_t n_ctx, int32_t n_seq,
                                      int32_t n_threads, hearth_context **out) {
    *out = NULL;
    /* an explicit count keeps its range check (opts maps <= 0 to 1) */
    if (n_seq < 1) return hearth_error_set(HEARTH_ERR_RANGE, "sequence count %d is outside 1..4096", n_seq);
    hearth_context_opts o = {n_ctx, n_seq, n_threads, HEARTH_TYPE_F32};
    return hearth_context_new_opts(m, &o, out);
}

hearth_status hearth_context_new(const hearth_model *m, int32_t n_ctx, int32_t n_threads,
                                 hearth_context **out) {
    return hearth_context_new_seqs(m, n_ctx, 1, n_threads, out);
}

void hearth_context_free(hearth_context *c) {
    if (!c) return;
    hearth_threadpool_free(c->pool);
    hearth_free(c->n_past);
    hearth_free(c->ub_seq);
    hearth_free(c->ub_pos);
    hearth_free(c->ub_out);
    hearth_free(c->seq_need);
    hearth_free(c->seq_last);
    hearth_free_aligned(c->k_cache);
    hearth_free_aligned(c->v_cache);
    hearth_free_aligned(c->x);
    hearth_free_aligned(c->xn);
    hearth_free_aligned(c->q);
    hearth_free_aligned(c->k);
    hearth_free_aligned(c->v);
    hearth_free_aligned(c->att);
    hearth_free_aligned(c->ffa);
    hearth_free_aligned(c->ffb);
    hearth_free_aligned(c->scores);
    hearth_free_aligned(c->out_rows);
    hearth_free_aligned(c->scratch);
    hearth_free(c);
}

int32_t hearth_context_n_ctx(const hearth_context *c) { return c->n_ctx; }
int32_t hearth_context_n_seq(const hearth_context *c) { return c->n_seq; }
int32_t hearth_context_n_past(const hearth_context *c) { return c->n_past[0]; }
uint64_t hearth_context_bytes(const hearth_context *c) { return c->bytes; }
uint32_t hearth_context_kv_type(const hearth_context *c) { return c->kv_type; }
uint64_t hearth_context_kv_bytes(const hearth_context *c) { return c->kv_bytes; }

int32_t hearth_seq_n_past(const hearth_context *c, int32_t seq) {
    return seq >= 0 && seq < c->n_seq ? c->n_past[seq] : 0;
}

void hearth_seq_truncate(hearth_context *c, int32_t seq, int32_t n_keep) {
    if (seq < 0 || seq >= c->n_seq) return;
    if (n_keep < 0) n_keep = 0;
    if (n_keep < c->n_past[seq]) c->n_past[seq] = n_keep;
}

void hearth_context_truncate(hearth_context *c, int32_t n_keep) { hearth_seq_truncate(c, 0, n_keep); }

static hearth_status check_tokens(const hearth_context *c, const int32_t *tokens, int32_t n) {
    for (int32_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= c->m->hp.n_vocab)
            return hearth_error_set(HEARTH_ERR_INVALID, "token id %d at batch index %d is outside the vocabulary (%d)",
                                    tokens[i], i, c->m->hp.n_vocab);
    return HEARTH_OK;
}

hearth_status hearth_decode(hearth_context *c, const hearth_batch *b, float *logits) {
    const hearth_model *m = c->m;
    if (m->hp.arch == HEARTH_ARCH_BERT)
        return hearth_error_set(HEARTH_ERR_INVALID, "bert models produce embeddings, not logits");
    if (!b || b->n <= 0 || !b->tokens) return hearth_error_set(HEARTH_ERR_INVALID, "no tokens to evaluate");
    hearth_status st = check_tokens(c, b->tokens, b->n);
    if (st) return st;
    /* Validate every sequence's room before touching any cache. The
     * per-sequence counters live in the context: decoding one token per
     * step must not allocate. */
    int32_t *need = c->seq_need, *last = c->seq_last;
    for (int32_t s = 0; s < c->n_seq; s++) {
        need[s] = 0;
        last[s] = -1;
    }
    for (int32_t i = 0; i < b->n; i++) {
        int32_t s = b->seq ? b->seq[i] : 0;
        if (s < 0 || s >= c->n_seq) {
            st = hearth_error_set(HEARTH_ERR_INVALID, "sequence %d of batch index %d is outside 0..%d", s, i,
                                  c->n_seq - 1);
            goto done;
        }
        need[s]++;
        last[s] = i;
    }
    for (int32_t s = 0; s < c->n_seq; s++)
        if ((int64_t)c->n_past[s] + need[s] > c->n_ctx) {
            st = hearth_error_set(HEARTH_ERR_RANGE,
                                  "%d tokens do not fit sequence %d: %d of %d context positions used",
                                  need[s], s, c->n_past[s], c->n_ctx);
            goto done;
        }
    int32_t n_vocab = m->hp.n_vocab;
    float *dst = logits;
    for (int32_t done = 0; done < b->n;) {
        int32_t chunk = b->n - done < c->n_ubatch ? b->n - done : c->n_ubatch;
        hearth_ubatch ub = {0};
        ub.n = chunk;
        ub.tokens = b->tokens + done;
        ub.seq = c->ub_seq;
        ub.pos = c->ub_pos;
        ub.out = c->ub_out;
        for (int32_t i = 0; i < chunk; i++) {
            int32_t s = b->seq ? b->seq[done + i] : 0;
            c->ub_seq[i] = s;
            c->ub_pos[i] = c->n_past[s]++;
            bool want = b->want_logits ? b->want_logits[done + i] != 0 : last[s] == done + i;
            if (want && logits) c->ub_out[ub.n_out++] = i;
        }
        st = m->desc->forward(c, &ub, logits ? dst : NULL, NULL);
        if (st) goto done;
        if (logits) dst += (size_t)ub.n_out * n_vocab;
        done += chunk;
    }
done:
    return st;
}

hearth_status hearth_eval(hearth_context *c, const int32_t *tokens, int32_t n, float *logits,
                          bool all_logits) {
    if (n <= 0 || !tokens) return hearth_error_set(HEARTH_ERR_INVALID, "no tokens to evaluate");
    if (!all_logits || !logits) {
        hearth_batch b = {n, tokens, NULL, NULL};
        return hearth_decode(c, &b, logits);
    }
    uint8_t *want = hearth_malloc((size_t)n);
    if (!want) return HEARTH_ERR_NOMEM;
    memset(want, 1, (size_t)n);
    hearth_batch b = {n, tokens, NULL, want};
    hearth_status st = hearth_decode(c, &b, logits);
    hearth_free(want);
    return st;
}

hearth_status hearth_embed(hearth_context *c, const int32_t *tokens, int32_t n,
                           const int32_t *token_types, float *out, bool normalize) {
    const hearth_model *m = c->m;
    if (n <= 0 || !tokens) return hearth_error_set(HEARTH_ERR_INVALID, "no tokens to embed");
    if (n > c->n_ubatch || n > c->n_ctx)
        return hearth_error_set(HEARTH_ERR_RANGE, "%d tokens exceed the embedding window of %d", n,
                                c->n_ubatch < c->n_ctx ? c->n_ubatch : c->n_ctx);
    hearth_status st = check_tokens(c, tokens, n);
    if (st) return st;
    if (token_types)
        for (int32_t i = 0; i < n; i++)
            if (token_types[i] < 0 || token_types[i] >= (m->hp.n_token_types > 0 ? m->hp.n_token_types : 1))
                return hearth_error_set(HEARTH_ERR_INVALID, "token type %d is out of range", token_types[i]);
    int32_t d = m->hp.n_embd;
    float *hidden = hearth_malloc((size_t)n * d * sizeof(float));
    if (!hidden) return HEARTH_ERR_NOMEM;
    /* The embedding runs as sequence 0 from position 0 and leaves no cache. */
    hearth_ubatch ub = {0};
    ub.n = n;
    ub.tokens = tokens;
    ub.token_types = token_types;
    ub.seq = c->ub_seq;
    ub.pos = c->ub_pos;
    ub.out = c->ub_out;
    for (int32_t i = 0; i < n; i++) {
        c->ub_seq[i] = 0;
        c->ub_pos[i] = i;
    }
    st = m->desc->forward(c, &ub, NULL, hidden);
    c->n_past[0] = 0;
    if (st) {
        hearth_free(hidden);
        return st;
    }
    hearth_pooling pool = m->hp.pooling;
    for (int32_t j = 0; j < d; j++) {
        double s = 0.0;
        if (pool == HEARTH_POOLING_CLS) s = hidden[j];
        else if (pool == HEARTH_POOLING_LAST) s = hidden[(size_t)(n - 1) * d + j];
        else {
            for (int32_t i = 0; i < n; i++) s += hidden[(size_t)i * d + j];
            s /= n;
        }
        out[j] = (float)s;
    }
    hearth_free(hidden);
    if (normalize) {
        double ss = 0.0;
        for (int32_t j = 0; j < d; j++) ss += (double)out[j] * out[j];
        double inv = ss > 0 ? 1.0 / sqrt(ss) : 0.0;
        for (int32_t j = 0; j < d; j++) out[j] = (float)(out[j] * inv);
    }
    return HEARTH_OK;
}
