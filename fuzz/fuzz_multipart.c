/* libFuzzer target: an upload form, through the parser and the code that
 * stores each part (tiler_form.c, the module's own), with small limits so
 * that going over them is easy to find: a field kept past its buffer, an
 * image written past its limit. The input's first byte picks the chunk size. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "tiler_form.h"

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len)
{
    static const tiler_form_limits lim = { 16, 1024, 256, 4096, 1 << 20 };
    tiler_form *f;
    size_t at, step;
    tiler_form_status st = TILER_FORM_OK;
    if (len < 2) return 0;
    step = 1 + buf[0] % 64;
    if (!(f = tiler_form_new("b0undary", "/dev/null", &lim))) return 0;
    for (at = 1; at < len && st == TILER_FORM_OK; at += step)
        st = tiler_form_feed(f, (const char *)buf + at, len - at < step ? len - at : step);
    if (st == TILER_FORM_OK) st = tiler_form_finish(f);
    /* What the module reads back must be within bounds and NUL-terminated. */
    if (st == TILER_FORM_OK) {
        const char *ops = tiler_form_ops(f), *format = tiler_form_format(f);
        if ((ops && strlen(ops) > lim.max_field_bytes) || (format && strlen(format) > lim.max_field_bytes)
            || tiler_form_image_bytes(f) > lim.max_image_bytes)
            __builtin_trap();
    }
    tiler_form_free(f);
    return 0;
}
