/* The zoom pyramid (tiler_pyramid.c) against a reference computed here by
 * the definition, from the whole image in memory: every level's every
 * tile is decoded (by libgd's own PNG loader) and compared pixel by pixel;
 * odd sizes, sizes not a power of two, one-pixel-wide and -high images,
 * random colours and alpha. The builder's temporary band files are gone
 * afterwards, and the directory holds exactly the descriptor and the tiles. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <gd.h>
#include "tap.h"
#include "tmpdir.h"
#include "pyrcheck.h"
#include "tiler_pyramid.h"

static void check_size(uint32_t w, uint32_t h, int with_alpha, unsigned seed)
{
    char dir[512], what[64], err[256] = "";
    int *img = random_image(w, h, with_alpha, seed);
    tiler_pyramid *p;
    uint32_t y;
    int rc = 0;

    snprintf(what, sizeof(what), "%ux%u%s", w, h, with_alpha ? " with alpha" : "");
    snprintf(dir, sizeof(dir), "%s", tmpdir_path("pyr"));
    mkdir(dir, 0700);
    p = tiler_pyramid_begin(dir, w, h, 1, err, sizeof(err));
    for (y = 0; p && rc == 0 && y < h; y++) rc = tiler_pyramid_row(p, img + (size_t)y * w, err, sizeof(err));
    if (p && rc == 0) rc = tiler_pyramid_end(p, err, sizeof(err));
    else if (p) tiler_pyramid_abort(p);
    if (ok(p && rc == 0, "%s: built (%s)", what, err)) verify(dir, img, w, h, what);
    free(img);
}

/* From a file, as the module builds it: the reference is libgd's own
 * decoding of the file. */
static void check_file(uint32_t w, uint32_t h, int jpeg, unsigned seed)
{
    char dir[512], file[1024], what[64], err[256] = "";
    int *img = random_image(w, h, !jpeg, seed), *ref;
    gdImagePtr im = gdImageCreateTrueColor((int)w, (int)h), back = NULL;
    uint32_t y;
    FILE *f;
    int rc;

    gdImageAlphaBlending(im, 0);
    gdImageSaveAlpha(im, 1);
    for (y = 0; y < h; y++) memcpy(im->tpixels[y], img + (size_t)y * w, (size_t)w * sizeof(int));
    snprintf(file, sizeof(file), "%s", tmpdir_path(jpeg ? "in.jpg" : "in.png"));
    if ((f = fopen(file, "wb"))) {
        if (jpeg) gdImageJpeg(im, f, 90); else gdImagePng(im, f);
        fclose(f);
    }
    gdImageDestroy(im);
    if ((f = fopen(file, "rb"))) { back = jpeg ? gdImageCreateFromJpeg(f) : gdImageCreateFromPng(f); fclose(f); }
    ref = malloc((size_t)w * h * sizeof(int));
    for (y = 0; back && y < h; y++) memcpy(ref + (size_t)y * w, back->tpixels[y], (size_t)w * sizeof(int));
    if (back) gdImageDestroy(back);
    snprintf(what, sizeof(what), "%ux%u %s file", w, h, jpeg ? "JPEG" : "PNG with alpha");
    snprintf(dir, sizeof(dir), "%s", tmpdir_path("pyr"));
    mkdir(dir, 0700);
    rc = tiler_pyramid_build_file(file, dir, w, h, 1, NULL, err, sizeof(err));
    if (ok(rc == 0, "%s: built from the file read by rows (%s)", what, err)) verify(dir, ref, w, h, what);
    else remove_tree(dir);
    mkdir(dir, 0700);
    {
        /* A server stopping: the build stops at once, without a descriptor. */
        volatile int stop = 1;
        char dzi[1100];
        snprintf(dzi, sizeof(dzi), "%s/zoom.dzi", dir);
        ok(tiler_pyramid_build_file(file, dir, w, h, 1, &stop, err, sizeof(err)) == -3 && access(dzi, F_OK) != 0,
           "%s: cancelled: -3 and no descriptor (%s)", what, err);
        remove_tree(dir);
        mkdir(dir, 0700);
    }
    ok(tiler_pyramid_build_file(file, dir, w + 1, h, 1, NULL, err, sizeof(err)) == -1, "%s: not of the size expected: refused (%s)",
       what, err);
    remove_tree(dir);
    /* Cut short: an error, never a pyramid of grey rows. */
    if ((f = fopen(file, "r+b"))) { fseek(f, 0, SEEK_END); if (ftruncate(fileno(f), ftell(f) / 2) != 0) perror("ftruncate"); fclose(f); }
    mkdir(dir, 0700);
    rc = tiler_pyramid_build_file(file, dir, w, h, 1, NULL, err, sizeof(err));
    snprintf(file, sizeof(file), "%s/zoom.dzi", dir);
    ok(rc == -1 && access(file, F_OK) != 0, "%s: truncated: fails without a descriptor (%s)", what, err);
    remove_tree(dir);
    free(img);
    free(ref);
}

int main(void)
{
    char err[256], dir[512];
    uint32_t lw, lh;
    tiler_pyramid *p;
    int row[4] = { 0, 0, 0, 0 }, rc;

    if (tmpdir_make() < 0) { perror("mkdtemp"); return 1; }
    ok(tiler_pyramid_max_level(1, 1) == 0 && tiler_pyramid_max_level(2, 1) == 1 && tiler_pyramid_max_level(257, 513) == 10
       && tiler_pyramid_max_level(65536, 3) == 16 && tiler_pyramid_max_level(65537, 3) == 17,
       "maxL is ceil(log2(max(W, H)))");
    tiler_pyramid_level_size(257, 513, 8, &lw, &lh);
    ok(lw == 65 && lh == 129, "level 8 of 257x513 is 65x129 (ceil of a quarter)");
    check_size(1, 1, 0, 1);
    check_size(1, 300, 0, 2);
    check_size(300, 1, 1, 3);
    check_size(257, 513, 1, 4);
    check_size(513, 257, 0, 5);
    check_size(256, 256, 0, 6);
    check_size(700, 300, 1, 7);
    check_size(1000, 3, 0, 8);
    check_file(600, 300, 0, 9);
    check_file(517, 263, 1, 10);

    /* Rows missing at the end: no descriptor, an error. */
    snprintf(dir, sizeof(dir), "%s", tmpdir_path("short"));
    mkdir(dir, 0700);
    p = tiler_pyramid_begin(dir, 4, 3, 1, err, sizeof(err));
    rc = p ? tiler_pyramid_row(p, row, err, sizeof(err)) : -1;
    rc = rc == 0 ? tiler_pyramid_end(p, err, sizeof(err)) : 0;
    snprintf(dir, sizeof(dir), "%s", tmpdir_path("short/zoom.dzi"));
    ok(rc == -1 && access(dir, F_OK) != 0, "a pyramid short of rows fails and has no descriptor (%s)", err);
    /* An output directory that does not exist. */
    ok(!tiler_pyramid_begin(tmpdir_path("absent/x"), 4, 4, 1, err, sizeof(err)), "no directory: refused (%s)", err);
    ok(tiler_pyramid_work_bytes(65536) < 1024 * 1024 + 12 * 65536 + 4096,
       "the heap at 65,536 wide is under 12 x W + 1 MiB (%zu bytes)", tiler_pyramid_work_bytes(65536));
    remove_tree(tmpdir_name);
    return done_testing();
}
