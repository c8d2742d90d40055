/* --local: one image through the op chain in this process, in strips (a
 * band of rows plus the halo), never whole for a PNG result. It is the
 * reference the distributed result must equal, pixel for pixel. */
#ifndef WORKER_LOCAL_H
#define WORKER_LOCAL_H

#include "worker_options.h"

/* Returns a WORKER_EXIT_* code, after a one-line message on failure. */
int worker_local_run(const worker_options *o);

#endif
