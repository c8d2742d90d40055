/* Freeing a raster's encoded rows, in each layout: the disk under them
 * goes (st_blocks drops), the rows kept read back intact, including those
 * sharing a block with freed ones, and a hole shows to
 * tiler_raster_has_hole. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "tap.h"
#include "tmpdir.h"
#include "tiler_raster.h"

#define W 1000   /* 4000, 3000 or 1000 bytes a row: rows and 4 KiB blocks do not line up */
#define H 100

/* The pixel at (x, y) as a raster of the packing holds it. */
static int pixel(uint32_t x, uint32_t y, int packing)
{
    int v = (int)((y * 7919u + x * 31u) & 0x7fffffff) | 1;
    return packing == TILER_PACK_GD ? v : packing == TILER_PACK_RGB ? v & 0xffffff : (v & 0xff) * 0x010101;
}

static long long blocks(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_blocks : -1;
}

/* Whether rows [top, top + n) hold their pixels. */
static int intact(const char *path, uint32_t top, uint32_t n, int packing)
{
    int *px = malloc((size_t)W * n * sizeof(int)), good = 1;
    char err[256];
    uint32_t x, y;
    if (tiler_raster_read_rows(path, W, H, top, n, px, err, sizeof(err)) < 0) good = 0;
    for (y = 0; good && y < n; y++)
        for (x = 0; good && x < W; x++) good = px[(size_t)y * W + x] == pixel(x, top + y, packing);
    free(px);
    return good;
}

static void one_layout(int packing)
{
    char err[256];
    const char *raster = tmpdir_path("raster");
    long long before, after;
    FILE *f;
    uint32_t x, y;
    int rc;

    ok(tiler_raster_create(raster, W, H, packing, err, sizeof(err)) == 0, "a raster of %d bytes a pixel is created", packing);
    ok(tiler_raster_has_hole(raster, err, sizeof(err)) == 1, "a new raster is all hole");
    f = fopen(raster, "r+b");
    for (y = 0; f && y < H; y++)
        for (x = 0; x < W; x++) {
            unsigned v = (unsigned)pixel(x, y, packing);
            /* Little-endian gd values, or R, G, B, or grey. */
            unsigned char b[4] = { (unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16), (unsigned char)(v >> 24) };
            unsigned char rgb[3] = { b[2], b[1], b[0] };
            fwrite(packing == TILER_PACK_RGB ? rgb : b, (size_t)packing, 1, f);
        }
    ok(f && fclose(f) == 0, "every row written");
    sync();
    before = blocks(raster);
    ok(tiler_raster_has_hole(raster, err, sizeof(err)) == 0, "a written raster has no hole");

    rc = tiler_raster_release_rows(raster, W, H, 10, 50, err, sizeof(err));
    if (rc == 1) {
        for (x = 0; x < 4; x++) ok(1, "# SKIP this filesystem cannot punch holes");
    } else {
        after = blocks(raster);
        ok(rc == 0, "rows 10..59 freed (%s)", rc < 0 ? err : "");
        ok(after < before && before - after >= (50LL * W * packing - 2 * 4096) / 512,
           "st_blocks drops by about 50 rows: %lld -> %lld", before, after);
        ok(intact(raster, 0, 10, packing) && intact(raster, 60, H - 60, packing),
           "rows 0..9 and 60..99 read back intact, next to the freed ones");
        ok(tiler_raster_has_hole(raster, err, sizeof(err)) == 1, "the raster now has a hole");
    }
    before = blocks(raster);
    ok(tiler_raster_release_rows(raster, W, H, 70, 1, err, sizeof(err)) >= 0 && intact(raster, 60, H - 60, packing)
       && blocks(raster) <= before, "one row, less than two blocks: nothing beside it lost");
    ok(tiler_raster_release_rows(raster, W, H, 99, 2, err, sizeof(err)) < 0 && strstr(err, "past"),
       "rows past the end: -1 with a message (%s)", err);
    unlink(raster);
}

int main(void)
{
    char err[256];
    if (tmpdir_make() < 0) { ok(0, "temporary directory"); return done_testing(); }
    one_layout(TILER_PACK_GD);
    one_layout(TILER_PACK_RGB);
    one_layout(TILER_PACK_GREY);
    ok(tiler_raster_release_rows(tmpdir_path("none"), W, H, 0, 1, err, sizeof(err)) == 0,
       "no raster (its job ended meanwhile): nothing to free, 0");
    ok(tiler_raster_release_rows(tmpdir_path("none/raster"), W, H, 0, 1, err, sizeof(err)) == 0, "nor under a removed directory");
    ok(tiler_raster_release_rows(tmpdir_name, W, H, 0, 1, err, sizeof(err)) < 0 && strstr(err, "raster"),
       "a raster that cannot be opened: -1 with a message (%s)", err);
    rmdir(tmpdir_name);
    return done_testing();
}
