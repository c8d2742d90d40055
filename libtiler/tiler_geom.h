/* Where an op chain puts pixels: the image's size after each op, which part
 * of an op's input a part of its output needs, and where an input pixel
 * ends up. Tiles are cut on the result's grid and their sources found by
 * walking the chain backwards, so that flips, rotations and downscales need
 * nothing of the assembly: it places result tiles as it always has. */
#ifndef TILER_GEOM_H
#define TILER_GEOM_H

#include <stdint.h>
#include "tiler_grid.h"
#include "tiler_ops.h"

typedef struct {
    tiler_op_kind kind;
    uint32_t param;            /* flip: TILER_FLIP_*; rotate: degrees; downscale: K */
    uint32_t radius;           /* context a filter reads around each pixel */
    uint32_t in_w, in_h, out_w, out_h;
} tiler_geom_step;

typedef struct tiler_geom {
    int n;
    tiler_geom_step step[TILER_MAX_OPS];
    uint32_t in_w, in_h;       /* the upload */
    uint32_t out_w, out_h;     /* the result */
} tiler_geom;

/* downscale:K makes ceil(w / K) x ceil(h / K); the last block of a row or
 * column is the mean of the pixels it has. */
void tiler_geom_init(tiler_geom *g, const tiler_chain *c, uint32_t w, uint32_t h);

/* The rectangle of step s's input that the rectangle `out` of its output
 * needs: with context, a filter's radius around it (clipped to the image);
 * without, the same pixels moved back. */
void tiler_geom_step_back(const tiler_geom_step *s, const tiler_rect *out, int context, tiler_rect *in);

/* rects[g->n] = *out, and rects[i] the input of step i that the rest of
 * the chain needs for it. */
void tiler_geom_back(const tiler_geom *g, const tiler_rect *out, int context, tiler_rect rects[TILER_MAX_OPS + 1]);

/* Where the upload's pixel (x, y) lands in the result. */
void tiler_geom_point(const tiler_geom *g, uint32_t x, uint32_t y, uint32_t *ox, uint32_t *oy);

#endif
