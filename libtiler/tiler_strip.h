/* A row of tiles of a job's raster encoded as its strip file (PNG or
 * JPEG, see tiler_png.h and tiler_jpeg_out.h) in bounded memory: the
 * raster is read tiler_strip_chunk_rows() rows at a time and the encoded
 * bytes go straight to the file, so an encoder thread holds at most
 * TILER_STRIP_CHUNK_BYTES of pixels (one row when wider) and its encoder's row
 * buffers, never the strip (a row of tiles is 4 x width x tile bytes, its
 * deflated copy up to as much again). */
#ifndef TILER_STRIP_H
#define TILER_STRIP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t width, height;    /* the image's */
    uint32_t top, n;           /* the strip's rows */
    int jpeg;                  /* a JPEG strip (quality), else PNG (color, level) */
    int quality;
    int color, level;
} tiler_strip_spec;

/* Encodes raster rows [top, top + n) into a file beside path and renames
 * it into place. 0 when saved; 1 when path was there once every row had
 * been read (another copy of this strip saved it first and may since have
 * freed the raster's rows: this copy's work is dropped, the file there is
 * the good one); -2 with err when the raster was removed meanwhile (its
 * job ended or went: nothing is left of this copy, and it is no failure
 * of the job's); -1 with err. */
/* Rows read at a time for a strip this wide (tiler_defaults.h). */
uint32_t tiler_strip_chunk_rows(uint32_t width);

int tiler_strip_encode_raster(const char *raster, const tiler_strip_spec *sp, const char *path, char *err, size_t errlen);

/* The PNG strip of row of tiles k of a job whose workers deflated its rows
 * (tiler_png_tile.h): the tiles' pieces read from the tiles file through
 * its index, joined into a file beside path and renamed into place, as
 * tiler_strip_encode_raster (same returns). side: the tiles'; samples:
 * the PNG's per pixel. Nothing is inflated or deflated. */
int tiler_strip_join_tiles(const char *tiles, const char *index, const tiler_strip_spec *sp, uint32_t side, int samples,
                           const char *path, char *err, size_t errlen);

/* Frees the disk under the tiles of row of tiles k (their pieces are in
 * its strip file now): 0, 1 when the file system cannot punch holes, -1
 * with err. */
int tiler_strip_release_tiles(const char *tiles, const char *index, uint32_t width, uint32_t side, uint32_t k,
                              char *err, size_t errlen);

#endif
