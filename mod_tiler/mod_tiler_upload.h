/* Streams a request body into a spool file, never holding it whole. */
#ifndef MOD_TILER_UPLOAD_H
#define MOD_TILER_UPLOAD_H

#include "mod_tiler.h"

/* Returns OK with *size set, or an HTTP status with *code and *msg for the
 * JSON error (413 over max, 400 unreadable body, 500 spool write failure). */
int tiler_upload_to_file(request_rec *r, const char *path, apr_off_t max, apr_off_t *size,
                         const char **code, const char **msg);

#endif
