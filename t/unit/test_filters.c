/* Each op of the chain against a reference written from README's op table
 * (per pixel, plainly, not by calling the op's own code), on an image with
 * varying alpha, which every op must carry through unchanged. */
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
    return done_testing();
}
