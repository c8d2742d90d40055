#include "tiler_zoom_feed.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <gd.h>
#include <zlib.h>
#include "tiler_defaults.h"
#include "tiler_png.h"
#include "tiler_pyramid.h"
#include "tiler_raster.h"
#include "tiler_spool.h"
#include "tiler_strip.h"
#include "tiler_tiff.h"
#include "tiler_png_tile.h"
#include "tiler_tiff_out.h"

/* Per strip: its tiles are all placed; it was encoded before it was fed. */
#define READY   1
#define ENCODED 2

struct tiler_zoom_feed {
    int fd;                 /* the raster, or the tiles file (a TIFF's or a PNG's): open until close */
    int index_fd;           /* the tile index; -1 for a raster */
    tiler_raster raster;    /* fd as a raster, its layout known */
    uint32_t w, h, strip_rows, strips, fed, chunk;
    uint32_t held;          /* strips encoded before they were fed */
    int color, spp;         /* spp: the tiles' samples a pixel */
    int png_rows;           /* the tiles are a PNG result's rows deflated by the workers (tiler_png_tile.h) */
    unsigned char *state;   /* READY | ENCODED per strip */
    int *px;                /* chunk rows of the raster, while a strip is fed */
    unsigned char *samples; /* one row as the result's samples, likewise */
    tiler_pyramid *pyr;     /* NULL once ended */
};

size_t tiler_zoom_feed_work_bytes(uint32_t w, int feeding)
{
    return sizeof(tiler_zoom_feed) + tiler_pyramid_work_bytes(w)
           + (feeding ? (size_t)tiler_strip_chunk_rows(w) * w * sizeof(int) + (size_t)w * 4 : 0);
}

size_t tiler_zoom_feed_tiff_work_bytes(uint32_t w, uint32_t side, int samples, int feeding)
{
    uint64_t cols = ((uint64_t)w + side - 1) / side, tile = (uint64_t)side * side * (uint64_t)samples;
    /* The larger of the two encodings' bounds for one tile's bytes, and a
     * PNG tile's row as it inflates. */
    uint64_t z = compressBound((uLong)tile), zp = tiler_png_tile_max_bytes(side, samples) + (uint64_t)side * samples + 1;
    return sizeof(tiler_zoom_feed) + tiler_pyramid_work_bytes(w)
           + (feeding ? (size_t)(cols * tile + (z > zp ? z : zp) + (uint64_t)w * (sizeof(int) + 4)) : 0);
}

/* Opens path read-only into *fd. 0, or -1 with err naming what. */
static int open_source(const char *path, int *fd, const char *what, char *err, size_t errlen)
{
    if ((*fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) return 0;
    snprintf(err, errlen, "cannot open %s: %s", what, strerror(errno));
    return -1;
}

static tiler_zoom_feed *feed_new(uint32_t w, uint32_t h, uint32_t strip_rows, char *err, size_t errlen)
{
    tiler_zoom_feed *f;
    if (!w || !h || !strip_rows) { snprintf(err, errlen, "an empty image has no pyramid"); return NULL; }
    if (!(f = calloc(1, sizeof(*f)))) { snprintf(err, errlen, "out of memory"); return NULL; }
    f->fd = f->index_fd = -1;
    f->w = w; f->h = h; f->strip_rows = strip_rows;
    f->strips = (uint32_t)(((uint64_t)h + strip_rows - 1) / strip_rows);
    f->chunk = tiler_strip_chunk_rows(w);
    if (!(f->state = calloc(f->strips, 1))) {
        snprintf(err, errlen, "out of memory for a %u-pixel-wide pyramid", w);
        free(f);
        return NULL;
    }
    return f;
}

/* Begins f's pyramid; on failure frees f. */
static tiler_zoom_feed *begin(tiler_zoom_feed *f, const char *dir, int zlevel, int *full, char *err, size_t errlen)
{
    if ((f->pyr = tiler_pyramid_begin(dir, f->w, f->h, zlevel, err, errlen))) return f;
    *full = errno == ENOSPC || errno == EDQUOT;
    tiler_zoom_feed_close(f);
    return NULL;
}

tiler_zoom_feed *tiler_zoom_feed_open(const char *raster, const char *dir, uint32_t w, uint32_t h, uint32_t strip_rows,
                                      int color, int zlevel, int *full, char *err, size_t errlen)
{
    tiler_zoom_feed *f = feed_new(w, h, strip_rows, err, errlen);
    *full = 0;
    if (!f) return NULL;
    f->color = color;
    if (open_source(raster, &f->fd, "the raster", err, errlen) < 0
        || tiler_raster_attach(&f->raster, f->fd, w, h, err, errlen) < 0) {
        tiler_zoom_feed_close(f);
        return NULL;
    }
    return begin(f, dir, zlevel, full, err, errlen);
}

tiler_zoom_feed *tiler_zoom_feed_open_tiles(const char *tiles, const char *index, const char *dir, uint32_t w, uint32_t h,
                                            uint32_t side, int samples, int png_rows, int zlevel, int *full, char *err,
                                            size_t errlen)
{
    tiler_zoom_feed *f;
    uint64_t row_bytes = ((uint64_t)w + side - 1) / (side ? side : 1) * side * side * (uint64_t)samples;
    *full = 0;
    if (samples < 1 || samples > 4 || side == 0 || side > TILER_MAX_TILE_SIZE) {
        snprintf(err, errlen, "no tiles of %u pixels and %d samples", side, samples);
        return NULL;
    }
    /* A strip is fed from its row of tiles decoded whole: the uploads'
     * TIFF reader's bound on that (a wider PNG's view is built from the
     * result once done; a TIFF's from neither). */
    if (row_bytes > TILER_TIFF_MAX_TILE_ROW_BYTES) {
        snprintf(err, errlen, "a row of its %u-pixel tiles %u pixels wide is %llu MiB decoded, over %llu", side, w,
                 (unsigned long long)(row_bytes >> 20), (unsigned long long)(TILER_TIFF_MAX_TILE_ROW_BYTES >> 20));
        return NULL;
    }
    if (!(f = feed_new(w, h, side, err, errlen))) return NULL;
    f->spp = samples;
    f->png_rows = png_rows;
    f->color = tiler_tiff_out_color(samples);
    if (open_source(tiles, &f->fd, "the tiles file", err, errlen) < 0
        || open_source(index, &f->index_fd, "the tile index", err, errlen) < 0) {
        tiler_zoom_feed_close(f);
        return NULL;
    }
    return begin(f, dir, zlevel, full, err, errlen);
}

uint32_t tiler_zoom_feed_strips(const tiler_zoom_feed *f)
{
    return f->strips;
}

void tiler_zoom_feed_ready(tiler_zoom_feed *f, uint32_t k)
{
    uint32_t i;
    if (k < f->strips) { f->state[k] |= READY; return; }
    for (i = 0; i < f->strips; i++) f->state[i] |= READY;
}

int tiler_zoom_feed_next(const tiler_zoom_feed *f, uint32_t *k)
{
    if (f->fed >= f->strips || !(f->state[f->fed] & READY)) return 0;
    *k = f->fed;
    return 1;
}

int tiler_zoom_feed_encoded(tiler_zoom_feed *f, uint32_t k)
{
    if (k >= f->strips || k < f->fed) return 1;
    if (!(f->state[k] & ENCODED)) f->held++;
    f->state[k] |= ENCODED;
    return 0;
}

int tiler_zoom_feed_fed(tiler_zoom_feed *f, uint32_t k)
{
    if (k != f->fed) return 0;
    f->fed++;
    if (!(f->state[k] & ENCODED)) return 0;
    f->held--;
    return 1;
}

int tiler_zoom_feed_held(const tiler_zoom_feed *f, uint32_t k)
{
    return k < f->strips && k >= f->fed && (f->state[k] & ENCODED);
}

uint32_t tiler_zoom_feed_held_strips(const tiler_zoom_feed *f)
{
    return f->held;
}

int tiler_zoom_feed_held_pixel_bytes(const tiler_zoom_feed *f)
{
    return f->index_fd >= 0 ? (f->spp > 0 ? f->spp : 4) : f->raster.packing;
}

int tiler_zoom_feed_complete(const tiler_zoom_feed *f)
{
    return f->fed >= f->strips;
}

/* The row as the result holds it, back in gd ints: what reading the
 * result back would give (alpha dropped when the colour type has none,
 * 7-bit alpha through 8 bits and back). -1 when a grey type meets a pixel
 * that is not grey (the result's encoder refuses it too). */
static void samples_to_gd(const unsigned char *s, uint32_t w, int color, int *row)
{
    uint32_t x;
    for (x = 0; x < w; x++) {
        int r, g, b, a = 255;
        switch (color) {
        case TILER_PNG_GRAY: r = g = b = *s++; break;
        case TILER_PNG_GRAY_ALPHA: r = g = b = *s++; a = *s++; break;
        case TILER_PNG_RGB: r = *s++; g = *s++; b = *s++; break;
        default: r = *s++; g = *s++; b = *s++; a = *s++; break;
        }
        row[x] = gdTrueColorAlpha(r, g, b, 127 - (a >> 1));
    }
}

static int as_result(tiler_zoom_feed *f, int *row)
{
    if (tiler_png_row_samples(f->samples, row, f->w, f->color) < 0) return -1;
    samples_to_gd(f->samples, f->w, f->color, row);
    return 0;
}

static int feed_raster_strip(tiler_zoom_feed *f, uint32_t k, const volatile int *cancel, char *err, size_t errlen)
{
    uint32_t top, end, y, n, i;
    int rc;
    /* Only while a strip is fed: a feed waiting for its next strip holds
     * the pyramid's rows alone. */
    if (!(f->px = malloc((size_t)f->chunk * f->w * sizeof(int))) || !(f->samples = malloc((size_t)f->w * 4))) {
        snprintf(err, errlen, "out of memory for a strip of the pyramid");
        rc = -1;
        goto out;
    }
    top = k * f->strip_rows;
    end = f->h - top < f->strip_rows ? f->h : top + f->strip_rows;
    rc = 0;
    for (y = top; rc == 0 && y < end; y += n) {
        n = end - y < f->chunk ? end - y : f->chunk;
        if ((rc = tiler_raster_get(&f->raster, y, n, f->px, err, errlen)) < 0) break;
        for (i = 0; rc == 0 && i < n; i++) {
            int *row = f->px + (size_t)i * f->w;
            if (cancel && *cancel) {
                snprintf(err, errlen, "stopped at row %u of %u", y + i, f->h);
                rc = -3;
            } else if (as_result(f, row) < 0) {
                snprintf(err, errlen, "row %u is not grey, as the result's colour type says it is", y + i);
                rc = -1;
            } else {
                rc = tiler_pyramid_row(f->pyr, row, err, errlen);
            }
        }
    }
out:
    free(f->px);
    free(f->samples);
    f->px = NULL;
    f->samples = NULL;
    return rc;
}

static int pread_all(int fd, void *buf, size_t n, uint64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        got += (size_t)r;
    }
    return 0;
}

/* Decodes tile c of row of tiles k (its index entry, then its bytes) into
 * dst: side x side pixels of samples, Predictor 2 undone (tiler_tiff_out.h),
 * or a PNG tile's rows inflated, their filters undone (tiler_png_tile.h).
 * z holds zmax bytes. 0, or -1 with err. */
static int decode_tile(tiler_zoom_feed *f, uint32_t k, uint32_t c, unsigned char *z, size_t zmax, unsigned char *dst,
                       char *err, size_t errlen)
{
    uint32_t side = f->strip_rows, cols = (f->w + side - 1) / side, idx = k * cols + c;
    size_t stride = (size_t)side * f->spp, raw = stride * side, i, y;
    uint64_t off, len;
    uLongf n = (uLongf)raw;
    if (tiler_tiff_out_entry(f->index_fd, idx, &off, &len) < 0) {
        snprintf(err, errlen, "cannot read the index entry of tile %u", idx);
        return -1;
    }
    if (len == 0 || len > zmax) {
        snprintf(err, errlen, "tile %u has %llu bytes: none is in, or more than a deflated tile takes", idx,
                 (unsigned long long)len);
        return -1;
    }
    if (pread_all(f->fd, z, (size_t)len, off) < 0) {
        snprintf(err, errlen, "cannot read tile %u's %llu bytes", idx, (unsigned long long)len);
        return -1;
    }
    if (f->png_rows) {
        uint32_t cw = f->w - c * side < side ? f->w - c * side : side, ch = f->h - k * side < side ? f->h - k * side : side;
        char why[256];
        if (tiler_png_tile_decode(z, (size_t)len, cw, ch, f->spp, c == 0, dst, stride, why, sizeof(why)) == 0) return 0;
        snprintf(err, errlen, "tile %u: %s", idx, why);
        return -1;
    }
    if (uncompress(dst, &n, z, (uLong)len) != Z_OK || n != raw) {
        snprintf(err, errlen, "tile %u cannot be inflated to its %zu bytes", idx, raw);
        return -1;
    }
    for (y = 0; y < f->strip_rows; y++) {
        unsigned char *row = dst + y * stride;
        for (i = (size_t)f->spp; i < stride; i++) row[i] = (unsigned char)(row[i] + row[i - f->spp]);
    }
    return 0;
}

/* A strip from tiles: its row of tiles decoded whole (as the uploads' TIFF
 * reader reads a row of tiles), then its rows in turn. */
static int feed_tiles_strip(tiler_zoom_feed *f, uint32_t k, const volatile int *cancel, char *err, size_t errlen)
{
    uint32_t side = f->strip_rows, cols = (f->w + side - 1) / side, c, y, rows;
    size_t raw = (size_t)side * side * f->spp,
           zmax = f->png_rows ? tiler_png_tile_max_bytes(side, f->spp) : compressBound((uLong)raw);
    unsigned char *tiles = malloc((size_t)cols * raw), *z = malloc(zmax), *line = malloc((size_t)f->w * f->spp);
    int *row = malloc((size_t)f->w * sizeof(int)), rc = 0;

    if (!tiles || !z || !line || !row) {
        snprintf(err, errlen, "out of memory for a row of %u tiles", cols);
        rc = -1;
    }
    for (c = 0; rc == 0 && c < cols; c++) {
        unsigned char *dst = tiles + (size_t)c * raw;
        /* Once more on failure: a tile sent twice has its entry rewritten
         * (to a whole copy) as it is read. */
        if (decode_tile(f, k, c, z, zmax, dst, err, errlen) < 0 && decode_tile(f, k, c, z, zmax, dst, err, errlen) < 0)
            rc = -1;
    }
    rows = f->h - k * side < side ? f->h - k * side : side;
    for (y = 0; rc == 0 && y < rows; y++) {
        for (c = 0; c < cols; c++) {
            uint32_t n = f->w - c * side < side ? f->w - c * side : side;
            memcpy(line + (size_t)c * side * f->spp, tiles + (size_t)c * raw + (size_t)y * side * f->spp,
                   (size_t)n * f->spp);
        }
        samples_to_gd(line, f->w, f->color, row);
        if (cancel && *cancel) {
            snprintf(err, errlen, "stopped at row %u of %u", k * side + y, f->h);
            rc = -3;
        } else {
            rc = tiler_pyramid_row(f->pyr, row, err, errlen);
        }
    }
    free(tiles);
    free(z);
    free(line);
    free(row);
    return rc;
}

int tiler_zoom_feed_strip(tiler_zoom_feed *f, uint32_t k, const volatile int *cancel, char *err, size_t errlen)
{
    if (!f->pyr || k != f->fed || k >= f->strips) {
        snprintf(err, errlen, "strip %u fed out of turn (next is %u of %u)", k, f->fed, f->strips);
        return -1;
    }
    return f->index_fd >= 0 ? feed_tiles_strip(f, k, cancel, err, errlen) : feed_raster_strip(f, k, cancel, err, errlen);
}

int tiler_zoom_feed_end(tiler_zoom_feed *f, char *err, size_t errlen)
{
    tiler_pyramid *p = f->pyr;
    if (!p || !tiler_zoom_feed_complete(f)) {
        snprintf(err, errlen, "the pyramid was ended with %u of its %u strips fed", f->fed, f->strips);
        return -1;
    }
    f->pyr = NULL;
    return tiler_pyramid_end(p, err, errlen);
}

void tiler_zoom_feed_close(tiler_zoom_feed *f)
{
    if (!f) return;
    tiler_pyramid_abort(f->pyr);
    if (f->fd >= 0) close(f->fd);
    if (f->index_fd >= 0) close(f->index_fd);
    free(f->state);
    free(f);
}
