/* A PNG result's tile deflated by its worker (codec 3, docs/protocol.md,
 * "PNG rows deflated by the workers"). Each row of the tile is deflated as
 * a piece of its own that ends on a byte boundary with an empty stored
 * block and a reset dictionary (zlib's full flush): the web host joins the
 * pieces of a row of tiles into the PNG's one zlib stream, row by row,
 * left to right, and combines their Adler-32s, deflating nothing (it
 * inflates each piece once, to be sure of it: one bad piece would spoil
 * the rest of the image). The deflate work, most of the web host's CPU per
 * pixel before, then grows with the workers.
 *
 * Filters: a PNG row has one filter byte, so every tile of a row of tiles
 * must filter its part of a row the same way, from pixels it has. The
 * tile's first row uses None and the others Up (the pixel above is in the
 * same tile). The leftmost tile's pieces carry the row's filter byte.
 *
 * The payload: h entries of (uint32 piece length, uint32 Adler-32 of the
 * piece's filtered bytes), little-endian, then the h pieces in row order. */
#ifndef TILER_PNG_TILE_H
#define TILER_PNG_TILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "tiler_msg.h"
#include "tiler_tiff_out.h"

/* The compression a PNG job's store row names when its workers deflate
 * its rows (a job of an earlier build has none: it is assembled from a
 * raster). */
#define TILER_PNG_TILE_COMPRESSION "rows"

/* Whether a PNG job in tiles of this side can have its rows deflated by
 * the workers: the encoding's side is a multiple of 16 up to 2048. */
int tiler_png_tile_side_ok(uint32_t side);

/* 1 and enc filled (codec 3, samples of the PNG's colour) for a PNG job
 * whose workers deflate its rows, else 0. tiler_png_tile_job takes them
 * from a tiler_job; tiler_job_enc gives any job's encoding: a TIFF job's,
 * such a PNG job's, or none (raw pixels come back). */
int tiler_png_tile_format(const char *format, const char *compression, uint32_t tile_size, int alpha, const char *ops,
                          tiler_tile_enc *enc);
#define tiler_png_tile_job(job, enc) \
    tiler_png_tile_format((job)->format, (job)->compression, (job)->tile_size, (job)->alpha, (job)->ops, (enc))
#define tiler_job_enc(job, enc) (tiler_tiff_out_job((job), (enc)) || tiler_png_tile_job((job), (enc)))

/* The filtered bytes of a row piece of a w-pixel tile part (lead: the
 * leftmost tile, which carries the filter byte). */
size_t tiler_png_tile_piece_raw(uint32_t w, int samples, int lead);
/* The most bytes a piece of raw filtered bytes may deflate to. */
size_t tiler_png_tile_piece_max(size_t raw);
/* The most bytes a side x side tile's payload can take. */
size_t tiler_png_tile_max_bytes(uint32_t side, int samples);

/* Makes the payload of rows[0..h) of w gd truecolor pixels, as samples
 * (1 grey, 2 grey + alpha, 3 RGB, 4 RGBA) 8-bit samples a pixel, at zlib
 * level. *out is malloc'd. 0, or -1 with err (also when a grey encoding
 * meets a pixel that is not grey). */
int tiler_png_tile_encode(const int *const *rows, uint32_t w, uint32_t h, int samples, int lead, int level,
                          unsigned char **out, size_t *len, char *err, size_t errlen);

/* Whether len bytes can be the payload of a w x h tile: its table within
 * the payload, each piece within its bound and ending as a full flush
 * ends (00 00 FF FF), the pieces filling the rest exactly. Nothing is
 * inflated here (the results consumer's one thread checks this); the
 * strip writer inflates each piece on the encoder's threads. */
int tiler_png_tile_plausible(const unsigned char *data, size_t len, uint32_t w, uint32_t h, int samples, int lead);

/* Inflates a payload back to h rows of w x samples bytes, filters undone,
 * row y at out + y * stride: each piece on its own (a piece that reaches
 * into another is refused), to exactly its row's bytes, ending at the end
 * of a block that is not the last, its Adler-32 and filter byte checked.
 * 0, or -1 with err. */
int tiler_png_tile_decode(const unsigned char *data, size_t len, uint32_t w, uint32_t h, int samples, int lead,
                          unsigned char *out, size_t stride, char *err, size_t errlen);

/* One tile of a row of tiles: where its payload is in the tiles file. */
typedef struct {
    uint64_t off, len;
} tiler_png_tile_ref;

/* Writes the strip of a row of cols tiles (tile i covers columns
 * [i * side, min((i + 1) * side, width))) and nrows rows into f at its
 * offset, in tiler_png_strip_save's layout (head, then raw deflate data):
 * row by row, each tile's piece in turn, the payloads read from tiles_fd
 * chunk_rows rows at a time. last: the image's last strip, which ends the
 * stream with an empty final block. Each payload's table is checked
 * against its length again (the file is trusted no more than the
 * message), and each piece is inflated once and checked as
 * tiler_png_tile_decode checks it before it is written. Memory: the
 * tables (8 x nrows x cols bytes), a chunk of pieces (at most chunk_rows
 * x tiler_png_tile_piece_max of each tile's row), one row inflated and
 * zlib's inflate state. 0, or -1 with err. */
int tiler_png_tile_strip(FILE *f, int tiles_fd, const tiler_png_tile_ref *tiles, uint32_t cols, uint32_t width,
                         uint32_t side, uint32_t nrows, int samples, int last, uint32_t chunk_rows, char *err,
                         size_t errlen);

#endif
