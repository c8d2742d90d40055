/* tiler-imgcmp [--stream] A B: decodes both images and compares every
 * pixel, alpha included. Exit 0 identical, 1 different (one line says
 * where), 2 error. --stream decodes each through a band and compares a
 * 64-bit hash of every row, for images too big to hold: memory grows with
 * the width and 8 bytes a row. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

typedef struct { uint64_t *hash; uint32_t rows; } row_hashes;

/* FNV-1a over the row's pixel values. */
static int hash_rows(void *ctx, const tiler_band *b, uint32_t tile_row, char *err, size_t errlen)
{
    row_hashes *r = ctx;
    uint32_t y, x;
    (void)err; (void)errlen;
    if (!r->hash && !(r->hash = calloc(b->height, sizeof(uint64_t)))) return 1;
    r->rows = b->height;
    for (y = tiler_band_first_row(b, tile_row); y < tiler_band_need(b, tile_row); y++) {
        const int *px = tiler_band_get(b, y);
        uint64_t hv = 1469598103934665603ull;
        for (x = 0; x < b->width; x++) hv = (hv ^ (uint32_t)px[x]) * 1099511628211ull;
        r->hash[y] = hv;
    }
    return 0;
}

static int stream(const char *path, row_hashes *r, uint32_t *w)
{
    tiler_format fmt;
    uint32_t h;
    char err[512];
    tiler_band b;
    int rc;
    FILE *f = fopen(path, "rb");
    if (!f || tiler_probe_file(f, &fmt, w, &h, err, sizeof(err)) < 0) {
        fprintf(stderr, "tiler-imgcmp: %s: %s\n", path, f ? err : "cannot open");
        if (f) fclose(f);
        return -1;
    }
    fclose(f);
    tiler_band_init(&b, 64, 0, 0, hash_rows, r);
    rc = tiler_image_stream(path, fmt, &b, err, sizeof(err));
    tiler_band_free(&b);
    if (rc < 0) fprintf(stderr, "tiler-imgcmp: %s: %s\n", path, err);
    return rc;
}

static int compare_streamed(const char *pa, const char *pb)
{
    row_hashes a = { NULL, 0 }, b = { NULL, 0 };
    uint32_t wa, wb, y, diff = 0, first = 0;
    if (stream(pa, &a, &wa) < 0 || stream(pb, &b, &wb) < 0) return 2;
    if (wa != wb || a.rows != b.rows) {
        printf("sizes differ: %ux%u vs %ux%u\n", wa, a.rows, wb, b.rows);
        return 1;
    }
    for (y = 0; y < a.rows; y++)
        if (a.hash[y] != b.hash[y] && !diff++) first = y;
    if (diff) {
        printf("%u rows differ; the first is row %u\n", diff, first);
        return 1;
    }
    printf("identical: %ux%u\n", wa, a.rows);
    return 0;
}

int main(int argc, char **argv)
{
    gdImagePtr a, b;
    long diff = 0;
    int x, y, fx = -1, fy = -1, rc = 0;
    tiler_gd_errors_capture();
    if (argc == 4 && !strcmp(argv[1], "--stream")) return compare_streamed(argv[2], argv[3]);
    if (argc != 3) { fprintf(stderr, "usage: tiler-imgcmp [--stream] A B\n"); return 2; }
    a = load(argv[1]);
    b = a ? load(argv[2]) : NULL;
    if (!a || !b) rc = 2;
    else if (gdImageSX(a) != gdImageSX(b) || gdImageSY(a) != gdImageSY(b)) {
        printf("sizes differ: %dx%d vs %dx%d\n", gdImageSX(a), gdImageSY(a), gdImageSX(b), gdImageSY(b));
        rc = 1;
    } else {
        for (y = 0; y < gdImageSY(a); y++)
            for (x = 0; x < gdImageSX(a); x++)
                if (a->tpixels[y][x] != b->tpixels[y][x]) { if (!diff++) { fx = x; fy = y; } }
        if (diff) {
            printf("%ld pixels differ; first at %d,%d: %08x vs %08x\n", diff, fx, fy, a->tpixels[fy][fx], b->tpixels[fy][fx]);
            rc = 1;
        } else {
            printf("identical: %dx%d\n", gdImageSX(a), gdImageSY(a));
        }
    }
    /* Freed so that the sanitizer build's leak check speaks only of real leaks. */
    if (a) gdImageDestroy(a);
    if (b) gdImageDestroy(b);
    return rc;
}
