/* test_logits.h - helpers the tests that compare logits share (header-only,
 * static inline so a test that does not use one gets no warning). */
#ifndef HEARTH_TEST_LOGITS_H
#define HEARTH_TEST_LOGITS_H

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

/* Returns the index of the largest of row[0..n) (the first on ties) and
 * stores its lead over the runner-up in *margin when margin is not NULL. */
static inline int argmax_row(const float *row, int n, float *margin) {
    int best = 0, second = -1;
    for (int i = 1; i < n; i++)
        if (row[i] > row[best]) best = i;
    for (int i = 0; i < n; i++)
        if (i != best && (second < 0 || row[i] > row[second])) second = i;
    if (margin) *margin = second < 0 ? INFINITY : row[best] - row[second];
    return best;
}

/* Returns max |a[i] - b[i]|, or INFINITY when any difference is NaN. */
static inline double max_diff(const float *a, const float *b, size_t n) {
    double mx = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= mx)) mx = isnan(d) ? INFINITY : d;
    }
    return mx;
}

/* Returns a malloc'd copy of a JSON array of token ids (*n of them; 0 when
 * arr is not an array), or NULL when out of memory. The caller frees it. */
static inline int32_t *json_ids(const json_t *arr, size_t *n) {
    *n = json_is_array(arr) ? json_array_size(arr) : 0;
    int32_t *ids = malloc((*n ? *n : 1) * sizeof *ids);
    for (size_t i = 0; ids && i < *n; i++) ids[i] = (int32_t)json_integer_value(json_array_get(arr, i));
    return ids;
}

#endif
