/* The counters the store keeps (triggers and explicit adds), histograms,
 * and their rendering in the Prometheus text format. */
#include <stdlib.h>
#include <string.h>
#include <apr_general.h>
#include <apr_time.h>
#include "tap.h"
#include "tmpdir.h"
#include "tiler_metrics.h"
#include "tiler_prom.h"
#include "tiler_store.h"
#include <sqlite3.h>

static int64_t row(apr_hash_t *rows, const char *name)
{
    const int64_t *v = apr_hash_get(rows, name, APR_HASH_KEY_STRING);
    return v ? *v : -1;
}

static tiler_job make(const char *id, apr_time_t created, uint32_t tiles)
{
    tiler_job j;
    memset(&j, 0, sizeof(j));
    strcpy(j.id, id);
    j.state = "queued";
    j.width = 1000; j.height = 700; j.tile_size = 512;
    j.ops = "invert"; j.format = "png";
    j.tiles_total = tiles;
    j.created = created;
    return j;
}

static int has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    const char *p = text;
    while ((p = strstr(p, line))) {
        if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0')) return 1;
        p += n;
    }
    return 0;
}

int main(void)
{
    apr_pool_t *p;
    tiler_store *s;
    tiler_job j, got;
    apr_hash_t *rows;
    int64_t states[4];
    const char *err = NULL, *text;
    const char *a = "0123456789abcdef0123456789abcdef", *b = "fedcba9876543210fedcba9876543210";
    int counted, rc;
    size_t len;
    tiler_prom *w;

    apr_initialize();
    apr_pool_create(&p, NULL);
    tiler_store_global_init();
    if (tmpdir_make() < 0 || tiler_store_open(&s, tmpdir_path("jobs.db"), p, &err) < 0) {
        printf("Bail out! %s\n", err ? err : "no temporary directory");
        return 1;
    }

    /* Two jobs: a done in 2 s, b failed. Tile 0 of a counted twice. */
    j = make(a, apr_time_now() - apr_time_from_sec(2), 2);
    ok(tiler_store_create_job(s, &j, 0) == 0, "job a created");
    j = make(b, apr_time_now(), 3);
    ok(tiler_store_create_job(s, &j, 0) == 0, "job b created");
    tiler_store_count_tile(s, a, 0, &counted, &got, p);
    tiler_store_count_tile(s, a, 0, &counted, &got, p);
    tiler_store_count_tile(s, a, 1, &counted, &got, p);
    tiler_store_count_tile(s, b, 2, &counted, &got, p);
    ok(tiler_store_finish(s, a, "done", NULL) == 0, "a done");
    ok(tiler_store_finish(s, b, "failed", "broken") == 0, "b failed");
    ok(tiler_store_finish(s, a, "failed", "late") == 0 && tiler_store_finish(s, a, "done", NULL) == 0,
       "a finished again (no effect: it has ended)");
    tiler_store_note_resend(s, b);
    ok(tiler_metrics_read(s, &rows, p) == 0, "rows read");
    ok(row(rows, TILER_M_JOBS_CREATED) == 2, "triggers: 2 jobs created (%lld)", (long long)row(rows, TILER_M_JOBS_CREATED));
    ok(row(rows, TILER_M_JOBS_DONE) == 1, "triggers: 1 done, once however often it is finished");
    ok(row(rows, TILER_M_JOBS_FAILED) == 1, "triggers: 1 failed");
    ok(row(rows, TILER_M_TILES_ASSEMBLED) == 3, "triggers: 3 tiles assembled, a repeated tile counted once (%lld)",
       (long long)row(rows, TILER_M_TILES_ASSEMBLED));
    ok(row(rows, TILER_M_RESEND_ROUNDS) == 1, "triggers: 1 resend round");
    ok(row(rows, "job_duration_seconds:1") == 1, "the done job's 2 s in the 2.5 s bucket");
    ok(row(rows, "job_duration_seconds:count") == 1, "only the done job is timed");
    ok(row(rows, "job_duration_seconds:sum_us") >= 2000000 && row(rows, "job_duration_seconds:sum_us") < 3000000,
       "its sum is about 2 s (%lld us)", (long long)row(rows, "job_duration_seconds:sum_us"));

    /* Explicit adds and observations. */
    ok(tiler_metrics_upload(s, 1000, 5, 0.03, 7) == 0, "an upload noted");
    ok(tiler_metrics_observe(s, &tiler_h_encode_seconds, 0.05) == 0, "an encode observed (first bucket)");
    ok(tiler_metrics_observe(s, &tiler_h_encode_seconds, 1e6) == 0, "an encode observed (+Inf)");
    ok(tiler_metrics_add(s, TILER_M_SERVED_BYTES, 10) == 0 && tiler_metrics_add(s, TILER_M_SERVED_BYTES, 32) == 0, "bytes served");
    ok(tiler_metrics_set(s, TILER_M_RC_LAG, 9) == 0 && tiler_metrics_set(s, TILER_M_RC_LAG, 4) == 0, "a gauge set twice");
    ok(tiler_metrics_probe_write(s, 100) == 0, "the write probe");
    tiler_metrics_read(s, &rows, p);
    ok(row(rows, TILER_M_SERVED_BYTES) == 42, "counters add");
    ok(row(rows, TILER_M_RC_LAG) == 4, "gauges keep the last value");
    ok(row(rows, "upload_first_tile_seconds:2") == 1, "0.03 s lands in the 0.05 s bucket");
    ok(row(rows, "decode_seconds:6") == 1, "7 s lands in the 10 s bucket");
    ok(row(rows, "encode_seconds:0") == 1 && row(rows, "encode_seconds:12") == 1, "first bucket and +Inf");
    ok(tiler_metrics_job_states(s, states) == 0 && states[0] == 0 && states[1] == 0 && states[2] == 1 && states[3] == 1,
       "jobs by state: 1 done, 1 failed");

    /* Dead-lettered tiles: once per tile of a known job. */
    ok(tiler_metrics_dead_tile(s, b, 1) == 0 && tiler_metrics_dead_tile(s, b, 1) == 0 && tiler_metrics_dead_tile(s, b, 2) == 0,
       "failure reports for tiles 1, 1 (again) and 2 of b");
    ok(tiler_metrics_dead_tile(s, "00000000000000000000000000000000", 0) == 0, "and one for a job the store does not know");
    tiler_metrics_read(s, &rows, p);
    ok(row(rows, TILER_M_TILES_DEAD) == 2, "2 tiles dead-lettered (%lld)", (long long)row(rows, TILER_M_TILES_DEAD));
    ok(tiler_store_delete_job(s, b) == 0 && tiler_metrics_dead_tile(s, b, 3) == 0, "b deleted, a late report for it");
    tiler_metrics_read(s, &rows, p);
    ok(row(rows, TILER_M_TILES_DEAD) == 2, "the count stays (counters never go down; a deleted job's reports do not count)");
    ok(tiler_metrics_job_states(s, states) == 0 && states[3] == 0, "b no longer among the failed jobs");

    /* The write probe against a held lock: fails within its wait, saying why. */
    {
        tiler_store *other;
        apr_pool_t *q;
        apr_time_t t0;
        apr_pool_create(&q, p);
        tiler_store_open(&other, tmpdir_path("jobs.db"), q, &err);
        sqlite3_exec(tiler_store_connection(other), "BEGIN IMMEDIATE", NULL, NULL, NULL);
        t0 = apr_time_now();
        rc = tiler_metrics_probe_write(s, 100);
        ok(rc < 0 && apr_time_now() - t0 < apr_time_from_sec(5), "probe against a held write lock: fails without waiting 10 s");
        ok(strstr(tiler_store_error(s), "locked") != NULL, "...saying so: %s", tiler_store_error(s));
        ok(tiler_metrics_add(s, TILER_M_SERVED_BYTES, 1) < 0, "a counter write meanwhile fails");
        sqlite3_exec(tiler_store_connection(other), "ROLLBACK", NULL, NULL, NULL);
        ok(tiler_metrics_observe(s, &tiler_h_encode_seconds, 1) == 0, "and the store is writable again (no transaction left open)");
        apr_pool_destroy(q);
        states[3] = 1;   /* as before, for the rendering below */
    }

    /* Reopened (another child, a restart): the same rows. */
    {
        tiler_store *again;
        apr_pool_t *q;
        apr_pool_create(&q, p);
        rc = tiler_store_open(&again, tmpdir_path("jobs.db"), q, &err);
        ok(rc == 0 && tiler_metrics_read(again, &rows, q) == 0 && row(rows, TILER_M_JOBS_CREATED) == 2
           && row(rows, TILER_M_SERVED_BYTES) == 42, "a second connection sees the same counters");
        apr_pool_destroy(q);
    }

    /* Rendering. */
    tiler_metrics_read(s, &rows, p);
    w = tiler_prom_new(p);
    tiler_prom_store(w, rows, states, apr_time_now());
    tiler_prom_snapshot(w, "{\"workers\":[{\"id\":\"w\\\"1\",\"state\":\"alive\",\"tiles_done\":12,\"tiles_per_second\":1.5,"
                           "\"last_heartbeat_age_s\":0.25}],\"cluster\":{\"backlog\":3,\"partitions\":["
                           "{\"partition\":0,\"lag\":1},{\"partition\":1,\"lag\":2}]},\"totals\":{}}");
    text = tiler_prom_text(w, &len);
    ok(len == strlen(text), "the text is one string");
    if (getenv("TEST_METRICS_DUMP")) fputs(text, stderr);
    ok(has_line(text, "# TYPE tiler_jobs_created_total counter"), "counter TYPE");
    ok(has_line(text, "tiler_jobs_created_total 2"), "counter value");
    ok(has_line(text, "tiler_jobs{state=\"done\"} 1"), "gauge with a label");
    ok(has_line(text, "tiler_served_bytes_total 42"), "bytes served");
    ok(has_line(text, "# TYPE tiler_encode_seconds histogram"), "histogram TYPE");
    ok(has_line(text, "tiler_encode_seconds_bucket{le=\"0.1\"} 1"), "first bucket");
    ok(has_line(text, "tiler_encode_seconds_bucket{le=\"600\"} 2"), "buckets are cumulative");
    ok(has_line(text, "tiler_encode_seconds_bucket{le=\"+Inf\"} 3"), "+Inf counts all");
    ok(has_line(text, "tiler_encode_seconds_count 3"), "count");
    ok(has_line(text, "tiler_encode_seconds_sum 1000001.05"), "sum in seconds");
    ok(has_line(text, "tiler_monitor_up 1"), "monitor up");
    ok(has_line(text, "tiler_worker_state{worker=\"w\\\"1\",state=\"alive\"} 1"), "worker state, label escaped");
    ok(has_line(text, "tiler_worker_state{worker=\"w\\\"1\",state=\"dead\"} 0"), "the other states 0");
    ok(has_line(text, "tiler_worker_tiles_done_total{worker=\"w\\\"1\"} 12"), "worker tiles");
    ok(has_line(text, "tiler_worker_tiles_per_second{worker=\"w\\\"1\"} 1.5"), "worker rate");
    ok(has_line(text, "tiler_tasks_backlog_messages{partition=\"1\"} 2"), "backlog per partition");
    ok(has_line(text, "tiler_results_consumer_heartbeat_age_seconds -1"), "a consumer never seen: -1");
    ok(has_line(text, "tiler_results_consumer_up 0"), "...and not up");
    ok(!strcmp(tiler_prom_escape(p, "a\\b\"c\nd"), "a\\\\b\\\"c\\nd"), "escaping");

    w = tiler_prom_new(p);
    tiler_prom_snapshot(w, "{\"workers\": [");
    text = tiler_prom_text(w, &len);
    ok(has_line(text, "tiler_monitor_up 0") && !strstr(text, "worker_state"), "a broken snapshot: monitor_up 0 and nothing else");
    w = tiler_prom_new(p);
    tiler_prom_snapshot(w, NULL);
    text = tiler_prom_text(w, &len);
    ok(has_line(text, "tiler_monitor_up 0"), "no snapshot: monitor_up 0");

    apr_pool_destroy(p);
    apr_terminate();
    return done_testing();
}
