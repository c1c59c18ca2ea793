/* vocab_internal.h - the vocabulary's layout, shared by the tokenizer files
 * (vocab.c: loading, special tokens, SPM, WPM, detokenization; tok_bpe.c:
 * byte-level BPE and its pre-tokenizers). Not a public header. */
#ifndef HEARTH_VOCAB_INTERNAL_H
#define HEARTH_VOCAB_INTERNAL_H

#include <stdint.h>

#include "hearth/alloc.h"
#include "hearth/tokenizer.h"

/* BPE pre-tokenizer kinds, from tokenizer.ggml.pre. */
typedef enum hearth_bpe_pre {
    HEARTH_PRE_DEFAULT = 0, /* llama.cpp's default BPE regexes */
    HEARTH_PRE_GPT2,
    HEARTH_PRE_LLAMA3,
    HEARTH_PRE_QWEN2,
    HEARTH_PRE_DEEPSEEK_LLM,
    HEARTH_PRE_DEEPSEEK_CODER,
    HEARTH_PRE_DEEPSEEK3_LLM,
    HEARTH_PRE_FALCON,
    HEARTH_PRE_STARCODER,
    HEARTH_PRE_MPT,
    HEARTH_PRE_REFACT,
    HEARTH_PRE_SMOLLM,
    /* added by tok_bpe.c's author: llama.cpp's other pre-types, so that
     * names sharing a regex keep their own load-time settings */
    HEARTH_PRE_COMMAND_R,
    HEARTH_PRE_STABLELM2,
    HEARTH_PRE_OLMO,
    HEARTH_PRE_DBRX,
    HEARTH_PRE_SMAUG,
    HEARTH_PRE_PORO,
    HEARTH_PRE_CHATGLM4,
    HEARTH_PRE_VIKING,
    HEARTH_PRE_JAIS,
    HEARTH_PRE_TEKKEN,
    HEARTH_PRE_CODESHELL,
    HEARTH_PRE_BLOOM,
    HEARTH_PRE_GPT3_FINNISH,
    HEARTH_PRE_EXAONE,
    HEARTH_PRE_CHAMELEON,
    HEARTH_PRE_MINERVA,
    HEARTH_PRE_GPT4O,
    HEARTH_PRE_COUNT
} hearth_bpe_pre;

/* What llama.cpp sets at load time for a tokenizer.ggml.pre name. */
typedef struct hearth_bpe_pre_info {
    hearth_bpe_pre pre;
    bool clean_spaces;   /* detokenizer clean-up (true unless the name turns it off) */
    bool ignore_merges;  /* emit whole-piece vocab hits (llama3 family, tekken) */
    bool add_bos;        /* forces add_bos = true (llama3 family, tekken, chameleon) */
    bool no_bos;         /* BOS id is cleared (chatglm-bpe / glm4) */
} hearth_bpe_pre_info;

/* A growable id array. */
typedef struct hearth_idbuf {
    int32_t *ids;
    size_t n, cap;
} hearth_idbuf;

static inline hearth_status hearth_idbuf_push(hearth_idbuf *b, int32_t id) {
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        int32_t *p = hearth_reallocarray(b->ids, cap, sizeof *p);
        if (!p) return HEARTH_ERR_NOMEM;
        b->ids = p;
        b->cap = cap;
    }
    b->ids[b->n++] = id;
    return HEARTH_OK;
}

typedef struct hearth_bpe_ranks hearth_bpe_ranks; /* owned by tok_bpe.c */

struct hearth_vocab {
    const hearth_gguf *gguf;       /* owns the token texts */
    hearth_vocab_kind kind;
    char model_name[32];           /* tokenizer.ggml.model */
    char pre_name[64];             /* tokenizer.ggml.pre ("default" when absent) */
    hearth_bpe_pre pre;            /* BPE only */
    int32_t n_tokens;
    hearth_str *text;              /* [n_tokens] views into the mapping */
    float *scores;                 /* [n_tokens]; 0 when the file has none */
    uint8_t *type;                 /* [n_tokens] hearth_token_type, after retyping */
    uint8_t *attr;                 /* [n_tokens] HEARTH_TOKEN_ATTR_* bits */
    /* text -> id hash table (open addressing), owned */
    int32_t *hash_slots;
    uint32_t hash_mask;
    /* special ids, -1 when absent */
    int32_t bos, eos, eot, eom, unk, sep, pad, cls, mask, nl;
    int32_t *eog;                  /* end-of-generation ids */
    size_t n_eog;
    bool add_bos, add_eos;
    bool add_space_prefix;         /* SPM: prepend U+2581 to the first fragment */
    bool clean_spaces;             /* detokenizer space clean-up */
    bool ignore_merges;            /* BPE (LLAMA3): emit whole-piece vocab hits */
    int32_t byte_token[256];       /* SPM: id of <0xXX>; -1 when absent */
    int32_t *special;              /* special-token candidates, longest text first */
    size_t n_special;
    hearth_bpe_ranks *bpe;         /* BPE merges, owned */
    size_t max_token_len;          /* longest token text in bytes (WordPiece bound) */
};

enum {
    HEARTH_TOKEN_ATTR_LSTRIP = 1,
    HEARTH_TOKEN_ATTR_RSTRIP = 2
};

/* tok_bpe.c: builds the merge-rank table from tokenizer.ggml.merges. */
hearth_status hearth_bpe_ranks_new(const hearth_vocab *v, const hearth_gguf_kv *merges,
                                   hearth_bpe_ranks **out);
void hearth_bpe_ranks_free(hearth_bpe_ranks *r);
/* Maps tokenizer.ggml.pre to a kind; HEARTH_ERR_UNSUPPORTED for unknown names. */
hearth_status hearth_bpe_pre_from_name(const char *name, hearth_bpe_pre *out);
/* The same, with the settings llama.cpp ties to the name (BPE vocabs only). */
hearth_status hearth_bpe_pre_lookup(const char *name, hearth_bpe_pre_info *out);
/* Tokenizes one raw-text fragment (no special tokens in it): pre-tokenizes with
 * v->pre's regexes, then merges each piece by rank. Appends to out. */
hearth_status hearth_bpe_encode_fragment(const hearth_vocab *v, const char *text, size_t len,
                                         hearth_idbuf *out);
/* The pre-tokenizer alone (for tests): *ends (hearth_free) receives the end
 * of each piece as a code point offset into the decoded text. */
hearth_status hearth_bpe_pre_split(hearth_bpe_pre pre, const char *text, size_t len,
                                   size_t **ends, size_t *n_pieces);

#endif
