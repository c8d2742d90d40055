#include "tiler_spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <ftw.h>
#include "tiler_id.h"
#include "tiler_pyramid.h"

int tiler_spool_path(char *buf, size_t len, const char *spool, const char *id, tiler_spool_file which)
{
    static const char *const leaf[] = { "", "/input", "/raster", "/result", "/result.tmp",
                                        "/zoom", "/zoom.tmp", "/zoom/" TILER_PYRAMID_DZI, "/zoom.failed",
                                        "/zoom.lock", "/tiles", "/tiles.idx" };
    unsigned char raw[16];
    int n;
    if (!id || tiler_id_parse(id, strlen(id), raw) < 0) return -1;
    n = snprintf(buf, len, "%s/jobs/%s%s", spool, id, leaf[which]);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

int tiler_spool_thumb_path(char *buf, size_t len, const char *spool, const char *id, int side)
{
    char dir[4096];
    int n;
    if (side < 16 || side > 4096 || tiler_spool_path(dir, sizeof(dir), spool, id, TILER_SPOOL_DIR) < 0) return -1;
    n = snprintf(buf, len, "%s/thumb-%d.png", dir, side);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

int tiler_spool_zoom_tile_path(char *buf, size_t len, const char *spool, const char *id, unsigned level,
                               uint32_t col, uint32_t row)
{
    char dir[4096], name[64];
    int n;
    if (tiler_spool_path(dir, sizeof(dir), spool, id, TILER_SPOOL_ZOOM) < 0
        || tiler_pyramid_tile_name(name, sizeof(name), level, col, row) < 0)
        return -1;
    n = snprintf(buf, len, "%s/%s", dir, name);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st; (void)flag; (void)ftw;
    remove(path);
    return 0;   /* go on: remove what can be */
}

/* A pyramid's directory and everything in it (depth first, links not followed). */
static void remove_tree(const char *path)
{
    nftw(path, remove_one, 8, FTW_DEPTH | FTW_PHYS);
}

int tiler_spool_zoom_remove(const char *spool, const char *id, int tmp_only)
{
    char path[4096];
    if (tiler_spool_path(path, sizeof(path), spool, id, TILER_SPOOL_ZOOM_TMP) < 0) return -1;
    remove_tree(path);
    if (tmp_only) return 0;
    if (tiler_spool_path(path, sizeof(path), spool, id, TILER_SPOOL_ZOOM) < 0) return -1;
    remove_tree(path);
    if (tiler_spool_path(path, sizeof(path), spool, id, TILER_SPOOL_ZOOM_FAILED) < 0) return -1;
    unlink(path);
    if (tiler_spool_path(path, sizeof(path), spool, id, TILER_SPOOL_ZOOM_LOCK) < 0) return -1;
    unlink(path);
    return 0;
}

int tiler_spool_strip_path(char *buf, size_t len, const char *spool, const char *id, uint32_t k)
{
    char dir[4096];
    int n;
    if (tiler_spool_path(dir, sizeof(dir), spool, id, TILER_SPOOL_DIR) < 0) return -1;
    n = snprintf(buf, len, "%s/strip-%u", dir, k);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)

int tiler_raster_pread_rows(int fd, uint32_t width, uint32_t top, uint32_t n, int *dst, char *err, size_t errlen)
{
    size_t want = (size_t)width * n * 4, got = 0;
    while (got < want) {
        ssize_t r = pread(fd, (char *)dst + got, want - got, (off_t)((uint64_t)top * width * 4 + got));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0)
            FAIL("cannot read raster rows %u..%u: %s", top, top + n - 1, r < 0 ? strerror(errno) : "short file");
        got += (size_t)r;
    }
#if !(defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__)
    tiler_pixels_from_wire(dst, (const unsigned char *)dst, (size_t)width * n);
#endif
    return 0;
}

int tiler_raster_read_rows(const char *path, uint32_t width, uint32_t top, uint32_t n, int *dst,
                           char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY), rc;
    if (fd < 0) FAIL("cannot open raster: %s", strerror(errno));
    rc = tiler_raster_pread_rows(fd, width, top, n, dst, err, errlen);
    if (close(fd) < 0 && rc == 0) FAIL("cannot read raster: %s", strerror(errno));
    return rc;
}

int tiler_raster_create(const char *path, uint32_t width, uint32_t height, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) FAIL("cannot create raster: %s", strerror(errno));
    if (ftruncate(fd, (off_t)width * height * 4) < 0) {
        int e = errno;
        close(fd);
        FAIL("cannot size raster: %s", strerror(e));
    }
    /* A delayed write error (NFS, a quota) shows at close: say so too. */
    if (close(fd) < 0) FAIL("cannot create raster: %s", strerror(errno));
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

int tiler_raster_write(const char *path, uint32_t width, const tiler_msg *m, char *err, size_t errlen)
{
    uint32_t row;
    size_t pb = tiler_msg_pixel_bytes(m);
    int *line = NULL;
    int fd;
    /* The wire and the raster share the pixel encoding: rows copy as
     * bytes, unless they came packed tighter. */
    if (pb != 4 && !(line = malloc((size_t)m->src.w * sizeof(int)))) FAIL("out of memory for a raster row");
    if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0) {
        int e = errno;
        free(line);
        FAIL("cannot open raster: %s", strerror(e));
    }
    for (row = 0; row < m->src.h; row++) {
        off_t off = ((off_t)(m->src.y + row) * width + m->src.x) * 4;
        const void *bytes = m->pixels + (size_t)row * m->src.w * pb;
        if (line) {
            tiler_unpack_row(line, bytes, m->src.w, (int)pb);
#if !(defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__)
            tiler_pixels_to_wire((unsigned char *)line, line, m->src.w);
#endif
            bytes = line;
        }
        if (pwrite_all(fd, bytes, (size_t)m->src.w * 4, off) < 0) {
            int e = errno;
            close(fd);
            free(line);
            FAIL("cannot write raster: %s", strerror(e));
        }
    }
    free(line);
    if (close(fd) < 0) FAIL("cannot write raster: %s", strerror(errno));
    return 0;
}

int tiler_spool_punch(int fd, uint64_t from, uint64_t to)
{
    struct stat st;
    uint64_t blk;
    if (fstat(fd, &st) < 0) return -errno;
    /* Punching part of a block zeroes it without freeing it: that would
     * wipe the neighbouring bytes for nothing. */
    blk = st.st_blksize > 0 ? (uint64_t)st.st_blksize : 4096;
    from = (from + blk - 1) / blk * blk;
    to = to / blk * blk;
    if (to > from && fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)from, (off_t)(to - from)) < 0)
        return errno == EOPNOTSUPP || errno == ENOSYS ? 1 : -errno;
    return 0;
}

int tiler_raster_release_rows(const char *path, uint32_t width, uint32_t top, uint32_t n, char *err, size_t errlen)
{
    uint64_t from = (uint64_t)top * width * 4, to = from + (uint64_t)n * width * 4;
    int rc, fd = open(path, O_WRONLY | O_CLOEXEC);
    /* Gone: the job ended meanwhile (and took its raster's disk with it). */
    if (fd < 0 && errno == ENOENT) return 0;
    if (fd < 0) FAIL("cannot open raster: %s", strerror(errno));
    if ((rc = tiler_spool_punch(fd, from, to)) < 0) {
        close(fd);
        FAIL("cannot free raster rows %u..%u: %s", top, top + n - 1, strerror(-rc));
    }
    if (close(fd) < 0) FAIL("cannot free raster rows: %s", strerror(errno));
    return rc;
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
    gdImagePtr im;
    unsigned char *buf;
    uint32_t y;
    FILE *f = fopen(path, "rb");
    if (!f) { snprintf(err, errlen, "cannot open raster: %s", strerror(errno)); return NULL; }
    im = gdImageCreateTrueColor((int)width, (int)height);
    buf = malloc((size_t)width * 4);
    if (!im || !buf) {
        snprintf(err, errlen, "out of memory loading a %ux%u raster", width, height);
        goto bad;
    }
    for (y = 0; y < height; y++) {
        if (fread(buf, 4, width, f) != width) {
            snprintf(err, errlen, "raster is shorter than %ux%u", width, height);
            goto bad;
        }
        tiler_pixels_from_wire(im->tpixels[y], buf, width);
    }
    free(buf);
    fclose(f);
    gdImageAlphaBlending(im, 0);
    gdImageSaveAlpha(im, 1);
    return im;
bad:
    free(buf);
    if (im) gdImageDestroy(im);
    fclose(f);
    return NULL;
}

/* Unlinks the files of the job's directory whose names start with one of
 * the prefixes (names this code made: thumb-N.png, strip-N, strip-N.XXXXXX). */
static int unlink_prefixed(const char *spool, const char *id, const char *const *prefixes)
{
    char dir[4096], file[4096 + 300];
    DIR *d;
    struct dirent *e;
    int i;
    if (tiler_spool_path(dir, sizeof(dir), spool, id, TILER_SPOOL_DIR) < 0) return -1;
    if (!(d = opendir(dir))) return 0;
    while ((e = readdir(d)))
        for (i = 0; prefixes[i]; i++)
            if (!strncmp(e->d_name, prefixes[i], strlen(prefixes[i]))) {
                snprintf(file, sizeof(file), "%s/%s", dir, e->d_name);
                unlink(file);
            }
    closedir(d);
    return 0;
}

int tiler_spool_drop_work(const char *spool, const char *id)
{
    static const char *const work[] = { "strip-", NULL };
    static const tiler_spool_file files[] = { TILER_SPOOL_INPUT, TILER_SPOOL_RASTER, TILER_SPOOL_RESULT_TMP,
                                              TILER_SPOOL_TILES, TILER_SPOOL_TILE_INDEX };
    char path[4096];
    size_t i;
    for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        if (tiler_spool_path(path, sizeof(path), spool, id, files[i]) == 0) unlink(path);
    return unlink_prefixed(spool, id, work);
}

int tiler_spool_remove(const char *spool, const char *id)
{
    static const char *const made[] = { "thumb-", "strip-", NULL };
    char path[4096];
    tiler_spool_file which;
    for (which = TILER_SPOOL_INPUT; which <= TILER_SPOOL_TILE_INDEX; which++)
        if (tiler_spool_path(path, sizeof(path), spool, id, which) == 0) unlink(path);
    tiler_spool_zoom_remove(spool, id, 0);
    if (unlink_prefixed(spool, id, made) < 0 || tiler_spool_path(path, sizeof(path), spool, id, TILER_SPOOL_DIR) < 0)
        return -1;
    return rmdir(path);
}
