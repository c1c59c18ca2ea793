/* cli_args.c - option parsing, number validation, input files and error
 * printing shared by the subcommands. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/cli.h"
#include "hearth/alloc.h"
#include "hearth/model.h"
#include "hearth/quant.h"

/* Prints one error line on stderr. Never blocks beyond stdio. */
void cli_error(const char *what, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "hearth: %s: ", what);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* Prints a failed status with its detail; returns CLI_FAIL. */
int cli_status_error(const char *what, hearth_status st) {
    const char *detail = hearth_error_last();
    if (detail[0])
        fprintf(stderr, "hearth: %s: %s: %s\n", what, hearth_strerror(st), detail);
    else
        fprintf(stderr, "hearth: %s: %s\n", what, hearth_strerror(st));
    return CLI_FAIL;
}

/* Returns the value part when `arg` is `name` followed by '=', else NULL. */
static const char *eq_value(const char *arg, const char *name) {
    size_t n = strlen(name);
    if (strncmp(arg, name, n) == 0 && arg[n] == '=') return arg + n + 1;
    return NULL;
}

/* Returns true when argv[i] is the flag. */
bool cli_flag(cli_args *a, const char *short_name, const char *long_name) {
    const char *arg = a->argv[a->i];
    return (short_name && strcmp(arg, short_name) == 0) || (long_name && strcmp(arg, long_name) == 0);
}

/* Returns 1 (value in *val), 0 (not this option) or -1 (value missing). */
int cli_opt(cli_args *a, const char *short_name, const char *long_name, const char **val) {
    const char *arg = a->argv[a->i];
    const char *v = NULL;
    const char *name = NULL;
    if ((short_name && strcmp(arg, short_name) == 0) || (long_name && strcmp(arg, long_name) == 0)) {
        name = arg;
        if (a->i + 1 >= a->argc) {
            cli_error(a->cmd, "option %s needs a value (see hearth %s --help)", name, a->cmd);
            return -1;
        }
        *val = a->argv[++a->i];
        return 1;
    }
    if (long_name && (v = eq_value(arg, long_name)) != NULL) {
        *val = v;
        return 1;
    }
    /* -n5: a short option glued to its value */
    if (short_name && strncmp(arg, short_name, strlen(short_name)) == 0 && arg[strlen(short_name)] != '\0' &&
        short_name[1] != '-') {
        *val = arg + strlen(short_name);
        return 1;
    }
    return 0;
}

/* True for -h / --help. */
bool cli_is_help(const cli_args *a) {
    const char *arg = a->argv[a->i];
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

/* Reports the current argument as unknown; returns CLI_USAGE. */
int cli_unknown(const cli_args *a) {
    const char *arg = a->argv[a->i];
    if (arg[0] == '-' && arg[1] != '\0')
        cli_error(a->cmd, "unknown option '%s' (see hearth %s --help)", arg, a->cmd);
    else
        cli_error(a->cmd, "unexpected argument '%s' (see hearth %s --help)", arg, a->cmd);
    return CLI_USAGE;
}

/* Parses a base-10 integer in [lo, hi]; returns 0 or -1 (error printed). */
int cli_parse_i32(const char *flag, const char *s, long long lo, long long hi, int32_t *out) {
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (s[0] == '\0' || end == s || *end != '\0') {
        cli_error(flag, "'%s' is not an integer", s);
        return -1;
    }
    if (errno == ERANGE || v < lo || v > hi) {
        cli_error(flag, "%s is out of range [%lld, %lld]", s, lo, hi);
        return -1;
    }
    *out = (int32_t)v;
    return 0;
}

/* Parses an unsigned 64-bit integer (no sign); returns 0 or -1. */
int cli_parse_u64(const char *flag, const char *s, uint64_t *out) {
    char *end = NULL;
    errno = 0;
    if (s[0] < '0' || s[0] > '9') {
        cli_error(flag, "'%s' is not a non-negative integer", s);
        return -1;
    }
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0') {
        cli_error(flag, "'%s' is not a non-negative integer", s);
        return -1;
    }
    if (errno == ERANGE) {
        cli_error(flag, "%s does not fit in 64 bits", s);
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

/* Parses a finite number in [lo, hi]; returns 0 or -1. */
int cli_parse_f32(const char *flag, const char *s, double lo, double hi, float *out) {
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (s[0] == '\0' || end == s || *end != '\0' || !isfinite(v)) {
        cli_error(flag, "'%s' is not a finite number", s);
        return -1;
    }
    if (v < lo || v > hi) {
        cli_error(flag, "%s is out of range [%g, %g]", s, lo, hi);
        return -1;
    }
    *out = (float)v;
    return 0;
}

/* Returns 0 with the type id, or -1 after printing the error. */
int cli_parse_cache_type(const char *flag, const char *s, uint32_t *out) {
    if (strcasecmp(s, "f32") == 0) *out = HEARTH_TYPE_F32;
    else if (strcasecmp(s, "f16") == 0) *out = HEARTH_TYPE_F16;
    else {
        cli_error(flag, "'%s' is not a KV cache type (f32 or f16)", s);
        return -1;
    }
    return 0;
}

/* Reads a whole file; blocks on I/O. */
hearth_status cli_read_file(const char *path, char **out, size_t *len) {
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return hearth_error_set(HEARTH_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = hearth_malloc(cap);
    if (!buf) {
        fclose(f);
        return hearth_error_set(HEARTH_ERR_NOMEM, "reading '%s'", path);
    }
    for (;;) {
        if (cap - n < 2) {
            if (cap > ((size_t)1 << 40)) {
                hearth_free(buf);
                fclose(f);
                return hearth_error_set(HEARTH_ERR_RANGE, "'%s' is too large", path);
            }
            char *nb = hearth_realloc(buf, cap * 2);
            if (!nb) {
                hearth_free(buf);
                fclose(f);
                return hearth_error_set(HEARTH_ERR_NOMEM, "reading '%s'", path);
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    int err = ferror(f);
    int saved = errno;
    fclose(f);
    if (err) {
        hearth_free(buf);
        return hearth_error_set(HEARTH_ERR_IO, "cannot read '%s': %s", path, strerror(saved));
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return HEARTH_OK;
}

/* Resolves -p / -f into one buffer; returns an exit status. */
int cli_get_text(const char *cmd, const char *prompt, const char *file, char **text, size_t *len) {
    *text = NULL;
    *len = 0;
    if (prompt && file) {
        cli_error(cmd, "give either -p TEXT or -f FILE, not both");
        return CLI_USAGE;
    }
    if (!prompt && !file) {
        cli_error(cmd, "no input text: give -p TEXT or -f FILE");
        return CLI_USAGE;
    }
    if (prompt) {
        *text = hearth_strdup(prompt);
        if (!*text) return cli_status_error(cmd, HEARTH_ERR_NOMEM);
        *len = strlen(prompt);
        return CLI_OK;
    }
    hearth_status st = cli_read_file(file, text, len);
    if (st < 0) return cli_status_error(cmd, st);
    return CLI_OK;
}

/* Prints "[a, b, c]\n". */
void cli_print_ids(FILE *f, const int32_t *ids, size_t n) {
    fputc('[', f);
    for (size_t i = 0; i < n; i++) fprintf(f, i ? ", %d" : "%d", (int)ids[i]);
    fputs("]\n", f);
}

/* Checks the model path before handing it to the loader, so the common
 * mistakes get a plain message. */
int cli_check_model_path(const char *cmd, const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) {
        cli_error(cmd, "cannot open model '%s': %s", path, strerror(errno));
        return CLI_FAIL;
    }
    if (S_ISDIR(st.st_mode)) {
        cli_error(cmd, "model '%s' is a directory, not a GGUF file", path);
        return CLI_FAIL;
    }
    return CLI_OK;
}

/* Tells the user how to get a model; returns CLI_USAGE. */
int cli_no_model(const char *cmd) {
    fprintf(stderr, "hearth: %s: no model given: pass a GGUF file with -m MODEL.gguf (or as the first argument)\n",
            cmd);
    fprintf(stderr,
            "  hearth runs GGUF models (llama, qwen2, qwen3 and bert architectures). Download one from\n"
            "  Hugging Face, for example a Q4_K_M or Q8_0 file of Qwen2.5-0.5B-Instruct or\n"
            "  Llama-3.2-1B-Instruct (search https://huggingface.co/models?library=gguf), then run\n"
            "    hearth %s path/to/model.gguf\n",
            cmd);
    char buf[4096];
    const char *root = getenv("HEARTH_TEST_DATA");
    const char *cands[3] = {NULL, "../shared/models/stories260K.gguf", "../../shared/models/stories260K.gguf"};
    if (root && *root) {
        snprintf(buf, sizeof buf, "%s/models/stories260K.gguf", root);
        cands[0] = buf;
    }
    for (int i = 0; i < 3; i++) {
        struct stat st;
        if (cands[i] && stat(cands[i], &st) == 0 && S_ISREG(st.st_mode)) {
            fprintf(stderr, "  A tiny test model is here: hearth %s %s\n", cmd, cands[i]);
            break;
        }
    }
    return CLI_USAGE;
}

/* Loads a model; blocks on file I/O. Returns an exit status. */
int cli_load_model(const char *cmd, const char *path, hearth_model **out, double *secs) {
    *out = NULL;
    int rc = cli_check_model_path(cmd, path);
    if (rc != CLI_OK) return rc;
    double t0 = cli_now();
    hearth_status st = hearth_model_load(path, out);
    if (st < 0) {
        *out = NULL;
        return cli_status_error(cmd, st);
    }
    if (secs) *secs = cli_now() - t0;
    return CLI_OK;
}

/* Escapes control bytes and DEL; leaves UTF-8 bytes alone. */
void cli_print_escaped(FILE *f, const char *s, size_t len, size_t max) {
    size_t n = (max && len > max) ? max : len;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n') fputs("\\n", f);
        else if (c == '\t') fputs("\\t", f);
        else if (c == '\r') fputs("\\r", f);
        else if (c < 0x20 || c == 0x7f) fprintf(f, "\\x%02x", c);
        else fputc(c, f);
    }
    if (n < len) fputs("...", f);
}

/* Monotonic clock in seconds. */
double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int cli_tokenize_prompt(const char *cmd, const struct hearth_model *m, const char *text, size_t len,
                        const char *what, int32_t *n_ctx, int32_t **ids, size_t *n_ids) {
    *ids = NULL;
    *n_ids = 0;
    hearth_status st = hearth_tokenize(hearth_model_vocab(m), text, len, true, false, ids, n_ids);
    if (st < 0) return cli_status_error(cmd, st);
    int rc = CLI_OK;
    if (*n_ids == 0) {
        cli_error(cmd, "the %s has no tokens", what);
        rc = CLI_FAIL;
    } else if (*n_ids > (size_t)(1 << 24)) {
        cli_error(cmd, "the %s has %zu tokens, too many", what, *n_ids);
        rc = CLI_FAIL;
    } else {
        if (*n_ctx == 0) *n_ctx = (int32_t)*n_ids;
        if ((size_t)*n_ctx < *n_ids) {
            cli_error(cmd, "the %s has %zu tokens but the context only %d (raise -c)", what, *n_ids, (int)*n_ctx);
            rc = CLI_FAIL;
        }
    }
    if (rc != CLI_OK) {
        hearth_free(*ids);
        *ids = NULL;
        *n_ids = 0;
    }
    return rc;
}
