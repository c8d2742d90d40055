/* libFuzzer target: the multipart parser, fed in chunks the input decides. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "tiler_multipart.h"

static int begin(void *c, const char *n, const char *f, const char *t) { (void)c; (void)n; (void)f; (void)t; return 0; }
static int data(void *c, const char *d, size_t l) { (void)c; (void)d; (void)l; return 0; }
static int end(void *c) { (void)c; return 0; }

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len)
{
    static const tiler_mp_callbacks cb = { begin, data, end };
    tiler_mp_limits lim = { 16, 1024, 256, 1 << 20 };
    tiler_multipart *mp;
    size_t at = 0, step;
    if (len < 2) return 0;
    step = 1 + buf[0] % 64;   /* the first byte picks the chunk size */
    mp = tiler_mp_new("b0undary", &lim, &cb, NULL);
    for (at = 1; at < len; at += step)
        if (tiler_mp_feed(mp, (const char *)buf + at, len - at < step ? len - at : step) != TILER_MP_OK) break;
    tiler_mp_finish(mp);
    tiler_mp_free(mp);
    return 0;
}
