/* The strip PNG encoder: what libgd reads back must be the pixels given,
 * whatever the strip cut, with and without alpha, and a file from strips
 * made out of order, saved and loaded, must equal the one made at once. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include "tap.h"
#include "testimg.h"
#include "tiler_png.h"

static char dir[] = "/tmp/tiler-test-png-XXXXXX";

/* 0 when b (read back by libgd) has exactly a's pixels. */
static int differs(gdImagePtr a, gdImagePtr b)
{
    int x, y;
    if (!b || gdImageSX(a) != gdImageSX(b) || gdImageSY(a) != gdImageSY(b)) return 1;
    for (y = 0; y < gdImageSY(a); y++)
        for (x = 0; x < gdImageSX(a); x++)
            if (gdImageGetTrueColorPixel(a, x, y) != gdImageGetTrueColorPixel(b, x, y)) return 1;
    return 0;
}

static gdImagePtr read_png(const char *p)
{
    FILE *f = fopen(p, "rb");
    gdImagePtr im = f ? gdImageCreateFromPng(f) : NULL;
    if (f) fclose(f);
    return im;
}

static int color_type(const char *p)
{
    unsigned char head[26];
    FILE *f = fopen(p, "rb");
    size_t n = f ? fread(head, 1, sizeof(head), f) : 0;
    if (f) fclose(f);
    return n == sizeof(head) ? head[25] : -1;
}

/* Encodes im in strips of the given height, in reverse order, through the
 * strip files, and writes the PNG. */
static int via_strips(gdImagePtr im, int strip_rows, int level, const char *out)
{
    uint32_t w = (uint32_t)gdImageSX(im), h = (uint32_t)gdImageSY(im);
    int n = ((int)h + strip_rows - 1) / strip_rows, k, alpha = 0, gray = 1, color, rc = 0;
    tiler_png_strip *s = calloc((size_t)n, sizeof(*s));
    char err[256], sp[300];
    uint32_t y;
    FILE *f;
    for (y = 0; y < h; y++) alpha |= tiler_png_has_alpha(im->tpixels[y], w);
    for (y = 0; y < h; y++) gray &= tiler_png_is_gray(im->tpixels[y], w);
    color = tiler_png_color(alpha, gray);
    for (k = n - 1; k >= 0; k--) {
        tiler_png_strip tmp;
        uint32_t top = (uint32_t)(k * strip_rows), rows = h - top < (uint32_t)strip_rows ? h - top : (uint32_t)strip_rows;
        snprintf(sp, sizeof(sp), "%s/strip-%d", dir, k);
        if (tiler_png_strip_encode((const int *const *)im->tpixels + top, w, rows, color, level, k == n - 1, &tmp,
                                   err, sizeof(err)) < 0
            || tiler_png_strip_save(sp, &tmp, err, sizeof(err)) < 0) { rc = -1; printf("# %s\n", err); }
        tiler_png_strip_free(&tmp);
    }
    for (k = 0; k < n && rc == 0; k++) {
        snprintf(sp, sizeof(sp), "%s/strip-%d", dir, k);
        if (tiler_png_strip_load(sp, &s[k], err, sizeof(err)) < 0) { rc = -1; printf("# %s\n", err); }
        unlink(sp);
    }
    if (rc == 0) {
        f = fopen(out, "wb");
        rc = tiler_png_write(f, w, h, color, s, n, err, sizeof(err));
        fclose(f);
    }
    for (k = 0; k < n; k++) tiler_png_strip_free(&s[k]);
    free(s);
    return rc;
}

static int same_file(const char *a, const char *b)
{
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "cmp -s %s %s", a, b);
    return system(cmd) == 0;
}

int main(void)
{
    static const struct { int w, h, alpha, gray, strip; } cases[] = {
        { 300, 200, 0, 0, 64 }, { 300, 200, 1, 0, 64 }, { 1, 500, 0, 0, 7 }, { 500, 1, 1, 0, 256 },
        { 257, 513, 0, 0, 256 }, { 64, 64, 1, 0, 1 }, { 1, 1, 0, 0, 1 },
        { 300, 200, 0, 1, 64 }, { 300, 200, 1, 1, 100 }, { 3, 1, 1, 1, 1 },
    };
    char p1[300], p2[300], err[256];
    size_t i;
    if (!mkdtemp(dir)) return 1;
    snprintf(p1, sizeof(p1), "%s/whole.png", dir);
    snprintf(p2, sizeof(p2), "%s/strips.png", dir);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        gdImagePtr im = testimg_make(cases[i].w, cases[i].h, cases[i].alpha, (uint32_t)i + 3), back;
        FILE *f;
        static const int want[2][2] = { { TILER_PNG_RGB, TILER_PNG_RGBA }, { TILER_PNG_GRAY, TILER_PNG_GRAY_ALPHA } };
        if (cases[i].gray) gdImageGrayScale(im);
        f = fopen(p1, "wb");
        int rc = tiler_png_save_image(im, f, 3, err, sizeof(err));
        fclose(f);
        ok(rc == 0, "%dx%d%s%s: encoded whole", cases[i].w, cases[i].h, cases[i].alpha ? " alpha" : "",
           cases[i].gray ? " gray" : "");
        back = read_png(p1);
        ok(!differs(im, back), "%dx%d%s: libgd reads back the same pixels", cases[i].w, cases[i].h,
           cases[i].alpha ? " alpha" : "");
        ok(color_type(p1) == want[cases[i].gray][cases[i].alpha], "%dx%d: colour type %d for %s%s", cases[i].w,
           cases[i].h, color_type(p1), cases[i].gray ? "gray" : "colour", cases[i].alpha ? " with transparency" : "");
        if (back) gdImageDestroy(back);
        ok(via_strips(im, cases[i].strip, 3, p2) == 0 && (cases[i].strip != 256 || same_file(p1, p2))
           && !differs(im, (back = read_png(p2))),
           "%dx%d: strips of %d rows, made last to first through files, give the same pixels (and bytes at 256)", cases[i].w,
           cases[i].h, cases[i].strip);
        if (back) gdImageDestroy(back);
        gdImageDestroy(im);
    }
    {
        /* Every alpha level survives the 7-bit/8-bit mapping both ways. */
        gdImagePtr im = gdImageCreateTrueColor(128, 2), back;
        FILE *f;
        int a;
        for (a = 0; a < 128; a++) { im->tpixels[0][a] = gdTrueColorAlpha(a, 255 - a, 7, a); im->tpixels[1][a] = 0; }
        f = fopen(p1, "wb");
        tiler_png_save_image(im, f, 9, err, sizeof(err));
        fclose(f);
        back = read_png(p1);
        ok(!differs(im, back), "all 128 alpha levels read back unchanged");
        if (back) gdImageDestroy(back);
        gdImageDestroy(im);
    }
    {
        /* Gray asked of a colour pixel: an error, not a silent loss. */
        gdImagePtr im = testimg_make(20, 3, 0, 9);
        tiler_png_strip s;
        ok(tiler_png_strip_encode((const int *const *)im->tpixels, 20, 3, TILER_PNG_GRAY, 3, 1, &s, err, sizeof(err)) < 0
           && strstr(err, "not gray"), "a colour row refused as gray: %s", err);
        gdImageDestroy(im);
    }
    {
        tiler_png_strip s;
        FILE *f = fopen(p1, "wb");
        fputs("not a strip", f);
        fclose(f);
        ok(tiler_png_strip_load(p1, &s, err, sizeof(err)) < 0 && strstr(err, "not a PNG strip"), "a foreign file is no strip: %s", err);
    }
    {
        /* Two writers of the same strip at once (a row's strip task and the
         * job's finish): every save succeeds and the strip stays whole. */
        gdImagePtr im = testimg_make(64, 16, 0, 8);
        tiler_png_strip s, back;
        char sp[300];
        int n, good = 1, status;
        pid_t pid;
        snprintf(sp, sizeof(sp), "%s/strip-race", dir);
        tiler_png_strip_encode((const int *const *)im->tpixels, 64, 16, tiler_png_color(0, 0), 3, 1, &s, err, sizeof(err));
        if ((pid = fork()) == 0) {
            for (n = 0; n < 300; n++) if (tiler_png_strip_save(sp, &s, err, sizeof(err)) < 0) _exit(1);
            _exit(0);
        }
        for (n = 0; n < 300; n++) if (tiler_png_strip_save(sp, &s, err, sizeof(err)) < 0) good = 0;
        waitpid(pid, &status, 0);
        ok(good && WIFEXITED(status) && WEXITSTATUS(status) == 0, "300 saves from each of two processes at once all succeed");
        ok(tiler_png_strip_load(sp, &back, err, sizeof(err)) == 0 && back.len == s.len && !memcmp(back.data, s.data, s.len),
           "and the strip reads back whole");
        tiler_png_strip_free(&back);
        tiler_png_strip_free(&s);
        unlink(sp);
        gdImageDestroy(im);
    }
    unlink(p1);
    unlink(p2);
    rmdir(dir);
    return done_testing();
}
