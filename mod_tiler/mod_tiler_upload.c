#include "mod_tiler_upload.h"

#include <strings.h>
#include <apr_file_io.h>
#include <apr_strings.h>
#include <http_protocol.h>
#include "tiler_multipart.h"

#define FORM_MAX_PARTS 16
#define FORM_MAX_HEADER_BYTES 8192
#define FORM_MAX_FIELD_BYTES 4096

typedef struct {
    request_rec *r;
    const char *path;
    apr_file_t *file;          /* open while the image part streams */
    int images;                /* image parts seen */
    enum { PART_SKIP, PART_IMAGE, PART_OPS, PART_FORMAT } part;
    char *field;
    apr_size_t field_len;
    tiler_upload *up;
    apr_status_t write_error;
} form_ctx;

static int form_begin(void *vctx, const char *name, const char *filename, const char *ctype)
{
    form_ctx *x = vctx;
    (void)ctype;
    x->part = PART_SKIP;
    x->field_len = 0;
    if (!strcmp(name, "image")) {
        /* Browsers send an empty file part when no file was chosen. */
        if (!filename) return 0;
        if (++x->images > 1) return -1;
        if (apr_file_open(&x->file, x->path, APR_FOPEN_WRITE | APR_FOPEN_CREATE | APR_FOPEN_TRUNCATE | APR_FOPEN_BINARY,
                          APR_FPROT_UREAD | APR_FPROT_UWRITE, x->r->pool) != APR_SUCCESS)
            return -1;
        x->part = PART_IMAGE;
    } else if (!strcmp(name, "ops")) {
        x->part = PART_OPS;
    } else if (!strcmp(name, "format")) {
        x->part = PART_FORMAT;
    }
    return 0;
}

static int form_data(void *vctx, const char *data, size_t len)
{
    form_ctx *x = vctx;
    switch (x->part) {
    case PART_IMAGE:
        x->up->size += (apr_off_t)len;
        if ((x->write_error = apr_file_write_full(x->file, data, len, NULL)) != APR_SUCCESS) return -1;
        return 0;
    case PART_OPS:
    case PART_FORMAT:
        /* The parser caps fields at FORM_MAX_FIELD_BYTES. */
        memcpy(x->field + x->field_len, data, len);
        x->field_len += len;
        return 0;
    default:
        return 0;
    }
}

static int form_end(void *vctx)
{
    form_ctx *x = vctx;
    if (x->part == PART_IMAGE) {
        apr_file_close(x->file);
        x->file = NULL;
    } else if (x->part == PART_OPS || x->part == PART_FORMAT) {
        const char *v = apr_pstrmemdup(x->r->pool, x->field, x->field_len);
        /* A field with a NUL cannot be taken at its word. */
        if (strlen(v) != x->field_len) return -1;
        if (x->part == PART_OPS) x->up->ops = v; else x->up->format = v;
    }
    x->part = PART_SKIP;
    return 0;
}

static int too_large(request_rec *r, apr_off_t max, const char **code, const char **msg)
{
    r->connection->keepalive = AP_CONN_CLOSE;   /* and do not read the rest */
    *code = "too_large";
    *msg = apr_psprintf(r->pool, "upload is over TilerMaxUploadBytes (%" APR_OFF_T_FMT " bytes)", max);
    return HTTP_REQUEST_ENTITY_TOO_LARGE;
}

int tiler_receive_upload(request_rec *r, const char *path, apr_off_t max, tiler_upload *up,
                         const char **code, const char **msg)
{
    const char *ctype = apr_table_get(r->headers_in, "Content-Type");
    const char *cl = apr_table_get(r->headers_in, "Content-Length");
    char boundary[TILER_MP_MAX_BOUNDARY + 1], *buf;
    tiler_multipart *mp = NULL;
    form_ctx form;
    apr_file_t *raw = NULL;
    apr_status_t rv;
    apr_off_t total = 0;
    long n;
    int rc = OK;

    memset(up, 0, sizeof(*up));
    memset(&form, 0, sizeof(form));
    if (ctype && !strncasecmp(ctype, "multipart/form-data", 19)) {
        static const tiler_mp_callbacks cbs = { form_begin, form_data, form_end };
        tiler_mp_limits lim = { FORM_MAX_PARTS, FORM_MAX_HEADER_BYTES, FORM_MAX_FIELD_BYTES, 0 };
        if (tiler_mp_boundary(ctype, boundary, sizeof(boundary)) < 0) {
            *code = "bad_multipart";
            *msg = "multipart/form-data without a valid boundary parameter";
            return HTTP_BAD_REQUEST;
        }
        /* The form's own bytes count against the limit too, with room for
         * the form around the image. */
        lim.max_total_bytes = (uint64_t)max + 65536;
        form.r = r;
        form.path = path;
        form.up = up;
        form.field = apr_palloc(r->pool, FORM_MAX_FIELD_BYTES + 1);
        up->from_form = 1;
        mp = tiler_mp_new(boundary, &lim, &cbs, &form);
    } else if (!ctype || strncasecmp(ctype, "image/", 6)) {
        *code = "unsupported_media_type";
        *msg = "send the image as the body with an image/* Content-Type (PNG, JPEG, GIF, BMP or WebP), "
               "or a multipart/form-data form with an 'image' file";
        return HTTP_UNSUPPORTED_MEDIA_TYPE;
    }
    /* Refuse early when the client announces too much; the stream is still
     * counted below, since chunked bodies announce nothing. */
    if (cl) {
        char *end;
        apr_off_t announced;
        if (apr_strtoff(&announced, cl, &end, 10) == APR_SUCCESS && *end == '\0'
            && announced > max + (mp ? 65536 : 0)) {
            tiler_mp_free(mp);
            return too_large(r, max, code, msg);
        }
    }
    if ((rc = ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK)) != OK) {
        tiler_mp_free(mp);
        *code = "bad_body";
        *msg = "the request body cannot be read";
        return rc == HTTP_REQUEST_ENTITY_TOO_LARGE ? rc : HTTP_BAD_REQUEST;
    }
    if (!mp && (rv = apr_file_open(&raw, path, APR_FOPEN_WRITE | APR_FOPEN_CREATE | APR_FOPEN_TRUNCATE | APR_FOPEN_BINARY,
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
            if (mp) {
                tiler_mp_status st = tiler_mp_feed(mp, buf, (size_t)n);
                if (st == TILER_MP_ERR_TOO_LARGE || up->size > max) { rc = too_large(r, max, code, msg); break; }
                if (st == TILER_MP_ERR_CALLBACK && form.write_error) {
                    *code = "spool_error";
                    *msg = "the upload cannot be stored (spool disk full?)";
                    rc = HTTP_INSUFFICIENT_STORAGE;
                    break;
                }
                if (st == TILER_MP_ERR_CALLBACK) {
                    *code = "bad_multipart";
                    *msg = form.images > 1 ? "the form has more than one image" : "a form field is malformed";
                    rc = HTTP_BAD_REQUEST;
                    break;
                }
                if (st != TILER_MP_OK) {
                    *code = "bad_multipart";
                    *msg = apr_pstrdup(r->pool, tiler_mp_error(mp));
                    rc = HTTP_BAD_REQUEST;
                    break;
                }
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
            r->connection->keepalive = AP_CONN_CLOSE;
            *code = "bad_body";
            *msg = "the request body ended early or is malformed";
            rc = HTTP_BAD_REQUEST;
        }
    }
    if (raw && apr_file_close(raw) != APR_SUCCESS && rc == OK) {
        *code = "spool_error";
        *msg = "the upload cannot be stored (spool disk full?)";
        rc = HTTP_INSUFFICIENT_STORAGE;
    }
    if (!mp) up->size = total;
    if (mp) {
        if (rc == OK && tiler_mp_finish(mp) != TILER_MP_OK) {
            *code = "bad_multipart";
            *msg = apr_pstrdup(r->pool, tiler_mp_error(mp));
            rc = HTTP_BAD_REQUEST;
        }
        if (form.file) apr_file_close(form.file);
        tiler_mp_free(mp);
        if (rc == OK && !form.images) {
            *code = "missing_image";
            *msg = "the form has no 'image' file part";
            rc = HTTP_BAD_REQUEST;
        }
    }
    return rc;
}
