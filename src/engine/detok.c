/* detok.c - token pieces and detokenization as llama.cpp's token_to_piece and
 * detokenize do them (U+2581 -> space for SPM/WPM, GPT-2 unicode -> byte
 * unmapping for BPE, byte tokens, SPM leading-space removal, clean_spaces),
 * and a streaming detokenizer that only ever emits whole UTF-8 characters. */
#include "engine/vocab_impl.h"

#include "engine/unicode.h"

#include <stdio.h>
#include <string.h>

/* GPT-2's bytes_to_unicode, reversed: the byte a code point stands for, or
 * -1. Printable Latin-1 bytes map to themselves; the other 68 bytes were
 * mapped in order to U+0100.. U+0143. */
static int gpt2_cp_to_byte(uint32_t cp) {
    if ((cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF)) return (int)cp;
    if (cp < 0x100 || cp >= 0x100 + 68) return -1;
    uint32_t k = cp - 0x100; /* k-th byte outside the printable sets, in byte order */
    if (k < 33) return (int)k;                 /* 0x00..0x20 */
    if (k < 67) return (int)(0x7F + (k - 33)); /* 0x7F..0xA0 */
    return 0xAD;
}

/* Appends llama_decode_text(text): each code point through the reverse
 * byte map; one that is not in it gives "[UNK_BYTE_0x<hex><text>]" as in
 * llama.cpp. Returns HEARTH_OK or HEARTH_ERR_NOMEM. */
static hearth_status bpe_decode_text(const char *s, size_t len, hearth_bytebuf *b) {
    hearth_status st;
    for (size_t off = 0; off < len;) {
        size_t adv;
        uint32_t cp = hearth_utf8_decode(s + off, len - off, &adv);
        off += adv;
        int byte = gpt2_cp_to_byte(cp);
        if (byte >= 0) {
            char c = (char)byte;
            if ((st = hearth_bytebuf_put(b, &c, 1)) != HEARTH_OK) return st;
            continue;
        }
        char u[4], hex[3];
        size_t ul = hearth_utf8_encode(cp, u);
        if ((st = hearth_bytebuf_put(b, "[UNK_BYTE_0x", 12)) != HEARTH_OK) return st;
        for (size_t i = 0; i < ul; i++) {
            snprintf(hex, sizeof hex, "%02x", (unsigned char)u[i]);
            if ((st = hearth_bytebuf_put(b, hex, 2)) != HEARTH_OK) return st;
        }
        if ((st = hearth_bytebuf_put(b, s, len)) != HEARTH_OK) return st;
        if ((st = hearth_bytebuf_put(b, "]", 1)) != HEARTH_OK) return st;
    }
    return HEARTH_OK;
}

/* Value of a hex digit, or -1. */
static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Returns HEARTH_OK after appending the piece of `id` (valid) to b. */
hearth_status hearth_vocab_piece(const hearth_vocab *v, int32_t id, int lstrip, bool special,
                                 hearth_bytebuf *b) {
    uint8_t ty = v->type[id];
    if (!special && (ty == HEARTH_TOKEN_CONTROL || ty == HEARTH_TOKEN_UNKNOWN)) return HEARTH_OK;
    size_t start = b->n;
    hearth_status st = HEARTH_OK;
    const char *t = v->text[id].ptr;
    size_t tl = (size_t)v->text[id].len;

    if (ty == HEARTH_TOKEN_CONTROL || ty == HEARTH_TOKEN_UNKNOWN || ty == HEARTH_TOKEN_USER_DEFINED) {
        st = hearth_bytebuf_put(b, t, tl);
    } else if (v->kind == HEARTH_VOCAB_SPM || v->kind == HEARTH_VOCAB_WPM) {
        if (ty == HEARTH_TOKEN_NORMAL) {
            size_t run = 0;
            for (size_t i = 0; i + 3 <= tl; i++) {
                if (t[i] == '\xe2' && t[i + 1] == '\x96' && t[i + 2] == '\x81') {
                    if ((st = hearth_bytebuf_put(b, t + run, i - run)) != HEARTH_OK) return st;
                    if ((st = hearth_bytebuf_put(b, " ", 1)) != HEARTH_OK) return st;
                    i += 2;
                    run = i + 1;
                }
            }
            st = hearth_bytebuf_put(b, t + run, tl - run);
        } else if (ty == HEARTH_TOKEN_BYTE && v->kind == HEARTH_VOCAB_SPM) {
            /* strtol over text[3..5) as llama.cpp: stops at the first non-hex digit */
            int val = 0;
            for (size_t i = 3; i < 5 && i < tl; i++) {
                int h = hexval(t[i]);
                if (h < 0) break;
                val = val * 16 + h;
            }
            char c = (char)val;
            st = hearth_bytebuf_put(b, &c, 1);
        }
    } else if (v->kind == HEARTH_VOCAB_BPE && ty == HEARTH_TOKEN_NORMAL) {
        st = bpe_decode_text(t, tl, b);
    }
    if (st != HEARTH_OK) return st;

    /* drop up to lstrip leading spaces of this piece */
    size_t skip = 0;
    while ((int)skip < lstrip && start + skip < b->n && b->p[start + skip] == ' ') skip++;
    if (skip) {
        memmove(b->p + start, b->p + start + skip, b->n - start - skip);
        b->n -= skip;
        b->p[b->n] = '\0';
    }
    return HEARTH_OK;
}

/* Returns the piece length (may exceed cap; then buf is not filled) or a
 * negative status for a bad id. Never blocks. */
int hearth_token_to_piece(const hearth_vocab *v, int32_t id, char *buf, size_t cap, bool unparse_special) {
    if (!v || id < 0 || id >= v->n_tokens)
        return hearth_error_set(HEARTH_ERR_RANGE, "token id %d out of range", (int)id);
    hearth_bytebuf b = {0};
    hearth_status st = hearth_vocab_piece(v, id, 0, unparse_special, &b);
    if (st != HEARTH_OK) {
        hearth_free(b.p);
        return st;
    }
    if (b.n > (size_t)INT32_MAX) {
        hearth_free(b.p);
        return hearth_error_set(HEARTH_ERR_RANGE, "piece too long");
    }
    int n = (int)b.n;
    if (b.n <= cap && b.n > 0 && buf) memcpy(buf, b.p, b.n);
    hearth_free(b.p);
    return n;
}

/* llama.cpp's three clean_spaces passes, in place over t[0..total); returns
 * the new length. They compare against the bytes as they were before each
 * pass compacts them, exactly as the reference loops do. */
static size_t clean_spaces(char *text, size_t total) {
    /* first pass: " ?", " !", " .", " ," */
    size_t total1 = total;
    total = total ? 1 : 0;
    for (size_t i = 1; i < total1; ++i) {
        const char x = text[i];
        if (text[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) total--;
        text[total++] = x;
    }
    /* second pass: " ' " -> "'" */
    size_t total2 = total;
    total = total ? 1 : 0;
    for (size_t i = 1; i < total2; ++i) {
        const char x = text[i];
        if (x == '\'' && i + 1 < total2 && text[i - 1] == ' ' && text[i + 1] == ' ') {
            total--;
            text[++i] = '\0';
        }
        text[total++] = x;
    }
    /* third pass: " 's", " 'm", " 're", " 've" */
    size_t total3 = total;
    total = total ? 1 : 0;
    for (size_t i = 1; i < total3; ++i) {
        const char x = text[i];
        if (text[i - 1] == ' ' && x == '\'' && i + 1 < total3) {
            const char x1 = text[i + 1];
            if (x1 == 't' || x1 == 'd') {
                /* kept */
            } else if (x1 == 's' || x1 == 'm') {
                total--;
            } else if (i + 2 < total3) {
                const char x2 = text[i + 2];
                if ((x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e')) total--;
            }
        }
        text[total++] = x;
    }
    return total;
}

/* Returns HEARTH_OK with *out (NUL-terminated, caller frees) or a negative
 * status (bad id: HEARTH_ERR_RANGE). Never blocks. */
hearth_status hearth_detokenize(const hearth_vocab *v, const int32_t *ids, size_t n_ids, bool remove_special,
                                bool unparse_special, char **out, size_t *out_len) {
    if (!v || !out || (!ids && n_ids > 0))
        return hearth_error_set(HEARTH_ERR_INVALID, "hearth_detokenize: bad arguments");
    *out = NULL;
    if (out_len) *out_len = 0;
    for (size_t i = 0; i < n_ids; i++)
        if (ids[i] < 0 || ids[i] >= v->n_tokens)
            return hearth_error_set(HEARTH_ERR_RANGE, "token id %d at position %zu out of range", (int)ids[i], i);

    bool remove_space = v->add_space_prefix;
    if (remove_special && v->add_bos && n_ids > 0 && ids[0] == v->bos) {
        remove_space = false;
        ids++;
        n_ids--;
    }
    if (remove_special && v->add_eos && n_ids > 0 && ids[n_ids - 1] == v->eos) n_ids--;

    hearth_bytebuf b = {0};
    hearth_status st = hearth_bytebuf_put(&b, "", 0);
    for (size_t i = 0; i < n_ids && st == HEARTH_OK; i++) {
        st = hearth_vocab_piece(v, ids[i], remove_space ? 1 : 0, unparse_special, &b);
        remove_space = false;
    }
    if (st == HEARTH_OK && !b.p) {
        b.p = hearth_malloc(1);
        if (!b.p) st = hearth_error_set(HEARTH_ERR_NOMEM, "out of memory");
        else b.p[0] = '\0';
    }
    if (st != HEARTH_OK) {
        hearth_free(b.p);
        return st;
    }
    if (v->clean_spaces) {
        b.n = clean_spaces(b.p, b.n);
        b.p[b.n] = '\0';
    }
    *out = b.p;
    if (out_len) *out_len = b.n;
    return HEARTH_OK;
}

/* ------------------------------------------------------------------ */
/* streaming                                                           */

/* Initialises the stream; never blocks. */
void hearth_detok_stream_init(hearth_detok_stream *s, const hearth_vocab *v) {
    if (!s) return;
    s->vocab = v;
    s->at_start = true;
    s->n_pending = 0;
    memset(s->pending, 0, sizeof s->pending);
}

/* Classifies the UTF-8 sequence at p[0..n): returns its length when it is a
 * complete valid character, 0 when it is a valid but unfinished prefix
 * (needs more bytes), or -k when its first k bytes are invalid (k >= 1:
 * the maximal ill-formed subpart, replaced by one U+FFFD). */
static int utf8_check(const unsigned char *p, size_t n) {
    unsigned char c = p[0];
    int need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) need = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        return -1;
    }
    for (int i = 1; i < need; i++) {
        if ((size_t)i >= n) return 0;
        unsigned char lo_i = i == 1 ? lo : 0x80, hi_i = i == 1 ? hi : 0xBF;
        if (p[i] < lo_i || p[i] > hi_i) return -i;
    }
    return need;
}

/* Converts data[0..n) into whole characters in out; an unfinished tail is
 * left for later (*held = its start) unless `final`, when it becomes U+FFFD.
 * Returns the output length, or -1 when it does not fit cap. */
static long emit_valid(const unsigned char *data, size_t n, bool final, char *out, size_t cap, size_t *held) {
    size_t o = 0, i = 0;
    *held = n;
    while (i < n) {
        int r = utf8_check(data + i, n - i);
        if (r == 0 && !final) {
            *held = i;
            break;
        }
        if (r > 0) {
            if (o + (size_t)r > cap) return -1;
            memcpy(out + o, data + i, (size_t)r);
            o += (size_t)r;
            i += (size_t)r;
        } else {
            if (o + 3 > cap) return -1;
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i += r < 0 ? (size_t)(-r) : n - i; /* an unfinished tail at the end is one U+FFFD */
        }
    }
    return (long)o;
}

/* Returns the count of bytes written to out, or a negative status
 * (HEARTH_ERR_RANGE when cap is too small; the stream is then unchanged).
 * Never blocks. */
int hearth_detok_stream_push(hearth_detok_stream *s, int32_t id, char *out, size_t cap) {
    if (!s || !s->vocab || (!out && cap > 0))
        return hearth_error_set(HEARTH_ERR_INVALID, "hearth_detok_stream_push: bad arguments");
    const hearth_vocab *v = s->vocab;
    if (id < 0 || id >= v->n_tokens) return hearth_error_set(HEARTH_ERR_RANGE, "token id %d out of range", (int)id);
    hearth_bytebuf b = {0};
    hearth_status st = hearth_bytebuf_put(&b, s->pending, s->n_pending);
    if (st == HEARTH_OK) {
        /* the first token of a text drops the SPM prefix space, as detokenize does */
        st = hearth_vocab_piece(v, id, (s->at_start && v->add_space_prefix) ? 1 : 0, false, &b);
    }
    if (st != HEARTH_OK) {
        hearth_free(b.p);
        return st;
    }
    size_t held = 0;
    long o = 0;
    if (b.n) o = emit_valid((const unsigned char *)b.p, b.n, false, out, cap, &held);
    if (o < 0 || o > INT32_MAX) {
        hearth_free(b.p);
        return hearth_error_set(HEARTH_ERR_RANGE, "detok stream: output buffer of %zu bytes too small", cap);
    }
    size_t rest = b.n - held;
    if (rest > sizeof s->pending) { /* cannot happen: a held tail is at most 3 bytes */
        hearth_free(b.p);
        return hearth_error_set(HEARTH_ERR_INTERNAL, "detok stream: pending tail too long");
    }
    if (rest) memcpy(s->pending, b.p + held, rest);
    s->n_pending = rest;
    s->at_start = false;
    hearth_free(b.p);
    return (int)o;
}

/* Returns the count of bytes written (the pending tail as U+FFFD), or
 * HEARTH_ERR_RANGE when cap is too small. Never blocks. */
int hearth_detok_stream_flush(hearth_detok_stream *s, char *out, size_t cap) {
    if (!s || (!out && cap > 0)) return hearth_error_set(HEARTH_ERR_INVALID, "hearth_detok_stream_flush: bad arguments");
    if (s->n_pending == 0) return 0;
    size_t held;
    long o = emit_valid((const unsigned char *)s->pending, s->n_pending, true, out, cap, &held);
    if (o < 0) return hearth_error_set(HEARTH_ERR_RANGE, "detok stream: output buffer of %zu bytes too small", cap);
    s->n_pending = 0;
    return (int)o;
}
