#include "tiler_metrics.h"

#include <stdio.h>
#include <string.h>
#include <sqlite3.h>
#include <apr_strings.h>

static const double job_le[] = { 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600 };
static const double first_tile_le[] = { 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };
static const double phase_le[] = { 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600 };
#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

const tiler_histogram tiler_h_job_seconds = { "job_duration_seconds",
    "From the upload's arrival to the job being done (done jobs only).", job_le, N(job_le) };
const tiler_histogram tiler_h_first_tile_seconds = { "upload_first_tile_seconds",
    "From the upload being in to its first tile going out to Kafka.", first_tile_le, N(first_tile_le) };
const tiler_histogram tiler_h_decode_seconds = { "decode_seconds",
    "From the upload being in to its last row decoded (tiles go out meanwhile).", phase_le, N(phase_le) };
const tiler_histogram tiler_h_encode_seconds = { "encode_seconds",
    "The result's final encoding once its last tile is in (strips encoded before that are not counted).",
    phase_le, N(phase_le) };
const tiler_histogram *const tiler_histograms[] = { &tiler_h_job_seconds, &tiler_h_first_tile_seconds,
                                                    &tiler_h_decode_seconds, &tiler_h_encode_seconds, NULL };

#define UPSERT_ADD(name_sql, delta_sql) \
    "INSERT INTO metrics (name, value) VALUES (" name_sql ", " delta_sql ")" \
    " ON CONFLICT (name) DO UPDATE SET value = value + excluded.value;"

const char *tiler_metrics_bucket_row(const tiler_histogram *h, int i, apr_pool_t *p)
{
    return apr_psprintf(p, "%s:%d", h->name, i);
}

const char *tiler_metrics_sum_row(const tiler_histogram *h, apr_pool_t *p)
{
    return apr_pstrcat(p, h->name, ":sum_us", NULL);
}

const char *tiler_metrics_count_row(const tiler_histogram *h, apr_pool_t *p)
{
    return apr_pstrcat(p, h->name, ":count", NULL);
}

/* The trigger that counts a job's end, and its duration when done. Its
 * bucket is chosen in SQL, from the same bounds the C side uses. */
static char *job_end_trigger(void)
{
    const tiler_histogram *h = &tiler_h_job_seconds;
    char cases[2048] = "";
    size_t off = 0;
    int i, n;
    for (i = 0; i < h->n; i++) {
        n = snprintf(cases + off, sizeof(cases) - off, "WHEN (NEW.finished - NEW.created) <= %.0f THEN %d ",
                     h->le[i] * 1e6, i);
        if (n < 0 || (size_t)n >= sizeof(cases) - off) return NULL;   /* more buckets than room: refuse */
        off += (size_t)n;
    }
    return sqlite3_mprintf(
        "CREATE TRIGGER IF NOT EXISTS metrics_v1_job_end AFTER UPDATE OF state ON jobs"
        " WHEN NEW.state IN ('done', 'failed') AND OLD.state IN ('queued', 'running') BEGIN "
        UPSERT_ADD("'jobs_' || NEW.state || '_total'", "1")
        " INSERT INTO metrics (name, value) SELECT '%s:' || CASE %s ELSE %d END, 1 WHERE NEW.state = 'done'"
        " ON CONFLICT (name) DO UPDATE SET value = value + excluded.value;"
        " INSERT INTO metrics (name, value) SELECT '%s:sum_us', max(0, NEW.finished - NEW.created) WHERE NEW.state = 'done'"
        " ON CONFLICT (name) DO UPDATE SET value = value + excluded.value;"
        " INSERT INTO metrics (name, value) SELECT '%s:count', 1 WHERE NEW.state = 'done'"
        " ON CONFLICT (name) DO UPDATE SET value = value + excluded.value;"
        " END",
        h->name, cases, h->n, h->name, h->name);
}

int tiler_metrics_schema(sqlite3 *db)
{
    static const char *fixed[] = {
        "CREATE TABLE IF NOT EXISTS metrics (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID",
        "CREATE TRIGGER IF NOT EXISTS metrics_v1_job_created AFTER INSERT ON jobs BEGIN "
            UPSERT_ADD("'" TILER_M_JOBS_CREATED "'", "1") " END",
        /* INSERT OR IGNORE fires it only for a tile counted the first time. */
        "CREATE TRIGGER IF NOT EXISTS metrics_v1_tile AFTER INSERT ON tiles BEGIN "
            UPSERT_ADD("'" TILER_M_TILES_ASSEMBLED "'", "1") " END",
        "CREATE TRIGGER IF NOT EXISTS metrics_v1_resend AFTER UPDATE OF resends ON jobs"
            " WHEN NEW.resends > OLD.resends BEGIN " UPSERT_ADD("'" TILER_M_RESEND_ROUNDS "'", "1") " END",
        /* Tiles a worker gave up on, once each however often the report is
         * read again (a results consumer that restarts, or moves). */
        "CREATE TABLE IF NOT EXISTS dead_tiles (job TEXT NOT NULL, idx INTEGER NOT NULL,"
            " PRIMARY KEY (job, idx)) WITHOUT ROWID",
        "CREATE TRIGGER IF NOT EXISTS metrics_v1_dead_tile AFTER INSERT ON dead_tiles BEGIN "
            UPSERT_ADD("'" TILER_M_TILES_DEAD "'", "1") " END",
        "CREATE TRIGGER IF NOT EXISTS metrics_v1_job_gone AFTER DELETE ON jobs BEGIN"
            " DELETE FROM dead_tiles WHERE job = OLD.id; END",
        NULL
    };
    char *sql;
    int i, rc;
    for (i = 0; fixed[i]; i++)
        if ((rc = sqlite3_exec(db, fixed[i], NULL, NULL, NULL)) != SQLITE_OK) return rc;
    if (!(sql = job_end_trigger())) return SQLITE_NOMEM;
    rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_free(sql);
    return rc;
}

/* One statement with a text ?1 and an integer ?2, run to completion. */
static int exec_bound(tiler_store *s, const char *sql, const char *name, int64_t v)
{
    sqlite3 *db = tiler_store_connection(s);
    sqlite3_stmt *st;
    int rc;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return tiler_store_fail(s);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, v);
    rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) tiler_store_fail(s);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int tiler_metrics_add(tiler_store *s, const char *name, int64_t delta)
{
    return exec_bound(s, "INSERT INTO metrics (name, value) VALUES (?1, ?2)"
                         " ON CONFLICT (name) DO UPDATE SET value = value + excluded.value", name, delta);
}

int tiler_metrics_set(tiler_store *s, const char *name, int64_t value)
{
    return exec_bound(s, "INSERT INTO metrics (name, value) VALUES (?1, ?2)"
                         " ON CONFLICT (name) DO UPDATE SET value = excluded.value", name, value);
}

/* The three rows an observation adds to, inside the caller's transaction. */
static int observe_rows(tiler_store *s, const tiler_histogram *h, double seconds)
{
    char row[128];
    int i = 0;
    if (seconds < 0) seconds = 0;
    while (i < h->n && seconds > h->le[i]) i++;
    snprintf(row, sizeof(row), "%s:%d", h->name, i);
    if (tiler_metrics_add(s, row, 1) < 0) return -1;
    snprintf(row, sizeof(row), "%s:sum_us", h->name);
    if (tiler_metrics_add(s, row, (int64_t)(seconds * 1e6 + 0.5)) < 0) return -1;
    snprintf(row, sizeof(row), "%s:count", h->name);
    return tiler_metrics_add(s, row, 1);
}

static int begin(tiler_store *s)
{
    return sqlite3_exec(tiler_store_connection(s), "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK ? 0 : tiler_store_fail(s);
}

/* Commits (rc 0) or rolls back; a COMMIT that fails (busy, full) is rolled
 * back too, so that the connection never keeps the write lock. */
static int end(tiler_store *s, int rc)
{
    sqlite3 *db = tiler_store_connection(s);
    if (!rc && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) rc = tiler_store_fail(s);
    if (rc && sqlite3_get_autocommit(db) == 0) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

int tiler_metrics_observe(tiler_store *s, const tiler_histogram *h, double seconds)
{
    if (begin(s) < 0) return -1;
    return end(s, observe_rows(s, h, seconds));
}

int tiler_metrics_upload(tiler_store *s, int64_t bytes, int64_t tiles, double first_tile_s, double decode_s)
{
    int rc;
    if (begin(s) < 0) return -1;
    rc = tiler_metrics_add(s, TILER_M_UPLOAD_BYTES, bytes);
    if (!rc) rc = tiler_metrics_add(s, TILER_M_TILES_PRODUCED, tiles);
    if (!rc) rc = observe_rows(s, &tiler_h_first_tile_seconds, first_tile_s);
    if (!rc) rc = observe_rows(s, &tiler_h_decode_seconds, decode_s);
    return end(s, rc);
}

int tiler_metrics_dead_tile(tiler_store *s, const char *job, uint32_t idx)
{
    return exec_bound(s, "INSERT OR IGNORE INTO dead_tiles (job, idx) SELECT ?1, ?2"
                         " WHERE EXISTS (SELECT 1 FROM jobs WHERE id = ?1)", job, idx);
}

int tiler_metrics_read(tiler_store *s, apr_hash_t **rows, apr_pool_t *p)
{
    sqlite3_stmt *st;
    int rc;
    *rows = apr_hash_make(p);
    if (sqlite3_prepare_v2(tiler_store_connection(s), "SELECT name, value FROM metrics", -1, &st, NULL) != SQLITE_OK)
        return tiler_store_fail(s);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *name = sqlite3_column_text(st, 0);
        int64_t *v = apr_palloc(p, sizeof(*v));
        if (!name) continue;   /* out of memory in SQLite */
        *v = sqlite3_column_int64(st, 1);
        apr_hash_set(*rows, apr_pstrdup(p, (const char *)name), APR_HASH_KEY_STRING, v);
    }
    if (rc != SQLITE_DONE) tiler_store_fail(s);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int tiler_metrics_job_states(tiler_store *s, int64_t counts[4])
{
    static const char *states[4] = { "queued", "running", "done", "failed" };
    sqlite3_stmt *st;
    int rc, i;
    memset(counts, 0, 4 * sizeof(counts[0]));
    if (sqlite3_prepare_v2(tiler_store_connection(s), "SELECT state, COUNT(*) FROM jobs GROUP BY state", -1, &st, NULL)
        != SQLITE_OK)
        return tiler_store_fail(s);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *state = sqlite3_column_text(st, 0);
        for (i = 0; state && i < 4; i++)
            if (!strcmp((const char *)state, states[i])) counts[i] = sqlite3_column_int64(st, 1);
    }
    if (rc != SQLITE_DONE) tiler_store_fail(s);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int tiler_metrics_probe_write(tiler_store *s, int wait_ms)
{
    sqlite3 *db = tiler_store_connection(s);
    int rc;
    /* A health check must answer soon: wait wait_ms for the lock, not the
     * store's usual 10 s. */
    sqlite3_busy_timeout(db, wait_ms);
    rc = begin(s);
    if (!rc && sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK) rc = tiler_store_fail(s);
    sqlite3_busy_timeout(db, TILER_STORE_BUSY_MS);
    return rc;
}
