/* The incremental WebP decoder gives libgd's loader's pixels exactly
 * (lossy and lossless, opaque and with alpha), hands rows on in order
 * before the whole file is read, and fails on a truncated file as libgd
 * does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tap.h"
#include "rowwatch.h"
#include "testimg.h"
#include "tmpdir.h"
#include "tiler_image.h"
#include "tiler_webp.h"

static gdImagePtr gd_load(const char *p)
{
    FILE *f = fopen(p, "rb");
    gdImagePtr im = f ? gdImageCreateFromWebp(f) : NULL;
    if (f) fclose(f);
    return im;
}

static gdImagePtr ours(const char *p, watch *w, char *err, size_t errlen)
{
    FILE *f = fopen(p, "rb");
    tiler_band b;
    gdImagePtr im;
    watch_band(&b, w);
    im = band_image(&b, tiler_webp_decode(f, &b, err, errlen));
    fclose(f);
    return im;
}

static void write_webp(gdImagePtr im, const char *p, int quality)
{
    FILE *f = fopen(p, "wb");
    gdImageWebpEx(im, f, quality);
    fclose(f);
}

static long file_size(const char *p)
{
    FILE *f = fopen(p, "rb");
    long n;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fclose(f);
    return n;
}

int main(void)
{
    /* Big enough that the file is several of the decoder's reads. */
    gdImagePtr opaque = testimg_make(1501, 1203, 0, 5), alpha = testimg_make(1501, 1203, 1, 6), a, b;
    struct { const char *name; gdImagePtr im; int quality; } cases[] = {
        { "lossy.webp", NULL, 80 }, { "lossy-alpha.webp", NULL, 75 },
        { "lossless.webp", NULL, gdWebpLossless }, { "lossless-alpha.webp", NULL, gdWebpLossless },
    };
    char err[256];
    size_t k;

    if (tmpdir_make() < 0) return 1;
    cases[0].im = opaque; cases[1].im = alpha; cases[2].im = opaque; cases[3].im = alpha;
    for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        watch w = { 0, 0, 0, 1, 1, 0 };
        const char *path = tmpdir_path(cases[k].name);
        write_webp(cases[k].im, path, cases[k].quality);
        a = ours(path, &w, err, sizeof(err));
        b = gd_load(path);
        ok(a && b && same(a, b), "%s: the same pixels as libgd's loader%s%s", cases[k].name, a ? "" : ": ", a ? "" : err);
        ok(w.ordered && w.last == 1203, "%s: rows in order, up to %u", cases[k].name, w.last);
        ok(w.first_alpha == (cases[k].im == alpha), "%s: %s from the first callback", cases[k].name,
           cases[k].im == alpha ? "alpha" : "opaque");
        /* The first rows come before the last read when the file is longer
         * than one read (256 KiB). */
        if (file_size(path) > 2 * 256 * 1024)
            ok(w.calls > 1, "%s (%ld bytes): rows handed on in %u steps", cases[k].name, file_size(path), w.calls);
        else
            ok(w.calls >= 1, "%s (%ld bytes, one read): rows handed on", cases[k].name, file_size(path));
        if (a) gdImageDestroy(a);
        if (b) gdImageDestroy(b);
    }

    /* Through tiler_image_load. */
    a = tiler_image_load(tmpdir_path("lossy-alpha.webp"), TILER_FMT_WEBP, err, sizeof(err));
    b = gd_load(tmpdir_path("lossy-alpha.webp"));
    ok(a && same(a, b), "tiler_image_load takes WebP through the incremental decoder: %s", a ? "same" : err);
    if (a) gdImageDestroy(a);
    if (b) gdImageDestroy(b);

    /* Truncated: an error, as libgd gives; and the callback can stop it. */
    {
        FILE *in = fopen(tmpdir_path("lossless.webp"), "rb"), *out = fopen(tmpdir_path("cut.webp"), "wb");
        long size = file_size(tmpdir_path("lossless.webp"));
        char *buf = malloc((size_t)size);
        if (fread(buf, 1, (size_t)size, in) != (size_t)size) return 1;
        fwrite(buf, 1, (size_t)size * 2 / 3, out);
        fclose(in);
        fclose(out);
        free(buf);
    }
    a = ours(tmpdir_path("cut.webp"), NULL, err, sizeof(err));
    b = gd_load(tmpdir_path("cut.webp"));
    ok(!a && !b && !strcmp(err, "webp image could not be decoded: the file is truncated"), "a WebP cut short fails: %s", err);
    {
        watch w = { 0, 0, 100, 1, 1, 0 };
        a = ours(tmpdir_path("lossy.webp"), &w, err, sizeof(err));
        ok(!a && !strncmp(err, "stopped at row", 14), "the callback stops the decoding: %s", err);
    }

    /* Transparent only far down, where the first reads never reach: the
     * header says so from the first callback. */
    {
        watch w = { 0, 0, 0, 1, 1, 0 };
        int y, x;
        for (y = 0; y < 1100; y++)
            for (x = 0; x < 1501; x++) alpha->tpixels[y][x] &= 0x00ffffff;
        write_webp(alpha, tmpdir_path("alpha-low.webp"), gdWebpLossless);
        a = ours(tmpdir_path("alpha-low.webp"), &w, err, sizeof(err));
        b = gd_load(tmpdir_path("alpha-low.webp"));
        ok(a && same(a, b), "alpha below row 1100: libgd's loader's pixels");
        ok(w.calls > 1 && w.first_alpha, "alpha below row 1100: said at the first of %u callbacks", w.calls);
        if (a) gdImageDestroy(a);
        if (b) gdImageDestroy(b);
    }

    /* The RIFF header claims more than the file holds (cut in metadata
     * after the image): libwebp's incremental decoder gives every row,
     * libgd's loader refuses it. Refused, and the last rows never reach the
     * callback (the module would send every tile first). */
    {
        long size = file_size(tmpdir_path("lossless.webp"));
        FILE *in = fopen(tmpdir_path("lossless.webp"), "rb"), *out = fopen(tmpdir_path("cut.webp"), "wb");
        unsigned char *buf = malloc((size_t)size);
        uint32_t riff;
        watch w = { 0, 0, 0, 1, 1, 0 };
        if (fread(buf, 1, (size_t)size, in) != (size_t)size) return 1;
        riff = (uint32_t)buf[4] | (uint32_t)buf[5] << 8 | (uint32_t)buf[6] << 16 | (uint32_t)buf[7] << 24;
        riff += 1000;
        buf[4] = (unsigned char)riff; buf[5] = (unsigned char)(riff >> 8);
        buf[6] = (unsigned char)(riff >> 16); buf[7] = (unsigned char)(riff >> 24);
        fwrite(buf, 1, (size_t)size, out);
        fclose(in);
        fclose(out);
        free(buf);
        a = ours(tmpdir_path("cut.webp"), &w, err, sizeof(err));
        b = gd_load(tmpdir_path("cut.webp"));
        ok(!a && !b && strstr(err, "truncated"), "RIFF longer than the file: refused, as libgd does (%s)", a ? "accepted" : err);
        ok(w.last < 1203, "and its last rows never reached the callback (%u of 1203 did)", w.last);
        if (a) gdImageDestroy(a);
        if (b) gdImageDestroy(b);
    }

    gdImageDestroy(opaque);
    gdImageDestroy(alpha);
    for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) unlink(tmpdir_path(cases[k].name));
    unlink(tmpdir_path("cut.webp"));
    unlink(tmpdir_path("alpha-low.webp"));
    rmdir(tmpdir_name);
    return done_testing();
}
