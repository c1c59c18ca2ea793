/* test_cli.c - the hearth command end to end: argument errors, tokenize,
 * greedy run, perplexity, logits, embed and info against the shared
 * reference data. The binary comes from $HEARTH_BIN (set by CTest). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <poll.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hearth/gguf.h"
#include "test.h"
#include "test_proc.h"

static const char *g_bin;
static char g_tmpdir[256];

static void run_args(result *r, const char *const *args) { run_bin(g_bin, r, args); }

#define RUN(r, ...) run_args((r), (const char *const[]){__VA_ARGS__, NULL})

static int count_lines(const char *s, size_t len) {
    int n = 0;
    for (size_t i = 0; i < len; i++) n += s[i] == '\n';
    return n;
}

/* An error: non-zero exit (want_status when >= 0), nothing on stdout, one
 * line on stderr starting "hearth: ". */
static void expect_error(const char *what, int want_status, const char *const *args) {
    result r;
    run_args(&r, args);
    CHECK(r.status != 0 && r.status < 128, "%s: exit %d", what, r.status);
    if (want_status >= 0) CHECK(r.status == want_status, "%s: exit %d, want %d", what, r.status, want_status);
    CHECK(r.out_len == 0, "%s: stdout not empty: %s", what, r.out);
    CHECK(count_lines(r.err, r.err_len) == 1 && r.err[r.err_len - 1] == '\n', "%s: stderr is not one line: %s",
          what, r.err);
    CHECK(strncmp(r.err, "hearth: ", 8) == 0, "%s: stderr: %s", what, r.err);
    result_free(&r);
}
#define EXPECT_ERROR(what, st, ...) expect_error((what), (st), (const char *const[]){__VA_ARGS__, NULL})

/* writes bytes to a new temp file; returns its path (static slots) */
static const char *temp_file(const void *data, size_t len) {
    static char paths[8][300];
    static int slot;
    char *p = paths[slot++ & 7];
    snprintf(p, 300, "%s/in-XXXXXX", g_tmpdir);
    int fd = mkstemp(p);
    if (fd < 0) return "/nonexistent-temp";
    if (len && write(fd, data, len) != (ssize_t)len) CHECK(0, "cannot write temp file");
    close(fd);
    return p;
}

static void test_errors(void) {
    const char *m = test_data("models/stories260K.gguf");
    unsigned char junk[4096];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof junk; i++) {
        x = x * 1103515245u + 12345u;
        junk[i] = (unsigned char)(x >> 16);
    }
    const char *garbage = temp_file(junk, sizeof junk);
    const char *empty = temp_file("", 0);

    EXPECT_ERROR("unknown command", 2, "frobnicate");
    EXPECT_ERROR("unknown flag", 2, "run", "-m", m, "-p", "x", "--bogus");
    EXPECT_ERROR("unknown flag tokenize", 2, "tokenize", "-m", m, "-p", "x", "--nope");
    EXPECT_ERROR("missing value", 2, "run", "-m", m, "-p");
    EXPECT_ERROR("missing value -m", 2, "info", "-m");
    EXPECT_ERROR("bad number temp", 2, "run", "-m", m, "-p", "x", "--temp", "abc");
    EXPECT_ERROR("bad number n", 2, "run", "-m", m, "-p", "x", "-n", "12x");
    EXPECT_ERROR("negative n", 2, "run", "-m", m, "-p", "x", "-n", "-5");
    EXPECT_ERROR("negative ctx", 2, "run", "-m", m, "-p", "x", "-c", "-1");
    EXPECT_ERROR("negative threads", 2, "perplexity", "-m", m, "-f", m, "-t", "-2");
    EXPECT_ERROR("top-p out of range", 2, "run", "-m", m, "-p", "x", "--top-p", "1.5");
    EXPECT_ERROR("top-p zero", 2, "run", "-m", m, "-p", "x", "--top-p", "0");
    EXPECT_ERROR("min-p out of range", 2, "run", "-m", m, "-p", "x", "--min-p", "2");
    EXPECT_ERROR("negative temp", 2, "run", "-m", m, "-p", "x", "--temp", "-1");
    EXPECT_ERROR("nan temp", 2, "run", "-m", m, "-p", "x", "--temp", "nan");
    EXPECT_ERROR("negative seed", 2, "run", "-m", m, "-p", "x", "--seed", "-1");
    EXPECT_ERROR("huge top-k", 2, "run", "-m", m, "-p", "x", "--top-k", "99999999999");
    EXPECT_ERROR("no text", 2, "tokenize", "-m", m);
    EXPECT_ERROR("both texts", 2, "embed", "-m", m, "-p", "x", "-f", m);
    EXPECT_ERROR("logits without -o", 2, "logits", "-m", m, "-p", "x");
    EXPECT_ERROR("missing model file", 1, "run", "-m", "/nonexistent/model.gguf", "-p", "x");
    EXPECT_ERROR("missing model file tokenize", 1, "tokenize", "-m", "/nonexistent/model.gguf", "-p", "x");
    EXPECT_ERROR("missing text file", 1, "tokenize", "-m", m, "-f", "/nonexistent/text.txt");
    EXPECT_ERROR("directory as model", 1, "info", "-m", g_tmpdir);
    EXPECT_ERROR("garbage model run", 1, "run", "-m", garbage, "-p", "x");
    EXPECT_ERROR("garbage model info", 1, "info", "-m", garbage);
    EXPECT_ERROR("garbage model tokenize", 1, "tokenize", "-m", garbage, "-p", "x");
    EXPECT_ERROR("garbage model perplexity", 1, "perplexity", "-m", garbage, "-f", garbage);
    EXPECT_ERROR("garbage model embed", 1, "embed", "-m", garbage, "-p", "x");
    EXPECT_ERROR("garbage model logits", 1, "logits", "-m", garbage, "-p", "x", "-o", "/dev/null");
    EXPECT_ERROR("empty model", 1, "info", empty);
    EXPECT_ERROR("embedding model in run", 1, "run", "-m", test_data("models/tiny-bert-f32.gguf"), "-p", "x");
    EXPECT_ERROR("text too short", 1, "perplexity", "-m", m, "-p", "Once upon a time", "-c", "128");

    /* no model: help on how to get one, usage status */
    result r;
    RUN(&r, "run");
    CHECK(r.status == 2 && r.out_len == 0, "run without a model: exit %d", r.status);
    CHECK(strstr(r.err, "model") && strstr(r.err, ".gguf"), "run without a model: %s", r.err);
    result_free(&r);
    RUN(&r, "--version");
    CHECK(r.status == 0 && strncmp(r.out, "hearth ", 7) == 0);
    result_free(&r);
    RUN(&r, "--help");
    CHECK(r.status == 0 && strstr(r.out, "perplexity"));
    result_free(&r);
    const char *cmds[] = {"run", "tokenize", "perplexity", "embed", "logits", "info"};
    for (int i = 0; i < 6; i++) {
        RUN(&r, cmds[i], "--help");
        CHECK(r.status == 0 && strstr(r.out, "usage: hearth ") && r.err_len == 0, "%s --help", cmds[i]);
        result_free(&r);
        RUN(&r, cmds[i], "-h");
        CHECK(r.status == 0 && r.out_len > 0, "%s -h", cmds[i]);
        result_free(&r);
    }
    RUN(&r, "");
    CHECK(r.status == 2);
    result_free(&r);
    {
        result r0;
        run_args(&r0, (const char *const[]){NULL});
        CHECK(r0.status == 2 && r0.out_len == 0 && r0.err_len > 0, "no arguments: exit %d", r0.status);
        result_free(&r0);
    }
}

/* formats ids as the CLI does */
static void ids_json(const json_t *arr, char *buf, size_t cap) {
    size_t off = 0;
    off += (size_t)snprintf(buf + off, cap - off, "[");
    for (size_t i = 0; i < json_array_size(arr) && off < cap; i++)
        off += (size_t)snprintf(buf + off, cap - off, i ? ", %lld" : "%lld",
                                (long long)json_integer_value(json_array_get(arr, i)));
    if (off < cap) snprintf(buf + off, cap - off, "]\n");
}

static void test_tokenize(void) {
    const char *vocab = test_data("tokenizer/llama-spm.gguf");
    json_error_t jerr;
    json_t *tests = json_load_file(test_data("tokenizer/llama-spm.tests.json"), JSON_ALLOW_NUL, &jerr);
    REQUIRE(tests && json_is_array(tests), "llama-spm.tests.json: %s", jerr.text);
    int checked = 0;
    for (size_t i = 0; i < json_array_size(tests) && checked < 12; i++) {
        json_t *t = json_array_get(tests, i);
        size_t len = json_string_length(json_object_get(t, "text"));
        const char *text = json_string_value(json_object_get(t, "text"));
        if (!text || len == 0) continue;
        const char *path = temp_file(text, len);
        char want[16384];
        result r;
        ids_json(json_object_get(t, "ids"), want, sizeof want);
        RUN(&r, "tokenize", "-m", vocab, "-f", path);
        CHECK(r.status == 0 && strcmp(r.out, want) == 0, "tokenize %zu: got %s want %s (%s)", i, r.out, want,
              r.err);
        result_free(&r);
        ids_json(json_object_get(t, "ids_add_special"), want, sizeof want);
        RUN(&r, "tokenize", vocab, "--add-special", "-f", path);
        CHECK(r.status == 0 && strcmp(r.out, want) == 0, "tokenize --add-special %zu: got %s want %s", i, r.out,
              want);
        result_free(&r);
        ids_json(json_object_get(t, "ids_parse_special"), want, sizeof want);
        RUN(&r, "tokenize", "-m", vocab, "--parse-special", "-f", path);
        CHECK(r.status == 0 && strcmp(r.out, want) == 0, "tokenize --parse-special %zu: got %s want %s", i, r.out,
              want);
        result_free(&r);
        checked++;
    }
    CHECK(checked == 12);
    /* -p gives the same as -f for plain text */
    result r;
    RUN(&r, "tokenize", "-m", vocab, "-p", "Hello world");
    for (size_t i = 0; i < json_array_size(tests); i++) {
        json_t *t = json_array_get(tests, i);
        if (strcmp(json_string_value(json_object_get(t, "text")), "Hello world") != 0) continue;
        char want[1024];
        ids_json(json_object_get(t, "ids"), want, sizeof want);
        CHECK(r.status == 0 && strcmp(r.out, want) == 0, "Hello world: %s vs %s", r.out, want);
    }
    result_free(&r);
    json_decref(tests);
}

/* decodes a hex string into a malloc'd buffer */
static char *unhex(const char *hex, size_t *len) {
    size_t n = strlen(hex) / 2;
    char *b = malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        sscanf(hex + 2 * i, "%2x", &v);
        b[i] = (char)v;
    }
    b[n] = '\0';
    *len = n;
    return b;
}

/* The "greedy steps checkable" column of TOLERANCES.md's per-file table
 * for a reference (e.g. "stories260K-q4_0.P2"): how many generated tokens
 * come before the first step whose margin is within the noise, or -1. */
static int md_checkable(const char *md, const char *ref) {
    char key[160];
    snprintf(key, sizeof key, "| %s |", ref);
    const char *p = strstr(md, key);
    if (!p) return -1;
    const char *eol = strchr(p, '\n');
    if (!eol) eol = p + strlen(p);
    const char *q = eol;
    while (q > p && (q[-1] == ' ' || q[-1] == '|' || q[-1] == '\r')) q--;
    while (q > p && q[-1] != '|') q--;
    int k = -1, of = -1;
    if (sscanf(q, " %d/%d", &k, &of) != 2) return -1;
    return k;
}

static void test_run_greedy(void) {
    char *tol_md = test_read_file(test_data("reference/TOLERANCES.md"), NULL);
    REQUIRE(tol_md);
    const char *models[] = {"stories260K", "stories260K-q8_0", "stories260K-q4_0"};
    const char *prompts[] = {"P1", "P2"};
    for (int mi = 0; mi < 3; mi++) {
        for (int pi = 0; pi < 2; pi++) {
            char rel[256], model[256], ptxt[256];
            snprintf(rel, sizeof rel, "reference/%s.%s.json", models[mi], prompts[pi]);
            json_error_t jerr;
            json_t *ref = json_load_file(test_data(rel), 0, &jerr);
            CHECK(ref != NULL, "%s: %s", rel, jerr.text);
            if (!ref) continue;
            char mrel[128];
            snprintf(mrel, sizeof mrel, "models/%s.gguf", models[mi]);
            snprintf(model, sizeof model, "%s", test_data(mrel));
            snprintf(ptxt, sizeof ptxt, "reference/%s.txt", prompts[pi]);
            char ptxt_path[512];
            snprintf(ptxt_path, sizeof ptxt_path, "%s", test_data(ptxt));
            size_t want_len = 0;
            char *want = unhex(json_string_value(json_object_get(ref, "generated_text_hex")), &want_len);
            /* the quantized files may legitimately diverge once a step's
             * top-2 margin is within the noise: compare the text of the
             * steps before that (TOLERANCES.md), all of it for F32 */
            char refname[128];
            snprintf(refname, sizeof refname, "%s.%s", models[mi], prompts[pi]);
            int k_check = md_checkable(tol_md, refname);
            json_t *pieces = json_object_get(ref, "generated_pieces_hex");
            CHECK(k_check >= 0 && k_check <= (int)json_array_size(pieces), "TOLERANCES.md: no greedy steps for %s",
                  refname);
            bool full = k_check == (int)json_array_size(pieces);
            size_t prefix_len = 0;
            for (int k = 0; k < k_check && k < (int)json_array_size(pieces); k++)
                prefix_len += strlen(json_string_value(json_array_get(pieces, k))) / 2;
            if (prefix_len > want_len) prefix_len = want_len;
            char n_gen[16];
            snprintf(n_gen, sizeof n_gen, "%d", (int)json_integer_value(json_object_get(ref, "n_generated")));
            result r;
            /* the prompt and 32 tokens need more than the file's 128 positions for P2 */
            RUN(&r, "run", "-m", model, "-f", ptxt_path, "-n", n_gen, "--temp", "0", "-c", "256");
            CHECK(r.status == 0, "run %s %s: exit %d: %s", models[mi], prompts[pi], r.status, r.err);
            if (full)
                CHECK(r.out_len == want_len && memcmp(r.out, want, want_len) == 0,
                      "run %s %s:\n got: '%s'\nwant: '%s'", models[mi], prompts[pi], r.out, want);
            else
                CHECK(r.out_len >= prefix_len && memcmp(r.out, want, prefix_len) == 0 && r.out_len > prefix_len,
                      "run %s %s: the first %d tokens differ:\n got: '%s'\nwant: '%.*s'", models[mi], prompts[pi],
                      k_check, r.out, (int)prefix_len, want);
            result_free(&r);
            if (pi == 0 && mi == 0) {
                /* -p gives the same as -f, and the default sampler with a fixed seed is reproducible */
                const char *p1 = json_string_value(json_object_get(ref, "prompt"));
                RUN(&r, "run", model, "-p", p1, "-n", n_gen, "--temp", "0");
                CHECK(r.status == 0 && r.out_len == want_len && memcmp(r.out, want, want_len) == 0,
                      "run -p P1: '%s'", r.out);
                result_free(&r);
                result a, b;
                RUN(&a, "run", model, "-p", p1, "-n", "24", "--seed", "7");
                RUN(&b, "run", model, "-p", p1, "-n", "24", "--seed", "7");
                CHECK(a.status == 0 && b.status == 0 && a.out_len > 0 && strcmp(a.out, b.out) == 0,
                      "same seed, same text: '%s' vs '%s'", a.out, b.out);
                result_free(&a);
                result_free(&b);
                /* -n 0 generates nothing */
                RUN(&r, "run", model, "-p", p1, "-n", "0");
                CHECK(r.status == 0 && r.out_len == 0, "-n 0: '%s'", r.out);
                result_free(&r);
            }
            free(want);
            json_decref(ref);
        }
    }
    free(tol_md);
}

/* Finds "- <name>: |ΔPPL| ≤ <tol> from <value>." in PERPLEXITY.md. */
static int md_target(const char *md, const char *name, double *tol, double *value) {
    char key[64];
    snprintf(key, sizeof key, "- %s: |", name);
    const char *p = strstr(md, key);
    if (!p) return -1;
    const char *le = strstr(p, "\xe2\x89\xa4"); /* ≤ */
    const char *eol = strchr(p, '\n');
    if (!le || (eol && le > eol)) return -1;
    if (sscanf(le + 3, " %lf from %lf", tol, value) != 2) return -1;
    return 0;
}

/* Finds the ± column of the main table row for a model file. */
static int md_stderr(const char *md, const char *file, double *pm) {
    char key[96];
    snprintf(key, sizeof key, "| %s ", file);
    const char *p = strstr(md, key);
    if (!p) return -1;
    /* | file (T) | **ppl** | pm | */
    const char *bar = strchr(p + 1, '|');
    if (!bar) return -1;
    bar = strchr(bar + 1, '|');
    if (!bar) return -1;
    return sscanf(bar + 1, " %lf", pm) == 1 ? 0 : -1;
}

static void test_perplexity(void) {
    char *md = test_read_file(test_data("reference/PERPLEXITY.md"), NULL);
    REQUIRE(md);
    const char *names[] = {"F32", "Q8_0", "Q4_0"};
    const char *files[] = {"stories260K.gguf", "stories260K-q8_0.gguf", "stories260K-q4_0.gguf"};
    char text_path[512];
    snprintf(text_path, sizeof text_path, "%s", test_data("reference/ppl-text.txt"));
    for (int i = 0; i < 3; i++) {
        double tol = 0, want = 0, want_pm = 0;
        CHECK(md_target(md, names[i], &tol, &want) == 0 && tol > 0 && want > 1, "PERPLEXITY.md: no target for %s",
              names[i]);
        CHECK(md_stderr(md, files[i], &want_pm) == 0 && want_pm > 0, "PERPLEXITY.md: no +/- for %s", files[i]);
        char rel[128];
        snprintf(rel, sizeof rel, "models/%s", files[i]);
        result r;
        RUN(&r, "perplexity", "-m", test_data(rel), "-f", text_path, "-c", "128");
        CHECK(r.status == 0, "perplexity %s: exit %d: %s", files[i], r.status, r.err);
        const char *last = strstr(r.out, "PPL = ");
        double ppl = 0, pm = 0;
        CHECK(last && sscanf(last, "PPL = %lf +/- %lf", &ppl, &pm) == 2, "perplexity %s: output '%s'", files[i],
              r.out);
        CHECK(fabs(ppl - want) <= tol, "perplexity %s: %.4f, want %.4f +/- %g", files[i], ppl, want, tol);
        CHECK(fabs(pm - want_pm) <= 0.01 * want_pm, "perplexity %s: +/- %.5f, want %.5f", files[i], pm, want_pm);
        CHECK(strstr(r.out, "[1]") == r.out && strstr(r.out, "[18]"), "running values: %s", r.out);
        CHECK(last && strchr(last, '\n') && strchr(last, '\n')[1] == '\0', "PPL is the last line");
        result_free(&r);
    }
    free(md);
}

static void test_logits(void) {
    json_error_t jerr;
    json_t *ref = json_load_file(test_data("reference/stories260K.P1.json"), 0, &jerr);
    REQUIRE(ref, "%s", jerr.text);
    char out[320];
    snprintf(out, sizeof out, "%s/logits.f32", g_tmpdir);
    char ptxt[512];
    snprintf(ptxt, sizeof ptxt, "%s", test_data("reference/P1.txt"));
    result r;
    RUN(&r, "logits", "-m", test_data("models/stories260K.gguf"), "-f", ptxt, "-o", out);
    CHECK(r.status == 0, "logits: exit %d: %s", r.status, r.err);
    char want[4096];
    ids_json(json_object_get(ref, "prompt_token_ids"), want, sizeof want);
    CHECK(strcmp(r.out, want) == 0, "logits ids: %s vs %s", r.out, want);
    result_free(&r);
    size_t n_tok = (size_t)json_integer_value(json_object_get(ref, "n_prompt_tokens"));
    size_t n_vocab = (size_t)json_integer_value(json_object_get(ref, "n_vocab"));
    size_t len = 0;
    char *got = test_read_file(out, &len);
    CHECK(got && len == 4 * n_tok * n_vocab, "logits file: %zu bytes, want %zu", len, 4 * n_tok * n_vocab);
    size_t rlen = 0;
    char rel[128];
    snprintf(rel, sizeof rel, "reference/%s", json_string_value(json_object_get(ref, "logits_file")));
    char *want_l = test_read_file(test_data(rel), &rlen);
    if (got && want_l && len == rlen) {
        double worst = 0;
        for (size_t i = 0; i < len / 4; i++) {
            float a, b;
            memcpy(&a, got + 4 * i, 4);
            memcpy(&b, want_l + 4 * i, 4);
            double d = fabs((double)a - (double)b);
            if (!(d <= worst)) worst = d;
        }
        CHECK(worst < 1e-3, "logits differ from the reference by %g", worst);
    }
    free(got);
    free(want_l);
    unlink(out);
    json_decref(ref);
}

static void test_embed(void) {
    json_error_t jerr;
    json_t *ref = json_load_file(test_data("reference/tiny-bert-f32.S4.json"), 0, &jerr);
    REQUIRE(ref, "%s", jerr.text);
    json_t *s = json_array_get(json_object_get(ref, "sentences"), 1);
    const char *text = json_string_value(json_object_get(s, "text"));
    json_t *emb = json_object_get(s, "embedding");
    REQUIRE(text && emb);
    result r;
    RUN(&r, "embed", "-m", test_data("models/tiny-bert-f32.gguf"), "-p", text);
    CHECK(r.status == 0, "embed: exit %d: %s", r.status, r.err);
    json_t *got = json_loads(r.out, 0, &jerr);
    CHECK(got && json_is_array(got), "embed output is not a JSON array: %s", r.out);
    size_t n = json_array_size(got);
    CHECK(n == 128 && n == json_array_size(emb), "embed: %zu floats", n);
    double norm = 0, dot = 0;
    for (size_t i = 0; i < n; i++) {
        double g = json_number_value(json_array_get(got, i));
        norm += g * g;
        dot += g * json_number_value(json_array_get(emb, i));
    }
    CHECK(fabs(sqrt(norm) - 1.0) < 1e-4, "embed norm %g", sqrt(norm));
    CHECK(dot > 0.9999, "cosine with the reference %g", dot);
    json_decref(got);
    result_free(&r);
    json_decref(ref);
}

static void test_info(void) {
    const char *m = test_data("models/stories260K.gguf");
    hearth_gguf *g = NULL;
    REQUIRE(hearth_gguf_open(m, &g) == HEARTH_OK, "%s", hearth_error_last());
    char want[64];
    snprintf(want, sizeof want, "tensors: %llu,", (unsigned long long)hearth_gguf_n_tensors(g));
    hearth_str arch = {"", 0};
    hearth_gguf_get_str(g, "general.architecture", &arch);
    char want_arch[80];
    snprintf(want_arch, sizeof want_arch, "architecture: %.*s\n", (int)arch.len, arch.ptr);
    const hearth_gguf_tensor *t0 = hearth_gguf_tensor_at(g, 0);
    char t0name[128];
    snprintf(t0name, sizeof t0name, "%.*s", t0 ? (int)t0->name.len : 0, t0 ? t0->name.ptr : "");
    hearth_gguf_free(g);

    result r;
    RUN(&r, "info", "-m", m);
    CHECK(r.status == 0, "info: exit %d: %s", r.status, r.err);
    CHECK(arch.len > 0 && strstr(r.out, want_arch), "info: no '%s' in output", want_arch);
    CHECK(strstr(r.out, want), "info: no '%s'", want);
    CHECK(t0name[0] && strstr(r.out, t0name), "info: tensor %s not listed", t0name);
    CHECK(strstr(r.out, "tokenizer:"), "info: no tokenizer line");
    result_free(&r);

    RUN(&r, "info", test_data("tokenizer/llama-spm.gguf"));
    CHECK(r.status == 0 && strstr(r.out, "tensors: 0,") && strstr(r.out, "32000 tokens"),
          "info on a vocab-only file: %s %s", r.out, r.err);
    result_free(&r);
}

int main(void) {
    g_bin = getenv("HEARTH_BIN");
    if (!g_bin || !*g_bin) {
        fprintf(stderr, "FAIL: HEARTH_BIN is not set (CTest sets it to the hearth binary)\n");
        return 1;
    }
    if (access(g_bin, X_OK) != 0) {
        fprintf(stderr, "FAIL: HEARTH_BIN=%s is not executable\n", g_bin);
        return 1;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(g_tmpdir, sizeof g_tmpdir, "%s/hearth-cli-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_tmpdir)) {
        fprintf(stderr, "FAIL: mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    test_errors();
    test_tokenize();
    test_info();
    test_logits();
    test_embed();
    test_run_greedy();
    test_perplexity();

    /* remove the temp files */
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", g_tmpdir);
    TEST_DONE();
}
