/* GET {loc}/api/health: whether this httpd can take a job now. */
#ifndef MOD_TILER_HEALTH_H
#define MOD_TILER_HEALTH_H

#include "mod_tiler.h"

int tiler_health(request_rec *r);

#endif
