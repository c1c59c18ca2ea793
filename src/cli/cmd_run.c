/* cmd_run.c - `hearth run`: a completion of -p TEXT, or an interactive chat.
 *
 * Completion: the prompt is tokenized as plain text (BOS as the vocab says),
 * evaluated in one batch, and tokens are sampled and evaluated one at a time.
 * Only the generated text goes to stdout, streamed whole UTF-8 characters at
 * a time; timings go to stderr.
 *
 * Chat: the conversation is kept as OpenAI-style messages and rendered with
 * the model's chat template each turn. The KV cache is kept across turns:
 * only the tokens after the longest common prefix with what the cache holds
 * are evaluated. When the conversation outgrows the context the oldest turns
 * (never the system message) are dropped.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#ifdef HEARTH_HAVE_LIBEDIT
#include <histedit.h>
#endif

#include "cli/cli.h"
#include "hearth/alloc.h"
#include "hearth/chat.h"
#include "hearth/model.h"
#include "hearth/quant.h"
#include "hearth/sampler.h"
#include "hearth/tokenizer.h"

void cmd_run_usage(FILE *f) {
    fprintf(f,
            "usage: hearth run [-m] MODEL [options]\n"
            "\n"
            "With -p or -f: completes the text and prints only the continuation.\n"
            "Without: an interactive chat using the model's chat template.\n"
            "  chat commands: /reset  /system TEXT  /quit (or Ctrl-D);  Ctrl-C stops an answer,\n"
            "  at the prompt it clears the line, twice in a row quits.\n"
            "\n"
            "options:\n"
            "  -m, --model FILE          GGUF model (or give it as the first argument)\n"
            "  -p, --prompt TEXT         text to complete\n"
            "  -f, --file FILE           read the text to complete from FILE\n"
            "  -n, --n-predict N         tokens to generate (default 128 for a completion,\n"
            "                            unlimited in chat; -1 = until the context is full)\n"
            "  --temp T                  temperature (default 0.8; 0 = greedy)\n"
            "  --top-k K                 keep the K most likely tokens (default 40; 0 = off)\n"
            "  --top-p P                 nucleus sampling, in (0, 1] (default 0.95; 1 = off)\n"
            "  --min-p P                 drop tokens below P x the best one's probability\n"
            "                            (default 0.05; 0 = off)\n"
            "  --repeat-penalty R        penalise repeated tokens (default 1 = off)\n"
            "  --repeat-last-n N         tokens the penalties look at (default 64; -1 = all)\n"
            "  --frequency-penalty F     OpenAI frequency penalty (default 0)\n"
            "  --presence-penalty F      OpenAI presence penalty (default 0)\n"
            "  --seed S                  random seed (default: a new one each run)\n"
            "  -t, --threads N           threads (default: physical cores)\n"
            "  -c, --ctx-size N          context length (default: the model's, at most 4096)\n"
            "  --cache-type T            KV cache type: f32 (default) or f16 (half the memory,\n"
            "                            llama.cpp's default)\n"
            "  --system TEXT             system message for the chat; with -p, answers the\n"
            "                            prompt as one chat turn\n"
            "  --chat                    with -p: answer the prompt as one chat turn\n"
            "  --display-prompt          with -p: print the prompt before the continuation\n"
            "  --no-display-prompt       print only the continuation (the default)\n"
            "  -h, --help                this help\n"
            "\n"
            "example: hearth run ../shared/models/stories260K.gguf -p \"Once upon a time\" -n 64\n");
}

/* Set by SIGINT; checked between tokens and after reading a line. */
static volatile sig_atomic_t g_interrupted;

static void on_sigint(int sig) {
    (void)sig;
    g_interrupted = 1;
}

/* Installs the SIGINT handler without SA_RESTART, so a blocking read returns
 * EINTR; *old receives the previous action. */
static void install_sigint(struct sigaction *old) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    sigaction(SIGINT, &sa, old);
}

typedef struct run_opts {
    const char *model, *prompt, *file, *system;
    int32_t n_predict; /* -2: not given */
    int32_t n_threads, n_ctx;
    uint32_t kv_type; /* HEARTH_TYPE_F32 (0) or HEARTH_TYPE_F16 */
    bool seed_given, chat, display_prompt;
    hearth_sampler_params sp;
} run_opts;

/* Everything a generation needs. */
typedef struct run_state {
    hearth_model *model;
    const hearth_vocab *vocab;
    const hearth_hparams *hp;
    hearth_context *ctx;
    hearth_sampler *sampler;
    float *logits;   /* n_vocab: last position's logits */
    int32_t n_ctx;
    int32_t *cache;  /* n_ctx: the tokens the KV cache holds, in order */
    int32_t n_cache;
    double t_prompt, t_gen;
    long n_prompt_tok, n_gen_tok;
} run_state;

/* Evaluates toks after what the cache holds; keeps the mirror in step.
 * Returns a status. Blocks while computing. */
static hearth_status eval_append(run_state *r, const int32_t *toks, int32_t n, bool is_prompt) {
    if (n <= 0) return HEARTH_OK;
    if (r->n_cache + n > r->n_ctx)
        return hearth_error_set(HEARTH_ERR_RANGE, "%d tokens do not fit: %d of %d positions used", (int)n,
                                (int)r->n_cache, (int)r->n_ctx);
    double t0 = cli_now();
    hearth_status st = hearth_eval(r->ctx, toks, n, r->logits, false);
    double dt = cli_now() - t0;
    if (st < 0) return st;
    memcpy(r->cache + r->n_cache, toks, (size_t)n * sizeof *toks);
    r->n_cache += n;
    if (is_prompt) {
        r->t_prompt += dt;
        r->n_prompt_tok += n;
    } else {
        r->t_gen += dt;
    }
    return HEARTH_OK;
}

/* Why a generation ended. */
typedef enum { GEN_EOG, GEN_LIMIT, GEN_FULL, GEN_INTERRUPTED, GEN_ERROR } gen_end;

/* Samples and evaluates up to n_predict tokens (-1: no limit) after the
 * logits in r->logits, streaming the text to stdout. When `text` is not NULL
 * the printed bytes are also appended to it (*text, *text_len, allocated with
 * hearth_realloc). Returns why it stopped; on GEN_ERROR the error was
 * printed. Blocks while computing. */
static gen_end generate(run_state *r, int32_t n_predict, bool at_start, char **text, size_t *text_len) {
    hearth_detok_stream ds;
    hearth_detok_stream_init(&ds, r->vocab);
    ds.at_start = at_start;
    char piece[512];
    gen_end why = GEN_LIMIT;
    for (int32_t k = 0; n_predict < 0 || k < n_predict; k++) {
        if (g_interrupted) {
            why = GEN_INTERRUPTED;
            break;
        }
        double t0 = cli_now();
        int32_t tok = hearth_sampler_sample(r->sampler, r->logits);
        r->t_gen += cli_now() - t0;
        if (hearth_vocab_is_eog(r->vocab, tok)) {
            why = GEN_EOG;
            break;
        }
        hearth_sampler_accept(r->sampler, tok);
        r->n_gen_tok++;
        int n = hearth_detok_stream_push(&ds, tok, piece, sizeof piece);
        if (n > 0) {
            fwrite(piece, 1, (size_t)n, stdout);
            fflush(stdout);
            if (text) {
                char *nt = hearth_realloc(*text, *text_len + (size_t)n + 1);
                if (nt) {
                    memcpy(nt + *text_len, piece, (size_t)n);
                    *text_len += (size_t)n;
                    nt[*text_len] = '\0';
                    *text = nt;
                }
            }
        }
        if (n_predict >= 0 && k + 1 >= n_predict) break; /* no need to evaluate the last one */
        if (r->n_cache >= r->n_ctx) {
            why = GEN_FULL;
            break;
        }
        hearth_status st = eval_append(r, &tok, 1, false);
        if (st < 0) {
            fflush(stdout);
            fputc('\n', stderr);
            cli_status_error("run", st);
            why = GEN_ERROR;
            break;
        }
    }
    int n = hearth_detok_stream_flush(&ds, piece, sizeof piece);
    if (n > 0) {
        fwrite(piece, 1, (size_t)n, stdout);
        if (text) {
            char *nt = hearth_realloc(*text, *text_len + (size_t)n + 1);
            if (nt) {
                memcpy(nt + *text_len, piece, (size_t)n);
                *text_len += (size_t)n;
                nt[*text_len] = '\0';
                *text = nt;
            }
        }
    }
    fflush(stdout);
    return why;
}

/* Prints the speed summary line on stderr. */
static void print_stats(const run_state *r) {
    fprintf(stderr, "hearth: prompt %ld tokens in %.3f s (%.1f tok/s), generated %ld tokens in %.3f s (%.1f tok/s)\n",
            r->n_prompt_tok, r->t_prompt, r->t_prompt > 0 ? (double)r->n_prompt_tok / r->t_prompt : 0.0,
            r->n_gen_tok, r->t_gen, r->t_gen > 0 ? (double)r->n_gen_tok / r->t_gen : 0.0);
}

/* ---- completion ------------------------------------------------------------ */

/* Returns the exit status. */
static int run_completion(run_state *r, const run_opts *o, const char *text, size_t len) {
    int32_t *ids = NULL;
    size_t n_ids = 0;
    hearth_status st = hearth_tokenize(r->vocab, text, len, true, false, &ids, &n_ids);
    if (st < 0) return cli_status_error("run", st);
    if (n_ids == 0) {
        hearth_free(ids);
        cli_error("run", "the prompt has no tokens");
        return CLI_FAIL;
    }
    if (n_ids >= (size_t)r->n_ctx) {
        hearth_free(ids);
        cli_error("run", "the prompt has %zu tokens but the context only %d: raise -c or shorten the prompt",
                  n_ids, (int)r->n_ctx);
        return CLI_FAIL;
    }
    if (o->display_prompt) {
        fwrite(text, 1, len, stdout);
        fflush(stdout);
    }
    for (size_t i = 0; i < n_ids; i++) hearth_sampler_accept(r->sampler, ids[i]);
    st = eval_append(r, ids, (int32_t)n_ids, true);
    hearth_free(ids);
    if (st < 0) return cli_status_error("run", st);
    int32_t n_predict = o->n_predict == -2 ? 128 : o->n_predict;
    gen_end why = generate(r, n_predict, false, NULL, NULL);
    if (isatty(STDOUT_FILENO)) putchar('\n');
    fflush(stdout);
    if (why == GEN_ERROR) return CLI_FAIL;
    if (why == GEN_FULL) fprintf(stderr, "hearth: stopped: the context (%d tokens) is full\n", (int)r->n_ctx);
    if (why == GEN_INTERRUPTED) fprintf(stderr, "hearth: interrupted\n");
    print_stats(r);
    return why == GEN_INTERRUPTED ? 130 : CLI_OK;
}

/* ---- chat ------------------------------------------------------------------- */

typedef struct chat_state {
    hearth_chat_template *tmpl;
    json_t *messages; /* array of {role, content} */
    json_t *extra;    /* bos_token, eos_token */
    const char *bos_text;
    size_t bos_len;
    int32_t n_predict;
} chat_state;

/* Loads the model's template, falling back to the built-in one of its family
 * (ChatML when unknown). Returns a status; prints which template on stderr. */
static hearth_status chat_template_load(run_state *r, hearth_chat_template **out) {
    hearth_str src = hearth_model_chat_template(r->model);
    hearth_chat_family fam = HEARTH_CHAT_UNKNOWN;
    if (src.len > 0) {
        hearth_status st = hearth_chat_template_new(src.ptr, (size_t)src.len, out);
        if (st == HEARTH_OK) {
            fam = hearth_chat_template_family(*out);
            fprintf(stderr, "hearth: chat template from the model (%s)\n",
                    fam == HEARTH_CHAT_UNKNOWN ? "custom" : hearth_chat_family_name(fam));
            return HEARTH_OK;
        }
        fam = hearth_chat_detect(src.ptr, (size_t)src.len);
        fprintf(stderr, "hearth: the model's chat template is not usable (%s); using the built-in %s template\n",
                hearth_error_last(), hearth_chat_family_name(fam == HEARTH_CHAT_UNKNOWN ? HEARTH_CHAT_CHATML : fam));
    } else {
        fprintf(stderr, "hearth: the model has no chat template; using ChatML\n");
    }
    const char *b = hearth_chat_builtin_source(fam);
    return hearth_chat_template_new(b, strlen(b), out);
}

/* Renders the conversation and tokenizes it (special tokens parsed). A BOS
 * the template writes itself is removed from the text when the tokenizer
 * adds one, so there is exactly one. Returns a status. */
static hearth_status chat_tokens(run_state *r, chat_state *cs, int32_t **ids, size_t *n_ids) {
    char *text = NULL;
    size_t len = 0;
    hearth_status st = hearth_chat_render(cs->tmpl, cs->messages, NULL, true, cs->extra, &text, &len);
    if (st < 0) return st;
    const char *t = text;
    size_t l = len;
    if (hearth_vocab_add_bos(r->vocab) && cs->bos_len > 0 && l >= cs->bos_len &&
        memcmp(t, cs->bos_text, cs->bos_len) == 0) {
        t += cs->bos_len;
        l -= cs->bos_len;
    }
    st = hearth_tokenize(r->vocab, t, l, true, true, ids, n_ids);
    hearth_free(text);
    return st;
}

/* Drops the oldest non-system message, and then any messages up to the next
 * user message so the conversation still starts with a user turn. Keeps the
 * last message. Returns how many were dropped (0: nothing left to drop). */
static int drop_oldest(json_t *messages) {
    size_t n = json_array_size(messages);
    size_t first = 0;
    while (first < n) {
        const char *role = json_string_value(json_object_get(json_array_get(messages, first), "role"));
        if (!role || strcmp(role, "system") != 0) break;
        first++;
    }
    if (first + 1 >= n) return 0;
    json_array_remove(messages, first);
    int dropped = 1;
    while (first + 1 < json_array_size(messages)) {
        const char *role = json_string_value(json_object_get(json_array_get(messages, first), "role"));
        if (role && strcmp(role, "user") == 0) break;
        json_array_remove(messages, first);
        dropped++;
    }
    return dropped;
}

/* One chat turn: the last message of cs->messages is the user's. Renders,
 * fits the context, evaluates past the cached prefix, streams the answer and
 * appends it as an assistant message. Returns CLI_OK, or CLI_FAIL after
 * printing an error (the conversation is left usable). */
static int chat_turn(run_state *r, chat_state *cs) {
    int32_t *ids = NULL;
    size_t n_ids = 0;
    int32_t reserve = cs->n_predict > 0 ? cs->n_predict : r->n_ctx / 4;
    if (reserve > r->n_ctx / 2) reserve = r->n_ctx / 2;
    if (reserve < 1) reserve = 1;
    int dropped = 0;
    for (;;) {
        hearth_status st = chat_tokens(r, cs, &ids, &n_ids);
        if (st < 0) {
            cli_status_error("run: chat template", st);
            json_array_remove(cs->messages, json_array_size(cs->messages) - 1);
            return CLI_FAIL;
        }
        if (n_ids + (size_t)reserve <= (size_t)r->n_ctx) break;
        int d = drop_oldest(cs->messages);
        if (d == 0) {
            if (n_ids < (size_t)r->n_ctx) break; /* fits, with less room to answer */
            hearth_free(ids);
            cli_error("run", "the message is too long: %zu tokens with a context of %d (raise -c)", n_ids,
                      (int)r->n_ctx);
            json_array_remove(cs->messages, json_array_size(cs->messages) - 1);
            return CLI_FAIL;
        }
        dropped += d;
        hearth_free(ids);
        ids = NULL;
    }
    if (dropped)
        fprintf(stderr, "hearth: the conversation no longer fits the context of %d tokens: dropped the %d oldest "
                "message%s\n", (int)r->n_ctx, dropped, dropped == 1 ? "" : "s");

    /* reuse the cached prefix; at least one token must be evaluated for logits */
    int32_t lcp = 0;
    while (lcp < r->n_cache && (size_t)lcp < n_ids && r->cache[lcp] == ids[lcp]) lcp++;
    if ((size_t)lcp == n_ids) lcp--;
    hearth_context_truncate(r->ctx, lcp);
    r->n_cache = lcp;
    hearth_sampler_reset(r->sampler);
    for (size_t i = 0; i < n_ids; i++) hearth_sampler_accept(r->sampler, ids[i]);
    hearth_status st = eval_append(r, ids + lcp, (int32_t)(n_ids - (size_t)lcp), true);
    hearth_free(ids);
    if (st < 0) {
        hearth_context_truncate(r->ctx, 0);
        r->n_cache = 0;
        json_array_remove(cs->messages, json_array_size(cs->messages) - 1);
        return cli_status_error("run", st);
    }
    if (g_interrupted) {
        fprintf(stderr, "\nhearth: stopped\n");
        return CLI_OK;
    }

    char *answer = NULL;
    size_t answer_len = 0;
    gen_end why = generate(r, cs->n_predict, true, &answer, &answer_len);
    putchar('\n');
    fflush(stdout);
    if (why == GEN_INTERRUPTED) fprintf(stderr, "hearth: stopped\n");
    if (why == GEN_FULL) fprintf(stderr, "hearth: the context is full; the answer was cut\n");
    json_t *msg = json_pack("{s:s, s:s%}", "role", "assistant", "content", answer ? answer : "", answer_len);
    hearth_free(answer);
    if (msg) json_array_append_new(cs->messages, msg);
    return why == GEN_ERROR ? CLI_FAIL : CLI_OK;
}

/* Replaces (or with text NULL removes) the leading system message. */
static void set_system(json_t *messages, const char *text) {
    json_t *m0 = json_array_get(messages, 0);
    const char *role = m0 ? json_string_value(json_object_get(m0, "role")) : NULL;
    bool has = role && strcmp(role, "system") == 0;
    if (!text) {
        if (has) json_array_remove(messages, 0);
        return;
    }
    json_t *msg = json_pack("{s:s, s:s}", "role", "system", "content", text);
    if (!msg) return;
    if (has) json_array_set_new(messages, 0, msg);
    else json_array_insert_new(messages, 0, msg);
}

/* Appends a user message; returns false when out of memory. */
static bool add_user(json_t *messages, const char *text, size_t len) {
    json_t *msg = json_pack("{s:s, s:s%}", "role", "user", "content", text, len);
    return msg && json_array_append_new(messages, msg) == 0;
}

/* Line input: libedit on a terminal, stdio otherwise. */
typedef struct line_reader {
#ifdef HEARTH_HAVE_LIBEDIT
    EditLine *el;
    History *hist;
#endif
    char *buf;
    size_t cap;
} line_reader;

#ifdef HEARTH_HAVE_LIBEDIT
static char *prompt_fn(EditLine *el) {
    (void)el;
    return (char *)"> ";
}
#endif

static void reader_open(line_reader *lr) {
    memset(lr, 0, sizeof *lr);
#ifdef HEARTH_HAVE_LIBEDIT
    if (isatty(STDIN_FILENO) && isatty(STDOUT_FILENO)) {
        lr->el = el_init("hearth", stdin, stdout, stderr);
        lr->hist = history_init();
        if (lr->el && lr->hist) {
            HistEvent ev;
            history(lr->hist, &ev, H_SETSIZE, 1000);
            history(lr->hist, &ev, H_SETUNIQUE, 1);
            el_set(lr->el, EL_PROMPT, prompt_fn);
            el_set(lr->el, EL_EDITOR, "emacs");
            el_set(lr->el, EL_HIST, history, lr->hist);
        } else {
            if (lr->el) el_end(lr->el);
            if (lr->hist) history_end(lr->hist);
            lr->el = NULL;
            lr->hist = NULL;
        }
    }
#endif
}

static void reader_close(line_reader *lr) {
#ifdef HEARTH_HAVE_LIBEDIT
    if (lr->el) el_end(lr->el);
    if (lr->hist) history_end(lr->hist);
#endif
    hearth_free(lr->buf);
}

/* Reads one line without its newline. Returns 1 with *line set (owned by the
 * reader until the next call), 0 at end of input, -1 when interrupted by
 * Ctrl-C. Blocks on the terminal. */
static int reader_get(line_reader *lr, const char **line) {
#ifdef HEARTH_HAVE_LIBEDIT
    if (lr->el) {
        int count = 0;
        g_interrupted = 0;
        const char *s = el_gets(lr->el, &count);
        if (g_interrupted) return -1;
        if (!s || count <= 0) return 0;
        size_t n = strlen(s);
        while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r')) n--;
        if (n + 1 > lr->cap) {
            char *nb = hearth_realloc(lr->buf, n + 1);
            if (!nb) return 0;
            lr->buf = nb;
            lr->cap = n + 1;
        }
        memcpy(lr->buf, s, n);
        lr->buf[n] = '\0';
        if (n > 0) {
            HistEvent ev;
            history(lr->hist, &ev, H_ENTER, lr->buf);
        }
        *line = lr->buf;
        return 1;
    }
#endif
    if (isatty(STDIN_FILENO)) {
        fputs("> ", stdout);
        fflush(stdout);
    }
    size_t n = 0;
    g_interrupted = 0;
    for (;;) {
        if (lr->cap - n < 2) {
            size_t nc = lr->cap ? lr->cap * 2 : 256;
            char *nb = hearth_realloc(lr->buf, nc);
            if (!nb) return 0;
            lr->buf = nb;
            lr->cap = nc;
        }
        errno = 0;
        int c = getc(stdin);
        if (c == EOF) {
            if (g_interrupted || errno == EINTR) {
                clearerr(stdin);
                return -1;
            }
            if (n == 0) return 0;
            break;
        }
        if (c == '\n') break;
        lr->buf[n++] = (char)c;
    }
    while (n > 0 && lr->buf[n - 1] == '\r') n--;
    lr->buf[n] = '\0';
    *line = lr->buf;
    return 1;
}

static void chat_help(void) {
    fprintf(stderr, "commands: /reset (forget the conversation), /system TEXT (set the system message; no text\n"
                    "removes it), /quit (or Ctrl-D). End a line with \\ to continue it on the next.\n"
                    "Ctrl-C stops an answer; at the prompt it clears the line, twice in a row quits.\n");
}

/* The interactive loop (or one turn when `one_shot` holds a prompt).
 * Returns the exit status. */
static int run_chat(run_state *r, const run_opts *o, const char *one_shot, size_t one_shot_len) {
    chat_state cs;
    memset(&cs, 0, sizeof cs);
    cs.n_predict = o->n_predict == -2 ? -1 : o->n_predict;
    int rc = CLI_OK;
    hearth_status st = chat_template_load(r, &cs.tmpl);
    if (st < 0) return cli_status_error("run: chat template", st);
    cs.messages = json_array();
    cs.extra = json_object();
    int32_t bos = hearth_vocab_bos(r->vocab), eos = hearth_vocab_eos(r->vocab);
    if (bos >= 0) {
        hearth_str t = hearth_vocab_token_text(r->vocab, bos);
        cs.bos_text = t.ptr;
        cs.bos_len = (size_t)t.len;
        json_object_set_new(cs.extra, "bos_token", json_stringn(t.ptr, (size_t)t.len));
    }
    if (eos >= 0) {
        hearth_str t = hearth_vocab_token_text(r->vocab, eos);
        json_object_set_new(cs.extra, "eos_token", json_stringn(t.ptr, (size_t)t.len));
    }
    if (!cs.messages || !cs.extra) {
        rc = cli_status_error("run", HEARTH_ERR_NOMEM);
        goto done;
    }
    if (o->system) set_system(cs.messages, o->system);

    if (one_shot) {
        if (!add_user(cs.messages, one_shot, one_shot_len)) {
            cli_error("run", "the prompt is not valid UTF-8 (or memory ran out)");
            rc = CLI_FAIL;
            goto done;
        }
        rc = chat_turn(r, &cs);
        if (rc == CLI_OK) print_stats(r);
        goto done;
    }

    fprintf(stderr, "hearth: chatting with a context of %d tokens; /help for commands, Ctrl-D to quit\n",
            (int)r->n_ctx);
    line_reader lr;
    reader_open(&lr);
    bool interrupted_before = false;
    char *pending = NULL; /* a message continued with trailing backslashes */
    size_t pending_len = 0;
    for (;;) {
        const char *line = NULL;
        int got = reader_get(&lr, &line);
        if (got < 0) {
            hearth_free(pending);
            pending = NULL;
            pending_len = 0;
            if (interrupted_before) {
                fputc('\n', stderr);
                break;
            }
            fprintf(stderr, "\n(Ctrl-C again or /quit to leave)\n");
            interrupted_before = true;
            continue;
        }
        interrupted_before = false;
        if (got == 0) {
            if (isatty(STDIN_FILENO)) fputc('\n', stderr);
            break;
        }
        size_t len = strlen(line);
        if (len > 0 && line[len - 1] == '\\') {
            char *np = hearth_realloc(pending, pending_len + len + 1);
            if (!np) break;
            pending = np;
            memcpy(pending + pending_len, line, len - 1);
            pending[pending_len + len - 1] = '\n';
            pending_len += len;
            continue;
        }
        const char *msg = line;
        size_t msg_len = len;
        if (pending) {
            char *np = hearth_realloc(pending, pending_len + len + 1);
            if (!np) break;
            pending = np;
            memcpy(pending + pending_len, line, len + 1);
            pending_len += len;
            msg = pending;
            msg_len = pending_len;
        } else {
            if (len == 0) continue;
            if (strcmp(line, "/quit") == 0 || strcmp(line, "/exit") == 0) break;
            if (strcmp(line, "/help") == 0 || strcmp(line, "/?") == 0) {
                chat_help();
                continue;
            }
            if (strcmp(line, "/reset") == 0) {
                json_t *m0 = json_array_get(cs.messages, 0);
                const char *role = m0 ? json_string_value(json_object_get(m0, "role")) : NULL;
                json_t *sys = (role && strcmp(role, "system") == 0) ? json_incref(m0) : NULL;
                json_array_clear(cs.messages);
                if (sys) json_array_append_new(cs.messages, sys);
                hearth_context_truncate(r->ctx, 0);
                r->n_cache = 0;
                hearth_sampler_reset(r->sampler);
                fprintf(stderr, "hearth: conversation cleared\n");
                continue;
            }
            if (strncmp(line, "/system", 7) == 0 && (line[7] == '\0' || line[7] == ' ')) {
                const char *t = line + 7;
                while (*t == ' ') t++;
                set_system(cs.messages, *t ? t : NULL);
                fprintf(stderr, "hearth: system message %s\n", *t ? "set" : "removed");
                continue;
            }
            if (line[0] == '/' && line[1] != '/' && line[1] != '\0' && line[1] != ' ') {
                fprintf(stderr, "hearth: unknown command '%s' (/help lists them; start with // to send a /)\n",
                        line);
                continue;
            }
            if (line[0] == '/' && line[1] == '/') {
                msg++;
                msg_len--;
            }
        }
        bool added = add_user(cs.messages, msg, msg_len);
        hearth_free(pending);
        pending = NULL;
        pending_len = 0;
        if (!added) {
            cli_error("run", "the message is not valid UTF-8 (or memory ran out); not sent");
            continue;
        }
        g_interrupted = 0;
        chat_turn(r, &cs);
        g_interrupted = 0;
    }
    hearth_free(pending);
    reader_close(&lr);
done:
    json_decref(cs.messages);
    json_decref(cs.extra);
    hearth_chat_template_free(cs.tmpl);
    return rc;
}

/* ---- options ------------------------------------------------------------- */

/* Returns 1 when argv[i] is the option with its value in *v; 0 otherwise,
 * setting *missing when it is the option but its value is missing (error
 * printed). */
static int opt_(cli_args *a, const char *s, const char *l, const char **v, bool *missing) {
    int r = cli_opt(a, s, l, v);
    if (r < 0) *missing = true;
    return r > 0;
}

/* Parses run's options. Returns CLI_OK or the exit status to return; *done
 * is set when --help was printed. */
static int parse_run(int argc, char **argv, run_opts *o, bool *done) {
    cli_args a = {argc, argv, 1, "run"};
    *done = false;
    for (; a.i < argc; a.i++) {
        const char *v = NULL;
        bool fail = false, missing = false;
        if (cli_is_help(&a)) {
            cmd_run_usage(stdout);
            *done = true;
            return CLI_OK;
        }
#define OPT(s, l) opt_(&a, s, l, &v, &missing)
        if (OPT("-m", "--model")) o->model = v;
        else if (OPT("-p", "--prompt")) o->prompt = v;
        else if (OPT("-f", "--file")) o->file = v;
        else if (OPT(NULL, "--system")) o->system = v;
        else if (OPT("-n", "--n-predict")) fail = cli_parse_i32("-n", v, -1, INT32_MAX, &o->n_predict) < 0;
        else if (OPT(NULL, "--temp")) fail = cli_parse_f32("--temp", v, 0.0, 1e6, &o->sp.temperature) < 0;
        else if (OPT(NULL, "--top-k")) fail = cli_parse_i32("--top-k", v, 0, INT32_MAX, &o->sp.top_k) < 0;
        else if (OPT(NULL, "--top-p")) {
            fail = cli_parse_f32("--top-p", v, 0.0, 1.0, &o->sp.top_p) < 0;
            if (!fail && o->sp.top_p <= 0.0f) {
                cli_error("--top-p", "%s must be greater than 0", v);
                fail = true;
            }
        } else if (OPT(NULL, "--min-p")) fail = cli_parse_f32("--min-p", v, 0.0, 1.0, &o->sp.min_p) < 0;
        else if (OPT(NULL, "--repeat-penalty")) {
            fail = cli_parse_f32("--repeat-penalty", v, 0.0, 1e6, &o->sp.repeat_penalty) < 0;
            if (!fail && o->sp.repeat_penalty <= 0.0f) {
                cli_error("--repeat-penalty", "%s must be greater than 0", v);
                fail = true;
            }
        } else if (OPT(NULL, "--repeat-last-n"))
            fail = cli_parse_i32("--repeat-last-n", v, -1, INT32_MAX, &o->sp.penalty_last_n) < 0;
        else if (OPT(NULL, "--frequency-penalty"))
            fail = cli_parse_f32("--frequency-penalty", v, -100.0, 100.0, &o->sp.frequency_penalty) < 0;
        else if (OPT(NULL, "--presence-penalty"))
            fail = cli_parse_f32("--presence-penalty", v, -100.0, 100.0, &o->sp.presence_penalty) < 0;
        else if (OPT(NULL, "--seed")) {
            fail = cli_parse_u64("--seed", v, &o->sp.seed) < 0;
            o->seed_given = true;
        } else if (OPT("-t", "--threads")) fail = cli_parse_i32("-t", v, 0, 1024, &o->n_threads) < 0;
        else if (OPT("-c", "--ctx-size")) fail = cli_parse_i32("-c", v, 0, 1 << 24, &o->n_ctx) < 0;
        else if (OPT(NULL, "--cache-type")) fail = cli_parse_cache_type("--cache-type", v, &o->kv_type) < 0;
        else if (missing) return CLI_USAGE;
        else if (cli_flag(&a, NULL, "--chat")) o->chat = true;
        else if (cli_flag(&a, NULL, "--display-prompt")) o->display_prompt = true;
        else if (cli_flag(&a, NULL, "--no-display-prompt")) o->display_prompt = false;
        else if (argv[a.i][0] != '-' && !o->model) o->model = argv[a.i];
        else return cli_unknown(&a);
        if (fail) return CLI_USAGE;
#undef OPT
    }
    return CLI_OK;
}

/* Returns the exit status. Blocks on file I/O, while computing and, in chat
 * mode, on the terminal. */
int cmd_run(int argc, char **argv) {
    run_opts o;
    memset(&o, 0, sizeof o);
    o.n_predict = -2;
    o.sp = hearth_sampler_default_params();
    bool done = false;
    int rc = parse_run(argc, argv, &o, &done);
    if (rc != CLI_OK || done) return rc;
    if (!o.model) return cli_no_model("run");
    if (o.prompt && o.file) {
        cli_error("run", "give either -p TEXT or -f FILE, not both");
        return CLI_USAGE;
    }
    if (!o.seed_given) o.sp.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);

    char *text = NULL;
    size_t text_len = 0;
    if (o.prompt || o.file) {
        rc = cli_get_text("run", o.prompt, o.file, &text, &text_len);
        if (rc != CLI_OK) return rc;
    }

    run_state r;
    memset(&r, 0, sizeof r);
    double load_s = 0.0;
    if ((rc = cli_load_model("run", o.model, &r.model, &load_s)) != CLI_OK) goto done;
    r.vocab = hearth_model_vocab(r.model);
    r.hp = hearth_model_hparams(r.model);
    if (r.hp->arch == HEARTH_ARCH_BERT) {
        cli_error("run", "%s is an embedding model (%s), it does not generate text; use hearth embed", o.model,
                  r.hp->arch_name);
        rc = CLI_FAIL;
        goto done;
    }
    int32_t n_ctx = o.n_ctx;
    if (n_ctx == 0) {
        n_ctx = r.hp->n_ctx_train > 0 ? r.hp->n_ctx_train : 4096;
        if (n_ctx > 4096) n_ctx = 4096;
    }
    hearth_context_opts co = {n_ctx, 1, o.n_threads, o.kv_type};
    hearth_status st = hearth_context_new_opts(r.model, &co, &r.ctx);
    if (st < 0) {
        rc = cli_status_error("run", st);
        goto done;
    }
    r.n_ctx = hearth_context_n_ctx(r.ctx);
    st = hearth_sampler_new(&o.sp, r.hp->n_vocab, &r.sampler);
    if (st < 0) {
        rc = cli_status_error("run", st);
        goto done;
    }
    r.logits = hearth_malloc((size_t)r.hp->n_vocab * sizeof *r.logits);
    r.cache = hearth_malloc((size_t)r.n_ctx * sizeof *r.cache);
    if (!r.logits || !r.cache) {
        rc = cli_status_error("run", HEARTH_ERR_NOMEM);
        goto done;
    }
    {
        const char *base = strrchr(o.model, '/');
        fprintf(stderr, "hearth: loaded %s (%s, %d layers, %.1f MiB) in %.2f s; context %d", base ? base + 1 : o.model,
                r.hp->arch_name, (int)r.hp->n_layer, (double)hearth_model_weight_bytes(r.model) / (1 << 20), load_s,
                (int)r.n_ctx);
        if (o.sp.temperature > 0.0f) fprintf(stderr, ", seed %llu\n", (unsigned long long)o.sp.seed);
        else fprintf(stderr, ", greedy\n");
    }

    struct sigaction old_sa;
    g_interrupted = 0;
    install_sigint(&old_sa);
    if (text && !o.chat && !o.system) rc = run_completion(&r, &o, text, text_len);
    else rc = run_chat(&r, &o, text, text_len);
    sigaction(SIGINT, &old_sa, NULL);
done:
    hearth_free(r.logits);
    hearth_free(r.cache);
    hearth_sampler_free(r.sampler);
    hearth_context_free(r.ctx);
    hearth_model_free(r.model);
    hearth_free(text);
    return rc;
}
