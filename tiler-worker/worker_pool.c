#include "worker_pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct worker_pool {
    pthread_mutex_t lock;
    pthread_cond_t has_item, has_room, idle;
    void **ring;
    int cap, head, count, running, stopping;
    worker_pool_fn fn;
    void *ctx;
    pthread_t *threads;
    int nthreads;
};

typedef struct {
    worker_pool *p;
    int slot;
} thread_arg;

static void deadline(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) { ts->tv_sec++; ts->tv_nsec -= 1000000000L; }
}

static void *run(void *arg)
{
    thread_arg a = *(thread_arg *)arg;
    worker_pool *p = a.p;
    free(arg);
    pthread_mutex_lock(&p->lock);
    for (;;) {
        void *item;
        while (!p->count && !p->stopping) pthread_cond_wait(&p->has_item, &p->lock);
        if (!p->count) break;   /* stopping, and nothing left */
        item = p->ring[p->head];
        p->head = (p->head + 1) % p->cap;
        p->count--;
        p->running++;
        pthread_cond_signal(&p->has_room);
        pthread_mutex_unlock(&p->lock);
        p->fn(p->ctx, a.slot, item);
        pthread_mutex_lock(&p->lock);
        p->running--;
        if (!p->count && !p->running) pthread_cond_broadcast(&p->idle);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

worker_pool *worker_pool_start(int threads, int capacity, worker_pool_fn fn, void *ctx)
{
    worker_pool *p = calloc(1, sizeof(*p));
    int i;
    if (!p || !(p->ring = calloc((size_t)capacity, sizeof(void *)))
        || !(p->threads = calloc((size_t)threads, sizeof(pthread_t)))) {
        if (p) free(p->ring);
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->has_item, NULL);
    pthread_cond_init(&p->has_room, NULL);
    pthread_cond_init(&p->idle, NULL);
    p->cap = capacity;
    p->fn = fn;
    p->ctx = ctx;
    for (i = 0; i < threads; i++) {
        thread_arg *a = malloc(sizeof(*a));
        if (!a) break;
        a->p = p;
        a->slot = i;
        if (pthread_create(&p->threads[i], NULL, run, a)) { free(a); break; }
        p->nthreads++;
    }
    if (p->nthreads < threads) { worker_pool_stop(p); return NULL; }
    return p;
}

int worker_pool_put(worker_pool *p, void *item, int timeout_ms)
{
    struct timespec ts;
    int rc = 0;
    deadline(&ts, timeout_ms);
    pthread_mutex_lock(&p->lock);
    while (p->count == p->cap && rc != ETIMEDOUT) rc = pthread_cond_timedwait(&p->has_room, &p->lock, &ts);
    if (p->count == p->cap) { pthread_mutex_unlock(&p->lock); return -1; }
    p->ring[(p->head + p->count) % p->cap] = item;
    p->count++;
    pthread_cond_signal(&p->has_item);
    pthread_mutex_unlock(&p->lock);
    return 0;
}

int worker_pool_wait_idle(worker_pool *p, int timeout_ms)
{
    struct timespec ts;
    int rc = 0, idle;
    deadline(&ts, timeout_ms);
    pthread_mutex_lock(&p->lock);
    while ((p->count || p->running) && rc != ETIMEDOUT) rc = pthread_cond_timedwait(&p->idle, &p->lock, &ts);
    idle = !p->count && !p->running;
    pthread_mutex_unlock(&p->lock);
    return idle ? 0 : -1;
}

int worker_pool_busy(worker_pool *p)
{
    int n;
    pthread_mutex_lock(&p->lock);
    n = p->count + p->running;
    pthread_mutex_unlock(&p->lock);
    return n;
}

void worker_pool_stop(worker_pool *p)
{
    int i;
    pthread_mutex_lock(&p->lock);
    p->stopping = 1;
    pthread_cond_broadcast(&p->has_item);
    pthread_mutex_unlock(&p->lock);
    for (i = 0; i < p->nthreads; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->has_item);
    pthread_cond_destroy(&p->has_room);
    pthread_cond_destroy(&p->idle);
    free(p->ring);
    free(p->threads);
    free(p);
}
