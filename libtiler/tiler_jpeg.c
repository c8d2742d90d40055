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

/* libgd's loader's conversion, which a CMYK file must get to give its
 * pixels: Adobe (Photoshop) files store the channels inverted. */
static int cmyk_to_gd(int c, int m, int y, int k, int inverted)
{
    if (inverted) { c = 255 - c; m = 255 - m; y = 255 - y; k = 255 - k; }
    return gdTrueColor((255 - c) * (255 - k) / 255, (255 - m) * (255 - k) / 255, (255 - y) * (255 - k) / 255);
}

static int saw_adobe(j_decompress_ptr cinfo)
{
    jpeg_saved_marker_ptr m;
    for (m = cinfo->marker_list; m; m = m->next)
        if (m->marker == JPEG_APP0 + 14 && m->data_length >= 12 && !strncmp((const char *)m->data, "Adobe", 5)) return 1;
    return 0;
}

int tiler_jpeg_decode(FILE *f, tiler_band *b, char *err, size_t errlen)
{
    struct jpeg_decompress_struct cinfo;
    error_mgr jerr;
    struct jpeg_progress_mgr progress;
    volatile int stopped = 0;
    volatile int cmyk = 0, inverted = 0;

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
        return -1;
    }
    jpeg_create_decompress(&cinfo);
    cinfo.progress = &progress;
    jpeg_stdio_src(&cinfo, f);
    jpeg_save_markers(&cinfo, JPEG_APP0 + 14, 256);   /* Adobe's, for CMYK */
    jpeg_read_header(&cinfo, TRUE);
    jerr.multi_scan = jpeg_has_multiple_scans(&cinfo);
    /* CMYK and YCCK come out as CMYK, 4 bytes a pixel like gd's ints, and
     * are converted in place the way libgd's loader does. */
    cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    cinfo.out_color_space = cmyk ? JCS_CMYK : GD_ORDER;
    jpeg_start_decompress(&cinfo);
    if (cmyk) inverted = saw_adobe(&cinfo);
    if (tiler_band_start(b, cinfo.output_width, cinfo.output_height, 0, err, errlen) < 0) {
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW rows[ROWS_AT_ONCE];
        uint32_t first = cinfo.output_scanline, room = tiler_band_room(b), n, i, x;
        for (i = 0; i < ROWS_AT_ONCE && i < room; i++) rows[i] = (JSAMPROW)tiler_band_row(b, first + i);
        n = 0;
        while (n < i) n += jpeg_read_scanlines(&cinfo, rows + n, i - n);
        for (i = 0; i < n; i++) {
            int *px = (int *)rows[i];
            const JSAMPLE *s = rows[i];
            if (cmyk)
                for (x = 0; x < cinfo.output_width; x++, s += 4) px[x] = cmyk_to_gd(s[0], s[1], s[2], s[3], inverted);
            else
                for (x = 0; x < cinfo.output_width; x++) px[x] &= 0x00ffffff;   /* opaque in gd's terms */
        }
        /* The last rows wait for the end of the file to be read: a file
         * cut or corrupt after its pixels must not let every tile out (and
         * the job complete) before it is refused. */
        if (first + n < cinfo.output_height && tiler_band_done(b, first + n, err, errlen)) {
            stopped = 1;
            jpeg_abort_decompress(&cinfo);
            jpeg_destroy_decompress(&cinfo);
            return -1;
        }
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    return tiler_band_done(b, b->height, err, errlen) ? -1 : 0;
}
