/* cmd_info.c - `hearth info`: what a GGUF file holds.
 *
 * Reads the file with the GGUF reader only (no model load), so it also
 * describes vocab-only files and architectures hearth cannot run. */
#include <inttypes.h>
#include <string.h>

#include "cli/cli.h"
#include "hearth/chat.h"
#include "hearth/gguf.h"
#include "hearth/quant.h"
#include "hearth/tokenizer.h"

void cmd_info_usage(FILE *f) {
    fprintf(f,
            "usage: hearth info -m MODEL [options]\n"
            "\n"
            "Shows a GGUF file's architecture, hyperparameters, tokenizer, chat template\n"
            "family and tensor table. Works on vocab-only files too.\n"
            "\n"
            "options:\n"
            "  -m, --model FILE   GGUF file (or give it as the first argument)\n"
            "  --no-tensors       leave out the tensor table\n"
            "  -h, --help         this help\n");
}

/* Prints one metadata value on the current line. */
static void print_value(const hearth_gguf_kv *kv) {
    switch (kv->type) {
    case HEARTH_GGUF_UINT8:
    case HEARTH_GGUF_UINT16:
    case HEARTH_GGUF_UINT32:
    case HEARTH_GGUF_UINT64: printf("%" PRIu64, kv->v.u64); break;
    case HEARTH_GGUF_INT8:
    case HEARTH_GGUF_INT16:
    case HEARTH_GGUF_INT32:
    case HEARTH_GGUF_INT64: printf("%" PRId64, kv->v.i64); break;
    case HEARTH_GGUF_FLOAT32:
    case HEARTH_GGUF_FLOAT64: printf("%.9g", kv->v.f64); break;
    case HEARTH_GGUF_BOOL: printf("%s", kv->v.u64 ? "true" : "false"); break;
    case HEARTH_GGUF_STRING:
        putchar('"');
        cli_print_escaped(stdout, kv->v.str.ptr, (size_t)kv->v.str.len, 80);
        putchar('"');
        break;
    case HEARTH_GGUF_ARRAY: {
        uint64_t n = kv->v.arr.n;
        printf("[%s x %" PRIu64 "]", hearth_gguf_vtype_name(kv->v.arr.elem_type), n);
        if (n > 0 && n <= 8 && kv->v.arr.elem_type != HEARTH_GGUF_STRING) {
            printf(" {");
            for (uint64_t i = 0; i < n; i++) {
                if (kv->v.arr.elem_type == HEARTH_GGUF_FLOAT32 || kv->v.arr.elem_type == HEARTH_GGUF_FLOAT64)
                    printf(i ? ", %g" : "%g", hearth_gguf_arr_f64(kv, i));
                else
                    printf(i ? ", %" PRId64 : "%" PRId64, hearth_gguf_arr_i64(kv, i));
            }
            printf("}");
        }
        break;
    }
    default: printf("?"); break;
    }
}

static bool has_prefix(hearth_str s, const char *prefix) {
    size_t n = strlen(prefix);
    return s.len >= n && memcmp(s.ptr, prefix, n) == 0;
}

/* Prints every key that starts with prefix (and, when skip is set, does not
 * start with skip). Returns how many. */
static int print_keys(const hearth_gguf *g, const char *prefix, const char *skip) {
    int n = 0;
    for (uint64_t i = 0; i < hearth_gguf_n_kv(g); i++) {
        const hearth_gguf_kv *kv = hearth_gguf_kv_at(g, i);
        if (!kv || !has_prefix(kv->key, prefix) || (skip && has_prefix(kv->key, skip))) continue;
        printf("  ");
        cli_print_escaped(stdout, kv->key.ptr, (size_t)kv->key.len, 0);
        printf(" = ");
        print_value(kv);
        putchar('\n');
        n++;
    }
    return n;
}

/* Prints " <id> "<text>"" for one special token, or nothing when absent. */
static void print_special(const hearth_vocab *v, const char *name, int32_t id) {
    if (id < 0) return;
    hearth_str t = hearth_vocab_token_text(v, id);
    printf("  %s = %d \"", name, (int)id);
    cli_print_escaped(stdout, t.ptr, (size_t)t.len, 40);
    printf("\"\n");
}

static const char *vocab_kind_name(hearth_vocab_kind k) {
    switch (k) {
    case HEARTH_VOCAB_SPM: return "SentencePiece (spm)";
    case HEARTH_VOCAB_BPE: return "byte-level BPE";
    case HEARTH_VOCAB_WPM: return "WordPiece (wpm)";
    default: return "none";
    }
}

static void print_bytes(uint64_t b) {
    if (b >= ((uint64_t)1 << 30)) printf("%.2f GiB", (double)b / (1u << 30));
    else if (b >= ((uint64_t)1 << 20)) printf("%.2f MiB", (double)b / (1u << 20));
    else if (b >= 1024) printf("%.2f KiB", (double)b / 1024.0);
    else printf("%" PRIu64 " B", b);
}

/* Returns the exit status. Blocks on file I/O. */
int cmd_info(int argc, char **argv) {
    cli_args a = {argc, argv, 1, "info"};
    const char *model = NULL;
    bool tensors = true;
    for (; a.i < argc; a.i++) {
        const char *v;
        int r;
        if (cli_is_help(&a)) {
            cmd_info_usage(stdout);
            return CLI_OK;
        }
        if ((r = cli_opt(&a, "-m", "--model", &v)) != 0) {
            if (r < 0) return CLI_USAGE;
            model = v;
        } else if (cli_flag(&a, NULL, "--no-tensors")) {
            tensors = false;
        } else if (argv[a.i][0] != '-' && !model) {
            model = argv[a.i];
        } else {
            return cli_unknown(&a);
        }
    }
    if (!model) return cli_no_model(a.cmd);
    int rc = cli_check_model_path(a.cmd, model);
    if (rc != CLI_OK) return rc;

    hearth_gguf *g = NULL;
    hearth_status st = hearth_gguf_open(model, &g);
    if (st < 0) return cli_status_error(a.cmd, st);

    printf("file: %s\n", model);
    printf("  size = %" PRIu64 " bytes (", hearth_gguf_file_size(g));
    print_bytes(hearth_gguf_file_size(g));
    printf("), GGUF version %u, alignment %" PRIu64 ", %" PRIu64 " metadata keys\n", hearth_gguf_version(g),
           hearth_gguf_alignment(g), hearth_gguf_n_kv(g));

    hearth_str arch = {"", 0};
    hearth_gguf_get_str(g, "general.architecture", &arch);
    printf("architecture: ");
    if (arch.len) cli_print_escaped(stdout, arch.ptr, (size_t)arch.len, 64);
    else printf("(none)");
    putchar('\n');

    printf("general:\n");
    print_keys(g, "general.", "general.architecture");
    if (arch.len && arch.len < 60) {
        char prefix[64];
        snprintf(prefix, sizeof prefix, "%.*s.", (int)arch.len, arch.ptr);
        printf("hyperparameters:\n");
        if (print_keys(g, prefix, NULL) == 0) printf("  (none)\n");
    }

    /* the tokenizer as hearth reads it; a file without one is fine */
    hearth_vocab *v = NULL;
    st = hearth_vocab_load(g, &v);
    if (st == HEARTH_OK) {
        printf("tokenizer: %s, model \"%s\", pre \"%s\", %d tokens\n", vocab_kind_name(hearth_vocab_kind_of(v)),
               hearth_vocab_model_name(v), hearth_vocab_pre_name(v), (int)hearth_vocab_n_tokens(v));
        print_special(v, "bos", hearth_vocab_bos(v));
        print_special(v, "eos", hearth_vocab_eos(v));
        print_special(v, "eot", hearth_vocab_eot(v));
        print_special(v, "unk", hearth_vocab_unk(v));
        print_special(v, "sep", hearth_vocab_sep(v));
        print_special(v, "pad", hearth_vocab_pad(v));
        printf("  add_bos = %s, add_eos = %s\n", hearth_vocab_add_bos(v) ? "true" : "false",
               hearth_vocab_add_eos(v) ? "true" : "false");
        hearth_vocab_free(v);
    } else if (st == HEARTH_ERR_NOT_FOUND) {
        printf("tokenizer: none\n");
    } else {
        printf("tokenizer: cannot load: %s: %s\n", hearth_strerror(st), hearth_error_last());
    }

    hearth_str tmpl = {"", 0};
    if (hearth_gguf_get_str(g, "tokenizer.chat_template", &tmpl) == HEARTH_OK && tmpl.len > 0) {
        hearth_chat_family fam = hearth_chat_detect(tmpl.ptr, (size_t)tmpl.len);
        printf("chat template: %s (%" PRIu64 " bytes)\n",
               fam == HEARTH_CHAT_UNKNOWN ? "unrecognised family" : hearth_chat_family_name(fam), tmpl.len);
    } else {
        printf("chat template: none (hearth run falls back to ChatML)\n");
    }

    uint64_t nt = hearth_gguf_n_tensors(g);
    uint64_t total = 0, nparams = 0;
    for (uint64_t i = 0; i < nt; i++) {
        const hearth_gguf_tensor *t = hearth_gguf_tensor_at(g, i);
        if (!t) continue;
        total += t->nbytes;
        nparams += (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
    }
    printf("tensors: %" PRIu64 ", %" PRIu64 " parameters, ", nt, nparams);
    print_bytes(total);
    printf(" (%" PRIu64 " bytes)\n", total);
    if (tensors && nt > 0) {
        printf("  %-36s %-8s %-24s %12s\n", "name", "type", "shape", "bytes");
        for (uint64_t i = 0; i < nt; i++) {
            const hearth_gguf_tensor *t = hearth_gguf_tensor_at(g, i);
            if (!t) continue;
            char shape[96];
            int off = 0;
            for (uint32_t d = 0; d < t->n_dims && d < 4; d++)
                off += snprintf(shape + off, sizeof shape - (size_t)off, d ? " x %" PRId64 : "%" PRId64, t->ne[d]);
            printf("  ");
            int w = (int)(t->name.len < 36 ? t->name.len : 36);
            cli_print_escaped(stdout, t->name.ptr, (size_t)t->name.len, 0);
            printf("%*s %-8s %-24s %12" PRIu64 "\n", 36 - w, "", hearth_type_name(t->type), shape, t->nbytes);
        }
    }
    printf("total: ");
    print_bytes(total);
    printf(" of tensor data in a ");
    print_bytes(hearth_gguf_file_size(g));
    printf(" file\n");
    hearth_gguf_free(g);
    return CLI_OK;
}
