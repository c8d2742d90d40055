/* libFuzzer target: the project's own row decoders (PNG with libpng, JPEG
 * with libjpeg, WebP with libwebp's incremental decoder) on hostile files,
 * with a rows callback, as the module runs them on uploads. */
#include <stdio.h>
#include <stdint.h>
#include "fuzz_band.h"
#include "tiler_image.h"
#include "tiler_jpeg.h"
#include "tiler_png_rows.h"
#include "tiler_webp.h"

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
