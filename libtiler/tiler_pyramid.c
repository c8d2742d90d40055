#include "tiler_pyramid.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <gd.h>

#define T TILER_PYRAMID_TILE

typedef struct {
    uint32_t w, h;
    uint32_t y;        /* rows received */
    int band;          /* fd of the current band's rows (unlinked) */
    int *pending;      /* the even row waiting for its odd pair (levels > 0) */
    int *down;         /* a row of the level below, being made */
} pyr_level;

struct tiler_pyramid {
    char dir[3800];
    uint32_t w, h;
    unsigned max;
    int zlevel;
    pyr_level *lv;         /* lv[0 .. max] */
};

static void say(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int io_fail(int e, char *err, size_t errlen, const char *what)
{
    say(err, errlen, "%s: %s", what, strerror(e));
    return e == ENOSPC || e == EDQUOT ? -2 : -1;
}

unsigned tiler_pyramid_max_level(uint32_t w, uint32_t h)
{
    uint64_t side = w > h ? w : h;
    unsigned l = 0;
    while (((uint64_t)1 << l) < side) l++;
    return l;
}

void tiler_pyramid_level_size(uint32_t w, uint32_t h, unsigned level, uint32_t *lw, uint32_t *lh)
{
    unsigned k = tiler_pyramid_max_level(w, h) - level;
    uint64_t d = (uint64_t)1 << k;
    *lw = (uint32_t)((w + d - 1) / d);
    *lh = (uint32_t)((h + d - 1) / d);
}

int tiler_pyramid_tile_name(char *buf, size_t len, unsigned level, uint32_t col, uint32_t row)
{
    int n = snprintf(buf, len, "zoom_files/%u/%u_%u.png", level, col, row);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

size_t tiler_pyramid_work_bytes(uint32_t w)
{
    size_t sum = sizeof(tiler_pyramid) + (size_t)T * T * sizeof(int) + (size_t)T * sizeof(int *);
    uint64_t lw = w;
    for (;;) {
        sum += sizeof(pyr_level) + (size_t)(lw + (lw + 1) / 2) * sizeof(int);
        if (lw <= 1) break;
        lw = (lw + 1) / 2;
    }
    return sum;
}

void tiler_pyramid_abort(tiler_pyramid *p)
{
    unsigned l;
    if (!p) return;
    for (l = 0; p->lv && l <= p->max; l++) {
        if (p->lv[l].band >= 0) close(p->lv[l].band);
        free(p->lv[l].pending);
        free(p->lv[l].down);
    }
    free(p->lv);
    free(p);
}

/* An anonymous file for a band: created in the pyramid's directory (on the
 * spool's disk, not /tmp's) and unlinked at once, so it goes whatever
 * happens to the process. */
static int band_file(const char *dir)
{
    char path[4096];
    int fd;
    snprintf(path, sizeof(path), "%s/.band-XXXXXX", dir);
    if ((fd = mkstemp(path)) < 0) return -1;
    unlink(path);
    return fd;
}

tiler_pyramid *tiler_pyramid_begin(const char *dir, uint32_t w, uint32_t h, int zlevel, char *err, size_t errlen)
{
    tiler_pyramid *p;
    char path[4096];
    unsigned l;
    if (!w || !h) { say(err, errlen, "an empty image has no pyramid"); return NULL; }
    if (strlen(dir) >= sizeof(p->dir)) { say(err, errlen, "directory name too long"); return NULL; }
    if (!(p = calloc(1, sizeof(*p)))) { say(err, errlen, "out of memory"); return NULL; }
    strcpy(p->dir, dir);
    p->w = w; p->h = h; p->zlevel = zlevel;
    p->max = tiler_pyramid_max_level(w, h);
    if (!(p->lv = calloc(p->max + 1, sizeof(pyr_level)))) goto oom;
    for (l = 0; l <= p->max; l++) p->lv[l].band = -1;
    snprintf(path, sizeof(path), "%s/zoom_files", dir);
    if (mkdir(path, 0750) < 0) { io_fail(errno, err, errlen, "cannot make the tiles' directory"); goto bad; }
    for (l = 0; l <= p->max; l++) {
        pyr_level *v = &p->lv[l];
        tiler_pyramid_level_size(w, h, l, &v->w, &v->h);
        snprintf(path, sizeof(path), "%s/zoom_files/%u", dir, l);
        if (mkdir(path, 0750) < 0 || (v->band = band_file(dir)) < 0) {
            io_fail(errno, err, errlen, "cannot start a level");
            goto bad;
        }
        if (l > 0 && (!(v->pending = malloc((size_t)v->w * sizeof(int)))
                      || !(v->down = malloc((size_t)((v->w + 1) / 2) * sizeof(int)))))
            goto oom;
    }
    return p;
oom:
    say(err, errlen, "out of memory for a %u-pixel-wide pyramid", w);
bad:
    tiler_pyramid_abort(p);
    return NULL;
}

/* Writes im as the PNG tile at path: RGB when every pixel is opaque. */
static int save_tile(gdImagePtr im, const char *path, int zlevel, char *err, size_t errlen)
{
    int x, y, alpha = 0, e;
    FILE *f;
    for (y = 0; y < im->sy && !alpha; y++)
        for (x = 0; x < im->sx; x++)
            if (gdTrueColorGetAlpha(im->tpixels[y][x])) { alpha = 1; break; }
    gdImageSaveAlpha(im, alpha);
    if (!(f = fopen(path, "wb"))) return io_fail(errno, err, errlen, "cannot create a tile");
    gdImagePngEx(im, f, zlevel);
    e = ferror(f) ? (errno ? errno : EIO) : 0;
    if (fclose(f) != 0 && !e) e = errno;
    return e ? io_fail(e, err, errlen, "cannot write a tile") : 0;
}

/* Encodes the tiles of level l's band that ends with its row y - 1. */
static int emit_band(tiler_pyramid *p, unsigned l, char *err, size_t errlen)
{
    pyr_level *v = &p->lv[l];
    uint32_t top = (v->y - 1) / T * T, rows = v->y - top, col, r;
    char name[64], path[4096];
    int rc = 0;
    for (col = 0; rc == 0 && col * (uint64_t)T < v->w; col++) {
        uint32_t x0 = col * T, cols = v->w - x0 < T ? v->w - x0 : T;
        gdImagePtr im = gdImageCreateTrueColor((int)cols, (int)rows);
        if (!im) { say(err, errlen, "out of memory for a tile"); return -1; }
        gdImageAlphaBlending(im, 0);
        for (r = 0; rc == 0 && r < rows; r++) {
            size_t want = (size_t)cols * sizeof(int);
            off_t off = ((off_t)(r) * v->w + x0) * (off_t)sizeof(int);
            ssize_t got = pread(v->band, im->tpixels[r], want, off);
            if (got != (ssize_t)want) rc = io_fail(got < 0 ? errno : EIO, err, errlen, "cannot read a band back");
        }
        if (rc == 0) {
            tiler_pyramid_tile_name(name, sizeof(name), l, col, top / T);
            snprintf(path, sizeof(path), "%s/%s", p->dir, name);
            rc = save_tile(im, path, p->zlevel, err, errlen);
        }
        gdImageDestroy(im);
    }
    return rc;
}

/* The 2x2 (or smaller, at an edge) mean of rows a and b (b NULL: a's
 * block is one row high) into out, (w + 1) / 2 pixels. */
static void halve(const int *a, const int *b, uint32_t w, int *out)
{
    uint32_t x, ow = (w + 1) / 2;
    for (x = 0; x < ow; x++) {
        int px[4], n = 0, i, c;
        unsigned s[4] = { 0, 0, 0, 0 };
        px[n++] = a[2 * x];
        if (2 * x + 1 < w) px[n++] = a[2 * x + 1];
        if (b) {
            px[n++] = b[2 * x];
            if (2 * x + 1 < w) px[n++] = b[2 * x + 1];
        }
        for (i = 0; i < n; i++)
            for (c = 0; c < 4; c++) s[c] += ((unsigned)px[i] >> (8 * c)) & 0xff;
        out[x] = 0;
        for (c = 0; c < 4; c++) out[x] |= (int)(((s[c] + (unsigned)n / 2) / (unsigned)n) << (8 * c));
    }
}

static int push(tiler_pyramid *p, unsigned l, const int *row, char *err, size_t errlen)
{
    pyr_level *v = &p->lv[l];
    off_t off = (off_t)(v->y % T) * v->w * (off_t)sizeof(int);
    size_t n = (size_t)v->w * sizeof(int);
    const char *src = (const char *)row;
    int rc;
    if (v->y >= v->h) { say(err, errlen, "more rows than the image's %u", v->h); return -1; }
    while (n) {
        ssize_t wr = pwrite(v->band, src, n, off);
        if (wr < 0 && errno == EINTR) continue;
        if (wr <= 0) return io_fail(wr < 0 ? errno : EIO, err, errlen, "cannot write a band");
        src += wr; n -= (size_t)wr; off += wr;
    }
    v->y++;
    if ((v->y % T == 0 || v->y == v->h) && (rc = emit_band(p, l, err, errlen)) != 0) return rc;
    if (l == 0) return 0;
    if ((v->y - 1) % 2 == 0) {
        if (v->y < v->h) {   /* an even row: wait for its pair */
            memcpy(v->pending, row, (size_t)v->w * sizeof(int));
            return 0;
        }
        halve(row, NULL, v->w, v->down);   /* the last row, alone */
    } else {
        halve(v->pending, row, v->w, v->down);
    }
    return push(p, l - 1, v->down, err, errlen);
}

int tiler_pyramid_row(tiler_pyramid *p, const int *row, char *err, size_t errlen)
{
    return push(p, p->max, row, err, errlen);
}

int tiler_pyramid_end(tiler_pyramid *p, char *err, size_t errlen)
{
    char path[4096];
    FILE *f;
    int e = 0;
    unsigned l;
    for (l = 0; l <= p->max; l++)
        if (p->lv[l].y != p->lv[l].h) {
            say(err, errlen, "level %u has %u of its %u rows", l, p->lv[l].y, p->lv[l].h);
            tiler_pyramid_abort(p);
            return -1;
        }
    /* The descriptor last: a pyramid with one is complete. */
    snprintf(path, sizeof(path), "%s/" TILER_PYRAMID_DZI, p->dir);
    if (!(f = fopen(path, "w"))) {
        e = errno;
    } else {
        fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                   "<Image xmlns=\"http://schemas.microsoft.com/deepzoom/2008\" Format=\"png\" Overlap=\"0\" "
                   "TileSize=\"%d\">\n  <Size Width=\"%u\" Height=\"%u\"/>\n</Image>\n", T, p->w, p->h);
        if (ferror(f)) e = errno ? errno : EIO;
        if (fclose(f) != 0 && !e) e = errno;
    }
    tiler_pyramid_abort(p);
    return e ? io_fail(e, err, errlen, "cannot write the descriptor") : 0;
}
