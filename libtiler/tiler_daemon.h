/* What tiler-worker and tiler-monitor share as daemons, in one place:
 *
 * - options: one table per daemon on top of the common ones (--config,
 *   --brokers, --kafka, --foreground, --pidfile, --user, --log-level,
 *   --help, --version). "--opt VALUE", "--opt=VALUE", "-o VALUE" and
 *   "-oVALUE" all mean the same; the config file (-c/--config, any form)
 *   is read first and flags win over it wherever they stand. An unknown or
 *   malformed option is one line on stderr and exit code 2.
 * - start-up, in this order: detach (unless --foreground), write the pid
 *   file (still as the user that started it, normally root, so /run works;
 *   a regular file, not through a symlink, locked with flock for the
 *   daemon's life: a second instance with the same pid file is refused),
 *   drop to --user, catch SIGTERM/SIGINT. Only then does the caller create
 *   its Kafka clients: librdkafka's threads do not survive a fork.
 * - the launching process waits until the daemon says it is ready (or
 *   exits) and exits with its status, so a bad pid file, user or Kafka
 *   property is a non-zero exit even without --foreground. */
#ifndef TILER_DAEMON_H
#define TILER_DAEMON_H

#include <stddef.h>
#include "tiler_kafka.h"

#define TILER_DAEMON_MAX_PROPS 64

/* Exit codes common to both daemons (documented in README.md). */
enum {
    TILER_EXIT_OK = 0,
    TILER_EXIT_RUNTIME = 1,   /* Kafka or system failure while running */
    TILER_EXIT_USAGE = 2      /* bad flag, config file, Kafka property, pid file or user */
};

enum {
    TILER_OPT_CMDLINE = 1     /* not a config-file key */
};

/* One option. Its long name is also its config-file key. */
typedef struct {
    const char *name;
    int short_name;           /* 0: none */
    int args;                 /* 0 a flag, 1 a value, 2 two values (command line only) */
    int flags;                /* TILER_OPT_* */
} tiler_option;

/* Applies one of the daemon's own options: values[0] (and values[1] for a
 * two-value option; a flag gets NULL). Every value, from argv or the
 * config file, lives as long as the process: keep the pointer. 0, or -1
 * with a reason in err. */
typedef int (*tiler_option_set)(void *ctx, const char *name, const char *const *values, char *err, size_t errlen);

typedef struct {
    /* Set by the caller before tiler_daemon_parse. */
    const char *prog;           /* "tiler-worker" */
    const char *usage;          /* the --help text */
    const char *version_note;   /* printed after the version, or NULL */
    const tiler_option *options;   /* the daemon's own, ended by a NULL name */
    tiler_option_set set;
    void *ctx;
    /* The common settings, filled by tiler_daemon_parse. */
    const char *config, *brokers, *pidfile, *user;
    int foreground, log_level;
    tiler_prop props[TILER_DAEMON_MAX_PROPS];
    int nprops;
} tiler_daemon;

/* Defaults, then the config file, then argv. 0 to run; 1 when --help or
 * --version was printed (exit 0); -1 after a one-line message on stderr
 * (exit TILER_EXIT_USAGE). */
int tiler_daemon_parse(tiler_daemon *d, int argc, char **argv);

/* Detach, pid file, --user, signals (see above). on_stop, if set, runs in
 * the signal handler (it must be async-signal-safe). 0, or -1 after a log
 * line (exit TILER_EXIT_USAGE). The launching process does not return from
 * here when detaching: it exits with the daemon's status. */
int tiler_daemon_start(const tiler_daemon *d, void (*on_stop)(int sig));
/* Tells the launching process to exit 0. Call once the Kafka clients are
 * created. Any process of the daemon may call it (later calls do nothing
 * useful and no harm). */
void tiler_daemon_ready(void);
/* The stop signal caught, or 0. Async-signal-safe. */
int tiler_daemon_stopping(void);
/* Waits ms milliseconds, or less when a stop signal comes. 1 when stopping. */
int tiler_daemon_sleep(int ms);
/* Empties the pid file, and removes it while its path is still the file
 * we locked (not one made since by someone else; after --user it may stay,
 * empty). Only the process that wrote it does anything. */
void tiler_daemon_finish(const tiler_daemon *d);

#endif
