/* server_internal.h - shared types of the HTTP server (src/server/http.c,
 * api_*.c, auth.c, metrics.c). Not a public interface.
 *
 * Threads: libmicrohttpd's polling threads run the access handler, the
 * streaming reader and the completion callback; the scheduler's engine
 * thread runs srv_on_event; embedding requests run on short-lived worker
 * threads. A request (srv_req) is reference counted because both the
 * connection and the scheduler hold it, and its mutable generation state is
 * guarded by its own mutex.
 */
#ifndef HEARTH_SERVER_INTERNAL_H
#define HEARTH_SERVER_INTERNAL_H

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hearth/chat.h"
#include "hearth/model.h"
#include "hearth/sched.h"
#include "hearth/server.h"
#include "hearth/tokenizer.h"

/* ---- growable byte buffer --------------------------------------------------- */

typedef struct srv_buf {
    char *p;
    size_t len, cap;
} srv_buf;

/* Returns 0, or -1 when out of memory (the buffer is unchanged). */
int srv_buf_add(srv_buf *b, const void *s, size_t n);
int srv_buf_str(srv_buf *b, const char *s);
int srv_buf_printf(srv_buf *b, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void srv_buf_free(srv_buf *b);

/* Monotonic and wall-clock seconds. */
double srv_now(void);
double srv_wall(void);

/* ---- auth and rate limits (auth.c) ------------------------------------------ */

typedef struct srv_auth srv_auth;

hearth_status srv_auth_new(const char *const *keys, size_t n_keys, int32_t rpm, int32_t tpm,
                           srv_auth **out);
void srv_auth_free(srv_auth *a);
bool srv_auth_enabled(const srv_auth *a);
/* Checks an Authorization header value ("Bearer KEY"); returns the key's
 * index (>= 0), or -1 when it is missing or wrong. Constant time in the
 * keys' contents. Returns 0 when auth is off. */
int srv_auth_check(const srv_auth *a, const char *authorization);
/* Admits one request for `who` (a key index, or a client address when auth
 * is off). Returns 0, or the seconds to wait (>= 1) and which limit
 * ("requests" or "tokens") in *which. */
int srv_rate_admit(srv_auth *a, const char *who, const char **which);
/* Charges `tokens` against who's tokens-per-minute budget. */
void srv_rate_charge(srv_auth *a, const char *who, int64_t tokens);

/* ---- metrics (metrics.c) ------------------------------------------------------ */

typedef struct srv_metrics srv_metrics;

hearth_status srv_metrics_new(srv_metrics **out);
void srv_metrics_free(srv_metrics *m);
void srv_metrics_request(srv_metrics *m, int status, double duration_s);
void srv_metrics_ttft(srv_metrics *m, double s);
void srv_metrics_itl(srv_metrics *m, double s);
void srv_metrics_tokens(srv_metrics *m, int64_t prompt, int64_t generated);
/* Appends the Prometheus text exposition (format 0.0.4); `st` may be NULL
 * while the model loads. Returns 0 or -1 (out of memory). */
int srv_metrics_render(srv_metrics *m, const hearth_sched_stats *st, srv_buf *out);

/* ---- the server --------------------------------------------------------------- */

enum { SRV_LOADING = 0, SRV_READY = 1, SRV_FAILED = -1 };

struct hearth_server {
    hearth_server_params p;
    char *host, *model_path, *model_id;
    size_t max_body;
    size_t body_budget;            /* all buffered request bodies together */
    atomic_size_t body_bytes;

    struct MHD_Daemon *daemon;
    int port;
    bool started, stopped;

    pthread_t loader;
    bool loader_started;
    pthread_mutex_t mu;  /* state, sched pointer, counts */
    pthread_cond_t cv;
    int state;
    hearth_status load_status;
    char load_error[256];

    hearth_model *owned_model;
    const hearth_model *model;
    const hearth_vocab *vocab;
    bool is_bert;
    int32_t n_ctx;                 /* positions per slot */
    hearth_sched *sched;
    hearth_chat_template *tmpl;
    hearth_chat_family family;
    json_t *tmpl_extra;            /* bos_token, eos_token */
    char *bos_text;
    size_t bos_len;

    int n_inflight;                /* live requests (connections with a srv_req) */
    /* generations whose clients are watched for a hang-up (under mu) */
    struct srv_req *watch_head;
    pthread_t watcher;
    bool watcher_started, watcher_stop;
    pthread_cond_t watch_cv;
    int n_workers;                 /* embedding worker threads */
    bool stopping;

    srv_auth *auth;
    srv_metrics *metrics;
    pthread_mutex_t log_mu;
    atomic_uint_fast64_t id_seq;
    char fingerprint[32];
    int64_t created;
};

/* ---- one request ---------------------------------------------------------------- */

typedef enum srv_api {
    SRV_API_NONE = 0,
    SRV_API_CHAT,
    SRV_API_COMPLETIONS,
    SRV_API_EMBEDDINGS
} srv_api;

/* One reported token. */
typedef struct srv_tok {
    int32_t token;
    bool is_prompt;
    size_t off, len;                 /* its bytes in srv_req.text */
    float logprob;
    int32_t n_top;
    hearth_token_logprob top[20];
} srv_tok;

/* A reply that is ready to send (errors and simple endpoints). */
typedef struct srv_reply {
    int status;
    json_t *json;                    /* body (owned), or NULL with text */
    char *text;                      /* raw body (hearth_malloc) */
    size_t text_len;
    const char *content_type;
    int retry_after;                 /* > 0: Retry-After header */
} srv_reply;

typedef struct srv_req srv_req;
struct srv_req {
    hearth_server *srv;
    pthread_mutex_t mu;
    int refs;
    struct MHD_Connection *conn;     /* NULL once the connection is gone */
    bool suspended;
    bool counted;                    /* finished with its connection: log it when freed */
    bool disconnected;
    bool watched;                    /* in srv->watch_head's list (srv->mu) */
    srv_req *watch_prev, *watch_next;
    bool early_reply;                /* an error reply was written to the socket mid-upload */

    char method[16];
    char path[128];
    char who[64];                    /* rate-limit identity */
    srv_buf body;
    bool body_too_large, body_over_budget;
    size_t body_accounted;           /* bytes counted in srv->body_bytes */
    size_t body_seen;
    double t0;
    int status;                      /* HTTP status sent (for the log) */
    bool handled;                    /* the body was processed */
    bool responded;
    bool logged;

    /* generation */
    srv_api api;
    bool stream, include_usage, want_logprobs, echo, has_tools, json_mode;
    int32_t n_logprobs;
    bool submitted, done, cancelled;
    hearth_sched *sched;             /* the scheduler it was submitted to */
    bool json_done, json_in_str, json_esc; /* json mode: the document is complete */
    int json_depth;
    uint64_t id;
    char resp_id[48];
    int64_t created;
    char *prompt_log;                /* for --log-prompts */
    char *echo_text;                 /* completions echo: the prompt text */
    int32_t *prompt_ids;             /* the submitted prompt */
    size_t n_prompt_ids;
    srv_buf text;                    /* generated bytes */
    srv_tok *toks;
    size_t n_toks, cap_toks;
    double t_last_tok;
    hearth_finish finish;
    hearth_status gen_status;
    char gen_error[256];
    int32_t prompt_tokens, cached_tokens, completion_tokens;
    double ttft;
    bool oom;

    /* streaming */
    srv_buf out;                     /* SSE bytes not yet handed to MHD */
    size_t out_off;
    size_t sent_text;                /* bytes of text already in chunks */
    size_t sent_toks;
    int stream_stage;                /* 0 nothing, 1 header chunk sent, 2 final sent, 3 [DONE] */

    /* embeddings */
    int32_t **emb_inputs;
    size_t *emb_lens;
    size_t n_emb;
    bool emb_base64;
    json_t *emb_result;
    srv_reply emb_error;
    bool emb_failed;
};

void srv_req_ref(srv_req *r);
void srv_req_unref(srv_req *r);

/* Fills rep with an OpenAI error object. `param` and `code` may be NULL. */
void srv_error(srv_reply *rep, int status, const char *type, const char *param, const char *code,
               const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 6, 7)))
#endif
    ;
void srv_reply_clear(srv_reply *rep);

/* Submits a generation for r (the scheduler then calls srv_on_event). On
 * failure fills rep (503 queue full, 400 prompt too long, ...) and returns -1. */
int srv_submit(srv_req *r, hearth_gen_request *g, srv_reply *rep);
/* A new response id "<prefix>-<hex>". */
void srv_new_id(hearth_server *s, const char *prefix, char *out, size_t cap);

/* Request-parsing helpers (api_common.c). Each returns 0, or -1 after
 * filling rep with a 400 naming the field. */
int srv_parse_sampling(const json_t *body, hearth_sampler_params *sp, srv_reply *rep);
int srv_parse_stop(const json_t *body, const char **stop, size_t *n_stop, srv_reply *rep);
int srv_parse_bias(const json_t *body, int32_t n_vocab, hearth_logit_bias *bias, size_t *n_bias,
                   size_t cap, srv_reply *rep);
int srv_parse_max_tokens(const json_t *body, int32_t *max_tokens, srv_reply *rep);
int srv_parse_n(const json_t *body, srv_reply *rep);
int srv_parse_stream(const json_t *body, srv_req *r, srv_reply *rep);
/* Checks that no field of `body` outside `known` has a value we would ignore
 * silently in a harmful way; currently only rejects `suffix`-like fields. */
const char *srv_finish_name(hearth_finish f, bool tool_calls);
json_t *srv_usage_json(const srv_req *r);

json_t *srv_text_json(const char *s, size_t n);
json_t *srv_token_json(const hearth_vocab *v, int32_t id, char *buf, size_t cap, size_t *raw_len);
/* Tokens of a prompt given as a JSON array of ids (checked against the
 * vocabulary). Returns 0 or -1 with rep filled. */
int srv_parse_token_array(const json_t *a, int32_t n_vocab, const char *param, int32_t **ids, size_t *n,
                          srv_reply *rep);

/* API handlers: on return 0 the generation was submitted (or, for
 * embeddings, started); on -1 rep holds the reply. */
int api_chat_start(srv_req *r, json_t *body, srv_reply *rep);
json_t *api_chat_final(srv_req *r);
/* Appends SSE bytes for what arrived since the last call (r->mu held). */
void api_chat_stream(srv_req *r);

int api_completions_start(srv_req *r, json_t *body, srv_reply *rep);
json_t *api_completions_final(srv_req *r);
void api_completions_stream(srv_req *r);

int api_embeddings_start(srv_req *r, json_t *body, srv_reply *rep);

/* Appends "data: <json>\n\n" to r->out and decrefs j. */
void srv_sse_json(srv_req *r, json_t *j);

/* Wakes the connection of r if it waits (r->mu held). */
void srv_req_wake(srv_req *r);

#endif
