/* The resend decision's pure part: when the workers' committed offsets
 * say a stalled job's missing tiles were lost, not late, and when a job
 * none of whose tasks was acknowledged has waited long enough. */
#include <string.h>
#include "tap.h"
#include "tiler_lost.h"

/* Watermarks per partition, and which partitions were asked. */
typedef struct {
    int64_t lo[4], hi[4];
    int fail;            /* partition whose watermarks cannot be had; -1 none */
    int asked[4];
} kafka;

static int watermarks(void *ctx, int32_t partition, int64_t *lo, int64_t *hi)
{
    kafka *k = ctx;
    k->asked[partition]++;
    if (partition == k->fail) return -1;
    *lo = k->lo[partition];
    *hi = k->hi[partition];
    return 0;
}

static kafka log_of(int64_t lo, int64_t hi)
{
    kafka k;
    int i;
    memset(&k, 0, sizeof(k));
    for (i = 0; i < 4; i++) { k.lo[i] = lo; k.hi[i] = hi; }
    k.fail = -1;
    return k;
}

int main(void)
{
    /* The job's tasks: last at 100 on partition 0, 50 on 1, 7 on 2. */
    const tiler_task_offset o[3] = { { 0, 100 }, { 1, 50 }, { 2, 7 } };
    kafka k;

    k = log_of(0, 1000);
    ok(tiler_lost_workers_past(o, (const int64_t[]){ 101, 51, 8 }, 3, watermarks, &k) == 1
       && k.asked[0] + k.asked[1] + k.asked[2] == 0, "committed beyond every last task: past, Kafka not asked");
    k = log_of(0, 1000);
    ok(tiler_lost_workers_past(o, (const int64_t[]){ 101, 50, 8 }, 3, watermarks, &k) == 0 && k.asked[1] == 1
       && k.asked[2] == 0, "committed at a last task, more in the log: not past (work ahead), no more asked");
    k = log_of(0, 1000);
    k.hi[1] = 50;
    ok(tiler_lost_workers_past(o, (const int64_t[]){ 101, 50, 8 }, 3, watermarks, &k) == 1,
       "committed at a last task, the log ends there (the task was lost): past");
    k = log_of(0, 40);
    ok(tiler_lost_workers_past(o, (const int64_t[]){ 101, 40, 8 }, 3, watermarks, &k) == 1,
       "committed short of the last task at the log's end (acknowledged, never written): past");
    k = log_of(0, 1000);
    ok(tiler_lost_workers_past(o, (const int64_t[]){ 101, 51, 3 }, 3, watermarks, &k) == 0,
       "one partition behind a backlog: not past");
    k = log_of(5, 5);
    ok(tiler_lost_workers_past(o, (const int64_t[]){ 101, -1, 8 }, 3, watermarks, &k) == 1,
       "nothing committed on a partition whose log is empty: past");
    k = log_of(0, 5);
    ok(tiler_lost_workers_past(o, (const int64_t[]){ 101, -1, 8 }, 3, watermarks, &k) == 0,
       "nothing committed, messages in the log: not past");
    k = log_of(0, 1000);
    k.fail = 1;
    ok(tiler_lost_workers_past(o, (const int64_t[]){ 101, 50, 8 }, 3, watermarks, &k) == -1,
       "watermarks that cannot be had: -1 (Kafka cannot tell)");
    k = log_of(0, 1000);
    k.fail = 1;
    ok(tiler_lost_workers_past(o, (const int64_t[]){ 101, 51, 8 }, 3, watermarks, &k) == 1,
       "a partition past needs no watermarks, so their failure does not matter");
    k = log_of(0, 1000);
    ok(tiler_lost_workers_past(o, (const int64_t[]){ 0 }, 0, watermarks, &k) == 1, "no tasks recorded: nothing ahead");

    /* TilerResendSeconds 30, TilerProduceTimeout 10000 ms: 40 s. */
    ok(!tiler_lost_unacked_overdue(1000000, 1000000 + 39999999, 30, 10000), "no task acknowledged, 39.99 s: wait");
    ok(tiler_lost_unacked_overdue(1000000, 1000000 + 40000000, 30, 10000), "no task acknowledged, 40 s: lost");
    ok(!tiler_lost_unacked_overdue(1000000, 1000000 - 5, 30, 0), "a clock that went back: wait");
    return done_testing();
}
