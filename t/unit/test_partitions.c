/* The tasks partition count the daemons carry in tiler_topics: the default,
 * --tasks-partitions on the command line and in a config file, and the
 * bounds (a bad value is refused before anything starts). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tap.h"
#include "tiler_defaults.h"
#include "worker_options.h"
#include "monitor_options.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof(a[0])))

int main(void)
{
    worker_options w;
    monitor_options m;
    char path[] = "/tmp/tiler-test-partitions-XXXXXX";
    char *none[] = { "tiler-worker" };
    char *set[] = { "tiler-worker", "--tasks-partitions", "64" };
    char *zero[] = { "tiler-worker", "--tasks-partitions", "0" };
    char *big[] = { "tiler-worker", "--tasks-partitions", "1025" };
    char *top[] = { "tiler-worker", "--tasks-partitions", "1024" };
    char *mon[] = { "tiler-monitor", "--snapshot", "/dev/null", "--tasks-partitions", "16" };
    char *monbad[] = { "tiler-monitor", "--snapshot", "/dev/null", "--tasks-partitions", "16x" };
    char *file[] = { "tiler-worker", "--config", path };
    FILE *f;
    int fd = mkstemp(path);

    ok(worker_options_parse(&w, ARGC(none), none) == 0 && w.topics.tasks_partitions == TILER_TASKS_PARTITIONS,
       "worker: the default is %d", TILER_TASKS_PARTITIONS);
    ok(worker_options_parse(&w, ARGC(set), set) == 0 && w.topics.tasks_partitions == 64, "worker: --tasks-partitions 64");
    ok(worker_options_parse(&w, ARGC(top), top) == 0 && w.topics.tasks_partitions == 1024, "worker: 1024 is the most");
    ok(worker_options_parse(&w, ARGC(zero), zero) < 0, "worker: 0 is refused");
    ok(worker_options_parse(&w, ARGC(big), big) < 0, "worker: 1025 is refused");
    ok(monitor_options_parse(&m, ARGC(mon), mon) == 0 && m.topics.tasks_partitions == 16, "monitor: --tasks-partitions 16");
    ok(monitor_options_parse(&m, ARGC(monbad), monbad) < 0, "monitor: 16x is refused");

    f = fdopen(fd, "w");
    fputs("tasks-partitions = 40\n", f);
    fclose(f);
    ok(worker_options_parse(&w, ARGC(file), file) == 0 && w.topics.tasks_partitions == 40, "worker: tasks-partitions in a config file");
    unlink(path);
    return done_testing();
}
