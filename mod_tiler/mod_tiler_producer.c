#include "mod_tiler_producer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr_atomic.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>
#include <apr_thread_rwlock.h>
#include <http_main.h>   /* ap_server_conf */
#include "tiler_id.h"
#include "tiler_image.h"
#include "tiler_tile.h"
#include "tiler_tiff_task.h"

static rd_kafka_t *producer;         /* this child's */
/* Readers produce; a writer replaces a producer an idempotence fatal error
 * made useless (librdkafka cannot recover one in place). */
static apr_thread_rwlock_t *swap_lock;
static int32_t task_partitions;      /* learnt from metadata on first use */
static apr_thread_mutex_t *meta_lock;
static apr_thread_mutex_t *offset_lock;  /* any thread's poll may serve any job's reports */

/* Delivery accounting for one job. It is malloc'd, not pool memory: if the
 * request gives up waiting, reports still to come must find it alive; the
 * last one frees it. */
typedef struct {
    volatile apr_uint32_t pending;
    volatile apr_uint32_t failed;
    volatile apr_uint32_t abandoned;
    char error[256];
    int32_t nparts;
    int64_t last[];          /* highest offset acknowledged, per partition */
} job_delivery;

static void release(job_delivery *d)
{
    if (apr_atomic_dec32(&d->pending) == 0 && apr_atomic_read32(&d->abandoned)) free(d);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    job_delivery *d = m->_private;
    (void)rk; (void)opaque;
    if (!d) return;
    if (m->err && apr_atomic_cas32(&d->failed, 1, 0) == 0)
        apr_cpystrn(d->error, rd_kafka_err2str(m->err), sizeof(d->error));
    if (!m->err && m->offset >= 0 && m->partition >= 0 && m->partition < d->nparts) {
        apr_thread_mutex_lock(offset_lock);
        if (m->offset > d->last[m->partition]) d->last[m->partition] = m->offset;
        apr_thread_mutex_unlock(offset_lock);
    }
    release(d);
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    server_rec *s = rd_kafka_opaque(rk);
    /* librdkafka's levels are syslog's, as are httpd's. */
    ap_log_error(APLOG_MARK, level <= 3 ? APLOG_ERR : level <= 4 ? APLOG_WARNING : APLOG_DEBUG, 0, s,
                 APLOGNO(30201) "kafka producer %s: %s", fac, buf);
}

static apr_status_t producer_cleanup(void *data)
{
    server_rec *s = data;
    if (producer) {
        /* Every request waited for its own tiles already; this is only for
         * heartbeat-style leftovers. Short: the parent SIGKILLs slow children. */
        if (rd_kafka_flush(producer, 2000) != RD_KAFKA_RESP_ERR_NO_ERROR)
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, APLOGNO(30202) "producer closed with messages unsent");
        rd_kafka_destroy(producer);
        producer = NULL;
    }
    return APR_SUCCESS;
}

static rd_kafka_t *new_producer(server_rec *s)
{
    tiler_srv_conf *c = tiler_srv(s);
    char why[512], timeout[32];
    rd_kafka_t *rk;
    rd_kafka_conf_t *conf = tiler_kafka_conf_new(TILER_KAFKA_PRODUCER, c->brokers,
                                                 (const tiler_prop *)c->kafka_props->elts, c->kafka_props->nelts,
                                                 why, sizeof(why));
    if (!conf) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, APLOGNO(30203) "cannot configure the producer: %s", why);
        return NULL;
    }
    snprintf(timeout, sizeof(timeout), "%d", c->produce_timeout_ms);
    rd_kafka_conf_set(conf, "message.timeout.ms", timeout, why, sizeof(why));
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_log_cb(conf, on_log);
    rd_kafka_conf_set_opaque(conf, s);
    if (!(rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why))))
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, APLOGNO(30204) "cannot create the producer: %s", why);
    return rk;
}

/* After a fatal error, every produce fails until the producer is replaced.
 * Messages it still holds are purged: their jobs fail with the reason. */
static void replace_if_fatal(server_rec *s)
{
    char why[512];
    apr_thread_rwlock_wrlock(swap_lock);
    if (producer && rd_kafka_fatal_error(producer, why, sizeof(why)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, APLOGNO(30205) "the Kafka producer hit a fatal error (%s); replacing it", why);
        rd_kafka_purge(producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(producer, 1000);
        rd_kafka_destroy(producer);
        producer = new_producer(s);
    }
    apr_thread_rwlock_unlock(swap_lock);
}

void tiler_producer_child_init(apr_pool_t *pchild, server_rec *s)
{
    if (!(producer = new_producer(s))) return;
    apr_thread_rwlock_create(&swap_lock, pchild);
    apr_thread_mutex_create(&meta_lock, APR_THREAD_MUTEX_DEFAULT, pchild);
    apr_thread_mutex_create(&offset_lock, APR_THREAD_MUTEX_DEFAULT, pchild);
    apr_pool_cleanup_register(pchild, s, producer_cleanup, apr_pool_cleanup_null);
}

static int32_t lookup_partitions(const char *topic, int timeout_ms)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(producer, topic, NULL);
    int32_t n = 0;
    if (rd_kafka_metadata(producer, 0, rkt, &md, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (md->topic_cnt == 1 && !md->topics[0].err) n = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    return n;
}

/* The tasks topic's partition count, learnt once per child. On a new
 * deployment the first upload may come before anyone created the topics,
 * or while the broker is still making their partitions' logs (another
 * child's results consumer created them a moment ago): ensure them here
 * too, which waits until every partition serves (tiler_kafka.c), then
 * read the count. */
static int32_t partitions_of(tiler_srv_conf *c, apr_time_t deadline)
{
    int32_t n;
    char why[512] = "";
    apr_thread_mutex_lock(meta_lock);
    n = task_partitions;
    while (n <= 0 && apr_time_now() < deadline) {
        tiler_topics t = tiler_srv_topics(c);
        /* Failing to ensure them is no stop when they exist: the web
         * server's principal may have no right to create topics (an
         * operator made them); then the metadata is all there is. */
        if (tiler_kafka_ensure_topics(producer, &t, 5000, why, sizeof(why)) == 0) why[0] = '\0';
        if ((n = lookup_partitions(c->topic_tasks, 5000)) > 0) break;
        apr_sleep(apr_time_from_msec(200));
    }
    /* Fewer than TilerTasksPartitions: ensuring grows the topic, so only a
     * failed ensure leaves it so (and the workers past its partitions idle). */
    if (n > 0 && task_partitions <= 0 && n < c->tasks_partitions)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, ap_server_conf, APLOGNO(30260)
                     "tasks topic %s has %d partitions, fewer than TilerTasksPartitions %d: %s",
                     c->topic_tasks, (int)n, c->tasks_partitions, why[0] ? why : "it could not be grown");
    if (n > 0) task_partitions = n;
    apr_thread_mutex_unlock(meta_lock);
    return n;
}

struct tiler_production {
    server_rec *s;
    apr_pool_t *p;
    const unsigned char *id;
    const char *ops;
    tiler_tile_enc enc;       /* what the tasks ask for: codec 0, raw pixels */
    apr_time_t deadline;
    int32_t nparts, first;
    job_delivery *d;
};

tiler_production *tiler_production_begin(server_rec *s, apr_pool_t *p, const unsigned char id[16], const char *ops,
                                         const char **reason)
{
    tiler_srv_conf *c = tiler_srv(s);
    tiler_production *pr;
    int32_t pi;

    if (!swap_lock || !producer) { *reason = "this httpd child has no Kafka producer (see the error log)"; return NULL; }
    /* Held until the end: a fatal error's replacement waits for us. */
    apr_thread_rwlock_rdlock(swap_lock);
    pr = apr_pcalloc(p, sizeof(*pr));
    pr->s = s;
    pr->p = p;
    pr->id = id;
    pr->ops = ops;
    pr->deadline = apr_time_now() + apr_time_from_msec(c->produce_timeout_ms);
    if (!producer) { *reason = "this httpd child has no Kafka producer (see the error log)"; goto fail; }
    if ((pr->nparts = partitions_of(c, pr->deadline)) <= 0) {
        *reason = apr_psprintf(p, "topic %s is unknown to the Kafka brokers %s", c->topic_tasks, c->brokers);
        goto fail;
    }
    if (!(pr->d = calloc(1, sizeof(*pr->d) + (size_t)pr->nparts * sizeof(pr->d->last[0])))) {
        *reason = "out of memory";
        goto fail;
    }
    pr->d->nparts = pr->nparts;
    for (pi = 0; pi < pr->nparts; pi++) pr->d->last[pi] = -1;
    /* The job holds one reference of its own until it stops waiting. */
    apr_atomic_set32(&pr->d->pending, 1);
    /* Spread a job's tiles over all partitions, so that every worker gets
     * some; start each job at a random partition so small jobs spread too. */
    pr->first = (int32_t)(id[0] | id[1] << 8) % pr->nparts;
    return pr;
fail:
    apr_thread_rwlock_unlock(swap_lock);
    return NULL;
}

void tiler_production_encode(tiler_production *pr, const tiler_tile_enc *enc)
{
    if (enc) pr->enc = *enc;
}

int tiler_production_add(tiler_production *pr, const tiler_band *b, const tiler_grid *g, uint32_t i, const char **reason)
{
    size_t len;
    /* Raw pixels back (no encoding asked): packed both ways. */
    unsigned char *msg = tiler_tile_task_band(b, g, i, pr->id, pr->ops, pr->enc.codec == TILER_CODEC_RAW, &len);
    /* NULL also when the band no longer holds a row of the tile's source:
     * a bug, named as one rather than taken for a full memory. */
    if (!msg) {
        *reason = apr_psprintf(pr->p, "tile %u cannot be cut: out of memory, or rows of its source are no longer held", i);
        return -1;
    }
    return tiler_production_send(pr, i, msg, len, reason);
}

int tiler_production_send(tiler_production *pr, uint32_t i, unsigned char *msg, size_t len, const char **reason)
{
    tiler_srv_conf *c = tiler_srv(pr->s);
    rd_kafka_resp_err_t e;
    if (tiler_msg_set_encoding(msg, &pr->enc) < 0) {
        free(msg);
        *reason = apr_psprintf(pr->p, "tile %u: a packed task cannot ask for an encoding", i);
        return -1;
    }
    apr_atomic_inc32(&pr->d->pending);
    for (;;) {
        e = rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(c->topic_tasks),
                              RD_KAFKA_V_PARTITION((pr->first + (int32_t)(i % (uint32_t)pr->nparts)) % pr->nparts),
                              RD_KAFKA_V_KEY(pr->id, 16), RD_KAFKA_V_VALUE(msg, len),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE), RD_KAFKA_V_OPAQUE(pr->d), RD_KAFKA_V_END);
        /* A big job can fill the local queue: wait for room, bounded. */
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL || apr_time_now() > pr->deadline) break;
        rd_kafka_poll(producer, 50);
    }
    if (e) {
        free(msg);
        apr_atomic_dec32(&pr->d->pending);
        *reason = apr_psprintf(pr->p, "tile %u not queued: %s", i, rd_kafka_err2str(e));
        return -1;
    }
    rd_kafka_poll(producer, 0);
    /* TilerProduceTimeout bounds a wait for Kafka, not the whole job: a
     * gigapixel upload takes longer to decode than any sensible timeout. */
    pr->deadline = apr_time_now() + apr_time_from_msec(c->produce_timeout_ms);
    return 0;
}

static int wait_acks(tiler_production *pr, tiler_delivered *out, const char **reason)
{
    tiler_srv_conf *c = tiler_srv(pr->s);
    job_delivery *d = pr->d;
    apr_uint32_t left = apr_atomic_read32(&d->pending), now_left;
    /* The timeout runs from the last acknowledgement. */
    while ((now_left = apr_atomic_read32(&d->pending)) > 1 && apr_time_now() < pr->deadline) {
        if (now_left < left) pr->deadline = apr_time_now() + apr_time_from_msec(c->produce_timeout_ms);
        left = now_left;
        rd_kafka_poll(producer, 50);
    }
    if (apr_atomic_read32(&d->pending) > 1) {
        *reason = apr_psprintf(pr->p, "Kafka acknowledged no tile for %d ms", c->produce_timeout_ms);
        return -1;
    }
    if (apr_atomic_read32(&d->failed)) {
        *reason = apr_psprintf(pr->p, "a tile was not delivered to Kafka: %s", d->error);
        return -1;
    }
    out->nparts = pr->nparts;
    out->last = apr_pmemdup(pr->p, d->last, (size_t)pr->nparts * sizeof(d->last[0]));
    return OK;
}

int tiler_production_end(tiler_production *pr, int abandon, tiler_delivered *out, const char **reason)
{
    int rc = -1, fatal;
    char why[256];
    if (!abandon) rc = wait_acks(pr, out, reason);
    /* Reports still to come find the accounting alive; the last frees it. */
    apr_atomic_set32(&pr->d->abandoned, 1);
    release(pr->d);
    fatal = producer && rd_kafka_fatal_error(producer, why, sizeof(why)) != RD_KAFKA_RESP_ERR_NO_ERROR;
    apr_thread_rwlock_unlock(swap_lock);
    if (fatal) replace_if_fatal(pr->s);
    return rc;
}

/* Tiles of `which` (sorted), produced as the rows of their sources decode. */
typedef struct {
    tiler_production *pr;
    const tiler_grid *g;
    const uint32_t *which;
    int n;
    const char *reason;
} resending;

static int by_index(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int on_tile_row(void *ctx, const tiler_band *b, uint32_t tile_row, char *err, size_t errlen)
{
    resending *x = ctx;
    uint32_t col, idx;
    /* A row of the upload's cells is a row of result tiles, or a column
     * of them after a rotation: look each one up. */
    for (col = 0; col < x->g->src_cols; col++) {
        idx = tiler_grid_at_source(x->g, col, tile_row);
        if (!bsearch(&idx, x->which, (size_t)x->n, sizeof(uint32_t), by_index)) continue;
        if (tiler_production_add(x->pr, b, x->g, idx, &x->reason) < 0) {
            apr_cpystrn(err, x->reason, errlen);
            return 1;
        }
    }
    return 0;
}

int tiler_tiff_for_workers(server_rec *s, const char *input, const tiler_grid *g, tiler_tiff_tiles **tt, FILE **fp,
                           char *why, size_t whylen)
{
    FILE *f = fopen(input, "rb");
    int rc = f ? tiler_tiff_tiles_open(f, tt, why, whylen) : 0;
    /* A directory libtiff cannot read is left to the decoder, which says
     * what is wrong with it; a tile past the file's end is named here. */
    if (rc == 1) rc = tiler_tiff_tiles_fit(*tt, g, why, whylen);
    else if (rc < 0) rc = 0;
    if (rc == 1) {
        *fp = f;
        return 1;
    }
    tiler_tiff_tiles_close(*tt);
    *tt = NULL;
    if (f) fclose(f);
    if (rc < 0) return -1;
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, APLOGNO(30412) "a tiled TIFF is decoded here, not by the workers: %s",
                 f ? why : "its file cannot be opened");
    return 0;
}

int tiler_produce_tiles(server_rec *s, apr_pool_t *p, const char *input, tiler_format fmt, const tiler_grid *g,
                        const unsigned char id[16], const char *ops, const tiler_tile_enc *enc,
                        const apr_array_header_t *which, tiler_delivered *out, const char **reason)
{
    resending x;
    tiler_band b;
    tiler_tiff_tiles *tt = NULL;
    FILE *f = NULL;
    char err[512];
    uint32_t *sorted;
    int rc = 0;
    memset(&x, 0, sizeof(x));
    if (!(x.pr = tiler_production_begin(s, p, id, ops, reason))) return -1;
    tiler_production_encode(x.pr, enc);
    x.g = g;
    x.n = which->nelts;
    sorted = apr_pmemdup(p, which->elts, (apr_size_t)which->nelts * sizeof(uint32_t));
    qsort(sorted, (size_t)x.n, sizeof(uint32_t), by_index);
    x.which = sorted;
    if (fmt == TILER_FMT_TIFF && (rc = tiler_tiff_for_workers(s, input, g, &tt, &f, err, sizeof(err))) == 1) {
        /* Cut from the tile directory, as the job's first tasks were. */
        int i;
        for (rc = 0, i = 0; i < x.n && rc == 0; i++) {
            size_t len;
            unsigned char *msg = tiler_tiff_tiles_task(tt, g, sorted[i], id, ops, &len, err, sizeof(err));
            rc = msg && tiler_production_send(x.pr, sorted[i], msg, len, &x.reason) == 0 ? 0 : -1;
        }
        tiler_tiff_tiles_close(tt);
        fclose(f);
        if (rc == 0) {
            char hex[TILER_ID_HEX_LEN + 1];
            tiler_id_to_hex(id, hex);
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, APLOGNO(30413) "job %s: %d tiles cut again from the TIFF's tile "
                         "directory, for the workers to decode", hex, x.n);
        }
    } else if (rc == 0) {
        tiler_band_init_grid(&b, g, on_tile_row, &x);
        rc = tiler_image_stream(input, fmt, &b, err, sizeof(err));
        tiler_band_free(&b);
        if (rc == 0 && (b.width != g->src_w || b.height != g->src_h)) {
            rc = -1;
            apr_cpystrn(err, "the upload's decoded size differs from the job's", sizeof(err));
        }
    }
    if (rc < 0) {
        *reason = x.reason ? x.reason : apr_pstrdup(p, err);
        return tiler_production_end(x.pr, 1, out, reason);
    }
    return tiler_production_end(x.pr, 0, out, reason);
}

int tiler_producer_ready(int timeout_ms, char *why, size_t whylen)
{
    const struct rd_kafka_metadata *md;
    rd_kafka_resp_err_t err;
    int ok;
    if (!swap_lock) { snprintf(why, whylen, "this child has no Kafka producer"); return 0; }
    apr_thread_rwlock_rdlock(swap_lock);
    /* Brokers only (no topic list): one small request to a broker it is
     * connected to, or none reachable within the timeout. */
    err = producer ? rd_kafka_metadata(producer, 0, NULL, &md, timeout_ms) : RD_KAFKA_RESP_ERR__STATE;
    apr_thread_rwlock_unlock(swap_lock);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(why, whylen, "no Kafka broker answers: %s", rd_kafka_err2str(err));
        return 0;
    }
    ok = md->broker_cnt > 0;
    if (!ok) snprintf(why, whylen, "Kafka knows no brokers");
    rd_kafka_metadata_destroy(md);
    return ok;
}
