#include <stdio.h>
#include <stdlib.h>
#include "tap.h"
#include "tiler_grid.h"
#include "tiler_grid_chain.h"

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


/* A grid of a chain that moves pixels, against what the band and the
 * assembly rely on: the upload's cells (src_tile wide, the first shorter by
 * the shift) map one to one onto the result's tiles; a tile's core moved
 * back without context is exactly its cell; its source with context is the
 * cell grown by the halo, clipped to the upload; max_src_bytes bounds every
 * source; the cores partition the result. Says what broke on stdout. */
static int check_chain(const char *ops, uint32_t w, uint32_t h, uint32_t ts)
{
    tiler_chain chain;
    tiler_geom geom;
    tiler_grid g;
    char err[256];
    uint32_t col, row, i, n, x, y;
    unsigned char *hits, *seen;
    int good = 1;
    if (tiler_chain_parse(&chain, ops, TILER_MAX_OPS, err, sizeof(err)) < 0 || tiler_grid_init_chain(&g, &geom, w, h, ts, &chain) < 0) {
        printf("# %s: %s\n", ops, err);
        return 0;
    }
    n = tiler_grid_count(&g);
    hits = calloc(n, 1);
    seen = calloc((size_t)g.width * g.height, 1);
    if (g.src_w != w || g.src_h != h || g.src_tile != ts * tiler_chain_scale(&chain) || g.shift_x >= g.src_tile
        || g.shift_y >= g.src_tile || (uint64_t)g.src_cols * g.src_rows != n) {
        printf("# %s %ux%u/%u: src %ux%u cell %u shift %u,%u, %ux%u cells for %u tiles\n", ops, w, h, ts, g.src_w, g.src_h,
               g.src_tile, g.shift_x, g.shift_y, g.src_cols, g.src_rows, n);
        good = 0;
    }
    for (row = 0; good && row < g.src_rows; row++)
        for (col = 0; good && col < g.src_cols; col++) {
            /* The cell, from the grid's definition. */
            uint64_t cx = col ? (uint64_t)col * g.src_tile - g.shift_x : 0, cy = row ? (uint64_t)row * g.src_tile - g.shift_y : 0;
            uint64_t cx1 = (uint64_t)(col + 1) * g.src_tile - g.shift_x, cy1 = (uint64_t)(row + 1) * g.src_tile - g.shift_y;
            uint64_t gx, gy, gx1, gy1;
            tiler_rect core, src, rects[TILER_MAX_OPS + 1];
            if (cx1 > w) cx1 = w;
            if (cy1 > h) cy1 = h;
            i = tiler_grid_at_source(&g, col, row);
            if (i >= n || hits[i]++ || cx >= cx1 || cy >= cy1) {
                printf("# %s %ux%u/%u: cell %u,%u gives tile %u of %u (%s)\n", ops, w, h, ts, col, row, i, n,
                       i < n && hits[i] > 1 ? "twice" : "bad");
                good = 0;
                break;
            }
            tiler_grid_tile(&g, i, &core, &src);
            tiler_geom_back(&geom, &core, 0, rects);
            if (rects[0].x != cx || rects[0].y != cy || rects[0].x + rects[0].w != cx1 || rects[0].y + rects[0].h != cy1) {
                printf("# %s %ux%u/%u: cell %u,%u is [%llu,%llu)x[%llu,%llu), tile %u's core comes from %u,%u %ux%u\n", ops, w, h,
                       ts, col, row, (unsigned long long)cx, (unsigned long long)cx1, (unsigned long long)cy,
                       (unsigned long long)cy1, i, rects[0].x, rects[0].y, rects[0].w, rects[0].h);
                good = 0;
            }
            gx = cx > g.halo ? cx - g.halo : 0;
            gy = cy > g.halo ? cy - g.halo : 0;
            gx1 = cx1 + g.halo < w ? cx1 + g.halo : w;
            gy1 = cy1 + g.halo < h ? cy1 + g.halo : h;
            /* Containing it is what the worker needs; lying within it is
             * what the band holds. */
            if (src.x > gx || src.y > gy || src.x + src.w < gx1 || src.y + src.h < gy1) {
                printf("# %s %ux%u/%u: tile %u's source %u,%u %ux%u misses some of its cell grown by %u\n", ops, w, h, ts, i, src.x,
                       src.y, src.w, src.h, g.halo);
                good = 0;
            }
            if (src.x < gx || src.y < gy || src.x + src.w > gx1 || src.y + src.h > gy1) {
                printf("# %s %ux%u/%u: tile %u's source %u,%u %ux%u is wider than its cell grown by %u\n", ops, w, h, ts, i, src.x,
                       src.y, src.w, src.h, g.halo);
                good = 0;
            }
            if ((uint64_t)src.w * src.h * 4 > tiler_grid_max_src_bytes(&g)) {
                printf("# %s %ux%u/%u: tile %u's source %ux%u is over max_src_bytes %llu\n", ops, w, h, ts, i, src.w, src.h,
                       (unsigned long long)tiler_grid_max_src_bytes(&g));
                good = 0;
            }
            for (y = core.y; y < core.y + core.h; y++)
                for (x = core.x; x < core.x + core.w; x++) seen[(size_t)y * g.width + x]++;
        }
    for (i = 0; good && i < g.width * g.height; i++)
        if (seen[i] != 1) {
            printf("# %s %ux%u/%u: result pixel %u in %u cores\n", ops, w, h, ts, i, seen[i]);
            good = 0;
        }
    free(hits);
    free(seen);
    return good;
}

static void chains(void)
{
    static const char *const ops[] = { "flip:h", "flip:v", "rotate:90", "rotate:180", "rotate:270", "downscale:2", "downscale:4",
                                       "downscale:8", "flip:h,rotate:90", "rotate:90,downscale:2", "downscale:2,rotate:270",
                                       "flip:v,downscale:4,blur:1", "blur:1,downscale:2,flip:h", "downscale:2,flip:h,downscale:2",
                                       "rotate:90,blur:2,flip:v,downscale:2,edges,rotate:270", "downscale:8,downscale:8",
                                       "edges,rotate:180,downscale:4,blur:0.5", "flip:h,downscale:2,blur:1.5,flip:v,downscale:4,edges",
                                       "blur:3,flip:v", NULL };
    static const struct { uint32_t w, h; } sizes[] = { { 1, 1 }, { 1, 40 }, { 40, 1 }, { 7, 5 }, { 97, 61 }, { 131, 97 }, { 33, 200 } };
    static const uint32_t tiles[] = { 1, 3, 16, 32, 512 };
    size_t o, s, t;
    for (o = 0; ops[o]; o++) {
        int all = 1, cases = 0;
        for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
            for (t = 0; t < sizeof(tiles) / sizeof(tiles[0]); t++) {
                all &= check_chain(ops[o], sizes[s].w, sizes[s].h, tiles[t]);
                cases++;
            }
        ok(all, "%s on %d sizes and tiles: cells one to one with tiles, each core from its cell, source the cell and halo", ops[o],
           cases);
    }
    /* Where the shifts come from, by hand: flip:h on 7 wide in tiles of 3
     * puts tile 0's core on upload columns 4..6, so cells are [0,1) [1,4)
     * [4,7); rotate:90 on 5 high makes result columns of the upload's rows
     * read bottom up: 5 rows in tiles of 2 are [0,1) [1,3) [3,5). */
    {
        tiler_chain c;
        tiler_geom geom;
        tiler_grid g;
        char err[128];
        tiler_chain_parse(&c, "flip:h", TILER_MAX_OPS, err, sizeof(err));
        tiler_grid_init_chain(&g, &geom, 7, 5, 3, &c);
        ok(g.shift_x == 2 && g.shift_y == 0 && g.src_cols == 3 && g.src_rows == 2 && tiler_grid_at_source(&g, 0, 0) == 2
           && tiler_grid_at_source(&g, 2, 1) == 3, "flip:h 7x5/3: shift_x 2, 3x2 cells, the left cell is the right tile");
        tiler_chain_parse(&c, "rotate:90", TILER_MAX_OPS, err, sizeof(err));
        tiler_grid_init_chain(&g, &geom, 7, 5, 2, &c);
        ok(g.width == 5 && g.height == 7 && g.shift_x == 0 && g.shift_y == 1 && g.src_rows == 3 && g.src_cols == 4
           && tiler_grid_at_source(&g, 0, 0) == 2 && tiler_grid_at_source(&g, 0, 2) == 0,
           "rotate:90 7x5/2: result 5x7, shift_y 1, the upload's bottom-left cell is the result's first tile");
        tiler_chain_parse(&c, "downscale:4", TILER_MAX_OPS, err, sizeof(err));
        tiler_grid_init_chain(&g, &geom, 7, 5, 1, &c);
        ok(g.width == 2 && g.height == 2 && g.src_tile == 4 && g.shift_x == 0 && g.shift_y == 0 && g.src_cols == 2 && g.src_rows == 2,
           "downscale:4 7x5/1: result 2x2, cells of 4 from the top-left");
        /* A filter's value is no step param: brightness:-40's, made
         * unsigned, was undefined (fuzz_msg under UBSan). */
        tiler_chain_parse(&c, "brightness:-40,rotate:270,contrast:1.5,downscale:2", TILER_MAX_OPS, err, sizeof(err));
        tiler_geom_init(&geom, &c, 7, 5);
        ok(geom.n == 4 && geom.step[0].param == 0 && geom.step[1].param == 270 && geom.step[2].param == 0
           && geom.step[3].param == 2 && geom.out_w == 3 && geom.out_h == 4,
           "geom steps: params of the rotation and downscale only, 7x5 -> 5x7 -> 3x4");
        tiler_chain_parse(&c, "downscale:8,downscale:8,edges", TILER_MAX_OPS, err, sizeof(err));
        tiler_grid_init_chain(&g, &geom, 4000, 3000, 16, &c);
        ok(g.width == 63 && g.height == 47 && g.src_tile == 1024 && g.halo == 64
           && tiler_grid_max_src_bytes(&g) == (1024ull + 128) * (1024 + 128) * 4,
           "downscale:8,downscale:8,edges 4000x3000/16: result 63x47, cells of 1024, halo 64, max source (1024+128)^2 pixels");
    }
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
    chains();
    return done_testing();
}
