/* libFuzzer target: a PNG result's tile as the workers send it (codec 3,
 * tiler_png_tile.h), through what the web host does with the bytes: the
 * results consumer's check, the strip writer (which reads them back from
 * the tiles file it stored them in, trusting it no more), and the zoom
 * feed's decoder. The first four bytes choose the tile's width, height,
 * samples and whether it is the leftmost; the rest is the payload. A
 * payload the check passes must never make the strip writer or the
 * decoder read or write out of bounds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include "tiler_png_tile.h"

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len)
{
    uint32_t w, h;
    int samples, lead;
    char err[512];
    const uint8_t *p = buf + 4;
    size_t n;
    if (len < 4) return 0;
    w = 1 + buf[0] % 64;
    h = 1 + buf[1] % 64;
    samples = 1 + buf[2] % 4;
    lead = buf[3] & 1;
    n = len - 4;
    if (tiler_png_tile_plausible(p, n, w, h, samples, lead)) {
        unsigned char *out = malloc((size_t)w * h * samples);
        tiler_png_tile_ref ref = { 0, n };
        int fd = memfd_create("tiles", 0);
        FILE *f = tmpfile();
        (void)tiler_png_tile_decode(p, n, w, h, samples, lead, out, (size_t)w * samples, err, sizeof(err));
        /* The strip writer takes a tile as leftmost only: a row of one. */
        if (lead && fd >= 0 && f && write(fd, p, n) == (ssize_t)n)
            (void)tiler_png_tile_strip(f, fd, &ref, 1, w, 64, h, samples, buf[3] & 2, 1 + buf[3] % 7, err, sizeof(err));
        /* And a length its index might say instead. */
        if (lead && fd >= 0 && f && n > 1) {
            ref.len = n - 1;
            (void)tiler_png_tile_strip(f, fd, &ref, 1, w, 64, h, samples, 0, 3, err, sizeof(err));
        }
        if (f) fclose(f);
        if (fd >= 0) close(fd);
        free(out);
    }
    return 0;
}
