#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sqlite3.h>
#include <apr_general.h>
#include <apr_thread_proc.h>
#include <apr_time.h>
#include "tap.h"
#include "tiler_store.h"

static tiler_job make(const char *id, apr_time_t created, uint32_t tiles)
{
    tiler_job j;
    memset(&j, 0, sizeof(j));
    strcpy(j.id, id);
    j.state = "queued";
    j.width = 1000; j.height = 700; j.tile_size = 512;
    j.ops = "grayscale,blur:3"; j.format = "png";
    j.tiles_total = tiles;
    j.created = created;
    return j;
}


/* A store call in a thread of its own: a writer that has to wait for the
 * write lock, or a reader. */
typedef struct {
    tiler_store *s;
    const char *id;
    int write;
    volatile int waiting, finished, rc, counted;
} store_call;

static void *APR_THREAD_FUNC call_store(apr_thread_t *t, void *data)
{
    store_call *c = data;
    apr_pool_t *p;
    tiler_job job;
    int counted = 0;
    apr_pool_create(&p, NULL);
    c->rc = c->write ? tiler_store_count_tile(c->s, c->id, 1, &counted, &job, p) : tiler_store_get_job(c->s, c->id, &job, p);
    c->counted = counted;
    c->finished = 1;
    apr_pool_destroy(p);
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

/* The writer's busy handler: SQLite calls it only when the write lock is
 * taken, so the flag it sets says the writer really is waiting (no guess
 * at how long a thread takes to get there). It keeps waiting, as the
 * store's own busy timeout would, for at most 10 s. */
static int writer_busy(void *data, int tries)
{
    store_call *c = data;
    c->waiting = 1;
    if (tries >= 10000) return 0;
    sqlite3_sleep(1);
    return 1;
}

/* Waits for a flag another thread sets, for at most ms milliseconds. */
static void wait_for_flag(volatile int *flag, int ms)
{
    int i;
    for (i = 0; i < ms && !*flag; i++) apr_sleep(1000);
}

/* While another process holds the write lock and a thread waits for it,
 * a second thread reads through its own connection and is answered while
 * the lock is still held. A process-wide lock around every query (apr-util's
 * sqlite3 driver has one) holds the reader for the writer's whole busy
 * timeout (10 s): httpd's status requests would queue behind a results
 * write. The 5 s allowed here only tells a wait from a hang. */
static void reader_not_held_by_waiting_writer(const char *path, const char *id, apr_pool_t *p)
{
    store_call w = { 0 }, r = { 0 };
    sqlite3 *blocker;
    apr_thread_t *wt, *rt;
    apr_status_t ts;
    const char *err = NULL;
    int writer_waited, answered_while_locked;

    if (tiler_store_open(&w.s, path, p, &err) || tiler_store_open(&r.s, path, p, &err)
        || sqlite3_open(path, &blocker) != SQLITE_OK) {
        ok(0, "connections for the lock test: %s", err ? err : "sqlite3_open failed");
        return;
    }
    ok(sqlite3_exec(blocker, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK, "another connection takes the write lock");
    w.id = r.id = id;
    w.write = 1;
    sqlite3_busy_handler(tiler_store_connection(w.s), writer_busy, &w);
    apr_thread_create(&wt, NULL, call_store, &w, p);
    wait_for_flag(&w.waiting, 5000);
    writer_waited = w.waiting && !w.finished;
    ok(writer_waited, "the writer waits for the lock");
    apr_thread_create(&rt, NULL, call_store, &r, p);
    wait_for_flag(&r.finished, 5000);
    answered_while_locked = writer_waited && r.finished && !w.finished;
    sqlite3_exec(blocker, "COMMIT", NULL, NULL, NULL);
    apr_thread_join(&ts, rt);
    apr_thread_join(&ts, wt);
    ok(answered_while_locked && r.rc == 0, "a reader on its own connection is answered while a writer waits for the lock");
    ok(w.rc == 0 && w.counted, "and the writer goes on once the lock is free");
    sqlite3_close(blocker);
}

/* TilerMaxJobs: the count and the insert are one statement, so processes
 * racing for the last places never take more than there are. */
static void max_active_is_atomic(const char *path, apr_pool_t *p)
{
    tiler_store *s;
    tiler_job k;
    const char *err = NULL;
    int active = -1, i, made = 0, refused = 0, bad = 0;

    if (tiler_store_open(&s, path, p, &err) < 0 || tiler_store_count_active(s, &active) < 0) {
        ok(0, "store for the limit test: %s", err ? err : "");
        return;
    }
    k = make("44444444444444444444444444444444", 6000000, 1);
    ok(tiler_store_create_job(s, &k, active) == 1 && tiler_store_get_job(s, k.id, &k, p) == 1,
       "with %d jobs active, a limit of %d refuses the next and records nothing", active, active);
    for (i = 0; i < 8; i++) {
        if (fork() == 0) {
            apr_pool_t *cp;
            tiler_store *cs;
            char id[33];
            tiler_job c;
            apr_pool_create(&cp, NULL);
            snprintf(id, sizeof(id), "5555555555555555555555555555555%x", i);
            c = make(id, 7000000 + i, 1);
            if (tiler_store_open(&cs, path, cp, &err) < 0) _exit(3);
            _exit(tiler_store_create_job(cs, &c, active + 3) == 0 ? 0 : tiler_store_create_job(cs, &c, active + 3) == 1 ? 1 : 2);
        }
    }
    for (i = 0; i < 8; i++) {
        int st;
        wait(&st);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0) made++;
        else if (WIFEXITED(st) && WEXITSTATUS(st) == 1) refused++;
        else bad++;
    }
    ok(made == 3 && refused == 5 && !bad, "eight processes racing for 3 places: %d recorded, %d refused, %d errors",
       made, refused, bad);
}

/* A store made before the upload's size was kept, and one a migration left
 * half done (src_width added, src_height not): both open, and an old job
 * reads as an upload of the result's size. */
static void old_stores(const char *dir, apr_pool_t *p)
{
    static const char *const half[] = { "", "ALTER TABLE jobs ADD COLUMN src_width INTEGER" };
    int k;
    for (k = 0; k < 2; k++) {
        char path[300];
        sqlite3 *db;
        tiler_store *s;
        tiler_job got;
        const char *err = NULL;
        snprintf(path, sizeof(path), "%s/old%d.db", dir, k);
        if (sqlite3_open(path, &db) != SQLITE_OK
            || sqlite3_exec(db, "CREATE TABLE jobs (id TEXT PRIMARY KEY, state TEXT NOT NULL, width INTEGER NOT NULL,"
                            " height INTEGER NOT NULL, tile_size INTEGER NOT NULL, ops TEXT NOT NULL, format TEXT NOT NULL,"
                            " tiles_total INTEGER NOT NULL, tiles_done INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL,"
                            " finished INTEGER, error TEXT, updated INTEGER, resends INTEGER NOT NULL DEFAULT 0,"
                            " alpha INTEGER NOT NULL DEFAULT 1);"
                            "INSERT INTO jobs (id, state, width, height, tile_size, ops, format, tiles_total, created)"
                            " VALUES ('00112233445566778899aabbccddeeff', 'done', 1000, 700, 512, 'invert', 'png', 4, 1)",
                            NULL, NULL, NULL) != SQLITE_OK
            || sqlite3_exec(db, half[k], NULL, NULL, NULL) != SQLITE_OK) {
            ok(0, "old store %d made: %s", k, sqlite3_errmsg(db));
            sqlite3_close(db);
            continue;
        }
        sqlite3_close(db);
        ok(tiler_store_open(&s, path, p, &err) == 0, "%s opens: %s", k ? "a half-migrated store" : "an old store",
           err ? err : "");
        ok(err == NULL && tiler_store_get_job(s, "00112233445566778899aabbccddeeff", &got, p) == 0 && got.width == 1000
           && got.height == 700 && got.src_width == 1000 && got.src_height == 700 && got.compression == NULL,
           "...its job: a 1000x700 result of a 1000x700 upload, no compression (a Deflate TIFF, were it one)");
        if (!err) {
            /* The compression column came with the open: a JPEG-TIFF job
             * keeps its choice. */
            tiler_job j = make("ffeeddccbbaa99887766554433221100", 2, 4);
            j.format = "tiff";
            j.compression = "jpeg";
            ok(tiler_store_create_job(s, &j, 0) == 0
               && tiler_store_get_job(s, "ffeeddccbbaa99887766554433221100", &got, p) == 0 && got.compression
               && !strcmp(got.compression, "jpeg") && !strcmp(got.format, "tiff"),
               "...a TIFF job made after keeps its compression, jpeg");
        }
    }
}

int main(void)
{
    apr_pool_t *p;
    tiler_store *s, *s2;
    tiler_job j, got;
    apr_array_header_t *list, *ids;
    const char *err = NULL;
    char dir[] = "/tmp/tiler-test-store-XXXXXX", path[256];
    int counted, i, all;
    const char *a = "0123456789abcdef0123456789abcdef", *b = "fedcba9876543210fedcba9876543210";

    apr_initialize();
    apr_pool_create(&p, NULL);
    if (!mkdtemp(dir)) return 1;
    snprintf(path, sizeof(path), "%s/tiler.db", dir);
    ok(tiler_store_open(&s, path, p, &err) == 0, "store opens and creates its schema: %s", err ? err : "");
    ok(tiler_store_open(&s2, path, p, &err) == 0, "a second connection opens the same store");

    j = make(a, 1000000, 3);
    ok(tiler_store_create_job(s, &j, 0) == 0, "job created");
    j = make(b, 2000000, 2);
    j.alpha = 1;
    ok(tiler_store_create_job(s, &j, 0) == 0, "second job created");
    ok(tiler_store_get_job(s, b, &got, p) == 0 && got.alpha == 1, "the alpha flag is kept");
    ok(tiler_store_create_job(s, &j, 0) < 0, "duplicate id refused");
    ok(tiler_store_get_job(s2, a, &got, p) == 0 && !strcmp(got.state, "queued") && got.tiles_total == 3 && !got.alpha
       && got.width == 1000 && !strcmp(got.ops, "grayscale,blur:3") && got.finished == 0 && !got.error,
       "job reads back through another connection");
    ok(tiler_store_get_job(s, "00000000000000000000000000000000", &got, p) == 1, "unknown job: not found");

    ok(tiler_store_list_jobs(s, 10, &list, p) == 0 && list->nelts == 2
       && !strcmp(APR_ARRAY_IDX(list, 0, tiler_job).id, b), "list is newest first");

    ok(tiler_store_count_tile(s, a, 0, &counted, &got, p) == 0 && counted && got.tiles_done == 1
       && !strcmp(got.state, "running"), "first tile counted, job running");
    all = 1;
    for (i = 0; i < 5; i++) {
        all &= tiler_store_count_tile(i % 2 ? s : s2, a, 0, &counted, &got, p) == 0 && !counted && got.tiles_done == 1;
    }
    ok(all, "the same tile again, from either connection, is not counted twice");
    tiler_store_count_tile(s, a, 2, &counted, &got, p);
    tiler_store_count_tile(s, a, 1, &counted, &got, p);
    ok(got.tiles_done == 3, "all three tiles counted");
    ok(tiler_store_complete_unfinished(s, &ids, p) == 0 && ids->nelts == 1 && !strcmp(APR_ARRAY_IDX(ids, 0, const char *), a),
       "a job with all tiles in but not done is found for finishing");
    ok(tiler_store_finish(s, a, "done", NULL) == 0, "job finished");
    ok(tiler_store_get_job(s, a, &got, p) == 0 && !strcmp(got.state, "done") && got.finished >= got.created, "done with a finish time");
    ok(tiler_store_count_tile(s, a, 1, &counted, &got, p) == 0 && !counted && got.tiles_done == 3, "tiles of a done job change nothing");
    ok(tiler_store_finish(s, a, "failed", "late") == 0 && tiler_store_get_job(s, a, &got, p) == 0
       && !strcmp(got.state, "done") && !got.error, "a done job cannot be failed afterwards");
    ok(tiler_store_finish(s, b, "failed", "kafka said no") == 0 && tiler_store_get_job(s, b, &got, p) == 0
       && !strcmp(got.state, "failed") && got.error && !strcmp(got.error, "kafka said no"), "failed job keeps its error");

    {
        int active = -1;
        ok(tiler_store_count_active(s, &active) == 0 && active == 0, "no active jobs now (%d)", active);
        ok(tiler_store_finished_before(s, apr_time_now() + 1000000, &ids, p) == 0 && ids->nelts == 2,
           "both finished jobs are older than a second from now");
        ok(tiler_store_finished_before(s, 0, &ids, p) == 0 && ids->nelts == 0, "none finished before the epoch");
        ok(tiler_store_delete_job(s, b) == 0 && tiler_store_get_job(s, b, &got, p) == 1, "a job is deleted");
        ok(tiler_store_delete_job(s, b) == 1, "deleting it again: no such job");
    }

    /* Concurrent counting from several processes: each tile exactly once. */
    j = make("11111111111111111111111111111111", 3000000, 200);
    tiler_store_create_job(s, &j, 0);
    for (i = 0; i < 4; i++) {
        if (fork() == 0) {
            apr_pool_t *cp;
            tiler_store *cs;
            int t;
            apr_pool_create(&cp, NULL);
            if (tiler_store_open(&cs, path, cp, &err) < 0) _exit(1);
            for (t = 0; t < 200; t++) if (tiler_store_count_tile(cs, j.id, (uint32_t)t, &counted, &got, cp) < 0) _exit(2);
            _exit(0);
        }
    }
    all = 1;
    for (i = 0; i < 4; i++) { int st; wait(&st); all &= WIFEXITED(st) && WEXITSTATUS(st) == 0; }
    ok(all, "four processes counting the same 200 tiles all succeed");
    ok(tiler_store_get_job(s, j.id, &got, p) == 0 && got.tiles_done == 200, "and each tile counted once: %u", got.tiles_done);
    {
        int active = -1;
        ok(tiler_store_count_active(s, &active) == 0 && active == 1, "one active job counted (%d)", active);
    }

    /* What the resend check needs: offsets, missing tiles, stalled jobs. */
    {
        const char *c = "22222222222222222222222222222222";
        int64_t first[3] = { 10, -1, 7 }, second[3] = { 4, 20, 9 };
        apr_array_header_t *offs, *missing;
        j = make(c, 4000000, 5);
        tiler_store_create_job(s, &j, 0);
        ok(tiler_store_note_offsets(s, c, first, 3) == 0 && tiler_store_note_offsets(s2, c, second, 3) == 0,
           "task offsets recorded twice, from two connections");
        ok(tiler_store_get_offsets(s, c, &offs, p) == 0 && offs->nelts == 3
           && APR_ARRAY_IDX(offs, 0, tiler_task_offset).partition == 0 && APR_ARRAY_IDX(offs, 0, tiler_task_offset).last == 10
           && APR_ARRAY_IDX(offs, 1, tiler_task_offset).last == 20 && APR_ARRAY_IDX(offs, 2, tiler_task_offset).last == 9,
           "each partition keeps its highest offset, and a skipped one is absent until given");
        tiler_store_count_tile(s, c, 1, &counted, &got, p);
        tiler_store_count_tile(s, c, 3, &counted, &got, p);
        {
            uint32_t n = 99;
            ok(tiler_store_count_range(s, c, 0, 3, &n, p) == 0 && n == 1 && tiler_store_count_range(s, c, 1, 4, &n, p) == 0
               && n == 2 && tiler_store_count_range(s, c, 4, 5, &n, p) == 0 && n == 0, "tiles counted in a range of indexes");
        }
        ok(tiler_store_missing_tiles(s, c, 5, &missing, p) == 0 && missing->nelts == 3
           && APR_ARRAY_IDX(missing, 0, uint32_t) == 0 && APR_ARRAY_IDX(missing, 1, uint32_t) == 2
           && APR_ARRAY_IDX(missing, 2, uint32_t) == 4, "the uncounted tiles are 0, 2 and 4");
        ok(tiler_store_stalled(s, apr_time_now() + 1000000, &ids, p) == 0 && ids->nelts == 2,
           "both active jobs count as stalled against a time in the future (%d)", ids ? ids->nelts : -1);
        ok(tiler_store_stalled(s, apr_time_now() - 60000000, &ids, p) == 0 && ids->nelts == 0,
           "none made its last progress over a minute ago");
        ok(tiler_store_note_resend(s, c) == 0 && tiler_store_note_resend(s, c) == 0
           && tiler_store_get_job(s2, c, &got, p) == 0 && got.resends == 2 && got.updated > 4000000,
           "two resends counted, and counted as progress");
        ok(tiler_store_delete_job(s, c) == 0 && tiler_store_get_offsets(s, c, &offs, p) == 0 && offs->nelts == 0,
           "deleting the job removes its offsets");
    }

    j = make("33333333333333333333333333333333", 5000000, 4);
    ok(tiler_store_create_job(s, &j, 0) == 0, "a job for the lock test");
    reader_not_held_by_waiting_writer(path, j.id, p);
    max_active_is_atomic(path, p);
    old_stores(dir, p);

    apr_pool_destroy(p);
    {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        if (system(cmd)) { }
    }
    apr_terminate();
    return done_testing();
}
