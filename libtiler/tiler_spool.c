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
