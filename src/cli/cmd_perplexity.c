/* cmd_perplexity.c - `hearth perplexity`: llama-perplexity's measurement.
 *
 * The text is tokenized with BOS and cut into n_tokens / CTX chunks. Each
 * chunk starts with BOS (its first token is replaced), runs in a fresh cache,
 * and positions CTX/2 .. CTX-2 are scored on the next token: the model
 * already has at least half a window of context there, which is the point of
 * scoring only the second half. */
#include <math.h>
#include <string.h>

#include "cli/cli.h"
#include "hearth/alloc.h"
#include "hearth/model.h"
#include "hearth/quant.h"
#include "hearth/tokenizer.h"

void cmd_perplexity_usage(FILE *f) {
    fprintf(f,
            "usage: hearth perplexity -m MODEL -f FILE [options]\n"
            "\n"
            "Perplexity of the text in FILE, computed as llama-perplexity does: chunks of\n"
            "CTX tokens, each starting with BOS in a fresh cache, the second half of each\n"
            "chunk scored. Prints the running value per chunk, then\n"
            "  PPL = <value> +/- <standard error>\n"
            "\n"
            "options:\n"
            "  -m, --model FILE     GGUF model (or give it as the first argument)\n"
            "  -f, --file FILE      text to score (at least 2*CTX tokens)\n"
            "  -p, --prompt TEXT    score TEXT instead of a file\n"
            "  -c, --ctx-size N     chunk length (default 512)\n"
            "      --cache-type T   KV cache type: f32 (default) or f16 (llama.cpp's default)\n"
            "  -t, --threads N      threads (default: physical cores)\n"
            "  -h, --help           this help\n");
}

/* Returns the exit status. Blocks while evaluating. */
int cmd_perplexity(int argc, char **argv) {
    cli_args a = {argc, argv, 1, "perplexity"};
    const char *model = NULL, *prompt = NULL, *file = NULL;
    int32_t n_ctx = 512, n_threads = 0;
    uint32_t kv_type = HEARTH_TYPE_F32;
    for (; a.i < argc; a.i++) {
        const char *v;
        int r;
        if (cli_is_help(&a)) {
            cmd_perplexity_usage(stdout);
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
        } else if ((r = cli_opt(&a, "-c", "--ctx-size", &v)) != 0) {
            if (r < 0 || cli_parse_i32("-c", v, 4, 1 << 20, &n_ctx) < 0) return CLI_USAGE;
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
    char *text = NULL;
    size_t len = 0;
    int rc = cli_get_text(a.cmd, prompt, file, &text, &len);
    if (rc != CLI_OK) return rc;

    hearth_model *m = NULL;
    hearth_context *c = NULL;
    int32_t *ids = NULL, *chunk = NULL;
    size_t n_ids = 0;
    float *logits = NULL;
    if ((rc = cli_load_model(a.cmd, model, &m, NULL)) != CLI_OK) goto done;
    const hearth_hparams *hp = hearth_model_hparams(m);
    const hearth_vocab *v = hearth_model_vocab(m);
    if (hp->arch == HEARTH_ARCH_BERT) {
        cli_error(a.cmd, "%s is an embedding model (%s); perplexity needs a language model", model,
                  hp->arch_name);
        rc = CLI_FAIL;
        goto done;
    }
    hearth_status st = hearth_tokenize(v, text, len, true, false, &ids, &n_ids);
    if (st < 0) {
        rc = cli_status_error(a.cmd, st);
        goto done;
    }
    if (n_ids < 2 * (size_t)n_ctx) {
        cli_error(a.cmd, "the text is too short: %zu tokens, need at least %d (2 x context %d); use a longer "
                  "text or a smaller -c", n_ids, 2 * (int)n_ctx, (int)n_ctx);
        rc = CLI_FAIL;
        goto done;
    }
    hearth_context_opts co = {n_ctx, 1, n_threads, kv_type};
    st = hearth_context_new_opts(m, &co, &c);
    if (st < 0) {
        rc = cli_status_error(a.cmd, st);
        goto done;
    }
    const size_t nv = (size_t)hp->n_vocab;
    logits = hearth_malloc((size_t)n_ctx * nv * sizeof *logits);
    chunk = hearth_malloc((size_t)n_ctx * sizeof *chunk);
    if (!logits || !chunk) {
        cli_error(a.cmd, "out of memory for %d x %zu logits", (int)n_ctx, nv);
        rc = CLI_FAIL;
        goto done;
    }
    const size_t n_chunk = n_ids / (size_t)n_ctx;
    const int32_t first = n_ctx / 2;
    const int32_t bos = hearth_vocab_bos(v);
    const bool add_bos = hearth_vocab_add_bos(v) && bos >= 0;
    fprintf(stderr, "hearth: perplexity: %zu tokens, %zu chunks of %d, scoring positions %d..%d of each\n", n_ids,
            n_chunk, (int)n_ctx, (int)first, (int)n_ctx - 2);

    double nll = 0.0, nll2 = 0.0;
    size_t count = 0;
    double t0 = cli_now();
    for (size_t k = 0; k < n_chunk; k++) {
        memcpy(chunk, ids + k * (size_t)n_ctx, (size_t)n_ctx * sizeof *chunk);
        if (add_bos) chunk[0] = bos;
        hearth_context_truncate(c, 0);
        st = hearth_eval(c, chunk, n_ctx, logits, true);
        if (st < 0) {
            putchar('\n');
            rc = cli_status_error(a.cmd, st);
            goto done;
        }
        for (int32_t i = first; i < n_ctx - 1; i++) {
            const float *row = logits + (size_t)i * nv;
            double mx = -INFINITY;
            for (size_t j = 0; j < nv; j++)
                if (row[j] > mx) mx = row[j];
            double sum = 0.0;
            for (size_t j = 0; j < nv; j++) sum += exp((double)row[j] - mx);
            int32_t target = chunk[i + 1];
            if (target < 0 || (size_t)target >= nv) {
                putchar('\n');
                cli_error(a.cmd, "token %d is outside the model's %zu logits", (int)target, nv);
                rc = CLI_FAIL;
                goto done;
            }
            double l = mx + log(sum) - (double)row[target];
            nll += l;
            nll2 += l * l;
            count++;
        }
        printf("[%zu]%.4f,", k + 1, exp(nll / (double)count));
        fflush(stdout);
        if (k == 0) {
            double dt = cli_now() - t0;
            fprintf(stderr, "hearth: perplexity: %.2f s per chunk, about %.1f s in all\n", dt,
                    dt * (double)n_chunk);
        }
    }
    putchar('\n');
    double mean = nll / (double)count;
    double ppl = exp(mean);
    double var = nll2 / (double)count - mean * mean;
    /* llama-perplexity's estimate: standard error of the mean NLL, carried
     * to PPL by the derivative of exp */
    double err = (var > 0.0 && count > 1) ? sqrt(var / (double)(count - 1)) * ppl : 0.0;
    printf("PPL = %.4f +/- %.5f\n", ppl, err);
    fprintf(stderr, "hearth: perplexity: %zu predictions in %.2f s\n", count, cli_now() - t0);
    rc = CLI_OK;
done:
    hearth_free(logits);
    hearth_free(chunk);
    hearth_free(ids);
    hearth_context_free(c);
    hearth_model_free(m);
    hearth_free(text);
    return rc;
}
