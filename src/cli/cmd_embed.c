/* cmd_embed.c - `hearth embed`: the pooled, L2-normalised embedding of a
 * text as a JSON array of floats. */
#include <string.h>

#include "cli/cli.h"
#include "hearth/alloc.h"
#include "hearth/model.h"
#include "hearth/tokenizer.h"

void cmd_embed_usage(FILE *f) {
    fprintf(f,
            "usage: hearth embed -m MODEL (-p TEXT | -f FILE) [options]\n"
            "\n"
            "Prints the sentence embedding of TEXT (the model's pooling, for decoder\n"
            "models the mean of the last hidden states), L2-normalised, as a JSON array.\n"
            "\n"
            "options:\n"
            "  -m, --model FILE     GGUF model (or give it as the first argument)\n"
            "  -p, --prompt TEXT    text to embed\n"
            "  -f, --file FILE      read the text from FILE\n"
            "  --no-normalize       print the pooled vector without L2 normalisation\n"
            "  -c, --ctx-size N     context length (default: the text length)\n"
            "  -t, --threads N      threads (default: physical cores)\n"
            "  -h, --help           this help\n");
}

/* Returns the exit status. Blocks on file I/O and while evaluating. */
int cmd_embed(int argc, char **argv) {
    cli_args a = {argc, argv, 1, "embed"};
    const char *model = NULL, *prompt = NULL, *file = NULL;
    int32_t n_ctx = 0, n_threads = 0;
    bool normalize = true;
    for (; a.i < argc; a.i++) {
        const char *v;
        int r;
        if (cli_is_help(&a)) {
            cmd_embed_usage(stdout);
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
            if (r < 0 || cli_parse_i32("-c", v, 0, 1 << 24, &n_ctx) < 0) return CLI_USAGE;
        } else if ((r = cli_opt(&a, "-t", "--threads", &v)) != 0) {
            if (r < 0 || cli_parse_i32("-t", v, 0, 1024, &n_threads) < 0) return CLI_USAGE;
        } else if (cli_flag(&a, NULL, "--no-normalize")) {
            normalize = false;
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
    int32_t *ids = NULL;
    size_t n_ids = 0;
    float *emb = NULL;
    if ((rc = cli_load_model(a.cmd, model, &m, NULL)) != CLI_OK) goto done;
    const hearth_hparams *hp = hearth_model_hparams(m);
    if ((rc = cli_tokenize_prompt(a.cmd, m, text, len, "text", &n_ctx, &ids, &n_ids)) != CLI_OK) goto done;
    hearth_status st = hearth_context_new(m, n_ctx, n_threads, &c);
    if (st < 0) {
        rc = cli_status_error(a.cmd, st);
        goto done;
    }
    emb = hearth_malloc((size_t)hp->n_embd * sizeof *emb);
    if (!emb) {
        rc = cli_status_error(a.cmd, HEARTH_ERR_NOMEM);
        goto done;
    }
    st = hearth_embed(c, ids, (int32_t)n_ids, NULL, emb, normalize);
    if (st < 0) {
        rc = cli_status_error(a.cmd, st);
        goto done;
    }
    putchar('[');
    for (int32_t i = 0; i < hp->n_embd; i++) printf(i ? ", %.9g" : "%.9g", (double)emb[i]);
    puts("]");
    rc = CLI_OK;
done:
    hearth_free(emb);
    hearth_free(ids);
    hearth_context_free(c);
    hearth_model_free(m);
    hearth_free(text);
    return rc;
}
