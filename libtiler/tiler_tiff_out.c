#include "tiler_tiff_out.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include "tiler_defaults.h"
#include "tiler_ops.h"
#include "tiler_png.h"
#include "tiler_tiff_jpeg.h"

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)

/* Index entries read at a time when the directory is written. */
#define CHUNK_TILES 4096

/* TIFF tags and types used (TIFF 6.0, BigTIFF). */
enum { T_SHORT = 3, T_LONG = 4, T_RATIONAL = 5, T_LONG8 = 16 };

int tiler_tiff_out_samples(int png_color)
{
    return png_color == TILER_PNG_GRAY ? 1 : png_color == TILER_PNG_GRAY_ALPHA ? 2 : png_color == TILER_PNG_RGB ? 3 : 4;
}

int tiler_tiff_out_color(int samples)
{
    return samples == 1 ? TILER_PNG_GRAY : samples == 2 ? TILER_PNG_GRAY_ALPHA : samples == 3 ? TILER_PNG_RGB
                                                                                              : TILER_PNG_RGBA;
}

int tiler_tiff_out_codec(const char *compression)
{
    if (!compression || !strcmp(compression, "deflate")) return TILER_CODEC_TIFF_DEFLATE;
    return !strcmp(compression, "jpeg") ? TILER_CODEC_TIFF_JPEG : 0;
}

const char *tiler_tiff_out_compression(int codec)
{
    return codec == TILER_CODEC_TIFF_JPEG ? "jpeg" : "deflate";
}

void tiler_tiff_out_enc(tiler_tile_enc *enc, int codec, uint32_t tile_side, int alpha, const char *ops)
{
    tiler_chain chain;
    char why[256];
    int gray = tiler_chain_parse(&chain, ops, TILER_MAX_OPS, why, sizeof(why)) == 0 && tiler_chain_gray(&chain);
    enc->codec = (uint8_t)codec;
    /* JPEG holds no alpha: the colour goes, its alpha is dropped (as a
     * format=jpeg result drops it). */
    enc->samples = (uint8_t)tiler_tiff_out_samples(tiler_png_color(codec == TILER_CODEC_TIFF_JPEG ? 0 : alpha, gray));
    enc->side = (uint16_t)tile_side;
}

int tiler_tiff_out_format(const char *format, const char *compression, uint32_t tile_size, int alpha, const char *ops,
                          tiler_tile_enc *enc)
{
    int codec = tiler_tiff_out_codec(compression);
    memset(enc, 0, sizeof(*enc));
    if (!format || strcmp(format, "tiff") || !codec) return 0;
    tiler_tiff_out_enc(enc, codec, tile_size, alpha, ops);
    return 1;
}

size_t tiler_tiff_out_max_tile_bytes(const tiler_tile_enc *enc)
{
    return tiler_msg_enc_max_bytes(enc);
}

/* The Deflate tile (Predictor 2), as tiler_tiff_out_tile says. */
static int deflate_tile(const int *const *rows, uint32_t w, uint32_t h, const tiler_tile_enc *enc, int level,
                        unsigned char **out, size_t *len, char *err, size_t errlen)
{
    size_t stride = (size_t)enc->side * enc->samples, raw = stride * enc->side;
    uLongf n = compressBound((uLong)raw);
    unsigned char *px, *z;
    uint32_t y;
    int color = tiler_tiff_out_color(enc->samples);

    if (w > enc->side || h > enc->side) FAIL("a %ux%u tile does not fit %u-pixel TIFF tiles", w, h, enc->side);
    /* Zeros past the core: TIFF tiles are whole, and zeros cost nothing. */
    if (!(px = calloc(1, raw)) || !(z = malloc(n))) {
        free(px);
        FAIL("out of memory for a %u-pixel TIFF tile", enc->side);
    }
    for (y = 0; y < h; y++) {
        unsigned char *row = px + y * stride;
        size_t i;
        if (tiler_png_row_samples(row, rows[y], w, color) < 0) {
            free(px);
            free(z);
            FAIL("a grey TIFF tile has a pixel that is not grey");
        }
        /* Horizontal differencing (TIFF Predictor 2): each sample minus
         * the same sample of the pixel to its left, modulo 256, from the
         * right so that each uses its neighbour's original. Photographs
         * deflate to about two thirds with it, as PNG's filters do. */
        for (i = stride; i-- > enc->samples;) row[i] = (unsigned char)(row[i] - row[i - enc->samples]);
    }
    if (compress2(z, &n, px, (uLong)raw, level) != Z_OK) {
        free(px);
        free(z);
        FAIL("cannot deflate a TIFF tile");
    }
    free(px);
    *out = z;
    *len = n;
    return 0;
}

int tiler_tiff_out_tile(const int *const *rows, uint32_t w, uint32_t h, const tiler_tile_enc *enc, int level,
                        unsigned char **out, size_t *len, char *err, size_t errlen)
{
    if (enc->codec == TILER_CODEC_TIFF_JPEG)
        return tiler_tiff_jpeg_tile(rows, w, h, enc->side, enc->samples, out, len, err, errlen);
    return deflate_tile(rows, w, h, enc, level, out, len, err, errlen);
}

int tiler_tiff_out_plausible(const tiler_tile_enc *enc, const unsigned char *data, size_t len)
{
    if (enc->codec == TILER_CODEC_TIFF_JPEG) return tiler_tiff_jpeg_plausible(enc->side, enc->samples, data, len);
    /* RFC 1950: method 8 (deflate), window at most 32 KiB, no dictionary,
     * and the check bits. */
    if (len < 2 || len > tiler_tiff_out_max_tile_bytes(enc)) return 0;
    return (data[0] & 0x0f) == 8 && (data[0] >> 4) <= 7 && !(data[1] & 0x20) && (data[0] * 256 + data[1]) % 31 == 0;
}

static void put16(unsigned char *p, uint16_t v) { p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); }
static void put32le(unsigned char *p, uint32_t v) { put16(p, (uint16_t)v); put16(p + 2, (uint16_t)(v >> 16)); }
static void put64(unsigned char *p, uint64_t v)
{
    int i;
    for (i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    int i;
    for (i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

int tiler_tiff_out_entry(int index_fd, uint32_t idx, uint64_t *off, uint64_t *len)
{
    unsigned char e[TILER_TIFF_OUT_INDEX_BYTES];
    ssize_t r;
    do r = pread(index_fd, e, sizeof(e), (off_t)idx * TILER_TIFF_OUT_INDEX_BYTES); while (r < 0 && errno == EINTR);
    if (r != (ssize_t)sizeof(e)) return -1;
    *off = get64(e);
    *len = get64(e + 8);
    return 0;
}

static int pwrite_all(int fd, const void *buf, size_t n, off_t off)
{
    const char *p = buf;
    while (n) {
        ssize_t w = pwrite(fd, p, n, off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
        off += w;
    }
    return 0;
}

int tiler_tiff_out_start(const char *tiles, const char *index, uint32_t tiles_total, char *err, size_t errlen)
{
    unsigned char zero[TILER_TIFF_OUT_HEADER_BYTES] = { 0 };
    int fd = open(tiles, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), e;
    if (fd < 0) FAIL("cannot create the tiles file: %s", strerror(errno));
    if (pwrite_all(fd, zero, sizeof(zero), 0) < 0) {
        e = errno;
        close(fd);
        FAIL("cannot write the tiles file: %s", strerror(e));
    }
    if (close(fd) < 0) FAIL("cannot write the tiles file: %s", strerror(errno));
    if ((fd = open(index, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
        FAIL("cannot create the tile index: %s", strerror(errno));
    if (ftruncate(fd, (off_t)tiles_total * TILER_TIFF_OUT_INDEX_BYTES) < 0) {
        e = errno;
        close(fd);
        FAIL("cannot size the tile index: %s", strerror(e));
    }
    if (close(fd) < 0) FAIL("cannot write the tile index: %s", strerror(errno));
    return 0;
}

int tiler_tiff_out_add(const char *tiles, const char *index, uint32_t idx, const void *data, size_t len,
                       char *err, size_t errlen)
{
    unsigned char entry[TILER_TIFF_OUT_INDEX_BYTES];
    off_t at;
    int fd = open(tiles, O_WRONLY | O_CLOEXEC), e;
    if (fd < 0) FAIL("cannot open the tiles file: %s", strerror(errno));
    /* One writer (the results consumer): the end is where the tile goes. */
    if ((at = lseek(fd, 0, SEEK_END)) < 0 || pwrite_all(fd, data, len, at) < 0) {
        e = errno;
        close(fd);
        FAIL("cannot write tile %u to the tiles file: %s", idx, strerror(e));
    }
    if (close(fd) < 0) FAIL("cannot write the tiles file: %s", strerror(errno));
    /* The entry after the bytes: an entry always points at a whole tile. */
    put64(entry, (uint64_t)at);
    put64(entry + 8, (uint64_t)len);
    if ((fd = open(index, O_WRONLY | O_CLOEXEC)) < 0) FAIL("cannot open the tile index: %s", strerror(errno));
    if (pwrite_all(fd, entry, sizeof(entry), (off_t)idx * TILER_TIFF_OUT_INDEX_BYTES) < 0) {
        e = errno;
        close(fd);
        FAIL("cannot write the tile index: %s", strerror(e));
    }
    if (close(fd) < 0) FAIL("cannot write the tile index: %s", strerror(errno));
    return 0;
}

/* One 20-byte directory entry with its value inline (at most 8 bytes). */
static unsigned char *entry(unsigned char *p, uint16_t tag, uint16_t type, uint64_t count, uint64_t value)
{
    put16(p, tag);
    put16(p + 2, type);
    put64(p + 4, count);
    put64(p + 12, value);
    return p + 20;
}

/* Writes one LONG8 array of n values at off, taken from the index
 * (field 0 offsets, 1 lengths), a chunk at a time. */
static int write_array(int idx_fd, int fd, uint32_t n, int field, off_t off, char *err, size_t errlen)
{
    unsigned char in[CHUNK_TILES * TILER_TIFF_OUT_INDEX_BYTES], out[CHUNK_TILES * 8];
    uint32_t i, k, m;
    for (i = 0; i < n; i += m) {
        size_t want;
        ssize_t got;
        m = n - i < CHUNK_TILES ? n - i : CHUNK_TILES;
        want = (size_t)m * TILER_TIFF_OUT_INDEX_BYTES;
        got = pread(idx_fd, in, want, (off_t)i * TILER_TIFF_OUT_INDEX_BYTES);
        if (got != (ssize_t)want) FAIL("cannot read the tile index");
        for (k = 0; k < m; k++) {
            uint64_t len = get64(in + k * TILER_TIFF_OUT_INDEX_BYTES + 8);
            if (!len) FAIL("tile %u of the TIFF result is missing", i + k);
            put64(out + k * 8, get64(in + k * TILER_TIFF_OUT_INDEX_BYTES + 8 * field));
        }
        if (pwrite_all(fd, out, (size_t)m * 8, off + (off_t)i * 8) < 0)
            FAIL("cannot write the TIFF directory: %s", strerror(errno));
    }
    return 0;
}

/* The fields before TileOffsets, in ascending tag order as TIFF wants.
 * Deflate: the samples as they are (ExtraSamples after, for alpha), with
 * Predictor 2. JPEG: no predictor, and colour is YCbCr, which the JPEG
 * streams hold (YCbCrSubsampling after). */
static unsigned char *leading_fields(unsigned char *p, uint32_t width, uint32_t height, const tiler_tile_enc *enc)
{
    static const uint16_t bits[4] = { 8, 8, 8, 8 };
    uint64_t bits_inline = 0;
    int i, jpeg = enc->codec == TILER_CODEC_TIFF_JPEG, grey = enc->samples <= 2;
    for (i = 0; i < enc->samples; i++) bits_inline |= (uint64_t)bits[i] << (16 * i);
    p = entry(p, 256, T_LONG, 1, width);                    /* ImageWidth */
    p = entry(p, 257, T_LONG, 1, height);                   /* ImageLength */
    p = entry(p, 258, T_SHORT, enc->samples, bits_inline);  /* BitsPerSample */
    p = entry(p, 259, T_SHORT, 1, jpeg ? 7 : 8);            /* Compression: JPEG, or Deflate (Adobe) */
    p = entry(p, 262, T_SHORT, 1, grey ? 1 : jpeg ? 6 : 2); /* Photometric: MinIsBlack, YCbCr or RGB */
    p = entry(p, 277, T_SHORT, 1, enc->samples);            /* SamplesPerPixel */
    p = entry(p, 284, T_SHORT, 1, 1);                       /* PlanarConfiguration: contiguous */
    if (!jpeg) p = entry(p, 317, T_SHORT, 1, 2);            /* Predictor: horizontal differencing */
    p = entry(p, 322, T_LONG, 1, enc->side);                /* TileWidth */
    p = entry(p, 323, T_LONG, 1, enc->side);                /* TileLength */
    return p;
}

/* ReferenceBlackWhite of YCbCr JPEG tiles: TIFF's default (0-255 for each
 * component) is wrong for YCbCr, whose chroma is centred on 128, so it is
 * written out, as libtiff's own writer does: six RATIONALs, out of line. */
#define RBW_BYTES 48
static int has_rbw(const tiler_tile_enc *enc)
{
    return enc->codec == TILER_CODEC_TIFF_JPEG && enc->samples == 3;
}

/* The fields after TileByteCounts; ReferenceBlackWhite's values at rbw_at. */
static unsigned char *trailing_fields(unsigned char *p, const tiler_tile_enc *enc, uint64_t rbw_at)
{
    if (enc->codec == TILER_CODEC_TIFF_JPEG) {
        /* Two SHORTs, 2 and 2: libjpeg's default 4:2:0 of the streams. */
        if (enc->samples == 3) p = entry(p, 530, T_SHORT, 2, 2 | (2 << 16)); /* YCbCrSubsampling */
        if (has_rbw(enc)) p = entry(p, 532, T_RATIONAL, 6, rbw_at);         /* ReferenceBlackWhite */
    } else if (enc->samples == 2 || enc->samples == 4) {
        p = entry(p, 338, T_SHORT, 1, 2);                   /* ExtraSamples: unassociated alpha */
    }
    return p;
}

int tiler_tiff_out_finish(const char *tiles, const char *index, uint32_t width, uint32_t height,
                          const tiler_tile_enc *enc, char *err, size_t errlen)
{
    unsigned char ifd[8 + 14 * 20 + 8], head[TILER_TIFF_OUT_HEADER_BYTES], *p, *arrays;
    uint32_t across, down, n, count;
    uint64_t offsets_at, counts_at;
    off_t end;
    size_t ifd_len;
    int fd, idx_fd, rc;

    if (!enc->codec || !enc->side) FAIL("the TIFF result's tiles have no encoding");
    across = (width + enc->side - 1) / enc->side;
    down = (height + enc->side - 1) / enc->side;
    n = across * down;
    if ((fd = open(tiles, O_WRONLY | O_CLOEXEC)) < 0) FAIL("cannot open the tiles file: %s", strerror(errno));
    if ((idx_fd = open(index, O_RDONLY | O_CLOEXEC)) < 0) {
        close(fd);
        FAIL("cannot open the tile index: %s", strerror(errno));
    }
    /* The directory goes at the end, on a word boundary (a copy of it
     * left by an interrupted finish is only dead bytes). */
    if ((end = lseek(fd, 0, SEEK_END)) < 0) {
        close(fd);
        close(idx_fd);
        FAIL("cannot seek the tiles file: %s", strerror(errno));
    }
    end = (end + 7) / 8 * 8;
    /* TileOffsets and TileByteCounts wait for the directory's length,
     * which the fields after them decide. */
    arrays = leading_fields(ifd + 8, width, height, enc);
    p = trailing_fields(arrays + 2 * 20, enc, 0);
    count = (uint32_t)((p - (ifd + 8)) / 20);
    ifd_len = (size_t)(8 + count * 20 + 8);
    /* After the directory: ReferenceBlackWhite's values, then the arrays. */
    offsets_at = (uint64_t)end + ifd_len + (has_rbw(enc) ? RBW_BYTES : 0);
    counts_at = offsets_at + (uint64_t)n * 8;
    trailing_fields(arrays + 2 * 20, enc, (uint64_t)end + ifd_len);
    /* One tile: its value fits the entry. */
    if (n == 1) {
        uint64_t off, len;
        if (tiler_tiff_out_entry(idx_fd, 0, &off, &len) < 0 || !len) {
            close(fd);
            close(idx_fd);
            FAIL("tile 0 of the TIFF result is missing");
        }
        arrays = entry(arrays, 324, T_LONG8, 1, off);
        entry(arrays, 325, T_LONG8, 1, len);
    } else {
        arrays = entry(arrays, 324, T_LONG8, n, offsets_at);  /* TileOffsets */
        entry(arrays, 325, T_LONG8, n, counts_at);            /* TileByteCounts */
    }
    put64(ifd, count);
    put64(p, 0);                                            /* no next directory */
    rc = n > 1 ? write_array(idx_fd, fd, n, 0, (off_t)offsets_at, err, errlen) : 0;
    if (rc == 0 && n > 1) rc = write_array(idx_fd, fd, n, 1, (off_t)counts_at, err, errlen);
    if (rc == 0 && has_rbw(enc)) {
        static const uint32_t rbw[12] = { 0, 1, 255, 1, 128, 1, 255, 1, 128, 1, 255, 1 };
        unsigned char b[RBW_BYTES];
        int i;
        for (i = 0; i < 12; i++) put32le(b + 4 * i, rbw[i]);
        if (pwrite_all(fd, b, sizeof(b), end + (off_t)ifd_len) < 0) {
            snprintf(err, errlen, "cannot write the TIFF directory: %s", strerror(errno));
            rc = -1;
        }
    }
    if (rc == 0 && pwrite_all(fd, ifd, ifd_len, end) < 0) {
        snprintf(err, errlen, "cannot write the TIFF directory: %s", strerror(errno));
        rc = -1;
    }
    /* The header last: until it is there the file is no TIFF. */
    memcpy(head, "II", 2);
    put16(head + 2, 43);
    put16(head + 4, 8);
    put16(head + 6, 0);
    put64(head + 8, (uint64_t)end);
    if (rc == 0 && pwrite_all(fd, head, sizeof(head), 0) < 0) {
        snprintf(err, errlen, "cannot write the TIFF header: %s", strerror(errno));
        rc = -1;
    }
    close(idx_fd);
    if (close(fd) < 0 && rc == 0) {
        snprintf(err, errlen, "cannot write the tiles file: %s", strerror(errno));
        rc = -1;
    }
    return rc;
}
