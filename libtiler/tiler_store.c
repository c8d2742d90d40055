#include "tiler_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr_dbd.h>
#include <apr_strings.h>
#include <apr_time.h>

struct tiler_store {
    apr_pool_t *pool;
    const apr_dbd_driver_t *drv;
    apr_dbd_t *db;
    const char *last_error;
    apr_dbd_prepared_t *insert_job, *get_job, *list_jobs, *insert_tile, *bump, *finish;
    apr_dbd_prepared_t *delete_tiles, *delete_job, *finished_before;
    apr_dbd_prepared_t *note_offset, *get_offsets, *delete_offsets, *counted_tiles, *stalled, *note_resend;
    apr_dbd_prepared_t *count_range;
};

static const char *schema[] = {
    "CREATE TABLE IF NOT EXISTS jobs ("
    " id TEXT PRIMARY KEY, state TEXT NOT NULL, width INTEGER NOT NULL, height INTEGER NOT NULL,"
    " tile_size INTEGER NOT NULL, ops TEXT NOT NULL, format TEXT NOT NULL,"
    " tiles_total INTEGER NOT NULL, tiles_done INTEGER NOT NULL DEFAULT 0,"
    " created INTEGER NOT NULL, finished INTEGER, error TEXT, updated INTEGER,"
    " resends INTEGER NOT NULL DEFAULT 0, alpha INTEGER NOT NULL DEFAULT 1)",
    "CREATE INDEX IF NOT EXISTS jobs_by_created ON jobs(created)",
    /* One row per counted tile: the primary key makes counting idempotent. */
    "CREATE TABLE IF NOT EXISTS tiles (job TEXT NOT NULL, idx INTEGER NOT NULL,"
    " PRIMARY KEY (job, idx)) WITHOUT ROWID",
    /* The highest offset a job's tasks reached on each partition of the
     * tasks topic: once the workers have consumed past every one of them,
     * a tile still missing was lost on the way (see tiler-resend). */
    "CREATE TABLE IF NOT EXISTS task_offsets (job TEXT NOT NULL, part INTEGER NOT NULL,"
    " last INTEGER NOT NULL, PRIMARY KEY (job, part)) WITHOUT ROWID",
    NULL
};

#define JOB_COLUMNS "id, state, width, height, tile_size, ops, format, tiles_total, tiles_done, created, finished, error, updated, resends, alpha"

static int fail(tiler_store *s, int rc)
{
    s->last_error = apr_dbd_error(s->drv, s->db, rc);
    return -1;
}

const char *tiler_store_error(tiler_store *s)
{
    return s->last_error ? s->last_error : "unknown store error";
}

static int exec(tiler_store *s, const char *sql)
{
    int nrows, rc = apr_dbd_query(s->drv, s->db, &nrows, sql);
    return rc ? fail(s, rc) : 0;
}

/* PRAGMAs answer with a row, which apr_dbd_query treats as an error. */
static int pragma(tiler_store *s, const char *sql)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row;
    int rc = apr_dbd_select(s->drv, s->pool, s->db, &res, sql, 0);
    if (rc) return fail(s, rc);
    while (apr_dbd_get_row(s->drv, s->pool, res, &row, -1) == 0) { }
    return 0;
}

static int has_column(tiler_store *s, const char *name)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row;
    int found = 0;
    if (apr_dbd_select(s->drv, s->pool, s->db, &res, "PRAGMA table_info(jobs)", 0)) return 1;
    while (apr_dbd_get_row(s->drv, s->pool, res, &row, -1) == 0) {
        const char *col = apr_dbd_get_entry(s->drv, row, 1);
        if (col && !strcmp(col, name)) found = 1;
    }
    return found;
}

static int prepare(tiler_store *s, const char *sql, apr_dbd_prepared_t **st)
{
    int rc = apr_dbd_prepare(s->drv, s->pool, s->db, sql, NULL, st);
    return rc ? fail(s, rc) : 0;
}

static apr_status_t store_cleanup(void *data)
{
    tiler_store *s = data;
    if (s->db) apr_dbd_close(s->drv, s->db);
    s->db = NULL;
    return APR_SUCCESS;
}

int tiler_store_open(tiler_store **out, const char *path, apr_pool_t *p, const char **err)
{
    tiler_store *s = apr_pcalloc(p, sizeof(*s));
    const char *open_err = NULL;
    int i;
    apr_status_t rv;

    s->pool = p;
    apr_dbd_init(p);
    rv = apr_dbd_get_driver(p, "sqlite3", &s->drv);
    if (rv != APR_SUCCESS) {
        *err = "apr-util's sqlite3 DBD driver is not installed (Debian: libaprutil1-dbd-sqlite3)";
        return -1;
    }
    rv = apr_dbd_open_ex(s->drv, p, path, &s->db, &open_err);
    if (rv != APR_SUCCESS) {
        *err = apr_psprintf(p, "cannot open job store %s: %s", path, open_err ? open_err : "error");
        return -1;
    }
    apr_pool_cleanup_register(p, s, store_cleanup, apr_pool_cleanup_null);
    /* Every child and the results consumer write; WAL lets readers go on
     * meanwhile, and the busy timeout turns lock contention into waiting. */
    if (pragma(s, "PRAGMA busy_timeout = 10000") || pragma(s, "PRAGMA journal_mode = WAL")
        || pragma(s, "PRAGMA synchronous = NORMAL")) goto bad;
    for (i = 0; schema[i]; i++)
        if (exec(s, schema[i])) goto bad;
    /* Stores made before the column existed; the error says it exists. */
    if (!has_column(s, "updated")) exec(s, "ALTER TABLE jobs ADD COLUMN updated INTEGER");
    if (!has_column(s, "resends")) exec(s, "ALTER TABLE jobs ADD COLUMN resends INTEGER NOT NULL DEFAULT 0");
    if (!has_column(s, "alpha")) exec(s, "ALTER TABLE jobs ADD COLUMN alpha INTEGER NOT NULL DEFAULT 1");
    if (prepare(s, "INSERT INTO jobs (id, state, width, height, tile_size, ops, format, tiles_total,"
                   " tiles_done, created, updated, alpha) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 0, %s, %s, %s)", &s->insert_job)
        || prepare(s, "SELECT " JOB_COLUMNS " FROM jobs WHERE id = %s", &s->get_job)
        || prepare(s, "SELECT " JOB_COLUMNS " FROM jobs ORDER BY created DESC, id LIMIT %s", &s->list_jobs)
        || prepare(s, "INSERT OR IGNORE INTO tiles (job, idx) SELECT %s, %s WHERE EXISTS"
                      " (SELECT 1 FROM jobs WHERE id = %s AND state IN ('queued', 'running'))", &s->insert_tile)
        || prepare(s, "UPDATE jobs SET tiles_done = tiles_done + 1, updated = %s,"
                      " state = CASE state WHEN 'queued' THEN 'running' ELSE state END WHERE id = %s", &s->bump)
        || prepare(s, "UPDATE jobs SET state = %s, finished = %s, error = %s"
                      " WHERE id = %s AND state IN ('queued', 'running')", &s->finish)
        || prepare(s, "DELETE FROM tiles WHERE job = %s", &s->delete_tiles)
        || prepare(s, "DELETE FROM jobs WHERE id = %s", &s->delete_job)
        || prepare(s, "SELECT id FROM jobs WHERE state IN ('done', 'failed') AND finished < %s", &s->finished_before)
        || prepare(s, "INSERT INTO task_offsets (job, part, last) VALUES (%s, CAST(%s AS INTEGER), CAST(%s AS INTEGER))"
                      " ON CONFLICT (job, part) DO UPDATE SET last = max(last, excluded.last)", &s->note_offset)
        || prepare(s, "SELECT part, last FROM task_offsets WHERE job = %s ORDER BY part", &s->get_offsets)
        || prepare(s, "DELETE FROM task_offsets WHERE job = %s", &s->delete_offsets)
        || prepare(s, "SELECT idx FROM tiles WHERE job = %s ORDER BY idx", &s->counted_tiles)
        || prepare(s, "SELECT id FROM jobs WHERE state IN ('queued', 'running') AND updated < %s"
                      " ORDER BY created", &s->stalled)
        || prepare(s, "UPDATE jobs SET resends = resends + 1, updated = %s WHERE id = %s", &s->note_resend)
        || prepare(s, "SELECT COUNT(*) FROM tiles WHERE job = %s AND idx >= CAST(%s AS INTEGER)"
                      " AND idx < CAST(%s AS INTEGER)", &s->count_range))
        goto bad;
    *out = s;
    return 0;
bad:
    *err = apr_psprintf(p, "job store %s: %s", path, tiler_store_error(s));
    return -1;
}

static const char *num(apr_pool_t *p, int64_t v)
{
    return apr_psprintf(p, "%" APR_INT64_T_FMT, (apr_int64_t)v);
}

int tiler_store_create_job(tiler_store *s, const tiler_job *j)
{
    apr_pool_t *p;
    int nrows, rc;
    apr_pool_create(&p, s->pool);
    rc = apr_dbd_pvquery(s->drv, p, s->db, &nrows, s->insert_job, j->id, j->state,
                         num(p, j->width), num(p, j->height), num(p, j->tile_size), j->ops, j->format,
                         num(p, j->tiles_total), num(p, j->created), num(p, j->created), num(p, j->alpha ? 1 : 0), NULL);
    apr_pool_destroy(p);
    return rc ? fail(s, rc) : 0;
}

static int64_t entry_int(const char *v)
{
    return v ? strtoll(v, NULL, 10) : 0;
}

static void row_to_job(tiler_store *s, apr_dbd_row_t *row, tiler_job *j, apr_pool_t *p)
{
    const char *v;
    memset(j, 0, sizeof(*j));
    v = apr_dbd_get_entry(s->drv, row, 0);
    apr_cpystrn(j->id, v ? v : "", sizeof(j->id));
    j->state = apr_pstrdup(p, apr_dbd_get_entry(s->drv, row, 1));
    j->width = (uint32_t)entry_int(apr_dbd_get_entry(s->drv, row, 2));
    j->height = (uint32_t)entry_int(apr_dbd_get_entry(s->drv, row, 3));
    j->tile_size = (uint32_t)entry_int(apr_dbd_get_entry(s->drv, row, 4));
    j->ops = apr_pstrdup(p, apr_dbd_get_entry(s->drv, row, 5));
    j->format = apr_pstrdup(p, apr_dbd_get_entry(s->drv, row, 6));
    j->tiles_total = (uint32_t)entry_int(apr_dbd_get_entry(s->drv, row, 7));
    j->tiles_done = (uint32_t)entry_int(apr_dbd_get_entry(s->drv, row, 8));
    j->created = entry_int(apr_dbd_get_entry(s->drv, row, 9));
    j->finished = entry_int(apr_dbd_get_entry(s->drv, row, 10));
    v = apr_dbd_get_entry(s->drv, row, 11);
    j->error = v ? apr_pstrdup(p, v) : NULL;
    j->updated = entry_int(apr_dbd_get_entry(s->drv, row, 12));
    if (!j->updated) j->updated = j->created;
    j->resends = (int)entry_int(apr_dbd_get_entry(s->drv, row, 13));
    j->alpha = (int)entry_int(apr_dbd_get_entry(s->drv, row, 14));
}

int tiler_store_get_job(tiler_store *s, const char *id, tiler_job *j, apr_pool_t *p)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    int found = 0, rc = apr_dbd_pvselect(s->drv, p, s->db, &res, s->get_job, 0, id, NULL);
    if (rc) return fail(s, rc);
    /* Read to the end so that the statement is reset. */
    while (apr_dbd_get_row(s->drv, p, res, &row, -1) == 0) {
        if (!found) row_to_job(s, row, j, p);
        found = 1;
    }
    return found ? 0 : 1;
}

int tiler_store_list_jobs(tiler_store *s, int limit, apr_array_header_t **jobs, apr_pool_t *p)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    int rc = apr_dbd_pvselect(s->drv, p, s->db, &res, s->list_jobs, 0, num(p, limit), NULL);
    if (rc) return fail(s, rc);
    *jobs = apr_array_make(p, 16, sizeof(tiler_job));
    while (apr_dbd_get_row(s->drv, p, res, &row, -1) == 0)
        row_to_job(s, row, apr_array_push(*jobs), p);
    return 0;
}

int tiler_store_count_tile(tiler_store *s, const char *id, uint32_t idx, int *counted,
                           tiler_job *after, apr_pool_t *p)
{
    int nrows = 0, rc, found;
    *counted = 0;
    /* IMMEDIATE takes the write lock up front: a deferred transaction that
     * reads first can fail with BUSY when it upgrades, without waiting. */
    if (exec(s, "BEGIN IMMEDIATE")) return -1;
    rc = apr_dbd_pvquery(s->drv, p, s->db, &nrows, s->insert_tile, id, num(p, idx), id, NULL);
    if (!rc && nrows == 1) {
        int bumped;
        rc = apr_dbd_pvquery(s->drv, p, s->db, &bumped, s->bump, num(p, apr_time_now()), id, NULL);
        *counted = !rc;
    }
    if (rc) {
        fail(s, rc);
        exec(s, "ROLLBACK");
        *counted = 0;
        return -1;
    }
    if (exec(s, "COMMIT")) { exec(s, "ROLLBACK"); *counted = 0; return -1; }
    found = tiler_store_get_job(s, id, after, p);
    return found;
}

int tiler_store_finish(tiler_store *s, const char *id, const char *state, const char *error)
{
    apr_pool_t *p;
    int nrows, rc;
    apr_pool_create(&p, s->pool);
    rc = apr_dbd_pvquery(s->drv, p, s->db, &nrows, s->finish, state, num(p, apr_time_now()), error, id, NULL);
    apr_pool_destroy(p);
    return rc ? fail(s, rc) : 0;
}

/* The first column of every row, as strings. */
static apr_array_header_t *collect_ids(tiler_store *s, apr_dbd_results_t *res, apr_pool_t *p)
{
    apr_dbd_row_t *row = NULL;
    apr_array_header_t *ids = apr_array_make(p, 4, sizeof(const char *));
    while (apr_dbd_get_row(s->drv, p, res, &row, -1) == 0)
        APR_ARRAY_PUSH(ids, const char *) = apr_pstrdup(p, apr_dbd_get_entry(s->drv, row, 0));
    return ids;
}

int tiler_store_complete_unfinished(tiler_store *s, apr_array_header_t **ids, apr_pool_t *p)
{
    apr_dbd_results_t *res = NULL;
    /* Not a prepared statement: apr-util's sqlite3 driver crashes in
     * pvselect on a statement without parameters. */
    int rc = apr_dbd_select(s->drv, p, s->db, &res,
                            "SELECT id FROM jobs WHERE state IN ('queued', 'running') AND tiles_done >= tiles_total", 0);
    if (rc) return fail(s, rc);
    *ids = collect_ids(s, res, p);
    return 0;
}

int tiler_store_count_active(tiler_store *s, int *n)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    apr_pool_t *p;
    int rc;
    apr_pool_create(&p, s->pool);
    /* Not prepared: see tiler_store_complete_unfinished. */
    rc = apr_dbd_select(s->drv, p, s->db, &res, "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')", 0);
    *n = 0;
    if (!rc)
        while (apr_dbd_get_row(s->drv, p, res, &row, -1) == 0) *n = (int)entry_int(apr_dbd_get_entry(s->drv, row, 0));
    apr_pool_destroy(p);
    return rc ? fail(s, rc) : 0;
}

int tiler_store_delete_job(tiler_store *s, const char *id)
{
    apr_pool_t *p;
    int nrows = 0, gone = 0, rc;
    if (exec(s, "BEGIN IMMEDIATE")) return -1;
    apr_pool_create(&p, s->pool);
    rc = apr_dbd_pvquery(s->drv, p, s->db, &nrows, s->delete_tiles, id, NULL);
    if (!rc) rc = apr_dbd_pvquery(s->drv, p, s->db, &nrows, s->delete_offsets, id, NULL);
    if (!rc) rc = apr_dbd_pvquery(s->drv, p, s->db, &gone, s->delete_job, id, NULL);
    apr_pool_destroy(p);
    if (rc) { fail(s, rc); exec(s, "ROLLBACK"); return -1; }
    if (exec(s, "COMMIT")) { exec(s, "ROLLBACK"); return -1; }
    return gone ? 0 : 1;
}

int tiler_store_finished_before(tiler_store *s, int64_t before, apr_array_header_t **ids, apr_pool_t *p)
{
    apr_dbd_results_t *res = NULL;
    int rc = apr_dbd_pvselect(s->drv, p, s->db, &res, s->finished_before, 0, num(p, before), NULL);
    if (rc) return fail(s, rc);
    *ids = collect_ids(s, res, p);
    return 0;
}

int tiler_store_note_offsets(tiler_store *s, const char *id, const int64_t *last, int nparts)
{
    apr_pool_t *p;
    int i, nrows, rc = 0;
    if (exec(s, "BEGIN IMMEDIATE")) return -1;
    apr_pool_create(&p, s->pool);
    for (i = 0; i < nparts && !rc; i++)
        if (last[i] >= 0)
            rc = apr_dbd_pvquery(s->drv, p, s->db, &nrows, s->note_offset, id, num(p, i), num(p, last[i]), NULL);
    apr_pool_destroy(p);
    if (rc) { fail(s, rc); exec(s, "ROLLBACK"); return -1; }
    if (exec(s, "COMMIT")) { exec(s, "ROLLBACK"); return -1; }
    return 0;
}

int tiler_store_get_offsets(tiler_store *s, const char *id, apr_array_header_t **offsets, apr_pool_t *p)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    int rc = apr_dbd_pvselect(s->drv, p, s->db, &res, s->get_offsets, 0, id, NULL);
    if (rc) return fail(s, rc);
    *offsets = apr_array_make(p, 4, sizeof(tiler_task_offset));
    while (apr_dbd_get_row(s->drv, p, res, &row, -1) == 0) {
        tiler_task_offset *o = apr_array_push(*offsets);
        o->partition = (int32_t)entry_int(apr_dbd_get_entry(s->drv, row, 0));
        o->last = entry_int(apr_dbd_get_entry(s->drv, row, 1));
    }
    return 0;
}

int tiler_store_missing_tiles(tiler_store *s, const char *id, uint32_t total, apr_array_header_t **missing,
                              apr_pool_t *p)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    unsigned char *seen;
    uint32_t i;
    int rc = apr_dbd_pvselect(s->drv, p, s->db, &res, s->counted_tiles, 0, id, NULL);
    if (rc) return fail(s, rc);
    seen = apr_pcalloc(p, total ? total : 1);
    while (apr_dbd_get_row(s->drv, p, res, &row, -1) == 0) {
        int64_t idx = entry_int(apr_dbd_get_entry(s->drv, row, 0));
        if (idx >= 0 && (uint64_t)idx < total) seen[idx] = 1;
    }
    *missing = apr_array_make(p, 8, sizeof(uint32_t));
    for (i = 0; i < total; i++)
        if (!seen[i]) APR_ARRAY_PUSH(*missing, uint32_t) = i;
    return 0;
}

int tiler_store_stalled(tiler_store *s, int64_t before, apr_array_header_t **ids, apr_pool_t *p)
{
    apr_dbd_results_t *res = NULL;
    int rc = apr_dbd_pvselect(s->drv, p, s->db, &res, s->stalled, 0, num(p, before), NULL);
    if (rc) return fail(s, rc);
    *ids = collect_ids(s, res, p);
    return 0;
}

int tiler_store_note_resend(tiler_store *s, const char *id)
{
    apr_pool_t *p;
    int nrows, rc;
    apr_pool_create(&p, s->pool);
    rc = apr_dbd_pvquery(s->drv, p, s->db, &nrows, s->note_resend, num(p, apr_time_now()), id, NULL);
    apr_pool_destroy(p);
    return rc ? fail(s, rc) : 0;
}

int tiler_store_count_range(tiler_store *s, const char *id, uint32_t from, uint32_t to, uint32_t *n, apr_pool_t *p)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    int rc = apr_dbd_pvselect(s->drv, p, s->db, &res, s->count_range, 0, id, num(p, from), num(p, to), NULL);
    if (rc) return fail(s, rc);
    *n = 0;
    while (apr_dbd_get_row(s->drv, p, res, &row, -1) == 0) *n = (uint32_t)entry_int(apr_dbd_get_entry(s->drv, row, 0));
    return 0;
}
