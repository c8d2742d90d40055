/* tiler-monitor: follows worker heartbeats and publishes the registry as a
 * snapshot file that mod_tiler serves at {loc}/api/workers. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "monitor_cluster.h"
#include "monitor_registry.h"
#include "tiler_conf.h"
#include "tiler_defaults.h"
#include "tiler_kafka.h"
#include "tiler_log.h"
#include "tiler_privs.h"

#define MAX_PROPS 64

typedef struct {
    const char *brokers, *group, *workers_group, *snapshot, *pidfile, *user;
    int suspect_after_missed;
    tiler_topics topics;
    int dead_after_ms, foreground, log_level;
    tiler_prop props[MAX_PROPS];
    int nprops;
} monitor_options;

static volatile sig_atomic_t stop_requested;
static void on_signal(int sig) { (void)sig; stop_requested = 1; }

static const char usage[] =
    "usage: tiler-monitor --snapshot FILE [options]\n"
    "  -c, --config FILE         key = value settings (long option names; kafka.PROP = VALUE)\n"
    "  -s, --snapshot FILE       where to write the worker snapshot (required)\n"
    "  -b, --brokers LIST        Kafka bootstrap servers (" TILER_DEFAULT_BROKERS ")\n"
    "  -g, --group NAME          consumer group (" TILER_DEFAULT_MONITOR_GROUP ")\n"
    "      --tasks-topic NAME, --results-topic NAME, --heartbeats-topic NAME, --dead-letter-topic NAME\n"
    "      --workers-group NAME  the workers' consumer group, for backlog and owners (" TILER_DEFAULT_WORKER_GROUP ")\n"
    "      --suspect-after-missed N  heartbeats missed before a worker is suspect (2)\n"
    "      --dead-after-ms N     a worker silent this long is dead (15000)\n"
    "  -X, --kafka PROP=VALUE    pass a property to librdkafka\n"
    "  -f, --foreground          stay in the foreground\n"
    "      --pidfile FILE        write the pid here\n"
    "      --user NAME           run as this user (started as root)\n"
    "      --log-level LEVEL     error, warn, info or debug (info)\n"
    "  -h, --help / -V, --version\n";

static int apply(monitor_options *o, const char *key, const char *v, char *err, size_t errlen)
{
    if (!*v) { snprintf(err, errlen, "setting '%s' is empty", key); return -1; }
    if (!strncmp(key, "kafka.", 6)) {
        if (o->nprops >= MAX_PROPS) { snprintf(err, errlen, "too many Kafka properties"); return -1; }
        o->props[o->nprops].key = strdup(key + 6);
        o->props[o->nprops++].value = strdup(v);
    } else if (!strcmp(key, "brokers")) o->brokers = strdup(v);
    else if (!strcmp(key, "group")) o->group = strdup(v);
    else if (!strcmp(key, "workers-group")) o->workers_group = strdup(v);
    else if (!strcmp(key, "suspect-after-missed")) {
        char *end;
        long n = strtol(v, &end, 10);
        if (*end || n < 1 || n > 100) { snprintf(err, errlen, "suspect-after-missed '%s' is not in 1..100", v); return -1; }
        o->suspect_after_missed = (int)n;
    }
    else if (!strcmp(key, "snapshot")) o->snapshot = strdup(v);
    else if (!strcmp(key, "pidfile")) o->pidfile = strdup(v);
    else if (!strcmp(key, "user")) o->user = strdup(v);
    else if (!strcmp(key, "tasks-topic")) o->topics.tasks = strdup(v);
    else if (!strcmp(key, "results-topic")) o->topics.results = strdup(v);
    else if (!strcmp(key, "heartbeats-topic")) o->topics.heartbeats = strdup(v);
    else if (!strcmp(key, "dead-letter-topic")) o->topics.dead_letters = strdup(v);
    else if (!strcmp(key, "dead-after-ms")) {
        char *end;
        long n = strtol(v, &end, 10);
        if (*end || n < 100 || n > 86400000) { snprintf(err, errlen, "dead-after-ms '%s' is not in 100..86400000", v); return -1; }
        o->dead_after_ms = (int)n;
    } else if (!strcmp(key, "log-level")) {
        if ((o->log_level = tiler_log_level_parse(v)) < 0) { snprintf(err, errlen, "log-level '%s' is not error, warn, info or debug", v); return -1; }
    } else { snprintf(err, errlen, "unknown setting '%s'", key); return -1; }
    return 0;
}

static int conf_cb(void *ctx, const char *k, const char *v, char *err, size_t errlen) { return apply(ctx, k, v, err, errlen); }

static int parse(monitor_options *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "config", 1, NULL, 'c' }, { "snapshot", 1, NULL, 's' }, { "brokers", 1, NULL, 'b' },
        { "group", 1, NULL, 'g' }, { "tasks-topic", 1, NULL, 1 }, { "results-topic", 1, NULL, 2 },
        { "heartbeats-topic", 1, NULL, 3 }, { "dead-after-ms", 1, NULL, 4 }, { "kafka", 1, NULL, 'X' },
        { "foreground", 0, NULL, 'f' }, { "pidfile", 1, NULL, 5 }, { "log-level", 1, NULL, 6 },
        { "workers-group", 1, NULL, 7 }, { "suspect-after-missed", 1, NULL, 8 }, { "dead-letter-topic", 1, NULL, 9 }, { "user", 1, NULL, 10 },
        { "help", 0, NULL, 'h' }, { "version", 0, NULL, 'V' }, { NULL, 0, NULL, 0 }
    };
    const char *key_of[] = { NULL, "tasks-topic", "results-topic", "heartbeats-topic", "dead-after-ms", "pidfile", "log-level",
                             "workers-group", "suspect-after-missed", "dead-letter-topic", "user" };
    char err[512];
    int c, i;
    const char *config = NULL;

    memset(o, 0, sizeof(*o));
    o->brokers = TILER_DEFAULT_BROKERS;
    o->group = TILER_DEFAULT_MONITOR_GROUP;
    o->workers_group = TILER_DEFAULT_WORKER_GROUP;
    o->suspect_after_missed = 2;
    o->topics.tasks = TILER_DEFAULT_TOPIC_TASKS;
    o->topics.results = TILER_DEFAULT_TOPIC_RESULTS;
    o->topics.heartbeats = TILER_DEFAULT_TOPIC_HEARTBEATS;
    o->topics.dead_letters = TILER_DEFAULT_TOPIC_DEAD_LETTERS;
    o->topics.replication = -1;
    o->dead_after_ms = TILER_DEFAULT_DEAD_AFTER_MS;
    o->log_level = TILER_LOG_INFO;
    for (i = 1; i < argc - 1; i++) if (!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) config = argv[i + 1];
    if (config && tiler_conf_read(config, conf_cb, o, err, sizeof(err)) < 0) {
        fprintf(stderr, "tiler-monitor: %s\n", err);
        return -1;
    }
    opterr = 0;   /* one line of our own instead of getopt's */
    while ((c = getopt_long(argc, argv, "c:s:b:g:X:fhV", longopts, NULL)) != -1) {
        const char *key;
        switch (c) {
        case 'c': continue;
        case 's': key = "snapshot"; break;
        case 'b': key = "brokers"; break;
        case 'g': key = "group"; break;
        case 'f': o->foreground = 1; continue;
        case 'h': fputs(usage, stdout); return 1;
        case 'V': printf("tiler-monitor %s\n", TILER_VERSION_STRING); return 1;
        case 'X': {
            char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg) { fprintf(stderr, "tiler-monitor: --kafka wants PROP=VALUE\n"); return -1; }
            *eq = '\0';
            if (apply(o, "kafka.", "x", err, sizeof(err)) < 0) { fprintf(stderr, "tiler-monitor: %s\n", err); return -1; }
            o->props[o->nprops - 1].key = optarg;
            o->props[o->nprops - 1].value = eq + 1;
            continue;
        }
        default:
            if (c >= 1 && c <= 10) { key = key_of[c]; break; }
            fprintf(stderr, "tiler-monitor: unknown option or missing value: '%s'; see tiler-monitor --help\n", argv[optind - 1]);
            return -1;
        }
        if (apply(o, key, optarg, err, sizeof(err)) < 0) { fprintf(stderr, "tiler-monitor: %s\n", err); return -1; }
    }
    if (optind < argc) { fprintf(stderr, "tiler-monitor: unexpected argument '%s'\n", argv[optind]); return -1; }
    if (!o->snapshot) { fprintf(stderr, "tiler-monitor: --snapshot FILE is required\n"); return -1; }
    return 0;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    tiler_log(level <= 3 ? TILER_LOG_ERROR : level <= 4 ? TILER_LOG_WARN : TILER_LOG_DEBUG, "kafka %s: %s", fac, buf);
}

/* A handle in the workers' group that never joins it: it only asks for the
 * group's committed offsets and members. */
static rd_kafka_t *group_handle(const monitor_options *o, char *err, size_t errlen)
{
    rd_kafka_conf_t *c = tiler_kafka_conf_new(TILER_KAFKA_CONSUMER, o->brokers, o->props, o->nprops, err, errlen);
    if (!c) return NULL;
    if (rd_kafka_conf_set(c, "group.id", o->workers_group, err, errlen) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(c);
        return NULL;
    }
    rd_kafka_conf_set_log_cb(c, on_kafka_log);
    return rd_kafka_new(RD_KAFKA_CONSUMER, c, err, errlen);
}

int main(int argc, char **argv)
{
    static monitor_registry reg;
    static monitor_cluster cluster;
    rd_kafka_t *lag_rk;
    long long next_cluster = 0;
    static monitor_options o;   /* static: reachable for the whole process */
    rd_kafka_conf_t *conf;
    rd_kafka_t *rk;
    rd_kafka_topic_partition_list_t *topics;
    struct sigaction sa;
    char err[512];
    long long next_write = 0;
    int rc = parse(&o, argc, argv);
    if (rc) return rc > 0 ? 0 : 2;

    tiler_log_init("tiler-monitor", o.log_level);
    reg.dead_after_ms = o.dead_after_ms;
    reg.suspect_after_missed = o.suspect_after_missed;
    if (!(conf = tiler_kafka_conf_new(TILER_KAFKA_CONSUMER, o.brokers, o.props, o.nprops, err, sizeof(err)))
        || rd_kafka_conf_set(conf, "group.id", o.group, err, sizeof(err)) != RD_KAFKA_CONF_OK
        /* Only heartbeats from now on matter; nothing to replay. */
        || rd_kafka_conf_set(conf, "auto.offset.reset", "latest", err, sizeof(err)) != RD_KAFKA_CONF_OK
        || rd_kafka_conf_set(conf, "enable.auto.offset.store", "true", err, sizeof(err)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "tiler-monitor: %s\n", err);
        return 2;
    }
    rd_kafka_conf_set_log_cb(conf, on_kafka_log);
    if (!(rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err)))) {
        fprintf(stderr, "tiler-monitor: %s\n", err);
        return 2;
    }
    if (o.user && tiler_drop_privileges(o.user, err, sizeof(err)) < 0) {
        fprintf(stderr, "tiler-monitor: %s\n", err);
        return 2;
    }
    if (!(lag_rk = group_handle(&o, err, sizeof(err)))) {
        fprintf(stderr, "tiler-monitor: %s\n", err);
        return 2;
    }
    if (!o.foreground && daemon(1, 1) < 0) { perror("tiler-monitor: daemon"); return 1; }
    if (o.pidfile) {
        FILE *f = fopen(o.pidfile, "w");
        if (f) { fprintf(f, "%d\n", (int)getpid()); fclose(f); }
    }
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    while (!stop_requested && tiler_kafka_ensure_topics(rk, &o.topics, 10000, err, sizeof(err)) < 0) {
        tiler_log(TILER_LOG_WARN, "topics not ready, retrying: %s", err);
        sleep(2);
    }
    rd_kafka_poll_set_consumer(rk);
    topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, o.topics.heartbeats, RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    tiler_log(TILER_LOG_INFO, "monitor started: brokers %s, topic %s, snapshot %s", o.brokers, o.topics.heartbeats, o.snapshot);

    while (!stop_requested) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 250);
        long long now = now_ms();
        if (m) {
            if (!m->err) {
                if (monitor_registry_heartbeat(&reg, m->payload, m->len, now, err, sizeof(err)) < 0)
                    tiler_log(TILER_LOG_WARN, "ignoring heartbeat at offset %lld: %s", (long long)m->offset, err);
            } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                tiler_log(TILER_LOG_WARN, "consumer: %s", rd_kafka_message_errstr(m));
            }
            rd_kafka_message_destroy(m);
        }
        if (now >= next_cluster) {
            int was = cluster.known;
            if (monitor_cluster_poll(lag_rk, o.topics.tasks, o.workers_group, &cluster) < 0 && was)
                tiler_log(TILER_LOG_WARN, "backlog unknown: %s", cluster.error);
            next_cluster = now_ms() + 2000;
            now = now_ms();
        }
        if (now >= next_write) {
            monitor_registry_sweep(&reg, now);
            if (monitor_registry_write(&reg, &cluster, o.snapshot, now) < 0)
                tiler_log(TILER_LOG_ERROR, "cannot write snapshot %s", o.snapshot);
            next_write = now + 1000;
        }
    }
    tiler_log(TILER_LOG_INFO, "stopping");
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    rd_kafka_destroy(lag_rk);
    if (o.pidfile) unlink(o.pidfile);
    return 0;
}
