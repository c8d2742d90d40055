/* The zoomable view of a big result: a DZI pyramid (tiler_pyramid.h) in
 * the job's spool directory, built by the encoder's threads while the
 * result is assembled (mod_tiler_zoom_feed.c) or else from the result
 * once the job is done (mod_tiler_zoom_build.c), and served here:
 * GET {loc}/api/jobs/{id}/zoom.dzi and .../zoom_files/L/C_R.png. */
#ifndef MOD_TILER_ZOOM_H
#define MOD_TILER_ZOOM_H

#include "mod_tiler.h"
#include "tiler_store.h"
#include "tiler_zoom_url.h"

typedef enum { TILER_ZOOM_NOT_WANTED, TILER_ZOOM_PENDING, TILER_ZOOM_READY, TILER_ZOOM_FAILED } tiler_zoom_state;

/* Whether the done job gets a pyramid: TilerZoom On and more pixels than
 * TilerPreviewAbovePixels, both the main server's (the results consumer,
 * which builds, has only those). */
int tiler_zoom_wanted(const tiler_srv_conf *c, const tiler_job *job);
/* Whether the job will want one once done. */
int tiler_zoom_will_want(const tiler_srv_conf *c, const tiler_job *job);
tiler_zoom_state tiler_zoom_state_of(const tiler_srv_conf *c, const tiler_job *job);
/* Sets job->zoom (zoom_url in the job's JSON) for a request. */
void tiler_zoom_mark(request_rec *r, tiler_job *job);
/* Answers a zoom URL of job id (kind from tiler_zoom_url_parse). */
int tiler_zoom_serve(request_rec *r, const char *id, tiler_zoom_kind kind, const tiler_zoom_tile *t);

/* Builds the done job's pyramid if it is wanted and missing; on the
 * calling thread, which it may hold for a while (about 17 s per 100 MP).
 * It stops soon after *cancel becomes non-zero (httpd stopping): the next
 * start builds it again. */
void tiler_zoom_build(server_rec *s, tiler_store *store, const char *id, const volatile int *cancel, apr_pool_t *p);
/* Notes that the job's pyramid cannot be built (zoom.failed), so that it
 * is not tried again and its URLs answer 404 no_zoom. */
void tiler_zoom_note_failed(const tiler_srv_conf *c, const char *id);
/* Logs how a build ended: rc as tiler_pyramid_build_file (0 built, -1
 * failed, -2 no room, -3 cancelled), noting the failures; assembled when
 * it was fed as the result was assembled, t0 when it began. */
void tiler_zoom_report(server_rec *s, const tiler_job *job, int rc, const char *err, int assembled, apr_time_t t0);
/* Queues the builds of every done job that lacks its pyramid and is not
 * queued yet: when the results consumer starts (a restart cut them short)
 * and then every minute (a build another process held may have stopped). */
struct tiler_encoder;
void tiler_zoom_catch_up(server_rec *s, tiler_store *store, struct tiler_encoder *e, apr_pool_t *p);

#endif
