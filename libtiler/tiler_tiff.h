/* TIFF and BigTIFF uploads with libtiff, into a band (tiler_band.h) as
 * they decode: a stripped file a row at a time (TIFFReadScanline), a tiled
 * one a row of TIFF tiles at a time, so that memory holds one row of tiles
 * (or one strip's compressed bytes), never the image. The first image
 * (IFD) of the file is the image; later ones are not read.
 *
 * Kinds: 8-bit grey, grey + alpha, RGB and RGBA with contiguous samples;
 * compression none, LZW, Deflate, PackBits and JPEG (YCbCr JPEG is
 * converted to RGB by libjpeg). Associated (premultiplied) alpha is turned
 * into straight alpha: the colour c nearest to pre x 255 / a, so that
 * premultiplying it again gives the stored sample. Alpha becomes libgd's
 * 7 bits (127 - a/2), as for PNG. Anything else is refused, naming what is
 * not supported. libtiff prints nothing: its errors become the reason. */
#ifndef TILER_TIFF_H
#define TILER_TIFF_H

#include <stdint.h>
#include <stdio.h>
#include <tiffio.h>
#include "tiler_band.h"

/* The most any one libtiff allocation may take (a strip's compressed bytes
 * are read whole), and the largest TIFF tile taken: a hostile directory
 * cannot make libtiff or the decoder allocate more. */
#define TILER_TIFF_MAX_ALLOC      (256u << 20)
#define TILER_TIFF_MAX_TILE_BYTES (16u << 20)
#define TILER_TIFF_MAX_TILE_ROWS  2048u
/* A row of TIFF tiles is decoded before its rows go to the band: the most
 * it may take (65,536 pixels wide in 1024-row RGBA tiles). */
#define TILER_TIFF_MAX_TILE_ROW_BYTES (256ull << 20)

/* The size from the first directory, without decoding pixels. 0; -1 with
 * a reason when the header or directory is corrupt; -2 with a reason
 * naming what is not supported (16-bit, CMYK, a palette...). */
int tiler_tiff_probe(FILE *f, uint32_t *w, uint32_t *h, char *err, size_t errlen);

/* Decodes f into b (started here). 0, or -1 with a reason: corrupt or
 * truncated data, a kind not supported, or the band's callback. The last
 * row is final only once the last strip or tile decoded without error. */
int tiler_tiff_decode(FILE *f, tiler_band *b, char *err, size_t errlen);

/* ---- The reader's parts, for tiler_tiff_task.c ---- */

/* libtiff reads through a stdio stream the caller opened (a file in the
 * spool, or memory: a task's tiles, the fuzzer), and what it has to say
 * about the file lands here instead of on stderr, which is httpd's error
 * log. */
typedef struct {
    FILE *f;
    char msg[240];    /* libtiff's first error (or the first JPEG warning that fails a read) */
} tiler_tiff_source;

/* What the first directory holds, once found decodable. */
typedef struct {
    uint32_t w, h;
    uint16_t spp;      /* samples per pixel as read (3 for YCbCr JPEG, converted) */
    int grey;
    int alpha;         /* 0 none, else the sample after the colour: */
    int assoc;         /* premultiplied (associated) */
    int tiled;
    uint32_t tw, th;
} tiler_tiff_kind;

/* Opens s->f with libtiff (mode "rmD" or "rmO", tiler_tiff.c), its first
 * directory's tag bytes bounded first; NULL with the reason in s->msg. */
TIFF *tiler_tiff_open(tiler_tiff_source *s, const char *mode);
/* Whether the first directory is a kind decoded here: 0; -2 naming what
 * is not supported; -1 when it contradicts itself. */
int tiler_tiff_read_kind(TIFF *t, tiler_tiff_kind *k, char *err, size_t errlen);
/* -1, with the reason libtiff gave for not opening s into err. */
int tiler_tiff_open_failed(tiler_tiff_source *s, char *err, size_t errlen);

#endif
