/* Tasks that carry a tiled TIFF upload's compressed tiles instead of
 * pixels (task version 3, docs/protocol.md), so that the workers decode
 * the input and the web host only reads its tile directory.
 *
 * A task's payload is the origin of the tiles it carries in the upload
 * (x, y: two little-endian uint32) and then a small classic TIFF: the
 * upload's tiles that cover the task's source rectangle, their bytes as
 * they are in the upload, under a directory that repeats the upload's
 * decoding fields (compression, predictor, photometric, samples, extra
 * samples, fill order, JPEG tables, YCbCr subsampling). The worker decodes
 * it with the same reader as the web host (tiler_tiff.c), so its pixels
 * are the ones the web host would have cut. */
#ifndef TILER_TIFF_TASK_H
#define TILER_TIFF_TASK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <gd.h>
#include "tiler_grid.h"
#include "tiler_msg.h"

typedef struct tiler_tiff_tiles tiler_tiff_tiles;

/* Reads f's first directory (never its pixels) for cutting tasks. 1 with
 * *out; 0 when the file is not tiled (why says so: the web host decodes
 * it); -1 with why when it cannot be read (the probe had passed it, so
 * this is a corrupt directory). f stays the caller's, open until close. */
int tiler_tiff_tiles_open(FILE *f, tiler_tiff_tiles **out, char *why, size_t whylen);
/* Whether the workers should decode this grid's tasks: 1; 0 with why when
 * a task would carry more than TILER_TIFF_TASK_FIT_PIXELS of tiles or more
 * than a message holds, or the workers would decode more than
 * TILER_TIFF_TASK_MAX_RATIO times the upload's pixels in all, or the
 * tiles' stored bytes add up to more than the file (tiles sharing bytes
 * would be sent over and over). -1 with why when a tile of the directory
 * lies past the end of the file or has more bytes than any encoding of it
 * takes: every tile is checked here, before any task is cut. */
int tiler_tiff_tiles_fit(tiler_tiff_tiles *tt, const tiler_grid *g, char *why, size_t whylen);
/* Whether the image may have transparency (the job's alpha). */
int tiler_tiff_tiles_alpha(const tiler_tiff_tiles *tt);
/* A malloc'd version 3 task for tile idx, or NULL with err: out of memory,
 * the upload unreadable, or (had the fit not checked them) a tile of the
 * directory past the end of the file or with more bytes than any encoding
 * of it takes (twice its pixels' bytes and 1 KiB). */
unsigned char *tiler_tiff_tiles_task(tiler_tiff_tiles *tt, const tiler_grid *g, uint32_t idx,
                                     const unsigned char job_id[16], const char *ops, size_t *len,
                                     char *err, size_t errlen);
void tiler_tiff_tiles_close(tiler_tiff_tiles *tt);

/* The worker's side: decodes a version 3 task's tiles into a libgd image
 * whose top left is (*ox, *oy) of the upload and which contains the
 * task's src. NULL with the reason: corrupt tiles, a TIFF that is not
 * tiled or does not cover src within the image, tiles of more than
 * TILER_TIFF_TASK_MAX_PIXELS (checked before any is decoded). */
gdImagePtr tiler_tiff_tiles_decode(const tiler_msg *task, uint32_t *ox, uint32_t *oy, char *err, size_t errlen);

#endif
