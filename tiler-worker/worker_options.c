#include "worker_options.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tiler_conf.h"
#include "tiler_defaults.h"
#include "tiler_log.h"

static const char usage[] =
    "usage: tiler-worker [options]\n"
    "       tiler-worker --local IN OUT --ops LIST [--format png|jpeg]\n"
    "  -c, --config FILE         key = value settings (long option names; kafka.PROP = VALUE)\n"
    "  -b, --brokers LIST        Kafka bootstrap servers (" TILER_DEFAULT_BROKERS ")\n"
    "  -g, --group NAME          consumer group (" TILER_DEFAULT_WORKER_GROUP ")\n"
    "      --tasks-topic NAME    (" TILER_DEFAULT_TOPIC_TASKS ")\n"
    "      --results-topic NAME  (" TILER_DEFAULT_TOPIC_RESULTS ")\n"
    "      --heartbeats-topic NAME (" TILER_DEFAULT_TOPIC_HEARTBEATS ")\n"
    "      --dead-letter-topic NAME  where undecodable or crashing tasks are copied (" TILER_DEFAULT_TOPIC_DEAD_LETTERS ")\n"
    "      --max-crashes N       skip a task that crashed the worker N times (2)\n"
    "  -j, --threads N           processing threads, 1..64 (the number of CPUs)\n"
    "      --id ID               worker id in heartbeats (host-pid)\n"
    "      --heartbeat-ms N      heartbeat interval (5000)\n"
    "  -X, --kafka PROP=VALUE    pass a property to librdkafka (TLS, SASL, ...)\n"
    "  -f, --foreground          stay in the foreground\n"
    "      --pidfile FILE        write the pid here\n"
    "      --user NAME           run as this user (started as root)\n"
    "      --log-level LEVEL     error, warn, info or debug (info)\n"
    "      --local IN OUT        process one whole image in this process and exit\n"
    "      --ops LIST            op chain for --local, e.g. grayscale,blur:3\n"
    "      --format png|jpeg     result format for --local (png)\n"
    "  -h, --help                this text\n"
    "  -V, --version             print the version\n";

enum { O_TASKS = 256, O_RESULTS, O_HEARTBEATS, O_ID, O_HB_MS, O_PIDFILE, O_LOGLEVEL, O_LOCAL, O_OPS, O_FORMAT,
       O_DLQ, O_MAX_CRASHES, O_USER };

static const struct option longopts[] = {
    { "config", required_argument, NULL, 'c' },
    { "brokers", required_argument, NULL, 'b' },
    { "group", required_argument, NULL, 'g' },
    { "tasks-topic", required_argument, NULL, O_TASKS },
    { "results-topic", required_argument, NULL, O_RESULTS },
    { "heartbeats-topic", required_argument, NULL, O_HEARTBEATS },
    { "dead-letter-topic", required_argument, NULL, O_DLQ },
    { "max-crashes", required_argument, NULL, O_MAX_CRASHES },
    { "threads", required_argument, NULL, 'j' },
    { "user", required_argument, NULL, O_USER },
    { "id", required_argument, NULL, O_ID },
    { "heartbeat-ms", required_argument, NULL, O_HB_MS },
    { "kafka", required_argument, NULL, 'X' },
    { "foreground", no_argument, NULL, 'f' },
    { "pidfile", required_argument, NULL, O_PIDFILE },
    { "log-level", required_argument, NULL, O_LOGLEVEL },
    { "local", required_argument, NULL, O_LOCAL },
    { "ops", required_argument, NULL, O_OPS },
    { "format", required_argument, NULL, O_FORMAT },
    { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, 'V' },
    { NULL, 0, NULL, 0 }
};

static int add_prop(worker_options *o, const char *k, const char *v, char *err, size_t errlen)
{
    if (o->nprops >= WORKER_MAX_PROPS) { snprintf(err, errlen, "more than %d Kafka properties", WORKER_MAX_PROPS); return -1; }
    o->props[o->nprops].key = strdup(k);
    o->props[o->nprops].value = strdup(v);
    o->nprops++;
    return 0;
}

static int positive(const char *v, int *out)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (*v == '\0' || *end || n <= 0 || n > 86400000) return -1;
    *out = (int)n;
    return 0;
}

/* One setter for both the config file and the flags. */
static int apply(worker_options *o, const char *key, const char *v, char *err, size_t errlen)
{
    if (!strncmp(key, "kafka.", 6)) return add_prop(o, key + 6, v, err, errlen);
    if (!strcmp(key, "brokers")) o->brokers = strdup(v);
    else if (!strcmp(key, "group")) o->group = strdup(v);
    else if (!strcmp(key, "tasks-topic")) o->topics.tasks = strdup(v);
    else if (!strcmp(key, "results-topic")) o->topics.results = strdup(v);
    else if (!strcmp(key, "heartbeats-topic")) o->topics.heartbeats = strdup(v);
    else if (!strcmp(key, "dead-letter-topic")) o->topics.dead_letters = strdup(v);
    else if (!strcmp(key, "max-crashes")) {
        if (positive(v, &o->max_crashes) < 0 || o->max_crashes > 100) { snprintf(err, errlen, "max-crashes '%s' is not in 1..100", v); return -1; }
    }
    else if (!strcmp(key, "threads")) {
        if (positive(v, &o->threads) < 0 || o->threads > WORKER_MAX_THREADS) {
            snprintf(err, errlen, "threads '%s' is not in 1..%d", v, WORKER_MAX_THREADS);
            return -1;
        }
    }
    else if (!strcmp(key, "id")) o->worker_id = strdup(v);
    else if (!strcmp(key, "pidfile")) o->pidfile = strdup(v);
    else if (!strcmp(key, "user")) o->user = strdup(v);
    else if (!strcmp(key, "heartbeat-ms")) {
        if (positive(v, &o->heartbeat_ms) < 0) { snprintf(err, errlen, "heartbeat-ms '%s' is not a positive number", v); return -1; }
    } else if (!strcmp(key, "log-level")) {
        if ((o->log_level = tiler_log_level_parse(v)) < 0) { snprintf(err, errlen, "log-level '%s' is not error, warn, info or debug", v); return -1; }
    } else { snprintf(err, errlen, "unknown setting '%s'", key); return -1; }
    if (!*v) { snprintf(err, errlen, "setting '%s' is empty", key); return -1; }
    return 0;
}

static int conf_cb(void *ctx, const char *key, const char *value, char *err, size_t errlen)
{
    return apply(ctx, key, value, err, errlen);
}

int worker_options_parse(worker_options *o, int argc, char **argv)
{
    char err[512];
    int c, i;
    const char *names[] = { "brokers", "group", "tasks-topic", "results-topic", "heartbeats-topic", "id",
                            "heartbeat-ms", "pidfile", "log-level", "dead-letter-topic", "max-crashes", "user",
                            "threads" };
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);

    memset(o, 0, sizeof(*o));
    o->brokers = TILER_DEFAULT_BROKERS;
    o->group = TILER_DEFAULT_WORKER_GROUP;
    o->topics.tasks = TILER_DEFAULT_TOPIC_TASKS;
    o->topics.results = TILER_DEFAULT_TOPIC_RESULTS;
    o->topics.heartbeats = TILER_DEFAULT_TOPIC_HEARTBEATS;
    o->topics.dead_letters = TILER_DEFAULT_TOPIC_DEAD_LETTERS;
    o->topics.replication = -1;
    o->heartbeat_ms = TILER_DEFAULT_HEARTBEAT_MS;
    o->max_crashes = TILER_DEFAULT_MAX_CRASHES;
    o->threads = cpus < 1 ? 1 : cpus > WORKER_MAX_THREADS ? WORKER_MAX_THREADS : (int)cpus;
    o->log_level = TILER_LOG_INFO;
    o->format = "png";
    o->max_pixels = TILER_HARD_MAX_PIXELS;

    /* The config file first, so that flags override it wherever they stand. */
    for (i = 1; i < argc - 1; i++)
        if (!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) o->config = argv[i + 1];
    for (i = 1; i < argc; i++)
        if (!strncmp(argv[i], "--config=", 9)) o->config = argv[i] + 9;
    if (o->config && tiler_conf_read(o->config, conf_cb, o, err, sizeof(err)) < 0) {
        fprintf(stderr, "tiler-worker: %s\n", err);
        return -1;
    }

    optind = 1;
    opterr = 0;   /* one line of our own instead of getopt's */
    while ((c = getopt_long(argc, argv, "c:b:g:j:X:fhV", longopts, NULL)) != -1) {
        const char *key = NULL;
        switch (c) {
        case 'c': continue;
        case 'b': key = names[0]; break;
        case 'g': key = names[1]; break;
        case O_TASKS: key = names[2]; break;
        case O_RESULTS: key = names[3]; break;
        case O_HEARTBEATS: key = names[4]; break;
        case O_ID: key = names[5]; break;
        case O_HB_MS: key = names[6]; break;
        case O_PIDFILE: key = names[7]; break;
        case O_LOGLEVEL: key = names[8]; break;
        case O_DLQ: key = names[9]; break;
        case O_MAX_CRASHES: key = names[10]; break;
        case O_USER: key = names[11]; break;
        case 'j': key = names[12]; break;
        case 'X': {
            char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg) { fprintf(stderr, "tiler-worker: --kafka wants PROP=VALUE, got '%s'\n", optarg); return -1; }
            *eq = '\0';
            if (add_prop(o, optarg, eq + 1, err, sizeof(err)) < 0) { fprintf(stderr, "tiler-worker: %s\n", err); return -1; }
            continue;
        }
        case 'f': o->foreground = 1; continue;
        case O_LOCAL:
            if (optind >= argc) { fprintf(stderr, "tiler-worker: --local wants IN and OUT\n"); return -1; }
            o->local_in = optarg;
            o->local_out = argv[optind++];
            continue;
        case O_OPS: o->ops = optarg; continue;
        case O_FORMAT: o->format = optarg; continue;
        case 'h': fputs(usage, stdout); return 1;
        case 'V': printf("tiler-worker %s\n", TILER_VERSION_STRING); return 1;
        default:
            fprintf(stderr, "tiler-worker: unknown option or missing value: '%s'; see tiler-worker --help\n", argv[optind - 1]);
            return -1;
        }
        if (apply(o, key, optarg, err, sizeof(err)) < 0) { fprintf(stderr, "tiler-worker: %s\n", err); return -1; }
    }
    if (optind < argc) { fprintf(stderr, "tiler-worker: unexpected argument '%s'\n", argv[optind]); return -1; }
    if (o->local_in && !o->ops) { fprintf(stderr, "tiler-worker: --local needs --ops\n"); return -1; }
    if (!o->worker_id) {
        char host[256], *id = malloc(300);
        if (gethostname(host, sizeof(host)) < 0) strcpy(host, "unknown");
        host[sizeof(host) - 1] = '\0';
        snprintf(id, 300, "%s-%d", host, (int)getpid());
        o->worker_id = id;
    }
    return 0;
}
