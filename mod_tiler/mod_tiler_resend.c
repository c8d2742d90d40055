/* config.h says whether ./configure --enable-test-hooks built the fault
 * hooks in; httpd's headers define the PACKAGE_* macros again. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#undef PACKAGE_BUGREPORT
#undef PACKAGE_NAME
#undef PACKAGE_STRING
#undef PACKAGE_TARNAME
#undef PACKAGE_URL
#undef PACKAGE_VERSION
#endif
#include "mod_tiler_resend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <apr_strings.h>
#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>
#include <apr_thread_proc.h>
#include "mod_tiler_producer.h"
#include "tiler_defaults.h"
#include "tiler_grid_chain.h"
#include "tiler_id.h"
#include "tiler_image.h"
#include "tiler_lost.h"
#include "tiler_metrics.h"
#include "tiler_ops.h"
#include "tiler_png_tile.h"
#include "tiler_tiff_out.h"
#include "tiler_spool.h"

#define KAFKA_TIMEOUT_MS 5000
#define JOBS_PER_CHECK 16        /* the rest wait for the next check */

struct tiler_resend {
    server_rec *s;
    tiler_srv_conf *c;
    rd_kafka_t *workers;     /* never subscribes: it only reads the group's commits */
    apr_thread_t *thread;
    apr_thread_mutex_t *lock;
    apr_thread_cond_t *wake;
    int asked;               /* a check is due; under lock */
    int stop;                /* under lock */
    rd_kafka_t *results;     /* the results consumer (set by a kick; live until tiler_resend_stop) */
};

static int stopping(tiler_resend *x)
{
    int stop;
    apr_thread_mutex_lock(x->lock);
    stop = x->stop;
    apr_thread_mutex_unlock(x->lock);
    return stop;
}

static apr_status_t close_workers(void *data)
{
    tiler_resend *x = data;
    if (x->workers) rd_kafka_destroy(x->workers);
    x->workers = NULL;
    return APR_SUCCESS;
}

/* librdkafka's own lines go to the error log with a number, as the
 * producer's and the results consumer's do, not raw to stderr. */
static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    server_rec *s = rd_kafka_opaque(rk);
    ap_log_error(APLOG_MARK, level <= 3 ? APLOG_ERR : level <= 4 ? APLOG_WARNING : APLOG_DEBUG, 0, s,
                 APLOGNO(30709) "kafka resend check %s: %s", fac, buf);
}

static rd_kafka_t *workers_handle(tiler_resend *x)
{
    char why[512];
    rd_kafka_conf_t *conf;
    if (x->workers) return x->workers;
    conf = tiler_kafka_conf_new(TILER_KAFKA_CONSUMER, x->c->brokers, (const tiler_prop *)x->c->kafka_props->elts,
                                x->c->kafka_props->nelts, why, sizeof(why));
    if (conf) {
        rd_kafka_conf_set_log_cb(conf, on_log);
        rd_kafka_conf_set_opaque(conf, x->s);
    }
    if (!conf || rd_kafka_conf_set(conf, "group.id", x->c->worker_group, why, sizeof(why)) != RD_KAFKA_CONF_OK
        || !(x->workers = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why)))) {
        if (conf && !x->workers) rd_kafka_conf_destroy(conf);
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, x->s, APLOGNO(30701) "resend check: no Kafka handle: %s", why);
        return NULL;
    }
    return x->workers;
}

/* Whether the results consumer has been handed every result the broker
 * holds now: asked after the workers' commits were read, so that the
 * result of every task they are past (a worker commits a task only once
 * its result is acknowledged) is below these high watermarks. A result
 * handed over is applied before the next poll, on the results thread:
 * one being applied at this moment is at most resent once for nothing.
 * 1 caught up, 0 behind or cannot tell (then nothing is called lost). */
static int results_applied(tiler_resend *x)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    rd_kafka_t *rk;
    int i, behind = 0;
    apr_thread_mutex_lock(x->lock);
    rk = x->results;
    apr_thread_mutex_unlock(x->lock);
    if (!rk || rd_kafka_assignment(rk, &parts) || !parts) return 0;
    /* No partition (a rebalance going on): it cannot tell. */
    if (parts->cnt == 0 || rd_kafka_position(rk, parts) != RD_KAFKA_RESP_ERR_NO_ERROR) behind = 1;
    for (i = 0; i < parts->cnt && !behind; i++) {
        rd_kafka_topic_partition_t *tp = &parts->elems[i];
        int64_t lo, hi, at = tp->offset;
        if (rd_kafka_query_watermark_offsets(rk, tp->topic, tp->partition, &lo, &hi, KAFKA_TIMEOUT_MS)) {
            behind = 1;
            break;
        }
        if (at < 0) {
            /* Nothing handed over from it since this child started: it
             * reads on from the group's commit (or the log's start). */
            rd_kafka_topic_partition_list_t *one = rd_kafka_topic_partition_list_new(1);
            rd_kafka_topic_partition_list_add(one, tp->topic, tp->partition);
            if (rd_kafka_committed(rk, one, KAFKA_TIMEOUT_MS) || one->elems[0].err) behind = 1;
            else at = one->elems[0].offset >= 0 ? one->elems[0].offset : lo;
            rd_kafka_topic_partition_list_destroy(one);
        }
        if (!behind && hi > at) behind = 1;
    }
    rd_kafka_topic_partition_list_destroy(parts);
    return !behind;
}

static int task_watermarks(void *ctx, int32_t partition, int64_t *lo, int64_t *hi)
{
    tiler_resend *x = ctx;
    return rd_kafka_query_watermark_offsets(x->workers, x->c->topic_tasks, partition, lo, hi, KAFKA_TIMEOUT_MS) ? -1 : 0;
}

/* 1 when the workers' group is past every task of the job (see
 * tiler_lost_workers_past), 0 when work for it may still be ahead of them,
 * -1 when Kafka cannot tell. */
static int workers_past(tiler_resend *x, const apr_array_header_t *offsets, apr_pool_t *p)
{
    rd_kafka_t *rk = workers_handle(x);
    rd_kafka_topic_partition_list_t *l;
    int64_t *committed;
    int i, past = 1;
    if (!rk) return -1;
    l = rd_kafka_topic_partition_list_new(offsets->nelts);
    for (i = 0; i < offsets->nelts; i++)
        rd_kafka_topic_partition_list_add(l, x->c->topic_tasks, APR_ARRAY_IDX(offsets, i, tiler_task_offset).partition);
    if (rd_kafka_committed(rk, l, KAFKA_TIMEOUT_MS) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_topic_partition_list_destroy(l);
        return -1;
    }
    committed = apr_palloc(p, sizeof(*committed) * (offsets->nelts ? offsets->nelts : 1));
    for (i = 0; i < offsets->nelts && past > 0; i++) {
        if (l->elems[i].err) past = -1;
        committed[i] = l->elems[i].offset;
    }
    rd_kafka_topic_partition_list_destroy(l);
    if (past < 0) return -1;
    return tiler_lost_workers_past((const tiler_task_offset *)offsets->elts, committed, offsets->nelts, task_watermarks, x);
}

/* Cuts the missing tiles from the kept upload and produces them again. */
static int produce_again(tiler_resend *x, tiler_store *store, const tiler_job *job, const apr_array_header_t *missing,
                         const char **reason, apr_pool_t *p)
{
    char input[4096], err[512];
    unsigned char id[16];
    tiler_chain chain;
    tiler_format fmt;
    tiler_grid grid;
    tiler_geom geom;
    tiler_delivered delivered;
    tiler_tile_enc enc;
    uint32_t w, h;
    FILE *f;
    int rc;

    if (tiler_id_parse(job->id, strlen(job->id), id) < 0
        || tiler_spool_path(input, sizeof(input), x->c->spool_dir, job->id, TILER_SPOOL_INPUT) < 0) {
        *reason = "the job id is not valid";
        return -1;
    }
    if (!(f = fopen(input, "rb"))) { *reason = "its upload is no longer in the spool"; return -1; }
    rc = tiler_probe_file(f, &fmt, &w, &h, err, sizeof(err));
    fclose(f);
    if (rc < 0 || w != job->src_width || h != job->src_height) { *reason = "its upload in the spool changed"; return -1; }
    if (tiler_chain_parse(&chain, job->ops, TILER_MAX_OPS, err, sizeof(err)) < 0) {
        *reason = apr_pstrdup(p, err);
        return -1;
    }
#ifdef TILER_TEST_HOOKS
    {
        /* TILER_TEST_RESEND_HOLD=FILE holds a resend in progress until FILE
         * exists: t/52-resend.t shows other jobs go on meanwhile. */
        const char *hold = getenv("TILER_TEST_RESEND_HOLD");
        if (hold) {
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, x->s, APLOGNO(30705) "job %s: resend held until %s exists "
                         "(TILER_TEST_RESEND_HOLD)", job->id, hold);
            while (access(hold, F_OK) != 0 && !stopping(x)) apr_sleep(apr_time_from_msec(20));
        }
    }
#endif
    tiler_grid_init_chain(&grid, &geom, w, h, job->tile_size, &chain);
    /* The attempt is counted before its tiles leave: they can come back
     * and finish the job before producing returns, and the job must then
     * already say it was resent. */
    if (tiler_store_note_resend(store, job->id) < 0) {
        *reason = tiler_store_error(store);
        return -1;
    }
    if (!tiler_job_enc(job, &enc) && !strcmp(job->format, "tiff")) {
        *reason = apr_psprintf(p, "unknown TIFF compression '%s'", job->compression ? job->compression : "");
        return -1;
    }
    if (tiler_produce_tiles(x->s, p, input, fmt, &grid, id, job->ops, &enc, missing, &delivered, reason) != OK) return -1;
    if (tiler_store_note_offsets(store, job->id, delivered.last, delivered.nparts) < 0) {
        *reason = tiler_store_error(store);
        return -1;
    }
    /* Only a number: a counter that cannot be written changes nothing else. */
    if (tiler_metrics_add(store, TILER_M_TILES_RESENT, missing->nelts) < 0)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, x->s, APLOGNO(30708) "job %s: resent tiles not counted: %s", job->id,
                     tiler_store_error(store));
    return 0;
}

static void check_job(tiler_resend *x, tiler_store *store, const char *id, apr_pool_t *p)
{
    tiler_job job;
    apr_array_header_t *offsets, *missing;
    const char *reason = NULL;
    apr_time_t now = apr_time_now();

    if (tiler_store_get_job(store, id, &job, p) != 0) return;
    if (tiler_store_get_offsets(store, id, &offsets, p) < 0) return;
    if (offsets->nelts == 0) {
        /* No task acknowledged: the upload's request died before Kafka had
         * them all. Wait out its produce timeout before calling them lost. */
        if (!tiler_lost_unacked_overdue(job.created, now, x->c->resend_seconds, x->c->produce_timeout_ms)) return;
    } else if (workers_past(x, offsets, p) != 1 || results_applied(x) != 1) {
        /* Ahead of the workers, or results not yet applied: slow, not lost. */
        return;
    }
    if (tiler_store_missing_tiles(store, id, job.tiles_total, &missing, p) < 0 || missing->nelts == 0) return;
    if (job.resends >= TILER_MAX_RESENDS) {
        const char *why = apr_psprintf(p, "%d tiles never came back, though produced %d times over", missing->nelts,
                                       job.resends + 1);
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, x->s, APLOGNO(30702) "job %s failed: %s", id, why);
        tiler_store_finish(store, id, "failed", why);
        /* Free the disk, as for every failed job; the result never comes. */
        tiler_spool_drop_work(x->c->spool_dir, id);
        return;
    }
    if (produce_again(x, store, &job, missing, &reason, p) < 0) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, x->s, APLOGNO(30703) "job %s: %d lost tiles could not be produced again: %s",
                     id, missing->nelts, reason);
        return;
    }
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, x->s, APLOGNO(30704) "job %s: %d tiles were lost on the way (the workers are "
                 "past all its tasks); produced them again, attempt %d of %d", id, missing->nelts, job.resends + 1,
                 TILER_MAX_RESENDS);
}

/* One check of the stalled jobs, on the resend thread. */
static void check_stalled(tiler_resend *x, tiler_store *store, apr_pool_t *p)
{
    apr_array_header_t *ids;
    int i;
    if (tiler_store_stalled(store, apr_time_now() - apr_time_from_sec(x->c->resend_seconds), &ids, p) < 0) return;
    for (i = 0; i < ids->nelts && i < JOBS_PER_CHECK && !stopping(x); i++)
        check_job(x, store, APR_ARRAY_IDX(ids, i, const char *), p);
}

/* The resend thread: waits to be asked, checks, waits again. Its store
 * connection is its own (a connection is one thread's). */
static void *APR_THREAD_FUNC resend_thread(apr_thread_t *t, void *data)
{
    tiler_resend *x = data;
    tiler_store *store = NULL;
    apr_pool_t *p, *scratch;
    const char *err;
    (void)t;
    if (apr_pool_create_unmanaged_ex(&p, NULL, NULL) != APR_SUCCESS) return NULL;
    apr_pool_create(&scratch, p);
    for (;;) {
        apr_thread_mutex_lock(x->lock);
        while (!x->asked && !x->stop) apr_thread_cond_wait(x->wake, x->lock);
        if (x->stop) { apr_thread_mutex_unlock(x->lock); break; }
        x->asked = 0;
        apr_thread_mutex_unlock(x->lock);
        if (!store && tiler_store_open(&store, tiler_store_path(p, x->c), p, &err) < 0) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, x->s, APLOGNO(30706) "resend check: %s", err);
            store = NULL;
            continue;
        }
        check_stalled(x, store, scratch);
        apr_pool_clear(scratch);
    }
    apr_pool_destroy(p);
    return NULL;
}

/* A pre-cleanup: it must run before p's subpools go, the thread's among
 * them. The thread ends after the job it is on (its Kafka waits are
 * bounded: TilerProduceTimeout, KAFKA_TIMEOUT_MS). */
static apr_status_t stop_thread(void *data)
{
    tiler_resend *x = data;
    apr_status_t rv;
    if (!x->thread) return APR_SUCCESS;
    apr_thread_mutex_lock(x->lock);
    x->stop = 1;
    apr_thread_cond_signal(x->wake);
    apr_thread_mutex_unlock(x->lock);
    apr_thread_join(&rv, x->thread);
    x->thread = NULL;
    return APR_SUCCESS;
}

tiler_resend *tiler_resend_create(server_rec *s, apr_pool_t *p)
{
    tiler_resend *x = apr_pcalloc(p, sizeof(*x));
    x->s = s;
    x->c = tiler_srv(s);
    apr_pool_cleanup_register(p, x, close_workers, apr_pool_cleanup_null);
    if (x->c->resend_seconds <= 0) return x;
    if (apr_thread_mutex_create(&x->lock, APR_THREAD_MUTEX_DEFAULT, p) != APR_SUCCESS
        || apr_thread_cond_create(&x->wake, p) != APR_SUCCESS
        || apr_thread_create(&x->thread, NULL, resend_thread, x, p) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, APLOGNO(30707) "cannot start the resend thread; lost tiles will "
                     "not be produced again");
        x->thread = NULL;
        return x;
    }
    apr_pool_pre_cleanup_register(p, x, stop_thread);
    return x;
}

void tiler_resend_stop(tiler_resend *x)
{
    if (x) stop_thread(x);
}

void tiler_resend_kick(tiler_resend *x, rd_kafka_t *results)
{
    if (!x->thread) return;
    apr_thread_mutex_lock(x->lock);
    x->results = results;
    x->asked = 1;
    apr_thread_cond_signal(x->wake);
    apr_thread_mutex_unlock(x->lock);
}
