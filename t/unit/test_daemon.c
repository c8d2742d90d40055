/* The daemons' common framework (libtiler/tiler_daemon.h): every form of
 * option, the config file and its precedence, errors as one line, and
 * start-up: detaching, the pid file, the launcher's exit status, stopping. */
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <time.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "tap.h"
#include "tiler_daemon.h"
#include "tiler_log.h"
#include "tiler_privs.h"

/* A daemon with options of each kind. */
typedef struct {
    const char *name, *pair[2];
    int flag, sets;
} own;

static const tiler_option table[] = {
    { "name", 'n', 1, 0 },
    { "pair", 0, 2, TILER_OPT_CMDLINE },
    { "loud", 'l', 0, 0 },
    { "only-cmdline", 0, 1, TILER_OPT_CMDLINE },
    { NULL, 0, 0, 0 }
};

static int set(void *ctx, const char *key, const char *const *v, char *err, size_t errlen)
{
    own *o = ctx;
    o->sets++;
    if (!strcmp(key, "name")) {
        if (!strcmp(v[0], "bad")) { snprintf(err, errlen, "name '%s' is bad", v[0]); return -1; }
        o->name = v[0];   /* it lives as long as the process */
    } else if (!strcmp(key, "pair")) { o->pair[0] = v[0]; o->pair[1] = v[1]; }
    else if (!strcmp(key, "loud")) o->flag = 1;
    return 0;
}

/* Each parse gets its own pair, kept to the end: what the parser
 * allocates stays reachable (LeakSanitizer runs these tests). */
static tiler_daemon ds[128], *d = ds;
static own mines[128], *mine = mines;
static int slot;
static char errfile[] = "/tmp/tiler-test-daemon-err-XXXXXX", conf[] = "/tmp/tiler-test-daemon-conf-XXXXXX";
static char stderr_text[4096];

/* Parses the NULL-ended arguments after "prog", stderr into stderr_text. */
static int parse(const char *first, ...)
{
    char *argv[32];
    int argc = 0, rc, saved = dup(2), fd = open(errfile, O_WRONLY | O_TRUNC);
    va_list ap;
    const char *a = first;
    ssize_t n;
    argv[argc++] = "prog";
    va_start(ap, first);
    while (a && argc < 31) { argv[argc++] = (char *)a; a = va_arg(ap, const char *); }
    va_end(ap);
    argv[argc] = NULL;
    if (slot < 127) slot++;
    d = &ds[slot];
    mine = &mines[slot];
    d->prog = "prog";
    d->usage = "usage: prog\n";
    d->version_note = "note";
    d->options = table;
    d->set = set;
    d->ctx = mine;
    fflush(stderr);
    dup2(fd, 2);
    rc = tiler_daemon_parse(d, argc, argv);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(fd);
    fd = open(errfile, O_RDONLY);
    n = read(fd, stderr_text, sizeof(stderr_text) - 1);
    stderr_text[n > 0 ? n : 0] = '\0';
    close(fd);
    return rc;
}

static void put_conf(const char *text)
{
    FILE *f = fopen(conf, "w");
    fputs(text, f);
    fclose(f);
    chmod(conf, 0600);
}

static int lines(const char *s)
{
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* An error: -1 and exactly one line naming what is wrong. */
static void refused(int rc, const char *want, const char *what)
{
    ok(rc == -1 && lines(stderr_text) == 1 && strstr(stderr_text, want) && !strncmp(stderr_text, "prog: ", 6),
       "%s: one line naming it: %.*s", what, (int)strcspn(stderr_text, "\n"), stderr_text);
}

static void test_forms(void)
{
    ok(parse("--name", "a", NULL) == 0 && mine->name && !strcmp(mine->name, "a"), "--opt VALUE");
    ok(parse("--name=b", NULL) == 0 && mine->name && !strcmp(mine->name, "b"), "--opt=VALUE");
    ok(parse("-n", "c", NULL) == 0 && mine->name && !strcmp(mine->name, "c"), "-o VALUE");
    ok(parse("-nd", NULL) == 0 && mine->name && !strcmp(mine->name, "d"), "-oVALUE");
    ok(parse("--name=", NULL) == -1, "--opt= (empty) is refused");
    ok(parse("--name", "x=y", NULL) == 0 && !strcmp(mine->name, "x=y"), "a value may hold '='");
    ok(parse("--name", "-dash", NULL) == 0 && !strcmp(mine->name, "-dash"), "a separate value may start with '-'");
    ok(parse("--loud", "-l", NULL) == 0 && mine->flag == 1, "flags, long and short");
    ok(parse("--pair", "in", "out", NULL) == 0 && !strcmp(mine->pair[0], "in") && !strcmp(mine->pair[1], "out"),
       "a two-value option");
    ok(parse("--pair=in", "out", NULL) == 0 && !strcmp(mine->pair[0], "in") && !strcmp(mine->pair[1], "out"),
       "a two-value option, first value attached");
    ok(parse("-b", "h:1", "-X", "a.b=c=d", "--foreground", "--pidfile", "/p", "--user=u", "--log-level", "debug", NULL) == 0
       && !strcmp(d->brokers, "h:1") && d->nprops == 1 && !strcmp(d->props[0].key, "a.b") && !strcmp(d->props[0].value, "c=d")
       && d->foreground && !strcmp(d->pidfile, "/p") && !strcmp(d->user, "u") && d->log_level == TILER_LOG_DEBUG,
       "the common options");
    ok(parse(NULL) == 0 && d->brokers && !d->foreground && !d->pidfile && !d->user && d->log_level == TILER_LOG_INFO,
       "defaults");
}

static void test_errors(void)
{
    refused(parse("--bogus", NULL), "unknown option '--bogus'", "unknown long option");
    refused(parse("--bogus=1", NULL), "unknown option '--bogus'", "unknown long option with a value");
    refused(parse("-q", NULL), "unknown option '-q'", "unknown short option");
    refused(parse("-lx", NULL), "unknown option '-lx'", "no bundling of short flags");
    refused(parse("--name", NULL), "--name wants a value", "missing value");
    refused(parse("--pair", "in", NULL), "--pair wants two values", "missing second value");
    refused(parse("--loud=1", NULL), "--loud takes no value", "a flag given a value");
    refused(parse("stray", NULL), "unexpected argument 'stray'", "positional argument");
    refused(parse("--name", "bad", NULL), "name 'bad' is bad", "the daemon's own check");
    refused(parse("--log-level", "loud", NULL), "log-level 'loud'", "bad log level");
    refused(parse("-X", "novalue", NULL), "PROP=VALUE", "--kafka without '='");
    refused(parse("-X", "=v", NULL), "PROP=VALUE", "--kafka without a name");
    refused(parse("--name", "", NULL), "name is empty", "an empty value");
    /* An error before the config file is read: the file is never opened. */
    refused(parse("--bogus", "-c", "/nonexistent/file", NULL), "unknown option", "flags are checked before the file");
}

static void test_config(void)
{
    put_conf("# a comment\nname = from-file\nbrokers = f:1\nkafka.sasl.username = u\nloud = yes\n");
    refused(parse("-c", conf, NULL), "unknown setting 'loud'", "a flag is no config-file key");
    put_conf("# a comment\nname = from-file\nbrokers = f:1\nkafka.sasl.username = u\n");
    ok(parse("--config", conf, NULL) == 0 && !strcmp(mine->name, "from-file") && !strcmp(d->brokers, "f:1")
       && d->nprops == 1 && !strcmp(d->props[0].key, "sasl.username"), "--config FILE");
    ok(parse("--config=/nonexistent", NULL) == -1, "--config=FILE is read (a missing one is an error)");
    {
        char opt[128];
        snprintf(opt, sizeof(opt), "--config=%s", conf);
        ok(parse(opt, NULL) == 0 && !strcmp(mine->name, "from-file"), "--config=FILE");
        snprintf(opt, sizeof(opt), "-c%s", conf);
        ok(parse(opt, NULL) == 0 && !strcmp(mine->name, "from-file"), "-cFILE");
    }
    ok(parse("--name", "flag", "-c", conf, NULL) == 0 && !strcmp(mine->name, "flag"), "a flag before --config wins over the file");
    ok(parse("-c", conf, "--name", "flag", NULL) == 0 && !strcmp(mine->name, "flag"), "a flag after --config wins over the file");
    ok(parse("-c", conf, "-X", "sasl.username=v", NULL) == 0 && d->nprops == 2 && !strcmp(d->props[1].value, "v"),
       "Kafka properties from flags come after the file's (librdkafka: the last wins)");
    refused(parse("-c", conf, "--config", conf, NULL), "--config given twice", "two config files");
    put_conf("name = x\nbogus = 1\n");
    refused(parse("-c", conf, NULL), "unknown setting 'bogus'", "unknown key");
    ok(strstr(stderr_text, ":2:") != NULL, "which names the file's line: %s", stderr_text);
    put_conf("only-cmdline = 1\n");
    refused(parse("-c", conf, NULL), "unknown setting 'only-cmdline'", "a command-line-only option in the file");
    put_conf("config = /etc/other\n");
    refused(parse("-c", conf, NULL), "unknown setting 'config'", "no config file from a config file");
    put_conf("name = bad\n");
    refused(parse("-c", conf, NULL), "name 'bad' is bad", "the daemon's check applies to the file");
    put_conf("brokers =\n");
    refused(parse("-c", conf, NULL), "brokers is empty", "an empty value in the file");
    put_conf("name = x\n");
    chmod(conf, 0666);
    refused(parse("-c", conf, NULL), "world-writable", "a world-writable file");
    chmod(conf, 0660);
    refused(parse("-c", conf, NULL), "group- or world-writable", "a group-writable file");
    put_conf("name = x\nkafka.sasl.password = hunter2\n");
    chmod(conf, 0644);
    ok(parse("-c", conf, NULL) == 0 && lines(stderr_text) == 1
       && strstr(stderr_text, "prog: warning: ") && strstr(stderr_text, ":2: kafka.sasl.password is a secret in a file anyone may read"),
       "a password in a world-readable file: read, with a one-line warning: %.*s", (int)strcspn(stderr_text, "\n"), stderr_text);
    put_conf("name = x\nkafka.ssl.key.password = hunter2\n");
    ok(parse("-c", conf, NULL) == 0 && !stderr_text[0], "no warning when only its owner may read it (0600)");
    put_conf("name = x\n");
    chmod(conf, 0644);
    ok(parse("-c", conf, NULL) == 0 && !stderr_text[0], "nor for a world-readable file without secrets");
}

static void test_help(void)
{
    int saved = dup(1), fd = open(errfile, O_WRONLY | O_TRUNC), rc;
    char out[256] = "";
    ssize_t n;
    fflush(stdout);
    dup2(fd, 1);
    rc = parse("--name", "a", "--version", "--bogus", NULL);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    close(fd);
    fd = open(errfile, O_RDONLY);
    n = read(fd, out, sizeof(out) - 1);
    out[n > 0 ? n : 0] = '\0';
    close(fd);
    ok(rc == 1 && !strncmp(out, "prog ", 5) && strstr(out, "(note)"), "--version prints the version and the note: %s", out);
    ok(parse("-h", NULL) == 1, "-h is help");
}

/* 1 once fd reads EOF (its writer exited), 0 if not within ms: a daemon
 * that ignores SIGTERM fails the test instead of hanging it. */
/* 1 once pid (not our child) is gone within ms. */
static int wait_for_exit(pid_t pid, int ms)
{
    char path[64], st[256];
    for (; ms > 0; ms -= 10) {
        int fd;
        ssize_t n;
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        if ((fd = open(path, O_RDONLY)) < 0) return 1;
        n = read(fd, st, sizeof(st) - 1);
        close(fd);
        st[n > 0 ? n : 0] = '\0';
        if (strstr(st, ") Z ")) return 1;   /* exited, waiting for init to reap it */
        poll(NULL, 0, 10);   /* polled: nothing tells us when another process ends */
    }
    return 0;
}

static int eof_within(int fd, int ms)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    char c;
    return poll(&p, 1, ms) == 1 && read(fd, &c, 1) == 0;
}

/* Runs tiler_daemon_start with pidfile in a child (detached); its exit
 * status, and its stderr in stderr_text. A daemon that starts stays until
 * SIGTERM. */
static int start_with_pidfile(const char *pidfile)
{
    pid_t launcher;
    int status, fd = open(errfile, O_WRONLY | O_TRUNC);
    ssize_t n;
    if (!(launcher = fork())) {
        dup2(fd, 2);
        memset(d, 0, sizeof(*d));
        d->pidfile = pidfile;
        if (tiler_daemon_start(d, NULL) < 0) _exit(TILER_EXIT_USAGE);
        tiler_daemon_ready();
        while (!tiler_daemon_sleep(60000)) { }
        tiler_daemon_finish(d);
        _exit(0);
    }
    close(fd);
    waitpid(launcher, &status, 0);
    fd = open(errfile, O_RDONLY);
    n = read(fd, stderr_text, sizeof(stderr_text) - 1);
    stderr_text[n > 0 ? n : 0] = '\0';
    close(fd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static pid_t pid_in(const char *pidfile)
{
    char buf[32];
    int fd = open(pidfile, O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
    if (fd >= 0) close(fd);
    buf[n > 0 ? n : 0] = '\0';
    return (pid_t)atoi(buf);
}

/* Start-up in a child process: what the launching process sees. */
static void test_start(void)
{
    char dir[] = "/tmp/tiler-test-daemon-XXXXXX", pidfile[256], buf[32] = "";
    int q[2], status, fd;
    pid_t launcher, daemon_pid;
    ssize_t n;

    mkdtemp(dir);
    snprintf(pidfile, sizeof(pidfile), "%s/d.pid", dir);
    tiler_log_init("test", TILER_LOG_ERROR);

    /* A pid file that cannot be written: the launcher exits 2. */
    if (!(launcher = fork())) {
        char bad[300];
        int dn = open("/dev/null", O_WRONLY);
        dup2(dn, 2);
        snprintf(bad, sizeof(bad), "%s/missing/d.pid", dir);
        memset(d, 0, sizeof(*d));
        d->pidfile = bad;
        _exit(tiler_daemon_start(d, NULL) < 0 ? TILER_EXIT_USAGE : 0);
    }
    waitpid(launcher, &status, 0);
    ok(WIFEXITED(status) && WEXITSTATUS(status) == TILER_EXIT_USAGE, "detached: an unwritable pid file is exit 2");

    /* Detached: the launcher exits 0 once the daemon is ready; the pid
     * file names the daemon; SIGTERM stops it and removes the file. q's
     * write end lives in the daemon only: EOF on it means it exited. */
    if (pipe(q) < 0) return;
    if (!(launcher = fork())) {
        close(q[0]);
        memset(d, 0, sizeof(*d));
        d->pidfile = pidfile;
        if (tiler_daemon_start(d, NULL) < 0) _exit(9);
        tiler_daemon_ready();
        while (!tiler_daemon_sleep(60000)) { }
        tiler_daemon_finish(d);
        _exit(0);
    }
    close(q[1]);
    waitpid(launcher, &status, 0);
    ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "detached: the launcher exits 0 once the daemon is ready");
    fd = open(pidfile, O_RDONLY);
    n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
    if (fd >= 0) close(fd);
    buf[n > 0 ? n : 0] = '\0';
    daemon_pid = (pid_t)atoi(buf);
    ok(daemon_pid > 0 && daemon_pid != launcher && kill(daemon_pid, 0) == 0,
       "the pid file names the detached daemon, not the launcher (%d, launcher %d)", (int)daemon_pid, (int)launcher);

    /* A second instance with the same pid file: refused, one line, and the
     * pid file still names the first. */
    {
        int rc = start_with_pidfile(pidfile);
        pid_t now = pid_in(pidfile);
        ok(rc == TILER_EXIT_USAGE && lines(stderr_text) == 1 && strstr(stderr_text, "held by another running instance"),
           "a second instance with the same pid file is refused (exit %d): %.*s", rc, (int)strcspn(stderr_text, "\n"), stderr_text);
        ok(now == daemon_pid, "and the pid file still names the first (%d)", (int)now);
        if (now > 0 && now != daemon_pid) kill(now, SIGTERM);   /* before the fix: a second daemon ran */
    }

    if (daemon_pid > 0) kill(daemon_pid, SIGTERM);
    ok(eof_within(q[0], 10000), "SIGTERM stops it (its sleep ends at once)");
    close(q[0]);
    ok(access(pidfile, F_OK) < 0, "and its pid file is gone");

    /* A pid file replaced while the daemon runs (removed, and written by
     * another instance since) is not the daemon's to remove at exit. */
    ok(start_with_pidfile(pidfile) == 0, "a daemon starts again with the pid file");
    daemon_pid = pid_in(pidfile);
    {
        char other[300];
        FILE *f;
        snprintf(other, sizeof(other), "%s.new", pidfile);
        f = fopen(other, "w");
        fputs("4194300\n", f);
        fclose(f);
        rename(other, pidfile);
    }
    if (daemon_pid > 0) kill(daemon_pid, SIGTERM);
    ok(daemon_pid > 0 && wait_for_exit(daemon_pid, 10000), "SIGTERM stops it");
    ok(pid_in(pidfile) == 4194300, "and the pid file it no longer owns is left in place");
    unlink(pidfile);

    /* A pid file that cannot be written in full (here: a 1-byte file size
     * limit): refused, and the existing file, which the daemon did not
     * create, is not removed. */
    {
        FILE *f = fopen(pidfile, "w");
        fputs("old\n", f);
        fclose(f);
        if (!(launcher = fork())) {
            struct rlimit one = { 1, 1 };
            int dn = open("/dev/null", O_WRONLY);
            dup2(dn, 2);
            signal(SIGXFSZ, SIG_IGN);
            setrlimit(RLIMIT_FSIZE, &one);
            memset(d, 0, sizeof(*d));
            d->foreground = 1;
            d->pidfile = pidfile;
            _exit(tiler_daemon_start(d, NULL) < 0 ? TILER_EXIT_USAGE : 0);
        }
        waitpid(launcher, &status, 0);
        ok(WIFEXITED(status) && WEXITSTATUS(status) == TILER_EXIT_USAGE && access(pidfile, F_OK) == 0,
           "a pid file that cannot be written: exit 2, and the file (not the daemon's own) is not removed");
        unlink(pidfile);
    }

    /* Not a regular file (a FIFO would block the open; a symlink is not followed). */
    {
        char target[300];
        snprintf(target, sizeof(target), "%s/target", dir);
        if (symlink(target, pidfile) < 0) { }
        ok(start_with_pidfile(pidfile) == TILER_EXIT_USAGE && access(target, F_OK) < 0, "a symlink as pid file is refused, not followed");
        unlink(pidfile);
        mkfifo(pidfile, 0600);
        ok(start_with_pidfile(pidfile) == TILER_EXIT_USAGE && strstr(stderr_text, "not a regular file"),
           "a FIFO as pid file is refused: %.*s", (int)strcspn(stderr_text, "\n"), stderr_text);
        unlink(pidfile);
    }

    /* --user with an unknown user: exit 2, one line. */
    fd = open(errfile, O_WRONLY | O_TRUNC);
    if (!(launcher = fork())) {
        dup2(fd, 2);
        memset(d, 0, sizeof(*d));
        d->foreground = 1;
        d->user = "no-such-user-tiler-test";
        _exit(tiler_daemon_start(d, NULL) < 0 ? TILER_EXIT_USAGE : 0);
    }
    close(fd);
    waitpid(launcher, &status, 0);
    fd = open(errfile, O_RDONLY);
    n = read(fd, stderr_text, sizeof(stderr_text) - 1);
    stderr_text[n > 0 ? n : 0] = '\0';
    close(fd);
    ok(WIFEXITED(status) && WEXITSTATUS(status) == TILER_EXIT_USAGE && lines(stderr_text) == 1
       && strstr(stderr_text, "no-such-user-tiler-test: no such user"),
       "--user with an unknown user is exit 2, one line: %.*s", (int)strcspn(stderr_text, "\n"), stderr_text);

    /* The daemon fails before it is ready: the launcher exits with its code. */
    if (!(launcher = fork())) {
        memset(d, 0, sizeof(*d));
        if (tiler_daemon_start(d, NULL) < 0) _exit(9);
        _exit(TILER_EXIT_USAGE);   /* as a bad Kafka property would */
    }
    waitpid(launcher, &status, 0);
    ok(WIFEXITED(status) && WEXITSTATUS(status) == TILER_EXIT_USAGE, "a daemon that fails before ready: the launcher exits with its code");
    rmdir(dir);
}

/* As root, the snapshot's directory is made for --user. Something racing
 * it (a symlink to a root-owned directory put where the directory is being
 * made) must never get the symlink's target chowned. A child flips the
 * symlink in and out while we make the directory, for up to 3 s. */
static void test_make_dir_race(void)
{
    char dir[] = "/tmp/tiler-test-mkdir-XXXXXX", target[300], link_path[300], file[320];
    struct stat st;
    pid_t flipper;
    int i, chowned = 0, tries = 0;
    struct timespec t0, t;

    if (geteuid() != 0 || !getpwnam("nobody")) {
        /* Under scripts/check (TILER_REQUIRE_ALL) a skip is a failure. */
        ok(!getenv("TILER_REQUIRE_ALL"), "# SKIP the directory race needs root and user nobody");
        return;
    }
    mkdtemp(dir);
    snprintf(target, sizeof(target), "%s/etc", dir);
    snprintf(link_path, sizeof(link_path), "%s/snap", dir);
    snprintf(file, sizeof(file), "%s/workers.json", link_path);
    mkdir(target, 0755);
    if (!(flipper = fork())) {
        for (;;) {
            if (symlink(target, link_path) == 0) unlink(link_path);
            else rmdir(link_path);   /* a real one was made: away with it */
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (i = 0; !chowned; i++) {
        char err[300];
        tiler_make_dir_for(file, "nobody", err, sizeof(err));
        tries++;
        chowned = stat(target, &st) == 0 && st.st_uid != 0;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (t.tv_sec - t0.tv_sec >= 3) break;
    }
    kill(flipper, SIGKILL);
    waitpid(flipper, NULL, 0);
    ok(!chowned, "a symlink raced into the directory's place is never chowned (%d tries%s)", tries,
       chowned ? ": its target was given to nobody" : "");
    /* Made afresh: given to the user. An existing one: left alone. */
    unlink(link_path);
    rmdir(link_path);
    ok(tiler_make_dir_for(file, "nobody", stderr_text, sizeof(stderr_text)) == 0 && stat(link_path, &st) == 0
       && st.st_uid == getpwnam("nobody")->pw_uid, "a missing directory is made for the user");
    rmdir(link_path);
    if (symlink(target, link_path) < 0) { }
    ok(tiler_make_dir_for(file, "nobody", stderr_text, sizeof(stderr_text)) == 0 && stat(target, &st) == 0 && st.st_uid == 0,
       "an existing one (a symlink to a root directory) is left alone");
    unlink(link_path);
    rmdir(target);
    rmdir(dir);
}

int main(void)
{
    int fd = mkstemp(errfile);
    close(fd);
    fd = mkstemp(conf);
    close(fd);
    test_forms();
    test_errors();
    test_config();
    test_help();
    test_start();
    test_make_dir_race();
    unlink(errfile);
    unlink(conf);
    return done_testing();
}
