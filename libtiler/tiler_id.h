/* Job ids: 128 random bits, written as 32 lowercase hex digits. Only a string
 * that passes tiler_id_parse ever becomes part of a spool path. */
#ifndef TILER_ID_H
#define TILER_ID_H

#include <stddef.h>

#define TILER_ID_HEX_LEN 32

/* Fills 16 bytes from the system's CSPRNG. 0 or -1. */
int tiler_id_generate(unsigned char id[16]);
void tiler_id_to_hex(const unsigned char id[16], char hex[TILER_ID_HEX_LEN + 1]);
/* Exactly 32 lowercase hex digits, nothing else. 0 or -1. */
int tiler_id_parse(const char *hex, size_t len, unsigned char id[16]);

#endif
