#include "worker_loop.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <yajl/yajl_gen.h>
#include "config.h"
#include "tiler_daemon.h"
#include "tiler_defaults.h"
#include "tiler_id.h"
#include "tiler_inorder.h"
#include "tiler_json.h"
#include "tiler_log.h"
#include "tiler_msg.h"
#include "tiler_tile.h"
#include "worker_pool.h"

static volatile sig_atomic_t stop_requested, restart_requested;

void worker_loop_stop(void)
{
    stop_requested = 1;
}

/* For waits on Kafka that a SIGTERM should cut short. */
static int stopping(void)
{
    return stop_requested;
}

/* What a result's delivery report tells the thread waiting for it. */
typedef struct {
    int done;   /* atomic: set by whichever thread polls the report */
    rd_kafka_resp_err_t err;
} delivery;

/* The consumer thread polls tasks and queues them to the pool's threads,
 * which process, produce and mark them finished. Offsets are stored in
 * order (tiler_inorder), so a crash never skips an unfinished task. */
typedef struct {
    const worker_options *o;
    rd_kafka_t *producer, *consumer;
    long long tiles_done;   /* atomic */
    pthread_mutex_t lock;   /* guards current_job and inorder */
    char current_job[TILER_ID_HEX_LEN + 1];   /* the last job a thread took up */
    tiler_inorder *inorder;
    worker_pool *pool;
    time_t started;
    char host[256];
    worker_shared *shared;
    int inflight;           /* atomic: results produced, not yet reported */
    int closing;            /* atomic: offsets committed, the consumer going: late reports store nothing */
    struct pending *retry;  /* under lock: results whose delivery failed, to produce again */
} worker;

/* A result on its way: what its delivery report needs to finish its task.
 * The task message itself is gone by then (its pixels are not needed), so
 * what a worker holds in flight is its results, within the producer's
 * queue (queue.buffering.max.kbytes). */
#define PENDING_TAG 0x52534c54   /* a delivery's first int is 0 or 1, never this */
typedef struct pending {
    int tag;
    worker *w;
    char topic[256];
    int32_t partition;
    int64_t offset;
    char job[TILER_ID_HEX_LEN + 1];
    uint32_t tile, total;
    unsigned char *out;
    size_t len;
    long long t0, retry_at;
    struct pending *next;
} pending;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void result_reported(pending *p, rd_kafka_resp_err_t err);
static int wait_in_flight(worker *w, int most, long long timeout_ms, int give_up_on_stop);

/* Results carry their pending as the message's opaque, with this tag
 * first; the synchronous sends (dead letters) a delivery. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk; (void)opaque;
    if (!m->_private) return; /* heartbeats are fire-and-forget */
    if (*(const int *)m->_private == PENDING_TAG) {
        result_reported(m->_private, m->err);
        return;
    }
    ((delivery *)m->_private)->err = m->err;
    __atomic_store_n(&((delivery *)m->_private)->done, 1, __ATOMIC_RELEASE);
}

static void on_kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    tiler_log(level <= 3 ? TILER_LOG_ERROR : level <= 4 ? TILER_LOG_WARN : level <= 6 ? TILER_LOG_INFO : TILER_LOG_DEBUG,
              "kafka %s: %s", fac, buf);
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    worker *w = opaque;
    char list[512];
    size_t used = 0;
    int i;
    list[0] = '\0';
    for (i = 0; i < parts->cnt && used < sizeof(list) - 16; i++)
        used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%d", i ? "," : "", parts->elems[i].partition);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        tiler_log(TILER_LOG_INFO, "assigned partitions [%s]", list);
        rd_kafka_assign(rk, parts);
    } else {
        /* Let the threads finish what they hold, so that every delivered
         * result's offset is stored, and commit those before letting go. */
        tiler_log(TILER_LOG_INFO, "revoked partitions [%s]", list);
        while (w->pool && worker_pool_wait_idle(w->pool, 1000) < 0)
            tiler_log(TILER_LOG_INFO, "waiting for %d tasks in hand before letting the partitions go",
                      worker_pool_busy(w->pool));
        /* Their results too: a result delivered is a task finished. */
        while (wait_in_flight(w, 0, 1000, 1) < 0 && !stop_requested)
            tiler_log(TILER_LOG_INFO, "waiting for %d results in flight before letting the partitions go",
                      __atomic_load_n(&w->inflight, __ATOMIC_ACQUIRE));
        pthread_mutex_lock(&w->lock);
        for (i = 0; i < parts->cnt; i++) tiler_inorder_forget(w->inorder, parts->elems[i].partition);
        pthread_mutex_unlock(&w->lock);
        rd_kafka_commit(rk, NULL, 0);
        rd_kafka_assign(rk, NULL);
    }
}

static void heartbeat(worker *w)
{
    yajl_gen g = yajl_gen_alloc(NULL);
    const unsigned char *buf;
    char job[TILER_ID_HEX_LEN + 1];
    size_t len;
    pthread_mutex_lock(&w->lock);
    memcpy(job, w->current_job, sizeof(job));
    pthread_mutex_unlock(&w->lock);
    yajl_gen_map_open(g);
    tiler_json_kv_str(g, "id", w->o->worker_id);
    tiler_json_kv_str(g, "host", w->host);
    tiler_json_kv_int(g, "pid", getpid());
    tiler_json_kv_int(g, "tiles_done", __atomic_load_n(&w->tiles_done, __ATOMIC_RELAXED));
    tiler_json_kv_str(g, "current_job", job[0] ? job : NULL);
    tiler_json_kv_int(g, "threads", w->o->threads);
    tiler_json_kv_int(g, "uptime_s", (long long)(time(NULL) - w->started));
    tiler_json_kv_int(g, "interval_ms", w->o->heartbeat_ms);
    tiler_json_kv_str(g, "version", TILER_VERSION_STRING);
    tiler_json_kv_int(g, "ts_ms", (long long)time(NULL) * 1000);
    yajl_gen_map_close(g);
    yajl_gen_get_buf(g, &buf, &len);
    if (rd_kafka_producev(w->producer, RD_KAFKA_V_TOPIC(w->o->topics.heartbeats),
                          RD_KAFKA_V_KEY(w->o->worker_id, strlen(w->o->worker_id)),
                          RD_KAFKA_V_VALUE((void *)buf, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_END))
        tiler_log(TILER_LOG_WARN, "heartbeat not queued");
    yajl_gen_free(g);
}

/* The task's work is durable (its result delivered, or it was skipped on
 * purpose): store its offset once every task before it is too. */
static void task_offset_done(worker *w, const char *topic, int32_t partition, int64_t offset)
{
    rd_kafka_topic_partition_list_t *l;
    rd_kafka_resp_err_t e;
    int64_t next;
    pthread_mutex_lock(&w->lock);
    next = tiler_inorder_done(w->inorder, partition, offset);
    pthread_mutex_unlock(&w->lock);
    if (next < 0) return;
    l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition)->offset = next;
    /* After a rebalance the partition may be someone else's: the task will
     * run again there, which assembly tolerates. */
    if ((e = rd_kafka_offsets_store(w->consumer, l)) || (e = l->elems[0].err))
        tiler_log(TILER_LOG_DEBUG, "offset %lld of partition %d not stored: %s", (long long)next,
                  partition, rd_kafka_err2str(e));
    rd_kafka_topic_partition_list_destroy(l);
}

static void task_finished(worker *w, const rd_kafka_message_t *m)
{
    task_offset_done(w, rd_kafka_topic_name(m->rkt), m->partition, m->offset);
}

/* An idempotent producer that hit a fatal error fails everything from then
 * on, and librdkafka cannot recover it in place. The other threads share
 * it, so rather than swap it under them the worker process restarts (the
 * supervisor does that at once; tasks not finished come again). */
static void restart_if_fatal(worker *w)
{
    char why[512];
    if (rd_kafka_fatal_error(w->producer, why, sizeof(why)) == RD_KAFKA_RESP_ERR_NO_ERROR) return;
    if (!restart_requested)
        tiler_log(TILER_LOG_ERROR, "the producer hit a fatal error (%s); restarting the worker process", why);
    restart_requested = 1;
    stop_requested = 1;
}

/* Produces one message and waits for its delivery report (bounded by
 * message.timeout.ms), with the two tiler headers if error is set.
 * 0 delivered. */
static int produce_once(worker *w, const char *topic, const void *key, size_t key_len, void *value, size_t len,
                        const char *error, const char *source)
{
    delivery d = { 0, 0 };
    rd_kafka_resp_err_t e;
    rd_kafka_headers_t *headers = NULL;
    if (error) {
        headers = rd_kafka_headers_new(2);
        rd_kafka_header_add(headers, "tiler-error", -1, error, -1);
        rd_kafka_header_add(headers, "tiler-source", -1, source, -1);
    }
    for (;;) {
        e = rd_kafka_producev(w->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key_len),
                              RD_KAFKA_V_VALUE(value, len), RD_KAFKA_V_OPAQUE(&d),
                              RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_END);
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) break;
        rd_kafka_poll(w->producer, 100);
    }
    if (e) {
        if (headers) rd_kafka_headers_destroy(headers);
        tiler_log(TILER_LOG_ERROR, "cannot queue a message for %s: %s", topic, rd_kafka_err2str(e));
        restart_if_fatal(w);
        return -1;
    }
    /* The producer copies nothing: value stays ours, and d lives on this
     * stack until the report arrives (served by any thread's poll). */
    while (!__atomic_load_n(&d.done, __ATOMIC_ACQUIRE)) rd_kafka_poll(w->producer, 50);
    if (d.err) {
        tiler_log(TILER_LOG_ERROR, "message for %s not delivered: %s", topic, rd_kafka_err2str(d.err));
        restart_if_fatal(w);
        return -1;
    }
    return 0;
}

/* Produces until delivered, retrying every second: a task's offset must not
 * move past it before. Gives up (-1) only when the worker stops; the task
 * then comes again. */
static int produce_wait(worker *w, const char *topic, const void *key, size_t key_len, void *value, size_t len,
                        const char *error, const char *source)
{
    while (produce_once(w, topic, key, key_len, value, len, error, source) < 0) {
        if (stop_requested) return -1;
        sleep(1);
    }
    return 0;
}

static int produce_result(worker *w, const char *job, unsigned char *buf, size_t len)
{
    return produce_wait(w, w->o->topics.results, job, TILER_ID_HEX_LEN, buf, len, NULL, NULL);
}

/* Results go out without waiting for their reports: a thread waiting for
 * each one's round trip to the broker did a tile per round trip, whatever
 * its size (40 tiles a second a worker at 256 or 512 pixels on a busy
 * broker, the cores mostly idle). At most this many per thread are in
 * flight; a thread with its share out serves reports until one is back. */
#define RESULTS_IN_FLIGHT_PER_THREAD 4

static void pending_free(pending *p)
{
    __atomic_sub_fetch(&p->w->inflight, 1, __ATOMIC_ACQ_REL);
    free(p->out);
    free(p);
}

/* Queues p's result; 0, or -1 when the producer refused it now (it is
 * then on the retry list, or dropped when the worker stops). */
static int send_pending(pending *p)
{
    worker *w = p->w;
    rd_kafka_resp_err_t e;
    for (;;) {
        e = rd_kafka_producev(w->producer, RD_KAFKA_V_TOPIC(w->o->topics.results), RD_KAFKA_V_KEY(p->job, TILER_ID_HEX_LEN),
                              RD_KAFKA_V_VALUE(p->out, p->len), RD_KAFKA_V_OPAQUE(p), RD_KAFKA_V_END);
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL || stop_requested) break;
        rd_kafka_poll(w->producer, 100);
    }
    if (!e) return 0;
    tiler_log(TILER_LOG_ERROR, "cannot queue job %s tile %u's result: %s", p->job, p->tile + 1, rd_kafka_err2str(e));
    restart_if_fatal(w);
    result_reported(p, e);
    return -1;
}

/* A result's report (or a refusal to queue it): delivered, its task is
 * finished; not, it is produced again a second later, as before, until the
 * worker stops (the task then comes again: its offset was not stored). */
static void result_reported(pending *p, rd_kafka_resp_err_t err)
{
    worker *w = p->w;
    if (!err) {
        if (!__atomic_load_n(&w->closing, __ATOMIC_ACQUIRE)) task_offset_done(w, p->topic, p->partition, p->offset);
        __atomic_add_fetch(&w->tiles_done, 1, __ATOMIC_RELAXED);
        tiler_log(TILER_LOG_DEBUG, "job %s tile %u/%u done in %lld ms", p->job, p->tile + 1, p->total, now_ms() - p->t0);
        pending_free(p);
        return;
    }
    restart_if_fatal(w);
    if (stop_requested) { pending_free(p); return; }
    tiler_log(TILER_LOG_ERROR, "job %s tile %u's result not delivered: %s; producing it again", p->job, p->tile + 1,
              rd_kafka_err2str(err));
    p->retry_at = now_ms() + 1000;
    pthread_mutex_lock(&w->lock);
    p->next = w->retry;
    w->retry = p;
    pthread_mutex_unlock(&w->lock);
}

/* Produces again the results whose time has come (any thread, between
 * its own work); when stopping, gives them up. */
static void retry_results(worker *w)
{
    pending *due = NULL, **pp, *p;
    long long now = now_ms();
    pthread_mutex_lock(&w->lock);
    for (pp = &w->retry; (p = *pp);) {
        if (stop_requested || p->retry_at <= now) { *pp = p->next; p->next = due; due = p; }
        else pp = &p->next;
    }
    pthread_mutex_unlock(&w->lock);
    while ((p = due)) {
        due = p->next;
        if (stop_requested) pending_free(p);
        else send_pending(p);
    }
}

/* Serves reports until at most `most` results are in flight; gives up
 * after timeout_ms (< 0: never) or, when the worker stops, at once if
 * give_up_on_stop. 0 when they are down to most. */
static int wait_in_flight(worker *w, int most, long long timeout_ms, int give_up_on_stop)
{
    long long end = now_ms() + timeout_ms;
    while (__atomic_load_n(&w->inflight, __ATOMIC_ACQUIRE) > most) {
        if ((timeout_ms >= 0 && now_ms() > end) || (give_up_on_stop && stop_requested)) return -1;
        rd_kafka_poll(w->producer, 50);
        retry_results(w);
    }
    return 0;
}

/* A task nobody can process: tell httpd its job failed, keep a copy in the
 * dead-letter topic for a human, and move on. The job comes from the
 * message key (the module keys tasks by the raw id) or the header. */
static int dead_letter(worker *w, rd_kafka_message_t *m, const char *reason)
{
    const unsigned char *id = NULL, *p = m->payload;
    uint32_t index = 0, total = 1;
    char source[400], job[TILER_ID_HEX_LEN + 1] = "";

    if (m->key_len == 16) id = m->key;
    else if (m->len >= 32 && !memcmp(p, TILER_MSG_MAGIC, 4)) id = p + 8;
    if (m->len >= 32 && !memcmp(p, TILER_MSG_MAGIC, 4)) {
        index = (uint32_t)p[24] | (uint32_t)p[25] << 8 | (uint32_t)p[26] << 16 | (uint32_t)p[27] << 24;
        total = (uint32_t)p[28] | (uint32_t)p[29] << 8 | (uint32_t)p[30] << 16 | (uint32_t)p[31] << 24;
    }
    snprintf(source, sizeof(source), "%s/%d/%lld", rd_kafka_topic_name(m->rkt), m->partition, (long long)m->offset);
    /* The copy first: once the job reads failed, its dead letter is kept. */
    if (produce_wait(w, w->o->topics.dead_letters, m->key, m->key_len, m->payload, m->len, reason, source) < 0)
        return -1;
    if (id) {
        size_t flen;
        unsigned char *f;
        char why[600];
        snprintf(why, sizeof(why), "tile %u could not be processed: %s", index, reason);
        tiler_id_to_hex(id, job);
        if (!(f = tiler_msg_failure(id, index, total, why, &flen))) return -1;
        if (produce_result(w, job, f, flen) < 0) { free(f); return -1; }
        free(f);
    }
    tiler_log(TILER_LOG_ERROR, "task %s sent to %s%s%s: %s", source, w->o->topics.dead_letters,
              id ? "; failed job " : "", job, reason);
    task_finished(w, m);
    return 0;
}

#ifdef TILER_TEST_HOOKS
/* Fault injection for the lost-tile test (README, Tests), built only with
 * ./configure --enable-test-hooks. The spec is
 * "INDEX" (drop that tile every time) or "INDEX:MARKER" (the first worker to
 * meet it, across all workers, creates MARKER and drops it once). Dropping
 * stores the offset without a result, as if Kafka had lost the task. */
static int drop_for_test(const tiler_msg *task)
{
    const char *spec = getenv("TILER_TEST_DROP_TILE"), *colon;
    int fd;
    if (!spec || !*spec || strtoul(spec, NULL, 10) != task->tile_index) return 0;
    if (!(colon = strchr(spec, ':'))) return 1;
    if ((fd = open(colon + 1, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0) return 0;
    close(fd);
    return 1;
}

/* Pacing for the fault test (README, Tests): TILER_TEST_TILE_MS=N makes
 * each task take at least N ms more, so that a job is still in flight
 * while a fault hits it, however fast the machine. */
static void pace_for_test(void)
{
    const char *ms = getenv("TILER_TEST_TILE_MS");
    if (ms && *ms) usleep((useconds_t)strtoul(ms, NULL, 10) % 10000 * 1000);
}

/* Fault injection for the crash-loop test (README, Tests): abort on a task
 * whose op chain is exactly TILER_TEST_CRASH_ON_OPS. The pause lets the
 * other threads take up their tasks, so that the crash finds several in
 * hand, as a real one would under load. */
static void crash_for_test(const tiler_msg *task)
{
    const char *crash_on = getenv("TILER_TEST_CRASH_ON_OPS");
    if (crash_on && !strcmp(crash_on, task->ops)) {
        usleep(300000);
        abort();
    }
}
#endif

/* One task, on a pool thread. A task left unfinished (the worker stopping
 * mid-way) keeps its offset, and every later one's, from being stored. */
static void handle_task(worker *w, rd_kafka_message_t *m)
{
    tiler_msg task = { 0 };
    char err[512] = "", job[TILER_ID_HEX_LEN + 1];
    unsigned char *out;
    size_t out_len;
    pending *p;
    long long t0 = now_ms();
    int crashes = worker_crash_count(w->shared, rd_kafka_topic_name(m->rkt), m->partition, m->offset);

    if (crashes >= w->o->max_crashes) {
        snprintf(err, sizeof(err), "it crashed the worker %d times", crashes);
        dead_letter(w, m, err);
        return;
    }
    if (tiler_msg_decode(&task, m->payload, m->len, err, sizeof(err)) < 0 || task.kind != TILER_MSG_TASK) {
        /* A message nobody can process must not stall the partition. */
        if (task.kind != TILER_MSG_TASK && !err[0]) snprintf(err, sizeof(err), "it is not a task");
        dead_letter(w, m, err);
        return;
    }
    tiler_id_to_hex(task.job_id, job);
    pthread_mutex_lock(&w->lock);
    memcpy(w->current_job, job, sizeof(job));
    pthread_mutex_unlock(&w->lock);
#ifdef TILER_TEST_HOOKS
    pace_for_test();
    crash_for_test(&task);
    if (drop_for_test(&task)) {
        tiler_log(TILER_LOG_WARN, "job %s tile %u dropped by TILER_TEST_DROP_TILE", job, task.tile_index);
        task_finished(w, m);
        return;
    }
#endif
    if (!(out = tiler_tile_process(&task, &out_len, err, sizeof(err)))) {
        dead_letter(w, m, err);
        return;
    }
    if (!(p = calloc(1, sizeof(*p)))) {
        tiler_log(TILER_LOG_ERROR, "out of memory; restarting the worker process");
        restart_requested = stop_requested = 1;
        free(out);
        return;
    }
    p->tag = PENDING_TAG;
    p->w = w;
    snprintf(p->topic, sizeof(p->topic), "%s", rd_kafka_topic_name(m->rkt));
    p->partition = m->partition;
    p->offset = m->offset;
    memcpy(p->job, job, sizeof(p->job));
    p->tile = task.tile_index;
    p->total = task.tiles_total;
    p->out = out;
    p->len = out_len;
    p->t0 = t0;
    /* This thread's share of results in flight first: what a worker holds
     * stays bounded. */
    if (__atomic_add_fetch(&w->inflight, 1, __ATOMIC_ACQ_REL) > RESULTS_IN_FLIGHT_PER_THREAD * w->o->threads)
        wait_in_flight(w, RESULTS_IN_FLIGHT_PER_THREAD * w->o->threads, -1, 1);
    send_pending(p);
}

/* The pool's entry point: the crash slot says what this thread holds. */
static void run_task(void *ctx, int slot, void *item)
{
    worker *w = ctx;
    rd_kafka_message_t *m = item;
    worker_slot_take(w->shared, slot, rd_kafka_topic_name(m->rkt), m->partition, m->offset);
    handle_task(w, m);
    worker_slot_free(w->shared, slot);
    rd_kafka_message_destroy(m);
}

static rd_kafka_t *client(worker *w, tiler_kafka_role role, char *err, size_t errlen)
{
    const worker_options *o = w->o;
    rd_kafka_conf_t *c = tiler_kafka_conf_new(role, o->d.brokers, o->d.props, o->d.nprops, err, errlen);
    rd_kafka_t *rk;
    char why[512];
    if (!c) return NULL;
    rd_kafka_conf_set_log_cb(c, on_kafka_log);
    if (role == TILER_KAFKA_PRODUCER) {
        rd_kafka_conf_set_dr_msg_cb(c, on_delivery);
    } else {
        if (rd_kafka_conf_set(c, "group.id", o->group, why, sizeof(why)) != RD_KAFKA_CONF_OK
            || rd_kafka_conf_set(c, "client.id", o->worker_id, why, sizeof(why)) != RD_KAFKA_CONF_OK) {
            snprintf(err, errlen, "%s", why);
            rd_kafka_conf_destroy(c);
            return NULL;
        }
        rd_kafka_conf_set_rebalance_cb(c, on_rebalance);
        rd_kafka_conf_set_opaque(c, w);
    }
    if (!(rk = rd_kafka_new(role == TILER_KAFKA_PRODUCER ? RD_KAFKA_PRODUCER : RD_KAFKA_CONSUMER, c, why, sizeof(why)))) {
        snprintf(err, errlen, "%s", why);
        return NULL;
    }
    return rk;
}

/* Between polls the consumer thread keeps the heartbeat going and serves
 * the producer's reports. */
static void tend(worker *w, long long *next_beat)
{
    if (now_ms() >= *next_beat) {
        heartbeat(w);
        *next_beat = now_ms() + w->o->heartbeat_ms;
    }
    rd_kafka_poll(w->producer, 0);
    retry_results(w);
}

/* Hands one task to the pool. A suspect (in hand with others when a worker
 * process crashed) runs alone, so that a crash it causes is its own. */
static void dispatch(worker *w, rd_kafka_message_t *m, long long *next_beat)
{
    int alone = worker_is_suspect(w->shared, rd_kafka_topic_name(m->rkt), m->partition, m->offset);
    if (alone) {
        while (!stop_requested && worker_pool_wait_idle(w->pool, 200) < 0) tend(w, next_beat);
        tiler_log(TILER_LOG_INFO, "running task %s[%d]@%lld alone: it was in hand when a worker process crashed",
                  rd_kafka_topic_name(m->rkt), m->partition, (long long)m->offset);
    }
    pthread_mutex_lock(&w->lock);
    if (tiler_inorder_begin(w->inorder, m->partition, m->offset) < 0) {
        pthread_mutex_unlock(&w->lock);
        tiler_log(TILER_LOG_ERROR, "out of memory; restarting the worker process");
        restart_requested = stop_requested = 1;
        rd_kafka_message_destroy(m);
        return;
    }
    pthread_mutex_unlock(&w->lock);
    while (worker_pool_put(w->pool, m, 200) < 0) {
        tend(w, next_beat);
        if (stop_requested) { rd_kafka_message_destroy(m); return; }   /* unfinished: comes again */
    }
    if (alone)
        while (!stop_requested && worker_pool_wait_idle(w->pool, 200) < 0) tend(w, next_beat);
}

int worker_loop_run(const worker_options *o, worker_shared *sh)
{
    worker w;
    char err[512];
    rd_kafka_topic_partition_list_t *topics;
    rd_kafka_resp_err_t e;
    long long next_beat = 0;
    int rc = WORKER_EXIT_OK;

    memset(&w, 0, sizeof(w));
    w.o = o;
    w.shared = sh;
    w.started = time(NULL);
    pthread_mutex_init(&w.lock, NULL);
    if (gethostname(w.host, sizeof(w.host)) < 0) strcpy(w.host, "unknown");
    if (!(w.inorder = tiler_inorder_new())) {
        tiler_log(TILER_LOG_ERROR, "out of memory");
        return WORKER_EXIT_RUNTIME;
    }
    if (!(w.producer = client(&w, TILER_KAFKA_PRODUCER, err, sizeof(err)))) {
        tiler_log(TILER_LOG_ERROR, "cannot create the producer: %s", err);
        return WORKER_EXIT_USAGE;
    }
    if (!(w.consumer = client(&w, TILER_KAFKA_CONSUMER, err, sizeof(err)))) {
        tiler_log(TILER_LOG_ERROR, "cannot create the consumer: %s", err);
        rd_kafka_destroy(w.producer);
        return WORKER_EXIT_USAGE;
    }
    /* Two tasks queued per thread keep the threads fed between polls. */
    if (!(w.pool = worker_pool_start(o->threads, 2 * o->threads, run_task, &w))) {
        tiler_log(TILER_LOG_ERROR, "cannot start %d processing threads", o->threads);
        rd_kafka_destroy(w.consumer);
        rd_kafka_destroy(w.producer);
        return WORKER_EXIT_RUNTIME;
    }
    tiler_daemon_ready();   /* the clients exist: the launching process may go */
    while (!stop_requested && tiler_kafka_ensure_topics_until(w.producer, &o->topics, 10000, stopping, err, sizeof(err)) < 0) {
        if (stop_requested) break;
        tiler_log(TILER_LOG_WARN, "topics not ready, retrying: %s", err);
        sleep(2);   /* a signal ends it early */
    }
    rd_kafka_poll_set_consumer(w.consumer);
    topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, o->topics.tasks, RD_KAFKA_PARTITION_UA);
    e = rd_kafka_subscribe(w.consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (e) {
        tiler_log(TILER_LOG_ERROR, "cannot subscribe to %s: %s", o->topics.tasks, rd_kafka_err2str(e));
        rc = WORKER_EXIT_RUNTIME;
        goto out;
    }
    tiler_log(TILER_LOG_INFO, "worker %s started: brokers %s, group %s, topic %s, %d threads", o->worker_id,
              o->d.brokers, o->group, o->topics.tasks, o->threads);

    while (!stop_requested) {
        rd_kafka_message_t *m;
        tend(&w, &next_beat);
        if (!(m = rd_kafka_consumer_poll(w.consumer, 200))) {
            if (!worker_pool_busy(w.pool)) {   /* idle: no job in hand */
                pthread_mutex_lock(&w.lock);
                w.current_job[0] = '\0';
                pthread_mutex_unlock(&w.lock);
            }
            continue;
        }
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                tiler_log(TILER_LOG_WARN, "consumer: %s", rd_kafka_message_errstr(m));
            if (m->err == RD_KAFKA_RESP_ERR__FATAL) { rc = WORKER_EXIT_RUNTIME; stop_requested = 1; }
            rd_kafka_message_destroy(m);
            continue;
        }
        dispatch(&w, m, &next_beat);
    }

    tiler_log(TILER_LOG_INFO, "stopping: finishing the tasks in hand, committing offsets and leaving the group");
out:
    /* The threads finish what is queued (giving up on what cannot be
     * delivered now), so that their offsets are stored before the commit. */
    worker_pool_stop(w.pool);
    w.pool = NULL;
    w.current_job[0] = '\0';
    /* Results still on their way: their reports store their tasks'
     * offsets for the commit. Those not back within 10 s come again. */
    if (wait_in_flight(&w, 0, 10000, 0) < 0)
        tiler_log(TILER_LOG_WARN, "%d results not acknowledged in 10 s; their tasks will be done again",
                  __atomic_load_n(&w.inflight, __ATOMIC_ACQUIRE));
    rd_kafka_commit(w.consumer, NULL, 0);
    __atomic_store_n(&w.closing, 1, __ATOMIC_RELEASE);
    rd_kafka_consumer_close(w.consumer);
    rd_kafka_destroy(w.consumer);
    rd_kafka_flush(w.producer, 5000);
    rd_kafka_destroy(w.producer);
    tiler_inorder_free(w.inorder);
    pthread_mutex_destroy(&w.lock);
    tiler_log(TILER_LOG_INFO, "worker %s stopped after %lld tiles", o->worker_id, w.tiles_done);
    if (restart_requested && rc == WORKER_EXIT_OK) rc = WORKER_EXIT_RESTART;
    return rc;
}
