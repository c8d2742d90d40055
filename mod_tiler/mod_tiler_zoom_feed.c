#include "mod_tiler_zoom_feed.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <apr_hash.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>
#include <http_log.h>
#include "mod_tiler_encoder.h"
#include "mod_tiler_zoom.h"
#include "tiler_defaults.h"
#include "tiler_id.h"
#include "tiler_spool.h"
#include "tiler_tiff_out.h"
#include "tiler_zoom_feed.h"

/* One job's entry. f NULL: no feed here (it could not start); the entry
 * only saves looking again at every strip, and goes when the job ends. */
typedef struct {
    char id[TILER_ID_HEX_LEN + 1];
    tiler_zoom_feed *f;
    int lock_fd;        /* zoom.lock, flocked for the feed's life: one builder per job */
    int running;        /* a run is queued or feeding */
    apr_time_t t0;
} entry;

struct tiler_zoom_feeds {
    server_rec *s;
    const tiler_srv_conf *c;
    apr_thread_mutex_t *lock;
    apr_hash_t *jobs;   /* id -> entry, malloc'd */
};

static void entry_free(entry *e)
{
    tiler_zoom_feed_close(e->f);
    if (e->lock_fd >= 0) close(e->lock_fd);
    free(e);
}

static apr_status_t close_all(void *data)
{
    tiler_zoom_feeds *z = data;
    apr_hash_index_t *hi;
    for (hi = apr_hash_first(NULL, z->jobs); hi; hi = apr_hash_next(hi)) entry_free(apr_hash_this_val(hi));
    apr_hash_clear(z->jobs);
    return APR_SUCCESS;
}

tiler_zoom_feeds *tiler_zoom_feeds_create(server_rec *s, apr_pool_t *p)
{
    tiler_zoom_feeds *z = apr_pcalloc(p, sizeof(*z));
    z->s = s;
    z->c = tiler_srv(s);
    z->jobs = apr_hash_make(p);
    if (apr_thread_mutex_create(&z->lock, APR_THREAD_MUTEX_DEFAULT, p) != APR_SUCCESS) return NULL;
    apr_pool_cleanup_register(p, z, close_all, apr_pool_cleanup_null);
    return z;
}

/* Fed as assembled: a PNG result, whose pixels are the raster's exactly,
 * and a Deflate TIFF, whose tiles are the workers' own. A JPEG's pyramid
 * (and a JPEG TIFF's) is made from the result file, so that the view
 * shows what the download holds, JPEG's loss included, as it decodes. */
static int fed_kind(const tiler_srv_conf *c, const tiler_job *job)
{
    tiler_tile_enc enc;
    if (!tiler_zoom_will_want(c, job)) return 0;
    if (!strcmp(job->format, "png")) return 1;
    return tiler_tiff_out_job(job, &enc) && enc.codec == TILER_CODEC_TIFF_DEFLATE;
}

static int is_png(const tiler_job *job)
{
    return !strcmp(job->format, "png");
}

/* Opens the feed of the job's source: its raster, or its TIFF tiles. */
static tiler_zoom_feed *open_feed(const tiler_srv_conf *c, const tiler_job *job, const char *tmp, int *full,
                                  char *err, size_t errlen)
{
    char src[4096], index[4096];
    tiler_tile_enc enc;
    if (is_png(job)) {
        if (tiler_spool_path(src, sizeof(src), c->spool_dir, job->id, TILER_SPOOL_RASTER) < 0) goto no_path;
        return tiler_zoom_feed_open(src, tmp, job->width, job->height, job->tile_size, tiler_encoder_png_color(job),
                                    TILER_ZOOM_PNG_LEVEL, full, err, errlen);
    }
    tiler_tiff_out_job(job, &enc);
    if (tiler_spool_path(src, sizeof(src), c->spool_dir, job->id, TILER_SPOOL_TILES) < 0
        || tiler_spool_path(index, sizeof(index), c->spool_dir, job->id, TILER_SPOOL_TILE_INDEX) < 0)
        goto no_path;
    return tiler_zoom_feed_open_tiff(src, index, tmp, job->width, job->height, enc.side, enc.samples,
                                     TILER_ZOOM_PNG_LEVEL, full, err, errlen);
no_path:
    snprintf(err, errlen, "no spool path for its source");
    *full = 0;
    return NULL;
}

/* Whether another process holds the job's zoom lock (feeding it: the old
 * child of a graceful restart). */
static int locked_elsewhere(const tiler_srv_conf *c, const char *id)
{
    char path[4096];
    int fd, held;
    if (tiler_spool_path(path, sizeof(path), c->spool_dir, id, TILER_SPOOL_ZOOM_LOCK) < 0) return 0;
    if ((fd = open(path, O_RDWR | O_CLOEXEC)) < 0) return 0;
    held = flock(fd, LOCK_EX | LOCK_NB) < 0;
    close(fd);   /* drops the lock if this took it */
    return held;
}

/* 1 when some strip of the job is encoded already: its rows may be freed,
 * so the pyramid cannot be fed from the raster (a child that has stopped
 * assembled part of this job). */
static int some_strip_encoded(const tiler_srv_conf *c, const tiler_job *job)
{
    char path[4096];
    uint32_t k, n = (job->height + job->tile_size - 1) / job->tile_size;
    for (k = 0; k < n; k++)
        if (tiler_spool_strip_path(path, sizeof(path), c->spool_dir, job->id, k) < 0 || access(path, F_OK) == 0) return 1;
    return 0;
}

/* Starts the job's feed into zoom.tmp/ if it can (the caller locks). The
 * order matters against an encoder in another process: it saves a strip
 * and then frees its rows unless the zoom lock is held; this takes the
 * lock and then looks for saved strips. */
static void start(tiler_zoom_feeds *z, const tiler_job *job, entry *e)
{
    const tiler_srv_conf *c = z->c;
    char tmp[4096], lock[4096], zoom[4096], failed[4096], err[512];
    int fd, full;

    if (tiler_spool_path(tmp, sizeof(tmp), c->spool_dir, job->id, TILER_SPOOL_ZOOM_TMP) < 0
        || tiler_spool_path(lock, sizeof(lock), c->spool_dir, job->id, TILER_SPOOL_ZOOM_LOCK) < 0
        || tiler_spool_path(zoom, sizeof(zoom), c->spool_dir, job->id, TILER_SPOOL_ZOOM) < 0
        || tiler_spool_path(failed, sizeof(failed), c->spool_dir, job->id, TILER_SPOOL_ZOOM_FAILED) < 0
        || access(zoom, F_OK) == 0 || access(failed, F_OK) == 0)
        return;
    if ((fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0640)) < 0) return;
    /* A TIFF's tiles stay where they are placed: only a PNG's raster rows
     * may be gone. */
    if (flock(fd, LOCK_EX | LOCK_NB) < 0 || (is_png(job) && some_strip_encoded(c, job))) {
        close(fd);
        return;
    }
    tiler_spool_zoom_remove(c->spool_dir, job->id, 1);
    if (mkdir(tmp, 0750) < 0
        || !(e->f = open_feed(c, job, tmp, &full, err, sizeof(err)))) {
        if (!e->f && full) apr_cpystrn(err, "the spool is full", sizeof(err));
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, z->s, APLOGNO(30909) "job %s: its zoomable view will be built from "
                     "the result once done: %s", job->id, err);
        tiler_spool_zoom_remove(c->spool_dir, job->id, 1);
        close(fd);
        return;
    }
    e->lock_fd = fd;
    e->t0 = apr_time_now();
}

int tiler_zoom_feeds_ready(tiler_zoom_feeds *z, const tiler_job *job, uint32_t k)
{
    entry *e;
    uint32_t next;
    int run = 0;
    if (!z || !fed_kind(z->c, job)) return 0;
    apr_thread_mutex_lock(z->lock);
    if (!(e = apr_hash_get(z->jobs, job->id, APR_HASH_KEY_STRING)) && (e = calloc(1, sizeof(*e)))) {
        apr_cpystrn(e->id, job->id, sizeof(e->id));
        e->lock_fd = -1;
        start(z, job, e);
        apr_hash_set(z->jobs, e->id, APR_HASH_KEY_STRING, e);
    }
    if (e && e->f) {
        tiler_zoom_feed_ready(e->f, k);
        if (!e->running && tiler_zoom_feed_next(e->f, &next)) run = e->running = 1;
    }
    apr_thread_mutex_unlock(z->lock);
    return run;
}

/* Frees strip k's raster rows, which the feed has read or given up. */
static void free_rows(tiler_zoom_feeds *z, const tiler_job *job, uint32_t k)
{
    char raster[4096], err[512];
    uint32_t top = k * job->tile_size, n = job->height - top < job->tile_size ? job->height - top : job->tile_size;
    if (tiler_spool_path(raster, sizeof(raster), z->c->spool_dir, job->id, TILER_SPOOL_RASTER) == 0
        && tiler_raster_release_rows(raster, job->width, top, n, err, sizeof(err)) < 0)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, z->s, APLOGNO(30910) "job %s: %s", job->id, err);
}

/* Removes the job's entry (the caller locks) and frees it. The rows it
 * held of strips already encoded are freed now, when job is given (the
 * raster of a job that has ended is gone anyway). */
static void forget(tiler_zoom_feeds *z, entry *e, const tiler_job *job)
{
    uint32_t k, n = e->f ? tiler_zoom_feed_strips(e->f) : 0;
    for (k = 0; job && k < n; k++)
        if (tiler_zoom_feed_held(e->f, k)) free_rows(z, job, k);
    apr_hash_set(z->jobs, e->id, APR_HASH_KEY_STRING, NULL);
    entry_free(e);
}

/* The job's feed ends: placed (rc 0) or not. Its entry goes; a job
 * removed meanwhile is tidied away without a word. */
static void end_feed(tiler_zoom_feeds *z, tiler_store *store, entry *e, const tiler_job *job, int rc, char *err,
                     size_t errlen, apr_pool_t *p)
{
    const tiler_srv_conf *c = z->c;
    char tmp[4096], zoom[4096];
    apr_time_t t0 = e->t0;
    if (rc == 0) rc = tiler_zoom_feed_end(e->f, err, errlen);
    if (rc == 0 && (tiler_spool_path(tmp, sizeof(tmp), c->spool_dir, job->id, TILER_SPOOL_ZOOM_TMP) < 0
                    || tiler_spool_path(zoom, sizeof(zoom), c->spool_dir, job->id, TILER_SPOOL_ZOOM) < 0
                    || rename(tmp, zoom) < 0)) {
        rc = errno == ENOSPC || errno == EDQUOT ? -2 : -1;
        snprintf(err, errlen, "cannot place the pyramid: %s", strerror(errno));
    }
    if (rc < 0 && rc != -3) tiler_spool_zoom_remove(c->spool_dir, job->id, 1);
    apr_thread_mutex_lock(z->lock);
    forget(z, e, job->width ? job : NULL);   /* closes the zoom lock: after the rename, so no other builder starts before it */
    apr_thread_mutex_unlock(z->lock);
    if (!tiler_encoder_removed(c, store, job->id, p)) tiler_zoom_report(z->s, job, rc, err, 1, t0);
}

void tiler_zoom_feeds_run(tiler_zoom_feeds *z, tiler_store *store, const char *id, const volatile int *cancel,
                          apr_pool_t *p)
{
    char err[512] = "";
    tiler_job job;
    entry *e;
    uint32_t k;
    int rc = 0, got, free_now;

    for (;;) {
        apr_thread_mutex_lock(z->lock);
        if (!(e = apr_hash_get(z->jobs, id, APR_HASH_KEY_STRING)) || !e->f) {
            apr_thread_mutex_unlock(z->lock);
            return;
        }
        if (!tiler_zoom_feed_next(e->f, &k)) {
            if (!tiler_zoom_feed_complete(e->f)) {
                e->running = 0;   /* the next ready strip starts another run */
                apr_thread_mutex_unlock(z->lock);
                return;
            }
            apr_thread_mutex_unlock(z->lock);
            break;
        }
        apr_thread_mutex_unlock(z->lock);
        /* A job that failed or went meanwhile is fed no further. */
        got = tiler_store_get_job(store, id, &job, p);
        if (got == 1 || (got == 0 && !strcmp(job.state, "failed"))) {
            apr_thread_mutex_lock(z->lock);
            forget(z, e, NULL);
            apr_thread_mutex_unlock(z->lock);
            if (!tiler_encoder_removed(z->c, store, id, p)) tiler_spool_zoom_remove(z->c->spool_dir, id, 1);
            return;
        }
        if (got < 0) {
            snprintf(err, sizeof(err), "the store cannot say how the job is: %s", tiler_store_error(store));
            rc = -1;
            break;
        }
        if ((rc = tiler_zoom_feed_strip(e->f, k, cancel, err, sizeof(err))) < 0) break;
        apr_thread_mutex_lock(z->lock);
        free_now = tiler_zoom_feed_fed(e->f, k);
        apr_thread_mutex_unlock(z->lock);
        if (free_now) free_rows(z, &job, k);
    }
    if (tiler_store_get_job(store, id, &job, p) != 0) {
        /* Gone, or the store cannot say: the report has only its id. */
        memset(&job, 0, sizeof(job));
        apr_cpystrn(job.id, id, sizeof(job.id));
    }
    end_feed(z, store, e, &job, rc, err, sizeof(err), p);
}

int tiler_zoom_feeds_may_free(tiler_zoom_feeds *z, const tiler_job *job, uint32_t k)
{
    entry *e;
    int may;
    if (!z) return 1;
    apr_thread_mutex_lock(z->lock);
    if ((e = apr_hash_get(z->jobs, job->id, APR_HASH_KEY_STRING)) && e->f)
        may = tiler_zoom_feed_encoded(e->f, k);
    else
        may = !is_png(job) || !fed_kind(z->c, job) || !locked_elsewhere(z->c, job->id);
    apr_thread_mutex_unlock(z->lock);
    return may;
}

int tiler_zoom_feeds_has(tiler_zoom_feeds *z, const char *id)
{
    entry *e;
    int has;
    if (!z) return 0;
    apr_thread_mutex_lock(z->lock);
    has = (e = apr_hash_get(z->jobs, id, APR_HASH_KEY_STRING)) && e->f;
    apr_thread_mutex_unlock(z->lock);
    return has;
}

void tiler_zoom_feeds_sweep(tiler_zoom_feeds *z, tiler_store *store, apr_pool_t *p)
{
    apr_hash_index_t *hi;
    tiler_job job;
    if (!z) return;
    apr_thread_mutex_lock(z->lock);
    for (hi = apr_hash_first(p, z->jobs); hi; hi = apr_hash_next(hi)) {
        entry *e = apr_hash_this_val(hi);
        int got;
        if (e->running) continue;   /* its run looks at the job itself */
        got = tiler_store_get_job(store, e->id, &job, p);
        if (got < 0 || (got == 0 && (!strcmp(job.state, "queued") || !strcmp(job.state, "running")))) continue;
        /* Ended, and no run will feed it further (a done job's finish
         * started its last run, which ends the feed): the pyramid, if
         * wanted, is left to the build from the result. */
        if (e->f && got == 0) tiler_spool_zoom_remove(z->c->spool_dir, e->id, 1);
        forget(z, e, NULL);   /* apr_hash_set to NULL while iterating is allowed */
    }
    apr_thread_mutex_unlock(z->lock);
}
