/* The spool's raster functions: every failure fills err with a message
 * (the module sends it to the client as is). Failures the disk gives only
 * rarely (close reporting a delayed write error, as NFS and quotas do) are
 * made here by wrapping close and ftruncate (-Wl,--wrap, Makefile.am). */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "tap.h"
#include "tmpdir.h"
#include "tiler_raster.h"
#include "tiler_spool.h"

static int fail_close, fail_ftruncate;

int __real_close(int fd);
int __wrap_close(int fd);
int __wrap_close(int fd)
{
    if (fail_close) {
        fail_close = 0;
        __real_close(fd);
        errno = EIO;
        return -1;
    }
    return __real_close(fd);
}

int __real_ftruncate(int fd, off_t len);
int __wrap_ftruncate(int fd, off_t len);
int __wrap_ftruncate(int fd, off_t len)
{
    if (fail_ftruncate) {
        fail_ftruncate = 0;
        errno = ENOSPC;
        return -1;
    }
    return __real_ftruncate(fd, len);
}

/* err starts as a marker, so a path that leaves it alone shows. */
#define MARK(e) strcpy(e, "")

int main(void)
{
    char err[256];
    int px[8 * 2];
    tiler_msg m;
    const char *raster, *missing;

    if (tmpdir_make() < 0) { ok(0, "temporary directory"); return done_testing(); }
    raster = tmpdir_path("raster");
    missing = tmpdir_path("no/such/raster");

    MARK(err);
    ok(tiler_raster_create(raster, 8, 4, TILER_PACK_GD, err, sizeof(err)) == 0, "a raster is created");

    MARK(err);
    fail_close = 1;
    ok(tiler_raster_create(raster, 8, 4, TILER_PACK_GD, err, sizeof(err)) < 0 && strstr(err, "Input/output error"),
       "close failing on create: -1 with a message (%s)", err);

    MARK(err);
    fail_ftruncate = 1;
    ok(tiler_raster_create(raster, 8, 4, TILER_PACK_GD, err, sizeof(err)) < 0 && strstr(err, "No space left"),
       "ftruncate failing: -1 with a message (%s)", err);

    MARK(err);
    ok(tiler_raster_create(missing, 8, 4, TILER_PACK_GD, err, sizeof(err)) < 0 && err[0], "no directory: -1 with a message (%s)", err);

    ok(tiler_raster_create(raster, 8, 4, TILER_PACK_GD, err, sizeof(err)) == 0, "the raster again");
    MARK(err);
    fail_close = 1;
    ok(tiler_raster_read_rows(raster, 8, 4, 0, 2, px, err, sizeof(err)) < 0 && strstr(err, "Input/output error"),
       "close failing on read: -1 with a message (%s)", err);
    MARK(err);
    ok(tiler_raster_read_rows(raster, 8, 4, 3, 2, px, err, sizeof(err)) < 0 && err[0],
       "rows past the end: -1 with a message (%s)", err);
    MARK(err);
    ok(tiler_raster_read_rows(missing, 8, 4, 0, 2, px, err, sizeof(err)) < 0 && err[0],
       "no raster to read: -1 with a message (%s)", err);

    memset(&m, 0, sizeof(m));
    m.src.x = 0; m.src.y = 0; m.src.w = 8; m.src.h = 2;
    m.pixels = (const unsigned char *)px;
    memset(px, 0, sizeof(px));
    MARK(err);
    fail_close = 1;
    ok(tiler_raster_write(raster, 8, 4, &m, err, sizeof(err)) < 0 && strstr(err, "Input/output error"),
       "close failing on write: -1 with a message (%s)", err);
    MARK(err);
    ok(tiler_raster_write(missing, 8, 4, &m, err, sizeof(err)) < 0 && err[0], "no raster to write: -1 with a message (%s)", err);

    {
        /* Packed results land in the raster as the gd values they pack:
         * a grey 3x2 at (1, 1), an RGB 2x1 at (5, 3), each beside what the
         * other wrote. */
        static const unsigned char grey[6] = { 0, 0x40, 0xff, 0x10, 0x20, 0x30 }, rgb[6] = { 1, 2, 3, 0xfe, 0xdc, 0xba };
        int rows[8 * 4], want[8 * 4] = { 0 };
        uint32_t i;
        for (i = 0; i < 6; i++) want[(1 + i / 3) * 8 + 1 + i % 3] = grey[i] * 0x010101;
        want[3 * 8 + 5] = 0x010203;
        want[3 * 8 + 6] = 0xfedcba;
        ok(tiler_raster_create(raster, 8, 4, TILER_PACK_GD, err, sizeof(err)) == 0, "a fresh raster");
        m.src.x = 1; m.src.y = 1; m.src.w = 3; m.src.h = 2;
        m.packing = TILER_PACK_GREY;
        m.pixels = grey;
        MARK(err);
        ok(tiler_raster_write(raster, 8, 4, &m, err, sizeof(err)) == 0, "a grey tile is written (%s)", err);
        m.src.x = 5; m.src.y = 3; m.src.w = 2; m.src.h = 1;
        m.packing = TILER_PACK_RGB;
        m.pixels = rgb;
        ok(tiler_raster_write(raster, 8, 4, &m, err, sizeof(err)) == 0, "an RGB tile is written (%s)", err);
        ok(tiler_raster_read_rows(raster, 8, 4, 0, 4, rows, err, sizeof(err)) == 0 && !memcmp(rows, want, sizeof(want)),
           "and the raster holds their gd values, nothing else touched");
        m.packing = 0;
    }

    MARK(err);
    ok(tiler_raster_load(missing, 8, 4, err, sizeof(err)) == NULL && err[0], "no raster to load: NULL with a message (%s)", err);
    MARK(err);
    ok(tiler_raster_load(raster, 8, 5, err, sizeof(err)) == NULL && strstr(err, "no layout of 8x5"),
       "a raster of another size: NULL with a message (%s)", err);

    {
        /* A row of tiles per strip: a tall image with 16-pixel tiles has
         * more than 65536 of them, and each needs its path. */
        char path[4096];
        const char *id = "0123456789abcdef0123456789abcdef";
        ok(tiler_spool_strip_path(path, sizeof(path), "/spool", id, 70000) == 0
           && !strcmp(path, "/spool/jobs/0123456789abcdef0123456789abcdef/strip-70000"), "strip 70000 has a path (%s)", path);
        ok(tiler_spool_strip_path(path, sizeof(path), "/spool", "../etc", 1) < 0, "no strip path for a bad id");
        ok(tiler_spool_zoom_tile_path(path, sizeof(path), "/spool", id, 12, 3, 40) == 0
           && !strcmp(path, "/spool/jobs/0123456789abcdef0123456789abcdef/zoom/zoom_files/12/3_40.png"),
           "a zoom tile's path is made of the id and three integers (%s)", path);
        ok(tiler_spool_zoom_tile_path(path, sizeof(path), "/spool", "../../x", 0, 0, 0) < 0
           && tiler_spool_path(path, sizeof(path), "/spool", "..", TILER_SPOOL_ZOOM_DZI) < 0, "and none for a bad id");
    }
    {
        /* DELETE takes a pyramid, finished or half-built, with the job. */
        const char *id = "00000000000000000000000000000001";
        char dir[2048], path[4096];
        FILE *f;
        mkdir(tmpdir_path("jobs"), 0700);
        tiler_spool_path(dir, sizeof(dir), tmpdir_name, id, TILER_SPOOL_DIR);
        mkdir(dir, 0700);
        snprintf(path, sizeof(path), "%s/zoom", dir); mkdir(path, 0700);
        snprintf(path, sizeof(path), "%s/zoom/zoom_files", dir); mkdir(path, 0700);
        snprintf(path, sizeof(path), "%s/zoom/zoom_files/0", dir); mkdir(path, 0700);
        snprintf(path, sizeof(path), "%s/zoom.tmp", dir); mkdir(path, 0700);
        tiler_spool_zoom_tile_path(path, sizeof(path), tmpdir_name, id, 0, 0, 0);
        if ((f = fopen(path, "w"))) fclose(f);
        tiler_spool_path(path, sizeof(path), tmpdir_name, id, TILER_SPOOL_ZOOM_DZI);
        if ((f = fopen(path, "w"))) fclose(f);
        ok(tiler_spool_remove(tmpdir_name, id) == 0 && access(dir, F_OK) != 0,
           "removing a job removes its zoom pyramid and a half-built one");
        rmdir(tmpdir_path("jobs"));
    }

    unlink(raster);
    rmdir(tmpdir_name);
    return done_testing();
}
