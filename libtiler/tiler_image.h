/* Image files: format by magic bytes, size from the header before any
 * decoding, and whole-image load/save through libgd. */
#ifndef TILER_IMAGE_H
#define TILER_IMAGE_H

#include <stdint.h>
#include <stdio.h>
#include <gd.h>
#include "tiler_band.h"

typedef enum {
    TILER_FMT_UNKNOWN = 0, TILER_FMT_PNG, TILER_FMT_JPEG, TILER_FMT_GIF, TILER_FMT_BMP, TILER_FMT_WEBP, TILER_FMT_TIFF
} tiler_format;

const char *tiler_format_name(tiler_format f);
/* "png" / "jpeg" (also "jpg") / "tiff" (also "tif") for output formats; TILER_FMT_UNKNOWN otherwise. */
tiler_format tiler_output_format_parse(const char *s);
const char *tiler_format_mime(tiler_format f);

/* Format from the first bytes (12 are enough). */
tiler_format tiler_sniff(const unsigned char *buf, size_t len);
/* The same from f's first bytes; f is left at its start. */
tiler_format tiler_sniff_file(FILE *f);

/* Reads the format and the pixel size from the file's header only (a
 * TIFF's first directory). 0, or -1 with a reason: unknown format (*fmt ==
 * UNKNOWN), or a header that is truncated or corrupt; or -2 with a reason
 * naming what is not supported, for a sound TIFF of a kind not decoded
 * here (16-bit, CMYK, a palette...: tiler_tiff.h). */
int tiler_probe_file(FILE *f, tiler_format *fmt, uint32_t *w, uint32_t *h, char *err, size_t errlen);

/* Whether decoding the probed file holds the whole image in memory, not a
 * band of it: what kind of file it is ("an interlaced PNG": its samples;
 * "a progressive JPEG": libjpeg's coefficients; "a GIF", "a BMP": libgd's
 * loaders; "a WebP": libwebp's output), or NULL when it decodes in a band.
 * A header that cannot be read counts as whole. */
const char *tiler_decodes_whole(FILE *f, tiler_format fmt);

/* The largest sides the formats can hold and that are decoded: JPEG's
 * header has 16 bits (65,535), WebP's 14 (16,383); a PNG or TIFF side may
 * reach TILER_MAX_SIDE. Sides are checked by tiler_check_sides. */
int tiler_check_sides(tiler_format fmt, uint32_t w, uint32_t h, char *err, size_t errlen);

/* Decodes the whole file into a truecolor image with alpha kept and
 * blending off. NULL with a reason on a corrupt or truncated file. */
gdImagePtr tiler_image_load(const char *path, tiler_format fmt, char *err, size_t errlen);

/* Decodes the file into the band b (tiler_band_init'd; started here):
 * JPEG, PNG, WebP and TIFF as rows come, the others whole through libgd
 * first.
 * 0, or -1 with a reason (corrupt, truncated, or the band's callback). */
int tiler_image_stream(const char *path, tiler_format fmt, tiler_band *b, char *err, size_t errlen);

/* Encodes to path (PNG keeps alpha; JPEG drops it). 0 or -1 with reason. */
int tiler_image_save(gdImagePtr im, const char *path, tiler_format fmt, char *err, size_t errlen);

/* Destroys a loaded image and gives its memory back to the system. libgd
 * allocates a truecolor image a row at a time, below malloc's mmap
 * threshold, from the arena of the thread that decoded it; glibc keeps the
 * freed rows in that arena, so an httpd child whose threads took turns with
 * big uploads would grow by one image per thread (3 GiB at 64 MP here). */
void tiler_image_free(gdImagePtr im);
/* Gives the calling thread's freed heap back to the system (the same
 * reason): after a decoded upload. */
void tiler_heap_trim(void);

/* libgd reports problems through a process-wide callback that prints to
 * stderr. This routes them into a per-thread buffer that load/save put in
 * their error text. Call once per process. */
void tiler_gd_errors_capture(void);

#endif
