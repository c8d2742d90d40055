#include "tiler_zoom_url.h"

#include <string.h>
#include "tiler_pyramid.h"

/* The widest image has 2^20 pixels a side: 4096 tiles, 21 levels. Seven
 * digits are more than enough and far from any overflow. */
#define MAX_DIGITS 7

/* A decimal number at *s ending at stop: digits only, no leading zero. */
static int number(const char **s, char stop, uint32_t *v)
{
    const char *p = *s;
    uint32_t n = 0;
    int k = 0;
    while (*p >= '0' && *p <= '9') {
        if (++k > MAX_DIGITS) return -1;
        n = n * 10 + (uint32_t)(*p++ - '0');
    }
    if (!k || *p != stop || (k > 1 && **s == '0')) return -1;
    *v = n;
    *s = p + 1;
    return 0;
}

tiler_zoom_kind tiler_zoom_url_parse(const char *rest, tiler_zoom_tile *t)
{
    const char *p;
    uint32_t level;
    if (!strcmp(rest, "/zoom.dzi")) return TILER_ZOOM_DZI;
    if (strncmp(rest, "/zoom_files/", 12)) return TILER_ZOOM_NONE;
    p = rest + 12;
    if (number(&p, '/', &level) < 0 || number(&p, '_', &t->col) < 0 || number(&p, '.', &t->row) < 0
        || strcmp(p, "png"))
        return TILER_ZOOM_BAD;
    t->level = level;
    return TILER_ZOOM_TILE;
}

int tiler_zoom_tile_exists(const tiler_zoom_tile *t, uint32_t w, uint32_t h)
{
    uint32_t lw, lh;
    if (!w || !h || t->level > tiler_pyramid_max_level(w, h)) return 0;
    tiler_pyramid_level_size(w, h, t->level, &lw, &lh);
    return (uint64_t)t->col * TILER_PYRAMID_TILE < lw && (uint64_t)t->row * TILER_PYRAMID_TILE < lh;
}
