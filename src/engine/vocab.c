/* vocab.c - loading a vocabulary from GGUF metadata (token list, types,
 * special ids, llama.cpp's load-time retyping and per-model attributes), the
 * text->id hash table, special-token partitioning and the tokenize entry
 * point that dispatches to SPM (tok_spm.c), BPE (tok_bpe.c) and WPM
 * (tok_wpm.c). Behaviour follows llama.cpp's llama-vocab.cpp (commit c392e50)
 * as described in ../shared/tokenizer/README.md. */
#include "engine/vocab_impl.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* byte buffer                                                         */

/* Returns HEARTH_OK after appending, or HEARTH_ERR_NOMEM. Never blocks. */
hearth_status hearth_bytebuf_put(hearth_bytebuf *b, const void *data, size_t len) {
    if (len == 0) return HEARTH_OK;
    if (len > SIZE_MAX / 2 - b->n) return hearth_error_set(HEARTH_ERR_NOMEM, "buffer too large");
    if (b->n + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + len + 1) cap *= 2;
        char *p = hearth_realloc(b->p, cap);
        if (!p) return hearth_error_set(HEARTH_ERR_NOMEM, "out of memory growing a text buffer");
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, len);
    b->n += len;
    b->p[b->n] = '\0';
    return HEARTH_OK;
}

/* ------------------------------------------------------------------ */
/* text -> id hash table                                               */

/* FNV-1a; returns the 32-bit hash of s[0..len). */
static uint32_t hash_bytes(const char *s, size_t len) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

/* Returns the id whose text equals s[0..len), or -1. Never blocks. */
int32_t hearth_vocab_lookup(const hearth_vocab *v, const char *s, size_t len) {
    if (!v || !v->hash_slots || len == 0) return -1;
    uint32_t i = hash_bytes(s, len) & v->hash_mask;
    for (;;) {
        int32_t id = v->hash_slots[i];
        if (id < 0) return -1;
        hearth_str t = v->text[id];
        if (t.len == len && memcmp(t.ptr, s, len) == 0) return id;
        i = (i + 1) & v->hash_mask;
    }
}

/* Builds the hash table. A repeated text maps to its last id, as
 * llama.cpp's token_to_id[word] = i does. Empty texts are not indexed.
 * Returns HEARTH_OK or HEARTH_ERR_NOMEM. */
static hearth_status build_hash(hearth_vocab *v) {
    uint64_t want = (uint64_t)v->n_tokens * 2;
    uint64_t cap = 16;
    while (cap < want) cap *= 2;
    v->hash_slots = hearth_malloc((size_t)cap * sizeof(int32_t));
    if (!v->hash_slots) return hearth_error_set(HEARTH_ERR_NOMEM, "out of memory for the token hash");
    memset(v->hash_slots, 0xff, (size_t)cap * sizeof(int32_t));
    v->hash_mask = (uint32_t)(cap - 1);
    for (int32_t id = 0; id < v->n_tokens; id++) {
        hearth_str t = v->text[id];
        if (t.len == 0) continue;
        uint32_t i = hash_bytes(t.ptr, (size_t)t.len) & v->hash_mask;
        for (;;) {
            int32_t o = v->hash_slots[i];
            if (o < 0) {
                v->hash_slots[i] = id;
                break;
            }
            hearth_str ot = v->text[o];
            if (ot.len == t.len && memcmp(ot.ptr, t.ptr, (size_t)t.len) == 0) {
                v->hash_slots[i] = id;
                break;
            }
            i = (i + 1) & v->hash_mask;
        }
    }
    return HEARTH_OK;
}

/* ------------------------------------------------------------------ */
/* loading                                                             */

/* Returns true when a view equals the C string. */
static bool str_is(hearth_str s, const char *c) {
    size_t n = strlen(c);
    return s.len == n && memcmp(s.ptr, c, n) == 0;
}

/* Reads an optional special id key into *id. A value that is not a valid
 * token id keeps the default, as llama.cpp does ("bad special token ...,
 * using default id"); a non-integer value is a format error. */
static hearth_status read_special_id(const hearth_gguf *g, const char *key, int32_t n_tokens,
                                     int32_t *id) {
    const hearth_gguf_kv *kv = hearth_gguf_find(g, key);
    if (!kv) return HEARTH_OK;
    int64_t val;
    switch (kv->type) {
    case HEARTH_GGUF_UINT8: case HEARTH_GGUF_UINT16: case HEARTH_GGUF_UINT32: case HEARTH_GGUF_UINT64:
        val = kv->v.u64 > (uint64_t)INT32_MAX ? -1 : (int64_t)kv->v.u64;
        break;
    case HEARTH_GGUF_INT8: case HEARTH_GGUF_INT16: case HEARTH_GGUF_INT32: case HEARTH_GGUF_INT64:
        val = kv->v.i64;
        break;
    default:
        return hearth_error_set(HEARTH_ERR_FORMAT, "%s has type %s, expected an integer", key,
                                hearth_gguf_vtype_name(kv->type));
    }
    if (val >= 0 && val < n_tokens) *id = (int32_t)val;
    return HEARTH_OK;
}

/* Reads an optional bool key into *out; a non-bool value is a format error. */
static hearth_status read_bool(const hearth_gguf *g, const char *key, bool *out) {
    const hearth_gguf_kv *kv = hearth_gguf_find(g, key);
    if (!kv) return HEARTH_OK;
    if (kv->type != HEARTH_GGUF_BOOL)
        return hearth_error_set(HEARTH_ERR_FORMAT, "%s has type %s, expected bool", key,
                                hearth_gguf_vtype_name(kv->type));
    *out = kv->v.u64 != 0;
    return HEARTH_OK;
}

/* Reads an optional string key; *found says whether it was there. */
static hearth_status read_str(const hearth_gguf *g, const char *key, hearth_str *out, bool *found) {
    const hearth_gguf_kv *kv = hearth_gguf_find(g, key);
    *found = false;
    if (!kv) return HEARTH_OK;
    if (kv->type != HEARTH_GGUF_STRING)
        return hearth_error_set(HEARTH_ERR_FORMAT, "%s has type %s, expected string", key,
                                hearth_gguf_vtype_name(kv->type));
    *out = kv->v.str;
    *found = true;
    return HEARTH_OK;
}

/* True for integer metadata types. */
static bool is_int_type(hearth_gguf_vtype t) {
    return t == HEARTH_GGUF_UINT8 || t == HEARTH_GGUF_INT8 || t == HEARTH_GGUF_UINT16 ||
           t == HEARTH_GGUF_INT16 || t == HEARTH_GGUF_UINT32 || t == HEARTH_GGUF_INT32 ||
           t == HEARTH_GGUF_UINT64 || t == HEARTH_GGUF_INT64;
}

/* Marks `id` CONTROL (llama.cpp's load-time retyping). */
static void make_control(hearth_vocab *v, int32_t id) {
    if (id >= 0 && id < v->n_tokens) v->type[id] = HEARTH_TOKEN_CONTROL;
}

/* Auto-detects a special id by text when its key was absent: the first text
 * of `names` present in the vocab wins (llama.cpp walks its hash map in an
 * unspecified order; list order is our deterministic choice). The token
 * found becomes CONTROL. */
static void detect_by_text(hearth_vocab *v, int32_t *id, const char *const *names) {
    if (*id >= 0) return;
    for (size_t i = 0; names[i]; i++) {
        int32_t t = hearth_vocab_lookup(v, names[i], strlen(names[i]));
        if (t >= 0) {
            *id = t;
            make_control(v, t);
            return;
        }
    }
}

/* Adds id to the EOG set unless present. Returns HEARTH_OK or NOMEM. */
static hearth_status eog_add(hearth_vocab *v, int32_t id) {
    if (id < 0 || id >= v->n_tokens) return HEARTH_OK;
    for (size_t i = 0; i < v->n_eog; i++)
        if (v->eog[i] == id) return HEARTH_OK;
    int32_t *p = hearth_reallocarray(v->eog, v->n_eog + 1, sizeof *p);
    if (!p) return hearth_error_set(HEARTH_ERR_NOMEM, "out of memory for the EOG set");
    v->eog = p;
    v->eog[v->n_eog++] = id;
    return HEARTH_OK;
}

/* qsort context for the special-token order (no qsort_r in C11). */
static const hearth_vocab *sort_vocab;

/* Orders candidates by decreasing text length, then by id (llama.cpp's
 * std::sort leaves equal lengths unordered; we make it deterministic). */
static int cmp_special(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    uint64_t lx = sort_vocab->text[x].len, ly = sort_vocab->text[y].len;
    if (lx != ly) return lx > ly ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* True if the view contains the C string. */
static bool str_contains(const char *s, size_t n, const char *sub) {
    size_t m = strlen(sub);
    if (m > n) return false;
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(s + i, sub, m) == 0) return true;
    return false;
}

/* Sets or clears an attribute on the token with text `t`, if present. */
static void set_attr_text(hearth_vocab *v, const char *t, uint8_t attr, bool on) {
    int32_t id = hearth_vocab_lookup(v, t, strlen(t));
    if (id < 0) return;
    if (on) v->attr[id] |= attr;
    else v->attr[id] &= (uint8_t)~attr;
}

/* Reads the token list, scores and types. Returns HEARTH_OK,
 * HEARTH_ERR_FORMAT (detail set) or HEARTH_ERR_NOMEM. */
static hearth_status load_tokens(hearth_vocab *v, const hearth_gguf *g) {
    const hearth_gguf_kv *toks = hearth_gguf_find(g, "tokenizer.ggml.tokens");
    if (!toks) return hearth_error_set(HEARTH_ERR_FORMAT, "tokenizer.ggml.tokens is missing");
    if (toks->type != HEARTH_GGUF_ARRAY || toks->v.arr.elem_type != HEARTH_GGUF_STRING)
        return hearth_error_set(HEARTH_ERR_FORMAT, "tokenizer.ggml.tokens is not a string array");
    uint64_t n = toks->v.arr.n;
    if (n == 0) return hearth_error_set(HEARTH_ERR_FORMAT, "tokenizer.ggml.tokens is empty");
    if (n > (uint64_t)INT32_MAX / 4)
        return hearth_error_set(HEARTH_ERR_FORMAT, "tokenizer.ggml.tokens has %llu entries, too many",
                                (unsigned long long)n);

    const hearth_gguf_kv *scores = hearth_gguf_find(g, "tokenizer.ggml.scores");
    if (scores) {
        if (scores->type != HEARTH_GGUF_ARRAY ||
            (scores->v.arr.elem_type != HEARTH_GGUF_FLOAT32 && scores->v.arr.elem_type != HEARTH_GGUF_FLOAT64))
            return hearth_error_set(HEARTH_ERR_FORMAT, "tokenizer.ggml.scores is not a float array");
        if (scores->v.arr.n != n)
            return hearth_error_set(HEARTH_ERR_FORMAT, "tokenizer.ggml.scores has %llu entries, tokens has %llu",
                                    (unsigned long long)scores->v.arr.n, (unsigned long long)n);
    }
    const hearth_gguf_kv *types = hearth_gguf_find(g, "tokenizer.ggml.token_type");
    if (types) {
        if (types->type != HEARTH_GGUF_ARRAY || !is_int_type(types->v.arr.elem_type))
            return hearth_error_set(HEARTH_ERR_FORMAT, "tokenizer.ggml.token_type is not an integer array");
        if (types->v.arr.n != n)
            return hearth_error_set(HEARTH_ERR_FORMAT,
                                    "tokenizer.ggml.token_type has %llu entries, tokens has %llu",
                                    (unsigned long long)types->v.arr.n, (unsigned long long)n);
    }

    v->n_tokens = (int32_t)n;
    v->text = hearth_calloc((size_t)n, sizeof *v->text);
    v->scores = hearth_calloc((size_t)n, sizeof *v->scores);
    v->type = hearth_calloc((size_t)n, 1);
    v->attr = hearth_calloc((size_t)n, 1);
    if (!v->text || !v->scores || !v->type || !v->attr)
        return hearth_error_set(HEARTH_ERR_NOMEM, "out of memory for %llu tokens", (unsigned long long)n);
    for (uint64_t i = 0; i < n; i++) {
        hearth_str t = hearth_gguf_arr_str(toks, i);
        if (!t.ptr) t.ptr = "";
        v->text[i] = t;
        if (t.len > v->max_token_len) v->max_token_len = (size_t)t.len;
        v->scores[i] = scores ? (float)hearth_gguf_arr_f64(scores, i) : 0.0f;
        if (types) {
            int64_t ty = hearth_gguf_arr_i64(types, i);
            /* llama.cpp maps values it does not know to UNDEFINED */
            v->type[i] = (ty >= HEARTH_TOKEN_NORMAL && ty <= HEARTH_TOKEN_BYTE) ? (uint8_t)ty
                                                                                : HEARTH_TOKEN_UNDEFINED;
        } else {
            v->type[i] = HEARTH_TOKEN_NORMAL;
        }
    }
    return HEARTH_OK;
}

/* Special ids, EOG set, retyping and special-token candidates. Returns
 * HEARTH_OK, HEARTH_ERR_FORMAT or HEARTH_ERR_NOMEM. */
static hearth_status load_specials(hearth_vocab *v, const hearth_gguf *g) {
    int32_t fim_pre = -1, fim_suf = -1, fim_mid = -1, fim_pad = -1, fim_rep = -1, fim_sep = -1;
    struct {
        const char *key;
        int32_t *id;
    } keys[] = {
        {"tokenizer.ggml.bos_token_id", &v->bos},
        {"tokenizer.ggml.eos_token_id", &v->eos},
        {"tokenizer.ggml.eot_token_id", &v->eot},
        {"tokenizer.ggml.eom_token_id", &v->eom},
        {"tokenizer.ggml.unknown_token_id", &v->unk},
        {"tokenizer.ggml.seperator_token_id", &v->sep},
        {"tokenizer.ggml.padding_token_id", &v->pad},
        {"tokenizer.ggml.cls_token_id", &v->cls},
        {"tokenizer.ggml.mask_token_id", &v->mask},
        {"tokenizer.ggml.fim_pre_token_id", &fim_pre},
        {"tokenizer.ggml.fim_suf_token_id", &fim_suf},
        {"tokenizer.ggml.fim_mid_token_id", &fim_mid},
        {"tokenizer.ggml.fim_pad_token_id", &fim_pad},
        {"tokenizer.ggml.fim_rep_token_id", &fim_rep},
        {"tokenizer.ggml.fim_sep_token_id", &fim_sep},
        /* deprecated names, read last so they win as in llama.cpp */
        {"tokenizer.ggml.prefix_token_id", &fim_pre},
        {"tokenizer.ggml.suffix_token_id", &fim_suf},
        {"tokenizer.ggml.middle_token_id", &fim_mid},
    };
    hearth_status st;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if ((st = read_special_id(g, keys[i].key, v->n_tokens, keys[i].id)) != HEARTH_OK) return st;

    /* defaults that do not fit a small vocab are no ids at all */
    int32_t *all[] = {&v->bos, &v->eos, &v->eot, &v->eom, &v->unk, &v->sep, &v->pad, &v->cls, &v->mask};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (*all[i] >= v->n_tokens) *all[i] = -1;

    if ((st = read_bool(g, "tokenizer.ggml.add_bos_token", &v->add_bos)) != HEARTH_OK) return st;
    if ((st = read_bool(g, "tokenizer.ggml.add_eos_token", &v->add_eos)) != HEARTH_OK) return st;

    /* the DeepSeek name is <｜end▁of▁sentence｜> with fullwidth bars */
    static const char *const eot_names[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
                                                  "<|endoftext|>", "<EOT>",
                                                  "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
                                                  NULL};
    static const char *const eom_names[] = {"<|eom_id|>", NULL};
    static const char *const pre_names[] = {"<|fim_prefix|>", "<fim-prefix>",
                                            "<\xef\xbd\x9c" "fim\xe2\x96\x81" "begin\xef\xbd\x9c>", "<PRE>", NULL};
    static const char *const suf_names[] = {"<|fim_suffix|>", "<fim-suffix>",
                                            "<\xef\xbd\x9c" "fim\xe2\x96\x81" "hole\xef\xbd\x9c>", "<SUF>", NULL};
    static const char *const mid_names[] = {"<|fim_middle|>", "<fim-middle>",
                                            "<\xef\xbd\x9c" "fim\xe2\x96\x81" "end\xef\xbd\x9c>", "<MID>", NULL};
    static const char *const pad_names[] = {"<|fim_pad|>", "<fim-pad>", "<PAD>", NULL};
    static const char *const rep_names[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", NULL};
    static const char *const sep_names[] = {"<|file_sep|>", "<file_sep>", NULL};
    detect_by_text(v, &v->eot, eot_names);
    detect_by_text(v, &v->eom, eom_names);
    detect_by_text(v, &fim_pre, pre_names);
    detect_by_text(v, &fim_suf, suf_names);
    detect_by_text(v, &fim_mid, mid_names);
    detect_by_text(v, &fim_pad, pad_names);
    detect_by_text(v, &fim_rep, rep_names);
    detect_by_text(v, &fim_sep, sep_names);

    /* end-of-generation set: FIM pad/rep/sep, the EOG texts, then EOS/EOT/EOM */
    if ((st = eog_add(v, fim_pad)) || (st = eog_add(v, fim_rep)) || (st = eog_add(v, fim_sep))) return st;
    static const char *const eog_names[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
                                            "<|endoftext|>", "<|eom_id|>", "<EOT>", NULL};
    for (size_t i = 0; eog_names[i]; i++) {
        int32_t t = hearth_vocab_lookup(v, eog_names[i], strlen(eog_names[i]));
        if (t < 0) continue;
        if ((st = eog_add(v, t)) != HEARTH_OK) return st;
        make_control(v, t);
    }
    if ((st = eog_add(v, v->eos)) || (st = eog_add(v, v->eot)) || (st = eog_add(v, v->eom))) return st;

    /* special-token candidates, longest text first */
    size_t n = 0;
    for (int32_t id = 0; id < v->n_tokens; id++) {
        uint8_t t = v->type[id];
        if ((t == HEARTH_TOKEN_CONTROL || t == HEARTH_TOKEN_USER_DEFINED || t == HEARTH_TOKEN_UNKNOWN) &&
            v->text[id].len > 0)
            n++;
    }
    if (n) {
        v->special = hearth_malloc(n * sizeof *v->special);
        if (!v->special) return hearth_error_set(HEARTH_ERR_NOMEM, "out of memory for special tokens");
        for (int32_t id = 0; id < v->n_tokens; id++) {
            uint8_t t = v->type[id];
            if ((t == HEARTH_TOKEN_CONTROL || t == HEARTH_TOKEN_USER_DEFINED || t == HEARTH_TOKEN_UNKNOWN) &&
                v->text[id].len > 0)
                v->special[v->n_special++] = id;
        }
        sort_vocab = v;
        qsort(v->special, v->n_special, sizeof *v->special, cmp_special);
        sort_vocab = NULL;
    }

    /* per-model attributes llama.cpp sets by name */
    hearth_str name = {0}, pre = {0};
    bool has_name = false, has_pre = false;
    if ((st = read_str(g, "general.name", &name, &has_name)) != HEARTH_OK) has_name = false;
    if ((st = read_str(g, "tokenizer.ggml.pre", &pre, &has_pre)) != HEARTH_OK) return st;
    char lname[256];
    size_t ln = 0;
    if (has_name) {
        ln = name.len < sizeof lname ? (size_t)name.len : sizeof lname - 1;
        for (size_t i = 0; i < ln; i++) {
            char c = name.ptr[i];
            lname[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
        }
    }
    if (has_pre && (str_contains(pre.ptr, (size_t)pre.len, "jina-v2-de") ||
                    str_contains(pre.ptr, (size_t)pre.len, "jina-v2-es") ||
                    str_contains(pre.ptr, (size_t)pre.len, "jina-v2-code"))) {
        set_attr_text(v, "<mask>", HEARTH_TOKEN_ATTR_LSTRIP, true);
    } else if (str_contains(lname, ln, "phi-3") || str_contains(lname, ln, "phi3")) {
        for (size_t i = 0; i < v->n_special; i++) v->attr[v->special[i]] |= HEARTH_TOKEN_ATTR_RSTRIP;
        set_attr_text(v, "</s>", HEARTH_TOKEN_ATTR_RSTRIP, true);
        set_attr_text(v, "<unk>", HEARTH_TOKEN_ATTR_RSTRIP, false);
        set_attr_text(v, "<s>", HEARTH_TOKEN_ATTR_RSTRIP, false);
        set_attr_text(v, "<|endoftext|>", HEARTH_TOKEN_ATTR_RSTRIP, false);
    }
    return HEARTH_OK;
}

/* Returns HEARTH_OK with *out set, or a negative status (detail set): see
 * tokenizer.h. Never blocks (the GGUF is already mapped). */
hearth_status hearth_vocab_load(const hearth_gguf *g, hearth_vocab **out) {
    if (!out) return hearth_error_set(HEARTH_ERR_INVALID, "hearth_vocab_load: out is NULL");
    *out = NULL;
    if (!g) return hearth_error_set(HEARTH_ERR_INVALID, "hearth_vocab_load: no GGUF");

    hearth_str model = {0};
    bool has_model = false;
    hearth_status st = read_str(g, "tokenizer.ggml.model", &model, &has_model);
    if (st != HEARTH_OK) return st;
    if (!has_model) {
        if (hearth_gguf_find(g, "tokenizer.ggml.tokens"))
            return hearth_error_set(HEARTH_ERR_FORMAT, "tokenizer.ggml.tokens present but tokenizer.ggml.model is missing");
        return hearth_error_set(HEARTH_ERR_NOT_FOUND, "the file has no tokenizer (no tokenizer.ggml.model)");
    }
    if (str_is(model, "no_vocab") || str_is(model, "none"))
        return hearth_error_set(HEARTH_ERR_NOT_FOUND, "the file has no tokenizer (tokenizer.ggml.model = %.*s)",
                                (int)model.len, model.ptr);

    hearth_vocab_kind kind;
    if (str_is(model, "llama")) kind = HEARTH_VOCAB_SPM;
    else if (str_is(model, "gpt2")) kind = HEARTH_VOCAB_BPE;
    else if (str_is(model, "bert")) kind = HEARTH_VOCAB_WPM;
    else
        return hearth_error_set(HEARTH_ERR_UNSUPPORTED, "tokenizer.ggml.model '%.*s' is not supported",
                                (int)(model.len > 64 ? 64 : model.len), model.ptr);

    hearth_vocab *v = hearth_calloc(1, sizeof *v);
    if (!v) return hearth_error_set(HEARTH_ERR_NOMEM, "out of memory for the vocab");
    v->gguf = g;
    v->kind = kind;
    memcpy(v->model_name, model.ptr, (size_t)model.len); /* a known name, < 32 bytes */
    v->model_name[model.len] = '\0';
    v->bos = v->eos = v->eot = v->eom = v->unk = v->sep = v->pad = v->cls = v->mask = v->nl = -1;
    for (int i = 0; i < 256; i++) v->byte_token[i] = -1;

    hearth_str pre = {0};
    bool has_pre = false;
    if ((st = read_str(g, "tokenizer.ggml.pre", &pre, &has_pre)) != HEARTH_OK) goto fail;
    if (!has_pre || pre.len == 0) {
        strcpy(v->pre_name, "default");
    } else if (pre.len >= sizeof v->pre_name) {
        if (kind == HEARTH_VOCAB_BPE) {
            st = hearth_error_set(HEARTH_ERR_UNSUPPORTED, "tokenizer.ggml.pre '%.40s...' is not supported", pre.ptr);
            goto fail;
        }
        strcpy(v->pre_name, "default");
    } else {
        memcpy(v->pre_name, pre.ptr, (size_t)pre.len);
        v->pre_name[pre.len] = '\0';
        if (memchr(v->pre_name, '\0', (size_t)pre.len)) {
            st = hearth_error_set(HEARTH_ERR_FORMAT, "tokenizer.ggml.pre contains a NUL byte");
            goto fail;
        }
    }

    /* per-family defaults (llama.cpp llama_vocab::impl::load) */
    switch (kind) {
    case HEARTH_VOCAB_SPM:
        v->bos = 1; v->eos = 2; v->unk = 0;
        v->add_space_prefix = true; v->clean_spaces = false;
        v->add_bos = true; v->add_eos = false;
        break;
    case HEARTH_VOCAB_WPM:
        v->bos = 101; v->unk = 100; v->sep = 102; v->pad = 0; v->mask = 103;
        v->add_space_prefix = false; v->clean_spaces = true;
        v->add_bos = true; v->add_eos = false;
        break;
    case HEARTH_VOCAB_BPE:
    {
        /* the settings llama.cpp ties to tokenizer.ggml.pre live in tok_bpe.c */
        hearth_bpe_pre_info info;
        v->bos = 11; v->eos = 11;
        if ((st = hearth_bpe_pre_lookup(v->pre_name, &info)) != HEARTH_OK) goto fail;
        v->pre = info.pre;
        v->add_space_prefix = false;
        v->clean_spaces = info.clean_spaces;
        v->ignore_merges = info.ignore_merges;
        v->add_bos = info.add_bos;
        v->add_eos = false;
        if (info.no_bos) v->bos = -1;
        break;
    }
    default:
        break;
    }

    if ((st = load_tokens(v, g)) != HEARTH_OK) goto fail;
    if ((st = build_hash(v)) != HEARTH_OK) goto fail;
    if ((st = read_bool(g, "tokenizer.ggml.add_space_prefix", &v->add_space_prefix)) != HEARTH_OK) goto fail;
    if ((st = load_specials(v, g)) != HEARTH_OK) goto fail;
    if (v->cls < 0) v->cls = v->bos;

    if (kind == HEARTH_VOCAB_SPM) {
        static const char hex[] = "0123456789ABCDEF";
        for (int b = 0; b < 256; b++) {
            char buf[6] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>'};
            int32_t id = hearth_vocab_lookup(v, buf, 6);
            if (id < 0) {
                char c = (char)b;
                id = hearth_vocab_lookup(v, &c, 1);
            }
            v->byte_token[b] = id;
        }
        v->nl = v->byte_token['\n'] >= 0 ? v->byte_token['\n'] : v->pad;
    } else if (kind == HEARTH_VOCAB_WPM) {
        v->nl = v->pad;
    } else {
        int32_t id = hearth_vocab_lookup(v, "\xc4\x8a", 2); /* GPT-2 byte map of '\n' */
        v->nl = id >= 0 ? id : v->pad;
    }

    if (kind == HEARTH_VOCAB_BPE) {
        const hearth_gguf_kv *merges = hearth_gguf_find(g, "tokenizer.ggml.merges");
        if (!merges) {
            st = hearth_error_set(HEARTH_ERR_FORMAT, "tokenizer.ggml.merges is missing (needed for gpt2 BPE)");
            goto fail;
        }
        if (merges->type != HEARTH_GGUF_ARRAY || merges->v.arr.elem_type != HEARTH_GGUF_STRING) {
            st = hearth_error_set(HEARTH_ERR_FORMAT, "tokenizer.ggml.merges is not a string array");
            goto fail;
        }
        if ((st = hearth_bpe_ranks_new(v, merges, &v->bpe)) != HEARTH_OK) goto fail;
    }

    *out = v;
    return HEARTH_OK;
fail:
    hearth_vocab_free(v);
    return st;
}

/* Frees the vocab (NULL is a no-op); never blocks. */
void hearth_vocab_free(hearth_vocab *v) {
    if (!v) return;
    hearth_bpe_ranks_free(v->bpe);
    hearth_free(v->text);
    hearth_free(v->scores);
    hearth_free(v->type);
    hearth_free(v->attr);
    hearth_free(v->hash_slots);
    hearth_free(v->eog);
    hearth_free(v->special);
    hearth_free(v);
}

/* ------------------------------------------------------------------ */
/* accessors                                                           */

hearth_vocab_kind hearth_vocab_kind_of(const hearth_vocab *v) { return v ? v->kind : HEARTH_VOCAB_NONE; }
const char *hearth_vocab_model_name(const hearth_vocab *v) { return v ? v->model_name : ""; }
const char *hearth_vocab_pre_name(const hearth_vocab *v) { return v ? v->pre_name : ""; }
int32_t hearth_vocab_n_tokens(const hearth_vocab *v) { return v ? v->n_tokens : 0; }
int32_t hearth_vocab_bos(const hearth_vocab *v) { return v ? v->bos : -1; }
int32_t hearth_vocab_eos(const hearth_vocab *v) { return v ? v->eos : -1; }
int32_t hearth_vocab_eot(const hearth_vocab *v) { return v ? v->eot : -1; }
int32_t hearth_vocab_unk(const hearth_vocab *v) { return v ? v->unk : -1; }
int32_t hearth_vocab_sep(const hearth_vocab *v) { return v ? v->sep : -1; }
int32_t hearth_vocab_pad(const hearth_vocab *v) { return v ? v->pad : -1; }
bool hearth_vocab_add_bos(const hearth_vocab *v) { return v && v->add_bos; }
bool hearth_vocab_add_eos(const hearth_vocab *v) { return v && v->add_eos; }

/* Returns true when id is in the end-of-generation set. */
bool hearth_vocab_is_eog(const hearth_vocab *v, int32_t id) {
    if (!v || id < 0) return false;
    for (size_t i = 0; i < v->n_eog; i++)
        if (v->eog[i] == id) return true;
    return false;
}

/* Returns the token's type, UNDEFINED for a bad id. */
hearth_token_type hearth_vocab_token_type(const hearth_vocab *v, int32_t id) {
    if (!v || id < 0 || id >= v->n_tokens) return HEARTH_TOKEN_UNDEFINED;
    return (hearth_token_type)v->type[id];
}

/* Returns the raw text view of a token; empty for a bad id. */
hearth_str hearth_vocab_token_text(const hearth_vocab *v, int32_t id) {
    hearth_str e = {"", 0};
    if (!v || id < 0 || id >= v->n_tokens) return e;
    return v->text[id];
}

/* Returns the id with exactly this text, or -1. */
int32_t hearth_vocab_find(const hearth_vocab *v, const char *text, size_t len) {
    if (!text) return -1;
    return hearth_vocab_lookup(v, text, len);
}

/* ------------------------------------------------------------------ */
/* special-token partitioning                                          */

/* One piece of the input: a token (tok >= 0) or raw text [off, off+len). */
typedef struct frag {
    int32_t tok;
    size_t off, len;
} frag;

typedef struct fragbuf {
    frag *f;
    size_t n, cap;
} fragbuf;

/* Appends a fragment; returns HEARTH_OK or HEARTH_ERR_NOMEM. */
static hearth_status frag_push(fragbuf *b, int32_t tok, size_t off, size_t len) {
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        frag *p = hearth_reallocarray(b->f, cap, sizeof *p);
        if (!p) return hearth_error_set(HEARTH_ERR_NOMEM, "out of memory splitting special tokens");
        b->f = p;
        b->cap = cap;
    }
    b->f[b->n++] = (frag){tok, off, len};
    return HEARTH_OK;
}

/* First occurrence of pat[0..m) in s[0..n) at or after `from`, or SIZE_MAX. */
static size_t find_bytes(const char *s, size_t n, size_t from, const char *pat, size_t m) {
    if (m == 0 || m > n) return SIZE_MAX;
    const unsigned char first = (unsigned char)pat[0];
    size_t i = from;
    while (i + m <= n) {
        const char *p = memchr(s + i, first, n - m + 1 - i);
        if (!p) return SIZE_MAX;
        i = (size_t)(p - s);
        if (memcmp(p, pat, m) == 0) return i;
        i++;
    }
    return SIZE_MAX;
}

/* ASCII isspace (llama.cpp calls isspace on a char; the C locale's set). */
static bool is_space_byte(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* Splits the raw text at special tokens exactly as llama.cpp's
 * tokenizer_st_partition: each candidate in turn (longest first) splits every
 * remaining raw fragment at each occurrence, with LSTRIP/RSTRIP trimming the
 * neighbouring whitespace. Returns HEARTH_OK or HEARTH_ERR_NOMEM. */
static hearth_status partition(const hearth_vocab *v, const char *text, size_t len, bool parse_special,
                               fragbuf *out) {
    fragbuf cur = {0}, next = {0};
    hearth_status st = HEARTH_OK;
    if (len > 0 && (st = frag_push(&cur, -1, 0, len)) != HEARTH_OK) goto done;
    for (size_t s = 0; s < v->n_special && cur.n > 0; s++) {
        int32_t id = v->special[s];
        uint8_t ty = v->type[id];
        if (!parse_special && (ty == HEARTH_TOKEN_CONTROL || ty == HEARTH_TOKEN_UNKNOWN)) continue;
        const char *pat = v->text[id].ptr;
        size_t m = (size_t)v->text[id].len;
        uint8_t attr = v->attr[id];
        bool any = false;
        next.n = 0;
        for (size_t k = 0; k < cur.n; k++) {
            frag fr = cur.f[k];
            if (fr.tok >= 0 || fr.len < m) {
                if ((st = frag_push(&next, fr.tok, fr.off, fr.len)) != HEARTH_OK) goto done;
                continue;
            }
            size_t off = fr.off, flen = fr.len;
            for (;;) {
                size_t match = find_bytes(text, off + flen, off, pat, m);
                if (match == SIZE_MAX) {
                    if (flen > 0 && (st = frag_push(&next, -1, off, flen)) != HEARTH_OK) goto done;
                    break;
                }
                any = true;
                if (match > off) {
                    size_t llen = match - off;
                    if (attr & HEARTH_TOKEN_ATTR_LSTRIP)
                        while (llen > 0 && is_space_byte(text[off + llen - 1])) llen--;
                    if (llen > 0 && (st = frag_push(&next, -1, off, llen)) != HEARTH_OK) goto done;
                }
                if ((st = frag_push(&next, id, 0, 0)) != HEARTH_OK) goto done;
                size_t end = off + flen;
                size_t roff = match + m;
                if (roff >= end) break;
                if (attr & HEARTH_TOKEN_ATTR_RSTRIP)
                    while (roff < end && is_space_byte(text[roff])) roff++;
                off = roff;
                flen = end - roff;
                if (flen == 0) break;
            }
        }
        if (any) {
            fragbuf t = cur;
            cur = next;
            next = t;
        }
    }
done:
    hearth_free(next.f);
    if (st != HEARTH_OK) {
        hearth_free(cur.f);
        return st;
    }
    *out = cur;
    return HEARTH_OK;
}

/* ------------------------------------------------------------------ */
/* tokenize                                                            */

/* SPM: escapes spaces as U+2581 and optionally prefixes one; then merges.
 * Returns HEARTH_OK or a negative status. */
static hearth_status spm_fragment(const hearth_vocab *v, const char *s, size_t len, bool prefix,
                                  hearth_bytebuf *tmp, hearth_idbuf *out) {
    static const char sp[3] = {'\xe2', '\x96', '\x81'};
    hearth_status st;
    tmp->n = 0;
    if (prefix && (st = hearth_bytebuf_put(tmp, sp, 3)) != HEARTH_OK) return st;
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == ' ') {
            if ((st = hearth_bytebuf_put(tmp, s + run, i - run)) != HEARTH_OK) return st;
            if ((st = hearth_bytebuf_put(tmp, sp, 3)) != HEARTH_OK) return st;
            run = i + 1;
        }
    }
    if ((st = hearth_bytebuf_put(tmp, s + run, len - run)) != HEARTH_OK) return st;
    return hearth_spm_encode_fragment(v, tmp->p ? tmp->p : "", tmp->n, out);
}

/* Returns HEARTH_OK with the ids and their count set (see tokenizer.h) or a negative
 * status. Never blocks. */
hearth_status hearth_tokenize(const hearth_vocab *v, const char *text, size_t len, bool add_special,
                              bool parse_special, int32_t **ids, size_t *n_ids) {
    if (!v || !ids || !n_ids || (!text && len > 0))
        return hearth_error_set(HEARTH_ERR_INVALID, "hearth_tokenize: bad arguments");
    *ids = NULL;
    *n_ids = 0;
    fragbuf frags = {0};
    hearth_idbuf out = {0};
    hearth_bytebuf tmp = {0};
    hearth_status st = partition(v, text, len, parse_special, &frags);
    if (st != HEARTH_OK) return st;

    switch (v->kind) {
    case HEARTH_VOCAB_SPM: {
        bool prev_special = true; /* the first fragment gets the space prefix */
        if (add_special && v->add_bos && v->bos >= 0 && (st = hearth_idbuf_push(&out, v->bos))) goto fail;
        for (size_t i = 0; i < frags.n; i++) {
            frag f = frags.f[i];
            if (f.tok >= 0) {
                if ((st = hearth_idbuf_push(&out, f.tok)) != HEARTH_OK) goto fail;
                prev_special = true;
            } else {
                st = spm_fragment(v, text + f.off, f.len, v->add_space_prefix && prev_special, &tmp, &out);
                if (st != HEARTH_OK) goto fail;
                prev_special = false;
            }
        }
        if (add_special && v->add_eos && v->eos >= 0 && (st = hearth_idbuf_push(&out, v->eos))) goto fail;
        break;
    }
    case HEARTH_VOCAB_BPE:
        if (add_special && v->add_bos && v->bos >= 0 && (st = hearth_idbuf_push(&out, v->bos))) goto fail;
        for (size_t i = 0; i < frags.n; i++) {
            frag f = frags.f[i];
            if (f.tok >= 0) st = hearth_idbuf_push(&out, f.tok);
            else st = hearth_bpe_encode_fragment(v, text + f.off, f.len, &out);
            if (st != HEARTH_OK) goto fail;
        }
        if (add_special && v->add_eos && v->eos >= 0 && (st = hearth_idbuf_push(&out, v->eos))) goto fail;
        break;
    case HEARTH_VOCAB_WPM: {
        /* llama.cpp always adds [CLS] ... [SEP] here, whatever add_bos says */
        int32_t cls = v->bos >= 0 ? v->bos : v->cls;
        if (add_special && cls >= 0 && (st = hearth_idbuf_push(&out, cls))) goto fail;
        for (size_t i = 0; i < frags.n; i++) {
            frag f = frags.f[i];
            if (f.tok >= 0) st = hearth_idbuf_push(&out, f.tok);
            else st = hearth_wpm_encode_fragment(v, text + f.off, f.len, &out);
            if (st != HEARTH_OK) goto fail;
        }
        if (add_special && v->sep >= 0 && (st = hearth_idbuf_push(&out, v->sep))) goto fail;
        break;
    }
    default:
        st = hearth_error_set(HEARTH_ERR_UNSUPPORTED, "vocab has no tokenizer");
        goto fail;
    }
    hearth_free(frags.f);
    hearth_free(tmp.p);
    if (!out.ids) {
        out.ids = hearth_malloc(sizeof(int32_t));
        if (!out.ids) return hearth_error_set(HEARTH_ERR_NOMEM, "out of memory");
    }
    *ids = out.ids;
    *n_ids = out.n;
    return HEARTH_OK;
fail:
    hearth_free(frags.f);
    hearth_free(tmp.p);
    hearth_free(out.ids);
    return st;
}
