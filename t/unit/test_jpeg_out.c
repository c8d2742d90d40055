/* The band JPEG encoder against libgd's gdImageJpeg at the same quality:
 * the same bytes but gd's comment marker, whatever the band size, at sides
 * that are and are not multiples of the MCU, with and without alpha (which
 * JPEG drops, as gd does). A strip whose output buffer cannot grow (an
 * address-space limit) fails cleanly. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <string.h>
#include <unistd.h>
#include "tap.h"
#include "testimg.h"
#include "tmpdir.h"
#include "tiler_defaults.h"
#include "tiler_image.h"
#include "tiler_jpeg_out.h"

/* gd's JPEG without its COM segment (the "CREATOR: gd-jpeg" line). */
static unsigned char *strip_comment(const unsigned char *b, size_t n, size_t *out)
{
    unsigned char *o = malloc(n);
    size_t i = 2, k = 2;
    memcpy(o, b, 2);
    while (i + 4 <= n && b[i] == 0xff && b[i + 1] != 0xda) {
        size_t len = 2 + ((size_t)b[i + 2] << 8 | b[i + 3]);
        if (b[i + 1] != 0xfe) { memcpy(o + k, b + i, len); k += len; }
        i += len;
    }
    memcpy(o + k, b + i, n - i);
    *out = k + n - i;
    return o;
}

/* The image through the band encoder, band rows at a time. */
static unsigned char *encode_bands(gdImagePtr im, uint32_t band, size_t *n, char *err, size_t errlen)
{
    uint32_t w = (uint32_t)gdImageSX(im), h = (uint32_t)gdImageSY(im), top, y;
    char *buf = NULL;
    FILE *f = open_memstream(&buf, n);
    int *px = malloc((size_t)w * band * sizeof(int)), rc = 0;
    tiler_jpeg_out *j = tiler_jpeg_out_begin(f, w, h, TILER_JPEG_QUALITY, err, errlen);
    for (top = 0; j && rc == 0 && top < h; top += band) {
        uint32_t rows = h - top < band ? h - top : band;
        for (y = 0; y < rows; y++) memcpy(px + (size_t)y * w, im->tpixels[top + y], w * sizeof(int));
        rc = tiler_jpeg_out_rows(j, px, rows, err, errlen);
    }
    rc = tiler_jpeg_out_end(j, err, errlen) < 0 || rc < 0;
    fclose(f);
    free(px);
    if (rc) { free(buf); return NULL; }
    return (unsigned char *)buf;
}

static int same_pixels(const void *a, size_t na, const void *b, size_t nb)
{
    gdImagePtr x = gdImageCreateFromJpegPtr((int)na, (void *)a), y = gdImageCreateFromJpegPtr((int)nb, (void *)b);
    int same = x && y && gdImageSX(x) == gdImageSX(y) && gdImageSY(x) == gdImageSY(y), r;
    for (r = 0; same && r < gdImageSY(x); r++) same = !memcmp(x->tpixels[r], y->tpixels[r], (size_t)gdImageSX(x) * sizeof(int));
    if (x) gdImageDestroy(x);
    if (y) gdImageDestroy(y);
    return same;
}

static void against_gd(int w, int h, int alpha, uint32_t band)
{
    gdImagePtr im = testimg_make(w, h, alpha, (uint32_t)(w * 31 + h));
    int gn = 0;
    size_t n = 0, sn;
    char err[256] = "";
    unsigned char *gd = gdImageJpegPtr(im, &gn, TILER_JPEG_QUALITY), *mine = encode_bands(im, band, &n, err, sizeof(err));
    unsigned char *gd_nc = strip_comment(gd, (size_t)gn, &sn);
    ok(mine && n == sn && !memcmp(mine, gd_nc, n), "%dx%d%s in bands of %u: gd's bytes but its comment (%zu vs %zu) %s",
       w, h, alpha ? " with alpha" : "", band, n, sn, err);
    ok(mine && same_pixels(mine, n, gd, (size_t)gn), "%dx%d%s: decodes to gd's pixels", w, h, alpha ? " with alpha" : "");
    free(mine);
    free(gd_nc);
    gdFree(gd);
    gdImageDestroy(im);
}

/* The image as strips of t rows, encoded last to first (order must not
 * matter) and joined: the pixels of gd's whole-image JPEG. */
static void strips_against_gd(int w, int h, int alpha, uint32_t t, int quality)
{
    gdImagePtr im = testimg_make(w, h, alpha, (uint32_t)(w * 17 + h));
    uint32_t n = ((uint32_t)h + t - 1) / t, k, y;
    unsigned char **parts = calloc(n, sizeof(*parts)), *joined;
    size_t *lens = calloc(n, sizeof(*lens)), total = 0, at = 0;
    int gn = 0, okay = 1;
    char err[256] = "";
    unsigned char *gd = gdImageJpegPtr(im, &gn, quality);
    for (k = n; k-- > 0 && okay;) {
        uint32_t top = k * t, rows = (uint32_t)h - top < t ? (uint32_t)h - top : t;
        int *px = malloc((size_t)w * rows * sizeof(int));
        for (y = 0; y < rows; y++) memcpy(px + (size_t)y * (size_t)w, im->tpixels[top + y], (size_t)w * sizeof(int));
        okay = tiler_jpeg_strip_encode(px, (uint32_t)w, (uint32_t)h, top, rows, quality, &parts[k], &lens[k], err, sizeof(err)) == 0;
        total += lens[k];
        free(px);
    }
    joined = malloc(total + 1);
    for (k = 0; okay && k < n; k++) { memcpy(joined + at, parts[k], lens[k]); at += lens[k]; }
    ok(okay && same_pixels(joined, at, gd, (size_t)gn), "%dx%d%s in %u strips of %u rows at quality %d: gd's pixels %s",
       w, h, alpha ? " with alpha" : "", n, t, quality, err);
    for (k = 0; k < n; k++) free(parts[k]);
    free(parts); free(lens); free(joined); gdFree(gd); gdImageDestroy(im);
}

#if !defined(__SANITIZE_ADDRESS__)
/* Encodes a noisy 4096 x 64 strip at quality 100 (about 700 KB of JPEG,
 * so its buffer grows several times) in a child under an address-space
 * limit of margin_kb more than it uses now. 1 when the child ends by
 * itself (encoded, or refused with a message), 0 when it crashes (a
 * double free aborts). AddressSanitizer reserves terabytes of address
 * space, so a limit means nothing there. */
static int strip_within(long margin_kb, int *refused)
{
    pid_t pid = fork();
    int status;
    if (pid == 0) {
        char line[256], err[256] = "";
        long vm_kb = 0;
        struct rlimit rl;
        unsigned char *o = NULL;
        size_t n = 0, i;
        int *rows = malloc(4096 * 64 * sizeof(int)), rc;
        FILE *st = fopen("/proc/self/status", "r");
        srand(7);
        for (i = 0; rows && i < 4096 * 64; i++) rows[i] = rand() & 0xffffff;
        while (st && fgets(line, sizeof(line), st))
            if (!strncmp(line, "VmSize:", 7)) vm_kb = atol(line + 7);
        if (st) fclose(st);
        rl.rlim_cur = rl.rlim_max = (rlim_t)(vm_kb + margin_kb) * 1024;
        if (!rows || setrlimit(RLIMIT_AS, &rl) < 0) _exit(3);
        rc = tiler_jpeg_strip_encode(rows, 4096, 64, 0, 64, 100, &o, &n, err, sizeof(err));
        free(o);
        _exit(rc == 0 ? 0 : err[0] ? 1 : 2);
    }
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return 0;
    *refused += WEXITSTATUS(status) == 1;
    return WEXITSTATUS(status) <= 1;
}
#endif

int main(void)
{
    static const struct { int w, h, alpha; uint32_t band; } cases[] = {
        { 1, 1, 0, 64 }, { 16, 16, 0, 16 }, { 17, 9, 0, 4 }, { 100, 33, 0, 64 },
        { 257, 255, 0, 7 }, { 64, 200, 0, 1 }, { 123, 77, 1, 64 }, { 40, 41, 1, 3 },
    };
    size_t i;
    char err[256];
    FILE *f;
    tiler_jpeg_out *j;
    int px[4] = { 0 };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) against_gd(cases[i].w, cases[i].h, cases[i].alpha, cases[i].band);

    strips_against_gd(100, 33, 0, 8, 90);
    strips_against_gd(257, 255, 1, 16, 90);
    strips_against_gd(64, 200, 0, 24, 90);
    strips_against_gd(31, 130, 0, 64, 90);    /* 8 restart markers and more: RST numbers wrap */
    strips_against_gd(130, 70, 0, 70, 90);    /* one strip */
    strips_against_gd(99, 101, 0, 16, 75);    /* 4:2:0 below 90: 16-row MCUs */
    strips_against_gd(99, 101, 1, 32, 75);
    {
        static int rows[64 * 16];
        unsigned char *o;
        size_t n;
        err[0] = 0;
        ok(tiler_jpeg_strip_encode(rows, 64, 40, 4, 8, 90, &o, &n, err, sizeof(err)) < 0 && strstr(err, "not a JPEG strip"),
           "a strip off the MCU rows: -1 (%s)", err);
        ok(tiler_jpeg_strip_encode(rows, 64, 40, 8, 12, 90, &o, &n, err, sizeof(err)) < 0, "part of an MCU row short of the end: -1");
        ok(tiler_jpeg_strip_encode(rows, 64, 40, 32, 8, 90, &o, &n, err, sizeof(err)) == 0 && n > 4
           && o[0] == 0xff && o[1] == 0xd3 && o[n - 2] == 0xff && o[n - 1] == 0xd9,
           "the last strip starts with the marker before MCU row 4 (RST3) and ends the file");
        if (n) free(o);
    }

#if !defined(__SANITIZE_ADDRESS__)
    {
        long margin;
        int crashed = 0, refused = 0;
        for (margin = 64; margin <= 4096; margin += 64)
            if (!strip_within(margin, &refused)) crashed++;
        ok(crashed == 0 && refused > 0, "a strip whose buffer cannot grow: refused with a message, never a crash "
           "(%d of 64 address-space limits refused it, %d crashed)", refused, crashed);
    }
#endif

    /* Local mode writes through tiler_image_save: the same file as gd's. */
    if (tmpdir_make() == 0) {
        gdImagePtr im = testimg_make(91, 45, 1, 7);
        int gn;
        size_t fn = 0, sn;
        unsigned char *gd = gdImageJpegPtr(im, &gn, TILER_JPEG_QUALITY), *gd_nc = strip_comment(gd, (size_t)gn, &sn);
        unsigned char *buf = malloc(sn + 16);
        ok(tiler_image_save(im, tmpdir_path("o.jpg"), TILER_FMT_JPEG, err, sizeof(err)) == 0, "tiler_image_save writes a JPEG");
        if ((f = fopen(tmpdir_path("o.jpg"), "rb"))) { fn = fread(buf, 1, sn + 16, f); fclose(f); }
        ok(fn == sn && !memcmp(buf, gd_nc, sn), "and it is gd's but the comment (%zu vs %zu bytes)", fn, sn);
        remove(tmpdir_path("o.jpg"));
        rmdir(tmpdir_name);
        free(buf); free(gd_nc); gdFree(gd); gdImageDestroy(im);
    }

    /* Refusals, each with a message. */
    f = fopen("/dev/null", "wb");
    err[0] = 0;
    ok(tiler_jpeg_out_begin(f, 70000, 10, 90, err, sizeof(err)) == NULL && strstr(err, "65500"),
       "a side over libjpeg's 65500: refused (%s)", err);
    j = tiler_jpeg_out_begin(f, 2, 2, 90, err, sizeof(err));
    ok(j && tiler_jpeg_out_rows(j, px, 1, err, sizeof(err)) == 0, "one row of two");
    err[0] = 0;
    ok(tiler_jpeg_out_end(j, err, sizeof(err)) < 0 && strstr(err, "1 of its 2 rows"), "ending a row short: -1 (%s)", err);
    j = tiler_jpeg_out_begin(f, 2, 2, 90, err, sizeof(err));
    err[0] = 0;
    ok(j && tiler_jpeg_out_rows(j, px, 3, err, sizeof(err)) < 0 && strstr(err, "past"), "a row too many: -1 (%s)", err);
    ok(tiler_jpeg_out_end(j, err, sizeof(err)) < 0, "and the end fails too");
    fclose(f);
    if ((f = fopen("/dev/full", "wb"))) {
        static int big[256 * 64];
        int rc;
        setvbuf(f, NULL, _IONBF, 0);
        err[0] = 0;
        j = tiler_jpeg_out_begin(f, 256, 64, 90, err, sizeof(err));
        rc = j ? tiler_jpeg_out_rows(j, big, 64, err, sizeof(err)) : -1;
        rc |= tiler_jpeg_out_end(j, err, sizeof(err));
        ok(rc < 0 && err[0], "a full disk: -1 with a message (%s)", err);
        fclose(f);
    }
    return done_testing();
}
