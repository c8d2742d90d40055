#include "tiler_png_tile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include "tiler_png.h"

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); goto bad; } while (0)

enum { FILTER_NONE = 0, FILTER_UP = 2 };

static void put32le(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); p[2] = (unsigned char)(v >> 16); p[3] = (unsigned char)(v >> 24);
}

static uint32_t get32le(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int color_of(int samples)
{
    return samples == 1 ? TILER_PNG_GRAY : samples == 2 ? TILER_PNG_GRAY_ALPHA : samples == 3 ? TILER_PNG_RGB
                                                                                              : TILER_PNG_RGBA;
}

int tiler_png_tile_side_ok(uint32_t side)
{
    return side >= 16 && side <= 2048 && side % 16 == 0;
}

int tiler_png_tile_format(const char *format, const char *compression, uint32_t tile_size, int alpha, const char *ops,
                          tiler_tile_enc *enc)
{
    memset(enc, 0, sizeof(*enc));
    if (!format || strcmp(format, "png") || !compression || strcmp(compression, TILER_PNG_TILE_COMPRESSION)
        || !tiler_png_tile_side_ok(tile_size))
        return 0;
    tiler_tiff_out_enc(enc, TILER_CODEC_PNG_ROWS, tile_size, alpha, ops);
    return 1;
}

size_t tiler_png_tile_piece_raw(uint32_t w, int samples, int lead)
{
    return (size_t)w * (size_t)samples + (lead ? 1 : 0);
}

size_t tiler_png_tile_piece_max(size_t raw)
{
    /* Stored blocks (5 bytes per 64 KiB) and the flush's empty block are
     * the worst zlib does; an eighth and 64 bytes is well past both. */
    return raw + raw / 8 + 64;
}

size_t tiler_png_tile_max_bytes(uint32_t side, int samples)
{
    return (size_t)side * (8 + tiler_png_tile_piece_max(tiler_png_tile_piece_raw(side, samples, 1)));
}

/* Deflates what z holds with flush into out, growing it within max. */
static int pump(z_stream *z, int flush, unsigned char *out, size_t max, size_t *used)
{
    int rc;
    do {
        if (*used >= max) return -1;
        z->next_out = out + *used;
        z->avail_out = (uInt)(max - *used);
        rc = deflate(z, flush);
        if (rc == Z_STREAM_ERROR) return -1;
        *used = max - z->avail_out;
    } while (z->avail_out == 0);
    return z->avail_in ? -1 : 0;
}

int tiler_png_tile_encode(const int *const *rows, uint32_t w, uint32_t h, int samples, int lead, int level,
                          unsigned char **out, size_t *len, char *err, size_t errlen)
{
    size_t stride = (size_t)w * samples, raw = tiler_png_tile_piece_raw(w, samples, lead), table = (size_t)h * 8;
    size_t max = table + (size_t)h * tiler_png_tile_piece_max(raw), used = table, i;
    unsigned char *buf = NULL, *cur = NULL, *prev = NULL, *line = NULL, *t;
    z_stream z;
    int zok = 0;
    uint32_t y;

    *out = NULL;
    memset(&z, 0, sizeof(z));
    if (!w || !h || samples < 1 || samples > 4) FAIL("a %ux%u tile of %d samples cannot be a PNG tile", w, h, samples);
    if (!(buf = malloc(max)) || !(cur = malloc(stride)) || !(prev = malloc(stride)) || !(line = malloc(raw)))
        FAIL("out of memory for a %ux%u PNG tile", w, h);
    if (deflateInit2(&z, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) FAIL("zlib cannot start");
    zok = 1;
    for (y = 0; y < h; y++) {
        unsigned char *s = line + (lead ? 1 : 0);
        size_t before = used;
        if (tiler_png_row_samples(cur, rows[y], w, color_of(samples)) < 0)
            FAIL("a grey PNG tile has a pixel that is not grey");
        if (lead) line[0] = y ? FILTER_UP : FILTER_NONE;
        if (y == 0) memcpy(s, cur, stride);
        else for (i = 0; i < stride; i++) s[i] = (unsigned char)(cur[i] - prev[i]);
        z.next_in = line;
        z.avail_in = (uInt)raw;
        /* A full flush: the piece ends on a byte boundary, and the next
         * one refers to nothing before it (other tiles' pieces will lie
         * between them in the PNG). */
        if (pump(&z, Z_FULL_FLUSH, buf, max, &used) < 0 || used - before > tiler_png_tile_piece_max(raw))
            FAIL("cannot deflate row %u of a PNG tile", y);
        put32le(buf + (size_t)y * 8, (uint32_t)(used - before));
        put32le(buf + (size_t)y * 8 + 4, (uint32_t)adler32(adler32(0, NULL, 0), line, (uInt)raw));
        t = prev; prev = cur; cur = t;
    }
    deflateEnd(&z);
    free(cur); free(prev); free(line);
    *out = buf;
    *len = used;
    return 0;
bad:
    if (zok) deflateEnd(&z);
    free(buf); free(cur); free(prev); free(line);
    return -1;
}

/* Checks a table of h entries against the bytes after it (rest). 0 or -1. */
static int table_fits(const unsigned char *table, uint32_t h, size_t rest, size_t raw)
{
    size_t sum = 0, max = tiler_png_tile_piece_max(raw);
    uint32_t y;
    for (y = 0; y < h; y++) {
        size_t n = get32le(table + (size_t)y * 8);
        if (n < 5 || n > max) return -1;
        sum += n;
        if (sum > rest) return -1;
    }
    return sum == rest ? 0 : -1;
}

int tiler_png_tile_plausible(const unsigned char *data, size_t len, uint32_t w, uint32_t h, int samples, int lead)
{
    size_t raw = tiler_png_tile_piece_raw(w, samples, lead), at;
    uint32_t y;
    if (!w || !h || samples < 1 || samples > 4 || len < (size_t)h * 8) return 0;
    if (table_fits(data, h, len - (size_t)h * 8, raw) < 0) return 0;
    for (at = (size_t)h * 8, y = 0; y < h; y++) {
        at += get32le(data + (size_t)y * 8);
        if (memcmp(data + at - 4, "\x00\x00\xff\xff", 4)) return 0;
    }
    return 1;
}

/* Inflates one piece on its own into line (room for raw + 1 bytes) and
 * checks it is what the PNG's stream can hold between two other pieces:
 * exactly raw bytes out, no final block, and its end the end of a block
 * on a byte boundary (zlib's data_type after Z_BLOCK: no bits left over,
 * not in the last block, at a block's start), with the Adler-32 its table
 * says and, for a lead piece, the filter byte of its row. A reference
 * into an earlier piece fails (the stream is reset): it would point into
 * another tile's bytes in the PNG. 0, or -1 with err. */
static int check_piece(z_stream *z, const unsigned char *piece, size_t n, size_t raw, uint32_t adler, int lead,
                       uint32_t y, unsigned char *line, char *err, size_t errlen)
{
    int rc = Z_OK;
    if (inflateReset(z) != Z_OK) FAIL("zlib cannot restart");
    z->next_in = (unsigned char *)piece;
    z->avail_in = (uInt)n;
    z->next_out = line;
    z->avail_out = (uInt)(raw + 1);
    while (z->avail_in && rc == Z_OK) rc = inflate(z, Z_BLOCK);
    if (rc == Z_STREAM_END) FAIL("row %u's piece ends the stream", y);
    if (rc != Z_OK && rc != Z_BUF_ERROR) FAIL("row %u's piece does not inflate: %s", y, z->msg ? z->msg : "zlib error");
    if (z->avail_in || (z->data_type & 0xC7) != 128) FAIL("row %u's piece does not end at the end of a block", y);
    if (z->avail_out != 1) FAIL("row %u's piece inflates to %zu bytes, not its %zu", y, raw + 1 - z->avail_out, raw);
    if ((uint32_t)adler32(adler32(0, NULL, 0), line, (uInt)raw) != adler) FAIL("row %u's piece has a wrong Adler-32", y);
    if (lead && line[0] != (y ? FILTER_UP : FILTER_NONE)) FAIL("row %u's piece has a wrong filter", y);
    return 0;
bad:
    return -1;
}

int tiler_png_tile_decode(const unsigned char *data, size_t len, uint32_t w, uint32_t h, int samples, int lead,
                          unsigned char *out, size_t stride, char *err, size_t errlen)
{
    size_t raw = tiler_png_tile_piece_raw(w, samples, lead), row = (size_t)w * samples, at, i;
    unsigned char *line = NULL;
    z_stream z;
    int zok = 0;
    uint32_t y;

    memset(&z, 0, sizeof(z));
    if (!tiler_png_tile_plausible(data, len, w, h, samples, lead)) FAIL("the PNG tile's row table does not fit it");
    if (!(line = malloc(raw + 1))) FAIL("out of memory for a row of a PNG tile");
    if (inflateInit2(&z, -15) != Z_OK) FAIL("zlib cannot start");
    zok = 1;
    for (at = (size_t)h * 8, y = 0; y < h; y++) {
        size_t n = get32le(data + (size_t)y * 8);
        unsigned char *o = out + (size_t)y * stride, *s = line + (lead ? 1 : 0);
        if (check_piece(&z, data + at, n, raw, get32le(data + (size_t)y * 8 + 4), lead, y, line, err, errlen) < 0)
            goto bad;
        if (y == 0) memcpy(o, s, row);
        else for (i = 0; i < row; i++) o[i] = (unsigned char)(s[i] + (o - stride)[i]);
        at += n;
    }
    inflateEnd(&z);
    free(line);
    return 0;
bad:
    if (zok) inflateEnd(&z);
    free(line);
    return -1;
}

/* Reads exactly n bytes at off. 0, or -1 (errno, or EIO when short). */
static int pread_all(int fd, void *buf, size_t n, uint64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) { if (r == 0) errno = EIO; return -1; }
        got += (size_t)r;
    }
    return 0;
}

int tiler_png_tile_strip(FILE *f, int tiles_fd, const tiler_png_tile_ref *tiles, uint32_t cols, uint32_t width,
                         uint32_t side, uint32_t nrows, int samples, int last, uint32_t chunk_rows, char *err,
                         size_t errlen)
{
    unsigned char head[16], *tables = NULL, *chunk = NULL, *line = NULL;
    size_t table = (size_t)nrows * 8, cap = 0;
    z_stream z;
    int zok = 0;
    char why[256];
    size_t *next = NULL, *at = NULL;   /* per tile: where its next piece is in the file; in chunk */
    uint64_t raw_len = 0;
    uLong adler = adler32(0, NULL, 0);
    off_t start;
    uint32_t i, y, k, n;

    memset(&z, 0, sizeof(z));
    if (!cols || !nrows || !chunk_rows || (uint64_t)(cols - 1) * side >= width || (uint64_t)cols * side < width)
        FAIL("a strip of %u tiles cannot cover %u pixels in %u-pixel tiles", cols, width, side);
    if (!(tables = malloc(table * cols)) || !(next = calloc(cols, sizeof(*next))) || !(at = calloc(cols, sizeof(*at))))
        FAIL("out of memory for the row tables of a strip");
    for (i = 0; i < cols; i++) {
        uint32_t w = width - i * side < side ? width - i * side : side;
        size_t raw = tiler_png_tile_piece_raw(w, samples, i == 0);
        if (tiles[i].len < table || pread_all(tiles_fd, tables + table * i, table, tiles[i].off) < 0
            || table_fits(tables + table * i, nrows, (size_t)(tiles[i].len - table), raw) < 0)
            FAIL("tile %u of the strip is not a PNG tile of %ux%u", i, w, nrows);
        next[i] = 0;
        /* The most a chunk of this tile's pieces can take. */
        cap += (size_t)chunk_rows * tiler_png_tile_piece_max(raw);
    }
    if (!(chunk = malloc(cap)) || !(line = malloc(tiler_png_tile_piece_raw(side, samples, 1) + 1)))
        FAIL("out of memory for a chunk of a strip");
    if (inflateInit2(&z, -15) != Z_OK) FAIL("zlib cannot start");
    zok = 1;
    tiler_png_strip_head(head, 0, 0);
    if ((start = ftello(f)) < 0 || fwrite(head, 1, sizeof(head), f) != sizeof(head)) goto wfail;
    for (y = 0; y < nrows; y += n) {
        size_t used = 0;
        n = nrows - y < chunk_rows ? nrows - y : chunk_rows;
        /* Each tile's pieces of these rows lie together in its payload. */
        for (i = 0; i < cols; i++) {
            size_t bytes = 0;
            for (k = 0; k < n; k++) bytes += get32le(tables + table * i + (size_t)(y + k) * 8);
            if (pread_all(tiles_fd, chunk + used, bytes, tiles[i].off + table + next[i]) < 0)
                FAIL("cannot read tile %u of a strip: %s", i, strerror(errno));
            at[i] = used;
            used += bytes;
            next[i] += bytes;
        }
        for (k = 0; k < n; k++)
            for (i = 0; i < cols; i++) {
                const unsigned char *e = tables + table * i + (size_t)(y + k) * 8;
                size_t len = get32le(e), raw = tiler_png_tile_piece_raw(width - i * side < side ? width - i * side : side,
                                                                        samples, i == 0);
                /* Inflated once to be sure of it: one bad piece would
                 * spoil every row after it in the PNG, not just its own. */
                if (check_piece(&z, chunk + at[i], len, raw, get32le(e + 4), i == 0, y + k, line, why, sizeof(why)) < 0)
                    FAIL("tile %u of the row is not a PNG tile: %s", i, why);
                if (fwrite(chunk + at[i], 1, len, f) != len) goto wfail;
                at[i] += len;
                adler = adler32_combine64(adler, get32le(e + 4), (z_off64_t)raw);
                raw_len += raw;
            }
    }
    /* The last strip ends the stream: an empty final block (fixed codes). */
    if (last && fwrite("\x03\x00", 1, 2, f) != 2) goto wfail;
    tiler_png_strip_head(head, (uint32_t)adler, raw_len);
    if (fseeko(f, start, SEEK_SET) < 0 || fwrite(head, 1, sizeof(head), f) != sizeof(head) || fseeko(f, 0, SEEK_END) < 0
        || fflush(f) != 0)
        goto wfail;
    inflateEnd(&z);
    free(tables); free(chunk); free(next); free(at); free(line);
    return 0;
wfail:
    snprintf(err, errlen, "cannot write a PNG strip: %s", strerror(errno));
bad:
    if (zok) inflateEnd(&z);
    free(tables); free(chunk); free(next); free(at); free(line);
    return -1;
}
