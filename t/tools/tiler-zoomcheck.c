/* tiler-zoomcheck RESULT LEVEL DIR: compares the tiles COL_ROW.png in DIR
 * (level LEVEL of a zoom pyramid, as served) with that level computed by
 * the definition from the image RESULT (t/unit/zoomref.h): every tile
 * there, of the right size, every pixel equal. Exit 0 and "identical: N
 * tiles", 1 with the first difference, 2 on an error. For test-sized
 * images: RESULT is held whole. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tiler_image.h"
#include "tiler_pyramid.h"
#include "../unit/zoomref.h"

int main(int argc, char **argv)
{
    tiler_format fmt;
    uint32_t w, h, lw, lh, x, y, col, row, tiles = 0;
    unsigned level, l;
    char err[512], path[4096];
    gdImagePtr im;
    int *px;
    FILE *f;

    if (argc != 4) { fprintf(stderr, "usage: tiler-zoomcheck RESULT LEVEL DIR\n"); return 2; }
    level = (unsigned)atoi(argv[2]);
    if (!(f = fopen(argv[1], "rb")) || tiler_probe_file(f, &fmt, &w, &h, err, sizeof(err)) < 0) {
        fprintf(stderr, "tiler-zoomcheck: %s: cannot read\n", argv[1]);
        return 2;
    }
    fclose(f);
    if (!(im = tiler_image_load(argv[1], fmt, err, sizeof(err)))) { fprintf(stderr, "tiler-zoomcheck: %s\n", err); return 2; }
    if (level > tiler_pyramid_max_level(w, h)) { fprintf(stderr, "tiler-zoomcheck: no level %u\n", level); return 2; }
    px = malloc((size_t)w * h * sizeof(int));
    for (y = 0; y < h; y++) memcpy(px + (size_t)y * w, im->tpixels[y], (size_t)w * sizeof(int));
    gdImageDestroy(im);
    lw = w; lh = h;
    for (l = tiler_pyramid_max_level(w, h); l > level; l--) {
        int *down = zoomref_down(px, lw, lh, &lw, &lh);
        free(px);
        px = down;
    }
    for (row = 0; row * 256 < lh; row++)
        for (col = 0; col * 256 < lw; col++) {
            uint32_t tw = lw - col * 256 < 256 ? lw - col * 256 : 256, th = lh - row * 256 < 256 ? lh - row * 256 : 256;
            gdImagePtr t = NULL;
            snprintf(path, sizeof(path), "%s/%u_%u.png", argv[3], col, row);
            if ((f = fopen(path, "rb"))) { t = gdImageCreateFromPng(f); fclose(f); }
            if (!t || (uint32_t)gdImageSX(t) != tw || (uint32_t)gdImageSY(t) != th) {
                printf("tile %u_%u of level %u: missing or not %ux%u\n", col, row, level, tw, th);
                return 1;
            }
            for (y = 0; y < th; y++)
                for (x = 0; x < tw; x++) {
                    int want = px[(size_t)(row * 256 + y) * lw + col * 256 + x], got = t->tpixels[y][x];
                    if (got != want) {
                        printf("level %u pixel (%u, %u): 0x%08x, the reference 0x%08x\n", level, col * 256 + x, row * 256 + y,
                               (unsigned)got, (unsigned)want);
                        return 1;
                    }
                }
            gdImageDestroy(t);
            tiles++;
        }
    printf("identical: %u tiles of level %u (%ux%u)\n", tiles, level, lw, lh);
    free(px);
    return 0;
}
