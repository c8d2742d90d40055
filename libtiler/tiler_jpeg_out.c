#include "tiler_jpeg_out.h"

#include <errno.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>

/* libgd's JFIF density (GD_RESOLUTION): the header must match gd's. */
#define GD_DPI 96

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf back;
    char msg[JMSG_LENGTH_MAX];
} error_mgr;

struct tiler_jpeg_out {
    struct jpeg_compress_struct c;
    error_mgr e;
    FILE *f;
    JSAMPLE *line;       /* one row of RGB samples */
    int failed;          /* a step failed: end only cleans up */
};

/* libjpeg's fatal errors must not return: jump back with the message. */
static void on_error(j_common_ptr c)
{
    error_mgr *e = (error_mgr *)c->err;
    c->err->format_message(c, e->msg);
    longjmp(e->back, 1);
}

/* Warnings and traces would go to stderr (httpd's error log): the encoder
 * has nothing to warn about that its return codes do not say. */
static void on_message(j_common_ptr c, int level)
{
    (void)c;
    (void)level;
}

static void destroy(tiler_jpeg_out *j)
{
    jpeg_destroy_compress(&j->c);
    free(j->line);
    free(j);
}

tiler_jpeg_out *tiler_jpeg_out_begin(FILE *f, uint32_t width, uint32_t height, int quality, char *err, size_t errlen)
{
    tiler_jpeg_out *j;
    if (width > JPEG_MAX_DIMENSION || height > JPEG_MAX_DIMENSION) {
        snprintf(err, errlen, "a JPEG cannot be %ux%u: its sides stop at %ld pixels", width, height, (long)JPEG_MAX_DIMENSION);
        return NULL;
    }
    if (!(j = calloc(1, sizeof(*j))) || !(j->line = malloc((size_t)width * 3 + 1))) {
        free(j);
        snprintf(err, errlen, "out of memory starting a JPEG");
        return NULL;
    }
    j->f = f;
    j->c.err = jpeg_std_error(&j->e.pub);
    j->e.pub.error_exit = on_error;
    j->e.pub.emit_message = on_message;
    if (setjmp(j->e.back)) {
        snprintf(err, errlen, "cannot start the JPEG: %s", j->e.msg);
        destroy(j);
        return NULL;
    }
    jpeg_create_compress(&j->c);
    /* The settings of libgd 2.3.3's _gdImageJpegCtx, in its order. */
    j->c.image_width = width;
    j->c.image_height = height;
    j->c.input_components = 3;
    j->c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&j->c);
    j->c.density_unit = 1;
    j->c.X_density = GD_DPI;
    j->c.Y_density = GD_DPI;
    if (quality >= 0) {
        jpeg_set_quality(&j->c, quality, TRUE);
        /* gd turns chroma subsampling off at 90 and above (4:4:4). */
        if (quality >= 90) {
            j->c.comp_info[0].h_samp_factor = 1;
            j->c.comp_info[0].v_samp_factor = 1;
        }
    }
    jpeg_stdio_dest(&j->c, f);
    jpeg_start_compress(&j->c, TRUE);
    return j;
}

int tiler_jpeg_out_rows(tiler_jpeg_out *j, const int *rows, uint32_t n, char *err, size_t errlen)
{
    uint32_t y, x, width = j->c.image_width;
    JSAMPROW rowp[1];
    if (j->failed) { snprintf(err, errlen, "the JPEG encoder failed before"); return -1; }
    if (n > j->c.image_height - j->c.next_scanline) {
        j->failed = 1;
        snprintf(err, errlen, "%u rows past the JPEG's %u", n, j->c.image_height);
        return -1;
    }
    if (setjmp(j->e.back)) {
        j->failed = 1;
        snprintf(err, errlen, "cannot encode the JPEG: %s", j->e.msg);
        return -1;
    }
    rowp[0] = j->line;
    for (y = 0; y < n; y++) {
        const int *src = rows + (size_t)y * width;
        JSAMPLE *dst = j->line;
        for (x = 0; x < width; x++) {
            unsigned v = (unsigned)src[x];
            *dst++ = (JSAMPLE)(v >> 16);
            *dst++ = (JSAMPLE)(v >> 8);
            *dst++ = (JSAMPLE)v;
        }
        jpeg_write_scanlines(&j->c, rowp, 1);
    }
    return 0;
}

int tiler_jpeg_out_end(tiler_jpeg_out *j, char *err, size_t errlen)
{
    int rc = 0;
    if (!j) return -1;
    if (j->failed) {
        rc = -1;   /* err was set by the step that failed */
    } else if (j->c.next_scanline < j->c.image_height) {
        snprintf(err, errlen, "the JPEG got %u of its %u rows", j->c.next_scanline, j->c.image_height);
        rc = -1;
    } else if (setjmp(j->e.back)) {
        snprintf(err, errlen, "cannot finish the JPEG: %s", j->e.msg);
        rc = -1;
    } else {
        jpeg_finish_compress(&j->c);
        if (ferror(j->f) || fflush(j->f) != 0) {
            snprintf(err, errlen, "cannot write the JPEG: %s", strerror(errno));
            rc = -1;
        }
    }
    destroy(j);
    return rc;
}

int tiler_jpeg_out_image(gdImagePtr im, FILE *f, int quality, char *err, size_t errlen)
{
    tiler_jpeg_out *j;
    int y, rc = 0;
    if (!gdImageTrueColor(im)) { snprintf(err, errlen, "not a truecolor image"); return -1; }
    j = tiler_jpeg_out_begin(f, (uint32_t)gdImageSX(im), (uint32_t)gdImageSY(im), quality, err, errlen);
    for (y = 0; j && rc == 0 && y < gdImageSY(im); y++) rc = tiler_jpeg_out_rows(j, im->tpixels[y], 1, err, errlen);
    if (rc < 0) {
        char ignored[8];
        tiler_jpeg_out_end(j, ignored, sizeof(ignored));
        return -1;
    }
    return tiler_jpeg_out_end(j, err, errlen);
}
