#include "mod_tiler_metrics.h"

#include <string.h>
#include <http_protocol.h>
#include "mod_tiler_api.h"
#include "mod_tiler_respond.h"
#include "tiler_metrics.h"
#include "tiler_prom.h"

int tiler_metrics_page(request_rec *r)
{
    tiler_store *store = tiler_request_store(r);
    tiler_prom *w = tiler_prom_new(r->pool);
    apr_hash_t *rows;
    int64_t states[4];
    const char *why, *text;
    size_t len;

    if (!store || tiler_metrics_read(store, &rows, r->pool) < 0 || tiler_metrics_job_states(store, states) < 0)
        return tiler_send_error(r, HTTP_SERVICE_UNAVAILABLE, "store_unavailable", "the job store cannot be read");
    tiler_prom_store(w, rows, states, apr_time_now());
    tiler_prom_snapshot(w, tiler_read_snapshot(r, NULL, &why));
    text = tiler_prom_text(w, &len);
    ap_set_content_type(r, "text/plain; version=0.0.4; charset=utf-8");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    ap_set_content_length(r, (apr_off_t)len);
    if (!r->header_only) ap_rwrite(text, (int)len, r);
    return OK;
}

int tiler_metrics_log_transaction(request_rec *r)
{
    tiler_store *store;
    size_t n;
    /* Every request of the server is logged through here, also those httpd
     * refused before it had a URI (a request line too long or malformed,
     * a timeout): look at nothing else before the handler and the URI. */
    if (!r->handler || strcmp(r->handler, "tiler") || !r->uri) return DECLINED;
    n = strlen(r->uri);
    if (r->method_number != M_GET || r->bytes_sent <= 0 || (r->status != HTTP_OK && r->status != HTTP_PARTIAL_CONTENT)
        || n < 7 || strcmp(r->uri + n - 7, "/result"))
        return DECLINED;
    if ((store = tiler_request_store(r)) && tiler_metrics_add(store, TILER_M_SERVED_BYTES, r->bytes_sent) < 0)
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, APLOGNO(30410) "bytes served not counted: %s",
                      tiler_store_error(store));
    return DECLINED;
}
