/* The spool: one directory per job holding the upload, the raster the
 * results are assembled into (tiler_raster.h), and the encoded result.
 * Paths are built only
 * here, and only from ids that pass tiler_id_parse. */
#ifndef TILER_SPOOL_H
#define TILER_SPOOL_H

#include <stddef.h>
#include <stdint.h>

/* A TIFF job (format=tiff) has no raster: TILES is its result being
 * assembled (tiler_tiff_out.h) and TILE_INDEX where each tile lies in it. */
typedef enum { TILER_SPOOL_DIR, TILER_SPOOL_INPUT, TILER_SPOOL_RASTER, TILER_SPOOL_RESULT,
               TILER_SPOOL_RESULT_TMP,
               /* The zoom pyramid (tiler_pyramid.h): built in ZOOM_TMP, renamed
                * to ZOOM when complete; ZOOM_FAILED notes that it could not be
                * built; ZOOM_LOCK is held by its builder. */
               TILER_SPOOL_ZOOM, TILER_SPOOL_ZOOM_TMP, TILER_SPOOL_ZOOM_DZI, TILER_SPOOL_ZOOM_FAILED,
               TILER_SPOOL_ZOOM_LOCK,
               /* A format=tiff job's tile data and its (offset, length) index. */
               TILER_SPOOL_TILES, TILER_SPOOL_TILE_INDEX } tiler_spool_file;

/* 0, or -1 when the id is not a valid job id or the path does not fit. */
int tiler_spool_path(char *buf, size_t len, const char *spool, const char *id, tiler_spool_file which);

/* The cached thumbnail of at most side pixels (16..4096). 0 or -1. */
int tiler_spool_thumb_path(char *buf, size_t len, const char *spool, const char *id, int side);

/* A tile of the job's finished zoom pyramid. 0 or -1. */
int tiler_spool_zoom_tile_path(char *buf, size_t len, const char *spool, const char *id, unsigned level,
                               uint32_t col, uint32_t row);
/* Removes the job's zoom pyramid, finished or half-built, and its failure
 * note. 0 or -1. */
int tiler_spool_zoom_remove(const char *spool, const char *id, int tmp_only);

/* Strip k of the result's PNG stream (tiler_png.h), one per row of tiles
 * (more than 65536 with small tiles on a tall image). 0 or -1. */
int tiler_spool_strip_path(char *buf, size_t len, const char *spool, const char *id, uint32_t k);
/* Frees the whole blocks of bytes [from, to) of the file open as fd
 * (punch-hole; a partial block at either end stays). 0, 1 when the file
 * system cannot, or -errno. */
int tiler_spool_punch(int fd, uint64_t from, uint64_t to);
/* Removes what a job needs only while it runs: upload, raster, PNG strips,
 * a half-written result, a TIFF's tiles and index. The result and thumbnails stay. 0 or -1. */
int tiler_spool_drop_work(const char *spool, const char *id);

/* Removes a job's directory and its files. */
int tiler_spool_remove(const char *spool, const char *id);

#endif
