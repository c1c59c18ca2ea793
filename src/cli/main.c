/* main.c - the hearth command: dispatches to a subcommand. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    void (*usage)(FILE *f);
    const char *summary;
} command;

static const command commands[] = {
    {"run", cmd_run, cmd_run_usage, "chat with a model, or complete a prompt (-p)"},
    {"tokenize", cmd_tokenize, cmd_tokenize_usage, "print the token ids of a text"},
    {"perplexity", cmd_perplexity, cmd_perplexity_usage, "perplexity of a text (llama-perplexity's rule)"},
    {"embed", cmd_embed, cmd_embed_usage, "print the normalised embedding of a text"},
    {"logits", cmd_logits, cmd_logits_usage, "write the logits of every prompt position to a file"},
    {"info", cmd_info, cmd_info_usage, "show a GGUF file's metadata and tensors"},
    {"quantize", cmd_quantize, cmd_quantize_usage, "convert a GGUF to a quantized type (llama-quantize's recipe)"},
    {"bench", cmd_bench, cmd_bench_usage, "prompt and generation speed (llama-bench style)"},
    {"serve", cmd_serve, cmd_serve_usage, "OpenAI-compatible HTTP server"},
};
enum { N_COMMANDS = sizeof commands / sizeof commands[0] };

/* Writes the top-level usage to f. */
static void usage(FILE *f) {
    fprintf(f,
            "hearth %s - run GGUF language models on the CPU\n"
            "\n"
            "usage: hearth <command> [options]\n"
            "\n"
            "commands:\n",
            HEARTH_VERSION_STRING);
    for (int i = 0; i < N_COMMANDS; i++) fprintf(f, "  %-11s %s\n", commands[i].name, commands[i].summary);
    fprintf(f,
            "\n"
            "  hearth <command> --help    options of a command\n"
            "  hearth --version           version\n"
            "\n"
            "example: hearth run -m model.gguf -p \"Once upon a time\" -n 64\n");
}

static const command *find(const char *name) {
    for (int i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0) return &commands[i];
    return NULL;
}

/* Returns the exit status of the chosen subcommand (2 for a usage error). */
int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0) {
        usage(stdout);
        return CLI_OK;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0 || strcmp(name, "version") == 0) {
        printf("hearth %s\n", HEARTH_VERSION_STRING);
        return CLI_OK;
    }
    if (strcmp(name, "help") == 0) {
        if (argc < 3) {
            usage(stdout);
            return CLI_OK;
        }
        const command *c = find(argv[2]);
        if (!c) {
            fprintf(stderr, "hearth: help: unknown command '%s' (see hearth --help)\n", argv[2]);
            return CLI_USAGE;
        }
        c->usage(stdout);
        return CLI_OK;
    }
    const command *c = find(name);
    if (!c) {
        if (name[0] == '-')
            fprintf(stderr, "hearth: unknown option '%s': give a command first (see hearth --help)\n", name);
        else
            fprintf(stderr, "hearth: unknown command '%s' (see hearth --help)\n", name);
        return CLI_USAGE;
    }
    int rc = c->run(argc - 1, argv + 1);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "hearth: %s: cannot write output\n", name);
        if (rc == CLI_OK) rc = CLI_FAIL;
    }
    return rc;
}
