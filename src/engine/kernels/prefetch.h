/* prefetch.h - software prefetch for kernels that stream weights (internal).
 *
 * Decoding reads every weight once per token, straight from DRAM. The
 * hardware prefetcher alone keeps one core well below the memory's read
 * bandwidth: on the development machine (AMD EPYC, AVX2) the Q4_0 decode
 * kernel streamed 9.6-10.6 GB/s from DRAM against 14-16 GB/s for a plain
 * read loop. Asking for the bytes HEARTH_PREFETCH_AHEAD ahead of the ones
 * being used lifted it to 11.2-14.6 GB/s (four interleaved runs); 1-2 KB
 * ahead helped less and 8 KB less again (the lines start to fall out of L1
 * before use). In `hearth bench` (1.1B shape, tg64, three interleaved runs
 * each) the Q4_0 and Q8_0 decode kernels gained 25-28 % on one thread.
 */
#ifndef HEARTH_KERNELS_PREFETCH_H
#define HEARTH_KERNELS_PREFETCH_H

#include <stddef.h>
#include <stdint.h>

#define HEARTH_PREFETCH_AHEAD 4096

/* Prefetches the cache lines covering [p, p + len) shifted HEARTH_PREFETCH_AHEAD
 * bytes ahead. The address may lie past the weights (the next row, or
 * nothing: a prefetch never faults), so it is formed as an integer. Does
 * not block. */
static inline void hearth_prefetch_ahead(const void *p, size_t len) {
    for (size_t o = 0; o < len; o += 64)
        __builtin_prefetch((const void *)((uintptr_t)p + HEARTH_PREFETCH_AHEAD + o), 0, 3);
}

#endif
