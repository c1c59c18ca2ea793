/* cmd_tokenize.c - `hearth tokenize`: token ids of a text as a JSON array.
 *
 * Only the vocabulary is loaded (no weights), so this works on vocab-only
 * GGUF files too. */
#include <string.h>

#include "cli/cli.h"
#include "hearth/alloc.h"
#include "hearth/gguf.h"
#include "hearth/tokenizer.h"

void cmd_tokenize_usage(FILE *f) {
    fprintf(f,
            "usage: hearth tokenize -m MODEL (-p TEXT | -f FILE) [options]\n"
            "\n"
            "Prints the token ids of TEXT as a JSON array on one line, e.g. [1, 403, 407].\n"
            "MODEL may be any GGUF with a tokenizer, including vocab-only files.\n"
            "\n"
            "options:\n"
            "  -m, --model FILE     GGUF file (or give it as the first argument)\n"
            "  -p, --prompt TEXT    text to tokenize\n"
            "  -f, --file FILE      read the text from FILE (bytes as they are)\n"
            "  --add-special        add BOS/EOS (CLS/SEP for WordPiece) as the vocab says\n"
            "  --parse-special      match control-token texts such as <s> in the input\n"
            "  -h, --help           this help\n");
}

/* Returns the exit status. Blocks on file I/O. */
int cmd_tokenize(int argc, char **argv) {
    cli_args a = {argc, argv, 1, "tokenize"};
    const char *model = NULL, *prompt = NULL, *file = NULL;
    bool add_special = false, parse_special = false;
    for (; a.i < argc; a.i++) {
        const char *v;
        int r;
        if (cli_is_help(&a)) {
            cmd_tokenize_usage(stdout);
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
        } else if (cli_flag(&a, NULL, "--add-special")) {
            add_special = true;
        } else if (cli_flag(&a, NULL, "--parse-special")) {
            parse_special = true;
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
    if ((rc = cli_check_model_path(a.cmd, model)) != CLI_OK) {
        hearth_free(text);
        return rc;
    }

    hearth_gguf *g = NULL;
    hearth_vocab *vocab = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    hearth_status st = hearth_gguf_open(model, &g);
    if (st < 0) {
        rc = cli_status_error(a.cmd, st);
        goto out;
    }
    st = hearth_vocab_load(g, &vocab);
    if (st < 0) {
        rc = cli_status_error(a.cmd, st);
        goto out;
    }
    st = hearth_tokenize(vocab, text, len, add_special, parse_special, &ids, &n_ids);
    if (st < 0) {
        rc = cli_status_error(a.cmd, st);
        goto out;
    }
    cli_print_ids(stdout, ids, n_ids);
    rc = CLI_OK;
out:
    hearth_free(ids);
    hearth_vocab_free(vocab);
    hearth_gguf_free(g);
    hearth_free(text);
    return rc;
}
