#include "mod_tiler_results.h"

#include <unistd.h>
#include <mod_watchdog.h>
#include "mod_tiler_encoder.h"
#include "mod_tiler_resend.h"
#include "mod_tiler_zoom.h"
#include "tiler_assembly.h"
#include "tiler_metrics.h"

#define WATCHDOG_NAME "_tiler_results_"
#define POLL_SLICE_MS 100          /* one consumer_poll; callbacks must not block long */
#define RUN_BUDGET apr_time_from_msec(900)
#define SWEEP_INTERVAL_S 5         /* how often finished jobs are checked against TilerJobTTL, stalled ones for lost tiles */
#define ZOOM_LOOK_INTERVAL_S 60    /* how often done jobs are checked for a missing zoom pyramid */

typedef struct {
    server_rec *s;
    tiler_srv_conf *c;
    apr_pool_t *pool;         /* lives from STARTING to STOPPING; our own */
    rd_kafka_t *consumer;
    tiler_assembly *assembly;
    tiler_resend *resend;
    tiler_encoder *encoder;
    int caught_up;
    apr_time_t next_sweep;
    apr_time_t next_zoom_look;
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

static void store_offset(results_ctx *x, const rd_kafka_message_t *m)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, rd_kafka_topic_name(m->rkt), m->partition)->offset = m->offset + 1;
    rd_kafka_offsets_store(x->consumer, l);
    rd_kafka_topic_partition_list_destroy(l);
}

/* The assembly's log lines, each with the number it had when the logic
 * lived here. */
static void on_assembly_log(void *ctx, int level, tiler_asm_event ev, const char *msg)
{
    server_rec *s = ctx;
    switch (ev) {
    case TILER_ASM_EV_NOT_A_RESULT: ap_log_error(APLOG_MARK, level, 0, s, APLOGNO(30307) "%s", msg); break;
    case TILER_ASM_EV_WORKER_FAILED: ap_log_error(APLOG_MARK, level, 0, s, APLOGNO(30318) "%s", msg); break;
    case TILER_ASM_EV_DEAD_UNCOUNTED: ap_log_error(APLOG_MARK, level, 0, s, APLOGNO(30321) "%s", msg); break;
    case TILER_ASM_EV_MISFIT: ap_log_error(APLOG_MARK, level, 0, s, APLOGNO(30308) "%s", msg); break;
    case TILER_ASM_EV_RASTER: ap_log_error(APLOG_MARK, level, 0, s, APLOGNO(30309) "%s", msg); break;
    case TILER_ASM_EV_COUNT: ap_log_error(APLOG_MARK, level, 0, s, APLOGNO(30310) "%s", msg); break;
    case TILER_ASM_EV_SWEPT: ap_log_error(APLOG_MARK, level, 0, s, APLOGNO(30319) "%s", msg); break;
    }
}

/* The assembly's sink: the work it finds due goes to the encoder's threads. */
static void on_strip_ready(void *ctx, const char *id, uint32_t k)
{
    tiler_encoder_strip(ctx, id, k);
}

static void on_job_complete(void *ctx, const char *id)
{
    tiler_encoder_finish(ctx, id);
}

static int open_consumer(results_ctx *x)
{
    char why[512];
    rd_kafka_conf_t *conf = tiler_kafka_conf_new(TILER_KAFKA_CONSUMER, x->c->brokers,
                                                 (const tiler_prop *)x->c->kafka_props->elts,
                                                 x->c->kafka_props->nelts, why, sizeof(why));
    rd_kafka_topic_partition_list_t *topics;
    tiler_asm_config cfg = { 0 };
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
    cfg.spool_dir = x->c->spool_dir;
    cfg.store_path = tiler_store_path(x->pool, x->c);
    cfg.job_ttl_seconds = x->c->job_ttl_seconds;
    cfg.tiff_rows = x->c->zoom;   /* a TIFF's complete rows feed its zoom pyramid */
    cfg.sink.ctx = x->encoder;
    cfg.sink.strip_ready = on_strip_ready;
    cfg.sink.job_complete = on_job_complete;
    cfg.log_ctx = x->s;
    cfg.log = on_assembly_log;
    if (tiler_assembly_create(&x->assembly, &cfg, x->pool, &err) < 0) {
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
    x->caught_up = 1;
    tiler_assembly_catch_up(x->assembly, p);
    tiler_zoom_catch_up(x->s, tiler_assembly_store(x->assembly), x->encoder, p);
    x->next_zoom_look = apr_time_now() + apr_time_from_sec(ZOOM_LOOK_INTERVAL_S);
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
 * ({loc}/metrics), asks for a look at stalled jobs, and removes finished
 * jobs older than TilerJobTTL, files and rows. */
static void sweep(results_ctx *x, apr_pool_t *p)
{
    tiler_store *store = tiler_assembly_store(x->assembly);
    x->next_sweep = apr_time_now() + apr_time_from_sec(SWEEP_INTERVAL_S);
    if (tiler_metrics_set(store, TILER_M_RC_SEEN, apr_time_now()) < 0
        || tiler_metrics_set(store, TILER_M_RC_LAG, lag(x->consumer)) < 0)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, x->s, APLOGNO(30320) "results consumer: cannot note itself in the store: %s",
                     tiler_store_error(store));
    tiler_resend_kick(x->resend, x->consumer);
    tiler_assembly_sweep(x->assembly, apr_time_now(), p);
    if (apr_time_now() >= x->next_zoom_look) {
        x->next_zoom_look = apr_time_now() + apr_time_from_sec(ZOOM_LOOK_INTERVAL_S);
        tiler_zoom_catch_up(x->s, store, x->encoder, p);
    }
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
        if (!x->consumer || !x->assembly) break;
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
            } else if (tiler_assembly_apply(x->assembly, m->payload, m->len, m->partition, m->offset, p) == 0) {
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
        /* The resend thread asks the consumer where it is: it stops first. */
        tiler_resend_stop(x->resend);
        if (x->consumer) {
            rd_kafka_commit(x->consumer, NULL, 0);
            rd_kafka_consumer_close(x->consumer);
            rd_kafka_destroy(x->consumer);
            x->consumer = NULL;
        }
        if (x->pool) apr_pool_destroy(x->pool);
        x->pool = NULL;
        x->assembly = NULL;
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
