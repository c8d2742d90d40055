/* The Prometheus text exposition format (version 0.0.4) for GET
 * {loc}/metrics: the store's counters and histograms (tiler_metrics.h), the
 * jobs by state, and the workers and tasks backlog from tiler-monitor's
 * snapshot. Every name has the tiler_ prefix and base units; counters end
 * in _total. README "Monitoring" lists them. */
#ifndef TILER_PROM_H
#define TILER_PROM_H

#include <stdint.h>
#include <apr_pools.h>
#include <apr_hash.h>

typedef struct tiler_prom tiler_prom;

tiler_prom *tiler_prom_new(apr_pool_t *p);

/* The store's rows (tiler_metrics_read) and the jobs in each state
 * (queued, running, done, failed); now is apr_time_now(), for the results
 * consumer's heartbeat age. */
void tiler_prom_store(tiler_prom *w, apr_hash_t *rows, const int64_t states[4], int64_t now);

/* The monitor's snapshot as it wrote it (GET /api/workers): per worker its
 * state, tiles done, tiles/s and heartbeat age; per partition of the tasks
 * topic its backlog. NULL or unparsable: tiler_monitor_up 0 and nothing
 * else from it. */
void tiler_prom_snapshot(tiler_prom *w, const char *json);

/* The text so far (from w's pool), and its length. */
const char *tiler_prom_text(tiler_prom *w, size_t *len);

/* A label value escaped as the format wants (\\, \", \n). */
const char *tiler_prom_escape(apr_pool_t *p, const char *v);

#endif
