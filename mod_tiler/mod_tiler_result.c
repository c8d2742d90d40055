#include "mod_tiler_result.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>
#include <apr_file_info.h>
#include <apr_strings.h>
#include <apr_buckets.h>
#include <apr_portable.h>
#include <http_log.h>
#include <http_request.h>
#include <http_protocol.h>
#include "mod_tiler_encoder.h"
#include "mod_tiler_respond.h"
#include "mod_tiler_slots.h"
#include "tiler_image.h"
#include "tiler_defaults.h"
#include "tiler_spool.h"
#include "tiler_thumb.h"

int tiler_result_needs_preview(const tiler_srv_conf *c, const tiler_job *job)
{
    /* A browser shows no TIFF: whatever its size, a preview stands for it. */
    return (apr_int64_t)job->width * job->height > c->preview_above_pixels || !strcmp(job->format, "tiff");
}

const char *tiler_result_extension(const tiler_job *job)
{
    return !strcmp(job->format, "jpeg") ? "jpg" : !strcmp(job->format, "tiff") ? "tif" : "png";
}

/* A strong validator for a spool file: inode, size and modification time,
 * as httpd's FileETag All. httpd's own ap_make_etag makes the tag weak for a
 * file changed less than a second ago (it might change again within the
 * second), and If-Range never matches a weak tag, so a download started right
 * after the job ended could not be resumed. Results and thumbnails never
 * change once in place (both are written beside and renamed), so a strong tag
 * is honest here. */
static const char *file_etag(request_rec *r, const apr_finfo_t *fi)
{
    return apr_psprintf(r->pool, "\"%" APR_UINT64_T_HEX_FMT "-%" APR_UINT64_T_HEX_FMT "-%" APR_UINT64_T_HEX_FMT "\"",
                        (apr_uint64_t)fi->inode, (apr_uint64_t)fi->size, (apr_uint64_t)fi->mtime);
}

/* Serves a spool file as httpd serves a static one: ETag, Last-Modified,
 * conditional requests (304, 412), and Range / If-Range through httpd's
 * byterange filter (single and multiple ranges, 206 and 416), so that
 * `curl -C -` resumes a download of any size. The filter handles ranges only
 * when the whole body is in one brigade ending with EOS (it must know the
 * length): ap_send_fd passes the file without EOS, so it never got ranges.
 * The file goes as file buckets: sendfile, or reads in small pieces, never
 * the whole file in memory. */
int tiler_send_spool_file(request_rec *r, const char *path, const char *mime, const char *filename)
{
    apr_file_t *f;
    apr_finfo_t fi;
    apr_bucket_brigade *bb;
    apr_status_t rv;
    int status;
    if (apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BINARY | APR_FOPEN_SENDFILE_ENABLED, 0, r->pool) != APR_SUCCESS
        || apr_file_info_get(&fi, APR_FINFO_SIZE | APR_FINFO_MTIME | APR_FINFO_INODE, f) != APR_SUCCESS)
        return tiler_send_error(r, HTTP_GONE, "result_gone", "the job is done but its result file is gone");
    ap_set_content_type(r, mime);
    if (filename)
        apr_table_setn(r->headers_out, "Content-Disposition", apr_psprintf(r->pool, "inline; filename=\"%s\"", filename));
    apr_table_setn(r->headers_out, "ETag", file_etag(r, &fi));
    apr_table_setn(r->headers_out, "Accept-Ranges", "bytes");
    ap_update_mtime(r, fi.mtime);
    ap_set_last_modified(r);
    if ((status = ap_meets_conditions(r)) != OK) {
        apr_file_close(f);
        if (status == HTTP_PRECONDITION_FAILED)
            return tiler_send_error(r, status, "precondition_failed", "the file does not match If-Match or If-Unmodified-Since");
        return status;   /* 304 Not Modified: no body */
    }
    ap_set_content_length(r, fi.size);
    if (r->header_only) return OK;
    bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    apr_brigade_insert_file(bb, f, 0, fi.size, r->pool);
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(r->connection->bucket_alloc));
    rv = ap_pass_brigade(r->output_filters, bb);
    if (rv == APR_SUCCESS || r->connection->aborted) return OK;
    ap_log_rerror(APLOG_MARK, APLOG_INFO, rv, r, APLOGNO(30460) "sending %s failed", path);
    return AP_FILTER_ERROR;
}

/* Scales the result to at most side pixels on its long side. The result is
 * read as a stream, a row at a time (tiler_thumb.c): a gigapixel result
 * costs one row of memory, not the whole image. Written beside and renamed,
 * so concurrent requests never see half a thumbnail. Then the job is looked
 * at again, as the encoder does (tiler_encoder_removed): a DELETE whose
 * sweep passed while the thumbnail was made would leave the job's directory
 * behind with it, so then it is this request's to remove. 0, -1 when it
 * cannot be made (logged), 1 when the job was removed meanwhile. */
static int make_thumb(request_rec *r, const tiler_job *job, const char *result, const char *thumb, int side)
{
    char tmp[4400], err[256] = "";
    gdImagePtr small;
    tiler_store *store;
    FILE *f = fopen(result, "rb");
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, APLOGNO(30180) "job %s: making the %d-pixel thumbnail", job->id, side);
    if (!f || !(small = tiler_thumb_make(f, (uint32_t)side, NULL, err, sizeof(err)))) {
        if (f) fclose(f);
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(30501) "job %s: thumbnail: %s", job->id, f ? err : "cannot open the result");
        return -1;
    }
    fclose(f);
    snprintf(tmp, sizeof(tmp), "%s.%" APR_PID_T_FMT ".%lx.tmp", thumb, getpid(), (unsigned long)apr_os_thread_current());
    if (tiler_image_save(small, tmp, TILER_FMT_PNG, err, sizeof(err)) < 0 || rename(tmp, thumb) < 0) {
        remove(tmp);
        gdImageDestroy(small);
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(30502) "job %s: cannot write thumbnail: %s", job->id, err);
        return -1;
    }
    gdImageDestroy(small);
    if ((store = tiler_request_store(r)) && tiler_encoder_removed(tiler_srv(r->server), store, job->id, r->pool)) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, APLOGNO(30181) "job %s: removed while its thumbnail was made", job->id);
        return 1;
    }
    return 0;
}

/* Sends an error response for ensure_thumb: -1, its status in *sent. */
static int refuse(request_rec *r, int *sent, int status, const char *code, const char *message)
{
    *sent = tiler_send_error(r, status, code, message);
    return -1;
}

/* Makes the thumbnail at thumb unless it is there. Concurrent requests for
 * one job and size take turns on an flock on thumb-N.png.lock beside it
 * (flock: each open is a lock of its own, so threads of one child wait for
 * each other too): the first decodes, the others wait for it and then find
 * the file made, so the result is decoded once per size. Decodes across the
 * server are bounded by TILER_THUMB_DECODES slots; when all are held the
 * request gets 503 at once rather than holding its thread. The lock file's
 * name starts with thumb-, so DELETE sweeps it with the thumbnails. 0, or
 * -1 with an error response sent (its status in *sent). */
static int ensure_thumb(request_rec *r, const tiler_job *job, const char *result, const char *thumb, int side, int *sent)
{
    const char *lock = apr_pstrcat(r->pool, thumb, ".lock", NULL);
    apr_pool_t *hold;
    int fd, rc;
    if (access(thumb, R_OK) == 0) return 0;
    if ((fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
        if (errno == ENOENT)   /* the job's directory is gone: deleted */
            return refuse(r, sent, HTTP_NOT_FOUND, "not_found", "no such job");
        ap_log_rerror(APLOG_MARK, APLOG_ERR, errno, r, APLOGNO(30182) "job %s: cannot open %s", job->id, lock);
        return refuse(r, sent, HTTP_SERVICE_UNAVAILABLE, "thumbnail_failed", "the thumbnail cannot be made now");
    }
    while ((rc = flock(fd, LOCK_EX)) < 0 && errno == EINTR) {}
    if (rc < 0) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, errno, r, APLOGNO(30183) "job %s: cannot lock %s", job->id, lock);
        close(fd);
        return refuse(r, sent, HTTP_SERVICE_UNAVAILABLE, "thumbnail_failed", "the thumbnail cannot be made now");
    }
    if (access(thumb, R_OK) == 0) {   /* made by the request this one waited for */
        close(fd);
        return 0;
    }
    apr_pool_create(&hold, r->pool);
    rc = tiler_slot_take(r, hold, tiler_srv(r->server)->spool_dir, "thumb-", TILER_THUMB_DECODES);
    if (rc == 0) rc = make_thumb(r, job, result, thumb, side) == 0 ? 0 : -3;
    apr_pool_destroy(hold);   /* the decode slot goes back */
    close(fd);                /* and the next request in line finds the file */
    if (rc == -1) {
        apr_table_setn(r->headers_out, "Retry-After", "5");
        return refuse(r, sent, HTTP_SERVICE_UNAVAILABLE, "too_many_thumbnails",
                      apr_psprintf(r->pool, "%d thumbnails are being made; try again shortly", TILER_THUMB_DECODES));
    }
    if (rc < 0 && access(result, F_OK) != 0 && errno == ENOENT)
        return refuse(r, sent, HTTP_NOT_FOUND, "not_found", "no such job");
    if (rc < 0)
        return refuse(r, sent, HTTP_SERVICE_UNAVAILABLE, "thumbnail_failed", "the thumbnail cannot be made now");
    return 0;
}

/* ?thumb=N is made, cached and served at the first of these sizes not below
 * N: at most this many thumbnails per job, and one decode of the result for
 * each, whatever sizes are asked for. A page asking for 96 gets 128 and
 * lets the browser scale it down. */
static const int thumb_sides[] = { 64, 128, 256, 512, 1024, 2048 };

static int thumb_side(long n)
{
    size_t i;
    for (i = 0; i + 1 < sizeof(thumb_sides) / sizeof(thumb_sides[0]) && thumb_sides[i] < n; i++) {}
    return thumb_sides[i];
}

/* 1 when the query string has the parameter name (with or without a value). */
static int has_param(const char *args, const char *name)
{
    size_t n = strlen(name);
    const char *p = args;
    while (p) {
        if (!strncmp(p, name, n) && (p[n] == '=' || p[n] == '&' || !p[n])) return 1;
        if ((p = strchr(p, '&'))) p++;
    }
    return 0;
}

int tiler_job_result(request_rec *r, const char *id)
{
    tiler_srv_conf *c = tiler_srv(r->server);
    tiler_job job;
    char path[4096], thumb[4200];
    int sent, side = 0;

    if (r->args && (!strcmp(r->args, "preview") || !strcmp(r->args, "preview="))) {
        side = -1;
    } else if (r->args) {
        const char *digits = r->args + 6;
        long v = 0;
        int n = 0;
        if (has_param(r->args, "thumb") && has_param(r->args, "preview"))
            return tiler_send_error(r, HTTP_BAD_REQUEST, "bad_query", "give thumb=N or preview, not both");
        if (strncmp(r->args, "thumb=", 6) || strchr(r->args, '&'))
            return tiler_send_error(r, HTTP_BAD_REQUEST, "bad_query", "the only parameters here are thumb=N and preview");
        /* Digits only (no sign, space or leading zeros past one), and few. */
        while (digits[n] >= '0' && digits[n] <= '9' && n < 5) v = v * 10 + (digits[n++] - '0');
        if (!n || digits[n] || (n > 1 && digits[0] == '0') || v < TILER_THUMB_MIN || v > TILER_THUMB_MAX)
            return tiler_send_error(r, HTTP_BAD_REQUEST, "bad_query",
                                    apr_psprintf(r->pool, "thumb must be a whole number in %d..%d", TILER_THUMB_MIN, TILER_THUMB_MAX));
        side = thumb_side(v);
    }
    if (tiler_find_job(r, id, &job, &sent) < 0) return sent;
    if (strcmp(job.state, "done"))
        return tiler_send_error(r, HTTP_CONFLICT, "not_done",
                                apr_psprintf(r->pool, "job is %s (%u of %u tiles)%s%s", job.state, job.tiles_done,
                                             job.tiles_total, job.error ? ": " : "", job.error ? job.error : ""));
    if (tiler_spool_path(path, sizeof(path), c->spool_dir, job.id, TILER_SPOOL_RESULT) < 0)
        return tiler_send_error(r, HTTP_NOT_FOUND, "not_found", "no such job");
    if (side < 0) side = tiler_result_needs_preview(c, &job) ? TILER_PREVIEW_SIDE : 0;
    if (!side)
        return tiler_send_spool_file(r, path, tiler_format_mime(tiler_output_format_parse(job.format)),
                         apr_psprintf(r->pool, "%s.%s", job.id, tiler_result_extension(&job)));
    if (tiler_spool_thumb_path(thumb, sizeof(thumb), c->spool_dir, job.id, side) < 0)
        return tiler_send_error(r, HTTP_BAD_REQUEST, "bad_query", "bad thumbnail size");
    if (ensure_thumb(r, &job, path, thumb, side, &sent) < 0) return sent;
    apr_table_setn(r->headers_out, "Cache-Control", "max-age=86400");
    return tiler_send_spool_file(r, thumb, "image/png", NULL);
}
