/* WebP decoding as the file is read, with libwebp's incremental decoder,
 * straight into a libgd truecolor image, for the same purpose as
 * tiler_jpeg.h: tiles leave while the rest decodes. Pixels are libgd's
 * loader's (the same libwebp decoder, alpha mapped to 127 - a/2);
 * t/unit/test_webp.c checks they are identical. */
#ifndef TILER_WEBP_H
#define TILER_WEBP_H

#include <stdio.h>
#include <gd.h>
#include "tiler_jpeg.h"   /* tiler_rows_fn */

/* Decodes f. NULL with a reason in err on a corrupt or truncated file, an
 * animation, or when fn stops it. fn may be NULL; the last rows reach it
 * only once libwebp has found the whole image sound. */
gdImagePtr tiler_webp_load_rows(FILE *f, tiler_rows_fn fn, void *ctx, char *err, size_t errlen);

#endif
