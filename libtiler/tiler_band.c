#include "tiler_band.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tiler_defaults.h"
#include "tiler_grid.h"
#include "tiler_png.h"

void tiler_band_init(tiler_band *b, uint32_t tile_size, uint32_t halo, int whole, tiler_band_fn fn, void *ctx)
{
    memset(b, 0, sizeof(*b));
    b->tile_size = tile_size ? tile_size : 1;
    b->halo = halo;
    b->whole = whole;
    b->fn = fn;
    b->ctx = ctx;
}

void tiler_band_init_grid(tiler_band *b, const tiler_grid *g, tiler_band_fn fn, void *ctx)
{
    tiler_band_init(b, g->src_tile, g->halo, 0, fn, ctx);
    b->shift = g->shift_y;
}

uint32_t tiler_band_fit_tile(uint32_t w, uint32_t tile, uint32_t halo, uint32_t scale, uint64_t max_bytes)
{
    if (!scale) scale = 1;
    while ((uint64_t)w * ((uint64_t)tile + 2ull * halo) * 4 > max_bytes && tile % 2 == 0 && tile / 2 >= TILER_MIN_TILE_SIZE
           && (tile / 2) % scale == 0)
        tile /= 2;
    return tile;
}

uint32_t tiler_band_rows_held(uint32_t h, uint32_t tile_size, uint32_t halo)
{
    uint64_t want = (uint64_t)tile_size + 2ull * halo;
    return want < h ? (uint32_t)want : h;
}

uint64_t tiler_band_bytes(uint32_t w, uint32_t h, uint32_t tile_size, uint32_t halo)
{
    return (uint64_t)w * tiler_band_rows_held(h, tile_size, halo) * sizeof(int);
}

uint32_t tiler_band_first_row(const tiler_band *b, uint32_t r)
{
    uint64_t top = r ? (uint64_t)r * b->tile_size - b->shift : 0;
    return top > b->halo ? (uint32_t)(top - b->halo) : 0;
}

uint32_t tiler_band_need(const tiler_band *b, uint32_t r)
{
    uint64_t end = ((uint64_t)r + 1) * b->tile_size - b->shift + b->halo;
    return end < b->height ? (uint32_t)end : b->height;
}

int tiler_band_start(tiler_band *b, uint32_t w, uint32_t h, int alpha, char *err, size_t errlen)
{
    uint32_t y;
    if (b->started || !w || !h) {
        snprintf(err, errlen, b->started ? "the image has two headers" : "the image has a zero size");
        return -1;
    }
    b->width = w;
    b->height = h;
    b->alpha = alpha;
    b->tile_rows = (uint32_t)(((uint64_t)h + b->shift + b->tile_size - 1) / b->tile_size);
    if (b->whole) {
        /* libgd's sizes are ints (and it refuses w*h above INT_MAX). */
        if (w > 0x7fffffff || h > 0x7fffffff || !(b->im = gdImageCreateTrueColor((int)w, (int)h))) {
            snprintf(err, errlen, "out of memory for a %ux%u image", w, h);
            return -1;
        }
        b->cap = h;
        b->slot = b->im->tpixels;
    } else {
        b->cap = tiler_band_rows_held(h, b->tile_size, b->halo);
        if ((uint64_t)w * b->cap > SIZE_MAX / sizeof(int) || !(b->slot = malloc(b->cap * sizeof(*b->slot)))
            || !(b->mem = malloc((size_t)w * b->cap * sizeof(int)))) {
            free(b->slot);
            b->slot = NULL;
            snprintf(err, errlen, "out of memory for a band of %u rows of %u pixels", b->cap, w);
            return -1;
        }
        for (y = 0; y < b->cap; y++) b->slot[y] = b->mem + (size_t)w * y;
    }
    b->started = 1;
    return 0;
}

uint32_t tiler_band_room(const tiler_band *b)
{
    if (!b->started) return 0;
    /* The next tile row's rows are the ones still needed; writing up to its
     * last row overwrites only rows above its first (cap = tile + 2 halo). */
    if (b->whole || b->next >= b->tile_rows) return b->height - b->filled;
    return tiler_band_need(b, b->next) - b->filled;
}

int *tiler_band_row(tiler_band *b, uint32_t y)
{
    if (!b->started || y < b->filled || y - b->filled >= tiler_band_room(b)) return NULL;
    return b->slot[y % b->cap];
}

const int *tiler_band_get(const tiler_band *b, uint32_t y)
{
    if (!b->started || y >= b->filled || (uint64_t)y + b->cap < b->filled) return NULL;
    return b->slot[y % b->cap];
}

int tiler_band_done(tiler_band *b, uint32_t rows, char *err, size_t errlen)
{
    if (!b->started) return 0;
    if (rows > b->height) rows = b->height;
    if (rows <= b->filled) return 0;
    b->filled = rows;
    while (b->next < b->tile_rows && tiler_band_need(b, b->next) <= b->filled) {
        int rc = b->fn ? b->fn(b->ctx, b, b->next, err, errlen) : 0;
        b->next++;
        if (rc) return rc;
    }
    return 0;
}

gdImagePtr tiler_band_take_image(tiler_band *b)
{
    gdImagePtr im = b->im;
    if (!b->whole || !im || b->filled < b->height) return NULL;
    b->im = NULL;
    b->slot = NULL;
    gdImageAlphaBlending(im, 0);
    gdImageSaveAlpha(im, 1);
    return im;
}

void tiler_band_free(tiler_band *b)
{
    if (b->im) gdImageDestroy(b->im);
    if (!b->whole) free(b->slot);
    free(b->mem);
    b->im = NULL;
    b->slot = NULL;
    b->mem = NULL;
}

int tiler_band_feed_image(tiler_band *b, gdImagePtr im, char *err, size_t errlen)
{
    uint32_t w = (uint32_t)gdImageSX(im), h = (uint32_t)gdImageSY(im), y, alpha = 0;
    int rc;
    for (y = 0; y < h && !alpha; y++) alpha = (uint32_t)tiler_png_has_alpha(im->tpixels[y], w);
    if (b->whole && !b->started) {
        /* Adopt it: a second copy of a whole image would double its cost. */
        b->width = w;
        b->height = h;
        b->alpha = (int)alpha;
        b->tile_rows = (uint32_t)(((uint64_t)h + b->shift + b->tile_size - 1) / b->tile_size);
        b->im = im;
        b->cap = h;
        b->slot = im->tpixels;
        b->started = 1;
        return tiler_band_done(b, h, err, errlen) ? -1 : 0;
    }
    if (tiler_band_start(b, w, h, (int)alpha, err, errlen) < 0) {
        gdImageDestroy(im);
        return -1;
    }
    rc = 0;
    while (!rc && b->filled < h) {
        uint32_t n = tiler_band_room(b), first = b->filled;
        for (y = first; y < first + n; y++) memcpy(tiler_band_row(b, y), im->tpixels[y], (size_t)w * sizeof(int));
        rc = tiler_band_done(b, first + n, err, errlen);
    }
    gdImageDestroy(im);
    return rc ? -1 : 0;
}
