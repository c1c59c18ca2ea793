/* cmd_serve.c - `hearth serve`: the OpenAI-compatible HTTP server.
 *
 * SIGINT and SIGTERM are blocked in every thread before the server starts
 * (threads inherit the mask) and taken with sigwait here, so the handler is
 * ordinary code: a graceful stop that lets running requests finish for a
 * few seconds. A second signal during the grace period ends the process
 * (the default action is restored and the signals unblocked here).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "cli/cli.h"
#include "hearth/alloc.h"
#include "hearth/server.h"

void cmd_serve_usage(FILE *f) {
    fprintf(f,
            "usage: hearth serve -m MODEL [options]\n"
            "\n"
            "Serves the model over HTTP with OpenAI's API: POST /v1/chat/completions,\n"
            "/v1/completions, /v1/embeddings; GET /v1/models, /health, /metrics.\n"
            "The listener starts at once (/health answers 503 until the model is loaded);\n"
            "\"hearth: listening on http://HOST:PORT\" is printed on stderr when ready.\n"
            "\n"
            "options:\n"
            "  -m, --model FILE        GGUF model (or give it as the first argument)\n"
            "  --host ADDR             address to bind (default 127.0.0.1: this machine only)\n"
            "  --port N                TCP port (default 8080; 0 = any free port)\n"
            "  --parallel N            requests decoded together (default 4)\n"
            "  --prefill-budget N      prompt tokens per step while other requests generate or\n"
            "                          wait (default 64): bounds their stall, oldest prompt first\n"
            "  -c, --ctx-size N        context per request (default: the model's, at most 4096)\n"
            "  -t, --threads N         engine threads (default: physical cores)\n"
            "  --cache-type T          KV cache type: f32 (default) or f16 (half the memory per\n"
            "                          slot, llama.cpp's default)\n"
            "  --api-key KEY           require 'Authorization: Bearer KEY' (repeatable)\n"
            "  --api-key-file FILE     read keys from FILE, one per line\n"
            "  --rate-limit RPM        requests per minute per key (default: unlimited)\n"
            "  --token-limit TPM       tokens per minute per key (default: unlimited)\n"
            "  --max-queue N           requests that may wait for a slot (default 16);\n"
            "                          beyond that: 503 with Retry-After\n"
            "  --timeout S             stop a generation after S seconds (default: none)\n"
            "  --max-body BYTES        largest request body (default 16777216)\n"
            "  --log-prompts           include prompts in the request log\n"
            "  --model-id NAME         model id reported by the API (default: file name)\n"
            "  -h, --help              this help\n"
            "\n"
            "example: hearth serve -m ../shared/models/stories260K.gguf --port 8080\n");
}

/* Appends the keys of a file (one per line, blank lines and #comments
 * skipped) to *keys. Returns CLI_OK or prints the error. */
static int read_key_file(const char *path, char ***keys, size_t *n, char **store) {
    size_t len = 0;
    hearth_status st = cli_read_file(path, store, &len);
    if (st < 0) return cli_status_error("serve: --api-key-file", st);
    char *p = *store;
    while (p && *p) {
        char *e = strchr(p, '\n');
        if (e) *e = '\0';
        char *k = p;
        while (*k == ' ' || *k == '\t') k++;
        size_t kl = strlen(k);
        while (kl > 0 && (k[kl - 1] == '\r' || k[kl - 1] == ' ' || k[kl - 1] == '\t')) k[--kl] = '\0';
        if (kl > 0 && k[0] != '#') {
            char **nk = hearth_reallocarray(*keys, *n + 1, sizeof *nk);
            if (!nk) {
                cli_error("serve", "out of memory");
                return CLI_FAIL;
            }
            *keys = nk;
            (*keys)[(*n)++] = k;
        }
        p = e ? e + 1 : NULL;
    }
    return CLI_OK;
}

/* Returns the exit status. Blocks until a signal stops the server. */
int cmd_serve(int argc, char **argv) {
    cli_args a = {argc, argv, 1, "serve"};
    hearth_server_params p;
    hearth_server_default_params(&p);
    const char *model = NULL, *key_file = NULL;
    char **keys = NULL, *key_store = NULL;
    size_t n_keys = 0;
    int rc = CLI_OK;
    for (; a.i < argc; a.i++) {
        const char *v;
        int r;
        int32_t x;
        if (cli_is_help(&a)) {
            cmd_serve_usage(stdout);
            hearth_free(keys);
            return CLI_OK;
        }
        if ((r = cli_opt(&a, "-m", "--model", &v)) != 0) {
            if (r < 0) goto usage;
            model = v;
        } else if ((r = cli_opt(&a, NULL, "--host", &v)) != 0) {
            if (r < 0) goto usage;
            p.host = v;
        } else if ((r = cli_opt(&a, NULL, "--port", &v)) != 0) {
            if (r < 0 || cli_parse_i32("--port", v, 0, 65535, &x) < 0) goto usage;
            p.port = x;
        } else if ((r = cli_opt(&a, "-np", "--parallel", &v)) != 0) {
            if (r < 0 || cli_parse_i32("--parallel", v, 1, 256, &p.sched.n_parallel) < 0) goto usage;
        } else if ((r = cli_opt(&a, NULL, "--prefill-budget", &v)) != 0) {
            if (r < 0 || cli_parse_i32("--prefill-budget", v, 1, 1 << 16, &p.sched.prefill_budget) < 0) goto usage;
        } else if ((r = cli_opt(&a, NULL, "--cache-type", &v)) != 0) {
            if (r < 0 || cli_parse_cache_type("--cache-type", v, &p.sched.kv_type) < 0) goto usage;
        } else if ((r = cli_opt(&a, "-c", "--ctx-size", &v)) != 0) {
            if (r < 0 || cli_parse_i32("-c", v, 0, 1 << 20, &p.sched.n_ctx) < 0) goto usage;
        } else if ((r = cli_opt(&a, "-t", "--threads", &v)) != 0) {
            if (r < 0 || cli_parse_i32("-t", v, 0, 1024, &p.sched.n_threads) < 0) goto usage;
        } else if ((r = cli_opt(&a, NULL, "--api-key", &v)) != 0) {
            if (r < 0) goto usage;
            if (!*v) {
                cli_error("serve", "--api-key: the key is empty");
                goto usage;
            }
            char **nk = hearth_reallocarray(keys, n_keys + 1, sizeof *nk);
            if (!nk) {
                rc = CLI_FAIL;
                goto done;
            }
            keys = nk;
            keys[n_keys++] = (char *)v;
        } else if ((r = cli_opt(&a, NULL, "--api-key-file", &v)) != 0) {
            if (r < 0) goto usage;
            key_file = v;
        } else if ((r = cli_opt(&a, NULL, "--rate-limit", &v)) != 0) {
            if (r < 0 || cli_parse_i32("--rate-limit", v, 0, 100000000, &p.rate_limit_rpm) < 0) goto usage;
        } else if ((r = cli_opt(&a, NULL, "--token-limit", &v)) != 0) {
            if (r < 0 || cli_parse_i32("--token-limit", v, 0, 2000000000, &p.token_limit_tpm) < 0) goto usage;
        } else if ((r = cli_opt(&a, NULL, "--max-queue", &v)) != 0) {
            if (r < 0 || cli_parse_i32("--max-queue", v, 0, 1000000, &p.sched.max_queue) < 0) goto usage;
        } else if ((r = cli_opt(&a, NULL, "--timeout", &v)) != 0) {
            float t;
            if (r < 0 || cli_parse_f32("--timeout", v, 0, 1e7, &t) < 0) goto usage;
            p.timeout_s = t;
        } else if ((r = cli_opt(&a, NULL, "--max-body", &v)) != 0) {
            uint64_t mb;
            if (r < 0 || cli_parse_u64("--max-body", v, &mb) < 0) goto usage;
            if (mb < 1024 || mb > (uint64_t)1 << 34) {
                cli_error("serve", "--max-body must be between 1024 and 17179869184 bytes");
                goto usage;
            }
            p.max_body = (size_t)mb;
        } else if ((r = cli_opt(&a, NULL, "--model-id", &v)) != 0) {
            if (r < 0) goto usage;
            p.model_id = v;
        } else if (cli_flag(&a, NULL, "--log-prompts")) {
            p.log_prompts = true;
        } else if (argv[a.i][0] != '-' && !model) {
            model = argv[a.i];
        } else {
            rc = cli_unknown(&a);
            goto done;
        }
    }
    if (!model) {
        rc = cli_no_model(a.cmd);
        goto done;
    }
    if ((rc = cli_check_model_path(a.cmd, model)) != CLI_OK) goto done;
    if (key_file && (rc = read_key_file(key_file, &keys, &n_keys, &key_store)) != CLI_OK) goto done;
    if (key_file && n_keys == 0) {
        cli_error("serve", "--api-key-file %s holds no keys", key_file);
        rc = CLI_FAIL;
        goto done;
    }
    p.model_path = model;
    p.api_keys = (const char *const *)keys;
    p.n_api_keys = n_keys;

    /* the server's threads inherit this mask; only sigwait below sees the signals */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    signal(SIGPIPE, SIG_IGN);

#ifdef __GLIBC__
    /* Request bodies of up to --max-body bytes come and go. glibc raises its
     * mmap threshold to the size of the first large block freed, after which
     * such buffers live in the heap and freeing them keeps the memory (tens
     * of MB held after one big upload); a fixed threshold keeps them mmapped. */
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
#endif
    hearth_server *srv = NULL;
    hearth_status st = hearth_server_new(&p, &srv);
    if (st == HEARTH_OK) st = hearth_server_start(srv);
    if (st < 0) {
        rc = cli_status_error("serve", st);
        hearth_server_free(srv);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        goto done;
    }
    const char *host = p.host ? p.host : "127.0.0.1";
    bool v6 = strchr(host, ':') != NULL;
    fprintf(stderr, "hearth: loading %s (http://%s%s%s:%d/health answers 503 until it is ready)\n", model,
            v6 ? "[" : "", host, v6 ? "]" : "", hearth_server_port(srv));
    double t0 = cli_now();
    st = hearth_server_wait_ready(srv);
    if (st < 0) {
        rc = cli_status_error("serve: model", st);
    } else {
        fprintf(stderr, "hearth: model ready in %.2f s\n", cli_now() - t0);
        fprintf(stderr, "hearth: listening on http://%s%s%s:%d\n", v6 ? "[" : "", host, v6 ? "]" : "",
                hearth_server_port(srv));
        int sig = 0;
        sigwait(&set, &sig);
        fprintf(stderr, "hearth: %s: stopping (running requests get 10 s to finish)\n",
                sig == SIGINT ? "interrupted" : "terminated");
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    }
    hearth_server_stop(srv, rc == CLI_OK ? 10.0 : 0.0);
    hearth_server_free(srv);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc == CLI_OK) fprintf(stderr, "hearth: stopped\n");
    goto done;
usage:
    rc = CLI_USAGE;
done:
    hearth_free(keys);
    hearth_free(key_store);
    return rc;
}
