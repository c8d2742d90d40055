#include "tiler_filter.h"
#include "tiler_transform.h"

#include <math.h>
#include <pthread.h>
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

/* The sum over the 2r+1 source rows src of w[k] * src[k][i], for bytes
 * [b, b + e) of a row, into acc (Q16).
 *
 * The kernel is symmetric, so rows k and 2r-k share a multiply (their sum
 * of two bytes times a Q16 weight still fits 32 bits: the weights sum to
 * 65536). Inlined into each build of the callers below, so the AVX2 build
 * vectorises it with AVX2. */
static inline __attribute__((always_inline)) void accumulate(uint32_t *acc, const uint8_t *const *src, const uint32_t *w,
                                                             int r, size_t b, size_t e)
{
    const uint8_t *c = src[r] + b;
    uint32_t wc = w[r];
    size_t i;
    int k;
    for (i = 0; i < e; i++) acc[i] = wc * c[i];
    for (k = 0; k < r; k++) {
        const uint8_t *lo = src[k] + b, *hi = src[2 * r - k] + b;
        uint32_t wk = w[k];
        for (i = 0; i < e; i++) acc[i] += wk * (uint32_t)(lo[i] + hi[i]);
    }
}

/* One output row: out[x] = sum over k of w[k] * src[k][x], for the 2r+1
 * source rows src (unpacked bytes, 4 a pixel), rounded back to Q0.
 * Columns go in blocks whose accumulators stay in L1 however wide the
 * row. Built for AVX2 too where the CPU has it (its 32-bit multiplies are
 * what SSE2 lacks); integers give the same pixels either way. */
#define BLOCK 1024   /* bytes of a row per block */

__attribute__((target_clones("avx2", "default")))
static void convolve_row(int *out, const uint8_t *const *src, const uint32_t *w, int r, int W)
{
    uint32_t acc[BLOCK];
    size_t len = (size_t)W * 4, b, i, e;
    for (b = 0; b < len; b += BLOCK) {
        e = len - b < BLOCK ? len - b : BLOCK;
        accumulate(acc, src, w, r, b, e);
        for (i = 0; i < e; i += 4)
            out[(b + i) / 4] = (int)(((acc[i] + 32768) >> 16) << 24 | ((acc[i + 1] + 32768) >> 16) << 16
                                     | ((acc[i + 2] + 32768) >> 16) << 8 | ((acc[i + 3] + 32768) >> 16));
    }
}

/* The same for a grey image of one alpha: src holds one byte a pixel (the
 * grey), and each pixel gets it three times with that alpha. Red, green
 * and blue are equal bytes convolved alike, so they come out as
 * convolve_row gives them; a constant alpha a sums to a * 65536 and rounds
 * back to a. A quarter of the work, for the same pixels. */
__attribute__((target_clones("avx2", "default")))
static void convolve_row_grey(int *out, const uint8_t *const *src, const uint32_t *w, int r, int W, uint32_t alpha)
{
    uint32_t acc[BLOCK];
    size_t len = (size_t)W, b, i, e;
    for (b = 0; b < len; b += BLOCK) {
        e = len - b < BLOCK ? len - b : BLOCK;
        accumulate(acc, src, w, r, b, e);
        for (i = 0; i < e; i++) {
            uint32_t v = (acc[i] + 32768) >> 16;
            out[b + i] = (int)(alpha << 24 | v << 16 | v << 8 | v);
        }
    }
}

int tiler_grey_one_alpha(gdImagePtr im, uint32_t *alpha)
{
    int W = gdImageSX(im), H = gdImageSY(im), x, y;
    uint32_t a = ((uint32_t)im->tpixels[0][0] >> 24) & 0x7f;
    for (y = 0; y < H; y++) {
        const int *row = im->tpixels[y];
        for (x = 0; x < W; x++) {
            uint32_t p = (uint32_t)row[x];
            if (((p >> 24) & 0x7f) != a || ((p >> 16) & 0xff) != (p & 0xff) || ((p >> 8) & 0xff) != (p & 0xff)) return 0;
        }
    }
    *alpha = a;
    return 1;
}

/* A row's pixels x0 .. x0+n-1 into dst, bpp bytes each (4: unpack; 1: the
 * grey), x clamped to the image's W columns. */
static void load(uint8_t *dst, const int *row, int W, int x0, int n, int bpp)
{
    int x;
    /* One loop per width, so that neither tests bpp a pixel. */
    if (bpp == 4)
        for (x = x0; x < x0 + n; x++) unpack(dst + (size_t)(x - x0) * 4, row[x < 0 ? 0 : x >= W ? W - 1 : x]);
    else
        for (x = x0; x < x0 + n; x++) dst[x - x0] = (uint8_t)(row[x < 0 ? 0 : x >= W ? W - 1 : x] & 0xff);
}

/* Why not gdImageCopyGaussianBlurred: it reads out of bounds when a side is
 * not larger than the radius (1-pixel-wide images and thin edge tiles), its
 * reflecting border differs between left and right, and it allocates a whole
 * second image. This one clamps at the edges, which tiles reproduce exactly
 * because a tile's clipped edge is the image's edge. A grey image of one
 * alpha (what grayscale leaves of an opaque image) is convolved a byte a
 * pixel rather than four. */
int tiler_blur(gdImagePtr im, double sigma)
{
    int W = gdImageSX(im), H = gdImageSY(im), r = (int)ceil(3.0 * sigma), n = 2 * r + 1;
    int y, k, bpp;
    uint32_t alpha = 0;
    uint32_t *w = make_kernel(sigma, r);
    uint8_t *line = malloc((size_t)(W + 2 * r) * 4);
    uint8_t *ring = malloc((size_t)n * W * 4);
    const uint8_t **src = malloc(sizeof(*src) * (size_t)n);
    int rc = -1;

    if (!w || !line || !ring || !src || !gdImageTrueColor(im)) goto out;
    bpp = tiler_grey_one_alpha(im, &alpha) ? 1 : 4;

    /* Horizontal pass, row by row, in place: the source rows of the
     * convolution are the clamped line shifted by one pixel each. */
    for (k = 0; k < n; k++) src[k] = line + (size_t)k * bpp;
    for (y = 0; y < H; y++) {
        int *row = im->tpixels[y];
        load(line, row, W, -r, W + 2 * r, bpp);
        if (bpp == 4) convolve_row(row, src, w, r, W);
        else convolve_row_grey(row, src, w, r, W, alpha);
    }

    /* Vertical pass. Row y's output overwrites a row that later outputs still
     * read, so a ring keeps the 2r+1 input rows around the current one. */
    for (k = -r; k <= r; k++)
        load(ring + (size_t)(k + r) * W * bpp, im->tpixels[k < 0 ? 0 : k >= H ? H - 1 : k], W, 0, W, bpp);
    for (y = 0; y < H; y++) {
        int slot0 = y % n; /* ring slot of row y - r */
        for (k = 0; k < n; k++) src[k] = ring + (size_t)((slot0 + k) % n) * W * bpp;
        if (bpp == 4) convolve_row(im->tpixels[y], src, w, r, W);
        else convolve_row_grey(im->tpixels[y], src, w, r, W, alpha);
        /* Slot of row y-r is free: load row y+r+1 (clamped). It has not been
         * written yet, since only rows <= y have. */
        load(ring + (size_t)slot0 * W * bpp, im->tpixels[y + r + 1 >= H ? H - 1 : y + r + 1], W, 0, W, bpp);
    }
    rc = 0;
out:
    free(w); free(line); free(ring); free(src);
    return rc;
}

static inline int clamp255(double v)
{
    return v < 0 ? 0 : v > 255 ? 255 : (int)v;
}

/* Rounds half up, as the README's op table says: floor(x + 0.5). */
static inline int round_half_up(double x)
{
    return (int)floor(x + 0.5);
}

/* a / b rounded down (C's division rounds toward zero), b > 0. */
static inline int64_t floordiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b && a < 0) ? q - 1 : q;
}

/* The Rec. 601 luma threshold and edges work on, in integers:
 * (77 R + 150 G + 29 B + 128) / 256. */
static inline int luma(int p)
{
    return (77 * ((p >> 16) & 0xff) + 150 * ((p >> 8) & 0xff) + 29 * (p & 0xff) + 128) >> 8;
}

/* libgd's grey, pixel for pixel: gdImageGrayScale sets R, G and B to
 * (int)(.299 R + .587 G + .114 B) in doubles and keeps alpha, but through
 * four calls a pixel (get, allocate, set), a third of a worker's time on
 * grayscale,blur:3. The products come from tables of the same doubles and
 * are added in gd's order, so the sums are gd's bit for bit (t/unit/test_filters.c
 * checks every colour against gd). */
static double grey_r[256], grey_g[256], grey_b[256];
static pthread_once_t grey_once = PTHREAD_ONCE_INIT;

static void grey_tables(void)
{
    int v;
    for (v = 0; v < 256; v++) {
        grey_r[v] = .299 * v;
        grey_g[v] = .587 * v;
        grey_b[v] = .114 * v;
    }
}

void tiler_grayscale_row(int *row, size_t n)
{
    size_t x;
    pthread_once(&grey_once, grey_tables);
    for (x = 0; x < n; x++) {
        int p = row[x], v = (int)(grey_r[(p >> 16) & 0xff] + grey_g[(p >> 8) & 0xff] + grey_b[p & 0xff]);
        row[x] = (p & 0x7f000000) | v << 16 | v << 8 | v;
    }
}

static void grayscale(gdImagePtr im)
{
    int y;
    for (y = 0; y < gdImageSY(im); y++) tiler_grayscale_row(im->tpixels[y], (size_t)gdImageSX(im));
}

/* libgd's negate (255 - v on R, G and B, alpha kept; like gd, a pixel
 * is rebuilt from its 7-bit alpha), without its calls a pixel. */
static void invert(gdImagePtr im)
{
    int x, y, W = gdImageSX(im), H = gdImageSY(im);
    for (y = 0; y < H; y++) {
        int *row = im->tpixels[y];
        for (x = 0; x < W; x++) row[x] = (row[x] & 0x7f000000) | (~row[x] & 0xffffff);
    }
}

/* R, G and B through a table; alpha as it was. */
static void apply_lut(gdImagePtr im, const uint8_t lut[256])
{
    int x, y, W = gdImageSX(im), H = gdImageSY(im);
    for (y = 0; y < H; y++) {
        int *row = im->tpixels[y];
        for (x = 0; x < W; x++) {
            int p = row[x];
            row[x] = (p & 0x7f000000) | lut[(p >> 16) & 0xff] << 16 | lut[(p >> 8) & 0xff] << 8 | lut[p & 0xff];
        }
    }
}

/* brightness, contrast and gamma are one table each, made from the
 * README's formula. */
static void point_op(gdImagePtr im, const tiler_op *op)
{
    uint8_t lut[256];
    int v;
    for (v = 0; v < 256; v++) {
        switch (op->kind) {
        case TILER_OP_BRIGHTNESS: lut[v] = (uint8_t)clamp255(v + op->value); break;
        /* In integers from the exact factor (millionths): a double would
         * miss the README's half-steps, and a compiler that fuses the
         * multiply-add would give other bytes. */
        case TILER_OP_CONTRAST:
            lut[v] = (uint8_t)clamp255((double)floordiv((int64_t)(v - 128) * op->micro + 128500000, 1000000));
            break;
        default:                  lut[v] = (uint8_t)clamp255(round_half_up(255.0 * pow(v / 255.0, 1.0 / op->value))); break;
        }
    }
    apply_lut(im, lut);
}

static void threshold(gdImagePtr im, int t)
{
    int x, y, W = gdImageSX(im), H = gdImageSY(im);
    for (y = 0; y < H; y++) {
        int *row = im->tpixels[y];
        for (x = 0; x < W; x++) row[x] = (row[x] & 0x7f000000) | (luma(row[x]) >= t ? 0xffffff : 0);
    }
}

/* Sobel on the luma, edges clamped as the blur's: grey
 * floor(sqrt(gx^2 + gy^2) / 4 + 0.5), at most 255 (a step from black to
 * white across the kernel is 255); alpha as it was. */
int tiler_edges(gdImagePtr im)
{
    int W = gdImageSX(im), H = gdImageSY(im), x, y;
    uint8_t *l = malloc((size_t)W * H);
    if (!l) return -1;
    for (y = 0; y < H; y++)
        for (x = 0; x < W; x++) l[(size_t)y * W + x] = (uint8_t)luma(im->tpixels[y][x]);
    for (y = 0; y < H; y++) {
        const uint8_t *up = l + (size_t)(y > 0 ? y - 1 : 0) * W, *mid = l + (size_t)y * W,
                      *dn = l + (size_t)(y + 1 < H ? y + 1 : H - 1) * W;
        int *row = im->tpixels[y];
        for (x = 0; x < W; x++) {
            int xl = x > 0 ? x - 1 : 0, xr = x + 1 < W ? x + 1 : W - 1;
            int gx = (up[xr] + 2 * mid[xr] + dn[xr]) - (up[xl] + 2 * mid[xl] + dn[xl]);
            int gy = (dn[xl] + 2 * dn[x] + dn[xr]) - (up[xl] + 2 * up[x] + up[xr]);
            int g = clamp255(floor(sqrt((double)(gx * gx + gy * gy)) / 4.0 + 0.5));
            row[x] = (row[x] & 0x7f000000) | g << 16 | g << 8 | g;
        }
    }
    free(l);
    return 0;
}

/* Unsharp mask: v + amount * (v - blur(v)), rounded half up and clamped, on
 * R, G and B with the blur's own Gaussian; alpha as it was. */
int tiler_sharpen(gdImagePtr im, double sigma, int64_t amount_micro)
{
    int W = gdImageSX(im), H = gdImageSY(im), x, y, c;
    gdImagePtr b = gdImageCreateTrueColor(W, H);
    if (!b) return -1;
    for (y = 0; y < H; y++) memcpy(b->tpixels[y], im->tpixels[y], (size_t)W * sizeof(int));
    if (tiler_blur(b, sigma) < 0) { gdImageDestroy(b); return -1; }
    for (y = 0; y < H; y++) {
        int *row = im->tpixels[y];
        const int *blurred = b->tpixels[y];
        for (x = 0; x < W; x++) {
            int p = row[x], out = p & 0x7f000000;
            for (c = 0; c < 24; c += 8) {
                int v = (p >> c) & 0xff, d = v - ((blurred[x] >> c) & 0xff);
                /* round half up of amount * d, exactly, in millionths */
                out |= clamp255((double)(v + floordiv(d * amount_micro + 500000, 1000000))) << c;
            }
            row[x] = out;
        }
    }
    gdImageDestroy(b);
    return 0;
}

int tiler_filter_op(gdImagePtr *imp, const tiler_op *op)
{
    gdImagePtr im = *imp, moved = NULL;
    if (!gdImageTrueColor(im)) return -1;
    /* gd leaves alpha blending on for truecolor images, and its drawing
     * calls then blend the new colour over the old one: semi-transparent
     * pixels would come out wrong. Tiles must be replaced, never blended. */
    gdImageAlphaBlending(im, 0);
    switch (op->kind) {
    case TILER_OP_GRAYSCALE: grayscale(im); return 0;
    case TILER_OP_INVERT:    invert(im); return 0;
    case TILER_OP_BLUR:      return tiler_blur(im, op->sigma);
    case TILER_OP_SHARPEN:   return tiler_sharpen(im, op->sigma, op->micro);
    case TILER_OP_EDGES:     return tiler_edges(im);
    case TILER_OP_THRESHOLD: threshold(im, (int)op->value); return 0;
    case TILER_OP_BRIGHTNESS: case TILER_OP_CONTRAST: case TILER_OP_GAMMA: point_op(im, op); return 0;
    case TILER_OP_FLIP:      moved = tiler_flip(im, op->value == TILER_FLIP_V); break;
    case TILER_OP_ROTATE:    moved = tiler_rotate(im, (int)op->value); break;
    case TILER_OP_DOWNSCALE: moved = tiler_downscale(im, (int)op->value); break;
    default: return -1;
    }
    if (!moved) return -1;
    gdImageDestroy(im);
    *imp = moved;
    return 0;
}

int tiler_filter_apply(gdImagePtr *im, const tiler_chain *chain)
{
    int i;
    for (i = 0; i < chain->count; i++)
        if (tiler_filter_op(im, &chain->ops[i]) < 0) return -1;
    return 0;
}
