/* The zoom pyramids this process builds while results are assembled
 * (tiler_zoom_feed.h): one feed per job whose result will want one
 * (TilerZoom On, over TilerPreviewAbovePixels) and is a PNG (lossless:
 * the raster's pixels are the result's) or a Deflate TIFF (the workers'
 * tiles, placed in the result as they come). Started at the job's first complete strip, fed by
 * the encoder's threads in order, placed as zoom/ once the last strip is
 * fed. A job whose feed cannot start here (PNG strips encoded before, by a
 * child that has since stopped; another process feeding it; no room) gets
 * its pyramid from the result file once done (mod_tiler_zoom_build.c). */
#ifndef MOD_TILER_ZOOM_FEED_H
#define MOD_TILER_ZOOM_FEED_H

#include "mod_tiler.h"
#include "tiler_store.h"

typedef struct tiler_zoom_feeds tiler_zoom_feeds;

/* Lives in p: clearing p closes every feed (their half-built pyramids are
 * removed by the next build). Create it before the threads that feed, so
 * it is cleared after they have stopped. */
tiler_zoom_feeds *tiler_zoom_feeds_create(server_rec *s, apr_pool_t *p);

/* Every tile of strip k of the job (an active job) is placed; k >= its
 * strips: all of them (the last tile is in). Starts the job's feed at its
 * first call. 1 when the caller must now run tiler_zoom_feeds_run for the
 * job (on a thread of its own), 0 when nothing is to do or a run is on. */
int tiler_zoom_feeds_ready(tiler_zoom_feeds *z, const tiler_job *job, uint32_t k);

/* Feeds the job's ready strips in order; after the last, places the
 * pyramid. Stops within a row when *cancel becomes non-zero. A feed that
 * fails (a bad tile, the disk full, the store) or falls too far behind
 * (TILER_ZOOM_FEED_MAX_HELD_BYTES) is given up, its pyramid left to the
 * build from the result: 1 when the job is done and that build is due
 * now, else 0. */
int tiler_zoom_feeds_run(tiler_zoom_feeds *z, tiler_store *store, const char *id, const volatile int *cancel,
                         apr_pool_t *p);

/* Strip k of the job is encoded: 1 when its raster rows may be freed now,
 * 0 when a feed still needs them (it frees them once it has read them, or
 * when it is given up; the job's end drops the raster anyway). */
int tiler_zoom_feeds_may_free(tiler_zoom_feeds *z, const tiler_job *job, uint32_t k);

/* The run queued after tiler_zoom_feeds_ready cannot be made (no store
 * for it): the feed is given up, its pyramid left to the build from the
 * result (its held rows stay until the job ends). */
void tiler_zoom_feeds_drop(tiler_zoom_feeds *z, const char *id);

/* 1 when this process is feeding the job's pyramid: it is not built from
 * the result file. */
int tiler_zoom_feeds_has(tiler_zoom_feeds *z, const char *id);

/* Forgets jobs that ended without their feed (failed, removed, or done
 * with the pyramid left to the file build). Every minute, from the
 * results consumer. */
void tiler_zoom_feeds_sweep(tiler_zoom_feeds *z, tiler_store *store, apr_pool_t *p);

#endif
