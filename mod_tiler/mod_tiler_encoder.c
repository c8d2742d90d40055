#include "mod_tiler_encoder.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <apr_atomic.h>
#include <apr_hash.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>
#include <apr_thread_pool.h>
#include "tiler_assembly.h"
#include "tiler_defaults.h"
#include "tiler_id.h"
#include "tiler_jpeg_out.h"
#include "tiler_ops.h"
#include "tiler_metrics.h"
#include "tiler_png.h"
#include "tiler_png_tile.h"
#include "tiler_raster.h"
#include "tiler_spool.h"
#include "tiler_strip.h"
#include "mod_tiler_zoom.h"
#include "mod_tiler_zoom_feed.h"
#include "tiler_tiff_out.h"

/* Rows of a JPEG result read from the raster at a time: 4 x width bytes
 * each. A multiple of 16, libjpeg's MCU height at 4:2:0. */
#define TILER_JPEG_BAND_ROWS 64

struct tiler_encoder {
    server_rec *s;
    tiler_srv_conf *c;
    apr_thread_pool_t *tp;
    apr_thread_mutex_t *lock;
    apr_hash_t *finishing;     /* ids with a finish queued or running; keys malloc'd */
    apr_hash_t *zooming;       /* ids with a zoom pyramid build queued or running; keys malloc'd */
    tiler_zoom_feeds *feeds;   /* pyramids fed as results are assembled */
    volatile int stopping;     /* set when the pool goes: long zoom builds stop */
};

typedef struct {
    tiler_encoder *e;
    char id[TILER_ID_HEX_LEN + 1];
    uint32_t strip;
} task;

/* A pre-cleanup: it runs before the thread pool (a subpool, destroyed
 * before the parent's own cleanups) waits for its threads, so that a zoom
 * build or feed (minutes at a gigapixel) stops within a row instead of
 * holding httpd's stop. */
static apr_status_t note_stopping(void *data)
{
    ((tiler_encoder *)data)->stopping = 1;
    return APR_SUCCESS;
}

tiler_encoder *tiler_encoder_create(server_rec *s, apr_pool_t *p)
{
    tiler_encoder *e = apr_pcalloc(p, sizeof(*e));
    e->s = s;
    e->c = tiler_srv(s);
    e->finishing = apr_hash_make(p);
    e->zooming = apr_hash_make(p);
    /* Before the threads: cleared after they have stopped. */
    e->feeds = tiler_zoom_feeds_create(s, p);
    if (apr_thread_mutex_create(&e->lock, APR_THREAD_MUTEX_DEFAULT, p) != APR_SUCCESS
        || apr_thread_pool_create(&e->tp, 0, (apr_size_t)e->c->encode_threads, p) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, APLOGNO(30801) "cannot start the result encoder threads; "
                     "results are encoded on the results consumer's thread");
        e->tp = NULL;
    }
    apr_pool_pre_cleanup_register(p, e, note_stopping);
    return e;
}

/* The result's PNG colour type: grey when the chain makes red = green =
 * blue (tiler_chain_gray), RGBA when the upload can have transparency. */
int tiler_encoder_png_color(const tiler_job *job)
{
    tiler_chain chain;
    char err[256];
    int gray = tiler_chain_parse(&chain, job->ops, TILER_MAX_OPS, err, sizeof(err)) == 0 && tiler_chain_gray(&chain);
    return tiler_png_color(job->alpha, gray);
}

static uint32_t strip_count(const tiler_job *job)
{
    return (job->height + job->tile_size - 1) / job->tile_size;
}

/* Says once that the spool cannot punch holes (rc 1), or warns of a
 * failure to (rc -1, err). Neither is a failure of the job: it ends with
 * its raster or tiles dropped. */
static void note_release(server_rec *s, const tiler_job *job, int rc, const char *err)
{
    static volatile apr_uint32_t said;
    if (rc == 1 && apr_atomic_cas32(&said, 1, 0) == 0)
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, APLOGNO(30840) "the spool's filesystem cannot punch holes: "
                     "a job's raster (or tiles file) keeps its full size until the job ends");
    else if (rc < 0)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, APLOGNO(30841) "job %s: %s", job->id, err);
}

/* Frees the disk under raster rows [top, top + n), now encoded for good. */
static void release_rows(server_rec *s, const char *raster, const tiler_job *job, uint32_t top, uint32_t n)
{
    char err[512];
    note_release(s, job, tiler_raster_release_rows(raster, job->width, job->height, top, n, err, sizeof(err)), err);
}

/* Encodes raster rows [top, top + n) as a strip in the job's format and
 * saves it at path, a few rows at a time (tiler_strip.c): 0 saved, 1 a
 * copy was there first, -1 with err. */
static int encode_and_save(const tiler_job *job, const char *raster, uint32_t top, uint32_t n, const char *path,
                           char *err, size_t errlen)
{
    tiler_strip_spec sp;
    memset(&sp, 0, sizeof(sp));
    sp.width = job->width;
    sp.height = job->height;
    sp.top = top;
    sp.n = n;
    sp.jpeg = !strcmp(job->format, "jpeg");
    sp.quality = TILER_JPEG_QUALITY;
    sp.color = tiler_encoder_png_color(job);
    sp.level = TILER_PNG_LEVEL;
    return tiler_strip_encode_raster(raster, &sp, path, err, errlen);
}

/* The strip of a job whose workers deflated its rows: their pieces joined
 * from the tiles file (nothing is deflated here), whose bytes under the
 * row are then freed unless the zoom pyramid's feed still reads them. */
static int join_tiles(tiler_encoder *e, const tiler_job *job, const tiler_tile_enc *enc, uint32_t k, const char *path,
                      char *err, size_t errlen)
{
    const tiler_srv_conf *c = tiler_srv(e->s);
    char tiles[4096], index[4096], why[512];
    tiler_strip_spec sp;
    int rc;
    if (access(path, F_OK) == 0) return 0;
    if (tiler_spool_path(tiles, sizeof(tiles), c->spool_dir, job->id, TILER_SPOOL_TILES) < 0
        || tiler_spool_path(index, sizeof(index), c->spool_dir, job->id, TILER_SPOOL_TILE_INDEX) < 0) {
        snprintf(err, errlen, "no spool path for the tiles of strip %u", k);
        return -1;
    }
    memset(&sp, 0, sizeof(sp));
    sp.width = job->width;
    sp.height = job->height;
    sp.top = k * job->tile_size;
    sp.n = job->height - sp.top < job->tile_size ? job->height - sp.top : job->tile_size;
    if ((rc = tiler_strip_join_tiles(tiles, index, &sp, enc->side, enc->samples, path, err, errlen)) == 0
        && tiler_zoom_feeds_may_free(e->feeds, job, k)) {
        note_release(e->s, job, tiler_strip_release_tiles(tiles, index, job->width, enc->side, k, why, sizeof(why)), why);
    }
    return rc < 0 ? -1 : 0;
}

int tiler_encode_strip(tiler_encoder *e, const tiler_job *job, uint32_t k, char *err, size_t errlen)
{
    server_rec *s = e->s;
    const tiler_srv_conf *c = tiler_srv(s);
    char raster[4096], path[4096];
    uint32_t top = k * job->tile_size, rows;
    tiler_tile_enc enc;
    int rc;

    if (top >= job->height) { snprintf(err, errlen, "strip %u is past the image", k); return -1; }
    rows = job->height - top < job->tile_size ? job->height - top : job->tile_size;
    if (tiler_spool_path(raster, sizeof(raster), c->spool_dir, job->id, TILER_SPOOL_RASTER) < 0
        || tiler_spool_strip_path(path, sizeof(path), c->spool_dir, job->id, k) < 0) {
        snprintf(err, errlen, "no spool path for strip %u", k);
        return -1;
    }
    if (tiler_png_tile_job(job, &enc)) return join_tiles(e, job, &enc, k, path, err, errlen);
    /* The strip's rows are freed once a strip is saved, so a copy made
     * while (or after) another copy was saved may have read freed rows: a
     * strip already there is the good one (checked again after the last
     * read, see tiler_strip_encode_raster). */
    if (access(path, F_OK) == 0) return 0;
    /* Freed unless the job's zoom pyramid still has to read them. */
    if ((rc = encode_and_save(job, raster, top, rows, path, err, errlen)) == 0 && tiler_zoom_feeds_may_free(e->feeds, job, k))
        release_rows(s, raster, job, top, rows);
    return rc == -2 ? -2 : rc < 0 ? -1 : 0;
}

/* A job's files can go while a task works on them: DELETE (from any
 * child) removes its row and then its directory, and a failed or finished
 * job drops its work files. So a task looks at the job again after it has
 * written: if the row is gone, DELETE may have swept the directory before
 * the task wrote, and what the task wrote is the task's to remove. Either
 * the task sees the row (then DELETE's sweep comes later and removes what
 * it wrote) or it does not (then it removes it): nothing is left behind.
 * Returns 1 when the job was removed (and its directory now is), 0 when it
 * is still there or the store cannot tell. */
int tiler_encoder_removed(const tiler_srv_conf *c, tiler_store *store, const char *id, apr_pool_t *p)
{
    tiler_job job;
    if (tiler_store_get_job(store, id, &job, p) != 1) return 0;
    tiler_spool_remove(c->spool_dir, id);
    return 1;
}

/* Fails the job and frees its disk: raster, upload and strips. A job
 * removed meanwhile is no failure: it is only tidied away. Nor is one that
 * another thread failed meanwhile (the results consumer, its raster write
 * on a full disk): that failure was recorded before its files went, so
 * what this encoder missed is its consequence, not a cause to report. */
static void fail_result(server_rec *s, tiler_store *store, const tiler_job *job, const char *why, apr_pool_t *p)
{
    tiler_job now;
    if (tiler_encoder_removed(tiler_srv(s), store, job->id, p)) return;
    if (tiler_store_get_job(store, job->id, &now, p) == 0 && strcmp(now.state, "queued") && strcmp(now.state, "running")) {
        tiler_spool_drop_work(tiler_srv(s)->spool_dir, job->id);
        return;
    }
    ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, APLOGNO(30802) "job %s: cannot write the result: %s", job->id, why);
    tiler_assembly_fail(store, tiler_srv(s)->spool_dir, job->id, why);
}

/* Appends the file at path to f. 0, or -1 with err. */
static int append_file(FILE *f, const char *path, char *err, size_t errlen)
{
    char buf[65536];
    size_t n;
    int rc = 0;
    FILE *in = fopen(path, "rb");
    if (!in) { snprintf(err, errlen, "no JPEG strip: %s", strerror(errno)); return -1; }
    while (rc == 0 && (n = fread(buf, 1, sizeof(buf), in)) > 0)
        if (fwrite(buf, 1, n, f) != n) { snprintf(err, errlen, "cannot write the result file: %s", strerror(errno)); rc = -1; }
    if (rc == 0 && ferror(in)) { snprintf(err, errlen, "cannot read a JPEG strip"); rc = -1; }
    fclose(in);
    return rc;
}

/* A JPEG's strips carry its header and markers: joining them is appending
 * them in order. */
static int join_jpeg_strips(const tiler_srv_conf *c, const tiler_job *job, FILE *f, char *err, size_t errlen)
{
    char path[4096];
    uint32_t k, n = strip_count(job);
    for (k = 0; k < n; k++) {
        if (tiler_spool_strip_path(path, sizeof(path), c->spool_dir, job->id, k) < 0) {
            snprintf(err, errlen, "no spool path for strip %u", k);
            return -1;
        }
        if (append_file(f, path, err, errlen) < 0) return -1;
    }
    if (fflush(f) != 0) { snprintf(err, errlen, "cannot write the result file: %s", strerror(errno)); return -1; }
    return 0;
}

/* Joins the strips into the result file at tmp. 0, or -1 with err; the
 * file is closed either way. */
static int join_strips(const tiler_srv_conf *c, const tiler_job *job, const char *tmp, char *err, size_t errlen)
{
    char path[4096];
    uint32_t k, n = strip_count(job);
    tiler_png_writer *w;
    int rc = 0;
    FILE *f = fopen(tmp, "wb");
    if (!f) { snprintf(err, errlen, "cannot create the result file: %s", strerror(errno)); return -1; }
    if (!strcmp(job->format, "jpeg")) {
        rc = join_jpeg_strips(c, job, f, err, errlen);
        if (fclose(f) != 0 && rc == 0) {
            snprintf(err, errlen, "cannot write the result file: %s", strerror(errno));
            rc = -1;
        }
        return rc;
    }
    w = tiler_png_begin(f, job->width, job->height, tiler_encoder_png_color(job));
    for (k = 0; w && k < n && rc == 0; k++) {
        if (tiler_spool_strip_path(path, sizeof(path), c->spool_dir, job->id, k) < 0) {
            snprintf(err, errlen, "no spool path for strip %u", k);
            rc = -1;
        } else {
            rc = tiler_png_add_file(w, path, err, errlen);
        }
    }
    if (rc == 0) {
        rc = tiler_png_end(w, err, errlen);
    } else {
        char ignored[8];
        tiler_png_end(w, ignored, sizeof(ignored));
    }
    /* Closed whatever happened before: a FILE left open here would keep a
     * deleted file's blocks on a full disk for the child's lifetime. */
    if (fclose(f) != 0 && rc == 0) {
        snprintf(err, errlen, "cannot write the result file: %s", strerror(errno));
        rc = -1;
    }
    return rc;
}

void tiler_encode_strips_result(tiler_encoder *e, tiler_store *store, const tiler_job *job, apr_pool_t *p)
{
    server_rec *s = e->s;
    tiler_srv_conf *c = tiler_srv(s);
    char tmp[4096], result[4096], path[4096], err[512];
    uint32_t k, n = strip_count(job), late = 0;
    apr_time_t t0 = apr_time_now();
    int rc;

    if (tiler_spool_path(tmp, sizeof(tmp), c->spool_dir, job->id, TILER_SPOOL_RESULT_TMP) < 0
        || tiler_spool_path(result, sizeof(result), c->spool_dir, job->id, TILER_SPOOL_RESULT) < 0) {
        fail_result(s, store, job, "no spool path for the result", p);
        return;
    }
    /* Strips whose rows completed last (or before a restart) are made now. */
    for (k = 0; k < n; k++) {
        if (tiler_spool_strip_path(path, sizeof(path), c->spool_dir, job->id, k) < 0) {
            fail_result(s, store, job, apr_psprintf(p, "no spool path for strip %u", k), p);
            return;
        }
        if (access(path, R_OK) == 0) continue;
        /* -2: the raster went meanwhile, with its job: nothing to say. */
        if ((rc = tiler_encode_strip(e, job, k, err, sizeof(err))) == -2) return;
        if (rc < 0) { fail_result(s, store, job, err, p); return; }
        late++;
    }
    if (join_strips(c, job, tmp, err, sizeof(err)) < 0) { fail_result(s, store, job, err, p); return; }
    if (rename(tmp, result) < 0) {
        fail_result(s, store, job, apr_psprintf(p, "cannot place the result file: %s", strerror(errno)), p);
        return;
    }
    /* The raster, the upload and the strips have served their purpose. */
    tiler_spool_drop_work(c->spool_dir, job->id);
    if (tiler_store_finish(store, job->id, "done", NULL) < 0)
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, APLOGNO(30803) "job %s: cannot mark done: %s", job->id,
                     tiler_store_error(store));
    else if (!tiler_encoder_removed(c, store, job->id, p))
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, APLOGNO(30804) "job %s done: %ux%u, %u tiles, %s joined from %u strips "
                     "(%u encoded at the end) in %" APR_TIME_T_FMT " ms", job->id, job->width, job->height,
                     job->tiles_total, strcmp(job->format, "jpeg") ? "PNG" : "JPEG", n, late,
                     apr_time_as_msec(apr_time_now() - t0));
}

/* Encodes the raster into the JPEG file at tmp a band at a time, freeing
 * each band's rows once encoded. 0, or -1 with err; f is closed. */
static int write_jpeg(server_rec *s, const tiler_job *job, const char *raster, const char *tmp, char *err, size_t errlen)
{
    uint32_t top, n, freed = 0;
    tiler_jpeg_out *j;
    int rc = 0, *px = malloc((size_t)job->width * TILER_JPEG_BAND_ROWS * sizeof(int));
    FILE *f = fopen(tmp, "wb");
    if (!f || !px) {
        snprintf(err, errlen, f ? "out of memory for a band of the JPEG" : "cannot create the result file: %s", strerror(errno));
        if (f) fclose(f);
        free(px);
        return -1;
    }
    j = tiler_jpeg_out_begin(f, job->width, job->height, TILER_JPEG_QUALITY, err, errlen);
    for (top = 0; j && rc == 0 && top < job->height; top += n) {
        n = job->height - top < TILER_JPEG_BAND_ROWS ? job->height - top : TILER_JPEG_BAND_ROWS;
        if ((rc = tiler_raster_read_rows(raster, job->width, job->height, top, n, px, err, errlen)) == 0
            && (rc = tiler_jpeg_out_rows(j, px, n, err, errlen)) == 0) {
            /* From the band before: the block it shared with this one goes too. */
            release_rows(s, raster, job, freed, top + n - freed);
            freed = top;
        }
    }
    if (!j) {
        rc = -1;
    } else if (rc == 0) {
        rc = tiler_jpeg_out_end(j, err, errlen);
    } else {
        char ignored[8];
        tiler_jpeg_out_end(j, ignored, sizeof(ignored));
    }
    free(px);
    if (fclose(f) != 0 && rc == 0) {
        snprintf(err, errlen, "cannot write the result file: %s", strerror(errno));
        rc = -1;
    }
    return rc;
}

void tiler_encode_jpeg_result(server_rec *s, tiler_store *store, const tiler_job *job, apr_pool_t *p)
{
    tiler_srv_conf *c = tiler_srv(s);
    char raster[4096], tmp[4096], result[4096], err[512];
    apr_time_t t0 = apr_time_now();
    int hole = 0;

    if (tiler_spool_path(raster, sizeof(raster), c->spool_dir, job->id, TILER_SPOOL_RASTER) < 0
        || tiler_spool_path(tmp, sizeof(tmp), c->spool_dir, job->id, TILER_SPOOL_RESULT_TMP) < 0
        || tiler_spool_path(result, sizeof(result), c->spool_dir, job->id, TILER_SPOOL_RESULT) < 0) {
        fail_result(s, store, job, "no spool path for the result", p);
        return;
    }
    /* An encoding cut short (the child died) leaves its result.tmp, and
     * may have freed rows: every tile is in, so every row was written, and
     * a hole is rows that are gone. Failing says so, where encoding would
     * show them as black. (A hole alone is not enough: some file systems
     * store written blocks of zeros as holes.) */
    if (access(tmp, F_OK) == 0 && (hole = tiler_raster_has_hole(raster, err, sizeof(err))) != 0) {
        fail_result(s, store, job, hole < 0 ? err : "the encoding of the result was interrupted after it had freed "
                    "part of the raster; submit the image again", p);
        return;
    }
    if (write_jpeg(s, job, raster, tmp, err, sizeof(err)) < 0) { fail_result(s, store, job, err, p); return; }
    if (rename(tmp, result) < 0) {
        fail_result(s, store, job, apr_psprintf(p, "cannot place the result file: %s", strerror(errno)), p);
        return;
    }
    tiler_spool_drop_work(c->spool_dir, job->id);
    if (tiler_store_finish(store, job->id, "done", NULL) < 0)
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, APLOGNO(30842) "job %s: cannot mark done: %s", job->id,
                     tiler_store_error(store));
    else if (!tiler_encoder_removed(c, store, job->id, p))
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, APLOGNO(30843) "job %s done: %ux%u, %u tiles, JPEG encoded in bands "
                     "of %u rows in %" APR_TIME_T_FMT " ms", job->id, job->width, job->height, job->tiles_total,
                     TILER_JPEG_BAND_ROWS, apr_time_as_msec(apr_time_now() - t0));
}

/* A TIFF job's tiles are all placed: its directory and header go on the
 * tiles file, which then becomes the result. Nothing is decoded or copied,
 * so this costs the same whatever the chain or the compression level. */
void tiler_encode_tiff_result(server_rec *s, tiler_store *store, const tiler_job *job, apr_pool_t *p)
{
    tiler_srv_conf *c = tiler_srv(s);
    char tiles[4096], index[4096], result[4096], err[512];
    tiler_tile_enc enc;
    apr_time_t t0 = apr_time_now();

    if (tiler_spool_path(tiles, sizeof(tiles), c->spool_dir, job->id, TILER_SPOOL_TILES) < 0
        || tiler_spool_path(index, sizeof(index), c->spool_dir, job->id, TILER_SPOOL_TILE_INDEX) < 0
        || tiler_spool_path(result, sizeof(result), c->spool_dir, job->id, TILER_SPOOL_RESULT) < 0) {
        fail_result(s, store, job, "no spool path for the result", p);
        return;
    }
    if (!tiler_tiff_out_job(job, &enc)) {
        /* A compression this build does not know (a newer build's store). */
        fail_result(s, store, job, apr_psprintf(p, "unknown TIFF compression '%s'", job->compression ? job->compression : ""), p);
        return;
    }
    /* Renamed already by a finish cut short before the job was marked:
     * the result is whole. */
    if (access(tiles, F_OK) != 0 && access(result, R_OK) == 0) {
        /* fall through to marking it done */
    } else if (tiler_tiff_out_finish(tiles, index, job->width, job->height, &enc, err, sizeof(err)) < 0) {
        fail_result(s, store, job, err, p);
        return;
    } else if (rename(tiles, result) < 0) {
        fail_result(s, store, job, apr_psprintf(p, "cannot place the result file: %s", strerror(errno)), p);
        return;
    }
    tiler_spool_drop_work(c->spool_dir, job->id);
    if (tiler_store_finish(store, job->id, "done", NULL) < 0)
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, APLOGNO(30870) "job %s: cannot mark done: %s", job->id,
                     tiler_store_error(store));
    else if (!tiler_encoder_removed(c, store, job->id, p))
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, APLOGNO(30871) "job %s done: %ux%u, %u tiles, TIFF of the workers' "
                     "%s tiles, directory written in %" APR_TIME_T_FMT " ms", job->id, job->width, job->height,
                     job->tiles_total, enc.codec == TILER_CODEC_TIFF_JPEG ? "JPEG" : "deflated",
                     apr_time_as_msec(apr_time_now() - t0));
}

/* Each task opens its own store connection: a connection is one thread's. */
static int task_store(tiler_encoder *e, tiler_store **st, apr_pool_t **p)
{
    const char *err;
    if (apr_pool_create_unmanaged_ex(p, NULL, NULL) != APR_SUCCESS) return -1;
    if (tiler_store_open(st, tiler_store_path(*p, e->c), *p, &err) < 0) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, e->s, APLOGNO(30805) "result encoder: %s", err);
        apr_pool_destroy(*p);
        return -1;
    }
    return 0;
}

static int active(const tiler_job *job)
{
    return !strcmp(job->state, "queued") || !strcmp(job->state, "running");
}

static void queue_feed(tiler_encoder *e, const char *id, tiler_store *st, apr_pool_t *p);

/* Encodes the job's result now, in this thread, if it is still to do. */
static void finish_now(tiler_encoder *e, const char *id)
{
    tiler_store *st;
    tiler_job job;
    apr_pool_t *p;
    if (task_store(e, &st, &p) < 0) return;
    if (tiler_store_get_job(st, id, &job, p) == 0 && active(&job)) {
        apr_time_t t0 = apr_time_now();
        /* Every strip is complete: the pyramid's feed may read them all. */
        if (tiler_zoom_feeds_ready(e->feeds, &job, UINT32_MAX)) queue_feed(e, id, st, p);
        if (!strcmp(job.format, "tiff")) tiler_encode_tiff_result(e->s, st, &job, p);
        else if (tiler_assembly_in_strips(&job)) tiler_encode_strips_result(e, st, &job, p);
        else tiler_encode_jpeg_result(e->s, st, &job, p);
        if (tiler_metrics_observe(st, &tiler_h_encode_seconds, (double)(apr_time_now() - t0) / APR_USEC_PER_SEC) < 0)
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, e->s, APLOGNO(30806) "job %s: encode time not counted: %s", id,
                         tiler_store_error(st));
        /* Done, or not: the zoom task looks. It is queued after the job is
         * marked done, so the job's time does not include it. */
        job.state = "done";
        if (tiler_zoom_wanted(e->c, &job)) tiler_encoder_zoom(e, id);
    }
    apr_pool_destroy(p);
}

/* 1 when the job's result file is in place (its finish got that far). */
static int result_placed(const tiler_srv_conf *c, const char *id)
{
    char path[4096];
    return tiler_spool_path(path, sizeof(path), c->spool_dir, id, TILER_SPOOL_RESULT) == 0 && access(path, F_OK) == 0;
}

/* Encodes the task's strip of the active job, and sees to it if the job
 * ended (or went) meanwhile. */
static void encode_task_strip(task *k, tiler_store *st, const tiler_job *job, apr_pool_t *p)
{
    tiler_job now;
    char err[512], path[4096];
    int rc = tiler_encode_strip(k->e, job, k->strip, err, sizeof(err));
    /* Look again now that the strip is (or is not) written. A store
     * error leaves `now` unset: then only the strip's own outcome
     * counts. */
    int seen = tiler_store_get_job(st, k->id, &now, p);
    if (seen == 1) {
        /* Removed while the strip was made: tidy, say nothing. */
        tiler_spool_remove(k->e->c->spool_dir, k->id);
    } else if ((seen == 0 && !active(&now)) || result_placed(k->e->c, k->id)) {
        /* Ended meanwhile (failed, or finished from its own copy of
         * this strip): the strip is work nobody will drop again.
         * A finish places the result before it drops the raster
         * and only then marks the job done: a job still active
         * with its result placed is being finished, and this
         * strip failed (or was made) only because it was late. */
        if (tiler_spool_strip_path(path, sizeof(path), k->e->c->spool_dir, k->id, k->strip) == 0) unlink(path);
    } else if (rc < 0 && rc != -2) {
        /* A strip that cannot be written (a full disk) would fail
         * the finish too: fail now, and free the disk now. (-2: its
         * raster went while it was made, with the job, which whoever
         * removed it is failing or deleting.) */
        fail_result(k->e->s, st, job, apr_psprintf(p, "strip %u: %s", k->strip, err), p);
    }
}

static void *APR_THREAD_FUNC strip_task(apr_thread_t *t, void *data)
{
    task *k = data;
    tiler_store *st;
    tiler_job job;
    apr_pool_t *p;
    (void)t;
    if (task_store(k->e, &st, &p) == 0) {
        if (tiler_store_get_job(st, k->id, &job, p) == 0 && active(&job)) {
            /* The pyramid's feed first, so that the strip's rows stay for it. */
            if (tiler_zoom_feeds_ready(k->e->feeds, &job, k->strip)) queue_feed(k->e, k->id, st, p);
            /* A TIFF's row of tiles is told only for that feed: its tiles
             * are in the result already. */
            if (strcmp(job.format, "tiff")) encode_task_strip(k, st, &job, p);
        }
        apr_pool_destroy(p);
    }
    free(k);
    return NULL;
}

static void *APR_THREAD_FUNC finish_task(apr_thread_t *t, void *data)
{
    task *k = data;
    tiler_encoder *e = k->e;
    void *key;
    (void)t;
    finish_now(e, k->id);
    apr_thread_mutex_lock(e->lock);
    key = (void *)apr_hash_get(e->finishing, k->id, APR_HASH_KEY_STRING);
    apr_hash_set(e->finishing, k->id, APR_HASH_KEY_STRING, NULL);
    apr_thread_mutex_unlock(e->lock);
    free(key);
    free(k);
    return NULL;
}

static task *new_task(tiler_encoder *e, const char *id, uint32_t strip)
{
    task *k = malloc(sizeof(*k));
    if (!k) return NULL;
    k->e = e;
    apr_cpystrn(k->id, id, sizeof(k->id));
    k->strip = strip;
    return k;
}

void tiler_encoder_strip(tiler_encoder *e, const char *id, uint32_t k)
{
    task *t;
    if (!e->tp) return;   /* no threads: the finish encodes every strip */
    if ((t = new_task(e, id, k)) && apr_thread_pool_push(e->tp, strip_task, t, APR_THREAD_TASK_PRIORITY_NORMAL, e))
        free(t);
}

void tiler_encoder_finish(tiler_encoder *e, const char *id)
{
    task *k;
    char *key;
    if (!e->tp) {
        /* No threads: encode here, as before there were any. */
        finish_now(e, id);
        return;
    }
    apr_thread_mutex_lock(e->lock);
    if (apr_hash_get(e->finishing, id, APR_HASH_KEY_STRING) || !(key = strdup(id)) || !(k = new_task(e, id, 0))) {
        apr_thread_mutex_unlock(e->lock);
        return;
    }
    apr_hash_set(e->finishing, key, APR_HASH_KEY_STRING, key);
    apr_thread_mutex_unlock(e->lock);
    if (apr_thread_pool_push(e->tp, finish_task, k, APR_THREAD_TASK_PRIORITY_NORMAL, e) != APR_SUCCESS) {
        apr_thread_mutex_lock(e->lock);
        apr_hash_set(e->finishing, key, APR_HASH_KEY_STRING, NULL);
        apr_thread_mutex_unlock(e->lock);
        free(key);
        free(k);
    }
}

static void *APR_THREAD_FUNC feed_task(apr_thread_t *t, void *data)
{
    task *k = data;
    tiler_store *st;
    apr_pool_t *p;
    (void)t;
    if (task_store(k->e, &st, &p) == 0) {
        /* Given up after the job was done: the build from the result. */
        if (tiler_zoom_feeds_run(k->e->feeds, st, k->id, &k->e->stopping, p)) tiler_encoder_zoom(k->e, k->id);
        apr_pool_destroy(p);
    } else {
        tiler_zoom_feeds_drop(k->e->feeds, k->id);
    }
    free(k);
    return NULL;
}

/* Runs the job's pyramid feed on a thread of the pool, below the strips
 * and finishes (which hold up jobs) and above builds from result files;
 * here, with st, when there are no threads. */
static void queue_feed(tiler_encoder *e, const char *id, tiler_store *st, apr_pool_t *p)
{
    task *k;
    if (e->tp && (k = new_task(e, id, 0))) {
        if (apr_thread_pool_push(e->tp, feed_task, k, APR_THREAD_TASK_PRIORITY_LOW, e) == APR_SUCCESS) return;
        free(k);
    }
    if (tiler_zoom_feeds_run(e->feeds, st, id, &e->stopping, p)) tiler_encoder_zoom(e, id);
}

void tiler_encoder_sweep_feeds(tiler_encoder *e, tiler_store *store, apr_pool_t *p)
{
    tiler_zoom_feeds_sweep(e->feeds, store, p);
}

static void *APR_THREAD_FUNC zoom_task(apr_thread_t *t, void *data)
{
    task *k = data;
    tiler_encoder *e = k->e;
    tiler_store *st;
    apr_pool_t *p;
    void *key;
    (void)t;
    if (task_store(e, &st, &p) == 0) {
        tiler_zoom_build(e->s, st, k->id, &e->stopping, p);
        apr_pool_destroy(p);
    }
    apr_thread_mutex_lock(e->lock);
    key = (void *)apr_hash_get(e->zooming, k->id, APR_HASH_KEY_STRING);
    apr_hash_set(e->zooming, k->id, APR_HASH_KEY_STRING, NULL);
    apr_thread_mutex_unlock(e->lock);
    free(key);
    free(k);
    return NULL;
}

int tiler_encoder_zoom(tiler_encoder *e, const char *id)
{
    task *k;
    char *key;
    if (tiler_zoom_feeds_has(e->feeds, id)) return 0;   /* fed as it was assembled */
    if (!e->tp) {
        /* No threads: build here, as results are encoded here then. */
        tiler_store *st;
        apr_pool_t *p;
        if (task_store(e, &st, &p) == 0) {
            tiler_zoom_build(e->s, st, id, &e->stopping, p);
            apr_pool_destroy(p);
        }
        return 1;
    }
    apr_thread_mutex_lock(e->lock);
    if (apr_hash_get(e->zooming, id, APR_HASH_KEY_STRING) || !(key = strdup(id)) || !(k = new_task(e, id, 0))) {
        apr_thread_mutex_unlock(e->lock);
        return 0;
    }
    apr_hash_set(e->zooming, key, APR_HASH_KEY_STRING, key);
    apr_thread_mutex_unlock(e->lock);
    /* Lowest priority: the jobs' strips and finishes go first. */
    if (apr_thread_pool_push(e->tp, zoom_task, k, APR_THREAD_TASK_PRIORITY_LOWEST, e) != APR_SUCCESS) {
        apr_thread_mutex_lock(e->lock);
        apr_hash_set(e->zooming, key, APR_HASH_KEY_STRING, NULL);
        apr_thread_mutex_unlock(e->lock);
        free(key);
        free(k);
        return 0;
    }
    return 1;
}
