#include "tiler_rows.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <gd.h>
#include <jpeglib.h>
#include <png.h>

typedef struct { struct jpeg_error_mgr pub; jmp_buf *jb; } jpeg_err;

struct tiler_rows {
    int jpeg;
    uint32_t w, h;
    /* libpng and libjpeg report errors by longjmp: each call that may fail
     * sets jb in its own frame first. */
    jmp_buf jb;
    char *err;
    size_t errlen;
    png_structp png;
    png_infop pi;
    struct jpeg_decompress_struct ci;
    jpeg_err je;
};

static void say(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static void png_fail(png_structp png, png_const_charp msg)
{
    tiler_rows *r = png_get_error_ptr(png);
    say(r->err, r->errlen, "PNG: %s", msg);
    longjmp(r->jb, 1);
}

static void png_quiet(png_structp png, png_const_charp msg)
{
    (void)png; (void)msg;   /* never to stderr, which in httpd is the error log */
}

static void jpeg_fail(j_common_ptr cinfo)
{
    jpeg_err *e = (jpeg_err *)cinfo->err;
    tiler_rows *r = (tiler_rows *)((char *)e - offsetof(tiler_rows, je));
    char msg[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, msg);
    say(r->err, r->errlen, "JPEG: %s", msg);
    longjmp(*e->jb, 1);
}

/* A warning about the data (a truncated or corrupt file) fails too: rows
 * of grey would be kept for good in a thumbnail or a pyramid. */
static void jpeg_warn(j_common_ptr cinfo, int level)
{
    if (level < 0) jpeg_fail(cinfo);
}

static int open_png(tiler_rows *r, FILE *f)
{
    int type, depth;
    if (!(r->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, r, png_fail, png_quiet))
        || !(r->pi = png_create_info_struct(r->png))) {
        say(r->err, r->errlen, "out of memory");
        return -1;
    }
    if (setjmp(r->jb)) return -1;
    /* A result may be far larger than libpng's default 1,000,000 pixel rows guard. */
    png_set_user_limits(r->png, 0x7fffffff, 0x7fffffff);
    png_init_io(r->png, f);
    png_read_info(r->png, r->pi);
    r->w = png_get_image_width(r->png, r->pi);
    r->h = png_get_image_height(r->png, r->pi);
    type = png_get_color_type(r->png, r->pi);
    depth = png_get_bit_depth(r->png, r->pi);
    if (png_get_interlace_type(r->png, r->pi) != PNG_INTERLACE_NONE) {
        say(r->err, r->errlen, "an interlaced PNG cannot be read by rows");
        return -1;
    }
    if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(r->png);
    if (type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(r->png);
    if (png_get_valid(r->png, r->pi, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(r->png);
    if (depth == 16) png_set_strip_16(r->png);
    if (type == PNG_COLOR_TYPE_GRAY || type == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(r->png);
    if (!(type & PNG_COLOR_MASK_ALPHA) && !png_get_valid(r->png, r->pi, PNG_INFO_tRNS))
        png_set_filler(r->png, 0xff, PNG_FILLER_AFTER);
    png_read_update_info(r->png, r->pi);
    if (png_get_rowbytes(r->png, r->pi) != (size_t)r->w * 4) {
        say(r->err, r->errlen, "PNG: unexpected row layout");
        return -1;
    }
    return 0;
}

static int open_jpeg(tiler_rows *r, FILE *f)
{
    r->ci.err = jpeg_std_error(&r->je.pub);
    r->je.pub.error_exit = jpeg_fail;
    r->je.pub.emit_message = jpeg_warn;
    r->je.jb = &r->jb;
    jpeg_create_decompress(&r->ci);
    r->jpeg = 2;   /* created: to be destroyed */
    if (setjmp(r->jb)) return -1;
    jpeg_stdio_src(&r->ci, f);
    jpeg_read_header(&r->ci, TRUE);
    r->w = r->ci.image_width;
    r->h = r->ci.image_height;
    if (jpeg_has_multiple_scans(&r->ci)) {
        say(r->err, r->errlen, "a progressive JPEG cannot be read by rows");
        return -1;
    }
    if (r->ci.jpeg_color_space == JCS_CMYK || r->ci.jpeg_color_space == JCS_YCCK) {
        say(r->err, r->errlen, "a CMYK JPEG cannot be read back here");
        return -1;
    }
    return 0;
}

tiler_rows *tiler_rows_open(FILE *f, char *err, size_t errlen)
{
    unsigned char magic[8];
    tiler_rows *r;
    int rc;
    if (fread(magic, 1, sizeof(magic), f) != sizeof(magic) || fseek(f, 0, SEEK_SET) != 0) {
        say(err, errlen, "the file is too short for an image");
        return NULL;
    }
    if (!(r = calloc(1, sizeof(*r)))) { say(err, errlen, "out of memory"); return NULL; }
    r->err = err;
    r->errlen = errlen;
    if (!png_sig_cmp(magic, 0, 8)) {
        rc = open_png(r, f);
    } else if (magic[0] == 0xff && magic[1] == 0xd8 && magic[2] == 0xff) {
        r->jpeg = 1;
        rc = open_jpeg(r, f);
    } else {
        say(err, errlen, "neither PNG nor JPEG");
        rc = -1;
    }
    if (rc < 0) { tiler_rows_close(r); return NULL; }
    return r;
}

void tiler_rows_size(const tiler_rows *r, uint32_t *w, uint32_t *h)
{
    *w = r->w;
    *h = r->h;
}

int tiler_rows_start(tiler_rows *r, int denom, uint32_t *out_w, uint32_t *out_h, int *channels, char *err, size_t errlen)
{
    r->err = err;
    r->errlen = errlen;
    if (!r->jpeg) {
        *out_w = r->w; *out_h = r->h; *channels = 4;
        return 0;
    }
    if (setjmp(r->jb)) return -1;
    r->ci.scale_num = 1;
    r->ci.scale_denom = (unsigned)(denom == 2 || denom == 4 || denom == 8 ? denom : 1);
    r->ci.out_color_space = JCS_RGB;
    jpeg_start_decompress(&r->ci);
    if (r->ci.output_components != 3) {
        say(err, errlen, "JPEG: unexpected output layout");
        return -1;
    }
    *out_w = r->ci.output_width; *out_h = r->ci.output_height; *channels = 3;
    return 0;
}

int tiler_rows_next(tiler_rows *r, unsigned char *row, char *err, size_t errlen)
{
    r->err = err;
    r->errlen = errlen;
    if (setjmp(r->jb)) return -1;
    if (!r->jpeg) {
        png_read_row(r->png, row, NULL);
    } else {
        JSAMPROW rp = row;
        if (jpeg_read_scanlines(&r->ci, &rp, 1) != 1) { say(err, errlen, "JPEG: no more rows"); return -1; }
    }
    return 0;
}

int tiler_rows_finish(tiler_rows *r, char *err, size_t errlen)
{
    r->err = err;
    r->errlen = errlen;
    if (setjmp(r->jb)) return -1;
    if (!r->jpeg) png_read_end(r->png, NULL);
    else jpeg_finish_decompress(&r->ci);
    return 0;
}

void tiler_rows_close(tiler_rows *r)
{
    if (!r) return;
    if (r->png) png_destroy_read_struct(&r->png, r->pi ? &r->pi : NULL, NULL);
    if (r->jpeg == 2) jpeg_destroy_decompress(&r->ci);
    free(r);
}

void tiler_rows_to_gd(const unsigned char *row, int channels, uint32_t w, int *out)
{
    uint32_t x;
    for (x = 0; x < w; x++, row += channels) {
        int a = channels == 4 ? row[3] : 255;
        out[x] = gdTrueColorAlpha(row[0], row[1], row[2], 127 - (a >> 1));
    }
}
