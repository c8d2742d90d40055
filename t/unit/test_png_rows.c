/* The row-at-a-time PNG decoder gives libgd's loader's pixels exactly for
 * every kind of PNG (RGB, RGBA, grey, grey with alpha, palettes, with and
 * without tRNS, 1 to 16 bits, interlaced or not), fails on a truncated file
 * as libgd does, and calls back with rows in order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <png.h>
#include "tap.h"
#include "rowwatch.h"
#include "testimg.h"
#include "tmpdir.h"
#include "tiler_image.h"
#include "tiler_png.h"
#include "tiler_png_rows.h"

static gdImagePtr gd_load(const char *p)
{
    FILE *f = fopen(p, "rb");
    gdImagePtr im = gdImageCreateFromPng(f);
    fclose(f);
    if (im && !gdImageTrueColor(im)) gdImagePaletteToTrueColor(im);
    return im;
}

static int any_alpha(gdImagePtr im)
{
    int y, any = 0;
    for (y = 0; y < gdImageSY(im); y++) any |= tiler_png_has_alpha(im->tpixels[y], (size_t)gdImageSX(im));
    return any;
}

static gdImagePtr ours(const char *p, watch *w, char *err, size_t errlen)
{
    FILE *f = fopen(p, "rb");
    tiler_band b;
    gdImagePtr im;
    watch_band(&b, w);
    im = band_image(&b, tiler_png_decode(f, &b, err, errlen));
    fclose(f);
    return im;
}

static void write_ours(gdImagePtr im, const char *p)
{
    char err[256];
    FILE *f = fopen(p, "wb");
    tiler_png_save_image(im, f, 3, err, sizeof(err));
    fclose(f);
}

static void write_gd(gdImagePtr im, const char *p, int interlace)
{
    FILE *f = fopen(p, "wb");
    gdImageInterlace(im, interlace);
    gdImagePng(im, f);
    gdImageInterlace(im, 0);
    fclose(f);
}


/* A PNG of any kind, written with libpng so that every colour type, bit
 * depth and tRNS is under the test's control. Samples are pseudo-random;
 * palette indexes run up to twice the palette (past it, as some writers
 * do). ntrans < 0: no tRNS chunk. */
static void write_kind(const char *path, int w, int h, int type, int depth, int npal, int ntrans, int interlace, unsigned seed)
{
    FILE *f = fopen(path, "wb");
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    int channels = type == PNG_COLOR_TYPE_GRAY || type == PNG_COLOR_TYPE_PALETTE ? 1
                 : type == PNG_COLOR_TYPE_GRAY_ALPHA ? 2 : type == PNG_COLOR_TYPE_RGB ? 3 : 4;
    size_t rowbytes = ((size_t)w * channels * depth + 7) / 8;
    unsigned char *rows = malloc(rowbytes * h);
    png_bytep *ptrs = malloc(sizeof(png_bytep) * h);
    int i, y;
    png_init_io(png, f);
    png_set_benign_errors(png, 1);   /* indexes past the palette */
    png_set_IHDR(png, info, w, h, depth, type, interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (type == PNG_COLOR_TYPE_PALETTE) {
        png_color pal[256];
        png_byte trans[256];
        for (i = 0; i < npal; i++) { pal[i].red = (png_byte)(i * 37); pal[i].green = (png_byte)(255 - i * 11); pal[i].blue = (png_byte)(i * i); }
        png_set_PLTE(png, info, pal, npal);
        for (i = 0; i < 256; i++) trans[i] = (png_byte)(i % 3 == 1 ? 0 : i * 29);
        if (ntrans > 0) png_set_tRNS(png, info, trans, ntrans, NULL);
    } else if (ntrans >= 0) {
        png_color_16 c = { 0, 3, 3, 3, 3 };
        png_set_tRNS(png, info, NULL, 0, &c);
    }
    for (i = 0; i < (int)rowbytes * h; i++) {
        seed = seed * 1103515245u + 12345u;
        rows[i] = (unsigned char)(seed >> 16);
    }
    if (type == PNG_COLOR_TYPE_PALETTE && depth == 8)   /* keep most indexes in the palette */
        for (i = 0; i < (int)rowbytes * h; i++) rows[i] = (unsigned char)(rows[i] % (npal * 2 > 256 ? 256 : npal * 2));
    for (y = 0; y < h; y++) ptrs[y] = rows + rowbytes * y;
    png_write_info(png, info);
    png_write_image(png, ptrs);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(f);
    free(rows);
    free(ptrs);
}

int main(void)
{
    gdImagePtr rgb = testimg_make(301, 203, 0, 3), rgba = testimg_make(301, 203, 1, 4), a, b;
    char err[256];

    if (tmpdir_make() < 0) return 1;
    write_ours(rgb, tmpdir_path("rgb.png"));     /* colour type 2 */
    write_ours(rgba, tmpdir_path("rgba.png"));   /* colour type 6, every alpha level */
    write_gd(rgba, tmpdir_path("gd.png"), 0);    /* libgd's own writer */
    {
        const char *names[] = { "rgb.png", "rgba.png", "gd.png" };
        int k;
        for (k = 0; k < 3; k++) {
            watch w = { 0, 0, 0, 1, 1, 0 };
            a = ours(tmpdir_path(names[k]), &w, err, sizeof(err));
            b = gd_load(tmpdir_path(names[k]));
            ok(same(a, b), "%s: the same pixels as libgd's loader", names[k]);
            ok(w.ordered && w.last == 203 && w.calls == 13, "%s: %u callbacks, rows rising to %u", names[k], w.calls, w.last);
            ok(w.first_alpha == (k > 0), "%s: %s from the first callback", names[k], k > 0 ? "alpha" : "opaque");
            if (a) gdImageDestroy(a);
            if (b) gdImageDestroy(b);
        }
    }

    /* Every other kind that streams, against libgd's loader. */
    {
        static const struct { const char *name; int type, depth, npal, ntrans, interlace; } kinds[] = {
            { "grey1.png", PNG_COLOR_TYPE_GRAY, 1, 0, -1, 0 }, { "grey2.png", PNG_COLOR_TYPE_GRAY, 2, 0, -1, 0 },
            { "grey4.png", PNG_COLOR_TYPE_GRAY, 4, 0, -1, 0 }, { "grey8.png", PNG_COLOR_TYPE_GRAY, 8, 0, -1, 0 },
            { "grey16.png", PNG_COLOR_TYPE_GRAY, 16, 0, -1, 0 },
            { "greyalpha8.png", PNG_COLOR_TYPE_GRAY_ALPHA, 8, 0, -1, 0 },
            { "greyalpha16.png", PNG_COLOR_TYPE_GRAY_ALPHA, 16, 0, -1, 0 },
            { "rgb16.png", PNG_COLOR_TYPE_RGB, 16, 0, -1, 0 }, { "rgba16.png", PNG_COLOR_TYPE_RGB_ALPHA, 16, 0, -1, 0 },
            { "pal1.png", PNG_COLOR_TYPE_PALETTE, 1, 2, 0, 0 }, { "pal2.png", PNG_COLOR_TYPE_PALETTE, 2, 3, 0, 0 },
            { "pal4.png", PNG_COLOR_TYPE_PALETTE, 4, 16, 0, 0 }, { "pal8.png", PNG_COLOR_TYPE_PALETTE, 8, 200, 0, 0 },
            { "pal8-short.png", PNG_COLOR_TYPE_PALETTE, 8, 40, 0, 0 },
            { "pal2-trns.png", PNG_COLOR_TYPE_PALETTE, 2, 4, 3, 0 }, { "pal8-trns.png", PNG_COLOR_TYPE_PALETTE, 8, 120, 50, 0 },
            { "pal8-trns-all.png", PNG_COLOR_TYPE_PALETTE, 8, 256, 256, 0 },
            { "grey2-trns.png", PNG_COLOR_TYPE_GRAY, 2, 0, 1, 0 }, { "grey8-trns.png", PNG_COLOR_TYPE_GRAY, 8, 0, 1, 0 },
            { "grey16-trns.png", PNG_COLOR_TYPE_GRAY, 16, 0, 1, 0 }, { "rgb8-trns.png", PNG_COLOR_TYPE_RGB, 8, 0, 1, 0 },
            { "rgb16-trns.png", PNG_COLOR_TYPE_RGB, 16, 0, 1, 0 },
            { "rgba-interlaced.png", PNG_COLOR_TYPE_RGB_ALPHA, 8, 0, -1, 1 },
            { "grey4-interlaced.png", PNG_COLOR_TYPE_GRAY, 4, 0, -1, 1 },
            { "pal4-trns-interlaced.png", PNG_COLOR_TYPE_PALETTE, 4, 16, 5, 1 },
        };
        size_t k;
        for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
            watch w = { 0, 0, 0, 1, 1, 0 };
            write_kind(tmpdir_path(kinds[k].name), 97, 35, kinds[k].type, kinds[k].depth, kinds[k].npal, kinds[k].ntrans,
                       kinds[k].interlace, (unsigned)k + 7);
            a = ours(tmpdir_path(kinds[k].name), &w, err, sizeof(err));
            b = gd_load(tmpdir_path(kinds[k].name));
            ok(a && same(a, b), "%s: libgd's loader's pixels%s%s", kinds[k].name, a ? "" : ": ", a ? "" : err);
            ok(w.ordered && w.last == 35 && w.calls == 3, "%s: %u callbacks, rows rising to %u", kinds[k].name, w.calls, w.last);
            ok(b && w.first_alpha == any_alpha(b), "%s: the header's alpha at the first callback (%d) is the pixels' (%d)",
               kinds[k].name, w.first_alpha, b ? any_alpha(b) : -1);
            if (a) gdImageDestroy(a);
            if (b) gdImageDestroy(b);
            unlink(tmpdir_path(kinds[k].name));
        }
    }

    /* libgd's own writer, interlaced. */
    write_gd(rgba, tmpdir_path("interlaced.png"), 1);
    a = ours(tmpdir_path("interlaced.png"), NULL, err, sizeof(err));
    b = gd_load(tmpdir_path("interlaced.png"));
    ok(a && same(a, b), "interlaced.png (libgd's writer): libgd's loader's pixels");
    if (a) gdImageDestroy(a);
    if (b) gdImageDestroy(b);
    a = tiler_image_load(tmpdir_path("interlaced.png"), TILER_FMT_PNG, err, sizeof(err));
    b = gd_load(tmpdir_path("interlaced.png"));
    ok(a && same(a, b) && !gdImageGetInterlaced(a), "tiler_image_load takes it the same way, and not interlaced");
    if (a) gdImageDestroy(a);
    if (b) gdImageDestroy(b);

    /* Truncated in the pixel data: an error, as libgd gives. */
    {
        FILE *in = fopen(tmpdir_path("rgb.png"), "rb"), *out = fopen(tmpdir_path("cut.png"), "wb");
        char *buf;
        long size;
        fseek(in, 0, SEEK_END);
        size = ftell(in);
        rewind(in);
        buf = malloc((size_t)size);
        if (fread(buf, 1, (size_t)size, in) != (size_t)size) return 1;
        fwrite(buf, 1, (size_t)size / 2, out);
        fclose(in);
        fclose(out);
        free(buf);
    }
    a = ours(tmpdir_path("cut.png"), NULL, err, sizeof(err));
    b = gd_load(tmpdir_path("cut.png"));
    ok(!a && !b && strstr(err, "png image could not be decoded"), "a PNG cut in half fails: %s", err);

    {
        watch w = { 0, 0, 100, 1, 1, 0 };
        a = ours(tmpdir_path("rgb.png"), &w, err, sizeof(err));
        ok(!a && !strcmp(err, "stopped at row 112"), "the callback stops the decoding: %s", err);
    }

    /* Transparent only below the first callback's rows: whoever decides at
     * the first rows (the module, for the result's colour type) learns of
     * the alpha from the header, not from the rows so far. */
    {
        gdImagePtr low = testimg_make(50, 40, 1, 9);
        watch w = { 0, 0, 0, 1, 1, 0 };
        int y, x;
        for (y = 0; y < 16; y++)
            for (x = 0; x < 50; x++) low->tpixels[y][x] &= 0x00ffffff;
        write_ours(low, tmpdir_path("alpha-low.png"));
        a = ours(tmpdir_path("alpha-low.png"), &w, err, sizeof(err));
        ok(a && same(a, low), "alpha below row 16: the pixels");
        ok(w.calls == 3 && w.first_alpha, "alpha below row 16: said at the first callback, after 16 opaque rows");
        if (a) gdImageDestroy(a);
        gdImageDestroy(low);
    }

    /* IEND replaced by a broken chunk: every pixel is in, then libpng fails
     * reading the end. The last rows must not reach the callback (the
     * module would send every tile, and the job could be done before the
     * file is refused). */
    {
        gdImagePtr sq = testimg_make(64, 64, 0, 11);
        watch w = { 0, 0, 0, 1, 1, 0 };
        long size;
        char *buf;
        write_ours(sq, tmpdir_path("sq.png"));
        buf = slurp(tmpdir_path("sq.png"), &size);
        ok(size > 12 && !memcmp(buf + size - 8, "IEND", 4), "a 64x64 PNG ending in IEND");
        memcpy(buf + size - 12, "\0\0\x10\0IEND\1\2\3\4", 12);   /* 4096 bytes announced, 4 there */
        spew(tmpdir_path("cut.png"), buf, (size_t)size);
        free(buf);
        a = ours(tmpdir_path("cut.png"), &w, err, sizeof(err));
        ok(!a && strstr(err, "png image could not be decoded"), "IEND broken: refused (%s)", a ? "accepted" : err);
        ok(w.last == 48, "and its last rows never reached the callback (%u of 64 did)", w.last);
        if (a) gdImageDestroy(a);
        a = tiler_image_load(tmpdir_path("sq.png"), TILER_FMT_PNG, err, sizeof(err));
        ok(a && same(a, sq), "the file with its IEND: accepted");
        if (a) gdImageDestroy(a);
        gdImageDestroy(sq);
    }

    gdImageDestroy(rgb);
    gdImageDestroy(rgba);
    {
        const char *all[] = { "rgb.png", "rgba.png", "gd.png", "interlaced.png", "cut.png", "alpha-low.png", "sq.png" };
        size_t k;
        for (k = 0; k < sizeof(all) / sizeof(all[0]); k++) unlink(tmpdir_path(all[k]));
    }
    rmdir(tmpdir_name);
    return done_testing();
}
