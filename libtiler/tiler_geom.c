#include "tiler_geom.h"

#include <string.h>

void tiler_geom_init(tiler_geom *g, const tiler_chain *c, uint32_t w, uint32_t h)
{
    int i;
    memset(g, 0, sizeof(*g));
    g->in_w = w;
    g->in_h = h;
    for (i = 0; i < c->count; i++) {
        tiler_geom_step *s = &g->step[g->n++];
        const tiler_op *op = &c->ops[i];
        s->kind = op->kind;
        /* Only a geometry op's value is a param; brightness's may be
         * negative, and a negative double made unsigned is undefined. */
        s->param = op->kind >= TILER_OP_FLIP ? (uint32_t)op->value : 0;
        s->radius = (uint32_t)op->radius;
        s->in_w = w;
        s->in_h = h;
        if (op->kind == TILER_OP_ROTATE && s->param != 180) { uint32_t t = w; w = h; h = t; }
        else if (op->kind == TILER_OP_DOWNSCALE) {
            w = (uint32_t)(((uint64_t)w + s->param - 1) / s->param);
            h = (uint32_t)(((uint64_t)h + s->param - 1) / s->param);
        }
        s->out_w = w;
        s->out_h = h;
    }
    g->out_w = w;
    g->out_h = h;
}

/* [start, start + len) grown by r on both sides, within [0, limit). */
static void grow(uint32_t start, uint32_t len, uint32_t r, uint32_t limit, uint32_t *s, uint32_t *n)
{
    uint64_t hi = (uint64_t)start + len + r;
    *s = start > r ? start - r : 0;
    *n = (uint32_t)((hi < limit ? hi : limit) - *s);
}

void tiler_geom_step_back(const tiler_geom_step *s, const tiler_rect *o, int context, tiler_rect *in)
{
    uint64_t end;
    switch (s->kind) {
    case TILER_OP_FLIP:
        *in = *o;
        if (s->param == TILER_FLIP_H) in->x = s->in_w - (o->x + o->w);
        else in->y = s->in_h - (o->y + o->h);
        return;
    case TILER_OP_ROTATE:
        /* Clockwise: input (x, y) goes to (in_h-1-y, x) at 90, to
         * (in_w-1-x, in_h-1-y) at 180, to (y, in_w-1-x) at 270. */
        if (s->param == 90) { in->x = o->y; in->w = o->h; in->y = s->in_h - (o->x + o->w); in->h = o->w; }
        else if (s->param == 180) { *in = *o; in->x = s->in_w - (o->x + o->w); in->y = s->in_h - (o->y + o->h); }
        else { in->x = s->in_w - (o->y + o->h); in->w = o->h; in->y = o->x; in->h = o->w; }
        return;
    case TILER_OP_DOWNSCALE:
        in->x = o->x * s->param;
        end = ((uint64_t)o->x + o->w) * s->param;
        in->w = (uint32_t)((end < s->in_w ? end : s->in_w) - in->x);
        in->y = o->y * s->param;
        end = ((uint64_t)o->y + o->h) * s->param;
        in->h = (uint32_t)((end < s->in_h ? end : s->in_h) - in->y);
        return;
    default:
        if (!context) { *in = *o; return; }
        grow(o->x, o->w, s->radius, s->in_w, &in->x, &in->w);
        grow(o->y, o->h, s->radius, s->in_h, &in->y, &in->h);
        return;
    }
}

void tiler_geom_back(const tiler_geom *g, const tiler_rect *out, int context, tiler_rect rects[TILER_MAX_OPS + 1])
{
    int i;
    rects[g->n] = *out;
    for (i = g->n - 1; i >= 0; i--) tiler_geom_step_back(&g->step[i], &rects[i + 1], context, &rects[i]);
}

void tiler_geom_point(const tiler_geom *g, uint32_t x, uint32_t y, uint32_t *ox, uint32_t *oy)
{
    int i;
    for (i = 0; i < g->n; i++) {
        const tiler_geom_step *s = &g->step[i];
        uint32_t nx = x, ny = y;
        if (s->kind == TILER_OP_FLIP) {
            if (s->param == TILER_FLIP_H) nx = s->in_w - 1 - x; else ny = s->in_h - 1 - y;
        } else if (s->kind == TILER_OP_ROTATE) {
            if (s->param == 90) { nx = s->in_h - 1 - y; ny = x; }
            else if (s->param == 180) { nx = s->in_w - 1 - x; ny = s->in_h - 1 - y; }
            else { nx = y; ny = s->in_w - 1 - x; }
        } else if (s->kind == TILER_OP_DOWNSCALE) {
            nx = x / s->param;
            ny = y / s->param;
        }
        x = nx;
        y = ny;
    }
    *ox = x;
    *oy = y;
}
