#include "tiler_jpeg.h"

#include <setjmp.h>
#include <string.h>
#include <jpeglib.h>
#include <jerror.h>

/* libjpeg reports a fatal error by calling error_exit, which must not
 * return: jump back with the message. */
typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf back;
    char msg[JMSG_LENGTH_MAX];
    int corrupt;      /* a warning about the data ended it */
    int multi_scan;   /* progressive or multi-scan: read whole before the first row */
} error_mgr;

/* A progressive file may hold thousands of tiny scans, each a pass over the
 * whole image: minutes of CPU for a small upload. Files in the wild have a
 * dozen or so. */
#define MAX_SCANS 1000

/* Called by libjpeg as it reads and decodes. */
static void on_progress(j_common_ptr c)
{
    j_decompress_ptr d = (j_decompress_ptr)c;
    error_mgr *e = (error_mgr *)c->err;
    if (d->input_scan_number <= MAX_SCANS) return;
    snprintf(e->msg, sizeof(e->msg), "more than %d scans", MAX_SCANS);
    longjmp(e->back, 1);
}

static void on_error(j_common_ptr c)
{
    error_mgr *e = (error_mgr *)c->err;
    c->err->format_message(c, e->msg);
    longjmp(e->back, 1);
}

/* At the end marker, whether every scan was read: a single-scan file has
 * given all its rows by then; a multi-scan one is read whole, every scan,
 * before its first row, so the marker comes after the last scan. */
static int scans_complete(j_decompress_ptr d, const error_mgr *e)
{
    return e->multi_scan || d->output_scanline >= d->output_height;
}

/* libjpeg only warns about a truncated file or corrupt data, and goes on
 * with grey rows or garbage where the data was missing or bad; libgd's
 * loader takes the result as whole. Here such a warning ends the decoding
 * as an error: the caller refuses the file, as it refuses a truncated PNG.
 * Warnings about metadata alone (an unknown JFIF version, Adobe transform
 * code, a bad ICC profile chunk) leave the pixels whole and are ignored. */
static void on_message(j_common_ptr c, int level)
{
    error_mgr *e = (error_mgr *)c->err;
    int code = c->err->msg_code;
    if (level >= 0) return;   /* trace messages */
    if (code == JWRN_JFIF_MAJOR || code == JWRN_ADOBE_XFORM || code == JWRN_BOGUS_ICC) return;
    /* Bytes between the last scan's data and the end marker, which many
     * cameras and phones write: libjpeg finds them only once that scan
     * is complete, so the pixels are whole. */
    if (code == JWRN_EXTRANEOUS_DATA && c->err->msg_parm.i[1] == JPEG_EOI && scans_complete((j_decompress_ptr)c, e)) return;
    c->err->format_message(c, e->msg);
    e->corrupt = 1;
    longjmp(e->back, 1);
}

/* The rows libjpeg writes, 4 bytes a pixel, in the order that makes each
 * pixel gd's 0x00RRGGBB int once the filler byte is cleared. */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define GD_ORDER JCS_EXT_BGRX
#else
#define GD_ORDER JCS_EXT_XRGB
#endif

#define ROWS_AT_ONCE 16

gdImagePtr tiler_jpeg_load_rows(FILE *f, tiler_rows_fn fn, void *ctx, int *other_colours, char *err, size_t errlen)
{
    struct jpeg_decompress_struct cinfo;
    error_mgr jerr;
    struct jpeg_progress_mgr progress;
    gdImagePtr volatile im = NULL;
    volatile int stopped = 0;

    *other_colours = 0;
    memset(&cinfo, 0, sizeof(cinfo));
    cinfo.err = jpeg_std_error(&jerr.pub);
    jerr.pub.error_exit = on_error;
    jerr.pub.emit_message = on_message;
    jerr.corrupt = 0;
    jerr.multi_scan = 0;
    progress.progress_monitor = on_progress;
    if (setjmp(jerr.back)) {
        if (!stopped) snprintf(err, errlen, "jpeg image %s: %s", jerr.corrupt ? "is truncated or corrupt" : "could not be decoded", jerr.msg);
        jpeg_destroy_decompress(&cinfo);
        if (im) gdImageDestroy(im);
        return NULL;
    }
    jpeg_create_decompress(&cinfo);
    cinfo.progress = &progress;
    jpeg_stdio_src(&cinfo, f);
    jpeg_read_header(&cinfo, TRUE);
    jerr.multi_scan = jpeg_has_multiple_scans(&cinfo);
    if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
        /* libgd's loader converts these its own way, but would take a
         * truncated file as whole: decode it once here, rows thrown away,
         * so that a warning refuses it first. */
        JSAMPARRAY row;
        cinfo.dct_method = JDCT_IFAST;
        jpeg_start_decompress(&cinfo);
        row = (*cinfo.mem->alloc_sarray)((j_common_ptr)&cinfo, JPOOL_IMAGE,
                                         cinfo.output_width * (JDIMENSION)cinfo.output_components, 1);
        while (cinfo.output_scanline < cinfo.output_height) jpeg_read_scanlines(&cinfo, row, 1);
        jpeg_finish_decompress(&cinfo);
        *other_colours = 1;
        snprintf(err, errlen, "a CMYK JPEG");
        jpeg_destroy_decompress(&cinfo);
        return NULL;
    }
    cinfo.out_color_space = GD_ORDER;
    jpeg_start_decompress(&cinfo);
    if (!(im = gdImageCreateTrueColor((int)cinfo.output_width, (int)cinfo.output_height))) {
        snprintf(err, errlen, "out of memory for a %ux%u image", cinfo.output_width, cinfo.output_height);
        jpeg_destroy_decompress(&cinfo);
        return NULL;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW rows[ROWS_AT_ONCE];
        uint32_t first = cinfo.output_scanline, n, i, x;
        for (i = 0; i < ROWS_AT_ONCE && first + i < cinfo.output_height; i++) rows[i] = (JSAMPROW)im->tpixels[first + i];
        n = 0;
        while (n < i) n += jpeg_read_scanlines(&cinfo, rows + n, i - n);
        for (i = 0; i < n; i++) {
            int *px = im->tpixels[first + i];
            for (x = 0; x < cinfo.output_width; x++) px[x] &= 0x00ffffff;   /* opaque in gd's terms */
        }
        /* The last rows wait for the end of the file to be read: a file
         * cut or corrupt after its pixels must not let every tile out (and
         * the job complete) before it is refused. */
        if (fn && first + n < cinfo.output_height && fn(ctx, im, first + n, err, errlen)) {
            stopped = 1;
            jpeg_abort_decompress(&cinfo);
            jpeg_destroy_decompress(&cinfo);
            gdImageDestroy(im);
            return NULL;
        }
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    if (fn && fn(ctx, im, (uint32_t)gdImageSY(im), err, errlen)) {
        gdImageDestroy(im);
        return NULL;
    }
    gdImageAlphaBlending(im, 0);
    gdImageSaveAlpha(im, 1);
    return im;
}
