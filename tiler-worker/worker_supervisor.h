/* Crash-loop protection. tiler-worker runs its loop in a child process; the
 * parent restarts it when it dies, and counts crashes per task message from
 * what the child said it had in hand (memory shared between the two). The
 * child skips a message that crashed it max_crashes times: dead-lettered,
 * its job failed, its offset stored, so the partition moves on. */
#ifndef WORKER_SUPERVISOR_H
#define WORKER_SUPERVISOR_H

#include <signal.h>
#include <stdint.h>
#include "worker_options.h"

#define WORKER_CRASH_SLOTS 64

typedef struct {
    char topic[256];
    int32_t partition;
    int64_t offset;
    int count;
} worker_crash;

typedef struct {
    volatile sig_atomic_t busy;       /* the child has a message in hand */
    char topic[256];
    int32_t partition;
    int64_t offset;
    worker_crash crashes[WORKER_CRASH_SLOTS];
    int ncrashes;
} worker_shared;

/* Runs run(o, shared) in a child, restarting it after a crash, until it
 * exits by itself or the parent is told to stop. Returns its exit code. */
int worker_supervise(const worker_options *o, int (*run)(const worker_options *, worker_shared *));
/* How often the message crashed a worker child. */
int worker_crash_count(const worker_shared *sh, const char *topic, int32_t partition, int64_t offset);

#endif
