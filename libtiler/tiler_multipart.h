/* A streaming multipart/form-data parser: fed the body in chunks of any
 * size, it calls back with each part's headers and data as they arrive, so
 * a file part can go straight to disk. Strict limits on everything. */
#ifndef TILER_MULTIPART_H
#define TILER_MULTIPART_H

#include <stddef.h>
#include <stdint.h>

#define TILER_MP_MAX_BOUNDARY 70

typedef struct {
    int max_parts;             /* parts in the body */
    size_t max_header_bytes;   /* one part's header block */
    size_t max_field_bytes;    /* one part without a filename (a file part is
                                * not limited here: whoever stores a part's
                                * bytes in memory must check them itself,
                                * as tiler_form.c does) */
    uint64_t max_total_bytes;  /* the whole body */
} tiler_mp_limits;

typedef struct {
    /* name and filename are NULL when absent; filename "" is kept as "". */
    int (*part_begin)(void *ctx, const char *name, const char *filename, const char *content_type);
    int (*part_data)(void *ctx, const char *data, size_t len);
    int (*part_end)(void *ctx);
} tiler_mp_callbacks;

typedef enum {
    TILER_MP_OK = 0,
    TILER_MP_ERR_SYNTAX,       /* malformed body */
    TILER_MP_ERR_LIMIT,        /* too many parts, header or field too large */
    TILER_MP_ERR_TOO_LARGE,    /* over max_total_bytes */
    TILER_MP_ERR_CALLBACK      /* a callback said stop */
} tiler_mp_status;

typedef struct tiler_multipart tiler_multipart;

/* Extracts the boundary from a Content-Type header value. 0 or -1. */
int tiler_mp_boundary(const char *content_type, char *out, size_t outlen);

tiler_multipart *tiler_mp_new(const char *boundary, const tiler_mp_limits *limits,
                              const tiler_mp_callbacks *cb, void *ctx);
void tiler_mp_free(tiler_multipart *mp);
tiler_mp_status tiler_mp_feed(tiler_multipart *mp, const char *data, size_t len);
/* After the last chunk: an error unless the closing delimiter was seen. */
tiler_mp_status tiler_mp_finish(tiler_multipart *mp);
const char *tiler_mp_error(const tiler_multipart *mp);

#endif
