/* libFuzzer target: format sniffing and the header size check. */
#include <stdio.h>
#include <stdint.h>
#include "tiler_image.h"

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len)
{
    tiler_format fmt;
    uint32_t w, h;
    char err[256];
    FILE *f;
    if (!len) return 0;
    if (!(f = fmemopen((void *)buf, len, "rb"))) return 0;
    tiler_probe_file(f, &fmt, &w, &h, err, sizeof(err));
    fclose(f);
    return 0;
}
