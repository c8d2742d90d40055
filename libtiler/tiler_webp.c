#include "tiler_webp.h"

#include <stdlib.h>
#include <string.h>
#include <webp/decode.h>

/* Read size: small enough that the first rows decode early, large enough
 * that a 100 MiB file is a few hundred appends. */
#define WEBP_CHUNK (256 * 1024)

static const char *status_text(VP8StatusCode st)
{
    switch (st) {
    case VP8_STATUS_SUSPENDED: return "the file is truncated";
    case VP8_STATUS_OUT_OF_MEMORY: return "out of memory";
    case VP8_STATUS_UNSUPPORTED_FEATURE: return "an unsupported feature (an animation?)";
    case VP8_STATUS_NOT_ENOUGH_DATA: return "the file is truncated";
    default: return "the data is corrupt";
    }
}

/* Rows from..to-1 of libwebp's RGBA output into the band, with libgd's
 * mapping, in the chunks the band has room for. The image's last row is
 * written but not said final: that waits for the verdict on the whole file
 * (as in tiler_jpeg.c). 0 or the callback's stop. */
static int copy_rows(tiler_band *b, const uint8_t *rgba, int stride, uint32_t from, uint32_t to, char *err, size_t errlen)
{
    uint32_t x, y, w = b->width;
    while (from < to) {
        uint32_t room = tiler_band_room(b), end = to - from < room ? to : from + room;
        for (y = from; y < end; y++) {
            const uint8_t *p = rgba + (size_t)stride * y;
            int *px = tiler_band_row(b, y);
            for (x = 0; x < w; x++, p += 4) px[x] = gdTrueColorAlpha(p[0], p[1], p[2], gdAlphaMax - (p[3] >> 1));
        }
        if (tiler_band_done(b, end < b->height ? end : end - 1, err, errlen)) return -1;
        from = end;
    }
    return 0;
}

int tiler_webp_decode(FILE *f, tiler_band *b, char *err, size_t errlen)
{
    WebPDecoderConfig config;
    WebPIDecoder *idec = NULL;
    unsigned char *buf = NULL;
    VP8StatusCode st = VP8_STATUS_SUSPENDED;
    uint32_t done = 0;
    int first = 1, alpha = 1;
    size_t n;
    uint64_t total = 0, riff_end = 0;

    if (!WebPInitDecoderConfig(&config)) {
        snprintf(err, errlen, "webp image could not be decoded: libwebp version mismatch");
        return -1;
    }
    config.output.colorspace = MODE_RGBA;
    if (!(idec = WebPIDecode(NULL, 0, &config)) || !(buf = malloc(WEBP_CHUNK))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    while (st == VP8_STATUS_SUSPENDED && (n = fread(buf, 1, WEBP_CHUNK, f)) > 0) {
        int last_y = 0, w = 0, h = 0, stride = 0;
        const uint8_t *rgba;
        /* The header says whether there is alpha (a VP8X flag, a VP8L
         * bit), for whoever must decide at the first rows, and how long
         * the RIFF is. */
        if (first) {
            WebPBitstreamFeatures feat;
            first = 0;
            if (WebPGetFeatures(buf, n, &feat) == VP8_STATUS_OK) alpha = feat.has_alpha;
            if (n >= 12 && !memcmp(buf, "RIFF", 4) && !memcmp(buf + 8, "WEBP", 4))
                riff_end = 8 + ((uint64_t)buf[4] | (uint64_t)buf[5] << 8 | (uint64_t)buf[6] << 16 | (uint64_t)buf[7] << 24);
        }
        total += n;
        st = WebPIAppend(idec, buf, n);
        if (st != VP8_STATUS_OK && st != VP8_STATUS_SUSPENDED) break;
        if (!(rgba = WebPIDecGetRGB(idec, &last_y, &w, &h, &stride)) || last_y <= (int)done) continue;
        if (!b->started && tiler_band_start(b, (uint32_t)w, (uint32_t)h, alpha, err, errlen) < 0) goto fail;
        if (copy_rows(b, rgba, stride, done, (uint32_t)last_y, err, errlen) < 0) goto fail;
        done = (uint32_t)last_y;
    }
    if (st != VP8_STATUS_OK || !b->started || done < b->height) {
        snprintf(err, errlen, "webp image could not be decoded: %s", status_text(st == VP8_STATUS_OK ? VP8_STATUS_SUSPENDED : st));
        goto fail;
    }
    /* libwebp is done at the image's end; the rest of the RIFF (metadata)
     * must be there too, as libgd's loader, given the whole file, requires:
     * else the file is cut short. */
    while ((n = fread(buf, 1, WEBP_CHUNK, f)) > 0) total += n;
    if (total < riff_end) {
        snprintf(err, errlen, "webp image could not be decoded: %s", status_text(VP8_STATUS_NOT_ENOUGH_DATA));
        goto fail;
    }
    WebPIDelete(idec);
    WebPFreeDecBuffer(&config.output);
    free(buf);
    return tiler_band_done(b, b->height, err, errlen) ? -1 : 0;
fail:
    if (idec) WebPIDelete(idec);
    WebPFreeDecBuffer(&config.output);
    free(buf);
    return -1;
}
