/* Shared by the row-streaming decoder tests: a pixel-exact image compare,
 * and a rows callback that records what the decoder reported. */
#ifndef ROWWATCH_H
#define ROWWATCH_H

#include <stdint.h>
#include <stdio.h>
#include <gd.h>

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
 * the image's saveAlphaFlag at the first call (the header's say). */
typedef struct { uint32_t last, calls, stop_at; int ordered, rows_final, first_alpha; } watch;

static int on_rows(void *ctx, gdImagePtr im, uint32_t rows, char *err, size_t errlen) __attribute__((unused));
static int on_rows(void *ctx, gdImagePtr im, uint32_t rows, char *err, size_t errlen)
{
    watch *w = ctx;
    if (rows <= w->last) w->ordered = 0;
    /* The rows said final are there (an opaque testimg never makes 0x7f alpha). */
    if (rows && (im->tpixels[rows - 1][0] & 0x7f000000)) w->rows_final = 0;
    if (!w->calls) w->first_alpha = im->saveAlphaFlag;
    w->last = rows;
    w->calls++;
    if (w->stop_at && rows >= w->stop_at) { snprintf(err, errlen, "stopped at row %u", rows); return 1; }
    return 0;
}

#endif
