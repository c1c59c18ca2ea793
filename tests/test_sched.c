/* test_sched.c - the request scheduler (continuous batching).
 *
 * References: llama.cpp's greedy tokens, texts and prompt logits for
 * stories260K (reference/stories260K.P1/P2.*), llama.cpp's BERT embeddings
 * (reference/tiny-bert-f32.S4.json), and hearth_eval-based greedy decoding
 * of the same prompts. Checks: a greedy request alone and under load (16
 * mixed requests) gives the reference tokens; 32 requests through 4 slots
 * and a queue each get exactly one DONE; queue full; cancellation; timeouts
 * (running and queued); stop strings across token boundaries; max_tokens
 * and context-full LENGTH; invalid prompts; the prompt cache; prompt
 * logprobs; embeddings (BERT and decoder, during generation); freeing with
 * requests in flight; OOM injection in submit and new.
 */
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <time.h>

#include "hearth/alloc.h"
#include "hearth/constraint.h"
#include "hearth/model.h"
#include "hearth/sched.h"
#include "test.h"

enum { MAXTOK = 4096 };

/* What one request's callback saw. All fields under g_mu. */
typedef struct coll {
    int32_t toks[MAXTOK];
    float lp[MAXTOK];
    int32_t top0[MAXTOK];
    float top0_lp[MAXTOK];
    int32_t n_top[MAXTOK];
    int n_tok;
    int32_t ptoks[MAXTOK];
    float plp[MAXTOK];
    int n_ptok;
    char text[65536];
    size_t n_text;
    char ptext[65536];
    size_t n_ptext;
    int n_done;
    int after_done;       /* events after DONE: must stay 0 */
    bool bad_order;       /* logprob/top inconsistencies */
    hearth_gen_event done;
    char err[256];
    uint64_t id;
} coll;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;

static void on_event(void *user, const hearth_gen_event *ev) {
    coll *c = user;
    pthread_mutex_lock(&g_mu);
    if (c->n_done) c->after_done++;
    if (ev->kind == HEARTH_EVENT_TOKEN) {
        if (ev->is_prompt) {
            if (c->n_ptok < MAXTOK) {
                c->plp[c->n_ptok] = ev->logprob;
                c->ptoks[c->n_ptok++] = ev->token;
            }
            if (c->n_ptext + ev->text_len <= sizeof c->ptext) {
                memcpy(c->ptext + c->n_ptext, ev->text, ev->text_len);
                c->n_ptext += ev->text_len;
            }
        } else {
            if (c->n_tok < MAXTOK) {
                int i = c->n_tok++;
                c->toks[i] = ev->token;
                c->lp[i] = ev->logprob;
                c->n_top[i] = ev->n_top;
                c->top0[i] = ev->n_top > 0 ? ev->top[0].token : -1;
                c->top0_lp[i] = ev->n_top > 0 ? ev->top[0].logprob : NAN;
                for (int k = 1; k < ev->n_top; k++)
                    if (ev->top[k].logprob > ev->top[k - 1].logprob) c->bad_order = true;
            }
            if (c->n_text + ev->text_len <= sizeof c->text) {
                memcpy(c->text + c->n_text, ev->text, ev->text_len);
                c->n_text += ev->text_len;
            }
        }
    } else if (ev->kind == HEARTH_EVENT_DONE) {
        c->n_done++;
        c->done = *ev;
        c->done.error = NULL;
        if (ev->error) snprintf(c->err, sizeof c->err, "%s", ev->error);
    }
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
}

/* Returns the first occurrence of needle in hay, or NULL. */
static const char *find_bytes(const char *hay, size_t n, const char *needle, size_t k) {
    for (size_t i = 0; k <= n && i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0) return hay + i;
    return NULL;
}

static coll *coll_new(void) { return calloc(1, sizeof(coll)); }

/* Waits (up to 60 s) until `c` has its DONE. Returns false on timeout. */
static bool wait_done(coll *c) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 60;
    pthread_mutex_lock(&g_mu);
    int rc = 0;
    while (!c->n_done && rc == 0) rc = pthread_cond_timedwait(&g_cv, &g_mu, &ts);
    bool ok = c->n_done > 0;
    pthread_mutex_unlock(&g_mu);
    return ok;
}

/* Waits until `c` has at least n generated tokens or is done. */
static int wait_tokens(coll *c, int n) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 60;
    pthread_mutex_lock(&g_mu);
    int rc = 0;
    while (c->n_tok < n && !c->n_done && rc == 0) rc = pthread_cond_timedwait(&g_cv, &g_mu, &ts);
    int got = c->n_tok;
    pthread_mutex_unlock(&g_mu);
    return got;
}

static int n_tok_of(coll *c) {
    pthread_mutex_lock(&g_mu);
    int n = c->n_tok;
    pthread_mutex_unlock(&g_mu);
    return n;
}

static hearth_gen_request greedy_req(const int32_t *prompt, size_t n, int32_t max_tokens) {
    hearth_gen_request r;
    memset(&r, 0, sizeof r);
    r.prompt = prompt;
    r.n_prompt = n;
    r.max_tokens = max_tokens;
    r.sampling = hearth_sampler_default_params();
    r.sampling.temperature = 0;
    return r;
}

static hearth_sched *sched_make(const hearth_model *m, int n_parallel, int n_ctx, int max_queue) {
    hearth_sched_params p;
    memset(&p, 0, sizeof p);
    p.n_parallel = n_parallel;
    p.n_ctx = n_ctx;
    p.n_threads = 1;
    p.max_queue = max_queue;
    p.prefill_chunk = 32;
    p.max_batch = 96;
    hearth_sched *s = NULL;
    hearth_status st = hearth_sched_new(m, &p, &s);
    CHECK(st == HEARTH_OK, "hearth_sched_new: %s", hearth_error_last());
    return s;
}

/* ---- references --------------------------------------------------------- */

typedef struct ref_lm {
    int32_t prompt[512];
    int n_prompt;
    int32_t gen[64];
    int n_gen;
    char text[4096];
    size_t n_text;
    float *logits; /* n_prompt x n_vocab */
} ref_lm;

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static bool load_ref(const char *name, ref_lm *r, int n_vocab) {
    char rel[256];
    snprintf(rel, sizeof rel, "reference/%s.json", name);
    json_error_t je;
    json_t *j = json_load_file(test_data(rel), 0, &je);
    if (!j) {
        CHECK(0, "cannot load %s: %s", rel, je.text);
        return false;
    }
    json_t *p = json_object_get(j, "prompt_token_ids"), *g = json_object_get(j, "generated_ids");
    const char *hex = json_string_value(json_object_get(j, "generated_text_hex"));
    bool ok = json_is_array(p) && json_is_array(g) && hex && json_array_size(p) <= 512 && json_array_size(g) <= 64;
    if (ok) {
        r->n_prompt = (int)json_array_size(p);
        for (int i = 0; i < r->n_prompt; i++) r->prompt[i] = (int32_t)json_integer_value(json_array_get(p, i));
        r->n_gen = (int)json_array_size(g);
        for (int i = 0; i < r->n_gen; i++) r->gen[i] = (int32_t)json_integer_value(json_array_get(g, i));
        r->n_text = 0;
        for (size_t i = 0; hex[i] && hex[i + 1] && r->n_text < sizeof r->text; i += 2)
            r->text[r->n_text++] = (char)(hexval(hex[i]) * 16 + hexval(hex[i + 1]));
    }
    json_decref(j);
    CHECK(ok, "%s: unexpected JSON", rel);
    snprintf(rel, sizeof rel, "reference/%s.logits.f32", name);
    size_t len = 0;
    char *raw = test_read_file(test_data(rel), &len);
    r->logits = (float *)raw;
    if (raw) CHECK(len == (size_t)r->n_prompt * n_vocab * 4, "%s: size %zu", rel, len);
    return ok && raw;
}

/* Greedy generation with hearth_eval alone (lowest id on ties), EOG
 * included and stopping unless ignore_eos; returns the token count. */
static int eval_greedy(const hearth_model *m, const int32_t *prompt, int n_prompt, int n_ctx, int max_tokens,
                       bool ignore_eos, int32_t *out) {
    int nv = hearth_model_hparams(m)->n_vocab;
    hearth_context *c = NULL;
    if (hearth_context_new(m, n_ctx, 1, &c) != HEARTH_OK) {
        CHECK(0, "context: %s", hearth_error_last());
        return 0;
    }
    float *l = malloc((size_t)nv * sizeof(float));
    int n = 0;
    hearth_status st = hearth_eval(c, prompt, n_prompt, l, false);
    while (st == HEARTH_OK && n < max_tokens) {
        int32_t best = 0;
        for (int32_t v = 1; v < nv; v++)
            if (l[v] > l[best]) best = v;
        out[n++] = best;
        if (!ignore_eos && hearth_vocab_is_eog(hearth_model_vocab(m), best)) break;
        if (n_prompt + n >= n_ctx) break;
        st = hearth_eval(c, &best, 1, l, false);
    }
    CHECK(st == HEARTH_OK, "eval_greedy: %s", hearth_error_last());
    free(l);
    hearth_context_free(c);
    return n;
}

static int32_t *tokenize(const hearth_model *m, const char *text, size_t *n) {
    int32_t *ids = NULL;
    *n = 0;
    hearth_status st = hearth_tokenize(hearth_model_vocab(m), text, strlen(text), true, false, &ids, n);
    CHECK(st == HEARTH_OK, "tokenize: %s", hearth_error_last());
    return ids;
}

static bool same_tokens(const int32_t *a, int na, const int32_t *b, int nb) {
    return na == nb && (na == 0 || memcmp(a, b, (size_t)na * sizeof *a) == 0);
}

/* ---- tests --------------------------------------------------------------- */

static const char *const prompts[] = {
    "Once upon a time",
    "The little dog ran to the park and",
    "Lily had a red ball. She",
    "One day, Tom saw a big tree.",
    "The sun was hot and the birds",
    "Mom said, \"Let's go home.\"",
    "There was a cat who liked to",
    "Ben and Sue were friends. They",
};
enum { N_PROMPTS = sizeof prompts / sizeof *prompts };

/* A greedy request alone matches llama.cpp's tokens and text (P1, P2),
 * and hearth_eval-based greedy generation; logprobs are consistent. */
static void test_greedy_alone(const hearth_model *m, ref_lm *p1, ref_lm *p2) {
    hearth_sched *s = sched_make(m, 4, 256, 4);
    REQUIRE(s);
    ref_lm *refs[2] = {p1, p2};
    for (int k = 0; k < 2; k++) {
        ref_lm *r = refs[k];
        hearth_gen_request q = greedy_req(r->prompt, (size_t)r->n_prompt, r->n_gen);
        q.ignore_eos = true;
        q.n_logprobs = 3;
        coll *c = coll_new();
        uint64_t id = 0;
        hearth_status st = hearth_sched_submit(s, &q, on_event, c, &id);
        CHECK(st == HEARTH_OK && id != 0, "submit: %s", hearth_error_last());
        CHECK(wait_done(c));
        CHECK(same_tokens(c->toks, c->n_tok, r->gen, r->n_gen), "P%d: greedy tokens differ from llama.cpp", k + 1);
        CHECK(c->n_text == r->n_text && memcmp(c->text, r->text, r->n_text) == 0, "P%d: text '%.*s'", k + 1,
              (int)c->n_text, c->text);
        CHECK(c->n_done == 1 && c->done.finish == HEARTH_FINISH_LENGTH && c->done.completion_tokens == r->n_gen &&
              c->done.prompt_tokens == r->n_prompt && c->done.status == HEARTH_OK);
        CHECK(c->done.time_to_first_token_s > 0);
        int bad = 0;
        for (int i = 0; i < c->n_tok; i++)
            if (c->n_top[i] != 3 || c->top0[i] != c->toks[i] || !(c->lp[i] <= 0) || c->lp[i] != c->top0_lp[i])
                bad++;
        CHECK(bad == 0 && !c->bad_order, "P%d: %d tokens with inconsistent logprobs", k + 1, bad);
        free(c);
    }
    /* without ignore_eos, hearth_eval greedy (up to EOG) is the reference */
    for (int k = 0; k < 3; k++) {
        size_t n;
        int32_t *ids = tokenize(m, prompts[k], &n);
        int32_t ref[200];
        int nref = eval_greedy(m, ids, (int)n, 256, 200, false, ref);
        hearth_gen_request q = greedy_req(ids, n, 200);
        coll *c = coll_new();
        uint64_t id;
        CHECK(hearth_sched_submit(s, &q, on_event, c, &id) == HEARTH_OK);
        CHECK(wait_done(c));
        CHECK(nref > 0 && same_tokens(c->toks, c->n_tok, ref, nref), "'%s': %d vs %d tokens", prompts[k], c->n_tok,
              nref);
        bool eog = nref > 0 && hearth_vocab_is_eog(hearth_model_vocab(m), ref[nref - 1]);
        CHECK(c->done.finish == (eog ? HEARTH_FINISH_STOP : HEARTH_FINISH_LENGTH));
        CHECK(isnan(c->lp[0]) && c->n_top[0] == 0, "logprobs were not asked");
        free(c);
        hearth_free(ids);
    }
    hearth_sched_free(s);
}

/* 16 concurrent requests with different prompts and parameters: the
 * greedy one still gives the reference tokens, a seeded sampled one gives
 * what it gives alone, prompt logprobs match llama.cpp's logits. */
/* Echoed prompt tokens: all of them, in order, the first without a
 * logprob, the others the log-softmax of llama.cpp's logits row that
 * predicted them; the echoed text is the prompt as detokenize renders it. */
static void check_echo(const hearth_model *m, const coll *c, const ref_lm *r) {
    int nv = hearth_model_hparams(m)->n_vocab;
    CHECK(c->n_ptok == r->n_prompt && same_tokens(c->ptoks, c->n_ptok, r->prompt, r->n_prompt));
    CHECK(c->n_ptok > 0 && isnan(c->plp[0]));
    double worst = 0;
    for (int i = 1; i < c->n_ptok && i < r->n_prompt; i++) {
        const float *row = r->logits + (size_t)(i - 1) * nv;
        double mx = row[0], sum = 0;
        for (int v = 1; v < nv; v++) mx = row[v] > mx ? row[v] : mx;
        for (int v = 0; v < nv; v++) sum += exp(row[v] - mx);
        double want = row[r->prompt[i]] - mx - log(sum);
        double d = fabs(want - c->plp[i]);
        if (!(d <= worst)) worst = isnan(d) ? INFINITY : d;
    }
    CHECK(worst < 1e-3, "prompt logprobs differ from the reference by %g", worst);
    char *txt = NULL;
    size_t tl = 0;
    hearth_detokenize(hearth_model_vocab(m), r->prompt, (size_t)r->n_prompt, true, false, &txt, &tl);
    CHECK(txt && c->n_ptext == tl && memcmp(c->ptext, txt, tl) == 0, "echo text '%.*s'", (int)c->n_ptext, c->ptext);
    hearth_free(txt);
    CHECK(same_tokens(c->toks, c->n_tok, r->gen, 4));
}

static void test_under_load(const hearth_model *m, ref_lm *p1, ref_lm *p2) {
    hearth_sched *s = sched_make(m, 8, 256, 16);
    REQUIRE(s);
    size_t n0;
    int32_t *ids0 = tokenize(m, prompts[3], &n0);
    hearth_gen_request sq = greedy_req(ids0, n0, 40);
    sq.sampling.temperature = 0.9f;
    sq.sampling.seed = 1234;
    sq.ignore_eos = true;
    coll *alone = coll_new();
    uint64_t id;
    CHECK(hearth_sched_submit(s, &sq, on_event, alone, &id) == HEARTH_OK);
    CHECK(wait_done(alone));

    enum { N = 16 };
    coll *c[N];
    int32_t *ids[N];
    size_t nids[N];
    static const char *const stops[] = {"Lily", " the"};
    hearth_logit_bias ban[2] = {{p1->gen[0], -INFINITY}, {p1->gen[1], 2.0f}};
    for (int i = 0; i < N; i++) {
        c[i] = coll_new();
        ids[i] = NULL;
        hearth_gen_request q;
        if (i == 0) {
            q = greedy_req(p1->prompt, (size_t)p1->n_prompt, p1->n_gen);
            q.ignore_eos = true;
        } else if (i == 1) {
            q = sq;
        } else if (i == 2 || i == 3) {
            /* P2's 100 prompt tokens take several echo chunks */
            const ref_lm *r = i == 2 ? p1 : p2;
            q = greedy_req(r->prompt, (size_t)r->n_prompt, 4);
            q.prompt_logprobs = true;
            q.n_logprobs = 2;
        } else {
            ids[i] = tokenize(m, prompts[i % N_PROMPTS], &nids[i]);
            q = greedy_req(ids[i], nids[i], 10 + 3 * i);
            q.sampling.temperature = (i % 3) ? 0.5f + 0.05f * (float)i : 0.0f;
            q.sampling.seed = (uint64_t)i;
            if (i % 4 == 0) {
                q.stop = stops;
                q.n_stop = 2;
            }
            if (i % 5 == 0) q.n_logprobs = 5;
            if (i % 6 == 0) {
                q.bias = ban;
                q.n_bias = 2;
            }
            q.ignore_eos = i % 2;
        }
        CHECK(hearth_sched_submit(s, &q, on_event, c[i], &c[i]->id) == HEARTH_OK, "request %d: %s", i,
              hearth_error_last());
    }
    for (int i = 0; i < N; i++) {
        CHECK(wait_done(c[i]), "request %d never finished", i);
        CHECK(c[i]->n_done == 1 && c[i]->after_done == 0 && c[i]->done.id == c[i]->id);
        CHECK(c[i]->done.completion_tokens == c[i]->n_tok);
    }
    CHECK(same_tokens(c[0]->toks, c[0]->n_tok, p1->gen, p1->n_gen), "greedy under load differs");
    CHECK(same_tokens(c[1]->toks, c[1]->n_tok, alone->toks, alone->n_tok), "seeded sampling under load differs");
    CHECK(alone->n_tok == 40);
    check_echo(m, c[2], p1);
    check_echo(m, c[3], p2);
    CHECK(same_tokens(c[2]->toks, c[2]->n_tok, p1->gen, 4));
    /* the banned token never appears */
    for (int i = 6; i < N; i += 6)
        for (int k = 0; k < c[i]->n_tok; k++) CHECK(c[i]->toks[k] != p1->gen[0]);
    for (int i = 4; i < N; i += 4) {
        CHECK(find_bytes(c[i]->text, c[i]->n_text, "Lily", 4) == NULL && find_bytes(c[i]->text, c[i]->n_text, " the", 4) == NULL,
              "stop string emitted: '%.*s'", (int)c[i]->n_text, c[i]->text);
    }
    for (int i = 0; i < N; i++) {
        hearth_free(ids[i]);
        free(c[i]);
    }
    free(alone);
    hearth_free(ids0);
    hearth_sched_free(s);
}

/* 32 requests, 4 slots, a queue of 28: all finish, one DONE each; stats. */
static void test_many(const hearth_model *m) {
    hearth_sched *s = sched_make(m, 4, 128, 28);
    REQUIRE(s);
    enum { N = 32 };
    coll *c[N];
    int32_t *ids[N];
    size_t n[N];
    uint64_t total_prompt = 0, total_gen = 0;
    for (int i = 0; i < N; i++) {
        c[i] = coll_new();
        ids[i] = tokenize(m, prompts[i % N_PROMPTS], &n[i]);
        hearth_gen_request q = greedy_req(ids[i], n[i], 5 + i % 7);
        q.sampling.temperature = (i & 1) ? 0.8f : 0.0f;
        q.sampling.seed = (uint64_t)i;
        CHECK(hearth_sched_submit(s, &q, on_event, c[i], &c[i]->id) == HEARTH_OK, "request %d: %s", i,
              hearth_error_last());
    }
    int dones = 0, prompt_cached = 0;
    for (int i = 0; i < N; i++) {
        CHECK(wait_done(c[i]));
        dones += c[i]->n_done;
        CHECK(c[i]->n_done == 1 && c[i]->after_done == 0);
        CHECK(c[i]->done.finish == HEARTH_FINISH_LENGTH || c[i]->done.finish == HEARTH_FINISH_STOP);
        CHECK(c[i]->n_tok == c[i]->done.completion_tokens && c[i]->n_tok <= 5 + i % 7);
        total_gen += (uint64_t)c[i]->n_tok;
        total_prompt += n[i];
        prompt_cached += c[i]->done.cached_tokens;
    }
    CHECK(dones == N);
    hearth_sched_stats st;
    hearth_sched_stats_get(s, &st);
    CHECK(st.n_parallel == 4 && st.queue_depth == 0 && st.active == 0 && st.requests_total == N);
    CHECK(st.generated_tokens_total == total_gen, "%llu vs %llu", (unsigned long long)st.generated_tokens_total,
          (unsigned long long)total_gen);
    CHECK(st.prompt_tokens_total + st.cached_tokens_total == total_prompt);
    CHECK(st.cached_tokens_total == (uint64_t)prompt_cached);
    /* repeated prompts land on slots that cached them */
    CHECK(prompt_cached > 0);
    CHECK(st.steps_total > 0 && st.busy_seconds_total > 0);
    for (int i = 0; i < N; i++) {
        hearth_free(ids[i]);
        free(c[i]);
    }
    hearth_sched_free(s);
}

/* A long request that only ends when cancelled or when its slot is full. */
static hearth_gen_request long_req(const int32_t *ids, size_t n) {
    hearth_gen_request q = greedy_req(ids, n, 0);
    q.ignore_eos = true;
    return q;
}

/* Queue full, cancellation while running and while queued, timeouts. */
static void test_queue_cancel_timeout(const hearth_model *m) {
    hearth_sched *s = sched_make(m, 1, 4096, 1);
    REQUIRE(s);
    size_t n;
    int32_t *ids = tokenize(m, prompts[0], &n);
    coll *a = coll_new(), *b = coll_new(), *c = coll_new();
    hearth_gen_request q = long_req(ids, n);
    CHECK(hearth_sched_submit(s, &q, on_event, a, &a->id) == HEARTH_OK);
    CHECK(hearth_sched_submit(s, &q, on_event, b, &b->id) == HEARTH_OK);
    uint64_t idc = 99;
    hearth_status st = hearth_sched_submit(s, &q, on_event, c, &idc);
    CHECK(st == HEARTH_ERR_RANGE && strstr(hearth_error_last(), "queue full"), "%d %s", st, hearth_error_last());
    /* mid-stream cancellation: DONE within a step or two */
    CHECK(wait_tokens(a, 5) >= 5);
    int at = n_tok_of(a);
    hearth_sched_cancel(s, a->id);
    CHECK(wait_done(a));
    CHECK(a->done.finish == HEARTH_FINISH_CANCELLED && a->n_done == 1);
    CHECK(a->n_tok - at <= 2, "%d tokens after cancel", a->n_tok - at);
    CHECK(a->done.completion_tokens == a->n_tok);
    hearth_sched_cancel(s, a->id); /* finished: ignored */
    hearth_sched_cancel(s, 123456); /* unknown: ignored */
    /* b now runs; a queued request with a timeout expires while waiting */
    CHECK(wait_tokens(b, 1) >= 1);
    hearth_gen_request qt = long_req(ids, n);
    qt.timeout_s = 0.05;
    CHECK(hearth_sched_submit(s, &qt, on_event, c, &c->id) == HEARTH_OK);
    CHECK(wait_done(c));
    CHECK(c->done.finish == HEARTH_FINISH_TIMEOUT && c->n_tok == 0 && c->done.completion_tokens == 0);
    /* cancel b while a request waits; the waiting one is cancelled too */
    coll *d = coll_new();
    CHECK(hearth_sched_submit(s, &q, on_event, d, &d->id) == HEARTH_OK);
    hearth_sched_cancel(s, d->id);
    CHECK(wait_done(d));
    CHECK(d->done.finish == HEARTH_FINISH_CANCELLED && d->n_tok == 0);
    hearth_sched_cancel(s, b->id);
    CHECK(wait_done(b));
    CHECK(b->done.finish == HEARTH_FINISH_CANCELLED);
    /* a running request times out (long enough to have started, far too
     * short to fill 4096 positions) */
    coll *e = coll_new();
    qt.timeout_s = 0.5;
    CHECK(hearth_sched_submit(s, &qt, on_event, e, &e->id) == HEARTH_OK);
    CHECK(wait_done(e));
    CHECK(e->done.finish == HEARTH_FINISH_TIMEOUT && e->n_done == 1 && e->after_done == 0);
    CHECK(e->n_tok > 0 && e->n_tok < 4096 - (int)n, "%d tokens", e->n_tok);
    hearth_sched_free(s);
    free(a);
    free(b);
    free(c);
    free(d);
    free(e);
    hearth_free(ids);
}

/* Stop strings spanning token boundaries cut the text right before them. */
static void test_stop(const hearth_model *m, const ref_lm *p1) {
    const hearth_vocab *v = hearth_model_vocab(m);
    hearth_sched *s = sched_make(m, 2, 256, 4);
    REQUIRE(s);
    int tried = 0;
    size_t off = 0;
    for (int i = 0; i + 1 < p1->n_gen && tried < 4; i++) {
        char a[64], b[64];
        int la = hearth_token_to_piece(v, p1->gen[i], a, sizeof a, false);
        int lb = hearth_token_to_piece(v, p1->gen[i + 1], b, sizeof b, false);
        off += la > 0 ? (size_t)la : 0;
        if (i < 2 || la < 2 || lb < 2 || i % 5) continue;
        /* the last 2 bytes of piece i and the first 2 of piece i+1 */
        char stop[5] = {a[la - 2], a[la - 1], b[0], b[1], 0};
        const char *hit = find_bytes(p1->text, p1->n_text, stop, 4);
        REQUIRE(hit);
        size_t cut = (size_t)(hit - p1->text);
        /* tokens needed: up to the one that completes the stop string */
        size_t acc = 0;
        int need = 0;
        while (need < p1->n_gen && acc < cut + 4) {
            char pc[64];
            int l = hearth_token_to_piece(v, p1->gen[need++], pc, sizeof pc, false);
            acc += l > 0 ? (size_t)l : 0;
        }
        const char *stops[2] = {"never-in-a-story", stop};
        hearth_gen_request q = greedy_req(p1->prompt, (size_t)p1->n_prompt, p1->n_gen);
        q.ignore_eos = true;
        q.stop = stops;
        q.n_stop = 2;
        coll *c = coll_new();
        CHECK(hearth_sched_submit(s, &q, on_event, c, &c->id) == HEARTH_OK);
        CHECK(wait_done(c));
        CHECK(c->done.finish == HEARTH_FINISH_STOP, "stop '%s': finish %d", stop, c->done.finish);
        CHECK(c->n_text == cut && memcmp(c->text, p1->text, cut) == 0, "stop '%s': got '%.*s'", stop,
              (int)c->n_text, c->text);
        CHECK(c->n_tok == need && c->done.completion_tokens == need, "stop '%s': %d tokens, want %d", stop, c->n_tok,
              need);
        free(c);
        tried++;
    }
    CHECK(tried >= 2, "too few stop-string cases");
    (void)off;
    hearth_sched_free(s);
}

/* max_tokens and context-full LENGTH, invalid prompts. */
static void test_length_invalid(const hearth_model *m) {
    hearth_sched *s = sched_make(m, 2, 64, 2);
    REQUIRE(s);
    size_t n;
    int32_t *ids = tokenize(m, prompts[1], &n);
    hearth_gen_request q = long_req(ids, n);
    q.max_tokens = 7;
    coll *a = coll_new(), *b = coll_new(), *c = coll_new();
    CHECK(hearth_sched_submit(s, &q, on_event, a, &a->id) == HEARTH_OK);
    q.max_tokens = 0;
    CHECK(hearth_sched_submit(s, &q, on_event, b, &b->id) == HEARTH_OK);
    CHECK(wait_done(a) && wait_done(b));
    CHECK(a->done.finish == HEARTH_FINISH_LENGTH && a->n_tok == 7 && a->done.completion_tokens == 7);
    CHECK(b->done.finish == HEARTH_FINISH_LENGTH && b->n_tok == 64 - (int)n, "%d tokens", b->n_tok);
    int32_t ref[64];
    int nref = eval_greedy(m, ids, (int)n, 64, 64, true, ref);
    CHECK(same_tokens(b->toks, b->n_tok, ref, nref), "context-full run differs from hearth_eval");

    /* a prompt of n_ctx - 1 tokens still gets its one token */
    int32_t big[80];
    for (int i = 0; i < 80; i++) big[i] = ids[i % n];
    hearth_gen_request qb = greedy_req(big, 63, 10);
    CHECK(hearth_sched_submit(s, &qb, on_event, c, &c->id) == HEARTH_OK);
    CHECK(wait_done(c));
    CHECK(c->done.finish == HEARTH_FINISH_LENGTH && c->n_tok == 1);
    qb.n_prompt = 64;
    uint64_t id = 7;
    hearth_status st = hearth_sched_submit(s, &qb, on_event, c, &id);
    CHECK(st == HEARTH_ERR_INVALID && strstr(hearth_error_last(), "64") && id == 0, "%s", hearth_error_last());
    qb.n_prompt = 0;
    CHECK(hearth_sched_submit(s, &qb, on_event, c, &id) == HEARTH_ERR_INVALID);
    big[3] = 512;
    qb.n_prompt = 5;
    CHECK(hearth_sched_submit(s, &qb, on_event, c, &id) == HEARTH_ERR_INVALID);
    big[3] = -1;
    CHECK(hearth_sched_submit(s, &qb, on_event, c, &id) == HEARTH_ERR_INVALID);
    big[3] = ids[0];
    qb.sampling.top_p = NAN;
    qb.sampling.temperature = 1;
    CHECK(hearth_sched_submit(s, &qb, on_event, c, &id) == HEARTH_ERR_INVALID);
    qb = greedy_req(big, 5, 1);
    qb.n_logprobs = 21;
    CHECK(hearth_sched_submit(s, &qb, on_event, c, &id) == HEARTH_ERR_INVALID);
    hearth_logit_bias bb = {600, 1};
    qb.n_logprobs = 0;
    qb.bias = &bb;
    qb.n_bias = 1;
    CHECK(hearth_sched_submit(s, &qb, on_event, c, &id) == HEARTH_ERR_INVALID);
    CHECK(c->n_done == 1, "a refused submit must not call back");
    hearth_sched_stats st2;
    hearth_sched_stats_get(s, &st2);
    CHECK(st2.requests_total == 3);
    hearth_sched_free(s);
    free(a);
    free(b);
    free(c);
    hearth_free(ids);
}

/* Prompt cache: a shared 100-token prefix is reused, output unchanged. */
static void test_prompt_cache(const hearth_model *m, const ref_lm *p2) {
    REQUIRE(p2->n_prompt >= 100);
    size_t na, nb;
    int32_t *sa = tokenize(m, "Tim went home and ate a cake.", &na);
    int32_t *sb = tokenize(m, "The dog barked at a cat in the tree.", &nb);
    int32_t pa[256], pb[256];
    /* skip the suffixes' BOS */
    memcpy(pa, p2->prompt, 100 * sizeof(int32_t));
    memcpy(pa + 100, sa + 1, (na - 1) * sizeof(int32_t));
    memcpy(pb, p2->prompt, 100 * sizeof(int32_t));
    memcpy(pb + 100, sb + 1, (nb - 1) * sizeof(int32_t));
    size_t la = 100 + na - 1, lb = 100 + nb - 1;

    /* without cache: a fresh scheduler */
    hearth_sched *s = sched_make(m, 2, 256, 2);
    REQUIRE(s);
    coll *fresh = coll_new();
    hearth_gen_request q = greedy_req(pb, lb, 20);
    q.ignore_eos = true;
    CHECK(hearth_sched_submit(s, &q, on_event, fresh, &fresh->id) == HEARTH_OK);
    CHECK(wait_done(fresh));
    CHECK(fresh->done.cached_tokens == 0);
    int32_t ref[32];
    int nref = eval_greedy(m, pb, (int)lb, 256, 20, true, ref);
    CHECK(same_tokens(fresh->toks, fresh->n_tok, ref, nref));
    hearth_sched_free(s);

    s = sched_make(m, 2, 256, 2);
    REQUIRE(s);
    coll *a = coll_new(), *b = coll_new(), *c = coll_new();
    hearth_gen_request qa = greedy_req(pa, la, 12);
    CHECK(hearth_sched_submit(s, &qa, on_event, a, &a->id) == HEARTH_OK);
    CHECK(wait_done(a));
    CHECK(hearth_sched_submit(s, &q, on_event, b, &b->id) == HEARTH_OK);
    CHECK(wait_done(b));
    CHECK(b->done.cached_tokens >= 100 && b->done.prompt_tokens == (int)lb, "cached %d", b->done.cached_tokens);
    CHECK(same_tokens(b->toks, b->n_tok, fresh->toks, fresh->n_tok), "cached run differs");
    /* the very same prompt again: all but the last token come from cache */
    CHECK(hearth_sched_submit(s, &q, on_event, c, &c->id) == HEARTH_OK);
    CHECK(wait_done(c));
    CHECK(c->done.cached_tokens == (int)lb - 1, "cached %d of %zu", c->done.cached_tokens, lb);
    CHECK(same_tokens(c->toks, c->n_tok, fresh->toks, fresh->n_tok));
    hearth_sched_stats st;
    hearth_sched_stats_get(s, &st);
    CHECK(st.cached_tokens_total == (uint64_t)(b->done.cached_tokens + c->done.cached_tokens));
    hearth_sched_free(s);
    free(a);
    free(b);
    free(c);
    free(fresh);
    hearth_free(sa);
    hearth_free(sb);
}

/* Constrained decoding: the output is a document of the schema, ended by
 * EOG; an unconstrained neighbour is unaffected; a refused submit leaves
 * the constraint with the caller. */
static void test_constraint(const hearth_model *m, const ref_lm *p1) {
    const char *schema_txt =
        "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":12},"
        "\"age\":{\"type\":\"integer\"}},\"required\":[\"name\",\"age\"]}";
    json_t *schema = json_loads(schema_txt, 0, NULL);
    REQUIRE(schema);
    hearth_constraint *con = NULL;
    hearth_status st = hearth_constraint_new_json(hearth_model_vocab(m), schema, &con);
    REQUIRE(st == HEARTH_OK, "%s", hearth_error_last());
    hearth_sched *s = sched_make(m, 2, 512, 0);
    REQUIRE(s);
    size_t n;
    int32_t *ids = tokenize(m, "Once upon a time, the JSON was", &n);
    coll *a = coll_new(), *b = coll_new();
    hearth_gen_request qb = greedy_req(p1->prompt, (size_t)p1->n_prompt, p1->n_gen);
    qb.ignore_eos = true;
    CHECK(hearth_sched_submit(s, &qb, on_event, b, &b->id) == HEARTH_OK);
    hearth_gen_request q = greedy_req(ids, n, 400);
    q.constraint = con;
    CHECK(hearth_sched_submit(s, &q, on_event, a, &a->id) == HEARTH_OK, "%s", hearth_error_last());
    CHECK(wait_done(a) && wait_done(b));
    CHECK(a->done.finish == HEARTH_FINISH_STOP, "finish %d after %d tokens", a->done.finish, a->n_tok);
    a->text[a->n_text < sizeof a->text ? a->n_text : sizeof a->text - 1] = 0;
    json_t *doc = json_loads(a->text, 0, NULL);
    CHECK(doc && json_is_string(json_object_get(doc, "name")) && json_is_integer(json_object_get(doc, "age")),
          "not a document of the schema: '%s'", a->text);
    json_decref(doc);
    CHECK(same_tokens(b->toks, b->n_tok, p1->gen, p1->n_gen), "constrained neighbour changed greedy output");
    /* refused (queue full: 2 running, no queue): the caller keeps it */
    hearth_constraint *c2 = NULL;
    CHECK(hearth_constraint_new_json(hearth_model_vocab(m), schema, &c2) == HEARTH_OK);
    hearth_gen_request ql = long_req(ids, n);
    coll *x = coll_new(), *y = coll_new();
    CHECK(hearth_sched_submit(s, &ql, on_event, x, &x->id) == HEARTH_OK);
    CHECK(hearth_sched_submit(s, &ql, on_event, y, &y->id) == HEARTH_OK);
    q.constraint = c2;
    uint64_t id;
    CHECK(hearth_sched_submit(s, &q, on_event, a, &id) == HEARTH_ERR_RANGE);
    hearth_constraint_free(c2);
    hearth_sched_free(s); /* cancels x and y */
    CHECK(x->n_done == 1 && y->n_done == 1 && a->n_done == 1);
    json_decref(schema);
    hearth_free(ids);
    free(a);
    free(b);
    free(x);
    free(y);
}

/* Runs a long stream on s, then a 320-token prompt (greedy, n_gen tokens)
 * joining it; checks the prompt's output against eval_greedy and returns
 * how many tokens the stream produced meanwhile, or -1. */
static int stream_during_prompt(hearth_sched *s, const hearth_model *m, const ref_lm *p2, int n_gen) {
    size_t n;
    int32_t *ids = tokenize(m, prompts[0], &n);
    coll *a = coll_new(), *b = coll_new();
    int during = -1;
    hearth_gen_request qa = long_req(ids, n);
    CHECK(hearth_sched_submit(s, &qa, on_event, a, &a->id) == HEARTH_OK);
    CHECK(wait_tokens(a, 3) >= 3);
    int32_t big[320];
    for (int i = 0; i < 320; i++) big[i] = i < 100 ? p2->prompt[i] : p2->prompt[1 + (i - 100) % 99];
    hearth_gen_request qb = greedy_req(big, 320, n_gen);
    qb.ignore_eos = true;
    int before = n_tok_of(a);
    CHECK(hearth_sched_submit(s, &qb, on_event, b, &b->id) == HEARTH_OK);
    if (wait_done(b)) during = n_tok_of(a) - before;
    int32_t ref[16];
    int nref = eval_greedy(m, big, 320, 1024, n_gen < 16 ? n_gen : 16, true, ref);
    CHECK(same_tokens(b->toks, b->n_tok, ref, nref), "the joining prompt's output differs");
    hearth_sched_cancel(s, a->id);
    CHECK(wait_done(a));
    CHECK(a->done.finish == HEARTH_FINISH_CANCELLED);
    free(a);
    free(b);
    hearth_free(ids);
    return during;
}

/* Chunked prefill: a long prompt joining a running stream is evaluated
 * chunk by chunk while the stream keeps producing a token every step. */
static void test_chunked_prefill(const hearth_model *m, const ref_lm *p2) {
    hearth_sched *s = sched_make(m, 2, 1024, 0); /* prefill_chunk 32 */
    REQUIRE(s);
    int during = stream_during_prompt(s, m, p2, 8);
    /* 10 prefill steps plus 8 decode steps, each with a token for a */
    CHECK(during >= 17, "the stream produced only %d tokens while a 320-token prompt was processed", during);
    hearth_sched_free(s);
}

/* A prompt arriving while another request generates takes at most
 * prefill_budget tokens per step, even when prefill_chunk and max_batch
 * would allow the whole prompt at once, so the stream keeps getting a
 * token every short step; the prompt's output is unchanged. */
static void test_prefill_budget(const hearth_model *m, const ref_lm *p2) {
    hearth_sched_params p;
    memset(&p, 0, sizeof p);
    p.n_parallel = 2;
    p.n_ctx = 1024;
    p.n_threads = 1;
    p.prefill_chunk = 512;
    p.max_batch = 512;
    p.prefill_budget = 40;
    hearth_sched *s = NULL;
    CHECK(hearth_sched_new(m, &p, &s) == HEARTH_OK, "hearth_sched_new: %s", hearth_error_last());
    REQUIRE(s);
    int during = stream_during_prompt(s, m, p2, 4);
    /* 320 / 40 = 8 shared prefill steps plus 4 decode steps, each with a
     * token for a (one 320-token step without the budget) */
    CHECK(during >= 11, "the stream produced only %d tokens while a 320-token prompt was processed", during);
    hearth_sched_free(s);
}

/* BERT: embeddings through the scheduler match llama.cpp's; generation is
 * refused. */
static void test_embed_bert(void) {
    hearth_model *m = NULL;
    hearth_status st = hearth_model_load(test_data("models/tiny-bert-f32.gguf"), &m);
    REQUIRE(st == HEARTH_OK, "%s", hearth_error_last());
    hearth_sched *s = sched_make(m, 2, 0, 2);
    json_error_t je;
    json_t *j = json_load_file(test_data("reference/tiny-bert-f32.S4.json"), 0, &je);
    CHECK(j, "reference: %s", je.text);
    if (s && j) {
        json_t *sents = json_object_get(j, "sentences");
        size_t i;
        json_t *e;
        int done = 0;
        json_array_foreach(sents, i, e) {
            json_t *tid = json_object_get(e, "token_ids"), *emb = json_object_get(e, "embedding");
            int n = (int)json_array_size(tid), d = (int)json_array_size(emb);
            int32_t toks[512];
            float out[1024], worst = 0;
            if (n > 512 || d != hearth_model_hparams(m)->n_embd) continue;
            for (int k = 0; k < n; k++) toks[k] = (int32_t)json_integer_value(json_array_get(tid, k));
            st = hearth_sched_embed(s, toks, n, out);
            CHECK(st == HEARTH_OK, "%s", hearth_error_last());
            for (int k = 0; k < d; k++) {
                float df = fabsf(out[k] - (float)json_number_value(json_array_get(emb, k)));
                if (!(df <= worst)) worst = isnan(df) ? INFINITY : df;
            }
            CHECK(worst <= 1e-4f, "sentence %zu: max diff %g", i, worst);
            done++;
        }
        CHECK(done == 4);
        int32_t t[2] = {101, 102};
        hearth_gen_request q = greedy_req(t, 2, 4);
        coll *c = coll_new();
        uint64_t id;
        CHECK(hearth_sched_submit(s, &q, on_event, c, &id) == HEARTH_ERR_UNSUPPORTED);
        int32_t badt[2] = {101, 40000};
        CHECK(hearth_sched_embed(s, badt, 2, (float[1024]){0}) == HEARTH_ERR_INVALID);
        free(c);
    }
    json_decref(j);
    hearth_sched_free(s);
    hearth_model_free(m);
}

/* Decoder embeddings run between steps without disturbing generation. */
static void test_embed_decoder(const hearth_model *m, const ref_lm *p1) {
    hearth_sched *s = sched_make(m, 2, 256, 2);
    REQUIRE(s);
    int d = hearth_model_hparams(m)->n_embd;
    float want[256], got[256];
    hearth_context *c = NULL;
    REQUIRE(hearth_context_new(m, 64, 1, &c) == HEARTH_OK);
    CHECK(hearth_embed(c, p1->prompt, p1->n_prompt, NULL, want, true) == HEARTH_OK);
    hearth_context_free(c);
    coll *g = coll_new();
    hearth_gen_request q = greedy_req(p1->prompt, (size_t)p1->n_prompt, p1->n_gen);
    q.ignore_eos = true;
    CHECK(hearth_sched_submit(s, &q, on_event, g, &g->id) == HEARTH_OK);
    for (int k = 0; k < 3; k++) {
        CHECK(hearth_sched_embed(s, p1->prompt, p1->n_prompt, got) == HEARTH_OK, "%s", hearth_error_last());
        float worst = 0;
        for (int i = 0; i < d; i++) worst = fmaxf(worst, fabsf(got[i] - want[i]));
        CHECK(worst <= 1e-5f, "decoder embedding differs by %g", worst);
    }
    CHECK(wait_done(g));
    CHECK(same_tokens(g->toks, g->n_tok, p1->gen, p1->n_gen), "generation disturbed by embeddings");
    hearth_sched_free(s);
    free(g);
}

/* Freeing with requests running and queued: DONE for each (ASan: no leak). */
static void test_free_in_flight(const hearth_model *m) {
    hearth_sched *s = sched_make(m, 2, 4096, 8);
    REQUIRE(s);
    size_t n;
    int32_t *ids = tokenize(m, prompts[2], &n);
    enum { N = 6 };
    coll *c[N];
    static const char *const stops[] = {"xyzzy"};
    for (int i = 0; i < N; i++) {
        c[i] = coll_new();
        hearth_gen_request q = long_req(ids, n);
        q.stop = stops;
        q.n_stop = 1;
        q.n_logprobs = 2;
        q.prompt_logprobs = i == 1;
        CHECK(hearth_sched_submit(s, &q, on_event, c[i], &c[i]->id) == HEARTH_OK);
    }
    CHECK(wait_tokens(c[0], 3) >= 3);
    hearth_sched_free(s);
    for (int i = 0; i < N; i++) {
        CHECK(c[i]->n_done == 1 && c[i]->done.finish == HEARTH_FINISH_CANCELLED && c[i]->after_done == 0,
              "request %d: %d DONE, finish %d", i, c[i]->n_done, c[i]->done.finish);
        free(c[i]);
    }
    hearth_free(ids);
}

/* OOM in submit: NOMEM without a callback, or accepted with one DONE. */
static void test_oom(const hearth_model *m) {
    hearth_sched *s = sched_make(m, 1, 128, 4);
    REQUIRE(s);
    size_t n;
    int32_t *ids = tokenize(m, prompts[4], &n);
    static const char *const stops[] = {"abc", "de"};
    hearth_logit_bias bias[1] = {{5, -1}};
    bool ok = false;
    int nomem = 0;
    for (long k = 0; k < 200 && !ok; k++) {
        coll *c = coll_new();
        hearth_gen_request q = greedy_req(ids, n, 3);
        q.stop = stops;
        q.n_stop = 2;
        q.bias = bias;
        q.n_bias = 1;
        uint64_t id = 0;
        hearth_alloc_fail_after(k);
        hearth_status st = hearth_sched_submit(s, &q, on_event, c, &id);
        hearth_alloc_fail_after(-1);
        if (st == HEARTH_OK) {
            CHECK(wait_done(c));
            CHECK(c->n_done == 1);
            ok = true;
        } else {
            CHECK(st == HEARTH_ERR_NOMEM, "k=%ld: %d %s", k, st, hearth_error_last());
            nomem++;
            struct timespec ts = {0, 2000000};
            nanosleep(&ts, NULL);
            CHECK(c->n_done == 0 && c->n_tok == 0);
        }
        free(c);
    }
    CHECK(ok && nomem > 0, "ok %d after %d failures", ok, nomem);
    hearth_sched_free(s);
    /* and in hearth_sched_new */
    ok = false;
    for (long k = 0; k < 400 && !ok; k++) {
        hearth_sched_params p = {1, 64, 1, 1, 0, 0, 0, 0};
        hearth_sched *t = NULL;
        hearth_alloc_fail_after(k);
        hearth_status st = hearth_sched_new(m, &p, &t);
        hearth_alloc_fail_after(-1);
        if (st == HEARTH_OK) {
            ok = true;
            hearth_sched_free(t);
        } else {
            CHECK(st == HEARTH_ERR_NOMEM && t == NULL, "k=%ld: %d", k, st);
        }
    }
    CHECK(ok);
    hearth_free(ids);
}

int main(void) {
    hearth_model *m = NULL;
    hearth_status st = hearth_model_load(test_data("models/stories260K.gguf"), &m);
    CHECK(st == HEARTH_OK, "%s", hearth_error_last());
    if (m) {
        int nv = hearth_model_hparams(m)->n_vocab;
        static ref_lm p1, p2;
        bool ok = load_ref("stories260K.P1", &p1, nv) && load_ref("stories260K.P2", &p2, nv);
        if (ok) {
            test_greedy_alone(m, &p1, &p2);
            test_under_load(m, &p1, &p2);
            test_stop(m, &p1);
            test_prompt_cache(m, &p2);
            test_embed_decoder(m, &p1);
            test_constraint(m, &p1);
            test_chunked_prefill(m, &p2);
            test_prefill_budget(m, &p2);
        }
        test_many(m);
        test_queue_cancel_timeout(m);
        test_length_invalid(m);
        test_free_in_flight(m);
        test_oom(m);
        free(p1.logits);
        free(p2.logits);
    }
    test_embed_bert();
    hearth_model_free(m);
    TEST_DONE();
}
