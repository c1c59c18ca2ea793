/* tokenizer.h - vocabularies and tokenizers read from GGUF metadata.
 *
 * One vocabulary type for the three tokenizer families llama.cpp defines:
 * SentencePiece (`tokenizer.ggml.model` = "llama"), byte-level BPE ("gpt2",
 * with the pre-tokenizer named by `tokenizer.ggml.pre`) and WordPiece ("bert").
 * Behaviour matches llama.cpp (see ../shared/tokenizer/README.md), including
 * special-token matching and the load-time retyping of end-of-turn tokens.
 */
#ifndef HEARTH_TOKENIZER_H
#define HEARTH_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hearth/gguf.h"
#include "hearth/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hearth_vocab_kind {
    HEARTH_VOCAB_NONE = 0,
    HEARTH_VOCAB_SPM = 1,
    HEARTH_VOCAB_BPE = 2,
    HEARTH_VOCAB_WPM = 3
} hearth_vocab_kind;

/* tokenizer.ggml.token_type values */
typedef enum hearth_token_type {
    HEARTH_TOKEN_UNDEFINED = 0,
    HEARTH_TOKEN_NORMAL = 1,
    HEARTH_TOKEN_UNKNOWN = 2,
    HEARTH_TOKEN_CONTROL = 3,
    HEARTH_TOKEN_USER_DEFINED = 4,
    HEARTH_TOKEN_UNUSED = 5,
    HEARTH_TOKEN_BYTE = 6
} hearth_token_type;

typedef struct hearth_vocab hearth_vocab;

/* Builds the vocabulary from `g`'s tokenizer.* keys. Token texts stay views
 * into `g`'s mapping, so `g` must outlive the vocab. Returns
 * HEARTH_ERR_NOT_FOUND when the file has no tokenizer, HEARTH_ERR_FORMAT or
 * HEARTH_ERR_UNSUPPORTED with a detail for a bad or unknown one. */
hearth_status hearth_vocab_load(const hearth_gguf *g, hearth_vocab **out);
void hearth_vocab_free(hearth_vocab *v);

hearth_vocab_kind hearth_vocab_kind_of(const hearth_vocab *v);
/* "llama", "gpt2", "bert" and for BPE the pre-tokenizer name ("llama-bpe", ...). */
const char *hearth_vocab_model_name(const hearth_vocab *v);
const char *hearth_vocab_pre_name(const hearth_vocab *v);
int32_t hearth_vocab_n_tokens(const hearth_vocab *v);

/* Special ids, -1 when the vocab has none. */
int32_t hearth_vocab_bos(const hearth_vocab *v);
int32_t hearth_vocab_eos(const hearth_vocab *v);
int32_t hearth_vocab_eot(const hearth_vocab *v);
int32_t hearth_vocab_unk(const hearth_vocab *v);
int32_t hearth_vocab_sep(const hearth_vocab *v);
int32_t hearth_vocab_pad(const hearth_vocab *v);
bool hearth_vocab_add_bos(const hearth_vocab *v);
bool hearth_vocab_add_eos(const hearth_vocab *v);
/* True for end-of-generation tokens (EOS, EOT, <|im_end|>, ...). */
bool hearth_vocab_is_eog(const hearth_vocab *v, int32_t id);
hearth_token_type hearth_vocab_token_type(const hearth_vocab *v, int32_t id);
/* Raw vocab text of a token (as stored, e.g. "▁the" or "Ġthe"). */
hearth_str hearth_vocab_token_text(const hearth_vocab *v, int32_t id);
/* Id of the token whose raw text is exactly text[0..len), or -1. */
int32_t hearth_vocab_find(const hearth_vocab *v, const char *text, size_t len);

/* Tokenizes `len` bytes of `text` (may contain NUL). add_special adds BOS/EOS
 * (or CLS/SEP for WordPiece) as the vocab says; parse_special matches CONTROL
 * and UNKNOWN token texts in the input (USER_DEFINED ones always match).
 * On success *ids (allocated with hearth_malloc; caller frees with
 * hearth_free) holds *n_ids ids. Never blocks. */
hearth_status hearth_tokenize(const hearth_vocab *v, const char *text, size_t len,
                              bool add_special, bool parse_special,
                              int32_t **ids, size_t *n_ids);

/* Writes the bytes of one token into buf (at most cap bytes) and returns the
 * full length of the piece (which may exceed cap: then nothing useful was
 * written), or a negative status for a bad id. `unparse_special` renders
 * CONTROL/UNKNOWN/USER_DEFINED tokens as their text (else as nothing). */
int hearth_token_to_piece(const hearth_vocab *v, int32_t id, char *buf, size_t cap,
                          bool unparse_special);

/* Detokenizes a whole sequence as llama.cpp's llama_detokenize does
 * (leading-space removal for SPM, clean_spaces for vocabs that use it).
 * *out is NUL-terminated, allocated with hearth_malloc; caller frees. */
hearth_status hearth_detokenize(const hearth_vocab *v, const int32_t *ids, size_t n_ids,
                                bool remove_special, bool unparse_special,
                                char **out, size_t *out_len);

/* Streaming detokenizer: feed generated ids one by one; it emits only whole
 * UTF-8 characters, holding back an incomplete sequence until the next token
 * completes it (or flush emits it as U+FFFD). */
typedef struct hearth_detok_stream {
    const hearth_vocab *vocab;
    bool at_start;       /* next piece is the first of the text */
    size_t n_pending;
    char pending[8];
} hearth_detok_stream;

void hearth_detok_stream_init(hearth_detok_stream *s, const hearth_vocab *v);
/* Appends the printable bytes for `id` to out (up to cap) and returns their
 * count, or a negative status (HEARTH_ERR_RANGE when cap is too small; a
 * piece is at most 256 bytes, so cap >= 272 always suffices). Control tokens
 * produce nothing. */
int hearth_detok_stream_push(hearth_detok_stream *s, int32_t id, char *out, size_t cap);
/* Emits whatever is pending (invalid partial sequences as U+FFFD). */
int hearth_detok_stream_flush(hearth_detok_stream *s, char *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
