/* The decoding fuzzers' band callback: a ring band, as the module uses,
 * whose rows a tile row needs are there to read, first and last. */
#ifndef FUZZ_BAND_H
#define FUZZ_BAND_H

#include <stdint.h>
#include "tiler_band.h"

static int rows_seen(void *ctx, const tiler_band *b, uint32_t tile_row, char *err, size_t errlen)
{
    uint32_t *last = ctx;
    (void)err; (void)errlen;
    *last ^= (uint32_t)tiler_band_get(b, tiler_band_first_row(b, tile_row))[0];
    *last ^= (uint32_t)tiler_band_get(b, tiler_band_need(b, tile_row) - 1)[b->width - 1];
    return 0;
}

#endif
