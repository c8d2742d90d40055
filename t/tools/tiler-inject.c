/* Test helper for poison input.
 *   tiler-inject BROKERS TOPIC skip GROUP       commit GROUP's offsets at the end of every
 *                                               partition (the group must have no members)
 *   tiler-inject BROKERS TOPIC corrupt JOBID    a message of garbage keyed by the job
 *   tiler-inject BROKERS TOPIC badversion JOBID a task header of version 9
 * Exit 0 on success, 1 with a one-line message otherwise. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <librdkafka/rdkafka.h>
#include "tiler_id.h"
#include "tiler_msg.h"

static int fail(const char *what, const char *why)
{
    fprintf(stderr, "tiler-inject: %s: %s\n", what, why);
    return 1;
}

static int skip(const char *brokers, const char *topic, const char *group)
{
    char err[512];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_t *rk;
    const struct rd_kafka_metadata *md;
    rd_kafka_topic_partition_list_t *l;
    rd_kafka_topic_t *rkt;
    rd_kafka_resp_err_t e;
    int i;
    if (rd_kafka_conf_set(c, "bootstrap.servers", brokers, err, sizeof(err)) || rd_kafka_conf_set(c, "group.id", group, err, sizeof(err)))
        return fail("config", err);
    if (!(rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err)))) return fail("consumer", err);
    rkt = rd_kafka_topic_new(rk, topic, NULL);
    if ((e = rd_kafka_metadata(rk, 0, rkt, &md, 10000)) || md->topics[0].err) return fail("metadata", rd_kafka_err2str(e));
    l = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
    for (i = 0; i < md->topics[0].partition_cnt; i++) {
        int64_t lo, hi;
        int tries = 0;
        /* A partition whose leader is still being elected answers
         * NOT_LEADER for a moment: ask again. */
        while ((e = rd_kafka_query_watermark_offsets(rk, topic, md->topics[0].partitions[i].id, &lo, &hi, 10000))
               == RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION && ++tries < 50)
            usleep(200000);
        if (e) return fail("watermarks", rd_kafka_err2str(e));
        rd_kafka_topic_partition_list_add(l, topic, md->topics[0].partitions[i].id)->offset = hi;
    }
    /* A commit from outside the group is taken only once the group is
     * empty: a worker that was just stopped may still be a member until its
     * leave (or its session timeout, 6 s) is through. Ask again meanwhile. */
    for (i = 0; (e = rd_kafka_commit(rk, l, 0)) && i < 150; i++) {
        if (e != RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID && e != RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS
            && e != RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION && e != RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS
            && e != RD_KAFKA_RESP_ERR_NOT_COORDINATOR)
            break;
        usleep(200000);
    }
    if (e) return fail("commit", rd_kafka_err2str(e));
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    return 0;
}

static int inject(const char *brokers, const char *topic, const char *kind, const char *hex)
{
    char err[512];
    unsigned char id[16], value[200];
    size_t len;
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_t *rk;
    rd_kafka_resp_err_t e;
    if (tiler_id_parse(hex, strlen(hex), id) < 0) return fail("job id", "not 32 hex digits");
    if (!strcmp(kind, "corrupt")) {
        memset(value, 0xA5, sizeof(value));
        memcpy(value, "garbage, not a tile", 19);
        len = sizeof(value);
    } else if (!strcmp(kind, "badversion")) {
        tiler_msg m;
        memset(&m, 0, sizeof(m));
        m.kind = TILER_MSG_TASK;
        memcpy(m.job_id, id, 16);
        m.tiles_total = 1;
        len = tiler_msg_write_header(&m, value);
        value[4] = 9;
    } else {
        return fail("kind", "corrupt or badversion");
    }
    if (rd_kafka_conf_set(c, "bootstrap.servers", brokers, err, sizeof(err))) return fail("config", err);
    if (!(rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err)))) return fail("producer", err);
    if ((e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(id, 16), RD_KAFKA_V_VALUE(value, len),
                               RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)))
        return fail("produce", rd_kafka_err2str(e));
    if (rd_kafka_flush(rk, 10000)) return fail("flush", "not delivered in 10 s");
    rd_kafka_destroy(rk);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: tiler-inject BROKERS TOPIC skip GROUP | corrupt JOBID | badversion JOBID\n");
        return 1;
    }
    if (!strcmp(argv[3], "skip")) return skip(argv[1], argv[2], argv[4]);
    return inject(argv[1], argv[2], argv[3], argv[4]);
}
