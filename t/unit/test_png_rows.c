/* The row-at-a-time PNG decoder gives libgd's loader's pixels exactly for
 * the PNGs it takes (8-bit RGB and RGBA), leaves the others to libgd
 * (through tiler_image_load, with the same pixels), fails on a truncated
 * file as libgd does, and calls back with rows in order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
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

static gdImagePtr ours(const char *p, watch *w, int *other, char *err, size_t errlen)
{
    FILE *f = fopen(p, "rb");
    gdImagePtr im = tiler_png_load_rows(f, w ? on_rows : NULL, w, other, err, errlen);
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

int main(void)
{
    gdImagePtr rgb = testimg_make(301, 203, 0, 3), rgba = testimg_make(301, 203, 1, 4), a, b;
    char err[256];
    int other;

    if (tmpdir_make() < 0) return 1;
    write_ours(rgb, tmpdir_path("rgb.png"));     /* colour type 2 */
    write_ours(rgba, tmpdir_path("rgba.png"));   /* colour type 6, every alpha level */
    write_gd(rgba, tmpdir_path("gd.png"), 0);    /* libgd's own writer */
    {
        const char *names[] = { "rgb.png", "rgba.png", "gd.png" };
        int k;
        for (k = 0; k < 3; k++) {
            watch w = { 0, 0, 0, 1, 1 };
            a = ours(tmpdir_path(names[k]), &w, &other, err, sizeof(err));
            b = gd_load(tmpdir_path(names[k]));
            ok(same(a, b), "%s: the same pixels as libgd's loader", names[k]);
            ok(w.ordered && w.last == 203 && w.calls == 13, "%s: %u callbacks, rows rising to %u", names[k], w.calls, w.last);
            if (a) gdImageDestroy(a);
            if (b) gdImageDestroy(b);
        }
    }

    /* Left to libgd: interlaced, palette, grey. */
    write_gd(rgba, tmpdir_path("interlaced.png"), 1);
    {
        gdImagePtr pal = gdImageCreate(50, 40), gray = testimg_make(64, 48, 0, 9);
        int c = gdImageColorAllocate(pal, 10, 200, 30), x, y;
        FILE *f;
        gdImageFilledRectangle(pal, 0, 0, 49, 39, c);
        f = fopen(tmpdir_path("palette.png"), "wb");
        gdImagePng(pal, f);
        fclose(f);
        gdImageDestroy(pal);
        for (y = 0; y < 48; y++)
            for (x = 0; x < 64; x++) { int v = gdTrueColorGetGreen(gray->tpixels[y][x]); gray->tpixels[y][x] = gdTrueColor(v, v, v); }
        write_ours(gray, tmpdir_path("gray.png"));   /* colour type 0 */
        gdImageDestroy(gray);
    }
    {
        const char *names[] = { "interlaced.png", "palette.png", "gray.png" };
        int k;
        for (k = 0; k < 3; k++) {
            a = ours(tmpdir_path(names[k]), NULL, &other, err, sizeof(err));
            ok(!a && other, "%s is left to libgd", names[k]);
            a = tiler_image_load(tmpdir_path(names[k]), TILER_FMT_PNG, err, sizeof(err));
            b = gd_load(tmpdir_path(names[k]));
            if (b) { gdImageAlphaBlending(b, 0); gdImageSaveAlpha(b, 1); }
            ok(a && same(a, b), "%s: tiler_image_load gives libgd's pixels", names[k]);
            if (a) gdImageDestroy(a);
            if (b) gdImageDestroy(b);
        }
    }

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
    a = ours(tmpdir_path("cut.png"), NULL, &other, err, sizeof(err));
    b = gd_load(tmpdir_path("cut.png"));
    ok(!a && !b && !other && strstr(err, "png image could not be decoded"), "a PNG cut in half fails: %s", err);

    {
        watch w = { 0, 0, 100, 1, 1 };
        a = ours(tmpdir_path("rgb.png"), &w, &other, err, sizeof(err));
        ok(!a && !strcmp(err, "stopped at row 112"), "the callback stops the decoding: %s", err);
    }

    gdImageDestroy(rgb);
    gdImageDestroy(rgba);
    {
        const char *all[] = { "rgb.png", "rgba.png", "gd.png", "interlaced.png", "palette.png", "gray.png", "cut.png" };
        size_t k;
        for (k = 0; k < sizeof(all) / sizeof(all[0]); k++) unlink(tmpdir_path(all[k]));
    }
    rmdir(tmpdir_name);
    return done_testing();
}
