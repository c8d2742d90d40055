#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "tap.h"
#include "tiler_conf.h"

static char seen[8][2][64];
static int nseen;

static int cb(void *ctx, const char *k, const char *v, char *err, size_t errlen)
{
    (void)ctx;
    if (!strcmp(k, "bad")) { snprintf(err, errlen, "bad is bad"); return -1; }
    if (nseen < 8) { snprintf(seen[nseen][0], 64, "%s", k); snprintf(seen[nseen][1], 64, "%s", v); nseen++; }
    return 0;
}

static void put(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    chmod(path, mode);
}

int main(void)
{
    char path[] = "/tmp/tiler-test-conf-XXXXXX", err[512];
    int fd = mkstemp(path);
    close(fd);
    put(path, "# comment\n\n brokers = a:1,b:2 \nkafka.security.protocol=SASL_SSL\nempty =\n", 0600);
    ok(tiler_conf_read(path, cb, NULL, err, sizeof(err), NULL, 0) == 0, "config reads");
    ok(nseen == 3 && !strcmp(seen[0][0], "brokers") && !strcmp(seen[0][1], "a:1,b:2"), "spaces trimmed");
    ok(!strcmp(seen[1][0], "kafka.security.protocol") && !strcmp(seen[1][1], "SASL_SSL"), "kafka.* passes as a key");
    ok(!strcmp(seen[2][0], "empty") && !strcmp(seen[2][1], ""), "empty value is given to the caller to judge");
    put(path, "a = 1\nno equals here\n", 0600);
    ok(tiler_conf_read(path, cb, NULL, err, sizeof(err), NULL, 0) < 0 && strstr(err, ":2:"), "syntax error names its line: %s", err);
    put(path, "a = 1\nbad = 2\n", 0600);
    ok(tiler_conf_read(path, cb, NULL, err, sizeof(err), NULL, 0) < 0 && strstr(err, "bad is bad"), "callback error surfaces: %s", err);
    put(path, "a = 1\n", 0666);
    chmod(path, 0666);
    ok(tiler_conf_read(path, cb, NULL, err, sizeof(err), NULL, 0) < 0 && strstr(err, "world-writable"), "world-writable refused: %s", err);
    unlink(path);
    ok(tiler_conf_read(path, cb, NULL, err, sizeof(err), NULL, 0) < 0, "missing file is an error");
    return done_testing();
}
