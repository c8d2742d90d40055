/* The tile wire format (docs/protocol.md): a fixed little-endian header,
 * the op chain as text, then raw pixels. Tasks and results share it. */
#ifndef TILER_MSG_H
#define TILER_MSG_H

#include <stddef.h>
#include <stdint.h>
#include "tiler_grid.h"

#define TILER_MSG_MAGIC       "TILE"
#define TILER_MSG_VERSION     1
/* Tasks that ask for an encoded result, and those results, carry version
 * 2: the field at offset 74 then holds the encoding (docs/protocol.md). */
#define TILER_MSG_VERSION_ENCODED 2
/* Tasks whose payload is the compressed tiles of a tiled TIFF upload that
 * cover their source (tiler_tiff_task.h), the worker decoding them; the
 * field at offset 74 as in version 2 (0 asks for raw pixels back). */
#define TILER_MSG_VERSION_TIFF_TILES 3
/* Tasks and results whose raw pixels are packed: the byte at offset 74
 * says how many bytes a pixel takes (TILER_PACK_*). A version 4 task asks
 * for a version 4 result, packed as tightly as the result's pixels allow. */
#define TILER_MSG_VERSION_PACKED 4
/* Packings: an opaque grey pixel as one byte, an opaque pixel as R, G, B,
 * any pixel as its gd value (as in version 1). */
#define TILER_PACK_GREY 1
#define TILER_PACK_RGB  3
#define TILER_PACK_GD   4
#define TILER_MSG_FIXED_BYTES 76
#define TILER_MSG_MAX_OPS_LEN 512

/* FAILURE: a worker could not process a tile; the ops field carries the
 * reason and there are no pixels. */
/* ENCODED: a result whose payload is its tile compressed as the task's
 * encoding asked. */
typedef enum { TILER_MSG_TASK = 1, TILER_MSG_RESULT = 2, TILER_MSG_FAILURE = 3, TILER_MSG_ENCODED = 4 } tiler_msg_kind;

/* What a task asks the worker to send back. codec 0: raw pixels (a
 * version 1 message, the rest unused); 1: the tile of a tiled TIFF, side x
 * side 8-bit samples (samples 1..4 per pixel: grey, grey+alpha, RGB, RGBA),
 * padded, differenced horizontally (TIFF Predictor 2), as a zlib stream;
 * 2: the same tile as one baseline JPEG stream (samples 1: grey, 3: YCbCr
 * 4:2:0; no alpha, tiler_tiff_jpeg.h); 3: the tile of a PNG result, each
 * row deflated as a piece of its own (samples as for 1, tiler_png_tile.h).
 * side is a multiple of 16, at most 2048. */
#define TILER_CODEC_RAW          0
#define TILER_CODEC_TIFF_DEFLATE 1
#define TILER_CODEC_TIFF_JPEG    2
#define TILER_CODEC_PNG_ROWS     3
typedef struct {
    uint8_t codec;
    uint8_t samples;
    uint16_t side;
} tiler_tile_enc;

typedef struct {
    tiler_msg_kind kind;
    unsigned char job_id[16];
    uint32_t tile_index, tiles_total;
    uint32_t image_w, image_h;
    tiler_rect core;            /* the part of the image this tile owns */
    tiler_rect src;             /* the rectangle the pixels cover */
    char ops[TILER_MSG_MAX_OPS_LEN + 1];
    tiler_tile_enc enc;         /* codec 0 for version 1 messages */
    const unsigned char *pixels; /* decode: points into the buffer; src.w*src.h*4 bytes, or the
                                  * payload_len bytes of an ENCODED result */
    size_t payload_len;          /* ENCODED, or a task with tiff_tiles: the payload's length (tiler_msg_size counts it) */
    int tiff_tiles;              /* a version 3 task: the payload is the upload's TIFF tiles, not pixels */
    uint8_t packing;             /* a version 4 message's TILER_PACK_*; 0 for the others (4 bytes a pixel) */
} tiler_msg;

/* The most bytes an encoded tile of enc can take: zlib's bound for
 * Deflate, the JPEG worst case (tiler_tiff_jpeg.h) for JPEG. */
size_t tiler_msg_enc_max_bytes(const tiler_tile_enc *enc);

size_t tiler_msg_header_size(const tiler_msg *m);
size_t tiler_msg_size(const tiler_msg *m);
/* Writes the header; the caller writes src.w*src.h pixels after it. Returns header size. */
size_t tiler_msg_write_header(const tiler_msg *m, unsigned char *buf);
/* Validates everything (magic, version, kind, rectangles, sizes). 0 or -1 with a reason. */
int tiler_msg_decode(tiler_msg *m, const void *buf, size_t len, char *err, size_t errlen);

/* Makes the task message in buf (as tiler_tile_task cut it) ask for enc:
 * version 2 (a version 3 task stays 3) and the field at offset 74. Codec
 * 0 leaves it as it is. 0, or -1 (buf untouched) for a packed task: its
 * pixels are not the 4 bytes a version 2 task has. */
int tiler_msg_set_encoding(unsigned char *buf, const tiler_tile_enc *enc);

/* A malloc'd FAILURE message for tile tile_index of the job, or NULL. */
unsigned char *tiler_msg_failure(const unsigned char job_id[16], uint32_t tile_index, uint32_t tiles_total,
                                 const char *reason, size_t *len);

/* Bytes a pixel of m's raw payload takes: its packing, or 4. */
unsigned tiler_msg_pixel_bytes(const tiler_msg *m);

/* The tightest packing for n gd truecolor pixels that keeps them exact:
 * TILER_PACK_GREY when each is opaque with R = G = B, TILER_PACK_RGB when
 * each is opaque, else TILER_PACK_GD. The tightest for several rows is
 * the largest of theirs. */
int tiler_pack_need(const int *src, size_t n);
/* The same for the pixels the grayscale op would make of these
 * (tiler_grayscale_row), without making them: grey, so one byte unless
 * some alpha. */
int tiler_pack_need_grey(const int *src, size_t n);
/* n pixels to packing's bytes (which must hold them: tiler_pack_need), and back. */
void tiler_pack_row(unsigned char *dst, const int *src, size_t n, int packing);
/* tiler_unpack_row goes forward pixel by pixel, each read before it is
 * written, so src may be the tail of dst's own bytes (tiler_raster_get
 * widens in place); keep it so. */
void tiler_unpack_row(int *dst, const unsigned char *src, size_t n, int packing);

/* Pixels on the wire are gd truecolor ints stored little-endian. */
void tiler_pixels_to_wire(unsigned char *dst, const int *src, size_t n);
void tiler_pixels_from_wire(int *dst, const unsigned char *src, size_t n);

#endif
