/* stopstr.c - stop-string matching over streamed text.
 *
 * Generated text arrives piece by piece, and a stop string may span several
 * pieces. The scheduler keeps a small "held" buffer: after each piece it
 * looks for a complete stop string (cut there, never emit it), else it
 * emits everything except the longest tail that could still grow into a
 * stop string. A stop string can therefore only ever occur inside the held
 * buffer, so these helpers need look at nothing else.
 */
#include <string.h>

#include "server/sched_internal.h"

/* Returns the start offset of the earliest occurrence of any (non-empty)
 * stop string in text[0..n), or -1 when there is none. Never blocks. */
long hearth_stopstr_find(const char *text, size_t n, char *const *stop, const size_t *len,
                         size_t n_stop) {
    long best = -1;
    for (size_t k = 0; k < n_stop; k++) {
        size_t L = len[k];
        if (L == 0 || L > n) continue;
        for (size_t i = 0; i + L <= n; i++) {
            if (best >= 0 && (long)i >= best) break;
            if (text[i] == stop[k][0] && memcmp(text + i, stop[k], L) == 0) {
                best = (long)i;
                break;
            }
        }
    }
    return best;
}

/* Returns the length of the longest suffix of text[0..n) that equals a
 * proper prefix of some stop string (0 when none). Never blocks. */
size_t hearth_stopstr_partial(const char *text, size_t n, char *const *stop, const size_t *len,
                              size_t n_stop) {
    size_t best = 0;
    for (size_t k = 0; k < n_stop; k++) {
        size_t L = len[k] ? len[k] - 1 : 0;
        if (L > n) L = n;
        for (; L > best; L--) {
            if (memcmp(text + n - L, stop[k], L) == 0) {
                best = L;
                break;
            }
        }
    }
    return best;
}
