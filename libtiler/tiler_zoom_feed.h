/* A zoom pyramid (tiler_pyramid.h) built while a job's result is
 * assembled, from the job's own tiles: each strip (a row of the job's
 * tiles) is read from the job's raster, where the results consumer placed
 * the workers' tiles, as soon as every tile of it is in, and fed to the
 * pyramid in order; or, for a TIFF result, the workers' Deflate tiles are
 * read from the tiles file being assembled and inflated. The result file
 * is not read back.
 *
 * Strips complete out of order, and the result's encoder frees a strip's
 * raster rows once it has encoded them. So the feed also says when rows
 * may be freed: a strip encoded before it is fed keeps its rows until it
 * is. The raster is held open, so the job's finish may unlink it while
 * the last strips are fed.
 *
 * Each row goes to the pyramid as a PNG result of the colour type holds
 * it (tiler_png.h: alpha dropped when the result has none), so the
 * pyramid is the one the result file would give.
 *
 * Locking: the bookkeeping calls (ready, next, encoded, fed, complete) are
 * the caller's to serialise, under one mutex; tiler_zoom_feed_strip, the
 * slow call, runs outside it, on one thread at a time per feed. */
#ifndef TILER_ZOOM_FEED_H
#define TILER_ZOOM_FEED_H

#include <stddef.h>
#include <stdint.h>

typedef struct tiler_zoom_feed tiler_zoom_feed;

/* Opens the w x h raster (held open until close) and begins the pyramid in
 * dir (an existing, empty directory), for strips of strip_rows rows
 * (the last one shorter), result colour type color (tiler_png.h), tiles at
 * zlib level zlevel. NULL with err; *full set when the disk is full. */
tiler_zoom_feed *tiler_zoom_feed_open(const char *raster, const char *dir, uint32_t w, uint32_t h, uint32_t strip_rows,
                                      int color, int zlevel, int *full, char *err, size_t errlen);
/* A result assembled from the workers' tiles instead: a TIFF's
 * (format=tiff, Deflate: tiler_tiff_out.h), or with png_rows a PNG's whose
 * workers deflated its rows (tiler_png_tile.h). Its tiles file and tile
 * index (both held open: the finish renames the one and unlinks the
 * other), tiles of side pixels and samples a pixel; a strip is a row of
 * tiles, each read from the index and inflated when the strip is fed. */
tiler_zoom_feed *tiler_zoom_feed_open_tiles(const char *tiles, const char *index, const char *dir, uint32_t w, uint32_t h,
                                            uint32_t side, int samples, int png_rows, int zlevel, int *full, char *err,
                                            size_t errlen);
uint32_t tiler_zoom_feed_strips(const tiler_zoom_feed *f);

/* Bookkeeping (the caller locks). */
/* Every tile of strip k is placed; k >= strips marks them all. */
void tiler_zoom_feed_ready(tiler_zoom_feed *f, uint32_t k);
/* 1 with *k, the next strip to feed, when it is ready; 0 when it is not
 * yet, or every strip is fed. */
int tiler_zoom_feed_next(const tiler_zoom_feed *f, uint32_t *k);
/* Strip k is encoded: 1 when its rows may be freed now (fed already); 0
 * when they must stay until it is fed (tiler_zoom_feed_fed then says). */
int tiler_zoom_feed_encoded(tiler_zoom_feed *f, uint32_t k);
/* Strip k (from next) was fed: 1 when its rows may be freed now (it was
 * encoded meanwhile). */
int tiler_zoom_feed_fed(tiler_zoom_feed *f, uint32_t k);
/* 1 when strip k was encoded and is not fed yet: its rows are held for
 * the feed (to be freed by whoever gives the feed up). */
int tiler_zoom_feed_held(const tiler_zoom_feed *f, uint32_t k);
/* How many strips are held so. */
uint32_t tiler_zoom_feed_held_strips(const tiler_zoom_feed *f);
/* Bytes a pixel of what a held strip keeps on disk: its raster's layout
 * (tiler_raster.h), or the tiles' samples a pixel (about what they take
 * deflated, at worst). */
int tiler_zoom_feed_held_pixel_bytes(const tiler_zoom_feed *f);
/* 1 when every strip is fed. */
int tiler_zoom_feed_complete(const tiler_zoom_feed *f);

/* Feeds strip k (from next) to the pyramid. It stops within a row when
 * *cancel (may be NULL) becomes non-zero. 0, -1 with err, -2 when the disk
 * is full, -3 when cancelled. */
int tiler_zoom_feed_strip(tiler_zoom_feed *f, uint32_t k, const volatile int *cancel, char *err, size_t errlen);
/* After the last strip: writes the descriptor. 0, -1 or -2. */
int tiler_zoom_feed_end(tiler_zoom_feed *f, char *err, size_t errlen);
/* Closes the raster and frees f; a pyramid not ended is left as it is, for
 * the caller to remove. */
void tiler_zoom_feed_close(tiler_zoom_feed *f);
/* The heap a feed holds for a w-wide image: the pyramid's (and its
 * strip bookkeeping, a byte a strip); while feeding a strip, also a chunk
 * of raster rows (tiler_strip_chunk_rows) and one row of samples. */
size_t tiler_zoom_feed_work_bytes(uint32_t w, int feeding);
/* The same for a result fed from tiles: while feeding, a row of tiles
 * decoded (ceil(w / side) x side^2 x samples), one tile's compressed bytes
 * at most (and a PNG tile's row as it inflates), and a row in samples and
 * in gd ints. */
size_t tiler_zoom_feed_tiff_work_bytes(uint32_t w, uint32_t side, int samples, int feeding);

#endif
