/* libFuzzer target: the project's own row decoders (PNG with libpng, JPEG
 * with libjpeg, WebP with libwebp's incremental decoder) on hostile files,
 * with a rows callback, as the module runs them on uploads. */
#include <stdio.h>
#include <stdint.h>
#include "tiler_image.h"
#include "tiler_jpeg.h"
#include "tiler_png_rows.h"
#include "tiler_webp.h"

/* A ring band, as the module uses: the rows a tile row needs are there to
 * read, first and last. */
static int rows_seen(void *ctx, const tiler_band *b, uint32_t tile_row, char *err, size_t errlen)
{
    uint32_t *last = ctx;
    (void)err; (void)errlen;
    *last ^= (uint32_t)tiler_band_get(b, tiler_band_first_row(b, tile_row))[0];
    *last ^= (uint32_t)tiler_band_get(b, tiler_band_need(b, tile_row) - 1)[b->width - 1];
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len)
{
    tiler_format fmt;
    uint32_t w, h, seen = 0;
    char err[256];
    tiler_band b;
    FILE *f;
    if (!len || !(f = fmemopen((void *)buf, len, "rb"))) return 0;
    /* The module refuses big images before decoding (TilerMaxPixels). */
    if (tiler_probe_file(f, &fmt, &w, &h, err, sizeof(err)) == 0 && (uint64_t)w * h <= 4u << 20) {
        rewind(f);
        tiler_band_init(&b, 16, 3, 0, rows_seen, &seen);
        if (fmt == TILER_FMT_PNG) tiler_png_decode(f, &b, err, sizeof(err));
        else if (fmt == TILER_FMT_JPEG) tiler_jpeg_decode(f, &b, err, sizeof(err));
        else if (fmt == TILER_FMT_WEBP) tiler_webp_decode(f, &b, err, sizeof(err));
        tiler_band_free(&b);
    }
    fclose(f);
    return 0;
}
