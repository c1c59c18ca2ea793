/* gguf_write.h - a streaming writer of GGUF version 3 files.
 *
 * Usage: build the header in memory (metadata with the set_* / copy_*
 * functions, then the tensor table with add_tensor), call
 * hearth_gguf_writer_open() to create the file and write the header, stream
 * each tensor's bytes in table order with hearth_gguf_writer_write() (in as
 * many pieces as convenient), then hearth_gguf_writer_finish().
 *
 * The header is complete before any data is written, so the writer never
 * seeks back and never holds tensor data: memory stays at the size of the
 * metadata plus one I/O buffer, whatever the size of the model.
 *
 * Atomicity: the bytes go to "<path>.tmp"; finish() flushes, syncs and
 * renames it to <path>. A run that fails (a write error such as ENOSPC or
 * EFBIG, a missing tensor byte) or is abandoned (free() without finish())
 * removes the temporary file, so a file named <path> is always complete.
 *
 * Metadata keys keep insertion order. Setting a key that already exists
 * removes the old entry and appends the new one (what ggml's gguf_set_*
 * does, so a copied-then-updated header matches llama.cpp's order).
 * "general.alignment" (uint32, a power of two) sets the data alignment;
 * the default is 32.
 */
#ifndef HEARTH_GGUF_WRITE_H
#define HEARTH_GGUF_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hearth/gguf.h"
#include "hearth/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hearth_gguf_writer hearth_gguf_writer;

/* Creates an empty writer (no file yet). Returns HEARTH_OK or NOMEM. */
hearth_status hearth_gguf_writer_new(hearth_gguf_writer **out);

/* Closes and removes an unfinished temporary file, then frees; NULL is a
 * no-op. Blocks on the close/unlink. */
void hearth_gguf_writer_free(hearth_gguf_writer *w);

/* ---- metadata (before open) ------------------------------------------- */

/* Scalar setters. Each returns HEARTH_OK, NOMEM, or INVALID (empty key,
 * or called after open). */
hearth_status hearth_gguf_writer_set_u8(hearth_gguf_writer *w, const char *key, uint8_t v);
hearth_status hearth_gguf_writer_set_i8(hearth_gguf_writer *w, const char *key, int8_t v);
hearth_status hearth_gguf_writer_set_u16(hearth_gguf_writer *w, const char *key, uint16_t v);
hearth_status hearth_gguf_writer_set_i16(hearth_gguf_writer *w, const char *key, int16_t v);
hearth_status hearth_gguf_writer_set_u32(hearth_gguf_writer *w, const char *key, uint32_t v);
hearth_status hearth_gguf_writer_set_i32(hearth_gguf_writer *w, const char *key, int32_t v);
hearth_status hearth_gguf_writer_set_u64(hearth_gguf_writer *w, const char *key, uint64_t v);
hearth_status hearth_gguf_writer_set_i64(hearth_gguf_writer *w, const char *key, int64_t v);
hearth_status hearth_gguf_writer_set_f32(hearth_gguf_writer *w, const char *key, float v);
hearth_status hearth_gguf_writer_set_f64(hearth_gguf_writer *w, const char *key, double v);
hearth_status hearth_gguf_writer_set_bool(hearth_gguf_writer *w, const char *key, bool v);
/* A string of `len` bytes (need not be NUL-terminated). */
hearth_status hearth_gguf_writer_set_str(hearth_gguf_writer *w, const char *key, const char *s,
                                         uint64_t len);
/* An array of n numeric or bool elements of type elem_type (not STRING or
 * ARRAY), given as host values (converted to little-endian). */
hearth_status hearth_gguf_writer_set_arr(hearth_gguf_writer *w, const char *key,
                                         hearth_gguf_vtype elem_type, const void *data, uint64_t n);
/* An array of n strings; lens may be NULL for NUL-terminated strings. */
hearth_status hearth_gguf_writer_set_arr_str(hearth_gguf_writer *w, const char *key,
                                             const char *const *strs, const uint64_t *lens,
                                             uint64_t n);
/* Copies one entry read by hearth_gguf (any type, arrays of strings too). */
hearth_status hearth_gguf_writer_copy_kv(hearth_gguf_writer *w, const hearth_gguf_kv *kv);
/* Copies every entry of g, in order. */
hearth_status hearth_gguf_writer_copy_kvs(hearth_gguf_writer *w, const hearth_gguf *g);
/* Removes a key; returns true when it was present. */
bool hearth_gguf_writer_remove(hearth_gguf_writer *w, const char *key);
/* Number of metadata entries so far. */
uint64_t hearth_gguf_writer_n_kv(const hearth_gguf_writer *w);

/* ---- tensor table (before open) --------------------------------------- */

/* Appends a tensor info: n_dims in 1..4, ne[0..n_dims) positive, type a
 * ggml type whose block size divides ne[0]. Returns INVALID (duplicate
 * name, bad shape or type), RANGE (size overflow) or NOMEM. */
hearth_status hearth_gguf_writer_add_tensor(hearth_gguf_writer *w, const char *name,
                                            uint32_t n_dims, const int64_t *ne, uint32_t type);
/* Data bytes of tensor i (unpadded), or 0 for a bad index. */
uint64_t hearth_gguf_writer_tensor_nbytes(const hearth_gguf_writer *w, uint64_t i);
uint64_t hearth_gguf_writer_n_tensors(const hearth_gguf_writer *w);

/* ---- output ----------------------------------------------------------- */

/* Creates "<path>.tmp" (truncating), writes the header and tensor table.
 * After this, metadata and tensors can no longer be added. Returns IO with
 * the errno text on failure (nothing is left behind). Blocks on I/O. */
hearth_status hearth_gguf_writer_open(hearth_gguf_writer *w, const char *path);

/* Appends n bytes of tensor data. Data is streamed in table order: bytes
 * fill the current tensor, then alignment padding is inserted and the next
 * tensor starts. Returns INVALID when n goes past the last tensor, IO on a
 * write error (the temporary file is then removed). Blocks on I/O. */
hearth_status hearth_gguf_writer_write(hearth_gguf_writer *w, const void *data, size_t n);

/* Total size the file will have (header + padded data); valid after open. */
uint64_t hearth_gguf_writer_file_size(const hearth_gguf_writer *w);

/* Checks that every tensor byte was written, flushes, fsyncs and renames
 * the temporary file to its final name. Returns INVALID (missing data) or
 * IO; on any failure the temporary file is removed. Blocks on I/O. */
hearth_status hearth_gguf_writer_finish(hearth_gguf_writer *w);

#ifdef __cplusplus
}
#endif
#endif
