/* The band window: decoding into it in any chunking the band allows, every
 * tile is cut with every row it needs, byte for byte what cutting it from
 * the whole image gives, at every tile size and halo, for the last band and
 * for images shorter than one band; each tile row comes once, in order; the
 * band never holds more than tile + 2 x halo rows. */
#include <stdlib.h>
#include <string.h>
#include "tap.h"
#include "testimg.h"
#include "tiler_band.h"
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
        unsigned char *a = tiler_tile_task_band(b, &c->g, i, id, "blur:1", &la);
        unsigned char *w = tiler_tile_task(c->whole, &c->g, i, id, "blur:1", &lb);
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
    return done_testing();
}
