/* libFuzzer target: the tile message decoder, and processing of any task
 * it accepts (small by construction: the pixels must be in the input),
 * version 2 tasks that ask for a TIFF tile or a PNG tile's rows included;
 * an ENCODED result it accepts goes through the check the results consumer
 * makes of it (and a PNG tile's through the zoom feed's decoder). */
#include <stdlib.h>
#include <stdint.h>
#include "tiler_msg.h"
#include "tiler_tile.h"
#include "tiler_png_tile.h"
#include "tiler_tiff_out.h"

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len)
{
    tiler_msg m;
    char err[512];
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
