/* tiler-monitor: follows worker heartbeats and publishes the registry as a
 * snapshot file that mod_tiler serves at {loc}/api/workers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "monitor_cluster.h"
#include "monitor_options.h"
#include "monitor_registry.h"
#include "tiler_daemon.h"
#include "tiler_kafka.h"
#include "tiler_log.h"
#include "tiler_privs.h"

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

/* A consumer in group; heartbeats are read from the latest offset (only
 * those from now on matter), the workers' group is only asked about. */
static rd_kafka_t *consumer(const monitor_options *o, const char *group, int heartbeats, char *err, size_t errlen)
{
    rd_kafka_conf_t *c = tiler_kafka_conf_new(TILER_KAFKA_CONSUMER, o->d.brokers, o->d.props, o->d.nprops, err, errlen);
    if (!c) return NULL;
    if (rd_kafka_conf_set(c, "group.id", group, err, errlen) != RD_KAFKA_CONF_OK
        || (heartbeats && (rd_kafka_conf_set(c, "auto.offset.reset", "latest", err, errlen) != RD_KAFKA_CONF_OK
                           || rd_kafka_conf_set(c, "enable.auto.offset.store", "true", err, errlen) != RD_KAFKA_CONF_OK))) {
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
    static monitor_options o;   /* static: reachable for the whole process */
    rd_kafka_t *rk, *lag_rk;
    rd_kafka_topic_partition_list_t *topics;
    long long next_write = 0, next_cluster = 0;
    char err[512];
    int rc = monitor_options_parse(&o, argc, argv), write_failed = 0;
    if (rc) return rc > 0 ? TILER_EXIT_OK : TILER_EXIT_USAGE;

    tiler_log_init("tiler-monitor", o.d.log_level);
    reg.dead_after_ms = o.dead_after_ms;
    reg.suspect_after_missed = o.suspect_after_missed;
    reg.forget_after_ms = o.forget_after_ms;
    /* As root still: the snapshot's own directory, for --user to write in. */
    if (tiler_make_dir_for(o.snapshot, o.d.user, err, sizeof(err)) < 0) {
        tiler_log(TILER_LOG_ERROR, "snapshot %s: %s", o.snapshot, err);
        return TILER_EXIT_USAGE;
    }
    if (tiler_daemon_start(&o.d, NULL) < 0) return TILER_EXIT_USAGE;
    /* Only now the Kafka clients: their threads would not survive the fork. */
    if (!(rk = consumer(&o, o.group, 1, err, sizeof(err))) || !(lag_rk = consumer(&o, o.workers_group, 0, err, sizeof(err)))) {
        tiler_log(TILER_LOG_ERROR, "%s", err);
        tiler_daemon_finish(&o.d);
        return TILER_EXIT_USAGE;
    }
    tiler_daemon_ready();

    while (!tiler_daemon_stopping() && tiler_kafka_ensure_topics_until(rk, &o.topics, 10000, tiler_daemon_stopping, err, sizeof(err)) < 0) {
        if (tiler_daemon_stopping()) break;
        tiler_log(TILER_LOG_WARN, "topics not ready, retrying: %s", err);
        tiler_daemon_sleep(2000);
    }
    rd_kafka_poll_set_consumer(rk);
    topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, o.topics.heartbeats, RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    tiler_log(TILER_LOG_INFO, "monitor started: brokers %s, topic %s, snapshot %s", o.d.brokers, o.topics.heartbeats, o.snapshot);

    while (!tiler_daemon_stopping()) {
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
            if (monitor_registry_write(&reg, &cluster, o.snapshot, now, err, sizeof(err)) < 0) {
                tiler_log(TILER_LOG_ERROR, "cannot write snapshot %s", err);
                write_failed = 1;
            } else if (write_failed) {
                tiler_log(TILER_LOG_INFO, "snapshot %s written again", o.snapshot);
                write_failed = 0;
            }
            next_write = now + 1000;
        }
    }
    tiler_log(TILER_LOG_INFO, "stopping");
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    rd_kafka_destroy(lag_rk);
    tiler_daemon_finish(&o.d);
    return TILER_EXIT_OK;
}
