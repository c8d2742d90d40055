/* The zoom pyramid's levels by their definition, from a whole image in
 * memory: the reference for t/unit/test_pyramid.c and tiler-zoomcheck. */
#ifndef ZOOMREF_H
#define ZOOMREF_H

#include <stdint.h>
#include <stdlib.h>
#include <gd.h>

/* The level below src (w x h gd ints): each pixel the mean of the up to
 * 2x2 real pixels under it, per channel, rounded half up. */
static int *zoomref_down(const int *src, uint32_t w, uint32_t h, uint32_t *ow, uint32_t *oh) __attribute__((unused));
static int *zoomref_down(const int *src, uint32_t w, uint32_t h, uint32_t *ow, uint32_t *oh)
{
    uint32_t x, y;
    int *out;
    *ow = (w + 1) / 2; *oh = (h + 1) / 2;
    out = malloc((size_t)*ow * *oh * sizeof(int));
    for (y = 0; out && y < *oh; y++)
        for (x = 0; x < *ow; x++) {
            int r = 0, g = 0, b = 0, a = 0, n = 0;
            uint32_t sx, sy;
            for (sy = 2 * y; sy < 2 * y + 2 && sy < h; sy++)
                for (sx = 2 * x; sx < 2 * x + 2 && sx < w; sx++) {
                    int p = src[(size_t)sy * w + sx];
                    r += gdTrueColorGetRed(p); g += gdTrueColorGetGreen(p);
                    b += gdTrueColorGetBlue(p); a += gdTrueColorGetAlpha(p); n++;
                }
            out[(size_t)y * *ow + x] = gdTrueColorAlpha((r + n / 2) / n, (g + n / 2) / n, (b + n / 2) / n, (a + n / 2) / n);
        }
    return out;
}

#endif
