/* test_bench.c - `hearth bench` end to end on the tiny shared model: the
 * JSON lines parse and carry the fields the README documents with positive
 * finite rates, the table has its columns, -p 0 / -n 0 skip tests, and bad
 * flags fail with one line on stderr. No timing is asserted. The binary
 * comes from $HEARTH_BIN (set by CTest). */
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

/* Runs `hearth bench args...` (NULL-terminated). */
static void run_args(result *r, const char *const *args) {
    const char *argv[64];
    int n = 0;
    argv[n++] = "bench";
    for (int i = 0; args[i] && n < 63; i++) argv[n++] = args[i];
    argv[n] = NULL;
    run_bin(g_bin, r, argv);
}

#define RUN(r, ...) run_args((r), (const char *const[]){__VA_ARGS__, NULL})

/* The model's numbers computed here from the GGUF, independently of bench. */
static uint64_t g_params, g_tensor_bytes;

static bool is_pos_finite(const json_t *v) {
    return json_is_number(v) && isfinite(json_number_value(v)) && json_number_value(v) > 0;
}

/* Splits stdout into JSON objects (one per line); returns how many parsed,
 * storing up to max in objs. Every line must parse. */
static int parse_lines(const result *r, json_t **objs, int max) {
    int n = 0;
    const char *p = r->out;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        json_error_t e;
        json_t *j = json_loadb(p, len, 0, &e);
        CHECK(j && json_is_object(j), "line %d is not a JSON object: %.*s (%s)", n + 1, (int)len, p, e.text);
        if (j && n < max) objs[n++] = j;
        else json_decref(j);
        p += len + (nl ? 1 : 0);
    }
    return n;
}

/* Returns the object whose "test" is `test`, or NULL. */
static json_t *find_test(json_t **objs, int n, const char *test) {
    for (int i = 0; i < n; i++) {
        const char *t = json_string_value(json_object_get(objs[i], "test"));
        if (t && strcmp(t, test) == 0) return objs[i];
    }
    return NULL;
}

/* The fields every line carries. */
static void check_common(const json_t *j, const char *what) {
    CHECK(json_is_string(json_object_get(j, "model")) &&
              strcmp(json_string_value(json_object_get(j, "model")), "stories260K.gguf") == 0,
          "%s: model", what);
    json_int_t size = json_integer_value(json_object_get(j, "size_bytes"));
    CHECK(size > 0 && (uint64_t)size <= g_tensor_bytes, "%s: size_bytes %lld (tensors %llu)", what, (long long)size,
          (unsigned long long)g_tensor_bytes);
    CHECK((uint64_t)json_integer_value(json_object_get(j, "params")) == g_params, "%s: params %lld, want %llu", what,
          (long long)json_integer_value(json_object_get(j, "params")), (unsigned long long)g_params);
    const char *isa = json_string_value(json_object_get(j, "isa"));
    CHECK(isa && isa[0], "%s: isa", what);
}

/* A pp or tg result line. */
static void check_speed(const json_t *j, const char *test, int threads, int reps) {
    REQUIRE(j, "no %s line", test);
    check_common(j, test);
    CHECK(json_integer_value(json_object_get(j, "threads")) == threads, "%s: threads", test);
    CHECK(json_integer_value(json_object_get(j, "reps")) == reps, "%s: reps", test);
    CHECK(is_pos_finite(json_object_get(j, "avg_ts")), "%s: avg_ts", test);
    const json_t *sd = json_object_get(j, "stddev_ts");
    CHECK(json_is_number(sd) && isfinite(json_number_value(sd)) && json_number_value(sd) >= 0, "%s: stddev_ts",
          test);
    const json_t *s = json_object_get(j, "samples_ts");
    REQUIRE(json_is_array(s) && json_array_size(s) == (size_t)reps, "%s: samples_ts", test);
    double sum = 0;
    for (size_t i = 0; i < json_array_size(s); i++) {
        CHECK(is_pos_finite(json_array_get(s, i)), "%s: sample %zu", test, i);
        sum += json_number_value(json_array_get(s, i));
    }
    /* the mean is the mean of the samples that are printed */
    double avg = json_number_value(json_object_get(j, "avg_ts"));
    CHECK(fabs(sum / reps - avg) <= 1e-3 * avg, "%s: avg_ts %g vs samples' mean %g", test, avg, sum / reps);
}

static void free_objs(json_t **objs, int n) {
    for (int i = 0; i < n; i++) json_decref(objs[i]);
}

static void test_json(const char *m) {
    result r;
    RUN(&r, "-m", m, "-p", "16", "-n", "8", "-r", "2", "-t", "1", "--json");
    CHECK(r.status == 0, "bench --json: exit %d: %s", r.status, r.err);
    CHECK(r.err_len == 0, "bench --json wrote to stderr: %s", r.err);
    json_t *objs[16];
    int n = parse_lines(&r, objs, 16);
    CHECK(n == 3, "want pp16, tg8 and load lines, got %d:\n%s", n, r.out);
    check_speed(find_test(objs, n, "pp16"), "pp16", 1, 2);
    check_speed(find_test(objs, n, "tg8"), "tg8", 1, 2);
    json_t *pp = find_test(objs, n, "pp16"), *tg = find_test(objs, n, "tg8");
    if (pp) CHECK(json_integer_value(json_object_get(pp, "n_prompt")) == 16, "pp16: n_prompt");
    if (tg) CHECK(json_integer_value(json_object_get(tg, "n_gen")) == 8, "tg8: n_gen");
    json_t *load = find_test(objs, n, "load");
    CHECK(load != NULL, "no load line");
    if (load) {
        check_common(load, "load");
        CHECK(is_pos_finite(json_object_get(load, "load_ms")), "load_ms");
        CHECK(is_pos_finite(json_object_get(load, "peak_rss_mib")), "peak_rss_mib");
        /* the process maps at least the weights it benchmarked */
        CHECK(json_number_value(json_object_get(load, "peak_rss_mib")) * 1048576.0 >=
                  (double)json_integer_value(json_object_get(load, "size_bytes")),
              "peak RSS below the weights");
    }
    free_objs(objs, n);
    result_free(&r);
}

/* -p 0 skips pp; two thread counts give one line each; --ttft and --membw
 * add their lines. */
static void test_options(const char *m) {
    result r;
    RUN(&r, "-m", m, "-p", "0", "-n", "4", "-r", "1", "-t", "1,2", "--ttft", "4", "--membw", "--json");
    CHECK(r.status == 0, "exit %d: %s", r.status, r.err);
    json_t *objs[16];
    int n = parse_lines(&r, objs, 16);
    int tg = 0, pp = 0, membw = 0, ttft = 0;
    for (int i = 0; i < n; i++) {
        const char *t = json_string_value(json_object_get(objs[i], "test"));
        if (!t) continue;
        if (strncmp(t, "pp", 2) == 0) pp++;
        if (strcmp(t, "tg4") == 0) {
            tg++;
            check_speed(objs[i], "tg4", tg, 1);
        }
        if (strcmp(t, "ttft4") == 0) {
            ttft++;
            CHECK(is_pos_finite(json_object_get(objs[i], "avg_ms")), "ttft4: avg_ms");
        }
        if (strcmp(t, "membw") == 0) {
            membw++;
            check_common(objs[i], "membw");
            CHECK(is_pos_finite(json_object_get(objs[i], "membw_gbps")), "membw_gbps");
            CHECK(is_pos_finite(json_object_get(objs[i], "ceiling_ts")), "ceiling_ts");
            CHECK(is_pos_finite(json_object_get(objs[i], "pct_of_ceiling")), "pct_of_ceiling");
            /* at least every weight byte except the embedding rows not read */
            CHECK(json_number_value(json_object_get(objs[i], "bytes_per_token")) > 0 &&
                      json_number_value(json_object_get(objs[i], "bytes_per_token")) <= 2.0 * (double)g_tensor_bytes,
                  "bytes_per_token");
        }
    }
    CHECK(pp == 0, "-p 0 still ran pp");
    CHECK(tg == 2, "want tg4 for 1 and 2 threads, got %d", tg);
    CHECK(ttft == 2, "want ttft4 for 1 and 2 threads, got %d", ttft);
    CHECK(membw == 2, "want membw for 1 and 2 threads, got %d", membw);
    free_objs(objs, n);
    result_free(&r);

    /* the markdown table */
    RUN(&r, "-m", m, "-p", "8", "-n", "0", "-r", "1", "-t", "1");
    CHECK(r.status == 0, "table: exit %d: %s", r.status, r.err);
    CHECK(strstr(r.out, "| model | size | params | isa | threads | test | t/s |") != NULL, "table header:\n%s", r.out);
    CHECK(strstr(r.out, "| stories260K.gguf |") != NULL && strstr(r.out, "| pp8 |") != NULL, "pp8 row:\n%s", r.out);
    CHECK(strstr(r.out, "| tg") == NULL, "-n 0 still ran tg:\n%s", r.out);
    CHECK(strstr(r.out, "load ms:") != NULL && strstr(r.out, "peak RSS MiB:") != NULL, "footer:\n%s", r.out);
    result_free(&r);
}

/* An error: exit 1 or 2, nothing on stdout, one "hearth: " line on stderr. */
static void expect_error(const char *what, const char *const *args) {
    result r;
    run_args(&r, args);
    CHECK(r.status == 1 || r.status == 2, "%s: exit %d", what, r.status);
    CHECK(r.out_len == 0, "%s: stdout not empty: %s", what, r.out);
    int lines = 0;
    for (size_t i = 0; i < r.err_len; i++) lines += r.err[i] == '\n';
    CHECK(lines == 1 && strncmp(r.err, "hearth: ", 8) == 0, "%s: stderr: %s", what, r.err);
    result_free(&r);
}
#define EXPECT_ERROR(what, ...) expect_error((what), (const char *const[]){__VA_ARGS__, NULL})

static void test_errors(const char *m) {
    EXPECT_ERROR("-t 0", "-m", m, "-t", "0");
    EXPECT_ERROR("-t 1,,2", "-m", m, "-t", "1,,2");
    EXPECT_ERROR("-t 1,", "-m", m, "-t", "1,");
    EXPECT_ERROR("-t x", "-m", m, "-t", "x");
    EXPECT_ERROR("-r x", "-m", m, "-r", "x");
    EXPECT_ERROR("-r 0", "-m", m, "-r", "0");
    EXPECT_ERROR("-p -1", "-m", m, "-p", "-1");
    EXPECT_ERROR("-n 5x", "-m", m, "-n", "5x");
    EXPECT_ERROR("--ttft 0", "-m", m, "--ttft", "0");
    EXPECT_ERROR("-r missing", "-m", m, "-r");
    EXPECT_ERROR("unknown flag", "-m", m, "--bogus");
    EXPECT_ERROR("missing model", "-m", "/nonexistent/model.gguf", "-p", "4", "-n", "4");
    EXPECT_ERROR("not a gguf", "-m", "/etc/passwd", "-p", "4", "-n", "4");
    /* an embedding model has no generation to measure */
    EXPECT_ERROR("bert", "-m", test_data("models/tiny-bert-f32.gguf"), "-p", "4", "-n", "4");
}

int main(void) {
    g_bin = getenv("HEARTH_BIN");
    if (!g_bin || !*g_bin) {
        fprintf(stderr, "FAIL: HEARTH_BIN is not set (run through ctest)\n");
        return 1;
    }
    const char *m = test_data("models/stories260K.gguf");
    hearth_gguf *g = NULL;
    if (hearth_gguf_open(m, &g) < 0) {
        fprintf(stderr, "FAIL: cannot open fixture %s (set HEARTH_TEST_DATA)\n", m);
        return 1;
    }
    for (uint64_t i = 0; i < hearth_gguf_n_tensors(g); i++) {
        const hearth_gguf_tensor *t = hearth_gguf_tensor_at(g, i);
        g_params += (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
        g_tensor_bytes += t->nbytes;
    }
    hearth_gguf_free(g);
    test_json(m);
    test_options(m);
    test_errors(m);
    TEST_DONE();
}
