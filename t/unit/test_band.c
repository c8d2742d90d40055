/* The band window: decoding into it in any chunking the band allows, every
 * tile is cut with every row it needs, byte for byte what cutting it from
 * the whole image gives, at every tile size and halo, for the last band and
 * for images shorter than one band; each tile row comes once, in order; the
 * band never holds more than tile + 2 x halo rows. The same for a grid of a
 * chain that moves pixels (tiler_band_init_grid), whose rows are the
 * upload's rows of source cells, the first shorter by shift_y. */
#include <stdlib.h>
#include <string.h>
#include "tap.h"
#include "testimg.h"
#include "tiler_band.h"
#include "tiler_grid_chain.h"
#include "tiler_tile.h"

typedef struct {
    gdImagePtr whole;
    tiler_grid g;
    uint32_t rows_seen, tiles, bad;
} cutter;

static const unsigned char id[16] = { 7 };

static int on_tile_row(void *ctx, const tiler_band *b, uint32_t tile_row, char *err, size_t errlen)
{
    cutter *c = ctx;
    uint32_t col;
    (void)err; (void)errlen;
    if (tile_row != c->rows_seen) c->bad++;
    c->rows_seen++;
    for (col = 0; col < c->g.cols; col++) {
        uint32_t i = tile_row * c->g.cols + col;
        size_t la, lb;
        unsigned char *a = tiler_tile_task_band(b, &c->g, i, id, "blur:1", 0, &la);
        unsigned char *w = tiler_tile_task(c->whole, &c->g, i, id, "blur:1", 0, &lb);
        if (!a || la != lb || memcmp(a, w, la)) c->bad++;
        free(a);
        free(w);
        /* Packed, with the grey made as the tile is cut (tiler_tile.h). */
        a = tiler_tile_task_band(b, &c->g, i, id, "grayscale,blur:1", 1, &la);
        w = tiler_tile_task(c->whole, &c->g, i, id, "grayscale,blur:1", 1, &lb);
        if (!a || la != lb || memcmp(a, w, la)) c->bad++;
        free(a);
        free(w);
        c->tiles++;
    }
    return 0;
}

/* Feeds the image in chunks of 1..room rows (chunk picks how), like the
 * decoders do. */
static int run(uint32_t w, uint32_t h, uint32_t tile, uint32_t halo, uint32_t seed)
{
    gdImagePtr src = testimg_make((int)w, (int)h, 1, seed);
    cutter c;
    tiler_band b;
    char err[128];
    uint32_t s = seed | 1, y;
    int good;
    memset(&c, 0, sizeof(c));
    c.whole = src;
    tiler_grid_init(&c.g, w, h, tile, halo);
    tiler_band_init(&b, tile, halo, 0, on_tile_row, &c);
    if (tiler_band_start(&b, w, h, 1, err, sizeof(err)) < 0) return 0;
    while (b.filled < h) {
        uint32_t room = tiler_band_room(&b), n, first = b.filled;
        s = s * 1664525u + 1013904223u;
        n = room ? 1 + (s >> 8) % room : 0;
        if (!n) { c.bad++; break; }
        for (y = first; y < first + n; y++) {
            int *row = tiler_band_row(&b, y);
            if (!row) { c.bad++; break; }
            memcpy(row, src->tpixels[y], w * sizeof(int));
        }
        if (tiler_band_row(&b, first + room)) c.bad++;   /* past the room is refused */
        tiler_band_done(&b, first + n, err, sizeof(err));
    }
    good = c.bad == 0 && c.rows_seen == c.g.rows && c.tiles == tiler_grid_count(&c.g)
        && b.cap <= tile + 2 * halo && b.cap <= h && tiler_band_room(&b) == 0;
    if (!good)
        printf("# %ux%u tile %u halo %u: %u bad, %u of %u tile rows, %u of %u tiles, %u rows held\n", w, h, tile, halo,
               c.bad, c.rows_seen, c.g.rows, c.tiles, tiler_grid_count(&c.g), b.cap);
    tiler_band_free(&b);
    gdImageDestroy(src);
    return good;
}


/* A band for a chain that moves pixels: its rows of tiles are the upload's
 * rows of source cells (the first shorter by shift_y). */
typedef struct {
    gdImagePtr whole;
    tiler_grid g;
    const char *ops;
    uint32_t rows_seen, tiles, bad, unreadable;
    unsigned char *cut;   /* per result tile: times cut */
} gcutter;

static int on_cell_row(void *ctx, const tiler_band *b, uint32_t cell_row, char *err, size_t errlen)
{
    gcutter *c = ctx;
    uint32_t col, y;
    (void)err; (void)errlen;
    if (cell_row != c->rows_seen) c->bad++;
    c->rows_seen++;
    for (col = 0; col < c->g.src_cols; col++) {
        uint32_t i = tiler_grid_at_source(&c->g, col, cell_row);
        tiler_rect core, src;
        size_t la, lb;
        unsigned char *a, *w;
        if (i >= tiler_grid_count(&c->g)) { c->bad++; continue; }
        c->cut[i]++;
        tiler_grid_tile(&c->g, i, &core, &src);
        for (y = src.y; y < src.y + src.h; y++) c->unreadable += !tiler_band_get(b, y);
        a = tiler_tile_task_band(b, &c->g, i, id, c->ops, 1, &la);
        w = tiler_tile_task(c->whole, &c->g, i, id, c->ops, 1, &lb);
        if (!a || !w || la != lb || memcmp(a, w, la)) c->bad++;
        free(a);
        free(w);
        c->tiles++;
    }
    return 0;
}

static int run_grid(const char *ops, uint32_t w, uint32_t h, uint32_t tile, uint32_t seed, uint32_t *shift_y)
{
    gdImagePtr src = testimg_make((int)w, (int)h, 1, seed);
    gcutter c;
    tiler_band b;
    tiler_chain chain;
    tiler_geom geom;
    char err[256];
    uint32_t s = seed | 1, y, i, once = 1;
    int good;
    memset(&c, 0, sizeof(c));
    c.whole = src;
    c.ops = ops;
    if (tiler_chain_parse(&chain, ops, TILER_MAX_OPS, err, sizeof(err)) < 0
        || tiler_grid_init_chain(&c.g, &geom, w, h, tile, &chain) < 0) {
        printf("# %s: %s\n", ops, err);
        return 0;
    }
    *shift_y = c.g.shift_y;
    c.cut = calloc(tiler_grid_count(&c.g), 1);
    tiler_band_init_grid(&b, &c.g, on_cell_row, &c);
    if (tiler_band_start(&b, w, h, 1, err, sizeof(err)) < 0) return 0;
    while (b.filled < h) {
        uint32_t room = tiler_band_room(&b), n, first = b.filled;
        s = s * 1664525u + 1013904223u;
        n = room ? 1 + (s >> 8) % room : 0;
        if (!n) { c.bad++; break; }
        for (y = first; y < first + n; y++) {
            int *row = tiler_band_row(&b, y);
            if (!row) { c.bad++; break; }
            memcpy(row, src->tpixels[y], w * sizeof(int));
        }
        tiler_band_done(&b, first + n, err, sizeof(err));
    }
    for (i = 0; i < tiler_grid_count(&c.g); i++) once &= c.cut[i] == 1;
    good = c.bad == 0 && c.unreadable == 0 && once && c.rows_seen == c.g.src_rows && c.tiles == tiler_grid_count(&c.g)
        && b.cap <= c.g.src_tile + 2 * c.g.halo && b.cap <= h && tiler_band_room(&b) == 0;
    if (!good)
        printf("# %s %ux%u tile %u (cells %u, shift %u, halo %u): %u bad, %u rows unreadable, %s, %u of %u cell rows, "
               "%u of %u tiles, %u rows held\n", ops, w, h, tile, c.g.src_tile, c.g.shift_y, c.g.halo, c.bad, c.unreadable,
               once ? "each tile once" : "a tile not once", c.rows_seen, c.g.src_rows, c.tiles, tiler_grid_count(&c.g), b.cap);
    tiler_band_free(&b);
    free(c.cut);
    gdImageDestroy(src);
    return good;
}

static void geometry(void)
{
    static const char *const ops[] = { "flip:v", "flip:h", "rotate:90", "rotate:180", "rotate:270", "downscale:2", "downscale:8",
                                       "flip:v,blur:2", "blur:1,rotate:90,downscale:2", "downscale:2,flip:v,downscale:4,edges",
                                       "rotate:270,sharpen:1:2,flip:v", "edges,downscale:4,blur:1,rotate:180", NULL };
    static const uint32_t tiles[] = { 1, 3, 16 };
    static const uint32_t heights[] = { 1, 5, 17, 63, 100 };
    static const uint32_t widths[] = { 1, 7, 37 };
    size_t o, t, hh, ww;
    for (o = 0; ops[o]; o++) {
        uint32_t failures = 0, cases = 0, shifted = 0, sy;
        for (t = 0; t < sizeof(tiles) / sizeof(tiles[0]); t++)
            for (hh = 0; hh < sizeof(heights) / sizeof(heights[0]); hh++)
                for (ww = 0; ww < sizeof(widths) / sizeof(widths[0]); ww++) {
                    cases++;
                    failures += !run_grid(ops[o], widths[ww], heights[hh], tiles[t], (uint32_t)(cases * 104729), &sy);
                    shifted += sy != 0;
                }
        ok(failures == 0, "%s: %u of %u shapes: a call per row of cells in order, every source row readable then, each tile "
           "cut once and equal to the whole image's, at most a cell + 2 halo rows held (%u with shift_y)", ops[o],
           cases - failures, cases, shifted);
    }
    /* The case of the brief by hand: flip:v on 5 rows in tiles of 3 has
     * cells of rows [0,2) and [2,5), the first row of cells being tile row 1. */
    {
        uint32_t sy = 0;
        ok(run_grid("flip:v", 7, 5, 3, 5, &sy) && sy == 1, "flip:v 7x5 in tiles of 3: shift_y 1, bands right");
    }
}

int main(void)
{
    static const uint32_t tiles[] = { 1, 2, 3, 16, 31, 64 };
    static const uint32_t halos[] = { 0, 1, 2, 5, 16, 40, 100 };
    static const uint32_t heights[] = { 1, 2, 5, 16, 17, 63, 100, 257 };
    static const uint32_t widths[] = { 1, 7, 37 };
    size_t t, k, hh, ww;
    uint32_t failures = 0, cases = 0;
    tiler_band b;
    char err[128];
    gdImagePtr src, back;
    int same = 1, x, y;

    for (t = 0; t < sizeof(tiles) / sizeof(tiles[0]); t++)
        for (k = 0; k < sizeof(halos) / sizeof(halos[0]); k++)
            for (hh = 0; hh < sizeof(heights) / sizeof(heights[0]); hh++)
                for (ww = 0; ww < sizeof(widths) / sizeof(widths[0]); ww++) {
                    cases++;
                    failures += !run(widths[ww], heights[hh], tiles[t], halos[k], (uint32_t)(cases * 7919));
                }
    ok(failures == 0, "%u of %u shapes: every tile cut from the band equals the whole image's", cases - failures, cases);

    /* Memory: the rows held depend on the tile and halo, never the height. */
    ok(tiler_band_rows_held(1000000, 512, 9) == 530 && tiler_band_rows_held(100, 512, 9) == 100,
       "a band holds tile + 2 halo rows, or the whole image when it is shorter");
    ok(tiler_band_bytes(25000, 25000, 512, 9) == 25000ull * 530 * 4 && tiler_band_bytes(25000, 1u << 20, 512, 9) == 25000ull * 530 * 4,
       "a band's bytes grow with the width, not the height");

    /* A row no longer held, or not yet final, is not handed out. */
    tiler_band_init(&b, 4, 1, 0, NULL, NULL);
    tiler_band_start(&b, 3, 40, 0, err, sizeof(err));
    while (b.filled < 40) {
        uint32_t n = tiler_band_room(&b), y0 = b.filled;
        for (y = 0; y < (int)n; y++) memset(tiler_band_row(&b, y0 + (uint32_t)y), 0, 3 * sizeof(int));
        tiler_band_done(&b, y0 + n, err, sizeof(err));
    }
    ok(!tiler_band_get(&b, 0) && tiler_band_get(&b, 39) && !tiler_band_get(&b, 40) && b.cap == 6,
       "rows above the window and below the final ones are refused");
    tiler_band_free(&b);

    /* A callback that stops ends it with its error. */
    tiler_band_init(&b, 4, 0, 0, NULL, NULL);
    ok(tiler_band_start(&b, 3, 0, 0, err, sizeof(err)) < 0, "a zero height is refused");
    tiler_band_free(&b);

    /* Whole mode keeps every row, in a libgd image of its own. */
    src = testimg_make(50, 70, 1, 3);
    tiler_band_init(&b, 16, 2, 1, NULL, NULL);
    ok(tiler_band_feed_image(&b, gdImageClone(src), err, sizeof(err)) == 0 && b.alpha, "whole mode adopts an image, alpha seen");
    back = tiler_band_take_image(&b);
    for (y = 0; back && y < 70; y++)
        for (x = 0; x < 50; x++) same &= back->tpixels[y][x] == src->tpixels[y][x];
    ok(back && same, "whole mode gives the image back");
    tiler_band_free(&b);
    if (back) gdImageDestroy(back);

    /* A ring band fed a whole image cuts the same tiles. */
    {
        cutter c;
        memset(&c, 0, sizeof(c));
        c.whole = src;
        tiler_grid_init(&c.g, 50, 70, 16, 3);
        tiler_band_init(&b, 16, 3, 0, on_tile_row, &c);
        ok(tiler_band_feed_image(&b, gdImageClone(src), err, sizeof(err)) == 0 && c.bad == 0
           && c.tiles == tiler_grid_count(&c.g) && b.cap == 22,
           "a whole image fed to a ring band: every tile right, 22 rows held");
        tiler_band_free(&b);
    }
    gdImageDestroy(src);
    geometry();
    return done_testing();
}
