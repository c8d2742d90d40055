/* POST {loc}/api/jobs: receive the image, check it, cut it into tiles and
 * hand them to Kafka. */
#ifndef MOD_TILER_JOBS_H
#define MOD_TILER_JOBS_H

#include "mod_tiler.h"

int tiler_create_job(request_rec *r, const char *base);
/* DELETE {loc}/api/jobs/{id}: cancels and removes a job. */
int tiler_delete_job(request_rec *r, const char *id);

#endif
