#include "tiler_tiff.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <tiffio.h>

#include "tiler_defaults.h"
#include "tiler_tiff_ifd.h"

/* What libtiff calls the stream, and puts before some of its messages. */
#define STREAM_NAME "upload"

typedef tiler_tiff_source source;

static tmsize_t src_read(thandle_t h, void *buf, tmsize_t n)
{
    source *s = h;
    return n <= 0 ? 0 : (tmsize_t)fread(buf, 1, (size_t)n, s->f);
}

static tmsize_t src_write(thandle_t h, void *buf, tmsize_t n)
{
    (void)h; (void)buf; (void)n;
    return -1;
}

static toff_t src_seek(thandle_t h, toff_t off, int whence)
{
    source *s = h;
    if (off > (toff_t)INT64_MAX || fseeko(s->f, (off_t)off, whence)) return (toff_t)-1;
    return (toff_t)ftello(s->f);
}

static int src_close(thandle_t h)
{
    (void)h;
    return 0;
}

static toff_t src_size(thandle_t h)
{
    source *s = h;
    off_t here = ftello(s->f), end;
    if (here < 0 || fseeko(s->f, 0, SEEK_END)) return 0;
    end = ftello(s->f);
    if (fseeko(s->f, here, SEEK_SET) || end < 0) return 0;
    return (toff_t)end;
}

/* No mapping: mapped pages of a multi-gigabyte upload would count in the
 * process's memory as they are read. */
static int src_map(thandle_t h, void **base, toff_t *size)
{
    (void)h; (void)base; (void)size;
    return 0;
}

static void src_unmap(thandle_t h, void *base, toff_t size)
{
    (void)h; (void)base; (void)size;
}

/* A message kept as the reason: one line (libtiff's may span two), without
 * the stream's name that some begin with ("upload: "). */
static void keep(source *s, const char *fmt, va_list ap)
{
    static const char name[] = STREAM_NAME ": ";
    char *p;
    if (s->msg[0]) return;
    vsnprintf(s->msg, sizeof(s->msg), fmt, ap);
    if (!strncmp(s->msg, name, sizeof(name) - 1)) memmove(s->msg, s->msg + sizeof(name) - 1, strlen(s->msg) - sizeof(name) + 2);
    for (p = s->msg; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = ' ';
}

static int on_error(TIFF *t, void *user, const char *module, const char *fmt, va_list ap)
{
    (void)t; (void)module;
    keep(user, fmt, ap);
    return 1;   /* handled: libtiff's process-wide handler is not called */
}

/* Warnings change no pixel (an unknown tag, a missing optional field), but
 * for the JPEG codec's inside JPEG-compressed TIFFs: libjpeg's "Corrupt
 * JPEG data" or a premature end, which JPEG uploads are refused for too
 * (tiler_jpeg.c), and libtiff's about a JPEG stream of another size or
 * sampling than the directory's (JPEGPreDecode's "Improper JPEG
 * strip/tile size"), after which the rows the stream lacks are never
 * written. Its warning that a stream is progressive changes nothing. */
static int jpeg_fails(const char *module, const char *fmt)
{
    if (!module) return 0;
    if (!strcmp(module, "JPEGLib")) return 1;
    return !strncmp(module, "JPEG", 4) && (strstr(fmt, "size") || strstr(fmt, "sampling"));
}

static int on_warning(TIFF *t, void *user, const char *module, const char *fmt, va_list ap)
{
    (void)t;
    if (jpeg_fails(module, fmt)) keep(user, fmt, ap);
    return 1;
}

static pthread_once_t quiet_once = PTHREAD_ONCE_INIT;

/* What libtiff says without a file to say it about goes to its
 * process-wide handlers, which print to stderr by default. */
static void quiet_libtiff(void)
{
    TIFFSetErrorHandler(NULL);
    TIFFSetWarningHandler(NULL);
}

/* mode "rmD" (the probe): read, no mapping, strip and tile offsets loaded
 * when first needed (the probe needs none). "rmO" (decoding): each
 * strip's or tile's offset and byte count read from the file when that
 * strip or tile is, never the tables whole: a result of more than 2^25
 * tiles (a 2^20-wide one in 16-pixel tiles) has tables of over 256 MiB
 * each, past TILER_TIFF_MAX_ALLOC, and thumbnails and the zoom pyramid
 * read TIFF results here. */
TIFF *tiler_tiff_open(source *s, const char *mode)
{
    TIFFOpenOptions *o;
    TIFF *t;
    pthread_once(&quiet_once, quiet_libtiff);
    /* libtiff reads all of the first directory's tag data on opening: its
     * total is bounded first (tiler_tiff_ifd.h). */
    if (tiler_tiff_ifd_check(s->f, s->msg, sizeof(s->msg)) < 0) return NULL;
    if (!(o = TIFFOpenOptionsAlloc())) {
        snprintf(s->msg, sizeof(s->msg), "out of memory");
        return NULL;
    }
    TIFFOpenOptionsSetMaxSingleMemAlloc(o, TILER_TIFF_MAX_ALLOC);
    TIFFOpenOptionsSetErrorHandlerExtR(o, on_error, s);
    TIFFOpenOptionsSetWarningHandlerExtR(o, on_warning, s);
    rewind(s->f);
    t = TIFFClientOpenExt(STREAM_NAME, mode, (thandle_t)s, src_read, src_write, src_seek, src_close, src_size, src_map,
                          src_unmap, o);
    TIFFOpenOptionsFree(o);
    return t;
}

typedef tiler_tiff_kind kind;

static const char *compression_name(uint16_t c)
{
    switch (c) {
    case COMPRESSION_CCITTRLE: case COMPRESSION_CCITTFAX3: case COMPRESSION_CCITTFAX4: case COMPRESSION_CCITTRLEW:
        return "CCITT fax";
    case COMPRESSION_OJPEG: return "old-style JPEG (compression 6)";
    case COMPRESSION_JBIG: return "JBIG";
    case COMPRESSION_JP2000: return "JPEG 2000";
    case COMPRESSION_LZMA: return "LZMA";
    case COMPRESSION_ZSTD: return "Zstandard";
    case COMPRESSION_WEBP: return "WebP";
    case COMPRESSION_LERC: return "LERC";
    case COMPRESSION_SGILOG: case COMPRESSION_SGILOG24: return "SGI LogLuv";
    case COMPRESSION_PIXARLOG: return "PixarLog";
    default: return NULL;
    }
}

static const char *photometric_name(uint16_t p)
{
    switch (p) {
    case PHOTOMETRIC_MINISWHITE: return "white-is-zero grey";
    case PHOTOMETRIC_PALETTE: return "a colour palette";
    case PHOTOMETRIC_MASK: return "a transparency mask";
    case PHOTOMETRIC_SEPARATED: return "CMYK (separated) colour";
    case PHOTOMETRIC_CIELAB: case PHOTOMETRIC_ICCLAB: case PHOTOMETRIC_ITULAB: return "CIE L*a*b* colour";
    case PHOTOMETRIC_LOGL: case PHOTOMETRIC_LOGLUV: return "LogL/LogLuv colour";
    case PHOTOMETRIC_CFA: return "colour filter array (raw sensor) data";
    default: return NULL;
    }
}

#define UNSUPPORTED(...) do { \
        char what_[160]; \
        snprintf(what_, sizeof(what_), __VA_ARGS__); \
        snprintf(err, errlen, "a TIFF with %s is not supported (8-bit grey, grey+alpha, RGB or RGBA only)", what_); \
        return -2; \
    } while (0)
/* Kinds decoded, but not in these sizes (what the decoder would hold). */
#define TOO_BIG(...) do { \
        char what_[160]; \
        snprintf(what_, sizeof(what_), __VA_ARGS__); \
        snprintf(err, errlen, "a TIFF with %s is not supported here", what_); \
        return -2; \
    } while (0)
#define CORRUPT(...) do { \
        char what_[200]; \
        snprintf(what_, sizeof(what_), __VA_ARGS__); \
        snprintf(err, errlen, "tiff image could not be decoded: %s", what_); \
        return -1; \
    } while (0)

/* Whether the first directory is a kind decoded here. 0; -2 naming what
 * is not supported; -1 when the directory contradicts itself. Sets
 * JPEGCOLORMODE for YCbCr JPEG, so every size read after is RGB's. */
int tiler_tiff_read_kind(TIFF *t, kind *k, char *err, size_t errlen)
{
    uint16_t bps = 1, spp = 1, sf = SAMPLEFORMAT_UINT, photo, comp = COMPRESSION_NONE, planar = PLANARCONFIG_CONTIG;
    uint16_t nextra = 0, *extra = NULL;
    int colours;
    const char *name;

    memset(k, 0, sizeof(*k));
    if (!TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &k->w) || !TIFFGetField(t, TIFFTAG_IMAGELENGTH, &k->h))
        CORRUPT("the first directory has no image size");
    if (!k->w || !k->h) CORRUPT("the first directory gives a zero size");
    TIFFGetFieldDefaulted(t, TIFFTAG_COMPRESSION, &comp);
    TIFFGetFieldDefaulted(t, TIFFTAG_BITSPERSAMPLE, &bps);
    TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLESPERPIXEL, &spp);
    TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLEFORMAT, &sf);
    TIFFGetFieldDefaulted(t, TIFFTAG_PLANARCONFIG, &planar);
    TIFFGetFieldDefaulted(t, TIFFTAG_EXTRASAMPLES, &nextra, &extra);
    if (!TIFFGetField(t, TIFFTAG_PHOTOMETRIC, &photo)) CORRUPT("the first directory has no PhotometricInterpretation");

    if (comp != COMPRESSION_NONE && comp != COMPRESSION_LZW && comp != COMPRESSION_ADOBE_DEFLATE
        && comp != COMPRESSION_DEFLATE && comp != COMPRESSION_PACKBITS && comp != COMPRESSION_JPEG) {
        if ((name = compression_name(comp))) UNSUPPORTED("%s compression", name);
        UNSUPPORTED("compression %u", comp);
    }
    if (!TIFFIsCODECConfigured(comp)) UNSUPPORTED("compression %u (not in this libtiff)", comp);
    if (sf == SAMPLEFORMAT_IEEEFP) UNSUPPORTED("floating-point samples");
    if (sf == SAMPLEFORMAT_INT) UNSUPPORTED("signed integer samples");
    if (sf != SAMPLEFORMAT_UINT && sf != SAMPLEFORMAT_VOID) UNSUPPORTED("sample format %u", sf);
    if (bps != 8) UNSUPPORTED("%u-bit samples", bps);
    if (photo == PHOTOMETRIC_YCBCR && comp != COMPRESSION_JPEG) UNSUPPORTED("YCbCr colour without JPEG compression");
    if (photo != PHOTOMETRIC_MINISBLACK && photo != PHOTOMETRIC_RGB && photo != PHOTOMETRIC_YCBCR) {
        if ((name = photometric_name(photo))) UNSUPPORTED("%s", name);
        UNSUPPORTED("photometric interpretation %u", photo);
    }
    colours = photo == PHOTOMETRIC_MINISBLACK ? 1 : 3;
    if (spp < colours) CORRUPT("%u samples a pixel for %s", spp, colours == 1 ? "grey" : "colour");
    if (spp > colours + 1) UNSUPPORTED("%u samples a pixel", spp);
    if (spp > 1 && planar != PLANARCONFIG_CONTIG) UNSUPPORTED("separate colour planes (PlanarConfiguration 2)");
    k->grey = colours == 1;
    k->spp = spp;
    if (spp == colours + 1) {
        uint16_t what = nextra ? extra[0] : EXTRASAMPLE_UNSPECIFIED;
        if (photo == PHOTOMETRIC_YCBCR) UNSUPPORTED("YCbCr colour and an extra sample");
        /* An extra sample of unspecified meaning is taken as libtiff's
         * RGBA interface takes it: associated alpha after RGB, nothing
         * after grey. */
        if (what == EXTRASAMPLE_ASSOCALPHA || what == EXTRASAMPLE_UNASSALPHA || !k->grey) {
            k->alpha = 1;
            k->assoc = what != EXTRASAMPLE_UNASSALPHA;
        }
    }
    if (photo == PHOTOMETRIC_YCBCR && !TIFFSetField(t, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB))
        CORRUPT("the JPEG codec refused RGB output");
    k->tiled = TIFFIsTiled(t);
    if (k->tiled) {
        uint64_t bytes;
        if (!TIFFGetField(t, TIFFTAG_TILEWIDTH, &k->tw) || !TIFFGetField(t, TIFFTAG_TILELENGTH, &k->th) || !k->tw || !k->th)
            CORRUPT("the tiles have no size");
        /* TIFF 6.0's rule; 1x1 tiles would cost a codec call a pixel. */
        if (k->tw % 16 || k->th % 16) CORRUPT("%ux%u-pixel tiles (TIFF tiles are multiples of 16 pixels a side)", k->tw, k->th);
        bytes = (uint64_t)k->tw * k->th * k->spp;
        if (k->th > TILER_TIFF_MAX_TILE_ROWS || bytes > TILER_TIFF_MAX_TILE_BYTES)
            TOO_BIG("%ux%u-pixel tiles (at most %u rows and %u MiB a tile)", k->tw, k->th, TILER_TIFF_MAX_TILE_ROWS,
                        TILER_TIFF_MAX_TILE_BYTES >> 20);
        if ((uint64_t)TIFFTileSize64(t) != bytes) CORRUPT("unexpected tile layout");
        bytes *= ((uint64_t)k->w + k->tw - 1) / k->tw;
        if (bytes > TILER_TIFF_MAX_TILE_ROW_BYTES)
            TOO_BIG("rows of %ux%u-pixel tiles %u pixels wide (%llu MiB a row of tiles, at most %llu)", k->tw, k->th,
                        k->w, (unsigned long long)(bytes >> 20), TILER_TIFF_MAX_TILE_ROW_BYTES >> 20);
    } else if ((uint64_t)TIFFScanlineSize64(t) != (uint64_t)k->w * k->spp) {
        CORRUPT("unexpected row layout");
    }
    if (comp == COMPRESSION_JPEG) {
        /* One JPEG stream a strip or tile, which libjpeg may hold whole
         * (a progressive one's coefficients): bounded, from the directory. */
        uint32_t rows = k->h;
        uint64_t px;
        if (!k->tiled) {
            TIFFGetFieldDefaulted(t, TIFFTAG_ROWSPERSTRIP, &rows);
            if (rows > k->h) rows = k->h;
        }
        px = k->tiled ? (uint64_t)k->tw * k->th : (uint64_t)k->w * rows;
        if (px > TILER_TIFF_MAX_JPEG_PIXELS)
            TOO_BIG("JPEG-compressed %s of %ux%u pixels (at most %u MP a JPEG strip or tile)", k->tiled ? "tiles" : "strips",
                    k->tiled ? k->tw : k->w, k->tiled ? k->th : rows, TILER_TIFF_MAX_JPEG_PIXELS / 1000000);
    }
    return 0;
}

int tiler_tiff_open_failed(source *s, char *err, size_t errlen)
{
    snprintf(err, errlen, "tiff image could not be decoded: %s", s->msg[0] ? s->msg : "the header is corrupt");
    return -1;
}

int tiler_tiff_probe(FILE *f, uint32_t *w, uint32_t *h, char *err, size_t errlen)
{
    source s = { f, "" };
    TIFF *t;
    kind k;
    int rc;
    if (!(t = tiler_tiff_open(&s, "rmD"))) return tiler_tiff_open_failed(&s, err, errlen);
    rc = tiler_tiff_read_kind(t, &k, err, errlen);
    TIFFClose(t);
    if (rc == 0 && s.msg[0]) return tiler_tiff_open_failed(&s, err, errlen);
    *w = k.w;
    *h = k.h;
    return rc;
}

/* n pixels of samples into libgd's: 7-bit alpha, 0 opaque (127 - a/2, as
 * tiler_png_rows.c maps it). Associated alpha is divided out first. */
static void to_gd(const kind *k, const uint8_t *p, int *px, uint32_t n)
{
    uint32_t x, s = k->spp;
    if (k->grey && !k->alpha) {
        for (x = 0; x < n; x++, p += s) px[x] = gdTrueColor(p[0], p[0], p[0]);
    } else if (!k->alpha) {
        for (x = 0; x < n; x++, p += s) px[x] = gdTrueColor(p[0], p[1], p[2]);
    } else {
        uint32_t ai = k->grey ? 1 : 3;
        for (x = 0; x < n; x++, p += s) {
            uint32_t a = p[ai], c[3], i;
            for (i = 0; i < 3; i++) {
                uint32_t v = p[k->grey ? 0 : i];
                if (k->assoc) {
                    /* round(v * 255 / a), within 0..255 for a stored v <= a */
                    v = a ? (v * 255 + a / 2) / a : 0;
                    if (v > 255) v = 255;
                }
                c[i] = v;
            }
            px[x] = gdTrueColorAlpha(c[0], c[1], c[2], gdAlphaMax - (int)(a >> 1));
        }
    }
}

/* Row y's samples are in; hands it on. The last row waits for the caller
 * (after the last strip or tile decoded without error). */
static int row_done(tiler_band *b, uint32_t y, char *err, size_t errlen)
{
    return y + 1 < b->height && tiler_band_done(b, y + 1, err, errlen) ? -1 : 0;
}

static int read_failed(source *s, const char *what, uint32_t n, char *err, size_t errlen)
{
    snprintf(err, errlen, "tiff image could not be decoded: %s", s->msg[0] ? s->msg : "");
    if (!s->msg[0]) snprintf(err, errlen, "tiff image could not be decoded: %s %u is unreadable", what, n);
    return -1;
}

/* Strips, a row at a time: libtiff reads a strip's compressed bytes whole
 * (an uncompressed strip in pieces) and decodes rows out of it. */
static int by_rows(TIFF *t, source *s, const kind *k, tiler_band *b, char *err, size_t errlen)
{
    uint8_t *row = malloc((size_t)k->w * k->spp);
    uint32_t y;
    if (!row) { snprintf(err, errlen, "out of memory for a row of %u pixels", k->w); return -1; }
    for (y = 0; y < k->h; y++) {
        /* Whatever a codec leaves unwritten is black, never old heap. */
        memset(row, 0, (size_t)k->w * k->spp);
        if (TIFFReadScanline(t, row, y, 0) < 0 || s->msg[0]) {
            free(row);
            return read_failed(s, "row", y, err, errlen);
        }
        to_gd(k, row, tiler_band_row(b, y), k->w);
        if (row_done(b, y, err, errlen)) { free(row); return -1; }
    }
    free(row);
    return 0;
}

/* Tiles, a row of them at a time: each tile decoded into its place in a
 * buffer as wide as the row of tiles, then the rows handed on. */
static int by_tiles(TIFF *t, source *s, const kind *k, tiler_band *b, char *err, size_t errlen)
{
    uint32_t across = (uint32_t)(((uint64_t)k->w + k->tw - 1) / k->tw), i, y, ty;
    size_t tile = (size_t)k->tw * k->th * k->spp;
    uint8_t *buf;
    if ((uint64_t)across * tile > SIZE_MAX || !(buf = malloc((size_t)across * tile))) {
        snprintf(err, errlen, "out of memory for a row of %u TIFF tiles", across);
        return -1;
    }
    for (ty = 0; ty < k->h; ty += k->th) {
        uint32_t rows = k->h - ty < k->th ? k->h - ty : k->th;
        for (i = 0; i < across; i++) {
            uint32_t n = TIFFComputeTile(t, i * k->tw, ty, 0, 0);
            memset(buf + tile * i, 0, tile);   /* as for rows: never old heap */
            if (TIFFReadEncodedTile(t, n, buf + tile * i, (tmsize_t)tile) != (tmsize_t)tile || s->msg[0]) {
                free(buf);
                return read_failed(s, "tile", n, err, errlen);
            }
        }
        for (y = 0; y < rows; y++) {
            int *px = tiler_band_row(b, ty + y);
            for (i = 0; i < across; i++) {
                uint32_t x0 = i * k->tw, n = k->w - x0 < k->tw ? k->w - x0 : k->tw;
                to_gd(k, buf + tile * i + (size_t)y * k->tw * k->spp, px + x0, n);
            }
            if (row_done(b, ty + y, err, errlen)) { free(buf); return -1; }
        }
    }
    free(buf);
    return 0;
}

int tiler_tiff_decode(FILE *f, tiler_band *b, char *err, size_t errlen)
{
    source s = { f, "" };
    TIFF *t;
    kind k;
    int rc;
    if (!(t = tiler_tiff_open(&s, "rmO"))) return tiler_tiff_open_failed(&s, err, errlen);
    if (tiler_tiff_read_kind(t, &k, err, errlen) < 0) { TIFFClose(t); return -1; }
    if (s.msg[0]) { TIFFClose(t); return tiler_tiff_open_failed(&s, err, errlen); }
    if (tiler_band_start(b, k.w, k.h, k.alpha, err, errlen) < 0) { TIFFClose(t); return -1; }
    rc = k.tiled ? by_tiles(t, &s, &k, b, err, errlen) : by_rows(t, &s, &k, b, err, errlen);
    TIFFClose(t);
    if (rc) return -1;
    return tiler_band_done(b, k.h, err, errlen) ? -1 : 0;
}
