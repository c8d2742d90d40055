#include "mod_tiler_upload.h"

#include <apr_file_io.h>
#include <apr_strings.h>
#include <http_protocol.h>

int tiler_upload_to_file(request_rec *r, const char *path, apr_off_t max, apr_off_t *size,
                         const char **code, const char **msg)
{
    apr_file_t *f;
    apr_status_t rv;
    char *buf;
    long n;
    const char *cl = apr_table_get(r->headers_in, "Content-Length");
    int rc;

    *size = 0;
    /* Refuse early when the client announces too much; the stream is still
     * counted below, since chunked bodies announce nothing. */
    if (cl) {
        char *end;
        apr_off_t announced;
        if (apr_strtoff(&announced, cl, &end, 10) == APR_SUCCESS && *end == '\0' && announced > max) {
            r->connection->keepalive = AP_CONN_CLOSE;
            *code = "too_large";
            *msg = apr_psprintf(r->pool, "upload of %" APR_OFF_T_FMT " bytes is over TilerMaxUploadBytes (%" APR_OFF_T_FMT ")",
                                announced, max);
            return HTTP_REQUEST_ENTITY_TOO_LARGE;
        }
    }
    if ((rc = ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK)) != OK) {
        *code = "bad_body";
        *msg = "the request body cannot be read";
        return rc == HTTP_REQUEST_ENTITY_TOO_LARGE ? rc : HTTP_BAD_REQUEST;
    }
    rv = apr_file_open(&f, path, APR_FOPEN_WRITE | APR_FOPEN_CREATE | APR_FOPEN_TRUNCATE | APR_FOPEN_BINARY,
                       APR_FPROT_UREAD | APR_FPROT_UWRITE, r->pool);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, APLOGNO(30101) "cannot create spool file %s", path);
        *code = "spool_error";
        *msg = "the upload cannot be stored";
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    buf = apr_palloc(r->pool, 65536);
    if (ap_should_client_block(r)) {
        while ((n = ap_get_client_block(r, buf, 65536)) > 0) {
            apr_size_t len = (apr_size_t)n;
            *size += n;
            if (*size > max) {
                apr_file_close(f);
                r->connection->keepalive = AP_CONN_CLOSE;
                *code = "too_large";
                *msg = apr_psprintf(r->pool, "upload is over TilerMaxUploadBytes (%" APR_OFF_T_FMT ")", max);
                return HTTP_REQUEST_ENTITY_TOO_LARGE;
            }
            if ((rv = apr_file_write_full(f, buf, len, NULL)) != APR_SUCCESS) {
                apr_file_close(f);
                ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, APLOGNO(30102) "cannot write spool file %s", path);
                *code = "spool_error";
                *msg = "the upload cannot be stored (spool disk full?)";
                return HTTP_INSUFFICIENT_STORAGE;
            }
        }
        if (n < 0) {
            apr_file_close(f);
            r->connection->keepalive = AP_CONN_CLOSE;
            *code = "bad_body";
            *msg = "the request body ended early or is malformed";
            return HTTP_BAD_REQUEST;
        }
    }
    if ((rv = apr_file_close(f)) != APR_SUCCESS) {
        *code = "spool_error";
        *msg = "the upload cannot be stored (spool disk full?)";
        return HTTP_INSUFFICIENT_STORAGE;
    }
    return OK;
}
