#include "mod_tiler_jobs.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <apr_strings.h>
#include <http_protocol.h>
#include <yajl/yajl_gen.h>
#include "mod_tiler_producer.h"
#include "mod_tiler_respond.h"
#include "mod_tiler_slots.h"
#include "mod_tiler_upload.h"
#include "tiler_band.h"
#include "tiler_disk.h"
#include "tiler_grid_chain.h"
#include "tiler_id.h"
#include "tiler_image.h"
#include "tiler_jpeg_out.h"
#include "tiler_json.h"
#include "tiler_metrics.h"
#include "tiler_ops.h"
#include "tiler_raster.h"
#include "tiler_spool.h"
#include "tiler_tiff.h"
#include "tiler_png_tile.h"
#include "tiler_tiff_out.h"
#include "tiler_tiff_task.h"
#include "tiler_store.h"

static int is_form(request_rec *r)
{
    const char *ct = apr_table_get(r->headers_in, "Content-Type");
    return ct && !strncasecmp(ct, "multipart/form-data", 19);
}

/* A browser navigating (a form post) asks for HTML first; API clients do not. */
static int wants_html(request_rec *r)
{
    const char *accept = apr_table_get(r->headers_in, "Accept");
    return accept && strstr(accept, "text/html") != NULL;
}

/* ---- query strings: only known keys, each once, no control bytes ---- */

typedef struct { const char *ops, *format, *compression; } job_args;

static const char *parse_args(request_rec *r, job_args *a)
{
    char *args = r->args ? apr_pstrdup(r->pool, r->args) : NULL, *tok, *state;
    if (!args) return NULL;
    for (tok = apr_strtok(args, "&", &state); tok; tok = apr_strtok(NULL, "&", &state)) {
        char *eq = strchr(tok, '='), *v;
        const char **slot;
        const unsigned char *c;
        if (!eq) return apr_psprintf(r->pool, "query item '%.40s' has no value", tok);
        *eq = '\0';
        v = eq + 1;
        if (!strcmp(tok, "ops")) slot = &a->ops;
        else if (!strcmp(tok, "format")) slot = &a->format;
        else if (!strcmp(tok, "compression")) slot = &a->compression;
        else return apr_psprintf(r->pool, "unknown query parameter '%.40s' (known: ops, format, compression)", tok);
        if (*slot) return apr_psprintf(r->pool, "query parameter '%s' is given twice", tok);
        for (c = (unsigned char *)v; *c; c++) if (*c == '+') *(char *)c = ' ';
        if (ap_unescape_url(v) != OK) return apr_psprintf(r->pool, "query parameter '%s' is badly escaped", tok);
        for (c = (unsigned char *)v; *c; c++)
            if (*c < 0x20 || *c == 0x7f) return apr_psprintf(r->pool, "query parameter '%s' has a control character", tok);
        *slot = v;
    }
    return NULL;
}

/* ---- POST {loc}/api/jobs ---- */

/* Tiles leave while the upload decodes: each time rows become final, every
 * tile whose source rows (core and halo) are all in goes to Kafka. The job
 * is recorded at the first rows, so that results never find it missing. */
typedef struct {
    request_rec *r;
    tiler_store *store;
    int max_jobs;           /* TilerMaxJobs, checked again as the job is recorded */
    tiler_job *job;
    const tiler_grid *grid;
    const unsigned char *id;
    tiler_production *pr;
    const char *raster;     /* its path, made when the job begins; NULL: the job has none */
    int recorded;           /* the job is in the store */
    uint32_t early;         /* tiles out before the last row was decoded */
    apr_time_t first_tile_at;
    /* Why the callback stopped the decoding, for the response. */
    int status;
    const char *code, *reason;
} streaming;

static int stop_stream(streaming *x, int status, const char *code, const char *reason, char *err, size_t errlen)
{
    x->status = status;
    x->code = code;
    x->reason = reason;
    apr_cpystrn(err, reason, errlen);
    return 1;
}

/* The first tiles are ready to go: the job is recorded (alpha: whether
 * the upload may have transparency) and its production begun. 0, or 1
 * with the refusal in x. */
static int begin_job(streaming *x, int alpha, char *err, size_t errlen)
{
    request_rec *r = x->r;
    const char *why;
    tiler_tile_enc enc;
    /* The ops keep transparency as it is: an opaque upload gives an RGB
     * result, whose strips are encoded before the last tile is in. The
     * decoder says from the header whether any pixel can be transparent
     * (for GIF and BMP, from all their pixels). */
    x->job->alpha = alpha;
    /* The raster's layout follows the result's colour, known only now; no
     * result can come before the tasks go. */
    if (x->raster && tiler_raster_create(x->raster, x->job->width, x->job->height,
                                         tiler_raster_packing(x->job->ops, alpha && strcmp(x->job->format, "jpeg")), err, errlen) < 0)
        return stop_stream(x, HTTP_INSUFFICIENT_STORAGE, "spool_error", apr_pstrdup(r->pool, err), err, errlen);
    switch (tiler_store_create_job(x->store, x->job, x->max_jobs)) {
    case 0: break;
    case 1:   /* the last place went to another upload meanwhile */
        apr_table_setn(r->err_headers_out, "Retry-After", "10");
        return stop_stream(x, HTTP_SERVICE_UNAVAILABLE, "too_many_jobs",
                           apr_psprintf(r->pool, "%d jobs are queued or running (TilerMaxJobs); try again later",
                                        x->max_jobs), err, errlen);
    default:
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(30404) "cannot record job %s: %s", x->job->id,
                      tiler_store_error(x->store));
        return stop_stream(x, HTTP_SERVICE_UNAVAILABLE, "store_unavailable", "the job cannot be recorded", err, errlen);
    }
    x->recorded = 1;
    if (!(x->pr = tiler_production_begin(r->server, r->pool, x->id, x->job->ops, &why)))
        return stop_stream(x, HTTP_SERVICE_UNAVAILABLE, "kafka_unavailable", why, err, errlen);
    /* A TIFF job's tasks ask for their tiles compressed, and a PNG job's
     * for its rows deflated, in the colour its alpha (known now) and chain
     * give. */
    if (tiler_job_enc(x->job, &enc)) tiler_production_encode(x->pr, &enc);
    return 0;
}

/* The band's callback: every row tile row `row` needs is decoded. */
static int on_rows(void *ctx, const tiler_band *b, uint32_t row, char *err, size_t errlen)
{
    streaming *x = ctx;
    const char *why;
    uint32_t col;
    if (!x->pr) {
        if (b->width != x->job->src_width || b->height != x->job->src_height)
            return stop_stream(x, HTTP_UNPROCESSABLE_ENTITY, "corrupt_image", "the decoded size differs from the header's",
                               err, errlen);
        if (begin_job(x, b->alpha, err, errlen)) return 1;
    }
    /* The tiles whose sources are this row of the upload's cells: a row of
     * the result's tiles, or (after a rotation) a column of them. */
    for (col = 0; col < x->grid->src_cols; col++) {
        if (tiler_production_add(x->pr, b, x->grid, tiler_grid_at_source(x->grid, col, row), &why) < 0)
            return stop_stream(x, HTTP_SERVICE_UNAVAILABLE, "kafka_unavailable", why, err, errlen);
        if (!x->first_tile_at) x->first_tile_at = apr_time_now();
        if (b->filled < x->job->src_height) x->early++;
    }
    return 0;
}

/* A tiled TIFF upload open for cutting its tasks, closed with the request
 * whatever way it ends. */
typedef struct {
    tiler_tiff_tiles *tt;
    FILE *f;
} open_tiff;

static apr_status_t close_tiff(void *p)
{
    open_tiff *o = p;
    tiler_tiff_tiles_close(o->tt);
    if (o->f) fclose(o->f);
    o->tt = NULL;
    o->f = NULL;
    return APR_SUCCESS;
}

/* Cuts every task out of the tile directory, in the band's order: each
 * carries the upload's tiles under its source, for a worker to decode.
 * 0, or -1 with the refusal in x. */
static int stream_tiff_tiles(streaming *x, tiler_tiff_tiles *tt, char *err, size_t errlen)
{
    const tiler_grid *g = x->grid;
    uint32_t row, col;
    if (begin_job(x, tiler_tiff_tiles_alpha(tt), err, errlen)) return -1;
    for (row = 0; row < g->src_rows; row++) {
        for (col = 0; col < g->src_cols; col++) {
            uint32_t i = tiler_grid_at_source(g, col, row);
            const char *why;
            size_t len;
            unsigned char *msg = tiler_tiff_tiles_task(tt, g, i, x->id, x->job->ops, &len, err, errlen);
            /* Every tile was checked against the file before the job began:
             * this is memory, or the spool's file. */
            if (!msg) {
                stop_stream(x, HTTP_INSUFFICIENT_STORAGE, "spool_error", apr_pstrdup(x->r->pool, err), err, errlen);
                return -1;
            }
            if (tiler_production_send(x->pr, i, msg, len, &why) < 0) {
                stop_stream(x, HTTP_SERVICE_UNAVAILABLE, "kafka_unavailable", why, err, errlen);
                return -1;
            }
            if (!x->first_tile_at) x->first_tile_at = apr_time_now();
            if (row + 1 < g->src_rows) x->early++;
        }
    }
    return 0;
}

/* Refuses a job the spool's disk cannot hold: its raster and (estimated)
 * result, on top of the upload already stored. 0, or -1 with the 507 sent
 * (its handler status in *sent). */
static int check_room(request_rec *r, const tiler_srv_conf *c, uint32_t w, uint32_t h, uint32_t tile, tiler_format out, int jpeg,
                      int rows, int raster_bytes, uint64_t upload, int *sent)
{
    tiler_disk_need need;
    uint64_t avail;
    char err[512];
    if (out == TILER_FMT_TIFF) tiler_disk_estimate_tiff(w, h, tile, jpeg, &need);
    else if (rows) tiler_disk_estimate_png_tiles(w, h, tile, &need);
    else tiler_disk_estimate(w, h, out, raster_bytes, &need);
    if (tiler_disk_free(c->spool_dir, &avail, err, sizeof(err)) < 0) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, APLOGNO(30440) "%s; accepting the job unchecked", err);
        return 0;
    }
    if (need.total <= avail) return 0;
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, APLOGNO(30441) "spool too full for a %ux%u job: it needs %" APR_UINT64_T_FMT
                  " bytes, %" APR_UINT64_T_FMT " are free", w, h, need.total, avail);
    *sent = tiler_send_error(r, HTTP_INSUFFICIENT_STORAGE, "insufficient_storage",
                            apr_psprintf(r->pool, "the spool has %" APR_UINT64_T_FMT " bytes free; this %ux%u job needs about %"
                                         APR_UINT64_T_FMT " more (%s %" APR_UINT64_T_FMT ", %s result up to %"
                                         APR_UINT64_T_FMT ") besides its %" APR_UINT64_T_FMT "-byte upload",
                                         avail, w, h, need.total,
                                         out == TILER_FMT_TIFF ? "tile index" : rows ? "tiles" : "raster",
                                         need.raster, tiler_format_name(out), need.result, upload));
    return -1;
}

static int too_busy(request_rec *r, const char *why)
{
    r->connection->keepalive = AP_CONN_CLOSE;
    apr_table_setn(r->headers_out, "Retry-After", "10");
    return tiler_send_error(r, HTTP_SERVICE_UNAVAILABLE, "too_many_jobs", why);
}

/* 0 when one more job fits under TilerMaxJobs; else 1, with the refusal
 * sent (the handler's return value in *sent). */
static int no_room(request_rec *r, const tiler_srv_conf *c, int *sent)
{
    tiler_store *st = tiler_request_store(r);
    int active = 0;
    if (!st || tiler_store_count_active(st, &active) < 0)
        *sent = tiler_send_error(r, HTTP_SERVICE_UNAVAILABLE, "store_unavailable", "the job store cannot be read");
    else if (active >= c->max_jobs)
        *sent = too_busy(r, apr_psprintf(r->pool, "%d jobs are queued or running (TilerMaxJobs); try again later", active));
    else
        return 0;
    return 1;
}

/* A job begun for an upload that then failed must not stay queued with no
 * input: it is deleted (refused input) or marked failed; when the store
 * refuses that, the other is tried, and the client's answer stands. */
static void forget_job(request_rec *r, tiler_store *store, const char *id, int delete, const char *reason)
{
    if (delete ? tiler_store_delete_job(store, id) == 0 : tiler_store_finish(store, id, "failed", reason) == 0) return;
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(30481) "job %s cannot be %s (%s); %s instead", id,
                  delete ? "deleted" : "marked failed", tiler_store_error(store), delete ? "marking it failed" : "deleting it");
    if (delete ? tiler_store_finish(store, id, "failed", reason) == 0 : tiler_store_delete_job(store, id) == 0) return;
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(30482) "job %s stays in the store as it was, with no input: %s", id,
                  tiler_store_error(store));
}

/* Why a TIFF result cannot have tile-pixel tiles, or NULL: TIFF wants
 * tiles whose sides are multiples of 16. */
static const char *tiff_misfit(request_rec *r, uint32_t tile)
{
    if (tile % 16 == 0) return NULL;
    return apr_psprintf(r->pool, "a TIFF result's tiles would be %u pixels a side, and TIFF tiles must be a multiple of "
                        "16: choose another format, or a downscale (or TilerTileSize) that leaves a multiple of 16", tile);
}

/* Why a TIFF result this wide could not be read back (for its thumbnail,
 * preview and zoomable view: tiler_tiff.c reads a row of its tiles at a
 * time, at most TILER_TIFF_MAX_TILE_ROW_BYTES), or NULL. Only a
 * TilerMaxBandBytes above 256 MiB lets the tiles get this wide. Counted at
 * 4 samples a pixel, the most a result has. */
static const char *tiff_row_misfit(request_rec *r, uint32_t width, uint32_t tile)
{
    uint64_t row = ((uint64_t)width + tile - 1) / tile * tile * tile * 4;
    if (row <= TILER_TIFF_MAX_TILE_ROW_BYTES) return NULL;
    return apr_psprintf(r->pool, "a TIFF result %u pixels wide in %u-pixel tiles would have rows of tiles of %" APR_UINT64_T_FMT " MiB, "
                        "over the %" APR_UINT64_T_FMT " MiB its reader takes: choose another format, or a smaller "
                        "TilerMaxBandBytes", width, tile, (apr_uint64_t)(row >> 20),
                        (apr_uint64_t)(TILER_TIFF_MAX_TILE_ROW_BYTES >> 20));
}

/* Why compression (NULL: not given) cannot go with a result of format
 * out, or NULL: only a TIFF result's tiles have a choice, deflate or jpeg. */
static const char *compression_misfit(request_rec *r, tiler_format out, const char *compression)
{
    if (!compression) return NULL;
    if (out != TILER_FMT_TIFF)
        return apr_psprintf(r->pool, "compression is only for format=tiff (it chooses how a TIFF result's tiles are "
                            "compressed); a %s result has none of its own", tiler_format_name(out));
    if (!tiler_tiff_out_codec(compression)) return "compression must be deflate or jpeg";
    return NULL;
}

/* Why the chain's downscales cannot be tiled exactly, or NULL: a result
 * tile is a TilerTileSize square of the upload made smaller. */
static const char *scale_misfit(request_rec *r, const tiler_srv_conf *c, const tiler_chain *chain)
{
    uint32_t k = tiler_chain_scale(chain);
    if ((uint32_t)c->tile_size % k == 0) return NULL;
    return apr_psprintf(r->pool, "the op chain downscales by %u in all, which does not divide the %d-pixel tiles "
                        "(TilerTileSize)", k, c->tile_size);
}

int tiler_create_job(request_rec *r, const char *base)
{
    tiler_srv_conf *c = tiler_srv(r->server);
    job_args a = { NULL, NULL, NULL };
    tiler_chain chain;
    tiler_format out_fmt = TILER_FMT_PNG, in_fmt;
    tiler_grid grid;
    tiler_geom geom;
    tiler_delivered delivered;
    tiler_job job;
    streaming x;
    apr_time_t received, decoded;
    tiler_store *store;
    unsigned char id[16];
    char hex[TILER_ID_HEX_LEN + 1], dir[4096], input[4096], raster[4096], err[512], canon[TILER_MSG_MAX_OPS_LEN + 1];
    const char *emsg, *code, *reason, *ops, *format, *compression, *whole;
    tiler_upload up;
    uint32_t w, h, tile;
    tiler_band band;
    open_tiff tiff = { NULL, NULL };
    FILE *f;
    int status, probe, decode_failed, slot, by_workers = 0, rows;
    yajl_gen g;

    if ((emsg = parse_args(r, &a))) return tiler_send_error(r, HTTP_BAD_REQUEST, "bad_query", emsg);
    /* A raw upload's ops and format are all in the query: refuse bad ones
     * before reading a byte of the body. */
    if (!is_form(r)) {
        if (!a.ops) return tiler_send_error(r, HTTP_BAD_REQUEST, "bad_ops", "ops is missing; give ?ops=grayscale,blur:3 for example");
        if (tiler_chain_parse(&chain, a.ops, c->max_ops, err, sizeof(err)) < 0)
            return tiler_send_error(r, HTTP_BAD_REQUEST, "bad_ops", err);
        if ((emsg = scale_misfit(r, c, &chain))) return tiler_send_error(r, HTTP_BAD_REQUEST, "bad_ops", emsg);
        if (a.format && tiler_output_format_parse(a.format) == TILER_FMT_UNKNOWN)
            return tiler_send_error(r, HTTP_BAD_REQUEST, "bad_format", "format must be png, jpeg or tiff");
        if ((emsg = compression_misfit(r, a.format ? tiler_output_format_parse(a.format) : TILER_FMT_PNG, a.compression)))
            return tiler_send_error(r, HTTP_BAD_REQUEST, "bad_format", emsg);
        if (a.format && tiler_output_format_parse(a.format) == TILER_FMT_TIFF
            && (emsg = tiff_misfit(r, (uint32_t)c->tile_size / tiler_chain_scale(&chain))))
            return tiler_send_error(r, HTTP_BAD_REQUEST, "bad_format", emsg);
    }
    /* Refuse before reading the upload: the client may try later. */
    if (no_room(r, c, &status)) return status;
    if (tiler_id_generate(id) < 0) return tiler_send_error(r, HTTP_SERVICE_UNAVAILABLE, "no_entropy", "cannot make a job id");
    tiler_id_to_hex(id, hex);
    tiler_spool_path(dir, sizeof(dir), c->spool_dir, hex, TILER_SPOOL_DIR);
    tiler_spool_path(input, sizeof(input), c->spool_dir, hex, TILER_SPOOL_INPUT);
    tiler_spool_path(raster, sizeof(raster), c->spool_dir, hex, TILER_SPOOL_RASTER);
    if (apr_dir_make(dir, APR_FPROT_OS_DEFAULT, r->pool) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(30403) "cannot create job directory %s", dir);
        return tiler_send_error(r, HTTP_INSUFFICIENT_STORAGE, "spool_error", "the job cannot be stored");
    }
#define BAIL(st, cd, ms) do { status = tiler_send_error(r, st, cd, ms); tiler_spool_remove(c->spool_dir, hex); return status; } while (0)
    if ((status = tiler_receive_upload(r, input, c->max_upload_bytes, &up, &code, &emsg)) != OK) BAIL(status, code, emsg);
    /* A form's fields win over the query string. */
    ops = up.ops ? up.ops : a.ops;
    format = up.format && *up.format ? up.format : a.format;
    compression = up.compression && *up.compression ? up.compression : a.compression;
    if (!ops) BAIL(HTTP_BAD_REQUEST, "bad_ops", "ops is missing; give ?ops=grayscale,blur:3 for example");
    if (tiler_chain_parse(&chain, ops, c->max_ops, err, sizeof(err)) < 0) BAIL(HTTP_BAD_REQUEST, "bad_ops", err);
    if (format && (out_fmt = tiler_output_format_parse(format)) == TILER_FMT_UNKNOWN)
        BAIL(HTTP_BAD_REQUEST, "bad_format", "format must be png, jpeg or tiff");
    if ((emsg = compression_misfit(r, out_fmt, compression))) BAIL(HTTP_BAD_REQUEST, "bad_format", emsg);
    tiler_chain_format(&chain, canon, sizeof(canon));
    if (up.size == 0) BAIL(HTTP_BAD_REQUEST, "empty_body", "the image is empty; send the image as the body or the form's 'image' file");
    if (!(f = fopen(input, "rb"))) BAIL(HTTP_INSUFFICIENT_STORAGE, "spool_error", "the upload cannot be read back");
    probe = tiler_probe_file(f, &in_fmt, &w, &h, err, sizeof(err));
    whole = probe < 0 ? NULL : tiler_decodes_whole(f, in_fmt);
    fclose(f);
    if (probe < 0 && in_fmt == TILER_FMT_UNKNOWN)
        BAIL(HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_format", "the body is not a PNG, JPEG, GIF, BMP, WebP or TIFF image");
    /* A sound TIFF of a kind not decoded here: err names it. */
    if (probe == -2) BAIL(HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_format", err);
    if (probe < 0) BAIL(HTTP_UNPROCESSABLE_ENTITY, "corrupt_image", err);
    if ((apr_int64_t)w * h > c->max_pixels)
        BAIL(HTTP_REQUEST_ENTITY_TOO_LARGE, "too_many_pixels",
             apr_psprintf(r->pool, "%ux%u is %" APR_INT64_T_FMT " pixels, over TilerMaxPixels (%" APR_INT64_T_FMT ")",
                          w, h, (apr_int64_t)w * h, c->max_pixels));
    if (tiler_check_sides(in_fmt, w, h, err, sizeof(err)) < 0) BAIL(HTTP_REQUEST_ENTITY_TOO_LARGE, "too_many_pixels", err);
    /* The result's grid: flips, rotations and downscales make it another
     * size, and its tiles' sources other places of the upload. */
    /* A downscale's tiles are that much smaller than TilerTileSize, so that
     * each one's source is a TilerTileSize square: tasks, bands and
     * messages stay the size they are without it. */
    if ((emsg = scale_misfit(r, c, &chain))) BAIL(HTTP_BAD_REQUEST, "bad_ops", emsg);
    /* A tiled TIFF whose tiles the workers decode has no band here: its
     * job keeps TilerTileSize, whatever the width. */
    tile = (uint32_t)c->tile_size;
    if (in_fmt == TILER_FMT_TIFF) {
        tiler_grid_init_chain(&grid, &geom, w, h, tile / tiler_chain_scale(&chain), &chain);
        if ((by_workers = tiler_tiff_for_workers(r->server, input, &grid, &tiff.tt, &tiff.f, err, sizeof(err))) < 0)
            BAIL(HTTP_UNPROCESSABLE_ENTITY, "corrupt_image", err);
        if (by_workers) apr_pool_cleanup_register(r->pool, &tiff, close_tiff, apr_pool_cleanup_null);
    }
    /* A wide upload gets smaller tiles, so that its band stays within
     * TilerMaxBandBytes: the child's memory stops growing with the width. */
    if (!by_workers) {
        tile = tiler_band_fit_tile(w, tile, (uint32_t)tiler_chain_halo(&chain), tiler_chain_scale(&chain),
                                   (uint64_t)c->max_band_bytes);
        tiler_grid_init_chain(&grid, &geom, w, h, tile / tiler_chain_scale(&chain), &chain);
    }
    if (out_fmt == TILER_FMT_JPEG && tiler_jpeg_out_fits(grid.width, grid.height, err, sizeof(err)) < 0)
        BAIL(HTTP_REQUEST_ENTITY_TOO_LARGE, "too_many_pixels", err);
    /* The query's format was checked against TilerTileSize before the
     * body; a form's, or tiles made smaller for a wide upload, only now. */
    if (out_fmt == TILER_FMT_TIFF && ((emsg = tiff_misfit(r, grid.tile_size)) || (emsg = tiff_row_misfit(r, grid.width, grid.tile_size))))
        BAIL(HTTP_BAD_REQUEST, "bad_format", emsg);
    /* Most uploads decode a band at a time; these hold the whole image. */
    if (whole && (apr_int64_t)w * h > c->max_whole_decode_pixels)
        BAIL(HTTP_REQUEST_ENTITY_TOO_LARGE, "too_many_pixels_to_decode_whole",
             apr_psprintf(r->pool, "%ux%u is %" APR_INT64_T_FMT " pixels, and %s decodes whole in memory: over "
                          "TilerMaxWholeDecodePixels (%" APR_INT64_T_FMT "); a baseline JPEG or a non-interlaced PNG "
                          "decodes in bands up to TilerMaxPixels", w, h, (apr_int64_t)w * h, whole,
                          c->max_whole_decode_pixels));
    /* A PNG whose workers deflate its rows (TilerPngRows; tiles of a side
     * the encoding can say) has no raster: its tiles take its place. */
    rows = out_fmt == TILER_FMT_PNG && c->png_rows && tiler_png_tile_side_ok(grid.tile_size);
    /* The raster's layout is chosen once the decoder says whether the
     * upload has transparency; a JPEG upload never has, and a JPEG result
     * keeps none. */
    if (check_room(r, c, grid.width, grid.height, grid.tile_size, out_fmt,
                   tiler_tiff_out_codec(compression) == TILER_CODEC_TIFF_JPEG, rows,
                   tiler_raster_packing_most(canon, in_fmt, out_fmt), (uint64_t)up.size, &status) < 0) {
        tiler_spool_remove(c->spool_dir, hex);
        return status;
    }
    if (tiler_grid_max_src_bytes(&grid) + TILER_MSG_FIXED_BYTES + TILER_MSG_MAX_OPS_LEN > TILER_MAX_MESSAGE_BYTES)
        BAIL(HTTP_BAD_REQUEST, "halo_too_large",
             apr_psprintf(r->pool, "the op chain needs a %u-pixel halo; %u-pixel tiles with it exceed the %d-byte message limit",
                          grid.halo, tile, TILER_MAX_MESSAGE_BYTES));
    /* Uploads that came together all passed the check above: at most
     * TilerMaxJobs decode at once, and the count is taken again. */
    if ((slot = tiler_decode_slot_take(r, c->spool_dir, c->max_jobs)) < 0 || no_room(r, c, &status)) {
        if (slot == -2) BAIL(HTTP_INSUFFICIENT_STORAGE, "spool_error", "the upload cannot be decoded now");
        if (slot == -1) status = too_busy(r, apr_psprintf(r->pool, "%d uploads are being decoded (TilerMaxJobs); try again later",
                                                            c->max_jobs));
        tiler_spool_remove(c->spool_dir, hex);
        return status;
    }
    /* A TIFF result is assembled from its compressed tiles, with no raster;
     * so is a PNG whose workers deflate its rows. */
    if (out_fmt == TILER_FMT_TIFF || rows) {
        char tiles[4096], index[4096];
        if (tiler_spool_path(tiles, sizeof(tiles), c->spool_dir, hex, TILER_SPOOL_TILES) < 0
            || tiler_spool_path(index, sizeof(index), c->spool_dir, hex, TILER_SPOOL_TILE_INDEX) < 0
            || tiler_tiff_out_start(tiles, index, tiler_grid_count(&grid), err, sizeof(err)) < 0)
            BAIL(HTTP_INSUFFICIENT_STORAGE, "spool_error", "the result's tile files cannot be made");
    }
    if (!(store = tiler_request_store(r))) BAIL(HTTP_SERVICE_UNAVAILABLE, "store_unavailable", "the job store cannot be opened");
    memset(&job, 0, sizeof(job));
    memcpy(job.id, hex, sizeof(job.id));
    job.state = "queued";
    job.width = grid.width;
    job.height = grid.height;
    job.src_width = w;
    job.src_height = h;
    job.tile_size = grid.tile_size;
    job.ops = canon;
    job.format = tiler_format_name(out_fmt);
    job.compression = out_fmt == TILER_FMT_TIFF ? tiler_tiff_out_compression(tiler_tiff_out_codec(compression))
                      : rows ? TILER_PNG_TILE_COMPRESSION : NULL;
    job.tiles_total = tiler_grid_count(&grid);
    job.created = apr_time_now();
    memset(&x, 0, sizeof(x));
    x.r = r;
    x.store = store;
    x.max_jobs = c->max_jobs;
    x.job = &job;
    x.grid = &grid;
    x.id = id;
    x.raster = out_fmt == TILER_FMT_TIFF || rows ? NULL : raster;
    received = apr_time_now();
    /* The upload decodes into a band of tile size + 2 halo rows: the
     * child's memory grows with the width, never the height. */
    if (by_workers) {
        /* Tiled TIFF: nothing decodes here; the tasks carry its tiles. */
        decode_failed = stream_tiff_tiles(&x, tiff.tt, err, sizeof(err)) < 0;
        apr_pool_cleanup_run(r->pool, &tiff, close_tiff);
    } else {
        tiler_band_init_grid(&band, &grid, on_rows, &x);
        decode_failed = tiler_image_stream(input, in_fmt, &band, err, sizeof(err)) < 0;
        tiler_band_free(&band);
    }
    decoded = apr_time_now();
    tiler_heap_trim();   /* a whole-decode kind's image came from this thread's arena */
    if (!decode_failed && !x.recorded)
        decode_failed = 1, apr_cpystrn(err, "the image has no rows", sizeof(err));
    if (x.pr && tiler_production_end(x.pr, decode_failed, &delivered, &reason) != OK && !decode_failed)
        stop_stream(&x, HTTP_SERVICE_UNAVAILABLE, "kafka_unavailable", reason, err, sizeof(err));
    if (decode_failed && (!x.code || x.status == HTTP_UNPROCESSABLE_ENTITY)) {
        /* Refused input: the client gets no job; tiles already out are
         * dropped by the results consumer, as for a deleted job. */
        if (x.recorded) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, APLOGNO(30480) "job %s refused after %u tiles went out: %s", hex,
                          x.early, x.code ? x.reason : err);
            forget_job(r, store, hex, 1, x.code ? x.reason : err);
        }
        BAIL(HTTP_UNPROCESSABLE_ENTITY, "corrupt_image", x.code ? x.reason : err);
    }
    if (x.code && !x.recorded) BAIL(x.status, x.code, x.reason);
    if (x.code) {
        tiler_spool_drop_work(c->spool_dir, hex);
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(30405) "job %s failed: %s", hex, x.reason);
        forget_job(r, store, hex, 0, x.reason);
        return tiler_send_error(r, x.status, x.code, x.reason);
    }
    /* The upload stays until the job ends: tiles lost on the way are cut
     * from it again (mod_tiler_resend.c), which needs where the tasks went. */
    if (tiler_store_note_offsets(store, hex, delivered.last, delivered.nparts) < 0)
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, APLOGNO(30408) "job %s: task offsets not recorded (%s); "
                      "lost tiles of it cannot be told from slow ones", hex, tiler_store_error(store));
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, APLOGNO(30406) "job %s queued: %ux%u %s, %u tiles, ops %s; "
                  "%u tiles out before the last row was %s; first tile out %" APR_TIME_T_FMT " ms after the upload "
                  "was in, %s at %" APR_TIME_T_FMT " ms, all acknowledged at %" APR_TIME_T_FMT " ms; a %ux%u result "
                  "in %u-pixel tiles%s", hex, w, h,
                  tiler_format_name(in_fmt), job.tiles_total, canon, x.early, by_workers ? "cut" : "decoded", apr_time_as_msec(x.first_tile_at - received),
                  by_workers ? "cut" : "decoded",
                  apr_time_as_msec(decoded - received), apr_time_as_msec(apr_time_now() - received), job.width, job.height,
                  job.tile_size, by_workers ? "; its tiles go to the workers undecoded" : "");
    if (tiler_metrics_upload(store, (int64_t)up.size, job.tiles_total, (double)(x.first_tile_at - received) / APR_USEC_PER_SEC,
                             (double)(decoded - received) / APR_USEC_PER_SEC) < 0)
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, APLOGNO(30409) "job %s: not counted in the metrics: %s", hex,
                      tiler_store_error(store));
    if (up.from_form && wants_html(r)) {
        /* A browser's form post (works without JavaScript): see the job page. */
        apr_table_setn(r->headers_out, "Location", apr_psprintf(r->pool, "%s/jobs/%s", base, hex));
        return HTTP_SEE_OTHER;
    }
    apr_table_setn(r->headers_out, "Location", apr_psprintf(r->pool, "%s/api/jobs/%s", base, hex));
    g = yajl_gen_alloc(NULL);
    yajl_gen_map_open(g);
    tiler_json_kv_str(g, "id", hex);
    tiler_json_kv_str(g, "state", "queued");
    tiler_json_kv_int(g, "tiles_total", job.tiles_total);
    tiler_json_kv_str(g, "status_url", apr_psprintf(r->pool, "%s/api/jobs/%s", base, hex));
    tiler_json_kv_str(g, "result_url", apr_psprintf(r->pool, "%s/api/jobs/%s/result", base, hex));
    yajl_gen_map_close(g);
    return tiler_send_json(r, HTTP_ACCEPTED, g);
#undef BAIL
}


int tiler_delete_job(request_rec *r, const char *id)
{
    tiler_srv_conf *c = tiler_srv(r->server);
    tiler_job job;
    tiler_store *store;
    int sent;
    yajl_gen g;
    if (tiler_find_job(r, id, &job, &sent) < 0) return sent;
    if (!(store = tiler_request_store(r)) || tiler_store_delete_job(store, job.id) < 0)
        return tiler_send_error(r, HTTP_SERVICE_UNAVAILABLE, "store_unavailable", "the job store cannot be written");
    /* Tiles still in Kafka for it are dropped by the results consumer: the
     * job is unknown by then. */
    tiler_spool_remove(c->spool_dir, job.id);
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, APLOGNO(30407) "job %s deleted (was %s)", job.id, job.state);
    g = yajl_gen_alloc(NULL);
    yajl_gen_map_open(g);
    tiler_json_kv_str(g, "id", job.id);
    tiler_json_str(g, "deleted");
    yajl_gen_bool(g, 1);
    tiler_json_kv_str(g, "was", job.state);
    yajl_gen_map_close(g);
    return tiler_send_json(r, HTTP_OK, g);
}
