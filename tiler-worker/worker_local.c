#include "worker_local.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tiler_band.h"
#include "tiler_defaults.h"
#include "tiler_filter.h"
#include "tiler_geom.h"
#include "tiler_image.h"
#include "tiler_jpeg_out.h"
#include "tiler_ops.h"
#include "tiler_png.h"
#include "tiler_tiff_out.h"

/* The image goes through in strips of the full width: each strip is
 * processed with the chain's halo above and below (clipped at the image's
 * edges), exactly as a tile is, so its core rows are what the whole image
 * would give. The result is written strip by strip: PNG strips, the
 * strip's rows handed to the band JPEG encoder, or (TIFF) the strip cut
 * into its row of tiles, deflated and placed as the module places the
 * workers' tiles (tiler_tiff_out.c): strips and tiles are both
 * TILER_PNG_STRIP_ROWS high. */
typedef struct {
    const tiler_chain *chain;
    tiler_format out_fmt;
    FILE *out;
    tiler_png_writer *png;
    int color;
    tiler_jpeg_out *jpeg;    /* JPEG results */
    int tiff;                /* TIFF results: tiles file at out path, index beside it */
    int codec;               /* the TIFF tiles' (--compression) */
    tiler_tile_enc enc;
    uint32_t width, height;
    char index[4096];
    const char *path;
    int status;              /* WORKER_EXIT_* of a failure */
} local_run;

/* The TIFF result's row of tiles at rows top..top+n-1 (a strip). */
static int emit_tiles(local_run *x, gdImagePtr im, uint32_t first, uint32_t top, uint32_t n, char *err, size_t errlen)
{
    const int *rows[TILER_PNG_STRIP_ROWS];
    uint32_t tx, y, across = (x->width + x->enc.side - 1) / x->enc.side;
    for (tx = 0; tx < x->width; tx += x->enc.side) {
        uint32_t w = x->width - tx < x->enc.side ? x->width - tx : x->enc.side;
        unsigned char *z;
        size_t len;
        int rc;
        for (y = 0; y < n; y++) rows[y] = im->tpixels[top - first + y] + tx;
        if (tiler_tiff_out_tile(rows, w, n, &x->enc, TILER_TIFF_LEVEL, &z, &len, err, errlen) < 0) {
            x->status = WORKER_EXIT_RUNTIME;
            return 1;
        }
        rc = tiler_tiff_out_add(x->path, x->index, top / x->enc.side * across + tx / x->enc.side, z, len, err, errlen);
        free(z);
        if (rc < 0) {
            x->status = WORKER_EXIT_OUTPUT;
            return 1;
        }
    }
    return 0;
}

/* Rows top..top+n-1 of the result, im's rows from `first` (an image's row
 * top is im's row top - first), to the encoder. 0, or 1 with err. */
static int emit_rows(local_run *x, gdImagePtr im, uint32_t first, uint32_t top, uint32_t n, uint32_t height,
                     char *err, size_t errlen)
{
    tiler_png_strip s;
    uint32_t y;
    if (x->tiff) return emit_tiles(x, im, first, top, n, err, errlen);
    if (x->jpeg) {
        for (y = 0; y < n; y++)
            if (tiler_jpeg_out_rows(x->jpeg, im->tpixels[top - first + y], 1, err, errlen) < 0) {
                x->status = WORKER_EXIT_OUTPUT;
                return 1;
            }
        return 0;
    }
    if (tiler_png_strip_encode((const int *const *)im->tpixels + (top - first), (uint32_t)gdImageSX(im), n, x->color,
                               TILER_PNG_LEVEL, top + n == height, &s, err, errlen) < 0) {
        x->status = WORKER_EXIT_RUNTIME;
        return 1;
    }
    tiler_png_add(x->png, &s);
    tiler_png_strip_free(&s);
    return 0;
}

static int on_strip(void *ctx, const tiler_band *b, uint32_t strip, char *err, size_t errlen)
{
    local_run *x = ctx;
    uint32_t first = tiler_band_first_row(b, strip), end = tiler_band_need(b, strip), y;
    /* The core rows: the strip's own, without its halo. */
    uint32_t top = strip * b->tile_size, n = b->height - top < b->tile_size ? b->height - top : b->tile_size;
    gdImagePtr im = gdImageCreateTrueColor((int)b->width, (int)(end - first));
    int rc = 0;

    if (!im) {
        snprintf(err, errlen, "out of memory for a strip of %ux%u", b->width, end - first);
        x->status = WORKER_EXIT_RUNTIME;
        return 1;
    }
    for (y = first; y < end; y++) memcpy(im->tpixels[y - first], tiler_band_get(b, y), (size_t)b->width * sizeof(int));
    gdImageAlphaBlending(im, 0);
    if (tiler_filter_apply(&im, x->chain) < 0) {
        snprintf(err, errlen, "out of memory applying the op chain");
        x->status = WORKER_EXIT_RUNTIME;
        rc = 1;
    } else {
        rc = emit_rows(x, im, first, top, n, b->height, err, errlen);
    }
    gdImageDestroy(im);
    return rc;
}

/* Before the first strip: where the rows go. */
static int open_output(local_run *x, uint32_t w, uint32_t h, int alpha, const worker_options *o, char *err, size_t errlen)
{
    if (!(x->out = fopen(o->local_out, "wb"))) {
        snprintf(err, errlen, "cannot create the result file");
        return -1;
    }
    if (x->out_fmt == TILER_FMT_TIFF) {
        uint32_t tiles = ((w + TILER_PNG_STRIP_ROWS - 1) / TILER_PNG_STRIP_ROWS)
                         * ((h + TILER_PNG_STRIP_ROWS - 1) / TILER_PNG_STRIP_ROWS);
        fclose(x->out);
        x->out = NULL;
        x->tiff = 1;
        x->width = w;
        x->height = h;
        x->path = o->local_out;
        tiler_tiff_out_enc(&x->enc, x->codec, TILER_PNG_STRIP_ROWS, alpha, o->ops);
        if (snprintf(x->index, sizeof(x->index), "%s.idx", o->local_out) >= (int)sizeof(x->index)) {
            snprintf(err, errlen, "the result's path is too long");
            return -1;
        }
        return tiler_tiff_out_start(x->path, x->index, tiles, err, errlen);
    }
    if (x->out_fmt == TILER_FMT_JPEG)
        return (x->jpeg = tiler_jpeg_out_begin(x->out, w, h, TILER_JPEG_QUALITY, err, errlen)) ? 0 : -1;
    x->color = tiler_png_color(alpha, tiler_chain_gray(x->chain));
    x->png = tiler_png_begin(x->out, w, h, x->color);
    return 0;
}

typedef struct {
    local_run *run;
    const worker_options *o;
    int opened;
} first_strip;

static int on_strip_first(void *ctx, const tiler_band *b, uint32_t strip, char *err, size_t errlen)
{
    first_strip *f = ctx;
    if (!f->opened) {
        if (open_output(f->run, b->width, b->height, b->alpha, f->o, err, errlen) < 0) {
            f->run->status = WORKER_EXIT_OUTPUT;
            return 1;
        }
        f->opened = 1;
    }
    return on_strip(f->run, b, strip, err, errlen);
}

/* A chain that flips, rotates or downscales goes through the whole image
 * at once: its first result rows may come from the upload's last. The
 * band keeps the whole image (4 bytes a pixel), then the chain runs and the
 * result goes out in strips. */
static int run_whole(local_run *x, const worker_options *o, tiler_format in_fmt, char *err, size_t errlen)
{
    tiler_band b;
    gdImagePtr im;
    uint32_t top, n, w, h;
    int rc = 0, alpha;
    tiler_band_init(&b, TILER_PNG_STRIP_ROWS, 0, 1, NULL, NULL);
    im = tiler_image_stream(o->local_in, in_fmt, &b, err, errlen) == 0 ? tiler_band_take_image(&b) : NULL;
    alpha = b.alpha;
    tiler_band_free(&b);
    if (!im) return -1;
    if (tiler_filter_apply(&im, x->chain) < 0) {
        gdImageDestroy(im);
        snprintf(err, errlen, "out of memory applying the op chain");
        x->status = WORKER_EXIT_RUNTIME;
        return -1;
    }
    w = (uint32_t)gdImageSX(im);
    h = (uint32_t)gdImageSY(im);
    if (open_output(x, w, h, alpha, o, err, errlen) < 0) {
        x->status = WORKER_EXIT_OUTPUT;
        rc = -1;
    }
    for (top = 0; rc == 0 && top < h; top += n) {
        n = h - top < TILER_PNG_STRIP_ROWS ? h - top : TILER_PNG_STRIP_ROWS;
        if (emit_rows(x, im, 0, top, n, h, err, errlen)) rc = -1;
    }
    gdImageDestroy(im);
    return rc;
}

int worker_local_run(const worker_options *o)
{
    tiler_chain chain;
    tiler_geom geom;
    tiler_format in_fmt;
    local_run x;
    first_strip fs;
    tiler_band b;
    uint32_t w, h;
    char err[512];
    FILE *f;
    int rc, bad;

    memset(&x, 0, sizeof(x));
    if (tiler_chain_parse(&chain, o->ops, TILER_MAX_OPS, err, sizeof(err)) < 0) {
        fprintf(stderr, "tiler-worker: --ops: %s\n", err);
        return WORKER_EXIT_INPUT;
    }
    if ((x.out_fmt = tiler_output_format_parse(o->format)) == TILER_FMT_UNKNOWN) {
        fprintf(stderr, "tiler-worker: --format must be png, jpeg or tiff\n");
        return WORKER_EXIT_USAGE;
    }
    /* As the API: a compression only for a TIFF result, and one it knows. */
    if (o->compression && x.out_fmt != TILER_FMT_TIFF) {
        fprintf(stderr, "tiler-worker: --compression is for --format tiff only\n");
        return WORKER_EXIT_USAGE;
    }
    if (!(x.codec = tiler_tiff_out_codec(o->compression))) {
        fprintf(stderr, "tiler-worker: --compression must be deflate or jpeg\n");
        return WORKER_EXIT_USAGE;
    }
    if (!(f = fopen(o->local_in, "rb"))) {
        fprintf(stderr, "tiler-worker: cannot open %s\n", o->local_in);
        return WORKER_EXIT_INPUT;
    }
    if (tiler_probe_file(f, &in_fmt, &w, &h, err, sizeof(err)) < 0) {
        fclose(f);
        fprintf(stderr, "tiler-worker: %s: %s\n", o->local_in, err);
        return WORKER_EXIT_INPUT;
    }
    fclose(f);
    tiler_geom_init(&geom, &chain, w, h);
    if ((unsigned long long)w * h > (unsigned long long)o->max_pixels) {
        fprintf(stderr, "tiler-worker: %s: %ux%u is more pixels than this build handles\n", o->local_in, w, h);
        return WORKER_EXIT_INPUT;
    }
    if (tiler_check_sides(in_fmt, w, h, err, sizeof(err)) < 0
        || (x.out_fmt == TILER_FMT_JPEG && tiler_jpeg_out_fits(geom.out_w, geom.out_h, err, sizeof(err)) < 0)) {
        fprintf(stderr, "tiler-worker: %s: %s\n", o->local_in, err);
        return WORKER_EXIT_INPUT;
    }
    x.chain = &chain;
    x.status = WORKER_EXIT_INPUT;   /* a failure in decoding, unless a strip says otherwise */
    fs.run = &x;
    fs.o = o;
    fs.opened = 0;
    if (tiler_chain_moves(&chain)) {
        rc = run_whole(&x, o, in_fmt, err, sizeof(err));
    } else {
        tiler_band_init(&b, TILER_PNG_STRIP_ROWS, (uint32_t)tiler_chain_halo(&chain), 0, on_strip_first, &fs);
        rc = tiler_image_stream(o->local_in, in_fmt, &b, err, sizeof(err));
        tiler_band_free(&b);
    }
    if (rc < 0) {
        fprintf(stderr, "tiler-worker: %s: %s\n", x.status == WORKER_EXIT_INPUT ? o->local_in : o->local_out, err);
        if (x.png) tiler_png_end(x.png, err, sizeof(err));
        if (x.jpeg) tiler_jpeg_out_end(x.jpeg, err, sizeof(err));
        /* No half-written result is left behind. */
        if (x.out) { fclose(x.out); unlink(o->local_out); }
        if (x.tiff) { unlink(o->local_out); unlink(x.index); }
        return x.status;
    }
    err[0] = '\0';
    if (x.tiff) {
        bad = tiler_tiff_out_finish(o->local_out, x.index, x.width, x.height, &x.enc, err, sizeof(err)) < 0;
        unlink(x.index);
        if (bad) {
            fprintf(stderr, "tiler-worker: %s: %s\n", o->local_out, err);
            unlink(o->local_out);
            return WORKER_EXIT_OUTPUT;
        }
        return WORKER_EXIT_OK;
    }
    bad = x.jpeg ? tiler_jpeg_out_end(x.jpeg, err, sizeof(err)) < 0 : tiler_png_end(x.png, err, sizeof(err)) < 0;
    bad |= ferror(x.out) | fflush(x.out);
    bad |= fclose(x.out);
    if (bad && !err[0]) snprintf(err, sizeof(err), "cannot write the result");
    if (bad) {
        fprintf(stderr, "tiler-worker: %s: %s\n", o->local_out, err);
        unlink(o->local_out);
        return WORKER_EXIT_OUTPUT;
    }
    return WORKER_EXIT_OK;
}
