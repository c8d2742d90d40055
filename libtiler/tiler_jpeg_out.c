#include "tiler_jpeg_out.h"

#include <errno.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include <jerror.h>
#include "tiler_jpeg_err.h"

/* libgd's JFIF density (GD_RESOLUTION): the header must match gd's. */
#define GD_DPI 96

typedef struct {
    tiler_jpeg_err j;        /* first: libjpeg hands its pointer back */
} error_mgr;

/* A strip's output: a buffer that doubles as libjpeg fills it, and is
 * always this struct's, so that the error path frees what there is.
 * (libjpeg's own memory destination keeps a grown buffer to itself until
 * it finishes: a fatal error after a growth left the caller the freed
 * first buffer, and leaked the new one.) */
#define GROW_FIRST_BYTES 65536

typedef struct {
    struct jpeg_destination_mgr pub;   /* first: libjpeg hands this pointer back */
    unsigned char *buf;
    size_t cap;
} grow_dest;

static void grow_init(j_compress_ptr c)
{
    grow_dest *d = (grow_dest *)c->dest;
    d->pub.next_output_byte = d->buf;
    d->pub.free_in_buffer = d->cap;
}

/* Called with the buffer full. */
static boolean grow_more(j_compress_ptr c)
{
    grow_dest *d = (grow_dest *)c->dest;
    unsigned char *more = d->cap <= SIZE_MAX / 2 ? realloc(d->buf, d->cap * 2) : NULL;
    if (!more) {
        c->err->msg_code = JERR_OUT_OF_MEMORY;
        c->err->error_exit((j_common_ptr)c);
    }
    d->buf = more;
    d->pub.next_output_byte = more + d->cap;
    d->pub.free_in_buffer = d->cap;
    d->cap *= 2;
    return TRUE;
}

static void grow_term(j_compress_ptr c)
{
    (void)c;
}

struct tiler_jpeg_out {
    struct jpeg_compress_struct c;
    error_mgr e;
    FILE *f;
    JSAMPLE *line;       /* one row of RGB samples */
    int failed;          /* a step failed: end only cleans up */
};

static void destroy(tiler_jpeg_out *j)
{
    jpeg_destroy_compress(&j->c);
    free(j->line);
    free(j);
}

uint32_t tiler_jpeg_mcu_rows(int quality)
{
    return quality >= 90 ? 8 : 16;
}

/* libgd 2.3.3's settings (_gdImageJpegCtx), in its order. */
static void gd_settings(struct jpeg_compress_struct *c, uint32_t width, uint32_t height, int quality)
{
    c->image_width = width;
    c->image_height = height;
    c->input_components = 3;
    c->in_color_space = JCS_RGB;
    jpeg_set_defaults(c);
    c->density_unit = 1;
    c->X_density = GD_DPI;
    c->Y_density = GD_DPI;
    if (quality >= 0) {
        jpeg_set_quality(c, quality, TRUE);
        /* gd turns chroma subsampling off at 90 and above (4:4:4). */
        if (quality >= 90) {
            c->comp_info[0].h_samp_factor = 1;
            c->comp_info[0].v_samp_factor = 1;
        }
    }
}

/* Feeds n packed rows of gd pixels to c as RGB through line. */
static void feed(struct jpeg_compress_struct *c, JSAMPLE *line, const int *rows, uint32_t n)
{
    uint32_t y, x, width = c->image_width;
    JSAMPROW rowp[1] = { line };
    for (y = 0; y < n; y++) {
        const int *src = rows + (size_t)y * width;
        JSAMPLE *dst = line;
        for (x = 0; x < width; x++) {
            unsigned v = (unsigned)src[x];
            *dst++ = (JSAMPLE)(v >> 16);
            *dst++ = (JSAMPLE)(v >> 8);
            *dst++ = (JSAMPLE)v;
        }
        jpeg_write_scanlines(c, rowp, 1);
    }
}

int tiler_jpeg_out_fits(uint32_t width, uint32_t height, char *err, size_t errlen)
{
    if (width <= JPEG_MAX_DIMENSION && height <= JPEG_MAX_DIMENSION) return 0;
    snprintf(err, errlen, "a JPEG cannot be %ux%u: its sides stop at %ld pixels; ask for a PNG result", width, height,
             (long)JPEG_MAX_DIMENSION);
    return -1;
}

tiler_jpeg_out *tiler_jpeg_out_begin(FILE *f, uint32_t width, uint32_t height, int quality, char *err, size_t errlen)
{
    tiler_jpeg_out *j;
    if (tiler_jpeg_out_fits(width, height, err, errlen) < 0) return NULL;
    if (!(j = calloc(1, sizeof(*j))) || !(j->line = malloc((size_t)width * 3 + 1))) {
        free(j);
        snprintf(err, errlen, "out of memory starting a JPEG");
        return NULL;
    }
    j->f = f;
    j->c.err = tiler_jpeg_err_init(&j->e.j);
    if (setjmp(j->e.j.back)) {
        snprintf(err, errlen, "cannot start the JPEG: %s", j->e.j.msg);
        destroy(j);
        return NULL;
    }
    jpeg_create_compress(&j->c);
    gd_settings(&j->c, width, height, quality);
    jpeg_stdio_dest(&j->c, f);
    jpeg_start_compress(&j->c, TRUE);
    return j;
}

int tiler_jpeg_out_rows(tiler_jpeg_out *j, const int *rows, uint32_t n, char *err, size_t errlen)
{
    if (j->failed) { snprintf(err, errlen, "the JPEG encoder failed before"); return -1; }
    if (n > j->c.image_height - j->c.next_scanline) {
        j->failed = 1;
        snprintf(err, errlen, "%u rows past the JPEG's %u", n, j->c.image_height);
        return -1;
    }
    if (setjmp(j->e.j.back)) {
        j->failed = 1;
        snprintf(err, errlen, "cannot encode the JPEG: %s", j->e.j.msg);
        return -1;
    }
    feed(&j->c, j->line, rows, n);
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
    } else if (setjmp(j->e.j.back)) {
        snprintf(err, errlen, "cannot finish the JPEG: %s", j->e.j.msg);
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

/* Where the header ends (after the SOS segment) in a libjpeg output, and
 * where its SOF's height field is; 0, or -1 if they are not found. */
static int find_header(const unsigned char *b, size_t n, size_t *sos_end, size_t *sof_height)
{
    size_t i = 2;
    *sof_height = 0;
    while (i + 4 <= n && b[i] == 0xff) {
        size_t len = (size_t)b[i + 2] << 8 | b[i + 3];
        if (b[i + 1] == 0xc0) *sof_height = i + 5;
        if (b[i + 1] == 0xda) {
            *sos_end = i + 2 + len;
            return *sof_height && *sos_end <= n ? 0 : -1;
        }
        i += 2 + len;
    }
    return -1;
}

int tiler_jpeg_strip_encode(const int *rows, uint32_t width, uint32_t height, uint32_t top, uint32_t n, int quality,
                            unsigned char **out, size_t *len, char *err, size_t errlen)
{
    struct jpeg_compress_struct c;
    error_mgr e;
    grow_dest d;
    unsigned char *buf;
    size_t size;
    JSAMPLE *line = NULL;
    uint32_t mcu = tiler_jpeg_mcu_rows(quality), first = top / mcu, last = top + n == height;
    size_t sos_end, sof_height, i, k, data_len;
    unsigned char *o;

    *out = NULL;
    *len = 0;
    if (tiler_jpeg_out_fits(width, height, err, errlen) < 0) return -1;
    if (!n || top % mcu || top + n > height || (!last && n % mcu)) {
        snprintf(err, errlen, "rows %u..%u of %u are not a JPEG strip (%u-row MCUs)", top, top + n - 1, height, mcu);
        return -1;
    }
    memset(&d, 0, sizeof(d));
    d.cap = GROW_FIRST_BYTES;
    if (!(line = malloc((size_t)width * 3 + 1)) || !(d.buf = malloc(d.cap))) {
        free(line);
        snprintf(err, errlen, "out of memory for a JPEG strip");
        return -1;
    }
    d.pub.init_destination = grow_init;
    d.pub.empty_output_buffer = grow_more;
    d.pub.term_destination = grow_term;
    memset(&c, 0, sizeof(c));
    memset(&e, 0, sizeof(e));
    c.err = tiler_jpeg_err_init(&e.j);
    if (setjmp(e.j.back)) {
        snprintf(err, errlen, "cannot encode a JPEG strip: %s", e.j.msg);
        jpeg_destroy_compress(&c);
        free(line);
        free(d.buf);
        return -1;
    }
    jpeg_create_compress(&c);
    gd_settings(&c, width, n, quality);
    c.restart_in_rows = 1;
    c.dest = &d.pub;
    jpeg_start_compress(&c, TRUE);
    feed(&c, line, rows, n);
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    buf = d.buf;
    size = d.cap - d.pub.free_in_buffer;
    free(line);
    if (find_header(buf, size, &sos_end, &sof_height) < 0 || size < sos_end + 2) {
        free(buf);
        snprintf(err, errlen, "libjpeg wrote a JPEG strip this code cannot read");
        return -1;
    }
    data_len = size - 2 - sos_end;   /* the entropy-coded data, without EOI */
    if (!(o = malloc(sos_end + data_len + 4))) { free(buf); snprintf(err, errlen, "out of memory for a JPEG strip"); return -1; }
    k = 0;
    if (top == 0) {
        /* The file's header, for the whole image's height. */
        memcpy(o, buf, sos_end);
        o[sof_height] = (unsigned char)(height >> 8);
        o[sof_height + 1] = (unsigned char)height;
        k = sos_end;
    } else {
        /* The restart marker that ends the MCU row above. */
        o[k++] = 0xff;
        o[k++] = (unsigned char)(0xd0 + ((first - 1) & 7));
    }
    /* The strip's own markers count from RST0: renumber them from its first
     * MCU row. Data bytes 0xff are always followed by 0x00 (stuffing). */
    for (i = sos_end; i < sos_end + data_len; i++) {
        unsigned char v = buf[i];
        if (i > sos_end && buf[i - 1] == 0xff && v >= 0xd0 && v <= 0xd7) v = (unsigned char)(0xd0 + ((v - 0xd0 + first) & 7));
        o[k++] = v;
    }
    if (last) { o[k++] = 0xff; o[k++] = 0xd9; }
    free(buf);
    *out = o;
    *len = k;
    return 0;
}

/* A strip streamed to a file: libjpeg's output goes through dest's buffer
 * and a filter that does what tiler_jpeg_strip_encode does to the whole
 * strip, as the bytes pass: the header (patched to the image's height) or
 * the restart marker before the strip, the entropy-coded data with its
 * restart markers renumbered, and the end marker only on the image's last
 * strip. */
#define STRIP_DEST_BUF 65536
#define STRIP_HEAD_MAX (1 << 20)   /* libjpeg's headers are under 1 KiB */

struct tiler_jpeg_strip_out {
    struct jpeg_compress_struct c;
    error_mgr e;
    struct jpeg_destination_mgr dest;
    FILE *f;
    JSAMPLE *line;
    uint32_t height, top, first, n;
    int last;
    int started;             /* jpeg_create_compress was called */
    unsigned char *head;     /* bytes before the data, until the header is whole */
    size_t head_len, head_cap;
    int in_data;             /* the header has been dealt with */
    int ff;                  /* the last data byte was 0xff */
    int ended;               /* the end marker was seen */
    int wfail, werr;         /* writing to f failed */
    int bad;                 /* libjpeg wrote what the filter cannot read */
    JOCTET buf[STRIP_DEST_BUF];
};

static void put_bytes(tiler_jpeg_strip_out *s, const unsigned char *p, size_t n)
{
    if (n && !s->wfail && fwrite(p, 1, n, s->f) != n) { s->wfail = 1; s->werr = errno; }
}

/* Entropy-coded data: bytes 0xff are followed by 0x00 (stuffing), a
 * restart marker (renumbered from the strip's first MCU row) or, at the
 * end, the end marker. */
static void filter_data(tiler_jpeg_strip_out *s, const unsigned char *p, size_t n)
{
    while (n && !s->ended) {
        if (s->ff) {
            unsigned char v = *p, pair[2] = { 0xff, v };
            s->ff = 0;
            if (v == 0xd9) {
                s->ended = 1;
                if (s->last) put_bytes(s, pair, 2);
                break;
            }
            if (v == 0xff) { put_bytes(s, pair, 1); s->ff = 1; p++; n--; continue; }
            if (v >= 0xd0 && v <= 0xd7) pair[1] = (unsigned char)(0xd0 + ((v - 0xd0 + s->first) & 7));
            put_bytes(s, pair, 2);
            p++; n--;
        } else {
            const unsigned char *q = memchr(p, 0xff, n);
            size_t run = q ? (size_t)(q - p) : n;
            put_bytes(s, p, run);
            p += run; n -= run;
            if (q) { s->ff = 1; p++; n--; }
        }
    }
}

static void filter(tiler_jpeg_strip_out *s, const unsigned char *p, size_t n)
{
    size_t sos_end, sof_height;
    unsigned char *h;
    if (s->in_data) { filter_data(s, p, n); return; }
    if (s->head_len + n > s->head_cap) {
        size_t cap = s->head_cap ? s->head_cap : 4096;
        while (cap < s->head_len + n) cap *= 2;
        if (cap > STRIP_HEAD_MAX + STRIP_DEST_BUF || !(h = realloc(s->head, cap))) { s->bad = 1; return; }
        s->head = h;
        s->head_cap = cap;
    }
    memcpy(s->head + s->head_len, p, n);
    s->head_len += n;
    if (find_header(s->head, s->head_len, &sos_end, &sof_height) < 0) {
        if (s->head_len > STRIP_HEAD_MAX) s->bad = 1;
        return;
    }
    s->in_data = 1;
    if (s->top == 0) {
        /* The file's header, for the whole image's height. */
        s->head[sof_height] = (unsigned char)(s->height >> 8);
        s->head[sof_height + 1] = (unsigned char)s->height;
        put_bytes(s, s->head, sos_end);
    } else {
        /* The restart marker that ends the MCU row above. */
        unsigned char rst[2] = { 0xff, (unsigned char)(0xd0 + ((s->first - 1) & 7)) };
        put_bytes(s, rst, 2);
    }
    filter_data(s, s->head + sos_end, s->head_len - sos_end);
    free(s->head);
    s->head = NULL;
    s->head_len = s->head_cap = 0;
}

static tiler_jpeg_strip_out *strip_of(j_compress_ptr c)
{
    return (tiler_jpeg_strip_out *)((char *)c - offsetof(tiler_jpeg_strip_out, c));
}

static void dest_init(j_compress_ptr c)
{
    tiler_jpeg_strip_out *s = strip_of(c);
    s->dest.next_output_byte = s->buf;
    s->dest.free_in_buffer = sizeof(s->buf);
}

static boolean dest_empty(j_compress_ptr c)
{
    tiler_jpeg_strip_out *s = strip_of(c);
    filter(s, s->buf, sizeof(s->buf));   /* libjpeg's rule: the whole buffer, whatever free_in_buffer says */
    dest_init(c);
    return TRUE;
}

static void dest_term(j_compress_ptr c)
{
    tiler_jpeg_strip_out *s = strip_of(c);
    filter(s, s->buf, sizeof(s->buf) - s->dest.free_in_buffer);
    dest_init(c);
}

static void strip_destroy(tiler_jpeg_strip_out *s)
{
    if (s->started) jpeg_destroy_compress(&s->c);
    free(s->line);
    free(s->head);
    free(s);
}

tiler_jpeg_strip_out *tiler_jpeg_strip_out_begin(FILE *f, uint32_t width, uint32_t height, uint32_t top, uint32_t n,
                                                 int quality, char *err, size_t errlen)
{
    tiler_jpeg_strip_out *s;
    uint32_t mcu = tiler_jpeg_mcu_rows(quality);
    if (tiler_jpeg_out_fits(width, height, err, errlen) < 0) return NULL;
    if (!n || top % mcu || top + n > height || (top + n != height && n % mcu)) {
        snprintf(err, errlen, "rows %u..%u of %u are not a JPEG strip (%u-row MCUs)", top, top + n - 1, height, mcu);
        return NULL;
    }
    if (!(s = calloc(1, sizeof(*s))) || !(s->line = malloc((size_t)width * 3 + 1))) {
        free(s);
        snprintf(err, errlen, "out of memory for a JPEG strip");
        return NULL;
    }
    s->f = f;
    s->height = height;
    s->top = top;
    s->first = top / mcu;
    s->n = n;
    s->last = top + n == height;
    s->c.err = tiler_jpeg_err_init(&s->e.j);
    if (setjmp(s->e.j.back)) {
        snprintf(err, errlen, "cannot encode a JPEG strip: %s", s->e.j.msg);
        strip_destroy(s);
        return NULL;
    }
    jpeg_create_compress(&s->c);
    s->started = 1;
    gd_settings(&s->c, width, n, quality);
    s->c.restart_in_rows = 1;
    s->dest.init_destination = dest_init;
    s->dest.empty_output_buffer = dest_empty;
    s->dest.term_destination = dest_term;
    s->c.dest = &s->dest;
    jpeg_start_compress(&s->c, TRUE);
    return s;
}

int tiler_jpeg_strip_out_rows(tiler_jpeg_strip_out *s, const int *rows, uint32_t n, char *err, size_t errlen)
{
    if (n > s->n - s->c.next_scanline) {
        snprintf(err, errlen, "%u rows past the JPEG strip's %u", n, s->n);
        return -1;
    }
    if (setjmp(s->e.j.back)) {
        snprintf(err, errlen, "cannot encode a JPEG strip: %s", s->e.j.msg);
        return -1;
    }
    feed(&s->c, s->line, rows, n);
    if (s->wfail) { snprintf(err, errlen, "cannot write a JPEG strip: %s", strerror(s->werr)); return -1; }
    return 0;
}

/* libjpeg's last bytes; 0, or -1 with err. */
static int strip_finish(tiler_jpeg_strip_out *s, char *err, size_t errlen)
{
    if (setjmp(s->e.j.back)) {
        snprintf(err, errlen, "cannot finish a JPEG strip: %s", s->e.j.msg);
        return -1;
    }
    jpeg_finish_compress(&s->c);
    if (s->bad || !s->in_data || !s->ended) {
        snprintf(err, errlen, "libjpeg wrote a JPEG strip this code cannot read");
        return -1;
    }
    if (s->wfail || fflush(s->f) != 0) {
        snprintf(err, errlen, "cannot write a JPEG strip: %s", strerror(s->wfail ? s->werr : errno));
        return -1;
    }
    return 0;
}

int tiler_jpeg_strip_out_end(tiler_jpeg_strip_out *s, char *err, size_t errlen)
{
    int rc = -1;
    if (s->c.next_scanline < s->n) snprintf(err, errlen, "the JPEG strip got %u of its %u rows", s->c.next_scanline, s->n);
    else rc = strip_finish(s, err, errlen);
    strip_destroy(s);
    return rc;
}
