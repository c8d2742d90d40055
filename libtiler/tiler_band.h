/* The band window between a decoder and whoever cuts tiles: it holds only
 * the rows that tiles not yet cut still need, tile size + 2 x halo rows of
 * the image's width, so that an image of any height decodes in the same
 * memory. Decoders write rows top to bottom into it and say when rows are
 * final; each time every row a row of tiles needs (core and halo, clipped to
 * the image) is final, the band calls back with that tile row, and the
 * rows above what the next tile row needs are reused for the rows below.
 *
 * Row y lives in slot y % cap. A decoder may write only tiler_band_room()
 * rows past the final ones before it says they are final: that is what
 * keeps rows still needed from being overwritten.
 *
 * In whole mode the slots are the rows of one libgd image of the whole
 * picture (tiler_image_load, tools and tests), with the same callbacks. */
#ifndef TILER_BAND_H
#define TILER_BAND_H

#include <stddef.h>
#include <stdint.h>
#include <gd.h>

typedef struct tiler_band tiler_band;

/* Called once per tile row, in order, when every row it needs is final:
 * rows [tiler_band_first_row(b, tile_row), tiler_band_need(b, tile_row))
 * can be read with tiler_band_get. Non-zero stops the decoding (the
 * callback wrote why into err). */
typedef int (*tiler_band_fn)(void *ctx, const tiler_band *b, uint32_t tile_row, char *err, size_t errlen);

struct tiler_band {
    uint32_t tile_size, halo;
    uint32_t shift;          /* the first tile row is this much shorter (tiler_grid's shift_y) */
    int whole;
    tiler_band_fn fn;
    void *ctx;
    /* Known once the decoder has read the header (tiler_band_start). */
    uint32_t width, height;
    int alpha;               /* the header says the image may have transparency */
    int started;
    uint32_t cap;            /* rows held */
    uint32_t filled;         /* rows 0..filled-1 are final */
    uint32_t next;           /* next tile row to hand on */
    uint32_t tile_rows;
    int **slot;
    int *mem;                /* ring mode's rows */
    gdImagePtr im;           /* whole mode's image */
};

/* fn may be NULL. whole: keep every row in one libgd image. */
void tiler_band_init(tiler_band *b, uint32_t tile_size, uint32_t halo, int whole, tiler_band_fn fn, void *ctx);
struct tiler_grid;
/* A ring band for the rows of the grid's source cells: tile rows are the
 * upload's rows of cells (tiler_grid_at_source). */
void tiler_band_init_grid(tiler_band *b, const struct tiler_grid *g, tiler_band_fn fn, void *ctx);
/* The decoder read the header: allocates min(h, tile + 2 halo) rows (h
 * in whole mode). 0, or -1 with err (out of memory, a zero size, twice). */
int tiler_band_start(tiler_band *b, uint32_t w, uint32_t h, int alpha, char *err, size_t errlen);
/* How many rows past the final ones may be written now (0 once all are). */
uint32_t tiler_band_room(const tiler_band *b);
/* Where to write row y, filled <= y < filled + room; NULL otherwise. */
int *tiler_band_row(tiler_band *b, uint32_t y);
/* Rows 0..rows-1 are final (rows <= filled + room): calls back for every
 * tile row that now has all its rows. 0, or what the callback returned. */
int tiler_band_done(tiler_band *b, uint32_t rows, char *err, size_t errlen);
/* Row y for reading, while it is final and still held; NULL otherwise. */
const int *tiler_band_get(const tiler_band *b, uint32_t y);

/* Rows tile row r needs: from first_row (core top - halo) to need - 1;
 * tile row r's core starts at r x tile_size - shift (0 for the first). */
uint32_t tiler_band_first_row(const tiler_band *b, uint32_t r);
uint32_t tiler_band_need(const tiler_band *b, uint32_t r);

/* Whole mode, after the last row: the image (blending off, alpha saved),
 * which the caller now owns. NULL in ring mode or before the end. */
gdImagePtr tiler_band_take_image(tiler_band *b);
void tiler_band_free(tiler_band *b);

/* The tile size for a w-wide upload whose band must stay within max_bytes:
 * tile, halved while w x (tile + 2 halo) x 4 is over max_bytes, as long as
 * the half is at least TILER_MIN_TILE_SIZE and still a multiple of scale
 * (the chain's downscale); the smallest such size when none fits. */
uint32_t tiler_band_fit_tile(uint32_t w, uint32_t tile, uint32_t halo, uint32_t scale, uint64_t max_bytes);

/* The rows a ring band holds for this image and grid, and its bytes. */
uint32_t tiler_band_rows_held(uint32_t h, uint32_t tile_size, uint32_t halo);
uint64_t tiler_band_bytes(uint32_t w, uint32_t h, uint32_t tile_size, uint32_t halo);

/* Hands a whole decoded image to the band (started here, alpha from its
 * pixels), rows in the chunks the band has room for, and takes it: a whole
 * band keeps it as its own image, a ring band frees it. 0, or -1 with err
 * (the callback's stop, or out of memory). */
int tiler_band_feed_image(tiler_band *b, gdImagePtr im, char *err, size_t errlen);

#endif
