/* Shared by the row-streaming decoder tests: a pixel-exact image compare,
 * and a rows callback that records what the decoder reported. */
#ifndef ROWWATCH_H
#define ROWWATCH_H

#include <stdint.h>
#include <stdio.h>
#include <gd.h>
#include "tiler_band.h"

static int same(gdImagePtr a, gdImagePtr b) __attribute__((unused));
static int same(gdImagePtr a, gdImagePtr b)
{
    int x, y;
    if (!a || !b || gdImageSX(a) != gdImageSX(b) || gdImageSY(a) != gdImageSY(b)) return 0;
    for (y = 0; y < gdImageSY(a); y++)
        for (x = 0; x < gdImageSX(a); x++)
            if (a->tpixels[y][x] != b->tpixels[y][x]) return 0;
    return 1;
}

/* ordered and rows_final start at 1; stop_at 0 never stops. first_alpha:
 * the band's alpha at the first call (the header's say). */
typedef struct { uint32_t last, calls, stop_at; int ordered, rows_final, first_alpha; } watch;

/* The band's callback, for a band of 16-row tiles and no halo: each call
 * says rows up to the tile row's end are final. */
static int on_rows(void *ctx, const tiler_band *b, uint32_t tile_row, char *err, size_t errlen) __attribute__((unused));
static int on_rows(void *ctx, const tiler_band *b, uint32_t tile_row, char *err, size_t errlen)
{
    watch *w = ctx;
    uint32_t rows = tiler_band_need(b, tile_row);
    if (rows <= w->last) w->ordered = 0;
    /* The rows said final are there (an opaque testimg never makes 0x7f alpha). */
    if (rows && (tiler_band_get(b, rows - 1)[0] & 0x7f000000)) w->rows_final = 0;
    if (!w->calls) w->first_alpha = b->alpha;
    w->last = rows;
    w->calls++;
    if (w->stop_at && rows >= w->stop_at) { snprintf(err, errlen, "stopped at row %u", rows); return 1; }
    return 0;
}

/* A whole band of 16-row tiles watched by w (or none). */
static void watch_band(tiler_band *b, watch *w) __attribute__((unused));
static void watch_band(tiler_band *b, watch *w)
{
    tiler_band_init(b, 16, 0, 1, w ? on_rows : NULL, w);
}

/* Its image when the decoder returned 0; frees the band. */
static gdImagePtr band_image(tiler_band *b, int rc) __attribute__((unused));
static gdImagePtr band_image(tiler_band *b, int rc)
{
    gdImagePtr im = rc == 0 ? tiler_band_take_image(b) : NULL;
    tiler_band_free(b);
    return im;
}

#endif
