/* Assembly: what the results consumer decides about each result, without
 * httpd or Kafka. A result's pixels go into its job's spool raster, its
 * tile is counted once in the job store, and the work that becomes due is
 * handed to a sink: a strip when a row of tiles is complete, the result
 * when the last tile is in. The module's glue (mod_tiler_results.c) feeds
 * it Kafka messages and gives it a sink that queues encoder tasks; the
 * unit tests feed it messages and count what the sink is asked. It also
 * decides which jobs to finish at start (catch-up) and which to remove
 * (TilerJobTTL). One object is one thread's: it holds a store connection. */
#ifndef TILER_ASSEMBLY_H
#define TILER_ASSEMBLY_H

#include <stddef.h>
#include <stdint.h>
#include <apr_pools.h>
#include "tiler_store.h"

/* What the assembly logs, so the glue can give each its own number
 * (APLOGNO in the module). */
typedef enum {
    TILER_ASM_EV_NOT_A_RESULT,   /* undecodable, or a task on the results topic: skipped */
    TILER_ASM_EV_WORKER_FAILED,  /* a FAILURE message: the job failed */
    TILER_ASM_EV_DEAD_UNCOUNTED, /* a FAILURE message's tile not counted in the metrics */
    TILER_ASM_EV_MISFIT,         /* a result whose geometry is not its job's: skipped */
    TILER_ASM_EV_RASTER,         /* the pixels cannot be written: the job failed */
    TILER_ASM_EV_COUNT,          /* the store cannot count the tile: retry */
    TILER_ASM_EV_SWEPT           /* jobs past TilerJobTTL removed */
} tiler_asm_event;

/* syslog's (and httpd's) numbers. */
#define TILER_ASM_ERR     3
#define TILER_ASM_WARNING 4
#define TILER_ASM_INFO    6

typedef struct {
    void *ctx;
    /* Strip k (one per row of tiles) of the job can be encoded: every tile
     * of its row is counted. Asked once per row, when the row's last tile
     * is counted, for results made of strips (tiler_assembly_in_strips)
     * and, with tiff_rows, TIFF results (a row of TIFF tiles is not
     * encoded again, but its zoom pyramid can be fed), and not for the
     * row completed by the job's last tile (job_complete covers it).
     * NULL: strips are all left to the end. */
    void (*strip_ready)(void *ctx, const char *job_id, uint32_t k);
    /* Every tile of the job is counted: encode its result. Asked when the
     * last tile is counted, and again by any result (a duplicate) applied
     * while the job is still queued or running, and by catch-up: the sink
     * keeps one encoding per job however often it is asked. */
    void (*job_complete)(void *ctx, const char *job_id);
} tiler_asm_sink;

typedef struct {
    const char *spool_dir;
    const char *store_path;      /* opened by tiler_assembly_create, one connection */
    int job_ttl_seconds;         /* finished jobs older than this are removed; 0 keeps them */
    int tiff_rows;               /* tell the sink of TIFF jobs' complete rows too (their zoom pyramids' feeds) */
    tiler_asm_sink sink;
    void *log_ctx;
    void (*log)(void *ctx, int level, tiler_asm_event ev, const char *msg);   /* NULL: silent */
} tiler_asm_config;

typedef struct tiler_assembly tiler_assembly;

/* Opens the store. 0, or -1 with *err (from p). Lives until p is cleared. */
int tiler_assembly_create(tiler_assembly **a, const tiler_asm_config *cfg, apr_pool_t *p, const char **err);

/* Applies one message from the results topic (its partition and offset
 * are for the log). 0 when it is dealt with, its offset may be stored:
 * applied, or skipped as late, duplicate or unfit, or its job failed.
 * -1 when it must be applied again later: the store cannot answer. p is
 * scratch. */
int tiler_assembly_apply(tiler_assembly *a, const void *payload, size_t len, int32_t partition, int64_t offset,
                         apr_pool_t *p);

/* Asks the sink to finish every job whose tiles are all counted but whose
 * result was never made (the last tile landed just before a crash): once
 * when the consumer starts. 0, or -1 when the store cannot say. */
int tiler_assembly_catch_up(tiler_assembly *a, apr_pool_t *p);

/* Removes the files and rows of jobs that finished before now minus
 * job_ttl_seconds (now in apr_time_t). The number removed, or -1. */
int tiler_assembly_sweep(tiler_assembly *a, int64_t now, apr_pool_t *p);

/* The assembly's store connection, for the glue's own notes on the same
 * thread (the results consumer's metrics). */
tiler_store *tiler_assembly_store(tiler_assembly *a);

/* Whether the job's result is encoded strip by strip, one per row of
 * tiles: PNG always; JPEG when its rows of tiles start on MCU rows and its
 * sides fit a JPEG (else it is encoded at the end, in bands). */
int tiler_assembly_in_strips(const tiler_job *job);

/* Fails job id with why and frees its work files (raster, upload, strips,
 * tiles). The failure is recorded first, so that another thread that
 * finds the files gone (an encoder opening the raster) cannot record that
 * consequence as the cause; only when the store cannot record it (a disk
 * the job's own files filled) does the upload go first, to make room, and
 * if that is not enough the rest, the store being asked again each time.
 * 0, or -1 when it still cannot record it. */
int tiler_assembly_fail(tiler_store *store, const char *spool_dir, const char *id, const char *why);


#endif
