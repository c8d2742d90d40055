#include "tiler_filter.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Kernel weights in Q16 that sum to exactly 65536, so a flat area stays flat.
 * Integer arithmetic keeps results identical on every worker host. */
static uint32_t *make_kernel(double sigma, int radius)
{
    int k, n = 2 * radius + 1;
    double sum = 0, *f = malloc(sizeof(double) * n);
    uint32_t *w = malloc(sizeof(uint32_t) * n);
    int64_t total = 0;
    if (!f || !w) { free(f); free(w); return NULL; }
    for (k = -radius; k <= radius; k++) sum += f[k + radius] = exp(-(double)k * k / (2.0 * sigma * sigma));
    for (k = 0; k < n; k++) total += w[k] = (uint32_t)floor(f[k] / sum * 65536.0);
    w[radius] += (uint32_t)(65536 - total);
    free(f);
    return w;
}

static inline void unpack(uint8_t *dst, int p)
{
    dst[0] = (uint8_t)((p >> 24) & 0x7f);
    dst[1] = (uint8_t)((p >> 16) & 0xff);
    dst[2] = (uint8_t)((p >> 8) & 0xff);
    dst[3] = (uint8_t)(p & 0xff);
}

/* One output row: out[x] = sum over k of w[k] * src[k][x], for the 2r+1
 * source rows src (unpacked bytes, 4 a pixel), rounded back to Q0.
 *
 * The kernel is symmetric, so rows k and 2r-k share a multiply (their sum
 * of two bytes times a Q16 weight still fits 32 bits: the weights sum to
 * 65536). Columns go in blocks whose accumulators stay in L1 however wide
 * the row. Built for AVX2 too where the CPU has it (its 32-bit multiplies
 * are what SSE2 lacks); integers give the same pixels either way. */
#define BLOCK 1024   /* bytes of a row per block: 256 pixels */

__attribute__((target_clones("avx2", "default")))
static void convolve_row(int *out, const uint8_t *const *src, const uint32_t *w, int r, int W)
{
    uint32_t acc[BLOCK];
    size_t len = (size_t)W * 4, b, i, e;
    int k;
    for (b = 0; b < len; b += BLOCK) {
        const uint8_t *c = src[r] + b;
        uint32_t wc = w[r];
        e = len - b < BLOCK ? len - b : BLOCK;
        for (i = 0; i < e; i++) acc[i] = wc * c[i];
        for (k = 0; k < r; k++) {
            const uint8_t *lo = src[k] + b, *hi = src[2 * r - k] + b;
            uint32_t wk = w[k];
            for (i = 0; i < e; i++) acc[i] += wk * (uint32_t)(lo[i] + hi[i]);
        }
        for (i = 0; i < e; i += 4)
            out[(b + i) / 4] = (int)(((acc[i] + 32768) >> 16) << 24 | ((acc[i + 1] + 32768) >> 16) << 16
                                     | ((acc[i + 2] + 32768) >> 16) << 8 | ((acc[i + 3] + 32768) >> 16));
    }
}

/* Why not gdImageCopyGaussianBlurred: it reads out of bounds when a side is
 * not larger than the radius (1-pixel-wide images and thin edge tiles), its
 * reflecting border differs between left and right, and it allocates a whole
 * second image. This one clamps at the edges, which tiles reproduce exactly
 * because a tile's clipped edge is the image's edge. */
int tiler_blur(gdImagePtr im, double sigma)
{
    int W = gdImageSX(im), H = gdImageSY(im), r = (int)ceil(3.0 * sigma), n = 2 * r + 1;
    int x, y, k;
    uint32_t *w = make_kernel(sigma, r);
    uint8_t *line = malloc((size_t)(W + 2 * r) * 4);
    uint8_t *ring = malloc((size_t)n * W * 4);
    const uint8_t **src = malloc(sizeof(*src) * (size_t)n);
    int rc = -1;

    if (!w || !line || !ring || !src || !gdImageTrueColor(im)) goto out;

    /* Horizontal pass, row by row, in place: the source rows of the
     * convolution are the clamped line shifted by one pixel each. */
    for (k = 0; k < n; k++) src[k] = line + (size_t)k * 4;
    for (y = 0; y < H; y++) {
        int *row = im->tpixels[y];
        for (x = -r; x < W + r; x++) unpack(line + (size_t)(x + r) * 4, row[x < 0 ? 0 : x >= W ? W - 1 : x]);
        convolve_row(row, src, w, r, W);
    }

    /* Vertical pass. Row y's output overwrites a row that later outputs still
     * read, so a ring keeps the 2r+1 input rows around the current one. */
    for (k = -r; k <= r; k++) {
        int sy = k < 0 ? 0 : k >= H ? H - 1 : k;
        for (x = 0; x < W; x++) unpack(ring + ((size_t)(k + r) * W + x) * 4, im->tpixels[sy][x]);
    }
    for (y = 0; y < H; y++) {
        int slot0 = y % n; /* ring slot of row y - r */
        for (k = 0; k < n; k++) src[k] = ring + (size_t)((slot0 + k) % n) * W * 4;
        convolve_row(im->tpixels[y], src, w, r, W);
        /* Slot of row y-r is free: load row y+r+1 (clamped). It has not been
         * written yet, since only rows <= y have. */
        {
            int ny = y + r + 1;
            if (ny >= H) ny = H - 1;
            for (x = 0; x < W; x++) unpack(ring + ((size_t)slot0 * W + x) * 4, im->tpixels[ny][x]);
        }
    }
    rc = 0;
out:
    free(w); free(line); free(ring); free(src);
    return rc;
}

int tiler_filter_apply(gdImagePtr im, const tiler_chain *chain)
{
    int i;
    if (!gdImageTrueColor(im)) return -1;
    /* gd leaves alpha blending on for truecolor images, and its grayscale and
     * negate filters write through gdImageSetPixel, which then blends the new
     * colour over the old one: semi-transparent pixels come out wrong. Tiles
     * must be replaced, never blended. */
    gdImageAlphaBlending(im, 0);
    for (i = 0; i < chain->count; i++) {
        const tiler_op *op = &chain->ops[i];
        switch (op->kind) {
        case TILER_OP_GRAYSCALE: if (!gdImageGrayScale(im)) return -1; break;
        case TILER_OP_INVERT:    if (!gdImageNegate(im)) return -1; break;
        case TILER_OP_BLUR:      if (tiler_blur(im, op->sigma) < 0) return -1; break;
        default: return -1;
        }
    }
    return 0;
}
