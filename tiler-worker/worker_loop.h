/* The worker proper: consume tasks as one group, process, produce results,
 * store each task's offset only once its result is delivered, heartbeat. */
#ifndef WORKER_LOOP_H
#define WORKER_LOOP_H

#include "worker_options.h"
#include "worker_supervisor.h"

/* Runs until worker_loop_stop(); returns a WORKER_EXIT_* code. */
int worker_loop_run(const worker_options *o, worker_shared *sh);
/* Async-signal-safe. */
void worker_loop_stop(void);

#endif
