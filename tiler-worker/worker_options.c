#include "worker_options.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "config.h"
#include "tiler_defaults.h"
#include "tiler_log.h"

static const char usage[] =
    "usage: tiler-worker [options]\n"
    "       tiler-worker --local IN OUT --ops LIST [--format png|jpeg|tiff] [--compression deflate|jpeg]\n"
    "  -c, --config FILE         key = value settings (long option names; kafka.PROP = VALUE)\n"
    "  -b, --brokers LIST        Kafka bootstrap servers (" TILER_DEFAULT_BROKERS ")\n"
    "  -g, --group NAME          consumer group (" TILER_DEFAULT_WORKER_GROUP ")\n"
    "      --tasks-topic NAME    (" TILER_DEFAULT_TOPIC_TASKS ")\n"
    "      --results-topic NAME  (" TILER_DEFAULT_TOPIC_RESULTS ")\n"
    "      --heartbeats-topic NAME (" TILER_DEFAULT_TOPIC_HEARTBEATS ")\n"
    "      --dead-letter-topic NAME  where undecodable or crashing tasks are copied (" TILER_DEFAULT_TOPIC_DEAD_LETTERS ")\n"
    "      --tasks-partitions N  partitions of the tasks topic, 1..1024; an existing one with fewer is grown (12)\n"
    "      --max-crashes N       skip a task that crashed the worker N times (2)\n"
    "  -j, --threads N           processing threads, 1..64 (the number of CPUs)\n"
    "      --id ID               worker id in heartbeats (host-pid)\n"
    "      --heartbeat-ms N      heartbeat interval (5000)\n"
    "  -X, --kafka PROP=VALUE    pass a property to librdkafka (TLS, SASL, ...)\n"
    "  -f, --foreground          stay in the foreground\n"
    "      --pidfile FILE        write the pid here (before dropping root)\n"
    "      --user NAME           run as this user (started as root)\n"
    "      --log-level LEVEL     error, warn, info or debug (info)\n"
    "      --local IN OUT        process one whole image in this process and exit\n"
    "      --ops LIST            op chain for --local, e.g. grayscale,blur:3\n"
    "      --format png|jpeg|tiff result format for --local (png)\n"
    "      --compression deflate|jpeg  the tiles of a --format tiff result (deflate; jpeg drops alpha)\n"
    "  -h, --help                this text\n"
    "  -V, --version             print the version (and whether test hooks are built in)\n";

static const tiler_option options[] = {
    { "group", 'g', 1, 0 },
    { "tasks-topic", 0, 1, 0 },
    { "results-topic", 0, 1, 0 },
    { "heartbeats-topic", 0, 1, 0 },
    { "dead-letter-topic", 0, 1, 0 },
    { "tasks-partitions", 0, 1, 0 },
    { "max-crashes", 0, 1, 0 },
    { "threads", 'j', 1, 0 },
    { "id", 0, 1, 0 },
    { "heartbeat-ms", 0, 1, 0 },
    { "local", 0, 2, TILER_OPT_CMDLINE },
    { "ops", 0, 1, TILER_OPT_CMDLINE },
    { "format", 0, 1, TILER_OPT_CMDLINE },
    { "compression", 0, 1, TILER_OPT_CMDLINE },
    { NULL, 0, 0, 0 }
};

static int in_range(const char *v, int lo, int hi, int *out)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || n < lo || n > hi) return -1;
    *out = (int)n;
    return 0;
}

static int set(void *ctx, const char *key, const char *const *values, char *err, size_t errlen)
{
    worker_options *o = ctx;
    const char *v = values[0];
    if (!strcmp(key, "group")) o->group = v;
    else if (!strcmp(key, "tasks-topic")) o->topics.tasks = v;
    else if (!strcmp(key, "results-topic")) o->topics.results = v;
    else if (!strcmp(key, "heartbeats-topic")) o->topics.heartbeats = v;
    else if (!strcmp(key, "dead-letter-topic")) o->topics.dead_letters = v;
    else if (!strcmp(key, "id")) o->worker_id = v;
    else if (!strcmp(key, "ops")) o->ops = v;
    else if (!strcmp(key, "format")) o->format = v;
    else if (!strcmp(key, "compression")) o->compression = v;
    else if (!strcmp(key, "local")) { o->local_in = v; o->local_out = values[1]; }
    else if (!strcmp(key, "tasks-partitions")) {
        if (in_range(v, 1, TILER_MAX_TASKS_PARTITIONS, &o->topics.tasks_partitions) < 0) {
            snprintf(err, errlen, "tasks-partitions '%s' is not in 1..%d", v, TILER_MAX_TASKS_PARTITIONS);
            return -1;
        }
    } else if (!strcmp(key, "max-crashes")) {
        if (in_range(v, 1, 100, &o->max_crashes) < 0) { snprintf(err, errlen, "max-crashes '%s' is not in 1..100", v); return -1; }
    } else if (!strcmp(key, "threads")) {
        if (in_range(v, 1, WORKER_MAX_THREADS, &o->threads) < 0) {
            snprintf(err, errlen, "threads '%s' is not in 1..%d", v, WORKER_MAX_THREADS);
            return -1;
        }
    } else if (!strcmp(key, "heartbeat-ms")) {
        if (in_range(v, 1, 86400000, &o->heartbeat_ms) < 0) { snprintf(err, errlen, "heartbeat-ms '%s' is not a positive number", v); return -1; }
    }
    return 0;
}

int worker_options_parse(worker_options *o, int argc, char **argv)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int rc;

    memset(o, 0, sizeof(*o));
    o->d.prog = "tiler-worker";
    o->d.usage = usage;
#ifdef TILER_TEST_HOOKS
    o->d.version_note = "test hooks: on";
#else
    o->d.version_note = "test hooks: off";
#endif
    o->d.options = options;
    o->d.set = set;
    o->d.ctx = o;
    o->group = TILER_DEFAULT_WORKER_GROUP;
    tiler_topics_default(&o->topics);
    o->heartbeat_ms = TILER_DEFAULT_HEARTBEAT_MS;
    o->max_crashes = TILER_DEFAULT_MAX_CRASHES;
    o->threads = cpus < 1 ? 1 : cpus > WORKER_MAX_THREADS ? WORKER_MAX_THREADS : (int)cpus;
    o->format = "png";
    o->max_pixels = TILER_HARD_MAX_PIXELS;

    if ((rc = tiler_daemon_parse(&o->d, argc, argv))) return rc;
    if (o->local_in && !o->ops) { fprintf(stderr, "tiler-worker: --local needs --ops\n"); return -1; }
    return 0;
}

void worker_options_default_id(worker_options *o)
{
    static char id[300];
    char host[256];
    if (o->worker_id) return;
    if (gethostname(host, sizeof(host)) < 0) strcpy(host, "unknown");
    host[sizeof(host) - 1] = '\0';
    snprintf(id, sizeof(id), "%s-%d", host, (int)getpid());
    o->worker_id = id;
}
