#include "tiler_grid.h"
#include "tiler_grid_chain.h"

static void plain(tiler_grid *g, uint32_t width, uint32_t height, uint32_t tile_size, uint32_t halo)
{
    g->width = g->src_w = width;
    g->height = g->src_h = height;
    g->tile_size = g->src_tile = tile_size;
    g->halo = halo;
    g->cols = g->src_cols = (width + tile_size - 1) / tile_size;
    g->rows = g->src_rows = (height + tile_size - 1) / tile_size;
    g->shift_x = g->shift_y = 0;
    g->geom = NULL;
}

int tiler_grid_init(tiler_grid *g, uint32_t width, uint32_t height, uint32_t tile_size, uint32_t halo)
{
    if (!width || !height || !tile_size) return -1;
    plain(g, width, height, tile_size, halo);
    return 0;
}

/* How much shorter than a cell the first cell along an axis is, given
 * where one cell of the axis starts or ends (b, 0 < b < size). */
static uint32_t shift_of(uint64_t b, uint32_t cell, uint32_t size)
{
    if (b == 0 || b >= size) return 0;
    return (uint32_t)((cell - b % cell) % cell);
}

int tiler_grid_init_chain(tiler_grid *g, tiler_geom *geom, uint32_t w, uint32_t h, uint32_t tile_size,
                          const tiler_chain *chain)
{
    tiler_rect core, rects[TILER_MAX_OPS + 1];
    uint64_t cell;
    if (!w || !h || !tile_size) return -1;
    tiler_geom_init(geom, chain, w, h);
    plain(g, geom->out_w, geom->out_h, tile_size, (uint32_t)tiler_chain_halo(chain));
    g->src_w = w;
    g->src_h = h;
    if (!tiler_chain_moves(chain)) return 0;
    g->geom = geom;
    cell = (uint64_t)tile_size * tiler_chain_scale(chain);
    g->src_tile = cell > UINT32_MAX ? UINT32_MAX : (uint32_t)cell;
    /* Tile 0's source is a whole cell or the short first or last one:
     * either way one of its edges is a cell boundary inside the image. */
    tiler_grid_tile(g, 0, &core, &rects[0]);
    tiler_geom_back(geom, &core, 0, rects);
    g->shift_x = shift_of(rects[0].x ? rects[0].x : (uint64_t)rects[0].x + rects[0].w, g->src_tile, w);
    g->shift_y = shift_of(rects[0].y ? rects[0].y : (uint64_t)rects[0].y + rects[0].h, g->src_tile, h);
    g->src_cols = (uint32_t)(((uint64_t)w + g->shift_x + g->src_tile - 1) / g->src_tile);
    g->src_rows = (uint32_t)(((uint64_t)h + g->shift_y + g->src_tile - 1) / g->src_tile);
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
    if (g->geom) {
        tiler_rect rects[TILER_MAX_OPS + 1];
        tiler_geom_back(g->geom, core, 1, rects);
        *src = rects[0];
        return;
    }
    span(core->x, core->w, g->halo, g->width, &src->x, &src->w);
    span(core->y, core->h, g->halo, g->height, &src->y, &src->h);
}

uint32_t tiler_grid_at_source(const tiler_grid *g, uint32_t col, uint32_t row)
{
    uint32_t x = col ? col * g->src_tile - g->shift_x : 0, y = row ? row * g->src_tile - g->shift_y : 0;
    if (g->geom) tiler_geom_point(g->geom, x, y, &x, &y);
    return (y / g->tile_size) * g->cols + x / g->tile_size;
}

uint64_t tiler_grid_max_src_bytes(const tiler_grid *g)
{
    uint64_t w = (uint64_t)g->src_tile + 2ull * g->halo, h = w;
    if (w > g->src_w) w = g->src_w;
    if (h > g->src_h) h = g->src_h;
    return w * h * 4ull;
}
