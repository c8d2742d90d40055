/* The grid of a job whose chain may move pixels (tiler_geom.h). */
#ifndef TILER_GRID_CHAIN_H
#define TILER_GRID_CHAIN_H

#include "tiler_geom.h"
#include "tiler_grid.h"

/* The grid of the chain's result for an upload of w x h, its geometry kept
 * in *geom (which must outlive the grid). 0, or -1 when a size is zero. */
int tiler_grid_init_chain(tiler_grid *g, tiler_geom *geom, uint32_t w, uint32_t h, uint32_t tile_size,
                          const tiler_chain *chain);

#endif
