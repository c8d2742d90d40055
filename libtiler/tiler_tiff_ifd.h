/* A look at a TIFF's first directory before libtiff reads it. libtiff
 * reads every entry of the directory into memory on opening the file,
 * unknown tags too, each up to its per-allocation limit: a few hundred
 * entries that all point at one block of a small file cost gigabytes
 * (TIFFOpenOptionsSetMaxSingleMemAlloc bounds each, not their total). */
#ifndef TILER_TIFF_IFD_H
#define TILER_TIFF_IFD_H

#include <stdio.h>
#include <stddef.h>

/* What all entries of the first directory may hold outside it, but for
 * the strip and tile offset and byte-count tables (each at most the
 * file's size, where it has to be). Real files stay far below it; a
 * Photoshop TIFF with layers keeps them in a tag (37724) and may not. */
#define TILER_TIFF_MAX_TAG_BYTES (16u << 20)

/* 0, or -1 with a one-line reason when the first directory's entries
 * hold more than that. A file too short or broken to walk is 0: libtiff
 * then says what is wrong with it. Moves f's position. */
int tiler_tiff_ifd_check(FILE *f, char *err, size_t errlen);

#endif
