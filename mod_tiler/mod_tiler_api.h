/* The handler: routes requests under the Location to the API and pages. */
#ifndef MOD_TILER_API_H
#define MOD_TILER_API_H

#include "mod_tiler.h"

int tiler_api_handler(request_rec *r);
/* The monitor's snapshot file (see TilerMonitorSnapshot), or NULL and why. */
const char *tiler_read_snapshot(request_rec *r, apr_time_t *mtime, const char **why);

/* The tasks backlog from the snapshot, -1 when unknown; and the stuck flag. */
apr_int64_t tiler_cluster_backlog(request_rec *r);
#include "tiler_store.h"
void tiler_mark_stuck(request_rec *r, tiler_job *j, apr_int64_t backlog);

#endif
