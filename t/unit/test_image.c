#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tap.h"
#include "tmpdir.h"
#include "testimg.h"
#include "tiler_disk.h"
#include "tiler_filter.h"
#include "tiler_image.h"
#include "tiler_msg.h"
#include "tiler_png.h"
#include "tiler_defaults.h"

#define path tmpdir_path

static int probe(const char *p, tiler_format *fmt, uint32_t *w, uint32_t *h)
{
    char err[256];
    FILE *f = fopen(p, "rb");
    int rc;
    if (!f) return -1;
    rc = tiler_probe_file(f, fmt, w, h, err, sizeof(err));
    fclose(f);
    return rc;
}

/* The blur's definition, written plainly: Q16 weights as tiler_blur
 * makes them, a horizontal then a vertical pass with clamped edges, each
 * channel (alpha as 7 bits) rounded to a byte after each pass. */
static gdImagePtr ref_blur(gdImagePtr im, double sigma)
{
    int W = gdImageSX(im), H = gdImageSY(im), r = (int)ceil(3.0 * sigma), n = 2 * r + 1, x, y, k, c;
    double sum = 0, *f = malloc(sizeof(double) * n);
    uint32_t *w = malloc(sizeof(uint32_t) * n), total = 0;
    int *tmp = malloc(sizeof(int) * (size_t)W * H);
    gdImagePtr out = gdImageCreateTrueColor(W, H);
    for (k = -r; k <= r; k++) sum += f[k + r] = exp(-(double)k * k / (2.0 * sigma * sigma));
    for (k = 0; k < n; k++) total += w[k] = (uint32_t)floor(f[k] / sum * 65536.0);
    w[r] += 65536 - total;
#define CH(p, c) ((c) == 3 ? ((uint32_t)(p) >> 24) & 0x7f : ((uint32_t)(p) >> (8 * (c))) & 0xff)
    for (y = 0; y < H; y++)
        for (x = 0; x < W; x++) {
            uint32_t px = 0;
            for (c = 0; c < 4; c++) {
                uint32_t acc = 0;
                for (k = -r; k <= r; k++) acc += w[k + r] * CH(im->tpixels[y][x + k < 0 ? 0 : x + k >= W ? W - 1 : x + k], c);
                px |= ((acc + 32768) >> 16) << (8 * c);
            }
            tmp[(size_t)y * W + x] = (int)px;
        }
    for (y = 0; y < H; y++)
        for (x = 0; x < W; x++) {
            uint32_t px = 0;
            for (c = 0; c < 4; c++) {
                uint32_t acc = 0;
                for (k = -r; k <= r; k++) acc += w[k + r] * CH(tmp[(size_t)(y + k < 0 ? 0 : y + k >= H ? H - 1 : y + k) * W + x], c);
                px |= ((acc + 32768) >> 16) << (8 * c);
            }
            out->tpixels[y][x] = (int)px;
        }
#undef CH
    free(f); free(w); free(tmp);
    return out;
}

static void write_with(gdImagePtr im, const char *p, tiler_format fmt)
{
    FILE *f = fopen(p, "wb");
    switch (fmt) {
    case TILER_FMT_PNG: gdImagePng(im, f); break;
    case TILER_FMT_JPEG: gdImageJpeg(im, f, 90); break;
    case TILER_FMT_GIF: gdImageGif(im, f); break;
    case TILER_FMT_BMP: gdImageBmp(im, f, 0); break;
    case TILER_FMT_WEBP: gdImageWebp(im, f); break;
    default: break;
    }
    fclose(f);
}

/* What tiler_decodes_whole says of a file written by libgd. */
static const char *whole_of(gdImagePtr im, const char *p, tiler_format fmt, int interlace)
{
    const char *kind;
    FILE *f;
    gdImageInterlace(im, interlace);
    write_with(im, p, fmt);
    gdImageInterlace(im, 0);
    f = fopen(p, "rb");
    kind = tiler_decodes_whole(f, fmt);
    fclose(f);
    return kind ? kind : "bands";
}

static void truncate_copy(const char *from, const char *to, long keep)
{
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    int ch;
    while (keep-- > 0 && (ch = fgetc(a)) != EOF) fputc(ch, b);
    fclose(a);
    fclose(b);
}

int main(void)
{
    const tiler_format fmts[] = { TILER_FMT_PNG, TILER_FMT_JPEG, TILER_FMT_GIF, TILER_FMT_BMP, TILER_FMT_WEBP };
    gdImagePtr im, back;
    tiler_format fmt;
    uint32_t w, h;
    char err[256];
    size_t i;

    tiler_gd_errors_capture();
    if (tmpdir_make() < 0) return 1;
    im = testimg_make(123, 45, 1, 1);
    for (i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
        const char *p = path(tiler_format_name(fmts[i]));
        gdImagePtr loaded;
        write_with(im, p, fmts[i]);
        ok(probe(p, &fmt, &w, &h) == 0 && fmt == fmts[i] && w == 123 && h == 45, "%s: format and size from the header",
           tiler_format_name(fmts[i]));
        loaded = tiler_image_load(p, fmts[i], err, sizeof(err));
        ok(loaded && gdImageTrueColor(loaded) && gdImageSX(loaded) == 123, "%s: decodes to truecolor", tiler_format_name(fmts[i]));
        if (loaded) gdImageDestroy(loaded);
        truncate_copy(p, path("cut"), 40);
        loaded = tiler_image_load(path("cut"), fmts[i], err, sizeof(err));
        ok(loaded == NULL, "%s: truncated file is an error, not a crash: %s", tiler_format_name(fmts[i]), err);
        if (loaded) gdImageDestroy(loaded);
    }

    /* PNG keeps alpha exactly through save and load. */
    ok(tiler_image_save(im, path("out.png"), TILER_FMT_PNG, err, sizeof(err)) == 0, "PNG saves");
    back = tiler_image_load(path("out.png"), TILER_FMT_PNG, err, sizeof(err));
    {
        int x, y, same = back != NULL;
        for (y = 0; same && y < 45; y++)
            for (x = 0; x < 123; x++) same &= back->tpixels[y][x] == im->tpixels[y][x];
        ok(same, "PNG round-trip keeps every pixel and alpha");
        if (back) gdImageDestroy(back);
    }

    {
        FILE *f = fopen(path("junk"), "wb");
        fputs("this is not an image at all", f);
        fclose(f);
        ok(probe(path("junk"), &fmt, &w, &h) < 0 && fmt == TILER_FMT_UNKNOWN, "unknown bytes: unknown format");
        f = fopen(path("zero.png"), "wb");
        fwrite("\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\0\0\0\0\x05", 1, 24, f);
        fclose(f);
        ok(probe(path("zero.png"), &fmt, &w, &h) < 0 && fmt == TILER_FMT_PNG, "zero width refused");
        f = fopen(path("huge.png"), "wb");
        fwrite("\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\x01\0\0\0\x01\0\0", 1, 24, f);
        fclose(f);
        ok(probe(path("huge.png"), &fmt, &w, &h) == 0 && w == 65536 && h == 65536, "a bomb's size is read without decoding");
    }

    /* The blur against an exact Gaussian, and flat stays flat. */
    {
        gdImagePtr flat = gdImageCreateTrueColor(40, 30), dot = gdImageCreateTrueColor(61, 61);
        int x, y, flat_ok = 1;
        double maxerr = 0, sigma = 3.0, norm = 0;
        for (y = 0; y < 30; y++) for (x = 0; x < 40; x++) flat->tpixels[y][x] = gdTrueColorAlpha(77, 130, 201, 33);
        tiler_blur(flat, 2.5);
        for (y = 0; y < 30; y++) for (x = 0; x < 40; x++) flat_ok &= flat->tpixels[y][x] == gdTrueColorAlpha(77, 130, 201, 33);
        ok(flat_ok, "a flat image stays exactly flat");
        for (y = 0; y < 61; y++) for (x = 0; x < 61; x++) dot->tpixels[y][x] = gdTrueColorAlpha(0, 0, 0, 0);
        dot->tpixels[30][30] = gdTrueColorAlpha(255, 255, 255, 0);
        tiler_blur(dot, sigma);
        for (y = -9; y <= 9; y++) for (x = -9; x <= 9; x++) norm += exp(-(x * x + y * y) / (2 * sigma * sigma));
        for (y = 0; y < 61; y++)
            for (x = 0; x < 61; x++) {
                double dx = x - 30, dy = y - 30, want = 0;
                if (fabs(dx) <= 9 && fabs(dy) <= 9) want = 255.0 * exp(-(dx * dx + dy * dy) / (2 * sigma * sigma)) / norm;
                if (fabs(gdTrueColorGetRed(dot->tpixels[y][x]) - want) > maxerr) maxerr = fabs(gdTrueColorGetRed(dot->tpixels[y][x]) - want);
            }
        ok(maxerr <= 1.0, "impulse response matches an exact Gaussian within 1 level (max error %.3f)", maxerr);
        gdImageDestroy(flat);
        gdImageDestroy(dot);
    }
    /* Exactly the definition (ref_blur), by both ways tiler_blur has: a
     * byte a pixel for a grey image of one alpha, four otherwise; across
     * the column blocks (over 256 pixels wide), thin images, and images
     * that are grey but for one pixel's colour or alpha. */
    {
        static const int sizes[][2] = { { 1, 1 }, { 1, 40 }, { 40, 1 }, { 3, 50 }, { 300, 7 }, { 1100, 9 } };
        static const double sigmas[] = { 0.5, 1.0, 3.0, 8.0 };
        static const int alphas[] = { 0, 45, 127 };
        size_t si, k, ai;
        int kind, bad = 0, cases = 0;
        uint32_t seed = 99;
        for (si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++)
            for (k = 0; k < sizeof(sigmas) / sizeof(sigmas[0]); k++)
                for (ai = 0; ai < sizeof(alphas) / sizeof(alphas[0]); ai++)
                    for (kind = 0; kind < 7; kind++) {   /* grey; one pixel's red; one other alpha; colour; grey, bit 31;
                                                          * one pixel's green; one pixel's blue */
                        int W = sizes[si][0], H = sizes[si][1], x, y;
                        gdImagePtr b = gdImageCreateTrueColor(W, H), want;
                        for (y = 0; y < H; y++)
                            for (x = 0; x < W; x++) {
                                int v = (int)((seed = seed * 1103515245u + 12345u) >> 24);
                                b->tpixels[y][x] = kind == 3 ? gdTrueColorAlpha(v, 255 - v, (v * 7) & 0xff, alphas[ai])
                                                              : gdTrueColorAlpha(v, v, v, alphas[ai]);
                            }
                        if (kind == 1) b->tpixels[H / 2][W / 2] ^= 0x010000;
                        if (kind == 2) b->tpixels[H - 1][0] = (b->tpixels[H - 1][0] & 0xffffff) | (alphas[ai] ^ 1) << 24;
                        if (kind == 4) b->tpixels[0][W - 1] |= (int)0x80000000u;
                        if (kind == 5) b->tpixels[H / 2][W / 2] ^= 0x000100;
                        if (kind == 6) b->tpixels[H - 1][W - 1] ^= 0x000001;
                        {   /* the way the blur takes: a byte a pixel for grey of one alpha only */
                            uint32_t a = 999;
                            int grey = tiler_grey_one_alpha(b, &a);
                            /* (a 1x1 image whose one pixel's alpha changed is still of one alpha) */
                            int one = kind == 2 && W * H == 1;
                            if (grey != (kind == 0 || kind == 4 || one) || (grey && a != (uint32_t)(alphas[ai] ^ one))) {
                                if (!bad++) printf("# %dx%d kind %d: taken for %s\n", W, H, kind, grey ? "grey" : "not grey");
                            }
                        }
                        want = ref_blur(b, sigmas[k]);
                        tiler_blur(b, sigmas[k]);
                        for (y = 0; y < H; y++)
                            for (x = 0; x < W; x++)
                                if (b->tpixels[y][x] != want->tpixels[y][x]) {
                                    if (!bad++) printf("# %dx%d sigma %g alpha %d kind %d: (%d,%d) is %08x, not %08x\n", W, H,
                                                       sigmas[k], alphas[ai], kind, x, y, b->tpixels[y][x], want->tpixels[y][x]);
                                }
                        cases++;
                        gdImageDestroy(b);
                        gdImageDestroy(want);
                    }
        ok(!bad, "blur is the definition, grey (a byte a pixel) or not, in %d cases, each taken the right way (%d wrong)", cases, bad);
    }
    /* Against libgd's own Gaussian (same radius and sigma): within one level
     * per channel away from the borders, where the two differ on purpose
     * (ours clamps, gd reflects). */
    {
        static const double sigmas[] = { 1.0, 3.0, 5.5 };
        size_t k;
        for (k = 0; k < sizeof(sigmas) / sizeof(sigmas[0]); k++) {
            double sigma = sigmas[k];
            int r = (int)ceil(3.0 * sigma), x, y, c, worst = 0;
            gdImagePtr src = testimg_make(160, 120, 1, 5 + (uint32_t)k), ours = gdImageClone(src), theirs;
            gdImageAlphaBlending(src, 0);
            theirs = gdImageCopyGaussianBlurred(src, r, sigma);
            tiler_blur(ours, sigma);
            for (y = 2 * r; y < 120 - 2 * r; y++)
                for (x = 2 * r; x < 160 - 2 * r; x++)
                    for (c = 0; c < 4; c++) {
                        int a = (ours->tpixels[y][x] >> (8 * c)) & 0xff, b = (theirs->tpixels[y][x] >> (8 * c)) & 0xff;
                        if (abs(a - b) > worst) worst = abs(a - b);
                    }
            ok(theirs && worst <= 1, "blur sigma %.1f matches gdImageCopyGaussianBlurred within 1 level inside (max %d)", sigma, worst);
            gdImageDestroy(src);
            gdImageDestroy(ours);
            if (theirs) gdImageDestroy(theirs);
        }
    }
    /* Which files decode in bands, which whole (TilerMaxWholeDecodePixels). */
    ok(!strcmp(whole_of(im, path("w.png"), TILER_FMT_PNG, 0), "bands"), "a PNG decodes in bands");
    ok(!strcmp(whole_of(im, path("w.png"), TILER_FMT_PNG, 1), "an interlaced PNG"), "an interlaced PNG decodes whole");
    ok(!strcmp(whole_of(im, path("w.jpg"), TILER_FMT_JPEG, 0), "bands"), "a baseline JPEG decodes in bands");
    ok(!strcmp(whole_of(im, path("w.jpg"), TILER_FMT_JPEG, 1), "a progressive JPEG"), "a progressive JPEG decodes whole");
    ok(!strcmp(whole_of(im, path("w.gif"), TILER_FMT_GIF, 0), "a GIF") && !strcmp(whole_of(im, path("w.bmp"), TILER_FMT_BMP, 0), "a BMP")
       && !strcmp(whole_of(im, path("w.webp"), TILER_FMT_WEBP, 0), "a WebP"), "GIF, BMP and WebP decode whole");

    /* Sides: what each format's header can hold, and the band's limit. */
    ok(tiler_check_sides(TILER_FMT_PNG, 1u << 20, 1, err, sizeof(err)) == 0
       && tiler_check_sides(TILER_FMT_PNG, (1u << 20) + 1, 1, err, sizeof(err)) < 0 && strstr(err, "at most 1048576"),
       "a PNG side may be 2^20, not more: %s", err);
    ok(tiler_check_sides(TILER_FMT_WEBP, 16383, 16383, err, sizeof(err)) == 0
       && tiler_check_sides(TILER_FMT_WEBP, 16384, 1, err, sizeof(err)) < 0 && strstr(err, "at most 16383"), "WebP stops at 16383: %s", err);
    ok(tiler_check_sides(TILER_FMT_JPEG, 65535, 65535, err, sizeof(err)) == 0, "JPEG takes 65535");

    /* The disk a job needs, 64-bit: 2^36 pixels is a 256 GiB raster. */
    {
        tiler_disk_need n;
        uint64_t free_bytes = 0;
        tiler_disk_estimate(1u << 20, 1u << 16, TILER_FMT_PNG, TILER_PACK_GD, &n);
        ok(n.raster == 1ull << 38 && n.result == (1ull << 38) + 3 * 65536 + ((1ull << 38) + 65536) / 1000 + 1024
           && n.total == n.raster + n.result,
           "a 2^36-pixel PNG job needs 2^38 bytes of raster and as much again, 3 bytes a row and a thousandth, of result");
        tiler_disk_estimate(1000, 1000, TILER_FMT_JPEG, TILER_PACK_GD, &n);
        ok(n.raster == 4000000 && n.result == 1000000, "a JPEG result is estimated at a byte a pixel");
        tiler_disk_estimate(1000, 1000, TILER_FMT_PNG, TILER_PACK_RGB, &n);
        ok(n.raster == 3000000 && n.result == 3003000 + 3001 + 1024, "an RGB raster and PNG: 3 bytes a pixel each, and the PNG's framing");
        tiler_disk_estimate(1000, 1000, TILER_FMT_JPEG, TILER_PACK_GREY, &n);
        ok(n.raster == 1000000 && n.result == 1000000, "a grey raster: a byte a pixel");
        {
            /* The bound holds for noise, in strips of 16 rows (the
             * smallest tiles: the most strips), joined as the module joins
             * them, and counting each strip's file beside the result. */
            gdImagePtr noise = gdImageCreateTrueColor(64, 4000);
            int x, y, rc = 0;
            char *png = NULL, e[256] = "";
            size_t sz = 0;
            uint64_t strips = 0;
            FILE *mf = open_memstream(&png, &sz);
            tiler_png_writer *pw = tiler_png_begin(mf, 64, 4000, TILER_PNG_GRAY);
            srand(3);
            for (y = 0; y < 4000; y++)
                for (x = 0; x < 64; x++) noise->tpixels[y][x] = (rand() & 0xff) * 0x010101;
            for (y = 0; y < 4000 && rc == 0; y += 16) {
                tiler_png_strip s;
                rc = tiler_png_strip_encode((const int *const *)noise->tpixels + y, 64, 16, TILER_PNG_GRAY, TILER_PNG_LEVEL,
                                            y + 16 == 4000, &s, e, sizeof(e));
                if (rc == 0) { tiler_png_add(pw, &s); strips += 16 + s.len; }
                tiler_png_strip_free(&s);
            }
            rc |= tiler_png_end(pw, e, sizeof(e));
            fclose(mf);
            tiler_disk_estimate(64, 4000, TILER_FMT_PNG, TILER_PACK_GREY, &n);
            ok(rc == 0 && sz > 256000 && (uint64_t)sz <= n.result && strips <= n.result,
               "a grey noise PNG of 64x4000 in 16-row strips (%zu bytes; its strips %llu) is within its estimate (%llu)",
               sz, (unsigned long long)strips, (unsigned long long)n.result);
            free(png);
            gdImageDestroy(noise);
        }
        tiler_disk_estimate_tiff(1000, 1000, 512, 0, &n);
        ok(n.raster == 4 * 16 && n.result > 4ull * 512 * 512 * 4 && n.result < 4ull * 512 * 512 * 4 * 101 / 100,
           "a TIFF job has a tile index, no raster, and a result of its padded tiles at 4 bytes a pixel and a little");
        /* Per image row: a table entry and the piece bound (raw + raw/8 + 64)
         * of each column's part, RGBA, the leftmost with the filter byte:
         * 2377 + 2 x 2376 + 2160 bytes at 2000 wide; 16 bytes a tile. */
        tiler_disk_estimate_png_tiles(2000, 1500, 512, &n);
        ok(n.raster == 9289ull * 1500 + 12 * 16 && n.result == 12000000,
           "a PNG job's tiles: each row's pieces at their bound (%llu)", (unsigned long long)n.raster);
        tiler_disk_estimate_png_tiles(100000, 20, 512, &n);
        ok(n.raster == (2377ull + 194 * 2376 + 792) * 20 + 196 * 16,
           "a thin PNG job is counted by its rows, not its tiles' sides (%llu)", (unsigned long long)n.raster);
        ok(tiler_disk_free(tmpdir_name, &free_bytes, err, sizeof(err)) == 0 && free_bytes > 0, "the free space can be read");
        ok(tiler_disk_free("/no/such/dir", &free_bytes, err, sizeof(err)) < 0 && strstr(err, "/no/such/dir"), "or says why not: %s", err);
    }

    gdImageDestroy(im);
    {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir_name);
        if (system(cmd)) { }
    }
    return done_testing();
}
