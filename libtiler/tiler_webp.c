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

/* Rows from..to-1 of libwebp's RGBA output into im, with libgd's mapping. */
static void copy_rows(gdImagePtr im, const uint8_t *rgba, int stride, int from, int to)
{
    int x, y, w = gdImageSX(im);
    for (y = from; y < to; y++) {
        const uint8_t *p = rgba + (size_t)stride * (size_t)y;
        int *px = im->tpixels[y];
        for (x = 0; x < w; x++, p += 4) px[x] = gdTrueColorAlpha(p[0], p[1], p[2], gdAlphaMax - (p[3] >> 1));
    }
}

gdImagePtr tiler_webp_load_rows(FILE *f, tiler_rows_fn fn, void *ctx, char *err, size_t errlen)
{
    WebPDecoderConfig config;
    WebPIDecoder *idec = NULL;
    unsigned char *buf = NULL;
    gdImagePtr im = NULL;
    VP8StatusCode st = VP8_STATUS_SUSPENDED;
    int done = 0, alpha = 1, first = 1;
    size_t n;
    uint64_t total = 0, riff_end = 0;

    if (!WebPInitDecoderConfig(&config)) {
        snprintf(err, errlen, "webp image could not be decoded: libwebp version mismatch");
        return NULL;
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
         * bit), for whoever must decide at the first rows (tiler_rows_fn). */
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
        if (!(rgba = WebPIDecGetRGB(idec, &last_y, &w, &h, &stride)) || last_y <= done) continue;
        if (!im && !(im = gdImageCreateTrueColor(w, h))) {
            snprintf(err, errlen, "out of memory for a %dx%d image", w, h);
            goto fail;
        }
        gdImageSaveAlpha(im, alpha);
        copy_rows(im, rgba, stride, done, last_y);
        done = last_y;
        /* The last rows wait for the decoder's verdict on the whole file
         * (as in tiler_jpeg.c): every tile must not leave before it. */
        if (fn && done < h && fn(ctx, im, (uint32_t)done, err, errlen)) goto fail;
    }
    if (st != VP8_STATUS_OK || !im || done < gdImageSY(im)) {
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
    if (fn && fn(ctx, im, (uint32_t)done, err, errlen)) goto fail;
    WebPIDelete(idec);
    WebPFreeDecBuffer(&config.output);
    free(buf);
    gdImageAlphaBlending(im, 0);
    gdImageSaveAlpha(im, 1);
    return im;
fail:
    if (idec) WebPIDelete(idec);
    WebPFreeDecBuffer(&config.output);
    free(buf);
    if (im) gdImageDestroy(im);
    return NULL;
}
