#include "tiler_tiff_ifd.h"

#include <stdint.h>
#include <sys/types.h>

/* TIFF 6.0 and BigTIFF field types: bytes a value; 0 for types libtiff
 * does not know, whose entries it skips. */
static unsigned type_size(unsigned type)
{
    switch (type) {
    case 1: case 2: case 6: case 7: return 1;              /* BYTE ASCII SBYTE UNDEFINED */
    case 3: case 8: return 2;                              /* SHORT SSHORT */
    case 4: case 9: case 11: case 13: return 4;            /* LONG SLONG FLOAT IFD */
    case 5: case 10: case 12: case 16: case 17: case 18: return 8; /* RATIONAL SRATIONAL DOUBLE LONG8 SLONG8 IFD8 */
    default: return 0;
    }
}

/* StripOffsets, StripByteCounts, TileOffsets, TileByteCounts. */
static int is_table(unsigned tag)
{
    return tag == 273 || tag == 279 || tag == 324 || tag == 325;
}

/* An unsigned integer of n bytes in the file's byte order. */
static uint64_t num(const unsigned char *b, unsigned n, int be)
{
    uint64_t v = 0;
    unsigned i;
    for (i = 0; i < n; i++) v |= (uint64_t)b[be ? n - 1 - i : i] << (8 * i);
    return v;
}

/* n bytes at offset at, all within the file's size. */
static int get(FILE *f, uint64_t size, uint64_t at, unsigned char *b, size_t n)
{
    if (at > size || n > size - at || at > (uint64_t)INT64_MAX) return -1;
    return fseeko(f, (off_t)at, SEEK_SET) || fread(b, 1, n, f) != n ? -1 : 0;
}

static uint64_t mib(uint64_t bytes)
{
    return (bytes >> 20) + ((bytes & ((1u << 20) - 1)) != 0);
}

int tiler_tiff_ifd_check(FILE *f, char *err, size_t errlen)
{
    unsigned char b[20];
    uint64_t size, ifd, n, i, total = 0, most = 0;
    unsigned big, word, entry, most_tag = 0;
    off_t end;
    int be;
    if (fseeko(f, 0, SEEK_END) || (end = ftello(f)) < 0) return 0;
    size = (uint64_t)end;
    if (get(f, size, 0, b, 8) < 0) return 0;
    be = b[0] == 'M';
    big = num(b + 2, 2, be) == 43;
    /* Classic: 2-byte count, 12-byte entries, 4-byte values and offsets;
     * BigTIFF: 8, 20 and 8. */
    word = big ? 8 : 4;
    entry = big ? 20 : 12;
    if (big) {
        if (get(f, size, 8, b, 8) < 0) return 0;
        ifd = num(b, 8, be);
    } else {
        ifd = num(b + 4, 4, be);
    }
    if (get(f, size, ifd, b, big ? 8 : 2) < 0) return 0;
    n = num(b, big ? 8 : 2, be);
    /* Entries one after the other from here; the walk stops at the end of
     * the file (as libtiff would fail there). */
    for (i = 0; i < n && ifd + (big ? 8 : 2) + (i + 1) * entry <= size; i++) {
        unsigned tag, type, one;
        uint64_t count, bytes;
        if (fread(b, 1, entry, f) != entry) break;
        tag = (unsigned)num(b, 2, be);
        type = (unsigned)num(b + 2, 2, be);
        count = num(b + 4, word, be);
        if (!(one = type_size(type)) || count <= word / one) continue;  /* held in the entry */
        bytes = count > UINT64_MAX / one ? UINT64_MAX : count * one;
        if (is_table(tag)) {
            if (bytes > size) {
                snprintf(err, errlen, "the first directory's tag %u is a table of %llu bytes in a file of %llu", tag,
                         (unsigned long long)bytes, (unsigned long long)size);
                return -1;
            }
            continue;
        }
        total = bytes > UINT64_MAX - total ? UINT64_MAX : total + bytes;
        if (bytes > most) { most = bytes; most_tag = tag; }
    }
    if (total > TILER_TIFF_MAX_TAG_BYTES) {
        snprintf(err, errlen, "the first directory's tags hold %llu MiB (tag %u alone %llu MiB), more than the %u MiB taken",
                 (unsigned long long)mib(total), most_tag, (unsigned long long)mib(most), TILER_TIFF_MAX_TAG_BYTES >> 20);
        return -1;
    }
    return 0;
}
