#include "mod_tiler_upload.h"

#include <strings.h>
#include <apr_file_io.h>
#include <apr_strings.h>
#include <http_protocol.h>
#include "tiler_form.h"
#include "tiler_multipart.h"

#define FORM_MAX_PARTS 16
#define FORM_MAX_HEADER_BYTES 8192
#define FORM_MAX_FIELD_BYTES 4096
/* Room for the form around the image. */
#define FORM_OVERHEAD_BYTES 65536

static int too_large(request_rec *r, apr_off_t max, const char **code, const char **msg)
{
    r->connection->keepalive = AP_CONN_CLOSE;   /* and do not read the rest */
    *code = "too_large";
    *msg = apr_psprintf(r->pool, "upload is over TilerMaxUploadBytes (%" APR_OFF_T_FMT " bytes)", max);
    return HTTP_REQUEST_ENTITY_TOO_LARGE;
}

/* The form's verdict as the HTTP answer; OK when it is complete. */
static int form_answer(request_rec *r, tiler_form *form, tiler_form_status st, const char *path, apr_off_t max,
                       const char **code, const char **msg)
{
    switch (st) {
    case TILER_FORM_OK:
        return OK;
    case TILER_FORM_TOO_LARGE:
        return too_large(r, max, code, msg);
    case TILER_FORM_NO_IMAGE:
        *code = "missing_image";
        break;
    case TILER_FORM_IO:
        ap_log_rerror(APLOG_MARK, APLOG_ERR, APR_FROM_OS_ERROR(tiler_form_errno(form)), r,
                      APLOGNO(30420) "cannot write spool file %s", path);
        *code = "spool_error";
        *msg = apr_pstrdup(r->pool, tiler_form_error(form));
        return HTTP_INSUFFICIENT_STORAGE;
    case TILER_FORM_BAD:
        *code = "bad_multipart";
        break;
    }
    *msg = apr_pstrdup(r->pool, tiler_form_error(form));
    return HTTP_BAD_REQUEST;
}

int tiler_receive_upload(request_rec *r, const char *path, apr_off_t max, tiler_upload *up,
                         const char **code, const char **msg)
{
    const char *ctype = apr_table_get(r->headers_in, "Content-Type");
    const char *cl = apr_table_get(r->headers_in, "Content-Length");
    char boundary[TILER_MP_MAX_BOUNDARY + 1], *buf;
    tiler_form *form = NULL;
    apr_file_t *raw = NULL;
    apr_status_t rv;
    apr_off_t total = 0;
    long n;
    int rc = OK;

    memset(up, 0, sizeof(*up));
    if (ctype && !strncasecmp(ctype, "multipart/form-data", 19)) {
        /* The form's own bytes count against the limit too, with room for
         * the form around the image. */
        tiler_form_limits lim = { FORM_MAX_PARTS, FORM_MAX_HEADER_BYTES, FORM_MAX_FIELD_BYTES, (uint64_t)max,
                                  (uint64_t)max + FORM_OVERHEAD_BYTES };
        if (tiler_mp_boundary(ctype, boundary, sizeof(boundary)) < 0) {
            *code = "bad_multipart";
            *msg = "multipart/form-data without a valid boundary parameter";
            return HTTP_BAD_REQUEST;
        }
        if (!(form = tiler_form_new(boundary, path, &lim))) {
            *code = "out_of_memory";
            *msg = "the upload cannot be received";
            return HTTP_SERVICE_UNAVAILABLE;
        }
        up->from_form = 1;
    } else if (!ctype || strncasecmp(ctype, "image/", 6)) {
        *code = "unsupported_media_type";
        *msg = "send the image as the body with an image/* Content-Type (PNG, JPEG, GIF, BMP, WebP or TIFF), "
               "or a multipart/form-data form with an 'image' file";
        return HTTP_UNSUPPORTED_MEDIA_TYPE;
    }
    /* Refuse early when the client announces too much; the stream is still
     * counted below, since chunked bodies announce nothing. */
    if (cl) {
        char *end;
        apr_off_t announced;
        if (apr_strtoff(&announced, cl, &end, 10) == APR_SUCCESS && *end == '\0'
            && announced > max + (form ? FORM_OVERHEAD_BYTES : 0)) {
            tiler_form_free(form);
            return too_large(r, max, code, msg);
        }
    }
    if ((rc = ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK)) != OK) {
        tiler_form_free(form);
        *code = "bad_body";
        *msg = "the request body cannot be read";
        return rc == HTTP_REQUEST_ENTITY_TOO_LARGE ? rc : HTTP_BAD_REQUEST;
    }
    if (!form && (rv = apr_file_open(&raw, path, APR_FOPEN_WRITE | APR_FOPEN_CREATE | APR_FOPEN_TRUNCATE | APR_FOPEN_BINARY,
                                     APR_FPROT_UREAD | APR_FPROT_UWRITE, r->pool)) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, APLOGNO(30101) "cannot create spool file %s", path);
        *code = "spool_error";
        *msg = "the upload cannot be stored";
        return HTTP_INSUFFICIENT_STORAGE;
    }
    buf = apr_palloc(r->pool, 65536);
    rc = OK;
    if (ap_should_client_block(r)) {
        while ((n = ap_get_client_block(r, buf, 65536)) > 0) {
            total += n;
            if (form) {
                if ((rc = form_answer(r, form, tiler_form_feed(form, buf, (size_t)n), path, max, code, msg)) != OK) break;
            } else {
                if (total > max) { rc = too_large(r, max, code, msg); break; }
                if ((rv = apr_file_write_full(raw, buf, (apr_size_t)n, NULL)) != APR_SUCCESS) {
                    ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, APLOGNO(30102) "cannot write spool file %s", path);
                    *code = "spool_error";
                    *msg = "the upload cannot be stored (spool disk full?)";
                    rc = HTTP_INSUFFICIENT_STORAGE;
                    break;
                }
            }
        }
        if (rc == OK && n < 0) {
            *code = "bad_body";
            *msg = "the request body ended early or is malformed";
            rc = HTTP_BAD_REQUEST;
        }
        /* Refused midway (the spool full, the form bad or too large): the
         * rest of the body is not read, nor discarded by httpd after the
         * answer (up to LimitRequestBody); the connection ends with it. */
        if (rc != OK) r->connection->keepalive = AP_CONN_CLOSE;
    }
    if (raw && apr_file_close(raw) != APR_SUCCESS && rc == OK) {
        *code = "spool_error";
        *msg = "the upload cannot be stored (spool disk full?)";
        rc = HTTP_INSUFFICIENT_STORAGE;
    }
    if (!form) {
        up->size = total;
        return rc;
    }
    if (rc == OK) rc = form_answer(r, form, tiler_form_finish(form), path, max, code, msg);
    if (rc == OK) {
        const char *ops = tiler_form_ops(form), *format = tiler_form_format(form);
        const char *compression = tiler_form_compression(form);
        up->ops = ops ? apr_pstrdup(r->pool, ops) : NULL;
        up->format = format ? apr_pstrdup(r->pool, format) : NULL;
        up->compression = compression ? apr_pstrdup(r->pool, compression) : NULL;
        up->size = (apr_off_t)tiler_form_image_bytes(form);
    }
    tiler_form_free(form);
    return rc;
}
