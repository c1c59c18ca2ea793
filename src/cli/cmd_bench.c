/* cmd_bench.c - `hearth bench`: prompt-processing and generation speed, in
 * the manner of llama-bench, plus (optionally) this machine's memory read
 * bandwidth and the decode speed it allows, the time to first token and the
 * load time / peak RSS.
 *
 * Speed does not depend on token values, so the prompts are random valid ids
 * from a fixed seed; every measurement is repeated after one warm-up run and
 * reported as mean +- sample standard deviation. */
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <string.h>
#include <sys/resource.h>

#include "cli/cli.h"
#include "hearth/alloc.h"
#include "hearth/gguf.h"
#include "hearth/model.h"
#include "hearth/quant.h"
#include "hearth/threadpool.h"

enum { BENCH_MAX_THREADS = 64, BENCH_MAX_REPS = 1000 };

void cmd_bench_usage(FILE *f) {
    fprintf(f,
            "usage: hearth bench -m MODEL [options]\n"
            "\n"
            "Measures prompt processing (ppP: P random tokens evaluated in one batch from an\n"
            "empty cache) and generation (tgN: N single-token evaluations after a 1-token\n"
            "warm start) in tokens per second, for each thread count. Each test runs once to\n"
            "warm up, then REPS times; the table shows mean +- sample standard deviation.\n"
            "\n"
            "options:\n"
            "  -m, --model FILE         GGUF model (or give it as the first argument)\n"
            "  -p, --n-prompt N         prompt tokens for the pp test (default 512; 0: skip)\n"
            "  -n, --n-gen N            generated tokens for the tg test (default 128; 0: skip)\n"
            "  -t, --threads T[,T...]   thread counts (default: physical cores)\n"
            "  -r, --repetitions REPS   measured runs per test (default 5)\n"
            "      --cache-type T       KV cache type: f32 (default) or f16 (llama.cpp's default)\n"
            "      --ttft N             also time to first token for an N-token prompt (ms)\n"
            "      --membw              also measure memory read bandwidth and the decode\n"
            "                           ceiling it implies (bytes per token / bandwidth)\n"
            "      --json               one JSON object per result line instead of a table\n"
            "  -h, --help               this help\n"
            "\n"
            "Besides the table, prints the load time (model load + context creation) and the\n"
            "peak RSS next to what weights + KV cache + scratch + 10%% would allow.\n");
}

/* ---- statistics and random tokens -------------------------------------------- */

typedef struct stats {
    double mean, sd;
} stats;

/* Returns mean and sample standard deviation (0 for a single sample). */
static stats stats_of(const double *x, int n) {
    stats s = {0, 0};
    if (n <= 0) return s;
    for (int i = 0; i < n; i++) s.mean += x[i];
    s.mean /= n;
    if (n > 1) {
        double v = 0;
        for (int i = 0; i < n; i++) v += (x[i] - s.mean) * (x[i] - s.mean);
        s.sd = sqrt(v / (n - 1));
    }
    return s;
}

/* Fills ids with random ids below n_vocab; the fixed seed makes every run
 * evaluate the same tokens. */
static void random_ids(int32_t *ids, int32_t n, int32_t n_vocab) {
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    for (int32_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ids[i] = (int32_t)(x % (uint64_t)n_vocab);
    }
}

/* Returns the peak resident set of this process in bytes. */
static uint64_t peak_rss_bytes(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
#ifdef __APPLE__
    return (uint64_t)ru.ru_maxrss;
#else
    return (uint64_t)ru.ru_maxrss * 1024u;
#endif
}

/* ---- the model's numbers ----------------------------------------------------- */

typedef struct model_info {
    const char *name;      /* file name without directories */
    uint64_t weight_bytes; /* hearth_model_weight_bytes */
    uint64_t params;       /* sum of tensor elements */
    uint64_t decode_bytes; /* weight bytes one decode step reads */
    uint64_t kv_bytes_pos; /* KV cache bytes per cached position (all layers), from the context */
} model_info;

/* Fills info from the model's tensor table. A decode step multiplies by every
 * matrix once, but only gathers one row of an embedding table, so those are
 * left out -- unless token_embd doubles as the output matrix (tied). */
static void model_info_get(const hearth_model *m, const char *path, model_info *mi) {
    const char *slash = strrchr(path, '/');
    mi->name = slash ? slash + 1 : path;
    mi->weight_bytes = hearth_model_weight_bytes(m);
    mi->params = 0;
    mi->decode_bytes = 0;
    const hearth_gguf *g = hearth_model_gguf(m);
    bool tied = hearth_gguf_tensor_find(g, "output.weight") == NULL;
    for (uint64_t i = 0; i < hearth_gguf_n_tensors(g); i++) {
        const hearth_gguf_tensor *t = hearth_gguf_tensor_at(g, i);
        if (!t) continue;
        mi->params += (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
        bool lookup = hearth_str_eq(t->name, "position_embd.weight") || hearth_str_eq(t->name, "token_types.weight") ||
                      (hearth_str_eq(t->name, "token_embd.weight") && !tied);
        if (!lookup) mi->decode_bytes += t->nbytes;
    }
    mi->kv_bytes_pos = 0; /* set once a context exists (hearth_context_kv_bytes) */
}

/* "1.10 B", "260.00 K": parameter counts as llama-bench prints them. */
static void format_params(char *buf, size_t n, uint64_t p) {
    if (p >= 1000000000u) snprintf(buf, n, "%.2f B", (double)p / 1e9);
    else if (p >= 1000000u) snprintf(buf, n, "%.2f M", (double)p / 1e6);
    else snprintf(buf, n, "%.2f K", (double)p / 1e3);
}

/* ---- memory bandwidth -------------------------------------------------------- */

typedef struct membw_job {
    const uint64_t *buf;
    size_t n_words;
    uint64_t sums[BENCH_MAX_THREADS * 8]; /* one cache line per thread */
} membw_job;

/* Sums this thread's slice with eight independent accumulators, so the loads
 * are not serialised behind one add chain; plain 64-bit loads are enough to
 * saturate DRAM from a core, and no ISA flags are needed. */
static void membw_task(void *arg, int ith, int nth) {
    membw_job *j = arg;
    size_t per = (j->n_words / (size_t)nth) & ~(size_t)7;
    size_t lo = per * (size_t)ith;
    size_t hi = ith == nth - 1 ? (j->n_words & ~(size_t)7) : lo + per;
    const uint64_t *p = j->buf;
    uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
    for (size_t i = lo; i < hi; i += 8) {
        a0 += p[i];
        a1 += p[i + 1];
        a2 += p[i + 2];
        a3 += p[i + 3];
        a4 += p[i + 4];
        a5 += p[i + 5];
        a6 += p[i + 6];
        a7 += p[i + 7];
    }
    j->sums[ith * 8] = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
}

/* Writes this thread's slice so that the pages exist before timing. */
static void membw_fill(void *arg, int ith, int nth) {
    membw_job *j = arg;
    size_t per = j->n_words / (size_t)nth;
    size_t lo = per * (size_t)ith;
    size_t hi = ith == nth - 1 ? j->n_words : lo + per;
    uint64_t *p = (uint64_t *)j->buf;
    for (size_t i = lo; i < hi; i++) p[i] = i;
}

/* Returns the best read bandwidth in bytes/s over several passes of a
 * streaming read with n_threads threads, or a negative status. Blocks for
 * about a second. */
static hearth_status measure_membw(const uint64_t *buf, size_t bytes, int n_threads, double *out) {
    hearth_threadpool *pool = NULL;
    hearth_status st = hearth_threadpool_new(n_threads, &pool);
    if (st < 0) return st;
    membw_job job;
    memset(&job, 0, sizeof job);
    job.buf = buf;
    job.n_words = bytes / sizeof(uint64_t);
    double best = 0;
    volatile uint64_t sink = 0;
    for (int pass = 0; pass < 6; pass++) {
        double t0 = cli_now();
        hearth_threadpool_run(pool, membw_task, &job);
        double dt = cli_now() - t0;
        for (int i = 0; i < n_threads; i++) sink += job.sums[i * 8];
        /* the first pass warms the TLB and the workers; keep it out */
        if (pass > 0 && dt > 0 && (double)bytes / dt > best) best = (double)bytes / dt;
    }
    (void)sink;
    hearth_threadpool_free(pool);
    *out = best;
    return HEARTH_OK;
}

/* ---- output -------------------------------------------------------------------- */

typedef struct bench_out {
    bool json;
    const model_info *mi;
    const char *isa;
} bench_out;

/* Returns a new JSON object with the fields every line shares. */
static json_t *json_base(const bench_out *o, int threads, const char *test) {
    json_t *j = json_object();
    if (!j) return NULL;
    json_object_set_new(j, "model", json_string(o->mi->name));
    json_object_set_new(j, "size_bytes", json_integer((json_int_t)o->mi->weight_bytes));
    json_object_set_new(j, "size_gib", json_real((double)o->mi->weight_bytes / (double)(1u << 30)));
    json_object_set_new(j, "params", json_integer((json_int_t)o->mi->params));
    json_object_set_new(j, "isa", json_string(o->isa));
    if (threads > 0) json_object_set_new(j, "threads", json_integer(threads));
    json_object_set_new(j, "test", json_string(test));
    return j;
}

/* Prints a JSON object on one line and frees it; returns CLI_OK or CLI_FAIL. */
static int json_emit(json_t *j) {
    if (!j) {
        cli_error("bench", "out of memory building JSON");
        return CLI_FAIL;
    }
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    json_decref(j);
    if (!s) {
        cli_error("bench", "out of memory building JSON");
        return CLI_FAIL;
    }
    puts(s);
    fflush(stdout);
    free(s);
    return CLI_OK;
}

/* Prints one result row of the speed table (or its JSON line). */
static int emit_speed(const bench_out *o, int threads, const char *test, int32_t n_prompt, int32_t n_gen,
                      const double *ts, int reps) {
    stats s = stats_of(ts, reps);
    if (!o->json) {
        char params[32], rate[64];
        format_params(params, sizeof params, o->mi->params);
        snprintf(rate, sizeof rate, "%.2f ± %.2f", s.mean, s.sd);
        printf("| %s | %.2f GiB | %s | %s | %d | %s | %s |\n", o->mi->name,
               (double)o->mi->weight_bytes / (double)(1u << 30), params, o->isa, threads, test, rate);
        fflush(stdout);
        return CLI_OK;
    }
    json_t *j = json_base(o, threads, test);
    json_t *arr = json_array();
    if (!j || !arr) {
        json_decref(j);
        json_decref(arr);
        return json_emit(NULL);
    }
    for (int i = 0; i < reps; i++) json_array_append_new(arr, json_real(ts[i]));
    json_object_set_new(j, "n_prompt", json_integer(n_prompt));
    json_object_set_new(j, "n_gen", json_integer(n_gen));
    json_object_set_new(j, "reps", json_integer(reps));
    json_object_set_new(j, "avg_ts", json_real(s.mean));
    json_object_set_new(j, "stddev_ts", json_real(s.sd));
    json_object_set_new(j, "samples_ts", arr);
    return json_emit(j);
}

/* ---- the runs ------------------------------------------------------------------- */

typedef struct bench_run {
    hearth_context *c;
    const int32_t *ids; /* random prompt ids, at least max(n_prompt, n_gen + 1) */
    float *logits;      /* n_vocab */
} bench_run;

/* Evaluates n prompt tokens from an empty cache; *secs receives the time.
 * Blocks while computing. */
static hearth_status run_pp(bench_run *r, int32_t n, double *secs) {
    hearth_context_truncate(r->c, 0);
    double t0 = cli_now();
    /* last-position logits, as a real prompt needs for its first token */
    hearth_status st = hearth_eval(r->c, r->ids, n, r->logits, false);
    *secs = cli_now() - t0;
    return st;
}

/* One warm-start token, then n single-token evaluations (timed). */
static hearth_status run_tg(bench_run *r, int32_t n, double *secs) {
    hearth_context_truncate(r->c, 0);
    hearth_status st = hearth_eval(r->c, r->ids, 1, r->logits, false);
    if (st < 0) return st;
    double t0 = cli_now();
    for (int32_t i = 0; i < n && st >= 0; i++) st = hearth_eval(r->c, r->ids + 1 + i, 1, r->logits, false);
    *secs = cli_now() - t0;
    return st;
}

/* Runs one test (warm-up + reps) and stores tokens/s (pp, tg) or ms (ttft)
 * per rep in out. Returns the first failing status. */
static hearth_status run_test(bench_run *r, bool gen, int32_t n, int reps, bool as_ms, double *out) {
    for (int rep = -1; rep < reps; rep++) {
        double secs = 0;
        hearth_status st = gen ? run_tg(r, n, &secs) : run_pp(r, n, &secs);
        if (st < 0) return st;
        if (rep < 0) continue;
        if (secs <= 0) secs = 1e-9;
        out[rep] = as_ms ? secs * 1e3 : (double)n / secs;
    }
    return HEARTH_OK;
}

/* Parses "1,2,4" into threads[]; returns the count or -1 (error printed). */
static int parse_threads(const char *s, int32_t *threads) {
    int n = 0;
    const char *p = s;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char item[32];
        if (len >= sizeof item) {
            cli_error("-t", "'%.*s' is not an integer", (int)len, p);
            return -1;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        if (n >= BENCH_MAX_THREADS) {
            cli_error("-t", "at most %d thread counts", BENCH_MAX_THREADS);
            return -1;
        }
        if (cli_parse_i32("-t", item, 1, 1024, &threads[n]) < 0) return -1;
        n++;
        if (!comma) break;
        p = comma + 1;
    }
    return n;
}

typedef struct bench_opts {
    const char *model;
    int32_t n_prompt, n_gen, reps, ttft;
    int32_t threads[BENCH_MAX_THREADS];
    int n_threads;
    uint32_t kv_type; /* HEARTH_TYPE_F32 (0) or HEARTH_TYPE_F16 */
    bool json, membw;
} bench_opts;

/* Parses argv into o; returns CLI_OK, or the exit status (help: CLI_OK with
 * o->model left NULL and *done set). */
static int parse_opts(int argc, char **argv, bench_opts *o, bool *done) {
    cli_args a = {argc, argv, 1, "bench"};
    *done = false;
    for (; a.i < argc; a.i++) {
        const char *v;
        int r;
        if (cli_is_help(&a)) {
            cmd_bench_usage(stdout);
            *done = true;
            return CLI_OK;
        }
        if (cli_flag(&a, NULL, "--json")) {
            o->json = true;
        } else if (cli_flag(&a, NULL, "--membw")) {
            o->membw = true;
        } else if ((r = cli_opt(&a, "-m", "--model", &v)) != 0) {
            if (r < 0) return CLI_USAGE;
            o->model = v;
        } else if ((r = cli_opt(&a, "-p", "--n-prompt", &v)) != 0) {
            if (r < 0 || cli_parse_i32("-p", v, 0, 1 << 20, &o->n_prompt) < 0) return CLI_USAGE;
        } else if ((r = cli_opt(&a, "-n", "--n-gen", &v)) != 0) {
            if (r < 0 || cli_parse_i32("-n", v, 0, 1 << 20, &o->n_gen) < 0) return CLI_USAGE;
        } else if ((r = cli_opt(&a, "-r", "--repetitions", &v)) != 0) {
            if (r < 0 || cli_parse_i32("-r", v, 1, BENCH_MAX_REPS, &o->reps) < 0) return CLI_USAGE;
        } else if ((r = cli_opt(&a, NULL, "--ttft", &v)) != 0) {
            if (r < 0 || cli_parse_i32("--ttft", v, 1, 1 << 20, &o->ttft) < 0) return CLI_USAGE;
        } else if ((r = cli_opt(&a, "-t", "--threads", &v)) != 0) {
            if (r < 0 || (o->n_threads = parse_threads(v, o->threads)) < 0) return CLI_USAGE;
        } else if ((r = cli_opt(&a, NULL, "--cache-type", &v)) != 0) {
            if (r < 0 || cli_parse_cache_type("--cache-type", v, &o->kv_type) < 0) return CLI_USAGE;
        } else if (argv[a.i][0] != '-' && !o->model) {
            o->model = argv[a.i];
        } else {
            return cli_unknown(&a);
        }
    }
    if (!o->model) return cli_no_model(a.cmd);
    if (o->n_threads == 0) {
        o->threads[0] = hearth_physical_cores();
        o->n_threads = 1;
    }
    return CLI_OK;
}

/* Per thread count: measured mean tg rate (0 when not run). */
typedef struct thread_result {
    double tg_ts;
    double ttft_ms, ttft_sd;
} thread_result;

/* Measures the memory bandwidth for each thread count and prints it with the
 * decode ceiling. Blocks for a few seconds. */
static int report_membw(const bench_out *o, const bench_opts *op, const thread_result *tr) {
    size_t bytes = (size_t)1 << 30;
    uint64_t *buf = NULL;
    /* 1 GiB is far past any last-level cache; fall back when memory is short */
    while (bytes >= ((size_t)128 << 20) && !(buf = hearth_malloc_aligned(bytes, 64))) bytes /= 2;
    if (!buf) {
        cli_error("bench", "out of memory for the bandwidth buffer");
        return CLI_FAIL;
    }
    {
        membw_job job;
        memset(&job, 0, sizeof job);
        job.buf = buf;
        job.n_words = bytes / sizeof(uint64_t);
        hearth_threadpool *pool = NULL;
        hearth_status st = hearth_threadpool_new(op->threads[op->n_threads - 1], &pool);
        if (st < 0) {
            hearth_free_aligned(buf);
            return cli_status_error("bench", st);
        }
        hearth_threadpool_run(pool, membw_fill, &job);
        hearth_threadpool_free(pool);
    }
    /* tg's context grows from 2 to n_gen + 1 cached positions */
    double avg_ctx = op->n_gen > 0 ? ((double)op->n_gen + 3.0) / 2.0 : 1.0;
    double tok_bytes = (double)o->mi->decode_bytes + avg_ctx * (double)o->mi->kv_bytes_pos;
    if (!o->json) {
        printf("\nmemory read bandwidth (%zu MiB buffer, best of 5 passes) and decode ceiling:\n"
               "bytes per token = %.1f MiB (weights a decode step reads %.1f MiB + KV cache at avg context %.1f: "
               "%.2f MiB)\n\n",
               bytes >> 20, tok_bytes / 1048576.0, (double)o->mi->decode_bytes / 1048576.0, avg_ctx,
               avg_ctx * (double)o->mi->kv_bytes_pos / 1048576.0);
        printf("| threads | read GB/s | ceiling t/s | tg t/s | %% of ceiling |\n");
        printf("| ------: | --------: | ----------: | -----: | -----------: |\n");
    }
    int rc = CLI_OK;
    for (int i = 0; i < op->n_threads && rc == CLI_OK; i++) {
        double bw = 0;
        hearth_status st = measure_membw(buf, bytes, op->threads[i], &bw);
        if (st < 0) {
            rc = cli_status_error("bench", st);
            break;
        }
        double ceiling = bw / tok_bytes;
        double pct = tr[i].tg_ts > 0 && ceiling > 0 ? 100.0 * tr[i].tg_ts / ceiling : 0;
        if (!o->json) {
            char tg[32] = "-", pc[32] = "-";
            if (tr[i].tg_ts > 0) {
                snprintf(tg, sizeof tg, "%.2f", tr[i].tg_ts);
                snprintf(pc, sizeof pc, "%.1f %%", pct);
            }
            printf("| %d | %.2f | %.2f | %s | %s |\n", (int)op->threads[i], bw / 1e9, ceiling, tg, pc);
            fflush(stdout);
            continue;
        }
        json_t *j = json_base(o, op->threads[i], "membw");
        if (j) {
            json_object_set_new(j, "buffer_bytes", json_integer((json_int_t)bytes));
            json_object_set_new(j, "membw_gbps", json_real(bw / 1e9));
            json_object_set_new(j, "decode_weight_bytes", json_integer((json_int_t)o->mi->decode_bytes));
            json_object_set_new(j, "kv_bytes_per_pos", json_integer((json_int_t)o->mi->kv_bytes_pos));
            json_object_set_new(j, "avg_ctx", json_real(avg_ctx));
            json_object_set_new(j, "bytes_per_token", json_real(tok_bytes));
            json_object_set_new(j, "ceiling_ts", json_real(ceiling));
            json_object_set_new(j, "tg_ts", tr[i].tg_ts > 0 ? json_real(tr[i].tg_ts) : json_null());
            json_object_set_new(j, "pct_of_ceiling", tr[i].tg_ts > 0 ? json_real(pct) : json_null());
        }
        rc = json_emit(j);
    }
    hearth_free_aligned(buf);
    return rc;
}

/* Returns the exit status. Blocks for the whole benchmark. */
int cmd_bench(int argc, char **argv) {
    bench_opts op;
    memset(&op, 0, sizeof op);
    op.n_prompt = 512;
    op.n_gen = 128;
    op.reps = 5;
    bool done = false;
    int rc = parse_opts(argc, argv, &op, &done);
    if (rc != CLI_OK || done) return rc;

    hearth_model *m = NULL;
    hearth_context *c = NULL;
    int32_t *ids = NULL;
    float *logits = NULL;
    double *samples = NULL;
    thread_result *tr = NULL;
    double t_load = 0, t_ctx = 0;
    uint64_t ctx_bytes_max = 0, kv_bytes = 0;
    /* the executable and its libraries, which the budget below does not cover */
    uint64_t rss_base = peak_rss_bytes();
    if ((rc = cli_load_model("bench", op.model, &m, &t_load)) != CLI_OK) goto done;
    const hearth_hparams *hp = hearth_model_hparams(m);
    if (hp->arch == HEARTH_ARCH_BERT) {
        cli_error("bench", "%s is an embedding model (%s); bench measures decoder models", op.model, hp->arch_name);
        rc = CLI_FAIL;
        goto done;
    }
    model_info mi;
    model_info_get(m, op.model, &mi);
    bench_out out = {op.json, &mi, hearth_kernels_isa()};

    int32_t n_ctx = op.n_prompt;
    if (op.n_gen + 1 > n_ctx) n_ctx = op.n_gen + 1;
    if (op.ttft > n_ctx) n_ctx = op.ttft;
    ids = hearth_malloc((size_t)n_ctx * sizeof *ids);
    logits = hearth_malloc((size_t)hp->n_vocab * sizeof *logits);
    samples = hearth_malloc((size_t)op.reps * sizeof *samples);
    tr = hearth_calloc((size_t)op.n_threads, sizeof *tr);
    if (!ids || !logits || !samples || !tr) {
        cli_error("bench", "out of memory");
        rc = CLI_FAIL;
        goto done;
    }
    random_ids(ids, n_ctx, hp->n_vocab);

    if (!op.json && (op.n_prompt > 0 || op.n_gen > 0)) {
        printf("| model | size | params | isa | threads | test | t/s |\n");
        printf("| ----- | ---: | -----: | --- | ------: | ---- | --: |\n");
        fflush(stdout);
    }
    for (int ti = 0; ti < op.n_threads; ti++) {
        double t0 = cli_now();
        hearth_context_opts co = {n_ctx, 1, op.threads[ti], op.kv_type};
        hearth_status st = hearth_context_new_opts(m, &co, &c);
        if (ti == 0) t_ctx = cli_now() - t0;
        if (st < 0) {
            c = NULL;
            rc = cli_status_error("bench", st);
            goto done;
        }
        if (hearth_context_bytes(c) > ctx_bytes_max) ctx_bytes_max = hearth_context_bytes(c);
        /* the cache's real size, whatever its element type */
        kv_bytes = hearth_context_kv_bytes(c);
        mi.kv_bytes_pos = kv_bytes / (uint64_t)hearth_context_n_ctx(c);
        bench_run run = {c, ids, logits};
        char test[48];
        if (op.n_prompt > 0) {
            if ((st = run_test(&run, false, op.n_prompt, op.reps, false, samples)) < 0) {
                rc = cli_status_error("bench", st);
                goto done;
            }
            snprintf(test, sizeof test, "pp%d", (int)op.n_prompt);
            if ((rc = emit_speed(&out, op.threads[ti], test, op.n_prompt, 0, samples, op.reps)) != CLI_OK) goto done;
        }
        if (op.n_gen > 0) {
            if ((st = run_test(&run, true, op.n_gen, op.reps, false, samples)) < 0) {
                rc = cli_status_error("bench", st);
                goto done;
            }
            snprintf(test, sizeof test, "tg%d", (int)op.n_gen);
            tr[ti].tg_ts = stats_of(samples, op.reps).mean;
            if ((rc = emit_speed(&out, op.threads[ti], test, 0, op.n_gen, samples, op.reps)) != CLI_OK) goto done;
        }
        if (op.ttft > 0) {
            if ((st = run_test(&run, false, op.ttft, op.reps, true, samples)) < 0) {
                rc = cli_status_error("bench", st);
                goto done;
            }
            stats s = stats_of(samples, op.reps);
            tr[ti].ttft_ms = s.mean;
            tr[ti].ttft_sd = s.sd;
        }
        hearth_context_free(c);
        c = NULL;
    }

    /* ttft gets its own table: its unit is ms, not t/s */
    if (op.ttft > 0) {
        if (!op.json) {
            printf("\n| threads | test | ms |\n| ------: | ---- | -: |\n");
            for (int ti = 0; ti < op.n_threads; ti++)
                printf("| %d | ttft%d | %.1f ± %.1f |\n", (int)op.threads[ti], (int)op.ttft, tr[ti].ttft_ms,
                       tr[ti].ttft_sd);
        } else {
            for (int ti = 0; ti < op.n_threads; ti++) {
                char test[48];
                snprintf(test, sizeof test, "ttft%d", (int)op.ttft);
                json_t *j = json_base(&out, op.threads[ti], test);
                if (j) {
                    json_object_set_new(j, "n_prompt", json_integer(op.ttft));
                    json_object_set_new(j, "reps", json_integer(op.reps));
                    json_object_set_new(j, "avg_ms", json_real(tr[ti].ttft_ms));
                    json_object_set_new(j, "stddev_ms", json_real(tr[ti].ttft_sd));
                }
                if ((rc = json_emit(j)) != CLI_OK) goto done;
            }
        }
    }

    /* before --membw, whose buffer would dominate the peak */
    uint64_t rss = peak_rss_bytes();
    double budget = (double)rss_base + 1.1 * ((double)mi.weight_bytes + (double)ctx_bytes_max);
    if (!op.json) {
        printf("\nload ms: %.1f (model %.1f + context %.1f)\n", (t_load + t_ctx) * 1e3, t_load * 1e3, t_ctx * 1e3);
        printf("peak RSS MiB: %.1f (process before loading %.1f + (weights %.1f + KV cache %.2f (%s) + scratch %.1f) "
               "* 1.1 = %.1f: %s)\n",
               (double)rss / 1048576.0, (double)rss_base / 1048576.0, (double)mi.weight_bytes / 1048576.0,
               (double)kv_bytes / 1048576.0, op.kv_type == HEARTH_TYPE_F16 ? "f16" : "f32",
               (double)(ctx_bytes_max - kv_bytes) / 1048576.0, budget / 1048576.0,
               (double)rss <= budget ? "within" : "over");
        fflush(stdout);
    } else {
        json_t *j = json_base(&out, 0, "load");
        if (j) {
            json_object_set_new(j, "load_ms", json_real((t_load + t_ctx) * 1e3));
            json_object_set_new(j, "model_load_ms", json_real(t_load * 1e3));
            json_object_set_new(j, "context_ms", json_real(t_ctx * 1e3));
            json_object_set_new(j, "context_bytes", json_integer((json_int_t)ctx_bytes_max));
            json_object_set_new(j, "kv_bytes", json_integer((json_int_t)kv_bytes));
            json_object_set_new(j, "kv_type", json_string(op.kv_type == HEARTH_TYPE_F16 ? "f16" : "f32"));
            json_object_set_new(j, "peak_rss_mib", json_real((double)rss / 1048576.0));
            json_object_set_new(j, "base_rss_mib", json_real((double)rss_base / 1048576.0));
            json_object_set_new(j, "rss_budget_mib", json_real(budget / 1048576.0));
        }
        if ((rc = json_emit(j)) != CLI_OK) goto done;
    }
    if (op.membw) rc = report_membw(&out, &op, tr);
    else rc = CLI_OK;
done:
    hearth_context_free(c);
    hearth_free(tr);
    hearth_free(samples);
    hearth_free(logits);
    hearth_free(ids);
    hearth_model_free(m);
    return rc;
}
