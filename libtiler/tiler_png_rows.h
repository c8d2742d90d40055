/* PNG decoding a row at a time with libpng, straight into a libgd
 * truecolor image, for the same purpose as tiler_jpeg.h: tiles leave while
 * the rest decodes. Only what libgd's loader maps plainly is streamed:
 * 8-bit RGB without a transparent colour, and 8-bit RGBA, not interlaced.
 * Everything else (palettes, grey, 16-bit, tRNS, interlacing) is left to
 * libgd's loader, whose mapping of those is its own. */
#ifndef TILER_PNG_ROWS_H
#define TILER_PNG_ROWS_H

#include <stdio.h>
#include <gd.h>
#include "tiler_jpeg.h"   /* tiler_rows_fn */

/* Decodes f. NULL with a reason in err on a corrupt file or when fn stops
 * it; NULL with *other_kind set for a PNG left to libgd. */
gdImagePtr tiler_png_load_rows(FILE *f, tiler_rows_fn fn, void *ctx, int *other_kind, char *err, size_t errlen);

#endif
