/* Crash-loop protection. tiler-worker runs its loop in a child process; the
 * parent restarts it when it dies, and counts crashes per task message from
 * what the child said it had in hand (memory shared between the two, one
 * slot per processing thread). The child skips a message that crashed it
 * max_crashes times: dead-lettered, its job failed, its offset stored, so
 * the partition moves on.
 *
 * A crash with several messages in hand cannot say which one did it, so it
 * counts against none of them: they become suspects, and the next child
 * runs each suspect alone, where a crash is its own. */
#ifndef WORKER_SUPERVISOR_H
#define WORKER_SUPERVISOR_H

#include <signal.h>
#include <stdint.h>
#include "worker_options.h"

#define WORKER_CRASH_SLOTS 64
/* The child's exit code that asks for a restart (not a crash). */
#define WORKER_EXIT_RESTART 75

typedef struct {
    char topic[256];
    int32_t partition;
    int64_t offset;
    int count;
} worker_crash;

/* What one processing thread has in hand. */
typedef struct {
    volatile sig_atomic_t busy;
    char topic[256];
    int32_t partition;
    int64_t offset;
} worker_slot;

typedef struct {
    worker_slot slots[WORKER_MAX_THREADS];
    worker_crash crashes[WORKER_CRASH_SLOTS];
    int ncrashes;
    worker_crash suspects[WORKER_CRASH_SLOTS];   /* count unused */
    int nsuspects;
} worker_shared;

/* Runs run(o, shared) in a child, restarting it after a crash, until it
 * exits by itself or the parent is told to stop. Returns its exit code. */
int worker_supervise(const worker_options *o, int (*run)(const worker_options *, worker_shared *));
/* The supervisor's part of a stop signal: pass it on to the child. For
 * tiler_daemon_start; async-signal-safe. */
void worker_supervise_stop(int sig);
/* How often the message crashed a worker child. */
int worker_crash_count(const worker_shared *sh, const char *topic, int32_t partition, int64_t offset);
/* Whether the message was in hand, with others, when a child crashed. */
int worker_is_suspect(const worker_shared *sh, const char *topic, int32_t partition, int64_t offset);
/* A thread takes a message into its slot, and lets it go. */
void worker_slot_take(worker_shared *sh, int slot, const char *topic, int32_t partition, int64_t offset);
void worker_slot_free(worker_shared *sh, int slot);

#endif
