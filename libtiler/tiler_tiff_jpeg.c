#include "tiler_tiff_jpeg.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include <jerror.h>
#include "tiler_defaults.h"
#include "tiler_jpeg_err.h"
#include "tiler_png.h"

/* The destination: one buffer of the bound, filled by libjpeg. Running
 * out of it is a fatal error (ERREXIT), so the buffer is the most a tile
 * ever takes, and nothing is reallocated on the way. */
typedef struct {
    struct jpeg_destination_mgr pub;
    unsigned char *buf;
    size_t size;
    int full;          /* the stream outgrew the buffer */
} fixed_dest;

typedef tiler_jpeg_err error_mgr;

size_t tiler_tiff_jpeg_max_bytes(uint32_t side, int samples)
{
    return (size_t)side * side * (samples == 1 ? 2 : 3) + 2048;
}

static void dest_init(j_compress_ptr c)
{
    fixed_dest *d = (fixed_dest *)c->dest;
    d->pub.next_output_byte = d->buf;
    d->pub.free_in_buffer = d->size;
}

static boolean dest_full(j_compress_ptr c)
{
    ((fixed_dest *)c->dest)->full = 1;
    ERREXIT(c, JERR_BUFFER_SIZE);
    return FALSE;
}

static void dest_term(j_compress_ptr c)
{
    (void)c;
}

/* Baseline, quality TILER_JPEG_QUALITY, libjpeg's default 2x2 chroma
 * subsampling for colour (YCbCr, the default for RGB input). No JFIF
 * marker: a TIFF's JPEG tiles carry none (Technote 2), the directory says
 * what the samples are. */
static void settings(struct jpeg_compress_struct *c, uint32_t side, int samples)
{
    c->image_width = side;
    c->image_height = side;
    c->input_components = samples;
    c->in_color_space = samples == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(c);
    jpeg_set_quality(c, TILER_JPEG_QUALITY, TRUE);
    c->write_JFIF_header = FALSE;
}

/* Row y of the padded tile into line: the source row (the last one past
 * h), its last pixel repeated past w. -1 when a grey tile meets colour. */
static int padded_row(JSAMPLE *line, const int *const *rows, uint32_t w, uint32_t h, uint32_t side, int samples,
                      uint32_t y)
{
    uint32_t x;
    int k;
    if (tiler_png_row_samples(line, rows[y < h ? y : h - 1], w, samples == 1 ? TILER_PNG_GRAY : TILER_PNG_RGB) < 0)
        return -1;
    for (x = w; x < side; x++)
        for (k = 0; k < samples; k++) line[x * samples + k] = line[(w - 1) * samples + k];
    return 0;
}

/* The encoding itself, after a setjmp that catches libjpeg's errors (the
 * compressor's creation included: it can run out of memory). What the
 * jump leaves behind lives in the caller, which destroys it. */
static int encode(struct jpeg_compress_struct *c, error_mgr *e, fixed_dest *d, JSAMPLE *line, const int *const *rows,
                  uint32_t w, uint32_t h, uint32_t side, int samples, char *err, size_t errlen)
{
    JSAMPROW rowp[1] = { line };
    uint32_t y;
    if (setjmp(e->back)) {
        if (d->full) snprintf(err, errlen, "a %u-pixel TIFF tile's JPEG stream outgrew its %zu bytes", side, d->size);
        else snprintf(err, errlen, "cannot JPEG-encode a %u-pixel TIFF tile: %s", side, e->msg);
        return -1;
    }
    jpeg_create_compress(c);
    c->dest = &d->pub;
    settings(c, side, samples);
    jpeg_start_compress(c, TRUE);
    for (y = 0; y < side; y++) {
        if (padded_row(line, rows, w, h, side, samples, y) < 0) {
            snprintf(err, errlen, "a grey TIFF tile has a pixel that is not grey");
            return -1;
        }
        jpeg_write_scanlines(c, rowp, 1);
    }
    jpeg_finish_compress(c);
    return 0;
}

int tiler_tiff_jpeg_tile(const int *const *rows, uint32_t w, uint32_t h, uint32_t side, int samples,
                         unsigned char **out, size_t *len, char *err, size_t errlen)
{
    struct jpeg_compress_struct c;
    error_mgr e;
    fixed_dest d;
    JSAMPLE *line;
    int rc;

    if (samples != 1 && samples != 3) {
        snprintf(err, errlen, "a JPEG TIFF tile has 1 or 3 samples, not %d", samples);
        return -1;
    }
    if (!w || !h || w > side || h > side) {
        snprintf(err, errlen, "a %ux%u tile does not fit %u-pixel TIFF tiles", w, h, side);
        return -1;
    }
    memset(&d, 0, sizeof(d));
    d.size = tiler_tiff_jpeg_max_bytes(side, samples);
    line = malloc((size_t)side * (size_t)samples);
    if (!line || !(d.buf = malloc(d.size))) {
        free(line);
        snprintf(err, errlen, "out of memory for a %u-pixel TIFF tile", side);
        return -1;
    }
    d.pub.init_destination = dest_init;
    d.pub.empty_output_buffer = dest_full;
    d.pub.term_destination = dest_term;
    memset(&c, 0, sizeof(c));
    c.err = tiler_jpeg_err_init(&e);
    rc = encode(&c, &e, &d, line, rows, w, h, side, samples, err, errlen);
    jpeg_destroy_compress(&c);
    free(line);
    if (rc < 0) {
        free(d.buf);
        return -1;
    }
    *len = d.size - d.pub.free_in_buffer;
    /* Give back the bound's unused room: the tile is kept until sent. */
    *out = realloc(d.buf, *len);
    if (!*out) *out = d.buf;
    return 0;
}

/* The frame header (SOF0) says what the directory will: 8-bit baseline,
 * side x side, the samples, and for colour the 2x2 luma sampling that
 * YCbCrSubsampling 2,2 declares (chroma 1x1), for grey 1x1. */
static int frame_fits(const unsigned char *f, size_t n, uint32_t side, int samples)
{
    int i;
    if (n < 6 + 3 * (size_t)samples || f[0] != 8 || (uint32_t)(f[1] << 8 | f[2]) != side
        || (uint32_t)(f[3] << 8 | f[4]) != side || f[5] != samples)
        return 0;
    for (i = 0; i < samples; i++) {
        unsigned hv = f[6 + 3 * i + 1];
        if (hv != (samples == 3 && i == 0 ? 0x22 : 0x11)) return 0;
    }
    return 1;
}

int tiler_tiff_jpeg_plausible(uint32_t side, int samples, const unsigned char *data, size_t len)
{
    size_t pos = 2;
    if (len < 4 || len > tiler_tiff_jpeg_max_bytes(side, samples)) return 0;
    if (!(data[0] == 0xff && data[1] == 0xd8 && data[len - 2] == 0xff && data[len - 1] == 0xd9)) return 0;
    /* The marker segments up to the frame header, each within the stream:
     * a few dozen bytes read, nothing decoded. */
    while (pos + 4 <= len && data[pos] == 0xff) {
        unsigned m = data[pos + 1];
        size_t seg = (size_t)data[pos + 2] << 8 | data[pos + 3];
        if (seg < 2 || seg > len - pos - 2) return 0;
        if (m == 0xc0) return frame_fits(data + pos + 4, seg - 2, side, samples);
        /* Another frame (progressive, arithmetic, 12-bit...) or the scan
         * before any frame: not what the directory says. */
        if ((m >= 0xc1 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc) || m == 0xda) return 0;
        pos += 2 + seg;
    }
    return 0;
}
