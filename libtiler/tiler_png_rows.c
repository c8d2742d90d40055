#include "tiler_png_rows.h"

#include <stdlib.h>
#include <string.h>
#include <png.h>

typedef struct {
    char *err;
    size_t errlen;
} failure;

static void on_error(png_structp png, png_const_charp msg)
{
    failure *f = png_get_error_ptr(png);
    snprintf(f->err, f->errlen, "png image could not be decoded: %s", msg);
    png_longjmp(png, 1);
}

/* Warnings (an unknown ancillary chunk, a bad sRGB) change no pixel. */
static void on_warning(png_structp png, png_const_charp msg)
{
    (void)png; (void)msg;
}

gdImagePtr tiler_png_load_rows(FILE *f, tiler_rows_fn fn, void *ctx, int *other_kind, char *err, size_t errlen)
{
    failure fail = { err, errlen };
    png_structp png;
    png_infop info;
    gdImagePtr volatile im = NULL;
    unsigned char *volatile row = NULL;
    png_uint_32 w, h, y, x;
    int depth, type, interlace, channels;

    *other_kind = 0;
    if (!(png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &fail, on_error, on_warning))) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (!(info = png_create_info_struct(png))) {
        png_destroy_read_struct(&png, NULL, NULL);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(row);
        if (im) gdImageDestroy(im);
        return NULL;
    }
    png_init_io(png, f);
    png_read_info(png, info);
    png_get_IHDR(png, info, &w, &h, &depth, &type, &interlace, NULL, NULL);
    if (depth != 8 || interlace != PNG_INTERLACE_NONE || png_get_valid(png, info, PNG_INFO_tRNS)
        || (type != PNG_COLOR_TYPE_RGB && type != PNG_COLOR_TYPE_RGB_ALPHA)) {
        *other_kind = 1;
        snprintf(err, errlen, "a PNG libgd maps its own way");
        png_destroy_read_struct(&png, &info, NULL);
        return NULL;
    }
    channels = type == PNG_COLOR_TYPE_RGB_ALPHA ? 4 : 3;
    if (!(im = gdImageCreateTrueColor((int)w, (int)h)) || !(row = malloc((size_t)w * (size_t)channels))) {
        snprintf(err, errlen, "out of memory for a %ux%u image", (unsigned)w, (unsigned)h);
        png_longjmp(png, 1);
    }
    for (y = 0; y < h; y++) {
        int *px = im->tpixels[y];
        const unsigned char *p = row;
        png_read_row(png, row, NULL);
        /* libgd's mapping: 7-bit alpha, 0 opaque (127 - a/2). */
        if (channels == 4)
            for (x = 0; x < w; x++, p += 4) px[x] = gdTrueColorAlpha(p[0], p[1], p[2], gdAlphaMax - (p[3] >> 1));
        else
            for (x = 0; x < w; x++, p += 3) px[x] = gdTrueColor(p[0], p[1], p[2]);
        /* Every 16 rows is often enough for whoever cuts tiles. */
        if (fn && ((y + 1) % 16 == 0 || y + 1 == h) && fn(ctx, im, y + 1, err, errlen)) {
            png_destroy_read_struct(&png, &info, NULL);
            free(row);
            gdImageDestroy(im);
            return NULL;
        }
    }
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    free(row);
    gdImageAlphaBlending(im, 0);
    gdImageSaveAlpha(im, 1);
    return im;
}
