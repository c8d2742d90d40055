/* The zoom view's URLs under {loc}/api/jobs/{id}: /zoom.dzi and
 * /zoom_files/LEVEL/COL_ROW.png. Parsed strictly (decimal digits only, no
 * sign, no leading zero, a few digits at most), so that only integers ever
 * reach tiler_spool_zoom_tile_path. */
#ifndef TILER_ZOOM_URL_H
#define TILER_ZOOM_URL_H

#include <stdint.h>

typedef enum {
    TILER_ZOOM_NONE,   /* not a zoom URL */
    TILER_ZOOM_DZI,    /* the descriptor */
    TILER_ZOOM_TILE,   /* a tile: level, col, row set */
    TILER_ZOOM_BAD     /* under zoom_files/, but not LEVEL/COL_ROW.png */
} tiler_zoom_kind;

typedef struct { unsigned level; uint32_t col, row; } tiler_zoom_tile;

/* rest is what follows the job id, starting with '/'. */
tiler_zoom_kind tiler_zoom_url_parse(const char *rest, tiler_zoom_tile *t);
/* 1 when t is a tile of the pyramid of a w x h image, else 0. */
int tiler_zoom_tile_exists(const tiler_zoom_tile *t, uint32_t w, uint32_t h);

#endif
