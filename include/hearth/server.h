/* server.h - hearth's OpenAI-compatible HTTP server, usable as a library.
 *
 * The server listens with libmicrohttpd's internal polling threads and runs
 * generations through the request scheduler (hearth/sched.h). Endpoints:
 * POST /v1/chat/completions, /v1/completions, /v1/embeddings; GET /v1/models,
 * /v1/models/{id}, /health, /metrics. Errors use OpenAI's JSON shape.
 *
 * The listener starts before the model is loaded: /health answers 503 until
 * the model and scheduler are ready, then 200.
 */
#ifndef HEARTH_SERVER_H
#define HEARTH_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hearth/model.h"
#include "hearth/sched.h"
#include "hearth/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hearth_server_params {
    const char *model_path;        /* GGUF to load in the background (or NULL with `model`) */
    const hearth_model *model;     /* an already loaded model (borrowed; outlives the server) */
    const char *model_id;          /* id reported by /v1/models (NULL: file name without .gguf) */
    const char *host;              /* address to bind (NULL: "127.0.0.1") */
    int port;                      /* 0: any free port (see hearth_server_port) */
    hearth_sched_params sched;     /* n_parallel, n_ctx, n_threads, max_queue, ... */
    const char *const *api_keys;   /* [n_api_keys] accepted Bearer keys (copied); none: no auth */
    size_t n_api_keys;
    int32_t rate_limit_rpm;        /* requests per minute per key (<= 0: unlimited) */
    int32_t token_limit_tpm;       /* tokens per minute per key (<= 0: unlimited) */
    double timeout_s;              /* per-request generation timeout (<= 0: none) */
    size_t max_body;               /* largest accepted request body (0: 16 MiB) */
    int max_connections;           /* open connections (<= 0: 256) */
    int n_http_threads;            /* libmicrohttpd polling threads (<= 0: 2) */
    int idle_timeout_s;            /* close connections idle this long, half-sent
                                      requests included (<= 0: 30) */
    bool log_prompts;              /* include prompts in the request log */
    FILE *log;                     /* request log (NULL: stderr) */
    bool quiet;                    /* no request log at all */
} hearth_server_params;

/* Fills the defaults: loopback, port 8080, one parallel sequence, queue 16,
 * 16 MiB bodies. */
void hearth_server_default_params(hearth_server_params *p);

typedef struct hearth_server hearth_server;

/* Validates and copies the parameters. Does not bind or load anything. */
hearth_status hearth_server_new(const hearth_server_params *p, hearth_server **out);
/* Binds and starts the listener, then starts loading the model on a
 * background thread and returns (it does not wait for the model). Blocks
 * only while binding. HEARTH_ERR_IO (detail: address and errno) when the
 * address cannot be bound. */
hearth_status hearth_server_start(hearth_server *s);
/* The bound TCP port (after start), else 0. */
int hearth_server_port(const hearth_server *s);
/* Blocks until the model is loaded and the scheduler runs (HEARTH_OK) or
 * loading failed (its status; detail in hearth_error_last on this thread). */
hearth_status hearth_server_wait_ready(hearth_server *s);
/* Graceful stop: stops accepting connections, lets running requests finish
 * for up to `grace_s` seconds, cancels the rest, then stops the listener.
 * Blocks until done. Safe to call more than once. */
void hearth_server_stop(hearth_server *s, double grace_s);
/* Stops (with no grace) if needed and frees. NULL is a no-op. */
void hearth_server_free(hearth_server *s);

#ifdef __cplusplus
}
#endif
#endif
