/* Strips encoded from the raster a few rows at a time and streamed to
 * their files (tiler_strip.c) against the whole-strip encoders they
 * replace in the module: the same bytes, PNG and JPEG, for strips taller,
 * shorter and not a multiple of the rows read at a time; a PNG joined from
 * the files a buffer at a time equals one joined from strips in memory;
 * a strip already in place is left alone. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tap.h"
#include "testimg.h"
#include "tmpdir.h"
#include "tiler_defaults.h"
#include "tiler_jpeg_out.h"
#include "tiler_msg.h"
#include "tiler_png.h"
#include "tiler_strip.h"

/* pread is wrapped (-Wl,--wrap, Makefile.am) so that a raster can be
 * removed in the middle of a strip, as a failed or deleted job's is. */
static const char *unlink_on_pread;
ssize_t __real_pread(int fd, void *buf, size_t n, off_t off);
ssize_t __wrap_pread(int fd, void *buf, size_t n, off_t off);
ssize_t __wrap_pread(int fd, void *buf, size_t n, off_t off)
{
    if (unlink_on_pread) {
        unlink(unlink_on_pread);
        unlink_on_pread = NULL;
    }
    return __real_pread(fd, buf, n, off);
}

/* Files in the test directory whose names start with prefix. */
static int files_named(const char *prefix)
{
    DIR *d = opendir(tmpdir_name);
    struct dirent *de;
    int n = 0;
    while (d && (de = readdir(d))) n += !strncmp(de->d_name, prefix, strlen(prefix));
    if (d) closedir(d);
    return n;
}

/* The image as a raster file in a layout (tiler_raster.h), written here
 * byte by byte: gd ints, little-endian (this test runs where the spool's
 * raster is the memory layout); R, G, B; or grey. */
static int write_raster(gdImagePtr im, const char *path, int packing)
{
    FILE *f = fopen(path, "wb");
    int x, y, okay = f != NULL;
    for (y = 0; okay && y < gdImageSY(im); y++) {
        if (packing == TILER_PACK_GD) {
            okay = fwrite(im->tpixels[y], sizeof(int), (size_t)gdImageSX(im), f) == (size_t)gdImageSX(im);
            continue;
        }
        for (x = 0; okay && x < gdImageSX(im); x++) {
            unsigned v = (unsigned)im->tpixels[y][x];
            if (packing == TILER_PACK_RGB) okay = putc((int)(v >> 16 & 0xff), f) != EOF && putc((int)(v >> 8 & 0xff), f) != EOF;
            okay = okay && putc((int)(v & 0xff), f) != EOF;
        }
    }
    if (f && fclose(f) != 0) okay = 0;
    return okay ? 0 : -1;
}

static const char *layout(int packing)
{
    return packing == TILER_PACK_GREY ? "grey" : packing == TILER_PACK_RGB ? "RGB" : "gd";
}

static int same_bytes(const char *path, const unsigned char *want, size_t n)
{
    long size;
    char *got = slurp(path, &size);
    int same = got && (size_t)size == n && !memcmp(got, want, n);
    free(got);
    return same;
}

/* The old whole-strip PNG file: the strip in memory, then saved. */
static int png_old(gdImagePtr im, uint32_t top, uint32_t n, int color, int last, const char *path)
{
    tiler_png_strip s;
    char err[256];
    int rc = tiler_png_strip_encode((const int *const *)im->tpixels + top, (uint32_t)gdImageSX(im), n, color,
                                    TILER_PNG_LEVEL, last, &s, err, sizeof(err));
    if (rc == 0) rc = tiler_png_strip_save(path, &s, err, sizeof(err));
    tiler_png_strip_free(&s);
    return rc;
}

static void one_image_as(int w, int h, int alpha, uint32_t t, int jpeg, int packing, int grey);

/* A raster in packing's layout: a grey one holds a grey image (a PNG of
 * grey samples), the others the test image. */
static void one_image(int w, int h, int alpha, uint32_t t, int jpeg, int packing)
{
    one_image_as(w, h, alpha, t, jpeg, packing, packing == TILER_PACK_GREY);
}

/* The same, with the PNG grey or not whatever the raster's layout (grey
 * pixels, a grey result, in a raster of another layout). */
static void one_image_as(int w, int h, int alpha, uint32_t t, int jpeg, int packing, int grey)
{
    gdImagePtr im = testimg_make(w, h, alpha, (uint32_t)(w * 31 + h));
    uint32_t k, nstrips = ((uint32_t)h + t - 1) / t;
    int color = tiler_png_color(alpha, grey), all = 1, x, y;
    char err[256] = "", name[64], raster[300];
    if (grey || packing == TILER_PACK_GREY)
        for (y = 0; y < h; y++)
            for (x = 0; x < w; x++) im->tpixels[y][x] = (int)((unsigned)(im->tpixels[y][x] >> 8 & 0xff) * 0x010101u);
    snprintf(raster, sizeof(raster), "%s", tmpdir_path("raster"));
    if (write_raster(im, raster, packing) < 0) { ok(0, "raster written"); gdImageDestroy(im); return; }
    for (k = 0; k < nstrips; k++) {
        uint32_t top = k * t, n = (uint32_t)h - top < t ? (uint32_t)h - top : t;
        tiler_strip_spec sp = { (uint32_t)w, (uint32_t)h, top, n, jpeg, TILER_JPEG_QUALITY, color, TILER_PNG_LEVEL };
        snprintf(name, sizeof(name), "strip-%u", k);
        if (tiler_strip_encode_raster(raster, &sp, tmpdir_path(name), err, sizeof(err)) != 0) { all = 0; break; }
        if (jpeg) {
            unsigned char *old;
            size_t len;
            int *px = malloc((size_t)w * n * sizeof(int));
            for (y = 0; y < (int)n; y++) memcpy(px + (size_t)y * (size_t)w, im->tpixels[top + (uint32_t)y], (size_t)w * sizeof(int));
            if (tiler_jpeg_strip_encode(px, (uint32_t)w, (uint32_t)h, top, n, TILER_JPEG_QUALITY, &old, &len, err, sizeof(err)) < 0)
                all = 0;
            else if (!same_bytes(tmpdir_path(name), old, len)) { all = 0; snprintf(err, sizeof(err), "strip %u differs", k); }
            if (!all) { free(px); break; }
            free(old);
            free(px);
        } else {
            long len;
            char *old;
            if (png_old(im, top, n, color, k + 1 == nstrips, tmpdir_path("old")) < 0) { all = 0; break; }
            old = slurp(tmpdir_path("old"), &len);
            if (!same_bytes(tmpdir_path(name), (unsigned char *)old, (size_t)len)) { all = 0; snprintf(err, sizeof(err), "strip %u differs", k); }
            free(old);
            if (!all) break;
        }
    }
    ok(all, "%dx%d%s from a %s raster in %s%s strips of %u rows, %u rows read at a time: the whole-strip encoder's bytes %s", w,
       h, alpha ? " with alpha" : "", layout(packing), grey && !jpeg ? "grey " : "", jpeg ? "JPEG" : "PNG", t,
       (unsigned)TILER_STRIP_CHUNK_ROWS, err);
    if (!jpeg && all) {
        /* Joined from the files a buffer at a time, as the module does. */
        char *a = NULL, *b = NULL;
        size_t na = 0, nb = 0;
        FILE *fa = open_memstream(&a, &na), *fb = open_memstream(&b, &nb);
        tiler_png_writer *wa = tiler_png_begin(fa, (uint32_t)w, (uint32_t)h, color), *wb = tiler_png_begin(fb, (uint32_t)w, (uint32_t)h, color);
        int rc = 0;
        for (k = 0; k < nstrips; k++) {
            tiler_png_strip s;
            snprintf(name, sizeof(name), "strip-%u", k);
            rc |= tiler_png_add_file(wa, tmpdir_path(name), err, sizeof(err));
            rc |= tiler_png_strip_load(tmpdir_path(name), &s, err, sizeof(err));
            tiler_png_add(wb, &s);
            tiler_png_strip_free(&s);
        }
        rc |= tiler_png_end(wa, err, sizeof(err)) | tiler_png_end(wb, err, sizeof(err));
        fclose(fa);
        fclose(fb);
        ok(rc == 0 && na == nb && !memcmp(a, b, na), "joined from the files a buffer at a time: the same PNG (%zu bytes)", na);
        free(a);
        free(b);
    }
    for (k = 0; k < nstrips; k++) { snprintf(name, sizeof(name), "strip-%u", k); unlink(tmpdir_path(name)); }
    unlink(tmpdir_path("old"));
    unlink(raster);
    gdImageDestroy(im);
}

int main(void)
{
    char err[256] = "";
    if (tmpdir_make() < 0) return 1;
    one_image(100, 200, 0, 64, 0, TILER_PACK_GD);    /* strips of two chunks */
    one_image(77, 150, 1, 40, 0, TILER_PACK_GD);     /* a chunk and a part */
    one_image(300, 70, 0, 16, 0, TILER_PACK_GD);     /* strips shorter than a chunk */
    one_image(33, 513, 0, 512, 0, TILER_PACK_GD);    /* a 512-row strip and a 1-row one */
    one_image(1500, 600, 1, 512, 0, TILER_PACK_GD);  /* strips of many 64 KiB output buffers */
    one_image(100, 200, 0, 64, 1, TILER_PACK_GD);
    one_image(77, 150, 1, 40, 1, TILER_PACK_GD);
    one_image(300, 70, 0, 16, 1, TILER_PACK_GD);
    one_image(40, 1030, 0, 512, 1, TILER_PACK_GD);   /* restart markers wrap many times */
    one_image(1500, 600, 0, 512, 1, TILER_PACK_GD);
    /* Grey and RGB rasters: PNG rows go to the deflater as read. */
    one_image(100, 200, 0, 64, 0, TILER_PACK_RGB);
    one_image(300, 70, 0, 16, 0, TILER_PACK_RGB);
    one_image(1500, 600, 0, 512, 0, TILER_PACK_RGB);
    one_image(100, 200, 0, 64, 0, TILER_PACK_GREY);
    one_image(33, 513, 0, 512, 0, TILER_PACK_GREY);
    one_image(1500, 600, 0, 512, 0, TILER_PACK_GREY);
    /* A grey PNG from an RGB raster, an RGB one from a grey raster: the
     * rows go through gd values (not as read). */
    one_image_as(100, 200, 0, 64, 0, TILER_PACK_RGB, 1);
    one_image_as(100, 200, 0, 64, 0, TILER_PACK_GREY, 0);
    one_image_as(100, 200, 1, 64, 0, TILER_PACK_GD, 1);
    {
        /* Rows as samples past the strip's: refused, nothing written. */
        char *buf = NULL;
        size_t len = 0;
        FILE *mf = open_memstream(&buf, &len);
        unsigned char rows[3 * 10 * 3] = { 0 };
        tiler_png_strip_out *o = tiler_png_strip_out_begin(mf, 10, 2, TILER_PNG_RGB, TILER_PNG_LEVEL, 1, err, sizeof(err));
        ok(o && tiler_png_strip_out_samples(o, rows, 3, err, sizeof(err)) < 0 && strstr(err, "past"),
           "3 rows of samples for a 2-row strip: -1 (%s)", err);
        ok(o && tiler_png_strip_out_samples(o, rows, 1, err, sizeof(err)) == 0
           && tiler_png_strip_out_samples(o, rows, 2, err, sizeof(err)) < 0 && strstr(err, "past"),
           "one row, then two more: the two refused (%s)", err);
        ok(o && tiler_png_strip_out_samples(o, rows, 1, err, sizeof(err)) == 0 && tiler_png_strip_out_end(o, err, sizeof(err)) == 0,
           "and its second row then ends it");
        fclose(mf);
        free(buf);
    }
    /* JPEG strips from them (widened to gd values on the way). */
    one_image(100, 200, 0, 64, 1, TILER_PACK_RGB);
    one_image(40, 1030, 0, 512, 1, TILER_PACK_GREY);
    {
        /* A copy of a strip already placed: this one is dropped (1), the
         * file there is untouched. */
        gdImagePtr im = testimg_make(20, 16, 0, 5);
        tiler_strip_spec sp = { 20, 16, 0, 16, 0, 0, TILER_PNG_RGB, TILER_PNG_LEVEL };
        FILE *f;
        long n;
        char *back;
        write_raster(im, tmpdir_path("raster"), TILER_PACK_GD);
        f = fopen(tmpdir_path("there"), "wb");
        fputs("first", f);
        fclose(f);
        ok(tiler_strip_encode_raster(tmpdir_path("raster"), &sp, tmpdir_path("there"), err, sizeof(err)) == 1,
           "a strip already in place: 1");
        back = slurp(tmpdir_path("there"), &n);
        ok(back && n == 5 && !memcmp(back, "first", 5), "and the file there is left as it was");
        free(back);
        sp.top = 8;
        err[0] = 0;
        ok(tiler_strip_encode_raster(tmpdir_path("raster"), &sp, tmpdir_path("past"), err, sizeof(err)) < 0 && err[0],
           "rows past the image: -1 (%s)", err);
        ok(access(tmpdir_path("past"), F_OK) != 0, "and no file");
        unlink(tmpdir_path("there"));
        unlink(tmpdir_path("raster"));
        gdImageDestroy(im);
    }
    {
        /* The raster removed while its strip is made (its job failed or
         * went): -2 at the next chunk of rows, and nothing written. */
        gdImagePtr im = testimg_make(100, 200, 0, 6);
        tiler_strip_spec sp = { 100, 200, 0, 64, 0, 0, TILER_PNG_RGB, TILER_PNG_LEVEL };
        write_raster(im, tmpdir_path("raster"), TILER_PACK_RGB);
        unlink_on_pread = tmpdir_path("raster");
        err[0] = 0;
        ok(tiler_strip_encode_raster(tmpdir_path("raster"), &sp, tmpdir_path("gone"), err, sizeof(err)) == -2
           && strstr(err, "removed at row 32"), "the raster removed after the first of two chunks: -2 (%s)", err);
        ok(files_named("gone") == 0, "and no strip, nor a file beside it");
        unlink_on_pread = NULL;
        gdImageDestroy(im);
    }
    rmdir(tmpdir_name);
    return done_testing();
}
