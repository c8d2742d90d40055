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
#include "tiler_png_tile.h"
#include "tiler_raster.h"
#include "tiler_spool.h"
#include "tiler_strip.h"
#include "tiler_tiff_out.h"
#include "tiler_zoom_feed.h"

/* One job's entry. f NULL: no feed here (it could not start, or was given
 * up); the entry only saves looking again at every strip, and goes when
 * the job ends (the sweep). */
typedef struct {
    char id[TILER_ID_HEX_LEN + 1];
    tiler_zoom_feed *f;
    int lock_fd;        /* zoom.lock, flocked for the feed's life: one builder per job */
    int running;        /* a run is queued or feeding */
    int give_up;        /* too much raster held: the run gives the feed up */
    apr_time_t t0;
} entry;

struct tiler_zoom_feeds {
    server_rec *s;
    const tiler_srv_conf *c;
    apr_thread_mutex_t *lock;
    apr_hash_t *jobs;   /* id -> entry, malloc'd; the key is the entry's id */
};

static void close_feed(entry *e)
{
    tiler_zoom_feed_close(e->f);
    e->f = NULL;
    if (e->lock_fd >= 0) close(e->lock_fd);
    e->lock_fd = -1;
}

/* At stop, after the encoder's threads have ended. */
static apr_status_t close_all(void *data)
{
    tiler_zoom_feeds *z = data;
    apr_hash_index_t *hi;
    for (hi = apr_hash_first(NULL, z->jobs); hi; hi = apr_hash_next(hi)) {
        entry *e = apr_hash_this_val(hi);
        apr_hash_set(z->jobs, e->id, APR_HASH_KEY_STRING, NULL);   /* before its key is freed */
        close_feed(e);
        free(e);
    }
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

/* Opens the feed of the job's source: its raster, or the workers' tiles
 * (a TIFF's, or a PNG's whose rows the workers deflated). */
static tiler_zoom_feed *open_feed(const tiler_srv_conf *c, const tiler_job *job, const char *tmp, int *full,
                                  char *err, size_t errlen)
{
    char src[4096], index[4096];
    tiler_tile_enc enc;
    if (!tiler_job_enc(job, &enc)) {
        if (tiler_spool_path(src, sizeof(src), c->spool_dir, job->id, TILER_SPOOL_RASTER) < 0) goto no_path;
        return tiler_zoom_feed_open(src, tmp, job->width, job->height, job->tile_size, tiler_encoder_png_color(job),
                                    TILER_ZOOM_PNG_LEVEL, full, err, errlen);
    }
    if (tiler_spool_path(src, sizeof(src), c->spool_dir, job->id, TILER_SPOOL_TILES) < 0
        || tiler_spool_path(index, sizeof(index), c->spool_dir, job->id, TILER_SPOOL_TILE_INDEX) < 0)
        goto no_path;
    return tiler_zoom_feed_open_tiles(src, index, tmp, job->width, job->height, enc.side, enc.samples,
                                      enc.codec == TILER_CODEC_PNG_ROWS, TILER_ZOOM_PNG_LEVEL, full, err, errlen);
no_path:
    snprintf(err, errlen, "no spool path for its source");
    *full = 0;
    return NULL;
}

/* Whether another process may hold the job's zoom lock (feeding it: the
 * old child of a graceful restart). A shared probe, so that it seldom
 * stands in the way of a feed starting; a lock that cannot be looked at
 * counts as held (rows kept are safe, rows freed under a feed are not). */
static int locked_elsewhere(const tiler_srv_conf *c, const char *id)
{
    char path[4096];
    int fd, held;
    if (tiler_spool_path(path, sizeof(path), c->spool_dir, id, TILER_SPOOL_ZOOM_LOCK) < 0) return 1;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) return errno != ENOENT;
    held = flock(fd, LOCK_SH | LOCK_NB) < 0;
    close(fd);   /* drops the probe's lock */
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

/* Starts the job's feed into zoom.tmp/ if it can (the caller locks: once
 * per job). The order matters against an encoder in another process: it
 * saves a strip and then frees its rows unless the zoom lock is held;
 * this takes the lock and then looks for saved strips. */
static void start(tiler_zoom_feeds *z, const tiler_job *job, entry *e)
{
    const tiler_srv_conf *c = z->c;
    char tmp[4096], lock[4096], zoom[4096], failed[4096], err[512] = "";
    int fd, full = 0;

    if (tiler_spool_path(tmp, sizeof(tmp), c->spool_dir, job->id, TILER_SPOOL_ZOOM_TMP) < 0
        || tiler_spool_path(lock, sizeof(lock), c->spool_dir, job->id, TILER_SPOOL_ZOOM_LOCK) < 0
        || tiler_spool_path(zoom, sizeof(zoom), c->spool_dir, job->id, TILER_SPOOL_ZOOM) < 0
        || tiler_spool_path(failed, sizeof(failed), c->spool_dir, job->id, TILER_SPOOL_ZOOM_FAILED) < 0
        || access(zoom, F_OK) == 0 || access(failed, F_OK) == 0)
        return;
    if ((fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0640)) < 0) return;
    /* A TIFF's tiles stay where they are placed: only a PNG's raster rows
     * (or its workers' tiles) may be gone. */
    if (flock(fd, LOCK_EX | LOCK_NB) < 0 || (is_png(job) && some_strip_encoded(c, job))) {
        close(fd);
        return;
    }
    tiler_spool_zoom_remove(c->spool_dir, job->id, 1);
    if (mkdir(tmp, 0750) < 0) {
        snprintf(err, sizeof(err), "cannot make the pyramid's directory: %s", strerror(errno));
    } else if ((e->f = open_feed(c, job, tmp, &full, err, sizeof(err)))) {
        e->lock_fd = fd;
        e->t0 = apr_time_now();
        return;
    }
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, z->s, APLOGNO(30909) "job %s: its zoomable view will be built from "
                 "the result once done: %s", job->id, err);
    tiler_spool_zoom_remove(c->spool_dir, job->id, 1);
    close(fd);
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

/* Frees strip k's raster rows (or a PNG's tiles under it), which the feed
 * has read or given up. */
static void free_rows(tiler_zoom_feeds *z, const tiler_job *job, uint32_t k)
{
    char path[4096], index[4096], err[512];
    uint32_t top = k * job->tile_size, n = job->height - top < job->tile_size ? job->height - top : job->tile_size;
    tiler_tile_enc enc;
    int rc = 0;
    if (tiler_png_tile_job(job, &enc)) {
        if (tiler_spool_path(path, sizeof(path), z->c->spool_dir, job->id, TILER_SPOOL_TILES) == 0
            && tiler_spool_path(index, sizeof(index), z->c->spool_dir, job->id, TILER_SPOOL_TILE_INDEX) == 0)
            rc = tiler_strip_release_tiles(path, index, job->width, enc.side, k, err, sizeof(err));
    } else if (tiler_spool_path(path, sizeof(path), z->c->spool_dir, job->id, TILER_SPOOL_RASTER) == 0) {
        rc = tiler_raster_release_rows(path, job->width, job->height, top, n, err, sizeof(err));
    }
    if (rc < 0) ap_log_error(APLOG_MARK, APLOG_WARNING, 0, z->s, APLOGNO(30910) "job %s: %s", job->id, err);
}

/* Gives the entry's feed up (the caller locks): the rows it held of
 * strips already encoded are freed when job is given (a job that has ended
 * has no raster), its lock goes. With keep the entry stays, feedless, so
 * that the job's next strips do not start a feed again; else it goes. */
static void give_up(tiler_zoom_feeds *z, entry *e, const tiler_job *job, int keep)
{
    uint32_t k, n = e->f ? tiler_zoom_feed_strips(e->f) : 0;
    for (k = 0; job && k < n; k++)
        if (tiler_zoom_feed_held(e->f, k)) free_rows(z, job, k);
    close_feed(e);
    e->running = 0;
    if (keep) return;
    apr_hash_set(z->jobs, e->id, APR_HASH_KEY_STRING, NULL);
    free(e);
}

/* The job's feed ends: rc 0 after its last strip (placed now), else -1 or
 * -2 (given up: the pyramid is left to the build from the result), -3
 * (stopping: the next start builds it). A job removed meanwhile is tidied
 * away without a word. 1 when the job is done and its pyramid is now to
 * be built from the result. */
static int end_feed(tiler_zoom_feeds *z, tiler_store *store, entry *e, int rc, char *err, size_t errlen, apr_pool_t *p)
{
    const tiler_srv_conf *c = z->c;
    char tmp[4096], zoom[4096];
    apr_time_t t0 = e->t0;
    tiler_job job;
    int got = tiler_store_get_job(store, e->id, &job, p);

    if (rc == 0) rc = tiler_zoom_feed_end(e->f, err, errlen);
    if (rc == 0 && (tiler_spool_path(tmp, sizeof(tmp), c->spool_dir, e->id, TILER_SPOOL_ZOOM_TMP) < 0
                    || tiler_spool_path(zoom, sizeof(zoom), c->spool_dir, e->id, TILER_SPOOL_ZOOM) < 0)) {
        snprintf(err, errlen, "no spool path for the pyramid");
        rc = -1;
    } else if (rc == 0 && rename(tmp, zoom) < 0) {
        snprintf(err, errlen, "cannot place the pyramid: %s", strerror(errno));
        rc = -1;
    }
    if (rc < 0) tiler_spool_zoom_remove(c->spool_dir, e->id, 1);
    if (got != 0) {
        memset(&job, 0, sizeof(job));
        apr_cpystrn(job.id, e->id, sizeof(job.id));
    }
    apr_thread_mutex_lock(z->lock);
    /* After the rename: no other builder starts before the lock goes. */
    give_up(z, e, got == 0 ? &job : NULL, rc == -1 || rc == -2);
    apr_thread_mutex_unlock(z->lock);
    if (tiler_encoder_removed(c, store, job.id, p)) return 0;
    if (rc == 0 && got == 0 && !strcmp(job.state, "failed")) {
        /* The job failed as its last strip was fed: no view for it. */
        tiler_spool_zoom_remove(c->spool_dir, job.id, 0);
        return 0;
    }
    if (rc == 0 || rc == -3) {
        tiler_zoom_report(z->s, &job, rc, err, 1, t0);
        return 0;
    }
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, z->s, APLOGNO(30911) "job %s: its zoomable view could not be fed as it "
                 "was assembled (%s); it is built from the result once the job is done", job.id, err);
    /* Looked at again after the feed was given up: a finish that marked
     * the job done before then found it fed and built nothing. */
    return tiler_store_get_job(store, job.id, &job, p) == 0 && !strcmp(job.state, "done");
}

int tiler_zoom_feeds_run(tiler_zoom_feeds *z, tiler_store *store, const char *id, const volatile int *cancel,
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
            return 0;
        }
        if (e->give_up) {
            snprintf(err, sizeof(err), "%u strips encoded before it could read them, over %llu MiB of raster kept",
                     tiler_zoom_feed_held_strips(e->f), TILER_ZOOM_FEED_MAX_HELD_BYTES >> 20);
            apr_thread_mutex_unlock(z->lock);
            rc = -1;
            break;
        }
        if (!tiler_zoom_feed_next(e->f, &k)) {
            if (!tiler_zoom_feed_complete(e->f)) {
                e->running = 0;   /* the next ready strip starts another run */
                apr_thread_mutex_unlock(z->lock);
                return 0;
            }
            apr_thread_mutex_unlock(z->lock);
            break;
        }
        apr_thread_mutex_unlock(z->lock);
        /* A job that failed or went meanwhile is fed no further. */
        got = tiler_store_get_job(store, id, &job, p);
        if (got == 1 || (got == 0 && !strcmp(job.state, "failed"))) {
            apr_thread_mutex_lock(z->lock);
            give_up(z, e, NULL, 0);
            apr_thread_mutex_unlock(z->lock);
            if (!tiler_encoder_removed(z->c, store, id, p)) tiler_spool_zoom_remove(z->c->spool_dir, id, 1);
            return 0;
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
    return end_feed(z, store, e, rc, err, sizeof(err), p);
}

int tiler_zoom_feeds_may_free(tiler_zoom_feeds *z, const tiler_job *job, uint32_t k)
{
    entry *e;
    int may;
    if (!z || !is_png(job)) return 1;
    apr_thread_mutex_lock(z->lock);
    if ((e = apr_hash_get(z->jobs, job->id, APR_HASH_KEY_STRING)) && e->f) {
        may = e->give_up || tiler_zoom_feed_encoded(e->f, k);
        if (!may && (uint64_t)tiler_zoom_feed_held_strips(e->f) * job->tile_size * job->width
                            * (uint64_t)tiler_zoom_feed_held_pixel_bytes(e->f) > TILER_ZOOM_FEED_MAX_HELD_BYTES) {
            /* Too far behind (strip 0 may come last): the feed goes, and the
             * rows it held with it. A running feed gives itself up. */
            may = 1;
            if (e->running) {
                e->give_up = 1;
            } else {
                ap_log_error(APLOG_MARK, APLOG_WARNING, 0, z->s, APLOGNO(30912) "job %s: its zoomable view fell behind "
                             "its assembly by %u strips, over %llu MiB of raster kept; it is built from the result "
                             "once the job is done", job->id, tiler_zoom_feed_held_strips(e->f),
                             TILER_ZOOM_FEED_MAX_HELD_BYTES >> 20);
                give_up(z, e, job, 1);
            }
        }
    } else {
        may = !fed_kind(z->c, job) || !locked_elsewhere(z->c, job->id);
    }
    apr_thread_mutex_unlock(z->lock);
    return may;
}

void tiler_zoom_feeds_drop(tiler_zoom_feeds *z, const char *id)
{
    entry *e;
    if (!z) return;
    apr_thread_mutex_lock(z->lock);
    if ((e = apr_hash_get(z->jobs, id, APR_HASH_KEY_STRING)) && e->f) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, z->s, APLOGNO(30913) "job %s: its zoomable view's feed cannot run; "
                     "it is built from the result once the job is done", id);
        give_up(z, e, NULL, 1);
    }
    apr_thread_mutex_unlock(z->lock);
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
    apr_array_header_t *ids;
    apr_hash_index_t *hi;
    tiler_job job;
    int i;
    if (!z) return;
    /* The ids under the lock, the store asked without it. */
    ids = apr_array_make(p, 8, sizeof(const char *));
    apr_thread_mutex_lock(z->lock);
    for (hi = apr_hash_first(p, z->jobs); hi; hi = apr_hash_next(hi)) {
        entry *e = apr_hash_this_val(hi);
        if (!e->running) APR_ARRAY_PUSH(ids, const char *) = apr_pstrdup(p, e->id);
    }
    apr_thread_mutex_unlock(z->lock);
    for (i = 0; i < ids->nelts; i++) {
        const char *id = APR_ARRAY_IDX(ids, i, const char *);
        entry *e;
        int got = tiler_store_get_job(store, id, &job, p);
        if (got < 0 || (got == 0 && (!strcmp(job.state, "queued") || !strcmp(job.state, "running")))) continue;
        /* Ended, and no run will feed it further (a done job's finish
         * started its last run, which ends the feed itself): the pyramid,
         * if wanted, is left to the build from the result. */
        apr_thread_mutex_lock(z->lock);
        if ((e = apr_hash_get(z->jobs, id, APR_HASH_KEY_STRING)) && !e->running) {
            /* Its half-built pyramid goes while its lock is held, so that
             * no build begun elsewhere meanwhile loses its own. */
            if (e->f && got == 0) tiler_spool_zoom_remove(z->c->spool_dir, id, 1);
            give_up(z, e, NULL, 0);
        }
        apr_thread_mutex_unlock(z->lock);
    }
}
