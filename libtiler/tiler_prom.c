#include "tiler_prom.h"

#include <stdio.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include <yajl/yajl_tree.h>
#include "tiler_metrics.h"

struct tiler_prom {
    apr_pool_t *pool;
    apr_array_header_t *buf;   /* of char */
};

tiler_prom *tiler_prom_new(apr_pool_t *p)
{
    tiler_prom *w = apr_pcalloc(p, sizeof(*w));
    w->pool = p;
    w->buf = apr_array_make(p, 8192, 1);
    return w;
}

static void put(tiler_prom *w, const char *s)
{
    while (*s) *(char *)apr_array_push(w->buf) = *s++;
}

static void family(tiler_prom *w, const char *name, const char *type, const char *help)
{
    put(w, apr_psprintf(w->pool, "# HELP tiler_%s %s\n# TYPE tiler_%s %s\n", name, help, name, type));
}

/* A number as Go's and Python's parsers read it, with C's printf (APR's own
 * formatter writes 0.1 as ".1"): a count exactly, up to 2^53, without a
 * point; anything else to 15 significant digits. */
static const char *num(tiler_prom *w, double v)
{
    char buf[64];
    if (v < 9007199254740992.0 && v > -9007199254740992.0 && v == (double)(int64_t)v)
        snprintf(buf, sizeof(buf), "%lld", (long long)v);
    else
        snprintf(buf, sizeof(buf), "%.15g", v);
    return apr_pstrdup(w->pool, buf);
}

static void sample(tiler_prom *w, const char *name, const char *labels, double v)
{
    put(w, apr_pstrcat(w->pool, "tiler_", name, labels ? "{" : "", labels ? labels : "", labels ? "}" : "", " ",
                       num(w, v), "\n", NULL));
}

const char *tiler_prom_escape(apr_pool_t *p, const char *v)
{
    size_t n = 0;
    const char *s;
    char *out, *o;
    for (s = v; *s; s++) n += (*s == '\\' || *s == '"' || *s == '\n') ? 2 : 1;
    o = out = apr_palloc(p, n + 1);
    for (s = v; *s; s++) {
        if (*s == '\\' || *s == '"') { *o++ = '\\'; *o++ = *s; }
        else if (*s == '\n') { *o++ = '\\'; *o++ = 'n'; }
        else *o++ = *s;
    }
    *o = '\0';
    return out;
}

static int64_t row(apr_hash_t *rows, const char *name)
{
    const int64_t *v = apr_hash_get(rows, name, APR_HASH_KEY_STRING);
    return v ? *v : 0;
}

static void counter(tiler_prom *w, apr_hash_t *rows, const char *name, const char *help)
{
    family(w, name, "counter", help);
    sample(w, name, NULL, (double)row(rows, name));
}

static void histogram(tiler_prom *w, apr_hash_t *rows, const tiler_histogram *h)
{
    int64_t cumulative = 0;
    int i;
    family(w, h->name, "histogram", h->help);
    for (i = 0; i <= h->n; i++) {
        cumulative += row(rows, tiler_metrics_bucket_row(h, i, w->pool));
        sample(w, apr_pstrcat(w->pool, h->name, "_bucket", NULL),
               i < h->n ? apr_pstrcat(w->pool, "le=\"", num(w, h->le[i]), "\"", NULL) : "le=\"+Inf\"", (double)cumulative);
    }
    sample(w, apr_pstrcat(w->pool, h->name, "_sum", NULL), NULL, (double)row(rows, tiler_metrics_sum_row(h, w->pool)) / 1e6);
    sample(w, apr_pstrcat(w->pool, h->name, "_count", NULL), NULL, (double)row(rows, tiler_metrics_count_row(h, w->pool)));
}

void tiler_prom_store(tiler_prom *w, apr_hash_t *rows, const int64_t states[4], int64_t now)
{
    static const char *names[4] = { "queued", "running", "done", "failed" };
    int64_t seen = row(rows, TILER_M_RC_SEEN);
    int i;

    family(w, "jobs", "gauge", "Jobs in the store, by state.");
    for (i = 0; i < 4; i++) sample(w, "jobs", apr_psprintf(w->pool, "state=\"%s\"", names[i]), (double)states[i]);
    counter(w, rows, TILER_M_JOBS_CREATED, "Jobs recorded (also those refused while their upload still decoded).");
    counter(w, rows, TILER_M_JOBS_DONE, "Jobs whose result was made.");
    counter(w, rows, TILER_M_JOBS_FAILED, "Jobs that ended failed (Kafka refused their tiles, a worker gave up, no room...).");
    counter(w, rows, TILER_M_TILES_PRODUCED, "Tiles of uploads acknowledged by Kafka (tasks).");
    counter(w, rows, TILER_M_TILES_ASSEMBLED, "Result tiles written into their job's raster, each counted once.");
    counter(w, rows, TILER_M_TILES_RESENT, "Tiles found lost on the way and produced again.");
    counter(w, rows, TILER_M_RESEND_ROUNDS, "Times a job's lost tiles were produced again.");
    counter(w, rows, TILER_M_TILES_DEAD, "Tiles a worker gave up on (dead-lettered; their job fails), once each.");
    counter(w, rows, TILER_M_UPLOAD_BYTES, "Bytes of accepted uploads.");
    counter(w, rows, TILER_M_SERVED_BYTES, "Bytes of results and thumbnails sent.");
    for (i = 0; tiler_histograms[i]; i++) histogram(w, rows, tiler_histograms[i]);
    family(w, "results_consumer_lag_messages", "gauge",
           "Results in Kafka the results consumer has not read yet, at its last sweep.");
    sample(w, "results_consumer_lag_messages", NULL, (double)row(rows, TILER_M_RC_LAG));
    family(w, "results_consumer_heartbeat_age_seconds", "gauge",
           "Since the results consumer last swept (every 5 s while it runs); -1 if it never has.");
    sample(w, "results_consumer_heartbeat_age_seconds", NULL, seen ? (double)(now - seen) / 1e6 : -1);
    family(w, "results_consumer_up", "gauge",
           "1 when a results consumer swept in the last 15 s (what GET {loc}/api/health checks), else 0.");
    sample(w, "results_consumer_up", NULL, seen && now - seen <= TILER_RC_STALE_US ? 1 : 0);
}

/* One member of a yajl object, or NULL. */
static yajl_val member(yajl_val o, const char *key)
{
    const char *path[] = { key, NULL };
    return o ? yajl_tree_get(o, path, yajl_t_any) : NULL;
}

static int is_string(yajl_val v, const char *want)
{
    const char *got = v && YAJL_IS_STRING(v) ? YAJL_GET_STRING(v) : NULL;
    return got && !strcmp(got, want);
}

static double number(yajl_val v)
{
    return v && YAJL_IS_NUMBER(v) ? YAJL_GET_DOUBLE(v) : 0;
}

static const char *worker_label(tiler_prom *w, yajl_val wk)
{
    yajl_val id = member(wk, "id");
    return apr_psprintf(w->pool, "worker=\"%s\"", YAJL_IS_STRING(id) ? tiler_prom_escape(w->pool, YAJL_GET_STRING(id)) : "");
}

/* One family with a sample per worker, from the snapshot's field key. */
static void per_worker(tiler_prom *w, yajl_val workers, const char *name, const char *type, const char *help,
                       const char *key)
{
    size_t i;
    family(w, name, type, help);
    for (i = 0; i < workers->u.array.len; i++)
        sample(w, name, worker_label(w, workers->u.array.values[i]), number(member(workers->u.array.values[i], key)));
}

void tiler_prom_snapshot(tiler_prom *w, const char *json)
{
    static const char *states[3] = { "alive", "suspect", "dead" };
    yajl_val root = json ? yajl_tree_parse(json, NULL, 0) : NULL;
    yajl_val workers = member(root, "workers"), parts = member(member(root, "cluster"), "partitions");
    size_t i;
    int k;

    family(w, "monitor_up", "gauge", "1 when tiler-monitor's snapshot could be read (fresh, at most 30 s old).");
    sample(w, "monitor_up", NULL, root && YAJL_IS_ARRAY(workers) ? 1 : 0);
    if (!root || !YAJL_IS_ARRAY(workers)) {
        if (root) yajl_tree_free(root);
        return;
    }
    family(w, "worker_state", "gauge", "1 for each worker's state as the monitor sees it (alive, suspect, dead).");
    for (i = 0; i < workers->u.array.len; i++) {
        yajl_val wk = workers->u.array.values[i], st = member(wk, "state");
        for (k = 0; k < 3; k++)
            sample(w, "worker_state", apr_psprintf(w->pool, "%s,state=\"%s\"", worker_label(w, wk), states[k]),
                   is_string(st, states[k]));
    }
    per_worker(w, workers, "worker_tiles_done_total", "counter", "Tiles each worker has processed since it started.",
               "tiles_done");
    per_worker(w, workers, "worker_tiles_per_second", "gauge",
               "Each worker's tiles per second over its heartbeats of about the last 10 s.", "tiles_per_second");
    per_worker(w, workers, "worker_heartbeat_age_seconds", "gauge",
               "Since each worker's last heartbeat reached the monitor.", "last_heartbeat_age_s");
    family(w, "tasks_backlog_messages", "gauge",
           "Tasks not yet consumed by the workers' group, per partition of the tasks topic.");
    for (i = 0; parts && YAJL_IS_ARRAY(parts) && i < parts->u.array.len; i++) {
        yajl_val pt = parts->u.array.values[i];
        sample(w, "tasks_backlog_messages", apr_psprintf(w->pool, "partition=\"%.0f\"", number(member(pt, "partition"))),
               number(member(pt, "lag")));
    }
    yajl_tree_free(root);
}

const char *tiler_prom_text(tiler_prom *w, size_t *len)
{
    *(char *)apr_array_push(w->buf) = '\0';
    apr_array_pop(w->buf);
    *len = (size_t)w->buf->nelts;
    return w->buf->elts;
}
