#include "tiler_tile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tiler_filter.h"
#include "tiler_ops.h"

typedef const int *(*row_at)(const void *src, uint32_t y);

static const int *gd_row(const void *src, uint32_t y) { return ((gdImagePtr)src)->tpixels[y]; }
static const int *band_row(const void *src, uint32_t y) { return tiler_band_get(src, y); }

static unsigned char *cut(row_at row, const void *src, const tiler_grid *g, uint32_t idx,
                          const unsigned char job_id[16], const char *ops, size_t *len)
{
    tiler_msg m;
    unsigned char *buf, *px;
    uint32_t r;

    memset(&m, 0, sizeof(m));
    m.kind = TILER_MSG_TASK;
    memcpy(m.job_id, job_id, 16);
    m.tile_index = idx;
    m.tiles_total = tiler_grid_count(g);
    m.image_w = g->width;
    m.image_h = g->height;
    tiler_grid_tile(g, idx, &m.core, &m.src);
    snprintf(m.ops, sizeof(m.ops), "%s", ops);
    *len = tiler_msg_size(&m);
    if (!(buf = malloc(*len))) return NULL;
    px = buf + tiler_msg_write_header(&m, buf);
    for (r = 0; r < m.src.h; r++) {
        const int *line = row(src, m.src.y + r);
        if (!line) { free(buf); return NULL; }
        tiler_pixels_to_wire(px + (size_t)r * m.src.w * 4, line + m.src.x, m.src.w);
    }
    return buf;
}

unsigned char *tiler_tile_task(gdImagePtr im, const tiler_grid *g, uint32_t idx,
                               const unsigned char job_id[16], const char *ops, size_t *len)
{
    return cut(gd_row, im, g, idx, job_id, ops, len);
}

unsigned char *tiler_tile_task_band(const tiler_band *b, const tiler_grid *g, uint32_t idx,
                                    const unsigned char job_id[16], const char *ops, size_t *len)
{
    return cut(band_row, b, g, idx, job_id, ops, len);
}

/* The halo must reach as far as the chain needs, or as far as the image
 * goes: a tile cut any other way would give wrong pixels at its edges. */
static int halo_ok(const tiler_msg *t, uint32_t halo)
{
    uint32_t want_x = t->core.x > halo ? t->core.x - halo : 0;
    uint32_t want_y = t->core.y > halo ? t->core.y - halo : 0;
    uint64_t want_r = (uint64_t)t->core.x + t->core.w + halo, want_b = (uint64_t)t->core.y + t->core.h + halo;
    if (want_r > t->image_w) want_r = t->image_w;
    if (want_b > t->image_h) want_b = t->image_h;
    return t->src.x <= want_x && t->src.y <= want_y
        && (uint64_t)t->src.x + t->src.w >= want_r && (uint64_t)t->src.y + t->src.h >= want_b;
}

unsigned char *tiler_tile_process(const tiler_msg *task, size_t *len, char *err, size_t errlen)
{
    tiler_chain chain;
    tiler_msg out;
    gdImagePtr im;
    unsigned char *buf, *px;
    uint32_t row;
    char why[200];

    if (task->kind != TILER_MSG_TASK) { snprintf(err, errlen, "message is not a task"); return NULL; }
    if (tiler_chain_parse(&chain, task->ops, TILER_MAX_OPS, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "task op chain is invalid: %s", why);
        return NULL;
    }
    if (!halo_ok(task, (uint32_t)tiler_chain_halo(&chain))) {
        snprintf(err, errlen, "task halo is narrower than its op chain needs");
        return NULL;
    }
    if (!(im = gdImageCreateTrueColor((int)task->src.w, (int)task->src.h))) {
        snprintf(err, errlen, "out of memory for a %ux%u tile", task->src.w, task->src.h);
        return NULL;
    }
    for (row = 0; row < task->src.h; row++)
        tiler_pixels_from_wire(im->tpixels[row], task->pixels + (size_t)row * task->src.w * 4, task->src.w);
    if (tiler_filter_apply(im, &chain) < 0) {
        gdImageDestroy(im);
        snprintf(err, errlen, "out of memory applying the op chain");
        return NULL;
    }
    out = *task;
    out.kind = TILER_MSG_RESULT;
    out.src = task->core;
    *len = tiler_msg_size(&out);
    if (!(buf = malloc(*len))) {
        gdImageDestroy(im);
        snprintf(err, errlen, "out of memory for the result message");
        return NULL;
    }
    px = buf + tiler_msg_write_header(&out, buf);
    for (row = 0; row < out.src.h; row++)
        tiler_pixels_to_wire(px + (size_t)row * out.src.w * 4,
                             im->tpixels[task->core.y - task->src.y + row] + (task->core.x - task->src.x),
                             out.src.w);
    gdImageDestroy(im);
    return buf;
}
