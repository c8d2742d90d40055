#include "tiler_thumb.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "tiler_band.h"
#include "tiler_image.h"
#include "tiler_png.h"
#include "tiler_rows.h"
#include "tiler_tiff.h"

void tiler_thumb_size(uint32_t w, uint32_t h, uint32_t side, uint32_t *tw, uint32_t *th)
{
    uint64_t a, b;
    if (w >= h) { a = side; b = ((uint64_t)h * side * 2 + w) / ((uint64_t)w * 2); }
    else { b = side; a = ((uint64_t)w * side * 2 + h) / ((uint64_t)h * 2); }
    if (a > w || b > h) { a = w; b = h; }
    *tw = a < 1 ? 1 : (uint32_t)a;
    *th = b < 1 ? 1 : (uint32_t)b;
}

/* ---- the box filter: source rows in, thumbnail rows out ----
 * Output pixel (x, y) is the mean of source columns [x*W/w, (x+1)*W/w) and
 * rows [y*H/h, (y+1)*H/h) (integer bounds: every source pixel in exactly one
 * box, boxes differ by at most one row or column). Colours are summed
 * weighted by alpha, so that transparent pixels (whose colour means nothing)
 * do not darken their neighbours. */
typedef struct {
    uint32_t sw, sh, tw, th;
    uint32_t y;                 /* the thumbnail row being summed */
    uint32_t next_src;          /* source rows already added */
    uint64_t *sum;              /* per thumbnail column: alpha, r*a, g*a, b*a */
    uint32_t *x_end;            /* per thumbnail column: its first source column past the box */
    gdImagePtr out;
} box;

static int box_init(box *b, uint32_t sw, uint32_t sh, uint32_t tw, uint32_t th)
{
    uint32_t x;
    memset(b, 0, sizeof(*b));
    b->sw = sw; b->sh = sh; b->tw = tw; b->th = th;
    b->sum = calloc((size_t)tw * 4, sizeof(uint64_t));
    b->x_end = malloc((size_t)tw * sizeof(uint32_t));
    b->out = gdImageCreateTrueColor((int)tw, (int)th);
    if (!b->sum || !b->x_end || !b->out) return -1;
    gdImageAlphaBlending(b->out, 0);
    gdImageSaveAlpha(b->out, 1);
    for (x = 0; x < tw; x++) b->x_end[x] = (uint32_t)((uint64_t)(x + 1) * sw / tw);
    return 0;
}

static void box_free(box *b)
{
    free(b->sum);
    free(b->x_end);
    if (b->out) gdImageDestroy(b->out);
}

static uint32_t box_row_end(const box *b, uint32_t y)
{
    return (uint32_t)((uint64_t)(y + 1) * b->sh / b->th);
}

/* Adds one source row of sw pixels, channels 3 (RGB, opaque) or 4 (RGBA). */
static void box_add(box *b, const unsigned char *row, int channels)
{
    uint32_t sx = 0, x;
    for (x = 0; x < b->tw; x++) {
        uint64_t *s = b->sum + (size_t)x * 4;
        for (; sx < b->x_end[x]; sx++) {
            const unsigned char *p = row + (size_t)sx * channels;
            uint64_t a = channels == 4 ? p[3] : 255;
            s[0] += a; s[1] += a * p[0]; s[2] += a * p[1]; s[3] += a * p[2];
        }
    }
    if (++b->next_src < box_row_end(b, b->y)) return;
    /* The box row is complete: its means become thumbnail row y. */
    {
        uint64_t rows = box_row_end(b, b->y) - (b->y ? box_row_end(b, b->y - 1) : 0);
        uint32_t x0 = 0;
        for (x = 0; x < b->tw; x++) {
            uint64_t *s = b->sum + (size_t)x * 4, n = rows * (b->x_end[x] - x0);
            int c[3], i, a8 = (int)((s[0] + n / 2) / n);
            for (i = 0; i < 3; i++) c[i] = s[0] ? (int)((s[i + 1] + s[0] / 2) / s[0]) : 0;
            /* libgd's 7-bit alpha, mapped as its PNG loader maps 8 bits */
            b->out->tpixels[b->y][x] = gdTrueColorAlpha(c[0], c[1], c[2], 127 - (a8 >> 1));
            s[0] = s[1] = s[2] = s[3] = 0;
            x0 = b->x_end[x];
        }
        b->y++;
    }
}

static gdImagePtr box_take(box *b)
{
    gdImagePtr im = b->out;
    b->out = NULL;
    return im;
}

static void say(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- TIFF (a format=tiff result), with the uploads' streaming reader ----
 * tiler_tiff.c decodes a row of TIFF tiles at a time into a band of a few
 * rows; each row goes to the box filter as 8-bit RGBA (alpha as the PNG
 * writer maps libgd's). */
#define TIFF_BAND_ROWS 16

typedef struct {
    box b;
    uint32_t side;
    int ready;
    unsigned char *row;
    tiler_thumb_info *info;
} tiff_thumb;

static int tiff_rows(void *ctx, const tiler_band *band, uint32_t tile_row, char *err, size_t errlen)
{
    tiff_thumb *t = ctx;
    uint32_t y, end = tiler_band_need(band, tile_row);
    if (!t->ready) {
        uint32_t tw, th;
        tiler_thumb_size(band->width, band->height, t->side, &tw, &th);
        if (box_init(&t->b, band->width, band->height, tw, th) < 0 || !(t->row = malloc((size_t)band->width * 4))) {
            say(err, errlen, "out of memory for a %ux%u thumbnail", tw, th);
            return 1;
        }
        t->ready = 1;
        if (t->info) {
            t->info->src_w = band->width;
            t->info->src_h = band->height;
            t->info->decoded_w = band->width;
            t->info->scale_denom = 1;
            t->info->work_bytes = (size_t)band->width * 4 + (size_t)tw * 4 * sizeof(uint64_t)
                                  + (size_t)band->width * TIFF_BAND_ROWS * sizeof(int);
        }
    }
    for (y = tiler_band_first_row(band, tile_row); y < end; y++) {
        tiler_png_row_samples(t->row, tiler_band_get(band, y), band->width, TILER_PNG_RGBA);
        box_add(&t->b, t->row, 4);
    }
    return 0;
}

static gdImagePtr thumb_tiff(FILE *f, uint32_t side, tiler_thumb_info *info, char *err, size_t errlen)
{
    tiff_thumb t;
    tiler_band band;
    gdImagePtr im = NULL;
    memset(&t, 0, sizeof(t));
    t.side = side;
    t.info = info;
    tiler_band_init(&band, TIFF_BAND_ROWS, 0, 0, tiff_rows, &t);
    if (tiler_tiff_decode(f, &band, err, errlen) == 0 && t.ready) im = box_take(&t.b);
    else if (!err[0]) say(err, errlen, "the TIFF has no rows");
    tiler_band_free(&band);
    box_free(&t.b);   /* also what box_init made before a failed malloc */
    free(t.row);
    return im;
}

gdImagePtr tiler_thumb_make(FILE *f, uint32_t side, tiler_thumb_info *info, char *err, size_t errlen)
{
    tiler_rows *rd;
    box b;
    unsigned char *row = NULL;
    gdImagePtr im = NULL;
    uint32_t w, h, tw, th, ow, oh, y;
    int d = 1, channels;

    if (side < 1) { say(err, errlen, "thumbnail side 0"); return NULL; }
    if (tiler_sniff_file(f) == TILER_FMT_TIFF) {
        err[0] = '\0';
        return thumb_tiff(f, side, info, err, errlen);
    }
    if (!(rd = tiler_rows_open(f, err, errlen))) return NULL;
    memset(&b, 0, sizeof(b));
    tiler_rows_size(rd, &w, &h);
    tiler_thumb_size(w, h, side, &tw, &th);
    /* The largest JPEG scaling that still leaves at least the thumbnail's
     * pixels: libjpeg's 1/d is the mean of each d x d block (a PNG ignores it). */
    for (d = 8; d > 1; d /= 2)
        if ((w + d - 1) / d >= tw && (h + d - 1) / d >= th) break;
    if (tiler_rows_start(rd, d, &ow, &oh, &channels, err, errlen) < 0) goto done;
    if (ow < tw || oh < th) { say(err, errlen, "unexpected decoded size"); goto done; }
    if (!(row = malloc((size_t)ow * (size_t)channels)) || box_init(&b, ow, oh, tw, th) < 0) {
        say(err, errlen, "out of memory for a %u-pixel row", ow);
        goto done;
    }
    if (info) {
        info->src_w = w; info->src_h = h; info->decoded_w = ow;
        info->scale_denom = channels == 3 ? d : 1;
        info->work_bytes = (size_t)ow * (size_t)channels + (size_t)tw * (4 * sizeof(uint64_t) + sizeof(uint32_t));
    }
    for (y = 0; y < oh; y++) {
        if (tiler_rows_next(rd, row, err, errlen) < 0) goto done;
        box_add(&b, row, channels);
    }
    if (tiler_rows_finish(rd, err, errlen) == 0) im = box_take(&b);
done:
    tiler_rows_close(rd);
    free(row);
    box_free(&b);
    return im;
}
