/* tiler-bigimg OUT WIDTH HEIGHT [SEED] [flat|photo]: a big test image,
 * written a row at a time (never whole in memory), as a PNG, or as a
 * baseline JPEG (quality 90, 4:2:0) when OUT ends in .jpg or .jpeg.
 *   flat  (the default): one colour with small squares of noise scattered
 *         over it, some on tile borders and in the last rows, so that
 *         tiles, their halos and the last band all carry detail. Flat rows
 *         compress to almost nothing: 625 MP is a few megabytes of PNG.
 *   photo: what bench/run times, like tiler-testimg's photo-like image
 *         (gradients, hard edges, noise) but gentler noise, so that a
 *         JPEG is about the size of a photo's (a byte a pixel or less)
 *         rather than of noise. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include <png.h>

#define SQUARES 400
#define SIDE 24

typedef struct { uint32_t x, y; } square;

typedef struct {
    uint32_t w, h, s;
    int photo;
    square sq[SQUARES];
} pattern;

static uint32_t next(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

static void pattern_init(pattern *p, uint32_t w, uint32_t h, uint32_t seed, int photo)
{
    uint32_t i, x, y, s = seed * 2654435761u + 1;
    p->w = w;
    p->h = h;
    p->photo = photo;
    p->s = s;
    for (i = 0; i < SQUARES; i++) {
        /* A quarter sit across a 512-pixel tile corner, a few in the last rows. */
        x = next(&s) % w;
        y = i < 8 ? h - 1 - next(&s) % (h < SIDE ? h : SIDE) : next(&s) % h;
        if (i % 4 == 1) { x = x / 512 * 512; y = y / 512 * 512; }
        p->sq[i].x = x >= SIDE / 2 ? x - SIDE / 2 : 0;
        p->sq[i].y = y >= SIDE / 2 ? y - SIDE / 2 : 0;
    }
}

/* Row y as RGB, 3 bytes a pixel. */
static void pattern_row(pattern *p, uint32_t y, unsigned char *row)
{
    uint32_t x, i;
    if (p->photo) {
        /* 64-bit products: x * 255 overflows 32 bits past 16 M pixels. */
        unsigned g = (unsigned)((uint64_t)y * 255 / (p->h > 1 ? p->h - 1 : 1));
        for (x = 0; x < p->w; x++) {
            uint32_t n = next(&p->s);
            row[3 * x] = (unsigned char)((uint64_t)x * 255 / (p->w > 1 ? p->w - 1 : 1) + (n >> 22));
            row[3 * x + 1] = (unsigned char)(g + ((n >> 18) & 3));
            row[3 * x + 2] = (unsigned char)((((x / 61 + y / 47) & 1) ? 200 : 50) + ((n >> 12) & 7));
        }
        return;
    }
    for (x = 0; x < p->w; x++) { row[3 * x] = 40; row[3 * x + 1] = 120; row[3 * x + 2] = 200; }
    for (i = 0; i < SQUARES; i++) {
        if (y < p->sq[i].y || y >= p->sq[i].y + SIDE) continue;
        for (x = p->sq[i].x; x < p->sq[i].x + SIDE && x < p->w; x++) {
            uint32_t v = (x * 73856093u) ^ (y * 19349663u) ^ (i * 83492791u);
            row[3 * x] = (unsigned char)v;
            row[3 * x + 1] = (unsigned char)(v >> 8);
            row[3 * x + 2] = (unsigned char)(v >> 16);
        }
    }
}

static int write_png(FILE *f, pattern *p, unsigned char *row)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    uint32_t y;
    if (setjmp(png_jmpbuf(png))) {
        fprintf(stderr, "tiler-bigimg: libpng failed\n");
        return -1;
    }
    png_init_io(png, f);
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
    png_set_compression_level(png, 1);
    png_set_filter(png, 0, PNG_FILTER_UP);
    png_set_IHDR(png, info, p->w, p->h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (y = 0; y < p->h; y++) {
        pattern_row(p, y, row);
        png_write_row(png, row);
    }
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    return 0;
}

/* Baseline (not progressive: that kind decodes whole), libjpeg's defaults.
 * libjpeg's own errors exit the process with its message. */
static int write_jpeg(FILE *f, pattern *p, unsigned char *row)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    JSAMPROW rows[1] = { row };
    uint32_t y;
    if (p->w > JPEG_MAX_DIMENSION || p->h > JPEG_MAX_DIMENSION) {
        fprintf(stderr, "tiler-bigimg: a JPEG may be at most %ld pixels a side\n", (long)JPEG_MAX_DIMENSION);
        return -1;
    }
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = p->w;
    c.image_height = p->h;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 90, TRUE);
    jpeg_start_compress(&c, TRUE);
    for (y = 0; y < p->h; y++) {
        pattern_row(p, y, row);
        jpeg_write_scanlines(&c, rows, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    return 0;
}

int main(int argc, char **argv)
{
    uint32_t w, h, seed;
    static pattern p;
    unsigned char *row;
    const char *ext;
    int photo = argc > 5 && !strcmp(argv[5], "photo"), rc;
    FILE *f;

    if (argc < 4 || !(w = (uint32_t)strtoul(argv[2], NULL, 10)) || !(h = (uint32_t)strtoul(argv[3], NULL, 10)) ||
        (argc > 5 && !photo && strcmp(argv[5], "flat"))) {
        fprintf(stderr, "usage: tiler-bigimg OUT.png|OUT.jpg WIDTH HEIGHT [SEED] [flat|photo]\n");
        return 2;
    }
    seed = argc > 4 ? (uint32_t)strtoul(argv[4], NULL, 10) : 1;
    pattern_init(&p, w, h, seed, photo);
    if (!(f = fopen(argv[1], "wb")) || !(row = malloc((size_t)w * 3))) {
        fprintf(stderr, "tiler-bigimg: cannot write %s\n", argv[1]);
        return 1;
    }
    ext = strrchr(argv[1], '.');
    rc = ext && (!strcmp(ext, ".jpg") || !strcmp(ext, ".jpeg")) ? write_jpeg(f, &p, row) : write_png(f, &p, row);
    free(row);
    return fclose(f) || rc < 0 ? 1 : 0;
}
