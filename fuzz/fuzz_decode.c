/* libFuzzer target: the project's own row decoders (PNG with libpng, JPEG
 * with libjpeg, WebP with libwebp's incremental decoder) on hostile files,
 * with a rows callback, as the module runs them on uploads. */
#include <stdio.h>
#include <stdint.h>
#include "tiler_image.h"
#include "tiler_jpeg.h"
#include "tiler_png_rows.h"
#include "tiler_webp.h"

static int rows_seen(void *ctx, gdImagePtr im, uint32_t rows, char *err, size_t errlen)
{
    uint32_t *last = ctx;
    (void)err; (void)errlen;
    /* The rows said final are there to read. */
    if (rows) *last ^= (uint32_t)im->tpixels[rows - 1][gdImageSX(im) - 1];
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len)
{
    tiler_format fmt;
    uint32_t w, h, seen = 0;
    char err[256];
    int other = 0;
    gdImagePtr im = NULL;
    FILE *f;
    if (!len || !(f = fmemopen((void *)buf, len, "rb"))) return 0;
    /* The module refuses big images before decoding (TilerMaxPixels). */
    if (tiler_probe_file(f, &fmt, &w, &h, err, sizeof(err)) == 0 && (uint64_t)w * h <= 4u << 20) {
        rewind(f);
        if (fmt == TILER_FMT_PNG) im = tiler_png_load_rows(f, rows_seen, &seen, err, sizeof(err));
        else if (fmt == TILER_FMT_JPEG) im = tiler_jpeg_load_rows(f, rows_seen, &seen, &other, err, sizeof(err));
        else if (fmt == TILER_FMT_WEBP) im = tiler_webp_load_rows(f, rows_seen, &seen, err, sizeof(err));
        if (im) gdImageDestroy(im);
    }
    fclose(f);
    return 0;
}
