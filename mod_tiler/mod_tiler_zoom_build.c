/* Building a done job's zoom pyramid from its result file, read back as a
 * stream (tiler_rows.h) and fed a row at a time to tiler_pyramid.c: for
 * the results that were not fed their pyramid while they were assembled
 * (mod_tiler_zoom_feed.h): TIFF results, JPEGs encoded at the end, and
 * jobs whose assembly a restart interrupted. Reading the result back costs
 * a decode, measured in docs/zoom.md. */
#include "mod_tiler_zoom.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <apr_strings.h>
#include <http_log.h>
#include "mod_tiler_encoder.h"
#include "tiler_defaults.h"
#include "tiler_pyramid.h"
#include "tiler_spool.h"

/* Notes that the pyramid cannot be built, so that it is not tried again
 * at every start and the zoom URLs say so (404 no_zoom). An empty file:
 * it needs no data block, even on a full disk. */
void tiler_zoom_note_failed(const tiler_srv_conf *c, const char *id)
{
    char path[4096];
    int fd;
    if (tiler_spool_path(path, sizeof(path), c->spool_dir, id, TILER_SPOOL_ZOOM_FAILED) == 0
        && (fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0640)) >= 0)
        close(fd);
}

void tiler_zoom_report(server_rec *s, const tiler_job *job, int rc, const char *err, int assembled, apr_time_t t0)
{
    const char *id = job->id;
    if (rc == -3) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, APLOGNO(30906) "job %s: zoomable view left for the next start: %s", id, err);
    } else if (rc == -2) {
        tiler_zoom_note_failed(tiler_srv(s), id);
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, APLOGNO(30901) "job %s: the spool has no room for its zoomable "
                     "view (%s); the job stays done and its page shows the preview", id, err);
    } else if (rc < 0) {
        tiler_zoom_note_failed(tiler_srv(s), id);
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, APLOGNO(30902) "job %s: cannot build its zoomable view: %s", id, err);
    } else if (assembled) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, APLOGNO(30908) "job %s: zoomable view of %ux%u built from its tiles "
                     "as they were assembled (%u levels), %" APR_TIME_T_FMT " ms after its first strip", id, job->width,
                     job->height, tiler_pyramid_max_level(job->width, job->height) + 1, apr_time_as_msec(apr_time_now() - t0));
    } else {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, APLOGNO(30903) "job %s: zoomable view of %ux%u built (%u levels) "
                     "in %" APR_TIME_T_FMT " ms", id, job->width, job->height,
                     tiler_pyramid_max_level(job->width, job->height) + 1, apr_time_as_msec(apr_time_now() - t0));
    }
}

void tiler_zoom_build(server_rec *s, tiler_store *store, const char *id, const volatile int *cancel, apr_pool_t *p)
{
    const tiler_srv_conf *c = tiler_srv(s);
    tiler_job job;
    char result[4096], zoom[4096], tmp[4096], lock[4096], err[512] = "";
    apr_time_t t0 = apr_time_now();
    int fd, rc;

    if (tiler_store_get_job(store, id, &job, p) != 0 || tiler_zoom_state_of(c, &job) != TILER_ZOOM_PENDING) return;
    if (tiler_spool_path(result, sizeof(result), c->spool_dir, id, TILER_SPOOL_RESULT) < 0
        || tiler_spool_path(zoom, sizeof(zoom), c->spool_dir, id, TILER_SPOOL_ZOOM) < 0
        || tiler_spool_path(tmp, sizeof(tmp), c->spool_dir, id, TILER_SPOOL_ZOOM_TMP) < 0
        || tiler_spool_path(lock, sizeof(lock), c->spool_dir, id, TILER_SPOOL_ZOOM_LOCK) < 0)
        return;
    /* One builder per job across processes (after a graceful restart the
     * old child may still be building): the one holding the lock builds,
     * the other leaves it. */
    if ((fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0640)) < 0) {
        /* ENOENT: the job's directory went (deleted meanwhile). Anything
         * else would leave the page waiting for a view never built: note
         * it failed, so that the zoom URLs say 404 no_zoom. */
        if (errno != ENOENT) {
            ap_log_error(APLOG_MARK, APLOG_ERR, errno, s, APLOGNO(30907) "job %s: cannot build its zoomable view: "
                         "cannot open %s", id, lock);
            tiler_zoom_note_failed(c, id);
        }
        return;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0 || tiler_zoom_state_of(c, &job) != TILER_ZOOM_PENDING) {
        close(fd);
        return;
    }
    /* A half-built pyramid (a restart cut it short) is started again. */
    tiler_spool_zoom_remove(c->spool_dir, id, 1);
    if (mkdir(tmp, 0750) < 0) {
        rc = errno == ENOSPC || errno == EDQUOT ? -2 : -1;
        snprintf(err, sizeof(err), "cannot make the pyramid's directory: %s", strerror(errno));
    } else {
        rc = tiler_pyramid_build_file(result, tmp, job.width, job.height, TILER_ZOOM_PNG_LEVEL, cancel, err, sizeof(err));
    }
    /* Complete: renamed into place, so a half-built pyramid is never served. */
    if (rc == 0 && rename(tmp, zoom) < 0) {
        rc = errno == ENOSPC || errno == EDQUOT ? -2 : -1;
        snprintf(err, sizeof(err), "cannot place the pyramid: %s", strerror(errno));
    }
    if (rc < 0) tiler_spool_zoom_remove(c->spool_dir, id, 1);
    /* Deleted meanwhile: what was built is this thread's to remove. */
    if (tiler_encoder_removed(c, store, id, p)) {
        close(fd);
        return;
    }
    tiler_zoom_report(s, &job, rc, err, 0, t0);
    close(fd);
}

void tiler_zoom_catch_up(server_rec *s, tiler_store *store, tiler_encoder *e, apr_pool_t *p)
{
    const tiler_srv_conf *c = tiler_srv(s);
    apr_array_header_t *ids;
    tiler_job job;
    int i, n = 0;
    if (!c->zoom) return;
    tiler_encoder_sweep_feeds(e, store, p);
    /* Every finished job: a build cut short by a restart left its job done
     * without a pyramid (and perhaps a half-built one, started again), and
     * one that found another process's build under way (the old child of a
     * graceful restart, which stops it) is looked at again next time. */
    if (tiler_store_finished_before(store, INT64_MAX, &ids, p) < 0) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, APLOGNO(30904) "cannot look for jobs missing their zoomable view: %s",
                     tiler_store_error(store));
        return;
    }
    for (i = 0; i < ids->nelts; i++) {
        const char *id = APR_ARRAY_IDX(ids, i, const char *);
        if (tiler_store_get_job(store, id, &job, p) == 0 && tiler_zoom_state_of(c, &job) == TILER_ZOOM_PENDING)
            n += tiler_encoder_zoom(e, id);
    }
    if (n)
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, APLOGNO(30905) "%d done jobs lack their zoomable view: building them", n);
}
