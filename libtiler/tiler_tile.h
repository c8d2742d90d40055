/* Tiles as messages: cutting a task out of an image, and turning a task into
 * its result. The module, the worker and the tests all go through here. */
#ifndef TILER_TILE_H
#define TILER_TILE_H

#include <stddef.h>
#include <gd.h>
#include "tiler_band.h"
#include "tiler_grid.h"
#include "tiler_msg.h"

/* A malloc'd task message for tile idx (core + halo pixels), or NULL.
 * pack: a version 4 task, its pixels packed as tightly as they allow, which
 * asks for a packed result; else version 1 (4 bytes a pixel), which an
 * encoding can then be asked of (tiler_msg_set_encoding: never of a
 * packed task). A packed task of a chain that starts with grayscale and
 * goes on is cut grey, and asks for the rest of the chain. */
unsigned char *tiler_tile_task(gdImagePtr im, const tiler_grid *g, uint32_t idx,
                               const unsigned char job_id[16], const char *ops, int pack, size_t *len);
/* The same, cut from the band while it holds the tile's rows (in the
 * band's callback for the tile's row of tiles); NULL also when it does not. */
unsigned char *tiler_tile_task_band(const tiler_band *b, const tiler_grid *g, uint32_t idx,
                                    const unsigned char job_id[16], const char *ops, int pack, size_t *len);

/* Applies the task's op chain to its pixels and returns the malloc'd result
 * message (core pixels only), or NULL with a reason. */
unsigned char *tiler_tile_process(const tiler_msg *task, size_t *len, char *err, size_t errlen);

#endif
