/* A JPEG-compressed tile of the tiled BigTIFF result (format=tiff,
 * compression=jpeg; codec 2 in docs/protocol.md): one complete baseline
 * JPEG stream per tile, side x side pixels, which TIFF (Compression 7,
 * Technote 2) takes as it is, with no JPEGTables in the directory.
 *
 * Colour is YCbCr with libjpeg's default 2x2 chroma subsampling (the
 * directory says YCbCrSubsampling 2,2); grey is one component. JPEG has no
 * alpha: the pixels' colour is encoded and their alpha dropped, as
 * format=jpeg does. Quality is TILER_JPEG_QUALITY. The output goes into a
 * buffer of tiler_tiff_jpeg_max_bytes, allocated once: a tile that would
 * not fit is an error, never a bigger allocation. */
#ifndef TILER_TIFF_JPEG_H
#define TILER_TIFF_JPEG_H

#include <stddef.h>
#include <stdint.h>

/* The most bytes a tile's stream may take: libjpeg-turbo's worst case for
 * a baseline JPEG (tjBufSize: 2 bytes a pixel for the luma plane, 1 more
 * for 4:2:0 chroma, 2 KiB of markers and tables), far above what quality
 * 90 gives even for noise. The workers' messages and the web host's check
 * both use it. */
size_t tiler_tiff_jpeg_max_bytes(uint32_t side, int samples);

/* Encodes rows[0..h) of w gd truecolor pixels (w, h at most side) as a
 * side x side JPEG of samples (1: grey, and a pixel that is not grey is an
 * error, as for Deflate tiles; 3: colour). The tile is padded
 * by repeating its last column and row: a block that straddles the
 * image's edge then holds no step for JPEG to ring on, as libjpeg pads a
 * partial block itself. *out is malloc'd. 0, or -1 with err. */
int tiler_tiff_jpeg_tile(const int *const *rows, uint32_t w, uint32_t h, uint32_t side, int samples,
                         unsigned char **out, size_t *len, char *err, size_t errlen);

/* Whether len bytes can be such a tile: within the bound, starting with
 * SOI (FF D8), ending with EOI (FF D9), and with a baseline 8-bit frame
 * header (SOF0) of side x side and the samples, sampled as the directory
 * says (2x2 luma for colour). Cheap: the headers are read, nothing is
 * decoded. */
int tiler_tiff_jpeg_plausible(uint32_t side, int samples, const unsigned char *data, size_t len);

#endif
