/* GET {loc}/api/jobs/{id}/result[?thumb=N | ?preview]: the result (Range,
 * If-Range, ETag, conditional requests), a thumbnail made from it as a
 * stream, or the preview: the result itself up to TilerPreviewAbovePixels,
 * a TILER_PREVIEW_SIDE thumbnail above. */
#ifndef MOD_TILER_RESULT_H
#define MOD_TILER_RESULT_H

#include "mod_tiler.h"
#include "tiler_store.h"

int tiler_job_result(request_rec *r, const char *id);
/* Whether a page should show the job's preview rather than its result. */
int tiler_result_needs_preview(const tiler_srv_conf *c, const tiler_job *job);
/* Sends a spool file that never changes once in place (the result, a
 * thumbnail, the zoom pyramid's files) with a strong ETag, Last-Modified,
 * conditional requests and ranges; filename for Content-Disposition or
 * NULL. 410 when it is gone. */
int tiler_send_spool_file(request_rec *r, const char *path, const char *mime, const char *filename);
/* The result file's extension: png, jpg or tif. */
const char *tiler_result_extension(const tiler_job *job);

#endif
