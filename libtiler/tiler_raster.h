/* A job's raster: the result's pixels, placed as the results come in, read
 * back a few rows at a time by the encoders and the zoom feed, and freed
 * on disk once encoded (tiler_spool.h has its path).
 *
 * A raster is a sparse file of width x height pixels in one of the packed
 * wire's layouts (tiler_msg.h): TILER_PACK_GREY (1 byte), TILER_PACK_RGB
 * (R, G, B) or TILER_PACK_GD (the little-endian gd value). The layout is
 * the tightest the job's result can always be held in, chosen as the job
 * begins (tiler_raster_packing); the file's size says which it is, so a
 * raster made by an earlier build (always 4 bytes a pixel) reads right. */
#ifndef TILER_RASTER_H
#define TILER_RASTER_H

#include <stddef.h>
#include <stdint.h>
#include <gd.h>
#include "tiler_image.h"
#include "tiler_msg.h"

typedef struct {
    int fd;
    uint32_t width, height;
    int packing;            /* bytes a pixel: TILER_PACK_* */
} tiler_raster;

/* The layout for a job's result: grey when its chain makes every pixel
 * grey (tiler_chain_gray), RGB when its result keeps no transparency (an
 * upload without: as the PNG result's colour type; or a JPEG result),
 * else gd values. An unparsable chain gets gd values. */
int tiler_raster_packing(const char *ops, int alpha);
/* The most it can be before the upload decodes (for the room a job asks
 * for): only a JPEG upload is known to have no transparency then, and a
 * JPEG result keeps none. */
int tiler_raster_packing_most(const char *ops, tiler_format in, tiler_format out);

/* Makes path a sparse raster. 0, or -1 with err. */
int tiler_raster_create(const char *path, uint32_t width, uint32_t height, int packing, char *err, size_t errlen);

/* Opens path as a width x height raster (writable: for writing and
 * freeing rows, else for reading), its layout read from its size.
 * -1 with err (and errno ENOENT when there is no file). */
int tiler_raster_open(tiler_raster *r, const char *path, uint32_t width, uint32_t height, int writable, char *err,
                      size_t errlen);
/* The same for a raster already open as fd (which stays the caller's). */
int tiler_raster_attach(tiler_raster *r, int fd, uint32_t width, uint32_t height, char *err, size_t errlen);
/* 1 when the raster open as r is no longer the file at path (removed, or
 * removed and made again): its job ended or went, and a reader holding it
 * open would only make work nobody uses, and keep its disk. By path, not
 * by the link count, which NFS keeps above 0 for a file removed while open. */
int tiler_raster_removed(const tiler_raster *r, const char *path);
/* Closes an opened raster. 0, or -1 with err (a delayed write error). */
int tiler_raster_close(tiler_raster *r, char *err, size_t errlen);

/* Rows [top, top + n) as gd truecolor ints (dst holds width x n). */
int tiler_raster_get(const tiler_raster *r, uint32_t top, uint32_t n, int *dst, char *err, size_t errlen);
/* Rows [top, top + n) as they are stored: width x n x packing bytes. */
int tiler_raster_get_packed(const tiler_raster *r, uint32_t top, uint32_t n, unsigned char *dst, char *err, size_t errlen);
/* Places a raw result's pixels (its src rectangle, in any packing), as
 * tiler_msg_decode of a result gives them: src.w x src.h pixels of
 * tiler_msg_pixel_bytes each. Placing the same tile twice leaves the same
 * bytes. -1 with err when the rectangle is outside the raster, the packing
 * is none of TILER_PACK_*, or a grey raster meets a pixel that is not grey. */
int tiler_raster_put(const tiler_raster *r, const tiler_msg *m, char *err, size_t errlen);
/* Frees the disk under rows [top, top + n), whose pixels are encoded and
 * will not be read again (punch-hole; they read back as zeros). Only whole
 * file system blocks inside those rows go. 0, 1 when the file system
 * cannot punch holes (nothing freed, nothing lost), -1 with err. */
int tiler_raster_free_rows(const tiler_raster *r, uint32_t top, uint32_t n, char *err, size_t errlen);

/* The same by path, opening and closing the raster. Writing and freeing
 * a raster that is gone: writing fails; freeing returns 0 (its job ended
 * and took the disk with it). */
int tiler_raster_read_rows(const char *path, uint32_t width, uint32_t height, uint32_t top, uint32_t n, int *dst,
                           char *err, size_t errlen);
int tiler_raster_write(const char *path, uint32_t width, uint32_t height, const tiler_msg *m, char *err, size_t errlen);
int tiler_raster_release_rows(const char *path, uint32_t width, uint32_t height, uint32_t top, uint32_t n, char *err,
                              size_t errlen);

/* 1 when the raster has a hole before its end (rows freed, or never
 * written), 0 when it is whole, -1 with err. */
int tiler_raster_has_hole(const char *path, char *err, size_t errlen);
/* The whole raster as a gd image (small images, tests). NULL with err. */
gdImagePtr tiler_raster_load(const char *path, uint32_t width, uint32_t height, char *err, size_t errlen);

#endif
