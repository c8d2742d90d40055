/* libjpeg's error manager for the JPEG encoders (tiler_jpeg_out.c,
 * tiler_tiff_jpeg.c): a fatal error must not return, so it jumps back to
 * `back` with libjpeg's message in `msg`; warnings and traces, which would
 * go to stderr (httpd's error log, or the worker's), are dropped: nothing
 * an encoder could warn about is not an error already. */
#ifndef TILER_JPEG_ERR_H
#define TILER_JPEG_ERR_H

#include <setjmp.h>
#include <stdio.h>
#include <jpeglib.h>

typedef struct {
    struct jpeg_error_mgr pub;   /* first: libjpeg hands this pointer back */
    jmp_buf back;
    char msg[JMSG_LENGTH_MAX];
} tiler_jpeg_err;

/* Sets e up; the result goes into the compress struct's err. The caller
 * still does setjmp(e->back) before calling libjpeg. */
struct jpeg_error_mgr *tiler_jpeg_err_init(tiler_jpeg_err *e);

#endif
