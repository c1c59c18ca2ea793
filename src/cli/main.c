/* main.c - the hearth command (placeholder until the CLI lands). */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    (void)argv;
    if (argc < 2) {
        fprintf(stderr, "usage: hearth <run|tokenize|perplexity|embed|logits|info> ...\n");
        return 2;
    }
    fprintf(stderr, "hearth: not implemented yet\n");
    return 1;
}
