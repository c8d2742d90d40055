/* A pyramid made from a PNG or JPEG file read back a row at a time
 * (tiler_rows.h): the memory of tiler_pyramid.h plus one decoded row in
 * 8-bit samples and one in gd ints, 8 x W bytes more, and the decoder's.
 * A TIFF (a format=tiff result) is read by the uploads' reader
 * (tiler_tiff.h), which hands over a band of rows at a time as gd ints:
 * its memory is the thumbnail's (README, Memory). */
#include "tiler_pyramid.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tiler_band.h"
#include "tiler_image.h"
#include "tiler_rows.h"
#include "tiler_tiff.h"

/* Rows of a TIFF held at once between the reader and the pyramid. */
#define TIFF_BAND_ROWS 16

typedef struct {
    const char *dir;
    uint32_t want_w, want_h;
    int zlevel, rc;
    const volatile int *cancel;
    tiler_pyramid *pyr;
} tiff_feed;

/* The TIFF reader's band callback: the rows it completed go to the
 * pyramid, begun at the first call (when the size is known). */
static int feed_tiff_rows(void *ctx, const tiler_band *band, uint32_t tile_row, char *err, size_t errlen)
{
    tiff_feed *t = ctx;
    uint32_t y, end = tiler_band_need(band, tile_row);
    if (!t->pyr) {
        if ((t->want_w && band->width != t->want_w) || (t->want_h && band->height != t->want_h)) {
            snprintf(err, errlen, "the image is %ux%u, not the %ux%u expected", band->width, band->height, t->want_w,
                     t->want_h);
            return 1;
        }
        if (!(t->pyr = tiler_pyramid_begin(t->dir, band->width, band->height, t->zlevel, err, errlen))) {
            t->rc = errno == ENOSPC || errno == EDQUOT ? -2 : -1;
            return 1;
        }
    }
    for (y = tiler_band_first_row(band, tile_row); y < end; y++) {
        if (t->cancel && *t->cancel) {
            snprintf(err, errlen, "stopped at row %u of %u", y, band->height);
            t->rc = -3;
            return 1;
        }
        if ((t->rc = tiler_pyramid_row(t->pyr, tiler_band_get(band, y), err, errlen)) < 0) return 1;
    }
    return 0;
}

static int build_from_tiff(FILE *f, const char *dir, uint32_t want_w, uint32_t want_h, int zlevel,
                           const volatile int *cancel, char *err, size_t errlen)
{
    tiff_feed t;
    tiler_band band;
    memset(&t, 0, sizeof(t));
    t.dir = dir; t.want_w = want_w; t.want_h = want_h; t.zlevel = zlevel; t.cancel = cancel;
    err[0] = '\0';
    tiler_band_init(&band, TIFF_BAND_ROWS, 0, 0, feed_tiff_rows, &t);
    if (tiler_tiff_decode(f, &band, err, errlen) == 0 && t.pyr) {
        t.rc = tiler_pyramid_end(t.pyr, err, errlen);
    } else {
        if (t.pyr) tiler_pyramid_abort(t.pyr);
        if (t.rc == 0) t.rc = -1;
        if (!err[0]) snprintf(err, errlen, "the TIFF has no rows");
    }
    tiler_band_free(&band);
    return t.rc;
}

int tiler_pyramid_build_file(const char *path, const char *dir, uint32_t want_w, uint32_t want_h, int zlevel,
                             const volatile int *cancel, char *err, size_t errlen)
{
    tiler_rows *rd = NULL;
    tiler_pyramid *pyr = NULL;
    unsigned char *row = NULL;
    int *px = NULL, channels, rc = -1;
    uint32_t w, h, y;
    FILE *f = fopen(path, "rb");
    if (!f) { snprintf(err, errlen, "cannot open the result: %s", strerror(errno)); return -1; }
    if (tiler_sniff_file(f) == TILER_FMT_TIFF) {
        rc = build_from_tiff(f, dir, want_w, want_h, zlevel, cancel, err, errlen);
        fclose(f);
        return rc;
    }
    if (!(rd = tiler_rows_open(f, err, errlen)) || tiler_rows_start(rd, 1, &w, &h, &channels, err, errlen) < 0)
        goto done;
    if ((want_w && w != want_w) || (want_h && h != want_h)) {
        snprintf(err, errlen, "the image is %ux%u, not the %ux%u expected", w, h, want_w, want_h);
        goto done;
    }
    if (!(row = malloc((size_t)w * (size_t)channels)) || !(px = malloc((size_t)w * sizeof(int)))) {
        snprintf(err, errlen, "out of memory for a %u-pixel row", w);
        goto done;
    }
    if (!(pyr = tiler_pyramid_begin(dir, w, h, zlevel, err, errlen))) {
        rc = errno == ENOSPC || errno == EDQUOT ? -2 : -1;
        goto done;
    }
    for (rc = 0, y = 0; rc == 0 && y < h; y++) {
        if (cancel && *cancel) {
            snprintf(err, errlen, "stopped at row %u of %u", y, h);
            rc = -3;
            break;
        }
        if ((rc = tiler_rows_next(rd, row, err, errlen)) < 0) break;
        tiler_rows_to_gd(row, channels, w, px);
        rc = tiler_pyramid_row(pyr, px, err, errlen);
    }
    if (rc == 0) rc = tiler_rows_finish(rd, err, errlen);
    if (rc == 0) rc = tiler_pyramid_end(pyr, err, errlen);
    else tiler_pyramid_abort(pyr);
done:
    tiler_rows_close(rd);
    fclose(f);
    free(row);
    free(px);
    return rc;
}

