#include "tiler_zoom_feed.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <gd.h>
#include "tiler_msg.h"
#include "tiler_png.h"
#include "tiler_pyramid.h"
#include "tiler_strip.h"

/* Per strip: its tiles are all placed; it was encoded before it was fed. */
#define READY   1
#define ENCODED 2

struct tiler_zoom_feed {
    int fd;                 /* the raster, open until close */
    uint32_t w, h, strip_rows, strips, fed, chunk;
    int color;
    unsigned char *state;   /* READY | ENCODED per strip */
    int *px;                /* chunk rows of the raster, while a strip is fed */
    unsigned char *samples; /* one row as the result's samples, likewise */
    tiler_pyramid *pyr;     /* NULL once ended */
};

size_t tiler_zoom_feed_work_bytes(uint32_t w, int feeding)
{
    return sizeof(tiler_zoom_feed) + tiler_pyramid_work_bytes(w)
           + (feeding ? (size_t)tiler_strip_chunk_rows(w) * w * sizeof(int) + (size_t)w * 4 : 0);
}

tiler_zoom_feed *tiler_zoom_feed_open(const char *raster, const char *dir, uint32_t w, uint32_t h, uint32_t strip_rows,
                                      int color, int zlevel, int *full, char *err, size_t errlen)
{
    tiler_zoom_feed *f;
    *full = 0;
    if (!w || !h || !strip_rows) { snprintf(err, errlen, "an empty image has no pyramid"); return NULL; }
    if (!(f = calloc(1, sizeof(*f)))) { snprintf(err, errlen, "out of memory"); return NULL; }
    f->fd = -1;
    f->w = w; f->h = h; f->strip_rows = strip_rows; f->color = color;
    f->strips = (uint32_t)(((uint64_t)h + strip_rows - 1) / strip_rows);
    f->chunk = tiler_strip_chunk_rows(w);
    if (!(f->state = calloc(f->strips, 1))) {
        snprintf(err, errlen, "out of memory for a %u-pixel-wide pyramid", w);
        goto bad;
    }
    if ((f->fd = open(raster, O_RDONLY | O_CLOEXEC)) < 0) {
        snprintf(err, errlen, "cannot open the raster: %s", strerror(errno));
        goto bad;
    }
    if (!(f->pyr = tiler_pyramid_begin(dir, w, h, zlevel, err, errlen))) {
        *full = errno == ENOSPC || errno == EDQUOT;
        goto bad;
    }
    return f;
bad:
    tiler_zoom_feed_close(f);
    return NULL;
}

uint32_t tiler_zoom_feed_strips(const tiler_zoom_feed *f)
{
    return f->strips;
}

void tiler_zoom_feed_ready(tiler_zoom_feed *f, uint32_t k)
{
    uint32_t i;
    if (k < f->strips) { f->state[k] |= READY; return; }
    for (i = 0; i < f->strips; i++) f->state[i] |= READY;
}

int tiler_zoom_feed_next(const tiler_zoom_feed *f, uint32_t *k)
{
    if (f->fed >= f->strips || !(f->state[f->fed] & READY)) return 0;
    *k = f->fed;
    return 1;
}

int tiler_zoom_feed_encoded(tiler_zoom_feed *f, uint32_t k)
{
    if (k >= f->strips || k < f->fed) return 1;
    f->state[k] |= ENCODED;
    return 0;
}

int tiler_zoom_feed_fed(tiler_zoom_feed *f, uint32_t k)
{
    if (k != f->fed) return 0;
    f->fed++;
    return (f->state[k] & ENCODED) != 0;
}

int tiler_zoom_feed_held(const tiler_zoom_feed *f, uint32_t k)
{
    return k < f->strips && k >= f->fed && (f->state[k] & ENCODED);
}

int tiler_zoom_feed_complete(const tiler_zoom_feed *f)
{
    return f->fed >= f->strips;
}

/* The row as the result holds it, back in gd ints: what reading the
 * result back would give (alpha dropped when the colour type has none,
 * 7-bit alpha through 8 bits and back). -1 when a grey type meets a pixel
 * that is not grey (the result's encoder refuses it too). */
static int as_result(tiler_zoom_feed *f, int *row)
{
    const unsigned char *s = f->samples;
    uint32_t x;
    if (tiler_png_row_samples(f->samples, row, f->w, f->color) < 0) return -1;
    for (x = 0; x < f->w; x++) {
        int r, g, b, a = 255;
        switch (f->color) {
        case TILER_PNG_GRAY: r = g = b = *s++; break;
        case TILER_PNG_GRAY_ALPHA: r = g = b = *s++; a = *s++; break;
        case TILER_PNG_RGB: r = *s++; g = *s++; b = *s++; break;
        default: r = *s++; g = *s++; b = *s++; a = *s++; break;
        }
        row[x] = gdTrueColorAlpha(r, g, b, 127 - (a >> 1));
    }
    return 0;
}

/* Reads raster rows [top, top + n) into f->px. */
static int read_rows(tiler_zoom_feed *f, uint32_t top, uint32_t n, char *err, size_t errlen)
{
    size_t want = (size_t)f->w * n * 4, got = 0;
    while (got < want) {
        ssize_t r = pread(f->fd, (char *)f->px + got, want - got, (off_t)((uint64_t)top * f->w * 4 + got));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            snprintf(err, errlen, "cannot read raster rows %u..%u: %s", top, top + n - 1,
                     r < 0 ? strerror(errno) : "short file");
            return -1;
        }
        got += (size_t)r;
    }
#if !(defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__)
    tiler_pixels_from_wire(f->px, (const unsigned char *)f->px, (size_t)f->w * n);
#endif
    return 0;
}

int tiler_zoom_feed_strip(tiler_zoom_feed *f, uint32_t k, const volatile int *cancel, char *err, size_t errlen)
{
    uint32_t top, end, y, n, i;
    int rc;
    if (!f->pyr || k != f->fed || k >= f->strips) {
        snprintf(err, errlen, "strip %u fed out of turn (next is %u of %u)", k, f->fed, f->strips);
        return -1;
    }
    /* Only while a strip is fed: a feed waiting for its next strip holds
     * the pyramid's rows alone. */
    if (!(f->px = malloc((size_t)f->chunk * f->w * sizeof(int))) || !(f->samples = malloc((size_t)f->w * 4))) {
        snprintf(err, errlen, "out of memory for a strip of the pyramid");
        rc = -1;
        goto out;
    }
    top = k * f->strip_rows;
    end = f->h - top < f->strip_rows ? f->h : top + f->strip_rows;
    rc = 0;
    for (y = top; rc == 0 && y < end; y += n) {
        n = end - y < f->chunk ? end - y : f->chunk;
        if ((rc = read_rows(f, y, n, err, errlen)) < 0) break;
        for (i = 0; rc == 0 && i < n; i++) {
            int *row = f->px + (size_t)i * f->w;
            if (cancel && *cancel) {
                snprintf(err, errlen, "stopped at row %u of %u", y + i, f->h);
                rc = -3;
            } else if (as_result(f, row) < 0) {
                snprintf(err, errlen, "row %u is not grey, as the result's colour type says it is", y + i);
                rc = -1;
            } else {
                rc = tiler_pyramid_row(f->pyr, row, err, errlen);
            }
        }
    }
out:
    free(f->px);
    free(f->samples);
    f->px = NULL;
    f->samples = NULL;
    return rc;
}

int tiler_zoom_feed_end(tiler_zoom_feed *f, char *err, size_t errlen)
{
    tiler_pyramid *p = f->pyr;
    if (!p || !tiler_zoom_feed_complete(f)) {
        snprintf(err, errlen, "the pyramid was ended with %u of its %u strips fed", f->fed, f->strips);
        return -1;
    }
    f->pyr = NULL;
    return tiler_pyramid_end(p, err, errlen);
}

void tiler_zoom_feed_close(tiler_zoom_feed *f)
{
    if (!f) return;
    tiler_pyramid_abort(f->pyr);
    if (f->fd >= 0) close(f->fd);
    free(f->state);
    free(f);
}
