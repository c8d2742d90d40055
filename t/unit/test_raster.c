/* The raster's layouts (tiler_raster.h): which one a job gets; results in
 * every packing placed in rasters of every layout and read back, as gd
 * values and as stored, against a plain model of each layout; a grey
 * raster refusing colour; rectangles outside the raster refused; a file
 * whose size is no layout refused; a raster an earlier build made (4 bytes
 * a pixel) read as gd values. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tap.h"
#include "tmpdir.h"
#include "tiler_raster.h"

#define W 37
#define H 23

static uint32_t seed = 12345;
static uint32_t rnd(void) { seed = seed * 1103515245u + 12345u; return seed >> 8; }

/* A pixel a result of this packing can carry (grey ones for a grey raster). */
static int result_pixel(int msg_packing, int grey)
{
    uint32_t v = rnd();
    if (grey || msg_packing == TILER_PACK_GREY) return (int)((v & 0xff) * 0x010101u);
    if (msg_packing == TILER_PACK_RGB) return (int)(v & 0xffffff);
    return (int)(v & 0x7fffffff);
}

/* What a raster of the packing gives back for gd value v. */
static int model(int raster_packing, int v)
{
    if (raster_packing == TILER_PACK_GD) return v;
    if (raster_packing == TILER_PACK_RGB) return v & 0xffffff;
    return (v & 0xff) * 0x010101;
}

/* Places random tiles of one packing in a raster of another and checks
 * every pixel, read both ways, and the untouched ones still zero. */
static void place_and_read(int raster_packing, int msg_packing)
{
    const char *path = tmpdir_path("raster");
    int *want = calloc(W * H, sizeof(int)), *got = malloc(W * H * sizeof(int)), all = 1, round;
    unsigned char *packed = malloc((size_t)W * H * 4), *expect = malloc((size_t)W * H * 4);
    char err[256] = "";
    tiler_raster r;
    uint32_t i;

    ok(tiler_raster_create(path, W, H, raster_packing, err, sizeof(err)) == 0, "a %d-byte raster (%s)", raster_packing, err);
    all = tiler_raster_open(&r, path, W, H, 1, err, sizeof(err)) == 0 && r.packing == raster_packing;
    for (round = 0; all && round < 12; round++) {
        tiler_msg m;
        uint32_t x0 = rnd() % W, y0 = rnd() % H, w = 1 + rnd() % (W - x0), h = 1 + rnd() % (H - y0), x, y;
        int *px = malloc((size_t)w * h * sizeof(int));
        unsigned char *wire = malloc((size_t)w * h * 4);
        for (i = 0; i < w * h; i++) px[i] = result_pixel(msg_packing, raster_packing == TILER_PACK_GREY);
        for (y = 0; y < h; y++) tiler_pack_row(wire + (size_t)y * w * msg_packing, px + (size_t)y * w, w, msg_packing);
        memset(&m, 0, sizeof(m));
        m.tile_index = (uint32_t)round;
        m.src.x = x0; m.src.y = y0; m.src.w = w; m.src.h = h;
        m.packing = msg_packing == TILER_PACK_GD ? 0 : (uint8_t)msg_packing;
        m.pixels = wire;
        if (tiler_raster_put(&r, &m, err, sizeof(err)) < 0) all = 0;
        for (y = 0; y < h; y++)
            for (x = 0; x < w; x++) want[(y0 + y) * W + x0 + x] = model(raster_packing, px[y * w + x]);
        free(px);
        free(wire);
    }
    ok(all, "%d tiles of %d bytes a pixel placed (%s)", round, msg_packing, err);
    /* Whole, and in bands of 5 rows as the encoders read. */
    ok(tiler_raster_get(&r, 0, H, got, err, sizeof(err)) == 0 && !memcmp(got, want, W * H * sizeof(int)),
       "read back as gd values: each pixel as the %d-byte layout keeps it", raster_packing);
    for (i = 0, all = 1; i < H; i += 5) {
        uint32_t n = H - i < 5 ? H - i : 5;
        all = all && tiler_raster_get(&r, i, n, got, err, sizeof(err)) == 0 && !memcmp(got, want + i * W, (size_t)n * W * sizeof(int));
    }
    ok(all, "and in bands of 5 rows (%s)", err);
    for (i = 0; i < H; i++) tiler_pack_row(expect + (size_t)i * W * raster_packing, want + i * W, W, raster_packing);
    ok(tiler_raster_get_packed(&r, 2, H - 2, packed, err, sizeof(err)) == 0
       && !memcmp(packed, expect + (size_t)2 * W * raster_packing, (size_t)(H - 2) * W * raster_packing),
       "read back as stored: %d bytes a pixel", raster_packing);
    ok(tiler_raster_close(&r, err, sizeof(err)) == 0, "closed");
    unlink(path);
    free(want); free(got); free(packed); free(expect);
}

int main(void)
{
    static const int layouts[] = { TILER_PACK_GREY, TILER_PACK_RGB, TILER_PACK_GD };
    char err[256];
    const char *path;
    tiler_raster r;
    int a, b;

    if (tmpdir_make() < 0) { ok(0, "temporary directory"); return done_testing(); }
    path = tmpdir_path("raster");

    ok(tiler_raster_packing("invert,blur:2", 0) == TILER_PACK_RGB, "an opaque colour result: RGB");
    ok(tiler_raster_packing("grayscale,blur:3", 0) == TILER_PACK_GREY, "an opaque grey result: a byte a pixel");
    ok(tiler_raster_packing("blur:2,grayscale,rotate:90", 0) == TILER_PACK_GREY, "grey at the end of the chain: grey");
    ok(tiler_raster_packing("grayscale", 1) == TILER_PACK_GD && tiler_raster_packing("invert", 1) == TILER_PACK_GD,
       "an upload with transparency: gd values");
    ok(tiler_raster_packing("no-such-op", 0) == TILER_PACK_GD && tiler_raster_packing(NULL, 0) == TILER_PACK_GD,
       "a chain that does not parse: gd values");
    /* Before the upload decodes, for the room a job asks for. */
    ok(tiler_raster_packing_most("invert", TILER_FMT_JPEG, TILER_FMT_PNG) == TILER_PACK_RGB
       && tiler_raster_packing_most("grayscale", TILER_FMT_JPEG, TILER_FMT_PNG) == TILER_PACK_GREY,
       "a JPEG upload has no transparency: its layout is known");
    ok(tiler_raster_packing_most("invert", TILER_FMT_PNG, TILER_FMT_PNG) == TILER_PACK_GD
       && tiler_raster_packing_most("grayscale", TILER_FMT_TIFF, TILER_FMT_PNG) == TILER_PACK_GD,
       "a PNG or TIFF upload may have: gd values at most");
    ok(tiler_raster_packing_most("invert", TILER_FMT_PNG, TILER_FMT_JPEG) == TILER_PACK_RGB
       && tiler_raster_packing_most("grayscale", TILER_FMT_GIF, TILER_FMT_JPEG) == TILER_PACK_GREY,
       "a JPEG result keeps no transparency, whatever the upload");

    for (a = 0; a < 3; a++)
        for (b = 0; b < 3; b++) place_and_read(layouts[a], layouts[b]);

    /* A grey raster and a pixel with colour: refused, naming the tile. */
    ok(tiler_raster_create(path, W, H, TILER_PACK_GREY, err, sizeof(err)) == 0 && tiler_raster_open(&r, path, W, H, 1, err, sizeof(err)) == 0,
       "a grey raster");
    {
        unsigned char rgb[6] = { 9, 9, 9, 1, 2, 3 };
        tiler_msg m;
        memset(&m, 0, sizeof(m));
        m.tile_index = 7;
        m.src.x = 3; m.src.y = 4; m.src.w = 2; m.src.h = 1;
        m.packing = TILER_PACK_RGB;
        m.pixels = rgb;
        ok(tiler_raster_put(&r, &m, err, sizeof(err)) < 0 && strstr(err, "tile 7") && strstr(err, "not grey"),
           "colour in a grey raster: -1 (%s)", err);
        {
            /* A gd-valued result with colour, too. */
            int gd[2] = { 0x202020, 0x00102030 };
            m.packing = 0;
            m.pixels = (const unsigned char *)gd;
            ok(tiler_raster_put(&r, &m, err, sizeof(err)) < 0 && strstr(err, "not grey"),
               "a gd-valued pixel with colour in a grey raster: -1 (%s)", err);
            m.packing = 2;
            ok(tiler_raster_put(&r, &m, err, sizeof(err)) < 0 && strstr(err, "packed at 2"), "a packing of 2 bytes: -1 (%s)", err);
            m.packing = TILER_PACK_RGB;
            m.pixels = rgb;
        }
        /* Outside the raster, each way. */
        m.src.x = W - 1;
        ok(tiler_raster_put(&r, &m, err, sizeof(err)) < 0 && strstr(err, "outside"), "past the right edge: -1 (%s)", err);
        m.src.x = 0; m.src.y = H;
        ok(tiler_raster_put(&r, &m, err, sizeof(err)) < 0 && strstr(err, "outside"), "below the last row: -1 (%s)", err);
        m.src.y = 0xfffffffeu;
        ok(tiler_raster_put(&r, &m, err, sizeof(err)) < 0 && strstr(err, "outside"), "a y that would wrap: -1 (%s)", err);
        m.src.y = H - 1; m.src.w = 1; m.src.h = 2;
        ok(tiler_raster_put(&r, &m, err, sizeof(err)) < 0 && strstr(err, "outside"), "a tile running past the last row: -1 (%s)", err);
        m.src.y = 0; m.src.h = 1; m.src.w = 2; m.src.x = 0xfffffffeu;
        ok(tiler_raster_put(&r, &m, err, sizeof(err)) < 0 && strstr(err, "outside"), "an x that would wrap: -1 (%s)", err);
        m.src.x = 0; m.src.w = 0;
        ok(tiler_raster_put(&r, &m, err, sizeof(err)) < 0, "an empty rectangle: -1");
    }
    {
        int rows[W * 2];
        ok(tiler_raster_get(&r, H - 1, 2, rows, err, sizeof(err)) < 0 && strstr(err, "past"), "rows past the end: -1 (%s)", err);
        ok(tiler_raster_get(&r, 0, 0, rows, err, sizeof(err)) < 0, "no rows: -1");
    }
    tiler_raster_close(&r, err, sizeof(err));

    /* The layout comes from the size: another size is refused. */
    ok(truncate(path, (off_t)W * H * 2) == 0 && tiler_raster_open(&r, path, W, H, 0, err, sizeof(err)) < 0
       && strstr(err, "no layout"), "2 bytes a pixel: no layout (%s)", err);
    ok(truncate(path, (off_t)W * H * 3 + 1) == 0 && tiler_raster_open(&r, path, W, H, 0, err, sizeof(err)) < 0,
       "a byte over RGB: no layout");
    ok(tiler_raster_open(&r, path, 0, H, 0, err, sizeof(err)) < 0, "no width: refused");
    /* An earlier build's raster: 4 bytes a pixel whatever the chain. */
    {
        int v = 0x12345678, back = 0;
        FILE *f = fopen(path, "wb");
        ok(f && truncate(path, 0) == 0 && fseek(f, (long)(5 * W + 2) * 4, SEEK_SET) == 0 && fwrite(&v, 4, 1, f) == 1
           && fclose(f) == 0 && truncate(path, (off_t)W * H * 4) == 0, "a 4-byte raster written the old way");
        ok(tiler_raster_open(&r, path, W, H, 0, err, sizeof(err)) == 0 && r.packing == TILER_PACK_GD, "opens as gd values");
        {
            int row[W];
            if (tiler_raster_get(&r, 5, 1, row, err, sizeof(err)) == 0) back = row[2];
            ok(back == v, "and reads its pixel (%#x)", (unsigned)back);
        }
        tiler_raster_close(&r, err, sizeof(err));
    }
    /* Cut short after it was opened (as only a fault can): a read past
     * what is left fails, naming the rows. */
    ok(tiler_raster_create(path, W, H, TILER_PACK_RGB, err, sizeof(err)) == 0 && tiler_raster_open(&r, path, W, H, 0, err, sizeof(err)) == 0
       && truncate(path, (off_t)W * 3 * 10) == 0, "an RGB raster cut to 10 rows once open");
    {
        int rows[W * 4];
        ok(tiler_raster_get(&r, 8, 4, rows, err, sizeof(err)) < 0 && strstr(err, "rows 8..11") && strstr(err, "short file"),
           "reading rows 8..11: -1 (%s)", err);
    }
    tiler_raster_close(&r, err, sizeof(err));
    /* Removed while open (its job ended): the holder can tell. */
    ok(tiler_raster_create(path, W, H, TILER_PACK_GREY, err, sizeof(err)) == 0 && tiler_raster_open(&r, path, W, H, 0, err, sizeof(err)) == 0
       && !tiler_raster_removed(&r, path), "an open raster is not removed");
    ok(unlink(path) == 0 && tiler_raster_removed(&r, path), "once unlinked, it is");
    ok(tiler_raster_create(path, W, H, TILER_PACK_GREY, err, sizeof(err)) == 0 && tiler_raster_removed(&r, path),
       "and still, once another file is made at its path");
    ok(tiler_raster_removed(&r, tmpdir_path("none/raster")), "a path under no directory: removed");
    tiler_raster_close(&r, err, sizeof(err));
    ok(tiler_raster_open(&r, tmpdir_path("none"), W, H, 0, err, sizeof(err)) < 0 && strstr(err, "cannot open raster"),
       "no file: -1 (%s)", err);
    unlink(path);
    rmdir(tmpdir_name);
    return done_testing();
}
