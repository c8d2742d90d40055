/* PNG decoding a row at a time with libpng into a band (tiler_band.h),
 * in libgd's truecolor values, for the same purpose as tiler_jpeg.h: tiles leave while
 * the rest decodes. Every kind of PNG gets libgd's loader's pixels
 * (unit-tested against it): RGB and RGBA, grey and grey with alpha,
 * palettes, with or without tRNS, 1 to 16 bits (16-bit samples keep their
 * high byte, as libgd's loader does). Interlaced files decode whole before
 * their first row is handed on: each pass touches rows all down the image,
 * so their samples are held whole (1 to 4 bytes a pixel).
 * libgd's own PNG loader is no longer used: it lets libpng print warnings
 * (an interlaced file) straight to stderr, which is httpd's error log. */
#ifndef TILER_PNG_ROWS_H
#define TILER_PNG_ROWS_H

#include <stdio.h>
#include "tiler_band.h"

/* Decodes f into b (started here from the header, alpha set when the
 * colour type or a tRNS chunk can make a pixel transparent). 0, or -1 with
 * a reason in err on a corrupt file or when the band's callback stops it;
 * the last rows are final only once the file is read to IEND. */
int tiler_png_decode(FILE *f, tiler_band *b, char *err, size_t errlen);

#endif
