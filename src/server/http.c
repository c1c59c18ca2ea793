/* http.c - the libmicrohttpd glue: listening socket, routing, body
 * accumulation with limits, suspended connections while the scheduler
 * works, SSE streaming, the request log, background model loading and
 * graceful shutdown.
 *
 * A generation request is answered in one of two ways. Without streaming
 * the connection is suspended after submit and resumed by the DONE event;
 * MHD then calls the access handler again, which sends the whole answer.
 * With streaming a callback response is queued at once; its reader hands
 * out whatever SSE bytes are ready and, when there are none, suspends the
 * connection until the scheduler's callback resumes it. Either way the
 * engine thread only copies and signals, and never waits for a socket.
 * MHD does not watch a suspended connection's socket, so a waiting
 * generation's socket is checked for a hang-up on each of its events and by
 * a watcher thread's periodic wake-up (see client_gone).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "hearth/alloc.h"
#include "hearth/constraint.h"
#include "server/server_internal.h"

#define SRV_DEFAULT_MAX_BODY (16u * 1024u * 1024u)

static void log_request(hearth_server *s, srv_req *r, bool disconnected);
static void body_release(srv_req *r);

/* ---- requests ---------------------------------------------------------------------- */

void srv_req_ref(srv_req *r) {
    pthread_mutex_lock(&r->mu);
    r->refs++;
    pthread_mutex_unlock(&r->mu);
}

/* Drops one reference; the last one frees the request. */
void srv_req_unref(srv_req *r) {
    if (!r) return;
    pthread_mutex_lock(&r->mu);
    int left = --r->refs;
    pthread_mutex_unlock(&r->mu);
    if (left > 0) return;
    /* logged here, after the scheduler's DONE too, so a cancelled request
     * reports the tokens it really produced */
    if (r->srv && r->counted) log_request(r->srv, r, r->disconnected);
    body_release(r);
    srv_buf_free(&r->text);
    srv_buf_free(&r->out);
    hearth_free(r->toks);
    hearth_free(r->prompt_log);
    hearth_free(r->echo_text);
    hearth_free(r->prompt_ids);
    for (size_t i = 0; i < r->n_emb; i++) hearth_free(r->emb_inputs ? r->emb_inputs[i] : NULL);
    hearth_free(r->emb_inputs);
    hearth_free(r->emb_lens);
    json_decref(r->emb_result);
    srv_reply_clear(&r->emb_error);
    pthread_mutex_destroy(&r->mu);
    hearth_free(r);
}

/* Frees r's request body and gives its bytes back to the server-wide
 * budget. */
static void body_release(srv_req *r) {
    if (r->body_accounted) atomic_fetch_sub(&r->srv->body_bytes, r->body_accounted);
    r->body_accounted = 0;
    srv_buf_free(&r->body);
}

/* Resumes r's connection if it is suspended (r->mu held). */
void srv_req_wake(srv_req *r) {
    if (r->suspended && r->conn) {
        r->suspended = false;
        MHD_resume_connection(r->conn);
    }
}

/* Suspends r's connection (r->mu held; MHD thread only). */
static void req_suspend(srv_req *r) {
    r->suspended = true;
    MHD_suspend_connection(r->conn);
}

/* ---- noticing clients that hang up ------------------------------------------------------- */

/* libmicrohttpd does not poll a suspended connection's socket, so a client
 * that closes while its generation runs is otherwise noticed only when an
 * answer is written (streaming: the next chunk; non-streaming: the end).
 * Every time a waiting connection comes back to the access handler or the
 * stream reader (each event of its generation, and the watcher's periodic
 * wake-up below), it looks at the socket first; a hang-up ends the
 * connection the way a failed write does, and on_completed cancels the
 * sequence. */

#define SRV_WATCH_MS 100 /* period of the watcher's wake-ups */

/* Returns true when the peer of c has closed or reset the connection.
 * Never blocks. A half-close (the client shut down its sending side) counts
 * as gone: nothing it could still read would be a request of its own.
 * Bytes already waiting (a pipelined request) are not a close. */
static bool client_gone(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci || ci->connect_fd == MHD_INVALID_SOCKET) return false;
    int fd = (int)ci->connect_fd;
    short hup = POLLHUP | POLLERR | POLLNVAL;
#ifdef POLLRDHUP
    hup |= POLLRDHUP; /* Linux: a FIN even behind pipelined bytes */
#endif
    struct pollfd p = {fd, (short)(POLLIN | hup), 0};
    int n;
    do n = poll(&p, 1, 0);
    while (n < 0 && errno == EINTR);
    if (n <= 0) return false;
    if (p.revents & hup) return true;
    if (!(p.revents & POLLIN)) return false;
    char b;
    ssize_t k;
    do k = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    while (k < 0 && errno == EINTR);
    return k == 0 || (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

/* Adds r, a running generation, to the watched list. */
static void watch_add(srv_req *r) {
    hearth_server *s = r->srv;
    pthread_mutex_lock(&s->mu);
    r->watch_prev = NULL;
    r->watch_next = s->watch_head;
    if (s->watch_head) s->watch_head->watch_prev = r;
    s->watch_head = r;
    r->watched = true;
    pthread_cond_signal(&s->watch_cv); /* the watcher sleeps while the list is empty */
    pthread_mutex_unlock(&s->mu);
}

/* Removes r from the watched list (s->mu held). */
static void watch_remove_locked(hearth_server *s, srv_req *r) {
    if (!r->watched) return;
    if (r->watch_prev) r->watch_prev->watch_next = r->watch_next;
    else s->watch_head = r->watch_next;
    if (r->watch_next) r->watch_next->watch_prev = r->watch_prev;
    r->watch_prev = r->watch_next = NULL;
    r->watched = false;
}

/* The watcher thread: every SRV_WATCH_MS resumes each suspended connection
 * whose generation is not done, so its handler checks the socket even while
 * the request waits in the queue or a long prompt is being processed (no
 * events then). A list entry stays valid while s->mu is held: on_completed
 * removes it under s->mu before dropping the connection's reference. */
static void *watcher_main(void *arg) {
    hearth_server *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->watcher_stop) {
        if (!s->watch_head) {
            pthread_cond_wait(&s->watch_cv, &s->mu);
            continue;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += SRV_WATCH_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->watch_cv, &s->mu, &ts);
        if (s->watcher_stop) break;
        for (srv_req *r = s->watch_head; r; r = r->watch_next) {
            pthread_mutex_lock(&r->mu);
            if (!r->done) srv_req_wake(r);
            pthread_mutex_unlock(&r->mu);
        }
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- replies ------------------------------------------------------------------------ */

/* Queues rep on the connection; consumes rep. Returns MHD's result. */
static enum MHD_Result send_reply(srv_req *r, struct MHD_Connection *c, srv_reply *rep) {
    char *body = NULL;
    size_t len = 0;
    bool from_json = false;
    if (rep->json) {
        body = json_dumps(rep->json, JSON_COMPACT);
        if (!body) srv_error(rep, 500, "server_error", NULL, NULL, "out of memory");
        else from_json = true;
        if (!body && rep->json) body = json_dumps(rep->json, JSON_COMPACT);
        len = body ? strlen(body) : 0;
    } else if (rep->text) {
        body = rep->text;
        len = rep->text_len;
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, body ? body : (char *)"", MHD_RESPMEM_MUST_COPY);
    if (from_json) free(body);
    if (!resp) {
        srv_reply_clear(rep);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            rep->content_type ? rep->content_type : "application/json");
    if (rep->retry_after > 0) {
        char ra[24];
        snprintf(ra, sizeof ra, "%d", rep->retry_after);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    if (rep->status == 405) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
                                strncmp(r->path, "/v1/models", 10) == 0 || strcmp(r->path, "/health") == 0 ||
                                        strcmp(r->path, "/metrics") == 0
                                    ? "GET"
                                    : "POST");
    }
    r->status = rep->status;
    r->responded = true;
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)rep->status, resp);
    MHD_destroy_response(resp);
    srv_reply_clear(rep);
    return ret;
}

/* Answers 413 to an upload that passed --max-body before its end (a chunked
 * body has no declared size). libmicrohttpd 0.9.75 refuses
 * MHD_queue_response() while a body is being received (only right after
 * the headers or after the whole body; suspending first does not help), and
 * waiting for the end of an unbounded upload is no answer. So the reply is
 * written to the socket directly, from the access handler on the
 * connection's own thread while MHD has nothing queued to send, with
 * "Connection: close", and the sending side is shut down so the client
 * sees the end of it. MHD knows nothing of it: the handler then drains
 * the rest of the upload for a while and finally returns MHD_NO, which
 * closes the connection (draining keeps the close from turning into a
 * reset that could discard the reply at the client). If nothing could be
 * written the connection is just closed later, without an answer. */
static void early_413(srv_req *r, struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci || ci->connect_fd == MHD_INVALID_SOCKET) return;
    int fd = (int)ci->connect_fd;
    srv_reply rep = {0};
    srv_error(&rep, 413, "invalid_request_error", NULL, "request_too_large",
              "the request body exceeds the limit of %zu bytes", r->srv->max_body);
    char *body = rep.json ? json_dumps(rep.json, JSON_COMPACT) : NULL;
    srv_reply_clear(&rep);
    if (!body) return;
    srv_buf msg = {0};
    int rc = srv_buf_printf(&msg,
                            "HTTP/1.1 413 Content Too Large\r\nConnection: close\r\n"
                            "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                            strlen(body), body);
    free(body);
    if (rc < 0) {
        srv_buf_free(&msg);
        return;
    }
#ifdef MSG_NOSIGNAL
    int flags = MSG_NOSIGNAL; /* elsewhere libmicrohttpd sets SO_NOSIGPIPE on the socket */
#else
    int flags = 0;
#endif
    /* a few hundred bytes into an idle socket's send buffer: one call
     * normally takes them all, and a socket that would block is not worth
     * waiting for (MHD's thread must not stall) */
    size_t off = 0;
    while (off < msg.len) {
        ssize_t k = send(fd, msg.p + off, msg.len - off, flags | MSG_DONTWAIT);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        off += (size_t)k;
    }
    srv_buf_free(&msg);
    if (off == 0) return;
    /* even a partial reply ends the exchange: MHD must not answer after it */
    shutdown(fd, SHUT_WR);
    r->early_reply = true;
    r->responded = true;
    r->status = 413;
}

/* ---- streaming ---------------------------------------------------------------------- */

/* MHD's content reader for SSE responses. Returns bytes copied, end of
 * stream, or 0 after suspending the connection until more arrives. */
static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    srv_req *r = cls;
    pthread_mutex_lock(&r->mu);
    if (r->out_off >= r->out.len) {
        r->out.len = 0;
        r->out_off = 0;
        if (r->stream_stage < 3 && !r->oom) {
            if (r->api == SRV_API_CHAT) api_chat_stream(r);
            else api_completions_stream(r);
        }
    }
    if (r->out_off < r->out.len) {
        size_t n = r->out.len - r->out_off;
        if (n > max) n = max;
        memcpy(buf, r->out.p + r->out_off, n);
        r->out_off += n;
        pthread_mutex_unlock(&r->mu);
        return (ssize_t)n;
    }
    if (r->oom || !r->conn) {
        pthread_mutex_unlock(&r->mu);
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    if (r->stream_stage >= 3) {
        pthread_mutex_unlock(&r->mu);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    if (!r->done && client_gone(r->conn)) {
        /* MHD closes the connection; on_completed cancels the sequence */
        pthread_mutex_unlock(&r->mu);
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    req_suspend(r);
    pthread_mutex_unlock(&r->mu);
    return 0;
}

static void stream_free(void *cls) { srv_req_unref(cls); }

/* Queues the 200 SSE response of a streaming request. */
static enum MHD_Result start_stream(srv_req *r, struct MHD_Connection *c) {
    srv_req_ref(r); /* the response's */
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_reader, r,
                                                                  stream_free);
    if (!resp) {
        srv_req_unref(r);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    r->status = 200;
    r->responded = true;
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ---- simple endpoints ------------------------------------------------------------------ */

/* The model object of /v1/models. */
static json_t *model_object(hearth_server *s) {
    return json_pack("{s:s, s:s, s:I, s:s}", "id", s->model_id, "object", "model", "created",
                     (json_int_t)s->created, "owned_by", "hearth");
}

/* Returns the server state under its mutex. */
static int server_state(hearth_server *s) {
    pthread_mutex_lock(&s->mu);
    int st = s->state;
    pthread_mutex_unlock(&s->mu);
    return st;
}

/* GET endpoints: fills rep. */
static void handle_get(srv_req *r, srv_reply *rep) {
    hearth_server *s = r->srv;
    if (strcmp(r->path, "/health") == 0) {
        int st = server_state(s);
        rep->status = st == SRV_READY ? 200 : 503;
        if (st == SRV_READY) rep->json = json_pack("{s:s}", "status", "ok");
        else if (st == SRV_LOADING) rep->json = json_pack("{s:s}", "status", "loading");
        else rep->json = json_pack("{s:s, s:s}", "status", "error", "error", s->load_error);
        if (st == SRV_LOADING) rep->retry_after = 1;
        return;
    }
    if (strcmp(r->path, "/metrics") == 0) {
        hearth_sched_stats stats;
        bool have = false;
        pthread_mutex_lock(&s->mu);
        if (s->sched) {
            hearth_sched_stats_get(s->sched, &stats);
            have = true;
        }
        pthread_mutex_unlock(&s->mu);
        srv_buf b = {0};
        if (srv_metrics_render(s->metrics, have ? &stats : NULL, &b) < 0) {
            srv_buf_free(&b);
            srv_error(rep, 500, "server_error", NULL, NULL, "out of memory");
            return;
        }
        rep->status = 200;
        rep->text = b.p;
        rep->text_len = b.len;
        rep->content_type = "text/plain; version=0.0.4; charset=utf-8";
        return;
    }
    if (strcmp(r->path, "/v1/models") == 0) {
        rep->status = 200;
        rep->json = json_pack("{s:s, s:[o]}", "object", "list", "data", model_object(s));
        return;
    }
    const char *id = r->path + strlen("/v1/models/");
    if (strcmp(id, s->model_id) == 0) {
        rep->status = 200;
        rep->json = model_object(s);
        return;
    }
    srv_error(rep, 404, "invalid_request_error", "model", "model_not_found", "the model '%.100s' does not exist",
              id);
}

/* Which route a path is: 'G' GET endpoint, 'P' POST endpoint, 0 unknown. */
static int route_kind(const char *path, srv_api *api) {
    *api = SRV_API_NONE;
    if (strcmp(path, "/health") == 0 || strcmp(path, "/metrics") == 0 || strcmp(path, "/v1/models") == 0)
        return 'G';
    if (strncmp(path, "/v1/models/", 11) == 0 && path[11] && !strchr(path + 11, '/')) return 'G';
    if (strcmp(path, "/v1/chat/completions") == 0) {
        *api = SRV_API_CHAT;
        return 'P';
    }
    if (strcmp(path, "/v1/completions") == 0) {
        *api = SRV_API_COMPLETIONS;
        return 'P';
    }
    if (strcmp(path, "/v1/embeddings") == 0) {
        *api = SRV_API_EMBEDDINGS;
        return 'P';
    }
    return 0;
}

/* ---- the request log -------------------------------------------------------------------- */

/* Writes one line per finished request (never the key; the prompt only with
 * --log-prompts). */
static void log_request(hearth_server *s, srv_req *r, bool disconnected) {
    if (s->p.quiet) return;
    FILE *f = s->p.log ? s->p.log : stderr;
    double dt = srv_now() - r->t0;
    pthread_mutex_lock(&s->log_mu);
    fprintf(f, "hearth: %s %s %d", r->method, r->path, r->status ? r->status : 0);
    if (r->submitted)
        fprintf(f, " prompt_tokens=%d completion_tokens=%d", (int)r->prompt_tokens, (int)r->completion_tokens);
    fprintf(f, " %.3fs", dt);
    if (disconnected) fprintf(f, " (client disconnected)");
    if (s->p.log_prompts && r->prompt_log) {
        fputs(" prompt=\"", f);
        size_t n = 0;
        for (const unsigned char *p = (const unsigned char *)r->prompt_log; *p && n < 400; p++, n++) {
            if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
            else if (*p == '\n') fputs("\\n", f);
            else if (*p < 0x20 || *p == 0x7f) fprintf(f, "\\x%02x", *p);
            else fputc(*p, f);
        }
        fputs(n >= 400 ? "...\"" : "\"", f);
    }
    fputc('\n', f);
    fflush(f);
    pthread_mutex_unlock(&s->log_mu);
}

/* MHD's request-completed callback: the connection is done with r (sent,
 * failed or disconnected). Cancels a generation still running. */
static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)c;
    hearth_server *s = cls;
    srv_req *r = *con_cls;
    if (!r) return;
    *con_cls = NULL;
    pthread_mutex_lock(&r->mu);
    r->conn = NULL;
    r->suspended = false;
    bool cancel = r->submitted && !r->done;
    uint64_t id = r->id;
    pthread_mutex_unlock(&r->mu);
    if (cancel) {
        pthread_mutex_lock(&s->mu);
        if (s->sched) hearth_sched_cancel(s->sched, id);
        pthread_mutex_unlock(&s->mu);
    }
    r->disconnected = toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && (cancel || !r->responded);
    if (!r->responded && r->status == 0) r->status = 499; /* nginx's "client closed request" */
    r->counted = true;
    srv_metrics_request(s->metrics, r->status, srv_now() - r->t0);
    pthread_mutex_lock(&s->mu);
    watch_remove_locked(s, r);
    s->n_inflight--;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    srv_req_unref(r);
}

/* ---- embeddings worker ---------------------------------------------------------------------- */

/* Computes r's embeddings off the MHD threads (hearth_sched_embed blocks),
 * then wakes the connection. */
static void *embed_worker(void *arg) {
    srv_req *r = arg;
    hearth_server *s = r->srv;
    const hearth_hparams *hp = hearth_model_hparams(s->model);
    int32_t n_embd = hp->n_embd;
    float *vec = hearth_malloc((size_t)n_embd * sizeof *vec);
    json_t *data = json_array();
    srv_reply err = {0};
    int64_t n_tokens = 0;
    for (size_t i = 0; vec && data && i < r->n_emb; i++) {
        hearth_status st = hearth_sched_embed(s->sched, r->emb_inputs[i], (int32_t)r->emb_lens[i], vec);
        if (st < 0) {
            if (st == HEARTH_ERR_RANGE || st == HEARTH_ERR_INVALID)
                srv_error(&err, 400, "invalid_request_error", "input", NULL, "input[%zu] cannot be embedded: %s", i,
                          hearth_error_last());
            else
                srv_error(&err, 500, "server_error", NULL, NULL, "embedding failed: %s: %s", hearth_strerror(st),
                          hearth_error_last());
            break;
        }
        n_tokens += (int64_t)r->emb_lens[i];
        json_t *emb;
        if (r->emb_base64) {
            static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            size_t nb = (size_t)n_embd * 4;
            const unsigned char *in = (const unsigned char *)vec; /* little-endian float32, as OpenAI sends */
            char *b64 = hearth_malloc((nb + 2) / 3 * 4 + 1);
            if (!b64) break;
            size_t o = 0;
            for (size_t k = 0; k < nb; k += 3) {
                uint32_t v = (uint32_t)in[k] << 16;
                if (k + 1 < nb) v |= (uint32_t)in[k + 1] << 8;
                if (k + 2 < nb) v |= in[k + 2];
                b64[o++] = tab[(v >> 18) & 63];
                b64[o++] = tab[(v >> 12) & 63];
                b64[o++] = k + 1 < nb ? tab[(v >> 6) & 63] : '=';
                b64[o++] = k + 2 < nb ? tab[v & 63] : '=';
            }
            b64[o] = '\0';
            emb = json_string(b64);
            hearth_free(b64);
        } else {
            emb = json_array();
            for (int32_t k = 0; emb && k < n_embd; k++) json_array_append_new(emb, json_real(vec[k]));
        }
        json_array_append_new(data, json_pack("{s:s, s:I, s:o}", "object", "embedding", "index", (json_int_t)i,
                                              "embedding", emb));
    }
    hearth_free(vec);
    json_t *result = NULL;
    if (!err.status) {
        if (!data || json_array_size(data) != r->n_emb)
            srv_error(&err, 500, "server_error", NULL, NULL, "out of memory");
        else
            result = json_pack("{s:s, s:O, s:s, s:{s:I, s:I}}", "object", "list", "data", data, "model",
                               s->model_id, "usage", "prompt_tokens", (json_int_t)n_tokens, "total_tokens",
                               (json_int_t)n_tokens);
    }
    json_decref(data);
    srv_metrics_tokens(s->metrics, n_tokens, 0);
    srv_rate_charge(s->auth, r->who, n_tokens);
    pthread_mutex_lock(&r->mu);
    r->prompt_tokens = (int32_t)n_tokens;
    if (result) r->emb_result = result;
    else {
        r->emb_error = err;
        r->emb_failed = true;
    }
    r->done = true;
    srv_req_wake(r);
    pthread_mutex_unlock(&r->mu);
    pthread_mutex_lock(&s->mu);
    s->n_workers--;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    srv_req_unref(r);
    return NULL;
}

/* Starts the embedding worker of r. Returns 0 or -1 with rep filled. */
static int start_embed_worker(srv_req *r, srv_reply *rep) {
    hearth_server *s = r->srv;
    int limit = s->p.sched.max_queue + s->p.sched.n_parallel;
    if (limit < 2) limit = 2;
    pthread_mutex_lock(&s->mu);
    if (s->stopping || s->n_workers >= limit) {
        pthread_mutex_unlock(&s->mu);
        srv_error(rep, 503, "server_error", NULL, s->stopping ? "shutting_down" : "queue_full",
                  "the server is busy; retry later");
        rep->retry_after = 1;
        return -1;
    }
    s->n_workers++;
    pthread_mutex_unlock(&s->mu);
    srv_req_ref(r);
    r->submitted = false;
    pthread_t t;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&t, &at, embed_worker, r);
    pthread_attr_destroy(&at);
    if (rc != 0) {
        srv_req_unref(r);
        pthread_mutex_lock(&s->mu);
        s->n_workers--;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        srv_error(rep, 503, "server_error", NULL, NULL, "cannot start a worker thread; retry later");
        rep->retry_after = 1;
        return -1;
    }
    return 0;
}

/* ---- the access handler ---------------------------------------------------------------------- */

/* Parses the body and starts the request's work. Returns 0 when it runs
 * (the caller waits or streams), -1 with rep filled. */
static int start_post(srv_req *r, srv_reply *rep) {
    hearth_server *s = r->srv;
    int st = server_state(s);
    if (st != SRV_READY) {
        if (st == SRV_LOADING) {
            srv_error(rep, 503, "server_error", NULL, "model_loading", "the model is still loading; retry shortly");
            rep->retry_after = 1;
        } else {
            srv_error(rep, 503, "server_error", NULL, "model_unavailable", "the model failed to load: %s",
                      s->load_error);
        }
        return -1;
    }
    if (r->body.len == 0) {
        srv_error(rep, 400, "invalid_request_error", NULL, "invalid_json",
                  "the request body is empty; send a JSON object");
        return -1;
    }
    json_error_t je;
    json_t *body = json_loadb(r->body.p, r->body.len, 0, &je);
    if (!body) {
        srv_error(rep, 400, "invalid_request_error", NULL, "invalid_json",
                  "malformed JSON in the request body at line %d, column %d (byte %d): %s", je.line, je.column,
                  je.position, je.text);
        return -1;
    }
    if (!json_is_object(body)) {
        json_decref(body);
        srv_error(rep, 400, "invalid_request_error", NULL, "invalid_json", "the request body must be a JSON object");
        return -1;
    }
    const json_t *model = json_object_get(body, "model");
    if (model && !json_is_null(model) && !json_is_string(model)) {
        json_decref(body);
        srv_error(rep, 400, "invalid_request_error", "model", "invalid_type", "'model' must be a string");
        return -1;
    }
    int rc;
    if (r->api == SRV_API_CHAT) rc = api_chat_start(r, body, rep);
    else if (r->api == SRV_API_COMPLETIONS) rc = api_completions_start(r, body, rep);
    else {
        rc = api_embeddings_start(r, body, rep);
        if (rc == 0) rc = start_embed_worker(r, rep);
    }
    json_decref(body);
    return rc;
}

/* Answers a non-streaming request once its work is done (r->done). */
static enum MHD_Result finish_waiting(srv_req *r, struct MHD_Connection *c) {
    srv_reply rep = {0};
    if (r->api == SRV_API_EMBEDDINGS) {
        pthread_mutex_lock(&r->mu);
        if (r->emb_failed) {
            rep = r->emb_error;
            memset(&r->emb_error, 0, sizeof r->emb_error);
        } else {
            rep.status = 200;
            rep.json = r->emb_result;
            r->emb_result = NULL;
        }
        pthread_mutex_unlock(&r->mu);
        return send_reply(r, c, &rep);
    }
    pthread_mutex_lock(&r->mu);
    if (r->finish == HEARTH_FINISH_ERROR || r->oom) {
        srv_error(&rep, 500, "server_error", NULL, NULL, "generation failed: %s",
                  r->oom ? "out of memory" : r->gen_error);
    } else if (r->finish == HEARTH_FINISH_CANCELLED && !r->json_done) {
        srv_error(&rep, 503, "server_error", NULL, "shutting_down", "the request was cancelled (server stopping)");
    } else {
        rep.status = 200;
        rep.json = r->api == SRV_API_CHAT ? api_chat_final(r) : api_completions_final(r);
        if (!rep.json) srv_error(&rep, 500, "server_error", NULL, NULL, "cannot build the response");
    }
    pthread_mutex_unlock(&r->mu);
    return send_reply(r, c, &rep);
}

/* Fills r->who with the rate-limit identity: the key, else the client
 * address. */
static void set_identity(srv_req *r, struct MHD_Connection *c, int key) {
    if (srv_auth_enabled(r->srv->auth)) {
        snprintf(r->who, sizeof r->who, "key#%d", key);
        return;
    }
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(r->who, sizeof r->who, "unknown");
    if (!ci || !ci->client_addr) return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, r->who, sizeof r->who);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, r->who, sizeof r->who);
}

/* The first call for a request (headers only): routing, auth, rate limits,
 * declared body size. Returns 0 to go on, -1 with rep filled. */
static int check_headers(srv_req *r, struct MHD_Connection *c, srv_reply *rep) {
    hearth_server *s = r->srv;
    int kind = route_kind(r->path, &r->api);
    if (!kind) {
        srv_error(rep, 404, "invalid_request_error", NULL, "not_found", "unknown path '%.100s' (%s)", r->path,
                  "see /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/models, /health, /metrics");
        return -1;
    }
    const char *want = kind == 'G' ? "GET" : "POST";
    if (strcmp(r->method, want) != 0 && !(kind == 'G' && strcmp(r->method, "HEAD") == 0)) {
        srv_error(rep, 405, "invalid_request_error", NULL, "method_not_allowed", "%s is not allowed on %s; use %s",
                  r->method, r->path, want);
        return -1;
    }
    int key = 0;
    if (strncmp(r->path, "/v1/", 4) == 0 && srv_auth_enabled(s->auth)) {
        const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
        key = srv_auth_check(s->auth, h);
        if (key < 0) {
            srv_error(rep, 401, "invalid_request_error", NULL, "invalid_api_key",
                      h ? "incorrect API key provided" : "missing API key: send 'Authorization: Bearer KEY'");
            return -1;
        }
    }
    set_identity(r, c, key);
    if (kind == 'P') {
        const char *which = NULL;
        int wait = srv_rate_admit(s->auth, r->who, &which);
        if (wait > 0) {
            srv_error(rep, 429, which && strcmp(which, "tokens") == 0 ? "tokens" : "requests", NULL,
                      "rate_limit_exceeded", "rate limit reached for %s per minute; retry in %d s",
                      which ? which : "requests", wait);
            rep->retry_after = wait;
            return -1;
        }
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl) {
            char *end = NULL;
            errno = 0;
            unsigned long long n = strtoull(cl, &end, 10);
            if (errno || end == cl || n > s->max_body) {
                srv_error(rep, 413, "invalid_request_error", NULL, "request_too_large",
                          "the request body (%s bytes) exceeds the limit of %zu bytes", cl, s->max_body);
                return -1;
            }
        }
    }
    return 0;
}

/* MHD's access handler; see the file comment for the call sequence. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
    (void)version;
    hearth_server *s = cls;
    srv_req *r = *con_cls;
    srv_reply rep = {0};
    if (!r) {
        r = hearth_calloc(1, sizeof *r);
        if (!r) return MHD_NO;
        pthread_mutex_init(&r->mu, NULL);
        r->refs = 1;
        r->srv = s;
        r->conn = c;
        r->t0 = srv_now();
        r->n_logprobs = 0;
        snprintf(r->method, sizeof r->method, "%s", method);
        snprintf(r->path, sizeof r->path, "%s", url);
        *con_cls = r;
        pthread_mutex_lock(&s->mu);
        s->n_inflight++;
        pthread_mutex_unlock(&s->mu);
        if (check_headers(r, c, &rep) < 0) return send_reply(r, c, &rep);
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        r->body_seen += n;
        if (r->responded && !r->early_reply) return MHD_YES;
        if (r->body_too_large || r->body.len + n > s->max_body) {
            /* chunked upload past the limit: keep nothing, answer 413 at
             * once, and cut off a client that keeps sending far beyond it */
            if (!r->body_too_large) {
                r->body_too_large = true;
                body_release(r);
                early_413(r, c);
            }
            return r->body_seen > 2 * s->max_body + (1u << 20) ? MHD_NO : MHD_YES;
        }
        if (r->body_over_budget) return MHD_YES;
        /* all bodies together stay under a budget, so many large uploads at
         * once cannot exhaust memory */
        size_t total = atomic_fetch_add(&s->body_bytes, n) + n;
        r->body_accounted += n;
        if (total > s->body_budget) {
            r->body_over_budget = true;
            body_release(r);
            return MHD_YES;
        }
        if (srv_buf_add(&r->body, upload_data, n) < 0) return MHD_NO;
        return MHD_YES;
    }
    if (r->early_reply) return MHD_NO; /* the 413 is out: close */
    if (r->responded) return MHD_YES;
    if (r->body_over_budget) {
        srv_error(&rep, 503, "server_error", NULL, "server_busy",
                  "too many large requests are being uploaded at once; retry later");
        rep.retry_after = 1;
        return send_reply(r, c, &rep);
    }
    if (r->body_too_large) {
        srv_error(&rep, 413, "invalid_request_error", NULL, "request_too_large",
                  "the request body exceeds the limit of %zu bytes", s->max_body);
        return send_reply(r, c, &rep);
    }
    if (!r->handled) {
        r->handled = true;
        if (r->api == SRV_API_NONE) {
            handle_get(r, &rep);
            return send_reply(r, c, &rep);
        }
        int rc = start_post(r, &rep);
        body_release(r);
        if (rc < 0) return send_reply(r, c, &rep);
        if (r->submitted) watch_add(r);
        if (r->stream) return start_stream(r, c);
    }
    pthread_mutex_lock(&r->mu);
    bool done = r->done, gone = false;
    if (!done) {
        /* a generation's client that hung up: MHD_NO closes the connection
         * and on_completed cancels the sequence (embeddings run to the end:
         * their work cannot be cancelled) */
        gone = r->submitted && client_gone(c);
        if (!gone) req_suspend(r);
    }
    pthread_mutex_unlock(&r->mu);
    if (gone) return MHD_NO;
    if (!done) return MHD_YES;
    return finish_waiting(r, c);
}

/* ---- model loading --------------------------------------------------------------------------------- */

/* Loads the chat template: the model's own, else the family's built-in one. */
static hearth_status load_template(hearth_server *s) {
    hearth_str src = hearth_model_chat_template(s->model);
    hearth_chat_family fam = HEARTH_CHAT_UNKNOWN;
    if (src.len > 0) {
        if (hearth_chat_template_new(src.ptr, (size_t)src.len, &s->tmpl) == HEARTH_OK) {
            s->family = hearth_chat_template_family(s->tmpl);
            if (s->family == HEARTH_CHAT_UNKNOWN) s->family = hearth_chat_detect(src.ptr, (size_t)src.len);
            return HEARTH_OK;
        }
        fam = hearth_chat_detect(src.ptr, (size_t)src.len);
    }
    const char *b = hearth_chat_builtin_source(fam);
    s->family = fam == HEARTH_CHAT_UNKNOWN ? HEARTH_CHAT_CHATML : fam;
    return hearth_chat_template_new(b, strlen(b), &s->tmpl);
}

/* The loader thread: model, then template and scheduler (or a BERT
 * embedding context). Publishes the state and wakes waiters. */
static void *loader_main(void *arg) {
    hearth_server *s = arg;
    hearth_status st = HEARTH_OK;
    const hearth_model *m = s->p.model;
    hearth_model *owned = NULL;
    hearth_sched *sched = NULL;
    if (!m) {
        st = hearth_model_load(s->model_path, &owned);
        m = owned;
    }
    if (st == HEARTH_OK) {
        s->model = m;
        s->vocab = hearth_model_vocab(m);
        const hearth_hparams *hp = hearth_model_hparams(m);
        s->is_bert = hp->arch == HEARTH_ARCH_BERT;
        int32_t n_ctx = s->p.sched.n_ctx;
        if (n_ctx <= 0) n_ctx = hp->n_ctx_train > 0 && hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096;
        s->n_ctx = n_ctx;
        hearth_sched_params sp = s->p.sched;
        sp.n_ctx = n_ctx;
        if (!s->is_bert) st = load_template(s);
        if (st == HEARTH_OK) st = hearth_sched_new(m, &sp, &sched);
        if (st == HEARTH_OK && !s->is_bert) {
            s->tmpl_extra = json_object();
            int32_t bos = hearth_vocab_bos(s->vocab), eos = hearth_vocab_eos(s->vocab);
            if (bos >= 0) {
                hearth_str t = hearth_vocab_token_text(s->vocab, bos);
                s->bos_text = hearth_strndup(t.ptr, (size_t)t.len);
                s->bos_len = (size_t)t.len;
                json_object_set_new(s->tmpl_extra, "bos_token", json_stringn(t.ptr, (size_t)t.len));
            }
            if (eos >= 0) {
                hearth_str t = hearth_vocab_token_text(s->vocab, eos);
                json_object_set_new(s->tmpl_extra, "eos_token", json_stringn(t.ptr, (size_t)t.len));
            }
        }
        uint64_t h = hearth_model_weight_bytes(m) * 0x9e3779b97f4a7c15ULL ^ (uint64_t)hp->n_vocab;
        snprintf(s->fingerprint, sizeof s->fingerprint, "fp_%010llx", (unsigned long long)(h >> 24));
    }
    pthread_mutex_lock(&s->mu);
    s->owned_model = owned;
    if (st == HEARTH_OK) {
        s->sched = sched;
        s->state = SRV_READY;
    } else {
        snprintf(s->load_error, sizeof s->load_error, "%s: %s", hearth_strerror(st), hearth_error_last());
        s->load_status = st;
        s->state = SRV_FAILED;
    }
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- lifecycle ----------------------------------------------------------------------------------------- */

void hearth_server_default_params(hearth_server_params *p) {
    memset(p, 0, sizeof *p);
    p->host = "127.0.0.1";
    p->port = 8080;
    /* Several clients are served at once out of the box; a slot's KV cache
     * is committed by the OS only as its tokens arrive (the allocation is
     * never written ahead), so idle slots cost address space, not memory. */
    p->sched.n_parallel = 4;
    p->sched.max_queue = 16;
    p->max_body = SRV_DEFAULT_MAX_BODY;
}

hearth_status hearth_server_new(const hearth_server_params *p, hearth_server **out) {
    *out = NULL;
    if (!p || (!p->model_path && !p->model))
        return hearth_error_set(HEARTH_ERR_INVALID, "server: no model given");
    if (p->port < 0 || p->port > 65535)
        return hearth_error_set(HEARTH_ERR_INVALID, "server: port %d is out of range", p->port);
    hearth_server *s = hearth_calloc(1, sizeof *s);
    if (!s) return hearth_error_set(HEARTH_ERR_NOMEM, "server: out of memory");
    s->p = *p;
    if (s->p.sched.n_parallel < 1) s->p.sched.n_parallel = 1;
    if (s->p.sched.max_queue < 0) s->p.sched.max_queue = 0;
    s->max_body = p->max_body ? p->max_body : SRV_DEFAULT_MAX_BODY;
    s->body_budget = s->max_body * 4 > ((size_t)64 << 20) ? s->max_body * 4 : ((size_t)64 << 20);
    atomic_init(&s->body_bytes, 0);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_cond_init(&s->watch_cv, NULL);
    pthread_mutex_init(&s->log_mu, NULL);
    atomic_init(&s->id_seq, 1);
    s->created = (int64_t)srv_wall();
    snprintf(s->fingerprint, sizeof s->fingerprint, "fp_hearth");
    s->host = hearth_strdup(p->host ? p->host : "127.0.0.1");
    s->model_path = p->model_path ? hearth_strdup(p->model_path) : NULL;
    if (p->model_id) {
        s->model_id = hearth_strdup(p->model_id);
    } else {
        const char *path = p->model_path ? p->model_path : "model";
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        size_t n = strlen(base);
        if (n > 5 && strcmp(base + n - 5, ".gguf") == 0) n -= 5;
        s->model_id = hearth_strndup(base, n);
    }
    s->p.host = NULL;
    s->p.model_path = NULL;
    s->p.model_id = NULL;
    s->p.api_keys = NULL;
    hearth_status st = HEARTH_OK;
    if (!s->host || !s->model_id || (p->model_path && !s->model_path)) st = HEARTH_ERR_NOMEM;
    if (st == HEARTH_OK) st = srv_auth_new(p->api_keys, p->n_api_keys, p->rate_limit_rpm, p->token_limit_tpm, &s->auth);
    if (st == HEARTH_OK) st = srv_metrics_new(&s->metrics);
    if (st < 0) {
        hearth_server_free(s);
        return st == HEARTH_ERR_NOMEM ? hearth_error_set(st, "server: out of memory") : st;
    }
    *out = s;
    return HEARTH_OK;
}

/* libmicrohttpd's own messages (a peer that reset mid-response, ...) go
 * to the request log. */
static void mhd_logger(void *cls, const char *fmt, va_list ap) {
    hearth_server *s = cls;
    if (s->p.quiet) return;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' ')) msg[--n] = '\0';
    FILE *f = s->p.log ? s->p.log : stderr;
    pthread_mutex_lock(&s->log_mu);
    fprintf(f, "hearth: http: %s\n", msg);
    fflush(f);
    pthread_mutex_unlock(&s->log_mu);
}

/* Creates, binds and listens on the socket for host:port. Returns the fd
 * or -1 with the error set. */
static int open_listener(hearth_server *s, bool *v6) {
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char port[16];
    snprintf(port, sizeof port, "%d", s->p.port);
    int rc = getaddrinfo(s->host, port, &hints, &res);
    if (rc != 0) {
        hearth_error_set(HEARTH_ERR_IO, "cannot resolve '%s': %s", s->host, gai_strerror(rc));
        return -1;
    }
    int fd = -1, err = 0;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, 128) == 0) {
            *v6 = a->ai_family == AF_INET6;
            break;
        }
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) hearth_error_set(HEARTH_ERR_IO, "cannot listen on %s:%d: %s", s->host, s->p.port, strerror(err));
    return fd;
}

hearth_status hearth_server_start(hearth_server *s) {
    if (s->started) return hearth_error_set(HEARTH_ERR_INVALID, "server: already started");
    bool v6 = false;
    int fd = open_listener(s, &v6);
    if (fd < 0) return HEARTH_ERR_IO;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET) s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6) s->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    unsigned int max_conn = s->p.max_connections > 0 ? (unsigned)s->p.max_connections : 256u;
    unsigned int threads = s->p.n_http_threads > 0 ? (unsigned)s->p.n_http_threads : 2u;
    unsigned int timeout = s->p.idle_timeout_s > 0 ? (unsigned)s->p.idle_timeout_s : 30u;
    unsigned int flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (v6) flags |= MHD_USE_IPv6;
    s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
                                 MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, s,
                                 MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
                                 MHD_OPTION_THREAD_POOL_SIZE, threads,
                                 MHD_OPTION_CONNECTION_LIMIT, max_conn,
                                 MHD_OPTION_CONNECTION_TIMEOUT, timeout,
                                 /* headers and per-connection buffers; bodies go to our own buffer */
                                 MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                                 MHD_OPTION_END);
    if (!s->daemon) {
        close(fd);
        return hearth_error_set(HEARTH_ERR_IO, "cannot start the HTTP server on %s:%d", s->host, s->port);
    }
    s->started = true;
    /* without the watcher a hang-up is still noticed at the next event */
    s->watcher_started = pthread_create(&s->watcher, NULL, watcher_main, s) == 0;
    if (pthread_create(&s->loader, NULL, loader_main, s) != 0) {
        pthread_mutex_lock(&s->mu);
        s->state = SRV_FAILED;
        snprintf(s->load_error, sizeof s->load_error, "cannot start the loader thread");
        s->load_status = HEARTH_ERR_NOMEM;
        pthread_mutex_unlock(&s->mu);
    } else {
        s->loader_started = true;
    }
    return HEARTH_OK;
}

int hearth_server_port(const hearth_server *s) { return s && s->started ? s->port : 0; }

hearth_status hearth_server_wait_ready(hearth_server *s) {
    pthread_mutex_lock(&s->mu);
    while (s->started && s->state == SRV_LOADING) pthread_cond_wait(&s->cv, &s->mu);
    int state = s->state;
    hearth_status st = s->load_status;
    char msg[256];
    snprintf(msg, sizeof msg, "%s", s->load_error);
    pthread_mutex_unlock(&s->mu);
    if (!s->started) return hearth_error_set(HEARTH_ERR_INVALID, "server: not started");
    if (state == SRV_READY) return HEARTH_OK;
    return hearth_error_set(st ? st : HEARTH_ERR_INTERNAL, "model: %s", msg);
}

/* Waits on s->cv (s->mu held) until pred holds or the deadline passes. */
static void wait_until(hearth_server *s, int *counter, double deadline) {
    while (*counter > 0) {
        double now = srv_now();
        if (now >= deadline) break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        double w = deadline - now;
        if (w > 0.1) w = 0.1;
        ts.tv_nsec += (long)(w * 1e9);
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    }
}

void hearth_server_stop(hearth_server *s, double grace_s) {
    if (!s) return;
    if (s->started && !s->stopped) {
        s->stopped = true;
        MHD_socket lfd = MHD_quiesce_daemon(s->daemon);
        if (lfd != MHD_INVALID_SOCKET) close(lfd);
        if (s->loader_started) {
            pthread_join(s->loader, NULL);
            s->loader_started = false;
        }
        pthread_mutex_lock(&s->mu);
        wait_until(s, &s->n_inflight, srv_now() + (grace_s > 0 ? grace_s : 0));
        s->stopping = true;
        wait_until(s, &s->n_workers, srv_now() + 60.0);
        hearth_sched *sched = s->sched;
        s->sched = NULL;
        pthread_mutex_unlock(&s->mu);
        /* cancels what still runs: every DONE event resumes its connection */
        hearth_sched_free(sched);
        pthread_mutex_lock(&s->mu);
        wait_until(s, &s->n_inflight, srv_now() + 2.0);
        s->watcher_stop = true;
        pthread_cond_broadcast(&s->watch_cv);
        pthread_mutex_unlock(&s->mu);
        /* before MHD_stop_daemon: the watcher resumes MHD connections */
        if (s->watcher_started) pthread_join(s->watcher, NULL);
        s->watcher_started = false;
        MHD_stop_daemon(s->daemon);
        s->daemon = NULL;
    } else if (s->loader_started) {
        pthread_join(s->loader, NULL);
        s->loader_started = false;
    }
}

void hearth_server_free(hearth_server *s) {
    if (!s) return;
    hearth_server_stop(s, 0);
    if (s->sched) hearth_sched_free(s->sched);
    hearth_chat_template_free(s->tmpl);
    json_decref(s->tmpl_extra);
    hearth_free(s->bos_text);
    hearth_model_free(s->owned_model);
    srv_auth_free(s->auth);
    srv_metrics_free(s->metrics);
    hearth_free(s->host);
    hearth_free(s->model_path);
    hearth_free(s->model_id);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    pthread_cond_destroy(&s->watch_cv);
    pthread_mutex_destroy(&s->log_mu);
    hearth_free(s);
}
