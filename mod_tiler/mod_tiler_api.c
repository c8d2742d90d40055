#include "mod_tiler_api.h"

#include <string.h>
#include <apr_file_info.h>
#include <apr_strings.h>
#include <http_protocol.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>
#include "mod_tiler_events.h"
#include "mod_tiler_health.h"
#include "mod_tiler_metrics.h"
#include "mod_tiler_jobs.h"
#include "mod_tiler_pages.h"
#include "mod_tiler_respond.h"
#include "mod_tiler_result.h"
#include "mod_tiler_zoom.h"
#include "tiler_json.h"
#include "tiler_store.h"

#define LIST_LIMIT 200

/* The tasks backlog the monitor last measured, or -1 when unknown. Read
 * again only when the snapshot file changed (per thread). */
apr_int64_t tiler_cluster_backlog(request_rec *r)
{
    static _Thread_local apr_time_t seen_mtime;
    static _Thread_local apr_int64_t seen_backlog = -1;
    tiler_srv_conf *c = tiler_srv(r->server);
    const char *why, *snap;
    const char *path[] = { "cluster", "backlog", NULL };
    apr_finfo_t fi;
    apr_time_t mtime;
    yajl_val root, v;
    apr_int64_t backlog = -1;
    if (!c->monitor_snapshot || apr_stat(&fi, c->monitor_snapshot, APR_FINFO_MTIME, r->pool) != APR_SUCCESS) return -1;
    if (fi.mtime == seen_mtime && apr_time_now() - fi.mtime < apr_time_from_sec(30)) return seen_backlog;
    if (!(snap = tiler_read_snapshot(r, &mtime, &why)) || !(root = yajl_tree_parse(snap, NULL, 0))) return -1;
    if ((v = yajl_tree_get(root, path, yajl_t_number)) && YAJL_IS_INTEGER(v)) backlog = YAJL_GET_INTEGER(v);
    yajl_tree_free(root);
    seen_mtime = mtime;
    seen_backlog = backlog;
    return backlog;
}

/* Stuck: queued or running, no tile counted for TilerStuckSeconds, while
 * the workers have a backlog (so it is not just waiting its turn idle). */
void tiler_mark_stuck(request_rec *r, tiler_job *j, apr_int64_t backlog)
{
    tiler_srv_conf *c = tiler_srv(r->server);
    j->stuck = backlog > 0 && (!strcmp(j->state, "queued") || !strcmp(j->state, "running"))
               && apr_time_now() - j->updated > apr_time_from_sec(c->stuck_seconds);
}

static int list_jobs(request_rec *r, const char *base)
{
    tiler_store *store = tiler_request_store(r);
    apr_array_header_t *jobs;
    apr_int64_t backlog;
    yajl_gen g;
    int i;
    if (!store || tiler_store_list_jobs(store, LIST_LIMIT, &jobs, r->pool) < 0)
        return tiler_send_error(r, HTTP_SERVICE_UNAVAILABLE, "store_unavailable", "the job store cannot be read");
    backlog = tiler_cluster_backlog(r);
    g = yajl_gen_alloc(NULL);
    yajl_gen_map_open(g);
    tiler_json_str(g, "jobs");
    yajl_gen_array_open(g);
    for (i = 0; i < jobs->nelts; i++) {
        tiler_mark_stuck(r, &APR_ARRAY_IDX(jobs, i, tiler_job), backlog);
        tiler_zoom_mark(r, &APR_ARRAY_IDX(jobs, i, tiler_job));
        tiler_json_job(g, &APR_ARRAY_IDX(jobs, i, tiler_job), base);
    }
    yajl_gen_array_close(g);
    yajl_gen_map_close(g);
    return tiler_send_json(r, HTTP_OK, g);
}

static int job_status(request_rec *r, const char *base, const char *id)
{
    tiler_job job;
    int sent;
    yajl_gen g;
    if (tiler_find_job(r, id, &job, &sent) < 0) return sent;
    tiler_mark_stuck(r, &job, tiler_cluster_backlog(r));
    tiler_zoom_mark(r, &job);
    g = yajl_gen_alloc(NULL);
    tiler_json_job(g, &job, base);
    return tiler_send_json(r, HTTP_OK, g);
}

/* The monitor's snapshot, as it wrote it. NULL with *why when missing or stale. */
const char *tiler_read_snapshot(request_rec *r, apr_time_t *mtime, const char **why)
{
    tiler_srv_conf *c = tiler_srv(r->server);
    apr_file_t *f;
    apr_finfo_t fi;
    apr_size_t n;
    char *buf;
    if (!c->monitor_snapshot) { *why = "TilerMonitorSnapshot is not configured"; return NULL; }
    if (apr_file_open(&f, c->monitor_snapshot, APR_FOPEN_READ, 0, r->pool) != APR_SUCCESS
        || apr_file_info_get(&fi, APR_FINFO_SIZE | APR_FINFO_MTIME, f) != APR_SUCCESS || fi.size > 4 * 1024 * 1024) {
        *why = "tiler-monitor has written no snapshot";
        return NULL;
    }
    if (apr_time_now() - fi.mtime > apr_time_from_sec(30)) {
        *why = apr_psprintf(r->pool, "tiler-monitor's snapshot is %" APR_TIME_T_FMT " s old; is it running?",
                            apr_time_sec(apr_time_now() - fi.mtime));
        return NULL;
    }
    n = (apr_size_t)fi.size;
    buf = apr_palloc(r->pool, n + 1);
    if (apr_file_read_full(f, buf, n, &n) != APR_SUCCESS) { *why = "the monitor snapshot cannot be read"; return NULL; }
    buf[n] = '\0';
    if (mtime) *mtime = fi.mtime;
    return buf;
}

/* GET {loc}/api/cluster: backlog, partitions and their owners, totals. */
static int cluster(request_rec *r)
{
    const char *why, *snap = tiler_read_snapshot(r, NULL, &why);
    const char *p_cluster[] = { "cluster", NULL }, *p_totals[] = { "totals", NULL };
    yajl_val root, cl, v;
    yajl_gen g;
    size_t i;
    if (!snap)
        return tiler_send_error(r, HTTP_SERVICE_UNAVAILABLE, strstr(why, "old") ? "monitor_stale" : "monitor_unavailable", why);
    if (!(root = yajl_tree_parse(snap, NULL, 0)) || !(cl = yajl_tree_get(root, p_cluster, yajl_t_object))) {
        if (root) yajl_tree_free(root);
        return tiler_send_error(r, HTTP_SERVICE_UNAVAILABLE, "monitor_unavailable", "the monitor snapshot has no cluster section");
    }
    g = yajl_gen_alloc(NULL);
    yajl_gen_map_open(g);
    for (i = 0; i < cl->u.object.len; i++) {
        tiler_json_str(g, cl->u.object.keys[i]);
        tiler_json_value(g, cl->u.object.values[i]);
    }
    tiler_json_str(g, "totals");
    v = yajl_tree_get(root, p_totals, yajl_t_object);
    tiler_json_value(g, v);
    yajl_gen_map_close(g);
    yajl_tree_free(root);
    return tiler_send_json(r, HTTP_OK, g);
}

static int workers(request_rec *r)
{
    const char *why, *snap = tiler_read_snapshot(r, NULL, &why);
    if (!snap)
        return tiler_send_error(r, HTTP_SERVICE_UNAVAILABLE, strstr(why, "old") ? "monitor_stale" : "monitor_unavailable", why);
    ap_set_content_type(r, "application/json");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    ap_set_content_length(r, (apr_off_t)strlen(snap));
    if (!r->header_only) ap_rputs(snap, r);
    return OK;
}

static int api(request_rec *r, const char *base, const char *rest)
{
    if (!strcmp(rest, "/api/jobs")) {
        if (r->method_number == M_POST) return tiler_create_job(r, base);
        if (r->method_number == M_GET) return list_jobs(r, base);
        return tiler_method_not_allowed(r, "GET, HEAD, POST");
    }
    if (!strcmp(rest, "/api/health")) {
        if (r->method_number != M_GET) return tiler_method_not_allowed(r, "GET, HEAD");
        return tiler_health(r);
    }
    if (!strcmp(rest, "/api/workers") || !strcmp(rest, "/api/events") || !strcmp(rest, "/api/cluster")) {
        if (r->method_number != M_GET) return tiler_method_not_allowed(r, "GET, HEAD");
        return rest[5] == 'w' ? workers(r) : rest[5] == 'c' ? cluster(r) : tiler_event_stream(r, base);
    }
    if (!strncmp(rest, "/api/jobs/", 10)) {
        const char *id = rest + 10, *slash = strchr(id, '/');
        if (!slash) {
            if (r->method_number == M_GET) return job_status(r, base, id);
            if (r->method_number == M_DELETE) return tiler_delete_job(r, id);
            return tiler_method_not_allowed(r, "GET, HEAD, DELETE");
        }
        {
            tiler_zoom_tile t;
            tiler_zoom_kind k = tiler_zoom_url_parse(slash, &t);
            if (k != TILER_ZOOM_NONE) return tiler_zoom_serve(r, apr_pstrndup(r->pool, id, (apr_size_t)(slash - id)), k, &t);
        }
        if (!strcmp(slash, "/result")) {
            if (r->method_number == M_GET) return tiler_job_result(r, apr_pstrndup(r->pool, id, (apr_size_t)(slash - id)));
            return tiler_method_not_allowed(r, "GET, HEAD");
        }
    }
    return tiler_send_error(r, HTTP_NOT_FOUND, "not_found", "no such endpoint");
}

/* Where the path's route starts: the last occurrence of needle. */
static const char *last(const char *s, const char *needle)
{
    const char *found = NULL, *p;
    for (p = s; (p = strstr(p, needle)); p++) found = p;
    return found;
}

int tiler_api_handler(request_rec *r)
{
    const char *uri = r->uri, *p;
    size_t n = strlen(uri);

    if (!r->handler || strcmp(r->handler, "tiler")) return DECLINED;
    /* A <Location> holding only SetHandler gets no per-directory config of
     * ours to say where it is mounted, so each route is recognised by its
     * shape and whatever stands before it is the Location. */
    if ((p = last(uri, "/api/")))
        return api(r, apr_pstrndup(r->pool, uri, (apr_size_t)(p - uri)), p);
    if ((p = last(uri, "/jobs/")) && !strchr(p + 6, '/'))
        return tiler_job_page(r, apr_pstrndup(r->pool, uri, (apr_size_t)(p - uri)), p + 6);
    if ((p = last(uri, "/static/")) && !strchr(p + 8, '/'))
        return tiler_static_file(r, p + 8);
    if (n >= 8 && !strcmp(uri + n - 8, "/metrics")) {
        if (r->method_number != M_GET) return tiler_method_not_allowed(r, "GET, HEAD");
        return tiler_metrics_page(r);
    }
    if (n >= 15 && !strcmp(uri + n - 15, "/dashboard.html"))
        return tiler_static_file(r, "dashboard.html");
    if (n && uri[n - 1] == '/')
        return tiler_static_file(r, "index.html");
    /* The bare Location: its pages use relative links, so add the slash. */
    /* r->uri is decoded: escape it again, or a control character in the
     * request would make httpd refuse our own Location header. */
    apr_table_setn(r->headers_out, "Location", apr_pstrcat(r->pool, ap_os_escape_path(r->pool, uri, 1), "/", NULL));
    return HTTP_MOVED_PERMANENTLY;
}
