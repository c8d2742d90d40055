/* WebP decoding as the file is read, with libwebp's incremental decoder,
 * into a band (tiler_band.h), for the same purpose as tiler_jpeg.h: tiles
 * leave while the rest decodes. libwebp itself keeps its whole RGBA output
 * (4 bytes a pixel) until the end: WebP counts as a whole-image format. Pixels are libgd's
 * loader's (the same libwebp decoder, alpha mapped to 127 - a/2);
 * t/unit/test_webp.c checks they are identical. */
#ifndef TILER_WEBP_H
#define TILER_WEBP_H

#include <stdio.h>
#include "tiler_band.h"

/* Decodes f into b (started at the first rows). 0, or -1 with a reason in
 * err on a corrupt or truncated file, an animation, or when the band's
 * callback stops it; the last rows are final only once libwebp has found
 * the whole image sound and the whole RIFF is there. */
int tiler_webp_decode(FILE *f, tiler_band *b, char *err, size_t errlen);

#endif
