/* A pyramid made from a PNG or JPEG file read back a row at a time
 * (tiler_rows.h): the memory of tiler_pyramid.h plus one decoded row in
 * 8-bit samples and one in gd ints, 8 x W bytes more, and the decoder's. */
#include "tiler_pyramid.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tiler_rows.h"

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

