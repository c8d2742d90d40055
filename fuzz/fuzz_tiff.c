/* libFuzzer target: TIFF and BigTIFF through the probe and the decoder
 * (libtiler/tiler_tiff.c with libtiff) into a ring band, as the module runs
 * them on uploads: hostile directories, offsets, byte counts and codec
 * streams must end in a reason, never a crash, a hang or a huge
 * allocation. */
#include <stdio.h>
#include <stdint.h>
#include "fuzz_band.h"
#include "tiler_image.h"
#include "tiler_tiff.h"

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len)
{
    tiler_format fmt;
    uint32_t w, h, seen = 0;
    char err[256];
    tiler_band b;
    FILE *f;
    if (!len || !(f = fmemopen((void *)buf, len, "rb"))) return 0;
    /* The module refuses big images before decoding (TilerMaxPixels): a
     * band of a wide image is the band's cost, not the decoder's. */
    if (tiler_probe_file(f, &fmt, &w, &h, err, sizeof(err)) == 0 && fmt == TILER_FMT_TIFF && (uint64_t)w * h <= 4u << 20) {
        tiler_band_init(&b, 16, 3, 0, rows_seen, &seen);
        tiler_tiff_decode(f, &b, err, sizeof(err));
        tiler_band_free(&b);
    }
    fclose(f);
    return 0;
}
