/* tiler-worker's settings: defaults, then the config file, then flags
 * (libtiler/tiler_daemon.h parses both). */
#ifndef WORKER_OPTIONS_H
#define WORKER_OPTIONS_H

#include "tiler_daemon.h"
#include "tiler_kafka.h"

#define WORKER_MAX_THREADS 64   /* --threads; also the supervisor's crash slots */

/* Exit codes (documented in README.md). */
enum {
    WORKER_EXIT_OK = TILER_EXIT_OK,
    WORKER_EXIT_RUNTIME = TILER_EXIT_RUNTIME,  /* Kafka or system failure while running */
    WORKER_EXIT_USAGE = TILER_EXIT_USAGE,      /* bad flag, config file, property, pid file or user */
    WORKER_EXIT_INPUT = 3,    /* --local: input unreadable, corrupt or too large; bad --ops */
    WORKER_EXIT_OUTPUT = 4    /* --local: result could not be written */
};

typedef struct {
    tiler_daemon d;         /* brokers, Kafka properties, pid file, user, ... */
    const char *group;
    tiler_topics topics;
    const char *worker_id;
    int heartbeat_ms;
    int max_crashes;
    int threads;            /* processing threads */
    /* --local mode */
    const char *local_in, *local_out;
    const char *ops;
    const char *format;
    const char *compression;   /* --format tiff: deflate | jpeg; NULL: not given */
    long max_pixels;
} worker_options;

/* Fills o from argv (and the config file it names). Returns -1 after
 * printing a one-line message, 1 when --help/--version was handled, 0 to run. */
int worker_options_parse(worker_options *o, int argc, char **argv);
/* Without --id: host-PID, with the pid of the detached daemon, so call it
 * after tiler_daemon_start. */
void worker_options_default_id(worker_options *o);

#endif
