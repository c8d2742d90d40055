#include "tiler_strip.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tiler_defaults.h"
#include "tiler_jpeg_out.h"
#include "tiler_png.h"
#include "tiler_spool.h"

/* One encoder or the other, fed the same way. */
typedef struct {
    tiler_png_strip_out *png;
    tiler_jpeg_strip_out *jpeg;
} encoder;

static int enc_begin(encoder *e, FILE *f, const tiler_strip_spec *sp, char *err, size_t errlen)
{
    memset(e, 0, sizeof(*e));
    if (sp->jpeg) e->jpeg = tiler_jpeg_strip_out_begin(f, sp->width, sp->height, sp->top, sp->n, sp->quality, err, errlen);
    else e->png = tiler_png_strip_out_begin(f, sp->width, sp->n, sp->color, sp->level, sp->top + sp->n == sp->height, err, errlen);
    return e->jpeg || e->png ? 0 : -1;
}

static int enc_rows(encoder *e, const int *px, uint32_t n, char *err, size_t errlen)
{
    return e->jpeg ? tiler_jpeg_strip_out_rows(e->jpeg, px, n, err, errlen) : tiler_png_strip_out_rows(e->png, px, n, err, errlen);
}

/* Ends (and frees) the encoder; with ok 0 only frees it. */
static int enc_end(encoder *e, int ok, char *err, size_t errlen)
{
    char ignored[8];
    if (!ok) { err = ignored; errlen = sizeof(ignored); }
    return e->jpeg ? tiler_jpeg_strip_out_end(e->jpeg, err, errlen) : tiler_png_strip_out_end(e->png, err, errlen);
}

uint32_t tiler_strip_chunk_rows(uint32_t width)
{
    uint64_t rows = TILER_STRIP_CHUNK_BYTES / (4ull * (width ? width : 1));
    return rows < 1 ? 1 : rows > TILER_STRIP_CHUNK_ROWS ? TILER_STRIP_CHUNK_ROWS : (uint32_t)rows;
}

int tiler_strip_encode_raster(const char *raster, const tiler_strip_spec *sp, const char *path, char *err, size_t errlen)
{
    char tmp[4200];
    uint32_t y, n, chunk = tiler_strip_chunk_rows(sp->width);
    encoder e;
    FILE *f = NULL;
    int fd, rc = -1, *px = NULL;

    if (!sp->n || sp->top + sp->n > sp->height) { snprintf(err, errlen, "rows %u..%u are past the image", sp->top, sp->top + sp->n); return -1; }
    if (!(px = malloc((size_t)sp->width * chunk * sizeof(int)))) {
        snprintf(err, errlen, "out of memory for rows of a strip");
        return -1;
    }
    /* A name of its own: two copies of one strip may be written at once
     * (a row's strip task still running when the job's finish makes the
     * strips it does not see yet). */
    snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);
    if ((fd = mkstemp(tmp)) < 0 || !(f = fdopen(fd, "wb"))) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        if (fd >= 0) { close(fd); unlink(tmp); }
        free(px);
        return -1;
    }
    if (enc_begin(&e, f, sp, err, errlen) == 0) {
        int ok = 1;
        for (y = 0; ok && y < sp->n; y += n) {
            n = sp->n - y < chunk ? sp->n - y : chunk;
            ok = tiler_raster_read_rows(raster, sp->width, sp->top + y, n, px, err, errlen) == 0
                 && enc_rows(&e, px, n, err, errlen) == 0;
        }
        rc = enc_end(&e, ok, err, errlen) == 0 && ok ? 0 : -1;
    }
    free(px);
    if (fclose(f) != 0 && rc == 0) {
        snprintf(err, errlen, "cannot write a strip: %s", strerror(errno));
        rc = -1;
    }
    if (rc == 0) {
        /* After the last read: if the other copy had not placed its file
         * by now, it had freed none of the rows this copy read. */
        if (access(path, F_OK) == 0) {
            unlink(tmp);
            return 1;
        }
        if (rename(tmp, path) < 0) {
            snprintf(err, errlen, "cannot place a strip: %s", strerror(errno));
            rc = -1;
        }
    }
    if (rc < 0) unlink(tmp);
    return rc;
}
