/* JPEG decoding a few rows at a time into a band (tiler_band.h), so that
 * the rows decoded so far can be used (tiles produced from them) while the
 * rest decode, and the image's height costs no memory. Pixels are libjpeg's defaults, as libgd's own
 * loader gets them; t/unit/test_image.c checks they are identical. */
#ifndef TILER_JPEG_H
#define TILER_JPEG_H

#include <stdint.h>
#include <stdio.h>
#include "tiler_band.h"

/* Decodes f into b (started here from the header). 0, or -1 with a reason
 * in err on a corrupt or truncated file (any warning of libjpeg's about the
 * data but extraneous bytes before the end marker, which cameras write
 * after whole pixels; or over 1000 scans: rows may already have gone to the
 * band's callback, but never the last ones, which wait for the end of the
 * file) or when the callback stops it. CMYK and YCCK files are converted as libgd's loader does (Adobe's
 * inverted channels included). A progressive file decodes row by row too,
 * but libjpeg holds its whole coefficient image meanwhile (2 bytes per
 * sample). */
int tiler_jpeg_decode(FILE *f, tiler_band *b, char *err, size_t errlen);

#endif
