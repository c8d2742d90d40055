/* The daemons' start-up and shutdown: detach, pid file, --user, signals. */
#include "tiler_daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "tiler_log.h"
#include "tiler_privs.h"

/* Process-wide, like the signals they serve. */
static volatile sig_atomic_t stop_signal;
static void (*stop_hook)(int);
static int wake[2] = { -1, -1 };   /* self-pipe: readable once a stop signal came */
static int ready_fd = -1;           /* to the launching process, until ready */
static int pid_fd = -1;             /* the pid file, kept open to empty it at exit */
static pid_t pid_owner;

static void on_signal(int sig)
{
    int saved = errno;
    stop_signal = sig;
    if (wake[1] >= 0 && write(wake[1], "x", 1) < 0) { }   /* full: already readable */
    if (stop_hook) stop_hook(sig);
    errno = saved;
}

/* The launching process: waits for "ready" or for the daemon's end, and
 * exits with what it learns. */
static _Noreturn void wait_for_daemon(pid_t pid, int fd)
{
    char c;
    ssize_t n;
    int status;
    while ((n = read(fd, &c, 1)) < 0 && errno == EINTR) { }
    if (n == 1) _exit(TILER_EXIT_OK);
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) _exit(TILER_EXIT_RUNTIME);
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : TILER_EXIT_RUNTIME);
}

static int detach(void)
{
    int p[2], devnull;
    pid_t pid;
    if (pipe2(p, O_CLOEXEC) < 0 || (pid = fork()) < 0) {
        tiler_log(TILER_LOG_ERROR, "cannot detach: %s", strerror(errno));
        return -1;
    }
    if (pid > 0) {
        close(p[1]);
        wait_for_daemon(pid, p[0]);
    }
    close(p[0]);
    ready_fd = p[1];
    if (setsid() < 0) tiler_log(TILER_LOG_WARN, "setsid: %s", strerror(errno));
    /* stdout and stderr stay: the log goes where the caller sent it. */
    if ((devnull = open("/dev/null", O_RDONLY)) >= 0) {
        dup2(devnull, STDIN_FILENO);
        if (devnull != STDIN_FILENO) close(devnull);
    }
    return 0;
}

/* The pid file at path is still the file we hold open (not removed and
 * made again by someone else). */
static int same_file(int fd, const char *path)
{
    struct stat a, b;
    return fstat(fd, &a) == 0 && lstat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* As the user that started the daemon: a pid file in /run needs root. The
 * file stays open and locked (flock) for the daemon's life: a second
 * instance with the same pid file finds the lock taken and refuses to
 * start, instead of overwriting the first one's pid. */
static int write_pidfile(const char *path)
{
    char line[32], other[32] = "";
    int len = snprintf(line, sizeof(line), "%d\n", (int)getpid()), fd = -1, tries;
    ssize_t written = -1;
    struct stat st;
    /* A symlink or FIFO planted in the pid file's place is not followed or
     * waited on; a regular file only. */
    for (tries = 0; tries < 5; tries++) {
        if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644)) < 0) break;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
            tiler_log(TILER_LOG_ERROR, "cannot write pid file %s: not a regular file", path);
            close(fd);
            return -1;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
            int e = errno;
            ssize_t n = e == EWOULDBLOCK ? pread(fd, other, sizeof(other) - 1, 0) : -1;
            other[n > 0 ? n : 0] = '\0';
            other[strcspn(other, "\n")] = '\0';
            if (e == EWOULDBLOCK)
                tiler_log(TILER_LOG_ERROR, "pid file %s is held by another running instance (pid %s)", path,
                          *other ? other : "unknown");
            else
                tiler_log(TILER_LOG_ERROR, "cannot lock pid file %s: %s", path, strerror(e));
            close(fd);
            return -1;
        }
        /* Its holder may have removed it between our open and our lock. */
        if (same_file(fd, path)) break;
        close(fd);
        fd = -1;
        errno = EAGAIN;
    }
    if (fd < 0 || ftruncate(fd, 0) < 0 || (written = pwrite(fd, line, (size_t)len, 0)) != len) {
        tiler_log(TILER_LOG_ERROR, "cannot write pid file %s: %s", path, written >= 0 ? "short write" : strerror(errno));
        /* Ours now (we hold the lock): empty, so it names nobody; not
         * removed, as it may be a file we did not create. */
        if (fd >= 0) { if (ftruncate(fd, 0) < 0) { } close(fd); }
        return -1;
    }
    pid_fd = fd;
    pid_owner = getpid();
    return 0;
}

int tiler_daemon_start(const tiler_daemon *d, void (*on_stop)(int sig))
{
    struct sigaction sa;
    char err[300];

    if (!d->foreground && detach() < 0) return -1;
    if (d->pidfile && write_pidfile(d->pidfile) < 0) return -1;
    if (d->user) {
        if (tiler_drop_privileges(d->user, err, sizeof(err)) < 0) {
            tiler_log(TILER_LOG_ERROR, "%s", err);
            return -1;
        }
        tiler_log(TILER_LOG_INFO, "running as user %s", d->user);
    }
    if (pipe2(wake, O_CLOEXEC | O_NONBLOCK) < 0) {
        tiler_log(TILER_LOG_ERROR, "cannot make a pipe: %s", strerror(errno));
        return -1;
    }
    stop_hook = on_stop;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

void tiler_daemon_ready(void)
{
    if (ready_fd < 0) return;
    if (write(ready_fd, "r", 1) < 0) { }   /* the launcher is gone: nothing to tell */
    close(ready_fd);
    ready_fd = -1;
}

int tiler_daemon_stopping(void)
{
    return stop_signal;
}

int tiler_daemon_sleep(int ms)
{
    struct pollfd p = { .fd = wake[0], .events = POLLIN };
    if (stop_signal) return 1;
    if (wake[0] < 0) { usleep((useconds_t)ms * 1000); return stop_signal != 0; }
    while (poll(&p, 1, ms) < 0 && errno == EINTR && !stop_signal) { }
    return stop_signal != 0;
}

void tiler_daemon_finish(const tiler_daemon *d)
{
    if (!d->pidfile || pid_fd < 0 || getpid() != pid_owner) return;
    /* Emptied first: our own file, whoever's the path names now. After
     * --user the directory may not let us look at or remove it: then at
     * least it names no process. */
    if (ftruncate(pid_fd, 0) < 0)
        tiler_log(TILER_LOG_WARN, "cannot empty pid file %s: %s", d->pidfile, strerror(errno));
    /* Removed only while the path still is the file we locked: one made
     * since by someone else is not ours to remove. */
    if (same_file(pid_fd, d->pidfile) && unlink(d->pidfile) < 0 && errno != EACCES && errno != EPERM)
        tiler_log(TILER_LOG_WARN, "cannot remove pid file %s: %s", d->pidfile, strerror(errno));
    close(pid_fd);   /* and the lock with it */
    pid_fd = -1;
}
