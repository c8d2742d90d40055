/* The tiled BigTIFF result writer (tiler_tiff_out.c), Deflate and JPEG
 * tiles, read back with libtiff's own reader tile by tile, and the ENCODED
 * message form. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <tiffio.h>
#include <unistd.h>
#include "tap.h"
#include "tmpdir.h"
#include "tiler_msg.h"
#include "tiler_tiff_out.h"
#include "tiler_image.h"
#include "tiler_thumb.h"
#include "tiler_tiff.h"

/* A pixel of the test image: grey when samples < 3, alpha when even. */
static int pixel(uint32_t x, uint32_t y, int samples)
{
    unsigned r = (x * 7 + y * 3) & 0xff, g = (x * 5 + y * 11) & 0xff, b = (x ^ y) & 0xff;
    unsigned a = samples % 2 == 0 ? (x + 2 * y) % 128 : 0;
    if (samples < 3) r = b = g;
    return (int)(a << 24 | r << 16 | g << 8 | b);
}

static unsigned char sample(int v, int samples, int k)
{
    unsigned u = (unsigned)v, a = (u >> 24) & 0x7f;
    unsigned char r = (unsigned char)(u >> 16), g = (unsigned char)(u >> 8), b = (unsigned char)u;
    unsigned char a8 = (unsigned char)(255 - ((a << 1) + (a >> 6)));
    switch (samples) {
    case 1: return g;
    case 2: return k == 0 ? g : a8;
    case 3: return k == 0 ? r : k == 1 ? g : b;
    default: return k == 0 ? r : k == 1 ? g : k == 2 ? b : a8;
    }
}

/* Writes a w x h image in side-pixel tiles (last first, tile 0 twice: the
 * later copy must win), reads it back with libtiff, compares every sample. */
static int roundtrip(uint32_t w, uint32_t h, uint32_t side, int samples)
{
    tiler_tile_enc enc = { TILER_CODEC_TIFF_DEFLATE, (uint8_t)samples, (uint16_t)side };
    const char *tiles = tmpdir_path("tiles"), *index = tmpdir_path("tiles.idx");
    uint32_t across = (w + side - 1) / side, down = (h + side - 1) / side, n = across * down, i, y, x;
    int **rows = malloc(side * sizeof(int *)), good = 1;
    char err[512];
    TIFF *t;
    uint32_t tw = 0, th = 0, iw = 0, ih = 0;
    uint16_t spp = 0, bps = 0, photo = 0, comp = 0, planar = 0, extra_n = 0, *extra = NULL;
    unsigned char *buf;

    for (y = 0; y < side; y++) rows[y] = malloc(side * sizeof(int));
    if (tiler_tiff_out_start(tiles, index, n, err, sizeof(err)) < 0) { printf("# %s\n", err); return 0; }
    for (i = n + 1; i-- > 0;) {
        uint32_t k = i == n ? 0 : i, tx = k % across * side, ty = k / across * side;
        uint32_t cw = w - tx < side ? w - tx : side, ch = h - ty < side ? h - ty : side;
        unsigned char *z;
        size_t len;
        for (y = 0; y < ch; y++)
            for (x = 0; x < cw; x++) rows[y][x] = i == n ? 0x7f00ff00 : pixel(tx + x, ty + y, samples);
        if (i == n && samples < 3)
            for (y = 0; y < ch; y++) for (x = 0; x < cw; x++) rows[y][x] = 0x7f000000;
        if (tiler_tiff_out_tile((const int *const *)rows, cw, ch, &enc, 6, &z, &len, err, sizeof(err)) < 0
            || !tiler_tiff_out_plausible(&enc, z, len)
            || tiler_tiff_out_add(tiles, index, k, z, len, err, sizeof(err)) < 0) {
            printf("# tile %u: %s\n", k, err);
            return 0;
        }
        free(z);
    }
    if (tiler_tiff_out_finish(tiles, index, w, h, &enc, err, sizeof(err)) < 0) { printf("# %s\n", err); return 0; }
    for (y = 0; y < side; y++) free(rows[y]);
    free(rows);
    if (!(t = TIFFOpen(tiles, "r"))) return 0;
    TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &iw);
    TIFFGetField(t, TIFFTAG_IMAGELENGTH, &ih);
    TIFFGetField(t, TIFFTAG_TILEWIDTH, &tw);
    TIFFGetField(t, TIFFTAG_TILELENGTH, &th);
    TIFFGetField(t, TIFFTAG_SAMPLESPERPIXEL, &spp);
    TIFFGetField(t, TIFFTAG_BITSPERSAMPLE, &bps);
    TIFFGetField(t, TIFFTAG_PHOTOMETRIC, &photo);
    TIFFGetField(t, TIFFTAG_COMPRESSION, &comp);
    TIFFGetField(t, TIFFTAG_PLANARCONFIG, &planar);
    TIFFGetField(t, TIFFTAG_EXTRASAMPLES, &extra_n, &extra);
    if (!TIFFIsBigEndian(t) && iw == w && ih == h && tw == side && th == side && spp == samples && bps == 8
        && photo == (samples < 3 ? PHOTOMETRIC_MINISBLACK : PHOTOMETRIC_RGB) && comp == COMPRESSION_ADOBE_DEFLATE
        && planar == PLANARCONFIG_CONTIG && extra_n == (samples % 2 == 0) && (!extra_n || extra[0] == EXTRASAMPLE_UNASSALPHA)
        && TIFFNumberOfTiles(t) == n && (TIFFIsBigTIFF(t)))
        ;
    else {
        printf("# tags: %ux%u tiles %ux%u spp %u bps %u photo %u comp %u planar %u extra %u\n", iw, ih, tw, th, spp, bps,
               photo, comp, planar, extra_n);
        good = 0;
    }
    buf = malloc(TIFFTileSize(t));
    for (i = 0; good && i < n; i++) {
        uint32_t tx = i % across * side, ty = i / across * side;
        if (TIFFReadTile(t, buf, tx, ty, 0, 0) < 0) { good = 0; break; }
        for (y = 0; good && y < side; y++)
            for (x = 0; good && x < side; x++) {
                int k;
                for (k = 0; k < samples; k++) {
                    unsigned char want = tx + x < w && ty + y < h ? sample(pixel(tx + x, ty + y, samples), samples, k) : 0;
                    if (buf[((size_t)y * side + x) * samples + k] != want) {
                        printf("# tile %u (%u,%u) sample %d: %u, want %u\n", i, x, y, k,
                               buf[((size_t)y * side + x) * samples + k], want);
                        good = 0;
                        break;
                    }
                }
            }
    }
    free(buf);
    TIFFClose(t);
    return good;
}

/* A TIFF result's thumbnail (read by the uploads' TIFF reader) equals the
 * PNG result's of the same pixels. */
static void thumbs(int samples)
{
    uint32_t w = 300, h = 170, side = 64, x, y, i, across = (w + side - 1) / side, n = across * ((h + side - 1) / side);
    tiler_tile_enc enc = { TILER_CODEC_TIFF_DEFLATE, (uint8_t)samples, (uint16_t)side };
    gdImagePtr im = gdImageCreateTrueColor((int)w, (int)h), a, b;
    const char *tiles = tmpdir_path("t.tif"), *index = tmpdir_path("t.idx"), *png = tmpdir_path("t.png");
    char err[512] = "";
    int same = 1;
    FILE *f;
    for (y = 0; y < h; y++) for (x = 0; x < w; x++) im->tpixels[y][x] = pixel(x, y, samples);
    tiler_tiff_out_start(tiles, index, n, err, sizeof(err));
    for (i = 0; i < n; i++) {
        uint32_t tx = i % across * side, ty = i / across * side;
        uint32_t cw = w - tx < side ? w - tx : side, ch = h - ty < side ? h - ty : side;
        const int *rows[64];
        unsigned char *z;
        size_t len;
        for (y = 0; y < ch; y++) rows[y] = im->tpixels[ty + y] + tx;
        tiler_tiff_out_tile(rows, cw, ch, &enc, 6, &z, &len, err, sizeof(err));
        tiler_tiff_out_add(tiles, index, i, z, len, err, sizeof(err));
        free(z);
    }
    tiler_tiff_out_finish(tiles, index, w, h, &enc, err, sizeof(err));
    gdImageSaveAlpha(im, 1);
    tiler_image_save(im, png, TILER_FMT_PNG, err, sizeof(err));
    f = fopen(tiles, "rb");
    a = f ? tiler_thumb_make(f, 50, NULL, err, sizeof(err)) : NULL;
    if (f) fclose(f);
    f = fopen(png, "rb");
    b = f ? tiler_thumb_make(f, 50, NULL, err, sizeof(err)) : NULL;
    if (f) fclose(f);
    if (!a || !b || gdImageSX(a) != gdImageSX(b) || gdImageSY(a) != gdImageSY(b)) same = 0;
    for (y = 0; same && y < (uint32_t)gdImageSY(a); y++)
        for (x = 0; same && x < (uint32_t)gdImageSX(a); x++)
            if (a->tpixels[y][x] != b->tpixels[y][x]) {
                printf("# (%u,%u) %08x != %08x\n", x, y, (unsigned)a->tpixels[y][x], (unsigned)b->tpixels[y][x]);
                same = 0;
            }
    ok(same, "the thumbnail of a %d-sample TIFF result is the PNG result's: %s", samples, err);
    if (a) gdImageDestroy(a);
    if (b) gdImageDestroy(b);
    gdImageDestroy(im);
}

static void messages(void)
{
    tiler_tile_enc enc = { TILER_CODEC_TIFF_DEFLATE, 3, 64 };
    tiler_msg m, d;
    unsigned char buf[4096], *z;
    size_t len, hdr, zl;
    char err[256];
    int *row = calloc(64, sizeof(int)), *rows[1] = { row };

    memset(&m, 0, sizeof(m));
    m.kind = TILER_MSG_ENCODED;
    memset(m.job_id, 7, 16);
    m.tile_index = 1;
    m.tiles_total = 4;
    m.image_w = 100;
    m.image_h = 100;
    m.core = (tiler_rect){ 64, 0, 36, 64 };
    m.src = m.core;
    m.enc = enc;
    snprintf(m.ops, sizeof(m.ops), "invert");
    ok(tiler_tiff_out_tile((const int *const *)rows, 1, 1, &enc, 6, &z, &zl, err, sizeof(err)) == 0, "a tile deflates");
    m.payload_len = zl;
    hdr = tiler_msg_write_header(&m, buf);
    memcpy(buf + hdr, z, zl);
    len = hdr + zl;
    ok(len == tiler_msg_size(&m) && buf[4] == 2, "an encoded result is a version 2 message of its size");
    ok(tiler_msg_decode(&d, buf, len, err, sizeof(err)) == 0 && d.kind == TILER_MSG_ENCODED && d.payload_len == zl
       && d.enc.codec == 1 && d.enc.samples == 3 && d.enc.side == 64 && !memcmp(d.pixels, z, zl),
       "it decodes with its encoding and payload: %s", err);
    ok(tiler_msg_decode(&d, buf, hdr + 1, err, sizeof(err)) < 0 && strstr(err, "outside"), "a 1-byte tile is refused");
    ok(tiler_msg_decode(&d, buf, hdr + 64 * 64 * 3 + 4096, err, sizeof(err)) < 0,
       "a tile longer than zlib's bound is refused: %s", err);
    buf[4] = 1;
    ok(tiler_msg_decode(&d, buf, len, err, sizeof(err)) < 0 && strstr(err, "version 2"), "a version 1 encoded result is refused");
    buf[4] = 2;
    buf[75] = 0;
    ok(tiler_msg_decode(&d, buf, len, err, sizeof(err)) < 0 && strstr(err, "encoding"), "a zero tile side is refused");
    buf[75] = 200;
    ok(tiler_msg_decode(&d, buf, len, err, sizeof(err)) < 0, "a tile side over 2048 is refused");
    buf[75] = 2;   /* 32 pixels: the 36-wide core does not fit */
    ok(tiler_msg_decode(&d, buf, len, err, sizeof(err)) < 0 && strstr(err, "larger"), "a core larger than its tile is refused");
    buf[75] = 4;
    buf[74] = 0x51;
    ok(tiler_msg_decode(&d, buf, len, err, sizeof(err)) < 0, "5 samples a pixel are refused");
    buf[74] = 0x34;   /* codec 4: none yet (3 is a PNG tile's rows) */
    ok(tiler_msg_decode(&d, buf, len, err, sizeof(err)) < 0, "an unknown codec is refused");
    buf[74] = 0x31;
    buf[5] = TILER_MSG_RESULT;
    ok(tiler_msg_decode(&d, buf, len, err, sizeof(err)) < 0, "a version 2 raw result is refused");
    buf[5] = TILER_MSG_ENCODED;
    m.src.w = 30;
    tiler_msg_write_header(&m, buf);
    ok(tiler_msg_decode(&d, buf, len, err, sizeof(err)) < 0, "an encoded result whose source is not its core is refused");
    ok(!tiler_tiff_out_plausible(&enc, (const unsigned char *)"PK\3\4", 4), "a stream that is not zlib is implausible");
    free(z);
    free(row);
}

/* ---- JPEG tiles (codec 2) ---- */

/* A smooth pixel (JPEG's error stays small on it), with alpha that JPEG
 * drops; grey when grey. */
static unsigned triangle(uint32_t v)
{
    return v % 510 < 256 ? v % 510 : 509 - v % 510;
}

static int smooth(uint32_t x, uint32_t y, int grey)
{
    unsigned r = triangle((x * 3 + y) / 4), g = triangle(y * 2 + 40), b = triangle(255 + x / 2), a = (x + y) % 128;
    if (grey) r = g = b = triangle((x + 3 * y) / 4);
    return (int)(a << 24 | r << 16 | g << 8 | b);
}

/* Writes a w x h image of smooth pixels in side-pixel JPEG tiles, checks
 * the directory's fields as libtiff reads them, and every pixel (RGB from
 * libtiff's JPEG codec, as the uploads' reader asks) within tol of the
 * input in each channel. *worst gets the largest difference. */
static int jpeg_roundtrip(uint32_t w, uint32_t h, uint32_t side, int samples, int tol, int *worst)
{
    tiler_tile_enc enc;
    const char *tiles = tmpdir_path("j.tif"), *index = tmpdir_path("j.idx");
    uint32_t across = (w + side - 1) / side, down = (h + side - 1) / side, n = across * down, i, y, x;
    int **rows = malloc(side * sizeof(int *)), good = 1, grey = samples == 1;
    char err[512] = "";
    TIFF *t;
    uint32_t tw = 0, th = 0, iw = 0, ih = 0;
    uint16_t spp = 0, bps = 0, photo = 0, comp = 0, planar = 0, pred = 0, extra_n = 0, *extra = NULL, sh = 0, sv = 0;
    unsigned char *buf;

    *worst = 0;
    /* Alpha in, as a transparent upload's job asks: JPEG drops it. */
    tiler_tiff_out_enc(&enc, TILER_CODEC_TIFF_JPEG, side, 1, grey ? "grayscale" : "invert");
    if (enc.samples != samples) { printf("# %d samples, want %d\n", enc.samples, samples); return 0; }
    for (y = 0; y < side; y++) rows[y] = malloc(side * sizeof(int));
    if (tiler_tiff_out_start(tiles, index, n, err, sizeof(err)) < 0) { printf("# %s\n", err); return 0; }
    for (i = 0; i < n; i++) {
        uint32_t tx = i % across * side, ty = i / across * side;
        uint32_t cw = w - tx < side ? w - tx : side, ch = h - ty < side ? h - ty : side;
        unsigned char *z;
        size_t len;
        for (y = 0; y < ch; y++) for (x = 0; x < cw; x++) rows[y][x] = smooth(tx + x, ty + y, grey);
        if (tiler_tiff_out_tile((const int *const *)rows, cw, ch, &enc, 6, &z, &len, err, sizeof(err)) < 0
            || !tiler_tiff_out_plausible(&enc, z, len) || z[2] != 0xff || z[3] == 0xe0
            || tiler_tiff_out_add(tiles, index, i, z, len, err, sizeof(err)) < 0) {
            printf("# tile %u: %s (no JFIF marker expected)\n", i, err);
            return 0;
        }
        free(z);
    }
    for (y = 0; y < side; y++) free(rows[y]);
    free(rows);
    if (tiler_tiff_out_finish(tiles, index, w, h, &enc, err, sizeof(err)) < 0) { printf("# %s\n", err); return 0; }
    if (!(t = TIFFOpen(tiles, "r"))) return 0;
    TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &iw);
    TIFFGetField(t, TIFFTAG_IMAGELENGTH, &ih);
    TIFFGetField(t, TIFFTAG_TILEWIDTH, &tw);
    TIFFGetField(t, TIFFTAG_TILELENGTH, &th);
    TIFFGetField(t, TIFFTAG_SAMPLESPERPIXEL, &spp);
    TIFFGetField(t, TIFFTAG_BITSPERSAMPLE, &bps);
    TIFFGetField(t, TIFFTAG_PHOTOMETRIC, &photo);
    TIFFGetField(t, TIFFTAG_COMPRESSION, &comp);
    TIFFGetField(t, TIFFTAG_PLANARCONFIG, &planar);
    /* Only Deflate and LZW know the tag: 0 when absent under JPEG. */
    TIFFGetFieldDefaulted(t, TIFFTAG_PREDICTOR, &pred);
    TIFFGetField(t, TIFFTAG_EXTRASAMPLES, &extra_n, &extra);
    TIFFGetField(t, TIFFTAG_YCBCRSUBSAMPLING, &sh, &sv);
    /* YCbCr's ReferenceBlackWhite is written (TIFF's default is RGB's). */
    if (!grey) {
        float *rbw = NULL;
        static const float want[6] = { 0, 255, 128, 255, 128, 255 };
        if (!TIFFGetField(t, TIFFTAG_REFERENCEBLACKWHITE, &rbw) || !rbw || memcmp(rbw, want, sizeof(want))) {
            printf("# ReferenceBlackWhite missing or not 0 255 128 255 128 255\n");
            TIFFClose(t);
            return 0;
        }
    }
    if (!(iw == w && ih == h && tw == side && th == side && spp == samples && bps == 8 && comp == COMPRESSION_JPEG
          && photo == (grey ? PHOTOMETRIC_MINISBLACK : PHOTOMETRIC_YCBCR) && planar == PLANARCONFIG_CONTIG
          && pred <= PREDICTOR_NONE && extra_n == 0 && (grey || (sh == 2 && sv == 2)) && TIFFIsBigTIFF(t)
          && TIFFNumberOfTiles(t) == n)) {
        printf("# tags: %ux%u tiles %ux%u spp %u bps %u photo %u comp %u planar %u predictor %u extra %u sub %ux%u\n",
               iw, ih, tw, th, spp, bps, photo, comp, planar, pred, extra_n, sh, sv);
        TIFFClose(t);
        return 0;
    }
    if (!grey) TIFFSetField(t, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB);
    buf = malloc(TIFFTileSize(t));
    for (i = 0; good && i < n; i++) {
        uint32_t tx = i % across * side, ty = i / across * side;
        if (TIFFReadTile(t, buf, tx, ty, 0, 0) < 0) { good = 0; break; }
        for (y = 0; y < side && ty + y < h; y++)
            for (x = 0; x < side && tx + x < w; x++) {
                int k;
                for (k = 0; k < samples; k++) {
                    int want = sample(smooth(tx + x, ty + y, grey), samples, k);
                    int d = abs(buf[((size_t)y * side + x) * samples + k] - want);
                    if (d > *worst) *worst = d;
                }
            }
    }
    free(buf);
    TIFFClose(t);
    return good && *worst <= tol;
}

/* The uploads' TIFF reader (thumbnails, previews, the zoomable view) reads
 * a JPEG-TIFF result: its thumbnail is the PNG result's within tol. */
static void jpeg_thumb(int grey, int tol)
{
    uint32_t w = 300, h = 170, side = 64, x, y, i, across = (w + side - 1) / side, n = across * ((h + side - 1) / side);
    tiler_tile_enc enc;
    gdImagePtr im = gdImageCreateTrueColor((int)w, (int)h), a, b;
    const char *tiles = tmpdir_path("jt.tif"), *index = tmpdir_path("jt.idx"), *png = tmpdir_path("jt.png");
    char err[512] = "";
    int worst = 0, same = 1;
    FILE *f;
    tiler_tiff_out_enc(&enc, TILER_CODEC_TIFF_JPEG, side, 0, grey ? "grayscale" : "invert");
    for (y = 0; y < h; y++) for (x = 0; x < w; x++) im->tpixels[y][x] = smooth(x, y, grey) & 0xffffff;
    if (tiler_tiff_out_start(tiles, index, n, err, sizeof(err)) < 0) same = 0;
    for (i = 0; same && i < n; i++) {
        uint32_t tx = i % across * side, ty = i / across * side;
        uint32_t cw = w - tx < side ? w - tx : side, ch = h - ty < side ? h - ty : side;
        const int *rows[64];
        unsigned char *z = NULL;
        size_t len;
        for (y = 0; y < ch; y++) rows[y] = im->tpixels[ty + y] + tx;
        if (tiler_tiff_out_tile(rows, cw, ch, &enc, 6, &z, &len, err, sizeof(err)) < 0
            || tiler_tiff_out_add(tiles, index, i, z, len, err, sizeof(err)) < 0)
            same = 0;
        free(z);
    }
    if (!same || tiler_tiff_out_finish(tiles, index, w, h, &enc, err, sizeof(err)) < 0) {
        ok(0, "%s JPEG-TIFF written: %s", grey ? "grey" : "colour", err);
        gdImageDestroy(im);
        return;
    }
    tiler_image_save(im, png, TILER_FMT_PNG, err, sizeof(err));
    f = fopen(tiles, "rb");
    a = f ? tiler_thumb_make(f, 50, NULL, err, sizeof(err)) : NULL;
    if (f) fclose(f);
    f = fopen(png, "rb");
    b = f ? tiler_thumb_make(f, 50, NULL, err, sizeof(err)) : NULL;
    if (f) fclose(f);
    if (!a || !b || gdImageSX(a) != gdImageSX(b) || gdImageSY(a) != gdImageSY(b)) same = 0;
    for (y = 0; same && y < (uint32_t)gdImageSY(a); y++)
        for (x = 0; same && x < (uint32_t)gdImageSX(a); x++) {
            int k;
            for (k = 0; k < 32; k += 8) {
                int d = abs((a->tpixels[y][x] >> k & 0xff) - (b->tpixels[y][x] >> k & 0xff));
                if (d > worst) worst = d;
            }
        }
    ok(same && worst <= tol, "the thumbnail of a %s JPEG-TIFF result is the PNG result's within %d (at most %d off): %s",
       grey ? "grey" : "colour", tol, worst, err);
    if (a) gdImageDestroy(a);
    if (b) gdImageDestroy(b);
    gdImageDestroy(im);
}

/* Codec 2 in messages, and what the plausibility check lets through. */
static void jpeg_messages(void)
{
    tiler_tile_enc enc = { TILER_CODEC_TIFF_JPEG, 3, 64 }, grey = { TILER_CODEC_TIFF_JPEG, 1, 64 };
    tiler_tile_enc deflate = { TILER_CODEC_TIFF_DEFLATE, 3, 64 };
    tiler_msg m, d;
    size_t bound = tiler_tiff_out_max_tile_bytes(&enc), len, hdr, zl, dl;
    unsigned char *buf = calloc(1, bound + 4096), *z, *dz, *gz = NULL, *big = calloc(1, bound + 2);
    char err[256];
    int *row = calloc(64, sizeof(int)), *rows[1] = { row };

    row[0] = 0x00ff0000;
    ok(tiler_tiff_out_tile((const int *const *)rows, 1, 1, &enc, 6, &z, &zl, err, sizeof(err)) == 0
       && tiler_tiff_out_tile((const int *const *)rows, 1, 1, &deflate, 6, &dz, &dl, err, sizeof(err)) == 0,
       "a JPEG tile and a Deflate tile are made: %s", err);
    ok(tiler_tiff_out_tile((const int *const *)rows, 1, 1, &grey, 6, &gz, &len, err, sizeof(err)) < 0
       && strstr(err, "not grey"), "a grey JPEG tile refuses a colour pixel: %s", err);
    err[0] = '\0';
    memset(&m, 0, sizeof(m));
    m.kind = TILER_MSG_ENCODED;
    memset(m.job_id, 9, 16);
    m.tile_index = 0;
    m.tiles_total = 1;
    m.image_w = m.image_h = 1;
    m.core = (tiler_rect){ 0, 0, 1, 1 };
    m.src = m.core;
    m.enc = enc;
    m.payload_len = zl;
    hdr = tiler_msg_write_header(&m, buf);
    memcpy(buf + hdr, z, zl);
    len = hdr + zl;
    ok(buf[74] == 0x32 && tiler_msg_decode(&d, buf, len, err, sizeof(err)) == 0 && d.enc.codec == TILER_CODEC_TIFF_JPEG
       && d.enc.samples == 3 && d.payload_len == zl, "a JPEG tile's result is codec 2 and decodes: %s", err);
    buf[74] = 0x42;
    ok(tiler_msg_decode(&d, buf, len, err, sizeof(err)) < 0, "a JPEG tile with alpha (4 samples) is refused");
    buf[74] = 0x22;
    ok(tiler_msg_decode(&d, buf, len, err, sizeof(err)) < 0, "a JPEG tile of grey and alpha is refused");
    buf[74] = 0x12;
    ok(tiler_msg_decode(&d, buf, len, err, sizeof(err)) == 0, "a grey JPEG tile's encoding is known");
    buf[74] = 0x32;
    ok(tiler_msg_decode(&d, buf, hdr + bound + 1, err, sizeof(err)) < 0 && strstr(err, "outside"),
       "a JPEG tile longer than its bound (%zu bytes) is refused: %s", bound, err);

    ok(tiler_tiff_out_plausible(&enc, z, zl), "the JPEG tile is plausible");
    ok(!tiler_tiff_out_plausible(&enc, z, 0), "no bytes are not");
    ok(!tiler_tiff_out_plausible(&enc, z, 3), "nor 3 bytes");
    ok(!tiler_tiff_out_plausible(&enc, z, zl - 1), "nor a stream cut before its EOI");
    ok(!tiler_tiff_out_plausible(&enc, z + 2, zl - 2), "nor one without its SOI");
    ok(!tiler_tiff_out_plausible(&deflate, z, zl), "nor a JPEG stream for a Deflate job");
    ok(!tiler_tiff_out_plausible(&deflate, z, zl) && tiler_tiff_out_plausible(&deflate, dz, dl)
       && !tiler_tiff_out_plausible(&enc, dz, dl), "a zlib stream is not a JPEG tile");
    memcpy(big, z, zl - 2);
    big[bound - 2] = 0xff;
    big[bound - 1] = 0xd9;
    ok(tiler_tiff_out_plausible(&enc, big, bound), "its headers ... EOI of the bound's length pass (cheap: no decoding)");
    {
        /* The frame header must say what the directory will. */
        size_t sof = 2;
        while (sof + 4 < zl && !(z[sof] == 0xff && z[sof + 1] == 0xc0)) sof += 2 + ((size_t)z[sof + 2] << 8 | z[sof + 3]);
        ok(sof + 4 < zl, "the tile has a baseline frame header (SOF0)");
        big[sof + 4 + 7] = 0x11;   /* luma 1x1: 4:4:4, not YCbCrSubsampling 2,2 */
        ok(!tiler_tiff_out_plausible(&enc, big, bound), "a 4:4:4 stream is not a 2,2-subsampled tile");
        big[sof + 4 + 7] = 0x22;
        big[sof + 4 + 3] ^= 1;     /* another width */
        ok(!tiler_tiff_out_plausible(&enc, big, bound), "nor one of another size");
        big[sof + 4 + 3] ^= 1;
        big[sof + 1] = 0xc2;       /* progressive */
        ok(!tiler_tiff_out_plausible(&enc, big, bound), "nor a progressive one");
        big[sof + 1] = 0xc0;
        ok(tiler_tiff_out_plausible(&enc, big, bound), "the frame restored passes again");
        ok(!tiler_tiff_out_plausible(&grey, big, bound), "a colour stream is not a grey tile");
    }
    big[bound] = 0xff;
    big[bound + 1] = 0xd9;
    ok(!tiler_tiff_out_plausible(&enc, big, bound + 2), "2 bytes more do not");
    ok(tiler_tiff_out_codec(NULL) == TILER_CODEC_TIFF_DEFLATE && tiler_tiff_out_codec("deflate") == TILER_CODEC_TIFF_DEFLATE
       && tiler_tiff_out_codec("jpeg") == TILER_CODEC_TIFF_JPEG && !tiler_tiff_out_codec("JPEG")
       && !tiler_tiff_out_codec("lzw") && !tiler_tiff_out_codec(""), "compression values: deflate, jpeg");
    ok(tiler_tiff_out_format("tiff", "jpeg", 256, 1, "invert", &d.enc) == 1 && d.enc.codec == 2 && d.enc.samples == 3
       && tiler_tiff_out_format("tiff", NULL, 256, 1, "invert", &d.enc) == 1 && d.enc.codec == 1 && d.enc.samples == 4
       && tiler_tiff_out_format("png", "jpeg", 256, 1, "invert", &d.enc) == 0 && d.enc.codec == 0,
       "a TIFF job's encoding: JPEG drops alpha, Deflate keeps it, other formats have none");
    free(z);
    free(dz);
    free(buf);
    free(big);
    free(row);
}

/* The band's callback for many_tiles: the first row of tiles is enough. */
static int first_rows(void *ctx, const tiler_band *b, uint32_t tile_row, char *err, size_t errlen)
{
    int *grey = ctx;
    (void)tile_row;
    *grey = tiler_band_get(b, 0)[0] & 0xff;
    snprintf(err, errlen, "first row of tiles read");
    return 1;
}

/* A result of more than 2^25 tiles (a 2^20-pixel-wide one in 16-pixel
 * tiles; TilerMaxPixels allows it): its TileOffsets and TileByteCounts
 * are 8 bytes a tile each, over the 256 MiB that libtiff may allocate at
 * once. The reader must not load them whole: thumbnails and the zoom
 * pyramid read TIFF results through it. Every entry points at one real
 * tile; about 1.1 GB of temporary files, removed at the end. */
static void many_tiles(void)
{
    tiler_tile_enc enc = { TILER_CODEC_TIFF_DEFLATE, 1, 16 };
    const char *tiles = tmpdir_path("many"), *index = tmpdir_path("many.idx");
    uint32_t w = 1u << 20, h = 16 * 513, n = (w / 16) * (h / 16), i, y;
    int px[16][16], *rows[16], grey = -1;
    unsigned char *z, *entries;
    size_t zl;
    char err[512] = "";
    FILE *f;
    tiler_band band;

    for (y = 0; y < 16; y++) {
        for (i = 0; i < 16; i++) px[y][i] = 0x5a5a5a;
        rows[y] = px[y];
    }
    ok((uint64_t)n * 8 > TILER_TIFF_MAX_ALLOC, "%u tiles: each tile table is %llu bytes", n,
       (unsigned long long)n * 8);
    if (tiler_tiff_out_start(tiles, index, n, err, sizeof(err)) < 0
        || tiler_tiff_out_tile((const int *const *)rows, 16, 16, &enc, 6, &z, &zl, err, sizeof(err)) < 0
        || tiler_tiff_out_add(tiles, index, 0, z, zl, err, sizeof(err)) < 0 || !(entries = malloc(16 * 65536))) {
        ok(0, "the tiles file is made: %s", err);
        return;
    }
    free(z);
    for (i = 0; i < 65536; i++) {
        unsigned char *e = entries + 16 * i;
        uint64_t v[2] = { TILER_TIFF_OUT_HEADER_BYTES, zl };
        int k;
        for (k = 0; k < 16; k++) e[k] = (unsigned char)(v[k / 8] >> (8 * (k % 8)));
    }
    f = fopen(index, "r+b");
    for (i = 0; f && i < n; i += 65536)
        if (fwrite(entries, 16, n - i < 65536 ? n - i : 65536, f) != (n - i < 65536 ? n - i : 65536)) break;
    ok(f && i >= n && fclose(f) == 0, "every tile's entry is the first tile's");
    free(entries);
    ok(tiler_tiff_out_finish(tiles, index, w, h, &enc, err, sizeof(err)) == 0, "the directory goes on: %s", err);
    unlink(index);
    f = fopen(tiles, "rb");
    tiler_band_init(&band, 16, 0, 0, first_rows, &grey);
    err[0] = '\0';
    ok(f && tiler_tiff_decode(f, &band, err, sizeof(err)) < 0 && !strcmp(err, "first row of tiles read") && grey == 0x5a,
       "the reader gets to its first row of tiles: %s", err);
    tiler_band_free(&band);
    if (f) fclose(f);
    unlink(tiles);
}

int main(void)
{
    static const struct { uint32_t w, h, side; int samples; } cases[] = {
        { 100, 70, 32, 1 }, { 100, 70, 32, 2 }, { 100, 70, 32, 3 }, { 100, 70, 32, 4 },
        { 64, 64, 32, 3 }, { 1, 1, 16, 1 }, { 1, 1, 16, 4 }, { 33, 200, 16, 3 }, { 300, 17, 256, 2 },
    };
    size_t i;
    if (tmpdir_make() < 0) return 1;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        ok(roundtrip(cases[i].w, cases[i].h, cases[i].side, cases[i].samples),
           "%ux%u in %u-pixel tiles, %d samples, reads back in libtiff", cases[i].w, cases[i].h, cases[i].side,
           cases[i].samples);
    messages();
    for (i = 1; i <= 4; i++) thumbs((int)i);
    {
        static const struct { uint32_t w, h, side; int samples; } jc[] = {
            { 300, 170, 64, 3 }, { 300, 170, 64, 1 }, { 1, 1, 16, 3 }, { 33, 200, 16, 1 }, { 257, 31, 256, 3 },
        };
        for (i = 0; i < sizeof(jc) / sizeof(jc[0]); i++) {
            int worst = 0, good = jpeg_roundtrip(jc[i].w, jc[i].h, jc[i].side, jc[i].samples, 6, &worst);
            ok(good, "%ux%u in %u-pixel JPEG tiles, %d samples: libtiff reads every pixel within 6 (at most %d off)",
               jc[i].w, jc[i].h, jc[i].side, jc[i].samples, worst);
        }
    }
    jpeg_thumb(0, 4);
    jpeg_thumb(1, 4);
    jpeg_messages();
    many_tiles();
    return done_testing();
}
