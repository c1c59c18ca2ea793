/* vocab_impl.h - functions shared by the vocab engineer's files (vocab.c,
 * tok_spm.c, tok_wpm.c, detok.c). Not a public header; tok_bpe.c uses
 * vocab_internal.h only. */
#ifndef HEARTH_VOCAB_IMPL_H
#define HEARTH_VOCAB_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "engine/vocab_internal.h"

/* A growable byte buffer. */
typedef struct hearth_bytebuf {
    char *p;
    size_t n, cap;
} hearth_bytebuf;

/* Appends len bytes; returns HEARTH_OK or HEARTH_ERR_NOMEM. */
hearth_status hearth_bytebuf_put(hearth_bytebuf *b, const void *data, size_t len);

/* Id of the token whose text is exactly s[0..len), or -1 (hash lookup). */
int32_t hearth_vocab_lookup(const hearth_vocab *v, const char *s, size_t len);

/* tok_spm.c: SentencePiece merge of one fragment that is already escaped
 * (spaces as U+2581, prefix added). Appends ids to out. */
hearth_status hearth_spm_encode_fragment(const hearth_vocab *v, const char *text, size_t len,
                                         hearth_idbuf *out);

/* tok_wpm.c: WordPiece of one raw-text fragment. Appends ids to out. */
hearth_status hearth_wpm_encode_fragment(const hearth_vocab *v, const char *text, size_t len,
                                         hearth_idbuf *out);

/* detok.c: appends the piece of token `id` (llama.cpp token_to_piece) to b,
 * skipping up to `lstrip` leading spaces. `special` renders CONTROL/UNKNOWN
 * tokens. The id must be valid. Returns HEARTH_OK or HEARTH_ERR_NOMEM. */
hearth_status hearth_vocab_piece(const hearth_vocab *v, int32_t id, int lstrip, bool special,
                                 hearth_bytebuf *b);

#endif
