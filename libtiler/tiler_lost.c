#include "tiler_lost.h"

int tiler_lost_workers_past(const tiler_task_offset *offsets, const int64_t *committed, int n,
                            tiler_lost_watermarks watermarks, void *ctx)
{
    int i;
    for (i = 0; i < n; i++) {
        int64_t lo, hi;
        if (committed[i] > offsets[i].last) continue;
        /* The task's offset was acknowledged but the log may end before it
         * (the loss this guards against): what matters is what is left. */
        if (watermarks(ctx, offsets[i].partition, &lo, &hi) < 0) return -1;
        if (committed[i] < 0 ? lo < hi : committed[i] < hi) return 0;
    }
    return 1;
}

int tiler_lost_unacked_overdue(int64_t created, int64_t now, int resend_seconds, int produce_timeout_ms)
{
    return now - created >= (int64_t)resend_seconds * 1000000 + (int64_t)produce_timeout_ms * 1000;
}
