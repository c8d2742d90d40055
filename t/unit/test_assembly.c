/* Assembly without httpd or Kafka: result messages go in, and out come
 * pixels in the spool raster, tiles counted once in the job store, and the
 * sink asked for each strip when its row of tiles is complete and for the
 * result when the last tile is in. Tiles arrive in order, shuffled and
 * duplicated, at several tile sizes; unfit, failed, late and undecodable
 * messages; a store that cannot answer (retry); catch-up and the TTL sweep;
 * a TIFF job's encoded tiles placed, and tiles that are not its own skipped. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sqlite3.h>
#include <apr_general.h>
#include <apr_strings.h>
#include <apr_time.h>
#include "tap.h"
#include "tmpdir.h"
#include "tiler_defaults.h"
#include "tiler_assembly.h"
#include "tiler_grid.h"
#include "tiler_metrics.h"
#include "tiler_id.h"
#include "tiler_msg.h"
#include "tiler_raster.h"
#include "tiler_spool.h"
#include "tiler_tiff_out.h"
#include <tiffio.h>

#define MAX_ROWS 64

/* What the sink and the log were told. */
typedef struct {
    tiler_store *store;              /* the test's own connection, to check what the sink is told */
    char id[TILER_ID_HEX_LEN + 1];   /* the job being fed */
    uint32_t cols;
    int strips[MAX_ROWS];            /* strip_ready calls per row */
    int strip_other;                 /* strip_ready for another job or past MAX_ROWS */
    int premature;                   /* strip_ready for a row not all counted, job_complete for a job not all in */
    int completes;                   /* job_complete calls for id */
    int complete_other;
    int events[TILER_ASM_EV_SWEPT + 1];
    char last_msg[1024];
    apr_pool_t *p;
} seen;

static void on_strip(void *ctx, const char *id, uint32_t k)
{
    seen *s = ctx;
    tiler_job job;
    uint32_t n, from, to;
    if (strcmp(id, s->id) || k >= MAX_ROWS) { s->strip_other++; return; }
    s->strips[k]++;
    if (tiler_store_get_job(s->store, id, &job, s->p) != 0) { s->premature++; return; }
    from = k * s->cols;
    to = from + s->cols < job.tiles_total ? from + s->cols : job.tiles_total;
    if (tiler_store_count_range(s->store, id, from, to, &n, s->p) < 0 || n != to - from) s->premature++;
}

static void on_complete(void *ctx, const char *id)
{
    seen *s = ctx;
    tiler_job job;
    if (strcmp(id, s->id)) { s->complete_other++; return; }
    s->completes++;
    if (tiler_store_get_job(s->store, id, &job, s->p) != 0 || job.tiles_done != job.tiles_total) s->premature++;
}

static void on_log(void *ctx, int level, tiler_asm_event ev, const char *msg)
{
    seen *s = ctx;
    (void)level;
    s->events[ev]++;
    snprintf(s->last_msg, sizeof(s->last_msg), "%s", msg);
}

static void reset(seen *s, const char *id, uint32_t cols)
{
    tiler_store *st = s->store;
    apr_pool_t *p = s->p;
    memset(s, 0, sizeof(*s));
    s->store = st;
    s->p = p;
    snprintf(s->id, sizeof(s->id), "%s", id);
    s->cols = cols;
}

/* The results' pixels: 0, any gd value (alpha too) in version 1 results;
 * 1, 2 and 3, packed results (version 4) of gd values, opaque RGB and
 * opaque grey pixels, each packed as tightly as it allows. */
static int pattern;
static int pixel(uint32_t x, uint32_t y)
{
    int v = (int)((y * 7919u + x * 31u) & 0x7fffffffu) | 1;
    return pattern == 1 ? v | 0x01000000 : pattern == 2 ? (v & 0xffffff) : pattern == 3 ? (v & 0xff) * 0x010101 : v;
}

static void make_id(unsigned n, unsigned char bin[16], char hex[TILER_ID_HEX_LEN + 1])
{
    int i;
    for (i = 0; i < 16; i++) bin[i] = (unsigned char)(n * 37 + i * 11 + 1);
    tiler_id_to_hex(bin, hex);
}

static const char *spool;

/* A queued job with its directory and an empty raster, as an upload leaves it. */
static int make_job(tiler_store *st, const char *id, uint32_t w, uint32_t h, uint32_t ts, const char *format,
                    const char *compression, int raster)
{
    tiler_job j;
    tiler_grid g;
    char path[4096], err[256];
    memset(&j, 0, sizeof(j));
    snprintf(j.id, sizeof(j.id), "%s", id);
    j.state = "queued";
    j.width = w; j.height = h; j.tile_size = ts;
    j.ops = "invert"; j.format = format; j.compression = compression;
    tiler_grid_init(&g, w, h, ts, 0);
    j.tiles_total = tiler_grid_count(&g);
    j.created = apr_time_now();
    j.alpha = 1;
    if (tiler_store_create_job(st, &j, 0) != 0) return -1;
    if (tiler_spool_path(path, sizeof(path), spool, id, TILER_SPOOL_DIR) < 0 || mkdir(path, 0700) < 0) return -1;
    if (!raster) return 0;
    if (tiler_spool_path(path, sizeof(path), spool, id, TILER_SPOOL_RASTER) < 0) return -1;
    return tiler_raster_create(path, w, h, TILER_PACK_GD, err, sizeof(err));
}

/* A worker's result for tile idx: its core's pixels, src = core. */
static unsigned char *result(const unsigned char id[16], const tiler_grid *g, uint32_t idx, size_t *len)
{
    tiler_msg m;
    tiler_rect src;
    unsigned char *buf;
    int *px;
    size_t hdr;
    uint32_t x, y;
    memset(&m, 0, sizeof(m));
    m.kind = TILER_MSG_RESULT;
    memcpy(m.job_id, id, 16);
    m.tile_index = idx;
    m.tiles_total = tiler_grid_count(g);
    m.image_w = g->width;
    m.image_h = g->height;
    tiler_grid_tile(g, idx, &m.core, &src);
    m.src = m.core;
    strcpy(m.ops, "invert");
    px = malloc((size_t)m.core.w * m.core.h * sizeof(int));
    for (y = 0; y < m.core.h; y++)
        for (x = 0; x < m.core.w; x++) px[(size_t)y * m.core.w + x] = pixel(m.core.x + x, m.core.y + y);
    if (pattern) m.packing = (uint8_t)tiler_pack_need(px, (size_t)m.core.w * m.core.h);
    *len = tiler_msg_size(&m);
    buf = malloc(*len);
    hdr = tiler_msg_write_header(&m, buf);
    for (y = 0; y < m.core.h; y++)
        tiler_pack_row(buf + hdr + (size_t)y * m.core.w * tiler_msg_pixel_bytes(&m), px + (size_t)y * m.core.w,
                       m.core.w, (int)tiler_msg_pixel_bytes(&m));
    free(px);
    return buf;
}

static int apply_tile(tiler_assembly *a, const unsigned char id[16], const tiler_grid *g, uint32_t idx, apr_pool_t *p)
{
    size_t len;
    unsigned char *m = result(id, g, idx, &len);
    int rc = tiler_assembly_apply(a, m, len, 0, idx, p);
    free(m);
    return rc;
}

/* Whether the whole raster holds the pattern. */
static int raster_whole(const char *id, uint32_t w, uint32_t h)
{
    char path[4096], err[256];
    int *px = malloc((size_t)w * h * sizeof(int)), good;
    uint32_t x, y;
    good = tiler_spool_path(path, sizeof(path), spool, id, TILER_SPOOL_RASTER) == 0
        && tiler_raster_read_rows(path, w, h, 0, h, px, err, sizeof(err)) == 0;
    for (y = 0; good && y < h; y++)
        for (x = 0; good && x < w; x++) good = px[(size_t)y * w + x] == pixel(x, y);
    free(px);
    return good;
}

/* tiles_dead_lettered_total, or -1. */
static int64_t dead_tiles(tiler_store *st, apr_pool_t *p)
{
    apr_hash_t *rows;
    const int64_t *v;
    if (tiler_metrics_read(st, &rows, p) < 0) return -1;
    v = apr_hash_get(rows, TILER_M_TILES_DEAD, APR_HASH_KEY_STRING);
    return v ? *v : 0;
}

static const char *state_of(tiler_store *st, const char *id, apr_pool_t *p, tiler_job *j)
{
    int rc = tiler_store_get_job(st, id, j, p);
    return rc == 0 ? j->state : rc == 1 ? "gone" : "error";
}

/* A deterministic shuffle (an LCG: no test depends on the clock). */
static void shuffle(uint32_t *v, uint32_t n, uint32_t seed)
{
    uint32_t i;
    for (i = n; i > 1; i--) {
        uint32_t k;
        seed = seed * 1664525u + 1013904223u;
        k = (seed >> 8) % i;
        uint32_t t = v[i - 1]; v[i - 1] = v[k]; v[k] = t;
    }
}

/* Feeds every tile of a w x h job in order (shuffled: seed != 0, each new
 * tile after a duplicate of one sent before) and checks what came out. */
static void feed(tiler_assembly *a, seen *s, unsigned n, uint32_t w, uint32_t h, uint32_t ts, const char *format,
                 uint32_t seed, apr_pool_t *p)
{
    unsigned char bin[16];
    char id[TILER_ID_HEX_LEN + 1], what[128];
    tiler_grid g;
    tiler_job job;
    uint32_t *order, i, total, rows, last_row, k;
    int retries = 0, wrong = 0, strips_expected = !strcmp(format, "png") || ts % 8 == 0;

    make_id(n, bin, id);
    tiler_grid_init(&g, w, h, ts, 0);
    total = tiler_grid_count(&g);
    rows = g.rows;
    if (total == 0) { ok(0, "a grid of no tiles"); return; }
    snprintf(what, sizeof(what), "%s %ux%u tiles of %u (%ux%u)%s", format, w, h, ts, g.cols, g.rows,
             seed ? ", shuffled with duplicates" : ", in order");
    if (make_job(s->store, id, w, h, ts, format, NULL, 1) < 0) { ok(0, "%s: job made", what); return; }
    reset(s, id, g.cols);
    order = malloc(total * sizeof(*order));
    for (i = 0; i < total; i++) order[i] = i;
    if (seed) shuffle(order, total, seed);
    for (i = 0; i < total; i++) {
        if (seed && i > 0 && apply_tile(a, bin, &g, order[(i * 7u) % i], p) != 0) retries++;
        if (i + 1 == total && s->completes) wrong++;   /* complete before the last tile */
        if (apply_tile(a, bin, &g, order[i], p) != 0) retries++;
    }
    last_row = order[total - 1] / g.cols;
    ok(retries == 0 && s->premature == 0 && s->strip_other == 0 && s->complete_other == 0 && wrong == 0,
       "%s: every result applied, the sink told only what is true", what);
    ok(s->completes == 1, "%s: job_complete once, at the last tile (%d)", what, s->completes);
    for (k = 0, i = 0; k < rows && k < MAX_ROWS; k++)
        if (s->strips[k] != (strips_expected && k != last_row ? 1 : 0)) i++;
    ok(i == 0, "%s: strip_ready once for each of the %u rows but row %u, completed by the last tile%s", what, rows,
       last_row, strips_expected ? "" : " (none: not in strips)");
    ok(tiler_store_get_job(s->store, id, &job, p) == 0 && job.tiles_done == total && !strcmp(job.state, "running"),
       "%s: %u tiles counted once, job running", what, total);
    ok(raster_whole(id, w, h), "%s: every pixel in the raster", what);
    free(order);
}

/* A worker's ENCODED result for tile idx of a TIFF job: its core packed
 * and deflated as enc says; core_of: the tile whose core it claims. */
static unsigned char *encoded(const unsigned char id[16], const tiler_grid *g, uint32_t idx, uint32_t core_of,
                              const tiler_tile_enc *enc, size_t *len)
{
    tiler_msg m;
    tiler_rect src;
    unsigned char *buf, *z;
    const int *rows[256];
    int *px;
    size_t hdr, zl;
    uint32_t x, y;
    char err[256];
    memset(&m, 0, sizeof(m));
    m.kind = TILER_MSG_ENCODED;
    memcpy(m.job_id, id, 16);
    m.tile_index = idx;
    m.tiles_total = tiler_grid_count(g);
    m.image_w = g->width;
    m.image_h = g->height;
    tiler_grid_tile(g, core_of, &m.core, &src);
    m.src = m.core;
    m.enc = *enc;
    strcpy(m.ops, "invert");
    px = malloc((size_t)m.core.w * m.core.h * sizeof(int));
    for (y = 0; y < m.core.h; y++) {
        for (x = 0; x < m.core.w; x++) px[(size_t)y * m.core.w + x] = pixel(m.core.x + x, m.core.y + y);
        rows[y] = px + (size_t)y * m.core.w;
    }
    if (tiler_tiff_out_tile(rows, m.core.w, m.core.h, enc, 6, &z, &zl, err, sizeof(err)) < 0) { free(px); return NULL; }
    free(px);
    m.payload_len = zl;
    *len = tiler_msg_size(&m);
    buf = malloc(*len);
    hdr = tiler_msg_write_header(&m, buf);
    memcpy(buf + hdr, z, zl);
    free(z);
    return buf;
}

/* A TIFF job: encoded tiles are placed, counted once, each row of tiles
 * said complete once (for its zoom pyramid's feed, when the assembly is
 * told to: told) but the last tile's;
 * tiles that are not the job's (a raw result, another encoding, another
 * tile's core, a payload that is no zlib stream) are skipped; at the end
 * the tiles file becomes a TIFF libtiff reads. */
#define SKIPPED (s->events[TILER_ASM_EV_MISFIT] + s->events[TILER_ASM_EV_NOT_A_RESULT])
static void feed_tiff(tiler_assembly *a, seen *s, unsigned n, int told, apr_pool_t *p)
{
    unsigned char bin[16], *m;
    char id[TILER_ID_HEX_LEN + 1], tiles[4096], index[4096], err[256];
    uint32_t w = 300, h = 200, ts = 64, total, i, *order, tw = 0, th = 0, iw = 0, last_row;
    tiler_grid g;
    tiler_job job;
    tiler_tile_enc enc, other;
    size_t len;
    int bad = 0, k;
    TIFF *t;

    make_id(n, bin, id);
    tiler_grid_init(&g, w, h, ts, 0);
    total = tiler_grid_count(&g);
    if (make_job(s->store, id, w, h, ts, "tiff", NULL, 0) < 0 || tiler_store_get_job(s->store, id, &job, p) != 0) {
        ok(0, "TIFF job made");
        return;
    }
    tiler_spool_path(tiles, sizeof(tiles), spool, id, TILER_SPOOL_TILES);
    tiler_spool_path(index, sizeof(index), spool, id, TILER_SPOOL_TILE_INDEX);
    ok(tiler_tiff_out_start(tiles, index, total, err, sizeof(err)) == 0 && tiler_tiff_out_job(&job, &enc) == 1
       && enc.samples == 4 && enc.side == 64, "TIFF job: tiles file, index, RGBA 64-pixel tiles");
    reset(s, id, g.cols);
    /* Unfit tiles first: each is skipped (as unfit, or as undecodable: a
     * core larger than its tile), none counted. */
    m = result(bin, &g, 0, &len);
    ok(tiler_assembly_apply(a, m, len, 0, 0, p) == 0 && SKIPPED == 1, "TIFF job: a raw result is skipped");
    free(m);
    other = enc;
    other.side = 128;
    m = encoded(bin, &g, 0, 0, &other, &len);
    ok(m && tiler_assembly_apply(a, m, len, 0, 1, p) == 0 && SKIPPED == 2,
       "TIFF job: a tile of another size is skipped");
    free(m);
    other = enc;
    other.samples = 3;
    m = encoded(bin, &g, 0, 0, &other, &len);
    ok(m && tiler_assembly_apply(a, m, len, 0, 2, p) == 0 && SKIPPED == 3,
       "TIFF job: a tile of other samples is skipped");
    free(m);
    m = encoded(bin, &g, 1, 0, &enc, &len);
    ok(m && tiler_assembly_apply(a, m, len, 0, 3, p) == 0 && SKIPPED == 4,
       "TIFF job: tile 1 with tile 0's core is skipped");
    free(m);
    m = encoded(bin, &g, 0, 0, &enc, &len);
    m[TILER_MSG_FIXED_BYTES + 6] = 0x00;   /* the zlib header's first byte */
    ok(tiler_assembly_apply(a, m, len, 0, 4, p) == 0 && SKIPPED == 5,
       "TIFF job: a payload that is no zlib stream is skipped");
    free(m);
    ok(tiler_store_get_job(s->store, id, &job, p) == 0 && job.tiles_done == 0, "TIFF job: none of them counted");
    /* Every tile, shuffled, each after a duplicate of an earlier one. */
    order = malloc(total * sizeof(*order));
    for (i = 0; i < total; i++) order[i] = i;
    shuffle(order, total, 17);
    for (i = 0; i < total; i++) {
        uint32_t again[2] = { i > 0 ? order[(i * 7u) % i] : order[0], order[i] };
        for (k = i > 0 ? 0 : 1; k < 2; k++) {
            m = encoded(bin, &g, again[k], again[k], &enc, &len);
            if (!m || tiler_assembly_apply(a, m, len, 0, 10 + i, p) != 0) bad++;
            free(m);
        }
    }
    last_row = order[total - 1] / g.cols;
    free(order);
    for (i = 0; i < MAX_ROWS; i++) bad += s->strips[i] != (told && i < g.rows && i != last_row ? 1 : 0);
    ok(!bad && s->completes == 1 && s->premature == 0 && SKIPPED == 5 && s->strip_other == 0,
       "TIFF job: every tile placed once, %s, job_complete once (%d)",
       told ? "each row said complete once but the last tile's" : "no row said complete (not asked to)", s->completes);
    ok(tiler_store_get_job(s->store, id, &job, p) == 0 && job.tiles_done == total, "TIFF job: %u tiles counted", total);
    ok(tiler_tiff_out_finish(tiles, index, w, h, &enc, err, sizeof(err)) == 0, "TIFF job: the directory goes on: %s", err);
    t = TIFFOpen(tiles, "r");
    if (t) {
        uint32_t *rgba = malloc((size_t)w * h * 4), x, y;
        TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &iw);
        TIFFGetField(t, TIFFTAG_TILEWIDTH, &tw);
        TIFFGetField(t, TIFFTAG_TILELENGTH, &th);
        /* libtiff's RGBA interface gives the colour of an opaque pixel as
         * it is: check those, row by row from the bottom (its order). */
        if (!TIFFReadRGBAImageOriented(t, w, h, rgba, ORIENTATION_TOPLEFT, 1)) bad++;
        for (y = 0; y < h; y++)
            for (x = 0; x < w; x++) {
                unsigned v = (unsigned)pixel(x, y), got = rgba[(size_t)y * w + x];
                if ((v >> 24) & 0x7f) continue;
                if (TIFFGetR(got) != ((v >> 16) & 0xff) || TIFFGetG(got) != ((v >> 8) & 0xff) || TIFFGetB(got) != (v & 0xff))
                    bad++;
            }
        free(rgba);
        TIFFClose(t);
    }
    ok(t && iw == w && tw == 64 && th == 64 && !bad, "TIFF job: libtiff reads the placed tiles back");
}

/* A JPEG-TIFF job (compression jpeg): its tasks' encoding is codec 2 in
 * colour (the upload's alpha dropped); a Deflate tile of the same tile is
 * skipped, as is a JPEG stream cut before its end; a JPEG tile is placed,
 * and the finished file reads back in libtiff within JPEG's error. */
static void feed_tiff_jpeg(tiler_assembly *a, seen *s, unsigned n, apr_pool_t *p)
{
    unsigned char bin[16], *m;
    char id[TILER_ID_HEX_LEN + 1], tiles[4096], index[4096], err[256];
    uint32_t w = 100, h = 70, ts = 64, total, i;
    tiler_grid g;
    tiler_job job;
    tiler_tile_enc enc, deflate;
    size_t len;
    int bad = 0, worst = 0;
    TIFF *t;

    make_id(n, bin, id);
    tiler_grid_init(&g, w, h, ts, 0);
    total = tiler_grid_count(&g);
    if (make_job(s->store, id, w, h, ts, "tiff", "jpeg", 0) < 0 || tiler_store_get_job(s->store, id, &job, p) != 0) {
        ok(0, "JPEG-TIFF job made");
        return;
    }
    tiler_spool_path(tiles, sizeof(tiles), spool, id, TILER_SPOOL_TILES);
    tiler_spool_path(index, sizeof(index), spool, id, TILER_SPOOL_TILE_INDEX);
    ok(job.compression && !strcmp(job.compression, "jpeg") && tiler_tiff_out_job(&job, &enc) == 1
       && enc.codec == TILER_CODEC_TIFF_JPEG && enc.samples == 3 && enc.side == 64
       && tiler_tiff_out_start(tiles, index, total, err, sizeof(err)) == 0,
       "JPEG-TIFF job: stored with its compression; codec 2, 3 samples (alpha dropped), 64-pixel tiles");
    reset(s, id, g.cols);
    deflate = enc;
    deflate.codec = TILER_CODEC_TIFF_DEFLATE;
    m = encoded(bin, &g, 0, 0, &deflate, &len);
    ok(m && tiler_assembly_apply(a, m, len, 0, 0, p) == 0 && SKIPPED == 1, "JPEG-TIFF job: a Deflate tile is skipped");
    free(m);
    m = encoded(bin, &g, 0, 0, &enc, &len);
    ok(m && tiler_assembly_apply(a, m, len - 1, 0, 1, p) == 0 && SKIPPED == 2,
       "JPEG-TIFF job: a JPEG stream without its end is skipped");
    free(m);
    for (i = 0; i < total; i++) {
        m = encoded(bin, &g, i, i, &enc, &len);
        if (!m || tiler_assembly_apply(a, m, len, 0, 10 + i, p) != 0) bad++;
        free(m);
    }
    ok(!bad && s->completes == 1 && SKIPPED == 2 && tiler_store_get_job(s->store, id, &job, p) == 0
       && job.tiles_done == total, "JPEG-TIFF job: every tile placed and counted, job_complete once");
    ok(tiler_tiff_out_finish(tiles, index, w, h, &enc, err, sizeof(err)) == 0, "JPEG-TIFF job: the directory goes on: %s",
       err);
    t = TIFFOpen(tiles, "r");
    if (t) {
        uint32_t *rgba = malloc((size_t)w * h * 4);
        unsigned char *raw = malloc(TILER_MAX_MESSAGE_BYTES);
        if (!TIFFReadRGBAImageOriented(t, w, h, rgba, ORIENTATION_TOPLEFT, 1)) bad++;
        /* Each tile's stored bytes are the stream sent for that tile: none
         * placed at another index, none changed. */
        for (i = 0; i < total; i++) {
            unsigned char *want = encoded(bin, &g, i, i, &enc, &len);
            tiler_msg mm;
            tmsize_t got = TIFFReadRawTile(t, i, raw, TILER_MAX_MESSAGE_BYTES);
            if (!want || tiler_msg_decode(&mm, want, len, err, sizeof(err)) < 0 || got != (tmsize_t)mm.payload_len
                || memcmp(raw, mm.pixels, mm.payload_len))
                worst++;
            free(want);
        }
        free(raw);
        free(rgba);
        TIFFClose(t);
    }
    ok(t && !bad && !worst, "JPEG-TIFF job: libtiff decodes the file, and each tile holds the stream sent for it "
       "(%d differ)", worst);
}

int main(void)
{
    apr_pool_t *p, *scratch;
    tiler_assembly *a;
    tiler_asm_config cfg;
    tiler_store *st;
    seen s;
    const char *err = NULL, *db, *state;
    int rc;
    char path[4096], hex[TILER_ID_HEX_LEN + 1];
    unsigned char bin[16];
    tiler_grid g;
    tiler_job job;
    unsigned char *m;
    size_t len;
    unsigned n = 0;

    apr_initialize();
    tiler_store_global_init();
    apr_pool_create(&p, NULL);
    apr_pool_create(&scratch, p);
    if (tmpdir_make() < 0) { ok(0, "temporary directory"); return done_testing(); }
    spool = apr_pstrdup(p, tmpdir_path("spool"));
    mkdir(spool, 0700);
    mkdir(apr_pstrcat(p, spool, "/jobs", NULL), 0700);
    db = apr_pstrdup(p, tmpdir_path("tiler.db"));
    if (tiler_store_open(&st, db, p, &err) < 0) { ok(0, "store: %s", err); return done_testing(); }
    memset(&s, 0, sizeof(s));
    s.store = st;
    s.p = scratch;

    memset(&cfg, 0, sizeof(cfg));
    cfg.spool_dir = spool;
    cfg.store_path = db;
    cfg.job_ttl_seconds = 60;
    cfg.sink.ctx = &s;
    cfg.sink.strip_ready = on_strip;
    cfg.sink.job_complete = on_complete;
    cfg.log_ctx = &s;
    cfg.log = on_log;
    cfg.tiff_rows = 1;
    ok(tiler_assembly_create(&a, &cfg, p, &err) == 0, "assembly made");

    /* Rows of tiles: exact, a last partial row and column, one row, one
     * column, one tile; in order and shuffled with duplicates. */
    feed(a, &s, ++n, 256, 256, 64, "png", 0, scratch);
    feed(a, &s, ++n, 300, 200, 64, "png", 0, scratch);
    feed(a, &s, ++n, 300, 200, 64, "png", 7, scratch);
    feed(a, &s, ++n, 1000, 40, 128, "png", 0, scratch);
    feed(a, &s, ++n, 1000, 40, 128, "png", 3, scratch);
    feed(a, &s, ++n, 50, 700, 64, "png", 11, scratch);
    feed(a, &s, ++n, 97, 131, 16, "png", 5, scratch);
    feed(a, &s, ++n, 30, 20, 64, "png", 0, scratch);
    feed(a, &s, ++n, 333, 250, 40, "jpeg", 13, scratch);   /* 40: whole MCU rows, strips */
    feed(a, &s, ++n, 333, 250, 36, "jpeg", 13, scratch);   /* 36: no strips, the end encodes it */
    /* Packed results (version 4): gd values, RGB and grey land in the
     * raster as the pixels they pack. */
    for (pattern = 1; pattern <= 3; pattern++) {
        size_t plen;
        tiler_grid pg;
        unsigned char *pm, pbin[16];
        char pid[TILER_ID_HEX_LEN + 1], perr[256];
        tiler_msg d;
        static const int want[] = { 0, TILER_PACK_GD, TILER_PACK_RGB, TILER_PACK_GREY };
        make_id(n + 1, pbin, pid);
        tiler_grid_init(&pg, 97, 131, 16, 0);
        pm = result(pbin, &pg, 5, &plen);
        ok(pm && tiler_msg_decode(&d, pm, plen, perr, sizeof(perr)) == 0 && d.packing == want[pattern],
           "pattern %d: results packed as %d bytes a pixel", pattern, want[pattern]);
        free(pm);
        feed(a, &s, ++n, 97, 131, 16, "png", 5, scratch);
        feed(a, &s, ++n, 333, 250, 40, "jpeg", 0, scratch);
    }
    pattern = 0;
    apr_pool_clear(scratch);
    feed_tiff(a, &s, 100, 1, scratch);
    feed_tiff_jpeg(a, &s, 101, scratch);
    apr_pool_clear(scratch);
    {
        /* Not told of TIFF rows (TilerZoom Off): none asked. */
        tiler_assembly *untold;
        cfg.tiff_rows = 0;
        ok(tiler_assembly_create(&untold, &cfg, p, &err) == 0, "an assembly not told of TIFF rows");
        feed_tiff(untold, &s, 102, 0, scratch);
        cfg.tiff_rows = 1;
        apr_pool_clear(scratch);
    }

    /* A duplicate of a complete job still running asks again (the sink
     * keeps one encoding); once it ended, results are late: skipped. */
    make_id(1, bin, hex);
    tiler_grid_init(&g, 256, 256, 64, 0);
    reset(&s, hex, g.cols);
    ok(apply_tile(a, bin, &g, 5, scratch) == 0 && s.completes == 1 && s.strips[1] == 0,
       "a duplicate for a complete, running job: job_complete again, no strip");
    /* ...also when its raster is gone already (the final join removed it
     * while the job is still being finished: seen in t/50-faults.t with a
     * worker that stalled past its session and sent its tiles again). */
    {
        char raster[4096];
        tiler_job now;
        tiler_spool_path(raster, sizeof(raster), spool, hex, TILER_SPOOL_RASTER);
        unlink(raster);
        reset(&s, hex, g.cols);
        ok(apply_tile(a, bin, &g, 6, scratch) == 0 && s.completes == 1 && s.events[TILER_ASM_EV_RASTER] == 0
           && !strcmp(state_of(st, hex, scratch, &now), "running"),
           "a duplicate once the raster is gone: not written, the job not failed, job_complete again");
    }
    tiler_store_finish(st, hex, "done", NULL);
    reset(&s, hex, g.cols);
    ok(apply_tile(a, bin, &g, 5, scratch) == 0 && s.completes == 0 && s.strips[1] == 0,
       "a result for a done job: skipped, nothing asked");

    /* Unfit results: skipped, not counted, logged. */
    make_id(++n, bin, hex);
    make_job(st, hex, 300, 200, 64, "png", NULL, 1);
    reset(&s, hex, 5);
    tiler_grid_init(&g, 300, 201, 64, 0);   /* one row taller than the job */
    m = result(bin, &g, 0, &len);
    ok(tiler_assembly_apply(a, m, len, 2, 9, scratch) == 0 && s.events[TILER_ASM_EV_MISFIT] == 1
       && strstr(s.last_msg, "does not fit the job"), "a result for another image size: skipped (%s)", s.last_msg);
    free(m);
    tiler_grid_init(&g, 300, 200, 32, 0);   /* another tile size: another tiles_total */
    m = result(bin, &g, 3, &len);
    ok(tiler_assembly_apply(a, m, len, 2, 10, scratch) == 0 && s.events[TILER_ASM_EV_MISFIT] == 2,
       "a result for another tile size: skipped");
    free(m);
    {
        /* A result that still carries its halo: src larger than core. */
        tiler_msg h;
        unsigned char *buf;
        size_t hdr;
        memset(&h, 0, sizeof(h));
        h.kind = TILER_MSG_RESULT;
        memcpy(h.job_id, bin, 16);
        h.tile_index = 0; h.tiles_total = 20; h.image_w = 300; h.image_h = 200;
        h.core = (tiler_rect){ 0, 0, 64, 64 };
        h.src = (tiler_rect){ 0, 0, 66, 66 };
        len = tiler_msg_size(&h);
        buf = calloc(1, len);
        hdr = tiler_msg_write_header(&h, buf);
        memset(buf + hdr, 0x7f, len - hdr);
        ok(tiler_assembly_apply(a, buf, len, 2, 11, scratch) == 0 && s.events[TILER_ASM_EV_MISFIT] == 3,
           "a result whose pixels are not its core: skipped");
        free(buf);
    }
    ok(tiler_store_get_job(st, hex, &job, scratch) == 0 && job.tiles_done == 0 && !strcmp(job.state, "queued")
       && s.completes == 0 && s.strips[0] == 0, "no unfit tile counted, nothing asked of the sink");

    /* Not a result at all. */
    ok(tiler_assembly_apply(a, "garbage", 7, 3, 42, scratch) == 0 && s.events[TILER_ASM_EV_NOT_A_RESULT] == 1
       && strstr(s.last_msg, "partition 3 offset 42"), "an undecodable message: skipped with where it was (%s)",
       s.last_msg);
    {
        tiler_msg t;
        unsigned char *buf;
        memset(&t, 0, sizeof(t));
        t.kind = TILER_MSG_TASK;
        memcpy(t.job_id, bin, 16);
        t.tiles_total = 20; t.image_w = 300; t.image_h = 200;
        t.core = t.src = (tiler_rect){ 0, 0, 1, 1 };
        len = tiler_msg_size(&t);
        buf = calloc(1, len);
        tiler_msg_write_header(&t, buf);
        ok(tiler_assembly_apply(a, buf, len, 3, 43, scratch) == 0 && s.events[TILER_ASM_EV_NOT_A_RESULT] == 2
           && strstr(s.last_msg, "a task, not a result"), "a task on the results topic: skipped (%s)", s.last_msg);
        free(buf);
    }

    /* A worker gave up on a tile: the job fails with its reason, its work
     * files go, and its later results are skipped. */
    tiler_grid_init(&g, 300, 200, 64, 0);
    ok(apply_tile(a, bin, &g, 0, scratch) == 0, "one tile of the job in");
    m = tiler_msg_failure(bin, 1, 20, "cannot process: bad blur", &len);
    ok(tiler_assembly_apply(a, m, len, 1, 5, scratch) == 0 && s.events[TILER_ASM_EV_WORKER_FAILED] == 1,
       "a FAILURE message: applied (%s)", s.last_msg);
    free(m);
    state = state_of(st, hex, scratch, &job);
    ok(!strcmp(state, "failed") && job.error && !strcmp(job.error, "cannot process: bad blur"),
       "the job failed with the worker's reason (%s)", job.error ? job.error : state);
    tiler_spool_path(path, sizeof(path), spool, hex, TILER_SPOOL_RASTER);
    ok(access(path, F_OK) != 0, "its raster is dropped");
    ok(apply_tile(a, bin, &g, 2, scratch) == 0 && tiler_store_get_job(st, hex, &job, scratch) == 0 && job.tiles_done == 1
       && s.completes == 0, "a result for the failed job: skipped, not counted");
    m = tiler_msg_failure(bin, 1, 20, "cannot process: bad blur", &len);
    ok(tiler_assembly_apply(a, m, len, 1, 6, scratch) == 0 && s.events[TILER_ASM_EV_WORKER_FAILED] == 1,
       "the same FAILURE again (a duplicate): skipped, the job has failed");
    free(m);
    ok(dead_tiles(st, scratch) == 1, "the dead-lettered tile counted once in the metrics (%lld)",
       (long long)dead_tiles(st, scratch));

    /* A removed job (DELETE): its results are late, skipped quietly. */
    make_id(++n, bin, hex);
    reset(&s, hex, 5);
    ok(apply_tile(a, bin, &g, 0, scratch) == 0 && s.completes == 0 && s.events[TILER_ASM_EV_MISFIT] == 0
       && s.events[TILER_ASM_EV_RASTER] == 0, "a result for a job that is not in the store: skipped, nothing said");

    /* No raster to write into: the job fails, the message is dealt with. */
    make_id(++n, bin, hex);
    make_job(st, hex, 300, 200, 64, "png", NULL, 0);
    reset(&s, hex, 5);
    ok(apply_tile(a, bin, &g, 4, scratch) == 0 && s.events[TILER_ASM_EV_RASTER] == 1, "no raster: applied (%s)",
       s.last_msg);
    state = state_of(st, hex, scratch, &job);
    ok(!strcmp(state, "failed") && job.error && !strncmp(job.error, "assembling the result failed: ", 30)
       && job.tiles_done == 0, "the job failed, saying why (%s)", job.error ? job.error : state);

    /* A store that cannot answer: -1, the message is applied again later,
     * and then counts. */
    make_id(++n, bin, hex);
    make_job(st, hex, 300, 200, 64, "png", NULL, 1);
    reset(&s, hex, 5);
    sqlite3_exec(tiler_store_connection(st), "ALTER TABLE tiles RENAME TO tiles_away", NULL, NULL, NULL);
    ok(apply_tile(a, bin, &g, 7, scratch) == -1 && s.events[TILER_ASM_EV_COUNT] == 1,
       "the store cannot count: -1, apply again (%s)", s.last_msg);
    sqlite3_exec(tiler_store_connection(st), "ALTER TABLE tiles_away RENAME TO tiles", NULL, NULL, NULL);
    ok(apply_tile(a, bin, &g, 7, scratch) == 0 && tiler_store_get_job(st, hex, &job, scratch) == 0 && job.tiles_done == 1,
       "applied again once the store answers: counted");
    sqlite3_exec(tiler_store_connection(st), "ALTER TABLE jobs RENAME TO jobs_away", NULL, NULL, NULL);
    ok(apply_tile(a, bin, &g, 8, scratch) == -1, "the store cannot find the job: -1");
    ok(tiler_assembly_catch_up(a, scratch) == -1, "nor can catch-up ask it: -1");
    sqlite3_exec(tiler_store_connection(st), "ALTER TABLE jobs_away RENAME TO jobs", NULL, NULL, NULL);

    /* Catch-up: the jobs all in but not finished (the ten fed above but the
     * first, done, the six of packed results and the three TIFF jobs; the
     * others are short of tiles, failed or done). */
    reset(&s, "", 1);
    rc = tiler_assembly_catch_up(a, scratch);
    ok(rc == 0 && s.complete_other == 18, "catch-up asks to finish the 18 jobs all in but not finished (%d)",
       s.complete_other);
    cfg.sink.job_complete = NULL;
    {
        tiler_assembly *quiet;
        ok(tiler_assembly_create(&quiet, &cfg, scratch, &err) == 0 && tiler_assembly_catch_up(quiet, scratch) == 0,
           "without a job_complete: catch-up asks nothing");
        cfg.job_ttl_seconds = 0;
        make_id(1, bin, hex);
        ok(tiler_assembly_create(&quiet, &cfg, scratch, &err) == 0
           && tiler_assembly_sweep(quiet, apr_time_now() + apr_time_from_sec(86400), scratch) == 0
           && tiler_store_get_job(st, hex, &job, scratch) == 0, "TilerJobTTL 0: nothing removed");
    }
    apr_pool_clear(scratch);

    /* TTL: jobs finished more than 60 s ago go, files and rows. */
    reset(&s, "", 1);
    ok(tiler_assembly_sweep(a, apr_time_now(), scratch) == 0 && s.events[TILER_ASM_EV_SWEPT] == 0,
       "sweep now: nothing finished 60 s ago");
    make_id(1, bin, hex);
    tiler_spool_path(path, sizeof(path), spool, hex, TILER_SPOOL_DIR);
    ok(access(path, F_OK) == 0, "the done job's directory is there");
    ok(tiler_assembly_sweep(a, apr_time_now() + apr_time_from_sec(61), scratch) == 3
       && s.events[TILER_ASM_EV_SWEPT] == 1 && !strcmp(s.last_msg, "removed 3 jobs finished more than 60 s ago"),
       "sweep 61 s later: the 3 finished jobs removed (%s)", s.last_msg);
    ok(tiler_store_get_job(st, hex, &job, scratch) == 1 && access(path, F_OK) != 0,
       "the done job's row and directory are gone");
    make_id(2, bin, hex);
    ok(tiler_store_get_job(st, hex, &job, scratch) == 0, "a running job stays");

    /* Which results are strips. */
    memset(&job, 0, sizeof(job));
    job.width = 1000; job.height = 1000; job.tile_size = 60; job.format = "png";
    ok(tiler_assembly_in_strips(&job), "PNG: strips at any tile size");
    job.format = "jpeg";
    ok(!tiler_assembly_in_strips(&job), "JPEG with 60-pixel tiles: not on MCU rows, no strips");
    job.tile_size = 64;
    ok(tiler_assembly_in_strips(&job), "JPEG with 64-pixel tiles: strips");
    job.width = 65501;
    ok(!tiler_assembly_in_strips(&job), "JPEG wider than 65500: no strips (the end says why not)");
    job.format = "tiff";
    job.width = 1000;
    ok(!tiler_assembly_in_strips(&job), "TIFF: no strips, its tiles are placed as they come");

    /* Failing a job records the cause and frees its files; a second
     * failure (a thread that found the files gone) keeps the first cause. */
    make_id(200, bin, hex);
    if (make_job(st, hex, 64, 64, 32, "png", NULL, 1) == 0) {
        tiler_spool_path(path, sizeof(path), spool, hex, TILER_SPOOL_RASTER);
        ok(tiler_assembly_fail(st, spool, hex, "cannot write raster: No space left on device") == 0
           && tiler_store_get_job(st, hex, &job, scratch) == 0 && !strcmp(job.state, "failed")
           && !strcmp(job.error, "cannot write raster: No space left on device") && access(path, F_OK) != 0,
           "a failed job has its cause and no raster");
        ok(tiler_assembly_fail(st, spool, hex, "strip 0: cannot open raster: No such file or directory") == 0
           && tiler_store_get_job(st, hex, &job, scratch) == 0
           && !strcmp(job.error, "cannot write raster: No space left on device"),
           "failing it again keeps the first cause (%s)", job.error);
    } else {
        ok(0, "a job to fail");
    }

    apr_pool_destroy(p);
    apr_terminate();
    if (!tap_failed) {
        char cmd[512];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir_name);
        if (system(cmd) != 0) printf("# could not remove %s\n", tmpdir_name);
    }
    return done_testing();
}
