/* tiler-testimg OUT WIDTH HEIGHT [FORMAT] [alpha|opaque|alpha-below:ROW] [seed]
 * Writes a deterministic photo-like test image. FORMAT: png, jpeg, gif,
 * bmp, webp, and the odd ones: png-interlaced, png-palette, gif-anim
 * (three frames; the first is the test image), jpeg-cmyk, jpeg-progressive.
 * alpha-below:ROW leaves the rows above ROW opaque (transparency only
 * further down). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include "../unit/testimg.h"

/* libgd writes no CMYK JPEG; libjpeg does, with Adobe-style inverted ink. */
static int write_cmyk(gdImagePtr im, FILE *f)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    JSAMPROW row;
    int x, y, w = gdImageSX(im);
    unsigned char *buf = malloc((size_t)w * 4);
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)gdImageSY(im);
    c.input_components = 4;
    c.in_color_space = JCS_CMYK;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 90, TRUE);
    c.write_Adobe_marker = TRUE;
    jpeg_start_compress(&c, TRUE);
    for (y = 0; y < gdImageSY(im); y++) {
        for (x = 0; x < w; x++) {
            int p = im->tpixels[y][x], r = gdTrueColorGetRed(p), g = gdTrueColorGetGreen(p), b = gdTrueColorGetBlue(p);
            int k = 255 - (r > g ? (r > b ? r : b) : (g > b ? g : b));
            buf[4 * x] = (unsigned char)(255 - (255 - r - k));
            buf[4 * x + 1] = (unsigned char)(255 - (255 - g - k));
            buf[4 * x + 2] = (unsigned char)(255 - (255 - b - k));
            buf[4 * x + 3] = (unsigned char)(255 - k);
        }
        row = buf;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    const char *fmt = argc > 4 ? argv[4] : "png";
    int w, h, alpha = argc > 5 && !strncmp(argv[5], "alpha", 5), opaque_rows = 0, x, y;
    uint32_t seed = argc > 6 ? (uint32_t)strtoul(argv[6], NULL, 10) : 1;
    gdImagePtr im;
    FILE *f;
    if (argc < 4 || (w = atoi(argv[2])) <= 0 || (h = atoi(argv[3])) <= 0) {
        fprintf(stderr, "usage: tiler-testimg OUT WIDTH HEIGHT [png|jpeg|gif|bmp|webp] [alpha|opaque] [seed]\n");
        return 2;
    }
    if (alpha && !strncmp(argv[5], "alpha-below:", 12)) opaque_rows = atoi(argv[5] + 12);
    if (!(im = testimg_make(w, h, alpha, seed)) || !(f = fopen(argv[1], "wb"))) {
        fprintf(stderr, "tiler-testimg: cannot make %s\n", argv[1]);
        return 1;
    }
    for (y = 0; y < opaque_rows && y < h; y++)
        for (x = 0; x < w; x++) im->tpixels[y][x] &= 0x00ffffff;
    if (!strcmp(fmt, "jpeg")) gdImageJpeg(im, f, 92);
    else if (!strcmp(fmt, "jpeg-cmyk")) write_cmyk(im, f);
    else if (!strcmp(fmt, "png-interlaced")) { gdImageInterlace(im, 1); gdImagePngEx(im, f, 1); }
    else if (!strcmp(fmt, "jpeg-progressive")) { gdImageInterlace(im, 1); gdImageJpeg(im, f, 92); }
    else if (!strcmp(fmt, "png-palette")) {
        gdImagePtr pal = gdImageCreatePaletteFromTrueColor(im, 1, 200);
        gdImagePng(pal, f);
        gdImageDestroy(pal);
    } else if (!strcmp(fmt, "gif-anim")) {
        gdImagePtr frames[3];
        int i;
        frames[0] = gdImageCreatePaletteFromTrueColor(im, 0, 256);
        for (i = 1; i < 3; i++) {
            gdImagePtr other = testimg_make(w, h, 0, seed + (uint32_t)i);
            frames[i] = gdImageCreatePaletteFromTrueColor(other, 0, 256);
            gdImageDestroy(other);
        }
        gdImageGifAnimBegin(frames[0], f, 1, 0);
        for (i = 0; i < 3; i++) { gdImageGifAnimAdd(frames[i], f, 1, 0, 0, 10, gdDisposalNone, NULL); gdImageDestroy(frames[i]); }
        gdImageGifAnimEnd(f);
    }
    else if (!strcmp(fmt, "gif")) gdImageGif(im, f);
    else if (!strcmp(fmt, "bmp")) gdImageBmp(im, f, 0);
    else if (!strcmp(fmt, "webp")) gdImageWebpEx(im, f, 101 /* lossless */);
    else gdImagePngEx(im, f, 1);
    fclose(f);
    gdImageDestroy(im);
    return 0;
}
