/* GET {loc}/metrics (Prometheus text format), and the counting that only
 * httpd sees: bytes of results and thumbnails sent. */
#ifndef MOD_TILER_METRICS_H
#define MOD_TILER_METRICS_H

#include "mod_tiler.h"

int tiler_metrics_page(request_rec *r);
/* log_transaction hook: adds what a result or thumbnail download sent. */
int tiler_metrics_log_transaction(request_rec *r);

#endif
