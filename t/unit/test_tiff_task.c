/* Tasks that carry a tiled TIFF's own tiles (tiler_tiff_task.h): for every
 * kind the decoder takes, every task cut from the tile directory and
 * processed as a worker does gives the same result message, byte for byte,
 * as the task cut from the whole decoded image (the web host's way), for
 * chains with and without halos, flips, rotations and downscales, job
 * tiles that do and do not line up with the TIFF's, raw and TIFF-encoded
 * results. Then: strips are left to the web host; the fit rule; hostile
 * directories are named on the web host and hostile tile bytes in the
 * worker, never a crash. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tap.h"
#include "testimg.h"
#include "tmpdir.h"
#include "tiffwrite.h"
#include "tiler_defaults.h"
#include "tiler_grid_chain.h"
#include "tiler_image.h"
#include "tiler_ops.h"
#include "tiler_tile.h"
#include "tiler_tiff_task.h"
#include "tiler_tiff_out.h"

#define W 150
#define H 101

static const unsigned char job_id[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };

static unsigned char *process(unsigned char *task, size_t len, const tiler_tile_enc *enc, size_t *out_len, char *err,
                              size_t errlen)
{
    tiler_msg m;
    unsigned char *out;
    if (!task) return NULL;
    tiler_msg_set_encoding(task, enc);
    out = tiler_msg_decode(&m, task, len, err, errlen) == 0 ? tiler_tile_process(&m, out_len, err, errlen) : NULL;
    free(task);
    return out;
}

/* Every tile of the grid both ways: the number that differ (or fail). */
static int differ(const char *path, gdImagePtr ref, const tiler_grid *g, const char *ops, const tiler_tile_enc *enc,
                  char *why, size_t whylen)
{
    tiler_tiff_tiles *tt;
    uint32_t i, n = tiler_grid_count(g);
    int bad = 0;
    FILE *f = fopen(path, "rb");
    if (!f || tiler_tiff_tiles_open(f, &tt, why, whylen) != 1) {
        if (f) fclose(f);
        return -1;
    }
    for (i = 0; i < n; i++) {
        size_t la, lb, ta;
        char err[400] = "";
        unsigned char *task = tiler_tiff_tiles_task(tt, g, i, job_id, ops, &ta, err, sizeof(err));
        unsigned char *a, *b;
        int v3 = task && task[4] == TILER_MSG_VERSION_TIFF_TILES;
        a = process(task, ta, enc, &la, err, sizeof(err));
        task = tiler_tile_task(ref, g, i, job_id, ops, 0, &lb);
        b = process(task, lb, enc, &lb, why, whylen);
        if (!v3 || !a || !b || la != lb || memcmp(a, b, la)) {
            if (!bad++) snprintf(why, whylen, "tile %u: %s", i, !v3 ? "not a version 3 task" : a ? (b ? "differs" : "no reference") : err);
        }
        free(a);
        free(b);
    }
    tiler_tiff_tiles_close(tt);
    fclose(f);
    return bad;
}

static void kind_case(const tiffkind *k, gdImagePtr im, const char *name)
{
    static const char *chains[] = { "invert", "blur:1", "rotate:90,blur:1", "flip:h,downscale:2,edges" };
    static const uint32_t tiles[] = { 32, 48 };
    char err[400] = "";
    gdImagePtr ref;
    size_t c, t;
    if (tiffw_write(tmpdir_path("task.tif"), im, k) < 0) { ok(0, "%s: written", name); return; }
    if (!(ref = tiler_image_load(tmpdir_path("task.tif"), TILER_FMT_TIFF, err, sizeof(err)))) {
        ok(0, "%s: decoded whole: %s", name, err);
        return;
    }
    for (c = 0; c < sizeof(chains) / sizeof(chains[0]); c++) {
        for (t = 0; t < sizeof(tiles) / sizeof(tiles[0]); t++) {
            tiler_chain chain;
            tiler_geom geom;
            tiler_grid g;
            tiler_tile_enc enc = { 0, 0, 0 };
            int bad;
            tiler_chain_parse(&chain, chains[c], TILER_MAX_OPS, err, sizeof(err));
            tiler_grid_init_chain(&g, &geom, W, H, tiles[t] / tiler_chain_scale(&chain), &chain);
            /* TIFF results where the tile side allows (a multiple of 16). */
            if (g.tile_size % 16 == 0) tiler_tiff_out_enc(&enc, TILER_CODEC_TIFF_DEFLATE, g.tile_size, k->chans % 2 == 0, chains[c]);
            bad = differ(tmpdir_path("task.tif"), ref, &g, chains[c], &enc, err, sizeof(err));
            ok(bad == 0, "%s, %s, %u-pixel tiles%s: the workers' %u tasks give the web host's results%s%s", name, chains[c],
               g.tile_size, enc.codec ? ", TIFF out" : "", tiler_grid_count(&g), bad ? ": " : "", bad ? err : "");
        }
    }
    gdImageDestroy(ref);
    unlink(tmpdir_path("task.tif"));
}

static void kinds(void)
{
    static const struct { tiffkind k; const char *name; } cases[] = {
        { { .chans = 1, .comp = COMPRESSION_NONE, .tile = 16 }, "grey, uncompressed, 16-pixel tiles" },
        { { .chans = 2, .comp = COMPRESSION_LZW, .tile = 16, .predictor = 1 }, "grey+alpha, LZW + predictor" },
        { { .chans = 3, .comp = COMPRESSION_ADOBE_DEFLATE, .tile = 32, .predictor = 1 }, "RGB, Deflate + predictor, 32" },
        { { .chans = 4, .comp = COMPRESSION_PACKBITS, .tile = 16, .assoc = 1 }, "RGBA premultiplied, PackBits" },
        { { .chans = 4, .comp = COMPRESSION_DEFLATE, .tile = 32, .tile_h = 16 }, "RGBA, Deflate, 32x16 tiles" },
        { { .chans = 3, .comp = COMPRESSION_JPEG, .tile = 16, .ycbcr = 1 }, "RGB, JPEG YCbCr 2x2" },
        { { .chans = 3, .comp = COMPRESSION_JPEG, .tile = 32 }, "RGB, JPEG RGB" },
        { { .chans = 1, .comp = COMPRESSION_JPEG, .tile = 16 }, "grey, JPEG" },
        { { .chans = 3, .comp = COMPRESSION_LZW, .tile = 16, .big = 1 }, "RGB, LZW, BigTIFF" },
        { { .chans = 2, .comp = COMPRESSION_NONE, .tile = 32, .big = 1 }, "grey+alpha, uncompressed, BigTIFF" },
    };
    gdImagePtr opaque = testimg_make(W, H, 0, 7), alpha = testimg_make(W, H, 1, 8);
    size_t i;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        kind_case(&cases[i].k, cases[i].k.chans % 2 == 0 ? alpha : opaque, cases[i].name);
    gdImageDestroy(opaque);
    gdImageDestroy(alpha);
}

static tiler_tiff_tiles *open_file(const char *path, FILE **f, int *rc, char *why, size_t whylen)
{
    tiler_tiff_tiles *tt = NULL;
    *f = fopen(path, "rb");
    *rc = *f ? tiler_tiff_tiles_open(*f, &tt, why, whylen) : -9;
    return tt;
}

static void strips_and_fit(void)
{
    tiffkind strips = { .chans = 3, .comp = COMPRESSION_LZW }, big = { .chans = 3, .comp = COMPRESSION_LZW, .tile = 64 };
    gdImagePtr im = testimg_make(W, H, 0, 9);
    tiler_tiff_tiles *tt;
    tiler_chain chain;
    tiler_geom geom;
    tiler_grid g;
    char why[400] = "";
    FILE *f;
    int rc;

    tiffw_write(tmpdir_path("fit.tif"), im, &strips);
    tt = open_file(tmpdir_path("fit.tif"), &f, &rc, why, sizeof(why));
    ok(rc == 0 && !tt && strstr(why, "strips"), "a TIFF in strips is left to the web host: %s", why);
    if (f) fclose(f);

    tiffw_write(tmpdir_path("fit.tif"), im, &big);
    tt = open_file(tmpdir_path("fit.tif"), &f, &rc, why, sizeof(why));
    ok(rc == 1 && tt && tiler_tiff_tiles_alpha(tt) == 0, "a tiled RGB TIFF opens for cutting, opaque");
    if (tt) {
        tiler_chain_parse(&chain, "invert", TILER_MAX_OPS, why, sizeof(why));
        tiler_grid_init_chain(&g, &geom, W, H, 64, &chain);
        ok(tiler_tiff_tiles_fit(tt, &g, why, sizeof(why)) == 1, "64-pixel tasks on 64-pixel tiles, no halo: the workers decode");
        tiler_chain_parse(&chain, "blur:2", TILER_MAX_OPS, why, sizeof(why));
        tiler_grid_init_chain(&g, &geom, W, H, 16, &chain);
        why[0] = '\0';
        ok(tiler_tiff_tiles_fit(tt, &g, why, sizeof(why)) == 0 && strstr(why, "times the image's pixels"),
           "16-pixel tasks with a 6-pixel halo on 64-pixel tiles: the web host decodes: %s", why);
    }
    tiler_tiff_tiles_close(tt);
    if (f) fclose(f);
    gdImageDestroy(im);
    unlink(tmpdir_path("fit.tif"));
}

/* Writes k, lets cut change the file, then cuts every task of a 32-pixel
 * blur:1 grid and processes it: how many tasks the web host refused (with
 * the first reason in host) and the worker failed (worker). */
static void hostile(const char *name, tiffkind k, int (*cut)(unsigned char *, long), const char *host_says,
                    const char *worker_says)
{
    gdImagePtr im = testimg_make(W, H, k.chans % 2 == 0, 10);
    char why[400] = "", host[400] = "", worker[400] = "";
    tiler_tiff_tiles *tt;
    tiler_chain chain;
    tiler_geom geom;
    tiler_grid g;
    tiler_tile_enc raw = { 0, 0, 0 };
    long size;
    char *buf;
    uint32_t i, refused = 0, failed = 0;
    FILE *f;
    int rc;

    tiffw_write(tmpdir_path("hostile.tif"), im, &k);
    gdImageDestroy(im);
    buf = slurp(tmpdir_path("hostile.tif"), &size);
    if (!buf || cut((unsigned char *)buf, size) < 0) { ok(0, "%s: cut", name); free(buf); return; }
    spew(tmpdir_path("hostile.tif"), buf, (size_t)size);
    free(buf);
    tt = open_file(tmpdir_path("hostile.tif"), &f, &rc, why, sizeof(why));
    if (rc != 1) {
        ok(host_says && strstr(why, host_says), "%s: the directory is refused on opening: %s", name, why);
        if (f) fclose(f);
        return;
    }
    tiler_chain_parse(&chain, "blur:1", TILER_MAX_OPS, why, sizeof(why));
    tiler_grid_init_chain(&g, &geom, W, H, 32, &chain);
    /* The whole directory is checked before any task is cut. */
    if ((rc = tiler_tiff_tiles_fit(tt, &g, host, sizeof(host))) < 0) refused = 1;
    for (i = 0; rc == 1 && i < tiler_grid_count(&g); i++) {
        size_t len, out_len;
        char err[400] = "";
        unsigned char *task = tiler_tiff_tiles_task(tt, &g, i, job_id, "blur:1", &len, err, sizeof(err)), *out;
        if (!task) {
            if (!refused++) snprintf(host, sizeof(host), "%s", err);
            continue;
        }
        if (!(out = process(task, len, &raw, &out_len, err, sizeof(err)))) {
            if (!failed++) snprintf(worker, sizeof(worker), "%s", err);
        }
        free(out);
    }
    tiler_tiff_tiles_close(tt);
    fclose(f);
    if (host_says) ok(rc < 0 && refused && strstr(host, host_says), "%s: refused on the web host before any task: %s", name, host);
    else ok(rc == 1 && !refused, "%s: the web host cuts every task (%s)", name, host);
    if (worker_says)
        ok(failed && strstr(worker, worker_says), "%s: %u tasks failed in the worker: %s", name, failed, worker);
    unlink(tmpdir_path("hostile.tif"));
}

static int cut_past_end(unsigned char *f, long size)
{
    return tiffw_set(f, size, TIFFTAG_TILEOFFSETS, 19, (uint32_t)size + 100000);
}

/* The whole file as tile 5's bytes: in the file, but more than any
 * encoding of a 16x16 tile takes. */
static int cut_count_huge(unsigned char *f, long size)
{
    return tiffw_set(f, size, TIFFTAG_TILEOFFSETS, 5, 0) < 0 ? -1 : tiffw_set(f, size, TIFFTAG_TILEBYTECOUNTS, 5, (uint32_t)size);
}

static int cut_count_short(unsigned char *f, long size)
{
    uint32_t n;
    return tiffw_get(f, size, TIFFTAG_TILEBYTECOUNTS, 3, &n) < 0 ? -1 : tiffw_set(f, size, TIFFTAG_TILEBYTECOUNTS, 3, n / 3);
}

static int cut_offset_wrong(unsigned char *f, long size)
{
    uint32_t first;
    return tiffw_get(f, size, TIFFTAG_TILEOFFSETS, 0, &first) < 0 ? -1 : tiffw_set(f, size, TIFFTAG_TILEOFFSETS, 7, first + 5);
}

static int cut_scramble(unsigned char *f, long size)
{
    uint32_t o, c, i;
    if (tiffw_get(f, size, TIFFTAG_TILEOFFSETS, 12, &o) < 0 || tiffw_get(f, size, TIFFTAG_TILEBYTECOUNTS, 12, &c) < 0
        || (long)o + c > size)
        return -1;
    for (i = 0; i < c; i++) f[o + i] ^= 0x5a;
    return 0;
}

static int cut_loop(unsigned char *f, long size)
{
    return tiffw_ifd_loop(f, size);
}

/* Every tile's offset the first one's: a small upload whose tasks would
 * carry its one block over and over. */
static int cut_shared(unsigned char *f, long size)
{
    uint32_t first, n, i;
    if (tiffw_get(f, size, TIFFTAG_TILEOFFSETS, 0, &first) < 0 || tiffw_get(f, size, TIFFTAG_TILEBYTECOUNTS, 0, &n) < 0)
        return -1;
    for (i = 1; i < 70; i++)
        if (tiffw_set(f, size, TIFFTAG_TILEOFFSETS, i, first) < 0 || tiffw_set(f, size, TIFFTAG_TILEBYTECOUNTS, i, n) < 0)
            return -1;
    return 0;
}

static void shared_and_big(void)
{
    tiffkind lzw = { .chans = 3, .comp = COMPRESSION_LZW, .tile = 16 }, big = { .chans = 3, .comp = COMPRESSION_DEFLATE, .tile = 1024 };
    gdImagePtr im = testimg_make(W, H, 0, 12), large = testimg_make(2048, 2048, 0, 13);
    tiler_tiff_tiles *tt;
    tiler_chain chain;
    tiler_geom geom;
    tiler_grid g;
    char why[400] = "";
    long size;
    char *buf;
    FILE *f;
    int rc;

    tiffw_write(tmpdir_path("shared.tif"), im, &lzw);
    buf = slurp(tmpdir_path("shared.tif"), &size);
    ok(buf && cut_shared((unsigned char *)buf, size) == 0, "70 tiles made to share one tile's bytes");
    if (buf) spew(tmpdir_path("shared.tif"), buf, (size_t)size);
    free(buf);
    tt = open_file(tmpdir_path("shared.tif"), &f, &rc, why, sizeof(why));
    tiler_chain_parse(&chain, "invert", TILER_MAX_OPS, why, sizeof(why));
    tiler_grid_init_chain(&g, &geom, W, H, 32, &chain);
    rc = tt ? tiler_tiff_tiles_fit(tt, &g, why, sizeof(why)) : -9;
    ok(rc == 0 && strstr(why, "share bytes"), "tiles sharing bytes: the web host decodes it (%d): %s", rc, why);
    tiler_tiff_tiles_close(tt);
    if (f) fclose(f);

    /* 1024-pixel TIFF tiles under 512-pixel tasks with a halo: 2048 x 2048
     * pixels of tiles for a task, over TILER_TIFF_TASK_FIT_PIXELS. */
    tiffw_write(tmpdir_path("shared.tif"), large, &big);
    tt = open_file(tmpdir_path("shared.tif"), &f, &rc, why, sizeof(why));
    tiler_chain_parse(&chain, "blur:1", TILER_MAX_OPS, why, sizeof(why));
    tiler_grid_init_chain(&g, &geom, 2048, 2048, 512, &chain);
    rc = tt ? tiler_tiff_tiles_fit(tt, &g, why, sizeof(why)) : -9;
    ok(rc == 0 && strstr(why, "a task would need 4194304 pixels"), "1024-pixel tiles under 512-pixel tasks: decoded here: %s", why);
    tiler_tiff_tiles_close(tt);
    if (f) fclose(f);
    gdImageDestroy(im);
    gdImageDestroy(large);
    unlink(tmpdir_path("shared.tif"));
}

/* A version 3 task made by hand around the TIFF file at path: the image's
 * size and the source as given, the origin at 0, 0. */
static unsigned char *hand_task(const char *path, uint32_t image_w, uint32_t image_h, uint32_t src_w, uint32_t src_h,
                                size_t *len)
{
    tiler_msg m;
    unsigned char *buf;
    size_t hdr;
    long size;
    char *file = slurp(path, &size);
    if (!file) return NULL;
    memset(&m, 0, sizeof(m));
    m.kind = TILER_MSG_TASK;
    m.tiff_tiles = 1;
    m.tiles_total = 1;
    m.image_w = image_w;
    m.image_h = image_h;
    m.core.w = m.src.w = src_w;
    m.core.h = m.src.h = src_h;
    strcpy(m.ops, "invert");
    m.payload_len = 8 + (size_t)size;
    *len = tiler_msg_size(&m);
    buf = malloc(*len);
    hdr = tiler_msg_write_header(&m, buf);
    memset(buf + hdr, 0, 8);
    memcpy(buf + hdr + 8, file, (size_t)size);
    free(file);
    return buf;
}

/* Version 3 tasks made by hand, as a broken or hostile producer could. */
static void worker_checks(void)
{
    tiffkind k = { .chans = 3, .comp = COMPRESSION_LZW, .tile = 16 };
    gdImagePtr im = testimg_make(W, H, 0, 11);
    tiler_tiff_tiles *tt;
    tiler_chain chain;
    tiler_geom geom;
    tiler_grid g;
    tiler_msg m;
    tiler_tile_enc raw = { 0, 0, 0 };
    char why[400] = "", err[400] = "";
    unsigned char *task, *out;
    size_t len, out_len, hdr = TILER_MSG_FIXED_BYTES + strlen("invert");
    FILE *f;
    int rc;

    tiffw_write(tmpdir_path("w.tif"), im, &k);
    gdImageDestroy(im);
    tt = open_file(tmpdir_path("w.tif"), &f, &rc, why, sizeof(why));
    tiler_chain_parse(&chain, "invert", TILER_MAX_OPS, why, sizeof(why));
    tiler_grid_init_chain(&g, &geom, W, H, 32, &chain);
    task = tt ? tiler_tiff_tiles_task(tt, &g, 6, job_id, "invert", &len, err, sizeof(err)) : NULL;
    ok(task != NULL, "a task cut: %s", err);
    if (task) {
        /* The origin moved one tile right: the tiles no longer cover the source. */
        task[hdr] += 16;
        out = process(task, len, &raw, &out_len, err, sizeof(err));
        ok(!out && strstr(err, "do not cover"), "tiles that do not cover the source: %s", err);
        free(out);
    }
    task = tt ? tiler_tiff_tiles_task(tt, &g, 6, job_id, "invert", &len, err, sizeof(err)) : NULL;
    if (task) {
        size_t i;
        for (i = hdr + 8; i < len; i++) task[i] = (unsigned char)(i * 37);
        out = process(task, len, &raw, &out_len, err, sizeof(err));
        ok(!out && strstr(err, "input tiles:"), "garbage in place of the TIFF: %s", err);
        free(out);
    }
    task = tt ? tiler_tiff_tiles_task(tt, &g, 6, job_id, "invert", &len, err, sizeof(err)) : NULL;
    if (task) {
        ok(tiler_msg_decode(&m, task, hdr + 8, err, sizeof(err)) < 0 && strstr(err, "TIFF tiles"),
           "a version 3 task with no TIFF after its origin is refused: %s", err);
        task[5] = TILER_MSG_RESULT;
        ok(tiler_msg_decode(&m, task, len, err, sizeof(err)) < 0 && strstr(err, "must be a task"),
           "a version 3 result is refused: %s", err);
        free(task);
    }
    /* The image the header gives is narrower than the TIFF: the tiles
     * would reach past it. */
    task = hand_task(tmpdir_path("w.tif"), 100, H, 16, 16, &len);
    out = process(task, len, &raw, &out_len, err, sizeof(err));
    ok(!out && strstr(err, "do not cover"), "tiles reaching past the header's image: %s", err);
    free(out);
    /* The same file whole, as the header's image: taken. */
    task = hand_task(tmpdir_path("w.tif"), W, H, 16, 16, &len);
    out = process(task, len, &raw, &out_len, err, sizeof(err));
    ok(out != NULL, "the whole file as a task's tiles: processed %s", out ? "" : err);
    free(out);
    tiler_tiff_tiles_close(tt);
    if (f) fclose(f);
    /* 2064 x 16 pixels in 16 x 2048 tiles: few pixels, but 129 whole tiles
     * of 32,768 pixels each, which the decoder would hold as a row. */
    {
        tiffkind tall = { .chans = 3, .comp = COMPRESSION_DEFLATE, .tile = 16, .tile_h = 2048 };
        gdImagePtr narrow = testimg_make(2064, 16, 0, 14);
        tiffw_write(tmpdir_path("w.tif"), narrow, &tall);
        gdImageDestroy(narrow);
        task = hand_task(tmpdir_path("w.tif"), 4096, 4096, 16, 16, &len);
        out = process(task, len, &raw, &out_len, err, sizeof(err));
        ok(!out && strstr(err, "pixels of whole tiles, over 4194304"), "tiles of more than 4 Mi pixels, whole, refused before "
           "decoding: %s", err);
        free(out);
    }
    unlink(tmpdir_path("w.tif"));
}

int main(void)
{
    tiffkind lzw = { .chans = 3, .comp = COMPRESSION_LZW, .tile = 16 };
    tiffkind deflate = { .chans = 4, .comp = COMPRESSION_DEFLATE, .tile = 16 };
    tiffkind jpeg = { .chans = 3, .comp = COMPRESSION_JPEG, .tile = 16, .ycbcr = 1 };
    if (tmpdir_make() < 0) return 1;
    kinds();
    strips_and_fit();
    hostile("a tile past the end of the file", lzw, cut_past_end, "past the end", NULL);
    hostile("a tile's byte count over any encoding's", lzw, cut_count_huge, "more than any encoding", NULL);
    hostile("a tile's byte count short (LZW)", lzw, cut_count_short, NULL, "input tiles:");
    hostile("a tile's offset into another tile (Deflate)", deflate, cut_offset_wrong, NULL, "input tiles:");
    hostile("a tile's bytes scrambled (JPEG)", jpeg, cut_scramble, NULL, "input tiles:");
    hostile("an IFD loop", lzw, cut_loop, NULL, NULL);
    shared_and_big();
    worker_checks();
    rmdir(tmpdir_name);
    return done_testing();
}
