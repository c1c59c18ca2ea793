/* sampler.h - turning logits into the next token.
 *
 * The chain follows the reference implementation's order: logit bias,
 * penalties (repetition, frequency, presence over the last `penalty_last_n`
 * tokens), then greedy when temperature <= 0, else top-k, top-p, min-p,
 * temperature, and a draw from a seeded PRNG (same seed, same output).
 */
#ifndef HEARTH_SAMPLER_H
#define HEARTH_SAMPLER_H

#include <stdbool.h>
#include <stdint.h>

#include "hearth/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hearth_sampler_params {
    float temperature;       /* <= 0: greedy (argmax, lowest id on ties) */
    int32_t top_k;           /* <= 0: off */
    float top_p;             /* >= 1: off */
    float min_p;             /* <= 0: off */
    float repeat_penalty;    /* 1: off */
    float frequency_penalty; /* 0: off */
    float presence_penalty;  /* 0: off */
    int32_t penalty_last_n;  /* tokens the penalties look at; 0: off, -1: all */
    uint64_t seed;
} hearth_sampler_params;

/* The defaults users expect: temperature 0.8, top-k 40, top-p 0.95,
 * min-p 0.05, penalties off, penalty_last_n 64, seed 0. */
hearth_sampler_params hearth_sampler_default_params(void);

typedef struct hearth_sampler hearth_sampler;

/* Returns HEARTH_ERR_INVALID (with detail) for out-of-range parameters. */
hearth_status hearth_sampler_new(const hearth_sampler_params *p, int32_t n_vocab,
                                 hearth_sampler **out);
void hearth_sampler_free(hearth_sampler *s);
/* Adds a bias to one token's logit before sampling (OpenAI logit_bias). */
hearth_status hearth_sampler_set_bias(hearth_sampler *s, int32_t token, float bias);
/* Records a token as part of the context the penalties look at. */
void hearth_sampler_accept(hearth_sampler *s, int32_t token);
/* Forgets accepted tokens and reseeds. */
void hearth_sampler_reset(hearth_sampler *s);
/* Picks the next token from `logits` (n_vocab values; not modified).
 * Returns the id (>= 0). Never blocks, never allocates. */
int32_t hearth_sampler_sample(hearth_sampler *s, const float *logits);

#ifdef __cplusplus
}
#endif
#endif
