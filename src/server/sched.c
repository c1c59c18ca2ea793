/* sched.c - the request scheduler: public API, admission and the engine
 * thread's loop (see hearth/sched.h for the contract and sched_internal.h
 * for who owns what). One batched step lives in sched_step.c.
 *
 * The engine thread alternates between (1) embedding jobs, (2) retiring
 * cancelled or timed-out requests, (3) admitting queued requests into free
 * slots and (4) one batched forward step. With nothing to do it sleeps on
 * a condition variable; submit, cancel, embed and free wake it.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hearth/alloc.h"
#include "server/sched_internal.h"


/* Returns monotonic time in seconds. Never blocks. */
double hearth_sched_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Frees a request and everything it owns (including its constraint).
 * NULL is a no-op. */
void hearth_sched_req_free(sched_req *r) {
    if (!r) return;
    hearth_free(r->prompt);
    hearth_free(r->bias);
    if (r->stop)
        for (size_t i = 0; i < r->n_stop; i++) hearth_free(r->stop[i]);
    hearth_free(r->stop);
    hearth_free(r->stop_len);
    hearth_sampler_free(r->sampler);
    hearth_constraint_state_free(r->cst);
    hearth_constraint_free(r->constraint);
    hearth_free(r->hold);
    hearth_free(r);
}

/* Delivers the DONE event of a request that never reached a slot and frees
 * it. Engine thread, without mu. */
static void done_unadmitted(sched_req *r, hearth_finish why) {
    hearth_gen_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = HEARTH_EVENT_DONE;
    ev.id = r->id;
    ev.logprob = NAN;
    ev.finish = why;
    ev.status = HEARTH_OK;
    ev.prompt_tokens = r->n_prompt;
    r->cb(r->user, &ev);
    hearth_sched_req_free(r);
}

/* Ends an admitted request: detaches it from the slot (so counts are right
 * before the callback runs, and a submit from the callback sees the room),
 * delivers DONE, frees it. Engine thread, without mu. */
void hearth_sched_slot_finish(hearth_sched *s, sched_slot *sl, hearth_finish why,
                              hearth_status st, const char *err) {
    sched_req *r = sl->req;
    if (!r) return;
    if (err && err != sl->err) snprintf(sl->err, sizeof sl->err, "%s", err);
    hearth_gen_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = HEARTH_EVENT_DONE;
    ev.id = r->id;
    ev.logprob = NAN;
    ev.finish = why;
    ev.status = why == HEARTH_FINISH_ERROR ? (st ? st : HEARTH_ERR_INTERNAL) : HEARTH_OK;
    ev.error = why == HEARTH_FINISH_ERROR ? (err ? sl->err : hearth_strerror(ev.status)) : NULL;
    ev.prompt_tokens = r->n_prompt;
    ev.cached_tokens = sl->n_cached;
    ev.completion_tokens = sl->n_gen;
    ev.time_to_first_token_s = sl->ttft;
    pthread_mutex_lock(&s->mu);
    sl->req = NULL;
    sl->pending = HEARTH_FINISH_NONE;
    s->n_active--;
    pthread_mutex_unlock(&s->mu);
    sl->state = SLOT_FREE;
    sl->last_used = ++s->counter;
    r->cb(r->user, &ev);
    hearth_sched_req_free(r);
}

/* Returns the length of the common prefix of a[0..na) and b[0..nb). */
static int32_t common_prefix(const int32_t *a, int32_t na, const int32_t *b, int32_t nb) {
    int32_t n = na < nb ? na : nb, i = 0;
    while (i < n && a[i] == b[i]) i++;
    return i;
}

/* Picks the free slot for `r`: the longest cached prefix wins, ties go to
 * the least recently used slot (so other slots' caches live longer).
 * Returns NULL when no slot is free. Under mu. */
static sched_slot *pick_slot(hearth_sched *s, const sched_req *r) {
    sched_slot *best = NULL;
    int32_t best_lcp = -1;
    for (int32_t i = 0; i < s->p.n_parallel; i++) {
        sched_slot *sl = &s->slots[i];
        if (sl->req) continue;
        int32_t lcp = common_prefix(sl->cache, sl->n_cache, r->prompt, r->n_prompt);
        if (lcp > best_lcp || (lcp == best_lcp && sl->last_used < best->last_used)) {
            best = sl;
            best_lcp = lcp;
        }
    }
    return best;
}

/* Runs one embedding job on the engine thread (mu not held); the status
 * and detail go into the job. Blocks while it computes. Decoder
 * models use a dedicated single-sequence context so the slots' caches are
 * untouched; BERT models use the scheduler's own context. */
static void run_embed(hearth_sched *s, sched_embed_job *j) {
    hearth_context *c = s->ctx;
    hearth_error_clear();
    j->st = HEARTH_OK;
    if (!s->is_bert) {
        if (!s->embed_ctx)
            j->st = hearth_context_new(s->m, s->n_ctx, s->p.n_threads, &s->embed_ctx);
        c = s->embed_ctx;
    }
    if (j->st == HEARTH_OK) j->st = hearth_embed(c, j->tokens, j->n, NULL, j->out, true);
    if (j->st) snprintf(j->err, sizeof j->err, "%s", hearth_error_last());
}

/* Unlinks every queued request that was cancelled or whose timeout passed
 * and returns them as a list (reason in ->why). Under mu. */
static sched_req *take_dead_queued(hearth_sched *s, double now) {
    sched_req *dead = NULL, **tail = &dead;
    sched_req **pp = &s->q_head;
    s->q_tail = NULL;
    while (*pp) {
        sched_req *r = *pp;
        hearth_finish why = HEARTH_FINISH_NONE;
        if (r->cancelled) why = HEARTH_FINISH_CANCELLED;
        else if (r->deadline > 0 && now >= r->deadline) why = HEARTH_FINISH_TIMEOUT;
        if (why != HEARTH_FINISH_NONE) {
            *pp = r->next;
            r->next = NULL;
            r->why = why;
            *tail = r;
            tail = &r->next;
            s->n_queued--;
        } else {
            s->q_tail = r;
            pp = &r->next;
        }
    }
    return dead;
}

/* The engine thread. Returns NULL when hearth_sched_free asked it to stop,
 * after every request has had its DONE event. */
static void *engine_main(void *arg) {
    hearth_sched *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stopping) {
        if (s->jobs) {
            sched_embed_job *j = s->jobs;
            s->jobs = j->next;
            pthread_mutex_unlock(&s->mu);
            run_embed(s, j);
            pthread_mutex_lock(&s->mu);
            j->done = true;
            pthread_cond_broadcast(&s->embed_cv);
            continue;
        }
        double now = hearth_sched_now();
        sched_req *dead = take_dead_queued(s, now);
        for (int32_t i = 0; i < s->p.n_parallel; i++) {
            sched_slot *sl = &s->slots[i];
            if (!sl->req) continue;
            if (sl->req->cancelled) sl->pending = HEARTH_FINISH_CANCELLED;
            else if (sl->req->deadline > 0 && now >= sl->req->deadline) sl->pending = HEARTH_FINISH_TIMEOUT;
        }
        while (s->q_head) {
            sched_slot *sl = pick_slot(s, s->q_head);
            if (!sl) break;
            sched_req *r = s->q_head;
            s->q_head = r->next;
            if (!s->q_head) s->q_tail = NULL;
            r->next = NULL;
            s->n_queued--;
            s->n_active++;
            sl->req = r;
            sl->pending = HEARTH_FINISH_NONE;
            sl->state = SLOT_ADMITTED;
        }
        if (s->n_active == 0 && !dead) {
            pthread_cond_wait(&s->cv, &s->mu);
            continue;
        }
        pthread_mutex_unlock(&s->mu);

        while (dead) {
            sched_req *r = dead;
            dead = r->next;
            done_unadmitted(r, r->why);
        }
        for (int32_t i = 0; i < s->p.n_parallel; i++) {
            sched_slot *sl = &s->slots[i];
            if (sl->state == SLOT_FREE) continue;
            /* pending is only ever set by this thread under mu */
            if (sl->pending != HEARTH_FINISH_NONE) hearth_sched_slot_finish(s, sl, sl->pending, HEARTH_OK, NULL);
            else if (sl->state == SLOT_ADMITTED) hearth_sched_slot_start(s, sl);
        }
        hearth_sched_step(s);
        pthread_mutex_lock(&s->mu);
    }

    /* Stopping: everything still queued or running ends CANCELLED, and
     * embedding callers are released. */
    sched_req *left = s->q_head;
    s->q_head = s->q_tail = NULL;
    s->n_queued = 0;
    while (s->jobs) {
        sched_embed_job *j = s->jobs;
        s->jobs = j->next;
        j->st = HEARTH_ERR_CANCELLED;
        snprintf(j->err, sizeof j->err, "the scheduler is stopping");
        j->done = true;
    }
    pthread_cond_broadcast(&s->embed_cv);
    pthread_mutex_unlock(&s->mu);
    for (int32_t i = 0; i < s->p.n_parallel; i++)
        if (s->slots[i].req) hearth_sched_slot_finish(s, &s->slots[i], HEARTH_FINISH_CANCELLED, HEARTH_OK, NULL);
    while (left) {
        sched_req *r = left;
        left = r->next;
        done_unadmitted(r, HEARTH_FINISH_CANCELLED);
    }
    return NULL;
}

/* Frees everything hearth_sched_new allocated; the thread must not run. */
static void sched_destroy(hearth_sched *s) {
    if (s->slots)
        for (int32_t i = 0; i < s->p.n_parallel; i++) hearth_free(s->slots[i].cache);
    hearth_free(s->slots);
    hearth_free(s->b_tok);
    hearth_free(s->b_seq);
    hearth_free(s->b_want);
    hearth_free(s->logits);
    hearth_context_free(s->ctx);
    hearth_context_free(s->embed_ctx);
    hearth_free(s);
}

/* Returns HEARTH_OK with *out running, HEARTH_ERR_INVALID for bad
 * parameters, HEARTH_ERR_NOMEM, or the context's error. Blocks while the
 * context is allocated. */
hearth_status hearth_sched_new(const hearth_model *m, const hearth_sched_params *p, hearth_sched **out) {
    if (out) *out = NULL;
    if (!m || !out) return hearth_error_set(HEARTH_ERR_INVALID, "hearth_sched_new: NULL argument");
    hearth_sched_params q;
    memset(&q, 0, sizeof q);
    if (p) q = *p;
    else q.n_parallel = 1;
    if (q.n_parallel < 1 || q.n_parallel > 4096)
        return hearth_error_set(HEARTH_ERR_INVALID, "n_parallel %d is outside 1..4096", q.n_parallel);
    if (q.max_queue < 0)
        return hearth_error_set(HEARTH_ERR_INVALID, "max_queue %d is negative", q.max_queue);
    const hearth_hparams *hp = hearth_model_hparams(m);
    if (q.n_ctx <= 0) q.n_ctx = hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096;
    if (q.prefill_chunk <= 0) q.prefill_chunk = 256;
    if (q.max_batch <= 0) q.max_batch = 512;
    /* 64 prompt tokens take ~0.7 s on a 1.1B Q4_0 model on 2 AVX2 cores and
     * run at 94 % of the 512-token prefill rate there (hearth bench) */
    if (q.prefill_budget <= 0) q.prefill_budget = 64;
    /* every decoding sequence must fit in each step */
    if (q.max_batch < q.n_parallel) q.max_batch = q.n_parallel;

    hearth_sched *s = hearth_calloc(1, sizeof *s);
    if (!s) return hearth_error_set(HEARTH_ERR_NOMEM, "cannot allocate the scheduler");
    s->m = m;
    s->vocab = hearth_model_vocab(m);
    s->n_vocab = hp->n_vocab;
    s->is_bert = hp->arch == HEARTH_ARCH_BERT;
    s->next_id = 1;
    hearth_status st;
    if (s->is_bert) {
        /* an embedding model: one context, no slots */
        q.n_parallel = 1;
    }
    /* hearth_context_new_opts checks kv_type */
    hearth_context_opts co = {q.n_ctx, q.n_parallel, q.n_threads, q.kv_type};
    st = hearth_context_new_opts(m, &co, &s->ctx);
    s->p = q;
    if (st) {
        sched_destroy(s);
        return st;
    }
    s->n_ctx = hearth_context_n_ctx(s->ctx);
    s->p.n_ctx = s->n_ctx;
    s->slots = hearth_calloc((size_t)q.n_parallel, sizeof *s->slots);
    s->b_tok = hearth_malloc((size_t)q.max_batch * sizeof *s->b_tok);
    s->b_seq = hearth_malloc((size_t)q.max_batch * sizeof *s->b_seq);
    s->b_want = hearth_malloc((size_t)q.max_batch);
    /* one logits row per slot; prompt logprobs grow this on demand */
    s->rows_cap = q.n_parallel;
    if (!s->is_bert) s->logits = hearth_malloc((size_t)s->rows_cap * (size_t)s->n_vocab * sizeof(float));
    bool ok = s->slots && s->b_tok && s->b_seq && s->b_want && (s->is_bert || s->logits);
    for (int32_t i = 0; ok && i < q.n_parallel; i++) {
        s->slots[i].idx = i;
        s->slots[i].cache = hearth_malloc((size_t)s->n_ctx * sizeof(int32_t));
        if (!s->slots[i].cache) ok = false;
    }
    if (!ok) {
        sched_destroy(s);
        return hearth_error_set(HEARTH_ERR_NOMEM, "cannot allocate the scheduler's %d slots", q.n_parallel);
    }
    if (pthread_mutex_init(&s->mu, NULL) != 0) {
        sched_destroy(s);
        return hearth_error_set(HEARTH_ERR_NOMEM, "cannot create the scheduler's mutex");
    }
    if (pthread_cond_init(&s->cv, NULL) != 0) {
        pthread_mutex_destroy(&s->mu);
        sched_destroy(s);
        return hearth_error_set(HEARTH_ERR_NOMEM, "cannot create the scheduler's condition variable");
    }
    if (pthread_cond_init(&s->embed_cv, NULL) != 0) {
        pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->mu);
        sched_destroy(s);
        return hearth_error_set(HEARTH_ERR_NOMEM, "cannot create the scheduler's condition variable");
    }
    s->stats.n_parallel = q.n_parallel;
    if (pthread_create(&s->thread, NULL, engine_main, s) != 0) {
        pthread_cond_destroy(&s->embed_cv);
        pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->mu);
        sched_destroy(s);
        return hearth_error_set(HEARTH_ERR_NOMEM, "cannot start the engine thread");
    }
    *out = s;
    return HEARTH_OK;
}

/* Stops the engine thread (every request gets its DONE first), joins it
 * and frees. Blocks until the thread ends. NULL is a no-op. */
void hearth_sched_free(hearth_sched *s) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    pthread_cond_destroy(&s->embed_cv);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    sched_destroy(s);
}

/* Checks a request against the model and the slot size. Returns HEARTH_OK
 * or HEARTH_ERR_INVALID / HEARTH_ERR_UNSUPPORTED with a detail. */
static hearth_status validate(const hearth_sched *s, const hearth_gen_request *req) {
    if (s->is_bert)
        return hearth_error_set(HEARTH_ERR_UNSUPPORTED, "this is an embedding model: it does not generate text");
    if (!req->prompt || req->n_prompt == 0) return hearth_error_set(HEARTH_ERR_INVALID, "the prompt is empty");
    if (req->n_prompt + 1 > (size_t)s->n_ctx)
        return hearth_error_set(HEARTH_ERR_INVALID,
                                "the prompt of %zu tokens plus one generated token does not fit the "
                                "context of %d tokens per slot",
                                req->n_prompt, s->n_ctx);
    for (size_t i = 0; i < req->n_prompt; i++)
        if (req->prompt[i] < 0 || req->prompt[i] >= s->n_vocab)
            return hearth_error_set(HEARTH_ERR_INVALID, "prompt token %d at index %zu is outside the vocabulary of %d",
                                    req->prompt[i], i, s->n_vocab);
    if (req->n_bias && !req->bias) return hearth_error_set(HEARTH_ERR_INVALID, "logit bias list is NULL");
    for (size_t i = 0; i < req->n_bias; i++) {
        const hearth_logit_bias *b = &req->bias[i];
        if (b->token < 0 || b->token >= s->n_vocab)
            return hearth_error_set(HEARTH_ERR_INVALID, "logit bias token %d is outside the vocabulary of %d",
                                    b->token, s->n_vocab);
        if (isnan(b->bias) || (isinf(b->bias) && b->bias > 0))
            return hearth_error_set(HEARTH_ERR_INVALID, "logit bias for token %d must be finite or -inf", b->token);
    }
    if (req->n_stop && !req->stop) return hearth_error_set(HEARTH_ERR_INVALID, "stop string list is NULL");
    for (size_t i = 0; i < req->n_stop; i++)
        if (!req->stop[i]) return hearth_error_set(HEARTH_ERR_INVALID, "stop string %zu is NULL", i);
    if (req->n_logprobs < 0 || req->n_logprobs > SCHED_MAX_TOP)
        return hearth_error_set(HEARTH_ERR_INVALID, "n_logprobs %d is outside 0..%d", req->n_logprobs,
                                SCHED_MAX_TOP);
    if (isnan(req->timeout_s)) return hearth_error_set(HEARTH_ERR_INVALID, "timeout is NaN");
    return HEARTH_OK;
}

/* Builds the scheduler's own copy of a request (sampler, constraint state,
 * text buffers). Returns HEARTH_OK or an error; on error nothing leaks and
 * the caller still owns req->constraint. */
static hearth_status req_copy(const hearth_sched *s, const hearth_gen_request *req, sched_req **out) {
    *out = NULL;
    sched_req *r = hearth_calloc(1, sizeof *r);
    if (!r) return hearth_error_set(HEARTH_ERR_NOMEM, "out of memory for a request");
    hearth_status st = HEARTH_ERR_NOMEM;
    r->n_prompt = (int32_t)req->n_prompt;
    r->prompt = hearth_malloc(req->n_prompt * sizeof *r->prompt);
    if (!r->prompt) goto fail;
    memcpy(r->prompt, req->prompt, req->n_prompt * sizeof *r->prompt);
    if (req->n_bias) {
        r->bias = hearth_malloc(req->n_bias * sizeof *r->bias);
        if (!r->bias) goto fail;
        memcpy(r->bias, req->bias, req->n_bias * sizeof *r->bias);
        r->n_bias = req->n_bias;
    }
    if (req->n_stop) {
        r->stop = hearth_calloc(req->n_stop, sizeof *r->stop);
        r->stop_len = hearth_calloc(req->n_stop, sizeof *r->stop_len);
        if (!r->stop || !r->stop_len) goto fail;
        for (size_t i = 0; i < req->n_stop; i++) {
            size_t L = strlen(req->stop[i]);
            if (L == 0) continue; /* an empty stop string would match everywhere */
            char *c = hearth_strndup(req->stop[i], L);
            if (!c) goto fail;
            r->stop[r->n_stop] = c;
            r->stop_len[r->n_stop++] = L;
            if (L > r->max_stop) r->max_stop = L;
        }
    }
    r->cap_hold = r->max_stop + 2 * SCHED_PIECE_CAP;
    r->hold = hearth_malloc(r->cap_hold);
    if (!r->hold) goto fail;
    st = hearth_sampler_new(&req->sampling, s->n_vocab, &r->sampler);
    if (st) goto fail;
    if (req->constraint) {
        st = hearth_constraint_state_new(req->constraint, &r->cst);
        if (st) goto fail;
    }
    r->max_tokens = req->max_tokens;
    r->ignore_eos = req->ignore_eos;
    r->n_logprobs = req->n_logprobs;
    r->prompt_logprobs = req->prompt_logprobs;
    *out = r;
    return HEARTH_OK;
fail:
    if (st == HEARTH_ERR_NOMEM && !*hearth_error_last())
        hearth_error_set(HEARTH_ERR_NOMEM, "out of memory for a request");
    hearth_sched_req_free(r); /* r->constraint is still NULL: not ours yet */
    return st;
}

/* Queues a request (see sched.h). Never blocks beyond the short mutex. */
hearth_status hearth_sched_submit(hearth_sched *s, const hearth_gen_request *req, hearth_gen_cb cb,
                                  void *user, uint64_t *id) {
    if (id) *id = 0;
    if (!s || !req || !cb) return hearth_error_set(HEARTH_ERR_INVALID, "hearth_sched_submit: NULL argument");
    hearth_error_clear();
    hearth_status st = validate(s, req);
    if (st) return st;
    double now = hearth_sched_now();
    sched_req *r;
    st = req_copy(s, req, &r);
    if (st) return st;
    r->cb = cb;
    r->user = user;
    r->t_submit = now;
    r->deadline = req->timeout_s > 0 ? now + req->timeout_s : 0;

    pthread_mutex_lock(&s->mu);
    if (s->stopping) {
        pthread_mutex_unlock(&s->mu);
        hearth_sched_req_free(r);
        return hearth_error_set(HEARTH_ERR_CANCELLED, "the scheduler is stopping");
    }
    if (s->n_queued + s->n_active >= s->p.n_parallel + s->p.max_queue) {
        int32_t waiting = s->n_queued;
        pthread_mutex_unlock(&s->mu);
        hearth_sched_req_free(r);
        return hearth_error_set(HEARTH_ERR_RANGE, "queue full (%d waiting, %d running, max_queue %d)", waiting,
                                s->p.n_parallel, s->p.max_queue);
    }
    /* from here on the constraint is ours, freed with the request */
    r->constraint = req->constraint;
    r->id = s->next_id++;
    if (id) *id = r->id;
    if (s->q_tail) s->q_tail->next = r;
    else s->q_head = r;
    s->q_tail = r;
    s->n_queued++;
    s->stats.requests_total++;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return HEARTH_OK;
}

/* Flags a queued or running request as cancelled; the engine retires it at
 * its next step. Unknown ids are ignored. Never blocks beyond the short
 * mutex. */
void hearth_sched_cancel(hearth_sched *s, uint64_t id) {
    if (!s || id == 0) return;
    pthread_mutex_lock(&s->mu);
    bool found = false;
    for (sched_req *r = s->q_head; r && !found; r = r->next)
        if (r->id == id) r->cancelled = found = true;
    for (int32_t i = 0; i < s->p.n_parallel && !found; i++)
        if (s->slots[i].req && s->slots[i].req->id == id) s->slots[i].req->cancelled = found = true;
    if (found) pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* Queues an embedding job for the engine thread and waits for it. Returns
 * hearth_embed's status (its detail re-set on this thread), or
 * HEARTH_ERR_CANCELLED when the scheduler is stopping. Blocks. */
hearth_status hearth_sched_embed(hearth_sched *s, const int32_t *tokens, int32_t n, float *out) {
    if (!s || !tokens || n <= 0 || !out)
        return hearth_error_set(HEARTH_ERR_INVALID, "hearth_sched_embed: no tokens or no output");
    sched_embed_job j;
    memset(&j, 0, sizeof j);
    j.tokens = tokens;
    j.n = n;
    j.out = out;
    pthread_mutex_lock(&s->mu);
    if (s->stopping) {
        pthread_mutex_unlock(&s->mu);
        return hearth_error_set(HEARTH_ERR_CANCELLED, "the scheduler is stopping");
    }
    sched_embed_job **pp = &s->jobs;
    while (*pp) pp = &(*pp)->next;
    *pp = &j;
    pthread_cond_signal(&s->cv);
    while (!j.done) pthread_cond_wait(&s->embed_cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    if (j.st) return hearth_error_set(j.st, "%s", j.err);
    return HEARTH_OK;
}

/* Copies the counters. Never blocks beyond the short mutex. */
void hearth_sched_stats_get(hearth_sched *s, hearth_sched_stats *out) {
    if (!out) return;
    memset(out, 0, sizeof *out);
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    *out = s->stats;
    out->n_parallel = s->p.n_parallel;
    out->queue_depth = s->n_queued;
    out->active = s->n_active;
    pthread_mutex_unlock(&s->mu);
}
