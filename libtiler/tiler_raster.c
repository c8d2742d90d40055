#include "tiler_raster.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "tiler_defaults.h"
#include "tiler_ops.h"
#include "tiler_png.h"
#include "tiler_spool.h"

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)

/* The layouts a raster can have (and a result's packings). */
static int is_layout(long long bytes)
{
    return bytes == TILER_PACK_GREY || bytes == TILER_PACK_RGB || bytes == TILER_PACK_GD;
}

int tiler_raster_packing(const char *ops, int alpha)
{
    tiler_chain chain;
    char err[256];
    /* The result's PNG drops what the narrower ones drop (tiler_png_color),
     * and a JPEG has no alpha: nothing a reader of the raster uses is lost. */
    if (alpha || !ops || tiler_chain_parse(&chain, ops, TILER_MAX_OPS, err, sizeof(err)) < 0) return TILER_PACK_GD;
    return tiler_chain_gray(&chain) ? TILER_PACK_GREY : TILER_PACK_RGB;
}

static uint64_t row_bytes(const tiler_raster *r)
{
    return (uint64_t)r->width * (uint64_t)r->packing;
}

int tiler_raster_create(const char *path, uint32_t width, uint32_t height, int packing, char *err, size_t errlen)
{
    int fd;
    if (!is_layout(packing)) FAIL("no raster of %d bytes a pixel", packing);
    if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640)) < 0) FAIL("cannot create raster: %s", strerror(errno));
    if (ftruncate(fd, (off_t)((uint64_t)width * height * (uint64_t)packing)) < 0) {
        int e = errno;
        close(fd);
        FAIL("cannot size raster: %s", strerror(e));
    }
    /* A delayed write error (NFS, a quota) shows at close: say so too. */
    if (close(fd) < 0) FAIL("cannot create raster: %s", strerror(errno));
    return 0;
}

int tiler_raster_attach(tiler_raster *r, int fd, uint32_t width, uint32_t height, char *err, size_t errlen)
{
    struct stat st;
    uint64_t px = (uint64_t)width * height;
    memset(r, 0, sizeof(*r));
    r->fd = -1;
    if (fstat(fd, &st) < 0) FAIL("cannot read the raster's size: %s", strerror(errno));
    if (!px || (uint64_t)st.st_size % px || !is_layout((long long)((uint64_t)st.st_size / px)))
        FAIL("the raster's %lld bytes are no layout of %ux%u pixels", (long long)st.st_size, width, height);
    r->fd = fd;
    r->width = width;
    r->height = height;
    r->packing = (int)((uint64_t)st.st_size / px);
    return 0;
}

int tiler_raster_open(tiler_raster *r, const char *path, uint32_t width, uint32_t height, int writable, char *err,
                      size_t errlen)
{
    int fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "cannot open raster: %s", strerror(e));
        errno = e;
        return -1;
    }
    if (tiler_raster_attach(r, fd, width, height, err, errlen) < 0) {
        close(fd);
        errno = EINVAL;
        return -1;
    }
    return 0;
}

int tiler_raster_removed(const tiler_raster *r, const char *path)
{
    struct stat open_st, path_st;
    if (fstat(r->fd, &open_st) < 0) return 0;
    if (stat(path, &path_st) < 0) return errno == ENOENT || errno == ENOTDIR;
    return open_st.st_dev != path_st.st_dev || open_st.st_ino != path_st.st_ino;
}

int tiler_raster_packing_most(const char *ops, tiler_format in, tiler_format out)
{
    return tiler_raster_packing(ops, in != TILER_FMT_JPEG && out != TILER_FMT_JPEG);
}

int tiler_raster_close(tiler_raster *r, char *err, size_t errlen)
{
    int fd = r->fd;
    r->fd = -1;
    if (fd >= 0 && close(fd) < 0) FAIL("cannot close raster: %s", strerror(errno));
    return 0;
}

static int check_rows(const tiler_raster *r, uint32_t top, uint32_t n, char *err, size_t errlen)
{
    if (!n || top >= r->height || n > r->height - top) FAIL("raster rows %u..%u are past its %u", top, top + n - 1, r->height);
    return 0;
}

int tiler_raster_get_packed(const tiler_raster *r, uint32_t top, uint32_t n, unsigned char *dst, char *err, size_t errlen)
{
    size_t want, got = 0;
    uint64_t off = (uint64_t)top * row_bytes(r);
    if (check_rows(r, top, n, err, errlen) < 0) return -1;
    want = (size_t)(row_bytes(r) * n);
    while (got < want) {
        ssize_t k = pread(r->fd, dst + got, want - got, (off_t)(off + got));
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) FAIL("cannot read raster rows %u..%u: %s", top, top + n - 1, k < 0 ? strerror(errno) : "short file");
        got += (size_t)k;
    }
    return 0;
}

int tiler_raster_get(const tiler_raster *r, uint32_t top, uint32_t n, int *dst, char *err, size_t errlen)
{
    size_t px = (size_t)r->width * n;
    /* Read into the tail of dst and widened in place from the front: pixel
     * i's 4 bytes never reach the packed bytes of pixel i + 1. */
    unsigned char *at = (unsigned char *)dst + px * 4 - px * (size_t)r->packing;
    if (tiler_raster_get_packed(r, top, n, at, err, errlen) < 0) return -1;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (r->packing == TILER_PACK_GD) return 0;   /* at is dst: the bytes are the ints */
#endif
    tiler_unpack_row(dst, at, px, r->packing);
    return 0;
}

static int pwrite_all(int fd, const void *buf, size_t n, off_t off)
{
    const char *p = buf;
    while (n) {
        ssize_t w = pwrite(fd, p, n, off);
        if (w < 0) { if (errno == EINTR) continue; return -1; }
        p += w; n -= (size_t)w; off += w;
    }
    return 0;
}

int tiler_raster_put(const tiler_raster *r, const tiler_msg *m, char *err, size_t errlen)
{
    size_t pb = tiler_msg_pixel_bytes(m), rb = (size_t)r->packing, w = m->src.w;
    unsigned char *out = NULL;
    int *line = NULL, rc = 0;
    uint32_t row;
    if (!is_layout((long long)pb))
        FAIL("tile %u comes packed at %zu bytes a pixel", m->tile_index, pb);
    if (!w || !m->src.h || m->src.x >= r->width || w > r->width - m->src.x || m->src.y >= r->height
        || m->src.h > r->height - m->src.y)
        FAIL("tile %u (%ux%u at %u,%u) is outside the %ux%u raster", m->tile_index, m->src.w, m->src.h, m->src.x, m->src.y,
             r->width, r->height);
    /* Rows that come packed as the raster is are copied as bytes. */
    if (pb != rb && (!(line = malloc(w * sizeof(int))) || !(out = malloc(w * rb)))) {
        free(line);
        FAIL("out of memory for a raster row");
    }
    for (row = 0; rc == 0 && row < m->src.h; row++) {
        off_t off = (off_t)((uint64_t)(m->src.y + row) * row_bytes(r) + (uint64_t)m->src.x * rb);
        const unsigned char *bytes = m->pixels + (size_t)row * w * pb;
        if (line) {
            tiler_unpack_row(line, bytes, w, (int)pb);
            if (rb == TILER_PACK_GREY && !tiler_png_is_gray(line, w)) {
                snprintf(err, errlen, "tile %u has a pixel that is not grey, in a grey result", m->tile_index);
                rc = -1;
                break;
            }
            tiler_pack_row(out, line, w, (int)rb);
            bytes = out;
        }
        if (pwrite_all(r->fd, bytes, w * rb, off) < 0) {
            snprintf(err, errlen, "cannot write raster: %s", strerror(errno));
            rc = -1;
        }
    }
    free(line);
    free(out);
    return rc;
}

int tiler_raster_free_rows(const tiler_raster *r, uint32_t top, uint32_t n, char *err, size_t errlen)
{
    uint64_t from = (uint64_t)top * row_bytes(r), to = from + (uint64_t)n * row_bytes(r);
    int rc;
    if (check_rows(r, top, n, err, errlen) < 0) return -1;
    if ((rc = tiler_spool_punch(r->fd, from, to)) < 0) FAIL("cannot free raster rows %u..%u: %s", top, top + n - 1, strerror(-rc));
    return rc;
}

/* Closes r after op's rc: a failure to close fails a call that worked. */
static int close_after(tiler_raster *r, int rc, char *err, size_t errlen)
{
    char cerr[256];
    if (tiler_raster_close(r, cerr, sizeof(cerr)) < 0 && rc >= 0) {
        snprintf(err, errlen, "%s", cerr);
        return -1;
    }
    return rc;
}

int tiler_raster_read_rows(const char *path, uint32_t width, uint32_t height, uint32_t top, uint32_t n, int *dst,
                           char *err, size_t errlen)
{
    tiler_raster r;
    if (tiler_raster_open(&r, path, width, height, 0, err, errlen) < 0) return -1;
    return close_after(&r, tiler_raster_get(&r, top, n, dst, err, errlen), err, errlen);
}

int tiler_raster_write(const char *path, uint32_t width, uint32_t height, const tiler_msg *m, char *err, size_t errlen)
{
    tiler_raster r;
    if (tiler_raster_open(&r, path, width, height, 1, err, errlen) < 0) return -1;
    return close_after(&r, tiler_raster_put(&r, m, err, errlen), err, errlen);
}

int tiler_raster_release_rows(const char *path, uint32_t width, uint32_t height, uint32_t top, uint32_t n, char *err,
                              size_t errlen)
{
    tiler_raster r;
    /* Gone: the job ended meanwhile (and took its raster's disk with it). */
    if (tiler_raster_open(&r, path, width, height, 1, err, errlen) < 0) return errno == ENOENT ? 0 : -1;
    return close_after(&r, tiler_raster_free_rows(&r, top, n, err, errlen), err, errlen);
}

int tiler_raster_has_hole(const char *path, char *err, size_t errlen)
{
    off_t end, hole;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) FAIL("cannot open raster: %s", strerror(errno));
    end = lseek(fd, 0, SEEK_END);
    hole = lseek(fd, 0, SEEK_HOLE);
    close(fd);
    if (end < 0 || hole < 0) FAIL("cannot look for holes in the raster: %s", strerror(errno));
    return hole < end;
}

gdImagePtr tiler_raster_load(const char *path, uint32_t width, uint32_t height, char *err, size_t errlen)
{
    tiler_raster r;
    gdImagePtr im;
    uint32_t y;
    if (tiler_raster_open(&r, path, width, height, 0, err, errlen) < 0) return NULL;
    if (!(im = gdImageCreateTrueColor((int)width, (int)height))) {
        snprintf(err, errlen, "out of memory loading a %ux%u raster", width, height);
    } else {
        for (y = 0; y < height; y++)
            if (tiler_raster_get(&r, y, 1, im->tpixels[y], err, errlen) < 0) break;
        if (y < height) {
            gdImageDestroy(im);
            im = NULL;
        } else {
            gdImageAlphaBlending(im, 0);
            gdImageSaveAlpha(im, 1);
        }
    }
    close_after(&r, 0, err, errlen);
    return im;
}
