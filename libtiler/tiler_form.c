#include "tiler_form.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tiler_multipart.h"

enum { F_OPS, F_FORMAT, F_COMPRESSION, NFIELDS };
static const char *const field_names[NFIELDS] = { "ops", "format", "compression" };

typedef struct {
    char *buf;        /* max_field_bytes + 1, allocated to the byte */
    size_t len;
    int seen;         /* the part began: a second one is refused */
    int done;         /* the part ended: buf is the value */
} field;

struct tiler_form {
    tiler_multipart *mp;
    tiler_form_limits lim;
    char *path;
    int fd;                    /* open while the image part streams */
    int images;                /* image parts seen */
    int part;                  /* a field (F_OPS...), PART_IMAGE or PART_SKIP */
    field fields[NFIELDS];
    uint64_t image_bytes;
    tiler_form_status status;  /* why a callback stopped the parser */
    int err_no;
    char error[200];
};

#define PART_IMAGE (NFIELDS)
#define PART_SKIP (NFIELDS + 1)

static int refuse(tiler_form *f, tiler_form_status st, const char *fmt, ...)
{
    va_list ap;
    f->status = st;
    va_start(ap, fmt);
    vsnprintf(f->error, sizeof(f->error), fmt, ap);
    va_end(ap);
    return -1;
}

static int on_begin(void *ctx, const char *name, const char *filename, const char *ctype)
{
    tiler_form *f = ctx;
    int i;
    (void)ctype;
    f->part = PART_SKIP;
    if (!strcmp(name, "image")) {
        /* A text part named image is not a file: skipped, and the form
         * ends without an image. Browsers send filename="" for no file. */
        if (!filename) return 0;
        if (++f->images > 1) return refuse(f, TILER_FORM_BAD, "the form has more than one 'image' file part");
        if ((f->fd = open(f->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0) {
            f->err_no = errno;
            return refuse(f, TILER_FORM_IO, "the upload cannot be stored");
        }
        f->part = PART_IMAGE;
        return 0;
    }
    /* A field is the text it holds, sent as a text part or as a file. */
    for (i = 0; i < NFIELDS; i++) {
        if (strcmp(name, field_names[i])) continue;
        if (f->fields[i].seen) return refuse(f, TILER_FORM_BAD, "form field '%s' is given twice", field_names[i]);
        f->fields[i].seen = 1;
        f->part = i;
    }
    return 0;
}

static int write_image(tiler_form *f, const char *data, size_t len)
{
    if (len > f->lim.max_image_bytes - f->image_bytes)
        return refuse(f, TILER_FORM_TOO_LARGE, "the image is over %llu bytes", (unsigned long long)f->lim.max_image_bytes);
    f->image_bytes += len;
    while (len) {
        ssize_t n = write(f->fd, data, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            f->err_no = n < 0 ? errno : ENOSPC;
            return refuse(f, TILER_FORM_IO, "the upload cannot be stored (spool disk full?)");
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static int on_data(void *ctx, const char *data, size_t len)
{
    tiler_form *f = ctx;
    field *fl;
    if (f->part == PART_SKIP) return 0;
    if (f->part == PART_IMAGE) return write_image(f, data, len);
    /* The limit is checked here, where the bytes are stored: the parser's
     * own field limit applies only to parts without a filename. */
    fl = &f->fields[f->part];
    if (len > f->lim.max_field_bytes - fl->len)
        return refuse(f, TILER_FORM_BAD, "form field '%s' is over %zu bytes", field_names[f->part], f->lim.max_field_bytes);
    memcpy(fl->buf + fl->len, data, len);
    fl->len += len;
    return 0;
}

static int on_end(void *ctx)
{
    tiler_form *f = ctx;
    if (f->part == PART_IMAGE) {
        int rc = close(f->fd);
        f->fd = -1;
        if (rc < 0 && errno != EINTR) {
            f->err_no = errno;
            return refuse(f, TILER_FORM_IO, "the upload cannot be stored (spool disk full?)");
        }
    } else if (f->part != PART_SKIP) {
        field *fl = &f->fields[f->part];
        fl->buf[fl->len] = '\0';
        /* A field with a NUL cannot be taken at its word. */
        if (strlen(fl->buf) != fl->len) return refuse(f, TILER_FORM_BAD, "form field '%s' has a NUL byte", field_names[f->part]);
        fl->done = 1;
    }
    f->part = PART_SKIP;
    return 0;
}

tiler_form *tiler_form_new(const char *boundary, const char *image_path, const tiler_form_limits *lim)
{
    static const tiler_mp_callbacks cb = { on_begin, on_data, on_end };
    tiler_mp_limits mlim;
    tiler_form *f = calloc(1, sizeof(*f));
    int i;
    if (!f) return NULL;
    f->lim = *lim;
    f->fd = -1;
    f->part = PART_SKIP;
    mlim.max_parts = lim->max_parts;
    mlim.max_header_bytes = lim->max_header_bytes;
    mlim.max_field_bytes = lim->max_field_bytes;
    mlim.max_total_bytes = lim->max_total_bytes;
    if (!(f->path = strdup(image_path))) goto fail;
    for (i = 0; i < NFIELDS; i++)
        if (!(f->fields[i].buf = malloc(lim->max_field_bytes + 1))) goto fail;
    if (!(f->mp = tiler_mp_new(boundary, &mlim, &cb, f))) goto fail;
    return f;
fail:
    tiler_form_free(f);
    return NULL;
}

void tiler_form_free(tiler_form *f)
{
    int i;
    if (!f) return;
    if (f->fd >= 0) close(f->fd);
    for (i = 0; i < NFIELDS; i++) free(f->fields[i].buf);
    tiler_mp_free(f->mp);
    free(f->path);
    free(f);
}

/* The parser's verdict in the form's terms; a callback's own reason wins. */
static tiler_form_status verdict(tiler_form *f, tiler_mp_status st)
{
    if (f->status != TILER_FORM_OK) return f->status;
    if (st == TILER_MP_OK) return TILER_FORM_OK;
    f->status = st == TILER_MP_ERR_TOO_LARGE ? TILER_FORM_TOO_LARGE : TILER_FORM_BAD;
    snprintf(f->error, sizeof(f->error), "%s", tiler_mp_error(f->mp));
    return f->status;
}

tiler_form_status tiler_form_feed(tiler_form *f, const char *data, size_t len)
{
    if (f->status != TILER_FORM_OK) return f->status;
    return verdict(f, tiler_mp_feed(f->mp, data, len));
}

tiler_form_status tiler_form_finish(tiler_form *f)
{
    if (f->status != TILER_FORM_OK) return f->status;
    if (verdict(f, tiler_mp_finish(f->mp)) != TILER_FORM_OK) return f->status;
    if (!f->images) {
        f->status = TILER_FORM_NO_IMAGE;
        snprintf(f->error, sizeof(f->error), "the form has no 'image' file part");
    }
    return f->status;
}

const char *tiler_form_error(const tiler_form *f) { return f->error[0] ? f->error : "no error"; }
int tiler_form_errno(const tiler_form *f) { return f->err_no; }
const char *tiler_form_ops(const tiler_form *f) { return f->fields[F_OPS].done ? f->fields[F_OPS].buf : NULL; }
const char *tiler_form_format(const tiler_form *f) { return f->fields[F_FORMAT].done ? f->fields[F_FORMAT].buf : NULL; }
const char *tiler_form_compression(const tiler_form *f)
{
    return f->fields[F_COMPRESSION].done ? f->fields[F_COMPRESSION].buf : NULL;
}
uint64_t tiler_form_image_bytes(const tiler_form *f) { return f->image_bytes; }
