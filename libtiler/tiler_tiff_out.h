/* The tiled BigTIFF result (format=tiff, docs/protocol.md): tiles are
 * packed and deflated where they are made (a worker, or --local), and the
 * file is assembled by writing their bytes in place: a spool file that
 * starts with 16 bytes kept for the header and grows by each tile's
 * compressed bytes, an index of (offset, length) per tile, and at the end
 * the directory and the header. Nothing is decoded or copied to finish. */
#ifndef TILER_TIFF_OUT_H
#define TILER_TIFF_OUT_H

#include <stddef.h>
#include <stdint.h>
#include "tiler_msg.h"

/* Bytes kept at the start of the tiles file for the BigTIFF header. */
#define TILER_TIFF_OUT_HEADER_BYTES 16
/* Bytes per tile in the index file: offset and length, little-endian. */
#define TILER_TIFF_OUT_INDEX_BYTES 16

/* Samples per pixel for a PNG colour type (tiler_png.h), and back: the
 * TIFF result has the PNG result's channels. */
int tiler_tiff_out_samples(int png_color);
int tiler_tiff_out_color(int samples);

/* The codec of a compression= value: NULL (not given) and "deflate" are
 * TILER_CODEC_TIFF_DEFLATE, "jpeg" TILER_CODEC_TIFF_JPEG; anything else 0. */
int tiler_tiff_out_codec(const char *compression);
/* The compression= value of a codec ("deflate" or "jpeg"). */
const char *tiler_tiff_out_compression(int codec);

/* The encoding a TIFF job's tasks ask for: its codec, tile side and the
 * samples of its colour (alpha: the upload can be transparent; ops: its
 * chain). JPEG drops alpha: grey or colour only. */
void tiler_tiff_out_enc(tiler_tile_enc *enc, int codec, uint32_t tile_side, int alpha, const char *ops);

/* 1 and enc filled when a job of this format wants a TIFF result, else 0
 * (codec 0); compression as for tiler_tiff_out_codec. tiler_tiff_out_job
 * takes them from a tiler_job (tiler_store.h, which needs APR: a macro
 * keeps this header free of it for the fuzzers). */
int tiler_tiff_out_format(const char *format, const char *compression, uint32_t tile_size, int alpha, const char *ops,
                          tiler_tile_enc *enc);
#define tiler_tiff_out_job(job, enc) \
    tiler_tiff_out_format((job)->format, (job)->compression, (job)->tile_size, (job)->alpha, (job)->ops, (enc))

/* The most bytes a tile's compressed stream can take (tiler_msg_enc_max_bytes). */
size_t tiler_tiff_out_max_tile_bytes(const tiler_tile_enc *enc);

/* Makes the tile of rows[0..h) of w gd truecolor pixels (w, h at most
 * enc->side), side x side, as enc's codec asks. Deflate: 8-bit samples,
 * contiguous, padded with zeros, each row differenced horizontally (TIFF
 * Predictor 2), deflated as a zlib stream at level. JPEG: one baseline
 * stream (tiler_tiff_jpeg.h; level unused). *out is malloc'd. 0, or -1
 * with err (also when a grey encoding meets a pixel that is not grey). */
int tiler_tiff_out_tile(const int *const *rows, uint32_t w, uint32_t h, const tiler_tile_enc *enc, int level,
                        unsigned char **out, size_t *len, char *err, size_t errlen);

/* Whether len bytes can be a tile's stream of this encoding: bounds, and
 * the zlib header (Deflate) or the SOI and EOI markers (JPEG), checked
 * before they are written. */
int tiler_tiff_out_plausible(const tiler_tile_enc *enc, const unsigned char *data, size_t len);

/* Creates the tiles file (16 zero bytes) and an index of tiles_total
 * empty entries (sparse). 0, or -1 with err. */
int tiler_tiff_out_start(const char *tiles, const char *index, uint32_t tiles_total, char *err, size_t errlen);

/* Appends tile idx's compressed bytes to the tiles file and records them
 * in the index; a tile added again replaces the first copy's entry (its
 * bytes stay, unreferenced). 0, or -1 with err. */
int tiler_tiff_out_add(const char *tiles, const char *index, uint32_t idx, const void *data, size_t len,
                       char *err, size_t errlen);

/* Reads tile idx's entry from the index open as index_fd: its offset in
 * the tiles file and its length (0: not in yet). 0, or -1. */
int tiler_tiff_out_entry(int index_fd, uint32_t idx, uint64_t *off, uint64_t *len);

/* Appends the directory (TileOffsets and TileByteCounts from the index;
 * Deflate with Predictor 2, or JPEG with YCbCr 2x2 for colour) and writes
 * the header: the tiles file is then the BigTIFF of a width x height
 * image. Every tile must be in. Memory is a fixed buffer whatever
 * the tile count. 0, or -1 with err. */
int tiler_tiff_out_finish(const char *tiles, const char *index, uint32_t width, uint32_t height,
                          const tiler_tile_enc *enc, char *err, size_t errlen);

#endif
