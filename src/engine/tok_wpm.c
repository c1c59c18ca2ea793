/* tok_wpm.c - WordPiece as llama.cpp's llm_tokenizer_wpm_session does it:
 * a one-to-one "NFD" (first code point of each decomposition), lowercase,
 * whitespace splitting with punctuation, ASCII symbols and CJK ideographs as
 * words of their own, NUL/U+FFFD/control characters dropped; then each word,
 * with a phantom U+2581 in front, is split greedily longest-match-first, and
 * a word that cannot be split completely becomes UNK. */
#include "engine/vocab_impl.h"

#include "engine/unicode.h"

#include <string.h>

/* True for the CJK ideograph blocks llama.cpp (and HF BERT) isolate. */
static bool is_chinese_char(uint32_t c) {
    return (c >= 0x04E00 && c <= 0x09FFF) || (c >= 0x03400 && c <= 0x04DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) || /* sic: 0x2B920 as in HF */
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* Splits one word (already prefixed with U+2581) greedily. Returns
 * HEARTH_OK or HEARTH_ERR_NOMEM. */
static hearth_status wpm_word(const hearth_vocab *v, const char *w, size_t n, hearth_idbuf *out) {
    size_t start = out->n;
    hearth_status st;
    for (size_t i = 0; i < n; i++) {
        bool match = false;
        size_t jmax = n;
        if (v->max_token_len + 1 < n - i) jmax = i + v->max_token_len + 1;
        for (size_t j = jmax; j > i; j--) {
            int32_t id = hearth_vocab_lookup(v, w + i, j - i);
            if (id >= 0) {
                if ((st = hearth_idbuf_push(out, id)) != HEARTH_OK) return st;
                match = true;
                i = j - 1;
                break;
            }
        }
        if (!match) {
            out->n = start; /* discard the partial split */
            break;
        }
    }
    if (out->n == start && v->unk >= 0) return hearth_idbuf_push(out, v->unk);
    return HEARTH_OK;
}

/* Returns HEARTH_OK after appending the ids of text[0..len) to out, or
 * HEARTH_ERR_NOMEM. Never blocks. */
hearth_status hearth_wpm_encode_fragment(const hearth_vocab *v, const char *text, size_t len,
                                         hearth_idbuf *out) {
    static const char phantom[3] = {'\xe2', '\x96', '\x81'};
    hearth_bytebuf word = {0};
    hearth_status st = HEARTH_OK;
    if ((st = hearth_bytebuf_put(&word, phantom, 3)) != HEARTH_OK) return st;

    for (size_t off = 0; off < len;) {
        size_t adv;
        uint32_t cp = hearth_utf8_decode(text + off, len - off, &adv);
        off += adv;
        cp = hearth_unicode_nfd_first(cp);
        unsigned fl = hearth_unicode_flags(cp);
        if (fl & HEARTH_UC_WHITESPACE) {
            if (word.n > 3) {
                if ((st = wpm_word(v, word.p, word.n, out)) != HEARTH_OK) goto done;
                word.n = 3;
            }
            continue;
        }
        if (cp == 0 || cp == 0xFFFD || (fl & HEARTH_UC_CONTROL)) continue;
        char u[4];
        size_t ul = hearth_utf8_encode(hearth_unicode_tolower(cp), u);
        if ((fl & HEARTH_UC_PUNCTUATION) || (cp < 0x7F && (fl & HEARTH_UC_SYMBOL)) || is_chinese_char(cp)) {
            if (word.n > 3) {
                if ((st = wpm_word(v, word.p, word.n, out)) != HEARTH_OK) goto done;
                word.n = 3;
            }
            if ((st = hearth_bytebuf_put(&word, u, ul)) != HEARTH_OK) goto done;
            if ((st = wpm_word(v, word.p, word.n, out)) != HEARTH_OK) goto done;
            word.n = 3;
        } else {
            if ((st = hearth_bytebuf_put(&word, u, ul)) != HEARTH_OK) goto done;
        }
    }
    if (word.n > 3) st = wpm_word(v, word.p, word.n, out);
done:
    hearth_free(word.p);
    return st;
}
