#include "worker_supervisor.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include "tiler_daemon.h"
#include "tiler_log.h"

static volatile pid_t child;

void worker_supervise_stop(int sig)
{
    if (child > 0) kill(child, sig);
}

static worker_crash *find(worker_crash *table, int n, const char *topic, int32_t partition, int64_t offset)
{
    int i;
    for (i = 0; i < n; i++)
        if (table[i].partition == partition && table[i].offset == offset && !strcmp(table[i].topic, topic))
            return &table[i];
    return NULL;
}

int worker_crash_count(const worker_shared *sh, const char *topic, int32_t partition, int64_t offset)
{
    worker_crash *c = find((worker_crash *)sh->crashes, sh->ncrashes, topic, partition, offset);
    return c ? c->count : 0;
}

int worker_is_suspect(const worker_shared *sh, const char *topic, int32_t partition, int64_t offset)
{
    return find((worker_crash *)sh->suspects, sh->nsuspects, topic, partition, offset) != NULL;
}

void worker_slot_take(worker_shared *sh, int slot, const char *topic, int32_t partition, int64_t offset)
{
    worker_slot *s = &sh->slots[slot];
    snprintf(s->topic, sizeof(s->topic), "%s", topic);
    s->partition = partition;
    s->offset = offset;
    __atomic_store_n(&s->busy, 1, __ATOMIC_RELEASE);
}

void worker_slot_free(worker_shared *sh, int slot)
{
    __atomic_store_n(&sh->slots[slot].busy, 0, __ATOMIC_RELEASE);
}

/* Adds the slot's message to table (count 0) unless there; a full table
 * forgets its oldest entry. */
static worker_crash *remember(worker_crash *table, int *n, const worker_slot *s)
{
    worker_crash *c = find(table, *n, s->topic, s->partition, s->offset);
    if (c) return c;
    if (*n == WORKER_CRASH_SLOTS) {
        memmove(table, table + 1, sizeof(table[0]) * (WORKER_CRASH_SLOTS - 1));
        (*n)--;
    }
    c = &table[(*n)++];
    memcpy(c->topic, s->topic, sizeof(c->topic));
    c->partition = s->partition;
    c->offset = s->offset;
    c->count = 0;
    return c;
}

/* Blames the crash on the one message in hand, or makes suspects of
 * several. */
static void account_crash(const worker_options *o, worker_shared *sh, int sig)
{
    int i, busy = 0, last = -1;
    for (i = 0; i < WORKER_MAX_THREADS; i++)
        if (sh->slots[i].busy) { busy++; last = i; }
    if (busy == 1) {
        worker_slot *s = &sh->slots[last];
        int n = ++remember(sh->crashes, &sh->ncrashes, s)->count;
        tiler_log(TILER_LOG_ERROR, "worker process died of signal %d on %s[%d]@%lld (crash %d of %d allowed); restarting",
                  sig, s->topic, s->partition, (long long)s->offset, n, o->max_crashes);
    } else if (busy > 1) {
        for (i = 0; i < WORKER_MAX_THREADS; i++)
            if (sh->slots[i].busy) remember(sh->suspects, &sh->nsuspects, &sh->slots[i]);
        tiler_log(TILER_LOG_ERROR, "worker process died of signal %d with %d tasks in hand; restarting, and running each of them alone",
                  sig, busy);
    } else {
        tiler_log(TILER_LOG_ERROR, "worker process died of signal %d between tasks; restarting", sig);
    }
}

int worker_supervise(const worker_options *o, int (*run)(const worker_options *, worker_shared *))
{
    worker_shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int restarts = 0;

    if (sh == MAP_FAILED) {
        tiler_log(TILER_LOG_ERROR, "cannot map shared memory: %s", strerror(errno));
        return WORKER_EXIT_RUNTIME;
    }
    memset(sh, 0, sizeof(*sh));

    for (;;) {
        int status, i;
        pid_t pid;
        for (i = 0; i < WORKER_MAX_THREADS; i++) sh->slots[i].busy = 0;
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
        if (tiler_daemon_stopping()) kill(pid, tiler_daemon_stopping());   /* a stop that came during fork */
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) { }
        child = 0;
        if (WIFEXITED(status) && WEXITSTATUS(status) == WORKER_EXIT_RESTART && !tiler_daemon_stopping()) {
            tiler_log(TILER_LOG_INFO, "worker process asked for a restart; restarting");
            continue;
        }
        if (WIFEXITED(status)) return WEXITSTATUS(status) == WORKER_EXIT_RESTART ? WORKER_EXIT_OK : WEXITSTATUS(status);
        if (tiler_daemon_stopping()) return WORKER_EXIT_OK;
        account_crash(o, sh, WTERMSIG(status));
        /* Back off a little more each time, so a broken host does not spin. */
        if (tiler_daemon_sleep(restarts < 5 ? 1000 : 5000)) return WORKER_EXIT_OK;
        restarts++;
    }
}
