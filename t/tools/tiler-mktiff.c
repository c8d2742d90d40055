/* tiler-mktiff OUT W H [WORD...]: a test TIFF of testimg.h's picture,
 * written with libtiff (t/unit/tiffwrite.h), for the integration tests and
 * the fuzzer's seeds. Words: grey, greya, rgb (default), rgba; none
 * (default), lzw, deflate, packbits, jpeg; tile=N or rps=N; big (BigTIFF);
 * assoc (premultiplied alpha); ycbcr (JPEG); predictor; seed=N. Kinds
 * refused: bits=16, cmyk, palette. Hostile surgery after writing (classic
 * TIFF): bad-offset, past-end, short-count (tiled), huge (one strip
 * declared 30000 x 30000), loop (the directory's next is itself);
 * jpeg-narrow (the width doubled: JPEG strips half as wide as declared),
 * jpeg-small-tiles (tile sides doubled: JPEG tiles smaller than declared),
 * jpeg-big-strip (one strip declared 5000 x 4000), ycbcr-1x1
 * (YCbCrSubsampling 1,1 over 2x2 JPEG data), tiny-tiles (1 x 1 tiles). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../unit/testimg.h"
#include "../unit/tmpdir.h"
#include "../unit/tiffwrite.h"

static int surgery(const char *path, const char *what)
{
    long size;
    unsigned char *f = (unsigned char *)slurp(path, &size);
    uint32_t v = 0;
    int rc = -1;
    if (!f || !size) return -1;
    if (!strcmp(what, "bad-offset"))
        rc = tiffw_get(f, size, TIFFTAG_TILEOFFSETS, 0, &v) < 0 ? -1 : tiffw_set(f, size, TIFFTAG_TILEOFFSETS, 1, v + 5);
    else if (!strcmp(what, "past-end"))
        rc = tiffw_set(f, size, TIFFTAG_TILEOFFSETS, 1, (uint32_t)size + 100000);
    else if (!strcmp(what, "short-count"))
        rc = tiffw_get(f, size, TIFFTAG_TILEBYTECOUNTS, 1, &v) < 0 ? -1 : tiffw_set(f, size, TIFFTAG_TILEBYTECOUNTS, 1, v / 3);
    else if (!strcmp(what, "huge"))
        rc = tiffw_set_size(f, size, TIFFTAG_IMAGEWIDTH, 30000) < 0 || tiffw_set_size(f, size, TIFFTAG_IMAGELENGTH, 30000) < 0
             || tiffw_set_size(f, size, TIFFTAG_ROWSPERSTRIP, 30000) < 0 ? -1 : 0;
    else if (!strcmp(what, "loop"))
        rc = tiffw_ifd_loop(f, size);
    else if (!strcmp(what, "jpeg-narrow"))
        rc = tiffw_get(f, size, TIFFTAG_IMAGEWIDTH, 0, &v) < 0 ? -1 : tiffw_set_size(f, size, TIFFTAG_IMAGEWIDTH, 2 * v);
    else if (!strcmp(what, "jpeg-small-tiles"))
        rc = tiffw_get(f, size, TIFFTAG_TILEWIDTH, 0, &v) < 0 || tiffw_set_size(f, size, TIFFTAG_TILEWIDTH, 2 * v) < 0
             || tiffw_set_size(f, size, TIFFTAG_TILELENGTH, 2 * v) < 0 ? -1 : 0;
    else if (!strcmp(what, "jpeg-big-strip"))
        rc = tiffw_set_size(f, size, TIFFTAG_IMAGEWIDTH, 5000) < 0 || tiffw_set_size(f, size, TIFFTAG_IMAGELENGTH, 4000) < 0
             || tiffw_set_size(f, size, TIFFTAG_ROWSPERSTRIP, 4000) < 0 ? -1 : 0;
    else if (!strcmp(what, "ycbcr-1x1"))
        rc = tiffw_set(f, size, TIFFTAG_YCBCRSUBSAMPLING, 0, 1) < 0 || tiffw_set(f, size, TIFFTAG_YCBCRSUBSAMPLING, 1, 1) < 0 ? -1 : 0;
    else if (!strcmp(what, "tiny-tiles"))
        rc = tiffw_set_size(f, size, TIFFTAG_TILEWIDTH, 1) < 0 || tiffw_set_size(f, size, TIFFTAG_TILELENGTH, 1) < 0 ? -1 : 0;
    if (rc == 0) spew(path, (const char *)f, (size_t)size);
    free(f);
    return rc;
}

int main(int argc, char **argv)
{
    tiffkind k;
    gdImagePtr im;
    const char *hostile = NULL;
    unsigned seed = 1;
    int i;
    if (argc < 4) {
        fprintf(stderr, "usage: tiler-mktiff OUT W H [grey|greya|rgb|rgba] [none|lzw|deflate|packbits|jpeg] [tile=N|rps=N] "
                        "[big] [assoc] [ycbcr] [predictor] [seed=N] [bits=16|cmyk|palette] "
                        "[bad-offset|past-end|short-count|huge|loop|jpeg-narrow|jpeg-small-tiles|jpeg-big-strip|ycbcr-1x1|tiny-tiles]\n");
        return 2;
    }
    memset(&k, 0, sizeof(k));
    k.chans = 3;
    k.comp = COMPRESSION_NONE;
    for (i = 4; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "grey")) k.chans = 1;
        else if (!strcmp(a, "greya")) k.chans = 2;
        else if (!strcmp(a, "rgb")) k.chans = 3;
        else if (!strcmp(a, "rgba")) k.chans = 4;
        else if (!strcmp(a, "none")) k.comp = COMPRESSION_NONE;
        else if (!strcmp(a, "lzw")) k.comp = COMPRESSION_LZW;
        else if (!strcmp(a, "deflate")) k.comp = COMPRESSION_ADOBE_DEFLATE;
        else if (!strcmp(a, "packbits")) k.comp = COMPRESSION_PACKBITS;
        else if (!strcmp(a, "jpeg")) k.comp = COMPRESSION_JPEG;
        else if (!strncmp(a, "tile=", 5)) k.tile = (uint32_t)atoi(a + 5);
        else if (!strncmp(a, "rps=", 4)) k.rps = (uint32_t)atoi(a + 4);
        else if (!strcmp(a, "big")) k.big = 1;
        else if (!strcmp(a, "assoc")) k.assoc = 1;
        else if (!strcmp(a, "ycbcr")) k.ycbcr = 1;
        else if (!strcmp(a, "predictor")) k.predictor = 1;
        else if (!strncmp(a, "seed=", 5)) seed = (unsigned)atoi(a + 5);
        else if (!strcmp(a, "bits=16")) k.bits = 16;
        else if (!strcmp(a, "cmyk")) k.cmyk = 1;
        else if (!strcmp(a, "palette")) k.palette = 1;
        else if (!strcmp(a, "bad-offset") || !strcmp(a, "past-end") || !strcmp(a, "short-count") || !strcmp(a, "huge")
                 || !strcmp(a, "loop") || !strcmp(a, "jpeg-narrow") || !strcmp(a, "jpeg-small-tiles")
                 || !strcmp(a, "jpeg-big-strip") || !strcmp(a, "ycbcr-1x1") || !strcmp(a, "tiny-tiles")) hostile = a;
        else { fprintf(stderr, "tiler-mktiff: unknown word %s\n", a); return 2; }
    }
    if (!(im = testimg_make(atoi(argv[2]), atoi(argv[3]), k.chans % 2 == 0, seed))) {
        fprintf(stderr, "tiler-mktiff: cannot make a %sx%s image\n", argv[2], argv[3]);
        return 1;
    }
    if (tiffw_write(argv[1], im, &k) < 0) {
        fprintf(stderr, "tiler-mktiff: cannot write %s\n", argv[1]);
        return 1;
    }
    gdImageDestroy(im);
    if (hostile && surgery(argv[1], hostile) < 0) {
        fprintf(stderr, "tiler-mktiff: %s does not apply to this file\n", hostile);
        return 1;
    }
    return 0;
}
