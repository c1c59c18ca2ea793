/* threadpool.c - persistent workers woken per run by a generation counter.
 *
 * Workers spin briefly on the generation counter before sleeping on a
 * condition variable, because ops in one forward pass follow each other
 * within microseconds and a futex wake per op would dominate small ops.
 */
#include "hearth/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "hearth/alloc.h"

/* About 50-100 microseconds of pause instructions: long enough to catch the
 * next op of a forward pass, short enough not to steal a shared core. */
#define SPIN_ITERATIONS 1024

struct hearth_threadpool {
    int n_threads;
    pthread_t *threads;
    pthread_mutex_t mutex;
    pthread_cond_t wake;
    atomic_uint generation;  /* bumped once per run */
    atomic_int pending;      /* workers still running the current task */
    atomic_bool stop;
    hearth_task_fn fn;
    void *arg;
};

typedef struct worker_arg {
    hearth_threadpool *pool;
    int ith;
} worker_arg;

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __asm__ __volatile__("pause");
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static void *worker_main(void *p) {
    hearth_threadpool *pool = ((worker_arg *)p)->pool;
    int ith = ((worker_arg *)p)->ith;
    hearth_free(p);
    unsigned seen = 0;
    for (;;) {
        int spins = 0;
        while (atomic_load_explicit(&pool->generation, memory_order_acquire) == seen &&
               !atomic_load(&pool->stop) && spins < SPIN_ITERATIONS) {
            cpu_relax();
            spins++;
        }
        if (atomic_load_explicit(&pool->generation, memory_order_acquire) == seen &&
            !atomic_load(&pool->stop)) {
            pthread_mutex_lock(&pool->mutex);
            while (atomic_load(&pool->generation) == seen && !atomic_load(&pool->stop))
                pthread_cond_wait(&pool->wake, &pool->mutex);
            pthread_mutex_unlock(&pool->mutex);
        }
        if (atomic_load(&pool->stop)) break;
        seen = atomic_load_explicit(&pool->generation, memory_order_acquire);
        pool->fn(pool->arg, ith, pool->n_threads);
        atomic_fetch_sub_explicit(&pool->pending, 1, memory_order_release);
    }
    return NULL;
}

hearth_status hearth_threadpool_new(int n_threads, hearth_threadpool **out) {
    *out = NULL;
    if (n_threads < 1 || n_threads > 1024)
        return hearth_error_set(HEARTH_ERR_INVALID, "thread count %d is outside 1..1024", n_threads);
    hearth_threadpool *pool = hearth_calloc(1, sizeof *pool);
    if (!pool) return HEARTH_ERR_NOMEM;
    pool->n_threads = n_threads;
    pthread_mutex_init(&pool->mutex, NULL);
    pthread_cond_init(&pool->wake, NULL);
    atomic_init(&pool->generation, 0);
    atomic_init(&pool->pending, 0);
    atomic_init(&pool->stop, false);
    if (n_threads > 1) {
        pool->threads = hearth_calloc((size_t)n_threads - 1, sizeof *pool->threads);
        if (!pool->threads) {
            hearth_threadpool_free(pool);
            return HEARTH_ERR_NOMEM;
        }
        for (int i = 1; i < n_threads; i++) {
            worker_arg *wa = hearth_malloc(sizeof *wa);
            if (!wa) {
                pool->n_threads = i;
                hearth_threadpool_free(pool);
                return HEARTH_ERR_NOMEM;
            }
            wa->pool = pool;
            wa->ith = i;
            if (pthread_create(&pool->threads[i - 1], NULL, worker_main, wa) != 0) {
                hearth_free(wa);
                pool->n_threads = i;
                hearth_threadpool_free(pool);
                return hearth_error_set(HEARTH_ERR_IO, "cannot start worker thread %d", i);
            }
        }
    }
    *out = pool;
    return HEARTH_OK;
}

void hearth_threadpool_free(hearth_threadpool *pool) {
    if (!pool) return;
    pthread_mutex_lock(&pool->mutex);
    atomic_store(&pool->stop, true);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mutex);
    for (int i = 1; i < pool->n_threads && pool->threads; i++) pthread_join(pool->threads[i - 1], NULL);
    pthread_mutex_destroy(&pool->mutex);
    pthread_cond_destroy(&pool->wake);
    hearth_free(pool->threads);
    hearth_free(pool);
}

int hearth_threadpool_size(const hearth_threadpool *pool) { return pool ? pool->n_threads : 1; }

void hearth_threadpool_run(hearth_threadpool *pool, hearth_task_fn fn, void *arg) {
    if (!pool || pool->n_threads == 1) {
        fn(arg, 0, 1);
        return;
    }
    pool->fn = fn;
    pool->arg = arg;
    atomic_store_explicit(&pool->pending, pool->n_threads - 1, memory_order_relaxed);
    pthread_mutex_lock(&pool->mutex);
    atomic_fetch_add_explicit(&pool->generation, 1, memory_order_release);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mutex);
    fn(arg, 0, pool->n_threads);
    /* Spin briefly, then yield: on an oversubscribed machine the worker we
     * wait for may need this very core. */
    for (int spins = 0; atomic_load_explicit(&pool->pending, memory_order_acquire) > 0; spins++) {
        if (spins < SPIN_ITERATIONS) cpu_relax();
        else sched_yield();
    }
}

int hearth_physical_cores(void) {
#if defined(__linux__)
    /* Count distinct (physical id, core id) pairs; SMT siblings share one. */
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[256];
        int phys = 0, n = 0;
        int seen[1024][2];
        while (fgets(line, sizeof line, f)) {
            int v;
            if (sscanf(line, "physical id : %d", &v) == 1) phys = v;
            else if (sscanf(line, "core id : %d", &v) == 1) {
                int dup = 0;
                for (int i = 0; i < n; i++)
                    if (seen[i][0] == phys && seen[i][1] == v) dup = 1;
                if (!dup && n < 1024) {
                    seen[n][0] = phys;
                    seen[n][1] = v;
                    n++;
                }
            }
        }
        fclose(f);
        if (n > 0) return n;
    }
#endif
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}
