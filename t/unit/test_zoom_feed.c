/* The zoom pyramid fed from a raster as its strips complete
 * (tiler_zoom_feed.c): strips made ready in a shuffled order, some encoded
 * before they are fed and some after, the raster unlinked once opened (as
 * a job's finish does); the pyramid is then checked tile by tile against
 * the definition (pyrcheck.h) from the image as the PNG result holds it,
 * and every encoded strip's rows are found freeable exactly once. Also:
 * rows held for the feed,
 * a strip not ready holds the feed, cancelling, a grey result meeting a
 * pixel that is not grey, a short raster, ending early.
 * A TIFF result's feed likewise, from Deflate tiles made and placed as the
 * results consumer places them (tiler_tiff_out.h), in a shuffled order and
 * one of them twice, the tiles file renamed and the index unlinked (as the
 * job's finish does) before the last strips are fed; a corrupt tile. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <gd.h>
#include "tap.h"
#include "tmpdir.h"
#include "pyrcheck.h"
#include "tiler_png.h"
#include "tiler_png_tile.h"
#include "tiler_tiff_out.h"
#include "tiler_zoom_feed.h"

/* Writes img as a raster of packing bytes a pixel (tiler_raster.h): gd
 * ints, little-endian as the spool keeps them; R, G, B; or grey. */
static int write_raster(const char *path, const int *img, uint32_t w, uint32_t h, int packing)
{
    FILE *f = fopen(path, "wb");
    size_t i, n = (size_t)w * h;
    int rc = 0;
    if (!f) return -1;
    for (i = 0; i < n && rc == 0; i++) {
        unsigned v = (unsigned)img[i];
        unsigned char b[4] = { v & 255, (v >> 8) & 255, (v >> 16) & 255, v >> 24 }, rgb[3] = { b[2], b[1], b[0] };
        if (fwrite(packing == 3 ? rgb : b, 1, (size_t)packing, f) != (size_t)packing) rc = -1;
    }
    return fclose(f) == 0 ? rc : -1;
}

/* The raster a job whose result has this colour type gets. */
static int layout_of(int color)
{
    return color == TILER_PNG_GRAY ? 1 : color == TILER_PNG_RGB ? 3 : 4;
}

/* The image as a PNG of the colour type reads back: alpha dropped when it
 * has none; grey images are made grey to begin with. */
static void as_png(int *img, size_t n, int color)
{
    size_t i;
    if (color == TILER_PNG_RGB || color == TILER_PNG_GRAY)
        for (i = 0; i < n; i++) img[i] &= 0x00ffffff;
}

static int *grey_image(uint32_t w, uint32_t h, int with_alpha, unsigned seed)
{
    int *img = random_image(w, h, with_alpha, seed);
    size_t i;
    for (i = 0; i < (size_t)w * h; i++) {
        int v = gdTrueColorGetGreen(img[i]);
        img[i] = gdTrueColorAlpha(v, v, v, gdTrueColorGetAlpha(img[i]));
    }
    return img;
}

/* Rows said freeable are overwritten at once, as a punched hole would
 * lose them: a strip freed before the feed read it spoils the pyramid. */
static void spoil(int fd, uint32_t w, uint32_t h, uint32_t strip_rows, uint32_t k, int packing)
{
    uint32_t top = k * strip_rows, n = h - top < strip_rows ? h - top : strip_rows;
    size_t len = (size_t)w * n * (size_t)packing;
    unsigned char *junk = malloc(len);
    memset(junk, 0x5a, len);
    if (pwrite(fd, junk, len, (off_t)top * w * packing) != (ssize_t)len) fprintf(stderr, "# cannot spoil strip %u\n", k);
    free(junk);
}

/* 0 .. n-1 in a shuffled order (seeded), with room for extra more. */
static uint32_t *shuffled(uint32_t n, uint32_t extra, unsigned seed)
{
    uint32_t *order = malloc((n + extra) * sizeof(*order)), i;
    for (i = 0; i < n; i++) order[i] = i;
    srand(seed);
    for (i = n; i > 1; i--) {
        uint32_t j = (uint32_t)rand() % i, t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
    return order;
}

/* Ends the fed pyramid in dir and checks it against img, as a PNG of
 * colour type color holds it (img is changed so). */
static void end_and_verify(tiler_zoom_feed *f, const char *dir, int *img, uint32_t w, uint32_t h, int color,
                           const char *what)
{
    char err[256] = "";
    int rc = tiler_zoom_feed_end(f, err, sizeof(err));
    tiler_zoom_feed_close(f);
    if (ok(rc == 0, "%s: pyramid ended (%s)", what, err)) {
        as_png(img, (size_t)w * h, color);
        verify(dir, img, w, h, what);
    }
}

static void check_feed(uint32_t w, uint32_t h, uint32_t strip_rows, int color, unsigned seed)
{
    int grey = color == TILER_PNG_GRAY || color == TILER_PNG_GRAY_ALPHA;
    int *img = grey ? grey_image(w, h, 1, seed) : random_image(w, h, 1, seed);
    char what[96], err[256] = "", dir[512], raster[512];
    uint32_t n, i, k, *order;
    unsigned char *encoded_early, *freed;
    tiler_zoom_feed *f;
    int full, rc = 0, twice = 0, never = 0, spurious = 0, wfd, held_ok = 1;

    snprintf(what, sizeof(what), "%ux%u in strips of %u, colour type %d", w, h, strip_rows, color);
    snprintf(dir, sizeof(dir), "%s", tmpdir_path("pyr"));
    snprintf(raster, sizeof(raster), "%s", tmpdir_path("raster"));
    mkdir(dir, 0700);
    if (!ok(write_raster(raster, img, w, h, layout_of(color)) == 0, "%s: a %d-byte raster written", what, layout_of(color))) return;
    f = tiler_zoom_feed_open(raster, dir, w, h, strip_rows, color, 1, &full, err, sizeof(err));
    if (!ok(f != NULL, "%s: feed opened (%s)", what, err)) return;
    wfd = open(raster, O_WRONLY);
    unlink(raster);   /* the job's finish drops it; the feed holds it open */
    n = tiler_zoom_feed_strips(f);
    ok(n == (h + strip_rows - 1) / strip_rows, "%s: %u strips", what, n);
    order = shuffled(n, 0, seed);
    encoded_early = calloc(n, 1);
    freed = calloc(n, 1);
    /* Strips complete in a shuffled order; every other one is encoded at
     * once (before the feed has read it), every third of the rest just as
     * the feed comes to it, the others after the feed has read them. */
    for (i = 0; i < n && rc == 0; i++) {
        uint32_t before = tiler_zoom_feed_held_strips(f);
        k = order[i];
        tiler_zoom_feed_ready(f, k);
        if (i % 2 == 0) {
            encoded_early[k] = 1;
            if (tiler_zoom_feed_encoded(f, k)) freed[k]++, spoil(wfd, w, h, strip_rows, k, layout_of(color));
            else if (tiler_zoom_feed_held_strips(f) != before + 1) held_ok = 0;
        }
        while (rc == 0 && tiler_zoom_feed_next(f, &k)) {
            if (!encoded_early[k] && k % 3 == 1) {
                encoded_early[k] = 1;
                if (tiler_zoom_feed_encoded(f, k)) freed[k]++, spoil(wfd, w, h, strip_rows, k, layout_of(color));
            }
            if ((rc = tiler_zoom_feed_strip(f, k, NULL, err, sizeof(err))) == 0 && tiler_zoom_feed_fed(f, k)) {
                if (!encoded_early[k]) spurious++;
                freed[k]++;
                spoil(wfd, w, h, strip_rows, k, layout_of(color));
            }
        }
    }
    for (i = 0; i < n; i++)
        if (!encoded_early[i] && tiler_zoom_feed_encoded(f, i)) freed[i]++;
    if (tiler_zoom_feed_held_strips(f) != 0) held_ok = 0;
    close(wfd);
    for (i = 0; i < n; i++) {
        if (freed[i] > 1) twice++;
        if (!freed[i]) never++;
    }
    ok(rc == 0 && tiler_zoom_feed_complete(f), "%s: every strip fed (%s)", what, err);
    ok(!twice && !never && !spurious, "%s: every strip's rows freeable exactly once, and only once encoded "
       "(%d twice, %d never, %d before encoded)", what, twice, never, spurious);
    ok(held_ok, "%s: the held strips counted, none left at the end", what);
    end_and_verify(f, dir, img, w, h, color, what);
    free(order);
    free(encoded_early);
    free(freed);
    free(img);
}

/* Places img's tiles (side pixels, enc's samples) in a TIFF tiles file and
 * index, in a shuffled order, the first one twice. 0 or -1. */
static int place_tiles(const char *tiles, const char *index, const int *img, uint32_t w, uint32_t h,
                       const tiler_tile_enc *enc, unsigned seed)
{
    uint32_t side = enc->side, cols = (w + side - 1) / side, rows = (h + side - 1) / side, n = cols * rows, i;
    uint32_t *order = shuffled(n, 1, seed);
    const int **rp = malloc(side * sizeof(*rp));
    char err[256];
    int rc = tiler_tiff_out_start(tiles, index, n, err, sizeof(err));
    order[n] = order[0];
    for (i = 0; rc == 0 && i <= n; i++) {
        uint32_t idx = order[i], x0 = idx % cols * side, y0 = idx / cols * side, y;
        uint32_t tw = w - x0 < side ? w - x0 : side, th = h - y0 < side ? h - y0 : side;
        unsigned char *out;
        size_t len;
        for (y = 0; y < th; y++) rp[y] = img + (size_t)(y0 + y) * w + x0;
        rc = enc->codec == TILER_CODEC_PNG_ROWS
                 ? tiler_png_tile_encode((const int *const *)rp, tw, th, enc->samples, x0 == 0, 6, &out, &len, err, sizeof(err))
                 : tiler_tiff_out_tile((const int *const *)rp, tw, th, enc, 6, &out, &len, err, sizeof(err));
        if (rc == 0) {
            rc = tiler_tiff_out_add(tiles, index, idx, out, len, err, sizeof(err));
            free(out);
        }
    }
    if (rc < 0) fprintf(stderr, "# %s\n", err);
    free(order);
    free(rp);
    return rc;
}

static void check_tiles_feed(int codec, uint32_t w, uint32_t h, uint32_t side, int alpha, const char *ops, unsigned seed)
{
    tiler_tile_enc enc;
    int *img, full, rc = 0, color;
    char what[96], err[256] = "", dir[512], tiles[512], index[512], result[512];
    uint32_t n, i, k, *order;
    tiler_zoom_feed *f;

    tiler_tiff_out_enc(&enc, codec, side, alpha, ops);
    color = tiler_tiff_out_color(enc.samples);
    img = color == TILER_PNG_GRAY || color == TILER_PNG_GRAY_ALPHA ? grey_image(w, h, 1, seed) : random_image(w, h, 1, seed);
    snprintf(what, sizeof(what), "%s %ux%u in %u-pixel tiles, %d samples", codec == TILER_CODEC_PNG_ROWS ? "PNG rows" : "TIFF",
             w, h, side, enc.samples);
    snprintf(dir, sizeof(dir), "%s", tmpdir_path("pyr"));
    snprintf(tiles, sizeof(tiles), "%s", tmpdir_path("tiles"));
    snprintf(index, sizeof(index), "%s", tmpdir_path("tiles.idx"));
    snprintf(result, sizeof(result), "%s", tmpdir_path("result"));
    mkdir(dir, 0700);
    if (!ok(place_tiles(tiles, index, img, w, h, &enc, seed) == 0, "%s: tiles placed", what)) return;
    f = tiler_zoom_feed_open_tiles(tiles, index, dir, w, h, side, enc.samples, codec == TILER_CODEC_PNG_ROWS, 1, &full,
                                   err, sizeof(err));
    if (!ok(f != NULL, "%s: feed opened (%s)", what, err)) return;
    n = tiler_zoom_feed_strips(f);
    order = malloc(n * sizeof(*order));
    for (i = 0; i < n; i++) order[i] = n - 1 - i;   /* the last row of tiles completes first */
    for (i = 0; i < n && rc == 0; i++) {
        tiler_zoom_feed_ready(f, order[i]);
        if (i == n / 2) {
            /* The job's finish: directory appended, tiles renamed, index
             * gone (a PNG's finish drops both: renamed stands for that). */
            if (codec != TILER_CODEC_PNG_ROWS) rc = tiler_tiff_out_finish(tiles, index, w, h, &enc, err, sizeof(err));
            if (rc == 0 && (rename(tiles, result) < 0 || unlink(index) < 0)) rc = -1;
        }
        while (rc == 0 && tiler_zoom_feed_next(f, &k))
            if ((rc = tiler_zoom_feed_strip(f, k, NULL, err, sizeof(err))) == 0) tiler_zoom_feed_fed(f, k);
    }
    ok(rc == 0 && tiler_zoom_feed_complete(f), "%s: every strip fed (%s)", what, err);
    end_and_verify(f, dir, img, w, h, color, what);
    unlink(result);
    free(order);
    free(img);
}

/* Places a 64 x 64 image's 32-pixel tiles in codec's encoding, spoils
 * the last tile placed (the first one's second copy, which its entry
 * points at) and feeds its strips: the feed's return, err saying why. */
static int corrupt_feed(const char *tiles, const char *index, const char *dir, const int *img, int codec, char *err,
                        size_t errlen)
{
    tiler_tile_enc enc;
    tiler_zoom_feed *f;
    int rc, full;
    tiler_tiff_out_enc(&enc, codec, 32, 0, "invert");
    remove_tree(dir);
    mkdir(dir, 0700);
    rc = place_tiles(tiles, index, img, 64, 64, &enc, 15);
    if (rc == 0) {
        FILE *t = fopen(tiles, "r+b");
        if (t && fseek(t, -20, SEEK_END) == 0) fputs("corrupt!", t);
        if (t) fclose(t);
    }
    f = tiler_zoom_feed_open_tiles(tiles, index, dir, 64, 64, 32, enc.samples, codec == TILER_CODEC_PNG_ROWS, 1, &full, err,
                                   errlen);
    if (f) tiler_zoom_feed_ready(f, 64);
    rc = f ? tiler_zoom_feed_strip(f, 0, NULL, err, errlen) : -9;
    if (rc == 0) tiler_zoom_feed_fed(f, 0), rc = tiler_zoom_feed_strip(f, 1, NULL, err, errlen);
    tiler_zoom_feed_close(f);
    return rc;
}

int main(void)
{
    char err[256], dir[512], raster[512];
    int *img, full, rc;
    volatile int cancel = 0;
    uint32_t k;
    tiler_zoom_feed *f;

    if (tmpdir_make() < 0) { perror("mkdtemp"); return 1; }
    check_feed(700, 300, 128, TILER_PNG_RGBA, 1);
    check_feed(513, 257, 64, TILER_PNG_RGB, 2);        /* the image's alpha is dropped */
    check_feed(257, 513, 100, TILER_PNG_GRAY_ALPHA, 3);
    check_feed(300, 1, 16, TILER_PNG_GRAY, 4);
    check_feed(1000, 3, 256, TILER_PNG_RGB, 5);        /* one strip */
    check_feed(3, 1000, 16, TILER_PNG_RGBA, 6);        /* 63 strips, the last 8 rows */
    check_tiles_feed(TILER_CODEC_TIFF_DEFLATE, 700, 300, 128, 1, "invert", 11);    /* RGBA */
    check_tiles_feed(TILER_CODEC_TIFF_DEFLATE, 513, 257, 64, 0, "invert", 12);     /* RGB */
    check_tiles_feed(TILER_CODEC_TIFF_DEFLATE, 257, 513, 32, 1, "grayscale", 13);  /* grey + alpha */
    check_tiles_feed(TILER_CODEC_TIFF_DEFLATE, 300, 17, 16, 0, "grayscale", 14);   /* grey, a last row of one pixel */
    check_tiles_feed(TILER_CODEC_PNG_ROWS, 700, 300, 128, 1, "invert", 15);        /* RGBA */
    check_tiles_feed(TILER_CODEC_PNG_ROWS, 513, 257, 64, 0, "invert", 16);         /* RGB */
    check_tiles_feed(TILER_CODEC_PNG_ROWS, 257, 513, 32, 1, "grayscale", 17);      /* grey + alpha */
    check_tiles_feed(TILER_CODEC_PNG_ROWS, 300, 17, 16, 0, "grayscale", 18);       /* grey, a last row of one pixel */

    /* The bookkeeping on its own: a strip not ready holds the feed. */
    img = random_image(64, 64, 0, 7);
    snprintf(dir, sizeof(dir), "%s", tmpdir_path("hold"));
    snprintf(raster, sizeof(raster), "%s", tmpdir_path("raster"));
    mkdir(dir, 0700);
    write_raster(raster, img, 64, 64, 4);
    f = tiler_zoom_feed_open(raster, dir, 64, 64, 16, TILER_PNG_RGB, 1, &full, err, sizeof(err));
    if (f) {
        tiler_zoom_feed_ready(f, 1);
        tiler_zoom_feed_ready(f, 2);
        ok(!tiler_zoom_feed_next(f, &k), "strips 1 and 2 ready but not 0: nothing to feed");
        ok(tiler_zoom_feed_encoded(f, 1) == 0 && tiler_zoom_feed_held(f, 1) && !tiler_zoom_feed_held(f, 2)
           && !tiler_zoom_feed_held(f, 0), "strip 1 encoded before it is fed: its rows are held for the feed");
        ok(tiler_zoom_feed_strip(f, 1, NULL, err, sizeof(err)) == -1, "feeding out of turn is refused (%s)", err);
        ok(tiler_zoom_feed_end(f, err, sizeof(err)) == -1, "ending before every strip is fed is refused (%s)", err);
        tiler_zoom_feed_ready(f, 0);
        ok(tiler_zoom_feed_next(f, &k) && k == 0, "strip 0 ready: it is next");
        cancel = 1;
        ok(tiler_zoom_feed_strip(f, 0, &cancel, err, sizeof(err)) == -3, "cancelled within the strip (%s)", err);
        tiler_zoom_feed_close(f);
    } else {
        ok(0, "feed opened (%s)", err);
    }
    remove_tree(dir);

    /* A grey result meets a pixel that is not grey: an error, as the
     * result's encoder gives. */
    mkdir(dir, 0700);
    f = tiler_zoom_feed_open(raster, dir, 64, 64, 64, TILER_PNG_GRAY, 1, &full, err, sizeof(err));
    if (f) tiler_zoom_feed_ready(f, 0);
    rc = f ? tiler_zoom_feed_strip(f, 0, NULL, err, sizeof(err)) : 0;
    ok(rc == -1 && strstr(err, "not grey"), "a colour pixel in a grey result: refused (%s)", err);
    tiler_zoom_feed_close(f);
    remove_tree(dir);

    /* A raster shorter than the image says. */
    mkdir(dir, 0700);
    if (truncate(raster, 64 * 40 * 4) != 0) perror("truncate");
    f = tiler_zoom_feed_open(raster, dir, 64, 64, 32, TILER_PNG_RGB, 1, &full, err, sizeof(err));
    ok(!f && !full && strstr(err, "no layout of 64x64"), "a short raster (its size no layout): refused at open (%s)", err);
    tiler_zoom_feed_close(f);
    remove_tree(dir);

    /* A TIFF tile that is not the deflate stream its index says. */
    {
        tiler_tile_enc enc;
        char tiles[512], index[512];
        snprintf(tiles, sizeof(tiles), "%s", tmpdir_path("tiles"));
        snprintf(index, sizeof(index), "%s", tmpdir_path("tiles.idx"));
        tiler_tiff_out_enc(&enc, TILER_CODEC_TIFF_DEFLATE, 32, 0, "invert");
        /* The same for a PNG's deflated rows, then the TIFF's tiles again
         * for the cases below. */
        rc = corrupt_feed(tiles, index, dir, img, TILER_CODEC_TIFF_DEFLATE, err, sizeof(err));
        ok(rc == -1 && strstr(err, "cannot be inflated"), "a corrupt TIFF tile: an error naming it (%s)", err);
        rc = corrupt_feed(tiles, index, dir, img, TILER_CODEC_PNG_ROWS, err, sizeof(err));
        ok(rc == -1 && strstr(err, "piece"), "a corrupt PNG tile's row: an error naming it (%s)", err);
        remove_tree(dir);
        mkdir(dir, 0700);
        rc = place_tiles(tiles, index, img, 64, 64, &enc, 15);
        ok(!tiler_zoom_feed_open_tiles(tiles, index, dir, 64, 64, 32, 5, 0, 1, &full, err, sizeof(err)),
           "five samples a pixel: refused (%s)", err);
        ok(!tiler_zoom_feed_open_tiles(tiles, index, dir, 1u << 20, 64, 512, 4, 0, 1, &full, err, sizeof(err))
           && strstr(err, "MiB decoded"), "a row of tiles over the TIFF reader's 256 MiB: refused (%s)", err);
        /* Index entries that lie: no tile, more bytes than any deflated
         * tile takes, bytes past the end of the file. */
        {
            static const struct { uint64_t off, len; const char *what, *says; } lies[] = {
                { 16, 0, "an entry of no bytes (the tile is not in)", "none is in" },
                { 16, 1u << 30, "an entry longer than any deflated tile", "more than a deflated tile takes" },
                { 1u << 30, 100, "an entry past the end of the file", "cannot read tile" },
            };
            size_t j;
            remove_tree(dir);
            for (j = 0; j < sizeof(lies) / sizeof(lies[0]); j++) {
                unsigned char entry[16];
                int b, fd = open(index, O_WRONLY);
                for (b = 0; b < 8; b++) {
                    entry[b] = (unsigned char)(lies[j].off >> (8 * b));
                    entry[8 + b] = (unsigned char)(lies[j].len >> (8 * b));
                }
                rc = fd >= 0 && pwrite(fd, entry, 16, 0) == 16 ? 0 : -9;
                if (fd >= 0) close(fd);
                mkdir(dir, 0700);
                f = rc == 0 ? tiler_zoom_feed_open_tiles(tiles, index, dir, 64, 64, 32, enc.samples, 0, 1, &full, err,
                                                        sizeof(err)) : NULL;
                if (f) tiler_zoom_feed_ready(f, 64);
                rc = f ? tiler_zoom_feed_strip(f, 0, NULL, err, sizeof(err)) : -9;
                ok(rc == -1 && strstr(err, lies[j].says), "%s: an error naming it (%s)", lies[j].what, err);
                tiler_zoom_feed_close(f);
                remove_tree(dir);
            }
        }
        remove_tree(dir);
        unlink(tiles);
        unlink(index);
    }

    mkdir(dir, 0700);
    ok(!tiler_zoom_feed_open(tmpdir_path("absent"), dir, 64, 64, 32, TILER_PNG_RGB, 1, &full, err, sizeof(err)),
       "no raster: refused (%s)", err);
    ok(tiler_zoom_feed_work_bytes(65536, 0) < 1024 * 1024 + 12 * 65536 + 4096,
       "the heap at 65,536 wide between strips: the pyramid's, under 12 x W + 1 MiB (%zu bytes)",
       tiler_zoom_feed_work_bytes(65536, 0));
    ok(tiler_zoom_feed_work_bytes(65536, 1) - tiler_zoom_feed_work_bytes(65536, 0) <= 4 * 1024 * 1024 + 4 * 65536,
       "while feeding a strip: a 4 MiB chunk of rows and a row of samples more (%zu bytes)",
       tiler_zoom_feed_work_bytes(65536, 1));
    ok(tiler_zoom_feed_tiff_work_bytes(16384, 512, 3, 1) - tiler_zoom_feed_tiff_work_bytes(16384, 512, 3, 0)
       < 24 * 1024 * 1024 + 1536 * 1024,
       "a feed's strip from tiles at 16,384 wide in 512-pixel RGB tiles: its row of tiles, 24 MiB, and under 1.5 MiB more "
       "(one tile's bytes, a row of samples and of ints)");
    free(img);
    remove_tree(tmpdir_name);
    return done_testing();
}
