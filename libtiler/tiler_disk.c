#include "tiler_disk.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include "tiler_png_tile.h"
#include "tiler_tiff_jpeg.h"

void tiler_disk_estimate(uint32_t w, uint32_t h, tiler_format out, int raster_bytes, tiler_disk_need *need)
{
    uint64_t px = (uint64_t)w * h;
    need->raster = px * (uint64_t)raster_bytes;
    /* A PNG: its samples and a filter byte a row; two bytes a row more for
     * its strips (each at least 16 rows: about 10 bytes of deflate's sync
     * flush and a 16-byte head, on disk beside the result while they are
     * joined); and deflate's stored blocks and the chunks' framing, well
     * under a thousandth. */
    uint64_t raw = px * (uint64_t)raster_bytes + h;
    need->result = out == TILER_FMT_JPEG ? px : raw + 2ull * h + raw / 1000 + 1024;
    need->total = need->raster + need->result;
}

void tiler_disk_estimate_tiff(uint32_t w, uint32_t h, uint32_t side, int jpeg, tiler_disk_need *need)
{
    uint64_t tiles = (uint64_t)((w + side - 1) / side) * ((h + side - 1) / side);
    /* zlib's bound for a stored stream: 5 bytes a 16 KiB block, and 6 more;
     * or, for JPEG tiles, their bound (on small tiles, larger: 2 KiB of
     * markers). */
    uint64_t raw = (uint64_t)side * side * 4, tile = raw + (raw >> 12) + (raw >> 14) + (raw >> 25) + 13;
    if (jpeg) tile = tiler_tiff_jpeg_max_bytes(side, 3);
    need->raster = tiles * 16;
    need->result = tiles * (tile + 16) + 16;
    need->total = need->raster + need->result;
}

void tiler_disk_estimate_png_tiles(uint32_t w, uint32_t h, uint32_t side, tiler_disk_need *need)
{
    uint64_t cols = (w + side - 1) / side, tiles = cols * ((h + side - 1) / side), row = 0;
    uint32_t x;
    /* Every image row is in one tile of each column: a table entry and a
     * piece at its bound (RGBA, the leftmost with the filter byte). */
    for (x = 0; x < w; x += side) {
        uint32_t cw = w - x < side ? w - x : side;
        row += 8 + tiler_png_tile_piece_max(tiler_png_tile_piece_raw(cw, 4, x == 0));
    }
    need->raster = row * h + tiles * 16;
    need->result = (uint64_t)w * h * 4;
    need->total = need->raster + need->result;
}

int tiler_disk_free(const char *path, uint64_t *bytes, char *err, size_t errlen)
{
    struct statvfs v;
    if (statvfs(path, &v) < 0) {
        snprintf(err, errlen, "cannot read the free space of %s: %s", path, strerror(errno));
        return -1;
    }
    *bytes = (uint64_t)v.f_bavail * v.f_frsize;
    return 0;
}
