#include "tiler_id.h"

#include <sys/random.h>

int tiler_id_generate(unsigned char id[16])
{
    return getrandom(id, 16, 0) == 16 ? 0 : -1;
}

void tiler_id_to_hex(const unsigned char id[16], char hex[TILER_ID_HEX_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    int i;
    for (i = 0; i < 16; i++) {
        hex[2 * i] = digits[id[i] >> 4];
        hex[2 * i + 1] = digits[id[i] & 15];
    }
    hex[TILER_ID_HEX_LEN] = '\0';
}

static int nibble(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

int tiler_id_parse(const char *hex, size_t len, unsigned char id[16])
{
    int i;
    if (len != TILER_ID_HEX_LEN) return -1;
    for (i = 0; i < 16; i++) {
        int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return -1;
        id[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}
