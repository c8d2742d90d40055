/* The op chain: parsing, canonical text form and the halo it needs. */
#ifndef TILER_OPS_H
#define TILER_OPS_H

#include <stddef.h>
#include <stdint.h>
#include "tiler_defaults.h"

typedef enum {
    TILER_OP_GRAYSCALE = 1, TILER_OP_INVERT = 2, TILER_OP_BLUR = 3,
    TILER_OP_SHARPEN, TILER_OP_EDGES, TILER_OP_BRIGHTNESS, TILER_OP_CONTRAST, TILER_OP_GAMMA, TILER_OP_THRESHOLD,
    /* Geometry: they move pixels or change the image's size. */
    TILER_OP_FLIP, TILER_OP_ROTATE, TILER_OP_DOWNSCALE
} tiler_op_kind;

/* flip's value: which way it mirrors. */
#define TILER_FLIP_H 0
#define TILER_FLIP_V 1

typedef struct {
    tiler_op_kind kind;
    double sigma;   /* blur, sharpen */
    double value;   /* sharpen: amount; brightness: delta; contrast: factor; gamma: g; threshold: t;
                     * flip: TILER_FLIP_H or _V; rotate: 90, 180 or 270; downscale: K */
    int64_t micro;  /* value exactly, in millionths: what contrast and sharpen compute with, in integers */
    int radius;     /* pixels of context it reads around each pixel: blur and sharpen ceil(3 * sigma), edges 1 */
} tiler_op;

typedef struct {
    int count;
    tiler_op ops[TILER_MAX_OPS];
} tiler_chain;

/* Parses "grayscale,blur:3,invert". Returns 0, or -1 with a one-line reason
 * naming the offending item in err. max_ops <= TILER_MAX_OPS. */
int tiler_chain_parse(tiler_chain *chain, const char *text, int max_ops,
                      char *err, size_t errlen);

/* Writes the canonical form (numbers as plain decimals of at most 6
 * decimals, trailing zeros dropped) into buf; returns its length or -1. */
int tiler_chain_format(const tiler_chain *chain, char *buf, size_t len);

/* Pixels of context around each tile's source, in the upload's pixels, so
 * that the stitched result equals the whole-image result: the ops' radii
 * (blur and sharpen ceil(3 sigma), edges 1; point ops and flips and
 * rotations none), each radius after a downscale:K counting K times. */
int tiler_chain_halo(const tiler_chain *chain);

/* 1 when an op of the chain is a flip, a rotation or a downscale. */
int tiler_chain_moves(const tiler_chain *chain);

/* The product of the chain's downscale factors (1 without any). */
uint32_t tiler_chain_scale(const tiler_chain *chain);

int tiler_blur_radius(double sigma);

/* 1 when the chain's result has red = green = blue everywhere (grayscale,
 * edges or threshold, and every op after them treats the channels alike):
 * a grey PNG then holds it. */
int tiler_chain_gray(const tiler_chain *chain);

#endif
