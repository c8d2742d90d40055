/* The service's counters and histograms, kept in the job store so that they
 * survive graceful restarts, crashes and the results consumer moving between
 * httpd children: every child adds to the same rows. Job and tile counts are
 * kept by SQLite triggers on the jobs and tiles tables, in the same
 * transaction as the change they count; the rest is added by the code that
 * sees it happen (tiler_metrics_add / _observe). tiler_prom.c renders them
 * for Prometheus. */
#ifndef TILER_METRICS_H
#define TILER_METRICS_H

#include <stdint.h>
#include <apr_pools.h>
#include <apr_hash.h>
#include "tiler_store.h"

struct sqlite3;

/* Counter and gauge rows (the `metrics` table's names). */
#define TILER_M_JOBS_CREATED "jobs_created_total"        /* trigger */
#define TILER_M_JOBS_DONE "jobs_done_total"              /* trigger */
#define TILER_M_JOBS_FAILED "jobs_failed_total"          /* trigger */
#define TILER_M_TILES_ASSEMBLED "tiles_assembled_total"  /* trigger */
#define TILER_M_RESEND_ROUNDS "resend_rounds_total"      /* trigger */
#define TILER_M_TILES_PRODUCED "tiles_produced_total"
#define TILER_M_TILES_RESENT "tiles_resent_total"
#define TILER_M_TILES_DEAD "tiles_dead_lettered_total"      /* trigger */
#define TILER_M_UPLOAD_BYTES "upload_bytes_total"
#define TILER_M_SERVED_BYTES "served_bytes_total"
#define TILER_M_RC_SEEN "results_consumer_seen_us"      /* gauge: apr_time_t of its last sweep */
#define TILER_M_RC_LAG "results_consumer_lag"           /* gauge: results not yet read */
/* The results consumer notes itself every 5 s: three missed sweeps and it
 * is taken for gone (health check, tiler_results_consumer_up). */
#define TILER_RC_STALE_US (15 * INT64_C(1000000))

/* A histogram of seconds: upper bounds, ascending; +Inf is implied. */
typedef struct {
    const char *name;          /* row prefix and, with tiler_, the metric name */
    const char *help;
    const double *le;
    int n;
} tiler_histogram;

extern const tiler_histogram tiler_h_job_seconds, tiler_h_first_tile_seconds, tiler_h_decode_seconds,
    tiler_h_encode_seconds;
/* All of them, NULL-terminated, for rendering. */
extern const tiler_histogram *const tiler_histograms[];

/* Tables and triggers; run by tiler_store_open. 0 or an SQLite code. */
int tiler_metrics_schema(struct sqlite3 *db);

/* Adds delta to a counter row. 0 or -1 (the store's error). */
int tiler_metrics_add(tiler_store *s, const char *name, int64_t delta);
/* Sets a gauge row. 0 or -1. */
int tiler_metrics_set(tiler_store *s, const char *name, int64_t value);
/* Counts one observation of seconds into h. 0 or -1. */
int tiler_metrics_observe(tiler_store *s, const tiler_histogram *h, double seconds);

/* An accepted upload, in one transaction: its bytes, its tiles (all
 * acknowledged by Kafka), and its first-tile and decode times. 0 or -1. */
int tiler_metrics_upload(tiler_store *s, int64_t bytes, int64_t tiles, double first_tile_s, double decode_s);

/* A worker gave up on tile idx of job (its failure report): counted once
 * per tile of a job the store knows. 0 or -1. */
int tiler_metrics_dead_tile(tiler_store *s, const char *job, uint32_t idx);

/* Every row: name -> int64_t* (from p). 0 or -1. */
int tiler_metrics_read(tiler_store *s, apr_hash_t **rows, apr_pool_t *p);
/* Jobs in each state now: queued, running, done, failed. 0 or -1. */
int tiler_metrics_job_states(tiler_store *s, int64_t counts[4]);

/* The row names a histogram uses: bucket i (0..n, n being +Inf), its sum in
 * microseconds and its count. */
const char *tiler_metrics_bucket_row(const tiler_histogram *h, int i, apr_pool_t *p);
const char *tiler_metrics_sum_row(const tiler_histogram *h, apr_pool_t *p);
const char *tiler_metrics_count_row(const tiler_histogram *h, apr_pool_t *p);

/* A cheap probe that the store can be written: takes the write lock
 * (waiting at most wait_ms for it) and lets go. 0 or -1. */
int tiler_metrics_probe_write(tiler_store *s, int wait_ms);

#endif
