/* api_common.c - what the endpoints share: byte buffers, OpenAI error
 * objects, request-field validation into a hearth_gen_request, submitting
 * to the scheduler and collecting its events, usage objects.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hearth/alloc.h"
#include "server/server_internal.h"

/* ---- buffers and clocks ------------------------------------------------------------ */

/* Returns 0, or -1 when out of memory (the buffer keeps its old contents). */
int srv_buf_add(srv_buf *b, const void *s, size_t n) {
    if (n == 0) {
        if (!b->p) {
            b->p = hearth_malloc(16);
            if (!b->p) return -1;
            b->cap = 16;
            b->p[0] = '\0';
        }
        return 0;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1) {
            if (cap > ((size_t)-1) / 2) return -1;
            cap *= 2;
        }
        char *p = hearth_realloc(b->p, cap);
        if (!p) return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int srv_buf_str(srv_buf *b, const char *s) { return srv_buf_add(b, s, strlen(s)); }

/* Returns 0 or -1 (out of memory). */
int srv_buf_printf(srv_buf *b, const char *fmt, ...) {
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return -1;
    if ((size_t)n < sizeof small) return srv_buf_add(b, small, (size_t)n);
    char *big = hearth_malloc((size_t)n + 1);
    if (!big) return -1;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int rc = srv_buf_add(b, big, (size_t)n);
    hearth_free(big);
    return rc;
}

void srv_buf_free(srv_buf *b) {
    if (!b) return;
    hearth_free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* Monotonic seconds. Never blocks. */
double srv_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Wall-clock seconds since the epoch. */
double srv_wall(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- errors ---------------------------------------------------------------------------- */

void srv_reply_clear(srv_reply *rep) {
    if (!rep) return;
    json_decref(rep->json);
    hearth_free(rep->text);
    memset(rep, 0, sizeof *rep);
}

/* Fills rep with {"error": {message, type, param, code}}. */
void srv_error(srv_reply *rep, int status, const char *type, const char *param, const char *code,
               const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    srv_reply_clear(rep);
    rep->status = status;
    json_t *e = json_object();
    if (e) {
        /* json_string rejects invalid UTF-8: a detail quoting bad input
         * must not lose the whole error */
        json_t *m = json_string(msg);
        if (!m) m = json_string("invalid request");
        json_object_set_new(e, "message", m);
        json_object_set_new(e, "type", json_string(type));
        json_object_set_new(e, "param", param ? json_string(param) : json_null());
        json_object_set_new(e, "code", code ? json_string(code) : json_null());
        rep->json = json_pack("{s:o}", "error", e);
    }
}

/* Writes "<prefix>-<24 hex>" to out. */
void srv_new_id(hearth_server *s, const char *prefix, char *out, size_t cap) {
    uint64_t x = atomic_fetch_add(&s->id_seq, 1) + 0x9e3779b97f4a7c15ULL * (uint64_t)(srv_wall() * 1e6);
    uint64_t a = x, b = x ^ 0xd1b54a32d192ed03ULL;
    a ^= a >> 31; a *= 0x7fb5d329728ea185ULL; a ^= a >> 27; a *= 0x81dadef4bc2dd44dULL; a ^= a >> 33;
    b ^= b >> 29; b *= 0xbf58476d1ce4e5b9ULL; b ^= b >> 32;
    snprintf(out, cap, "%s-%016llx%08llx", prefix, (unsigned long long)a, (unsigned long long)(b & 0xffffffffULL));
}

/* ---- field parsing ----------------------------------------------------------------------- */

/* Reads an optional number field into *out within [lo, hi]. Returns 1 when
 * present, 0 when absent or null, -1 (rep filled) when invalid. */
static int get_number(const json_t *body, const char *key, double lo, double hi, double *out, srv_reply *rep) {
    const json_t *v = json_object_get(body, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_number(v)) {
        srv_error(rep, 400, "invalid_request_error", key, "invalid_type", "'%s' must be a number", key);
        return -1;
    }
    double d = json_number_value(v);
    if (!isfinite(d) || d < lo || d > hi) {
        srv_error(rep, 400, "invalid_request_error", key, "invalid_value",
                  "'%s' is %g but must be between %g and %g", key, d, lo, hi);
        return -1;
    }
    *out = d;
    return 1;
}

/* Like get_number for integers. */
static int get_int(const json_t *body, const char *key, long long lo, long long hi, long long *out,
                   srv_reply *rep) {
    const json_t *v = json_object_get(body, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v)) {
        srv_error(rep, 400, "invalid_request_error", key, "invalid_type", "'%s' must be an integer", key);
        return -1;
    }
    long long x = (long long)json_integer_value(v);
    if (x < lo || x > hi) {
        srv_error(rep, 400, "invalid_request_error", key, "invalid_value",
                  "'%s' is %lld but must be between %lld and %lld", key, x, lo, hi);
        return -1;
    }
    *out = x;
    return 1;
}

/* temperature, top_p, seed, presence_penalty, frequency_penalty into sp
 * (OpenAI defaults: temperature 1, top_p 1, no top-k/min-p). */
int srv_parse_sampling(const json_t *body, hearth_sampler_params *sp, srv_reply *rep) {
    *sp = hearth_sampler_default_params();
    sp->temperature = 1.0f;
    sp->top_k = 0;
    sp->top_p = 1.0f;
    sp->min_p = 0.0f;
    sp->repeat_penalty = 1.0f;
    sp->penalty_last_n = -1;
    sp->seed = (uint64_t)(srv_wall() * 1e6) ^ (uint64_t)(uintptr_t)sp;
    double d;
    long long ll;
    int rc;
    if ((rc = get_number(body, "temperature", 0.0, 2.0, &d, rep)) < 0) return -1;
    if (rc) sp->temperature = (float)d;
    if ((rc = get_number(body, "top_p", 0.0, 1.0, &d, rep)) < 0) return -1;
    if (rc) {
        if (d <= 0.0) sp->temperature = 0.0f; /* only the best token survives */
        else sp->top_p = (float)d;
    }
    if ((rc = get_number(body, "presence_penalty", -2.0, 2.0, &d, rep)) < 0) return -1;
    if (rc) sp->presence_penalty = (float)d;
    if ((rc = get_number(body, "frequency_penalty", -2.0, 2.0, &d, rep)) < 0) return -1;
    if (rc) sp->frequency_penalty = (float)d;
    if ((rc = get_int(body, "seed", INT64_MIN, INT64_MAX, &ll, rep)) < 0) return -1;
    if (rc) sp->seed = (uint64_t)ll;
    if ((rc = get_int(body, "top_k", 0, 1000000, &ll, rep)) < 0) return -1; /* common extension */
    if (rc) sp->top_k = (int32_t)ll;
    return 0;
}

/* `stop`: a string or an array of at most 4 non-empty strings (pointers
 * into body). */
int srv_parse_stop(const json_t *body, const char **stop, size_t *n_stop, srv_reply *rep) {
    *n_stop = 0;
    const json_t *v = json_object_get(body, "stop");
    if (!v || json_is_null(v)) return 0;
    if (json_is_string(v)) {
        if (json_string_length(v) > 0) stop[(*n_stop)++] = json_string_value(v);
        return 0;
    }
    if (!json_is_array(v)) {
        srv_error(rep, 400, "invalid_request_error", "stop", "invalid_type",
                  "'stop' must be a string or an array of strings");
        return -1;
    }
    if (json_array_size(v) > 4) {
        srv_error(rep, 400, "invalid_request_error", "stop", "invalid_value",
                  "'stop' has %zu entries; at most 4 are allowed", json_array_size(v));
        return -1;
    }
    size_t i;
    const json_t *e;
    json_array_foreach(v, i, e) {
        if (!json_is_string(e)) {
            srv_error(rep, 400, "invalid_request_error", "stop", "invalid_type", "'stop[%zu]' must be a string", i);
            return -1;
        }
        if (json_string_length(e) > 0) stop[(*n_stop)++] = json_string_value(e);
    }
    return 0;
}

/* `logit_bias`: {"<token id>": bias in [-100, 100]}; -100 bans the token. */
int srv_parse_bias(const json_t *body, int32_t n_vocab, hearth_logit_bias *bias, size_t *n_bias, size_t cap,
                   srv_reply *rep) {
    *n_bias = 0;
    const json_t *v = json_object_get(body, "logit_bias");
    if (!v || json_is_null(v)) return 0;
    if (!json_is_object(v)) {
        srv_error(rep, 400, "invalid_request_error", "logit_bias", "invalid_type",
                  "'logit_bias' must be an object mapping token ids to numbers");
        return -1;
    }
    if (json_object_size(v) > cap) {
        srv_error(rep, 400, "invalid_request_error", "logit_bias", "invalid_value",
                  "'logit_bias' has %zu entries; at most %zu are allowed", json_object_size(v), cap);
        return -1;
    }
    const char *k;
    const json_t *e;
    json_object_foreach((json_t *)v, k, e) {
        char *end = NULL;
        errno = 0;
        long id = strtol(k, &end, 10);
        if (!*k || *end || errno || id < 0 || id >= n_vocab) {
            srv_error(rep, 400, "invalid_request_error", "logit_bias", "invalid_value",
                      "'logit_bias' key '%.40s' is not a token id in [0, %d)", k, (int)n_vocab);
            return -1;
        }
        if (!json_is_number(e) || json_number_value(e) < -100.0 || json_number_value(e) > 100.0) {
            srv_error(rep, 400, "invalid_request_error", "logit_bias", "invalid_value",
                      "'logit_bias' value for token %ld must be a number in [-100, 100]", id);
            return -1;
        }
        double b = json_number_value(e);
        bias[*n_bias].token = (int32_t)id;
        bias[*n_bias].bias = b <= -100.0 ? -INFINITY : (float)b;
        (*n_bias)++;
    }
    return 0;
}

/* max_completion_tokens, else max_tokens; 0 when neither. */
int srv_parse_max_tokens(const json_t *body, int32_t *max_tokens, srv_reply *rep) {
    long long ll;
    *max_tokens = 0;
    int rc = get_int(body, "max_completion_tokens", 1, INT32_MAX, &ll, rep);
    if (rc < 0) return -1;
    if (rc == 0) rc = get_int(body, "max_tokens", 1, INT32_MAX, &ll, rep);
    if (rc < 0) return -1;
    if (rc) *max_tokens = (int32_t)ll;
    return 0;
}

/* `n` must be 1 (one choice per request). */
int srv_parse_n(const json_t *body, srv_reply *rep) {
    long long ll;
    int rc = get_int(body, "n", 1, 128, &ll, rep);
    if (rc < 0) return -1;
    if (rc && ll != 1) {
        srv_error(rep, 400, "invalid_request_error", "n", "unsupported_value",
                  "'n' is %lld but this server generates one choice per request (n must be 1)", ll);
        return -1;
    }
    return 0;
}

/* stream and stream_options.include_usage into r. */
int srv_parse_stream(const json_t *body, srv_req *r, srv_reply *rep) {
    const json_t *v = json_object_get(body, "stream");
    r->stream = false;
    if (v && !json_is_null(v)) {
        if (!json_is_boolean(v)) {
            srv_error(rep, 400, "invalid_request_error", "stream", "invalid_type", "'stream' must be a boolean");
            return -1;
        }
        r->stream = json_is_true(v);
    }
    const json_t *so = json_object_get(body, "stream_options");
    if (so && !json_is_null(so)) {
        if (!json_is_object(so)) {
            srv_error(rep, 400, "invalid_request_error", "stream_options", "invalid_type",
                      "'stream_options' must be an object");
            return -1;
        }
        if (!r->stream) {
            srv_error(rep, 400, "invalid_request_error", "stream_options", "invalid_value",
                      "'stream_options' is only allowed when 'stream' is true");
            return -1;
        }
        const json_t *iu = json_object_get(so, "include_usage");
        if (iu && !json_is_null(iu) && !json_is_boolean(iu)) {
            srv_error(rep, 400, "invalid_request_error", "stream_options.include_usage", "invalid_type",
                      "'stream_options.include_usage' must be a boolean");
            return -1;
        }
        r->include_usage = json_is_true(iu);
    }
    return 0;
}

/* OpenAI's finish_reason for a scheduler finish. */
const char *srv_finish_name(hearth_finish f, bool tool_calls) {
    if (tool_calls) return "tool_calls";
    switch (f) {
    case HEARTH_FINISH_LENGTH:
    case HEARTH_FINISH_TIMEOUT: return "length";
    default: return "stop";
    }
}

/* {"prompt_tokens", "completion_tokens", "total_tokens", details}. */
json_t *srv_usage_json(const srv_req *r) {
    return json_pack("{s:i, s:i, s:i, s:{s:i}, s:{s:i}}", "prompt_tokens", (int)r->prompt_tokens,
                     "completion_tokens", (int)r->completion_tokens, "total_tokens",
                     (int)(r->prompt_tokens + r->completion_tokens), "prompt_tokens_details", "cached_tokens",
                     (int)r->cached_tokens, "completion_tokens_details", "reasoning_tokens", 0);
}

/* Appends one SSE event with j's compact JSON; decrefs j. */
void srv_sse_json(srv_req *r, json_t *j) {
    if (!j) {
        r->oom = true;
        return;
    }
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!s) {
        r->oom = true;
        return;
    }
    if (srv_buf_str(&r->out, "data: ") < 0 || srv_buf_str(&r->out, s) < 0 || srv_buf_str(&r->out, "\n\n") < 0)
        r->oom = true;
    free(s);
}

/* ---- scheduler events --------------------------------------------------------------------- */

/* Follows the JSON text of a json-mode answer; returns true when the top
 * level object, array or string just closed (r->mu held). */
static bool json_scan(srv_req *r, const char *s, size_t n) {
    for (size_t i = 0; i < n && !r->json_done; i++) {
        char c = s[i];
        if (r->json_in_str) {
            if (r->json_esc) r->json_esc = false;
            else if (c == '\\') r->json_esc = true;
            else if (c == '"') {
                r->json_in_str = false;
                if (r->json_depth == 0) r->json_done = true;
            }
        } else if (c == '"') {
            r->json_in_str = true;
        } else if (c == '{' || c == '[') {
            r->json_depth++;
        } else if (c == '}' || c == ']') {
            if (--r->json_depth <= 0) r->json_done = true;
        }
    }
    return r->json_done;
}

/* The scheduler's callback, on the engine thread: copies the event into the
 * request under its mutex and wakes the connection. Never blocks beyond that
 * mutex (held only for copies by the other threads). */
static void srv_on_event(void *user, const hearth_gen_event *ev) {
    srv_req *r = user;
    double now = srv_now(), itl = -1.0;
    bool done = ev->kind == HEARTH_EVENT_DONE, cancel_now = false;
    if (done) {
        /* Charge and count before the response can reach the client, so
         * its next request already sees this one's tokens. */
        if (ev->completion_tokens > 0 && ev->time_to_first_token_s > 0)
            srv_metrics_ttft(r->srv->metrics, ev->time_to_first_token_s);
        srv_metrics_tokens(r->srv->metrics, ev->prompt_tokens, ev->completion_tokens);
        srv_rate_charge(r->srv->auth, r->who, (int64_t)ev->prompt_tokens + ev->completion_tokens);
    }
    pthread_mutex_lock(&r->mu);
    if (!done) {
        size_t off = r->text.len;
        if (r->json_done) { /* a token after the document, before the cancel took effect */
            pthread_mutex_unlock(&r->mu);
            return;
        }
        if (!ev->is_prompt && ev->text_len > 0 && srv_buf_add(&r->text, ev->text, ev->text_len) < 0) r->oom = true;
        if (r->json_mode && !ev->is_prompt && json_scan(r, ev->text, ev->text_len)) cancel_now = true;
        if (r->want_logprobs || ev->is_prompt) {
            if (r->n_toks == r->cap_toks) {
                size_t cap = r->cap_toks ? r->cap_toks * 2 : 64;
                srv_tok *t = hearth_reallocarray(r->toks, cap, sizeof *t);
                if (t) {
                    r->toks = t;
                    r->cap_toks = cap;
                } else {
                    r->oom = true;
                }
            }
            if (r->n_toks < r->cap_toks) {
                srv_tok *t = &r->toks[r->n_toks++];
                memset(t, 0, sizeof *t);
                t->token = ev->token;
                t->is_prompt = ev->is_prompt;
                t->off = off;
                t->len = r->text.len - off;
                t->logprob = ev->logprob;
                t->n_top = ev->n_top < 20 ? ev->n_top : 20;
                if (t->n_top < 0) t->n_top = 0;
                for (int32_t i = 0; i < t->n_top; i++) t->top[i] = ev->top[i];
            }
        }
        if (!ev->is_prompt) {
            if (r->t_last_tok > 0) itl = now - r->t_last_tok;
            r->t_last_tok = now;
        }
    } else {
        r->done = true;
        r->finish = ev->finish;
        r->gen_status = ev->status;
        snprintf(r->gen_error, sizeof r->gen_error, "%s", ev->error ? ev->error : "");
        r->prompt_tokens = ev->prompt_tokens;
        r->cached_tokens = ev->cached_tokens;
        r->completion_tokens = ev->completion_tokens;
        r->ttft = ev->time_to_first_token_s;
    }
    srv_req_wake(r);
    pthread_mutex_unlock(&r->mu);
    if (itl >= 0) srv_metrics_itl(r->srv->metrics, itl);
    /* the callback runs without the scheduler's lock, so cancelling is safe */
    if (cancel_now) hearth_sched_cancel(r->sched, ev->id);
    if (done) srv_req_unref(r); /* the scheduler's reference */
}

/* Submits under the server mutex (the scheduler pointer goes away at stop). */
int srv_submit(srv_req *r, hearth_gen_request *g, srv_reply *rep) {
    hearth_server *s = r->srv;
    if (s->p.timeout_s > 0) g->timeout_s = s->p.timeout_s;
    srv_req_ref(r); /* for the scheduler, released by the DONE event */
    r->created = (int64_t)srv_wall();
    pthread_mutex_lock(&s->mu);
    hearth_status st = HEARTH_ERR_CANCELLED;
    uint64_t id = 0;
    if (s->sched && !s->stopping) {
        /* submitted is set first: the DONE event may arrive before submit returns */
        pthread_mutex_lock(&r->mu);
        r->submitted = true;
        r->sched = s->sched;
        pthread_mutex_unlock(&r->mu);
        st = hearth_sched_submit(s->sched, g, srv_on_event, r, &id);
        pthread_mutex_lock(&r->mu);
        if (st == HEARTH_OK) r->id = id;
        else r->submitted = false;
        pthread_mutex_unlock(&r->mu);
    } else {
        hearth_error_set(HEARTH_ERR_CANCELLED, "the server is shutting down");
    }
    pthread_mutex_unlock(&s->mu);
    if (st == HEARTH_OK) return 0;
    srv_req_unref(r);
    if (st == HEARTH_ERR_RANGE) {
        srv_error(rep, 503, "server_error", NULL, "queue_full",
                  "the server is busy: the request queue is full; retry later");
        rep->retry_after = 1;
    } else if (st == HEARTH_ERR_INVALID) {
        srv_error(rep, 400, "invalid_request_error", "messages", "context_length_exceeded",
                  "the prompt does not fit the context: %s", hearth_error_last());
    } else if (st == HEARTH_ERR_CANCELLED) {
        srv_error(rep, 503, "server_error", NULL, "shutting_down", "the server is shutting down");
        rep->retry_after = 5;
    } else if (st == HEARTH_ERR_NOMEM) {
        srv_error(rep, 503, "server_error", NULL, "out_of_memory", "out of memory; retry later");
        rep->retry_after = 1;
    } else {
        srv_error(rep, 400, "invalid_request_error", NULL, NULL, "cannot run this request: %s: %s",
                  hearth_strerror(st), hearth_error_last());
    }
    return -1;
}

/* ---- text in JSON ------------------------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) len = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef) len = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4) len = 4, cp = c & 0x07;
    else return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

/* A JSON string of n bytes; invalid UTF-8 becomes U+FFFD (and NUL too,
 * which jansson would refuse). */
json_t *srv_text_json(const char *s, size_t n) {
    json_t *j = json_stringn(s, n);
    if (j) return j;
    srv_buf b = {0};
    for (size_t i = 0; i < n;) {
        size_t l = utf8_len((const unsigned char *)s + i, n - i);
        if (l == 0 || s[i] == '\0') {
            if (srv_buf_add(&b, "\xef\xbf\xbd", 3) < 0) break;
            i++;
        } else {
            if (srv_buf_add(&b, s + i, l) < 0) break;
            i += l;
        }
    }
    j = json_stringn(b.p ? b.p : "", b.len);
    srv_buf_free(&b);
    return j;
}

/* The piece of one token as OpenAI shows it: the text when it is valid
 * UTF-8, else "bytes:\xNN..." (how OpenAI shows partial characters).
 * buf (cap bytes) receives the piece bytes, *raw_len their count. */
json_t *srv_token_json(const hearth_vocab *v, int32_t id, char *buf, size_t cap, size_t *raw_len) {
    int n = hearth_token_to_piece(v, id, buf, cap, false);
    if (n < 0 || (size_t)n > cap) n = 0;
    *raw_len = (size_t)n;
    json_t *j = json_stringn(buf, (size_t)n);
    if (j) return j;
    srv_buf b = {0};
    srv_buf_str(&b, "bytes:");
    for (int i = 0; i < n; i++) srv_buf_printf(&b, "\\x%02x", (unsigned char)buf[i]);
    j = json_string(b.p ? b.p : "");
    srv_buf_free(&b);
    return j;
}

int srv_parse_token_array(const json_t *a, int32_t n_vocab, const char *param, int32_t **ids, size_t *n,
                          srv_reply *rep) {
    size_t len = json_array_size(a);
    *ids = NULL;
    *n = 0;
    if (len == 0) {
        srv_error(rep, 400, "invalid_request_error", param, "invalid_value", "'%s' is an empty token array", param);
        return -1;
    }
    int32_t *v = hearth_malloc(len * sizeof *v);
    if (!v) {
        srv_error(rep, 503, "server_error", NULL, "out_of_memory", "out of memory");
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        const json_t *e = json_array_get(a, i);
        if (!json_is_integer(e) || json_integer_value(e) < 0 || json_integer_value(e) >= n_vocab) {
            hearth_free(v);
            srv_error(rep, 400, "invalid_request_error", param, "invalid_value",
                      "'%s[%zu]' must be a token id in [0, %d)", param, i, (int)n_vocab);
            return -1;
        }
        v[i] = (int32_t)json_integer_value(e);
    }
    *ids = v;
    *n = len;
    return 0;
}
