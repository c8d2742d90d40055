/* PNG decoding a row at a time with libpng, straight into a libgd
 * truecolor image, for the same purpose as tiler_jpeg.h: tiles leave while
 * the rest decodes. Every kind of PNG gets libgd's loader's pixels
 * (unit-tested against it): RGB and RGBA, grey and grey with alpha,
 * palettes, with or without tRNS, 1 to 16 bits (16-bit samples keep their
 * high byte, as libgd's loader does). Interlaced files decode whole before
 * their first row is handed on: each pass touches rows all down the image.
 * libgd's own PNG loader is no longer used: it lets libpng print warnings
 * (an interlaced file) straight to stderr, which is httpd's error log. */
#ifndef TILER_PNG_ROWS_H
#define TILER_PNG_ROWS_H

#include <stdio.h>
#include <gd.h>
#include "tiler_jpeg.h"   /* tiler_rows_fn */

/* Decodes f. NULL with a reason in err on a corrupt file or when fn stops
 * it; the last rows reach fn only once the file is read to IEND. */
gdImagePtr tiler_png_load_rows(FILE *f, tiler_rows_fn fn, void *ctx, char *err, size_t errlen);

#endif
