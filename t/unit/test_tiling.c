/* The property the whole system rests on: cutting an image into tiles with
 * the chain's halo, processing each tile alone (through the real message
 * encode/decode path) and pasting the cores back gives exactly the bytes of
 * processing the whole image at once. */
#include <stdlib.h>
#include <string.h>
#include "tap.h"
#include "testimg.h"
#include "tiler_filter.h"
#include "tiler_grid_chain.h"
#include "tiler_msg.h"
#include "tiler_tile.h"

static long differing(gdImagePtr a, gdImagePtr b)
{
    long n = 0;
    int x, y;
    for (y = 0; y < gdImageSY(a); y++)
        for (x = 0; x < gdImageSX(a); x++) n += a->tpixels[y][x] != b->tpixels[y][x];
    return n;
}

/* The packings the tasks and results of the last call took, as a bit set,
 * and the ops its last task asked for. */
static unsigned packings_seen;
static char task_ops[TILER_MSG_MAX_OPS_LEN + 1];

/* pack: the tasks are version 4 (packed pixels, answered packed), as the
 * module makes for raw results; else version 1. */
static int tiled_equals_whole_as(gdImagePtr src, const char *ops, uint32_t tile, int pack)
{
    tiler_chain chain;
    tiler_grid g;
    char err[256];
    unsigned char id[16] = { 1 };
    tiler_geom geom;
    gdImagePtr whole = gdImageClone(src), out;
    uint32_t i, row;
    long diff;

    if (tiler_chain_parse(&chain, ops, TILER_MAX_OPS, err, sizeof(err)) < 0) return 0;
    if (tiler_filter_apply(&whole, &chain) < 0) return 0;
    /* As the module does: a downscale's result tiles are the tile size / K
     * (at least 1), so that a downscaled image still makes several. */
    tile = tile / tiler_chain_scale(&chain) ? tile / tiler_chain_scale(&chain) : 1;
    tiler_grid_init_chain(&g, &geom, (uint32_t)gdImageSX(src), (uint32_t)gdImageSY(src), tile, &chain);
    if (g.width != (uint32_t)gdImageSX(whole) || g.height != (uint32_t)gdImageSY(whole)) {
        printf("# %s: the grid's result is %ux%u, the whole image's %dx%d\n", ops, g.width, g.height,
               gdImageSX(whole), gdImageSY(whole));
        return 0;
    }
    out = gdImageCreateTrueColor(gdImageSX(whole), gdImageSY(whole));
    for (i = 0; i < tiler_grid_count(&g); i++) {
        size_t len, rlen;
        tiler_msg task, res;
        unsigned char *t = tiler_tile_task(src, &g, i, id, ops, pack, &len), *r;
        size_t pb;
        if (tiler_msg_decode(&task, t, len, err, sizeof(err)) < 0) return 0;
        if (!(r = tiler_tile_process(&task, &rlen, err, sizeof(err)))) return 0;
        if (tiler_msg_decode(&res, r, rlen, err, sizeof(err)) < 0 || res.kind != TILER_MSG_RESULT) return 0;
        /* A packed task is answered packed, a version 1 task in version 1. */
        if (!task.packing != !res.packing) return 0;
        packings_seen |= 1u << task.packing | 1u << (res.packing + 8);
        snprintf(task_ops, sizeof(task_ops), "%s", task.ops);
        pb = tiler_msg_pixel_bytes(&res);
        for (row = 0; row < res.src.h; row++)
            tiler_unpack_row(out->tpixels[res.src.y + row] + res.src.x, res.pixels + (size_t)row * res.src.w * pb,
                             res.src.w, (int)pb);
        free(t);
        free(r);
    }
    diff = differing(whole, out);
    if (diff) printf("# %s on %dx%d tile %u: %ld pixels differ\n", ops, gdImageSX(src), gdImageSY(src), tile, diff);
    gdImageDestroy(whole);
    gdImageDestroy(out);
    return diff == 0;
}

static int tiled_equals_whole(gdImagePtr src, const char *ops, uint32_t tile)
{
    return tiled_equals_whole_as(src, ops, tile, 0) && tiled_equals_whole_as(src, ops, tile, 1);
}

/* An opaque copy of im, and a grey one. */
static gdImagePtr opaque_copy(gdImagePtr im, int grey)
{
    gdImagePtr o = gdImageClone(im);
    int x, y;
    for (y = 0; y < gdImageSY(o); y++)
        for (x = 0; x < gdImageSX(o); x++) {
            int v = o->tpixels[y][x] & 0xffffff;
            if (grey) v = (v & 0xff) * 0x010101;
            o->tpixels[y][x] = v;
        }
    return o;
}

int main(void)
{
    static const char *const atoms[] = { "grayscale", "invert", "blur:1.5", "sharpen:0.8:1.5", "edges",
                                         "brightness:-40", "contrast:1.7", "gamma:2.2", "threshold:128",
                                         "flip:h", "flip:v", "rotate:90", "rotate:180", "rotate:270",
                                         "downscale:2", "downscale:4" };
#define NATOMS ((int)(sizeof(atoms) / sizeof(atoms[0])))
    static const char *const special[] = { "blur:3", "grayscale,blur:3,invert", "blur:0.3,blur:2,blur:0.7",
                                           "blur:64", "invert,blur:5,grayscale,blur:1", "sharpen", "sharpen:16:10",
                                           "edges,edges,edges", "sharpen:2:3,edges,blur:1",
                                           "downscale:8", "blur:2,downscale:8,blur:3", "downscale:8,downscale:8,edges",
                                           "rotate:90,blur:3,flip:v,downscale:2,sharpen:1:2,rotate:270",
                                           "flip:h,downscale:2,blur:1.5,flip:v,downscale:4,edges",
                                           "downscale:8,blur:20", "downscale:2,flip:h,downscale:2,blur:3", NULL };
    /* full: every chain of one to three ops; otherwise one and two (the
     * larger images, where three-op chains would only cost time: the odd
     * shapes below carry them). */
    static const struct { int w, h; uint32_t tile; int full; } shapes[] = {
        { 131, 97, 32, 0 }, { 1, 61, 16, 1 }, { 61, 1, 16, 1 }, { 5, 3, 16, 1 }, { 70, 40, 16, 1 }, { 200, 150, 64, 0 },
        { 5, 3, 2, 1 }, { 37, 23, 8, 1 },
    };
    size_t s;
    int a, b, c, i;
    char ops[128];

    for (s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
        gdImagePtr im = testimg_make(shapes[s].w, shapes[s].h, 1, (uint32_t)s + 3);
        int all = 1, n = 0;
        /* Every chain of one to three ops over all the kinds. */
        for (a = 0; a < NATOMS; a++) {
            all &= tiled_equals_whole(im, atoms[a], shapes[s].tile); n++;
            for (b = 0; b < NATOMS; b++) {
                snprintf(ops, sizeof(ops), "%s,%s", atoms[a], atoms[b]);
                all &= tiled_equals_whole(im, ops, shapes[s].tile); n++;
                for (c = 0; shapes[s].full && c < NATOMS; c++) {
                    snprintf(ops, sizeof(ops), "%s,%s,%s", atoms[a], atoms[b], atoms[c]);
                    all &= tiled_equals_whole(im, ops, shapes[s].tile); n++;
                }
            }
        }
        ok(all, "%dx%d in %u-px tiles: all %d chains of 1-%d ops byte-identical", shapes[s].w, shapes[s].h, shapes[s].tile, n,
           shapes[s].full ? 3 : 2);
        for (i = 0; special[i]; i++)
            ok(tiled_equals_whole(im, special[i], shapes[s].tile), "%dx%d in %u-px tiles: %s byte-identical",
               shapes[s].w, shapes[s].h, shapes[s].tile, special[i]);
        gdImageDestroy(im);
    }

    /* Packed tasks take the tightest packing their pixels allow, and so
     * do their results: an opaque image goes as RGB, a grey one as one
     * byte, and an RGB one made grey comes back as one byte. */
    {
        static const struct { int grey; const char *ops; unsigned want; const char *what; } packs[] = {
            { 0, "blur:1.5", 1u << TILER_PACK_RGB | 1u << (TILER_PACK_RGB + 8), "an opaque image: RGB both ways" },
            { 1, "blur:1.5,invert", 1u << TILER_PACK_GREY | 1u << (TILER_PACK_GREY + 8), "a grey one: one byte both ways" },
            { 0, "grayscale,blur:3", 1u << TILER_PACK_GREY | 1u << (TILER_PACK_GREY + 8), "RGB made grey as it is cut: one byte both ways" },
            { 0, "grayscale", 1u << TILER_PACK_RGB | 1u << (TILER_PACK_GREY + 8), "grayscale alone is the worker's: RGB out, one byte back" },
            { 0, "invert,grayscale,blur:3", 1u << TILER_PACK_RGB | 1u << (TILER_PACK_GREY + 8), "grayscale not first: RGB out" },
            { 1, "brightness:-40,edges", 1u << TILER_PACK_GREY | 1u << (TILER_PACK_GREY + 8), "grey stays grey" },
            { 0, "grayscale,rotate:90", 1u << TILER_PACK_GREY | 1u << (TILER_PACK_GREY + 8), "grey cut, then rotated" },
            { 0, "grayscale,downscale:2,blur:1", 1u << TILER_PACK_GREY | 1u << (TILER_PACK_GREY + 8), "grey cut, then downscaled" },
            { 0, "grayscale,grayscale,edges", 1u << TILER_PACK_GREY | 1u << (TILER_PACK_GREY + 8), "grey cut, grey again" },
        };
        gdImagePtr alpha = testimg_make(131, 97, 1, 7);
        for (i = 0; i < (int)(sizeof(packs) / sizeof(packs[0])); i++) {
            gdImagePtr im = opaque_copy(alpha, packs[i].grey);
            int same;
            packings_seen = 0;
            same = tiled_equals_whole_as(im, packs[i].ops, 32, 1);
            ok(same && packings_seen == packs[i].want, "packed: %s (%s; packings seen %#x)", packs[i].what,
               packs[i].ops, packings_seen);
            /* The worker is asked for what the cut left of the chain. */
            ok(!strcmp(task_ops, strncmp(packs[i].ops, "grayscale,", 10) ? packs[i].ops : packs[i].ops + 10),
               "packed: %s: the task asks for '%s'", packs[i].ops, task_ops);
            gdImageDestroy(im);
        }
        packings_seen = 0;
        i = tiled_equals_whole_as(alpha, "blur:1.5", 32, 1);
        ok(i && packings_seen == (1u << TILER_PACK_GD | 1u << (TILER_PACK_GD + 8)),
           "packed: an image with alpha keeps its gd values both ways (%#x)", packings_seen);
        packings_seen = 0;
        i = tiled_equals_whole_as(alpha, "grayscale,blur:1.5", 32, 1);
        ok(i && packings_seen == (1u << TILER_PACK_GD | 1u << (TILER_PACK_GD + 8)) && !strcmp(task_ops, "blur:1.5"),
           "packed: grey made at the cut keeps alpha: gd values both ways (%#x, '%s')", packings_seen, task_ops);
        packings_seen = 0;
        i = tiled_equals_whole_as(alpha, "grayscale,blur:1.5", 32, 0);
        ok(i && !strcmp(task_ops, "grayscale,blur:1.5"), "a version 1 task keeps the whole chain ('%s')", task_ops);
        gdImageDestroy(alpha);
    }
    /* tiler_pack_need_grey is tiler_pack_need of the row made grey, for
     * opaque rows, rows with some alpha, and rows with bit 31 alone. */
    {
        int row[257], grey[257], k, bad = 0;
        uint32_t seed = 5;
        for (k = 0; k < 3000; k++) {
            int x, n = 1 + k % 257;
            for (x = 0; x < n; x++) row[x] = (int)((seed = seed * 1103515245u + 12345u) >> 8 & 0xffffff);
            if (k % 3 == 1) row[k % n] |= (int)((uint32_t)(1 + k % 127) << 24);
            if (k % 3 == 2) row[k % n] |= (int)0x80000000u;
            memcpy(grey, row, sizeof(int) * (size_t)n);
            tiler_grayscale_row(grey, (size_t)n);
            bad += tiler_pack_need_grey(row, (size_t)n) != tiler_pack_need(grey, (size_t)n);
        }
        ok(!bad, "the packing of a row made grey is known without making it (%d of 3000 wrong)", bad);
    }
    return done_testing();
}
