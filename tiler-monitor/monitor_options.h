/* tiler-monitor's settings: defaults, then the config file, then flags
 * (libtiler/tiler_daemon.h parses both). */
#ifndef MONITOR_OPTIONS_H
#define MONITOR_OPTIONS_H

#include "tiler_daemon.h"
#include "tiler_kafka.h"

typedef struct {
    tiler_daemon d;           /* brokers, Kafka properties, pid file, user, ... */
    const char *group, *workers_group, *snapshot;
    tiler_topics topics;
    int suspect_after_missed;
    int dead_after_ms;
    long long forget_after_ms;   /* a dead worker is dropped from the registry after this */
} monitor_options;

/* Fills o from argv (and the config file it names). Returns -1 after
 * printing a one-line message, 1 when --help/--version was handled, 0 to run. */
int monitor_options_parse(monitor_options *o, int argc, char **argv);

#endif
