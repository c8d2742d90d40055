#include "mod_tiler_api.h"

#include <string.h>
#include <unistd.h>
#include <apr_file_info.h>
#include <apr_strings.h>
#include <http_protocol.h>
#include <http_request.h>
#include <yajl/yajl_gen.h>
#include "mod_tiler_producer.h"
#include "mod_tiler_upload.h"
#include "tiler_id.h"
#include "tiler_image.h"
#include "tiler_json.h"
#include "tiler_ops.h"
#include "tiler_spool.h"
#include "tiler_store.h"

#define LIST_LIMIT 200

/* ---- responses ---- */

static int send_json(request_rec *r, int status, yajl_gen g)
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

static int send_error(request_rec *r, int status, const char *code, const char *msg)
{
    yajl_gen g = yajl_gen_alloc(NULL);
    yajl_gen_map_open(g);
    tiler_json_kv_str(g, "error", code);
    tiler_json_kv_str(g, "message", msg);
    yajl_gen_map_close(g);
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, APLOGNO(30401) "%d %s: %s", status, code, msg);
    return send_json(r, status, g);
}

static int method_not_allowed(request_rec *r, const char *allow)
{
    apr_table_setn(r->headers_out, "Allow", allow);
    return send_error(r, HTTP_METHOD_NOT_ALLOWED, "method_not_allowed",
                      apr_psprintf(r->pool, "%s is not allowed here; allowed: %s", r->method, allow));
}

static tiler_store *open_store(request_rec *r)
{
    tiler_store *store;
    const char *err;
    if (tiler_store_open(&store, tiler_store_path(r->pool, tiler_srv(r->server)), r->pool, &err) < 0) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(30402) "%s", err);
        return NULL;
    }
    return store;
}

/* ---- query strings: only known keys, each once, no control bytes ---- */

typedef struct { const char *ops, *format; } job_args;

static const char *parse_args(request_rec *r, job_args *a)
{
    char *args = r->args ? apr_pstrdup(r->pool, r->args) : NULL, *tok, *state;
    if (!args) return NULL;
    for (tok = apr_strtok(args, "&", &state); tok; tok = apr_strtok(NULL, "&", &state)) {
        char *eq = strchr(tok, '='), *v;
        const char **slot;
        const unsigned char *c;
        if (!eq) return apr_psprintf(r->pool, "query item '%.40s' has no value", tok);
        *eq = '\0';
        v = eq + 1;
        if (!strcmp(tok, "ops")) slot = &a->ops;
        else if (!strcmp(tok, "format")) slot = &a->format;
        else return apr_psprintf(r->pool, "unknown query parameter '%.40s' (known: ops, format)", tok);
        if (*slot) return apr_psprintf(r->pool, "query parameter '%s' is given twice", tok);
        for (c = (unsigned char *)v; *c; c++) if (*c == '+') *(char *)c = ' ';
        if (ap_unescape_url(v) != OK) return apr_psprintf(r->pool, "query parameter '%s' is badly escaped", tok);
        for (c = (unsigned char *)v; *c; c++)
            if (*c < 0x20 || *c == 0x7f) return apr_psprintf(r->pool, "query parameter '%s' has a control character", tok);
        *slot = v;
    }
    return NULL;
}

/* ---- POST {loc}/api/jobs ---- */

static int create_job(request_rec *r, const char *base)
{
    tiler_srv_conf *c = tiler_srv(r->server);
    job_args a = { NULL, NULL };
    tiler_chain chain;
    tiler_format out_fmt = TILER_FMT_PNG, in_fmt;
    tiler_grid grid;
    tiler_job job;
    tiler_store *store;
    unsigned char id[16];
    char hex[TILER_ID_HEX_LEN + 1], dir[4096], input[4096], raster[4096], err[512], canon[TILER_MSG_MAX_OPS_LEN + 1];
    const char *ctype = apr_table_get(r->headers_in, "Content-Type"), *emsg, *code, *reason;
    apr_off_t size;
    uint32_t w, h, halo;
    gdImagePtr im;
    FILE *f;
    int status, probe;
    yajl_gen g;

    if ((emsg = parse_args(r, &a))) return send_error(r, HTTP_BAD_REQUEST, "bad_query", emsg);
    if (!a.ops) return send_error(r, HTTP_BAD_REQUEST, "bad_ops", "ops is missing; give ?ops=grayscale,blur:3 for example");
    if (tiler_chain_parse(&chain, a.ops, c->max_ops, err, sizeof(err)) < 0)
        return send_error(r, HTTP_BAD_REQUEST, "bad_ops", err);
    if (a.format && (out_fmt = tiler_output_format_parse(a.format)) == TILER_FMT_UNKNOWN)
        return send_error(r, HTTP_BAD_REQUEST, "bad_format", "format must be png or jpeg");
    if (!ctype || strncasecmp(ctype, "image/", 6))
        return send_error(r, HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
                          "send the image as the body with an image/* Content-Type (PNG, JPEG, GIF, BMP or WebP)");
    halo = (uint32_t)tiler_chain_halo(&chain);
    tiler_chain_format(&chain, canon, sizeof(canon));

    if (tiler_id_generate(id) < 0) return send_error(r, HTTP_SERVICE_UNAVAILABLE, "no_entropy", "cannot make a job id");
    tiler_id_to_hex(id, hex);
    tiler_spool_path(dir, sizeof(dir), c->spool_dir, hex, TILER_SPOOL_DIR);
    tiler_spool_path(input, sizeof(input), c->spool_dir, hex, TILER_SPOOL_INPUT);
    tiler_spool_path(raster, sizeof(raster), c->spool_dir, hex, TILER_SPOOL_RASTER);
    if (apr_dir_make(dir, APR_FPROT_OS_DEFAULT, r->pool) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(30403) "cannot create job directory %s", dir);
        return send_error(r, HTTP_INSUFFICIENT_STORAGE, "spool_error", "the job cannot be stored");
    }
#define BAIL(st, cd, ms) do { status = send_error(r, st, cd, ms); tiler_spool_remove(c->spool_dir, hex); return status; } while (0)
    if ((status = tiler_upload_to_file(r, input, c->max_upload_bytes, &size, &code, &emsg)) != OK) BAIL(status, code, emsg);
    if (size == 0) BAIL(HTTP_BAD_REQUEST, "empty_body", "the request body is empty; send the image as the body");
    if (!(f = fopen(input, "rb"))) BAIL(HTTP_INTERNAL_SERVER_ERROR, "spool_error", "the upload cannot be read back");
    probe = tiler_probe_file(f, &in_fmt, &w, &h, err, sizeof(err));
    fclose(f);
    if (probe < 0 && in_fmt == TILER_FMT_UNKNOWN)
        BAIL(HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_format", "the body is not a PNG, JPEG, GIF, BMP or WebP image");
    if (probe < 0) BAIL(HTTP_UNPROCESSABLE_ENTITY, "corrupt_image", err);
    if ((apr_int64_t)w * h > c->max_pixels)
        BAIL(HTTP_REQUEST_ENTITY_TOO_LARGE, "too_many_pixels",
             apr_psprintf(r->pool, "%ux%u is %" APR_INT64_T_FMT " pixels, over TilerMaxPixels (%" APR_INT64_T_FMT ")",
                          w, h, (apr_int64_t)w * h, c->max_pixels));
    tiler_grid_init(&grid, w, h, (uint32_t)c->tile_size, halo);
    if (tiler_grid_max_src_bytes(&grid) + TILER_MSG_FIXED_BYTES + TILER_MSG_MAX_OPS_LEN > TILER_MAX_MESSAGE_BYTES)
        BAIL(HTTP_BAD_REQUEST, "halo_too_large",
             apr_psprintf(r->pool, "the op chain needs a %u-pixel halo; %d-pixel tiles with it exceed the %d-byte message limit",
                          halo, c->tile_size, TILER_MAX_MESSAGE_BYTES));
    if (!(im = tiler_image_load(input, in_fmt, err, sizeof(err)))) BAIL(HTTP_UNPROCESSABLE_ENTITY, "corrupt_image", err);
    if ((uint32_t)gdImageSX(im) != w || (uint32_t)gdImageSY(im) != h) {
        gdImageDestroy(im);
        BAIL(HTTP_UNPROCESSABLE_ENTITY, "corrupt_image", "the decoded size differs from the header's");
    }
    if (tiler_raster_create(raster, w, h, err, sizeof(err)) < 0) {
        gdImageDestroy(im);
        BAIL(HTTP_INSUFFICIENT_STORAGE, "spool_error", err);
    }
    if (!(store = open_store(r))) {
        gdImageDestroy(im);
        BAIL(HTTP_SERVICE_UNAVAILABLE, "store_unavailable", "the job store cannot be opened");
    }
    memset(&job, 0, sizeof(job));
    memcpy(job.id, hex, sizeof(job.id));
    job.state = "queued";
    job.width = w;
    job.height = h;
    job.tile_size = (uint32_t)c->tile_size;
    job.ops = canon;
    job.format = tiler_format_name(out_fmt);
    job.tiles_total = tiler_grid_count(&grid);
    job.created = apr_time_now();
    if (tiler_store_create_job(store, &job) < 0) {
        gdImageDestroy(im);
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(30404) "cannot record job %s: %s", hex, tiler_store_error(store));
        BAIL(HTTP_SERVICE_UNAVAILABLE, "store_unavailable", "the job cannot be recorded");
    }
    status = tiler_produce_tiles(r, im, &grid, id, canon, &reason);
    gdImageDestroy(im);
    remove(input);   /* the tiles are in Kafka; the raster holds the rest */
    if (status != OK) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(30405) "job %s failed: %s", hex, reason);
        tiler_store_finish(store, hex, "failed", reason);
        return send_error(r, HTTP_SERVICE_UNAVAILABLE, "kafka_unavailable", reason);
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, APLOGNO(30406) "job %s queued: %ux%u %s, %u tiles, ops %s", hex, w, h,
                  tiler_format_name(in_fmt), job.tiles_total, canon);
    apr_table_setn(r->headers_out, "Location", apr_psprintf(r->pool, "%s/api/jobs/%s", base, hex));
    g = yajl_gen_alloc(NULL);
    yajl_gen_map_open(g);
    tiler_json_kv_str(g, "id", hex);
    tiler_json_kv_str(g, "state", "queued");
    tiler_json_kv_int(g, "tiles_total", job.tiles_total);
    tiler_json_kv_str(g, "status_url", apr_psprintf(r->pool, "%s/api/jobs/%s", base, hex));
    tiler_json_kv_str(g, "result_url", apr_psprintf(r->pool, "%s/api/jobs/%s/result", base, hex));
    yajl_gen_map_close(g);
    return send_json(r, HTTP_ACCEPTED, g);
#undef BAIL
}

/* ---- GET endpoints ---- */

static int list_jobs(request_rec *r, const char *base)
{
    tiler_store *store = open_store(r);
    apr_array_header_t *jobs;
    yajl_gen g;
    int i;
    if (!store || tiler_store_list_jobs(store, LIST_LIMIT, &jobs, r->pool) < 0)
        return send_error(r, HTTP_SERVICE_UNAVAILABLE, "store_unavailable", "the job store cannot be read");
    g = yajl_gen_alloc(NULL);
    yajl_gen_map_open(g);
    tiler_json_str(g, "jobs");
    yajl_gen_array_open(g);
    for (i = 0; i < jobs->nelts; i++) tiler_json_job(g, &APR_ARRAY_IDX(jobs, i, tiler_job), base);
    yajl_gen_array_close(g);
    yajl_gen_map_close(g);
    return send_json(r, HTTP_OK, g);
}

/* 0 with the job, or a response already sent. */
static int find_job(request_rec *r, const char *id, tiler_job *job, int *sent)
{
    tiler_store *store;
    int rc;
    *sent = 0;
    if (tiler_id_parse(id, strlen(id), (unsigned char[16]){ 0 }) < 0) {
        *sent = send_error(r, HTTP_NOT_FOUND, "not_found", "no such job (ids are 32 lowercase hex digits)");
        return -1;
    }
    if (!(store = open_store(r))) {
        *sent = send_error(r, HTTP_SERVICE_UNAVAILABLE, "store_unavailable", "the job store cannot be read");
        return -1;
    }
    rc = tiler_store_get_job(store, id, job, r->pool);
    if (rc == 0) return 0;
    *sent = rc > 0 ? send_error(r, HTTP_NOT_FOUND, "not_found", "no such job")
                   : send_error(r, HTTP_SERVICE_UNAVAILABLE, "store_unavailable", "the job store cannot be read");
    return -1;
}

static int job_status(request_rec *r, const char *base, const char *id)
{
    tiler_job job;
    int sent;
    yajl_gen g;
    if (find_job(r, id, &job, &sent) < 0) return sent;
    g = yajl_gen_alloc(NULL);
    tiler_json_job(g, &job, base);
    return send_json(r, HTTP_OK, g);
}

static int job_result(request_rec *r, const char *id)
{
    tiler_srv_conf *c = tiler_srv(r->server);
    tiler_job job;
    char path[4096];
    apr_file_t *f;
    apr_finfo_t fi;
    apr_size_t sent_bytes;
    int sent;
    if (find_job(r, id, &job, &sent) < 0) return sent;
    if (strcmp(job.state, "done"))
        return send_error(r, HTTP_CONFLICT, "not_done",
                          apr_psprintf(r->pool, "job is %s (%u of %u tiles)%s%s", job.state, job.tiles_done,
                                       job.tiles_total, job.error ? ": " : "", job.error ? job.error : ""));
    if (tiler_spool_path(path, sizeof(path), c->spool_dir, job.id, TILER_SPOOL_RESULT) < 0
        || apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BINARY | APR_FOPEN_SENDFILE_ENABLED, 0, r->pool) != APR_SUCCESS
        || apr_file_info_get(&fi, APR_FINFO_SIZE, f) != APR_SUCCESS)
        return send_error(r, HTTP_GONE, "result_gone", "the job is done but its result file is gone");
    ap_set_content_type(r, tiler_format_mime(tiler_output_format_parse(job.format)));
    ap_set_content_length(r, fi.size);
    apr_table_setn(r->headers_out, "Content-Disposition",
                   apr_psprintf(r->pool, "inline; filename=\"%s.%s\"", job.id, strcmp(job.format, "jpeg") ? "png" : "jpg"));
    if (!r->header_only) ap_send_fd(f, r, 0, (apr_size_t)fi.size, &sent_bytes);
    return OK;
}

static int workers(request_rec *r)
{
    tiler_srv_conf *c = tiler_srv(r->server);
    apr_file_t *f;
    apr_finfo_t fi;
    apr_size_t n;
    char *buf;
    if (!c->monitor_snapshot)
        return send_error(r, HTTP_SERVICE_UNAVAILABLE, "monitor_unavailable", "TilerMonitorSnapshot is not configured");
    if (apr_file_open(&f, c->monitor_snapshot, APR_FOPEN_READ, 0, r->pool) != APR_SUCCESS
        || apr_file_info_get(&fi, APR_FINFO_SIZE | APR_FINFO_MTIME, f) != APR_SUCCESS || fi.size > 4 * 1024 * 1024)
        return send_error(r, HTTP_SERVICE_UNAVAILABLE, "monitor_unavailable", "tiler-monitor has written no snapshot");
    if (apr_time_now() - fi.mtime > apr_time_from_sec(30))
        return send_error(r, HTTP_SERVICE_UNAVAILABLE, "monitor_stale",
                          apr_psprintf(r->pool, "tiler-monitor's snapshot is %" APR_TIME_T_FMT " s old; is it running?",
                                       apr_time_sec(apr_time_now() - fi.mtime)));
    n = (apr_size_t)fi.size;
    buf = apr_palloc(r->pool, n + 1);
    if (apr_file_read_full(f, buf, n, &n) != APR_SUCCESS)
        return send_error(r, HTTP_SERVICE_UNAVAILABLE, "monitor_unavailable", "the monitor snapshot cannot be read");
    ap_set_content_type(r, "application/json");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    ap_set_content_length(r, (apr_off_t)n);
    if (!r->header_only) ap_rwrite(buf, (int)n, r);
    return OK;
}

/* ---- routing ---- */

int tiler_api_handler(request_rec *r)
{
    const char *rest, *p, *base;

    if (!r->handler || strcmp(r->handler, "tiler")) return DECLINED;
    /* The route starts at the last "/api/" of the path; what stands before
     * it is the Location the handler is mounted on. (A <Location> holding
     * only SetHandler gets no per-directory config of ours to record it.) */
    for (rest = NULL, p = r->uri; (p = strstr(p, "/api/")); p++) rest = p;
    if (!rest) return send_error(r, HTTP_NOT_FOUND, "not_found", "no such endpoint");
    base = apr_pstrndup(r->pool, r->uri, (apr_size_t)(rest - r->uri));

    if (!strcmp(rest, "/api/jobs")) {
        if (r->method_number == M_POST) return create_job(r, base);
        if (r->method_number == M_GET) return list_jobs(r, base);
        return method_not_allowed(r, "GET, HEAD, POST");
    }
    if (!strcmp(rest, "/api/workers")) {
        if (r->method_number == M_GET) return workers(r);
        return method_not_allowed(r, "GET, HEAD");
    }
    if (!strncmp(rest, "/api/jobs/", 10)) {
        const char *id = rest + 10, *slash = strchr(id, '/');
        if (!slash) {
            if (r->method_number == M_GET) return job_status(r, base, id);
            return method_not_allowed(r, "GET, HEAD");
        }
        if (!strcmp(slash, "/result")) {
            if (r->method_number == M_GET) return job_result(r, apr_pstrndup(r->pool, id, (apr_size_t)(slash - id)));
            return method_not_allowed(r, "GET, HEAD");
        }
    }
    return send_error(r, HTTP_NOT_FOUND, "not_found", "no such endpoint");
}
