/* types_internal.h - the static size table behind hearth/quant.h. */
#ifndef HEARTH_TYPES_INTERNAL_H
#define HEARTH_TYPES_INTERNAL_H

#include "hearth/quant.h"

typedef struct hearth_type_size {
    const char *name;   /* NULL: not a ggml type id */
    int64_t block_size; /* values per block */
    size_t type_size;   /* bytes per block */
} hearth_type_size;

extern const hearth_type_size hearth_type_sizes[HEARTH_TYPE_COUNT];

#endif
