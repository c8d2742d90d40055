/* A Deep Zoom Image (DZI) pyramid of an image fed a row at a time, top to
 * bottom: 256-pixel PNG tiles, no overlap, levels 0..maxL with maxL =
 * ceil(log2(max(W, H))); level L is ceil(W / 2^(maxL-L)) x
 * ceil(H / 2^(maxL-L)), each pixel the mean of the 2x2 block under it one
 * level up (a block at the right or bottom edge has only its real pixels;
 * each channel, alpha too, rounded half up).
 * Memory is bounded by the width, never the height: per level one row
 * waiting for its pair and one row of the level below, about 12 x W bytes
 * in all, plus one 256 x 256 tile. The 256 rows of each level's current
 * band of tiles are kept in an unlinked temporary file in the output
 * directory instead (4 x 256 x its width bytes; about 2048 x W in all):
 * each tile is read back from it to be encoded. */
#ifndef TILER_PYRAMID_H
#define TILER_PYRAMID_H

#include <stddef.h>
#include <stdint.h>

#define TILER_PYRAMID_TILE 256

typedef struct tiler_pyramid tiler_pyramid;

/* The top level, maxL, of a w x h image. */
unsigned tiler_pyramid_max_level(uint32_t w, uint32_t h);
/* The size of level (<= maxL) of a w x h image. */
void tiler_pyramid_level_size(uint32_t w, uint32_t h, unsigned level, uint32_t *lw, uint32_t *lh);
/* The path of a tile, relative to the pyramid's directory:
 * zoom_files/LEVEL/COL_ROW.png, and of the descriptor: zoom.dzi. 0 or -1. */
int tiler_pyramid_tile_name(char *buf, size_t len, unsigned level, uint32_t col, uint32_t row);
#define TILER_PYRAMID_DZI "zoom.dzi"
/* The heap the builder holds for a w-wide image, in bytes. */
size_t tiler_pyramid_work_bytes(uint32_t w);

/* Starts a pyramid of a w x h image in dir (an existing, empty directory)
 * with tiles deflated at zlib level zlevel. NULL with err. */
tiler_pyramid *tiler_pyramid_begin(const char *dir, uint32_t w, uint32_t h, int zlevel, char *err, size_t errlen);
/* The next row: w gd truecolor ints. 0, -1 with err, or -2 when the disk
 * is full (ENOSPC, EDQUOT). */
int tiler_pyramid_row(tiler_pyramid *p, const int *row, char *err, size_t errlen);
/* After the last row: writes the descriptor last and frees p. 0, -1 or -2
 * as tiler_pyramid_row. */
int tiler_pyramid_end(tiler_pyramid *p, char *err, size_t errlen);
/* The pyramid of the PNG, JPEG or TIFF file at path, decoded as a stream, into
 * dir (as tiler_pyramid_begin). want_w and want_h, when not 0, are the size
 * the file must have. When cancel is set and becomes non-zero (another
 * thread: the server is stopping) the build stops within a row. 0, -1 with
 * err, -2 when the disk is full, -3 when cancelled. */
int tiler_pyramid_build_file(const char *path, const char *dir, uint32_t want_w, uint32_t want_h, int zlevel,
                             const volatile int *cancel, char *err, size_t errlen);
/* Frees p without finishing (what is written stays, for the caller to remove). */
void tiler_pyramid_abort(tiler_pyramid *p);

#endif
