/* The in-order tracker against a plain model: after any completion, the
 * stored offset is one past the longest finished prefix of what was begun. */
#include <stdlib.h>
#include "tap.h"
#include "tiler_inorder.h"

#define N 200

static int random_orders(unsigned seed)
{
    tiler_inorder *t = tiler_inorder_new();
    int64_t offs[N], stored = -1;
    int finished[N] = { 0 }, order[N], i, good = 1;
    int64_t o = 1000;

    srand(seed);
    for (i = 0; i < N; i++) {
        o += 1 + (rand() % 3 == 0);   /* gaps, as after transaction markers */
        offs[i] = o;
        order[i] = i;
        if (tiler_inorder_begin(t, 7, o) < 0) good = 0;
    }
    for (i = N - 1; i > 0; i--) {   /* a shuffle, but mostly local, like a pool */
        int j = i - rand() % (i < 8 ? i + 1 : 8), tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }
    stored = offs[0];
    for (i = 0; i < N; i++) {
        int64_t got = tiler_inorder_done(t, 7, offs[order[i]]), want;
        int k = 0;
        finished[order[i]] = 1;
        while (k < N && finished[k]) k++;
        want = k == N ? offs[N - 1] + 1 : offs[k];
        if (want > stored) { if (got != want) good = 0; stored = want; }
        else if (got != -1) good = 0;
    }
    if (tiler_inorder_pending(t) != 0) good = 0;
    tiler_inorder_free(t);
    return good;
}

int main(void)
{
    tiler_inorder *t = tiler_inorder_new();
    unsigned s;
    int all = 1;

    ok(tiler_inorder_begin(t, 0, 10) == 0 && tiler_inorder_begin(t, 0, 11) == 0 && tiler_inorder_begin(t, 1, 5) == 0,
       "begin three messages in two partitions");
    ok(tiler_inorder_pending(t) == 3, "three pending");
    ok(tiler_inorder_done(t, 0, 11) == -1, "11 finished before 10: nothing to store");
    ok(tiler_inorder_done(t, 1, 5) == 6, "partition 1 stores 6 on its own");
    ok(tiler_inorder_done(t, 0, 10) == 12, "10 finished: store 12, past both");
    ok(tiler_inorder_done(t, 0, 10) == -1, "a second completion of 10 is ignored");
    ok(tiler_inorder_done(t, 3, 1) == -1, "an unknown partition is ignored");
    tiler_inorder_begin(t, 2, 100);
    tiler_inorder_begin(t, 2, 101);
    tiler_inorder_forget(t, 2);
    ok(tiler_inorder_pending(t) == 0, "a revoked partition's messages are forgotten");
    ok(tiler_inorder_done(t, 2, 100) == -1, "and their completions ignored");
    tiler_inorder_begin(t, 2, 50);
    ok(tiler_inorder_done(t, 2, 50) == 51, "a partition that comes back starts afresh (it may go back)");
    tiler_inorder_free(t);

    for (s = 1; s <= 200; s++) all &= random_orders(s);
    ok(all, "200 random completion orders agree with the model");
    return done_testing();
}
