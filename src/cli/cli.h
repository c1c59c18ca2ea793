/* cli.h - internal interface of the `hearth` command.
 *
 * Each subcommand lives in its own cmd_<name>.c and is entered with
 * (argc, argv) where argv[0] is the subcommand name. It returns the process
 * exit status: 0 on success, 1 for a runtime failure, 2 for a usage error.
 * Every error is one line on stderr, "hearth: <what>: <detail>".
 */
#ifndef HEARTH_CLI_H
#define HEARTH_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hearth/status.h"

#define HEARTH_VERSION_STRING "0.1.0"

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* subcommands: return the exit status */
int cmd_run(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_perplexity(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_serve(int argc, char **argv);

/* their usage texts (written to f) */
void cmd_run_usage(FILE *f);
void cmd_tokenize_usage(FILE *f);
void cmd_perplexity_usage(FILE *f);
void cmd_embed_usage(FILE *f);
void cmd_logits_usage(FILE *f);
void cmd_info_usage(FILE *f);
void cmd_quantize_usage(FILE *f);
void cmd_bench_usage(FILE *f);
void cmd_serve_usage(FILE *f);

/* ---- errors -------------------------------------------------------------- */

/* Prints "hearth: <what>: <detail>\n" on stderr (printf-style detail). */
void cli_error(const char *what, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Prints "hearth: <what>: <strerror(st)>: <hearth_error_last()>" and returns
 * CLI_FAIL. */
int cli_status_error(const char *what, hearth_status st);

/* ---- option parsing -------------------------------------------------------- */

/* Walks a subcommand's argv. Options take their value either as the next
 * argument or after '=' (`--temp=0.5`); short options also as `-n5`. */
typedef struct cli_args {
    int argc;
    char **argv;
    int i;           /* index of the argument being looked at */
    const char *cmd; /* subcommand name, for messages */
} cli_args;

/* Returns true when argv[i] is the boolean flag (short may be NULL). */
bool cli_flag(cli_args *a, const char *short_name, const char *long_name);
/* Returns 1 and sets *val when argv[i] is the option (consuming its value),
 * 0 when it is not, -1 (after printing an error) when its value is missing. */
int cli_opt(cli_args *a, const char *short_name, const char *long_name, const char **val);
/* True for -h / --help. */
bool cli_is_help(const cli_args *a);
/* Reports argv[i] as an unknown option or an unexpected argument and
 * returns CLI_USAGE. */
int cli_unknown(const cli_args *a);

/* Number parsers: return 0 and set *out, or print an error naming the flag
 * and return -1 (non-numeric, trailing junk, out of [lo, hi]). */
int cli_parse_i32(const char *flag, const char *s, long long lo, long long hi, int32_t *out);
int cli_parse_u64(const char *flag, const char *s, uint64_t *out);
int cli_parse_f32(const char *flag, const char *s, double lo, double hi, float *out);
/* --cache-type: "f32" or "f16" (case-insensitive) into a HEARTH_TYPE_* id for
 * hearth_context_opts.kv_type; same contract as the number parsers. */
int cli_parse_cache_type(const char *flag, const char *s, uint32_t *out);

/* ---- inputs and outputs ------------------------------------------------------ */

/* Reads a whole file (binary-safe) into a NUL-terminated buffer allocated
 * with hearth_malloc. Returns HEARTH_OK or HEARTH_ERR_IO/NOMEM with detail.
 * Blocks on file I/O. */
hearth_status cli_read_file(const char *path, char **out, size_t *len);

/* Resolves the -p / -f pair of a command into one text buffer (a copy, to
 * free with hearth_free). Prints the error and returns the exit status on
 * failure (usage error when neither or both are given), else CLI_OK. */
int cli_get_text(const char *cmd, const char *prompt, const char *file, char **text, size_t *len);

/* Prints ids as a JSON array on one line: "[1, 2, 3]\n". */
void cli_print_ids(FILE *f, const int32_t *ids, size_t n);

/* Checks that a model path names a readable regular file; prints the error
 * and returns CLI_FAIL when not. */
int cli_check_model_path(const char *cmd, const char *path);

/* Prints the "no model given" help (how to get a GGUF) and returns CLI_USAGE. */
int cli_no_model(const char *cmd);

/* Loads a model after checking the path; prints the error and returns
 * CLI_FAIL on failure. *secs (may be NULL) receives the load time. */
struct hearth_model;
int cli_load_model(const char *cmd, const char *path, struct hearth_model **out, double *secs);

/* Writes a byte string for a terminal: printable ASCII and UTF-8 as they
 * are, control bytes escaped (\n, \xNN); at most `max` bytes (0: all), with
 * "..." when cut. */
void cli_print_escaped(FILE *f, const char *s, size_t len, size_t max);

/* Monotonic seconds. */
double cli_now(void);

/* Tokenizes `text` as a prompt (BOS/CLS as the vocab says, special tokens not
 * parsed) for a context of *n_ctx positions (0: exactly the prompt's length,
 * written back). Prints the error and returns CLI_FAIL when the text has no
 * tokens or does not fit; on success *ids (hearth_malloc) holds *n_ids ids.
 * `what` names the text in messages ("prompt", "text"). */
int cli_tokenize_prompt(const char *cmd, const struct hearth_model *m, const char *text, size_t len,
                        const char *what, int32_t *n_ctx, int32_t **ids, size_t *n_ids);

#endif
