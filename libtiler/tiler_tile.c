#include "tiler_tile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tiler_filter.h"
#include "tiler_geom.h"
#include "tiler_ops.h"
#include "tiler_defaults.h"
#include "tiler_png_tile.h"
#include "tiler_tiff_out.h"
#include "tiler_tiff_task.h"

typedef const int *(*row_at)(const void *src, uint32_t y);

static const int *gd_row(const void *src, uint32_t y) { return ((gdImagePtr)src)->tpixels[y]; }
static const int *band_row(const void *src, uint32_t y) { return tiler_band_get(src, y); }

/* A chain that starts with grayscale and goes on (ops is the canonical
 * form the module sends): what follows "grayscale,", else NULL. */
static const char *after_grey(const char *ops)
{
    static const char grey[] = "grayscale,";
    return strncmp(ops, grey, sizeof(grey) - 1) == 0 && ops[sizeof(grey) - 1] ? ops + sizeof(grey) - 1 : NULL;
}

/* Row y of the tile's source, at x for w pixels: in place, or made grey in
 * tmp when the task's grayscale is done here. NULL when src lacks the row. */
static const int *source_row(row_at row, const void *src, uint32_t y, uint32_t x, uint32_t w, int *tmp)
{
    const int *line = row(src, y);
    if (!line || !tmp) return line ? line + x : NULL;
    memcpy(tmp, line + x, (size_t)w * sizeof(int));
    tiler_grayscale_row(tmp, w);
    return tmp;
}

static unsigned char *cut(row_at row, const void *src, const tiler_grid *g, uint32_t idx,
                          const unsigned char job_id[16], const char *ops, int pack, size_t *len)
{
    tiler_msg m;
    unsigned char *buf = NULL, *px;
    uint32_t r;
    size_t pb;
    /* A packed task of a chain that starts with grayscale gets its grey
     * here, as it is cut, and asks the worker for the rest: an opaque
     * colour tile then crosses Kafka at one byte a pixel instead of three,
     * for the same result (the grey is the op's own, pixel for pixel, and
     * adds no halo). docs/protocol.md, "Packed pixels". */
    const char *rest = pack ? after_grey(ops) : NULL;
    int *tmp = NULL;

    memset(&m, 0, sizeof(m));
    m.kind = TILER_MSG_TASK;
    memcpy(m.job_id, job_id, 16);
    m.tile_index = idx;
    m.tiles_total = tiler_grid_count(g);
    m.image_w = g->src_w;   /* the upload's size: src is in its pixels, core in the result's */
    m.image_h = g->src_h;
    tiler_grid_tile(g, idx, &m.core, &m.src);
    snprintf(m.ops, sizeof(m.ops), "%s", rest ? rest : ops);
    if (rest && !(tmp = malloc((size_t)m.src.w * sizeof(int)))) return NULL;
    if (pack) {
        /* The tightest packing the source's pixels allow: a pass over
         * them costs far less than the bytes it saves on Kafka. */
        m.packing = TILER_PACK_GREY;
        for (r = 0; r < m.src.h && m.packing != TILER_PACK_GD; r++) {
            const int *line = row(src, m.src.y + r);
            int need;
            if (!line) goto out;
            need = rest ? tiler_pack_need_grey(line + m.src.x, m.src.w) : tiler_pack_need(line + m.src.x, m.src.w);
            if (need > m.packing) m.packing = (uint8_t)need;
        }
    }
    pb = tiler_msg_pixel_bytes(&m);
    *len = tiler_msg_size(&m);
    if (!(buf = malloc(*len))) goto out;
    px = buf + tiler_msg_write_header(&m, buf);
    for (r = 0; r < m.src.h; r++) {
        const int *line = source_row(row, src, m.src.y + r, m.src.x, m.src.w, tmp);
        if (!line) { free(buf); buf = NULL; goto out; }
        tiler_pack_row(px + (size_t)r * m.src.w * pb, line, m.src.w, (int)pb);
    }
out:
    free(tmp);
    return buf;
}

unsigned char *tiler_tile_task(gdImagePtr im, const tiler_grid *g, uint32_t idx,
                               const unsigned char job_id[16], const char *ops, int pack, size_t *len)
{
    return cut(gd_row, im, g, idx, job_id, ops, pack, len);
}

unsigned char *tiler_tile_task_band(const tiler_band *b, const tiler_grid *g, uint32_t idx,
                                    const unsigned char job_id[16], const char *ops, int pack, size_t *len)
{
    return cut(band_row, b, g, idx, job_id, ops, pack, len);
}

/* A copy of the part r of im, which covers at (ox, oy). */
static gdImagePtr crop(gdImagePtr im, uint32_t ox, uint32_t oy, const tiler_rect *r)
{
    gdImagePtr out = gdImageCreateTrueColor((int)r->w, (int)r->h);
    uint32_t y;
    if (!out) return NULL;
    gdImageAlphaBlending(out, 0);
    for (y = 0; y < r->h; y++)
        memcpy(out->tpixels[y], im->tpixels[r->y - oy + y] + (r->x - ox), (size_t)r->w * sizeof(int));
    return out;
}

static int contains(const tiler_rect *outer, const tiler_rect *in)
{
    return in->x >= outer->x && in->y >= outer->y
        && (uint64_t)in->x + in->w <= (uint64_t)outer->x + outer->w
        && (uint64_t)in->y + in->h <= (uint64_t)outer->y + outer->h;
}

/* Runs the chain over the task's pixels op by op. Before each op the image
 * is exactly the part of that op's input the rest of the chain needs for
 * the core (tiler_geom_back): a filter's result is cut down to what the
 * next op needs, so that its clamped edges, wrong where a tile's edge is
 * not the image's, never reach the core; a flip, rotation or downscale of
 * that part is the part of its output the next op needs. */
static gdImagePtr run_chain(gdImagePtr im, const tiler_chain *chain, const tiler_rect *rects)
{
    int i;
    for (i = 0; i < chain->count; i++) {
        if (tiler_filter_op(&im, &chain->ops[i]) < 0) break;
        if (chain->ops[i].kind < TILER_OP_FLIP
            && (rects[i + 1].w != rects[i].w || rects[i + 1].h != rects[i].h)) {
            gdImagePtr part = crop(im, rects[i].x, rects[i].y, &rects[i + 1]);
            if (!part) break;
            gdImageDestroy(im);
            im = part;
        }
    }
    if (i == chain->count) return im;
    gdImageDestroy(im);
    return NULL;
}

/* The ENCODED result for out: the core (im) as a deflated TIFF tile. */
static unsigned char *encoded(tiler_msg *out, gdImagePtr im, size_t *len, char *err, size_t errlen)
{
    unsigned char *z, *buf;
    size_t zl, hdr;
    /* A PNG result's rows, or a TIFF result's tile. */
    int rc = out->enc.codec == TILER_CODEC_PNG_ROWS
                 ? tiler_png_tile_encode((const int *const *)im->tpixels, out->src.w, out->src.h, out->enc.samples,
                                         out->src.x == 0, TILER_PNG_LEVEL, &z, &zl, err, errlen)
                 : tiler_tiff_out_tile((const int *const *)im->tpixels, out->src.w, out->src.h, &out->enc,
                                       TILER_TIFF_LEVEL, &z, &zl, err, errlen);
    gdImageDestroy(im);
    if (rc < 0) return NULL;
    out->kind = TILER_MSG_ENCODED;
    out->payload_len = zl;
    *len = tiler_msg_size(out);
    if (!(buf = malloc(*len))) {
        free(z);
        snprintf(err, errlen, "out of memory for the result message");
        return NULL;
    }
    hdr = tiler_msg_write_header(out, buf);
    memcpy(buf + hdr, z, zl);
    free(z);
    return buf;
}

unsigned char *tiler_tile_process(const tiler_msg *task, size_t *len, char *err, size_t errlen)
{
    tiler_chain chain;
    tiler_geom geom;
    tiler_rect rects[TILER_MAX_OPS + 1];
    tiler_msg out;
    gdImagePtr im, whole;
    unsigned char *buf, *px;
    uint32_t row;
    size_t pb;
    char why[200];

    if (task->kind != TILER_MSG_TASK) { snprintf(err, errlen, "message is not a task"); return NULL; }
    if (tiler_chain_parse(&chain, task->ops, TILER_MAX_OPS, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "task op chain is invalid: %s", why);
        return NULL;
    }
    /* The core is in the result's pixels, the source in the upload's. */
    tiler_geom_init(&geom, &chain, task->image_w, task->image_h);
    if (!task->core.w || !task->core.h || task->core.x >= geom.out_w || task->core.y >= geom.out_h
        || task->core.w > geom.out_w - task->core.x || task->core.h > geom.out_h - task->core.y) {
        snprintf(err, errlen, "task core lies outside the %ux%u result", geom.out_w, geom.out_h);
        return NULL;
    }
    tiler_geom_back(&geom, &task->core, 1, rects);
    if (!contains(&task->src, &rects[0])) {
        snprintf(err, errlen, "task source (%u,%u %ux%u) does not cover what its op chain needs for its core "
                 "(%u,%u %ux%u of the upload)", task->src.x, task->src.y, task->src.w, task->src.h,
                 rects[0].x, rects[0].y, rects[0].w, rects[0].h);
        return NULL;
    }
    if (task->tiff_tiles) {
        /* The upload's tiles under the source, decoded here, cut down to
         * what the chain needs. */
        uint32_t ox, oy;
        if (!(whole = tiler_tiff_tiles_decode(task, &ox, &oy, err, errlen))) return NULL;
        im = crop(whole, ox, oy, &rects[0]);
        gdImageDestroy(whole);
    } else {
        if (!(whole = gdImageCreateTrueColor((int)task->src.w, (int)task->src.h))) {
            snprintf(err, errlen, "out of memory for a %ux%u tile", task->src.w, task->src.h);
            return NULL;
        }
        pb = tiler_msg_pixel_bytes(task);
        for (row = 0; row < task->src.h; row++)
            tiler_unpack_row(whole->tpixels[row], task->pixels + (size_t)row * task->src.w * pb, task->src.w, (int)pb);
        /* A source wider than the chain needs (an older module's) is cut down. */
        if (task->src.w == rects[0].w && task->src.h == rects[0].h) im = whole;
        else {
            im = crop(whole, task->src.x, task->src.y, &rects[0]);
            gdImageDestroy(whole);
        }
    }
    if (!im || !(im = run_chain(im, &chain, rects))) {
        snprintf(err, errlen, "out of memory applying the op chain");
        return NULL;
    }
    out = *task;
    out.kind = TILER_MSG_RESULT;
    out.tiff_tiles = 0;     /* a result carries pixels (or its encoding's bytes) */
    out.payload_len = 0;
    out.image_w = geom.out_w;
    out.image_h = geom.out_h;
    out.src = task->core;
    if (task->enc.codec) return encoded(&out, im, len, err, errlen);
    if (task->packing) {
        /* A packed task is answered as tightly as the result allows. */
        out.packing = TILER_PACK_GREY;
        for (row = 0; row < out.src.h && out.packing != TILER_PACK_GD; row++) {
            int need = tiler_pack_need(im->tpixels[row], out.src.w);
            if (need > out.packing) out.packing = (uint8_t)need;
        }
    }
    pb = tiler_msg_pixel_bytes(&out);
    *len = tiler_msg_size(&out);
    if (!(buf = malloc(*len))) {
        gdImageDestroy(im);
        snprintf(err, errlen, "out of memory for the result message");
        return NULL;
    }
    /* The image is now exactly the core. */
    px = buf + tiler_msg_write_header(&out, buf);
    for (row = 0; row < out.src.h; row++)
        tiler_pack_row(px + (size_t)row * out.src.w * pb, im->tpixels[row], out.src.w, (int)pb);
    gdImageDestroy(im);
    return buf;
}
