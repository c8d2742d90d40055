/* The job store: job metadata, state history and counted tiles, in SQLite
 * (WAL), shared by every httpd child. Pixels are not here; they live in the
 * spool raster. A connection is used by one thread at a time; threads with
 * their own connections never wait on each other to read. */
#ifndef TILER_STORE_H
#define TILER_STORE_H

#include <stdint.h>
#include <apr_pools.h>
#include <apr_tables.h>

typedef struct tiler_store tiler_store;

/* How long a connection waits for another's write lock (SQLite's busy
 * timeout). */
#define TILER_STORE_BUSY_MS 10000

typedef struct {
    char id[33];
    const char *state;         /* queued | running | done | failed */
    uint32_t width, height, tile_size;   /* the result's size (flips, rotations and downscales change it) */
    uint32_t src_width, src_height;      /* the upload's; 0 when creating: the result's */
    const char *ops;           /* canonical chain */
    const char *format;        /* result format: png | jpeg | tiff */
    const char *compression;   /* a TIFF result's tiles: deflate | jpeg (NULL: deflate); NULL for others */
    uint32_t tiles_total, tiles_done;
    int64_t created, finished; /* apr_time_t microseconds; 0 when unset */
    int64_t updated;           /* last progress (creation, or a tile counted) */
    int resends;               /* times lost tiles were produced again */
    int alpha;                 /* the upload has transparency: the PNG result is RGBA */
    int stuck;                 /* set by the caller: no progress for long while work waits */
    int zoom;                  /* set by the caller: the zoom pyramid is ready (zoom_url) */
    const char *error;         /* NULL unless failed */
} tiler_job;

/* Once per process, before any store is opened and before other threads
 * start (httpd: post_config in the parent). */
void tiler_store_global_init(void);

/* Opens (creating the schema when needed). On failure returns -1 and sets
 * *err (allocated from p). The store lives until p is cleared. */
int tiler_store_open(tiler_store **s, const char *path, apr_pool_t *p, const char **err);
/* The connection itself, for tests that must see SQLite wait for a lock. */
struct sqlite3 *tiler_store_connection(tiler_store *s);
const char *tiler_store_error(tiler_store *s);
/* Whether the last error was the disk (or the database's size limit)
 * being full: waiting does not help unless something is freed. */
int tiler_store_full(tiler_store *s);
/* Notes the connection's last SQLite error as the store's error (for code
 * that uses tiler_store_connection itself) and returns -1. */
int tiler_store_fail(tiler_store *s);

/* 0 recorded; 1 not, as max_active jobs (> 0) are queued or running
 * already; -1 an error (a duplicate id among them). */
int tiler_store_create_job(tiler_store *s, const tiler_job *j, int max_active);
/* 0 found, 1 not found, -1 error. Strings are allocated from p. */
int tiler_store_get_job(tiler_store *s, const char *id, tiler_job *j, apr_pool_t *p);
/* Newest first, at most limit; an array of tiler_job. */
int tiler_store_list_jobs(tiler_store *s, int limit, apr_array_header_t **jobs, apr_pool_t *p);
/* Counts tile idx of job once, whatever the number of calls, and moves a
 * queued job to running. *counted says whether this call counted it. The
 * job after the update is returned in *after. 0, 1 no such job, -1 error. */
int tiler_store_count_tile(tiler_store *s, const char *id, uint32_t idx, int *counted,
                           tiler_job *after, apr_pool_t *p);
/* Moves a job that is not yet done or failed to done/failed, with finished
 * time and error text. 0, or -1. */
int tiler_store_finish(tiler_store *s, const char *id, const char *state, const char *error);
/* Jobs queued or running now. 0 or -1. */
int tiler_store_count_active(tiler_store *s, int *n);
/* Removes a job and its counted tiles. 0 removed, 1 no such job, -1 error. */
int tiler_store_delete_job(tiler_store *s, const char *id);
/* Ids of done or failed jobs that finished before the given time (apr_time_t). */
int tiler_store_finished_before(tiler_store *s, int64_t before, apr_array_header_t **ids, apr_pool_t *p);
/* Ids of jobs whose tiles are all counted but which are not done yet. */
int tiler_store_complete_unfinished(tiler_store *s, apr_array_header_t **ids, apr_pool_t *p);

/* Where a job's tasks went: the highest offset on one tasks partition. */
typedef struct {
    int32_t partition;
    int64_t last;
} tiler_task_offset;

/* Records, for partitions 0..nparts-1, the highest offset of this job's
 * tasks (entries < 0 are skipped; an offset never moves back). 0 or -1. */
int tiler_store_note_offsets(tiler_store *s, const char *id, const int64_t *last, int nparts);
/* An array of tiler_task_offset, by partition. 0 or -1. */
int tiler_store_get_offsets(tiler_store *s, const char *id, apr_array_header_t **offsets, apr_pool_t *p);
/* Tile indexes below total that are not counted yet, ascending (uint32_t). */
int tiler_store_missing_tiles(tiler_store *s, const char *id, uint32_t total, apr_array_header_t **missing,
                              apr_pool_t *p);
/* Ids of queued or running jobs without progress since before, oldest first. */
int tiler_store_stalled(tiler_store *s, int64_t before, apr_array_header_t **ids, apr_pool_t *p);
/* How many tiles with from <= idx < to are counted. 0 or -1. */
int tiler_store_count_range(tiler_store *s, const char *id, uint32_t from, uint32_t to, uint32_t *n, apr_pool_t *p);
/* Counts one more resend and takes it as progress (updated = now). */
int tiler_store_note_resend(tiler_store *s, const char *id);

#endif
