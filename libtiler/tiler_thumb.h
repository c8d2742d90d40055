/* Thumbnails and previews of a result of any size, made from the file as a
 * stream: the PNG or JPEG is decoded a row at a time and each row is added
 * into a box filter whose output is the small image, so memory is one
 * decoded row of the result (its width), the filter's sums for one output
 * row, and the small image: never the result's height. A JPEG is decoded
 * already scaled down by libjpeg (scale_denom 2, 4 or 8, DCT scaling) when
 * the thumbnail is small enough, which also saves most of the decoding.
 * Streams that cannot be decoded by rows are refused, not decoded whole:
 * interlaced PNG, progressive JPEG (the results mod_tiler writes are
 * neither). A TIFF (a format=tiff result) is read by the uploads' reader
 * (tiler_tiff.h) a row of TIFF tiles at a time: memory is then that row
 * of tiles decoded, a 16-row band and the sums. */
#ifndef TILER_THUMB_H
#define TILER_THUMB_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <gd.h>

typedef struct {
    uint32_t src_w, src_h;     /* the result's size */
    uint32_t decoded_w;        /* width of the rows decoded (after JPEG scaling) */
    int scale_denom;           /* 1, or the JPEG scaling used */
    size_t work_bytes;         /* the filter's own buffers: a decoded row and the sums */
} tiler_thumb_info;

/* The size of a thumbnail of at most side pixels on the long side of a
 * w x h image, keeping the aspect ratio, never larger than the image. */
void tiler_thumb_size(uint32_t w, uint32_t h, uint32_t side, uint32_t *tw, uint32_t *th);

/* Reads the PNG, JPEG or TIFF in f and returns its thumbnail of at most side
 * pixels as a truecolor image with alpha kept (each pixel the mean of the
 * source pixels in its box, colours weighted by their opacity). NULL with a
 * reason in err on a corrupt, truncated or unstreamable file. info may be
 * NULL. */
gdImagePtr tiler_thumb_make(FILE *f, uint32_t side, tiler_thumb_info *info, char *err, size_t errlen);

#endif
