/* What becomes of each part of an upload form (multipart/form-data): the
 * "image" file part streams into a file, the "ops", "format" and
 * "compression" fields are
 * kept in memory, other parts are skipped. A field is held to the field
 * limit where its bytes are stored, however the part came (a field sent as a
 * file part too: curl -F ops=@file). httpd-free, so that the unit tests and
 * the fuzzer drive the very code the module runs. */
#ifndef TILER_FORM_H
#define TILER_FORM_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int max_parts;             /* parts in the form */
    size_t max_header_bytes;   /* one part's header block */
    size_t max_field_bytes;    /* ops, format, compression: bytes kept in memory */
    uint64_t max_image_bytes;  /* the image part */
    uint64_t max_total_bytes;  /* the whole body */
} tiler_form_limits;

typedef enum {
    TILER_FORM_OK = 0,
    TILER_FORM_BAD,            /* malformed form or field (400) */
    TILER_FORM_TOO_LARGE,      /* image or body over its limit (413) */
    TILER_FORM_NO_IMAGE,       /* complete, but no "image" file part */
    TILER_FORM_IO              /* the image file cannot be written: see tiler_form_errno */
} tiler_form_status;

typedef struct tiler_form tiler_form;

/* image_path is created (mode 0600) when the image part begins. NULL when
 * out of memory or the boundary is invalid. */
tiler_form *tiler_form_new(const char *boundary, const char *image_path, const tiler_form_limits *lim);
void tiler_form_free(tiler_form *f);
/* After an error every later call returns it again. */
tiler_form_status tiler_form_feed(tiler_form *f, const char *data, size_t len);
/* After the last chunk: checks the form is complete and closes the image file. */
tiler_form_status tiler_form_finish(tiler_form *f);

/* What went wrong, for the client. */
const char *tiler_form_error(const tiler_form *f);
/* The OS error behind TILER_FORM_IO. */
int tiler_form_errno(const tiler_form *f);

/* The fields as received (NUL-free), NULL when absent; valid until free. */
const char *tiler_form_ops(const tiler_form *f);
const char *tiler_form_format(const tiler_form *f);
const char *tiler_form_compression(const tiler_form *f);
uint64_t tiler_form_image_bytes(const tiler_form *f);

#endif
