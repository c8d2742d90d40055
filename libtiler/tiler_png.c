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

size_t tiler_png_pixel_bytes(int color)
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
int tiler_png_row_samples(unsigned char *dst, const int *src, uint32_t width, int color)
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

static void put32be(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24); p[1] = (unsigned char)(v >> 16); p[2] = (unsigned char)(v >> 8); p[3] = (unsigned char)v;
}

static uint32_t get32be(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A strip being filtered and deflated, row by row. With a file, the
 * deflated bytes go to it through obuf as they come (the strip is never
 * whole in memory); without one, obuf is the whole strip's room. */
typedef struct {
    z_stream z;
    int zok;
    int color;
    size_t bpp, stride;
    unsigned char *prev, *cur, *line;
    uint32_t y, nrows;
    uint32_t adler;
    FILE *f;                 /* NULL: in memory */
    int wfail;               /* writing to f failed (errno in werr) */
    int werr;
    unsigned char *obuf;
    size_t osize;
} strip_state;

#define STRIP_OUT_BUF (64 * 1024)

static int state_init(strip_state *s, uint32_t width, uint32_t nrows, int color, int level)
{
    memset(s, 0, sizeof(*s));
    s->color = color;
    s->bpp = tiler_png_pixel_bytes(color);
    s->stride = (size_t)width * s->bpp;
    s->nrows = nrows;
    s->prev = calloc(1, s->stride);
    s->cur = malloc(s->stride);
    s->line = malloc(s->stride + 1);
    if (!s->prev || !s->cur || !s->line) return -1;
    /* Raw deflate (negative window bits): the zlib header and the Adler-32
     * are written once for the whole file by tiler_png_write. */
    if (deflateInit2(&s->z, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) return -1;
    s->zok = 1;
    s->adler = (uint32_t)adler32(0, NULL, 0);
    return 0;
}

static void state_free(strip_state *s)
{
    if (s->zok) deflateEnd(&s->z);
    s->zok = 0;
    free(s->prev); free(s->cur); free(s->line);
    s->prev = s->cur = s->line = NULL;
}

/* Writes out what obuf holds and makes it empty again. */
static int drain(strip_state *s)
{
    size_t n = s->osize - s->z.avail_out;
    if (n && fwrite(s->obuf, 1, n, s->f) != n) { s->wfail = 1; s->werr = errno; return -1; }
    s->z.next_out = s->obuf;
    s->z.avail_out = (uInt)s->osize;
    return 0;
}

/* Deflates the input in z with flush. zlib makes the same bytes however
 * its output is cut, so a strip to a file equals one made in memory. */
static int pump(strip_state *s, int flush)
{
    int rc;
    for (;;) {
        rc = deflate(&s->z, flush);
        if (rc == Z_STREAM_ERROR) return -1;
        if (!s->f || s->z.avail_out) break;
        if (drain(s) < 0) return -1;   /* full: more may be pending */
    }
    if (s->z.avail_in) return -1;
    if (flush == Z_FINISH) return rc == Z_STREAM_END ? 0 : -1;
    return rc == Z_OK || rc == Z_BUF_ERROR ? 0 : -1;
}

static int pump_failed(const strip_state *s, const char *why, char *err, size_t errlen)
{
    if (s->wfail) snprintf(err, errlen, "cannot write a PNG strip: %s", strerror(s->werr));
    else snprintf(err, errlen, "%s", why);
    return -1;
}

/* Filters and deflates the strip's next row, in cur as samples. -1 when
 * zlib fails. */
static int state_filter(strip_state *s, char *err, size_t errlen)
{
    size_t i, bpp = s->bpp, stride = s->stride;
    unsigned char *t, *cur = s->cur, *line = s->line;
    if (s->y == 0) {
        line[0] = 1;   /* Sub: nothing from the strip above */
        for (i = 0; i < bpp && i < stride; i++) line[i + 1] = cur[i];
        for (; i < stride; i++) line[i + 1] = (unsigned char)(cur[i] - cur[i - bpp]);
    } else {
        line[0] = 2;   /* Up */
        for (i = 0; i < stride; i++) line[i + 1] = (unsigned char)(cur[i] - s->prev[i]);
    }
    s->adler = (uint32_t)adler32(s->adler, line, (uInt)(stride + 1));
    s->z.next_in = line;
    s->z.avail_in = (uInt)(stride + 1);
    if (pump(s, Z_NO_FLUSH) < 0) return pump_failed(s, "zlib: deflate failed", err, errlen);
    t = s->prev; s->prev = s->cur; s->cur = t;
    s->y++;
    return 0;
}

/* The same for a row of gd values. -1 also when a gray type meets a pixel
 * that is not gray (err says so). */
static int state_row(strip_state *s, const int *row, char *err, size_t errlen)
{
    if (tiler_png_row_samples(s->cur, row, (uint32_t)(s->stride / s->bpp), s->color) < 0) {
        snprintf(err, errlen, "row %u is not gray; cannot write it as gray", s->y);
        return -1;
    }
    return state_filter(s, err, errlen);
}

/* Ends the strip: a sync flush ends it on a byte boundary with the block
 * open for more, so the next strip's data may follow it directly; the
 * image's last strip finishes the stream. */
static int state_end(strip_state *s, int last, char *err, size_t errlen)
{
    if (pump(s, last ? Z_FINISH : Z_SYNC_FLUSH) < 0) return pump_failed(s, "zlib: cannot end the strip", err, errlen);
    return 0;
}

int tiler_png_strip_encode(const int *const *rows, uint32_t width, uint32_t nrows, int color, int level, int last,
                           tiler_png_strip *out, char *err, size_t errlen)
{
    strip_state s;
    uLong bound;
    uint32_t y;

    memset(out, 0, sizeof(*out));
    if (state_init(&s, width, nrows, color, level) < 0) FAIL("out of memory encoding a PNG strip");
    bound = deflateBound(&s.z, (uLong)((s.stride + 1) * nrows)) + 64;
    if (!(out->data = malloc(bound))) FAIL("out of memory encoding a PNG strip");
    s.obuf = out->data;
    s.osize = bound;
    s.z.next_out = out->data;
    s.z.avail_out = (uInt)bound;
    for (y = 0; y < nrows; y++)
        if (state_row(&s, rows[y], err, errlen) < 0) goto bad;
    if (state_end(&s, last, err, errlen) < 0) goto bad;
    out->len = bound - s.z.avail_out;
    out->raw_len = (uint64_t)(s.stride + 1) * nrows;
    out->adler = s.adler;
    state_free(&s);
    return 0;
bad:
    state_free(&s);
    tiler_png_strip_free(out);
    return -1;
}

void tiler_png_strip_head(unsigned char head[16], uint32_t adler, uint64_t raw_len)
{
    memcpy(head, STRIP_MAGIC, 4);
    put32be(head + 4, adler);
    put32be(head + 8, (uint32_t)(raw_len >> 32));
    put32be(head + 12, (uint32_t)raw_len);
}

struct tiler_png_strip_out {
    strip_state s;
    int last;
    off_t at;                /* where the strip's head is in f */
    unsigned char obuf[STRIP_OUT_BUF];
};

tiler_png_strip_out *tiler_png_strip_out_begin(FILE *f, uint32_t width, uint32_t nrows, int color, int level, int last,
                                               char *err, size_t errlen)
{
    unsigned char head[16];
    tiler_png_strip_out *o = calloc(1, sizeof(*o));
    if (!o) { snprintf(err, errlen, "out of memory encoding a PNG strip"); return NULL; }
    if (state_init(&o->s, width, nrows, color, level) < 0) {
        snprintf(err, errlen, "out of memory encoding a PNG strip");
        goto bad;
    }
    o->last = last;
    o->s.f = f;
    o->s.obuf = o->obuf;
    o->s.osize = sizeof(o->obuf);
    o->s.z.next_out = o->obuf;
    o->s.z.avail_out = (uInt)sizeof(o->obuf);
    /* The head's Adler-32 is known at the end: a place for it now. */
    tiler_png_strip_head(head, 0, 0);
    if ((o->at = ftello(f)) < 0 || fwrite(head, 1, sizeof(head), f) != sizeof(head)) {
        snprintf(err, errlen, "cannot write a PNG strip: %s", strerror(errno));
        goto bad;
    }
    return o;
bad:
    state_free(&o->s);
    free(o);
    return NULL;
}

int tiler_png_strip_out_rows(tiler_png_strip_out *o, const int *rows, uint32_t n, char *err, size_t errlen)
{
    size_t width = o->s.stride / o->s.bpp;
    uint32_t y;
    if (n > o->s.nrows - o->s.y) { snprintf(err, errlen, "%u rows past the strip's %u", n, o->s.nrows); return -1; }
    for (y = 0; y < n; y++)
        if (state_row(&o->s, rows + y * width, err, errlen) < 0) return -1;
    return 0;
}

int tiler_png_strip_out_samples(tiler_png_strip_out *o, const unsigned char *rows, uint32_t n, char *err, size_t errlen)
{
    uint32_t y;
    if (n > o->s.nrows - o->s.y) { snprintf(err, errlen, "%u rows past the strip's %u", n, o->s.nrows); return -1; }
    for (y = 0; y < n; y++) {
        /* Copied: the row above must outlive the caller's buffer. */
        memcpy(o->s.cur, rows + (size_t)y * o->s.stride, o->s.stride);
        if (state_filter(&o->s, err, errlen) < 0) return -1;
    }
    return 0;
}

int tiler_png_strip_out_end(tiler_png_strip_out *o, char *err, size_t errlen)
{
    unsigned char head[16];
    int rc = -1;
    if (o->s.y != o->s.nrows) {
        snprintf(err, errlen, "the PNG strip got %u of its %u rows", o->s.y, o->s.nrows);
    } else if (state_end(&o->s, o->last, err, errlen) == 0) {
        tiler_png_strip_head(head, o->s.adler, (uint64_t)(o->s.stride + 1) * o->s.nrows);
        if (drain(&o->s) < 0 || fseeko(o->s.f, o->at, SEEK_SET) < 0 || fwrite(head, 1, sizeof(head), o->s.f) != sizeof(head)
            || fseeko(o->s.f, 0, SEEK_END) < 0 || fflush(o->s.f) != 0)
            snprintf(err, errlen, "cannot write a PNG strip: %s", strerror(errno));
        else
            rc = 0;
    }
    state_free(&o->s);
    free(o);
    return rc;
}

void tiler_png_strip_free(tiler_png_strip *s)
{
    free(s->data);
    s->data = NULL;
    s->len = 0;
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
    tiler_png_strip_head(head, s->adler, s->raw_len);
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

int tiler_png_add_file(tiler_png_writer *w, const char *path, char *err, size_t errlen)
{
    unsigned char head[16], *buf;
    uint64_t raw_len;
    size_t n;
    int rc = 0;
    FILE *f = fopen(path, "rb");
    if (!f) { snprintf(err, errlen, "no PNG strip %s: %s", path, strerror(errno)); return -1; }
    if (fread(head, 1, sizeof(head), f) != sizeof(head) || memcmp(head, STRIP_MAGIC, 4)) {
        snprintf(err, errlen, "%s is not a PNG strip", path);
        fclose(f);
        return -1;
    }
    if (!(buf = malloc(STRIP_OUT_BUF))) { snprintf(err, errlen, "out of memory joining a PNG"); fclose(f); return -1; }
    raw_len = (uint64_t)get32be(head + 8) << 32 | get32be(head + 12);
    while ((n = fread(buf, 1, STRIP_OUT_BUF, f)) > 0) idat_push(w, buf, n);
    if (ferror(f)) { snprintf(err, errlen, "cannot read %s", path); rc = -1; }
    else w->adler = adler32_combine64(w->adler, get32be(head + 4), (z_off64_t)raw_len);
    free(buf);
    fclose(f);
    return rc;
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
