#include "worker_supervisor.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include "tiler_log.h"

static volatile sig_atomic_t stop_signal;
static volatile pid_t child;

static void forward(int sig)
{
    stop_signal = sig;
    if (child > 0) kill(child, sig);
}

int worker_crash_count(const worker_shared *sh, const char *topic, int32_t partition, int64_t offset)
{
    int i;
    for (i = 0; i < sh->ncrashes; i++)
        if (sh->crashes[i].partition == partition && sh->crashes[i].offset == offset && !strcmp(sh->crashes[i].topic, topic))
            return sh->crashes[i].count;
    return 0;
}

static int record_crash(worker_shared *sh)
{
    int i;
    for (i = 0; i < sh->ncrashes; i++)
        if (sh->crashes[i].partition == sh->partition && sh->crashes[i].offset == sh->offset
            && !strcmp(sh->crashes[i].topic, sh->topic))
            return ++sh->crashes[i].count;
    /* A full table forgets the oldest entry. */
    if (sh->ncrashes == WORKER_CRASH_SLOTS) {
        memmove(sh->crashes, sh->crashes + 1, sizeof(sh->crashes[0]) * (WORKER_CRASH_SLOTS - 1));
        sh->ncrashes--;
    }
    i = sh->ncrashes++;
    memcpy(sh->crashes[i].topic, sh->topic, sizeof(sh->topic));
    sh->crashes[i].partition = sh->partition;
    sh->crashes[i].offset = sh->offset;
    return sh->crashes[i].count = 1;
}

int worker_supervise(const worker_options *o, int (*run)(const worker_options *, worker_shared *))
{
    struct sigaction sa;
    worker_shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int restarts = 0;

    if (sh == MAP_FAILED) {
        tiler_log(TILER_LOG_ERROR, "cannot map shared memory: %s", strerror(errno));
        return WORKER_EXIT_RUNTIME;
    }
    memset(sh, 0, sizeof(*sh));
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = forward;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    for (;;) {
        int status;
        pid_t pid;
        sh->busy = 0;
        if ((pid = fork()) < 0) {
            tiler_log(TILER_LOG_ERROR, "cannot fork the worker: %s", strerror(errno));
            return WORKER_EXIT_RUNTIME;
        }
        if (pid == 0) {
            signal(SIGTERM, SIG_DFL);
            signal(SIGINT, SIG_DFL);
            _exit(run(o, sh));
        }
        child = pid;
        if (stop_signal) kill(pid, stop_signal);   /* a stop that came during fork */
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) { }
        child = 0;
        if (WIFEXITED(status)) return WEXITSTATUS(status);
        if (stop_signal) return WORKER_EXIT_OK;
        if (sh->busy) {
            int n = record_crash(sh);
            tiler_log(TILER_LOG_ERROR, "worker process died of signal %d on %s[%d]@%lld (crash %d of %d allowed); restarting",
                      WTERMSIG(status), sh->topic, sh->partition, (long long)sh->offset, n, o->max_crashes);
        } else {
            tiler_log(TILER_LOG_ERROR, "worker process died of signal %d between tasks; restarting", WTERMSIG(status));
        }
        /* Back off a little more each time, so a broken host does not spin. */
        sleep(restarts < 5 ? 1 : 5);
        restarts++;
    }
}
