/* librdkafka configuration shared by the module and the daemons, and the
 * creation of the project's topics through the Admin API. */
#ifndef TILER_KAFKA_H
#define TILER_KAFKA_H

#include <stddef.h>
#include <librdkafka/rdkafka.h>

typedef struct { const char *key, *value; } tiler_prop;

typedef enum { TILER_KAFKA_PRODUCER, TILER_KAFKA_CONSUMER } tiler_kafka_role;

typedef struct {
    const char *tasks, *results, *heartbeats, *dead_letters;
    int replication; /* -1: the broker's default.replication.factor */
    /* Partitions of tasks: set on creation, and an existing topic with fewer
     * is grown to it (never shrunk: Kafka cannot). 0: the default. */
    int tasks_partitions;
    /* Told one line when a topic was grown (NULL: not told). */
    void (*note)(void *arg, const char *line);
    void *note_arg;
} tiler_topics;

/* A config with the brokers, the settings every tiler client needs for its
 * role (message sizes; idempotence and acks=all for producers; manual
 * offset store for consumers), then the operator's pass-through properties,
 * which win. NULL with a reason naming the bad property. */
rd_kafka_conf_t *tiler_kafka_conf_new(tiler_kafka_role role, const char *brokers,
                                      const tiler_prop *extra, int nextra, char *err, size_t errlen);

/* The default topic names, partitions and the broker's default
 * replication; growth is noted through tiler_log (for the daemons). */
void tiler_topics_default(tiler_topics *t);

/* Creates the four topics when they are missing (an existing one is fine),
 * then grows tasks to t->tasks_partitions if it has fewer.
 * 0, or -1 with a reason. */
int tiler_kafka_ensure_topics(rd_kafka_t *rk, const tiler_topics *t, int timeout_ms, char *err, size_t errlen);
/* The same, returning -1 ("stopping") within about 200 ms once stopping()
 * (async-signal-safe, e.g. tiler_daemon_stopping) is true: the daemons'
 * SIGTERM is prompt while the broker is down. */
int tiler_kafka_ensure_topics_until(rd_kafka_t *rk, const tiler_topics *t, int timeout_ms, int (*stopping)(void),
                                    char *err, size_t errlen);

#endif
