/* GET {loc}/api/jobs/{id}/result[?thumb=N] */
#ifndef MOD_TILER_RESULT_H
#define MOD_TILER_RESULT_H

#include "mod_tiler.h"

int tiler_job_result(request_rec *r, const char *id);

#endif
