/* loadgen.c - a small load generator for `hearth serve` (bench/server.sh).
 *
 * C client threads, each with one keep-alive HTTP/1.1 connection, send
 * chat (or completion) requests back to back until N requests are done in
 * all, and the tool prints requests/s, aggregate generated tokens/s, time to
 * first token (streamed requests) and latency percentiles, as a table line
 * or one JSON object (--json).
 *
 * usage: bench_loadgen --port P [--host H] [-c CONC] [-n REQUESTS]
 *          [--max-tokens N] [--stream] [--completions] [--no-eos]
 *          [--system TEXT | --system-file FILE] [--user TEXT] [--vary-user]
 *          [--warmup N] [--json]
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

typedef struct cfg {
    const char *host;
    int port, conc, n, max_tokens, warmup;
    bool stream, completions, no_eos, vary_user, json;
    char *system;
    const char *user;
} cfg;

typedef struct sample {
    double ttft, latency;
    int tokens, prompt_tokens, cached_tokens;
    bool ok;
} sample;

static cfg g;
static sample *g_samples;
static int g_next; /* next request index (under g_mu) */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Returns a connected socket or -1. Blocks while connecting. */
static int conn_open(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)g.port);
    if (inet_pton(AF_INET, g.host, &a.sin_addr) != 1 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* The request body for request number i (a new string; caller frees). */
static char *make_body(int i) {
    char user[512];
    if (g.vary_user) snprintf(user, sizeof user, "%s (request %d)", g.user, i);
    else snprintf(user, sizeof user, "%s", g.user);
    json_t *b = json_pack("{s:s, s:i, s:f}", "model", "bench", "max_tokens", g.max_tokens, "temperature", 0.0);
    if (g.completions) {
        char *p = NULL;
        size_t n = (g.system ? strlen(g.system) : 0) + strlen(user) + 2;
        p = malloc(n);
        snprintf(p, n, "%s%s%s", g.system ? g.system : "", g.system ? "\n" : "", user);
        json_object_set_new(b, "prompt", json_string(p));
        free(p);
    } else {
        json_t *m = json_array();
        if (g.system) json_array_append_new(m, json_pack("{s:s, s:s}", "role", "system", "content", g.system));
        json_array_append_new(m, json_pack("{s:s, s:s}", "role", "user", "content", user));
        json_object_set_new(b, "messages", m);
    }
    if (g.stream) {
        json_object_set_new(b, "stream", json_true());
        json_object_set_new(b, "stream_options", json_pack("{s:b}", "include_usage", 1));
    }
    if (g.no_eos) json_object_set_new(b, "logit_bias", json_pack("{s:i}", "2", -100));
    char *s = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    return s;
}

/* Reads the usage numbers out of a JSON text (first occurrence). */
static void usage_of(const char *t, sample *s) {
    const char *p;
    if ((p = strstr(t, "\"completion_tokens\":"))) s->tokens = atoi(p + 20);
    if ((p = strstr(t, "\"prompt_tokens\":"))) s->prompt_tokens = atoi(p + 16);
    if ((p = strstr(t, "\"cached_tokens\":"))) s->cached_tokens = atoi(p + 16);
}

/* True when an SSE event carries generated text (not the empty role delta). */
static bool has_text(const char *ev) {
    const char *p = strstr(ev, g.completions ? "\"text\":\"" : "\"content\":\"");
    return p && p[g.completions ? 8 : 11] != '"';
}

typedef struct rd {
    int fd;
    char buf[1 << 16];
    size_t len, pos;
} rd;

/* Next byte from the connection, or -1 (closed / error / 60 s silence). */
static int rd_byte(rd *r) {
    if (r->pos == r->len) {
        struct pollfd p = {r->fd, POLLIN, 0};
        if (poll(&p, 1, 900000) <= 0) return -1;
        ssize_t k = recv(r->fd, r->buf, sizeof r->buf, 0);
        if (k <= 0) return -1;
        r->len = (size_t)k;
        r->pos = 0;
    }
    return (unsigned char)r->buf[r->pos++];
}

/* Reads a CRLF-terminated line into out (NUL-terminated); -1 on error. */
static int rd_line(rd *r, char *out, size_t cap) {
    size_t n = 0;
    for (;;) {
        int c = rd_byte(r);
        if (c < 0) return -1;
        if (c == '\n') break;
        if (n + 1 < cap) out[n++] = (char)c;
    }
    if (n && out[n - 1] == '\r') n--;
    out[n] = '\0';
    return (int)n;
}

/* One request/response on fd; fills s. Returns 0, or -1 when the
 * connection must be reopened. */
static int one_request(int fd, int idx, sample *s, rd *r) {
    char *body = make_body(idx);
    char head[256];
    size_t bl = strlen(body);
    int hn = snprintf(head, sizeof head,
                      "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                      g.completions ? "/v1/completions" : "/v1/chat/completions", g.host, bl);
    double t0 = now_s();
    int rc = -1;
    if (send(fd, head, (size_t)hn, MSG_NOSIGNAL) != hn || send(fd, body, bl, MSG_NOSIGNAL) != (ssize_t)bl) goto out;
    char line[4096];
    if (rd_line(r, line, sizeof line) < 12) {
        /* nothing came back: a kept-alive connection the server had closed */
        rc = -2;
        goto out;
    }
    int status = atoi(line + 9);
    long clen = -1;
    bool chunked = false, close_after = false;
    while (rd_line(r, line, sizeof line) > 0) {
        if (strncasecmp(line, "content-length:", 15) == 0) clen = atol(line + 15);
        if (strncasecmp(line, "transfer-encoding:", 18) == 0 && strstr(line, "chunked")) chunked = true;
        if (strncasecmp(line, "connection:", 11) == 0 && strstr(line, "close")) close_after = true;
    }
    /* the body, de-chunked, scanned event by event */
    size_t cap = 1 << 14, n = 0, ev0 = 0;
    char *b = malloc(cap);
    bool first = false;
    for (;;) {
        long take;
        if (chunked) {
            if (rd_line(r, line, sizeof line) < 0) break;
            take = strtol(line, NULL, 16);
            if (take == 0) {
                rd_line(r, line, sizeof line);
                rc = 0;
                break;
            }
        } else {
            take = clen;
        }
        if (take < 0) break;
        if (n + (size_t)take + 1 > cap) {
            while (n + (size_t)take + 1 > cap) cap *= 2;
            b = realloc(b, cap);
        }
        long k = 0;
        for (; k < take; k++) {
            int c = rd_byte(r);
            if (c < 0) break;
            b[n++] = (char)c;
        }
        b[n] = '\0';
        if (k < take) break;
        if (g.stream && !first) {
            char *e;
            while (!first && (e = strstr(b + ev0, "\n\n"))) {
                *e = '\0';
                if (has_text(b + ev0)) {
                    first = true;
                    s->ttft = now_s() - t0;
                }
                *e = '\n';
                ev0 = (size_t)(e - b) + 2;
            }
        }
        if (chunked) {
            rd_line(r, line, sizeof line);
        } else {
            rc = 0;
            break;
        }
    }
    s->latency = now_s() - t0;
    if (rc == 0) {
        s->ok = status == 200;
        /* streamed: the usage chunk is the last event */
        const char *u = g.stream ? strstr(b, "\"usage\":{") : b;
        if (u) usage_of(u, s);
        if (!s->ok && !g.json) fprintf(stderr, "loadgen: status %d: %.200s\n", status, b);
    }
    free(b);
    if (close_after) rc = -1;
out:
    free(body);
    return rc;
}

/* Worker: takes request indices until all are issued. */
static void *worker(void *arg) {
    (void)arg;
    rd *r = malloc(sizeof *r);
    r->fd = -1;
    for (;;) {
        pthread_mutex_lock(&g_mu);
        int i = g_next < g.n ? g_next++ : -1;
        pthread_mutex_unlock(&g_mu);
        if (i < 0) break;
        /* a request is sent again only when a reused connection turned out
         * closed before any answer (never after the server saw it work) */
        for (int attempt = 0; attempt < 2; attempt++) {
            bool fresh = r->fd < 0;
            if (fresh) {
                r->fd = conn_open();
                r->len = r->pos = 0;
            }
            if (r->fd < 0) break;
            memset(&g_samples[i], 0, sizeof g_samples[i]);
            int rc = one_request(r->fd, i, &g_samples[i], r);
            if (rc == 0) break;
            close(r->fd);
            r->fd = -1;
            if (rc != -2 || fresh) break;
        }
    }
    if (r->fd >= 0) close(r->fd);
    free(r);
    return NULL;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The q-quantile (nearest rank) of v[0..n) (sorted in place). */
static double quantile(double *v, int n, double q) {
    if (n == 0) return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    int k = (int)(q * n + 0.999999) - 1;
    if (k < 0) k = 0;
    if (k >= n) k = n - 1;
    return v[k];
}

/* Runs n requests over c connections; returns the wall time. */
static double run(int n) {
    g.n = n;
    g_next = 0;
    pthread_t *t = calloc((size_t)g.conc, sizeof *t);
    double t0 = now_s();
    for (int i = 0; i < g.conc; i++) pthread_create(&t[i], NULL, worker, NULL);
    for (int i = 0; i < g.conc; i++) pthread_join(t[i], NULL);
    free(t);
    return now_s() - t0;
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) n = 0;
    if (s) s[n] = '\0';
    fclose(f);
    return s;
}

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    g.host = "127.0.0.1";
    g.conc = 1;
    g.n = 100;
    g.max_tokens = 8;
    g.user = "Tell me a story.";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (strcmp(a, name) == 0 && v && ++i)
        if (ARG("--port")) g.port = atoi(v);
        else if (ARG("--host")) g.host = v;
        else if (ARG("-c")) g.conc = atoi(v);
        else if (ARG("-n")) g.n = atoi(v);
        else if (ARG("--max-tokens")) g.max_tokens = atoi(v);
        else if (ARG("--warmup")) g.warmup = atoi(v);
        else if (ARG("--system")) g.system = strdup(v);
        else if (ARG("--system-file")) {
            g.system = read_file(v);
            if (!g.system) {
                fprintf(stderr, "loadgen: cannot read %s\n", v);
                return 1;
            }
        } else if (ARG("--user")) g.user = v;
        else if (strcmp(a, "--stream") == 0) g.stream = true;
        else if (strcmp(a, "--completions") == 0) g.completions = true;
        else if (strcmp(a, "--no-eos") == 0) g.no_eos = true;
        else if (strcmp(a, "--vary-user") == 0) g.vary_user = true;
        else if (strcmp(a, "--json") == 0) g.json = true;
        else {
            fprintf(stderr, "usage: bench_loadgen --port P [--host H] [-c CONC] [-n REQUESTS] [--max-tokens N]\n"
                            "         [--stream] [--completions] [--no-eos] [--system TEXT | --system-file FILE]\n"
                            "         [--user TEXT] [--vary-user] [--warmup N] [--json]\n");
            return 2;
        }
#undef ARG
    }
    if (g.port <= 0 || g.conc < 1 || g.n < 1) {
        fprintf(stderr, "loadgen: --port, -c >= 1 and -n >= 1 are required\n");
        return 2;
    }
    int n = g.n;
    g_samples = calloc((size_t)(n > g.warmup ? n : g.warmup) + 1, sizeof *g_samples);
    if (g.warmup > 0) run(g.warmup);
    memset(g_samples, 0, sizeof *g_samples * (size_t)n);
    double wall = run(n);
    double *ttft = calloc((size_t)n, sizeof *ttft), *lat = calloc((size_t)n, sizeof *lat);
    int ok = 0, nt = 0;
    long toks = 0, ptoks = 0, ctoks = 0;
    for (int i = 0; i < n; i++) {
        sample *s = &g_samples[i];
        if (!s->ok) continue;
        lat[ok++] = s->latency;
        toks += s->tokens;
        ptoks += s->prompt_tokens;
        ctoks += s->cached_tokens;
        if (g.stream && s->ttft > 0) ttft[nt++] = s->ttft;
    }
    double rps = ok / wall, tps = (double)toks / wall;
    double l50 = quantile(lat, ok, 0.5), l99 = quantile(lat, ok, 0.99);
    double t50 = quantile(ttft, nt, 0.5), t99 = quantile(ttft, nt, 0.99);
    if (g.json) {
        printf("{\"conc\":%d,\"requests\":%d,\"ok\":%d,\"wall_s\":%.4f,\"req_per_s\":%.2f,\"gen_tok_per_s\":%.2f,"
               "\"tokens_per_req\":%.2f,\"prompt_tokens_per_req\":%.1f,\"cached_tokens_per_req\":%.1f,"
               "\"latency_p50_ms\":%.2f,\"latency_p99_ms\":%.2f,\"ttft_p50_ms\":%.2f,\"ttft_p99_ms\":%.2f}\n",
               g.conc, n, ok, wall, rps, tps, ok ? (double)toks / ok : 0, ok ? (double)ptoks / ok : 0,
               ok ? (double)ctoks / ok : 0, l50 * 1e3, l99 * 1e3, t50 * 1e3, t99 * 1e3);
    } else {
        printf("conc %3d  ok %d/%d  %.2f s  %.1f req/s  %.1f tok/s  latency p50 %.1f p99 %.1f ms", g.conc, ok, n, wall,
               rps, tps, l50 * 1e3, l99 * 1e3);
        if (g.stream) printf("  ttft p50 %.1f p99 %.1f ms", t50 * 1e3, t99 * 1e3);
        printf("  prompt %.1f (cached %.1f) tokens\n", ok ? (double)ptoks / ok : 0, ok ? (double)ctoks / ok : 0);
    }
    free(ttft);
    free(lat);
    free(g_samples);
    free(g.system);
    return ok == n ? 0 : 1;
}
