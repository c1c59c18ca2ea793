/* test_sampler.c - greedy, seeding, top-k/top-p/min-p, temperature, the
 * empirical distribution against softmax, penalties, biases, validation. */
#include <math.h>

#include "hearth/alloc.h"
#include "hearth/sampler.h"
#include "test.h"

/* params with every filter and penalty off */
static hearth_sampler_params plain(float temp, uint64_t seed) {
    hearth_sampler_params p = hearth_sampler_default_params();
    p.temperature = temp;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.seed = seed;
    return p;
}

static hearth_sampler *make(const hearth_sampler_params *p, int32_t nv) {
    hearth_sampler *s = NULL;
    hearth_status st = hearth_sampler_new(p, nv, &s);
    CHECK(st == HEARTH_OK && s, "sampler_new: %s", hearth_error_last());
    return s;
}

/* counts draws per token */
static void draw(hearth_sampler *s, const float *l, int n, int *hist, int nv) {
    memset(hist, 0, (size_t)nv * sizeof *hist);
    for (int i = 0; i < n; i++) {
        int32_t t = hearth_sampler_sample(s, l);
        if (t >= 0 && t < nv) hist[t]++;
    }
}

static void test_defaults(void) {
    hearth_sampler_params p = hearth_sampler_default_params();
    CHECK(fabsf(p.temperature - 0.8f) < 1e-6f && p.top_k == 40 && fabsf(p.top_p - 0.95f) < 1e-6f);
    CHECK(fabsf(p.min_p - 0.05f) < 1e-6f && p.repeat_penalty == 1.0f && p.penalty_last_n == 64);
}

static void test_greedy(void) {
    hearth_sampler_params p = plain(0.0f, 1);
    float l[6] = {0.5f, 2.0f, -1.0f, 3.0f, 3.0f, 1.0f};
    hearth_sampler *s = make(&p, 6);
    if (!s) return;
    CHECK(hearth_sampler_sample(s, l) == 3, "argmax with a tie picks the lowest id");
    float l2[6] = {-5, -4, -3, -2, -1, -0.5f};
    CHECK(hearth_sampler_sample(s, l2) == 5);
    float l3[6] = {7, 7, 7, 7, 7, 7};
    CHECK(hearth_sampler_sample(s, l3) == 0);
    /* logits are not modified */
    CHECK(l[3] == 3.0f && l[0] == 0.5f);
    hearth_sampler_free(s);
    p.temperature = -1.0f;
    s = make(&p, 6);
    if (s) CHECK(hearth_sampler_sample(s, l) == 3, "negative temperature is greedy");
    hearth_sampler_free(s);
}

static void fill_random(float *l, int n, uint32_t seed) {
    uint32_t x = seed;
    for (int i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        l[i] = (float)((x >> 8) & 0xffff) / 65536.0f * 6.0f;
    }
}

static void test_seeding(void) {
    enum { NV = 64, N = 200 };
    float l[NV];
    fill_random(l, NV, 7);
    hearth_sampler_params p = plain(1.0f, 42);
    hearth_sampler *a = make(&p, NV), *b = make(&p, NV);
    p.seed = 43;
    hearth_sampler *c = make(&p, NV);
    if (!a || !b || !c) goto out;
    int32_t sa[N], sb[N], sc[N];
    int differ = 0, same = 1;
    for (int i = 0; i < N; i++) {
        sa[i] = hearth_sampler_sample(a, l);
        sb[i] = hearth_sampler_sample(b, l);
        sc[i] = hearth_sampler_sample(c, l);
        if (sa[i] != sb[i]) same = 0;
        if (sa[i] != sc[i]) differ++;
        CHECK(sa[i] >= 0 && sa[i] < NV);
    }
    CHECK(same, "same seed gives the same sequence");
    CHECK(differ > N / 4, "different seeds give different sequences (%d of %d differ)", differ, N);
    /* reset restarts the sequence */
    hearth_sampler_reset(a);
    int again = 1;
    for (int i = 0; i < N; i++)
        if (hearth_sampler_sample(a, l) != sa[i]) again = 0;
    CHECK(again, "reset reseeds");
out:
    hearth_sampler_free(a);
    hearth_sampler_free(b);
    hearth_sampler_free(c);
}

static void test_top_k(void) {
    enum { NV = 1000 };
    static float l[NV];
    fill_random(l, NV, 99);
    hearth_sampler_params p = plain(1.0f, 5);
    p.top_k = 1;
    hearth_sampler *s = make(&p, NV);
    hearth_sampler_params g = plain(0.0f, 5);
    hearth_sampler *gs = make(&g, NV);
    if (s && gs) {
        int32_t want = hearth_sampler_sample(gs, l);
        int ok = 1;
        for (int i = 0; i < 500; i++)
            if (hearth_sampler_sample(s, l) != want) ok = 0;
        CHECK(ok, "top_k = 1 equals greedy");
    }
    hearth_sampler_free(s);
    hearth_sampler_free(gs);

    /* top_k = 10: every draw is among the 10 largest logits */
    p.top_k = 10;
    s = make(&p, NV);
    if (s) {
        int bad = 0, distinct = 0;
        static int hist[NV];
        draw(s, l, 5000, hist, NV);
        for (int t = 0; t < NV; t++) {
            if (!hist[t]) continue;
            distinct++;
            int above = 0;
            for (int j = 0; j < NV; j++)
                if (l[j] > l[t]) above++;
            if (above >= 10) bad++;
        }
        CHECK(bad == 0, "%d tokens outside the top 10 were drawn", bad);
        CHECK(distinct >= 5, "top_k = 10 still samples (%d distinct)", distinct);
    }
    hearth_sampler_free(s);

    /* equal logits: the lowest ids rank first */
    static float flat[NV];
    for (int i = 0; i < NV; i++) flat[i] = 1.0f;
    p.top_k = 5;
    s = make(&p, NV);
    if (s) {
        static int hist[NV];
        draw(s, flat, 2000, hist, NV);
        int outside = 0;
        for (int t = 5; t < NV; t++) outside += hist[t];
        CHECK(outside == 0 && hist[0] > 0 && hist[4] > 0, "ties keep ids 0..4");
    }
    hearth_sampler_free(s);

    /* negative top_k means off */
    p.top_k = -3;
    s = make(&p, NV);
    if (s) {
        static int hist[NV];
        draw(s, flat, 4000, hist, NV);
        int distinct = 0;
        for (int t = 0; t < NV; t++) distinct += hist[t] > 0;
        CHECK(distinct > 500, "negative top_k samples the whole vocab (%d distinct)", distinct);
    }
    hearth_sampler_free(s);
}

/* logits whose softmax is exactly probs */
static void from_probs(const double *pr, float *l, int n) {
    for (int i = 0; i < n; i++) l[i] = (float)log(pr[i]);
}

static void test_top_p_min_p(void) {
    const double pr[5] = {0.45, 0.3, 0.15, 0.07, 0.03};
    float l[5];
    from_probs(pr, l, 5);
    int hist[5];

    hearth_sampler_params p = plain(1.0f, 11);
    p.top_p = 0.7f; /* 0.45 < 0.7 <= 0.75: keeps tokens 0 and 1 */
    hearth_sampler *s = make(&p, 5);
    if (s) {
        draw(s, l, 10000, hist, 5);
        CHECK(hist[2] == 0 && hist[3] == 0 && hist[4] == 0, "top_p excludes the tail");
        CHECK(hist[0] > 0 && hist[1] > 0);
        /* renormalised: 0.45/0.75 = 0.6 */
        CHECK(fabs(hist[0] / 10000.0 - 0.6) < 0.02, "p(0) = %g", hist[0] / 10000.0);
    }
    hearth_sampler_free(s);

    p = plain(1.0f, 12);
    p.min_p = 0.2f; /* keeps p >= 0.2 * 0.45 = 0.09: tokens 0, 1, 2 */
    s = make(&p, 5);
    if (s) {
        draw(s, l, 10000, hist, 5);
        CHECK(hist[3] == 0 && hist[4] == 0, "min_p excludes low-probability tokens");
        CHECK(hist[0] > 0 && hist[1] > 0 && hist[2] > 0, "min_p keeps the rest");
    }
    hearth_sampler_free(s);

    p = plain(1.0f, 13);
    p.top_p = 1.0f; /* off: the tail is drawn */
    s = make(&p, 5);
    if (s) {
        draw(s, l, 10000, hist, 5);
        CHECK(hist[4] > 0 && hist[3] > 0);
    }
    hearth_sampler_free(s);
}

static void test_temperature(void) {
    enum { NV = 50 };
    float l[NV];
    fill_random(l, NV, 3);
    hearth_sampler_params g = plain(0.0f, 1);
    hearth_sampler *gs = make(&g, NV);
    hearth_sampler_params p = plain(1e-3f, 77);
    hearth_sampler *s = make(&p, NV);
    if (s && gs) {
        int32_t want = hearth_sampler_sample(gs, l);
        int ok = 1;
        for (int i = 0; i < 2000; i++)
            if (hearth_sampler_sample(s, l) != want) ok = 0;
        CHECK(ok, "a tiny temperature behaves like greedy");
    }
    hearth_sampler_free(s);
    hearth_sampler_free(gs);
}

/* draws N tokens and compares frequencies with softmax(l / temp) */
static void check_distribution(float temp, uint64_t seed) {
    enum { NV = 8, N = 20000 };
    const float l[NV] = {1.0f, 2.0f, 0.5f, -1.0f, 1.5f, 0.0f, 2.2f, -0.3f};
    double want[NV], sum = 0.0;
    for (int i = 0; i < NV; i++) sum += want[i] = exp(l[i] / temp);
    hearth_sampler_params p = plain(temp, seed);
    hearth_sampler *s = make(&p, NV);
    if (!s) return;
    int hist[NV];
    draw(s, l, N, hist, NV);
    double worst = 0.0;
    for (int i = 0; i < NV; i++) {
        double pi = want[i] / sum, f = (double)hist[i] / N;
        /* 5 standard deviations of a binomial frequency */
        double bound = 5.0 * sqrt(pi * (1.0 - pi) / N) + 1e-3;
        CHECK(fabs(f - pi) <= bound, "temp %g token %d: freq %g vs softmax %g", (double)temp, i, f, pi);
        if (fabs(f - pi) > worst) worst = fabs(f - pi);
    }
    CHECK(worst < 0.02);
    hearth_sampler_free(s);
}

static void test_penalties(void) {
    /* repetition: positive logits divided, negative multiplied */
    hearth_sampler_params p = plain(0.0f, 1);
    p.repeat_penalty = 2.0f;
    p.penalty_last_n = 2;
    hearth_sampler *s = make(&p, 4);
    if (s) {
        const float l[4] = {3.0f, 2.0f, 0.0f, 0.0f};
        CHECK(hearth_sampler_sample(s, l) == 0);
        hearth_sampler_accept(s, 0); /* 3 -> 1.5: token 1 wins */
        CHECK(hearth_sampler_sample(s, l) == 1);
        hearth_sampler_accept(s, 3); /* window {0, 3}: still penalised */
        CHECK(hearth_sampler_sample(s, l) == 1);
        hearth_sampler_accept(s, 3); /* window {3, 3}: token 0 left it */
        CHECK(hearth_sampler_sample(s, l) == 0, "tokens leave the window");
        const float tie[4] = {2.0f, 1.0f, 0.0f, 0.0f};
        hearth_sampler_accept(s, 0); /* 2 -> 1: tie with token 1, lowest id */
        CHECK(hearth_sampler_sample(s, tie) == 0);
        const float neg[4] = {-1.0f, -1.5f, -9.0f, -9.0f};
        hearth_sampler_reset(s);
        hearth_sampler_accept(s, 0); /* -1 -> -2 */
        CHECK(hearth_sampler_sample(s, neg) == 1, "a negative logit is multiplied");
        hearth_sampler_reset(s);
        CHECK(hearth_sampler_sample(s, neg) == 0, "reset forgets the window");
    }
    hearth_sampler_free(s);

    /* frequency: logit -= count * freq */
    p = plain(0.0f, 1);
    p.frequency_penalty = 0.3f;
    p.penalty_last_n = -1;
    s = make(&p, 3);
    if (s) {
        const float l[3] = {1.0f, 0.5f, 0.45f};
        hearth_sampler_accept(s, 0); /* 0.7 */
        CHECK(hearth_sampler_sample(s, l) == 0);
        hearth_sampler_accept(s, 0); /* 0.4 */
        CHECK(hearth_sampler_sample(s, l) == 1);
        hearth_sampler_accept(s, 1); /* 0.2: token 2 at 0.45 wins over 0.4 */
        CHECK(hearth_sampler_sample(s, l) == 2, "frequency penalty per token");
    }
    hearth_sampler_free(s);

    /* presence: logit -= presence once, whatever the count */
    p = plain(0.0f, 1);
    p.presence_penalty = 0.6f;
    s = make(&p, 3);
    if (s) {
        const float l[3] = {1.0f, 0.5f, 0.3f};
        hearth_sampler_accept(s, 0); /* 0.4 */
        CHECK(hearth_sampler_sample(s, l) == 1);
        hearth_sampler_accept(s, 0);
        hearth_sampler_accept(s, 0); /* still 0.4: beats token 2 (0.3) */
        const float l2[3] = {1.0f, 0.0f, 0.3f};
        CHECK(hearth_sampler_sample(s, l2) == 0, "presence does not grow with the count");
    }
    hearth_sampler_free(s);

    /* penalty_last_n = 0 turns penalties off */
    p = plain(0.0f, 1);
    p.repeat_penalty = 100.0f;
    p.penalty_last_n = 0;
    s = make(&p, 3);
    if (s) {
        const float l[3] = {1.0f, 0.5f, 0.3f};
        hearth_sampler_accept(s, 0);
        CHECK(hearth_sampler_sample(s, l) == 0);
    }
    hearth_sampler_free(s);
}

static void test_bias(void) {
    hearth_sampler_params p = plain(0.0f, 1);
    hearth_sampler *s = make(&p, 4);
    if (s) {
        const float l[4] = {5.0f, 1.0f, 2.0f, 0.0f};
        CHECK(hearth_sampler_set_bias(s, 0, -INFINITY) == HEARTH_OK);
        CHECK(hearth_sampler_sample(s, l) == 2, "-inf bans the argmax");
        CHECK(hearth_sampler_set_bias(s, 3, 2.5f) == HEARTH_OK);
        CHECK(hearth_sampler_sample(s, l) == 3, "a positive bias lifts a token");
        CHECK(hearth_sampler_set_bias(s, 4, 1.0f) == HEARTH_ERR_INVALID);
        CHECK(hearth_sampler_set_bias(s, -1, 1.0f) == HEARTH_ERR_INVALID);
        CHECK(hearth_sampler_set_bias(s, 1, NAN) == HEARTH_ERR_INVALID);
        CHECK(hearth_sampler_set_bias(s, 1, INFINITY) == HEARTH_ERR_INVALID);
    }
    hearth_sampler_free(s);

    p = plain(1.0f, 9);
    s = make(&p, 4);
    if (s) {
        const float l[4] = {5.0f, 1.0f, 2.0f, 4.9f};
        CHECK(hearth_sampler_set_bias(s, 0, -INFINITY) == HEARTH_OK);
        int hist[4];
        draw(s, l, 5000, hist, 4);
        CHECK(hist[0] == 0, "a banned token is never drawn (%d)", hist[0]);
        CHECK(hist[3] > 0 && hist[2] > 0);
        /* everything banned: still an id in range */
        for (int i = 1; i < 4; i++) hearth_sampler_set_bias(s, i, -INFINITY);
        int32_t t = hearth_sampler_sample(s, l);
        CHECK(t >= 0 && t < 4);
    }
    hearth_sampler_free(s);
}

static void expect_invalid(hearth_sampler_params p, int32_t nv, const char *what) {
    hearth_sampler *s = (hearth_sampler *)&p; /* must be reset to NULL */
    hearth_status st = hearth_sampler_new(&p, nv, &s);
    CHECK(st == HEARTH_ERR_INVALID && s == NULL, "%s accepted", what);
    CHECK(hearth_error_last()[0] != '\0', "%s: no detail", what);
    hearth_sampler_free(st == HEARTH_OK ? s : NULL);
}

static void test_invalid(void) {
    hearth_sampler_params d = hearth_sampler_default_params(), p;
    p = d; p.top_p = 0.0f; expect_invalid(p, 10, "top_p 0");
    p = d; p.top_p = 1.5f; expect_invalid(p, 10, "top_p 1.5");
    p = d; p.top_p = NAN; expect_invalid(p, 10, "top_p NaN");
    p = d; p.min_p = -0.1f; expect_invalid(p, 10, "min_p -0.1");
    p = d; p.min_p = 1.1f; expect_invalid(p, 10, "min_p 1.1");
    p = d; p.temperature = NAN; expect_invalid(p, 10, "temperature NaN");
    p = d; p.temperature = INFINITY; expect_invalid(p, 10, "temperature inf");
    p = d; p.repeat_penalty = 0.0f; expect_invalid(p, 10, "repeat_penalty 0");
    p = d; p.repeat_penalty = -1.0f; expect_invalid(p, 10, "repeat_penalty -1");
    p = d; p.repeat_penalty = INFINITY; expect_invalid(p, 10, "repeat_penalty inf");
    p = d; p.frequency_penalty = NAN; expect_invalid(p, 10, "frequency_penalty NaN");
    p = d; p.presence_penalty = -INFINITY; expect_invalid(p, 10, "presence_penalty -inf");
    p = d; p.penalty_last_n = -2; expect_invalid(p, 10, "penalty_last_n -2");
    expect_invalid(d, 0, "n_vocab 0");
    expect_invalid(d, -5, "n_vocab -5");
    CHECK(hearth_sampler_new(NULL, 10, &(hearth_sampler *){NULL}) == HEARTH_ERR_INVALID);

    /* edges that are valid */
    hearth_sampler *s = NULL;
    p = d; p.top_p = 1.0f; p.min_p = 1.0f; p.top_k = -1;
    CHECK(hearth_sampler_new(&p, 10, &s) == HEARTH_OK);
    hearth_sampler_free(s);
    hearth_sampler_free(NULL);
}

static void test_oom(void) {
    hearth_sampler_params p = hearth_sampler_default_params();
    p.repeat_penalty = 1.1f;
    int failed = 0;
    for (long n = 0; n < 10; n++) {
        hearth_sampler *s = NULL;
        hearth_alloc_fail_after(n);
        hearth_status st = hearth_sampler_new(&p, 100, &s);
        hearth_alloc_fail_after(-1);
        if (st == HEARTH_ERR_NOMEM) {
            failed++;
            CHECK(s == NULL);
        } else {
            CHECK(st == HEARTH_OK && s);
        }
        hearth_sampler_free(s);
    }
    CHECK(failed >= 3, "allocation failures reported as NOMEM (%d)", failed);
}

int main(void) {
    test_defaults();
    test_greedy();
    test_seeding();
    test_top_k();
    test_top_p_min_p();
    test_temperature();
    check_distribution(1.0f, 2024);
    check_distribution(0.5f, 7);
    check_distribution(2.0f, 31337);
    test_penalties();
    test_bias();
    test_invalid();
    test_oom();
    TEST_DONE();
}
