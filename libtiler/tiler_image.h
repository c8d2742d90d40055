/* Image files: format by magic bytes, size from the header before any
 * decoding, and whole-image load/save through libgd. */
#ifndef TILER_IMAGE_H
#define TILER_IMAGE_H

#include <stdint.h>
#include <stdio.h>
#include <gd.h>
#include "tiler_jpeg.h"

typedef enum {
    TILER_FMT_UNKNOWN = 0, TILER_FMT_PNG, TILER_FMT_JPEG, TILER_FMT_GIF, TILER_FMT_BMP, TILER_FMT_WEBP
} tiler_format;

const char *tiler_format_name(tiler_format f);
/* "png" / "jpeg" (also "jpg") for output formats; TILER_FMT_UNKNOWN otherwise. */
tiler_format tiler_output_format_parse(const char *s);
const char *tiler_format_mime(tiler_format f);

/* Format from the first bytes (12 are enough). */
tiler_format tiler_sniff(const unsigned char *buf, size_t len);

/* Reads the format and the pixel size from the file's header only.
 * 0, or -1 with a reason: unknown format (*fmt == UNKNOWN), or a header that
 * is truncated or corrupt. */
int tiler_probe_file(FILE *f, tiler_format *fmt, uint32_t *w, uint32_t *h, char *err, size_t errlen);

/* Decodes the whole file into a truecolor image with alpha kept and
 * blending off. NULL with a reason on a corrupt or truncated file. */
gdImagePtr tiler_image_load(const char *path, tiler_format fmt, char *err, size_t errlen);

/* The same, calling fn as rows become final: every few rows for a JPEG,
 * once with all rows for the other formats. fn stopping it gives NULL. */
gdImagePtr tiler_image_load_rows(const char *path, tiler_format fmt, tiler_rows_fn fn, void *ctx,
                                 char *err, size_t errlen);

/* Encodes to path (PNG keeps alpha; JPEG drops it). 0 or -1 with reason. */
int tiler_image_save(gdImagePtr im, const char *path, tiler_format fmt, char *err, size_t errlen);

/* Destroys a loaded image and gives its memory back to the system. libgd
 * allocates a truecolor image a row at a time, below malloc's mmap
 * threshold, from the arena of the thread that decoded it; glibc keeps the
 * freed rows in that arena, so an httpd child whose threads took turns with
 * big uploads would grow by one image per thread (3 GiB at 64 MP here). */
void tiler_image_free(gdImagePtr im);

/* libgd reports problems through a process-wide callback that prints to
 * stderr. This routes them into a per-thread buffer that load/save put in
 * their error text. Call once per process. */
void tiler_gd_errors_capture(void);

#endif
