/* tiler-bigimg OUT.png WIDTH HEIGHT [SEED]: a big, cheap test image, written
 * a row at a time (never whole in memory): one flat colour with small
 * squares of noise scattered over it, some on tile borders and in the last
 * rows, so that tiles, their halos and the last band all carry detail.
 * Flat rows deflate to almost nothing: 625 MP is a few megabytes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <png.h>

#define SQUARES 400
#define SIDE 24

typedef struct { uint32_t x, y; } square;

static uint32_t next(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

int main(int argc, char **argv)
{
    uint32_t w, h, seed, s, x, y, i;
    square sq[SQUARES];
    unsigned char *row;
    png_structp png;
    png_infop info;
    FILE *f;

    if (argc < 4 || !(w = (uint32_t)strtoul(argv[2], NULL, 10)) || !(h = (uint32_t)strtoul(argv[3], NULL, 10))) {
        fprintf(stderr, "usage: tiler-bigimg OUT.png WIDTH HEIGHT [SEED]\n");
        return 2;
    }
    seed = argc > 4 ? (uint32_t)strtoul(argv[4], NULL, 10) : 1;
    s = seed * 2654435761u + 1;
    for (i = 0; i < SQUARES; i++) {
        /* A quarter sit across a 512-pixel tile corner, a few in the last rows. */
        x = next(&s) % w;
        y = i < 8 ? h - 1 - next(&s) % (h < SIDE ? h : SIDE) : next(&s) % h;
        if (i % 4 == 1) { x = x / 512 * 512; y = y / 512 * 512; }
        sq[i].x = x >= SIDE / 2 ? x - SIDE / 2 : 0;
        sq[i].y = y >= SIDE / 2 ? y - SIDE / 2 : 0;
    }
    if (!(f = fopen(argv[1], "wb")) || !(row = malloc((size_t)w * 3))) {
        fprintf(stderr, "tiler-bigimg: cannot write %s\n", argv[1]);
        return 1;
    }
    png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        fprintf(stderr, "tiler-bigimg: libpng failed\n");
        return 1;
    }
    png_init_io(png, f);
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
    png_set_compression_level(png, 1);
    png_set_filter(png, 0, PNG_FILTER_UP);
    png_set_IHDR(png, info, w, h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (y = 0; y < h; y++) {
        for (x = 0; x < w; x++) { row[3 * x] = 40; row[3 * x + 1] = 120; row[3 * x + 2] = 200; }
        for (i = 0; i < SQUARES; i++) {
            if (y < sq[i].y || y >= sq[i].y + SIDE) continue;
            for (x = sq[i].x; x < sq[i].x + SIDE && x < w; x++) {
                uint32_t v = (x * 73856093u) ^ (y * 19349663u) ^ (i * 83492791u);
                row[3 * x] = (unsigned char)v;
                row[3 * x + 1] = (unsigned char)(v >> 8);
                row[3 * x + 2] = (unsigned char)(v >> 16);
            }
        }
        png_write_row(png, row);
    }
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    free(row);
    return fclose(f) ? 1 : 0;
}
