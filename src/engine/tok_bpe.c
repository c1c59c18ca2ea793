/* tok_bpe.c - byte-level BPE: llama.cpp's pre-tokenizers and the rank merge.
 *
 * A raw-text fragment goes through three steps, as in llama.cpp's
 * llm_tokenizer_bpe:
 *  1. pre-tokenization: the fragment is decoded to code points and split by
 *     the regex list of its pre-type. Each regex splits every piece left by
 *     the previous one into its matches and the gaps between them. The
 *     regexes are hand-written matchers (one function each) over
 *     precomputed character classes, with the backtracking semantics of the
 *     original pattern worked out per alternative.
 *  2. each piece is re-encoded to UTF-8 (invalid input bytes have become
 *     U+FFFD) and every byte mapped through GPT-2's bytes->unicode table;
 *  3. the mapped piece is merged by rank (tokenizer.ggml.merges order), the
 *     lowest-ranked adjacent pair first, leftmost on ties, with a heap.
 *
 * Character classes. llama.cpp runs the GPT-2 and LLaMA-3 patterns with
 * custom code on its Unicode flags; every other pattern runs through
 * std::regex on a "collapsed" text where a non-ASCII code point becomes one
 * byte per category (whitespace -> \v, letter, number, punctuation, mark,
 * symbol, anything else) and \p{..} becomes that byte plus an ASCII set.
 * The classes below reproduce both: for ASCII, \p{P} and \p{S} are
 * llama.cpp's ASCII sets (in which '~' is neither); for letters, numbers and
 * \s the two views agree. Patterns without \p{..} compare raw code points,
 * with non-ASCII whitespace replaced by \v as llama.cpp does.
 */
#include "engine/vocab_internal.h"

#include <string.h>

#include "engine/unicode.h"

/* ---------------------------------------------------------------- names */

typedef struct pre_name {
    const char *name;
    hearth_bpe_pre pre;
    bool keep_clean;   /* clean_spaces stays on */
    bool ignore_merges;
    bool add_bos;
    bool no_bos;
} pre_name;

/* llama.cpp's llama_vocab::load name table (clean_spaces is on by default
 * for BPE and turned off per name). */
static const pre_name k_pre_names[] = {
    {"default", HEARTH_PRE_DEFAULT, true, false, false, false},
    {"llama3", HEARTH_PRE_LLAMA3, true, true, true, false},
    {"llama-v3", HEARTH_PRE_LLAMA3, true, true, true, false},
    {"llama-bpe", HEARTH_PRE_LLAMA3, true, true, true, false},
    {"falcon3", HEARTH_PRE_LLAMA3, true, true, true, false},
    {"pixtral", HEARTH_PRE_LLAMA3, true, true, true, false},
    {"deepseek-llm", HEARTH_PRE_DEEPSEEK_LLM, false, false, false, false},
    {"deepseek-coder", HEARTH_PRE_DEEPSEEK_CODER, false, false, false, false},
    {"deepseek-v3", HEARTH_PRE_DEEPSEEK3_LLM, false, false, false, false},
    {"falcon", HEARTH_PRE_FALCON, true, false, false, false},
    {"mpt", HEARTH_PRE_MPT, true, false, false, false},
    {"starcoder", HEARTH_PRE_STARCODER, true, false, false, false},
    {"gpt-2", HEARTH_PRE_GPT2, true, false, false, false},
    {"phi-2", HEARTH_PRE_GPT2, true, false, false, false},
    {"jina-es", HEARTH_PRE_GPT2, true, false, false, false},
    {"jina-de", HEARTH_PRE_GPT2, true, false, false, false},
    {"gigachat", HEARTH_PRE_GPT2, true, false, false, false},
    {"jina-v2-es", HEARTH_PRE_GPT2, true, false, false, false},
    {"jina-v2-de", HEARTH_PRE_GPT2, true, false, false, false},
    {"jina-v1-en", HEARTH_PRE_GPT2, true, false, false, false},
    {"jina-v2-code", HEARTH_PRE_GPT2, true, false, false, false},
    {"roberta-bpe", HEARTH_PRE_GPT2, true, false, false, false},
    {"refact", HEARTH_PRE_REFACT, true, false, false, false},
    {"command-r", HEARTH_PRE_COMMAND_R, false, false, false, false},
    {"qwen2", HEARTH_PRE_QWEN2, false, false, false, false},
    {"deepseek-r1-qwen", HEARTH_PRE_QWEN2, false, false, false, false},
    {"megrez", HEARTH_PRE_QWEN2, true, false, false, false},
    {"stablelm2", HEARTH_PRE_STABLELM2, true, false, false, false},
    {"olmo", HEARTH_PRE_OLMO, true, false, false, false},
    {"dbrx", HEARTH_PRE_DBRX, true, false, false, false},
    {"smaug-bpe", HEARTH_PRE_SMAUG, true, false, false, false},
    {"poro-chat", HEARTH_PRE_PORO, false, false, false, false},
    {"chatglm-bpe", HEARTH_PRE_CHATGLM4, true, false, false, true},
    {"glm4", HEARTH_PRE_CHATGLM4, true, false, false, true},
    {"viking", HEARTH_PRE_VIKING, false, false, false, false},
    {"jais", HEARTH_PRE_JAIS, true, false, false, false},
    {"tekken", HEARTH_PRE_TEKKEN, false, true, true, false},
    {"smollm", HEARTH_PRE_SMOLLM, false, false, false, false},
    {"codeshell", HEARTH_PRE_CODESHELL, true, false, false, false},
    {"bloom", HEARTH_PRE_BLOOM, true, false, false, false},
    {"gpt3-finnish", HEARTH_PRE_GPT3_FINNISH, true, false, false, false},
    {"exaone", HEARTH_PRE_EXAONE, true, false, false, false},
    {"chameleon", HEARTH_PRE_CHAMELEON, false, false, true, false},
    {"minerva-7b", HEARTH_PRE_MINERVA, true, false, false, false},
    {"gpt-4o", HEARTH_PRE_GPT4O, false, false, false, false},
    {"llama4", HEARTH_PRE_GPT4O, false, false, false, false},
};

/* Returns HEARTH_OK and the settings for a known name, else
 * HEARTH_ERR_UNSUPPORTED naming it. Never blocks. */
hearth_status hearth_bpe_pre_lookup(const char *name, hearth_bpe_pre_info *out) {
    if (!name || !out) return hearth_error_set(HEARTH_ERR_INVALID, "bpe pre lookup: NULL argument");
    for (size_t i = 0; i < sizeof k_pre_names / sizeof k_pre_names[0]; i++) {
        const pre_name *p = &k_pre_names[i];
        if (strcmp(p->name, name) == 0) {
            out->pre = p->pre;
            out->clean_spaces = p->keep_clean;
            out->ignore_merges = p->ignore_merges;
            out->add_bos = p->add_bos;
            out->no_bos = p->no_bos;
            return HEARTH_OK;
        }
    }
    return hearth_error_set(HEARTH_ERR_UNSUPPORTED, "unknown BPE pre-tokenizer '%s' (tokenizer.ggml.pre)",
                            name);
}

/* Returns HEARTH_OK and the kind of a known name, else
 * HEARTH_ERR_UNSUPPORTED (*out = DEFAULT). Never blocks. */
hearth_status hearth_bpe_pre_from_name(const char *name, hearth_bpe_pre *out) {
    hearth_bpe_pre_info info;
    hearth_status st = hearth_bpe_pre_lookup(name, &info);
    if (out) *out = st == HEARTH_OK ? info.pre : HEARTH_PRE_DEFAULT;
    return st;
}

/* ---------------------------------------------------------------- ranks */

typedef struct merge_entry {
    const char *s; /* "left right" in the GGUF mapping */
    uint32_t len;
    uint32_t split; /* index of the separating space */
} merge_entry;

struct hearth_bpe_ranks {
    merge_entry *e;   /* [n], index = rank */
    size_t n;
    int32_t *slots;   /* rank or -1 */
    uint64_t mask;
};

/* FNV-1a over left, one space, right: the hash of the merge string itself. */
static uint64_t pair_hash(const char *l, size_t ll, const char *r, size_t rl) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < ll; i++) h = (h ^ (unsigned char)l[i]) * 1099511628211ull;
    h = (h ^ (unsigned char)' ') * 1099511628211ull;
    for (size_t i = 0; i < rl; i++) h = (h ^ (unsigned char)r[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

/* Returns the rank of merging l and r, or -1. Never blocks. */
static int32_t rank_find(const hearth_bpe_ranks *rk, const char *l, size_t ll, const char *r,
                         size_t rl) {
    if (!rk || !rk->slots) return -1;
    uint64_t i = pair_hash(l, ll, r, rl) & rk->mask;
    for (;;) {
        int32_t k = rk->slots[i];
        if (k < 0) return -1;
        const merge_entry *e = &rk->e[k];
        if (e->split == ll && e->len == ll + 1 + rl && memcmp(e->s, l, ll) == 0 &&
            memcmp(e->s + ll + 1, r, rl) == 0)
            return k;
        i = (i + 1) & rk->mask;
    }
}

/* Builds the rank table; merge strings stay views into the GGUF mapping.
 * As in llama.cpp a merge splits at its first space after byte 0, and a
 * repeated pair keeps its first (best) rank. Returns HEARTH_ERR_FORMAT when
 * the merges are not a string array, HEARTH_ERR_NOMEM. Never blocks. */
hearth_status hearth_bpe_ranks_new(const hearth_vocab *v, const hearth_gguf_kv *merges,
                                   hearth_bpe_ranks **out) {
    (void)v;
    if (!out) return hearth_error_set(HEARTH_ERR_INVALID, "bpe ranks: NULL out");
    *out = NULL;
    if (!merges)
        return hearth_error_set(HEARTH_ERR_FORMAT, "BPE vocab without tokenizer.ggml.merges");
    if (merges->type != HEARTH_GGUF_ARRAY || merges->v.arr.elem_type != HEARTH_GGUF_STRING)
        return hearth_error_set(HEARTH_ERR_FORMAT, "tokenizer.ggml.merges is not a string array");
    uint64_t n = merges->v.arr.n;
    if (n > (uint64_t)INT32_MAX / 4)
        return hearth_error_set(HEARTH_ERR_FORMAT, "tokenizer.ggml.merges: %llu entries is too many",
                                (unsigned long long)n);
    hearth_bpe_ranks *rk = hearth_calloc(1, sizeof *rk);
    if (!rk) return HEARTH_ERR_NOMEM;
    uint64_t cap = 16;
    while (cap < 2 * n) cap <<= 1;
    rk->e = hearth_calloc(n ? n : 1, sizeof *rk->e);
    rk->slots = hearth_malloc(cap * sizeof *rk->slots);
    if (!rk->e || !rk->slots) {
        hearth_bpe_ranks_free(rk);
        return HEARTH_ERR_NOMEM;
    }
    memset(rk->slots, 0xFF, cap * sizeof *rk->slots);
    rk->mask = cap - 1;
    rk->n = n;
    for (uint64_t i = 0; i < n; i++) {
        hearth_str s = hearth_gguf_arr_str(merges, i);
        const char *sp = s.len > 1 ? memchr(s.ptr + 1, ' ', s.len - 1) : NULL;
        if (!sp || s.len > UINT32_MAX) continue; /* llama.cpp keys it ("",""): never queried */
        merge_entry *e = &rk->e[i];
        e->s = s.ptr;
        e->len = (uint32_t)s.len;
        e->split = (uint32_t)(sp - s.ptr);
        const char *r = sp + 1;
        size_t rl = s.len - e->split - 1;
        if (rank_find(rk, s.ptr, e->split, r, rl) >= 0) continue; /* keep the first */
        uint64_t h = pair_hash(s.ptr, e->split, r, rl) & rk->mask;
        while (rk->slots[h] >= 0) h = (h + 1) & rk->mask;
        rk->slots[h] = (int32_t)i;
    }
    *out = rk;
    return HEARTH_OK;
}

/* Frees the table; NULL is a no-op. */
void hearth_bpe_ranks_free(hearth_bpe_ranks *r) {
    if (!r) return;
    hearth_free(r->e);
    hearth_free(r->slots);
    hearth_free(r);
}

/* ------------------------------------------------------- char classes */

enum {
    K_ANY = 1 << 0,  /* inside the piece (0 = out of range) */
    K_L = 1 << 1,    /* \p{L} */
    K_N = 1 << 2,    /* \p{N} */
    K_WS = 1 << 3,   /* \s */
    K_P = 1 << 4,    /* \p{P} as llama.cpp's collapsed regexes see it */
    K_S = 1 << 5,    /* \p{S} likewise */
    K_M = 1 << 6,    /* \p{M} */
    K_UP = 1 << 7,   /* letter that [^a-z] accepts (A-Z or non-ASCII) */
    K_LO = 1 << 8    /* letter that [^A-Z] accepts (a-z or non-ASCII) */
};

/* Returns the class bits of one code point (see the file comment). */
static unsigned classify(uint32_t cp) {
    unsigned k = K_ANY;
    if (cp < 128) {
        if ((cp >= 'A' && cp <= 'Z')) return k | K_L | K_UP;
        if ((cp >= 'a' && cp <= 'z')) return k | K_L | K_LO;
        if (cp >= '0' && cp <= '9') return k | K_N;
        if ((cp >= 9 && cp <= 13) || cp == ' ') return k | K_WS;
        if (cp == '$' || cp == '+' || cp == '<' || cp == '=' || cp == '>' || cp == '^' ||
            cp == '`' || cp == '|')
            return k | K_S;
        if (cp > 32 && cp < 127 && cp != '~') return k | K_P;
        return k; /* controls, DEL, '~' */
    }
    unsigned f = hearth_unicode_flags(cp);
    if (f & HEARTH_UC_WHITESPACE) return k | K_WS;
    if (f & HEARTH_UC_LETTER) return k | K_L | K_UP | K_LO;
    if (f & HEARTH_UC_NUMBER) return k | K_N;
    if (f & HEARTH_UC_PUNCTUATION) return k | K_P;
    if (f & HEARTH_UC_SYMBOL) return k | K_S;
    if (f & HEARTH_UC_MARK) return k | K_M;
    return k;
}

/* The decoded fragment. Matchers look at [p, end) only. */
typedef struct text {
    const uint32_t *cp;
    const uint16_t *k;
} text;

#define OTHER(kk) (((kk) & K_ANY) && !((kk) & (K_L | K_N | K_WS)))

static inline unsigned kat(const text *t, size_t i, size_t end) { return i < end ? t->k[i] : 0; }
static inline uint32_t cat_(const text *t, size_t i, size_t end) {
    return i < end ? t->cp[i] : 0xFFFFFFFFu;
}
/* raw code point as std::wregex sees it: non-ASCII whitespace became \v */
static inline uint32_t lit(const text *t, size_t i, size_t end) {
    if (i >= end) return 0xFFFFFFFFu;
    return (t->cp[i] >= 128 && (t->k[i] & K_WS)) ? 0x0B : t->cp[i];
}
static inline bool is_crlf(uint32_t c) { return c == '\r' || c == '\n'; }

static size_t run(const text *t, size_t i, size_t end, unsigned mask) {
    size_t j = i;
    while (j < end && (t->k[j] & mask)) j++;
    return j - i;
}

/* run, stopping after max: a bounded repeat like \p{N}{1,3} must not scan
 * the rest of a long run at every match (200 KB of digits took seconds). */
static size_t run_max(const text *t, size_t i, size_t end, unsigned mask, size_t max) {
    if (i >= end) return 0;
    return run(t, i, end - i > max ? i + max : end, mask);
}

/* A matcher returns the length of the match at p (0 = none). */
typedef size_t (*matcher)(const text *t, size_t p, size_t end);

/* 's|'t|'re|'ve|'m|'ll|'d, case-insensitive when `fold`. */
static size_t m_contraction(const text *t, size_t p, size_t end, bool fold) {
    if (cat_(t, p, end) != '\'' || p + 1 >= end) return 0;
    uint32_t a = t->cp[p + 1];
    if (fold) a = hearth_unicode_tolower(a);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if (p + 2 >= end) return 0;
    uint32_t b = t->cp[p + 2];
    if (fold) b = hearth_unicode_tolower(b);
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
}

/* The whitespace tail shared by the modern patterns:
 * \s*[\r\n]+ (when `crlf`) | \s+(?!\S) | \s+ */
static size_t m_space_tail(const text *t, size_t p, size_t end, bool crlf) {
    size_t n = run(t, p, end, K_WS);
    if (n == 0) return 0;
    if (crlf) {
        size_t last = 0;
        for (size_t i = p; i < p + n; i++)
            if (is_crlf(t->cp[i])) last = i + 1;
        if (last) return last - p;
    }
    /* \s+(?!\S): back off one so the last space can prefix the next word */
    if (n > 1 && p + n < end) return n - 1;
    return n;
}

/* GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static size_t m_gpt2(const text *t, size_t p, size_t end) {
    size_t c = m_contraction(t, p, end, false);
    if (c) return c;
    size_t sp = t->cp[p] == ' ' ? 1 : 0;
    unsigned k2 = kat(t, p + sp, end);
    if (k2 & K_L) return sp + run(t, p + sp, end, K_L);
    if (k2 & K_N) return sp + run(t, p + sp, end, K_N);
    if (OTHER(k2)) {
        size_t j = p + sp;
        while (OTHER(kat(t, j, end))) j++;
        return j - p;
    }
    size_t w = m_space_tail(t, p, end, false);
    return w ? w : 1;
}

/* LLaMA-3 / Qwen2 family:
 * (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,max_digits}
 * | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
static size_t m_llama3_like(const text *t, size_t p, size_t end, size_t max_digits) {
    size_t c = m_contraction(t, p, end, true);
    if (c) return c;
    uint32_t cp = t->cp[p];
    unsigned k = t->k[p];
    if (!is_crlf(cp) && !(k & K_N) && ((k & K_L) || (kat(t, p + 1, end) & K_L)))
        return 1 + run(t, p + 1, end, K_L);
    if (k & K_N) return run_max(t, p, end, K_N, max_digits);
    size_t sp = cp == ' ' ? 1 : 0;
    if (OTHER(kat(t, p + sp, end))) {
        size_t j = p + sp;
        while (OTHER(kat(t, j, end))) j++;
        while (j < end && is_crlf(t->cp[j])) j++;
        return j - p;
    }
    size_t w = m_space_tail(t, p, end, true);
    return w ? w : 1;
}

static size_t m_llama3(const text *t, size_t p, size_t end) { return m_llama3_like(t, p, end, 3); }
static size_t m_qwen2(const text *t, size_t p, size_t end) { return m_llama3_like(t, p, end, 1); }

/* Tekken / GPT-4o letter runs, collapsed: [^\r\n\p{L}\p{N}]?U*Lw+ or
 * [^\r\n\p{L}\p{N}]?U+Lw*, where U = (?=\p{L})[^a-z] and Lw = (?=\p{L})[^A-Z]
 * (a non-ASCII letter is both), optionally followed by a contraction.
 * Alternatives and backtracking are tried in the regex's order. */
static size_t m_cased_words(const text *t, size_t p, size_t end, bool contractions) {
    unsigned k0 = t->k[p];
    bool can_prefix = !is_crlf(t->cp[p]) && !(k0 & (K_L | K_N));
    size_t len = 0;
    /* alternative 1: prefix? U* Lw+ */
    for (int pre = can_prefix ? 1 : 0; pre >= 0 && !len; pre--) {
        size_t q = p + (size_t)pre;
        size_t u = run(t, q, end, K_UP);
        for (size_t k = q + u + 1; k-- > q;) { /* U* gives back from the longest */
            size_t lw = run(t, k, end, K_LO);
            if (lw) {
                len = k + lw - p;
                break;
            }
        }
    }
    /* alternative 2: prefix? U+ Lw* */
    for (int pre = can_prefix ? 1 : 0; pre >= 0 && !len; pre--) {
        size_t q = p + (size_t)pre;
        size_t u = run(t, q, end, K_UP);
        if (u) len = q + u + run(t, q + u, end, K_LO) - p;
    }
    if (len && contractions) len += m_contraction(t, p + len, end, true);
    return len;
}

static size_t m_tekken_like(const text *t, size_t p, size_t end, size_t max_digits, bool contr) {
    size_t len = m_cased_words(t, p, end, contr);
    if (len) return len;
    unsigned k = t->k[p];
    if (k & K_N) return run_max(t, p, end, K_N, max_digits);
    /*  ?[^\s\p{L}\p{N}]+[\r\n/]* */
    size_t sp = t->cp[p] == ' ' ? 1 : 0;
    if (OTHER(kat(t, p + sp, end))) {
        size_t j = p + sp;
        while (OTHER(kat(t, j, end))) j++;
        while (j < end && (is_crlf(t->cp[j]) || t->cp[j] == '/')) j++;
        return j - p;
    }
    return m_space_tail(t, p, end, true);
}

static size_t m_tekken(const text *t, size_t p, size_t end) {
    return m_tekken_like(t, p, end, 1, false);
}
static size_t m_gpt4o(const text *t, size_t p, size_t end) {
    return m_tekken_like(t, p, end, 3, true);
}

/* [\p{P}\$\+<=>\^~\|]+ (and with ` for falcon) */
static size_t m_punct_run(const text *t, size_t p, size_t end) {
    size_t j = p;
    for (; j < end; j++) {
        uint32_t c = t->cp[j];
        if (!((t->k[j] & K_P) || c == '$' || c == '+' || c == '<' || c == '=' || c == '>' ||
              c == '^' || c == '~' || c == '|'))
            break;
    }
    return j - p;
}
static size_t m_punct_run_bt(const text *t, size_t p, size_t end) {
    size_t j = p;
    while (j < end) {
        size_t n = m_punct_run(t, j, end);
        if (n) j += n;
        else if (t->cp[j] == '`') j++;
        else break;
    }
    return j - p;
}

static size_t m_digits(const text *t, size_t p, size_t end) { return run(t, p, end, K_N); }
static size_t m_digit(const text *t, size_t p, size_t end) { return run_max(t, p, end, K_N, 1); }
static size_t m_digits3(const text *t, size_t p, size_t end) { return run_max(t, p, end, K_N, 3); }
/* [0-9][0-9][0-9] */
static size_t m_ascii3(const text *t, size_t p, size_t end) {
    for (size_t i = 0; i < 3; i++) {
        uint32_t c = cat_(t, p + i, end);
        if (c < '0' || c > '9') return 0;
    }
    return 3;
}
/* [\r\n] */
static size_t m_crlf(const text *t, size_t p, size_t end) {
    return is_crlf(cat_(t, p, end)) ? 1 : 0;
}

typedef struct cp_range {
    uint32_t lo, hi;
} cp_range;

static bool in_ranges(uint32_t c, const cp_range *r, size_t n) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c < r[mid].lo) hi = mid;
        else if (c > r[mid].hi) lo = mid + 1;
        else return true;
    }
    return false;
}

/* \s?[set]+ over raw code points, and [set]+ */
static size_t m_ws_opt_set(const text *t, size_t p, size_t end, const cp_range *r, size_t n) {
    size_t sp = (t->k[p] & K_WS) ? 1 : 0;
    for (;;) {
        size_t j = p + sp;
        while (j < end && in_ranges(lit(t, j, end), r, n)) j++;
        if (j > p + sp) return j - p;
        if (!sp) return 0;
        sp = 0;
    }
}
static size_t m_set(const text *t, size_t p, size_t end, const cp_range *r, size_t n) {
    size_t j = p;
    while (j < end && in_ranges(lit(t, j, end), r, n)) j++;
    return j - p;
}

/* DeepSeek LLM letters: the explicit class of its tokenizer.json (with the
 * \U00010400-\U0001044f range read as the code point range it names). */
static const cp_range k_ds_letters[] = {
    {0x41, 0x5A}, {0x61, 0x7A}, {0xB5, 0xB5}, {0xC0, 0xD6}, {0xD8, 0xF6}, {0xF8, 0x1BA},
    {0x1BC, 0x1BF}, {0x1C4, 0x293}, {0x295, 0x2AF}, {0x370, 0x373}, {0x376, 0x377}, {0x37B, 0x37D},
    {0x37F, 0x37F}, {0x386, 0x386}, {0x388, 0x38A}, {0x38C, 0x38C}, {0x38E, 0x3A1}, {0x3A3, 0x3F5},
    {0x3F7, 0x481}, {0x48A, 0x52F}, {0x531, 0x556}, {0x10A0, 0x10C5}, {0x13A0, 0x13F5}, {0x13F8, 0x13FD},
    {0x1C90, 0x1CBA}, {0x1CBD, 0x1CBF}, {0x1D00, 0x1D2B}, {0x1D6B, 0x1D77}, {0x1D79, 0x1D9A}, {0x1E00, 0x1F15},
    {0x1F18, 0x1F1D}, {0x1F20, 0x1F45}, {0x1F48, 0x1F4D}, {0x1F50, 0x1F57}, {0x1F59, 0x1F59}, {0x1F5B, 0x1F5B},
    {0x1F5D, 0x1F5D}, {0x1F5F, 0x1F7D}, {0x1F80, 0x1FB4}, {0x1FB6, 0x1FBC}, {0x1FBE, 0x1FBE}, {0x1FC2, 0x1FC4},
    {0x1FC6, 0x1FCC}, {0x1FD0, 0x1FD3}, {0x1FD6, 0x1FDB}, {0x1FE0, 0x1FEC}, {0x1FF2, 0x1FF4}, {0x1FF6, 0x1FFC},
    {0x2102, 0x2102}, {0x2107, 0x2107}, {0x210A, 0x2113}, {0x2115, 0x2115}, {0x2119, 0x211D}, {0x2124, 0x2124},
    {0x2126, 0x2126}, {0x2128, 0x2128}, {0x212A, 0x212D}, {0x212F, 0x2134}, {0x2139, 0x2139}, {0x213C, 0x213F},
    {0x2145, 0x2149}, {0x214E, 0x214E}, {0x2183, 0x2184}, {0x2C00, 0x2C7B}, {0x2C7E, 0x2CE4}, {0x2CEB, 0x2CEE},
    {0x2CF2, 0x2CF3}, {0xA640, 0xA66D}, {0xA680, 0xA69B}, {0xA722, 0xA76F}, {0xA771, 0xA787}, {0xA78B, 0xA78E},
    {0xAB70, 0xABBF}, {0xFB00, 0xFB06}, {0xFB13, 0xFB17}, {0xFF21, 0xFF3A}, {0xFF41, 0xFF5A}, {0x10400, 0x1044F},
    {0x104B0, 0x104D3}, {0x104D8, 0x104FB}, {0x10C80, 0x10CB2}, {0x10CC0, 0x10CF2}, {0x118A0, 0x118DF}, {0x1E900, 0x1E943},
};
/* [!-/:-~！-／：-～‘-‟　-。] */
static const cp_range k_ds_punct[] = {
    {0x21, 0x2F}, {0x3A, 0x7E}, {0x2018, 0x201F}, {0x3000, 0x3002}, {0xFF01, 0xFF0F}, {0xFF1A, 0xFF5E},
};
/* [一-龥ࠀ-一가-퟿] */
static const cp_range k_ds_cjk[] = {{0x800, 0x9FA5}, {0xAC00, 0xD7FF}};
/* [一-龥぀-ゟ゠-ヿ] */
static const cp_range k_ds3_cjk[] = {{0x3040, 0x30FF}, {0x4E00, 0x9FA5}};

#define NR(a) (sizeof(a) / sizeof((a)[0]))

static size_t m_ds_letters(const text *t, size_t p, size_t end) {
    return m_ws_opt_set(t, p, end, k_ds_letters, NR(k_ds_letters));
}
static size_t m_ds_punct(const text *t, size_t p, size_t end) {
    return m_ws_opt_set(t, p, end, k_ds_punct, NR(k_ds_punct));
}
static size_t m_ds_cjk(const text *t, size_t p, size_t end) {
    return m_set(t, p, end, k_ds_cjk, NR(k_ds_cjk));
}
static size_t m_ds3_cjk(const text *t, size_t p, size_t end) {
    return m_set(t, p, end, k_ds3_cjk, NR(k_ds3_cjk));
}
/* \s+$ */
static size_t m_ws_at_end(const text *t, size_t p, size_t end) {
    size_t n = run(t, p, end, K_WS);
    return (n && p + n == end) ? n : 0;
}
/* \s?\p{L}+ and \s?\p{P}+ (collapsed) */
static size_t m_ws_opt_class(const text *t, size_t p, size_t end, unsigned cls) {
    size_t sp = (t->k[p] & K_WS) && (kat(t, p + 1, end) & cls) ? 1 : 0;
    size_t n = run(t, p + sp, end, cls);
    return n ? sp + n : 0;
}
static size_t m_ws_letters(const text *t, size_t p, size_t end) {
    return m_ws_opt_class(t, p, end, K_L);
}
static size_t m_ws_puncts(const text *t, size_t p, size_t end) {
    return m_ws_opt_class(t, p, end, K_P);
}

/* DeepSeek-V3 main pattern (collapsed):
 * [!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+
 * | ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
static size_t m_ds3_main(const text *t, size_t p, size_t end) {
    uint32_t c = t->cp[p];
    unsigned k = t->k[p];
    if (c > 32 && c < 127 && !(k & (K_L | K_N))) {
        size_t j = p + 1;
        while (j < end && t->cp[j] < 128 && (t->k[j] & K_L)) j++;
        if (j > p + 1) return j - p;
    }
    if (!is_crlf(c) && !(k & (K_L | K_P | K_S))) {
        size_t n = run(t, p + 1, end, K_L | K_M);
        if (n) return 1 + n;
    }
    if (k & (K_L | K_M)) return run(t, p, end, K_L | K_M);
    size_t sp = c == ' ' && (kat(t, p + 1, end) & (K_P | K_S)) ? 1 : 0;
    size_t n = run(t, p + sp, end, K_P | K_S);
    if (n) {
        size_t j = p + sp + n;
        while (j < end && is_crlf(t->cp[j])) j++;
        return j - p;
    }
    return m_space_tail(t, p, end, true);
}

/* Bloom / Poro / GPT3-Finnish:  ?[^(\s|.,!?…。，、।۔،)]+ (raw) */
static bool bloom_ok(const text *t, size_t i, size_t end) {
    uint32_t c = lit(t, i, end);
    if (i >= end || (t->k[i] & K_WS)) return false;
    switch (c) {
    case '(': case '|': case '.': case ',': case '!': case '?': case ')':
    case 0x2026: case 0x3002: case 0xFF0C: case 0x3001: case 0x0964: case 0x06D4: case 0x060C:
        return false;
    default:
        return true;
    }
}
static size_t m_bloom(const text *t, size_t p, size_t end) {
    size_t sp = t->cp[p] == ' ' && bloom_ok(t, p + 1, end) ? 1 : 0;
    size_t j = p + sp;
    while (bloom_ok(t, j, end)) j++;
    return j > p + sp ? j - p : 0;
}

/* Chameleon: <sentinel:[0-9]+> */
static size_t m_cham_sentinel(const text *t, size_t p, size_t end) {
    static const char pre[] = "<sentinel:";
    size_t j = p;
    for (size_t i = 0; pre[i]; i++, j++)
        if (cat_(t, j, end) != (uint32_t)(unsigned char)pre[i]) return 0;
    size_t d = j;
    while (j < end && t->cp[j] >= '0' && t->cp[j] <= '9') j++;
    if (j == d || cat_(t, j, end) != '>') return 0;
    return j + 1 - p;
}
/* (IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z */
static size_t m_cham_image(const text *t, size_t p, size_t end) {
    static const char pre[] = "IMGIMG";
    size_t j = p;
    for (size_t i = 0; pre[i]; i++, j++)
        if (cat_(t, j, end) != (uint32_t)(unsigned char)pre[i]) return 0;
    size_t n = 0;
    while (n < 4 && cat_(t, j + n, end) >= 'A' && cat_(t, j + n, end) <= 'I') n++;
    /* a shorter {1,4} leaves an A-I letter where Z must be: only the longest can match */
    if (n == 0 || cat_(t, j + n, end) != 'Z') return 0;
    return j + n + 1 - p;
}
/* ([\t\n]|    |  ) */
static size_t m_cham_space(const text *t, size_t p, size_t end) {
    uint32_t c = t->cp[p];
    if (c == '\t' || c == '\n') return 1;
    size_t n = 0;
    while (n < 4 && cat_(t, p + n, end) == ' ') n++;
    return n == 4 ? 4 : n >= 2 ? 2 : 0;
}
/* [\p{P}!-/:-@\[-`{-~] */
static size_t m_cham_punct(const text *t, size_t p, size_t end) {
    (void)end;
    uint32_t c = t->cp[p];
    if (t->k[p] & K_P) return 1;
    if ((c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') ||
        (c >= '{' && c <= '~'))
        return 1;
    return 0;
}

/* The regex lists, in llama.cpp's llm_tokenizer_bpe order. */
typedef struct pre_spec {
    matcher m[6];
} pre_spec;

static const pre_spec *spec_for(hearth_bpe_pre pre) {
    static const pre_spec s_default = {{m_punct_run, m_gpt2, m_digits, m_ascii3}};
    static const pre_spec s_gpt2 = {{m_gpt2}};
    static const pre_spec s_llama3 = {{m_llama3}};
    static const pre_spec s_qwen2 = {{m_qwen2}};
    static const pre_spec s_ds_llm = {{m_crlf, m_ds_letters, m_ds_punct, m_ws_at_end, m_ds_cjk, m_digits}};
    static const pre_spec s_ds_coder = {{m_crlf, m_ws_letters, m_ws_puncts, m_ds_cjk, m_digit}};
    static const pre_spec s_ds3 = {{m_digits3, m_ds3_cjk, m_ds3_main}};
    static const pre_spec s_falcon = {{m_punct_run_bt, m_gpt2, m_ascii3}};
    static const pre_spec s_starcoder = {{m_digit, m_gpt2}};
    static const pre_spec s_bloom = {{m_bloom}};
    static const pre_spec s_viking = {{m_bloom, m_digit}};
    static const pre_spec s_tekken = {{m_tekken}};
    static const pre_spec s_gpt4o = {{m_gpt4o}};
    static const pre_spec s_chameleon = {
        {m_cham_sentinel, m_cham_image, m_cham_space, m_digit, m_cham_punct, m_gpt2}};
    switch (pre) {
    case HEARTH_PRE_LLAMA3:
    case HEARTH_PRE_DBRX:
    case HEARTH_PRE_SMAUG:
    case HEARTH_PRE_CHATGLM4:
        return &s_llama3;
    case HEARTH_PRE_DEEPSEEK_LLM: return &s_ds_llm;
    case HEARTH_PRE_DEEPSEEK3_LLM: return &s_ds3;
    case HEARTH_PRE_DEEPSEEK_CODER: return &s_ds_coder;
    case HEARTH_PRE_FALCON: return &s_falcon;
    case HEARTH_PRE_STARCODER:
    case HEARTH_PRE_REFACT:
    case HEARTH_PRE_COMMAND_R:
    case HEARTH_PRE_SMOLLM:
    case HEARTH_PRE_CODESHELL:
    case HEARTH_PRE_EXAONE:
    case HEARTH_PRE_MINERVA:
        return &s_starcoder;
    case HEARTH_PRE_GPT2:
    case HEARTH_PRE_MPT:
    case HEARTH_PRE_OLMO:
    case HEARTH_PRE_JAIS:
        return &s_gpt2;
    case HEARTH_PRE_STABLELM2:
    case HEARTH_PRE_QWEN2:
        return &s_qwen2;
    case HEARTH_PRE_PORO:
    case HEARTH_PRE_BLOOM:
    case HEARTH_PRE_GPT3_FINNISH:
        return &s_bloom;
    case HEARTH_PRE_VIKING: return &s_viking;
    case HEARTH_PRE_TEKKEN: return &s_tekken;
    case HEARTH_PRE_CHAMELEON: return &s_chameleon;
    case HEARTH_PRE_GPT4O: return &s_gpt4o;
    case HEARTH_PRE_DEFAULT:
    case HEARTH_PRE_COUNT:
    default:
        return &s_default;
    }
}

/* Splits every piece (given by its end offset in ends[0..*n)) into matches
 * of m and the gaps between them, as std::regex_iterator does; writes the
 * new ends to out (capacity >= number of code points) and returns the
 * count. */
static size_t split_pieces(const text *t, matcher m, const size_t *ends, size_t n, size_t *out) {
    size_t no = 0, start = 0;
    for (size_t i = 0; i < n; i++) {
        size_t end = ends[i], p = start, gap = start;
        while (p < end) {
            size_t len = m(t, p, end);
            if (len == 0) {
                p++;
                continue;
            }
            if (len > end - p) len = end - p; /* defensive: matchers stay inside */
            if (p > gap) out[no++] = p;
            p += len;
            out[no++] = p;
            gap = p;
        }
        if (gap < end) out[no++] = end;
        start = end;
    }
    return no;
}

/* ------------------------------------------------------------- merging */

/* GPT-2's bytes->unicode: printable Latin-1 bytes map to themselves, the
 * other 68 to U+0100.. in byte order. Returns the UTF-8 length written. */
static size_t byte_to_unicode(unsigned char b, char out[2]) {
    uint32_t cp;
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE) cp = b;
    else if (b <= 0x20) cp = 256 + b;
    else if (b <= 0xA0) cp = 256 + 33 + (b - 0x7F);
    else cp = 256 + 33 + 34; /* 0xAD */
    char tmp[4];
    size_t n = hearth_utf8_encode(cp, tmp);
    memcpy(out, tmp, n);
    return n;
}

typedef struct sym {
    uint32_t off, len;
    int32_t prev, next;
} sym;

typedef struct bigram {
    int32_t rank;
    int32_t left, right;
    uint32_t llen, rlen;
} bigram;

/* Per-call scratch. */
typedef struct work {
    char *buf;  /* mapped piece */
    size_t buf_cap;
    sym *syms;
    size_t syms_cap;
    bigram *heap;
    size_t heap_n, heap_cap;
} work;

static bool grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return true;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *q = hearth_reallocarray(*p, c, elem);
    if (!q) return false;
    *p = q;
    *cap = c;
    return true;
}

static bool bg_less(const bigram *a, const bigram *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static hearth_status heap_push(work *w, bigram b) {
    if (!grow((void **)&w->heap, &w->heap_cap, w->heap_n + 1, sizeof *w->heap))
        return HEARTH_ERR_NOMEM;
    size_t i = w->heap_n++;
    while (i > 0) {
        size_t par = (i - 1) / 2;
        if (!bg_less(&b, &w->heap[par])) break;
        w->heap[i] = w->heap[par];
        i = par;
    }
    w->heap[i] = b;
    return HEARTH_OK;
}

static bigram heap_pop(work *w) {
    bigram top = w->heap[0];
    bigram last = w->heap[--w->heap_n];
    size_t i = 0, n = w->heap_n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && bg_less(&w->heap[c + 1], &w->heap[c])) c++;
        if (!bg_less(&w->heap[c], &last)) break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (n) w->heap[i] = last;
    return top;
}

static hearth_status add_bigram(const hearth_vocab *v, work *w, int32_t l, int32_t r) {
    if (l < 0 || r < 0) return HEARTH_OK;
    const sym *a = &w->syms[l], *b = &w->syms[r];
    int32_t rank = rank_find(v->bpe, w->buf + a->off, a->len, w->buf + b->off, b->len);
    if (rank < 0) return HEARTH_OK;
    bigram bg = {rank, l, r, a->len, b->len};
    return heap_push(w, bg);
}

/* Emits the id of one final symbol, or (as llama.cpp does) the ids of its
 * single bytes that happen to be tokens when the whole is not. */
static hearth_status emit_symbol(const hearth_vocab *v, const char *s, size_t len,
                                 hearth_idbuf *out) {
    int32_t id = hearth_vocab_find(v, s, len);
    if (id >= 0) return hearth_idbuf_push(out, id);
    for (size_t i = 0; i < len; i++) {
        int32_t b = hearth_vocab_find(v, s + i, 1);
        if (b >= 0) {
            hearth_status st = hearth_idbuf_push(out, b);
            if (st) return st;
        }
    }
    return HEARTH_OK;
}

/* Byte-maps and merges one piece of code points, appending its ids. */
static hearth_status encode_piece(const hearth_vocab *v, work *w, const uint32_t *cps, size_t n,
                                  hearth_idbuf *out) {
    if (!grow((void **)&w->buf, &w->buf_cap, n * 8 + 1, 1)) return HEARTH_ERR_NOMEM;
    if (!grow((void **)&w->syms, &w->syms_cap, n * 4 + 1, sizeof *w->syms)) return HEARTH_ERR_NOMEM;
    size_t blen = 0, ns = 0;
    for (size_t i = 0; i < n; i++) {
        char u8[4];
        size_t k = hearth_utf8_encode(cps[i], u8);
        for (size_t j = 0; j < k; j++) {
            size_t m = byte_to_unicode((unsigned char)u8[j], w->buf + blen);
            w->syms[ns] = (sym){(uint32_t)blen, (uint32_t)m, (int32_t)ns - 1, (int32_t)ns + 1};
            ns++;
            blen += m;
        }
    }
    if (ns == 0) return HEARTH_OK;
    w->syms[ns - 1].next = -1;

    if (v->ignore_merges) {
        int32_t id = hearth_vocab_find(v, w->buf, blen);
        if (id >= 0) return hearth_idbuf_push(out, id);
    }

    hearth_status st;
    w->heap_n = 0;
    for (size_t i = 1; i < ns; i++)
        if ((st = add_bigram(v, w, (int32_t)i - 1, (int32_t)i))) return st;
    while (w->heap_n) {
        bigram bg = heap_pop(w);
        sym *l = &w->syms[bg.left], *r = &w->syms[bg.right];
        /* stale: either side changed since the pair was queued */
        if (l->len != bg.llen || r->len != bg.rlen || l->next != bg.right) continue;
        l->len += r->len;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0) w->syms[r->next].prev = bg.left;
        if ((st = add_bigram(v, w, l->prev, bg.left))) return st;
        if ((st = add_bigram(v, w, bg.left, l->next))) return st;
    }
    for (int32_t i = 0; i >= 0; i = w->syms[i].next)
        if ((st = emit_symbol(v, w->buf + w->syms[i].off, w->syms[i].len, out))) return st;
    return HEARTH_OK;
}

/* Decodes text and runs the pre-tokenizer: on success *cps_out holds the
 * code points and *ends_out the end offset (in code points) of each of the
 * *np pieces; both are caller-freed with hearth_free. */
static hearth_status pre_split(hearth_bpe_pre pre, const char *s, size_t len, uint32_t **cps_out,
                               size_t **ends_out, size_t *np_out, size_t *n_out) {
    *cps_out = NULL;
    *ends_out = NULL;
    *np_out = *n_out = 0;
    if (len == 0) return HEARTH_OK;
    uint32_t *cps = hearth_reallocarray(NULL, len, sizeof *cps);
    uint16_t *ks = hearth_reallocarray(NULL, len, sizeof *ks);
    size_t *ends = hearth_reallocarray(NULL, len, sizeof *ends);
    size_t *ends2 = hearth_reallocarray(NULL, len, sizeof *ends2);
    if (!cps || !ks || !ends || !ends2) {
        hearth_free(cps);
        hearth_free(ks);
        hearth_free(ends);
        hearth_free(ends2);
        return HEARTH_ERR_NOMEM;
    }
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        size_t adv;
        uint32_t c = hearth_utf8_decode(s + i, len - i, &adv);
        cps[n] = c;
        ks[n] = (uint16_t)classify(c);
        n++;
        i += adv;
    }
    text t = {cps, ks};
    size_t np = 1;
    ends[0] = n;
    const pre_spec *spec = spec_for(pre);
    for (size_t r = 0; r < NR(spec->m) && spec->m[r]; r++) {
        np = split_pieces(&t, spec->m[r], ends, np, ends2);
        size_t *tmp = ends;
        ends = ends2;
        ends2 = tmp;
    }
    hearth_free(ks);
    hearth_free(ends2);
    *cps_out = cps;
    *ends_out = ends;
    *np_out = np;
    *n_out = n;
    return HEARTH_OK;
}

/* Exposes the pre-tokenizer for tests: *ends (hearth_free) gets the end of
 * each piece as a code point offset. Never blocks. */
hearth_status hearth_bpe_pre_split(hearth_bpe_pre pre, const char *text_, size_t len,
                                   size_t **ends, size_t *n_pieces) {
    if (!ends || !n_pieces || (!text_ && len))
        return hearth_error_set(HEARTH_ERR_INVALID, "bpe pre split: NULL argument");
    uint32_t *cps;
    size_t n;
    hearth_status st = pre_split(pre, text_, len, &cps, ends, n_pieces, &n);
    hearth_free(cps);
    return st;
}

/* Tokenizes one fragment without special tokens; appends to out. Returns
 * HEARTH_ERR_NOMEM or HEARTH_ERR_INVALID (no ranks). Never blocks. */
hearth_status hearth_bpe_encode_fragment(const hearth_vocab *v, const char *text_, size_t len,
                                         hearth_idbuf *out) {
    if (!v || !out || (!text_ && len))
        return hearth_error_set(HEARTH_ERR_INVALID, "bpe encode: NULL argument");
    if (!v->bpe) return hearth_error_set(HEARTH_ERR_INVALID, "bpe encode: vocab has no merges");
    uint32_t *cps;
    size_t *ends, np, n;
    hearth_status st = pre_split(v->pre, text_, len, &cps, &ends, &np, &n);
    if (st) return st;
    work w = {0};
    size_t start = 0;
    for (size_t i = 0; i < np; i++) {
        if ((st = encode_piece(v, &w, cps + start, ends[i] - start, out))) break;
        start = ends[i];
    }
    hearth_free(cps);
    hearth_free(ends);
    hearth_free(w.buf);
    hearth_free(w.syms);
    hearth_free(w.heap);
    return st;
}
