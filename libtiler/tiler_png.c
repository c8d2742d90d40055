#include "tiler_png.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include "tiler_defaults.h"

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); goto bad; } while (0)
#define IDAT_MAX (256 * 1024)       /* bytes per IDAT chunk */
#define STRIP_MAGIC "TPS1"

int tiler_png_has_alpha(const int *pixels, size_t n)
{
    size_t i;
    int any = 0;
    /* No early exit: the loop vectorises, and opaque images are the rule. */
    for (i = 0; i < n; i++) any |= pixels[i] & 0x7f000000;
    return any != 0;
}

int tiler_png_is_gray(const int *pixels, size_t n)
{
    size_t i;
    int off = 0;
    for (i = 0; i < n; i++) {
        unsigned v = (unsigned)pixels[i];
        off |= (int)(((v >> 16) ^ (v >> 8)) & 0xff) | (int)(((v >> 8) ^ v) & 0xff);
    }
    return off == 0;
}

int tiler_png_color(int alpha, int gray)
{
    return gray ? (alpha ? TILER_PNG_GRAY_ALPHA : TILER_PNG_GRAY) : (alpha ? TILER_PNG_RGBA : TILER_PNG_RGB);
}

static size_t bytes_per_pixel(int color)
{
    return color == TILER_PNG_GRAY ? 1 : color == TILER_PNG_GRAY_ALPHA ? 2 : color == TILER_PNG_RGB ? 3 : 4;
}

static unsigned char alpha8(unsigned v)
{
    unsigned a = (v >> 24) & 0x7f;
    return (unsigned char)(255 - ((a << 1) + (a >> 6)));
}

/* One row as PNG samples of the colour type. -1 when a gray type meets a
 * pixel that is not gray. */
static int row_samples(unsigned char *dst, const int *src, uint32_t width, int color)
{
    uint32_t x;
    int off = 0;
    for (x = 0; x < width; x++) {
        unsigned v = (unsigned)src[x];
        unsigned char r = (unsigned char)(v >> 16), g = (unsigned char)(v >> 8), b = (unsigned char)v;
        switch (color) {
        case TILER_PNG_GRAY: off |= (r ^ g) | (g ^ b); *dst++ = g; break;
        case TILER_PNG_GRAY_ALPHA: off |= (r ^ g) | (g ^ b); *dst++ = g; *dst++ = alpha8(v); break;
        case TILER_PNG_RGB: *dst++ = r; *dst++ = g; *dst++ = b; break;
        default: *dst++ = r; *dst++ = g; *dst++ = b; *dst++ = alpha8(v); break;
        }
    }
    return off ? -1 : 0;
}

int tiler_png_strip_encode(const int *const *rows, uint32_t width, uint32_t nrows, int color, int level, int last,
                           tiler_png_strip *out, char *err, size_t errlen)
{
    size_t bpp = bytes_per_pixel(color), stride = (size_t)width * bpp;
    unsigned char *prev = calloc(1, stride), *cur = malloc(stride), *line = malloc(stride + 1);
    z_stream z;
    uLong bound;
    uint32_t y;
    int zok = 0, rc;

    memset(out, 0, sizeof(*out));
    memset(&z, 0, sizeof(z));
    if (!prev || !cur || !line) FAIL("out of memory encoding a PNG strip");
    /* Raw deflate (negative window bits): the zlib header and the Adler-32
     * are written once for the whole file by tiler_png_write. */
    if (deflateInit2(&z, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) FAIL("zlib: cannot start deflate");
    zok = 1;
    bound = deflateBound(&z, (uLong)((stride + 1) * nrows)) + 64;
    if (!(out->data = malloc(bound))) FAIL("out of memory encoding a PNG strip");
    z.next_out = out->data;
    z.avail_out = (uInt)bound;
    out->adler = (uint32_t)adler32(0, NULL, 0);
    for (y = 0; y < nrows; y++) {
        size_t i;
        unsigned char *t;
        if (row_samples(cur, rows[y], width, color) < 0) FAIL("row %u is not gray; cannot write it as gray", y);
        if (y == 0) {
            line[0] = 1;   /* Sub: nothing from the strip above */
            for (i = 0; i < bpp && i < stride; i++) line[i + 1] = cur[i];
            for (; i < stride; i++) line[i + 1] = (unsigned char)(cur[i] - cur[i - bpp]);
        } else {
            line[0] = 2;   /* Up */
            for (i = 0; i < stride; i++) line[i + 1] = (unsigned char)(cur[i] - prev[i]);
        }
        out->adler = (uint32_t)adler32(out->adler, line, (uInt)(stride + 1));
        z.next_in = line;
        z.avail_in = (uInt)(stride + 1);
        if (deflate(&z, Z_NO_FLUSH) != Z_OK || z.avail_in) FAIL("zlib: deflate failed");
        t = prev; prev = cur; cur = t;
    }
    /* A sync flush ends the strip on a byte boundary with the block open
     * for more: the next strip's data may follow it directly. */
    rc = deflate(&z, last ? Z_FINISH : Z_SYNC_FLUSH);
    if (last ? rc != Z_STREAM_END : rc != Z_OK) FAIL("zlib: cannot end the strip");
    out->len = bound - z.avail_out;
    out->raw_len = (uint64_t)(stride + 1) * nrows;
    deflateEnd(&z);
    free(prev); free(cur); free(line);
    return 0;
bad:
    if (zok) deflateEnd(&z);
    free(prev); free(cur); free(line);
    tiler_png_strip_free(out);
    return -1;
}

void tiler_png_strip_free(tiler_png_strip *s)
{
    free(s->data);
    s->data = NULL;
    s->len = 0;
}

static void put32be(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24); p[1] = (unsigned char)(v >> 16); p[2] = (unsigned char)(v >> 8); p[3] = (unsigned char)v;
}

static uint32_t get32be(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int tiler_png_strip_save(const char *path, const tiler_png_strip *s, char *err, size_t errlen)
{
    unsigned char head[16];
    char tmp[4200];
    FILE *f = NULL;
    int fd;
    /* A name of its own: the same strip may be written twice at once (a
     * row's strip task still running when the job's finish makes the strips
     * it does not see yet). Both write the same bytes; either rename wins. */
    snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);
    memcpy(head, STRIP_MAGIC, 4);
    put32be(head + 4, s->adler);
    put32be(head + 8, (uint32_t)(s->raw_len >> 32));
    put32be(head + 12, (uint32_t)s->raw_len);
    if ((fd = mkstemp(tmp)) < 0) FAIL("cannot write %s: %s", tmp, strerror(errno));
    if (!(f = fdopen(fd, "wb"))) { close(fd); remove(tmp); FAIL("cannot write %s: %s", tmp, strerror(errno)); }
    if (fwrite(head, 1, sizeof(head), f) != sizeof(head) || fwrite(s->data, 1, s->len, f) != s->len)
        FAIL("cannot write a PNG strip: %s", strerror(errno));
    if (fclose(f) != 0) { f = NULL; FAIL("cannot write a PNG strip: %s", strerror(errno)); }
    f = NULL;
    if (rename(tmp, path) < 0) FAIL("cannot place a PNG strip: %s", strerror(errno));
    return 0;
bad:
    if (f) fclose(f);
    remove(tmp);
    return -1;
}

int tiler_png_strip_load(const char *path, tiler_png_strip *s, char *err, size_t errlen)
{
    unsigned char head[16];
    long size;
    FILE *f;
    memset(s, 0, sizeof(*s));
    if (!(f = fopen(path, "rb"))) { snprintf(err, errlen, "no PNG strip %s: %s", path, strerror(errno)); return -1; }
    if (fseek(f, 0, SEEK_END) < 0 || (size = ftell(f)) < (long)sizeof(head) || fseek(f, 0, SEEK_SET) < 0
        || fread(head, 1, sizeof(head), f) != sizeof(head) || memcmp(head, STRIP_MAGIC, 4))
        FAIL("%s is not a PNG strip", path);
    s->adler = get32be(head + 4);
    s->raw_len = (uint64_t)get32be(head + 8) << 32 | get32be(head + 12);
    s->len = (size_t)size - sizeof(head);
    if (!(s->data = malloc(s->len ? s->len : 1))) FAIL("out of memory reading a PNG strip");
    if (fread(s->data, 1, s->len, f) != s->len) FAIL("cannot read %s", path);
    fclose(f);
    return 0;
bad:
    fclose(f);
    tiler_png_strip_free(s);
    return -1;
}

/* Chunk data goes through a buffer that is cut into IDAT chunks. */
struct tiler_png_writer {
    FILE *f;
    unsigned char buf[IDAT_MAX];
    size_t n;
    uLong adler;
    int failed;
};

static void chunk(tiler_png_writer *w, const char *type, const unsigned char *data, size_t len)
{
    unsigned char head[8], tail[4];
    uLong crc = crc32(0, (const Bytef *)type, 4);
    if (len) crc = crc32(crc, data, (uInt)len);
    put32be(head, (uint32_t)len);
    memcpy(head + 4, type, 4);
    put32be(tail, (uint32_t)crc);
    if (fwrite(head, 1, 8, w->f) != 8 || (len && fwrite(data, 1, len, w->f) != len) || fwrite(tail, 1, 4, w->f) != 4)
        w->failed = 1;
}

static void idat_push(tiler_png_writer *w, const unsigned char *data, size_t len)
{
    while (len) {
        size_t take = IDAT_MAX - w->n < len ? IDAT_MAX - w->n : len;
        memcpy(w->buf + w->n, data, take);
        w->n += take; data += take; len -= take;
        if (w->n == IDAT_MAX) { chunk(w, "IDAT", w->buf, w->n); w->n = 0; }
    }
}

tiler_png_writer *tiler_png_begin(FILE *f, uint32_t width, uint32_t height, int color)
{
    static const unsigned char sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
    /* zlib header: deflate, 32 KiB window, no dictionary; 0x78 0x01 is a
     * valid check pair for any level (the level field is advisory). */
    static const unsigned char zhead[2] = { 0x78, 0x01 };
    unsigned char ihdr[13];
    tiler_png_writer *w = calloc(1, sizeof(*w));
    if (!w) return NULL;
    w->f = f;
    w->adler = adler32(0, NULL, 0);
    put32be(ihdr, width);
    put32be(ihdr + 4, height);
    ihdr[8] = 8;                 /* bits per sample */
    ihdr[9] = (unsigned char)color;
    ihdr[10] = ihdr[11] = ihdr[12] = 0;   /* deflate, adaptive filtering, no interlace */
    if (fwrite(sig, 1, 8, f) != 8) w->failed = 1;
    chunk(w, "IHDR", ihdr, sizeof(ihdr));
    idat_push(w, zhead, 2);
    return w;
}

void tiler_png_add(tiler_png_writer *w, const tiler_png_strip *s)
{
    idat_push(w, s->data, s->len);
    w->adler = adler32_combine64(w->adler, s->adler, (z_off64_t)s->raw_len);
}

int tiler_png_end(tiler_png_writer *w, char *err, size_t errlen)
{
    unsigned char trailer[4];
    int failed;
    if (!w) { snprintf(err, errlen, "out of memory writing a PNG"); return -1; }
    put32be(trailer, (uint32_t)w->adler);
    idat_push(w, trailer, 4);
    if (w->n) chunk(w, "IDAT", w->buf, w->n);
    chunk(w, "IEND", NULL, 0);
    failed = w->failed || fflush(w->f) != 0;
    free(w);
    if (failed) { snprintf(err, errlen, "cannot write the PNG: %s", strerror(errno)); return -1; }
    return 0;
}

int tiler_png_write(FILE *f, uint32_t width, uint32_t height, int color, const tiler_png_strip *strips, int n,
                    char *err, size_t errlen)
{
    tiler_png_writer *w = tiler_png_begin(f, width, height, color);
    int i;
    for (i = 0; w && i < n; i++) tiler_png_add(w, &strips[i]);
    return tiler_png_end(w, err, errlen);
}

int tiler_png_save_image(gdImagePtr im, FILE *f, int level, char *err, size_t errlen)
{
    uint32_t w = (uint32_t)gdImageSX(im), h = (uint32_t)gdImageSY(im), y, i;
    int n = (int)((h + TILER_PNG_STRIP_ROWS - 1) / TILER_PNG_STRIP_ROWS), k, alpha = 0, gray = 1, color, rc = -1;
    tiler_png_strip *strips = calloc((size_t)n, sizeof(*strips));
    if (!gdImageTrueColor(im)) { snprintf(err, errlen, "not a truecolor image"); free(strips); return -1; }
    if (!strips) { snprintf(err, errlen, "out of memory writing a PNG"); return -1; }
    for (y = 0; y < h && !alpha; y++) alpha = tiler_png_has_alpha(im->tpixels[y], w);
    for (y = 0; y < h && gray; y++) gray = tiler_png_is_gray(im->tpixels[y], w);
    color = tiler_png_color(alpha, gray);
    for (k = 0; k < n; k++) {
        uint32_t top = (uint32_t)k * TILER_PNG_STRIP_ROWS, rows = h - top < TILER_PNG_STRIP_ROWS ? h - top : TILER_PNG_STRIP_ROWS;
        if (tiler_png_strip_encode((const int *const *)im->tpixels + top, w, rows, color, level, k == n - 1,
                                   &strips[k], err, errlen) < 0)
            goto out;
    }
    rc = tiler_png_write(f, w, h, color, strips, n, err, errlen);
out:
    for (i = 0; i < (uint32_t)n; i++) tiler_png_strip_free(&strips[i]);
    free(strips);
    return rc;
}
