/* The zoom URLs' parser (tiler_zoom_url.c) with hostile strings: only
 * LEVEL/COL_ROW.png in plain decimal passes, and only tiles of the grid
 * exist. */
#include <stdio.h>
#include <string.h>
#include "tap.h"
#include "tiler_zoom_url.h"

static tiler_zoom_kind parse(const char *s, tiler_zoom_tile *t)
{
    memset(t, 0xff, sizeof(*t));
    return tiler_zoom_url_parse(s, t);
}

int main(void)
{
    static const char *const bad[] = {
        "/zoom_files/", "/zoom_files/0", "/zoom_files/0/", "/zoom_files/0/0", "/zoom_files/0/0_0",
        "/zoom_files/0/0_0.", "/zoom_files/0/0_0.jpg", "/zoom_files/0/0_0.png/", "/zoom_files/0/0_0.pngx",
        "/zoom_files/0/0_0.PNG", "/zoom_files//0_0.png", "/zoom_files/0/_0.png", "/zoom_files/0/0_.png",
        "/zoom_files/+1/0_0.png", "/zoom_files/-1/0_0.png", "/zoom_files/1/+0_0.png", "/zoom_files/1/0_-0.png",
        "/zoom_files/ 1/0_0.png", "/zoom_files/1 /0_0.png", "/zoom_files/01/0_0.png", "/zoom_files/1/00_0.png",
        "/zoom_files/1/0_007.png", "/zoom_files/../0_0.png", "/zoom_files/1/../0_0.png", "/zoom_files/1/0_0.png/..",
        "/zoom_files/%2e%2e/0_0.png", "/zoom_files/1/0%5f0.png", "/zoom_files/1/0x1_0.png", "/zoom_files/1e3/0_0.png",
        "/zoom_files/99999999/0_0.png", "/zoom_files/1/4294967296_0.png", "/zoom_files/1/0_18446744073709551617.png",
        "/zoom_files/1/0_0_0.png", "/zoom_files/1/2/0_0.png", "/zoom_files/1/0_0.png\n", "/zoom_files/1\0/0_0.png",
        "/zoom_files/\xef\xbc\x91/0_0.png", NULL };
    static const char *const none[] = { "", "/", "/zoom", "/zoom.dzi/", "/zoom.DZI", "/zoom.dzi?", "/zoom_files",
                                        "/zoom_filesx/0/0_0.png", "/../zoom.dzi", "/result", NULL };
    tiler_zoom_tile t;
    int i, all;

    ok(parse("/zoom.dzi", &t) == TILER_ZOOM_DZI, "/zoom.dzi is the descriptor");
    ok(parse("/zoom_files/0/0_0.png", &t) == TILER_ZOOM_TILE && t.level == 0 && t.col == 0 && t.row == 0, "0/0_0.png");
    ok(parse("/zoom_files/12/10_3.png", &t) == TILER_ZOOM_TILE && t.level == 12 && t.col == 10 && t.row == 3,
       "12/10_3.png is level 12, column 10, row 3");
    ok(parse("/zoom_files/20/4095_9999999.png", &t) == TILER_ZOOM_TILE && t.row == 9999999, "seven digits parse");
    for (all = 1, i = 0; bad[i]; i++)
        if (parse(bad[i], &t) != TILER_ZOOM_BAD) { all = 0; printf("# accepted: %s\n", bad[i]); }
    ok(all, "%d hostile tile paths are refused as malformed (.., %%2e, signs, spaces, leading zeros, huge numbers, "
       "other extensions, extra parts)", i);
    for (all = 1, i = 0; none[i]; i++)
        if (parse(none[i], &t) != TILER_ZOOM_NONE) { all = 0; printf("# taken as zoom: '%s'\n", none[i]); }
    ok(all, "%d paths that are not zoom URLs are not taken for one", i);

    /* 1000 x 600: maxL 10; level 10 has 4 x 3 tiles, level 9 (500 x 300) 2 x 2, level 0 one. */
    parse("/zoom_files/10/3_2.png", &t);
    ok(tiler_zoom_tile_exists(&t, 1000, 600), "the last tile of the top level exists");
    parse("/zoom_files/10/4_0.png", &t);
    ok(!tiler_zoom_tile_exists(&t, 1000, 600), "a column past the grid does not");
    parse("/zoom_files/10/0_3.png", &t);
    ok(!tiler_zoom_tile_exists(&t, 1000, 600), "a row past the grid does not");
    parse("/zoom_files/11/0_0.png", &t);
    ok(!tiler_zoom_tile_exists(&t, 1000, 600), "a level above the top does not");
    parse("/zoom_files/9/1_1.png", &t);
    ok(tiler_zoom_tile_exists(&t, 1000, 600), "level 9's last tile exists");
    parse("/zoom_files/9/2_1.png", &t);
    ok(!tiler_zoom_tile_exists(&t, 1000, 600), "level 9 has two columns only");
    parse("/zoom_files/0/0_0.png", &t);
    ok(tiler_zoom_tile_exists(&t, 1000, 600) && tiler_zoom_tile_exists(&t, 1, 1), "level 0 has its one tile");
    parse("/zoom_files/0/0_1.png", &t);
    ok(!tiler_zoom_tile_exists(&t, 1000, 600) && !tiler_zoom_tile_exists(&t, 0, 0), "and only one; an empty image none");
    parse("/zoom_files/20/4095_4095.png", &t);
    ok(tiler_zoom_tile_exists(&t, 1u << 20, 1u << 20) && !tiler_zoom_tile_exists(&t, (1u << 20) - 256, 1u << 20),
       "the largest image's last tile exists, and not in one a tile narrower");
    return done_testing();
}
