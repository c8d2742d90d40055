/* glibc's allocator tuned for processes that allocate big buffers over and
 * over from several threads (a tile with halo is about 1 MiB, a Kafka fetch
 * up to 16 MiB): see tiler_malloc.c. */
#ifndef TILER_MALLOC_H
#define TILER_MALLOC_H

/* Allocations of TILER_MMAP_THRESHOLD bytes and more get their own
 * mapping, returned to the system when freed. Call once, early, in the
 * process (the worker's main, httpd's child_init). */
void tiler_malloc_setup(void);

#endif
