#include "monitor_options.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tiler_defaults.h"


static const char usage[] =
    "usage: tiler-monitor --snapshot FILE [options]\n"
    "  -c, --config FILE         key = value settings (long option names; kafka.PROP = VALUE)\n"
    "  -s, --snapshot FILE       where to write the worker snapshot (required)\n"
    "  -b, --brokers LIST        Kafka bootstrap servers (" TILER_DEFAULT_BROKERS ")\n"
    "  -g, --group NAME          consumer group (" TILER_DEFAULT_MONITOR_GROUP ")\n"
    "      --tasks-topic NAME, --results-topic NAME, --heartbeats-topic NAME, --dead-letter-topic NAME\n"
    "      --tasks-partitions N  partitions of the tasks topic, 1..1024; an existing one with fewer is grown (12)\n"
    "      --workers-group NAME  the workers' consumer group, for backlog and owners (" TILER_DEFAULT_WORKER_GROUP ")\n"
    "      --suspect-after-missed N  heartbeats missed before a worker is suspect (2)\n"
    "      --dead-after-ms N     a worker silent this long is dead (15000)\n"
    "      --forget-after-ms N   a worker silent this long is forgotten (3600000)\n"
    "  -X, --kafka PROP=VALUE    pass a property to librdkafka\n"
    "  -f, --foreground          stay in the foreground\n"
    "      --pidfile FILE        write the pid here (before dropping root)\n"
    "      --user NAME           run as this user (started as root)\n"
    "      --log-level LEVEL     error, warn, info or debug (info)\n"
    "  -h, --help / -V, --version\n";

static const tiler_option options[] = {
    { "snapshot", 's', 1, 0 },
    { "group", 'g', 1, 0 },
    { "workers-group", 0, 1, 0 },
    { "tasks-topic", 0, 1, 0 },
    { "results-topic", 0, 1, 0 },
    { "heartbeats-topic", 0, 1, 0 },
    { "dead-letter-topic", 0, 1, 0 },
    { "tasks-partitions", 0, 1, 0 },
    { "suspect-after-missed", 0, 1, 0 },
    { "dead-after-ms", 0, 1, 0 },
    { "forget-after-ms", 0, 1, 0 },
    { NULL, 0, 0, 0 }
};

static int in_range(const char *v, long long lo, long long hi, long long *out)
{
    char *end;
    long long n = strtoll(v, &end, 10);
    if (*end || n < lo || n > hi) return -1;
    *out = n;
    return 0;
}

static int set(void *ctx, const char *key, const char *const *values, char *err, size_t errlen)
{
    monitor_options *o = ctx;
    const char *v = values[0];
    long long n;
    if (!strcmp(key, "snapshot")) o->snapshot = v;
    else if (!strcmp(key, "group")) o->group = v;
    else if (!strcmp(key, "workers-group")) o->workers_group = v;
    else if (!strcmp(key, "tasks-topic")) o->topics.tasks = v;
    else if (!strcmp(key, "results-topic")) o->topics.results = v;
    else if (!strcmp(key, "heartbeats-topic")) o->topics.heartbeats = v;
    else if (!strcmp(key, "dead-letter-topic")) o->topics.dead_letters = v;
    else if (!strcmp(key, "tasks-partitions")) {
        if (in_range(v, 1, TILER_MAX_TASKS_PARTITIONS, &n) < 0) {
            snprintf(err, errlen, "tasks-partitions '%s' is not in 1..%d", v, TILER_MAX_TASKS_PARTITIONS);
            return -1;
        }
        o->topics.tasks_partitions = (int)n;
    } else if (!strcmp(key, "suspect-after-missed")) {
        if (in_range(v, 1, 100, &n) < 0) { snprintf(err, errlen, "suspect-after-missed '%s' is not in 1..100", v); return -1; }
        o->suspect_after_missed = (int)n;
    } else if (!strcmp(key, "dead-after-ms")) {
        if (in_range(v, 100, 86400000, &n) < 0) { snprintf(err, errlen, "dead-after-ms '%s' is not in 100..86400000", v); return -1; }
        o->dead_after_ms = (int)n;
    } else if (!strcmp(key, "forget-after-ms")) {
        if (in_range(v, 1000, 31536000000LL, &o->forget_after_ms) < 0) {
            snprintf(err, errlen, "forget-after-ms '%s' is not in 1000..31536000000", v);
            return -1;
        }
    }
    return 0;
}

int monitor_options_parse(monitor_options *o, int argc, char **argv)
{
    int rc;
    memset(o, 0, sizeof(*o));
    o->d.prog = "tiler-monitor";
    o->d.usage = usage;
    o->d.options = options;
    o->d.set = set;
    o->d.ctx = o;
    o->group = TILER_DEFAULT_MONITOR_GROUP;
    o->workers_group = TILER_DEFAULT_WORKER_GROUP;
    o->suspect_after_missed = 2;
    tiler_topics_default(&o->topics);
    o->dead_after_ms = TILER_DEFAULT_DEAD_AFTER_MS;
    o->forget_after_ms = TILER_DEFAULT_FORGET_AFTER_MS;
    if ((rc = tiler_daemon_parse(&o->d, argc, argv))) return rc;
    if (!o->snapshot) { fprintf(stderr, "tiler-monitor: --snapshot FILE is required\n"); return -1; }
    return 0;
}
