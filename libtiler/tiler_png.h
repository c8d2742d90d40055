/* A PNG encoder built for strips. Each band of rows is filtered and
 * deflated on its own (a raw deflate stream ending on a byte boundary), so
 * bands can be compressed in parallel and as soon as their tiles are in; the
 * file is the bands' streams joined under one zlib header, with their
 * Adler-32s combined. libgd's encoder cannot do either, and at level 6 with
 * libpng's adaptive filtering it was the slowest step of a job.
 *
 * Pixels are libgd truecolor values (0xAARRGGBB, 7-bit alpha, 0 opaque).
 * The output is 8-bit, in one of four PNG colour types: RGB, gray (a third
 * of the data, for images whose channels are all equal, such as any chain
 * with grayscale), and either with alpha when the image has transparency,
 * mapped the way libgd maps it, so that libgd reads back the same values. Rows use the Up filter (cheap, and as good as the adaptive
 * choice on photographs at these levels), except each strip's first row,
 * which uses Sub: a strip then depends on no pixel outside it, and can be
 * encoded before the rows above it are final. */
#ifndef TILER_PNG_H
#define TILER_PNG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <gd.h>

typedef struct {
    uint32_t adler;          /* Adler-32 of the strip's filtered bytes */
    uint64_t raw_len;        /* how many filtered bytes that is */
    unsigned char *data;     /* raw deflate data (malloc'd) */
    size_t len;
} tiler_png_strip;

/* PNG colour types; the values are the IHDR's. */
enum { TILER_PNG_GRAY = 0, TILER_PNG_RGB = 2, TILER_PNG_GRAY_ALPHA = 4, TILER_PNG_RGBA = 6 };

/* Whether any of n pixels is not opaque. */
int tiler_png_has_alpha(const int *pixels, size_t n);
/* Whether all n pixels have red = green = blue. */
int tiler_png_is_gray(const int *pixels, size_t n);
/* The colour type for an image with or without transparency and colour. */
int tiler_png_color(int alpha, int gray);
/* Bytes a pixel of the colour type's 8-bit samples: 1, 2, 3 or 4. */
size_t tiler_png_pixel_bytes(int color);
/* One row of width pixels as 8-bit samples of the colour type (alpha as
 * libgd maps it to 8 bits): the PNG and TIFF results share it. -1 when a
 * grey type meets a pixel that is not grey. */
int tiler_png_row_samples(unsigned char *dst, const int *src, uint32_t width, int color);

/* Encodes nrows rows of width pixels each as colour type color. last says
 * whether the strip ends the image (its stream is then finished). level is
 * zlib's (0..9). 0, or -1 with err (also when a gray type is asked of a
 * pixel that is not gray: never a silent loss of colour). */
int tiler_png_strip_encode(const int *const *rows, uint32_t width, uint32_t nrows, int color, int level, int last,
                           tiler_png_strip *out, char *err, size_t errlen);
void tiler_png_strip_free(tiler_png_strip *s);

/* The same strip, encoded a few rows at a time straight into f (at its
 * current offset, which must be seekable), in the layout
 * tiler_png_strip_save writes: memory is a row's buffers and 64 KiB of
 * output whatever the strip's size. The bytes are tiler_png_strip_encode's.
 * begin: NULL with err. rows: the next n rows, packed, width pixels each.
 * end: 0, or -1 with err (rows missing, or f could not be written); frees
 * the encoder either way and leaves f open. */
typedef struct tiler_png_strip_out tiler_png_strip_out;
tiler_png_strip_out *tiler_png_strip_out_begin(FILE *f, uint32_t width, uint32_t nrows, int color, int level, int last,
                                               char *err, size_t errlen);
int tiler_png_strip_out_rows(tiler_png_strip_out *o, const int *rows, uint32_t n, char *err, size_t errlen);
/* The next n rows already as the colour type's samples (width x
 * tiler_png_pixel_bytes each, as a grey or RGB raster holds them). */
int tiler_png_strip_out_samples(tiler_png_strip_out *o, const unsigned char *rows, uint32_t n, char *err, size_t errlen);
int tiler_png_strip_out_end(tiler_png_strip_out *o, char *err, size_t errlen);

/* A strip file's 16-byte head: magic, the Adler-32 of the strip's filtered
 * bytes, how many they are (64-bit). The deflate data follows it. */
void tiler_png_strip_head(unsigned char head[16], uint32_t adler, uint64_t raw_len);

/* A strip as a file (for the spool), written beside and renamed into place. */
int tiler_png_strip_save(const char *path, const tiler_png_strip *s, char *err, size_t errlen);
int tiler_png_strip_load(const char *path, tiler_png_strip *s, char *err, size_t errlen);

/* Writes a PNG strip by strip, so that no more than one strip need be in
 * memory: begin (signature, IHDR, zlib header), add each strip top to
 * bottom, end (Adler-32, IEND). end returns 0, or -1 with err if any step
 * failed. */
typedef struct tiler_png_writer tiler_png_writer;
tiler_png_writer *tiler_png_begin(FILE *f, uint32_t width, uint32_t height, int color);
void tiler_png_add(tiler_png_writer *w, const tiler_png_strip *s);
/* Adds the strip file at path (tiler_png_strip_save's or
 * tiler_png_strip_out's) a buffer at a time, never whole in memory. */
int tiler_png_add_file(tiler_png_writer *w, const char *path, char *err, size_t errlen);
int tiler_png_end(tiler_png_writer *w, char *err, size_t errlen);

/* All at once: begin, add each of n strips, end. */
int tiler_png_write(FILE *f, uint32_t width, uint32_t height, int color, const tiler_png_strip *strips, int n,
                    char *err, size_t errlen);

/* The whole image in one call, strips of TILER_PNG_STRIP_ROWS rows. */
int tiler_png_save_image(gdImagePtr im, FILE *f, int level, char *err, size_t errlen);

#endif
