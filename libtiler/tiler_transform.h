/* The geometry ops on pixels: each makes a new truecolor image from a
 * whole one (a tile's, or the whole picture's in local mode). Alpha moves
 * with its pixel; downscale averages it like the colours. */
#ifndef TILER_TRANSFORM_H
#define TILER_TRANSFORM_H

#include <gd.h>

/* horizontal: mirror left-right (TILER_FLIP_H), else top-bottom. */
gdImagePtr tiler_flip(gdImagePtr im, int vertical);
/* Clockwise, degrees 90, 180 or 270. */
gdImagePtr tiler_rotate(gdImagePtr im, int degrees);
/* Each pixel of the ceil(w/k) x ceil(h/k) result is the mean of a k x k
 * block per channel (alpha included), rounded half up: (sum + n/2) / n,
 * n being the block's pixels, fewer in the last row and column. */
gdImagePtr tiler_downscale(gdImagePtr im, int k);

#endif
