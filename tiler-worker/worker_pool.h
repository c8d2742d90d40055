/* A fixed set of processing threads fed through a bounded queue. The
 * consumer thread puts messages in; each thread runs fn(ctx, slot, item),
 * slot being the thread's number (0..threads-1), for per-thread state such
 * as the supervisor's crash slots. */
#ifndef WORKER_POOL_H
#define WORKER_POOL_H

typedef void (*worker_pool_fn)(void *ctx, int slot, void *item);
typedef struct worker_pool worker_pool;

/* NULL when a thread cannot be started. */
worker_pool *worker_pool_start(int threads, int capacity, worker_pool_fn fn, void *ctx);
/* Queues item, waiting up to timeout_ms for room. 0 queued, -1 full. */
int worker_pool_put(worker_pool *p, void *item, int timeout_ms);
/* Waits up to timeout_ms until nothing is queued or running. 0 idle. */
int worker_pool_wait_idle(worker_pool *p, int timeout_ms);
/* Items queued or running now. */
int worker_pool_busy(worker_pool *p);
/* Runs what is queued, then joins the threads and frees the pool. */
void worker_pool_stop(worker_pool *p);

#endif
