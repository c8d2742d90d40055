/* Streamed thumbnails (tiler_thumb.c): each pixel is the box-filtered mean
 * of the result's pixels, computed here from the whole image as the
 * reference; the memory used depends on the result's width, not its height
 * (a tall image is thumbnailed under an address-space limit far below what
 * the whole decoded image would need). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <jpeglib.h>
#include "tap.h"
#include "testimg.h"
#include "tmpdir.h"
#include "tiler_image.h"
#include "tiler_png.h"
#include "tiler_thumb.h"

/* libgd's 7-bit alpha to the 8 bits our PNG writer stores (libgd's own mapping). */
static int alpha8(int a7) { return 255 - ((a7 << 1) + (a7 >> 6)); }

/* The largest difference of any channel between thumb and the reference:
 * boxes as tiler_thumb.c defines them, means in floating point from the
 * whole image src (w x h of it: the box grid is the source's). */
static int max_diff(gdImagePtr src, gdImagePtr thumb)
{
    int sw = gdImageSX(src), sh = gdImageSY(src), tw = gdImageSX(thumb), th = gdImageSY(thumb);
    int x, y, worst = 0;
    for (y = 0; y < th; y++) {
        int y0 = (int)((long long)y * sh / th), y1 = (int)((long long)(y + 1) * sh / th);
        for (x = 0; x < tw; x++) {
            int x0 = (int)((long long)x * sw / tw), x1 = (int)((long long)(x + 1) * sw / tw), i, sx, sy;
            double s[4] = { 0, 0, 0, 0 }, n = (double)(x1 - x0) * (y1 - y0), ref[4];
            int got = thumb->tpixels[y][x], have[4];
            for (sy = y0; sy < y1; sy++)
                for (sx = x0; sx < x1; sx++) {
                    int p = src->tpixels[sy][sx], a = alpha8(gdTrueColorGetAlpha(p));
                    s[0] += a; s[1] += (double)a * gdTrueColorGetRed(p);
                    s[2] += (double)a * gdTrueColorGetGreen(p); s[3] += (double)a * gdTrueColorGetBlue(p);
                }
            ref[3] = 127 - ((int)(s[0] / n + 0.5) >> 1);
            for (i = 0; i < 3; i++) ref[i] = s[0] > 0 ? s[i + 1] / s[0] : 0;
            have[0] = gdTrueColorGetRed(got); have[1] = gdTrueColorGetGreen(got);
            have[2] = gdTrueColorGetBlue(got); have[3] = gdTrueColorGetAlpha(got);
            for (i = 0; i < 4; i++) {
                int d = (int)(have[i] > ref[i] ? have[i] - ref[i] + 0.5 : ref[i] - have[i] + 0.5);
                if (d > worst) worst = d;
            }
        }
    }
    return worst;
}

/* The mean absolute difference per channel (JPEG, where scaled decoding is
 * compared with the full decode). */
static double mean_diff(gdImagePtr a, gdImagePtr b)
{
    double s = 0;
    int x, y;
    for (y = 0; y < gdImageSY(a); y++)
        for (x = 0; x < gdImageSX(a); x++) {
            int p = a->tpixels[y][x], q = b->tpixels[y][x];
            s += abs(gdTrueColorGetRed(p) - gdTrueColorGetRed(q)) + abs(gdTrueColorGetGreen(p) - gdTrueColorGetGreen(q))
               + abs(gdTrueColorGetBlue(p) - gdTrueColorGetBlue(q));
        }
    return s / (3.0 * gdImageSX(a) * gdImageSY(a));
}

static gdImagePtr thumb_of(const char *path, uint32_t side, tiler_thumb_info *info, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    gdImagePtr im;
    if (!f) { snprintf(err, errlen, "cannot open %s", path); return NULL; }
    im = tiler_thumb_make(f, side, info, err, errlen);
    fclose(f);
    return im;
}

static void save_png(gdImagePtr im, const char *path)
{
    char err[256];
    FILE *f = fopen(path, "wb");
    tiler_png_save_image(im, f, 1, err, sizeof(err));
    fclose(f);
}

static void save_jpeg(gdImagePtr im, const char *path, int progressive)
{
    FILE *f = fopen(path, "wb");
    gdImageInterlace(im, progressive);
    gdImageJpeg(im, f, 90);
    gdImageInterlace(im, 0);
    fclose(f);
}

/* The reference box filter of a source into a thumbnail of the size tiler_thumb_size gives. */
static gdImagePtr ref_box(gdImagePtr src, uint32_t side)
{
    uint32_t tw, th;
    gdImagePtr t;
    int x, y;
    tiler_thumb_size((uint32_t)gdImageSX(src), (uint32_t)gdImageSY(src), side, &tw, &th);
    t = gdImageCreateTrueColor((int)tw, (int)th);
    for (y = 0; y < (int)th; y++) {
        int y0 = (int)((long long)y * gdImageSY(src) / th), y1 = (int)((long long)(y + 1) * gdImageSY(src) / th);
        for (x = 0; x < (int)tw; x++) {
            int x0 = (int)((long long)x * gdImageSX(src) / tw), x1 = (int)((long long)(x + 1) * gdImageSX(src) / tw);
            double s[3] = { 0, 0, 0 }, n = (double)(x1 - x0) * (y1 - y0);
            int sx, sy;
            for (sy = y0; sy < y1; sy++)
                for (sx = x0; sx < x1; sx++) {
                    int p = src->tpixels[sy][sx];
                    s[0] += gdTrueColorGetRed(p); s[1] += gdTrueColorGetGreen(p); s[2] += gdTrueColorGetBlue(p);
                }
            t->tpixels[y][x] = gdTrueColor((int)(s[0] / n + 0.5), (int)(s[1] / n + 0.5), (int)(s[2] / n + 0.5));
        }
    }
    return t;
}

/* A tall PNG of w x h written strip by strip from one strip image, so the
 * test never holds it whole either. */
static void write_tall_png(const char *path, int w, int h)
{
    char err[256];
    gdImagePtr strip = testimg_make(w, 256, 0, 7);
    FILE *f = fopen(path, "wb");
    tiler_png_writer *pw = tiler_png_begin(f, (uint32_t)w, (uint32_t)h, TILER_PNG_RGB);
    int y;
    for (y = 0; y < h; y += 256) {
        tiler_png_strip s;
        tiler_png_strip_encode((const int *const *)strip->tpixels, (uint32_t)w, 256, TILER_PNG_RGB, 1, y + 256 >= h, &s,
                               err, sizeof(err));
        tiler_png_add(pw, &s);
        tiler_png_strip_free(&s);
    }
    tiler_png_end(pw, err, sizeof(err));
    fclose(f);
    gdImageDestroy(strip);
}

static void write_tall_jpeg(const char *path, int w, int h)
{
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr jerr;
    unsigned char *row = malloc((size_t)w * 3);
    FILE *f = fopen(path, "wb");
    int x;
    ci.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&ci);
    jpeg_stdio_dest(&ci, f);
    ci.image_width = (JDIMENSION)w; ci.image_height = (JDIMENSION)h;
    ci.input_components = 3; ci.in_color_space = JCS_RGB;
    jpeg_set_defaults(&ci);
    jpeg_set_quality(&ci, 90, TRUE);
    jpeg_start_compress(&ci, TRUE);
    while (ci.next_scanline < ci.image_height) {
        for (x = 0; x < w; x++) {
            row[3 * x] = (unsigned char)x; row[3 * x + 1] = (unsigned char)ci.next_scanline; row[3 * x + 2] = 128;
        }
        jpeg_write_scanlines(&ci, &row, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    fclose(f);
    free(row);
}

#if !defined(__SANITIZE_ADDRESS__)
/* Thumbnails path under an address-space limit of limit_mb more than the
 * process uses now, in a child. 1 when it succeeds there. AddressSanitizer
 * reserves terabytes of address space, so a limit means nothing there. */
static int thumb_within(const char *path, uint32_t side, long limit_mb)
{
    pid_t pid = fork();
    int status;
    if (pid == 0) {
        char line[256], err[256];
        long vm_kb = 0;
        struct rlimit rl;
        FILE *s = fopen("/proc/self/status", "r");
        gdImagePtr im;
        while (s && fgets(line, sizeof(line), s))
            if (!strncmp(line, "VmSize:", 7)) vm_kb = atol(line + 7);
        if (s) fclose(s);
        rl.rlim_cur = rl.rlim_max = (rlim_t)(vm_kb + limit_mb * 1024) * 1024;
        if (setrlimit(RLIMIT_AS, &rl) < 0) _exit(3);
        im = thumb_of(path, side, NULL, err, sizeof(err));
        if (!im) fprintf(stderr, "# %s\n", err);
        _exit(im ? 0 : 1);
    }
    return waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}
#endif

int main(void)
{
    char err[256];
    tiler_thumb_info info, info2;
    gdImagePtr src, t, full, ref;
    uint32_t tw, th;

    tiler_gd_errors_capture();
    if (tmpdir_make() < 0) return 1;

    tiler_thumb_size(900, 600, 64, &tw, &th);
    ok(tw == 64 && th == 43, "900x600 at 64: 64x43 (%ux%u)", tw, th);
    tiler_thumb_size(300, 2000, 100, &tw, &th);
    ok(tw == 15 && th == 100, "300x2000 at 100: 15x100 (%ux%u)", tw, th);
    tiler_thumb_size(40, 30, 100, &tw, &th);
    ok(tw == 40 && th == 30, "never larger than the image (%ux%u)", tw, th);
    tiler_thumb_size(100000, 1, 64, &tw, &th);
    ok(tw == 64 && th == 1, "never thinner than a pixel (%ux%u)", tw, th);

    /* PNG, opaque and with alpha, at sizes that divide evenly and that do not.
     * The filter sums integers exactly; the reference is in floating point:
     * the only difference is rounding, so at most 1 level a channel. */
    {
        static const struct { int w, h, alpha; uint32_t side; } c[] = {
            { 640, 480, 0, 64 }, { 641, 479, 0, 100 }, { 333, 777, 1, 50 }, { 500, 20, 1, 128 }, { 97, 89, 0, 96 },
        };
        size_t i;
        for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
            src = testimg_make(c[i].w, c[i].h, c[i].alpha, (uint32_t)i + 3);
            save_png(src, tmpdir_path("a.png"));
            t = thumb_of(tmpdir_path("a.png"), c[i].side, &info, err, sizeof(err));
            ok(t != NULL, "PNG %dx%d%s at %u: made (%s)", c[i].w, c[i].h, c[i].alpha ? " alpha" : "", c[i].side, t ? "" : err);
            if (!t) continue;
            tiler_thumb_size((uint32_t)c[i].w, (uint32_t)c[i].h, c[i].side, &tw, &th);
            ok((uint32_t)gdImageSX(t) == tw && (uint32_t)gdImageSY(t) == th, "  %ux%u", tw, th);
            ok(max_diff(src, t) <= 1, "  equals the box-filtered whole image within rounding (max diff %d)", max_diff(src, t));
            gdImageDestroy(t);
            gdImageDestroy(src);
        }
    }

    /* JPEG: with 1/d scaling libjpeg computes each d x d block's mean in the
     * DCT (from the dequantized coefficients, with its own chroma handling),
     * where the reference averages the fully decoded pixels: on this
     * photo-like image they differ by well under one level on average, and
     * the boxes line up exactly when the sides are multiples of 8 * side. */
    src = testimg_make(1024, 768, 0, 11);
    save_jpeg(src, tmpdir_path("a.jpg"), 0);
    full = tiler_image_load(tmpdir_path("a.jpg"), TILER_FMT_JPEG, err, sizeof(err));
    t = thumb_of(tmpdir_path("a.jpg"), 128, &info, err, sizeof(err));
    ok(t && full, "JPEG 1024x768 at 128: made (%s)", t ? "" : err);
    if (t && full) {
        ref = ref_box(full, 128);
        ok(info.scale_denom == 8 && info.decoded_w == 128, "  decoded at 1/8 (1/%d, %u wide)", info.scale_denom, info.decoded_w);
        ok(gdImageSX(t) == 128 && gdImageSY(t) == 96, "  128x96");
        ok(mean_diff(t, ref) < 1.0, "  within a level on average of the box-filtered full decode (%.2f)", mean_diff(t, ref));
        gdImageDestroy(ref);
        gdImageDestroy(t);
        t = thumb_of(tmpdir_path("a.jpg"), 700, &info, err, sizeof(err));
        ref = ref_box(full, 700);
        ok(t && info.scale_denom == 1, "  at 700: decoded at full size (1/%d)", t ? info.scale_denom : 0);
        if (t) ok(max_diff(full, t) <= 1, "  and then exactly the box filter (max diff %d)", max_diff(full, t));
        gdImageDestroy(ref);
        if (t) gdImageDestroy(t);
    }
    if (full) gdImageDestroy(full);
    save_jpeg(src, tmpdir_path("p.jpg"), 1);
    t = thumb_of(tmpdir_path("p.jpg"), 128, NULL, err, sizeof(err));
    ok(!t && strstr(err, "progressive"), "a progressive JPEG is refused, not decoded whole (%s)", err);
    gdImageDestroy(src);

    /* Broken files fail with a reason. */
    {
        FILE *f = fopen(tmpdir_path("a.png"), "rb"), *g = fopen(tmpdir_path("cut.png"), "wb");
        char buf[4096];
        size_t n = fread(buf, 1, sizeof(buf), f);
        fwrite(buf, 1, n / 2, g);
        fclose(f);
        fclose(g);
        t = thumb_of(tmpdir_path("cut.png"), 64, NULL, err, sizeof(err));
        ok(!t && err[0], "a truncated PNG: no thumbnail (%s)", err);
        g = fopen(tmpdir_path("x.txt"), "wb");
        fputs("not an image at all", g);
        fclose(g);
        t = thumb_of(tmpdir_path("x.txt"), 64, NULL, err, sizeof(err));
        ok(!t && strstr(err, "neither"), "not an image: refused (%s)", err);
    }

    /* Memory: the filter's buffers are one row of the result and one row of
     * sums, the same for 1024 or 16384 rows; and a 2048 x 16384 image (128 MiB
     * decoded whole, 4 bytes a pixel, as libgd would) is thumbnailed with
     * 48 MiB of address space to spare. */
    write_tall_png(tmpdir_path("short.png"), 2048, 1024);
    write_tall_png(tmpdir_path("tall.png"), 2048, 16384);
    write_tall_jpeg(tmpdir_path("tall.jpg"), 2048, 16384);
    t = thumb_of(tmpdir_path("short.png"), 64, &info, err, sizeof(err));
    if (t) gdImageDestroy(t);
    t = thumb_of(tmpdir_path("tall.png"), 512, &info2, err, sizeof(err));
    ok(t && gdImageSX(t) == 64 && gdImageSY(t) == 512, "tall PNG: made, 64x512 (%s)", t ? "" : err);
    if (t) gdImageDestroy(t);
    ok(info.work_bytes == info2.work_bytes && info2.work_bytes < 2048 * 4 + 4096,
       "buffers do not grow with height (%zu and %zu bytes)", info.work_bytes, info2.work_bytes);
#if !defined(__SANITIZE_ADDRESS__)
    ok(thumb_within(tmpdir_path("tall.png"), 2048, 48), "tall PNG at 2048 within 48 MiB more address space");
    ok(thumb_within(tmpdir_path("tall.jpg"), 256, 48), "tall JPEG at 256 within 48 MiB more address space");
#endif
    {
        static const char *const made[] = { "a.png", "a.jpg", "p.jpg", "cut.png", "x.txt", "short.png", "tall.png", "tall.jpg" };
        size_t i;
        for (i = 0; i < sizeof(made) / sizeof(made[0]); i++) remove(tmpdir_path(made[i]));
        rmdir(tmpdir_name);
    }
    return done_testing();
}
