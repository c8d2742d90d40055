#include "tiler_transform.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static gdImagePtr blank(int w, int h)
{
    gdImagePtr out = gdImageCreateTrueColor(w, h);
    if (out) {
        gdImageAlphaBlending(out, 0);
        gdImageSaveAlpha(out, 1);
    }
    return out;
}

gdImagePtr tiler_flip(gdImagePtr im, int vertical)
{
    int W = gdImageSX(im), H = gdImageSY(im), x, y;
    gdImagePtr out = blank(W, H);
    if (!out) return NULL;
    for (y = 0; y < H; y++) {
        const int *s = im->tpixels[vertical ? H - 1 - y : y];
        int *d = out->tpixels[y];
        if (vertical) memcpy(d, s, (size_t)W * sizeof(int));
        else for (x = 0; x < W; x++) d[x] = s[W - 1 - x];
    }
    return out;
}

gdImagePtr tiler_rotate(gdImagePtr im, int degrees)
{
    int W = gdImageSX(im), H = gdImageSY(im), x, y;
    gdImagePtr out;
    if (degrees == 180) {
        if (!(out = blank(W, H))) return NULL;
        for (y = 0; y < H; y++)
            for (x = 0; x < W; x++) out->tpixels[H - 1 - y][W - 1 - x] = im->tpixels[y][x];
        return out;
    }
    if (!(out = blank(H, W))) return NULL;
    /* 90: (x, y) goes to (H-1-y, x); 270: to (y, W-1-x). */
    for (y = 0; y < H; y++)
        for (x = 0; x < W; x++) {
            if (degrees == 90) out->tpixels[x][H - 1 - y] = im->tpixels[y][x];
            else out->tpixels[W - 1 - x][y] = im->tpixels[y][x];
        }
    return out;
}

gdImagePtr tiler_downscale(gdImagePtr im, int k)
{
    int W = gdImageSX(im), H = gdImageSY(im), ow = (W + k - 1) / k, oh = (H + k - 1) / k, ox, oy, x, y, c;
    gdImagePtr out = blank(ow, oh);
    uint32_t *sum;
    if (!out) return NULL;
    if (!(sum = malloc(sizeof(*sum) * 4 * (size_t)ow))) { gdImageDestroy(out); return NULL; }
    for (oy = 0; oy < oh; oy++) {
        int y1 = (oy + 1) * k < H ? (oy + 1) * k : H, rows = y1 - oy * k;
        memset(sum, 0, sizeof(*sum) * 4 * (size_t)ow);
        for (y = oy * k; y < y1; y++) {
            const int *s = im->tpixels[y];
            for (x = 0; x < W; x++) {
                uint32_t *a = sum + 4 * (x / k);
                int p = s[x];
                a[0] += (uint32_t)(p >> 24) & 0x7f;
                a[1] += (uint32_t)(p >> 16) & 0xff;
                a[2] += (uint32_t)(p >> 8) & 0xff;
                a[3] += (uint32_t)p & 0xff;
            }
        }
        for (ox = 0; ox < ow; ox++) {
            int cols = (ox + 1) * k < W ? k : W - ox * k;
            uint32_t n = (uint32_t)(rows * cols), v[4];
            for (c = 0; c < 4; c++) v[c] = (sum[4 * ox + c] + n / 2) / n;
            out->tpixels[oy][ox] = (int)(v[0] << 24 | v[1] << 16 | v[2] << 8 | v[3]);
        }
    }
    free(sum);
    return out;
}
