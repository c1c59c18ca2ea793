/* threadpool.h - a pool of persistent worker threads for data-parallel ops.
 *
 * hearth_threadpool_run(pool, fn, arg) calls fn(arg, ith, nth) once on each
 * of the pool's nth threads (the caller is thread 0) and returns when all
 * have finished. Ops split their work by ith/nth, so there is no queue and
 * no allocation per call.
 */
#ifndef HEARTH_THREADPOOL_H
#define HEARTH_THREADPOOL_H

#include "hearth/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hearth_threadpool hearth_threadpool;
typedef void (*hearth_task_fn)(void *arg, int ith, int nth);

/* Starts n_threads - 1 workers (n_threads >= 1; the caller is the first). */
hearth_status hearth_threadpool_new(int n_threads, hearth_threadpool **out);
/* Stops and joins the workers; NULL is a no-op. Blocks until they exit. */
void hearth_threadpool_free(hearth_threadpool *pool);
int hearth_threadpool_size(const hearth_threadpool *pool);
/* Runs fn on every thread and blocks until all return. Not reentrant: one
 * run at a time per pool. A NULL pool runs fn(arg, 0, 1) inline. */
void hearth_threadpool_run(hearth_threadpool *pool, hearth_task_fn fn, void *arg);

/* Number of physical cores (falls back to online logical CPUs, then 1). */
int hearth_physical_cores(void);

#ifdef __cplusplus
}
#endif
#endif
