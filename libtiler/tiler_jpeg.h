/* JPEG decoding a few rows at a time, straight into a libgd truecolor
 * image, so that the rows decoded so far can be used (tiles produced from
 * them) while the rest decode. Pixels are libjpeg's defaults, as libgd's own
 * loader gets them; t/unit/test_image.c checks they are identical. */
#ifndef TILER_JPEG_H
#define TILER_JPEG_H

#include <stdint.h>
#include <stdio.h>
#include <gd.h>

/* Called as rows arrive: rows 0..rows-1 of im are final. Non-zero stops
 * the decoding (the callback wrote why into err). The call with every row
 * comes only once the whole file is read and found sound. From the first
 * call, im->saveAlphaFlag says whether the file can hold transparency, from
 * its header (PNG alpha channel or tRNS, WebP alpha; never for a JPEG), so
 * that whoever must decide at the first rows need not see the last. */
typedef int (*tiler_rows_fn)(void *ctx, gdImagePtr im, uint32_t rows, char *err, size_t errlen);

/* Decodes f. NULL with a reason in err on a corrupt or truncated file (any
 * warning of libjpeg's about the data but extraneous bytes before the end
 * marker, which cameras write after whole pixels; or over 1000 scans: rows
 * may already have gone to fn, but never the last ones, which wait for the
 * end of the file)
 * or when fn stops it; NULL with *other_colours set for a CMYK or YCCK JPEG
 * that decodes cleanly, which libgd's loader converts its own way. fn may
 * be NULL. */
gdImagePtr tiler_jpeg_load_rows(FILE *f, tiler_rows_fn fn, void *ctx, int *other_colours, char *err, size_t errlen);

#endif
