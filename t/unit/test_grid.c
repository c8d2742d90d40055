#include <stdlib.h>
#include "tap.h"
#include "tiler_grid.h"

/* Every pixel belongs to exactly one core; src = core grown by the halo,
 * clipped to the image. */
static int check(uint32_t w, uint32_t h, uint32_t ts, uint32_t halo)
{
    tiler_grid g;
    uint32_t i, x, y;
    unsigned char *seen = calloc((size_t)w * h, 1);
    int good = 1;
    tiler_grid_init(&g, w, h, ts, halo);
    for (i = 0; i < tiler_grid_count(&g); i++) {
        tiler_rect c, s;
        tiler_grid_tile(&g, i, &c, &s);
        if (c.w == 0 || c.h == 0 || c.w > ts || c.h > ts) good = 0;
        for (y = c.y; y < c.y + c.h; y++)
            for (x = c.x; x < c.x + c.w; x++) seen[(size_t)y * w + x]++;
        if (s.x != (c.x > halo ? c.x - halo : 0) || s.y != (c.y > halo ? c.y - halo : 0)) good = 0;
        if (s.x + s.w != (c.x + c.w + halo < w ? c.x + c.w + halo : w)) good = 0;
        if (s.y + s.h != (c.y + c.h + halo < h ? c.y + c.h + halo : h)) good = 0;
    }
    for (i = 0; i < w * h; i++) if (seen[i] != 1) good = 0;
    free(seen);
    return good;
}

int main(void)
{
    tiler_grid g;
    tiler_rect c, s;
    ok(tiler_grid_init(&g, 1000, 700, 512, 9) == 0 && g.cols == 2 && g.rows == 2, "1000x700 in 512 tiles is 2x2");
    tiler_grid_tile(&g, 3, &c, &s);
    ok(c.x == 512 && c.y == 512 && c.w == 488 && c.h == 188, "last tile is smaller");
    ok(s.x == 503 && s.y == 503 && s.w == 497 && s.h == 197, "its halo is clipped at the image edge");
    ok(check(1000, 700, 512, 9), "1000x700/512 halo 9 partitions");
    ok(check(513, 511, 512, 0), "odd sizes, no halo");
    ok(check(100, 80, 512, 20), "image smaller than one tile");
    ok(tiler_grid_init(&g, 100, 80, 512, 20) == 0 && tiler_grid_count(&g) == 1, "...is one tile");
    ok(check(1, 999, 64, 30), "1-pixel-wide image");
    ok(check(999, 1, 64, 30), "1-pixel-high image");
    ok(check(1, 1, 16, 192), "1x1 image with a large halo");
    ok(check(37, 53, 16, 100), "halo wider than the tile");
    ok(tiler_grid_init(&g, 0, 10, 16, 0) < 0, "zero width refused");
    tiler_grid_init(&g, 4000, 4000, 512, 10);
    ok(tiler_grid_max_src_bytes(&g) == 532ull * 532 * 4, "max source bytes");
    return done_testing();
}
