/* sched_step.c - one engine step: build a single batch from every active
 * slot (decode tokens first, then prompt chunks), run hearth_decode, and
 * turn each logits row into events: echoed prompt tokens with their
 * logprobs, or a sampled token with its text, logprobs and finish reason.
 *
 * Sampling reads only the request's own state (its sampler, bias, stop
 * strings, constraint state) and its own logits row, so a request's output
 * does not depend on what else shares the batch.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "hearth/alloc.h"
#include "server/sched_internal.h"

/* Prepares a newly admitted slot: keeps the longest cached prefix of its
 * prompt (but always re-evaluates at least the last prompt token, whose
 * logits start generation) and resets the per-request state. Engine
 * thread; never blocks. */
void hearth_sched_slot_start(hearth_sched *s, sched_slot *sl) {
    sched_req *r = sl->req;
    int32_t keep = 0;
    /* the mirror must describe the KV cache exactly; if it ever does not,
     * reuse nothing rather than wrong positions */
    if (hearth_seq_n_past(s->ctx, sl->idx) != sl->n_cache) sl->n_cache = 0;
    /* prompt logprobs need every prompt row, so they bypass the cache */
    if (!r->prompt_logprobs) {
        int32_t n = sl->n_cache < r->n_prompt ? sl->n_cache : r->n_prompt;
        while (keep < n && sl->cache[keep] == r->prompt[keep]) keep++;
        if (keep > r->n_prompt - 1) keep = r->n_prompt - 1;
    }
    hearth_seq_truncate(s->ctx, sl->idx, keep);
    sl->n_cache = keep;
    sl->n_done = keep;
    sl->n_cached = keep;
    sl->n_gen = 0;
    sl->next_token = -1;
    sl->ttft = 0;
    sl->err[0] = '\0';
    hearth_detok_stream_init(&sl->ds, s->vocab);
    /* generated text continues the prompt: no leading-space removal */
    sl->ds.at_start = false;
    hearth_detok_stream_init(&sl->ps, s->vocab);
    r->n_hold = 0;
    sl->state = SLOT_PREFILL;
    sl->admit_seq = ++s->counter;
    sl->last_used = sl->admit_seq;
    pthread_mutex_lock(&s->mu);
    s->stats.cached_tokens_total += (uint64_t)keep;
    pthread_mutex_unlock(&s->mu);
}

/* Log-softmax of row[0..nv): writes the logprob of `tok` to *lp and the
 * n_top best tokens (higher logit first, lower id on ties; banned tokens
 * never) to top. Returns how many went to top. Never allocates. */
static int32_t logprobs(const float *row, int32_t nv, int32_t tok, int32_t n_top, float *lp,
                        hearth_token_logprob *top) {
    float mx = -INFINITY;
    for (int32_t i = 0; i < nv; i++)
        if (row[i] > mx) mx = row[i];
    double lse = -INFINITY;
    if (mx > -INFINITY) {
        double sum = 0.0;
        for (int32_t i = 0; i < nv; i++)
            if (row[i] > -INFINITY) sum += exp((double)row[i] - (double)mx);
        lse = (double)mx + log(sum);
    }
    if (lp) *lp = lse > -INFINITY && row[tok] > -INFINITY ? (float)((double)row[tok] - lse) : -INFINITY;
    int32_t n = 0;
    for (int32_t i = 0; i < nv && n_top > 0; i++) {
        float v = row[i];
        if (isnan(v) || v == -INFINITY) continue;
        if (n == n_top && !(v > row[top[n - 1].token])) continue;
        int32_t j = n < n_top ? n++ : n - 1;
        /* insertion: equal logits keep the earlier (lower) id first */
        while (j > 0 && v > row[top[j - 1].token]) {
            top[j] = top[j - 1];
            j--;
        }
        top[j].token = i;
    }
    for (int32_t j = 0; j < n; j++) {
        float v = row[top[j].token];
        top[j].logprob = lse > -INFINITY && v > -INFINITY ? (float)((double)v - lse) : -INFINITY;
    }
    return n;
}

/* Emits the echo event of prompt token `pos`; `row` holds the logits that
 * predicted it (NULL for the first token, which nothing predicts). Engine
 * thread; never blocks. */
static void emit_prompt_token(hearth_sched *s, sched_slot *sl, int32_t pos, const float *row) {
    sched_req *r = sl->req;
    hearth_gen_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = HEARTH_EVENT_TOKEN;
    ev.id = r->id;
    ev.token = r->prompt[pos];
    ev.is_prompt = true;
    ev.logprob = NAN;
    int k = hearth_detok_stream_push(&sl->ps, ev.token, r->echo, sizeof r->echo);
    size_t len = k > 0 ? (size_t)k : 0;
    if (pos == r->n_prompt - 1) {
        k = hearth_detok_stream_flush(&sl->ps, r->echo + len, sizeof r->echo - len);
        if (k > 0) len += (size_t)k;
    }
    ev.text = r->echo;
    ev.text_len = len;
    if (row) {
        ev.n_top = logprobs(row, s->n_vocab, ev.token, r->n_logprobs, &ev.logprob, sl->top);
        ev.top = sl->top;
    }
    r->cb(r->user, &ev);
}

/* Samples the slot's next token from its logits row (modified in place:
 * bias and constraint mask), emits its TOKEN event and, when the request
 * is over, its DONE event. Engine thread. */
static void generate(hearth_sched *s, sched_slot *sl, float *row) {
    sched_req *r = sl->req;
    for (size_t i = 0; i < r->n_bias; i++) row[r->bias[i].token] += r->bias[i].bias;
    if (r->cst) hearth_constraint_apply(r->cst, row, s->n_vocab);
    int32_t tok = hearth_sampler_sample(r->sampler, row);
    hearth_sampler_accept(r->sampler, tok);
    sl->n_gen++;
    if (sl->n_gen == 1) sl->ttft = hearth_sched_now() - r->t_submit;
    if (r->cst) {
        hearth_status st = hearth_constraint_accept(r->cst, tok);
        if (st) {
            hearth_sched_slot_finish(s, sl, HEARTH_FINISH_ERROR, st, hearth_error_last());
            return;
        }
    }

    hearth_gen_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = HEARTH_EVENT_TOKEN;
    ev.id = r->id;
    ev.token = tok;
    ev.logprob = NAN;
    if (r->n_logprobs > 0) {
        ev.n_top = logprobs(row, s->n_vocab, tok, r->n_logprobs, &ev.logprob, sl->top);
        ev.top = sl->top;
    }

    int k = hearth_detok_stream_push(&sl->ds, tok, r->hold + r->n_hold, r->cap_hold - r->n_hold);
    if (k < 0) {
        hearth_sched_slot_finish(s, sl, HEARTH_FINISH_ERROR, k, hearth_error_last());
        return;
    }
    r->n_hold += (size_t)k;

    hearth_finish fin = HEARTH_FINISH_NONE;
    if (!r->ignore_eos && hearth_vocab_is_eog(s->vocab, tok)) fin = HEARTH_FINISH_STOP;
    else if (r->max_tokens > 0 && sl->n_gen >= r->max_tokens) fin = HEARTH_FINISH_LENGTH;
    /* the token just sampled would take the slot's last free position */
    else if (r->n_prompt + sl->n_gen >= s->n_ctx) fin = HEARTH_FINISH_LENGTH;
    if (fin != HEARTH_FINISH_NONE) {
        k = hearth_detok_stream_flush(&sl->ds, r->hold + r->n_hold, r->cap_hold - r->n_hold);
        if (k > 0) r->n_hold += (size_t)k;
    }
    size_t emit = r->n_hold;
    if (r->n_stop) {
        long at = hearth_stopstr_find(r->hold, r->n_hold, r->stop, r->stop_len, r->n_stop);
        if (at >= 0) {
            emit = (size_t)at;
            fin = HEARTH_FINISH_STOP;
        } else if (fin == HEARTH_FINISH_NONE) {
            emit -= hearth_stopstr_partial(r->hold, r->n_hold, r->stop, r->stop_len, r->n_stop);
        }
    }
    ev.text = r->hold;
    ev.text_len = emit;
    r->cb(r->user, &ev);
    if (fin != HEARTH_FINISH_NONE) {
        hearth_sched_slot_finish(s, sl, fin, HEARTH_OK, NULL);
        return;
    }
    memmove(r->hold, r->hold + emit, r->n_hold - emit);
    r->n_hold -= emit;
    sl->next_token = tok;
    sl->state = SLOT_DECODE;
}

/* Makes room for `rows` logits rows. Returns false when memory is short
 * (the caller then takes fewer rows this step). */
static bool ensure_rows(hearth_sched *s, int32_t rows) {
    if (rows <= s->rows_cap) return true;
    float *p = hearth_reallocarray(s->logits, (size_t)rows * (size_t)s->n_vocab, sizeof(float));
    if (!p) return false;
    s->logits = p;
    s->rows_cap = rows;
    return true;
}

/* Returns the prefilling slot not yet in the batch that was admitted
 * first, or NULL. */
static sched_slot *next_prefill(hearth_sched *s) {
    sched_slot *best = NULL;
    for (int32_t i = 0; i < s->p.n_parallel; i++) {
        sched_slot *sl = &s->slots[i];
        if (sl->state != SLOT_PREFILL || sl->b_n > 0 || sl->b_row == -2) continue;
        if (!best || sl->admit_seq < best->admit_seq) best = sl;
    }
    return best;
}

/* One step: batch, forward pass, sampling, events. Engine thread, mu not
 * held; blocks while the forward pass computes. */
void hearth_sched_step(hearth_sched *s) {
    /* every decoding slot and every prompt that completes samples one
     * token; counted up front so the stats are final before any DONE */
    int32_t n = 0, rows = 0, n_prompt_tokens = 0, n_generated = 0;
    for (int32_t i = 0; i < s->p.n_parallel; i++) {
        sched_slot *sl = &s->slots[i];
        sl->b_n = 0;
        sl->b_row = -1;
        if (sl->state != SLOT_DECODE) continue;
        /* decode tokens go first so that a long prompt never stalls streams */
        sl->b_first = n;
        sl->b_n = 1;
        sl->b_row = rows++;
        n_generated++;
        s->b_tok[n] = sl->next_token;
        s->b_seq[n] = sl->idx;
        s->b_want[n] = 1;
        n++;
    }
    /* A shared step (streams generating, or several prompts waiting) takes
     * at most prefill_budget prompt tokens, oldest request first: the
     * streams stall for a bounded time and the earliest prompts start
     * generating first instead of all together after one huge step. */
    int32_t n_prefill = 0;
    for (int32_t i = 0; i < s->p.n_parallel; i++) n_prefill += s->slots[i].state == SLOT_PREFILL;
    int32_t budget = n > 0 || n_prefill > 1 ? s->p.prefill_budget : s->p.max_batch;
    for (sched_slot *sl; n < s->p.max_batch && budget > 0 && (sl = next_prefill(s)) != NULL;) {
        sched_req *r = sl->req;
        int32_t k = r->n_prompt - sl->n_done;
        if (k > s->p.prefill_chunk) k = s->p.prefill_chunk;
        if (k > s->p.max_batch - n) k = s->p.max_batch - n;
        if (k > budget) k = budget;
        /* every echoed row costs n_vocab floats: keep that buffer small */
        if (r->prompt_logprobs && k > SCHED_ECHO_CHUNK) k = SCHED_ECHO_CHUNK;
        bool last = sl->n_done + k == r->n_prompt;
        int32_t need = r->prompt_logprobs ? k : (last ? 1 : 0);
        if (rows + need > s->rows_cap && !ensure_rows(s, rows + need)) {
            /* short of memory: fewer rows now, the rest at later steps */
            if (r->prompt_logprobs) k = s->rows_cap - rows;
            else k = 0;
            last = sl->n_done + k == r->n_prompt;
        }
        if (k <= 0) {
            sl->b_row = -2; /* skip this step */
            continue;
        }
        sl->b_first = n;
        sl->b_n = k;
        sl->b_row = rows;
        for (int32_t j = 0; j < k; j++) {
            s->b_tok[n + j] = r->prompt[sl->n_done + j];
            s->b_seq[n + j] = sl->idx;
            s->b_want[n + j] = r->prompt_logprobs || (last && j == k - 1);
        }
        rows += r->prompt_logprobs ? k : (last ? 1 : 0);
        n_generated += last;
        n += k;
        n_prompt_tokens += k;
        budget -= k;
    }
    if (n == 0) return;

    hearth_batch b = {n, s->b_tok, s->b_seq, s->b_want};
    double t0 = hearth_sched_now();
    hearth_status st = hearth_decode(s->ctx, &b, s->logits);
    double t1 = hearth_sched_now();
    pthread_mutex_lock(&s->mu);
    s->stats.steps_total++;
    s->stats.busy_seconds_total += t1 - t0;
    if (st == HEARTH_OK) {
        s->stats.prompt_tokens_total += (uint64_t)n_prompt_tokens;
        s->stats.generated_tokens_total += (uint64_t)n_generated;
    }
    pthread_mutex_unlock(&s->mu);

    if (st) {
        /* a failed pass may have advanced some sequences part-way: their
         * caches are no longer trustworthy */
        char msg[256];
        snprintf(msg, sizeof msg, "%s", hearth_error_last());
        for (int32_t i = 0; i < s->p.n_parallel; i++) {
            sched_slot *sl = &s->slots[i];
            if (sl->b_n <= 0) continue;
            hearth_seq_truncate(s->ctx, sl->idx, 0);
            sl->n_cache = 0;
            hearth_sched_slot_finish(s, sl, HEARTH_FINISH_ERROR, st, msg);
        }
        return;
    }

    for (int32_t i = 0; i < s->p.n_parallel; i++) {
        sched_slot *sl = &s->slots[i];
        if (sl->b_n <= 0) continue;
        memcpy(sl->cache + sl->n_cache, s->b_tok + sl->b_first, (size_t)sl->b_n * sizeof(int32_t));
        sl->n_cache += sl->b_n;
        float *row0 = s->logits + (size_t)sl->b_row * (size_t)s->n_vocab;
        if (sl->state == SLOT_DECODE) {
            generate(s, sl, row0);
            continue;
        }
        sched_req *r = sl->req;
        int32_t start = sl->n_done;
        sl->n_done += sl->b_n;
        if (r->prompt_logprobs) {
            if (start == 0) emit_prompt_token(s, sl, 0, NULL);
            for (int32_t j = 0; j < sl->b_n; j++)
                if (start + j + 1 < r->n_prompt)
                    emit_prompt_token(s, sl, start + j + 1, row0 + (size_t)j * (size_t)s->n_vocab);
        }
        if (sl->n_done == r->n_prompt) {
            float *last = r->prompt_logprobs ? row0 + (size_t)(sl->b_n - 1) * (size_t)s->n_vocab : row0;
            generate(s, sl, last);
        }
    }
}
