/* Tile grid geometry: which part of the result each tile owns (its core)
 * and which part of the upload it must be sent (its source: the core
 * moved back through the chain, plus the context the chain's filters
 * need, clipped to the image). Without flips, rotations or downscales the
 * two are the same place. */
#ifndef TILER_GRID_H
#define TILER_GRID_H

#include <stdint.h>

typedef struct { uint32_t x, y, w, h; } tiler_rect;

struct tiler_geom;

typedef struct tiler_grid {
    uint32_t width, height;   /* the result */
    uint32_t tile_size;
    uint32_t halo;            /* context around a source, in upload pixels */
    uint32_t cols, rows;      /* of the result */
    /* The upload, and the grid the tiles' sources make on it: cells of
     * src_tile (tile size times the chain's downscale), the first column
     * and row shorter by shift_x / shift_y when a flip or rotation lines
     * the cells up from the far edge. */
    uint32_t src_w, src_h;
    uint32_t src_tile, shift_x, shift_y, src_cols, src_rows;
    const struct tiler_geom *geom;   /* when made by tiler_grid_init_chain; NULL otherwise */
} tiler_grid;

/* A grid where the result is the upload (no flips, rotations or
 * downscales). Returns 0, or -1 when a size is zero. */
int tiler_grid_init(tiler_grid *g, uint32_t width, uint32_t height, uint32_t tile_size, uint32_t halo);
uint32_t tiler_grid_count(const tiler_grid *g);
/* index < count: the core in the result, the source in the upload. */
void tiler_grid_tile(const tiler_grid *g, uint32_t index, tiler_rect *core, tiler_rect *src);
/* The tile whose source cell is at column col, row row of the upload's
 * cells (col < src_cols, row < src_rows). */
uint32_t tiler_grid_at_source(const tiler_grid *g, uint32_t col, uint32_t row);
/* Largest src rectangle of any tile, in bytes of 4-byte pixels. */
uint64_t tiler_grid_max_src_bytes(const tiler_grid *g);

#endif
