#include "tiler_kafka.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "tiler_defaults.h"
#include "tiler_log.h"

#define STR_(x) #x
#define STR(x) STR_(x)

static int set(rd_kafka_conf_t *c, const char *k, const char *v, char *err, size_t errlen)
{
    char why[256];
    if (rd_kafka_conf_set(c, k, v, why, sizeof(why)) != RD_KAFKA_CONF_OK) {
        snprintf(err, errlen, "Kafka property %s: %s", k, why);
        return -1;
    }
    return 0;
}

rd_kafka_conf_t *tiler_kafka_conf_new(tiler_kafka_role role, const char *brokers,
                                      const tiler_prop *extra, int nextra, char *err, size_t errlen)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    char buf[32], kb[32], fetch[32], recv[32];
    int i;
    if (set(c, "bootstrap.servers", brokers, err, errlen)
        /* After a broker restart, reconnect within a second, not ten. */
        || set(c, "reconnect.backoff.max.ms", "1000", err, errlen)) goto bad;
    if (role == TILER_KAFKA_PRODUCER) {
        /* Idempotent, so that a retry after a lost acknowledgement writes
         * no duplicate and keeps order; nothing acknowledged before every
         * in-sync replica has it; retried until message.timeout.ms.
         * librdkafka 2.0.2 (Debian 12) can still report a message as
         * delivered that was never written (librdkafka #4134, fixed in
         * 2.3.0; t/60-hosts.t lost a tile that way): the module's resend
         * check (mod_tiler_resend.c) recovers such tiles. */
        snprintf(buf, sizeof(buf), "%d", TILER_MAX_MESSAGE_BYTES + 65536);
        snprintf(kb, sizeof(kb), "%d", TILER_PRODUCER_QUEUE_BYTES / 1024);
        if (set(c, "enable.idempotence", "true", err, errlen) || set(c, "acks", "all", err, errlen)
            || set(c, "message.max.bytes", buf, err, errlen)
            || set(c, "linger.ms", "5", err, errlen)
            /* Bounds what a big job can hold in this process while Kafka
             * catches up (the default is 1 GiB); producers wait for room. */
            || set(c, "queue.buffering.max.kbytes", kb, err, errlen)
            || set(c, "compression.type", "none", err, errlen))
            goto bad;
    } else {
        /* Offsets are stored by the application once a message's work is
         * durable, and committed in the background from those stores. */
        snprintf(buf, sizeof(buf), "%d", TILER_MAX_MESSAGE_BYTES + 65536);
        snprintf(fetch, sizeof(fetch), "%d", TILER_CONSUMER_FETCH_BYTES);
        snprintf(recv, sizeof(recv), "%d",
                 (TILER_CONSUMER_FETCH_BYTES > TILER_MAX_MESSAGE_BYTES ? TILER_CONSUMER_FETCH_BYTES : TILER_MAX_MESSAGE_BYTES)
                 + 1024 * 1024);
        snprintf(kb, sizeof(kb), "%d", TILER_CONSUMER_QUEUE_BYTES / 1024);
        if (set(c, "enable.auto.offset.store", "false", err, errlen)
            || set(c, "enable.auto.commit", "true", err, errlen)
            || set(c, "auto.commit.interval.ms", "1000", err, errlen)
            || set(c, "auto.offset.reset", "earliest", err, errlen)
            /* A fetch returns its first message whatever the limits, so
             * the largest message always comes through; the response
             * buffer is that or the fetch limit, and some room for the
             * protocol (librdkafka wants 512 bytes above fetch.max.bytes). */
            || set(c, "max.partition.fetch.bytes", buf, err, errlen)
            || set(c, "fetch.max.bytes", fetch, err, errlen)
            || set(c, "receive.message.max.bytes", recv, err, errlen)
            || set(c, "queued.max.messages.kbytes", kb, err, errlen)
            || set(c, "session.timeout.ms", STR(TILER_DEFAULT_SESSION_TIMEOUT_MS), err, errlen)
            || set(c, "heartbeat.interval.ms", "1000", err, errlen))
            goto bad;
    }
    for (i = 0; i < nextra; i++)
        if (set(c, extra[i].key, extra[i].value, err, errlen)) goto bad;
    return c;
bad:
    rd_kafka_conf_destroy(c);
    return NULL;
}

static rd_kafka_NewTopic_t *new_topic(const char *name, int partitions, int replication, const char *retention,
                                      char *err, size_t errlen)
{
    char why[256], maxbytes[32];
    rd_kafka_NewTopic_t *t = rd_kafka_NewTopic_new(name, partitions, replication, why, sizeof(why));
    if (!t) { snprintf(err, errlen, "topic %s: %s", name, why); return NULL; }
    snprintf(maxbytes, sizeof(maxbytes), "%d", TILER_MAX_MESSAGE_BYTES + 65536);
    rd_kafka_NewTopic_set_config(t, "retention.ms", retention);
    rd_kafka_NewTopic_set_config(t, "max.message.bytes", maxbytes);
    return t;
}

/* Waits in short slices so that a daemon told to stop (stopping() true)
 * does not sit out a whole timeout on a broker that does not answer. */
#define TILER_STOP_SLICE_MS 200

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 1 when the broker's metadata lists every topic with a leader for each
 * partition. CreateTopics answers once the controller has the topics; the
 * broker that serves metadata can learn of them a moment later, and a
 * consumer that subscribes in between logs "Subscribed topic not
 * available" for a topic that exists. */
static int topics_visible(rd_kafka_t *rk, const char *const names[4], int timeout_ms)
{
    const struct rd_kafka_metadata *md;
    int found = 0, i, j, k;

    if (rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR) return 0;
    for (i = 0; i < 4; i++) {
        for (j = 0; j < md->topic_cnt; j++) {
            const rd_kafka_metadata_topic_t *t = &md->topics[j];
            int led = t->err == RD_KAFKA_RESP_ERR_NO_ERROR && t->partition_cnt > 0;
            if (strcmp(t->topic, names[i])) continue;
            for (k = 0; led && k < t->partition_cnt; k++) led = t->partitions[k].leader >= 0;
            found += led;
            break;
        }
    }
    rd_kafka_metadata_destroy(md);
    return found == 4;
}

static void log_note(void *arg, const char *line)
{
    (void)arg;
    tiler_log(TILER_LOG_INFO, "%s", line);
}

static int tasks_partitions(const tiler_topics *tp)
{
    return tp->tasks_partitions > 0 ? tp->tasks_partitions : TILER_TASKS_PARTITIONS;
}

/* The partitions the broker lists for topic with a leader each: the count,
 * 0 while some have none yet, -1 when the metadata does not answer. */
static int led_partitions(rd_kafka_t *rk, const char *topic, int timeout_ms)
{
    const struct rd_kafka_metadata *md;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    int n = -1, k;
    if (!rkt) return -1;
    if (rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            n = md->topics[0].partition_cnt;
            for (k = 0; k < md->topics[0].partition_cnt; k++)
                if (md->topics[0].partitions[k].leader < 0) n = 0;
        }
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    return n;
}

/* An Admin API answer on q, or NULL with a reason: timed out, or stopping. */
static rd_kafka_event_t *admin_wait(rd_kafka_queue_t *q, const char *what, int timeout_ms, int (*stopping)(void),
                                    char *err, size_t errlen)
{
    rd_kafka_event_t *ev;
    int64_t until = now_ms() + timeout_ms + 2000;
    while (!(ev = rd_kafka_queue_poll(q, stopping ? TILER_STOP_SLICE_MS : timeout_ms + 2000)) && now_ms() < until) {
        if (stopping && stopping()) { snprintf(err, errlen, "stopping"); return NULL; }
    }
    if (!ev) { snprintf(err, errlen, "%s timed out after %d ms", what, timeout_ms); return NULL; }
    if (rd_kafka_event_error(ev)) {
        snprintf(err, errlen, "%s: %s", what, rd_kafka_event_error_string(ev));
        rd_kafka_event_destroy(ev);
        return NULL;
    }
    return ev;
}

/* Grows tasks to the wanted count when it has fewer, and waits for the
 * metadata to list them. Several processes may try at once: the loser's
 * INVALID_PARTITIONS ("already has N") is fine when the count is there. */
/* 1 when every partition of the four topics answers for its offsets
 * (ListOffsets, served by the partition's leader from its log). A
 * partition is in the metadata, with a leader, a moment before the broker
 * has made its log; librdkafka 2.0.2's idempotent producer has been seen
 * to report a task delivered that was never written when it was produced
 * in that moment (a job submitted right after the module started, its
 * topics new). */
static int partitions_serving(rd_kafka_t *rk, const char *const names[4], int timeout_ms)
{
    const struct rd_kafka_metadata *md;
    int ok = 1, i, j, k;

    if (rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR) return 0;
    for (i = 0; ok && i < 4; i++) {
        for (j = 0; j < md->topic_cnt && strcmp(md->topics[j].topic, names[i]); j++) {}
        ok = j < md->topic_cnt && md->topics[j].partition_cnt > 0;
        if (ok) {
            const rd_kafka_metadata_topic_t *t = &md->topics[j];
            for (k = 0; ok && k < t->partition_cnt; k++) {
                int64_t lo, hi;
                ok = rd_kafka_query_watermark_offsets(rk, t->topic, t->partitions[k].id, &lo, &hi, timeout_ms)
                     == RD_KAFKA_RESP_ERR_NO_ERROR;
            }
        }
    }
    rd_kafka_metadata_destroy(md);
    return ok;
}

static int grow_tasks(rd_kafka_t *rk, const tiler_topics *tp, int timeout_ms, int (*stopping)(void),
                      char *err, size_t errlen)
{
    int want = tasks_partitions(tp), have, rc = -1;
    int64_t deadline = now_ms() + timeout_ms;
    char why[256], line[300];
    rd_kafka_NewPartitions_t *np = NULL;
    rd_kafka_AdminOptions_t *opts = NULL;
    rd_kafka_queue_t *q = NULL;
    rd_kafka_event_t *ev = NULL;
    const rd_kafka_topic_result_t **results;
    rd_kafka_resp_err_t e;
    size_t n;

    if ((have = led_partitions(rk, tp->tasks, timeout_ms)) < 0) {
        snprintf(err, errlen, "topic %s: no metadata", tp->tasks);
        return -1;
    }
    if (have >= want) return 0;   /* more than wanted stays: Kafka cannot shrink */
    if (!(np = rd_kafka_NewPartitions_new(tp->tasks, (size_t)want, why, sizeof(why)))) {
        snprintf(err, errlen, "topic %s: %s", tp->tasks, why);
        return -1;
    }
    opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATEPARTITIONS);
    rd_kafka_AdminOptions_set_operation_timeout(opts, timeout_ms, why, sizeof(why));
    rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, why, sizeof(why));
    q = rd_kafka_queue_new(rk);
    rd_kafka_CreatePartitions(rk, &np, 1, opts, q);
    if (!(ev = admin_wait(q, "adding partitions", timeout_ms, stopping, err, errlen))) goto out;
    results = rd_kafka_CreatePartitions_result_topics(rd_kafka_event_CreatePartitions_result(ev), &n);
    if (n != 1) { snprintf(err, errlen, "growing topic %s: no answer for it", tp->tasks); goto out; }
    if ((e = rd_kafka_topic_result_error(results[0]))) {
        if (e != RD_KAFKA_RESP_ERR_INVALID_PARTITIONS) {
            const char *msg = rd_kafka_topic_result_error_string(results[0]);
            snprintf(err, errlen, "growing topic %s to %d partitions: %s", tp->tasks, want, msg ? msg : rd_kafka_err2str(e));
            goto out;
        }
    } else if (tp->note) {
        snprintf(line, sizeof(line), "topic %s grown from %d to %d partitions", tp->tasks, have, want);
        tp->note(tp->note_arg, line);
    }
    while (led_partitions(rk, tp->tasks, stopping ? TILER_STOP_SLICE_MS : timeout_ms) < want) {
        if (stopping && stopping()) { snprintf(err, errlen, "stopping"); goto out; }
        if (now_ms() >= deadline) {
            snprintf(err, errlen, "topic %s has not reached %d partitions in the metadata after %d ms", tp->tasks, want, timeout_ms);
            goto out;
        }
        usleep(100 * 1000);
    }
    rc = 0;
out:
    if (ev) rd_kafka_event_destroy(ev);
    if (q) rd_kafka_queue_destroy(q);
    if (opts) rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_NewPartitions_destroy(np);
    return rc;
}

void tiler_topics_default(tiler_topics *t)
{
    t->tasks = TILER_DEFAULT_TOPIC_TASKS;
    t->results = TILER_DEFAULT_TOPIC_RESULTS;
    t->heartbeats = TILER_DEFAULT_TOPIC_HEARTBEATS;
    t->dead_letters = TILER_DEFAULT_TOPIC_DEAD_LETTERS;
    t->replication = -1;
    t->tasks_partitions = TILER_TASKS_PARTITIONS;
    t->note = log_note;
    t->note_arg = NULL;
}

/* Asks ready(), again every 100 ms (no event says when the broker's
 * metadata or logs change), until it says yes: 0, or -1 with err when
 * stopping or after timeout_ms. */
static int wait_topics(rd_kafka_t *rk, const tiler_topics *tp, int (*ready)(rd_kafka_t *, const char *const[4], int),
                       const char *what, int timeout_ms, int (*stopping)(void), char *err, size_t errlen)
{
    const char *const names[4] = { tp->tasks, tp->results, tp->heartbeats, tp->dead_letters };
    int64_t deadline = now_ms() + timeout_ms;
    while (!ready(rk, names, stopping ? TILER_STOP_SLICE_MS : timeout_ms)) {
        if (stopping && stopping()) { snprintf(err, errlen, "stopping"); return -1; }
        if (now_ms() >= deadline) {
            snprintf(err, errlen, "topics created but not %s after %d ms", what, timeout_ms);
            return -1;
        }
        usleep(100 * 1000);
    }
    return 0;
}

int tiler_kafka_ensure_topics(rd_kafka_t *rk, const tiler_topics *tp, int timeout_ms, char *err, size_t errlen)
{
    return tiler_kafka_ensure_topics_until(rk, tp, timeout_ms, NULL, err, errlen);
}

int tiler_kafka_ensure_topics_until(rd_kafka_t *rk, const tiler_topics *tp, int timeout_ms, int (*stopping)(void),
                                    char *err, size_t errlen)
{
    rd_kafka_NewTopic_t *topics[4] = { 0 };
    rd_kafka_AdminOptions_t *opts = NULL;
    rd_kafka_queue_t *q = NULL;
    rd_kafka_event_t *ev = NULL;
    const rd_kafka_CreateTopics_result_t *res;
    const rd_kafka_topic_result_t **results;
    size_t i, n;
    char why[256];
    int rc = -1;

    if (!(topics[0] = new_topic(tp->tasks, tasks_partitions(tp), tp->replication, TILER_TASKS_RETENTION_MS, err, errlen))
        || !(topics[1] = new_topic(tp->results, TILER_RESULTS_PARTITIONS, tp->replication, TILER_RESULTS_RETENTION_MS, err, errlen))
        || !(topics[2] = new_topic(tp->heartbeats, TILER_HEARTBEATS_PARTITIONS, tp->replication, TILER_HEARTBEATS_RETENTION_MS, err, errlen))
        || !(topics[3] = new_topic(tp->dead_letters, TILER_DEAD_LETTERS_PARTITIONS, tp->replication, TILER_DEAD_LETTERS_RETENTION_MS, err, errlen)))
        goto out;
    opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(opts, timeout_ms, why, sizeof(why));
    rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, why, sizeof(why));
    q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, topics, 4, opts, q);
    if (!(ev = admin_wait(q, "creating topics", timeout_ms, stopping, err, errlen))) goto out;
    res = rd_kafka_event_CreateTopics_result(ev);
    results = rd_kafka_CreateTopics_result_topics(res, &n);
    for (i = 0; i < n; i++) {
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(results[i]);
        if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            snprintf(err, errlen, "creating topic %s: %s", rd_kafka_topic_result_name(results[i]),
                     rd_kafka_topic_result_error_string(results[i]) ? rd_kafka_topic_result_error_string(results[i])
                                                                    : rd_kafka_err2str(e));
            goto out;
        }
    }
    if (wait_topics(rk, tp, topics_visible, "in the broker's metadata", timeout_ms, stopping, err, errlen) == 0
        && grow_tasks(rk, tp, timeout_ms, stopping, err, errlen) == 0
        /* New (or grown) partitions: produce only once each has its log. */
        && wait_topics(rk, tp, partitions_serving, "serving every partition", timeout_ms, stopping, err, errlen) == 0)
        rc = 0;
out:
    if (ev) rd_kafka_event_destroy(ev);
    if (q) rd_kafka_queue_destroy(q);
    if (opts) rd_kafka_AdminOptions_destroy(opts);
    for (i = 0; i < 4; i++) if (topics[i]) rd_kafka_NewTopic_destroy(topics[i]);
    return rc;
}
