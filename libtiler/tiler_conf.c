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

int tiler_conf_read(const char *path, tiler_conf_cb cb, void *ctx, char *err, size_t errlen)
{
    char line[4096], why[256];
    struct stat st;
    int lineno = 0;
    FILE *f = fopen(path, "r");
    if (!f) { snprintf(err, errlen, "%s: %s", path, strerror(errno)); return -1; }
    /* It can hold SASL passwords and names where to connect. */
    if (fstat(fileno(f), &st) == 0 && (st.st_mode & S_IWOTH)) {
        fclose(f);
        snprintf(err, errlen, "%s: refusing a world-writable config file", path);
        return -1;
    }
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
        if (cb(ctx, key, value, why, sizeof(why)) < 0) {
            snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
            fclose(f);
            return -1;
        }
    }
    fclose(f);
    return 0;
}
