/* Each op of the chain against a reference written from README's op table
 * (per pixel, plainly, not by calling the op's own code), on an image with
 * varying alpha, which every op must carry through unchanged; the geometry
 * ops (issue 17) against index arithmetic and an exact block mean, alpha
 * moving with its pixel, on odd shapes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "tap.h"
#include "testimg.h"
#include "tiler_filter.h"

#define R(p) (((p) >> 16) & 0xff)
#define G(p) (((p) >> 8) & 0xff)
#define B(p) ((p) & 0xff)
#define A(p) (((p) >> 24) & 0x7f)

static int clampi(double v) { return v < 0 ? 0 : v > 255 ? 255 : (int)v; }
static int px(gdImagePtr im, int x, int y)
{
    /* Outside the image: the nearest pixel of its edge. */
    x = x < 0 ? 0 : x >= gdImageSX(im) ? gdImageSX(im) - 1 : x;
    y = y < 0 ? 0 : y >= gdImageSY(im) ? gdImageSY(im) - 1 : y;
    return im->tpixels[y][x];
}
static int luma_ref(int p) { return (77 * R(p) + 150 * G(p) + 29 * B(p) + 128) / 256; }

typedef int (*channel_fn)(int v, double k);
static int f_brightness(int v, double k) { return clampi(v + k); }
/* floor((v - 128) * F + 128 + 0.5) in exact rational arithmetic: F = k is
 * given with at most 6 decimals, so in millionths it is a whole number. */
static long long floordiv_ll(long long a, long long b) { return a / b - (a % b != 0 && a < 0); }
static int f_contrast(int v, double k)
{
    long long m = llround(k * 1e6);
    return clampi((double)floordiv_ll((v - 128) * m + 128 * 1000000LL + 500000, 1000000));
}
static int f_gamma(int v, double k) { return clampi(floor(255.0 * pow(v / 255.0, 1.0 / k) + 0.5)); }

/* Pixels of out that differ from what ref says. */
static long per_channel_diff(gdImagePtr in, gdImagePtr out, channel_fn f, double k)
{
    long n = 0;
    int x, y;
    for (y = 0; y < gdImageSY(in); y++)
        for (x = 0; x < gdImageSX(in); x++) {
            int p = in->tpixels[y][x], q = out->tpixels[y][x];
            n += R(q) != f(R(p), k) || G(q) != f(G(p), k) || B(q) != f(B(p), k) || A(q) != A(p);
        }
    return n;
}

static gdImagePtr run(gdImagePtr src, const char *ops)
{
    tiler_chain c;
    char err[256];
    gdImagePtr im = gdImageClone(src);
    if (!im || tiler_chain_parse(&c, ops, TILER_MAX_OPS, err, sizeof(err)) < 0 || tiler_filter_apply(&im, &c) < 0) {
        printf("# %s: %s\n", ops, err);
        return NULL;
    }
    return im;
}

/* grayscale and invert are libgd's gdImageGrayScale and gdImageNegate
 * (README), done without gd's calls a pixel: every one of the 2^24
 * colours, with alpha varying, must come out as gd makes it. */
static void against_gd(void)
{
    gdImagePtr all = gdImageCreateTrueColor(4096, 4096), ref, ours;
    static const char *const ops[] = { "grayscale", "invert" };
    int x, y, i;
    if (!all) { ok(0, "a 4096x4096 image of every colour"); return; }
    for (y = 0; y < 4096; y++)
        for (x = 0; x < 4096; x++) {
            int rgb = y * 4096 + x;
            /* Bit 31 too on some: gd never sets it, and rebuilds the
             * pixel without it (only a hostile task could bring one). */
            all->tpixels[y][x] = (int)(((unsigned)(rgb ^ rgb >> 9) & 0xffu) << 24 | (unsigned)rgb);
        }
    for (i = 0; i < 2; i++) {
        long diff = 0;
        ref = gdImageClone(all);
        gdImageAlphaBlending(ref, 0);
        if (i == 0) gdImageGrayScale(ref);
        else gdImageNegate(ref);
        ours = run(all, ops[i]);
        for (y = 0; ours && y < 4096; y++)
            for (x = 0; x < 4096; x++) diff += ref->tpixels[y][x] != ours->tpixels[y][x];
        ok(ours && diff == 0, "%s: every colour and alpha exactly as libgd's %s (%ld differ)", ops[i],
           i ? "gdImageNegate" : "gdImageGrayScale", diff);
        gdImageDestroy(ref);
        if (ours) gdImageDestroy(ours);
    }
    gdImageDestroy(all);
}

/* The geometry ops, from their definition: where each output pixel comes
 * from, by index arithmetic. */
static int ref_pixel(gdImagePtr in, const char *op, int k, int x, int y)
{
    int W = gdImageSX(in), H = gdImageSY(in);
    if (!strcmp(op, "flip:h")) return in->tpixels[y][W - 1 - x];
    if (!strcmp(op, "flip:v")) return in->tpixels[H - 1 - y][x];
    if (!strcmp(op, "rotate:90")) return in->tpixels[H - 1 - x][y];     /* out is H wide: the left column becomes the top row */
    if (!strcmp(op, "rotate:180")) return in->tpixels[H - 1 - y][W - 1 - x];
    if (!strcmp(op, "rotate:270")) return in->tpixels[x][W - 1 - y];    /* the top row becomes the left column, upside down */
    {
        /* downscale:k: the k x k block at (x k, y k), cut at the image's
         * edge; per channel (sum + n/2) / n over the n pixels it has. */
        unsigned long sum[4] = { 0, 0, 0, 0 }, n = 0, v[4];
        int i, j, c;
        for (j = y * k; j < (y + 1) * k && j < H; j++)
            for (i = x * k; i < (x + 1) * k && i < W; i++) {
                int p = in->tpixels[j][i];
                sum[0] += (unsigned long)A(p);
                sum[1] += (unsigned long)R(p);
                sum[2] += (unsigned long)G(p);
                sum[3] += (unsigned long)B(p);
                n++;
            }
        for (c = 0; c < 4; c++) v[c] = (sum[c] + n / 2) / n;
        return gdTrueColorAlpha((int)v[1], (int)v[2], (int)v[3], (int)v[0]);
    }
}

static void geometry(void)
{
    static const struct { int w, h; } shapes[] = { { 97, 61 }, { 1, 40 }, { 40, 1 }, { 2, 2 }, { 1, 1 }, { 7, 5 } };
    static const struct { const char *op; int k, swaps; } ops[] = {
        { "flip:h", 0, 0 }, { "flip:v", 0, 0 }, { "rotate:90", 0, 1 }, { "rotate:180", 0, 0 }, { "rotate:270", 0, 1 },
        { "downscale:2", 2, 0 }, { "downscale:4", 4, 0 }, { "downscale:8", 8, 0 },
    };
    size_t s, o;
    for (s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
        int W = shapes[s].w, H = shapes[s].h;
        gdImagePtr src = testimg_make(W, H, 1, (uint32_t)s + 101);
        int x, y;
        /* Every pixel distinct, alpha from the position too, so that a pixel
         * (or only its alpha) landing in the wrong place shows. */
        for (y = 0; y < H; y++)
            for (x = 0; x < W; x++)
                src->tpixels[y][x] = (src->tpixels[y][x] & 0xffff00) | ((y * W + x) & 0xff)
                                     | (((x * 7 + y * 13 + (int)s) % 128) << 24);
        for (o = 0; o < sizeof(ops) / sizeof(ops[0]); o++) {
            int k = ops[o].k, ew = k ? (W + k - 1) / k : ops[o].swaps ? H : W, eh = k ? (H + k - 1) / k : ops[o].swaps ? W : H;
            long bad = 0, alpha_bad = 0;
            gdImagePtr out = run(src, ops[o].op);
            if (!out || gdImageSX(out) != ew || gdImageSY(out) != eh) {
                ok(0, "%dx%d %s: result is %dx%d (want %dx%d)", W, H, ops[o].op, out ? gdImageSX(out) : -1,
                   out ? gdImageSY(out) : -1, ew, eh);
                if (out) gdImageDestroy(out);
                continue;
            }
            for (y = 0; y < eh; y++)
                for (x = 0; x < ew; x++) {
                    int want = ref_pixel(src, ops[o].op, k, x, y), got = out->tpixels[y][x];
                    bad += want != got;
                    alpha_bad += A(want) != A(got);
                }
            ok(!bad, "%dx%d %s: %dx%d, every pixel as the definition says (%ld differ, %ld in alpha)", W, H, ops[o].op, ew, eh,
               bad, alpha_bad);
            gdImageDestroy(out);
        }
        gdImageDestroy(src);
    }

    /* Corners by hand: on a 3x2 image, which input pixel (told by its
     * alpha) each op puts in the result's top-left and top-right. */
    {
        /* alpha: 10 11 12
         *        20 21 22 */
        static const struct { const char *op; int w, h, tl, tr; } corners[] = {
            { "flip:h", 3, 2, 12, 10 }, { "flip:v", 3, 2, 20, 22 }, { "rotate:90", 2, 3, 20, 10 },
            { "rotate:180", 3, 2, 22, 20 }, { "rotate:270", 2, 3, 12, 22 },
        };
        gdImagePtr im = gdImageCreateTrueColor(3, 2), out;
        size_t c;
        int x, y;
        for (y = 0; y < 2; y++)
            for (x = 0; x < 3; x++) im->tpixels[y][x] = gdTrueColorAlpha(x * 50, y * 50, 7, 10 * (y + 1) + x);
        for (c = 0; c < sizeof(corners) / sizeof(corners[0]); c++) {
            out = run(im, corners[c].op);
            ok(out && gdImageSX(out) == corners[c].w && gdImageSY(out) == corners[c].h && A(out->tpixels[0][0]) == corners[c].tl
               && A(out->tpixels[0][corners[c].w - 1]) == corners[c].tr
               && out->tpixels[0][0] == im->tpixels[(corners[c].tl / 10) - 1][corners[c].tl % 10],
               "%s of 3x2: %dx%d, top-left is the pixel of alpha %d, top-right of %d, colour with it", corners[c].op,
               corners[c].w, corners[c].h, corners[c].tl, corners[c].tr);
            if (out) gdImageDestroy(out);
        }
        gdImageDestroy(im);
    }

    /* downscale's rounding by hand. 3x1 at K=2: the first block is two
     * pixels, (10,20,30,a0) and (11,21,30,a127): sums 21, 41, 60, 127 over
     * 2 give 11 (10.5 up), 21 (20.5 up), 30, 64 (63.5 up); the second block
     * is the last pixel alone. */
    {
        gdImagePtr im = gdImageCreateTrueColor(3, 1), out;
        im->tpixels[0][0] = gdTrueColorAlpha(10, 20, 30, 0);
        im->tpixels[0][1] = gdTrueColorAlpha(11, 21, 30, 127);
        im->tpixels[0][2] = gdTrueColorAlpha(7, 8, 9, 5);
        out = run(im, "downscale:2");
        ok(out && gdImageSX(out) == 2 && gdImageSY(out) == 1 && out->tpixels[0][0] == gdTrueColorAlpha(11, 21, 30, 64)
           && out->tpixels[0][1] == gdTrueColorAlpha(7, 8, 9, 5),
           "3x1 downscale:2: (11,21,30,a64) and the lone last pixel (got %08x %08x)", out ? out->tpixels[0][0] : 0,
           out && gdImageSX(out) > 1 ? out->tpixels[0][1] : 0);
        if (out) gdImageDestroy(out);
        gdImageDestroy(im);
    }
    /* 5x5 at K=4: the full block's red is 0 except a 10 and a 1 (sum 11,
     * 11/16 rounds to 1) and its green 1 at 8 pixels (8/16 = 0.5, up to 1); the
     * 1x4 block on the right has red 2 at one pixel of 4 (0.5 -> 1) and
     * green 1 at one (0.25 -> 0); the corner is its one pixel. */
    {
        gdImagePtr im = gdImageCreateTrueColor(5, 5), out;
        int x, y;
        for (y = 0; y < 5; y++) for (x = 0; x < 5; x++) im->tpixels[y][x] = gdTrueColorAlpha(0, 0, 0, 0);
        im->tpixels[0][0] = gdTrueColorAlpha(10, 1, 0, 0);
        im->tpixels[3][3] = gdTrueColorAlpha(1, 1, 0, 0);
        for (x = 0; x < 4; x++) im->tpixels[1][x] = gdTrueColorAlpha(0, 1, 0, 0);
        im->tpixels[2][0] = gdTrueColorAlpha(0, 1, 0, 0);
        im->tpixels[2][1] = gdTrueColorAlpha(0, 1, 0, 0);
        im->tpixels[0][4] = gdTrueColorAlpha(2, 1, 0, 0);
        im->tpixels[4][4] = gdTrueColorAlpha(200, 100, 50, 99);
        out = run(im, "downscale:4");
        ok(out && gdImageSX(out) == 2 && gdImageSY(out) == 2 && out->tpixels[0][0] == gdTrueColorAlpha(1, 1, 0, 0)
           && out->tpixels[0][1] == gdTrueColorAlpha(1, 0, 0, 0) && out->tpixels[1][1] == gdTrueColorAlpha(200, 100, 50, 99)
           && out->tpixels[1][0] == gdTrueColorAlpha(0, 0, 0, 0),
           "5x5 downscale:4: 11/16 -> 1, 8/16 -> 1, 2/4 -> 1, 1/4 -> 0, the corner block is its pixel");
        if (out) gdImageDestroy(out);
        gdImageDestroy(im);
    }
}

int main(void)
{
    static const struct { int w, h; } shapes[] = { { 97, 61 }, { 1, 40 }, { 40, 1 }, { 2, 2 } };
    size_t s;
    for (s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
        int W = shapes[s].w, H = shapes[s].h, x, y;
        gdImagePtr src = testimg_make(W, H, 1, (uint32_t)s + 11), out;
        static const struct { const char *ops; channel_fn f; double k; } points[] = {
            { "brightness:-255", f_brightness, -255 }, { "brightness:37", f_brightness, 37 },
            { "brightness:255", f_brightness, 255 }, { "contrast:0", f_contrast, 0 }, { "contrast:1.7", f_contrast, 1.7 },
            { "contrast:10", f_contrast, 10 }, { "contrast:1.1", f_contrast, 1.1 }, { "contrast:0.54", f_contrast, 0.54 },
            { "contrast:0.123457", f_contrast, 0.123457 }, { "gamma:0.1", f_gamma, 0.1 }, { "gamma:2.2", f_gamma, 2.2 },
            { "gamma:10", f_gamma, 10 },
        };
        size_t i;
        for (i = 0; i < sizeof(points) / sizeof(points[0]); i++) {
            out = run(src, points[i].ops);
            ok(out && per_channel_diff(src, out, points[i].f, points[i].k) == 0, "%dx%d %s: every channel as its formula, alpha kept",
               W, H, points[i].ops);
            if (out) gdImageDestroy(out);
        }

        /* threshold: luma >= T white, else black. */
        {
            int t, bad = 0;
            for (t = 0; t <= 255; t += 51) {
                char ops[32];
                snprintf(ops, sizeof(ops), "threshold:%d", t);
                if (!(out = run(src, ops))) { bad++; continue; }
                for (y = 0; y < H; y++)
                    for (x = 0; x < W; x++) {
                        int p = src->tpixels[y][x], q = out->tpixels[y][x], v = luma_ref(p) >= t ? 255 : 0;
                        bad += R(q) != v || G(q) != v || B(q) != v || A(q) != A(p);
                    }
                gdImageDestroy(out);
            }
            ok(!bad, "%dx%d threshold at 0, 51, ..., 255: luma >= T white, else black, alpha kept", W, H);
        }

        /* edges: Sobel of the luma, edge pixels repeated, sqrt(gx^2+gy^2)/4 rounded, at most 255. */
        if ((out = run(src, "edges"))) {
            long bad = 0;
            for (y = 0; y < H; y++)
                for (x = 0; x < W; x++) {
                    int gx = luma_ref(px(src, x + 1, y - 1)) + 2 * luma_ref(px(src, x + 1, y)) + luma_ref(px(src, x + 1, y + 1))
                             - luma_ref(px(src, x - 1, y - 1)) - 2 * luma_ref(px(src, x - 1, y)) - luma_ref(px(src, x - 1, y + 1));
                    int gy = luma_ref(px(src, x - 1, y + 1)) + 2 * luma_ref(px(src, x, y + 1)) + luma_ref(px(src, x + 1, y + 1))
                             - luma_ref(px(src, x - 1, y - 1)) - 2 * luma_ref(px(src, x, y - 1)) - luma_ref(px(src, x + 1, y - 1));
                    int v = clampi(floor(sqrt((double)gx * gx + (double)gy * gy) / 4 + 0.5)), q = out->tpixels[y][x];
                    bad += R(q) != v || G(q) != v || B(q) != v || A(q) != A(src->tpixels[y][x]);
                }
            ok(!bad, "%dx%d edges: Sobel magnitude / 4, grey, alpha kept (%ld differ)", W, H, bad);
            gdImageDestroy(out);
        } else {
            ok(0, "edges ran");
        }

        /* sharpen: v + amount * (v - blur(v)), rounded half up, clamped; the
         * blur is the blur op's (tested on its own), alpha kept. */
        {
            static const double params[][2] = { { 1, 1 }, { 0.6, 2.5 }, { 3, 10 }, { 1.5, 0.07 }, { 0.8, 1.1 } };
            size_t k;
            for (k = 0; k < sizeof(params) / sizeof(params[0]); k++) {
                char ops[48], bops[48];
                gdImagePtr blurred;
                long bad = 0;
                snprintf(ops, sizeof(ops), "sharpen:%g:%g", params[k][0], params[k][1]);
                snprintf(bops, sizeof(bops), "blur:%g", params[k][0]);
                out = run(src, ops);
                blurred = run(src, bops);
                if (!out || !blurred) { ok(0, "%s ran", ops); continue; }
                for (y = 0; y < H; y++)
                    for (x = 0; x < W; x++) {
                        /* round half up of AMOUNT * d, exactly: AMOUNT in millionths */
                        long long m = llround(params[k][1] * 1e6);
                        int p = src->tpixels[y][x], b = blurred->tpixels[y][x], q = out->tpixels[y][x];
                        int r = clampi(R(p) + (double)floordiv_ll((R(p) - R(b)) * m + 500000, 1000000));
                        int g = clampi(G(p) + (double)floordiv_ll((G(p) - G(b)) * m + 500000, 1000000));
                        int bl = clampi(B(p) + (double)floordiv_ll((B(p) - B(b)) * m + 500000, 1000000));
                        bad += R(q) != r || G(q) != g || B(q) != bl || A(q) != A(p);
                    }
                ok(!bad, "%dx%d %s: the unsharp mask's formula on R, G, B, alpha kept (%ld differ)", W, H, ops, bad);
                gdImageDestroy(out);
                gdImageDestroy(blurred);
            }
        }
        gdImageDestroy(src);
    }

    /* The half-steps a double misses (found by review): contrast:1.1 on 13
     * is 1.5 -> 2 and on 23 is 12.5 -> 13; sharpen with AMOUNT 0.07 on a
     * difference of -50 is -3.5 -> -3. */
    {
        gdImagePtr im = gdImageCreateTrueColor(2, 1), out;
        im->tpixels[0][0] = gdTrueColorAlpha(13, 23, 200, 5);
        im->tpixels[0][1] = gdTrueColorAlpha(13, 23, 200, 5);
        out = run(im, "contrast:1.1");
        ok(out && R(out->tpixels[0][0]) == 2 && G(out->tpixels[0][0]) == 13, "contrast:1.1: 13 -> 2, 23 -> 13 (exact half-steps round up)");
        if (out) gdImageDestroy(out);
        gdImageDestroy(im);
    }
    {
        /* A flat 100 with one 150 pixel: a wide blur (sigma 16) barely moves
         * the 100s, so the 150 pixel sees d near 50 and its neighbours near
         * 0; compare with the exact formula on the blur's own output. */
        gdImagePtr im = gdImageCreateTrueColor(9, 9), b, out;
        int x, y, bad = 0;
        for (y = 0; y < 9; y++) for (x = 0; x < 9; x++) im->tpixels[y][x] = gdTrueColorAlpha(100, 100, 100, 0);
        im->tpixels[4][4] = gdTrueColorAlpha(50, 50, 50, 0);
        b = run(im, "blur:16");
        out = run(im, "sharpen:16:0.07");
        for (y = 0; b && out && y < 9; y++)
            for (x = 0; x < 9; x++) {
                int v = R(im->tpixels[y][x]), d = v - R(b->tpixels[y][x]);
                bad += R(out->tpixels[y][x]) != clampi(v + (double)floordiv_ll(d * 70000LL + 500000, 1000000));
            }
        ok(b && out && !bad && R(out->tpixels[4][4]) == 50 + (int)floordiv_ll((50 - R(b->tpixels[4][4])) * 70000LL + 500000, 1000000),
           "sharpen:16:0.07 in exact arithmetic");
        if (b) gdImageDestroy(b);
        if (out) gdImageDestroy(out);
        gdImageDestroy(im);
    }
    /* edges at full strength: black/white steps, straight and diagonal,
     * clamp at 255 and never spill into the other channels or alpha. */
    {
        gdImagePtr im = gdImageCreateTrueColor(8, 8), out;
        int x, y, maxv = 0, spill = 0;
        for (y = 0; y < 8; y++)
            for (x = 0; x < 8; x++) im->tpixels[y][x] = (x + y >= 8) ? gdTrueColorAlpha(255, 255, 255, 3) : gdTrueColorAlpha(0, 0, 0, 3);
        out = run(im, "edges");
        for (y = 0; out && y < 8; y++)
            for (x = 0; x < 8; x++) {
                int q = out->tpixels[y][x];
                if (R(q) > maxv) maxv = R(q);
                spill += R(q) != G(q) || G(q) != B(q) || A(q) != 3;
            }
        ok(out && maxv == 255 && !spill, "edges on a diagonal black/white step: clamped at 255, grey, alpha kept");
        if (out) gdImageDestroy(out);
        gdImageDestroy(im);
    }
    geometry();
    against_gd();
    return done_testing();
}
