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

/* What libgd's loader gives each index of a palette PNG: the palette
 * colour, 7-bit alpha from tRNS (127 - a/2), opaque black past the palette,
 * and for the first fully transparent index, transparent black. */
static void palette_lut(png_structp png, png_infop info, int lut[256])
{
    png_colorp pal = NULL;
    png_bytep trans = NULL;
    int npal = 0, ntrans = 0, i, first_clear = -1;
    png_get_PLTE(png, info, &pal, &npal);
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_get_tRNS(png, info, &trans, &ntrans, NULL);
    for (i = 0; i < 256; i++) {
        int a = i < ntrans ? gdAlphaMax - (trans[i] >> 1) : gdAlphaOpaque;
        if (i < ntrans && trans[i] == 0 && first_clear < 0) first_clear = i;
        lut[i] = i < npal ? gdTrueColorAlpha(pal[i].red, pal[i].green, pal[i].blue, a) : gdTrueColorAlpha(0, 0, 0, a);
    }
    if (first_clear >= 0) lut[first_clear] = gdTrueColorAlpha(0, 0, 0, gdAlphaMax);
}

static int lut_has_alpha(const int lut[256])
{
    int i, any = 0;
    for (i = 0; i < 256; i++) any |= lut[i] & 0x7f000000;
    return any != 0;
}

/* libgd's grey ramp: levels spread over 0..255 for 1, 2 and 4 bits. A
 * tRNS grey makes that one level transparent black (for 16 bits, every
 * sample with its high byte). */
static void grey_lut(png_structp png, png_infop info, int depth, int lut[256])
{
    png_color_16p trans = NULL;
    int i, levels = depth < 8 ? 1 << depth : 256;
    for (i = 0; i < 256; i++) {
        int v = levels == 256 ? i : (255 * (i < levels ? i : levels - 1)) / (levels - 1);
        lut[i] = gdTrueColor(v, v, v);
    }
    if (png_get_valid(png, info, PNG_INFO_tRNS) && png_get_tRNS(png, info, NULL, NULL, &trans) && trans)
        lut[(depth == 16 ? trans->gray >> 8 : trans->gray) & 0xff] = gdTrueColorAlpha(0, 0, 0, gdAlphaMax);
}

int tiler_png_decode(FILE *f, tiler_band *b, char *err, size_t errlen)
{
    failure fail = { err, errlen };
    png_structp png;
    png_infop info;
    unsigned char *volatile row = NULL;
    png_uint_32 w, h, y, x;
    int depth, type, interlace, channels, passes, pass, alpha, lut[256];
    size_t rowbytes;

    if (!(png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &fail, on_error, on_warning))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (!(info = png_create_info_struct(png))) {
        png_destroy_read_struct(&png, NULL, NULL);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(row);
        return -1;
    }
    png_init_io(png, f);
    /* libpng's own default refuses sides above 1,000,000; a PNG may have
     * up to 2^31 - 1. What the module accepts is its own check. */
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
    png_read_info(png, info);
    png_get_IHDR(png, info, &w, &h, &depth, &type, &interlace, NULL, NULL);
    /* The transforms libgd's loader asks for, so the samples are its own. */
    if (depth == 16) png_set_strip_16(png);
    if (depth < 8) png_set_packing(png);
    if (type == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);
    channels = png_get_channels(png, info);
    if (type == PNG_COLOR_TYPE_PALETTE) palette_lut(png, info, lut);
    else if (type == PNG_COLOR_TYPE_GRAY) grey_lut(png, info, depth, lut);
    /* An RGB tRNS colour: libgd keeps it aside and leaves the pixels opaque.
     * Whether pixels can be transparent, known before the first rows: an
     * alpha channel (grey with alpha is RGBA by now), or a palette or grey
     * level that tRNS makes transparent. */
    alpha = channels == 4 || (channels == 1 && lut_has_alpha(lut));
    rowbytes = (size_t)w * (size_t)channels;
    if (png_get_rowbytes(png, info) != rowbytes) {
        snprintf(err, errlen, "png image could not be decoded: unexpected row layout");
        png_longjmp(png, 1);
    }
    if (tiler_band_start(b, w, h, alpha, err, errlen) < 0) png_longjmp(png, 1);
    /* Interlaced: every pass touches rows all down the image, so the
     * samples of the whole image are read first (as libgd's loader does)
     * and no tile can leave before the end. */
    if ((passes > 1 && (uint64_t)rowbytes * h > SIZE_MAX) || !(row = malloc(passes > 1 ? rowbytes * h : rowbytes))) {
        snprintf(err, errlen, "out of memory for a %ux%u image", (unsigned)w, (unsigned)h);
        png_longjmp(png, 1);
    }
    for (pass = 0; passes > 1 && pass < passes; pass++)
        for (y = 0; y < h; y++) png_read_row(png, row + rowbytes * y, NULL);
    for (y = 0; y < h; y++) {
        int *px = tiler_band_row(b, y);
        const unsigned char *p = passes > 1 ? row + rowbytes * y : row;
        if (passes == 1) png_read_row(png, row, NULL);
        /* libgd's mapping: 7-bit alpha, 0 opaque (127 - a/2). */
        if (channels == 4)
            for (x = 0; x < w; x++, p += 4) px[x] = gdTrueColorAlpha(p[0], p[1], p[2], gdAlphaMax - (p[3] >> 1));
        else if (channels == 3)
            for (x = 0; x < w; x++, p += 3) px[x] = gdTrueColor(p[0], p[1], p[2]);
        else
            for (x = 0; x < w; x++) px[x] = lut[p[x]];
        /* The last rows wait for the end of the file (as in tiler_jpeg.c):
         * a file corrupt after its pixels must not let every tile out first. */
        if (y + 1 < h && tiler_band_done(b, y + 1, err, errlen)) break;
    }
    if (y == h) png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    free(row);
    if (y < h) return -1;
    return tiler_band_done(b, h, err, errlen) ? -1 : 0;
}
