/* Applies an op chain to a truecolor gd image. */
#ifndef TILER_FILTER_H
#define TILER_FILTER_H

#include <stddef.h>
#include <stdint.h>
#include <gd.h>
#include "tiler_ops.h"

/* One op: a filter works in place; a flip, rotation or downscale replaces
 * *im with a new image (the old one destroyed). 0, or -1 (out of memory,
 * not truecolor), *im then still the caller's to destroy. */
int tiler_filter_op(gdImagePtr *im, const tiler_op *op);
/* Every op of the chain in turn, the same way. */
int tiler_filter_apply(gdImagePtr *im, const tiler_chain *chain);

/* The grayscale op on n pixels of a row, in place (libgd's grey, bit for
 * bit); for a task cut from a chain that starts with it (tiler_tile.h). */
void tiler_grayscale_row(int *row, size_t n);

/* Whether every pixel of a truecolor image is grey (red = green = blue)
 * with one alpha (bit 31 aside), which is then in *alpha: tiler_blur
 * convolves such an image a byte a pixel. */
int tiler_grey_one_alpha(gdImagePtr im, uint32_t *alpha);

/* Separable Gaussian with radius ceil(3*sigma), 16-bit fixed-point weights
 * and edge-clamped borders, on all four channels of gd's truecolor pixels. */
int tiler_blur(gdImagePtr im, double sigma);

/* Sobel edges of the luma, grey out; unsharp mask (amount in millionths,
 * exactly). 0, or -1 (out of memory). */
int tiler_edges(gdImagePtr im);
int tiler_sharpen(gdImagePtr im, double sigma, int64_t amount_micro);

#endif
