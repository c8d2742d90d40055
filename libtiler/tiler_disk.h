/* What a job will write to the spool, and whether the spool's file system
 * has room for it, checked before a job is accepted. */
#ifndef TILER_DISK_H
#define TILER_DISK_H

#include <stdint.h>
#include "tiler_image.h"

typedef struct {
    uint64_t raster;   /* 1, 3 or 4 bytes a pixel (tiler_raster.h), written as results come in */
    uint64_t result;   /* an estimate: see tiler_disk_estimate */
    uint64_t total;
} tiler_disk_need;

/* The raster of raster_bytes a pixel (its packing, or the most it can
 * be) is exact; the result is bounded for PNG (samples that deflate cannot
 * squeeze, as for noise, a filter byte a row, deflate's and the chunks'
 * framing) and estimated at a byte a pixel for JPEG: above what
 * photographs give, far above a flat image's. */
void tiler_disk_estimate(uint32_t w, uint32_t h, tiler_format out, int raster_bytes, tiler_disk_need *need);
/* A TIFF job in tiles of side pixels has no raster: `raster` is then its
 * tile index (16 bytes a tile), and the result is bounded by its padded
 * tiles at 4 samples a pixel that deflate cannot squeeze (or a JPEG
 * tile's bound, for small tiles where it is larger), plus the directory
 * (16 bytes a tile). */
void tiler_disk_estimate_tiff(uint32_t w, uint32_t h, uint32_t side, int jpeg, tiler_disk_need *need);

/* A PNG job whose workers deflate its rows (tiler_png_tile.h) has no
 * raster either: `raster` is then its tiles file and index, bounded by
 * its tiles' payloads (each row's table entry and piece at its bound) at 4
 * samples a pixel that deflate cannot squeeze
 * (they are freed as their strips are joined, which take as much again),
 * and the result as for any PNG. */
void tiler_disk_estimate_png_tiles(uint32_t w, uint32_t h, uint32_t side, tiler_disk_need *need);

/* Bytes an unprivileged user may still write on path's file system (statvfs
 * f_bavail). 0, or -1 with err. */
int tiler_disk_free(const char *path, uint64_t *bytes, char *err, size_t errlen);

#endif
