/* Deterministic photo-like test images: smooth gradients, edges, noise and,
 * optionally, varying alpha. Shared by unit tests and tiler-testimg. */
#ifndef TESTIMG_H
#define TESTIMG_H

#include <gd.h>
#include <stdint.h>

static gdImagePtr testimg_make(int w, int h, int with_alpha, uint32_t seed) __attribute__((unused));
static gdImagePtr testimg_make(int w, int h, int with_alpha, uint32_t seed)
{
    gdImagePtr im = gdImageCreateTrueColor(w, h);
    uint32_t s = seed * 2654435761u + 1;
    int x, y;
    if (!im) return NULL;
    gdImageAlphaBlending(im, 0);
    gdImageSaveAlpha(im, 1);
    for (y = 0; y < h; y++)
        for (x = 0; x < w; x++) {
            int r, g, b, a;
            s = s * 1664525u + 1013904223u;
            r = (x * 255 / (w > 1 ? w - 1 : 1) + (int)(s >> 28)) & 0xff;
            g = (y * 255 / (h > 1 ? h - 1 : 1) + (int)((s >> 24) & 15)) & 0xff;
            b = ((x / 7 + y / 5) % 2) ? 220 : 30;          /* hard edges */
            b ^= (int)((s >> 16) & 31);
            a = with_alpha ? ((x + 2 * y) % 128) : 0;
            im->tpixels[y][x] = gdTrueColorAlpha(r, g, b, a);
        }
    return im;
}

#endif
