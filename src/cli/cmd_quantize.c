/* cmd_quantize.c - `hearth quantize`: convert a GGUF model to a quantized
 * type mix, as llama-quantize does (same recipe, same bytes).
 *
 * One line per tensor goes to stderr as it is written, then a summary; the
 * output file appears only when the whole run succeeded. */
#include <inttypes.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "hearth/quant.h"
#include "hearth/quantize.h"

void cmd_quantize_usage(FILE *f) {
    fprintf(f,
            "usage: hearth quantize IN.gguf OUT.gguf TYPE [options]\n"
            "\n"
            "Writes OUT.gguf with the tensors of IN.gguf converted to TYPE, choosing each\n"
            "tensor's type as llama-quantize does (e.g. Q4_K_M keeps output.weight and some\n"
            "attn_v/ffn_down layers in Q6_K; norms stay F32). IN must hold F32, F16 or BF16\n"
            "weights. OUT is written as OUT.tmp and renamed when complete.\n"
            "\n"
            "TYPE: %s\n"
            "\n"
            "options:\n"
            "  -t, --threads N   threads (default: physical cores)\n"
            "  --pure            every matrix in TYPE's base type (no per-tensor mix)\n"
            "  -q, --quiet       no per-tensor lines\n"
            "  -h, --help        this help\n"
            "\n"
            "example: hearth quantize model-f16.gguf model-q4_k_m.gguf Q4_K_M\n",
            hearth_quantize_target_names());
}

typedef struct progress_state {
    bool quiet;
} progress_state;

/* Formats ne as "256 x 512". */
static void shape_text(const hearth_quantize_tensor_info *t, char *buf, size_t cap) {
    size_t used = 0;
    buf[0] = '\0';
    for (uint32_t d = 0; d < t->n_dims && used < cap; d++)
        used += (size_t)snprintf(buf + used, cap - used, d ? " x %" PRId64 : "%" PRId64, t->ne[d]);
}

/* Prints one line per tensor on stderr. */
static void on_tensor(void *user, const hearth_quantize_tensor_info *t) {
    const progress_state *ps = user;
    if (ps->quiet) return;
    char shape[96];
    shape_text(t, shape, sizeof shape);
    fprintf(stderr, "[%4" PRIu64 "/%4" PRIu64 "] %-32s %-18s %6s -> %-6s %9.3f MB -> %9.3f MB", t->index + 1, t->count,
            t->name, shape, hearth_type_name(t->from_type), hearth_type_name(t->to_type),
            (double)t->from_bytes / (1024.0 * 1024.0), (double)t->to_bytes / (1024.0 * 1024.0));
    if (t->fallback)
        fprintf(stderr, "  (fallback: rows of %" PRId64 " do not fit %s)", t->ne[0], hearth_type_name(t->wanted_type));
    else if (!t->converted)
        fprintf(stderr, "  (copied)");
    fputc('\n', stderr);
}

/* OUT.tmp while a run is in progress, for the signal handler. */
static char tmp_out[4096];

/* On SIGINT/SIGTERM/SIGHUP/SIGPIPE: removes the partial OUT.tmp, then dies
 * of the same signal. Only async-signal-safe calls. */
static void on_signal(int sig) {
    if (tmp_out[0]) unlink(tmp_out);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Makes an interrupted run clean up its temporary file. */
static void install_cleanup(const char *out) {
    if ((size_t)snprintf(tmp_out, sizeof tmp_out, "%s.tmp", out) >= sizeof tmp_out) {
        tmp_out[0] = '\0';
        return;
    }
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE};
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &sa, NULL);
}

/* Returns the exit status. Blocks on file I/O and CPU. */
int cmd_quantize(int argc, char **argv) {
    cli_args a = {argc, argv, 1, "quantize"};
    const char *pos[3] = {NULL, NULL, NULL};
    int n_pos = 0;
    int32_t threads = 0;
    bool pure = false;
    progress_state ps = {false};
    for (; a.i < argc; a.i++) {
        const char *v;
        int r;
        if (cli_is_help(&a)) {
            cmd_quantize_usage(stdout);
            return CLI_OK;
        }
        if ((r = cli_opt(&a, "-t", "--threads", &v)) != 0) {
            if (r < 0 || cli_parse_i32("--threads", v, 1, 256, &threads) < 0) return CLI_USAGE;
        } else if (cli_flag(&a, NULL, "--pure")) {
            pure = true;
        } else if (cli_flag(&a, "-q", "--quiet")) {
            ps.quiet = true;
        } else if (argv[a.i][0] != '-' && n_pos < 3) {
            pos[n_pos++] = argv[a.i];
        } else {
            return cli_unknown(&a);
        }
    }
    if (n_pos < 3) {
        cli_error(a.cmd, "expected IN.gguf OUT.gguf TYPE (see hearth quantize --help)");
        return CLI_USAGE;
    }
    uint32_t ftype, base;
    if (hearth_quantize_parse_target(pos[2], &ftype, &base) != HEARTH_OK) {
        cli_error(a.cmd, "%s", hearth_error_last());
        return CLI_USAGE;
    }
    int rc = cli_check_model_path(a.cmd, pos[0]);
    if (rc != CLI_OK) return rc;

    fprintf(stderr, "hearth: quantize: %s -> %s as %s%s\n", pos[0], pos[1], pos[2], pure ? " (pure)" : "");
    install_cleanup(pos[1]);
    double t0 = cli_now();
    hearth_quantize_stats s;
    hearth_status st = hearth_quantize_file(pos[0], pos[1], pos[2], threads, pure, on_tensor, &ps, &s);
    if (st != HEARTH_OK) return cli_status_error(a.cmd, st);
    double secs = cli_now() - t0;
    fprintf(stderr,
            "hearth: quantize: %" PRIu64 " tensors (%" PRIu64 " converted, %" PRIu64 " fallbacks); "
            "tensors %.2f MB -> %.2f MB; file %.2f MB -> %.2f MB; %.2f s\n",
            s.n_tensors, s.n_converted, s.n_fallback, (double)s.in_tensor_bytes / (1024.0 * 1024.0),
            (double)s.out_tensor_bytes / (1024.0 * 1024.0), (double)s.in_file_bytes / (1024.0 * 1024.0),
            (double)s.out_file_bytes / (1024.0 * 1024.0), secs);
    return CLI_OK;
}
