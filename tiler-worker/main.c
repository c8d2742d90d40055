/* tiler-worker: processes tiles from Kafka, or one image locally (--local). */
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "tiler_daemon.h"
#include "tiler_image.h"
#include "tiler_log.h"
#include "tiler_malloc.h"
#include "worker_local.h"
#include "worker_loop.h"
#include "worker_options.h"

static void on_signal(int sig)
{
    (void)sig;
    worker_loop_stop();
}

/* The child the supervisor runs: the worker proper. It makes the Kafka
 * clients, long after the daemon detached. */
static int run_child(const worker_options *o, worker_shared *sh)
{
    struct sigaction sa;
    /* Die with the supervisor: a killed worker must not leave a headless child. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1) return WORKER_EXIT_RUNTIME;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    return worker_loop_run(o, sh);
}

int main(int argc, char **argv)
{
    static worker_options o;   /* static: lives (and stays reachable) as long as the process */
    int rc = worker_options_parse(&o, argc, argv);
    if (rc) return rc > 0 ? WORKER_EXIT_OK : WORKER_EXIT_USAGE;

    tiler_log_init("tiler-worker", o.d.log_level);
    tiler_malloc_setup();
    tiler_gd_errors_capture();
    if (o.local_in) return worker_local_run(&o);

    if (tiler_daemon_start(&o.d, worker_supervise_stop) < 0) return WORKER_EXIT_USAGE;
    worker_options_default_id(&o);
    rc = worker_supervise(&o, run_child);
    tiler_daemon_finish(&o.d);
    return rc;
}
