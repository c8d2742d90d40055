/* tiler-imgcmp A B: decodes both images and compares every pixel, alpha
 * included. Exit 0 identical, 1 different (one line says where), 2 error. */
#include <stdio.h>
#include "tiler_image.h"

static gdImagePtr load(const char *path)
{
    tiler_format fmt;
    uint32_t w, h;
    char err[512];
    gdImagePtr im;
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "tiler-imgcmp: cannot open %s\n", path); return NULL; }
    if (tiler_probe_file(f, &fmt, &w, &h, err, sizeof(err)) < 0) {
        fclose(f);
        fprintf(stderr, "tiler-imgcmp: %s: %s\n", path, err);
        return NULL;
    }
    fclose(f);
    if (!(im = tiler_image_load(path, fmt, err, sizeof(err)))) fprintf(stderr, "tiler-imgcmp: %s: %s\n", path, err);
    return im;
}

int main(int argc, char **argv)
{
    gdImagePtr a, b;
    long diff = 0;
    int x, y, fx = -1, fy = -1;
    if (argc != 3) { fprintf(stderr, "usage: tiler-imgcmp A B\n"); return 2; }
    tiler_gd_errors_capture();
    if (!(a = load(argv[1])) || !(b = load(argv[2]))) return 2;
    if (gdImageSX(a) != gdImageSX(b) || gdImageSY(a) != gdImageSY(b)) {
        printf("sizes differ: %dx%d vs %dx%d\n", gdImageSX(a), gdImageSY(a), gdImageSX(b), gdImageSY(b));
        return 1;
    }
    for (y = 0; y < gdImageSY(a); y++)
        for (x = 0; x < gdImageSX(a); x++)
            if (a->tpixels[y][x] != b->tpixels[y][x]) { if (!diff++) { fx = x; fy = y; } }
    if (diff) {
        printf("%ld pixels differ; first at %d,%d: %08x vs %08x\n", diff, fx, fy, a->tpixels[fy][fx], b->tpixels[fy][fx]);
        return 1;
    }
    printf("identical: %dx%d\n", gdImageSX(a), gdImageSY(a));
    return 0;
}
