#include "tiler_image.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <stdarg.h>
#include <string.h>

#include "tiler_defaults.h"
#include "tiler_jpeg.h"
#include "tiler_jpeg_out.h"
#include "tiler_png.h"
#include "tiler_png_rows.h"
#include "tiler_tiff.h"
#include "tiler_webp.h"

static _Thread_local char gd_last_error[256];

static void gd_error_to_buffer(int priority, const char *format, va_list args)
{
    size_t n;
    (void)priority;
    vsnprintf(gd_last_error, sizeof(gd_last_error), format, args);
    n = strlen(gd_last_error);
    while (n && (gd_last_error[n - 1] == '\n' || gd_last_error[n - 1] == '\r')) gd_last_error[--n] = '\0';
}

void tiler_gd_errors_capture(void)
{
    gdSetErrorMethod(gd_error_to_buffer);
}

const char *tiler_format_name(tiler_format f)
{
    switch (f) {
    case TILER_FMT_PNG: return "png";
    case TILER_FMT_JPEG: return "jpeg";
    case TILER_FMT_GIF: return "gif";
    case TILER_FMT_BMP: return "bmp";
    case TILER_FMT_WEBP: return "webp";
    case TILER_FMT_TIFF: return "tiff";
    default: return "unknown";
    }
}

const char *tiler_format_mime(tiler_format f)
{
    switch (f) {
    case TILER_FMT_PNG: return "image/png";
    case TILER_FMT_JPEG: return "image/jpeg";
    case TILER_FMT_GIF: return "image/gif";
    case TILER_FMT_BMP: return "image/bmp";
    case TILER_FMT_WEBP: return "image/webp";
    case TILER_FMT_TIFF: return "image/tiff";
    default: return "application/octet-stream";
    }
}

tiler_format tiler_output_format_parse(const char *s)
{
    if (!strcmp(s, "png")) return TILER_FMT_PNG;
    if (!strcmp(s, "jpeg") || !strcmp(s, "jpg")) return TILER_FMT_JPEG;
    if (!strcmp(s, "tiff") || !strcmp(s, "tif")) return TILER_FMT_TIFF;
    return TILER_FMT_UNKNOWN;
}

tiler_format tiler_sniff(const unsigned char *b, size_t n)
{
    if (n >= 8 && !memcmp(b, "\x89PNG\r\n\x1a\n", 8)) return TILER_FMT_PNG;
    if (n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff) return TILER_FMT_JPEG;
    if (n >= 6 && (!memcmp(b, "GIF87a", 6) || !memcmp(b, "GIF89a", 6))) return TILER_FMT_GIF;
    if (n >= 2 && b[0] == 'B' && b[1] == 'M') return TILER_FMT_BMP;
    if (n >= 12 && !memcmp(b, "RIFF", 4) && !memcmp(b + 8, "WEBP", 4)) return TILER_FMT_WEBP;
    /* Classic TIFF (42) and BigTIFF (43), either byte order. */
    if (n >= 4 && (!memcmp(b, "II*\0", 4) || !memcmp(b, "MM\0*", 4) || !memcmp(b, "II+\0", 4) || !memcmp(b, "MM\0+", 4)))
        return TILER_FMT_TIFF;
    return TILER_FMT_UNKNOWN;
}

tiler_format tiler_sniff_file(FILE *f)
{
    unsigned char b[12];
    size_t n = fread(b, 1, sizeof(b), f);
    return fseek(f, 0, SEEK_SET) == 0 ? tiler_sniff(b, n) : TILER_FMT_UNKNOWN;
}

static uint32_t be16(const unsigned char *p) { return (uint32_t)p[0] << 8 | p[1]; }
static uint32_t be32(const unsigned char *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static uint32_t le16(const unsigned char *p) { return p[0] | (uint32_t)p[1] << 8; }
static uint32_t le24(const unsigned char *p) { return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16; }
static uint32_t le32(const unsigned char *p) { return le24(p) | (uint32_t)p[3] << 24; }

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)

/* Walks JPEG segments up to the first start-of-frame marker. */
static int probe_jpeg(FILE *f, uint32_t *w, uint32_t *h, int *sof, int *comps, char *err, size_t errlen)
{
    unsigned char seg[8];
    int c, guard;
    if (fseek(f, 2, SEEK_SET)) FAIL("JPEG is truncated");
    for (guard = 0; guard < 10000; guard++) {
        do { c = fgetc(f); } while (c != EOF && c != 0xff);
        do { c = fgetc(f); } while (c == 0xff);
        if (c == EOF) FAIL("JPEG ends before its frame header");
        if (c == 0xd8 || c == 0x01 || (c >= 0xd0 && c <= 0xd7)) continue; /* no length */
        if (c == 0xd9 || c == 0xda) FAIL("JPEG has no frame header before its image data");
        if (fread(seg, 1, 2, f) != 2) FAIL("JPEG is truncated");
        if (be16(seg) < 2) FAIL("JPEG has a corrupt segment length");
        if (c >= 0xc0 && c <= 0xcf && c != 0xc4 && c != 0xc8 && c != 0xcc) {
            if (fread(seg + 2, 1, 6, f) != 6) FAIL("JPEG frame header is truncated");
            *h = be16(seg + 3);
            *w = be16(seg + 5);
            *sof = c;
            *comps = seg[7];
            return 0;
        }
        if (fseek(f, (long)be16(seg) - 2, SEEK_CUR)) FAIL("JPEG is truncated");
    }
    FAIL("JPEG has too many segments before its frame header");
}

int tiler_probe_file(FILE *f, tiler_format *fmt, uint32_t *w, uint32_t *h, char *err, size_t errlen)
{
    unsigned char b[32];
    size_t n;
    int sof, comps;
    memset(b, 0, sizeof(b));
    rewind(f);
    n = fread(b, 1, sizeof(b), f);
    *fmt = tiler_sniff(b, n);
    *w = *h = 0;
    switch (*fmt) {
    case TILER_FMT_PNG:
        if (n < 24 || memcmp(b + 12, "IHDR", 4)) FAIL("PNG is truncated or has no IHDR chunk");
        *w = be32(b + 16); *h = be32(b + 20);
        break;
    case TILER_FMT_JPEG:
        if (probe_jpeg(f, w, h, &sof, &comps, err, errlen) < 0) return -1;
        break;
    case TILER_FMT_GIF:
        if (n < 10) FAIL("GIF is truncated");
        *w = le16(b + 6); *h = le16(b + 8);
        break;
    case TILER_FMT_BMP: {
        uint32_t dib;
        if (n < 26) FAIL("BMP is truncated");
        dib = le32(b + 14);
        if (dib == 12) { *w = le16(b + 18); *h = le16(b + 20); }
        else {
            int32_t sw = (int32_t)le32(b + 18), sh = (int32_t)le32(b + 22);
            if (sw <= 0 || sh == INT32_MIN) FAIL("BMP header has an invalid size");
            *w = (uint32_t)sw; *h = (uint32_t)(sh < 0 ? -sh : sh);
        }
        break;
    }
    case TILER_FMT_WEBP:
        if (n < 30) FAIL("WebP is truncated");
        if (!memcmp(b + 12, "VP8X", 4)) { *w = le24(b + 24) + 1; *h = le24(b + 27) + 1; }
        else if (!memcmp(b + 12, "VP8L", 4)) {
            uint32_t bits = le32(b + 21);
            if (b[20] != 0x2f) FAIL("WebP lossless header is corrupt");
            *w = (bits & 0x3fff) + 1; *h = ((bits >> 14) & 0x3fff) + 1;
        } else if (!memcmp(b + 12, "VP8 ", 4)) {
            if (b[23] != 0x9d || b[24] != 0x01 || b[25] != 0x2a) FAIL("WebP lossy header is corrupt");
            *w = le16(b + 26) & 0x3fff; *h = le16(b + 28) & 0x3fff;
        } else FAIL("WebP has an unknown first chunk");
        break;
    case TILER_FMT_TIFF: {
        /* libtiff reads the first directory (no pixels); a kind not
         * decoded here is -2. */
        int rc = tiler_tiff_probe(f, w, h, err, errlen);
        if (rc < 0) return rc;
        break;
    }
    default:
        FAIL("not a PNG, JPEG, GIF, BMP, WebP or TIFF image");
    }
    if (!*w || !*h) FAIL("%s header gives a zero size", tiler_format_name(*fmt));
    return 0;
}

const char *tiler_decodes_whole(FILE *f, tiler_format fmt)
{
    unsigned char b[32];
    uint32_t w, h;
    int sof, comps;
    char err[128];
    (void)comps;
    switch (fmt) {
    case TILER_FMT_PNG:
        rewind(f);
        /* IHDR's interlace method */
        return fread(b, 1, 29, f) != 29 || b[28] != 0 ? "an interlaced PNG" : NULL;
    case TILER_FMT_JPEG:
        /* Baseline, extended and arithmetic sequential frames decode a few
         * rows at a time; progressive ones fill a whole coefficient image. */
        if (probe_jpeg(f, &w, &h, &sof, &comps, err, sizeof(err)) < 0) return "a JPEG with an unreadable header";
        return sof == 0xc0 || sof == 0xc1 || sof == 0xc9 ? NULL : "a progressive JPEG";
    case TILER_FMT_GIF: return "a GIF";
    case TILER_FMT_BMP: return "a BMP";
    case TILER_FMT_WEBP: return "a WebP";
    /* A row of TIFF tiles, or a strip's compressed bytes (at most
     * TILER_TIFF_MAX_ALLOC): tiler_tiff.h. */
    case TILER_FMT_TIFF: return NULL;
    default: return "an unknown format";
    }
}

int tiler_check_sides(tiler_format fmt, uint32_t w, uint32_t h, char *err, size_t errlen)
{
    uint32_t most = fmt == TILER_FMT_WEBP ? 16383 : fmt == TILER_FMT_JPEG ? 65535 : TILER_MAX_SIDE;
    if (w > most || h > most)
        FAIL("%ux%u: a %s image may be at most %u pixels a side here", w, h, tiler_format_name(fmt), most);
    return 0;
}

/* libgd's loaders, whole image at a time. */
static gdImagePtr load_with_gd(FILE *f, tiler_format fmt, char *err, size_t errlen)
{
    gdImagePtr im = NULL;
    gd_last_error[0] = '\0';
    switch (fmt) {
    case TILER_FMT_PNG: im = gdImageCreateFromPng(f); break;
    case TILER_FMT_JPEG: im = gdImageCreateFromJpegEx(f, 0); break;
    case TILER_FMT_GIF: im = gdImageCreateFromGif(f); break;
    case TILER_FMT_BMP: im = gdImageCreateFromBmp(f); break;
    case TILER_FMT_WEBP: im = gdImageCreateFromWebp(f); break;
    default: break;
    }
    if (!im) {
        snprintf(err, errlen, "%s image could not be decoded%s%s", tiler_format_name(fmt),
                 gd_last_error[0] ? ": " : "", gd_last_error);
        return NULL;
    }
    /* Palette and grey PNGs, GIFs and BMPs load as palette images. */
    if (!gdImageTrueColor(im) && !gdImagePaletteToTrueColor(im)) {
        gdImageDestroy(im);
        snprintf(err, errlen, "out of memory converting the palette image");
        return NULL;
    }
    gdImageAlphaBlending(im, 0);
    gdImageSaveAlpha(im, 1);
    /* An interlaced input must not make an interlaced result. */
    gdImageInterlace(im, 0);
    return im;
}

int tiler_image_stream(const char *path, tiler_format fmt, tiler_band *b, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    gdImagePtr im;
    int rc;
    if (!f) { snprintf(err, errlen, "cannot open the upload"); return -1; }
    /* PNGs, WebPs, JPEGs and TIFFs go to the band as they decode; GIFs and BMPs
     * come whole from libgd. */
    if (fmt == TILER_FMT_PNG || fmt == TILER_FMT_WEBP || fmt == TILER_FMT_JPEG || fmt == TILER_FMT_TIFF) {
        rc = fmt == TILER_FMT_PNG ? tiler_png_decode(f, b, err, errlen)
           : fmt == TILER_FMT_WEBP ? tiler_webp_decode(f, b, err, errlen)
           : fmt == TILER_FMT_TIFF ? tiler_tiff_decode(f, b, err, errlen) : tiler_jpeg_decode(f, b, err, errlen);
        fclose(f);
        return rc;
    }
    im = load_with_gd(f, fmt, err, errlen);
    fclose(f);
    return im ? tiler_band_feed_image(b, im, err, errlen) : -1;
}

gdImagePtr tiler_image_load(const char *path, tiler_format fmt, char *err, size_t errlen)
{
    tiler_band b;
    gdImagePtr im;
    tiler_band_init(&b, TILER_DEFAULT_TILE_SIZE, 0, 1, NULL, NULL);
    im = tiler_image_stream(path, fmt, &b, err, errlen) == 0 ? tiler_band_take_image(&b) : NULL;
    tiler_band_free(&b);
    return im;
}

void tiler_heap_trim(void)
{
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

void tiler_image_free(gdImagePtr im)
{
    if (!im) return;
    gdImageDestroy(im);
    tiler_heap_trim();
}

int tiler_image_save(gdImagePtr im, const char *path, tiler_format fmt, char *err, size_t errlen)
{
    FILE *f = fopen(path, "wb");
    int bad;
    if (!f) FAIL("cannot create the result file");
    gd_last_error[0] = '\0';
    gdImageSaveAlpha(im, 1);
    if (fmt == TILER_FMT_JPEG) {
        if (tiler_jpeg_out_image(im, f, TILER_JPEG_QUALITY, gd_last_error, sizeof(gd_last_error)) < 0) {
            fclose(f);
            FAIL("encoding the jpeg result failed: %s", gd_last_error);
        }
    } else if (tiler_png_save_image(im, f, TILER_PNG_LEVEL, gd_last_error, sizeof(gd_last_error)) < 0) {
        fclose(f);
        FAIL("encoding the png result failed: %s", gd_last_error);
    }
    bad = ferror(f) | fflush(f);
    bad |= fclose(f);
    if (bad || gd_last_error[0]) FAIL("encoding the %s result failed%s%s", tiler_format_name(fmt),
                                      gd_last_error[0] ? ": " : "", gd_last_error);
    return 0;
}
