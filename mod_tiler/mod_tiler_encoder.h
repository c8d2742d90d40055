/* Result encoding, off the results consumer's thread: a small thread pool
 * (TilerEncodeThreads) in the child that runs the consumer. A result is
 * encoded strip by strip, one strip per row of tiles, each as soon as its
 * row is complete; when the last tile lands only the last strips and the
 * joining are left (a JPEG whose tile size is not a multiple of 8 is
 * encoded at the end instead, a band of rows at a time). Either way the
 * raster's rows are freed on disk as they are encoded. One job's encoding never holds up other jobs' tiles. */
#ifndef MOD_TILER_ENCODER_H
#define MOD_TILER_ENCODER_H

#include "mod_tiler.h"
#include "tiler_store.h"

typedef struct tiler_encoder tiler_encoder;

/* The pool and its threads live in p; clearing p waits for running tasks
 * (queued ones are dropped: catch-up at the next start redoes them). */
tiler_encoder *tiler_encoder_create(server_rec *s, apr_pool_t *p);

/* Every tile of row k of the job is in (tiler_assembly decides when):
 * queue the encoding of strip k. Without threads, nothing: the finish
 * encodes every strip. */
void tiler_encoder_strip(tiler_encoder *e, const char *id, uint32_t k);

/* All tiles of the job are in: queue the result's encoding (once, however
 * often it is asked while queued or running). */
void tiler_encoder_finish(tiler_encoder *e, const char *id);

/* Encodes strip k of a job (PNG, or JPEG in strips) from its raster,
 * saves it to the spool and frees the strip's rows of the raster (unless
 * the job's zoom pyramid has yet to read them: mod_tiler_zoom_feed.h). 0,
 * -2 with err when the raster was removed meanwhile (its job ended or
 * went: not this strip's failure), or -1 with err. */
int tiler_encode_strip(tiler_encoder *e, const tiler_job *job, uint32_t k, char *err, size_t errlen);

/* Encodes a job's result from its strips (encoding those missing) and
 * moves the job to done or failed; a job removed meanwhile is tidied away
 * without a word. p is scratch. */
void tiler_encode_strips_result(tiler_encoder *e, tiler_store *store, const tiler_job *job, apr_pool_t *p);

/* Encodes a job's JPEG result from its raster a band of rows at a time,
 * freeing the raster's rows as they are encoded, and moves the job to done
 * or failed, as tiler_encode_strips_result does: for JPEG jobs whose tile
 * size is not a multiple of 8 (their rows of tiles do not start on MCU
 * rows, so they cannot be strips). */
void tiler_encode_jpeg_result(server_rec *s, tiler_store *store, const tiler_job *job, apr_pool_t *p);

/* Finishes a TIFF job (format=tiff): appends the directory to its placed
 * tiles and renames them into the result (tiler_tiff_out.h), then moves
 * the job to done or failed as the others do. */
void tiler_encode_tiff_result(server_rec *s, tiler_store *store, const tiler_job *job, apr_pool_t *p);

/* For a task that wrote a job's files: 1 when the job's row is gone (DELETE)
 * and its directory has now been removed with what the task wrote; 0 when
 * the job is still there (or the store cannot tell). */
/* Queues the build of the done job's zoom pyramid (mod_tiler_zoom.h) on
 * the encoder's threads, once at a time per job. 1 when queued now, 0 when
 * it already was (or could not be). */
int tiler_encoder_zoom(tiler_encoder *e, const char *id);

int tiler_encoder_removed(const tiler_srv_conf *c, tiler_store *store, const char *id, apr_pool_t *p);

/* The colour type (tiler_png.h) of the job's PNG result. */
int tiler_encoder_png_color(const tiler_job *job);

/* Forgets the pyramid feeds of jobs that ended without them
 * (tiler_zoom_feeds_sweep). */
void tiler_encoder_sweep_feeds(tiler_encoder *e, tiler_store *store, apr_pool_t *p);

#endif
