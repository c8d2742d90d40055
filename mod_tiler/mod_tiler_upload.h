/* Receives an upload into a spool file as it streams in: a raw image body
 * (an image/ Content-Type) or a browser form (multipart/form-data with an
 * "image" file part and optional "ops", "format" and "compression"
 * fields). */
#ifndef MOD_TILER_UPLOAD_H
#define MOD_TILER_UPLOAD_H

#include "mod_tiler.h"

typedef struct {
    int from_form;        /* multipart/form-data */
    const char *ops;      /* form field, NULL when absent */
    const char *format;   /* form field, NULL when absent */
    const char *compression;  /* form field, NULL when absent */
    apr_off_t size;       /* image bytes written */
} tiler_upload;

/* OK, or an HTTP status with *code and *msg for the JSON error. */
int tiler_receive_upload(request_rec *r, const char *path, apr_off_t max, tiler_upload *up,
                         const char **code, const char **msg);

#endif
