#include "mod_tiler_respond.h"

#include <string.h>
#include <apr_strings.h>
#include <http_protocol.h>
#include "tiler_id.h"
#include "tiler_json.h"

int tiler_send_json(request_rec *r, int status, yajl_gen g)
{
    const unsigned char *buf;
    size_t len;
    yajl_gen_get_buf(g, &buf, &len);
    r->status = status;
    ap_set_content_type(r, "application/json");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    ap_set_content_length(r, (apr_off_t)len + 1);
    if (!r->header_only) {
        ap_rwrite(buf, (int)len, r);
        ap_rputs("\n", r);
    }
    yajl_gen_free(g);
    return OK;
}

int tiler_send_error(request_rec *r, int status, const char *code, const char *msg)
{
    yajl_gen g = yajl_gen_alloc(NULL);
    yajl_gen_map_open(g);
    tiler_json_kv_str(g, "error", code);
    tiler_json_kv_str(g, "message", msg);
    yajl_gen_map_close(g);
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, APLOGNO(30401) "%d %s: %s", status, code, msg);
    return tiler_send_json(r, status, g);
}

int tiler_method_not_allowed(request_rec *r, const char *allow)
{
    apr_table_setn(r->headers_out, "Allow", allow);
    return tiler_send_error(r, HTTP_METHOD_NOT_ALLOWED, "method_not_allowed",
                            apr_psprintf(r->pool, "%s is not allowed here; allowed: %s", r->method, allow));
}

/* One store connection per httpd thread, opened on first use and kept: an
 * SQLite connection must stay with one thread, and opening one (pragmas,
 * schema check, prepared statements) costs more than the query it serves. */
static _Thread_local tiler_store *thread_store;
static _Thread_local const char *thread_store_path;

tiler_store *tiler_request_store(request_rec *r)
{
    const char *err, *path = tiler_store_path(r->pool, tiler_srv(r->server));
    apr_pool_t *p;
    if (thread_store && !strcmp(thread_store_path, path)) return thread_store;
    /* Its own pool: it lives as long as the thread, not the request. */
    if (apr_pool_create_unmanaged_ex(&p, NULL, NULL) != APR_SUCCESS) return NULL;
    if (tiler_store_open(&thread_store, path, p, &err) < 0) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(30402) "%s", err);
        apr_pool_destroy(p);
        thread_store = NULL;
        return NULL;
    }
    thread_store_path = apr_pstrdup(p, path);
    return thread_store;
}

int tiler_find_job(request_rec *r, const char *id, tiler_job *job, int *sent)
{
    tiler_store *store;
    unsigned char raw[16];
    int rc;
    *sent = 0;
    if (tiler_id_parse(id, strlen(id), raw) < 0) {
        *sent = tiler_send_error(r, HTTP_NOT_FOUND, "not_found", "no such job (ids are 32 lowercase hex digits)");
        return -1;
    }
    if (!(store = tiler_request_store(r))) {
        *sent = tiler_send_error(r, HTTP_SERVICE_UNAVAILABLE, "store_unavailable", "the job store cannot be read");
        return -1;
    }
    rc = tiler_store_get_job(store, id, job, r->pool);
    if (rc == 0) return 0;
    *sent = rc > 0 ? tiler_send_error(r, HTTP_NOT_FOUND, "not_found", "no such job")
                   : tiler_send_error(r, HTTP_SERVICE_UNAVAILABLE, "store_unavailable", "the job store cannot be read");
    return -1;
}
