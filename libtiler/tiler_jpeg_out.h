/* A JPEG encoder fed a band of rows at a time, so that a result of any
 * height is written holding only the band it is given and libjpeg's own
 * few MCU rows (a few times 16 rows of width x 3 bytes).
 *
 * The output is what libgd's gdImageJpeg writes at the same quality with
 * the same libjpeg: baseline, libjpeg's default tables, 4:2:0 chroma
 * subsampling below quality 90 and none (4:4:4) from 90 up, a JFIF header
 * at 96 dpi, and the pixels' red, green and
 * blue with alpha ignored (JPEG has none; gd drops it the same way). Only
 * gd's "CREATOR: gd-jpeg" comment marker is left out. Pixels are libgd
 * truecolor values (0xAARRGGBB). */
#ifndef TILER_JPEG_OUT_H
#define TILER_JPEG_OUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <gd.h>

typedef struct tiler_jpeg_out tiler_jpeg_out;

/* 0 when libjpeg can write a width x height JPEG; else -1 with err (its
 * sides stop at JPEG_MAX_DIMENSION, 65,500 in libjpeg-turbo). Jobs asking
 * for a JPEG result are checked with it before they start. */
int tiler_jpeg_out_fits(uint32_t width, uint32_t height, char *err, size_t errlen);

/* Starts a width x height JPEG on f (left open: the caller closes it).
 * NULL with err when libjpeg refuses (a side above JPEG_MAX_DIMENSION,
 * 65,500 in libjpeg-turbo) or memory runs
 * out. */
tiler_jpeg_out *tiler_jpeg_out_begin(FILE *f, uint32_t width, uint32_t height, int quality, char *err, size_t errlen);

/* Writes the next n rows, top to bottom, width pixels each, packed. 0, or
 * -1 with err (the encoder is then only good for tiler_jpeg_out_end). */
int tiler_jpeg_out_rows(tiler_jpeg_out *j, const int *rows, uint32_t n, char *err, size_t errlen);

/* Finishes the file and frees the encoder. 0, or -1 with err when a step
 * failed, rows are missing, or f could not be written. j may be NULL
 * (after a failed begin, err already said why). */
int tiler_jpeg_out_end(tiler_jpeg_out *j, char *err, size_t errlen);

/* A JPEG made of strips encoded apart, in any order, and joined by
 * concatenation: each strip is a run of restart intervals (one per MCU
 * row: a DRI marker in the header, an RSTn marker between MCU rows), so a
 * strip depends on no other. The pixels are those of the whole-image
 * encoder above (the same quantised blocks; restart markers only reset the
 * entropy coder's DC prediction); the bytes differ by the markers.
 * Strips must start on an MCU row: tiler_jpeg_mcu_rows(quality) rows, 8
 * at quality 90 and up (4:4:4), 16 below (4:2:0).
 *
 * Encodes rows [top, top + n) of a width x height image (n rows, packed)
 * into *out (malloc'd, *len bytes): the first strip carries the file's
 * header, each later one the restart marker that precedes it, the last one
 * the end marker. 0, or -1 with err (also when top is not on an MCU row,
 * or n is not whole MCU rows unless the strip ends the image). */
uint32_t tiler_jpeg_mcu_rows(int quality);
int tiler_jpeg_strip_encode(const int *rows, uint32_t width, uint32_t height, uint32_t top, uint32_t n, int quality,
                            unsigned char **out, size_t *len, char *err, size_t errlen);

/* The same strip encoded a few rows at a time straight into f: memory is
 * libjpeg's (a few MCU rows) and 64 KiB of output, whatever the strip's
 * size, and the bytes are tiler_jpeg_strip_encode's. begin: NULL with err
 * (the same checks). rows: the next n rows, packed. end: 0, or -1 with
 * err; frees the encoder either way and leaves f open. */
typedef struct tiler_jpeg_strip_out tiler_jpeg_strip_out;
tiler_jpeg_strip_out *tiler_jpeg_strip_out_begin(FILE *f, uint32_t width, uint32_t height, uint32_t top, uint32_t n,
                                                 int quality, char *err, size_t errlen);
int tiler_jpeg_strip_out_rows(tiler_jpeg_strip_out *s, const int *rows, uint32_t n, char *err, size_t errlen);
int tiler_jpeg_strip_out_end(tiler_jpeg_strip_out *s, char *err, size_t errlen);

/* A whole truecolor image in one call: begin, its rows, end. */
int tiler_jpeg_out_image(gdImagePtr im, FILE *f, int quality, char *err, size_t errlen);

#endif
