#include "tiler_strip.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tiler_defaults.h"
#include "tiler_jpeg_out.h"
#include "tiler_png.h"
#include "tiler_png_tile.h"
#include "tiler_raster.h"
#include "tiler_spool.h"
#include "tiler_tiff_out.h"

/* One encoder or the other, fed the same way. */
typedef struct {
    tiler_png_strip_out *png;
    tiler_jpeg_strip_out *jpeg;
} encoder;

static int enc_begin(encoder *e, FILE *f, const tiler_strip_spec *sp, char *err, size_t errlen)
{
    memset(e, 0, sizeof(*e));
    if (sp->jpeg) e->jpeg = tiler_jpeg_strip_out_begin(f, sp->width, sp->height, sp->top, sp->n, sp->quality, err, errlen);
    else e->png = tiler_png_strip_out_begin(f, sp->width, sp->n, sp->color, sp->level, sp->top + sp->n == sp->height, err, errlen);
    return e->jpeg || e->png ? 0 : -1;
}

static int enc_rows(encoder *e, const int *px, uint32_t n, char *err, size_t errlen)
{
    return e->jpeg ? tiler_jpeg_strip_out_rows(e->jpeg, px, n, err, errlen) : tiler_png_strip_out_rows(e->png, px, n, err, errlen);
}

/* Ends (and frees) the encoder; with ok 0 only frees it. */
static int enc_end(encoder *e, int ok, char *err, size_t errlen)
{
    char ignored[8];
    if (!ok) { err = ignored; errlen = sizeof(ignored); }
    return e->jpeg ? tiler_jpeg_strip_out_end(e->jpeg, err, errlen) : tiler_png_strip_out_end(e->png, err, errlen);
}

uint32_t tiler_strip_chunk_rows(uint32_t width)
{
    uint64_t rows = TILER_STRIP_CHUNK_BYTES / (4ull * (width ? width : 1));
    return rows < 1 ? 1 : rows > TILER_STRIP_CHUNK_ROWS ? TILER_STRIP_CHUNK_ROWS : (uint32_t)rows;
}

/* Opens a file of its own beside path: two copies of one strip may be
 * written at once (a row's strip task still running when the job's finish
 * makes the strips it does not see yet). NULL with err. */
static FILE *open_beside(const char *path, char *tmp, size_t tmplen, char *err, size_t errlen)
{
    FILE *f = NULL;
    int fd;
    snprintf(tmp, tmplen, "%s.XXXXXX", path);
    if ((fd = mkstemp(tmp)) < 0 || !(f = fdopen(fd, "wb"))) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        if (fd >= 0) { close(fd); unlink(tmp); }
    }
    return f;
}

/* Renames the strip written at tmp (rc 0) into place, or drops it. */
static int place(const char *tmp, const char *path, int rc, char *err, size_t errlen)
{
    if (rc == 0) {
        /* After the last read: if the other copy had not placed its file
         * by now, it had freed none of the rows (or tiles) this copy read. */
        if (access(path, F_OK) == 0) {
            unlink(tmp);
            return 1;
        }
        if (rename(tmp, path) < 0) {
            snprintf(err, errlen, "cannot place a strip: %s", strerror(errno));
            rc = -1;
        }
    }
    if (rc < 0) unlink(tmp);
    return rc;
}

int tiler_strip_encode_raster(const char *raster, const tiler_strip_spec *sp, const char *path, char *err, size_t errlen)
{
    char tmp[4200], ignored[8];
    uint32_t y, n, chunk = tiler_strip_chunk_rows(sp->width);
    tiler_raster r;
    encoder e;
    FILE *f = NULL;
    int rc = -1, *px = NULL, packed, removed = 0;

    if (!sp->n || sp->top + sp->n > sp->height) { snprintf(err, errlen, "rows %u..%u are past the image", sp->top, sp->top + sp->n); return -1; }
    if (tiler_raster_open(&r, raster, sp->width, sp->height, 0, err, errlen) < 0) return -1;
    /* A grey or RGB raster holds the PNG's samples as they are: rows go
     * to the deflater as read. */
    packed = !sp->jpeg && r.packing != TILER_PACK_GD && (size_t)r.packing == tiler_png_pixel_bytes(sp->color);
    if (!(px = malloc((size_t)sp->width * chunk * sizeof(int)))) {
        snprintf(err, errlen, "out of memory for rows of a strip");
        tiler_raster_close(&r, ignored, sizeof(ignored));
        return -1;
    }
    if ((f = open_beside(path, tmp, sizeof(tmp), err, errlen)) && enc_begin(&e, f, sp, err, errlen) == 0) {
        int ok = 1;
        for (y = 0; ok && y < sp->n; y += n) {
            n = sp->n - y < chunk ? sp->n - y : chunk;
            /* Held open for the strip: see each time that its job is
             * still there (a failed or deleted job unlinks it). */
            if (tiler_raster_removed(&r, raster)) {
                snprintf(err, errlen, "the raster was removed at row %u (its job ended)", sp->top + y);
                ok = 0;
                removed = 1;
            } else if (packed)
                ok = tiler_raster_get_packed(&r, sp->top + y, n, (unsigned char *)px, err, errlen) == 0
                     && tiler_png_strip_out_samples(e.png, (const unsigned char *)px, n, err, errlen) == 0;
            else
                ok = tiler_raster_get(&r, sp->top + y, n, px, err, errlen) == 0 && enc_rows(&e, px, n, err, errlen) == 0;
        }
        rc = enc_end(&e, ok, err, errlen) == 0 && ok ? 0 : -1;
    }
    free(px);
    if (rc == 0) rc = tiler_raster_close(&r, err, errlen);
    else tiler_raster_close(&r, ignored, sizeof(ignored));
    if (!f) return -1;
    if (fclose(f) != 0 && rc == 0) {
        snprintf(err, errlen, "cannot write a strip: %s", strerror(errno));
        rc = -1;
    }
    rc = place(tmp, path, rc, err, errlen);
    return rc < 0 && removed ? -2 : rc;
}

/* The index entries of row of tiles k: cols of them. -1 when one is not
 * in (a tile missing from a row said complete). */
static int row_refs(int index_fd, uint32_t k, uint32_t cols, tiler_png_tile_ref *refs)
{
    uint32_t i;
    for (i = 0; i < cols; i++)
        if (tiler_tiff_out_entry(index_fd, k * cols + i, &refs[i].off, &refs[i].len) < 0 || !refs[i].len) return -1;
    return 0;
}

int tiler_strip_join_tiles(const char *tiles, const char *index, const tiler_strip_spec *sp, uint32_t side, int samples,
                           const char *path, char *err, size_t errlen)
{
    char tmp[4200];
    uint32_t cols = side ? (sp->width + side - 1) / side : 0;
    tiler_png_tile_ref *refs;
    FILE *f;
    int rc = -1, tfd = -1, ifd = -1;

    if (!side || sp->top % side || !sp->n || sp->n > side || sp->top + sp->n > sp->height) {
        snprintf(err, errlen, "rows %u..%u are not a row of %u-pixel tiles", sp->top, sp->top + sp->n, side);
        return -1;
    }
    if (!(refs = calloc(cols, sizeof(*refs)))) {
        snprintf(err, errlen, "out of memory for a row of tiles");
        return -1;
    }
    if ((tfd = open(tiles, O_RDONLY | O_CLOEXEC)) < 0 || (ifd = open(index, O_RDONLY | O_CLOEXEC)) < 0) {
        snprintf(err, errlen, "cannot open the job's tiles: %s", strerror(errno));
    } else if (row_refs(ifd, sp->top / side, cols, refs) < 0) {
        snprintf(err, errlen, "row of tiles %u is not all in the index", sp->top / side);
    } else if ((f = open_beside(path, tmp, sizeof(tmp), err, errlen))) {
        rc = tiler_png_tile_strip(f, tfd, refs, cols, sp->width, side, sp->n, samples, sp->top + sp->n == sp->height,
                                  tiler_strip_chunk_rows(sp->width), err, errlen);
        if (fclose(f) != 0 && rc == 0) {
            snprintf(err, errlen, "cannot write a strip: %s", strerror(errno));
            rc = -1;
        }
        /* Tiles read after another copy of the strip was placed may have
         * been freed since: that copy is the good one. */
        if (rc < 0 && access(path, F_OK) == 0) {
            unlink(tmp);
            rc = 1;
        } else {
            rc = place(tmp, path, rc, err, errlen);
        }
    }
    if (tfd >= 0) close(tfd);
    if (ifd >= 0) close(ifd);
    free(refs);
    return rc;
}

int tiler_strip_release_tiles(const char *tiles, const char *index, uint32_t width, uint32_t side, uint32_t k,
                              char *err, size_t errlen)
{
    uint32_t cols = side ? (width + side - 1) / side : 0, i;
    tiler_png_tile_ref ref;
    int tfd, ifd, rc = 0;
    /* Gone: the job ended meanwhile, and its tiles with it. */
    if ((tfd = open(tiles, O_WRONLY | O_CLOEXEC)) < 0) {
        if (errno == ENOENT) return 0;
        snprintf(err, errlen, "cannot open the job's tiles: %s", strerror(errno));
        return -1;
    }
    if ((ifd = open(index, O_RDONLY | O_CLOEXEC)) < 0) {
        close(tfd);
        if (errno == ENOENT) return 0;
        snprintf(err, errlen, "cannot open the job's tile index: %s", strerror(errno));
        return -1;
    }
    for (i = 0; i < cols && rc == 0; i++) {
        if (tiler_tiff_out_entry(ifd, k * cols + i, &ref.off, &ref.len) < 0 || !ref.len) continue;
        if ((rc = tiler_spool_punch(tfd, ref.off, ref.off + ref.len)) < 0)
            snprintf(err, errlen, "cannot free row of tiles %u: %s", k, strerror(-rc));
    }
    close(tfd);
    close(ifd);
    return rc < 0 ? -1 : rc;
}
