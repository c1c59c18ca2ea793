/* tok_bpe.c - byte-level BPE (placeholder until the BPE tokenizer lands). */
#include "engine/vocab_internal.h"

#include <string.h>

hearth_status hearth_bpe_ranks_new(const hearth_vocab *v, const hearth_gguf_kv *merges,
                                   hearth_bpe_ranks **out) {
    (void)v; (void)merges;
    *out = NULL;
    return hearth_error_set(HEARTH_ERR_UNSUPPORTED, "BPE tokenizer not implemented yet");
}

void hearth_bpe_ranks_free(hearth_bpe_ranks *r) { (void)r; }

hearth_status hearth_bpe_pre_from_name(const char *name, hearth_bpe_pre *out) {
    (void)name;
    *out = HEARTH_PRE_DEFAULT;
    return HEARTH_OK;
}

hearth_status hearth_bpe_encode_fragment(const hearth_vocab *v, const char *text, size_t len,
                                         hearth_idbuf *out) {
    (void)v; (void)text; (void)len; (void)out;
    return hearth_error_set(HEARTH_ERR_UNSUPPORTED, "BPE tokenizer not implemented yet");
}
