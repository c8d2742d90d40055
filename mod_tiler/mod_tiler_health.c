#include "mod_tiler_health.h"

#include <unistd.h>
#include <apr_strings.h>
#include <yajl/yajl_gen.h>
#include "mod_tiler_producer.h"
#include "mod_tiler_respond.h"
#include "tiler_disk.h"
#include "tiler_json.h"
#include "tiler_metrics.h"

/* A broker that does not answer a metadata request in this long counts as
 * unreachable, and a store whose write lock is held this long as not
 * writable: the check must answer soon, and stay cheap enough to poll every
 * second. A broker that answered is not asked again for a second (per
 * child). */
#define KAFKA_PROBE_MS 1000
#define STORE_PROBE_MS 250
#define KAFKA_OK_FOR apr_time_from_sec(1)

static apr_time_t kafka_ok_at;   /* a benign race: worst case one more probe */

typedef struct {
    const char *name;
    int ok;
    const char *why;       /* when not ok */
} check;

static void store_checks(request_rec *r, check *store, check *consumer)
{
    tiler_store *st = tiler_request_store(r);
    apr_hash_t *rows;
    const int64_t *seen;
    if (!st || tiler_metrics_probe_write(st, STORE_PROBE_MS) < 0) {
        store->why = st ? apr_psprintf(r->pool, "the job store cannot be written: %s", tiler_store_error(st))
                        : "the job store cannot be opened";
        consumer->why = "unknown: the job store cannot be read";
        return;
    }
    store->ok = 1;
    if (tiler_metrics_read(st, &rows, r->pool) < 0) {
        consumer->why = "unknown: the job store cannot be read";
        return;
    }
    seen = apr_hash_get(rows, TILER_M_RC_SEEN, APR_HASH_KEY_STRING);
    if (!seen) consumer->why = "no results consumer has run yet";
    else if (apr_time_now() - *seen > TILER_RC_STALE_US)
        consumer->why = apr_psprintf(r->pool, "the results consumer was last seen %" APR_TIME_T_FMT " s ago",
                                     apr_time_sec(apr_time_now() - *seen));
    else consumer->ok = 1;
}

/* Room for at least one upload of the largest size allowed. */
static void spool_check(request_rec *r, check *spool)
{
    tiler_srv_conf *c = tiler_srv(r->server);
    uint64_t avail;
    char err[512];
    if (access(c->spool_dir, W_OK) < 0) {
        spool->why = apr_psprintf(r->pool, "the spool %s cannot be written", c->spool_dir);
    } else if (tiler_disk_free(c->spool_dir, &avail, err, sizeof(err)) < 0) {
        spool->why = apr_pstrdup(r->pool, err);
    } else if (avail < (uint64_t)c->max_upload_bytes) {
        spool->why = apr_psprintf(r->pool, "the spool has %" APR_UINT64_T_FMT " bytes free, less than TilerMaxUploadBytes (%"
                                  APR_OFF_T_FMT ")", avail, c->max_upload_bytes);
    } else {
        spool->ok = 1;
    }
}

int tiler_health(request_rec *r)
{
    check checks[4] = { { "store", 0, NULL }, { "spool", 0, NULL }, { "kafka", 0, NULL }, { "results_consumer", 0, NULL } };
    const check *failed = NULL;
    char why[512];
    yajl_gen g;
    int i;

    store_checks(r, &checks[0], &checks[3]);
    spool_check(r, &checks[1]);
    if (apr_time_now() - kafka_ok_at < KAFKA_OK_FOR) checks[2].ok = 1;
    else if ((checks[2].ok = tiler_producer_ready(KAFKA_PROBE_MS, why, sizeof(why)))) kafka_ok_at = apr_time_now();
    else checks[2].why = apr_pstrdup(r->pool, why);
    for (i = 0; i < 4 && !failed; i++)
        if (!checks[i].ok) failed = &checks[i];

    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    g = yajl_gen_alloc(NULL);
    yajl_gen_map_open(g);
    if (failed) {
        tiler_json_kv_str(g, "error", "unhealthy");
        tiler_json_kv_str(g, "message", apr_psprintf(r->pool, "%s: %s", failed->name, failed->why));
    } else {
        tiler_json_kv_str(g, "status", "ok");
    }
    tiler_json_str(g, "checks");
    yajl_gen_map_open(g);
    for (i = 0; i < 4; i++) {
        tiler_json_str(g, checks[i].name);
        yajl_gen_map_open(g);
        tiler_json_str(g, "ok");
        yajl_gen_bool(g, checks[i].ok);
        if (!checks[i].ok) tiler_json_kv_str(g, "error", checks[i].why);
        yajl_gen_map_close(g);
    }
    yajl_gen_map_close(g);
    yajl_gen_map_close(g);
    if (failed)
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, APLOGNO(30411) "health: %s: %s", failed->name, failed->why);
    return tiler_send_json(r, failed ? HTTP_SERVICE_UNAVAILABLE : HTTP_OK, g);
}
