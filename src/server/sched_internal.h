/* sched_internal.h - the scheduler's private structures, shared by
 * sched.c (public API, engine thread loop, admission), sched_step.c (one
 * batched step: batch building, sampling, events) and stopstr.c.
 *
 * Locking: `mu` guards the queue, every slot's `req` pointer, the counters
 * (n_queued, n_active, stats), the embedding jobs and `stopping`; each
 * request's `cancelled` flag is written and read under it too. Everything
 * else in a slot or an admitted request belongs to the engine thread alone.
 * Callbacks always run without `mu` held, so they may call submit/cancel.
 */
#ifndef HEARTH_SERVER_SCHED_INTERNAL_H
#define HEARTH_SERVER_SCHED_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hearth/constraint.h"
#include "hearth/model.h"
#include "hearth/sampler.h"
#include "hearth/sched.h"
#include "hearth/tokenizer.h"

#define SCHED_MAX_TOP 20
/* Room for one detokenized piece plus a flushed UTF-8 tail (tokenizer.h:
 * a push never needs more than 272 bytes). */
#define SCHED_PIECE_CAP 320
/* Prompt tokens per step of a request that wants prompt logprobs (each
 * needs a full logits row). */
#define SCHED_ECHO_CHUNK 32

typedef struct sched_req {
    uint64_t id;
    struct sched_req *next;      /* queue link */
    int32_t *prompt;
    int32_t n_prompt;
    int32_t max_tokens;
    hearth_logit_bias *bias;
    size_t n_bias;
    char **stop;
    size_t *stop_len;
    size_t n_stop;
    size_t max_stop;             /* longest stop string */
    bool ignore_eos;
    int32_t n_logprobs;
    bool prompt_logprobs;
    hearth_sampler *sampler;     /* seeded for this request only */
    hearth_constraint *constraint;
    hearth_constraint_state *cst;
    double t_submit;
    double deadline;             /* monotonic seconds; 0: none */
    hearth_gen_cb cb;
    void *user;
    bool cancelled;              /* under mu */
    hearth_finish why;           /* reason when it leaves the queue unadmitted */
    /* generated text not yet emitted (a possible stop-string prefix) */
    char *hold;
    size_t n_hold, cap_hold;
    char echo[SCHED_PIECE_CAP];  /* text of one echoed prompt token */
} sched_req;

typedef enum sched_slot_state {
    SLOT_FREE = 0,
    SLOT_ADMITTED,               /* req assigned, prompt cache not yet matched */
    SLOT_PREFILL,
    SLOT_DECODE
} sched_slot_state;

typedef struct sched_slot {
    int32_t idx;                 /* sequence id in the context */
    int32_t *cache;              /* [n_ctx] tokens in this sequence's KV cache */
    int32_t n_cache;
    uint64_t last_used;          /* for LRU choice among equal prefixes */
    sched_req *req;              /* under mu */
    hearth_finish pending;       /* cancel/timeout seen under mu, applied after */
    sched_slot_state state;
    uint64_t admit_seq;
    int32_t n_done;              /* prompt tokens in the cache */
    int32_t n_cached;            /* of those, reused from the prompt cache */
    int32_t n_gen;
    int32_t next_token;          /* sampled, emitted, not yet evaluated */
    double ttft;
    hearth_detok_stream ds;      /* generated text */
    hearth_detok_stream ps;      /* echoed prompt text */
    /* this step's share of the batch */
    int32_t b_first, b_n, b_row;
    hearth_token_logprob top[SCHED_MAX_TOP];
    char err[256];
} sched_slot;

typedef struct sched_embed_job {
    const int32_t *tokens;
    int32_t n;
    float *out;
    hearth_status st;
    bool done;
    char err[256];
    struct sched_embed_job *next;
} sched_embed_job;

struct hearth_sched {
    const hearth_model *m;
    const hearth_vocab *vocab;
    int32_t n_vocab;
    bool is_bert;
    hearth_sched_params p;       /* resolved values */
    int32_t n_ctx;
    hearth_context *ctx;
    hearth_context *embed_ctx;   /* decoder models: created on first embed */
    sched_slot *slots;
    /* batch buffers (engine thread) */
    int32_t *b_tok, *b_seq;
    uint8_t *b_want;
    float *logits;
    int32_t rows_cap;
    uint64_t counter;            /* admission / LRU clock */

    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;           /* wakes the engine thread */
    pthread_cond_t embed_cv;     /* wakes embedding callers */
    bool stopping;
    sched_req *q_head, *q_tail;
    int32_t n_queued, n_active;
    uint64_t next_id;
    sched_embed_job *jobs;
    hearth_sched_stats stats;
};

/* sched.c */
double hearth_sched_now(void);
void hearth_sched_req_free(sched_req *r);
/* Ends the slot's request with a DONE event and frees it; the slot keeps
 * its cached tokens. Runs on the engine thread without mu held. */
void hearth_sched_slot_finish(hearth_sched *s, sched_slot *sl, hearth_finish why,
                              hearth_status st, const char *err);

/* sched_step.c */
/* Matches the slot's cache against its new request's prompt. */
void hearth_sched_slot_start(hearth_sched *s, sched_slot *sl);
/* Builds and runs one batch over all active slots, then samples and emits. */
void hearth_sched_step(hearth_sched *s);

/* stopstr.c */
/* Start of the earliest occurrence of any stop string in text[0..n), or -1. */
long hearth_stopstr_find(const char *text, size_t n, char *const *stop, const size_t *len,
                         size_t n_stop);
/* Length of the longest suffix of text[0..n) that is a proper prefix of
 * some stop string (text that must be held back), 0 if none. */
size_t hearth_stopstr_partial(const char *text, size_t n, char *const *stop, const size_t *len,
                              size_t n_stop);

#endif
