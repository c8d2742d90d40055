#include "mod_tiler_results.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <apr_strings.h>
#include <mod_watchdog.h>
#include "mod_tiler_encoder.h"
#include "mod_tiler_resend.h"
#include "tiler_id.h"
#include "tiler_metrics.h"
#include "tiler_msg.h"
#include "tiler_spool.h"
#include "tiler_store.h"

#define WATCHDOG_NAME "_tiler_results_"
#define POLL_SLICE_MS 100          /* one consumer_poll; callbacks must not block long */
#define RUN_BUDGET apr_time_from_msec(900)
#define SWEEP_INTERVAL_S 5         /* how often finished jobs are checked against TilerJobTTL, stalled ones for lost tiles */

typedef struct {
    server_rec *s;
    tiler_srv_conf *c;
    apr_pool_t *pool;         /* lives from STARTING to STOPPING; our own */
    rd_kafka_t *consumer;
    tiler_store *store;
    tiler_resend *resend;
    tiler_encoder *encoder;
    int caught_up;
    apr_time_t next_sweep;
} results_ctx;

static APR_OPTIONAL_FN_TYPE(ap_watchdog_get_instance) *wd_get_instance;
static APR_OPTIONAL_FN_TYPE(ap_watchdog_register_callback) *wd_register_callback;

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    server_rec *s = rd_kafka_opaque(rk);
    ap_log_error(APLOG_MARK, level <= 3 ? APLOG_ERR : level <= 4 ? APLOG_WARNING : APLOG_DEBUG, 0, s,
                 APLOGNO(30301) "kafka results consumer %s: %s", fac, buf);
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    server_rec *s = rd_kafka_opaque(rk);
    (void)opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, APLOGNO(30302) "results consumer assigned %d partitions", parts->cnt);
        rd_kafka_assign(rk, parts);
    } else {
        /* Everything applied so far has its offset stored: commit it. */
        rd_kafka_commit(rk, NULL, 0);
        rd_kafka_assign(rk, NULL);
    }
}

/* Fails a job and frees its raster and upload: a full disk must not stay full. */
static int fail_job(results_ctx *x, const char *id, const char *reason)
{
    tiler_spool_drop_work(x->c->spool_dir, id);
    return tiler_store_finish(x->store, id, "failed", reason);
}

static void store_offset(results_ctx *x, const rd_kafka_message_t *m)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, rd_kafka_topic_name(m->rkt), m->partition)->offset = m->offset + 1;
    rd_kafka_offsets_store(x->consumer, l);
    rd_kafka_topic_partition_list_destroy(l);
}

/* Applies one result. Returns 0 when the message is dealt with (its offset
 * may be stored), -1 when it must be seen again (store unavailable). */
static int apply(results_ctx *x, const rd_kafka_message_t *m, apr_pool_t *p)
{
    tiler_msg msg;
    tiler_job job;
    char id[TILER_ID_HEX_LEN + 1], raster[4096], err[512];
    int counted, rc;

    if (tiler_msg_decode(&msg, m->payload, m->len, err, sizeof(err)) < 0 || msg.kind == TILER_MSG_TASK) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, x->s, APLOGNO(30307) "skipping result at partition %d offset %lld: %s",
                     m->partition, (long long)m->offset, msg.kind == TILER_MSG_TASK ? "a task, not a result" : err);
        return 0;
    }
    tiler_id_to_hex(msg.job_id, id);
    rc = tiler_store_get_job(x->store, id, &job, p);
    if (rc < 0) return -1;
    /* Counted once per tile of a known job, whatever became of the job; a
     * counter that cannot be written never holds up the results. */
    if (rc == 0 && msg.kind == TILER_MSG_FAILURE && tiler_metrics_dead_tile(x->store, id, msg.tile_index) < 0)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, x->s, APLOGNO(30321) "job %s: dead-lettered tile %u not counted: %s", id,
                     msg.tile_index, tiler_store_error(x->store));
    if (rc == 1 || (strcmp(job.state, "queued") && strcmp(job.state, "running"))) {
        /* A job that was removed or has ended: late or duplicate tile. */
        return 0;
    }
    if (msg.kind == TILER_MSG_FAILURE) {
        /* A worker gave up on a tile (see the dead-letter topic). */
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, x->s, APLOGNO(30318) "job %s failed: %s", id, msg.ops);
        if (fail_job(x, id, msg.ops) < 0) return -1;
        return 0;
    }
    if (msg.image_w != job.width || msg.image_h != job.height || msg.tiles_total != job.tiles_total
        || memcmp(&msg.src, &msg.core, sizeof(msg.src))) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, x->s, APLOGNO(30308) "job %s: result tile %u does not fit the job; skipped",
                     id, msg.tile_index);
        return 0;
    }
    /* Pixels first, then the count: a crash in between only repeats the
     * (idempotent) write when the tile comes again. */
    if (tiler_spool_path(raster, sizeof(raster), x->c->spool_dir, id, TILER_SPOOL_RASTER) < 0
        || tiler_raster_write(raster, job.width, &msg, err, sizeof(err)) < 0) {
        if (tiler_store_get_job(x->store, id, &job, p) == 1) return 0;   /* deleted meanwhile */
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, x->s, APLOGNO(30309) "job %s: %s", id, err);
        fail_job(x, id, apr_psprintf(p, "assembling the result failed: %s", err));
        return 0;
    }
    rc = tiler_store_count_tile(x->store, id, msg.tile_index, &counted, &job, p);
    if (rc < 0) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, x->s, APLOGNO(30310) "job %s: cannot count tile %u: %s", id,
                     msg.tile_index, tiler_store_error(x->store));
        return -1;
    }
    if (rc == 0 && counted) tiler_encoder_tile_counted(x->encoder, x->store, &job, msg.tile_index, p);
    if (rc == 0 && job.tiles_done >= job.tiles_total) tiler_encoder_finish(x->encoder, id);
    return 0;
}

static int open_consumer(results_ctx *x)
{
    char why[512];
    rd_kafka_conf_t *conf = tiler_kafka_conf_new(TILER_KAFKA_CONSUMER, x->c->brokers,
                                                 (const tiler_prop *)x->c->kafka_props->elts,
                                                 x->c->kafka_props->nelts, why, sizeof(why));
    rd_kafka_topic_partition_list_t *topics;
    const char *err = NULL;
    if (!conf || rd_kafka_conf_set(conf, "group.id", x->c->results_group, why, sizeof(why)) != RD_KAFKA_CONF_OK) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, x->s, APLOGNO(30311) "cannot configure the results consumer: %s", why);
        if (conf) rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_conf_set_log_cb(conf, on_log);
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    rd_kafka_conf_set_opaque(conf, x->s);
    if (!(x->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why)))) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, x->s, APLOGNO(30312) "cannot create the results consumer: %s", why);
        return -1;
    }
    rd_kafka_poll_set_consumer(x->consumer);
    if (tiler_store_open(&x->store, tiler_store_path(x->pool, x->c), x->pool, &err) < 0) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, x->s, APLOGNO(30313) "%s", err);
        return -1;
    }
    {
        /* Topics first: subscribing to a missing one only warns and waits. */
        tiler_topics t = tiler_srv_topics(x->c);
        if (tiler_kafka_ensure_topics(x->consumer, &t, 5000, why, sizeof(why)) < 0)
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, x->s, APLOGNO(30314) "topics not ready yet: %s", why);
    }
    topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, x->c->topic_results, RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(x->consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    return 0;
}

/* Finishes any job whose last tile landed just before a crash (its result
 * was never encoded); once per STARTING. */
static void catch_up(results_ctx *x, apr_pool_t *p)
{
    apr_array_header_t *ids;
    int i;
    x->caught_up = 1;
    if (tiler_store_complete_unfinished(x->store, &ids, p) == 0)
        for (i = 0; i < ids->nelts; i++) tiler_encoder_finish(x->encoder, APR_ARRAY_IDX(ids, i, const char *));
}

/* Results in Kafka not yet read on the partitions this consumer holds,
 * from the high watermarks its fetches last saw (no broker round trip). */
static int64_t lag(rd_kafka_t *rk)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    int64_t sum = 0, lo, hi;
    int i;
    rd_kafka_topic_partition_list_t *committed = NULL;
    if (rd_kafka_assignment(rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR || !parts) return 0;
    rd_kafka_position(rk, parts);
    for (i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *t = &parts->elems[i], *c;
        int64_t from = t->offset;
        if (rd_kafka_get_watermark_offsets(rk, t->topic, t->partition, &lo, &hi) != RD_KAFKA_RESP_ERR_NO_ERROR || hi < 0)
            continue;
        if (from < 0) {
            /* Nothing read on it since this consumer got it (a restart, a
             * move): the group's committed offset says how far it is, not
             * the log's start. One round trip, asked once per sweep. */
            if (!committed) {
                committed = rd_kafka_topic_partition_list_copy(parts);
                if (rd_kafka_committed(rk, committed, 1000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
                    rd_kafka_topic_partition_list_destroy(committed);
                    committed = NULL;
                    break;
                }
            }
            c = rd_kafka_topic_partition_list_find(committed, t->topic, t->partition);
            from = c && c->offset >= 0 ? c->offset : lo;
        }
        if (hi > from) sum += hi - from;
    }
    if (committed) rd_kafka_topic_partition_list_destroy(committed);
    rd_kafka_topic_partition_list_destroy(parts);
    return sum;
}

/* Notes this consumer alive (GET {loc}/api/health) with its lag
 * ({loc}/metrics), and removes finished jobs older than TilerJobTTL, files
 * and rows. */
static void sweep(results_ctx *x, apr_pool_t *p)
{
    apr_array_header_t *ids;
    int i;
    x->next_sweep = apr_time_now() + apr_time_from_sec(SWEEP_INTERVAL_S);
    if (tiler_metrics_set(x->store, TILER_M_RC_SEEN, apr_time_now()) < 0
        || tiler_metrics_set(x->store, TILER_M_RC_LAG, lag(x->consumer)) < 0)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, x->s, APLOGNO(30320) "results consumer: cannot note itself in the store: %s",
                     tiler_store_error(x->store));
    tiler_resend_kick(x->resend, x->consumer);
    if (x->c->job_ttl_seconds <= 0) return;
    if (tiler_store_finished_before(x->store, apr_time_now() - apr_time_from_sec(x->c->job_ttl_seconds), &ids, p) < 0) return;
    for (i = 0; i < ids->nelts; i++) {
        const char *id = APR_ARRAY_IDX(ids, i, const char *);
        tiler_spool_remove(x->c->spool_dir, id);
        tiler_store_delete_job(x->store, id);
    }
    if (ids->nelts)
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, x->s, APLOGNO(30319) "removed %d jobs finished more than %d s ago",
                     ids->nelts, x->c->job_ttl_seconds);
}

static apr_status_t results_callback(int state, void *data, apr_pool_t *pool)
{
    results_ctx *x = data;
    apr_pool_t *p;
    apr_time_t until;

    switch (state) {
    case AP_WATCHDOG_STATE_STARTING:
        /* Not a child of pool: mod_watchdog destroys that after each call. */
        apr_pool_create(&x->pool, NULL);
        x->resend = tiler_resend_create(x->s, x->pool);
        x->encoder = tiler_encoder_create(x->s, x->pool);
        if (open_consumer(x) < 0) break;
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, x->s, APLOGNO(30315) "results consumer started in pid %d (group %s, topic %s)",
                     (int)getpid(), x->c->results_group, x->c->topic_results);
        break;
    case AP_WATCHDOG_STATE_RUNNING:
        if (!x->consumer || !x->store) break;
        apr_pool_create(&p, x->pool);
        if (!x->caught_up) catch_up(x, p);
        if (apr_time_now() >= x->next_sweep) sweep(x, p);
        until = apr_time_now() + RUN_BUDGET;
        while (apr_time_now() < until) {
            rd_kafka_message_t *m = rd_kafka_consumer_poll(x->consumer, POLL_SLICE_MS);
            if (!m) break;
            if (m->err) {
                if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, x->s, APLOGNO(30316) "results consumer: %s",
                                 rd_kafka_message_errstr(m));
            } else if (apply(x, m, p) == 0) {
                store_offset(x, m);
            } else {
                /* Go back to it next round rather than commit past it. */
                rd_kafka_seek(m->rkt, m->partition, m->offset, 1000);
                rd_kafka_message_destroy(m);
                break;
            }
            rd_kafka_message_destroy(m);
            apr_pool_clear(p);
        }
        apr_pool_destroy(p);
        break;
    case AP_WATCHDOG_STATE_STOPPING:
        if (x->consumer) {
            rd_kafka_commit(x->consumer, NULL, 0);
            rd_kafka_consumer_close(x->consumer);
            rd_kafka_destroy(x->consumer);
            x->consumer = NULL;
        }
        if (x->pool) apr_pool_destroy(x->pool);
        x->pool = NULL;
        x->store = NULL;
        x->resend = NULL;
        x->encoder = NULL;
        x->caught_up = 0;
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, x->s, APLOGNO(30317) "results consumer stopped in pid %d", (int)getpid());
        break;
    }
    return APR_SUCCESS;
}

const char *tiler_results_register(apr_pool_t *p, server_rec *s)
{
    ap_watchdog_t *wd;
    results_ctx *x;
    apr_status_t rv;

    wd_get_instance = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance);
    wd_register_callback = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_register_callback);
    if (!wd_get_instance || !wd_register_callback)
        return "mod_tiler needs mod_watchdog for its results consumer; load it (LoadModule watchdog_module)";
    /* parent=0, singleton=1: runs in exactly one child at a time. */
    if ((rv = wd_get_instance(&wd, WATCHDOG_NAME, 0, 1, p)) != APR_SUCCESS)
        return "cannot create the mod_watchdog instance for the results consumer";
    x = apr_pcalloc(p, sizeof(*x));
    x->s = s;
    x->c = tiler_srv(s);
    if ((rv = wd_register_callback(wd, apr_time_from_msec(100), x, results_callback)) != APR_SUCCESS)
        return "cannot register the results consumer with mod_watchdog";
    return NULL;
}
