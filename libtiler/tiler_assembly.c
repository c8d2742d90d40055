#include "tiler_assembly.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <apr_strings.h>
#include <apr_time.h>
#include "tiler_defaults.h"
#include "tiler_id.h"
#include "tiler_jpeg_out.h"
#include "tiler_raster.h"
#include "tiler_metrics.h"
#include "tiler_msg.h"
#include "tiler_spool.h"
#include "tiler_png_tile.h"
#include "tiler_tiff_out.h"

struct tiler_assembly {
    tiler_asm_config c;
    tiler_store *store;
};

static void say(tiler_assembly *a, int level, tiler_asm_event ev, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void say(tiler_assembly *a, int level, tiler_asm_event ev, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    if (!a->c.log) return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    a->c.log(a->c.log_ctx, level, ev, msg);
}

int tiler_assembly_create(tiler_assembly **out, const tiler_asm_config *cfg, apr_pool_t *p, const char **err)
{
    tiler_assembly *a = apr_pcalloc(p, sizeof(*a));
    a->c = *cfg;
    a->c.spool_dir = apr_pstrdup(p, cfg->spool_dir);
    if (tiler_store_open(&a->store, cfg->store_path, p, err) < 0) return -1;
    *out = a;
    return 0;
}

tiler_store *tiler_assembly_store(tiler_assembly *a)
{
    return a->store;
}

int tiler_assembly_in_strips(const tiler_job *job)
{
    if (!strcmp(job->format, "tiff")) return 0;
    if (strcmp(job->format, "jpeg")) return 1;
    return job->tile_size % tiler_jpeg_mcu_rows(TILER_JPEG_QUALITY) == 0 && job->width <= 65500 && job->height <= 65500;
}

static int active(const tiler_job *job)
{
    return !strcmp(job->state, "queued") || !strcmp(job->state, "running");
}

int tiler_assembly_fail(tiler_store *store, const char *spool_dir, const char *id, const char *why)
{
    char upload[4096];
    if (tiler_store_finish(store, id, "failed", why) == 0) {
        tiler_spool_drop_work(spool_dir, id);
        return 0;
    }
    /* The store cannot write: its disk is full. The upload goes first (only
     * a resend reads it, never an encoder, which would take a missing file
     * for the cause); then, if that was not room enough, the rest. */
    if (tiler_spool_path(upload, sizeof(upload), spool_dir, id, TILER_SPOOL_INPUT) == 0 && unlink(upload) == 0
        && tiler_store_finish(store, id, "failed", why) == 0) {
        tiler_spool_drop_work(spool_dir, id);
        return 0;
    }
    tiler_spool_drop_work(spool_dir, id);
    return tiler_store_finish(store, id, "failed", why);
}

/* Fails a job and frees its raster and upload: a full disk must not stay full. */
static int fail_job(tiler_assembly *a, const char *id, const char *reason)
{
    return tiler_assembly_fail(a->store, a->c.spool_dir, id, reason);
}

/* Whether an ENCODED result is the tile of the job it names (a TIFF job,
 * or a PNG job whose workers deflate its rows): the job's encoding, the
 * tile's place in the grid, bytes that can be that encoding's within its
 * bounds (a worker is trusted with its pixels, not with where they go). */
static int encoded_fits(const tiler_job *job, const tiler_msg *m)
{
    tiler_tile_enc enc;
    uint32_t cols, x, y;
    if (!tiler_job_enc(job, &enc) || m->kind != TILER_MSG_ENCODED) return 0;
    if (memcmp(&enc, &m->enc, sizeof(enc))) return 0;
    cols = (job->width + enc.side - 1) / enc.side;
    x = m->tile_index % cols * enc.side;
    y = m->tile_index / cols * enc.side;
    if (m->core.x != x || m->core.y != y || m->core.w != (job->width - x < enc.side ? job->width - x : enc.side)
        || m->core.h != (job->height - y < enc.side ? job->height - y : enc.side))
        return 0;
    if (enc.codec == TILER_CODEC_PNG_ROWS)
        return tiler_png_tile_plausible(m->pixels, m->payload_len, m->core.w, m->core.h, enc.samples, x == 0);
    return tiler_tiff_out_plausible(&enc, m->pixels, m->payload_len);
}

/* Places an encoded tile: its bytes at the end of the tiles file, its
 * place in the index. 0, or -1 with err. */
static int tiles_place(tiler_assembly *a, const char *id, const tiler_msg *m, char *err, size_t errlen)
{
    char tiles[4096], index[4096];
    if (tiler_spool_path(tiles, sizeof(tiles), a->c.spool_dir, id, TILER_SPOOL_TILES) < 0
        || tiler_spool_path(index, sizeof(index), a->c.spool_dir, id, TILER_SPOOL_TILE_INDEX) < 0) {
        snprintf(err, errlen, "no spool path for the tiles");
        return -1;
    }
    return tiler_tiff_out_add(tiles, index, m->tile_index, m->pixels, m->payload_len, err, errlen);
}

/* Tile idx of the job was just counted, and the job is not complete: its
 * row's strip is due when the whole row is counted now. A store that
 * cannot say leaves the strip to the end. */
static void maybe_strip(tiler_assembly *a, const tiler_job *job, uint32_t idx, apr_pool_t *p)
{
    uint32_t cols, row, from, to, n;
    if (!a->c.sink.strip_ready || !(tiler_assembly_in_strips(job) || (a->c.tiff_rows && !strcmp(job->format, "tiff"))))
        return;
    cols = (job->width + job->tile_size - 1) / job->tile_size;
    row = idx / cols;
    from = row * cols;
    to = from + cols < job->tiles_total ? from + cols : job->tiles_total;
    if (tiler_store_count_range(a->store, job->id, from, to, &n, p) < 0 || n < to - from) return;
    a->c.sink.strip_ready(a->c.sink.ctx, job->id, row);
}

int tiler_assembly_apply(tiler_assembly *a, const void *payload, size_t len, int32_t partition, int64_t offset,
                         apr_pool_t *p)
{
    tiler_msg msg;
    tiler_job job;
    char id[TILER_ID_HEX_LEN + 1], raster[4096], err[512];
    tiler_tile_enc enc;
    int counted, rc;

    if (tiler_msg_decode(&msg, payload, len, err, sizeof(err)) < 0 || msg.kind == TILER_MSG_TASK) {
        say(a, TILER_ASM_WARNING, TILER_ASM_EV_NOT_A_RESULT, "skipping result at partition %d offset %lld: %s",
            (int)partition, (long long)offset, msg.kind == TILER_MSG_TASK ? "a task, not a result" : err);
        return 0;
    }
    tiler_id_to_hex(msg.job_id, id);
    rc = tiler_store_get_job(a->store, id, &job, p);
    if (rc < 0) return -1;
    /* Counted once per tile of a known job, whatever became of the job; a
     * counter that cannot be written never holds up the results. */
    if (rc == 0 && msg.kind == TILER_MSG_FAILURE && tiler_metrics_dead_tile(a->store, id, msg.tile_index) < 0)
        say(a, TILER_ASM_WARNING, TILER_ASM_EV_DEAD_UNCOUNTED, "job %s: dead-lettered tile %u not counted: %s", id,
            msg.tile_index, tiler_store_error(a->store));
    if (rc == 1 || !active(&job)) {
        /* A job that was removed or has ended: late or duplicate tile. */
        return 0;
    }
    /* A PNG job a newer build recorded, with an encoding this one does
     * not know: neither its tiles nor a raster can be assembled here. */
    if (!strcmp(job.format, "png") && job.compression && !tiler_png_tile_job(&job, &enc)) {
        say(a, TILER_ASM_ERR, TILER_ASM_EV_RASTER, "job %s: unknown PNG compression '%s'", id, job.compression);
        return fail_job(a, id, apr_psprintf(p, "unknown PNG compression '%s'", job.compression)) < 0 ? -1 : 0;
    }
    if (msg.kind == TILER_MSG_FAILURE) {
        /* A worker gave up on a tile (see the dead-letter topic). */
        say(a, TILER_ASM_WARNING, TILER_ASM_EV_WORKER_FAILED, "job %s failed: %s", id, msg.ops);
        return fail_job(a, id, msg.ops) < 0 ? -1 : 0;
    }
    if (msg.image_w != job.width || msg.image_h != job.height || msg.tiles_total != job.tiles_total
        || memcmp(&msg.src, &msg.core, sizeof(msg.src))
        || (tiler_job_enc(&job, &enc) ? !encoded_fits(&job, &msg) : msg.kind != TILER_MSG_RESULT)) {
        say(a, TILER_ASM_WARNING, TILER_ASM_EV_MISFIT, "job %s: result tile %u does not fit the job; skipped", id,
            msg.tile_index);
        return 0;
    }
    /* A tile counted already has its pixels in the raster (they go in
     * before the count), and its rows may be encoded and freed since, or the
     * raster gone with the last join while the job is still being finished:
     * a copy that comes again (at-least-once delivery, a worker that stalled
     * past its session and sends what it had) is not written again. */
    {
        uint32_t seen;
        if (tiler_store_count_range(a->store, id, msg.tile_index, msg.tile_index + 1, &seen, p) < 0) {
            say(a, TILER_ASM_ERR, TILER_ASM_EV_COUNT, "job %s: cannot count tile %u: %s", id, msg.tile_index,
                tiler_store_error(a->store));
            return -1;
        }
        if (seen) {
            if (job.tiles_done >= job.tiles_total && a->c.sink.job_complete) a->c.sink.job_complete(a->c.sink.ctx, id);
            return 0;
        }
    }
    /* Pixels first, then the count: a crash in between only repeats the
     * (idempotent) write when the tile comes again. A TIFF tile written
     * again is appended again, and the index then points at the copy. */
    if (msg.kind == TILER_MSG_ENCODED ? tiles_place(a, id, &msg, err, sizeof(err)) < 0
        : (tiler_spool_path(raster, sizeof(raster), a->c.spool_dir, id, TILER_SPOOL_RASTER) < 0
           || tiler_raster_write(raster, job.width, job.height, &msg, err, sizeof(err)) < 0)) {
        if (tiler_store_get_job(a->store, id, &job, p) == 1) return 0;   /* deleted meanwhile */
        say(a, TILER_ASM_ERR, TILER_ASM_EV_RASTER, "job %s: %s", id, err);
        fail_job(a, id, apr_psprintf(p, "assembling the result failed: %s", err));
        return 0;
    }
    rc = tiler_store_count_tile(a->store, id, msg.tile_index, &counted, &job, p);
    if (rc < 0 && tiler_store_full(a->store)) {
        /* Retrying would wait for a disk this job helped fill: the job
         * fails, its files making the room to say so (tiler_assembly_fail). */
        char why[512];
        snprintf(why, sizeof(why), "assembling the result failed: the job store cannot count tile %u: %s",
                 msg.tile_index, tiler_store_error(a->store));
        say(a, TILER_ASM_ERR, TILER_ASM_EV_RASTER, "job %s: %s", id, why);
        return fail_job(a, id, why) < 0 ? -1 : 0;
    }
    if (rc < 0) {
        say(a, TILER_ASM_ERR, TILER_ASM_EV_COUNT, "job %s: cannot count tile %u: %s", id, msg.tile_index,
            tiler_store_error(a->store));
        return -1;
    }
    if (rc != 0) return 0;   /* removed meanwhile */
    if (job.tiles_done >= job.tiles_total) {
        if (a->c.sink.job_complete) a->c.sink.job_complete(a->c.sink.ctx, id);
    } else if (counted) {
        maybe_strip(a, &job, msg.tile_index, p);
    }
    return 0;
}

int tiler_assembly_catch_up(tiler_assembly *a, apr_pool_t *p)
{
    apr_array_header_t *ids;
    int i;
    if (tiler_store_complete_unfinished(a->store, &ids, p) < 0) return -1;
    for (i = 0; i < ids->nelts && a->c.sink.job_complete; i++)
        a->c.sink.job_complete(a->c.sink.ctx, APR_ARRAY_IDX(ids, i, const char *));
    return 0;
}

int tiler_assembly_sweep(tiler_assembly *a, int64_t now, apr_pool_t *p)
{
    apr_array_header_t *ids;
    int i;
    if (a->c.job_ttl_seconds <= 0) return 0;
    if (tiler_store_finished_before(a->store, now - apr_time_from_sec(a->c.job_ttl_seconds), &ids, p) < 0) return -1;
    for (i = 0; i < ids->nelts; i++) {
        const char *id = APR_ARRAY_IDX(ids, i, const char *);
        tiler_spool_remove(a->c.spool_dir, id);
        tiler_store_delete_job(a->store, id);
    }
    if (ids->nelts)
        say(a, TILER_ASM_INFO, TILER_ASM_EV_SWEPT, "removed %d jobs finished more than %d s ago", ids->nelts,
            a->c.job_ttl_seconds);
    return ids->nelts;
}
