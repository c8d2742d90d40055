/* TIFF decoding through the band: every supported kind (grey, grey+alpha,
 * RGB, RGBA x none/LZW/Deflate/PackBits/JPEG x strips/tiles x classic/
 * BigTIFF), written here with libtiff, decodes in whole mode and in a ring
 * band of small tiles (so the ring wraps) to the same pixels, which are
 * libtiff's own RGBA reader's (TIFFReadRGBAImageOriented, another path
 * through libtiff) and, for lossless files, the pixels written. Kinds not
 * supported are refused naming what; hostile files fail cleanly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jpeglib.h>
#include "tap.h"
#include "testimg.h"
#include "tmpdir.h"
#include "tiffwrite.h"
#include "tiler_image.h"
#include "tiler_tiff.h"

#define W 150
#define H 101

typedef struct { gdImagePtr im; uint32_t calls, rows; int alpha; } ring_copy;

/* The ring band's callback: copies the rows the tile row needs (core and
 * halo) out of the ring before they are reused. */
static int copy_rows(void *ctx, const tiler_band *b, uint32_t tile_row, char *err, size_t errlen)
{
    ring_copy *c = ctx;
    uint32_t y;
    (void)err; (void)errlen;
    if (!c->im) {
        c->im = gdImageCreateTrueColor((int)b->width, (int)b->height);
        c->alpha = b->alpha;
    }
    for (y = tiler_band_first_row(b, tile_row); y < tiler_band_need(b, tile_row); y++) {
        const int *row = tiler_band_get(b, y);
        if (!row) return 1;
        memcpy(c->im->tpixels[y], row, b->width * sizeof(int));
    }
    c->rows = tiler_band_need(b, tile_row);
    c->calls++;
    return 0;
}

static int decode_file(const char *p, tiler_band *b, char *err, size_t errlen)
{
    FILE *f = fopen(p, "rb");
    int rc;
    if (!f) { snprintf(err, errlen, "cannot open %s", p); return -1; }
    rc = tiler_tiff_decode(f, b, err, errlen);
    fclose(f);
    return rc;
}

static gdImagePtr decode_whole(const char *p, char *err, size_t errlen)
{
    tiler_band b;
    gdImagePtr im;
    tiler_band_init(&b, 16, 0, 1, NULL, NULL);
    im = decode_file(p, &b, err, errlen) == 0 ? tiler_band_take_image(&b) : NULL;
    tiler_band_free(&b);
    return im;
}

/* Through a ring of 16-row tiles with a 3-row halo: 22 rows held. */
static int decode_ring(const char *p, ring_copy *c, char *err, size_t errlen)
{
    tiler_band b;
    int rc;
    memset(c, 0, sizeof(*c));
    tiler_band_init(&b, 16, 3, 0, copy_rows, c);
    rc = decode_file(p, &b, err, errlen);
    tiler_band_free(&b);
    return rc;
}

static int same(gdImagePtr a, gdImagePtr b)
{
    int y;
    if (!a || !b || gdImageSX(a) != gdImageSX(b) || gdImageSY(a) != gdImageSY(b)) return 0;
    for (y = 0; y < gdImageSY(a); y++)
        if (memcmp(a->tpixels[y], b->tpixels[y], (size_t)gdImageSX(a) * sizeof(int))) return 0;
    return 1;
}

/* got against libtiff's RGBA reader (ref, top-down, ABGR packing:
 * TIFFGetR...) and, for lossless compression, the image written. Alpha
 * from either must be libgd's 127 - a/2; colours with associated alpha
 * must premultiply back to what the file stores. */
static int check(const tiffkind *k, gdImagePtr orig, gdImagePtr got, const uint32_t *ref, char *why, size_t whylen)
{
    int x, y, alpha = k->chans % 2 == 0, lossless = k->comp != COMPRESSION_JPEG;
    for (y = 0; y < H; y++)
        for (x = 0; x < W; x++) {
            int g = got->tpixels[y][x], o = orig->tpixels[y][x];
            uint32_t r = ref[y * W + x], ra = TIFFGetA(r);
            int gc[3] = { gdTrueColorGetRed(g), gdTrueColorGetGreen(g), gdTrueColorGetBlue(g) };
            unsigned rc[3] = { TIFFGetR(r), TIFFGetG(r), TIFFGetB(r) }, i;
            int ga = gdTrueColorGetAlpha(g);
            /* libtiff 4.5's reader misplaces grey+alpha pixels in a tile
             * cut by the image's right edge (putagreytile does not scale
             * its skew by the samples a pixel): there, only the written
             * pixels are the reference. */
            if (k->chans == 2 && k->tile && (uint32_t)x >= W / k->tile * k->tile) goto written;
            if (ga != (alpha ? gdAlphaMax - (int)(ra >> 1) : 0)) {
                snprintf(why, whylen, "(%d,%d): alpha %d, libtiff's 8-bit %u", x, y, ga, ra);
                return 0;
            }
            for (i = 0; i < 3; i++) {
                /* libtiff's reader gives premultiplied colour, rounded as
                 * (c a + 127) / 255, for associated alpha and for RGBA; grey
                 * with unassociated alpha it gives as it is. */
                int pre = alpha && (k->assoc || k->chans == 4);
                unsigned want = pre ? ((unsigned)gc[i] * ra + 127) / 255 : (unsigned)gc[i];
                if (pre && ra == 0) want = 0;
                if (want != rc[i]) {
                    snprintf(why, whylen, "(%d,%d): sample %u is %d (%u premultiplied), libtiff's %u", x, y, i, gc[i], want, rc[i]);
                    return 0;
                }
            }
        written:
            if (lossless) {
                int want = k->chans <= 2 ? gdTrueColorAlpha(gdTrueColorGetRed(o), gdTrueColorGetRed(o), gdTrueColorGetRed(o), gdTrueColorGetAlpha(o))
                                         : o;
                if (!alpha) want &= 0x00ffffff;
                /* Premultiplied samples lose colour where alpha is low:
                 * only alpha must be what was written. */
                if (alpha && k->assoc) { want &= 0x7f000000; g &= 0x7f000000; }
                if (g != want) {
                    snprintf(why, whylen, "(%d,%d): 0x%08x, written 0x%08x", x, y, (unsigned)g, (unsigned)want);
                    return 0;
                }
            }
        }
    return 1;
}

static const char *comp_name(uint16_t c)
{
    switch (c) {
    case COMPRESSION_NONE: return "none";
    case COMPRESSION_LZW: return "LZW";
    case COMPRESSION_ADOBE_DEFLATE: return "Deflate";
    case COMPRESSION_PACKBITS: return "PackBits";
    case COMPRESSION_JPEG: return "JPEG";
    default: return "?";
    }
}

static void describe(const tiffkind *k, char *s, size_t n)
{
    static const char *chans[] = { "", "grey", "grey+alpha", "RGB", "RGBA" };
    snprintf(s, n, "%s%s %s%s%s %s%s", k->big ? "BigTIFF " : "", chans[k->chans], comp_name(k->comp),
             k->ycbcr ? " YCbCr" : "", k->predictor ? " +predictor" : "", k->tile ? "tiles" : "strips",
             k->chans % 2 == 0 ? (k->assoc ? " associated" : " unassociated") : "");
}

static uint32_t *reference(const char *p)
{
    TIFF *t = TIFFOpen(p, "r");
    uint32_t *ras = malloc(sizeof(uint32_t) * W * H);
    if (!t || !ras || !TIFFReadRGBAImageOriented(t, W, H, ras, ORIENTATION_TOPLEFT, 0)) {
        free(ras);
        ras = NULL;
    }
    if (t) TIFFClose(t);
    return ras;
}

static int run_case(const tiffkind *k, gdImagePtr opaque, gdImagePtr alpha)
{
    char name[128], why[256] = "", err[256] = "", p[64];
    gdImagePtr orig = k->chans % 2 == 0 ? alpha : opaque, a;
    uint32_t *ref;
    ring_copy rc;
    int good;
    static int n;
    describe(k, name, sizeof(name));
    snprintf(p, sizeof(p), "case%d.tif", n++);
    if (tiffw_write(tmpdir_path(p), orig, k) < 0) return ok(0, "%s: written", name);
    a = decode_whole(tmpdir_path(p), err, sizeof(err));
    ref = reference(tmpdir_path(p));
    good = a && ref && check(k, orig, a, ref, why, sizeof(why));
    ok(good, "%s: libtiff's RGBA reader's pixels%s%s%s", name, k->comp != COMPRESSION_JPEG ? " and the written ones" : "",
       good ? "" : ": ", good ? "" : (a ? why : err));
    err[0] = '\0';
    good = decode_ring(tmpdir_path(p), &rc, err, sizeof(err)) == 0 && same(a, rc.im) && rc.rows == H
           && rc.alpha == (k->chans % 2 == 0) && rc.calls == (H + 15) / 16;
    ok(good, "%s: the same through a ring band of 22 rows (%u calls, %s)", name, rc.calls, err[0] ? err : "no error");
    if (a) gdImageDestroy(a);
    if (rc.im) gdImageDestroy(rc.im);
    free(ref);
    unlink(tmpdir_path(p));
    return good;
}

/* A refused kind: the probe says -2 naming it, the decoder fails with the
 * same reason, nothing reaches the band. */
static void refused(const char *name, tiffkind k, const char *says, gdImagePtr im)
{
    char err[256] = "", err2[256] = "";
    uint32_t w = 0, h = 0;
    tiler_format fmt;
    int rc;
    FILE *f;
    tiler_band b;
    if (tiffw_write(tmpdir_path("refused.tif"), im, &k) < 0) { ok(0, "%s: written", name); return; }
    f = fopen(tmpdir_path("refused.tif"), "rb");
    rc = tiler_probe_file(f, &fmt, &w, &h, err, sizeof(err));
    fclose(f);
    ok(rc == -2 && fmt == TILER_FMT_TIFF && strstr(err, says), "%s: refused by the probe (%d): %s", name, rc, err);
    tiler_band_init(&b, 16, 0, 1, NULL, NULL);
    rc = decode_file(tmpdir_path("refused.tif"), &b, err2, sizeof(err2));
    ok(rc < 0 && !strcmp(err, err2) && !b.started, "%s: and by the decoder: %s", name, err2);
    tiler_band_free(&b);
    unlink(tmpdir_path("refused.tif"));
}

/* Writes k, lets cut change the file's bytes, and decodes the result in a
 * ring band: 0 or -1, with err and how far rows got. */
static int hostile(tiffkind k, gdImagePtr im, int (*cut)(unsigned char *, long), char *err, size_t errlen, ring_copy *rc)
{
    long size;
    char *buf;
    int r;
    if (tiffw_write(tmpdir_path("hostile.tif"), im, &k) < 0 || !(buf = slurp(tmpdir_path("hostile.tif"), &size)) || !size) {
        snprintf(err, errlen, "not written");
        return 1;
    }
    if (cut((unsigned char *)buf, size) < 0) { free(buf); snprintf(err, errlen, "cannot cut"); return 1; }
    spew(tmpdir_path("hostile.tif"), buf, (size_t)size);
    free(buf);
    r = decode_ring(tmpdir_path("hostile.tif"), rc, err, errlen);
    if (rc->im) gdImageDestroy(rc->im);
    rc->im = NULL;
    return r;
}

static int cut_offset_wrong(unsigned char *f, long size)
{
    uint32_t first;
    /* into the middle of another tile's stream */
    return tiffw_get(f, size, TIFFTAG_TILEOFFSETS, 0, &first) < 0 ? -1 : tiffw_set(f, size, TIFFTAG_TILEOFFSETS, 7, first + 5);
}

static int cut_past_end(unsigned char *f, long size)
{
    return tiffw_set(f, size, TIFFTAG_TILEOFFSETS, 19, (uint32_t)size + 100000);
}

static int cut_count_short(unsigned char *f, long size)
{
    uint32_t n;
    return tiffw_get(f, size, TIFFTAG_TILEBYTECOUNTS, 3, &n) < 0 ? -1 : tiffw_set(f, size, TIFFTAG_TILEBYTECOUNTS, 3, n / 3);
}

/* As big as the entry holds (64 KiB - 1 for a SHORT): past the file. */
static int cut_count_long(unsigned char *f, long size)
{
    return tiffw_set(f, size, TIFFTAG_STRIPBYTECOUNTS, 4, 0x7fffffff);
}

/* 30000 x 30000 in one strip, in a file of a few KiB. */
static int cut_huge(unsigned char *f, long size)
{
    return tiffw_set_size(f, size, TIFFTAG_IMAGEWIDTH, 30000) < 0 || tiffw_set_size(f, size, TIFFTAG_IMAGELENGTH, 30000) < 0
        || tiffw_set_size(f, size, TIFFTAG_ROWSPERSTRIP, 30000) < 0 ? -1 : 0;
}

static int cut_loop(unsigned char *f, long size)
{
    return tiffw_ifd_loop(f, size);
}

static int cut_last_tile(unsigned char *f, long size)
{
    uint32_t o, c, i;
    if (tiffw_get(f, size, TIFFTAG_TILEOFFSETS, 19, &o) < 0 || tiffw_get(f, size, TIFFTAG_TILEBYTECOUNTS, 19, &c) < 0
        || (long)o + c > size)
        return -1;
    for (i = 0; i < c; i++) f[o + i] ^= 0x5a;
    return 0;
}

/* The second half of tile 1's JPEG data zeroed: libjpeg only warns
 * ("Corrupt JPEG data"), which refuses it as for JPEG uploads. */
static int cut_jpeg_data(unsigned char *f, long size)
{
    uint32_t o, c, i;
    if (tiffw_get(f, size, TIFFTAG_TILEOFFSETS, 1, &o) < 0 || tiffw_get(f, size, TIFFTAG_TILEBYTECOUNTS, 1, &c) < 0
        || (long)o + c > size)
        return -1;
    for (i = c / 2; i + 2 < c; i++) f[o + i] = 0;
    return 0;
}

/* A flat grey JPEG of w x h, baseline or progressive, in memory. */
static unsigned char *grey_jpeg(int w, int h, int progressive, unsigned long *len)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    unsigned char *out = NULL, *row = malloc((size_t)w);
    int y;
    memset(row, 0x40, (size_t)w);
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &out, len);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = 1;
    c.in_color_space = JCS_GRAYSCALE;
    jpeg_set_defaults(&c);
    if (progressive) jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    for (y = 0; y < h; y++) { JSAMPROW r = row; jpeg_write_scanlines(&c, &r, 1); }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(row);
    return out;
}

/* A grey JPEG-compressed TIFF of w x h whose one strip (tile 0) or 64x64
 * tiles (tile 64) hold JPEG streams of only jw x jh: the review's
 * jpeg-narrow-strip and jpeg-small-tiles. libtiff only warns about them
 * and leaves the rest of the caller's buffer as it was. With jw x jh the
 * size of the strip or tile, a sound file (progressive: libtiff warns). */
static int write_jpeg_smaller(const char *path, uint32_t w, uint32_t h, uint32_t tile, int jw, int jh, int progressive)
{
    TIFF *t = TIFFOpen(path, "w");
    unsigned long len = 0;
    unsigned char *j;
    uint32_t i;
    int good = 1;
    if (!t) return -1;
    TIFFSetField(t, TIFFTAG_IMAGEWIDTH, w);
    TIFFSetField(t, TIFFTAG_IMAGELENGTH, h);
    TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 8);
    TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 1);
    TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISBLACK);
    TIFFSetField(t, TIFFTAG_COMPRESSION, COMPRESSION_JPEG);
    TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
    j = grey_jpeg(jw, jh, progressive, &len);
    if (tile) {
        TIFFSetField(t, TIFFTAG_TILEWIDTH, tile);
        TIFFSetField(t, TIFFTAG_TILELENGTH, tile);
        for (i = 0; i < TIFFNumberOfTiles(t) && good; i++) good = TIFFWriteRawTile(t, i, j, (tmsize_t)len) > 0;
    } else {
        TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, h);
        good = TIFFWriteRawStrip(t, 0, j, (tmsize_t)len) > 0;
    }
    free(j);
    good = good && TIFFWriteDirectory(t);
    TIFFClose(t);
    return good ? 0 : -1;
}

/* n bytes of v in the file's byte order. */
static void put(FILE *f, int be, uint64_t v, unsigned n)
{
    unsigned i;
    for (i = 0; i < n; i++) fputc((int)(v >> 8 * (be ? n - 1 - i : i)) & 0xff, f);
}

/* One directory entry: a value of size bytes held in the entry (padded),
 * or an offset (size 0). */
static void put_entry(FILE *f, int big, int be, unsigned tag, unsigned type, uint32_t count, uint64_t v, unsigned size)
{
    unsigned word = big ? 8 : 4;
    put(f, be, tag, 2);
    put(f, be, type, 2);
    put(f, be, count, word);
    put(f, be, v, size ? size : word);
    if (size) put(f, be, 0, word - size);
}

/* The review's manytags: a 1x1 grey TIFF (classic or BigTIFF, either
 * byte order) with n unknown LONG tags of c values, all pointing at the
 * same c x 4 bytes: libtiff reads n x c x 4 bytes out of a file of c x 4. */
static int write_many_tags(const char *path, int big, int be, unsigned n, uint32_t c)
{
    FILE *f = fopen(path, "wb");
    unsigned entries = 9 + n, i, word = big ? 8 : 4;
    uint64_t ifd = big ? 16 : 8, data = ifd + (big ? 8 : 2) + (uint64_t)entries * (big ? 20 : 12) + word;
    if (!f) return -1;
    fputs(be ? "MM" : "II", f);
    put(f, be, big ? 43 : 42, 2);
    if (big) { put(f, be, 8, 2); put(f, be, 0, 2); }
    put(f, be, ifd, word);
    put(f, be, entries, big ? 8 : 2);
    put_entry(f, big, be, TIFFTAG_IMAGEWIDTH, TIFF_LONG, 1, 1, 4);
    put_entry(f, big, be, TIFFTAG_IMAGELENGTH, TIFF_LONG, 1, 1, 4);
    put_entry(f, big, be, TIFFTAG_BITSPERSAMPLE, TIFF_SHORT, 1, 8, 2);
    put_entry(f, big, be, TIFFTAG_COMPRESSION, TIFF_SHORT, 1, COMPRESSION_NONE, 2);
    put_entry(f, big, be, TIFFTAG_PHOTOMETRIC, TIFF_SHORT, 1, PHOTOMETRIC_MINISBLACK, 2);
    put_entry(f, big, be, TIFFTAG_STRIPOFFSETS, TIFF_LONG, 1, data, 4);
    put_entry(f, big, be, TIFFTAG_SAMPLESPERPIXEL, TIFF_SHORT, 1, 1, 2);
    put_entry(f, big, be, TIFFTAG_ROWSPERSTRIP, TIFF_LONG, 1, 1, 4);
    put_entry(f, big, be, TIFFTAG_STRIPBYTECOUNTS, TIFF_LONG, 1, 1, 4);
    for (i = 0; i < n; i++) put_entry(f, big, be, 40000 + i, TIFF_LONG, c, data, 0);
    put(f, be, 0, word);   /* no next directory */
    for (i = 0; i < c; i++) put(f, be, 0x80808080u, 4);
    return fclose(f) ? -1 : 0;
}

/* The probe on path: its return, w x h, the reason. */
static int probe_path(const char *path, uint32_t *w, uint32_t *h, char *err, size_t errlen)
{
    tiler_format fmt;
    FILE *f = fopen(path, "rb");
    int r;
    if (!f) return 1;
    r = tiler_probe_file(f, &fmt, w, h, err, errlen);
    fclose(f);
    return r;
}

int main(void)
{
    gdImagePtr opaque = testimg_make(W, H, 0, 21), alpha = testimg_make(W, H, 1, 22);
    static const uint16_t comps[] = { COMPRESSION_NONE, COMPRESSION_LZW, COMPRESSION_ADOBE_DEFLATE, COMPRESSION_PACKBITS,
                                      COMPRESSION_JPEG };
    int chans, ci, tiled, big, all = 1;
    char err[256];
    ring_copy rc;

    if (tmpdir_make() < 0) return 1;
    /* Some pixels fully transparent, where premultiplied colour is 0. */
    for (ci = 0; ci < W; ci += 3) alpha->tpixels[50][ci] = gdTrueColorAlpha(200, 100, 50, gdAlphaMax);

    for (chans = 1; chans <= 4; chans++)
        for (ci = 0; ci < 5; ci++)
            for (tiled = 0; tiled < 2; tiled++)
                for (big = 0; big < 2; big++) {
                    tiffkind k;
                    memset(&k, 0, sizeof(k));
                    k.chans = chans;
                    k.comp = comps[ci];
                    k.big = big;
                    k.tile = tiled ? 32 : 0;
                    k.rps = comps[ci] == COMPRESSION_JPEG ? 16 : 7;
                    all &= run_case(&k, opaque, alpha);
                    if (comps[ci] == COMPRESSION_JPEG && chans == 3) { k.ycbcr = 1; all &= run_case(&k, opaque, alpha); }
                    if (chans % 2 == 0 && comps[ci] == COMPRESSION_ADOBE_DEFLATE) { k.assoc = 1; all &= run_case(&k, opaque, alpha); }
                    if (!big && (comps[ci] == COMPRESSION_LZW || comps[ci] == COMPRESSION_ADOBE_DEFLATE)) {
                        k.assoc = 0;
                        k.predictor = 1;
                        all &= run_case(&k, opaque, alpha);
                    }
                }
    /* A single strip of the whole image and tiles wider than the image. */
    {
        tiffkind k = { .chans = 4, .comp = COMPRESSION_LZW, .rps = H };
        all &= run_case(&k, opaque, alpha);
        k.tile = 256; k.comp = COMPRESSION_ADOBE_DEFLATE;
        all &= run_case(&k, opaque, alpha);
    }
    ok(all, "every kind decodes as libtiff reads it");

    /* Through tiler_probe_file and tiler_image_load. */
    {
        tiffkind k = { .chans = 3, .comp = COMPRESSION_LZW, .tile = 64, .big = 1 };
        uint32_t w = 0, h = 0;
        tiler_format fmt;
        FILE *f;
        gdImagePtr a, b;
        tiffw_write(tmpdir_path("load.tif"), opaque, &k);
        int r;
        f = fopen(tmpdir_path("load.tif"), "rb");
        r = tiler_probe_file(f, &fmt, &w, &h, err, sizeof(err));
        ok(r == 0 && fmt == TILER_FMT_TIFF && w == W && h == H, "the probe reads a BigTIFF's size: %ux%u", w, h);
        ok(tiler_decodes_whole(f, fmt) == NULL, "a TIFF is not a whole-image kind");
        fclose(f);
        a = tiler_image_load(tmpdir_path("load.tif"), TILER_FMT_TIFF, err, sizeof(err));
        b = decode_whole(tmpdir_path("load.tif"), err, sizeof(err));
        ok(a && same(a, b), "tiler_image_load goes through the TIFF decoder");
        if (a) gdImageDestroy(a);
        if (b) gdImageDestroy(b);
        ok(tiler_check_sides(TILER_FMT_TIFF, 1u << 20, 1u << 20, err, sizeof(err)) == 0
           && tiler_check_sides(TILER_FMT_TIFF, (1u << 20) + 1, 5, err, sizeof(err)) < 0, "TIFF sides up to 2^20: %s", err);
        ok(tiler_sniff((const unsigned char *)"II*\0", 4) == TILER_FMT_TIFF && tiler_sniff((const unsigned char *)"MM\0*", 4) == TILER_FMT_TIFF
           && tiler_sniff((const unsigned char *)"II+\0", 4) == TILER_FMT_TIFF && tiler_sniff((const unsigned char *)"MM\0+", 4) == TILER_FMT_TIFF
           && tiler_sniff((const unsigned char *)"II*\1", 4) == TILER_FMT_UNKNOWN, "the four TIFF magics, and no other");
        unlink(tmpdir_path("load.tif"));
    }

    /* Kinds not supported. */
    {
        tiffkind k16 = { .chans = 3, .bits = 16 }, k1 = { .chans = 1, .bits = 1 }, cmyk = { .chans = 4, .cmyk = 1 };
        tiffkind pal = { .chans = 1, .palette = 1 }, fl = { .chans = 1, .floats = 1 }, planes = { .chans = 3, .planes = 1 };
        tiffkind tall = { .chans = 3, .tile = 16, .tile_h = 4096 };
        refused("16-bit RGB", k16, "16-bit samples", opaque);
        refused("1-bit grey", k1, "1-bit samples", opaque);
        refused("CMYK", cmyk, "CMYK", opaque);
        refused("a palette", pal, "palette", opaque);
        refused("floating point", fl, "floating-point", opaque);
        refused("separate planes", planes, "separate colour planes", opaque);
        refused("4096-row tiles", tall, "16x4096-pixel tiles", opaque);
        {
            /* 1024-row tiles declared 1,048,576 pixels wide: 1 GiB a row
             * of tiles, refused from the directory alone. */
            tiffkind wide = { .chans = 1, .tile = 16, .tile_h = 1024 };
            long size;
            char *buf;
            uint32_t w = 0, h = 0;
            tiler_format fmt;
            FILE *f;
            int r;
            tiffw_write(tmpdir_path("wide.tif"), opaque, &wide);
            buf = slurp(tmpdir_path("wide.tif"), &size);
            tiffw_set_size((unsigned char *)buf, size, TIFFTAG_IMAGEWIDTH, 1u << 20);
            spew(tmpdir_path("wide.tif"), buf, (size_t)size);
            free(buf);
            f = fopen(tmpdir_path("wide.tif"), "rb");
            r = tiler_probe_file(f, &fmt, &w, &h, err, sizeof(err));
            fclose(f);
            ok(r == -2 && strstr(err, "1024 MiB a row of tiles"), "a row of TIFF tiles over 256 MiB: refused (%d): %s", r, err);
            unlink(tmpdir_path("wide.tif"));
        }
    }

    /* Hostile files: refused with a reason, no crash (ASan in the fuzzer),
     * and the last rows never handed on. */
    {
        tiffkind tiles = { .chans = 3, .comp = COMPRESSION_ADOBE_DEFLATE, .tile = 32 };
        tiffkind strips = { .chans = 3, .comp = COMPRESSION_LZW, .rps = 7 };
        tiffkind tiny = { .chans = 1, .comp = COMPRESSION_NONE };
        gdImagePtr small = testimg_make(16, 16, 0, 3);
        int r;
        r = hostile(tiles, opaque, cut_offset_wrong, err, sizeof(err), &rc);
        ok(r == -1 && rc.rows < H, "a wrong tile offset: refused after %u rows: %s", rc.rows, err);
        r = hostile(tiles, opaque, cut_past_end, err, sizeof(err), &rc);
        ok(r == -1 && rc.rows < H, "a tile past the end of the file: refused after %u rows: %s", rc.rows, err);
        r = hostile(tiles, opaque, cut_count_short, err, sizeof(err), &rc);
        ok(r == -1 && rc.rows < H, "a tile byte count too short: refused after %u rows: %s", rc.rows, err);
        r = hostile(strips, opaque, cut_count_long, err, sizeof(err), &rc);
        ok(r == -1 && rc.rows < H, "a strip byte count past the end of the file: refused after %u rows: %s", rc.rows, err);
        r = hostile(tiles, opaque, cut_last_tile, err, sizeof(err), &rc);
        ok(r == -1 && rc.rows < 96, "the last tile corrupt: refused, rows handed on only up to %u: %s", rc.rows, err);
        {
            tiffkind jpeg = { .chans = 3, .comp = COMPRESSION_JPEG, .ycbcr = 1, .tile = 64 };
            r = hostile(jpeg, opaque, cut_jpeg_data, err, sizeof(err), &rc);
            ok(r == -1 && strstr(err, "JPEG"), "JPEG data corrupt in a tile: refused on libjpeg's warning: %s", err);
        }
        r = hostile(tiny, small, cut_huge, err, sizeof(err), &rc);
        ok(r == -1 && rc.rows == 0, "30000x30000 declared in a tiny file: refused: %s", err);
        {
            uint32_t w = 0, h = 0;
            tiler_format fmt;
            FILE *f = fopen(tmpdir_path("hostile.tif"), "rb");
            r = tiler_probe_file(f, &fmt, &w, &h, err, sizeof(err));
            ok(r == 0 && w == 30000 && h == 30000,
               "and its size comes from the probe, for the limits to refuse first: %ux%u", w, h);
            fclose(f);
        }
        r = hostile(strips, opaque, cut_loop, err, sizeof(err), &rc);
        ok(r == 0 && rc.rows == H, "a directory whose next is itself: the first page decodes (%s)", r ? err : "no error");
        /* JPEG streams smaller than the strip or tile: libtiff only warns,
         * and would leave the rest of the decoder's buffer unwritten. */
        err[0] = '\0';
        r = write_jpeg_smaller(tmpdir_path("hostile.tif"), 64, 32, 0, 16, 32, 0) < 0 ? 1
          : decode_ring(tmpdir_path("hostile.tif"), &rc, err, sizeof(err));
        ok(r == -1 && rc.rows == 0 && strstr(err, "Improper JPEG strip/tile size"),
           "a JPEG strip narrower than the directory says: refused before any row (%u): %s", rc.rows, err);
        if (rc.im) gdImageDestroy(rc.im);
        err[0] = '\0';
        r = write_jpeg_smaller(tmpdir_path("hostile.tif"), 128, 64, 64, 16, 16, 0) < 0 ? 1
          : decode_ring(tmpdir_path("hostile.tif"), &rc, err, sizeof(err));
        ok(r == -1 && rc.rows == 0 && strstr(err, "Improper JPEG strip/tile size"),
           "JPEG tiles smaller than the directory says: refused before any row (%u): %s", rc.rows, err);
        if (rc.im) gdImageDestroy(rc.im);
        /* A progressive JPEG strip of the right size: libtiff warns that
         * it is unusual, which is no reason to refuse it. */
        err[0] = '\0';
        r = write_jpeg_smaller(tmpdir_path("hostile.tif"), 64, 32, 0, 64, 32, 1) < 0 ? 1
          : decode_ring(tmpdir_path("hostile.tif"), &rc, err, sizeof(err));
        ok(r == 0 && rc.rows == 32 && rc.im && gdImageGetTrueColorPixel(rc.im, 63, 31) == gdTrueColor(0x40, 0x40, 0x40),
           "a progressive JPEG strip within the limit decodes (%s)", r ? err : "no error");
        if (rc.im) gdImageDestroy(rc.im);
        /* Reasons are one line of the file's fault: libtiff's messages may
         * span lines ("Improper JPEG sampling factors 2,2\nApparently
         * should be 1,1.") and name the stream ("upload: "). */
        {
            tiffkind ycc = { .chans = 3, .comp = COMPRESSION_JPEG, .ycbcr = 1, .rps = 16 };
            uint32_t w, h;
            long size;
            char *buf;
            int got;
            tiffw_write(tmpdir_path("hostile.tif"), small, &ycc);
            buf = slurp(tmpdir_path("hostile.tif"), &size);
            got = tiffw_set((unsigned char *)buf, size, TIFFTAG_YCBCRSUBSAMPLING, 0, 1) == 0
                  && tiffw_set((unsigned char *)buf, size, TIFFTAG_YCBCRSUBSAMPLING, 1, 1) == 0;
            spew(tmpdir_path("hostile.tif"), buf, (size_t)size);
            free(buf);
            err[0] = '\0';
            r = got ? decode_ring(tmpdir_path("hostile.tif"), &rc, err, sizeof(err)) : 1;
            ok(r == -1 && strstr(err, "Improper JPEG sampling factors 2,2 Apparently should be 1,1.") && !strpbrk(err, "\r\n\t"),
               "YCbCrSubsampling 1,1 over 2x2 JPEG data: refused, the reason on one line: %s", err);
            if (rc.im) gdImageDestroy(rc.im);
            spew(tmpdir_path("hostile.tif"), "II*\0\x08\0\0\0", 8);
            err[0] = '\0';
            r = probe_path(tmpdir_path("hostile.tif"), &w, &h, err, sizeof(err));
            ok(r == -1 && !strcmp(err, "tiff image could not be decoded: Can not read TIFF directory count"),
               "a header alone: libtiff's reason without the stream's name: %s", err);
        }
        /* Tiles whose sides are not multiples of 16 (TIFF 6.0 requires
         * it; 1x1 tiles would cost a codec call a pixel): refused. */
        {
            tiffkind t32 = { .chans = 3, .comp = COMPRESSION_ADOBE_DEFLATE, .tile = 32 };
            uint32_t w, h;
            long size;
            char *buf;
            int got;
            tiffw_write(tmpdir_path("hostile.tif"), small, &t32);
            buf = slurp(tmpdir_path("hostile.tif"), &size);
            got = tiffw_set_size((unsigned char *)buf, size, TIFFTAG_TILEWIDTH, 1) == 0
                  && tiffw_set_size((unsigned char *)buf, size, TIFFTAG_TILELENGTH, 1) == 0;
            spew(tmpdir_path("hostile.tif"), buf, (size_t)size);
            free(buf);
            err[0] = '\0';
            r = got ? probe_path(tmpdir_path("hostile.tif"), &w, &h, err, sizeof(err)) : 1;
            ok(r == -1 && strstr(err, "1x1-pixel tiles (TIFF tiles are multiples of 16 pixels a side)"),
               "1x1 tiles: refused by the probe: %s", err);
        }
        /* Many big unknown tags sharing one block (the review's manytags):
         * refused by the walk of the directory before libtiff reads them,
         * in all four layouts; one tag of 1 MB is taken. */
        {
            static const char *layout[] = { "classic little-endian", "classic big-endian", "BigTIFF little-endian",
                                            "BigTIFF big-endian" };
            uint32_t w, h;
            int l;
            for (l = 0; l < 4; l++) {
                err[0] = '\0';
                w = h = 0;
                r = write_many_tags(tmpdir_path("hostile.tif"), l >= 2, l % 2, 64, 1000000) < 0 ? 1
                  : probe_path(tmpdir_path("hostile.tif"), &w, &h, err, sizeof(err));
                ok(r == -1 && strstr(err, "tags hold 245 MiB (tag 40000 alone 4 MiB), more than the 16 MiB taken"),
                   "%s: 64 tags of 4 MB on one block: refused by the probe: %s", layout[l], err);
                err[0] = '\0';
                r = write_many_tags(tmpdir_path("hostile.tif"), l >= 2, l % 2, 1, 250000) < 0 ? 1
                  : probe_path(tmpdir_path("hostile.tif"), &w, &h, err, sizeof(err));
                ok(r == 0 && w == 1 && h == 1, "%s: one tag of 1 MB is taken (%d %ux%u%s%s)", layout[l], r, w, h,
                   err[0] ? ": " : "", err);
            }
        }
        /* JPEG strips and tiles over TILER_TIFF_MAX_JPEG_PIXELS: libjpeg
         * holds a progressive one's coefficients whole (the review's
         * jpeg-progressive-bomb, 32000x30000 in one strip of 1 KB: 1.84 GB).
         * Refused from the directory, baseline ones too. */
        {
            tiffkind jstrip = { .chans = 1, .comp = COMPRESSION_JPEG, .rps = 16 };
            tiffkind jtile = { .chans = 1, .comp = COMPRESSION_JPEG, .tile = 64 };
            uint32_t w, h;
            long size;
            char *buf;
            int got;
            tiffw_write(tmpdir_path("hostile.tif"), small, &jstrip);
            buf = slurp(tmpdir_path("hostile.tif"), &size);
            got = tiffw_set_size((unsigned char *)buf, size, TIFFTAG_IMAGEWIDTH, 32000) == 0
                  && tiffw_set_size((unsigned char *)buf, size, TIFFTAG_IMAGELENGTH, 30000) == 0
                  && tiffw_set_size((unsigned char *)buf, size, TIFFTAG_ROWSPERSTRIP, 30000) == 0;
            spew(tmpdir_path("hostile.tif"), buf, (size_t)size);
            free(buf);
            err[0] = '\0';
            r = got ? probe_path(tmpdir_path("hostile.tif"), &w, &h, err, sizeof(err)) : 1;
            ok(r == -2 && strstr(err, "JPEG-compressed strips of 32000x30000 pixels") && strstr(err, "at most 16 MP"),
               "one JPEG strip of 32000x30000: refused by the probe: %s", err);
            tiffw_write(tmpdir_path("hostile.tif"), small, &jtile);
            buf = slurp(tmpdir_path("hostile.tif"), &size);
            got = tiffw_set_size((unsigned char *)buf, size, TIFFTAG_TILEWIDTH, 8192) == 0
                  && tiffw_set_size((unsigned char *)buf, size, TIFFTAG_TILELENGTH, 2048) == 0;
            spew(tmpdir_path("hostile.tif"), buf, (size_t)size);
            free(buf);
            err[0] = '\0';
            r = got ? decode_ring(tmpdir_path("hostile.tif"), &rc, err, sizeof(err)) : 1;
            ok(r == -1 && rc.rows == 0 && strstr(err, "JPEG-compressed tiles of 8192x2048 pixels"),
               "JPEG tiles of 8192x2048 (16 MiB of grey, within the tile limit): refused by the decoder too: %s", err);
            if (rc.im) gdImageDestroy(rc.im);
        }
        gdImageDestroy(small);
        unlink(tmpdir_path("hostile.tif"));
    }

    gdImageDestroy(opaque);
    gdImageDestroy(alpha);
    rmdir(tmpdir_name);
    return done_testing();
}
