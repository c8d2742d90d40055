#include "tiler_grid.h"

int tiler_grid_init(tiler_grid *g, uint32_t width, uint32_t height, uint32_t tile_size, uint32_t halo)
{
    if (!width || !height || !tile_size) return -1;
    g->width = width;
    g->height = height;
    g->tile_size = tile_size;
    g->halo = halo;
    g->cols = (width + tile_size - 1) / tile_size;
    g->rows = (height + tile_size - 1) / tile_size;
    return 0;
}

uint32_t tiler_grid_count(const tiler_grid *g)
{
    return g->cols * g->rows;
}

static void span(uint32_t start, uint32_t len, uint32_t halo, uint32_t limit, uint32_t *s, uint32_t *n)
{
    uint32_t lo = start > halo ? start - halo : 0;
    uint64_t hi = (uint64_t)start + len + halo;
    if (hi > limit) hi = limit;
    *s = lo;
    *n = (uint32_t)(hi - lo);
}

void tiler_grid_tile(const tiler_grid *g, uint32_t index, tiler_rect *core, tiler_rect *src)
{
    uint32_t col = index % g->cols, row = index / g->cols;
    core->x = col * g->tile_size;
    core->y = row * g->tile_size;
    core->w = g->width - core->x < g->tile_size ? g->width - core->x : g->tile_size;
    core->h = g->height - core->y < g->tile_size ? g->height - core->y : g->tile_size;
    span(core->x, core->w, g->halo, g->width, &src->x, &src->w);
    span(core->y, core->h, g->halo, g->height, &src->y, &src->h);
}

uint64_t tiler_grid_max_src_bytes(const tiler_grid *g)
{
    uint64_t w = (uint64_t)g->tile_size + 2ull * g->halo, h = w;
    if (w > g->width) w = g->width;
    if (h > g->height) h = g->height;
    return w * h * 4ull;
}
