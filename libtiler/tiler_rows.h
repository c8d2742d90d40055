/* A PNG or JPEG file read a row at a time, as 8-bit RGBA (PNG) or RGB
 * (JPEG) samples: memory is the decoder's state and one row, never the
 * image's height. Used to read results back (thumbnails, the zoom
 * pyramid), so streams that cannot be decoded by rows are refused, not
 * decoded whole: interlaced PNG, progressive JPEG (the results mod_tiler
 * writes are neither). A JPEG can be decoded already scaled down by
 * libjpeg (1/2, 1/4, 1/8: the mean of each block, computed in the DCT). */
#ifndef TILER_ROWS_H
#define TILER_ROWS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct tiler_rows tiler_rows;

/* Reads the header of the PNG or JPEG in f. NULL with a reason in err. */
tiler_rows *tiler_rows_open(FILE *f, char *err, size_t errlen);
/* The image's own size. */
void tiler_rows_size(const tiler_rows *r, uint32_t *w, uint32_t *h);
/* Before the first row: decode a JPEG at 1/denom (1, 2, 4 or 8); a PNG
 * ignores it. Then the size of the rows handed out and their channels
 * (3 or 4). 0, or -1 with err. */
int tiler_rows_start(tiler_rows *r, int denom, uint32_t *out_w, uint32_t *out_h, int *channels,
                     char *err, size_t errlen);
/* The next row into row (out_w x channels bytes). 0, or -1 with err. */
int tiler_rows_next(tiler_rows *r, unsigned char *row, char *err, size_t errlen);
/* After the last row: reads the file's end, so that a truncated trailer
 * fails. 0, or -1 with err. */
int tiler_rows_finish(tiler_rows *r, char *err, size_t errlen);
void tiler_rows_close(tiler_rows *r);

/* One row of 8-bit RGB or RGBA samples as gd truecolor ints (alpha
 * mapped to libgd's 7 bits as its PNG loader maps it). */
void tiler_rows_to_gd(const unsigned char *row, int channels, uint32_t w, int *out);

#endif
