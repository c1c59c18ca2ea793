/* test_server.c - the HTTP server in-process on port 0, driven over raw
 * sockets by a tiny HTTP/1.1 client: every endpoint (plain and streamed),
 * greedy output against the llama.cpp reference and against a direct
 * greedy decode of the same rendered chat prompt, every error status, auth,
 * rate limits, queue-full, hostile uploads, half-sent requests and a client
 * that disconnects mid-stream.
 */
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "hearth/alloc.h"
#include "hearth/chat.h"
#include "hearth/model.h"
#include "hearth/quant.h"
#include "hearth/server.h"
#include "hearth/tokenizer.h"
#include "test.h"

#define P1 "Once upon a time, there was a little girl named Lily. She loved to play outside with her friends."

/* ---- a tiny HTTP client ------------------------------------------------------------------ */

typedef struct resp {
    int status;
    char *headers; /* raw header block */
    char *body;    /* de-chunked */
    size_t body_len;
} resp;

static void resp_free(resp *r) {
    free(r->headers);
    free(r->body);
    memset(r, 0, sizeof *r);
}

/* Case-insensitive strstr (strcasestr is not POSIX). */
static const char *ci_find(const char *h, const char *n) {
    size_t nl = strlen(n);
    for (; h && *h; h++)
        if (strncasecmp(h, n, nl) == 0) return h;
    return NULL;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int conn_open(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(0x7f000001);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    struct timeval tv = {30, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static int send_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Sends one request (Connection: close). extra: more header lines, each
 * ending in \r\n. */
static int send_req(int fd, const char *method, const char *path, const char *extra, const char *body, size_t len) {
    char head[1024];
    int n = snprintf(head, sizeof head,
                     "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n%s%s", method, path,
                     extra ? extra : "", body ? "Content-Type: application/json\r\n" : "");
    if (body) n += snprintf(head + n, sizeof head - (size_t)n, "Content-Length: %zu\r\n", len);
    n += snprintf(head + n, sizeof head - (size_t)n, "\r\n");
    if (send_all(fd, head, (size_t)n) < 0) return -1;
    if (body && len && send_all(fd, body, len) < 0) return -1;
    return 0;
}

/* Reads a whole response until EOF and parses it. Returns 0 or -1. */
static int read_resp(int fd, resp *out) {
    memset(out, 0, sizeof *out);
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (len + 4096 > cap) buf = realloc(buf, cap *= 2);
        ssize_t r = recv(fd, buf + len, cap - len - 1, 0);
        if (r <= 0) break;
        len += (size_t)r;
    }
    buf[len] = '\0';
    char *eoh = strstr(buf, "\r\n\r\n");
    if (!eoh || sscanf(buf, "HTTP/1.%*d %d", &out->status) != 1) {
        free(buf);
        return -1;
    }
    out->headers = strndup(buf, (size_t)(eoh - buf) + 2);
    char *b = eoh + 4;
    size_t blen = len - (size_t)(b - buf);
    out->body = malloc(blen + 1);
    if (ci_find(out->headers, "transfer-encoding: chunked")) {
        size_t o = 0;
        char *p = b;
        while (p < buf + len) {
            unsigned long n = strtoul(p, &p, 16);
            p = strstr(p, "\r\n");
            if (!p || n == 0) break;
            p += 2;
            if (p + n > buf + len) n = (unsigned long)(buf + len - p);
            memcpy(out->body + o, p, n);
            o += n;
            p += n + 2;
        }
        out->body_len = o;
    } else {
        memcpy(out->body, b, blen);
        out->body_len = blen;
    }
    out->body[out->body_len] = '\0';
    free(buf);
    return 0;
}

static int http(int port, const char *method, const char *path, const char *extra, const char *body, resp *out) {
    memset(out, 0, sizeof *out);
    int fd = conn_open(port);
    if (fd < 0) return -1;
    int rc = send_req(fd, method, path, extra, body, body ? strlen(body) : 0);
    if (rc == 0) rc = read_resp(fd, out);
    close(fd);
    return rc;
}

/* Value of a response header, copied into a static buffer, or NULL. */
static const char *header(const resp *r, const char *name) {
    static char v[256];
    if (!r->headers) return NULL;
    size_t nl = strlen(name);
    for (const char *p = r->headers; (p = strstr(p, "\r\n")); ) {
        p += 2;
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *s = p + nl + 1;
            while (*s == ' ') s++;
            size_t n = strcspn(s, "\r\n");
            if (n >= sizeof v) n = sizeof v - 1;
            memcpy(v, s, n);
            v[n] = '\0';
            return v;
        }
    }
    return NULL;
}

static json_t *body_json(const resp *r) { return r->body ? json_loads(r->body, 0, NULL) : NULL; }

/* Checks an OpenAI error body: status, error.type/message present, and
 * that param (when given) is named. */
static void check_error(const resp *r, int status, const char *param, const char *what) {
    CHECK(r->status == status, "%s: status %d, want %d (%s)", what, r->status, status, r->body ? r->body : "");
    json_t *j = body_json(r);
    json_t *e = json_object_get(j, "error");
    CHECK(json_is_object(e), "%s: no error object: %s", what, r->body ? r->body : "");
    CHECK(json_is_string(json_object_get(e, "message")) && json_string_length(json_object_get(e, "message")) > 0,
          "%s: error.message", what);
    CHECK(json_is_string(json_object_get(e, "type")), "%s: error.type", what);
    CHECK(json_object_get(e, "param") && json_object_get(e, "code"), "%s: param and code keys", what);
    if (param)
        CHECK(json_is_string(json_object_get(e, "param")) &&
                  strcmp(json_string_value(json_object_get(e, "param")), param) == 0,
              "%s: param %s in %s", what, param, r->body);
    json_decref(j);
}

/* Splits an SSE body into its JSON events; checks the framing ("data: X\n\n"
 * only) and that the last is [DONE]. Returns an array of the objects. */
static json_t *sse_events(const resp *r, const char *what) {
    json_t *arr = json_array();
    const char *p = r->body;
    bool done = false, framing = true;
    while (p && *p) {
        if (strncmp(p, "data: ", 6) != 0) {
            framing = false;
            break;
        }
        const char *e = strstr(p, "\n\n");
        if (!e) {
            framing = false;
            break;
        }
        if (done) framing = false; /* nothing may follow [DONE] */
        if ((size_t)(e - p - 6) == 6 && strncmp(p + 6, "[DONE]", 6) == 0) {
            done = true;
        } else {
            json_t *j = json_loadb(p + 6, (size_t)(e - p - 6), 0, NULL);
            if (!j) framing = false;
            else json_array_append_new(arr, j);
        }
        p = e + 2;
    }
    CHECK(framing, "%s: SSE framing: %s", what, r->body ? r->body : "");
    CHECK(done, "%s: no data: [DONE]", what);
    CHECK(r->headers && ci_find(r->headers, "content-type: text/event-stream"), "%s: content type", what);
    return arr;
}

/* ---- fixtures --------------------------------------------------------------------------- */

static hearth_server *start_server(hearth_server_params *p, int *port) {
    hearth_server *s = NULL;
    if (hearth_server_new(p, &s) != HEARTH_OK || hearth_server_start(s) != HEARTH_OK) {
        fprintf(stderr, "cannot start the server: %s\n", hearth_error_last());
        hearth_server_free(s);
        return NULL;
    }
    *port = hearth_server_port(s);
    return s;
}

/* The text of the greedy continuation of `ids` computed directly with the
 * engine (the same rule the CLI uses), stopping at end-of-generation. */
static char *greedy_direct(const hearth_model *m, const int32_t *ids, size_t n, int max_tokens, int n_ctx) {
    const hearth_vocab *v = hearth_model_vocab(m);
    int32_t n_vocab = hearth_model_hparams(m)->n_vocab;
    hearth_context *c = NULL;
    if (hearth_context_new(m, n_ctx, 1, &c) != HEARTH_OK) return NULL;
    float *logits = malloc((size_t)n_vocab * sizeof *logits);
    char *out = calloc(1, 65536);
    size_t len = 0;
    hearth_detok_stream ds;
    hearth_detok_stream_init(&ds, v);
    ds.at_start = false;
    hearth_status st = hearth_eval(c, ids, (int32_t)n, logits, false);
    for (int k = 0; st == HEARTH_OK && k < max_tokens; k++) {
        int32_t best = 0;
        for (int32_t i = 1; i < n_vocab; i++)
            if (logits[i] > logits[best]) best = i;
        if (hearth_vocab_is_eog(v, best)) break;
        int w = hearth_detok_stream_push(&ds, best, out + len, 65536 - len - 1);
        if (w > 0) len += (size_t)w;
        if (k + 1 < max_tokens) st = hearth_eval(c, &best, 1, logits, false);
    }
    int w = hearth_detok_stream_flush(&ds, out + len, 65536 - len - 1);
    if (w > 0) len += (size_t)w;
    out[len] = '\0';
    free(logits);
    hearth_context_free(c);
    return out;
}

static int g_port;
static hearth_model *g_model;
static FILE *g_log;

static void post_expect(const char *path, const char *body, int status, const char *param, const char *what);

/* ---- tests ---------------------------------------------------------------------------------- */

static void test_simple_endpoints(void) {
    resp r;
    REQUIRE(http(g_port, "GET", "/health", NULL, NULL, &r) == 0, "GET /health");
    CHECK(r.status == 200 && strstr(r.body, "\"ok\""), "health: %d %s", r.status, r.body);
    resp_free(&r);
    REQUIRE(http(g_port, "GET", "/v1/models", NULL, NULL, &r) == 0, "GET /v1/models");
    json_t *j = body_json(&r);
    CHECK(r.status == 200 && json_is_string(json_object_get(j, "object")) &&
              strcmp(json_string_value(json_object_get(j, "object")), "list") == 0,
          "models: %s", r.body);
    json_t *m0 = json_array_get(json_object_get(j, "data"), 0);
    CHECK(m0 && strcmp(json_string_value(json_object_get(m0, "id")), "stories260K") == 0 &&
              strcmp(json_string_value(json_object_get(m0, "object")), "model") == 0 &&
              json_is_integer(json_object_get(m0, "created")) && json_is_string(json_object_get(m0, "owned_by")),
          "model object: %s", r.body);
    json_decref(j);
    resp_free(&r);
    REQUIRE(http(g_port, "GET", "/v1/models/stories260K", NULL, NULL, &r) == 0, "GET model");
    CHECK(r.status == 200 && strstr(r.body, "\"id\":\"stories260K\""), "model by id: %s", r.body);
    resp_free(&r);
    REQUIRE(http(g_port, "GET", "/v1/models/gpt-9", NULL, NULL, &r) == 0, "GET unknown model");
    check_error(&r, 404, "model", "unknown model");
    resp_free(&r);
    REQUIRE(http(g_port, "GET", "/metrics", NULL, NULL, &r) == 0, "GET /metrics");
    CHECK(r.status == 200 && ci_find(r.headers, "content-type: text/plain; version=0.0.4"), "metrics type");
    const char *need[] = {"hearth_requests_total{status=\"200\"}", "hearth_queue_depth ", "hearth_active_sequences ",
                          "hearth_prompt_tokens_total ", "hearth_generated_tokens_total ", "hearth_tokens_per_second ",
                          "# TYPE hearth_time_to_first_token_seconds histogram",
                          "hearth_time_to_first_token_seconds_bucket{le=\"+Inf\"}",
                          "hearth_inter_token_latency_seconds_bucket{le=\"0.01\"}",
                          "hearth_request_duration_seconds_count "};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) CHECK(strstr(r.body, need[i]), "metrics: %s", need[i]);
    resp_free(&r);
}

/* Greedy completion of P1 against llama.cpp's greedy continuation. */
static void test_completions(void) {
    json_t *ref = json_load_file(test_data("reference/stories260K.P1.json"), 0, NULL);
    REQUIRE(ref, "reference/stories260K.P1.json missing");
    const char *want = json_string_value(json_object_get(ref, "generated_text"));
    resp r;
    REQUIRE(http(g_port, "POST", "/v1/completions", NULL,
                 "{\"model\":\"stories260K\",\"prompt\":\"" P1 "\",\"max_tokens\":32,\"temperature\":0}", &r) == 0,
            "completions");
    json_t *j = body_json(&r);
    json_t *c0 = json_array_get(json_object_get(j, "choices"), 0);
    CHECK(r.status == 200, "completions status %d %s", r.status, r.body);
    CHECK(json_is_string(json_object_get(c0, "text")) && strcmp(json_string_value(json_object_get(c0, "text")), want) == 0,
          "completion text %s, want %s", r.body, want);
    CHECK(strcmp(json_string_value(json_object_get(j, "object")), "text_completion") == 0, "object");
    CHECK(strncmp(json_string_value(json_object_get(j, "id")), "cmpl-", 5) == 0, "id prefix");
    CHECK(json_is_integer(json_object_get(j, "created")) && json_is_string(json_object_get(j, "system_fingerprint")),
          "created/fingerprint");
    CHECK(json_is_string(json_object_get(c0, "finish_reason")) &&
              strcmp(json_string_value(json_object_get(c0, "finish_reason")), "length") == 0,
          "finish length");
    CHECK(json_is_integer(json_object_get(c0, "index")) && json_is_null(json_object_get(c0, "logprobs")), "index/logprobs");
    json_t *u = json_object_get(j, "usage");
    CHECK(json_integer_value(json_object_get(u, "prompt_tokens")) == 31 &&
              json_integer_value(json_object_get(u, "completion_tokens")) == 32 &&
              json_integer_value(json_object_get(u, "total_tokens")) == 63 &&
              json_is_integer(json_object_get(json_object_get(u, "prompt_tokens_details"), "cached_tokens")),
          "usage %s", r.body);
    json_decref(j);
    resp_free(&r);

    /* the same prompt as token ids, streamed */
    json_t *ids = json_object_get(ref, "prompt_token_ids");
    json_t *req = json_pack("{s:O, s:i, s:f, s:b, s:{s:b}}", "prompt", ids, "max_tokens", 32, "temperature", 0.0,
                            "stream", 1, "stream_options", "include_usage", 1);
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    REQUIRE(http(g_port, "POST", "/v1/completions", NULL, body, &r) == 0, "completions stream");
    free(body);
    CHECK(r.status == 200, "stream status %d", r.status);
    json_t *ev = sse_events(&r, "completions stream");
    char text[4096] = "";
    const char *finish = NULL;
    bool usage_last = false;
    size_t i;
    json_t *e;
    json_array_foreach(ev, i, e) {
        json_t *ch = json_array_get(json_object_get(e, "choices"), 0);
        CHECK(strcmp(json_string_value(json_object_get(e, "object")), "text_completion") == 0, "chunk object");
        if (ch) {
            strncat(text, json_string_value(json_object_get(ch, "text")), sizeof text - strlen(text) - 1);
            if (json_is_string(json_object_get(ch, "finish_reason")))
                finish = json_string_value(json_object_get(ch, "finish_reason"));
        }
        usage_last = i + 1 == json_array_size(ev) && json_array_size(json_object_get(e, "choices")) == 0 &&
                     json_integer_value(json_object_get(json_object_get(e, "usage"), "completion_tokens")) == 32;
    }
    CHECK(strcmp(text, want) == 0, "streamed text '%s' want '%s'", text, want);
    CHECK(finish && strcmp(finish, "length") == 0, "streamed finish");
    CHECK(usage_last, "usage chunk last");
    json_decref(ev);
    resp_free(&r);

    /* echo and legacy logprobs */
    REQUIRE(http(g_port, "POST", "/v1/completions", NULL,
                 "{\"prompt\":\"" P1 "\",\"max_tokens\":8,\"temperature\":0,\"echo\":true,\"logprobs\":3}", &r) == 0,
            "echo logprobs");
    j = body_json(&r);
    c0 = json_array_get(json_object_get(j, "choices"), 0);
    const char *t = json_string_value(json_object_get(c0, "text"));
    CHECK(r.status == 200 && t && strstr(t, "Once upon a time") && strstr(t, " One day"), "echo text %s", r.body);
    json_t *lp = json_object_get(c0, "logprobs");
    json_t *toks = json_object_get(lp, "tokens"), *tlp = json_object_get(lp, "token_logprobs"),
           *top = json_object_get(lp, "top_logprobs"), *off = json_object_get(lp, "text_offset");
    size_t n = json_array_size(toks);
    CHECK(n == 31 + 8 && json_array_size(tlp) == n && json_array_size(top) == n && json_array_size(off) == n,
          "logprobs arrays %zu: %s", n, r.body);
    for (size_t k = 31; k < n; k++) {
        json_t *tk = json_array_get(top, k);
        double best = -1e30;
        const char *key;
        json_t *val;
        json_object_foreach(tk, key, val) if (json_real_value(val) > best) best = json_real_value(val);
        double v = json_number_value(json_array_get(tlp, k));
        CHECK(json_object_size(tk) >= 1 && json_object_size(tk) <= 3, "top_logprobs size");
        CHECK(v <= 0 && fabs(v - best) < 1e-4, "greedy token has the best logprob (%g vs %g)", v, best);
        CHECK(json_integer_value(json_array_get(off, k)) >= json_integer_value(json_array_get(off, k - 1)),
              "text_offset grows");
    }
    json_decref(j);
    resp_free(&r);
    json_decref(ref);
}

/* Renders and tokenizes a chat like the server does, for the direct
 * greedy comparison. */
static int32_t *chat_prompt(const char *user, size_t *n) {
    const hearth_vocab *v = hearth_model_vocab(g_model);
    hearth_str src = hearth_model_chat_template(g_model);
    hearth_chat_template *t = NULL;
    if (src.len == 0 || hearth_chat_template_new(src.ptr, (size_t)src.len, &t) != HEARTH_OK) {
        hearth_chat_family f = src.len ? hearth_chat_detect(src.ptr, (size_t)src.len) : HEARTH_CHAT_UNKNOWN;
        const char *b = hearth_chat_builtin_source(f);
        if (hearth_chat_template_new(b, strlen(b), &t) != HEARTH_OK) return NULL;
    }
    json_t *msgs = json_pack("[{s:s, s:s}]", "role", "user", "content", user);
    json_t *extra = json_object();
    hearth_str bos = hearth_vocab_token_text(v, hearth_vocab_bos(v));
    json_object_set_new(extra, "bos_token", json_stringn(bos.ptr, (size_t)bos.len));
    hearth_str eos = hearth_vocab_token_text(v, hearth_vocab_eos(v));
    json_object_set_new(extra, "eos_token", json_stringn(eos.ptr, (size_t)eos.len));
    char *text = NULL;
    size_t len = 0;
    int32_t *ids = NULL;
    if (hearth_chat_render(t, msgs, NULL, true, extra, &text, &len) == HEARTH_OK) {
        const char *p = text;
        if (hearth_vocab_add_bos(v) && len >= (size_t)bos.len && memcmp(p, bos.ptr, (size_t)bos.len) == 0) {
            p += bos.len;
            len -= (size_t)bos.len;
        }
        if (hearth_tokenize(v, p, len, true, true, &ids, n) != HEARTH_OK) ids = NULL;
    }
    hearth_free(text);
    json_decref(msgs);
    json_decref(extra);
    hearth_chat_template_free(t);
    return ids;
}

static void test_chat(void) {
    size_t n = 0;
    int32_t *ids = chat_prompt("Tell me a story about a cat.", &n);
    REQUIRE(ids, "chat prompt");
    char *want = greedy_direct(g_model, ids, n, 24, 512);
    hearth_free(ids);
    REQUIRE(want, "direct greedy");
    resp r;
    REQUIRE(http(g_port, "POST", "/v1/chat/completions", NULL,
                 "{\"model\":\"x\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Tell me a "
                 "story \"},{\"type\":\"text\",\"text\":\"about a cat.\"}]}],\"max_tokens\":24,\"temperature\":0}",
                 &r) == 0,
            "chat");
    json_t *j = body_json(&r);
    json_t *c0 = json_array_get(json_object_get(j, "choices"), 0);
    json_t *msg = json_object_get(c0, "message");
    const char *content = json_string_value(json_object_get(msg, "content"));
    CHECK(r.status == 200, "chat status %d %s", r.status, r.body);
    CHECK(content && strcmp(content, want) == 0, "chat greedy '%s' want '%s'", content ? content : "(null)", want);
    CHECK(strcmp(json_string_value(json_object_get(j, "object")), "chat.completion") == 0, "chat object");
    CHECK(strncmp(json_string_value(json_object_get(j, "id")), "chatcmpl-", 9) == 0, "chat id");
    CHECK(strcmp(json_string_value(json_object_get(msg, "role")), "assistant") == 0, "role");
    const char *fr = json_string_value(json_object_get(c0, "finish_reason"));
    CHECK(fr && (strcmp(fr, "length") == 0 || strcmp(fr, "stop") == 0), "finish_reason");
    json_t *u = json_object_get(j, "usage");
    CHECK(json_integer_value(json_object_get(u, "prompt_tokens")) == (json_int_t)n &&
              json_integer_value(json_object_get(u, "total_tokens")) ==
                  (json_int_t)n + json_integer_value(json_object_get(u, "completion_tokens")),
          "chat usage %s", r.body);
    json_decref(j);
    resp_free(&r);

    /* streamed: role first, content deltas, finish chunk, usage, [DONE] */
    REQUIRE(http(g_port, "POST", "/v1/chat/completions", NULL,
                 "{\"messages\":[{\"role\":\"user\",\"content\":\"Tell me a story "
                 "about a cat.\"}],\"max_tokens\":24,\"temperature\":0,\"stream\":true,"
                 "\"stream_options\":{\"include_usage\":true}}",
                 &r) == 0,
            "chat stream");
    json_t *ev = sse_events(&r, "chat stream");
    CHECK(json_array_size(ev) >= 4, "chunks: %zu", json_array_size(ev));
    char text[8192] = "";
    size_t i;
    json_t *e;
    int finish_at = -1;
    json_array_foreach(ev, i, e) {
        CHECK(strcmp(json_string_value(json_object_get(e, "object")), "chat.completion.chunk") == 0, "chunk object");
        json_t *ch = json_array_get(json_object_get(e, "choices"), 0);
        json_t *d = json_object_get(ch, "delta");
        if (i == 0)
            CHECK(d && strcmp(json_string_value(json_object_get(d, "role")), "assistant") == 0, "role delta first");
        if (json_is_string(json_object_get(d, "content")))
            strncat(text, json_string_value(json_object_get(d, "content")), sizeof text - strlen(text) - 1);
        if (ch && json_is_string(json_object_get(ch, "finish_reason"))) finish_at = (int)i;
    }
    CHECK(strcmp(text, want) == 0, "streamed chat '%s' want '%s'", text, want);
    CHECK(finish_at >= 1 && (size_t)finish_at + 2 == json_array_size(ev), "finish chunk then usage chunk");
    json_t *last = json_array_get(ev, json_array_size(ev) - 1);
    CHECK(json_array_size(json_object_get(last, "choices")) == 0 && json_is_object(json_object_get(last, "usage")),
          "usage chunk");
    json_decref(ev);
    resp_free(&r);
    free(want);

    /* a stop string ends the text before it */
    REQUIRE(http(g_port, "POST", "/v1/completions", NULL,
                 "{\"prompt\":\"" P1 "\",\"max_tokens\":32,\"temperature\":0,\"stop\":[\"mommy\"]}", &r) == 0, "stop");
    j = body_json(&r);
    c0 = json_array_get(json_object_get(j, "choices"), 0);
    CHECK(r.status == 200 && strcmp(json_string_value(json_object_get(c0, "text")), " One day, Lily's ") == 0 &&
              strcmp(json_string_value(json_object_get(c0, "finish_reason")), "stop") == 0,
          "stop string: %s", r.body);
    json_decref(j);
    resp_free(&r);

    /* a tool conversation renders and runs (the tiny model will not call) */
    REQUIRE(http(g_port, "POST", "/v1/chat/completions", NULL,
                 "{\"messages\":[{\"role\":\"user\",\"content\":\"weather?\"},{\"role\":\"assistant\",\"content\":null,"
                 "\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
                 "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}]},{\"role\":\"tool\",\"tool_call_id\":\"call_1\","
                 "\"content\":\"sunny\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
                 "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}}}],"
                 "\"max_tokens\":4,\"temperature\":0,\"stream\":true}",
                 &r) == 0,
            "tools");
    CHECK(r.status == 200, "tools status %d %s", r.status, r.body);
    ev = sse_events(&r, "tools stream");
    json_decref(ev);
    resp_free(&r);
}

/* response_format: the answer is a JSON document of the schema, ended as
 * soon as it is complete. */
static void test_json_mode(void) {
    resp r;
    REQUIRE(http(g_port, "POST", "/v1/chat/completions", NULL,
                 "{\"messages\":[{\"role\":\"user\",\"content\":\"Is the cat happy?\"}],\"temperature\":0,"
                 "\"max_tokens\":200,\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"a\","
                 "\"schema\":{\"type\":\"object\",\"properties\":{\"happy\":{\"type\":\"boolean\"}},"
                 "\"required\":[\"happy\"],\"additionalProperties\":false}}}}",
                 &r) == 0,
            "json_schema");
    json_t *j = body_json(&r);
    json_t *c0 = json_array_get(json_object_get(j, "choices"), 0);
    const char *content = json_string_value(json_object_get(json_object_get(c0, "message"), "content"));
    json_t *doc = content ? json_loads(content, 0, NULL) : NULL;
    CHECK(r.status == 200 && json_is_boolean(json_object_get(doc, "happy")) && json_object_size(doc) == 1,
          "schema answer: %s", r.body);
    const char *fr = json_string_value(json_object_get(c0, "finish_reason"));
    CHECK(fr && strcmp(fr, "stop") == 0, "finish stop: %s", r.body);
    json_decref(doc);
    json_decref(j);
    resp_free(&r);
    REQUIRE(http(g_port, "POST", "/v1/chat/completions", NULL,
                 "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":300,\"temperature\":0,"
                 "\"stream\":true,\"response_format\":{\"type\":\"json_object\"}}",
                 &r) == 0,
            "json_object");
    json_t *ev = sse_events(&r, "json_object stream");
    char text[8192] = "";
    const char *finish = NULL;
    size_t i;
    json_t *e;
    json_array_foreach(ev, i, e) {
        json_t *ch = json_array_get(json_object_get(e, "choices"), 0);
        json_t *c = json_object_get(json_object_get(ch, "delta"), "content");
        if (json_is_string(c)) strncat(text, json_string_value(c), sizeof text - strlen(text) - 1);
        if (json_is_string(json_object_get(ch, "finish_reason"))) finish = json_string_value(json_object_get(ch, "finish_reason"));
    }
    doc = json_loads(text, 0, NULL);
    CHECK(json_is_object(doc) || (finish && strcmp(finish, "length") == 0), "json_object answer: '%s'", text);
    json_decref(doc);
    json_decref(ev);
    resp_free(&r);
    post_expect("/v1/chat/completions",
                "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":{\"type\":\"json_schema\","
                "\"json_schema\":{\"name\":\"a\",\"schema\":{\"type\":\"string\",\"pattern\":\"^a+$\"}}}}",
                400, "response_format", "unsupported schema keyword");
}

static void test_embeddings(void) {
    resp r;
    REQUIRE(http(g_port, "POST", "/v1/embeddings", NULL, "{\"input\":\"hello world\",\"model\":\"m\"}", &r) == 0, "embed");
    json_t *j = body_json(&r);
    json_t *d0 = json_array_get(json_object_get(j, "data"), 0);
    json_t *vec = json_object_get(d0, "embedding");
    int32_t n_embd = hearth_model_hparams(g_model)->n_embd;
    CHECK(r.status == 200 && json_array_size(vec) == (size_t)n_embd, "embedding size: %.200s", r.body);
    double norm = 0;
    for (size_t i = 0; i < json_array_size(vec); i++) norm += pow(json_number_value(json_array_get(vec, i)), 2);
    CHECK(fabs(norm - 1.0) < 1e-3, "normalised (%g)", norm);
    CHECK(strcmp(json_string_value(json_object_get(j, "object")), "list") == 0 &&
              strcmp(json_string_value(json_object_get(d0, "object")), "embedding") == 0 &&
              json_integer_value(json_object_get(json_object_get(j, "usage"), "prompt_tokens")) > 0,
          "embedding shape");
    /* base64 of the same text: the same little-endian floats */
    resp r2;
    REQUIRE(http(g_port, "POST", "/v1/embeddings", NULL,
                 "{\"input\":[\"hello world\",\"other\"],\"encoding_format\":\"base64\"}", &r2) == 0, "b64");
    json_t *j2 = body_json(&r2);
    const char *b64 = json_string_value(json_object_get(json_array_get(json_object_get(j2, "data"), 0), "embedding"));
    CHECK(r2.status == 200 && json_array_size(json_object_get(j2, "data")) == 2 && b64, "two base64 vectors");
    if (b64) {
        static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        size_t L = strlen(b64), o = 0;
        unsigned char *raw = malloc(L);
        uint32_t acc = 0;
        int bits = 0;
        for (size_t i = 0; i < L && b64[i] != '='; i++) {
            acc = (acc << 6) | (uint32_t)(strchr(tab, b64[i]) - tab);
            bits += 6;
            if (bits >= 8) {
                bits -= 8;
                raw[o++] = (unsigned char)(acc >> bits);
            }
        }
        CHECK(o == (size_t)n_embd * 4, "base64 bytes %zu", o);
        bool same = o == (size_t)n_embd * 4;
        for (int32_t k = 0; same && k < n_embd; k++) {
            float f;
            memcpy(&f, raw + 4 * k, 4);
            same = fabs(f - json_number_value(json_array_get(vec, (size_t)k))) < 1e-6;
        }
        CHECK(same, "base64 equals float");
        free(raw);
    }
    json_decref(j);
    json_decref(j2);
    resp_free(&r);
    resp_free(&r2);
    REQUIRE(http(g_port, "POST", "/v1/embeddings", NULL, "{\"input\":[[1,400,401],[1,402]]}", &r) == 0, "token arrays");
    j = body_json(&r);
    CHECK(r.status == 200 && json_array_size(json_object_get(j, "data")) == 2 &&
              json_integer_value(json_object_get(json_object_get(j, "usage"), "prompt_tokens")) == 5,
          "token-array inputs: %.200s", r.body);
    json_decref(j);
    resp_free(&r);
}

/* BERT embeddings against llama.cpp's pooled vectors. */
static void test_bert(void) {
    json_t *ref = json_load_file(test_data("reference/tiny-bert-f32.S4.json"), 0, NULL);
    REQUIRE(ref, "reference/tiny-bert-f32.S4.json missing");
    hearth_server_params p;
    hearth_server_default_params(&p);
    p.model_path = test_data("models/tiny-bert-f32.gguf");
    p.port = 0;
    p.log = g_log;
    int port = 0;
    hearth_server *s = start_server(&p, &port);
    REQUIRE(s, "bert server");
    CHECK(hearth_server_wait_ready(s) == HEARTH_OK, "bert ready: %s", hearth_error_last());
    json_t *sents = json_object_get(ref, "sentences");
    json_t *inputs = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(sents, i, e) json_array_append(inputs, json_object_get(e, "text"));
    json_t *req = json_pack("{s:o}", "input", inputs);
    char *body = json_dumps(req, 0);
    json_decref(req);
    resp r;
    REQUIRE(http(port, "POST", "/v1/embeddings", NULL, body, &r) == 0, "bert embed");
    free(body);
    json_t *j = body_json(&r);
    json_t *data = json_object_get(j, "data");
    CHECK(r.status == 200 && json_array_size(data) == json_array_size(sents), "bert: %.200s", r.body);
    json_array_foreach(sents, i, e) {
        json_t *want = json_object_get(e, "embedding");
        json_t *got = json_object_get(json_array_get(data, i), "embedding");
        double maxd = 0;
        for (size_t k = 0; k < json_array_size(want); k++)
            maxd = fmax(maxd, fabs(json_number_value(json_array_get(want, k)) - json_number_value(json_array_get(got, k))));
        CHECK(json_array_size(got) == json_array_size(want) && maxd < 1e-3, "bert sentence %zu: max diff %g", i, maxd);
    }
    json_decref(j);
    resp_free(&r);
    REQUIRE(http(port, "POST", "/v1/chat/completions", NULL, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
                 &r) == 0, "bert chat");
    check_error(&r, 400, "model", "chat on an embedding model");
    resp_free(&r);
    hearth_server_free(s);
    json_decref(ref);
}

static void post_expect(const char *path, const char *body, int status, const char *param, const char *what) {
    resp r;
    if (http(g_port, "POST", path, NULL, body, &r) != 0) {
        CHECK(0, "%s: no response", what);
        return;
    }
    check_error(&r, status, param, what);
    resp_free(&r);
}

static void test_bad_input(void) {
    const char *C = "/v1/chat/completions", *X = "/v1/completions", *E = "/v1/embeddings";
    resp r;
    REQUIRE(http(g_port, "POST", C, NULL, "{\"messages\": [", &r) == 0, "malformed");
    check_error(&r, 400, NULL, "malformed JSON");
    CHECK(strstr(r.body, "line 1") && strstr(r.body, "column"), "says where: %s", r.body);
    resp_free(&r);
    post_expect(C, "", 400, NULL, "empty body");
    post_expect(C, "[1,2]", 400, NULL, "not an object");
    post_expect(C, "{}", 400, "messages", "no messages");
    post_expect(C, "{\"messages\":\"hi\"}", 400, "messages", "messages type");
    post_expect(C, "{\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}", 400, "messages[0]", "bad role");
    post_expect(C, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]}", 400,
                "messages[0].content", "image part");
    post_expect(C, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":\"hot\"}", 400, "temperature",
                "temperature type");
    post_expect(C, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":7}", 400, "temperature",
                "temperature range");
    post_expect(C, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":-3}", 400, "max_tokens",
                "negative max_tokens");
    post_expect(C, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":1.5}", 400, "max_tokens",
                "fractional max_tokens");
    post_expect(C, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":99999999999999999999999}", 400,
                NULL, "huge integer");
    post_expect(C, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"top_p\":1e999}", 400, NULL, "huge real");
    post_expect(C, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"n\":2}", 400, "n", "n > 1");
    post_expect(C, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}",
                400, "stop", "five stops");
    post_expect(C, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logit_bias\":{\"abc\":1}}", 400,
                "logit_bias", "bias key");
    post_expect(C, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logit_bias\":{\"5\":500}}", 400,
                "logit_bias", "bias value");
    post_expect(C, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream\":\"yes\"}", 400, "stream",
                "stream type");
    post_expect(C, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"type\":\"function\"}]}", 400,
                "tools", "tool without function");
    post_expect(C, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":{\"type\":\"xml\"}}",
                400, "response_format.type", "response_format type");
    post_expect(X, "{\"prompt\":\"x\",\"suffix\":\"y\"}", 400, "suffix", "suffix");
    post_expect(X, "{\"prompt\":[\"a\",\"b\"]}", 400, "prompt", "two prompts");
    post_expect(X, "{\"prompt\":[1,2,999999]}", 400, "prompt", "token out of range");
    post_expect(X, "{\"prompt\":\"x\",\"logprobs\":9}", 400, "logprobs", "logprobs > 5");
    post_expect(X, "{\"prompt\":\"x\",\"model\":7}", 400, "model", "model type");
    post_expect(E, "{}", 400, "input", "no input");
    post_expect(E, "{\"input\":\"x\",\"encoding_format\":\"hex\"}", 400, "encoding_format", "encoding");
    post_expect(E, "{\"input\":[[]]}", 400, "input", "empty token array");
    /* invalid UTF-8 and NUL inside JSON strings */
    post_expect(X, "{\"prompt\":\"caf\xc3\x28\"}", 400, NULL, "invalid UTF-8");
    post_expect(X, "{\"prompt\":\"a\\u0000b\"}", 400, NULL, "NUL in string");
    /* a prompt longer than the context */
    size_t big = 20000;
    char *long_body = malloc(big + 64);
    strcpy(long_body, "{\"prompt\":\"");
    size_t o = strlen(long_body);
    while (o < big) {
        memcpy(long_body + o, "the cat sat. ", 13);
        o += 13;
    }
    strcpy(long_body + o, "\"}");
    REQUIRE(http(g_port, "POST", X, NULL, long_body, &r) == 0, "long prompt");
    check_error(&r, 400, "prompt", "prompt longer than the context");
    CHECK(strstr(r.body, "context_length_exceeded") && strstr(r.body, "tokens"), "explicit: %s", r.body);
    resp_free(&r);
    free(long_body);
    /* paths and methods */
    REQUIRE(http(g_port, "GET", "/v2/nothing", NULL, NULL, &r) == 0, "404");
    check_error(&r, 404, NULL, "unknown path");
    resp_free(&r);
    REQUIRE(http(g_port, "GET", C, NULL, NULL, &r) == 0, "405");
    check_error(&r, 405, NULL, "GET on a POST endpoint");
    CHECK(header(&r, "Allow") && strcmp(header(&r, "Allow"), "POST") == 0, "Allow header");
    resp_free(&r);
    REQUIRE(http(g_port, "POST", "/health", NULL, "{}", &r) == 0, "405 health");
    check_error(&r, 405, NULL, "POST on /health");
    resp_free(&r);
}

/* 100 MB declared: 413 after the headers, without reading the body. */
static void test_big_body(void) {
    int fd = conn_open(g_port);
    REQUIRE(fd >= 0, "connect");
    const char *h = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    "Content-Length: 104857600\r\n\r\n";
    double t0 = now_s();
    CHECK(send_all(fd, h, strlen(h)) == 0, "send headers");
    char chunk[65536];
    memset(chunk, ' ', sizeof chunk);
    send(fd, chunk, sizeof chunk, MSG_NOSIGNAL | MSG_DONTWAIT); /* a little of the body; the rest never comes */
    resp r;
    CHECK(read_resp(fd, &r) == 0, "413 response");
    close(fd);
    check_error(&r, 413, NULL, "100 MB body");
    CHECK(now_s() - t0 < 5.0, "413 came at once");
    resp_free(&r);

    /* a small server's chunked upload past its limit */
    hearth_server_params p;
    hearth_server_default_params(&p);
    p.model = g_model;
    p.port = 0;
    p.max_body = 4096;
    p.log = g_log;
    int port = 0;
    hearth_server *s = start_server(&p, &port);
    REQUIRE(s, "small server");
    hearth_server_wait_ready(s);
    fd = conn_open(port);
    const char *ch = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n";
    send_all(fd, ch, strlen(ch));
    for (int i = 0; i < 3; i++) {
        char hdr[16];
        snprintf(hdr, sizeof hdr, "%x\r\n", 4000);
        send_all(fd, hdr, strlen(hdr));
        send_all(fd, chunk, 4000);
        send_all(fd, "\r\n", 2);
    }
    send_all(fd, "0\r\n\r\n", 5);
    CHECK(read_resp(fd, &r) == 0, "chunked response");
    close(fd);
    check_error(&r, 413, NULL, "chunked body past the limit");
    resp_free(&r);

    /* a chunked upload that passes the limit and is never finished: the 413
     * comes (and the server ends its side) while the client is still
     * uploading, not at the end of the upload or at the idle timeout */
    fd = conn_open(port);
    t0 = now_s();
    send_all(fd, ch, strlen(ch));
    for (int i = 0; i < 8; i++) {
        char hdr[16];
        snprintf(hdr, sizeof hdr, "%x\r\n", 4000);
        if (send_all(fd, hdr, strlen(hdr)) < 0 || send_all(fd, chunk, 4000) < 0 || send_all(fd, "\r\n", 2) < 0)
            break;
    }
    CHECK(read_resp(fd, &r) == 0, "413 before the end of the chunked upload");
    close(fd);
    check_error(&r, 413, NULL, "unfinished chunked body past the limit");
    CHECK(now_s() - t0 < 5.0, "the chunked 413 came at once (%.1f s)", now_s() - t0);
    resp_free(&r);
    REQUIRE(http(port, "GET", "/health", NULL, NULL, &r) == 0, "small server still up");
    CHECK(r.status == 200, "health after the chunked 413");
    resp_free(&r);
    hearth_server_free(s);
}

static void test_auth_and_rate(void) {
    hearth_server_params p;
    hearth_server_default_params(&p);
    const char *keys[] = {"sk-one", "sk-two"};
    p.model = g_model;
    p.port = 0;
    p.api_keys = keys;
    p.n_api_keys = 2;
    p.rate_limit_rpm = 3;
    p.log = g_log;
    int port = 0;
    hearth_server *s = start_server(&p, &port);
    REQUIRE(s, "auth server");
    hearth_server_wait_ready(s);
    const char *body = "{\"prompt\":\"Once\",\"max_tokens\":1}";
    resp r;
    REQUIRE(http(port, "POST", "/v1/completions", NULL, body, &r) == 0, "no key");
    check_error(&r, 401, NULL, "no key");
    resp_free(&r);
    REQUIRE(http(port, "POST", "/v1/completions", "Authorization: Bearer sk-onf\r\n", body, &r) == 0, "wrong key");
    check_error(&r, 401, NULL, "wrong key");
    resp_free(&r);
    REQUIRE(http(port, "POST", "/v1/completions", "Authorization: Bearer sk-one-and-more\r\n", body, &r) == 0, "long");
    check_error(&r, 401, NULL, "key with a suffix");
    resp_free(&r);
    REQUIRE(http(port, "GET", "/health", NULL, NULL, &r) == 0, "health without key");
    CHECK(r.status == 200, "health needs no key");
    resp_free(&r);
    for (int i = 0; i < 3; i++) {
        REQUIRE(http(port, "POST", "/v1/completions", "Authorization: Bearer sk-one\r\n", body, &r) == 0, "ok");
        CHECK(r.status == 200, "request %d with key: %d %s", i, r.status, r.body);
        resp_free(&r);
    }
    REQUIRE(http(port, "POST", "/v1/completions", "Authorization: Bearer sk-one\r\n", body, &r) == 0, "limited");
    check_error(&r, 429, NULL, "rate limited");
    const char *ra = header(&r, "Retry-After");
    CHECK(ra && atoi(ra) >= 1 && atoi(ra) <= 60, "Retry-After %s", ra ? ra : "(none)");
    resp_free(&r);
    REQUIRE(http(port, "POST", "/v1/completions", "Authorization: Bearer sk-two\r\n", body, &r) == 0, "other key");
    CHECK(r.status == 200, "the other key has its own budget: %d", r.status);
    resp_free(&r);
    REQUIRE(http(port, "GET", "/v1/models", "Authorization: Bearer sk-two\r\n", NULL, &r) == 0, "models with key");
    CHECK(r.status == 200, "GET is not rate limited");
    resp_free(&r);
    hearth_server_free(s);

    /* tokens per minute */
    hearth_server_default_params(&p);
    p.model = g_model;
    p.port = 0;
    p.token_limit_tpm = 20;
    p.log = g_log;
    s = start_server(&p, &port);
    REQUIRE(s, "tpm server");
    hearth_server_wait_ready(s);
    REQUIRE(http(port, "POST", "/v1/completions", NULL, "{\"prompt\":\"" P1 "\",\"max_tokens\":4}", &r) == 0, "tpm 1");
    CHECK(r.status == 200, "first request within the budget");
    resp_free(&r);
    REQUIRE(http(port, "POST", "/v1/completions", NULL, body, &r) == 0, "tpm 2");
    check_error(&r, 429, NULL, "token budget spent");
    CHECK(header(&r, "Retry-After") != NULL, "Retry-After on tpm");
    resp_free(&r);
    hearth_server_free(s);
}

/* One slot, a queue of one: of 6 simultaneous slow requests some get 503. */
static void test_queue_full(void) {
    hearth_server_params p;
    hearth_server_default_params(&p);
    p.model = g_model;
    p.port = 0;
    p.sched.n_parallel = 1;
    p.sched.max_queue = 1;
    p.sched.n_ctx = 512;
    p.log = g_log;
    int port = 0;
    hearth_server *s = start_server(&p, &port);
    REQUIRE(s, "queue server");
    hearth_server_wait_ready(s);
    /* EOS banned, so each runs its full 200 tokens */
    const char *body = "{\"prompt\":\"Once\",\"max_tokens\":200,\"logit_bias\":{\"2\":-100}}";
    enum { N = 6 };
    int fds[N];
    for (int i = 0; i < N; i++) {
        fds[i] = conn_open(port);
        send_req(fds[i], "POST", "/v1/completions", NULL, body, strlen(body));
    }
    int ok = 0, busy = 0;
    for (int i = 0; i < N; i++) {
        resp r;
        if (read_resp(fds[i], &r) == 0) {
            if (r.status == 200) ok++;
            if (r.status == 503) {
                busy++;
                check_error(&r, 503, NULL, "queue full");
                CHECK(header(&r, "Retry-After") != NULL, "Retry-After on 503");
            }
        }
        resp_free(&r);
        close(fds[i]);
    }
    CHECK(ok >= 1 && busy >= 1 && ok + busy == N, "queue full: %d ok, %d busy", ok, busy);
    hearth_server_free(s);
}

/* Reads /metrics' hearth_active_sequences. */
static int active_sequences(int port) {
    resp r;
    int v = -1;
    if (http(port, "GET", "/metrics", NULL, NULL, &r) == 0 && r.body) {
        const char *p = strstr(r.body, "\nhearth_active_sequences ");
        if (p) v = atoi(p + strlen("\nhearth_active_sequences "));
    }
    resp_free(&r);
    return v;
}

/* Reads /metrics' hearth_queue_depth. */
static int queue_depth(int port) {
    resp r;
    int v = -1;
    if (http(port, "GET", "/metrics", NULL, NULL, &r) == 0 && r.body) {
        const char *p = strstr(r.body, "\nhearth_queue_depth ");
        if (p) v = atoi(p + strlen("\nhearth_queue_depth "));
    }
    resp_free(&r);
    return v;
}

/* Closes fd with a reset (as a killed client would) or a plain FIN. */
static void drop_conn(int fd, bool reset) {
    if (reset) {
        struct linger lg = {1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    close(fd);
}

/* Counts the lines of the request log that contain `a` and "client
 * disconnected". Reads the file underneath the FILE, so that waiting for a
 * line opens no connection: a new connection could make libmicrohttpd look
 * at an old one's socket by chance and hide a missing check. */
static int log_drops(FILE *log, const char *a) {
    static char buf[1 << 16];
    ssize_t n = pread(fileno(log), buf, sizeof buf - 1, 0);
    if (n < 0) return -1;
    buf[n] = '\0';
    int count = 0;
    for (char *line = buf; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        if (strstr(line, a) && strstr(line, "client disconnected")) count++;
        line = nl ? nl + 1 : NULL;
    }
    return count;
}

/* Waits (without connecting) up to max_s for a new disconnected-499 line
 * after n0 of them; returns the seconds waited, or -1 on timeout. */
static double wait_drop_logged(FILE *log, int n0, double max_s) {
    double t0 = now_s();
    while (now_s() - t0 < max_s) {
        if (log_drops(log, " 499 ") > n0) return now_s() - t0;
        sleep_ms(2);
    }
    return -1;
}

/* Waits up to max_s for active_sequences == want; returns the last value. */
static int wait_active(int port, int want, double max_s) {
    int v = -1;
    for (double t0 = now_s(); now_s() - t0 < max_s && (v = active_sequences(port)) != want;) sleep_ms(5);
    return v;
}

/* A client that vanishes mid-stream: the sequence is cancelled and the
 * server carries on. So is a non-streaming one that vanishes while its
 * answer is generated, or while it waits in the queue. A half-sent request
 * is dropped after the idle timeout. */
static void test_disconnects(void) {
    hearth_server_params p;
    hearth_server_default_params(&p);
    p.model = g_model;
    p.port = 0;
    p.sched.n_parallel = 1; /* one slot, so a second request queues */
    p.sched.n_ctx = 4096;
    p.idle_timeout_s = 2;
    FILE *log = tmpfile();
    p.log = log;
    int port = 0;
    hearth_server *s = start_server(&p, &port);
    REQUIRE(s && log, "disconnect server");
    hearth_server_wait_ready(s);
    const char *body = "{\"prompt\":\"Once\",\"max_tokens\":4000,\"logit_bias\":{\"2\":-100},\"stream\":true}";
    int fd = conn_open(port);
    send_req(fd, "POST", "/v1/completions", NULL, body, strlen(body));
    char buf[2048];
    ssize_t got = recv(fd, buf, sizeof buf, 0);
    CHECK(got > 0, "first stream bytes");
    /* The response headers can arrive before the engine thread admits the
     * request into a slot: wait for the admission rather than race it. */
    int active = -1;
    for (double w0 = now_s(); now_s() - w0 < 5.0 && (active = active_sequences(port)) != 1;) sleep_ms(10);
    CHECK(active == 1, "one active sequence while streaming (%d)", active);
    struct linger lg = {1, 0}; /* reset, as a killed client would */
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
    double t0 = now_s();
    int act = -1;
    while (now_s() - t0 < 5.0 && (act = active_sequences(port)) != 0) sleep_ms(20);
    CHECK(act == 0, "active sequences back to 0 after the disconnect (%d)", act);

    /* Non-streaming: nothing is written to the socket until the end, so
     * the server must look at it. A 4000-token answer takes seconds; the
     * cancel must come within a few steps of the close. */
    const char *nbody = "{\"prompt\":\"Once\",\"max_tokens\":4000,\"logit_bias\":{\"2\":-100}}";
    fd = conn_open(port);
    send_req(fd, "POST", "/v1/completions", NULL, nbody, strlen(nbody));
    active = wait_active(port, 1, 5.0);
    CHECK(active == 1, "one active sequence while generating a non-streaming answer (%d)", active);
    int n499 = log_drops(log, " 499 ");
    drop_conn(fd, false);
    double dt = wait_drop_logged(log, n499, 1.0);
    CHECK(dt >= 0, "non-streaming client gone (FIN): request ended within 1 s (%.3f s)", dt);
    act = wait_active(port, 0, 5.0);
    CHECK(act == 0, "non-streaming client gone: no active sequence (%d)", act);

    /* the same with a reset */
    fd = conn_open(port);
    send_req(fd, "POST", "/v1/completions", NULL, nbody, strlen(nbody));
    active = wait_active(port, 1, 5.0);
    CHECK(active == 1, "one active sequence again (%d)", active);
    n499 = log_drops(log, " 499 ");
    drop_conn(fd, true);
    dt = wait_drop_logged(log, n499, 1.0);
    CHECK(dt >= 0, "non-streaming client gone (RST): request ended within 1 s (%.3f s)", dt);
    act = wait_active(port, 0, 5.0);
    CHECK(act == 0, "non-streaming client reset: no active sequence (%d)", act);

    /* A queued non-streaming request whose client resets: it leaves the
     * queue while the slot's request still runs (no events reach it there). */
    fd = conn_open(port);
    send_req(fd, "POST", "/v1/completions", NULL, body, strlen(body));
    got = recv(fd, buf, sizeof buf, 0);
    CHECK(got > 0, "first stream bytes (slot holder)");
    active = wait_active(port, 1, 5.0);
    CHECK(active == 1, "the slot holder runs (%d)", active);
    int qfd = conn_open(port);
    send_req(qfd, "POST", "/v1/completions", NULL, nbody, strlen(nbody));
    int q = -1;
    for (double w0 = now_s(); now_s() - w0 < 5.0 && (q = queue_depth(port)) != 1;) sleep_ms(5);
    CHECK(q == 1, "one request queued (%d)", q);
    n499 = log_drops(log, " 499 ");
    drop_conn(qfd, false);
    dt = wait_drop_logged(log, n499, 1.0);
    CHECK(dt >= 0, "queued client gone: request ended within 1 s (%.3f s)", dt);
    q = queue_depth(port);
    act = active_sequences(port);
    CHECK(q == 0, "the queue is empty again (%d)", q);
    CHECK(act == 1, "the slot holder still runs meanwhile (%d)", act);
    drop_conn(fd, true);
    act = wait_active(port, 0, 5.0);
    CHECK(act == 0, "no sequence left (%d)", act);

    /* bytes waiting behind a request (a pipelined second one) are not a
     * hang-up: both are answered */
    {
        const char *b1 = "{\"prompt\":\"Once\",\"max_tokens\":400,\"logit_bias\":{\"2\":-100}}";
        const char *b2 = "{\"prompt\":\"Once\",\"max_tokens\":2}";
        char two[1024];
        snprintf(two, sizeof two,
                 "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n%s"
                 "POST /v1/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                 "Content-Length: %zu\r\n\r\n%s",
                 strlen(b1), b1, strlen(b2), b2);
        const char *second = strstr(two + 4, "POST ");
        fd = conn_open(port);
        /* the second arrives while the first one's answer is generated */
        CHECK(send_all(fd, two, (size_t)(second - two)) == 0, "send the first request");
        active = wait_active(port, 1, 5.0);
        CHECK(active == 1, "the first pipelined request runs (%d)", active);
        CHECK(send_all(fd, second, strlen(second)) == 0, "send the pipelined second request");
        resp both;
        CHECK(read_resp(fd, &both) == 0, "pipelined responses");
        close(fd);
        int ok = 0;
        for (const char *h = both.headers; h && (h = strstr(h, "HTTP/1.1 200")); h++) ok++;
        for (const char *h = both.body; h && (h = strstr(h, "HTTP/1.1 200")); h++) ok++;
        CHECK(ok == 2, "both pipelined requests answered 200 (%d)", ok);
        resp_free(&both);
    }
    resp r;
    REQUIRE(http(port, "GET", "/health", NULL, NULL, &r) == 0, "still up");
    CHECK(r.status == 200, "health after disconnect");
    resp_free(&r);

    /* half-sent request: others are served meanwhile; it is closed later */
    int half = conn_open(port);
    const char *partial = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"pro";
    send_all(half, partial, strlen(partial));
    REQUIRE(http(port, "POST", "/v1/completions", NULL, "{\"prompt\":\"Once\",\"max_tokens\":2}", &r) == 0, "other");
    CHECK(r.status == 200, "served while another request is half-sent");
    resp_free(&r);
    struct pollfd pf = {half, POLLIN, 0};
    int pr = poll(&pf, 1, 6000);
    char c;
    CHECK(pr == 1 && recv(half, &c, 1, 0) <= 0, "half-sent request closed by the idle timeout");
    close(half);
    /* a slowloris header that never ends */
    int slow = conn_open(port);
    send_all(slow, "GET /health HTTP/1.1\r\nHost: x\r\nX-A: ", 36);
    pf.fd = slow;
    pr = poll(&pf, 1, 6000);
    CHECK(pr == 1 && recv(slow, &c, 1, 0) <= 0, "unfinished headers closed by the idle timeout");
    close(slow);
    hearth_server_free(s);
    fflush(log);
    rewind(log);
    char line[1024];
    int seen = 0, seen_499 = 0;
    while (fgets(line, sizeof line, log)) {
        if (strstr(line, "client disconnected") && strstr(line, "/v1/completions")) {
            const char *ct = strstr(line, "completion_tokens=");
            /* the streams were answered 200; the non-streaming ones never were */
            if (ct && atoi(ct + 18) < 4000) {
                if (strstr(line, " 200 ")) seen++;
                if (strstr(line, " 499 ")) seen_499++;
            }
        }
        CHECK(!strstr(line, "Once"), "prompts are not logged by default: %s", line);
    }
    CHECK(seen == 2, "the log shows the cancelled streams with fewer tokens than asked (%d)", seen);
    CHECK(seen_499 == 3, "the log shows the non-streaming requests cancelled (%d)", seen_499);
    fclose(log);
}

/* A model that fails to load: /health 503, generation 503. */
static void test_not_ready(void) {
    hearth_server_params p;
    hearth_server_default_params(&p);
    p.model_path = test_data("reference/README.md");
    p.port = 0;
    p.log = g_log;
    int port = 0;
    hearth_server *s = start_server(&p, &port);
    REQUIRE(s, "bad-model server");
    CHECK(hearth_server_wait_ready(s) < 0, "loading a non-GGUF fails");
    resp r;
    REQUIRE(http(port, "GET", "/health", NULL, NULL, &r) == 0, "health");
    CHECK(r.status == 503, "health 503 without a model: %d", r.status);
    resp_free(&r);
    REQUIRE(http(port, "POST", "/v1/completions", NULL, "{\"prompt\":\"x\"}", &r) == 0, "gen");
    check_error(&r, 503, NULL, "no model");
    resp_free(&r);
    hearth_server_free(s);
}

/* Stopping with a stream in flight ends it and returns. */
static void *stream_client(void *arg) {
    int port = *(int *)arg;
    resp r;
    const char *body = "{\"prompt\":\"Once\",\"max_tokens\":4000,\"logit_bias\":{\"2\":-100},\"stream\":true}";
    int fd = conn_open(port);
    send_req(fd, "POST", "/v1/completions", NULL, body, strlen(body));
    read_resp(fd, &r);
    close(fd);
    int ok = r.status == 200 && r.body && strstr(r.body, "data: [DONE]") != NULL;
    resp_free(&r);
    return (void *)(intptr_t)ok;
}

static void test_stop(void) {
    hearth_server_params p;
    hearth_server_default_params(&p);
    p.model = g_model;
    p.port = 0;
    p.sched.n_ctx = 4096;
    p.log = g_log;
    int port = 0;
    hearth_server *s = start_server(&p, &port);
    REQUIRE(s, "stop server");
    hearth_server_wait_ready(s);
    pthread_t t;
    pthread_create(&t, NULL, stream_client, &port);
    double t0 = now_s();
    while (now_s() - t0 < 5.0 && active_sequences(port) != 1) sleep_ms(10);
    double t1 = now_s();
    hearth_server_stop(s, 0.2);
    CHECK(now_s() - t1 < 5.0, "stop returns promptly");
    void *ok = NULL;
    pthread_join(t, &ok);
    CHECK(ok != NULL, "the stream ended cleanly with [DONE]");
    hearth_server_free(s);
}

/* --cache-type f16: the greedy completion still equals llama.cpp's (whose
 * own cache is F16), and an unsupported cache type fails the start-up with
 * a message instead of serving. */
static void test_f16_cache(void) {
    hearth_server_params p;
    hearth_server_default_params(&p);
    p.model_path = test_data("models/stories260K.gguf");
    p.port = 0;
    p.sched.n_ctx = 256;
    p.sched.kv_type = HEARTH_TYPE_F16;
    p.log = g_log;
    const int saved = g_port;
    hearth_server *s = start_server(&p, &g_port);
    REQUIRE(s, "f16 server");
    CHECK(hearth_server_wait_ready(s) == HEARTH_OK, "f16 ready: %s", hearth_error_last());
    test_completions();
    hearth_server_free(s);
    p.sched.kv_type = HEARTH_TYPE_Q8_0;
    s = start_server(&p, &g_port);
    CHECK(!s || hearth_server_wait_ready(s) != HEARTH_OK, "a Q8_0 KV cache must not start");
    CHECK(!s || strstr(hearth_error_last(), "KV cache type"), "error: %s", hearth_error_last());
    hearth_server_free(s);
    g_port = saved;
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    g_log = tmpfile();
    if (hearth_model_load(test_data("models/stories260K.gguf"), &g_model) != HEARTH_OK) {
        fprintf(stderr, "FAIL: cannot load stories260K.gguf: %s\n", hearth_error_last());
        return 1;
    }
    hearth_server_params p;
    hearth_server_default_params(&p);
    p.model_path = test_data("models/stories260K.gguf");
    p.port = 0;
    p.sched.n_parallel = 2;
    p.sched.n_ctx = 1024;
    p.log = g_log;
    hearth_server *s = start_server(&p, &g_port);
    if (!s || hearth_server_wait_ready(s) != HEARTH_OK) {
        fprintf(stderr, "FAIL: server did not start: %s\n", hearth_error_last());
        return 1;
    }
#define RUN(f) do { double t_ = now_s(); f(); fprintf(stderr, "%s: %.2f s\n", #f, now_s() - t_); } while (0)
    RUN(test_simple_endpoints);
    RUN(test_completions);
    RUN(test_chat);
    RUN(test_embeddings);
    RUN(test_json_mode);
    RUN(test_bad_input);
    RUN(test_big_body);
    test_simple_endpoints(); /* still healthy, and the metrics now have data */
    hearth_server_free(s);
    RUN(test_bert);
    RUN(test_auth_and_rate);
    RUN(test_queue_full);
    RUN(test_disconnects);
    RUN(test_not_ready);
    RUN(test_stop);
    RUN(test_f16_cache);
    hearth_model_free(g_model);
    if (g_log) fclose(g_log);
    TEST_DONE();
}
