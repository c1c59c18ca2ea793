/* sampler.c - logits to the next token: bias, penalties, greedy or
 * top-k / top-p / min-p / temperature and a seeded draw.
 *
 * Everything a draw needs is allocated in hearth_sampler_new, so sampling
 * itself never allocates. Penalties keep a per-token count over a ring of
 * the last `penalty_last_n` accepted tokens (or over all of them for -1), so
 * accepting a token is O(1) and the penalty pass is one sweep of the vocab.
 */
#include "hearth/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hearth/alloc.h"

struct hearth_sampler {
    hearth_sampler_params p;
    int32_t n_vocab;
    float *bias;        /* n_vocab, NULL until a bias is set */
    int32_t *counts;    /* n_vocab: occurrences in the penalty window */
    int32_t *ring;      /* penalty_last_n slots when penalty_last_n > 0 */
    int32_t ring_len;   /* tokens currently in the ring */
    int32_t ring_head;  /* next slot to write */
    bool penalties;     /* any penalty active */
    /* scratch for one draw */
    float *logits;      /* n_vocab: biased and penalised logits */
    int32_t *cand;      /* n_vocab: candidate ids, best first after sorting */
    double *prob;       /* n_vocab: probabilities of cand[] */
    uint64_t rng[4];    /* xoshiro256** state */
};

/* Returns the defaults documented in sampler.h. Never blocks. */
hearth_sampler_params hearth_sampler_default_params(void) {
    hearth_sampler_params p;
    p.temperature = 0.8f;
    p.top_k = 40;
    p.top_p = 0.95f;
    p.min_p = 0.05f;
    p.repeat_penalty = 1.0f;
    p.frequency_penalty = 0.0f;
    p.presence_penalty = 0.0f;
    p.penalty_last_n = 64;
    p.seed = 0;
    return p;
}

/* splitmix64 step: returns the next output and advances *x. Used only to
 * spread a (possibly small) user seed over the 256-bit xoshiro state, which
 * must not be all zero. */
static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* Returns the next xoshiro256** output. */
static uint64_t rng_next(uint64_t s[4]) {
    uint64_t result = rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return result;
}

/* Returns a uniform double in [0, 1) from the top 53 bits. */
static double rng_uniform(uint64_t s[4]) {
    return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

static void rng_seed(uint64_t s[4], uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) s[i] = splitmix64(&x);
}

/* Returns HEARTH_OK or HEARTH_ERR_INVALID with a detail naming the first bad
 * parameter. */
static hearth_status validate(const hearth_sampler_params *p, int32_t n_vocab) {
    if (n_vocab <= 0) return hearth_error_set(HEARTH_ERR_INVALID, "sampler: n_vocab %d must be positive", (int)n_vocab);
    if (!isfinite(p->temperature))
        return hearth_error_set(HEARTH_ERR_INVALID, "sampler: temperature must be a finite number");
    if (!(p->top_p > 0.0f && p->top_p <= 1.0f))
        return hearth_error_set(HEARTH_ERR_INVALID, "sampler: top_p %g must be in (0, 1]", (double)p->top_p);
    if (!(p->min_p >= 0.0f && p->min_p <= 1.0f))
        return hearth_error_set(HEARTH_ERR_INVALID, "sampler: min_p %g must be in [0, 1]", (double)p->min_p);
    if (!(isfinite(p->repeat_penalty) && p->repeat_penalty > 0.0f))
        return hearth_error_set(HEARTH_ERR_INVALID, "sampler: repeat_penalty %g must be finite and > 0",
                                (double)p->repeat_penalty);
    if (!isfinite(p->frequency_penalty))
        return hearth_error_set(HEARTH_ERR_INVALID, "sampler: frequency_penalty must be finite");
    if (!isfinite(p->presence_penalty))
        return hearth_error_set(HEARTH_ERR_INVALID, "sampler: presence_penalty must be finite");
    if (p->penalty_last_n < -1)
        return hearth_error_set(HEARTH_ERR_INVALID, "sampler: penalty_last_n %d must be >= -1",
                                (int)p->penalty_last_n);
    return HEARTH_OK;
}

/* Returns HEARTH_OK with *out set, HEARTH_ERR_INVALID for bad parameters or
 * HEARTH_ERR_NOMEM. Allocates all scratch up front; never blocks. */
hearth_status hearth_sampler_new(const hearth_sampler_params *p, int32_t n_vocab,
                                 hearth_sampler **out) {
    if (!out) return hearth_error_set(HEARTH_ERR_INVALID, "sampler: NULL output pointer");
    *out = NULL;
    if (!p) return hearth_error_set(HEARTH_ERR_INVALID, "sampler: NULL parameters");
    hearth_status st = validate(p, n_vocab);
    if (st < 0) return st;

    hearth_sampler *s = hearth_calloc(1, sizeof *s);
    if (!s) return hearth_error_set(HEARTH_ERR_NOMEM, "sampler: out of memory");
    s->p = *p;
    if (s->p.top_k < 0) s->p.top_k = 0;
    s->n_vocab = n_vocab;
    s->penalties = s->p.penalty_last_n != 0 &&
                   (s->p.repeat_penalty != 1.0f || s->p.frequency_penalty != 0.0f ||
                    s->p.presence_penalty != 0.0f);
    size_t nv = (size_t)n_vocab;
    s->counts = hearth_calloc(nv, sizeof *s->counts);
    s->logits = hearth_malloc(nv * sizeof *s->logits);
    s->cand = hearth_malloc(nv * sizeof *s->cand);
    s->prob = hearth_malloc(nv * sizeof *s->prob);
    if (s->p.penalty_last_n > 0) s->ring = hearth_calloc((size_t)s->p.penalty_last_n, sizeof *s->ring);
    if (!s->counts || !s->logits || !s->cand || !s->prob || (s->p.penalty_last_n > 0 && !s->ring)) {
        hearth_sampler_free(s);
        return hearth_error_set(HEARTH_ERR_NOMEM, "sampler: out of memory for %d-token vocabulary",
                                (int)n_vocab);
    }
    rng_seed(s->rng, s->p.seed);
    *out = s;
    return HEARTH_OK;
}

/* Frees the sampler; NULL is a no-op. */
void hearth_sampler_free(hearth_sampler *s) {
    if (!s) return;
    hearth_free(s->bias);
    hearth_free(s->counts);
    hearth_free(s->ring);
    hearth_free(s->logits);
    hearth_free(s->cand);
    hearth_free(s->prob);
    hearth_free(s);
}

/* Returns HEARTH_OK, HEARTH_ERR_INVALID for an id outside the vocabulary or
 * a NaN / +inf bias (-inf bans the token), HEARTH_ERR_NOMEM when the bias
 * table cannot be allocated (first call only). Biases add up. */
hearth_status hearth_sampler_set_bias(hearth_sampler *s, int32_t token, float bias) {
    if (!s) return hearth_error_set(HEARTH_ERR_INVALID, "sampler: NULL sampler");
    if (token < 0 || token >= s->n_vocab)
        return hearth_error_set(HEARTH_ERR_INVALID, "sampler: bias token %d outside vocabulary of %d",
                                (int)token, (int)s->n_vocab);
    if (isnan(bias) || (isinf(bias) && bias > 0))
        return hearth_error_set(HEARTH_ERR_INVALID, "sampler: bias for token %d must be finite or -inf",
                                (int)token);
    if (!s->bias) {
        s->bias = hearth_calloc((size_t)s->n_vocab, sizeof *s->bias);
        if (!s->bias) return hearth_error_set(HEARTH_ERR_NOMEM, "sampler: out of memory for biases");
    }
    s->bias[token] += bias;
    return HEARTH_OK;
}

/* Adds a token to the penalty window, evicting the oldest when full. Ids
 * outside the vocabulary are ignored. O(1); never blocks. */
void hearth_sampler_accept(hearth_sampler *s, int32_t token) {
    if (!s || !s->penalties || token < 0 || token >= s->n_vocab) return;
    if (s->p.penalty_last_n < 0) {
        if (s->counts[token] < INT32_MAX) s->counts[token]++;
        return;
    }
    int32_t n = s->p.penalty_last_n;
    if (s->ring_len == n) {
        int32_t old = s->ring[s->ring_head];
        s->counts[old]--;
    } else {
        s->ring_len++;
    }
    s->ring[s->ring_head] = token;
    s->counts[token]++;
    s->ring_head = (s->ring_head + 1) % n;
}

/* Clears the penalty window and restarts the PRNG from the seed. */
void hearth_sampler_reset(hearth_sampler *s) {
    if (!s) return;
    memset(s->counts, 0, (size_t)s->n_vocab * sizeof *s->counts);
    s->ring_len = 0;
    s->ring_head = 0;
    rng_seed(s->rng, s->p.seed);
}

/* True when candidate a ranks before b: higher logit, then lower id. */
static inline bool ranks_before(const float *l, int32_t a, int32_t b) {
    return l[a] > l[b] || (l[a] == l[b] && a < b);
}

/* Partitions cand[lo..hi] so the k best (by ranks_before) come first, in no
 * particular order (iterative quickselect, median-of-three pivot). */
static void select_top(const float *l, int32_t *cand, int32_t n, int32_t k) {
    int32_t lo = 0, hi = n - 1;
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        /* order lo, mid, hi so cand[mid] is the median */
        if (ranks_before(l, cand[mid], cand[lo])) { int32_t t = cand[mid]; cand[mid] = cand[lo]; cand[lo] = t; }
        if (ranks_before(l, cand[hi], cand[lo])) { int32_t t = cand[hi]; cand[hi] = cand[lo]; cand[lo] = t; }
        if (ranks_before(l, cand[hi], cand[mid])) { int32_t t = cand[hi]; cand[hi] = cand[mid]; cand[mid] = t; }
        int32_t pivot = cand[mid];
        int32_t i = lo, j = hi;
        while (i <= j) {
            while (ranks_before(l, cand[i], pivot)) i++;
            while (ranks_before(l, pivot, cand[j])) j--;
            if (i <= j) {
                int32_t t = cand[i]; cand[i] = cand[j]; cand[j] = t;
                i++;
                j--;
            }
        }
        /* now [lo..j] rank before or equal pivot, [i..hi] after or equal */
        if (k - 1 <= j) hi = j;
        else if (k - 1 >= i) lo = i;
        else return;
    }
}

/* Heap sort of cand[0..n) best first; in place, no allocation, and unlike
 * qsort needs no global to reach the logits. */
static void sift_down(const float *l, int32_t *c, int32_t root, int32_t n) {
    for (;;) {
        int32_t child = 2 * root + 1;
        if (child >= n) return;
        /* min-heap on rank: the worst candidate at the top */
        if (child + 1 < n && ranks_before(l, c[child], c[child + 1])) child++;
        if (!ranks_before(l, c[root], c[child])) return;
        int32_t t = c[root]; c[root] = c[child]; c[child] = t;
        root = child;
    }
}

static void sort_best_first(const float *l, int32_t *c, int32_t n) {
    for (int32_t i = n / 2 - 1; i >= 0; i--) sift_down(l, c, i, n);
    for (int32_t end = n - 1; end > 0; end--) {
        int32_t t = c[0]; c[0] = c[end]; c[end] = t;
        sift_down(l, c, 0, end);
    }
}

/* Returns the id with the largest value, lowest id on ties, ignoring NaN;
 * 0 when every value is NaN or -inf. */
static int32_t argmax(const float *l, int32_t n) {
    int32_t best = -1;
    for (int32_t i = 0; i < n; i++) {
        if (isnan(l[i])) continue;
        if (best < 0 || l[i] > l[best]) best = i;
    }
    return best < 0 ? 0 : best;
}

/* Returns the sampled id. Never blocks, never allocates. */
int32_t hearth_sampler_sample(hearth_sampler *s, const float *logits) {
    if (!s || !logits) return 0;
    const int32_t nv = s->n_vocab;
    float *l = s->logits;
    memcpy(l, logits, (size_t)nv * sizeof *l);
    if (s->bias)
        for (int32_t i = 0; i < nv; i++) l[i] += s->bias[i];
    if (s->penalties) {
        const float rp = s->p.repeat_penalty, fp = s->p.frequency_penalty, pp = s->p.presence_penalty;
        for (int32_t i = 0; i < nv; i++) {
            int32_t c = s->counts[i];
            if (c <= 0) continue;
            /* dividing a negative logit would raise it, so it is scaled the other way */
            if (l[i] <= 0.0f) l[i] *= rp;
            else l[i] /= rp;
            l[i] -= (float)c * fp + pp;
        }
    }
    if (s->p.temperature <= 0.0f) return argmax(l, nv);

    /* candidates: every token that is not banned (-inf) or NaN */
    int32_t n = 0;
    for (int32_t i = 0; i < nv; i++)
        if (!isnan(l[i]) && l[i] != -INFINITY) s->cand[n++] = i;
    if (n == 0) return argmax(l, nv);

    int32_t *cand = s->cand;
    if (s->p.top_k > 0 && s->p.top_k < n) {
        select_top(l, cand, n, s->p.top_k);
        n = s->p.top_k;
    }
    sort_best_first(l, cand, n);
    /* an infinite logit outweighs everything (and would make exp() NaN) */
    if (isinf(l[cand[0]])) return cand[0];

    /* top-p and min-p look at the distribution before temperature, as the
     * reference chain does */
    double *pr = s->prob;
    if (s->p.top_p < 1.0f || s->p.min_p > 0.0f) {
        double mx = l[cand[0]], sum = 0.0;
        for (int32_t i = 0; i < n; i++) {
            pr[i] = exp((double)l[cand[i]] - mx);
            sum += pr[i];
        }
        if (s->p.top_p < 1.0f) {
            double cum = 0.0, target = (double)s->p.top_p * sum;
            for (int32_t i = 0; i < n; i++) {
                cum += pr[i];
                if (cum >= target) {
                    n = i + 1;
                    break;
                }
            }
        }
        if (s->p.min_p > 0.0f) {
            /* pr[0] is exp(0) = 1, the most likely token */
            double thr = (double)s->p.min_p;
            int32_t keep = 1;
            while (keep < n && pr[keep] >= thr) keep++;
            n = keep;
        }
    }

    double inv_t = 1.0 / (double)s->p.temperature;
    double mx = (double)l[cand[0]] * inv_t, sum = 0.0;
    for (int32_t i = 0; i < n; i++) {
        pr[i] = exp((double)l[cand[i]] * inv_t - mx);
        sum += pr[i];
    }
    double u = rng_uniform(s->rng) * sum, cum = 0.0;
    for (int32_t i = 0; i < n; i++) {
        cum += pr[i];
        if (u < cum) return cand[i];
    }
    return cand[n - 1];
}
