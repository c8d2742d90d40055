#include "tiler_conf.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static char *trim(char *s)
{
    char *e;
    while (isspace((unsigned char)*s)) s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = '\0';
    return s;
}

/* A Kafka property holding a secret: sasl.password, ssl.key.password,
 * ssl.keystore.password, sasl.oauthbearer.client.secret... */
static int is_secret(const char *key)
{
    return !strncmp(key, "kafka.", 6) && (strcasestr(key, "password") || strcasestr(key, "secret"));
}

int tiler_conf_read(const char *path, tiler_conf_cb cb, void *ctx, char *err, size_t errlen, char *warn, size_t warnlen)
{
    char line[4096], why[256];
    struct stat st;
    int lineno = 0, readable = 0;
    FILE *f = fopen(path, "r");
    if (warnlen) warn[0] = '\0';
    if (!f) { snprintf(err, errlen, "%s: %s", path, strerror(errno)); return -1; }
    /* It names where to connect and with which credentials: whoever may
     * write it may send the daemon, and its password, elsewhere. */
    if (fstat(fileno(f), &st) == 0 && (st.st_mode & (S_IWOTH | S_IWGRP))) {
        fclose(f);
        snprintf(err, errlen, "%s: refusing a group- or world-writable config file (mode %04o; chmod go-w)", path,
                 (unsigned)(st.st_mode & 07777));
        return -1;
    }
    readable = (st.st_mode & S_IROTH) != 0;
    while (fgets(line, sizeof(line), f)) {
        char *key, *value, *eq;
        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            snprintf(err, errlen, "%s:%d: line too long", path, lineno);
            fclose(f);
            return -1;
        }
        key = trim(line);
        if (!*key || *key == '#') continue;
        if (!(eq = strchr(key, '='))) {
            snprintf(err, errlen, "%s:%d: expected key = value", path, lineno);
            fclose(f);
            return -1;
        }
        *eq = '\0';
        value = trim(eq + 1);
        key = trim(key);
        if (readable && is_secret(key) && warnlen && !warn[0])
            snprintf(warn, warnlen, "%s:%d: %s is a secret in a file anyone may read (chmod o-r)", path, lineno, key);
        if (cb(ctx, key, value, why, sizeof(why)) < 0) {
            snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
            fclose(f);
            return -1;
        }
    }
    fclose(f);
    return 0;
}
