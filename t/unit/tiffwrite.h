/* Test TIFFs written with libtiff from a libgd image (testimg.h), of every
 * kind the decoder takes and some it refuses, and surgery on a written
 * classic little-endian TIFF for the hostile cases. Shared by
 * t/unit/test_tiff.c and t/tools/tiler-mktiff. */
#ifndef TIFFWRITE_H
#define TIFFWRITE_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <gd.h>
#include <tiffio.h>

typedef struct {
    int chans;        /* 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA */
    uint16_t comp;    /* COMPRESSION_*; 0: none */
    uint32_t tile;    /* tile side (a multiple of 16); 0: strips */
    uint32_t tile_h;  /* tile height, if not tile */
    uint32_t rps;     /* rows per strip; 0: libtiff's default */
    int big;          /* BigTIFF */
    int assoc;        /* alpha stored premultiplied (associated) */
    int ycbcr;        /* JPEG: YCbCr, 2x2 subsampled (else RGB) */
    int predictor;    /* LZW/Deflate: horizontal differencing */
    /* Kinds refused: */
    int bits;         /* 16 or 1: samples of that depth (grey or RGB) */
    int cmyk, palette, floats, planes;
} tiffkind;

/* The 8-bit alpha written for libgd's 7-bit a: 0 stays fully transparent
 * and 127 - (A >> 1) gives a back. */
static unsigned tiffw_alpha8(int a) __attribute__((unused));
static unsigned tiffw_alpha8(int a)
{
    return a == gdAlphaMax ? 0 : 255 - 2u * (unsigned)a;
}

/* Sample c of pixel px as written. */
static unsigned tiffw_sample(const tiffkind *k, int px, int c) __attribute__((unused));
static unsigned tiffw_sample(const tiffkind *k, int px, int c)
{
    unsigned a = tiffw_alpha8(gdTrueColorGetAlpha(px)), v;
    int colours = k->chans <= 2 ? 1 : 3;
    if (c == colours) return a;
    v = k->chans <= 2 ? (unsigned)gdTrueColorGetRed(px)
      : (unsigned)(c == 0 ? gdTrueColorGetRed(px) : c == 1 ? gdTrueColorGetGreen(px) : gdTrueColorGetBlue(px));
    if (k->chans % 2 == 0 && k->assoc) v = (v * a + 127) / 255;
    return v;
}

/* Writes im as k says. 0, or -1. */
static int tiffw_write(const char *path, gdImagePtr im, const tiffkind *k) __attribute__((unused));
static int tiffw_write(const char *path, gdImagePtr im, const tiffkind *k)
{
    uint32_t w = (uint32_t)gdImageSX(im), h = (uint32_t)gdImageSY(im), x, y, spp;
    int colours = k->chans <= 2 ? 1 : 3, bps = k->bits ? k->bits : k->floats ? 32 : 8, ok = 1;
    TIFF *t = TIFFOpen(path, k->big ? "w8" : "w");
    unsigned char *buf;
    size_t bpp, line;
    if (!t) return -1;
    spp = k->cmyk ? 4 : k->palette ? 1 : (uint32_t)k->chans;
    bpp = spp * (size_t)(bps >= 8 ? bps / 8 : 1);
    TIFFSetField(t, TIFFTAG_IMAGEWIDTH, w);
    TIFFSetField(t, TIFFTAG_IMAGELENGTH, h);
    TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, bps);
    TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, spp);
    TIFFSetField(t, TIFFTAG_PLANARCONFIG, k->planes ? PLANARCONFIG_SEPARATE : PLANARCONFIG_CONTIG);
    TIFFSetField(t, TIFFTAG_COMPRESSION, k->comp ? k->comp : COMPRESSION_NONE);
    if (k->floats) TIFFSetField(t, TIFFTAG_SAMPLEFORMAT, SAMPLEFORMAT_IEEEFP);
    if (k->cmyk) TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_SEPARATED);
    else if (k->palette) TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_PALETTE);
    else if (k->comp == COMPRESSION_JPEG && k->ycbcr && colours == 3) {
        TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_YCBCR);
        TIFFSetField(t, TIFFTAG_YCBCRSUBSAMPLING, 2, 2);
        TIFFSetField(t, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB);
    } else TIFFSetField(t, TIFFTAG_PHOTOMETRIC, colours == 1 ? PHOTOMETRIC_MINISBLACK : PHOTOMETRIC_RGB);
    if (k->comp == COMPRESSION_JPEG) TIFFSetField(t, TIFFTAG_JPEGQUALITY, 85);
    if (k->predictor) TIFFSetField(t, TIFFTAG_PREDICTOR, PREDICTOR_HORIZONTAL);
    if (k->palette) {
        uint16_t map[3][256];
        int i;
        for (i = 0; i < 256; i++) { map[0][i] = (uint16_t)(i * 257); map[1][i] = (uint16_t)((255 - i) * 257); map[2][i] = 0; }
        TIFFSetField(t, TIFFTAG_COLORMAP, map[0], map[1], map[2]);
    }
    if (!k->cmyk && !k->palette && k->chans % 2 == 0) {
        uint16_t extra = k->assoc ? EXTRASAMPLE_ASSOCALPHA : EXTRASAMPLE_UNASSALPHA;
        TIFFSetField(t, TIFFTAG_EXTRASAMPLES, 1, &extra);
    }
    if (k->tile) {
        TIFFSetField(t, TIFFTAG_TILEWIDTH, k->tile);
        TIFFSetField(t, TIFFTAG_TILELENGTH, k->tile_h ? k->tile_h : k->tile);
    } else {
        TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, k->rps ? k->rps : TIFFDefaultStripSize(t, 0));
    }
    /* The whole image's samples: test images are small. */
    line = bps == 1 ? (w + 7) / 8 : (size_t)w * bpp;
    if (!(buf = calloc(h, line))) { TIFFClose(t); return -1; }
    for (y = 0; y < h; y++)
        for (x = 0; x < w; x++) {
            int px = im->tpixels[y][x];
            uint32_t c;
            unsigned char *p = buf + line * y + (size_t)x * bpp;
            for (c = 0; c < spp; c++) {
                unsigned v = k->cmyk ? (unsigned)((x + c * 50) & 0xff) : k->palette ? (unsigned)(x & 0xff) : tiffw_sample(k, px, (int)c);
                if (bps == 16) { uint16_t s = (uint16_t)(v * 257); memcpy(p + 2 * c, &s, 2); }
                else if (bps == 32) { float fv = (float)v / 255.0f; memcpy(p + 4 * c, &fv, 4); }
                else if (bps == 1) { if (v & 0x80) buf[line * y + x / 8] |= (unsigned char)(0x80 >> (x % 8)); }
                else p[c] = (unsigned char)v;
            }
        }
    if (k->planes) {
        /* Refused kinds only need to be written, not to be right. */
        for (y = 0; y < h && ok; y++) ok = TIFFWriteScanline(t, buf + line * y, y, 0) >= 0;
    } else if (k->tile) {
        size_t tb = (size_t)TIFFTileSize(t);
        unsigned char *tb_buf = calloc(1, tb);
        uint32_t tx, ty, r;
        uint32_t th = k->tile_h ? k->tile_h : k->tile;
        for (ty = 0; ty < h && ok; ty += th)
            for (tx = 0; tx < w && ok; tx += k->tile) {
                memset(tb_buf, 0, tb);
                for (r = 0; r < th && ty + r < h; r++) {
                    uint32_t n = w - tx < k->tile ? w - tx : k->tile;
                    memcpy(tb_buf + (size_t)r * k->tile * bpp, buf + line * (ty + r) + (size_t)tx * bpp, n * bpp);
                }
                ok = TIFFWriteTile(t, tb_buf, tx, ty, 0, 0) >= 0;
            }
        free(tb_buf);
    } else {
        for (y = 0; y < h && ok; y++) ok = TIFFWriteScanline(t, buf + line * y, y, 0) >= 0;
    }
    free(buf);
    ok = ok && TIFFWriteDirectory(t);
    TIFFClose(t);
    return ok ? 0 : -1;
}

/* ---- surgery on a classic little-endian TIFF in memory ---- */

static uint32_t tiffw_le32(const unsigned char *p) __attribute__((unused));
static uint32_t tiffw_le32(const unsigned char *p) { return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static void tiffw_put32(unsigned char *p, uint32_t v) __attribute__((unused));
static void tiffw_put32(unsigned char *p, uint32_t v) { p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); p[2] = (unsigned char)(v >> 16); p[3] = (unsigned char)(v >> 24); }

/* Where the first directory's entry for tag is (NULL if none). */
static unsigned char *tiffw_entry(unsigned char *f, long size, uint16_t tag) __attribute__((unused));
static unsigned char *tiffw_entry(unsigned char *f, long size, uint16_t tag)
{
    uint32_t ifd, i, n;
    if (size < 8 || memcmp(f, "II*\0", 4)) return NULL;
    ifd = tiffw_le32(f + 4);
    if ((long)ifd + 2 > size) return NULL;
    n = f[ifd] | (uint32_t)f[ifd + 1] << 8;
    for (i = 0; i < n && (long)(ifd + 2 + 12 * i + 12) <= size; i++) {
        unsigned char *e = f + ifd + 2 + 12 * i;
        if ((e[0] | e[1] << 8) == tag) return e;
    }
    return NULL;
}

/* Value i of a SHORT or LONG array tag (libtiff writes byte counts as
 * SHORT when they fit): where it lives (in the entry if it fits) and its
 * size, 2 or 4. */
static unsigned char *tiffw_value(unsigned char *f, long size, uint16_t tag, uint32_t i, int *len)
{
    unsigned char *e = tiffw_entry(f, size, tag);
    uint32_t count, at;
    int type;
    if (!e) return NULL;
    type = e[2] | e[3] << 8;
    if (type != TIFF_LONG && type != TIFF_SHORT) return NULL;
    *len = type == TIFF_LONG ? 4 : 2;
    count = tiffw_le32(e + 4);
    if (i >= count) return NULL;
    if (count * (uint32_t)*len <= 4) return e + 8 + *len * i;
    at = tiffw_le32(e + 8) + (uint32_t)*len * i;
    return (long)at + *len <= size ? f + at : NULL;
}

static int tiffw_get(unsigned char *f, long size, uint16_t tag, uint32_t i, uint32_t *v) __attribute__((unused));
static int tiffw_get(unsigned char *f, long size, uint16_t tag, uint32_t i, uint32_t *v)
{
    int len;
    unsigned char *p = tiffw_value(f, size, tag, i, &len);
    if (!p) return -1;
    *v = len == 4 ? tiffw_le32(p) : (uint32_t)(p[0] | p[1] << 8);
    return 0;
}

/* A SHORT value keeps its low 16 bits. */
static int tiffw_set(unsigned char *f, long size, uint16_t tag, uint32_t i, uint32_t v) __attribute__((unused));
static int tiffw_set(unsigned char *f, long size, uint16_t tag, uint32_t i, uint32_t v)
{
    int len;
    unsigned char *p = tiffw_value(f, size, tag, i, &len);
    if (!p) return -1;
    if (len == 4) tiffw_put32(p, v);
    else { p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); }
    return 0;
}

/* Sets a SHORT or LONG single-valued tag (ImageWidth, ImageLength). */
static int tiffw_set_size(unsigned char *f, long size, uint16_t tag, uint32_t v) __attribute__((unused));
static int tiffw_set_size(unsigned char *f, long size, uint16_t tag, uint32_t v)
{
    unsigned char *e = tiffw_entry(f, size, tag);
    if (!e) return -1;
    e[2] = TIFF_LONG; e[3] = 0;
    tiffw_put32(e + 4, 1);
    tiffw_put32(e + 8, v);
    return 0;
}

/* The first directory's next-directory offset, set to point at itself. */
static int tiffw_ifd_loop(unsigned char *f, long size) __attribute__((unused));
static int tiffw_ifd_loop(unsigned char *f, long size)
{
    uint32_t ifd = tiffw_le32(f + 4), n;
    if ((long)ifd + 2 > size) return -1;
    n = f[ifd] | (uint32_t)f[ifd + 1] << 8;
    if ((long)(ifd + 2 + 12 * n + 4) > size) return -1;
    tiffw_put32(f + ifd + 2 + 12 * n, ifd);
    return 0;
}

#endif
