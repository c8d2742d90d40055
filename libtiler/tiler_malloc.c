#include "tiler_malloc.h"

#include <malloc.h>
#include "tiler_defaults.h"

/* glibc starts with a 128 KiB mmap threshold and raises it, up to 32 MiB,
 * each time a mapped block is freed, so that such sizes come from the
 * heap from then on. In a process that frees 1 MiB tiles from several
 * threads that moves every later tile into a thread's malloc arena, and an
 * arena keeps what it is given back (its top is trimmed, its middle never):
 * the process's peak climbs past what it holds at any moment. A fixed
 * threshold turns the climb off: big blocks are mapped and unmapped, and
 * memory follows what is in use. The cost is a mapping per tile, a few
 * microseconds against the milliseconds a tile takes. */
void tiler_malloc_setup(void)
{
    mallopt(M_MMAP_THRESHOLD, TILER_MMAP_THRESHOLD);
}
