/* The tasks topic as the worker group sees it: per partition the committed
 * offset, the high watermark, the lag between them, and the worker that
 * owns the partition now. */
#ifndef MONITOR_CLUSTER_H
#define MONITOR_CLUSTER_H

#include <stdint.h>
#include <librdkafka/rdkafka.h>
#include <yajl/yajl_gen.h>

#define MONITOR_MAX_PARTITIONS 1024

typedef struct {
    int32_t partition;
    int64_t committed, high, lag;
    char owner[128];   /* client.id of the member, the worker id; "" when unowned */
} monitor_partition;

typedef struct {
    monitor_partition parts[MONITOR_MAX_PARTITIONS];
    int count;
    int64_t backlog;
    int known;          /* the last poll succeeded */
    char error[256];
} monitor_cluster;

/* group_rk is a consumer handle whose group.id is the workers' group; it
 * never subscribes, it only asks. 0, or -1 with c->error. */
int monitor_cluster_poll(rd_kafka_t *group_rk, const char *topic, const char *group, monitor_cluster *c);
void monitor_cluster_json(yajl_gen g, const monitor_cluster *c);

#endif
