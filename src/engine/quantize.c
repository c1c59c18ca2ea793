/* quantize.c - hearth_quantize_file: llama-quantize's type recipe and a
 * tensor-by-tensor conversion into a streamed GGUF.
 *
 * Two passes. The plan pass walks the tensors in llama.cpp's order (tensors
 * outside any block first, then by block number, each group by name: the
 * order of llama_model_loader's weights map, which is also the order the
 * recipe's per-layer counters see them in), picks every output type and
 * refuses impossible conversions before anything is written. The write
 * pass then converts one chunk of rows at a time on the thread pool and
 * streams it to the writer, so memory stays at one chunk whatever the size
 * of the model.
 */
#include "hearth/quantize.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/ref/quant_ref.h"
#include "hearth/alloc.h"
#include "hearth/gguf.h"
#include "hearth/gguf_write.h"
#include "hearth/quant.h"
#include "hearth/threadpool.h"

/* llama_ftype numbers (llama.h), which general.file_type stores. */
enum {
    FT_ALL_F32 = 0,
    FT_F16 = 1,
    FT_Q4_0 = 2,
    FT_Q4_1 = 3,
    FT_Q8_0 = 7,
    FT_Q5_0 = 8,
    FT_Q5_1 = 9,
    FT_Q2_K = 10,
    FT_Q3_K_S = 11,
    FT_Q3_K_M = 12,
    FT_Q3_K_L = 13,
    FT_Q4_K_S = 14,
    FT_Q4_K_M = 15,
    FT_Q5_K_S = 16,
    FT_Q5_K_M = 17,
    FT_Q6_K = 18,
    FT_IQ4_NL = 25,
    FT_IQ4_XS = 30,
    FT_BF16 = 32,
};

#define QUANT_VERSION 2u /* GGML_QNT_VERSION */
#define CHUNK_FLOATS (1u << 20) /* rows per chunk: about 4 MiB of floats */

typedef struct target {
    const char *name;
    uint32_t ftype;
    uint32_t base;
} target;

/* As llama-quantize lists them; Q3_K / Q4_K / Q5_K are its aliases of the
 * _M mixes. */
static const target targets[] = {
    {"Q4_0", FT_Q4_0, HEARTH_TYPE_Q4_0},       {"Q4_1", FT_Q4_1, HEARTH_TYPE_Q4_1},
    {"Q5_0", FT_Q5_0, HEARTH_TYPE_Q5_0},       {"Q5_1", FT_Q5_1, HEARTH_TYPE_Q5_1},
    {"IQ4_NL", FT_IQ4_NL, HEARTH_TYPE_IQ4_NL}, {"IQ4_XS", FT_IQ4_XS, HEARTH_TYPE_IQ4_XS},
    {"Q2_K", FT_Q2_K, HEARTH_TYPE_Q2_K},       {"Q3_K", FT_Q3_K_M, HEARTH_TYPE_Q3_K},
    {"Q3_K_S", FT_Q3_K_S, HEARTH_TYPE_Q3_K},   {"Q3_K_M", FT_Q3_K_M, HEARTH_TYPE_Q3_K},
    {"Q3_K_L", FT_Q3_K_L, HEARTH_TYPE_Q3_K},   {"Q4_K", FT_Q4_K_M, HEARTH_TYPE_Q4_K},
    {"Q4_K_S", FT_Q4_K_S, HEARTH_TYPE_Q4_K},   {"Q4_K_M", FT_Q4_K_M, HEARTH_TYPE_Q4_K},
    {"Q5_K", FT_Q5_K_M, HEARTH_TYPE_Q5_K},     {"Q5_K_S", FT_Q5_K_S, HEARTH_TYPE_Q5_K},
    {"Q5_K_M", FT_Q5_K_M, HEARTH_TYPE_Q5_K},   {"Q6_K", FT_Q6_K, HEARTH_TYPE_Q6_K},
    {"Q8_0", FT_Q8_0, HEARTH_TYPE_Q8_0},       {"F16", FT_F16, HEARTH_TYPE_F16},
    {"BF16", FT_BF16, HEARTH_TYPE_BF16},       {"F32", FT_ALL_F32, HEARTH_TYPE_F32},
};
enum { N_TARGETS = sizeof targets / sizeof targets[0] };

/* Returns the names of the supported targets, space-separated (static). */
const char *hearth_quantize_target_names(void) {
    return "Q4_0 Q4_1 Q5_0 Q5_1 IQ4_NL IQ4_XS Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K "
           "Q8_0 F16 BF16 F32 (aliases: Q3_K Q4_K Q5_K = the _M mixes)";
}

/* Case-insensitive equality of two C strings. */
static bool ieq(const char *a, const char *b) {
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) return false;
    return *a == *b;
}

/* Parses a target name into (ftype, base type). Does not block. */
hearth_status hearth_quantize_parse_target(const char *name, uint32_t *ftype, uint32_t *base_type) {
    for (int i = 0; name && i < N_TARGETS; i++) {
        if (ieq(name, targets[i].name)) {
            if (ftype) *ftype = targets[i].ftype;
            if (base_type) *base_type = targets[i].base;
            return HEARTH_OK;
        }
    }
    return hearth_error_set(HEARTH_ERR_INVALID, "unknown quantization type '%s' (supported: %s)", name ? name : "",
                            hearth_quantize_target_names());
}

/* ---- the recipe (llama_tensor_get_type) ---------------------------------- */

typedef struct recipe {
    uint32_t ftype, base;
    bool pure;
    bool falcon, is_70b, has_output;
    int n_expert, n_gqa, n_layer;
    int n_attention_wv, i_attention_wv;
    int i_ffn_down, i_ffn_gate, i_ffn_up;
} recipe;

/* llama.cpp's choice of layers that get more bits in the _M mixes. */
static bool use_more_bits(int i_layer, int n_layers) {
    return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2;
}

/* The block number of "blk.N.…", or -1 (the weights map's sort key). */
static long layer_of(const char *name) {
    if (strncmp(name, "blk.", 4) != 0) return -1;
    const char *p = name + 4;
    int sign = 1;
    if (*p == '-' || *p == '+') sign = *p++ == '-' ? -1 : 1;
    if (!isdigit((unsigned char)*p)) return -1;
    long v = 0;
    for (; isdigit((unsigned char)*p); p++) v = v < 100000000 ? v * 10 + (*p - '0') : v;
    return sign * v;
}

/* The (layer, n_layer) a per-layer rule uses: the running counter, except
 * for MoE models where experts are not consecutive and the name decides.
 * Returns false (detail set) for a name without a valid layer. */
static bool layer_info(const recipe *r, int counter, const char *name, int *i_layer) {
    *i_layer = counter;
    if (r->n_expert > 1) {
        long l = layer_of(name);
        if (l < 0 || l >= r->n_layer) {
            hearth_error_set(HEARTH_ERR_FORMAT, "tensor '%s': no valid layer number (block_count %d)", name,
                             r->n_layer);
            return false;
        }
        *i_layer = (int)l;
    }
    return true;
}

static int64_t block_of(uint32_t t) { return hearth_type_get(t)->block_size; }
static bool is_quantized(uint32_t t) { return hearth_type_get(t)->is_quantized; }

/* The type for rows of ne0 values when `t`'s block does not divide them,
 * as llama.cpp falls back (and F16 where it would give up). */
static uint32_t shape_fallback(uint32_t t, int64_t ne0) {
    if (ne0 % block_of(t) == 0) return t;
    uint32_t f;
    switch (t) {
    case HEARTH_TYPE_Q2_K:
    case HEARTH_TYPE_Q3_K:
    case HEARTH_TYPE_IQ4_XS: f = HEARTH_TYPE_IQ4_NL; break;
    case HEARTH_TYPE_Q4_K: f = HEARTH_TYPE_Q5_0; break;
    case HEARTH_TYPE_Q5_K: f = HEARTH_TYPE_Q5_1; break;
    case HEARTH_TYPE_Q6_K: f = HEARTH_TYPE_Q8_0; break;
    default: f = HEARTH_TYPE_F16; break;
    }
    if (ne0 % block_of(f) != 0) f = HEARTH_TYPE_F16;
    return f;
}

/* Returns the recipe's type for one quantizable matrix, updating the
 * per-layer counters, before any shape fallback; HEARTH_TYPE_COUNT on error
 * (detail set). Mirrors llama_tensor_get_type for the supported targets. */
static uint32_t recipe_type(recipe *r, const char *name, int64_t ne0) {
    const uint32_t ft = r->ftype;
    uint32_t t = r->base;
    int il, nl = r->n_layer;
    if (strcmp(name, "output.weight") == 0 || (!r->has_output && strcmp(name, "token_embd.weight") == 0)) {
        if (r->falcon || ne0 % 256 != 0)
            t = HEARTH_TYPE_Q8_0;
        else if (t != HEARTH_TYPE_Q8_0)
            t = HEARTH_TYPE_Q6_K;
    } else if (strcmp(name, "token_embd.weight") == 0) {
        /* only the IQ1/IQ2/IQ3 and ternary targets change it */
    } else if (strstr(name, "attn_v.weight")) {
        if (ft == FT_Q2_K)
            t = r->n_gqa >= 4 ? HEARTH_TYPE_Q4_K : HEARTH_TYPE_Q3_K;
        else if (ft == FT_Q3_K_M)
            t = r->i_attention_wv < 2 ? HEARTH_TYPE_Q5_K : HEARTH_TYPE_Q4_K;
        else if (ft == FT_Q3_K_L)
            t = HEARTH_TYPE_Q5_K;
        else if ((ft == FT_IQ4_NL || ft == FT_IQ4_XS) && r->n_gqa >= 4)
            t = HEARTH_TYPE_Q5_K;
        else if ((ft == FT_Q4_K_M || ft == FT_Q5_K_M) && use_more_bits(r->i_attention_wv, r->n_attention_wv))
            t = HEARTH_TYPE_Q6_K;
        else if (ft == FT_Q4_K_S && r->i_attention_wv < 4)
            t = HEARTH_TYPE_Q5_K;
        if (r->is_70b && (t == HEARTH_TYPE_Q3_K || t == HEARTH_TYPE_Q4_K)) t = HEARTH_TYPE_Q5_K;
        if (r->n_expert == 8) t = HEARTH_TYPE_Q8_0;
        r->i_attention_wv++;
    } else if (strstr(name, "attn_k.weight")) {
        if (r->n_expert == 8) t = HEARTH_TYPE_Q8_0;
    } else if (strstr(name, "attn_q.weight")) {
        /* only IQ3 targets change it */
    } else if (strstr(name, "ffn_down")) {
        if (!layer_info(r, r->i_ffn_down, name, &il)) return HEARTH_TYPE_COUNT;
        if (ft == FT_Q2_K)
            t = HEARTH_TYPE_Q3_K;
        else if (ft == FT_Q3_K_M)
            t = il < nl / 16 ? HEARTH_TYPE_Q5_K
                : (!r->falcon || use_more_bits(il, nl)) ? HEARTH_TYPE_Q4_K
                                                        : HEARTH_TYPE_Q3_K;
        else if (ft == FT_Q3_K_L)
            t = r->falcon ? HEARTH_TYPE_Q4_K : HEARTH_TYPE_Q5_K;
        else if (ft == FT_Q4_K_M) {
            if (r->falcon)
                t = il < nl / 16 ? HEARTH_TYPE_Q6_K : use_more_bits(il, nl) ? HEARTH_TYPE_Q5_K : HEARTH_TYPE_Q4_K;
            else if (use_more_bits(il, nl))
                t = HEARTH_TYPE_Q6_K;
        } else if (il < nl / 8 && (ft == FT_IQ4_NL || ft == FT_IQ4_XS))
            t = HEARTH_TYPE_Q5_K; /* (without an importance matrix) */
        else if (ft == FT_Q5_K_M && use_more_bits(il, nl))
            t = HEARTH_TYPE_Q6_K;
        else if (ft == FT_Q4_K_S && !r->falcon && il < nl / 8)
            t = HEARTH_TYPE_Q5_K;
        r->i_ffn_down++;
    } else if (strstr(name, "attn_output.weight")) {
        if (!r->falcon) {
            if (r->n_expert == 8) {
                if (ft == FT_Q2_K || ft == FT_Q3_K_S || ft == FT_Q3_K_M || ft == FT_IQ4_NL || ft == FT_Q4_K_S ||
                    ft == FT_Q4_K_M || ft == FT_IQ4_XS)
                    t = HEARTH_TYPE_Q5_K;
            } else {
                if (ft == FT_Q2_K)
                    t = HEARTH_TYPE_Q3_K;
                else if (ft == FT_Q3_K_M)
                    t = HEARTH_TYPE_Q4_K;
                else if (ft == FT_Q3_K_L)
                    t = HEARTH_TYPE_Q5_K;
            }
        } else if (ft == FT_Q3_K_L) {
            t = HEARTH_TYPE_Q4_K;
        }
    } else if (strstr(name, "attn_qkv.weight")) {
        if (ft == FT_Q3_K_M || ft == FT_Q3_K_L)
            t = HEARTH_TYPE_Q4_K;
        else if (ft == FT_Q4_K_M)
            t = HEARTH_TYPE_Q5_K;
        else if (ft == FT_Q5_K_M)
            t = HEARTH_TYPE_Q6_K;
    } else if (strstr(name, "ffn_gate")) {
        if (!layer_info(r, r->i_ffn_gate, name, &il)) return HEARTH_TYPE_COUNT;
        r->i_ffn_gate++; /* only IQ3_XS changes it */
    } else if (strstr(name, "ffn_up")) {
        if (!layer_info(r, r->i_ffn_up, name, &il)) return HEARTH_TYPE_COUNT;
        r->i_ffn_up++;
    }
    return t;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* ggml_n_dims: trailing dimensions of size 1 do not count. */
static int real_dims(const hearth_gguf_tensor *t) {
    for (int i = 3; i >= 1; i--)
        if (t->ne[i] > 1) return i + 1;
    return 1;
}

/* Whether llama-quantize converts this tensor at all (it copies the rest):
 * matrices named *weight, except norms, MoE routers, position / token-type
 * embeddings and a few small special matrices. */
static bool is_quantizable(const char *name, const hearth_gguf_tensor *t) {
    static const char *const never[] = {
        "_norm.weight",           "ffn_gate_inp.weight",      "ssm_conv1d.weight",
        "time_mix_first.weight",  "time_mix_w1.weight",       "time_mix_w2.weight",
        "time_mix_decay_w1.weight", "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight",
        "attn_rel_b.weight",
    };
    if (real_dims(t) < 2 || !ends_with(name, "weight")) return false;
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++)
        if (strstr(name, never[i])) return false;
    return strcmp(name, "position_embd.weight") != 0 && strcmp(name, "token_types.weight") != 0;
}

/* ---- plan ----------------------------------------------------------------------- */

typedef struct plan_item {
    const hearth_gguf_tensor *t;
    char *name;
    long layer;
    uint32_t to_type, wanted_type;
    bool convert, fallback;
    uint64_t to_bytes;
} plan_item;

/* The weights-map order: layer number (-1 outside blocks), then name. */
static int plan_cmp(const void *a, const void *b) {
    const plan_item *x = a, *y = b;
    if (x->layer != y->layer) return x->layer < y->layer ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Reads an integer hyperparameter "<arch>.<suffix>" (first element when it
 * is a per-layer array); def when absent or unusable. */
static int64_t arch_int(const hearth_gguf *g, const char *arch, const char *suffix, int64_t def) {
    char key[256];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    const hearth_gguf_kv *kv = hearth_gguf_find(g, key);
    if (!kv) return def;
    switch (kv->type) {
    case HEARTH_GGUF_UINT8:
    case HEARTH_GGUF_UINT16:
    case HEARTH_GGUF_UINT32:
    case HEARTH_GGUF_UINT64: return kv->v.u64 > INT32_MAX ? def : (int64_t)kv->v.u64;
    case HEARTH_GGUF_INT8:
    case HEARTH_GGUF_INT16:
    case HEARTH_GGUF_INT32:
    case HEARTH_GGUF_INT64: return kv->v.i64 < 0 || kv->v.i64 > INT32_MAX ? def : kv->v.i64;
    case HEARTH_GGUF_ARRAY:
        if (kv->v.arr.n > 0 && kv->v.arr.elem_type != HEARTH_GGUF_STRING) {
            int64_t v = hearth_gguf_arr_i64(kv, 0);
            return v < 0 || v > INT32_MAX ? def : v;
        }
        return def;
    default: return def;
    }
}

/* Sets up the recipe's model facts from the metadata. */
static void recipe_init(recipe *r, const hearth_gguf *g, uint32_t ftype, uint32_t base, bool pure) {
    memset(r, 0, sizeof *r);
    r->ftype = ftype;
    r->base = base;
    r->pure = pure;
    char arch[128] = "";
    hearth_str a;
    if (hearth_gguf_get_str(g, "general.architecture", &a) == HEARTH_OK && a.len < sizeof arch) {
        memcpy(arch, a.ptr, (size_t)a.len);
        arch[a.len] = '\0';
    }
    r->n_layer = (int)arch_int(g, arch, "block_count", 0);
    r->n_expert = (int)arch_int(g, arch, "expert_count", 0);
    int64_t n_head = arch_int(g, arch, "attention.head_count", 0);
    int64_t n_head_kv = arch_int(g, arch, "attention.head_count_kv", n_head);
    r->n_gqa = n_head_kv > 0 ? (int)(n_head / n_head_kv) : 0;
    r->falcon = strcmp(arch, "falcon") == 0;
    /* llama.cpp's LLM_TYPE_70B: an 80-layer llama with grouped KV heads. */
    r->is_70b = strcmp(arch, "llama") == 0 && r->n_expert != 8 && r->n_layer == 80 && n_head != n_head_kv;
}

/* Builds the sorted plan and decides every type. Returns OK, or
 * UNSUPPORTED / FORMAT / NOMEM with detail. Does not block. */
static hearth_status make_plan(const hearth_gguf *g, recipe *r, plan_item **out, uint64_t *n_out) {
    uint64_t n = hearth_gguf_n_tensors(g);
    plan_item *p = hearth_calloc(n ? (size_t)n : 1, sizeof *p);
    if (!p) return hearth_error_set(HEARTH_ERR_NOMEM, "quantize: tensor plan");
    *out = p;
    *n_out = n;
    for (uint64_t i = 0; i < n; i++) {
        const hearth_gguf_tensor *t = hearth_gguf_tensor_at(g, i);
        p[i].t = t;
        p[i].name = hearth_strndup(t->name.ptr, (size_t)t->name.len);
        if (!p[i].name) return hearth_error_set(HEARTH_ERR_NOMEM, "quantize: tensor names");
        if (strlen(p[i].name) != t->name.len)
            return hearth_error_set(HEARTH_ERR_FORMAT, "tensor %llu: name contains a NUL byte",
                                    (unsigned long long)i);
        p[i].layer = layer_of(p[i].name);
    }
    qsort(p, (size_t)n, sizeof *p, plan_cmp);

    for (uint64_t i = 0; i < n; i++) {
        if (strstr(p[i].name, "attn_v.weight") || strstr(p[i].name, "attn_qkv.weight") ||
            strstr(p[i].name, "attn_kv_b.weight"))
            r->n_attention_wv++;
        else if (strcmp(p[i].name, "output.weight") == 0)
            r->has_output = true;
    }

    for (uint64_t i = 0; i < n; i++) {
        plan_item *it = &p[i];
        const hearth_gguf_tensor *t = it->t;
        uint32_t to = t->type;
        if (is_quantizable(it->name, t)) {
            to = r->base;
            if (is_quantized(r->base)) {
                if (!r->pure) {
                    to = recipe_type(r, it->name, t->ne[0]);
                    if (to == HEARTH_TYPE_COUNT) return HEARTH_ERR_FORMAT;
                }
                it->wanted_type = to;
                to = shape_fallback(to, t->ne[0]);
                it->fallback = to != it->wanted_type;
            }
        }
        if (!it->fallback) it->wanted_type = to;
        it->to_type = to;
        it->convert = to != t->type;
        if (it->convert) {
            if (t->type != HEARTH_TYPE_F32 && t->type != HEARTH_TYPE_F16 && t->type != HEARTH_TYPE_BF16) {
                if (is_quantized(t->type))
                    return hearth_error_set(HEARTH_ERR_UNSUPPORTED,
                                            "tensor '%s' is already quantized (%s); quantize from an F32, F16 or "
                                            "BF16 file instead",
                                            it->name, hearth_type_name(t->type));
                return hearth_error_set(HEARTH_ERR_UNSUPPORTED, "tensor '%s': cannot convert type %s", it->name,
                                        hearth_type_name(t->type));
            }
            if (!hearth_type_get_ref(to)->from_float)
                return hearth_error_set(HEARTH_ERR_UNSUPPORTED, "tensor '%s': hearth cannot produce type %s",
                                        it->name, hearth_type_name(to));
        }
        uint64_t rows = (uint64_t)t->ne[1] * (uint64_t)t->ne[2] * (uint64_t)t->ne[3];
        it->to_bytes = it->convert ? rows * hearth_row_size(to, t->ne[0]) : t->nbytes;
    }
    return HEARTH_OK;
}

static void free_plan(plan_item *p, uint64_t n) {
    if (!p) return;
    for (uint64_t i = 0; i < n; i++) hearth_free(p[i].name);
    hearth_free(p);
}

/* ---- conversion -------------------------------------------------------------- */

typedef struct convert_job {
    const uint8_t *src;       /* first row of the chunk */
    uint8_t *dst;             /* output of the chunk */
    int64_t n_per_row, nrows; /* of the chunk */
    size_t in_row, out_row;
    hearth_to_float_fn to_float;
    hearth_from_float_fn from_float;
    bool check_finite;
    uint8_t *scratch;  /* per thread: in_row bytes (aligned copy) + n_per_row floats */
    size_t scratch_stride;
    int64_t *bad_row;  /* per thread: first row with a non-finite value, or -1 */
} convert_job;

/* Converts this thread's share of the chunk's rows. Runs on the pool. */
static void convert_task(void *arg, int ith, int nth) {
    convert_job *j = arg;
    int64_t r0 = j->nrows * ith / nth, r1 = j->nrows * (ith + 1) / nth;
    uint8_t *raw = j->scratch + (size_t)ith * j->scratch_stride;
    float *f = (float *)(raw + (j->in_row + 63) / 64 * 64);
    j->bad_row[ith] = -1;
    for (int64_t r = r0; r < r1; r++) {
        /* Copied first: mapped rows are only as aligned as the file says. */
        memcpy(raw, j->src + (size_t)r * j->in_row, j->in_row);
        j->to_float(raw, f, j->n_per_row);
        if (j->check_finite) {
            for (int64_t k = 0; k < j->n_per_row; k++) {
                if (!isfinite(f[k])) {
                    j->bad_row[ith] = r;
                    return;
                }
            }
        }
        j->from_float(f, j->dst + (size_t)r * j->out_row, j->n_per_row);
    }
}

/* The weight quantizer of a type: llama-quantize's rounding (for Q8_0 the
 * _ref rounding, not the activation quantizer of the traits table). */
static hearth_from_float_fn weight_quantizer(uint32_t t) {
    if (t == HEARTH_TYPE_Q8_0) return hearth_ref_from_float_q8_0;
    return hearth_type_get_ref(t)->from_float;
}

typedef struct run_ctx {
    hearth_threadpool *pool;
    int nth;
    uint8_t *out;
    size_t out_cap;
    uint8_t *scratch;
    size_t scratch_cap;
    int64_t bad_row[256];
} run_ctx;

/* Grows *buf to at least n bytes (64-byte aligned); false on NOMEM. */
static bool ensure(uint8_t **buf, size_t *cap, size_t n) {
    if (n <= *cap) return true;
    hearth_free_aligned(*buf);
    *cap = 0;
    *buf = hearth_malloc_aligned(n, 64);
    if (!*buf) return false;
    *cap = n;
    return true;
}

/* Converts one tensor chunk by chunk and streams it to the writer.
 * Blocks on CPU and I/O. */
static hearth_status convert_tensor(run_ctx *c, hearth_gguf_writer *w, const plan_item *it) {
    const hearth_gguf_tensor *t = it->t;
    const int64_t n_per_row = t->ne[0];
    const int64_t nrows = t->ne[1] * t->ne[2] * t->ne[3];
    const size_t in_row = hearth_row_size(t->type, n_per_row);
    const size_t out_row = hearth_row_size(it->to_type, n_per_row);
    if (in_row == 0 || out_row == 0)
        return hearth_error_set(HEARTH_ERR_INTERNAL, "tensor '%s': bad row size", it->name);
    int64_t chunk = (int64_t)(CHUNK_FLOATS / (uint64_t)n_per_row);
    if (chunk < c->nth) chunk = c->nth;
    if (chunk > nrows) chunk = nrows;
    if ((uint64_t)chunk > SIZE_MAX / out_row) return hearth_error_set(HEARTH_ERR_RANGE, "tensor '%s' too large", it->name);
    size_t stride = (in_row + 63) / 64 * 64 + ((size_t)n_per_row * sizeof(float) + 63) / 64 * 64;
    if (!ensure(&c->out, &c->out_cap, (size_t)chunk * out_row) ||
        !ensure(&c->scratch, &c->scratch_cap, stride * (size_t)c->nth))
        return hearth_error_set(HEARTH_ERR_NOMEM, "tensor '%s': conversion buffers", it->name);

    convert_job j = {
        .n_per_row = n_per_row,
        .in_row = in_row,
        .out_row = out_row,
        .to_float = hearth_type_get_ref(t->type)->to_float,
        .from_float = weight_quantizer(it->to_type),
        .check_finite = is_quantized(it->to_type),
        .scratch = c->scratch,
        .scratch_stride = stride,
        .bad_row = c->bad_row,
    };
    for (int64_t r = 0; r < nrows; r += chunk) {
        j.nrows = nrows - r < chunk ? nrows - r : chunk;
        j.src = (const uint8_t *)t->data + (size_t)r * in_row;
        j.dst = c->out;
        hearth_threadpool_run(c->pool, convert_task, &j);
        for (int i = 0; i < c->nth; i++)
            if (c->bad_row[i] >= 0)
                return hearth_error_set(HEARTH_ERR_FORMAT, "tensor '%s': row %lld has a NaN or infinite value",
                                        it->name, (long long)(r + c->bad_row[i]));
        hearth_status st = hearth_gguf_writer_write(w, c->out, (size_t)j.nrows * out_row);
        if (st != HEARTH_OK) return st;
    }
    return HEARTH_OK;
}

/* Copies a tensor's bytes unchanged, in pieces. Blocks on I/O. */
static hearth_status copy_tensor(hearth_gguf_writer *w, const hearth_gguf_tensor *t) {
    const uint8_t *p = t->data;
    uint64_t left = t->nbytes;
    while (left > 0) {
        size_t k = left < (64u << 20) ? (size_t)left : (64u << 20);
        hearth_status st = hearth_gguf_writer_write(w, p, k);
        if (st != HEARTH_OK) return st;
        p += k;
        left -= k;
    }
    return HEARTH_OK;
}

/* Writes the header: the input's metadata with the file type and
 * quantization version set and split keys removed, then the tensor table. */
static hearth_status build_header(hearth_gguf_writer *w, const hearth_gguf *g, const recipe *r,
                                  const plan_item *p, uint64_t n) {
    hearth_status st = hearth_gguf_writer_copy_kvs(w, g);
    if (st == HEARTH_OK) st = hearth_gguf_writer_set_u32(w, "general.quantization_version", QUANT_VERSION);
    if (st == HEARTH_OK) st = hearth_gguf_writer_set_u32(w, "general.file_type", r->ftype);
    if (st != HEARTH_OK) return st;
    hearth_gguf_writer_remove(w, "split.no");
    hearth_gguf_writer_remove(w, "split.count");
    hearth_gguf_writer_remove(w, "split.tensors.count");
    for (uint64_t i = 0; i < n && st == HEARTH_OK; i++)
        st = hearth_gguf_writer_add_tensor(w, p[i].name, p[i].t->n_dims, p[i].t->ne, p[i].to_type);
    return st;
}

/* Quantizes in_path into out_path. Blocks on file I/O and CPU. */
hearth_status hearth_quantize_file(const char *in_path, const char *out_path, const char *target_name,
                                   int n_threads, bool pure, hearth_quantize_progress_fn progress, void *user,
                                   hearth_quantize_stats *stats) {
    if (stats) memset(stats, 0, sizeof *stats);
    if (!in_path || !out_path || !*in_path || !*out_path)
        return hearth_error_set(HEARTH_ERR_INVALID, "quantize: input and output paths are required");
    uint32_t ftype, base;
    hearth_status st = hearth_quantize_parse_target(target_name, &ftype, &base);
    if (st != HEARTH_OK) return st;
    if (n_threads <= 0) n_threads = hearth_physical_cores();
    if (n_threads > 256) n_threads = 256;

    hearth_gguf *g = NULL;
    hearth_gguf_writer *w = NULL;
    hearth_threadpool *pool = NULL;
    plan_item *plan = NULL;
    uint64_t n = 0;
    run_ctx c = {0};

    st = hearth_gguf_open(in_path, &g);
    if (st != HEARTH_OK) goto done;
    uint32_t split_count = 1;
    if (hearth_gguf_get_u32(g, "split.count", &split_count) == HEARTH_OK && split_count > 1) {
        st = hearth_error_set(HEARTH_ERR_UNSUPPORTED, "%s: split GGUF files (%u parts) are not supported", in_path,
                              split_count);
        goto done;
    }
    recipe r;
    recipe_init(&r, g, ftype, base, pure);
    st = make_plan(g, &r, &plan, &n);
    if (st != HEARTH_OK) goto done;

    st = hearth_gguf_writer_new(&w);
    if (st == HEARTH_OK) st = build_header(w, g, &r, plan, n);
    if (st == HEARTH_OK) st = hearth_threadpool_new(n_threads, &pool);
    if (st != HEARTH_OK) goto done;
    c.pool = pool;
    c.nth = n_threads;
    st = hearth_gguf_writer_open(w, out_path);
    if (st != HEARTH_OK) goto done;

    hearth_quantize_stats s = {0};
    s.ftype = ftype;
    s.n_tensors = n;
    s.in_file_bytes = hearth_gguf_file_size(g);
    s.out_file_bytes = hearth_gguf_writer_file_size(w);
    for (uint64_t i = 0; i < n; i++) {
        const plan_item *it = &plan[i];
        if (progress) {
            hearth_quantize_tensor_info info = {
                .name = it->name,
                .index = i,
                .count = n,
                .n_dims = it->t->n_dims,
                .from_type = it->t->type,
                .to_type = it->to_type,
                .wanted_type = it->wanted_type,
                .converted = it->convert,
                .fallback = it->fallback,
                .from_bytes = it->t->nbytes,
                .to_bytes = it->to_bytes,
            };
            memcpy(info.ne, it->t->ne, sizeof info.ne);
            progress(user, &info);
        }
        st = it->convert ? convert_tensor(&c, w, it) : copy_tensor(w, it->t);
        if (st != HEARTH_OK) goto done;
        s.in_tensor_bytes += it->t->nbytes;
        s.out_tensor_bytes += it->to_bytes;
        s.n_converted += it->convert;
        s.n_fallback += it->fallback;
    }
    st = hearth_gguf_writer_finish(w);
    if (st == HEARTH_OK && stats) *stats = s;

done:
    hearth_gguf_writer_free(w); /* removes the .tmp of a failed run */
    hearth_threadpool_free(pool);
    hearth_free_aligned(c.out);
    hearth_free_aligned(c.scratch);
    free_plan(plan, n);
    hearth_gguf_free(g);
    return st;
}
