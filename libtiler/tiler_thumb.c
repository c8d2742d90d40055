#include "tiler_thumb.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include <png.h>
#include "tiler_band.h"
#include "tiler_png.h"
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

/* ---- PNG, with libpng: any colour type and depth, as 8-bit RGBA rows ---- */
typedef struct { jmp_buf jb; char *err; size_t errlen; } png_ctx;

static void png_fail(png_structp png, png_const_charp msg)
{
    png_ctx *c = png_get_error_ptr(png);
    say(c->err, c->errlen, "PNG: %s", msg);
    longjmp(c->jb, 1);
}

static void png_quiet(png_structp png, png_const_charp msg)
{
    (void)png; (void)msg;   /* never to stderr, which in httpd is the error log */
}

static gdImagePtr thumb_png(FILE *f, uint32_t side, tiler_thumb_info *info, char *err, size_t errlen)
{
    png_ctx c;
    png_structp png;
    png_infop pi;
    box b;
    unsigned char *volatile row = NULL;
    gdImagePtr volatile im = NULL;
    uint32_t w, h, tw, th, y;
    int type, depth;

    memset(&b, 0, sizeof(b));
    c.err = err; c.errlen = errlen;
    if (!(png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &c, png_fail, png_quiet))) {
        say(err, errlen, "out of memory");
        return NULL;
    }
    if (!(pi = png_create_info_struct(png))) {
        png_destroy_read_struct(&png, NULL, NULL);
        say(err, errlen, "out of memory");
        return NULL;
    }
    if (setjmp(c.jb)) goto done;
    /* A result may be far larger than libpng's default 1,000,000 pixel rows guard. */
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
    png_init_io(png, f);
    png_read_info(png, pi);
    w = png_get_image_width(png, pi);
    h = png_get_image_height(png, pi);
    type = png_get_color_type(png, pi);
    depth = png_get_bit_depth(png, pi);
    if (png_get_interlace_type(png, pi) != PNG_INTERLACE_NONE) {
        say(err, errlen, "an interlaced PNG cannot be read by rows");
        goto done;
    }
    if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, pi, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    if (depth == 16) png_set_strip_16(png);
    if (type == PNG_COLOR_TYPE_GRAY || type == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    if (!(type & PNG_COLOR_MASK_ALPHA) && !png_get_valid(png, pi, PNG_INFO_tRNS))
        png_set_filler(png, 0xff, PNG_FILLER_AFTER);
    png_read_update_info(png, pi);
    if (png_get_rowbytes(png, pi) != (size_t)w * 4) {
        say(err, errlen, "PNG: unexpected row layout");
        goto done;
    }
    tiler_thumb_size(w, h, side, &tw, &th);
    if (!(row = malloc((size_t)w * 4)) || box_init(&b, w, h, tw, th) < 0) {
        say(err, errlen, "out of memory for a %u-pixel row", w);
        goto done;
    }
    if (info) {
        info->src_w = w; info->src_h = h; info->decoded_w = w; info->scale_denom = 1;
        info->work_bytes = (size_t)w * 4 + (size_t)tw * (4 * sizeof(uint64_t) + sizeof(uint32_t));
    }
    for (y = 0; y < h; y++) {
        png_read_row(png, row, NULL);
        box_add(&b, row, 4);
    }
    png_read_end(png, NULL);
    im = box_take(&b);
done:
    png_destroy_read_struct(&png, &pi, NULL);
    free(row);
    box_free(&b);
    return im;
}

/* ---- JPEG, with libjpeg: scaled while decoding, RGB rows ---- */
typedef struct { struct jpeg_error_mgr pub; jmp_buf jb; } jpeg_ctx;

static void jpeg_fail(j_common_ptr cinfo)
{
    longjmp(((jpeg_ctx *)cinfo->err)->jb, 1);
}

/* A warning about the data (a truncated or corrupt file) fails too: a
 * thumbnail of grey rows would be cached for good. */
static void jpeg_warn(j_common_ptr cinfo, int level)
{
    if (level < 0) longjmp(((jpeg_ctx *)cinfo->err)->jb, 1);
}

static gdImagePtr thumb_jpeg(FILE *f, uint32_t side, tiler_thumb_info *info, char *err, size_t errlen)
{
    struct jpeg_decompress_struct ci;
    jpeg_ctx jc;
    box b;
    unsigned char *volatile row = NULL;
    gdImagePtr volatile im = NULL;
    uint32_t tw, th;
    int d;

    memset(&b, 0, sizeof(b));
    ci.err = jpeg_std_error(&jc.pub);
    jc.pub.error_exit = jpeg_fail;
    jc.pub.emit_message = jpeg_warn;
    jpeg_create_decompress(&ci);
    if (setjmp(jc.jb)) {
        char msg[JMSG_LENGTH_MAX];
        (*ci.err->format_message)((j_common_ptr)&ci, msg);
        say(err, errlen, "JPEG: %s", msg);
        goto done;
    }
    jpeg_stdio_src(&ci, f);
    jpeg_read_header(&ci, TRUE);
    if (jpeg_has_multiple_scans(&ci)) {
        say(err, errlen, "a progressive JPEG cannot be read by rows");
        goto done;
    }
    if (ci.jpeg_color_space == JCS_CMYK || ci.jpeg_color_space == JCS_YCCK) {
        say(err, errlen, "a CMYK JPEG has no thumbnail here");
        goto done;
    }
    tiler_thumb_size(ci.image_width, ci.image_height, side, &tw, &th);
    /* The largest scaling that still leaves at least the thumbnail's pixels:
     * libjpeg's 1/d is the mean of each d x d block, computed in the DCT. */
    for (d = 8; d > 1; d /= 2)
        if ((ci.image_width + d - 1) / d >= tw && (ci.image_height + d - 1) / d >= th) break;
    ci.scale_num = 1;
    ci.scale_denom = (unsigned)d;
    ci.out_color_space = JCS_RGB;
    jpeg_start_decompress(&ci);
    if (ci.output_components != 3 || ci.output_width < tw || ci.output_height < th) {
        say(err, errlen, "JPEG: unexpected output layout");
        goto done;
    }
    if (!(row = malloc((size_t)ci.output_width * 3)) || box_init(&b, ci.output_width, ci.output_height, tw, th) < 0) {
        say(err, errlen, "out of memory for a %u-pixel row", (unsigned)ci.output_width);
        goto done;
    }
    if (info) {
        info->src_w = ci.image_width; info->src_h = ci.image_height; info->decoded_w = ci.output_width;
        info->scale_denom = d;
        info->work_bytes = (size_t)ci.output_width * 3 + (size_t)tw * (4 * sizeof(uint64_t) + sizeof(uint32_t));
    }
    while (ci.output_scanline < ci.output_height) {
        JSAMPROW rp = row;
        jpeg_read_scanlines(&ci, &rp, 1);
        box_add(&b, row, 3);
    }
    jpeg_finish_decompress(&ci);
    im = box_take(&b);
done:
    jpeg_destroy_decompress(&ci);
    free(row);
    box_free(&b);
    return im;
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
    if (t.ready) box_free(&t.b);
    free(t.row);
    return im;
}

gdImagePtr tiler_thumb_make(FILE *f, uint32_t side, tiler_thumb_info *info, char *err, size_t errlen)
{
    unsigned char magic[8];
    if (side < 1) { say(err, errlen, "thumbnail side 0"); return NULL; }
    if (fread(magic, 1, sizeof(magic), f) != sizeof(magic) || fseek(f, 0, SEEK_SET) != 0) {
        say(err, errlen, "the file is too short for an image");
        return NULL;
    }
    if (!png_sig_cmp(magic, 0, 8)) return thumb_png(f, side, info, err, errlen);
    if (magic[0] == 0xff && magic[1] == 0xd8 && magic[2] == 0xff) return thumb_jpeg(f, side, info, err, errlen);
    if (!memcmp(magic, "II+\0", 4) || !memcmp(magic, "II*\0", 4) || !memcmp(magic, "MM\0+", 4) || !memcmp(magic, "MM\0*", 4)) {
        err[0] = '\0';
        return thumb_tiff(f, side, info, err, errlen);
    }
    say(err, errlen, "neither PNG, JPEG nor TIFF");
    return NULL;
}
