#include "mod_tiler_events.h"

#include <string.h>
#include <apr_atomic.h>
#include <apr_hash.h>
#include <apr_strings.h>
#include <ap_mpm.h>
#include <http_protocol.h>
#include <yajl/yajl_gen.h>
#include "mod_tiler_api.h"
#include "mod_tiler_respond.h"
#include "mod_tiler_zoom.h"
#include "tiler_id.h"
#include "tiler_json.h"
#include "tiler_store.h"

#define TICK apr_time_from_msec(500)
#define KEEPALIVE apr_time_from_sec(15)
#define JOBS_WATCHED 50

static volatile apr_uint32_t open_streams;   /* in this child */

static apr_status_t stream_closed(void *data)
{
    (void)data;
    apr_atomic_dec32(&open_streams);
    return APR_SUCCESS;
}

static void send_event(request_rec *r, const char *name, const char *data, size_t len)
{
    ap_rprintf(r, "event: %s\ndata: ", name);
    ap_rwrite(data, (int)len, r);
    ap_rputs("\n\n", r);
}

/* Sends the job when its state or progress differs from what was last sent. */
static void job_event(request_rec *r, apr_hash_t *seen, const tiler_job *j, const char *base)
{
    const char *mark = apr_psprintf(r->pool, "%s:%u:%d", j->state, j->tiles_done, j->stuck), *was = apr_hash_get(seen, j->id, APR_HASH_KEY_STRING);
    const unsigned char *buf;
    size_t len;
    yajl_gen g;
    if (was && !strcmp(was, mark)) return;
    apr_hash_set(seen, apr_pstrdup(r->pool, j->id), APR_HASH_KEY_STRING, mark);
    g = yajl_gen_alloc(NULL);
    tiler_json_job(g, j, base);
    yajl_gen_get_buf(g, &buf, &len);
    send_event(r, "job", (const char *)buf, len);
    yajl_gen_free(g);
}

/* A stream must not hold a child back from a stop or graceful restart. */
static int stopping(void)
{
    int state = AP_MPMQ_RUNNING;
    ap_mpm_query(AP_MPMQ_MPM_STATE, &state);
    return state == AP_MPMQ_STOPPING;
}

int tiler_event_stream(request_rec *r, const char *base)
{
    tiler_srv_conf *c = tiler_srv(r->server);
    tiler_store *store;
    apr_hash_t *seen = apr_hash_make(r->pool);
    const char *only = NULL;
    apr_time_t until = apr_time_now() + apr_time_from_sec(c->event_stream_seconds), last_write = 0, snap_mtime = 0;
    apr_pool_t *p;
    unsigned char raw[16];

    if (r->args) {
        if (strncmp(r->args, "job=", 4) || tiler_id_parse(r->args + 4, strlen(r->args + 4), raw) < 0)
            return tiler_send_error(r, HTTP_BAD_REQUEST, "bad_query", "the only parameter here is job=ID");
        only = r->args + 4;
    }
    if (apr_atomic_inc32(&open_streams) >= (apr_uint32_t)c->max_event_streams) {
        apr_atomic_dec32(&open_streams);
        apr_table_setn(r->headers_out, "Retry-After", "5");
        return tiler_send_error(r, HTTP_SERVICE_UNAVAILABLE, "too_many_streams",
                                "this server has all its event streams open; poll the JSON endpoints instead");
    }
    apr_pool_cleanup_register(r->pool, NULL, stream_closed, apr_pool_cleanup_null);
    if (!(store = tiler_request_store(r)))
        return tiler_send_error(r, HTTP_SERVICE_UNAVAILABLE, "store_unavailable", "the job store cannot be read");
    if (only) {
        /* A stream for a job that is not there would stay silent until it
         * times out: say so now. */
        tiler_job job;
        int rc = tiler_store_get_job(store, only, &job, r->pool);
        if (rc != 0)
            return rc > 0 ? tiler_send_error(r, HTTP_NOT_FOUND, "not_found", "no such job")
                          : tiler_send_error(r, HTTP_SERVICE_UNAVAILABLE, "store_unavailable", "the job store cannot be read");
    }

    ap_set_content_type(r, "text/event-stream");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->headers_out, "X-Accel-Buffering", "no");
    if (r->header_only) return OK;
    ap_rputs("retry: 2000\n\n", r);
    apr_pool_create(&p, r->pool);
    while (!r->connection->aborted && apr_time_now() < until && !stopping()) {
        apr_int64_t backlog = tiler_cluster_backlog(r);
        tiler_job job;
        apr_time_t mtime;
        const char *why, *snap;
        if (only) {
            if (tiler_store_get_job(store, only, &job, p) == 0) {
                tiler_mark_stuck(r, &job, backlog);
                tiler_zoom_mark(r, &job);
                job_event(r, seen, &job, base);
            }
        } else {
            apr_array_header_t *jobs;
            int i;
            if (tiler_store_list_jobs(store, JOBS_WATCHED, &jobs, p) == 0)
                for (i = jobs->nelts - 1; i >= 0; i--) {
                    tiler_mark_stuck(r, &APR_ARRAY_IDX(jobs, i, tiler_job), backlog);
                    tiler_zoom_mark(r, &APR_ARRAY_IDX(jobs, i, tiler_job));
                    job_event(r, seen, &APR_ARRAY_IDX(jobs, i, tiler_job), base);
                }
            if ((snap = tiler_read_snapshot(r, &mtime, &why)) && mtime != snap_mtime) {
                snap_mtime = mtime;
                send_event(r, "workers", snap, strlen(snap));
            }
        }
        if (apr_time_now() - last_write > KEEPALIVE) {
            ap_rputs(": keepalive\n\n", r);
            last_write = apr_time_now();
        }
        if (ap_rflush(r) < 0) break;
        apr_pool_clear(p);
        apr_sleep(TICK);
    }
    apr_pool_destroy(p);
    return OK;
}
