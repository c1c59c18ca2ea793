/* sched.h - the request scheduler: continuous batching over one model.
 *
 * One engine thread owns a multi-sequence context (n_parallel KV slots).
 * Each step it builds one batch holding the next token of every decoding
 * sequence plus a chunk of at most one or two prefilling prompts, runs it
 * with hearth_decode (each weight read once per step for all sequences),
 * samples, and reports per-token events. New requests wait in a bounded
 * queue and join at the next step; finished or cancelled ones leave at once.
 * A slot keeps its tokens after a request ends, so a new request whose
 * prompt shares a prefix with a slot's cache (a repeated system prompt)
 * only evaluates the rest (the prompt cache).
 *
 * Threading: every function here is thread-safe and non-blocking unless its
 * comment says otherwise. Event callbacks run on the engine thread and must
 * not block: copy what you need and wake your own thread.
 */
#ifndef HEARTH_SCHED_H
#define HEARTH_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hearth/model.h"
#include "hearth/sampler.h"
#include "hearth/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hearth_constraint hearth_constraint; /* hearth/constraint.h */

typedef struct hearth_sched_params {
    int32_t n_parallel;     /* sequences decoded together (KV slots); >= 1 */
    int32_t n_ctx;          /* positions per slot (<= 0: model's training length, max 4096) */
    int32_t n_threads;      /* engine threads (<= 0: physical cores) */
    int32_t max_queue;      /* requests waiting beyond the active ones; 0: no waiting */
    int32_t prefill_chunk;  /* prompt tokens per sequence per step (<= 0: 256) */
    int32_t max_batch;      /* tokens per step (<= 0: 512) */
    uint32_t kv_type;       /* KV cache type: HEARTH_TYPE_F32 (0, default) or HEARTH_TYPE_F16 */
    int32_t prefill_budget; /* prompt tokens per step while the step is shared, i.e.
                               other requests are generating or have prompts waiting
                               (<= 0: 64); bounds how long prompts stall streams and
                               lets earlier requests start first. A lone prompt takes
                               prefill_chunk per step. */
} hearth_sched_params;

typedef enum hearth_finish {
    HEARTH_FINISH_NONE = 0,
    HEARTH_FINISH_STOP,       /* end-of-generation token or a stop string */
    HEARTH_FINISH_LENGTH,     /* max_tokens reached, or the context is full */
    HEARTH_FINISH_CANCELLED,  /* hearth_sched_cancel */
    HEARTH_FINISH_TIMEOUT,    /* the request's timeout passed */
    HEARTH_FINISH_ERROR       /* see event.status / hearth_error detail in event.error */
} hearth_finish;

typedef struct hearth_logit_bias {
    int32_t token;
    float bias;               /* -INFINITY bans the token */
} hearth_logit_bias;

typedef struct hearth_gen_request {
    const int32_t *prompt;        /* [n_prompt] (copied by submit) */
    size_t n_prompt;
    int32_t max_tokens;           /* <= 0: until the slot's context is full */
    hearth_sampler_params sampling;
    const hearth_logit_bias *bias;/* [n_bias] (copied) */
    size_t n_bias;
    const char *const *stop;      /* [n_stop] stop strings (copied); never emitted */
    size_t n_stop;
    bool ignore_eos;              /* keep going past end-of-generation tokens */
    int32_t n_logprobs;           /* 0: none; else the top-N alternatives per token (<= 20) */
    bool prompt_logprobs;         /* also report logprobs of prompt tokens (echo) */
    hearth_constraint *constraint;/* owned by the scheduler after a successful submit; may be NULL */
    double timeout_s;             /* <= 0: none; counted from submit */
} hearth_gen_request;

typedef struct hearth_token_logprob {
    int32_t token;
    float logprob;
} hearth_token_logprob;

typedef enum hearth_gen_event_kind {
    HEARTH_EVENT_TOKEN = 1,       /* a generated (or echoed prompt) token */
    HEARTH_EVENT_DONE = 2         /* last event of a request, exactly once */
} hearth_gen_event_kind;

typedef struct hearth_gen_event {
    hearth_gen_event_kind kind;
    uint64_t id;
    /* TOKEN */
    int32_t token;
    bool is_prompt;               /* an echoed prompt token (prompt_logprobs) */
    const char *text;             /* bytes ready to print (whole UTF-8 characters,
                                     with any possible stop-string prefix held
                                     back); may be empty; not NUL-terminated */
    size_t text_len;
    float logprob;                /* of `token` (NAN when logprobs were not asked) */
    const hearth_token_logprob *top; /* [n_top] best alternatives, descending */
    int32_t n_top;
    /* DONE */
    hearth_finish finish;
    hearth_status status;         /* HEARTH_OK unless finish == ERROR */
    const char *error;            /* detail for ERROR, else NULL */
    int32_t prompt_tokens;
    int32_t cached_tokens;        /* prompt tokens reused from the prompt cache */
    int32_t completion_tokens;
    double time_to_first_token_s; /* from submit to the first generated token */
} hearth_gen_event;

typedef void (*hearth_gen_cb)(void *user, const hearth_gen_event *ev);

typedef struct hearth_sched hearth_sched;

/* Starts the engine thread over `m` (borrowed: must outlive the scheduler).
 * Blocks while it allocates the context. */
hearth_status hearth_sched_new(const hearth_model *m, const hearth_sched_params *p,
                               hearth_sched **out);
/* Cancels everything (each request gets its DONE event), stops and joins
 * the engine thread, frees. NULL is a no-op. Blocks until the thread ends. */
void hearth_sched_free(hearth_sched *s);

/* Queues a request. On success *id identifies it and `cb` will receive its
 * events (possibly before submit returns). Fails without calling cb:
 * HEARTH_ERR_RANGE (detail "queue full") when max_queue requests already
 * wait; HEARTH_ERR_INVALID when the prompt is empty, has a bad id, or cannot
 * fit in a slot's context with at least one generated token (detail names
 * the sizes); HEARTH_ERR_CANCELLED when the scheduler is stopping. */
hearth_status hearth_sched_submit(hearth_sched *s, const hearth_gen_request *req,
                                  hearth_gen_cb cb, void *user, uint64_t *id);
/* Requests cancellation; the sequence leaves the batch at the next step and
 * its DONE event (finish CANCELLED) follows. Unknown or finished ids are
 * ignored. */
void hearth_sched_cancel(hearth_sched *s, uint64_t id);

/* Computes an embedding (hearth_embed semantics, normalised) between two
 * engine steps. Blocks the caller until done. */
hearth_status hearth_sched_embed(hearth_sched *s, const int32_t *tokens, int32_t n, float *out);

typedef struct hearth_sched_stats {
    int32_t n_parallel;
    int32_t queue_depth;          /* waiting, not yet in a slot */
    int32_t active;               /* in a slot */
    uint64_t requests_total;      /* submitted successfully */
    uint64_t prompt_tokens_total; /* evaluated (cache hits excluded) */
    uint64_t cached_tokens_total;
    uint64_t generated_tokens_total;
    uint64_t steps_total;
    double busy_seconds_total;    /* time spent in forward passes */
} hearth_sched_stats;

void hearth_sched_stats_get(hearth_sched *s, hearth_sched_stats *out);

#ifdef __cplusplus
}
#endif
#endif
