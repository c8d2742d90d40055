/* tiler-testimg OUT WIDTH HEIGHT [png|jpeg|gif|bmp|webp] [alpha] [seed]
 * Writes a deterministic photo-like test image. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../unit/testimg.h"

int main(int argc, char **argv)
{
    const char *fmt = argc > 4 ? argv[4] : "png";
    int w, h, alpha = argc > 5 && !strcmp(argv[5], "alpha");
    uint32_t seed = argc > 6 ? (uint32_t)strtoul(argv[6], NULL, 10) : 1;
    gdImagePtr im;
    FILE *f;
    if (argc < 4 || (w = atoi(argv[2])) <= 0 || (h = atoi(argv[3])) <= 0) {
        fprintf(stderr, "usage: tiler-testimg OUT WIDTH HEIGHT [png|jpeg|gif|bmp|webp] [alpha|opaque] [seed]\n");
        return 2;
    }
    if (!(im = testimg_make(w, h, alpha, seed)) || !(f = fopen(argv[1], "wb"))) {
        fprintf(stderr, "tiler-testimg: cannot make %s\n", argv[1]);
        return 1;
    }
    if (!strcmp(fmt, "jpeg")) gdImageJpeg(im, f, 92);
    else if (!strcmp(fmt, "gif")) gdImageGif(im, f);
    else if (!strcmp(fmt, "bmp")) gdImageBmp(im, f, 0);
    else if (!strcmp(fmt, "webp")) gdImageWebpEx(im, f, 101 /* lossless */);
    else gdImagePngEx(im, f, 1);
    fclose(f);
    gdImageDestroy(im);
    return 0;
}
