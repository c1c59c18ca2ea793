/* tok_spm.c - SentencePiece (llama.cpp llm_tokenizer_spm_session): split an
 * escaped fragment into UTF-8 characters, repeatedly merge the adjacent pair
 * whose concatenation is a vocab token with the highest score (ties: the
 * leftmost), then emit each final symbol as its token or, when it is not one,
 * as <0xXX> byte tokens. */
#include "engine/vocab_impl.h"

#include <string.h>

typedef struct sym {
    const char *text;
    size_t n;
    int prev, next;
} sym;

typedef struct bigram {
    int left, right;
    float score;
    size_t size;
} bigram;

/* llama.cpp's comparator: a ranks below b when its score is lower, or equal
 * with a larger left index. Returns true when a < b. */
static bool bigram_less(const bigram *a, const bigram *b) {
    return a->score < b->score || (a->score == b->score && a->left > b->left);
}

typedef struct heap {
    bigram *h;
    size_t n, cap;
} heap;

/* Pushes onto the max-heap; returns HEARTH_OK or HEARTH_ERR_NOMEM. */
static hearth_status heap_push(heap *q, bigram b) {
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64;
        bigram *p = hearth_reallocarray(q->h, cap, sizeof *p);
        if (!p) return hearth_error_set(HEARTH_ERR_NOMEM, "out of memory in the SPM tokenizer");
        q->h = p;
        q->cap = cap;
    }
    size_t i = q->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!bigram_less(&q->h[parent], &b)) break;
        q->h[i] = q->h[parent];
        i = parent;
    }
    q->h[i] = b;
    return HEARTH_OK;
}

/* Pops the top of a non-empty heap. */
static bigram heap_pop(heap *q) {
    bigram top = q->h[0];
    bigram last = q->h[--q->n];
    size_t i = 0, n = q->n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && bigram_less(&q->h[c], &q->h[c + 1])) c++;
        if (!bigram_less(&last, &q->h[c])) break;
        q->h[i] = q->h[c];
        i = c;
    }
    if (n) q->h[i] = last;
    return top;
}

/* Queues the pair (left, right) when its concatenation is a token. */
static hearth_status try_add_bigram(const hearth_vocab *v, const sym *syms, heap *q, int left, int right) {
    if (left < 0 || right < 0) return HEARTH_OK;
    size_t size = syms[left].n + syms[right].n;
    int32_t id = hearth_vocab_lookup(v, syms[left].text, size);
    if (id < 0) return HEARTH_OK;
    bigram b = {left, right, v->scores[id], size};
    return heap_push(q, b);
}

/* UTF-8 length from the lead byte's high nibble (llama.cpp unicode_len_utf8). */
static size_t spm_char_len(unsigned char c) {
    static const unsigned char lookup[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lookup[c >> 4];
}

/* Returns HEARTH_OK after appending the ids of text[0..len) to out, or
 * HEARTH_ERR_NOMEM / HEARTH_ERR_NOT_FOUND (a byte has no token and there is
 * no UNK). Never blocks. */
hearth_status hearth_spm_encode_fragment(const hearth_vocab *v, const char *text, size_t len,
                                         hearth_idbuf *out) {
    if (len == 0) return HEARTH_OK;
    if (len > (size_t)INT32_MAX) return hearth_error_set(HEARTH_ERR_RANGE, "text too long to tokenize");
    sym *syms = hearth_malloc(len * sizeof *syms);
    heap q = {0};
    hearth_status st = HEARTH_OK;
    if (!syms) return hearth_error_set(HEARTH_ERR_NOMEM, "out of memory in the SPM tokenizer");

    int n = 0;
    for (size_t off = 0; off < len;) {
        size_t cl = spm_char_len((unsigned char)text[off]);
        if (cl > len - off) cl = len - off;
        syms[n].text = text + off;
        syms[n].n = cl;
        syms[n].prev = n - 1;
        off += cl;
        syms[n].next = off == len ? -1 : n + 1;
        n++;
    }

    for (int i = 1; i < n; i++)
        if ((st = try_add_bigram(v, syms, &q, i - 1, i)) != HEARTH_OK) goto done;

    while (q.n > 0) {
        bigram b = heap_pop(&q);
        sym *l = &syms[b.left], *r = &syms[b.right];
        /* skip pairs whose symbols changed since they were queued */
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) syms[r->next].prev = b.left;
        if ((st = try_add_bigram(v, syms, &q, l->prev, b.left)) != HEARTH_OK) goto done;
        if ((st = try_add_bigram(v, syms, &q, b.left, l->next)) != HEARTH_OK) goto done;
    }

    for (int i = 0; i != -1; i = syms[i].next) {
        /* a merged symbol is always a token; single characters may not be */
        int32_t id = hearth_vocab_lookup(v, syms[i].text, syms[i].n);
        if (id >= 0) {
            if ((st = hearth_idbuf_push(out, id)) != HEARTH_OK) goto done;
            continue;
        }
        for (size_t j = 0; j < syms[i].n; j++) {
            int32_t bt = v->byte_token[(unsigned char)syms[i].text[j]];
            if (bt < 0) bt = v->unk;
            if (bt < 0) {
                st = hearth_error_set(HEARTH_ERR_NOT_FOUND, "SPM vocab has no token for byte 0x%02X and no <unk>",
                                      (unsigned char)syms[i].text[j]);
                goto done;
            }
            if ((st = hearth_idbuf_push(out, bt)) != HEARTH_OK) goto done;
        }
    }
done:
    hearth_free(syms);
    hearth_free(q.h);
    return st;
}
