/* Tile grid geometry: which part of the image each tile owns (its core) and
 * which part it must be sent (core plus halo, clipped to the image). */
#ifndef TILER_GRID_H
#define TILER_GRID_H

#include <stdint.h>

typedef struct { uint32_t x, y, w, h; } tiler_rect;

typedef struct {
    uint32_t width, height;   /* image */
    uint32_t tile_size;
    uint32_t halo;
    uint32_t cols, rows;
} tiler_grid;

/* Returns 0, or -1 when a size is zero. */
int tiler_grid_init(tiler_grid *g, uint32_t width, uint32_t height, uint32_t tile_size, uint32_t halo);
uint32_t tiler_grid_count(const tiler_grid *g);
/* index < count */
void tiler_grid_tile(const tiler_grid *g, uint32_t index, tiler_rect *core, tiler_rect *src);
/* Largest src rectangle of any tile, in bytes of 4-byte pixels. */
uint64_t tiler_grid_max_src_bytes(const tiler_grid *g);

#endif
