/* libFuzzer target: the tile message decoder, and processing of any task
 * it accepts (small by construction: the pixels must be in the input),
 * version 2 tasks that ask for a TIFF tile or a PNG tile's rows included;
 * an ENCODED result it accepts goes through the check the results consumer
 * makes of it (and a PNG tile's through the zoom feed's decoder); a raw
 * result (packed or not) of a small image is stored in a raster as the
 * results consumer stores it, and read back against its pixels. */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include "tiler_msg.h"
#include "tiler_spool.h"
#include "tiler_tile.h"
#include "tiler_png_tile.h"
#include "tiler_tiff_out.h"

/* Stores a raw result in a raster of its image (a memfd) and checks that
 * every pixel of its core, and nothing else, is what the result says. */
static void store_result(const tiler_msg *m)
{
    char path[64], err[512];
    size_t pb = tiler_msg_pixel_bytes(m), n = (size_t)m->image_w * m->image_h;
    int *raster, *row;
    uint32_t x, y;
    int fd = memfd_create("raster", 0);
    if (fd < 0) return;
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    raster = malloc(n * sizeof(int));
    row = malloc((size_t)m->src.w * sizeof(int));
    if (raster && row && ftruncate(fd, (off_t)(n * 4)) == 0 && tiler_raster_write(path, m->image_w, m, err, sizeof(err)) == 0
        && pread(fd, raster, n * 4, 0) == (ssize_t)(n * 4)) {
        for (y = 0; y < m->image_h; y++) {
            int in = y >= m->src.y && y - m->src.y < m->src.h;
            if (in) tiler_unpack_row(row, m->pixels + (size_t)(y - m->src.y) * m->src.w * pb, m->src.w, (int)pb);
            for (x = 0; x < m->image_w; x++) {
                int want = in && x >= m->src.x && x - m->src.x < m->src.w ? row[x - m->src.x] : 0;
                if (raster[(size_t)y * m->image_w + x] != want) abort();
            }
        }
    }
    free(row);
    free(raster);
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len)
{
    tiler_msg m;
    char err[512];
    if (tiler_msg_decode(&m, buf, len, err, sizeof(err)) == 0 && m.kind == TILER_MSG_RESULT
        && (uint64_t)m.image_w * m.image_h <= 256 * 256) {
        if (m.pixels + (size_t)m.src.w * m.src.h * tiler_msg_pixel_bytes(&m) != buf + len) abort();
        store_result(&m);
        return 0;
    }
    if (tiler_msg_decode(&m, buf, len, err, sizeof(err)) == 0 && m.kind == TILER_MSG_ENCODED) {
        /* The decoder bounded the payload: it lies inside the input. */
        if (m.pixels + m.payload_len != buf + len) abort();
        if (m.enc.codec == TILER_CODEC_PNG_ROWS) {
            /* As the results consumer checks it, then the zoom feed's decoder. */
            if (tiler_png_tile_plausible(m.pixels, m.payload_len, m.core.w, m.core.h, m.enc.samples, m.core.x == 0)) {
                unsigned char *px = malloc((size_t)m.core.w * m.core.h * m.enc.samples);
                if (px)
                    (void)tiler_png_tile_decode(m.pixels, m.payload_len, m.core.w, m.core.h, m.enc.samples, m.core.x == 0,
                                                px, (size_t)m.core.w * m.enc.samples, err, sizeof(err));
                free(px);
            }
        } else {
            (void)tiler_tiff_out_plausible(&m.enc, m.pixels, m.payload_len);
        }
        return 0;
    }
    if (tiler_msg_decode(&m, buf, len, err, sizeof(err)) == 0 && m.kind == TILER_MSG_TASK
        && (uint64_t)m.src.w * m.src.h <= 256 * 256) {
        size_t out_len;
        unsigned char *out = tiler_tile_process(&m, &out_len, err, sizeof(err));
        if (out) {
            tiler_msg r;
            if (tiler_msg_decode(&r, out, out_len, err, sizeof(err)) < 0) abort();   /* we must write what we read */
            free(out);
        }
    }
    return 0;
}
