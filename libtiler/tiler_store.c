#include "tiler_store.h"
#include "tiler_metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <apr_strings.h>
#include <apr_time.h>

/* Statements prepared once per connection, named for what they do. */
enum {
    ST_INSERT_JOB, ST_GET_JOB, ST_LIST_JOBS, ST_INSERT_TILE, ST_BUMP, ST_FINISH,
    ST_DELETE_TILES, ST_DELETE_JOB, ST_FINISHED_BEFORE, ST_NOTE_OFFSET, ST_GET_OFFSETS,
    ST_DELETE_OFFSETS, ST_COUNTED_TILES, ST_STALLED, ST_NOTE_RESEND, ST_COUNT_RANGE,
    ST_COMPLETE_UNFINISHED, ST_COUNT_ACTIVE, ST_BEGIN, ST_COMMIT, ST_ROLLBACK, ST_COUNT
};

struct tiler_store {
    apr_pool_t *pool;
    sqlite3 *db;
    char last_error[256];
    int last_full;          /* the last error was SQLITE_FULL: the disk is full */
    sqlite3_stmt *st[ST_COUNT];
};

static const char *schema[] = {
    "CREATE TABLE IF NOT EXISTS jobs ("
    " id TEXT PRIMARY KEY, state TEXT NOT NULL, width INTEGER NOT NULL, height INTEGER NOT NULL,"
    " tile_size INTEGER NOT NULL, ops TEXT NOT NULL, format TEXT NOT NULL,"
    " tiles_total INTEGER NOT NULL, tiles_done INTEGER NOT NULL DEFAULT 0,"
    " created INTEGER NOT NULL, finished INTEGER, error TEXT, updated INTEGER,"
    " resends INTEGER NOT NULL DEFAULT 0, alpha INTEGER NOT NULL DEFAULT 1,"
    " src_width INTEGER, src_height INTEGER, compression TEXT)",
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

#define JOB_COLUMNS "id, state, width, height, tile_size, ops, format, tiles_total, tiles_done, created, finished, error, updated, resends, alpha, src_width, src_height, compression"

static const char *statements[ST_COUNT] = {
    /* One statement, so counting the active jobs and adding one is atomic
     * across every connection: two uploads can never both take the last
     * place under TilerMaxJobs (?11; 0 for no limit). */
    [ST_INSERT_JOB] = "INSERT INTO jobs (id, state, width, height, tile_size, ops, format, tiles_total,"
                      " tiles_done, created, updated, alpha, src_width, src_height, compression)"
                      " SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, ?9, ?9, ?10, ?12, ?13, ?14"
                      " WHERE ?11 = 0 OR (SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')) < ?11",
    [ST_GET_JOB] = "SELECT " JOB_COLUMNS " FROM jobs WHERE id = ?1",
    [ST_LIST_JOBS] = "SELECT " JOB_COLUMNS " FROM jobs ORDER BY created DESC, id LIMIT ?1",
    [ST_INSERT_TILE] = "INSERT OR IGNORE INTO tiles (job, idx) SELECT ?1, ?2 WHERE EXISTS"
                       " (SELECT 1 FROM jobs WHERE id = ?1 AND state IN ('queued', 'running'))",
    [ST_BUMP] = "UPDATE jobs SET tiles_done = tiles_done + 1, updated = ?1,"
                " state = CASE state WHEN 'queued' THEN 'running' ELSE state END WHERE id = ?2",
    [ST_FINISH] = "UPDATE jobs SET state = ?1, finished = ?2, error = ?3 WHERE id = ?4 AND state IN ('queued', 'running')",
    [ST_DELETE_TILES] = "DELETE FROM tiles WHERE job = ?1",
    [ST_DELETE_JOB] = "DELETE FROM jobs WHERE id = ?1",
    [ST_FINISHED_BEFORE] = "SELECT id FROM jobs WHERE state IN ('done', 'failed') AND finished < ?1",
    [ST_NOTE_OFFSET] = "INSERT INTO task_offsets (job, part, last) VALUES (?1, ?2, ?3)"
                       " ON CONFLICT (job, part) DO UPDATE SET last = max(last, excluded.last)",
    [ST_GET_OFFSETS] = "SELECT part, last FROM task_offsets WHERE job = ?1 ORDER BY part",
    [ST_DELETE_OFFSETS] = "DELETE FROM task_offsets WHERE job = ?1",
    [ST_COUNTED_TILES] = "SELECT idx FROM tiles WHERE job = ?1 ORDER BY idx",
    [ST_STALLED] = "SELECT id FROM jobs WHERE state IN ('queued', 'running') AND updated < ?1 ORDER BY created",
    [ST_NOTE_RESEND] = "UPDATE jobs SET resends = resends + 1, updated = ?1 WHERE id = ?2",
    [ST_COUNT_RANGE] = "SELECT COUNT(*) FROM tiles WHERE job = ?1 AND idx >= ?2 AND idx < ?3",
    [ST_COMPLETE_UNFINISHED] = "SELECT id FROM jobs WHERE state IN ('queued', 'running') AND tiles_done >= tiles_total",
    [ST_COUNT_ACTIVE] = "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')",
    /* IMMEDIATE takes the write lock up front: a deferred transaction that
     * reads first can fail with BUSY when it upgrades, without waiting. */
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
};

static int fail(tiler_store *s)
{
    snprintf(s->last_error, sizeof(s->last_error), "%s", s->db ? sqlite3_errmsg(s->db) : "out of memory");
    s->last_full = s->db && (sqlite3_errcode(s->db) & 0xff) == SQLITE_FULL;
    return -1;
}

int tiler_store_fail(tiler_store *s)
{
    return fail(s);
}

int tiler_store_full(tiler_store *s)
{
    return s->last_full;
}

const char *tiler_store_error(tiler_store *s)
{
    return s->last_error[0] ? s->last_error : "unknown store error";
}

/* The statement, reset and with no value bound, ready for binding. */
static sqlite3_stmt *stmt(tiler_store *s, int which)
{
    sqlite3_stmt *st = s->st[which];
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v) sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else sqlite3_bind_null(st, i);
}

/* Runs a statement that returns no row. *changes (when given) gets the
 * rows it changed. 0 or -1. */
static int run(tiler_store *s, sqlite3_stmt *st, int *changes)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) return fail(s);
    if (changes) *changes = sqlite3_changes(s->db);
    return 0;
}

/* Steps to the next row: 1 a row, 0 the end (the statement is reset, so
 * that its read lock goes), -1 an error. */
static int next_row(tiler_store *s, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) return 1;
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : fail(s);
}

static const char *col_str(sqlite3_stmt *st, int i, apr_pool_t *p)
{
    const unsigned char *v = sqlite3_column_text(st, i);
    return v ? apr_pstrdup(p, (const char *)v) : NULL;
}

static int begin(tiler_store *s) { return run(s, stmt(s, ST_BEGIN), NULL); }
/* Ends a transaction after the work in it: commits when rc is 0 and the
 * commit goes through; otherwise rolls back, keeping the error that made
 * it necessary (the work's or the commit's). */
static int end_transaction(tiler_store *s, int rc)
{
    char why[sizeof(s->last_error)];
    int full;
    if (rc == 0 && run(s, stmt(s, ST_COMMIT), NULL) == 0) return 0;
    memcpy(why, s->last_error, sizeof(why));
    full = s->last_full;
    run(s, stmt(s, ST_ROLLBACK), NULL);
    memcpy(s->last_error, why, sizeof(why));
    s->last_full = full;
    return -1;
}

static int has_column(tiler_store *s, const char *name)
{
    sqlite3_stmt *st;
    int found = 0;
    if (sqlite3_prepare_v2(s->db, "PRAGMA table_info(jobs)", -1, &st, NULL) != SQLITE_OK) return 1;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *col = sqlite3_column_text(st, 1);
        if (col && !strcmp((const char *)col, name)) found = 1;
    }
    sqlite3_finalize(st);
    return found;
}

static apr_status_t store_cleanup(void *data)
{
    tiler_store *s = data;
    int i;
    for (i = 0; i < ST_COUNT; i++) sqlite3_finalize(s->st[i]);
    if (s->db) sqlite3_close(s->db);
    s->db = NULL;
    return APR_SUCCESS;
}

void tiler_store_global_init(void)
{
    /* SQLite's memory statistics take one process-wide mutex on every
     * allocation, which all of httpd's threads would queue on. Allowed only
     * before SQLite initialises; later (another module was first) it is
     * refused and changes nothing. */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

struct sqlite3 *tiler_store_connection(tiler_store *s)
{
    return s->db;
}

int tiler_store_open(tiler_store **out, const char *path, apr_pool_t *p, const char **err)
{
    tiler_store *s = apr_pcalloc(p, sizeof(*s));
    int i, rc;

    s->pool = p;
    rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    apr_pool_cleanup_register(p, s, store_cleanup, apr_pool_cleanup_null);
    if (rc != SQLITE_OK) {
        *err = apr_psprintf(p, "cannot open job store %s: %s", path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
        return -1;
    }
    /* Every child and the results consumer write; WAL lets readers go on
     * meanwhile, and the busy timeout turns lock contention into waiting. */
    sqlite3_busy_timeout(s->db, TILER_STORE_BUSY_MS);
    if (sqlite3_exec(s->db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL", NULL, NULL, NULL) != SQLITE_OK)
        goto bad;
    for (i = 0; schema[i]; i++)
        if (sqlite3_exec(s->db, schema[i], NULL, NULL, NULL) != SQLITE_OK) goto bad;
    if (tiler_metrics_schema(s->db) != SQLITE_OK) goto bad;
    /* Stores made before the column existed. */
    if (!has_column(s, "updated")) sqlite3_exec(s->db, "ALTER TABLE jobs ADD COLUMN updated INTEGER", NULL, NULL, NULL);
    if (!has_column(s, "resends"))
        sqlite3_exec(s->db, "ALTER TABLE jobs ADD COLUMN resends INTEGER NOT NULL DEFAULT 0", NULL, NULL, NULL);
    if (!has_column(s, "alpha"))
        sqlite3_exec(s->db, "ALTER TABLE jobs ADD COLUMN alpha INTEGER NOT NULL DEFAULT 1", NULL, NULL, NULL);
    /* Each column on its own: a store left with one of them (a child
     * stopped between the two, or another child's open in between) gets
     * the other at its next open. */
    if (!has_column(s, "src_width")) sqlite3_exec(s->db, "ALTER TABLE jobs ADD COLUMN src_width INTEGER", NULL, NULL, NULL);
    if (!has_column(s, "src_height")) sqlite3_exec(s->db, "ALTER TABLE jobs ADD COLUMN src_height INTEGER", NULL, NULL, NULL);
    if (!has_column(s, "compression")) sqlite3_exec(s->db, "ALTER TABLE jobs ADD COLUMN compression TEXT", NULL, NULL, NULL);
    for (i = 0; i < ST_COUNT; i++)
        if (sqlite3_prepare_v3(s->db, statements[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL) != SQLITE_OK)
            goto bad;
    *out = s;
    return 0;
bad:
    fail(s);
    *err = apr_psprintf(p, "job store %s: %s", path, tiler_store_error(s));
    return -1;
}

int tiler_store_create_job(tiler_store *s, const tiler_job *j, int max_active)
{
    sqlite3_stmt *st = stmt(s, ST_INSERT_JOB);
    int added = 0;
    bind_text(st, 1, j->id);
    bind_text(st, 2, j->state);
    sqlite3_bind_int64(st, 3, j->width);
    sqlite3_bind_int64(st, 4, j->height);
    sqlite3_bind_int64(st, 5, j->tile_size);
    bind_text(st, 6, j->ops);
    bind_text(st, 7, j->format);
    sqlite3_bind_int64(st, 8, j->tiles_total);
    sqlite3_bind_int64(st, 9, j->created);
    sqlite3_bind_int(st, 10, j->alpha ? 1 : 0);
    sqlite3_bind_int(st, 11, max_active > 0 ? max_active : 0);
    sqlite3_bind_int64(st, 12, j->src_width ? j->src_width : j->width);
    sqlite3_bind_int64(st, 13, j->src_height ? j->src_height : j->height);
    bind_text(st, 14, j->compression);
    if (run(s, st, &added) < 0) return -1;
    return added ? 0 : 1;
}

static void row_to_job(sqlite3_stmt *st, tiler_job *j, apr_pool_t *p)
{
    const unsigned char *id = sqlite3_column_text(st, 0);
    memset(j, 0, sizeof(*j));
    apr_cpystrn(j->id, id ? (const char *)id : "", sizeof(j->id));
    j->state = col_str(st, 1, p);
    j->width = (uint32_t)sqlite3_column_int64(st, 2);
    j->height = (uint32_t)sqlite3_column_int64(st, 3);
    j->tile_size = (uint32_t)sqlite3_column_int64(st, 4);
    j->ops = col_str(st, 5, p);
    j->format = col_str(st, 6, p);
    j->tiles_total = (uint32_t)sqlite3_column_int64(st, 7);
    j->tiles_done = (uint32_t)sqlite3_column_int64(st, 8);
    j->created = sqlite3_column_int64(st, 9);
    j->finished = sqlite3_column_int64(st, 10);
    j->error = col_str(st, 11, p);
    j->updated = sqlite3_column_int64(st, 12);
    if (!j->updated) j->updated = j->created;
    j->resends = (int)sqlite3_column_int64(st, 13);
    j->alpha = (int)sqlite3_column_int64(st, 14);
    /* Jobs from before the column: the upload was the result's size. */
    j->src_width = sqlite3_column_type(st, 15) == SQLITE_NULL ? j->width : (uint32_t)sqlite3_column_int64(st, 15);
    j->src_height = sqlite3_column_type(st, 16) == SQLITE_NULL ? j->height : (uint32_t)sqlite3_column_int64(st, 16);
    /* NULL for all but TIFF results; TIFF jobs from before the column
     * were Deflate, which NULL means to tiler_tiff_out_codec. */
    j->compression = col_str(st, 17, p);
}

int tiler_store_get_job(tiler_store *s, const char *id, tiler_job *j, apr_pool_t *p)
{
    sqlite3_stmt *st = stmt(s, ST_GET_JOB);
    int rc;
    bind_text(st, 1, id);
    if ((rc = next_row(s, st)) <= 0) return rc < 0 ? -1 : 1;
    row_to_job(st, j, p);
    sqlite3_reset(st);
    return 0;
}

int tiler_store_list_jobs(tiler_store *s, int limit, apr_array_header_t **jobs, apr_pool_t *p)
{
    sqlite3_stmt *st = stmt(s, ST_LIST_JOBS);
    int rc;
    sqlite3_bind_int(st, 1, limit);
    *jobs = apr_array_make(p, 16, sizeof(tiler_job));
    while ((rc = next_row(s, st)) > 0) row_to_job(st, apr_array_push(*jobs), p);
    return rc;
}

int tiler_store_count_tile(tiler_store *s, const char *id, uint32_t idx, int *counted,
                           tiler_job *after, apr_pool_t *p)
{
    sqlite3_stmt *st;
    int inserted = 0, rc;
    *counted = 0;
    if (begin(s)) return -1;
    st = stmt(s, ST_INSERT_TILE);
    bind_text(st, 1, id);
    sqlite3_bind_int64(st, 2, idx);
    rc = run(s, st, &inserted);
    if (!rc && inserted == 1) {
        st = stmt(s, ST_BUMP);
        sqlite3_bind_int64(st, 1, apr_time_now());
        bind_text(st, 2, id);
        rc = run(s, st, NULL);
    }
    if (end_transaction(s, rc)) return -1;
    *counted = inserted == 1;
    return tiler_store_get_job(s, id, after, p);
}

int tiler_store_finish(tiler_store *s, const char *id, const char *state, const char *error)
{
    sqlite3_stmt *st = stmt(s, ST_FINISH);
    bind_text(st, 1, state);
    sqlite3_bind_int64(st, 2, apr_time_now());
    bind_text(st, 3, error);
    bind_text(st, 4, id);
    return run(s, st, NULL);
}

/* The first column of every row, as strings. */
static int collect_ids(tiler_store *s, sqlite3_stmt *st, apr_array_header_t **ids, apr_pool_t *p)
{
    int rc;
    *ids = apr_array_make(p, 4, sizeof(const char *));
    while ((rc = next_row(s, st)) > 0) APR_ARRAY_PUSH(*ids, const char *) = col_str(st, 0, p);
    return rc;
}

/* The one number a COUNT(*) statement answers. 0 or -1. */
static int count(tiler_store *s, sqlite3_stmt *st, int64_t *n)
{
    int rc = next_row(s, st);
    *n = rc > 0 ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return rc < 0 ? -1 : 0;
}

int tiler_store_complete_unfinished(tiler_store *s, apr_array_header_t **ids, apr_pool_t *p)
{
    return collect_ids(s, stmt(s, ST_COMPLETE_UNFINISHED), ids, p);
}

int tiler_store_count_active(tiler_store *s, int *n)
{
    int64_t v;
    int rc = count(s, stmt(s, ST_COUNT_ACTIVE), &v);
    *n = (int)v;
    return rc;
}

int tiler_store_delete_job(tiler_store *s, const char *id)
{
    const int parts[] = { ST_DELETE_TILES, ST_DELETE_OFFSETS, ST_DELETE_JOB };
    int i, gone = 0, rc = 0;
    if (begin(s)) return -1;
    for (i = 0; i < 3 && !rc; i++) {
        sqlite3_stmt *st = stmt(s, parts[i]);
        bind_text(st, 1, id);
        rc = run(s, st, &gone);
    }
    if (end_transaction(s, rc)) return -1;
    return gone ? 0 : 1;
}

int tiler_store_finished_before(tiler_store *s, int64_t before, apr_array_header_t **ids, apr_pool_t *p)
{
    sqlite3_stmt *st = stmt(s, ST_FINISHED_BEFORE);
    sqlite3_bind_int64(st, 1, before);
    return collect_ids(s, st, ids, p);
}

int tiler_store_note_offsets(tiler_store *s, const char *id, const int64_t *last, int nparts)
{
    int i, rc = 0;
    if (begin(s)) return -1;
    for (i = 0; i < nparts && !rc; i++) {
        sqlite3_stmt *st;
        if (last[i] < 0) continue;
        st = stmt(s, ST_NOTE_OFFSET);
        bind_text(st, 1, id);
        sqlite3_bind_int(st, 2, i);
        sqlite3_bind_int64(st, 3, last[i]);
        rc = run(s, st, NULL);
    }
    return end_transaction(s, rc);
}

int tiler_store_get_offsets(tiler_store *s, const char *id, apr_array_header_t **offsets, apr_pool_t *p)
{
    sqlite3_stmt *st = stmt(s, ST_GET_OFFSETS);
    int rc;
    bind_text(st, 1, id);
    *offsets = apr_array_make(p, 4, sizeof(tiler_task_offset));
    while ((rc = next_row(s, st)) > 0) {
        tiler_task_offset *o = apr_array_push(*offsets);
        o->partition = (int32_t)sqlite3_column_int64(st, 0);
        o->last = sqlite3_column_int64(st, 1);
    }
    return rc;
}

int tiler_store_missing_tiles(tiler_store *s, const char *id, uint32_t total, apr_array_header_t **missing,
                              apr_pool_t *p)
{
    sqlite3_stmt *st = stmt(s, ST_COUNTED_TILES);
    unsigned char *seen = apr_pcalloc(p, total ? total : 1);
    uint32_t i;
    int rc;
    bind_text(st, 1, id);
    while ((rc = next_row(s, st)) > 0) {
        int64_t idx = sqlite3_column_int64(st, 0);
        if (idx >= 0 && (uint64_t)idx < total) seen[idx] = 1;
    }
    if (rc < 0) return -1;
    *missing = apr_array_make(p, 8, sizeof(uint32_t));
    for (i = 0; i < total; i++)
        if (!seen[i]) APR_ARRAY_PUSH(*missing, uint32_t) = i;
    return 0;
}

int tiler_store_stalled(tiler_store *s, int64_t before, apr_array_header_t **ids, apr_pool_t *p)
{
    sqlite3_stmt *st = stmt(s, ST_STALLED);
    sqlite3_bind_int64(st, 1, before);
    return collect_ids(s, st, ids, p);
}

int tiler_store_note_resend(tiler_store *s, const char *id)
{
    sqlite3_stmt *st = stmt(s, ST_NOTE_RESEND);
    sqlite3_bind_int64(st, 1, apr_time_now());
    bind_text(st, 2, id);
    return run(s, st, NULL);
}

int tiler_store_count_range(tiler_store *s, const char *id, uint32_t from, uint32_t to, uint32_t *n, apr_pool_t *p)
{
    sqlite3_stmt *st = stmt(s, ST_COUNT_RANGE);
    int64_t v;
    int rc;
    (void)p;
    bind_text(st, 1, id);
    sqlite3_bind_int64(st, 2, from);
    sqlite3_bind_int64(st, 3, to);
    rc = count(s, st, &v);
    *n = (uint32_t)v;
    return rc;
}
