#include "monitor_cluster.h"

#include <stdio.h>
#include <string.h>
#include "tiler_json.h"

#define TIMEOUT_MS 3000

static int fail(monitor_cluster *c, const char *what, const char *why)
{
    c->known = 0;
    snprintf(c->error, sizeof(c->error), "%s: %s", what, why);
    return -1;
}

/* Who owns each partition: DescribeConsumerGroups on the workers' group. */
static void owners(rd_kafka_t *rk, const char *topic, const char *group, monitor_cluster *c)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
    const char *groups[1] = { group };
    rd_kafka_event_t *ev;
    char why[128];
    rd_kafka_AdminOptions_set_request_timeout(opts, TIMEOUT_MS, why, sizeof(why));
    rd_kafka_DescribeConsumerGroups(rk, groups, 1, opts, q);
    if ((ev = rd_kafka_queue_poll(q, TIMEOUT_MS + 1000)) && !rd_kafka_event_error(ev)) {
        const rd_kafka_DescribeConsumerGroups_result_t *res = rd_kafka_event_DescribeConsumerGroups_result(ev);
        size_t ngroups, m, i;
        const rd_kafka_ConsumerGroupDescription_t **descs = rd_kafka_DescribeConsumerGroups_result_groups(res, &ngroups);
        if (ngroups == 1 && !rd_kafka_ConsumerGroupDescription_error(descs[0])) {
            for (m = 0; m < rd_kafka_ConsumerGroupDescription_member_count(descs[0]); m++) {
                const rd_kafka_MemberDescription_t *md = rd_kafka_ConsumerGroupDescription_member(descs[0], m);
                const rd_kafka_topic_partition_list_t *parts =
                    rd_kafka_MemberAssignment_partitions(rd_kafka_MemberDescription_assignment(md));
                for (i = 0; parts && i < (size_t)parts->cnt; i++) {
                    int k;
                    if (strcmp(parts->elems[i].topic, topic)) continue;
                    for (k = 0; k < c->count; k++)
                        if (c->parts[k].partition == parts->elems[i].partition)
                            snprintf(c->parts[k].owner, sizeof(c->parts[k].owner), "%s",
                                     rd_kafka_MemberDescription_client_id(md));
                }
            }
        }
    }
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_queue_destroy(q);
}

int monitor_cluster_poll(rd_kafka_t *rk, const char *topic, const char *group, monitor_cluster *c)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_topic_partition_list_t *list;
    rd_kafka_resp_err_t e;
    int i, n;

    e = rd_kafka_metadata(rk, 0, rkt, &md, TIMEOUT_MS);
    rd_kafka_topic_destroy(rkt);
    if (e) return fail(c, "metadata", rd_kafka_err2str(e));
    if (md->topic_cnt != 1 || md->topics[0].err) {
        rd_kafka_metadata_destroy(md);
        return fail(c, "metadata", "the tasks topic is unknown");
    }
    n = md->topics[0].partition_cnt < MONITOR_MAX_PARTITIONS ? md->topics[0].partition_cnt : MONITOR_MAX_PARTITIONS;
    list = rd_kafka_topic_partition_list_new(n);
    for (i = 0; i < n; i++) rd_kafka_topic_partition_list_add(list, topic, md->topics[0].partitions[i].id);
    rd_kafka_metadata_destroy(md);
    if ((e = rd_kafka_committed(rk, list, TIMEOUT_MS))) {
        rd_kafka_topic_partition_list_destroy(list);
        return fail(c, "committed offsets", rd_kafka_err2str(e));
    }
    c->count = 0;
    c->backlog = 0;
    for (i = 0; i < list->cnt; i++) {
        monitor_partition *p = &c->parts[c->count];
        int64_t lo = 0, hi = 0;
        if ((e = rd_kafka_query_watermark_offsets(rk, topic, list->elems[i].partition, &lo, &hi, TIMEOUT_MS))) {
            rd_kafka_topic_partition_list_destroy(list);
            return fail(c, "watermarks", rd_kafka_err2str(e));
        }
        p->partition = list->elems[i].partition;
        p->high = hi;
        /* Nothing committed yet: everything still in the log is backlog. */
        p->committed = list->elems[i].offset >= 0 ? list->elems[i].offset : -1;
        p->lag = hi - (p->committed >= 0 ? p->committed : lo);
        if (p->lag < 0) p->lag = 0;
        p->owner[0] = '\0';
        c->backlog += p->lag;
        c->count++;
    }
    rd_kafka_topic_partition_list_destroy(list);
    owners(rk, topic, group, c);
    c->known = 1;
    c->error[0] = '\0';
    return 0;
}

void monitor_cluster_json(yajl_gen g, const monitor_cluster *c)
{
    int i;
    yajl_gen_map_open(g);
    tiler_json_str(g, "backlog");
    if (c->known) yajl_gen_integer(g, c->backlog); else yajl_gen_null(g);
    if (!c->known) tiler_json_kv_str(g, "error", c->error[0] ? c->error : "not measured yet");
    tiler_json_str(g, "partitions");
    yajl_gen_array_open(g);
    for (i = 0; c->known && i < c->count; i++) {
        const monitor_partition *p = &c->parts[i];
        yajl_gen_map_open(g);
        tiler_json_kv_int(g, "partition", p->partition);
        tiler_json_str(g, "committed");
        if (p->committed >= 0) yajl_gen_integer(g, p->committed); else yajl_gen_null(g);
        tiler_json_kv_int(g, "high_watermark", p->high);
        tiler_json_kv_int(g, "lag", p->lag);
        tiler_json_kv_str(g, "owner", p->owner[0] ? p->owner : NULL);
        yajl_gen_map_close(g);
    }
    yajl_gen_array_close(g);
    yajl_gen_map_close(g);
}
