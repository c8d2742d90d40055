/* The row-at-a-time JPEG decoder gives libgd's loader's pixels exactly, for
 * colour, grey, progressive and truncated files; calls back with rows in
 * order; stops when told; leaves CMYK to libgd. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jpeglib.h>
#include "tap.h"
#include "rowwatch.h"
#include "tmpdir.h"
#include "testimg.h"
#include "tiler_image.h"
#include "tiler_jpeg.h"

#define path tmpdir_path

/* Writes im through libjpeg in the given colour space (gray takes green,
 * CMYK the inverted channels). */
static void write_raw(gdImagePtr im, const char *p, J_COLOR_SPACE cs, int comps, int progressive)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    FILE *f = fopen(p, "wb");
    unsigned char *row = malloc((size_t)gdImageSX(im) * 4);
    int x;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)gdImageSX(im);
    c.image_height = (JDIMENSION)gdImageSY(im);
    c.input_components = comps;
    c.in_color_space = cs;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 85, TRUE);
    if (progressive) jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        int *px = im->tpixels[c.next_scanline];
        for (x = 0; x < gdImageSX(im); x++) {
            int r = gdTrueColorGetRed(px[x]), g = gdTrueColorGetGreen(px[x]), b = gdTrueColorGetBlue(px[x]);
            if (comps == 1) row[x] = (unsigned char)g;
            else if (comps == 3) { row[3 * x] = (unsigned char)r; row[3 * x + 1] = (unsigned char)g; row[3 * x + 2] = (unsigned char)b; }
            else { row[4 * x] = (unsigned char)(255 - r); row[4 * x + 1] = (unsigned char)(255 - g);
                   row[4 * x + 2] = (unsigned char)(255 - b); row[4 * x + 3] = 255; }
        }
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    fclose(f);
    free(row);
}

static gdImagePtr gd_load(const char *p)
{
    FILE *f = fopen(p, "rb");
    gdImagePtr im = gdImageCreateFromJpegEx(f, 0);
    fclose(f);
    return im;
}

static gdImagePtr ours(const char *p, watch *w, int *other, char *err, size_t errlen)
{
    FILE *f = fopen(p, "rb");
    gdImagePtr im = tiler_jpeg_load_rows(f, w ? on_rows : NULL, w, other, err, errlen);
    fclose(f);
    return im;
}

int main(void)
{
    gdImagePtr src = testimg_make(333, 257, 0, 5), a, b;
    char err[256];
    int other;
    FILE *f;
    long size;
    struct { const char *name; J_COLOR_SPACE cs; int comps, progressive; } kinds[] = {
        { "rgb.jpg", JCS_RGB, 3, 0 }, { "rgb-progressive.jpg", JCS_RGB, 3, 1 },
        { "gray.jpg", JCS_GRAYSCALE, 1, 0 }, { "gray-progressive.jpg", JCS_GRAYSCALE, 1, 1 },
    };
    size_t k;

    if (tmpdir_make() < 0) return 1;
    for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        watch w = { 0, 0, 0, 1, 1 };
        write_raw(src, path(kinds[k].name), kinds[k].cs, kinds[k].comps, kinds[k].progressive);
        a = ours(path(kinds[k].name), &w, &other, err, sizeof(err));
        b = gd_load(path(kinds[k].name));
        ok(same(a, b), "%s: the same pixels as libgd's loader", kinds[k].name);
        ok(w.ordered && w.rows_final && w.last == 257 && w.calls > 1, "%s: %u callbacks, rows rising to %u",
           kinds[k].name, w.calls, w.last);
        if (a) gdImageDestroy(a);
        if (b) gdImageDestroy(b);
    }
    /* libgd's own writer (4:2:0, its quantisation). */
    f = fopen(path("gd.jpg"), "wb");
    gdImageJpeg(src, f, 90);
    fclose(f);
    a = ours(path("gd.jpg"), NULL, &other, err, sizeof(err));
    b = gd_load(path("gd.jpg"));
    ok(same(a, b), "a JPEG libgd wrote: the same pixels");
    ok(a && !a->alphaBlendingFlag && a->saveAlphaFlag, "loaded with blending off and alpha saved, like tiler_image_load");
    gdImageDestroy(a);
    gdImageDestroy(b);

    /* Truncated: rows never sent come grey, as libgd accepts them too. */
    f = fopen(path("gd.jpg"), "rb");
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    {
        FILE *t = fopen(path("cut.jpg"), "wb");
        char *buf = malloc((size_t)size);
        rewind(f);
        if (fread(buf, 1, (size_t)size, f) != (size_t)size) return 1;
        fwrite(buf, 1, (size_t)size / 2, t);
        fclose(t);
        free(buf);
    }
    fclose(f);
    a = ours(path("cut.jpg"), NULL, &other, err, sizeof(err));
    b = gd_load(path("cut.jpg"));
    ok(same(a, b), "a JPEG cut in half: the same pixels as libgd");
    if (a) gdImageDestroy(a);
    if (b) gdImageDestroy(b);
    {
        FILE *t = fopen(path("head.jpg"), "wb");
        fwrite("\xff\xd8\xff\xe0\x00\x10JFIF", 1, 10, t);
        fclose(t);
    }
    a = ours(path("head.jpg"), NULL, &other, err, sizeof(err));
    ok(!a && !other && strstr(err, "jpeg image could not be decoded"), "a JPEG with only a header fails: %s", err);

    {
        watch w = { 0, 0, 100, 1, 1 };
        a = ours(path("rgb.jpg"), &w, &other, err, sizeof(err));
        ok(!a && !strcmp(err, "stopped at row 112") && w.last == 112, "the callback stops the decoding: %s", err);
    }

    write_raw(src, path("cmyk.jpg"), JCS_CMYK, 4, 0);
    a = ours(path("cmyk.jpg"), NULL, &other, err, sizeof(err));
    ok(!a && other, "a CMYK JPEG is left to libgd");
    a = tiler_image_load(path("cmyk.jpg"), TILER_FMT_JPEG, err, sizeof(err));
    b = gd_load(path("cmyk.jpg"));
    ok(a && same(a, b), "which tiler_image_load then uses");
    if (a) gdImageDestroy(a);
    if (b) gdImageDestroy(b);

    gdImageDestroy(src);
    for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) unlink(path(kinds[k].name));
    unlink(path("gd.jpg")); unlink(path("cut.jpg")); unlink(path("head.jpg")); unlink(path("cmyk.jpg"));
    rmdir(tmpdir_name);
    return done_testing();
}
