/* libFuzzer target: the tile message decoder, and processing of any task
 * it accepts (small by construction: the pixels must be in the input),
 * version 2 tasks that ask for a TIFF tile or a PNG tile's rows included;
 * an ENCODED result it accepts goes through the check the results consumer
 * makes of it (and a PNG tile's through the zoom feed's decoder); a raw
 * result (packed or not) of a small image is stored in a raster of each
 * layout as the results consumer stores it, and read back against its
 * pixels. */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include "tiler_msg.h"
#include "tiler_raster.h"
#include "tiler_spool.h"
#include "tiler_tile.h"
#include "tiler_png_tile.h"
#include "tiler_tiff_out.h"

/* Pixel i of a raw payload, read here from docs/protocol.md (not with
 * the library's unpacking, which is under test): a little-endian gd
 * value, R G B, or one grey byte. */
static uint32_t wire_pixel(const unsigned char *p, size_t pb, size_t i)
{
    p += i * pb;
    if (pb == 1) return p[0] * 0x010101u;
    if (pb == 3) return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
    return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* What a raster of rb bytes a pixel holds for gd value v (docs/protocol.md
 * and tiler_raster.h): v, its R G B, or its grey byte. */
static uint32_t kept(size_t rb, uint32_t v)
{
    return rb == 4 ? v : rb == 3 ? v & 0xffffff : (v & 0xff) * 0x010101u;
}

/* Stores a raw result in a raster of its image (a memfd) of rb bytes a
 * pixel and checks that every pixel of its core, and nothing else, is
 * what the result says as that layout keeps it; a grey raster must refuse
 * a result with a pixel that is not grey, and only such a result. */
static void store_result(const tiler_msg *m, size_t rb)
{
    char path[64], err[512];
    size_t pb = tiler_msg_pixel_bytes(m), n = (size_t)m->image_w * m->image_h, i, core = (size_t)m->src.w * m->src.h;
    unsigned char *raster;
    uint32_t x, y;
    int fd = memfd_create("raster", 0), grey = 1, rc;
    if (fd < 0) return;
    for (i = 0; i < core; i++) {
        uint32_t v = wire_pixel(m->pixels, pb, i);
        grey &= ((v >> 16 & 0xff) == (v & 0xff)) && ((v >> 8 & 0xff) == (v & 0xff));
    }
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    raster = malloc(n * 4);
    if (raster && ftruncate(fd, (off_t)(n * rb)) == 0) {
        rc = tiler_raster_write(path, m->image_w, m->image_h, m, err, sizeof(err));
        /* A grey raster takes only grey pixels; any raster takes every
         * result the decoder accepts (its rectangle is inside the image). */
        if ((rb == 1 && !grey) != (rc != 0)) abort();
        if (rc == 0 && pread(fd, raster, n * rb, 0) == (ssize_t)(n * rb)) {
            for (y = 0; y < m->image_h; y++)
                for (x = 0; x < m->image_w; x++) {
                    int in = y >= m->src.y && y - m->src.y < m->src.h && x >= m->src.x && x - m->src.x < m->src.w;
                    uint32_t want = in ? kept(rb, wire_pixel(m->pixels, pb, (size_t)(y - m->src.y) * m->src.w + (x - m->src.x))) : 0;
                    if (wire_pixel(raster, rb, (size_t)y * m->image_w + x) != want) abort();
                }
        }
    }
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
        store_result(&m, 4);
        store_result(&m, 3);
        store_result(&m, 1);
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
            /* A packed task is answered packed, any other raw one in version 1. */
            if (!m.enc.codec && !m.packing != !r.packing) abort();
            free(out);
        }
    }
    return 0;
}
