/* cmd_logits.c - `hearth logits`: the logits of every prompt position,
 * written as raw little-endian float32 [n_tokens][n_vocab] (the layout of the
 * reference .logits.f32 files). */
#include <errno.h>
#include <string.h>

#include "cli/cli.h"
#include "hearth/alloc.h"
#include "hearth/model.h"
#include "hearth/quant.h"
#include "hearth/tokenizer.h"

void cmd_logits_usage(FILE *f) {
    fprintf(f,
            "usage: hearth logits -m MODEL (-p TEXT | -f FILE) -o OUT.f32 [options]\n"
            "\n"
            "Evaluates the prompt (with BOS as the vocab says, special tokens not parsed)\n"
            "in one batch and writes the logits of every position to OUT as little-endian\n"
            "float32, row-major [n_tokens][n_vocab]. Prints the token ids as a JSON array.\n"
            "\n"
            "options:\n"
            "  -m, --model FILE     GGUF model (or give it as the first argument)\n"
            "  -p, --prompt TEXT    prompt text\n"
            "  -f, --file FILE      read the prompt from FILE\n"
            "  -o, --output FILE    where to write the logits\n"
            "  -c, --ctx-size N     context length (default: the prompt length)\n"
            "      --cache-type T   KV cache type: f32 (default) or f16 (llama.cpp's default)\n"
            "  -t, --threads N      threads (default: physical cores)\n"
            "  -h, --help           this help\n");
}

/* Writes n floats little-endian; returns 0 or -1 (errno set). */
static int write_f32le(FILE *f, const float *x, size_t n) {
    const uint16_t probe = 1;
    if (*(const uint8_t *)&probe == 1) return fwrite(x, sizeof *x, n, f) == n ? 0 : -1;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        uint8_t b[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
        if (fwrite(b, 1, 4, f) != 4) return -1;
    }
    return 0;
}

/* Returns the exit status. Blocks on file I/O and while evaluating. */
int cmd_logits(int argc, char **argv) {
    cli_args a = {argc, argv, 1, "logits"};
    const char *model = NULL, *prompt = NULL, *file = NULL, *outpath = NULL;
    int32_t n_ctx = 0, n_threads = 0;
    uint32_t kv_type = HEARTH_TYPE_F32;
    for (; a.i < argc; a.i++) {
        const char *v;
        int r;
        if (cli_is_help(&a)) {
            cmd_logits_usage(stdout);
            return CLI_OK;
        }
        if ((r = cli_opt(&a, "-m", "--model", &v)) != 0) {
            if (r < 0) return CLI_USAGE;
            model = v;
        } else if ((r = cli_opt(&a, "-p", "--prompt", &v)) != 0) {
            if (r < 0) return CLI_USAGE;
            prompt = v;
        } else if ((r = cli_opt(&a, "-f", "--file", &v)) != 0) {
            if (r < 0) return CLI_USAGE;
            file = v;
        } else if ((r = cli_opt(&a, "-o", "--output", &v)) != 0) {
            if (r < 0) return CLI_USAGE;
            outpath = v;
        } else if ((r = cli_opt(&a, "-c", "--ctx-size", &v)) != 0) {
            if (r < 0 || cli_parse_i32("-c", v, 0, 1 << 24, &n_ctx) < 0) return CLI_USAGE;
        } else if ((r = cli_opt(&a, "-t", "--threads", &v)) != 0) {
            if (r < 0 || cli_parse_i32("-t", v, 0, 1024, &n_threads) < 0) return CLI_USAGE;
        } else if ((r = cli_opt(&a, NULL, "--cache-type", &v)) != 0) {
            if (r < 0 || cli_parse_cache_type("--cache-type", v, &kv_type) < 0) return CLI_USAGE;
        } else if (argv[a.i][0] != '-' && !model) {
            model = argv[a.i];
        } else {
            return cli_unknown(&a);
        }
    }
    if (!model) return cli_no_model(a.cmd);
    if (!outpath) {
        cli_error(a.cmd, "no output file: give -o OUT.f32");
        return CLI_USAGE;
    }
    char *text = NULL;
    size_t len = 0;
    int rc = cli_get_text(a.cmd, prompt, file, &text, &len);
    if (rc != CLI_OK) return rc;

    hearth_model *m = NULL;
    hearth_context *c = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    float *logits = NULL;
    FILE *out = NULL;
    if ((rc = cli_load_model(a.cmd, model, &m, NULL)) != CLI_OK) goto done;
    const hearth_hparams *hp = hearth_model_hparams(m);
    if (hp->arch == HEARTH_ARCH_BERT) {
        cli_error(a.cmd, "%s is an embedding model (%s) without logits; use hearth embed", model, hp->arch_name);
        rc = CLI_FAIL;
        goto done;
    }
    if ((rc = cli_tokenize_prompt(a.cmd, m, text, len, "prompt", &n_ctx, &ids, &n_ids)) != CLI_OK) goto done;
    hearth_context_opts co = {n_ctx, 1, n_threads, kv_type};
    hearth_status st = hearth_context_new_opts(m, &co, &c);
    if (st < 0) {
        rc = cli_status_error(a.cmd, st);
        goto done;
    }
    size_t n_vals = n_ids * (size_t)hp->n_vocab;
    logits = hearth_malloc(n_vals * sizeof *logits);
    if (!logits) {
        cli_error(a.cmd, "out of memory for %zu x %d logits", n_ids, (int)hp->n_vocab);
        rc = CLI_FAIL;
        goto done;
    }
    st = hearth_eval(c, ids, (int32_t)n_ids, logits, true);
    if (st < 0) {
        rc = cli_status_error(a.cmd, st);
        goto done;
    }
    out = fopen(outpath, "wb");
    if (!out) {
        cli_error(a.cmd, "cannot create '%s': %s", outpath, strerror(errno));
        rc = CLI_FAIL;
        goto done;
    }
    if (write_f32le(out, logits, n_vals) != 0 || fclose(out) != 0) {
        out = NULL;
        cli_error(a.cmd, "cannot write '%s': %s", outpath, strerror(errno));
        rc = CLI_FAIL;
        goto done;
    }
    out = NULL;
    cli_print_ids(stdout, ids, n_ids);
    rc = CLI_OK;
done:
    if (out) fclose(out);
    hearth_free(logits);
    hearth_free(ids);
    hearth_context_free(c);
    hearth_model_free(m);
    hearth_free(text);
    return rc;
}
