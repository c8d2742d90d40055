/* When a stalled job's missing tiles are lost rather than late: the pure
 * part of the resend decision (mod_tiler_resend.c asks Kafka and the job
 * store, and acts on the answer). */
#ifndef TILER_LOST_H
#define TILER_LOST_H

#include <stdint.h>
#include "tiler_store.h"

/* A partition's low and high watermarks (the first offset still in the
 * log, and the next one to be written). 0, or -1 when they cannot be had. */
typedef int (*tiler_lost_watermarks)(void *ctx, int32_t partition, int64_t *lo, int64_t *hi);

/* Whether the workers' group is past every task of a job. offsets[i] is
 * the job's last task on a partition, committed[i] the group's committed
 * offset there (the next it will read; < 0 when it never committed).
 * Past a partition is a committed offset beyond the job's last task, or
 * nothing left to read there: a log that ends before the task is the loss
 * this looks for (a task acknowledged and then lost). Watermarks are asked
 * only for partitions where the committed offset is not beyond the task.
 * 1 past all (also with n 0), 0 when work for the job may still be ahead
 * of the workers, -1 when the watermarks cannot be had. */
int tiler_lost_workers_past(const tiler_task_offset *offsets, const int64_t *committed, int n,
                            tiler_lost_watermarks watermarks, void *ctx);

/* A job none of whose tasks Kafka acknowledged (its upload's request died
 * before): 1 when it has waited out the produce timeout and the resend
 * period since it was created, so its tiles count as lost; 0 before.
 * Times in apr_time_t microseconds. */
int tiler_lost_unacked_overdue(int64_t created, int64_t now, int resend_seconds, int produce_timeout_ms);

#endif
