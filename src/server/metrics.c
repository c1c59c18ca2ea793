/* metrics.c - counters and histograms, written in Prometheus's text
 * exposition format 0.0.4.
 *
 * Everything sits behind one mutex held only for a few additions, so the
 * engine thread (inter-token latencies) never waits long. The tokens/s gauge
 * is the generated tokens of the last 10 whole seconds divided by 10.
 */
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "hearth/alloc.h"
#include "server/server_internal.h"

enum { N_LAT_BUCKETS = 14, RATE_WINDOW = 10 };

static const double lat_bounds[N_LAT_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                 0.25,  0.5,    1.0,   2.5,  5.0,   10.0, 30.0};

typedef struct histo {
    uint64_t counts[N_LAT_BUCKETS]; /* per bucket (not cumulative) */
    uint64_t count;
    double sum;
} histo;

struct srv_metrics {
    pthread_mutex_t mu;
    uint64_t by_status[600];
    histo ttft, itl, duration;
    uint64_t prompt_tokens, generated_tokens;
    int64_t rate_sec[RATE_WINDOW]; /* which second each slot holds */
    uint64_t rate_tok[RATE_WINDOW];
};

hearth_status srv_metrics_new(srv_metrics **out) {
    srv_metrics *m = hearth_calloc(1, sizeof *m);
    if (!m) return HEARTH_ERR_NOMEM;
    pthread_mutex_init(&m->mu, NULL);
    *out = m;
    return HEARTH_OK;
}

void srv_metrics_free(srv_metrics *m) {
    if (!m) return;
    pthread_mutex_destroy(&m->mu);
    hearth_free(m);
}

static void observe(histo *h, double v) {
    if (!(v >= 0)) return;
    h->count++;
    h->sum += v;
    for (int i = 0; i < N_LAT_BUCKETS; i++)
        if (v <= lat_bounds[i]) {
            h->counts[i]++;
            return;
        }
}

void srv_metrics_request(srv_metrics *m, int status, double duration_s) {
    pthread_mutex_lock(&m->mu);
    if (status >= 100 && status < 600) m->by_status[status]++;
    observe(&m->duration, duration_s);
    pthread_mutex_unlock(&m->mu);
}

void srv_metrics_ttft(srv_metrics *m, double s) {
    pthread_mutex_lock(&m->mu);
    observe(&m->ttft, s);
    pthread_mutex_unlock(&m->mu);
}

/* Called for every generated token after the first: adds its latency and
 * counts it for the tokens/s gauge. */
void srv_metrics_itl(srv_metrics *m, double s) {
    pthread_mutex_lock(&m->mu);
    observe(&m->itl, s);
    pthread_mutex_unlock(&m->mu);
}

void srv_metrics_tokens(srv_metrics *m, int64_t prompt, int64_t generated) {
    int64_t sec = (int64_t)floor(srv_now());
    pthread_mutex_lock(&m->mu);
    if (prompt > 0) m->prompt_tokens += (uint64_t)prompt;
    if (generated > 0) {
        m->generated_tokens += (uint64_t)generated;
        int slot = (int)(sec % RATE_WINDOW);
        if (m->rate_sec[slot] != sec) {
            m->rate_sec[slot] = sec;
            m->rate_tok[slot] = 0;
        }
        m->rate_tok[slot] += (uint64_t)generated;
    }
    pthread_mutex_unlock(&m->mu);
}

/* Appends one histogram. */
static int render_histo(srv_buf *o, const char *name, const char *help, const histo *h) {
    int rc = srv_buf_printf(o, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (int i = 0; i < N_LAT_BUCKETS && rc == 0; i++) {
        cum += h->counts[i];
        rc = srv_buf_printf(o, "%s_bucket{le=\"%g\"} %llu\n", name, lat_bounds[i], (unsigned long long)cum);
    }
    if (rc == 0)
        rc = srv_buf_printf(o, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name,
                            (unsigned long long)h->count, name, h->sum, name, (unsigned long long)h->count);
    return rc;
}

int srv_metrics_render(srv_metrics *m, const hearth_sched_stats *st, srv_buf *o) {
    srv_metrics c;
    pthread_mutex_lock(&m->mu);
    memcpy(&c, m, sizeof c);
    pthread_mutex_unlock(&m->mu);
    int64_t now = (int64_t)floor(srv_now());
    uint64_t recent = 0;
    for (int i = 0; i < RATE_WINDOW; i++)
        if (c.rate_sec[i] > now - RATE_WINDOW && c.rate_sec[i] <= now) recent += c.rate_tok[i];
    int rc = srv_buf_str(o, "# HELP hearth_requests_total HTTP requests answered, by status.\n"
                            "# TYPE hearth_requests_total counter\n");
    bool any = false;
    for (int s = 100; s < 600 && rc == 0; s++)
        if (c.by_status[s]) {
            rc = srv_buf_printf(o, "hearth_requests_total{status=\"%d\"} %llu\n", s,
                                (unsigned long long)c.by_status[s]);
            any = true;
        }
    if (!any && rc == 0) rc = srv_buf_str(o, "hearth_requests_total{status=\"200\"} 0\n");
    if (rc == 0)
        rc = srv_buf_printf(o,
                            "# HELP hearth_queue_depth Requests waiting for a sequence slot.\n"
                            "# TYPE hearth_queue_depth gauge\nhearth_queue_depth %d\n"
                            "# HELP hearth_active_sequences Requests decoding in a slot.\n"
                            "# TYPE hearth_active_sequences gauge\nhearth_active_sequences %d\n"
                            "# HELP hearth_parallel_slots Sequence slots.\n"
                            "# TYPE hearth_parallel_slots gauge\nhearth_parallel_slots %d\n",
                            st ? st->queue_depth : 0, st ? st->active : 0, st ? st->n_parallel : 0);
    if (rc == 0)
        rc = srv_buf_printf(o,
                            "# HELP hearth_prompt_tokens_total Prompt tokens of finished requests.\n"
                            "# TYPE hearth_prompt_tokens_total counter\nhearth_prompt_tokens_total %llu\n"
                            "# HELP hearth_generated_tokens_total Tokens generated.\n"
                            "# TYPE hearth_generated_tokens_total counter\nhearth_generated_tokens_total %llu\n"
                            "# HELP hearth_prompt_cached_tokens_total Prompt tokens reused from the prompt cache.\n"
                            "# TYPE hearth_prompt_cached_tokens_total counter\n"
                            "hearth_prompt_cached_tokens_total %llu\n"
                            "# HELP hearth_tokens_per_second Generated tokens per second over the last 10 s.\n"
                            "# TYPE hearth_tokens_per_second gauge\nhearth_tokens_per_second %.3f\n",
                            (unsigned long long)c.prompt_tokens, (unsigned long long)c.generated_tokens,
                            (unsigned long long)(st ? st->cached_tokens_total : 0), (double)recent / RATE_WINDOW);
    if (rc == 0)
        rc = render_histo(o, "hearth_time_to_first_token_seconds", "Time from submit to the first generated token.",
                          &c.ttft);
    if (rc == 0)
        rc = render_histo(o, "hearth_inter_token_latency_seconds", "Time between consecutive generated tokens.",
                          &c.itl);
    if (rc == 0)
        rc = render_histo(o, "hearth_request_duration_seconds", "Time from the request's headers to its end.",
                          &c.duration);
    return rc;
}
