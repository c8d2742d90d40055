/* Checks a zoom pyramid on disk against the definition (zoomref.h),
 * every level's every tile decoded by libgd's own PNG loader, for
 * t/unit/test_pyramid.c and test_zoom_feed.c. Include after tap.h. */
#ifndef PYRCHECK_H
#define PYRCHECK_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <gd.h>
#include "zoomref.h"
#include "tiler_pyramid.h"

static int count_files(const char *dir) __attribute__((unused));
static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (!d) return -1;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static void remove_tree(const char *dir) __attribute__((unused));
static void remove_tree(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "# cannot remove %s\n", dir);
}

/* Checks the pyramid in dir against img (w x h gd ints), every level's
 * every tile; then removes dir. what names the case. */
static void verify(const char *dir, const int *img, uint32_t w, uint32_t h, const char *what) __attribute__((unused));
static void verify(const char *dir, const int *img, uint32_t w, uint32_t h, const char *what)
{
    char path[1024], name[64], dzi[512], want[512];
    const int *lvl = img;
    uint32_t lw = w, lh = h, col, row;
    unsigned l, maxl = tiler_pyramid_max_level(w, h), bad_tiles = 0, tiles = 0, bad_levels = 0, bad_dirs = 0;
    FILE *f;
    size_t n;

    /* Top level first, then down, each from the one above by the definition. */
    for (l = maxl + 1; l-- > 0;) {
        uint32_t ew, eh, cols, rows;
        int *next;
        tiler_pyramid_level_size(w, h, l, &ew, &eh);
        if (ew != lw || eh != lh) bad_levels++;
        cols = (lw + 255) / 256; rows = (lh + 255) / 256;
        snprintf(path, sizeof(path), "%s/zoom_files/%u", dir, l);
        if (count_files(path) != (int)(cols * rows)) bad_dirs++;
        for (row = 0; row < rows; row++)
            for (col = 0; col < cols; col++) {
                gdImagePtr t = NULL;
                uint32_t tw = lw - col * 256 < 256 ? lw - col * 256 : 256, th = lh - row * 256 < 256 ? lh - row * 256 : 256;
                tiler_pyramid_tile_name(name, sizeof(name), l, col, row);
                snprintf(path, sizeof(path), "%s/%s", dir, name);
                tiles++;
                if ((f = fopen(path, "rb"))) { t = gdImageCreateFromPng(f); fclose(f); }
                if (!t || (uint32_t)gdImageSX(t) != tw || (uint32_t)gdImageSY(t) != th) {
                    bad_tiles++;
                } else {
                    uint32_t tx, ty;
                    int same = 1;
                    for (ty = 0; ty < th && same; ty++)
                        for (tx = 0; tx < tw; tx++)
                            if (t->tpixels[ty][tx] != lvl[(size_t)(row * 256 + ty) * lw + col * 256 + tx]) { same = 0; break; }
                    if (!same) bad_tiles++;
                }
                if (t) gdImageDestroy(t);
            }
        if (l == 0) break;
        next = zoomref_down(lvl, lw, lh, &lw, &lh);
        if (lvl != img) free((int *)lvl);
        lvl = next;
    }
    if (lvl != img) free((int *)lvl);
    ok(lw == 1 && lh == 1, "%s: level 0 is one pixel", what);
    ok(!bad_levels, "%s: every level's size is ceil(size / 2^(maxL - L)) (%u wrong)", what, bad_levels);
    ok(!bad_dirs, "%s: every level holds exactly its grid's tiles (%u levels wrong)", what, bad_dirs);
    ok(!bad_tiles, "%s: all %u tiles of the %u levels decode to the reference's pixels (%u differ)", what, tiles,
       maxl + 1, bad_tiles);
    ok(count_files(dir) == 2, "%s: the directory holds the descriptor and zoom_files only (no band file left)", what);
    snprintf(path, sizeof(path), "%s/zoom.dzi", dir);
    memset(dzi, 0, sizeof(dzi));
    if ((f = fopen(path, "r"))) { n = fread(dzi, 1, sizeof(dzi) - 1, f); dzi[n] = 0; fclose(f); }
    snprintf(want, sizeof(want), "<Size Width=\"%u\" Height=\"%u\"/>", w, h);
    ok(strstr(dzi, want) && strstr(dzi, "TileSize=\"256\"") && strstr(dzi, "Overlap=\"0\"") && strstr(dzi, "Format=\"png\""),
       "%s: the descriptor says png, 256, overlap 0 and the size", what);
    remove_tree(dir);
}

static int *random_image(uint32_t w, uint32_t h, int with_alpha, unsigned seed) __attribute__((unused));
static int *random_image(uint32_t w, uint32_t h, int with_alpha, unsigned seed)
{
    int *img = malloc((size_t)w * h * sizeof(int));
    uint32_t x, y;
    srand(seed);
    for (y = 0; y < h; y++)
        for (x = 0; x < w; x++)
            img[(size_t)y * w + x] = gdTrueColorAlpha(rand() & 255, rand() & 255, rand() & 255,
                                                      with_alpha ? rand() % 128 : 0);
    return img;
}

#endif
