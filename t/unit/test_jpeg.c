/* The row-at-a-time JPEG decoder gives libgd's loader's pixels exactly, for
 * colour, grey and progressive files; refuses truncated and corrupt ones,
 * which libgd's loader takes with grey rows; calls back with rows in order;
 * stops when told; converts CMYK (Adobe's inverted, plain, YCCK) as libgd's
 * loader does. */
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

/* A progressive JPEG with every scan libjpeg allows: each AC coefficient
 * of each component in a scan of its own, first at 10 bits short, then
 * refined a bit at a time (11 scans per coefficient). comps 1: 704 scans;
 * comps 3: 2090. */
static void write_scans(gdImagePtr im, const char *p, int comps)
{
    static jpeg_scan_info scans[3 * 63 * 11 + 11];
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    FILE *f = fopen(p, "wb");
    unsigned char *row = malloc((size_t)gdImageSX(im) * 3);
    int n = 0, al, k, ci, x;
    for (al = 10; al >= 0; al--, n++) {   /* DC, all components together */
        scans[n].comps_in_scan = comps;
        for (ci = 0; ci < comps; ci++) scans[n].component_index[ci] = ci;
        scans[n].Ss = scans[n].Se = 0;
        scans[n].Ah = al == 10 ? 0 : al + 1;
        scans[n].Al = al;
    }
    for (ci = 0; ci < comps; ci++)
        for (k = 1; k < 64; k++)
            for (al = 10; al >= 0; al--, n++) {
                scans[n].comps_in_scan = 1;
                scans[n].component_index[0] = ci;
                scans[n].Ss = scans[n].Se = k;
                scans[n].Ah = al == 10 ? 0 : al + 1;
                scans[n].Al = al;
            }
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)gdImageSX(im);
    c.image_height = (JDIMENSION)gdImageSY(im);
    c.input_components = comps;
    c.in_color_space = comps == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&c);
    c.scan_info = scans;
    c.num_scans = n;
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        int *px = im->tpixels[c.next_scanline];
        for (x = 0; x < gdImageSX(im); x++)
            for (ci = 0; ci < comps; ci++) row[comps * x + ci] = (unsigned char)(px[x] >> (8 * ci));
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    fclose(f);
    free(row);
}

/* A CMYK (or YCCK) file with the inverted channels libjpeg's CMYK input
 * takes as Adobe writes them, with or without Adobe's marker. */
static void write_cmyk(gdImagePtr im, const char *p, J_COLOR_SPACE cs, int adobe)
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
    c.input_components = 4;
    c.in_color_space = JCS_CMYK;
    jpeg_set_defaults(&c);
    jpeg_set_colorspace(&c, cs);
    c.write_Adobe_marker = adobe ? TRUE : FALSE;
    jpeg_set_quality(&c, 85, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        int *px = im->tpixels[c.next_scanline];
        for (x = 0; x < gdImageSX(im); x++) {
            row[4 * x] = (unsigned char)(255 - gdTrueColorGetRed(px[x]));
            row[4 * x + 1] = (unsigned char)(255 - gdTrueColorGetGreen(px[x]));
            row[4 * x + 2] = (unsigned char)(255 - gdTrueColorGetBlue(px[x]));
            row[4 * x + 3] = (unsigned char)(x & 255);
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

/* Frees what a failed check may have left. */
static void drop(gdImagePtr im)
{
    if (im) gdImageDestroy(im);
}

static gdImagePtr ours(const char *p, watch *w, char *err, size_t errlen)
{
    FILE *f = fopen(p, "rb");
    tiler_band b;
    gdImagePtr im;
    watch_band(&b, w);
    im = band_image(&b, tiler_jpeg_decode(f, &b, err, errlen));
    fclose(f);
    return im;
}

int main(void)
{
    gdImagePtr src = testimg_make(333, 257, 0, 5), a, b;
    char err[256];
    FILE *f;
    struct { const char *name; J_COLOR_SPACE cs; int comps, progressive; } kinds[] = {
        { "rgb.jpg", JCS_RGB, 3, 0 }, { "rgb-progressive.jpg", JCS_RGB, 3, 1 },
        { "gray.jpg", JCS_GRAYSCALE, 1, 0 }, { "gray-progressive.jpg", JCS_GRAYSCALE, 1, 1 },
    };
    size_t k;

    if (tmpdir_make() < 0) return 1;
    tiler_gd_errors_capture();   /* libgd's warnings about the cut files are expected */
    for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        watch w = { 0, 0, 0, 1, 1, 0 };
        write_raw(src, path(kinds[k].name), kinds[k].cs, kinds[k].comps, kinds[k].progressive);
        a = ours(path(kinds[k].name), &w, err, sizeof(err));
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
    a = ours(path("gd.jpg"), NULL, err, sizeof(err));
    b = gd_load(path("gd.jpg"));
    ok(same(a, b), "a JPEG libgd wrote: the same pixels");
    ok(a && !a->alphaBlendingFlag && a->saveAlphaFlag, "loaded with blending off and alpha saved, like tiler_image_load");
    drop(a);
    drop(b);

    /* Truncated or corrupt: libjpeg warns and fills in grey, libgd takes
     * that as whole; here it is refused, with rows already out or not. */
    {
        static const double cuts[] = { 0.02, 0.1, 0.5, 0.9 };
        long gd_size;
        char *gdj = slurp(path("gd.jpg"), &gd_size), *buf;
        size_t c;
        for (c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++) {
            watch w = { 0, 0, 0, 1, 1, 0 };
            spew(path("cut.jpg"), gdj, (size_t)(gd_size * cuts[c]));
            a = ours(path("cut.jpg"), &w, err, sizeof(err));
            ok(!a && strstr(err, "jpeg image is truncated or corrupt"), "cut at %.0f %%: refused (%s)", cuts[c] * 100, err);
            if (a) gdImageDestroy(a);
            b = gd_load(path("cut.jpg"));
            if (c == 2) ok(b != NULL, "(which libgd's loader takes, %u rows reached the callback first)", w.last);
            if (b) gdImageDestroy(b);
            a = tiler_image_load(path("cut.jpg"), TILER_FMT_JPEG, err, sizeof(err));
            ok(!a && strstr(err, "truncated or corrupt"), "cut at %.0f %%: tiler_image_load refuses it too", cuts[c] * 100);
            if (a) gdImageDestroy(a);
        }
        spew(path("cut.jpg"), gdj, (size_t)gd_size - 2);
        {
            watch w = { 0, 0, 0, 1, 1, 0 };
            a = ours(path("cut.jpg"), &w, err, sizeof(err));
            ok(!a && strstr(err, "Premature end"), "without its end marker: refused (%s)", err);
            ok(w.last > 0 && w.last < 257, "and its last rows never reached the callback (%u of 257 did)", w.last);
            if (a) gdImageDestroy(a);
        }
        /* Bytes between the last scan and the end marker, as many cameras
         * and phones write: libjpeg warns "N extraneous bytes before marker
         * 0xd9" once every row is decoded. The pixels are whole: accepted,
         * as libgd's loader does, baseline and progressive. */
        buf = malloc((size_t)gd_size + 1000);
        memcpy(buf, gdj, (size_t)gd_size - 2);
        memset(buf + gd_size - 2, 0x55, 1000);
        memcpy(buf + gd_size + 998, "\xff\xd9", 2);
        spew(path("cut.jpg"), buf, (size_t)gd_size + 1000);
        free(buf);
        {
            watch w = { 0, 0, 0, 1, 1, 0 };
            a = ours(path("cut.jpg"), &w, err, sizeof(err));
            b = gd_load(path("cut.jpg"));
            ok(a && same(a, b), "junk before the end marker: accepted, libgd's loader's pixels (%s)", a ? "" : err);
            ok(w.last == 257, "every row reached the callback");
            drop(a);
            drop(b);
        }
        {
            long psize;
            char *pj = slurp(path("rgb-progressive.jpg"), &psize);
            buf = malloc((size_t)psize + 300);
            memcpy(buf, pj, (size_t)psize - 2);
            memset(buf + psize - 2, 0x17, 300);
            memcpy(buf + psize + 298, "\xff\xd9", 2);
            spew(path("cut.jpg"), buf, (size_t)psize + 300);
            free(buf);
            free(pj);
            a = ours(path("cut.jpg"), NULL, err, sizeof(err));
            b = gd_load(path("cut.jpg"));
            ok(a && same(a, b), "junk before the end marker of a progressive JPEG: accepted (%s)", a ? "" : err);
            drop(a);
            drop(b);
        }
        /* Bytes where a marker should be: "N extraneous bytes before marker".
         * (Before the end marker they are not seen: libjpeg has read them
         * ahead as the scan's data and drops them.) */
        buf = malloc((size_t)gd_size + 3);
        memcpy(buf, gdj, 2);
        memcpy(buf + 2, "\x12\x34\x56", 3);
        memcpy(buf + 5, gdj + 2, (size_t)gd_size - 2);
        spew(path("cut.jpg"), buf, (size_t)gd_size + 3);
        a = ours(path("cut.jpg"), NULL, err, sizeof(err));
        ok(!a && strstr(err, "3 extraneous bytes"), "bytes between two markers: refused (%s)", err);
        if (a) gdImageDestroy(a);
        /* A restart marker in the middle of the data, which has none. */
        memcpy(buf, gdj, (size_t)gd_size);
        memcpy(buf + gd_size / 2, "\xff\xd3", 2);
        spew(path("cut.jpg"), buf, (size_t)gd_size);
        a = ours(path("cut.jpg"), NULL, err, sizeof(err));
        ok(!a && strstr(err, "truncated or corrupt"), "a marker inside the data: refused (%s)", err);
        if (a) gdImageDestroy(a);
        free(buf);
        free(gdj);
    }
    {
        FILE *t = fopen(path("head.jpg"), "wb");
        fwrite("\xff\xd8\xff\xe0\x00\x10JFIF", 1, 10, t);
        fclose(t);
    }
    a = ours(path("head.jpg"), NULL, err, sizeof(err));
    ok(!a && strstr(err, "jpeg image "), "a JPEG with only a header fails: %s", err);
    drop(a);

    {
        watch w = { 0, 0, 100, 1, 1, 0 };
        a = ours(path("rgb.jpg"), &w, err, sizeof(err));
        ok(!a && !strcmp(err, "stopped at row 112") && w.last == 112, "the callback stops the decoding: %s", err);
        drop(a);
    }

    /* Thousands of tiny scans: each a pass over the image (minutes of CPU
     * for a large one). Over 1000 is refused; 704 still decode. */
    {
        gdImagePtr small = testimg_make(40, 24, 0, 8);
        write_scans(small, path("scans.jpg"), 3);
        a = ours(path("scans.jpg"), NULL, err, sizeof(err));
        ok(!a && strstr(err, "more than 1000 scans"), "2090 scans: refused (%s)", a ? "accepted" : err);
        drop(a);
        a = tiler_image_load(path("scans.jpg"), TILER_FMT_JPEG, err, sizeof(err));
        ok(!a && strstr(err, "scans"), "and by tiler_image_load (%s)", a ? "accepted" : err);
        drop(a);
        write_scans(small, path("scans.jpg"), 1);
        a = ours(path("scans.jpg"), NULL, err, sizeof(err));
        b = gd_load(path("scans.jpg"));
        ok(a && same(a, b), "704 scans: decoded, libgd's loader's pixels (%s)", a ? "" : err);
        drop(a);
        drop(b);
        gdImageDestroy(small);
        unlink(path("scans.jpg"));
    }

    {
        /* libjpeg writes Adobe's marker (inverted channels) unless told not
         * to; YCCK is CMYK through a colour transform. */
        static const struct { const char *name; J_COLOR_SPACE cs; int adobe; } cm[] = {
            { "cmyk.jpg", JCS_CMYK, 1 }, { "cmyk-plain.jpg", JCS_CMYK, 0 }, { "ycck.jpg", JCS_YCCK, 1 },
        };
        for (k = 0; k < sizeof(cm) / sizeof(cm[0]); k++) {
            watch w = { 0, 0, 0, 1, 1, 0 };
            write_cmyk(src, path(cm[k].name), cm[k].cs, cm[k].adobe);
            a = ours(path(cm[k].name), &w, err, sizeof(err));
            b = gd_load(path(cm[k].name));
            ok(a && b && same(a, b), "%s: decoded in rows, the same pixels as libgd's loader%s%s", cm[k].name, a ? "" : ": ", a ? "" : err);
            ok(w.ordered && w.last == 257 && w.calls > 1, "%s: %u callbacks, rows rising to %u", cm[k].name, w.calls, w.last);
            drop(a);
            drop(b);
        }
    }
    {
        long n;
        char *cmyk = slurp(path("cmyk.jpg"), &n);
        spew(path("cut.jpg"), cmyk, (size_t)n * 6 / 10);
        a = ours(path("cut.jpg"), NULL, err, sizeof(err));
        ok(!a && strstr(err, "truncated or corrupt"), "a truncated CMYK JPEG: refused (%s)", err);
        drop(a);
        a = tiler_image_load(path("cut.jpg"), TILER_FMT_JPEG, err, sizeof(err));
        ok(!a, "and tiler_image_load refuses it");
        drop(a);
        free(cmyk);
    }

    gdImageDestroy(src);
    for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) unlink(path(kinds[k].name));
    unlink(path("gd.jpg")); unlink(path("cut.jpg")); unlink(path("head.jpg")); unlink(path("cmyk.jpg")); unlink(path("cmyk-plain.jpg")); unlink(path("ycck.jpg"));
    rmdir(tmpdir_name);
    return done_testing();
}
