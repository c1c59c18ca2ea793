/* quantize.h - convert a GGUF model to another tensor type mix, as
 * llama-quantize does.
 *
 * The target is named like llama-quantize's file types ("Q4_K_M", "q8_0",
 * "F16", ...). Each 2-D weight gets the type llama.cpp's recipe
 * (llama_tensor_get_type) picks for that file type: output.weight (or the
 * token embedding when it is tied) goes to Q6_K, *_K_M mixes give some
 * attn_v / ffn_down layers Q6_K, and so on; vectors (norms, biases) stay as
 * they are. With `pure`, every quantizable matrix gets the base type.
 * Either way, a row length that the chosen type's block does not divide
 * falls back as llama.cpp does (Q4_K->Q5_0, Q5_K->Q5_1, Q6_K->Q8_0,
 * Q2_K/Q3_K/IQ4_XS->IQ4_NL), and to F16 when even that does not fit.
 *
 * The weight quantizers reproduce llama-quantize's bytes. Input tensors to
 * convert must be F32, F16 or BF16; an already quantized input is refused
 * (requantizing loses quality twice).
 */
#ifndef HEARTH_QUANTIZE_H
#define HEARTH_QUANTIZE_H

#include <stdbool.h>
#include <stdint.h>

#include "hearth/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One tensor as it is written (reported before its data is converted). */
typedef struct hearth_quantize_tensor_info {
    const char *name;
    uint64_t index, count;  /* position in the output, number of tensors */
    uint32_t n_dims;
    int64_t ne[4];
    uint32_t from_type;     /* ggml type ids */
    uint32_t to_type;
    uint32_t wanted_type;   /* the recipe's choice before a shape fallback */
    bool converted;         /* false: bytes copied unchanged */
    bool fallback;          /* to_type != wanted_type because of the row length */
    uint64_t from_bytes, to_bytes;
} hearth_quantize_tensor_info;

/* Called once per tensor, in output order, from the calling thread. */
typedef void (*hearth_quantize_progress_fn)(void *user, const hearth_quantize_tensor_info *info);

typedef struct hearth_quantize_stats {
    uint32_t ftype;          /* the general.file_type written (llama_ftype) */
    uint64_t n_tensors, n_converted, n_fallback;
    uint64_t in_file_bytes, out_file_bytes;
    uint64_t in_tensor_bytes, out_tensor_bytes;
} hearth_quantize_stats;

/* Parses a target name (case-insensitive: "Q4_K_M", "q4_k" = Q4_K_M,
 * "Q8_0", "F16", "BF16", "F32", ...). On success sets *ftype to llama.cpp's
 * llama_ftype number and *base_type to the ggml type most tensors get, and
 * returns HEARTH_OK; else HEARTH_ERR_INVALID naming the supported targets. */
hearth_status hearth_quantize_parse_target(const char *name, uint32_t *ftype, uint32_t *base_type);

/* The supported target names, space-separated, for usage texts. */
const char *hearth_quantize_target_names(void);

/* Quantizes in_path into out_path (written as out_path.tmp, renamed at the
 * end; on any failure no out_path and no .tmp are left). n_threads <= 0
 * uses every physical core. progress may be NULL; stats may be NULL.
 * Works tensor by tensor: memory beyond the input mapping is one chunk of
 * rows, not the model. Returns HEARTH_OK, or INVALID (unknown target, input
 * equals output), IO (cannot read/write, disk full), FORMAT (bad input),
 * UNSUPPORTED (already quantized input, tensor type that cannot be
 * converted), NOMEM, with a one-line detail. Blocks on file I/O and CPU. */
hearth_status hearth_quantize_file(const char *in_path, const char *out_path, const char *target,
                                   int n_threads, bool pure, hearth_quantize_progress_fn progress,
                                   void *user, hearth_quantize_stats *stats);

#ifdef __cplusplus
}
#endif
#endif
