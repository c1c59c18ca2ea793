/* auth.c - API keys and per-key rate limits.
 *
 * Keys are compared in constant time (every byte of every key is looked at,
 * whatever matches), so response timing says nothing about a key's prefix.
 * Limits are token buckets per identity (a key, or the client address when
 * no keys are configured): a requests bucket of `rpm` refilled at rpm/60
 * per second, and a tokens bucket of `tpm` charged with each finished
 * request's prompt + completion tokens; a request is admitted while the
 * tokens bucket is positive, so a large request may drive it into debt and
 * the next ones wait until it refills.
 */
#include <math.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>

#include "hearth/alloc.h"
#include "server/server_internal.h"

typedef struct bucket {
    char who[64];
    double req, tok;     /* available requests and tokens */
    double t;            /* last refill */
    double last_used;
} bucket;

struct srv_auth {
    char **keys;
    size_t *key_lens;
    size_t n_keys;
    double rpm, tpm;
    pthread_mutex_t mu;
    bucket *b;
    size_t n_b, cap_b;
};

hearth_status srv_auth_new(const char *const *keys, size_t n_keys, int32_t rpm, int32_t tpm, srv_auth **out) {
    *out = NULL;
    srv_auth *a = hearth_calloc(1, sizeof *a);
    if (!a) return HEARTH_ERR_NOMEM;
    pthread_mutex_init(&a->mu, NULL);
    a->rpm = rpm > 0 ? rpm : 0;
    a->tpm = tpm > 0 ? tpm : 0;
    if (n_keys > 0) {
        a->keys = hearth_calloc(n_keys, sizeof *a->keys);
        a->key_lens = hearth_calloc(n_keys, sizeof *a->key_lens);
        if (!a->keys || !a->key_lens) {
            srv_auth_free(a);
            return HEARTH_ERR_NOMEM;
        }
        a->n_keys = n_keys;
        for (size_t i = 0; i < n_keys; i++) {
            a->keys[i] = hearth_strdup(keys[i] ? keys[i] : "");
            if (!a->keys[i]) {
                srv_auth_free(a);
                return HEARTH_ERR_NOMEM;
            }
            a->key_lens[i] = strlen(a->keys[i]);
        }
    }
    *out = a;
    return HEARTH_OK;
}

void srv_auth_free(srv_auth *a) {
    if (!a) return;
    for (size_t i = 0; a->keys && i < a->n_keys; i++) {
        if (a->keys[i]) memset(a->keys[i], 0, a->key_lens[i]);
        hearth_free(a->keys[i]);
    }
    hearth_free(a->keys);
    hearth_free(a->key_lens);
    hearth_free(a->b);
    pthread_mutex_destroy(&a->mu);
    hearth_free(a);
}

bool srv_auth_enabled(const srv_auth *a) { return a && a->n_keys > 0; }

/* Returns 1 when the n bytes of x equal key, in time that depends only on
 * the lengths. */
static int ct_equal(const char *x, size_t n, const char *key, size_t klen) {
    volatile unsigned char diff = (unsigned char)(n != klen);
    for (size_t i = 0; i < klen; i++) {
        unsigned char c = i < n ? (unsigned char)x[i] : 0;
        diff |= (unsigned char)(c ^ (unsigned char)key[i]);
    }
    return diff == 0;
}

int srv_auth_check(const srv_auth *a, const char *authorization) {
    if (!srv_auth_enabled(a)) return 0;
    if (!authorization) return -1;
    const char *p = authorization;
    while (*p == ' ') p++;
    if (strncasecmp(p, "Bearer ", 7) != 0) return -1;
    p += 7;
    while (*p == ' ') p++;
    size_t n = strlen(p);
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t')) n--;
    int found = -1;
    for (size_t i = 0; i < a->n_keys; i++) {
        int eq = ct_equal(p, n, a->keys[i], a->key_lens[i]);
        if (eq && found < 0) found = (int)i;
    }
    return found;
}

/* The bucket of `who`, created full; NULL when out of memory (a->mu held). */
static bucket *find_bucket(srv_auth *a, const char *who, double now) {
    for (size_t i = 0; i < a->n_b; i++)
        if (strcmp(a->b[i].who, who) == 0) return &a->b[i];
    /* forget identities idle for 10 minutes so address churn cannot grow the table */
    size_t w = 0;
    for (size_t i = 0; i < a->n_b; i++)
        if (now - a->b[i].last_used < 600.0) a->b[w++] = a->b[i];
    a->n_b = w;
    if (a->n_b == a->cap_b) {
        size_t cap = a->cap_b ? a->cap_b * 2 : 16;
        bucket *nb = hearth_reallocarray(a->b, cap, sizeof *nb);
        if (!nb) return NULL;
        a->b = nb;
        a->cap_b = cap;
    }
    bucket *b = &a->b[a->n_b++];
    memset(b, 0, sizeof *b);
    snprintf(b->who, sizeof b->who, "%s", who);
    b->req = a->rpm;
    b->tok = a->tpm;
    b->t = now;
    b->last_used = now;
    return b;
}

/* Adds what accrued since the last refill (a->mu held). */
static void refill(srv_auth *a, bucket *b, double now) {
    double dt = now - b->t;
    if (dt > 0) {
        b->req = fmin(a->rpm, b->req + dt * a->rpm / 60.0);
        b->tok = fmin(a->tpm, b->tok + dt * a->tpm / 60.0);
        b->t = now;
    }
    b->last_used = now;
}

int srv_rate_admit(srv_auth *a, const char *who, const char **which) {
    *which = NULL;
    if (!a || (a->rpm <= 0 && a->tpm <= 0)) return 0;
    double now = srv_now();
    pthread_mutex_lock(&a->mu);
    bucket *b = find_bucket(a, who, now);
    int wait = 0;
    if (b) {
        refill(a, b, now);
        if (a->rpm > 0 && b->req < 1.0) {
            wait = (int)ceil((1.0 - b->req) * 60.0 / a->rpm);
            *which = "requests";
        } else if (a->tpm > 0 && b->tok <= 0.0) {
            wait = (int)ceil((1.0 - b->tok) * 60.0 / a->tpm);
            *which = "tokens";
        } else if (a->rpm > 0) {
            b->req -= 1.0;
        }
        if (*which && wait < 1) wait = 1;
    }
    pthread_mutex_unlock(&a->mu);
    return wait;
}

void srv_rate_charge(srv_auth *a, const char *who, int64_t tokens) {
    if (!a || a->tpm <= 0 || tokens <= 0) return;
    double now = srv_now();
    pthread_mutex_lock(&a->mu);
    bucket *b = find_bucket(a, who, now);
    if (b) {
        refill(a, b, now);
        b->tok -= (double)tokens;
    }
    pthread_mutex_unlock(&a->mu);
}
